/*
 * test_mixed.c - issue 17: the mixed-precision runner (RE_PREC_MIXED: f32 activations and arithmetic, bf16 weights
 * for the large linear layers), RE_PREC_AUTO, the precision names, re_cpu_info_get and re_runner_describe.
 *   1. the layer: re_dnnl_linear with wbf16, both its GEMV (batch <= RE_GEMV_MAX_N) and its oneDNN path (larger
 *      batch), against the reference linear op (src/ops) on the same weights rounded to bf16, LeakyReLU included;
 *      the bf16 copy is remade when the weights change;
 *   2. whole runners on seed64, in both activation plans (blocked nChw16c, the default here, and NHWC, the plan of
 *      AMX CPUs, forced with REENACT_DNNL_LAYOUT): the mixed runner against the reference backend on a model whose
 *      large linear weights are rounded to bf16 (the path it replaces, up to summation order: the tolerances of
 *      test_model.c's dnnl-vs-ref check), the f32 runner against the reference backend, the mixed runner against
 *      the f32 one (close, not identical) and the bf16 runner against the reference (test_bf16.c's bounds);
 *   3. quality on the bundled model: the demo face's reconstruction PSNR of the mixed runner within 0.1 dB of f32's;
 *   4. RE_PREC_AUTO resolves per the documented rule, re_precision_parse/name round trip, re_cpu_info_get fills
 *      its fields, and the runner's layer table names the kernels.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/dnnl.h"
#include "core/core.h"
#include "model/model_internal.h"
#include "ops/ops.h"
#include "re_test.h"
#include "reenact/media.h"
#include "reenact/metrics.h"
#include "reenact/reenact.h"

static float *rnd(size_t n, uint64_t seed, float lo, float hi) {
    float *p = malloc(n * sizeof *p);
    re_rng r;
    re_rng_seed(&r, seed);
    for (size_t i = 0; p && i < n; i++) p[i] = lo + (hi - lo) * (float)re_rng_uniform(&r);
    return p;
}

/* 1. the layer against the reference op on rounded weights */
static void test_layer(int n, int in_f, int out_f, float slope) {
    float *x = rnd((size_t)n * in_f, 1, -1, 1), *w = rnd((size_t)in_f * out_f, 2, -0.05f, 0.05f);
    float *b = rnd((size_t)out_f, 3, -0.1f, 0.1f), *wr = malloc((size_t)in_f * out_f * sizeof(float));
    float *y = malloc((size_t)n * out_f * sizeof(float)), *want = malloc((size_t)n * out_f * sizeof(float));
    re_dnnl_linear *l = NULL;
    re_dnnl_linear_opts o = {.inference = 1, .lrelu = slope, .wbf16 = 1};
    char what[96];
    if (!x || !w || !b || !wr || !y || !want) goto done;
    CHECK_OK(re_dnnl_linear_create_ex(&l, n, in_f, out_f, 1, &o));
    if (!l) goto done;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) /* new weights: the object must remake its bf16 copy (w_same = 0) */
            for (size_t i = 0; i < (size_t)in_f * out_f; i++) w[i] = -0.7f * w[i] + 1e-3f;
        re_bf16_round(wr, w, (size_t)in_f * out_f);
        re_linear_forward_ref(want, x, wr, b, n, in_f, out_f);
        if (slope > 0) re_lrelu_forward(want, want, (size_t)n * out_f, slope);
        CHECK_OK(re_dnnl_linear_forward_ex(l, y, x, w, b, 0));
        CHECK_OK(re_dnnl_linear_forward_ex(l, y, x, w, b, 1)); /* cached copy */
        snprintf(what, sizeof what, "bf16-weight linear %d->%d n%d slope %.1f pass %d", in_f, out_f, n, slope, pass);
        re_test_close(what, y, want, (size_t)n * out_f, 1e-4, 1e-9);
    }
    char desc[256];
    re_dnnl_linear_describe(l, desc, sizeof desc);
    CHECK_MSG((n <= RE_GEMV_MAX_N) == (strstr(desc, "gemv_bf16w") != NULL), "n %d: describe '%s'", n, desc);
