/*
 * cmd_reconstruct.c - `reenact reconstruct --model M IMAGES... -o grid.png`: every image is aligned the way the model
 * was trained (face detection + re_face_align), encoded (z = mu) and decoded; the grid shows the aligned inputs in
 * one row and their reconstructions in the row below (as the paper's figures 3 and 5), `--cols` images per row
 * pair. Prints L1 / PSNR / SSIM / sharpness ratio per image (definitions: include/reenact/metrics.h).
 * Images without a face are skipped with a warning (or center-cropped with --no-align).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "reenact/face.h"
#include "reenact/media.h"
#include "reenact/metrics.h"

#define CMD "reconstruct"
#define BATCH 16

static int has_ext(const char *p, const char *ext) {
    size_t n = strlen(p), e = strlen(ext);
    return n > e && strcasecmp(p + n - e, ext) == 0;
}

/* Center square of src resized to res x res (Lanczos). */
static re_status center_crop(const re_image *src, int res, re_image *dst) {
    int s = src->w < src->h ? src->w : src->h;
    re_image view = {s, s, src->stride, src->data + (size_t)((src->h - s) / 2) * src->stride + (size_t)((src->w - s) / 2) * 3, 0};
    return re_image_resize(&view, dst, res, res);
}

/* Copy tile (res x res) into grid at (x0,y0), each pixel replicated k x k. */
static void blit(re_image *grid, const re_image *tile, int x0, int y0, int k) {
    for (int y = 0; y < tile->h * k; y++) {
        uint8_t *row = grid->data + (size_t)(y0 + y) * grid->stride + (size_t)x0 * 3;
        const uint8_t *src = tile->data + (size_t)(y / k) * tile->stride;
        for (int x = 0; x < tile->w * k; x++) memcpy(row + (size_t)x * 3, src + (size_t)(x / k) * 3, 3);
    }
}

