/*
 * cmd_directions.c - `reenact directions`: fit the motion directions (include/reenact/directions.h) from the motion
 * files of talking-head clips, calibrate them on decoded faces, and write a copy of the model that carries them.
 *
 *   reenact motion extract --driving clip.mp4 -o clip.motion      (once per training clip)
 *   reenact directions --motion clips/NAME.motion ... --faces DIR -o model-with-directions.safetensors
 *
 * The codes of each clip are its motion file's ref_latent + deltas; its attributes come from the file's landmarks.
 * Every --heldout-every'th clip also measures the filters' held-out R^2. Calibration decodes --calib faces from DIR
 * (detected and aligned like animate's photo), steps each along every direction, and measures the decoded faces'
 * attributes with dlib (upscaled to 256 px), which gives each direction's gain, its cross-talk and the model's smile
 * bias.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "reenact/anim.h"
#include "reenact/directions.h"
#include "reenact/face.h"
#include "reenact/media.h"

typedef struct calib_ctx {
    re_runner *run;
    re_face_detector *det;
    int res;
    re_image small, up;
} calib_ctx;

static re_status calib_decode(const float *z, int n, float *faces, void *user) {
    calib_ctx *c = user;
    return re_decode(c->run, z, n, faces);
}

static int calib_measure(const float *face, float a[RE_ATTR_COUNT], void *user) {
    calib_ctx *c = user;
    float box[4], lm[RE_FACE_LANDMARKS][2];
    int have_box = 0, found = 0;
    if (re_render_face_landmarks(c->det, face, c->res, box, &have_box, &c->small, &c->up, lm, &found) != RE_OK ||
        !found)
        return 0;
    return re_face_attributes((const float(*)[2])lm, a) == RE_OK;
}

static int is_image(const char *name) {
    const char *e = strrchr(name, '.');
    return e && (!strcasecmp(e, ".jpg") || !strcasecmp(e, ".jpeg") || !strcasecmp(e, ".png"));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Encode up to want faces from dir (evenly spaced) into codes [n][L] and their real attributes [n][K]. */
static re_status calib_faces(calib_ctx *c, const char *dir, int want, int L, float **codes, float **attrs, int *n_out,
                             int quiet) {
    *n_out = 0;
    DIR *dp = opendir(dir);
    if (!dp) return re_fail(RE_ERR_IO, "cannot open the calibration folder '%s'", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    re_status st = RE_OK;
    while ((de = readdir(dp))) {
        if (!is_image(de->d_name)) continue;
        char **nn = cli_grow(names, n, &cap, sizeof *nn, 256);
        if (!nn) { st = re_fail(RE_ERR_NOMEM, "out of memory"); break; }
        names = nn;
        if (!(names[n] = strdup(de->d_name))) { st = re_fail(RE_ERR_NOMEM, "out of memory"); break; }
        n++;
    }
    closedir(dp);
    if (st == RE_OK && n == 0) st = re_fail(RE_ERR_IO, "no PNG or JPEG images in '%s'", dir);
    float *z = NULL, *a = NULL, *x = NULL;
    re_image img = {0}, crop = {0};
    if (st == RE_OK) {
        qsort(names, n, sizeof *names, cmp_str);
        z = malloc((size_t)want * L * sizeof(float));
        a = malloc((size_t)want * RE_ATTR_COUNT * sizeof(float));
        x = malloc((size_t)3 * c->res * c->res * sizeof(float));
        if (!z || !a || !x) st = re_fail(RE_ERR_NOMEM, "out of memory");
    }
    int got = 0;
    const size_t step = n > (size_t)want ? n / (size_t)want : 1;
    for (size_t i = 0; st == RE_OK && i < n && got < want; i += step) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        re_face faces[4];
        int nf = 0;
        if (re_image_load(&img, path) != RE_OK) continue;   /* calibration skips unreadable files */
        if ((st = re_face_detect(c->det, &img, faces, 4, &nf)) != RE_OK) break;
        if (nf < 1) continue;
        if ((st = re_face_align(&img, faces[0].lm, c->res, &crop)) != RE_OK) break;
        re_image_to_chw(&crop, x);
        if (!calib_measure(x, a + (size_t)got * RE_ATTR_COUNT, c)) continue;
        if ((st = re_encode(c->run, x, 1, z + (size_t)got * L, NULL)) != RE_OK) break;
        got++;
    }
    if (!quiet) fprintf(stderr, "directions: %d calibration faces from '%s'\n", got, dir);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(x);
    re_image_free(&img);
    re_image_free(&crop);
    if (st == RE_OK && got == 0) st = re_fail(RE_ERR_NO_FACE, "no usable face among the images of '%s'", dir);
    if (st != RE_OK) {
        free(z);
        free(a);
        return st;
    }
    *codes = z;
    *attrs = a;
    *n_out = got;
    return RE_OK;
}

