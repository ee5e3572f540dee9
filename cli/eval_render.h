/*
 * eval_render.h - `reenact eval --cross` on what `animate --paste-back` shows: each portrait's whole photo rendered
 * at its own resolution (--render photo) or with the decoded face pasted back (--render model), then measured on a
 * full-resolution crop around the face: expression and pose (landmarks), identity (face-recognition distance to
 * the photo), detail (sharpness against the photo), colour (grayscale photos) and the seam. Public API only.
 */
#ifndef RE_EVAL_RENDER_H
#define RE_EVAL_RENDER_H

#include "reenact/anim.h"
#include "reenact/face.h"
#include "reenact/faceid.h"

#define ER_NFEAT 5   /* mouth_open, eye_open, yaw, pitch, smile */

typedef struct er_opts {
    re_anim_render render;   /* RE_RENDER_PHOTO or RE_RENDER_MODEL */
    re_anim_field field;     /* RE_RENDER_PHOTO's motion field */
    int res;                 /* the model's side */
    int max_side;            /* the photo is downscaled so its longest side is at most this */
    int meas;                /* side of the measurement crop (the face's square grown by ER_MEAS_GROW) */
    re_face_detector *det;   /* borrowed */
    re_faceid *fid;          /* borrowed, or NULL: no identity measures */
    float eye_motion;        /* RE_RENDER_PHOTO: re_render_opts.eye_motion */
} er_opts;

typedef struct er_result {
    int found;                /* a face was found in the output's measurement crop */
    double feat[ER_NFEAT];    /* NaN when not found */
    float emb[RE_FACEID_DIM]; /* output embedding (when found and fid) */
    int has_emb;
    double sharp;             /* gradient energy of the output's face square / the photo's */
    int chroma;               /* grayscale photos: largest max(R,G,B) - min(R,G,B) over the output frame; else 0 */
    double seam;              /* gradient energy on the blend boundary, output / photo (1 = no added edge) */
} er_result;

typedef struct er_portrait er_portrait;

/* photo: the full portrait; face: its largest face (landmarks in photo pixels); ds: the decoded source code
 * [3][res][res]. */
re_status er_portrait_open(er_portrait **p, const er_opts *o, const re_image *photo, const re_face *face,
                           const float *ds);
/* Render the decoded driven face gen ([3][res][res]) and measure the output. */
re_status er_measure(er_portrait *p, const float *gen, er_result *r);
/* The renderer's parts for the next er_measure calls (re_render_set_parts), or NULL: the generated face's. */
void er_set_parts(er_portrait *p, const re_render_parts *parts);
/* The photo's own measures: features (found = 0 when its measurement crop has no face), embedding, gray flag. */
const er_result *er_source(const er_portrait *p);
int er_is_gray(const er_portrait *p);
void er_portrait_free(er_portrait *p);

#endif
