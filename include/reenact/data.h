/*
 * data.h - packed training datasets (".rds", reenact dataset) and the streaming batch loader.
 *
 * A packed dataset holds N square RGB images of one resolution as raw uint8 records, plus a group id per record
 * (the source folder or video clip it came from) so that validation can hold out whole identities or clips.
 * The byte layout is specified in docs/FORMAT.md ("Dataset file") and only there.
 *
 * Usage (error handling elided):
 *     re_dataset_writer *w = NULL;
 *     re_dataset_writer_open(&w, "faces.rds", 64, 3);
 *     uint32_t g; re_dataset_writer_group(w, "utkface", &g);
 *     re_dataset_writer_add(w, rgb_64x64x3, g);            // HWC uint8, stride 3*res
 *     re_dataset_writer_close(w);                          // header + index written, fsync, rename into place
 *
 *     re_dataset *ds = NULL;
 *     re_dataset_open(&ds, "faces.rds");                   // header and index checked; pixels stay on disk
 *     re_dataset_verify(ds);                               // optional: SHA-256 of the pixel data (streamed)
 *     re_loader_opts lo; re_loader_opts_default(&lo); lo.batch = 64; lo.seed = 1;
 *     re_loader *l = NULL;
 *     re_loader_create(&l, ds, &lo);                       // split train/validation, start the prefetch thread
 *     float *x = malloc(re_loader_batch_floats(l) * sizeof(float));
 *     re_loader_batch_info bi;
 *     for (;;) { re_loader_next(l, x, &bi); ... re_trainer_step(t, x, NULL, &st); }
 *     re_loader_free(l); re_dataset_close(ds);
 *
 * Memory: the reader keeps the header, the per-record group ids (4 bytes/record) and the group names; the loader
 * adds a permutation (4 bytes per training record) and `prefetch` batch buffers. Pixels are read with pread() per
 * batch, so resident memory does not grow with the dataset's size (the OS page cache is not resident memory).
 * Ownership and failure rules are those of reenact.h. A re_dataset may be shared by several loaders (pread is
 * thread-safe); a loader must be used by one thread at a time.
 */
#ifndef REENACT_DATA_H
#define REENACT_DATA_H

#include <stddef.h>
#include <stdint.h>
#include "reenact/reenact.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RE_DATASET_VERSION 1
#define RE_DATASET_MAX_RES 4096
#define RE_DATASET_MAX_GROUPS (1u << 24)
#define RE_DATASET_MAX_NAME 4096          /* bytes of one group name, without the NUL */

/* The fixed header, decoded. Offsets and sizes are in bytes from the start of the file. */
typedef struct re_dataset_header {
    uint32_t version;          /* RE_DATASET_VERSION */
    uint32_t header_size;      /* 192 in version 1 */
    uint64_t count;            /* number of records */
    uint32_t res;              /* image side (width = height) */
    uint32_t channels;         /* 3 (RGB) */
    uint32_t flags;            /* RE_DATASET_FLAG_* */
    uint32_t n_groups;         /* number of group names (>= 1 when count > 0) */
    uint64_t data_offset, data_size;      /* records: count * res*res*channels bytes, HWC uint8 */
    uint64_t groups_offset, groups_size;  /* uint32 LE group id per record: 4*count bytes */
    uint64_t names_offset, names_size;    /* n_groups NUL-terminated UTF-8 names */
    uint8_t data_sha256[32];   /* SHA-256 of the data section */
    uint8_t index_sha256[32];  /* SHA-256 of the group ids followed by the names */
} re_dataset_header;

#define RE_DATASET_FLAG_ALIGNED 1u   /* faces were aligned with re_face_align when packing */

/* Decode and check the fixed header from the first n bytes of a file of file_size bytes (n may exceed the header).
 * Checks magic (RE_ERR_FORMAT), length (RE_ERR_TRUNCATED), version (RE_ERR_VERSION), the header checksum
 * (RE_ERR_CHECKSUM), field ranges and that the sections are contiguous, in order, and end exactly at file_size
 * (RE_ERR_BAD_HEADER; RE_ERR_TRUNCATED when the file is shorter than the sections). what: name for messages. */
RE_API re_status re_dataset_parse_header(const void *buf, size_t n, uint64_t file_size, const char *what,
                                         re_dataset_header *h);

