/*
 * dnnl_fused.c - fused elementwise kernels of the oneDNN path: BatchNorm (training and eval) + LeakyReLU forward,
 * their fused backward, LeakyReLU backward with bf16 output, and f32 -> bf16 conversion. They work on activation
 * tensors in plain NCHW or in oneDNN's blocked nChw16c layout (see re_dnnl_layout in dnnl.h), so activations can
 * stay blocked between convolutions. Contracts in dnnl.h; the math is that of re_bn_forward_train /
 * re_bn_forward_eval / re_bn_backward / re_lrelu_* in src/ops (the reference the tests compare against).
 *
 * Why fused: the unfused path reads and writes every BN tensor four times in the forward (mean, variance,
 * normalize, activation) and three times in the backward (activation, two BN passes), over NCHW rows as short as
 * 4x4 pixels. Here the forward makes one read pass for the statistics (shifted sums, see stats_*) and one
 * read+write pass, the backward one read pass for the two sums and one read+write pass; in the blocked layout the
 * 16 lanes of a block are 16 channels, so per-channel sums are plain vertical vector adds.
 *
 * Precision: partial sums run in f32 over chunks of at most CHUNK pixels (per lane) and are accumulated in double
 * across chunks and images, so the relative error of the statistics stays ~1e-7 like the double-accumulating
 * reference (checked by tests/unit/test_fused.c against the reference ops).
 *
 * Built with the oneDNN backend only (CMake globs src/backend/dnnl*.c); only the oneDNN path calls these.
 */
#include <math.h>
#include <string.h>
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#include "backend/dnnl.h"

#define LANES RE_DNNL_BLOCK
#define CHUNK 128 /* pixels per f32 partial sum */

static inline uint16_t f2bf(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* NaN stays (quiet) NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float bf2f(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void re_bf16_convert(uint16_t *dst, const float *src, size_t count) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++) dst[i] = f2bf(src[i]);
}

/* Output of one element: activation, then f32 and/or bf16 store. */
static inline float act(float v, float slope) { return slope > 0 && !(v > 0) ? v * slope : v; }

void re_bf16_round(float *dst, const float *src, size_t count) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++) dst[i] = bf2f(f2bf(src[i]));
}

/* ---- linear layer with bf16 weights and f32 activations (batch-1 inference) ----------------------------------
 * y[s][o] = act(b[o] + sum_i bf16_to_f32(w16[o][i]) * x[s][i]). Memory-bound at small n: every weight is read
 * once per call (half the bytes of f32 weights) and used for all n samples while in L1. Rows are split statically
 * over the threads; each row's dot products run in f32 with four independent vector accumulators. */

/* dot(bf16 row, f32 x) over len elements */
static inline float dot_bf16w(const uint16_t *w, const float *x, int len) {
    int i = 0;
    float s = 0.f;
#ifdef __AVX512F__
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    for (; i + 64 <= len; i += 64) {
        __m512i w0 = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(w + i)));
        __m512i w1 = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(w + i + 16)));
        __m512i w2 = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(w + i + 32)));
        __m512i w3 = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(w + i + 48)));
        a0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(w0, 16)), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(w1, 16)), _mm512_loadu_ps(x + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(w2, 16)), _mm512_loadu_ps(x + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(w3, 16)), _mm512_loadu_ps(x + i + 48), a3);
    }
    for (; i + 16 <= len; i += 16) {
        __m512i w0 = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(w + i)));
        a0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(w0, 16)), _mm512_loadu_ps(x + i), a0);
    }
    s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
#elif defined(__AVX2__) && defined(__FMA__)
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (; i + 32 <= len; i += 32) {
        __m256i w0 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + i)));
        __m256i w1 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + i + 8)));
        __m256i w2 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + i + 16)));
        __m256i w3 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + i + 24)));
        a0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(w0, 16)), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(w1, 16)), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(w2, 16)), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(w3, 16)), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= len; i += 8) {
        __m256i w0 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + i)));
        a0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(w0, 16)), _mm256_loadu_ps(x + i), a0);
    }
    const __m256 t = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    s = _mm_cvtss_f32(q);
#else
    float acc[16] = {0};
    for (; i + 16 <= len; i += 16)
#pragma omp simd
        for (int l = 0; l < 16; l++) acc[l] += bf2f(w[i + l]) * x[i + l];
    for (int l = 0; l < 16; l++) s += acc[l];
#endif
    for (; i < len; i++) s += bf2f(w[i]) * x[i];
    return s;
}

