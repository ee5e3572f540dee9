/*
 * test_ops_torch.c - checks every operator of src/ops/ops.h (and, when built with oneDNN, the re_dnnl_* layer
 * objects) against PyTorch 1.13 results stored in tests/ref/data/op_*.safetensors.
 *
 * The data is committed and written by tools/gen_ref.py (float64 autograd on f32-exact inputs; references F64).
 * Each op case holds its inputs/params, "out", a random "dout" and "grad/<input>" = d sum(out*dout)/d input;
 * loss cases hold "loss" and "grad/<input>". A missing or unreadable reference file is a FAILURE, not a skip.
 * Every backward output buffer is pre-filled with NaN, which checks the "backward overwrites" contract of ops.h
 * (an accumulating implementation would keep the NaN and fail). The exception is re_loss_gdl_acc, which ADDS into its
 * gradient: test_gdl starts from zeros and checks the accumulation from a constant fill.
 *
 * Run: ctest -R test_ops_torch, or build/tests/test_ops_torch (data found from the cwd = repo root, else from the
 * source tree the binary was configured from, RE_SOURCE_DIR).
 *
 * Tolerances (re_test_close passes on max rel err <= REL or NMSE <= NMSE; rel err is |got-want|/(|want|+1e-6)):
 *  - conv / deconv / linear / batchnorm: REL 1e-4 or NMSE 1e-7. f32 dot products over 45..500 terms against an
 *    f64 reference give relative errors ~1e-6 on typical elements; elements that cancel to near zero have large
 *    relative error but negligible NMSE. A wrong index, stride, padding or layout gives NMSE ~1e-2 or more.
 *  - elementwise ops and loss gradients: REL 1e-5 or NMSE 1e-10. One or two f32 roundings per element (~1e-7);
 *    saturated sigmoid/tanh derivatives computed from the f32 output y lose relative accuracy (1-y rounds), which
 *    NMSE tolerates since those elements are tiny.
 *  - loss values (double accumulation of f32 terms): relative error <= 1e-5.
 *  - Adam: m and v as elementwise; the parameter CHANGE (after - before, in double) is compared rather than the
 *    parameter itself (a 1% wrong update of a ~1e-3 step would hide under the parameter's magnitude): REL 1e-4 or
 *    NMSE 1e-8 (the f32 parameter rounds at ~4e-9, ~4e-6 of a step).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/safetensors.h"
#include "ops/ops.h"
#include "model/model_internal.h"   /* re_adam_update */
#ifdef RE_HAVE_DNNL
#include "backend/dnnl.h"
#endif
#include "re_test.h"

#define REL_GEMM 1e-4
#define NMSE_GEMM 1e-7
#define REL_EW 1e-5
#define NMSE_EW 1e-10
#define REL_LOSS 1e-5

/* ---- helpers ------------------------------------------------------------------------------------------------ */

static re_st_file *open_case(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "tests/ref/data/%s.safetensors", name);
    re_st_file *f = NULL;
    re_status s = re_st_load(&f, path);
#ifdef RE_SOURCE_DIR
    if (s == RE_ERR_IO) {   /* not run from the repo root: try the source tree this binary was built from */
        snprintf(path, sizeof path, "%s/tests/ref/data/%s.safetensors", RE_SOURCE_DIR, name);
        s = re_st_load(&f, path);
    }
#endif
    CHECK_MSG(s == RE_OK, "%s: %s (the reference files are committed; regenerate with /usr/bin/python3 "
              "tools/gen_ref.py; run from the repo root)", path, re_last_error());
    if (s != RE_OK) return NULL;
    /* gen_ref.py writes data_sha256: this also cross-checks the reader's checksum path against Python's hashlib. */
    CHECK_MSG(f->checksum_verified == 1, "%s: data_sha256 not verified by the reader", path);
    return f;
}

static const re_st_tensor *find(const re_st_file *f, const char *name) {
    const re_st_tensor *t = re_st_find(f, name);
    CHECK_MSG(t != NULL, "%s: no tensor '%s'", f->path, name);
    return t;
}

/* Tensor `name` as a new malloc'd f32 array (F64 references are rounded once to f32, ~6e-8 relative, far below
 * every tolerance). *count receives numel. NULL (with a failed check) if absent or unreadable. */
static float *get(const re_st_file *f, const char *name, size_t *count) {
    const re_st_tensor *t = find(f, name);
    if (!t) return NULL;
    float *buf = malloc((t->numel ? t->numel : 1) * sizeof(float));
    if (!buf) {
        CHECK_MSG(0, "out of memory for %s", name);
        return NULL;
    }
    re_status s = re_st_to_f32(f, t, buf, t->numel);
    CHECK_MSG(s == RE_OK, "%s: tensor %s: %s", f->path, name, re_last_error());
    if (s != RE_OK) {
        free(buf);
        return NULL;
    }
    if (count) *count = t->numel;
    return buf;
}

