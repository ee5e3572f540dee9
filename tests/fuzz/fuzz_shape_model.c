/*
 * fuzz_shape_model.c - libFuzzer target for the shape predictor reader (re_shape_model_parse, src/face/shape_model.c:
 * dlib's serialization of the 68-point landmark model, read without dlib). Built with or without dlib.
 *   libFuzzer: cmake -S . -B build-fuzz -DRE_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
 *              cmake --build build-fuzz --target fuzz_shape_model_lf
 *              build-fuzz/tests/fuzz_shape_model_lf -max_total_time=60 tests/fuzz/corpus/shape_model
 *   replay (any compiler, also a ctest): build/tests/fuzz_shape_model tests/fuzz/corpus/shape_model
 * The seed corpus is written by `RE_WRITE_SHAPE_MODEL_CORPUS=tests/fuzz/corpus/shape_model build/tests/test_shape_model`
 * (a small valid predictor and one file per refusal the unit test checks).
 * Invariants: a refusal returns a negative status with a message and an empty model; an accepted model has complete
 * trees (nleaf = nsplit + 1, a power of 2), split indices below its feature count, anchors below 68, and finite
 * leaves and thresholds; walking every tree stays in its arrays. Violations abort().
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "face/shape_model.h"

#define FUZZ_MAX_INPUT (1u << 20)

#define INVARIANT(c) do { if (!(c)) { fprintf(stderr, "fuzz_shape_model: invariant failed: %s (line %d): %s\n", #c, \
    __LINE__, re_last_error()); abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_INPUT) return 0;
    re_shape_model m;
    re_status s = re_shape_model_parse(&m, data, size, "fuzz");
    if (s != RE_OK) {
        INVARIANT(s < 0 && m.nlevels == 0 && m.levels == NULL && re_last_error()[0] != 0);
        return 0;
    }
    INVARIANT(m.nlevels >= 1 && m.levels);
    float acc = 0;
    for (int c = 0; c < m.nlevels; c++) {
        const re_shape_level *L = &m.levels[c];
        INVARIANT(L->ntree >= 1 && L->nfeat >= 1 && L->nleaf == L->nsplit + 1 && (L->nleaf & (L->nleaf - 1)) == 0);
        for (int i = 0; i < L->nfeat; i++) {
            INVARIANT(L->anchor[i] < RE_SHAPE_NPTS / 2);
            acc += L->delta[2 * i] * 0.0f;
        }
        for (int k = 0; k < L->ntree; k++) {
            const re_shape_split *sp = L->splits + (size_t)k * (size_t)L->nsplit;
            int i = 0;
            while (i < L->nsplit) {
                INVARIANT(sp[i].a < L->nfeat && sp[i].b < L->nfeat && isfinite(sp[i].thresh));
                i = (sp[i].a + k) % 2 ? 2 * i + 1 : 2 * i + 2;
            }
            const float *q = L->leaves + ((size_t)k * (size_t)L->nleaf + (size_t)(i - L->nsplit)) * RE_SHAPE_NPTS;
            for (int j = 0; j < RE_SHAPE_NPTS; j++) {
                INVARIANT(isfinite(q[j]));
                acc += q[j] * 0.0f;
            }
        }
    }
    INVARIANT(acc == 0.0f);
    re_shape_model_free(&m);
    return 0;
}
