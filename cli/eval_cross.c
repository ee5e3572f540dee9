/*
 * eval_cross.c - `reenact eval`, part 3: cross-identity motion fidelity (--cross PORTRAITS --drivers CLIPS). Every
 * portrait is animated by every driver; the motion proxies (mouth, eyes, yaw, pitch, smile) of the outputs are
 * correlated over time with the driver's, against the ceiling of the driver's own crop; with --id-model, identity
 * distances; with a render, detail, colour and seam of the photo-resolution output (eval_render.c).
 * docs/FORMAT.md "eval JSON", "cross_identity".
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
/* ---- 3. cross-identity motion fidelity ----------------------------------------------------------------------- */

typedef struct series {
    double *v[NFEAT];
    size_t n, cap;
} series;

static int series_push(series *s, const double f[NFEAT]) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        for (int k = 0; k < NFEAT; k++) {
            double *nv = realloc(s->v[k], nc * sizeof *nv);
            if (!nv) return 0;
            s->v[k] = nv;
        }
        s->cap = nc;
    }
    for (int k = 0; k < NFEAT; k++) s->v[k][s->n] = f[k];
    s->n++;
    return 1;
}

static void series_free(series *s) {
    for (int k = 0; k < NFEAT; k++) free(s->v[k]);
    memset(s, 0, sizeof *s);
}

/* Correlations of series a and b per feature into r[], returns the usable frame count (of the first feature). */
static size_t series_corr(const series *a, const series *b, double r[NFEAT]) {
    size_t used = 0, u;
    for (int k = 0; k < NFEAT; k++) {
        r[k] = re_metric_pearson(a->v[k], b->v[k], a->n < b->n ? a->n : b->n, &u);
        if (k == 0) used = u;
    }
    return used;
}

/* Standard deviation over time of each feature (finite values only): how much it moves. */
static void series_std(const series *s, double sd[NFEAT]) {
    for (int k = 0; k < NFEAT; k++) {
        re_stats st = {0};
        for (size_t i = 0; i < s->n; i++) re_stats_add(&st, s->v[k][i]);
        sd[k] = re_stats_std(&st);
    }
}

/* The smile bias of one pair: how much more the output's smile rose above its first frame than the driver's above
 * its own, on average over the frames both have, in units of `unit` (the directions' smile sigma when known). */
static double smile_drift(const series *out, const series *drv, double unit) {
    const size_t n = out->n < drv->n ? out->n : drv->n;
    double o0 = NAN, d0 = NAN, sum = 0;
    size_t m = 0;
    for (size_t t = 0; t < n; t++) {
        const double o = out->v[4][t], d = drv->v[4][t];
        if (!isfinite(o) || !isfinite(d)) continue;
        if (!isfinite(o0)) o0 = o, d0 = d;
        sum += (o - o0) - (d - d0);
        m++;
    }
    return m > 1 ? sum / (double)m / unit : NAN;
}

/* {feature: [per-frame values, null where no face]} of the first n frames of s (--series). */
static json_t *series_json(const series *s, size_t n) {
    json_t *o = json_object();
    for (int k = 0; k < NFEAT; k++) {
        json_t *a = json_array();
        for (size_t t = 0; t < n && t < s->n; t++) json_array_append_new(a, ev_jnum(s->v[k][t]));
        json_object_set_new(o, feat_names[k], a);
    }
    return o;
}

static json_t *corr_json(const double r[NFEAT]) {
    json_t *o = json_object();
    for (int k = 0; k < NFEAT; k++) json_object_set_new(o, feat_names[k], ev_jnum(r[k]));
    return o;
}

/* A growable vector of doubles (for medians and percentiles). */
typedef struct dvec {
    double *v;
    size_t n, cap;
} dvec;

static int dvec_push(dvec *d, double x) {
    double *nv = cli_grow(d->v, d->n, &d->cap, sizeof *nv, 256);
    if (!nv) return 0;
    d->v = nv;
    d->v[d->n++] = x;
    return 1;
}

