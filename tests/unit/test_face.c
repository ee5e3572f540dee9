/*
 * test_face.c - face alignment math, landmark measures, detector and tracker (include/reenact/face.h).
 * Always: alignment matrices on synthetic landmarks (similarity invariance, inverse pairs, rotation to a
 * horizontal eye line, canonical eye positions), the warp convention end to end, landmark measures, argument errors.
 * With dlib: missing/garbage model errors, blank image -> 0 faces, a synthetic tracker run with lost frames.
 * With ../shared: every example portrait yields a face (eyes above mouth), a re-detection inside an aligned crop puts
 * the eyes at their canonical crop positions, UTKFace chips are found, detection timings, and (with FFmpeg) the
 * tracker over 50 frames of a driving clip smooths the crop center.
 * Run: ctest --test-dir build -R test_face (cwd = repo root), or build/tests/test_face from the repo root.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "re_test.h"
#include "re_test_tmp.h"
#include "face/face_geom.h"
#include "reenact/face.h"
#include "reenact/media.h"
#include "reenact/reenact.h"

#define SHARED "../shared"
#define PI 3.14159265358979323846

static void setp(float lm[68][2], int i, float x, float y) {
    lm[i][0] = x;
    lm[i][1] = y;
}

/* A symmetric frontal face in a 200x200 frame: eye centers (70,80) and (130,80), mouth corners (78,140), (122,140),
 * nose tip (100,115), chin (100,165). iBUG 68-point order. */
static void canonical_face(float lm[68][2]) {
    for (int i = 0; i <= 16; i++) {
        double phi = -PI / 2 + PI * i / 16.0;
        setp(lm, i, (float)(100 + 75 * sin(phi)), (float)(80 + 85 * cos(phi)));
    }
    for (int i = 0; i < 5; i++) {
        setp(lm, 17 + i, 50.0f + 10 * i, 62.0f - (i == 2 ? 4 : (i == 1 || i == 3) ? 3 : 0));
        setp(lm, 26 - i, 150.0f - 10 * i, 62.0f - (i == 2 ? 4 : (i == 1 || i == 3) ? 3 : 0));
    }
    for (int i = 0; i < 4; i++) setp(lm, 27 + i, 100, 75.0f + 40.0f * i / 3);
    for (int i = 0; i < 5; i++) setp(lm, 31 + i, 88.0f + 6 * i, i == 2 ? 122.0f : 120.0f);
    /* image-left eye: 36 outer, 37 38 upper, 39 inner, 40 41 lower */
    setp(lm, 36, 58, 80); setp(lm, 37, 64, 76); setp(lm, 38, 76, 76);
    setp(lm, 39, 82, 80); setp(lm, 40, 76, 84); setp(lm, 41, 64, 84);
    /* image-right eye: 42 inner, 43 44 upper, 45 outer, 46 47 lower */
    setp(lm, 42, 118, 80); setp(lm, 43, 124, 76); setp(lm, 44, 136, 76);
    setp(lm, 45, 142, 80); setp(lm, 46, 136, 84); setp(lm, 47, 124, 84);
    /* outer lips 48..59 clockwise from the left corner, inner lips 60..67 */
    setp(lm, 48, 78, 140); setp(lm, 49, 86, 134); setp(lm, 50, 94, 132); setp(lm, 51, 100, 133);
    setp(lm, 52, 106, 132); setp(lm, 53, 114, 134); setp(lm, 54, 122, 140); setp(lm, 55, 114, 146);
    setp(lm, 56, 106, 149); setp(lm, 57, 100, 150); setp(lm, 58, 94, 149); setp(lm, 59, 86, 146);
    setp(lm, 60, 84, 140); setp(lm, 61, 92, 139); setp(lm, 62, 100, 139); setp(lm, 63, 108, 139);
    setp(lm, 64, 116, 140); setp(lm, 65, 108, 141); setp(lm, 66, 100, 141); setp(lm, 67, 92, 141);
}

/* p' = s R(a) p + t */
static void transform_face(const float in[68][2], float out[68][2], double s, double a, double tx, double ty) {
    for (int i = 0; i < 68; i++) {
        double x = in[i][0], y = in[i][1];
        out[i][0] = (float)(s * (cos(a) * x - sin(a) * y) + tx);
        out[i][1] = (float)(s * (sin(a) * x + cos(a) * y) + ty);
    }
}

static void apply(const float m[6], double x, double y, double *ox, double *oy) {
    *ox = m[0] * x + m[1] * y + m[2];
    *oy = m[3] * x + m[4] * y + m[5];
}

