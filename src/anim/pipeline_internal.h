/*
 * pipeline_internal.h - what the files of the animate pipeline share (include/reenact/anim.h, re_animate and
 * re_motion_extract): the run's context, the jobs that carry one driving frame through the stages, and the stage
 * and driver functions. pipeline.c (the entry points and the setup around a run), pipeline_stages.c (the three
 * stages: produce, model, consume), pipeline_threads.c (the bounded queues, the stage threads and the drivers that
 * run the stages threaded or one batch at a time). The stages and drivers exist only with FFmpeg (RE_HAVE_FFMPEG).
 */
#ifndef RE_ANIM_PIPELINE_INTERNAL_H
#define RE_ANIM_PIPELINE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "reenact/anim.h"
#include "reenact/directions.h"

/* Monotonic seconds, for the per-stage times of re_anim_stats. */
static inline double pipe_now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* re_animate, or re_motion_extract (the model stage collects the codes; nothing is decoded, rendered or written) */
typedef enum pipe_mode { MODE_ANIMATE = 0, MODE_EXTRACT = 1 } pipe_mode;

/* One driving frame on its way through the stages; a run owns a fixed pool of them (n_jobs). */
typedef struct pipe_job {
    int64_t index;
    int found;          /* a face was found in this driving frame (motion mode: the file's flag) */
    int want_drv;       /* this job's driver image is needed (side-by-side, storyboard column) */
    float *crop;        /* [3*res*res] aligned driver crop (video mode) */
    float lmn[RE_FACE_LANDMARKS][2];  /* normalized landmarks when found (extraction) */
    float attr[RE_ATTR_COUNT];        /* the driver's attributes (re_face_attributes) when attr_ok */
    int attr_ok;
    re_render_parts parts;            /* for the renderer (re_steer_state_render_parts) when parts_ok */
    int parts_ok;
    float *out;         /* [3*res*res] generated face */
    float *drv_out;     /* [3*res*res] decoded driving code (motion mode driver view) */
    float *z;           /* [latent] code to decode */
    float *zd;          /* [latent] absolute driving code (motion mode driver view) */
    re_image drv;       /* driver frame fitted to the output or tile height (video mode) */
} pipe_job;

/* A FIFO of jobs that can hold the whole pool, so a push never blocks (pipeline_threads.c). */
typedef struct pipe_queue {
    pipe_job **items;
    int cap, head, n, closed;
    pthread_cond_t cv;
} pipe_queue;

/* One run of re_animate or re_motion_extract: its options, the state of each stage and the pool of jobs. */
typedef struct pipe_ctx {
    const re_anim_opts *o;
    pipe_mode mode;
    re_model *m;
    int res, latent, img_floats;
    const char *driving;

    /* produce side */
    const re_motion *mo;
    re_video_reader *rd;
    re_video_info vi;
    re_face_detector *det, *det_owned;
    re_face_tracker *trk;
    re_image frame, crop_img;
    int64_t produced, limit;
    double t_drv_fit;                     /* driver-image resizing, done here but counted as compose */

    /* model side */
    re_runner *run;
    int batch, model_threads;
    float *zsrc, *zref, *zlast;
    float *src_crop, *ref_crop;           /* [img_floats] aligned source face; --ref best reference crop */
    int have_ref, have_last, ref_pending;
    re_latent_filter *filt;
    const re_directions *dirs;            /* steering (o->steer) applies when set: the driver's attributes are read */
    re_steer_state *steer;                /* the transfer, steered with dirs (anim.h) */
    float ref_attr[RE_ATTR_COUNT];        /* --ref best: the reference frame's attributes when has_ref_attr */
    int has_ref_attr;
    float *bin, *bmu, *blv, *bz, *bout;   /* batch buffers */
    int64_t mo_first_found;               /* motion mode: first frame with a face */
    char audio_tmp[PATH_MAX];             /* motion mode: the embedded audio as a temporary file ("" if none) */
    float *ex_z, *ex_lm;                  /* extraction: absolute codes and landmarks, grown as needed */
    uint8_t *ex_found;
    int64_t ex_n, ex_cap, ex_first;

    /* consume side */
    re_video_writer *vw;
    re_paste *paste;
    re_render *render;                    /* RE_RENDER_PHOTO: the photo-resolution renderer */
    float *src_dec;                       /* [img_floats] decode(z_src), set by the model stage */
    int render_ready;
    re_face_detector *rdet_owned;
    re_face_detector *rdet;               /* the renderer's landmark detector (a clone: used on the consume thread) */
    float rbox[4];                        /* landmark box of the decoded source face at RE_ANIM_LANDMARK_SIZE */
    int have_rbox;
    re_image lm_small, lm_up;             /* decoded face, and upscaled for landmarks */
    re_storyboard *sb;
    int sb_every;
    int out_w, out_h, face_w;             /* output frame and generated-part sizes */
    re_image face_img, gen, left, final, dimg;
    double t0;
    int64_t total;

    /* the jobs, and the threads' queues and error (pipeline_threads.c) */
    pipe_job *jobs;
    int n_jobs;
    pthread_mutex_t mu;
    pipe_queue q_free, q_model, q_out;
    int abort;
    re_status err;
    char errmsg[1024];

    re_anim_stats *st;
} pipe_ctx;

/* ---- pipeline_stages.c: the stages, per driving frame (produce, consume) or per batch (model) */
/* Stage 1 (reader + tracker thread): the next driving frame into j: decode it, track the face, warp the aligned
 * crop, the driver's attributes, its picture for side-by-side and the storyboard; with a motion, the frame's flags.
 * RE_VIDEO_EOF at the end (or at max_frames). */
re_status re_pipe_produce(pipe_ctx *c, pipe_job *j);
/* Stage 2, before the first batch, on the model thread: the runner, its warm-up, the photo's code (and its decoded
 * face for the renderer) and the --ref best reference code. */
re_status re_pipe_model_setup(pipe_ctx *c);
/* Stage 2 (model thread): encode the batch's crops, hold / sample / smooth, transfer or steer, decode; extraction
 * collects the codes instead. */
re_status re_pipe_model_batch(pipe_ctx *c, pipe_job **js, int n);
/* Stage 3 (the caller's thread): render or paste back, side-by-side and storyboard, write the video frame; counts
 * the frame and calls the progress callback. */
re_status re_pipe_consume(pipe_ctx *c, pipe_job *j);

/* ---- pipeline_threads.c */
/* Run the stages over the whole driver: threaded (o->pipeline) or one batch at a time on the caller's thread. */
re_status re_pipe_run(pipe_ctx *c);

#endif
