/*
 * shape_model.c - dlib's shape predictor file decoded from memory into packed arrays (shape_model.h).
 *
 * dlib's serialization (dlib/serialize.h, float_details.h, matrix.h) as read here:
 *   - an integer is one control byte and up to 8 value bytes, little-endian. The control byte's low 4 bits are the
 *     byte count (1..sizeof(type)); bit 7 marks a negative value (signed types; an unsigned type refuses it);
 *     bits 4-6 are ignored. The value is formed in the type's width, then negated when marked.
 *   - a float is an int64 mantissa and an int16 exponent: ldexpf((float)mantissa, exponent); the exponents 32000,
 *     32001 and above mean +inf, -inf and NaN. A first byte with any of bits 4-6 set is dlib's old text encoding.
 *   - a matrix is its rows and columns (long, both negated in the current encoding) and its values row by row;
 *   - a std::vector is its size (unsigned long) and its elements.
 * Tested by tests/unit/test_shape_model.cpp (against dlib::deserialize) and tests/fuzz/fuzz_shape_model.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "face/shape_model.h"

enum { NPTS = RE_SHAPE_NPTS, NLM = RE_SHAPE_NPTS / 2, MAX_LEAF = 4096, MAX_TREE = 1 << 20, MAX_FEAT = 65535 };

typedef struct rd {
    const uint8_t *b, *p, *e;   /* start, next byte, end */
    const char *why;            /* the first failure, NULL while all is well */
    size_t at;                  /* and the offset where it was found */
} rd;

static int bad(rd *r, const char *why) {
    if (!r->why) {
        r->why = why;
        r->at = (size_t)(r->p - r->b);
    }
    r->p = r->e;   /* every later read fails too */
    return -1;
}

static size_t left(const rd *r) { return (size_t)(r->e - r->p); }

/* The c (1..8) little-endian bytes after the control byte at r->p; the caller checked that they are there. */
static inline uint64_t le_bytes(const rd *r, unsigned c) {
    uint64_t x = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (left(r) >= 9) {   /* one unaligned load, masked to c bytes */
        memcpy(&x, r->p + 1, 8);
        return c == 8 ? x : x & ((UINT64_C(1) << (8 * c)) - 1);
    }
#endif
    for (unsigned i = c; i >= 1; i--) x = (x << 8) | r->p[i];
    return x;
}

/* An unsigned integer of at most `width` bytes. */
static inline int rd_uint(rd *r, unsigned width, uint64_t *v) {
    if (r->p >= r->e) return bad(r, "the file ends early");
    const unsigned c = r->p[0] & 0x8Fu;
    if (c == 0 || c > width) return bad(r, "malformed integer");
    if (left(r) < 1u + c) return bad(r, "the file ends early");
    *v = le_bytes(r, c);
    r->p += 1 + c;
    return 0;
}

/* A signed integer of `width` bytes (2, 4 or 8), formed and negated in that width as dlib does. */
static inline int rd_int(rd *r, unsigned width, int64_t *v) {
    if (r->p >= r->e) return bad(r, "the file ends early");
    const unsigned neg = r->p[0] & 0x80u, c = r->p[0] & 0x0Fu;
    if (c == 0 || c > width) return bad(r, "malformed integer");
    if (left(r) < 1u + c) return bad(r, "the file ends early");
    uint64_t x = le_bytes(r, c);
    r->p += 1 + c;
    if (neg) x = 0 - x;
    switch (width) {
    case 2: *v = (int16_t)(uint16_t)x; break;
    case 4: *v = (int32_t)(uint32_t)x; break;
    default: *v = (int64_t)x; break;
    }
    return 0;
}

