/*
 * cmd_train.c - `reenact train`: train a VAE or VAE-GAN on a packed dataset (reenact dataset pack), with a progress
 * bar, metrics (JSON lines), sample grids, a loss plot, atomic checkpoints with retention, exact resume, clean
 * SIGINT handling and a NaN/Inf guard that rolls back. Helpers: cli/train_ckpt.c (run configuration JSON),
 * cli/train_viz.c (pictures), cli/train.h; checkpoint folders are the library's (re_checkpoint_*). cmd_train is
 * setup (new_run_config or resume_config, then setup_run and setup_model), a loop of train_step, and finish.
 *
 *   reenact train --data faces.rds [--model seed64] [--mode vaegan] [--epochs 30] --out runs/NAME
 *   reenact train --resume runs/NAME
 *
 * Run folder:
 *   config.json            the run's configuration (also inside every checkpoint, with the run state)
 *   metrics.jsonl          one JSON object per line: "train" (every --log-every steps, losses averaged over the
 *                          window), "val", "ckpt", "nonfinite", "resume", "done"
 *   samples/step_N.png     validation images (top) above their reconstructions (bottom); samples.png = latest
 *   loss.png               loss curves
 *   ckpt/step_NNNNNNN/     model.safetensors (weights + BN buffers + discriminator, F32), optim.safetensors (Adam
 *                          moments, step, RNG; loader state in its metadata), config.json, DONE (written last)
 *   model.safetensors      final model (F32, with the discriminator); --export PATH adds a BF16 inference file
 *
 * Exactness: a run resumed from a checkpoint repeats the uninterrupted run bit for bit when it uses the same thread
 * count and backend (the loader's order and flips are functions of (seed, epoch, position); the trainer's RNG and Adam
 * state are checkpointed; the sampling noise comes from the trainer's RNG only).
 * Signals: SIGINT/SIGTERM finish the current step, write a checkpoint and exit with 130/143; a second signal quits
 * at once (the newest complete checkpoint stays usable).
 * NaN/Inf: a step that reports RE_ERR_NONFINITE is not applied; the run reloads the newest checkpoint, halves both
 * learning rates and continues; after --max-rollbacks rollbacks without passing a new checkpoint it gives up (exit 1).
 * Several processes (MPI, issue 16): under `mpirun -np N` every rank runs this command on the same arguments; the
 * trainer splits each global batch over the ranks (re_train_opts.dist). Rank 0 alone writes the run folder
 * (metrics, pictures, checkpoints, the model) and prints; every rank reads the configuration and, on --resume or a
 * NaN rollback, the checkpoint (so the run folder must be visible to all ranks). The ranks agree on a signal at
 * every step, and a fatal error on any rank ends the whole job (re_dist_abort), never leaving the others waiting.
 * Test hooks (environment): REENACT_FAULT_INJECT_WRITE=N[:F] makes the N-th checkpoint of this process fail while
 * writing file F (1 model, 2 optim, 3 config, 4 DONE; default 1) as if the disk were full (RLIMIT_FSIZE = 0);
 * REENACT_TEST_NAN_STEP=S[:K] puts a NaN into the input of step S, K times (default 1).
 */
/* Paths are length-checked when parsed; snprintf truncation cannot happen in practice. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "reenact/dist.h"
#include "train.h"

#define CMD "train"

static volatile sig_atomic_t g_signal = 0;
/* First SIGINT/SIGTERM: finish the step, checkpoint, exit. A second one: default action (quit now; checkpoints are
 * atomic, so the newest complete one stays usable). */
static void on_signal(int sig) {
    if (g_signal) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_signal = sig;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long vm_hwm_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) v = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return v;
}

/* Write text to path atomically (temp + fsync + rename). */
static re_status write_text(const char *path, const char *text) {
    return re_write_file_atomic(path, text, strlen(text));
}

/* 64-byte aligned, zero-filled buffer of n floats (free with free()); NULL with a message on failure. */
static float *alloc_floats(size_t n, const char *what) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p = n <= SIZE_MAX / sizeof(float) - 64 ? aligned_alloc(64, bytes ? bytes : 64) : NULL;
    if (!p) re_fail(RE_ERR_NOMEM, "out of memory allocating %zu bytes for %s", n * sizeof(float), what);
    else memset(p, 0, bytes);
    return p;
}

/* ---- options --------------------------------------------------------------------------------------------- */

/* The CLI's defaults: the library's (re_train_opts_default: Adam, batch 64, the paper's loss terms) with the
 * learning rate and loss weights of the first stage of the recipe that trained the bundled model
 * (models/README.md), so that `reenact train --data F --flip --precision bf16 --out D` reproduces that stage. */
static void cli_opts_default(re_train_opts *o, re_train_mode mode) {
    re_train_opts_default(o, mode);
    o->lr_g = 5e-4;
    o->w_kl = 0.25f;
    if (mode == RE_MODE_VAEGAN) {
        o->w_adv = 400.f;
        o->w_fm = 100000.f;
    }
}

static void defaults(train_cfg *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->model, sizeof c->model, "seed64");
    cli_opts_default(&c->opts, RE_MODE_VAEGAN);
    c->epochs = 30;
    c->lr_decay_epochs = 15;
    c->lr_final = 0.1;
    c->threads = 0;
    c->backend = RE_BACKEND_AUTO;
    c->ckpt_every = 500;
    c->sample_every = 500;
    c->log_every = 10;
    c->keep = 3;
    c->val_fraction = 0.05;
    c->val_max = 512;
    c->flip = 0;
    c->grid = 8;
    c->max_rollbacks = 3;
    c->plot_log = 1;
}

/* Options that define the run and therefore may not change on --resume. */
enum {
    F_DATA = 1 << 0, F_MODEL = 1 << 1, F_MODE = 1 << 2, F_LR = 1 << 3, F_LRD = 1 << 4, F_WKL = 1 << 5,
    F_WADV = 1 << 6, F_WFM = 1 << 7, F_SEED = 1 << 8, F_BATCH = 1 << 9, F_VAL = 1 << 10, F_FLIP = 1 << 11,
    F_INIT = 1 << 12, F_OUT = 1 << 13, F_BETA = 1 << 14, F_BACKEND = 1 << 15, F_THREADS = 1 << 16,
    F_PREC = 1 << 17, F_SCHED = 1 << 18, F_WGDL = 1 << 19
};
#define F_FIXED (F_MODEL | F_MODE | F_LR | F_LRD | F_WKL | F_WADV | F_WFM | F_SEED | F_BATCH | F_VAL | F_FLIP | \
                 F_INIT | F_OUT | F_BETA | F_SCHED | F_WGDL)

typedef struct cli_args {
    train_cfg cfg;
    unsigned set;                /* F_* given on the command line */
    const char *resume, *export_path, *out_path;
    int quiet, verify, prefetch;
    int grad_bf16, check_every, bucket_mb;   /* several processes */
    /* values given on the command line that --resume may override */
    int epochs_set, max_steps_set, ckpt_set, keep_set, sample_set, log_set, grid_set, rb_set, plot_set, valmax_set;
} cli_args;

static const cli_choice mode_choices[] = {{"vae", RE_MODE_VAE}, {"vaegan", RE_MODE_VAEGAN}, {NULL, 0}};
static const cli_choice backend_choices[] = {
    {"ref", RE_BACKEND_REF}, {"dnnl", RE_BACKEND_DNNL}, {"auto", RE_BACKEND_AUTO}, {NULL, 0}};
static const cli_choice grad_choices[] = {{"f32", 0}, {"bf16", 1}, {NULL, 0}};

static const char usage[] =
    "usage: reenact train --data FILE.rds --out runs/NAME [options]\n"
    "       reenact train --resume runs/NAME [--epochs N] [--max-steps N] [--quiet] ...\n\n"
    "Trains the VAE (rec + KL) or VAE-GAN (+ adversarial + feature matching) of the paper on a packed dataset\n"
    "(see 'reenact dataset pack'). Defaults: the paper's setup (30 epochs, Adam, batch 64) with the learning rates,\n"
    "loss weights and decay of the first stage of the bundled model's recipe (models/README.md; it also used --flip).\n\n";
static const char footer[] =
    "\nSIGINT/SIGTERM: the current step finishes, a checkpoint is written, exit status 130/143 (a second\n"
    "signal quits at once; the newest complete checkpoint stays usable).\n"
    "NaN/Inf in a loss or gradient: the step is dropped, the newest checkpoint is reloaded and both learning\n"
    "rates are halved; metrics.jsonl records a \"nonfinite\" event naming the tensor.\n"
    "exit status: 0 ok, 1 failure, 2 usage error, 130/143 interrupted (checkpoint written)\n";

