/*
 * pipeline.c - `reenact animate` and `reenact motion extract` as library calls (include/reenact/anim.h):
 * re_animate and re_motion_extract.
 *
 * Stages, per driving frame:  produce (decode the video frame, track the face, warp the aligned crop)
 *                          -> model   (encode a batch, sample/hold, smooth, transfer, decode the batch)
 *                          -> consume (upscale / paste-back / side-by-side, storyboard column, encode the video frame)
 * With opts.pipeline = 1 each stage has its own thread (produce: a worker, model: a worker, consume: the caller's
 * thread) and the stages exchange a fixed pool of 3 * batch + 2 jobs through FIFO queues, so memory is bounded
 * whatever the video's length and frames stay in order. With pipeline = 0 the same stage functions run one batch at a
 * time on the caller's thread. A failure anywhere stops all stages; the writer is then aborted, so no partial
 * output is left. Thread-local error messages are copied across threads.
 * Without FFmpeg (RE_HAVE_FFMPEG undefined) both entry points return RE_ERR_UNSUPPORTED.
 * Tested by tests/unit/test_anim.c and tests/cli/test_animate.sh; timed by bench/bench_animate.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "reenact/anim.h"
#include "reenact/directions.h"

void re_anim_opts_default(re_anim_opts *o) {
    memset(o, 0, sizeof *o);
    o->out_size = 0;
    o->render = RE_RENDER_PHOTO;
    re_render_opts_default(&o->render_opts);
    o->strength = 1.0f;
    o->ref = RE_REF_FIRST;
    o->smooth = 1;
    re_latent_filter_opts_default(&o->smooth_opts);
    o->paste_max_side = 1920;
    o->paste_feather = 0.25f;
    o->storyboard_tile = 128;
    o->audio = 1;
    o->batch = 8;
    o->pipeline = 1;
    re_steer_opts_default(&o->steer);
}

#ifndef RE_HAVE_FFMPEG
re_status re_animate(re_model *m, const re_anim_opts *o, re_anim_stats *st) {
    if (st) memset(st, 0, sizeof *st);
    return re_fail(RE_ERR_UNSUPPORTED, "animate needs video support, and this build has no FFmpeg");
}
re_status re_motion_extract(re_model *m, const char *driving, const re_anim_opts *o, re_motion **out,
                            re_anim_stats *st) {
    if (out) *out = NULL;
    if (st) memset(st, 0, sizeof *st);
    return re_fail(RE_ERR_UNSUPPORTED, "motion extraction needs video support, and this build has no FFmpeg");
}
#else

#define SB_MAX_COLS 64

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef enum run_mode { MODE_ANIMATE = 0, MODE_EXTRACT = 1 } run_mode;

typedef struct job {
    int64_t index;
    int found;          /* a face was found in this driving frame (motion mode: the file's flag) */
    int want_drv;       /* this job's driver image is needed (side-by-side, storyboard column) */
    float *crop;        /* [3*res*res] aligned driver crop (video mode) */
    float lmn[RE_FACE_LANDMARKS][2];  /* normalized landmarks when found (extraction) */
    float attr[RE_ATTR_COUNT];        /* the driver's attributes (re_face_attributes) when attr_ok */
    int attr_ok;
    float *out;         /* [3*res*res] generated face */
    float *drv_out;     /* [3*res*res] decoded driving code (motion mode driver view) */
    float *z;           /* [latent] code to decode */
    float *zd;          /* [latent] absolute driving code (motion mode driver view) */
    re_image drv;       /* driver frame fitted to the output or tile height (video mode) */
} job;

typedef struct jqueue {
    job **items;
    int cap, head, n, closed;
    pthread_cond_t cv;
} jqueue;

typedef struct ctx {
    const re_anim_opts *o;
    run_mode mode;
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
    const re_directions *dirs;            /* steering (o->steer) applies when set */
    re_latent_filter *afilt;              /* steering with smooth: the driver's attributes' filter */
    float a_photo[RE_ATTR_COUNT], aref[RE_ATTR_COUNT], alast[RE_ATTR_COUNT];
    int has_a_photo, have_aref, have_alast;
    float *steer_tmp;                     /* [3 * latent] */
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

    /* threads */
    job *jobs;
    int n_jobs;
    pthread_mutex_t mu;
    jqueue q_free, q_model, q_out;
    int abort;
    re_status err;
    char errmsg[1024];

    re_anim_stats *st;
} ctx;

/* ---- error propagation across threads --------------------------------------------------------------------- */
static void ctx_error(ctx *c, re_status s) {
    pthread_mutex_lock(&c->mu);
    if (c->err == RE_OK) {
        c->err = s;
        snprintf(c->errmsg, sizeof c->errmsg, "%s", re_last_error()[0] ? re_last_error() : re_status_str(s));
    }
    c->abort = 1;
    pthread_cond_broadcast(&c->q_free.cv);
    pthread_cond_broadcast(&c->q_model.cv);
    pthread_cond_broadcast(&c->q_out.cv);
    pthread_mutex_unlock(&c->mu);
}

static re_status jq_init(jqueue *q, int cap) {
    memset(q, 0, sizeof *q);
    q->items = re_alloc((size_t)cap * sizeof *q->items, "job queue");
    if (!q->items) return RE_ERR_NOMEM;
    q->cap = cap;
    pthread_cond_init(&q->cv, NULL);
    return RE_OK;
}

static void jq_free(jqueue *q) {
    if (!q->items) return;
    pthread_cond_destroy(&q->cv);
    re_free(q->items);
    q->items = NULL;
}

