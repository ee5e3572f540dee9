/*
 * eval_clips.c - `reenact eval`: driving clips as aligned frames in batches (decode, track, align, encode, smooth,
 * the driver's attributes for steering), used by parts 2 and 3, and part 2: self-reenactment (--clips), FOMM's
 * protocol: source = the aligned first frame with a face, generated frame t = decode(z_src + z_t - z_0) against the
 * real aligned frame t, and temporal flicker. docs/FORMAT.md "eval JSON", "self_reenactment".
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "reenact/anim.h"
#include "reenact/data.h"
#include "reenact/face.h"
#include "reenact/media.h"
#include "reenact/metrics.h"
#include "reenact/faceid.h"
#include "eval_render.h"
#include "steer_cli.h"

#include "eval.h"

#ifdef RE_HAVE_FFMPEG
/* ---- clips: aligned frames in batches ------------------------------------------------------------------------ */

re_status ev_clip_open(ctx *c, clip_iter *it, const char *path) {
    re_status st;
    memset(it, 0, sizeof *it);
    it->path = path;
    if ((st = re_video_reader_open(&it->rd, path)) != RE_OK) return st;
    re_video_info vi = re_video_reader_info(it->rd);
    it->fps = vi.fps_den > 0 ? (double)vi.fps_num / vi.fps_den : 25.0;
    it->total = vi.nb_frames > 0 ? (long)vi.nb_frames : 0;
    if (c->max_frames > 0 && (it->total <= 0 || it->total > c->max_frames)) it->total = c->max_frames;
    re_face_tracker_opts to;
    re_face_tracker_opts_default(&to);
    to.fps = (float)it->fps;
    if ((st = re_face_tracker_create(&it->trk, c->det, c->res, &to)) != RE_OK) return st;
    return c->smooth ? re_latent_filter_create(&it->filt, c->L, it->fps, &c->smooth_opts) : RE_OK;
}

json_t *ev_clip_json(const char *path, const clip_iter *it) {
    json_t *o = json_object();
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "fps", json_real(it->fps));
    json_object_set_new(o, "frames", json_integer(it->used));
    json_object_set_new(o, "leading_no_face", json_integer(it->leading_no_face));
    json_object_set_new(o, "lost_frames", json_integer(it->lost));
    return o;
}

json_t *ev_clip_finish(prog *p, const clip_iter *it, const char *path, const char *what, const char *left_out) {
    ev_prog_tick(p, it->used, it->total, "frames", 1);
    json_t *o = ev_clip_json(path, it);
    if (it->used == 0) {
        fprintf(stderr, "reenact eval: warning: no face found in any of the %ld frames of %s'%s'; %s\n", it->decoded,
                what, path, left_out);
        json_object_set_new(o, "error", json_string("no face found"));
    }
    return o;
}

void ev_clip_close(clip_iter *it) {
    re_latent_filter_free(it->filt);
    it->filt = NULL;
    re_face_tracker_free(it->trk);
    re_video_reader_close(it->rd);
    re_image_free(&it->frame);
    it->trk = NULL;
    it->rd = NULL;
}

/* Up to c->batch aligned frames into c->crops[] and c->x; found[j] = the tracker found a face in frame j, with its
 * full-resolution features in feat[j] (NaN otherwise). *nb = 0 at the end. */
re_status ev_clip_next(ctx *c, clip_iter *it, int *nb, int *found, double (*feat)[NFEAT]) {
    re_status st;
    *nb = 0;
    while (!it->eof && *nb < c->batch) {
        if (c->max_frames > 0 && it->used >= c->max_frames) {
            it->eof = 1;
            break;
        }
        st = re_video_reader_next(it->rd, &it->frame, NULL);
        if (st == RE_VIDEO_EOF) {
            it->eof = 1;
            break;
        }
        if (st != RE_OK) return re_fail_ctx(st, "'%s' frame %ld", it->path, it->decoded);
        it->decoded++;
        re_face_track tr;
        if ((st = re_face_tracker_update(it->trk, &it->frame, &tr)) != RE_OK)
            return re_fail_ctx(st, "'%s' frame %ld", it->path, it->decoded - 1);
        if (it->used == 0 && !tr.found) {
            it->leading_no_face++;
            continue;
        }
        int j = *nb;
        if ((st = re_image_warp_affine(&it->frame, &c->crops[j], c->res, c->res, tr.m_dst_to_src,
                                       RE_BORDER_REPLICATE)) != RE_OK)
            return st;
        re_image_to_chw(&c->crops[j], c->x + (size_t)j * c->per);
        found[j] = tr.found;
        for (int k = 0; k < NFEAT; k++) feat[j][k] = NAN;
        re_face_features ff;
        if (tr.found && re_face_landmark_features(tr.face.lm, &ff) == RE_OK) {
            feat[j][0] = ff.mouth_open;
            feat[j][1] = 0.5 * ((double)ff.eye_open_l + ff.eye_open_r);
            feat[j][2] = ff.yaw;
            feat[j][3] = ff.pitch;
            float a[RE_ATTR_COUNT];
            if (re_face_attributes(tr.face.lm, a) == RE_OK) feat[j][4] = a[RE_ATTR_SMILE];
        }
        if (c->lmn)   /* --ref best: the frame's landmarks, normalized for position and scale */
            c->lmn_ok[j] = tr.found && re_anim_landmarks_normalize(tr.face.lm, c->lmn[j]) == RE_OK;
        /* the driver's attributes for steering (NaN: none in this frame; the steering state holds the last ones) */
        if (c->steer_on && !(tr.found && re_face_attributes(tr.face.lm, c->attr[j]) == RE_OK)) c->attr[j][0] = NAN;
        if (!tr.found) it->lost++;
        if (c->fid && tr.found && !it->has_emb) {
            if ((st = re_faceid_embed(c->fid, &it->frame, (const float(*)[2])tr.face.lm, it->emb)) != RE_OK)
                return re_fail_ctx(st, "'%s' frame %ld: face identity", it->path, it->decoded - 1);
            it->has_emb = 1;
        }
        it->used++;
        (*nb)++;
    }
    return RE_OK;
}

