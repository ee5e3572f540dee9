/*
 * test_safetensors.c - the safetensors reader/writer and the atomic file writer:
 *   - f32 <-> f16/bf16 conversions: exhaustive round trips and round-to-nearest-even against an independent
 *     nearest-value search;
 *   - reading tests/fixtures/safetensors/good_*.safetensors (written by tools/make_st_fixtures.py with Python's
 *     struct/json/hashlib, an independent writer) and checking every value;
 *   - every bad_*.safetensors fixture fails with its own status and a message naming the file and the problem;
 *   - write -> read round trips (F32, BF16, F16, I64 scalar, U8, empty tensor, metadata), every truncation of a
 *     valid file, corruption detected by data_sha256;
 *   - re_write_atomic leaves the previous file intact when the write callback fails or the path is unusable.
 * Runs from the repository root (ctest sets the working directory):  ctest --test-dir build -R test_safetensors
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/safetensors.h"
#include "re_test.h"
#include "re_test_tmp.h"

#define FIXDIR "tests/fixtures/safetensors"

static uint32_t fbits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}
static float bitsf(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* ---- conversions ---- */

/* Independent f32 -> f16 reference: binary search over the monotonic table of non-negative finite f16 values,
 * pick the nearest in double precision, ties to the even bit pattern. */
static double g_f16_tab[0x7c00];
static uint16_t ref_f16(float x) {
    uint16_t sign = (fbits(x) >> 16) & 0x8000;
    double a = fabs((double)x);
    if (a >= 65520.0) return sign | 0x7c00;
    size_t lo = 0, hi = 0x7bff; /* tab[lo] <= a < tab[hi] or a == max */
    if (a >= g_f16_tab[hi]) return sign | (uint16_t)hi;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (g_f16_tab[mid] <= a) lo = mid;
        else hi = mid;
    }
    double dl = a - g_f16_tab[lo], dh = g_f16_tab[hi] - a;
    size_t r = dl < dh ? lo : dh < dl ? hi : ((lo & 1) ? hi : lo);
    return sign | (uint16_t)r;
}

/* Independent f32 -> bf16 reference: the two candidates around x (truncated and next magnitude), nearest in double
 * precision, ties to even; above the largest finite bf16 the IEEE overflow threshold (max + half an ulp) decides. */
static uint16_t ref_bf16(float x) {
    uint32_t u = fbits(x);
    uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);
    if (isinf(x) || (u & 0xffffu) == 0) return lo;
    if ((hi & 0x7fff) == 0x7f80) return fabsf(x) >= bitsf(0x7f7f8000u) ? hi : lo;
    double dl = fabs((double)x - (double)bitsf((uint32_t)lo << 16));
    double dh = fabs((double)bitsf((uint32_t)hi << 16) - (double)x);
    if (dl < dh) return lo;
    if (dh < dl) return hi;
    return (lo & 1) ? hi : lo;
}

