/*
 * face.c - face detection front end, alignment, landmark measures and video tracking (include/reenact/face.h).
 * Detector-specific work sits behind re_face_backend (face_backend.h; dlib in dlib_bridge.cpp). Here:
 *   - detection: the frame is converted to gray and downscaled (tent filter, replicated border) so its longest
 *     side is at most det_max_side, scanned, retried padded and at 2x when empty; boxes are mapped back and the
 *     landmarks are predicted on the full-resolution frame;
 *   - alignment: the crop square from eyes and mouth corners (RE_FACE_CROP_SCALE/SHIFT), as 2x3 matrices;
 *   - tracking: landmarks predicted in the previous frame's box, checked, confirmed by the detector now and
 *     then, with One-Euro smoothing of the crop square.
 * The alignment and measure functions do not need a backend and are built with or without dlib.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "face/face_backend.h"
#include "face/face_geom.h"
#include "reenact/face.h"

#define MAX_DETS 64              /* boxes kept per scan */
#define PITCH_NEUTRAL 0.54f      /* mean nose-tip position between eye and mouth lines (300 UTKFace chips) */
#define PATCH 24                 /* side of the tracker's appearance patch */
#define MIN_NCC 0.5f             /* tracked face must correlate this well with the previous frame's */

struct re_face_detector {
    const re_face_backend *be;
    void *impl;
    re_face_detector_opts o;
};

void re_face_detector_opts_default(re_face_detector_opts *o) {
    memset(o, 0, sizeof *o);
    o->det_max_side = 384;
    o->retry = 1;
    o->threshold = 0.0f;
}

re_status re_face_detector_open(re_face_detector **d, const char *model_path) {
    re_face_detector_opts o;
    re_face_detector_opts_default(&o);
    o.model_path = model_path;
    return re_face_detector_open_opts(d, &o);
}

re_status re_face_detector_open_opts(re_face_detector **d, const re_face_detector_opts *opts) {
    if (!d) return re_fail(RE_ERR_ARG, "re_face_detector_open: NULL output pointer");
    *d = NULL;
    re_face_detector_opts o;
    if (opts) o = *opts;
    else re_face_detector_opts_default(&o);
    if (o.det_max_side < 0 || (o.det_max_side > 0 && o.det_max_side < 64))
        return re_fail(RE_ERR_ARG, "re_face_detector_open: det_max_side must be 0 or >= 64, got %d", o.det_max_side);
    if (!isfinite(o.threshold))
        return re_fail(RE_ERR_ARG, "re_face_detector_open: threshold must be finite");
    const char *path = o.model_path;
    if (!path || !path[0]) path = getenv("REENACT_DLIB_MODEL");
    if (!path || !path[0]) path = RE_FACE_DEFAULT_MODEL;
#ifdef RE_HAVE_DLIB
    re_face_detector *r = re_alloc(sizeof *r, "face detector");
    if (!r) return RE_ERR_NOMEM;
    re_status st = re_face_dlib_open(&r->impl, path);
    if (st != RE_OK) {
        re_free(r);
        return st;
    }
    r->be = &re_face_dlib_backend;
    r->o = o;
    r->o.model_path = NULL;   /* borrowed string: not kept */
    *d = r;
    return RE_OK;
#else
    return re_fail(RE_ERR_UNSUPPORTED, "face detection needs dlib, and this build has none (install libdlib-dev and "
                   "libdlib-data, then re-run cmake); model '%s' not loaded", path);
#endif
}

re_status re_face_detector_clone(const re_face_detector *d, re_face_detector **out) {
    if (!out) return re_fail(RE_ERR_ARG, "re_face_detector_clone: NULL output pointer");
    *out = NULL;
    if (!d || !d->be || !d->impl) return re_fail(RE_ERR_ARG, "re_face_detector_clone: NULL detector");
    re_face_detector *r = re_alloc(sizeof *r, "face detector");
    if (!r) return RE_ERR_NOMEM;
    *r = *d;
    r->impl = NULL;
    re_status st = d->be->clone(d->impl, &r->impl);
    if (st != RE_OK) {
        re_free(r);
        return st;
    }
    *out = r;
    return RE_OK;
}

void re_face_detector_free(re_face_detector *d) {
    if (!d) return;
    if (d->be && d->impl) d->be->close(d->impl);
    re_free(d);
}

static re_status check_image(const re_image *img, const char *fn) {
    if (!img || !img->data || img->w <= 0 || img->h <= 0 || img->stride < 3 * img->w)
        return re_fail(RE_ERR_ARG, "%s: invalid image (%dx%d, stride %d)", fn, img ? img->w : 0, img ? img->h : 0,
                       img ? img->stride : 0);
    return RE_OK;
}

/* ---- Gray resampling for the detector ---------------------------------------------------------------------
 * Output pixel o samples source position origin + (o + 0.5) * step - 0.5 (pixel-center coordinates; origin is the
 * source edge coordinate of the output's left/top edge) with a tent filter of radius max(1, step): bilinear when
 * enlarging, area-like antialiasing when shrinking. Source indices are clamped (replicated border). */
typedef struct taps {
    int n;        /* taps per output pixel */
    int *idx;     /* [n_out * n] clamped source indices */
    float *w;     /* [n_out * n] normalized weights */
    int lo, hi;   /* range of source indices used */
} taps;

static void taps_free(taps *t) {
    free(t->idx);
    free(t->w);
    memset(t, 0, sizeof *t);
}