done:
    re_dnnl_linear_free(l);
    free(x); free(w); free(b); free(wr); free(y); free(want);
}

/* Round the weights of m's large linear layers to bf16, as a mixed runner reads them. */
static void round_big_linear(re_model *m) {
    re_net *nets[3] = {&m->enc, &m->heads, &m->dec};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < nets[k]->n_layers; i++) {
            const re_layer *l = &nets[k]->layers[i];
            if (l->kind != RE_L_LINEAR || (size_t)l->c * l->oc < RE_FCW16_MIN_WEIGHTS) continue;
            float *w = re_param_ptr(m, l->p_w);
            re_bf16_round(w, w, m->params[l->p_w].count);
        }
    m->version++;
}

/* 2. whole runners on seed64, in the activation layout `layout` (REENACT_DNNL_LAYOUT: "blocked" or "nhwc") */
static void test_runner(const char *layout) {
    re_config c;
    re_config_preset(&c, "seed64");
    re_model *a = NULL, *b = NULL, *bf = NULL;
    re_runner *rm = NULL, *rf = NULL, *rr = NULL, *rrf = NULL, *r16 = NULL;
    const size_t img = 3 * 64 * 64;
    float *x = rnd(2 * img, 7, 0, 1), mu_m[400], mu_f[400], mu_r[400], mu_rf[400], mu_16[400];
    float *ym = malloc(2 * img * 4), *yf = malloc(2 * img * 4), *yr = malloc(2 * img * 4);
    float *yrf = malloc(2 * img * 4), *y16 = malloc(2 * img * 4);
    char what[160];
    setenv("REENACT_DNNL_LAYOUT", layout, 1);
    const int b16 = re_dnnl_blocked16_native();
    CHECK_OK(re_model_create(&a, &c, 5, 0));
    CHECK_OK(re_model_create(&b, &c, 5, 0));
    CHECK_OK(re_model_create(&bf, &c, 5, 0));
    if (!a || !b || !bf || !x || !ym || !yf || !yr || !yrf || !y16) goto done;
    CHECK_OK(re_model_set_backend(a, RE_BACKEND_DNNL));
    CHECK_OK(re_model_set_backend(b, RE_BACKEND_REF));
    CHECK_OK(re_model_set_backend(bf, RE_BACKEND_REF));
    round_big_linear(b);
    for (int batch = 1; batch <= 2; batch++) {
        CHECK_OK(re_runner_create_ex(&rm, a, batch, RE_PREC_MIXED));
        CHECK_OK(re_runner_create_ex(&rf, a, batch, RE_PREC_F32));
        if (b16) CHECK_OK(re_runner_create_ex(&r16, a, batch, RE_PREC_BF16));
        else   /* below AVX-512 oneDNN 2.6 has no bf16 convolutions: refused with a message, not run on ref: */
            CHECK_MSG(re_runner_create_ex(&r16, a, batch, RE_PREC_BF16) == RE_ERR_UNSUPPORTED && !r16 &&
                          strstr(re_last_error(), "AVX-512"), "bf16 runner on ISA %s: %s", re_dnnl_isa_name(),
                      re_last_error());
        CHECK_OK(re_runner_create_ex(&rr, b, batch, RE_PREC_F32));
        CHECK_OK(re_runner_create_ex(&rrf, bf, batch, RE_PREC_F32));
        if (!rm || !rf || !rr || !rrf || (b16 && !r16)) goto done;
        CHECK_EQ_INT(re_runner_precision(rm), RE_PREC_MIXED);
        CHECK_OK(re_encode(rm, x, batch, mu_m, NULL));
        CHECK_OK(re_encode(rf, x, batch, mu_f, NULL));
        CHECK_OK(re_encode(rr, x, batch, mu_r, NULL));
        CHECK_OK(re_encode(rrf, x, batch, mu_rf, NULL));
        if (r16) CHECK_OK(re_encode(r16, x, batch, mu_16, NULL));
        snprintf(what, sizeof what, "%s batch %d: mixed runner encode vs ref on bf16-rounded linear weights", layout,
                 batch);
        re_test_close(what, mu_m, mu_r, (size_t)batch * 200, 1e-4, 1e-8);
        snprintf(what, sizeof what, "%s batch %d: f32 runner encode vs ref", layout, batch);
        re_test_close(what, mu_f, mu_rf, (size_t)batch * 200, 1e-4, 1e-8);
        CHECK_OK(re_decode(rm, mu_r, batch, ym));
        CHECK_OK(re_decode(rf, mu_r, batch, yf));
        CHECK_OK(re_decode(rr, mu_r, batch, yr));
        CHECK_OK(re_decode(rrf, mu_r, batch, yrf));
        if (r16) CHECK_OK(re_decode(r16, mu_r, batch, y16));
        snprintf(what, sizeof what, "%s batch %d: mixed runner decode vs ref on bf16-rounded linear weights", layout,
                 batch);
        re_test_close(what, ym, yr, (size_t)batch * img, 1e-4, 1e-8);
        snprintf(what, sizeof what, "%s batch %d: f32 runner decode vs ref", layout, batch);
        re_test_close(what, yf, yrf, (size_t)batch * img, 1e-4, 1e-8);
        double e_mu = re_test_rel_l2(mu_m, mu_f, (size_t)batch * 200);
        double e_y = re_test_rel_l2(ym, yf, (size_t)batch * img);
        double e16_mu = r16 ? re_test_rel_l2(mu_16, mu_rf, (size_t)batch * 200) : NAN;
        double e16_y = r16 ? re_test_rel_l2(y16, yrf, (size_t)batch * img) : NAN;
        printf("%s batch %d: mixed vs f32 runner: latent relative L2 %.2e, image %.2e; bf16 runner vs ref: %.2e, "
               "%.2e\n", layout, batch, e_mu, e_y, e16_mu, e16_y);
        CHECK_MSG(e_mu > 0 && e_mu < 1e-2, "mixed vs f32 latents: relative L2 %g (want (0, 1e-2))", e_mu);
        CHECK_MSG(e_y > 0 && e_y < 1e-2, "mixed vs f32 images: relative L2 %g (want (0, 1e-2))", e_y);
        if (r16) {
            CHECK_MSG(e16_mu > 0 && e16_mu < 0.03, "bf16 runner latents vs ref: relative L2 %g", e16_mu);
            CHECK_MSG(e16_y < 0.02, "bf16 runner images vs ref: relative L2 %g", e16_y);
        }
        char *t = re_runner_describe(rm);
        CHECK(t && strstr(t, "gemv_bf16w") && strstr(t, "fc1") && strstr(t, "decoder"));
        /* with AVX-512 the NHWC plan runs oneDNN's brgemm convolutions; no plan ever runs its reference kernels
         * (below AVX-512 both plans are NHWC, on jit:avx2) */
        if (t && b16)
            CHECK_MSG(!strcmp(layout, "nhwc") == (strstr(t, "brgconv") != NULL), "%s plan's table:\n%s", layout, t);
        CHECK_MSG(t && !strstr(t, "ref:"), "%s plan (ISA %s):\n%s", layout, re_dnnl_isa_name(), t ? t : "");
        if (t && batch == 1 && !strcmp(layout, "blocked")) printf("%s", t);
        free(t);
        if (r16) {
            t = re_runner_describe(r16);
            CHECK(t && !strstr(t, "ref:"));
            free(t);
        }
        t = re_runner_describe(rr);
        CHECK(t && strstr(t, "ref (reference ops)"));
        free(t);
        re_runner_free(rm); re_runner_free(rf); re_runner_free(rr); re_runner_free(rrf); re_runner_free(r16);
        rm = rf = rr = rrf = r16 = NULL;
    }
    /* AUTO on the reference backend is f32; MIXED there is refused */
    CHECK_OK(re_runner_create_ex(&rr, b, 1, RE_PREC_AUTO));
    CHECK(rr && re_runner_precision(rr) == RE_PREC_F32);
    re_runner *bad = NULL;
    CHECK(re_runner_create_ex(&bad, b, 1, RE_PREC_MIXED) == RE_ERR_UNSUPPORTED && !bad);
    CHECK(re_runner_create_ex(&bad, b, 1, (re_precision)9) == RE_ERR_ARG && !bad);
    /* AUTO on oneDNN follows the rule */
    CHECK_OK(re_runner_create_ex(&rm, a, 1, RE_PREC_AUTO));
    CHECK(rm && re_runner_precision(rm) == re_precision_resolve(RE_PREC_AUTO, 0));
done:
    unsetenv("REENACT_DNNL_LAYOUT");
    re_runner_free(rm); re_runner_free(rf); re_runner_free(rr); re_runner_free(rrf); re_runner_free(r16);
    re_model_free(a); re_model_free(b); re_model_free(bf);
    free(x); free(ym); free(yf); free(yr); free(yrf); free(y16);
}