/* Codes and attributes of one motion file into the fit. */
static re_status add_motion(re_dir_fit *fit, const re_model *m, const char *path, int heldout, int *used,
                            int64_t *frames, int64_t *with_face) {
    re_motion *mo = NULL;
    re_status st = re_motion_load(&mo, path);
    if (st != RE_OK) return re_fail_ctx(st, "motion '%s'", path);
    if ((st = re_motion_check_model(mo, m, path)) != RE_OK) {
        re_motion_free(mo);
        return st;
    }
    if (!mo->landmarks) {
        re_motion_free(mo);
        return re_fail(RE_ERR_FORMAT, "motion '%s' has no landmarks (extracted with --aligned?); directions need them",
                       path);
    }
    const int L = mo->latent;
    float *z = malloc((size_t)mo->frames * L * sizeof(float)), *a = malloc((size_t)mo->frames * RE_ATTR_COUNT * 4);
    uint8_t *ok = malloc((size_t)mo->frames);
    if (!z || !a || !ok) st = re_fail(RE_ERR_NOMEM, "out of memory");
    for (int64_t t = 0; st == RE_OK && t < mo->frames; t++) {
        for (int i = 0; i < L; i++) z[t * L + i] = mo->ref_latent[i] + mo->deltas[t * L + i];
        ok[t] = mo->found[t] &&
                re_face_attributes((const float(*)[2])(mo->landmarks + (size_t)t * RE_FACE_LANDMARKS * 2),
                                   a + t * RE_ATTR_COUNT) == RE_OK;
        if (!ok[t])
            for (int k = 0; k < RE_ATTR_COUNT; k++) a[t * RE_ATTR_COUNT + k] = 0;
        *frames += ok[t];
        *with_face += mo->found[t] != 0;
    }
    if (st == RE_OK) st = re_dir_fit_add_clip(fit, z, a, ok, mo->frames, heldout, used);
    free(z);
    free(a);
    free(ok);
    re_motion_free(mo);
    return st;
}

/* Append `want` video frames, evenly spread over the motion files' `total` frames with a face, to the calibration codes
 * (*codes, *attrs grow; their real attributes are NaN: they were measured at another resolution). */
static re_status add_frames(const re_model *m, const char **motions, int n_mo, int64_t total, int want, int L,
                            float **codes, float **attrs, int *n) {
    if (total == 0 || want <= 0) return RE_OK;
    float *z = realloc(*codes, (size_t)(*n + want) * L * sizeof(float));
    if (z) *codes = z;
    float *a = realloc(*attrs, (size_t)(*n + want) * RE_ATTR_COUNT * sizeof(float));
    if (a) *attrs = a;
    if (!z || !a) return re_fail(RE_ERR_NOMEM, "out of memory");
    const double stride = (double)total / want;
    int64_t seen = 0;
    int got = 0;
    for (int i = 0; i < n_mo && got < want; i++) {
        re_motion *mo = NULL;
        re_status st = re_motion_load(&mo, motions[i]);
        if (st != RE_OK) return st;
        if ((st = re_motion_check_model(mo, m, motions[i])) != RE_OK) {
            re_motion_free(mo);
            return st;
        }
        for (int64_t t = 0; t < mo->frames && got < want; t++) {
            if (!mo->found[t]) continue;
            if (seen++ != (int64_t)(got * stride + 0.5 * stride)) continue;
            float *zz = *codes + (size_t)(*n + got) * L;
            for (int q = 0; q < L; q++) zz[q] = mo->ref_latent[q] + mo->deltas[t * L + q];
            for (int k = 0; k < RE_ATTR_COUNT; k++) (*attrs)[(size_t)(*n + got) * RE_ATTR_COUNT + k] = NAN;
            got++;
        }
        re_motion_free(mo);
    }
    *n += got;
    return RE_OK;
}

