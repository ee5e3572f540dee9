/*
 * loss.c - losses with their gradients.
 * Loss values accumulate in double; gradients are written (not accumulated; re_loss_gdl_acc adds, as its name says)
 * and pre-multiplied by `scale` (the loss weight), so the caller gets w * dL/dx in one pass. Reductions follow
 * PyTorch (see ops.h). The reparameterization is in reparam.c, Adam in src/model/adam.c.
 */
#include <math.h>
#include <stdint.h>

#include "core/core.h"
#include "ops/ops.h"

/* Natural log of x > 0 in f32 with ~1 ulp error (fdlibm/musl's logf reduction and polynomial), written so that a
 * loop of calls vectorizes (glibc's scalar logf/log1p would dominate the BCE pass). x == 0 gives -inf,
 * subnormals are scaled first. */
static inline float vlogf(float x) {
    union { float f; uint32_t u; } v;
    const int sub = x < 1.17549435e-38f;
    v.f = sub ? x * 8388608.0f : x; /* 2^23 */
    uint32_t ix = v.u + (0x3f800000u - 0x3f3504f3u);
    const int k = (int)(ix >> 23) - 0x7f - (sub ? 23 : 0);
    v.u = (ix & 0x007fffffu) + 0x3f3504f3u;
    const float f = v.f - 1.0f, s = f / (2.0f + f), z = s * s, w = z * z;
    const float t1 = w * (0.40000972152f + w * 0.24279078841f), t2 = z * (0.66666662693f + w * 0.28498786688f);
    const float R = t2 + t1, hfsq = 0.5f * f * f, dk = (float)k;
    const float r = s * (hfsq + R) + dk * 9.0580006145e-06f - hfsq + f + dk * 6.9313812256e-01f;
    return x > 0 ? r : -INFINITY;
}

/* log(1 + x) for x > -1 from vlogf with the classic correction for the rounding of u = 1 + x. */
static inline float vlog1pf(float x) {
    const float u = 1.0f + x;
    const float c = (u - 1.0f) - x; /* rounding error of u */
    const float r = vlogf(u) - (u > 0 ? c / u : 0.0f);
    return u == 1.0f ? x : r;
}

#if defined(__AVX512F__)
#include <immintrin.h>
/* 16 lanes of vlogf with AVX-512 getexp/getmant (which also normalize subnormals): x = m * 2^e with m in
 * [sqrt(1/2), sqrt(2)), then the same polynomial. x == 0 gives -inf. */
static inline __m512 vlogf16(__m512 x) {
    __m512 m = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero), e = _mm512_getexp_ps(x);
    const __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
    m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
    e = _mm512_mask_add_ps(e, big, e, _mm512_set1_ps(1.0f));
    const __m512 one = _mm512_set1_ps(1.0f), f = _mm512_sub_ps(m, one);
    const __m512 s = _mm512_div_ps(f, _mm512_add_ps(_mm512_set1_ps(2.0f), f)), z = _mm512_mul_ps(s, s),
                 w = _mm512_mul_ps(z, z);
    const __m512 t1 = _mm512_mul_ps(w, _mm512_fmadd_ps(w, _mm512_set1_ps(0.24279078841f), _mm512_set1_ps(0.40000972152f)));
    const __m512 t2 = _mm512_mul_ps(z, _mm512_fmadd_ps(w, _mm512_set1_ps(0.28498786688f), _mm512_set1_ps(0.66666662693f)));
    const __m512 R = _mm512_add_ps(t2, t1), hfsq = _mm512_mul_ps(_mm512_set1_ps(0.5f), _mm512_mul_ps(f, f));
    __m512 r = _mm512_fmadd_ps(s, _mm512_add_ps(hfsq, R), _mm512_mul_ps(e, _mm512_set1_ps(9.0580006145e-06f)));
    r = _mm512_add_ps(_mm512_add_ps(_mm512_sub_ps(r, hfsq), f), _mm512_mul_ps(e, _mm512_set1_ps(6.9313812256e-01f)));
    const __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
    return _mm512_mask_blend_ps(pos, _mm512_set1_ps(-INFINITY), r);
}

/* Sum over i of t*max(log p, -100) + (1-t)*max(log1p(-p), -100), 16 lanes at a time; terms in f32 (~1 ulp),
 * the sum in double (the gradient checks difference loss values, so the sum must not add rounding noise). */