re_status ev_steer_open(const ctx *c, const clip_iter *it, const float *a_photo, re_steer_state **out) {
    re_status st = re_steer_state_create(out, c->steer_on ? c->dirs : NULL, &c->steer, 1.0f, c->L, it->fps,
                                         &c->smooth_opts);
    if (st == RE_OK) re_steer_state_set_photo(*out, a_photo);
    return st;
}

/* Driving codes c->z[0..nb), the next nb frames of the driver -> c->z2 = zsrc + (z - zref) (strength 1), or with
 * steering zsrc + re_steer_apply(z - zref, the driver's attribute change), as animate does. */
void ev_transfer(const ctx *c, re_steer_state *sst, const float *zsrc, const float *zref, int nb) {
    for (int j = 0; j < nb; j++) {
        const float *a = c->steer_on && isfinite(c->attr[j][0]) ? c->attr[j] : NULL;
        re_steer_state_next(sst, zsrc, c->z + (size_t)j * c->L, zref, a, c->z2 + (size_t)j * c->L);
        re_steer_state_render_parts(sst, &c->parts[j]);
    }
}

/* With --smooth: filter the nb driving codes in c->z in frame order (animate's default temporal smoothing). */
void ev_smooth_codes(const ctx *c, re_latent_filter *f, int nb) {
    if (!f) return;
    for (int j = 0; j < nb; j++) re_latent_filter_apply(f, c->z + (size_t)j * c->L);
}

re_status ev_clip_next_codes(ctx *c, clip_iter *it, int *nb, int *found, double (*feat)[NFEAT]) {
    re_status st = ev_clip_next(c, it, nb, found, feat);
    if (st != RE_OK || *nb == 0) return st;
    if ((st = re_encode(c->r, c->x, *nb, c->z, NULL)) != RE_OK) return st;
    ev_smooth_codes(c, it->filt, *nb);
    return RE_OK;
}

/* ---- 2. self-reenactment ------------------------------------------------------------------------------------- */

