/*
 * train.c - the training steps (VAE and VAE-GAN, exactly as docs/ARCH.md and tools/reenact_torch.py describe),
 * the NaN/Inf guard, and optimizer state save/load. Inference (re_runner, re_encode, re_decode) is in runner.c,
 * Adam in adam.c, checkpoint folders in checkpoint.c.
 *
 * VAE-GAN step (one forward of encoder+decoder per step):
 *   mu, logvar = E(x); z = mu + eps*exp(logvar/2); xr = G(z)
 *   1. D update:  d_loss = BCEwl(D(x), 1) + BCEwl(D(xr.detach()), 0)            -> Adam on D
 *   2. G update (D frozen, already updated): adv = BCEwl(D(xr), 1);
 *      fm = sum_l mean|D_l(xr) - D_l(x)|;  g = w_rec*rec + w_kl*kl + w_adv*adv + w_fm*fm   -> Adam on E+G
 * Either mode may add w_gdl * gdl(xr, x), the gradient difference loss (re_loss_gdl_acc), to g.
 *
 * Data-parallel (re_train_opts.dist, include/reenact/dist.h): rank r of W computes samples [r*B/W, (r+1)*B/W) of
 * the global batch B with every loss weight times 1/W (each loss is a mean over the batch, so the ranks' terms sum
 * to the global mean); the noise eps of the whole global batch is drawn from the shared RNG, so every sample gets
 * the noise it gets in one process; BatchNorm statistics are synchronized (re_bn_sync, ops.h); gradients are summed
 * in buckets that start while the backward goes on (on_grads, MPI_Iallreduce); every rank then checks and applies
 * the same Adam update. Ranks agree on failures at two points per step, so a NaN on one rank rolls back all.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/safetensors.h"
#include "dist/dist_internal.h"
#include "model/model_internal.h"

/* ---- trainer --------------------------------------------------------------------------------------------- */

struct re_trainer {
    re_model *m;
    re_train_opts o;
    int64_t step;
    re_rng rng;
    float *grads, *adam_m, *adam_v;     /* model-layout arenas */
    vae_state v;
    re_net_state d2, d1;                /* discriminator at batch 2B (D update) and B (G update) */
    float *eps, *z, *dz, *dmu, *dlogvar, *dh, *dh2, *dxr, *dxr2, *xx, *dlogit, *fm_target;
    float **fm_grad;                    /* per disc layer: extra gradient at its output (NULL if none) */
    size_t img;
    /* data-parallel (world 1: one process, the fields below are unused) */
    int world, rank, b;                 /* ranks, this rank, its share of the batch (b = batch in one process) */
    float share;                        /* 1 / world: the weight of this rank's loss terms */
    float *eps_all;                     /* [batch, latent]: the noise of the whole global batch */
    re_bn_sync sync;
    size_t bk_lo, bk_hi, bk_max;        /* the gradient bucket being gathered (floats of the arena) and its cap */
    re_status dist_err;                 /* first failure inside a callback */
};

/* ---- data-parallel plumbing ------------------------------------------------------------------------------ */

static void bn_sum(void *ctx, double *buf, int n) {
    re_trainer *t = ctx;
    re_status s = re_dist_sum_f64(t->o.dist, buf, (size_t)n);
    if (s && !t->dist_err) t->dist_err = s;
}

static void bucket_flush(re_trainer *t) {
    if (t->bk_hi > t->bk_lo) {
        re_status s = re_dist_grad_start(t->o.dist, t->grads + t->bk_lo, t->bk_hi - t->bk_lo,
                                         t->o.grad_bf16 ? RE_GRAD_BF16 : RE_GRAD_F32);
        if (s && !t->dist_err) t->dist_err = s;
    }
    t->bk_lo = t->bk_hi = 0;
}

/* After a layer's backward: its weight and bias gradients are final for this step. Adjacent ranges of the arena
 * gather into one bucket; a full bucket starts its allreduce. */