const char *re_gemv_isa(void) {
#ifdef __AVX512F__
    return "avx512f";
#elif defined(__AVX2__) && defined(__FMA__)
    return "avx2";
#else
    return "c";
#endif
}

void re_linear_bf16w_forward(float *y, const float *x, const uint16_t *w16, const float *b, int n, int in_f,
                             int out_f, float slope) {
#pragma omp parallel for schedule(static)
    for (int o = 0; o < out_f; o++) {
        const uint16_t *wr = w16 + (size_t)o * in_f;
        const float bo = b ? b[o] : 0.f;
        for (int s = 0; s < n; s++) {
            float v = bo + dot_bf16w(wr, x + (size_t)s * in_f, in_f);
            y[(size_t)s * out_f + o] = act(v, slope);
        }
    }
}


/* ---- per-channel statistics ------------------------------------------------------------------------------ */

/* Per-channel mean and sum of squared deviations in ONE read pass: sums of d = x - K and d^2 with K = the
 * channel's first element (a shift that keeps E[d^2] - E[d]^2 free of catastrophic cancellation: |mean - K| is
 * of the order of the standard deviation), f32 partial sums over CHUNK pixels, double across chunks. */

/* Blocked: lanes l of block cb. */
static void stats_blocked(const float *x, int n, int cb_count, int hw, int cb, double mean[LANES],
                          double ss[LANES]) {
    double s[LANES] = {0}, q[LANES] = {0};
    float k[LANES];
    const float *x0 = x + (size_t)cb * hw * LANES;
    for (int l = 0; l < LANES; l++) k[l] = x0[l];
    for (int i = 0; i < n; i++) {
        const float *xp = x + ((size_t)i * cb_count + cb) * hw * LANES;
        for (int p0 = 0; p0 < hw; p0 += CHUNK) {
            int p1 = p0 + CHUNK < hw ? p0 + CHUNK : hw;
            float a1[LANES] = {0}, a2[LANES] = {0};
            for (int p = p0; p < p1; p++)
#pragma omp simd
                for (int l = 0; l < LANES; l++) {
                    float d = xp[(size_t)p * LANES + l] - k[l];
                    a1[l] += d;
                    a2[l] += d * d;
                }
            for (int l = 0; l < LANES; l++) {
                s[l] += a1[l];
                q[l] += a2[l];
            }
        }
    }
    const double cnt = (double)n * hw;
    for (int l = 0; l < LANES; l++) {
        double md = s[l] / cnt;
        mean[l] = k[l] + md;
        ss[l] = q[l] - cnt * md * md;
        if (ss[l] < 0) ss[l] = 0;
    }
}

/* Plain NCHW: channel ch. */
static void stats_plain(const float *x, int n, int c, int hw, int ch, double *mean, double *ss) {
    double s = 0, q = 0;
    const float k = x[(size_t)ch * hw];
    for (int i = 0; i < n; i++) {
        const float *xp = x + ((size_t)i * c + ch) * hw;
        for (int p0 = 0; p0 < hw; p0 += CHUNK) {
            int p1 = p0 + CHUNK < hw ? p0 + CHUNK : hw;
            float a1 = 0, a2 = 0;
#pragma omp simd reduction(+ : a1, a2)
            for (int p = p0; p < p1; p++) {
                float d = xp[p] - k;
                a1 += d;
                a2 += d * d;
            }
            s += a1;
            q += a2;
        }
    }
    const double cnt = (double)n * hw, md = s / cnt;
    *mean = k + md;
    *ss = q - cnt * md * md;
    if (*ss < 0) *ss = 0;
}

/* Per-channel scale/shift of the normalization (training: from the batch statistics, also written to mean/rstd
 * and folded into the running statistics; eval: from the running statistics), in the reference's arithmetic. */
static void channel_affine(int ch, double mu, double ssum, double cnt, float *mean, float *rstd, const float *gamma,
                           const float *beta, float *running_mean, float *running_var, float momentum, float eps,
                           int training, float *scale, float *shift) {
    const float g = gamma ? gamma[ch] : 1.f, bb = beta ? beta[ch] : 0.f;
    if (training) {
        const double r = re_bn_channel_stats(ch, mu, ssum, cnt, eps, momentum, mean, rstd, running_mean, running_var);
        *scale = (float)(g * r);
        *shift = (float)(bb - mu * g * r);
    } else {
        const float r = 1.f / sqrtf(running_var[ch] + eps);
        *scale = g * r;
        *shift = bb - running_mean[ch] * g * r;
    }
}

