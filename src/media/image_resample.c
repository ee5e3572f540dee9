/*
 * image_resample.c - resampling of 8-bit RGB images: separable Lanczos3 resize with a support that widens with the
 * downscale factor (antialiased shrinking), bilinear affine warp with footprint supersampling, and conversion
 * to/from planar float CHW tensors in [0,1].
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "media/image_internal.h"
#include "reenact/media.h"

#define LANCZOS_A 3.0
#define WARP_MAX_SAMPLES 32   /* per axis: bounds the work for absurd matrices (footprints beyond this alias) */

static double lanczos3(double x) {
    x = fabs(x);
    if (x < 1e-8) return 1.0;
    if (x >= LANCZOS_A) return 0.0;
    double px = 3.14159265358979323846 * x;
    return LANCZOS_A * sin(px) * sin(px / LANCZOS_A) / (px * px);
}

/* Filter taps for one axis: output i reads inputs start[i] .. start[i]+n[i]-1 with weights w[i*maxn ...]. */
typedef struct taps {
    int *start, *n;
    float *w;
    int maxn;
} taps;

static void taps_free(taps *t) {
    free(t->start);
    free(t->n);
    free(t->w);
    memset(t, 0, sizeof *t);
}

static re_status taps_build(taps *t, int in, int out) {
    memset(t, 0, sizeof *t);
    double scale = (double)in / out;            /* source pixels per output pixel */
    double fs = scale > 1.0 ? scale : 1.0;      /* filter stretch: widen the kernel when shrinking */
    double support = LANCZOS_A * fs;
    t->maxn = (int)ceil(support) * 2 + 1;
    if (t->maxn > in) t->maxn = in;
    size_t nw;
    if (!re_mul_ok((size_t)out, (size_t)t->maxn, &nw)) return re_fail(RE_ERR_NOMEM, "resize: filter size overflows");
    t->start = malloc((size_t)out * sizeof *t->start);
    t->n = malloc((size_t)out * sizeof *t->n);
    t->w = malloc(nw * sizeof *t->w);
    if (!t->start || !t->n || !t->w) {
        taps_free(t);
        return re_fail(RE_ERR_NOMEM, "resize: cannot allocate filter taps (%d -> %d)", in, out);
    }
    for (int i = 0; i < out; i++) {
        double center = (i + 0.5) * scale - 0.5;
        int lo = (int)ceil(center - support), hi = (int)floor(center + support);
        if (lo < 0) lo = 0;
        if (hi > in - 1) hi = in - 1;
        if (hi - lo + 1 > t->maxn) hi = lo + t->maxn - 1;
        float *w = t->w + (size_t)i * t->maxn;
        double sum = 0;
        for (int j = lo; j <= hi; j++) sum += (w[j - lo] = (float)lanczos3((j - center) / fs));
        if (!(fabs(sum) > 1e-12)) { /* cannot happen for a sane kernel; fall back to nearest */
            int c = (int)floor(center + 0.5);
            lo = c < 0 ? 0 : c > in - 1 ? in - 1 : c;
            hi = lo;
            w[0] = 1.0f;
            sum = 1.0;
        }
        for (int j = 0; j <= hi - lo; j++) w[j] = (float)(w[j] / sum);
        t->start[i] = lo;
        t->n[i] = hi - lo + 1;
    }
    return RE_OK;
}

static uint8_t clamp_u8(float v) {
    if (!(v > 0.0f)) return 0;   /* also NaN */
    if (v >= 255.0f) return 255;
    return (uint8_t)(v + 0.5f);
}

