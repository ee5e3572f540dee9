/*
 * cmd_eval.c - `reenact eval`: measures a model the same way every time, so that models (the VAE and the VAE-GAN)
 * can be compared. Three independent parts, each enabled by its inputs:
 *   1. reconstruction (--faces DIR or --dataset F.rds): faces aligned like the training data, x' = decode(mu(x));
 *      L1, PSNR, SSIM and the sharpness ratio (gradient energy of x' over x), mean/std/min/max over images.
 *   2. self-reenactment (--clips): FOMM's protocol. Source = the aligned first frame with a face, driver = the same
 *      clip; generated frame t = decode(z_src + z_t - z_0) compared with the real aligned frame t (L1, PSNR, SSIM);
 *      temporal flicker = mean |out_t - out_t-1| / mean |real_t - real_t-1|.
 *   3. cross-identity motion fidelity (--cross PORTRAITS --drivers CLIPS): every portrait animated by every driver
 *      (z = z_portrait + z_t - z_0); dlib landmarks on each generated 64x64 frame upscaled (Lanczos) to
 *      --landmark-size; Pearson r over time between the driver's and the output's mouth opening, eye opening, yaw
 *      and pitch proxies (re_face_landmark_features). Frames where dlib finds no face in the output are counted and
 *      left out of the correlation. The "ceiling" runs the same measurement on the driver's own aligned crop.
 * Writes a readable summary to stdout, progress to stderr, and with --json the results as specified in
 * docs/FORMAT.md ("eval JSON"). Metric definitions: include/reenact/metrics.h.
 * Motion transfer uses re_anim_transfer with strength 1 and the first frame with a face as reference; the driving
 * codes are smoothed (re_latent_filter, as `animate` does by default) only with --smooth (or --smooth-cutoff /
 * --smooth-beta, animate's filter settings), so by default the figures measure the model alone.
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

#define CMD "eval"
#define EVAL_FORMAT_VERSION 1
#define PSNR_CAP 100.0 /* dB; identical images (MSE 0) are reported as this */
#define NFEAT 5
static const char *const feat_names[NFEAT] __attribute__((unused)) = {"mouth_open", "eye_open", "yaw", "pitch",
                                                                       "smile"};

typedef struct ctx {
    re_model *m;
    re_runner *r;
    re_face_detector *det;
    int res, C, L, batch, align, quiet, lm_size, smooth;
    re_latent_filter_opts smooth_opts; /* with --smooth: the filter's settings (animate's defaults unless set) */
    long max_images, max_frames;
    size_t per;          /* floats per image */
    float *x, *y, *z, *z2;
    re_image *crops;     /* [batch] aligned crops of the current batch */
    re_image img, up, tmp;
    re_face last_face;   /* load_aligned: the largest face of the last image */
    int render;          /* --cross: -1 = the decoded 64x64 face itself (--render crop), else re_anim_render */
    int max_side;        /* --cross with a render: photos downscaled to this longest side */
    re_faceid *fid;      /* --id-model, or NULL */
    re_anim_field field; /* --field */
    re_steer_opts steer; /* motion controls (steer_cli.h) */
    int steer_on;        /* steering applies: the model has directions and the options ask for it */
    const re_directions *dirs;
    float (*attr)[RE_ATTR_COUNT]; /* [batch] the driver's attributes (full-resolution landmarks) */
    float *steer_tmp;    /* [3 * L] */
} ctx;

/* ---- small helpers ------------------------------------------------------------------------------------------ */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct prog {
    const char *what;
    double t0, last;
    int quiet;
} prog;

static void prog_start(prog *p, const char *what, int quiet) {
    p->what = what;
    p->t0 = p->last = now_s();
    p->quiet = quiet;
}

/* Progress line on stderr at most every 2 s, and always when final. total <= 0: unknown. */
static void prog_tick(prog *p, long done, long total, const char *unit, int final) {
    double t = now_s();
    if (p->quiet || (!final && (t - p->last < 2.0 || (total > 0 && done >= total)))) return;
    p->last = t;
    double el = t - p->t0;
    if (total > 0)
        fprintf(stderr, "reenact eval: %s %ld/%ld %s (%.1f/s, %.0f s)%s\n", p->what, done, total, unit,
                el > 0 ? done / el : 0.0, el, final ? " done" : "");
    else
        fprintf(stderr, "reenact eval: %s %ld %s (%.1f/s, %.0f s)%s\n", p->what, done, unit, el > 0 ? done / el : 0.0,
                el, final ? " done" : "");
}

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *jstats(const re_stats *s) {
    json_t *o = json_object();
    json_object_set_new(o, "n", json_integer((json_int_t)s->n));
    json_object_set_new(o, "mean", jnum(re_stats_mean(s)));
    json_object_set_new(o, "std", jnum(re_stats_std(s)));
    json_object_set_new(o, "min", jnum(s->n ? s->min : NAN));
    json_object_set_new(o, "max", jnum(s->n ? s->max : NAN));
    return o;
}

__attribute__((unused)) static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int has_image_ext(const char *p) {
    size_t n = strlen(p);
    const char *ext[] = {".jpg", ".jpeg", ".png"};
    for (size_t i = 0; i < 3; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && strcasecmp(p + n - e, ext[i]) == 0) return 1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void free_list(char **v, size_t n) {
    if (!v) return;
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Sorted full paths of the PNG/JPEG files (by extension) in dir. */
static re_status list_images(const char *dir, char ***out, size_t *n_out) {
    re_status st = RE_OK;
    char **v = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    if (!d) return re_fail(RE_ERR_IO, "cannot open directory '%s'", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !has_image_ext(e->d_name)) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            char **nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                st = re_fail(RE_ERR_NOMEM, "out of memory listing '%s'", dir);
                goto fail;
            }
            v = nv;
            cap = nc;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if (!(v[n] = malloc(len))) {
            st = re_fail(RE_ERR_NOMEM, "out of memory listing '%s'", dir);
            goto fail;
        }
        snprintf(v[n], len, "%s/%s", dir, e->d_name);
        n++;
    }
    qsort(v, n, sizeof *v, cmp_str);
    *out = v;
    *n_out = n;
    v = NULL;
fail:
    closedir(d);
    if (v) free_list(v, n);
    return st;
}

/* Center square of src resized to res x res. */
static re_status center_crop(const re_image *src, int res, re_image *dst) {
    int s = src->w < src->h ? src->w : src->h;
    re_image view = {s, s, src->stride,
                     src->data + (size_t)((src->h - s) / 2) * src->stride + (size_t)((src->w - s) / 2) * 3, 0};
    return re_image_resize(&view, dst, res, res);
}

/* Load an image and align its largest face (or center-crop when !align) into *crop. *found = 0 when no face. */
static re_status load_aligned(ctx *c, const char *path, int align, re_image *crop, int *found, int *n_faces) {
    re_status st;
    *found = 0;
    if (n_faces) *n_faces = 0;
    re_image_free(&c->img);
    if ((st = re_image_load(&c->img, path)) != RE_OK) return st;
    if (!align) {
        *found = 1;
        return center_crop(&c->img, c->res, crop);
    }
    re_face faces[4];
    int nf = 0;
    if ((st = re_face_detect(c->det, &c->img, faces, 4, &nf)) != RE_OK) return st;
    if (n_faces) *n_faces = nf;
    if (nf == 0) return RE_OK;
    *found = 1;
    c->last_face = faces[0];
    return re_face_align(&c->img, faces[0].lm, c->res, crop);
}

#ifdef RE_HAVE_FFMPEG
/* Features (mouth, eye, yaw, pitch) of the face in a small aligned image, measured on its upscaled copy.
 * f[] = NaN and *found = 0 when dlib finds no face. */
