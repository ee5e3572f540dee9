/*
 * conv2d.c - reference (plain C) 2-D convolution and transposed convolution, forward and backward.
 * Shapes in src/ops/ops.h. These are the obvious direct loops; they define the math the fast path
 * (src/backend/dnnl.c) is tested against. Loops are OpenMP-parallel over an output dimension so each output
 * element is written by one thread (deterministic).
 */
#include <string.h>

#include "ops/ops.h"

int re_conv_params_finish(re_conv_params *p, int transposed) {
    if (p->n <= 0 || p->ic <= 0 || p->oc <= 0 || p->h <= 0 || p->w <= 0 || p->kh <= 0 || p->kw <= 0 ||
        p->stride <= 0 || p->pad < 0)
        return 0;
    if (transposed) {
        p->oh = (p->h - 1) * p->stride - 2 * p->pad + p->kh;
        p->ow = (p->w - 1) * p->stride - 2 * p->pad + p->kw;
    } else {
        if (p->h + 2 * p->pad < p->kh || p->w + 2 * p->pad < p->kw) return 0;
        p->oh = (p->h + 2 * p->pad - p->kh) / p->stride + 1;
        p->ow = (p->w + 2 * p->pad - p->kw) / p->stride + 1;
    }
    return p->oh > 0 && p->ow > 0;
}

void re_conv2d_forward_ref(float *out, const float *in, const float *w, const float *b, const re_conv_params *p) {
    const int N = p->n, IC = p->ic, H = p->h, W = p->w, OC = p->oc, OH = p->oh, OW = p->ow;
    const int KH = p->kh, KW = p->kw, S = p->stride, P = p->pad;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < OC; oc++) {
            float *o = out + ((size_t)n * OC + oc) * OH * OW;
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    double acc = b ? b[oc] : 0.0;
                    for (int ic = 0; ic < IC; ic++) {
                        const float *ip = in + ((size_t)n * IC + ic) * H * W;
                        const float *wp = w + ((size_t)oc * IC + ic) * KH * KW;
                        for (int ky = 0; ky < KH; ky++) {
                            int iy = oy * S - P + ky;
                            if (iy < 0 || iy >= H) continue;
                            for (int kx = 0; kx < KW; kx++) {
                                int ix = ox * S - P + kx;
                                if (ix < 0 || ix >= W) continue;
                                acc += (double)ip[iy * W + ix] * wp[ky * KW + kx];
                            }
                        }
                    }
                    o[oy * OW + ox] = (float)acc;
                }
        }
}

void re_conv2d_backward_ref(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                            const re_conv_params *p) {
    const int N = p->n, IC = p->ic, H = p->h, W = p->w, OC = p->oc, OH = p->oh, OW = p->ow;
    const int KH = p->kh, KW = p->kw, S = p->stride, P = p->pad;
    if (db) {
#pragma omp parallel for schedule(static)
        for (int oc = 0; oc < OC; oc++) {
            double acc = 0;
            for (int n = 0; n < N; n++) {
                const float *g = dout + ((size_t)n * OC + oc) * OH * OW;
                for (int i = 0; i < OH * OW; i++) acc += g[i];
            }
            db[oc] = (float)acc;
        }
    }
    if (dw) {
#pragma omp parallel for collapse(2) schedule(static)
        for (int oc = 0; oc < OC; oc++)
            for (int ic = 0; ic < IC; ic++)
                for (int ky = 0; ky < KH; ky++)
                    for (int kx = 0; kx < KW; kx++) {
                        double acc = 0;
                        for (int n = 0; n < N; n++) {
                            const float *g = dout + ((size_t)n * OC + oc) * OH * OW;
                            const float *ip = in + ((size_t)n * IC + ic) * H * W;
                            for (int oy = 0; oy < OH; oy++) {
                                int iy = oy * S - P + ky;
                                if (iy < 0 || iy >= H) continue;
                                for (int ox = 0; ox < OW; ox++) {
                                    int ix = ox * S - P + kx;
                                    if (ix < 0 || ix >= W) continue;
                                    acc += (double)g[oy * OW + ox] * ip[iy * W + ix];
                                }
                            }
                        }
                        dw[(((size_t)oc * IC + ic) * KH + ky) * KW + kx] = (float)acc;
                    }
    }
    if (din) {
        /* Gather form: each input pixel sums over the outputs that read it, so threads never share a write. */
#pragma omp parallel for collapse(2) schedule(static)
        for (int n = 0; n < N; n++)
            for (int ic = 0; ic < IC; ic++) {
                float *d = din + ((size_t)n * IC + ic) * H * W;
                for (int iy = 0; iy < H; iy++)
                    for (int ix = 0; ix < W; ix++) {
                        double acc = 0;
                        for (int ky = 0; ky < KH; ky++) {
                            int ty = iy + P - ky;
                            if (ty < 0 || ty % S) continue;
                            int oy = ty / S;
                            if (oy >= OH) continue;
                            for (int kx = 0; kx < KW; kx++) {
                                int tx = ix + P - kx;
                                if (tx < 0 || tx % S) continue;
                                int ox = tx / S;
                                if (ox >= OW) continue;
                                for (int oc = 0; oc < OC; oc++)
                                    acc += (double)dout[(((size_t)n * OC + oc) * OH + oy) * OW + ox] *
                                           w[(((size_t)oc * IC + ic) * KH + ky) * KW + kx];
                            }
                        }
                        d[iy * W + ix] = (float)acc;
                    }
            }
    }
}

/* Transposed convolution is the adjoint of conv2d with the roles of input and output swapped: with
 * q = the conv geometry from OH,OW (OC channels) to H,W (IC channels) and weights IOHW == conv OIHW of q,
 *   deconv forward  = conv2d backward-data of q,
 *   deconv backward-data = conv2d forward of q,
 *   deconv backward-weights = conv2d backward-weights of q with (input=dout, dout=in).  */
static re_conv_params adjoint(const re_conv_params *p) {
    re_conv_params q = {.n = p->n, .ic = p->oc, .h = p->oh, .w = p->ow, .oc = p->ic, .oh = p->h, .ow = p->w,
                        .kh = p->kh, .kw = p->kw, .stride = p->stride, .pad = p->pad};
    return q;
}

void re_deconv2d_forward_ref(float *out, const float *in, const float *w, const float *b, const re_conv_params *p) {
    re_conv_params q = adjoint(p);
    re_conv2d_backward_ref(out, NULL, NULL, in, NULL, w, &q);
    if (b) {
        const size_t hw = (size_t)p->oh * p->ow;
#pragma omp parallel for collapse(2) schedule(static)
        for (int n = 0; n < p->n; n++)
            for (int oc = 0; oc < p->oc; oc++) {
                float *o = out + ((size_t)n * p->oc + oc) * hw;
                for (size_t i = 0; i < hw; i++) o[i] += b[oc];
            }
    }
}

void re_deconv2d_backward_ref(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                              const re_conv_params *p) {
    re_conv_params q = adjoint(p);
    if (din) re_conv2d_forward_ref(din, dout, w, NULL, &q);
    if (dw) re_conv2d_backward_ref(NULL, dw, NULL, in, dout, NULL, &q);
    if (db) {
        const size_t hw = (size_t)p->oh * p->ow;
#pragma omp parallel for schedule(static)
        for (int oc = 0; oc < p->oc; oc++) {
            double acc = 0;
            for (int n = 0; n < p->n; n++) {
                const float *g = dout + ((size_t)n * p->oc + oc) * hw;
                for (size_t i = 0; i < hw; i++) acc += g[i];
            }
            db[oc] = (float)acc;
        }
    }
}
