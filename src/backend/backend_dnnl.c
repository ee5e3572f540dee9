/*
 * backend_dnnl.c - the oneDNN compute backend: the dispatch table (backend.h) over dnnl.c's layer objects and
 * dnnl_fused.c's kernels, with the plan that lets a net run fast on them. Built with oneDNN only.
 *
 * The plan (dnnl_plan), made once per net state:
 *   - layouts: a conv / transposed conv output whose channel count is a multiple of 16 stays in oneDNN's blocked
 *     nChw16c layout when everything up to the next layer that reads it (BN, activations) can work on it and
 *     that layer is again a convolution; so activations are reordered only at the ends of the conv stacks
 *     (image in, conv -> linear, decoder output), not at every layer;
 *   - fusions: a LeakyReLU right after a conv or linear layer becomes a oneDNN post-op of that layer; BatchNorm
 *     and the LeakyReLU after it run as one fused kernel (dnnl_fused.c), forward and backward;
 *   - inference states (RE_NS_INFER, used by runners): eval-mode BatchNorm is folded into the preceding conv's
 *     weights and bias (net.c makes the folded weights), the primitives are forward_inference, and the folded /
 *     reordered weights are cached until the model's weights change;
 *   - bf16 training (RE_NS_BF16): the k4 s2 convolutions and transposed convolutions run in bf16 (f32 master
 *     weights, f32 outputs and statistics); the layer that produces a bf16 conv's input writes a bf16 copy of it,
 *     and the layer that produces its output gradient writes that gradient in bf16 (fused into BN / LeakyReLU
 *     backward), so no separate conversion pass runs. 3x3 convs keep f32 Winograd (as fast, more accurate).
 * A layer that net.c gave to another table (st->be[i] != st->backend; none today: this backend supports every
 * layer) keeps plain f32 NCHW on both sides and takes part in no fusion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/dnnl.h"
#include "model/model_internal.h"

static int is_conv(const re_layer *l) { return l->kind == RE_L_CONV || l->kind == RE_L_DECONV; }

/* Layer i runs on this backend (not handed to the reference table). */
static int own(const re_net_state *st, int i) { return st->be[i] == st->backend; }

/* Is the tensor produced by layer i read (after BN / activations in between) by a convolution, so that it may
 * stay blocked? Every layer on the way must run here. */
static int feeds_conv(const re_net_state *st, const re_net *net, int i) {
    int j = i + 1;
    while (j < net->n_layers && (net->layers[j].kind == RE_L_BN || net->layers[j].kind == RE_L_LRELU ||
                                 net->layers[j].kind == RE_L_SIGMOID)) {
        if (!own(st, j)) return 0;
        j++;
    }
    return j < net->n_layers && is_conv(&net->layers[j]) && own(st, j);
}

/* Does conv layer l run in bf16 under this state's flags? k4 s2 convs and transposed convs with >= 16 channels
 * on both sides; 3x3 stride-1 layers keep f32 Winograd; few-channel layers keep f32. */
static int conv_bf16(const re_layer *l, int flags) {
    if (!(flags & RE_NS_BF16) || !is_conv(l)) return 0;
    if (l->k == 3 && l->stride == 1) return 0;
    return l->c >= 16 && l->oc >= 16;
}

/* NHWC activations in inference states: REENACT_DNNL_LAYOUT=nhwc|blocked decides when set (A/B timing, tests);
 * else NHWC on AMX CPUs (oneDNN's AMX convolutions are brgemm-based and want NHWC; untimed: no AMX machine was at
 * hand, issue 17) and below AVX-512 (AVX2: there oneDNN has no nChw16c kernels, see re_dnnl_blocked16_native, and
 * runs jit:avx2 on NHWC), blocked elsewhere. */
static int want_nhwc(int flags) {
    (void)flags;
    const char *e = getenv("REENACT_DNNL_LAYOUT");
    if (e && !strcmp(e, "nhwc")) return 1;
    if (e && !strcmp(e, "blocked") && re_dnnl_blocked16_native()) return 0;
    return !strcmp(re_dnnl_isa_name(), "avx512_core_amx") || !re_dnnl_blocked16_native();
}