/* Where the eye centers of an upright symmetric face land in an S x S crop, from the framing constants alone. */
static void canonical_eyes(const float lm[68][2], int S, double l[2], double r[2]) {
    double el[2], er[2];
    re_face_eye_centers(lm, el, er);
    double e2e = hypot(er[0] - el[0], er[1] - el[1]);
    double ma[2] = {0.5 * (lm[48][0] + lm[54][0]), 0.5 * (lm[48][1] + lm[54][1])};
    double e2m = hypot(ma[0] - 0.5 * (el[0] + er[0]), ma[1] - 0.5 * (el[1] + er[1]));
    double half = RE_FACE_CROP_SCALE * fmax(e2e, 0.9 * e2m);
    double k = S / (2.0 * half);   /* crop pixels per source pixel */
    double cy = 0.5 * S - 0.5 - RE_FACE_CROP_SHIFT * e2m * k;
    l[0] = 0.5 * S - 0.5 - 0.5 * e2e * k;
    r[0] = 0.5 * S - 0.5 + 0.5 * e2e * k;
    l[1] = r[1] = cy;
}

static void test_alignment_math(void) {
    float c[68][2], t[68][2];
    canonical_face(c);
    float mc[6], mci[6], mt[6], mti[6];
    CHECK_OK(re_face_align_matrix((const float(*)[2])c, 64, mc, mci));

    /* eyes of the upright canonical face land where the framing constants say */
    double l[2], r[2], el[2], er[2], x, y;
    canonical_eyes((const float(*)[2])c, 64, l, r);
    re_face_eye_centers((const float(*)[2])c, el, er);
    apply(mci, el[0], el[1], &x, &y);
    CHECK_MSG(fabs(x - l[0]) < 1e-3 && fabs(y - l[1]) < 1e-3, "left eye at %.4f,%.4f want %.4f,%.4f", x, y, l[0], l[1]);
    apply(mci, er[0], er[1], &x, &y);
    CHECK_MSG(fabs(x - r[0]) < 1e-3 && fabs(y - r[1]) < 1e-3, "right eye at %.4f,%.4f want %.4f,%.4f", x, y, r[0],
              r[1]);

    /* m_dst_to_src and m_src_to_dst are inverses, both ways */
    for (int k = 0; k < 4; k++) {
        double px = 13.0 + 17 * k, py = 50.0 - 9 * k, qx, qy, bx, by;
        apply(mc, px, py, &qx, &qy);
        apply(mci, qx, qy, &bx, &by);
        CHECK_MSG(fabs(bx - px) < 1e-3 && fabs(by - py) < 1e-3, "dst->src->dst (%g,%g) -> (%g,%g)", px, py, bx, by);
        apply(mci, px, py, &qx, &qy);
        apply(mc, qx, qy, &bx, &by);
        CHECK_MSG(fabs(bx - px) < 1e-3 && fabs(by - py) < 1e-3, "src->dst->src (%g,%g) -> (%g,%g)", px, py, bx, by);
    }
    /* the crop's corner pixels are half a pixel inside the crop square: crop center maps to the frame center */
    re_face_frame f;
    CHECK_OK(re_face_frame_from_landmarks((const float(*)[2])c, &f));
    apply(mc, 31.5, 31.5, &x, &y);
    CHECK_MSG(fabs(x - f.cx) < 1e-3 && fabs(y - f.cy) < 1e-3, "crop center -> %g,%g want %g,%g", x, y, f.cx, f.cy);
    apply(mc, -0.5, -0.5, &x, &y);
    CHECK_MSG(fabs(x - (f.cx - f.half)) < 1e-3 && fabs(y - (f.cy - f.half)) < 1e-3, "crop corner -> %g,%g", x, y);
    CHECK(fabs(f.angle) < 1e-6);

    /* a similarity transform of the face moves the crop with it: every landmark lands on the same crop pixel */
    const double s = 1.7, a = 0.3, tx = 50, ty = -20;
    transform_face((const float(*)[2])c, t, s, a, tx, ty);
    CHECK_OK(re_face_align_matrix((const float(*)[2])t, 64, mt, mti));
    double worst = 0;
    for (int i = 0; i < 68; i++) {
        double x0, y0, x1, y1;
        apply(mci, c[i][0], c[i][1], &x0, &y0);
        apply(mti, t[i][0], t[i][1], &x1, &y1);
        worst = fmax(worst, hypot(x1 - x0, y1 - y0));
    }
    CHECK_MSG(worst < 2e-3, "transformed face lands %g crop px away from the canonical crop", worst);
    /* and the crop-to-source matrix is the canonical one followed by the transform */
    double ex, ey, gx, gy;
    apply(mc, 10, 40, &ex, &ey);
    double wx = s * (cos(a) * ex - sin(a) * ey) + tx, wy = s * (sin(a) * ex + cos(a) * ey) + ty;
    apply(mt, 10, 40, &gx, &gy);
    CHECK_MSG(fabs(gx - wx) < 1e-2 && fabs(gy - wy) < 1e-2, "crop (10,40) -> %g,%g want %g,%g", gx, gy, wx, wy);

    /* rotated by 20 degrees about an arbitrary point: the aligned eye line is horizontal again */
    transform_face((const float(*)[2])c, t, 1.0, 20 * PI / 180, 30, -15);
    CHECK_OK(re_face_align_matrix((const float(*)[2])t, 64, NULL, mti));
    CHECK_OK(re_face_frame_from_landmarks((const float(*)[2])t, &f));
    CHECK_MSG(fabs(f.angle - 20 * PI / 180) < 1e-4, "frame angle %g want %g", f.angle, 20 * PI / 180);
    re_face_eye_centers((const float(*)[2])t, el, er);
    double lx, ly, rx, ry;
    apply(mti, el[0], el[1], &lx, &ly);
    apply(mti, er[0], er[1], &rx, &ry);
    CHECK_MSG(fabs(ly - ry) < 1e-3 && rx > lx + 10, "aligned eyes (%g,%g) (%g,%g) not level", lx, ly, rx, ry);
    CHECK_MSG(fabs(lx - l[0]) < 1e-3 && fabs(ly - l[1]) < 1e-3, "rotated face's left eye at %g,%g want %g,%g", lx, ly,
              l[0], l[1]);

    /* out_size 128 is the same framing at twice the resolution */
    float m128[6];
    CHECK_OK(re_face_align_matrix((const float(*)[2])c, 128, NULL, m128));
    apply(m128, el[0], el[1], &x, &y);
    double l128[2], r128[2];
    canonical_eyes((const float(*)[2])c, 128, l128, r128);
    re_face_eye_centers((const float(*)[2])c, el, er);
    apply(m128, el[0], el[1], &x, &y);
    CHECK(fabs(x - l128[0]) < 1e-3 && fabs(y - l128[1]) < 1e-3);

    /* errors */
    float bad[68][2];
    memcpy(bad, c, sizeof bad);
    bad[40][1] = NAN;
    CHECK_EQ_INT(re_face_align_matrix((const float(*)[2])bad, 64, mc, mci), RE_ERR_ARG);
    memset(bad, 0, sizeof bad);
    CHECK_EQ_INT(re_face_align_matrix((const float(*)[2])bad, 64, mc, mci), RE_ERR_ARG);
    CHECK(strstr(re_last_error(), "degenerate") != NULL);
    CHECK_EQ_INT(re_face_align_matrix((const float(*)[2])c, 0, mc, mci), RE_ERR_ARG);
    const float sing[6] = {1, 2, 0, 2, 4, 0};
    float inv[6];
    CHECK_EQ_INT(re_affine_invert(sing, inv), RE_ERR_ARG);
}

