/*
 * safetensors.c - strict safetensors reader and atomic writer (format: docs/FORMAT.md, "safetensors" section; API
 * contracts: safetensors.h). The reader parses through a read callback so files, memory buffers and fuzzers share
 * one code path. It validates the whole header (JSON, dtypes, shapes, offsets) before allocating the data section,
 * and it only allocates the data section after checking that the header's offsets describe exactly the bytes the
 * file has. All multi-byte values are little-endian on disk and are decoded byte by byte, so tensors need no
 * particular alignment inside the data section.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "core/safetensors.h"

/* ---- dtypes ------------------------------------------------------------------------------------------------ */

static const struct { const char *name; size_t size; } k_dtypes[] = {
    [RE_DT_F32] = {"F32", 4}, [RE_DT_F16] = {"F16", 2}, [RE_DT_BF16] = {"BF16", 2}, [RE_DT_I64] = {"I64", 8},
    [RE_DT_I32] = {"I32", 4}, [RE_DT_U8] = {"U8", 1},   [RE_DT_F64] = {"F64", 8},
};
#define RE_N_DTYPES (sizeof k_dtypes / sizeof k_dtypes[0])

/* Element size in bytes; 0 for a value outside the enum. */
size_t re_dtype_size(re_dtype t) { return ((unsigned)t < RE_N_DTYPES) ? k_dtypes[t].size : 0; }

/* Header spelling of a dtype ("F32", "BF16", ...); "?" for a value outside the enum. */
const char *re_dtype_name(re_dtype t) { return ((unsigned)t < RE_N_DTYPES) ? k_dtypes[t].name : "?"; }

static int dtype_from_name(const char *s, re_dtype *out) {
    for (unsigned i = 0; i < RE_N_DTYPES; i++) {
        if (strcmp(s, k_dtypes[i].name) == 0) {
            *out = (re_dtype)i;
            return 1;
        }
    }
    return 0;
}

