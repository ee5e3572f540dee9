/*
 * re_test_image.h - comparisons of re_image pixels (RGB, 3 bytes per pixel) for the unit tests (header-only): PSNR,
 * equality.
 */
#ifndef RE_TEST_IMAGE_H
#define RE_TEST_IMAGE_H
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "reenact/media.h"

/* PSNR in dB over the top-left w x h region of a and b (99 when equal). */
static inline double re_test_psnr_region(const re_image *a, const re_image *b, int w, int h) {
    double se = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * 3; x++) {
            double d = (double)a->data[(size_t)y * a->stride + x] - b->data[(size_t)y * b->stride + x];
            se += d * d;
        }
    double mse = se / ((double)w * h * 3);
    return mse == 0 ? 99.0 : 10.0 * log10(255.0 * 255.0 / mse);
}

/* 1 when a and b have the same size and pixels. */
static inline int re_test_images_equal(const re_image *a, const re_image *b) {
    if (a->w != b->w || a->h != b->h) return 0;
    for (int y = 0; y < a->h; y++)
        if (memcmp(a->data + (size_t)y * a->stride, b->data + (size_t)y * b->stride, (size_t)a->w * 3) != 0) return 0;
    return 1;
}
#endif
