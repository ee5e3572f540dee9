/*
 * bench_render.c - the photo renderer's per-frame cost (re_render_apply, src/anim/render.c) on a synthetic photo,
 * and what the eyes' opening at the photo's resolution (lid_map) adds to it: the same frame rendered with the lids
 * at the photo's own opening (ratio 1: no remap) and closing (ratio 0.5: every pixel in a box around each eye is
 * remapped), in alternation, so both see the same machine state. Prints the best and median ms per frame of each
 * and their ratio. Timings are never pass/fail.
 *
 * The photo is a --side x --side pattern with a face square of --face px in its middle; the decoded faces and their
 * landmarks are synthetic (a schematic frontal face on the 64 px grid, the generated one moved a little and its
 * mouth opened 1 px), so the render does the work of a real frame: spline, fold guard, residual, warp.
 *
 * With --threads T, the per-pixel warp's threads instead (re_render_opts.threads): 1 against T, lids closing in both.
 *
 * Build: cmake --build build -j2 --target bench_render
 * Usage: build/bench/bench_render [--side 1024] [--face 600] [--rounds 40] [--reps 5] [--threads T]
 */
#include <math.h>

#include "bench_util.h"
#include "reenact/anim.h"
#include "reenact/media.h"

#define RES 64

/* 68 landmarks of a schematic frontal face on the model grid (as tests/unit/test_render.c draws it). */
static void schematic_face(float ls[RE_FACE_LANDMARKS][2]) {
    for (int i = 0; i < 17; i++) {
        const double a = M_PI * i / 16;
        ls[i][0] = (float)(31.5 - 24 * cos(a));
        ls[i][1] = (float)(26 + 30 * sin(a));
    }
    for (int i = 17; i < 27; i++) ls[i][0] = 12 + (float)(i - 17) * 4.4f, ls[i][1] = 18;
    for (int i = 27; i < 36; i++) {
        ls[i][0] = 31.5f + (i < 31 ? 0 : (float)(i - 33) * 2);
        ls[i][1] = 22 + (float)(i < 31 ? (i - 27) * 4 : 16);
    }
    for (int e = 0; e < 2; e++)
        for (int k = 0; k < 6; k++) {
            const double a = M_PI * k / 3;
            ls[36 + 6 * e + k][0] = (float)((e ? 41.5 : 21.5) - 4 * cos(a));
            ls[36 + 6 * e + k][1] = (float)(25 - 2 * sin(a));
        }
    for (int i = 48; i < 68; i++) {
        const double a = 2 * M_PI * (i - 48) / (i < 60 ? 12 : 8);
        ls[i][0] = (float)(31.5 + (i < 60 ? 8 : 5) * cos(a));
        ls[i][1] = (float)(45 + (i < 60 ? 3 : 1.5) * sin(a));
    }
}

