/*
 * runner.c - inference: re_runner (eval-mode BatchNorm folded into the convolutions, fused activations, weights
 * reordered once per change), re_encode and re_decode; also the encoder+decoder state (vae_state) that the
 * training steps in train.c build on. Public API: include/reenact/reenact.h ("Inference").
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "model/model_internal.h"

/* ---- encoder + decoder state (shared with train.c) ------------------------------------------------------ */

/* flags: RE_NS_* (net.c): RE_NS_INFER for runners, RE_NS_BF16 for bf16 training. */
re_status re_vae_state_init(vae_state *v, re_model *m, int n, int flags) {
    memset(v, 0, sizeof *v);
    v->n = n;
    re_status s;
    if ((s = re_net_state_init_ex(&v->enc, m, &m->enc, n, flags)) ||
        (s = re_net_state_init_ex(&v->heads, m, &m->heads, n, flags)) ||
        (s = re_net_state_init_ex(&v->dec, m, &m->dec, n, flags)))
        return s;
    v->mu = v->heads.out[0];
    v->logvar = v->heads.out[1];
    return RE_OK;
}

void re_vae_state_free(vae_state *v, re_model *m) {
    if (v->enc.out) re_net_state_free(&v->enc, &m->enc);
    if (v->heads.out) re_net_state_free(&v->heads, &m->heads);
    if (v->dec.out) re_net_state_free(&v->dec, &m->dec);
}

/* x [n,...] -> v->mu, v->logvar. Returns the trunk output in *h. */
re_status re_vae_encode_fwd(vae_state *v, re_model *m, const float *x, int training, const float **h) {
    re_status s = re_net_forward(&m->enc, &v->enc, m, x, v->n, training, h);
    if (s) return s;
    for (int i = 0; i < 2; i++)
        if ((s = re_net_layer_forward(&m->heads, &v->heads, i, m, *h, training))) return s;
    return RE_OK;
}

/* ---- runner ---------------------------------------------------------------------------------------------- */

struct re_runner {
    re_model *m;
    vae_state v;
    re_precision prec;    /* RE_PREC_AUTO resolved */
    float *xbuf, *zbuf;   /* padded inputs */
};

re_status re_runner_create(re_runner **out, re_model *m, int max_batch) {
    return re_runner_create_ex(out, m, max_batch, RE_PREC_F32);
}

re_status re_runner_create_ex(re_runner **out, re_model *m, int max_batch, re_precision precision) {
    *out = NULL;
    if (max_batch < 1 || max_batch > 65536) return re_fail(RE_ERR_ARG, "runner: batch %d outside 1..65536", max_batch);
    if (precision != RE_PREC_F32 && precision != RE_PREC_BF16 && precision != RE_PREC_AUTO &&
        precision != RE_PREC_MIXED)
        return re_fail(RE_ERR_ARG, "runner: unknown precision %d (expected RE_PREC_F32, _BF16, _AUTO or _MIXED)",
                       (int)precision);
    const re_compute_backend *be = re_compute_backend_get(m->backend);
    /* AUTO: the rule's choice where the model's backend can run it, else f32 (the reference backend) */
    if (precision == RE_PREC_AUTO) {
        precision = re_precision_resolve(RE_PREC_AUTO, 0);
        if (!be || !be->plan) precision = RE_PREC_F32;
    }
    if (precision == RE_PREC_BF16 && (!be || !be->supports(NULL, precision)))
        return re_fail(RE_ERR_UNSUPPORTED, "runner: bf16 precision needs the oneDNN backend on a CPU with AVX-512 "
                       "(%s); use auto, mixed or f32 precision", re_compute_backend_bf16_where(be));
    if (precision == RE_PREC_MIXED && (!be || !be->plan))
        return re_fail(RE_ERR_UNSUPPORTED, "runner: mixed precision (bf16 linear weights) needs the oneDNN backend");
    re_runner *r = calloc(1, sizeof *r);
    if (!r) return re_fail(RE_ERR_NOMEM, "runner: out of memory");
    r->m = m;
    r->prec = precision;
    const re_config *c = &m->cfg;
    size_t img = (size_t)c->channels * c->res * c->res;
    /* inference states: eval BN folded into the convs, fused activations, weights reordered once per change */
    const int flags = RE_NS_INFER | (precision == RE_PREC_BF16 ? RE_NS_BF16 : 0) |
                      (precision == RE_PREC_MIXED ? RE_NS_FCW16 : 0);
    re_status s = re_vae_state_init(&r->v, m, max_batch, flags);
    if (s) goto fail;
    r->xbuf = re_alloc((size_t)max_batch * img * sizeof(float), "runner input");
    r->zbuf = re_alloc((size_t)max_batch * c->latent * sizeof(float), "runner latent");
    if (!r->xbuf || !r->zbuf) { s = RE_ERR_NOMEM; goto fail; }
    *out = r;
    return RE_OK;
fail:
    re_runner_free(r);
    return s;
}