/* Never blocks: the queues can hold every job of the pool. */
static void jq_push(ctx *c, jqueue *q, job *j) {
    pthread_mutex_lock(&c->mu);
    q->items[(q->head + q->n) % q->cap] = j;
    q->n++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Next job, or NULL when the queue is closed and empty or the run was aborted. */
static job *jq_pop(ctx *c, jqueue *q) {
    job *j = NULL;
    pthread_mutex_lock(&c->mu);
    while (q->n == 0 && !q->closed && !c->abort) pthread_cond_wait(&q->cv, &c->mu);
    if (q->n > 0 && !c->abort) {
        j = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->n--;
    }
    pthread_mutex_unlock(&c->mu);
    return j;
}

static void jq_close(ctx *c, jqueue *q) {
    pthread_mutex_lock(&c->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&c->mu);
}

static int aborted(ctx *c) {
    pthread_mutex_lock(&c->mu);
    int a = c->abort;
    pthread_mutex_unlock(&c->mu);
    return a;
}

/* Width of an image w x h fitted to height h2 (re_image_fit_height's rule). */
static int fit_width(int w, int h, int h2) {
    long fw = 2 * lround((double)w * h2 / h / 2.0);
    return fw < 2 ? 2 : (int)fw;
}

/* ---- stage 1: produce ------------------------------------------------------------------------------------- */
static re_status produce(ctx *c, job *j) {
    const re_anim_opts *o = c->o;
    if (c->limit > 0 && c->produced >= c->limit) return RE_VIDEO_EOF;
    j->index = c->produced;
    j->want_drv = 0;
    if (c->mode == MODE_ANIMATE && c->sb && j->index % c->sb_every == 0) j->want_drv = 1;
    if (c->mode == MODE_ANIMATE && o->side_by_side) j->want_drv = 1;
    if (c->mo) {
        if (j->index >= c->mo->frames) return RE_VIDEO_EOF;
        j->found = c->mo->found[j->index];
        j->attr_ok = c->dirs && j->found && c->mo->landmarks &&
                     re_face_attributes((const float(*)[2])(c->mo->landmarks + (size_t)j->index * 136), j->attr) == RE_OK;
        c->produced++;
        return RE_OK;
    }
    double t = now_s();
    re_status s = re_video_reader_next(c->rd, &c->frame, NULL);
    c->st->t.decode += now_s() - t;
    if (s == RE_VIDEO_EOF) return s;
    if (s != RE_OK) return re_fail_ctx(s, "driving video '%s', frame %" PRId64, c->driving, j->index);
    if (o->aligned) {
        j->found = 1;
        j->attr_ok = 0;
        t = now_s();
        s = re_image_resize(&c->frame, &c->crop_img, c->res, c->res);
    } else {
        re_face_track tr;
        t = now_s();
        s = re_face_tracker_update(c->trk, &c->frame, &tr);
        double t2 = now_s();
        c->st->t.track += t2 - t;
        t = t2;
        if (s != RE_OK) return re_fail_ctx(s, "face tracking in '%s', frame %" PRId64, c->driving, j->index);
        j->found = tr.found;
        if (tr.found && re_anim_landmarks_normalize(tr.face.lm, j->lmn) != RE_OK) j->found = 0;
        j->attr_ok = c->dirs && j->found && re_face_attributes(tr.face.lm, j->attr) == RE_OK;
        s = re_image_warp_affine(&c->frame, &c->crop_img, c->res, c->res, tr.m_dst_to_src, RE_BORDER_REPLICATE);
    }
    if (s == RE_OK) re_image_to_chw(&c->crop_img, j->crop);
    c->st->t.align += now_s() - t;
    if (s != RE_OK) return s;
    if (j->want_drv) {
        t = now_s();
        s = re_image_fit_height(&c->frame, o->side_by_side ? c->out_h : o->storyboard_tile, &j->drv);
        c->t_drv_fit += now_s() - t;
        if (s != RE_OK) return s;
    }
    c->produced++;
    return RE_OK;
}

/* ---- stage 2: model --------------------------------------------------------------------------------------- */
static re_status ex_append(ctx *c, const job *j, const float *z) {
    if (c->ex_n == c->ex_cap) {
        int64_t cap = c->ex_cap ? 2 * c->ex_cap : 256;
        if (cap > RE_MOTION_MAX_FRAMES) cap = RE_MOTION_MAX_FRAMES;
        if (c->ex_n >= cap)
            return re_fail(RE_ERR_TOO_LARGE, "'%s' has more than %" PRId64 " frames, the motion file limit", c->driving,
                           RE_MOTION_MAX_FRAMES);
        float *nz = realloc(c->ex_z, (size_t)cap * (size_t)c->latent * sizeof *nz);
        if (nz) c->ex_z = nz;
        float *nl = realloc(c->ex_lm, (size_t)cap * RE_FACE_LANDMARKS * 2 * sizeof *nl);
        if (nl) c->ex_lm = nl;
        uint8_t *nf = realloc(c->ex_found, (size_t)cap);
        if (nf) c->ex_found = nf;
        if (!nz || !nl || !nf) return re_fail(RE_ERR_NOMEM, "out of memory for %" PRId64 " frames of motion", cap);
        c->ex_cap = cap;
    }
    float *zd = c->ex_z + (size_t)c->ex_n * c->latent;
    float *ld = c->ex_lm + (size_t)c->ex_n * RE_FACE_LANDMARKS * 2;
    if (z) memcpy(zd, z, (size_t)c->latent * sizeof *zd);
    else memset(zd, 0, (size_t)c->latent * sizeof *zd);
    if (j->found && !c->o->aligned) memcpy(ld, j->lmn, sizeof j->lmn);
    else if (c->ex_n > 0) memcpy(ld, ld - RE_FACE_LANDMARKS * 2, sizeof j->lmn);
    else memset(ld, 0, sizeof j->lmn);
    c->ex_found[c->ex_n] = (uint8_t)(j->found != 0);
    if (j->found && c->ex_first < 0) c->ex_first = c->ex_n;
    c->ex_n++;
    return RE_OK;
}

/* Steering (directions.h): the driver's attributes (smoothed like the codes, held when no face), their change since
 * the reference frame (the mouth: since the photo's own), then z = zsrc + re_steer_apply(z - zref). */
static void steer(ctx *c, job *j) {
    const int L = c->latent;
    if (j->attr_ok) {
        if (c->afilt) re_latent_filter_apply(c->afilt, j->attr);
        memcpy(c->alast, j->attr, sizeof c->alast);
        c->have_alast = 1;
    }
    if (!c->have_aref && c->have_alast) {
        memcpy(c->aref, c->alast, sizeof c->aref);
        c->have_aref = 1;
    }
    float da[RE_ATTR_COUNT] = {0}, *dz = c->steer_tmp;
    if (c->have_aref) re_steer_attr_delta(&c->o->steer, c->alast, c->aref, c->has_a_photo ? c->a_photo : NULL, da);
    for (int i = 0; i < L; i++) dz[i] = j->z[i] - c->zref[i];
    re_steer_apply(c->dirs, &c->o->steer, dz, c->have_aref ? da : NULL, c->o->strength, dz, c->steer_tmp + L);
    for (int i = 0; i < L; i++) j->z[i] = c->zsrc[i] + dz[i];
}

static re_status model_batch(ctx *c, job **js, int n) {
    const re_anim_opts *o = c->o;
    const int L = c->latent, F = c->img_floats;
    re_status s = RE_OK;
    double t;
    if (!c->mo) {
        /* encode the crops of the frames with a face */
        int nf = 0;
        for (int i = 0; i < n; i++)
            if (js[i]->found) memcpy(c->bin + (size_t)nf++ * F, js[i]->crop, (size_t)F * sizeof(float));
        if (nf > 0) {
            t = now_s();
            s = re_encode(c->run, c->bin, nf, c->bmu, c->blv);
            c->st->t.encode += now_s() - t;
            if (s != RE_OK) return re_fail_ctx(s, "encoding driving frames");
        }
    }
    t = now_s();
    int k = 0, nd = 0;
    for (int i = 0; i < n; i++) {
        job *j = js[i];
        const float *zdrive = NULL;   /* this frame's driving code (motion mode: its delta), NULL before any face */
        if (c->mo) {
            if (j->index >= c->mo_first_found) zdrive = c->mo->deltas + (size_t)j->index * L;
        } else if (j->found) {
            float *mu = c->bmu + (size_t)k * L;
            if (o->sample && c->mode == MODE_ANIMATE)
                re_anim_sample(mu, c->blv + (size_t)k * L, L, o->seed, (uint64_t)j->index + 1, mu);
            memcpy(c->zlast, mu, (size_t)L * sizeof(float));
            c->have_last = 1;
            zdrive = c->zlast;
            k++;
        } else if (c->have_last) {
            zdrive = c->zlast;   /* no face: hold the last face's code */
        }
        if (!j->found) c->st->lost_frames++;
        if (c->mode == MODE_EXTRACT) {
            s = ex_append(c, j, zdrive);
            if (s != RE_OK) return s;
            continue;
        }
        if (!zdrive) {   /* before the first face: the source as it is */
            memcpy(j->z, c->zsrc, (size_t)L * sizeof(float));
            if (c->mo) memcpy(j->zd, c->mo->ref_latent, (size_t)L * sizeof(float));
        } else {
            if (!c->have_ref) {   /* --ref first: the first frame with a face */
                memcpy(c->zref, zdrive, (size_t)L * sizeof(float));
                c->have_ref = 1;
                c->st->ref_frame = j->index;
            }
            memcpy(j->z, zdrive, (size_t)L * sizeof(float));
            if (c->filt) re_latent_filter_apply(c->filt, j->z);
            if (c->mo)   /* absolute driving code, for the driver view */
                for (int d = 0; d < L; d++) j->zd[d] = c->mo->ref_latent[d] + j->z[d];
            if (c->dirs) steer(c, j);
            else re_anim_transfer(c->zsrc, j->z, c->zref, o->strength, L, j->z);
        }
        memcpy(c->bz + (size_t)i * L, j->z, (size_t)L * sizeof(float));
        if (o->on_latent) o->on_latent(j->index, j->z, o->latent_user);
        if (c->mo && j->want_drv) nd++;
    }
    c->st->t.transfer += now_s() - t;
    if (c->mode == MODE_EXTRACT) return RE_OK;
    t = now_s();
    s = re_decode(c->run, c->bz, n, c->bout);
    if (s == RE_OK)
        for (int i = 0; i < n; i++) memcpy(js[i]->out, c->bout + (size_t)i * F, (size_t)F * sizeof(float));
    if (s == RE_OK && nd > 0) {   /* motion mode driver view: decode the driving codes too */
        int q = 0;
        for (int i = 0; i < n; i++)
            if (js[i]->want_drv) memcpy(c->bz + (size_t)q++ * L, js[i]->zd, (size_t)L * sizeof(float));
        s = re_decode(c->run, c->bz, q, c->bout);
        q = 0;
        for (int i = 0; s == RE_OK && i < n; i++)
            if (js[i]->want_drv) memcpy(js[i]->drv_out, c->bout + (size_t)q++ * F, (size_t)F * sizeof(float));
    }
    c->st->t.decode_model += now_s() - t;
    if (s != RE_OK) return re_fail_ctx(s, "decoding generated frames");
    return RE_OK;
}

/* ---- stage 3: consume ------------------------------------------------------------------------------------- */

/* Landmarks of a decoded face for the renderer (re_render_face_landmarks with the composer's detector clone);
 * *ok = 0 when no detector is open or no face is found: the renderer then uses optical flow. */
static re_status decoded_landmarks(ctx *c, const float *face, float lm[RE_FACE_LANDMARKS][2], int *ok) {
    *ok = 0;
    if (!c->rdet) return RE_OK;
    return re_render_face_landmarks(c->rdet, face, c->res, c->rbox, &c->have_rbox, &c->lm_small, &c->lm_up, lm, ok);
}

static re_status consume(ctx *c, job *j) {
    const re_anim_opts *o = c->o;
    re_status s = RE_OK;
    if (c->mode == MODE_ANIMATE) {
        double t = now_s();
        if (c->render) {   /* the renderer reads the decoded face as floats: no 8-bit copy of it */
            float lm[RE_FACE_LANDMARKS][2];
            int lm_found = 0;
            if (!c->render_ready) {   /* src_dec was written by the model stage before it queued any frame */
                s = decoded_landmarks(c, c->src_dec, lm, &lm_found);
                if (s == RE_OK) s = re_render_set_source(c->render, c->src_dec, lm_found ? (const float(*)[2])lm : NULL);
                if (s == RE_OK && !lm_found) c->rdet = NULL;   /* no face in the decoded source: flow throughout */
                c->render_ready = s == RE_OK;
            }
            if (s == RE_OK) s = decoded_landmarks(c, j->out, lm, &lm_found);
            if (s == RE_OK) s = re_render_apply(c->render, j->out, lm_found ? (const float(*)[2])lm : NULL, &c->gen);
        } else {
            s = re_image_from_chw(&c->face_img, j->out, c->res, c->res);
            if (s == RE_OK) {
                if (c->paste) s = re_paste_apply(c->paste, &c->face_img, &c->gen);
                else if (c->face_w == c->res) s = re_image_copy(&c->gen, &c->face_img);
                else s = re_image_resize(&c->face_img, &c->gen, c->face_w, c->face_w);
            }
        }
        const re_image *left = NULL;
        if (s == RE_OK && j->want_drv) {
            if (c->mo) {
                s = re_image_from_chw(&c->dimg, j->drv_out, c->res, c->res);
                if (s == RE_OK) s = re_image_resize(&c->dimg, &c->left, c->out_h, c->out_h);
                left = &c->left;
            } else {
                left = &j->drv;
            }
        }
        const re_image *fin = &c->gen;
        if (s == RE_OK && o->side_by_side) {
            s = re_image_hstack(left, &c->gen, &c->final);
            fin = &c->final;
        }
        if (s == RE_OK && c->sb && j->index % c->sb_every == 0) s = re_storyboard_add(c->sb, left, &c->gen);
        double t2 = now_s();
        c->st->t.compose += t2 - t;
        if (s == RE_OK && c->vw) {
            s = re_video_writer_write(c->vw, fin);
            c->st->t.write += now_s() - t2;
            if (s != RE_OK) s = re_fail_ctx(s, "writing '%s', frame %" PRId64, o->output, j->index);
        }
        if (s != RE_OK) return s;
    }
    c->st->frames++;
    if (o->progress) {
        re_anim_progress p = {c->st->frames, c->total, now_s() - c->t0};
        if (o->progress(&p, o->progress_user))
            return re_fail(RE_ERR_INTERRUPTED, "stopped at frame %" PRId64, c->st->frames);
    }
    return RE_OK;
}

/* ---- model stage setup ------------------------------------------------------------------------------------
 * oneDNN (built with its default library-managed scratchpad) requires each primitive to run on the thread that
 * created it, so the runner is created here, on the model stage's thread, and every model call stays there:
 * the warm-up (the backend's first calls are slow), the source code, and the --ref best reference code. */
static re_status model_setup(ctx *c) {
    const re_anim_opts *o = c->o;
    double t = now_s();
    re_status s = re_runner_create_ex(&c->run, c->m, c->batch, o->precision);
    if (s == RE_OK) s = re_encode(c->run, c->bin, c->batch, c->bmu, c->blv);
    if (s == RE_OK && c->mode == MODE_ANIMATE) s = re_decode(c->run, c->bz, c->batch, c->bout);
    if (s == RE_OK && c->mode == MODE_ANIMATE) {
        s = re_encode(c->run, c->src_crop, 1, c->zsrc, c->blv);
        if (s == RE_OK && o->sample) re_anim_sample(c->zsrc, c->blv, c->latent, o->seed, 0, c->zsrc);
        /* the photo renderer's reference: the source's own code decoded (frames are rendered relative to it) */
        if (s == RE_OK && c->src_dec) s = re_decode(c->run, c->zsrc, 1, c->src_dec);
    }
    if (s == RE_OK && c->ref_pending) {
        s = re_encode(c->run, c->ref_crop, 1, c->zref, c->blv);
        if (s == RE_OK && o->sample)
            re_anim_sample(c->zref, c->blv, c->latent, o->seed, (uint64_t)c->st->ref_frame + 1, c->zref);
        c->have_ref = s == RE_OK;
    }
    c->st->t.model_setup += now_s() - t;
    if (s != RE_OK) return re_fail_ctx(s, "preparing the model");
    return RE_OK;
}

/* ---- drivers ---------------------------------------------------------------------------------------------- */
static re_status run_sequential(ctx *c) {
    job **js = re_alloc((size_t)c->batch * sizeof *js, "batch");
    if (!js) return RE_ERR_NOMEM;
    re_status s = RE_OK;
    const int saved = omp_get_max_threads();
    omp_set_num_threads(c->model_threads);
    s = model_setup(c);
    for (int eof = 0; !eof && s == RE_OK;) {
        int n = 0;
        while (n < c->batch) {
            js[n] = &c->jobs[n];
            s = produce(c, js[n]);
            if (s == RE_VIDEO_EOF) {
                eof = 1;
                s = RE_OK;
                break;
            }
            if (s != RE_OK) break;
            n++;
        }
        if (s == RE_OK && n > 0) s = model_batch(c, js, n);
        for (int i = 0; s == RE_OK && i < n; i++) s = consume(c, js[i]);
    }
    omp_set_num_threads(saved);
    re_free(js);
    return s;
}

static void *produce_thread(void *arg) {
    ctx *c = arg;
    omp_set_num_threads(1);
    for (;;) {
        job *j = jq_pop(c, &c->q_free);
        if (!j) break;
        re_status s = produce(c, j);
        if (s == RE_VIDEO_EOF) break;
        if (s != RE_OK) {
            ctx_error(c, s);
            break;
        }
        jq_push(c, &c->q_model, j);
    }
    jq_close(c, &c->q_model);
    return NULL;
}

static void *model_thread(void *arg) {
    ctx *c = arg;
    omp_set_num_threads(c->model_threads);
    job **js = re_alloc((size_t)c->batch * sizeof *js, "batch");
    re_status s0 = js ? model_setup(c) : RE_ERR_NOMEM;
    if (s0 != RE_OK) ctx_error(c, s0);
    for (int done = s0 != RE_OK; !done;) {
        int n = 0;
        while (n < c->batch) {
            job *j = jq_pop(c, &c->q_model);
            if (!j) {
                done = 1;
                break;
            }
            js[n++] = j;
        }
        if (n == 0 || aborted(c)) break;
        re_status s = model_batch(c, js, n);
        if (s != RE_OK) {
            ctx_error(c, s);
            break;
        }
        for (int i = 0; i < n; i++) jq_push(c, &c->q_out, js[i]);
    }
    re_free(js);
    /* oneDNN keeps a per-thread scratchpad that is released only when the primitives are destroyed on the thread
     * that created them: free the runner here, not after the join */
    re_runner_free(c->run);
    c->run = NULL;
    jq_close(c, &c->q_out);
    return NULL;
}

static re_status run_threaded(ctx *c) {
    re_status s = jq_init(&c->q_free, c->n_jobs);
    if (s == RE_OK) s = jq_init(&c->q_model, c->n_jobs);
    if (s == RE_OK) s = jq_init(&c->q_out, c->n_jobs);
    if (s != RE_OK) return s;
    for (int i = 0; i < c->n_jobs; i++) jq_push(c, &c->q_free, &c->jobs[i]);
    pthread_t tp, tm;
    if (pthread_create(&tp, NULL, produce_thread, c) != 0) return re_fail(RE_ERR_NOMEM, "cannot start a thread");
    if (pthread_create(&tm, NULL, model_thread, c) != 0) {
        ctx_error(c, re_fail(RE_ERR_NOMEM, "cannot start a thread"));
        pthread_join(tp, NULL);
        return c->err;
    }
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);   /* the compose stage shares the cores with the other two */
    for (;;) {
        job *j = jq_pop(c, &c->q_out);
        if (!j) break;
        s = consume(c, j);
        if (s != RE_OK) {
            ctx_error(c, s);
            break;
        }
        jq_push(c, &c->q_free, j);
    }
    omp_set_num_threads(saved);
    pthread_join(tp, NULL);
    pthread_join(tm, NULL);
    if (c->err != RE_OK) return re_fail(c->err, "%s", c->errmsg);
    return RE_OK;
}

