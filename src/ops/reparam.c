/*
 * reparam.c - the reparameterization trick of the VAE: z = mu + eps * exp(logvar / 2), eps ~ N(0,1) drawn from the
 * trainer's seeded RNG (or given by the caller) and kept for the backward pass. The backward ACCUMULATES into
 * dmu/dlogvar (hence _acc), which already hold the KL gradients. Declared in ops.h.
 */
#include <math.h>
#include <stdint.h>

#include "core/core.h"
#include "ops/ops.h"

void re_reparam_forward(float *z, float *eps, const float *mu, const float *logvar, int n, int d, re_rng *rng) {
    const size_t cnt = (size_t)n * d;
    if (rng)
        for (size_t i = 0; i < cnt; i++) eps[i] = re_rng_normal(rng);
    for (size_t i = 0; i < cnt; i++) z[i] = mu[i] + eps[i] * expf(0.5f * logvar[i]);
}

void re_reparam_backward_acc(float *dmu, float *dlogvar, const float *dz, const float *eps, const float *logvar,
                             int n, int d) {
    const size_t cnt = (size_t)n * d;
    for (size_t i = 0; i < cnt; i++) {
        dmu[i] += dz[i];
        dlogvar[i] += dz[i] * eps[i] * 0.5f * expf(0.5f * logvar[i]);
    }
}