static void on_grads(void *ctx, const re_layer *l) {
    re_trainer *t = ctx;
    const int ps[2] = {l->p_w, l->p_b};
    for (int k = 0; k < 2; k++) {
        if (ps[k] < 0) continue;
        const re_param *p = &t->m->params[ps[k]];
        size_t lo = p->offset, hi = p->offset + p->count;
        if (t->bk_hi == t->bk_lo) { t->bk_lo = lo; t->bk_hi = hi; }
        else if (hi == t->bk_lo) t->bk_lo = lo;
        else if (lo == t->bk_hi) t->bk_hi = hi;
        else { bucket_flush(t); t->bk_lo = lo; t->bk_hi = hi; }
    }
    if (t->bk_hi - t->bk_lo >= t->bk_max) bucket_flush(t);
    re_dist_grad_progress(t->o.dist);
}

/* Every gradient of this phase summed over the ranks. */
static re_status grads_reduced(re_trainer *t) {
    if (t->world == 1) return RE_OK;
    bucket_flush(t);
    re_status s = re_dist_grad_wait(t->o.dist);
    if (t->dist_err) { s = t->dist_err; t->dist_err = RE_OK; }
    return s;
}

/* The ranks agree on the outcome of a phase: when any failed, all fail (the failing rank keeps its message). */
static re_status agree(re_trainer *t, re_status local) {
    if (t->world == 1) return local;
    int64_t v = local < 0 ? -(int64_t)local : 0;
    re_status s = re_dist_max_i64(t->o.dist, &v, 1);
    if (s) return s;
    if (local) return local;
    if (v) return re_fail((re_status)-v, "step %" PRId64 ": another rank failed (%s)", t->step + 1,
                          re_status_str((re_status)-v));
    return RE_OK;
}

static void attach(re_trainer *t, re_net_state *st, int grads) {
    st->sync = &t->sync;
    if (grads) {
        st->grads_ready = on_grads;
        st->grads_ctx = t;
    }
}

/* FNV-1a over 64-bit words of the parameter arena (weights and BatchNorm buffers). */
static uint64_t weights_hash(const re_model *m) {
    uint64_t h = 1469598103934665603ULL;
    const size_t nw = m->data_count / 2;
    for (size_t i = 0; i < nw; i++) {
        uint64_t u;
        memcpy(&u, m->data + 2 * i, sizeof u);
        h = (h ^ u) * 1099511628211ULL;
    }
    return h;
}

void re_train_opts_default(re_train_opts *o, re_train_mode mode) {
    memset(o, 0, sizeof *o);
    o->mode = mode;
    o->batch = 64;
    o->lr_g = mode == RE_MODE_VAEGAN ? 2e-4 : 1e-3;
    o->lr_d = 2e-4;
    o->beta1 = 0.5;
    o->beta2 = 0.999;
    o->adam_eps = 1e-8;
    o->weight_decay = 0;
    o->w_rec = 1.f;
    o->w_kl = 1.f;
    o->w_adv = mode == RE_MODE_VAEGAN ? 20.f : 0.f;
    o->w_fm = mode == RE_MODE_VAEGAN ? 100.f : 0.f;
    o->w_gdl = 0.f;
    o->seed = 1;
}

