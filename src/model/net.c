/*
 * net.c - sequential nets: per-batch state allocation, forward and backward over a layer list, each layer run
 * through the compute backend's dispatch table (src/backend/backend.h) of the model's backend: the reference ops
 * or oneDNN. Nothing here is backend-specific.
 *
 * Memory: one arena per net state holds every layer output plus BN statistics; activation layers and reshapes
 * run in place (their output aliases their input; backward of LeakyReLU/sigmoid needs only the output, and no
 * layer's backward needs the output of the layer before an in-place activation), and activation gradients
 * ping-pong between two buffers sized for the largest layer.
 *
 * A backend may plan the state when it is created (its plan hook: layouts between layers, fusions, BN folded into
 * the conv before it in inference states, bf16 convolutions; the oneDNN plan is described in
 * src/backend/backend_dnnl.c). This file carries the plan out: it skips the layers a neighbour has fused
 * (RE_SKIP_*), makes the folded weights of inference states (fold_bn) and caches them until the model's weights
 * change (re_model.version, plus a sampled fingerprint of the parameter arena), and keeps the bf16 copies of the
 * inputs and output gradients of bf16 convolutions. Without a plan (the reference backend) every layer runs
 * unfused in NCHW f32.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "model/model_internal.h"

size_t re_layer_out_count(const re_layer *l) { return (size_t)l->oc * l->oh * l->ow; }
size_t re_layer_in_count(const re_layer *l) { return (size_t)l->c * l->h * l->w; }
size_t re_net_out_count(const re_net *net) { return re_layer_out_count(&net->layers[net->n_layers - 1]); }
size_t re_net_in_count(const re_net *net) { return (size_t)net->in_c * net->in_h * net->in_w; }

re_status re_net_state_init(re_net_state *st, const re_model *m, const re_net *net, int n) {
    return re_net_state_init_ex(st, m, net, n, 0);
}

re_status re_net_state_init_ex(re_net_state *st, const re_model *m, const re_net *net, int n, int flags) {
    const re_compute_backend *be = re_compute_backend_get(m->backend);
    if (!be) {
        memset(st, 0, sizeof *st);
        return re_fail(RE_ERR_UNSUPPORTED, "net state: this build has no backend %d", (int)m->backend);
    }
    return re_net_state_init_on(st, m, net, n, flags, be);
}

re_status re_net_state_init_on(re_net_state *st, const re_model *m, const re_net *net, int n, int flags,
                               const re_compute_backend *be) {
    memset(st, 0, sizeof *st);
    st->n = n;
    re_status s = RE_ERR_NOMEM;
    const int L = net->n_layers;
    size_t total = 0, grad_cap = (size_t)n * re_net_in_count(net), cnt, total16 = 0;
    if (!be->plan) flags = 0; /* the flags are options of a plan */
    st->flags = flags;
    st->plan = be->plan != NULL;
    st->backend = be;
    st->be = calloc((size_t)L, sizeof *st->be);
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
    if (!st->be || !st->out || !st->in16 || !st->bn_mean || !st->bn_rstd || !st->fast || !st->layout || !st->skip ||
        !st->fold || !st->conv_bf16 || !st->bf16_only || !st->in16_for || !st->wkey || !st->wkey_valid ||
        !st->post || !st->fold_w || !st->fold_b) {
        re_fail(s, "net state: out of memory");
        goto fail;
    }
    for (int i = 0; i < L; i++) st->in16_for[i] = -1;
    /* each layer on the model's backend, or on the reference ops where the backend does not support it */
    const re_precision prec = (flags & RE_NS_BF16) ? RE_PREC_BF16 : RE_PREC_F32;
    for (int i = 0; i < L; i++) st->be[i] = be->supports(&net->layers[i], prec) ? be : &re_backend_ref;
    if (be->plan && (s = be->plan(st, m, net)) != RE_OK) goto fail;
    for (int i = 0; i < L; i++)
        if ((s = st->be[i]->layer_create(&st->fast[i], st, net, i)) != RE_OK) {
            re_fail_ctx(s, "layer %s", net->layers[i].name);
            goto fail;
        }
    s = RE_ERR_NOMEM;
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
    if (st->fast && st->be)
        for (int i = 0; i < net->n_layers; i++)
            if (st->fast[i]) st->be[i]->layer_free(&net->layers[i], st->fast[i]);
    free(st->be);
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

