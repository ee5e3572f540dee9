/*
 * norm.c - BatchNorm2d over [N,C,HW]: training mode (batch statistics, biased variance for normalization,
 * unbiased variance for the running estimate, as PyTorch), eval mode (running statistics), and backward.
 * Used on both paths (memory-bound; OpenMP over channels).
 */
#include <math.h>

#include "ops/ops.h"

void re_bn_forward_train(float *out, float *mean, float *rstd, const float *in, const float *gamma, const float *beta,
                         float *running_mean, float *running_var, float momentum, float eps, int n, int c, int hw) {
    const double cnt = (double)n * hw;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        double s = 0, ss = 0;
        for (int i = 0; i < n; i++) {
            const float *x = in + ((size_t)i * c + ch) * hw;
            for (int k = 0; k < hw; k++) s += x[k];
        }
        double mu = s / cnt;
        for (int i = 0; i < n; i++) {
            const float *x = in + ((size_t)i * c + ch) * hw;
            for (int k = 0; k < hw; k++) { double d = x[k] - mu; ss += d * d; }
        }
        double var = ss / cnt;
        double r = 1.0 / sqrt(var + eps);
        mean[ch] = (float)mu;
        rstd[ch] = (float)r;
        if (running_mean) running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mu);
        if (running_var) {
            double unbiased = cnt > 1 ? ss / (cnt - 1) : var;
            running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * unbiased);
        }
        const float g = gamma ? gamma[ch] : 1.f, bb = beta ? beta[ch] : 0.f;
        const float scale = (float)(g * r), shift = (float)(bb - mu * g * r);
        for (int i = 0; i < n; i++) {
            const float *x = in + ((size_t)i * c + ch) * hw;
            float *y = out + ((size_t)i * c + ch) * hw;
            for (int k = 0; k < hw; k++) y[k] = x[k] * scale + shift;
        }
    }
}

void re_bn_forward_eval(float *out, const float *in, const float *gamma, const float *beta, const float *running_mean,
                        const float *running_var, float eps, int n, int c, int hw) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            const float r = 1.f / sqrtf(running_var[ch] + eps);
            const float g = gamma ? gamma[ch] : 1.f, bb = beta ? beta[ch] : 0.f;
            const float scale = g * r, shift = bb - running_mean[ch] * g * r;
            const float *x = in + ((size_t)i * c + ch) * hw;
            float *y = out + ((size_t)i * c + ch) * hw;
            for (int k = 0; k < hw; k++) y[k] = x[k] * scale + shift;
        }
}

/* dx = gamma*rstd/M * (M*dy - sum(dy) - xhat*sum(dy*xhat)),  M = N*HW. */
void re_bn_backward(float *din, float *dgamma, float *dbeta, const float *dout, const float *in, const float *mean,
                    const float *rstd, const float *gamma, int n, int c, int hw) {
    const double cnt = (double)n * hw;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        const float mu = mean[ch], r = rstd[ch];
        double sdy = 0, sdyx = 0;
        for (int i = 0; i < n; i++) {
            const float *x = in + ((size_t)i * c + ch) * hw, *g = dout + ((size_t)i * c + ch) * hw;
            for (int k = 0; k < hw; k++) { sdy += g[k]; sdyx += (double)g[k] * (x[k] - mu) * r; }
        }
        if (dgamma) dgamma[ch] = (float)sdyx;
        if (dbeta) dbeta[ch] = (float)sdy;
        if (din) {
            const float gm = gamma ? gamma[ch] : 1.f;
            const float a = (float)(gm * r), mdy = (float)(sdy / cnt), mdyx = (float)(sdyx / cnt);
            for (int i = 0; i < n; i++) {
                const float *x = in + ((size_t)i * c + ch) * hw, *g = dout + ((size_t)i * c + ch) * hw;
                float *d = din + ((size_t)i * c + ch) * hw;
                for (int k = 0; k < hw; k++) d[k] = a * (g[k] - mdy - (x[k] - mu) * r * mdyx);
            }
        }
    }
}
