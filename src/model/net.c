/*
 * net.c - sequential nets: per-batch state allocation, forward and backward over a layer list, and the dispatch
 * of each layer to the fast backend (oneDNN, when built and selected) or the plain-C reference ops.
 *
 * Memory: one arena per net state holds every layer output plus BN statistics; activation layers and reshapes
 * run in place (their output aliases their input; backward of LeakyReLU/sigmoid needs only the output, and no
 * layer's backward needs the output of the layer before an in-place activation), and activation gradients
 * ping-pong between two buffers sized for the largest layer.
 *
 * The oneDNN path builds a plan when the state is created (plan_build):
 *   - layouts: a conv / transposed conv output whose channel count is a multiple of 16 stays in oneDNN's blocked
 *     nChw16c layout when everything up to the next layer that reads it (BN, activations) can work on it and
 *     that layer is again a convolution; so activations are reordered only at the ends of the conv stacks
 *     (image in, conv -> linear, decoder output), not at every layer;
 *   - fusions: a LeakyReLU right after a conv or linear layer becomes a oneDNN post-op of that layer; BatchNorm
 *     and the LeakyReLU after it run as one fused kernel (dnnl_fused.c), forward and backward;
 *   - inference states (RE_NS_INFER, used by runners): eval-mode BatchNorm is folded into the preceding conv's
 *     weights and bias, the primitives are forward_inference, and the folded / reordered weights are cached
 *     until the model's weights change (re_model.version, plus a sampled fingerprint of the parameter arena);
 *   - bf16 training (RE_NS_BF16): the k4 s2 convolutions and transposed convolutions run in bf16 (f32 master
 *     weights, f32 outputs and statistics); the layer that produces a bf16 conv's input writes a bf16 copy of it,
 *     and the layer that produces its output gradient writes that gradient in bf16 (fused into BN / LeakyReLU
 *     backward), so no separate conversion pass runs. 3x3 convs keep f32 Winograd (as fast, more accurate).
 * The reference path (RE_BACKEND_REF) runs every layer unfused in NCHW, exactly as before.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#ifdef RE_HAVE_DNNL
#include "backend/dnnl.h"
#endif

size_t re_layer_out_count(const re_layer *l) { return (size_t)l->oc * l->oh * l->ow; }
size_t re_layer_in_count(const re_layer *l) { return (size_t)l->c * l->h * l->w; }
size_t re_net_out_count(const re_net *net) { return re_layer_out_count(&net->layers[net->n_layers - 1]); }
size_t re_net_in_count(const re_net *net) { return (size_t)net->in_c * net->in_h * net->in_w; }

static re_conv_params conv_params(const re_layer *l, int n) {
    re_conv_params p = {.n = n, .ic = l->c, .h = l->h, .w = l->w, .oc = l->oc, .oh = l->oh, .ow = l->ow,
                        .kh = l->k, .kw = l->k, .stride = l->stride, .pad = l->pad};
    return p;
}

void re_layer_fast_free(const re_layer *l, void *fast) {
    if (!fast) return;
#ifdef RE_HAVE_DNNL
    if (l->kind == RE_L_LINEAR) re_dnnl_linear_free(fast);
    else re_dnnl_conv_free(fast);
#else
    (void)l;
#endif
}

/* ---- the oneDNN plan ------------------------------------------------------------------------------------- */

#ifdef RE_HAVE_DNNL
static int is_conv(const re_layer *l) { return l->kind == RE_L_CONV || l->kind == RE_L_DECONV; }

/* Is the tensor produced by layer i read (after BN / activations in between) by a convolution, so that it may
 * stay blocked? j receives the index of that reading layer (n_layers at the end of the net). */
static int feeds_conv(const re_net *net, int i, int *j_out) {
    int j = i + 1;
    while (j < net->n_layers && (net->layers[j].kind == RE_L_BN || net->layers[j].kind == RE_L_LRELU ||
                                 net->layers[j].kind == RE_L_SIGMOID))
        j++;
    if (j_out) *j_out = j;
    return j < net->n_layers && is_conv(&net->layers[j]);
}