/* ---- one layer ------------------------------------------------------------------------------------------ */

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

/* Forward of layer i over n samples: y = layer_i(x) (y may alias x for in-place layers); key: the weights key
 * of this forward (inference states), for the backend's cached weight reorders. */
static re_status layer_forward(const re_net *net, re_net_state *st, re_model *m, int i, int n, float *y,
                               const float *x, int training, uint64_t key) {
    const re_layer *l = &net->layers[i];
    const re_compute_backend *be = st->be[i];
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
            if (j < 0 || st->in16_for[j] != i) be->to_bf16(st->in16[i], x, (size_t)n * re_layer_in_count(l));
            in = st->in16[i];
        }
        return be->forward(l, st->fast[i], n, y, in, w, b, w_same);
    }
    case RE_L_LINEAR:
        return be->forward(l, st->fast[i], n, y, x, w, b, w_same);
    case RE_L_BN: {
        re_act_shape sh = {n, l->c, l->h * l->w, (re_layout)st->layout[i]};
        uint16_t *y16 = st->in16_for[i] >= 0 ? st->in16[st->in16_for[i]] : NULL;
        re_status s = be->bn_act_forward_sync(&sh, st->bf16_only[i] && y16 ? NULL : y, y16, x, st->bn_mean[i],
                                              st->bn_rstd[i], w, b, re_param_ptr(m, l->p_rm),
                                              re_param_ptr(m, l->p_rv), m->cfg.bn_momentum, m->cfg.bn_eps,
                                              training, st->post[i], st->sync);
        if (s) return s;
        if (training) m->counters[m->params[l->p_nbt].offset]++;
        return RE_OK;
    }
    case RE_L_LRELU: re_lrelu_forward(y, x, cnt, l->slope); return RE_OK;
    case RE_L_SIGMOID: re_sigmoid_forward(y, x, cnt); return RE_OK;
    case RE_L_RESHAPE: if (y != x) memcpy(y, x, cnt * sizeof(float)); return RE_OK;
    }
    return re_fail(RE_ERR_ARG, "unknown layer kind %d", (int)l->kind);
}

/* Backward of layer i over n samples from g (its output gradient; in bf16 in st->grad16 when g16): d (may be
 * NULL) receives the input gradient, or d16 in bf16 (the plan's bf16_only layers before a bf16 conv), and grads
 * (may be NULL) the parameter gradients. in: the layer's input of the forward. */
static re_status layer_backward(const re_net *net, re_net_state *st, re_model *m, int i, int n, float *grads,
                                float *d, uint16_t *d16, const float *g, int g16, const float *in) {
    const re_layer *l = &net->layers[i];
    const re_compute_backend *be = st->be[i];
    const size_t cnt = (size_t)n * re_layer_out_count(l);
    const float *w = l->p_w >= 0 ? re_param_cptr(m, l->p_w) : NULL;
    float *dw = grads && l->p_w >= 0 ? grads + m->params[l->p_w].offset : NULL;
    float *db = grads && l->p_b >= 0 ? grads + m->params[l->p_b].offset : NULL;
    switch (l->kind) {
    case RE_L_CONV:
    case RE_L_DECONV: {
        const void *gin = g;
        if (st->conv_bf16[i]) {
            if (!g16) be->to_bf16(st->grad16, g, cnt);
            gin = st->grad16;
        }
        return be->backward(l, st->fast[i], n, d, dw, db, gin, in, w);
    }
    case RE_L_LINEAR:
        return be->backward(l, st->fast[i], n, d, dw, db, g, in, w);
    case RE_L_BN: {
        re_act_shape sh = {n, l->c, l->h * l->w, (re_layout)st->layout[i]};
        const uint16_t *y16 = st->in16_for[i] >= 0 ? st->in16[st->in16_for[i]] : NULL;
        return be->bn_act_backward_sync(&sh, d, d16, dw, db, g, st->bf16_only[i] && y16 ? NULL : st->out[i], y16,
                                        in, st->bn_mean[i], st->bn_rstd[i], w, st->post[i], st->sync);
    }
    case RE_L_LRELU:
        if (d || d16) return be->lrelu_backward(d, d16, g, st->out[i], cnt, l->slope);
        return RE_OK;
    case RE_L_SIGMOID: if (d) re_sigmoid_backward(d, g, st->out[i], cnt); return RE_OK;
    case RE_L_RESHAPE: if (d && d != g) memcpy(d, g, cnt * sizeof(float)); return RE_OK;
    }
    return re_fail(RE_ERR_ARG, "unknown layer kind %d", (int)l->kind);
}

