/*
 * pipeline.c - `reenact animate` and `reenact motion extract` as library calls (include/reenact/anim.h):
 * re_animate and re_motion_extract, and the setup around a run: options, the source photo and its face and
 * attributes, the driver (video or motion file) and the --ref best reference pass, the transfer / steering state,
 * the output geometry, renderer, storyboard and writer (with the motion file's audio), then the motion file itself.
 *
 * The run: three stages (pipeline_stages.c: produce -> model -> consume) run threaded or one batch at a time
 * (pipeline_threads.c); they share the context of pipeline_internal.h. A failure anywhere stops all stages; the
 * writer is then aborted, so no partial output is left.
 * Without FFmpeg (RE_HAVE_FFMPEG undefined) both entry points return RE_ERR_UNSUPPORTED.
 * Tested by tests/unit/test_anim.c and tests/cli/test_animate.sh; timed by bench/bench_animate.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anim_internal.h"
#include "core/core.h"
#include "pipeline_internal.h"
#include "reenact/anim.h"
#include "reenact/directions.h"

void re_anim_opts_default(re_anim_opts *o) {
    memset(o, 0, sizeof *o);
    o->out_size = 0;
    o->render = RE_RENDER_PHOTO;
    re_render_opts_default(&o->render_opts);
    o->strength = 1.0f;
    o->ref = RE_REF_POSE;
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

/* Width of an image w x h fitted to height h2 (re_image_fit_height's rule). */
static int fit_width(int w, int h, int h2) {
    long fw = 2 * lround((double)w * h2 / h / 2.0);
    return fw < 2 ? 2 : (int)fw;
}

