/*
 * anim.h - animate one photo with the motion of a driving video (the paper's main job), and the pieces it is built
 * from: latent motion transfer, temporal smoothing of the driving latents, the per-driver steering state, the
 * FOMM-style choice of the reference frame, paste-back into the source photo, side-by-side and storyboard
 * composition, and motion files.
 *
 *     z_t = z_src + s * (z_drive(t) - z_drive(ref)),   frame_t = decode(z_t)
 *
 * Usage (error handling elided):
 *     re_model *m = NULL;
 *     re_model_load(&m, "models/reenact-seed64.safetensors");
 *     re_anim_opts o;
 *     re_anim_opts_default(&o);
 *     o.source = "photo.jpg"; o.driving = "clip.mp4"; o.output = "out.mp4";
 *     re_anim_stats st;
 *     re_animate(m, &o, &st);                 // st.frames, st.lost_frames, per-stage times, ...
 *
 *     re_motion *mo = NULL;                   // one driver, many photos
 *     re_motion_extract(m, "clip.mp4", NULL, &mo, &st);
 *     re_motion_save(mo, "clip.motion", 1);
 *     o.driving = NULL; o.motion = mo;        // then re_animate as above
 *     re_motion_free(mo);
 *
 * Conventions: latents are float vectors of the model's latent size; images follow media.h (8-bit RGB), crops are
 * the model's res x res aligned faces (face.h decides the framing). Ownership and failure rules are those of
 * reenact.h: the library never prints; warnings (several faces in the photo, driver frames without a face, audio that
 * could not be found) are reported in re_anim_stats for the caller to print.
 * Threads: re_animate and re_motion_extract run their stages on their own threads (see re_anim_opts.pipeline) and
 * call the progress callback on the caller's thread. They create their own re_runner on the model stage's thread
 * (oneDNN primitives must run on the thread that created them), so the caller's model may also be used by runners
 * of its own, on other threads, but not at the same time. Everything else here is plain, single-threaded code.
 * The motion file format is specified in docs/FORMAT.md, "Motion file".
 */
#ifndef REENACT_ANIM_H
#define REENACT_ANIM_H

#include <stddef.h>
#include <stdint.h>
#include "reenact/face.h"
#include "reenact/directions.h"
#include "reenact/media.h"
#include "reenact/reenact.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------------------
 * Latent motion transfer.
 * ------------------------------------------------------------------------------------------------------- */

/* z_out[i] = z_src[i] + strength * (z_drive[i] - z_ref[i]) for i < n. z_out may alias any input. */
RE_API void re_anim_transfer(const float *z_src, const float *z_drive, const float *z_ref, float strength, int n,
                             float *z_out);

/* Reparameterized sample z[i] = mu[i] + exp(0.5 * logvar[i]) * eps[i], eps ~ N(0,1) drawn from a generator seeded
 * with (seed, index): the same (seed, index) always gives the same noise, whatever the batching or threads.
 * logvar is clamped to [-30, 20] so a wild encoder cannot produce Inf. z may alias mu. */
RE_API void re_anim_sample(const float *mu, const float *logvar, int n, uint64_t seed, uint64_t index, float *z);

/* ---- Temporal smoothing of the driving latents: a One-Euro filter (Casiez et al. 2012) on the whole vector.
 * Per frame: d = (z - z_hat_prev) * fps, d_hat = EMA(d) with cutoff d_cutoff, speed = RMS over the dimensions of
 * d_hat, cutoff = min_cutoff + beta * speed, z_hat = EMA(z) with that cutoff (alpha = 1 / (1 + fps / (2 pi cutoff))).
 * One cutoff for all dimensions keeps the filtered code a blend of real codes (no per-dimension distortion). Still
 * faces get a low cutoff (less flicker); fast expressions raise it (less lag). The first frame passes unchanged, and
 * the filter commutes with adding a constant, so filtering deltas or absolute codes gives the same motion. */
typedef struct re_latent_filter_opts {
    float min_cutoff;   /* Hz at rest [1.5] */
    float beta;         /* cutoff increase per unit of RMS latent speed (latent units per second) [0.7] */
    float d_cutoff;     /* Hz, smoothing of the speed estimate [1.0] */
} re_latent_filter_opts;
RE_API void re_latent_filter_opts_default(re_latent_filter_opts *o);