/* The warp convention end to end: an image whose pixels encode their own coordinates, aligned, gives back the
 * source coordinates the matrix names. */
static void test_align_image(void) {
    re_image src = {0}, crop = {0};
    CHECK_OK(re_image_alloc(&src, 256, 256));
    for (int y = 0; y < 256; y++)
        for (int x = 0; x < 256; x++) {
            uint8_t *p = src.data + (size_t)y * src.stride + (size_t)x * 3;
            p[0] = (uint8_t)x;
            p[1] = (uint8_t)y;
            p[2] = 128;
        }
    float c[68][2], t[68][2], m[6];
    canonical_face(c);
    transform_face((const float(*)[2])c, t, 0.9, -0.2, 30, 40);   /* a tilted face inside the image */
    CHECK_OK(re_face_align((const re_image *)&src, (const float(*)[2])t, 64, &crop));
    CHECK_OK(re_face_align_matrix((const float(*)[2])t, 64, m, NULL));
    CHECK(crop.w == 64 && crop.h == 64);
    double worst = 0;
    int n = 0;
    for (int v = 0; v < 64; v += 3)
        for (int u = 0; u < 64; u += 3) {
            double sx, sy;
            apply(m, u, v, &sx, &sy);
            if (sx < 2 || sy < 2 || sx > 253 || sy > 253) continue;
            const uint8_t *p = crop.data + (size_t)v * crop.stride + (size_t)u * 3;
            worst = fmax(worst, fmax(fabs(p[0] - sx), fabs(p[1] - sy)));
            n++;
        }
    CHECK_MSG(n > 200 && worst < 1.01, "aligned pixels differ from their source coordinates by %g (n=%d)", worst, n);
    re_image_free(&crop);
    re_image_free(&src);
}

