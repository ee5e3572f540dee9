/*
 * live.c - one driving frame at a time (include/reenact/live.h): the per-frame path of re_animate
 * (pipeline_stages.c: produce -> model -> consume) for a stream without files, batch 1, all on the caller's thread:
 * track the face, warp the aligned crop, encode, hold / smooth / steer or transfer (re_steer_state), decode,
 * landmark the decoded face and render the photo at its resolution. Setup mirrors re_animate's: the photo's face,
 * its code and decoded face, the photo-resolution renderer (face-only crop or paste-back), the tracker. Used by
 * `reenact serve`'s /api/live and timed by bench/bench_live.c; tested by tests/unit/test_live.c.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anim_internal.h"
#include "core/core.h"
#include "reenact/directions.h"
#include "reenact/live.h"

struct re_live {
    re_anim_opts o;
    re_model *m;
    int res, latent, img_floats, model_threads;
    int source_faces;
    int64_t index;

    re_face_detector *det;        /* our clone: the tracker's, and the renderer's landmark detector */
    re_face_tracker *trk;
    re_runner *run;
    re_image crop_img, face_img, lm_small, lm_up;
    float *crop, *mu, *z, *zsrc, *zref, *zlast, *out, *src_dec;
    int have_ref, have_last;
    re_latent_filter *filt;
    const re_directions *dirs;    /* steering applies: the driver's attributes are read */
    re_steer_state *steer;        /* the transfer, steered with dirs (anim.h) */

    re_render *render;            /* RE_RENDER_PHOTO */
    re_paste *paste;              /* RE_RENDER_MODEL with paste_back */
    int use_lm;                   /* landmarks of the decoded faces drive the renderer (else optical flow) */
    float rbox[4];
    int have_rbox;
    int out_w, out_h, face_w;
};

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

static re_status check_opts(const re_anim_opts *o, double fps) {
    if (!(fps >= 1 && fps <= 1000)) return re_fail(RE_ERR_ARG, "live: fps must be 1..1000, got %g", fps);
    if (o->model_threads < 0 || o->model_threads > 1024)
        return re_fail(RE_ERR_ARG, "model_threads must be 0..1024, got %d", o->model_threads);
    if (o->precision < RE_PREC_F32 || o->precision > RE_PREC_MIXED)
        return re_fail(RE_ERR_ARG, "unknown precision %d", (int)o->precision);
    re_status s = anim_check_output_opts(o);
    if (s != RE_OK) return s;
    if (o->paste_back && (o->paste_max_side < 16 || !(o->paste_feather > 0 && o->paste_feather <= 1)))
        return re_fail(RE_ERR_ARG, "paste-back needs paste_max_side >= 16 and feather in (0,1]");
    return RE_OK;
}

/* Model calls with the stream's OpenMP team size, restoring the caller's. */
static re_status model_encode(re_live *lv, const float *x, float *mu) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(lv->model_threads);
    re_status s = re_encode(lv->run, x, 1, mu, NULL);
    omp_set_num_threads(saved);
    return s;
}

static re_status model_decode(re_live *lv, const float *z, float *x) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(lv->model_threads);
    re_status s = re_decode(lv->run, z, 1, x);
    omp_set_num_threads(saved);
    return s;
}

/* lv's float buffers (faces of img_floats, latents), for alloc_buffers and re_live_free. */
enum { LIVE_BUFS = 8 };
static void live_bufs(re_live *lv, re_float_buf b[LIVE_BUFS]) {
    const size_t F = (size_t)lv->img_floats, L = (size_t)lv->latent;
    const re_float_buf t[LIVE_BUFS] = {
        {&lv->crop, F, "live crop"}, {&lv->out, F, "live face"}, {&lv->src_dec, F, "decoded source face"},
        {&lv->mu, L, "latent"},      {&lv->z, L, "latent"},      {&lv->zsrc, L, "latent"},
        {&lv->zref, L, "latent"},    {&lv->zlast, L, "latent"},
    };
    memcpy(b, t, sizeof t);
}

static re_status alloc_buffers(re_live *lv) {
    re_float_buf b[LIVE_BUFS];
    live_bufs(lv, b);
    return re_alloc_floats(b, LIVE_BUFS);
}

/* Landmarks of a decoded face for the renderer; *ok = 0 without a detector or a face (optical flow then). */
static re_status decoded_landmarks(re_live *lv, const float *face, float lm[RE_FACE_LANDMARKS][2], int *ok) {
    *ok = 0;
    if (!lv->use_lm) return RE_OK;
    return re_render_face_landmarks(lv->det, face, lv->res, lv->rbox, &lv->have_rbox, &lv->lm_small, &lv->lm_up, lm,
                                    ok);
}