/* ---- setup ------------------------------------------------------------------------------------------------ */
static re_status open_detector(ctx *c) {
    if (c->det) return RE_OK;
    if (c->o->detector) {
        c->det = c->o->detector;
        return RE_OK;
    }
    re_status s = re_face_detector_open(&c->det_owned, NULL);
    if (s != RE_OK) return s;
    c->det = c->det_owned;
    return RE_OK;
}

static re_status open_reader(ctx *c) {
    re_status s = re_video_reader_open(&c->rd, c->driving);
    if (s != RE_OK) return re_fail_ctx(s, "cannot read driving video '%s'", c->driving);
    c->vi = re_video_reader_info(c->rd);
    return RE_OK;
}

static re_status alloc_jobs(ctx *c) {
    c->n_jobs = c->o->pipeline ? 3 * c->batch + 2 : c->batch;
    c->jobs = re_alloc((size_t)c->n_jobs * sizeof *c->jobs, "jobs");
    if (!c->jobs) return RE_ERR_NOMEM;
    const size_t F = (size_t)c->img_floats, L = (size_t)c->latent;
    for (int i = 0; i < c->n_jobs; i++) {
        job *j = &c->jobs[i];
        j->crop = re_alloc(F * sizeof(float), "job");
        j->out = re_alloc(F * sizeof(float), "job");
        j->drv_out = re_alloc(F * sizeof(float), "job");
        j->z = re_alloc(L * sizeof(float), "job");
        j->zd = re_alloc(L * sizeof(float), "job");
        if (!j->crop || !j->out || !j->drv_out || !j->z || !j->zd) return RE_ERR_NOMEM;
    }
    const size_t B = (size_t)c->batch;
    c->bin = re_alloc(B * F * sizeof(float), "batch");
    c->bout = re_alloc(B * F * sizeof(float), "batch");
    c->bmu = re_alloc(B * L * sizeof(float), "batch");
    c->blv = re_alloc(B * L * sizeof(float), "batch");
    c->bz = re_alloc(B * L * sizeof(float), "batch");
    c->zsrc = re_alloc(L * sizeof(float), "latent");
    c->zref = re_alloc(L * sizeof(float), "latent");
    c->zlast = re_alloc(L * sizeof(float), "latent");
    c->src_crop = re_alloc(F * sizeof(float), "source crop");
    c->ref_crop = re_alloc(F * sizeof(float), "reference crop");
    if (!c->src_crop || !c->ref_crop) return RE_ERR_NOMEM;
    if (!c->bin || !c->bout || !c->bmu || !c->blv || !c->bz || !c->zsrc || !c->zref || !c->zlast) return RE_ERR_NOMEM;
    return RE_OK;
}

