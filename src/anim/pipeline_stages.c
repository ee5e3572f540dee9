/*
 * pipeline_stages.c - the three stages of re_animate and re_motion_extract (include/reenact/anim.h), per driving
 * frame:  produce (decode the video frame, track the face, warp the aligned crop; with a motion, the file's frame)
 *      -> model   (encode a batch, sample/hold, smooth, transfer or steer (re_steer_state), decode the batch)
 *      -> consume (render at the photo's resolution / paste-back / side-by-side, storyboard column, encode the
 *                  video frame).
 * Each stage touches only its own side of the run's context (pipeline_internal.h), so pipeline_threads.c may run
 * them on three threads; the model stage's setup runs on the model thread (oneDNN). Tested by tests/unit/test_anim.c
 * and tests/cli/test_animate.sh; timed by bench/bench_animate.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "pipeline_internal.h"

#ifdef RE_HAVE_FFMPEG
/* ---- stage 1: produce ------------------------------------------------------------------------------------- */
re_status re_pipe_produce(pipe_ctx *c, pipe_job *j) {
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
    double t = pipe_now_s();
    re_status s = re_video_reader_next(c->rd, &c->frame, NULL);
    c->st->t.decode += pipe_now_s() - t;
    if (s == RE_VIDEO_EOF) return s;
    if (s != RE_OK) return re_fail_ctx(s, "driving video '%s', frame %" PRId64, c->driving, j->index);
    if (o->aligned) {
        j->found = 1;
        j->attr_ok = 0;
        t = pipe_now_s();
        s = re_image_resize(&c->frame, &c->crop_img, c->res, c->res);
    } else {
        re_face_track tr;
        t = pipe_now_s();
        s = re_face_tracker_update(c->trk, &c->frame, &tr);
        double t2 = pipe_now_s();
        c->st->t.track += t2 - t;
        t = t2;
        if (s != RE_OK) return re_fail_ctx(s, "face tracking in '%s', frame %" PRId64, c->driving, j->index);
        j->found = tr.found;
        if (tr.found && re_anim_landmarks_normalize(tr.face.lm, j->lmn) != RE_OK) j->found = 0;
        j->attr_ok = c->dirs && j->found && re_face_attributes(tr.face.lm, j->attr) == RE_OK;
        s = re_image_warp_affine(&c->frame, &c->crop_img, c->res, c->res, tr.m_dst_to_src, RE_BORDER_REPLICATE);
    }
    if (s == RE_OK) re_image_to_chw(&c->crop_img, j->crop);
    c->st->t.align += pipe_now_s() - t;
    if (s != RE_OK) return s;
    if (j->want_drv) {
        t = pipe_now_s();
        s = re_image_fit_height(&c->frame, o->side_by_side ? c->out_h : o->storyboard_tile, &j->drv);
        c->t_drv_fit += pipe_now_s() - t;
        if (s != RE_OK) return s;
    }
    c->produced++;
    return RE_OK;
}

/* ---- stage 2: model --------------------------------------------------------------------------------------- */
static re_status ex_append(pipe_ctx *c, const pipe_job *j, const float *z) {
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

re_status re_pipe_model_batch(pipe_ctx *c, pipe_job **js, int n) {
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
            t = pipe_now_s();
            s = re_encode(c->run, c->bin, nf, c->bmu, c->blv);
            c->st->t.encode += pipe_now_s() - t;
            if (s != RE_OK) return re_fail_ctx(s, "encoding driving frames");
        }
    }
    t = pipe_now_s();
    int k = 0, nd = 0;
    for (int i = 0; i < n; i++) {
        pipe_job *j = js[i];
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
            /* z_t = z_src + s (z - z_ref), or steered with the driver's attributes (re_steer_state) */
            re_steer_state_next(c->steer, c->zsrc, j->z, c->zref, j->attr_ok ? j->attr : NULL, j->z);
            j->parts_ok = re_steer_state_render_parts(c->steer, &j->parts);
        }
        memcpy(c->bz + (size_t)i * L, j->z, (size_t)L * sizeof(float));
        if (o->on_latent) o->on_latent(j->index, j->z, o->latent_user);
        if (c->mo && j->want_drv) nd++;
    }
    c->st->t.transfer += pipe_now_s() - t;
    if (c->mode == MODE_EXTRACT) return RE_OK;
    t = pipe_now_s();
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
    c->st->t.decode_model += pipe_now_s() - t;
    if (s != RE_OK) return re_fail_ctx(s, "decoding generated frames");
    return RE_OK;
}

/* ---- stage 3: consume ------------------------------------------------------------------------------------- */

/* Landmarks of a decoded face for the renderer (re_render_face_landmarks with the composer's detector clone);
 * *ok = 0 when no detector is open or no face is found: the renderer then uses optical flow. */
static re_status decoded_landmarks(pipe_ctx *c, const float *face, float lm[RE_FACE_LANDMARKS][2], int *ok) {
    *ok = 0;
    if (!c->rdet) return RE_OK;
    return re_render_face_landmarks(c->rdet, face, c->res, c->rbox, &c->have_rbox, &c->lm_small, &c->lm_up, lm, ok);
}

re_status re_pipe_consume(pipe_ctx *c, pipe_job *j) {
    const re_anim_opts *o = c->o;
    re_status s = RE_OK;
    if (c->mode == MODE_ANIMATE) {
        double t = pipe_now_s();
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
            re_render_set_parts(c->render, j->parts_ok ? &j->parts : NULL);
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
        double t2 = pipe_now_s();
        c->st->t.compose += t2 - t;
        if (s == RE_OK && c->vw) {
            s = re_video_writer_write(c->vw, fin);
            c->st->t.write += pipe_now_s() - t2;
            if (s != RE_OK) s = re_fail_ctx(s, "writing '%s', frame %" PRId64, o->output, j->index);
        }
        if (s != RE_OK) return s;
    }
    c->st->frames++;
    if (o->progress) {
        re_anim_progress p = {c->st->frames, c->total, pipe_now_s() - c->t0};
        if (o->progress(&p, o->progress_user))
            return re_fail(RE_ERR_INTERRUPTED, "stopped at frame %" PRId64, c->st->frames);
    }
    return RE_OK;
}

/* ---- model stage setup ------------------------------------------------------------------------------------
 * oneDNN (built with its default library-managed scratchpad) requires each primitive to run on the thread that
 * created it, so the runner is created here, on the model stage's thread, and every model call stays there:
 * the warm-up (the backend's first calls are slow), the source code, and the --ref best reference code. */
re_status re_pipe_model_setup(pipe_ctx *c) {
    const re_anim_opts *o = c->o;
    double t = pipe_now_s();
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
    c->st->t.model_setup += pipe_now_s() - t;
    if (s != RE_OK) return re_fail_ctx(s, "preparing the model");
    return RE_OK;
}
#else
typedef int re_pipeline_stages_unused; /* ISO C forbids an empty translation unit */
#endif /* RE_HAVE_FFMPEG */
