/*
 * dlib_bridge.cpp - the dlib face backend behind re_face_detector (see src/face/face_backend.h): dlib's frontal
 * HOG face detector (get_frontal_face_detector) and its 68-point shape predictor
 * (/usr/share/dlib/shape_predictor_68_face_landmarks.dat from Debian's libdlib-data), behind a C interface.
 * The only C++ file of libreenact. Every entry point catches every exception; none reaches C code.
 *
 * The landmark cascade is evaluated here rather than through dlib::shape_predictor::operator(), which rounds its
 * output to whole pixels and takes an integer box: the model's fields are read from the file in the same order as
 * dlib's deserialize(shape_predictor&), and the cascade below is dlib's (shape_predictor.h) with float boxes and
 * float output. Sub-pixel landmarks matter: a 64x64 crop of a 256 px face moves by ~1/4 crop pixel per pixel of
 * eye position, which shows as jitter in video.
 * Built only when CMake finds dlib (pkg-config dlib-1); needs no dlib image I/O.
 */
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <new>
#include <string>
#include <vector>

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>

extern "C" {
#include "core/core.h"
}
#include "face/face_backend.h"

/* A borrowed 8-bit gray buffer seen by dlib as an image (dlib's generic image interface: image_traits plus
 * num_rows/num_columns/image_data/width_step found by argument-dependent lookup), so the detector scans our
 * buffer without a copy. */
namespace re_dlib {
struct gray_view {
    const unsigned char *data;
    long w, h, stride;
};
inline long num_rows(const gray_view &v) { return v.h; }
inline long num_columns(const gray_view &v) { return v.w; }
inline const void *image_data(const gray_view &v) { return v.data; }
inline long width_step(const gray_view &v) { return v.stride; }
}  // namespace re_dlib

namespace dlib {
template <> struct image_traits<re_dlib::gray_view> { typedef unsigned char pixel_type; };
}  // namespace dlib