static re_status dnnl_plan(re_net_state *st, const re_model *m, const re_net *net) {
    const int L = net->n_layers, infer = (st->flags & RE_NS_INFER) != 0;
    (void)m;
    /* layouts */
    for (int i = 0; i < L; i++) {
        const re_layer *l = &net->layers[i];
        if (!own(st, i)) st->layout[i] = RE_LAYOUT_NCHW;
        else if (is_conv(l))
            st->layout[i] = (l->oc % RE_LAYOUT_BLOCK == 0 && feeds_conv(st, net, i)) ? RE_LAYOUT_BLOCKED16
                                                                                     : RE_LAYOUT_NCHW;
        else if (l->kind == RE_L_BN || l->kind == RE_L_LRELU || l->kind == RE_L_SIGMOID)
            st->layout[i] = i > 0 ? st->layout[i - 1] : RE_LAYOUT_NCHW;
        else st->layout[i] = RE_LAYOUT_NCHW;
    }
    /* fusions (between layers that both run here) */
    for (int i = 0; i < L; i++) {
        const re_layer *l = &net->layers[i];
        const re_layer *nx = i + 1 < L && own(st, i) && own(st, i + 1) ? &net->layers[i + 1] : NULL;
        const re_layer *nx2 = nx && i + 2 < L && own(st, i + 2) ? &net->layers[i + 2] : NULL;
        if (is_conv(l) && infer && nx && nx->kind == RE_L_BN) {
            st->fold[i] = 1;                 /* BN folded into the conv */
            st->skip[i + 1] |= RE_SKIP_FWD;
            if (nx2 && nx2->kind == RE_L_LRELU) {
                st->post[i] = nx2->slope;
                st->skip[i + 2] |= RE_SKIP_FWD | RE_SKIP_BWD;
            }
        } else if ((is_conv(l) || l->kind == RE_L_LINEAR) && nx && nx->kind == RE_L_LRELU) {
            st->post[i] = nx->slope;         /* post-op; the LeakyReLU backward still runs on its own */
            st->skip[i + 1] |= RE_SKIP_FWD;
        } else if (l->kind == RE_L_BN && nx && nx->kind == RE_L_LRELU && !(st->skip[i] & RE_SKIP_FWD)) {
            st->post[i] = nx->slope;         /* fused BN + LeakyReLU kernel */
            st->skip[i + 1] |= RE_SKIP_FWD | RE_SKIP_BWD;
        }
    }
    /* NHWC (inference states that ask for it, see want_nhwc): a stretch of blocked activations between two convs
     * becomes NHWC when every layer in between is fused into the producing conv (folded BN, LeakyReLU post-op);
     * NHWC has no C % 16 condition, but it takes the same stretches as blocked for simplicity. */
    if (infer && want_nhwc(st->flags))
        for (int i = 0; i < L; i++) {
            if (!is_conv(&net->layers[i]) || st->layout[i] != RE_LAYOUT_BLOCKED16) continue;
            int j = i + 1, fused = 1;
            while (j < L && !is_conv(&net->layers[j])) fused &= (st->skip[j++] & RE_SKIP_FWD) != 0;
            if (!fused) continue;
            for (int k = i; k < j; k++) st->layout[k] = RE_LAYOUT_NHWC;
        }
    /* below AVX-512 the blocked layout has no oneDNN kernels (re_dnnl_blocked16_native): what is still blocked
     * (training states, stretches with a BN of their own) stays plain NCHW at the interface, and each convolution's
     * primitive picks its own layout (nChw8c on AVX2) behind reorders */
    if (!re_dnnl_blocked16_native())
        for (int i = 0; i < L; i++)
            if (st->layout[i] == RE_LAYOUT_BLOCKED16) st->layout[i] = RE_LAYOUT_NCHW;
    /* bf16: a conv running in bf16 reads a bf16 copy of its input (kept for its backward-weights pass) and its
     * output gradient in bf16. The copy is written by the BN (+ activation) that produces the input when there
     * is one, which then writes only bf16 (nothing else reads its f32 output); otherwise the conv converts its
     * f32 input itself (net.c). Likewise the BN / LeakyReLU backward right after a bf16 conv writes the conv's
     * output gradient only in bf16. */
    for (int i = 0; i < L && !infer; i++) {
        const re_layer *l = &net->layers[i];
        if (!own(st, i) || !conv_bf16(l, st->flags)) continue;
        st->conv_bf16[i] = 1;
        int j = i - 1;
        while (j > 0 && (st->skip[j] & RE_SKIP_FWD)) j--;
        if (j >= 0 && net->layers[j].kind == RE_L_BN && own(st, j)) {
            st->in16_for[j] = i;
            st->bf16_only[j] = 1;
        }
        if (i + 1 < L && (net->layers[i + 1].kind == RE_L_BN || net->layers[i + 1].kind == RE_L_LRELU) &&
            own(st, i + 1))
            st->bf16_only[i + 1] = 1;
    }
    return RE_OK;
}