/* ---- Writer ---------------------------------------------------------------------------------------------- */
typedef struct re_dataset_writer re_dataset_writer;

/* Start writing a dataset of res x res images with `channels` (3) channels. Records go to a temporary file next to
 * path ("<path>.tmp.<pid>"); path itself is only replaced by re_dataset_writer_close. flags: RE_DATASET_FLAG_*.
 * RE_ERR_ARG (res outside 1..RE_DATASET_MAX_RES, channels != 3), RE_ERR_IO, RE_ERR_NOMEM. *w is NULL on error. */
RE_API re_status re_dataset_writer_open(re_dataset_writer **w, const char *path, int res, int channels, uint32_t flags);
/* Id of the group named `name` (created on first use; ids count from 0 in order of creation). RE_ERR_ARG for an
 * empty name or one longer than RE_DATASET_MAX_NAME or containing a NUL; RE_ERR_TOO_LARGE past RE_DATASET_MAX_GROUPS. */
RE_API re_status re_dataset_writer_group(re_dataset_writer *w, const char *name, uint32_t *id);
/* Append one record: rgb holds res*res*channels bytes, row-major HWC (re_image layout with stride 3*res).
 * group: an id returned by re_dataset_writer_group. RE_ERR_ARG (bad group), RE_ERR_IO (write failed). */
RE_API re_status re_dataset_writer_add(re_dataset_writer *w, const uint8_t *rgb, uint32_t group);
RE_API uint64_t re_dataset_writer_count(const re_dataset_writer *w);
/* Write the index and the header, fsync, rename over the final path, fsync its directory; frees w (also on error,
 * in which case the temporary file is removed and path is untouched). A dataset with zero records is an error
 * (RE_ERR_ARG). */
RE_API re_status re_dataset_writer_close(re_dataset_writer *w);
/* Discard: remove the temporary file and free w. NULL is fine. */
RE_API void re_dataset_writer_abort(re_dataset_writer *w);

/* ---- Reader ---------------------------------------------------------------------------------------------- */
typedef struct re_dataset re_dataset;

/* Open a packed dataset: reads and checks the header (see re_dataset_parse_header) and the index (group ids in
 * range, exactly n_groups non-empty names, index SHA-256: RE_ERR_BAD_HEADER / RE_ERR_CHECKSUM). The pixel data is
 * not read (see re_dataset_verify). RE_ERR_IO when the file cannot be opened. *ds is NULL on error. */
RE_API re_status re_dataset_open(re_dataset **ds, const char *path);
/* Same over a memory buffer (borrowed; it must outlive the dataset). `what` names it in messages (may be NULL). */
RE_API re_status re_dataset_open_mem(re_dataset **ds, const void *buf, size_t n, const char *what);
RE_API void re_dataset_close(re_dataset *ds);   /* NULL is fine */

/* Stream the whole data section (1 MB at a time) and compare its SHA-256 with the header: RE_ERR_CHECKSUM on a
 * mismatch, RE_ERR_IO / RE_ERR_TRUNCATED when reading fails. */
RE_API re_status re_dataset_verify(re_dataset *ds);

RE_API const re_dataset_header *re_dataset_info(const re_dataset *ds);
RE_API uint64_t re_dataset_count(const re_dataset *ds);
RE_API int re_dataset_res(const re_dataset *ds);
/* Bytes of one record: res*res*channels. */
RE_API size_t re_dataset_record_size(const re_dataset *ds);
RE_API uint32_t re_dataset_n_groups(const re_dataset *ds);
/* Group name of id g (borrowed; NULL when out of range) and the group id of record i (UINT32_MAX when out of range). */
RE_API const char *re_dataset_group_name(const re_dataset *ds, uint32_t g);
RE_API uint32_t re_dataset_group_of(const re_dataset *ds, uint64_t i);
/* Copy record i (re_dataset_record_size bytes, HWC uint8) into out. Thread-safe. RE_ERR_ARG (i out of range),
 * RE_ERR_IO / RE_ERR_TRUNCATED (read failed). */
RE_API re_status re_dataset_read(re_dataset *ds, uint64_t i, uint8_t *out);
/* Record i as planar floats out[C][res][res] = value/255; flip: mirror horizontally. Same errors as above. */
RE_API re_status re_dataset_read_chw(re_dataset *ds, uint64_t i, int flip, float *out);