static inline int rd_float(rd *r, float *f) {
    if (r->p < r->e && (r->p[0] & 0x70u)) return bad(r, "a float in dlib's old text encoding (not supported)");
    int64_t man, ex;
    if (rd_int(r, 8, &man) || rd_int(r, 2, &ex)) return -1;
    if (ex < 32000) {
        /* ldexpf((float)man, ex), as dlib computes it. When man is exact in a float and 2^ex a normal double,
         * man * 2^ex is exact in double and one conversion rounds it as ldexpf does; else ldexpf itself. */
        if (man > -(INT64_C(1) << 24) && man < (INT64_C(1) << 24) && ex >= -1022 && ex <= 1023) {
            const uint64_t bits = (uint64_t)(ex + 1023) << 52;
            double p2;
            memcpy(&p2, &bits, sizeof p2);
            *f = (float)((double)man * p2);
        } else {
            *f = ldexpf((float)man, (int)ex);
        }
    }
    else if (ex == 32000) *f = INFINITY;
    else if (ex == 32001) *f = -INFINITY;
    else *f = NAN;
    return 0;
}

/* A float column matrix of exactly n values (dlib's matrix<float,0,1>). */
static int rd_column(rd *r, int n, float *out) {
    int64_t nr, nc;
    if (rd_int(r, 8, &nr) || rd_int(r, 8, &nc)) return -1;
    if (nr < 0 || nc < 0) {   /* the current encoding; dlib negates both */
        if (nr == INT64_MIN || nc == INT64_MIN) return bad(r, "malformed matrix size");
        nr = -nr;
        nc = -nc;
    }
    if (nr != n || nc != 1) return bad(r, "a matrix of the wrong size (want 136 x 1)");
    for (int i = 0; i < n; i++)
        if (rd_float(r, &out[i])) return -1;
    return 0;
}

/* A vector size, at most `limit` and at most one element per byte left. */
static int rd_count(rd *r, uint64_t limit, uint64_t *n) {
    if (rd_uint(r, 8, n)) return -1;
    if (*n > limit || *n > left(r)) return bad(r, "a vector size larger than the file allows");
    return 0;
}

void re_shape_level_free(re_shape_level *l) {
    if (!l) return;
    re_free(l->anchor);
    re_free(l->delta);
    re_free(l->splits);
    re_free(l->leaves);
    memset(l, 0, sizeof *l);
}

void re_shape_model_free(re_shape_model *m) {
    if (!m) return;
    for (int i = 0; i < m->nlevels && m->levels; i++) re_shape_level_free(&m->levels[i]);
    free(m->levels);
    memset(m, 0, sizeof *m);
}

/* The trees of level c: splits and leaves into the level's packed arrays. */
static re_status rd_trees(rd *r, re_shape_level *L, size_t c, const char *name) {
    uint64_t ntree;
    if (rd_count(r, MAX_TREE, &ntree)) return RE_ERR_FORMAT;
    if (ntree == 0) return re_fail(RE_ERR_FORMAT, "face landmark model '%s': cascade %zu has no trees", name, c);
    L->ntree = (int)ntree;
    for (uint64_t k = 0; k < ntree; k++) {
        uint64_t ns, nl;
        if (rd_count(r, MAX_LEAF - 1, &ns)) return RE_ERR_FORMAT;
        if (k == 0) {
            /* the tree walk stays in bounds only for complete trees: 2^d leaves, 2^d - 1 splits, all alike */
            L->nsplit = (int)ns;
            L->nleaf = (int)ns + 1;
            if ((L->nleaf & (L->nleaf - 1)) != 0)
                return re_fail(RE_ERR_FORMAT, "face landmark model '%s': cascade %zu has trees with %d leaves (want "
                               "a power of 2 up to %d)", name, c, L->nleaf, MAX_LEAF);
            /* every float takes at least 4 bytes: refuse counts the file cannot hold before allocating */
            size_t nleaves, bytes;
            if (!re_mul_ok((size_t)ntree, (size_t)L->nleaf * NPTS, &nleaves) || !re_mul_ok(nleaves, 4, &bytes) ||
                bytes > left(r)) {
                bad(r, "more trees than the file holds");
                return RE_ERR_FORMAT;
            }
            L->splits = re_alloc((size_t)ntree * (size_t)(L->nsplit ? L->nsplit : 1) * sizeof *L->splits,
                                 "face landmark model splits");
            L->leaves = re_alloc(nleaves * sizeof(float), "face landmark model leaves");
            if (!L->splits || !L->leaves) return RE_ERR_NOMEM;
        } else if ((int)ns != L->nsplit) {
            return re_fail(RE_ERR_FORMAT, "face landmark model '%s': cascade %zu tree %llu has %llu splits (want %d)",
                           name, c, (unsigned long long)k, (unsigned long long)ns, L->nsplit);
        }
        re_shape_split *sp = L->splits + (size_t)k * (size_t)L->nsplit;
        for (int i = 0; i < L->nsplit; i++) {
            uint64_t a, b;
            float t;
            if (rd_uint(r, 8, &a) || rd_uint(r, 8, &b) || rd_float(r, &t)) return RE_ERR_FORMAT;
            if (a >= MAX_FEAT || b >= MAX_FEAT || !isfinite(t))
                return re_fail(RE_ERR_FORMAT, "face landmark model '%s': cascade %zu has a split on features "
                               "%llu/%llu with threshold %g", name, c, (unsigned long long)a, (unsigned long long)b,
                               (double)t);
            sp[i] = (re_shape_split){(uint16_t)a, (uint16_t)b, t};
        }
        if (rd_count(r, MAX_LEAF, &nl)) return RE_ERR_FORMAT;
        if ((int)nl != L->nleaf)
            return re_fail(RE_ERR_FORMAT, "face landmark model '%s': cascade %zu tree %llu has %d splits and %llu "
                           "leaves (want %d leaves)", name, c, (unsigned long long)k, L->nsplit,
                           (unsigned long long)nl, L->nleaf);
        float *q = L->leaves + (size_t)k * (size_t)L->nleaf * NPTS;
        for (int v = 0; v < L->nleaf; v++, q += NPTS) {
            if (rd_column(r, NPTS, q)) return RE_ERR_FORMAT;
            for (int j = 0; j < NPTS; j++)
                if (!isfinite(q[j]))
                    return re_fail(RE_ERR_FORMAT, "face landmark model '%s': non-finite leaf value", name);
        }
    }
    return RE_OK;
}

