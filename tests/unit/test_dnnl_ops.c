/*
 * test_dnnl_ops.c - the oneDNN layers (src/backend/dnnl.c) against the reference ops (src/ops/conv2d.c,
 * linear.c): forward and every backward output of conv2d (k3 s1 p1, k4 s2 p1), transposed conv (k4 s2 p1) and
 * linear, on odd shapes (batch 3, channels 5/7/17/33, spatial 9x11, stride 2 with floor truncation) and on
 * channel counts that are multiples of 16 (where oneDNN picks its blocked AVX-512 kernels and reorders).
 * Also checks the contracts: backward overwrites (buffers are pre-filled with garbage), NULL din/dw/db skip
 * that output, in/w == NULL reuse the latest forward's, bad geometry and NULL arguments fail with RE_ERR_ARG.
 *
 * Tolerance: both sides compute in f32 storage, but the reference accumulates in double in loop order while
 * oneDNN accumulates in f32 in blocked order (and splits reductions across threads for dw/db; 3x3 layers use
 * Winograd transforms). Accumulation over K <= ~600 terms gives relative errors around sqrt(K) * 6e-8 of the
 * typical term; observed NMSE is ~1e-14 for direct kernels and ~5e-13 for Winograd. An array passes at
 * NMSE <= 1e-8 (or max relative error <= 1e-4): four orders of margin for accumulation order, while a wrong
 * layout, index, stride phase or missing border tap gives NMSE >= 1e-4.
 *
 * Run: ctest --test-dir build -R test_dnnl_ops   (prints SKIP and exits 0 in a build without oneDNN)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/dnnl.h"
#include "core/core.h"
#include "ops/ops.h"
#include "re_test.h"

#define REL_TOL 1e-4
#define NMSE_TOL 1e-8
#define GARBAGE 12345.0f

static re_rng g_rng;

static float *rand_buf(size_t n) {
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "FAIL: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)(2.0 * re_rng_uniform(&g_rng) - 1.0);
    return p;
}

static float *garbage_buf(size_t n) {
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "FAIL: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = GARBAGE;
    return p;
}

static void fill_garbage(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = GARBAGE;
}

static int all_garbage(const float *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != GARBAGE) return 0;
    return 1;
}

/* The layer under test: a oneDNN conv / transposed conv (conv set) or linear (linear set), with the reference ops
 * it must match. */
typedef struct {
    re_dnnl_conv *conv;
    re_conv_params p;
    int transposed;
    re_dnnl_linear *linear;
    int n, in_f, out_f;
} layer;

static void ref_forward(const layer *L, float *out, const float *in, const float *wt, const float *b) {
    if (L->linear) re_linear_forward_ref(out, in, wt, b, L->n, L->in_f, L->out_f);
    else if (L->transposed) re_deconv2d_forward_ref(out, in, wt, b, &L->p);
    else re_conv2d_forward_ref(out, in, wt, b, &L->p);
}

static void ref_backward(const layer *L, float *din, float *dw, float *db, const float *dout, const float *in,
                         const float *wt) {
    if (L->linear) re_linear_backward_ref(din, dw, db, dout, in, wt, L->n, L->in_f, L->out_f);
    else if (L->transposed) re_deconv2d_backward_ref(din, dw, db, dout, in, wt, &L->p);
    else re_conv2d_backward_ref(din, dw, db, dout, in, wt, &L->p);
}

static re_status dnnl_forward(const layer *L, float *out, const float *in, const float *wt, const float *b) {
    return L->linear ? re_dnnl_linear_forward(L->linear, out, in, wt, b) : re_dnnl_conv_forward(L->conv, out, in, wt, b);
}

static re_status dnnl_backward(const layer *L, float *din, float *dw, float *db, const float *dout, const float *in,
                               const float *wt) {
    return L->linear ? re_dnnl_linear_backward(L->linear, din, dw, db, dout, in, wt)
                     : re_dnnl_conv_backward(L->conv, din, dw, db, dout, in, wt);
}

/* One case on random data: forward, full backward (twice: it overwrites), partial backwards, and backward with
 * in/w == NULL reusing the latest forward's. n_b is the bias length (output channels or features). */
