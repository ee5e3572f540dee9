/*
 * norm.c - BatchNorm2d over [N,C,HW]: training mode (batch statistics, biased variance for normalization,
 * unbiased variance for the running estimate, as PyTorch), eval mode (running statistics), and backward.
 * Used on both paths (memory-bound; OpenMP over channels). The _sync variants take a re_bn_sync (ops.h) for
 * data-parallel training: batch statistics and input-gradient sums over the global batch of all ranks.
 */
#include <math.h>

#include "ops/ops.h"

void re_bn_forward_train(float *out, float *mean, float *rstd, const float *in, const float *gamma, const float *beta,
                         float *running_mean, float *running_var, float momentum, float eps, int n, int c, int hw) {
    re_bn_forward_train_sync(out, mean, rstd, in, gamma, beta, running_mean, running_var, momentum, eps, n, c, hw,
                             NULL);
}

/* Global statistics from each rank's (sum, sum of squared deviations from its own mean) per channel: the
 * allreduce sums (sum, ssd + cnt*mu^2) in double; mu = S/N, ssd = Q - N*mu^2. */
static void sync_stats(const re_bn_sync *sync, double *mu, double *ss, double cnt, int c) {
    double buf[2 * c];
    for (int ch = 0; ch < c; ch++) {
        buf[2 * ch] = mu[ch] * cnt;
        buf[2 * ch + 1] = ss[ch] + cnt * mu[ch] * mu[ch];
    }
    sync->sum(sync->ctx, buf, 2 * c);
    const double N = cnt * sync->world;
    for (int ch = 0; ch < c; ch++) {
        mu[ch] = buf[2 * ch] / N;
        ss[ch] = buf[2 * ch + 1] - N * mu[ch] * mu[ch];
        if (ss[ch] < 0) ss[ch] = 0;
    }
}

double re_bn_channel_stats(int ch, double mu, double ssum, double cnt, float eps, float momentum, float *mean,
                           float *rstd, float *running_mean, float *running_var) {
    const double var = ssum / cnt;
    const double r = 1.0 / sqrt(var + eps);
    mean[ch] = (float)mu;
    rstd[ch] = (float)r;
    if (running_mean) running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mu);
    if (running_var) {
        const double unbiased = cnt > 1 ? ssum / (cnt - 1) : var;
        running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * unbiased);
    }
    return r;
}

void re_bn_forward_train_sync(float *out, float *mean, float *rstd, const float *in, const float *gamma,
                              const float *beta, float *running_mean, float *running_var, float momentum, float eps,
                              int n, int c, int hw, const re_bn_sync *sync) {
    const double cnt0 = (double)n * hw, cnt = sync ? cnt0 * sync->world : cnt0;
    double mus[c], sss[c];
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        double s = 0, ss = 0;
        for (int i = 0; i < n; i++) {
            const float *x = in + ((size_t)i * c + ch) * hw;
            for (int k = 0; k < hw; k++) s += x[k];
        }
        double mu = s / cnt0;
        for (int i = 0; i < n; i++) {
            const float *x = in + ((size_t)i * c + ch) * hw;
            for (int k = 0; k < hw; k++) { double d = x[k] - mu; ss += d * d; }
        }
        mus[ch] = mu;
        sss[ch] = ss;
    }
    if (sync) sync_stats(sync, mus, sss, cnt0, c);
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        const double mu = mus[ch];
        const double r = re_bn_channel_stats(ch, mu, sss[ch], cnt, eps, momentum, mean, rstd, running_mean, running_var);
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

/* dx = gamma*rstd/M * (M*dy - sum(dy) - xhat*sum(dy*xhat)),  M = N*HW (global N and sums when synchronized). */
void re_bn_backward(float *din, float *dgamma, float *dbeta, const float *dout, const float *in, const float *mean,
                    const float *rstd, const float *gamma, int n, int c, int hw) {
    re_bn_backward_sync(din, dgamma, dbeta, dout, in, mean, rstd, gamma, n, c, hw, NULL);
}

void re_bn_backward_sync(float *din, float *dgamma, float *dbeta, const float *dout, const float *in,
                         const float *mean, const float *rstd, const float *gamma, int n, int c, int hw,
                         const re_bn_sync *sync) {
    const double cnt = (double)n * hw * (sync ? sync->world : 1);
    double sums[2 * c];
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        const float mu = mean[ch], r = rstd[ch];
        double sdy = 0, sdyx = 0;
        for (int i = 0; i < n; i++) {
            const float *x = in + ((size_t)i * c + ch) * hw, *g = dout + ((size_t)i * c + ch) * hw;
            for (int k = 0; k < hw; k++) { sdy += g[k]; sdyx += (double)g[k] * (x[k] - mu) * r; }
        }
        if (dgamma) dgamma[ch] = (float)sdyx;   /* this rank's share */
        if (dbeta) dbeta[ch] = (float)sdy;
        sums[2 * ch] = sdy;
        sums[2 * ch + 1] = sdyx;
    }
    if (!din) return;
    if (sync) sync->sum(sync->ctx, sums, 2 * c);
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        const float mu = mean[ch], r = rstd[ch];
        const float gm = gamma ? gamma[ch] : 1.f;
        const float a = (float)(gm * r), mdy = (float)(sums[2 * ch] / cnt), mdyx = (float)(sums[2 * ch + 1] / cnt);
        for (int i = 0; i < n; i++) {
            const float *x = in + ((size_t)i * c + ch) * hw, *g = dout + ((size_t)i * c + ch) * hw;
            float *d = din + ((size_t)i * c + ch) * hw;
            for (int k = 0; k < hw; k++) d[k] = a * (g[k] - mdy - (x[k] - mu) * r * mdyx);
        }
    }
}
