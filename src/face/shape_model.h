/*
 * shape_model.h - dlib's 68-point shape predictor file (shape_predictor_68_face_landmarks.dat), read without dlib
 * and repacked for the landmark cascade of dlib_bridge.cpp. Internal: not installed.
 *
 * The file is dlib's serialization of a shape_predictor: version (int, 1), the mean shape (a float column
 * matrix of 136 values), then per cascade level the trees (each a vector of splits {idx1, idx2, thresh} and a
 * vector of 136-float leaf matrices), the anchor landmark of each feature pixel, and each feature pixel's offset.
 * dlib reads it through std::istream one byte at a time into ~120,000 heap blocks (about 1 s for the 100 MB
 * file on a 2-core Zen 3). This reader decodes the same bytes from memory (the file is mapped) straight into
 * the packed arrays, with every count checked against the bytes left before anything is allocated.
 * The values are bit-identical to dlib's (tests/unit/test_shape_model.cpp compares them with dlib::deserialize).
 * Floats in dlib's old text encoding are refused (RE_ERR_FORMAT); trailing bytes are ignored, as dlib does.
 */
#ifndef RE_SHAPE_MODEL_H
#define RE_SHAPE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "reenact/reenact.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { RE_SHAPE_NPTS = 136 };   /* shape coordinates: 68 (x, y) pairs */

typedef struct re_shape_split {
    uint16_t a, b;   /* feature pixel indices */
    float thresh;    /* go left when feat[a] - feat[b] > thresh */
} re_shape_split;

/* One cascade level. Every tree is complete: nsplit = 2^d - 1 splits and nleaf = 2^d leaves. */
typedef struct re_shape_level {
    int nfeat, ntree, nsplit, nleaf;
    uint16_t *anchor;        /* [nfeat] landmark each feature pixel is placed relative to (< 68) */
    float *delta;            /* [nfeat][2] offset from that landmark, in mean-shape units */
    re_shape_split *splits;  /* [ntree][nsplit], indices < nfeat, finite thresholds */
    float *leaves;           /* [ntree][nleaf][136] finite shape increments */
} re_shape_level;

typedef struct re_shape_model {
    float mean[RE_SHAPE_NPTS];   /* mean shape, (x, y) pairs in box-normalized units */
    int nlevels;
    re_shape_level *levels;
} re_shape_model;

/* Decode a shape predictor from n bytes at data; name is used in messages. On success *m owns its arrays (free
 * with re_shape_model_free); on failure *m is empty. RE_ERR_FORMAT (the message names the byte offset and what
 * was wrong), RE_ERR_NOMEM, RE_ERR_ARG (NULL). */
re_status re_shape_model_parse(re_shape_model *m, const void *data, size_t n, const char *name);

/* The same for a file (mapped read-only while it is decoded). RE_ERR_IO when it cannot be opened or read. */
re_status re_shape_model_load(re_shape_model *m, const char *path);

/* Free the arrays of level i only (so a caller copying the levels elsewhere keeps one copy at a time). */
void re_shape_level_free(re_shape_level *l);
void re_shape_model_free(re_shape_model *m);

#ifdef __cplusplus
}
#endif
#endif
