/*
 * fuzz_motion.c - libFuzzer target for the motion file reader (re_motion_load_mem: the strict safetensors reader,
 * then motion-specific validation of names, dtypes, shapes, metadata and values; docs/FORMAT.md "Motion file").
 *   libFuzzer: cmake -S . -B build-fuzz -DRE_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
 *              cmake --build build-fuzz --target fuzz_motion_lf
 *              build-fuzz/tests/fuzz_motion_lf -max_total_time=60 tests/fuzz/corpus/motion
 *   replay (any compiler, also a ctest): build/tests/fuzz_motion tests/fuzz/corpus/motion
 * The seed corpus is written by `RE_WRITE_MOTION_CORPUS=tests/fuzz/corpus/motion build/tests/test_anim`; the
 * *_nosha.motion files are copies with data_sha256 removed from the header (the reader accepts files without it), so
 * mutations of the data bytes reach the motion checks instead of failing the checksum.
 * Inputs are capped at 1 MB. Invariants: a failed load leaves the output NULL with a message; a successful one has
 * sizes in range, a positive frame rate, a reference frame inside the clip, finite values and 0/1 face flags, and
 * its deltas run through the latent filter and the transfer without producing non-finite codes. Violations abort().
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reenact/anim.h"

#define FUZZ_MAX_INPUT (1u << 20)

#define INVARIANT(c) do { if (!(c)) { fprintf(stderr, "fuzz_motion: invariant failed: %s (line %d): %s\n", #c, \
    __LINE__, re_last_error()); abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_INPUT) return 0;
    re_motion *m = (re_motion *)1;
    re_status s = re_motion_load_mem(&m, data, size, "fuzz");
    if (s != RE_OK) {
        INVARIANT(s < 0 && m == NULL && re_last_error()[0] != 0);
        return 0;
    }
    INVARIANT(m != NULL);
    INVARIANT(m->latent >= 1 && m->latent <= RE_MOTION_MAX_LATENT && m->frames >= 1);
    INVARIANT(m->fps_num > 0 && m->fps_den > 0 && m->ref_frame >= 0 && m->ref_frame < m->frames);
    INVARIANT(strlen(m->model_sha256) == 0 || strlen(m->model_sha256) == 64);
    for (int64_t t = 0; t < m->frames; t++) INVARIANT(m->found[t] <= 1);
    for (int i = 0; i < m->latent; i++) INVARIANT(isfinite(m->ref_latent[i]));
    re_latent_filter *f = NULL;
    INVARIANT(re_latent_filter_create(&f, m->latent, (double)m->fps_num / m->fps_den, NULL) == RE_OK ||
              (double)m->fps_num / m->fps_den >= 1e6);
    float *z = malloc((size_t)m->latent * sizeof *z);
    INVARIANT(z != NULL);
    const int64_t n = m->frames < 64 ? m->frames : 64;
    for (int64_t t = 0; t < n; t++) {
        const float *d = m->deltas + (size_t)t * m->latent;
        for (int i = 0; i < m->latent; i++) INVARIANT(isfinite(d[i]));
        memcpy(z, d, (size_t)m->latent * sizeof *z);
        if (f) re_latent_filter_apply(f, z);
        re_anim_transfer(m->ref_latent, z, m->deltas, 1.0f, m->latent, z);
        for (int i = 0; i < m->latent; i++) INVARIANT(!isnan(z[i]));
    }
    if (m->landmarks)
        for (size_t i = 0; i < (size_t)m->frames * RE_FACE_LANDMARKS * 2; i++) INVARIANT(isfinite(m->landmarks[i]));
    free(z);
    re_latent_filter_free(f);
    re_motion_free(m);
    return 0;
}