static int cmp_dbl(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* q-quantile (linear interpolation) of d's values; sorts them. NaN when empty. */
static double dvec_quantile(dvec *d, double q) {
    if (!d->n) return NAN;
    qsort(d->v, d->n, sizeof *d->v, cmp_dbl);
    const double pos = q * (double)(d->n - 1);
    const size_t i = (size_t)pos;
    return i + 1 < d->n ? d->v[i] + (pos - i) * (d->v[i + 1] - d->v[i]) : d->v[i];
}

static double dvec_share_over(const dvec *d, double t) {
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++) k += d->v[i] > t;
    return d->n ? (double)k / d->n : NAN;
}

/* {median, p90, mean, over_threshold, n} of identity distances. */
static json_t *id_json(dvec *d) {
    json_t *o = json_object();
    double m = 0;
    for (size_t i = 0; i < d->n; i++) m += d->v[i];
    json_object_set_new(o, "n", json_integer((json_int_t)d->n));
    json_object_set_new(o, "mean", ev_jnum(d->n ? m / d->n : NAN));
    json_object_set_new(o, "median", ev_jnum(dvec_quantile(d, 0.5)));
    json_object_set_new(o, "p90", ev_jnum(dvec_quantile(d, 0.9)));
    json_object_set_new(o, "over_threshold", ev_jnum(dvec_share_over(d, RE_FACEID_THRESHOLD)));
    return o;
}

typedef struct portrait {
    const char *path;
    int ok;
    float *z;           /* [L] */
    float attr[RE_ATTR_COUNT]; /* the photo's attributes (its own landmarks) */
    int has_attr;
    re_steer_state *steer;     /* the current driver's transfer to this photo */
    series out;         /* output features over time (current driver) */
    long no_face;       /* output frames without a face (current driver) */
    float *prev;        /* previous output frame */
    double d_out;       /* sum |out_t - out_t-1| */
    er_portrait *er;    /* with a render: the portrait's renderer and measures */
    dvec id_src, id_drv;        /* current driver: identity distances of the output to the photo, to the driver */
    re_stats sharp;             /* current driver: sharpness ratios */
    int chroma;                 /* current driver: largest output chroma */
    double seam;                /* current driver: largest seam ratio */
    float lmn[RE_FACE_LANDMARKS][2]; /* --ref best: the photo's landmarks, normalized (lmn_ok) */
    int lmn_ok;
    float *zref;                /* --ref best: [L] the current driver's code at ref_frame (unsmoothed) */
    float aref[RE_ATTR_COUNT];  /* --ref best: the driver's attributes there (aref[0] NaN: none) */
    long ref_frame;             /* --ref best|pose: the best frame among the driver's used frames; -1: none */
    int pose_ref;               /* --ref pose: the head's pose is measured from ref_frame (steering with attributes) */
} portrait;

/* --ref best and --ref pose: one pass over the frames of the driver that the measurement will use. For each
 * portrait, the frame whose normalized landmarks are closest to the portrait's (as animate picks it), the driver's
 * attributes there and, for --ref best only, its code (unsmoothed, as animate encodes its reference crop). A portrait
 * without usable landmarks keeps the first frame (ref_frame -1). */