/* A scalar reference (loss value) in full precision: F64 read directly. */
static double get_scalar(const re_st_file *f, const char *name) {
    const re_st_tensor *t = find(f, name);
    if (!t) return NAN;
    CHECK_MSG(t->numel == 1, "%s: %s has %zu elements, want 1", f->path, name, t->numel);
    if (t->dtype == RE_DT_F64) {
        double v;
        memcpy(&v, re_st_data(f, t), sizeof v);
        return v;
    }
    float v = NAN;
    CHECK_OK(re_st_to_f32(f, t, &v, 1));
    return v;
}

static double meta_num(const re_st_file *f, const char *key) {
    const char *v = re_st_meta(f, key);
    CHECK_MSG(v != NULL, "%s: no metadata '%s'", f->path, key);
    return v ? atof(v) : NAN;
}

/* NaN into p[0..n) (outputs the code under test must overwrite). */
static void fill_nan(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = NAN;
}

/* A buffer of n NaNs (to catch outputs that are not written, or accumulated into). */
static float *nanbuf(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) {
        CHECK_MSG(0, "out of memory");
        return NULL;
    }
    fill_nan(p, n);
    return p;
}

static void close_arr(const char *cs, const char *what, const float *got, const float *want, size_t n, double rel,
                      double nmse) {
    char label[160];
    snprintf(label, sizeof label, "%s: %s", cs, what);
    if (!got || !want) {
        CHECK_MSG(0, "%s: missing data", label);
        return;
    }
    re_test_close(label, got, want, n, rel, nmse);
}

static void close_scalar(const char *cs, const char *what, double got, double want, double rel) {
    double err = fabs(got - want) / (fabs(want) + 1e-12);
    CHECK_MSG(err <= rel, "%s: %s = %.10g, PyTorch %.10g (rel err %.3g > %.3g)", cs, what, got, want, err, rel);
}

#define FREE_ALL(...) do { void *_p[] = {__VA_ARGS__}; for (size_t _i = 0; _i < sizeof _p / sizeof *_p; _i++) free(_p[_i]); } while (0)

/* A conv / deconv / linear case: inputs x, w, b and dout, the PyTorch out and grad/{x,w,b}, and the outputs under
 * test (out, dx, dw, db). */
typedef struct {
    size_t nx, nw, nb, nout;
    float *x, *w, *b, *dout, *out_ref, *gx, *gw, *gb;
    float *out, *dx, *dw, *db;
    const re_st_tensor *tx, *tw;
} gemm_case;

/* Reads the case's tensors; 0 (after a failed check) when one is missing. */
static int gemm_load(gemm_case *g, const re_st_file *f) {
    memset(g, 0, sizeof *g);
    g->x = get(f, "x", &g->nx); g->w = get(f, "w", &g->nw); g->b = get(f, "b", &g->nb);
    g->dout = get(f, "dout", NULL); g->out_ref = get(f, "out", &g->nout);
    g->gx = get(f, "grad/x", NULL); g->gw = get(f, "grad/w", NULL); g->gb = get(f, "grad/b", NULL);
    g->tx = find(f, "x"); g->tw = find(f, "w");
    return g->x && g->w && g->b && g->dout && g->out_ref && g->gx && g->gw && g->gb && g->tx && g->tw;
}

/* Allocates the outputs, NaN-filled; 0 (after a failed check) when out of memory. */
static int gemm_outputs(gemm_case *g) {
    g->out = nanbuf(g->nout); g->dx = nanbuf(g->nx); g->dw = nanbuf(g->nw); g->db = nanbuf(g->nb);
    return g->out && g->dx && g->dw && g->db;
}

/* NaN into every output again (before the next implementation writes them). */
static void gemm_refill(gemm_case *g) {
    fill_nan(g->out, g->nout); fill_nan(g->dx, g->nx); fill_nan(g->dw, g->nw); fill_nan(g->db, g->nb);
}

/* Compares the forward out ("<impl> forward out") or the backward dx, dw, db ("<impl> backward dx"...) with PyTorch. */
static void gemm_close(const char *cs, const char *impl, const gemm_case *g, int backward) {
    char what[96];
    if (!backward) {
        snprintf(what, sizeof what, "%s forward out", impl);
        close_arr(cs, what, g->out, g->out_ref, g->nout, REL_GEMM, NMSE_GEMM);
        return;
    }
    snprintf(what, sizeof what, "%s backward dx", impl);
    close_arr(cs, what, g->dx, g->gx, g->nx, REL_GEMM, NMSE_GEMM);
    snprintf(what, sizeof what, "%s backward dw", impl);
    close_arr(cs, what, g->dw, g->gw, g->nw, REL_GEMM, NMSE_GEMM);
    snprintf(what, sizeof what, "%s backward db", impl);
    close_arr(cs, what, g->db, g->gb, g->nb, REL_GEMM, NMSE_GEMM);
}

