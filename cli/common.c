/*
 * common.c - helpers shared by the subcommands: error/usage reporting, strict number parsing, option matching,
 * locating the bundled model.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_fail(const char *cmd, re_status s, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "reenact %s: error: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    const char *e = re_last_error();
    if (s != RE_OK) fprintf(stderr, ": %s", e && *e ? e : re_status_str(s));
    fputc('\n', stderr);
    return RE_EXIT_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "reenact %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\ntry 'reenact %s --help'\n", cmd);
    return RE_EXIT_USAGE;
}

int cli_parse_int(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int cli_parse_float(const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= lo && v <= hi)) return 0;
    *out = v;
    return 1;
}

int cli_smooth_option(const char *cmd, const char *name, const char *v, re_latent_filter_opts *o) {
    double dv;
    if (!strcmp(name, "--smooth-cutoff")) {
        if (!cli_parse_float(v, 1e-3, 1000, &dv))
            return cli_usage_error(cmd, "--smooth-cutoff wants Hz in (0,1000], got '%s'", v);
        o->min_cutoff = (float)dv;
    } else {
        if (!cli_parse_float(v, 0, 1000, &dv)) return cli_usage_error(cmd, "--smooth-beta wants 0..1000, got '%s'", v);
        o->beta = (float)dv;
    }
    return RE_EXIT_OK;
}

int cli_parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-') return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return 0;
    *out = v;
    return 1;
}

int cli_opt(int argc, char **argv, int *i, const char *name, const char *alt, const char **val) {
    const char *a = argv[*i];
    size_t ln = strlen(name);
    if (strncmp(a, name, ln) == 0 && a[ln] == '=') {
        *val = a + ln + 1;
        return 1;
    }
    if (strcmp(a, name) != 0 && !(alt && strcmp(a, alt) == 0)) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "reenact: option %s needs a value\n", name);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

int cli_flag(char **argv, int i, const char *name, const char *alt) {
    return strcmp(argv[i], name) == 0 || (alt && strcmp(argv[i], alt) == 0);
}

/* Where the bundled model is looked for, in order: $REENACT_MODEL; next to the binary (a build tree: ../models,
 * ../../models; a relocated install: ../share/reenact); the install prefix it was configured with; the source tree
 * it was built from; ./models. */
const char *cli_default_model(void) {
    static char buf[PATH_MAX];
    const char *env = getenv("REENACT_MODEL");
    if (env && *env) return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            const char *rel[] = {"/../models/reenact-seed64.safetensors", "/../../models/reenact-seed64.safetensors",
                                 "/../share/reenact/reenact-seed64.safetensors"};
            for (size_t k = 0; k < sizeof rel / sizeof *rel; k++) {
                snprintf(buf, sizeof buf, "%s%s", exe, rel[k]);
                if (access(buf, R_OK) == 0) return buf;
            }
        }
    }
#ifdef RE_INSTALL_MODEL_DIR
    snprintf(buf, sizeof buf, "%s/reenact-seed64.safetensors", RE_INSTALL_MODEL_DIR);
    if (access(buf, R_OK) == 0) return buf;
#endif
#ifdef RE_SOURCE_DIR   /* a build tree outside the source tree */
    snprintf(buf, sizeof buf, "%s/models/reenact-seed64.safetensors", RE_SOURCE_DIR);
    if (access(buf, R_OK) == 0) return buf;
#endif
    snprintf(buf, sizeof buf, "models/reenact-seed64.safetensors");
    return buf;
}

int cli_model_missing_help(const char *cmd, const char *path) {
    if (access(path, R_OK) == 0) return 0;
    const char *env = getenv("REENACT_MODEL");
    if (env && *env) return 0;   /* the user named it: the caller's own error names that file */
    if (strcmp(path, "models/reenact-seed64.safetensors") != 0) return 0;
    return cli_fail(cmd, RE_OK, "the bundled model was not found: looked next to the binary (../models, "
                    "../share/reenact), in the install prefix (%s), in the source tree and in ./models; set "
                    "$REENACT_MODEL or pass --model FILE",
#ifdef RE_INSTALL_MODEL_DIR
                    RE_INSTALL_MODEL_DIR
#else
                    "none configured"
#endif
                    );
}

int cli_apply_threads(const char *cmd, const char *val) {
    long t;
    if (!cli_parse_int(val, 0, 1024, &t)) return cli_usage_error(cmd, "--threads wants an integer 0..1024 (0 = all cores), got '%s'", val);
    re_set_threads((int)t);
    return 0;
}
