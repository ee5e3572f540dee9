/*
 * linear.c - reference fully connected layer: out[N,O] = in[N,I] * w[O,I]^T + b[O], and its backward.
 */
#include "ops/ops.h"

void re_linear_forward_ref(float *out, const float *in, const float *w, const float *b, int n, int in_f, int out_f) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out_f; o++) {
            const float *x = in + (size_t)i * in_f, *wr = w + (size_t)o * in_f;
            double acc = b ? b[o] : 0.0;
            for (int k = 0; k < in_f; k++) acc += (double)x[k] * wr[k];
            out[(size_t)i * out_f + o] = (float)acc;
        }
}

void re_linear_backward_ref(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                            int n, int in_f, int out_f) {
    if (din) {
#pragma omp parallel for collapse(2) schedule(static)
        for (int i = 0; i < n; i++)
            for (int k = 0; k < in_f; k++) {
                double acc = 0;
                for (int o = 0; o < out_f; o++) acc += (double)dout[(size_t)i * out_f + o] * w[(size_t)o * in_f + k];
                din[(size_t)i * in_f + k] = (float)acc;
            }
    }
    if (dw) {
#pragma omp parallel for collapse(2) schedule(static)
        for (int o = 0; o < out_f; o++)
            for (int k = 0; k < in_f; k++) {
                double acc = 0;
                for (int i = 0; i < n; i++) acc += (double)dout[(size_t)i * out_f + o] * in[(size_t)i * in_f + k];
                dw[(size_t)o * in_f + k] = (float)acc;
            }
    }
    if (db) {
        for (int o = 0; o < out_f; o++) {
            double acc = 0;
            for (int i = 0; i < n; i++) acc += dout[(size_t)i * out_f + o];
            db[o] = (float)acc;
        }
    }
}