static void layer_case(const layer *L, const char *tag, size_t n_in, size_t n_out, size_t n_w, size_t n_b, int bias) {
    char what[160];
    float *in = rand_buf(n_in), *in2 = rand_buf(n_in), *wt = rand_buf(n_w), *b = rand_buf(n_b), *dout = rand_buf(n_out);
    float *out = garbage_buf(n_out), *out_ref = garbage_buf(n_out);
    float *din = garbage_buf(n_in), *din_ref = garbage_buf(n_in);
    float *dw = garbage_buf(n_w), *dw_ref = garbage_buf(n_w), *db = garbage_buf(n_b), *db_ref = garbage_buf(n_b);

    /* forward */
    ref_forward(L, out_ref, in, wt, bias ? b : NULL);
    CHECK_OK(dnnl_forward(L, out, in, wt, b));
    snprintf(what, sizeof what, "%s forward", tag);
    re_test_close(what, out, out_ref, n_out, REL_TOL, NMSE_TOL);

    /* full backward, explicit in/w */
    ref_backward(L, din_ref, dw_ref, bias ? db_ref : NULL, dout, in, wt);
    CHECK_OK(dnnl_backward(L, din, dw, bias ? db : NULL, dout, in, wt));
    snprintf(what, sizeof what, "%s din", tag);
    re_test_close(what, din, din_ref, n_in, REL_TOL, NMSE_TOL);
    snprintf(what, sizeof what, "%s dw", tag);
    re_test_close(what, dw, dw_ref, n_w, REL_TOL, NMSE_TOL);
    if (bias) {
        snprintf(what, sizeof what, "%s db", tag);
        re_test_close(what, db, db_ref, n_b, REL_TOL, NMSE_TOL);
    } else {
        CHECK_MSG(all_garbage(db, n_b), "%s: db written by a layer without bias", tag);
    }

    /* overwrite, not accumulate: a second identical call gives the same result */
    CHECK_OK(dnnl_backward(L, din, dw, bias ? db : NULL, dout, in, wt));
    snprintf(what, sizeof what, "%s din (2nd call)", tag);
    re_test_close(what, din, din_ref, n_in, REL_TOL, NMSE_TOL);
    snprintf(what, sizeof what, "%s dw (2nd call)", tag);
    re_test_close(what, dw, dw_ref, n_w, REL_TOL, NMSE_TOL);

    /* input grad only: dw/db untouched */
    fill_garbage(din, n_in);
    fill_garbage(dw, n_w);
    fill_garbage(db, n_b);
    CHECK_OK(dnnl_backward(L, din, NULL, NULL, dout, in, wt));
    snprintf(what, sizeof what, "%s din only", tag);
    re_test_close(what, din, din_ref, n_in, REL_TOL, NMSE_TOL);
    CHECK_MSG(all_garbage(dw, n_w) && all_garbage(db, n_b), "%s: dw/db written when NULL was passed", tag);

    /* weight grad only (first layer: din NULL) */
    fill_garbage(din, n_in);
    CHECK_OK(dnnl_backward(L, NULL, dw, NULL, dout, in, wt));
    snprintf(what, sizeof what, "%s dw only", tag);
    re_test_close(what, dw, dw_ref, n_w, REL_TOL, NMSE_TOL);
    CHECK_MSG(all_garbage(din, n_in) && all_garbage(db, n_b), "%s: din/db written when NULL was passed", tag);

    if (bias) { /* bias grad only */
        fill_garbage(dw, n_w);
        CHECK_OK(dnnl_backward(L, NULL, NULL, db, dout, in, wt));
        snprintf(what, sizeof what, "%s db only", tag);
        re_test_close(what, db, db_ref, n_b, REL_TOL, NMSE_TOL);
        CHECK_MSG(all_garbage(dw, n_w), "%s: dw written when NULL was passed", tag);
    }

    /* forward on a second input, then backward with in/w == NULL must use that input and the weights */
    CHECK_OK(dnnl_forward(L, out, in2, wt, b));
    ref_backward(L, din_ref, dw_ref, NULL, dout, in2, wt);
    fill_garbage(din, n_in);
    fill_garbage(dw, n_w);
    CHECK_OK(dnnl_backward(L, din, dw, NULL, dout, NULL, NULL));
    snprintf(what, sizeof what, "%s din (reused w)", tag);
    re_test_close(what, din, din_ref, n_in, REL_TOL, NMSE_TOL);
    snprintf(what, sizeof what, "%s dw (reused in)", tag);
    re_test_close(what, dw, dw_ref, n_w, REL_TOL, NMSE_TOL);

    free(in); free(in2); free(wt); free(b); free(dout); free(out); free(out_ref);
    free(din); free(din_ref); free(dw); free(dw_ref); free(db); free(db_ref);
}