/* Does conv layer j (reading the tensor of layer i) run in bf16 under this state's flags? k4 s2 convs and
 * transposed convs with >= 16 channels on both sides; 3x3 stride-1 layers keep f32 Winograd; few-channel
 * layers keep f32. */
static int conv_bf16(const re_layer *l, int flags) {
    if (!(flags & RE_NS_BF16) || !is_conv(l)) return 0;
    if (l->k == 3 && l->stride == 1) return 0;
    return l->c >= 16 && l->oc >= 16;
}

static re_status plan_build(re_net_state *st, const re_model *m, const re_net *net, int n) {
    const int L = net->n_layers, infer = (st->flags & RE_NS_INFER) != 0;
    re_status s = RE_OK;
    /* layouts */
    for (int i = 0; i < L; i++) {
        const re_layer *l = &net->layers[i];
        if (is_conv(l)) st->layout[i] = (l->oc % RE_DNNL_BLOCK == 0 && feeds_conv(net, i, NULL)) ? RE_DNNL_BLOCKED
                                                                                              : RE_DNNL_NCHW;
        else if (l->kind == RE_L_BN || l->kind == RE_L_LRELU || l->kind == RE_L_SIGMOID)
            st->layout[i] = i > 0 ? st->layout[i - 1] : RE_DNNL_NCHW;
        else st->layout[i] = RE_DNNL_NCHW;
    }
    /* fusions */
    for (int i = 0; i < L; i++) {
        const re_layer *l = &net->layers[i];
        const re_layer *nx = i + 1 < L ? &net->layers[i + 1] : NULL;
        const re_layer *nx2 = i + 2 < L ? &net->layers[i + 2] : NULL;
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
    /* bf16: a conv running in bf16 reads a bf16 copy of its input (kept for its backward-weights pass) and its
     * output gradient in bf16. The copy is written by the BN (+ activation) that produces the input when there
     * is one, which then writes only bf16 (nothing else reads its f32 output); otherwise the conv converts its
     * f32 input itself. Likewise the BN / LeakyReLU backward right after a bf16 conv writes the conv's output
     * gradient only in bf16. */
    for (int i = 0; i < L && !infer; i++) {
        const re_layer *l = &net->layers[i];
        if (!conv_bf16(l, st->flags)) continue;
        st->conv_bf16[i] = 1;
        int j = i - 1;
        while (j > 0 && (st->skip[j] & RE_SKIP_FWD)) j--;
        if (j >= 0 && net->layers[j].kind == RE_L_BN) {
            st->in16_for[j] = i;
            st->bf16_only[j] = 1;
        }
        if (i + 1 < L && (net->layers[i + 1].kind == RE_L_BN || net->layers[i + 1].kind == RE_L_LRELU))
            st->bf16_only[i + 1] = 1;
    }
    /* backend objects */
    for (int i = 0; i < L; i++) {
        const re_layer *l = &net->layers[i];
        if (is_conv(l)) {
            re_conv_params p = conv_params(l, n);
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
            s = re_dnnl_conv_create_ex((re_dnnl_conv **)&st->fast[i], &p, l->kind == RE_L_DECONV,
                                       l->p_b >= 0 || st->fold[i], &o);
        } else if (l->kind == RE_L_LINEAR) {
            /* (bf16 linear layers measured no faster in the bf16 step: the GEMMs are small next to the convs
             * and the weights need converting each step) */
            re_dnnl_linear_opts o = {.inference = infer, .lrelu = st->post[i],
                                     .bf16 = infer && (st->flags & RE_NS_BF16) && l->c >= 64 && l->oc >= 64};
            s = re_dnnl_linear_create_ex((re_dnnl_linear **)&st->fast[i], n, l->c, l->oc, l->p_b >= 0, &o);
        }
        if (s != RE_OK) return re_fail_ctx(s, "layer %s", l->name);
    }
    (void)m;
    return RE_OK;
}
#endif

re_status re_net_state_init(re_net_state *st, const re_model *m, const re_net *net, int n) {
    return re_net_state_init_ex(st, m, net, n, 0);
}

re_status re_net_state_init_ex(re_net_state *st, const re_model *m, const re_net *net, int n, int flags) {
    memset(st, 0, sizeof *st);
    st->n = n;
    re_status s = RE_ERR_NOMEM;
    const int L = net->n_layers;
    const int dnnl = m->backend == RE_BACKEND_DNNL;
    size_t total = 0, grad_cap = (size_t)n * re_net_in_count(net), cnt, total16 = 0;
#ifndef RE_HAVE_DNNL
    flags = 0;
#endif
    if (!dnnl) flags = 0;
    st->flags = flags;
    st->plan = dnnl;
    st->out = calloc((size_t)L, sizeof *st->out);
    st->in16 = calloc((size_t)L, sizeof *st->in16);
    st->bn_mean = calloc((size_t)L, sizeof *st->bn_mean);
    st->bn_rstd = calloc((size_t)L, sizeof *st->bn_rstd);
    st->fast = calloc((size_t)L, sizeof *st->fast);
    st->layout = calloc((size_t)L, 1);
    st->skip = calloc((size_t)L, 1);
    st->fold = calloc((size_t)L, 1);
    st->conv_bf16 = calloc((size_t)L, 1);
    st->bf16_only = calloc((size_t)L, 1);
    st->in16_for = calloc((size_t)L, sizeof *st->in16_for);
    st->wkey = calloc((size_t)L, sizeof *st->wkey);
    st->wkey_valid = calloc((size_t)L, 1);
    st->post = calloc((size_t)L, sizeof *st->post);
    st->fold_w = calloc((size_t)L, sizeof *st->fold_w);
    st->fold_b = calloc((size_t)L, sizeof *st->fold_b);
    if (!st->out || !st->in16 || !st->bn_mean || !st->bn_rstd || !st->fast || !st->layout || !st->skip ||
        !st->fold || !st->conv_bf16 || !st->bf16_only || !st->in16_for || !st->wkey || !st->wkey_valid ||
        !st->post || !st->fold_w || !st->fold_b) {
        re_fail(s, "net state: out of memory");
        goto fail;
    }
    for (int i = 0; i < L; i++) st->in16_for[i] = -1;
#ifdef RE_HAVE_DNNL
    if (dnnl && (s = plan_build(st, m, net, n)) != RE_OK) goto fail;
    s = RE_ERR_NOMEM;
#endif
    for (int i = 0; i < L; i++) {
        const re_layer *l = &net->layers[i];
        if (!re_mul_ok((size_t)n, re_layer_out_count(l), &cnt)) { re_fail(s, "net state: size overflow"); goto fail; }
        if (cnt > grad_cap) grad_cap = cnt;
        if (!l->in_place) total += (cnt + 15) & ~(size_t)15;
        if (l->kind == RE_L_BN) total += 2 * (((size_t)l->oc + 15) & ~(size_t)15);
        if (st->fold[i]) total += ((m->params[l->p_w].count + 15) & ~(size_t)15) + (((size_t)l->oc + 15) & ~(size_t)15);
        /* bf16 copies: the input of every bf16 conv (its producer writes it) */
        if (st->conv_bf16[i]) {
            size_t cin = (size_t)n * re_layer_in_count(l);
            total16 += (cin + 31) & ~(size_t)31;
        }
    }
    st->act_arena = re_alloc(total * sizeof(float), "activations");
    st->grad_a = re_alloc(grad_cap * sizeof(float), "activation gradients");
    st->grad_b = re_alloc(grad_cap * sizeof(float), "activation gradients");
    if (total16) {
        st->arena16 = re_alloc(total16 * sizeof(uint16_t), "bf16 activations");
        st->grad16 = re_alloc(grad_cap * sizeof(uint16_t), "bf16 activation gradients");
        if (!st->arena16 || !st->grad16) goto fail;
    }
    if (!st->act_arena || !st->grad_a || !st->grad_b) goto fail;
    st->grad_cap = grad_cap;
    float *p = st->act_arena;
    uint16_t *q = st->arena16;
    for (int i = 0; i < L; i++) {
        const re_layer *l = &net->layers[i];
        if (l->in_place) {
            st->out[i] = i > 0 ? st->out[i - 1] : NULL; /* first-layer in-place is not built by the model */
        } else {
            st->out[i] = p;
            p += ((size_t)n * re_layer_out_count(l) + 15) & ~(size_t)15;
        }
        if (l->kind == RE_L_BN) {
            st->bn_mean[i] = p;
            p += ((size_t)l->oc + 15) & ~(size_t)15;
            st->bn_rstd[i] = p;
            p += ((size_t)l->oc + 15) & ~(size_t)15;
        }
        if (st->fold[i]) {
            st->fold_w[i] = p;
            p += (m->params[l->p_w].count + 15) & ~(size_t)15;
            st->fold_b[i] = p;
            p += ((size_t)l->oc + 15) & ~(size_t)15;
        }
        if (st->conv_bf16[i]) {
            st->in16[i] = q;
            q += ((size_t)n * re_layer_in_count(l) + 31) & ~(size_t)31;
        }
    }
    return RE_OK;
fail:
    re_net_state_free(st, net);
    return s;
}

void re_net_state_free(re_net_state *st, const re_net *net) {
    if (st->fast)
        for (int i = 0; i < net->n_layers; i++) re_layer_fast_free(&net->layers[i], st->fast[i]);
    free(st->out);
    free(st->in16);
    free(st->bn_mean);
    free(st->bn_rstd);
    free(st->fast);
    free(st->layout);
    free(st->skip);
    free(st->fold);
    free(st->conv_bf16);
    free(st->bf16_only);
    free(st->in16_for);
    free(st->wkey);
    free(st->wkey_valid);
    free(st->post);
    free(st->fold_w);
    free(st->fold_b);
    re_free(st->act_arena);
    re_free(st->arena16);
    re_free(st->grad_a);
    re_free(st->grad_b);
    re_free(st->grad16);
    memset(st, 0, sizeof *st);
}

/* ---- reference-path layer dispatch (also the oneDNN path's fallback for n != st->n) ------------------------ */

re_status re_layer_forward(const re_layer *l, void **fast, re_model *m, float *out, const float *in, int n,
                           int training, float *bn_mean, float *bn_rstd, const re_bn_sync *sync) {
    const float *w = l->p_w >= 0 ? re_param_cptr(m, l->p_w) : NULL;
    const float *b = l->p_b >= 0 ? re_param_cptr(m, l->p_b) : NULL;
    const size_t cnt = (size_t)n * re_layer_out_count(l);
    switch (l->kind) {
    case RE_L_CONV:
    case RE_L_DECONV: {
#ifdef RE_HAVE_DNNL
        if (fast && *fast) return re_dnnl_conv_forward(*fast, out, in, w, b);
#endif
        re_conv_params p = conv_params(l, n);
        if (l->kind == RE_L_CONV) re_conv2d_forward_ref(out, in, w, b, &p);
        else re_deconv2d_forward_ref(out, in, w, b, &p);
        return RE_OK;
    }
    case RE_L_LINEAR:
#ifdef RE_HAVE_DNNL
        if (fast && *fast) return re_dnnl_linear_forward(*fast, out, in, w, b);
#endif
        re_linear_forward_ref(out, in, w, b, n, l->c, l->oc);
        return RE_OK;
    case RE_L_BN:
        if (training) {
            re_bn_forward_train_sync(out, bn_mean, bn_rstd, in, w, b, re_param_ptr(m, l->p_rm),
                                     re_param_ptr(m, l->p_rv), m->cfg.bn_momentum, m->cfg.bn_eps, n, l->c,
                                     l->h * l->w, sync);
            m->counters[m->params[l->p_nbt].offset]++;
        } else {
            re_bn_forward_eval(out, in, w, b, re_param_cptr(m, l->p_rm), re_param_cptr(m, l->p_rv), m->cfg.bn_eps, n,
                               l->c, l->h * l->w);
        }
        return RE_OK;
    case RE_L_LRELU: re_lrelu_forward(out, in, cnt, l->slope); return RE_OK;
    case RE_L_SIGMOID: re_sigmoid_forward(out, in, cnt); return RE_OK;
    case RE_L_RESHAPE: if (out != in) memcpy(out, in, cnt * sizeof(float)); return RE_OK;
    }
    return re_fail(RE_ERR_ARG, "unknown layer kind %d", (int)l->kind);
}

re_status re_layer_backward(const re_layer *l, void **fast, re_model *m, float *grads, float *din, const float *dout,
                            const float *in, const float *out, int n, const float *bn_mean, const float *bn_rstd,
                            const re_bn_sync *sync) {
    const float *w = l->p_w >= 0 ? re_param_cptr(m, l->p_w) : NULL;
    float *dw = grads && l->p_w >= 0 ? grads + m->params[l->p_w].offset : NULL;
    float *db = grads && l->p_b >= 0 ? grads + m->params[l->p_b].offset : NULL;
    const size_t cnt = (size_t)n * re_layer_out_count(l);
    switch (l->kind) {
    case RE_L_CONV:
    case RE_L_DECONV: {
#ifdef RE_HAVE_DNNL
        if (fast && *fast) return re_dnnl_conv_backward(*fast, din, dw, db, dout, in, w);
#endif
        re_conv_params p = conv_params(l, n);
        if (l->kind == RE_L_CONV) re_conv2d_backward_ref(din, dw, db, dout, in, w, &p);
        else re_deconv2d_backward_ref(din, dw, db, dout, in, w, &p);
        return RE_OK;
    }
    case RE_L_LINEAR:
#ifdef RE_HAVE_DNNL
        if (fast && *fast) return re_dnnl_linear_backward(*fast, din, dw, db, dout, in, w);
#endif
        re_linear_backward_ref(din, dw, db, dout, in, w, n, l->c, l->oc);
        return RE_OK;
    case RE_L_BN:
        re_bn_backward_sync(din, dw, db, dout, in, bn_mean, bn_rstd, w, n, l->c, l->h * l->w, sync);
        return RE_OK;
    case RE_L_LRELU: if (din) re_lrelu_backward(din, dout, out, cnt, l->slope); return RE_OK;
    case RE_L_SIGMOID: if (din) re_sigmoid_backward(din, dout, out, cnt); return RE_OK;
    case RE_L_RESHAPE: if (din && din != dout) memcpy(din, dout, cnt * sizeof(float)); return RE_OK;
    }
    return re_fail(RE_ERR_ARG, "unknown layer kind %d", (int)l->kind);
}

/* ---- oneDNN-path layer dispatch ------------------------------------------------------------------------- */

#ifdef RE_HAVE_DNNL
/* Sampled fingerprint of the parameter arena (64 evenly spaced floats, FNV-1a), combined with the version
 * counter: a change of weights by the trainer (version) or by a wholesale overwrite such as loading or copying
 * (fingerprint) invalidates the folded / reordered inference weights. */
static uint64_t weights_key(const re_model *m) {
    uint64_t h = 1469598103934665603ULL ^ m->version;
    const size_t n = m->data_count, step = n >= 64 ? n / 64 : 1;
    for (size_t k = 0; k < 64 && k < n; k++) {
        uint32_t u;
        memcpy(&u, &m->data[k * step + step / 2], sizeof u);
        h = (h ^ u) * 1099511628211ULL;
    }
    return h;
}

/* Inference: conv weights/bias with the following eval-mode BN folded in: w' = w * s, b' = (b - rm) * s + beta
 * per output channel, s = gamma / sqrt(rv + eps) (the reference eval BN's arithmetic). */
static void fold_bn(re_net_state *st, const re_net *net, int i, const re_model *m) {
    const re_layer *l = &net->layers[i], *bn = &net->layers[i + 1];
    const float *w = re_param_cptr(m, l->p_w), *b = l->p_b >= 0 ? re_param_cptr(m, l->p_b) : NULL;
    const float *g = re_param_cptr(m, bn->p_w), *be = re_param_cptr(m, bn->p_b);
    const float *rm = re_param_cptr(m, bn->p_rm), *rv = re_param_cptr(m, bn->p_rv);
    float *fw = st->fold_w[i], *fb = st->fold_b[i];
    const int oc = l->oc, ic = l->c, kk = l->k * l->k;
    for (int o = 0; o < oc; o++) {
        const float r = 1.f / sqrtf(rv[o] + m->cfg.bn_eps), s = g[o] * r;
        fb[o] = ((b ? b[o] : 0.f) - rm[o]) * s + be[o];
        for (int c = 0; c < ic; c++) {
            /* conv OIHW [oc][ic][k][k]; transposed conv IOHW [ic][oc][k][k] */
            size_t off = l->kind == RE_L_CONV ? ((size_t)o * ic + c) * kk : ((size_t)c * oc + o) * kk;
            for (int t = 0; t < kk; t++) fw[off + t] = w[off + t] * s;
        }
    }
}

/* One layer on the oneDNN path: y = layer_i(x) (y may alias x for in-place layers). */
static re_status plan_forward(const re_net *net, re_net_state *st, re_model *m, int i, float *y, const float *x,
                              int training, uint64_t key) {
    const re_layer *l = &net->layers[i];
    const int n = st->n;
    const float *w = l->p_w >= 0 ? re_param_cptr(m, l->p_w) : NULL;
    const float *b = l->p_b >= 0 ? re_param_cptr(m, l->p_b) : NULL;
    const size_t cnt = (size_t)n * re_layer_out_count(l);
    /* Weights reorder caching (inference states only): same key as this layer's previous forward. */
    int w_same = (st->flags & RE_NS_INFER) && st->wkey_valid[i] && st->wkey[i] == key;
    st->wkey[i] = key;
    st->wkey_valid[i] = (st->flags & RE_NS_INFER) != 0;
    switch (l->kind) {
    case RE_L_CONV:
    case RE_L_DECONV: {
        if (st->fold[i]) {
            w = st->fold_w[i];
            b = st->fold_b[i];
        }
        const void *in = x;
        if (st->conv_bf16[i]) {
            /* the producing BN wrote the bf16 copy already; else convert here */
            int j = i - 1;
            while (j > 0 && (st->skip[j] & RE_SKIP_FWD)) j--;
            if (j < 0 || st->in16_for[j] != i) re_bf16_convert(st->in16[i], x, (size_t)n * re_layer_in_count(l));
            in = st->in16[i];
        }
        return re_dnnl_conv_forward_ex(st->fast[i], y, in, w, b, w_same);
    }
    case RE_L_LINEAR:
        return re_dnnl_linear_forward_ex(st->fast[i], y, x, w, b, w_same);
    case RE_L_BN: {
        re_act_shape sh = {n, l->c, l->h * l->w, (re_dnnl_layout)st->layout[i]};
        uint16_t *y16 = st->in16_for[i] >= 0 ? st->in16[st->in16_for[i]] : NULL;
        re_bn_act_forward_sync(&sh, st->bf16_only[i] && y16 ? NULL : y, y16, x, st->bn_mean[i], st->bn_rstd[i], w,
                               b, re_param_ptr(m, l->p_rm), re_param_ptr(m, l->p_rv), m->cfg.bn_momentum,
                               m->cfg.bn_eps, training, st->post[i], st->sync);
        if (training) m->counters[m->params[l->p_nbt].offset]++;
        return RE_OK;
    }
    case RE_L_LRELU: re_lrelu_forward(y, x, cnt, l->slope); return RE_OK;
    case RE_L_SIGMOID: re_sigmoid_forward(y, x, cnt); return RE_OK;
    case RE_L_RESHAPE: if (y != x) memcpy(y, x, cnt * sizeof(float)); return RE_OK;
    }
    return re_fail(RE_ERR_ARG, "unknown layer kind %d", (int)l->kind);
}
#endif

re_status re_net_forward(const re_net *net, re_net_state *st, re_model *m, const float *in, int n, int training,
                         const float **out) {
    return re_net_forward_upto(net, st, m, in, n, training, net->n_layers - 1, out);
}

re_status re_net_forward_upto(const re_net *net, re_net_state *st, re_model *m, const float *in, int n, int training,
                              int last, const float **out) {
    if (n <= 0 || n > st->n) return re_fail(RE_ERR_ARG, "batch %d outside 1..%d", n, st->n);
    if (last < 0 || last >= net->n_layers)
        return re_fail(RE_ERR_ARG, "forward up to layer %d of a %d-layer net", last, net->n_layers);
    if (st->plan && n != st->n)
        return re_fail(RE_ERR_ARG, "batch %d: the oneDNN path runs this state at its batch %d only", n, st->n);
    st->input = in;
    const float *x = in;
#ifdef RE_HAVE_DNNL
    uint64_t key = 0;
    if (st->plan && (st->flags & RE_NS_INFER)) {
        key = weights_key(m);
        if (!st->fold_valid || key != st->fold_key) {
            for (int i = 0; i < net->n_layers; i++)
                if (st->fold[i]) fold_bn(st, net, i, m);
            st->fold_key = key;
            st->fold_valid = 1;
        }
    }
#endif
    for (int i = 0; i <= last; i++) {
        const re_layer *l = &net->layers[i];
        re_status s;
#ifdef RE_HAVE_DNNL
        if (st->plan) {
            if (st->skip[i] & RE_SKIP_FWD) {
                st->out[i] = (float *)x; /* done by a neighbour: the output is the input */
                continue;
            }
            float *y = l->in_place ? (float *)x : st->out[i];
            if (l->in_place) st->out[i] = y;
            s = plan_forward(net, st, m, i, y, x, training, key);
            if (s != RE_OK) return re_fail_ctx(s, "forward %s", l->name);
            x = y;
            continue;
        }
#endif
        float *y = l->in_place ? (float *)x : st->out[i];
        if (l->in_place) st->out[i] = y;
        void **fast = n == st->n ? &st->fast[i] : NULL; /* backend objects are built for st->n */
        s = re_layer_forward(l, fast, m, y, x, n, training, st->bn_mean[i], st->bn_rstd[i], st->sync);
        if (s != RE_OK) return re_fail_ctx(s, "forward %s", l->name);
        x = y;
    }
    *out = x;
    return RE_OK;
}

re_status re_net_backward(const re_net *net, re_net_state *st, re_model *m, float *grads, const float *dout, int n,
                          float *din) {
    return re_net_backward_ex(net, st, m, grads, dout, n, din, NULL);
}

re_status re_net_backward_ex(const re_net *net, re_net_state *st, re_model *m, float *grads, const float *dout,
                             int n, float *din, float *const *extra) {
    if (st->flags & RE_NS_INFER) return re_fail(RE_ERR_ARG, "backward through an inference-only net state");
    if (st->plan && n != st->n)
        return re_fail(RE_ERR_ARG, "batch %d: the oneDNN path runs this state at its batch %d only", n, st->n);
    const float *g = dout;
    float *bufs[2] = {st->grad_a, st->grad_b};
    int which = 0, g16 = 0; /* g16: the current gradient is in grad16 (bf16) only */
    (void)g16;
    for (int i = net->n_layers - 1; i >= 0; i--) {
        const re_layer *l = &net->layers[i];
        if (extra && extra[i]) {
            /* an extra gradient enters at this layer's output (e.g. feature matching at discriminator taps) */
            size_t cnt = (size_t)n * re_layer_out_count(l);
            float *gg = (float *)g;
            if (g == dout) {
                gg = bufs[which];
                which ^= 1;
                memcpy(gg, g, cnt * sizeof(float));
            }
            const float *e = extra[i];
#pragma omp parallel for simd schedule(static)
            for (size_t k = 0; k < cnt; k++) gg[k] += e[k];
            g = gg;
        }
        const float *in = i > 0 ? st->out[i - 1] : st->input;
        float *d;
        re_status s = RE_OK;
#ifdef RE_HAVE_DNNL
        if (st->plan) {
            if (st->skip[i] & RE_SKIP_BWD) continue; /* done by the layer before (fused BN + activation) */
            if (i == 0) d = din;
            else if (l->in_place && g != dout) d = (float *)g;
            else { d = bufs[which]; which ^= 1; }
            const size_t cnt = (size_t)n * re_layer_out_count(l);
            float *dw = grads && l->p_w >= 0 ? grads + m->params[l->p_w].offset : NULL;
            float *db = grads && l->p_b >= 0 ? grads + m->params[l->p_b].offset : NULL;
            /* the input gradient of a BN / LeakyReLU right after a bf16 conv goes only to grad16 */
            uint16_t *d16 = st->bf16_only[i] && i > 0 && st->conv_bf16[i - 1] ? st->grad16 : NULL;
            if (d16) d = NULL;
            switch (l->kind) {
            case RE_L_CONV:
            case RE_L_DECONV: {
                const void *gin = g;
                if (st->conv_bf16[i]) {
                    if (!g16) re_bf16_convert(st->grad16, g, cnt);
                    gin = st->grad16;
                }
                /* in/w == NULL: the object reuses the forward's (reordered) input and weights, both unchanged
                 * since (the backward of a state always follows its own forward within a step) */
                s = re_dnnl_conv_backward_ex(st->fast[i], d, dw, db, gin, NULL, NULL);
                break;
            }
            case RE_L_LINEAR:
                s = re_dnnl_linear_backward(st->fast[i], d, dw, db, g, in, re_param_cptr(m, l->p_w));
                break;
            case RE_L_BN: {
                re_act_shape sh = {n, l->c, l->h * l->w, (re_dnnl_layout)st->layout[i]};
                const uint16_t *y16 = st->in16_for[i] >= 0 ? st->in16[st->in16_for[i]] : NULL;
                re_bn_act_backward_sync(&sh, d, d16, dw, db, g, st->bf16_only[i] && y16 ? NULL : st->out[i], y16,
                                        in, st->bn_mean[i], st->bn_rstd[i], re_param_cptr(m, l->p_w), st->post[i],
                                        st->sync);
                break;
            }
            case RE_L_LRELU:
                if (d || d16) re_lrelu_backward_mixed(d, d16, g, st->out[i], NULL, cnt, l->slope);
                break;
            case RE_L_SIGMOID: if (d) re_sigmoid_backward(d, g, st->out[i], cnt); break;
            case RE_L_RESHAPE: if (d && d != g) memcpy(d, g, cnt * sizeof(float)); break;
            }
            g16 = d16 != NULL;
            if (s != RE_OK) return re_fail_ctx(s, "backward %s", l->name);
            if (grads && st->grads_ready && (l->p_w >= 0 || l->p_b >= 0)) st->grads_ready(st->grads_ctx, l);
            g = d;
            continue;
        }
#endif
        if (i == 0) d = din;                    /* may be NULL: first layer, skip input grad */
        else if (l->in_place && g != dout) d = (float *)g; /* elementwise: overwrite in place */
        else { d = bufs[which]; which ^= 1; }
        void **fast = n == st->n ? &st->fast[i] : NULL;
        s = re_layer_backward(l, fast, m, grads, d, g, in, st->out[i], n, st->bn_mean[i], st->bn_rstd[i], st->sync);
        if (s != RE_OK) return re_fail_ctx(s, "backward %s", l->name);
        if (grads && st->grads_ready && (l->p_w >= 0 || l->p_b >= 0)) st->grads_ready(st->grads_ctx, l);
        g = d;
    }
    return RE_OK;
}

/* ---- single layers of a net (the encoder heads) ---------------------------------------------------------- */

re_status re_net_layer_forward(const re_net *net, re_net_state *st, int i, re_model *m, const float *in,
                               int training) {
    const re_layer *l = &net->layers[i];
    re_status s;
#ifdef RE_HAVE_DNNL
    if (st->plan) {
        s = plan_forward(net, st, m, i, st->out[i], in, training, (st->flags & RE_NS_INFER) ? weights_key(m) : 0);
        return s ? re_fail_ctx(s, "forward %s", l->name) : RE_OK;
    }
#endif
    s = re_layer_forward(l, &st->fast[i], m, st->out[i], in, st->n, training, st->bn_mean[i], st->bn_rstd[i],
                         st->sync);
    return s ? re_fail_ctx(s, "forward %s", l->name) : RE_OK;
}

re_status re_net_layer_backward(const re_net *net, re_net_state *st, int i, re_model *m, float *grads, float *din,
                                const float *dout, const float *in) {
    const re_layer *l = &net->layers[i];
    re_status s = re_layer_backward(l, &st->fast[i], m, grads, din, dout, in, st->out[i], st->n, st->bn_mean[i],
                                    st->bn_rstd[i], st->sync);
    if (s) return re_fail_ctx(s, "backward %s", l->name);
    if (grads && st->grads_ready && (l->p_w >= 0 || l->p_b >= 0)) st->grads_ready(st->grads_ctx, l);
    return RE_OK;
}