static void gemm_free(gemm_case *g) {
    FREE_ALL(g->x, g->w, g->b, g->dout, g->out_ref, g->gx, g->gw, g->gb, g->out, g->dx, g->dw, g->db);
}

/* ---- conv2d / deconv2d ---------------------------------------------------------------------------------------- */

static void test_conv(const char *cs, int transposed) {
    re_st_file *f = open_case(cs);
    if (!f) return;
    gemm_case g;
    if (!gemm_load(&g, f)) goto done;
    re_conv_params p = {0};
    p.n = (int)g.tx->shape[0]; p.ic = (int)g.tx->shape[1]; p.h = (int)g.tx->shape[2]; p.w = (int)g.tx->shape[3];
    p.oc = (int)(transposed ? g.tw->shape[1] : g.tw->shape[0]);
    p.kh = (int)g.tw->shape[2]; p.kw = (int)g.tw->shape[3];
    p.stride = (int)meta_num(f, "stride"); p.pad = (int)meta_num(f, "pad");
    CHECK(re_conv_params_finish(&p, transposed));
    CHECK_EQ_INT(g.nout, (size_t)p.n * p.oc * p.oh * p.ow);
    if (g.nout != (size_t)p.n * p.oc * p.oh * p.ow) goto done;

    if (!gemm_outputs(&g)) goto done;
    if (transposed) re_deconv2d_forward_ref(g.out, g.x, g.w, g.b, &p);
    else re_conv2d_forward_ref(g.out, g.x, g.w, g.b, &p);
    gemm_close(cs, "ref", &g, 0);
    if (transposed) re_deconv2d_backward_ref(g.dx, g.dw, g.db, g.dout, g.x, g.w, &p);
    else re_conv2d_backward_ref(g.dx, g.dw, g.db, g.dout, g.x, g.w, &p);
    gemm_close(cs, "ref", &g, 1);

#ifdef RE_HAVE_DNNL
    {
        re_dnnl_conv *c = NULL;
        char desc[256];
        CHECK(re_dnnl_available());
        CHECK_OK(re_dnnl_conv_create(&c, &p, transposed, 1));
        if (c) {
            gemm_refill(&g);
            CHECK_OK(re_dnnl_conv_forward(c, g.out, g.x, g.w, g.b));
            gemm_close(cs, "dnnl", &g, 0);
            CHECK_OK(re_dnnl_conv_backward(c, g.dx, g.dw, g.db, g.dout, g.x, g.w));
            gemm_close(cs, "dnnl", &g, 1);
            /* in/w == NULL: "the in/w of the latest forward". */
            fill_nan(g.dx, g.nx);
            fill_nan(g.dw, g.nw);
            CHECK_OK(re_dnnl_conv_backward(c, g.dx, g.dw, NULL, g.dout, NULL, NULL));
            close_arr(cs, "dnnl backward dx (cached in/w)", g.dx, g.gx, g.nx, REL_GEMM, NMSE_GEMM);
            close_arr(cs, "dnnl backward dw (cached in/w)", g.dw, g.gw, g.nw, REL_GEMM, NMSE_GEMM);
            re_dnnl_conv_describe(c, desc, sizeof desc);
            printf("%s: dnnl %s\n", cs, desc);
            re_dnnl_conv_free(c);
        }
    }
#endif
done:
    gemm_free(&g);
    re_st_free(f);
}

/* ---- linear ------------------------------------------------------------------------------------------------- */

static void test_linear(void) {
    const char *cs = "op_linear";
    re_st_file *f = open_case(cs);
    if (!f) return;
    gemm_case g;
    if (!gemm_load(&g, f)) goto done;
    const int n = (int)g.tx->shape[0], in_f = (int)g.tx->shape[1], out_f = (int)g.tw->shape[0];
    CHECK_EQ_INT(g.nout, (size_t)n * out_f);
    if (!gemm_outputs(&g) || g.nout != (size_t)n * out_f) goto done;
    re_linear_forward_ref(g.out, g.x, g.w, g.b, n, in_f, out_f);
    gemm_close(cs, "ref", &g, 0);
    re_linear_backward_ref(g.dx, g.dw, g.db, g.dout, g.x, g.w, n, in_f, out_f);
    gemm_close(cs, "ref", &g, 1);
#ifdef RE_HAVE_DNNL
    {
        re_dnnl_linear *l = NULL;
        char desc[256];
        CHECK_OK(re_dnnl_linear_create(&l, n, in_f, out_f, 1));
        if (l) {
            gemm_refill(&g);
            CHECK_OK(re_dnnl_linear_forward(l, g.out, g.x, g.w, g.b));
            gemm_close(cs, "dnnl", &g, 0);
            CHECK_OK(re_dnnl_linear_backward(l, g.dx, g.dw, g.db, g.dout, g.x, g.w));
            gemm_close(cs, "dnnl", &g, 1);
            re_dnnl_linear_describe(l, desc, sizeof desc);
            printf("%s: dnnl %s\n", cs, desc);
            re_dnnl_linear_free(l);
        }
    }
#endif
done:
    gemm_free(&g);
    re_st_free(f);
}