typedef struct re_latent_filter re_latent_filter;
/* dim: latent size (1..65536); fps > 0. o may be NULL (defaults). RE_ERR_ARG for bad values, RE_ERR_NOMEM. */
RE_API re_status re_latent_filter_create(re_latent_filter **f, int dim, double fps, const re_latent_filter_opts *o);
/* Filter the next frame's code in place (z has dim floats). Non-finite input is passed through and resets. */
RE_API void re_latent_filter_apply(re_latent_filter *f, float *z);
RE_API void re_latent_filter_reset(re_latent_filter *f);   /* the next frame passes unchanged */
RE_API void re_latent_filter_free(re_latent_filter *f);    /* NULL is fine */

/* ---- One driver animating one photo, frame by frame: the transfer above, or steering (directions.h) with what it
 * carries between frames: the driver's attributes (smoothed like the codes, held through frames without them), the
 * reference frame's attributes, the photo's own. re_animate, re_live and `reenact eval` use it; one per stream (not
 * thread-safe). Per frame:
 *     z_out = z_src + re_steer_apply(z_drive - z_ref, re_steer_attr_delta(a_last, a_ref, a_photo))
 * with a_ref the first attributes seen unless re_steer_state_set_ref gave them (until then da is NULL: the
 * attributes come from the code delta). Without directions: z_out = re_anim_transfer(z_src, z_drive, z_ref, s). */
typedef struct re_steer_state re_steer_state;
/* d: the directions to steer with (borrowed: they must outlive the state), or NULL for the plain transfer; pass them
 * when re_steer_active(o) (with inactive options steering gives s * dz only up to rounding). o: copied; may be NULL
 * without d. strength: s. latent: the codes' size (d's). smooth: the One-Euro filter of the driver's attributes
 * (copied; fps > 0 then), or NULL: unsmoothed. RE_ERR_ARG (bad sizes, non-finite strength, bad options:
 * re_steer_opts_check), RE_ERR_NOMEM. *out is NULL on error. */
RE_API re_status re_steer_state_create(re_steer_state **out, const re_directions *d, const re_steer_opts *o,
                                       float strength, int latent, double fps, const re_latent_filter_opts *smooth);
RE_API void re_steer_state_free(re_steer_state *st);   /* NULL is fine */
/* The photo's attributes from its own landmarks (re_face_attributes; copied): with mouth_absolute the mouth opens as
 * far as the driver's, measured from the photo's own mouth. NULL: unknown (the mouth follows the driver's change). */
RE_API void re_steer_state_set_photo(re_steer_state *st, const float *a_photo);
/* The driver's attributes at the reference frame (e.g. the one of RE_REF_BEST; copied, unsmoothed), or NULL: the
 * first attributes given to re_steer_state_next are the reference. */
RE_API void re_steer_state_set_ref(re_steer_state *st, const float *a_ref);
/* The pose reference only: a_ref's yaw, pitch and roll (copied) replace the reference attributes' (set_ref's or the
 * first seen), the other attributes keep their reference. NULL: none. */
RE_API void re_steer_state_set_pose_ref(re_steer_state *st, const float *a_ref);
/* Start a new driver: forget the attributes seen, the reference attributes (also set_ref's) and the filter's
 * history; the photo's attributes stay. */
RE_API void re_steer_state_reset(re_steer_state *st);
/* The next frame, in frame order. z_src, z_drive, z_ref, z_out: latent floats (z_out may alias any of them).
 * attr: the driver's attributes in this frame (re_face_attributes of its landmarks; copied), or NULL when it has
 * none (no face): the last ones are held. Ignored without directions. Never fails. */
RE_API void re_steer_state_next(re_steer_state *st, const float *z_src, const float *z_drive, const float *z_ref,
                                const float *attr, float *z_out);
