/*
 * backend.h - the compute backend's dispatch table, as src/face/face_backend.h is the face detector's: what
 * src/model/net.c calls to run a layer, so that the net code has no backend-specific branches. One table per
 * backend: the plain-C reference ops (backend_ref.c, always built) and oneDNN (backend_dnnl.c, built with
 * oneDNN); re_compute_backend_get (backend.c) picks the table of a model's re_backend.
 *
 * Division of work: net.c owns the per-batch state (re_net_state: activation arena, BN statistics, gradient
 * buffers), runs the layers in order, runs the elementwise layers (LeakyReLU / sigmoid forward, reshape), folds
 * eval-mode BatchNorm into a conv and keeps the bf16 copies when a plan asks for them. A backend
 *   - says which layers it runs at which precision (supports, as ggml's supports_op): net.c gives a layer the
 *     backend does not support to the reference table (its neighbours then stay plain NCHW f32, see plan);
 *   - may plan the state (plan): the layouts of the activations between layers, fusions (a LeakyReLU as a
 *     post-op of the layer before, BatchNorm + LeakyReLU as one kernel, eval BatchNorm folded into the conv
 *     before) and bf16 convolutions, written into re_net_state's plan fields (model_internal.h); a backend
 *     without a plan runs every layer unfused in NCHW f32 at any batch up to st->n;
 *   - creates one object per conv / transposed conv / linear layer (layer_create, layer_free; e.g. oneDNN
 *     primitives for the state's fixed batch), and runs those layers forward and backward;
 *   - runs BatchNorm (+ a fused LeakyReLU) forward and backward, with synchronized statistics for data-parallel
 *     training (re_bn_sync, ops.h), the LeakyReLU backward, and f32 -> bf16 conversion.
 * Same math and gradient convention as src/ops/ops.h (backward OVERWRITES dx/dw/db; NULL skips one).
 *
 * Adding an accelerator: a new backend_<name>.c that defines a re_compute_backend (it may reuse the reference or
 * oneDNN entries for what it does not accelerate), and its line in backend.c's list (plus its re_backend id, its
 * line in backend.c's list of optional backends and its CMake build condition when it is a new choice for users).
 * The model code asks the tables (re_compute_backend_select, re_compute_backend_default, supports) and never names
 * a backend.
 * Internal: not installed. Tests: tests/unit/test_backend.c.
 */
#ifndef RE_BACKEND_H
#define RE_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "ops/ops.h"
#include "reenact/reenact.h"

struct re_layer;
struct re_net;
struct re_net_state;

/* Layout of an activation buffer between layers (re_net_state.layout): plain NCHW, or channel-blocked by 16
 * (oneDNN's nChw16c / aBcd16b: element (n,c,h,w) at ((n*C/16 + c/16)*H*W + h*W + w)*16 + c%16; needs C % 16 == 0,
 * so a blocked buffer has as many elements as the plain one), or NHWC (oneDNN's acdb: element (n,c,h,w) at
 * ((n*H + h)*W + w)*C + c; the layout oneDNN's brgemm convolutions, AMX ones included, read and write). NHWC is
 * used only between convolutions whose BN and activations are fused into them (inference states): the
 * BatchNorm / elementwise kernels of re_act_shape take NCHW or BLOCKED16 only. */
typedef enum re_layout { RE_LAYOUT_NCHW = 0, RE_LAYOUT_BLOCKED16 = 1, RE_LAYOUT_NHWC = 2 } re_layout;
#define RE_LAYOUT_BLOCK 16
/* RE_PREC_MIXED runners: linear layers with at least this many weights keep them in bf16 (backend_dnnl.c). */
#define RE_FCW16_MIN_WEIGHTS ((size_t)1 << 18)

/* Geometry of an activation tensor for the BatchNorm / elementwise kernels. */
typedef struct re_act_shape {
    int n, c, hw;               /* images, channels, pixels per channel */
    re_layout layout;           /* NCHW or BLOCKED16 (c % 16 == 0) */
} re_act_shape;