/* ---- whole nets ----------------------------------------------------------------------------------------- */

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
        return re_fail(RE_ERR_ARG, "batch %d: the %s backend runs this state at its batch %d only", n,
                       st->backend->name, st->n);
    st->input = in;
    const float *x = in;
    uint64_t key = 0;
    if (st->flags & RE_NS_INFER) {
        key = weights_key(m);
        if (!st->fold_valid || key != st->fold_key) {
            for (int i = 0; i < net->n_layers; i++)
                if (st->fold[i]) fold_bn(st, net, i, m);
            st->fold_key = key;
            st->fold_valid = 1;
        }
    }
    for (int i = 0; i <= last; i++) {
        const re_layer *l = &net->layers[i];
        if (st->skip[i] & RE_SKIP_FWD) {
            st->out[i] = (float *)x; /* done by a neighbour: the output is the input */
            continue;
        }
        float *y = l->in_place ? (float *)x : st->out[i];
        if (l->in_place) st->out[i] = y;
        re_status s = layer_forward(net, st, m, i, n, y, x, training, key);
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
        return re_fail(RE_ERR_ARG, "batch %d: the %s backend runs this state at its batch %d only", n,
                       st->backend->name, st->n);
    const float *g = dout;
    float *bufs[2] = {st->grad_a, st->grad_b};
    int which = 0, g16 = 0; /* g16: the current gradient is in grad16 (bf16) only */
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
        if (st->skip[i] & RE_SKIP_BWD) continue; /* done by the layer before (fused BN + activation) */
        const float *in = i > 0 ? st->out[i - 1] : st->input;
        float *d;
        if (i == 0) d = din;                               /* may be NULL: first layer, skip input grad */
        else if (l->in_place && g != dout) d = (float *)g; /* elementwise: overwrite in place */
        else { d = bufs[which]; which ^= 1; }
        /* the input gradient of a BN / LeakyReLU right after a bf16 conv goes only to grad16 */
        uint16_t *d16 = st->bf16_only[i] && i > 0 && st->conv_bf16[i - 1] ? st->grad16 : NULL;
        if (d16) d = NULL;
        re_status s = layer_backward(net, st, m, i, n, grads, d, d16, g, g16, in);
        if (s != RE_OK) return re_fail_ctx(s, "backward %s", l->name);
        g16 = d16 != NULL;
        if (grads && st->grads_ready && (l->p_w >= 0 || l->p_b >= 0)) st->grads_ready(st->grads_ctx, l);
        g = d;
    }
    return RE_OK;
}

/* ---- single layers of a net (the encoder heads) ---------------------------------------------------------- */

re_status re_net_layer_forward(const re_net *net, re_net_state *st, int i, re_model *m, const float *in,
                               int training) {
    const re_layer *l = &net->layers[i];
    re_status s = layer_forward(net, st, m, i, st->n, st->out[i], in, training,
                                (st->flags & RE_NS_INFER) ? weights_key(m) : 0);
    return s ? re_fail_ctx(s, "forward %s", l->name) : RE_OK;
}

re_status re_net_layer_backward(const re_net *net, re_net_state *st, int i, re_model *m, float *grads, float *din,
                                const float *dout, const float *in) {
    const re_layer *l = &net->layers[i];
    re_status s = layer_backward(net, st, m, i, st->n, grads, din, NULL, dout, 0, in);
    if (s) return re_fail_ctx(s, "backward %s", l->name);
    if (grads && st->grads_ready && (l->p_w >= 0 || l->p_b >= 0)) st->grads_ready(st->grads_ctx, l);
    return RE_OK;
}
