/*
 * bench_video_write.c - where the time of re_video_writer_write goes for large RGB frames (the `animate
 * --paste-back` output is the photo's size, up to 1920 on the longest side): RGB24 -> YUV420P conversion
 * (swscale variants), libx264 encoding (preset / threads variants) and MP4 muxing, in ms per frame, with the
 * quality and size each setting gives. Timings are never pass/fail.
 *
 * Frames: a portrait (../shared/data/examples/portraits/lp_s1.jpg, or --image) resized to cover the target size and
 * centre-cropped; per frame the central face square (half the short side; --motion global: the whole frame) is
 * redrawn from the photo with a small sinusoidal shift, so the encoder has motion to code in front of a static
 * background, as in a paste-back video. Without ../shared (and no --image) a generated gradient + noise image is used.
 * --frames-from PATTERN takes real frames instead, e.g. the PNG sequence of `reenact animate --paste-back --format png
 * -o DIR/f_%05d.png` (numbered from 1, up to --frames of them, held in memory and looped; their size replaces --sizes).
 *
 * Per size:
 *   1. conversion only (the caller's thread), per swscale flag set and for the library's converter
 *      (re_rgb_to_yuv420p): ms/frame, ratio against the current flags, PSNR of Y/U/V against an exact double-precision
 *      BT.709 limited-range conversion (chroma: the 2x2 mean), and the RGB round-trip PSNR (back to RGB as
 *      src/media/video_read.c converts decoded frames, no encoding);
 *   2. the whole writer path per encoder configuration: conversion + avcodec_send_frame/receive_packet (incl. the final
 *      flush) + av_interleaved_write_frame/trailer into an MP4 file in --tmp. Columns: wall ms/frame of each part and in
 *      total (the caller's view; libx264's frame threads work in the background), process CPU ms/frame (all encoder
 *      threads), the ratio of the total against the `current` row, kbit/s at 25 fps, size against `current`, and the
 *      PSNR (Y, U, V and the 6:1:1 mean) of the decoded file against the exact conversion of the frames written.
 *      Rows: `current` = the writer before this bench (swscale SWS_BICUBIC|SWS_ACCURATE_RND|SWS_FULL_CHR_H_INP,
 *      libx264 preset medium, CRF 18, threads auto); `conv+PRESET/CRF` = the library's converter with that libx264
 *      preset and CRF; `library (this build)` = re_video_writer_open/write/close with default options, i.e. what this
 *      build does, its split from the writer's own counters (encode = the rest of the write calls and the close).
 * Configurations run one after the other, the order rotated each of --reps rounds; medians reported.
 *
 * Build: cmake --build build -j2 --target bench_video_write
 * Run:   ./build/bench/bench_video_write [--sizes 1024x1024,1920x1080] [--frames 100] [--reps 1] [--image PHOTO]
 *                                        [--motion face|global] [--frames-from PATTERN] [--configs NAME,...|list]
 *                                        [--add NAME=PRESET:CRF[:THREADS[:X264PARAMS]]]... [--busy N] [--tmp DIR]
 *                                        [--no-conv] [--no-enc]
 *        from the repository root. --configs picks rows (`current` always runs); --add appends a row with the
 *        library's converter; --busy N runs N spinning threads during section 2, a stand-in for the other `animate`
 *        stages sharing the cores.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reenact/media.h"

#ifndef RE_HAVE_FFMPEG
int main(void) {
    printf("bench_video_write: SKIP: built without FFmpeg\n");
    return 0;
}
#else
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "bench_util.h"
#include "media/video_internal.h"

#define MAX_SIZES 8
#define MAX_REPS 15

/* ------------------------------------------------------------------------------------------ clocks, CPU name */

static double cpu_now_s(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void cpu_name(char *buf, size_t n) {
    snprintf(buf, n, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        char *p = strchr(line, ':');
        if (!p) break;
        p++;
        while (*p == ' ' || *p == '\t') p++;
        p[strcspn(p, "\n")] = 0;
        snprintf(buf, n, "%s", p);
        break;
    }
    fclose(f);
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    size_t l = strlen(buf);
    if (l + 24 < n) snprintf(buf + l, n - l, ", %ld cores online", nc);
}

/* ------------------------------------------------------------------------------------------ frames */

static int file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

typedef struct scene {
    re_image base;     /* the photo at the target size */
    int w, h, global;
    re_image *seq;     /* --frames-from: the frames, used in a loop */
    int nseq;
} scene;

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* Photo resized to cover w x h (aspect kept) and centre-cropped; or a gradient + noise image. */
static int scene_init(scene *sc, const char *photo, int w, int h, int global) {
    memset(sc, 0, sizeof *sc);
    sc->w = w;
    sc->h = h;
    sc->global = global;
    if (re_image_alloc(&sc->base, w, h) != RE_OK) return 0;
    re_image src = {0}, big = {0};
    if (photo && re_image_load(&src, photo) == RE_OK) {
        double k = fmax((double)w / src.w, (double)h / src.h);
        int bw = (int)ceil(src.w * k), bh = (int)ceil(src.h * k);
        if (bw < w) bw = w;
        if (bh < h) bh = h;
        if (re_image_resize(&src, &big, bw, bh) != RE_OK) return 0;
        int ox = (bw - w) / 2, oy = (bh - h) / 2;
        for (int y = 0; y < h; y++)
            memcpy(sc->base.data + (size_t)y * sc->base.stride, big.data + (size_t)(y + oy) * big.stride + (size_t)ox * 3,
                   (size_t)w * 3);
        re_image_free(&src);
        re_image_free(&big);
        return 1;
    }
    uint64_t s = 12345;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = sc->base.data + (size_t)y * sc->base.stride + (size_t)x * 3;
            int n = (int)(lcg(&s) % 17) - 8;
            int v[3] = {40 + 170 * x / w + n, 60 + 120 * y / h + n, 150 - 100 * (x + y) / (w + h) + n};
            for (int c = 0; c < 3; c++) p[c] = (uint8_t)(v[c] < 0 ? 0 : v[c] > 255 ? 255 : v[c]);
        }
    return 1;
}

