/*
 * net.c - sequential nets: per-batch state allocation, forward and backward over a layer list, and the dispatch
 * of each layer to the fast backend (oneDNN, when built and selected) or the plain-C reference ops.
 *
 * Memory: one arena per net state holds every layer output plus BN statistics; activation layers and reshapes
 * run in place (their output aliases their input; backward of LeakyReLU/sigmoid needs only the output, and no
 * layer's backward needs the output of the layer before an in-place activation), and activation gradients
 * ping-pong between two buffers sized for the largest layer.
 */
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

static re_status fast_create(const re_layer *l, int n, void **fast) {
    *fast = NULL;
#ifdef RE_HAVE_DNNL
    if (l->kind == RE_L_CONV || l->kind == RE_L_DECONV) {
        re_conv_params p = conv_params(l, n);
        return re_dnnl_conv_create((re_dnnl_conv **)fast, &p, l->kind == RE_L_DECONV, l->p_b >= 0);
    }
    if (l->kind == RE_L_LINEAR) return re_dnnl_linear_create((re_dnnl_linear **)fast, n, l->c, l->oc, l->p_b >= 0);
#else
    (void)l; (void)n;
#endif
    return RE_OK;
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

re_status re_net_state_init(re_net_state *st, const re_model *m, const re_net *net, int n) {
    memset(st, 0, sizeof *st);
    st->n = n;
    re_status s = RE_ERR_NOMEM;
    size_t total = 0, grad_cap = (size_t)n * re_net_in_count(net), cnt;
    st->out = calloc((size_t)net->n_layers, sizeof *st->out);
    st->bn_mean = calloc((size_t)net->n_layers, sizeof *st->bn_mean);
    st->bn_rstd = calloc((size_t)net->n_layers, sizeof *st->bn_rstd);
    st->fast = calloc((size_t)net->n_layers, sizeof *st->fast);
    if (!st->out || !st->bn_mean || !st->bn_rstd || !st->fast) { re_fail(s, "net state: out of memory"); goto fail; }
    for (int i = 0; i < net->n_layers; i++) {
        const re_layer *l = &net->layers[i];
        if (!re_mul_ok((size_t)n, re_layer_out_count(l), &cnt)) { re_fail(s, "net state: size overflow"); goto fail; }
        if (cnt > grad_cap) grad_cap = cnt;
        if (!l->in_place) total += (cnt + 15) & ~(size_t)15;
        if (l->kind == RE_L_BN) total += 2 * (((size_t)l->oc + 15) & ~(size_t)15);
    }
    st->act_arena = re_alloc(total * sizeof(float), "activations");
    st->grad_a = re_alloc(grad_cap * sizeof(float), "activation gradients");
    st->grad_b = re_alloc(grad_cap * sizeof(float), "activation gradients");
    if (!st->act_arena || !st->grad_a || !st->grad_b) goto fail;
    st->grad_cap = grad_cap;
    float *p = st->act_arena;
    for (int i = 0; i < net->n_layers; i++) {
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
        if (m->backend == RE_BACKEND_DNNL) {
            s = fast_create(l, n, &st->fast[i]);
            if (s != RE_OK) { re_fail_ctx(s, "layer %s", l->name); goto fail; }
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
    free(st->bn_mean);
    free(st->bn_rstd);
    free(st->fast);
    re_free(st->act_arena);
    re_free(st->grad_a);
    re_free(st->grad_b);
    memset(st, 0, sizeof *st);
}

re_status re_layer_forward(const re_layer *l, void **fast, re_model *m, float *out, const float *in, int n,
                           int training, float *bn_mean, float *bn_rstd) {
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
            re_bn_forward_train(out, bn_mean, bn_rstd, in, w, b, re_param_ptr(m, l->p_rm), re_param_ptr(m, l->p_rv),
                                m->cfg.bn_momentum, m->cfg.bn_eps, n, l->c, l->h * l->w);
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
                            const float *in, const float *out, int n, const float *bn_mean, const float *bn_rstd) {
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
        re_bn_backward(din, dw, db, dout, in, bn_mean, bn_rstd, w, n, l->c, l->h * l->w);
        return RE_OK;
    case RE_L_LRELU: if (din) re_lrelu_backward(din, dout, out, cnt, l->slope); return RE_OK;
    case RE_L_SIGMOID: if (din) re_sigmoid_backward(din, dout, out, cnt); return RE_OK;
    case RE_L_RESHAPE: if (din && din != dout) memcpy(din, dout, cnt * sizeof(float)); return RE_OK;
    }
    return re_fail(RE_ERR_ARG, "unknown layer kind %d", (int)l->kind);
}

re_status re_net_forward(const re_net *net, re_net_state *st, re_model *m, const float *in, int n, int training,
                         const float **out) {
    if (n <= 0 || n > st->n) return re_fail(RE_ERR_ARG, "batch %d outside 1..%d", n, st->n);
    st->input = in;
    const float *x = in;
    for (int i = 0; i < net->n_layers; i++) {
        const re_layer *l = &net->layers[i];
        float *y = l->in_place ? (float *)x : st->out[i];
        if (l->in_place) st->out[i] = y;
        void **fast = n == st->n ? &st->fast[i] : NULL; /* backend objects are built for st->n */
        re_status s = re_layer_forward(l, fast, m, y, x, n, training, st->bn_mean[i], st->bn_rstd[i]);
        if (s != RE_OK) return re_fail_ctx(s, "forward %s", l->name);
        x = y;
    }
    *out = x;
    return RE_OK;
}

re_status re_net_backward(const re_net *net, re_net_state *st, re_model *m, float *grads, const float *dout, int n,
                          float *din) {
    const float *g = dout;
    float *bufs[2] = {st->grad_a, st->grad_b};
    int which = 0;
    for (int i = net->n_layers - 1; i >= 0; i--) {
        const re_layer *l = &net->layers[i];
        const float *in = i > 0 ? st->out[i - 1] : st->input;
        float *d;
        if (i == 0) d = din;                    /* may be NULL: first layer, skip input grad */
        else if (l->in_place && g != dout) d = (float *)g; /* elementwise: overwrite in place */
        else { d = bufs[which]; which ^= 1; }
        void **fast = n == st->n ? &st->fast[i] : NULL;
        re_status s = re_layer_backward(l, fast, m, grads, d, g, in, st->out[i], n, st->bn_mean[i], st->bn_rstd[i]);
        if (s != RE_OK) return re_fail_ctx(s, "backward %s", l->name);
        g = d;
    }
    return RE_OK;
}