/* What the photo renderer should take from the driver and the controls rather than from the generated face's
 * landmarks, for the following re_render_apply calls (re_render_set_parts). The 64 px decoder draws a blink as a
 * pixel or two of eyelid, and a frozen part (--lips 0) still moves a little in the decoded face. With landmarks:
 *  - eyes: the lid landmarks (37, 38, 40, 41; 43, 44, 46, 47) get the source face's lid offsets from its eye
 *    corners' line times eye_ratio ([0] the image-left eye, 36-41; [1] the image-right one; clamped to [0, 2.5],
 *    NaN read as 1; its change from 1 is multiplied by re_render_opts.eye_motion), placed along the generated
 *    face's corner line; ratio 1 keeps the source's lids. The spline carries the eye's corners; the lids' change
 *    is made at the photo's resolution, across the corner line: the band between the lids scales by the ratio, and
 *    the skin above and below stretches to meet it (a closed eye shows the source's upper lid drawn down).
 *  - mouth_still: the lips (48-67) keep the source face's shape, moved with the face (an affine map fitted to the
 *    eye corners, the nose and the upper jaw), and no generated pixels are added around the mouth.
 *  - pose: the head's yaw, pitch and roll (RE_ATTR_* units, degrees; NaN read as 0, clamped to +-90) are the source
 *    face's plus these, whatever the generated face's are: its landmarks are brought to the source's pose, their
 *    rigid points (eye corners, nose, upper jaw) take the source face's shape, and the set is turned (each landmark
 *    along the eye line by its depth on a head-shaped model: the nose most, the jaw line's ends not at all), nodded
 *    and rolled until it measures so (re_face_attributes). The generated face's pixels are moved with its landmarks
 *    before the residual is taken. Applied before the eyes and the mouth. */
typedef struct re_render_parts {
    int eyes;
    float eye_ratio[2];
    int mouth_still;
    int pose;
    float yaw, pitch, roll;
} re_render_parts;
/* After re_steer_state_next: the renderer's parts for this frame. With directions: the eyes follow the driver's
 * measured eye opening (smoothed) against its reference frame's, ratio[k] = 1 + s * eyes * (a_k / a_ref,k - 1) +
 * offset_k / a_ref,k (attribute drive on, a region with the eyes, the reference frame's eyes open); they stay still
 * (ratio 1 + offset_k / a_ref,k, or 1) with --eyes 0 or a region without them (pose, lips). The mouth stays still
 * with --lips 0 or a region without it (pose, eyes). The pose (attribute drive on, reference attributes known):
 * yaw, pitch and roll follow the driver's measured change since its (pose) reference frame, s * (a - a_ref) +
 * offset, in a region with the pose (all, pose); elsewhere they stay the photo's (the offset alone). Returns 1 when
 * a part is set, else 0 (p cleared: the generated face's landmarks are all there is, as without directions). */
RE_API int re_steer_state_render_parts(const re_steer_state *st, re_render_parts *p);

/* ---- Reference frame (FOMM's find_best_frame): the driving frame whose landmarks, normalized for position and
 * scale, are closest to the source's, so the motion starts from the source's own pose and expression. */

/* out = (lm - mean(lm)) / sqrt(area of the convex hull of lm). RE_ERR_ARG for non-finite or collinear landmarks.
 * out may alias lm. */
RE_API re_status re_anim_landmarks_normalize(const float lm[RE_FACE_LANDMARKS][2], float out[RE_FACE_LANDMARKS][2]);
/* Sum of squared differences of two normalized landmark sets (FOMM's distance). */
RE_API float re_anim_landmarks_distance(const float a[RE_FACE_LANDMARKS][2], const float b[RE_FACE_LANDMARKS][2]);

/* ---------------------------------------------------------------------------------------------------------
 * Composition.
 * ------------------------------------------------------------------------------------------------------- */

/* Paste-back: blends a generated face crop into the source photo with a soft mask, through the inverse of the
 * alignment that cut the crop. The mask is a rounded square (superellipse |u|^4 + |v|^4 = 1 in crop units, u,v in
 * [-1,1]) whose edge falls smoothly from 1 to 0 over `feather` (fraction of the half side, e.g. 0.25); inside, the
 * output is the generated face; outside, the photo. The face is first upscaled (Lanczos) to the size it has in the
 * photo, then warped bilinearly, so paste-back stays sharp for large faces. */
typedef struct re_paste re_paste;
/* photo: the full source photo (copied; may be freed afterwards). frame: the crop square of its face (face.h).
 * feather in (0, 1]. RE_ERR_ARG for bad arguments, RE_ERR_NOMEM. */
RE_API re_status re_paste_create(re_paste **p, const re_image *photo, const re_face_frame *frame, float feather);
/* out = photo with `face` (any square size) blended in; out has the photo's size (media.h "Output images" rule). */
RE_API re_status re_paste_apply(re_paste *p, const re_image *face, re_image *out);
RE_API void re_paste_free(re_paste *p);   /* NULL is fine */
/* Mask value in [0,1] at crop position (u,v) in [-1,1]^2 (0,0 = crop center) for a given feather. */
RE_API float re_paste_mask(float u, float v, float feather);

