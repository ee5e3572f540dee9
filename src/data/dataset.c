/*
 * dataset.c - packed training datasets (".rds"): streaming writer, strict reader, and the batch loader with a
 * prefetch thread, seeded per-epoch shuffling, flip augmentation and a held-out validation split.
 * API and contracts: include/reenact/data.h. Byte layout: docs/FORMAT.md "Dataset file".
 *
 * Version-1 fixed header (little-endian, 192 bytes):
 *   0 magic "\x89RDS\r\n\x1a\n" | 8 version u32 | 12 header_size u32 | 16 count u64 | 24 res u32 | 28 channels u32
 *   32 flags u32 | 36 n_groups u32 | 40 data_offset u64 | 48 data_size u64 | 56 groups_offset u64
 *   64 groups_size u64 | 72 names_offset u64 | 80 names_size u64 | 88 data_sha256[32] | 120 index_sha256[32]
 *   152 reserved[32] (zero) | 184 header_check[8] = first 8 bytes of SHA-256(bytes 0..183)
 * followed by padding to data_offset, the records, the group ids and the names.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "reenact/data.h"

#define HDR_SIZE 192u
#define HDR_CHECKED 184u
#define DATA_ALIGN 4096u
#define MAX_DATA_OFFSET (1u << 20)
static const uint8_t k_magic[8] = {0x89, 'R', 'D', 'S', '\r', '\n', 0x1a, '\n'};

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }
static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

/* ---- header ---------------------------------------------------------------------------------------------- */

static void header_encode(const re_dataset_header *h, uint8_t out[HDR_SIZE]) {
    memset(out, 0, HDR_SIZE);
    memcpy(out, k_magic, 8);
    put_u32(out + 8, h->version);
    put_u32(out + 12, h->header_size);
    put_u64(out + 16, h->count);
    put_u32(out + 24, h->res);
    put_u32(out + 28, h->channels);
    put_u32(out + 32, h->flags);
    put_u32(out + 36, h->n_groups);
    put_u64(out + 40, h->data_offset);
    put_u64(out + 48, h->data_size);
    put_u64(out + 56, h->groups_offset);
    put_u64(out + 64, h->groups_size);
    put_u64(out + 72, h->names_offset);
    put_u64(out + 80, h->names_size);
    memcpy(out + 88, h->data_sha256, 32);
    memcpy(out + 120, h->index_sha256, 32);
    uint8_t d[32];
    re_sha256 c;
    re_sha256_init(&c);
    re_sha256_update(&c, out, HDR_CHECKED);
    re_sha256_final(&c, d);
    memcpy(out + HDR_CHECKED, d, 8);
}

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
    uint8_t d[32];
    re_sha256 c;
    re_sha256_init(&c);
    re_sha256_update(&c, p, HDR_CHECKED);
    re_sha256_final(&c, d);
    if (memcmp(d, p + HDR_CHECKED, 8) != 0)
        return re_fail(RE_ERR_CHECKSUM, "%s: header checksum mismatch (the header was modified or damaged)", what);
    h->count = get_u64(p + 16);
    h->res = get_u32(p + 24);
    h->channels = get_u32(p + 28);
    h->flags = get_u32(p + 32);
    h->n_groups = get_u32(p + 36);
    h->data_offset = get_u64(p + 40);
    h->data_size = get_u64(p + 48);
    h->groups_offset = get_u64(p + 56);
    h->groups_size = get_u64(p + 64);
    h->names_offset = get_u64(p + 72);
    h->names_size = get_u64(p + 80);
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

/* ---- writer ---------------------------------------------------------------------------------------------- */

struct re_dataset_writer {
    char *path, *tmp;
    FILE *f;
    int res, channels;
    uint32_t flags;
    size_t rec;
    uint64_t count;
    uint32_t *groups;
    size_t groups_cap;
    char **names;
    uint32_t n_groups, names_cap;
    uint32_t *hash;      /* open addressing over names: slot = id + 1, 0 = empty */
    size_t hash_cap;
    re_sha256 sha;
};

static uint64_t str_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

