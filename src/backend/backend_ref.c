/*
 * backend_ref.c - the reference compute backend: the dispatch table (backend.h) over the plain-C ops of src/ops,
 * always built. No plan (every layer unfused, NCHW f32, any batch up to the state's), no per-layer objects, f32
 * only. It is also where net.c sends a layer another backend does not support.
 */
#include <stdlib.h>

#include "backend/backend.h"
#include "model/model_internal.h"

static re_status ref_init(void) { return RE_OK; }

static int ref_supports(const re_layer *l, re_precision prec) {
    (void)l;
    return prec == RE_PREC_F32;
}

static re_status ref_layer_create(void **obj, const re_net_state *st, const re_net *net, int i) {
    (void)st; (void)net; (void)i;
    *obj = NULL;
    return RE_OK;
}

static void ref_layer_free(const re_layer *l, void *obj) { (void)l; (void)obj; }

static re_conv_params conv_params(const re_layer *l, int n) {
    re_conv_params p = {.n = n, .ic = l->c, .h = l->h, .w = l->w, .oc = l->oc, .oh = l->oh, .ow = l->ow,
                        .kh = l->k, .kw = l->k, .stride = l->stride, .pad = l->pad};
    return p;
}

static re_status ref_forward(const re_layer *l, void *obj, int n, float *y, const void *xv, const float *w,
                             const float *b, int w_same) {
    (void)obj; (void)w_same;
    const float *x = xv;
    re_conv_params p = conv_params(l, n);
    switch (l->kind) {
    case RE_L_CONV: re_conv2d_forward_ref(y, x, w, b, &p); return RE_OK;
    case RE_L_DECONV: re_deconv2d_forward_ref(y, x, w, b, &p); return RE_OK;
    case RE_L_LINEAR: re_linear_forward_ref(y, x, w, b, n, l->c, l->oc); return RE_OK;
    default: return re_fail(RE_ERR_ARG, "ref backend: layer %s is not a conv or linear layer", l->name);
    }
}

static re_status ref_backward(const re_layer *l, void *obj, int n, float *dx, float *dw, float *db, const void *dyv,
                              const float *x, const float *w) {
    (void)obj;
    const float *dy = dyv;
    re_conv_params p = conv_params(l, n);
    switch (l->kind) {
    case RE_L_CONV: re_conv2d_backward_ref(dx, dw, db, dy, x, w, &p); return RE_OK;
    case RE_L_DECONV: re_deconv2d_backward_ref(dx, dw, db, dy, x, w, &p); return RE_OK;
    case RE_L_LINEAR: re_linear_backward_ref(dx, dw, db, dy, x, w, n, l->c, l->oc); return RE_OK;
    default: return re_fail(RE_ERR_ARG, "ref backend: layer %s is not a conv or linear layer", l->name);
    }
}

static re_status ref_bn_act_forward_sync(const re_act_shape *s, float *y, uint16_t *y16, const float *x,
                                         float *mean, float *rstd, const float *gamma, const float *beta,
                                         float *running_mean, float *running_var, float momentum, float eps,
                                         int training, float slope, const re_bn_sync *sync) {
    if (s->layout != RE_LAYOUT_NCHW || y16 || !y)
        return re_fail(RE_ERR_UNSUPPORTED, "ref backend: BatchNorm on f32 NCHW tensors only");
    if (training)
        re_bn_forward_train_sync(y, mean, rstd, x, gamma, beta, running_mean, running_var, momentum, eps, s->n, s->c,
                                 s->hw, sync);
    else re_bn_forward_eval(y, x, gamma, beta, running_mean, running_var, eps, s->n, s->c, s->hw);
    if (slope > 0) re_lrelu_forward(y, y, (size_t)s->n * s->c * s->hw, slope);
    return RE_OK;
}

static re_status ref_bn_act_backward_sync(const re_act_shape *s, float *dx, uint16_t *dx16, float *dgamma,
                                          float *dbeta, const float *dy, const float *y, const uint16_t *y16,
                                          const float *x, const float *mean, const float *rstd, const float *gamma,
                                          float slope, const re_bn_sync *sync) {
    if (s->layout != RE_LAYOUT_NCHW || dx16 || (slope > 0 && !y))
        return re_fail(RE_ERR_UNSUPPORTED, "ref backend: BatchNorm on f32 NCHW tensors only");
    (void)y16;
    float *tmp = NULL;
    if (slope > 0) {
        /* the activation's backward first, into dx (re_bn_backward_sync may run in place) or a scratch buffer */
        const size_t cnt = (size_t)s->n * s->c * s->hw;
        if (!dx) {
            tmp = malloc(cnt * sizeof *tmp);
            if (!tmp) return re_fail(RE_ERR_NOMEM, "ref backend: BatchNorm backward: out of memory");
        }
        re_lrelu_backward(dx ? dx : tmp, dy, y, cnt, slope);
        dy = dx ? dx : tmp;
    }
    re_bn_backward_sync(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, s->n, s->c, s->hw, sync);
    free(tmp);
    return RE_OK;
}

static re_status ref_lrelu_backward(float *dx, uint16_t *dx16, const float *dy, const float *y, size_t count,
                                    float slope) {
    if (dx16) return re_fail(RE_ERR_UNSUPPORTED, "ref backend: no bf16 gradients");
    if (dx) re_lrelu_backward(dx, dy, y, count, slope);
    return RE_OK;
}

const re_compute_backend re_backend_ref = {
    .name = "ref",
    .title = "the reference backend",
    .id = RE_BACKEND_REF,
    .init = ref_init,
    .supports = ref_supports,
    .plan = NULL,
    .layer_create = ref_layer_create,
    .layer_free = ref_layer_free,
    .forward = ref_forward,
    .backward = ref_backward,
    .bn_act_forward_sync = ref_bn_act_forward_sync,
    .bn_act_backward_sync = ref_bn_act_backward_sync,
    .lrelu_backward = ref_lrelu_backward,
    .to_bf16 = NULL,
};
