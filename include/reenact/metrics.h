/*
 * metrics.h - image and time-series quality measures for `reenact eval` and `reenact reconstruct`: L1, MSE/PSNR,
 * SSIM (Wang et al. 2004), a sharpness ratio (gradient energy), Pearson correlation, and a running mean/std.
 *
 * Images are planar floats [C][H][W] with values in [0,1] (what re_image_to_chw and re_decode produce). All sums are
 * accumulated in double. The functions are pure (no allocation except SSIM's scratch) and thread-safe.
 *
 * Usage:
 *     double l1 = re_metric_l1(a, b, 3 * 64 * 64);
 *     double psnr = re_metric_psnr(re_metric_mse(a, b, 3 * 64 * 64), 1.0);   // +INFINITY when identical
 *     double ssim, sharp;
 *     re_metric_ssim(a, b, 3, 64, 64, &ssim);
 *     re_metric_sharpness_ratio(out, in, 3, 64, 64, &sharp);
 *
 * Definitions (also in docs/FORMAT.md, "eval JSON"):
 *   L1        mean |a - b| over all C*H*W values.
 *   PSNR      10 log10(peak^2 / MSE), MSE the mean squared difference over all values; +INFINITY when MSE == 0.
 *   SSIM      per channel: the mean over the "valid" positions (H-10 x W-10) of the SSIM map computed with an 11x11
 *             Gaussian window (sigma 1.5, normalized to sum 1), C1 = (0.01 L)^2, C2 = (0.03 L)^2, L = 1, biased
 *             (1/N) variances; the result is the mean over channels. This is Wang et al. 2004 exactly, and equals
 *             skimage.metrics.structural_similarity(a, b, channel_axis=0, data_range=1, gaussian_weights=True,
 *             sigma=1.5, use_sample_covariance=False).
 *   sharpness gradient energy E(x) = mean over interior pixels of (Gx^2 + Gy^2), Gx/Gy the 3x3 Sobel responses of the
 *             luma Y = 0.299 R + 0.587 G + 0.114 B (first channel alone when C != 3); the ratio E(out) / E(ref) is 1
 *             for identical images, < 1 when out is blurrier than ref, > 1 when it has more high-frequency content.
 *   Pearson   r = cov(x,y) / (std x * std y) over the pairs where both values are finite.
 */
#ifndef REENACT_METRICS_H
#define REENACT_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "reenact/reenact.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RE_SSIM_WIN 11        /* Gaussian window side */
#define RE_SSIM_SIGMA 1.5     /* Gaussian window standard deviation in pixels */
#define RE_SSIM_K1 0.01
#define RE_SSIM_K2 0.03

/* Mean absolute difference of n values (0 for n == 0). */
RE_API double re_metric_l1(const float *a, const float *b, size_t n);
/* Mean squared difference of n values (0 for n == 0). */
RE_API double re_metric_mse(const float *a, const float *b, size_t n);
/* PSNR in dB for a mean squared error and the peak value (1 for [0,1] images): 10 log10(peak^2 / mse).
 * +INFINITY for mse == 0, NaN for a negative or non-finite mse or peak <= 0. */
RE_API double re_metric_psnr(double mse, double peak);

/* SSIM of a and b, [c][h][w] in [0,1] (definition above). *out in [-1, 1], 1 only for identical images.
 * RE_ERR_ARG for c < 1, h or w < RE_SSIM_WIN, NULL pointers; RE_ERR_NOMEM (scratch of 5*h*w doubles). */
RE_API re_status re_metric_ssim(const float *a, const float *b, int c, int h, int w, double *out);

/* Gradient energy of x [c][h][w] (definition above). RE_ERR_ARG for c < 1, h or w < 3, NULL pointers. */
RE_API re_status re_metric_gradient_energy(const float *x, int c, int h, int w, double *out);
/* E(out) / E(ref). When E(ref) == 0 (a flat reference) *ratio is NaN (undefined) and the call still succeeds.
 * Errors as re_metric_gradient_energy. */
RE_API re_status re_metric_sharpness_ratio(const float *out, const float *ref, int c, int h, int w, double *ratio);

/* Pearson correlation of the n pairs (x[i], y[i]), using only the pairs where both are finite. *n_used (may be NULL)
 * receives their number. Returns NaN when fewer than 3 pairs are usable or when either series is constant over them
 * (its variance is zero, or below 1e-12 times its mean square), since r is then undefined. */
RE_API double re_metric_pearson(const double *x, const double *y, size_t n, size_t *n_used);

/* Running statistics (Welford): count, mean, population standard deviation, min, max. Non-finite values are not
 * included; they are counted in n_skipped. Zero-initialize (re_stats s = {0}) or call re_stats_init. */
typedef struct re_stats {
    uint64_t n;           /* finite values added */
    uint64_t n_skipped;   /* non-finite values seen (NaN, +-Inf) */
    double mean, m2;      /* running mean and sum of squared deviations */
    double min, max;      /* valid when n > 0 */
} re_stats;

RE_API void re_stats_init(re_stats *s);
RE_API void re_stats_add(re_stats *s, double v);
/* Mean of the values added; NaN when none. */
RE_API double re_stats_mean(const re_stats *s);
/* Population standard deviation sqrt(m2 / n); NaN when none, 0 for one value. */
RE_API double re_stats_std(const re_stats *s);

#ifdef __cplusplus
}
#endif
#endif