re_status re_dataset_writer_open(re_dataset_writer **out, const char *path, int res, int channels, uint32_t flags) {
    re_status s = RE_ERR_NOMEM;
    *out = NULL;
    if (!path || !*path) return re_fail(RE_ERR_ARG, "dataset writer: empty path");
    if (res < 1 || res > RE_DATASET_MAX_RES)
        return re_fail(RE_ERR_ARG, "dataset writer: resolution %d outside 1..%d", res, RE_DATASET_MAX_RES);
    if (channels != 3) return re_fail(RE_ERR_ARG, "dataset writer: %d channels, only 3 (RGB) is supported", channels);
    if (flags & ~RE_DATASET_FLAG_ALIGNED) return re_fail(RE_ERR_ARG, "dataset writer: unknown flags 0x%x", flags);
    re_dataset_writer *w = calloc(1, sizeof *w);
    if (!w) return re_fail(RE_ERR_NOMEM, "dataset writer: out of memory");
    w->res = res;
    w->channels = channels;
    w->flags = flags;
    w->rec = (size_t)res * res * channels;
    w->path = strdup(path);
    size_t tl = strlen(path) + 32;
    w->tmp = malloc(tl);
    if (!w->path || !w->tmp) { re_fail(s, "dataset writer: out of memory"); goto fail; }
    snprintf(w->tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    w->f = fopen(w->tmp, "wb");
    if (!w->f) {
        s = re_fail(RE_ERR_IO, "cannot create '%s' (for '%s'): %s", w->tmp, path, strerror(errno));
        goto fail;
    }
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    uint8_t zero[DATA_ALIGN] = {0};
    if (fwrite(zero, 1, DATA_ALIGN, w->f) != DATA_ALIGN) {
        s = re_fail(RE_ERR_IO, "write to '%s' failed: %s", w->tmp, strerror(errno));
        goto fail;
    }
    re_sha256_init(&w->sha);
    *out = w;
    return RE_OK;
fail:
    re_dataset_writer_abort(w);
    return s;
}

re_status re_dataset_writer_group(re_dataset_writer *w, const char *name, uint32_t *id) {
    if (!w || !name || !*name) return re_fail(RE_ERR_ARG, "dataset writer: empty group name");
    size_t len = strlen(name);
    if (len > RE_DATASET_MAX_NAME)
        return re_fail(RE_ERR_ARG, "dataset writer: group name of %zu bytes (max %d)", len, RE_DATASET_MAX_NAME);
    uint64_t hv = str_hash(name);
    if (w->hash_cap) {
        for (size_t i = hv & (w->hash_cap - 1);; i = (i + 1) & (w->hash_cap - 1)) {
            uint32_t slot = w->hash[i];
            if (!slot) break;
            if (strcmp(w->names[slot - 1], name) == 0) {
                *id = slot - 1;
                return RE_OK;
            }
        }
    }
    if (w->n_groups >= RE_DATASET_MAX_GROUPS)
        return re_fail(RE_ERR_TOO_LARGE, "dataset writer: more than %u groups", RE_DATASET_MAX_GROUPS);
    if (w->n_groups == w->names_cap) {
        uint32_t nc = w->names_cap ? 2 * w->names_cap : 16;
        char **nn = realloc(w->names, nc * sizeof *nn);
        if (!nn) return re_fail(RE_ERR_NOMEM, "dataset writer: out of memory for group names");
        w->names = nn;
        w->names_cap = nc;
    }
    if (2 * ((size_t)w->n_groups + 1) > w->hash_cap) {   /* keep the load factor <= 1/2 */
        size_t nc = w->hash_cap ? 2 * w->hash_cap : 64;
        uint32_t *nh = calloc(nc, sizeof *nh);
        if (!nh) return re_fail(RE_ERR_NOMEM, "dataset writer: out of memory for the group table");
        for (uint32_t g = 0; g < w->n_groups; g++) {
            size_t i = str_hash(w->names[g]) & (nc - 1);
            while (nh[i]) i = (i + 1) & (nc - 1);
            nh[i] = g + 1;
        }
        free(w->hash);
        w->hash = nh;
        w->hash_cap = nc;
    }
    char *copy = strdup(name);
    if (!copy) return re_fail(RE_ERR_NOMEM, "dataset writer: out of memory for group names");
    size_t i = hv & (w->hash_cap - 1);
    while (w->hash[i]) i = (i + 1) & (w->hash_cap - 1);
    w->names[w->n_groups] = copy;
    w->hash[i] = w->n_groups + 1;
    *id = w->n_groups++;
    return RE_OK;
}

re_status re_dataset_writer_add(re_dataset_writer *w, const uint8_t *rgb, uint32_t group) {
    if (!w || !rgb) return re_fail(RE_ERR_ARG, "dataset writer: NULL record");
    if (group >= w->n_groups)
        return re_fail(RE_ERR_ARG, "dataset writer: group id %u not created (have %u)", group, w->n_groups);
    if (w->count == w->groups_cap) {
        size_t nc = w->groups_cap ? 2 * w->groups_cap : 1024, bytes;
        if (!re_mul_ok(nc, sizeof(uint32_t), &bytes)) return re_fail(RE_ERR_NOMEM, "dataset writer: too many records");
        uint32_t *ng = realloc(w->groups, bytes);
        if (!ng) return re_fail(RE_ERR_NOMEM, "dataset writer: out of memory for %zu group ids", nc);
        w->groups = ng;
        w->groups_cap = nc;
    }
    if (fwrite(rgb, 1, w->rec, w->f) != w->rec)
        return re_fail(RE_ERR_IO, "write to '%s' failed after %llu records: %s", w->tmp,
                       (unsigned long long)w->count, strerror(errno));
    re_sha256_update(&w->sha, rgb, w->rec);
    w->groups[w->count++] = group;
    return RE_OK;
}

uint64_t re_dataset_writer_count(const re_dataset_writer *w) { return w ? w->count : 0; }

static re_status wr(re_dataset_writer *w, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, w->f) != n) return re_fail(RE_ERR_IO, "write to '%s' failed: %s", w->tmp, strerror(errno));
    return RE_OK;
}