static void test_conversions(void) {
    for (uint32_t h = 0; h < 0x7c00; h++) g_f16_tab[h] = (double)re_f16_to_f32((uint16_t)h);
    /* f16 table must be strictly increasing and match the definition of binary16 */
    int mono = 1;
    for (uint32_t h = 1; h < 0x7c00; h++) mono &= g_f16_tab[h] > g_f16_tab[h - 1];
    CHECK(mono);
    CHECK(re_f16_to_f32(0x3c00) == 1.0f);
    CHECK(re_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    CHECK(re_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24));
    CHECK(re_f16_to_f32(0x0400) == ldexpf(1.0f, -14));
    CHECK(re_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(re_f16_to_f32(0xc000) == -2.0f);
    CHECK(isinf(re_f16_to_f32(0x7c00)) && re_f16_to_f32(0xfc00) < 0);
    CHECK(isnan(re_f16_to_f32(0x7e00)));
    CHECK(re_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(re_bf16_to_f32(0xc020) == -2.5f);

    /* exhaustive round trips of every 16-bit pattern */
    int rt16 = 1, rtb = 1;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float x = re_f16_to_f32((uint16_t)h), y = re_bf16_to_f32((uint16_t)h);
        if (isnan(x)) rt16 &= isnan(re_f16_to_f32(re_f32_to_f16(x)));
        else rt16 &= re_f32_to_f16(x) == h;
        if (isnan(y)) rtb &= isnan(re_bf16_to_f32(re_f32_to_bf16(y)));
        else rtb &= re_f32_to_bf16(y) == h;
    }
    CHECK(rt16);
    CHECK(rtb);

    /* specific rounding cases */
    CHECK_EQ_INT(re_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ_INT(re_f32_to_f16(65519.996f), 0x7bff);
    CHECK_EQ_INT(re_f32_to_f16(65520.0f), 0x7c00);
    CHECK_EQ_INT(re_f32_to_f16(-1e10f), 0xfc00);
    CHECK_EQ_INT(re_f32_to_f16(ldexpf(1.0f, -25)), 0x0000);                  /* tie -> even (0) */
    CHECK_EQ_INT(re_f32_to_f16(nextafterf(ldexpf(1.0f, -25), 1.0f)), 0x0001);
    CHECK_EQ_INT(re_f32_to_f16(ldexpf(3.0f, -25)), 0x0002);                  /* 1.5 units: tie -> even (2) */
    CHECK_EQ_INT(re_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00);           /* tie -> even */
    CHECK_EQ_INT(re_f32_to_f16(1.0f + ldexpf(3.0f, -11)), 0x3c02);           /* tie -> even (up) */
    CHECK_EQ_INT(re_f32_to_f16(ldexpf(5.0f, -25)), 0x0002);                  /* 2.5 units: tie -> even (2) */
    CHECK_EQ_INT(re_f32_to_f16(-0.0f), 0x8000);
    /* every midpoint between adjacent finite f16 values (exact in f32) rounds to the even neighbour, both signs;
     * the same for bf16 pairs (midpoints need 9 significant bits, also exact in f32) */
    int ties16 = 1, tiesb = 1;
    for (uint32_t h = 0; h < 0x7bff; h++) {
        float mid = (float)(((double)re_f16_to_f32((uint16_t)h) + re_f16_to_f32((uint16_t)(h + 1))) / 2);
        uint16_t even = (uint16_t)((h & 1) ? h + 1 : h);
        ties16 &= re_f32_to_f16(mid) == even && re_f32_to_f16(-mid) == (uint16_t)(even | 0x8000);
    }
    for (uint32_t h = 0; h < 0x7f7f; h++) {
        float mid = (float)(((double)re_bf16_to_f32((uint16_t)h) + re_bf16_to_f32((uint16_t)(h + 1))) / 2);
        uint16_t even = (uint16_t)((h & 1) ? h + 1 : h);
        tiesb &= re_f32_to_bf16(mid) == even && re_f32_to_bf16(-mid) == (uint16_t)(even | 0x8000);
    }
    CHECK(ties16);
    CHECK(tiesb);
    CHECK_EQ_INT(re_f32_to_bf16(1.0f + ldexpf(1.0f, -8)), 0x3f80);            /* tie -> even */
    CHECK_EQ_INT(re_f32_to_bf16(1.0f + ldexpf(3.0f, -8)), 0x3f82);
    CHECK_EQ_INT(re_f32_to_bf16(bitsf(0x7f7fffffu)), 0x7f80);                 /* rounds up to inf */
    CHECK(isnan(re_bf16_to_f32(re_f32_to_bf16(bitsf(0x7f800001u)))));       /* NaN stays NaN (not inf) */
    CHECK(isnan(re_f16_to_f32(re_f32_to_f16(bitsf(0x7f800001u)))));

    /* random bit patterns and values near the interesting ranges against the references */
    re_rng r;
    re_rng_seed(&r, 12345);
    size_t bad16 = 0, badb = 0;
    uint32_t first16 = 0, firstb = 0;
    for (int i = 0; i < 1000000; i++) {
        uint32_t u = (uint32_t)re_rng_next(&r);
        if (i % 4 == 1) u = (u & 0x80ffffffu) | ((0x30u + (u >> 24) % 0x18u) << 24); /* f16 subnormal..max */
        if (i % 4 == 2) u = (u & 0x8000ffffu) | (0x3f800000u + ((u >> 16) & 0xff) * 0x10000u);
        float x = bitsf(u);
        if (isnan(x)) continue;
        if (re_f32_to_f16(x) != ref_f16(x) && bad16++ == 0) first16 = u;
        if (re_f32_to_bf16(x) != ref_bf16(x) && badb++ == 0) firstb = u;
    }
    CHECK_MSG(bad16 == 0, "%zu f16 mismatches, first input bits 0x%08x: got 0x%04x want 0x%04x", bad16, first16,
              re_f32_to_f16(bitsf(first16)), ref_f16(bitsf(first16)));
    CHECK_MSG(badb == 0, "%zu bf16 mismatches, first input bits 0x%08x: got 0x%04x want 0x%04x", badb, firstb,
              re_f32_to_bf16(bitsf(firstb)), ref_bf16(bitsf(firstb)));
#if defined(__FLT16_MAX__) && !defined(__clang__)
    /* cross-check with the compiler's own binary16 conversion where available */
    size_t badc = 0;
    for (int i = 0; i < 200000; i++) {
        float x = bitsf((uint32_t)re_rng_next(&r));
        if (isnan(x)) continue;
        _Float16 c = (_Float16)x;
        uint16_t cb;
        memcpy(&cb, &c, 2);
        badc += re_f32_to_f16(x) != cb;
    }
    CHECK_EQ_INT(badc, 0);
#endif
}

/* ---- the Python-written valid fixtures ---- */

static void test_good_fixture(void) {
    re_st_file *f = NULL;
    CHECK_OK(re_st_load(&f, FIXDIR "/good_small.safetensors"));
    if (!f) return;
    CHECK_EQ_INT(f->n_tensors, 8);
    CHECK(f->checksum_verified == 1);
    for (size_t i = 1; i < f->n_tensors; i++) CHECK(strcmp(f->tensors[i - 1].name, f->tensors[i].name) < 0);
    CHECK(re_st_meta(f, "format") && strcmp(re_st_meta(f, "format"), "reenact-vaegan") == 0);
    CHECK(re_st_meta(f, "format_version") && strcmp(re_st_meta(f, "format_version"), "1") == 0);
    CHECK(re_st_meta(f, "config") && strstr(re_st_meta(f, "config"), "\"latent\":200"));
    CHECK(re_st_meta(f, "nope") == NULL);
    CHECK(re_st_find(f, "nope") == NULL);

    float buf[8];
    const re_st_tensor *t = re_st_find(f, "a.weight");
    CHECK(t && t->dtype == RE_DT_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->numel == 6);
    if (t) {
        CHECK_OK(re_st_to_f32(f, t, buf, 6));
        for (int i = 0; i < 6; i++) CHECK(buf[i] == i * 0.5f - 1.0f);
        CHECK_EQ_INT(re_st_to_f32(f, t, buf, 5), RE_ERR_SHAPE);
        CHECK(strstr(re_last_error(), "a.weight") != NULL);
    }
    t = re_st_find(f, "b.bias");
    CHECK(t && t->dtype == RE_DT_BF16 && t->ndim == 1 && t->numel == 3);
    if (t) {
        CHECK_OK(re_st_to_f32(f, t, buf, 3));
        CHECK(buf[0] == 1.0f && buf[1] == -2.5f && buf[2] == 0.15625f);
    }
    t = re_st_find(f, "c.half");
    CHECK(t && t->dtype == RE_DT_F16 && t->numel == 4);
    if (t) {
        CHECK_OK(re_st_to_f32(f, t, buf, 4));
        CHECK(buf[0] == 0.5f && buf[1] == -1024.0f && buf[2] == ldexpf(1, -14) && buf[3] == ldexpf(1, -24));
    }
    t = re_st_find(f, "e.f64");
    CHECK(t && t->dtype == RE_DT_F64 && t->numel == 2);
    if (t) {
        CHECK_OK(re_st_to_f32(f, t, buf, 2));
        CHECK(buf[0] == 3.25f && buf[1] == -0.125f);
    }
    t = re_st_find(f, "n.num_batches_tracked");
    CHECK(t && t->dtype == RE_DT_I64 && t->ndim == 0 && t->numel == 1 && t->end - t->begin == 8);
    if (t) {
        int64_t v;
        memcpy(&v, re_st_data(f, t), 8); /* little-endian host */
        CHECK_EQ_INT(v, 7);
        CHECK_EQ_INT(re_st_to_f32(f, t, buf, 1), RE_ERR_DTYPE);
    }
    t = re_st_find(f, "f.i32");
    CHECK(t && t->dtype == RE_DT_I32 && t->numel == 2);
    if (t) {
        int32_t v[2];
        memcpy(v, re_st_data(f, t), 8);
        CHECK(v[0] == -7 && v[1] == 123456);
    }
    t = re_st_find(f, "d.u8");
    CHECK(t && t->dtype == RE_DT_U8 && t->numel == 4);
    if (t) {
        const uint8_t *p = re_st_data(f, t);
        CHECK(p[0] == 0 && p[1] == 1 && p[2] == 254 && p[3] == 255);
    }
    t = re_st_find(f, "z.empty");
    CHECK(t && t->numel == 0 && t->ndim == 2 && t->begin == t->end);
    if (t) CHECK_OK(re_st_to_f32(f, t, NULL, 0));

    /* the memory path gives the same result */
    size_t n = 0;
    uint8_t *b = re_test_read_file(FIXDIR "/good_small.safetensors", &n);
    CHECK(b != NULL);
    if (b) {
        re_st_file *g = NULL;
        CHECK_OK(re_st_load_mem(&g, b, n, "mem"));
        if (g) {
            CHECK_EQ_INT(g->n_tensors, f->n_tensors);
            CHECK(g->data_len == f->data_len && memcmp(g->data, f->data, f->data_len) == 0);
            CHECK(strcmp(g->path, "mem") == 0);
        }
        re_st_free(g);
        /* every strict prefix is a truncated file */
        int all_trunc = 1;
        for (size_t k = 0; k < n; k++) {
            re_st_file *h = NULL;
            re_status s = re_st_load_mem(&h, b, k, "prefix");
            if (s != RE_ERR_TRUNCATED || h) {
                all_trunc = 0;
                CHECK_MSG(0, "prefix %zu: status %d (%s)", k, (int)s, re_last_error());
            }
            re_st_free(h);
        }
        CHECK(all_trunc);
        /* a flipped data byte is caught by the checksum */
        b[n - 1] ^= 0x01;
        re_st_file *h = NULL;
        CHECK_EQ_INT(re_st_load_mem(&h, b, n, "flipped"), RE_ERR_CHECKSUM);
        CHECK(h == NULL);
        free(b);
    }
    re_st_free(f);

    f = NULL;
    CHECK_OK(re_st_load(&f, FIXDIR "/good_nometa.safetensors"));
    if (f) {
        CHECK(f->n_meta == 0 && f->checksum_verified == 0 && f->n_tensors == 1);
        re_st_free(f);
    }
    f = NULL;
    CHECK_OK(re_st_load(&f, FIXDIR "/good_empty.safetensors"));
    if (f) {
        CHECK(f->n_tensors == 0 && f->data_len == 0);
        re_st_free(f);
    }
    f = NULL;
    CHECK_OK(re_st_load(&f, FIXDIR "/good_unpadded.safetensors"));
    if (f) {
        const re_st_tensor *s = re_st_find(f, "s");
        CHECK(s && s->ndim == 0 && s->numel == 1);
        if (s) {
            CHECK_OK(re_st_to_f32(f, s, buf, 1));
            CHECK(buf[0] == 42.0f);
        }
        re_st_free(f);
    }
}

/* ---- negative fixtures: each with its own status and a message fragment ---- */

static const struct { const char *name; re_status st; const char *msg; } k_bad[] = {
    {"bad_truncated_short", RE_ERR_TRUNCATED, "at least 8"},
    {"bad_truncated_data", RE_ERR_TRUNCATED, "truncated"},
    {"bad_header_beyond_eof", RE_ERR_TRUNCATED, "exceeds the file size"},
    {"bad_header_too_large", RE_ERR_TOO_LARGE, "exceeds the limit"},
    {"bad_header_len_zero", RE_ERR_BAD_HEADER, "cannot hold"},
    {"bad_first_byte", RE_ERR_BAD_HEADER, "must start with '{'"},
    {"bad_not_object", RE_ERR_BAD_HEADER, "must start with '{'"},
    {"bad_not_json", RE_ERR_BAD_HEADER, "not valid JSON"},
    {"bad_invalid_utf8", RE_ERR_BAD_HEADER, "not valid JSON"},
    {"bad_duplicate_key", RE_ERR_BAD_HEADER, "duplicate"},
    {"bad_unknown_dtype", RE_ERR_DTYPE, "unknown dtype 'F13'"},
    {"bad_unsupported_dtype", RE_ERR_DTYPE, "'BOOL' is not supported"},
    {"bad_ndim9", RE_ERR_BAD_HEADER, "9 dimensions"},
    {"bad_negative_dim", RE_ERR_BAD_HEADER, "shape[0]"},
    {"bad_float_dim", RE_ERR_BAD_HEADER, "shape[0]"},
    {"bad_missing_field", RE_ERR_BAD_HEADER, "data_offsets"},
    {"bad_unknown_field", RE_ERR_BAD_HEADER, "unexpected field 'extra'"},
    {"bad_entry_not_object", RE_ERR_BAD_HEADER, "must be an object"},
    {"bad_overlap", RE_ERR_OFFSETS, "overlap"},
    {"bad_gap", RE_ERR_OFFSETS, "gap of 4 bytes"},
    {"bad_not_start_zero", RE_ERR_OFFSETS, "expected 0"},
    {"bad_offsets_reversed", RE_ERR_OFFSETS, "end before"},
    {"bad_trailing_bytes", RE_ERR_OFFSETS, "trailing"},
    {"bad_wrong_length", RE_ERR_OFFSETS, "needs 12 bytes"},
    {"bad_numel_overflow", RE_ERR_OFFSETS, "overflows"},
    {"bad_checksum", RE_ERR_CHECKSUM, "SHA-256 mismatch"},
    {"bad_checksum_malformed", RE_ERR_BAD_HEADER, "64 hex digits"},
    {"bad_metadata_non_string", RE_ERR_BAD_HEADER, "must be a string"},
    {"bad_metadata_not_object", RE_ERR_BAD_HEADER, "'__metadata__' must be an object"},
};
#define N_BAD (sizeof k_bad / sizeof k_bad[0])

static void test_bad_fixtures(void) {
    for (size_t i = 0; i < N_BAD; i++) {
        char path[512];
        snprintf(path, sizeof path, FIXDIR "/%s.safetensors", k_bad[i].name);
        re_st_file *f = (re_st_file *)&f; /* must be reset to NULL on failure */
        re_status s = re_st_load(&f, path);
        CHECK_MSG(s == k_bad[i].st, "%s: got status %d (%s), want %d", k_bad[i].name, (int)s, re_last_error(),
                  (int)k_bad[i].st);
        CHECK_MSG(strstr(re_last_error(), k_bad[i].msg) != NULL, "%s: message '%s' lacks '%s'", k_bad[i].name,
                  re_last_error(), k_bad[i].msg);
        CHECK_MSG(strstr(re_last_error(), k_bad[i].name) != NULL, "%s: message '%s' does not name the file",
                  k_bad[i].name, re_last_error());
        CHECK(f == NULL);
        if (s == RE_OK) re_st_free(f);
        /* the memory path agrees */
        size_t n = 0;
        uint8_t *b = re_test_read_file(path, &n);
        CHECK_MSG(b != NULL, "cannot read %s", path);
        if (b) {
            re_st_file *g = NULL;
            s = re_st_load_mem(&g, b, n, k_bad[i].name);
            CHECK_MSG(s == k_bad[i].st, "%s (mem): got %d want %d", k_bad[i].name, (int)s, (int)k_bad[i].st);
            if (s == RE_OK) re_st_free(g);
            free(b);
        }
    }
    /* every bad_* file in the folder has an expectation above (no silently untested fixture) */
    DIR *d = opendir(FIXDIR);
    CHECK_MSG(d != NULL, "cannot open %s (run from the repository root)", FIXDIR);
    struct dirent *e;
    size_t seen = 0;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, "bad_", 4) != 0) continue;
        seen++;
        int known = 0;
        for (size_t i = 0; i < N_BAD; i++) {
            size_t l = strlen(k_bad[i].name);
            known |= strncmp(e->d_name, k_bad[i].name, l) == 0 && strcmp(e->d_name + l, ".safetensors") == 0;
        }
        CHECK_MSG(known, "fixture %s has no expected status in k_bad[]", e->d_name);
    }
    if (d) closedir(d);
    CHECK_EQ_INT(seen, N_BAD);

    re_st_file *f = NULL;
    CHECK_EQ_INT(re_st_load(&f, FIXDIR "/does_not_exist.safetensors"), RE_ERR_IO);
    CHECK(strstr(re_last_error(), "does_not_exist") != NULL);
    CHECK_EQ_INT(re_st_load(&f, FIXDIR), RE_ERR_IO);
    CHECK(f == NULL);
}