/* --frames-from: PNG frames numbered from 1 (printf pattern), at most max of them, all of the same size. */
static int scene_load_seq(scene *sc, const char *pattern, int max) {
    memset(sc, 0, sizeof *sc);
    sc->seq = calloc((size_t)max, sizeof *sc->seq);
    if (!sc->seq) return 0;
    char name[1024];
    for (int i = 0; i < max; i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(name, sizeof name, pattern, i + 1);
#pragma GCC diagnostic pop
        if (!file_exists(name)) break;
        if (re_image_load(&sc->seq[i], name) != RE_OK) {
            fprintf(stderr, "%s: %s\n", name, re_last_error());
            return 0;
        }
        if (i > 0 && (sc->seq[i].w != sc->seq[0].w || sc->seq[i].h != sc->seq[0].h)) {
            fprintf(stderr, "%s: size differs from the first frame\n", name);
            return 0;
        }
        sc->nseq = i + 1;
    }
    if (!sc->nseq) {
        fprintf(stderr, "--frames-from %s: no frame 1\n", pattern);
        return 0;
    }
    sc->w = sc->seq[0].w;
    sc->h = sc->seq[0].h;
    if ((sc->w | sc->h) & 1) {
        fprintf(stderr, "--frames-from: %dx%d is odd; the bench wants even sizes\n", sc->w, sc->h);
        return 0;
    }
    return 1;
}

/* Frame i into out (w x h): the base with the face square (or everything) shifted by a few pixels. */
static void scene_frame(const scene *sc, int i, re_image *out) {
    const int w = sc->w, h = sc->h;
    if (sc->nseq) {
        const re_image *f = &sc->seq[i % sc->nseq];
        for (int y = 0; y < h; y++)
            memcpy(out->data + (size_t)y * out->stride, f->data + (size_t)y * f->stride, (size_t)w * 3);
        return;
    }
    const int dx = (int)lround(6.0 * sin(2 * M_PI * i / 25.0)), dy = (int)lround(4.0 * sin(2 * M_PI * i / 40.0 + 1.0));
    int x0 = 0, y0 = 0, x1 = w, y1 = h;
    if (!sc->global) {
        int side = (w < h ? w : h) / 2;
        x0 = (w - side) / 2;
        y0 = (h - side) / 2;
        x1 = x0 + side;
        y1 = y0 + side;
        for (int y = 0; y < h; y++)
            memcpy(out->data + (size_t)y * out->stride, sc->base.data + (size_t)y * sc->base.stride, (size_t)w * 3);
    }
    for (int y = y0; y < y1; y++) {
        int sy = y + dy;
        sy = sy < 0 ? 0 : sy >= h ? h - 1 : sy;
        const uint8_t *srow = sc->base.data + (size_t)sy * sc->base.stride;
        uint8_t *d = out->data + (size_t)y * out->stride;
        for (int x = x0; x < x1; x++) {
            int sx = x + dx;
            sx = sx < 0 ? 0 : sx >= w ? w - 1 : sx;
            memcpy(d + (size_t)x * 3, srow + (size_t)sx * 3, 3);
        }
    }
}

/* ------------------------------------------------------------------------------------------ exact conversion */

/* BT.709, limited range, chroma = conversion of the 2x2 mean (w, h even), as doubles. */
static void exact_yuv(const re_image *im, float *Y, float *U, float *V) {
    const double kr = 0.2126, kb = 0.0722, kg = 1 - kr - kb;
    const int w = im->w, h = im->h, cw = w / 2;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *p = im->data + (size_t)y * im->stride + (size_t)x * 3;
            Y[(size_t)y * w + x] = (float)(16.0 + 219.0 / 255.0 * (kr * p[0] + kg * p[1] + kb * p[2]));
        }
    for (int y = 0; y < h / 2; y++)
        for (int x = 0; x < cw; x++) {
            double m[3] = {0, 0, 0};
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < 2; i++)
                    for (int c = 0; c < 3; c++) m[c] += im->data[(size_t)(2 * y + j) * im->stride + (size_t)(2 * x + i) * 3 + c];
            for (int c = 0; c < 3; c++) m[c] *= 0.25 / 255.0;
            double l = kr * m[0] + kg * m[1] + kb * m[2];
            U[(size_t)y * cw + x] = (float)(128.0 + 224.0 * (m[2] - l) / (2 * (1 - kb)));
            V[(size_t)y * cw + x] = (float)(128.0 + 224.0 * (m[0] - l) / (2 * (1 - kr)));
        }
}

typedef struct sse3 { double se[3]; double n[3]; } sse3;

static void sse_add(sse3 *a, int c, const float *ref, const uint8_t *p, int stride, int w, int h) {
    double s = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double d = (double)p[(size_t)y * stride + x] - ref[(size_t)y * w + x];
            s += d * d;
        }
    a->se[c] += s;
    a->n[c] += (double)w * h;
}