/* Returns CLI_GO, or the exit status (0 after --help). */
static int parse_args(int argc, char **argv, cli_args *a) {
    train_cfg *c = &a->cfg;
    re_train_mode mode = c->opts.mode;
    re_train_opts gan;   /* the defaults the options show; mode-dependent ones are applied after parsing */
    cli_opts_default(&gan, RE_MODE_VAEGAN);
    long batch = gan.batch;
    uint64_t seed = c->opts.seed;
    double lr = gan.lr_g, lrd = gan.lr_d, b1 = gan.beta1, b2 = gan.beta2, wkl = gan.w_kl, wadv = gan.w_adv,
           wfm = gan.w_fm, wgdl = gan.w_gdl;
    int batch_set = 0, lr_set = 0, lrd_set = 0, b1_set = 0, b2_set = 0, wkl_set = 0, wadv_set = 0, wfm_set = 0,
        wgdl_set = 0;
    re_precision prec = RE_PREC_F32;
    char adv_def[64], fm_def[64];
    snprintf(adv_def, sizeof adv_def, "%g with vaegan, 0 with vae", gan.w_adv);
    snprintf(fm_def, sizeof fm_def, "%g with vaegan, 0 with vae", gan.w_fm);
    a->verify = 1;
    a->prefetch = 2;
    a->check_every = 50;
    a->bucket_mb = 4;
    cli_opt opts[] = {
        CLI_SECTION("data and model:"),
        CLI_BUF("--data", "-d", c->data, "PATH", "packed dataset (.rds)", .flags = CLI_REQUIRED, .bits = F_DATA),
        CLI_BUF("--model", "-m", c->model, "M", "preset seed64, seed128 or tiny, or a JSON model config file",
                .bits = F_MODEL),
        CLI_BUF("--init", NULL, c->init, "PATH", "start from these weights (same architecture) instead of a fresh "
                "initialization; the model files record their checksum and count their steps (train_steps_total)",
                .bits = F_INIT),
        CLI_ENUM("--mode", NULL, &mode, mode_choices, "vaegan also trains the discriminator", .bits = F_MODE),
        CLI_NUM("--val-fraction", NULL, &c->val_fraction, "F", 0, 0.9, "held out for validation: whole groups "
                "(folders/clips) when the dataset has >= 2, else a seeded random subset", .bits = F_VAL),
        CLI_INT("--val-max", NULL, &c->val_max, "N", 1, 1000000, "validation images evaluated at each "
                "checkpoint/sample", .seen = &a->valmax_set),
        CLI_FLAG("--flip", NULL, &c->flip, 1, "random horizontal flips of training images [off]", .bits = F_FLIP),
        CLI_FLAG("--no-verify", NULL, &a->verify, 0, "skip the dataset's data checksum at start [verify]"),
        CLI_SECTION("optimization:"),
        CLI_INT("--epochs", "-e", &c->epochs, "N", 1, 1000000, "passes over the training data", .seen = &a->epochs_set),
        CLI_INT("--max-steps", NULL, &c->max_steps, "N", 0, 1e12, "stop after N optimizer steps in total, 0 = no "
                "limit", .seen = &a->max_steps_set),
        CLI_INT("--batch", "-b", &batch, "N", 1, 4096, "images per optimizer step", .seen = &batch_set,
                .bits = F_BATCH),
        CLI_NUM("--lr", NULL, &lr, "X", 1e-12, 10, "encoder+decoder Adam learning rate", .seen = &lr_set, .bits = F_LR),
        CLI_NUM("--lr-d", NULL, &lrd, "X", 1e-12, 10, "discriminator Adam learning rate", .seen = &lrd_set,
                .bits = F_LRD),
        CLI_INT("--lr-decay-epochs", NULL, &c->lr_decay_epochs, "N", 0, 1000000, "both learning rates fall linearly "
                "over the last N epochs, 0 = constant", .bits = F_SCHED),
        CLI_NUM("--lr-final", NULL, &c->lr_final, "F", 1e-6, 1, "... to F times their initial values", .bits = F_SCHED),
        CLI_NUM("--beta1", NULL, &b1, "X", 0, 0.999999, "Adam beta1", .seen = &b1_set, .bits = F_BETA),
        CLI_NUM("--beta2", NULL, &b2, "X", 0, 0.999999999, "Adam beta2", .seen = &b2_set, .bits = F_BETA),
        CLI_NUM("--w-kl", NULL, &wkl, "X", 0, 1e6, "KL weight", .seen = &wkl_set, .bits = F_WKL),
        CLI_NUM("--w-adv", NULL, &wadv, "X", 0, 1e6, "adversarial weight", .def = adv_def, .seen = &wadv_set,
                .bits = F_WADV),
        CLI_NUM("--w-fm", NULL, &wfm, "X", 0, 1e6, "discriminator feature-matching weight", .def = fm_def,
                .seen = &wfm_set, .bits = F_WFM),
        CLI_NUM("--w-gdl", NULL, &wgdl, "X", 0, 1e6, "gradient difference loss weight (edges of the reconstruction vs "
                "the input's, either mode)", .seen = &wgdl_set, .bits = F_WGDL),
        CLI_U64("--seed", "-s", &seed, "S", "initialization, split, shuffling, flips and sampling noise",
                .bits = F_SEED),
        CLI_INT("--max-rollbacks", NULL, &c->max_rollbacks, "N", 0, 1000, "NaN/Inf rollbacks (each halves the "
                "learning rates) before giving up", .seen = &a->rb_set),
        CLI_SECTION("run folder and outputs:"),
        CLI_STR("--out", "-o", &a->out_path, "DIR", "run folder; must not already hold a run (use --resume)",
                .hi = TRAIN_PATH - 201, .flags = CLI_REQUIRED, .bits = F_OUT),
        CLI_STR("--resume", "-r", &a->resume, "DIR", "continue the run in DIR from its newest complete checkpoint, "
                "exactly", .hi = TRAIN_PATH - 201),
        CLI_INT("--ckpt-every", NULL, &c->ckpt_every, "N", 1, 1e12, "checkpoint every N steps (and at the end, and on "
                "SIGINT)", .seen = &a->ckpt_set),
        CLI_INT("--keep", NULL, &c->keep, "K", 1, 1000000, "keep the newest K checkpoints plus the best by validation "
                "loss", .seen = &a->keep_set),
        CLI_INT("--sample-every", NULL, &c->sample_every, "N", 1, 1e12, "sample grid + loss plot every N steps and at "
                "every epoch end", .seen = &a->sample_set),
        CLI_INT("--log-every", NULL, &c->log_every, "N", 1, 1e12, "metrics line every N steps", .seen = &a->log_set),
        CLI_INT("--grid", NULL, &c->grid, "N", 1, 64, "images in the sample grid", .seen = &a->grid_set),
        CLI_FLAG("--plot-linear", NULL, &c->plot_log, 0, "linear instead of log y axis in loss.png",
                 .seen = &a->plot_set),
        CLI_STR("--export", NULL, &a->export_path, "PATH", "also write an inference-only BF16 model (no "
                "discriminator) at the end", .lo = 1),
        CLI_SECTION("compute:"),
        CLI_INT("--threads", "-t", &c->threads, "T", 0, 1024, "OpenMP threads, 0 = all cores; resume with the same T "
                "for bit-identical runs", .bits = F_THREADS),
        CLI_ENUM("--backend", NULL, &c->backend, backend_choices, "compute backend",
                 .def = "dnnl when built with oneDNN, else ref", .bits = F_BACKEND),
        CLI_ENUM("--precision", NULL, &prec, cli_train_precision_choices, "arithmetic of the convolutions and linear "
                 "layers: bf16 runs them on oneDNN's bf16 kernels (f32 accumulation, f32 master weights, BatchNorm and "
                 "Adam; needs AVX-512; faster on some CPUs with AVX-512 BF16, slower on others: docs/PERF.md); auto "
                 "picks f32 or bf16 by a one-time micro-benchmark and records the choice in the run; needs --backend "
                 "dnnl", .bits = F_PREC),
        CLI_INT("--prefetch", NULL, &a->prefetch, "N", 0, 64, "training batches read ahead on a background thread, "
                "0 = none"),
        CLI_FLAG("--quiet", "-q", &a->quiet, 1, "no progress bar or config table (errors and the final summary "
                 "remain)"),
        CLI_SECTION("several processes (run under mpirun -np N; --batch stays the global batch, a multiple of N):"),
        CLI_ENUM("--grad-precision", NULL, &a->grad_bf16, grad_choices, "precision of the gradient allreduce (bf16 "
                 "halves the bytes)"),
        CLI_INT("--check-every", NULL, &a->check_every, "N", 0, 1e9, "compare a weights checksum across ranks every N "
                "steps, 0 = off"),
        CLI_INT("--bucket-mb", NULL, &a->bucket_mb, "N", 1, 1024, "gradient bucket size of the allreduce overlapped "
                "with the backward"),
        CLI_END,
    };
    cli_cmd cc = {.name = CMD, .usage = usage, .footer = footer, .opts = opts};
    const int rc = cli_parse(&cc, argc, argv);
    if (rc != CLI_GO) return rc;
    a->set |= cc.given;
    cli_opts_default(&c->opts, mode);   /* mode-dependent defaults, then what was given */
    if (batch_set) c->opts.batch = (int)batch;
    c->opts.seed = seed;
    if (lr_set) c->opts.lr_g = lr;
    if (lrd_set) c->opts.lr_d = lrd;
    if (b1_set) c->opts.beta1 = b1;
    if (b2_set) c->opts.beta2 = b2;
    if (wkl_set) c->opts.w_kl = (float)wkl;
    if (wadv_set) c->opts.w_adv = (float)wadv;
    if (wfm_set) c->opts.w_fm = (float)wfm;
    if (wgdl_set) c->opts.w_gdl = (float)wgdl;
    c->opts.precision = re_precision_resolve(prec, 1);   /* fixed before config.json records it */
    return CLI_GO;
}