void re_bn_act_forward(const re_act_shape *s, float *y, uint16_t *y16, const float *x, float *mean, float *rstd,
                       const float *gamma, const float *beta, float *running_mean, float *running_var,
                       float momentum, float eps, int training, float slope) {
    re_bn_act_forward_sync(s, y, y16, x, mean, rstd, gamma, beta, running_mean, running_var, momentum, eps, training,
                           slope, NULL);
}

/* Synchronized statistics: every rank's per-channel (sum, squared deviations + cnt*mu^2) summed in double, then
 * the global mean and squared deviations (as in norm.c), then the per-channel affine. */
static void sync_affine(const re_act_shape *s, const re_bn_sync *sync, float *scale, float *shift, const float *x,
                        float *mean, float *rstd, const float *gamma, const float *beta, float *running_mean,
                        float *running_var, float momentum, float eps) {
    const int n = s->n, c = s->c, hw = s->hw;
    const double cnt = (double)n * hw, N = cnt * sync->world;
    double buf[2 * c];
    const int blocked = s->layout == RE_DNNL_BLOCKED, groups = blocked ? c / LANES : c;
#pragma omp parallel for schedule(static)
    for (int cg = 0; cg < groups; cg++) {
        double mu[LANES], ss[LANES];
        if (blocked) stats_blocked(x, n, groups, hw, cg, mu, ss);
        else stats_plain(x, n, c, hw, cg, &mu[0], &ss[0]);
        for (int l = 0; l < (blocked ? LANES : 1); l++) {
            int ch = blocked ? cg * LANES + l : cg;
            buf[2 * ch] = mu[l] * cnt;
            buf[2 * ch + 1] = ss[l] + cnt * mu[l] * mu[l];
        }
    }
    sync->sum(sync->ctx, buf, 2 * c);
    for (int ch = 0; ch < c; ch++) {
        double mu = buf[2 * ch] / N, ss = buf[2 * ch + 1] - N * mu * mu;
        channel_affine(ch, mu, ss < 0 ? 0 : ss, N, mean, rstd, gamma, beta, running_mean, running_var, momentum, eps,
                       1, &scale[ch], &shift[ch]);
    }
}

/* The forward's per-channel scale/shift: from the statistics summed over sync's ranks (training with sync), else
 * from this batch's statistics (training) or the running ones (eval), in either layout. */
static void bn_affine(const re_act_shape *s, const re_bn_sync *sync, float *scale, float *shift, const float *x,
                      float *mean, float *rstd, const float *gamma, const float *beta, float *running_mean,
                      float *running_var, float momentum, float eps, int training) {
    const int n = s->n, c = s->c, hw = s->hw;
    const double cnt = (double)n * hw;
    if (sync) {
        sync_affine(s, sync, scale, shift, x, mean, rstd, gamma, beta, running_mean, running_var, momentum, eps);
    } else if (s->layout == RE_DNNL_BLOCKED) {
        const int cbn = c / LANES;
#pragma omp parallel for schedule(static)
        for (int cb = 0; cb < cbn; cb++) {
            double mu[LANES], ss[LANES];
            if (training) stats_blocked(x, n, cbn, hw, cb, mu, ss);
            for (int l = 0; l < LANES; l++) {
                int ch = cb * LANES + l;
                channel_affine(ch, training ? mu[l] : 0, training ? ss[l] : 0, cnt, mean, rstd, gamma, beta,
                               running_mean, running_var, momentum, eps, training, &scale[ch], &shift[ch]);
            }
        }
    } else {
        /* Plain NCHW: one channel per iteration. */
#pragma omp parallel for schedule(static)
        for (int ch = 0; ch < c; ch++) {
            double mu = 0, ss = 0;
            if (training) stats_plain(x, n, c, hw, ch, &mu, &ss);
            channel_affine(ch, mu, ss, cnt, mean, rstd, gamma, beta, running_mean, running_var, momentum, eps,
                           training, &scale[ch], &shift[ch]);
        }
    }
}