typedef struct re_compute_backend {
    const char *name;           /* "ref", "dnnl" */
    const char *title;          /* in messages: "the reference backend", "the oneDNN backend" */
    re_backend id;              /* the public name of the choice (re_model_set_backend) */
    /* Make the backend usable (engine, stream); idempotent. RE_OK, or the reason it cannot run. */
    re_status (*init)(void);
    /* ggml's supports_op: 1 if this backend runs layer l (NULL: any layer of a model) in a state of precision
     * prec, else 0. A layer may still compute in f32 inside a bf16 state (the plan decides). */
    int (*supports)(const struct re_layer *l, re_precision prec);
    /* Layout planning hook, NULL for none. Called once per state after net.c has allocated the plan fields
     * (zeroed; in16_for -1) and set st->be[i] for every layer (this table, or the reference table for a layer this
     * backend does not support: such a layer must get plain f32 NCHW input and output and no fusion). Fills
     * st->layout, skip, fold, post, conv_bf16, bf16_only, in16_for. A planned state runs at batch st->n only. */
    re_status (*plan)(struct re_net_state *st, const struct re_model *m, const struct re_net *net);
    /* The object of layer i of the net (conv, transposed conv, linear) for the state's batch st->n and plan, or
     * *obj = NULL when the backend needs none. RE_OK or an error (the state creation fails). */
    re_status (*layer_create)(void **obj, const struct re_net_state *st, const struct re_net *net, int i);
    void (*layer_free)(const struct re_layer *l, void *obj);   /* obj may be NULL */
    /* Conv / transposed conv / linear, n samples: y = layer(x; w, b) (+ the fused LeakyReLU post-op the plan set).
     * x is f32, or bf16 for a conv the plan runs in bf16 (st->conv_bf16); layouts as planned. w_same != 0: w and b
     * are the same, unchanged weights as at this object's previous forward (cached reorders may be reused). */
    re_status (*forward)(const struct re_layer *l, void *obj, int n, float *y, const void *x, const float *w,
                         const float *b, int w_same);
    /* Gradients of the same layer from dy (bf16 for a bf16 conv): dx, dw, db (each overwritten, each may be NULL).
     * x and w are those of the latest forward on obj, which the backend may use from its own copies instead. */
    re_status (*backward)(const struct re_layer *l, void *obj, int n, float *dx, float *dw, float *db,
                          const void *dy, const float *x, const float *w);
    /* BatchNorm2d + LeakyReLU(slope) (slope 0: none): the contract of re_bn_act_forward_sync (dnnl.h), i.e.
     * re_bn_forward_train_sync / re_bn_forward_eval (+ re_lrelu_forward); sync NULL: one process. y16 (may be
     * NULL) receives y in bf16, and y may then be NULL. */
    re_status (*bn_act_forward_sync)(const re_act_shape *s, float *y, uint16_t *y16, const float *x, float *mean,
                                     float *rstd, const float *gamma, const float *beta, float *running_mean,
                                     float *running_var, float momentum, float eps, int training, float slope,
                                     const re_bn_sync *sync);
    /* Its backward (training mode), the contract of re_bn_act_backward_sync: dx (or dx16 in bf16 when dx is NULL),
     * dgamma, dbeta (this rank's share), from dy, y (or y16) and x, mean, rstd of the forward. */
    re_status (*bn_act_backward_sync)(const re_act_shape *s, float *dx, uint16_t *dx16, float *dgamma,
                                      float *dbeta, const float *dy, const float *y, const uint16_t *y16,
                                      const float *x, const float *mean, const float *rstd, const float *gamma,
                                      float slope, const re_bn_sync *sync);
    /* LeakyReLU backward from its output y: dx = dy * (y > 0 ? 1 : slope); dx16 (may be NULL) also receives dx
     * in bf16, and dx may then be NULL. dx may alias dy. */
    re_status (*lrelu_backward)(float *dx, uint16_t *dx16, const float *dy, const float *y, size_t count,
                                float slope);
    /* f32 -> bf16, round to nearest even; NULL when the backend never plans bf16. */
    void (*to_bf16)(uint16_t *dst, const float *src, size_t count);
    /* The implementation that runs layer l's forward on obj (from layer_create; may be NULL), e.g. oneDNN's
     * impl_info_str, into buf; NULL: the table's name. (re_runner_describe, `reenact info --cpu`.) */
    void (*describe)(const struct re_layer *l, const void *obj, char *buf, size_t len);
} re_compute_backend;

/* The tables (backend_ref.c; backend_dnnl.c exists only in builds with oneDNN). */
extern const re_compute_backend re_backend_ref;
extern const re_compute_backend re_backend_dnnl;

/* The table of a backend choice (RE_BACKEND_REF, RE_BACKEND_DNNL; RE_BACKEND_AUTO: the first built, most
 * preferred), or NULL when this build has none for it. */
const re_compute_backend *re_compute_backend_get(re_backend id);
/* Why bf16 is refused, for messages: "this model uses <title>" for a table without bf16, else "this CPU: oneDNN
 * ISA <isa>" (a oneDNN build on a CPU below AVX-512). A thread-local string, valid until the next call. */
const char *re_compute_backend_bf16_where(const re_compute_backend *be);
/* re_model_set_backend's choice: the table of id (RE_BACKEND_AUTO: the most preferred built), made usable (its
 * init) into *out. RE_ERR_UNSUPPORTED when this build has no table for id (the message says how to get one), or
 * init's failure; *out is NULL then. */
re_status re_compute_backend_select(re_backend id, const re_compute_backend **out);
/* A new model's backend: the most preferred built table whose init succeeds (the reference table always does). */
const re_compute_backend *re_compute_backend_default(void);

#endif /* RE_BACKEND_H */
