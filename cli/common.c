/*
 * common.c - helpers shared by the subcommands: error/usage reporting, the option-table pieces several commands
 * share (opt.h), locating the bundled model.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void *cli_grow(void *v, size_t n, size_t *cap, size_t elem, size_t first) {
    if (n < *cap) return v;
    size_t nc = *cap ? 2 * *cap : first;
    void *nv = realloc(v, nc * elem);
    if (nv) *cap = nc;
    return nv;
}

int cli_kept_meta(const re_model *m, const char **kv, int max, const char *const *new_kv, int n_new) {
    static const char *const set_by_writer[] = {"format", "format_version", "config", "data_sha256", "directions",
                                                "weights_sha256"};
    int k = 0;
    for (int i = 0; i < re_model_meta_count(m) && k < max; i++) {
        const char *key, *v;
        re_model_meta_at(m, i, &key, &v);
        int drop = 0;
        for (size_t j = 0; j < sizeof set_by_writer / sizeof *set_by_writer; j++) drop |= !strcmp(key, set_by_writer[j]);
        for (int j = 0; j < n_new; j++) drop |= !strcmp(new_kv[2 * j], key);
        if (drop) continue;
        kv[k++] = key;
        kv[k++] = v;
    }
    return k;
}

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

const cli_choice cli_precision_choices[] = {
    {"f32", RE_PREC_F32}, {"bf16", RE_PREC_BF16}, {"mixed", RE_PREC_MIXED}, {"auto", RE_PREC_AUTO}, {NULL, 0}};
const cli_choice cli_train_precision_choices[] = {
    {"f32", RE_PREC_F32}, {"bf16", RE_PREC_BF16}, {"auto", RE_PREC_AUTO}, {NULL, 0}};
const cli_choice cli_render_choices[] = {{"photo", RE_RENDER_PHOTO}, {"model", RE_RENDER_MODEL}, {NULL, 0}};
const cli_choice cli_field_choices[] = {{"landmarks", RE_FIELD_LANDMARKS}, {"flow", RE_FIELD_FLOW}, {NULL, 0}};

void cli_smooth_opts(cli_opt t[CLI_SMOOTH_OPTS], re_latent_filter_opts *o, int *seen) {
    const cli_opt src[CLI_SMOOTH_OPTS] = {
        CLI_NUM("--smooth-cutoff", NULL, &o->min_cutoff, "HZ", 1e-3, 1000, "filter cutoff at rest", .seen = seen),
        CLI_NUM("--smooth-beta", NULL, &o->beta, "B", 0, 1000, "cutoff increase with motion speed", .seen = seen),
        CLI_END,
    };
    memcpy(t, src, sizeof src);
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