/* Dtypes the safetensors format defines but reenact does not read (for a more helpful message). */
static int dtype_is_other_safetensors(const char *s) {
    static const char *const other[] = {"BOOL", "I8", "I16", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2",
                                        "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (strcmp(s, other[i]) == 0) return 1;
    return 0;
}

/* ---- f32 <-> f16 / bf16 ------------------------------------------------------------------------------------- */

static inline uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}
static inline float bits_f32(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* bf16 is the top half of an f32. Round to nearest even by adding 0x7fff plus the lowest kept bit; overflow rounds
 * to infinity exactly as IEEE rounding would. NaN keeps its sign and top payload bits and is forced quiet. */
uint16_t re_f32_to_bf16(float x) {
    uint32_t u = f32_bits(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float re_bf16_to_f32(uint16_t x) { return bits_f32((uint32_t)x << 16); }

/* IEEE binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Round to nearest even in all ranges, including
 * subnormal results; |x| >= 65520 (half-way above the largest finite 65504, tie goes to even = inf) gives inf. */
uint16_t re_f32_to_f16(float x) {
    uint32_t u = f32_bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN, quiet */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);                        /* overflow or inf */
    if (a >= 0x38800000u) {                                                         /* normal f16 */
        uint32_t r = a - (112u << 23);                                              /* rebias 127 -> 15 */
        r += 0xfffu + ((r >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }
    if (a <= 0x33000000u) return sign; /* |x| <= 2^-25: rounds to (signed) zero, the tie included */
    /* Subnormal f16: value = m * 2^(e-150); in units of 2^-24 that is m >> (126 - e), shift in 14..24. */
    uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
    unsigned shift = 126u - e;
    uint32_t q = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) q++; /* q may reach 0x400: the smallest normal, still correct */
    return (uint16_t)(sign | q);
}

float re_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu, u;
    if (e == 0x1f) {
        u = sign | 0x7f800000u | (m << 13);
    } else if (e != 0) {
        u = sign | ((e + 112u) << 23) | (m << 13);
    } else if (m == 0) {
        u = sign;
    } else { /* subnormal: normalise the mantissa */
        e = 113;
        while (!(m & 0x400u)) {
            m <<= 1;
            e--;
        }
        u = sign | (e << 23) | ((m & 0x3ffu) << 13);
    }
    return bits_f32(u);
}

/* ---- little-endian helpers ---------------------------------------------------------------------------------- */

static inline uint64_t rd_le(const uint8_t *p, int nbytes) {
    uint64_t v = 0;
    for (int i = nbytes - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static inline void wr_le(uint8_t *p, uint64_t v, int nbytes) {
    for (int i = 0; i < nbytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- reader ------------------------------------------------------------------------------------------------- */

/* Free everything a (possibly partially built) file owns. NULL is a no-op. */
void re_st_free(re_st_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_vals[i]);
    }
    free(f->meta_keys);
    free(f->meta_vals);
    re_free(f->data);
    free(f->path);
    free(f);
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const re_st_tensor *)a)->name, ((const re_st_tensor *)b)->name);
}

/* Order by begin, then end (so a zero-byte tensor sits before a tensor starting at the same offset), then name. */
static int cmp_tensor_ptr_offset(const void *a, const void *b) {
    const re_st_tensor *x = *(const re_st_tensor *const *)a, *y = *(const re_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* A JSON integer that is >= 0, or -1 if j is anything else. */
static long long json_nonneg_int(const json_t *j) {
    if (!json_is_integer(j)) return -1;
    json_int_t v = json_integer_value(j);
    return v < 0 ? -1 : (long long)v;
}

static void format_shape(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t used = 0;
    buf[0] = 0;
    used += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

/* Parse one header entry `name: {dtype, shape, data_offsets}` into *t (t->name is set by the caller). Checks field
 * types, the dtype, ndim, the element count and that end-begin == numel*dtype size. */
static re_status parse_tensor(const char *what, const char *name, json_t *v, re_st_tensor *t) {
    if (!json_is_object(v))
        return re_fail(RE_ERR_BAD_HEADER, "%s: tensor '%s': header entry must be an object", what, name);
    const char *key;
    json_t *fld;
    json_object_foreach(v, key, fld) {
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
            return re_fail(RE_ERR_BAD_HEADER,
                           "%s: tensor '%s': unexpected field '%s' (expected only dtype, shape, data_offsets)", what,
                           name, key);
    }
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
           *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd))
        return re_fail(RE_ERR_BAD_HEADER, "%s: tensor '%s': field 'dtype' missing or not a string", what, name);
    if (!json_is_array(js))
        return re_fail(RE_ERR_BAD_HEADER, "%s: tensor '%s': field 'shape' missing or not an array", what, name);
    if (!json_is_array(jo) || json_array_size(jo) != 2)
        return re_fail(RE_ERR_BAD_HEADER, "%s: tensor '%s': field 'data_offsets' must be an array [begin, end]", what,
                       name);
    const char *ds = json_string_value(jd);
    if (!dtype_from_name(ds, &t->dtype)) {
        if (dtype_is_other_safetensors(ds))
            return re_fail(RE_ERR_DTYPE, "%s: tensor '%s': dtype '%s' is not supported (supported: F32 F16 BF16 F64 "
                           "I64 I32 U8)", what, name, ds);
        return re_fail(RE_ERR_DTYPE, "%s: tensor '%s': unknown dtype '%.32s' (supported: F32 F16 BF16 F64 I64 I32 U8)",
                       what, name, ds);
    }
    size_t nd = json_array_size(js);
    if (nd > RE_ST_MAX_DIMS)
        return re_fail(RE_ERR_BAD_HEADER, "%s: tensor '%s': shape has %zu dimensions, at most %d are allowed", what,
                       name, nd, RE_ST_MAX_DIMS);
    t->ndim = (int)nd;
    for (size_t i = 0; i < nd; i++) {
        long long d = json_nonneg_int(json_array_get(js, i));
        if (d < 0)
            return re_fail(RE_ERR_BAD_HEADER, "%s: tensor '%s': shape[%zu] is not a non-negative integer", what, name,
                           i);
        t->shape[i] = (int64_t)d;
    }
    long long b = json_nonneg_int(json_array_get(jo, 0)), e = json_nonneg_int(json_array_get(jo, 1));
    if (b < 0 || e < 0)
        return re_fail(RE_ERR_BAD_HEADER, "%s: tensor '%s': data_offsets must be non-negative integers", what, name);
    t->begin = (uint64_t)b;
    t->end = (uint64_t)e;
    if (t->end < t->begin)
        return re_fail(RE_ERR_OFFSETS, "%s: tensor '%s': data_offsets [%llu,%llu] end before they begin", what, name,
                       (unsigned long long)t->begin, (unsigned long long)t->end);
    char shp[200];
    format_shape(shp, sizeof shp, t->shape, t->ndim);
    size_t numel = 1, nbytes;
    for (int i = 0; i < t->ndim; i++) {
        if (!re_mul_ok(numel, (size_t)t->shape[i], &numel))
            return re_fail(RE_ERR_OFFSETS, "%s: tensor '%s': element count of shape %s overflows", what, name, shp);
    }
    if (!re_mul_ok(numel, re_dtype_size(t->dtype), &nbytes))
        return re_fail(RE_ERR_OFFSETS, "%s: tensor '%s': byte size of shape %s %s overflows", what, name, shp, ds);
    t->numel = numel;
    if (t->end - t->begin != (uint64_t)nbytes)
        return re_fail(RE_ERR_OFFSETS,
                       "%s: tensor '%s': shape %s %s needs %zu bytes, data_offsets [%llu,%llu] hold %llu", what, name,
                       shp, ds, nbytes, (unsigned long long)t->begin, (unsigned long long)t->end,
                       (unsigned long long)(t->end - t->begin));
    return RE_OK;
}

typedef struct meta_pair { char *k, *v; } meta_pair;
static int cmp_meta(const void *a, const void *b) { return strcmp(((const meta_pair *)a)->k, ((const meta_pair *)b)->k); }

/* Copy "__metadata__" (an object of string values) into f, sorted by key. */
static re_status parse_metadata(re_st_file *f, const char *what, json_t *m) {
    re_status st = RE_OK;
    meta_pair *pairs = NULL;
    size_t n = 0;
    if (!json_is_object(m)) return re_fail(RE_ERR_BAD_HEADER, "%s: '__metadata__' must be an object", what);
    size_t cap = json_object_size(m);
    const char *key;
    json_t *val;
    json_object_foreach(m, key, val) {
        if (!json_is_string(val))
            return re_fail(RE_ERR_BAD_HEADER, "%s: '__metadata__' value for key '%s' must be a string, got a JSON %s",
                           what, key,
                           json_is_object(val) ? "object" : json_is_array(val) ? "array" :
                           json_is_number(val) ? "number" : json_is_boolean(val) ? "boolean" : "null");
    }
    if (cap == 0) return RE_OK;
    pairs = calloc(cap, sizeof *pairs);
    if (!pairs) return re_fail(RE_ERR_NOMEM, "%s: out of memory for metadata", what);
    json_object_foreach(m, key, val) {
        pairs[n].k = strdup(key);
        pairs[n].v = strdup(json_string_value(val));
        n++;
        if (!pairs[n - 1].k || !pairs[n - 1].v) {
            st = re_fail(RE_ERR_NOMEM, "%s: out of memory for metadata", what);
            goto fail;
        }
    }
    qsort(pairs, n, sizeof *pairs, cmp_meta);
    f->meta_keys = calloc(n, sizeof *f->meta_keys);
    f->meta_vals = calloc(n, sizeof *f->meta_vals);
    if (!f->meta_keys || !f->meta_vals) {
        st = re_fail(RE_ERR_NOMEM, "%s: out of memory for metadata", what);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        f->meta_keys[i] = pairs[i].k;
        f->meta_vals[i] = pairs[i].v;
    }
    f->n_meta = n;
    free(pairs);
    return RE_OK;
fail:
    for (size_t i = 0; i < n; i++) {
        free(pairs[i].k);
        free(pairs[i].v);
    }
    free(pairs);
    return st;
}

static int is_hex64(const char *s) {
    size_t i = 0;
    for (; s[i]; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return 0;
    }
    return i == 64;
}

static int hex_eq_ci(const char *a, const char *b) {
    for (size_t i = 0; i < 64; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'F') x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'F') y = (char)(y - 'A' + 'a');
        if (x != y) return 0;
    }
    return 1;
}