static re_status measure_small(ctx *c, const re_image *face, double f[NFEAT], int *found) {
    re_status st;
    for (int k = 0; k < NFEAT; k++) f[k] = NAN;
    *found = 0;
    if ((st = re_image_resize(face, &c->up, c->lm_size, c->lm_size)) != RE_OK) return st;
    re_face faces[2];
    int nf = 0;
    if ((st = re_face_detect(c->det, &c->up, faces, 2, &nf)) != RE_OK) return st;
    if (nf == 0) return RE_OK;
    re_face_features ff;
    if (re_face_landmark_features(faces[0].lm, &ff) != RE_OK) return RE_OK; /* degenerate: treat as not found */
    f[0] = ff.mouth_open;
    f[1] = 0.5 * ((double)ff.eye_open_l + ff.eye_open_r);
    f[2] = ff.yaw;
    f[3] = ff.pitch;
    float a[RE_ATTR_COUNT];
    if (re_face_attributes(faces[0].lm, a) == RE_OK) f[4] = a[RE_ATTR_SMILE];
    *found = 1;
    return RE_OK;
}
#endif

/* ---- 1. reconstruction --------------------------------------------------------------------------------------- */

typedef struct rec_acc {
    re_stats l1, psnr, ssim, sharp;
} rec_acc;

/* Reconstruct the nb images in c->x and add their metrics. */
static re_status rec_flush(ctx *c, int nb, rec_acc *a) {
    re_status st;
    if (nb == 0) return RE_OK;
    if ((st = re_encode(c->r, c->x, nb, c->z, NULL)) != RE_OK) return st;
    if ((st = re_decode(c->r, c->z, nb, c->y)) != RE_OK) return st;
    for (int j = 0; j < nb; j++) {
        const float *in = c->x + (size_t)j * c->per, *out = c->y + (size_t)j * c->per;
        double ssim, sharp, psnr = re_metric_psnr(re_metric_mse(out, in, c->per), 1.0);
        if ((st = re_metric_ssim(out, in, c->C, c->res, c->res, &ssim)) != RE_OK) return st;
        if ((st = re_metric_sharpness_ratio(out, in, c->C, c->res, c->res, &sharp)) != RE_OK) return st;
        re_stats_add(&a->l1, re_metric_l1(out, in, c->per));
        re_stats_add(&a->psnr, psnr > PSNR_CAP ? PSNR_CAP : psnr);
        re_stats_add(&a->ssim, ssim);
        re_stats_add(&a->sharp, sharp);
    }
    return RE_OK;
}

static json_t *rec_json(const rec_acc *a) {
    json_t *o = json_object();
    json_object_set_new(o, "l1", jstats(&a->l1));
    json_object_set_new(o, "psnr", jstats(&a->psnr));
    json_object_set_new(o, "ssim", jstats(&a->ssim));
    json_object_set_new(o, "sharpness_ratio", jstats(&a->sharp));
    return o;
}

static void rec_print(const rec_acc *a) {
    printf("  L1         %.4f +- %.4f\n", re_stats_mean(&a->l1), re_stats_std(&a->l1));
    printf("  PSNR       %.2f +- %.2f dB\n", re_stats_mean(&a->psnr), re_stats_std(&a->psnr));
    printf("  SSIM       %.4f +- %.4f\n", re_stats_mean(&a->ssim), re_stats_std(&a->ssim));
    printf("  sharpness  %.3f +- %.3f  (gradient energy of reconstruction / input)", re_stats_mean(&a->sharp),
           re_stats_std(&a->sharp));
    if (a->sharp.n_skipped) printf("  [%llu flat inputs left out]", (unsigned long long)a->sharp.n_skipped);
    printf("\n");
}

static re_status eval_faces(ctx *c, const char *dir, json_t **out) {
    re_status st = RE_OK;
    char **all = NULL;
    size_t n_all = 0;
    long used = 0, no_face = 0, unreadable = 0, multi = 0;
    int nb = 0;
    rec_acc a = {0};
    prog p;
    double t0 = now_s();
    if ((st = list_images(dir, &all, &n_all)) != RE_OK) goto fail;
    if (n_all == 0) {
        st = re_fail(RE_ERR_ARG, "no .png/.jpg/.jpeg files in '%s'", dir);
        goto fail;
    }
    size_t n_sel = c->max_images > 0 && (size_t)c->max_images < n_all ? (size_t)c->max_images : n_all;
    prog_start(&p, "faces", c->quiet);
    for (size_t i = 0; i < n_sel; i++) {
        /* evenly spaced in name order when subsampling */
        const char *path = all[n_sel == n_all ? i : (size_t)((double)i * (double)n_all / (double)n_sel)];
        int found = 0, nf = 0;
        st = load_aligned(c, path, c->align, &c->crops[nb], &found, &nf);
        if (st == RE_ERR_IO || st == RE_ERR_FORMAT || st == RE_ERR_TRUNCATED || st == RE_ERR_TOO_LARGE) {
            fprintf(stderr, "reenact eval: warning: skipping unreadable '%s': %s\n", path, re_last_error());
            unreadable++;
            st = RE_OK;
            continue;
        }
        if (st != RE_OK) goto fail;
        if (!found) {
            no_face++;
            continue;
        }
        if (nf > 1) multi++;
        re_image_to_chw(&c->crops[nb], c->x + (size_t)nb * c->per);
        used++;
        if (++nb == c->batch) {
            if ((st = rec_flush(c, nb, &a)) != RE_OK) goto fail;
            nb = 0;
        }
        prog_tick(&p, (long)i + 1, (long)n_sel, "images", 0);
    }
    if ((st = rec_flush(c, nb, &a)) != RE_OK) goto fail;
    prog_tick(&p, (long)n_sel, (long)n_sel, "images", 1);
    if (used == 0) {
        st = re_fail(RE_ERR_NO_FACE, "no usable face among the %zu images selected in '%s'", n_sel, dir);
        goto fail;
    }
    double secs = now_s() - t0;
    json_t *o = json_object(), *src = json_object();
    json_object_set_new(src, "kind", json_string("faces"));
    json_object_set_new(src, "path", json_string(dir));
    json_object_set_new(src, "images_listed", json_integer((json_int_t)n_all));
    json_object_set_new(src, "images_selected", json_integer((json_int_t)n_sel));
    json_object_set_new(o, "source", src);
    json_object_set_new(o, "images", json_integer(used));
    json_object_set_new(o, "no_face", json_integer(no_face));
    json_object_set_new(o, "unreadable", json_integer(unreadable));
    json_object_set_new(o, "several_faces", json_integer(multi));
    json_object_update_new(o, rec_json(&a));
    json_object_set_new(o, "seconds", json_real(secs));
    *out = o;
    printf("reconstruction: %s: %zu listed, %zu selected, %ld used, %ld without a face, %ld unreadable (%.1f s, "
           "%.1f img/s)\n", dir, n_all, n_sel, used, no_face, unreadable, secs, secs > 0 ? n_sel / secs : 0.0);
    rec_print(&a);
fail:
    free_list(all, n_all);
    return st;
}

