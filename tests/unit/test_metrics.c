/*
 * test_metrics.c - image and series measures of include/reenact/metrics.h against known values:
 * L1/MSE/PSNR on constant images (PSNR of a known MSE, +inf for identical), SSIM = 1 for identical images, the
 * closed-form SSIM of two flat images, SSIM against an independent PyTorch implementation, SSIM falling with noise,
 * the Sobel gradient energy of a ramp, sharpness ratio 1 / < 1 for a blurred copy, Pearson r on known series, the
 * running statistics, and argument errors.
 * Run: ctest --test-dir build -R test_metrics, or build/tests/test_metrics.
 * Helper mode for tests/cli/test_eval.sh: `test_metrics --write-model PATH` writes an untrained seed64 model
 * (re_model_create, seed 1, no discriminator) and exits, so the CLI test can run every code path without a trained
 * model (its outputs are meaningless).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "re_test.h"
#include "reenact/metrics.h"

#define NEAR(a, b, tol) (fabs((double)(a) - (double)(b)) <= (tol))

/* a smooth textured image [3][h][w] in [0.1, 0.9] */
static void texture(float *x, int h, int w) {
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < h; y++)
            for (int i = 0; i < w; i++)
                x[((size_t)c * h + y) * w + i] =
                    (float)(0.5 + 0.25 * sin(0.45 * i + 0.3 * c) * cos(0.37 * y) + 0.15 * sin(0.9 * (i + y)));
}

static void add_noise(const float *src, float *dst, size_t n, double sigma, uint64_t seed) {
    re_rng r;
    re_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        double v = src[i] + sigma * re_rng_normal(&r);
        dst[i] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
    }
}

/* 3x3 box blur per channel, edges replicated */
static void blur(const float *src, float *dst, int c, int h, int w) {
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double s = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int yy = y + dy < 0 ? 0 : y + dy >= h ? h - 1 : y + dy;
                        int xx = x + dx < 0 ? 0 : x + dx >= w ? w - 1 : x + dx;
                        s += src[((size_t)ch * h + yy) * w + xx];
                    }
                dst[((size_t)ch * h + y) * w + x] = (float)(s / 9);
            }
}

static void test_l1_mse_psnr(void) {
    enum { N = 3 * 16 * 16 };
    static float a[N], b[N];
    for (int i = 0; i < N; i++) { a[i] = 0.0f; b[i] = 0.1f; }
    CHECK(NEAR(re_metric_l1(a, b, N), 0.1, 1e-7));
    CHECK(NEAR(re_metric_mse(a, b, N), 0.01, 1e-8));
    /* MSE 0.01 on a [0,1] scale is exactly 20 dB; 1e-4 is 40 dB; peak 255 with MSE 65.025 is 30 dB */
    CHECK(NEAR(re_metric_psnr(re_metric_mse(a, b, N), 1.0), 20.0, 1e-5));
    CHECK(NEAR(re_metric_psnr(1e-4, 1.0), 40.0, 1e-9));
    CHECK(NEAR(re_metric_psnr(65.025, 255.0), 30.0, 1e-9));
    /* identical: L1 0, MSE 0, PSNR +inf */
    texture(a, 16, 16);
    CHECK(re_metric_l1(a, a, N) == 0.0);
    CHECK(re_metric_mse(a, a, N) == 0.0);
    double p = re_metric_psnr(0.0, 1.0);
    CHECK(isinf(p) && p > 0);
    CHECK(isnan(re_metric_psnr(-1.0, 1.0)));
    CHECK(isnan(re_metric_psnr(NAN, 1.0)));
    CHECK(isnan(re_metric_psnr(0.1, 0.0)));
    /* L1 is symmetric and mixes signs correctly: |0.2-0.5| and |0.7-0.1| -> mean 0.45 */
    float c2[2] = {0.2f, 0.7f}, d2[2] = {0.5f, 0.1f};
    CHECK(NEAR(re_metric_l1(c2, d2, 2), 0.45, 1e-7));
    CHECK(re_metric_l1(c2, d2, 2) == re_metric_l1(d2, c2, 2));
    CHECK(re_metric_l1(c2, d2, 0) == 0.0);
}