int cmd_directions(int argc, char **argv) {
    const char *model_path = cli_default_model(), *out = NULL, *faces_dir = NULL;
    long calib_n = 48, calib_frames = 48, every = 5;
    double ridge = 0.01, share = 0.95;
    int quiet = 0, f32 = 0, rc = RE_EXIT_FAIL;
    cli_list mo_l = {0};
    cli_opt opts[] = {
        CLI_SECTION("options:"),
        CLI_STR("--model", NULL, &model_path, "M", "model file"),
        CLI_LIST("--motion", NULL, &mo_l, "F...", "motion files (one per clip; at least 2)", .flags = CLI_REQUIRED),
        CLI_STR("--output", "-o", &out, "OUT", "model file to write (atomically; the weights are unchanged)",
                .flags = CLI_REQUIRED),
        CLI_STR("--faces", NULL, &faces_dir, "DIR", "images for calibration (faces are detected and aligned)",
                .def = "none: not calibrated"),
        CLI_INT("--calib", NULL, &calib_n, "N", 1, 100000, "calibration faces, evenly spaced in DIR's sorted listing"),
        CLI_INT("--calib-frames", NULL, &calib_frames, "N", 0, 100000, "with --faces: also calibrate on N video frames "
                "spread over the motion files"),
        CLI_INT("--heldout-every", NULL, &every, "K", 0, 1000, "every K-th clip measures held-out R^2"),
        CLI_NUM("--ridge", NULL, &ridge, "R", 1e-9, 100, "relative ridge strength of the fits"),
        CLI_NUM("--motion-share", NULL, &share, "S", 0.01, 1, "share of within-clip variance the motion space keeps"),
        CLI_FLAG("--f32", NULL, &f32, 1, "store the weights as F32 (default F16, as the bundled model)"),
        CLI_FLAG("--quiet", "-q", &quiet, 1, "no progress"),
        CLI_END,
    };
    cli_cmd c = {.name = "directions", .opts = opts,
                 .usage = "usage: reenact directions --motion A.motion [B.motion ...] -o OUT.safetensors [options]\n\n"
                          "Fits latent directions for mouth opening, smile, each eye, brows, yaw, pitch and roll, and "
                          "the space of\nmotion (principal components of within-clip code changes), from motion files "
                          "of talking-head clips\nmade with this model ('reenact motion extract'). Calibrates them on "
                          "decoded faces and writes a copy of\nthe model that carries them (animate's --lips, --eyes, "
                          "--smile, --yaw ... and its attribute drive).\n\n"};
    if ((rc = cli_parse(&c, argc, argv)) != CLI_GO) return rc;
    rc = RE_EXIT_FAIL;
    const char **motions = mo_l.v;
    const int n_mo = mo_l.n;
    if (n_mo < 2 || !out) {
        rc = cli_usage_error("directions", "need --motion with at least 2 motion files and -o OUT.safetensors");
        goto done;
    }
    if (cli_model_missing_help("directions", model_path)) goto done;
    re_model *m = NULL;
    re_runner *run = NULL;
    re_dir_fit *fit = NULL;
    re_directions *d = NULL;
    re_face_detector *det = NULL;
    calib_ctx cc = {0};
    float *cz = NULL, *ca = NULL;
    re_status st = re_model_load(&m, model_path);
    if (st != RE_OK) { rc = cli_fail("directions", st, "cannot load model '%s'", model_path); goto done; }
    const int L = re_model_config(m)->latent, res = re_model_config(m)->res;
    if ((st = re_dir_fit_create(&fit, L, ridge)) != RE_OK) { rc = cli_fail("directions", st, "fit"); goto cleanup; }
    int64_t frames = 0, with_face = 0;
    int clips = 0;
    for (int i = 0; i < n_mo; i++) {
        int used = 0;
        if ((st = add_motion(fit, m, motions[i], every > 0 && i % every == every - 1, &used, &frames, &with_face)) != RE_OK) {
            rc = cli_fail("directions", st, "cannot use '%s'", motions[i]);
            goto cleanup;
        }
        clips += used;
        if (!used) fprintf(stderr, "reenact directions: warning: '%s' has fewer than 3 frames with a face; skipped\n",
                           motions[i]);
    }
    if (!quiet) fprintf(stderr, "directions: %d clips, %lld frames with a face\n", clips, (long long)frames);
    if ((st = re_dir_fit_finish(fit, share, &d)) != RE_OK) { rc = cli_fail("directions", st, "cannot fit"); goto cleanup; }
    if (faces_dir) {
        if ((st = re_face_detector_open(&det, NULL)) != RE_OK) { rc = cli_fail("directions", st, "face detector"); goto cleanup; }
        if ((st = re_runner_create(&run, m, 5)) != RE_OK) { rc = cli_fail("directions", st, "runner"); goto cleanup; }
        cc.run = run;
        cc.det = det;
        cc.res = res;
        int nc = 0;
        if ((st = calib_faces(&cc, faces_dir, (int)calib_n, L, &cz, &ca, &nc, quiet)) != RE_OK) {
            rc = cli_fail("directions", st, "calibration");
            goto cleanup;
        }
        if (calib_frames > 0 &&
            (st = add_frames(m, motions, n_mo, with_face, (int)calib_frames, L, &cz, &ca, &nc)) != RE_OK) {
            rc = cli_fail("directions", st, "calibration frames");
            goto cleanup;
        }
        if (!quiet) fprintf(stderr, "directions: calibrating on %d faces\n", nc);
        if ((st = re_dir_calibrate(d, cz, ca, nc, 3 * res * res, calib_decode, calib_measure, &cc)) != RE_OK) {
            rc = cli_fail("directions", st, "calibration");
            goto cleanup;
        }
    }
    printf("%-7s %-5s %9s %8s %8s %8s\n", "attr", "unit", "sigma", "R2", "gain", "cross");
    for (int k = 0; k < RE_ATTR_COUNT; k++)
        printf("%-7s %-5s %9.4f %8.3f %8.3f %8.3f\n", re_attr_name(k), re_attr_unit(k), d->sigma[k], d->r2[k],
               d->gain[k], d->cross[k]);
    printf("motion space: %d components keep %.1f%% of the within-clip variance; smile bias %.4f\n", d->n_motion,
           100.0 * d->motion_explained, d->smile_bias);
    /* keep the input's provenance metadata (the writer sets the format keys and the checksums) */
    const char *kv[2 * 64 + 1] = {0};
    kv[cli_kept_meta(m, kv, 2 * 60, NULL, 0)] = NULL;
    re_directions *keep = d;
    d = NULL;
    if ((st = re_model_set_directions(m, keep)) != RE_OK) { rc = cli_fail("directions", st, "directions"); goto cleanup; }
    if ((st = re_model_save(m, out, 0, f32 ? RE_STORE_F32 : RE_STORE_F16, kv)) != RE_OK) {
        rc = cli_fail("directions", st, "cannot write '%s'", out);
        goto cleanup;
    }
    printf("wrote %s (weights_sha256 %.16s...)\n", out, re_model_weights_sha256(m) ? re_model_weights_sha256(m) : "?");
    rc = RE_EXIT_OK;
cleanup:
    free(cz);
    free(ca);
    re_image_free(&cc.small);
    re_image_free(&cc.up);
    re_directions_free(d);
    re_dir_fit_free(fit);
    re_runner_free(run);
    re_face_detector_free(det);
    re_model_free(m);
done:
    cli_list_free(&mo_l);
    return rc;
}