static re_status best_refs(ctx *c, clip_iter *it, const char *path, portrait *P, int n_ports, int *found,
                           double (*feat)[NFEAT]) {
    double *best = malloc((size_t)n_ports * sizeof *best);
    if (!best) return re_fail(RE_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n_ports; i++) {
        best[i] = INFINITY;
        P[i].ref_frame = -1;
    }
    re_status st = ev_clip_open(c, it, path);
    while (st == RE_OK) {
        int nb, coded = 0;
        if ((st = ev_clip_next(c, it, &nb, found, feat)) != RE_OK || nb == 0) break;
        const long t0 = it->used - nb;
        for (int j = 0; j < nb && st == RE_OK; j++)
            for (int i = 0; i < n_ports && st == RE_OK; i++) {
                if (!P[i].ok || !P[i].lmn_ok || !c->lmn_ok[j]) continue;
                const double d = re_anim_landmarks_distance((const float(*)[2])c->lmn[j], (const float(*)[2])P[i].lmn);
                if (!(d < best[i])) continue;
                best[i] = d;
                P[i].ref_frame = t0 + j;
                if (c->ref == RE_REF_BEST) {   /* --ref pose keeps the first frame's code */
                    if (!coded && (st = re_encode(c->r, c->x, nb, c->z, NULL)) != RE_OK) break;
                    coded = 1;
                    memcpy(P[i].zref, c->z + (size_t)j * c->L, (size_t)c->L * sizeof(float));
                }
                if (c->steer_on && isfinite(c->attr[j][0])) memcpy(P[i].aref, c->attr[j], sizeof P[i].aref);
                else P[i].aref[0] = NAN;
            }
    }
    ev_clip_close(it);
    free(best);
    return st;
}

/* The worst pair of one measure: {"value", "portrait", "driver"}. */
static json_t *worst_pair(double value, const char *portrait, const char *driver) {
    json_t *w = json_object();
    json_object_set_new(w, "value", ev_jnum(value));
    json_object_set_new(w, "portrait", json_string(portrait));
    json_object_set_new(w, "driver", json_string(driver));
    return w;
}

