/*
 * train.h - pieces of `reenact train` shared by cli/cmd_train.c (options, setup, resume, main loop, teardown, signals,
 * NaN guard), cli/train_ckpt.c (the run configuration JSON) and cli/train_viz.c (sample grids, loss-curve plot, a
 * 5x7 bitmap font). Not part of the library: like every file in cli/, it uses only the public headers
 * (include/reenact/); checkpoint folders are the library's re_checkpoint_*.
 */
#ifndef RE_CLI_TRAIN_H
#define RE_CLI_TRAIN_H

#include <stdint.h>
#include <stdio.h>

#include "reenact/data.h"
#include "reenact/media.h"
#include "reenact/reenact.h"

#define TRAIN_PATH 4096

/* Everything that defines a run (saved in every checkpoint's config.json; --resume reads it back). */
typedef struct train_cfg {
    char data[TRAIN_PATH];       /* packed dataset */
    char data_sha256[65];        /* its data checksum (hex), to refuse resuming on other data */
    char model[TRAIN_PATH];      /* preset name or JSON config path, as given */
    re_config mcfg;              /* the architecture */
    char init[TRAIN_PATH];       /* optional starting weights ("" = fresh initialization) */
    char init_sha256[65];        /* their data checksum (hex; "" without --init or when the file had none) */
    int64_t init_steps;          /* training steps behind them (their train_steps_total, else train_step; 0 if unknown) */
    re_train_opts opts;          /* mode, batch, Adam, loss weights, seed (the initial learning rates) */
    int epochs;
    int lr_decay_epochs;         /* learning rates fall linearly over the last N epochs (0 = constant) */
    double lr_final;             /* ... to this fraction of the initial rates */
    int64_t max_steps;           /* 0 = no limit besides epochs */
    int threads;                 /* OpenMP threads actually used */
    re_backend backend;
    int64_t ckpt_every, sample_every, log_every;
    int keep;
    double val_fraction;
    int val_max, flip, grid, max_rollbacks, plot_log;
} train_cfg;

/* Mutable run state saved with each checkpoint (besides model, optimizer and loader). */
typedef struct train_state {
    int64_t step;
    re_loader_state loader;
    double lr_g, lr_d;           /* current learning rates (halved by each NaN rollback) */
    int rollbacks;               /* total NaN rollbacks so far */
    double best_val;             /* best validation loss (INFINITY when none) */
    int64_t best_step;           /* its checkpoint step (-1 when none) */
    uint64_t metrics_bytes;      /* length of metrics.jsonl when the checkpoint was written */
    double train_seconds;        /* wall time spent training, summed over sessions */
} train_state;

/* ---- train_ckpt.c */
/* 1 when s is a data checksum as this project writes it: 64 lowercase hex digits. */
int train_is_sha256_hex(const char *s);

/* JSON of cfg + st (caller frees). */
char *train_config_json(const train_cfg *cfg, const train_state *st);
/* Parse what train_config_json wrote. RE_ERR_BAD_HEADER / RE_ERR_VERSION with a message naming `what`. */
re_status train_config_parse(const char *text, const char *what, train_cfg *cfg, train_state *st);

/* ---- train_viz.c */
typedef struct hist_point {
    int64_t step;
    float rec, kl, adv, fm, d;
} hist_point;
typedef struct val_point {
    int64_t step;
    float rec, kl;
} val_point;
typedef struct train_hist {
    hist_point *tr;
    size_t ntr, cap_tr;
    val_point *va;
    size_t nva, cap_va;
} train_hist;
int hist_add_train(train_hist *h, hist_point p);
int hist_add_val(train_hist *h, val_point p);
/* Drop points after `step` (rollback). */
void hist_truncate(train_hist *h, int64_t step);
void hist_free(train_hist *h);
/* Rebuild the history from a metrics.jsonl file (missing file: empty history). */
void hist_load(train_hist *h, const char *metrics_path);

/* Loss curves (train rec, kl, adv, d and validation rec) as a PNG, log or linear y axis. */
re_status viz_loss_plot(const train_hist *h, const char *path, int logy, int vaegan);
/* Grid: n images x [n,3,res,res] in the top row, their reconstructions xr below; upscaled to >= 64 px cells. */
re_status viz_sample_grid(const float *x, const float *xr, int n, int res, const char *path);
/* Draw text with the 5x7 font at (x,y) (top-left), each font pixel scale x scale. */
void viz_text(re_image *img, int x, int y, const char *s, const uint8_t rgb[3], int scale);

#endif