/* 3. quality on the bundled model */
static void test_bundled(void) {
    re_model *m = NULL;
    re_image im = {0};
    if (re_model_load(&m, RE_SOURCE_DIR "/models/reenact-seed64.safetensors") != RE_OK ||
        re_image_load(&im, RE_SOURCE_DIR "/models/demo_face.png") != RE_OK || im.w != 64 || im.h != 64) {
        printf("SKIP bundled-model quality: %s\n", re_last_error());
        re_model_free(m);
        re_image_free(&im);
        return;
    }
    static float x[3 * 64 * 64], y[3][3 * 64 * 64], mu[200];
    re_image_to_chw(&im, x);
    const re_precision p[3] = {RE_PREC_F32, RE_PREC_MIXED, RE_PREC_BF16};
    double psnr[3];
    for (int k = 0; k < 3; k++) {
        re_runner *r = NULL;
        if (p[k] == RE_PREC_BF16 && !re_dnnl_blocked16_native()) {
            CHECK(re_runner_create_ex(&r, m, 1, p[k]) == RE_ERR_UNSUPPORTED && !r);
            psnr[k] = NAN;
            continue;
        }
        CHECK_OK(re_runner_create_ex(&r, m, 1, p[k]));
        if (!r) { psnr[k] = NAN; continue; }
        CHECK_OK(re_encode(r, x, 1, mu, NULL));
        CHECK_OK(re_decode(r, mu, 1, y[k]));
        psnr[k] = re_metric_psnr(re_metric_mse(y[k], x, 3 * 64 * 64), 1.0);
        re_runner_free(r);
    }
    double d_m = re_metric_psnr(re_metric_mse(y[1], y[0], 3 * 64 * 64), 1.0);
    double d_b = re_metric_psnr(re_metric_mse(y[2], y[0], 3 * 64 * 64), 1.0);
    printf("bundled model, demo face reconstruction PSNR: f32 %.4f dB, mixed %.4f dB, bf16 %.4f dB; "
           "PSNR of mixed vs f32 output %.1f dB, bf16 vs f32 %.1f dB\n", psnr[0], psnr[1], psnr[2], d_m, d_b);
    CHECK_MSG(fabs(psnr[1] - psnr[0]) <= 0.1, "mixed PSNR %.4f vs f32 %.4f: more than 0.1 dB apart", psnr[1],
              psnr[0]);
    re_image_free(&im);
    re_model_free(m);
}