static double bce_terms(const float *p, const float *t, size_t n) {
    __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
    const __m512 one = _mm512_set1_ps(1.0f), lo = _mm512_set1_ps(-100.f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 pv = _mm512_loadu_ps(p + i), tv = _mm512_loadu_ps(t + i);
        const __m512 u = _mm512_sub_ps(one, pv);                     /* 1 - p, then the log1p correction */
        const __m512 c = _mm512_add_ps(_mm512_sub_ps(u, one), pv);   /* (u - 1) - (-p) */
        __m512 l1p = _mm512_sub_ps(vlogf16(u), _mm512_maskz_div_ps(_mm512_cmp_ps_mask(u, _mm512_setzero_ps(),
                                                                                        _CMP_GT_OQ), c, u));
        l1p = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(u, one, _CMP_EQ_OQ), l1p, _mm512_sub_ps(_mm512_setzero_ps(), pv));
        const __m512 lp = _mm512_max_ps(vlogf16(pv), lo);
        l1p = _mm512_max_ps(l1p, lo);
        const __m512 term = _mm512_fmadd_ps(tv, lp, _mm512_mul_ps(_mm512_sub_ps(one, tv), l1p));
        acc0 = _mm512_add_pd(acc0, _mm512_cvtps_pd(_mm512_castps512_ps256(term)));
        acc1 = _mm512_add_pd(acc1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(term), 1))));
    }
    double r = _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
    for (; i < n; i++) {
        float lp = vlogf(p[i]), l1p = vlog1pf(-p[i]);
        r += t[i] * (lp < -100.f ? -100.f : lp) + (1.f - t[i]) * (l1p < -100.f ? -100.f : l1p);
    }
    return r;
}
#else
static double bce_terms(const float *p, const float *t, size_t n) {
    double r = 0;
    for (size_t i = 0; i < n; i++) {
        float lp = vlogf(p[i]), l1p = vlog1pf(-p[i]);
        r += t[i] * (lp < -100.f ? -100.f : lp) + (1.f - t[i]) * (l1p < -100.f ? -100.f : l1p);
    }
    return r;
}
#endif

double re_loss_bce(float *grad, const float *p, const float *t, int n, size_t d, float scale) {
    const size_t cnt = (size_t)n * d, blk = 1024, nb = (cnt + blk - 1) / blk;
    const float gs = scale / (float)n;
    double acc = 0;
    /* f32 terms (PyTorch computes BCE in f32 too) summed in double. PyTorch clamps each log at -100 and divides
     * the gradient by max(p(1-p), 1e-12). */
#pragma omp parallel for reduction(+ : acc) schedule(static)
    for (size_t b = 0; b < nb; b++) {
        const size_t i0 = b * blk, i1 = i0 + blk < cnt ? i0 + blk : cnt;
        acc -= bce_terms(p + i0, t + i0, i1 - i0);
        if (grad) {
#pragma omp simd
            for (size_t i = i0; i < i1; i++) {
                float den = (1.f - p[i]) * p[i];
                if (den < 1e-12f) den = 1e-12f;
                grad[i] = gs * (p[i] - t[i]) / den;
            }
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
    const size_t cnt = (size_t)n * d;
    const float gs = scale / (float)cnt;
    double acc = 0;
    /* |e| summed in double lanes (vectorized; the gradient checks difference loss values) */
    if (grad) {
#pragma omp parallel for simd reduction(+ : acc) schedule(static)
        for (size_t i = 0; i < cnt; i++) {
            float e = x[i] - t[i];
            acc += (double)fabsf(e);
            grad[i] = e > 0 ? gs : (e < 0 ? -gs : 0.f);
        }
    } else {
#pragma omp parallel for simd reduction(+ : acc) schedule(static)
        for (size_t i = 0; i < cnt; i++) acc += (double)fabsf(x[i] - t[i]);
    }
    return acc / (double)cnt;
}

/* d|(|a| - |b|)| / da with sign(0) = 0 (PyTorch's subgradient of abs). */
static inline float gdl_g(float a, float b) {
    const float e = fabsf(a) - fabsf(b);
    const float se = e > 0 ? 1.f : (e < 0 ? -1.f : 0.f), sa = a > 0 ? 1.f : (a < 0 ? -1.f : 0.f);
    return se * sa;
}

double re_loss_gdl_acc(float *grad, const float *x, const float *t, int n, int c, int h, int w, float scale) {
    const int planes = n * c;
    const size_t hw = (size_t)h * w;
    const float gs = scale / (float)n;
    double acc = 0;
    /* one plane per iteration: a plane's gradient entries are touched by that plane's pairs only */
#pragma omp parallel for reduction(+ : acc) schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * hw, *tp = t + (size_t)pl * hw;
        float *gp = grad ? grad + (size_t)pl * hw : NULL;
        double a = 0;
        for (int i = 0; i < h; i++) {
            for (int j = 0; j < w; j++) {
                const size_t k = (size_t)i * w + j;
                if (j + 1 < w) {
                    const float dx = xp[k + 1] - xp[k], dt = tp[k + 1] - tp[k];
                    a += fabs((double)fabsf(dx) - (double)fabsf(dt));
                    if (gp) {
                        const float g = gs * gdl_g(dx, dt);
                        gp[k + 1] += g;
                        gp[k] -= g;
                    }
                }
                if (i + 1 < h) {
                    const float dy = xp[k + w] - xp[k], dt = tp[k + w] - tp[k];
                    a += fabs((double)fabsf(dy) - (double)fabsf(dt));
                    if (gp) {
                        const float g = gs * gdl_g(dy, dt);
                        gp[k + w] += g;
                        gp[k] -= g;
                    }
                }
            }
        }
        acc += a;
    }
    return acc / n;
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
