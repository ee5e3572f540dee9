/*
 * adam.c - the Adam update with PyTorch's semantics (torch.optim.Adam, amsgrad=False, the single-tensor path of
 * PyTorch 1.13), one pass per parameter tensor over the trainer's gradient and moment arenas (same layout as the
 * model's). Declared in model_internal.h; tests/ref/test_ops_torch.c checks it against PyTorch.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model_internal.h"

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
