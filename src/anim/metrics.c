/*
 * metrics.c - image and time-series quality measures (L1, MSE/PSNR, SSIM, gradient-energy sharpness, Pearson r,
 * running statistics). Definitions and contracts: include/reenact/metrics.h.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/core.h"
#include "reenact/metrics.h"

double re_metric_l1(const float *a, const float *b, size_t n) {
    if (n == 0) return 0.0;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += fabs((double)a[i] - (double)b[i]);
    return s / (double)n;
}

double re_metric_mse(const float *a, const float *b, size_t n) {
    if (n == 0) return 0.0;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    return s / (double)n;
}

double re_metric_psnr(double mse, double peak) {
    if (!isfinite(mse) || mse < 0 || !(peak > 0) || !isfinite(peak)) return NAN;
    if (mse == 0) return INFINITY;
    return 10.0 * log10(peak * peak / mse);
}

/* Normalized 1-D Gaussian of RE_SSIM_WIN taps. */
static void ssim_kernel(double g[RE_SSIM_WIN]) {
    const int r = RE_SSIM_WIN / 2;
    double sum = 0.0;
    for (int i = 0; i < RE_SSIM_WIN; i++) {
        double d = (double)(i - r);
        g[i] = exp(-d * d / (2.0 * RE_SSIM_SIGMA * RE_SSIM_SIGMA));
        sum += g[i];
    }
    for (int i = 0; i < RE_SSIM_WIN; i++) g[i] /= sum;
}

re_status re_metric_ssim(const float *a, const float *b, int c, int h, int w, double *out) {
    re_status st = RE_OK;
    double *hx = NULL;
    if (!a || !b || !out) return re_fail(RE_ERR_ARG, "re_metric_ssim: NULL argument");
    if (c < 1 || h < RE_SSIM_WIN || w < RE_SSIM_WIN)
        return re_fail(RE_ERR_ARG, "re_metric_ssim: image %dx%dx%d too small (need c >= 1 and h, w >= %d)", c, h, w,
                       RE_SSIM_WIN);
    const int ow = w - RE_SSIM_WIN + 1, oh = h - RE_SSIM_WIN + 1;
    size_t plane, total;
    if (!re_mul_ok((size_t)h, (size_t)ow, &plane) || !re_mul_ok(plane, 5, &total) ||
        !re_mul_ok(total, sizeof(double), &total)) {
        st = re_fail(RE_ERR_NOMEM, "re_metric_ssim: size overflow for %dx%d", h, w);
        goto fail;
    }
    hx = re_alloc(total, "ssim scratch");
    if (!hx) {
        st = RE_ERR_NOMEM;
        goto fail;
    }
    double g[RE_SSIM_WIN];
    ssim_kernel(g);
    const double c1 = (RE_SSIM_K1 * 1.0) * (RE_SSIM_K1 * 1.0), c2 = (RE_SSIM_K2 * 1.0) * (RE_SSIM_K2 * 1.0);
    double *mx = hx, *my = hx + plane, *mxx = hx + 2 * plane, *myy = hx + 3 * plane, *mxy = hx + 4 * plane;
    double total_ssim = 0.0;
    const size_t hw = (size_t)h * (size_t)w;
    for (int ch = 0; ch < c; ch++) {
        const float *pa = a + (size_t)ch * hw, *pb = b + (size_t)ch * hw;
        /* horizontal pass: every row, valid columns */
        for (int y = 0; y < h; y++) {
            const float *ra = pa + (size_t)y * w, *rb = pb + (size_t)y * w;
            for (int x = 0; x < ow; x++) {
                double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
                for (int k = 0; k < RE_SSIM_WIN; k++) {
                    double va = ra[x + k], vb = rb[x + k];
                    sx += g[k] * va;
                    sy += g[k] * vb;
                    sxx += g[k] * va * va;
                    syy += g[k] * vb * vb;
                    sxy += g[k] * va * vb;
                }
                size_t o = (size_t)y * ow + x;
                mx[o] = sx; my[o] = sy; mxx[o] = sxx; myy[o] = syy; mxy[o] = sxy;
            }
        }
        /* vertical pass on valid rows, then the SSIM map */
        double sum = 0.0;
        for (int y = 0; y < oh; y++) {
            for (int x = 0; x < ow; x++) {
                double ux = 0, uy = 0, uxx = 0, uyy = 0, uxy = 0;
                for (int k = 0; k < RE_SSIM_WIN; k++) {
                    size_t o = (size_t)(y + k) * ow + x;
                    ux += g[k] * mx[o];
                    uy += g[k] * my[o];
                    uxx += g[k] * mxx[o];
                    uyy += g[k] * myy[o];
                    uxy += g[k] * mxy[o];
                }
                double vx = uxx - ux * ux, vy = uyy - uy * uy, cxy = uxy - ux * uy;
                double num = (2.0 * ux * uy + c1) * (2.0 * cxy + c2);
                double den = (ux * ux + uy * uy + c1) * (vx + vy + c2);
                sum += num / den;
            }
        }
        total_ssim += sum / ((double)oh * (double)ow);
    }
    *out = total_ssim / (double)c;
fail:
    re_free(hx);
    return st;
}

