/*
 * bench_ops.c - per-layer timings of the oneDNN path (src/backend/dnnl.c) on every conv / transposed conv /
 * linear layer of the seed64 model at batch 64 (encoder, decoder, discriminator), plus the plain-C reference on
 * two small layers for scale. Correctness is checked first on those two layers (oneDNN vs reference); the
 * full per-op checks are in tests/unit/test_dnnl_ops.c. Never pass/fail on speed.
 *
 * Build: cmake --build build --target bench_ops
 * Run:   ./build/bench/bench_ops [reps=10] [name-filter|all] [plain|blocked|bf16]   (OMP_NUM_THREADS: threads)
 * Modes: plain (default) = NCHW f32 buffers at every layer (re_dnnl_conv_create: each layer reorders to oneDNN's
 * blocked layout and back); blocked = the layouts the oneDNN net plan uses (nChw16c for tensors whose channel count
 * is a multiple of 16, no activation reorders); bf16 = blocked, and the layers that run in bf16 in
 * RE_PREC_BF16 training (k4 s2 convs and transposed convs with >= 16 channels on both sides) take bf16 inputs and
 * output gradients. The reference check runs in plain mode only.
 *
 * Whole steps: ./build/bench/bench_ops steps [f32|bf16] [reps=5] [runs=300]
 * times, through the public API on the seed64 model, the VAE step, the VAE-GAN step (batch 64, random images) and
 * a batch-1 runner's encode+decode and decode, in PROCESS CPU time (all threads summed; on a busy shared machine
 * run it with OMP_NUM_THREADS=1, where CPU time ignores the time spent descheduled), and prints min/median/max
 * plus a SAMPLES line per target (CPU ms) for pooling; wall-clock figures of the same calls (WALLSAMPLES) are
 * printed too, the ones to quote on an idle machine. f32 / bf16 = re_train_opts.precision and the runner's
 * precision (re_runner_create_ex).
 * Output per layer: best-of-reps wall milliseconds of forward, backward (din+dw+db; dw+db for the image-input
 * encoder layer) and backward with in/w == NULL (bwd*: reusing the forward's reordered copies), GFLOP/s of
 * fwd+bwd, and the best process CPU time of fwd+bwd ("cpu ms": all threads summed; on a busy shared machine,
 * compare variants with OMP_NUM_THREADS=1 by this column, which ignores time spent descheduled).
 * FLOPs: 2*N*OC*OH*OW*IC*KH*KW per pass for conv (2*N*IC*H*W*OC*KH*KW for transposed conv), 2*N*IN*OUT for
 * linear; backward counts one pass for din and one for dw.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/dnnl.h"
#include "core/core.h"
#include "ops/ops.h"

typedef struct bench_layer {
    const char *name;
    char kind;          /* 'c' conv, 't' transposed conv, 'l' linear */
    int ic, oc, h, k, s, p; /* square inputs; for linear: ic = in features, oc = out features */
    int need_din;       /* 0 for the encoder's first layer (its input is the image) */
    int ref;            /* also time the reference (slow) */
} bench_layer;