re_status re_image_resize(const re_image *src, re_image *dst, int w, int h) {
    re_status st = re_image_valid(src, "re_image_resize");
    if (st != RE_OK) return st;
    if (dst == src || (dst && dst->data && dst->data == src->data))
        return re_fail(RE_ERR_ARG, "re_image_resize: destination aliases source");
    st = re_image_check_size(w, h, "re_image_resize output");
    if (st != RE_OK) return st;
    taps tx = {0}, ty = {0};
    float *tmp = NULL;
    size_t ntmp;
    if (!re_mul_ok((size_t)src->h, (size_t)w * 3, &ntmp)) return re_fail(RE_ERR_NOMEM, "re_image_resize: size overflows");
    st = re_image_prepare(dst, w, h, "re_image_resize");
    if (st != RE_OK) goto fail;
    if ((st = taps_build(&tx, src->w, w)) != RE_OK) goto fail;
    if ((st = taps_build(&ty, src->h, h)) != RE_OK) goto fail;
    tmp = malloc(ntmp * sizeof *tmp);
    if (!tmp) {
        st = re_fail(RE_ERR_NOMEM, "re_image_resize: cannot allocate %zu floats", ntmp);
        goto fail;
    }
    /* horizontal pass: src rows -> tmp [src->h][w][3] */
    #pragma omp parallel for schedule(static)
    for (int y = 0; y < src->h; y++) {
        const uint8_t *row = src->data + (size_t)y * src->stride;
        float *o = tmp + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            const float *wt = tx.w + (size_t)x * tx.maxn;
            const uint8_t *p = row + (size_t)tx.start[x] * 3;
            float r = 0, g = 0, b = 0;
            for (int k = 0; k < tx.n[x]; k++, p += 3) {
                r += wt[k] * p[0];
                g += wt[k] * p[1];
                b += wt[k] * p[2];
            }
            o[x * 3 + 0] = r;
            o[x * 3 + 1] = g;
            o[x * 3 + 2] = b;
        }
    }
    /* vertical pass: tmp -> dst */
    #pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) {
        const float *wt = ty.w + (size_t)y * ty.maxn;
        uint8_t *o = dst->data + (size_t)y * dst->stride;
        int n = ty.n[y];
        const float *base = tmp + (size_t)ty.start[y] * w * 3;
        for (int x = 0; x < w * 3; x++) {
            float acc = 0;
            const float *p = base + x;
            for (int k = 0; k < n; k++) acc += wt[k] * p[(size_t)k * w * 3];
            o[x] = clamp_u8(acc);
        }
    }
fail:
    taps_free(&tx);
    taps_free(&ty);
    free(tmp);
    return st;
}

/* Index of coordinate i (any integer) in [0,n) for REPLICATE / REFLECT; -1 for CONSTANT outside. */
static inline long border_idx(long i, int n, re_border b) {
    if (i >= 0 && i < n) return i;
    switch (b) {
    case RE_BORDER_REPLICATE: return i < 0 ? 0 : n - 1;
    case RE_BORDER_REFLECT: {
        if (n == 1) return 0;
        long period = 2L * (n - 1);
        long r = i % period;
        if (r < 0) r += period;
        return r < n ? r : period - r;
    }
    default: return -1;
    }
}

/* Bilinear sample of src at (sx, sy) into acc[3] (adds). */
static inline void sample_add(const re_image *src, double sx, double sy, re_border b, float acc[3]) {
    if (sx >= 0.0 && sy >= 0.0 && sx < src->w - 1 && sy < src->h - 1) { /* interior: no border logic */
        int x0 = (int)sx, y0 = (int)sy;
        float fx = (float)(sx - x0), fy = (float)(sy - y0);
        const uint8_t *p0 = src->data + (size_t)y0 * src->stride + (size_t)x0 * 3, *p1 = p0 + src->stride;
        float w00 = (1.0f - fx) * (1.0f - fy), w01 = fx * (1.0f - fy), w10 = (1.0f - fx) * fy, w11 = fx * fy;
        for (int c = 0; c < 3; c++) acc[c] += w00 * p0[c] + w01 * p0[3 + c] + w10 * p1[c] + w11 * p1[3 + c];
        return;
    }
    /* keep coordinates in a range where floor() fits a long; beyond it every border mode is decided anyway */
    const double lim = 1e9;
    if (!(sx > -lim)) sx = -lim;
    if (!(sx < lim)) sx = lim;
    if (!(sy > -lim)) sy = -lim;
    if (!(sy < lim)) sy = lim;
    if (b == RE_BORDER_CONSTANT && (sx <= -1.0 || sy <= -1.0 || sx >= src->w || sy >= src->h)) return;
    double fx0 = floor(sx), fy0 = floor(sy);
    long x0 = (long)fx0, y0 = (long)fy0;
    float fx = (float)(sx - fx0), fy = (float)(sy - fy0);
    long xi[2] = {border_idx(x0, src->w, b), border_idx(x0 + 1, src->w, b)};
    long yi[2] = {border_idx(y0, src->h, b), border_idx(y0 + 1, src->h, b)};
    float wx[2] = {1.0f - fx, fx}, wy[2] = {1.0f - fy, fy};
    for (int j = 0; j < 2; j++) {
        if (yi[j] < 0 || wy[j] == 0.0f) continue;
        const uint8_t *row = src->data + (size_t)yi[j] * src->stride;
        for (int i = 0; i < 2; i++) {
            if (xi[i] < 0 || wx[i] == 0.0f) continue;
            const uint8_t *p = row + (size_t)xi[i] * 3;
            float ww = wx[i] * wy[j];
            acc[0] += ww * p[0];
            acc[1] += ww * p[1];
            acc[2] += ww * p[2];
        }
    }
}

static int samples_for(double footprint) {
    if (!(footprint > 1.01)) return 1;   /* tolerance: rotations by tiny angles stay single-sample */
    double n = ceil(footprint);
    return n > WARP_MAX_SAMPLES ? WARP_MAX_SAMPLES : (int)n;
}

