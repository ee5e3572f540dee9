/*
 * eval.h - what the files of `reenact eval` share: the run context, progress lines, the clip iterator and one entry
 * point per part. cmd_eval.c (options, the command, helpers), eval_recon.c (1. reconstruction), eval_clips.c
 * (aligned clip frames in batches; 2. self-reenactment), eval_cross.c (3. cross-identity motion fidelity). The
 * command and the JSON it writes are described at the top of cmd_eval.c and in docs/FORMAT.md ("eval JSON").
 */
#ifndef RE_CLI_EVAL_H
#define RE_CLI_EVAL_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "reenact/anim.h"
#include "reenact/data.h"
#include "reenact/directions.h"
#include "reenact/face.h"
#include "reenact/faceid.h"
#include "reenact/media.h"
#include "reenact/metrics.h"

#define CMD "eval"
#define EVAL_FORMAT_VERSION 1
#define PSNR_CAP 100.0 /* dB; identical images (MSE 0) are reported as this */
#define NFEAT 5
/* A driver's motion in a feature is measurable when the driver's own 64x64 crop, landmarked like the outputs,
 * follows its full-frame landmarks with at least this correlation: below it the feature barely moves in the clip
 * (yaw std 0.01 in fomm_04 and lp_d13: ceilings 0.47 and 0.28) and its correlation measures landmark noise. */
#define EV_MEASURABLE 0.8
static const char *const feat_names[NFEAT] __attribute__((unused)) = {"mouth_open", "eye_open", "yaw", "pitch",
                                                                       "smile"};

typedef struct ctx {
    re_model *m;
    re_runner *r;
    re_face_detector *det;
    int res, C, L, batch, align, quiet, lm_size, smooth;
    int series;          /* --series: per-frame features of driver and output in each cross-identity pair */
    re_latent_filter_opts smooth_opts; /* with --smooth: the filter's settings (animate's defaults unless set) */
    long max_images, max_frames;
    size_t per;          /* floats per image */
    float *x, *y, *z, *z2;
    re_image *crops;     /* [batch] aligned crops of the current batch */
    re_image img, up, tmp;
    re_face last_face;   /* ev_load_aligned: the largest face of the last image */
    int render;          /* --cross: -1 = the decoded 64x64 face itself (--render crop), else re_anim_render */
    int max_side;        /* --cross with a render: photos downscaled to this longest side */
    re_faceid *fid;      /* --id-model, or NULL */
    re_anim_field field; /* --field */
    float eye_motion;    /* --eye-motion: the photo render's eye gain (re_render_opts.eye_motion) */
    re_steer_opts steer; /* motion controls (steer_cli.h) */
    int steer_on;        /* steering applies: the model has directions and the options ask for it */
    const re_directions *dirs;
    float (*attr)[RE_ATTR_COUNT]; /* [batch] with steering: the driver's attributes (full-resolution landmarks) in
                                     each frame of the batch; attr[j][0] is NaN when frame j has none */
    re_render_parts *parts;   /* [batch] ev_transfer: the renderer's parts per frame (re_steer_state_render_parts) */
    int ref;             /* --ref: RE_REF_FIRST, RE_REF_BEST (per portrait, the driving frame whose landmarks are
                            closest to the portrait's) or RE_REF_POSE (the first, with the pose from that frame) */
    float (*lmn)[RE_FACE_LANDMARKS][2]; /* [batch] with --ref best: the frames' normalized landmarks (ev_clip_next) */
    int *lmn_ok;         /* [batch] with --ref best: lmn[j] is valid */
} ctx;


typedef struct prog {
    const char *what;
    double t0, last;
    int quiet;
} prog;

#ifdef RE_HAVE_FFMPEG
typedef struct clip_iter {
    const char *path;
    re_video_reader *rd;
    re_face_tracker *trk;
    re_image frame;
    long decoded;          /* frames decoded */
    long used;             /* frames handed out (from the first frame with a face) */
    long leading_no_face;  /* frames before the first face (skipped) */
    long lost;             /* frames after the first face in which the tracker found no face (last crop reused) */
    long total;            /* frames expected (container count, capped by --max-frames); <= 0 unknown */
    double fps;
    int eof;
    re_latent_filter *filt; /* --smooth: the driving codes' One-Euro filter, else NULL */
    float emb[RE_FACEID_DIM]; /* with --id-model: the driver's face (first frame with a face) */
    int has_emb;
} clip_iter;
#endif

/* ---- cmd_eval.c: shared helpers */
double ev_now_s(void);
void ev_prog_start(prog *p, const char *what, int quiet);
/* Progress line on stderr at most every 2 s, and always when final. total <= 0: unknown. */
void ev_prog_tick(prog *p, long done, long total, const char *unit, int final);
json_t *ev_jnum(double v);
json_t *ev_jstats(const re_stats *s);
/* The file name of a path (after its last '/'). */
const char *ev_base_name(const char *p);
void ev_free_list(char **v, size_t n);
re_status ev_list_images(const char *dir, char ***out, size_t *n_out);
re_status ev_load_aligned(ctx *c, const char *path, int align, re_image *crop, int *found, int *n_faces);
re_status ev_measure_small(ctx *c, const re_image *face, double f[NFEAT], int *found);

/* ---- eval_recon.c: 1. reconstruction (--faces, --dataset) */
re_status eval_faces(ctx *c, const char *dir, json_t **out);
re_status eval_dataset(ctx *c, const char *path, int val_only, double val_fraction, uint64_t seed, json_t **out);

#ifdef RE_HAVE_FFMPEG
/* ---- eval_clips.c: aligned clip frames in batches, and 2. self-reenactment (--clips) */
re_status ev_clip_open(ctx *c, clip_iter *it, const char *path);
void ev_clip_close(clip_iter *it);
/* A clip's JSON object with what its reading found: path, fps, frames used, leading frames without a face, lost. */
json_t *ev_clip_json(const char *path, const clip_iter *it);
/* The end of a clip's frames: the final progress line and ev_clip_json; when no frame had a face, the warning "no
 * face found in any of the N frames of <what>'<path>'; <left_out>" on stderr and "error" in the object. */
json_t *ev_clip_finish(prog *p, const clip_iter *it, const char *path, const char *what, const char *left_out);
re_status ev_clip_next(ctx *c, clip_iter *it, int *nb, int *found, double (*feat)[NFEAT]);
/* The transfer of one driver to one photo (re_steer_state: steered as animate does when c->steer_on, with the
 * driver's attributes smoothed at the clip's frame rate); a_photo: the photo's attributes or NULL. */
re_status ev_steer_open(const ctx *c, const clip_iter *it, const float *a_photo, re_steer_state **out);
void ev_transfer(const ctx *c, re_steer_state *sst, const float *zsrc, const float *zref, int nb);
void ev_smooth_codes(const ctx *c, re_latent_filter *f, int nb);
/* The clip's next batch (ev_clip_next; *nb = 0 at its end), encoded into c->z and smoothed (ev_smooth_codes). */
re_status ev_clip_next_codes(ctx *c, clip_iter *it, int *nb, int *found, double (*feat)[NFEAT]);
re_status eval_clips(ctx *c, char **clips, int n_clips, json_t **out);

/* ---- eval_cross.c: 3. cross-identity motion fidelity (--cross, --drivers) */
re_status eval_cross(ctx *c, char **ports, int n_ports, char **drivers, int n_drivers, json_t **out);
#endif

#endif