static re_status taps_make(taps *t, int n_out, double origin, double step, int n_src) {
    memset(t, 0, sizeof *t);
    const double r = step > 1.0 ? step : 1.0;
    t->n = (int)ceil(2.0 * r) + 1;
    size_t cnt;
    if (!re_mul_ok((size_t)n_out, (size_t)t->n, &cnt) || cnt > ((size_t)1 << 28))
        return re_fail(RE_ERR_NOMEM, "face detector: resampling table %d x %d too large", n_out, t->n);
    t->idx = malloc(cnt * sizeof *t->idx);
    t->w = malloc(cnt * sizeof *t->w);
    if (!t->idx || !t->w) {
        taps_free(t);
        return re_fail(RE_ERR_NOMEM, "face detector: out of memory for a resampling table");
    }
    t->lo = n_src - 1;
    t->hi = 0;
    for (int o = 0; o < n_out; o++) {
        const double p = origin + (o + 0.5) * step - 0.5;
        const double i0 = floor(p - r);
        double sum = 0;
        for (int k = 0; k < t->n; k++) {
            double wt = 1.0 - fabs(i0 + k - p) / r;
            if (wt < 0) wt = 0;
            sum += wt;
            t->w[o * t->n + k] = (float)wt;
            double ic = i0 + k;
            int i = ic < 0 ? 0 : ic > n_src - 1 ? n_src - 1 : (int)ic;
            t->idx[o * t->n + k] = i;
            if (wt > 0 && i < t->lo) t->lo = i;
            if (wt > 0 && i > t->hi) t->hi = i;
        }
        for (int k = 0; k < t->n; k++) t->w[o * t->n + k] = (float)(t->w[o * t->n + k] / sum);
    }
    if (t->lo > t->hi) t->lo = t->hi = 0;
    /* zero-weight taps may point outside [lo, hi]; keep every index inside so the row buffers are never overrun */
    for (size_t i = 0; i < cnt; i++) t->idx[i] = t->idx[i] < t->lo ? t->lo : t->idx[i] > t->hi ? t->hi : t->idx[i];
    return RE_OK;
}

/* gray[oh][ow] (stride ow) = luma of img resampled from origin (ox, oy) with step `step` source pixels per output
 * pixel. */