static void test_features(void) {
    float c[68][2], t[68][2];
    re_face_features f, g;
    canonical_face(c);
    CHECK_OK(re_face_landmark_features((const float(*)[2])c, &f));
    CHECK_MSG(f.mouth_open > 0 && f.mouth_open < 0.05f, "closed mouth_open %g", f.mouth_open);
    CHECK_MSG(fabsf(f.eye_open_l - 8.0f / 24.0f) < 1e-4f && fabsf(f.eye_open_r - 8.0f / 24.0f) < 1e-4f,
              "eye aspect %g %g want %g", f.eye_open_l, f.eye_open_r, 8.0 / 24.0);
    CHECK_MSG(fabsf(f.yaw) < 1e-5f && fabsf(f.roll) < 1e-6f, "frontal yaw %g roll %g", f.yaw, f.roll);
    CHECK_MSG(fabsf(f.pitch - (35.0f / 60.0f - 0.54f)) < 1e-4f, "pitch %g", f.pitch);
    CHECK_MSG(fabsf(f.face_size - 60.0f) < 1e-3f, "face size %g", f.face_size);

    /* invariant to scale and translation; rotation shows only in roll */
    transform_face((const float(*)[2])c, t, 2.5, 20 * PI / 180, -40, 70);
    CHECK_OK(re_face_landmark_features((const float(*)[2])t, &g));
    CHECK(fabsf(g.mouth_open - f.mouth_open) < 1e-4f && fabsf(g.eye_open_l - f.eye_open_l) < 1e-4f &&
          fabsf(g.eye_open_r - f.eye_open_r) < 1e-4f && fabsf(g.yaw - f.yaw) < 1e-4f &&
          fabsf(g.pitch - f.pitch) < 1e-4f);
    CHECK_MSG(fabsf(g.roll - (float)(20 * PI / 180)) < 1e-4f, "roll %g want %g", g.roll, 20 * PI / 180);
    CHECK(fabsf(g.face_size - 2.5f * f.face_size) < 1e-2f);

    /* open mouth, close the image-left eye, turn the nose to the image right, tilt the head down */
    memcpy(t, c, sizeof t);
    for (int i = 65; i <= 67; i++) t[i][1] += 20;
    t[37][1] = t[41][1] = t[38][1] = t[40][1] = 80;
    t[30][0] += 15;
    t[30][1] += 6;
    CHECK_OK(re_face_landmark_features((const float(*)[2])t, &g));
    CHECK_MSG(g.mouth_open > f.mouth_open + 0.3f, "open mouth %g vs closed %g", g.mouth_open, f.mouth_open);
    CHECK_MSG(g.eye_open_l < 0.01f && fabsf(g.eye_open_r - f.eye_open_r) < 1e-6f, "closed eye %g, open %g",
              g.eye_open_l, g.eye_open_r);
    CHECK_MSG(g.yaw > 0.15f && g.yaw < 1.0f, "yaw %g", g.yaw);
    CHECK_MSG(g.pitch > f.pitch + 0.05f, "pitch %g vs %g", g.pitch, f.pitch);
    float bad[68][2];
    memset(bad, 0, sizeof bad);
    CHECK_EQ_INT(re_face_landmark_features((const float(*)[2])bad, &g), RE_ERR_ARG);
}

/* Box from landmarks: square, around the landmarks, a little above their center. */
static void test_box_from_landmarks(void) {
    float c[68][2], b[4];
    canonical_face(c);
    re_face_box_from_landmarks((const float(*)[2])c, b);
    CHECK(fabsf((b[2] - b[0]) - (b[3] - b[1])) < 1e-3f);
    CHECK(b[0] < 25.5f && b[2] > 175.5f && b[1] < 58.5f && b[3] > 100.0f);
    CHECK(0.5f * (b[1] + b[3]) < 0.5f * (58 + 165) + 0.5f);
}