re_status re_dataset_writer_close(re_dataset_writer *w) {
    re_status s = RE_OK;
    if (!w) return re_fail(RE_ERR_ARG, "dataset writer: NULL");
    if (w->count == 0) {
        s = re_fail(RE_ERR_ARG, "dataset '%s': no records were added (nothing to write)", w->path);
        goto fail;
    }
    re_dataset_header h = {0};
    h.version = RE_DATASET_VERSION;
    h.header_size = HDR_SIZE;
    h.count = w->count;
    h.res = (uint32_t)w->res;
    h.channels = (uint32_t)w->channels;
    h.flags = w->flags;
    h.n_groups = w->n_groups;
    h.data_offset = DATA_ALIGN;
    h.data_size = (uint64_t)w->count * w->rec;
    h.groups_offset = h.data_offset + h.data_size;
    h.groups_size = 4 * w->count;
    h.names_offset = h.groups_offset + h.groups_size;
    re_sha256_final(&w->sha, h.data_sha256);
    re_sha256 ic;
    re_sha256_init(&ic);
    uint8_t buf[4096];
    size_t nb = 0;
    for (uint64_t i = 0; i < w->count; i++) {
        put_u32(buf + nb, w->groups[i]);
        nb += 4;
        if (nb == sizeof buf || i + 1 == w->count) {
            re_sha256_update(&ic, buf, nb);
            if ((s = wr(w, buf, nb))) goto fail;
            nb = 0;
        }
    }
    for (uint32_t g = 0; g < w->n_groups; g++) {
        size_t len = strlen(w->names[g]) + 1;
        re_sha256_update(&ic, w->names[g], len);
        if ((s = wr(w, w->names[g], len))) goto fail;
        h.names_size += len;
    }
    re_sha256_final(&ic, h.index_sha256);
    uint8_t hdr[HDR_SIZE];
    header_encode(&h, hdr);
    if (fseek(w->f, 0, SEEK_SET) != 0) {
        s = re_fail(RE_ERR_IO, "seek in '%s' failed: %s", w->tmp, strerror(errno));
        goto fail;
    }
    if ((s = wr(w, hdr, HDR_SIZE))) goto fail;
    if (fflush(w->f) != 0 || ferror(w->f)) {
        s = re_fail(RE_ERR_IO, "write to '%s' failed: %s", w->tmp, strerror(errno));
        goto fail;
    }
    if (fsync(fileno(w->f)) != 0) {
        s = re_fail(RE_ERR_IO, "fsync of '%s' failed: %s", w->tmp, strerror(errno));
        goto fail;
    }
    int rc = fclose(w->f);
    w->f = NULL;
    if (rc != 0) {
        s = re_fail(RE_ERR_IO, "closing '%s' failed: %s", w->tmp, strerror(errno));
        goto fail;
    }
    if (rename(w->tmp, w->path) != 0) {
        s = re_fail(RE_ERR_IO, "cannot rename '%s' to '%s': %s", w->tmp, w->path, strerror(errno));
        goto fail;
    }
    free(w->tmp);
    w->tmp = NULL;   /* nothing left to remove */
    s = re_fsync_dir(w->path);
fail:
    re_dataset_writer_abort(w);
    return s;
}