static double psnr_of(double se, double n) { return se <= 0 ? 99.0 : 10.0 * log10(255.0 * 255.0 * n / se); }

/* ------------------------------------------------------------------------------------------ busy threads */

static atomic_int g_busy_stop;

static void *busy_main(void *arg) {
    (void)arg;
    volatile double x = 1.0;
    while (!atomic_load_explicit(&g_busy_stop, memory_order_relaxed))
        for (int i = 0; i < 100000; i++) x = x * 1.0000001 + 1e-9;
    return NULL;
}

typedef struct busy { pthread_t t[16]; int n; } busy;

static void busy_start(busy *b, int n) {
    atomic_store(&g_busy_stop, 0);
    b->n = 0;
    for (int i = 0; i < n && i < 16; i++)
        if (pthread_create(&b->t[b->n], NULL, busy_main, NULL) == 0) b->n++;
}

static void busy_stop(busy *b) {
    atomic_store(&g_busy_stop, 1);
    for (int i = 0; i < b->n; i++) pthread_join(b->t[i], NULL);
    b->n = 0;
}

/* ------------------------------------------------------------------------------------------ section 1 */

typedef struct conv_variant { const char *name; int flags; } conv_variant;

static const conv_variant g_conv[] = {
    {"current: bicubic|accurate_rnd|full_chr_h_inp", SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP},
    {"bicubic|full_chr_h_inp", SWS_BICUBIC | SWS_FULL_CHR_H_INP},
    {"bicubic|accurate_rnd", SWS_BICUBIC | SWS_ACCURATE_RND},
    {"bicubic", SWS_BICUBIC},
    {"bilinear|accurate_rnd", SWS_BILINEAR | SWS_ACCURATE_RND},
    {"bilinear", SWS_BILINEAR},
    {"fast_bilinear", SWS_FAST_BILINEAR},
    {"area", SWS_AREA},
    {"point", SWS_POINT},
    {"library: re_rgb_to_yuv420p", -1},
};
#define N_CONV ((int)(sizeof g_conv / sizeof g_conv[0]))

static struct SwsContext *make_sws(int w, int h, int flags) {
    struct SwsContext *s = sws_getContext(w, h, AV_PIX_FMT_RGB24, w, h, AV_PIX_FMT_YUV420P, flags, NULL, NULL, NULL);
    if (s)
        sws_setColorspaceDetails(s, sws_getCoefficients(SWS_CS_DEFAULT), 1, sws_getCoefficients(SWS_CS_ITU709), 0, 0,
                                 1 << 16, 1 << 16);
    return s;
}

static int sws_convert(struct SwsContext *s, const re_image *im, AVFrame *f) {
    const uint8_t *src[4] = {im->data, NULL, NULL, NULL};
    int sls[4] = {im->stride, 0, 0, 0};
    return sws_scale(s, src, sls, 0, im->h, f->data, f->linesize) == im->h;
}

static AVFrame *yuv_frame(int w, int h) {
    AVFrame *f = av_frame_alloc();
    if (!f) return NULL;
    f->format = AV_PIX_FMT_YUV420P;
    f->width = w;
    f->height = h;
    if (av_frame_get_buffer(f, 64) < 0) av_frame_free(&f);
    return f;
}

/* The frames are taken from a padded copy (64-byte rows, a spare row) like the writer's. */
static int padded_copy(const re_image *src, re_image *pad) {
    if (!pad->data) {
        int stride = (src->w * 3 + 63) & ~63;
        pad->data = aligned_alloc(64, (size_t)stride * (size_t)(src->h + 1) + 64);
        if (!pad->data) return 0;
        memset(pad->data, 0, (size_t)stride * (size_t)(src->h + 1) + 64);
        pad->w = src->w;
        pad->h = src->h;
        pad->stride = stride;
        pad->owns_data = 0;
    }
    for (int y = 0; y < src->h; y++)
        memcpy(pad->data + (size_t)y * pad->stride, src->data + (size_t)y * src->stride, (size_t)src->w * 3);
    return 1;
}

