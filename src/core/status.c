/*
 * status.c - thread-local last-error message, status names, assertion, version, thread count.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#include "core/core.h"

static _Thread_local char g_err[1024];

re_status re_fail(re_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return s;
}

re_status re_fail_ctx(re_status s, const char *fmt, ...) {
    char prefix[256], old[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(old, sizeof old, "%.690s", g_err);
    snprintf(g_err, sizeof g_err, "%s: %s", prefix, old[0] ? old : re_status_str(s));
    return s;
}

void re_clear_error(void) { g_err[0] = 0; }

const char *re_last_error(void) { return g_err; }

const char *re_status_str(re_status s) {
    switch (s) {
    case RE_OK: return "ok";
    case RE_ERR_NOMEM: return "out of memory";
    case RE_ERR_IO: return "I/O error";
    case RE_ERR_ARG: return "invalid argument";
    case RE_ERR_TRUNCATED: return "truncated file";
    case RE_ERR_BAD_HEADER: return "bad header";
    case RE_ERR_OFFSETS: return "bad tensor offsets";
    case RE_ERR_DTYPE: return "unsupported dtype";
    case RE_ERR_SHAPE: return "shape mismatch";
    case RE_ERR_MISSING: return "missing tensor";
    case RE_ERR_UNKNOWN: return "unknown tensor";
    case RE_ERR_CHECKSUM: return "checksum mismatch";
    case RE_ERR_VERSION: return "unsupported format version";
    case RE_ERR_NONFINITE: return "non-finite value";
    case RE_ERR_UNSUPPORTED: return "unsupported";
    case RE_ERR_FORMAT: return "unrecognized file format";
    case RE_ERR_TOO_LARGE: return "too large";
    case RE_ERR_NO_FACE: return "no face found";
    case RE_ERR_BACKEND: return "backend failure";
    case RE_ERR_CONFIG: return "bad configuration";
    case RE_ERR_INTERRUPTED: return "interrupted";
    case RE_VIDEO_EOF: return "end of video";
    }
    return "unknown status";
}

const char *re_version(void) { return RE_VERSION_STRING; }

void re_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
}

int re_get_threads(void) { return omp_get_max_threads(); }

int re_numel_ok(const int64_t *dims, int n, size_t *out) {
    size_t acc = 1;
    for (int i = 0; i < n; i++) {
        if (dims[i] < 0 || !re_mul_ok(acc, (size_t)dims[i], &acc)) {
            re_fail(RE_ERR_NOMEM, "tensor size overflows (dim %d = %lld)", i, (long long)dims[i]);
            return 0;
        }
    }
    *out = acc;
    return 1;
}

void *re_alloc(size_t bytes, const char *what) {
    size_t rounded;
    if (!re_add_ok(bytes, 63, &rounded)) {
        re_fail(RE_ERR_NOMEM, "%s: size %zu overflows", what, bytes);
        return NULL;
    }
    rounded &= ~(size_t)63;
    if (rounded == 0) rounded = 64;
    void *p = aligned_alloc(64, rounded);
    if (!p) {
        re_fail(RE_ERR_NOMEM, "%s: cannot allocate %zu bytes", what, bytes);
        return NULL;
    }
    memset(p, 0, rounded);
    return p;
}

void re_free(void *p) { free(p); }

void re_free_floats(const re_float_buf *b, size_t count) {
    for (size_t i = 0; i < count; i++) {
        re_free(*b[i].p);
        *b[i].p = NULL;
    }
}

re_status re_alloc_floats(const re_float_buf *b, size_t count) {
    re_status s = RE_OK;
    for (size_t i = 0; i < count; i++)
        if (!(*b[i].p = re_alloc(b[i].n * sizeof(float), b[i].what))) s = RE_ERR_NOMEM;
    return s;
}
