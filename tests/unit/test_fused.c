/*
 * test_fused.c - the fused / re-laid-out parts of the oneDNN path against the reference ops:
 *   1. re_bn_act_forward / re_bn_act_backward (src/backend/dnnl_fused.c) in NCHW and blocked nChw16c layout,
 *      training and eval mode, with and without the fused LeakyReLU, f32 and bf16 outputs, against
 *      re_bn_forward_train / re_bn_forward_eval / re_bn_backward / re_lrelu_* (running statistics included);
 *   2. re_dnnl_conv_*_ex with blocked interface layouts, a fused LeakyReLU, inference mode and the w_same weight
 *      caching, against the reference conv / transposed conv (blocked buffers converted by the test's own index
 *      math, independent of oneDNN); bf16 layers against the reference run on bf16-rounded inputs, weights and
 *      output gradients (the same products, so f32 tolerances);
 *   3. whole models on the oneDNN plan (blocked layouts, fusions, folded BN in runners) against the reference
 *      backend, on a 32x32 config whose widths (16/32/48) differ from seed64's, and the runner's weight cache:
 *      after a training step (version bump) and after re_model_copy_weights (fingerprint) a runner must see the
 *      new weights.
 * Tolerances: f32 paths differ from the double-accumulating reference only in summation order, so arrays must
 * agree to NMSE <= 1e-8 or max relative error <= 1e-4 (see test_dnnl_ops.c); bf16 outputs must equal the
 * round-to-nearest-even conversion of the f32 outputs up to one bf16 ulp (rel 2^-8).
 * Run: ./build/tests/test_fused from the repo root (prints SKIP without oneDNN).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "re_test.h"
#include "re_test_model.h"
#ifdef RE_HAVE_DNNL
#include "backend/dnnl.h"
#endif

#ifdef RE_HAVE_DNNL
static re_rng g_rng;

static float *rnd(size_t n, float lo, float hi) { return re_test_uniform(&g_rng, n, lo, hi); }

/* NCHW <-> nChw16c by index math (c % 16 == 0). */
static void to_blocked(float *dst, const float *src, int n, int c, int hw) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int p = 0; p < hw; p++)
                dst[(((size_t)i * (c / 16) + ch / 16) * hw + p) * 16 + ch % 16] = src[((size_t)i * c + ch) * hw + p];
}
static void from_blocked(float *dst, const float *src, int n, int c, int hw) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int p = 0; p < hw; p++)
                dst[((size_t)i * c + ch) * hw + p] = src[(((size_t)i * (c / 16) + ch / 16) * hw + p) * 16 + ch % 16];
}

static float bf2f(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* bf16 array vs f32 array: each element within one bf16 ulp (2^-8 relative) of the f32 value. */
static void check_bf16(const char *what, const uint16_t *got, const float *want, size_t n) {
    size_t bad = 0, worst = 0;
    double wr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)bf2f(got[i]) - want[i]), r = d / (fabs(want[i]) + 1e-30);
        if (d > 0 && r > 1.0 / 256) bad++;
        if (d > 0 && r > wr) { wr = r; worst = i; }
    }
    CHECK_MSG(bad == 0, "%s: %zu of %zu bf16 values off by more than 2^-8 (worst rel %.3g at %zu)", what, bad, n, wr,
              worst);
}

