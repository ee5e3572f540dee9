/*
 * train.h - pieces of `reenact train` shared by cli/cmd_train.c (options, main loop, signals, NaN guard),
 * cli/train_ckpt.c (checkpoint directories, atomic writes, retention, run config JSON) and cli/train_viz.c
 * (sample grids, loss-curve plot, a 5x7 bitmap font). Not part of the library.
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
/* Read a whole small text file (caller frees). */
re_status train_read_text(const char *path, char **out);
/* Write text atomically (re_write_atomic). */
re_status train_write_text(const char *path, const char *text);
/* Read the __metadata__ string `key` of a safetensors file without loading its tensors (caller frees *val;
 * *val = NULL when absent). */
re_status train_st_meta(const char *path, const char *key, char **val);

/* Step of the newest complete checkpoint (directory step_NNNNNNN with a DONE marker) under ckpt_dir, or -1. */
int64_t ckpt_latest(const char *ckpt_dir);
/* Remove leftovers of interrupted checkpoint writes (.tmp-* and .del-* directories). */
void ckpt_clean_partial(const char *ckpt_dir);
/* Path of a checkpoint directory: <ckpt_dir>/step_<7 digits>. */
void ckpt_path(char *out, size_t n, const char *ckpt_dir, int64_t step);

typedef struct ckpt_write {
    const char *ckpt_dir;
    int64_t step;
    const re_model *model;
    const re_trainer *trainer;
    const char *config_json;
    const char *const *optim_meta;   /* extra metadata for optim.safetensors (loader state etc.) */
    const char *const *model_meta;
    int fault_file;                  /* test hook: 1..4 = make writing that file fail (RLIMIT_FSIZE), 0 = none */
} ckpt_write;
/* Write a complete checkpoint: files into <ckpt_dir>/.tmp-step_N/ (each atomic), DONE last, fsync, rename the
 * directory to step_N, fsync ckpt_dir. On failure the temporary directory is removed and existing checkpoints are
 * untouched. */
re_status ckpt_write_dir(const ckpt_write *w);
/* Delete complete checkpoints other than the newest `keep` and `protect_step` (the best; -1 = none). Returns the
 * number deleted. */
int ckpt_prune(const char *ckpt_dir, int keep, int64_t protect_step);
/* Remove a directory and the files in it (one level). */
int rm_dir_files(const char *dir);

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
