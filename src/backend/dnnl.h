/*
 * dnnl.h - the fast compute path: conv2d, transposed conv2d and linear layers on oneDNN 2.x (CPU engine, the
 * library's OpenMP thread pool), plus fused elementwise kernels for the activations between them. Same math and
 * gradient convention as the reference ops in src/ops/ops.h: PyTorch weight layouts (conv OIHW [OC,IC,KH,KW],
 * transposed conv IOHW [IC,OC,KH,KW], linear [OUT,IN]); backward OVERWRITES din/dw/db; din == NULL skips the input
 * gradient, dw == NULL and db == NULL skip the parameter gradients.
 *
 * Each layer object creates its oneDNN primitives ONCE for a fixed geometry (batch size included) and reuses
 * them. The caller's activation buffers are plain NCHW f32 (re_dnnl_conv_create), or, through
 * re_dnnl_conv_create_ex, blocked nChw16c and/or bf16 (re_dnnl_conv_opts): a net keeps its activations blocked
 * between convolutions so no reorder runs at the layer boundaries (the plan in backend_dnnl.c). Whatever oneDNN
 * picks internally (format_tag_any for weights and plain activations), the object reorders from/to the caller's
 * buffers with reorder primitives and intermediate buffers it owns; weights are reordered on every forward unless
 * the caller promises they did not change (w_same, used by inference runners). Scratchpads are library-managed.
 * Algorithm choices (details in dnnl.c):
 *   - 3x3 stride-1 convs with >= 16 channels each side use Winograd (about 2x faster than direct at batch 64),
 *     except in bf16 (no bf16 Winograd in oneDNN);
 *   - the pass that produces a <= 4-channel tensor through the scatter direction (conv backward-data into an
 *     RGB input, transposed conv forward into RGB) runs as a oneDNN matmul + our col2im (about 2x faster);
 *   - a LeakyReLU after a layer is a oneDNN post-op, except for transposed convs, whose forward gets neither bias
 *     nor post-op from oneDNN (both are slow there in oneDNN 2.6) but one vectorized pass of ours;
 *   - linear layers keep weights in [OUT,IN] in f32 training (no weight reorders); inference and bf16 layers use
 *     oneDNN's preferred weight layout.
 * All objects share one oneDNN stream and an object keeps per-call state: call from one thread at a time.
 *
 * Built only when CMake finds oneDNN (RE_HAVE_DNNL); otherwise the inline stubs below report
 * RE_ERR_UNSUPPORTED and re_dnnl_available() returns 0, so callers need no #ifdefs (the fused kernels have no
 * stubs: only the oneDNN path calls them).
 * Tests: tests/unit/test_dnnl_ops.c (layers vs the *_ref ops), tests/unit/test_fused.c (blocked / bf16 /
 * inference layers and the fused kernels vs the reference), tests/unit/test_bf16.c (bf16 training and inference);
 * timings: bench/bench_ops.c.
 */
#ifndef RE_BACKEND_DNNL_H
#define RE_BACKEND_DNNL_H

#include <stddef.h>
#include <stdint.h>
#include "reenact/reenact.h"
#include "ops/ops.h"
#include "backend/backend.h"

typedef struct re_dnnl_conv re_dnnl_conv;     /* conv2d, or transposed conv2d (oneDNN deconvolution) */
typedef struct re_dnnl_linear re_dnnl_linear; /* fully connected layer (oneDNN inner product) */

/* Layout of an activation buffer at the interface: plain NCHW, or oneDNN's blocked nChw16c (re_layout in backend.h,
 * under oneDNN's names). Keeping activations blocked between layers saves the NCHW <-> blocked reorders at every
 * layer boundary. */
typedef re_layout re_dnnl_layout;
#define RE_DNNL_NCHW RE_LAYOUT_NCHW
#define RE_DNNL_BLOCKED RE_LAYOUT_BLOCKED16
#define RE_DNNL_NHWC RE_LAYOUT_NHWC
#define RE_DNNL_BLOCK RE_LAYOUT_BLOCK
/* Element type of an interface buffer: f32, or bf16 (uint16_t, the upper half of the f32 bit pattern). */
typedef enum re_dnnl_dtype { RE_DNNL_F32 = 0, RE_DNNL_BF16 = 1 } re_dnnl_dtype;