/* ---- the run --------------------------------------------------------------------------------------------- */

typedef struct run {
    train_cfg cfg;
    train_state st;
    char out[TRAIN_PATH], ckpt_dir[TRAIN_PATH + 16], samples_dir[TRAIN_PATH + 16], metrics_path[TRAIN_PATH + 16];
    int quiet, tty, prog_active;
    re_dataset *ds;
    re_loader *ld;
    re_model *m;
    re_trainer *t;
    re_dist *dist;               /* NULL: one process */
    int rank, world;             /* rank 0 of 1 in one process; only rank 0 writes and prints */
    FILE *metrics;
    float *x, *vx, *vr;
    train_hist hist;
    int64_t total;
    uint64_t bpe;
    int64_t last_ckpt;
    /* validation at the current step */
    int have_val;
    int64_t val_step;
    double val_rec, val_kl, val_loss;
    /* NaN guard */
    int nan_run;
    int64_t nan_fail_step;
    long nan_inject_step;
    int nan_inject_left;
    /* checkpoint fault injection */
    int ckpt_count;
    long fault_n;
    int fault_file;
    /* timing */
    double t_session, t_step, t_load;
    int64_t session_step0;
    /* progress and metrics windows */
    double ema[5];
    int ema_init;
    double last_prog, rate, rate_t;
    int64_t rate_step;
    double win[9];
    int64_t win_n;
} run;

static void prog_break(run *r) {
    if (r->prog_active) {
        fputc('\n', stderr);
        r->prog_active = 0;
    }
}

static json_t *jreal(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* Append one JSON object as a line to metrics.jsonl (steals o). */
static re_status emit(run *r, json_t *o) {
    re_status s = RE_OK;
    if (!r->metrics) { json_decref(o); return RE_OK; }   /* ranks other than 0 */
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(o);
    if (!line) return re_fail(RE_ERR_NOMEM, "metrics: out of memory");
    if (fputs(line, r->metrics) < 0 || fputc('\n', r->metrics) == EOF || fflush(r->metrics) != 0)
        s = re_fail(RE_ERR_IO, "cannot write '%s': %s", r->metrics_path, strerror(errno));
    free(line);
    return s;
}

static const char *prec_str(re_precision p) { return p == RE_PREC_BF16 ? "bf16" : "f32"; }
static const char *backend_str(re_backend b) { return b == RE_BACKEND_REF ? "ref" : b == RE_BACKEND_DNNL ? "dnnl" : "auto"; }

static int same_arch(const re_config *a, const re_config *b, char **ja_out, char **jb_out) {
    char *ja = re_config_to_json(a), *jb = re_config_to_json(b);
    int same = ja && jb && !strcmp(ja, jb);
    *ja_out = ja;
    *jb_out = jb;
    return same;
}

/* Validation losses on the first min(val_count, val_max) held-out images; sets r->have_val. */
static re_status eval_val(run *r) {
    uint64_t nv = re_loader_val_count(r->ld);
    if (nv > (uint64_t)r->cfg.val_max) nv = (uint64_t)r->cfg.val_max;
    r->have_val = 0;
    if (nv == 0) return RE_OK;
    const int B = r->cfg.opts.batch;
    double rec = 0, kl = 0;
    for (uint64_t first = 0; first < nv; first += (uint64_t)B) {
        int k = (int)(nv - first < (uint64_t)B ? nv - first : (uint64_t)B);
        re_step_stats es;
        re_status s = re_loader_val_batch(r->ld, first, k, r->vx);
        if (!s) s = re_trainer_eval(r->t, r->vx, k, &es);
        if (s) return s;
        rec += es.rec * k;
        kl += es.kl * k;
    }
    r->val_rec = rec / (double)nv;
    r->val_kl = kl / (double)nv;
    r->val_loss = r->cfg.opts.w_rec * r->val_rec + r->cfg.opts.w_kl * r->val_kl;
    r->val_step = r->st.step;
    r->have_val = 1;
    val_point vp = {r->st.step, (float)r->val_rec, (float)r->val_kl};
    hist_add_val(&r->hist, vp);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("val"));
    json_object_set_new(o, "step", json_integer(r->st.step));
    json_object_set_new(o, "epoch", json_integer(r->st.step / (int64_t)r->bpe));
    json_object_set_new(o, "rec", jreal(r->val_rec));
    json_object_set_new(o, "kl", jreal(r->val_kl));
    json_object_set_new(o, "loss", jreal(r->val_loss));
    json_object_set_new(o, "n", json_integer((json_int_t)nv));
    return emit(r, o);
}

static re_status ensure_val(run *r) {
    if (r->have_val && r->val_step == r->st.step) return RE_OK;
    return eval_val(r);
}

/* Sample grid (validation images, or the first records when nothing is held out) and the loss plot. */
static re_status write_pictures(run *r) {
    int g = r->cfg.grid < r->cfg.opts.batch ? r->cfg.grid : r->cfg.opts.batch;
    uint64_t nv = re_loader_val_count(r->ld);
    re_status s = RE_OK;
    if (nv) {
        if ((uint64_t)g > nv) g = (int)nv;
        s = re_loader_val_batch(r->ld, 0, g, r->vx);
    } else {
        uint64_t n = re_dataset_count(r->ds);
        if ((uint64_t)g > n) g = (int)n;
        size_t per = (size_t)3 * r->cfg.mcfg.res * r->cfg.mcfg.res;
        for (int i = 0; i < g && !s; i++) s = re_dataset_read_chw(r->ds, (uint64_t)i, 0, r->vx + (size_t)i * per);
    }
    if (!s) s = re_trainer_reconstruct(r->t, r->vx, g, r->vr);
    char p[TRAIN_PATH + 64];
    if (!s) {
        snprintf(p, sizeof p, "%s/step_%07" PRId64 ".png", r->samples_dir, r->st.step);
        s = viz_sample_grid(r->vx, r->vr, g, r->cfg.mcfg.res, p);
    }
    if (!s) {
        snprintf(p, sizeof p, "%s/samples.png", r->out);
        s = viz_sample_grid(r->vx, r->vr, g, r->cfg.mcfg.res, p);
    }
    if (!s) {
        snprintf(p, sizeof p, "%s/loss.png", r->out);
        s = viz_loss_plot(&r->hist, p, r->cfg.plot_log, r->cfg.opts.mode == RE_MODE_VAEGAN);
    }
    if (s) re_fail_ctx(s, "writing pictures at step %" PRId64, r->st.step);
    return s;
}

/* The metadata of every model file a run writes (checkpoints, model.safetensors, --export): its step, mode and
 * lineage. train_steps_total counts the steps behind the --init weights too, so a fine-tuned model says how much
 * training it carries; init_data_sha256 names the weights it started from. mm holds MODEL_META_N entries; stp and
 * tot 32 bytes each. */
#define MODEL_META_N 9
static void model_meta(const train_cfg *c, int64_t step, char *stp, char *tot, const char **mm) {
    snprintf(stp, 32, "%" PRId64, step);
    snprintf(tot, 32, "%" PRId64, c->init_steps + step);
    int k = 0;
    mm[k++] = "train_step";
    mm[k++] = stp;
    mm[k++] = "train_mode";
    mm[k++] = c->opts.mode == RE_MODE_VAEGAN ? "vaegan" : "vae";
    mm[k++] = "train_steps_total";
    mm[k++] = tot;
    if (c->init_sha256[0]) {
        mm[k++] = "init_data_sha256";
        mm[k++] = c->init_sha256;
    }
    mm[k] = NULL;
}

/* Test hook (REENACT_FAULT_INJECT_WRITE): while the chosen file of a checkpoint is written, new data fails to
 * write (EFBIG, as on a full disk; SIGXFSZ is ignored). */
typedef struct fault_hook_ctx { int file; struct rlimit saved; } fault_hook_ctx;
static void fault_hook(void *user, int file, int phase) {
    fault_hook_ctx *f = user;
    if (file != f->file) return;
    if (phase == 0) {
        getrlimit(RLIMIT_FSIZE, &f->saved);
        struct rlimit lim = {0, f->saved.rlim_max};
        setrlimit(RLIMIT_FSIZE, &lim);
    } else {
        setrlimit(RLIMIT_FSIZE, &f->saved);
    }
}