void re_runner_free(re_runner *r) {
    if (!r) return;
    re_vae_state_free(&r->v, r->m);
    re_free(r->xbuf);
    re_free(r->zbuf);
    free(r);
}

/* Inputs are padded to the runner's batch so the backend objects (built for that batch) are always used. Eval-mode
 * BatchNorm treats samples independently, so padding does not change the results. */
re_status re_encode(re_runner *r, const float *x, int n, float *mu, float *logvar) {
    const re_config *c = &r->m->cfg;
    if (n < 1 || n > r->v.n) return re_fail(RE_ERR_ARG, "encode: batch %d outside 1..%d", n, r->v.n);
    size_t img = (size_t)c->channels * c->res * c->res;
    const float *in = x;
    if (n < r->v.n) {
        memcpy(r->xbuf, x, (size_t)n * img * sizeof(float));
        memset(r->xbuf + (size_t)n * img, 0, (size_t)(r->v.n - n) * img * sizeof(float));
        in = r->xbuf;
    }
    const float *h;
    re_status s = re_vae_encode_fwd(&r->v, r->m, in, 0, &h);
    if (s) return s;
    memcpy(mu, r->v.mu, (size_t)n * c->latent * sizeof(float));
    if (logvar) memcpy(logvar, r->v.logvar, (size_t)n * c->latent * sizeof(float));
    return RE_OK;
}

re_status re_decode(re_runner *r, const float *z, int n, float *x_out) {
    const re_config *c = &r->m->cfg;
    if (n < 1 || n > r->v.n) return re_fail(RE_ERR_ARG, "decode: batch %d outside 1..%d", n, r->v.n);
    const float *in = z;
    if (n < r->v.n) {
        memcpy(r->zbuf, z, (size_t)n * c->latent * sizeof(float));
        memset(r->zbuf + (size_t)n * c->latent, 0, (size_t)(r->v.n - n) * c->latent * sizeof(float));
        in = r->zbuf;
    }
    const float *out;
    re_status s = re_net_forward(&r->m->dec, &r->v.dec, r->m, in, r->v.n, 0, &out);
    if (s) return s;
    memcpy(x_out, out, (size_t)n * c->channels * c->res * c->res * sizeof(float));
    return RE_OK;
}

re_precision re_runner_precision(const re_runner *r) { return r ? r->prec : RE_PREC_F32; }

/* ---- per-layer table (re_runner_describe) ---------------------------------------------------------------- */

static const char *kind_name(re_layer_kind k) {
    switch (k) {
    case RE_L_CONV: return "conv";
    case RE_L_DECONV: return "convT";
    case RE_L_LINEAR: return "linear";
    case RE_L_BN: return "bn";
    case RE_L_LRELU: return "lrelu";
    case RE_L_SIGMOID: return "sigmoid";
    case RE_L_RESHAPE: return "reshape";
    }
    return "?";
}

typedef struct sbuf { char *p; size_t n, cap; int oom; } sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) { b->oom = 1; return; }
        if ((size_t)k < b->cap - b->n) { b->n += (size_t)k; return; }
        size_t cap = b->cap * 2 + (size_t)k + 256;
        char *q = realloc(b->p, cap);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = cap;
    }
}

static void describe_net(sbuf *b, const char *part, const re_net *net, const re_net_state *st) {
    for (int i = 0; i < net->n_layers; i++) {
        const re_layer *l = &net->layers[i];
        char impl[320], shape[48];
        snprintf(shape, sizeof shape, "%dx%dx%d", l->oc, l->oh, l->ow);
        if (st->skip && (st->skip[i] & RE_SKIP_FWD)) snprintf(impl, sizeof impl, "fused into the layer before");
        else if (l->kind != RE_L_CONV && l->kind != RE_L_DECONV && l->kind != RE_L_LINEAR)
            snprintf(impl, sizeof impl, "%s", l->kind == RE_L_RESHAPE ? "view (no op)" : "elementwise (ours)");
        else if (st->be[i]->describe) st->be[i]->describe(l, st->fast[i], impl, sizeof impl);
        else snprintf(impl, sizeof impl, "%s (reference ops)", st->be[i]->name);
        sb_add(b, "%-8s %-14s %-7s %-12s %s\n", part, l->name, kind_name(l->kind), shape, impl);
    }
}

char *re_runner_describe(const re_runner *r) {
    if (!r) return NULL;
    sbuf b = {malloc(4096), 0, 4096, 0};
    if (!b.p) return NULL;
    b.p[0] = 0;
    sb_add(&b, "%-8s %-14s %-7s %-12s %s\n", "part", "layer", "kind", "output", "implementation (forward)");
    describe_net(&b, "encoder", &r->m->enc, &r->v.enc);
    describe_net(&b, "heads", &r->m->heads, &r->v.heads);
    describe_net(&b, "decoder", &r->m->dec, &r->v.dec);
    if (b.oom) { free(b.p); return NULL; }
    return b.p;
}