static void bn_case(int n, int c, int hw, int blocked, int training, float slope) {
    char what[128];
    snprintf(what, sizeof what, "bn_act n%d c%d hw%d %s %s slope %.1f", n, c, hw, blocked ? "blocked" : "nchw",
             training ? "train" : "eval", slope);
    const size_t cnt = (size_t)n * c * hw;
    float *x = rnd(cnt, -2.f, 3.f), *dy = rnd(cnt, -1.f, 1.f), *g = rnd(c, 0.5f, 1.5f), *b = rnd(c, -0.5f, 0.5f);
    float *rm0 = rnd(c, -0.2f, 0.2f), *rv0 = rnd(c, 0.5f, 2.f);
    float *rm_ref = malloc(c * 4), *rv_ref = malloc(c * 4), *rm = malloc(c * 4), *rv = malloc(c * 4);
    float *y_ref = malloc(cnt * 4), *dx_ref = malloc(cnt * 4), *m_ref = malloc(c * 4), *r_ref = malloc(c * 4);
    float *dg_ref = malloc(c * 4), *db_ref = malloc(c * 4);
    float *xb = malloc(cnt * 4), *dyb = malloc(cnt * 4), *yb = malloc(cnt * 4), *dxb = malloc(cnt * 4);
    float *y = malloc(cnt * 4), *dx = malloc(cnt * 4), *m = malloc(c * 4), *r = malloc(c * 4), *dg = malloc(c * 4),
          *db = malloc(c * 4);
    uint16_t *y16 = malloc(cnt * 2), *dx16 = malloc(cnt * 2);
    memcpy(rm_ref, rm0, c * 4); memcpy(rv_ref, rv0, c * 4); memcpy(rm, rm0, c * 4); memcpy(rv, rv0, c * 4);
    /* reference: BN then LeakyReLU */
    if (training) re_bn_forward_train(y_ref, m_ref, r_ref, x, g, b, rm_ref, rv_ref, 0.1f, 1e-5f, n, c, hw);
    else re_bn_forward_eval(y_ref, x, g, b, rm_ref, rv_ref, 1e-5f, n, c, hw);
    if (slope > 0) re_lrelu_forward(y_ref, y_ref, cnt, slope);
    /* fused, in the chosen layout */
    re_act_shape s = {n, c, hw, blocked ? RE_DNNL_BLOCKED : RE_DNNL_NCHW};
    const float *xin = x, *dyin = dy;
    if (blocked) { to_blocked(xb, x, n, c, hw); to_blocked(dyb, dy, n, c, hw); xin = xb; dyin = dyb; }
    re_bn_act_forward(&s, yb, y16, xin, m, r, g, b, rm, rv, 0.1f, 1e-5f, training, slope);
    if (blocked) from_blocked(y, yb, n, c, hw); else memcpy(y, yb, cnt * 4);
    re_test_close(what, y, y_ref, cnt, 1e-4, 1e-8);
    check_bf16(what, y16, yb, cnt);
    if (training) {
        re_test_close("bn mean", m, m_ref, c, 1e-4, 1e-10);
        re_test_close("bn rstd", r, r_ref, c, 1e-4, 1e-10);
        re_test_close("bn running_mean", rm, rm_ref, c, 1e-4, 1e-10);
        re_test_close("bn running_var", rv, rv_ref, c, 1e-4, 1e-10);
        /* backward: reference LeakyReLU backward then BN backward */
        if (slope > 0) re_lrelu_backward(dx_ref, dy, y_ref, cnt, slope);
        else memcpy(dx_ref, dy, cnt * 4);
        re_bn_backward(dx_ref, dg_ref, db_ref, dx_ref, x, m_ref, r_ref, g, n, c, hw);
        /* fused with the f32 mask, then with the bf16 mask (same signs) and bf16 output */
        re_bn_act_backward(&s, dxb, NULL, dg, db, dyin, yb, NULL, xin, m, r, g, slope);
        if (blocked) from_blocked(dx, dxb, n, c, hw); else memcpy(dx, dxb, cnt * 4);
        snprintf(what, sizeof what, "bn_act backward n%d c%d hw%d %s slope %.1f", n, c, hw,
                 blocked ? "blocked" : "nchw", slope);
        re_test_close(what, dx, dx_ref, cnt, 1e-4, 1e-8);
        re_test_close("bn dgamma", dg, dg_ref, c, 1e-4, 1e-8);
        re_test_close("bn dbeta", db, db_ref, c, 1e-4, 1e-8);
        float *dx2 = malloc(cnt * 4);
        re_bn_act_backward(&s, dx2, dx16, NULL, NULL, dyin, NULL, y16, xin, m, r, g, slope);
        re_test_close("bn_act backward (bf16 mask)", dx2, dxb, cnt, 1e-6, 1e-12);
        check_bf16("bn_act backward bf16 out", dx16, dx2, cnt);
        free(dx2);
    }
    free(x); free(dy); free(g); free(b); free(rm0); free(rv0); free(rm_ref); free(rv_ref); free(rm); free(rv);
    free(y_ref); free(dx_ref); free(m_ref); free(r_ref); free(dg_ref); free(db_ref); free(xb); free(dyb); free(yb);
    free(dxb); free(y); free(dx); free(m); free(r); free(dg); free(db); free(y16); free(dx16);
}

