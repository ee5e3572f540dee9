/*
 * bench_infer.c - inference latency of the seed64 model through the public API: encode+decode of one frame (what
 * `reenact animate` does per driving frame) and decode alone (what it does per output frame once the latents are
 * known), batch 1 by default, eval-mode BatchNorm. Timings are never pass/fail; the PyTorch twin is
 * tools/torch_bench.py and bench/run.sh prints the comparison.
 *
 * Build: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2 --target bench_infer
 * Run:   ./build/bench/bench_infer [--runs 200] [--warmup 20] [--batch 1] [--threads N] [--backend ref|dnnl]
 *                                  [--precision f32|bf16|mixed|auto] [--layers] [--config seed64]
 *                                  [--json out.json]
 * --precision bf16: a bf16 runner (re_runner_create_ex(..., RE_PREC_BF16)); results named infer_encdec_bf16 and
 * infer_dec_bf16 (bench/run.sh compares them with PyTorch's f32 inference); likewise mixed (f32 with bf16 weights
 * of the large linear layers: *_mixed) and auto (what RE_PREC_AUTO picks on this CPU, named after it).
 * --layers prints the runner's per-layer implementation table (re_runner_describe). The header names the CPU model
 * and the ISA oneDNN dispatches to (re_cpu_info_get), and so does the JSON.
 * Method: a random image (uniform [0,1]) through re_runner_create(&r, m, batch), re_encode, re_decode; `warmup`
 * untimed calls, then `runs` timed calls of each target, each timed on its own; prints min/median/max ms.
 * Correctness is checked first: the decoded image must be finite and inside (0,1) (sigmoid output).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "reenact/reenact.h"

typedef struct bench_opts {
    int runs, warmup, batch, layers;
    re_precision precision;
    bench_common c;
} bench_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: bench_infer [options]\n"
            "  --runs N                 timed calls per target [200]\n"
            "  --warmup W               untimed calls first [20]\n"
            "  --batch N                images per call [1]\n"
            BENCH_USAGE_THREADS_BACKEND
            "  --precision P            runner arithmetic: f32, bf16, mixed (f32 with bf16 weights of the large\n"
            "                           linear layers), auto (this CPU's choice); all but f32 need dnnl [f32]\n"
            "  --layers                 also print each layer's implementation (oneDNN impl_info_str / ours)\n"
            BENCH_USAGE_CONFIG_JSON);
}

static int own_opt(void *opts, const char *a, const char *v) {
    bench_opts *o = opts;
    if (!strcmp(a, "--runs")) return bench_parse_int(v, 1, 10000000, &o->runs);
    if (!strcmp(a, "--warmup")) return bench_parse_int(v, 0, 10000000, &o->warmup);
    if (!strcmp(a, "--batch")) return bench_parse_int(v, 1, 4096, &o->batch);
    if (!strcmp(a, "--precision")) return re_precision_parse(v, &o->precision) == RE_OK;
    return -1;
}

static int parse_args(int argc, char **argv, bench_opts *o) {
    *o = (bench_opts){200, 20, 1, 0, RE_PREC_F32, BENCH_COMMON_DEFAULT};
    bench_args p = {"bench_infer", usage, "--layers", &o->layers, own_opt, o, &o->c};
    return bench_parse_args(argc, argv, &p);
}

static void print_row(const char *name, const double *v, int n, double gflop) {
    double med = bench_median_sorted(v, n);
    printf("%-17s ms    min %8.3f  median %8.3f  max %8.3f | %6.1f GFLOP/s\n", name, v[0], med, v[n - 1],
           gflop / (med * 1e-3));
}

static void json_row(FILE *f, const char *name, const double *v, int n, double gflop, int first) {
    double med = bench_median_sorted(v, n);
    fprintf(f, "%s\n  {\"name\": \"%s\", \"unit\": \"ms\", \"min\": %.5f, \"median\": %.5f, \"max\": %.5f, "
               "\"gflop_per_call\": %.6f, \"gflops_median\": %.4f, \"samples\": [",
            first ? "" : ",", name, v[0], med, v[n - 1], gflop, gflop / (med * 1e-3));
    for (int k = 0; k < n; k++) fprintf(f, "%s%.5f", k ? ", " : "", v[k]);
    fprintf(f, "]}");
}

int main(int argc, char **argv) {
    bench_opts o;
    if (!parse_args(argc, argv, &o)) return 2;
    re_set_threads(o.c.threads);
    re_config cfg;
    re_model *m = NULL;
    re_runner *r = NULL;
    float *x = NULL, *xr = NULL, *mu = NULL;
    double *t_ed = NULL, *t_d = NULL;
    int rc = 1;
    re_status s;
    if ((s = re_config_preset(&cfg, o.c.config)) || (s = re_model_create(&m, &cfg, 42, 0))) goto lib_fail;
    if (o.c.backend != RE_BACKEND_AUTO && (s = re_model_set_backend(m, o.c.backend))) goto lib_fail;
    if ((s = re_runner_create_ex(&r, m, o.batch, o.precision))) goto lib_fail;
    const re_precision prec = re_runner_precision(r);   /* auto resolved */
    char n_ed[40], n_d[40];
    snprintf(n_ed, sizeof n_ed, "infer_encdec%s%s", prec == RE_PREC_F32 ? "" : "_", prec == RE_PREC_F32 ? "" :
             re_precision_name(prec));
    snprintf(n_d, sizeof n_d, "infer_dec%s%s", prec == RE_PREC_F32 ? "" : "_", prec == RE_PREC_F32 ? "" :
             re_precision_name(prec));
    re_cpu_info ci;
    re_cpu_info_get(&ci);
    size_t img = (size_t)o.batch * cfg.channels * cfg.res * cfg.res;
    x = malloc(img * sizeof *x);
    xr = malloc(img * sizeof *xr);
    mu = malloc((size_t)o.batch * cfg.latent * sizeof *mu);
    t_ed = malloc((size_t)o.runs * sizeof *t_ed);
    t_d = malloc((size_t)o.runs * sizeof *t_d);
    if (!x || !xr || !mu || !t_ed || !t_d) { fprintf(stderr, "bench_infer: out of memory\n"); goto done; }
    bench_fill_uniform(x, img, 11);

    if ((s = re_encode(r, x, o.batch, mu, NULL)) || (s = re_decode(r, mu, o.batch, xr))) goto lib_fail;
    for (size_t i = 0; i < img; i++)
        if (!isfinite(xr[i]) || xr[i] < 0.f || xr[i] > 1.f) {
            fprintf(stderr, "bench_infer: decoded pixel %zu = %g outside [0,1]; not timing a broken model\n", i,
                    (double)xr[i]);
            goto done;
        }

    printf("bench_infer: reenact %s, config %s, backend %s, precision %s, %d threads, batch %d, %d warm-up + %d runs\n",
           re_version(), o.c.config, bench_backend_name(re_model_backend(m)), re_precision_name(prec),
           re_get_threads(), o.batch, o.warmup, o.runs);
    printf("bench_infer: CPU %s (%s family %d model %d), oneDNN %s ISA %s\n", ci.model, ci.vendor, ci.family,
           ci.model_id, ci.dnnl_version, ci.dnnl_isa);
    if (o.layers) {
        char *t = re_runner_describe(r);
        if (t) printf("%s", t);
        free(t);
    }
    for (int i = 0; i < o.warmup; i++)
        if ((s = re_encode(r, x, o.batch, mu, NULL)) || (s = re_decode(r, mu, o.batch, xr))) goto lib_fail;
    /* Alternate the two targets run by run so slow drift (other processes, clocks) hits both alike. */
    for (int i = 0; i < o.runs; i++) {
        double t0 = (1e3 * bench_now_s());
        if ((s = re_encode(r, x, o.batch, mu, NULL)) || (s = re_decode(r, mu, o.batch, xr))) goto lib_fail;
        double t1 = (1e3 * bench_now_s());
        if ((s = re_decode(r, mu, o.batch, xr))) goto lib_fail;
        double t2 = (1e3 * bench_now_s());
        t_ed[i] = t1 - t0;
        t_d[i] = t2 - t1;
    }
    qsort(t_ed, (size_t)o.runs, sizeof *t_ed, bench_cmp_double);
    qsort(t_d, (size_t)o.runs, sizeof *t_d, bench_cmp_double);
    double g_enc = re_model_flops(m, RE_PART_ENCODER) * o.batch * 1e-9;
    double g_dec = re_model_flops(m, RE_PART_DECODER) * o.batch * 1e-9;
    print_row(n_ed, t_ed, o.runs, g_enc + g_dec);
    print_row(n_d, t_d, o.runs, g_dec);
    if (o.c.json) {
        FILE *f = fopen(o.c.json, "w");
        if (!f) { perror(o.c.json); goto done; }
        fprintf(f, "{\"tool\": \"bench_infer\", \"config\": \"%s\", \"backend\": \"%s\", \"threads\": %d, "
                   "\"batch\": %d, \"runs\": %d, \"precision\": \"%s\", \"cpu\": \"%s\", \"isa\": \"%s\", "
                   "\"results\": [",
                o.c.config, bench_backend_name(re_model_backend(m)), re_get_threads(), o.batch, o.runs,
                re_precision_name(prec), ci.model, ci.dnnl_isa);
        json_row(f, n_ed, t_ed, o.runs, g_enc + g_dec, 1);
        json_row(f, n_d, t_d, o.runs, g_dec, 0);
        fprintf(f, "\n]}\n");
        if (fclose(f) != 0) { perror(o.c.json); goto done; }
    }
    rc = 0;
    goto done;
lib_fail:
    fprintf(stderr, "bench_infer: %s: %s\n", re_status_str(s), re_last_error());
done:
    free(x);
    free(xr);
    free(mu);
    free(t_ed);
    free(t_d);
    re_runner_free(r);
    re_model_free(m);
    return rc;
}