/* ---- writer round trips ---- */

static void test_round_trip(const char *tmpdir) {
    float w[2 * 3 * 5], bb[7], hh[9];
    re_rng r;
    re_rng_seed(&r, 7);
    for (size_t i = 0; i < 30; i++) w[i] = re_rng_normal(&r);
    for (size_t i = 0; i < 7; i++) bb[i] = re_rng_normal(&r) * 100.0f;
    for (size_t i = 0; i < 9; i++) hh[i] = re_rng_normal(&r) * 0.01f;
    hh[8] = 1e-7f; /* f16 subnormal */
    int64_t nbt = 123456789012345LL;
    uint8_t u8[3] = {9, 8, 7};
    re_st_entry e[6];
    memset(e, 0, sizeof e);
    /* deliberately not in name order */
    e[0] = (re_st_entry){.name = "z.w", .dtype = RE_DT_F32, .ndim = 3, .shape = {2, 3, 5}, .src_f32 = w};
    e[1] = (re_st_entry){.name = "bn.num_batches_tracked", .dtype = RE_DT_I64, .ndim = 0, .raw = &nbt};
    e[2] = (re_st_entry){.name = "b.bf16", .dtype = RE_DT_BF16, .ndim = 1, .shape = {7}, .src_f32 = bb};
    e[3] = (re_st_entry){.name = "h.f16", .dtype = RE_DT_F16, .ndim = 2, .shape = {3, 3}, .src_f32 = hh};
    e[4] = (re_st_entry){.name = "u", .dtype = RE_DT_U8, .ndim = 1, .shape = {3}, .raw = u8};
    e[5] = (re_st_entry){.name = "empty", .dtype = RE_DT_F32, .ndim = 2, .shape = {4, 0}, .src_f32 = NULL};
    const char *cfg = "{\"res\": 64, \"note\": \"quote\\\" backslash\\\\ newline\\n \\u00e9\"}";
    const char *meta[] = {"format", "reenact-vaegan", "format_version", "1", "config", cfg};

    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK_OK(re_st_write_mem(&buf, &len, e, 6, meta, 3));
    if (!buf) return;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    CHECK_EQ_INT(hlen % 8, 0);
    CHECK(hlen + 8 <= len && buf[8] == '{' && buf[8 + hlen - 1] != 0);
    CHECK(memcmp(buf + 9, "\"__metadata__\"", 14) == 0); /* metadata first */

    re_st_file *f = NULL;
    CHECK_OK(re_st_load_mem(&f, buf, len, "roundtrip"));
    if (f) {
        CHECK_EQ_INT(f->n_tensors, 6);
        CHECK(f->checksum_verified == 1);
        CHECK(re_st_meta(f, "config") && strcmp(re_st_meta(f, "config"), cfg) == 0);
        CHECK(re_st_meta(f, "format") && strcmp(re_st_meta(f, "format"), "reenact-vaegan") == 0);
        CHECK(re_st_meta(f, "format_version") && strcmp(re_st_meta(f, "format_version"), "1") == 0);
        CHECK_EQ_INT(f->n_meta, 4); /* + data_sha256 */
        /* data laid out in name order */
        for (size_t i = 1; i < f->n_tensors; i++) CHECK(f->tensors[i - 1].end == f->tensors[i].begin);
        CHECK(f->tensors[0].begin == 0 && f->tensors[5].end == f->data_len);

        float got[30];
        const re_st_tensor *t = re_st_find(f, "z.w");
        CHECK(t && t->ndim == 3 && t->shape[0] == 2 && t->shape[1] == 3 && t->shape[2] == 5);
        if (t && re_st_to_f32(f, t, got, 30) == RE_OK) CHECK(memcmp(got, w, sizeof w) == 0);
        t = re_st_find(f, "b.bf16");
        CHECK(t && t->dtype == RE_DT_BF16 && t->end - t->begin == 14);
        if (t && re_st_to_f32(f, t, got, 7) == RE_OK) {
            int same = 1;
            for (int i = 0; i < 7; i++) same &= got[i] == re_bf16_to_f32(re_f32_to_bf16(bb[i]));
            CHECK(same);
            /* bf16 keeps 8 significant bits: round to nearest has relative error <= 2^-8 (unit roundoff) */
            re_test_close("bf16 round trip", got, bb, 7, 1.0 / 256, 0);
        }
        t = re_st_find(f, "h.f16");
        CHECK(t && t->dtype == RE_DT_F16 && t->numel == 9);
        if (t && re_st_to_f32(f, t, got, 9) == RE_OK) {
            int same = 1;
            for (int i = 0; i < 9; i++) same &= got[i] == re_f16_to_f32(re_f32_to_f16(hh[i]));
            CHECK(same);
            /* normal f16 keeps 11 significant bits: relative error <= 2^-11 (the subnormal last one is excluded) */
            re_test_close("f16 round trip", got, hh, 8, 1.0 / 2048, 0);
            CHECK(fabsf(got[8] - 1e-7f) <= ldexpf(1.0f, -25)); /* half a subnormal step */
        }
        t = re_st_find(f, "bn.num_batches_tracked");
        CHECK(t && t->ndim == 0 && t->numel == 1 && t->dtype == RE_DT_I64);
        if (t) {
            int64_t v;
            memcpy(&v, re_st_data(f, t), 8);
            CHECK(v == nbt);
        }
        t = re_st_find(f, "u");
        CHECK(t && memcmp(re_st_data(f, t), u8, 3) == 0);
        t = re_st_find(f, "empty");
        CHECK(t && t->numel == 0 && t->ndim == 2 && t->shape[1] == 0);
        re_st_free(f);
    }

    /* re_st_write gives the same bytes on disk */
    char path[600];
    snprintf(path, sizeof path, "%s/rt.safetensors", tmpdir);
    CHECK_OK(re_st_write(path, e, 6, meta, 3));
    size_t n2 = 0;
    uint8_t *disk = re_test_read_file(path, &n2);
    CHECK(disk && n2 == len && memcmp(disk, buf, len) == 0);
    free(disk);
    f = NULL;
    CHECK_OK(re_st_load(&f, path));
    re_st_free(f);
    free(buf);

    /* zero tensors, no metadata */
    buf = NULL;
    CHECK_OK(re_st_write_mem(&buf, &len, NULL, 0, NULL, 0));
    f = NULL;
    if (buf) CHECK_OK(re_st_load_mem(&f, buf, len, "empty"));
    if (f) CHECK(f->n_tensors == 0 && f->n_meta == 1 && f->checksum_verified == 1);
    re_st_free(f);
    free(buf);

    /* writer argument checks */
    re_st_entry d[2] = {e[0], e[0]};
    buf = NULL;
    CHECK_EQ_INT(re_st_write_mem(&buf, &len, d, 2, NULL, 0), RE_ERR_ARG); /* duplicate name */
    CHECK(buf == NULL && strstr(re_last_error(), "duplicate") != NULL);
    const char *reserved[] = {"data_sha256", "x"};
    CHECK_EQ_INT(re_st_write_mem(&buf, &len, e, 1, reserved, 1), RE_ERR_ARG);
    const char *twice[] = {"a", "1", "a", "2"};
    CHECK_EQ_INT(re_st_write_mem(&buf, &len, e, 1, twice, 2), RE_ERR_ARG);
    d[0] = e[0];
    d[0].dtype = RE_DT_I64;
    CHECK_EQ_INT(re_st_write_mem(&buf, &len, d, 1, NULL, 0), RE_ERR_DTYPE); /* f32 source as I64 */
    d[0] = e[0];
    d[0].ndim = 9;
    CHECK_EQ_INT(re_st_write_mem(&buf, &len, d, 1, NULL, 0), RE_ERR_ARG);
    d[0] = e[4];
    d[0].raw = NULL;
    CHECK_EQ_INT(re_st_write_mem(&buf, &len, d, 1, NULL, 0), RE_ERR_ARG); /* no data */
    d[0] = e[0];
    d[0].name = "__metadata__";
    CHECK_EQ_INT(re_st_write_mem(&buf, &len, d, 1, NULL, 0), RE_ERR_ARG);
    d[0] = e[0];
    d[0].shape[1] = -3;
    CHECK_EQ_INT(re_st_write_mem(&buf, &len, d, 1, NULL, 0), RE_ERR_ARG);
    CHECK(buf == NULL);
}