static void test_bn(void) {
    bn_case(3, 32, 49, 1, 1, 0.2f);   /* odd pixel count, two blocks */
    bn_case(3, 32, 49, 0, 1, 0.2f);
    bn_case(2, 16, 300, 1, 1, 0.f);   /* no activation; pixels > one f32 chunk */
    bn_case(4, 48, 16, 1, 0, 0.2f);   /* eval */
    bn_case(4, 5, 16, 0, 0, 0.2f);
    bn_case(5, 7, 9, 0, 1, 0.2f);     /* plain, odd channels */
    /* statistics of data with a large mean and a tiny spread (one-pass shifted sums must not cancel) */
    for (int blocked = 0; blocked < 2; blocked++) {
        const int n = 4, c = 16, hw = 50;
        const size_t cnt = (size_t)n * c * hw;
        float *x = rnd(cnt, -0.01f, 0.01f), *xb = malloc(cnt * 4), *y = malloc(cnt * 4), *yb = malloc(cnt * 4);
        float *y_ref = malloc(cnt * 4), m[16], r[16], m_ref[16], r_ref[16];
        for (size_t i = 0; i < cnt; i++) x[i] += 1000.f;
        re_bn_forward_train(y_ref, m_ref, r_ref, x, NULL, NULL, NULL, NULL, 0.1f, 1e-5f, n, c, hw);
        re_act_shape sh = {n, c, hw, blocked ? RE_DNNL_BLOCKED : RE_DNNL_NCHW};
        if (blocked) to_blocked(xb, x, n, c, hw); else memcpy(xb, x, cnt * 4);
        re_bn_act_forward(&sh, yb, NULL, xb, m, r, NULL, NULL, NULL, NULL, 0.1f, 1e-5f, 1, 0.f);
        if (blocked) from_blocked(y, yb, n, c, hw); else memcpy(y, yb, cnt * 4);
        re_test_close("bn offset data: mean", m, m_ref, c, 1e-6, 1e-14);
        re_test_close("bn offset data: rstd", r, r_ref, c, 1e-5, 1e-12);
        re_test_close("bn offset data: y", y, y_ref, cnt, 1e-2, 1e-6);
        free(x); free(xb); free(y); free(yb); free(y_ref);
    }
    /* LeakyReLU backward with bf16 in/out */
    size_t cnt = 1000;
    float *y = rnd(cnt, -1, 1), *dy = rnd(cnt, -1, 1), *ref = malloc(cnt * 4), *got = malloc(cnt * 4);
    uint16_t *y16 = malloc(cnt * 2), *d16 = malloc(cnt * 2);
    re_lrelu_backward(ref, dy, y, cnt, 0.2f);
    re_bf16_convert(y16, y, cnt);
    re_lrelu_backward_mixed(got, d16, dy, NULL, y16, cnt, 0.2f);
    re_test_close("lrelu backward (bf16 mask)", got, ref, cnt, 1e-6, 1e-12);
    check_bf16("lrelu backward bf16 out", d16, ref, cnt);
    free(y); free(dy); free(ref); free(got); free(y16); free(d16);
}

/* The reference conv (transposed: transposed conv): the forward into out when out is not NULL, the backward into
 * din_ref, dw_ref and db_ref when din_ref is not NULL. */
static void conv_ref(int transposed, const re_conv_params *p, float *out, const float *in, const float *w,
                     const float *b, float *din_ref, float *dw_ref, float *db_ref, const float *dout) {
    if (out && transposed) re_deconv2d_forward_ref(out, in, w, b, p);
    else if (out) re_conv2d_forward_ref(out, in, w, b, p);
    if (din_ref && transposed) re_deconv2d_backward_ref(din_ref, dw_ref, db_ref, dout, in, w, p);
    else if (din_ref) re_conv2d_backward_ref(din_ref, dw_ref, db_ref, dout, in, w, p);
}

