/*
 * bench_face_open.cpp - what opening a face detector costs (re_face_detector_open: dlib's frontal HOG detector and
 * the 68-point shape predictor, ~100 MB), against dlib's own way of getting the same two models in the same run:
 * dlib::deserialize(shape_predictor&) from an ifstream plus dlib::get_frontal_face_detector(). Every command that
 * finds faces (animate, eval, motion, demo, serve) pays this once at setup. The two are timed in alternation, so
 * both see the same machine state (page cache warm after the first round); prints best and median seconds and
 * the median ratio. Timings are never pass/fail.
 *
 * Build: cmake --build build -j2 --target bench_face_open
 * Usage: build/bench/bench_face_open [ROUNDS (default 5)] [MODEL (default $REENACT_DLIB_MODEL or Debian's)]
 */
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <vector>

#include "reenact/face.h"

#ifdef RE_HAVE_DLIB
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>

static double now_s() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv) {
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
    const char *path = argc > 2 ? argv[2] : std::getenv("REENACT_DLIB_MODEL");
    if (!path || !path[0]) path = RE_FACE_DEFAULT_MODEL;
    if (rounds < 1 || rounds > 1000) {
        std::fprintf(stderr, "usage: %s [ROUNDS 1..1000] [MODEL]\n", argv[0]);
        return 2;
    }
    std::vector<double> ours, theirs;
    for (int r = 0; r < rounds; r++) {
        double t = now_s();
        re_face_detector *d = NULL;
        if (re_face_detector_open(&d, path) != RE_OK) {
            std::fprintf(stderr, "bench_face_open: %s\n", re_last_error());
            return 1;
        }
        ours.push_back(now_s() - t);
        re_face_detector_free(d);
        t = now_s();
        try {
            dlib::shape_predictor sp;
            std::ifstream in(path, std::ios::binary);
            dlib::deserialize(sp, in);
            dlib::frontal_face_detector det = dlib::get_frontal_face_detector();
            theirs.push_back(now_s() - t);
        } catch (const std::exception &e) {
            std::fprintf(stderr, "bench_face_open: dlib: %s\n", e.what());
            return 1;
        }
    }
    const double mo = median(ours), mt = median(theirs);
    std::printf("face detector open, %d rounds (%s)\n", rounds, path);
    std::printf("  re_face_detector_open                        best %.3f s  median %.3f s\n",
                *std::min_element(ours.begin(), ours.end()), mo);
    std::printf("  dlib deserialize + get_frontal_face_detector best %.3f s  median %.3f s\n",
                *std::min_element(theirs.begin(), theirs.end()), mt);
    std::printf("  ratio (dlib / ours, medians): %.1fx\n", mt / mo);
    return 0;
}
#else
int main() {
    std::printf("SKIP bench_face_open: built without dlib\n");
    return 0;
}
#endif