re_status re_trainer_create(re_trainer **out, re_model *m, const re_train_opts *o) {
    *out = NULL;
    if (o->batch < 1 || o->batch > 4096) return re_fail(RE_ERR_ARG, "trainer: batch %d outside 1..4096", o->batch);
    if (o->mode == RE_MODE_VAEGAN && !m->has_disc)
        return re_fail(RE_ERR_CONFIG, "trainer: VAE-GAN mode needs a model with a discriminator");
    if (!(o->lr_g > 0) || !(o->lr_d > 0) || !(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1) ||
        !(o->adam_eps > 0))
        return re_fail(RE_ERR_ARG, "trainer: Adam settings out of range (lr > 0, 0 <= beta < 1, eps > 0)");
    if (o->precision != RE_PREC_F32 && o->precision != RE_PREC_BF16)
        return re_fail(RE_ERR_ARG, "trainer: unknown precision %d (expected RE_PREC_F32 or RE_PREC_BF16)",
                       (int)o->precision);
    const re_compute_backend *be = re_compute_backend_get(m->backend);
    if (o->precision == RE_PREC_BF16 && !(be && be->supports(NULL, RE_PREC_BF16)))
        return re_fail(RE_ERR_UNSUPPORTED, "trainer: bf16 precision needs the oneDNN backend on a CPU with AVX-512 "
                       "(%s); use f32 or auto precision", re_compute_backend_bf16_where(be));
    const int world = re_dist_size(o->dist);
    if (o->batch % world)
        return re_fail(RE_ERR_ARG, "trainer: the global batch %d does not split evenly over %d ranks (use a multiple "
                       "of %d)", o->batch, world, world);
    re_trainer *t = calloc(1, sizeof *t);
    if (!t) return re_fail(RE_ERR_NOMEM, "trainer: out of memory");
    t->m = m;
    t->o = *o;
    if (world == 1) t->o.dist = NULL;
    t->world = world;
    t->rank = re_dist_rank(t->o.dist);
    t->b = o->batch / world;
    t->share = 1.f / (float)world;
    t->sync = (re_bn_sync){bn_sum, t, world};
    t->bk_max = (o->bucket_bytes ? o->bucket_bytes : (size_t)4 << 20) / sizeof(float);
    if (t->bk_max < 1) t->bk_max = 1;
    if (!t->o.check_every) t->o.check_every = 50;
    re_rng_seed(&t->rng, o->seed);
    const re_config *c = &m->cfg;
    const int B = t->b, L = c->latent;
    t->img = (size_t)c->channels * c->res * c->res;
    re_status s = RE_ERR_NOMEM;
    size_t dc = m->data_count;
    t->grads = re_alloc(dc * sizeof(float), "gradients");
    t->adam_m = re_alloc(dc * sizeof(float), "Adam first moments");
    t->adam_v = re_alloc(dc * sizeof(float), "Adam second moments");
    if (!t->grads || !t->adam_m || !t->adam_v) goto fail;
    const int flags = o->precision == RE_PREC_BF16 ? RE_NS_BF16 : 0;
    if ((s = re_vae_state_init(&t->v, m, B, flags))) goto fail;
    if (o->mode == RE_MODE_VAEGAN) {
        if ((s = re_net_state_init_ex(&t->d2, m, &m->disc, 2 * B, flags)) ||
            (s = re_net_state_init_ex(&t->d1, m, &m->disc, B, flags)))
            goto fail;
    }
    s = RE_ERR_NOMEM;
    size_t lat = (size_t)B * L, hid = (size_t)B * c->fc_hidden, imgs = (size_t)B * t->img;
    const re_float_buf bufs[] = {
        {&t->eps, lat, "eps"},   {&t->z, lat, "z"},         {&t->dz, lat, "dz"},
        {&t->dmu, lat, "dmu"},   {&t->dlogvar, lat, "dlogvar"}, {&t->dh, hid, "dh"},
        {&t->dh2, hid, "dh"},    {&t->dxr, imgs, "dxr"},    {&t->dxr2, imgs, "dxr"},
        {&t->xx, 2 * imgs, "disc batch"}, {&t->dlogit, 2 * (size_t)B, "disc logits grad"},
    };
    if (re_alloc_floats(bufs, RE_COUNT(bufs)) != RE_OK) goto fail;
    if (world > 1) {
        if (!(t->eps_all = re_alloc((size_t)o->batch * L * sizeof(float), "global-batch noise"))) goto fail;
        attach(t, &t->v.enc, 1);
        attach(t, &t->v.heads, 1);
        attach(t, &t->v.dec, 1);
        if (o->mode == RE_MODE_VAEGAN) {
            attach(t, &t->d2, 1);
            attach(t, &t->d1, 0);
        }
        /* every rank must start from the same weights (same --init file, same checkpoint) */
        if ((s = re_dist_check_same(t->o.dist, weights_hash(m), "the starting weights"))) goto fail;
    }
    if (o->mode == RE_MODE_VAEGAN) {
        size_t feat = 0;
        for (int i = 0; i < m->disc.n_feat; i++) feat += (size_t)B * re_layer_out_count(&m->disc.layers[m->disc.feat_layers[i]]);
        t->fm_target = re_alloc(2 * feat * sizeof(float), "feature-matching buffers");
        t->fm_grad = calloc((size_t)m->disc.n_layers, sizeof *t->fm_grad);
        if (!t->fm_target || !t->fm_grad) goto fail;
        float *p = t->fm_target + feat;
        for (int i = 0; i < m->disc.n_feat; i++) {
            int li = m->disc.feat_layers[i];
            t->fm_grad[li] = p;
            p += (size_t)B * re_layer_out_count(&m->disc.layers[li]);
        }
    }
    *out = t;
    return RE_OK;
fail:
    re_trainer_free(t);
    return s;
}