/* One conv or transposed-conv case. */
static void conv_case(int transposed, int n, int ic, int oc, int h, int w, int k, int s, int pad, int bias) {
    char tag[128], desc[256];
    layer L = {.p = {.n = n, .ic = ic, .h = h, .w = w, .oc = oc, .kh = k, .kw = k, .stride = s, .pad = pad},
               .transposed = transposed};
    CHECK(re_conv_params_finish(&L.p, transposed));
    snprintf(tag, sizeof tag, "%s n%d %d->%d %dx%d k%d s%d p%d%s", transposed ? "deconv" : "conv", n, ic, oc, h, w, k,
             s, pad, bias ? " bias" : "");
    CHECK_OK(re_dnnl_conv_create(&L.conv, &L.p, transposed, bias));
    if (!L.conv) return;
    re_dnnl_conv_describe(L.conv, desc, sizeof desc);
    printf("%s: %s\n", tag, desc);
    layer_case(&L, tag, (size_t)n * ic * h * w, (size_t)n * oc * L.p.oh * L.p.ow, (size_t)oc * ic * k * k, oc, bias);
    re_dnnl_conv_free(L.conv);
}

static void linear_case(int n, int in_f, int out_f, int bias) {
    char tag[96], desc[256];
    layer L = {.n = n, .in_f = in_f, .out_f = out_f};
    snprintf(tag, sizeof tag, "linear n%d %d->%d%s", n, in_f, out_f, bias ? " bias" : "");
    CHECK_OK(re_dnnl_linear_create(&L.linear, n, in_f, out_f, bias));
    if (!L.linear) return;
    re_dnnl_linear_describe(L.linear, desc, sizeof desc);
    printf("%s: %s\n", tag, desc);
    layer_case(&L, tag, (size_t)n * in_f, (size_t)n * out_f, (size_t)out_f * in_f, out_f, bias);
    re_dnnl_linear_free(L.linear);
}

static void contract_checks(void) {
    re_conv_params p = {.n = 2, .ic = 3, .h = 8, .w = 8, .oc = 4, .kh = 3, .kw = 3, .stride = 1, .pad = 1};
    re_dnnl_conv *c = (re_dnnl_conv *)&p; /* must be reset to NULL on failure */
    CHECK(re_conv_params_finish(&p, 0));
    p.oh = 7; /* inconsistent with the geometry */
    CHECK_EQ_INT(re_dnnl_conv_create(&c, &p, 0, 1), RE_ERR_ARG);
    CHECK(c == NULL);
    CHECK(strstr(re_last_error(), "expected") != NULL);
    p.oh = 8;
    p.stride = 0;
    CHECK_EQ_INT(re_dnnl_conv_create(&c, &p, 0, 1), RE_ERR_ARG);
    p.stride = 1;
    CHECK_EQ_INT(re_dnnl_conv_create(NULL, &p, 0, 1), RE_ERR_ARG);
    re_dnnl_linear *l = NULL;
    CHECK_EQ_INT(re_dnnl_linear_create(&l, 0, 4, 4, 1), RE_ERR_ARG);
    CHECK(l == NULL);

    CHECK_OK(re_dnnl_conv_create(&c, &p, 0, 1));
    if (c) {
        float buf[2 * 4 * 8 * 8] = {0}, wt[4 * 3 * 9] = {0};
        /* backward with in == NULL before any forward: nothing to reuse */
        CHECK_EQ_INT(re_dnnl_conv_backward(c, NULL, wt, NULL, buf, NULL, wt), RE_ERR_ARG);
        CHECK_EQ_INT(re_dnnl_conv_backward(c, buf, NULL, NULL, buf, buf, NULL), RE_ERR_ARG);
        CHECK_EQ_INT(re_dnnl_conv_backward(c, buf, wt, NULL, NULL, buf, wt), RE_ERR_ARG);
        /* bias layer needs b */
        CHECK_EQ_INT(re_dnnl_conv_forward(c, buf, buf, wt, NULL), RE_ERR_ARG);
        CHECK_EQ_INT(re_dnnl_conv_forward(c, NULL, buf, wt, wt), RE_ERR_ARG);
    }
    re_dnnl_conv_free(c);
    re_dnnl_conv_free(NULL);
    re_dnnl_linear_free(NULL);
    CHECK_EQ_INT(re_dnnl_conv_forward(NULL, NULL, NULL, NULL, NULL), RE_ERR_ARG);
}

