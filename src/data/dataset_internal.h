/*
 * dataset_internal.h - internal: what the packed-dataset files share (src/data/dataset_write.c writes .rds files,
 * dataset_read.c reads them, loader.c batches them). API and contracts: include/reenact/data.h; byte layout:
 * docs/FORMAT.md "Dataset file".
 *
 * Version-1 fixed header (little-endian, 192 bytes):
 *   0 magic "\x89RDS\r\n\x1a\n" | 8 version u32 | 12 header_size u32 | 16 count u64 | 24 res u32 | 28 channels u32
 *   32 flags u32 | 36 n_groups u32 | 40 data_offset u64 | 48 data_size u64 | 56 groups_offset u64
 *   64 groups_size u64 | 72 names_offset u64 | 80 names_size u64 | 88 data_sha256[32] | 120 index_sha256[32]
 *   152 reserved[32] (zero) | 184 header_check[8] = first 8 bytes of SHA-256(bytes 0..183)
 * followed by padding to data_offset, the records, the group ids and the names.
 */
#ifndef RE_DATASET_INTERNAL_H
#define RE_DATASET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/core.h"
#include "reenact/data.h"

#define HDR_SIZE 192u
#define HDR_CHECKED 184u
#define DATA_ALIGN 4096u
#define MAX_DATA_OFFSET (1u << 20)
static const uint8_t k_magic[8] = {0x89, 'R', 'D', 'S', '\r', '\n', 0x1a, '\n'};
/* The header's numbers from count to names_size: X(field of re_dataset_header, byte offset, bits), for the writer's
 * put_u32/put_u64 and the reader's get_u32/get_u64. */
#define DS_HDR_NUMBERS(X)                                                                                              \
    X(count, 16, 64) X(res, 24, 32) X(channels, 28, 32) X(flags, 32, 32) X(n_groups, 36, 32) X(data_offset, 40, 64)  \
    X(data_size, 48, 64) X(groups_offset, 56, 64) X(groups_size, 64, 64) X(names_offset, 72, 64)                     \
    X(names_size, 80, 64)

/* The header's check: the first 8 bytes of SHA-256 of its first HDR_CHECKED bytes. */
static inline void ds_header_check(const uint8_t *hdr, uint8_t out[8]) {
    uint8_t d[32];
    re_sha256 c;
    re_sha256_init(&c);
    re_sha256_update(&c, hdr, HDR_CHECKED);
    re_sha256_final(&c, d);
    memcpy(out, d, 8);
}

/* An open dataset (dataset_read.c); the loader reads its header, group ids and records. */
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

/* Record i as planar floats (re_dataset_read_chw) through the caller's record buffer tmp (record_size bytes). */
re_status re_dataset_read_chw_buf(re_dataset *ds, uint64_t i, int flip, float *out, uint8_t *tmp);

#endif