static re_status resample_gray(const re_image *img, double ox, double oy, double step, int ow, int oh,
                               uint8_t *gray) {
    taps tx = {0}, ty = {0};
    float *rows = NULL, *line = NULL;
    re_status st = taps_make(&tx, ow, ox, step, img->w);
    if (st == RE_OK) st = taps_make(&ty, oh, oy, step, img->h);
    if (st != RE_OK) goto fail;
    const int nrows = ty.hi - ty.lo + 1, ncols = tx.hi - tx.lo + 1;
    rows = malloc((size_t)nrows * (size_t)ow * sizeof *rows);
    line = malloc((size_t)ncols * sizeof *line);
    if (!rows || !line) {
        st = re_fail(RE_ERR_NOMEM, "face detector: out of memory resampling a %dx%d image", img->w, img->h);
        goto fail;
    }
    for (int y = ty.lo; y <= ty.hi; y++) {   /* horizontal pass over the source rows that are used */
        const uint8_t *p = img->data + (size_t)y * (size_t)img->stride + (size_t)tx.lo * 3;
        for (int x = 0; x < ncols; x++, p += 3) line[x] = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
        float *out = rows + (size_t)(y - ty.lo) * (size_t)ow;
        for (int o = 0; o < ow; o++) {
            const int *ix = tx.idx + (size_t)o * tx.n;
            const float *wx = tx.w + (size_t)o * tx.n;
            float s = 0;
            for (int k = 0; k < tx.n; k++) s += wx[k] * line[ix[k] - tx.lo];
            out[o] = s;
        }
    }
    for (int o = 0; o < oh; o++) {           /* vertical pass */
        const int *iy = ty.idx + (size_t)o * ty.n;
        const float *wy = ty.w + (size_t)o * ty.n;
        uint8_t *g = gray + (size_t)o * (size_t)ow;
        for (int x = 0; x < ow; x++) {
            float s = 0;
            for (int k = 0; k < ty.n; k++)
                if (wy[k] != 0.0f) s += wy[k] * rows[(size_t)(iy[k] - ty.lo) * (size_t)ow + x];
            int v = (int)(s + 0.5f);
            g[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
fail:
    free(rows);
    free(line);
    taps_free(&tx);
    taps_free(&ty);
    return st;
}

/* Scan the region of img whose top-left edge is (ox, oy), of size rw x rh source pixels, resampled by `scale`
 * (output pixels per source pixel). Boxes come back in source-image units. */
static re_status scan_region(re_face_detector *d, const re_image *img, double ox, double oy, double rw, double rh,
                             double scale, float *boxes, float *scores, int *n) {
    *n = 0;
    int ow = (int)lround(rw * scale), oh = (int)lround(rh * scale);
    if (ow < 32 || oh < 32) return RE_OK;   /* smaller than the detector's window: nothing to find */
    const double step = 1.0 / scale;
    size_t bytes;
    if (!re_mul_ok((size_t)ow, (size_t)oh, &bytes)) return re_fail(RE_ERR_NOMEM, "face detector: scan too large");
    uint8_t *gray = malloc(bytes);
    if (!gray) return re_fail(RE_ERR_NOMEM, "face detector: out of memory for a %dx%d scan", ow, oh);
    re_status st = resample_gray(img, ox, oy, step, ow, oh, gray);
    if (st == RE_OK) st = d->be->detect(d->impl, gray, ow, oh, ow, d->o.threshold, boxes, scores, MAX_DETS, n);
    free(gray);
    if (st != RE_OK) return st;
    for (int i = 0; i < 4 * *n; i += 2) {
        boxes[i] = (float)(ox + boxes[i] * step);
        boxes[i + 1] = (float)(oy + boxes[i + 1] * step);
    }
    return RE_OK;
}

/* Full-image scan with the retries of re_face_detector_opts.retry. */
static re_status scan_image(re_face_detector *d, const re_image *img, float *boxes, float *scores, int *n) {
    const double side = img->w > img->h ? img->w : img->h;
    const double s0 = (d->o.det_max_side > 0 && side > d->o.det_max_side) ? d->o.det_max_side / side : 1.0;
    re_status st = scan_region(d, img, 0, 0, img->w, img->h, s0, boxes, scores, n);
    if (st != RE_OK || *n > 0 || !d->o.retry) return st;
    /* a face that fills the frame or is cut by it: the detector needs some context around the face */
    const double pad = 0.25 * side;
    const double side_p = side + 2 * pad;
    const double s1 = (d->o.det_max_side > 0 && side_p > d->o.det_max_side) ? d->o.det_max_side / side_p : 1.0;
    st = scan_region(d, img, -pad, -pad, img->w + 2 * pad, img->h + 2 * pad, s1, boxes, scores, n);
    if (st != RE_OK || *n > 0) return st;
    /* small faces: twice the resolution (upsampling small images, as dlib's examples do) */
    return scan_region(d, img, 0, 0, img->w, img->h, 2.0 * s0, boxes, scores, n);
}

static float box_area(const float *b) { return (b[2] - b[0]) * (b[3] - b[1]); }

static float box_iou(const float *a, const float *b) {
    float x0 = fmaxf(a[0], b[0]), y0 = fmaxf(a[1], b[1]), x1 = fminf(a[2], b[2]), y1 = fminf(a[3], b[3]);
    float inter = (x1 > x0 && y1 > y0) ? (x1 - x0) * (y1 - y0) : 0.0f;
    float uni = box_area(a) + box_area(b) - inter;
    return uni > 0 ? inter / uni : 0.0f;
}

static re_status check_box(const re_image *img, const float box[4], const char *fn) {
    for (int i = 0; i < 4; i++)
        if (!isfinite(box[i])) return re_fail(RE_ERR_ARG, "%s: non-finite box", fn);
    if (!(box[2] - box[0] >= 2.0f && box[3] - box[1] >= 2.0f))
        return re_fail(RE_ERR_ARG, "%s: degenerate box (%.1f,%.1f)-(%.1f,%.1f)", fn, box[0], box[1], box[2], box[3]);
    if (box[2] <= 0 || box[3] <= 0 || box[0] >= img->w || box[1] >= img->h)
        return re_fail(RE_ERR_ARG, "%s: box (%.1f,%.1f)-(%.1f,%.1f) is outside the %dx%d image", fn, box[0], box[1],
                       box[2], box[3], img->w, img->h);
    if (box[2] - box[0] > 16.0f * (img->w + img->h) || box[3] - box[1] > 16.0f * (img->w + img->h))
        return re_fail(RE_ERR_ARG, "%s: box (%.1f,%.1f)-(%.1f,%.1f) is far larger than the %dx%d image", fn, box[0],
                       box[1], box[2], box[3], img->w, img->h);
    return RE_OK;
}

re_status re_face_landmarks(re_face_detector *d, const re_image *img, const float box[4],
                            float lm[RE_FACE_LANDMARKS][2]) {
    if (!d || !box || !lm) return re_fail(RE_ERR_ARG, "re_face_landmarks: NULL argument");
    re_status st = check_image(img, "re_face_landmarks");
    if (st == RE_OK) st = check_box(img, box, "re_face_landmarks");
    if (st != RE_OK) return st;
    return d->be->landmarks(d->impl, img, box, lm);
}

/* Sort indices by box area, largest first (insertion sort: at most MAX_DETS). */
static void sort_by_area(const float *boxes, int *order, int n) {
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++) {
        int k = order[i], j = i;
        while (j > 0 && box_area(boxes + 4 * order[j - 1]) < box_area(boxes + 4 * k)) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = k;
    }
}

re_status re_face_detect(re_face_detector *d, const re_image *img, re_face *faces, int max, int *n) {
    if (!d || !n || (max > 0 && !faces) || max < 0)
        return re_fail(RE_ERR_ARG, "re_face_detect: NULL argument or max < 0 (max %d)", max);
    *n = 0;
    re_status st = check_image(img, "re_face_detect");
    if (st != RE_OK) return st;
    float boxes[4 * MAX_DETS], scores[MAX_DETS];
    int order[MAX_DETS], k = 0;
    st = scan_image(d, img, boxes, scores, &k);
    if (st != RE_OK) return st;
    sort_by_area(boxes, order, k);
    int out = 0;
    for (int i = 0; i < k && out < max; i++) {
        const float *b = boxes + 4 * order[i];
        re_face *f = &faces[out];
        memcpy(f->box, b, sizeof f->box);
        f->score = scores[order[i]];
        if (check_box(img, b, "re_face_detect") != RE_OK) continue;   /* padded scan: box entirely in the border */
        st = d->be->landmarks(d->impl, img, b, f->lm);
        if (st != RE_OK) return st;
        out++;
    }
    re_clear_error();
    *n = out;
    return RE_OK;
}

void re_face_box_from_landmarks(const float lm[RE_FACE_LANDMARKS][2], float box[4]) {
    float x0 = lm[0][0], x1 = lm[0][0], y0 = lm[0][1], y1 = lm[0][1];
    for (int i = 1; i < RE_FACE_LANDMARKS; i++) {
        x0 = fminf(x0, lm[i][0]);
        x1 = fmaxf(x1, lm[i][0]);
        y0 = fminf(y0, lm[i][1]);
        y1 = fmaxf(y1, lm[i][1]);
    }
    /* landmarks are pixel centers; the box is in edge units (+0.5) */
    const float side = fmaxf(x1 - x0, y1 - y0) + 1.0f;
    const float cx = 0.5f * (x0 + x1) + 0.5f, cy = 0.5f * (y0 + y1) + 0.5f - 0.076f * side;
    const float h = 0.5f * 1.03f * side;
    box[0] = cx - h;
    box[1] = cy - h;
    box[2] = cx + h;
    box[3] = cy + h;
}

/* ---- Alignment ------------------------------------------------------------------------------------------- */

/* A face's axes from its landmarks: ea the midpoint of the eye centers, e2e from the left eye center to the right one,
 * e2m from ea to the mouth-corner midpoint. */
typedef struct face_axes { double ea[2], e2e[2], e2m[2]; } face_axes;

/* The axes of checked landmarks (finite, in range; fn names the caller in the message). */
static re_status axes_of(const float lm[RE_FACE_LANDMARKS][2], const char *fn, face_axes *ax) {
    if (!lm) return re_fail(RE_ERR_ARG, "%s: NULL landmarks", fn);
    for (int i = 0; i < RE_FACE_LANDMARKS; i++)
        if (!isfinite(lm[i][0]) || !isfinite(lm[i][1]) || fabsf(lm[i][0]) > 1e7f || fabsf(lm[i][1]) > 1e7f)
            return re_fail(RE_ERR_ARG, "%s: landmark %d is not finite or out of range", fn, i);
    double el[2], er[2];
    re_face_eye_centers(lm, el, er);
    const double ma[2] = {0.5 * ((double)lm[48][0] + lm[54][0]), 0.5 * ((double)lm[48][1] + lm[54][1])};
    ax->ea[0] = 0.5 * (el[0] + er[0]);
    ax->ea[1] = 0.5 * (el[1] + er[1]);
    ax->e2e[0] = er[0] - el[0];
    ax->e2e[1] = er[1] - el[1];
    ax->e2m[0] = ma[0] - ax->ea[0];
    ax->e2m[1] = ma[1] - ax->ea[1];
    return RE_OK;
}

/* axes_of for an entry point fn that writes to out, which must not be NULL. */
static re_status axes_for(const float lm[RE_FACE_LANDMARKS][2], const void *out, const char *fn, face_axes *ax) {
    re_status st = axes_of(lm, fn, ax);
    if (st == RE_OK && !out) st = re_fail(RE_ERR_ARG, "%s: NULL output", fn);
    return st;
}

re_status re_face_frame_from_landmarks(const float lm[RE_FACE_LANDMARKS][2], re_face_frame *f) {
    face_axes ax;
    re_status st = axes_for(lm, f, "re_face_frame_from_landmarks", &ax);
    if (st != RE_OK) return st;
    const double *ea = ax.ea, *e2e = ax.e2e, *e2m = ax.e2m;
    /* x axis: eye_to_eye minus eye_to_mouth rotated by -90 degrees (FFHQ's flipud(e2m) * [-1, 1]) */
    const double x[2] = {e2e[0] + e2m[1], e2e[1] - e2m[0]};
    const double xn = hypot(x[0], x[1]);
    const double unit = fmax(hypot(e2e[0], e2e[1]), 0.9 * hypot(e2m[0], e2m[1]));
    if (!(xn > 1e-3) || !(unit > 1e-3))
        return re_fail(RE_ERR_ARG, "re_face_frame_from_landmarks: degenerate landmarks (eye distance %.3g, "
                       "eye-mouth distance %.3g)", hypot(e2e[0], e2e[1]), hypot(e2m[0], e2m[1]));
    f->cx = (float)(ea[0] + RE_FACE_CROP_SHIFT * e2m[0]);
    f->cy = (float)(ea[1] + RE_FACE_CROP_SHIFT * e2m[1]);
    f->half = (float)(RE_FACE_CROP_SCALE * unit);
    f->angle = (float)atan2(x[1], x[0]);
    return RE_OK;
}

re_status re_affine_invert(const float m[6], float inv[6]) {
    if (!m || !inv) return re_fail(RE_ERR_ARG, "re_affine_invert: NULL argument");
    const double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5];
    const double det = a * e - b * d;
    const double mag = fabs(a) + fabs(b) + fabs(d) + fabs(e);
    if (!isfinite(det) || !isfinite(c) || !isfinite(f) || !(fabs(det) > 1e-12 * mag * mag) || mag == 0)
        return re_fail(RE_ERR_ARG, "re_affine_invert: singular or non-finite matrix (det %.3g)", det);
    float r[6];
    r[0] = (float)(e / det);
    r[1] = (float)(-b / det);
    r[2] = (float)((b * f - c * e) / det);
    r[3] = (float)(-d / det);
    r[4] = (float)(a / det);
    r[5] = (float)((c * d - a * f) / det);
    memcpy(inv, r, sizeof r);
    return RE_OK;
}

re_status re_face_frame_matrix(const re_face_frame *f, int out_size, float m_dst_to_src[6], float m_src_to_dst[6]) {
    if (!f) return re_fail(RE_ERR_ARG, "re_face_frame_matrix: NULL frame");
    if (out_size < 1) return re_fail(RE_ERR_ARG, "re_face_frame_matrix: out_size must be >= 1, got %d", out_size);
    if (!isfinite(f->cx) || !isfinite(f->cy) || !isfinite(f->angle) || !isfinite(f->half) || !(f->half > 0))
        return re_fail(RE_ERR_ARG, "re_face_frame_matrix: invalid frame (center %g,%g half %g angle %g)", f->cx, f->cy,
                       f->half, f->angle);
    const double S = out_size, c = cos(f->angle), s = sin(f->angle), h = f->half;
    /* crop pixel (u,v) -> center + ((u+0.5)*2/S - 1) * X + ((v+0.5)*2/S - 1) * Y, X = h*(c,s), Y = h*(-s,c) */
    float m[6];
    m[0] = (float)(2.0 * h * c / S);
    m[1] = (float)(-2.0 * h * s / S);
    m[2] = (float)(f->cx + (1.0 / S - 1.0) * h * (c - s));
    m[3] = (float)(2.0 * h * s / S);
    m[4] = (float)(2.0 * h * c / S);
    m[5] = (float)(f->cy + (1.0 / S - 1.0) * h * (s + c));
    if (m_src_to_dst) {
        re_status st = re_affine_invert(m, m_src_to_dst);
        if (st != RE_OK) return st;
    }
    if (m_dst_to_src) memcpy(m_dst_to_src, m, sizeof m);
    return RE_OK;
}

re_status re_face_align_matrix(const float lm[RE_FACE_LANDMARKS][2], int out_size, float m_dst_to_src[6],
                               float m_src_to_dst[6]) {
    re_face_frame f;
    re_status st = re_face_frame_from_landmarks(lm, &f);
    if (st != RE_OK) return st;
    return re_face_frame_matrix(&f, out_size, m_dst_to_src, m_src_to_dst);
}

re_status re_face_align(const re_image *src, const float lm[RE_FACE_LANDMARKS][2], int out_size, re_image *out) {
    if (!out) return re_fail(RE_ERR_ARG, "re_face_align: NULL output image");
    re_status st = check_image(src, "re_face_align");
    if (st != RE_OK) return st;
    float m[6];
    st = re_face_align_matrix(lm, out_size, m, NULL);
    if (st != RE_OK) return st;
    return re_image_warp_affine(src, out, out_size, out_size, m, RE_BORDER_REPLICATE);
}

/* ---- Landmark measures ------------------------------------------------------------------------------------ */

static double dist(const float a[2], const float b[2]) { return hypot((double)a[0] - b[0], (double)a[1] - b[1]); }

re_status re_face_landmark_features(const float lm[RE_FACE_LANDMARKS][2], re_face_features *out) {
    face_axes ax;
    re_status st = axes_for(lm, out, "re_face_landmark_features", &ax);
    if (st != RE_OK) return st;
    const double *ea = ax.ea, *e2e = ax.e2e, *e2m = ax.e2m;
    const double le = hypot(e2e[0], e2e[1]), lmth = hypot(e2m[0], e2m[1]);
    const double size = fmax(le, 0.9 * lmth);
    const double wl = dist(lm[36], lm[39]), wr = dist(lm[42], lm[45]);
    if (!(le > 1e-3) || !(size > 1e-3) || !(wl > 1e-6) || !(wr > 1e-6))
        return re_fail(RE_ERR_ARG, "re_face_landmark_features: degenerate landmarks (eye distance %.3g, eye widths "
                       "%.3g %.3g)", le, wl, wr);
    const double ex[2] = {e2e[0] / le, e2e[1] / le}, ey[2] = {-ex[1], ex[0]};
    re_face_features r;
    r.face_size = (float)size;
    r.mouth_open = (float)((dist(lm[61], lm[67]) + dist(lm[62], lm[66]) + dist(lm[63], lm[65])) / 3.0 / size);
    r.eye_open_l = (float)((dist(lm[37], lm[41]) + dist(lm[38], lm[40])) / (2.0 * wl));
    r.eye_open_r = (float)((dist(lm[43], lm[47]) + dist(lm[44], lm[46])) / (2.0 * wr));
    const double dl = (lm[30][0] - lm[0][0]) * ex[0] + (lm[30][1] - lm[0][1]) * ex[1];
    const double dr = (lm[16][0] - lm[30][0]) * ex[0] + (lm[16][1] - lm[30][1]) * ex[1];
    double yaw = (dl + dr) > 1e-6 ? (dl - dr) / (dl + dr) : (dl > dr ? 1.0 : -1.0);
    r.yaw = (float)(yaw > 1 ? 1 : yaw < -1 ? -1 : yaw);
    const double mv = e2m[0] * ey[0] + e2m[1] * ey[1];   /* mouth line below the eye line, along ey */
    const double nv = (lm[30][0] - ea[0]) * ey[0] + (lm[30][1] - ea[1]) * ey[1];
    r.pitch = (float)((fabs(mv) > 1e-3 * size ? nv / mv : nv / size) - PITCH_NEUTRAL);
    r.roll = (float)atan2(e2e[1], e2e[0]);
    *out = r;
    return RE_OK;
}

/* ---- Tracking ------------------------------------------------------------------------------------------------ */

/* One-Euro filter (Casiez, Roussel, Vogel: "1 Euro Filter", CHI 2012) on one value. The speed that raises the
 * cutoff is divided by `unit` so beta does not depend on the face's size in pixels. */
typedef struct one_euro {
    double x, dx;
    int init;
} one_euro;

static double oe_alpha(double cutoff, double dt) {
    const double tau = 1.0 / (2.0 * RE_PI * cutoff);
    return 1.0 / (1.0 + tau / dt);
}

static double oe_step(one_euro *f, double x, double dt, double unit, const re_face_tracker_opts *o) {
    if (!f->init) {
        f->x = x;
        f->dx = 0;
        f->init = 1;
        return x;
    }
    const double dx = (x - f->x) / dt;
    f->dx += oe_alpha(o->d_cutoff, dt) * (dx - f->dx);
    const double cutoff = o->min_cutoff + o->beta * fabs(f->dx) / unit;
    f->x += oe_alpha(cutoff, dt) * (x - f->x);
    return f->x;
}

struct re_face_tracker {
    re_face_detector *det;
    int out_size;
    re_face_tracker_opts o;
    int w, h;                   /* frame size being tracked (0: none yet) */
    int tracking;               /* lm holds the previous frame's landmarks */
    float lm[RE_FACE_LANDMARKS][2];
    float score;                /* score of the detection that started the track */
    int valid;                  /* raw/smooth hold a face */
    re_face_frame raw, smooth;
    one_euro f[4];              /* cx, cy, log(half), angle */
    float patch[PATCH * PATCH]; /* gray aligned patch of the last face found, for the appearance check */
    int since_check;            /* frames since the detector last confirmed the face */
    int misses;                 /* consecutive failed confirmations */
    int lost, lost_run;
};

void re_face_tracker_opts_default(re_face_tracker_opts *o) {
    memset(o, 0, sizeof *o);
    o->fps = 25.0f;
    o->redetect_every = 10;
    o->lost_retry_every = 3;
    o->smooth = 1;
    o->min_cutoff = 1.0f;
    o->beta = 1.5f;
    o->d_cutoff = 1.0f;
}

re_status re_face_tracker_create(re_face_tracker **t, re_face_detector *d, int out_size,
                                 const re_face_tracker_opts *opts) {
    if (!t) return re_fail(RE_ERR_ARG, "re_face_tracker_create: NULL output pointer");
    *t = NULL;
    if (!d) return re_fail(RE_ERR_ARG, "re_face_tracker_create: NULL detector");
    if (out_size < 1) return re_fail(RE_ERR_ARG, "re_face_tracker_create: out_size must be >= 1, got %d", out_size);
    re_face_tracker_opts o;
    if (opts) o = *opts;
    else re_face_tracker_opts_default(&o);
    if (!(o.fps > 0 && o.fps <= 1000) || o.redetect_every < 0 || o.lost_retry_every < 1 ||
        !(o.min_cutoff > 0 && isfinite(o.min_cutoff)) || !(o.beta >= 0 && isfinite(o.beta)) ||
        !(o.d_cutoff > 0 && isfinite(o.d_cutoff)))
        return re_fail(RE_ERR_ARG, "re_face_tracker_create: bad options (fps %g in (0,1000], redetect_every %d >= 0, "
                       "lost_retry_every %d >= 1, min_cutoff %g > 0, beta %g >= 0, d_cutoff %g > 0)", o.fps,
                       o.redetect_every, o.lost_retry_every, o.min_cutoff, o.beta, o.d_cutoff);
    re_face_tracker *r = re_alloc(sizeof *r, "face tracker");
    if (!r) return RE_ERR_NOMEM;
    r->det = d;
    r->out_size = out_size;
    r->o = o;
    *t = r;
    return RE_OK;
}

void re_face_tracker_reset(re_face_tracker *t) {
    if (!t) return;
    re_face_detector *d = t->det;
    int out_size = t->out_size;
    re_face_tracker_opts o = t->o;
    memset(t, 0, sizeof *t);
    t->det = d;
    t->out_size = out_size;
    t->o = o;
}

void re_face_tracker_free(re_face_tracker *t) { re_free(t); }

/* Landmarks that look like a face: mouth below the eye line, sensible eye/mouth proportions. */
static int plausible(const float lm[RE_FACE_LANDMARKS][2]) {
    face_axes ax;
    if (axes_of(lm, "tracker", &ax) != RE_OK) return 0;
    const double *e2e = ax.e2e, *e2m = ax.e2m;
    const double le = hypot(e2e[0], e2e[1]), lmo = hypot(e2m[0], e2m[1]);
    if (!(le > 1.0) || !(lmo > 1.0)) return 0;
    const double down = (-e2e[1] * e2m[0] + e2e[0] * e2m[1]) / (le * lmo);   /* sin of the eye-line/mouth angle */
    const double ratio = lmo / le;
    return down > 0.5 && ratio > 0.4 && ratio < 3.5;
}

/* Gray PATCH x PATCH view of the crop square f: each cell averages n x n bilinear samples spread over it (n up to 4,
 * samples <= ~2 source pixels apart, enough against aliasing for a similarity test), border replicated; normalized to
 * zero mean and unit norm. Single-threaded on purpose: ~10k samples, cheaper than any thread hand-off. Returns 0 when
 * the patch is flat (under 2 gray levels of contrast: no face there). */
static int face_patch(const re_image *img, const re_face_frame *f, float *patch) {
    float m[6];
    if (re_face_frame_matrix(f, PATCH, m, NULL) != RE_OK) return 0;
    int n = (int)ceil(hypot(m[0], m[3]) / 2.0);
    n = n < 1 ? 1 : n > 4 ? 4 : n;
    double sum = 0;
    for (int v = 0; v < PATCH; v++)
        for (int u = 0; u < PATCH; u++) {
            float acc = 0;
            for (int j = 0; j < n; j++)
                for (int i = 0; i < n; i++) {
                    const float cu = u + (i + 0.5f) / n - 0.5f, cv = v + (j + 0.5f) / n - 0.5f;
                    float x = m[0] * cu + m[1] * cv + m[2], y = m[3] * cu + m[4] * cv + m[5];
                    x = fminf(fmaxf(x, 0.0f), (float)(img->w - 1));
                    y = fminf(fmaxf(y, 0.0f), (float)(img->h - 1));
                    const int x0 = (int)x, y0 = (int)y;
                    const int dx = x0 + 1 < img->w ? 3 : 0;
                    const size_t dy = y0 + 1 < img->h ? (size_t)img->stride : 0;
                    const float fx = x - x0, fy = y - y0;
                    const uint8_t *p = img->data + (size_t)y0 * img->stride + (size_t)x0 * 3;
                    const float g00 = (float)(p[0] + p[1] + p[2]), g01 = (float)(p[dx] + p[dx + 1] + p[dx + 2]);
                    const float g10 = (float)(p[dy] + p[dy + 1] + p[dy + 2]);
                    const float g11 = (float)(p[dy + dx] + p[dy + dx + 1] + p[dy + dx + 2]);
                    acc += (1 - fy) * ((1 - fx) * g00 + fx * g01) + fy * ((1 - fx) * g10 + fx * g11);
                }
            patch[v * PATCH + u] = acc / (3.0f * n * n);
            sum += patch[v * PATCH + u];
        }
    const float mean = (float)(sum / (PATCH * PATCH));
    double ss = 0;
    for (int i = 0; i < PATCH * PATCH; i++) {
        patch[i] -= mean;
        ss += (double)patch[i] * patch[i];
    }
    if (!(sqrt(ss / (PATCH * PATCH)) > 2.0)) return 0;
    const float inv = (float)(1.0 / sqrt(ss));
    for (int i = 0; i < PATCH * PATCH; i++) patch[i] *= inv;
    return 1;
}

static float patch_ncc(const float *a, const float *b) {
    double s = 0;
    for (int i = 0; i < PATCH * PATCH; i++) s += (double)a[i] * b[i];
    return (float)s;
}

static double wrap_angle(double a) {
    while (a > RE_PI) a -= 2 * RE_PI;
    while (a < -RE_PI) a += 2 * RE_PI;
    return a;
}

/* Bounded change from one frame to the next (a fast head moves well under these per frame at >= 15 fps). */
static int consistent(const re_face_frame *prev, const re_face_frame *cur) {
    const double dc = hypot(cur->cx - prev->cx, cur->cy - prev->cy);
    return dc < 0.35 * prev->half && fabs(log(cur->half / prev->half)) < 0.2 &&
           fabs(wrap_angle(cur->angle - prev->angle)) < 0.35;
}

/* Does the detector see a face where the tracker put one? Scans a window of twice the face box, resampled so
 * the face is ~120 px (above the HOG detector's 80 px window). */
static re_status confirm(re_face_tracker *t, const re_image *img, const float lm[RE_FACE_LANDMARKS][2], int *ok) {
    float box[4], boxes[4 * MAX_DETS], scores[MAX_DETS];
    int n = 0;
    *ok = 0;
    re_face_box_from_landmarks(lm, box);
    const double side = box[2] - box[0];
    const double cx = 0.5 * (box[0] + box[2]), cy = 0.5 * (box[1] + box[3]);
    double scale = 120.0 / side;
    if (scale > 2.0) scale = 2.0;
    re_status st = scan_region(t->det, img, cx - side, cy - side, 2 * side, 2 * side, scale, boxes, scores, &n);
    if (st != RE_OK) return st;
    for (int i = 0; i < n; i++)
        if (box_iou(boxes + 4 * i, box) > 0.3f) *ok = 1;
    return RE_OK;
}

/* Full-frame detection; picks the face overlapping the last one most, else the largest. */
static re_status redetect(re_face_tracker *t, const re_image *img, re_face *face, int *found) {
    re_face faces[8];
    int n = 0;
    *found = 0;
    re_status st = re_face_detect(t->det, img, faces, 8, &n);
    if (st != RE_OK || n == 0) return st;
    int best = 0;
    if (t->valid) {
        float last[4];
        re_face_box_from_landmarks(t->lm, last);
        float best_iou = 0;
        for (int i = 0; i < n; i++) {
            float iou = box_iou(faces[i].box, last);
            if (iou > best_iou) {
                best_iou = iou;
                best = i;
            }
        }
    }
    *face = faces[best];
    *found = 1;
    return RE_OK;
}

static void centered_frame(int w, int h, re_face_frame *f) {
    f->cx = 0.5f * w - 0.5f;
    f->cy = 0.5f * h - 0.5f;
    f->half = 0.5f * (float)(w < h ? w : h);
    f->angle = 0;
}

re_status re_face_tracker_update(re_face_tracker *t, const re_image *frame, re_face_track *out) {
    if (!t || !out) return re_fail(RE_ERR_ARG, "re_face_tracker_update: NULL argument");
    re_status st = check_image(frame, "re_face_tracker_update");
    if (st != RE_OK) return st;
    memset(out, 0, sizeof *out);
    if (frame->w != t->w || frame->h != t->h) {   /* new video or new size: start over */
        t->tracking = 0;
        t->valid = 0;
        memset(t->f, 0, sizeof t->f);
        t->w = frame->w;
        t->h = frame->h;
    }
    re_face face, tr;
    memset(&face, 0, sizeof face);
    memset(&tr, 0, sizeof tr);
    re_face_frame raw, tr_raw;
    float patch[PATCH * PATCH], appearance = 0.0f, tr_appearance = 0.0f;
    int found = 0, detected = 0, fresh = 0, tracked = 0, need_full;

    if (t->tracking) {
        /* follow: landmarks predicted in the box of the previous frame's landmarks */
        re_face_box_from_landmarks(t->lm, tr.box);
        tr.score = t->score;
        st = re_face_landmarks(t->det, frame, tr.box, tr.lm);
        if (st != RE_OK && st != RE_ERR_ARG) return st;   /* RE_ERR_ARG: the box left the frame */
        tracked = st == RE_OK && plausible(tr.lm) && re_face_frame_from_landmarks(tr.lm, &tr_raw) == RE_OK &&
                  consistent(&t->raw, &tr_raw);
        /* appearance: the landmarks always look like a face, so also check that the pixels still do (a cut to
         * another scene, the face leaving, a blank frame) */
        if (tracked) {
            tracked = face_patch(frame, &tr_raw, patch);
            tr_appearance = tracked ? patch_ncc(patch, t->patch) : 0.0f;
            tracked = tracked && tr_appearance >= MIN_NCC;
        }
        need_full = !tracked;
        if (tracked && t->o.redetect_every > 0 && ++t->since_check >= t->o.redetect_every) {
            int ok = 0;
            st = confirm(t, frame, tr.lm, &ok);
            if (st != RE_OK) return st;
            detected = 1;
            t->since_check = 0;
            if (ok) t->misses = 0;
            need_full = !ok;
        }
    } else {
        /* first frame, or no face: full detection now and then */
        need_full = t->lost_run % t->o.lost_retry_every == 0;
    }
    if (need_full) {
        int got = 0;
        st = redetect(t, frame, &face, &got);
        if (st != RE_OK) return st;
        detected = 1;
        float dpatch[PATCH * PATCH];
        if (got && plausible(face.lm) && re_face_frame_from_landmarks(face.lm, &raw) == RE_OK &&
            face_patch(frame, &raw, dpatch)) {
            memcpy(t->patch, dpatch, sizeof t->patch);
            appearance = 1.0f;
            found = fresh = 1;
            t->score = face.score;
            t->misses = 0;
            t->since_check = 0;
        } else if (tracked && ++t->misses < 2) {
            /* the detector missed a face the tracker still follows plausibly (e.g. a turned head): keep it once */
            face = tr;
            raw = tr_raw;
            memcpy(t->patch, patch, sizeof t->patch);
            appearance = tr_appearance;
            found = 1;
        } else {
            t->misses = 0;
        }
    } else if (tracked) {
        face = tr;
        raw = tr_raw;
        memcpy(t->patch, patch, sizeof t->patch);
        appearance = tr_appearance;
        found = 1;
    }
    t->tracking = found;

    if (found) {
        /* after a gap of more than half a second, jump to the new face instead of gliding to it */
        if (fresh && t->lost_run > 0.5 * t->o.fps) memset(t->f, 0, sizeof t->f);
        memcpy(t->lm, face.lm, sizeof t->lm);
        t->raw = raw;
        if (t->o.smooth) {
            const double dt = 1.0 / t->o.fps, unit = raw.half;
            if (t->f[3].init) raw.angle = (float)(t->f[3].x + wrap_angle(raw.angle - t->f[3].x));
            t->smooth.cx = (float)oe_step(&t->f[0], raw.cx, dt, unit, &t->o);
            t->smooth.cy = (float)oe_step(&t->f[1], raw.cy, dt, unit, &t->o);
            t->smooth.half = (float)exp(oe_step(&t->f[2], log(raw.half), dt, 1.0, &t->o));
            t->smooth.angle = (float)wrap_angle(oe_step(&t->f[3], raw.angle, dt, 1.0, &t->o));
            t->f[3].x = wrap_angle(t->f[3].x);
        } else {
            t->smooth = raw;
        }
        t->valid = 1;
        t->lost_run = 0;
    } else {
        t->lost++;
        t->lost_run++;
    }

    out->found = found;
    out->detected = detected;
    out->valid = t->valid;
    out->lost = t->lost;
    out->lost_run = t->lost_run;
    out->appearance = appearance;
    if (found) out->face = face;
    if (t->valid) {
        out->raw = t->raw;
        out->smooth = t->smooth;
    } else {
        centered_frame(frame->w, frame->h, &out->raw);
        out->smooth = out->raw;
    }
    re_clear_error();
    return re_face_frame_matrix(&out->smooth, t->out_size, out->m_dst_to_src, out->m_src_to_dst);
}