/* A conv case's three gradients against the reference's ("PREFIXdin", "PREFIXdw", "PREFIXdb"). */
static void close_grads(const char *prefix, const float *din, const float *din_ref, size_t n_in, const float *dw,
                        const float *dw_ref, size_t n_w, const float *db, const float *db_ref, int oc) {
    char what[64];
    snprintf(what, sizeof what, "%sdin", prefix);
    re_test_close(what, din, din_ref, n_in, 1e-4, 1e-8);
    snprintf(what, sizeof what, "%sdw", prefix);
    re_test_close(what, dw, dw_ref, n_w, 1e-4, 1e-8);
    snprintf(what, sizeof what, "%sdb", prefix);
    re_test_close(what, db, db_ref, oc, 1e-4, 1e-8);
}

/* One conv case through the _ex API with blocked src/dst (and optionally a fused LeakyReLU), vs the reference. */
static void conv_case(int transposed, int n, int ic, int oc, int h, int k, int s, int pad, int src_blk, int dst_blk,
                      float slope, int inference) {
    char what[160];
    re_conv_params p = {.n = n, .ic = ic, .h = h, .w = h, .oc = oc, .kh = k, .kw = k, .stride = s, .pad = pad};
    CHECK(re_conv_params_finish(&p, transposed));
    snprintf(what, sizeof what, "%s n%d %d->%d %d k%d s%d src %s dst %s slope %.1f%s", transposed ? "deconv" : "conv",
             n, ic, oc, h, k, s, src_blk ? "blk" : "nchw", dst_blk ? "blk" : "nchw", slope, inference ? " infer" : "");
    const int ohw = p.oh * p.ow, ihw = h * h;
    size_t n_in = (size_t)n * ic * ihw, n_out = (size_t)n * oc * ohw, n_w = (size_t)ic * oc * k * k;
    float *in = rnd(n_in, -1, 1), *w = rnd(n_w, -0.3f, 0.3f), *b = rnd(oc, -0.5f, 0.5f), *dout = rnd(n_out, -1, 1);
    float *out_ref = malloc(n_out * 4), *din_ref = malloc(n_in * 4), *dw_ref = malloc(n_w * 4), *db_ref = malloc(oc * 4);
    float *inb = malloc(n_in * 4), *doutb = malloc(n_out * 4), *outb = malloc(n_out * 4), *out = malloc(n_out * 4);
    float *dinb = malloc(n_in * 4), *din = malloc(n_in * 4), *dw = malloc(n_w * 4), *db = malloc(oc * 4);
    conv_ref(transposed, &p, out_ref, in, w, b, NULL, NULL, NULL, NULL);
    if (slope > 0) re_lrelu_forward(out_ref, out_ref, n_out, slope);
    if (src_blk) to_blocked(inb, in, n, ic, ihw); else memcpy(inb, in, n_in * 4);
    if (dst_blk) to_blocked(doutb, dout, n, oc, ohw); else memcpy(doutb, dout, n_out * 4);
    re_dnnl_conv_opts o = {.src_layout = src_blk ? RE_DNNL_BLOCKED : RE_DNNL_NCHW,
                           .dst_layout = dst_blk ? RE_DNNL_BLOCKED : RE_DNNL_NCHW, .lrelu = slope,
                           .inference = inference};
    re_dnnl_conv *c = NULL;
    CHECK_OK(re_dnnl_conv_create_ex(&c, &p, transposed, 1, &o));
    if (!c) goto done;
    char desc[256];
    re_dnnl_conv_describe(c, desc, sizeof desc);
    printf("%s: %s\n", what, desc);
    for (int rep = 0; rep < 2; rep++) { /* rep 1: w_same, weights reorder skipped */
        CHECK_OK(re_dnnl_conv_forward_ex(c, outb, inb, w, b, rep));
        if (dst_blk) from_blocked(out, outb, n, oc, ohw); else memcpy(out, outb, n_out * 4);
        re_test_close(what, out, out_ref, n_out, 1e-4, 1e-8);
    }
    if (inference) {
        CHECK(re_dnnl_conv_backward_ex(c, dinb, dw, db, doutb, NULL, NULL) == RE_ERR_ARG);
        /* w_same = 0 after a weight change must pick the new weights up */
        for (size_t i = 0; i < n_w; i++) w[i] *= -0.5f;
        conv_ref(transposed, &p, out_ref, in, w, b, NULL, NULL, NULL, NULL);
        if (slope > 0) re_lrelu_forward(out_ref, out_ref, n_out, slope);
        CHECK_OK(re_dnnl_conv_forward_ex(c, outb, inb, w, b, 0));
        if (dst_blk) from_blocked(out, outb, n, oc, ohw); else memcpy(out, outb, n_out * 4);
        re_test_close("after weight change", out, out_ref, n_out, 1e-4, 1e-8);
    } else if (slope == 0) {
        conv_ref(transposed, &p, NULL, in, w, b, din_ref, dw_ref, db_ref, dout);
        CHECK_OK(re_dnnl_conv_backward_ex(c, dinb, dw, db, doutb, NULL, NULL));
        if (src_blk) from_blocked(din, dinb, n, ic, ihw); else memcpy(din, dinb, n_in * 4);
        close_grads("", din, din_ref, n_in, dw, dw_ref, n_w, db, db_ref, oc);
    }
    re_dnnl_conv_free(c);
done:
    free(in); free(w); free(b); free(dout); free(out_ref); free(din_ref); free(dw_ref); free(db_ref); free(inb);
    free(doutb); free(outb); free(out); free(dinb); free(din); free(dw); free(db);
}