/* ---- setup ------------------------------------------------------------------------------------------------ */
static re_status open_detector(pipe_ctx *c) {
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

static re_status open_reader(pipe_ctx *c) {
    re_status s = re_video_reader_open(&c->rd, c->driving);
    if (s != RE_OK) return re_fail_ctx(s, "cannot read driving video '%s'", c->driving);
    c->vi = re_video_reader_info(c->rd);
    return RE_OK;
}

/* The float buffers of a job and of the context (faces of img_floats, latents, batches of them), for alloc_jobs and
 * ctx_free. */
enum { JOB_BUFS = 5, CTX_BUFS = 10 };
static void job_bufs(const pipe_ctx *c, pipe_job *j, re_float_buf b[JOB_BUFS]) {
    const size_t F = (size_t)c->img_floats, L = (size_t)c->latent;
    const re_float_buf t[JOB_BUFS] = {
        {&j->crop, F, "job"}, {&j->out, F, "job"}, {&j->drv_out, F, "job"}, {&j->z, L, "job"}, {&j->zd, L, "job"},
    };
    memcpy(b, t, sizeof t);
}

static void ctx_bufs(pipe_ctx *c, re_float_buf b[CTX_BUFS]) {
    const size_t F = (size_t)c->img_floats, L = (size_t)c->latent, B = (size_t)c->batch;
    const re_float_buf t[CTX_BUFS] = {
        {&c->bin, B * F, "batch"},  {&c->bout, B * F, "batch"}, {&c->bmu, B * L, "batch"},
        {&c->blv, B * L, "batch"},  {&c->bz, B * L, "batch"},   {&c->zsrc, L, "latent"},
        {&c->zref, L, "latent"},    {&c->zlast, L, "latent"},   {&c->src_crop, F, "source crop"},
        {&c->ref_crop, F, "reference crop"},
    };
    memcpy(b, t, sizeof t);
}

static re_status alloc_jobs(pipe_ctx *c) {
    c->n_jobs = c->o->pipeline ? 3 * c->batch + 2 : c->batch;
    c->jobs = re_alloc((size_t)c->n_jobs * sizeof *c->jobs, "jobs");
    if (!c->jobs) return RE_ERR_NOMEM;
    re_float_buf b[CTX_BUFS];
    for (int i = 0; i < c->n_jobs; i++) {
        job_bufs(c, &c->jobs[i], b);
        if (re_alloc_floats(b, JOB_BUFS) != RE_OK) return RE_ERR_NOMEM;
    }
    ctx_bufs(c, b);
    return re_alloc_floats(b, CTX_BUFS);
}

static void ctx_free(pipe_ctx *c) {
    re_float_buf b[CTX_BUFS];
    if (c->jobs)
        for (int i = 0; i < c->n_jobs; i++) {
            job_bufs(c, &c->jobs[i], b);
            re_free_floats(b, JOB_BUFS);
            re_image_free(&c->jobs[i].drv);
        }
    re_free(c->jobs);
    ctx_bufs(c, b);
    re_free_floats(b, CTX_BUFS);
    free(c->ex_z);
    free(c->ex_lm);
    free(c->ex_found);
    re_latent_filter_free(c->filt);
    re_steer_state_free(c->steer);
    re_runner_free(c->run);
    re_face_tracker_free(c->trk);
    re_face_detector_free(c->det_owned);
    re_video_reader_close(c->rd);
    re_video_writer_abort(c->vw);   /* NULL after a successful close */
    re_paste_free(c->paste);
    re_render_free(c->render);
    re_face_detector_free(c->rdet_owned);
    re_free(c->src_dec);
    re_storyboard_free(c->sb);
    re_image *imgs[] = {&c->lm_up, &c->lm_small, &c->frame, &c->crop_img, &c->face_img,
                        &c->gen,   &c->left,     &c->final, &c->dimg};
    for (size_t i = 0; i < RE_COUNT(imgs); i++) re_image_free(imgs[i]);
    if (c->audio_tmp[0]) remove(c->audio_tmp);   /* after the writer (which reads it) is closed or aborted */
}

/* The end of a run: free the context and return s, keeping a failure's message (the cleanup may call functions
 * that clear or set it). */
static re_status ctx_finish(pipe_ctx *c, re_status s) {
    if (s != RE_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", re_last_error());
        ctx_free(c);
        return re_fail(s, "%s", msg);
    }
    ctx_free(c);
    return RE_OK;
}

static re_status check_opts(const re_anim_opts *o, pipe_mode mode) {
    if (o->batch < 1 || o->batch > 256) return re_fail(RE_ERR_ARG, "batch must be 1..256, got %d", o->batch);
    if (o->model_threads < 0 || o->model_threads > 1024)
        return re_fail(RE_ERR_ARG, "model_threads must be 0..1024, got %d", o->model_threads);
    if (o->max_frames < 0) return re_fail(RE_ERR_ARG, "max_frames must be >= 0");
    if (o->precision < RE_PREC_F32 || o->precision > RE_PREC_MIXED)
        return re_fail(RE_ERR_ARG, "unknown precision %d", (int)o->precision);
    if (mode == MODE_EXTRACT) return RE_OK;
    if (!o->source) return re_fail(RE_ERR_ARG, "no source photo given");
    if (!o->driving == !o->motion) return re_fail(RE_ERR_ARG, "give exactly one of a driving video and a motion");
    re_status s = anim_check_output_opts(o);
    if (s != RE_OK) return s;
    if (o->ref != RE_REF_FIRST && o->ref != RE_REF_BEST && o->ref != RE_REF_POSE)
        return re_fail(RE_ERR_ARG, "unknown reference mode %d", o->ref);
    if (o->paste_back && (o->paste_max_side < 16 || !(o->paste_feather > 0 && o->paste_feather <= 1)))
        return re_fail(RE_ERR_ARG, "paste-back needs paste_max_side >= 16 and feather in (0,1]");
    if (o->storyboard && (o->storyboard_every < 0 || o->storyboard_tile < 16 || o->storyboard_tile > 1024))
        return re_fail(RE_ERR_ARG, "storyboard needs every >= 0 and a tile of 16..1024 pixels");
    if (!o->output && !o->storyboard && !o->progress) return re_fail(RE_ERR_ARG, "nothing to write: no output given");
    return RE_OK;
}

static re_status ctx_init(pipe_ctx *c, re_model *m, const re_anim_opts *o, pipe_mode mode, re_anim_stats *st) {
    memset(c, 0, sizeof *c);
    c->o = o;
    c->mode = mode;
    c->m = m;
    c->st = st;
    c->t0 = pipe_now_s();
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

/* The reference pass of --ref best and --ref pose on a video: track every frame, keep the index (*frame), the
 * attributes and, when best_crop is not NULL, the crop of the one whose normalized landmarks are closest to the
 * source's, then rewind. */
static re_status best_ref_pass(pipe_ctx *c, const float src_lmn[RE_FACE_LANDMARKS][2], float *best_crop,
                               int64_t *frame) {
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
            *frame = n;
            if (c->dirs) c->has_ref_attr = re_face_attributes(tr.face.lm, c->ref_attr) == RE_OK;
            if (!best_crop) continue;
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
    st->pose_ref_frame = -1;
    if (!m || !o) return re_fail(RE_ERR_ARG, "re_animate: NULL argument");
    re_status s = check_opts(o, MODE_ANIMATE);
    if (s != RE_OK) return s;
    pipe_ctx c;
    re_image photo = {0};
    float src_lmn[RE_FACE_LANDMARKS][2];
    float a_photo[RE_ATTR_COUNT];   /* the photo's attributes from its own landmarks, when has_a_photo */
    int has_a_photo = 0;
    re_face_frame sframe;
    int pose_ref = 0;   /* RE_REF_POSE applies: the source has landmarks and the attributes drive the pose */
    const double t_start = pipe_now_s();
    s = ctx_init(&c, m, o, MODE_ANIMATE, st);
    if (s != RE_OK) goto done;
    c.driving = o->driving;
    c.mo = o->motion;
    if (c.mo && (s = re_motion_check_model(c.mo, m, "motion")) != RE_OK) goto done;
    /* steering: with a model that has directions, unless the options ask for plain latent arithmetic */
    if ((s = re_steer_directions(re_model_directions(m), &o->steer, &c.dirs)) != RE_OK) goto done;

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
        has_a_photo = re_face_attributes(faces[0].lm, a_photo) == RE_OK;
        if (s == RE_OK) s = re_face_align(&photo, faces[0].lm, c.res, &c.crop_img);
    }
    if (s != RE_OK) goto done;
    re_image_to_chw(&c.crop_img, c.src_crop);
    pose_ref = o->ref == RE_REF_POSE && !o->aligned && c.dirs && o->steer.attr_drive;

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
        if (o->ref == RE_REF_BEST && (!c.mo->landmarks || o->aligned)) {
            s = re_fail(RE_ERR_ARG, "--ref best needs landmarks in the motion file and a detected source face; "
                        "use --ref first");
            goto done;
        }
        /* deltas are relative to the file's reference, the first frame with a face */
        st->ref_frame = c.mo_first_found;
        if (o->ref == RE_REF_BEST || (pose_ref && c.mo->landmarks)) {
            double best = INFINITY;
            int64_t lim = c.limit > 0 && c.limit < c.mo->frames ? c.limit : c.mo->frames, bt = -1;
            for (int64_t t = 0; t < lim; t++) {
                if (!c.mo->found[t]) continue;
                double d = re_anim_landmarks_distance((const float(*)[2])(c.mo->landmarks + (size_t)t * 136), src_lmn);
                if (d < best) {
                    best = d;
                    bt = t;
                }
            }
            if (!isfinite(best)) {
                s = re_fail(RE_ERR_NO_FACE, "the motion has no frame with a face in its first %" PRId64 " frames", lim);
                goto done;
            }
            c.has_ref_attr = re_face_attributes((const float(*)[2])(c.mo->landmarks + (size_t)bt * 136),
                                                c.ref_attr) == RE_OK;
            if (o->ref == RE_REF_BEST) {
                st->ref_frame = bt;
                memcpy(c.zref, c.mo->deltas + (size_t)bt * c.latent, (size_t)c.latent * sizeof(float));
            } else {
                st->pose_ref_frame = bt;
            }
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
            if ((s = best_ref_pass(&c, src_lmn, c.ref_crop, &st->ref_frame)) != RE_OK) goto done;
            c.ref_pending = 1;   /* encoded by the model stage */
        } else if (pose_ref) {
            if ((s = best_ref_pass(&c, src_lmn, NULL, &st->pose_ref_frame)) != RE_OK) goto done;
        }
    }
    if (c.limit > 0 && (c.total < 0 || c.total > c.limit)) c.total = c.limit;
    st->fps_num = fps_num;
    st->fps_den = fps_den;
    if (o->smooth) {
        s = re_latent_filter_create(&c.filt, c.latent, (double)fps_num / fps_den, &o->smooth_opts);
        if (s != RE_OK) goto done;
    }
    /* the transfer, steered when the model's directions apply (the driver's attributes smoothed like the codes) */
    s = re_steer_state_create(&c.steer, c.dirs, &o->steer, o->strength, c.latent, (double)fps_num / fps_den,
                              o->smooth ? &o->smooth_opts : NULL);
    if (s != RE_OK) goto done;
    re_steer_state_set_photo(c.steer, has_a_photo ? a_photo : NULL);
    if (c.has_ref_attr && o->ref == RE_REF_BEST) re_steer_state_set_ref(c.steer, c.ref_attr);
    if (c.has_ref_attr && o->ref == RE_REF_POSE) re_steer_state_set_pose_ref(c.steer, c.ref_attr);
    if (!c.has_ref_attr) st->pose_ref_frame = -1;

    /* output geometry */
    if (o->paste_back) {
        re_image small = {0};
        const re_image *ph;
        re_face_frame fr;
        s = anim_paste_photo(&photo, &sframe, o->paste_max_side, &small, &ph, &fr);
        if (s != RE_OK) goto done;
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
    st->t.setup = pipe_now_s() - t_start;

    /* run */
    c.t0 = pipe_now_s();
    s = re_pipe_run(&c);
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
        double t = pipe_now_s();
        s = re_storyboard_render(c.sb, &board);
        if (s == RE_OK) s = re_image_save_png(&board, o->storyboard);
        re_image_free(&board);
        st->t.compose += pipe_now_s() - t;
        if (s != RE_OK) {
            s = re_fail_ctx(s, "cannot write storyboard '%s'", o->storyboard);
            goto done;
        }
    }
    if (c.vw) {
        double t = pipe_now_s();
        s = re_video_writer_close(c.vw);
        c.vw = NULL;
        st->t.write += pipe_now_s() - t;
        if (s != RE_OK) {
            if (c.sb) remove(o->storyboard);
            s = re_fail_ctx(s, "cannot finish '%s'", o->output);
            goto done;
        }
    }
done:
    st->wall_s = pipe_now_s() - t_start;
    re_image_free(&photo);
    return ctx_finish(&c, s);
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
    pipe_ctx c;
    re_motion *mo = NULL;
    const double t_start = pipe_now_s();
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
    st->t.setup = pipe_now_s() - t_start;
    c.t0 = pipe_now_s();
    s = re_pipe_run(&c);
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
    st->wall_s = pipe_now_s() - t_start;
    re_motion_free(mo);
    return ctx_finish(&c, s);
}
#endif /* RE_HAVE_FFMPEG */