/* ---- Rendering at the photo's resolution (src/anim/render.c): the photo supplies the pixels and the identity, the
 * model supplies the motion. Per frame, with Ds = decode(z_src) and Dt = decode(z_t) at the model's res x res:
 *   1. a dense backward motion field f with Dt(x) ~ Ds(x + f(x)): a thin-plate spline through the 68 landmark pairs
 *      of the two decoded faces when the caller gives them, else coarse-to-fine Horn-Schunck optical flow between
 *      their luminances; split into a weighted affine part (the head's global motion) and
 *      the local rest (jaw, lips, eyes);
 *   2. the photo's own pixels warped by f, scaled to the face's size in the photo: the local part inside the crop
 *      square (faded by the paste-back mask), the affine part also over a ring around it (hair, neck), fading to
 *      zero at `outer` times the square, so nothing tears and nothing outside the ring changes;
 *   3. a residual R = Dt - Ds(x + f) for what a warp cannot make (an open mouth, teeth, closed eyelids), moved to
 *      the photo's colours (its luminance, scaled by the photo's contrast over the decoder's, is added; its chroma
 *      becomes the photo's own skin hue, as saturated as the generated pixel is along the decoder's skin hue, so
 *      no foreign colour arrives and a grayscale photo stays grayscale) and used only where its
 *      blurred luminance exceeds the gate (gate_lo..gate_hi, smoothstep), inside the face mask; being added to
 *      the warped photo, it keeps the photo's own grain under it.
 * When z_t == z_src the output is the photo itself. */
typedef struct re_render_opts {
    float feather;      /* width of the local motion's fade inside the crop square (re_paste_mask) [0.35] */
    float outer;        /* the global motion fades to zero at this multiple of the crop square (1..4) [1.6] */
    int flow_levels;    /* pyramid levels of the flow (1..6) [3] */
    int flow_warps;     /* re-linearizations per level (1..20) [3] */
    int flow_iters;     /* Gauss-Seidel sweeps per warp (1..1000) [40] */
    float flow_alpha;   /* smoothness weight of the flow, in luminance units (0..10) [0.3] */
    float residual;     /* gain of the generated residual, 0 = warp only (0..4) [1] */
    float gate_lo, gate_hi;  /* residual gate on |luminance residual| (0..1) [0.05, 0.12] */
    float motion;       /* scale of the warp, 0 = residual only (0..4) [1] */
    float tps_lambda;   /* with landmarks: smoothing of the thin-plate spline (0..100) [0.02] */
    int refine_iters;   /* with landmarks: flow sweeps refining the spline's field, 0 = none (0..1000) [0] */
    float edge_feather; /* with landmarks: the generated residual's fade at the crop square's edge, instead of
                           feather (0..1] [0.15] */
    float face_fade;    /* with landmarks: the local motion covers the face (jaw and raised brows), also beyond the
                           crop square, and fades to zero over this many model pixels outside it (0..64] [12] */
    int residual_eyes;  /* with landmarks: the residual may also change the eyes, not only the mouth [0] */
    float eye_motion;   /* with landmarks: gain of the eyes' motion (0..4) [1.5]. When re_render_set_parts places
                           the lids from the driver, their opening's change is multiplied by it (72 pairs, lids by
                           the spline: eye r 0.588 at 1, 0.607 at 1.3, 0.621 at 1.6; since the opening is made at
                           the photo's resolution: 0.569 at 1.5, 0.587 at 2, 0.588 at 2.5, and 2 shuts half-closed
                           eyes); otherwise the local motion around the eyes,
                           where the 64 px decoder draws eyelid motion faintly, is, reduced as far as needed to keep
                           the warp from folding (eye r 0.532 -> 0.561 with residual_eyes 0) */
    float max_local;    /* the local motion is capped (smoothly) at this many model pixels (0..64] [8] */
    float min_det;      /* the warp may compress the photo to no less than this share of its area: the local
                           motion is scaled down until it holds, so the photo never folds over [0.2] */
    int threads;        /* threads for the per-pixel warp at the photo's resolution, 1..RE_RENDER_MAX_THREADS; 0:
                           one per core, at most 4 [0]. The output is the same for any count. */
} re_render_opts;
#define RE_RENDER_MAX_THREADS 16
RE_API void re_render_opts_default(re_render_opts *o);

