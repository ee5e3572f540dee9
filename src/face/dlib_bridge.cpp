/*
 * dlib_bridge.cpp - the dlib face backend behind re_face_detector (see src/face/face_backend.h): dlib's frontal
 * HOG face detector (get_frontal_face_detector) and its 68-point shape predictor
 * (/usr/share/dlib/shape_predictor_68_face_landmarks.dat from Debian's libdlib-data), behind a C interface.
 * Every entry point catches every exception (face/cxx_guard.h); none reaches C code.
 *
 * Opening is fast: the detector is read from its serialized bytes, made at build time
 * (tools/gen_frontal_detector.cpp), not rebuilt from dlib's compressed string (~0.7 s); the shape predictor's
 * 100 MB file is decoded by shape_model.c from memory (~0.1 s; dlib's istream deserialize takes ~1 s).
 *
 * The landmark cascade is evaluated here rather than through dlib::shape_predictor::operator(), for two reasons:
 *   - dlib rounds its output to whole pixels and takes an integer box. Sub-pixel landmarks matter: a 64x64 crop of a
 *     256 px face moves by ~1/4 crop pixel per pixel of eye position, which shows as jitter in video.
 *   - speed: dlib keeps 7,500 trees x 16 leaves x 136 floats (65 MB) in 120,000 separate heap blocks, and a
 *     prediction visits one leaf per tree in DRAM, ~5-7 ms here. The model's fields are repacked (shape_model.h:
 *     splits as 8-byte records, leaves in one contiguous block), and we
 *     evaluate each cascade level in two passes: all tree walks, then the leaf sums with the loads issued together
 *     and prefetched. ~4x faster than dlib's operator(). (int16 leaves were tried: no faster, and the cascade's
 *     discontinuous tree decisions turn their tiny error into 1-6 px differences on ~3% of points.)
 *   The arithmetic is dlib's (shape_predictor.h): same features, same tree walk, same update order, with the
 *   similarity fit between shapes done in closed form instead of dlib's SVD (same result for 2-D similarities).
 * Built only when CMake finds dlib (pkg-config dlib-1); needs no dlib image I/O.
 */
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <exception>
#include <istream>
#include <streambuf>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>

extern "C" {
#include "core/core.h"
}
#include "face/cxx_guard.h"
#include "face/face_backend.h"

#include "face/dlib_view.h"
#include "face/shape_model.h"

extern "C" {
extern const unsigned char re_frontal_detector_bytes[];   /* generated/frontal_detector.c */
extern const size_t re_frontal_detector_size;
}