/* ---- batchnorm ---------------------------------------------------------------------------------------------- */

static void test_bn(int training) {
    const char *cs = training ? "op_bn_train" : "op_bn_eval";
    re_st_file *f = open_case(cs);
    if (!f) return;
    size_t nx = 0, nc = 0;
    float *x = get(f, "x", &nx), *gamma = get(f, "gamma", &nc), *beta = get(f, "beta", NULL);
    float *rm = get(f, "running_mean_in", NULL), *rv = get(f, "running_var_in", NULL);
    float *dout = get(f, "dout", NULL), *out_ref = get(f, "out", NULL);
    float *gx = get(f, "grad/x", NULL), *gg = get(f, "grad/gamma", NULL), *gbeta = get(f, "grad/beta", NULL);
    float *mean_ref = NULL, *rstd_ref = NULL, *rm_ref = NULL, *rv_ref = NULL;
    float *out = NULL, *mean = NULL, *rstd = NULL, *dx = NULL, *dg = NULL, *db = NULL;
    const re_st_tensor *tx = find(f, "x");
    if (!x || !gamma || !beta || !rm || !rv || !dout || !out_ref || !gx || !gg || !gbeta || !tx) goto done;
    const int n = (int)tx->shape[0], c = (int)tx->shape[1], hw = (int)(tx->shape[2] * tx->shape[3]);
    const float eps = (float)meta_num(f, "eps"), mom = (float)meta_num(f, "momentum");
    CHECK_EQ_INT(nc, c);
    out = nanbuf(nx);
    if (!out || nc != (size_t)c) goto done;
    if (!training) {
        re_bn_forward_eval(out, x, gamma, beta, rm, rv, eps, n, c, hw);
        close_arr(cs, "eval forward out", out, out_ref, nx, REL_GEMM, NMSE_GEMM);
        goto done;   /* ops.h has no eval-mode backward (inference only) */
    }
    mean_ref = get(f, "mean", NULL); rstd_ref = get(f, "rstd", NULL);
    rm_ref = get(f, "running_mean_out", NULL); rv_ref = get(f, "running_var_out", NULL);
    mean = nanbuf(nc); rstd = nanbuf(nc); dx = nanbuf(nx); dg = nanbuf(nc); db = nanbuf(nc);
    if (!mean_ref || !rstd_ref || !rm_ref || !rv_ref || !mean || !rstd || !dx || !dg || !db) goto done;
    re_bn_forward_train(out, mean, rstd, x, gamma, beta, rm, rv, mom, eps, n, c, hw);
    close_arr(cs, "train forward out", out, out_ref, nx, REL_GEMM, NMSE_GEMM);
    close_arr(cs, "batch mean", mean, mean_ref, nc, REL_GEMM, NMSE_GEMM);
    close_arr(cs, "batch rstd", rstd, rstd_ref, nc, REL_GEMM, NMSE_GEMM);
    close_arr(cs, "running_mean after (momentum)", rm, rm_ref, nc, REL_GEMM, NMSE_GEMM);
    close_arr(cs, "running_var after (unbiased var, momentum)", rv, rv_ref, nc, REL_GEMM, NMSE_GEMM);
    re_bn_backward(dx, dg, db, dout, x, mean, rstd, gamma, n, c, hw);
    close_arr(cs, "backward dx", dx, gx, nx, REL_GEMM, NMSE_GEMM);
    close_arr(cs, "backward dgamma", dg, gg, nc, REL_GEMM, NMSE_GEMM);
    close_arr(cs, "backward dbeta", db, gbeta, nc, REL_GEMM, NMSE_GEMM);
done:
    FREE_ALL(x, gamma, beta, rm, rv, dout, out_ref, gx, gg, gbeta, mean_ref, rstd_ref, rm_ref, rv_ref, out, mean,
             rstd, dx, dg, db);
    re_st_free(f);
}

/* ---- activations -------------------------------------------------------------------------------------------- */

enum act_kind { ACT_LRELU, ACT_RELU, ACT_SIGMOID, ACT_TANH };

static void act_fwd(enum act_kind k, float *out, const float *in, size_t n, float slope) {
    switch (k) {
    case ACT_LRELU: re_lrelu_forward(out, in, n, slope); break;
    case ACT_RELU: re_relu_forward(out, in, n); break;
    case ACT_SIGMOID: re_sigmoid_forward(out, in, n); break;
    case ACT_TANH: re_tanh_forward(out, in, n); break;
    }
}