/* Options of re_dnnl_conv_create_ex; all-zero = the plain f32 training layer of re_dnnl_conv_create. */
typedef struct re_dnnl_conv_opts {
    re_dnnl_layout src_layout;  /* in (forward, backward-weights) and din (backward-data) */
    re_dnnl_layout dst_layout;  /* out (forward) and dout (backward) */
    re_dnnl_dtype src_dtype;    /* element type of in; din is always f32 */
    re_dnnl_dtype ddst_dtype;   /* element type of dout; out is always f32 */
    int bf16;                   /* compute in bf16 (oneDNN bf16 kernels, f32 out/din/dw/db); Winograd off */
    int inference;              /* forward only (forward_inference); backward fails with RE_ERR_ARG */
    float lrelu;                /* > 0: out = LeakyReLU_lrelu(conv + b), fused as a oneDNN post-op when the
                                   kernel supports it, else applied right after the primitive */
} re_dnnl_conv_opts;

/* Options of re_dnnl_linear_create_ex (plain [N,IN] / [N,OUT] f32 buffers always). */
typedef struct re_dnnl_linear_opts {
    int inference;              /* forward only; weights kept in oneDNN's preferred layout (see w_same) */
    float lrelu;                /* > 0: fused LeakyReLU post-op */
    int bf16;                   /* compute in bf16 (f32 interface buffers, converted by the object) */
    int wbf16;                  /* inference only, not with bf16: the weights are rounded to bf16 (round to nearest
                                   even) and the layer computes in f32 on f32 activations. At n <= RE_GEMV_MAX_N it
                                   runs our GEMV on a bf16 copy of the weights (re_linear_bf16w_forward: half the
                                   weight bytes read per call, which is what a batch-1 linear layer costs); at larger n
                                   oneDNN's f32 inner product on the rounded weights (same results up to summation
                                   order) */
} re_dnnl_linear_opts;
#define RE_GEMV_MAX_N 8

/* The fused elementwise kernels (src/backend/dnnl_fused.c) take the geometry of an activation tensor as
 * re_act_shape (backend.h). */
#ifdef RE_HAVE_DNNL

/* Create the CPU engine and stream once (idempotent; the first call's result is remembered and returned by
 * every later call). Returns RE_OK or RE_ERR_BACKEND naming the oneDNN status. Called implicitly by every
 * *_create below. */
re_status re_dnnl_init(void);
/* 1 if oneDNN is built in and its CPU engine works, else 0. Never fails loudly. */
int re_dnnl_available(void);
/* The ISA oneDNN dispatches to (dnnl_get_effective_cpu_isa) as a constant name, e.g. "avx512_core_bf16",
 * "avx512_core_amx"; and the library's version "major.minor.patch" into buf. */
const char *re_dnnl_isa_name(void);
/* 1 when oneDNN's convolutions run natively on the blocked nChw16c layout (RE_DNNL_BLOCKED): an AVX-512 core ISA
 * (avx512_core and up). Below it (AVX2: 8-float vectors) oneDNN 2.6 has no kernel for nChw16c and falls back to its
 * reference convolution, 100-1000x slower, so the plan keeps plain or NHWC activations there. ONEDNN_MAX_CPU_ISA
 * caps the ISA (e.g. AVX2 on an AVX-512 machine: tests/unit/test_isa_avx2.c). */
int re_dnnl_blocked16_native(void);
void re_dnnl_version_str(char *buf, size_t len);
/* Time one representative seed64 layer in f32 and in bf16 (best of a few interleaved repetitions, milliseconds):
 * training != 0: a k4 s2 conv's forward + backward at batch 16; else a k4 s2 conv's inference forward at batch 1.
 * About 0.1-0.5 s. RE_OK, or the error of creating / running the layers (e.g. no bf16 kernels). */
re_status re_dnnl_bf16_probe(int training, double *ms_f32, double *ms_bf16);

/* Create a conv layer for geometry *p (all fields filled, oh/ow included; p->n is the fixed batch size).
 * transposed != 0: transposed conv, weights IOHW, oh = (h-1)*stride - 2*pad + kh;
 * transposed == 0: conv2d, weights OIHW, oh = (h + 2*pad - kh)/stride + 1.
 * with_bias != 0: forward adds b[OC] and backward can produce db[OC].
 * *out receives a new object (free with re_dnnl_conv_free), left NULL on failure.
 * Returns RE_OK, RE_ERR_ARG (bad geometry or NULL out), RE_ERR_NOMEM, RE_ERR_BACKEND (oneDNN status named). */
