/*
 * test_backend.c - the compute backend's dispatch table (src/backend/backend.h):
 *   1. the registry: which table each re_backend choice gets, and that every table fills its entries;
 *   2. supports (ggml's supports_op): the reference table runs f32 only, oneDNN f32 and bf16;
 *   3. the reference table is the reference ops, bit for bit: conv / transposed conv / linear forward and
 *      backward, BatchNorm forward (training, eval) and backward with and without a LeakyReLU after it;
 *   4. net states: the reference backend has no plan and no per-layer objects; the oneDNN backend plans and
 *      creates an object per conv / linear layer;
 *   5. per-layer fallback: a oneDNN table that supports no BatchNorm and no linear layer hands those to the
 *      reference table (net.c), its plan keeps their neighbours plain NCHW and unfused, and an encoder and a
 *      decoder forward + backward (f32; and bf16, as close as the full oneDNN bf16 path) agree with the reference
 *      backend.
 * Tolerances as in test_fused.c: f32 paths differ from the reference only in summation order (NMSE <= 1e-8 or max
 * relative error <= 1e-4; gradients 1e-7 / 1e-3); bf16 NMSE <= 1e-3 (outputs), 1e-2 (gradients).
 * Run: ./build/tests/test_backend from the repo root (parts 4-5 are skipped without oneDNN).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/dnnl.h"
#include "model/model_internal.h"
#include "re_test.h"
#include "re_test_model.h"

static re_rng g_rng;

static float *rnd(size_t n, float lo, float hi) { return re_test_uniform(&g_rng, n, lo, hi); }

static float *zeros(size_t n) {
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) { fprintf(stderr, "FAIL: out of memory\n"); exit(1); }
    return p;
}

#define SAME(what, a, b, n) CHECK_MSG(memcmp((a), (b), (n) * sizeof(float)) == 0, "%s: not bit-identical", what)

static void check_table(const re_compute_backend *be) {
    CHECK(be->name && be->init && be->supports && be->layer_create && be->layer_free && be->forward &&
          be->backward && be->bn_act_forward_sync && be->bn_act_backward_sync && be->lrelu_backward);
    CHECK(!be->plan || be->to_bf16); /* a planning backend may plan bf16 */
    CHECK_OK(be->init());
}

static void test_registry(void) {
    const re_compute_backend *ref = re_compute_backend_get(RE_BACKEND_REF);
    CHECK(ref == &re_backend_ref);
    CHECK(ref && !strcmp(ref->name, "ref") && ref->id == RE_BACKEND_REF && !ref->plan);
    check_table(&re_backend_ref);
    CHECK(re_backend_ref.supports(NULL, RE_PREC_F32) == 1);
    CHECK(re_backend_ref.supports(NULL, RE_PREC_BF16) == 0);
#ifdef RE_HAVE_DNNL
    CHECK(re_compute_backend_get(RE_BACKEND_DNNL) == &re_backend_dnnl);
    CHECK(re_compute_backend_get(RE_BACKEND_AUTO) == &re_backend_dnnl);
    CHECK(!strcmp(re_backend_dnnl.name, "dnnl") && re_backend_dnnl.id == RE_BACKEND_DNNL && re_backend_dnnl.plan);
    check_table(&re_backend_dnnl);
    /* bf16 from AVX-512 up (oneDNN 2.6 has no bf16 convolutions below it but its reference kernels) */
    CHECK(re_backend_dnnl.supports(NULL, RE_PREC_F32));
    CHECK_EQ_INT(re_backend_dnnl.supports(NULL, RE_PREC_BF16), re_dnnl_blocked16_native());
#else
    CHECK(re_compute_backend_get(RE_BACKEND_DNNL) == NULL);
    CHECK(re_compute_backend_get(RE_BACKEND_AUTO) == &re_backend_ref);
#endif
}