void re_bn_act_forward_sync(const re_act_shape *s, float *y, uint16_t *y16, const float *x, float *mean, float *rstd,
                            const float *gamma, const float *beta, float *running_mean, float *running_var,
                            float momentum, float eps, int training, float slope, const re_bn_sync *sync) {
    const int n = s->n, c = s->c, hw = s->hw;
    if (!training) sync = NULL;
    /* Per-channel scale/shift (c <= 4096 by re_config_validate: at most 32 KB of stack). */
    float scale[c], shift[c];
    bn_affine(s, sync, scale, shift, x, mean, rstd, gamma, beta, running_mean, running_var, momentum, eps, training);
    if (s->layout == RE_DNNL_BLOCKED) {
        const int cbn = c / LANES;
#pragma omp parallel for collapse(2) schedule(static)
        for (int i = 0; i < n; i++)
            for (int cb = 0; cb < cbn; cb++) {
                const size_t off = ((size_t)i * cbn + cb) * hw * LANES;
                const float *xp = x + off, *scp = scale + cb * LANES, *shp = shift + cb * LANES;
                float *yp = y ? y + off : NULL;
                uint16_t *yq = y16 ? y16 + off : NULL;
                for (int p = 0; p < hw; p++) {
                    if (yp && yq) {
#pragma omp simd
                        for (int l = 0; l < LANES; l++) {
                            float v = act(xp[(size_t)p * LANES + l] * scp[l] + shp[l], slope);
                            yp[(size_t)p * LANES + l] = v;
                            yq[(size_t)p * LANES + l] = f2bf(v);
                        }
                    } else if (yp) {
#pragma omp simd
                        for (int l = 0; l < LANES; l++)
                            yp[(size_t)p * LANES + l] = act(xp[(size_t)p * LANES + l] * scp[l] + shp[l], slope);
                    } else {
#pragma omp simd
                        for (int l = 0; l < LANES; l++)
                            yq[(size_t)p * LANES + l] = f2bf(act(xp[(size_t)p * LANES + l] * scp[l] + shp[l], slope));
                    }
                }
            }
        return;
    }
    /* Plain NCHW: rows. */
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            const size_t off = ((size_t)i * c + ch) * hw;
            const float a = scale[ch], b = shift[ch];
            const float *xp = x + off;
            float *yp = y ? y + off : NULL;
            uint16_t *yq = y16 ? y16 + off : NULL;
            if (yp && yq) {
#pragma omp simd
                for (int p = 0; p < hw; p++) {
                    float v = act(xp[p] * a + b, slope);
                    yp[p] = v;
                    yq[p] = f2bf(v);
                }
            } else if (yp) {
#pragma omp simd
                for (int p = 0; p < hw; p++) yp[p] = act(xp[p] * a + b, slope);
            } else {
#pragma omp simd
                for (int p = 0; p < hw; p++) yq[p] = f2bf(act(xp[p] * a + b, slope));
            }
        }
}

/* ---- backward ---------------------------------------------------------------------------------------------- */

/* dz of one element: the activation's backward (mask from the forward output y, f32 or bf16). */
static inline float dact(float dy, float y, float slope) { return slope > 0 && !(y > 0) ? dy * slope : dy; }

/* Backward sums of one block row (blocked layout): hw pixels x 16 lanes. Y16: the mask comes from bf16 y. */
static inline __attribute__((always_inline)) void bwd_sums_row(const float *dyp, const float *yp, const uint16_t *yq,
                                                               const float *xp, const float *mu, const float *r,
                                                               int hw, float slope, int Y16, double *sdy,
                                                               double *sdyx) {
    for (int p0 = 0; p0 < hw; p0 += CHUNK) {
        int p1 = p0 + CHUNK < hw ? p0 + CHUNK : hw;
        float a1[LANES] = {0}, a2[LANES] = {0};
        for (int p = p0; p < p1; p++) {
            const size_t q = (size_t)p * LANES;
#pragma omp simd
            for (int l = 0; l < LANES; l++) {
                float yv = Y16 ? bf2f(yq[q + l]) : yp[q + l];
                float dz = dact(dyp[q + l], yv, slope);
                a1[l] += dz;
                a2[l] += dz * ((xp[q + l] - mu[l]) * r[l]);
            }
        }
        for (int l = 0; l < LANES; l++) {
            sdy[l] += a1[l];
            sdyx[l] += a2[l];
        }
    }
}