static void conv_case_bf16(int transposed, int n, int ic, int oc, int h);

static void test_conv(void) {
    conv_case(0, 3, 16, 32, 9, 4, 2, 1, 1, 1, 0.f, 0);
    conv_case(0, 2, 32, 16, 8, 3, 1, 1, 1, 1, 0.f, 0);     /* Winograd-eligible shape */
    conv_case(1, 3, 32, 16, 5, 4, 2, 1, 1, 1, 0.f, 0);     /* transposed: bias added by our own pass */
    conv_case(1, 2, 32, 3, 6, 4, 2, 1, 1, 0, 0.f, 0);      /* few-channel path from a blocked input */
    conv_case(0, 2, 3, 16, 10, 3, 1, 1, 0, 1, 0.f, 0);     /* image in, blocked out */
    conv_case(0, 2, 16, 48, 7, 4, 2, 1, 1, 0, 0.f, 0);     /* blocked in, plain out */
    conv_case(0, 3, 16, 32, 9, 4, 2, 1, 1, 1, 0.2f, 0);    /* fused LeakyReLU, training forward */
    conv_case(0, 1, 16, 32, 9, 4, 2, 1, 1, 1, 0.2f, 1);    /* inference, batch 1 */
    conv_case(1, 1, 32, 16, 4, 4, 2, 1, 1, 1, 0.2f, 1);    /* inference transposed + LeakyReLU */
    conv_case(0, 1, 32, 32, 8, 3, 1, 1, 1, 1, 0.2f, 1);
    conv_case_bf16(0, 3, 16, 32, 10);
    conv_case_bf16(1, 2, 32, 16, 5);
    /* a blocked layout needs channels % 16 == 0 */
    re_conv_params p = {.n = 1, .ic = 8, .h = 8, .w = 8, .oc = 16, .kh = 3, .kw = 3, .stride = 1, .pad = 1};
    CHECK(re_conv_params_finish(&p, 0));
    re_dnnl_conv_opts o = {.src_layout = RE_DNNL_BLOCKED};
    re_dnnl_conv *c = NULL;
    CHECK(re_dnnl_conv_create_ex(&c, &p, 0, 1, &o) == RE_ERR_ARG && c == NULL);
}

/* RNE rounding of f32 to bf16, returned as f32. */
static float round_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* bf16 compute: the reference on bf16-rounded inputs, weights and output gradients must match the oneDNN bf16
 * layer up to summation order (both accumulate at least in f32), so the f32 tolerances apply. */