/* YUV 4:2:0 BT.709 limited -> RGB as src/media/video_read.c converts decoded frames. */
static struct SwsContext *make_sws_back(int w, int h) {
    struct SwsContext *s = sws_getContext(w, h, AV_PIX_FMT_YUV420P, w, h, AV_PIX_FMT_RGB24,
                                          SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    if (s)
        sws_setColorspaceDetails(s, sws_getCoefficients(SWS_CS_ITU709), 0, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0,
                                 1 << 16, 1 << 16);
    return s;
}

static void section_conv(const scene *sc, int frames, int reps) {
    const int w = sc->w, h = sc->h;
    re_image im = {0}, pad = {0}, back = {0};
    AVFrame *f = yuv_frame(w, h);
    struct SwsContext *sb = make_sws_back(w, h);
    double rt_se[16] = {0}, rt_n = 0;
    float *Y = malloc(sizeof(float) * (size_t)w * h), *U = malloc(sizeof(float) * (size_t)w * h / 4),
          *V = malloc(sizeof(float) * (size_t)w * h / 4);
    struct SwsContext *sws[N_CONV];
    double t[N_CONV][MAX_REPS];
    sse3 q[N_CONV];
    memset(q, 0, sizeof q);
    if (re_image_alloc(&im, w, h) != RE_OK || re_image_alloc(&back, w, h) != RE_OK || !f || !Y || !U || !V || !sb) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (int v = 0; v < N_CONV; v++) sws[v] = g_conv[v].flags >= 0 ? make_sws(w, h, g_conv[v].flags) : NULL;
    /* quality: a few frames, every variant against the exact conversion */
    for (int i = 0; i < 4; i++) {
        scene_frame(sc, i * 7, &im);
        padded_copy(&im, &pad);
        exact_yuv(&im, Y, U, V);
        for (int v = 0; v < N_CONV; v++) {
            int ok = sws[v] ? sws_convert(sws[v], &pad, f)
                            : re_rgb_to_yuv420p(pad.data, pad.stride, w, h, f->data, f->linesize) == RE_OK;
            if (!ok) continue;
            sse_add(&q[v], 0, Y, f->data[0], f->linesize[0], w, h);
            sse_add(&q[v], 1, U, f->data[1], f->linesize[1], w / 2, h / 2);
            sse_add(&q[v], 2, V, f->data[2], f->linesize[2], w / 2, h / 2);
            /* round trip: back to RGB as the video reader does it, against the frame */
            uint8_t *bd[4] = {back.data, NULL, NULL, NULL};
            int bls[4] = {back.stride, 0, 0, 0};
            sws_scale(sb, (const uint8_t *const *)f->data, f->linesize, 0, h, bd, bls);
            double se = 0;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < 3 * w; x++) {
                    double d = (double)back.data[(size_t)y * back.stride + x] - im.data[(size_t)y * im.stride + x];
                    se += d * d;
                }
            rt_se[v] += se;
        }
        rt_n += 3.0 * w * h;
    }
    /* timing: variants interleaved frame by frame, `frames` frames per rep */
    for (int r = 0; r < reps; r++) {
        double acc[N_CONV] = {0};
        for (int i = 0; i < frames; i++) {
            scene_frame(sc, i, &im);
            padded_copy(&im, &pad);
            for (int v = 0; v < N_CONV; v++) {
                double t0 = bench_now_s();
                if (sws[v]) sws_convert(sws[v], &pad, f);
                else re_rgb_to_yuv420p(pad.data, pad.stride, w, h, f->data, f->linesize);
                acc[v] += bench_now_s() - t0;
            }
        }
        for (int v = 0; v < N_CONV; v++) t[v][r] = acc[v] * 1e3 / frames;
    }
    printf("\n== %dx%d: RGB24 -> YUV420P BT.709 limited, conversion only (caller's thread), %d frames x %d reps\n", w, h,
           frames, reps);
    printf("%-46s %9s %7s   %-30s %s\n", "variant (swscale flags)", "ms/frame", "ratio", "PSNR Y / U / V vs exact (dB)",
           "RGB round trip (dB)");
    double med[N_CONV];
    for (int v = 0; v < N_CONV; v++) {
        qsort(t[v], (size_t)reps, sizeof(double), bench_cmp_double);
        med[v] = bench_median_sorted(t[v], reps);
    }
    for (int v = 0; v < N_CONV; v++)
        printf("%-46s %9.2f %6.2fx   %6.2f / %6.2f / %6.2f          %.2f\n", g_conv[v].name, med[v], med[0] / med[v],
               psnr_of(q[v].se[0], q[v].n[0]), psnr_of(q[v].se[1], q[v].n[1]), psnr_of(q[v].se[2], q[v].n[2]),
               psnr_of(rt_se[v], rt_n));
    printf("(ratio = current / variant: > 1 is faster than the current flags; RGB round trip: back to RGB as the video "
           "reader converts, no encoding, against the frame)\n");
    for (int v = 0; v < N_CONV; v++) sws_freeContext(sws[v]);
    av_frame_free(&f);
    free(Y);
    free(U);
    free(V);
    free(pad.data);
    re_image_free(&im);
    re_image_free(&back);
    sws_freeContext(sb);
}

/* ------------------------------------------------------------------------------------------ section 2 */

typedef struct enc_cfg {
    const char *name;
    int sws_flags;         /* -1: the library's converter (re_rgb_to_yuv420p) */
    const char *preset;
    int crf;
    int threads;           /* AVCodecContext.thread_count (0 = auto) */
    const char *x264_params;
    int library;           /* 1: the public writer API with default options */
} enc_cfg;

#define SWS_CUR (SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP)
#define MAX_CFG 40
static enc_cfg g_cfg[MAX_CFG] = {
    {"current", SWS_CUR, "medium", 18, 0, NULL, 0},
    {"conv+medium/18", -1, "medium", 18, 0, NULL, 0},
    {"conv+fast/17", -1, "fast", 17, 0, NULL, 0},
    {"conv+faster/16", -1, "faster", 16, 0, NULL, 0},
    {"conv+veryfast/18", -1, "veryfast", 18, 0, NULL, 0},
    {"conv+veryfast/15", -1, "veryfast", 15, 0, NULL, 0},
    {"conv+veryfast/14", -1, "veryfast", 14, 0, NULL, 0},
    {"conv+veryfast/13", -1, "veryfast", 13, 0, NULL, 0},
    {"conv+superfast/18", -1, "superfast", 18, 0, NULL, 0},
    {"conv+veryfast/14+thr2", -1, "veryfast", 14, 2, NULL, 0},
    {"conv+veryfast/14+sliced", -1, "veryfast", 14, 0, "sliced-threads=1", 0},
    {"library (this build)", 0, NULL, 0, 0, NULL, 1},
};
#define N_BUILTIN 12
static int N_CFG = N_BUILTIN;   /* --add appends */