static const bench_layer k_layers[] = {
    {"enc.conv0 3->32 k3s1 64", 'c', 3, 32, 64, 3, 1, 1, 0, 0},
    {"enc.conv1 32->32 k4s2 64", 'c', 32, 32, 64, 4, 2, 1, 1, 0},
    {"enc.conv2 32->64 k3s1 32", 'c', 32, 64, 32, 3, 1, 1, 1, 0},
    {"enc.conv3 64->64 k4s2 32", 'c', 64, 64, 32, 4, 2, 1, 1, 0},
    {"enc.conv4 64->128 k3s1 16", 'c', 64, 128, 16, 3, 1, 1, 1, 0},
    {"enc.conv5 128->128 k4s2 16", 'c', 128, 128, 16, 4, 2, 1, 1, 0},
    {"enc.conv6 128->256 k4s2 8", 'c', 128, 256, 8, 4, 2, 1, 1, 0},
    {"enc.fc 4096->512", 'l', 4096, 512, 0, 0, 0, 0, 1, 1},
    {"dec.convT0 256->128 4->8", 't', 256, 128, 4, 4, 2, 1, 1, 0},
    {"dec.conv0 128->128 k3 8", 'c', 128, 128, 8, 3, 1, 1, 1, 0},
    {"dec.convT1 128->64 8->16", 't', 128, 64, 8, 4, 2, 1, 1, 0},
    {"dec.conv1 64->64 k3 16", 'c', 64, 64, 16, 3, 1, 1, 1, 0},
    {"dec.convT2 64->32 16->32", 't', 64, 32, 16, 4, 2, 1, 1, 0},
    {"dec.conv2 32->32 k3 32", 'c', 32, 32, 32, 3, 1, 1, 1, 0},
    {"dec.convT3 32->3 32->64", 't', 32, 3, 32, 4, 2, 1, 1, 0},
    {"disc.conv0 3->32 k4s2 64", 'c', 3, 32, 64, 4, 2, 1, 1, 1},
    {"disc.conv1 32->64 k4s2 32", 'c', 32, 64, 32, 4, 2, 1, 1, 0},
    {"disc.conv2 64->128 k4s2 16", 'c', 64, 128, 16, 4, 2, 1, 1, 0},
    {"disc.conv3 128->256 k4s2 8", 'c', 128, 256, 8, 4, 2, 1, 1, 0},
};

#define BATCH 64

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

/* CPU time of the whole process (all threads): on a shared machine this is the robust figure for A/B
 * comparisons at OMP_NUM_THREADS=1, since time spent descheduled does not count. */
static double cpu_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static float *rand_buf(size_t n, re_rng *rng) {
    float *p = malloc(n * sizeof *p);
    if (p)
        for (size_t i = 0; i < n; i++) p[i] = (float)(re_rng_uniform(rng) - 0.5);
    return p;
}

/* Max |a-b| / max |b|: a coarse agreement figure for the sanity check. */
static double rel_diff(const float *a, const float *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = a[i] > b[i] ? a[i] - b[i] : b[i] - a[i], v = b[i] < 0 ? -b[i] : b[i];
        if (d > md) md = d;
        if (v > mb) mb = v;
    }
    return mb > 0 ? md / mb : md;
}

/* The layer abstraction for this bench: dnnl object (conv or linear) or reference. */
typedef struct runner {
    const bench_layer *L;
    re_conv_params p;
    re_dnnl_conv *c;
    re_dnnl_linear *l;
    float *in, *w, *b, *out, *dout, *din, *dw, *db;
    uint16_t *in16, *dout16;   /* bf16 copies when the layer runs in bf16 */
    size_t n_in, n_out, n_w;
} runner;

static int g_mode; /* 0 plain, 1 blocked, 2 bf16 */

static re_status run_fwd(runner *r, int ref) {
    const bench_layer *L = r->L;
    if (ref) {
        if (L->kind == 'l') re_linear_forward_ref(r->out, r->in, r->w, r->b, BATCH, L->ic, L->oc);
        else if (L->kind == 't') re_deconv2d_forward_ref(r->out, r->in, r->w, r->b, &r->p);
        else re_conv2d_forward_ref(r->out, r->in, r->w, r->b, &r->p);
        return RE_OK;
    }
    if (L->kind == 'l') return re_dnnl_linear_forward(r->l, r->out, r->in, r->w, r->b);
    return re_dnnl_conv_forward_ex(r->c, r->out, r->in16 ? (const void *)r->in16 : r->in, r->w, r->b, 0);
}