#ifdef RE_HAVE_DLIB
static void test_model_errors(void) {
    re_face_detector *d = (re_face_detector *)1;
    const char *missing = "/nonexistent/dir/shape_predictor_missing.dat";
    CHECK_EQ_INT(re_face_detector_open(&d, missing), RE_ERR_IO);
    CHECK(d == NULL);
    CHECK_MSG(strstr(re_last_error(), missing) != NULL, "message does not name the file: %s", re_last_error());
    /* $REENACT_DLIB_MODEL is used when no path is given */
    setenv("REENACT_DLIB_MODEL", "/nonexistent/from_env.dat", 1);
    CHECK_EQ_INT(re_face_detector_open(&d, NULL), RE_ERR_IO);
    CHECK_MSG(strstr(re_last_error(), "/nonexistent/from_env.dat") != NULL, "message: %s", re_last_error());
    unsetenv("REENACT_DLIB_MODEL");
    /* a file that is not a shape predictor */
    char tmp[] = "/tmp/test_face_garbage_XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    if (fd >= 0) {
        FILE *f = fdopen(fd, "wb");
        CHECK(f != NULL);
        if (f) {
            for (int i = 0; i < 1000; i++) fputc((i * 7919) & 0xff, f);
            fclose(f);
        }
        CHECK_EQ_INT(re_face_detector_open(&d, tmp), RE_ERR_FORMAT);
        CHECK_MSG(strstr(re_last_error(), tmp) != NULL, "message: %s", re_last_error());
        remove(tmp);
    }
    re_face_detector_opts o;
    re_face_detector_opts_default(&o);
    o.det_max_side = 10;
    CHECK_EQ_INT(re_face_detector_open_opts(&d, &o), RE_ERR_ARG);
}