void re_trainer_free(re_trainer *t) {
    if (!t) return;
    re_vae_state_free(&t->v, t->m);
    if (t->d2.out) re_net_state_free(&t->d2, &t->m->disc);
    if (t->d1.out) re_net_state_free(&t->d1, &t->m->disc);
    float *bufs[] = {t->grads, t->adam_m, t->adam_v, t->eps, t->z, t->dz, t->dmu, t->dlogvar, t->dh, t->dh2, t->dxr,
                     t->dxr2, t->xx, t->dlogit, t->fm_target, t->eps_all};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) re_free(bufs[i]);
    free(t->fm_grad);
    free(t);
}

int64_t re_trainer_steps(const re_trainer *t) { return t->step; }

void re_trainer_set_lr(re_trainer *t, double lr_g, double lr_d) {
    if (lr_g > 0) t->o.lr_g = lr_g;
    if (lr_d > 0) t->o.lr_d = lr_d;
}

/* NaN/Inf guard over the gradients of one part (or of encoder+decoder when part < 0). A vectorized pass per tensor
 * (x * 0 is 0 for finite x, NaN for Inf/NaN); the element is looked up only when one is found. */
static re_status check_grads(const re_trainer *t, int part) {
    const re_model *m = t->m;
    for (int i = 0; i < m->n_params; i++) {
        const re_param *p = &m->params[i];
        if (p->kind != RE_P_WEIGHT) continue;
        if (part < 0 ? p->part == RE_PART_DISC : (int)p->part != part) continue;
        const float *g = t->grads + p->offset;
        float z = 0;
#pragma omp simd reduction(+ : z)
        for (size_t k = 0; k < p->count; k++) z += g[k] * 0.f;
        if (z == 0.f) continue;
        for (size_t k = 0; k < p->count; k++)
            if (!isfinite(g[k]))
                return re_fail(RE_ERR_NONFINITE, "step %" PRId64 ": non-finite gradient in '%s' (element %zu = %g)",
                               t->step + 1, p->name, k, (double)g[k]);
    }
    return RE_OK;
}

static void adam_part(re_trainer *t, int disc, double lr) {
    re_model *m = t->m;
    re_adam_params ap = {lr, t->o.beta1, t->o.beta2, t->o.adam_eps, t->o.weight_decay};
    for (int i = 0; i < m->n_params; i++) {
        const re_param *p = &m->params[i];
        if (p->kind != RE_P_WEIGHT || (p->part == RE_PART_DISC) != disc) continue;
        re_adam_update(m->data + p->offset, t->grads + p->offset, t->adam_m + p->offset, t->adam_v + p->offset,
                       p->count, &ap, t->step + 1);
    }
    m->version++; /* runners' cached (folded, reordered) weights are stale now */
}

/* A non-finite loss ends the step at once in one process; with several ranks the step goes on to the next point
 * where the ranks agree (a rank alone must not leave the collectives of the others waiting). */
#define LOSS_OK(v, name)                                                                                           \
    do {                                                                                                           \
        if (!isfinite(v)) {                                                                                        \
            re_status e_ = re_fail(RE_ERR_NONFINITE, "step %" PRId64 ": %s loss is %g", t->step + 1, name,         \
                                   (double)(v));                                                                   \
            if (t->world == 1) return e_;                                                                          \
            if (!bad) bad = e_;                                                                                    \
        }                                                                                                          \
    } while (0)

/* Backward through heads and encoder trunk given dmu/dlogvar (complete). */
static re_status encoder_bwd(re_trainer *t) {
    re_model *m = t->m;
    const int B = t->b;
    vae_state *v = &t->v;
    const float *h = v->enc.out[m->enc.n_layers - 1];
    re_status s = re_net_layer_backward(&m->heads, &v->heads, 0, m, t->grads, t->dh, t->dmu, h);
    if (!s) s = re_net_layer_backward(&m->heads, &v->heads, 1, m, t->grads, t->dh2, t->dlogvar, h);
    if (s) return s;
    const size_t nh = (size_t)B * m->cfg.fc_hidden;
    float *dh = t->dh;
    const float *dh2 = t->dh2;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < nh; i++) dh[i] += dh2[i];
    return re_net_backward(&m->enc, &v->enc, m, t->grads, t->dh, B, NULL);
}

