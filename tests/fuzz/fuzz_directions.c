/*
 * fuzz_directions.c - libFuzzer target for the motion directions inside a model file (re_dir_load after the strict
 * safetensors reader: the "directions" metadata JSON, the four tensors' names, shapes and values; docs/FORMAT.md
 * "Motion directions"). The latent size is 16, as in the seed corpus.
 *   libFuzzer: cmake -S . -B build-fuzz -DRE_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
 *              cmake --build build-fuzz --target fuzz_directions_lf
 *              build-fuzz/tests/fuzz_directions_lf -max_total_time=60 tests/fuzz/corpus/directions
 *   replay (any compiler, also a ctest): build/tests/fuzz_directions tests/fuzz/corpus/directions
 * The seed corpus is written by `RE_WRITE_DIRECTIONS_CORPUS=tests/fuzz/corpus/directions build/tests/test_directions`
 * (a valid entry and one file per refusal the unit test checks).
 * Invariants: a refusal returns a negative status with a message and no directions; accepted directions have
 * positive sigmas and finite tensors, and steering them (every region, with and without the driver's attributes,
 * with offsets) runs; without a calibrated response it gives finite codes. Violations abort().
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/safetensors.h"
#include "model/directions_io.h"
#include "reenact/directions.h"

#define FUZZ_MAX_INPUT (1u << 20)
#define LAT 16

#define INVARIANT(c) do { if (!(c)) { fprintf(stderr, "fuzz_directions: invariant failed: %s (line %d): %s\n", #c, \
    __LINE__, re_last_error()); abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_INPUT) return 0;
    re_st_file *f = NULL;
    if (re_st_load_mem(&f, data, size, "fuzz") != RE_OK) return 0;
    re_directions *d = (re_directions *)1;
    re_status s = re_dir_load(f, "fuzz", LAT, &d);
    re_st_free(f);
    if (s != RE_OK) {
        INVARIANT(s < 0 && d == NULL && re_last_error()[0] != 0);
        return 0;
    }
    if (!d) return 0;   /* a file without directions */
    INVARIANT(d->latent == LAT && d->n_motion >= 1 && d->n_motion <= RE_DIR_MAX_MOTION);
    for (int k = 0; k < RE_ATTR_COUNT; k++) INVARIANT(d->sigma[k] > 0 && isfinite(d->sigma[k]));
    for (int i = 0; i < RE_ATTR_COUNT * LAT; i++) INVARIANT(isfinite(d->pattern[i]) && isfinite(d->filter[i]));
    float dz[LAT], out[LAT], tmp[2 * LAT], da[RE_ATTR_COUNT];
    for (int i = 0; i < LAT; i++) dz[i] = (float)((i * 37) % 11 - 5) * 0.1f;
    for (int k = 0; k < RE_ATTR_COUNT; k++) da[k] = (float)(k - 3) * 0.1f * d->sigma[k];
    for (int region = RE_REGION_ALL; region <= RE_REGION_EYES; region++) {
        re_steer_opts o;
        re_steer_opts_default(&o);
        o.region = (re_region)region;
        o.offset[RE_ATTR_SMILE] = d->sigma[RE_ATTR_SMILE];
        o.offset[RE_ATTR_YAW] = 5;
        for (int drive = 0; drive < 2; drive++) {
            re_steer_apply(d, &o, dz, drive ? da : NULL, 1.0f, out, tmp);
            /* values are bounded by the loader (|x| <= 1e6), so without a calibrated response (whose solve divides
             * by sigmas that may be tiny) the codes stay finite */
            if (!isfinite(d->response[0]))
                for (int i = 0; i < LAT; i++) INVARIANT(isfinite(out[i]));
        }
    }
    re_directions_free(d);
    return 0;
}