static void act_bwd(enum act_kind k, float *din, const float *dout, const float *y, size_t n, float slope) {
    switch (k) {
    case ACT_LRELU: re_lrelu_backward(din, dout, y, n, slope); break;
    case ACT_RELU: re_relu_backward(din, dout, y, n); break;
    case ACT_SIGMOID: re_sigmoid_backward(din, dout, y, n); break;
    case ACT_TANH: re_tanh_backward(din, dout, y, n); break;
    }
}

static void test_act(const char *cs, enum act_kind k) {
    re_st_file *f = open_case(cs);
    if (!f) return;
    size_t n = 0;
    float *x = get(f, "x", &n), *dout = get(f, "dout", NULL), *out_ref = get(f, "out", NULL);
    float *gx = get(f, "grad/x", NULL), *out = NULL, *inplace = NULL, *dx = NULL;
    if (!x || !dout || !out_ref || !gx) goto done;
    const float slope = k == ACT_LRELU ? (float)meta_num(f, "slope") : 0.f;
    out = nanbuf(n); dx = nanbuf(n); inplace = malloc(n * sizeof(float));
    if (!out || !dx || !inplace) goto done;
    act_fwd(k, out, x, n, slope);
    close_arr(cs, "forward out", out, out_ref, n, REL_EW, NMSE_EW);
    memcpy(inplace, x, n * sizeof(float));
    act_fwd(k, inplace, inplace, n, slope);   /* ops.h: the forward may run in place */
    close_arr(cs, "forward in place", inplace, out_ref, n, REL_EW, NMSE_EW);
    act_bwd(k, dx, dout, out, n, slope);
    close_arr(cs, "backward dx (from y)", dx, gx, n, REL_EW, NMSE_EW);
done:
    FREE_ALL(x, dout, out_ref, gx, out, inplace, dx);
    re_st_free(f);
}

/* ---- losses ------------------------------------------------------------------------------------------------- */

static void test_bce(void) {
    const char *cs = "op_bce";
    re_st_file *f = open_case(cs);
    if (!f) return;
    size_t cnt = 0;
    float *p = get(f, "p", &cnt), *t = get(f, "t", NULL), *gp = get(f, "grad/p", NULL), *g = NULL;
    const re_st_tensor *tp = find(f, "p");
    const double loss_ref = get_scalar(f, "loss");
    if (!p || !t || !gp || !tp) goto done;
    const int n = (int)tp->shape[0];
    const size_t d = cnt / (size_t)n;
    g = nanbuf(cnt);
    if (!g) goto done;
    close_scalar(cs, "loss", re_loss_bce(g, p, t, n, d, 1.f), loss_ref, REL_LOSS);
    close_arr(cs, "grad p", g, gp, cnt, REL_EW, NMSE_EW);
    /* scale multiplies the gradient only (the loss weight), not the returned value */
    for (size_t i = 0; i < cnt; i++) gp[i] *= 0.25f;
    fill_nan(g, cnt);
    close_scalar(cs, "loss (scale 0.25)", re_loss_bce(g, p, t, n, d, 0.25f), loss_ref, REL_LOSS);
    close_arr(cs, "grad p (scale 0.25)", g, gp, cnt, REL_EW, NMSE_EW);
    close_scalar(cs, "loss (grad NULL)", re_loss_bce(NULL, p, t, n, d, 1.f), loss_ref, REL_LOSS);
done:
    FREE_ALL(p, t, gp, g);
    re_st_free(f);
}

static void test_bce_logits(void) {
    const char *cs = "op_bce_logits";
    re_st_file *f = open_case(cs);
    if (!f) return;
    size_t cnt = 0;
    float *x = get(f, "x", &cnt), *g1 = get(f, "grad_t1/x", NULL), *g0 = get(f, "grad_t0/x", NULL), *g = NULL;
    const re_st_tensor *tx = find(f, "x");
    const double l1 = get_scalar(f, "loss_t1"), l0 = get_scalar(f, "loss_t0");
    if (!x || !g1 || !g0 || !tx) goto done;
    const int n = (int)tx->shape[0];
    const size_t d = cnt / (size_t)n;
    g = nanbuf(cnt);
    if (!g) goto done;
    close_scalar(cs, "loss target 1", re_loss_bce_logits_const(g, x, 1.f, n, d, 1.f), l1, REL_LOSS);
    close_arr(cs, "grad target 1", g, g1, cnt, REL_EW, NMSE_EW);
    fill_nan(g, cnt);
    close_scalar(cs, "loss target 0", re_loss_bce_logits_const(g, x, 0.f, n, d, 1.f), l0, REL_LOSS);
    close_arr(cs, "grad target 0", g, g0, cnt, REL_EW, NMSE_EW);
done:
    FREE_ALL(x, g1, g0, g);
    re_st_free(f);
}

