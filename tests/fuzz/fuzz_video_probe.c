/*
 * fuzz_video_probe.c - libFuzzer target for opening and decoding a video from memory (re_video_reader_open_mem:
 * custom AVIOContext, container whitelist, no nested file opens).
 *   libFuzzer: cmake -S . -B build-fuzz -DRE_FUZZ=ON -DRE_SANITIZE=ON -DCMAKE_C_COMPILER=clang \
 *                    -DCMAKE_CXX_COMPILER=clang++ -DRE_WITH_DLIB=OFF -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link
 *              cmake --build build-fuzz --target fuzz_video_probe_lf
 *              build-fuzz/tests/fuzz_video_probe_lf -max_total_time=60 tests/fuzz/corpus/video_probe
 *   replay (any compiler, also a ctest): build/tests/fuzz_video_probe tests/fuzz/corpus/video_probe
 * Inputs are capped at 512 KB, frames at 256 Kpixel, and at most 4 frames are decoded per input. Invariants: a failed
 * open leaves the reader NULL with a message; frames have the positive size the pixel limit allows; timestamps are
 * finite; after RE_VIDEO_EOF or an error, the reader closes cleanly. Violations abort().
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "reenact/media.h"

#define FUZZ_MAX_INPUT (512u << 10)
#define FUZZ_MAX_PIXELS ((uint64_t)1 << 18)
#define FUZZ_MAX_FRAMES 4

#define INVARIANT(c) do { if (!(c)) { fprintf(stderr, "fuzz_video_probe: invariant failed: %s (line %d): %s\n", \
    #c, __LINE__, re_last_error()); abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_INPUT) return 0;
#ifdef RE_HAVE_FFMPEG
    re_image_set_max_pixels(FUZZ_MAX_PIXELS);
    re_video_reader *r = NULL;
    re_status st = re_video_reader_open_mem(&r, data, size, "fuzz");
    if (st != RE_OK) {
        INVARIANT(st < 0 && r == NULL && re_last_error()[0] != 0);
        return 0;
    }
    re_video_info in = re_video_reader_info(r);
    INVARIANT(in.fps_num > 0 && in.fps_den > 0 && in.codec != NULL);
    re_image fr = {0};
    for (int i = 0; i < FUZZ_MAX_FRAMES; i++) {
        double t = 0;
        st = re_video_reader_next(r, &fr, &t);
        if (st != RE_OK) {
            INVARIANT(st == RE_VIDEO_EOF || (st < 0 && re_last_error()[0] != 0));
            break;
        }
        INVARIANT(fr.data && fr.w > 0 && fr.h > 0 && (uint64_t)fr.w * fr.h <= FUZZ_MAX_PIXELS);
        INVARIANT(isfinite(t));
    }
    re_image_free(&fr);
    re_video_reader_close(r);
#else
    (void)data;
#endif
    return 0;
}