typedef struct run_result {
    int ok;
    double conv, enc, mux, total, cpu;   /* ms/frame */
    long bytes;
    sse3 q;
} run_result;

static int mux_pkt(AVFormatContext *oc, AVCodecContext *e, AVStream *st, AVPacket *p, double *t_mux) {
    p->duration = 1;
    av_packet_rescale_ts(p, e->time_base, st->time_base);
    p->stream_index = st->index;
    double t0 = bench_now_s();
    int ret = av_interleaved_write_frame(oc, p);
    *t_mux += bench_now_s() - t0;
    return ret >= 0;
}

/* Encode `frames` frames with cfg into path, timing the parts. Frame generation is excluded from wall and CPU. */
static int run_ffmpeg(const scene *sc, const enc_cfg *cfg, int frames, const char *path, run_result *r) {
    const int w = sc->w, h = sc->h;
    int ok = 0;
    re_image im = {0}, pad = {0};
    AVFormatContext *oc = NULL;
    AVCodecContext *e = NULL;
    AVPacket *p = av_packet_alloc();
    AVFrame *f = yuv_frame(w, h);
    struct SwsContext *sws = cfg->sws_flags >= 0 ? make_sws(w, h, cfg->sws_flags) : NULL;
    AVDictionary *o = NULL, *mo = NULL;
    const AVCodec *c = avcodec_find_encoder_by_name("libx264");
    if (!p || !f || !c || (cfg->sws_flags >= 0 && !sws) || re_image_alloc(&im, w, h) != RE_OK) goto done;
    if (avformat_alloc_output_context2(&oc, NULL, "mp4", path) < 0) goto done;
    AVStream *st = avformat_new_stream(oc, NULL);
    e = avcodec_alloc_context3(c);
    if (!st || !e) goto done;
    e->width = w;
    e->height = h;
    e->time_base = (AVRational){1, 25};
    e->framerate = (AVRational){25, 1};
    e->sample_aspect_ratio = (AVRational){1, 1};
    e->pix_fmt = AV_PIX_FMT_YUV420P;
    e->color_range = AVCOL_RANGE_MPEG;
    e->colorspace = AVCOL_SPC_BT709;
    e->color_primaries = AVCOL_PRI_BT709;
    e->color_trc = AVCOL_TRC_BT709;
    e->thread_count = cfg->threads;
    e->gop_size = 250;
    e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    char crf[16];
    snprintf(crf, sizeof crf, "%d", cfg->crf);
    av_dict_set(&o, "crf", crf, 0);
    av_dict_set(&o, "preset", cfg->preset, 0);
    if (cfg->x264_params) av_dict_set(&o, "x264-params", cfg->x264_params, 0);
    if (avcodec_open2(e, c, &o) < 0) goto done;
    if (avcodec_parameters_from_context(st->codecpar, e) < 0) goto done;
    st->time_base = e->time_base;
    if (avio_open(&oc->pb, path, AVIO_FLAG_WRITE) < 0) goto done;
    av_dict_set(&mo, "movflags", "+faststart", 0);
    if (avformat_write_header(oc, &mo) < 0) goto done;
    double t_conv = 0, t_enc = 0, t_mux = 0, t_gen_cpu = 0, t_gen = 0;
    const double w0 = bench_now_s(), c0 = cpu_now_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i <= frames; i++) {
        double t0 = bench_now_s(), tc0 = cpu_now_s(CLOCK_PROCESS_CPUTIME_ID);
        AVFrame *send = NULL;
        if (i < frames) {
            scene_frame(sc, i, &im);
            padded_copy(&im, &pad);
            double t1 = bench_now_s();
            t_gen += t1 - t0;
            t_gen_cpu += cpu_now_s(CLOCK_PROCESS_CPUTIME_ID) - tc0;
            if (av_frame_make_writable(f) < 0) goto done;
            int cok = sws ? sws_convert(sws, &pad, f)
                          : re_rgb_to_yuv420p(pad.data, pad.stride, w, h, f->data, f->linesize) == RE_OK;
            if (!cok) goto done;
            t_conv += bench_now_s() - t1;
            f->pts = i;
            send = f;
        }
        double t2 = bench_now_s(), m0 = t_mux;
        if (avcodec_send_frame(e, send) < 0) goto done;
        for (;;) {
            int ret = avcodec_receive_packet(e, p);
            if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) break;
            if (ret < 0 || !mux_pkt(oc, e, st, p, &t_mux)) goto done;
        }
        t_enc += bench_now_s() - t2 - (t_mux - m0);
    }
    double t3 = bench_now_s();
    if (av_write_trailer(oc) < 0) goto done;
    if (avio_closep(&oc->pb) < 0) goto done;
    t_mux += bench_now_s() - t3;
    r->total = (bench_now_s() - w0 - t_gen) * 1e3 / frames;
    r->cpu = (cpu_now_s(CLOCK_PROCESS_CPUTIME_ID) - c0 - t_gen_cpu) * 1e3 / frames;
    r->conv = t_conv * 1e3 / frames;
    r->enc = t_enc * 1e3 / frames;
    r->mux = t_mux * 1e3 / frames;
    ok = 1;
done:
    av_dict_free(&o);
    av_dict_free(&mo);
    if (oc && oc->pb) avio_closep(&oc->pb);
    avformat_free_context(oc);
    avcodec_free_context(&e);
    av_packet_free(&p);
    av_frame_free(&f);
    sws_freeContext(sws);
    free(pad.data);
    re_image_free(&im);
    return ok;
}