static re_status eval_dataset(ctx *c, const char *path, int val_only, double val_fraction, uint64_t seed,
                              json_t **out) {
    re_status st = RE_OK;
    re_dataset *ds = NULL;
    re_loader *l = NULL;
    rec_acc a = {0};
    prog p;
    double t0 = now_s();
    if ((st = re_dataset_open(&ds, path)) != RE_OK) goto fail;
    if (re_dataset_res(ds) != c->res || (int)re_dataset_info(ds)->channels != c->C) {
        st = re_fail(RE_ERR_SHAPE, "dataset '%s' holds %dx%d images with %u channels, the model takes %dx%d with %d",
                     path, re_dataset_res(ds), re_dataset_res(ds), re_dataset_info(ds)->channels, c->res, c->res, c->C);
        goto fail;
    }
    uint64_t total;
    if (val_only) {
        re_loader_opts lo;
        re_loader_opts_default(&lo);
        lo.batch = 1;
        lo.prefetch = 0;
        lo.shuffle = 0;
        lo.val_fraction = val_fraction;
        lo.seed = seed;
        if ((st = re_loader_create(&l, ds, &lo)) != RE_OK) goto fail;
        total = re_loader_val_count(l);
        if (total == 0) {
            st = re_fail(RE_ERR_ARG, "dataset '%s': the validation split is empty (val fraction %g)", path,
                         val_fraction);
            goto fail;
        }
    } else {
        total = re_dataset_count(ds);
    }
    uint64_t n_sel = c->max_images > 0 && (uint64_t)c->max_images < total ? (uint64_t)c->max_images : total;
    prog_start(&p, "dataset", c->quiet);
    int nb = 0;
    for (uint64_t i = 0; i < n_sel; i++) {
        uint64_t k = n_sel == total ? i : (uint64_t)((double)i * (double)total / (double)n_sel);
        uint64_t rec = val_only ? re_loader_val_index(l, k) : k;
        if ((st = re_dataset_read_chw(ds, rec, 0, c->x + (size_t)nb * c->per)) != RE_OK) goto fail;
        if (++nb == c->batch) {
            if ((st = rec_flush(c, nb, &a)) != RE_OK) goto fail;
            nb = 0;
        }
        prog_tick(&p, (long)i + 1, (long)n_sel, "images", 0);
    }
    if ((st = rec_flush(c, nb, &a)) != RE_OK) goto fail;
    prog_tick(&p, (long)n_sel, (long)n_sel, "images", 1);
    double secs = now_s() - t0;
    json_t *o = json_object(), *src = json_object();
    json_object_set_new(src, "kind", json_string("dataset"));
    json_object_set_new(src, "path", json_string(path));
    json_object_set_new(src, "split", json_string(val_only ? "val" : "all"));
    json_object_set_new(src, "val_fraction", val_only ? json_real(val_fraction) : json_null());
    json_object_set_new(src, "split_seed", val_only ? json_integer((json_int_t)seed) : json_null());
    json_object_set_new(src, "images_listed", json_integer((json_int_t)total));
    json_object_set_new(src, "images_selected", json_integer((json_int_t)n_sel));
    json_object_set_new(o, "source", src);
    json_object_set_new(o, "images", json_integer((json_int_t)n_sel));
    json_object_set_new(o, "no_face", json_integer(0));
    json_object_set_new(o, "unreadable", json_integer(0));
    json_object_set_new(o, "several_faces", json_integer(0));
    json_object_update_new(o, rec_json(&a));
    json_object_set_new(o, "seconds", json_real(secs));
    *out = o;
    printf("reconstruction: dataset %s (%s split, %llu records, %llu used; %.1f s)\n", path,
           val_only ? "validation" : "whole", (unsigned long long)total, (unsigned long long)n_sel, secs);
    rec_print(&a);
fail:
    re_loader_free(l);
    re_dataset_close(ds);
    return st;
}

/* ---- clips: aligned frames in batches ------------------------------------------------------------------------ */
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
    re_latent_filter *afilt; /* with steering: the driver's attributes' One-Euro filter */
    float aref[RE_ATTR_COUNT], alast[RE_ATTR_COUNT]; /* attributes at the reference frame, and the last measured */
    int have_aref, have_alast;
    float emb[RE_FACEID_DIM]; /* with --id-model: the driver's face (first frame with a face) */
    int has_emb;
} clip_iter;

static re_status clip_open(ctx *c, clip_iter *it, const char *path) {
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
    if (c->steer_on && (st = re_latent_filter_create(&it->afilt, RE_ATTR_COUNT, it->fps, &c->smooth_opts)) != RE_OK)
        return st;
    return c->smooth ? re_latent_filter_create(&it->filt, c->L, it->fps, &c->smooth_opts) : RE_OK;
}

static void clip_close(clip_iter *it) {
    re_latent_filter_free(it->filt);
    it->filt = NULL;
    re_latent_filter_free(it->afilt);
    it->afilt = NULL;
    re_face_tracker_free(it->trk);
    re_video_reader_close(it->rd);
    re_image_free(&it->frame);
    it->trk = NULL;
    it->rd = NULL;
}

/* Up to c->batch aligned frames into c->crops[] and c->x; found[j] = the tracker found a face in frame j, with its
 * full-resolution features in feat[j] (NaN otherwise). *nb = 0 at the end. */
static re_status clip_next(ctx *c, clip_iter *it, int *nb, int *found, double (*feat)[NFEAT]) {
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
        if (c->steer_on) {   /* the driver's attributes; a frame without a face holds the last ones */
            if (tr.found && re_face_attributes(tr.face.lm, c->attr[j]) == RE_OK) {
                re_latent_filter_apply(it->afilt, c->attr[j]);
                memcpy(it->alast, c->attr[j], sizeof it->alast);
                it->have_alast = 1;
            } else if (it->have_alast) {
                memcpy(c->attr[j], it->alast, sizeof it->alast);
            }
            if (!it->have_aref && it->have_alast) {
                memcpy(it->aref, it->alast, sizeof it->aref);
                it->have_aref = 1;
            }
        }
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

/* Driving codes c->z[0..nb) -> c->z2 = zsrc + (z - zref) (re_anim_transfer, strength 1), or with steering
 * zsrc + re_steer_apply(z - zref, the driver's attribute change), as animate does. */
static void transfer(const ctx *c, const clip_iter *it, const float *zsrc, const float *zref, const float *a_photo,
                     int nb) {
    for (int j = 0; j < nb; j++) {
        float *out = c->z2 + (size_t)j * c->L;
        if (!c->steer_on) {
            re_anim_transfer(zsrc, c->z + (size_t)j * c->L, zref, 1.0f, c->L, out);
            continue;
        }
        float *dz = c->steer_tmp, da[RE_ATTR_COUNT];
        for (int i = 0; i < c->L; i++) dz[i] = c->z[(size_t)j * c->L + i] - zref[i];
        if (it->have_aref) re_steer_attr_delta(&c->steer, c->attr[j], it->aref, a_photo, da);
        else memset(da, 0, sizeof da);
        re_steer_apply(c->dirs, &c->steer, dz, da, 1.0f, dz, c->steer_tmp + c->L);
        for (int i = 0; i < c->L; i++) out[i] = zsrc[i] + dz[i];
    }
}

/* With --smooth: filter the nb driving codes in c->z in frame order (animate's default temporal smoothing). */
static void smooth_codes(const ctx *c, re_latent_filter *f, int nb) {
    if (!f) return;
    for (int j = 0; j < nb; j++) re_latent_filter_apply(f, c->z + (size_t)j * c->L);
}

/* ---- 2. self-reenactment ------------------------------------------------------------------------------------- */

static re_status eval_clips(ctx *c, char **clips, int n_clips, json_t **out) {
    re_status st = RE_OK;
    clip_iter it = {0};
    json_t *o = json_object(), *arr = json_array();
    float *zsrc = NULL, *prev_x = NULL, *prev_y = NULL;
    int *found = NULL;
    double(*feat)[NFEAT] = NULL;
    re_stats t_l1 = {0}, t_psnr = {0}, t_ssim = {0}, t_flick = {0};
    long t_frames = 0, n_ok = 0;
    double t0 = now_s();
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
        prog_start(&p, base_name(clips[ci]), c->quiet);
        if ((st = clip_open(c, &it, clips[ci])) != RE_OK) goto fail;
        int nb;
        for (;;) {
            if ((st = clip_next(c, &it, &nb, found, feat)) != RE_OK) goto fail;
            if (nb == 0) break;
            if ((st = re_encode(c->r, c->x, nb, c->z, NULL)) != RE_OK) goto fail;
            smooth_codes(c, it.filt, nb);
            if (it.used == nb) memcpy(zsrc, c->z, (size_t)c->L * sizeof *zsrc); /* first batch: frame 0 */
            transfer(c, &it, zsrc, zsrc, NULL, nb); /* source and reference are both frame 0 */
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
            prog_tick(&p, it.used, it.total, "frames", 0);
        }
        prog_tick(&p, it.used, it.total, "frames", 1);
        json_t *cj = json_object();
        json_object_set_new(cj, "path", json_string(clips[ci]));
        json_object_set_new(cj, "fps", json_real(it.fps));
        json_object_set_new(cj, "frames", json_integer(it.used));
        json_object_set_new(cj, "leading_no_face", json_integer(it.leading_no_face));
        json_object_set_new(cj, "lost_frames", json_integer(it.lost));
        if (it.used == 0) {
            fprintf(stderr, "reenact eval: warning: no face found in any of the %ld frames of '%s'; clip left out\n",
                    it.decoded, clips[ci]);
            json_object_set_new(cj, "error", json_string("no face found"));
            printf("  %-28.28s %6s  no face found in %ld frames\n", base_name(clips[ci]), "-", it.decoded);
        } else {
            double fo = n_diff ? d_out / n_diff : NAN, fd = n_diff ? d_drv / n_diff : NAN;
            double fr = fd > 0 ? fo / fd : NAN;
            json_object_set_new(cj, "l1", jstats(&l1));
            json_object_set_new(cj, "psnr", jstats(&psnr));
            json_object_set_new(cj, "ssim", jstats(&ssim));
            json_t *fl = json_object();
            json_object_set_new(fl, "output", jnum(fo));
            json_object_set_new(fl, "driver", jnum(fd));
            json_object_set_new(fl, "ratio", jnum(fr));
            json_object_set_new(cj, "flicker", fl);
            re_stats_add(&t_flick, fr);
            t_frames += it.used;
            n_ok++;
            printf("  %-28.28s %6ld %5ld %8.4f %7.2f %7.4f %8.3f\n", base_name(clips[ci]), it.used, it.lost,
                   re_stats_mean(&l1), re_stats_mean(&psnr), re_stats_mean(&ssim), fr);
        }
        json_array_append_new(arr, cj);
        clip_close(&it);
    }
    double secs = now_s() - t0;
    json_object_set_new(o, "clips", arr);
    arr = NULL;
    json_object_set_new(o, "clips_ok", json_integer(n_ok));
    json_object_set_new(o, "frames", json_integer(t_frames));
    json_object_set_new(o, "l1", jstats(&t_l1));
    json_object_set_new(o, "psnr", jstats(&t_psnr));
    json_object_set_new(o, "ssim", jstats(&t_ssim));
    json_object_set_new(o, "flicker_ratio", jstats(&t_flick));
    json_object_set_new(o, "seconds", json_real(secs));
    printf("  %-28s %6ld %5s %8.4f %7.2f %7.4f %8.3f   (all frames; flicker: mean over clips; %.1f s)\n", "all",
           t_frames, "", re_stats_mean(&t_l1), re_stats_mean(&t_psnr), re_stats_mean(&t_ssim),
           re_stats_mean(&t_flick), secs);
    *out = o;
    o = NULL;
fail:
    clip_close(&it);
    json_decref(o);
    json_decref(arr);
    free(zsrc);
    free(prev_x);
    free(prev_y);
    free(found);
    free(feat);
    return st;
}

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