static re_status run_bwd(runner *r, int ref, int reuse) {
    const bench_layer *L = r->L;
    float *din = L->need_din ? r->din : NULL;
    const float *in = reuse ? NULL : r->in, *w = reuse ? NULL : r->w;
    if (ref) {
        if (L->kind == 'l') re_linear_backward_ref(din, r->dw, r->db, r->dout, r->in, r->w, BATCH, L->ic, L->oc);
        else if (L->kind == 't') re_deconv2d_backward_ref(din, r->dw, r->db, r->dout, r->in, r->w, &r->p);
        else re_conv2d_backward_ref(din, r->dw, r->db, r->dout, r->in, r->w, &r->p);
        return RE_OK;
    }
    if (L->kind == 'l') return re_dnnl_linear_backward(r->l, din, r->dw, r->db, r->dout, in, w);
    const void *in_x = reuse ? NULL : r->in16 ? (const void *)r->in16 : (const void *)r->in;
    return re_dnnl_conv_backward_ex(r->c, din, r->dw, r->db, r->dout16 ? (const void *)r->dout16 : r->dout, in_x, w);
}

static void runner_free(runner *r) {
    re_dnnl_conv_free(r->c);
    re_dnnl_linear_free(r->l);
    free(r->in); free(r->w); free(r->b); free(r->out); free(r->dout); free(r->din); free(r->dw); free(r->db);
    free(r->in16); free(r->dout16);
}

static re_status runner_init(runner *r, const bench_layer *L, re_rng *rng) {
    re_status st;
    memset(r, 0, sizeof *r);
    r->L = L;
    if (L->kind == 'l') {
        r->n_in = (size_t)BATCH * L->ic;
        r->n_out = (size_t)BATCH * L->oc;
        r->n_w = (size_t)L->ic * L->oc;
        if ((st = re_dnnl_linear_create(&r->l, BATCH, L->ic, L->oc, 1)) != RE_OK) return st;
    } else {
        re_conv_params p = {.n = BATCH, .ic = L->ic, .h = L->h, .w = L->h, .oc = L->oc, .kh = L->k, .kw = L->k,
                            .stride = L->s, .pad = L->p};
        if (!re_conv_params_finish(&p, L->kind == 't')) return re_fail(RE_ERR_ARG, "bad geometry for %s", L->name);
        r->p = p;
        r->n_in = (size_t)BATCH * p.ic * p.h * p.w;
        r->n_out = (size_t)BATCH * p.oc * p.oh * p.ow;
        r->n_w = (size_t)p.ic * p.oc * p.kh * p.kw;
        re_dnnl_conv_opts o = {0};
        if (g_mode) {
            o.src_layout = p.ic % RE_DNNL_BLOCK == 0 ? RE_DNNL_BLOCKED : RE_DNNL_NCHW;
            o.dst_layout = p.oc % RE_DNNL_BLOCK == 0 ? RE_DNNL_BLOCKED : RE_DNNL_NCHW;
        }
        if (g_mode == 2 && p.ic >= 16 && p.oc >= 16 && !(p.kh == 3 && p.stride == 1)) {
            o.bf16 = 1;
            o.src_dtype = o.ddst_dtype = RE_DNNL_BF16;
        }
        if ((st = re_dnnl_conv_create_ex(&r->c, &p, L->kind == 't', 1, &o)) != RE_OK) return st;
        if (o.bf16) {
            r->in16 = malloc(r->n_in * sizeof *r->in16);
            r->dout16 = malloc(r->n_out * sizeof *r->dout16);
            if (!r->in16 || !r->dout16) return re_fail(RE_ERR_NOMEM, "bench buffers for %s", L->name);
        }
    }
    r->in = rand_buf(r->n_in, rng);
    r->w = rand_buf(r->n_w, rng);
    r->b = rand_buf((size_t)L->oc, rng);
    r->dout = rand_buf(r->n_out, rng);
    r->out = calloc(r->n_out, sizeof(float));
    r->din = calloc(r->n_in, sizeof(float));
    r->dw = calloc(r->n_w, sizeof(float));
    r->db = calloc((size_t)L->oc, sizeof(float));
    if (!r->in || !r->w || !r->b || !r->dout || !r->out || !r->din || !r->dw || !r->db)
        return re_fail(RE_ERR_NOMEM, "bench buffers for %s", L->name);
    if (r->in16) {
        re_bf16_convert(r->in16, r->in, r->n_in);
        re_bf16_convert(r->dout16, r->dout, r->n_out);
    }
    return RE_OK;
}