/* Write a checkpoint of the current state (no-op when one exists for this step). */
static re_status checkpoint(run *r) {
    if (r->st.step == r->last_ckpt) return RE_OK;
    re_status s = ensure_val(r);
    if (s) return s;
    double prev_best = r->st.best_val;
    int64_t prev_best_step = r->st.best_step;
    int is_best = r->have_val && r->val_loss < r->st.best_val;
    if (is_best) {
        r->st.best_val = r->val_loss;
        r->st.best_step = r->st.step;
    }
    r->st.loader = re_loader_get_state(r->ld);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("ckpt"));
    json_object_set_new(o, "step", json_integer(r->st.step));
    json_object_set_new(o, "val_loss", r->have_val ? jreal(r->val_loss) : json_null());
    json_object_set_new(o, "best", json_boolean(is_best));
    if ((s = emit(r, o))) goto fail;
    if (fsync(fileno(r->metrics)) != 0 && errno != EINVAL) {
        s = re_fail(RE_ERR_IO, "fsync of '%s' failed: %s", r->metrics_path, strerror(errno));
        goto fail;
    }
    long pos = ftell(r->metrics);
    r->st.metrics_bytes = pos > 0 ? (uint64_t)pos : 0;
    char *cj = train_config_json(&r->cfg, &r->st);
    if (!cj) { s = re_fail(RE_ERR_NOMEM, "checkpoint: out of memory"); goto fail; }
    char le[32], lp[32], seed[32], lrg[40], lrd[40], stp[32], tot[32];
    snprintf(le, sizeof le, "%" PRIu64, r->st.loader.epoch);
    snprintf(lp, sizeof lp, "%" PRIu64, r->st.loader.pos);
    snprintf(seed, sizeof seed, "%" PRIu64, r->cfg.opts.seed);
    snprintf(lrg, sizeof lrg, "%.17g", r->st.lr_g);
    snprintf(lrd, sizeof lrd, "%.17g", r->st.lr_d);
    const char *om[] = {"loader_epoch", le, "loader_pos", lp, "loader_seed", seed, "lr_g", lrg, "lr_d", lrd, NULL};
    const char *mm[MODEL_META_N];
    model_meta(&r->cfg, r->st.step, stp, tot, mm);
    re_checkpoint ck = {r->m, r->t, cj, mm, om, NULL, NULL};
    fault_hook_ctx fh = {0};
    r->ckpt_count++;
    if (r->fault_n == r->ckpt_count) {
        fh.file = r->fault_file;
        ck.file_hook = fault_hook;
        ck.hook_user = &fh;
    }
    s = re_checkpoint_save(r->ckpt_dir, r->st.step, &ck);
    free(cj);
    if (s) goto fail;
    r->last_ckpt = r->st.step;
    if (r->nan_run && r->st.step > r->nan_fail_step) r->nan_run = 0;
    re_checkpoint_prune(r->ckpt_dir, r->cfg.keep, r->st.best_step);
    return RE_OK;
fail:
    r->st.best_val = prev_best;
    r->st.best_step = prev_best_step;
    {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", re_last_error());
        json_t *e = json_object();
        json_object_set_new(e, "type", json_string("ckpt_failed"));
        json_object_set_new(e, "step", json_integer(r->st.step));
        json_object_set_new(e, "error", json_string(msg));
        emit(r, e);   /* best effort: the disk may be full */
        re_fail(s, "%s", msg);
    }
    return s;
}

/* Learning-rate factor for the step after `step` completed ones: 1, then a linear fall over the last
 * lr_decay_epochs epochs of the run (by --epochs, whatever --max-steps says) to lr_final. A function of the step
 * alone, so a resumed run follows the same schedule exactly. */
static int64_t lr_decay_steps(const run *r) {
    const train_cfg *c = &r->cfg;
    return (int64_t)(c->lr_decay_epochs < c->epochs ? c->lr_decay_epochs : c->epochs) * (int64_t)r->bpe;
}
static int64_t lr_decay_start(const run *r) { return (int64_t)r->cfg.epochs * (int64_t)r->bpe - lr_decay_steps(r); }

static double lr_factor(const run *r, int64_t step) {
    const train_cfg *c = &r->cfg;
    int64_t len = lr_decay_steps(r), start = lr_decay_start(r);
    if (len <= 0 || step < start) return 1.0;
    double f = (double)(step - start + 1) / (double)len;
    if (f > 1) f = 1;
    return 1.0 - (1.0 - c->lr_final) * f;
}

/* Load checkpoint `step`: model, optimizer, loader position and run state. halve: NaN rollback (keeps the current
 * learning rates halved and counts the rollback) instead of a plain resume. */
static re_status restore(run *r, int64_t step, int halve) {
    char dir[TRAIN_PATH + 64], p[TRAIN_PATH + 128], *text = NULL, *ja = NULL, *jb = NULL, *me = NULL, *mp = NULL;
    re_checkpoint_path(dir, sizeof dir, r->ckpt_dir, step);
    train_cfg c2;
    train_state s2;
    re_model *m = NULL;
    re_trainer *t = NULL;
    snprintf(p, sizeof p, "%s/config.json", dir);
    re_status s = re_checkpoint_load(r->ckpt_dir, step, NULL, &text);
    if (!s) s = train_config_parse(text, p, &c2, &s2);
    if (s) goto fail;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if ((s = re_checkpoint_load(r->ckpt_dir, step, &m, NULL))) goto fail;
    if (!same_arch(re_model_config(m), &r->cfg.mcfg, &ja, &jb)) {
        s = re_fail(RE_ERR_CONFIG, "%s: checkpoint from another architecture: it holds %s, the run is %s", p,
                    ja ? ja : "?", jb ? jb : "?");
        goto fail;
    }
    if (r->cfg.opts.mode == RE_MODE_VAEGAN && !re_model_has_disc(m)) {
        s = re_fail(RE_ERR_CONFIG, "%s: the checkpoint has no discriminator but the run is vaegan", p);
        goto fail;
    }
    if ((s = re_model_set_backend(m, r->cfg.backend))) goto fail;
    re_train_opts o = r->cfg.opts;
    double lr_g = halve ? r->st.lr_g * 0.5 : s2.lr_g, lr_d = halve ? r->st.lr_d * 0.5 : s2.lr_d;
    o.lr_g = lr_g;
    o.lr_d = lr_d;
    if ((s = re_trainer_create(&t, m, &o))) goto fail;
    if ((s = re_checkpoint_load_optim(r->ckpt_dir, step, t))) goto fail;
    if (re_trainer_steps(t) != step || s2.step != step) {
        s = re_fail(RE_ERR_BAD_HEADER, "%s: optimizer state is at step %" PRId64 ", config at %" PRId64
                    ", folder says %" PRId64, dir, re_trainer_steps(t), s2.step, step);
        goto fail;
    }
    if ((s = re_checkpoint_optim_meta(r->ckpt_dir, step, "loader_epoch", &me)) ||
        (s = re_checkpoint_optim_meta(r->ckpt_dir, step, "loader_pos", &mp)))
        goto fail;
    if (!me || !mp || strtoull(me, NULL, 10) != s2.loader.epoch || strtoull(mp, NULL, 10) != s2.loader.pos) {
        s = re_fail(RE_ERR_BAD_HEADER, "%s: loader state in optim.safetensors (%s/%s) and config.json "
                    "(%" PRIu64 "/%" PRIu64 ") disagree", dir, me ? me : "?", mp ? mp : "?", s2.loader.epoch,
                    s2.loader.pos);
        goto fail;
    }
    if ((s = re_loader_set_state(r->ld, s2.loader))) {
        re_fail_ctx(s, "%s", dir);
        goto fail;
    }
    re_trainer_free(r->t);
    re_model_free(r->m);
    r->t = t;
    r->m = m;
    double secs = r->st.train_seconds;
    int rb = r->st.rollbacks;
    r->st = s2;
    if (halve) {
        r->st.lr_g = lr_g;
        r->st.lr_d = lr_d;
        r->st.rollbacks = rb + 1;
        r->st.train_seconds = secs;
    }
    r->last_ckpt = step;
    r->have_val = 0;
    hist_truncate(&r->hist, step);
    free(text);
    free(ja);
    free(jb);
    free(me);
    free(mp);
    return RE_OK;
fail:
    re_trainer_free(t);
    re_model_free(m);
    free(text);
    free(ja);
    free(jb);
    free(me);
    free(mp);
    return s;
}