typedef double (*pair_loss_fn)(float *, const float *, const float *, int, size_t, float);

static void test_pair_loss(const char *cs, pair_loss_fn fn) {
    re_st_file *f = open_case(cs);
    if (!f) return;
    size_t cnt = 0;
    float *x = get(f, "x", &cnt), *t = get(f, "t", NULL), *gx = get(f, "grad/x", NULL), *g = NULL;
    const re_st_tensor *tx = find(f, "x");
    const double loss_ref = get_scalar(f, "loss");
    if (!x || !t || !gx || !tx) goto done;
    const int n = (int)tx->shape[0];
    g = nanbuf(cnt);
    if (!g) goto done;
    close_scalar(cs, "loss", fn(g, x, t, n, cnt / (size_t)n, 1.f), loss_ref, REL_LOSS);
    close_arr(cs, "grad x", g, gx, cnt, REL_EW, NMSE_EW);
done:
    FREE_ALL(x, t, gx, g);
    re_st_free(f);
}

static void test_kl(void) {
    const char *cs = "op_kl";
    re_st_file *f = open_case(cs);
    if (!f) return;
    size_t cnt = 0;
    float *mu = get(f, "mu", &cnt), *lv = get(f, "logvar", NULL);
    float *gmu = get(f, "grad/mu", NULL), *glv = get(f, "grad/logvar", NULL), *dmu = NULL, *dlv = NULL;
    const re_st_tensor *tm = find(f, "mu");
    const double loss_ref = get_scalar(f, "loss");
    if (!mu || !lv || !gmu || !glv || !tm) goto done;
    const int n = (int)tm->shape[0], d = (int)tm->shape[1];
    dmu = nanbuf(cnt); dlv = nanbuf(cnt);
    if (!dmu || !dlv) goto done;
    close_scalar(cs, "loss", re_loss_kl(dmu, dlv, mu, lv, n, d, 1.f), loss_ref, REL_LOSS);
    close_arr(cs, "grad mu", dmu, gmu, cnt, REL_EW, NMSE_EW);
    close_arr(cs, "grad logvar", dlv, glv, cnt, REL_EW, NMSE_EW);
done:
    FREE_ALL(mu, lv, gmu, glv, dmu, dlv);
    re_st_free(f);
}

/* Feature matching = sum over discriminator layers of re_loss_l1(f_fake, f_real) (mean over each layer). */
static void test_fm(void) {
    const char *cs = "op_fm";
    re_st_file *f = open_case(cs);
    if (!f) return;
    const int layers = (int)meta_num(f, "n_layers");
    const double loss_ref = get_scalar(f, "loss");
    double loss = 0;
    CHECK(layers >= 1 && layers <= 8);
    for (int l = 0; l < layers && l < 8; l++) {
        char nf[32], nr[32], ng[32];
        snprintf(nf, sizeof nf, "f%d", l);
        snprintf(nr, sizeof nr, "r%d", l);
        snprintf(ng, sizeof ng, "grad/f%d", l);
        size_t cnt = 0;
        float *ff = get(f, nf, &cnt), *fr = get(f, nr, NULL), *gf = get(f, ng, NULL), *g = nanbuf(cnt);
        const re_st_tensor *tf = find(f, nf);
        if (ff && fr && gf && g && tf) {
            const int n = (int)tf->shape[0];
            loss += re_loss_l1(g, ff, fr, n, cnt / (size_t)n, 1.f);
            close_arr(cs, ng, g, gf, cnt, REL_EW, NMSE_EW);
        }
        FREE_ALL(ff, fr, gf, g);
    }
    close_scalar(cs, "loss (sum of layer L1 means)", loss, loss_ref, REL_LOSS);
    re_st_free(f);
}

/* Gradient difference loss. re_loss_gdl_acc ADDS scale * dL/dx into grad, so the main check starts from zeros (not the
 * NaN fill the overwriting losses get); the accumulate contract is checked separately from a constant fill. */