/* The reference table against the ops it wraps, bit for bit. */
static void test_ref_ops(void) {
    const re_compute_backend *be = &re_backend_ref;
    const int n = 3, c = 4, h = 6, w = 6, oc = 5, k = 3;
    /* conv k3 s1 p1 and transposed conv k4 s2 p1 */
    for (int t = 0; t < 2; t++) {
        re_layer l = {.kind = t ? RE_L_DECONV : RE_L_CONV, .c = c, .h = h, .w = w, .oc = oc, .k = t ? 4 : k,
                      .stride = t ? 2 : 1, .pad = 1, .p_w = 0, .p_b = 1};
        strcpy(l.name, t ? "deconv" : "conv");
        re_conv_params p = {.n = n, .ic = c, .h = h, .w = w, .oc = oc, .kh = l.k, .kw = l.k, .stride = l.stride,
                            .pad = 1};
        CHECK(re_conv_params_finish(&p, t));
        l.oh = p.oh;
        l.ow = p.ow;
        const size_t ni = (size_t)n * c * h * w, no = (size_t)n * oc * p.oh * p.ow, nw = (size_t)oc * c * l.k * l.k;
        float *x = rnd(ni, -1, 1), *wt = rnd(nw, -.5f, .5f), *b = rnd(oc, -.5f, .5f), *dy = rnd(no, -1, 1);
        float *y1 = zeros(no), *y2 = zeros(no), *dx1 = zeros(ni), *dx2 = zeros(ni), *dw1 = zeros(nw),
              *dw2 = zeros(nw), *db1 = zeros(oc), *db2 = zeros(oc);
        void *obj = (void *)&l;
        CHECK_OK(be->layer_create(&obj, NULL, NULL, 0));
        CHECK(obj == NULL);
        CHECK_OK(be->forward(&l, obj, n, y1, x, wt, b, 0));
        if (t) re_deconv2d_forward_ref(y2, x, wt, b, &p);
        else re_conv2d_forward_ref(y2, x, wt, b, &p);
        SAME(l.name, y1, y2, no);
        CHECK_OK(be->backward(&l, obj, n, dx1, dw1, db1, dy, x, wt));
        if (t) re_deconv2d_backward_ref(dx2, dw2, db2, dy, x, wt, &p);
        else re_conv2d_backward_ref(dx2, dw2, db2, dy, x, wt, &p);
        SAME("dx", dx1, dx2, ni);
        SAME("dw", dw1, dw2, nw);
        SAME("db", db1, db2, oc);
        be->layer_free(&l, obj);
        free(x); free(wt); free(b); free(dy); free(y1); free(y2); free(dx1); free(dx2); free(dw1); free(dw2);
        free(db1); free(db2);
    }
    /* linear */
    {
        re_layer l = {.kind = RE_L_LINEAR, .c = 7, .h = 1, .w = 1, .oc = 5, .oh = 1, .ow = 1, .p_w = 0, .p_b = 1};
        float *x = rnd(n * 7, -1, 1), *wt = rnd(35, -1, 1), *b = rnd(5, -1, 1), *dy = rnd(n * 5, -1, 1);
        float y1[15], y2[15], dx1[21], dx2[21], dw1[35], dw2[35], db1[5], db2[5];
        CHECK_OK(be->forward(&l, NULL, n, y1, x, wt, b, 0));
        re_linear_forward_ref(y2, x, wt, b, n, 7, 5);
        SAME("linear", y1, y2, 15);
        CHECK_OK(be->backward(&l, NULL, n, dx1, dw1, db1, dy, x, wt));
        re_linear_backward_ref(dx2, dw2, db2, dy, x, wt, n, 7, 5);
        SAME("linear dx", dx1, dx2, 21);
        SAME("linear dw", dw1, dw2, 35);
        SAME("linear db", db1, db2, 5);
        free(x); free(wt); free(b); free(dy);
    }
    /* BatchNorm (+ LeakyReLU) */
    {
        const int hw = 9;
        const size_t cnt = (size_t)n * c * hw;
        re_act_shape sh = {n, c, hw, RE_LAYOUT_NCHW};
        float *x = rnd(cnt, -2, 2), *g = rnd(c, .5f, 1.5f), *bt = rnd(c, -.5f, .5f), *dy = rnd(cnt, -1, 1);
        float *rm1 = zeros(c), *rv1 = zeros(c), *rm2 = zeros(c), *rv2 = zeros(c);
        for (int i = 0; i < c; i++) rv1[i] = rv2[i] = 1;
        float *y1 = zeros(cnt), *y2 = zeros(cnt), *dx1 = zeros(cnt), *dx2 = zeros(cnt), *tmp = zeros(cnt);
        float mean1[4], rstd1[4], mean2[4], rstd2[4], dg1[4], dg2[4], dbt1[4], dbt2[4];
        for (int slope_i = 0; slope_i < 2; slope_i++) {
            const float slope = slope_i ? 0.2f : 0.f;
            CHECK_OK(be->bn_act_forward_sync(&sh, y1, NULL, x, mean1, rstd1, g, bt, rm1, rv1, 0.1f, 1e-5f, 1, slope,
                                             NULL));
            re_bn_forward_train_sync(y2, mean2, rstd2, x, g, bt, rm2, rv2, 0.1f, 1e-5f, n, c, hw, NULL);
            if (slope > 0) re_lrelu_forward(y2, y2, cnt, slope);
            SAME("bn train y", y1, y2, cnt);
            SAME("bn mean", mean1, mean2, 4);
            SAME("bn rstd", rstd1, rstd2, 4);
            SAME("bn running mean", rm1, rm2, 4);
            SAME("bn running var", rv1, rv2, 4);
            CHECK_OK(be->bn_act_backward_sync(&sh, dx1, NULL, dg1, dbt1, dy, y1, NULL, x, mean1, rstd1, g, slope,
                                              NULL));
            const float *d = dy;
            if (slope > 0) {
                re_lrelu_backward(tmp, dy, y2, cnt, slope);
                d = tmp;
            }
            re_bn_backward_sync(dx2, dg2, dbt2, d, x, mean2, rstd2, g, n, c, hw, NULL);
            SAME("bn dx", dx1, dx2, cnt);
            SAME("bn dgamma", dg1, dg2, 4);
            SAME("bn dbeta", dbt1, dbt2, 4);
            /* no input gradient (first layer): the parameter gradients alone */
            memset(dg1, 0, sizeof dg1);
            CHECK_OK(be->bn_act_backward_sync(&sh, NULL, NULL, dg1, dbt1, dy, y1, NULL, x, mean1, rstd1, g, slope,
                                              NULL));
            SAME("bn dgamma (no dx)", dg1, dg2, 4);
            CHECK_OK(be->bn_act_forward_sync(&sh, y1, NULL, x, NULL, NULL, g, bt, rm1, rv1, 0.1f, 1e-5f, 0, slope,
                                             NULL));
            re_bn_forward_eval(y2, x, g, bt, rm2, rv2, 1e-5f, n, c, hw);
            if (slope > 0) re_lrelu_forward(y2, y2, cnt, slope);
            SAME("bn eval y", y1, y2, cnt);
        }
        /* what the reference table cannot do is refused, not done wrong */
        re_act_shape blk = {n, 16, hw, RE_LAYOUT_BLOCKED16};
        CHECK_EQ_INT(be->bn_act_forward_sync(&blk, y1, NULL, x, mean1, rstd1, NULL, NULL, NULL, NULL, 0.1f, 1e-5f, 1,
                                             0, NULL), RE_ERR_UNSUPPORTED);
        uint16_t h16[4];
        CHECK_EQ_INT(be->lrelu_backward(NULL, h16, dy, y1, 4, 0.2f), RE_ERR_UNSUPPORTED);
        free(x); free(g); free(bt); free(dy); free(rm1); free(rv1); free(rm2); free(rv2); free(y1); free(y2);
        free(dx1); free(dx2); free(tmp);
    }
}