static json_t *corr_json(const double r[NFEAT]) {
    json_t *o = json_object();
    for (int k = 0; k < NFEAT; k++) json_object_set_new(o, feat_names[k], jnum(r[k]));
    return o;
}

/* A growable vector of doubles (for medians and percentiles). */
typedef struct dvec {
    double *v;
    size_t n, cap;
} dvec;

static int dvec_push(dvec *d, double x) {
    if (d->n == d->cap) {
        size_t nc = d->cap ? 2 * d->cap : 256;
        double *nv = realloc(d->v, nc * sizeof *nv);
        if (!nv) return 0;
        d->v = nv;
        d->cap = nc;
    }
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
    json_object_set_new(o, "mean", jnum(d->n ? m / d->n : NAN));
    json_object_set_new(o, "median", jnum(dvec_quantile(d, 0.5)));
    json_object_set_new(o, "p90", jnum(dvec_quantile(d, 0.9)));
    json_object_set_new(o, "over_threshold", jnum(dvec_share_over(d, RE_FACEID_THRESHOLD)));
    return o;
}

typedef struct portrait {
    const char *path;
    int ok;
    float *z;           /* [L] */
    float attr[RE_ATTR_COUNT]; /* the photo's attributes (its own landmarks) */
    int has_attr;
    series out;         /* output features over time (current driver) */
    long no_face;       /* output frames without a face (current driver) */
    float *prev;        /* previous output frame */
    double d_out;       /* sum |out_t - out_t-1| */
    er_portrait *er;    /* with a render: the portrait's renderer and measures */
    dvec id_src, id_drv;        /* current driver: identity distances of the output to the photo, to the driver */
    re_stats sharp;             /* current driver: sharpness ratios */
    int chroma;                 /* current driver: largest output chroma */
    double seam;                /* current driver: largest seam ratio */
} portrait;