static void ctx_free(ctx *c) {
    if (c->jobs)
        for (int i = 0; i < c->n_jobs; i++) {
            job *j = &c->jobs[i];
            re_free(j->crop);
            re_free(j->out);
            re_free(j->drv_out);
            re_free(j->z);
            re_free(j->zd);
            re_image_free(&j->drv);
        }
    re_free(c->jobs);
    re_free(c->bin);
    re_free(c->bout);
    re_free(c->bmu);
    re_free(c->blv);
    re_free(c->bz);
    re_free(c->zsrc);
    re_free(c->zref);
    re_free(c->zlast);
    re_free(c->src_crop);
    re_free(c->ref_crop);
    free(c->ex_z);
    free(c->ex_lm);
    free(c->ex_found);
    jq_free(&c->q_free);
    jq_free(&c->q_model);
    jq_free(&c->q_out);
    re_latent_filter_free(c->filt);
    re_latent_filter_free(c->afilt);
    free(c->steer_tmp);
    re_runner_free(c->run);
    re_face_tracker_free(c->trk);
    re_face_detector_free(c->det_owned);
    re_video_reader_close(c->rd);
    re_video_writer_abort(c->vw);   /* NULL after a successful close */
    re_paste_free(c->paste);
    re_render_free(c->render);
    re_face_detector_free(c->rdet_owned);
    re_image_free(&c->lm_up);
    re_image_free(&c->lm_small);
    re_free(c->src_dec);
    re_storyboard_free(c->sb);
    re_image_free(&c->frame);
    re_image_free(&c->crop_img);
    re_image_free(&c->face_img);
    re_image_free(&c->gen);
    re_image_free(&c->left);
    re_image_free(&c->final);
    re_image_free(&c->dimg);
    pthread_mutex_destroy(&c->mu);
    if (c->audio_tmp[0]) remove(c->audio_tmp);   /* after the writer (which reads it) is closed or aborted */
}

