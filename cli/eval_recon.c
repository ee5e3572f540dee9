/*
 * eval_recon.c - `reenact eval`, part 1: reconstruction (--faces DIR or --dataset F.rds). Every selected image x is
 * aligned like the training data and reconstructed as x' = decode(mu(x)); L1, PSNR, SSIM and the sharpness ratio
 * (gradient energy of x' over x), mean/std/min/max over the images. docs/FORMAT.md "eval JSON", "reconstruction".
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

/* One more image is in c->x (*nb counts them): reconstruct a full batch, then the progress line (done of total). */
static re_status rec_added(ctx *c, int *nb, rec_acc *a, prog *p, long done, long total) {
    if (++*nb == c->batch) {
        re_status st = rec_flush(c, *nb, a);
        if (st != RE_OK) return st;
        *nb = 0;
    }
    ev_prog_tick(p, done, total, "images", 0);
    return RE_OK;
}

static json_t *rec_json(const rec_acc *a) {
    json_t *o = json_object();
    json_object_set_new(o, "l1", ev_jstats(&a->l1));
    json_object_set_new(o, "psnr", ev_jstats(&a->psnr));
    json_object_set_new(o, "ssim", ev_jstats(&a->ssim));
    json_object_set_new(o, "sharpness_ratio", ev_jstats(&a->sharp));
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

re_status eval_faces(ctx *c, const char *dir, json_t **out) {
    re_status st = RE_OK;
    char **all = NULL;
    size_t n_all = 0;
    long used = 0, no_face = 0, unreadable = 0, multi = 0;
    int nb = 0;
    rec_acc a = {0};
    prog p;
    double t0 = ev_now_s();
    if ((st = ev_list_images(dir, &all, &n_all)) != RE_OK) goto fail;
    if (n_all == 0) {
        st = re_fail(RE_ERR_ARG, "no .png/.jpg/.jpeg files in '%s'", dir);
        goto fail;
    }
    size_t n_sel = c->max_images > 0 && (size_t)c->max_images < n_all ? (size_t)c->max_images : n_all;
    ev_prog_start(&p, "faces", c->quiet);
    for (size_t i = 0; i < n_sel; i++) {
        /* evenly spaced in name order when subsampling */
        const char *path = all[n_sel == n_all ? i : (size_t)((double)i * (double)n_all / (double)n_sel)];
        int found = 0, nf = 0;
        st = ev_load_aligned(c, path, c->align, &c->crops[nb], &found, &nf);
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
        if ((st = rec_added(c, &nb, &a, &p, (long)i + 1, (long)n_sel)) != RE_OK) goto fail;
    }
    if ((st = rec_flush(c, nb, &a)) != RE_OK) goto fail;
    ev_prog_tick(&p, (long)n_sel, (long)n_sel, "images", 1);
    if (used == 0) {
        st = re_fail(RE_ERR_NO_FACE, "no usable face among the %zu images selected in '%s'", n_sel, dir);
        goto fail;
    }
    double secs = ev_now_s() - t0;
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
    ev_free_list(all, n_all);
    return st;
}

re_status eval_dataset(ctx *c, const char *path, int val_only, double val_fraction, uint64_t seed,
                              json_t **out) {
    re_status st = RE_OK;
    re_dataset *ds = NULL;
    re_loader *l = NULL;
    rec_acc a = {0};
    prog p;
    double t0 = ev_now_s();
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
    ev_prog_start(&p, "dataset", c->quiet);
    int nb = 0;
    for (uint64_t i = 0; i < n_sel; i++) {
        uint64_t k = n_sel == total ? i : (uint64_t)((double)i * (double)total / (double)n_sel);
        uint64_t rec = val_only ? re_loader_val_index(l, k) : k;
        if ((st = re_dataset_read_chw(ds, rec, 0, c->x + (size_t)nb * c->per)) != RE_OK) goto fail;
        if ((st = rec_added(c, &nb, &a, &p, (long)i + 1, (long)n_sel)) != RE_OK) goto fail;
    }
    if ((st = rec_flush(c, nb, &a)) != RE_OK) goto fail;
    ev_prog_tick(&p, (long)n_sel, (long)n_sel, "images", 1);
    double secs = ev_now_s() - t0;
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