re_status eval_clips(ctx *c, char **clips, int n_clips, json_t **out) {
    re_status st = RE_OK;
    clip_iter it = {0};
    re_steer_state *sst = NULL;
    json_t *o = json_object(), *arr = json_array();
    float *zsrc = NULL, *prev_x = NULL, *prev_y = NULL;
    int *found = NULL;
    double(*feat)[NFEAT] = NULL;
    re_stats t_l1 = {0}, t_psnr = {0}, t_ssim = {0}, t_flick = {0};
    long t_frames = 0, n_ok = 0;
    double t0 = ev_now_s();
    zsrc = malloc((size_t)c->L * sizeof *zsrc);
    prev_x = malloc(c->per * sizeof *prev_x);
    prev_y = malloc(c->per * sizeof *prev_y);
    found = malloc((size_t)c->batch * sizeof *found);
    feat = malloc((size_t)c->batch * sizeof *feat);
    if (!o || !arr || !zsrc || !prev_x || !prev_y || !found || !feat) {
        st = re_fail(RE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    printf("self-reenactment (source = first aligned frame, generated t = decode(z_src + z_t - z_0)):\n");
    printf("  %-28s %6s %5s %8s %7s %7s %8s\n", "clip", "frames", "lost", "L1", "PSNR", "SSIM", "flicker");
    for (int ci = 0; ci < n_clips; ci++) {
        re_stats l1 = {0}, psnr = {0}, ssim = {0};
        double d_out = 0, d_drv = 0;
        long n_diff = 0;
        prog p;
        ev_prog_start(&p, ev_base_name(clips[ci]), c->quiet);
        if ((st = ev_clip_open(c, &it, clips[ci])) != RE_OK) goto fail;
        re_steer_state_free(sst);
        if ((st = ev_steer_open(c, &it, NULL, &sst)) != RE_OK) goto fail;
        int nb;
        for (;;) {
            if ((st = ev_clip_next_codes(c, &it, &nb, found, feat)) != RE_OK) goto fail;
            if (nb == 0) break;
            if (it.used == nb) memcpy(zsrc, c->z, (size_t)c->L * sizeof *zsrc); /* first batch: frame 0 */
            ev_transfer(c, sst, zsrc, zsrc, nb); /* source and reference are both frame 0 */
            if ((st = re_decode(c->r, c->z2, nb, c->y)) != RE_OK) goto fail;
            for (int j = 0; j < nb; j++) {
                const float *real = c->x + (size_t)j * c->per, *gen = c->y + (size_t)j * c->per;
                double s, ps = re_metric_psnr(re_metric_mse(gen, real, c->per), 1.0);
                if ((st = re_metric_ssim(gen, real, c->C, c->res, c->res, &s)) != RE_OK) goto fail;
                double e = re_metric_l1(gen, real, c->per);
                ps = ps > PSNR_CAP ? PSNR_CAP : ps;
                re_stats_add(&l1, e);
                re_stats_add(&psnr, ps);
                re_stats_add(&ssim, s);
                re_stats_add(&t_l1, e);
                re_stats_add(&t_psnr, ps);
                re_stats_add(&t_ssim, s);
                long t = it.used - nb + j;
                if (t > 0) {
                    d_out += re_metric_l1(gen, prev_y, c->per);
                    d_drv += re_metric_l1(real, prev_x, c->per);
                    n_diff++;
                }
                memcpy(prev_x, real, c->per * sizeof *prev_x);
                memcpy(prev_y, gen, c->per * sizeof *prev_y);
            }
            ev_prog_tick(&p, it.used, it.total, "frames", 0);
        }
        json_t *cj = ev_clip_finish(&p, &it, clips[ci], "", "clip left out");
        if (it.used == 0) {
            printf("  %-28.28s %6s  no face found in %ld frames\n", ev_base_name(clips[ci]), "-", it.decoded);
        } else {
            double fo = n_diff ? d_out / n_diff : NAN, fd = n_diff ? d_drv / n_diff : NAN;
            double fr = fd > 0 ? fo / fd : NAN;
            json_object_set_new(cj, "l1", ev_jstats(&l1));
            json_object_set_new(cj, "psnr", ev_jstats(&psnr));
            json_object_set_new(cj, "ssim", ev_jstats(&ssim));
            json_t *fl = json_object();
            json_object_set_new(fl, "output", ev_jnum(fo));
            json_object_set_new(fl, "driver", ev_jnum(fd));
            json_object_set_new(fl, "ratio", ev_jnum(fr));
            json_object_set_new(cj, "flicker", fl);
            re_stats_add(&t_flick, fr);
            t_frames += it.used;
            n_ok++;
            printf("  %-28.28s %6ld %5ld %8.4f %7.2f %7.4f %8.3f\n", ev_base_name(clips[ci]), it.used, it.lost,
                   re_stats_mean(&l1), re_stats_mean(&psnr), re_stats_mean(&ssim), fr);
        }
        json_array_append_new(arr, cj);
        ev_clip_close(&it);
    }
    double secs = ev_now_s() - t0;
    json_object_set_new(o, "clips", arr);
    arr = NULL;
    json_object_set_new(o, "clips_ok", json_integer(n_ok));
    json_object_set_new(o, "frames", json_integer(t_frames));
    json_object_set_new(o, "l1", ev_jstats(&t_l1));
    json_object_set_new(o, "psnr", ev_jstats(&t_psnr));
    json_object_set_new(o, "ssim", ev_jstats(&t_ssim));
    json_object_set_new(o, "flicker_ratio", ev_jstats(&t_flick));
    json_object_set_new(o, "seconds", json_real(secs));
    printf("  %-28s %6ld %5s %8.4f %7.2f %7.4f %8.3f   (all frames; flicker: mean over clips; %.1f s)\n", "all",
           t_frames, "", re_stats_mean(&t_l1), re_stats_mean(&t_psnr), re_stats_mean(&t_ssim),
           re_stats_mean(&t_flick), secs);
    *out = o;
    o = NULL;
fail:
    ev_clip_close(&it);
    re_steer_state_free(sst);
    json_decref(o);
    json_decref(arr);
    free(zsrc);
    free(prev_x);
    free(prev_y);
    free(found);
    free(feat);
    return st;
}
#endif /* RE_HAVE_FFMPEG */