static void test_gdl(void) {
    const char *cs = "op_gdl";
    re_st_file *f = open_case(cs);
    if (!f) return;
    size_t cnt = 0, cnt_t = 0, cnt_g = 0;
    float *x = get(f, "x", &cnt), *t = get(f, "t", &cnt_t), *gx = get(f, "grad/x", &cnt_g), *g = NULL, *want = NULL;
    const re_st_tensor *tx = find(f, "x"), *tt = find(f, "t"), *tg = find(f, "grad/x");
    const double loss_ref = get_scalar(f, "loss");
    if (!x || !t || !gx || !tx || !tt || !tg) goto done;
    CHECK_EQ_INT(tx->ndim, 4);
    CHECK_EQ_INT(tt->ndim, 4);
    CHECK_EQ_INT(tg->ndim, 4);
    if (tx->ndim != 4 || tt->ndim != 4 || tg->ndim != 4) goto done;
    for (int k = 0; k < 4; k++) {
        CHECK_EQ_INT(tt->shape[k], tx->shape[k]);
        CHECK_EQ_INT(tg->shape[k], tx->shape[k]);
    }
    CHECK(cnt_t == cnt && cnt_g == cnt);
    if (cnt_t != cnt || cnt_g != cnt) goto done;
    const int n = (int)tx->shape[0], c = (int)tx->shape[1], h = (int)tx->shape[2], w = (int)tx->shape[3];
    CHECK(n >= 2 && h >= 2 && w >= 2 && h != w);   /* non-square, batched: catches swapped h/w and a missing 1/n */
    CHECK_EQ_INT((size_t)n * c * h * w, cnt);
    g = malloc(cnt * sizeof(float));
    want = malloc(cnt * sizeof(float));
    if (!g || !want) {
        CHECK_MSG(0, "out of memory");
        goto done;
    }

    /* loss and gradient from zero */
    for (size_t i = 0; i < cnt; i++) g[i] = 0.f;
    close_scalar(cs, "loss", re_loss_gdl_acc(g, x, t, n, c, h, w, 1.f), loss_ref, REL_LOSS);
    close_arr(cs, "grad x", g, gx, cnt, REL_EW, NMSE_EW);

    /* accumulate: grad pre-filled with a constant ends as constant + dL/dx */
    const float base = 1.5f;
    for (size_t i = 0; i < cnt; i++) {
        g[i] = base;
        want[i] = base + gx[i];
    }
    close_scalar(cs, "loss (accumulating)", re_loss_gdl_acc(g, x, t, n, c, h, w, 1.f), loss_ref, REL_LOSS);
    close_arr(cs, "grad x accumulated onto 1.5", g, want, cnt, REL_EW, NMSE_EW);

    /* scale multiplies the gradient only, not the returned value */
    for (size_t i = 0; i < cnt; i++) {
        g[i] = 0.f;
        want[i] = 0.25f * gx[i];
    }
    close_scalar(cs, "loss (scale 0.25)", re_loss_gdl_acc(g, x, t, n, c, h, w, 0.25f), loss_ref, REL_LOSS);
    close_arr(cs, "grad x (scale 0.25)", g, want, cnt, REL_EW, NMSE_EW);

    /* no gradient requested */
    close_scalar(cs, "loss (grad NULL)", re_loss_gdl_acc(NULL, x, t, n, c, h, w, 1.f), loss_ref, REL_LOSS);

    /* x == t: loss 0 and (sign(0) = 0, PyTorch's abs subgradient) the gradient adds exactly nothing */
    for (size_t i = 0; i < cnt; i++) g[i] = base;
    double l0 = re_loss_gdl_acc(g, t, t, n, c, h, w, 1.f);
    CHECK_MSG(l0 == 0.0, "%s: loss(t, t) = %g, want 0", cs, l0);
    size_t moved = 0;
    for (size_t i = 0; i < cnt; i++) moved += g[i] != base;
    CHECK_MSG(moved == 0, "%s: grad at x == t changed %zu entries, want 0", cs, moved);
done:
    FREE_ALL(x, t, gx, g, want);
    re_st_free(f);
}

static void test_reparam(void) {
    const char *cs = "op_reparam";
    re_st_file *f = open_case(cs);
    if (!f) return;
    size_t cnt = 0;
    float *mu = get(f, "mu", &cnt), *lv = get(f, "logvar", NULL), *eps = get(f, "eps", NULL);
    float *dout = get(f, "dout", NULL), *z_ref = get(f, "out", NULL);
    float *gmu = get(f, "grad/mu", NULL), *glv = get(f, "grad/logvar", NULL);
    float *z = NULL, *dmu = NULL, *dlv = NULL;
    const re_st_tensor *tm = find(f, "mu");
    if (!mu || !lv || !eps || !dout || !z_ref || !gmu || !glv || !tm) goto done;
    const int n = (int)tm->shape[0], d = (int)tm->shape[1];
    z = nanbuf(cnt); dmu = calloc(cnt, sizeof(float)); dlv = calloc(cnt, sizeof(float));
    if (!z || !dmu || !dlv) goto done;
    re_reparam_forward(z, eps, mu, lv, n, d, NULL);   /* rng == NULL: eps is given */
    close_arr(cs, "z (given eps)", z, z_ref, cnt, REL_EW, NMSE_EW);
    re_reparam_backward_acc(dmu, dlv, dout, eps, lv, n, d);
    close_arr(cs, "grad mu", dmu, gmu, cnt, REL_EW, NMSE_EW);
    close_arr(cs, "grad logvar", dlv, glv, cnt, REL_EW, NMSE_EW);
    /* The backward ACCUMULATES (mu/logvar also receive the KL gradient): a second call adds the same again. */
    re_reparam_backward_acc(dmu, dlv, dout, eps, lv, n, d);
    for (size_t i = 0; i < cnt; i++) { gmu[i] *= 2.f; glv[i] *= 2.f; }
    close_arr(cs, "grad mu (accumulated twice)", dmu, gmu, cnt, REL_EW, NMSE_EW);
    close_arr(cs, "grad logvar (accumulated twice)", dlv, glv, cnt, REL_EW, NMSE_EW);
done:
    FREE_ALL(mu, lv, eps, dout, z_ref, gmu, glv, z, dmu, dlv);
    re_st_free(f);
}