static double layer_flops(const runner *r) {
    const bench_layer *L = r->L;
    if (L->kind == 'l') return 2.0 * BATCH * L->ic * L->oc;
    if (L->kind == 't') return 2.0 * BATCH * r->p.ic * r->p.h * r->p.w * (double)r->p.oc * r->p.kh * r->p.kw;
    return 2.0 * BATCH * r->p.oc * r->p.oh * r->p.ow * (double)r->p.ic * r->p.kh * r->p.kw;
}

/* Best-of-reps wall time of fwd, bwd, bwd-with-reuse, and best CPU time of fwd+bwd (t[3]). Returns non-zero on a
 * failure (message printed). */
static int time_layer(runner *r, int ref, int reps, double t[4]) {
    re_status st;
    t[0] = t[1] = t[2] = t[3] = 1e30;
    for (int i = 0; i < reps; i++) {
        double c0 = cpu_ms(), t0 = now_ms();
        if ((st = run_fwd(r, ref)) != RE_OK) goto fail;
        double t1 = now_ms();
        if ((st = run_bwd(r, ref, 0)) != RE_OK) goto fail;
        double t2 = now_ms(), c2 = cpu_ms();
        if (c2 - c0 < t[3]) t[3] = c2 - c0;
        if (!ref && (st = run_bwd(r, ref, 1)) != RE_OK) goto fail;
        double t3 = now_ms();
        if (t1 - t0 < t[0]) t[0] = t1 - t0;
        if (t2 - t1 < t[1]) t[1] = t2 - t1;
        if (!ref && t3 - t2 < t[2]) t[2] = t3 - t2;
    }
    return 0;
fail:
    fprintf(stderr, "%s: %s\n", r->L->name, re_last_error());
    return 1;
}

/* ---- whole steps and inference calls, process CPU time ---------------------------------------------------- */

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* t: CPU ms, w: wall ms of the same calls. */
static void report(const char *name, const char *prec, double *t, double *w, int n, double per_img) {
    qsort(t, (size_t)n, sizeof *t, cmp_dbl);
    qsort(w, (size_t)n, sizeof *w, cmp_dbl);
    double med = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    double wmed = n % 2 ? w[n / 2] : 0.5 * (w[n / 2 - 1] + w[n / 2]);
    printf("%-13s %-4s cpu ms min %9.3f  median %9.3f  max %9.3f", name, prec, t[0], med, t[n - 1]);
    if (per_img > 0) printf("  (%.1f img/s of CPU time)", per_img * 1e3 / med);
    printf(" | wall ms min %9.3f  median %9.3f", w[0], wmed);
    if (per_img > 0) printf("  (%.1f img/s wall at the median)", per_img * 1e3 / wmed);
    printf("\nSAMPLES %s", name);
    for (int i = 0; i < n; i++) printf(" %.4f", t[i]);
    printf("\nWALLSAMPLES %s", name);
    for (int i = 0; i < n; i++) printf(" %.4f", w[i]);
    printf("\n");
}