/* What the last frame's rendering did (diagnostics and tests). */
typedef struct re_render_diag {
    float mean_flow;          /* mean |f| in model pixels over the face mask */
    float gate_area;          /* share of the model grid where the residual is used (mask-weighted gate mean) */
    float affine[6];          /* affine part of f, model pixels: (a0 x + a1 y + a2, a3 x + a4 y + a5) */
    float photo_spread_y, photo_spread_c;      /* the photo's luminance and chroma spread over the face */
    float decoder_spread_y, decoder_spread_c;  /* the same for the decoded source face */
    float gain_y, gain_c;     /* residual colour gains derived from them */
    int used_landmarks;       /* 1: the field came from the landmark pairs (thin-plate spline), 0: optical flow */
    float local_scale;        /* factor the local motion was scaled by to keep the warp from folding (1: none) */
    float eye_gain;           /* gain the eyes' local motion got (opts.eye_motion, or less where it would fold) */
} re_render_diag;

typedef struct re_render re_render;
/* photo: the image to animate (copied); fr: its face's crop square (face.h); res: the model's side (multiple of 4,
 * 8..1024); o may be NULL (defaults). RE_ERR_ARG for bad arguments or options, RE_ERR_NOMEM. For a face-only
 * output, pass the aligned crop as the photo and the frame {(K-1)/2, (K-1)/2, K/2, 0} of its K x K square. */
RE_API re_status re_render_create(re_render **r, const re_image *photo, const re_face_frame *fr, int res,
                                  const re_render_opts *o);
/* The decoded source code Ds, planar [3][res][res] floats in [0,1] (copied), and optionally its 68 landmarks in
 * model pixels (NULL: none). Must be called before apply. RE_ERR_NONFINITE for NaN/Inf values, RE_ERR_ARG for
 * landmarks that are not finite or far outside the face. */
RE_API re_status re_render_set_source(re_render *r, const float *src_face, const float (*lm)[2]);
/* Render one frame from the decoded driven code Dt ([3][res][res]) into out (the photo's size; media.h "Output
 * images" rule). With landmarks of Dt (model pixels) and of Ds, the motion field is the thin-plate spline through
 * the landmark pairs (refined by refine_iters flow sweeps); without either, optical flow between the two faces.
 * RE_ERR_ARG (no source set, bad arguments), RE_ERR_NONFINITE, RE_ERR_NOMEM. */
RE_API re_status re_render_apply(re_render *r, const float *gen_face, const float (*lm)[2], re_image *out);
/* The parts to take from the caller (re_render_parts, filled by re_steer_state_render_parts) for the following
 * re_render_apply calls (copied), or NULL: everything from the generated face's landmarks (the default). Used only
 * when both faces have landmarks. */
RE_API void re_render_set_parts(re_render *r, const re_render_parts *p);
/* Landmarks (model pixels) of a decoded face ([3][res][res]) for re_render_set_source / re_render_apply: the face is
 * upscaled to RE_ANIM_LANDMARK_SIZE; with *have_box == 0 it is detected and *have_box / box (the landmark box at
 * that size) are set, else it is landmarked in box, so pass the decoded source first and keep its box for every
 * frame (decoded faces stay where the alignment put them, and the same code always gives the same landmarks).
 * small and up are scratch images (media.h "Output images" rule). *found = 0 when no face is detected (RE_OK).
 * Errors: RE_ERR_ARG for NULL arguments, those of the resampler and the detector. */
RE_API re_status re_render_face_landmarks(re_face_detector *det, const float *face, int res, float box[4],
                                          int *have_box, re_image *small, re_image *up, float lm[RE_FACE_LANDMARKS][2],
                                          int *found);
/* The last frame's flow f (u, v: res*res floats each, model pixels, full field before the split). */
RE_API re_status re_render_get_flow(const re_render *r, float *u, float *v);
RE_API void re_render_get_diag(const re_render *r, re_render_diag *d);
RE_API void re_render_free(re_render *r);   /* NULL is fine */

/* Resize src to height h keeping the aspect ratio (width rounded to the nearest even number, at least 2). */
RE_API re_status re_image_fit_height(const re_image *src, int h, re_image *dst);
/* out = left | right side by side (same height required; RE_ERR_ARG otherwise). */
RE_API re_status re_image_hstack(const re_image *left, const re_image *right, re_image *out);

/* Storyboard (the paper's fig. 7): columns of a driving frame (top) above the generated frame (bottom), both
 * resized to `tile` pixels high, on white with 2-pixel gaps. Rows without a top image are left out. */