re_status re_metric_gradient_energy(const float *x, int c, int h, int w, double *out) {
    if (!x || !out) return re_fail(RE_ERR_ARG, "re_metric_gradient_energy: NULL argument");
    if (c < 1 || h < 3 || w < 3)
        return re_fail(RE_ERR_ARG, "re_metric_gradient_energy: image %dx%dx%d too small (need c >= 1, h, w >= 3)",
                       c, h, w);
    const size_t hw = (size_t)h * (size_t)w;
    const float *p0 = x, *p1 = c == 3 ? x + hw : NULL, *p2 = c == 3 ? x + 2 * hw : NULL;
#define LUMA(i) (c == 3 ? 0.299 * p0[i] + 0.587 * p1[i] + 0.114 * p2[i] : (double)p0[i])
    double sum = 0.0;
    for (int y = 1; y < h - 1; y++) {
        for (int xx = 1; xx < w - 1; xx++) {
            size_t i = (size_t)y * w + xx;
            double tl = LUMA(i - w - 1), t = LUMA(i - w), tr = LUMA(i - w + 1);
            double l = LUMA(i - 1), r = LUMA(i + 1);
            double bl = LUMA(i + w - 1), bm = LUMA(i + w), br = LUMA(i + w + 1);
            double gx = (tr + 2 * r + br) - (tl + 2 * l + bl);
            double gy = (bl + 2 * bm + br) - (tl + 2 * t + tr);
            sum += gx * gx + gy * gy;
        }
    }
#undef LUMA
    *out = sum / ((double)(h - 2) * (double)(w - 2));
    return RE_OK;
}

re_status re_metric_sharpness_ratio(const float *out, const float *ref, int c, int h, int w, double *ratio) {
    if (!ratio) return re_fail(RE_ERR_ARG, "re_metric_sharpness_ratio: NULL argument");
    double eo, er;
    re_status st = re_metric_gradient_energy(out, c, h, w, &eo);
    if (st) return st;
    st = re_metric_gradient_energy(ref, c, h, w, &er);
    if (st) return st;
    *ratio = er > 0 ? eo / er : NAN;
    return RE_OK;
}

double re_metric_pearson(const double *x, const double *y, size_t n, size_t *n_used) {
    size_t m = 0;
    double sx = 0, sy = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) continue;
        sx += x[i];
        sy += y[i];
        m++;
    }
    if (n_used) *n_used = m;
    if (m < 3) return NAN;
    double mx = sx / (double)m, my = sy / (double)m;
    double cxy = 0, vx = 0, vy = 0, qx = 0, qy = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) continue;
        double dx = x[i] - mx, dy = y[i] - my;
        cxy += dx * dy;
        vx += dx * dx;
        vy += dy * dy;
        qx += x[i] * x[i];
        qy += y[i] * y[i];
    }
    /* a series that is constant up to rounding has no defined correlation */
    if (!(vx > 1e-12 * qx) || !(vy > 1e-12 * qy) || vx <= 0 || vy <= 0) return NAN;
    double r = cxy / sqrt(vx * vy);
    if (r > 1) r = 1;
    if (r < -1) r = -1;
    return r;
}

void re_stats_init(re_stats *s) { memset(s, 0, sizeof *s); }

void re_stats_add(re_stats *s, double v) {
    if (!isfinite(v)) {
        s->n_skipped++;
        return;
    }
    s->n++;
    if (s->n == 1) {
        s->min = s->max = v;
    } else {
        if (v < s->min) s->min = v;
        if (v > s->max) s->max = v;
    }
    double d = v - s->mean;
    s->mean += d / (double)s->n;
    s->m2 += d * (v - s->mean);
}

double re_stats_mean(const re_stats *s) { return s->n ? s->mean : NAN; }

double re_stats_std(const re_stats *s) { return s->n ? sqrt(s->m2 > 0 ? s->m2 / (double)s->n : 0.0) : NAN; }