re_status re_dnnl_conv_create(re_dnnl_conv **out, const re_conv_params *p, int transposed, int with_bias);
/* out[N,OC,OH,OW] = conv(in[N,IC,H,W], w, b). b is required when the object has a bias, ignored otherwise.
 * The object remembers in/w (pointers and its reordered copies) for a backward call with in/w == NULL.
 * Returns RE_OK, RE_ERR_ARG (NULL pointer), RE_ERR_BACKEND. */
re_status re_dnnl_conv_forward(re_dnnl_conv *c, float *out, const float *in, const float *w, const float *b);
/* Gradients from dout[N,OC,OH,OW]: din[N,IC,H,W], dw (same layout as w), db[OC]; each OVERWRITTEN, each may be
 * NULL to skip it (db is ignored without bias). in / w may be NULL to mean "the in / w of the latest forward on
 * this object", which the caller must have kept unchanged (this saves a reorder). in is needed for dw/db, w for
 * din. Returns RE_OK, RE_ERR_ARG (missing dout, or in/w NULL without a previous forward), RE_ERR_BACKEND. */
re_status re_dnnl_conv_backward(re_dnnl_conv *c, float *din, float *dw, float *db, const float *dout,
                                const float *in, const float *w);
/* Writes "fwd=<impl> bwd_d=<impl> bwd_w=<impl>" (oneDNN implementation names, e.g. jit:avx512_core) into buf. */
void re_dnnl_conv_describe(const re_dnnl_conv *c, char *buf, size_t len);
/* Free the object and its primitives; NULL is a no-op. */
void re_dnnl_conv_free(re_dnnl_conv *c);

/* As re_dnnl_conv_create with interface layouts, dtypes, bf16 compute, inference-only and a fused LeakyReLU
 * (see re_dnnl_conv_opts; o == NULL means all zero). RE_ERR_ARG also for a blocked layout on a tensor whose
 * channel count is not a multiple of 16. */
re_status re_dnnl_conv_create_ex(re_dnnl_conv **out, const re_conv_params *p, int transposed, int with_bias,
                                 const re_dnnl_conv_opts *o);
/* Forward with the object's interface types: out f32 (dst layout), in (src layout/dtype). w_same != 0 promises
 * that w points to the same, unchanged weights as the previous forward on this object, so the weights reorder
 * (and bf16 conversion) is skipped; pass 0 whenever the weights may have changed (e.g. after an optimizer step). */
re_status re_dnnl_conv_forward_ex(re_dnnl_conv *c, float *out, const void *in, const float *w, const float *b,
                                  int w_same);
/* Backward with the object's interface types: dout (dst layout, ddst dtype), in (src layout/dtype), din f32. */
re_status re_dnnl_conv_backward_ex(re_dnnl_conv *c, float *din, float *dw, float *db, const void *dout,
                                   const void *in, const float *w);

/* Linear layer: out[N,OUT] = in[N,IN] * w[OUT,IN]^T + b[OUT], batch n fixed. Same contracts as the conv
 * functions above (create: RE_ERR_ARG for non-positive sizes). */
re_status re_dnnl_linear_create(re_dnnl_linear **out, int n, int in_f, int out_f, int with_bias);
re_status re_dnnl_linear_forward(re_dnnl_linear *l, float *out, const float *in, const float *w, const float *b);
re_status re_dnnl_linear_backward(re_dnnl_linear *l, float *din, float *dw, float *db, const float *dout,
                                  const float *in, const float *w);
void re_dnnl_linear_describe(const re_dnnl_linear *l, char *buf, size_t len);
void re_dnnl_linear_free(re_dnnl_linear *l);
re_status re_dnnl_linear_create_ex(re_dnnl_linear **out, int n, int in_f, int out_f, int with_bias,
                                   const re_dnnl_linear_opts *o);
/* w_same: as for re_dnnl_conv_forward_ex. */
re_status re_dnnl_linear_forward_ex(re_dnnl_linear *l, float *out, const float *in, const float *w, const float *b,
                                    int w_same);

/* ---- Fused elementwise kernels on activation tensors (dnnl_fused.c), NCHW or blocked, OpenMP-parallel. ---- */