typedef struct re_storyboard re_storyboard;
/* tile: row height in pixels (16..1024); max_cols: columns kept (1..4096), later adds are ignored. */
RE_API re_status re_storyboard_create(re_storyboard **sb, int tile, int max_cols);
/* Add a column; top may be NULL (a storyboard whose columns all lack a top has one row). Copies the images. */
RE_API re_status re_storyboard_add(re_storyboard *sb, const re_image *top, const re_image *bottom);
RE_API int re_storyboard_cols(const re_storyboard *sb);
/* Render into out (RE_ERR_ARG when no column was added). */
RE_API re_status re_storyboard_render(const re_storyboard *sb, re_image *out);
RE_API void re_storyboard_free(re_storyboard *sb);   /* NULL is fine */

/* ---------------------------------------------------------------------------------------------------------
 * Motion files: the driving motion as latent deltas per frame, reusable for many photos (docs/FORMAT.md).
 * ------------------------------------------------------------------------------------------------------- */
#define RE_MOTION_FORMAT "reenact-motion"
#define RE_MOTION_VERSION 2      /* written when the file embeds audio; files without audio are written as 1 */
#define RE_MOTION_MAX_AUDIO ((int64_t)64 << 20)   /* embedded audio bytes at most */
#define RE_MOTION_MAX_FRAMES ((int64_t)10000000)
#define RE_MOTION_MAX_LATENT 65536

typedef struct re_motion {
    int latent;                /* latent size */
    int64_t frames;            /* >= 1 */
    int fps_num, fps_den;      /* driver frame rate */
    int ref_frame;             /* index of the reference frame: the first frame with a face */
    float *ref_latent;         /* [latent] z_drive(ref) */
    float *deltas;             /* [frames][latent] z_drive(t) - z_drive(ref), unsmoothed; frames without a face
                                  hold the last face's value (before the first face: 0) */
    float *landmarks;          /* [frames][68][2] normalized landmarks (re_anim_landmarks_normalize), or NULL */
    uint8_t *found;            /* [frames] 1 if a face was found in that frame */
    char model_sha256[65];     /* data_sha256 of the model that encoded the frames ("" if unknown) */
    int model_res;             /* the model's input side */
    uint8_t *audio;            /* the driver's audio stream, remuxed unchanged into Matroska (re_audio_extract), or
                                  NULL; animate writes it into the output unless asked not to */
    size_t audio_bytes;        /* its size */
    char *audio_path;          /* files of version 1: absolute path of the driving clip when it had audio, or NULL
                                  (read only; reenact now embeds the audio instead) */
    int64_t audio_size;        /* its size in bytes when audio_path is set (a changed file is not used) */
    char *driving_name;        /* file name of the driving clip (informational), or NULL */
} re_motion;

/* Allocate a motion with zeroed arrays (landmarks allocated when with_landmarks). RE_ERR_ARG for sizes out of
 * range, RE_ERR_NOMEM. */
RE_API re_status re_motion_create(re_motion **out, int latent, int64_t frames, int with_landmarks);
RE_API void re_motion_free(re_motion *m);   /* NULL is fine */
/* Write atomically as safetensors; deltas as F16 when f16 (half the size; error ~1e-3 relative) else F32.
 * RE_ERR_ARG for an inconsistent motion, RE_ERR_IO. */
RE_API re_status re_motion_save(const re_motion *m, const char *path, int f16);
/* Read and validate (format name and version, tensor names, dtypes and shapes, metadata, finite values). Errors:
 * those of the safetensors reader, RE_ERR_VERSION (another format or version), RE_ERR_MISSING / RE_ERR_UNKNOWN
 * (tensor absent / not expected), RE_ERR_SHAPE, RE_ERR_DTYPE, RE_ERR_BAD_HEADER (metadata), RE_ERR_NONFINITE. */
RE_API re_status re_motion_load(re_motion **out, const char *path);
RE_API re_status re_motion_load_mem(re_motion **out, const void *buf, size_t n, const char *what);
/* Is this motion usable with this model? RE_ERR_SHAPE for another latent size or input side, RE_ERR_CHECKSUM when
 * both know their model checksum and they differ (the message says to re-extract). `what` names the motion. */
RE_API re_status re_motion_check_model(const re_motion *mo, const re_model *m, const char *what);

/* ---------------------------------------------------------------------------------------------------------
 * The pipeline. Stages: decode the driving video -> track the face -> align (crop) -> encode (batched) ->
 * smooth + transfer -> decode (batched) -> compose (upscale / paste-back / side-by-side) -> encode the video.
 * With pipeline = 1 they run on three threads (reader+tracker, model, composer+writer = the caller's thread) joined
 * by bounded queues, so memory does not grow with the video's length.
 * ------------------------------------------------------------------------------------------------------- */