static re_status dnnl_layer_create(void **obj, const re_net_state *st, const re_net *net, int i) {
    const re_layer *l = &net->layers[i];
    const int infer = (st->flags & RE_NS_INFER) != 0, n = st->n;
    *obj = NULL;
    if (is_conv(l)) {
        re_conv_params p = {.n = n, .ic = l->c, .h = l->h, .w = l->w, .oc = l->oc, .oh = l->oh, .ow = l->ow,
                            .kh = l->k, .kw = l->k, .stride = l->stride, .pad = l->pad};
        re_dnnl_conv_opts o = {0};
        o.src_layout = i > 0 ? (re_dnnl_layout)st->layout[i - 1] : RE_DNNL_NCHW;
        o.dst_layout = (re_dnnl_layout)st->layout[i];
        o.inference = infer;
        o.lrelu = st->post[i];
        if (st->conv_bf16[i]) {
            o.bf16 = 1;
            o.src_dtype = RE_DNNL_BF16;
            o.ddst_dtype = RE_DNNL_BF16;
        }
        /* bf16 inference: every conv with >= 16 channels on both sides computes in bf16 from the f32
         * activations (the layer converts its input; at batch 1 that is a few KB) */
        if (infer && (st->flags & RE_NS_BF16) && l->c >= 16 && l->oc >= 16) o.bf16 = 1;
        return re_dnnl_conv_create_ex((re_dnnl_conv **)obj, &p, l->kind == RE_L_DECONV, l->p_b >= 0 || st->fold[i],
                                      &o);
    }
    if (l->kind == RE_L_LINEAR) {
        /* (bf16 linear layers measured no faster in the bf16 step: the GEMMs are small next to the convs and the
         * weights need converting each step) */
        re_dnnl_linear_opts o = {.inference = infer, .lrelu = st->post[i],
                                 .bf16 = infer && (st->flags & RE_NS_BF16) && l->c >= 64 && l->oc >= 64};
        /* mixed runners: bf16 weights for the linear layers of >= 2^18 weights (1 MB in f32), which a batch-1
         * forward reads from memory at every call (seed64: 4096x512 twice, 512x512) */
        o.wbf16 = infer && !o.bf16 && (st->flags & RE_NS_FCW16) && (size_t)l->c * l->oc >= RE_FCW16_MIN_WEIGHTS;
        return re_dnnl_linear_create_ex((re_dnnl_linear **)obj, n, l->c, l->oc, l->p_b >= 0, &o);
    }
    return RE_OK;
}

static void dnnl_layer_free(const re_layer *l, void *obj) {
    if (!obj) return;
    if (l->kind == RE_L_LINEAR) re_dnnl_linear_free(obj);
    else re_dnnl_conv_free(obj);
}