/* The size of a vector with one entry per cascade level (the anchors' and the offsets'): it must be nlev. */
static re_status rd_per_level(rd *r, uint64_t nlev, const char *what, const char *name) {
    uint64_t n;
    if (rd_uint(r, 8, &n)) return RE_ERR_FORMAT;
    if (n != nlev)
        return re_fail(RE_ERR_FORMAT, "face landmark model '%s': %llu cascades but %llu %s sets", name,
                       (unsigned long long)nlev, (unsigned long long)n, what);
    return RE_OK;
}

static re_status parse(rd *r, re_shape_model *m, const char *name) {
    int64_t version;
    if (rd_int(r, 4, &version)) return RE_ERR_FORMAT;
    if (version != 1)
        return re_fail(RE_ERR_FORMAT, "face landmark model '%s': expected a dlib shape_predictor (version 1), got "
                       "version %lld", name, (long long)version);
    if (rd_column(r, NPTS, m->mean)) return RE_ERR_FORMAT;
    uint64_t nlev;
    if (rd_count(r, 1u << 16, &nlev)) return RE_ERR_FORMAT;
    if (nlev == 0) return re_fail(RE_ERR_FORMAT, "face landmark model '%s': no cascade levels", name);
    m->levels = calloc((size_t)nlev, sizeof *m->levels);
    if (!m->levels) return re_fail(RE_ERR_NOMEM, "face landmark model '%s': out of memory", name);
    m->nlevels = (int)nlev;
    re_status s;
    for (size_t c = 0; c < nlev; c++)
        if ((s = rd_trees(r, &m->levels[c], c, name)) != RE_OK) return s;
    uint64_t n;
    if ((s = rd_per_level(r, nlev, "anchor", name)) != RE_OK) return s;
    for (size_t c = 0; c < nlev; c++) {
        re_shape_level *L = &m->levels[c];
        if (rd_count(r, MAX_FEAT, &n)) return RE_ERR_FORMAT;
        if (n == 0)
            return re_fail(RE_ERR_FORMAT, "face landmark model '%s': cascade %zu has no feature pixels", name, c);
        L->nfeat = (int)n;
        L->anchor = re_alloc((size_t)n * sizeof *L->anchor, "face landmark model anchors");
        L->delta = re_alloc((size_t)n * 2 * sizeof *L->delta, "face landmark model offsets");
        if (!L->anchor || !L->delta) return RE_ERR_NOMEM;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t a;
            if (rd_uint(r, 8, &a)) return RE_ERR_FORMAT;
            if (a >= NLM)
                return re_fail(RE_ERR_FORMAT, "face landmark model '%s': cascade %zu anchor %llu is landmark %llu",
                               name, c, (unsigned long long)i, (unsigned long long)a);
            L->anchor[i] = (uint16_t)a;
        }
    }
    if ((s = rd_per_level(r, nlev, "offset", name)) != RE_OK) return s;
    for (size_t c = 0; c < nlev; c++) {
        re_shape_level *L = &m->levels[c];
        if (rd_uint(r, 8, &n)) return RE_ERR_FORMAT;
        if (n != (uint64_t)L->nfeat)
            return re_fail(RE_ERR_FORMAT, "face landmark model '%s': cascade %zu has %d anchors for %llu feature "
                           "offsets (want equal)", name, c, L->nfeat, (unsigned long long)n);
        for (int i = 0; i < 2 * L->nfeat; i++)
            if (rd_float(r, &L->delta[i])) return RE_ERR_FORMAT;
        /* the cascade indexes the features without bounds checks */
        for (size_t k = 0; k < (size_t)L->ntree * (size_t)L->nsplit; k++)
            if (L->splits[k].a >= L->nfeat || L->splits[k].b >= L->nfeat)
                return re_fail(RE_ERR_FORMAT, "face landmark model '%s': cascade %zu has a split on features %d/%d "
                               "of %d", name, c, L->splits[k].a, L->splits[k].b, L->nfeat);
    }
    return RE_OK;
}