/* Runs backward from dlogits at the discriminator; extra feature-matching gradients go in at feature layers. */
static re_status disc_backward(re_trainer *t, re_net_state *st, float *grads, const float *dout, int n, float *din,
                               float **extra);

re_status re_trainer_step(re_trainer *t, const float *x, const float *eps_override, re_step_stats *st) {
    return re_trainer_step_ex(t, x, eps_override, st, 1);
}

float *re_trainer_grads(re_trainer *t) { return t->grads; }

re_status re_trainer_step_ex(re_trainer *t, const float *x, const float *eps_override, re_step_stats *st, int apply) {
    re_model *m = t->m;
    const re_train_opts *o = &t->o;
    const int B = t->b, L = m->cfg.latent;   /* B: this rank's share of the batch */
    const size_t imgs = (size_t)B * t->img;
    const float sh = t->share;                /* 1 in one process */
    vae_state *v = &t->v;
    re_step_stats z = {0};
    re_status s, bad = RE_OK;
    const float *h, *xr;

    if (t->world > 1) {
        x += (size_t)t->rank * imgs;
        if (eps_override) memcpy(t->eps_all, eps_override, (size_t)o->batch * L * sizeof(float));
        else for (size_t i = 0; i < (size_t)o->batch * L; i++) t->eps_all[i] = re_rng_normal(&t->rng);
        memcpy(t->eps, t->eps_all + (size_t)t->rank * B * L, (size_t)B * L * sizeof(float));
        eps_override = t->eps;
    }
    if ((s = re_vae_encode_fwd(v, m, x, 1, &h))) return s;
    if (eps_override && eps_override != t->eps) memcpy(t->eps, eps_override, (size_t)B * L * sizeof(float));
    re_reparam_forward(t->z, t->eps, v->mu, v->logvar, B, L, eps_override ? NULL : &t->rng);
    if ((s = re_net_forward(&m->dec, &v->dec, m, t->z, B, 1, &xr))) return s;

    if (o->mode == RE_MODE_VAEGAN) {
        /* 1. Discriminator update on [x ; xr.detach()]. */
        memcpy(t->xx, x, imgs * sizeof(float));
        memcpy(t->xx + imgs, xr, imgs * sizeof(float));
        const float *logit;
        if ((s = re_net_forward(&m->disc, &t->d2, m, t->xx, 2 * B, 1, &logit))) return s;
        double lr = re_loss_bce_logits_const(t->dlogit, logit, 1.f, B, 1, sh);
        double lf = re_loss_bce_logits_const(t->dlogit + B, logit + B, 0.f, B, 1, sh);
        double dr = 0, df = 0;
        for (int i = 0; i < B; i++) {
            dr += 1.0 / (1.0 + exp(-(double)logit[i]));
            df += 1.0 / (1.0 + exp(-(double)logit[B + i]));
        }
        z.d_real = dr / B;
        z.d_fake = df / B;
        z.d_loss = lr + lf;
        LOSS_OK(z.d_loss, "discriminator");
        if ((s = disc_backward(t, &t->d2, t->grads, t->dlogit, 2 * B, NULL, NULL))) return s;
        if ((s = grads_reduced(t))) return s;
        if ((s = agree(t, bad ? bad : check_grads(t, RE_PART_DISC)))) return s;
        if (apply) adam_part(t, 1, o->lr_d);

        /* 2. Generator-side adversarial + feature-matching gradients through the updated, frozen D. */
        const int nf = m->disc.n_feat;
        if (o->w_fm != 0.f) {
            /* only the feature taps of D(x) are needed: stop at the last one (the fc layers are skipped) */
            if ((s = re_net_forward_upto(&m->disc, &t->d1, m, x, B, 1, m->disc.feat_layers[nf - 1], &logit))) return s;
            float *p = t->fm_target;
            for (int i = 0; i < nf; i++) {
                int li = m->disc.feat_layers[i];
                size_t cnt = (size_t)B * re_layer_out_count(&m->disc.layers[li]);
                memcpy(p, t->d1.out[li], cnt * sizeof(float));
                p += cnt;
            }
        }
        if ((s = re_net_forward(&m->disc, &t->d1, m, xr, B, 1, &logit))) return s;
        z.adv = re_loss_bce_logits_const(t->dlogit, logit, 1.f, B, 1, o->w_adv * sh);
        if (o->w_fm != 0.f) {
            const float *p = t->fm_target;
            for (int i = 0; i < nf; i++) {
                int li = m->disc.feat_layers[i];
                size_t per = re_layer_out_count(&m->disc.layers[li]);
                z.fm += re_loss_l1(t->fm_grad[li], t->d1.out[li], p, B, per, o->w_fm * sh);
                p += (size_t)B * per;
            }
        }
        LOSS_OK(z.adv, "adversarial");
        LOSS_OK(z.fm, "feature-matching");
        if ((s = disc_backward(t, &t->d1, NULL, t->dlogit, B, t->dxr2, o->w_fm != 0.f ? t->fm_grad : NULL))) return s;
    }

    /* Reconstruction and KL. */
    z.rec = re_loss_bce(t->dxr, xr, x, B, t->img, o->w_rec * sh);
    z.kl = re_loss_kl(t->dmu, t->dlogvar, v->mu, v->logvar, B, L, o->w_kl * sh);
    LOSS_OK(z.rec, "reconstruction");
    LOSS_OK(z.kl, "KL");
    if (o->w_gdl != 0.f) {
        const re_config *mc = &m->cfg;
        z.gdl = re_loss_gdl_acc(t->dxr, xr, x, B, mc->channels, mc->res, mc->res, o->w_gdl * sh);
        LOSS_OK(z.gdl, "gradient-difference");
    }
    if (o->mode == RE_MODE_VAEGAN) {
        float *dxr = t->dxr;
        const float *dxr2 = t->dxr2;
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < imgs; i++) dxr[i] += dxr2[i];
    }
    z.g_loss = o->w_rec * z.rec + o->w_kl * z.kl + o->w_adv * z.adv + o->w_fm * z.fm + o->w_gdl * z.gdl;
    LOSS_OK(z.g_loss, "total");

    if ((s = re_net_backward(&m->dec, &v->dec, m, t->grads, t->dxr, B, t->dz))) return s;
    re_reparam_backward_acc(t->dmu, t->dlogvar, t->dz, t->eps, v->logvar, B, L);
    if ((s = encoder_bwd(t))) return s;
    if ((s = grads_reduced(t))) return s;
    if ((s = agree(t, bad ? bad : check_grads(t, -1)))) return s;
    if (t->world > 1) {
        /* the step's losses over the global batch: the mean of the ranks' means (equal shares) */
        double sum[8] = {z.rec, z.kl, z.adv, z.fm, z.gdl, z.d_loss, z.d_real, z.d_fake};
        for (int i = 0; i < 8; i++) sum[i] *= sh;
        if ((s = re_dist_sum_f64(o->dist, sum, 8))) return s;
        z.rec = sum[0]; z.kl = sum[1]; z.adv = sum[2]; z.fm = sum[3]; z.gdl = sum[4];
        z.d_loss = sum[5]; z.d_real = sum[6]; z.d_fake = sum[7];
        z.g_loss = o->w_rec * z.rec + o->w_kl * z.kl + o->w_adv * z.adv + o->w_fm * z.fm + o->w_gdl * z.gdl;
    }
    if (!apply) { if (st) *st = z; return RE_OK; }
    adam_part(t, 0, o->lr_g);
    t->step++;
    if (t->world > 1 && t->o.check_every > 0 && t->step % t->o.check_every == 0 &&
        (s = re_dist_check_same(o->dist, weights_hash(m), "the weights")))
        return re_fail_ctx(s, "step %" PRId64 ": the ranks' models diverged (a rank computed another update)",
                           t->step);
    if (st) *st = z;
    return RE_OK;
}

