/*
 * act.c - elementwise activations. Backward takes the forward OUTPUT y (for LeakyReLU/ReLU the sign of y equals
 * the sign of x since slope > 0), so forwards can run in place.
 */
#include <math.h>

#include "ops/ops.h"

void re_lrelu_forward(float *out, const float *in, size_t count, float slope) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++) out[i] = in[i] > 0 ? in[i] : in[i] * slope;
}
void re_lrelu_backward(float *din, const float *dout, const float *y, size_t count, float slope) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++) din[i] = y[i] > 0 ? dout[i] : dout[i] * slope;
}
void re_relu_forward(float *out, const float *in, size_t count) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++) out[i] = in[i] > 0 ? in[i] : 0.f;
}
void re_relu_backward(float *din, const float *dout, const float *y, size_t count) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++) din[i] = y[i] > 0 ? dout[i] : 0.f;
}
void re_sigmoid_forward(float *out, const float *in, size_t count) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++) {
        float x = in[i];
        /* Two branches keep exp() from overflowing for large |x|. */
        out[i] = x >= 0 ? 1.f / (1.f + expf(-x)) : expf(x) / (1.f + expf(x));
    }
}
void re_sigmoid_backward(float *din, const float *dout, const float *y, size_t count) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++) din[i] = dout[i] * y[i] * (1.f - y[i]);
}
void re_tanh_forward(float *out, const float *in, size_t count) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++) out[i] = tanhf(in[i]);
}
void re_tanh_backward(float *din, const float *dout, const float *y, size_t count) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++) din[i] = dout[i] * (1.f - y[i] * y[i]);
}
