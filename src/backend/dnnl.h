/*
 * dnnl.h - the fast compute path: conv2d, transposed conv2d and linear layers on oneDNN 2.x (CPU engine, the
 * library's OpenMP thread pool). Same math and gradient convention as the reference ops in src/ops/ops.h:
 * NCHW f32 tensors at the interface, PyTorch weight layouts (conv OIHW [OC,IC,KH,KW], transposed conv IOHW
 * [IC,OC,KH,KW], linear [OUT,IN]); backward OVERWRITES din/dw/db; din == NULL skips the input gradient,
 * dw == NULL and db == NULL skip the parameter gradients.
 *
 * Each layer object creates its oneDNN primitives ONCE for a fixed geometry (batch size included) and reuses
 * them: the primitives run in the layouts oneDNN prefers (format_tag_any, e.g. nChw16c / OIhw16i16o) and the
 * object reorders from/to the caller's plain buffers at the layer boundary with reorder primitives and
 * intermediate buffers it owns. Scratchpads are library-managed. Algorithm choices (details in dnnl.c):
 *   - 3x3 stride-1 convs with >= 16 channels each side use Winograd (about 2x faster than direct at batch 64);
 *   - the pass that produces a <= 4-channel tensor through the scatter direction (conv backward-data into an
 *     RGB input, transposed conv forward into RGB) runs as a oneDNN matmul + our col2im (about 2x faster);
 *   - linear layers keep weights in [OUT,IN] (no weight reorders).
 * All objects share one oneDNN stream and an object keeps per-call state: call from one thread at a time.
 *
 * Built only when CMake finds oneDNN (RE_HAVE_DNNL); otherwise the inline stubs below report
 * RE_ERR_UNSUPPORTED and re_dnnl_available() returns 0, so callers need no #ifdefs.
 * Test: tests/unit/test_dnnl_ops.c (compares with the *_ref ops); timings: bench/bench_ops.c.
 */
#ifndef RE_BACKEND_DNNL_H
#define RE_BACKEND_DNNL_H

#include <stddef.h>
#include "reenact/reenact.h"
#include "ops/ops.h"

typedef struct re_dnnl_conv re_dnnl_conv;     /* conv2d, or transposed conv2d (oneDNN deconvolution) */
typedef struct re_dnnl_linear re_dnnl_linear; /* fully connected layer (oneDNN inner product) */

#ifdef RE_HAVE_DNNL

/* Create the CPU engine and stream once (idempotent; the first call's result is remembered and returned by
 * every later call). Returns RE_OK or RE_ERR_BACKEND naming the oneDNN status. Called implicitly by every
 * *_create below. */
re_status re_dnnl_init(void);
/* 1 if oneDNN is built in and its CPU engine works, else 0. Never fails loudly. */
int re_dnnl_available(void);

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

/* Linear layer: out[N,OUT] = in[N,IN] * w[OUT,IN]^T + b[OUT], batch n fixed. Same contracts as the conv
 * functions above (create: RE_ERR_ARG for non-positive sizes). */
re_status re_dnnl_linear_create(re_dnnl_linear **out, int n, int in_f, int out_f, int with_bias);
re_status re_dnnl_linear_forward(re_dnnl_linear *l, float *out, const float *in, const float *w, const float *b);
re_status re_dnnl_linear_backward(re_dnnl_linear *l, float *din, float *dw, float *db, const float *dout,
                                  const float *in, const float *w);
void re_dnnl_linear_describe(const re_dnnl_linear *l, char *buf, size_t len);
void re_dnnl_linear_free(re_dnnl_linear *l);

#else /* !RE_HAVE_DNNL: stubs so callers compile and fall back to the reference ops */

#include "core/core.h"

static inline re_status re_dnnl_unsupported_(void) {
    return re_fail(RE_ERR_UNSUPPORTED, "dnnl: this build has no oneDNN (configure found no libdnnl)");
}
static inline re_status re_dnnl_init(void) { return re_dnnl_unsupported_(); }
static inline int re_dnnl_available(void) { return 0; }
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

#endif /* RE_HAVE_DNNL */
#endif /* RE_BACKEND_DNNL_H */
