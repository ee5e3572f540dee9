/*
 * bench_train.c - end-to-end training throughput of the seed64 VAE step and VAE-GAN step (batch 64, 64x64 RGB,
 * random images uniform in [0,1] held in memory), through the public API only. Timings are never pass/fail; the
 * PyTorch twin of the same steps is tools/torch_bench.py, and bench/run.sh runs both and prints the comparison.
 *
 * Build: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2 --target bench_train
 * Run:   ./build/bench/bench_train [--mode vae|vaegan|both] [--batch 64] [--steps K] [--reps R] [--warmup W]
 *                                  [--threads N] [--backend ref|dnnl] [--precision f32|bf16] [--config seed64]
 *                                  [--json out.json]
 * --precision bf16 times re_train_opts.precision = RE_PREC_BF16 (bf16 convolutions, f32 master weights); the
 * results are then named train_vae_bf16 / train_vaegan_bf16 (bench/run.sh compares them with PyTorch's f32 step).
 * Method: W warm-up steps (primitive creation, page faults, caches), then R repetitions of K steps; each repetition
 * gives img/s = batch*K / seconds. Prints min/median/max img/s over the repetitions, the median ms/step and the
 * achieved GFLOP/s at the median.
 *
 * FLOPs of one step (2 per multiply-add), counted from what src/model/train.c actually runs, per image, with
 * E/G/D = re_model_flops() of encoder (incl. the mu/logvar heads), decoder and discriminator, and E1/D1 = the
 * forward FLOPs of the first encoder / discriminator conv (whose input gradient is never computed):
 *   VAE:      E+G forward, backward data+weights (2x) except the encoder's first-layer data grad:  3(E+G) - E1
 *   VAE-GAN:  VAE + D update on 2B images (forward + backward data+weights, minus first-layer data grad):
 *             2(3D - D1); + generator side on B images: D forward of x (feature-matching targets), D forward of xr
 *             and backward data only through the frozen D (no weight grads): 3D. Total 3(E+G) - E1 + 9D - 2 D1.
 * (PyTorch's twin step also computes D weight grads in the generator pass and throws them away; tools/torch_bench.py
 * uses the same nominal count for both, so GFLOP/s compare like for like.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "reenact/reenact.h"

typedef struct bench_opts {
    int do_vae, do_vaegan;
    int batch, steps, reps, warmup;
    re_precision precision;
    bench_common c;
} bench_opts;

typedef struct bench_result {
    const char *name;
    double *ips;        /* img/s per repetition (sorted) */
    int n;
    double flops_img;   /* FLOPs per image of one step */
} bench_result;

static void usage(FILE *f) {
    fprintf(f,
            "usage: bench_train [options]\n"
            "  --mode vae|vaegan|both   steps to time [both]\n"
            "  --batch N                images per step [64]\n"
            "  --steps K                steps per repetition [5]\n"
            "  --reps R                 repetitions [5]\n"
            "  --warmup W               untimed steps first [3]\n"
            BENCH_USAGE_THREADS_BACKEND
            "  --precision f32|bf16     training arithmetic (bf16 needs dnnl) [f32]\n"
            BENCH_USAGE_CONFIG_JSON);
}

static int own_opt(void *opts, const char *a, const char *v) {
    bench_opts *o = opts;
    if (!strcmp(a, "--mode")) {
        o->do_vae = !strcmp(v, "vae") || !strcmp(v, "both");
        o->do_vaegan = !strcmp(v, "vaegan") || !strcmp(v, "both");
        return o->do_vae || o->do_vaegan;
    }
    if (!strcmp(a, "--batch")) return bench_parse_int(v, 1, 4096, &o->batch);
    if (!strcmp(a, "--steps")) return bench_parse_int(v, 1, 100000, &o->steps);
    if (!strcmp(a, "--reps")) return bench_parse_int(v, 1, 100000, &o->reps);
    if (!strcmp(a, "--warmup")) return bench_parse_int(v, 0, 100000, &o->warmup);
    if (!strcmp(a, "--precision")) {
        if (!strcmp(v, "f32")) o->precision = RE_PREC_F32;
        else if (!strcmp(v, "bf16")) o->precision = RE_PREC_BF16;
        else return 0;
        return 1;
    }
    return -1;
}

static int parse_args(int argc, char **argv, bench_opts *o) {
    *o = (bench_opts){1, 1, 64, 5, 5, 3, RE_PREC_F32, BENCH_COMMON_DEFAULT};
    bench_args p = {"bench_train", usage, NULL, NULL, own_opt, o, &o->c};
    return bench_parse_args(argc, argv, &p);
}

/* FLOPs per image of one training step; see the header comment. */
static double step_flops(const re_model *m, re_train_mode mode) {
    const re_config *c = re_model_config(m);
    double e = re_model_flops(m, RE_PART_ENCODER), g = re_model_flops(m, RE_PART_DECODER);
    double e1 = 2.0 * c->channels * 9 * c->enc_widths[0] * c->res * c->res;
    double f = 3 * (e + g) - e1;
    if (mode == RE_MODE_VAEGAN) {
        double d = re_model_flops(m, RE_PART_DISC);
        double d1 = 2.0 * c->channels * 16 * c->disc_widths[0] * (c->res / 2) * (c->res / 2);
        f += 9 * d - 2 * d1;
    }
    return f;
}

