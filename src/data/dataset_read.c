/*
 * dataset_read.c - the strict packed-dataset reader (".rds"): header decoding and checks (re_dataset_parse_header),
 * the index (group ids, names, their SHA-256), records read with pread() or from memory, and the streamed data
 * checksum (re_dataset_verify). API and contracts: include/reenact/data.h; byte layout: docs/FORMAT.md
 * "Dataset file" (and dataset_internal.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "data/dataset_internal.h"
#include "reenact/data.h"

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

re_status re_dataset_parse_header(const void *buf, size_t n, uint64_t file_size, const char *what,
                                  re_dataset_header *h) {
    const uint8_t *p = buf;
    if (!what) what = "<dataset>";
    memset(h, 0, sizeof *h);
    if (!p || n < 8 || memcmp(p, k_magic, 8) != 0)
        return re_fail(RE_ERR_FORMAT, "%s: not a reenact dataset (bad magic; expected \\x89RDS\\r\\n\\x1a\\n)", what);
    if (n < 16) return re_fail(RE_ERR_TRUNCATED, "%s: file ends inside the header (%zu bytes)", what, n);
    h->version = get_u32(p + 8);
    if (h->version != RE_DATASET_VERSION)
        return re_fail(RE_ERR_VERSION, "%s: dataset format version %u, this build reads version %d only", what,
                       h->version, RE_DATASET_VERSION);
    h->header_size = get_u32(p + 12);
    if (h->header_size != HDR_SIZE)
        return re_fail(RE_ERR_BAD_HEADER, "%s: header_size %u, expected %u for version 1", what, h->header_size,
                       HDR_SIZE);
    if (n < HDR_SIZE || file_size < HDR_SIZE)
        return re_fail(RE_ERR_TRUNCATED, "%s: file ends inside the header (%llu bytes, header is %u)", what,
                       (unsigned long long)(file_size < n ? file_size : n), HDR_SIZE);
    uint8_t d[8];
    ds_header_check(p, d);
    if (memcmp(d, p + HDR_CHECKED, 8) != 0)
        return re_fail(RE_ERR_CHECKSUM, "%s: header checksum mismatch (the header was modified or damaged)", what);
#define GET(field, off, bits) h->field = get_u##bits(p + (off));
    DS_HDR_NUMBERS(GET)
#undef GET
    memcpy(h->data_sha256, p + 88, 32);
    memcpy(h->index_sha256, p + 120, 32);
    for (int i = 152; i < 184; i++)
        if (p[i]) return re_fail(RE_ERR_BAD_HEADER, "%s: reserved header byte %d is %u, expected 0", what, i, p[i]);
    if (h->res < 1 || h->res > RE_DATASET_MAX_RES)
        return re_fail(RE_ERR_BAD_HEADER, "%s: resolution %u outside 1..%d", what, h->res, RE_DATASET_MAX_RES);
    if (h->channels != 3) return re_fail(RE_ERR_BAD_HEADER, "%s: %u channels, expected 3 (RGB)", what, h->channels);
    if (h->flags & ~RE_DATASET_FLAG_ALIGNED)
        return re_fail(RE_ERR_BAD_HEADER, "%s: unknown flags 0x%x", what, h->flags);
    if (h->count < 1) return re_fail(RE_ERR_BAD_HEADER, "%s: dataset holds no records", what);
    if (h->n_groups < 1 || h->n_groups > RE_DATASET_MAX_GROUPS || h->n_groups > h->count)
        return re_fail(RE_ERR_BAD_HEADER, "%s: %u groups for %llu records (expected 1..min(count, %u))", what,
                       h->n_groups, (unsigned long long)h->count, RE_DATASET_MAX_GROUPS);
    size_t rec, want_data, want_groups;
    if (!re_mul_ok((size_t)h->res * h->res, h->channels, &rec) || h->count > SIZE_MAX ||
        !re_mul_ok(rec, (size_t)h->count, &want_data) || !re_mul_ok(4, (size_t)h->count, &want_groups))
        return re_fail(RE_ERR_BAD_HEADER, "%s: count %llu x record size overflows", what,
                       (unsigned long long)h->count);
    if (h->data_size != want_data)
        return re_fail(RE_ERR_BAD_HEADER, "%s: count mismatch: %llu records of %zu bytes need %zu data bytes, header "
                       "says %llu", what, (unsigned long long)h->count, rec, want_data,
                       (unsigned long long)h->data_size);
    if (h->groups_size != want_groups)
        return re_fail(RE_ERR_BAD_HEADER, "%s: count mismatch: %llu records need %zu group-id bytes, header says %llu",
                       what, (unsigned long long)h->count, want_groups, (unsigned long long)h->groups_size);
    if (h->data_offset < HDR_SIZE || h->data_offset > MAX_DATA_OFFSET)
        return re_fail(RE_ERR_BAD_HEADER, "%s: data_offset %llu outside %u..%u", what,
                       (unsigned long long)h->data_offset, HDR_SIZE, MAX_DATA_OFFSET);
    if (h->names_size < 2ull * h->n_groups || h->names_size > (uint64_t)h->n_groups * (RE_DATASET_MAX_NAME + 1))
        return re_fail(RE_ERR_BAD_HEADER, "%s: names_size %llu impossible for %u group names", what,
                       (unsigned long long)h->names_size, h->n_groups);
    if (h->groups_offset != h->data_offset + h->data_size || h->names_offset != h->groups_offset + h->groups_size)
        return re_fail(RE_ERR_BAD_HEADER, "%s: sections are not contiguous (data %llu+%llu, groups at %llu+%llu, names "
                       "at %llu)", what, (unsigned long long)h->data_offset, (unsigned long long)h->data_size,
                       (unsigned long long)h->groups_offset, (unsigned long long)h->groups_size,
                       (unsigned long long)h->names_offset);
    uint64_t end = h->names_offset + h->names_size;   /* no overflow: every term is bounded above */
    if (file_size < end)
        return re_fail(RE_ERR_TRUNCATED, "%s: file is %llu bytes, its header describes %llu (truncated)", what,
                       (unsigned long long)file_size, (unsigned long long)end);
    if (file_size > end)
        return re_fail(RE_ERR_BAD_HEADER, "%s: %llu trailing bytes after the last section", what,
                       (unsigned long long)(file_size - end));
    return RE_OK;
}