/* The output geometry and renderer, as re_animate sets them up (face-only crop or paste-back). */
static re_status setup_output(re_live *lv, const re_image *photo, const re_face_frame *sframe) {
    const re_anim_opts *o = &lv->o;
    re_status s = RE_OK;
    if (o->paste_back) {
        re_image small = {0};
        const re_image *ph;
        re_face_frame fr;
        s = anim_paste_photo(photo, sframe, o->paste_max_side, &small, &ph, &fr);
        if (s != RE_OK) return s;
        if (o->render == RE_RENDER_PHOTO) s = re_render_create(&lv->render, ph, &fr, lv->res, &o->render_opts);
        else s = re_paste_create(&lv->paste, ph, &fr, o->paste_feather);
        lv->out_w = ph->w;
        lv->out_h = ph->h;
        re_image_free(&small);
        return s;
    }
    if (o->render == RE_RENDER_PHOTO) {
        int k = o->out_size;
        if (k == 0) {
            k = 2 * (int)lround(sframe->half);
            k = k < 64 ? 64 : k > 1024 ? 1024 : k;
        }
        float d2s[6];
        re_image crop = {0};
        s = re_face_frame_matrix(sframe, k, d2s, NULL);
        if (s == RE_OK) s = re_image_warp_affine(photo, &crop, k, k, d2s, RE_BORDER_REPLICATE);
        const re_face_frame cf = {0.5f * (float)k - 0.5f, 0.5f * (float)k - 0.5f, 0.5f * (float)k, 0.0f};
        if (s == RE_OK) s = re_render_create(&lv->render, &crop, &cf, lv->res, &o->render_opts);
        re_image_free(&crop);
        lv->out_w = lv->out_h = lv->face_w = k;
        return s;
    }
    lv->out_w = lv->out_h = lv->face_w = o->out_size ? o->out_size : 256;
    return RE_OK;
}