int cmd_reconstruct(int argc, char **argv) {
    const char *model_path = NULL, *out_path = NULL;
    const char **inputs = NULL;
    int n_in = 0, align = 1, rc = RE_EXIT_FAIL;
    long cols = 0, scale = 2;
    re_model *m = NULL;
    re_runner *r = NULL;
    re_face_detector *det = NULL;
    re_image img = {0}, grid = {0};
    re_image *crops = NULL, *recs = NULL;
    char **names = NULL;
    float *x = NULL, *y = NULL, *z = NULL;
    re_status s;

    int threads = 0, threads_given = 0;
    cli_list in_l = {0};
    model_path = cli_default_model();
    cli_opt opts[] = {
        CLI_SECTION("options:"),
        CLI_STR("--model", NULL, &model_path, "M", "model file"),
        CLI_STR("--output", "-o", &out_path, "P", "grid image to write (.png, or .jpg/.jpeg for JPEG)",
                .flags = CLI_REQUIRED),
        CLI_FLAG("--no-align", NULL, &align, 0, "no face detection: center square crop resized to the model's size"),
        CLI_INT("--cols", NULL, &cols, "N", 1, 1024, "images per row", .def = "min(count, 8)"),
        CLI_INT("--scale", NULL, &scale, "K", 1, 16, "pixel replication factor of each tile"),
        CLI_THREADS_OPT(&threads, &threads_given, "0", "compute threads, 0 = all cores"),
        CLI_END,
    };
    cli_cmd cc = {.name = CMD, .opts = opts, .pos = &in_l,
                  .usage = "usage: reenact reconstruct [options] IMAGE... -o GRID.png\n\n"
                           "Aligns each face like the training data, reconstructs it (decode(encode(x)), z = mean) and "
                           "writes a grid:\naligned inputs in one row, their reconstructions in the row below, --cols "
                           "images per row pair.\nPrints L1, PSNR (dB), SSIM and the sharpness ratio of every "
                           "reconstruction.\n\n",
                  .footer = "Images (PNG or JPEG) where no face is found are skipped with a warning. Exit status: 0 ok, "
                            "1 failure\n(unreadable image, no usable image, write error), 2 usage error.\n"};
    if ((rc = cli_parse(&cc, argc, argv)) != CLI_GO) return rc;
    rc = RE_EXIT_FAIL;
    if (threads_given) re_set_threads(threads);
    inputs = in_l.v;
    n_in = in_l.n;
    if (!n_in) {
        rc = cli_usage_error(CMD, "no input images given");
        goto done;
    }
    if (!out_path) {
        rc = cli_usage_error(CMD, "-o GRID.png is required");
        goto done;
    }

    if ((s = re_model_load(&m, model_path)) != RE_OK) {
        cli_fail(CMD, s, "cannot load model '%s'", model_path);
        goto done;
    }
    const re_config *cfg = re_model_config(m);
    const int res = cfg->res, C = cfg->channels, L = cfg->latent;
    const size_t per = (size_t)C * res * res;
    if ((s = re_runner_create(&r, m, BATCH)) != RE_OK) {
        cli_fail(CMD, s, "cannot create runner");
        goto done;
    }
    if (align && (s = re_face_detector_open(&det, NULL)) != RE_OK) {
        cli_fail(CMD, s, "cannot open the face detector (use --no-align for pre-cropped faces)");
        goto done;
    }
    crops = calloc((size_t)n_in, sizeof *crops);
    recs = calloc((size_t)n_in, sizeof *recs);
    names = calloc((size_t)n_in, sizeof *names);
    x = malloc(BATCH * per * sizeof *x);
    y = malloc(BATCH * per * sizeof *y);
    z = malloc((size_t)BATCH * L * sizeof *z);
    if (!crops || !recs || !names || !x || !y || !z) {
        cli_fail(CMD, RE_ERR_NOMEM, "out of memory");
        goto done;
    }

    /* align every input; keep the crops (small) for the grid */
    int n = 0, skipped = 0;
    for (int i = 0; i < n_in; i++) {
        re_image_free(&img);
        if ((s = re_image_load(&img, inputs[i])) != RE_OK) {
            cli_fail(CMD, s, "cannot read image '%s'", inputs[i]);
            goto done;
        }
        if (align) {
            re_face faces[4];
            int nf = 0;
            if ((s = re_face_detect(det, &img, faces, 4, &nf)) != RE_OK) {
                cli_fail(CMD, s, "face detection failed on '%s'", inputs[i]);
                goto done;
            }
            if (nf == 0) {
                fprintf(stderr, "reenact %s: warning: no face found in '%s', skipped (--no-align center-crops)\n", CMD,
                        inputs[i]);
                skipped++;
                continue;
            }
            if (nf > 1)
                fprintf(stderr, "reenact %s: note: %d faces in '%s', using the largest\n", CMD, nf, inputs[i]);
            s = re_face_align(&img, faces[0].lm, res, &crops[n]);
        } else {
            s = center_crop(&img, res, &crops[n]);
        }
        if (s != RE_OK) {
            cli_fail(CMD, s, "cannot crop '%s'", inputs[i]);
            goto done;
        }
        names[n++] = (char *)inputs[i];
    }
    if (n == 0) {
        cli_fail(CMD, RE_OK, "no face found in any of the %d images", n_in);
        goto done;
    }

    /* reconstruct in batches and report metrics */
    re_stats st_l1 = {0}, st_psnr = {0}, st_ssim = {0}, st_sharp = {0};
    printf("%-40s %8s %8s %7s %9s\n", "image", "L1", "PSNR", "SSIM", "sharpness");
    for (int b0 = 0; b0 < n; b0 += BATCH) {
        int nb = n - b0 < BATCH ? n - b0 : BATCH;
        for (int j = 0; j < nb; j++) re_image_to_chw(&crops[b0 + j], x + (size_t)j * per);
        if ((s = re_encode(r, x, nb, z, NULL)) != RE_OK || (s = re_decode(r, z, nb, y)) != RE_OK) {
            cli_fail(CMD, s, "model forward failed");
            goto done;
        }
        for (int j = 0; j < nb; j++) {
            const float *a = x + (size_t)j * per, *b = y + (size_t)j * per;
            double l1 = re_metric_l1(b, a, per), psnr = re_metric_psnr(re_metric_mse(b, a, per), 1.0), ssim = NAN,
                   sharp = NAN;
            if ((s = re_metric_ssim(b, a, C, res, res, &ssim)) != RE_OK ||
                (s = re_metric_sharpness_ratio(b, a, C, res, res, &sharp)) != RE_OK) {
                cli_fail(CMD, s, "metrics failed");
                goto done;
            }
            re_stats_add(&st_l1, l1);
            re_stats_add(&st_psnr, psnr);
            re_stats_add(&st_ssim, ssim);
            re_stats_add(&st_sharp, sharp);
            const char *base = strrchr(names[b0 + j], '/');
            printf("%-40.40s %8.4f %8.2f %7.4f %9.3f\n", base ? base + 1 : names[b0 + j], l1, psnr, ssim, sharp);
            if ((s = re_image_from_chw(&recs[b0 + j], b, res, res)) != RE_OK) {
                cli_fail(CMD, s, "cannot convert reconstruction");
                goto done;
            }
        }
    }
    printf("%-40s %8.4f %8.2f %7.4f %9.3f   (mean of %d; %d skipped)\n", "mean", re_stats_mean(&st_l1),
           re_stats_mean(&st_psnr), re_stats_mean(&st_ssim), re_stats_mean(&st_sharp), n, skipped);

    /* grid: per row pair, inputs above reconstructions; gaps of `gap` pixels, white background */
    int nc = cols > 0 ? (int)cols : (n < 8 ? n : 8);
    if (nc > n) nc = n;
    const int pairs = (n + nc - 1) / nc, tile = res * (int)scale, gap = 2 * (int)scale;
    const int gw = nc * tile + (nc + 1) * gap, gh = pairs * (2 * tile + 2 * gap) + gap;
    if ((s = re_image_alloc(&grid, gw, gh)) != RE_OK) {
        cli_fail(CMD, s, "cannot allocate the %dx%d grid", gw, gh);
        goto done;
    }
    for (int row = 0; row < gh; row++) memset(grid.data + (size_t)row * grid.stride, 255, (size_t)gw * 3);
    for (int i = 0; i < n; i++) {
        int p = i / nc, c = i % nc;
        int x0 = gap + c * (tile + gap), y0 = gap + p * (2 * tile + 2 * gap);
        blit(&grid, &crops[i], x0, y0, (int)scale);
        blit(&grid, &recs[i], x0, y0 + tile + gap / 2, (int)scale);
    }
    s = (has_ext(out_path, ".jpg") || has_ext(out_path, ".jpeg")) ? re_image_save_jpeg(&grid, out_path, 95)
                                                                  : re_image_save_png(&grid, out_path);
    if (s != RE_OK) {
        cli_fail(CMD, s, "cannot write '%s'", out_path);
        goto done;
    }
    fprintf(stderr, "reenact %s: wrote %s (%dx%d: %d faces, top row of each pair = aligned input, below = "
                    "reconstruction)\n", CMD, out_path, gw, gh, n);
    rc = RE_EXIT_OK;
done:
    if (crops)
        for (int i = 0; i < n_in; i++) re_image_free(&crops[i]);
    if (recs)
        for (int i = 0; i < n_in; i++) re_image_free(&recs[i]);
    free(crops);
    free(recs);
    free(names);
    free(x);
    free(y);
    free(z);
    re_image_free(&img);
    re_image_free(&grid);
    re_face_detector_free(det);
    re_runner_free(r);
    re_model_free(m);
    free(inputs);
    return rc;
}