/* The reference driving frame, whose code and attributes the motion is measured from. RE_REF_FIRST: the first frame
 * with a face. RE_REF_BEST: the frame whose normalized landmarks are closest to the photo's (FOMM's find_best_frame),
 * for everything. RE_REF_POSE: the first frame, except the head's pose (the yaw, pitch and roll attributes), measured
 * from that best frame (re_steer_state_set_pose_ref): the head then turns about the photo's own pose rather than
 * about the driver's first pose. It needs the source's landmarks and a model with directions driving the attributes;
 * otherwise it is RE_REF_FIRST. */
typedef enum re_anim_ref { RE_REF_FIRST = 0, RE_REF_BEST = 1, RE_REF_POSE = 2 } re_anim_ref;
/* RE_RENDER_PHOTO: the photo's own pixels at its resolution, moved by the model's motion (re_render above);
 * RE_RENDER_MODEL: the decoded face itself, upscaled (paste-back blends it into the photo). */
typedef enum re_anim_render { RE_RENDER_PHOTO = 0, RE_RENDER_MODEL = 1 } re_anim_render;
/* RE_RENDER_PHOTO's motion field: from the 68 landmarks of the two decoded faces (found by the face detector at
 * RE_ANIM_LANDMARK_SIZE; optical flow when no face is found or the build has no dlib), or optical flow. */
typedef enum re_anim_field { RE_FIELD_LANDMARKS = 0, RE_FIELD_FLOW = 1 } re_anim_field;
#define RE_ANIM_LANDMARK_SIZE 256

typedef struct re_anim_progress {
    int64_t done;          /* frames written so far */
    int64_t total;         /* expected frames (an estimate for videos), -1 if unknown */
    double elapsed_s;      /* since the start of the run */
} re_anim_progress;
/* Return 0 to go on, non-zero to stop the run (it then fails with RE_ERR_INTERRUPTED and leaves no output). */
typedef int (*re_anim_progress_fn)(const re_anim_progress *p, void *user);

/* The largest |strength| re_animate and re_live_create accept (`reenact animate --strength` checks it too). */
#define RE_ANIM_STRENGTH_MAX 100

typedef struct re_anim_opts {
    const char *source;          /* source photo (PNG/JPEG) [required] */
    const char *driving;         /* driving video, or NULL when motion is set */
    const re_motion *motion;     /* driving motion (borrowed), instead of driving */
    const char *output;          /* output video (or PNG pattern "dir/frame_%05d.png"); NULL: no video (benchmarks) */
    re_video_format format;      /* [RE_VIDEO_AUTO: from the output's extension] */
    int crf;                     /* video quality, 0 = the writer's default */
    int out_size;                /* side of the face-only output video; 0 = automatic: with RE_RENDER_PHOTO the
                                    face's own size in the photo (64..1024), with RE_RENDER_MODEL 256 [0] */
    re_anim_render render;       /* what is shown [RE_RENDER_PHOTO] */
    re_render_opts render_opts;  /* RE_RENDER_PHOTO's settings [re_render_opts_default] */
    re_anim_field render_field;  /* RE_RENDER_PHOTO's motion field [RE_FIELD_LANDMARKS] */
    float strength;              /* s, |s| <= RE_ANIM_STRENGTH_MAX [1] */
    re_steer_opts steer;         /* motion controls (directions.h), used when the model has directions: attribute
                                    drive, motion space, region, lips/eyes, offsets [re_steer_opts_default]; with a
                                    model without directions anything but the defaults fails (RE_ERR_UNSUPPORTED) */
    re_anim_ref ref;             /* [RE_REF_POSE] */
    int smooth;                  /* temporal smoothing of the driving latents [1] */
    re_latent_filter_opts smooth_opts;
    int sample;                  /* 1: sampled z (mu + sigma * eps) for the source and each driving frame instead of
                                    mu (with a motion file: the source only) [0] */
    uint64_t seed;               /* for sample [0] */
    int aligned;                 /* 1: the source photo and the driving frames are already aligned face crops (no
                                    detection; each image is resized to the model's input) [0] */
    int paste_back;              /* output = the whole source photo, animated (RE_RENDER_PHOTO) or with the generated
                                    face pasted back (RE_RENDER_MODEL) [0] */
    int paste_max_side;          /* paste-back output: the photo downscaled so its longest side is at most this
                                    [1920] */
    float paste_feather;         /* RE_RENDER_MODEL's paste-back mask [0.25] */
    int side_by_side;            /* output = driver | generated; with a motion file the driver side shows the
                                    driving code decoded by the model [0] */
    const char *storyboard;      /* PNG path for a storyboard, or NULL */
    int storyboard_every;        /* one column every k frames; 0 = chosen for ~8 columns [0] */
    int storyboard_tile;         /* row height [128] */
    int audio;                   /* copy the driver's audio (or the motion file's audio source) [1] */
    int64_t max_frames;          /* stop after this many driving frames; 0 = all [0] */
    int batch;                   /* model batch [8] */
    int pipeline;                /* 1: stages on threads [1]; 0: all on the caller's thread, one batch at a time */
    int model_threads;           /* OpenMP threads of the model stage; 0 = automatic: pipelined, the cores left
                                    after the reader and writer threads (at least 1, at most re_get_threads());
                                    sequential, re_get_threads() [0] */
    re_precision precision;      /* model arithmetic: RE_PREC_BF16 runs the convolutions in bf16 (oneDNN backend on a
                                    CPU with bf16 support; else re_animate fails with RE_ERR_UNSUPPORTED) [F32] */
    re_face_detector *detector;  /* borrowed detector, or NULL to open the default one when needed */
    re_anim_progress_fn progress;  /* called on the caller's thread after each written frame, or NULL */
    void *progress_user;
    /* Called with each frame's code z_t (latent floats, valid during the call) before it is decoded, in frame order,
     * ON THE MODEL STAGE'S THREAD; for inspection and tests. NULL: not called. Not called by re_motion_extract. */
    void (*on_latent)(int64_t index, const float *z_t, void *user);
    void *latent_user;
} re_anim_opts;
RE_API void re_anim_opts_default(re_anim_opts *o);