re_status re_live_create(re_live **out, re_model *m, const re_image *photo, const re_anim_opts *opts, double fps) {
    if (!out) return re_fail(RE_ERR_ARG, "re_live_create: NULL argument");
    *out = NULL;
    if (!m || !photo || !photo->data) return re_fail(RE_ERR_ARG, "re_live_create: NULL argument");
    re_anim_opts od;
    if (!opts) {
        re_anim_opts_default(&od);
        od.out_size = 256;
        opts = &od;
    }
    re_status s = check_opts(opts, fps);
    if (s != RE_OK) return s;
    const re_config *cf = re_model_config(m);
    if (cf->channels != 3)
        return re_fail(RE_ERR_CONFIG, "live animation needs an RGB model, this one has %d channels", cf->channels);
    re_live *lv = calloc(1, sizeof *lv);
    if (!lv) return re_fail(RE_ERR_NOMEM, "out of memory");
    lv->o = *opts;
    lv->o.detector = NULL;   /* borrowed for this call only */
    lv->m = m;
    lv->res = cf->res;
    lv->latent = cf->latent;
    lv->img_floats = 3 * cf->res * cf->res;
    lv->model_threads = opts->model_threads > 0 ? opts->model_threads : re_get_threads();
    const re_anim_opts *o = &lv->o;
    re_face_frame sframe;
    float a_photo[RE_ATTR_COUNT];   /* the photo's attributes from its own landmarks, when has_a_photo */
    int has_a_photo = 0;
    if ((s = alloc_buffers(lv)) != RE_OK) goto fail;

    /* motion controls: as re_animate */
    if ((s = re_steer_directions(re_model_directions(m), &o->steer, &lv->dirs)) != RE_OK) goto fail;

    /* the detector (a clone of the caller's, or the default one) unless the input is aligned and the field is flow */
    const int need_det = !o->aligned || (o->render == RE_RENDER_PHOTO && o->render_field == RE_FIELD_LANDMARKS);
    if (need_det) {
        s = opts->detector ? re_face_detector_clone(opts->detector, &lv->det) : re_face_detector_open(&lv->det, NULL);
        if (s != RE_OK) {
            if (!o->aligned) goto fail;
            lv->det = NULL;   /* aligned input: the renderer uses optical flow */
            s = RE_OK;
        }
    }

    /* the photo's face */
    if (o->aligned) {
        lv->source_faces = 1;
        sframe = (re_face_frame){0.5f * photo->w - 0.5f, 0.5f * photo->h - 0.5f,
                                 0.5f * (float)(photo->w < photo->h ? photo->w : photo->h), 0.0f};
        s = re_image_resize(photo, &lv->crop_img, lv->res, lv->res);
    } else {
        re_face faces[8];
        int nf = 0;
        s = re_face_detect(lv->det, photo, faces, 8, &nf);
        if (s != RE_OK) {
            s = re_fail_ctx(s, "face detection in the photo");
            goto fail;
        }
        if (nf == 0) {
            s = re_fail(RE_ERR_NO_FACE, "no face found in the photo (%dx%d); use a photo with a clearly visible "
                        "frontal face", photo->w, photo->h);
            goto fail;
        }
        lv->source_faces = nf;
        s = re_face_frame_from_landmarks(faces[0].lm, &sframe);
        has_a_photo = re_face_attributes(faces[0].lm, a_photo) == RE_OK;
        if (s == RE_OK) s = re_face_align(photo, faces[0].lm, lv->res, &lv->crop_img);
    }
    if (s != RE_OK) goto fail;
    re_image_to_chw(&lv->crop_img, lv->crop);

    /* the model: the photo's code, and its decoded face (the renderer's reference) */
    s = re_runner_create_ex(&lv->run, m, 1, o->precision);
    if (s == RE_OK) s = model_encode(lv, lv->crop, lv->zsrc);
    if (s == RE_OK) s = model_decode(lv, lv->zsrc, lv->src_dec);
    if (s == RE_OK) s = model_decode(lv, lv->zsrc, lv->out);   /* warm-up: the backend's first calls are slow */
    if (s != RE_OK) {
        s = re_fail_ctx(s, "preparing the model");
        goto fail;
    }

    if (o->smooth && (s = re_latent_filter_create(&lv->filt, lv->latent, fps, &o->smooth_opts)) != RE_OK) goto fail;
    s = re_steer_state_create(&lv->steer, lv->dirs, &o->steer, o->strength, lv->latent, fps,
                              o->smooth ? &o->smooth_opts : NULL);
    if (s != RE_OK) goto fail;
    re_steer_state_set_photo(lv->steer, has_a_photo ? a_photo : NULL);
    if (!o->aligned) {
        re_face_tracker_opts to;
        re_face_tracker_opts_default(&to);
        to.fps = (float)fps;
        if ((s = re_face_tracker_create(&lv->trk, lv->det, lv->res, &to)) != RE_OK) goto fail;
    }

    if ((s = setup_output(lv, photo, &sframe)) != RE_OK) goto fail;
    if (lv->render) {
        float lm[RE_FACE_LANDMARKS][2];
        int found = 0;
        lv->use_lm = lv->det && o->render_field == RE_FIELD_LANDMARKS;
        s = decoded_landmarks(lv, lv->src_dec, lm, &found);
        if (s == RE_OK) s = re_render_set_source(lv->render, lv->src_dec, found ? (const float(*)[2])lm : NULL);
        if (s != RE_OK) goto fail;
        if (!found) lv->use_lm = 0;   /* no face in the decoded source: optical flow throughout */
    }
    *out = lv;
    return RE_OK;
fail:;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", re_last_error());
    re_live_free(lv);
    return re_fail(s, "%s", msg);
}

