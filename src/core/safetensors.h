/*
 * safetensors.h - strict reader and atomic writer of the safetensors format (the file format is specified in
 * docs/FORMAT.md, and only there): 8-byte little-endian header length N, N bytes of JSON header, raw
 * little-endian tensor data. The header maps tensor names to {dtype, shape, data_offsets:[begin,end]} and may hold
 * "__metadata__" (string -> string). reenact adds metadata keys: format, format_version, config, data_sha256.
 *
 * The reader refuses (each with its own status and a message naming the file and the tensor):
 *   file < 8 bytes, N+8 > file size, or tensors extending past EOF (RE_ERR_TRUNCATED), N > 100 MB
 *   (RE_ERR_TOO_LARGE), header not starting with '{', bad JSON, duplicate keys, ndim > 8, bad field types,
 *   malformed data_sha256 (RE_ERR_BAD_HEADER), unknown dtype (RE_ERR_DTYPE), offsets not starting at 0 /
 *   overlapping / gaps / trailing bytes after the last tensor / not matching numel*dtype size (RE_ERR_OFFSETS),
 *   data_sha256 present and not matching (RE_ERR_CHECKSUM). The full rule table is in docs/FORMAT.md.
 */
#ifndef RE_SAFETENSORS_H
#define RE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "reenact/reenact.h"

#define RE_ST_MAX_DIMS 8
#define RE_ST_MAX_HEADER (100u * 1024u * 1024u)

/* Append-only. */
typedef enum re_dtype { RE_DT_F32 = 0, RE_DT_F16 = 1, RE_DT_BF16 = 2, RE_DT_I64 = 3, RE_DT_I32 = 4, RE_DT_U8 = 5,
                        RE_DT_F64 = 6 } re_dtype;
size_t re_dtype_size(re_dtype t);
const char *re_dtype_name(re_dtype t);   /* "F32", "BF16", ... as in the safetensors header */

typedef struct re_st_tensor {
    char *name;
    re_dtype dtype;
    int ndim;
    int64_t shape[RE_ST_MAX_DIMS];
    size_t numel;
    uint64_t begin, end;   /* byte offsets into the data section */
} re_st_tensor;

typedef struct re_st_file {
    char *path;            /* for messages ("<memory>" for buffers) */
    re_st_tensor *tensors; /* sorted by name */
    size_t n_tensors;
    char **meta_keys, **meta_vals;
    size_t n_meta;
    uint8_t *data;         /* the data section (owned) */
    size_t data_len;
    int checksum_verified; /* 1 if data_sha256 was present and matched */
} re_st_file;

/* Read callback: fill buf with exactly n bytes at the current position; return the number read (< n = EOF). */
typedef size_t (*re_st_read_fn)(void *user, void *buf, size_t n);

/* Parse from a stream of total_size bytes. `what` names the source in messages. */
re_status re_st_parse(re_st_file **out, re_st_read_fn rd, void *user, uint64_t total_size, const char *what);
re_status re_st_load(re_st_file **out, const char *path);
re_status re_st_load_mem(re_st_file **out, const void *buf, size_t n, const char *what);
void re_st_free(re_st_file *f);

const re_st_tensor *re_st_find(const re_st_file *f, const char *name);
const char *re_st_meta(const re_st_file *f, const char *key);   /* NULL if absent */
/* Convert a float tensor (F32/F16/BF16/F64) to f32 into dst[count]; RE_ERR_SHAPE if count != numel,
 * RE_ERR_DTYPE for non-float dtypes. */
re_status re_st_to_f32(const re_st_file *f, const re_st_tensor *t, float *dst, size_t count);
/* Raw pointer to the tensor's bytes inside f->data. */
const void *re_st_data(const re_st_file *f, const re_st_tensor *t);

/* Writer. Each entry's data is f32 when src_f32 != NULL (converted to `dtype` on write: F32, F16 or BF16, round to
 * nearest even), otherwise `raw` holds numel*re_dtype_size(dtype) bytes already in `dtype`. */
typedef struct re_st_entry {
    const char *name;
    re_dtype dtype;
    int ndim;
    int64_t shape[RE_ST_MAX_DIMS];
    const float *src_f32;
    const void *raw;
} re_st_entry;
/* Writes atomically (temp + fsync + rename + dir fsync): tensors sorted by name, contiguous offsets, header padded
 * with spaces to a multiple of 8, metadata = meta_kv pairs (key0,val0,key1,val1,...) plus data_sha256 over the data
 * section. On failure the previous file at `path` is untouched. */
re_status re_st_write(const char *path, const re_st_entry *entries, size_t n, const char *const *meta_kv,
                      size_t n_meta);
/* Same, into a malloc'd buffer (*out, *out_len; caller frees). */
re_status re_st_write_mem(uint8_t **out, size_t *out_len, const re_st_entry *entries, size_t n,
                          const char *const *meta_kv, size_t n_meta);

/* f32 <-> f16/bf16 conversions (round to nearest even; NaN preserved). */
uint16_t re_f32_to_bf16(float x);
float re_bf16_to_f32(uint16_t x);
uint16_t re_f32_to_f16(float x);
float re_f16_to_f32(uint16_t x);

#endif
