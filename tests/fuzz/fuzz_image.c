/*
 * fuzz_image.c - libFuzzer target for the PNG/JPEG loader (re_image_load_mem) and, on decoded images, resize and
 * affine warp with parameters taken from the input's last bytes.
 *   libFuzzer: cmake -S . -B build-fuzz -DRE_FUZZ=ON -DRE_SANITIZE=ON -DCMAKE_C_COMPILER=clang \
 *                    -DCMAKE_CXX_COMPILER=clang++ -DRE_WITH_DLIB=OFF -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link
 *              cmake --build build-fuzz --target fuzz_image_lf
 *              build-fuzz/tests/fuzz_image_lf -max_total_time=60 tests/fuzz/corpus/image
 *   replay (any compiler, also a ctest): build/tests/fuzz_image tests/fuzz/corpus/image
 * Inputs are capped at 256 KB and images at 1 Mpixel (decompression bombs end as RE_ERR_TOO_LARGE). Invariants:
 * a failure leaves the image zeroed with a non-empty message; a success gives a positive size within the limit.
 * Violations abort() so the fuzzer records the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reenact/media.h"

#define FUZZ_MAX_INPUT (256u << 10)
#define FUZZ_MAX_PIXELS ((uint64_t)1 << 20)

#define INVARIANT(c) do { if (!(c)) { fprintf(stderr, "fuzz_image: invariant failed: %s (line %d): %s\n", \
    #c, __LINE__, re_last_error()); abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_INPUT) return 0;
    re_image_set_max_pixels(FUZZ_MAX_PIXELS);
    re_image im = {0};
    re_status st = re_image_load_mem(&im, data, size, "fuzz");
    if (st != RE_OK) {
        INVARIANT(st < 0 && im.data == NULL && im.w == 0 && re_last_error()[0] != 0);
        return 0;
    }
    INVARIANT(im.data && im.w > 0 && im.h > 0 && im.stride >= 3 * im.w);
    INVARIANT((uint64_t)im.w * (uint64_t)im.h <= FUZZ_MAX_PIXELS);
    volatile unsigned sum = 0;
    for (int y = 0; y < im.h; y++) sum += im.data[(size_t)y * im.stride + (size_t)(im.w - 1) * 3 + 2];
    /* small resize / warp driven by the tail bytes */
    uint8_t p[8] = {0};
    memcpy(p, data + (size >= 8 ? size - 8 : 0), size >= 8 ? 8 : size);
    re_image out = {0};
    int ow = 1 + p[0] % 48, oh = 1 + p[1] % 48;
    INVARIANT(re_image_resize(&im, &out, ow, oh) == RE_OK && out.w == ow && out.h == oh);
    float m[6] = {(p[2] - 128) / 16.0f, (p[3] - 128) / 64.0f, (float)(p[4] % 64), (p[5] - 128) / 64.0f,
                  (p[6] - 128) / 16.0f, (float)(p[7] % 64)};
    INVARIANT(re_image_warp_affine(&im, &out, oh, ow, m, (re_border)(p[0] % 3)) == RE_OK);
    re_image_free(&out);
    re_image_free(&im);
    return 0;
}