static void conv_case_bf16(int transposed, int n, int ic, int oc, int h) {
    char what[160];
    re_conv_params p = {.n = n, .ic = ic, .h = h, .w = h, .oc = oc, .kh = 4, .kw = 4, .stride = 2, .pad = 1};
    CHECK(re_conv_params_finish(&p, transposed));
    snprintf(what, sizeof what, "bf16 %s n%d %d->%d %d", transposed ? "deconv" : "conv", n, ic, oc, h);
    const int ohw = p.oh * p.ow, ihw = h * h;
    size_t n_in = (size_t)n * ic * ihw, n_out = (size_t)n * oc * ohw, n_w = (size_t)ic * oc * 16;
    float *in = rnd(n_in, -1, 1), *w = rnd(n_w, -0.3f, 0.3f), *b = rnd(oc, -0.5f, 0.5f), *dout = rnd(n_out, -1, 1);
    float *wr = malloc(n_w * 4), *tmp = malloc((n_in > n_out ? n_in : n_out) * 4);
    uint16_t *in16 = malloc(n_in * 2), *dout16 = malloc(n_out * 2);
    float *out_ref = malloc(n_out * 4), *din_ref = malloc(n_in * 4), *dw_ref = malloc(n_w * 4), *db_ref = malloc(oc * 4);
    float *out = malloc(n_out * 4), *outp = malloc(n_out * 4), *din = malloc(n_in * 4), *dinp = malloc(n_in * 4);
    float *dw = malloc(n_w * 4), *db = malloc(oc * 4);
    for (size_t i = 0; i < n_in; i++) in[i] = round_bf16(in[i]);
    for (size_t i = 0; i < n_out; i++) dout[i] = round_bf16(dout[i]);
    for (size_t i = 0; i < n_w; i++) wr[i] = round_bf16(w[i]);
    conv_ref(transposed, &p, out_ref, in, wr, b, din_ref, dw_ref, db_ref, dout);
    to_blocked(tmp, in, n, ic, ihw);
    re_bf16_convert(in16, tmp, n_in);      /* exact: already representable */
    to_blocked(tmp, dout, n, oc, ohw);
    re_bf16_convert(dout16, tmp, n_out);
    re_dnnl_conv_opts o = {.src_layout = RE_DNNL_BLOCKED, .dst_layout = RE_DNNL_BLOCKED, .src_dtype = RE_DNNL_BF16,
                           .ddst_dtype = RE_DNNL_BF16, .bf16 = 1};
    re_dnnl_conv *c = NULL;
    re_status st = re_dnnl_conv_create_ex(&c, &p, transposed, 1, &o);
    if (st != RE_OK) {
        printf("SKIP %s: %s\n", what, re_last_error()); /* no bf16 kernels on this CPU */
        goto done;
    }
    CHECK_OK(re_dnnl_conv_forward_ex(c, outp, in16, w, b, 0)); /* f32 weights: the layer rounds them (RNE) */
    from_blocked(out, outp, n, oc, ohw);
    re_test_close(what, out, out_ref, n_out, 1e-4, 1e-8);
    CHECK_OK(re_dnnl_conv_backward_ex(c, dinp, dw, db, dout16, NULL, NULL));
    from_blocked(din, dinp, n, ic, ihw);
    close_grads("bf16 ", din, din_ref, n_in, dw, dw_ref, n_w, db, db_ref, oc);
    re_dnnl_conv_free(c);
done:
    free(in); free(w); free(b); free(dout); free(wr); free(tmp); free(in16); free(dout16); free(out_ref);
    free(din_ref); free(dw_ref); free(db_ref); free(out); free(outp); free(din); free(dinp); free(dw); free(db);
}