static re_status check_opts(const re_anim_opts *o, run_mode mode) {
    if (o->batch < 1 || o->batch > 256) return re_fail(RE_ERR_ARG, "batch must be 1..256, got %d", o->batch);
    if (o->model_threads < 0 || o->model_threads > 1024)
        return re_fail(RE_ERR_ARG, "model_threads must be 0..1024, got %d", o->model_threads);
    if (o->max_frames < 0) return re_fail(RE_ERR_ARG, "max_frames must be >= 0");
    if (o->precision != RE_PREC_F32 && o->precision != RE_PREC_BF16)
        return re_fail(RE_ERR_ARG, "unknown precision %d", (int)o->precision);
    if (mode == MODE_EXTRACT) return RE_OK;
    if (!o->source) return re_fail(RE_ERR_ARG, "no source photo given");
    if (!o->driving == !o->motion) return re_fail(RE_ERR_ARG, "give exactly one of a driving video and a motion");
    if (!isfinite(o->strength) || fabsf(o->strength) > 100)
        return re_fail(RE_ERR_ARG, "strength must be a finite number in [-100,100], got %g", o->strength);
    if (o->out_size != 0 && (o->out_size < 16 || o->out_size > 4096))
        return re_fail(RE_ERR_ARG, "output size must be 16..4096 (or 0: automatic), got %d", o->out_size);
    if (o->render != RE_RENDER_PHOTO && o->render != RE_RENDER_MODEL)
        return re_fail(RE_ERR_ARG, "unknown render mode %d", (int)o->render);
    if (o->render_field != RE_FIELD_LANDMARKS && o->render_field != RE_FIELD_FLOW)
        return re_fail(RE_ERR_ARG, "unknown render field %d", (int)o->render_field);
    if (o->ref != RE_REF_FIRST && o->ref != RE_REF_BEST) return re_fail(RE_ERR_ARG, "unknown reference mode %d", o->ref);
    if (o->paste_back && (o->paste_max_side < 16 || !(o->paste_feather > 0 && o->paste_feather <= 1)))
        return re_fail(RE_ERR_ARG, "paste-back needs paste_max_side >= 16 and feather in (0,1]");
    if (o->storyboard && (o->storyboard_every < 0 || o->storyboard_tile < 16 || o->storyboard_tile > 1024))
        return re_fail(RE_ERR_ARG, "storyboard needs every >= 0 and a tile of 16..1024 pixels");
    if (!o->output && !o->storyboard && !o->progress) return re_fail(RE_ERR_ARG, "nothing to write: no output given");
    return RE_OK;
}

static re_status ctx_init(ctx *c, re_model *m, const re_anim_opts *o, run_mode mode, re_anim_stats *st) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->o = o;
    c->mode = mode;
    c->m = m;
    c->st = st;
    c->t0 = now_s();
    c->ex_first = -1;
    const re_config *cf = re_model_config(m);
    c->res = cf->res;
    c->latent = cf->latent;
    c->img_floats = cf->channels * cf->res * cf->res;
    if (cf->channels != 3) return re_fail(RE_ERR_CONFIG, "animate needs an RGB model, this one has %d channels", cf->channels);
    c->batch = o->batch;
    c->model_threads = o->model_threads;
    if (c->model_threads <= 0) {
        /* pipelined, the reader and the writer keep two cores busy already: give the model the rest (at least one),
         * never more than the caller allows; an OpenMP team larger than the free cores stalls at every barrier */
        c->model_threads = re_get_threads();
        const int rest = omp_get_num_procs() - 2;
        if (o->pipeline && c->model_threads > rest) c->model_threads = rest > 1 ? rest : 1;
    }
    c->limit = o->max_frames;
    return alloc_jobs(c);
}

/* The reference pass of --ref best on a video: track every frame, keep the crop whose normalized landmarks are
 * closest to the source's, then rewind. */