re_status re_image_warp_affine(const re_image *src, re_image *dst, int w, int h, const float m[6], re_border border) {
    re_status st = re_image_valid(src, "re_image_warp_affine");
    if (st != RE_OK) return st;
    if (!m) return re_fail(RE_ERR_ARG, "re_image_warp_affine: NULL matrix");
    for (int i = 0; i < 6; i++)
        if (!isfinite(m[i])) return re_fail(RE_ERR_ARG, "re_image_warp_affine: matrix entry %d is not finite", i);
    if (border != RE_BORDER_CONSTANT && border != RE_BORDER_REPLICATE && border != RE_BORDER_REFLECT)
        return re_fail(RE_ERR_ARG, "re_image_warp_affine: unknown border mode %d (expected 0..2)", (int)border);
    if (dst == src || (dst && dst->data && dst->data == src->data))
        return re_fail(RE_ERR_ARG, "re_image_warp_affine: destination aliases source");
    st = re_image_check_size(w, h, "re_image_warp_affine output");
    if (st != RE_OK) return st;
    st = re_image_prepare(dst, w, h, "re_image_warp_affine");
    if (st != RE_OK) return st;
    const double a = m[0], bb = m[1], c = m[2], d = m[3], e = m[4], f = m[5];
    /* source-space length of one destination pixel step along x and along y */
    const int nx = samples_for(hypot(a, d)), ny = samples_for(hypot(bb, e));
    const float inv = 1.0f / (float)(nx * ny);
    if (nx == 1 && ny == 1) { /* one sample per pixel (no downscaling): the common paste-back / mild-scale case */
        #pragma omp parallel for schedule(static) if ((long)w * h > 65536)
        for (int y = 0; y < h; y++) {
            uint8_t *o = dst->data + (size_t)y * dst->stride;
            const double rx = bb * y + c, ry = e * y + f;
            for (int x = 0; x < w; x++) {
                float acc[3] = {0, 0, 0};
                sample_add(src, a * x + rx, d * x + ry, border, acc);
                o[x * 3 + 0] = clamp_u8(acc[0]);
                o[x * 3 + 1] = clamp_u8(acc[1]);
                o[x * 3 + 2] = clamp_u8(acc[2]);
            }
        }
        return RE_OK;
    }
    #pragma omp parallel for schedule(static) if ((long)w * h * nx * ny > 65536)
    for (int y = 0; y < h; y++) {
        uint8_t *o = dst->data + (size_t)y * dst->stride;
        for (int x = 0; x < w; x++) {
            float acc[3] = {0, 0, 0};
            for (int j = 0; j < ny; j++) {
                double dy = y + (j + 0.5) / ny - 0.5;
                for (int i = 0; i < nx; i++) {
                    double dx = x + (i + 0.5) / nx - 0.5;
                    sample_add(src, a * dx + bb * dy + c, d * dx + e * dy + f, border, acc);
                }
            }
            o[x * 3 + 0] = clamp_u8(acc[0] * inv);
            o[x * 3 + 1] = clamp_u8(acc[1] * inv);
            o[x * 3 + 2] = clamp_u8(acc[2] * inv);
        }
    }
    return RE_OK;
}

void re_image_to_chw(const re_image *img, float *dst) {
    const size_t plane = (size_t)img->w * img->h;
    const float s = 1.0f / 255.0f;
    for (int y = 0; y < img->h; y++) {
        const uint8_t *p = img->data + (size_t)y * img->stride;
        size_t o = (size_t)y * img->w;
        for (int x = 0; x < img->w; x++, p += 3) {
            dst[o + x] = p[0] * s;
            dst[plane + o + x] = p[1] * s;
            dst[2 * plane + o + x] = p[2] * s;
        }
    }
}

re_status re_image_from_chw(re_image *dst, const float *src, int w, int h) {
    if (!src) return re_fail(RE_ERR_ARG, "re_image_from_chw: NULL source");
    re_status st = re_image_check_size(w, h, "re_image_from_chw");
    if (st != RE_OK) return st;
    st = re_image_prepare(dst, w, h, "re_image_from_chw");
    if (st != RE_OK) return st;
    const size_t plane = (size_t)w * h;
    for (int y = 0; y < h; y++) {
        uint8_t *p = dst->data + (size_t)y * dst->stride;
        size_t o = (size_t)y * w;
        for (int x = 0; x < w; x++, p += 3) {
            p[0] = clamp_u8(src[o + x] * 255.0f);
            p[1] = clamp_u8(src[plane + o + x] * 255.0f);
            p[2] = clamp_u8(src[2 * plane + o + x] * 255.0f);
        }
    }
    return RE_OK;
}