/* The public writer with default options (this build's settings); the split comes from the writer's counters. */
static int run_library(const scene *sc, int frames, const char *path, run_result *r) {
    re_image im = {0};
    re_video_writer *vw = NULL;
    if (re_image_alloc(&im, sc->w, sc->h) != RE_OK) return 0;
    re_video_writer_opts wo = {sc->w, sc->h, 25, 1, RE_VIDEO_MP4, 0, NULL};
    if (re_video_writer_open(&vw, path, &wo) != RE_OK) {
        fprintf(stderr, "re_video_writer_open: %s\n", re_last_error());
        re_image_free(&im);
        return 0;
    }
    double t_gen = 0, t_gen_cpu = 0;
    const double w0 = bench_now_s(), c0 = cpu_now_s(CLOCK_PROCESS_CPUTIME_ID);
    re_video_writer_timing tm = {0};
    for (int i = 0; i < frames; i++) {
        double t0 = bench_now_s(), tc0 = cpu_now_s(CLOCK_PROCESS_CPUTIME_ID);
        scene_frame(sc, i, &im);
        t_gen += bench_now_s() - t0;
        t_gen_cpu += cpu_now_s(CLOCK_PROCESS_CPUTIME_ID) - tc0;
        if (re_video_writer_write(vw, &im) != RE_OK) {
            fprintf(stderr, "re_video_writer_write: %s\n", re_last_error());
            re_video_writer_abort(vw);
            re_image_free(&im);
            return 0;
        }
    }
    re_video_writer_get_timing(vw, &tm);
    double tc = bench_now_s();
    if (re_video_writer_close(vw) != RE_OK) {
        fprintf(stderr, "re_video_writer_close: %s\n", re_last_error());
        re_image_free(&im);
        return 0;
    }
    double t_close = bench_now_s() - tc;
    r->total = (bench_now_s() - w0 - t_gen) * 1e3 / frames;
    r->cpu = (cpu_now_s(CLOCK_PROCESS_CPUTIME_ID) - c0 - t_gen_cpu) * 1e3 / frames;
    r->conv = tm.convert_s * 1e3 / frames;
    r->mux = tm.mux_s * 1e3 / frames;
    /* the rest of the writes (copy, encoder, waiting for it) and the close (flush + trailer) */
    r->enc = r->total - r->conv - r->mux;
    (void)t_close;
    re_image_free(&im);
    return 1;
}

/* Decode path and compare every frame with the exact conversion of the frame written. */
static int quality(const scene *sc, const char *path, int frames, sse3 *q) {
    const int w = sc->w, h = sc->h;
    AVFormatContext *ic = NULL;
    AVCodecContext *d = NULL;
    AVPacket *p = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    re_image im = {0};
    float *Y = malloc(sizeof(float) * (size_t)w * h), *U = malloc(sizeof(float) * (size_t)w * h / 4),
          *V = malloc(sizeof(float) * (size_t)w * h / 4);
    int ok = 0, n = 0;
    memset(q, 0, sizeof *q);
    if (!p || !f || !Y || !U || !V || re_image_alloc(&im, w, h) != RE_OK) goto done;
    if (avformat_open_input(&ic, path, NULL, NULL) < 0 || avformat_find_stream_info(ic, NULL) < 0) goto done;
    int si = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (si < 0) goto done;
    const AVCodec *dc = avcodec_find_decoder(ic->streams[si]->codecpar->codec_id);
    d = dc ? avcodec_alloc_context3(dc) : NULL;
    if (!d || avcodec_parameters_to_context(d, ic->streams[si]->codecpar) < 0) goto done;
    d->thread_count = 0;
    if (avcodec_open2(d, dc, NULL) < 0) goto done;
    for (int eof = 0; !eof;) {
        int ret = av_read_frame(ic, p);
        if (ret < 0) {
            eof = 1;
            avcodec_send_packet(d, NULL);
        } else {
            if (p->stream_index == si) avcodec_send_packet(d, p);
            av_packet_unref(p);
        }
        while (avcodec_receive_frame(d, f) >= 0) {
            if (f->width != w || f->height != h || f->format != AV_PIX_FMT_YUV420P) goto done;
            scene_frame(sc, n, &im);
            exact_yuv(&im, Y, U, V);
            sse_add(q, 0, Y, f->data[0], f->linesize[0], w, h);
            sse_add(q, 1, U, f->data[1], f->linesize[1], w / 2, h / 2);
            sse_add(q, 2, V, f->data[2], f->linesize[2], w / 2, h / 2);
            n++;
            av_frame_unref(f);
        }
    }
    ok = n == frames;
    if (!ok) fprintf(stderr, "%s: decoded %d frames, wrote %d\n", path, n, frames);
done:
    avformat_close_input(&ic);
    avcodec_free_context(&d);
    av_packet_free(&p);
    av_frame_free(&f);
    free(Y);
    free(U);
    free(V);
    re_image_free(&im);
    return ok;
}

static long fsize(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static double med_of(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), bench_cmp_double);
    return bench_median_sorted(v, n);
}

