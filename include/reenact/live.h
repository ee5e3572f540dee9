/*
 * live.h - animate one photo with a stream of driving frames, one frame at a time (a webcam, `reenact serve`'s
 * /api/live): the same stages as re_animate (track the face, align, encode, smooth, steer or transfer, decode,
 * render at the photo's resolution), without a video file on either side and without batching, so each frame's
 * result is ready as soon as that frame is done.
 *
 * Usage (error handling elided):
 *     re_anim_opts o;
 *     re_anim_opts_default(&o);
 *     o.out_size = 256;                              // face-only output side (0: the face's own size)
 *     re_live *lv = NULL;
 *     re_live_create(&lv, model, &photo, &o, 30.0);  // the photo's face, its code, the renderer, the tracker
 *     for each driving frame:
 *         re_live_info info;
 *         re_live_frame(lv, &frame, &out, &info);    // out: the animated photo; info: face found, ms per stage
 *     re_live_free(lv);
 *
 * Options used from re_anim_opts: strength, steer (with a model that has directions), smooth and smooth_opts,
 * render, render_opts, render_field, out_size, paste_back, paste_max_side, paste_feather, aligned, precision,
 * model_threads (0: re_get_threads()) and detector (borrowed during re_live_create only: the stream gets a clone).
 * The rest (files, batching, pipeline, storyboard, sampling, ref) does not apply; ref is always the first frame with a
 * face (re_live_reset starts over from the next one).
 * Threads: a re_live holds its own model runner (oneDNN primitives run on the thread that created them), so every
 * call on one re_live must come from the thread that created it. The model may be shared with runners on other
 * threads, but not used at the same time (anim.h); give each stream's thread a model of its own to run them in
 * parallel. Different re_live objects are independent. The library never prints (reenact.h).
 */
#ifndef REENACT_LIVE_H
#define REENACT_LIVE_H

#include <stdint.h>
#include "reenact/anim.h"
#include "reenact/face.h"
#include "reenact/media.h"
#include "reenact/reenact.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct re_live re_live;

/* Milliseconds of one frame's stages. */
typedef struct re_live_times {
    double track;       /* face tracking (landmarks; the detector when the face is lost or confirmed) */
    double align;       /* the aligned crop, as floats */
    double encode;      /* model encoder */
    double transfer;    /* smoothing, steering or transfer */
    double decode;      /* model decoder */
    double landmarks;   /* landmarks of the decoded face (the renderer's motion field) */
    double render;      /* rendering at the photo's resolution (or upscaling / paste-back with RE_RENDER_MODEL) */
    double total;       /* the whole re_live_frame call */
} re_live_times;

typedef struct re_live_info {
    int64_t index;      /* frames given so far, this one included, minus 1 */
    int found;          /* a face was found in this frame (else the last face's motion was held) */
    int have_ref;       /* the reference frame is set (0 until the first frame with a face: the photo unchanged) */
    re_live_times ms;
} re_live_info;

/* Prepare a stream for photo (copied; may be freed afterwards): find its face (the largest), encode and decode it,
 * set up the renderer and the tracker. fps: the expected frame rate (the smoothing's time step; 1..1000).
 * o may be NULL (re_anim_opts_default with out_size 256). *out is NULL on error. Errors: RE_ERR_ARG (bad options),
 * RE_ERR_NO_FACE (no face in the photo), RE_ERR_UNSUPPORTED (motion controls without directions, bf16 without
 * support, face detection without dlib), those of the detector, the model and the renderer. */
RE_API re_status re_live_create(re_live **out, re_model *m, const re_image *photo, const re_anim_opts *o, double fps);

/* Animate the next driving frame (any size; a size change restarts tracking) into out (media.h "Output images"
 * rule; every frame has the same size, re_live_size). info may be NULL. A frame without a face is not an error: the
 * last face's motion is held (info->found = 0). Errors: RE_ERR_ARG, those of the tracker, the model, the renderer. */
RE_API re_status re_live_frame(re_live *lv, const re_image *frame, re_image *out, re_live_info *info);

/* Forget the tracked face, the smoothing and the reference: the next frame with a face becomes the reference. */
RE_API void re_live_reset(re_live *lv);
/* Size of the output frames. */
RE_API void re_live_size(const re_live *lv, int *w, int *h);
/* Faces found in the photo (the largest is animated; 1 with aligned input). */
RE_API int re_live_source_faces(const re_live *lv);
RE_API void re_live_free(re_live *lv);   /* NULL is fine */

#ifdef __cplusplus
}
#endif
#endif