/* dx of one block row; OUT: 0 f32 only, 1 bf16 only, 2 both. */
static inline __attribute__((always_inline)) void bwd_dx_row(float *dxp, uint16_t *dxq, const float *dyp,
                                                             const float *yp, const uint16_t *yq, const float *xp,
                                                             const float *mu, const float *r, const float *a,
                                                             const float *mdy, const float *mdyx, int hw,
                                                             float slope, int Y16, int OUT) {
    for (int p = 0; p < hw; p++) {
        const size_t q = (size_t)p * LANES;
#pragma omp simd
        for (int l = 0; l < LANES; l++) {
            float yv = Y16 ? bf2f(yq[q + l]) : yp[q + l];
            float dz = dact(dyp[q + l], yv, slope);
            float v = a[l] * (dz - mdy[l] - (xp[q + l] - mu[l]) * r[l] * mdyx[l]);
            if (OUT != 1) dxp[q + l] = v;
            if (OUT != 0) dxq[q + l] = f2bf(v);
        }
    }
}

/* The same for a plain NCHW row of hw pixels of one channel. */
static inline __attribute__((always_inline)) void bwd_sums_plain(const float *dyp, const float *yp,
                                                                 const uint16_t *yq, const float *xp, float mu,
                                                                 float r, int hw, float slope, int Y16, double *sdy,
                                                                 double *sdyx) {
    for (int p0 = 0; p0 < hw; p0 += CHUNK) {
        int p1 = p0 + CHUNK < hw ? p0 + CHUNK : hw;
        float a1 = 0, a2 = 0;
#pragma omp simd reduction(+ : a1, a2)
        for (int p = p0; p < p1; p++) {
            float yv = Y16 ? bf2f(yq[p]) : yp[p];
            float dz = dact(dyp[p], yv, slope);
            a1 += dz;
            a2 += dz * ((xp[p] - mu) * r);
        }
        *sdy += a1;
        *sdyx += a2;
    }
}

static inline __attribute__((always_inline)) void bwd_dx_plain(float *dxp, uint16_t *dxq, const float *dyp,
                                                               const float *yp, const uint16_t *yq, const float *xp,
                                                               float mu, float r, float a, float mdy, float mdyx,
                                                               int hw, float slope, int Y16, int OUT) {
#pragma omp simd
    for (int p = 0; p < hw; p++) {
        float yv = Y16 ? bf2f(yq[p]) : yp[p];
        float v = a * (dact(dyp[p], yv, slope) - mdy - (xp[p] - mu) * r * mdyx);
        if (OUT != 1) dxp[p] = v;
        if (OUT != 0) dxq[p] = f2bf(v);
    }
}

void re_bn_act_backward(const re_act_shape *s, float *dx, uint16_t *dx16, float *dgamma, float *dbeta,
                        const float *dy, const float *y, const uint16_t *y16, const float *x, const float *mean,
                        const float *rstd, const float *gamma, float slope) {
    re_bn_act_backward_sync(s, dx, dx16, dgamma, dbeta, dy, y, y16, x, mean, rstd, gamma, slope, NULL);
}