static re_status disc_backward(re_trainer *t, re_net_state *st, float *grads, const float *dout, int n, float *din,
                               float **extra) {
    return re_net_backward_ex(&t->m->disc, st, t->m, grads, dout, n, din, extra);
}

/* Eval-mode forward of up to b images (this rank's share of the batch; padded); leaves reconstructions in the
 * decoder output. */
static re_status eval_fwd(re_trainer *t, const float *x, int n, const float **xr, const float **xin) {
    const int B = t->b;
    if (n < 1 || n > B) return re_fail(RE_ERR_ARG, "eval: batch %d outside 1..%d", n, B);
    const float *in = x;
    if (n < B) {
        memcpy(t->xx, x, (size_t)n * t->img * sizeof(float));
        memset(t->xx + (size_t)n * t->img, 0, (size_t)(B - n) * t->img * sizeof(float));
        in = t->xx;
    }
    const float *h;
    re_status s = re_vae_encode_fwd(&t->v, t->m, in, 0, &h);
    if (s) return s;
    *xin = in;
    return re_net_forward(&t->m->dec, &t->v.dec, t->m, t->v.mu, B, 0, xr);
}

/* Validation runs on the calling rank alone (no collectives): up to the global batch, in chunks of this rank's
 * share (one chunk in one process). */