namespace {

struct shape_model {
    dlib::matrix<float, 0, 1> initial_shape;   /* mean shape, (x,y) pairs in box-normalized [0,1] units */
    std::vector<std::vector<dlib::impl::regression_tree>> forests;
    std::vector<std::vector<unsigned long>> anchor_idx;
    std::vector<std::vector<dlib::vector<float, 2>>> deltas;
};

struct dlib_state {
    dlib::frontal_face_detector detector;
    shape_model sp;
    std::vector<dlib::rect_detection> dets;   /* reused between calls */
    std::vector<float> feat;
};

/* Mean of R, G, B: what dlib's get_pixel_intensity gives for an rgb_pixel. */
inline float intensity(const re_image *img, long x, long y) {
    const uint8_t *p = img->data + (size_t)y * (size_t)img->stride + (size_t)x * 3;
    return (float)(((unsigned)p[0] + p[1] + p[2]) / 3);
}

/* The 2x2 part of the least-squares similarity transform (rotation + uniform scale) taking shape `from` to shape
 * `to`: the closed form of what dlib's find_similarity_transform computes with an SVD (Umeyama), without the
 * LAPACK call, so the library links without dlib's LAPACK dependency. */
void similarity_2x2(const dlib::matrix<float, 0, 1> &from, const dlib::matrix<float, 0, 1> &to, float m[4]) {
    const long n = from.size() / 2;
    double fx = 0, fy = 0, tx = 0, ty = 0;
    for (long i = 0; i < n; i++) {
        fx += from(2 * i);
        fy += from(2 * i + 1);
        tx += to(2 * i);
        ty += to(2 * i + 1);
    }
    fx /= n;
    fy /= n;
    tx /= n;
    ty /= n;
    double ss = 0, a = 0, b = 0;
    for (long i = 0; i < n; i++) {
        const double px = from(2 * i) - fx, py = from(2 * i + 1) - fy;
        const double qx = to(2 * i) - tx, qy = to(2 * i + 1) - ty;
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

/* dlib's shape_predictor::operator() with a float box: the box corners map the unit square (the shape's
 * normalized coordinates) to the image, with dlib's inclusive right/bottom edge (x1 - 1, y1 - 1). */
void predict(dlib_state *s, const re_image *img, const float box[4], float lm[RE_FACE_LANDMARKS][2]) {
    const shape_model &m = s->sp;
    const float l = box[0], t = box[1], bw = box[2] - 1.0f - box[0], bh = box[3] - 1.0f - box[1];
    dlib::matrix<float, 0, 1> cur = m.initial_shape;
    for (size_t it = 0; it < m.forests.size(); it++) {
        float tf[4];
        similarity_2x2(m.initial_shape, cur, tf);
        const std::vector<dlib::vector<float, 2>> &dl = m.deltas[it];
        const std::vector<unsigned long> &an = m.anchor_idx[it];
        s->feat.resize(dl.size());
        for (size_t i = 0; i < dl.size(); i++) {
            const float qx = tf[0] * dl[i].x() + tf[1] * dl[i].y() + cur(2 * an[i]);
            const float qy = tf[2] * dl[i].x() + tf[3] * dl[i].y() + cur(2 * an[i] + 1);
            long x = (long)std::floor(l + qx * bw + 0.5f), y = (long)std::floor(t + qy * bh + 0.5f);
            s->feat[i] = (x >= 0 && y >= 0 && x < img->w && y < img->h) ? intensity(img, x, y) : 0.0f;
        }
        unsigned long leaf;
        for (size_t i = 0; i < m.forests[it].size(); i++) cur += m.forests[it][i](s->feat, leaf);
    }
    for (int i = 0; i < RE_FACE_LANDMARKS; i++) {
        lm[i][0] = l + cur(2 * i) * bw;
        lm[i][1] = t + cur(2 * i + 1) * bh;
    }
}

re_status dlib_detect(void *impl, const uint8_t *gray, int w, int h, int stride, float threshold, float *boxes,
                      float *scores, int max, int *n) {
    *n = 0;
    try {
        dlib_state *s = static_cast<dlib_state *>(impl);
        re_dlib::gray_view v = {gray, w, h, stride};
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
    } catch (const std::bad_alloc &) {
        return re_fail(RE_ERR_NOMEM, "dlib face detector: out of memory on a %dx%d image", w, h);
    } catch (const std::exception &e) {
        return re_fail(RE_ERR_BACKEND, "dlib face detector failed on a %dx%d image: %s", w, h, e.what());
    } catch (...) {
        return re_fail(RE_ERR_BACKEND, "dlib face detector failed on a %dx%d image (unknown exception)", w, h);
    }
}

re_status dlib_landmarks(void *impl, const re_image *img, const float box[4], float lm[RE_FACE_LANDMARKS][2]) {
    try {
        predict(static_cast<dlib_state *>(impl), img, box, lm);
        return RE_OK;
    } catch (const std::bad_alloc &) {
        return re_fail(RE_ERR_NOMEM, "dlib shape predictor: out of memory");
    } catch (const std::exception &e) {
        return re_fail(RE_ERR_BACKEND, "dlib shape predictor failed: %s", e.what());
    } catch (...) {
        return re_fail(RE_ERR_BACKEND, "dlib shape predictor failed (unknown exception)");
    }
}

void dlib_close(void *impl) {
    try {
        delete static_cast<dlib_state *>(impl);
    } catch (...) {
    }
}

/* Read the shape predictor's fields exactly as dlib's deserialize(shape_predictor&, istream&) does, then check
 * that the arrays agree with each other (the cascade indexes them without bounds checks). */
re_status load_model(shape_model &m, const char *path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return re_fail(RE_ERR_IO,
                       "face landmark model '%s' cannot be opened: %s (install Debian's libdlib-data, or set "
                       "$REENACT_DLIB_MODEL / pass the path of shape_predictor_68_face_landmarks.dat)",
                       path, std::strerror(errno));
    int version = 0;
    try {
        dlib::deserialize(version, in);
        if (version != 1)
            return re_fail(RE_ERR_FORMAT, "face landmark model '%s': expected a dlib shape_predictor (version 1), got "
                           "version %d", path, version);
        dlib::deserialize(m.initial_shape, in);
        dlib::deserialize(m.forests, in);
        dlib::deserialize(m.anchor_idx, in);
        dlib::deserialize(m.deltas, in);
    } catch (const std::bad_alloc &) {
        return re_fail(RE_ERR_NOMEM, "face landmark model '%s': out of memory while reading", path);
    } catch (const std::exception &e) {
        return re_fail(RE_ERR_FORMAT, "face landmark model '%s' is not a dlib shape predictor: %s", path, e.what());
    }
    if (m.initial_shape.size() != 2 * RE_FACE_LANDMARKS)
        return re_fail(RE_ERR_FORMAT, "face landmark model '%s': expected %d landmarks, got %ld", path,
                       RE_FACE_LANDMARKS, (long)(m.initial_shape.size() / 2));
    if (m.forests.empty() || m.anchor_idx.size() != m.forests.size() || m.deltas.size() != m.forests.size())
        return re_fail(RE_ERR_FORMAT, "face landmark model '%s': %zu cascades but %zu anchor and %zu delta sets", path,
                       m.forests.size(), m.anchor_idx.size(), m.deltas.size());
    for (size_t c = 0; c < m.forests.size(); c++) {
        const size_t nfeat = m.deltas[c].size();
        if (m.anchor_idx[c].size() != nfeat)
            return re_fail(RE_ERR_FORMAT, "face landmark model '%s': cascade %zu has %zu anchors for %zu features",
                           path, c, m.anchor_idx[c].size(), nfeat);
        for (size_t i = 0; i < nfeat; i++)
            if (m.anchor_idx[c][i] >= (unsigned long)RE_FACE_LANDMARKS)
                return re_fail(RE_ERR_FORMAT, "face landmark model '%s': cascade %zu anchor %zu is landmark %lu", path,
                               c, i, m.anchor_idx[c][i]);
        for (const dlib::impl::regression_tree &t : m.forests[c]) {
            const size_t nleaf = t.leaf_values.size();
            /* the tree walk stays in bounds only for a complete tree: 2^d leaves, 2^d - 1 splits */
            if (nleaf != t.splits.size() + 1 || nleaf == 0 || (nleaf & (nleaf - 1)) != 0)
                return re_fail(RE_ERR_FORMAT, "face landmark model '%s': cascade %zu has a tree with %zu splits and "
                               "%zu leaves (want 2^d - 1 and 2^d)", path, c, t.splits.size(), nleaf);
            for (const dlib::impl::split_feature &f : t.splits)
                if (f.idx1 >= nfeat || f.idx2 >= nfeat)
                    return re_fail(RE_ERR_FORMAT, "face landmark model '%s': cascade %zu has a split on feature %lu/%lu "
                                   "of %zu", path, c, f.idx1, f.idx2, nfeat);
            for (const dlib::matrix<float, 0, 1> &leaf : t.leaf_values)
                if (leaf.size() != 2 * RE_FACE_LANDMARKS)
                    return re_fail(RE_ERR_FORMAT, "face landmark model '%s': cascade %zu has a leaf of size %ld", path,
                                   c, (long)leaf.size());
        }
    }
    return RE_OK;
}

}  // namespace

extern "C" {

const re_face_backend re_face_dlib_backend = {"dlib", dlib_detect, dlib_landmarks, dlib_close};

re_status re_face_dlib_open(void **impl, const char *model_path) {
    *impl = NULL;
    dlib_state *s = NULL;
    re_status st = RE_OK;
    try {
        s = new dlib_state();
        st = load_model(s->sp, model_path);
        if (st != RE_OK) goto fail;
        s->detector = dlib::get_frontal_face_detector();
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