re_status re_live_frame(re_live *lv, const re_image *frame, re_image *out, re_live_info *info) {
    re_live_info inf;
    memset(&inf, 0, sizeof inf);
    if (!lv || !frame || !out || !frame->data || frame->w < 1 || frame->h < 1)
        return re_fail(RE_ERR_ARG, "re_live_frame: NULL argument or empty frame");
    const int L = lv->latent;
    const re_anim_opts *o = &lv->o;
    const double t0 = now_ms();
    double t = t0, t2;
    re_status s;
    float attr[RE_ATTR_COUNT];
    int found = 1, attr_ok = 0;
    inf.index = lv->index++;

    /* track and align */
    if (o->aligned) {
        s = re_image_resize(frame, &lv->crop_img, lv->res, lv->res);
    } else {
        re_face_track tr;
        s = re_face_tracker_update(lv->trk, frame, &tr);
        t2 = now_ms();
        inf.ms.track = t2 - t;
        t = t2;
        if (s != RE_OK) return re_fail_ctx(s, "face tracking, frame %lld", (long long)inf.index);
        found = tr.found;
        attr_ok = lv->dirs && found && re_face_attributes(tr.face.lm, attr) == RE_OK;
        if (tr.valid)
            s = re_image_warp_affine(frame, &lv->crop_img, lv->res, lv->res, tr.m_dst_to_src, RE_BORDER_REPLICATE);
    }
    if (s != RE_OK) return s;
    if (found) re_image_to_chw(&lv->crop_img, lv->crop);
    t2 = now_ms();
    inf.ms.align = t2 - t;
    t = t2;

    /* encode */
    if (found) {
        s = model_encode(lv, lv->crop, lv->mu);
        if (s != RE_OK) return re_fail_ctx(s, "encoding frame %lld", (long long)inf.index);
        memcpy(lv->zlast, lv->mu, (size_t)L * sizeof(float));
        lv->have_last = 1;
    }
    t2 = now_ms();
    inf.ms.encode = t2 - t;
    t = t2;

    /* hold, smooth, transfer */
    re_render_parts parts;
    int parts_ok = 0;
    if (!lv->have_last) {
        memcpy(lv->z, lv->zsrc, (size_t)L * sizeof(float));   /* before the first face: the photo as it is */
    } else {
        if (!lv->have_ref) {
            memcpy(lv->zref, lv->zlast, (size_t)L * sizeof(float));
            lv->have_ref = 1;
        }
        memcpy(lv->z, lv->zlast, (size_t)L * sizeof(float));
        if (lv->filt) re_latent_filter_apply(lv->filt, lv->z);
        re_steer_state_next(lv->steer, lv->zsrc, lv->z, lv->zref, attr_ok ? attr : NULL, lv->z);
        parts_ok = re_steer_state_render_parts(lv->steer, &parts);
    }
    t2 = now_ms();
    inf.ms.transfer = t2 - t;
    t = t2;

    /* decode */
    s = model_decode(lv, lv->z, lv->out);
    if (s != RE_OK) return re_fail_ctx(s, "decoding frame %lld", (long long)inf.index);
    t2 = now_ms();
    inf.ms.decode = t2 - t;
    t = t2;

    /* render */
    if (lv->render) {
        float lm[RE_FACE_LANDMARKS][2];
        int lm_found = 0;
        s = decoded_landmarks(lv, lv->out, lm, &lm_found);
        t2 = now_ms();
        inf.ms.landmarks = t2 - t;
        t = t2;
        re_render_set_parts(lv->render, parts_ok ? &parts : NULL);
        if (s == RE_OK) s = re_render_apply(lv->render, lv->out, lm_found ? (const float(*)[2])lm : NULL, out);
    } else {
        s = re_image_from_chw(&lv->face_img, lv->out, lv->res, lv->res);
        if (s == RE_OK) {
            if (lv->paste) s = re_paste_apply(lv->paste, &lv->face_img, out);
            else if (lv->face_w == lv->res) s = re_image_copy(out, &lv->face_img);
            else s = re_image_resize(&lv->face_img, out, lv->face_w, lv->face_w);
        }
    }
    if (s != RE_OK) return re_fail_ctx(s, "rendering frame %lld", (long long)inf.index);
    t2 = now_ms();
    inf.ms.render = t2 - t;
    inf.ms.total = t2 - t0;
    inf.found = found;
    inf.have_ref = lv->have_ref;
    if (info) *info = inf;
    return RE_OK;
}

void re_live_reset(re_live *lv) {
    if (!lv) return;
    if (lv->trk) re_face_tracker_reset(lv->trk);
    if (lv->filt) re_latent_filter_reset(lv->filt);
    re_steer_state_reset(lv->steer);
    lv->have_ref = lv->have_last = 0;
}

void re_live_size(const re_live *lv, int *w, int *h) {
    if (w) *w = lv ? lv->out_w : 0;
    if (h) *h = lv ? lv->out_h : 0;
}

int re_live_source_faces(const re_live *lv) { return lv ? lv->source_faces : 0; }

void re_live_free(re_live *lv) {
    if (!lv) return;
    re_face_tracker_free(lv->trk);
    re_face_detector_free(lv->det);
    re_runner_free(lv->run);
    re_latent_filter_free(lv->filt);
    re_steer_state_free(lv->steer);
    re_render_free(lv->render);
    re_paste_free(lv->paste);
    re_image *imgs[] = {&lv->crop_img, &lv->face_img, &lv->lm_small, &lv->lm_up};
    for (size_t i = 0; i < RE_COUNT(imgs); i++) re_image_free(imgs[i]);
    re_float_buf b[LIVE_BUFS];
    live_bufs(lv, b);
    re_free_floats(b, LIVE_BUFS);
    free(lv);
}