re_status re_trainer_eval(re_trainer *t, const float *x, int n, re_step_stats *st) {
    if (n < 1 || n > t->o.batch) return re_fail(RE_ERR_ARG, "eval: batch %d outside 1..%d", n, t->o.batch);
    memset(st, 0, sizeof *st);
    for (int i0 = 0; i0 < n; i0 += t->b) {
        const int k = n - i0 < t->b ? n - i0 : t->b;
        const float *xr, *xin;
        re_status s = eval_fwd(t, x + (size_t)i0 * t->img, k, &xr, &xin);
        if (s) return s;
        const double rec = re_loss_bce(NULL, xr, xin, k, t->img, 1.f);
        const double kl = re_loss_kl(NULL, NULL, t->v.mu, t->v.logvar, k, t->m->cfg.latent, 1.f);
        if (k == n) { st->rec = rec; st->kl = kl; }
        else { st->rec += rec * k / n; st->kl += kl * k / n; }
    }
    st->g_loss = t->o.w_rec * st->rec + t->o.w_kl * st->kl;
    return RE_OK;
}

re_status re_trainer_reconstruct(re_trainer *t, const float *x, int n, float *out) {
    if (n < 1 || n > t->o.batch) return re_fail(RE_ERR_ARG, "eval: batch %d outside 1..%d", n, t->o.batch);
    for (int i0 = 0; i0 < n; i0 += t->b) {
        const int k = n - i0 < t->b ? n - i0 : t->b;
        const float *xr, *xin;
        re_status s = eval_fwd(t, x + (size_t)i0 * t->img, k, &xr, &xin);
        if (s) return s;
        memcpy(out + (size_t)i0 * t->img, xr, (size_t)k * t->img * sizeof(float));
    }
    return RE_OK;
}

/* ---- optimizer state ------------------------------------------------------------------------------------- */

#define OPT_FORMAT "reenact-optim"

re_status re_trainer_save_state(const re_trainer *t, const char *path, const char *const *extra_meta) {
    const re_model *m = t->m;
    re_status s = RE_ERR_NOMEM;
    re_st_entry *e = calloc(2 * (size_t)m->n_params, sizeof *e);
    char (*names)[80] = calloc(2 * (size_t)m->n_params, sizeof *names);
    size_t n_extra = 0;
    while (extra_meta && extra_meta[2 * n_extra]) n_extra++;
    const char **meta = calloc(2 * (n_extra + 4), sizeof *meta);
    char step[32], rng[80], mode[8];
    if (!e || !names || !meta) { re_fail(s, "save %s: out of memory", path); goto done; }
    size_t n = 0;
    for (int i = 0; i < m->n_params; i++) {
        const re_param *p = &m->params[i];
        if (p->kind != RE_P_WEIGHT) continue;
        if (p->part == RE_PART_DISC && t->o.mode != RE_MODE_VAEGAN) continue;
        for (int k = 0; k < 2; k++) {
            snprintf(names[n], sizeof names[n], "%s.%s", k ? "v" : "m", p->name);
            e[n].name = names[n];
            e[n].dtype = RE_DT_F32;
            e[n].ndim = p->ndim;
            for (int d = 0; d < p->ndim; d++) e[n].shape[d] = p->shape[d];
            e[n].src_f32 = (k ? t->adam_v : t->adam_m) + p->offset;
            n++;
        }
    }
    snprintf(step, sizeof step, "%" PRId64, t->step);
    snprintf(rng, sizeof rng, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, t->rng.s[0], t->rng.s[1],
             t->rng.s[2], t->rng.s[3]);
    snprintf(mode, sizeof mode, "%s", t->o.mode == RE_MODE_VAEGAN ? "vaegan" : "vae");
    size_t k = 0;
    meta[k++] = "format"; meta[k++] = OPT_FORMAT;
    meta[k++] = "step"; meta[k++] = step;
    meta[k++] = "rng"; meta[k++] = rng;
    meta[k++] = "mode"; meta[k++] = mode;
    for (size_t i = 0; i < 2 * n_extra; i++) meta[k++] = extra_meta[i];
    s = re_st_write(path, e, n, meta, k / 2);
done:
    free(e);
    free(names);
    free(meta);
    return s;
}