void re_bn_act_backward_sync(const re_act_shape *s, float *dx, uint16_t *dx16, float *dgamma, float *dbeta,
                             const float *dy, const float *y, const uint16_t *y16, const float *x, const float *mean,
                             const float *rstd, const float *gamma, float slope, const re_bn_sync *sync) {
    const int n = s->n, c = s->c, hw = s->hw;
    const double cnt = (double)n * hw;
    double sums[sync ? 2 * c : 1];
    const int Y16 = y == NULL, OUT = dx && dx16 ? 2 : dx16 ? 1 : 0;
    const int want_dx = dx || dx16;
    float ca[c], cmdy[c], cmdyx[c];    /* per channel: gamma*rstd, mean(dz), mean(dz*xhat) */
    const int blocked = s->layout == RE_DNNL_BLOCKED;
    const int groups = blocked ? c / LANES : c, G = blocked ? LANES : 1;
    /* 1. per-channel sums of dz and dz*xhat */
#pragma omp parallel for schedule(static)
    for (int cg = 0; cg < groups; cg++) {
        double sdy[LANES] = {0}, sdyx[LANES] = {0};
        const float *mu = mean + cg * G, *r = rstd + cg * G;
        for (int i = 0; i < n; i++) {
            const size_t off = ((size_t)i * groups + cg) * hw * G;
            const float *yp = Y16 ? NULL : y + off;
            const uint16_t *yq = Y16 ? y16 + off : NULL;
            if (blocked) {
                if (Y16) bwd_sums_row(dy + off, yp, yq, x + off, mu, r, hw, slope, 1, sdy, sdyx);
                else bwd_sums_row(dy + off, yp, yq, x + off, mu, r, hw, slope, 0, sdy, sdyx);
            } else {
                if (Y16) bwd_sums_plain(dy + off, yp, yq, x + off, mu[0], r[0], hw, slope, 1, sdy, sdyx);
                else bwd_sums_plain(dy + off, yp, yq, x + off, mu[0], r[0], hw, slope, 0, sdy, sdyx);
            }
        }
        for (int l = 0; l < G; l++) {
            int ch = cg * G + l;
            if (dgamma) dgamma[ch] = (float)sdyx[l];   /* this rank's share when synchronized */
            if (dbeta) dbeta[ch] = (float)sdy[l];
            const float gm = gamma ? gamma[ch] : 1.f;
            ca[ch] = (float)(gm * rstd[ch]);
            cmdy[ch] = (float)(sdy[l] / cnt);
            cmdyx[ch] = (float)(sdyx[l] / cnt);
            if (sync) {
                sums[2 * ch] = sdy[l];
                sums[2 * ch + 1] = sdyx[l];
            }
        }
    }
    if (!want_dx) return;
    if (sync) {
        sync->sum(sync->ctx, sums, 2 * c);
        const double N = cnt * sync->world;
        for (int ch = 0; ch < c; ch++) {
            cmdy[ch] = (float)(sums[2 * ch] / N);
            cmdyx[ch] = (float)(sums[2 * ch + 1] / N);
        }
    }
    /* 2. dx = gamma*rstd * (dz - mean(dz) - xhat * mean(dz*xhat)) */
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < n; i++)
        for (int cg = 0; cg < groups; cg++) {
            const size_t off = ((size_t)i * groups + cg) * hw * G;
            const float *yp = Y16 ? NULL : y + off;
            const uint16_t *yq = Y16 ? y16 + off : NULL;
            float *dxp = dx ? dx + off : NULL;
            uint16_t *dxq = dx16 ? dx16 + off : NULL;
            const int k = cg * G;
            if (blocked) {
#define ROW(Y, O) bwd_dx_row(dxp, dxq, dy + off, yp, yq, x + off, mean + k, rstd + k, ca + k, cmdy + k, cmdyx + k, \
                             hw, slope, Y, O)
                if (Y16) { if (OUT == 0) ROW(1, 0); else if (OUT == 1) ROW(1, 1); else ROW(1, 2); }
                else { if (OUT == 0) ROW(0, 0); else if (OUT == 1) ROW(0, 1); else ROW(0, 2); }
#undef ROW
            } else {
#define ROW(Y, O) bwd_dx_plain(dxp, dxq, dy + off, yp, yq, x + off, mean[k], rstd[k], ca[k], cmdy[k], cmdyx[k], \
                               hw, slope, Y, O)
                if (Y16) { if (OUT == 0) ROW(1, 0); else if (OUT == 1) ROW(1, 1); else ROW(1, 2); }
                else { if (OUT == 0) ROW(0, 0); else if (OUT == 1) ROW(0, 1); else ROW(0, 2); }
#undef ROW
            }
        }
}

static inline __attribute__((always_inline)) void lrelu_bwd_chunk(float *dx, uint16_t *dx16, const float *dy,
                                                                  const float *y, const uint16_t *y16, size_t n,
                                                                  float slope, int Y16, int OUT) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float yv = Y16 ? bf2f(y16[i]) : y[i];
        float v = yv > 0 ? dy[i] : dy[i] * slope;
        if (OUT != 1) dx[i] = v;
        if (OUT != 0) dx16[i] = f2bf(v);
    }
}

void re_lrelu_backward_mixed(float *dx, uint16_t *dx16, const float *dy, const float *y, const uint16_t *y16,
                             size_t count, float slope) {
    const int Y16 = y == NULL, OUT = dx && dx16 ? 2 : dx16 ? 1 : 0;
    const size_t blk = 4096, nb = (count + blk - 1) / blk;
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < nb; b++) {
        size_t i0 = b * blk, n = count - i0 < blk ? count - i0 : blk;
        float *d = dx ? dx + i0 : NULL;
        uint16_t *d16 = dx16 ? dx16 + i0 : NULL;
        const float *yy = y ? y + i0 : NULL;
        const uint16_t *yq = y16 ? y16 + i0 : NULL;
#define K(Y, O) lrelu_bwd_chunk(d, d16, dy + i0, yy, yq, n, slope, Y, O)
        if (Y16) { if (OUT == 0) K(1, 0); else if (OUT == 1) K(1, 1); else K(1, 2); }
        else { if (OUT == 0) K(0, 0); else if (OUT == 1) K(0, 1); else K(0, 2); }
#undef K
    }
}