/* BatchNorm2d + optional LeakyReLU: y = act(gamma * (x - mean) * rstd + beta), act = LeakyReLU(slope) when
 * slope > 0, identity when slope == 0. training != 0: batch statistics like re_bn_forward_train (biased variance
 * normalizes, unbiased variance and momentum update running_mean/running_var; mean and rstd are written for the
 * backward); training == 0: running statistics like re_bn_forward_eval (mean/rstd not written, may be NULL).
 * y may alias x only in eval mode. y16 (may be NULL): also writes y as bf16 (round to nearest even); y itself may be
 * NULL when y16 is given. gamma/beta may be NULL (1 / 0). */
void re_bn_act_forward(const re_act_shape *s, float *y, uint16_t *y16, const float *x, float *mean, float *rstd,
                       const float *gamma, const float *beta, float *running_mean, float *running_var,
                       float momentum, float eps, int training, float slope);
/* The same with synchronized statistics (re_bn_sync in ops.h; NULL = re_bn_act_forward). */
void re_bn_act_forward_sync(const re_act_shape *s, float *y, uint16_t *y16, const float *x, float *mean, float *rstd,
                            const float *gamma, const float *beta, float *running_mean, float *running_var,
                            float momentum, float eps, int training, float slope, const re_bn_sync *sync);
/* Backward of re_bn_act_forward (training mode): from dy (gradient of y) with y (or y16 when y is NULL) for the
 * activation's mask and x, mean, rstd of the forward: dx (f32, or bf16 into dx16 when dx is NULL), dgamma,
 * dbeta (each overwritten, each may be NULL). dx may alias dy. Same math as re_bn_backward after
 * re_lrelu_backward. */
void re_bn_act_backward(const re_act_shape *s, float *dx, uint16_t *dx16, float *dgamma, float *dbeta,
                        const float *dy, const float *y, const uint16_t *y16, const float *x, const float *mean,
                        const float *rstd, const float *gamma, float slope);
/* The same with synchronized sums (dgamma/dbeta stay this rank's share; NULL = re_bn_act_backward). */
void re_bn_act_backward_sync(const re_act_shape *s, float *dx, uint16_t *dx16, float *dgamma, float *dbeta,
                             const float *dy, const float *y, const uint16_t *y16, const float *x, const float *mean,
                             const float *rstd, const float *gamma, float slope, const re_bn_sync *sync);
/* dx = dy * (y > 0 ? 1 : slope) over count elements (layout-agnostic; dx may alias dy; y16 used when y is NULL);
 * dx16 (may be NULL) also receives dx as bf16, and dx may then be NULL. */
void re_lrelu_backward_mixed(float *dx, uint16_t *dx16, const float *dy, const float *y, const uint16_t *y16,
                             size_t count, float slope);
/* f32 -> bf16, round to nearest even (NaN stays NaN). */
void re_bf16_convert(uint16_t *dst, const float *src, size_t count);
/* dst = src rounded to bf16 and widened back to f32 (dst may alias src). */
void re_bf16_round(float *dst, const float *src, size_t count);
/* Linear layer with bf16 weights on f32 activations: y[n,OUT] = act(x[n,IN] * w16[OUT,IN]^T + b) (b may be NULL;
 * slope > 0: LeakyReLU), f32 accumulation, OpenMP over the output rows. The GEMV of re_dnnl_linear_opts.wbf16. */
void re_linear_bf16w_forward(float *y, const float *x, const uint16_t *w16, const float *b, int n, int in_f,
                             int out_f, float slope);
/* The instruction set that kernel was compiled for: "avx512f" or "c" (portable loops). */
const char *re_gemv_isa(void);

#else /* !RE_HAVE_DNNL: stubs so callers compile and fall back to the reference ops */

#include "core/core.h"

