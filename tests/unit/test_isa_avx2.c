/*
 * test_isa_avx2.c - the oneDNN backend on a CPU without AVX-512 (laptops, AMD before Zen 4, Intel client cores),
 * emulated on any AVX2 machine by capping oneDNN's ISA (ONEDNN_MAX_CPU_ISA=AVX2, set before oneDNN starts):
 *   - no layer of a training state (encoder, heads, decoder, discriminator: forward, backward-data and
 *     backward-weights) nor of a runner gets one of oneDNN's reference kernels ("ref:"), which are 100-1000x
 *     slower (0.1 img/s training, 5 s per encode+decode before the plan learned about it); no activation is kept in
 *     the nChw16c layout that oneDNN has no AVX2 kernels for;
 *   - training on oneDNN matches the reference backend step by step (re_test_twins), VAE and VAE-GAN;
 *   - the runners (f32, mixed, auto) match the reference backend, and the mixed runner's bf16-weight GEMV reports
 *     its vector ISA;
 *   - bf16 (no oneDNN bf16 convolutions below AVX-512) is refused with a message naming the ISA, not run slowly.
 * Skips without oneDNN or on a CPU without AVX2.
 * Run: ./build/tests/test_isa_avx2 from the repo root.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/dnnl.h"
#include "model/model_internal.h"
#include "re_test.h"
#include "re_test_model.h"
#include "reenact/reenact.h"

#ifdef RE_HAVE_DNNL
static float *images(int n, int res, unsigned seed) {
    float *x = malloc((size_t)n * 3 * res * res * sizeof(float));
    for (size_t i = 0; x && i < (size_t)n * 3 * res * res; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / 16777216.0f;
    }
    return x;
}

/* Every weighted layer of a training state of net on oneDNN: its primitives are not reference kernels. */
static void check_state(re_model *m, re_net *net, const char *what, int batch) {
    re_net_state st;
    CHECK_OK(re_net_state_init_ex(&st, m, net, batch, 0));
    for (int i = 0; i < net->n_layers; i++) {
        const re_layer *l = &net->layers[i];
        CHECK_MSG(st.layout[i] != RE_LAYOUT_BLOCKED16, "%s %s: blocked nChw16c below AVX-512", what, l->name);
        if (!st.fast[i] || !st.be[i]->describe) continue;
        char d[256];
        st.be[i]->describe(l, st.fast[i], d, sizeof d);
        CHECK_MSG(!strstr(d, "ref:"), "%s %s: %s", what, l->name, d);
    }
    re_net_state_free(&st, net);
}

static void test_training(void) {
    re_config c;
    re_config_preset(&c, "seed64");
    re_model *m = NULL;
    CHECK_OK(re_model_create(&m, &c, 3, 1));
    if (!m) return;
    CHECK_OK(re_model_set_backend(m, RE_BACKEND_DNNL));
    check_state(m, &m->enc, "encoder", 8);
    check_state(m, &m->heads, "heads", 8);
    check_state(m, &m->dec, "decoder", 8);
    check_state(m, &m->disc, "discriminator", 16);
    re_train_opts o;
    re_train_opts_default(&o, RE_MODE_VAE);
    o.batch = 4;
    o.precision = RE_PREC_BF16;
    re_trainer *t = NULL;
    CHECK_MSG(re_trainer_create(&t, m, &o) == RE_ERR_UNSUPPORTED && !t && strstr(re_last_error(), "AVX-512") &&
                  strstr(re_last_error(), "avx2"),
              "bf16 trainer below AVX-512: %s", re_last_error());
    re_trainer_free(t);
    re_model_free(m);

    /* the oneDNN training path (plain NCHW interface, oneDNN's own nChw8c behind reorders) against the reference */
    const re_train_mode modes[2] = {RE_MODE_VAE, RE_MODE_VAEGAN};
    re_config c32 = re_test_cfg32();
    float *x = images(8, 32, 11);
    for (int k = 0; k < 2 && x; k++) {
        re_test_twins tw;
        if (re_test_twins_create(&tw, &c32, 5, modes[k], 8))
            for (int s = 0; s < 3; s++) {
                re_step_stats sa, sb;
                re_test_twins_step(&tw, x, s, &sa, &sb);
            }
        re_test_twins_free(&tw);
    }
    free(x);
}