/* Parse a safetensors stream of total_size bytes read through rd(user, ...). On RE_OK *out owns a new file (free with
 * re_st_free); on failure *out is NULL and the status is one of RE_ERR_TRUNCATED, RE_ERR_TOO_LARGE,
 * RE_ERR_BAD_HEADER, RE_ERR_DTYPE, RE_ERR_OFFSETS, RE_ERR_CHECKSUM, RE_ERR_NOMEM, RE_ERR_ARG (see safetensors.h). */
re_status re_st_parse(re_st_file **out, re_st_read_fn rd, void *user, uint64_t total_size, const char *what) {
    re_status st = RE_OK;
    re_st_file *f = NULL;
    char *hdr = NULL;
    json_t *root = NULL;
    re_st_tensor **order = NULL;
    if (!out || !rd) return re_fail(RE_ERR_ARG, "re_st_parse: NULL output or read callback");
    *out = NULL;
    if (!what) what = "<stream>";

    f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(what))) {
        st = re_fail(RE_ERR_NOMEM, "%s: out of memory", what);
        goto fail;
    }
    if (total_size < 8) {
        st = re_fail(RE_ERR_TRUNCATED, "%s: file is %llu bytes, a safetensors file needs at least 8 (header length)",
                     what, (unsigned long long)total_size);
        goto fail;
    }
    uint8_t lenbuf[8];
    if (rd(user, lenbuf, 8) != 8) {
        st = re_fail(RE_ERR_TRUNCATED, "%s: could not read the 8-byte header length", what);
        goto fail;
    }
    uint64_t hlen = rd_le(lenbuf, 8);
    if (hlen > RE_ST_MAX_HEADER) {
        st = re_fail(RE_ERR_TOO_LARGE, "%s: header length %llu exceeds the limit of %u bytes", what,
                     (unsigned long long)hlen, RE_ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > total_size - 8) {
        st = re_fail(RE_ERR_TRUNCATED, "%s: header length %llu + 8 exceeds the file size %llu", what,
                     (unsigned long long)hlen, (unsigned long long)total_size);
        goto fail;
    }
    if (hlen < 2) {
        st = re_fail(RE_ERR_BAD_HEADER, "%s: header of %llu bytes cannot hold a JSON object", what,
                     (unsigned long long)hlen);
        goto fail;
    }
    hdr = malloc((size_t)hlen + 1);
    if (!hdr) {
        st = re_fail(RE_ERR_NOMEM, "%s: cannot allocate %llu header bytes", what, (unsigned long long)hlen);
        goto fail;
    }
    if (rd(user, hdr, (size_t)hlen) != (size_t)hlen) {
        st = re_fail(RE_ERR_TRUNCATED, "%s: file ended inside the %llu-byte header", what, (unsigned long long)hlen);
        goto fail;
    }
    hdr[hlen] = 0;
    if (hdr[0] != '{') {
        st = re_fail(RE_ERR_BAD_HEADER, "%s: header must start with '{', got byte 0x%02x", what,
                     (unsigned)(uint8_t)hdr[0]);
        goto fail;
    }
    json_error_t jerr;
    root = json_loadb(hdr, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        int dup = json_error_code(&jerr) == json_error_duplicate_key;
        st = re_fail(RE_ERR_BAD_HEADER, "%s: header is not valid JSON%s: %s (line %d, column %d)", what,
                     dup ? " (duplicate key)" : "", jerr.text, jerr.line, jerr.column);
        goto fail;
    }
    if (!json_is_object(root)) {
        st = re_fail(RE_ERR_BAD_HEADER, "%s: header must be a JSON object", what);
        goto fail;
    }

    /* Tensors and metadata. */
    size_t nkeys = json_object_size(root);
    json_t *meta = json_object_get(root, "__metadata__");
    size_t nt = nkeys - (meta ? 1u : 0u);
    f->tensors = calloc(nt ? nt : 1, sizeof *f->tensors);
    if (!f->tensors) {
        st = re_fail(RE_ERR_NOMEM, "%s: out of memory for %zu tensor entries", what, nt);
        goto fail;
    }
    if (meta && (st = parse_metadata(f, what, meta)) != RE_OK) goto fail;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) continue;
        re_st_tensor *t = &f->tensors[f->n_tensors];
        if (key[0] == 0) {
            st = re_fail(RE_ERR_BAD_HEADER, "%s: tensor with an empty name", what);
            goto fail;
        }
        if (!(t->name = strdup(key))) {
            st = re_fail(RE_ERR_NOMEM, "%s: out of memory", what);
            goto fail;
        }
        f->n_tensors++;
        if ((st = parse_tensor(what, key, val, t)) != RE_OK) goto fail;
    }
    json_decref(root);
    root = NULL;
    free(hdr);
    hdr = NULL;
    qsort(f->tensors, f->n_tensors, sizeof *f->tensors, cmp_tensor_name);

    /* Offsets: sorted by position they must tile [0, data_len) exactly. */
    uint64_t data_len = total_size - 8 - hlen, pos = 0;
    order = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *order);
    if (!order) {
        st = re_fail(RE_ERR_NOMEM, "%s: out of memory", what);
        goto fail;
    }
    for (size_t i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    qsort(order, f->n_tensors, sizeof *order, cmp_tensor_ptr_offset);
    for (size_t i = 0; i < f->n_tensors; i++) {
        const re_st_tensor *t = order[i];
        if (t->begin < pos) {
            st = re_fail(RE_ERR_OFFSETS, "%s: tensor '%s' data_offsets [%llu,%llu] overlap tensor '%s' which ends at "
                         "%llu", what, t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                         order[i - 1]->name, (unsigned long long)pos);
            goto fail;
        }
        if (t->begin > pos) {
            if (i == 0)
                st = re_fail(RE_ERR_OFFSETS, "%s: the first tensor '%s' starts at data offset %llu, expected 0", what,
                             t->name, (unsigned long long)t->begin);
            else
                st = re_fail(RE_ERR_OFFSETS, "%s: gap of %llu bytes before tensor '%s': it starts at %llu, expected "
                             "%llu (end of '%s')", what, (unsigned long long)(t->begin - pos), t->name,
                             (unsigned long long)t->begin, (unsigned long long)pos, order[i - 1]->name);
            goto fail;
        }
        pos = t->end;
    }
    if (pos > data_len) {
        st = re_fail(RE_ERR_TRUNCATED, "%s: tensors need %llu data bytes, the file has %llu (truncated file?)", what,
                     (unsigned long long)pos, (unsigned long long)data_len);
        goto fail;
    }
    if (pos < data_len) {
        st = re_fail(RE_ERR_OFFSETS, "%s: tensors end at data offset %llu but the data section has %llu bytes "
                     "(%llu trailing bytes)", what, (unsigned long long)pos, (unsigned long long)data_len,
                     (unsigned long long)(data_len - pos));
        goto fail;
    }
    if (data_len > (uint64_t)SIZE_MAX) {
        st = re_fail(RE_ERR_TOO_LARGE, "%s: data section of %llu bytes does not fit in memory", what,
                     (unsigned long long)data_len);
        goto fail;
    }

    /* Data section: its size is now proven consistent with both the header and total_size. */
    f->data_len = (size_t)data_len;
    f->data = re_alloc(f->data_len, what);
    if (!f->data) {
        st = RE_ERR_NOMEM;
        goto fail;
    }
    if (f->data_len && rd(user, f->data, f->data_len) != f->data_len) {
        st = re_fail(RE_ERR_TRUNCATED, "%s: file ended inside the %zu-byte data section", what, f->data_len);
        goto fail;
    }

    const char *sum = re_st_meta(f, "data_sha256");
    if (sum) {
        char got[65];
        if (!is_hex64(sum)) {
            st = re_fail(RE_ERR_BAD_HEADER, "%s: metadata data_sha256 must be 64 hex digits, got '%.80s'", what, sum);
            goto fail;
        }
        re_sha256_hex(f->data, f->data_len, got);
        if (!hex_eq_ci(sum, got)) {
            st = re_fail(RE_ERR_CHECKSUM, "%s: data SHA-256 mismatch: header says %s, data hashes to %s (corrupted "
                         "file?)", what, sum, got);
            goto fail;
        }
        f->checksum_verified = 1;
    }
    free(order);
    *out = f;
    return RE_OK;

fail:
    free(order);
    if (root) json_decref(root);
    free(hdr);
    re_st_free(f);
    return st;
}