/* Whole steps and runners, oneDNN plan vs reference backend. */
static void test_model(re_train_mode mode) {
    re_config c = re_test_cfg32();
    re_test_twins tw;
    if (!re_test_twins_create(&tw, &c, 11, mode, 3)) goto done0;
    re_model *a = tw.a, *b = tw.b;
    re_trainer *ta = tw.ta, *tb = tw.tb;
    const size_t img = 3 * 32 * 32;
    float *x = rnd(3 * img, 0, 1), *mu_a = malloc(3 * 24 * 4), *mu_b = malloc(3 * 24 * 4);
    float *xa = malloc(3 * img * 4), *xb = malloc(3 * img * 4);
    re_runner *ra = NULL, *rb = NULL;
    CHECK_OK(re_runner_create(&ra, a, 3));
    CHECK_OK(re_runner_create(&rb, b, 3));
    if (!ra || !rb) goto done;
    /* runners before training (their oneDNN state caches folded, reordered weights) */
    CHECK_OK(re_encode(ra, x, 3, mu_a, NULL));
    CHECK_OK(re_encode(rb, x, 3, mu_b, NULL));
    re_test_close("cfg32 encode dnnl vs ref", mu_b, mu_a, 3 * 24, 1e-4, 1e-8);
    /* a few steps (weights and BN running statistics move) */
    for (int s = 0; s < 2; s++) {
        re_step_stats sa, sb;
        re_test_twins_step(&tw, x, s, &sa, &sb);
    }
    /* Adam turns the pure-noise gradients of the conv biases in front of BatchNorm into +-lr steps, so the two
     * models' weights drift apart slightly; give the reference model the oneDNN model's weights, then the runners
     * must agree: the oneDNN runner has to notice that training changed its model. */
    CHECK_OK(re_model_copy_weights(a, b));
    CHECK_OK(re_encode(ra, x, 3, mu_a, NULL));
    CHECK_OK(re_encode(rb, x, 3, mu_b, NULL));
    re_test_close("cfg32 encode dnnl vs ref after training", mu_b, mu_a, 3 * 24, 1e-4, 1e-8);
    CHECK_OK(re_decode(ra, mu_a, 3, xa));
    CHECK_OK(re_decode(rb, mu_a, 3, xb));
    re_test_close("cfg32 decode dnnl vs ref after training", xb, xa, 3 * img, 1e-4, 1e-8);
    /* gradients of one more step on identical weights (same RNG state: same eps) */
    re_trainer_step_ex(ta, x, NULL, NULL, 0);
    re_trainer_step_ex(tb, x, NULL, NULL, 0);
    re_test_close("cfg32 grads dnnl vs ref", re_trainer_grads(tb), re_trainer_grads(ta), a->data_count, 1e-3, 1e-7);
    /* the oneDNN runner after re_model_copy_weights from a freshly initialized model (no version bump: the
     * fingerprint must catch it) */
    re_model *fresh = NULL;
    CHECK_OK(re_model_create(&fresh, &c, 99, 1));
    if (fresh) {
        CHECK_OK(re_model_copy_weights(b, fresh));
        CHECK_OK(re_model_copy_weights(a, fresh));
        CHECK_OK(re_encode(ra, x, 3, mu_a, NULL));
        CHECK_OK(re_encode(rb, x, 3, mu_b, NULL));
        re_test_close("cfg32 encode after copy_weights", mu_b, mu_a, 3 * 24, 1e-4, 1e-8);
        CHECK_OK(re_decode(ra, mu_a, 2, xa)); /* n < batch: padded */
        CHECK_OK(re_decode(rb, mu_a, 2, xb));
        re_test_close("cfg32 decode after copy_weights", xb, xa, 2 * img, 1e-4, 1e-8);
        re_model_free(fresh);
    }
done:
    free(x); free(mu_a); free(mu_b); free(xa); free(xb);
    re_runner_free(ra); re_runner_free(rb);
done0:
    re_test_twins_free(&tw);
}
#endif

int main(void) {
#ifdef RE_HAVE_DNNL
    if (!re_dnnl_available()) {
        printf("SKIP: oneDNN not available: %s\n", re_last_error());
        return 0;
    }
    re_rng_seed(&g_rng, 2024);
    test_bn();
    test_conv();
    test_model(RE_MODE_VAE);
    test_model(RE_MODE_VAEGAN);
    RE_TEST_END();
#else
    printf("SKIP: built without oneDNN\n");
    return 0;
#endif
}