static void test_runners(void) {
    re_config c;
    re_config_preset(&c, "seed64");
    re_model *a = NULL, *b = NULL;
    CHECK_OK(re_model_create(&a, &c, 9, 0));
    CHECK_OK(re_model_create(&b, &c, 9, 0));
    float *x = images(1, 64, 5), y[3 * 64 * 64], yr[3 * 64 * 64], mu[200], mur[200];
    if (!a || !b || !x) goto done;
    CHECK_OK(re_model_set_backend(a, RE_BACKEND_DNNL));
    CHECK_OK(re_model_set_backend(b, RE_BACKEND_REF));
    re_runner *rr = NULL;
    CHECK_OK(re_runner_create_ex(&rr, b, 1, RE_PREC_F32));
    if (!rr) goto done;
    CHECK_OK(re_encode(rr, x, 1, mur, NULL));
    CHECK_OK(re_decode(rr, mur, 1, yr));
    re_runner_free(rr);
    const re_precision p[3] = {RE_PREC_F32, RE_PREC_MIXED, RE_PREC_AUTO};
    for (int k = 0; k < 3; k++) {
        re_runner *r = NULL;
        CHECK_OK(re_runner_create_ex(&r, a, 1, p[k]));
        if (!r) continue;
        char *t = re_runner_describe(r);
        CHECK_MSG(t && !strstr(t, "ref:") && strstr(t, "jit:avx2"), "%s runner:\n%s", re_precision_name(p[k]),
                  t ? t : "");
        if (re_runner_precision(r) == RE_PREC_MIXED) CHECK_MSG(t && strstr(t, "gemv_bf16w:avx2"), "%s", t ? t : "");
        free(t);
        CHECK_OK(re_encode(r, x, 1, mu, NULL));
        CHECK_OK(re_decode(r, mur, 1, y));
        /* mixed rounds the large linear layers' weights to bf16: within 1e-2 of f32 (test_mixed checks it exactly) */
        const double tol = re_runner_precision(r) == RE_PREC_MIXED ? 1e-2 : 1e-4;
        double e_mu = re_test_rel_l2(mu, mur, 200), e_y = re_test_rel_l2(y, yr, 3 * 64 * 64);
        CHECK_MSG(e_mu < tol && e_y < tol, "%s runner vs ref: latent %.2e, image %.2e", re_precision_name(p[k]), e_mu,
                  e_y);
        re_runner_free(r);
    }
    re_runner *r16 = NULL;
    CHECK_MSG(re_runner_create_ex(&r16, a, 1, RE_PREC_BF16) == RE_ERR_UNSUPPORTED && !r16 &&
                  strstr(re_last_error(), "AVX-512"),
              "bf16 runner below AVX-512: %s", re_last_error());
    CHECK_EQ_INT(re_precision_resolve(RE_PREC_AUTO, 1), RE_PREC_F32);
    CHECK_EQ_INT(re_precision_resolve(RE_PREC_AUTO, 0), RE_PREC_MIXED);
done:
    re_model_free(a);
    re_model_free(b);
    free(x);
}
#endif

int main(void) {
#ifdef RE_HAVE_DNNL
    setenv("ONEDNN_MAX_CPU_ISA", "AVX2", 1);   /* read by oneDNN once, at its first ISA query */
    unsetenv("REENACT_DNNL_LAYOUT");
    if (!re_dnnl_available()) {
        printf("SKIP: oneDNN's CPU engine is not available: %s\n", re_last_error());
        return 0;
    }
    if (strcmp(re_dnnl_isa_name(), "avx2")) {
        printf("SKIP: oneDNN ISA is %s with ONEDNN_MAX_CPU_ISA=AVX2 (a CPU without AVX2)\n", re_dnnl_isa_name());
        return 0;
    }
    CHECK(!re_dnnl_blocked16_native());
    test_training();
    test_runners();
    printf("oneDNN ISA %s: training states and runners free of reference kernels, and equal to the reference "
           "backend\n", re_dnnl_isa_name());
#else
    printf("SKIP: no oneDNN in this build\n");
#endif
    RE_TEST_END();
}
