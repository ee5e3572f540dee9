/*
 * bench_util.h - small helpers shared by bench_train.c and bench_infer.c: a monotonic clock, sorting and the median
 * of timings, deterministic bench data, integer and backend option parsing, the shared usage lines and argument
 * loop. Header-only
 * (static functions).
 */
#ifndef RE_BENCH_UTIL_H
#define RE_BENCH_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reenact/reenact.h"

/* Monotonic clock in seconds. */
static inline double bench_now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n >= 1 sorted values. */
static inline double bench_median_sorted(const double *v, int n) {
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Uniform [0,1) floats from a 64-bit LCG (bench data only; the library RNG is not part of the public API). */
static inline void bench_fill_uniform(float *x, size_t n, uint64_t seed) {
    uint64_t s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((s >> 40) * (1.0 / 16777216.0));
    }
}

/* Decimal integer in [lo, hi], the whole string; 0 on anything else. */
static inline int bench_parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

/* --backend ref|dnnl; 0 on anything else. */
static inline int bench_parse_backend(const char *s, re_backend *out) {
    if (!strcmp(s, "ref")) *out = RE_BACKEND_REF;
    else if (!strcmp(s, "dnnl")) *out = RE_BACKEND_DNNL;
    else return 0;
    return 1;
}

static inline const char *bench_backend_name(re_backend b) {
    return b == RE_BACKEND_DNNL ? "dnnl" : b == RE_BACKEND_REF ? "ref" : "auto";
}

/* The usage lines of the options bench_infer and bench_train share. */
#define BENCH_USAGE_THREADS_BACKEND \
    "  --threads N              OpenMP threads (0: all cores) [0]\n" \
    "  --backend ref|dnnl       compute backend [dnnl when built, else ref]\n"
#define BENCH_USAGE_CONFIG_JSON \
    "  --config NAME            model preset [seed64]\n" \
    "  --json FILE              also write the results as JSON\n"
/* The options bench_infer and bench_train share: --threads, --backend, --config, --json. */
typedef struct bench_common {
    int threads;
    re_backend backend;
    const char *config;
    const char *json;
} bench_common;
#define BENCH_COMMON_DEFAULT {0, RE_BACKEND_AUTO, "seed64", NULL}

/* What bench_parse_args needs of one program: its name (for messages), its usage, the one option it takes without a
 * value (flag, NULL for none; it sets *flag_set to 1), its own options with a value (own(opts, option, value): 1 for
 * a good value, 0 for a bad one, -1 when the option is none of its own) and where the shared options go. */
typedef struct bench_args {
    const char *prog;
    void (*usage)(FILE *f);
    const char *flag;
    int *flag_set;
    int (*own)(void *opts, const char *a, const char *v);
    void *opts;
    bench_common *c;
} bench_args;

/* The argument loop of bench_infer and bench_train: -h/--help prints the usage and exits; 0 (after a message) on an
 * unknown option, a missing or a bad value. */
static inline int bench_parse_args(int argc, char **argv, const bench_args *p) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { p->usage(stdout); exit(0); }
        if (p->flag && !strcmp(a, p->flag)) { *p->flag_set = 1; continue; }
        if (!v) { fprintf(stderr, "%s: %s needs a value\n", p->prog, a); return 0; }
        i++;
        int ok = 1;
        if (!strcmp(a, "--threads")) ok = bench_parse_int(v, 0, 1024, &p->c->threads);
        else if (!strcmp(a, "--backend")) ok = bench_parse_backend(v, &p->c->backend);
        else if (!strcmp(a, "--config")) p->c->config = v;
        else if (!strcmp(a, "--json")) p->c->json = v;
        else if ((ok = p->own(p->opts, a, v)) < 0) {
            fprintf(stderr, "%s: unknown option %s\n", p->prog, a);
            p->usage(stderr);
            return 0;
        }
        if (!ok) { fprintf(stderr, "%s: bad value '%s' for %s\n", p->prog, v, a); return 0; }
    }
    return 1;
}
#endif
