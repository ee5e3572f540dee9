/*
 * core.h - internal helpers shared by every part of libreenact: error recording, checked size arithmetic,
 * aligned allocation, the seeded RNG. Not installed; the public API is include/reenact/reenact.h.
 */
#ifndef RE_CORE_H
#define RE_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "reenact/reenact.h"

#if defined(__GNUC__)
#define RE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RE_PRINTF(a, b)
#endif

/* Record a failure message for re_last_error() and return s, so callers write `return re_fail(...)`. */
re_status re_fail(re_status s, const char *fmt, ...) RE_PRINTF(2, 3);
/* Prefix the current message with "context: " (keeps the status). Returns s. */
re_status re_fail_ctx(re_status s, const char *fmt, ...) RE_PRINTF(2, 3);
void re_clear_error(void);

/* Checked arithmetic: return 0 and leave *out untouched on overflow. */
static inline int re_mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}
static inline int re_add_ok(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}
/* Product of n dims with overflow check; 0 on overflow (sets error), else 1. */
int re_numel_ok(const int64_t *dims, int n, size_t *out);

/* 64-byte aligned, zero-filled allocation; NULL on failure (sets RE_ERR_NOMEM message naming `what`). */
void *re_alloc(size_t bytes, const char *what);
void re_free(void *p);
/* A table of float buffers for re_alloc_floats: *p gets n floats (re_alloc, named what). */
typedef struct re_float_buf { float **p; size_t n; const char *what; } re_float_buf;
/* Allocate every buffer of the table; RE_ERR_NOMEM when any failed (the others stay allocated, for the owner's free
 * to release along with the rest of a partly built object), else RE_OK. */
re_status re_alloc_floats(const re_float_buf *b, size_t count);
/* Free every buffer of such a table (re_free) and set its pointer to NULL. */
void re_free_floats(const re_float_buf *b, size_t count);
#define RE_COUNT(a) (sizeof(a) / sizeof *(a))
#define RE_PI 3.14159265358979323846

/* ---- RNG: xoshiro256** seeded with splitmix64; deterministic across platforms. State is plain data so it can
 * be checkpointed. Normal samples use Box-Muller on two uniform doubles. */
typedef struct re_rng { uint64_t s[4]; } re_rng;
void re_rng_seed(re_rng *r, uint64_t seed);
uint64_t re_rng_next(re_rng *r);
double re_rng_uniform(re_rng *r);               /* [0,1) */
float re_rng_normal(re_rng *r);                 /* N(0,1) */
uint64_t re_rng_below(re_rng *r, uint64_t n);   /* uniform in [0,n), unbiased */

/* ---- SHA-256 (FIPS 180-4). */
typedef struct re_sha256 { uint32_t h[8]; uint64_t len; uint8_t buf[64]; size_t nbuf; } re_sha256;
void re_sha256_init(re_sha256 *c);
void re_sha256_update(re_sha256 *c, const void *data, size_t n);
void re_sha256_final(re_sha256 *c, uint8_t out[32]);
void re_sha256_hex(const void *data, size_t n, char out[65]);

/* ---- Atomic file replace: write to "<path>.tmp.<pid>", fflush+fsync, rename over path, fsync the directory.
 * On any failure the temp file is removed and `path` is left as it was. */
typedef re_status (*re_write_fn)(FILE *f, void *user);
re_status re_write_atomic(const char *path, re_write_fn fn, void *user);
/* fsync the directory that contains path (or the directory itself). */
re_status re_fsync_dir(const char *dir);

#endif
