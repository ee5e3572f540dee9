/*
 * re_test.h - minimal test harness: CHECK macros count failures and print file:line; RE_TEST_END returns
 * non-zero if anything failed. A skipped test exits 77 (ctest SKIP_RETURN_CODE is not used; skips print "SKIP").
 */
#ifndef RE_TEST_H
#define RE_TEST_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole file at path (malloc'd, *n = its size), or NULL when it cannot be opened or read. */
static inline uint8_t *re_test_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    *n = 0;
    if (!f) return NULL;
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    uint8_t *b = len >= 0 && fseek(f, 0, SEEK_SET) == 0 ? (uint8_t *)malloc(len > 0 ? (size_t)len : 1) : NULL;
    if (b && len > 0 && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) *n = (size_t)len;
    return b;
}

/* Writes n bytes to path (created or replaced); 1 on success. */
static inline int re_test_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* With dir set (a test's corpus option), writes n bytes as dir/name: how the fuzz seed corpora are made. */
static inline void re_test_save_corpus(const char *dir, const char *name, const void *data, size_t n) {
    char path[1024];
    if (!dir) return;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!re_test_write_file(path, data, n)) fprintf(stderr, "cannot write corpus file %s\n", path);
}

/* 1 when the files at a and b can both be read and hold the same bytes. */
static inline int re_test_same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    uint8_t *x = re_test_read_file(a, &na), *y = re_test_read_file(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static int re_test_failures = 0;
static int re_test_checks = 0;

#define CHECK(c) do { re_test_checks++; if (!(c)) { re_test_failures++; \
    fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); } } while (0)
#define CHECK_MSG(c, ...) do { re_test_checks++; if (!(c)) { re_test_failures++; \
    fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #c); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define CHECK_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); re_test_checks++; if (_a != _b) { \
    re_test_failures++; fprintf(stderr, "FAIL %s:%d: %s == %s (%lld vs %lld)\n", __FILE__, __LINE__, #a, #b, _a, _b); } } while (0)
#define CHECK_OK(expr) do { int _s = (int)(expr); re_test_checks++; if (_s != 0) { re_test_failures++; \
    fprintf(stderr, "FAIL %s:%d: %s returned %d: %s\n", __FILE__, __LINE__, #expr, _s, re_last_error()); } } while (0)
#define RE_TEST_END() do { if (re_test_failures) { fprintf(stderr, "%d of %d checks FAILED\n", re_test_failures, re_test_checks); return 1; } \
    printf("ok: %d checks\n", re_test_checks); return 0; } while (0)

/* Relative L2 error of got against want: ||got - want|| / ||want|| (the plain norm of the difference when want is 0). */
static inline double re_test_rel_l2(const float *got, const float *want, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        num += d * d;
        den += (double)want[i] * want[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Compare two float arrays: max abs error, max rel error (|a-b|/(|b|+atol)), NMSE; prints the worst index on failure.
 * Passes if NMSE <= nmse_tol OR max rel err <= rel_tol. */
static inline int re_test_close(const char *what, const float *got, const float *want, size_t n, double rel_tol, double nmse_tol) {
    double maxabs = 0, maxrel = 0, num = 0, den = 0; size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        double r = d / (fabs((double)want[i]) + 1e-6);
        if (!(d == d)) { maxabs = INFINITY; worst = i; break; }
        if (d > maxabs) { maxabs = d; worst = i; }
        if (r > maxrel) maxrel = r;
        num += d * d; den += (double)want[i] * want[i];
    }
    double nmse = den > 0 ? num / den : num;
    int ok = (nmse <= nmse_tol || maxrel <= rel_tol) && maxabs != INFINITY;
    re_test_checks++;
    if (!ok) {
        re_test_failures++;
        fprintf(stderr, "FAIL %s: n=%zu max_abs=%.3g max_rel=%.3g nmse=%.3g worst[%zu] got %.8g want %.8g\n", what, n,
                maxabs, maxrel, nmse, worst, worst < n ? got[worst] : 0.f, worst < n ? want[worst] : 0.f);
    }
    return ok;
}
#endif