/* Read exactly n bytes at off. RE_ERR_TRUNCATED at EOF, RE_ERR_IO on read errors. */
static re_status read_at(const re_dataset *ds, uint64_t off, void *buf, size_t n) {
    if (off > ds->size || n > ds->size - off)
        return re_fail(RE_ERR_TRUNCATED, "%s: read of %zu bytes at %llu is past the end (%llu bytes)", ds->what, n,
                       (unsigned long long)off, (unsigned long long)ds->size);
    if (ds->mem) {
        memcpy(buf, ds->mem + off, n);
        return RE_OK;
    }
    uint8_t *p = buf;
    while (n) {
        ssize_t r = pread(ds->fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return re_fail(RE_ERR_IO, "%s: read at offset %llu failed: %s", ds->what, (unsigned long long)off,
                                  strerror(errno));
        if (r == 0) return re_fail(RE_ERR_TRUNCATED, "%s: file ends at offset %llu (shrunk while open?)", ds->what,
                                   (unsigned long long)off);
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return RE_OK;
}

static re_status dataset_load(re_dataset *ds) {
    uint8_t hdr[HDR_SIZE];
    size_t n = ds->size < HDR_SIZE ? (size_t)ds->size : HDR_SIZE;
    re_status s = read_at(ds, 0, hdr, n);
    if (s) return s;
    if ((s = re_dataset_parse_header(hdr, n, ds->size, ds->what, &ds->h))) return s;
    const re_dataset_header *h = &ds->h;
    ds->rec = (size_t)h->res * h->res * h->channels;
    /* Sizes are bounded by the file size, checked by the header parser. */
    ds->group_ids = malloc((size_t)h->groups_size);
    ds->names = malloc((size_t)h->names_size);
    ds->name_off = malloc((size_t)h->n_groups * sizeof *ds->name_off);
    uint8_t *raw = malloc((size_t)h->groups_size);
    if (!ds->group_ids || !ds->names || !ds->name_off || !raw) {
        s = re_fail(RE_ERR_NOMEM, "%s: out of memory for the index of %llu records", ds->what,
                    (unsigned long long)h->count);
        goto done;
    }
    if ((s = read_at(ds, h->groups_offset, raw, (size_t)h->groups_size))) goto done;
    if ((s = read_at(ds, h->names_offset, ds->names, (size_t)h->names_size))) goto done;
    uint8_t d[32];
    re_sha256 c;
    re_sha256_init(&c);
    re_sha256_update(&c, raw, (size_t)h->groups_size);
    re_sha256_update(&c, ds->names, (size_t)h->names_size);
    re_sha256_final(&c, d);
    if (memcmp(d, h->index_sha256, 32) != 0) {
        s = re_fail(RE_ERR_CHECKSUM, "%s: index checksum mismatch (group ids or names damaged)", ds->what);
        goto done;
    }
    for (uint64_t i = 0; i < h->count; i++) {
        ds->group_ids[i] = get_u32(raw + 4 * i);
        if (ds->group_ids[i] >= h->n_groups) {
            s = re_fail(RE_ERR_BAD_HEADER, "%s: record %llu has group id %u, only %u groups", ds->what,
                        (unsigned long long)i, ds->group_ids[i], h->n_groups);
            goto done;
        }
    }
    uint64_t pos = 0;
    for (uint32_t g = 0; g < h->n_groups; g++) {
        const char *start = ds->names + pos;
        const char *nul = memchr(start, 0, (size_t)(h->names_size - pos));
        if (!nul) {
            s = re_fail(RE_ERR_BAD_HEADER, "%s: group name %u is not NUL-terminated", ds->what, g);
            goto done;
        }
        size_t len = (size_t)(nul - start);
        if (len == 0 || len > RE_DATASET_MAX_NAME) {
            s = re_fail(RE_ERR_BAD_HEADER, "%s: group name %u has length %zu (expected 1..%d)", ds->what, g, len,
                        RE_DATASET_MAX_NAME);
            goto done;
        }
        ds->name_off[g] = pos;
        pos += len + 1;
    }
    if (pos != h->names_size) {
        s = re_fail(RE_ERR_BAD_HEADER, "%s: %llu bytes after the %u group names", ds->what,
                    (unsigned long long)(h->names_size - pos), h->n_groups);
        goto done;
    }
done:
    free(raw);
    return s;
}

static re_status dataset_new(re_dataset **out, const char *what) {
    re_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return re_fail(RE_ERR_NOMEM, "dataset: out of memory");
    ds->fd = -1;
    ds->what = strdup(what);
    if (!ds->what) {
        free(ds);
        return re_fail(RE_ERR_NOMEM, "dataset: out of memory");
    }
    *out = ds;
    return RE_OK;
}

re_status re_dataset_open(re_dataset **out, const char *path) {
    re_dataset *ds = NULL;
    *out = NULL;
    if (!path || !*path) return re_fail(RE_ERR_ARG, "dataset: empty path");
    re_status s = dataset_new(&ds, path);
    if (s) return s;
    struct stat sb;
    ds->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (ds->fd < 0) {
        s = re_fail(RE_ERR_IO, "cannot open dataset '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(ds->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        s = re_fail(RE_ERR_IO, "dataset '%s' is not a regular file", path);
        goto fail;
    }
    ds->size = (uint64_t)sb.st_size;
    if ((s = dataset_load(ds))) goto fail;
    *out = ds;
    return RE_OK;
fail:
    re_dataset_close(ds);
    return s;
}

re_status re_dataset_open_mem(re_dataset **out, const void *buf, size_t n, const char *what) {
    re_dataset *ds = NULL;
    *out = NULL;
    if (!buf && n) return re_fail(RE_ERR_ARG, "dataset: NULL buffer");
    re_status s = dataset_new(&ds, what ? what : "<memory>");
    if (s) return s;
    static const uint8_t empty[1];
    ds->mem = buf ? buf : empty;
    ds->size = n;
    if ((s = dataset_load(ds))) {
        re_dataset_close(ds);
        return s;
    }
    *out = ds;
    return RE_OK;
}

void re_dataset_close(re_dataset *ds) {
    if (!ds) return;
    if (ds->fd >= 0) close(ds->fd);
    free(ds->group_ids);
    free(ds->names);
    free(ds->name_off);
    free(ds->what);
    free(ds);
}

re_status re_dataset_verify(re_dataset *ds) {
    if (!ds) return re_fail(RE_ERR_ARG, "dataset: NULL");
    const size_t chunk = 1 << 20;
    uint8_t *buf = malloc(chunk);
    if (!buf) return re_fail(RE_ERR_NOMEM, "dataset verify: out of memory");
    re_sha256 c;
    re_sha256_init(&c);
    re_status s = RE_OK;
    for (uint64_t off = 0; off < ds->h.data_size;) {
        size_t n = ds->h.data_size - off < chunk ? (size_t)(ds->h.data_size - off) : chunk;
        if ((s = read_at(ds, ds->h.data_offset + off, buf, n))) goto done;
        re_sha256_update(&c, buf, n);
        off += n;
    }
    uint8_t d[32];
    re_sha256_final(&c, d);
    if (memcmp(d, ds->h.data_sha256, 32) != 0)
        s = re_fail(RE_ERR_CHECKSUM, "%s: data checksum mismatch (image records damaged)", ds->what);
done:
    free(buf);
    return s;
}

const re_dataset_header *re_dataset_info(const re_dataset *ds) { return &ds->h; }
uint64_t re_dataset_count(const re_dataset *ds) { return ds->h.count; }
int re_dataset_res(const re_dataset *ds) { return (int)ds->h.res; }
size_t re_dataset_record_size(const re_dataset *ds) { return ds->rec; }
uint32_t re_dataset_n_groups(const re_dataset *ds) { return ds->h.n_groups; }

const char *re_dataset_group_name(const re_dataset *ds, uint32_t g) {
    if (!ds || g >= ds->h.n_groups) return NULL;
    return ds->names + ds->name_off[g];
}

uint32_t re_dataset_group_of(const re_dataset *ds, uint64_t i) {
    if (!ds || i >= ds->h.count) return UINT32_MAX;
    return ds->group_ids[i];
}

re_status re_dataset_read(re_dataset *ds, uint64_t i, uint8_t *out) {
    if (!ds || !out) return re_fail(RE_ERR_ARG, "dataset read: NULL argument");
    if (i >= ds->h.count)
        return re_fail(RE_ERR_ARG, "%s: record %llu out of range (count %llu)", ds->what, (unsigned long long)i,
                       (unsigned long long)ds->h.count);
    return read_at(ds, ds->h.data_offset + i * ds->rec, out, ds->rec);
}

/* HWC uint8 -> planar floats /255, optionally mirrored. */
static void record_to_chw(const uint8_t *src, int res, int flip, float *out) {
    const size_t plane = (size_t)res * res;
    float lut[256];   /* the same floats as re_image_to_chw: v * (1/255) */
    for (int v = 0; v < 256; v++) lut[v] = (float)v * (1.0f / 255.0f);
    for (int y = 0; y < res; y++) {
        const uint8_t *row = src + (size_t)y * res * 3;
        float *r = out + (size_t)y * res, *g = r + plane, *b = g + plane;
        for (int x = 0; x < res; x++) {
            const uint8_t *px = row + 3 * (size_t)(flip ? res - 1 - x : x);
            r[x] = lut[px[0]];
            g[x] = lut[px[1]];
            b[x] = lut[px[2]];
        }
    }
}

re_status re_dataset_read_chw_buf(re_dataset *ds, uint64_t i, int flip, float *out, uint8_t *tmp) {
    re_status s = re_dataset_read(ds, i, tmp);
    if (s) return s;
    record_to_chw(tmp, (int)ds->h.res, flip, out);
    return RE_OK;
}

re_status re_dataset_read_chw(re_dataset *ds, uint64_t i, int flip, float *out) {
    if (!ds || !out) return re_fail(RE_ERR_ARG, "dataset read: NULL argument");
    uint8_t stack[16384];
    uint8_t *tmp = ds->rec <= sizeof stack ? stack : malloc(ds->rec);
    if (!tmp) return re_fail(RE_ERR_NOMEM, "dataset read: out of memory");
    re_status s = re_dataset_read_chw_buf(ds, i, flip, out, tmp);
    if (tmp != stack) free(tmp);
    return s;
}