int main(void) {
#ifndef RE_HAVE_DNNL
    CHECK_EQ_INT(re_dnnl_available(), 0);
    printf("SKIP: built without oneDNN (the stubs return RE_ERR_UNSUPPORTED)\n");
    return 0;
#endif
    CHECK_MSG(re_dnnl_available(), "oneDNN is built in but its CPU engine does not start: %s", re_last_error());
    if (!re_dnnl_available()) RE_TEST_END();
    CHECK_OK(re_dnnl_init());
    re_rng_seed(&g_rng, 20240601);

    /* odd shapes: batch 3, channels 5 and 7, 9x11 */
    conv_case(0, 3, 5, 7, 9, 11, 3, 1, 1, 1);   /* conv k3 s1 p1 */
    conv_case(0, 3, 5, 7, 9, 11, 4, 2, 1, 1);   /* conv k4 s2 p1: 9x11 -> 4x5, last input row/col dropped */
    conv_case(1, 3, 7, 5, 5, 6, 4, 2, 1, 1);    /* deconv k4 s2 p1: 5x6 -> 10x12 */
    conv_case(0, 3, 3, 5, 9, 11, 3, 1, 1, 0);   /* 3-channel first layer, no bias */
    conv_case(0, 3, 17, 33, 7, 9, 4, 2, 1, 1);  /* channels just past a 16-block */
    conv_case(1, 3, 33, 17, 4, 5, 4, 2, 1, 0);  /* deconv, no bias */
    conv_case(1, 2, 32, 3, 5, 4, 4, 2, 1, 1);   /* deconv to RGB (decoder's last layer) */
    /* few-channel path (<= 4 channels on the produced side): conv backward-data into 3/2 channels, transposed
     * conv forward into 3/1 channels; odd sizes, stride 2 and 3 (exercises every stride phase of col2im) */
    conv_case(0, 3, 3, 7, 9, 11, 4, 2, 1, 1);   /* 9x11 -> 4x5: the dropped last row/col gets zero gradient */
    conv_case(1, 3, 7, 3, 5, 6, 4, 2, 1, 1);
    conv_case(0, 2, 2, 6, 10, 13, 5, 3, 2, 1);
    conv_case(1, 2, 6, 1, 4, 5, 5, 3, 2, 0);
    /* ... and at 64x64 / 32x32, where one image's columns are 192 KiB, so the batch of 3 runs in matmul chunks
     * of 2 images plus a remainder of 1 */
    conv_case(0, 3, 3, 8, 64, 64, 4, 2, 1, 1);
    conv_case(1, 3, 8, 3, 32, 32, 4, 2, 1, 0);
    /* multiples of 16: blocked layouts and jit kernels, reorders at the boundary */
    conv_case(0, 2, 32, 48, 10, 8, 3, 1, 1, 1);  /* direct: 160 output pixels, below the Winograd threshold */
    conv_case(0, 3, 17, 33, 9, 11, 3, 1, 1, 0);  /* Winograd (3x3 s1, >= 16 channels, >= 256 output pixels) odd size */
    conv_case(0, 2, 32, 64, 8, 8, 4, 2, 1, 1);
    conv_case(1, 2, 64, 32, 4, 4, 4, 2, 1, 1);

    linear_case(3, 37, 11, 1);
    linear_case(5, 64, 48, 0);
    linear_case(4, 256, 96, 1);

    contract_checks();
    RE_TEST_END();
}