static inline re_status re_dnnl_unsupported_(void) {
    return re_fail(RE_ERR_UNSUPPORTED, "dnnl: this build has no oneDNN (configure found no libdnnl)");
}
static inline re_status re_dnnl_init(void) { return re_dnnl_unsupported_(); }
static inline int re_dnnl_available(void) { return 0; }
static inline const char *re_dnnl_isa_name(void) { return "none"; }
static inline int re_dnnl_blocked16_native(void) { return 0; }
static inline re_status re_dnnl_bf16_probe(int training, double *ms_f32, double *ms_bf16) {
    (void)training; (void)ms_f32; (void)ms_bf16;
    return re_dnnl_unsupported_();
}
static inline void re_dnnl_version_str(char *buf, size_t len) { if (buf && len) buf[0] = 0; }
static inline re_status re_dnnl_conv_create(re_dnnl_conv **out, const re_conv_params *p, int transposed,
                                            int with_bias) {
    (void)p; (void)transposed; (void)with_bias;
    if (out) *out = NULL;
    return re_dnnl_unsupported_();
}
static inline re_status re_dnnl_conv_forward(re_dnnl_conv *c, float *out, const float *in, const float *w,
                                             const float *b) {
    (void)c; (void)out; (void)in; (void)w; (void)b;
    return re_dnnl_unsupported_();
}
static inline re_status re_dnnl_conv_backward(re_dnnl_conv *c, float *din, float *dw, float *db,
                                              const float *dout, const float *in, const float *w) {
    (void)c; (void)din; (void)dw; (void)db; (void)dout; (void)in; (void)w;
    return re_dnnl_unsupported_();
}
static inline void re_dnnl_conv_describe(const re_dnnl_conv *c, char *buf, size_t len) {
    (void)c;
    if (buf && len) buf[0] = 0;
}
static inline void re_dnnl_conv_free(re_dnnl_conv *c) { (void)c; }
static inline re_status re_dnnl_linear_create(re_dnnl_linear **out, int n, int in_f, int out_f, int with_bias) {
    (void)n; (void)in_f; (void)out_f; (void)with_bias;
    if (out) *out = NULL;
    return re_dnnl_unsupported_();
}
static inline re_status re_dnnl_linear_forward(re_dnnl_linear *l, float *out, const float *in, const float *w,
                                               const float *b) {
    (void)l; (void)out; (void)in; (void)w; (void)b;
    return re_dnnl_unsupported_();
}
static inline re_status re_dnnl_linear_backward(re_dnnl_linear *l, float *din, float *dw, float *db,
                                                const float *dout, const float *in, const float *w) {
    (void)l; (void)din; (void)dw; (void)db; (void)dout; (void)in; (void)w;
    return re_dnnl_unsupported_();
}
static inline void re_dnnl_linear_describe(const re_dnnl_linear *l, char *buf, size_t len) {
    (void)l;
    if (buf && len) buf[0] = 0;
}
static inline void re_dnnl_linear_free(re_dnnl_linear *l) { (void)l; }
static inline re_status re_dnnl_conv_create_ex(re_dnnl_conv **out, const re_conv_params *p, int transposed,
                                               int with_bias, const re_dnnl_conv_opts *o) {
    (void)p; (void)transposed; (void)with_bias; (void)o;
    if (out) *out = NULL;
    return re_dnnl_unsupported_();
}
static inline re_status re_dnnl_conv_forward_ex(re_dnnl_conv *c, float *out, const void *in, const float *w,
                                                const float *b, int w_same) {
    (void)c; (void)out; (void)in; (void)w; (void)b; (void)w_same;
    return re_dnnl_unsupported_();
}
static inline re_status re_dnnl_conv_backward_ex(re_dnnl_conv *c, float *din, float *dw, float *db,
                                                 const void *dout, const void *in, const float *w) {
    (void)c; (void)din; (void)dw; (void)db; (void)dout; (void)in; (void)w;
    return re_dnnl_unsupported_();
}
static inline re_status re_dnnl_linear_create_ex(re_dnnl_linear **out, int n, int in_f, int out_f, int with_bias,
                                                 const re_dnnl_linear_opts *o) {
    (void)n; (void)in_f; (void)out_f; (void)with_bias; (void)o;
    if (out) *out = NULL;
    return re_dnnl_unsupported_();
}
static inline re_status re_dnnl_linear_forward_ex(re_dnnl_linear *l, float *out, const float *in, const float *w,
                                                  const float *b, int w_same) {
    (void)l; (void)out; (void)in; (void)w; (void)b; (void)w_same;
    return re_dnnl_unsupported_();
}
/* (The fused kernels of dnnl_fused.c have no stubs: they are built with oneDNN only, and only the oneDNN path
 * calls them.) */

#endif /* RE_HAVE_DNNL */
#endif /* RE_BACKEND_DNNL_H */