static re_status best_ref_pass(ctx *c, const float src_lmn[RE_FACE_LANDMARKS][2], float *best_crop) {
    double best = INFINITY;
    int64_t n = 0;
    float lmn[RE_FACE_LANDMARKS][2];
    re_status s = RE_OK;
    for (; c->limit == 0 || n < c->limit; n++) {
        s = re_video_reader_next(c->rd, &c->frame, NULL);
        if (s == RE_VIDEO_EOF) break;
        if (s != RE_OK) return re_fail_ctx(s, "driving video '%s', frame %" PRId64, c->driving, n);
        re_face_track tr;
        s = re_face_tracker_update(c->trk, &c->frame, &tr);
        if (s != RE_OK) return re_fail_ctx(s, "face tracking in '%s', frame %" PRId64, c->driving, n);
        if (!tr.found || re_anim_landmarks_normalize(tr.face.lm, lmn) != RE_OK) continue;
        double d = re_anim_landmarks_distance(lmn, src_lmn);
        if (d < best) {
            best = d;
            c->st->ref_frame = n;
            if (c->dirs) c->have_aref = re_face_attributes(tr.face.lm, c->aref) == RE_OK;
            s = re_image_warp_affine(&c->frame, &c->crop_img, c->res, c->res, tr.m_dst_to_src, RE_BORDER_REPLICATE);
            if (s != RE_OK) return s;
            re_image_to_chw(&c->crop_img, best_crop);
        }
    }
    if (n == 0) return re_fail(RE_ERR_FORMAT, "driving video '%s' has no frames", c->driving);
    if (!isfinite(best))
        return re_fail(RE_ERR_NO_FACE, "no face found in any of the %" PRId64 " frames of '%s'", n, c->driving);
    re_video_reader_close(c->rd);
    c->rd = NULL;
    re_face_tracker_reset(c->trk);
    return open_reader(c);
}

/* Write a motion file's embedded audio to a new private file under $TMPDIR (or /tmp); path receives its name
 * ("" on failure, with nothing left behind). */
static re_status write_temp_audio(const re_motion *mo, char *path, size_t n) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    if (snprintf(path, n, "%s/reenact-audio-XXXXXX.mka", dir) >= (int)n) {
        path[0] = 0;
        return re_fail(RE_ERR_ARG, "TMPDIR path too long");
    }
    int fd = mkstemps(path, 4);
    if (fd < 0) {
        path[0] = 0;
        return re_fail(RE_ERR_IO, "cannot create a temporary audio file in '%s': %s", dir, strerror(errno));
    }
    const char *why = NULL;
    for (size_t off = 0; off < mo->audio_bytes && !why;) {
        ssize_t w = write(fd, mo->audio + off, mo->audio_bytes - off);
        if (w > 0) off += (size_t)w;
        else if (w == 0) why = "short write";
        else if (errno != EINTR) why = strerror(errno);
    }
    if (close(fd) != 0 && !why) why = strerror(errno);
    if (!why) return RE_OK;
    re_status s = re_fail(RE_ERR_IO, "cannot write the temporary audio file '%s': %s", path, why);
    remove(path);
    path[0] = 0;
    return s;
}

static int file_matches(const char *path, int64_t size) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (int64_t)sb.st_size == size;
}