/* 4. names, AUTO, CPU facts */
static void test_auto(void) {
    re_precision all[4] = {RE_PREC_F32, RE_PREC_BF16, RE_PREC_AUTO, RE_PREC_MIXED}, p;
    for (int i = 0; i < 4; i++) {
        CHECK_OK(re_precision_parse(re_precision_name(all[i]), &p));
        CHECK_EQ_INT(p, all[i]);
    }
    CHECK(re_precision_parse("fp16", &p) == RE_ERR_ARG && strstr(re_last_error(), "f32, bf16, auto, mixed"));
    CHECK(re_precision_parse(NULL, &p) == RE_ERR_ARG);
    CHECK(!strcmp(re_precision_name((re_precision)42), "?"));
    for (int i = 0; i < 4; i++)
        if (all[i] != RE_PREC_AUTO) CHECK_EQ_INT(re_precision_resolve(all[i], 1), all[i]);
    re_precision t = re_precision_resolve(RE_PREC_AUTO, 1), r = re_precision_resolve(RE_PREC_AUTO, 0);
    CHECK(t == RE_PREC_F32 || t == RE_PREC_BF16);
    CHECK(r == RE_PREC_F32 || r == RE_PREC_MIXED || r == RE_PREC_BF16);
    re_cpu_info ci;
    CHECK(re_cpu_info_get(NULL) == RE_ERR_ARG);
    CHECK_OK(re_cpu_info_get(&ci));
    printf("cpu: %s (%s family %d model %d), oneDNN %s ISA %s, avx512_bf16 %d, amx %d/%d, AMX permission %d (%s); "
           "auto: training %s, runners %s: %s\n", ci.model, ci.vendor, ci.family, ci.model_id, ci.dnnl_version,
           ci.dnnl_isa, ci.avx512_bf16, ci.amx_tile, ci.amx_bf16, ci.amx_permission, ci.amx_note,
           re_precision_name(ci.train_auto), re_precision_name(ci.infer_auto), ci.rule);
    CHECK(ci.model[0] && ci.dnnl_isa[0] && ci.rule[0] && ci.amx_note[0]);
    CHECK_EQ_INT(ci.train_auto, t);
    CHECK_EQ_INT(ci.infer_auto, r);
    CHECK(ci.amx_permission >= -1 && ci.amx_permission <= 1);
    if (!(ci.amx_tile && ci.amx_bf16)) CHECK_EQ_INT(ci.amx_permission, -1);
    /* the documented rule */
    const int amx = ci.amx_tile && ci.amx_bf16;
    if (re_dnnl_available()) {
        const int native = !strcmp(ci.dnnl_isa, "avx512_core_bf16") || !strcmp(ci.dnnl_isa, "avx512_core_amx");
        if (!native) CHECK(t == RE_PREC_F32 && r == RE_PREC_MIXED);
        CHECK_MSG(native == (strstr(ci.rule, "measured here") != NULL), "rule '%s'", ci.rule);
        (void)amx;
    } else {
        CHECK(t == RE_PREC_F32 && r == RE_PREC_F32);
    }
}

int main(void) {
    test_auto();
    if (!re_dnnl_available()) {
        printf("SKIP: no oneDNN backend in this build\n");
        RE_TEST_END();
    }
    /* wbf16 is for inference f32 layers only */
    re_dnnl_linear *l = NULL;
    re_dnnl_linear_opts bad = {.inference = 0, .wbf16 = 1};
    CHECK(re_dnnl_linear_create_ex(&l, 1, 64, 64, 1, &bad) == RE_ERR_ARG && !l);
    test_layer(1, 4096, 512, 0.2f);   /* encoder fc1 at batch 1: GEMV */
    test_layer(1, 512, 4096, 0.2f);   /* decoder fc3 */
    test_layer(3, 1000, 77, 0.f);     /* odd sizes (vector tails), several samples, no activation */
    test_layer(8, 70, 33, 0.2f);      /* the largest GEMV batch */
    test_layer(12, 520, 130, 0.2f);   /* oneDNN on the rounded weights */
    test_runner("blocked");
    test_runner("nhwc");     /* the AMX plan (NHWC activations, brgemm convolutions), run here on AVX-512 */
    test_bundled();
    RE_TEST_END();
}