static void test_ssim(void) {
    enum { H = 64, W = 64, N = 3 * H * W };
    float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float)), *b2 = malloc(N * sizeof(float));
    double s = -2;
    texture(a, H, W);
    /* identical images: SSIM 1 */
    CHECK_OK(re_metric_ssim(a, a, 3, H, W, &s));
    CHECK_MSG(NEAR(s, 1.0, 1e-12), "ssim(a,a) = %.15f", s);

    /* two flat images 0.5 and 0.6: no variance, so SSIM = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1) */
    for (int i = 0; i < N; i++) { a[i] = 0.5f; b[i] = 0.6f; }
    CHECK_OK(re_metric_ssim(a, b, 3, H, W, &s));
    double c1 = 1e-4, want = (2 * 0.5 * 0.6 + c1) / (0.25 + 0.36 + c1);
    CHECK_MSG(NEAR(s, want, 1e-6), "flat ssim %.9f want %.9f", s, want);

    /* noise: SSIM in a sensible range, lower for more noise, symmetric */
    texture(a, H, W);
    double s_lo, s_hi, s_sym;
    add_noise(a, b, N, 0.03, 7);
    add_noise(a, b2, N, 0.15, 7);
    CHECK_OK(re_metric_ssim(a, b, 3, H, W, &s_lo));
    CHECK_OK(re_metric_ssim(a, b2, 3, H, W, &s_hi));
    CHECK_OK(re_metric_ssim(b2, a, 3, H, W, &s_sym));
    CHECK_MSG(s_lo > 0.5 && s_lo < 0.99, "ssim with noise 0.03 = %.4f", s_lo);
    CHECK_MSG(s_hi > 0.0 && s_hi < s_lo - 0.1, "ssim with noise 0.15 = %.4f (0.03: %.4f)", s_hi, s_lo);
    CHECK_MSG(NEAR(s_hi, s_sym, 1e-12), "ssim not symmetric: %.15f vs %.15f", s_hi, s_sym);
    /* a negated pattern correlates negatively: SSIM < 0 */
    for (int i = 0; i < N; i++) b[i] = 1.0f - a[i];
    CHECK_OK(re_metric_ssim(a, b, 3, H, W, &s));
    CHECK_MSG(s < 0 && s >= -1, "ssim(a, 1-a) = %.4f", s);

    /* Against an independent implementation (PyTorch float64, 2-D conv2d with the 11x11 Gaussian, 'valid'):
     * C,H,W = 3,23,31; a = 0.5 + 0.4 sin(0.3x + 0.2y + c), b = clip(a + 0.15 cos(0.11xy + 1.7c), 0, 1), both
     * rounded to float32; g = exp(-(i-5)^2 / 4.5) normalized, k = outer(g, g); f = conv2d(x, k);
     * m = ((2 ux uy + C1)(2 cxy + C2)) / ((ux^2 + uy^2 + C1)(vx + vy + C2)); mean over the map, then over c. */
    {
        enum { C3 = 3, H3 = 23, W3 = 31 };
        static float pa[C3 * H3 * W3], pb[C3 * H3 * W3];
        for (int c = 0; c < C3; c++)
            for (int y = 0; y < H3; y++)
                for (int x = 0; x < W3; x++) {
                    double va = 0.5 + 0.4 * sin(0.3 * x + 0.2 * y + c);
                    double vb = va + 0.15 * cos(0.11 * x * y + 1.7 * c);
                    vb = vb < 0 ? 0 : vb > 1 ? 1 : vb;
                    pa[(c * H3 + y) * W3 + x] = (float)va;
                    pb[(c * H3 + y) * W3 + x] = (float)vb;
                }
        CHECK_OK(re_metric_ssim(pa, pb, C3, H3, W3, &s));
        CHECK_MSG(NEAR(s, 0.742179472682, 1e-9), "ssim %.12f, PyTorch reference 0.742179472682", s);
    }
    /* errors */
    CHECK(re_metric_ssim(a, b, 3, 10, 64, &s) == RE_ERR_ARG);
    CHECK(re_metric_ssim(a, b, 0, 64, 64, &s) == RE_ERR_ARG);
    CHECK(re_metric_ssim(NULL, b, 3, 64, 64, &s) == RE_ERR_ARG);
    CHECK(strlen(re_last_error()) > 0);
    free(a);
    free(b);
    free(b2);
}

static void test_sharpness(void) {
    enum { H = 64, W = 64, N = 3 * H * W };
    float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float)), *b2 = malloc(N * sizeof(float));
    double r = 0, e = 0;
    /* ramp Y = k x in every channel: Sobel Gx = (1+2+1) * 2k = 8k, Gy = 0 -> energy 64 k^2 */
    const double k = 0.01;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) a[(c * H + y) * W + x] = (float)(k * x);
    CHECK_OK(re_metric_gradient_energy(a, 3, H, W, &e));
    CHECK_MSG(NEAR(e, 64 * k * k, 1e-8), "ramp energy %.9g want %.9g", e, 64 * k * k);
    /* the same ramp in one channel only (grayscale input uses channel 0 as is) */
    CHECK_OK(re_metric_gradient_energy(a, 1, H, W, &e));
    CHECK(NEAR(e, 64 * k * k, 1e-8));

    texture(a, H, W);
    add_noise(a, a, N, 0.05, 3);  /* texture plus fine detail */
    CHECK_OK(re_metric_sharpness_ratio(a, a, 3, H, W, &r));
    CHECK_MSG(NEAR(r, 1.0, 1e-12), "sharpness(a,a) = %.15f", r);
    blur(a, b, 3, H, W);
    blur(b, b2, 3, H, W);
    double r1, r2;
    CHECK_OK(re_metric_sharpness_ratio(b, a, 3, H, W, &r1));
    CHECK_OK(re_metric_sharpness_ratio(b2, a, 3, H, W, &r2));
    CHECK_MSG(r1 < 0.9 && r1 > 0, "blurred once: ratio %.4f", r1);
    CHECK_MSG(r2 < r1, "blurred twice %.4f should be below once %.4f", r2, r1);
    /* the other way round (sharper than the reference) exceeds 1 */
    CHECK_OK(re_metric_sharpness_ratio(a, b, 3, H, W, &r));
    CHECK_MSG(r > 1.1, "sharp vs blurred ratio %.4f", r);
    /* a flat reference: undefined ratio (NaN), not an error */
    for (int i = 0; i < N; i++) b[i] = 0.3f;
    CHECK_OK(re_metric_sharpness_ratio(a, b, 3, H, W, &r));
    CHECK(isnan(r));
    CHECK(re_metric_gradient_energy(a, 3, 2, 64, &e) == RE_ERR_ARG);
    CHECK(re_metric_sharpness_ratio(a, b, 3, 64, 64, NULL) == RE_ERR_ARG);
    free(a);
    free(b);
    free(b2);
}

