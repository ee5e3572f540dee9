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
 * Files: this one (options, the command, helpers shared by the parts), eval_recon.c (1), eval_clips.c (the clip
 * iterator and 2), eval_cross.c (3); eval.h declares what they share.
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

/* ---- small helpers ------------------------------------------------------------------------------------------ */

double ev_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void ev_prog_start(prog *p, const char *what, int quiet) {
    p->what = what;
    p->t0 = p->last = ev_now_s();
    p->quiet = quiet;
}

/* Progress line on stderr at most every 2 s, and always when final. total <= 0: unknown. */
void ev_prog_tick(prog *p, long done, long total, const char *unit, int final) {
    double t = ev_now_s();
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

json_t *ev_jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *ev_jstats(const re_stats *s) {
    json_t *o = json_object();
    json_object_set_new(o, "n", json_integer((json_int_t)s->n));
    json_object_set_new(o, "mean", ev_jnum(re_stats_mean(s)));
    json_object_set_new(o, "std", ev_jnum(re_stats_std(s)));
    json_object_set_new(o, "min", ev_jnum(s->n ? s->min : NAN));
    json_object_set_new(o, "max", ev_jnum(s->n ? s->max : NAN));
    return o;
}

const char *ev_base_name(const char *p) {
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

void ev_free_list(char **v, size_t n) {
    if (!v) return;
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Sorted full paths of the PNG/JPEG files (by extension) in dir. */
re_status ev_list_images(const char *dir, char ***out, size_t *n_out) {
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
    if (v) ev_free_list(v, n);
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
re_status ev_load_aligned(ctx *c, const char *path, int align, re_image *crop, int *found, int *n_faces) {
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
re_status ev_measure_small(ctx *c, const re_image *face, double f[NFEAT], int *found) {
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



/* ---- command ------------------------------------------------------------------------------------------------- */

static const char usage[] =
    "usage: reenact eval [options] [--faces DIR | --dataset F.rds] [--clips CLIP...]\n"
    "                    [--cross PORTRAIT... --drivers CLIP...] [--json OUT.json]\n\n"
    "Measures a model; prints a summary on stdout and, with --json, writes the results (docs/FORMAT.md,\n"
    "\"eval JSON\"). Each part runs when its inputs are given:\n"
    "  reconstruction     L1, PSNR, SSIM, sharpness ratio on faces aligned like the training data\n"
    "  self-reenactment   each clip drives its own first frame: L1, PSNR, SSIM per frame, temporal flicker\n"
    "  cross-identity     each portrait x each driver: correlation over time of mouth opening, eye opening,\n"
    "                     yaw and pitch between driver and output (dlib landmarks); with a render, on the\n"
    "                     whole output photo, plus identity (--id-model), detail, colour and seam\n\n";

static const cli_choice split_choices[] = {{"val", 1}, {"all", 0}, {NULL, 0}};
static const cli_choice eval_ref_choices[] = {
    {"first", RE_REF_FIRST}, {"best", RE_REF_BEST}, {"pose", RE_REF_POSE}, {NULL, 0}};
static const cli_choice eval_render_choices[] = {
    {"photo", RE_RENDER_PHOTO}, {"model", RE_RENDER_MODEL}, {"crop", -1}, {NULL, 0}};

int cmd_eval(int argc, char **argv) {
    const char *model_path = NULL, *faces = NULL, *dataset = NULL, *json_path = NULL;
    char **clips = NULL, **ports = NULL, **drivers = NULL;
    int n_clips = 0, n_ports = 0, n_drivers = 0, rc = RE_EXIT_FAIL, val_only = 1, threads = 0, threads_given = 0;
    double val_fraction = 0.05;
    uint64_t split_seed = 1;
    long batch = 16, lm_size = 256;
    ctx c = {0};
    json_t *root = NULL, *part = NULL;
    re_status s;
    double t0 = ev_now_s();
    c.align = 1;
    c.render = RE_RENDER_PHOTO;
    c.max_side = 1024;
    {
        re_render_opts ro;
        re_render_opts_default(&ro);
        c.eye_motion = ro.eye_motion;
    }
    const char *id_model = NULL;
    re_latent_filter_opts_default(&c.smooth_opts);
    re_steer_opts_default(&c.steer);
    c.ref = RE_REF_POSE;   /* animate's default */
    {
        re_loader_opts lo;
        re_loader_opts_default(&lo);
        val_fraction = lo.val_fraction;
        split_seed = lo.seed;
    }
    model_path = cli_default_model();
    int smooth_given = 0;
    cli_list clip_l = {0}, port_l = {0}, driver_l = {0};
    cli_opt smooth[CLI_SMOOTH_OPTS], steer[CLI_STEER_OPTS];
    cli_smooth_opts(smooth, &c.smooth_opts, &smooth_given);
    cli_steer_opts(steer, &c.steer, NULL);
    cli_opt opts[] = {
        CLI_SECTION("options:"),
        CLI_STR("--model", NULL, &model_path, "M", "model file"),
        CLI_STR("--faces", NULL, &faces, "DIR", "folder of PNG/JPEG face photos (name order)"),
        CLI_STR("--dataset", NULL, &dataset, "F.rds", "packed dataset instead of --faces (records are already aligned)"),
        CLI_ENUM("--split", NULL, &val_only, split_choices, "dataset records to use: the validation split of re_loader"),
        CLI_NUM("--val-fraction", NULL, &val_fraction, "F", 0, 0.999, "validation share, as given to train",
                .flags = CLI_LO_OPEN),
        CLI_U64("--split-seed", NULL, &split_seed, "S", "split seed, as given to train"),
        CLI_FLAG("--no-align", NULL, &c.align, 0, "--faces are used as they are (center square resized), no face "
                 "detection"),
        CLI_INT("--max-images", NULL, &c.max_images, "N", 0, 1L << 40, "at most N images, evenly spaced in name/record "
                "order", .def = "0 = all"),
        CLI_LIST("--clips", NULL, &clip_l, "CLIP...", "self-reenactment clips"),
        CLI_LIST("--cross", NULL, &port_l, "PORTRAIT...", "portraits for cross-identity (needs --drivers)"),
        CLI_LIST("--drivers", NULL, &driver_l, "CLIP...", "driving clips for cross-identity"),
        CLI_ENUM("--render", NULL, &c.render, eval_render_choices, "cross-identity output: photo (animate's default: "
                 "the photo's pixels, moved), model (the decoded face pasted back) or crop (the decoded 64x64 face)"),
        CLI_STR("--id-model", NULL, &id_model, "F", "face-recognition network (dlib DenseNet, ../shared/models/face-id/) "
                "for the identity distances of --render photo|model", .def = "none: no identity measures"),
        CLI_INT("--max-side", NULL, &c.max_side, "N", 64, 8192, "--render photo|model: portraits downscaled to this "
                "longest side"),
        CLI_ENUM("--field", NULL, &c.field, cli_field_choices, "--render photo: motion field from the decoded faces' "
                 "landmarks or optical flow, as animate's --field"),
        CLI_NUM("--eye-motion", NULL, &c.eye_motion, "G", 0, 4, "--render photo: gain of the eyes' motion, as "
                "animate's --eye-motion"),
        CLI_ENUM("--ref", NULL, &c.ref, eval_ref_choices, "cross-identity reference driving frame, as animate's --ref: "
                 "the first with a face; per portrait the one whose landmarks are closest to the portrait's (best); or "
                 "the first, with the head's pose measured from that one (pose)"),
        CLI_INT("--max-frames", NULL, &c.max_frames, "N", 0, 1L << 40, "at most N frames per clip, from the first frame "
                "with a face", .def = "0 = all"),
        CLI_INT("--landmark-size", NULL, &lm_size, "N", 64, 1024, "side the 64x64 frames are upscaled to before "
                "landmarking"),
        CLI_FLAG("--smooth", NULL, &c.smooth, 1, "smooth the driving codes over time as `animate` does by default "
                 "(One-Euro, re_latent_filter defaults; --smooth-cutoff and --smooth-beta imply it) [off: the raw model "
                 "is measured]"),
        CLI_INCLUDE(smooth),
        CLI_INT("--batch", NULL, &batch, "N", 1, 256, "images per forward pass"),
        CLI_STR("--json", NULL, &json_path, "OUT.json", "write the results as JSON (atomically)"),
        CLI_FLAG("--series", NULL, &c.series, 1, "--cross: each pair's JSON also holds the per-frame measures of the "
                 "driver and the output (null where no face was found) [off]"),
        CLI_THREADS_OPT(&threads, &threads_given, "0", "compute threads, 0 = all cores"),
        CLI_FLAG("--quiet", "-q", &c.quiet, 1, "no progress on stderr"),
        CLI_INCLUDE(steer),
        CLI_TEXT("  (--cross measures them; --attr-drive off --motion-space full is the paper's plain arithmetic)"),
        CLI_END,
    };
    cli_cmd cc = {.name = CMD, .usage = usage, .opts = opts, .footer = "Exit status: 0 ok, 1 failure, 2 usage error.\n",
                  .pos_error = "inputs go after --faces, --clips, --cross or --drivers"};
    if ((rc = cli_parse(&cc, argc, argv)) != CLI_GO) return rc;
    rc = RE_EXIT_FAIL;
    if (smooth_given) c.smooth = 1;
    if (threads_given) re_set_threads(threads);
    clips = (char **)clip_l.v, n_clips = clip_l.n;
    ports = (char **)port_l.v, n_ports = port_l.n;
    drivers = (char **)driver_l.v, n_drivers = driver_l.n;
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
    c.parts = calloc((size_t)c.batch, sizeof *c.parts);
    if (c.ref != RE_REF_FIRST) {
        c.lmn = calloc((size_t)c.batch, sizeof *c.lmn);
        c.lmn_ok = calloc((size_t)c.batch, sizeof *c.lmn_ok);
    }
    if (!c.attr || !c.parts || (c.ref != RE_REF_FIRST && (!c.lmn || !c.lmn_ok))) {
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
        json_object_set_new(sj, "eye_motion", json_real(c.eye_motion));
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
    double secs = ev_now_s() - t0;
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
    free(c.parts);
    free(c.lmn);
    free(c.lmn_ok);
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