/* Where the time went: seconds summed over the run, per stage (stages overlap when pipelined). */
typedef struct re_anim_times {
    double decode;       /* video decoding (FFmpeg) */
    double track;        /* face tracking (landmarks, detection when lost) */
    double align;        /* crop warping + conversion to floats */
    double encode;       /* model encoder */
    double transfer;     /* sampling, smoothing, transfer */
    double decode_model; /* model decoder */
    double compose;      /* upscaling, paste-back, side-by-side, storyboard */
    double write;        /* video encoding and muxing */
    double setup;        /* opening files, the detector, the source face, the reference pass (--ref best) */
    double model_setup;  /* the model stage's runner, warm-up and the source (and reference) codes */
} re_anim_times;

typedef struct re_anim_stats {
    int64_t frames;          /* driving frames processed = output frames */
    int64_t lost_frames;     /* driving frames without a face (the last face's code was held) */
    int64_t ref_frame;       /* driving frame used as the reference */
    int64_t pose_ref_frame;  /* RE_REF_POSE: the frame the head's pose is measured from; -1: none (ref_frame's) */
    int source_faces;        /* faces found in the source photo (the largest is used) */
    int fps_num, fps_den;    /* output frame rate (the driver's) */
    int out_w, out_h;        /* output frame size */
    re_audio_mode audio;     /* what happened to the audio */
    int audio_missing;       /* 1: the motion file's audio source is gone or changed (no audio written) */
    int storyboard_cols;
    double wall_s;           /* whole run */
    re_anim_times t;
} re_anim_stats;

/* Animate o->source with o->driving (or o->motion) and write o->output (and o->storyboard). Nothing is left at the
 * output paths on failure. Errors: RE_ERR_ARG (bad options), RE_ERR_NO_FACE (no face in the source photo, or in
 * any driving frame; the message names the file), the errors of the image/video readers and writer, of the face
 * detector and of the model, re_motion_check_model's. st may be NULL; it is filled as far as the run got. */
RE_API re_status re_animate(re_model *m, const re_anim_opts *o, re_anim_stats *st);

/* Extract the motion of a driving video. Uses o's driving-side fields only (aligned, max_frames, batch, pipeline,
 * model_threads, detector, progress; smoothing is not applied: it is chosen at animate time); o may be NULL.
 * driving overrides o->driving. *out is NULL on error. RE_ERR_NO_FACE when no frame has a face. */
RE_API re_status re_motion_extract(re_model *m, const char *driving, const re_anim_opts *o, re_motion **out,
                                   re_anim_stats *st);

#ifdef __cplusplus
}
#endif
#endif