re_status re_animate(re_model *m, const re_anim_opts *o, re_anim_stats *st_out) {
    re_anim_stats st_local;
    re_anim_stats *st = st_out ? st_out : &st_local;
    memset(st, 0, sizeof *st);
    if (!m || !o) return re_fail(RE_ERR_ARG, "re_animate: NULL argument");
    re_status s = check_opts(o, MODE_ANIMATE);
    if (s != RE_OK) return s;
    ctx c;
    re_image photo = {0};
    float src_lmn[RE_FACE_LANDMARKS][2];
    re_face_frame sframe;
    const double t_start = now_s();
    s = ctx_init(&c, m, o, MODE_ANIMATE, st);
    if (s != RE_OK) goto done;
    c.driving = o->driving;
    c.mo = o->motion;
    if (c.mo && (s = re_motion_check_model(c.mo, m, "motion")) != RE_OK) goto done;
    /* steering: with a model that has directions, unless the options ask for plain latent arithmetic */
    {
        const re_directions *d = re_model_directions(m);
        const re_steer_opts *so = &o->steer;
        if (!d && re_steer_needs_directions(so)) {
            s = re_fail(RE_ERR_UNSUPPORTED, "the motion controls (region, lips, eyes, offsets, debias) need a model with "
                        "directions (the bundled model has them; 'reenact directions' adds them)");
            goto done;
        }
        if (d && (s = re_steer_opts_check(so, d)) != RE_OK) goto done;
        if (d && so->debias && !isfinite(d->smile_bias)) {
            s = re_fail(RE_ERR_UNSUPPORTED, "debias needs a model whose directions were calibrated (smile bias measured)");
            goto done;
        }
        if (d && re_steer_active(so)) {
            c.dirs = d;
            c.steer_tmp = malloc((size_t)3 * c.latent * sizeof(float));
            if (!c.steer_tmp) {
                s = re_fail(RE_ERR_NOMEM, "out of memory");
                goto done;
            }
        }
    }

    /* the source photo and its face */
    s = re_image_load(&photo, o->source);
    if (s != RE_OK) {
        s = re_fail_ctx(s, "cannot read source photo '%s'", o->source);
        goto done;
    }
    if (o->aligned) {
        st->source_faces = 1;
        sframe = (re_face_frame){0.5f * photo.w - 0.5f, 0.5f * photo.h - 0.5f,
                                 0.5f * (float)(photo.w < photo.h ? photo.w : photo.h), 0.0f};
        s = re_image_resize(&photo, &c.crop_img, c.res, c.res);
    } else {
        re_face faces[8];
        int nf = 0;
        if ((s = open_detector(&c)) != RE_OK) goto done;
        s = re_face_detect(c.det, &photo, faces, 8, &nf);
        if (s != RE_OK) {
            s = re_fail_ctx(s, "face detection in '%s'", o->source);
            goto done;
        }
        if (nf == 0) {
            s = re_fail(RE_ERR_NO_FACE, "no face found in the source photo '%s' (%dx%d); use a photo with a clearly "
                        "visible frontal face", o->source, photo.w, photo.h);
            goto done;
        }
        st->source_faces = nf;
        s = re_face_frame_from_landmarks(faces[0].lm, &sframe);
        if (s == RE_OK) s = re_anim_landmarks_normalize(faces[0].lm, src_lmn);
        c.has_a_photo = re_face_attributes(faces[0].lm, c.a_photo) == RE_OK;
        if (s == RE_OK) s = re_face_align(&photo, faces[0].lm, c.res, &c.crop_img);
    }
    if (s != RE_OK) goto done;
    re_image_to_chw(&c.crop_img, c.src_crop);

    /* the driving side */
    int fps_num, fps_den, drv_w = 0, drv_h = 0;
    if (c.mo) {
        fps_num = c.mo->fps_num;
        fps_den = c.mo->fps_den;
        c.total = c.mo->frames;
        c.mo_first_found = c.mo->frames;
        for (int64_t t = 0; t < c.mo->frames; t++)
            if (c.mo->found[t]) {
                c.mo_first_found = t;
                break;
            }
        if (c.mo_first_found == c.mo->frames) {
            s = re_fail(RE_ERR_NO_FACE, "the motion has no frame with a face");
            goto done;
        }
        if (o->ref == RE_REF_BEST) {
            if (!c.mo->landmarks || o->aligned) {
                s = re_fail(RE_ERR_ARG, "--ref best needs landmarks in the motion file and a detected source face; "
                            "use --ref first");
                goto done;
            }
            double best = INFINITY;
            int64_t lim = c.limit > 0 && c.limit < c.mo->frames ? c.limit : c.mo->frames;
            for (int64_t t = 0; t < lim; t++) {
                if (!c.mo->found[t]) continue;
                double d = re_anim_landmarks_distance((const float(*)[2])(c.mo->landmarks + (size_t)t * 136), src_lmn);
                if (d < best) {
                    best = d;
                    st->ref_frame = t;
                }
            }
            if (!isfinite(best)) {
                s = re_fail(RE_ERR_NO_FACE, "the motion has no frame with a face in its first %" PRId64 " frames", lim);
                goto done;
            }
            memcpy(c.zref, c.mo->deltas + (size_t)st->ref_frame * c.latent, (size_t)c.latent * sizeof(float));
            c.have_aref = re_face_attributes((const float(*)[2])(c.mo->landmarks + (size_t)st->ref_frame * 136),
                                             c.aref) == RE_OK;
        } else {
            /* deltas are relative to the file's reference, the first frame with a face */
            st->ref_frame = c.mo_first_found;
        }
        c.have_ref = 1;   /* motion mode: zref is a delta (0 for --ref first) */
    } else {
        if ((s = open_reader(&c)) != RE_OK) goto done;
        fps_num = c.vi.fps_num;
        fps_den = c.vi.fps_den;
        drv_w = c.vi.width;
        drv_h = c.vi.height;
        c.total = c.vi.nb_frames;
        if (!o->aligned) {
            re_face_tracker_opts to;
            re_face_tracker_opts_default(&to);
            to.fps = (float)fps_num / (float)fps_den;
            if ((s = open_detector(&c)) != RE_OK) goto done;
            if ((s = re_face_tracker_create(&c.trk, c.det, c.res, &to)) != RE_OK) goto done;
        }
        if (o->ref == RE_REF_BEST) {
            if (o->aligned) {
                s = re_fail(RE_ERR_ARG, "--ref best needs face landmarks; it cannot be used with aligned input");
                goto done;
            }
            if ((s = best_ref_pass(&c, src_lmn, c.ref_crop)) != RE_OK) goto done;
            c.ref_pending = 1;   /* encoded by the model stage */
        }
    }
    if (c.limit > 0 && (c.total < 0 || c.total > c.limit)) c.total = c.limit;
    st->fps_num = fps_num;
    st->fps_den = fps_den;
    if (o->smooth) {
        s = re_latent_filter_create(&c.filt, c.latent, (double)fps_num / fps_den, &o->smooth_opts);
        if (s != RE_OK) goto done;
    }
    if (c.dirs && o->smooth) {
        s = re_latent_filter_create(&c.afilt, RE_ATTR_COUNT, (double)fps_num / fps_den, &o->smooth_opts);
        if (s != RE_OK) goto done;
    }

    /* output geometry */
    if (o->paste_back) {
        re_image small = {0};
        const re_image *ph = &photo;
        const int side = photo.w > photo.h ? photo.w : photo.h;
        re_face_frame fr = sframe;
        if (side > o->paste_max_side) {
            const double k = (double)o->paste_max_side / side;
            int w = (int)lround(photo.w * k), h = (int)lround(photo.h * k);
            s = re_image_resize(&photo, &small, w < 1 ? 1 : w, h < 1 ? 1 : h);
            if (s != RE_OK) goto done;
            const double kx = (double)small.w / photo.w, ky = (double)small.h / photo.h;
            fr.cx = (float)((fr.cx + 0.5) * kx - 0.5);
            fr.cy = (float)((fr.cy + 0.5) * ky - 0.5);
            fr.half = (float)(fr.half * 0.5 * (kx + ky));
            ph = &small;
        }
        if (o->render == RE_RENDER_PHOTO) s = re_render_create(&c.render, ph, &fr, c.res, &o->render_opts);
        else s = re_paste_create(&c.paste, ph, &fr, o->paste_feather);
        c.out_w = ph->w;
        c.out_h = ph->h;
        re_image_free(&small);
        if (s != RE_OK) goto done;
    } else if (o->render == RE_RENDER_PHOTO) {
        /* face only: the aligned crop of the photo at its native size (or out_size), animated by the renderer */
        int k = o->out_size;
        if (k == 0) {
            k = 2 * (int)lround(sframe.half);
            k = k < 64 ? 64 : k > 1024 ? 1024 : k;
        }
        float d2s[6];
        re_image crop = {0};
        s = re_face_frame_matrix(&sframe, k, d2s, NULL);
        if (s == RE_OK) s = re_image_warp_affine(&photo, &crop, k, k, d2s, RE_BORDER_REPLICATE);
        const re_face_frame cf = {0.5f * (float)k - 0.5f, 0.5f * (float)k - 0.5f, 0.5f * (float)k, 0.0f};
        if (s == RE_OK) s = re_render_create(&c.render, &crop, &cf, c.res, &o->render_opts);
        re_image_free(&crop);
        if (s != RE_OK) goto done;
        c.out_w = c.out_h = c.face_w = k;
    } else {
        c.out_w = c.out_h = c.face_w = o->out_size ? o->out_size : 256;
    }
    if (c.render) {
        c.src_dec = re_alloc((size_t)c.img_floats * sizeof(float), "decoded source face");
        if (!c.src_dec) {
            s = RE_ERR_NOMEM;
            goto done;
        }
        /* the landmark field needs a detector of its own on the consume thread; without dlib: optical flow */
        if (o->render_field == RE_FIELD_LANDMARKS) {
            if (!c.det && open_detector(&c) != RE_OK) c.det = NULL;
            if (c.det) {
                if ((s = re_face_detector_clone(c.det, &c.rdet_owned)) != RE_OK) goto done;
                c.rdet = c.rdet_owned;
            }
        }
    }
    if (o->side_by_side) c.out_w += c.mo ? c.out_h : fit_width(drv_w, drv_h, c.out_h);
    st->out_w = c.out_w;
    st->out_h = c.out_h;
    if (o->storyboard) {
        c.sb_every = o->storyboard_every;
        if (c.sb_every <= 0) c.sb_every = c.total > 0 ? (int)((c.total + 7) / 8) : 10;
        if (c.sb_every < 1) c.sb_every = 1;
        if ((s = re_storyboard_create(&c.sb, o->storyboard_tile, SB_MAX_COLS)) != RE_OK) goto done;
    }
    if (o->output) {
        re_video_writer_opts wo = {c.out_w, c.out_h, fps_num, fps_den, o->format, o->crf, NULL};
        if (o->audio) {
            if (!c.mo && c.vi.has_audio) wo.audio_from = o->driving;
            if (c.mo && c.mo->audio) {
                /* embedded audio: handed to the writer as a private temporary file, removed at the end */
                if ((s = write_temp_audio(c.mo, c.audio_tmp, sizeof c.audio_tmp)) != RE_OK) goto done;
                wo.audio_from = c.audio_tmp;
            } else if (c.mo && c.mo->audio_path) {
                if (file_matches(c.mo->audio_path, c.mo->audio_size)) wo.audio_from = c.mo->audio_path;
                else st->audio_missing = 1;
            }
        }
        s = re_video_writer_open(&c.vw, o->output, &wo);
        if (s != RE_OK) {
            s = re_fail_ctx(s, "cannot write '%s'", o->output);
            goto done;
        }
        st->audio = re_video_writer_audio_mode(c.vw);
    }
    re_image_free(&photo);
    st->t.setup = now_s() - t_start;

    /* run */
    c.t0 = now_s();
    s = o->pipeline ? run_threaded(&c) : run_sequential(&c);
    st->t.compose += c.t_drv_fit;
    if (s != RE_OK) goto done;
    if (st->frames == 0) {
        s = re_fail(RE_ERR_FORMAT, "driving video '%s' has no frames", o->driving ? o->driving : "(motion)");
        goto done;
    }
    if (!c.mo && !c.have_last) {
        s = re_fail(RE_ERR_NO_FACE, "no face found in any of the %" PRId64 " frames of the driving video '%s'",
                    st->frames, o->driving);
        goto done;
    }
    st->storyboard_cols = re_storyboard_cols(c.sb);
    if (c.sb) {
        re_image board = {0};
        double t = now_s();
        s = re_storyboard_render(c.sb, &board);
        if (s == RE_OK) s = re_image_save_png(&board, o->storyboard);
        re_image_free(&board);
        st->t.compose += now_s() - t;
        if (s != RE_OK) {
            s = re_fail_ctx(s, "cannot write storyboard '%s'", o->storyboard);
            goto done;
        }
    }
    if (c.vw) {
        double t = now_s();
        s = re_video_writer_close(c.vw);
        c.vw = NULL;
        st->t.write += now_s() - t;
        if (s != RE_OK) {
            if (c.sb) remove(o->storyboard);
            s = re_fail_ctx(s, "cannot finish '%s'", o->output);
            goto done;
        }
    }
done:
    st->wall_s = now_s() - t_start;
    re_image_free(&photo);
    if (s != RE_OK) {
        /* keep the message: cleanup below may call functions that clear or set it */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", re_last_error());
        ctx_free(&c);
        return re_fail(s, "%s", msg);
    }
    ctx_free(&c);
    return RE_OK;
}