static void fmt_time(char *b, size_t n, double s) {
    if (!isfinite(s) || s < 0) { snprintf(b, n, "--:--"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(b, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(b, n, "%ld:%02ld", t / 60, t % 60);
}

/* Smoothed img/s, updated at most every 0.25 s; also feeds metrics.jsonl, so it runs with --quiet too. */
static void update_rate(run *r) {
    double t = now_s();
    if (t - r->rate_t >= 0.25 && r->st.step > r->rate_step) {
        double inst = (double)(r->st.step - r->rate_step) * r->cfg.opts.batch / (t - r->rate_t);
        r->rate = r->rate > 0 ? 0.7 * r->rate + 0.3 * inst : inst;
        r->rate_t = t;
        r->rate_step = r->st.step;
    }
}

static void progress(run *r, int force) {
    update_rate(r);
    if (r->quiet) return;
    double t = now_s();
    if (!force && t - r->last_prog < (r->tty ? 0.25 : 10.0)) return;
    r->last_prog = t;
    double frac = r->total ? (double)r->st.step / (double)r->total : 1;
    char bar[21], eta[32];
    for (int i = 0; i < 20; i++) bar[i] = i < (int)(frac * 20) ? '#' : '.';
    bar[20] = 0;
    fmt_time(eta, sizeof eta, r->rate > 0 ? (double)(r->total - r->st.step) * r->cfg.opts.batch / r->rate : NAN);
    int64_t ep = r->st.step / (int64_t)r->bpe + 1;
    if (ep > r->cfg.epochs) ep = r->cfg.epochs;
    fprintf(stderr, "%sepoch %" PRId64 "/%d [%s] %5.1f%% step %" PRId64 "/%" PRId64 " | %.0f img/s | ETA %s | rec %.4g kl %.4g",
            r->tty ? "\r" : "", ep, r->cfg.epochs, bar, 100 * frac, r->st.step, r->total, r->rate, eta, r->ema[0],
            r->ema[1]);
    if (r->cfg.opts.mode == RE_MODE_VAEGAN) fprintf(stderr, " adv %.4g d %.4g", r->ema[2], r->ema[4]);
    if (r->have_val) fprintf(stderr, " | val %.4g", r->val_rec);
    if (r->tty) {
        fputs("\x1b[K", stderr);
        r->prog_active = 1;
    } else {
        fputc('\n', stderr);
    }
}

/* After a successful step: running averages, metrics window. */
static re_status account(run *r, const re_step_stats *ss) {
    double v[5] = {ss->rec, ss->kl, ss->adv, ss->fm, ss->d_loss};
    for (int i = 0; i < 5; i++) r->ema[i] = r->ema_init ? 0.95 * r->ema[i] + 0.05 * v[i] : v[i];
    r->ema_init = 1;
    double w[9] = {ss->rec, ss->kl, ss->adv, ss->fm, ss->d_loss, ss->g_loss, ss->d_real, ss->d_fake, ss->gdl};
    for (int i = 0; i < 9; i++) r->win[i] += w[i];
    r->win_n++;
    update_rate(r);
    if (r->st.step % r->cfg.log_every) return RE_OK;
    double n = (double)r->win_n;
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("train"));
    json_object_set_new(o, "step", json_integer(r->st.step));
    json_object_set_new(o, "epoch", json_integer(r->st.step / (int64_t)r->bpe));
    const char *names[9] = {"rec", "kl", "adv", "fm", "d", "g", "d_real", "d_fake", "gdl"};
    for (int i = 0; i < 8; i++)
        if (i < 2 || i == 5 || r->cfg.opts.mode == RE_MODE_VAEGAN) json_object_set_new(o, names[i], jreal(r->win[i] / n));
    if (r->cfg.opts.w_gdl != 0.f) json_object_set_new(o, names[8], jreal(r->win[8] / n));
    /* the rates the last step used (the run's current rates times the schedule's factor) */
    double lf = lr_factor(r, r->st.step - 1);
    json_object_set_new(o, "lr_g", json_real(r->st.lr_g * lf));
    if (r->cfg.opts.mode == RE_MODE_VAEGAN) json_object_set_new(o, "lr_d", json_real(r->st.lr_d * lf));
    json_object_set_new(o, "img_s", jreal(r->rate));
    json_object_set_new(o, "time", json_real(r->st.train_seconds + now_s() - r->t_session));
    hist_point hp = {r->st.step, (float)(r->win[0] / n), (float)(r->win[1] / n), (float)(r->win[2] / n),
                     (float)(r->win[3] / n), (float)(r->win[4] / n)};
    hist_add_train(&r->hist, hp);
    memset(r->win, 0, sizeof r->win);
    r->win_n = 0;
    return emit(r, o);
}

/* NaN/Inf: roll back to the newest checkpoint with halved learning rates. Returns RE_OK to continue. */
static re_status handle_nonfinite(run *r, const char *msg) {
    prog_break(r);
    int64_t fail_step = r->st.step + 1;
    int64_t back = re_checkpoint_latest(r->ckpt_dir);
    r->nan_run++;
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("nonfinite"));
    json_object_set_new(o, "step", json_integer(fail_step));
    json_object_set_new(o, "message", json_string(msg));
    json_object_set_new(o, "rollback_to", json_integer(back));
    json_object_set_new(o, "lr_g", json_real(r->st.lr_g * 0.5));
    emit(r, o);
    if (r->nan_run > r->cfg.max_rollbacks)
        return re_fail(RE_ERR_NONFINITE, "giving up: non-finite values again after %d rollback%s (%s); the newest "
                       "checkpoint is %s/step_%07" PRId64 ". Lower --lr or check the data", r->nan_run - 1,
                       r->nan_run - 1 == 1 ? "" : "s", msg, r->ckpt_dir, back);
    if (back < 0) return re_fail(RE_ERR_NONFINITE, "%s, and no checkpoint to roll back to", msg);
    if (r->rank == 0)
        fprintf(stderr, "reenact train: warning: %s\n  rolling back to checkpoint step %" PRId64
            " and halving the learning rates (%g -> %g; discriminator %g -> %g); rollback %d of at most %d\n",
            msg, back, r->st.lr_g, r->st.lr_g * 0.5, r->st.lr_d, r->st.lr_d * 0.5, r->nan_run,
            r->cfg.max_rollbacks);
    if (fail_step > r->nan_fail_step) r->nan_fail_step = fail_step;
    re_status s = restore(r, back, 1);
    if (s) return re_fail_ctx(s, "rollback to step %" PRId64 " failed", back);
    memset(r->win, 0, sizeof r->win);
    r->win_n = 0;
    return RE_OK;
}

static int mkdir_p(const char *path) {
    char tmp[TRAIN_PATH];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    struct stat sb;
    if (stat(tmp, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static void run_free(run *r) {
    re_loader_free(r->ld);
    re_trainer_free(r->t);
    re_model_free(r->m);
    re_dataset_close(r->ds);
    if (r->metrics) fclose(r->metrics);
    free(r->x);
    free(r->vx);
    free(r->vr);
    hist_free(&r->hist);
}

static void print_table(run *r, int resumed, int64_t from) {
    if (r->quiet) return;
    const train_cfg *c = &r->cfg;
    const re_train_opts *o = &c->opts;
    printf("reenact train%s\n", resumed ? " (resumed)" : "");
    printf("  data         %s: %" PRIu64 " images %dx%d, %u groups; train %" PRIu64 ", validation %" PRIu64 " (%s)\n",
           c->data, re_dataset_count(r->ds), c->mcfg.res, c->mcfg.res, re_dataset_n_groups(r->ds),
           re_loader_train_count(r->ld), re_loader_val_count(r->ld),
           re_dataset_n_groups(r->ds) >= 2 ? "whole groups" : "random images");
    printf("  model        %s: encoder %zu, decoder %zu, discriminator %zu parameters; %.1f MFLOP/image enc+dec\n",
           c->model, re_model_param_count(r->m, RE_PART_ENCODER), re_model_param_count(r->m, RE_PART_DECODER),
           re_model_param_count(r->m, RE_PART_DISC),
           (re_model_flops(r->m, RE_PART_ENCODER) + re_model_flops(r->m, RE_PART_DECODER)) / 1e6);
    printf("  mode         %s: lr %g (now %g), lr_d %g (now %g), betas %g/%g, w_rec %g w_kl %g w_adv %g w_fm %g w_gdl %g\n",
           o->mode == RE_MODE_VAEGAN ? "vaegan" : "vae", o->lr_g, r->st.lr_g, o->lr_d, r->st.lr_d, o->beta1, o->beta2,
           o->w_rec, o->w_kl, o->w_adv, o->w_fm, o->w_gdl);
    printf("  schedule     %d epochs x %" PRIu64 " steps of %d = %" PRId64 " steps%s; seed %" PRIu64 "; flip %s\n",
           c->epochs, r->bpe, o->batch, r->total, c->max_steps ? " (--max-steps)" : "", o->seed, c->flip ? "on" : "off");
    if (c->lr_decay_epochs > 0)
        printf("  lr decay     linear over the last %d epochs to %g x (from step %" PRId64 ")\n", c->lr_decay_epochs,
               c->lr_final, lr_decay_start(r));
    printf("  outputs      %s: checkpoints every %lld steps (keep %d + best), samples every %lld, log every %lld\n",
           r->out, (long long)c->ckpt_every, c->keep, (long long)c->sample_every, (long long)c->log_every);
    printf("  compute      %d threads, backend %s, precision %s\n", c->threads, backend_str(re_model_backend(r->m)),
           prec_str(o->precision));
    if (resumed) printf("  resume       from step %" PRId64 " (epoch %" PRIu64 ", position %" PRIu64 ")\n", from,
                        r->st.loader.epoch, r->st.loader.pos);
    fflush(stdout);
}

/* ---- setup, resume, loop, teardown ---------------------------------------------------------------------- */

/* Test hooks from the environment (see the top of this file). Returns 0, or RE_EXIT_USAGE after the message. */
static int read_test_hooks(run *r) {
    const char *fi = getenv("REENACT_FAULT_INJECT_WRITE");
    if (fi && *fi) {
        r->fault_file = 1;
        if (sscanf(fi, "%ld:%d", &r->fault_n, &r->fault_file) < 1 || r->fault_file < 1 || r->fault_file > 4)
            return cli_usage_error(CMD, "REENACT_FAULT_INJECT_WRITE wants N or N:F (F = 1..4), got '%s'", fi);
    }
    const char *ni = getenv("REENACT_TEST_NAN_STEP");
    if (ni && *ni) {
        r->nan_inject_left = 1;
        if (sscanf(ni, "%ld:%d", &r->nan_inject_step, &r->nan_inject_left) < 1)
            return cli_usage_error(CMD, "REENACT_TEST_NAN_STEP wants S or S:K, got '%s'", ni);
    }
    return 0;
}

/* --resume: the run's configuration from its newest complete checkpoint (*resume_step), with what the command line
 * may change. Returns 0 or an exit status (the failure is reported). */
static int resume_config(run *r, const cli_args *a, int64_t *resume_step) {
    if (a->set & F_FIXED) {
        static const char *names[] = {"--data", "--model", "--mode", "--lr", "--lr-d", "--w-kl", "--w-adv",
                                      "--w-fm", "--seed", "--batch", "--val-fraction", "--flip", "--init",
                                      "--out", "--beta1/--beta2", "--backend", "--threads", "--precision",
                                      "--lr-decay-epochs/--lr-final", "--w-gdl"};
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
            if ((a->set & F_FIXED) & (1u << i))
                return cli_usage_error(CMD, "%s cannot change when resuming (the run's settings are in its "
                                       "checkpoints; start a new run with --init to change them)", names[i]);
    }
    snprintf(r->out, sizeof r->out, "%s", a->resume);
    snprintf(r->ckpt_dir, sizeof r->ckpt_dir, "%s/ckpt", r->out);
    struct stat sb;
    if (stat(r->out, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cli_fail(CMD, RE_OK, "--resume: '%s' is not a run folder", r->out);
    if (r->rank == 0) re_checkpoint_clean(r->ckpt_dir);
    re_status sb0 = re_dist_barrier(r->dist);   /* the others look after rank 0 has cleaned */
    if (sb0) return cli_fail(CMD, sb0, "--resume");
    *resume_step = re_checkpoint_latest(r->ckpt_dir);
    if (*resume_step < 0)
        return cli_fail(CMD, RE_OK, "--resume: no complete checkpoint in %s (the run stopped before its first "
                        "checkpoint; start it again without --resume)", r->ckpt_dir);
    char p[TRAIN_PATH + 64], *text = NULL;
    re_checkpoint_path(p, sizeof p, r->ckpt_dir, *resume_step);
    strcat(p, "/config.json");
    re_status s = re_checkpoint_load(r->ckpt_dir, *resume_step, NULL, &text);
    if (!s) s = train_config_parse(text, p, &r->cfg, &r->st);
    free(text);
    if (s) return cli_fail(CMD, s, "cannot read the run configuration");
    train_cfg *c = &r->cfg;
    if (a->epochs_set) c->epochs = a->cfg.epochs;
    if (a->max_steps_set) c->max_steps = a->cfg.max_steps;
    if (a->ckpt_set) c->ckpt_every = a->cfg.ckpt_every;
    if (a->keep_set) c->keep = a->cfg.keep;
    if (a->sample_set) c->sample_every = a->cfg.sample_every;
    if (a->log_set) c->log_every = a->cfg.log_every;
    if (a->grid_set) c->grid = a->cfg.grid;
    if (a->rb_set) c->max_rollbacks = a->cfg.max_rollbacks;
    if (a->plot_set) c->plot_log = a->cfg.plot_log;
    if (a->valmax_set) c->val_max = a->cfg.val_max;
    if (a->set & F_BACKEND) {
        if (a->cfg.backend != c->backend)
            fprintf(stderr, "reenact train: warning: backend %s instead of the run's %s: results will not be "
                    "bit-identical to an uninterrupted run\n", backend_str(a->cfg.backend), backend_str(c->backend));
        c->backend = a->cfg.backend;
    }
    if (a->set & F_PREC) {
        if (a->cfg.opts.precision != c->opts.precision)
            fprintf(stderr, "reenact train: warning: precision %s instead of the run's %s: results will not be "
                    "bit-identical to an uninterrupted run\n", prec_str(a->cfg.opts.precision),
                    prec_str(c->opts.precision));
        c->opts.precision = a->cfg.opts.precision;
    }
    if (a->set & F_THREADS) {
        int want = a->cfg.threads;
        re_set_threads(want);
        if (re_get_threads() != c->threads)
            fprintf(stderr, "reenact train: warning: %d threads instead of the run's %d: results will not be "
                    "bit-identical to an uninterrupted run\n", re_get_threads(), c->threads);
        c->threads = re_get_threads();
    }
    if (a->set & F_DATA) snprintf(c->data, sizeof c->data, "%s", a->cfg.data);
    re_set_threads(c->threads);
    return 0;
}

/* A new run: the configuration from the command line. Returns 0 or an exit status (the failure is reported). */
static int new_run_config(run *r, const cli_args *a) {
    if (!a->cfg.data[0]) return cli_usage_error(CMD, "--data FILE.rds is required (or --resume RUN)");
    if (!a->out_path) return cli_usage_error(CMD, "--out runs/NAME is required (or --resume RUN)");
    r->cfg = a->cfg;
    /* Absolute dataset path, so --resume works from another directory. */
    char abs[TRAIN_PATH];
    if (realpath(a->cfg.data, abs) && strlen(abs) < sizeof r->cfg.data)
        snprintf(r->cfg.data, sizeof r->cfg.data, "%s", abs);
    snprintf(r->out, sizeof r->out, "%s", a->out_path);
    snprintf(r->ckpt_dir, sizeof r->ckpt_dir, "%s/ckpt", r->out);
    train_cfg *c = &r->cfg;
    re_status s;
    /* Model: preset name or JSON config file. */
    if (strstr(c->model, ".json")) {
        char *text = NULL;
        s = re_read_file_text(c->model, &text);
        if (!s) s = re_config_from_json(&c->mcfg, text, strlen(text));
        free(text);
        if (!s) s = re_config_validate(&c->mcfg);
        if (s) return cli_fail(CMD, s, "--model %s", c->model);
    } else if ((s = re_config_preset(&c->mcfg, c->model))) {
        return cli_usage_error(CMD, "--model: %s", re_last_error());
    }
    if (re_checkpoint_latest(r->ckpt_dir) >= 0)
        return cli_usage_error(CMD, "%s already holds a run (checkpoints in %s): use --resume %s, or another "
                               "--out", r->out, r->ckpt_dir, r->out);
    re_set_threads(c->threads);
    c->threads = re_get_threads();
    if (c->backend == RE_BACKEND_AUTO) {
#ifdef RE_HAVE_DNNL
        c->backend = RE_BACKEND_DNNL;
#else
        c->backend = RE_BACKEND_REF;
#endif
    }
    r->st.lr_g = c->opts.lr_g;
    r->st.lr_d = c->opts.lr_d;
    r->st.best_val = INFINITY;
    r->st.best_step = -1;
    return 0;
}

/* Signals, the run folder, the dataset and its loader, batch buffers and metrics.jsonl (truncated to the resumed
 * checkpoint). Returns 0 or RE_EXIT_FAIL (reported). */
static int setup_run(run *r, const cli_args *a) {
    train_cfg *c = &r->cfg;
    re_status s;
    snprintf(r->samples_dir, sizeof r->samples_dir, "%s/samples", r->out);
    snprintf(r->metrics_path, sizeof r->metrics_path, "%s/metrics.jsonl", r->out);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGXFSZ, SIG_IGN);   /* a file-size limit then fails the write (EFBIG) instead of killing us */

    /* Output folder: create and prove it is writable before any work (rank 0 writes it). */
    if (r->rank == 0 && (mkdir_p(r->out) != 0 || mkdir_p(r->ckpt_dir) != 0 || mkdir_p(r->samples_dir) != 0)) {
        fprintf(stderr, "reenact train: error: cannot create the output folder '%s': %s\n", r->out, strerror(errno));
        return RE_EXIT_FAIL;
    }
    if (r->rank == 0) {
        char probe[TRAIN_PATH + 64];
        snprintf(probe, sizeof probe, "%s/.write-test", r->out);
        if ((s = write_text(probe, "ok\n"))) return cli_fail(CMD, s, "output folder '%s' is not writable", r->out);
        remove(probe);
    }

    /* Data. */
    if ((s = re_dataset_open(&r->ds, c->data))) return cli_fail(CMD, s, "cannot use the dataset");
    if (re_dataset_res(r->ds) != c->mcfg.res) {
        fprintf(stderr, "reenact train: error: %s holds %dx%d images but model '%s' takes %dx%d (pack with --res %d)\n",
                c->data, re_dataset_res(r->ds), re_dataset_res(r->ds), c->model, c->mcfg.res, c->mcfg.res, c->mcfg.res);
        return RE_EXIT_FAIL;
    }
    {
        char hex[65];
        const re_dataset_header *h = re_dataset_info(r->ds);
        for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", h->data_sha256[i]);
        if (a->resume && strcmp(hex, c->data_sha256)) {
            fprintf(stderr, "reenact train: error: %s is not the dataset this run was trained on (data sha256 %.16s..., "
                    "the run's is %.16s...)\n", c->data, hex, c->data_sha256);
            return RE_EXIT_FAIL;
        }
        snprintf(c->data_sha256, sizeof c->data_sha256, "%s", hex);
    }
    if (a->verify) {
        double t0 = now_s();
        if ((s = re_dataset_verify(r->ds))) return cli_fail(CMD, s, "dataset check failed (use a fresh pack)");
        if (!r->quiet) fprintf(stderr, "reenact train: dataset checksum verified (%.1f s)\n", now_s() - t0);
    }
    re_loader_opts lo;
    re_loader_opts_default(&lo);
    lo.batch = c->opts.batch;
    lo.seed = c->opts.seed;
    lo.flip = c->flip;
    lo.val_fraction = c->val_fraction;
    lo.prefetch = a->prefetch;
    if ((s = re_loader_create(&r->ld, r->ds, &lo))) return cli_fail(CMD, s, "cannot load batches");
    r->bpe = re_loader_batches_per_epoch(r->ld);
    r->total = (int64_t)c->epochs * (int64_t)r->bpe;
    if (c->max_steps > 0 && c->max_steps < r->total) r->total = c->max_steps;
    {
        size_t bf = re_loader_batch_floats(r->ld);
        r->x = alloc_floats(bf, "batch");
        r->vx = alloc_floats(bf, "validation batch");
        r->vr = alloc_floats(bf, "reconstructions");
        if (!r->x || !r->vx || !r->vr) return cli_fail(CMD, RE_ERR_NOMEM, "buffers");
    }

    if (r->rank != 0) return 0;
    /* Metrics: a resumed run drops what was logged after its checkpoint. */
    if (a->resume) {
        struct stat sb;
        if (stat(r->metrics_path, &sb) == 0 && (uint64_t)sb.st_size > r->st.metrics_bytes &&
            truncate(r->metrics_path, (off_t)r->st.metrics_bytes) != 0) {
            fprintf(stderr, "reenact train: error: cannot truncate '%s': %s\n", r->metrics_path, strerror(errno));
            return RE_EXIT_FAIL;
        }
        hist_load(&r->hist, r->metrics_path);
    }
    r->metrics = fopen(r->metrics_path, a->resume ? "a" : "w");
    if (!r->metrics) {
        fprintf(stderr, "reenact train: error: cannot open '%s': %s\n", r->metrics_path, strerror(errno));
        return RE_EXIT_FAIL;
    }
    return 0;
}

/* A new run's model and trainer: fresh initialization, or the --init weights (which must have the run's
 * architecture). Returns 0 or RE_EXIT_FAIL (reported). */
static int create_model(run *r) {
    train_cfg *c = &r->cfg;
    int disc = c->opts.mode == RE_MODE_VAEGAN;
    re_status s = re_model_create(&r->m, &c->mcfg, c->opts.seed, disc);
    if (s) return cli_fail(CMD, s, "cannot create the model");
    if (c->init[0]) {
        re_model *src = NULL;
        char *ja = NULL, *jb = NULL;
        s = re_model_load(&src, c->init);
        if (!s) { /* the lineage: what the starting weights are and how much training they carry */
            const char *sha = re_model_meta(src, "data_sha256");
            const char *tt = re_model_meta(src, "train_steps_total");
            if (!tt) tt = re_model_meta(src, "train_step");
            char *end = NULL;
            long long n = tt ? strtoll(tt, &end, 10) : 0;
            c->init_steps = tt && end != tt && !*end && n >= 0 && n <= 1000000000000000LL ? n : 0;
            c->init_sha256[0] = 0;
            if (train_is_sha256_hex(sha))
                snprintf(c->init_sha256, sizeof c->init_sha256, "%s", sha);
        }
        if (!s && !same_arch(re_model_config(src), &c->mcfg, &ja, &jb))
            s = re_fail(RE_ERR_CONFIG, "%s is another architecture: it holds %s, --model %s is %s", c->init,
                        ja ? ja : "?", c->model, jb ? jb : "?");
        if (!s) s = re_model_copy_weights(r->m, src);
        free(ja);
        free(jb);
        re_model_free(src);
        if (s) return cli_fail(CMD, s, "--init");
    }
    if ((s = re_model_set_backend(r->m, c->backend))) return cli_fail(CMD, s, "--backend");
    if ((s = re_trainer_create(&r->t, r->m, &c->opts))) return cli_fail(CMD, s, "cannot create the trainer");
    return 0;
}

/* Model and trainer (restored from resume_step, or created), the run folder's config.json, the config table, and
 * for a new run the step-0 checkpoint and pictures. Returns 0 or RE_EXIT_FAIL (reported). */
static int setup_model(run *r, const cli_args *a, int64_t resume_step) {
    train_cfg *c = &r->cfg;
    re_status s;
    if (a->resume) {
        if ((s = restore(r, resume_step, 0))) return cli_fail(CMD, s, "cannot resume from step %" PRId64, resume_step);
        json_t *o = json_object();
        json_object_set_new(o, "type", json_string("resume"));
        json_object_set_new(o, "step", json_integer(resume_step));
        json_object_set_new(o, "threads", json_integer(c->threads));
        if ((s = emit(r, o))) return cli_fail(CMD, s, "metrics");
    } else if (create_model(r)) {
        return RE_EXIT_FAIL;
    }
    if (r->rank == 0) {
        char *cj = train_config_json(c, &r->st), p[TRAIN_PATH + 64];
        snprintf(p, sizeof p, "%s/config.json", r->out);
        s = cj ? write_text(p, cj) : RE_ERR_NOMEM;
        free(cj);
        if (s) return cli_fail(CMD, s, "cannot write the run configuration");
    }
    print_table(r, a->resume != NULL, resume_step);
    if (!a->resume && r->rank == 0) {
        /* Step 0: a checkpoint to roll back to, the initial validation loss and pictures. */
        if ((s = checkpoint(r))) { prog_break(r); return cli_fail(CMD, s, "checkpoint at step 0 failed"); }
        if ((s = write_pictures(r))) return cli_fail(CMD, s, "pictures");
    }
    return 0;
}

/* One optimizer step and what follows it: metrics, validation, pictures, checkpoint, progress. A non-finite step
 * rolls back (handle_nonfinite). Returns 0 to go on, or RE_EXIT_FAIL (reported). */
static int train_step(run *r) {
    const train_cfg *c = &r->cfg;
    re_status s;
    re_loader_batch_info bi;
    double t0 = now_s();
    if ((s = re_loader_next(r->ld, r->x, &bi))) { prog_break(r); return cli_fail(CMD, s, "reading a batch"); }
    double t1 = now_s();
    if (r->nan_inject_left > 0 && r->st.step + 1 == r->nan_inject_step) {
        r->x[0] = NAN;
        r->nan_inject_left--;
    }
    re_step_stats ss;
    double lf = lr_factor(r, r->st.step);
    re_trainer_set_lr(r->t, r->st.lr_g * lf, r->st.lr_d * lf);
    s = re_trainer_step(r->t, r->x, NULL, &ss);
    double t2 = now_s();
    r->t_load += t1 - t0;
    r->t_step += t2 - t1;
    if (s == RE_ERR_NONFINITE) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", re_last_error());
        if ((s = handle_nonfinite(r, msg))) return cli_fail(CMD, s, "NaN guard");
        return 0;
    }
    if (s) { prog_break(r); return cli_fail(CMD, s, "training step %" PRId64 " failed", r->st.step + 1); }
    r->st.step = re_trainer_steps(r->t);
    if ((s = account(r, &ss))) { prog_break(r); return cli_fail(CMD, s, "metrics"); }
    int epoch_end = bi.last_in_epoch;
    int do_ckpt = r->rank == 0 && r->st.step % c->ckpt_every == 0;
    int do_pics = r->rank == 0 && (r->st.step % c->sample_every == 0 || epoch_end);
    if ((do_pics || do_ckpt) && (s = ensure_val(r))) { prog_break(r); return cli_fail(CMD, s, "validation"); }
    if (do_pics && (s = write_pictures(r))) { prog_break(r); return cli_fail(CMD, s, "samples"); }
    if (do_ckpt && (s = checkpoint(r))) {
        prog_break(r);
        int64_t prev = re_checkpoint_latest(r->ckpt_dir);
        return cli_fail(CMD, s, "checkpoint at step %" PRId64 " failed; the previous checkpoint %s/step_%07" PRId64
                        " is intact (resume with: reenact train --resume %s)", r->st.step, r->ckpt_dir, prev, r->out);
    }
    progress(r, epoch_end);   /* at an epoch end (forced) this line is the epoch summary */
    return 0;
}

/* After the loop: on a signal, a checkpoint and exit 128 + signal; else the final validation, pictures, checkpoint,
 * model (and --export) and the summary. Returns the exit status. */
static int finish(run *r, const cli_args *a, double session) {
    const train_cfg *c = &r->cfg;
    re_status s;
    if (g_signal) {
        prog_break(r);
        int sig = g_signal;
        if (r->rank != 0) return 128 + sig;
        if ((s = checkpoint(r)))
            return cli_fail(CMD, s, "interrupted at step %" PRId64 ", and the checkpoint failed", r->st.step);
        fprintf(stderr, "reenact train: interrupted (%s) at step %" PRId64 "; checkpoint %s/step_%07" PRId64
                " written; continue with: reenact train --resume %s\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
                r->st.step, r->ckpt_dir, r->st.step, r->out);
        return 128 + sig;
    }
    prog_break(r);
    if (r->rank != 0) return RE_EXIT_OK;
    if ((s = ensure_val(r)) || (s = write_pictures(r)) || (s = checkpoint(r)))
        return cli_fail(CMD, s, "finishing the run at step %" PRId64, r->st.step);
    char p[TRAIN_PATH + 64], stp[32], tot[32];
    snprintf(p, sizeof p, "%s/model.safetensors", r->out);
    const char *mm[MODEL_META_N];
    model_meta(c, r->st.step, stp, tot, mm);
    if ((s = re_model_save(r->m, p, re_model_has_disc(r->m), RE_STORE_F32, mm)))
        return cli_fail(CMD, s, "cannot write the final model");
    if (a->export_path && (s = re_model_save(r->m, a->export_path, 0, RE_STORE_BF16, mm)))
        return cli_fail(CMD, s, "cannot write the BF16 export");
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("done"));
    json_object_set_new(o, "step", json_integer(r->st.step));
    json_object_set_new(o, "val_loss", r->have_val ? jreal(r->val_loss) : json_null());
    emit(r, o);
    int64_t n = r->st.step - r->session_step0;
    double imgs = (double)n * c->opts.batch;
    printf("trained %" PRId64 " steps this session (%" PRId64 " of %" PRId64 ") in %.1f s: %.1f img/s end-to-end "
           "(data, validation, pictures, checkpoints included); %.1f img/s inside re_trainer_step; waiting for "
           "data %.2f s (%.1f%%)\n", n, r->st.step, r->total, session, session > 0 ? imgs / session : 0,
           r->t_step > 0 ? imgs / r->t_step : 0, r->t_load, session > 0 ? 100 * r->t_load / session : 0);
    if (r->have_val)
        printf("validation:  rec %.6g  kl %.6g  loss %.6g at step %" PRId64 "; best loss %.6g at step %" PRId64 "\n",
               r->val_rec, r->val_kl, r->val_loss, r->st.step, r->st.best_val, r->st.best_step);
    printf("model:       %s%s%s\n", p, a->export_path ? "; BF16 export " : "", a->export_path ? a->export_path : "");
    printf("peak RSS:    %.1f MiB\n", vm_hwm_kb() / 1024.0);
    if (r->dist) {
        re_dist_stats ds;
        re_dist_get_stats(r->dist, &ds);
        printf("ranks:       %d x %d threads; gradient allreduce on rank 0: %.2f s in all (%.2f ms/step), of which "
               "%.2f s waiting after the backward; %.1f MB/step (%" PRIu64 " bytes)\n", r->world, c->threads,
               ds.allreduce_s, n ? 1e3 * ds.allreduce_s / (double)n : 0, ds.wait_s,
               n ? (double)ds.bytes / (double)n / 1e6 : 0, n ? ds.bytes / (uint64_t)n : 0);
    }
    return RE_EXIT_OK;
}

int cmd_train(int argc, char **argv) {
    cli_args a;
    memset(&a, 0, sizeof a);
    defaults(&a.cfg);
    int rc = parse_args(argc, argv, &a);
    if (rc != CLI_GO) return rc;   /* 0 after --help, 2 after a usage error */
    run R, *r = &R;
    memset(r, 0, sizeof *r);
    r->quiet = a.quiet;
    r->tty = isatty(2);
    r->last_ckpt = -1;
    r->world = 1;
    int64_t resume_step = -1;

    /* Several processes: MPI when the launcher started more than one. */
    int launched = re_dist_launcher_size();
    if (launched > 1) {
        if (!re_dist_have_mpi()) {
            fprintf(stderr, "reenact train: error: started by an MPI launcher with %d processes, but MPI is not "
                    "compiled into this reenact (it was built with -DRE_WITH_MPI=OFF or without libopenmpi-dev); "
                    "rebuild with MPI, or run one process without mpirun\n", launched);
            return RE_EXIT_USAGE;
        }
        re_status s = re_dist_mpi_open(&r->dist, NULL, NULL);
        if (s) return cli_fail(CMD, s, "cannot start MPI");
        r->rank = re_dist_rank(r->dist);
        r->world = re_dist_size(r->dist);
        if (r->rank != 0) { r->quiet = 1; r->tty = 0; }
    }

    /* Setup: configuration (new or resumed), folder, data, model and trainer. */
    if ((rc = read_test_hooks(r))) goto done;
    if ((rc = a.resume ? resume_config(r, &a, &resume_step) : new_run_config(r, &a))) goto done;
    if (r->world > 1) {
        train_cfg *c = &r->cfg;
        if (c->opts.batch % r->world) {
            rc = cli_usage_error(CMD, "--batch %d does not split evenly over %d ranks: use a multiple of %d",
                                 c->opts.batch, r->world, r->world);
            goto done;
        }
        re_status s = re_dist_barrier(r->dist);   /* every rank has read the folder before rank 0 writes it */
        if (s) { rc = cli_fail(CMD, s, "MPI"); goto done; }
        if (r->rank == 0 && !r->quiet)
            printf("reenact train: %d ranks x %d threads, %d images per rank of each batch of %d; rank 0 on %s "
                   "writes %s\n", r->world, c->threads, c->opts.batch / r->world, c->opts.batch,
                   re_dist_host(r->dist), r->out);
    }
    r->cfg.opts.dist = r->dist;
    r->cfg.opts.grad_bf16 = a.grad_bf16;
    r->cfg.opts.check_every = a.check_every ? a.check_every : -1;
    r->cfg.opts.bucket_bytes = (size_t)a.bucket_mb << 20;
    if ((rc = setup_run(r, &a)) || (rc = setup_model(r, &a, resume_step))) goto done;

    /* Training loop. */
    r->t_session = now_s();
    r->session_step0 = r->st.step;
    r->rate_t = r->t_session;
    r->rate_step = r->st.step;
    r->last_prog = 0;
    re_dist_reset_stats(r->dist);
    while (r->st.step < r->total) {
        if (r->dist) {   /* the ranks stop at the same step: a signal on any rank stops all */
            int64_t sig = g_signal;
            re_status s = re_dist_max_i64(r->dist, &sig, 1);
            if (s) { rc = cli_fail(CMD, s, "MPI"); goto done; }
            if (sig && !g_signal) g_signal = (int)sig;
        }
        if (g_signal) break;
        if ((rc = train_step(r))) goto done;
    }
    double session = now_s() - r->t_session;
    r->st.train_seconds += session;

    /* Teardown: checkpoint on a signal, or the final checkpoint, model and summary. */
    rc = finish(r, &a, session);
done:
    prog_break(r);
    run_free(r);
    if (r->dist) {
        /* a failed rank would leave the others waiting in a collective: end the whole job */
        if (rc != RE_EXIT_OK && !(g_signal && rc == 128 + g_signal)) re_dist_abort(r->dist, rc);
        re_dist_close(r->dist);
    }
    return rc;
}