void re_dataset_writer_abort(re_dataset_writer *w) {
    if (!w) return;
    if (w->f) fclose(w->f);
    if (w->tmp) remove(w->tmp);
    for (uint32_t g = 0; g < w->n_groups; g++) free(w->names[g]);
    free(w->names);
    free(w->hash);
    free(w->groups);
    free(w->path);
    free(w->tmp);
    free(w);
}

/* ---- reader ---------------------------------------------------------------------------------------------- */

struct re_dataset {
    char *what;
    int fd;                  /* -1 for memory datasets */
    const uint8_t *mem;
    uint64_t size;
    re_dataset_header h;
    size_t rec;
    uint32_t *group_ids;
    char *names;
    uint64_t *name_off;      /* n_groups offsets into names */
};

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

static re_status read_chw_buf(re_dataset *ds, uint64_t i, int flip, float *out, uint8_t *tmp) {
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
    re_status s = read_chw_buf(ds, i, flip, out, tmp);
    if (tmp != stack) free(tmp);
    return s;
}

/* ---- loader ---------------------------------------------------------------------------------------------- */

/* Stateless 64-bit mix (splitmix64 finalizer): flips and per-epoch seeds are pure functions of their inputs. */
static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
#define SALT_SPLIT 0x53504c4954ull     /* "SPLIT" */
#define SALT_SHUFFLE 0x5348554646ull   /* "SHUFF" */
#define SALT_FLIP 0x464c4950ull        /* "FLIP" */

typedef struct loader_slot {
    float *x;
    re_loader_batch_info info;
    re_loader_state after;   /* state once this batch is consumed */
    re_status st;
    char err[512];
} loader_slot;

struct re_loader {
    re_dataset *ds;
    re_loader_opts o;
    uint32_t *train, *val;
    uint64_t n_train, n_val, bpe;
    size_t img_floats, batch_floats;
    /* producer side (the prefetch thread, or the caller when prefetch == 0) */
    uint32_t *perm;
    uint64_t perm_epoch;     /* epoch perm was built for; UINT64_MAX: none */
    uint8_t *rbuf;           /* one record */
    re_loader_state prod;
    /* consumer side */
    re_loader_state cons;
    /* prefetch ring */
    int nslots;
    loader_slot *slots;
    uint64_t head, tail;     /* batches consumed / produced since the last (re)start */
    int stop, running;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sync_ok;             /* mutex and cond initialized */
};

void re_loader_opts_default(re_loader_opts *o) {
    memset(o, 0, sizeof *o);
    o->batch = 64;
    o->seed = 1;
    o->shuffle = 1;
    o->flip = 0;
    o->val_fraction = 0.05;
    o->prefetch = 2;
}