static void dnnl_describe(const re_layer *l, const void *obj, char *buf, size_t len) {
    if (!obj) snprintf(buf, len, "dnnl: none (elementwise)");
    else if (l->kind == RE_L_LINEAR) re_dnnl_linear_describe(obj, buf, len);
    else re_dnnl_conv_describe(obj, buf, len);
}

static int dnnl_supports(const re_layer *l, re_precision prec) {
    (void)l;
    /* bf16 convolutions exist in oneDNN 2.6 from AVX-512 up only (below, only its reference kernels) */
    return prec == RE_PREC_F32 || (prec == RE_PREC_BF16 && re_dnnl_blocked16_native());
}

static re_status dnnl_forward(const re_layer *l, void *obj, int n, float *y, const void *x, const float *w,
                              const float *b, int w_same) {
    (void)n; /* the object's batch: net.c runs a planned state at st->n only */
    if (!obj) return re_fail(RE_ERR_ARG, "dnnl backend: layer %s has no oneDNN object", l->name);
    if (l->kind == RE_L_LINEAR) return re_dnnl_linear_forward_ex(obj, y, x, w, b, w_same);
    return re_dnnl_conv_forward_ex(obj, y, x, w, b, w_same);
}

static re_status dnnl_backward(const re_layer *l, void *obj, int n, float *dx, float *dw, float *db, const void *dy,
                               const float *x, const float *w) {
    (void)n;
    if (!obj) return re_fail(RE_ERR_ARG, "dnnl backend: layer %s has no oneDNN object", l->name);
    if (l->kind == RE_L_LINEAR) return re_dnnl_linear_backward(obj, dx, dw, db, dy, x, w);
    /* in/w == NULL: the object reuses the forward's (reordered, maybe bf16) input and weights, both unchanged
     * since (the backward of a state always follows its own forward within a step) */
    return re_dnnl_conv_backward_ex(obj, dx, dw, db, dy, NULL, NULL);
}

static re_status dnnl_bn_act_forward_sync(const re_act_shape *s, float *y, uint16_t *y16, const float *x,
                                          float *mean, float *rstd, const float *gamma, const float *beta,
                                          float *running_mean, float *running_var, float momentum, float eps,
                                          int training, float slope, const re_bn_sync *sync) {
    re_bn_act_forward_sync(s, y, y16, x, mean, rstd, gamma, beta, running_mean, running_var, momentum, eps, training,
                           slope, sync);
    return RE_OK;
}

static re_status dnnl_bn_act_backward_sync(const re_act_shape *s, float *dx, uint16_t *dx16, float *dgamma,
                                           float *dbeta, const float *dy, const float *y, const uint16_t *y16,
                                           const float *x, const float *mean, const float *rstd, const float *gamma,
                                           float slope, const re_bn_sync *sync) {
    re_bn_act_backward_sync(s, dx, dx16, dgamma, dbeta, dy, y, y16, x, mean, rstd, gamma, slope, sync);
    return RE_OK;
}

static re_status dnnl_lrelu_backward(float *dx, uint16_t *dx16, const float *dy, const float *y, size_t count,
                                     float slope) {
    if (dx || dx16) re_lrelu_backward_mixed(dx, dx16, dy, y, NULL, count, slope);
    return RE_OK;
}

const re_compute_backend re_backend_dnnl = {
    .name = "dnnl",
    .title = "the oneDNN backend",
    .id = RE_BACKEND_DNNL,
    .init = re_dnnl_init,
    .supports = dnnl_supports,
    .plan = dnnl_plan,
    .layer_create = dnnl_layer_create,
    .layer_free = dnnl_layer_free,
    .forward = dnnl_forward,
    .backward = dnnl_backward,
    .bn_act_forward_sync = dnnl_bn_act_forward_sync,
    .bn_act_backward_sync = dnnl_bn_act_backward_sync,
    .lrelu_backward = dnnl_lrelu_backward,
    .to_bf16 = re_bf16_convert,
    .describe = dnnl_describe,
};
