/*
 * dataset_write.c - the packed-dataset writer (".rds"): records streamed to a temporary file while their SHA-256 is
 * computed, then the group ids, the names and the fixed header, fsync and an atomic rename into place.
 * API and contracts: include/reenact/data.h; byte layout: docs/FORMAT.md "Dataset file" (and dataset_internal.h).
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

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

static void header_encode(const re_dataset_header *h, uint8_t out[HDR_SIZE]) {
    memset(out, 0, HDR_SIZE);
    memcpy(out, k_magic, 8);
    put_u32(out + 8, h->version);
    put_u32(out + 12, h->header_size);
#define PUT(field, off, bits) put_u##bits(out + (off), h->field);
    DS_HDR_NUMBERS(PUT)
#undef PUT
    memcpy(out + 88, h->data_sha256, 32);
    memcpy(out + 120, h->index_sha256, 32);
    ds_header_check(out, out + HDR_CHECKED);
}

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