/* ---- atomic replacement ---- */

static re_status write_text(FILE *f, void *user) {
    return fputs((const char *)user, f) >= 0 ? RE_OK : re_fail(RE_ERR_IO, "fputs failed");
}
static re_status write_then_fail(FILE *f, void *user) {
    fputs("PARTIAL GARBAGE", f);
    return re_fail(RE_ERR_IO, "simulated failure after a partial write");
}

/* Temp files (".tmp." in the name) left in dir. */
static int count_tmp_files(const char *dir) { return re_test_count_entries(dir, ".tmp.", 0); }

static int file_is(const char *path, const char *want) {
    size_t n = 0;
    uint8_t *b = re_test_read_file(path, &n);
    int ok = b && n == strlen(want) && memcmp(b, want, n) == 0;
    free(b);
    return ok;
}

static void test_atomic(const char *tmpdir) {
    char path[600], sub[600], bad[600];
    snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
    CHECK_OK(re_write_atomic(path, write_text, "version one"));
    CHECK(file_is(path, "version one"));
    CHECK_OK(re_write_atomic(path, write_text, "version two"));
    CHECK(file_is(path, "version two"));

    /* the callback fails after writing some bytes: the old file stays, no temp file is left */
    CHECK_EQ_INT(re_write_atomic(path, write_then_fail, NULL), RE_ERR_IO);
    CHECK(strstr(re_last_error(), "simulated failure") != NULL && strstr(re_last_error(), "model.safetensors"));
    CHECK(file_is(path, "version two"));
    CHECK_EQ_INT(count_tmp_files(tmpdir), 0);

    /* re_st_write with an invalid entry must not touch the file either */
    re_st_entry e = {.name = "", .dtype = RE_DT_F32, .ndim = 0};
    CHECK_EQ_INT(re_st_write(path, &e, 1, NULL, 0), RE_ERR_ARG);
    CHECK(file_is(path, "version two"));

    /* a directory that does not exist */
    snprintf(bad, sizeof bad, "%s/no_such_dir/m.safetensors", tmpdir);
    float one = 1.0f;
    re_st_entry ok = {.name = "x", .dtype = RE_DT_F32, .ndim = 1, .shape = {1}, .src_f32 = &one};
    CHECK_EQ_INT(re_st_write(bad, &ok, 1, NULL, 0), RE_ERR_IO);
    CHECK(strstr(re_last_error(), "no_such_dir") != NULL);

    /* the target is an existing directory: rename fails, directory and its contents untouched, temp removed */
    snprintf(sub, sizeof sub, "%s/adir", tmpdir);
    CHECK(mkdir(sub, 0755) == 0);
    snprintf(bad, sizeof bad, "%s/adir/keep", tmpdir);
    CHECK_OK(re_write_atomic(bad, write_text, "kept"));
    CHECK_EQ_INT(re_st_write(sub, &ok, 1, NULL, 0), RE_ERR_IO);
    struct stat sb;
    CHECK(stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode));
    CHECK(file_is(bad, "kept"));
    CHECK_EQ_INT(count_tmp_files(tmpdir), 0);

    /* an unwritable directory (meaningless as root, who may write anywhere) */
    if (geteuid() != 0) {
        CHECK(chmod(sub, 0555) == 0);
        CHECK_EQ_INT(re_write_atomic(bad, write_text, "replaced?"), RE_ERR_IO);
        CHECK(file_is(bad, "kept"));
        CHECK(chmod(sub, 0755) == 0);
    }
    CHECK_EQ_INT(count_tmp_files(sub), 0);
    remove(bad);
    rmdir(sub);

    CHECK_OK(re_fsync_dir(tmpdir));
    CHECK_OK(re_fsync_dir(path));
    CHECK_EQ_INT(re_fsync_dir("/definitely/not/here/x"), RE_ERR_IO);
    remove(path);
}

int main(void) {
    char tmpdir[] = "/tmp/re_test_st_XXXXXX";
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "FAIL: mkdtemp\n");
        return 1;
    }
    test_conversions();
    test_good_fixture();
    test_bad_fixtures();
    test_round_trip(tmpdir);
    test_atomic(tmpdir);
    char p[600];
    snprintf(p, sizeof p, "%s/rt.safetensors", tmpdir);
    remove(p);
    if (rmdir(tmpdir) != 0) fprintf(stderr, "note: could not remove %s\n", tmpdir);
    RE_TEST_END();
}