re_status re_shape_model_parse(re_shape_model *m, const void *data, size_t n, const char *name) {
    if (!m || (!data && n)) return re_fail(RE_ERR_ARG, "re_shape_model_parse: NULL argument");
    memset(m, 0, sizeof *m);
    if (!name) name = "(memory)";
    rd r = {data, data, (const uint8_t *)data + n, NULL, 0};
    if (!data) r.b = r.p = r.e = (const uint8_t *)"";
    re_status s = parse(&r, m, name);
    if (s != RE_OK) {
        if (r.why)   /* a low-level decoding failure: say where */
            s = re_fail(RE_ERR_FORMAT, "face landmark model '%s' is not a dlib shape predictor: %s (near byte %zu of "
                        "%zu)", name, r.why, r.at, n);
        else if (s == RE_ERR_NOMEM)
            s = re_fail(RE_ERR_NOMEM, "face landmark model '%s': out of memory while reading", name);
        re_shape_model_free(m);
    }
    return s;
}

re_status re_shape_model_load(re_shape_model *m, const char *path) {
    if (!m || !path) return re_fail(RE_ERR_ARG, "re_shape_model_load: NULL argument");
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return re_fail(RE_ERR_IO,
                       "face landmark model '%s' cannot be opened: %s (install Debian's libdlib-data, or set "
                       "$REENACT_DLIB_MODEL / pass the path of shape_predictor_68_face_landmarks.dat)",
                       path, strerror(errno));
    struct stat sb;
    const char *why = NULL;
    if (fstat(fd, &sb) != 0) why = strerror(errno);
    else if (S_ISDIR(sb.st_mode)) why = "it is a directory";
    else if (!S_ISREG(sb.st_mode)) why = "not a regular file";
    if (why) {
        close(fd);
        return re_fail(RE_ERR_IO, "face landmark model '%s' cannot be read: %s", path, why);
    }
    const size_t n = (size_t)sb.st_size;
    if (n == 0) {
        close(fd);
        return re_shape_model_parse(m, NULL, 0, path);
    }
    void *map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    const int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return re_fail(RE_ERR_IO, "face landmark model '%s' cannot be read: %s", path, strerror(e));
    madvise(map, n, MADV_SEQUENTIAL);
    re_status s = re_shape_model_parse(m, map, n, path);
    munmap(map, n);
    return s;
}
