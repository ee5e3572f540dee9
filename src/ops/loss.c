/*
 * loss.c - losses with their gradients, the reparameterization trick, and Adam.
 * Loss values accumulate in double; gradients are written (not accumulated) and pre-multiplied by `scale`
 * (the loss weight), so the caller gets w * dL/dx in one pass. Reductions follow PyTorch (see ops.h).
 */
#include <math.h>

#include "core/core.h"
#include "ops/ops.h"

double re_loss_bce(float *grad, const float *p, const float *t, int n, size_t d, float scale) {
    const size_t cnt = (size_t)n * d;
    const float gs = scale / (float)n;
    double acc = 0;
#pragma omp parallel for reduction(+ : acc) schedule(static)
    for (size_t i = 0; i < cnt; i++) {
        /* PyTorch clamps each log at -100 and divides the gradient by max(p(1-p), 1e-12). */
        double lp = p[i] > 0 ? log(p[i]) : -INFINITY, l1p = p[i] < 1 ? log1p(-(double)p[i]) : -INFINITY;
        if (lp < -100) lp = -100;
        if (l1p < -100) l1p = -100;
        acc -= t[i] * lp + (1.0 - t[i]) * l1p;
        if (grad) {
            float den = (1.f - p[i]) * p[i];
            if (den < 1e-12f) den = 1e-12f;
            grad[i] = gs * (p[i] - t[i]) / den;
        }
    }
    return acc / n;
}

double re_loss_bce_logits_const(float *grad, const float *x, float target, int n, size_t d, float scale) {
    const size_t cnt = (size_t)n * d;
    const float gs = scale / (float)cnt;
    double acc = 0;
    for (size_t i = 0; i < cnt; i++) {
        double v = x[i];
        acc += (v > 0 ? v : 0) - v * target + log1p(exp(-fabs(v)));
        if (grad) {
            float s = v >= 0 ? 1.f / (1.f + expf(-x[i])) : expf(x[i]) / (1.f + expf(x[i]));
            grad[i] = gs * (s - target);
        }
    }
    return acc / (double)cnt;
}

double re_loss_mse(float *grad, const float *x, const float *t, int n, size_t d, float scale) {
    const size_t cnt = (size_t)n * d;
    const float gs = 2.f * scale / (float)cnt;
    double acc = 0;
#pragma omp parallel for reduction(+ : acc) schedule(static)
    for (size_t i = 0; i < cnt; i++) {
        double e = (double)x[i] - t[i];
        acc += e * e;
        if (grad) grad[i] = gs * (x[i] - t[i]);
    }
    return acc / (double)cnt;
}

double re_loss_l1(float *grad, const float *x, const float *t, int n, size_t d, float scale) {
    const size_t cnt = (size_t)n * d, blk = 1024, nb = (cnt + blk - 1) / blk;
    const float gs = scale / (float)cnt;
    double acc = 0;
    /* f32 partial sums over blocks of 1024 (vectorized), accumulated in double. */
#pragma omp parallel for reduction(+ : acc) schedule(static)
    for (size_t b = 0; b < nb; b++) {
        const size_t i0 = b * blk, i1 = i0 + blk < cnt ? i0 + blk : cnt;
        float part = 0;
        if (grad) {
#pragma omp simd reduction(+ : part)
            for (size_t i = i0; i < i1; i++) {
                float e = x[i] - t[i];
                part += fabsf(e);
                grad[i] = e > 0 ? gs : (e < 0 ? -gs : 0.f);
            }
        } else {
#pragma omp simd reduction(+ : part)
            for (size_t i = i0; i < i1; i++) part += fabsf(x[i] - t[i]);
        }
        acc += part;
    }
    return acc / (double)cnt;
}

double re_loss_kl(float *dmu, float *dlogvar, const float *mu, const float *logvar, int n, int d, float scale) {
    const size_t cnt = (size_t)n * d;
    const float gs = scale / (float)n;
    double acc = 0;
    for (size_t i = 0; i < cnt; i++) {
        double e = exp((double)logvar[i]);
        acc += 1.0 + logvar[i] - (double)mu[i] * mu[i] - e;
        if (dmu) dmu[i] = gs * mu[i];
        if (dlogvar) dlogvar[i] = gs * 0.5f * (expf(logvar[i]) - 1.f);
    }
    return -0.5 * acc / n;
}

void re_reparam_forward(float *z, float *eps, const float *mu, const float *logvar, int n, int d, re_rng *rng) {
    const size_t cnt = (size_t)n * d;
    if (rng)
        for (size_t i = 0; i < cnt; i++) eps[i] = re_rng_normal(rng);
    for (size_t i = 0; i < cnt; i++) z[i] = mu[i] + eps[i] * expf(0.5f * logvar[i]);
}

void re_reparam_backward(float *dmu, float *dlogvar, const float *dz, const float *eps, const float *logvar, int n,
                         int d) {
    const size_t cnt = (size_t)n * d;
    for (size_t i = 0; i < cnt; i++) {
        dmu[i] += dz[i];
        dlogvar[i] += dz[i] * eps[i] * 0.5f * expf(0.5f * logvar[i]);
    }
}

void re_adam_update(float *param, const float *grad, float *m, float *v, size_t count, const re_adam_params *p,
                    int64_t step) {
    /* Same operation order as torch.optim.Adam (single-tensor path, PyTorch 1.13). */
    const float b1 = (float)p->beta1, b2 = (float)p->beta2, wd = (float)p->weight_decay, eps = (float)p->eps;
    const float one_b1 = (float)(1.0 - p->beta1), one_b2 = (float)(1.0 - p->beta2);
    const double bc1 = 1.0 - pow(p->beta1, (double)step), bc2 = 1.0 - pow(p->beta2, (double)step);
    const float step_size = (float)(p->lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++) {
        float g = grad[i];
        if (wd != 0.f) g += wd * param[i];
        m[i] = m[i] * b1 + g * one_b1;
        v[i] = v[i] * b2 + g * g * one_b2;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        param[i] -= step_size * (m[i] / denom);
    }
}