re_status re_motion_extract(re_model *m, const char *driving, const re_anim_opts *opts, re_motion **out,
                            re_anim_stats *st_out) {
    re_anim_stats st_local;
    re_anim_stats *st = st_out ? st_out : &st_local;
    memset(st, 0, sizeof *st);
    if (out) *out = NULL;
    re_anim_opts od;
    if (!opts) {
        re_anim_opts_default(&od);
        opts = &od;
    }
    if (!driving) driving = opts->driving;
    if (!m || !out || !driving) return re_fail(RE_ERR_ARG, "re_motion_extract: NULL argument");
    re_status s = check_opts(opts, MODE_EXTRACT);
    if (s != RE_OK) return s;
    ctx c;
    re_motion *mo = NULL;
    const double t_start = now_s();
    s = ctx_init(&c, m, opts, MODE_EXTRACT, st);
    if (s != RE_OK) goto done;
    c.driving = driving;
    if ((s = open_reader(&c)) != RE_OK) goto done;
    c.total = c.vi.nb_frames;
    if (c.limit > 0 && (c.total < 0 || c.total > c.limit)) c.total = c.limit;
    st->fps_num = c.vi.fps_num;
    st->fps_den = c.vi.fps_den;
    if (!opts->aligned) {
        re_face_tracker_opts to;
        re_face_tracker_opts_default(&to);
        to.fps = (float)c.vi.fps_num / (float)c.vi.fps_den;
        if ((s = open_detector(&c)) != RE_OK) goto done;
        if ((s = re_face_tracker_create(&c.trk, c.det, c.res, &to)) != RE_OK) goto done;
    }
    st->t.setup = now_s() - t_start;
    c.t0 = now_s();
    s = opts->pipeline ? run_threaded(&c) : run_sequential(&c);
    if (s != RE_OK) goto done;
    if (c.ex_n == 0) {
        s = re_fail(RE_ERR_FORMAT, "driving video '%s' has no frames", driving);
        goto done;
    }
    if (c.ex_first < 0) {
        s = re_fail(RE_ERR_NO_FACE, "no face found in any of the %" PRId64 " frames of the driving video '%s'", c.ex_n,
                    driving);
        goto done;
    }
    s = re_motion_create(&mo, c.latent, c.ex_n, !opts->aligned);
    if (s != RE_OK) goto done;
    const int L = c.latent;
    const float *zr = c.ex_z + (size_t)c.ex_first * L;
    memcpy(mo->ref_latent, zr, (size_t)L * sizeof(float));
    for (int64_t t = 0; t < c.ex_n; t++) {
        float *d = mo->deltas + (size_t)t * L;
        const float *z = c.ex_z + (size_t)t * L;
        for (int i = 0; i < L; i++) d[i] = t < c.ex_first ? 0.0f : z[i] - zr[i];
        mo->found[t] = c.ex_found[t];
    }
    if (mo->landmarks) memcpy(mo->landmarks, c.ex_lm, (size_t)c.ex_n * RE_FACE_LANDMARKS * 2 * sizeof(float));
    mo->fps_num = c.vi.fps_num;
    mo->fps_den = c.vi.fps_den;
    mo->ref_frame = (int)c.ex_first;
    st->ref_frame = c.ex_first;
    mo->model_res = c.res;
    const char *sha = re_model_weights_sha256(m);
    if (sha && strlen(sha) == 64) snprintf(mo->model_sha256, sizeof mo->model_sha256, "%s", sha);
    const char *base = strrchr(driving, '/');
    mo->driving_name = strdup(base ? base + 1 : driving);
    /* The driver's audio travels inside the motion file (remuxed, not re-encoded). A failure here costs the audio,
     * not the motion: st->audio says RE_AUDIO_SKIPPED and the caller may warn. */
    st->audio = RE_AUDIO_NONE;
    if (c.vi.has_audio && opts->audio) {
        re_status as = re_audio_extract(driving, (size_t)RE_MOTION_MAX_AUDIO, &mo->audio, &mo->audio_bytes);
        st->audio = as == RE_OK && mo->audio ? RE_AUDIO_COPIED : RE_AUDIO_SKIPPED;
        if (as != RE_OK) {
            free(mo->audio);
            mo->audio = NULL;
            mo->audio_bytes = 0;
        }
    }
    if (!mo->driving_name) {
        s = re_fail(RE_ERR_NOMEM, "out of memory");
        goto done;
    }
    *out = mo;
    mo = NULL;
done:
    st->wall_s = now_s() - t_start;
    re_motion_free(mo);
    if (s != RE_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", re_last_error());
        ctx_free(&c);
        return re_fail(s, "%s", msg);
    }
    ctx_free(&c);
    return RE_OK;
}
#endif /* RE_HAVE_FFMPEG */