int main(int argc, char **argv) {
    int side = 1024, face = 600, rounds = 40, reps = 5, threads = 0;
    for (int i = 1; i < argc; i++) {
        int *dst = !strcmp(argv[i], "--side") ? &side : !strcmp(argv[i], "--face") ? &face
                   : !strcmp(argv[i], "--rounds") ? &rounds : !strcmp(argv[i], "--reps") ? &reps
                   : !strcmp(argv[i], "--threads") ? &threads : NULL;
        if (!dst || i + 1 >= argc || (*dst = atoi(argv[++i])) < 1 || threads > RE_RENDER_MAX_THREADS) {
            fprintf(stderr, "usage: bench_render [--side 1024] [--face 600] [--rounds 40] [--reps 5] [--threads T]\n");
            return 2;
        }
    }
    if (face > side) face = side;
    re_image photo = {0}, out = {0};
    if (re_image_alloc(&photo, side, side) != RE_OK) return 1;
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++)
            for (int c = 0; c < 3; c++)
                photo.data[(size_t)y * photo.stride + 3 * (size_t)x + c] = (uint8_t)((x * 7 + y * 3 + c * 50) & 255);
    const re_face_frame fr = {0.5f * side, 0.5f * side, 0.5f * face, 0.0f};
    float *ds = malloc(3 * RES * RES * sizeof *ds), *dt = malloc(3 * RES * RES * sizeof *dt);
    if (!ds || !dt) return 1;
    bench_fill_uniform(ds, 3 * RES * RES, 1);
    for (int i = 0; i < 3 * RES * RES; i++) ds[i] = 0.3f + 0.4f * ds[i], dt[i] = ds[i];
    float ls[RE_FACE_LANDMARKS][2], lt[RE_FACE_LANDMARKS][2];
    schematic_face(ls);
    for (int i = 0; i < RE_FACE_LANDMARKS; i++) {
        lt[i][0] = ls[i][0] + 0.5f;
        lt[i][1] = ls[i][1] + (i >= 56 && i < 60 ? 1.2f : 0.2f);   /* the lower lip down: the mouth opens */
    }
    /* arm m renders with rr[m]: without --threads one renderer (threads: one per core), the lids still against
     * closing; with --threads T two, 1 thread against T, the lids closing in both */
    re_render *rr[2] = {NULL, NULL};
    re_status s = RE_OK;
    for (int m = 0; m < (threads ? 2 : 1) && s == RE_OK; m++) {
        re_render_opts ro;
        re_render_opts_default(&ro);
        if (threads) ro.threads = m ? threads : 1;
        s = re_render_create(&rr[m], &photo, &fr, RES, &ro);
        if (s == RE_OK) s = re_render_set_source(rr[m], ds, (const float(*)[2])ls);
    }
    if (s != RE_OK) {
        fprintf(stderr, "bench_render: %s\n", re_last_error());
        return 1;
    }
    if (!threads) rr[1] = rr[0];
    double *t[2] = {malloc(rounds * sizeof(double)), malloc(rounds * sizeof(double))};
    if (!t[0] || !t[1]) return 1;
    const float ratio[2] = {threads ? 0.5f : 1.0f, 0.5f};
    for (int k = 0; k < rounds; k++)
        for (int m = 0; m < 2; m++) {
            re_render *r = rr[m];
            const re_render_parts p = {1, {ratio[m], ratio[m]}, 0, 0, 0, 0, 0};
            re_render_set_parts(r, &p);
            const double t0 = bench_now_s();
            for (int i = 0; i < reps; i++)
                if ((s = re_render_apply(r, dt, (const float(*)[2])lt, &out)) != RE_OK) {
                    fprintf(stderr, "bench_render: %s\n", re_last_error());
                    return 1;
                }
            t[m][k] = (bench_now_s() - t0) / reps * 1e3;
        }
    printf("bench_render: %dx%d photo, face %d px, re_render_apply, %d rounds x %d frames, alternating\n", side,
           side, face, rounds, reps);
    double best[2], med[2];
    for (int m = 0; m < 2; m++) {
        qsort(t[m], rounds, sizeof(double), bench_cmp_double);
        best[m] = t[m][0];
        med[m] = bench_median_sorted(t[m], rounds);
        if (threads)
            printf("  %d thread%s (lids closing): best %.2f ms, median %.2f ms per frame\n", m ? threads : 1,
                   m && threads > 1 ? "s" : "", best[m], med[m]);
        else
            printf("  lids %s: best %.2f ms, median %.2f ms per frame\n",
                   m ? "closing (ratio 0.5, lid_map)" : "at the photo's opening (ratio 1)", best[m], med[m]);
    }
    if (threads)
        printf("  ratio %d threads / 1: best %.3f, median %.3f\n", threads, best[1] / best[0], med[1] / med[0]);
    else
        printf("  ratio closing / still: best %.3f, median %.3f\n", best[1] / best[0], med[1] / med[0]);
    re_render_free(rr[0]);
    if (threads) re_render_free(rr[1]);
    re_image_free(&photo);
    re_image_free(&out);
    free(ds);
    free(dt);
    free(t[0]);
    free(t[1]);
    return 0;
}