static void test_blank(re_face_detector *d) {
    re_image img = {0};
    CHECK_OK(re_image_alloc(&img, 320, 240));
    memset(img.data, 128, (size_t)img.stride * img.h);
    re_face faces[4];
    int n = -1;
    CHECK_OK(re_face_detect(d, &img, faces, 4, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(re_face_detect(d, &img, NULL, 4, &n), RE_ERR_ARG);
    re_image empty = {0};
    CHECK_EQ_INT(re_face_detect(d, &empty, faces, 4, &n), RE_ERR_ARG);
    float box[4] = {1000, 1000, 1100, 1100}, lm[68][2];
    CHECK_EQ_INT(re_face_landmarks(d, &img, box, lm), RE_ERR_ARG);
    re_image_free(&img);
}

/* Paste a w x h copy of src into the middle of a W x H gray canvas. */
static re_status compose(const re_image *src, int W, int H, int w, int h, re_image *out) {
    re_image tmp = {0};
    re_status st = re_image_resize(src, &tmp, w, h);
    if (st == RE_OK) st = re_image_alloc(out, W, H);
    if (st == RE_OK) {
        memset(out->data, 100, (size_t)out->stride * H);
        for (int y = 0; y < h; y++)
            memcpy(out->data + (size_t)(y + (H - h) / 2) * out->stride + (size_t)((W - w) / 2) * 3,
                   tmp.data + (size_t)y * tmp.stride, (size_t)w * 3);
    }
    re_image_free(&tmp);
    return st;
}

static double median_detect_ms(re_face_detector *d, const re_image *img, int *n) {
    double t[5];
    re_face faces[4];
    for (int i = 0; i < 5; i++) {
        double t0 = re_test_now_ms();
        CHECK_OK(re_face_detect(d, img, faces, 4, n));
        t[i] = re_test_now_ms() - t0;
    }
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (t[j] < t[i]) {
                double x = t[i];
                t[i] = t[j];
                t[j] = x;
            }
    return t[2];
}

static void test_portraits(re_face_detector *d) {
    const char *dir = SHARED "/data/examples/portraits";
    DIR *dp = opendir(dir);
    CHECK_MSG(dp != NULL, "cannot open %s", dir);
    if (!dp) return;
    struct dirent *e;
    int files = 0, ok = 0, aligned = 0;
    while ((e = readdir(dp)) != NULL) {
        size_t L = strlen(e->d_name);
        if (L < 5 || (strcmp(e->d_name + L - 4, ".png") != 0 && strcmp(e->d_name + L - 4, ".jpg") != 0)) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        re_image img = {0};
        CHECK_OK(re_image_load(&img, path));
        if (!img.data) continue;
        files++;
        re_face faces[4];
        int n = 0;
        CHECK_OK(re_face_detect(d, &img, faces, 4, &n));
        CHECK_MSG(n >= 1, "%s: no face found", path);
        if (n >= 1) {
            double el[2], er[2];
            re_face_eye_centers((const float(*)[2])faces[0].lm, el, er);
            double mouth = 0.5 * (faces[0].lm[48][1] + faces[0].lm[54][1]);
            CHECK_MSG(el[1] < mouth && er[1] < mouth && el[0] < er[0], "%s: eyes (%g,%g) (%g,%g) mouth y %g", path,
                      el[0], el[1], er[0], er[1], mouth);
            for (int i = 1; i < n; i++)
                CHECK((faces[i].box[2] - faces[i].box[0]) * (faces[i].box[3] - faces[i].box[1]) <=
                      (faces[0].box[2] - faces[0].box[0]) * (faces[0].box[3] - faces[0].box[1]));
            ok++;
        }
        if (n >= 1 && !aligned) {
            /* align at 64 and at 256; detect again inside the 256 crop: eyes at their canonical crop positions */
            re_image c64 = {0}, c256 = {0}, down = {0};
            CHECK_OK(re_face_align(&img, (const float(*)[2])faces[0].lm, 64, &c64));
            CHECK_OK(re_face_align(&img, (const float(*)[2])faces[0].lm, 256, &c256));
            re_face f2[2];
            int n2 = 0;
            CHECK_OK(re_face_detect(d, &c256, f2, 2, &n2));
            CHECK_MSG(n2 >= 1, "%s: no face in its own aligned 256x256 crop", path);
            if (n2 >= 1) {
                double want_l[2], want_r[2], got_l[2], got_r[2];
                canonical_eyes((const float(*)[2])f2[0].lm, 256, want_l, want_r);
                re_face_eye_centers((const float(*)[2])f2[0].lm, got_l, got_r);
                /* canonical positions from the crop's own landmark distances; tolerance 3% of the crop */
                double err = fmax(hypot(got_l[0] - want_l[0], got_l[1] - want_l[1]),
                                  hypot(got_r[0] - want_r[0], got_r[1] - want_r[1]));
                CHECK_MSG(err < 0.03 * 256, "%s: re-detected eyes %.1f px (of 256) from canonical", path, err);
                /* the same eyes in the 64x64 crop, and the 64 crop is the 256 crop at a quarter of the size */
                float m64[6];
                CHECK_OK(re_face_align_matrix((const float(*)[2])faces[0].lm, 64, NULL, m64));
                re_face_eye_centers((const float(*)[2])faces[0].lm, got_l, got_r);
                double lx, ly;
                apply(m64, got_l[0], got_l[1], &lx, &ly);
                canonical_eyes((const float(*)[2])faces[0].lm, 64, want_l, want_r);
                CHECK_MSG(hypot(lx - want_l[0], ly - want_l[1]) < 0.5, "64 crop left eye %g,%g want %g,%g", lx, ly,
                          want_l[0], want_l[1]);
                printf("aligned %s: canonical 64x64 eyes (%.1f,%.1f) (%.1f,%.1f); re-detection error %.2f px of 256\n",
                       e->d_name, want_l[0], want_l[1], want_r[0], want_r[1], err);
            }
            CHECK_OK(re_image_resize(&c256, &down, 64, 64));
            double mad = 0;
            for (int y = 0; y < 64; y++)
                for (int x = 0; x < 192; x++)
                    mad += fabs((double)c64.data[y * c64.stride + x] - down.data[y * down.stride + x]);
            mad /= 64.0 * 192;
            CHECK_MSG(mad < 6.0, "64 crop vs downscaled 256 crop: mean abs diff %g", mad);
            re_image_free(&c64);
            re_image_free(&c256);
            re_image_free(&down);
            aligned = 1;
        }
        re_image_free(&img);
    }
    closedir(dp);
    printf("portraits: %d of %d with a face\n", ok, files);
    CHECK(files >= 1);
}

/* Detection time for a 512x512 frame and a 1280x720 frame made from one portrait, and landmark time in a box. */
static void test_timing(re_face_detector *d) {
    const char *path = SHARED "/data/examples/portraits/lp_s42.jpg";
    re_image img = {0}, f512 = {0}, f720 = {0};
    CHECK_OK(re_image_load(&img, path));
    if (!img.data) return;
    CHECK_OK(compose(&img, 512, 512, 512, 512, &f512));
    CHECK_OK(compose(&img, 1280, 720, 720, 720, &f720));
    int n512 = 0, n720 = 0;
    double t512 = median_detect_ms(d, &f512, &n512), t720 = median_detect_ms(d, &f720, &n720);
    CHECK(n512 >= 1 && n720 >= 1);
    re_face fx[1];
    int nx = 0;
    CHECK_OK(re_face_detect(d, &f720, fx, 1, &nx));
    if (nx >= 1) {
        float lm[68][2], box[4];
        memcpy(lm, fx[0].lm, sizeof lm);
        double t0 = re_test_now_ms();
        for (int i = 0; i < 50; i++) {
            re_face_box_from_landmarks((const float(*)[2])lm, box);
            CHECK_OK(re_face_landmarks(d, &f720, box, lm));
        }
        printf("timing (%s): detect 512x512 %.1f ms, 1280x720 %.1f ms (median of 5); landmarks in a box %.2f ms\n",
               path, t512, t720, (re_test_now_ms() - t0) / 50);
    }
    re_image_free(&img);
    re_image_free(&f512);
    re_image_free(&f720);
}

/* UTKFace chips are tight crops (the face fills the frame): the padded retry must find them. */
static void test_utkface(re_face_detector *d) {
    const char *dir = SHARED "/data/faces/utkface";
    DIR *dp = opendir(dir);
    if (!dp) {
        printf("SKIP utkface: %s not found\n", dir);
        return;
    }
    struct dirent *e;
    int files = 0, found = 0;
    double outside = 0;
    while ((e = readdir(dp)) != NULL && files < 40) {
        if (e->d_name[0] == '.' || !strstr(e->d_name, ".jpg")) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        re_image img = {0};
        if (re_image_load(&img, path) != RE_OK) continue;
        files++;
        re_face faces[2];
        int n = 0;
        CHECK_OK(re_face_detect(d, &img, faces, 2, &n));
        if (n >= 1) {
            found++;
            /* how much of the aligned crop lies outside the chip (replicated border) */
            float m[6];
            CHECK_OK(re_face_align_matrix((const float(*)[2])faces[0].lm, 64, m, NULL));
            int out = 0;
            for (int v = 0; v < 64; v++)
                for (int u = 0; u < 64; u++) {
                    double x, y;
                    apply(m, u, v, &x, &y);
                    out += x < -0.5 || y < -0.5 || x > img.w - 0.5 || y > img.h - 0.5;
                }
            outside += out / 4096.0;
        }
        re_image_free(&img);
    }
    closedir(dp);
    printf("utkface: %d of %d chips with a face; %.1f%% of their aligned crops outside the chip\n", found, files,
           found ? 100 * outside / found : 0.0);
    CHECK_MSG(found >= files * 9 / 10, "only %d of %d UTKFace chips detected", found, files);
    CHECK_MSG(found == 0 || outside / found < 0.2, "%.1f%% of the aligned UTKFace crops is border",
              100 * outside / found);
}

/* Tracker on synthetic input: blank frames before any face, a face, then blank frames again. */
static void test_tracker_lost(re_face_detector *d, const re_image *portrait) {
    re_face_tracker *t = NULL;
    re_face_tracker_opts o;
    re_face_tracker_opts_default(&o);
    o.lost_retry_every = 1;
    CHECK_OK(re_face_tracker_create(&t, d, 64, &o));
    if (!t) return;
    re_image blank = {0};
    CHECK_OK(re_image_alloc(&blank, portrait->w, portrait->h));
    memset(blank.data, 90, (size_t)blank.stride * blank.h);
    re_face_track tr;
    for (int i = 0; i < 2; i++) {
        CHECK_OK(re_face_tracker_update(t, &blank, &tr));
        CHECK(!tr.found && !tr.valid && tr.detected && tr.lost == i + 1 && tr.lost_run == i + 1);
    }
    CHECK_OK(re_face_tracker_update(t, portrait, &tr));
    CHECK(tr.found && tr.valid && tr.detected && tr.lost == 2 && tr.lost_run == 0);
    float m[6];
    CHECK_OK(re_face_tracker_update(t, portrait, &tr));   /* the same frame again: tracked, not re-detected */
    CHECK(tr.found && !tr.detected);
    memcpy(m, tr.m_dst_to_src, sizeof m);
    CHECK_OK(re_face_tracker_update(t, &blank, &tr));
    CHECK(!tr.found && tr.valid && tr.lost == 3 && tr.lost_run == 1);
    CHECK(memcmp(m, tr.m_dst_to_src, sizeof m) == 0);   /* the last good transform is reused */
    re_face_tracker_free(t);
    re_image_free(&blank);
    CHECK_EQ_INT(re_face_tracker_create(&t, d, 0, NULL), RE_ERR_ARG);
}

#ifdef RE_HAVE_FFMPEG
/* Mean |second difference| of a sequence: what jitter looks like, mostly blind to smooth motion. */
static double jitter(const double *x, int n) {
    double s = 0;
    for (int i = 2; i < n; i++) s += fabs(x[i] - 2 * x[i - 1] + x[i - 2]);
    return n > 2 ? s / (n - 2) : 0;
}

static void test_tracker_video(re_face_detector *d) {
    const char *path = SHARED "/data/examples/driving/fomm_00.mp4";
    re_video_reader *r = NULL;
    CHECK_OK(re_video_reader_open(&r, path));
    if (!r) return;
    re_video_info info = re_video_reader_info(r);
    re_face_tracker *t = NULL;
    re_face_tracker_opts o;
    re_face_tracker_opts_default(&o);
    o.fps = info.fps_den > 0 ? (float)info.fps_num / info.fps_den : 25.0f;
    CHECK_OK(re_face_tracker_create(&t, d, 64, &o));
    enum { N = 50 };
    double rx[N], ry[N], sx[N], sy[N], ms = 0, ms_tracked = 0, min_app = 1, h0 = 1;
    int n = 0, found = 0, detections = 0, tracked_frames = 0;
    re_image frame = {0};
    re_face_track tr;
    while (t && n < N && re_video_reader_next(r, &frame, NULL) == RE_OK) {
        double t0 = re_test_now_ms();
        CHECK_OK(re_face_tracker_update(t, &frame, &tr));
        double dt = re_test_now_ms() - t0;
        ms += dt;
        if (!tr.detected) {
            ms_tracked += dt;
            tracked_frames++;
        }
        found += tr.found;
        detections += tr.detected;
        if (tr.found && tr.appearance < min_app) min_app = tr.appearance;
        /* centers in units of the first frame's crop half side, so the numbers do not depend on the frame size */
        if (n == 0) h0 = tr.raw.half > 0 ? tr.raw.half : 1;
        rx[n] = tr.raw.cx / h0;
        ry[n] = tr.raw.cy / h0;
        sx[n] = tr.smooth.cx / h0;
        sy[n] = tr.smooth.cy / h0;
        n++;
    }
    CHECK_EQ_INT(n, N);
    CHECK_MSG(found >= N * 9 / 10, "face found in %d of %d frames", found, n);
    CHECK_MSG(detections <= N / 5, "the detector ran on %d of %d frames", detections, n);
    double jr = jitter(rx, n) + jitter(ry, n), js = jitter(sx, n) + jitter(sy, n);
    printf("tracker on %s (%dx%d): found %d/%d, detector on %d frames, %.2f ms/frame (%.2f ms when only tracking); "
           "center jitter raw %.5f smoothed %.5f half-sides/frame^2; lowest appearance correlation %.3f\n", path,
           frame.w, frame.h, found, n, detections, ms / n, tracked_frames ? ms_tracked / tracked_frames : 0.0, jr, js,
           min_app);
    CHECK_MSG(js < 0.5 * jr, "smoothed jitter %g not below half the raw %g", js, jr);
    /* smoothing must not drift away: the smoothed center stays near the raw one */
    double maxdev = 0;
    for (int i = 0; i < n; i++) maxdev = fmax(maxdev, hypot(sx[i] - rx[i], sy[i] - ry[i]));
    CHECK_MSG(maxdev < 0.15, "smoothed center up to %g half-sides from the raw one", maxdev);
    re_image_free(&frame);
    re_face_tracker_free(t);
    re_video_reader_close(r);
}
#endif
#endif /* RE_HAVE_DLIB */

int main(void) {
    test_alignment_math();
    test_align_image();
    test_features();
    test_box_from_landmarks();
#ifdef RE_HAVE_DLIB
    test_model_errors();
    re_face_detector *d = NULL;
    const char *model = getenv("REENACT_DLIB_MODEL");
    if (!model || !model[0]) model = RE_FACE_DEFAULT_MODEL;
    if (!re_test_is_file(model)) {
        printf("SKIP detector tests: landmark model %s not found (Debian: apt-get install libdlib-data)\n", model);
        RE_TEST_END();
    }
    double t0 = re_test_now_ms();
    CHECK_OK(re_face_detector_open(&d, NULL));
    printf("detector opened in %.0f ms\n", re_test_now_ms() - t0);
    if (d) {
        test_blank(d);
        struct stat st;
        if (stat(SHARED, &st) != 0) {
            printf("SKIP: ../shared not found (portraits, UTKFace and driving-video tests)\n");
        } else {
            test_portraits(d);
            test_timing(d);
            test_utkface(d);
            re_image p = {0};
            CHECK_OK(re_image_load(&p, SHARED "/data/examples/portraits/fomm_01.png"));
            if (p.data) test_tracker_lost(d, &p);
            re_image_free(&p);
#ifdef RE_HAVE_FFMPEG
            test_tracker_video(d);
#else
            printf("SKIP tracker video test: built without FFmpeg\n");
#endif
        }
    }
    re_face_detector_free(d);
#else
    printf("SKIP detector tests: built without dlib\n");
#endif
    RE_TEST_END();
}