namespace {

enum { NPTS = 2 * RE_FACE_LANDMARKS };   /* 136 shape coordinates */

using split16 = re_shape_split;   /* feature indices a, b and the threshold: 8 bytes */

/* One cascade level, repacked. Every tree has nsplit = 2^d - 1 splits and nleaf = 2^d leaves. */
struct level {
    int nfeat = 0, ntree = 0, nsplit = 0, nleaf = 0;
    std::vector<uint16_t> anchor;   /* [nfeat] landmark each feature pixel is placed relative to */
    std::vector<float> delta;       /* [nfeat][2] offset from that landmark, in mean-shape units */
    std::vector<split16> splits;    /* [ntree][nsplit] */
    std::vector<float> leaves;      /* [ntree][nleaf][NPTS] shape increments */
};

struct dlib_state {
    dlib::frontal_face_detector detector;
    float mean[NPTS];
    /* the cascade is read-only once loaded: clones (one detector per thread) share it, so a clone costs the HOG
     * detector's copy and scratch space, not another 65 MB */
    std::shared_ptr<const std::vector<level>> levels;
    std::vector<dlib::rect_detection> dets;   /* reused between calls */
    std::vector<float> feat;
    std::vector<const float *> chosen;
};

/* Mean of R, G, B: what dlib's get_pixel_intensity gives for an rgb_pixel. */
inline float intensity(const re_image *img, long x, long y) {
    const uint8_t *p = img->data + (size_t)y * (size_t)img->stride + (size_t)x * 3;
    return (float)(((unsigned)p[0] + p[1] + p[2]) / 3);
}

/* The 2x2 part of the least-squares similarity transform (rotation + uniform scale) taking shape `from` to shape
 * `to`: the closed form of what dlib's find_similarity_transform computes with an SVD (Umeyama). It also keeps
 * dlib's LAPACK-backed SVD out of this path. */
void similarity_2x2(const float *from, const float *to, float m[4]) {
    const int n = RE_FACE_LANDMARKS;
    double fx = 0, fy = 0, tx = 0, ty = 0;
    for (int i = 0; i < n; i++) {
        fx += from[2 * i];
        fy += from[2 * i + 1];
        tx += to[2 * i];
        ty += to[2 * i + 1];
    }
    fx /= n;
    fy /= n;
    tx /= n;
    ty /= n;
    double ss = 0, a = 0, b = 0;
    for (int i = 0; i < n; i++) {
        const double px = from[2 * i] - fx, py = from[2 * i + 1] - fy;
        const double qx = to[2 * i] - tx, qy = to[2 * i + 1] - ty;
        ss += px * px + py * py;
        a += px * qx + py * qy;
        b += px * qy - py * qx;
    }
    if (!(ss > 0)) ss = 1, a = 1, b = 0;   /* degenerate reference: identity, as dlib does for one point */
    m[0] = (float)(a / ss);
    m[1] = (float)(-b / ss);
    m[2] = (float)(b / ss);
    m[3] = (float)(a / ss);
}

/* Landmarks of the face in a float box: the box corners map the unit square (the shape's normalized coordinates)
 * to the image, with dlib's inclusive right/bottom edge (x1 - 1, y1 - 1). */
void predict(dlib_state *s, const re_image *img, const float box[4], float lm[RE_FACE_LANDMARKS][2]) {
    const float l = box[0], t = box[1], bw = box[2] - 1.0f - box[0], bh = box[3] - 1.0f - box[1];
    float cur[NPTS];
    std::memcpy(cur, s->mean, sizeof cur);
    for (const level &L : *s->levels) {
        float tf[4];
        similarity_2x2(s->mean, cur, tf);
        s->feat.resize((size_t)L.nfeat);
        float *feat = s->feat.data();
        for (int i = 0; i < L.nfeat; i++) {
            const float dx = L.delta[2 * i], dy = L.delta[2 * i + 1];
            const float qx = tf[0] * dx + tf[1] * dy + cur[2 * L.anchor[i]];
            const float qy = tf[2] * dx + tf[3] * dy + cur[2 * L.anchor[i] + 1];
            const long x = (long)std::floor(l + qx * bw + 0.5f), y = (long)std::floor(t + qy * bh + 0.5f);
            feat[i] = (x >= 0 && y >= 0 && x < img->w && y < img->h) ? intensity(img, x, y) : 0.0f;
        }
        /* pass 1: walk every tree (the splits are small and stay in cache) */
        s->chosen.resize((size_t)L.ntree);
        for (int k = 0; k < L.ntree; k++) {
            const split16 *sp = L.splits.data() + (size_t)k * L.nsplit;
            int i = 0;
            while (i < L.nsplit) i = (feat[sp[i].a] - feat[sp[i].b] > sp[i].thresh) ? 2 * i + 1 : 2 * i + 2;
            s->chosen[k] = L.leaves.data() + ((size_t)k * L.nleaf + (size_t)(i - L.nsplit)) * NPTS;
        }
        /* pass 2: add the chosen leaves; the loads are independent, so the memory system overlaps them */
        for (int k = 0; k < L.ntree; k++) {
            if (k + 4 < L.ntree) {
                const char *p = (const char *)s->chosen[k + 4];
                for (size_t c = 0; c < NPTS * sizeof(float); c += 64) __builtin_prefetch(p + c);
            }
            const float *q = s->chosen[k];
            for (int j = 0; j < NPTS; j++) cur[j] += q[j];
        }
    }
    for (int i = 0; i < RE_FACE_LANDMARKS; i++) {
        lm[i][0] = l + cur[2 * i] * bw;
        lm[i][1] = t + cur[2 * i + 1] * bh;
    }
}

re_status dlib_detect(void *impl, const uint8_t *gray, int w, int h, int stride, float threshold, float *boxes,
                      float *scores, int max, int *n) {
    *n = 0;
    char nomem[96], what[96];
    snprintf(nomem, sizeof nomem, "dlib face detector: out of memory on a %dx%d image", w, h);
    snprintf(what, sizeof what, "dlib face detector failed on a %dx%d image", w, h);
    return re_cxx_guarded(nomem, what, [&] {
        dlib_state *s = static_cast<dlib_state *>(impl);
        re_dlib::view<unsigned char> v = {gray, w, h, stride};
        s->dets.clear();
        s->detector(v, s->dets, (double)threshold);
        int k = 0;
        for (size_t i = 0; i < s->dets.size() && k < max; i++, k++) {
            const dlib::rectangle &r = s->dets[i].rect;
            boxes[4 * k + 0] = (float)r.left();
            boxes[4 * k + 1] = (float)r.top();
            boxes[4 * k + 2] = (float)(r.right() + 1);
            boxes[4 * k + 3] = (float)(r.bottom() + 1);
            scores[k] = (float)s->dets[i].detection_confidence;
        }
        *n = k;
        return RE_OK;
    });
}

re_status dlib_landmarks(void *impl, const re_image *img, const float box[4], float lm[RE_FACE_LANDMARKS][2]) {
    return re_cxx_guarded("dlib shape predictor: out of memory", "dlib shape predictor failed", [&] {
        predict(static_cast<dlib_state *>(impl), img, box, lm);
        return RE_OK;
    });
}

re_status dlib_clone(void *impl, void **out) {
    *out = NULL;
    static const char nomem[] = "dlib face detector: out of memory while copying it";
    return re_cxx_guarded(nomem, "dlib face detector: cannot copy it", [&] {
        *out = new dlib_state(*static_cast<const dlib_state *>(impl));
        return RE_OK;
    });
}

void dlib_close(void *impl) {
    try {
        delete static_cast<dlib_state *>(impl);
    } catch (...) {
    }
}

/* The shape predictor's file, decoded by shape_model.c (the same values as dlib's deserialize, checked there:
 * complete trees, indices in range, finite values), copied into s level by level so that only one level is held
 * twice at a time. */
re_status load_model(dlib_state *s, const char *path) {
    re_shape_model m;
    re_status st = re_shape_model_load(&m, path);
    if (st != RE_OK) return st;
    try {
        for (int i = 0; i < NPTS; i++) s->mean[i] = m.mean[i];
        auto levels = std::make_shared<std::vector<level>>((size_t)m.nlevels);
        for (int c = 0; c < m.nlevels; c++) {
            re_shape_level &S = m.levels[c];
            level &L = (*levels)[(size_t)c];
            L.nfeat = S.nfeat;
            L.ntree = S.ntree;
            L.nsplit = S.nsplit;
            L.nleaf = S.nleaf;
            L.anchor.assign(S.anchor, S.anchor + S.nfeat);
            L.delta.assign(S.delta, S.delta + 2 * (size_t)S.nfeat);
            L.splits.assign(S.splits, S.splits + (size_t)S.ntree * (size_t)S.nsplit);
            L.leaves.assign(S.leaves, S.leaves + (size_t)S.ntree * (size_t)S.nleaf * NPTS);
            re_shape_level_free(&S);
        }
        s->levels = std::move(levels);
    } catch (const std::bad_alloc &) {
        st = re_fail(RE_ERR_NOMEM, "face landmark model '%s': out of memory while reading", path);
    }
    re_shape_model_free(&m);
    return st;
}

/* dlib's frontal face detector from the bytes compiled in at build time (tools/gen_frontal_detector.cpp): the
 * same detector as get_frontal_face_detector(), ~10 ms instead of ~0.7 s. */
struct bytes_buf : std::streambuf {
    bytes_buf(const unsigned char *p, size_t n) {
        char *b = const_cast<char *>(reinterpret_cast<const char *>(p));
        setg(b, b, b + n);
    }
};

void read_frontal_detector(dlib::frontal_face_detector &d) {
    bytes_buf buf(re_frontal_detector_bytes, re_frontal_detector_size);
    std::istream in(&buf);
    dlib::deserialize(d, in);
}

}  // namespace

extern "C" {

const re_face_backend re_face_dlib_backend = {"dlib", dlib_detect, dlib_landmarks, dlib_close,
                                             dlib_clone};

re_status re_face_dlib_open(void **impl, const char *model_path) {
    *impl = NULL;
    dlib_state *s = NULL;
    re_status st = RE_OK;
    try {
        s = new dlib_state();
        st = load_model(s, model_path);
        if (st != RE_OK) goto fail;
        read_frontal_detector(s->detector);
    } catch (const std::bad_alloc &) {
        st = re_fail(RE_ERR_NOMEM, "opening the dlib face detector: out of memory");
        goto fail;
    } catch (const std::exception &e) {
        st = re_fail(RE_ERR_BACKEND, "opening the dlib face detector: %s", e.what());
        goto fail;
    } catch (...) {
        st = re_fail(RE_ERR_BACKEND, "opening the dlib face detector: unknown exception");
        goto fail;
    }
    *impl = s;
    return RE_OK;
fail:
    dlib_close(s);
    return st;
}

}  // extern "C"