re_status re_trainer_load_state(re_trainer *t, const char *path) {
    const re_model *m = t->m;
    re_st_file *f = NULL;
    re_status s = re_st_load(&f, path);
    if (s) return s;
    const char *fmt = re_st_meta(f, "format"), *step = re_st_meta(f, "step"), *rng = re_st_meta(f, "rng"),
               *mode = re_st_meta(f, "mode");
    const char *want_mode = t->o.mode == RE_MODE_VAEGAN ? "vaegan" : "vae";
    re_rng r;
    if (!fmt || strcmp(fmt, OPT_FORMAT) || !step || !rng || strlen(rng) != 64 || !mode) {
        s = re_fail(RE_ERR_BAD_HEADER, "%s: not a reenact optimizer state (format/step/rng/mode metadata)", path);
        goto done;
    }
    if (strcmp(mode, want_mode)) {
        s = re_fail(RE_ERR_CONFIG, "%s: optimizer state is for mode '%s', this run is '%s'", path, mode, want_mode);
        goto done;
    }
    if (strspn(rng, "0123456789abcdefABCDEF") != 64) {
        s = re_fail(RE_ERR_BAD_HEADER, "%s: rng metadata is not 64 hex digits", path);
        goto done;
    }
    for (int i = 0; i < 4; i++) {
        char part[17];
        memcpy(part, rng + 16 * i, 16);
        part[16] = 0;
        r.s[i] = strtoull(part, NULL, 16);
    }
    if (!(r.s[0] | r.s[1] | r.s[2] | r.s[3])) {
        s = re_fail(RE_ERR_BAD_HEADER, "%s: rng state is all zeros (the generator would only give zeros)", path);
        goto done;
    }
    char *end = NULL;
    errno = 0;
    long long stp = strtoll(step, &end, 10);
    if (end == step || *end || errno || stp < 0) {
        s = re_fail(RE_ERR_BAD_HEADER, "%s: step metadata '%.40s' is not a count of steps", path, step);
        goto done;
    }
    size_t expected = 0;
    for (int i = 0; i < m->n_params; i++) {
        const re_param *p = &m->params[i];
        if (p->kind != RE_P_WEIGHT || (p->part == RE_PART_DISC && t->o.mode != RE_MODE_VAEGAN)) continue;
        for (int k = 0; k < 2; k++) {
            char name[80];
            snprintf(name, sizeof name, "%s.%s", k ? "v" : "m", p->name);
            const re_st_tensor *tt = re_st_find(f, name);
            if (!tt) { s = re_fail(RE_ERR_MISSING, "%s: tensor '%s' is missing", path, name); goto done; }
            int same = tt->ndim == p->ndim;
            for (int d = 0; same && d < p->ndim; d++) same = tt->shape[d] == p->shape[d];
            if (!same) {
                s = re_fail(RE_ERR_SHAPE, "%s: tensor '%s' has another shape than the model's parameter", path, name);
                goto done;
            }
            float *dst = (k ? t->adam_v : t->adam_m) + p->offset;
            if ((s = re_st_to_f32(f, tt, dst, p->count))) {
                re_fail_ctx(s, "%s: tensor '%s'", path, name);
                goto done;
            }
            for (size_t e = 0; e < p->count; e++)
                if (!isfinite(dst[e]) || (k && dst[e] < 0)) {
                    s = re_fail(isfinite(dst[e]) ? RE_ERR_BAD_HEADER : RE_ERR_NONFINITE,
                                "%s: tensor '%s' element %zu is %g (%s)", path, name, e, (double)dst[e],
                                isfinite(dst[e]) ? "a second moment is never negative" : "not finite");
                    goto done;
                }
            expected++;
        }
    }
    if (f->n_tensors != expected) {
        s = re_fail(RE_ERR_UNKNOWN, "%s: %zu tensors, expected %zu (another architecture?)", path, f->n_tensors,
                    expected);
        goto done;
    }
    t->step = stp;
    t->rng = r;
done:
    re_st_free(f);
    return s;
}