static void section_enc(const scene *sc, int frames, int reps, const int *sel, int busy_n, const char *tmpdir) {
    static run_result res[MAX_CFG][MAX_REPS];
    memset(res, 0, sizeof res);
    static char path[MAX_CFG][600];
    busy b = {0};
    for (int c = 0; c < N_CFG; c++)
        snprintf(path[c], sizeof path[c], "%s/bench_video_write_%d_%dx%d.mp4", tmpdir, c, sc->w, sc->h);
    if (busy_n) busy_start(&b, busy_n);
    for (int r = 0; r < reps; r++)
        for (int k = 0; k < N_CFG; k++) {
            /* rotate the order each rep so no configuration always runs first */
            int c = (k + r) % N_CFG;
            if (!sel[c]) continue;
            res[c][r].ok = g_cfg[c].library ? run_library(sc, frames, path[c], &res[c][r])
                                            : run_ffmpeg(sc, &g_cfg[c], frames, path[c], &res[c][r]);
            if (!res[c][r].ok) fprintf(stderr, "%s: run failed\n", g_cfg[c].name);
        }
    if (busy_n) busy_stop(&b);
    printf("\n== %dx%d: convert + libx264 (preset/CRF per row) + MP4 mux, %d frames x %d reps%s; wall ms/frame (caller's view), "
           "medians\n", sc->w, sc->h, frames, reps, busy_n ? " (with spinning threads)" : "");
    printf("%-26s %7s %7s %6s %7s %7s %6s %8s %6s  %s\n", "config", "convert", "encode", "mux", "total", "cpu", "ratio",
           "kbit/s", "size", "PSNR Y/U/V, 6:1:1 (dB)  dPSNR");
    double base_total = 0, base_bytes = 0, base_psnr = 0;
    for (int c = 0; c < N_CFG; c++) {
        if (!sel[c]) continue;
        double v[5][MAX_REPS];
        int n = 0;
        for (int r = 0; r < reps; r++) {
            if (!res[c][r].ok) continue;
            v[0][n] = res[c][r].conv;
            v[1][n] = res[c][r].enc;
            v[2][n] = res[c][r].mux;
            v[3][n] = res[c][r].total;
            v[4][n] = res[c][r].cpu;
            n++;
        }
        if (!n) {
            printf("%-26s failed\n", g_cfg[c].name);
            continue;
        }
        double m[5];
        for (int k = 0; k < 5; k++) m[k] = med_of(v[k], n);
        long bytes = fsize(path[c]);
        sse3 q;
        int qok = quality(sc, path[c], frames, &q);
        double py = psnr_of(q.se[0], q.n[0]), pu = psnr_of(q.se[1], q.n[1]), pv = psnr_of(q.se[2], q.n[2]);
        double pw = (6 * py + pu + pv) / 8;
        if (c == 0) {
            base_total = m[3];
            base_bytes = (double)bytes;
            base_psnr = pw;
        }
        double kbps = (double)bytes * 8 / 1000 / (frames / 25.0);
        printf("%-26s %7.2f %7.2f %6.2f %7.2f %7.2f %5.2fx %8.0f %5.2fx  ", g_cfg[c].name, m[0], m[1], m[2], m[3], m[4],
               base_total > 0 ? base_total / m[3] : 0.0, kbps, base_bytes > 0 ? bytes / base_bytes : 0.0);
        if (qok) printf("%.2f/%.2f/%.2f, %.2f  %+.2f\n", py, pu, pv, pw, base_psnr > 0 ? pw - base_psnr : 0.0);
        else printf("(decode check failed)\n");
        remove(path[c]);
    }
    printf("(ratio = current total / total: > 1 is faster; size = bytes / current's bytes; dPSNR = 6:1:1 PSNR minus "
           "current's; cpu = process CPU time incl. encoder threads; PSNR against the exact BT.709 conversion of the input)\n");
}

/* ------------------------------------------------------------------------------------------ main */

static void usage(FILE *f) {
    fprintf(f, "usage: bench_video_write [--sizes 1024x1024,1920x1080] [--frames 100] [--reps 1] [--image PHOTO]\n"
               "                         [--motion face|global] [--frames-from DIR/f_%%05d.png] [--configs NAME,...|list]\n"
               "                         [--add NAME=PRESET:CRF[:THREADS[:X264PARAMS]]]... [--busy N] [--tmp DIR]\n"
               "                         [--no-conv] [--no-enc]\n");
}