/* ---- Adam --------------------------------------------------------------------------------------------------- */

static void test_adam(const char *cs) {
    re_st_file *f = open_case(cs);
    if (!f) return;
    size_t cnt = 0;
    float *p0 = get(f, "param_in", &cnt), *grads = get(f, "grads", NULL), *steps_ref = get(f, "param_steps", NULL);
    float *m_ref = get(f, "m_out", NULL), *v_ref = get(f, "v_out", NULL);
    float *param = NULL, *m = NULL, *v = NULL, *dgot = NULL, *dwant = NULL, *before = NULL;
    re_adam_params ap;
    /* no casts: the fields take the decimal values at whatever precision re_adam_params declares. PyTorch keeps
     * them as doubles and forms 1-beta2 in double: with beta2 = 0.999f, 1.f-beta2 is 1.3e-5 off 0.001, which shows
     * up in v at that relative size (f32 PyTorch itself is within 2e-7 of this reference). */
    ap.lr = meta_num(f, "lr"); ap.beta1 = meta_num(f, "beta1"); ap.beta2 = meta_num(f, "beta2");
    ap.eps = meta_num(f, "eps"); ap.weight_decay = meta_num(f, "weight_decay");
    const int steps = (int)meta_num(f, "steps");
    if (!p0 || !grads || !steps_ref || !m_ref || !v_ref || steps < 1) goto done;
    param = malloc(cnt * sizeof(float)); m = calloc(cnt, sizeof(float)); v = calloc(cnt, sizeof(float));
    dgot = malloc(cnt * sizeof(float)); dwant = malloc(cnt * sizeof(float)); before = malloc(cnt * sizeof(float));
    if (!param || !m || !v || !dgot || !dwant || !before) goto done;
    memcpy(param, p0, cnt * sizeof(float));
    for (int s = 0; s < steps; s++) {
        memcpy(before, param, cnt * sizeof(float));
        re_adam_update(param, grads + (size_t)s * cnt, m, v, cnt, &ap, s + 1);
        const float *want = steps_ref + (size_t)s * cnt;
        const float *prev_want = s ? steps_ref + (size_t)(s - 1) * cnt : p0;
        for (size_t i = 0; i < cnt; i++) {
            /* the step itself, from the same starting point on both sides */
            dgot[i] = (float)((double)param[i] - before[i]);
            dwant[i] = (float)((double)want[i] - prev_want[i]);
        }
        char what[64];
        snprintf(what, sizeof what, "parameter change at step %d", s + 1);
        close_arr(cs, what, dgot, dwant, cnt, 1e-4, 1e-8);
        snprintf(what, sizeof what, "parameter after step %d", s + 1);
        close_arr(cs, what, param, want, cnt, REL_EW, NMSE_EW);
    }
    close_arr(cs, "m (exp_avg) after the last step", m, m_ref, cnt, REL_EW, NMSE_EW);
    close_arr(cs, "v (exp_avg_sq) after the last step", v, v_ref, cnt, REL_EW, NMSE_EW);
done:
    FREE_ALL(p0, grads, steps_ref, m_ref, v_ref, param, m, v, dgot, dwant, before);
    re_st_free(f);
}

int main(void) {
    test_conv("op_conv2d_k3s1p1", 0);
    test_conv("op_conv2d_k4s2p1", 0);
    test_conv("op_deconv2d_k4s2p1", 1);
    test_linear();
    test_bn(1);
    test_bn(0);
    test_act("op_lrelu", ACT_LRELU);
    test_act("op_relu", ACT_RELU);
    test_act("op_sigmoid", ACT_SIGMOID);
    test_act("op_tanh", ACT_TANH);
    test_bce();
    test_bce_logits();
    test_pair_loss("op_mse", re_loss_mse);
    test_pair_loss("op_l1", re_loss_l1);
    test_kl();
    test_fm();
    test_gdl();
    test_reparam();
    test_adam("op_adam");
    test_adam("op_adam_wd");
    RE_TEST_END();
}