#ifdef RE_HAVE_DNNL
static void test_states(void) {
    re_config c = re_test_cfg32();
    re_model *m = NULL;
    CHECK_OK(re_model_create(&m, &c, 5, 0));
    if (!m) return;
    re_net_state st;
    CHECK_OK(re_model_set_backend(m, RE_BACKEND_REF));
    CHECK_OK(re_net_state_init_ex(&st, m, &m->enc, 2, RE_NS_INFER | RE_NS_BF16));
    CHECK(st.plan == 0 && st.flags == 0 && st.backend == &re_backend_ref);
    for (int i = 0; i < m->enc.n_layers; i++) CHECK(st.be[i] == &re_backend_ref && st.fast[i] == NULL);
    re_net_state_free(&st, &m->enc);
    CHECK_OK(re_model_set_backend(m, RE_BACKEND_DNNL));
    CHECK_OK(re_net_state_init_ex(&st, m, &m->enc, 2, 0));
    CHECK(st.plan == 1 && st.backend == &re_backend_dnnl);
    int blocked = 0;
    for (int i = 0; i < m->enc.n_layers; i++) {
        const re_layer *l = &m->enc.layers[i];
        CHECK(st.be[i] == &re_backend_dnnl);
        int weighted = l->kind == RE_L_CONV || l->kind == RE_L_DECONV || l->kind == RE_L_LINEAR;
        CHECK_MSG((st.fast[i] != NULL) == weighted, "layer %s object", l->name);
        blocked += st.layout[i] == RE_LAYOUT_BLOCKED16;
    }
    /* activations stay blocked nChw16c between convolutions from AVX-512 up; below it never (no oneDNN kernels) */
    CHECK_MSG(re_dnnl_blocked16_native() ? blocked > 0 : blocked == 0, "ISA %s: %d blocked layers",
              re_dnnl_isa_name(), blocked);
    re_net_state_free(&st, &m->enc);
    re_model_free(m);
}