/* ---- Loader ---------------------------------------------------------------------------------------------- */
typedef struct re_loader_opts {
    int batch;              /* images per training batch [64]; every batch is full (the epoch's remainder is dropped) */
    uint64_t seed;          /* split, shuffle and flip randomness [1] */
    int shuffle;            /* 1: new permutation of the training records every epoch [1]; 0: file order */
    int flip;               /* 1: mirror each training image horizontally with probability 1/2 [0] */
    double val_fraction;    /* share of the records held out for validation [0.05], 0 <= f < 1. When the dataset has
                               >= 2 groups whole groups are held out (shuffled with the seed, taken until their
                               records reach the fraction; at least one group stays for training), otherwise a
                               seeded random subset of records */
    int prefetch;           /* batches prepared ahead on a background thread [2]; 0: read synchronously */
} re_loader_opts;

RE_API void re_loader_opts_default(re_loader_opts *o);

/* Where the loader is: the next batch to hand out is the one starting at position `pos` (records) of epoch
 * `epoch`'s permutation. Together with the options (seed) this is the complete loader state: permutations and flips
 * are pure functions of (seed, epoch, position), so saving and restoring these two numbers resumes exactly. */
typedef struct re_loader_state {
    uint64_t epoch;
    uint64_t pos;
} re_loader_state;

typedef struct re_loader_batch_info {
    uint64_t epoch;          /* epoch this batch belongs to (from 0) */
    uint64_t index;          /* batch index inside the epoch (from 0) */
    int last_in_epoch;       /* 1 if this is the epoch's final batch */
} re_loader_batch_info;

typedef struct re_loader re_loader;

/* Split the dataset, build epoch 0's permutation and start the prefetch thread. The dataset is borrowed and must
 * outlive the loader. RE_ERR_ARG for bad options or when the training split has fewer records than one batch
 * (the message gives both numbers), RE_ERR_NOMEM, RE_ERR_IO (thread creation failed). *l is NULL on error. */
RE_API re_status re_loader_create(re_loader **l, re_dataset *ds, const re_loader_opts *o);
/* Stop the thread and free. NULL is fine. */
RE_API void re_loader_free(re_loader *l);

/* Floats in one batch: batch * channels * res * res. */
RE_API size_t re_loader_batch_floats(const re_loader *l);
RE_API uint64_t re_loader_train_count(const re_loader *l);
RE_API uint64_t re_loader_val_count(const re_loader *l);
/* Full batches per epoch: train_count / batch. */
RE_API uint64_t re_loader_batches_per_epoch(const re_loader *l);
/* Record index (into the dataset) of the i-th validation image; validation images are in file order.
 * UINT64_MAX when out of range. */
RE_API uint64_t re_loader_val_index(const re_loader *l, uint64_t i);
/* Record index of the training record at position pos of epoch's permutation (for tests and inspection;
 * computes the permutation, O(train_count)). UINT64_MAX when out of range or out of memory. */
RE_API uint64_t re_loader_train_index(const re_loader *l, uint64_t epoch, uint64_t pos);

/* Next training batch into x [batch, C, res, res] (floats in [0,1]); info may be NULL. Advances the state; crosses
 * epochs by itself. Returns read errors (RE_ERR_IO, RE_ERR_TRUNCATED) of the batch, which is then not consumed. */
RE_API re_status re_loader_next(re_loader *l, float *x, re_loader_batch_info *info);
/* n validation images starting at validation image `first` into x [n, C, res, res] (no flip). RE_ERR_ARG when the
 * range exceeds the validation split. */
RE_API re_status re_loader_val_batch(re_loader *l, uint64_t first, int n, float *x);

/* State of the batch re_loader_next returns next (batches prefetched but not handed out do not count). */
RE_API re_loader_state re_loader_get_state(const re_loader *l);
/* Continue from a saved state: discards prefetched batches and restarts from (epoch, pos). RE_ERR_ARG when pos is
 * not a multiple of the batch or not below batches_per_epoch * batch. */
RE_API re_status re_loader_set_state(re_loader *l, re_loader_state st);

#ifdef __cplusplus
}
#endif
#endif