static int steps_main(int argc, char **argv) {
    const char *prec = argc > 2 ? argv[2] : "f32";
    int reps = argc > 3 ? atoi(argv[3]) : 5, runs = argc > 4 ? atoi(argv[4]) : 300;
    re_precision pr = !strcmp(prec, "bf16") ? RE_PREC_BF16 : RE_PREC_F32;
    if (strcmp(prec, "bf16") && strcmp(prec, "f32")) {
        fprintf(stderr, "bench_ops steps: precision must be f32 or bf16\n");
        return 2;
    }
    if (reps < 1) reps = 1;
    if (runs < 1) runs = 1;
    re_config c;
    re_model *m = NULL;
    re_status s;
    const size_t nmax = (size_t)(runs > reps ? runs : reps);
    double *t = malloc(nmax * sizeof *t), *t2 = malloc(nmax * sizeof *t2), *w = malloc(nmax * sizeof *w),
           *w2 = malloc(nmax * sizeof *w2);
    const size_t img = 3 * 64 * 64, nb = 64 * img;
    float *x = malloc(nb * sizeof *x);
    if (!t || !t2 || !w || !w2 || !x) return 1;
    re_rng rng;
    re_rng_seed(&rng, 7);
    for (size_t i = 0; i < nb; i++) x[i] = (float)re_rng_uniform(&rng);
    printf("bench_ops steps: seed64, %d OpenMP threads, precision %s, %d steps / %d inference calls\n",
           omp_get_max_threads(), prec, reps, runs);
    for (int mode = 0; mode < 2; mode++) {
        re_trainer *tr = NULL;
        re_train_opts o;
        re_step_stats st;
        if ((s = re_config_preset(&c, "seed64")) || (s = re_model_create(&m, &c, 42, 1))) goto fail;
        re_train_opts_default(&o, mode ? RE_MODE_VAEGAN : RE_MODE_VAE);
        o.precision = pr;
        if ((s = re_trainer_create(&tr, m, &o))) goto fail;
        for (int i = 0; i < 2 + reps; i++) {
            double c0 = cpu_ms(), w0 = now_ms();
            if ((s = re_trainer_step(tr, x, NULL, &st))) { re_trainer_free(tr); goto fail; }
            if (i >= 2) {
                t[i - 2] = cpu_ms() - c0;
                w[i - 2] = now_ms() - w0;
            }
        }
        report(mode ? "train_vaegan" : "train_vae", prec, t, w, reps, 64);
        re_trainer_free(tr);
        re_model_free(m);
        m = NULL;
    }
    {
        re_runner *r = NULL;
        float mu[200], out[3 * 64 * 64];
        if ((s = re_model_create(&m, &c, 42, 0)) || (s = re_runner_create_ex(&r, m, 1, pr))) goto fail;
        for (int i = 0; i < 20 + runs; i++) {
            double c0 = cpu_ms(), w0 = now_ms();
            if ((s = re_encode(r, x, 1, mu, NULL)) || (s = re_decode(r, mu, 1, out))) { re_runner_free(r); goto fail; }
            double c1 = cpu_ms(), w1 = now_ms();
            if ((s = re_decode(r, mu, 1, out))) { re_runner_free(r); goto fail; }
            if (i >= 20) {
                t[i - 20] = c1 - c0;
                t2[i - 20] = cpu_ms() - c1;
                w[i - 20] = w1 - w0;
                w2[i - 20] = now_ms() - w1;
            }
        }
        report("infer_encdec", prec, t, w, runs, 0);
        report("infer_dec", prec, t2, w2, runs, 0);
        re_runner_free(r);
    }
    re_model_free(m);
    free(t); free(t2); free(w); free(w2); free(x);
    return 0;
fail:
    fprintf(stderr, "bench_ops steps: %s: %s\n", re_status_str(s), re_last_error());
    re_model_free(m);
    free(t); free(t2); free(w); free(w2); free(x);
    return 1;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "steps")) return steps_main(argc, argv);
    int reps = argc > 1 ? atoi(argv[1]) : 10;
    const char *filter = argc > 2 && strcmp(argv[2], "all") ? argv[2] : NULL;
    const char *mode = argc > 3 ? argv[3] : "plain";
    if (!strcmp(mode, "plain")) g_mode = 0;
    else if (!strcmp(mode, "blocked")) g_mode = 1;
    else if (!strcmp(mode, "bf16")) g_mode = 2;
    else {
        fprintf(stderr, "bench_ops: unknown mode '%s' (plain, blocked, bf16)\n", mode);
        return 2;
    }
    if (reps < 1) reps = 1;
    if (!re_dnnl_available()) {
        printf("SKIP: oneDNN not available: %s\n", re_last_error());
        return 0;
    }
    re_rng rng;
    re_rng_seed(&rng, 7);
    printf("bench_ops: batch %d, %d OpenMP threads, best of %d, mode %s\n", BATCH, omp_get_max_threads(), reps,
           mode);
    printf("%-28s %8s %8s %8s %8s %8s %8s  %s\n", "layer", "fwd ms", "bwd ms", "bwd* ms", "f+b ms", "GFLOP/s",
           "cpu ms", "impl");
    double tot_ms = 0, tot_ms_reuse = 0, tot_flop = 0, tot_cpu = 0;
    int failed = 0;
    for (size_t i = 0; i < sizeof k_layers / sizeof k_layers[0]; i++) {
        const bench_layer *L = &k_layers[i];
        if (filter && !strstr(L->name, filter)) continue;
        runner r;
        re_status st = runner_init(&r, L, &rng);
        if (st != RE_OK) {
            fprintf(stderr, "%s: %s\n", L->name, re_last_error());
            runner_free(&r);
            failed = 1;
            continue;
        }
        double t[4];
        if (run_fwd(&r, 0) != RE_OK || time_layer(&r, 0, reps, t)) { /* warm-up, then timed */
            runner_free(&r);
            failed = 1;
            continue;
        }
        double flop = layer_flops(&r) * (1 + 1 + L->need_din);
        char impl[256];
        if (L->kind == 'l') re_dnnl_linear_describe(r.l, impl, sizeof impl);
        else re_dnnl_conv_describe(r.c, impl, sizeof impl);
        printf("%-28s %8.3f %8.3f %8.3f %8.3f %8.1f %8.3f  %s\n", L->name, t[0], t[1], t[2], t[0] + t[1],
               flop / ((t[0] + t[1]) * 1e6), t[3], impl);
        tot_ms += t[0] + t[1];
        tot_cpu += t[3];
        tot_ms_reuse += t[0] + t[2];
        tot_flop += flop;
        if (L->ref && g_mode == 0) {
            /* sanity check, then the reference's time (one rep: it is slow) */
            float *out = malloc(r.n_out * sizeof *out), *dw = malloc(r.n_w * sizeof *dw);
            if (!out || !dw) {
                free(out); free(dw);
                runner_free(&r);
                failed = 1;
                continue;
            }
            memcpy(out, r.out, r.n_out * sizeof *out); /* dnnl results from the last timed rep */
            memcpy(dw, r.dw, r.n_w * sizeof *dw);
            double tr[4];
            if (time_layer(&r, 1, 1, tr) == 0) {
                double e_out = rel_diff(out, r.out, r.n_out), e_dw = rel_diff(dw, r.dw, r.n_w);
                printf("%-28s %8.3f %8.3f %8s %8.3f %8.1f %8.3f  reference (max|dnnl-ref|/max|ref|: out %.1e dw "
                       "%.1e)\n", "  (ref)", tr[0], tr[1], "-", tr[0] + tr[1], flop / ((tr[0] + tr[1]) * 1e6), tr[3],
                       e_out, e_dw);
                if (e_out > 1e-4 || e_dw > 1e-4) {
                    fprintf(stderr, "%s: dnnl and reference disagree\n", L->name);
                    failed = 1;
                }
            } else {
                failed = 1;
            }
            free(out);
            free(dw);
        }
        runner_free(&r);
    }
    printf("%-28s %8s %8s %8s %8.3f %8.1f %8.3f  (with bwd*: f+b %.3f ms)\n", "TOTAL", "", "", "", tot_ms,
           tot_flop / (tot_ms * 1e6), tot_cpu, tot_ms_reuse);
    return failed;
}