/* Times one mode; fills r (r->ips allocated here). Returns 0 on success, prints the library error otherwise. */
static int run_mode(const bench_opts *o, re_train_mode mode, bench_result *r) {
    re_config cfg;
    re_model *m = NULL;
    re_trainer *t = NULL;
    float *x = NULL;
    int rc = 1;
    re_status s;
    int bf = o->precision == RE_PREC_BF16;
    r->name = mode == RE_MODE_VAE ? (bf ? "train_vae_bf16" : "train_vae") : (bf ? "train_vaegan_bf16" : "train_vaegan");
    r->n = 0;
    r->ips = calloc((size_t)o->reps, sizeof *r->ips);
    if (!r->ips) { fprintf(stderr, "bench_train: out of memory\n"); goto fail; }
    if ((s = re_config_preset(&cfg, o->c.config)) || (s = re_model_create(&m, &cfg, 42, 1))) goto lib_fail;
    if (o->c.backend != RE_BACKEND_AUTO && (s = re_model_set_backend(m, o->c.backend))) goto lib_fail;
    re_train_opts to;
    re_train_opts_default(&to, mode);
    to.batch = o->batch;
    to.precision = o->precision;
    if ((s = re_trainer_create(&t, m, &to))) goto lib_fail;
    size_t n = (size_t)o->batch * cfg.channels * cfg.res * cfg.res;
    x = malloc(n * sizeof *x);
    if (!x) { fprintf(stderr, "bench_train: out of memory for %zu floats\n", n); goto fail; }
    bench_fill_uniform(x, n, 7);
    r->flops_img = step_flops(m, mode);
    re_step_stats st;
    for (int i = 0; i < o->warmup; i++)
        if ((s = re_trainer_step(t, x, NULL, &st))) goto lib_fail;
    for (int rep = 0; rep < o->reps; rep++) {
        double t0 = bench_now_s();
        for (int k = 0; k < o->steps; k++)
            if ((s = re_trainer_step(t, x, NULL, &st))) goto lib_fail;
        double dt = bench_now_s() - t0;
        r->ips[r->n++] = (double)o->batch * o->steps / dt;
    }
    qsort(r->ips, (size_t)r->n, sizeof *r->ips, bench_cmp_double);
    rc = 0;
    goto done;
lib_fail:
    fprintf(stderr, "bench_train %s: %s: %s\n", r->name, re_status_str(s), re_last_error());
fail:
done:
    free(x);
    re_trainer_free(t);
    re_model_free(m);
    return rc;
}

static void print_result(const bench_opts *o, const bench_result *r) {
    double med = bench_median_sorted(r->ips, r->n);
    printf("%-17s img/s min %8.1f  median %8.1f  max %8.1f | %7.1f ms/step | %6.1f GFLOP/s (%.3f GFLOP/img)\n",
           r->name, r->ips[0], med, r->ips[r->n - 1], 1e3 * o->batch / med, med * r->flops_img * 1e-9,
           r->flops_img * 1e-9);
}

static int write_json(const bench_opts *o, const bench_result *res, int nres, re_backend used) {
    FILE *f = fopen(o->c.json, "w");
    if (!f) { perror(o->c.json); return 1; }
    fprintf(f, "{\"tool\": \"bench_train\", \"config\": \"%s\", \"backend\": \"%s\", \"threads\": %d, \"batch\": %d, "
               "\"steps\": %d, \"reps\": %d, \"results\": [",
            o->c.config, bench_backend_name(used), re_get_threads(), o->batch, o->steps, o->reps);
    for (int i = 0; i < nres; i++) {
        const bench_result *r = &res[i];
        double med = bench_median_sorted(r->ips, r->n);
        fprintf(f, "%s\n  {\"name\": \"%s\", \"unit\": \"img/s\", \"min\": %.4f, \"median\": %.4f, \"max\": %.4f, "
                   "\"gflop_per_img\": %.6f, \"gflops_median\": %.4f, \"samples\": [",
                i ? "," : "", r->name, r->ips[0], med, r->ips[r->n - 1], r->flops_img * 1e-9,
                med * r->flops_img * 1e-9);
        for (int k = 0; k < r->n; k++) fprintf(f, "%s%.4f", k ? ", " : "", r->ips[k]);
        fprintf(f, "]}");
    }
    fprintf(f, "\n]}\n");
    if (fclose(f) != 0) { perror(o->c.json); return 1; }
    return 0;
}

int main(int argc, char **argv) {
    bench_opts o;
    if (!parse_args(argc, argv, &o)) return 2;
    re_set_threads(o.c.threads);
    /* Which backend a new model gets (for the header line and JSON). */
    re_backend used = o.c.backend;
    if (used == RE_BACKEND_AUTO) {
        re_config cfg;
        re_model *m = NULL;
        if (re_config_preset(&cfg, o.c.config) || re_model_create(&m, &cfg, 1, 0)) {
            fprintf(stderr, "bench_train: %s\n", re_last_error());
            return 1;
        }
        used = re_model_backend(m);
        re_model_free(m);
    }
    printf("bench_train: reenact %s, config %s, backend %s, precision %s, %d threads, batch %d, %d warm-up + %d x %d "
           "steps\n", re_version(), o.c.config, bench_backend_name(used), o.precision == RE_PREC_BF16 ? "bf16" : "f32",
           re_get_threads(), o.batch, o.warmup, o.reps, o.steps);
    bench_result res[2];
    int nres = 0, rc = 0;
    re_train_mode modes[2] = {RE_MODE_VAE, RE_MODE_VAEGAN};
    int want[2] = {o.do_vae, o.do_vaegan};
    for (int i = 0; i < 2 && !rc; i++) {
        if (!want[i]) continue;
        if (run_mode(&o, modes[i], &res[nres])) {
            free(res[nres].ips);
            rc = 1;
            break;
        }
        print_result(&o, &res[nres++]);
        fflush(stdout);
    }
    if (!rc && o.c.json) rc = write_json(&o, res, nres, used);
    for (int i = 0; i < nres; i++) free(res[i].ips);
    return rc;
}