typedef struct mem_src { const uint8_t *p; size_t n, pos; } mem_src;

static size_t mem_read(void *user, void *buf, size_t n) {
    mem_src *m = (mem_src *)user;
    size_t left = m->n - m->pos;
    if (n > left) n = left;
    if (n) memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    return n;
}

static size_t file_read(void *user, void *buf, size_t n) { return fread(buf, 1, n, (FILE *)user); }

/* Load a file from disk. RE_ERR_IO if it cannot be opened or is not a regular file; otherwise as re_st_parse. */
re_status re_st_load(re_st_file **out, const char *path) {
    re_status st;
    FILE *fp = NULL;
    struct stat sb;
    if (!out || !path) return re_fail(RE_ERR_ARG, "re_st_load: NULL argument");
    *out = NULL;
    fp = fopen(path, "rb");
    if (!fp) return re_fail(RE_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    if (fstat(fileno(fp), &sb) != 0) {
        st = re_fail(RE_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = re_fail(RE_ERR_IO, "'%s' is not a regular file", path);
        goto fail;
    }
    st = re_st_parse(out, file_read, fp, (uint64_t)sb.st_size, path);
    if (st == RE_OK && ferror(fp)) {
        re_st_free(*out);
        *out = NULL;
        st = re_fail(RE_ERR_IO, "read error on '%s'", path);
    }
fail:
    fclose(fp);
    return st;
}

/* Parse n bytes at buf (borrowed; everything is copied). `what` names the buffer in messages (NULL: "<memory>"). */
re_status re_st_load_mem(re_st_file **out, const void *buf, size_t n, const char *what) {
    if (!buf && n) return re_fail(RE_ERR_ARG, "re_st_load_mem: NULL buffer");
    mem_src m = {(const uint8_t *)buf, n, 0};
    return re_st_parse(out, mem_read, &m, (uint64_t)n, what ? what : "<memory>");
}

/* Tensor by exact name (binary search over the name-sorted table); NULL if absent. */
const re_st_tensor *re_st_find(const re_st_file *f, const char *name) {
    if (!f || !name) return NULL;
    size_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->tensors[mid].name);
        if (c == 0) return &f->tensors[mid];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

/* Metadata value (owned by f) or NULL. */
const char *re_st_meta(const re_st_file *f, const char *key) {
    if (!f || !key) return NULL;
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_vals[i];
    return NULL;
}

/* Raw little-endian bytes of t inside f->data (borrowed, valid until re_st_free; not necessarily aligned). */
const void *re_st_data(const re_st_file *f, const re_st_tensor *t) {
    if (!f || !t || !f->data) return NULL;
    return f->data + t->begin;
}

/* Decode a float tensor into dst[count] (overwrites). Checks in order: NULL f/t (RE_ERR_ARG), non-float dtype
 * (RE_ERR_DTYPE), count != numel (RE_ERR_SHAPE), NULL dst with count > 0 (RE_ERR_ARG). F64 is narrowed to f32. */
re_status re_st_to_f32(const re_st_file *f, const re_st_tensor *t, float *dst, size_t count) {
    if (!f || !t) return re_fail(RE_ERR_ARG, "re_st_to_f32: NULL file or tensor");
    if (t->dtype != RE_DT_F32 && t->dtype != RE_DT_F16 && t->dtype != RE_DT_BF16 && t->dtype != RE_DT_F64)
        return re_fail(RE_ERR_DTYPE, "%s: tensor '%s' has dtype %s, expected a float dtype (F32 F16 BF16 F64)",
                       f->path, t->name, re_dtype_name(t->dtype));
    if (count != t->numel)
        return re_fail(RE_ERR_SHAPE, "%s: tensor '%s' has %zu elements, caller expects %zu", f->path, t->name,
                       t->numel, count);
    if (!dst && count) return re_fail(RE_ERR_ARG, "re_st_to_f32: NULL destination for tensor '%s'", t->name);
    const uint8_t *p = f->data + t->begin;
    switch (t->dtype) {
    case RE_DT_F32:
        for (size_t i = 0; i < count; i++) dst[i] = bits_f32((uint32_t)rd_le(p + 4 * i, 4));
        break;
    case RE_DT_F16:
        for (size_t i = 0; i < count; i++) dst[i] = re_f16_to_f32((uint16_t)rd_le(p + 2 * i, 2));
        break;
    case RE_DT_BF16:
        for (size_t i = 0; i < count; i++) dst[i] = re_bf16_to_f32((uint16_t)rd_le(p + 2 * i, 2));
        break;
    case RE_DT_F64:
        for (size_t i = 0; i < count; i++) {
            uint64_t u = rd_le(p + 8 * i, 8);
            double d;
            memcpy(&d, &u, 8);
            dst[i] = (float)d;
        }
        break;
    default: /* excluded above */
        break;
    }
    return RE_OK;
}

/* ---- writer ------------------------------------------------------------------------------------------------- */

typedef struct st_plan {
    char *header;     /* JSON + space padding, header_len bytes (multiple of 8), not NUL-terminated */
    size_t header_len;
    uint8_t *data;
    size_t data_len;
} st_plan;

static void st_plan_free(st_plan *pl) {
    free(pl->header);
    free(pl->data);
    memset(pl, 0, sizeof *pl);
}

static int cmp_entry_ptr_name(const void *a, const void *b) {
    return strcmp((*(const re_st_entry *const *)a)->name, (*(const re_st_entry *const *)b)->name);
}

/* Validate the entries, lay them out sorted by name, convert/copy their data, and build the padded header. */
static re_status st_plan_build(st_plan *pl, const re_st_entry *entries, size_t n, const char *const *meta_kv,
                               size_t n_meta) {
    re_status st = RE_OK;
    const re_st_entry **ord = NULL;
    size_t *nbytes = NULL;
    json_t *root = NULL, *meta = NULL;
    char *js = NULL;
    memset(pl, 0, sizeof *pl);
    if ((n && !entries) || (n_meta && !meta_kv))
        return re_fail(RE_ERR_ARG, "re_st_write: NULL entries or metadata with a non-zero count");

    ord = calloc(n ? n : 1, sizeof *ord);
    nbytes = calloc(n ? n : 1, sizeof *nbytes);
    if (!ord || !nbytes) {
        st = re_fail(RE_ERR_NOMEM, "re_st_write: out of memory");
        goto fail;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const re_st_entry *e = &entries[i];
        ord[i] = e;
        if (!e->name || !e->name[0] || strcmp(e->name, "__metadata__") == 0) {
            st = re_fail(RE_ERR_ARG, "re_st_write: entry %zu has an empty or reserved name", i);
            goto fail;
        }
        json_t *probe = json_string(e->name);
        if (!probe) {
            st = re_fail(RE_ERR_ARG, "re_st_write: tensor name of entry %zu is not valid UTF-8", i);
            goto fail;
        }
        json_decref(probe);
        if (re_dtype_size(e->dtype) == 0) {
            st = re_fail(RE_ERR_DTYPE, "re_st_write: tensor '%s': invalid dtype %d", e->name, (int)e->dtype);
            goto fail;
        }
        if (e->src_f32 && e->dtype != RE_DT_F32 && e->dtype != RE_DT_F16 && e->dtype != RE_DT_BF16) {
            st = re_fail(RE_ERR_DTYPE, "re_st_write: tensor '%s': f32 source can only be stored as F32, F16 or BF16, "
                         "not %s", e->name, re_dtype_name(e->dtype));
            goto fail;
        }
        if (e->ndim < 0 || e->ndim > RE_ST_MAX_DIMS) {
            st = re_fail(RE_ERR_ARG, "re_st_write: tensor '%s': ndim %d outside 0..%d", e->name, e->ndim,
                         RE_ST_MAX_DIMS);
            goto fail;
        }
        size_t numel;
        if (!re_numel_ok(e->shape, e->ndim, &numel) || !re_mul_ok(numel, re_dtype_size(e->dtype), &nbytes[i]) ||
            !re_add_ok(total, nbytes[i], &total)) {
            st = re_fail(RE_ERR_ARG, "re_st_write: tensor '%s': negative dimension or size overflow", e->name);
            goto fail;
        }
        if (nbytes[i] && !e->src_f32 && !e->raw) {
            st = re_fail(RE_ERR_ARG, "re_st_write: tensor '%s': no data (src_f32 and raw are both NULL)", e->name);
            goto fail;
        }
    }
    qsort(ord, n, sizeof *ord, cmp_entry_ptr_name);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(ord[i - 1]->name, ord[i]->name) == 0) {
            st = re_fail(RE_ERR_ARG, "re_st_write: duplicate tensor name '%s'", ord[i]->name);
            goto fail;
        }
    }

    /* Data section, in name order. */
    pl->data_len = total;
    pl->data = malloc(total ? total : 1);
    if (!pl->data) {
        st = re_fail(RE_ERR_NOMEM, "re_st_write: cannot allocate %zu data bytes", total);
        goto fail;
    }
    root = json_object();
    meta = json_object();
    if (!root || !meta) {
        st = re_fail(RE_ERR_NOMEM, "re_st_write: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n_meta; i++) {
        const char *k = meta_kv[2 * i], *v = meta_kv[2 * i + 1];
        if (!k || !v) {
            st = re_fail(RE_ERR_ARG, "re_st_write: metadata pair %zu has a NULL key or value", i);
            goto fail;
        }
        if (strcmp(k, "data_sha256") == 0 || json_object_get(meta, k)) {
            st = re_fail(RE_ERR_ARG, "re_st_write: metadata key '%s' is reserved or given twice", k);
            goto fail;
        }
        json_t *jv = json_string(v);
        if (!jv || json_object_set_new(meta, k, jv) != 0) {
            st = re_fail(RE_ERR_ARG, "re_st_write: metadata key '%s' or its value is not valid UTF-8", k);
            goto fail;
        }
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const re_st_entry *e = ord[i];
        size_t nb = nbytes[e - entries], numel = nb / re_dtype_size(e->dtype);
        uint8_t *p = pl->data + off;
        if (e->src_f32) {
            for (size_t j = 0; j < numel; j++) {
                if (e->dtype == RE_DT_F32) wr_le(p + 4 * j, f32_bits(e->src_f32[j]), 4);
                else if (e->dtype == RE_DT_F16) wr_le(p + 2 * j, re_f32_to_f16(e->src_f32[j]), 2);
                else wr_le(p + 2 * j, re_f32_to_bf16(e->src_f32[j]), 2);
            }
        } else if (nb) {
            memcpy(p, e->raw, nb);
        }
        json_t *t = json_object(), *shape = json_array(), *offs = json_array();
        int bad = !t || !shape || !offs;
        for (int d = 0; !bad && d < e->ndim; d++) bad = json_array_append_new(shape, json_integer(e->shape[d])) != 0;
        bad = bad || json_array_append_new(offs, json_integer((json_int_t)off)) != 0 ||
              json_array_append_new(offs, json_integer((json_int_t)(off + nb))) != 0;
        bad = bad || json_object_set_new(t, "dtype", json_string(re_dtype_name(e->dtype))) != 0;
        bad = bad || json_object_set(t, "shape", shape) != 0 || json_object_set(t, "data_offsets", offs) != 0;
        json_decref(shape);
        json_decref(offs);
        /* The metadata goes first (insertion order is kept), as the reference implementation writes it. */
        if (!bad && i == 0) bad = json_object_set(root, "__metadata__", meta) != 0;
        if (bad || json_object_set_new(root, e->name, t) != 0) {
            if (bad) json_decref(t);
            st = re_fail(RE_ERR_NOMEM, "re_st_write: out of memory building the header");
            goto fail;
        }
        off += nb;
    }
    char sum[65];
    re_sha256_hex(pl->data, pl->data_len, sum);
    if (json_object_set_new(meta, "data_sha256", json_string(sum)) != 0 ||
        (n == 0 && json_object_set(root, "__metadata__", meta) != 0)) {
        st = re_fail(RE_ERR_NOMEM, "re_st_write: out of memory building the header");
        goto fail;
    }
    js = json_dumps(root, JSON_COMPACT);
    if (!js) {
        st = re_fail(RE_ERR_NOMEM, "re_st_write: cannot serialise the header");
        goto fail;
    }
    size_t jl = strlen(js), padded = (jl + 7) & ~(size_t)7;
    if (padded > RE_ST_MAX_HEADER) {
        st = re_fail(RE_ERR_TOO_LARGE, "re_st_write: header of %zu bytes exceeds the %u-byte limit", padded,
                     RE_ST_MAX_HEADER);
        goto fail;
    }
    pl->header = malloc(padded);
    if (!pl->header) {
        st = re_fail(RE_ERR_NOMEM, "re_st_write: out of memory");
        goto fail;
    }
    memcpy(pl->header, js, jl);
    memset(pl->header + jl, ' ', padded - jl);
    pl->header_len = padded;
    free(js);
    json_decref(root);
    json_decref(meta);
    free(ord);
    free(nbytes);
    return RE_OK;

fail:
    free(js);
    if (root) json_decref(root);
    if (meta) json_decref(meta);
    free(ord);
    free(nbytes);
    st_plan_free(pl);
    return st;
}

/* Serialise into one malloc'd buffer (*out, caller frees with free()). RE_ERR_ARG / RE_ERR_DTYPE for invalid entries or
 * metadata (see st_plan_build), RE_ERR_TOO_LARGE for a header over RE_ST_MAX_HEADER, RE_ERR_NOMEM. *out stays NULL
 * on failure. */
re_status re_st_write_mem(uint8_t **out, size_t *out_len, const re_st_entry *entries, size_t n,
                          const char *const *meta_kv, size_t n_meta) {
    st_plan pl;
    size_t total;
    if (!out || !out_len) return re_fail(RE_ERR_ARG, "re_st_write_mem: NULL output");
    *out = NULL;
    *out_len = 0;
    re_status st = st_plan_build(&pl, entries, n, meta_kv, n_meta);
    if (st != RE_OK) return st;
    if (!re_add_ok(8 + pl.header_len, pl.data_len, &total)) {
        st_plan_free(&pl);
        return re_fail(RE_ERR_NOMEM, "re_st_write_mem: size overflow");
    }
    uint8_t *buf = malloc(total);
    if (!buf) {
        st_plan_free(&pl);
        return re_fail(RE_ERR_NOMEM, "re_st_write_mem: cannot allocate %zu bytes", total);
    }
    wr_le(buf, pl.header_len, 8);
    memcpy(buf + 8, pl.header, pl.header_len);
    if (pl.data_len) memcpy(buf + 8 + pl.header_len, pl.data, pl.data_len);
    st_plan_free(&pl);
    *out = buf;
    *out_len = total;
    return RE_OK;
}

static re_status st_plan_write(FILE *fp, void *user) {
    const st_plan *pl = (const st_plan *)user;
    uint8_t lenbuf[8];
    wr_le(lenbuf, pl->header_len, 8);
    if (fwrite(lenbuf, 1, 8, fp) != 8 || fwrite(pl->header, 1, pl->header_len, fp) != pl->header_len ||
        (pl->data_len && fwrite(pl->data, 1, pl->data_len, fp) != pl->data_len))
        return re_fail(RE_ERR_IO, "short write (%s)", strerror(errno));
    return RE_OK;
}

/* Serialise and replace `path` atomically through re_write_atomic; the statuses of re_st_write_mem plus RE_ERR_IO.
 * Entries are validated before anything touches the disk. */
re_status re_st_write(const char *path, const re_st_entry *entries, size_t n, const char *const *meta_kv,
                      size_t n_meta) {
    st_plan pl;
    if (!path) return re_fail(RE_ERR_ARG, "re_st_write: NULL path");
    re_status st = st_plan_build(&pl, entries, n, meta_kv, n_meta);
    if (st != RE_OK) return re_fail_ctx(st, "%s", path);
    st = re_write_atomic(path, st_plan_write, &pl);
    st_plan_free(&pl);
    return st;
}