static re_status eval_cross(ctx *c, char **ports, int n_ports, char **drivers, int n_drivers, json_t **out) {
    re_status st = RE_OK;
    clip_iter it = {0};
    portrait *P = NULL;
    series drv = {0}, ceil_s = {0};
    json_t *o = json_object(), *jp = json_array(), *jd = json_array(), *pairs = json_array();
    int *found = NULL;
    double(*feat)[NFEAT] = NULL;
    float *zref = NULL, *prev_x = NULL;
    re_stats corr_st[NFEAT] = {{0}}, ceil_st[NFEAT] = {{0}}, flick = {0}, sharp_all = {0}, pair_id_med = {0};
    re_stats smile_st = {0};
    dvec pool_src = {0}, pool_drv = {0};
    int chroma_gray = -1;
    double seam_all = 0, worst_mouth = INFINITY, worst_id = -INFINITY;
    const char *worst_mouth_p = NULL, *worst_mouth_d = NULL, *worst_id_p = NULL, *worst_id_d = NULL;
    long tot_frames = 0, tot_no_face = 0;
    int n_ok = 0;
    double t0 = now_s();
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
        if ((st = load_aligned(c, ports[i], 1, &c->crops[0], &fnd, &nf)) != RE_OK) {
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
        if (c->render >= 0) {   /* the whole photo, rendered as animate --paste-back does */
            if ((st = re_decode(c->r, P[i].z, 1, c->y)) != RE_OK) goto fail;
            er_opts eo = {(re_anim_render)c->render, c->field, c->res, c->max_side, 384, c->det, c->fid};
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
        snprintf(label, sizeof label, "driver %s x %d portraits", base_name(drivers[di]), n_ok);
        prog_start(&p, label, c->quiet);
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
        if ((st = clip_open(c, &it, drivers[di])) != RE_OK) goto fail;
        int nb;
        for (;;) {
            if ((st = clip_next(c, &it, &nb, found, feat)) != RE_OK) goto fail;
            if (nb == 0) break;
            if ((st = re_encode(c->r, c->x, nb, c->z, NULL)) != RE_OK) goto fail;
            smooth_codes(c, it.filt, nb);
            if (it.used == nb) memcpy(zref, c->z, (size_t)c->L * sizeof *zref);
            long t_first = it.used - nb;
            for (int j = 0; j < nb; j++) {
                double fc[NFEAT];
                int fnd;
                if (!series_push(&drv, feat[j])) goto nomem;
                if ((st = measure_small(c, &c->crops[j], fc, &fnd)) != RE_OK) goto fail;
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
                transfer(c, &it, P[i].z, zref, P[i].has_attr ? P[i].attr : NULL, nb);
                if ((st = re_decode(c->r, c->z2, nb, c->y)) != RE_OK) goto fail;
                for (int j = 0; j < nb; j++) {
                    const float *gen = c->y + (size_t)j * c->per;
                    double fo[NFEAT];
                    int fnd;
                    if (P[i].er) {
                        er_result rr;
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
                        if ((st = measure_small(c, &c->tmp, fo, &fnd)) != RE_OK) goto fail;
                    }
                    if (!fnd) P[i].no_face++;
                    if (!series_push(&P[i].out, fo)) goto nomem;
                    if (t_first + j > 0) P[i].d_out += re_metric_l1(gen, P[i].prev, c->per);
                    memcpy(P[i].prev, gen, c->per * sizeof(float));
                }
            }
            prog_tick(&p, it.used, it.total, "frames", 0);
        }
        prog_tick(&p, it.used, it.total, "frames", 1);
        json_t *dj = json_object();
        json_object_set_new(dj, "path", json_string(drivers[di]));
        json_object_set_new(dj, "fps", json_real(it.fps));
        json_object_set_new(dj, "frames", json_integer(it.used));
        json_object_set_new(dj, "leading_no_face", json_integer(it.leading_no_face));
        json_object_set_new(dj, "lost_frames", json_integer(it.lost));
        if (it.used == 0) {
            fprintf(stderr, "reenact eval: warning: no face found in any of the %ld frames of driver '%s'; left out\n",
                    it.decoded, drivers[di]);
            json_object_set_new(dj, "error", json_string("no face found"));
            json_array_append_new(jd, dj);
            clip_close(&it);
            continue;
        }
        double rc[NFEAT], fd = n_diff ? d_drv / n_diff : NAN;
        size_t cu = series_corr(&drv, &ceil_s, rc);
        json_object_set_new(dj, "ceiling_no_face", json_integer(ceil_no_face));
        json_object_set_new(dj, "ceiling_frames_used", json_integer((json_int_t)cu));
        json_object_set_new(dj, "ceiling_corr", corr_json(rc));
        json_object_set_new(dj, "flicker", jnum(fd));
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
            json_object_set_new(pj, "output_no_face", json_integer(P[i].no_face));
            json_object_set_new(pj, "frames_used", json_integer((json_int_t)used));
            json_object_set_new(pj, "corr", corr_json(r));
            double sd_out[NFEAT], sd_drv[NFEAT];
            series_std(&P[i].out, sd_out);
            series_std(&drv, sd_drv);
            json_object_set_new(pj, "output_std", corr_json(sd_out));
            json_object_set_new(pj, "driver_std", corr_json(sd_drv));
            const double sb = smile_drift(&P[i].out, &drv, c->dirs ? c->dirs->sigma[RE_ATTR_SMILE] : 1.0);
            json_object_set_new(pj, "smile_bias", jnum(sb));
            re_stats_add(&smile_st, sb);
            json_object_set_new(pj, "flicker_ratio", jnum(fr));
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
                json_object_set_new(pj, "sharpness", jnum(re_stats_mean(&P[i].sharp)));
                json_object_set_new(pj, "seam", jnum(P[i].seam > 0 ? P[i].seam : NAN));
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
            for (int k = 0; k < NFEAT; k++) re_stats_add(&corr_st[k], r[k]);
            re_stats_add(&flick, fr);
            tot_frames += it.used;
            tot_no_face += P[i].no_face;
            printf("  %-22.22s %-22.22s %6ld %7ld %7.3f %7.3f %7.3f %7.3f %7.3f", base_name(P[i].path),
                   base_name(drivers[di]), it.used, P[i].no_face, r[0], r[1], r[2], r[3], fr);
            if (P[i].er) printf(" %7.3f %7.3f %7.3f", id_med, id_over, re_stats_mean(&P[i].sharp));
            printf("\n");
        }
        printf("  %-22s %-22.22s %6ld %7ld %7.3f %7.3f %7.3f %7.3f %7s\n", "(ceiling: driver crop)",
               base_name(drivers[di]), it.used, ceil_no_face, rc[0], rc[1], rc[2], rc[3], "");
        clip_close(&it);
    }
    double secs = now_s() - t0;
    json_t *cm = json_object(), *cc = json_object();
    for (int k = 0; k < NFEAT; k++) {
        json_object_set_new(cm, feat_names[k], jstats(&corr_st[k]));
        json_object_set_new(cc, feat_names[k], jstats(&ceil_st[k]));
    }
    json_object_set_new(o, "landmark_size", json_integer(c->lm_size));
    json_object_set_new(o, "portraits", jp);
    json_object_set_new(o, "drivers", jd);
    json_object_set_new(o, "pairs", pairs);
    jp = jd = pairs = NULL;
    json_object_set_new(o, "corr", cm);
    json_object_set_new(o, "ceiling_corr", cc);
    json_object_set_new(o, "output_frames", json_integer(tot_frames));
    json_object_set_new(o, "output_no_face", json_integer(tot_no_face));
    json_object_set_new(o, "output_no_face_rate", jnum(tot_frames ? (double)tot_no_face / tot_frames : NAN));
    json_object_set_new(o, "flicker_ratio", jstats(&flick));
    json_object_set_new(o, "smile_bias", jstats(&smile_st));
    json_object_set_new(o, "seconds", json_real(secs));
    json_object_set_new(o, "render", json_string(c->render < 0 ? "crop" : c->render == RE_RENDER_PHOTO ? "photo" : "model"));
    json_t *worst = json_object();
    if (worst_mouth_p) {
        json_t *w = json_object();
        json_object_set_new(w, "value", jnum(worst_mouth));
        json_object_set_new(w, "portrait", json_string(worst_mouth_p));
        json_object_set_new(w, "driver", json_string(worst_mouth_d));
        json_object_set_new(worst, "mouth_open", w);
    }
    if (worst_id_p) {
        json_t *w = json_object();
        json_object_set_new(w, "value", jnum(worst_id));
        json_object_set_new(w, "portrait", json_string(worst_id_p));
        json_object_set_new(w, "driver", json_string(worst_id_d));
        json_object_set_new(worst, "identity_median", w);
    }
    json_object_set_new(o, "worst_pair", worst);
    if (c->render >= 0) {
        if (c->fid) {
            json_object_set_new(o, "identity", id_json(&pool_src));
            json_object_set_new(o, "identity_to_driver", id_json(&pool_drv));
            json_object_set_new(o, "identity_pair_median", jstats(&pair_id_med));
        }
        json_object_set_new(o, "sharpness", jstats(&sharp_all));
        json_object_set_new(o, "seam_max", jnum(seam_all > 0 ? seam_all : NAN));
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
    if (worst_mouth_p)
        printf("  worst pair for the mouth: %s x %s, r %.3f\n", base_name(worst_mouth_p), base_name(worst_mouth_d),
               worst_mouth);
    if (c->render >= 0) {
        if (c->fid)
            printf("  identity (distance to the photo, %zu frames): median %.3f, p90 %.3f, %.1f%% over %.2f; to the "
                   "driver: median %.3f; worst pair median %.3f (%s x %s)\n", pool_src.n, dvec_quantile(&pool_src, 0.5),
                   dvec_quantile(&pool_src, 0.9), 100 * dvec_share_over(&pool_src, RE_FACEID_THRESHOLD),
                   RE_FACEID_THRESHOLD, dvec_quantile(&pool_drv, 0.5), worst_id,
                   worst_id_p ? base_name(worst_id_p) : "-", worst_id_d ? base_name(worst_id_d) : "-");
        printf("  detail (sharpness vs photo): mean %.3f, min %.3f; seam ratio max %.3f; grayscale photos: largest "
               "output chroma %d\n", re_stats_mean(&sharp_all), sharp_all.n ? sharp_all.min : NAN, seam_all, chroma_gray);
    }
    *out = o;
    o = NULL;
    goto fail;
nomem:
    st = re_fail(RE_ERR_NOMEM, "out of memory");
fail:
    clip_close(&it);
    free(pool_src.v);
    free(pool_drv.v);
    if (P)
        for (int i = 0; i < n_ports; i++) {
            er_portrait_free(P[i].er);
            free(P[i].id_src.v);
            free(P[i].id_drv.v);
            free(P[i].z);
            free(P[i].prev);
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

/* ---- command ------------------------------------------------------------------------------------------------- */

static void help(FILE *f) {
    re_latent_filter_opts fo;
    re_latent_filter_opts_default(&fo);
    fprintf(f,
            "usage: reenact eval [options] [--faces DIR | --dataset F.rds] [--clips CLIP...]\n"
            "                    [--cross PORTRAIT... --drivers CLIP...] [--json OUT.json]\n\n"
            "Measures a model; prints a summary on stdout and, with --json, writes the results (docs/FORMAT.md,\n"
            "\"eval JSON\"). Each part runs when its inputs are given:\n"
            "  reconstruction     L1, PSNR, SSIM, sharpness ratio on faces aligned like the training data\n"
            "  self-reenactment   each clip drives its own first frame: L1, PSNR, SSIM per frame, temporal flicker\n"
            "  cross-identity     each portrait x each driver: correlation over time of mouth opening, eye opening,\n"
            "                     yaw and pitch between driver and output (dlib landmarks); with a render, on the\n"
            "                     whole output photo, plus identity (--id-model), detail, colour and seam\n\n"
            "options:\n"
            "  --model M            model file [%s]\n"
            "  --faces DIR          folder of PNG/JPEG face photos (name order)\n"
            "  --dataset F.rds      packed dataset instead of --faces (records are already aligned)\n"
            "  --split val|all      dataset records to use [val]: the validation split of re_loader\n"
            "  --val-fraction F     validation share, as given to train [0.05]\n"
            "  --split-seed S       split seed, as given to train [1]\n"
            "  --no-align           --faces are used as they are (center square resized), no face detection\n"
            "  --max-images N       at most N images, evenly spaced in name/record order [0 = all]\n"
            "  --clips CLIP...      self-reenactment clips\n"
            "  --cross PORTRAIT...  portraits for cross-identity (needs --drivers)\n"
            "  --drivers CLIP...    driving clips for cross-identity\n"
            "  --render R           cross-identity output: photo (animate's default: the photo's pixels, moved),\n"
            "                       model (the decoded face pasted back) or crop (the decoded 64x64 face) [photo]\n"
            "  --id-model F         face-recognition network (dlib DenseNet, ../shared/models/face-id/) for the\n"
            "                       identity distances of --render photo|model [none: no identity measures]\n"
            "  --max-side N         --render photo|model: portraits downscaled to this longest side [1024]\n"
            "  --field F            --render photo: motion field from the decoded faces' landmarks or optical flow,\n"
            "                       as animate's --field [landmarks]\n"
            "  --max-frames N       at most N frames per clip, from the first frame with a face [0 = all]\n"
            "  --landmark-size N    side the 64x64 frames are upscaled to before landmarking [256]\n"
            "  --smooth             smooth the driving codes over time as `animate` does by default (One-Euro,\n"
            "                       re_latent_filter defaults) [off: the raw model is measured]\n"
            "  --smooth-cutoff HZ   with --smooth (implied): the filter's cutoff at rest, as animate's [%g]\n"
            "  --smooth-beta B      with --smooth (implied): cutoff increase with motion speed, as animate's [%g]\n"
            "  --batch N            images per forward pass [16]\n"
            "  --json OUT.json      write the results as JSON (atomically)\n"
            "  --threads N          compute threads (0 = all cores) [0]\n"
            "  -q, --quiet          no progress on stderr\n"
            "  -h, --help           this help\n",
            cli_default_model(), fo.min_cutoff, fo.beta);
    cli_steer_help(f);
    fprintf(f, "  (--cross measures them; --attr-drive off --motion-space full is the paper's plain arithmetic)\n"
               "Exit status: 0 ok, 1 failure, 2 usage error.\n");
}

static int collect(int argc, char **argv, int *i, const char *name, char ***list, int *n) {
    const char *v;
    int k = cli_opt(argc, argv, i, name, NULL, &v);
    if (k <= 0) return k;
    if (!*list && !(*list = calloc((size_t)argc, sizeof **list))) return -1;
    (*list)[(*n)++] = (char *)v;
    while (*i + 1 < argc && argv[*i + 1][0] != '-') (*list)[(*n)++] = argv[++*i];
    return 1;
}


int cmd_eval(int argc, char **argv) {
    const char *model_path = NULL, *faces = NULL, *dataset = NULL, *json_path = NULL, *v = NULL;
    char **clips = NULL, **ports = NULL, **drivers = NULL;
    int n_clips = 0, n_ports = 0, n_drivers = 0, rc = RE_EXIT_FAIL, val_only = 1;
    double val_fraction = 0.05;
    uint64_t split_seed = 1;
    long batch = 16, lm_size = 256;
    ctx c = {0};
    json_t *root = NULL, *part = NULL;
    re_status s;
    double t0 = now_s();
    c.align = 1;
    c.render = RE_RENDER_PHOTO;
    c.max_side = 1024;
    const char *id_model = NULL;
    re_latent_filter_opts_default(&c.smooth_opts);
    re_steer_opts_default(&c.steer);
    {
        re_loader_opts lo;
        re_loader_opts_default(&lo);
        val_fraction = lo.val_fraction;
        split_seed = lo.seed;
    }
    for (int i = 1; i < argc; i++) {
        int k;
        if (cli_flag(argv, i, "--help", "-h")) {
            help(stdout);
            rc = RE_EXIT_OK;
            goto done;
        }
        if ((k = cli_steer_option(CMD, argc, argv, &i, &c.steer)) != 0) {
            if (k < 0) {
                rc = RE_EXIT_USAGE;
                goto done;
            }
            continue;
        }
        if ((k = collect(argc, argv, &i, "--clips", &clips, &n_clips)) != 0 ||
            (k = collect(argc, argv, &i, "--cross", &ports, &n_ports)) != 0 ||
            (k = collect(argc, argv, &i, "--drivers", &drivers, &n_drivers)) != 0) {
            if (k < 0) {
                rc = RE_EXIT_USAGE;
                goto done;
            }
        } else if ((k = cli_opt(argc, argv, &i, "--model", NULL, &v)) != 0) {
            if (k < 0) goto usage;
            model_path = v;
        } else if ((k = cli_opt(argc, argv, &i, "--faces", NULL, &v)) != 0) {
            if (k < 0) goto usage;
            faces = v;
        } else if ((k = cli_opt(argc, argv, &i, "--dataset", NULL, &v)) != 0) {
            if (k < 0) goto usage;
            dataset = v;
        } else if ((k = cli_opt(argc, argv, &i, "--json", NULL, &v)) != 0) {
            if (k < 0) goto usage;
            json_path = v;
        } else if ((k = cli_opt(argc, argv, &i, "--split", NULL, &v)) != 0) {
            if (k < 0) goto usage;
            if (!strcmp(v, "val")) val_only = 1;
            else if (!strcmp(v, "all")) val_only = 0;
            else {
                rc = cli_usage_error(CMD, "--split wants 'val' or 'all', got '%s'", v);
                goto done;
            }
        } else if ((k = cli_opt(argc, argv, &i, "--val-fraction", NULL, &v)) != 0) {
            if (k < 0) goto usage;
            if (!cli_parse_float(v, 0.0, 0.999, &val_fraction) || val_fraction <= 0) {
                rc = cli_usage_error(CMD, "--val-fraction wants a number in (0, 1), got '%s'", v);
                goto done;
            }
        } else if ((k = cli_opt(argc, argv, &i, "--split-seed", NULL, &v)) != 0) {
            if (k < 0) goto usage;
            if (!cli_parse_u64(v, &split_seed)) {
                rc = cli_usage_error(CMD, "--split-seed wants a non-negative integer, got '%s'", v);
                goto done;
            }
        } else if ((k = cli_opt(argc, argv, &i, "--max-images", NULL, &v)) != 0) {
            if (k < 0) goto usage;
            if (!cli_parse_int(v, 0, 1L << 40, &c.max_images)) {
                rc = cli_usage_error(CMD, "--max-images wants an integer >= 0, got '%s'", v);
                goto done;
            }
        } else if ((k = cli_opt(argc, argv, &i, "--max-frames", NULL, &v)) != 0) {
            if (k < 0) goto usage;
            if (!cli_parse_int(v, 0, 1L << 40, &c.max_frames)) {
                rc = cli_usage_error(CMD, "--max-frames wants an integer >= 0, got '%s'", v);
                goto done;
            }
        } else if ((k = cli_opt(argc, argv, &i, "--landmark-size", NULL, &v)) != 0) {
            if (k < 0) goto usage;
            if (!cli_parse_int(v, 64, 1024, &lm_size)) {
                rc = cli_usage_error(CMD, "--landmark-size wants an integer 64..1024, got '%s'", v);
                goto done;
            }
        } else if ((k = cli_opt(argc, argv, &i, "--render", NULL, &v)) != 0) {
            if (k < 0) goto usage;
            if (!strcmp(v, "photo")) c.render = RE_RENDER_PHOTO;
            else if (!strcmp(v, "model")) c.render = RE_RENDER_MODEL;
            else if (!strcmp(v, "crop")) c.render = -1;
            else {
                rc = cli_usage_error(CMD, "--render wants photo, model or crop, got '%s'", v);
                goto done;
            }
        } else if ((k = cli_opt(argc, argv, &i, "--field", NULL, &v)) != 0) {
            if (k < 0) goto usage;
            if (!strcmp(v, "landmarks")) c.field = RE_FIELD_LANDMARKS;
            else if (!strcmp(v, "flow")) c.field = RE_FIELD_FLOW;
            else {
                rc = cli_usage_error(CMD, "--field wants landmarks or flow, got '%s'", v);
                goto done;
            }
        } else if ((k = cli_opt(argc, argv, &i, "--id-model", NULL, &v)) != 0) {
            if (k < 0) goto usage;
            id_model = v;
        } else if ((k = cli_opt(argc, argv, &i, "--max-side", NULL, &v)) != 0) {
            if (k < 0) goto usage;
            long ms;
            if (!cli_parse_int(v, 64, 8192, &ms)) {
                rc = cli_usage_error(CMD, "--max-side wants an integer 64..8192, got '%s'", v);
                goto done;
            }
            c.max_side = (int)ms;
        } else if ((k = cli_opt(argc, argv, &i, "--batch", NULL, &v)) != 0) {
            if (k < 0) goto usage;
            if (!cli_parse_int(v, 1, 256, &batch)) {
                rc = cli_usage_error(CMD, "--batch wants an integer 1..256, got '%s'", v);
                goto done;
            }
        } else if ((k = cli_opt(argc, argv, &i, "--threads", NULL, &v)) != 0) {
            if (k < 0) goto usage;
            if ((rc = cli_apply_threads(CMD, v)) != 0) goto done;
            rc = RE_EXIT_FAIL;
        } else if (cli_flag(argv, i, "--no-align", NULL)) {
            c.align = 0;
        } else if (cli_flag(argv, i, "--smooth", NULL)) {
            c.smooth = 1;
        } else if ((k = cli_opt(argc, argv, &i, "--smooth-cutoff", NULL, &v)) != 0) {
            if (k < 0 || cli_smooth_option(CMD, "--smooth-cutoff", v, &c.smooth_opts)) goto usage;
            c.smooth = 1;
        } else if ((k = cli_opt(argc, argv, &i, "--smooth-beta", NULL, &v)) != 0) {
            if (k < 0 || cli_smooth_option(CMD, "--smooth-beta", v, &c.smooth_opts)) goto usage;
            c.smooth = 1;
        } else if (cli_flag(argv, i, "--quiet", "-q")) {
            c.quiet = 1;
        } else if (argv[i][0] == '-') {
            rc = cli_usage_error(CMD, "unknown option '%s'", argv[i]);
            goto done;
        } else {
            rc = cli_usage_error(CMD, "unexpected argument '%s' (inputs go after --faces, --clips, --cross or "
                                      "--drivers)", argv[i]);
            goto done;
        }
    }
    if (!faces && !dataset && !n_clips && !n_ports && !n_drivers) {
        rc = cli_usage_error(CMD, "nothing to evaluate: give --faces, --dataset, --clips or --cross with --drivers");
        goto done;
    }
    if (faces && dataset) {
        rc = cli_usage_error(CMD, "--faces and --dataset are exclusive (one reconstruction set per run)");
        goto done;
    }
    if ((n_ports > 0) != (n_drivers > 0)) {
        rc = cli_usage_error(CMD, "--cross PORTRAIT... and --drivers CLIP... go together");
        goto done;
    }
#ifndef RE_HAVE_FFMPEG
    if (n_clips || n_drivers) {
        rc = cli_fail(CMD, RE_OK, "this build has no video support (FFmpeg): --clips and --drivers are unavailable");
        goto done;
    }
#endif
    /* every input must exist before hours of work start */
    {
        const char *check[3] = {faces, dataset, NULL};
        for (int k = 0; k < 2; k++)
            if (check[k] && access(check[k], R_OK) != 0) {
                rc = cli_fail(CMD, RE_OK, "cannot read '%s'", check[k]);
                goto done;
            }
        char **lists[3] = {clips, ports, drivers};
        int counts[3] = {n_clips, n_ports, n_drivers};
        for (int l = 0; l < 3; l++)
            for (int k = 0; k < counts[l]; k++)
                if (access(lists[l][k], R_OK) != 0) {
                    rc = cli_fail(CMD, RE_OK, "cannot read '%s'", lists[l][k]);
                    goto done;
                }
    }
    if (id_model && access(id_model, R_OK) != 0) {
        rc = cli_fail(CMD, RE_OK, "cannot read the face-recognition network '%s'", id_model);
        goto done;
    }
    if (id_model && !n_ports) {
        rc = cli_usage_error(CMD, "--id-model measures --cross outputs; give --cross PORTRAIT... --drivers CLIP...");
        goto done;
    }
    if (!model_path) model_path = cli_default_model();
    if ((s = re_model_load(&c.m, model_path)) != RE_OK) {
        rc = cli_fail(CMD, s, "cannot load model '%s'", model_path);
        goto done;
    }
    const re_config *cfg = re_model_config(c.m);
    c.res = cfg->res;
    c.C = cfg->channels;
    c.L = cfg->latent;
    c.dirs = re_model_directions(c.m);
    if ((rc = cli_steer_ready(CMD, &c.steer, 0, c.dirs, &c.steer_on)) != 0) goto done;
    rc = RE_EXIT_FAIL;
    c.batch = (int)batch;
    c.lm_size = (int)lm_size;
    c.per = (size_t)c.C * c.res * c.res;
    if ((s = re_runner_create(&c.r, c.m, c.batch)) != RE_OK) {
        rc = cli_fail(CMD, s, "cannot create a runner");
        goto done;
    }
    int need_det = (faces && c.align) || n_clips || n_ports;
    if (need_det && (s = re_face_detector_open(&c.det, NULL)) != RE_OK) {
        rc = cli_fail(CMD, s, "cannot open the face detector%s", faces && c.align ? " (--no-align for pre-aligned "
                                                                                    "--faces)" : "");
        goto done;
    }
    if (id_model && n_ports && c.render >= 0 && (s = re_faceid_open(&c.fid, id_model)) != RE_OK) {
        rc = cli_fail(CMD, s, "cannot load the face-recognition network '%s'", id_model);
        goto done;
    }
    c.x = malloc((size_t)c.batch * c.per * sizeof(float));
    c.y = malloc((size_t)c.batch * c.per * sizeof(float));
    c.z = malloc((size_t)c.batch * c.L * sizeof(float));
    c.z2 = malloc((size_t)c.batch * c.L * sizeof(float));
    c.attr = calloc((size_t)c.batch, sizeof *c.attr);
    c.steer_tmp = malloc((size_t)3 * c.L * sizeof(float));
    if (!c.attr || !c.steer_tmp) {
        rc = cli_fail(CMD, RE_ERR_NOMEM, "out of memory");
        goto done;
    }
    c.crops = calloc((size_t)c.batch, sizeof *c.crops);
    root = json_object();
    if (!c.x || !c.y || !c.z || !c.z2 || !c.crops || !root) {
        rc = cli_fail(CMD, RE_ERR_NOMEM, "out of memory");
        goto done;
    }

    /* header: what was measured, with what */
    json_object_set_new(root, "format", json_string("reenact-eval"));
    json_object_set_new(root, "format_version", json_integer(EVAL_FORMAT_VERSION));
    json_object_set_new(root, "reenact_version", json_string(re_version()));
    {
        char date[32];
        time_t now = time(NULL);
        struct tm tmv;
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tmv));
        json_object_set_new(root, "created", json_string(date));
        json_t *mj = json_object(), *meta = json_object();
        json_object_set_new(mj, "path", json_string(model_path));
        const char *sha = re_model_meta(c.m, "data_sha256");
        json_object_set_new(mj, "data_sha256", sha ? json_string(sha) : json_null());
        json_object_set_new(mj, "res", json_integer(c.res));
        json_object_set_new(mj, "latent", json_integer(c.L));
        for (int k = 0; k < re_model_meta_count(c.m); k++) {
            const char *key = NULL, *val = NULL;
            re_model_meta_at(c.m, k, &key, &val);
            if (key && val && strcmp(key, "data_sha256") && strcmp(key, "config"))
                json_object_set_new(meta, key, json_string(val));
        }
        json_object_set_new(mj, "meta", meta);
        json_object_set_new(root, "model", mj);
        json_t *sj = json_object();
        json_object_set_new(sj, "align", json_boolean(c.align));
        json_object_set_new(sj, "max_images", json_integer(c.max_images));
        json_object_set_new(sj, "max_frames", json_integer(c.max_frames));
        json_object_set_new(sj, "landmark_size", json_integer(c.lm_size));
        json_object_set_new(sj, "batch", json_integer(c.batch));
        json_object_set_new(sj, "smooth", json_boolean(c.smooth));
        {   /* the motion path: steering settings, or plain arithmetic */
            json_t *so = json_object();
            static const char *const regions[] = {"all", "expression", "pose", "lips", "eyes"};
            json_object_set_new(so, "active", json_boolean(c.steer_on));
            json_object_set_new(so, "model_has_directions", json_boolean(c.dirs != NULL));
            json_object_set_new(so, "region", json_string(regions[c.steer.region]));
            json_object_set_new(so, "motion_space", json_string(c.steer.space == RE_MSPACE_FULL ? "full" : "learned"));
            json_object_set_new(so, "attr_drive", json_boolean(c.steer.attr_drive));
            json_object_set_new(so, "mouth", json_string(c.steer.mouth_absolute ? "absolute" : "relative"));
            json_object_set_new(so, "lips", json_real(c.steer.lips));
            json_object_set_new(so, "eyes", json_real(c.steer.eyes));
            json_object_set_new(so, "debias", json_boolean(c.steer.debias));
            json_t *off = json_object();
            for (int k = 0; k < RE_ATTR_COUNT; k++) json_object_set_new(off, re_attr_name(k), json_real(c.steer.offset[k]));
            json_object_set_new(so, "offsets", off);
            json_object_set_new(sj, "steer", so);
        }
        if (c.smooth) {
            /* the float settings as the decimal numbers they were given as (0.3, not 0.30000001) */
            char b1[32], b2[32];
            snprintf(b1, sizeof b1, "%.7g", c.smooth_opts.min_cutoff);
            snprintf(b2, sizeof b2, "%.7g", c.smooth_opts.beta);
            json_object_set_new(sj, "smooth_cutoff_hz", json_real(strtod(b1, NULL)));
            json_object_set_new(sj, "smooth_beta", json_real(strtod(b2, NULL)));
        }
        json_object_set_new(sj, "psnr_cap_db", json_real(PSNR_CAP));
        json_object_set_new(sj, "z", json_string("mean"));
        json_object_set_new(sj, "ssim", json_string("gaussian 11x11 sigma 1.5, K1 0.01, K2 0.03, valid, mean over "
                                                    "channels"));
        json_object_set_new(root, "settings", sj);
    }
    printf("reenact eval: model %s (res %d, latent %d, data_sha256 %.16s...)\n", model_path, c.res, c.L,
           re_model_meta(c.m, "data_sha256") ? re_model_meta(c.m, "data_sha256") : "?");

    part = NULL;
    if (faces) s = eval_faces(&c, faces, &part);
    else if (dataset) s = eval_dataset(&c, dataset, val_only, val_fraction, split_seed, &part);
    else s = RE_OK;
    if (s != RE_OK) {
        rc = cli_fail(CMD, s, "reconstruction on '%s' failed", faces ? faces : dataset);
        goto done;
    }
    json_object_set_new(root, "reconstruction", part ? part : json_null());
    part = NULL;
#ifdef RE_HAVE_FFMPEG
    if (n_clips && (s = eval_clips(&c, clips, n_clips, &part)) != RE_OK) {
        rc = cli_fail(CMD, s, "self-reenactment failed");
        goto done;
    }
    json_object_set_new(root, "self_reenactment", part ? part : json_null());
    part = NULL;
    if (n_ports && (s = eval_cross(&c, ports, n_ports, drivers, n_drivers, &part)) != RE_OK) {
        rc = cli_fail(CMD, s, "cross-identity evaluation failed");
        goto done;
    }
    json_object_set_new(root, "cross_identity", part ? part : json_null());
    part = NULL;
#else
    json_object_set_new(root, "self_reenactment", json_null());
    json_object_set_new(root, "cross_identity", json_null());
#endif
    double secs = now_s() - t0;
    json_object_set_new(root, "seconds", json_real(secs));
    if (json_path) {
        char *text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(8));
        size_t tl = text ? strlen(text) : 0;
        s = text ? RE_OK : re_fail(RE_ERR_NOMEM, "out of memory");
        if (s == RE_OK) {   /* with the trailing newline the file always had */
            char *t2 = realloc(text, tl + 2);
            if (t2) {
                text = t2;
                text[tl++] = '\n';
                text[tl] = 0;
            }
            s = t2 ? re_write_file_atomic(json_path, text, tl) : re_fail(RE_ERR_NOMEM, "out of memory");
        }
        free(text);
        if (s != RE_OK) {
            rc = cli_fail(CMD, s, "cannot write '%s'", json_path);
            goto done;
        }
        fprintf(stderr, "reenact eval: wrote %s\n", json_path);
    }
    printf("total %.1f s\n", secs);
    rc = RE_EXIT_OK;
    goto done;
usage:
    rc = RE_EXIT_USAGE;
done:
    json_decref(part);
    json_decref(root);
    if (c.crops)
        for (int k = 0; k < c.batch; k++) re_image_free(&c.crops[k]);
    free(c.crops);
    free(c.x);
    free(c.y);
    free(c.z);
    free(c.z2);
    free(c.attr);
    free(c.steer_tmp);
    re_image_free(&c.img);
    re_image_free(&c.up);
    re_image_free(&c.tmp);
    re_face_detector_free(c.det);
    re_faceid_free(c.fid);
    re_runner_free(c.r);
    re_model_free(c.m);
    free(clips);
    free(ports);
    free(drivers);
    return rc;
}