int main(int argc, char **argv) {
    const char *sizes = "1024x1024,1920x1080", *image = NULL, *configs = NULL, *tmpdir = "/tmp", *frames_from = NULL;
    int frames = 100, reps = 1, global = 0, busy_n = 0, do_conv = 1, do_enc = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--no-conv")) {
            do_conv = 0;
        } else if (!strcmp(a, "--no-enc")) {
            do_enc = 0;
        } else if (!v) {
            usage(stderr);
            return 2;
        } else if (!strcmp(a, "--sizes")) {
            sizes = v, i++;
        } else if (!strcmp(a, "--image")) {
            image = v, i++;
        } else if (!strcmp(a, "--frames-from")) {
            frames_from = v, i++;
        } else if (!strcmp(a, "--configs")) {
            configs = v, i++;
        } else if (!strcmp(a, "--add")) {
            /* NAME=PRESET:CRF[:THREADS[:X264PARAMS]], converter: the library's */
            static char specs[MAX_CFG][256];
            char *sp = specs[N_CFG < MAX_CFG ? N_CFG : 0], *eq, *c1, *c2 = NULL, *c3 = NULL;
            snprintf(sp, 256, "%s", v);
            if (N_CFG >= MAX_CFG || !(eq = strchr(sp, '=')) || !(c1 = strchr(eq, ':'))) {
                fprintf(stderr, "--add NAME=PRESET:CRF[:THREADS[:X264PARAMS]]\n");
                return 2;
            }
            *eq = *c1 = 0;
            if ((c2 = strchr(c1 + 1, ':'))) {
                *c2 = 0;
                if ((c3 = strchr(c2 + 1, ':'))) *c3 = 0;
            }
            int crf = 0, thr = 0;
            if (!bench_parse_int(c1 + 1, 0, 51, &crf) || (c2 && !bench_parse_int(c2 + 1, 0, 64, &thr))) {
                fprintf(stderr, "--add %s: bad CRF or threads\n", v);
                return 2;
            }
            g_cfg[N_CFG++] = (enc_cfg){sp, -1, eq + 1, crf, thr, c3 ? c3 + 1 : NULL, 0};
            i++;
        } else if (!strcmp(a, "--tmp")) {
            tmpdir = v, i++;
        } else if (!strcmp(a, "--motion")) {
            if (strcmp(v, "face") && strcmp(v, "global")) {
                usage(stderr);
                return 2;
            }
            global = !strcmp(v, "global"), i++;
        } else if (!strcmp(a, "--frames") && bench_parse_int(v, 1, 100000, &frames)) {
            i++;
        } else if (!strcmp(a, "--reps") && bench_parse_int(v, 1, MAX_REPS, &reps)) {
            i++;
        } else if (!strcmp(a, "--busy") && bench_parse_int(v, 0, 16, &busy_n)) {
            i++;
        } else {
            usage(stderr);
            return 2;
        }
    }
    int sel[MAX_CFG];
    for (int c = 0; c < N_CFG; c++) sel[c] = configs == NULL || c >= N_BUILTIN;   /* --add entries always run */
    if (configs && !strcmp(configs, "list")) {
        for (int c = 0; c < N_CFG; c++) printf("%s\n", g_cfg[c].name);
        return 0;
    }
    if (configs) {
        sel[0] = 1;   /* the baseline of the ratios always runs */
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", configs);
        for (char *s = strtok(buf, ","); s; s = strtok(NULL, ",")) {
            int found = 0;
            for (int c = 0; c < N_CFG; c++)
                if (!strcmp(s, g_cfg[c].name) || (g_cfg[c].library && !strcmp(s, "library"))) sel[c] = found = 1;
            if (!found) {
                fprintf(stderr, "unknown config '%s' (--configs list)\n", s);
                return 2;
            }
        }
    }
    int sw[MAX_SIZES], sh[MAX_SIZES], ns = 0;
    for (const char *s = sizes; *s && ns < MAX_SIZES;) {
        int a, b, n = 0;
        if (sscanf(s, "%dx%d%n", &a, &b, &n) != 2 || a < 16 || b < 16 || a > 8192 || b > 8192 || (a & 1) || (b & 1)) {
            fprintf(stderr, "bad --sizes '%s' (even WxH, 16..8192)\n", sizes);
            return 2;
        }
        sw[ns] = a;
        sh[ns++] = b;
        s += n;
        if (*s == ',') s++;
    }
    if (frames_from) {
        image = NULL;
    } else if (!image) {
        static const char *cands[] = {"../shared/data/examples/portraits/lp_s1.jpg",
                                      RE_SOURCE_DIR "/../shared/data/examples/portraits/lp_s1.jpg"};
        for (size_t k = 0; k < sizeof cands / sizeof cands[0] && !image; k++)
            if (file_exists(cands[k])) image = cands[k];
        if (!image)
            printf("note: ../shared/data/examples/portraits/lp_s1.jpg not found (run from the repository root); using a "
                   "generated gradient + noise image\n");
    } else if (!file_exists(image)) {
        fprintf(stderr, "--image %s: not found\n", image);
        return 2;
    }
    char cpu[256];
    cpu_name(cpu, sizeof cpu);
    if (frames_from)
        printf("bench_video_write: %s; %s; frames %s; FFmpeg %s, libavcodec %d.%d.%d\n", cpu,
               sizeof(void *) == 8 ? "64-bit" : "32-bit", frames_from, av_version_info(), LIBAVCODEC_VERSION_MAJOR,
               LIBAVCODEC_VERSION_MINOR, LIBAVCODEC_VERSION_MICRO);
    else
        printf("bench_video_write: %s; %s; image %s, motion %s; FFmpeg %s, libavcodec %d.%d.%d\n", cpu,
               sizeof(void *) == 8 ? "64-bit" : "32-bit", image ? image : "(generated)", global ? "global" : "face square",
               av_version_info(), LIBAVCODEC_VERSION_MAJOR, LIBAVCODEC_VERSION_MINOR, LIBAVCODEC_VERSION_MICRO);
    av_log_set_level(AV_LOG_ERROR);
    if (frames_from) ns = 1;   /* the frames' own size */
    for (int s = 0; s < ns; s++) {
        scene sc;
        if (frames_from ? !scene_load_seq(&sc, frames_from, frames) : !scene_init(&sc, image, sw[s], sh[s], global)) {
            fprintf(stderr, "cannot make the %dx%d frames\n", sw[s], sh[s]);
            return 1;
        }
        if (do_conv) section_conv(&sc, frames < 30 ? frames : 30, reps);
        if (do_enc) section_enc(&sc, frames, reps, sel, busy_n, tmpdir);
        re_image_free(&sc.base);
        for (int k = 0; k < sc.nseq; k++) re_image_free(&sc.seq[k]);
        free(sc.seq);
    }
    return 0;
}
#endif