static void test_pearson(void) {
    double x[10], y[10], z[10];
    size_t used = 0;
    for (int i = 0; i < 10; i++) {
        x[i] = i + 1;
        y[i] = 2 * x[i] + 3;
        z[i] = -0.5 * x[i] + 7;
    }
    CHECK(NEAR(re_metric_pearson(x, y, 10, &used), 1.0, 1e-12));
    CHECK_EQ_INT(used, 10);
    CHECK(NEAR(re_metric_pearson(x, z, 10, NULL), -1.0, 1e-12));
    /* x = 1..5, y = 2 4 5 4 5: cov 6, var_x 10, var_y 6 -> r = 6 / sqrt(60) */
    double px[5] = {1, 2, 3, 4, 5}, py[5] = {2, 4, 5, 4, 5};
    CHECK(NEAR(re_metric_pearson(px, py, 5, NULL), 6.0 / sqrt(60.0), 1e-12));
    CHECK(NEAR(re_metric_pearson(py, px, 5, NULL), 6.0 / sqrt(60.0), 1e-12));
    /* non-finite pairs are skipped: adding (NaN, 100) and (100, inf) leaves r unchanged */
    double qx[7] = {1, 2, NAN, 3, 4, 100, 5}, qy[7] = {2, 4, 100, 5, 4, INFINITY, 5};
    CHECK(NEAR(re_metric_pearson(qx, qy, 7, &used), 6.0 / sqrt(60.0), 1e-12));
    CHECK_EQ_INT(used, 5);
    /* a constant series or fewer than 3 pairs: undefined */
    double cst[5] = {0.3, 0.3, 0.3, 0.3, 0.3};
    CHECK(isnan(re_metric_pearson(px, cst, 5, NULL)));
    CHECK(isnan(re_metric_pearson(px, py, 2, &used)));
    CHECK_EQ_INT(used, 2);
    /* independent noise: |r| small for a long series */
    re_rng g;
    re_rng_seed(&g, 11);
    static double nx[4000], ny[4000];
    for (int i = 0; i < 4000; i++) { nx[i] = re_rng_normal(&g); ny[i] = re_rng_normal(&g); }
    double rn = re_metric_pearson(nx, ny, 4000, NULL);
    CHECK_MSG(fabs(rn) < 0.06, "independent series r = %.4f", rn);
}

static void test_stats(void) {
    re_stats s;
    re_stats_init(&s);
    CHECK(isnan(re_stats_mean(&s)) && isnan(re_stats_std(&s)));
    double v[8] = {2, 4, 4, 4, 5, 5, 7, 9};  /* mean 5, population std 2 */
    for (int i = 0; i < 8; i++) re_stats_add(&s, v[i]);
    re_stats_add(&s, NAN);
    re_stats_add(&s, INFINITY);
    CHECK_EQ_INT(s.n, 8);
    CHECK_EQ_INT(s.n_skipped, 2);
    CHECK(NEAR(re_stats_mean(&s), 5.0, 1e-12));
    CHECK(NEAR(re_stats_std(&s), 2.0, 1e-12));
    CHECK(s.min == 2 && s.max == 9);
    re_stats one = {0};
    re_stats_add(&one, -3.5);
    CHECK(re_stats_mean(&one) == -3.5 && re_stats_std(&one) == 0.0 && one.min == -3.5 && one.max == -3.5);
}

static int write_model(const char *path) {
    re_config cfg;
    re_model *m = NULL;
    re_status s = re_config_preset(&cfg, "seed64");
    if (!s) s = re_model_create(&m, &cfg, 1, 0);
    if (!s) s = re_model_save(m, path, 0, RE_STORE_F32, NULL);
    re_model_free(m);
    if (s) fprintf(stderr, "test_metrics: cannot write model '%s': %s\n", path, re_last_error());
    return s ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write-model") == 0) return write_model(argv[2]);
    test_l1_mse_psnr();
    test_ssim();
    test_sharpness();
    test_pearson();
    test_stats();
    RE_TEST_END();
}