re_status eval_cross(ctx *c, char **ports, int n_ports, char **drivers, int n_drivers, json_t **out) {
    re_status st = RE_OK;
    clip_iter it = {0};
    portrait *P = NULL;
    series drv = {0}, ceil_s = {0};
    json_t *o = json_object(), *jp = json_array(), *jd = json_array(), *pairs = json_array();
    int *found = NULL;
    double(*feat)[NFEAT] = NULL;
    float *zref = NULL, *prev_x = NULL;
    re_stats corr_st[NFEAT] = {{0}}, meas_st[NFEAT] = {{0}}, ceil_st[NFEAT] = {{0}};
    re_stats flick = {0}, sharp_all = {0}, pair_id_med = {0};
    re_stats smile_st = {0};
    dvec pool_src = {0}, pool_drv = {0};
    int chroma_gray = -1;
    double seam_all = 0, worst_mouth = INFINITY, worst_id = -INFINITY;
    const char *worst_mouth_p = NULL, *worst_mouth_d = NULL, *worst_id_p = NULL, *worst_id_d = NULL;
    long tot_frames = 0, tot_no_face = 0;
    int n_ok = 0;
    double t0 = ev_now_s();
    P = calloc((size_t)n_ports, sizeof *P);
    found = malloc((size_t)c->batch * sizeof *found);
    feat = malloc((size_t)c->batch * sizeof *feat);
    zref = malloc((size_t)c->L * sizeof *zref);
    prev_x = malloc(c->per * sizeof *prev_x);
    if (!P || !found || !feat || !zref || !prev_x || !o || !jp || !jd || !pairs) {
        st = re_fail(RE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    /* encode the portraits */
    for (int i = 0; i < n_ports; i++) {
        int fnd = 0, nf = 0;
        P[i].path = ports[i];
        json_t *pj = json_object();
        json_object_set_new(pj, "path", json_string(ports[i]));
        if ((st = ev_load_aligned(c, ports[i], 1, &c->crops[0], &fnd, &nf)) != RE_OK) {
            json_decref(pj);
            re_fail_ctx(st, "portrait '%s'", ports[i]);
            goto fail;
        }
        if (!fnd) {
            fprintf(stderr, "reenact eval: warning: no face found in portrait '%s'; left out\n", ports[i]);
            json_object_set_new(pj, "error", json_string("no face found"));
            json_array_append_new(jp, pj);
            continue;
        }
        if (nf > 1) fprintf(stderr, "reenact eval: note: %d faces in '%s', using the largest\n", nf, ports[i]);
        json_object_set_new(pj, "faces", json_integer(nf));
        json_array_append_new(jp, pj);
        P[i].z = malloc((size_t)c->L * sizeof(float));
        P[i].prev = malloc(c->per * sizeof(float));
        if (!P[i].z || !P[i].prev) {
            st = re_fail(RE_ERR_NOMEM, "out of memory");
            goto fail;
        }
        re_image_to_chw(&c->crops[0], c->x);
        if ((st = re_encode(c->r, c->x, 1, P[i].z, NULL)) != RE_OK) goto fail;
        P[i].has_attr = re_face_attributes(c->last_face.lm, P[i].attr) == RE_OK;
        if (c->ref != RE_REF_FIRST) {
            P[i].lmn_ok = re_anim_landmarks_normalize(c->last_face.lm, P[i].lmn) == RE_OK;
            if (c->ref == RE_REF_BEST && !(P[i].zref = malloc((size_t)c->L * sizeof(float)))) {
                st = re_fail(RE_ERR_NOMEM, "out of memory");
                goto fail;
            }
        }
        if (c->render >= 0) {   /* the whole photo, rendered as animate --paste-back does */
            if ((st = re_decode(c->r, P[i].z, 1, c->y)) != RE_OK) goto fail;
            er_opts eo = {(re_anim_render)c->render, c->field, c->res, c->max_side, 384, c->det, c->fid, c->eye_motion};
            if ((st = er_portrait_open(&P[i].er, &eo, &c->img, &c->last_face, c->y)) != RE_OK) {
                re_fail_ctx(st, "portrait '%s'", ports[i]);
                goto fail;
            }
            json_object_set_new(pj, "gray", json_boolean(er_is_gray(P[i].er)));
            if (!er_source(P[i].er)->found)
                fprintf(stderr, "reenact eval: warning: no face found in the measurement crop of '%s'\n", ports[i]);
        }
        P[i].ok = 1;
        n_ok++;
    }
    if (n_ok == 0) {
        st = re_fail(RE_ERR_NO_FACE, "no face found in any of the %d portraits", n_ports);
        goto fail;
    }
    printf("cross-identity motion fidelity (Pearson r over time, driver vs output; landmarks at %dx%d):\n",
           c->lm_size, c->lm_size);
    printf("  %-22s %-22s %6s %7s %7s %7s %7s %7s %7s%s\n", "portrait", "driver", "frames", "no_face", "mouth", "eye",
           "yaw", "pitch", "flicker", c->render >= 0 ? "  id_med id>.55   sharp" : "");
    for (int di = 0; di < n_drivers; di++) {
        long ceil_no_face = 0, n_diff = 0;
        double d_drv = 0;
        prog p;
        char label[256];
        snprintf(label, sizeof label, "driver %s x %d portraits", ev_base_name(drivers[di]), n_ok);
        ev_prog_start(&p, label, c->quiet);
        series_free(&drv);
        series_free(&ceil_s);
        for (int i = 0; i < n_ports; i++) {
            series_free(&P[i].out);
            P[i].no_face = 0;
            P[i].d_out = 0;
            P[i].id_src.n = P[i].id_drv.n = 0;
            re_stats_init(&P[i].sharp);
            P[i].chroma = 0;
            P[i].seam = 0;
        }
        if (c->ref != RE_REF_FIRST && (st = best_refs(c, &it, drivers[di], P, n_ports, found, feat)) != RE_OK)
            goto fail;
        if ((st = ev_clip_open(c, &it, drivers[di])) != RE_OK) goto fail;
        for (int i = 0; i < n_ports; i++) {
            if (!P[i].ok) continue;
            re_steer_state_free(P[i].steer);
            P[i].steer = NULL;
            if ((st = ev_steer_open(c, &it, P[i].has_attr ? P[i].attr : NULL, &P[i].steer)) != RE_OK) goto fail;
            P[i].pose_ref = 0;
            if (c->ref == RE_REF_BEST && P[i].ref_frame >= 0 && isfinite(P[i].aref[0]))
                re_steer_state_set_ref(P[i].steer, P[i].aref);
            if (c->ref == RE_REF_POSE && P[i].ref_frame >= 0 && isfinite(P[i].aref[0]) && c->steer.attr_drive) {
                re_steer_state_set_pose_ref(P[i].steer, P[i].aref);
                P[i].pose_ref = 1;
            }
        }
        int nb;
        for (;;) {
            if ((st = ev_clip_next_codes(c, &it, &nb, found, feat)) != RE_OK) goto fail;
            if (nb == 0) break;
            if (it.used == nb) memcpy(zref, c->z, (size_t)c->L * sizeof *zref);
            long t_first = it.used - nb;
            for (int j = 0; j < nb; j++) {
                double fc[NFEAT];
                int fnd;
                if (!series_push(&drv, feat[j])) goto nomem;
                if ((st = ev_measure_small(c, &c->crops[j], fc, &fnd)) != RE_OK) goto fail;
                if (!fnd) ceil_no_face++;
                if (!series_push(&ceil_s, fc)) goto nomem;
                const float *real = c->x + (size_t)j * c->per;
                if (t_first + j > 0) {
                    d_drv += re_metric_l1(real, prev_x, c->per);
                    n_diff++;
                }
                memcpy(prev_x, real, c->per * sizeof *prev_x);
            }
            for (int i = 0; i < n_ports; i++) {
                if (!P[i].ok) continue;
                ev_transfer(c, P[i].steer, P[i].z, c->ref == RE_REF_BEST && P[i].ref_frame >= 0 ? P[i].zref : zref, nb);
                if ((st = re_decode(c->r, c->z2, nb, c->y)) != RE_OK) goto fail;
                for (int j = 0; j < nb; j++) {
                    const float *gen = c->y + (size_t)j * c->per;
                    double fo[NFEAT];
                    int fnd;
                    if (P[i].er) {
                        er_result rr;
                        er_set_parts(P[i].er, &c->parts[j]);
                        if ((st = er_measure(P[i].er, gen, &rr)) != RE_OK) goto fail;
                        fnd = rr.found;
                        memcpy(fo, rr.feat, sizeof fo);
                        const er_result *sr = er_source(P[i].er);
                        if (rr.has_emb && sr->has_emb && !dvec_push(&P[i].id_src, re_faceid_distance(rr.emb, sr->emb)))
                            goto nomem;
                        if (rr.has_emb && it.has_emb && !dvec_push(&P[i].id_drv, re_faceid_distance(rr.emb, it.emb)))
                            goto nomem;
                        re_stats_add(&P[i].sharp, rr.sharp);
                        if (rr.chroma > P[i].chroma) P[i].chroma = rr.chroma;
                        if (isfinite(rr.seam) && rr.seam > P[i].seam) P[i].seam = rr.seam;
                    } else {
                        if ((st = re_image_from_chw(&c->tmp, gen, c->res, c->res)) != RE_OK) goto fail;
                        if ((st = ev_measure_small(c, &c->tmp, fo, &fnd)) != RE_OK) goto fail;
                    }
                    if (!fnd) P[i].no_face++;
                    if (!series_push(&P[i].out, fo)) goto nomem;
                    if (t_first + j > 0) P[i].d_out += re_metric_l1(gen, P[i].prev, c->per);
                    memcpy(P[i].prev, gen, c->per * sizeof(float));
                }
            }
            ev_prog_tick(&p, it.used, it.total, "frames", 0);
        }
        json_t *dj = ev_clip_finish(&p, &it, drivers[di], "driver ", "left out");
        if (it.used == 0) {
            json_array_append_new(jd, dj);
            ev_clip_close(&it);
            continue;
        }
        double rc[NFEAT], fd = n_diff ? d_drv / n_diff : NAN;
        size_t cu = series_corr(&drv, &ceil_s, rc);
        json_object_set_new(dj, "ceiling_no_face", json_integer(ceil_no_face));
        json_object_set_new(dj, "ceiling_frames_used", json_integer((json_int_t)cu));
        json_object_set_new(dj, "ceiling_corr", corr_json(rc));
        json_object_set_new(dj, "flicker", ev_jnum(fd));
        json_array_append_new(jd, dj);
        for (int k = 0; k < NFEAT; k++) re_stats_add(&ceil_st[k], rc[k]);
        for (int i = 0; i < n_ports; i++) {
            if (!P[i].ok) continue;
            double r[NFEAT];
            size_t used = series_corr(&drv, &P[i].out, r);
            double fo = n_diff ? P[i].d_out / n_diff : NAN, fr = fd > 0 ? fo / fd : NAN;
            json_t *pj = json_object();
            json_object_set_new(pj, "portrait", json_string(P[i].path));
            json_object_set_new(pj, "driver", json_string(drivers[di]));
            json_object_set_new(pj, "frames", json_integer(it.used));
            json_object_set_new(pj, "ref_frame",
                                json_integer(c->ref == RE_REF_BEST && P[i].ref_frame >= 0 ? P[i].ref_frame : 0));
            if (c->ref == RE_REF_POSE)
                json_object_set_new(pj, "pose_ref_frame", json_integer(P[i].pose_ref ? P[i].ref_frame : -1));
            json_object_set_new(pj, "output_no_face", json_integer(P[i].no_face));
            if (c->series) {
                json_t *sj = json_object();
                json_object_set_new(sj, "driver", series_json(&drv, drv.n));
                json_object_set_new(sj, "output", series_json(&P[i].out, P[i].out.n));
                json_object_set_new(pj, "series", sj);
            }
            json_object_set_new(pj, "frames_used", json_integer((json_int_t)used));
            json_object_set_new(pj, "corr", corr_json(r));
            double sd_out[NFEAT], sd_drv[NFEAT];
            series_std(&P[i].out, sd_out);
            series_std(&drv, sd_drv);
            json_object_set_new(pj, "output_std", corr_json(sd_out));
            json_object_set_new(pj, "driver_std", corr_json(sd_drv));
            const double sb = smile_drift(&P[i].out, &drv, c->dirs ? c->dirs->sigma[RE_ATTR_SMILE] : 1.0);
            json_object_set_new(pj, "smile_bias", ev_jnum(sb));
            re_stats_add(&smile_st, sb);
            json_object_set_new(pj, "flicker_ratio", ev_jnum(fr));
            double id_med = NAN, id_over = NAN;
            if (P[i].er) {
                if (c->fid) {
                    for (size_t q = 0; q < P[i].id_src.n; q++)
                        if (!dvec_push(&pool_src, P[i].id_src.v[q])) goto nomem;
                    for (size_t q = 0; q < P[i].id_drv.n; q++)
                        if (!dvec_push(&pool_drv, P[i].id_drv.v[q])) goto nomem;
                    id_over = dvec_share_over(&P[i].id_src, RE_FACEID_THRESHOLD);
                    json_object_set_new(pj, "identity", id_json(&P[i].id_src));
                    json_object_set_new(pj, "identity_to_driver", id_json(&P[i].id_drv));
                    id_med = dvec_quantile(&P[i].id_src, 0.5);
                    re_stats_add(&pair_id_med, id_med);
                    if (isfinite(id_med) && id_med > worst_id) {
                        worst_id = id_med;
                        worst_id_p = P[i].path;
                        worst_id_d = drivers[di];
                    }
                }
                json_object_set_new(pj, "sharpness", ev_jnum(re_stats_mean(&P[i].sharp)));
                json_object_set_new(pj, "seam", ev_jnum(P[i].seam > 0 ? P[i].seam : NAN));
                re_stats_add(&sharp_all, re_stats_mean(&P[i].sharp));
                if (P[i].seam > seam_all) seam_all = P[i].seam;
                if (er_is_gray(P[i].er)) {
                    json_object_set_new(pj, "gray_chroma_max", json_integer(P[i].chroma));
                    if (P[i].chroma > chroma_gray) chroma_gray = P[i].chroma;
                }
            }
            if (isfinite(r[0]) && r[0] < worst_mouth) {
                worst_mouth = r[0];
                worst_mouth_p = P[i].path;
                worst_mouth_d = drivers[di];
            }
            json_array_append_new(pairs, pj);
            for (int k = 0; k < NFEAT; k++) {
                re_stats_add(&corr_st[k], r[k]);
                if (rc[k] >= EV_MEASURABLE) re_stats_add(&meas_st[k], r[k]);
            }
            re_stats_add(&flick, fr);
            tot_frames += it.used;
            tot_no_face += P[i].no_face;
            printf("  %-22.22s %-22.22s %6ld %7ld %7.3f %7.3f %7.3f %7.3f %7.3f", ev_base_name(P[i].path),
                   ev_base_name(drivers[di]), it.used, P[i].no_face, r[0], r[1], r[2], r[3], fr);
            if (P[i].er) printf(" %7.3f %7.3f %7.3f", id_med, id_over, re_stats_mean(&P[i].sharp));
            printf("\n");
        }
        printf("  %-22s %-22.22s %6ld %7ld %7.3f %7.3f %7.3f %7.3f %7s\n", "(ceiling: driver crop)",
               ev_base_name(drivers[di]), it.used, ceil_no_face, rc[0], rc[1], rc[2], rc[3], "");
        ev_clip_close(&it);
    }
    double secs = ev_now_s() - t0;
    json_t *cm = json_object(), *cc = json_object(), *cme = json_object();
    for (int k = 0; k < NFEAT; k++) {
        json_object_set_new(cm, feat_names[k], ev_jstats(&corr_st[k]));
        json_object_set_new(cc, feat_names[k], ev_jstats(&ceil_st[k]));
        json_object_set_new(cme, feat_names[k], ev_jstats(&meas_st[k]));
    }
    json_object_set_new(o, "landmark_size", json_integer(c->lm_size));
    json_object_set_new(o, "portraits", jp);
    json_object_set_new(o, "drivers", jd);
    json_object_set_new(o, "pairs", pairs);
    jp = jd = pairs = NULL;
    json_object_set_new(o, "corr", cm);
    json_object_set_new(o, "ceiling_corr", cc);
    json_object_set_new(o, "measurable_threshold", json_real(EV_MEASURABLE));
    json_object_set_new(o, "corr_measurable", cme);
    json_object_set_new(o, "output_frames", json_integer(tot_frames));
    json_object_set_new(o, "output_no_face", json_integer(tot_no_face));
    json_object_set_new(o, "output_no_face_rate", ev_jnum(tot_frames ? (double)tot_no_face / tot_frames : NAN));
    json_object_set_new(o, "flicker_ratio", ev_jstats(&flick));
    json_object_set_new(o, "smile_bias", ev_jstats(&smile_st));
    json_object_set_new(o, "seconds", json_real(secs));
    json_object_set_new(o, "ref", json_string(c->ref == RE_REF_BEST ? "best" : c->ref == RE_REF_POSE ? "pose" : "first"));
    json_object_set_new(o, "render", json_string(c->render < 0 ? "crop" : c->render == RE_RENDER_PHOTO ? "photo" : "model"));
    json_t *worst = json_object();
    if (worst_mouth_p) json_object_set_new(worst, "mouth_open", worst_pair(worst_mouth, worst_mouth_p, worst_mouth_d));
    if (worst_id_p) json_object_set_new(worst, "identity_median", worst_pair(worst_id, worst_id_p, worst_id_d));
    json_object_set_new(o, "worst_pair", worst);
    if (c->render >= 0) {
        if (c->fid) {
            json_object_set_new(o, "identity", id_json(&pool_src));
            json_object_set_new(o, "identity_to_driver", id_json(&pool_drv));
            json_object_set_new(o, "identity_pair_median", ev_jstats(&pair_id_med));
        }
        json_object_set_new(o, "sharpness", ev_jstats(&sharp_all));
        json_object_set_new(o, "seam_max", ev_jnum(seam_all > 0 ? seam_all : NAN));
        json_object_set_new(o, "gray_chroma_max", chroma_gray >= 0 ? json_integer(chroma_gray) : json_null());
    }
    printf("  mean r over %llu pairs: mouth %.3f  eye %.3f  yaw %.3f  pitch %.3f  (ceiling %.3f %.3f %.3f %.3f); "
           "no face in %ld of %ld output frames; %.1f s\n",
           (unsigned long long)corr_st[0].n + corr_st[0].n_skipped, re_stats_mean(&corr_st[0]),
           re_stats_mean(&corr_st[1]), re_stats_mean(&corr_st[2]), re_stats_mean(&corr_st[3]),
           re_stats_mean(&ceil_st[0]), re_stats_mean(&ceil_st[1]), re_stats_mean(&ceil_st[2]),
           re_stats_mean(&ceil_st[3]), tot_no_face, tot_frames, secs);
    printf("  smile r %.3f (ceiling %.3f); smile bias (output's rise over its first frame minus the driver's) %+.3f %s, "
           "per pair min %+.3f max %+.3f\n", re_stats_mean(&corr_st[4]), re_stats_mean(&ceil_st[4]),
           re_stats_mean(&smile_st), c->dirs ? "smile sigmas" : "face units", smile_st.n ? smile_st.min : NAN,
           smile_st.n ? smile_st.max : NAN);
    printf("  where the driver's own crop follows the feature (ceiling r >= %.2f): mouth %.3f (%llu pairs)  eye %.3f "
           "(%llu)  yaw %.3f (%llu)  pitch %.3f (%llu)\n", EV_MEASURABLE, re_stats_mean(&meas_st[0]),
           (unsigned long long)meas_st[0].n, re_stats_mean(&meas_st[1]), (unsigned long long)meas_st[1].n,
           re_stats_mean(&meas_st[2]), (unsigned long long)meas_st[2].n, re_stats_mean(&meas_st[3]),
           (unsigned long long)meas_st[3].n);
    if (worst_mouth_p)
        printf("  worst pair for the mouth: %s x %s, r %.3f\n", ev_base_name(worst_mouth_p), ev_base_name(worst_mouth_d),
               worst_mouth);
    if (c->render >= 0) {
        if (c->fid)
            printf("  identity (distance to the photo, %zu frames): median %.3f, p90 %.3f, %.1f%% over %.2f; to the "
                   "driver: median %.3f; worst pair median %.3f (%s x %s)\n", pool_src.n, dvec_quantile(&pool_src, 0.5),
                   dvec_quantile(&pool_src, 0.9), 100 * dvec_share_over(&pool_src, RE_FACEID_THRESHOLD),
                   RE_FACEID_THRESHOLD, dvec_quantile(&pool_drv, 0.5), worst_id,
                   worst_id_p ? ev_base_name(worst_id_p) : "-", worst_id_d ? ev_base_name(worst_id_d) : "-");
        printf("  detail (sharpness vs photo): mean %.3f, min %.3f; seam ratio max %.3f; grayscale photos: largest "
               "output chroma %d\n", re_stats_mean(&sharp_all), sharp_all.n ? sharp_all.min : NAN, seam_all, chroma_gray);
    }
    *out = o;
    o = NULL;
    goto fail;
nomem:
    st = re_fail(RE_ERR_NOMEM, "out of memory");
fail:
    ev_clip_close(&it);
    free(pool_src.v);
    free(pool_drv.v);
    if (P)
        for (int i = 0; i < n_ports; i++) {
            er_portrait_free(P[i].er);
            re_steer_state_free(P[i].steer);
            free(P[i].id_src.v);
            free(P[i].id_drv.v);
            free(P[i].z);
            free(P[i].prev);
            free(P[i].zref);
            series_free(&P[i].out);
        }
    free(P);
    series_free(&drv);
    series_free(&ceil_s);
    free(found);
    free(feat);
    free(zref);
    free(prev_x);
    json_decref(o);
    json_decref(jp);
    json_decref(jd);
    json_decref(pairs);
    return st;
}
#endif /* RE_HAVE_FFMPEG */