/* oneDNN without BatchNorm and linear layers: net.c gives those to the reference table. */
static int partial_supports(const re_layer *l, re_precision prec) {
    if (l && (l->kind == RE_L_BN || l->kind == RE_L_LINEAR)) return 0;
    return re_backend_dnnl.supports(l, prec);
}

/* forward + backward of net (of model m) on table be (NULL: the model's), n samples */
static void run_net(re_model *m, const re_net *net, const re_compute_backend *be, int flags, int n, const float *x,
                    const float *dy, float *y, float *dx, float *grads, re_net_state *keep) {
    re_net_state st;
    re_status s = be ? re_net_state_init_on(&st, m, net, n, flags, be) : re_net_state_init_ex(&st, m, net, n, flags);
    CHECK_OK(s);
    if (s) return;
    const float *out;
    CHECK_OK(re_net_forward(net, &st, m, x, n, 1, &out));
    memcpy(y, out, (size_t)n * re_net_out_count(net) * sizeof(float));
    CHECK_OK(re_net_backward(net, &st, m, grads, dy, n, dx));
    if (keep) *keep = st;
    else re_net_state_free(&st, net);
}

static void test_fallback(void) {
    re_config c = re_test_cfg32();
    re_model *a = NULL, *b = NULL;
    CHECK_OK(re_model_create(&a, &c, 7, 0));
    CHECK_OK(re_model_create(&b, &c, 7, 0));
    if (!a || !b) goto done;
    CHECK_OK(re_model_set_backend(a, RE_BACKEND_REF));
    CHECK_OK(re_model_set_backend(b, RE_BACKEND_DNNL));
    re_compute_backend partial = re_backend_dnnl;
    partial.supports = partial_supports;
    const int n = 3;
    for (int part = 0; part < 2; part++) {
        const re_net *na = part ? &a->dec : &a->enc, *nb = part ? &b->dec : &b->enc;
        const size_t ni = (size_t)n * re_net_in_count(na), no = (size_t)n * re_net_out_count(na);
        float *x = part ? rnd(ni, -1, 1) : rnd(ni, 0, 1), *dy = rnd(no, -1, 1);
        float *ya = zeros(no), *yb = zeros(no), *dxa = zeros(ni), *dxb = zeros(ni);
        float *ga = zeros(a->data_count), *gb = zeros(b->data_count);
        run_net(a, na, NULL, 0, n, x, dy, ya, dxa, ga, NULL);
        re_net_state st;
        memset(&st, 0, sizeof st);
        run_net(b, nb, &partial, 0, n, x, dy, yb, dxb, gb, &st);
        if (st.be) {
            int handed = 0;
            for (int i = 0; i < nb->n_layers; i++) {
                const re_layer *l = &nb->layers[i];
                const int refused = l->kind == RE_L_BN || l->kind == RE_L_LINEAR;
                CHECK_MSG(st.be[i] == (refused ? &re_backend_ref : &partial), "layer %s table", l->name);
                handed += refused;
                if (refused) {
                    CHECK_MSG(st.layout[i] == RE_LAYOUT_NCHW && (i == 0 || st.layout[i - 1] == RE_LAYOUT_NCHW),
                              "layer %s: plain NCHW around a reference layer", l->name);
                    CHECK_MSG(!st.skip[i] && !st.post[i] && (i == 0 || !st.post[i - 1]) &&
                              (i + 1 >= nb->n_layers || !st.skip[i + 1]), "layer %s: fused", l->name);
                }
            }
            CHECK(handed > 0);
            re_net_state_free(&st, nb);
        }
        re_test_close(part ? "dec y partial vs ref" : "enc y partial vs ref", yb, ya, no, 1e-4, 1e-8);
        re_test_close(part ? "dec dx partial vs ref" : "enc dx partial vs ref", dxb, dxa, ni, 1e-3, 1e-7);
        re_test_close(part ? "dec grads partial vs ref" : "enc grads partial vs ref", gb, ga, a->data_count, 1e-3,
                      1e-7);
        /* bf16 with the reference layers in between (the bf16 convs then convert their inputs and gradients) */
        float *y16 = zeros(no), *dx16 = zeros(ni), *g16 = zeros(b->data_count);
        run_net(b, nb, &partial, RE_NS_BF16, n, x, dy, y16, dx16, g16, NULL);
        re_test_close(part ? "dec y partial bf16 vs ref" : "enc y partial bf16 vs ref", y16, ya, no, 0, 1e-3);
        /* gradients in bf16 are further off the f32 reference (NMSE 3.5e-3 encoder, 5e-3 decoder, for the full
         * oneDNN bf16 path as for the partial one): both within 1e-2 */
        float *yf = zeros(no), *dxf = zeros(ni), *gf = zeros(b->data_count);
        run_net(b, nb, NULL, RE_NS_BF16, n, x, dy, yf, dxf, gf, NULL);
        re_test_close(part ? "dec y full bf16 vs ref" : "enc y full bf16 vs ref", yf, ya, no, 0, 1e-3);
        re_test_close(part ? "dec grads full bf16 vs ref" : "enc grads full bf16 vs ref", gf, ga, a->data_count, 0,
                      1e-2);
        re_test_close(part ? "dec grads partial bf16 vs ref" : "enc grads partial bf16 vs ref", g16, ga,
                      a->data_count, 0, 1e-2);
        free(yf); free(dxf); free(gf);
        free(x); free(dy); free(ya); free(yb); free(dxa); free(dxb); free(ga); free(gb); free(y16); free(dx16);
        free(g16);
    }
done:
    re_model_free(a);
    re_model_free(b);
}
#endif

int main(void) {
    re_rng_seed(&g_rng, 1234);
    test_registry();
    test_ref_ops();
#ifdef RE_HAVE_DNNL
    test_states();
    test_fallback();
#else
    printf("SKIP: parts 4-5 (no oneDNN in this build)\n");
#endif
    RE_TEST_END();
}