/* perm = the training records in epoch `epoch`'s order. */
static void build_perm(const re_loader *l, uint32_t *perm, uint64_t epoch) {
    memcpy(perm, l->train, l->n_train * sizeof *perm);
    if (l->o.shuffle) {
        re_rng r;
        re_rng_seed(&r, mix64(l->o.seed ^ SALT_SHUFFLE) ^ mix64(epoch));
        for (uint64_t i = l->n_train - 1; i > 0; i--) {
            uint64_t j = re_rng_below(&r, i + 1);
            uint32_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
    }
}

static int flip_of(const re_loader *l, uint64_t epoch, uint64_t pos) {
    if (!l->o.flip) return 0;
    return (int)(mix64(mix64(l->o.seed ^ SALT_FLIP) ^ mix64(epoch * 0x100000001b3ull + 1) ^ pos) >> 63);
}

/* Produce the batch at state *ps into x and advance *ps. */
static re_status produce(re_loader *l, re_loader_state *ps, float *x, re_loader_batch_info *info) {
    const uint64_t B = (uint64_t)l->o.batch;
    if (l->perm_epoch != ps->epoch) {
        build_perm(l, l->perm, ps->epoch);
        l->perm_epoch = ps->epoch;
    }
    for (uint64_t k = 0; k < B; k++) {
        uint64_t p = ps->pos + k;
        re_status s = read_chw_buf(l->ds, l->perm[p], flip_of(l, ps->epoch, p), x + k * l->img_floats, l->rbuf);
        if (s) return s;
    }
    info->epoch = ps->epoch;
    info->index = ps->pos / B;
    info->last_in_epoch = info->index + 1 == l->bpe;
    ps->pos += B;
    if (ps->pos >= l->bpe * B) {
        ps->epoch++;
        ps->pos = 0;
    }
    return RE_OK;
}

static void *loader_thread(void *arg) {
    re_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && l->tail - l->head >= (uint64_t)l->nslots) pthread_cond_wait(&l->cv, &l->mu);
        if (l->stop) break;
        loader_slot *sl = &l->slots[l->tail % (uint64_t)l->nslots];
        re_loader_state ps = l->prod;
        pthread_mutex_unlock(&l->mu);
        sl->st = produce(l, &ps, sl->x, &sl->info);
        if (sl->st) snprintf(sl->err, sizeof sl->err, "%s", re_last_error());
        sl->after = ps;
        pthread_mutex_lock(&l->mu);
        if (sl->st == RE_OK) l->prod = ps;
        l->tail++;
        pthread_cond_broadcast(&l->cv);
        if (sl->st) {
            /* Stop producing after an error; the consumer reports it and may restart via set_state. */
            while (!l->stop) pthread_cond_wait(&l->cv, &l->mu);
            break;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void loader_stop(re_loader *l) {
    if (!l->running) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->th, NULL);
    l->running = 0;
}

static re_status loader_start(re_loader *l) {
    l->head = l->tail = 0;
    l->stop = 0;
    l->prod = l->cons;
    if (l->o.prefetch <= 0) return RE_OK;
    int rc = pthread_create(&l->th, NULL, loader_thread, l);
    if (rc != 0) return re_fail(RE_ERR_IO, "loader: cannot start the prefetch thread: %s", strerror(rc));
    l->running = 1;
    return RE_OK;
}

/* Validation split; fills l->train / l->val in file order. */
static re_status split(re_loader *l) {
    re_dataset *ds = l->ds;
    const uint64_t n = ds->h.count;
    const uint32_t G = ds->h.n_groups;
    re_status s = RE_OK;
    uint8_t *is_val = calloc((size_t)n, 1);
    uint32_t *order = NULL;
    uint64_t *gcount = NULL;
    if (!is_val) return re_fail(RE_ERR_NOMEM, "loader: out of memory for the split of %llu records",
                                (unsigned long long)n);
    re_rng r;
    re_rng_seed(&r, mix64(l->o.seed ^ SALT_SPLIT));
    const double target = l->o.val_fraction * (double)n;
    if (l->o.val_fraction > 0 && G >= 2) {
        order = malloc((size_t)G * sizeof *order);
        gcount = calloc(G, sizeof *gcount);
        uint8_t *gval = NULL;
        if (!order || !gcount) { s = re_fail(RE_ERR_NOMEM, "loader: out of memory for the group split"); goto done; }
        for (uint64_t i = 0; i < n; i++) gcount[ds->group_ids[i]]++;
        for (uint32_t g = 0; g < G; g++) order[g] = g;
        for (uint32_t i = G - 1; i > 0; i--) {
            uint32_t j = (uint32_t)re_rng_below(&r, (uint64_t)i + 1);
            uint32_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        gval = calloc(G, 1);
        if (!gval) { s = re_fail(RE_ERR_NOMEM, "loader: out of memory for the group split"); goto done; }
        uint64_t taken = 0;
        for (uint32_t k = 0; k + 1 < G && (double)taken < target; k++) {   /* leave >= 1 group for training */
            if (gcount[order[k]] == 0) continue;
            gval[order[k]] = 1;
            taken += gcount[order[k]];
        }
        for (uint64_t i = 0; i < n; i++) is_val[i] = gval[ds->group_ids[i]];
        free(gval);
    } else if (l->o.val_fraction > 0) {
        uint64_t nv = (uint64_t)(target + 0.5);
        if (nv == 0) nv = 1;
        if (nv >= n) nv = n - 1;
        /* Floyd's algorithm: nv distinct records without an n-sized permutation. */
        for (uint64_t j = n - nv; j < n; j++) {
            uint64_t t = re_rng_below(&r, j + 1);
            if (is_val[t]) t = j;
            is_val[t] = 1;
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        if (is_val[i]) l->n_val++;
        else l->n_train++;
    }
    l->train = malloc((size_t)(l->n_train ? l->n_train : 1) * sizeof *l->train);
    l->val = malloc((size_t)(l->n_val ? l->n_val : 1) * sizeof *l->val);
    if (!l->train || !l->val) { s = re_fail(RE_ERR_NOMEM, "loader: out of memory for the split"); goto done; }
    uint64_t a = 0, b = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (is_val[i]) l->val[b++] = (uint32_t)i;
        else l->train[a++] = (uint32_t)i;
    }
done:
    free(is_val);
    free(order);
    free(gcount);
    return s;
}

re_status re_loader_create(re_loader **out, re_dataset *ds, const re_loader_opts *o) {
    *out = NULL;
    if (!ds || !o) return re_fail(RE_ERR_ARG, "loader: NULL argument");
    if (o->batch < 1 || o->batch > 65536) return re_fail(RE_ERR_ARG, "loader: batch %d outside 1..65536", o->batch);
    if (!(o->val_fraction >= 0 && o->val_fraction < 1))
        return re_fail(RE_ERR_ARG, "loader: val_fraction %g outside [0,1)", o->val_fraction);
    if (o->prefetch < 0 || o->prefetch > 64) return re_fail(RE_ERR_ARG, "loader: prefetch %d outside 0..64", o->prefetch);
    if (ds->h.count > UINT32_MAX)
        return re_fail(RE_ERR_TOO_LARGE, "loader: %llu records, the loader indexes at most 2^32-1",
                       (unsigned long long)ds->h.count);
    re_status s = RE_ERR_NOMEM;
    re_loader *l = calloc(1, sizeof *l);
    if (!l) return re_fail(RE_ERR_NOMEM, "loader: out of memory");
    l->ds = ds;
    l->o = *o;
    l->perm_epoch = UINT64_MAX;
    if (pthread_mutex_init(&l->mu, NULL) != 0) { free(l); return re_fail(RE_ERR_NOMEM, "loader: mutex init failed"); }
    if (pthread_cond_init(&l->cv, NULL) != 0) {
        pthread_mutex_destroy(&l->mu);
        free(l);
        return re_fail(RE_ERR_NOMEM, "loader: condition init failed");
    }
    l->sync_ok = 1;
    if ((s = split(l))) goto fail;
    if (l->n_train < (uint64_t)o->batch) {
        s = re_fail(RE_ERR_ARG, "%s: %llu training images after holding out %llu for validation, fewer than one batch "
                    "of %d (use a smaller batch or validation fraction)", ds->what, (unsigned long long)l->n_train,
                    (unsigned long long)l->n_val, o->batch);
        goto fail;
    }
    l->bpe = l->n_train / (uint64_t)o->batch;
    l->img_floats = ds->rec;   /* C*res*res floats per image */
    if (!re_mul_ok(l->img_floats, (size_t)o->batch, &l->batch_floats)) {
        s = re_fail(RE_ERR_NOMEM, "loader: batch size overflows");
        goto fail;
    }
    s = RE_ERR_NOMEM;
    l->perm = malloc((size_t)l->n_train * sizeof *l->perm);
    l->rbuf = malloc(ds->rec);
    l->nslots = o->prefetch;
    if (l->nslots > 0) {
        l->slots = calloc((size_t)l->nslots, sizeof *l->slots);
        if (!l->slots) goto nomem;
        for (int i = 0; i < l->nslots; i++) {
            l->slots[i].x = re_alloc(l->batch_floats * sizeof(float), "loader prefetch buffer");
            if (!l->slots[i].x) goto fail;
        }
    }
    if (!l->perm || !l->rbuf) goto nomem;
    if ((s = loader_start(l))) goto fail;
    *out = l;
    return RE_OK;
nomem:
    s = re_fail(RE_ERR_NOMEM, "loader: out of memory");
fail:
    re_loader_free(l);
    return s;
}

void re_loader_free(re_loader *l) {
    if (!l) return;
    loader_stop(l);
    if (l->slots)
        for (int i = 0; i < l->nslots; i++) re_free(l->slots[i].x);
    free(l->slots);
    free(l->perm);
    free(l->rbuf);
    free(l->train);
    free(l->val);
    if (l->sync_ok) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
    }
    free(l);
}

size_t re_loader_batch_floats(const re_loader *l) { return l->batch_floats; }
uint64_t re_loader_train_count(const re_loader *l) { return l->n_train; }
uint64_t re_loader_val_count(const re_loader *l) { return l->n_val; }
uint64_t re_loader_batches_per_epoch(const re_loader *l) { return l->bpe; }

uint64_t re_loader_val_index(const re_loader *l, uint64_t i) { return i < l->n_val ? l->val[i] : UINT64_MAX; }

uint64_t re_loader_train_index(const re_loader *l, uint64_t epoch, uint64_t pos) {
    if (pos >= l->n_train) return UINT64_MAX;
    if (!l->o.shuffle) return l->train[pos];
    /* Build the permutation in a private buffer: the producer thread owns l->perm. */
    uint32_t *perm = malloc((size_t)l->n_train * sizeof *perm);
    if (!perm) return UINT64_MAX;
    build_perm(l, perm, epoch);
    uint64_t r = perm[pos];
    free(perm);
    return r;
}

re_status re_loader_next(re_loader *l, float *x, re_loader_batch_info *info) {
    re_loader_batch_info bi;
    if (!l || !x) return re_fail(RE_ERR_ARG, "loader: NULL argument");
    if (l->o.prefetch <= 0) {
        re_loader_state ps = l->cons;
        re_status s = produce(l, &ps, x, &bi);
        if (s) return s;
        l->cons = l->prod = ps;
        if (info) *info = bi;
        return RE_OK;
    }
    pthread_mutex_lock(&l->mu);
    while (l->tail == l->head) pthread_cond_wait(&l->cv, &l->mu);
    loader_slot *sl = &l->slots[l->head % (uint64_t)l->nslots];
    pthread_mutex_unlock(&l->mu);
    if (sl->st) {
        re_status s = sl->st;
        char msg[512];
        snprintf(msg, sizeof msg, "%s", sl->err);
        /* Restart the producer at the failed batch so a later call retries it. */
        loader_stop(l);
        re_status s2 = loader_start(l);
        if (s2) return s2;
        return re_fail(s, "%s", msg);
    }
    memcpy(x, sl->x, l->batch_floats * sizeof(float));
    if (info) *info = sl->info;
    l->cons = sl->after;
    pthread_mutex_lock(&l->mu);
    l->head++;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return RE_OK;
}

re_status re_loader_val_batch(re_loader *l, uint64_t first, int n, float *x) {
    if (!l || !x || n < 0) return re_fail(RE_ERR_ARG, "loader: bad validation request");
    if (first > l->n_val || (uint64_t)n > l->n_val - first)
        return re_fail(RE_ERR_ARG, "loader: validation images %llu..%llu requested, %llu held out",
                       (unsigned long long)first, (unsigned long long)(first + (uint64_t)n),
                       (unsigned long long)l->n_val);
    for (int k = 0; k < n; k++) {
        re_status s = re_dataset_read_chw(l->ds, l->val[first + (uint64_t)k], 0, x + (size_t)k * l->img_floats);
        if (s) return s;
    }
    return RE_OK;
}

re_loader_state re_loader_get_state(const re_loader *l) { return l->cons; }

re_status re_loader_set_state(re_loader *l, re_loader_state st) {
    const uint64_t B = (uint64_t)l->o.batch;
    if (st.pos % B != 0 || st.pos >= l->bpe * B)
        return re_fail(RE_ERR_ARG, "loader: state position %llu is not a batch start below %llu (batch %llu); was "
                       "it saved with another batch size or dataset?", (unsigned long long)st.pos,
                       (unsigned long long)(l->bpe * B), (unsigned long long)B);
    loader_stop(l);
    l->cons = st;
    return loader_start(l);
}
