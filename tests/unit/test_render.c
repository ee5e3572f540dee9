/*
 * test_render.c - the photo-resolution renderer (src/anim/render.c) on synthetic cases with known answers: a smooth
 * known warp is recovered by the flow and reproduced at the photo's resolution; landmark pairs of an affine motion
 * give that affine field; no motion gives the photo back exactly; a grayscale photo stays grayscale; a mouth that
 * opens where no warp can make it appears only in its opening; eye motion amplified where it does not fold the
 * warp; faces at the border and tiny faces; local motion past the crop square's edge; eyelids and a still mouth
 * from the caller (re_render_set_parts); bad arguments.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "re_test.h"
#include "reenact/anim.h"

#define RES 64
#define N (RES * RES)

/* A smooth colour pattern on normalized coordinates (u, v) in [0,1]^2, channel c, values in [0.1, 0.9]. */
static float pattern(double u, double v, int c) {
    const double a = sin(2 * M_PI * (1.3 * u + 0.2 * c)) * cos(2 * M_PI * (1.1 * v - 0.1 * c));
    const double b = sin(2 * M_PI * (0.7 * u + 1.7 * v + 0.3));
    return (float)(0.5 + 0.22 * a + 0.16 * b);
}

/* The known motion of case 1, in model pixels: Dt(x) = Ds(x + f(x)). */
static void known_f(double x, double y, double *fx, double *fy) {
    const double u = x / RES, v = y / RES;
    *fx = 1.2 * sin(M_PI * u) * sin(M_PI * v) + 0.4;
    *fy = -0.8 * sin(M_PI * v) * cos(M_PI * (u - 0.5));
}

/* Model-resolution face [3][RES][RES] of the pattern, optionally warped by known_f. */
static void make_face(float *out, int warped) {
    for (int y = 0; y < RES; y++)
        for (int x = 0; x < RES; x++) {
            double fx = 0, fy = 0;
            if (warped) known_f(x, y, &fx, &fy);
            for (int c = 0; c < 3; c++)
                out[c * N + y * RES + x] = pattern((x + fx + 0.5) / RES, (y + fy + 0.5) / RES, c);
        }
}

/* A K x K photo of the same pattern (the model grid scaled by K / RES), optionally warped by known_f, or gray. */
static void make_photo(re_image *im, int K, int warped, int gray) {
    re_image_alloc(im, K, K);
    const double s = (double)RES / K;
    for (int y = 0; y < K; y++)
        for (int x = 0; x < K; x++) {
            const double mx = (x + 0.5) * s - 0.5, my = (y + 0.5) * s - 0.5;
            double fx = 0, fy = 0;
            if (warped) known_f(mx, my, &fx, &fy);
            float px[3];
            for (int c = 0; c < 3; c++) px[c] = pattern((mx + fx + 0.5) / RES, (my + fy + 0.5) / RES, c);
            if (gray) px[0] = px[1] = px[2] = 0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2];
            for (int c = 0; c < 3; c++) im->data[(size_t)y * im->stride + 3 * x + c] = (uint8_t)lrintf(255 * px[c]);
        }
}

static re_face_frame whole(int K) {
    re_face_frame f = {0.5f * K - 0.5f, 0.5f * K - 0.5f, 0.5f * K, 0.0f};
    return f;
}

/* Mean |a - b| over the central square of side frac * K (8-bit units). */
/* 68 landmarks of a schematic frontal face on the model grid, moved right by dx model pixels. */
static void synth_landmarks(float ls[RE_FACE_LANDMARKS][2], float dx) {
    for (int i = 0; i < 17; i++) {   /* jaw: a U from temple to temple */
        const double a = M_PI * i / 16;
        ls[i][0] = (float)(31.5 - 24 * cos(a));
        ls[i][1] = (float)(26 + 30 * sin(a));
    }
    for (int i = 17; i < 27; i++) ls[i][0] = 12 + (float)(i - 17) * 4.4f, ls[i][1] = 18;   /* brows */
    for (int i = 27; i < 36; i++) ls[i][0] = 31.5f + (i < 31 ? 0 : (float)(i - 33) * 2), ls[i][1] = 22 + (float)(i < 31 ? (i - 27) * 4 : 16);
    for (int e = 0; e < 2; e++)   /* eyes 36-41 and 42-47: hexagons 8 px wide, 4 px tall */
        for (int k = 0; k < 6; k++) {
            const double a = M_PI * k / 3;
            ls[36 + 6 * e + k][0] = (float)((e ? 41.5 : 21.5) - 4 * cos(a));
            ls[36 + 6 * e + k][1] = (float)(25 - 2 * sin(a));
        }
    for (int i = 48; i < 68; i++) {   /* mouth on an ellipse */
        const double a = 2 * M_PI * (i - 48) / (i < 60 ? 12 : 8);
        ls[i][0] = (float)(31.5 + (i < 60 ? 8 : 5) * cos(a));
        ls[i][1] = (float)(45 + (i < 60 ? 3 : 1.5) * sin(a));
    }
    for (int i = 0; i < RE_FACE_LANDMARKS; i++) ls[i][0] += dx;
}

static double center_diff(const re_image *a, const re_image *b, double frac) {
    const int K = a->w, m = (int)(K * (1 - frac) / 2);
    double s = 0;
    long n = 0;
    for (int y = m; y < K - m; y++)
        for (int x = m; x < K - m; x++)
            for (int c = 0; c < 3; c++) {
                s += fabs((double)a->data[(size_t)y * a->stride + 3 * x + c] - b->data[(size_t)y * b->stride + 3 * x + c]);
                n++;
            }
    return s / n;
}

static int max_chroma(const re_image *im) {
    int mx = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            const uint8_t *p = im->data + (size_t)y * im->stride + 3 * x;
            int hi = p[0], lo = p[0];
            for (int c = 1; c < 3; c++) {
                hi = p[c] > hi ? p[c] : hi;
                lo = p[c] < lo ? p[c] : lo;
            }
            if (hi - lo > mx) mx = hi - lo;
        }
    return mx;
}

/* A renderer of photo at fr with options o (NULL: the defaults), its source face ds with landmarks ls (NULL: by
 * flow) applied to the driven face dt with landmarks lt (NULL: by flow) into out, each step a check; the caller
 * inspects and frees it. */
static re_render *make_render(const re_image *photo, const re_face_frame *fr, const re_render_opts *o, const float *ds,
                              const float (*ls)[2], const float *dt, const float (*lt)[2], re_image *out) {
    re_render *r = NULL;
    CHECK_OK(re_render_create(&r, photo, fr, RES, o));
    CHECK_OK(re_render_set_source(r, ds, ls));
    CHECK_OK(re_render_apply(r, dt, lt, out));
    return r;
}

int main(void) {
    float *ds = malloc(3 * N * sizeof(float)), *dt = malloc(3 * N * sizeof(float));
    float *u = malloc(N * sizeof(float)), *v = malloc(N * sizeof(float));
    re_image photo = {0}, want = {0}, out = {0};
    const int K = 256;
    re_face_frame fr = whole(K);
    re_render_opts o;
    re_render_opts_default(&o);
    o.residual = 0;   /* warp only for the geometric cases */
    o.feather = 1.0f; /* the local motion's fade starts at the center: compare only the central part */

    /* 1. flow recovers a known smooth warp; the render reproduces it at 4x the model's resolution */
    {
        make_face(ds, 0);
        make_face(dt, 1);
        make_photo(&photo, K, 0, 0);
        re_render_opts of = o;
        of.feather = 0.6f;
        of.flow_alpha = 0.05f;   /* the default (0.3) is made for decoded faces, where smoothness matters more */
        re_render *r = make_render(&photo, &fr, &of, ds, NULL, dt, NULL, &out);
        CHECK_OK(re_render_get_flow(r, u, v));
        double err = 0, mag = 0;
        int n = 0;
        for (int y = 16; y < 48; y++)
            for (int x = 16; x < 48; x++) {
                double fx, fy;
                known_f(x, y, &fx, &fy);
                err += hypot(u[y * RES + x] - fx, v[y * RES + x] - fy);
                mag += hypot(fx, fy);
                n++;
            }
        err /= n;
        mag /= n;
        printf("flow: mean endpoint error %.3f px for a mean motion of %.3f px (center half)\n", err, mag);
        CHECK_MSG(err < 0.25 * mag, "flow error %.3f vs motion %.3f", err, mag);
        re_render_diag d;
        re_render_get_diag(r, &d);
        CHECK(d.used_landmarks == 0);
        CHECK(d.mean_flow > 0.3f);
        /* the render against the photo warped analytically, where the local motion is not faded (center 0.3) */
        make_photo(&want, K, 1, 0);
        const double dw = center_diff(&out, &want, 0.3), d0 = center_diff(&photo, &want, 0.3);
        printf("render: mean |out - warped photo| %.2f vs |photo - warped photo| %.2f (8-bit, center)\n", dw, d0);
        CHECK_MSG(dw < 0.35 * d0, "render %.2f vs unmoved %.2f", dw, d0);
        CHECK_EQ_INT(out.w, K);
        CHECK_EQ_INT(out.h, K);
        re_render_free(r);
    }

    /* 2. landmark pairs of an affine motion give that affine field (thin-plate spline, affine part exact) */
    {
        float lt[RE_FACE_LANDMARKS][2], ls[RE_FACE_LANDMARKS][2];
        srand(7);
        for (int i = 0; i < RE_FACE_LANDMARKS; i++) {
            lt[i][0] = 12 + 40 * (float)rand() / RAND_MAX;
            lt[i][1] = 12 + 40 * (float)rand() / RAND_MAX;
            ls[i][0] = lt[i][0] + 0.05f * lt[i][0] - 0.02f * lt[i][1] + 0.7f;
            ls[i][1] = lt[i][1] + 0.03f * lt[i][0] + 0.04f * lt[i][1] - 1.1f;
        }
        re_render *r = make_render(&photo, &fr, &o, ds, (const float(*)[2])ls, ds, (const float(*)[2])lt, &out);
        CHECK_OK(re_render_get_flow(r, u, v));
        double worst = 0;
        for (int y = 0; y < RES; y++)
            for (int x = 0; x < RES; x++) {
                const double fx = 0.05 * x - 0.02 * y + 0.7, fy = 0.03 * x + 0.04 * y - 1.1;
                worst = fmax(worst, hypot(u[y * RES + x] - fx, v[y * RES + x] - fy));
            }
        printf("landmark field: worst error %.4f px against the affine motion\n", worst);
        CHECK_MSG(worst < 0.02, "worst %.4f", worst);
        re_render_diag d;
        re_render_get_diag(r, &d);
        CHECK(d.used_landmarks == 1);
        CHECK(fabsf(d.affine[0] - 0.05f) < 0.01f && fabsf(d.affine[5] + 1.1f) < 0.05f);
        re_render_free(r);
    }

    /* 3. no motion: the photo comes back exactly (flow and landmarks) */
    {
        re_render_opts od;
        re_render_opts_default(&od);
        re_render *r = make_render(&photo, &fr, &od, ds, NULL, ds, NULL, &out);
        CHECK(center_diff(&out, &photo, 1.0) == 0.0);
        re_render_free(r);
    }

    /* 4. grayscale photo, coloured decoder with a mouth that opens: the output stays gray */
    {
        re_image gray = {0};
        make_photo(&gray, K, 0, 1);
        CHECK_EQ_INT(max_chroma(&gray), 0);
        memcpy(dt, ds, 3 * N * sizeof(float));
        for (int y = 40; y < 48; y++)
            for (int x = 24; x < 40; x++) {
                dt[y * RES + x] = 0.15f;           /* a dark, reddish mouth */
                dt[N + y * RES + x] = 0.05f;
                dt[2 * N + y * RES + x] = 0.05f;
            }
        re_render_opts od;
        re_render_opts_default(&od);
        re_render *r = make_render(&gray, &fr, &od, ds, NULL, dt, NULL, &out);
        const int ch = max_chroma(&out);
        printf("grayscale photo: largest output chroma %d/255\n", ch);
        CHECK_EQ_INT(ch, 0);
        CHECK(center_diff(&out, &gray, 1.0) > 0.1);   /* something was rendered */
        re_render_diag d;
        re_render_get_diag(r, &d);
        CHECK(d.gain_c == 0.0f);
        re_render_free(r);
        re_image_free(&gray);
    }

    /* 5. residual only: identical landmarks (no motion), a dark mouth in Dt: generated pixels only around the mouth */
    {
        float lm[RE_FACE_LANDMARKS][2];
        for (int i = 0; i < RE_FACE_LANDMARKS; i++) {
            lm[i][0] = 16 + (float)(i % 9) * 4;
            lm[i][1] = 16 + (float)(i / 9) * 4;
        }
        for (int i = 48; i < 68; i++) {   /* lips on ellipses around the mouth drawn below, open: the inner lips */
            const double a = 2 * M_PI * (i - 48) / (i < 60 ? 12 : 8);
            lm[i][0] = (float)(31.5 + (i < 60 ? 8 : 6) * cos(a));
            lm[i][1] = (float)(43.5 + (i < 60 ? 4 : 3) * sin(a));
        }
        re_render_opts od;
        re_render_opts_default(&od);
        re_render *r = make_render(&photo, &fr, &od, ds, (const float(*)[2])lm, dt, (const float(*)[2])lm, &out);
        /* mouth box in photo pixels: model [24,40) x [40,48) scaled by 4, grown by the 3x3 gate blur and bilinear */
        long inside = 0, outside = 0;
        double dark = 0;
        for (int y = 0; y < K; y++)
            for (int x = 0; x < K; x++) {
                const uint8_t *a = out.data + (size_t)y * out.stride + 3 * x, *b = photo.data + (size_t)y * photo.stride + 3 * x;
                const int diff = abs(a[0] - b[0]) + abs(a[1] - b[1]) + abs(a[2] - b[2]);
                const int in = x >= 4 * 24 - 12 && x < 4 * 40 + 12 && y >= 4 * 40 - 12 && y < 4 * 48 + 12;
                if (diff > 3) {
                    if (in) inside++;
                    else outside++;
                }
                if (x >= 4 * 26 && x < 4 * 38 && y >= 4 * 41 && y < 4 * 47) dark += (a[0] + a[1] + a[2]) - (b[0] + b[1] + b[2]);
            }
        printf("residual only: %ld changed pixels near the mouth, %ld elsewhere; mean change inside %.1f\n", inside,
               outside, dark / (48.0 * 24));
        CHECK(inside > 2000);
        CHECK_EQ_INT(outside, 0);
        CHECK(dark < 0);
        re_render_diag d;
        re_render_get_diag(r, &d);
        CHECK(d.used_landmarks == 1 && d.mean_flow < 1e-3f);
        re_render_free(r);
        /* the same with the mouth closed (inner lips a quarter pixel apart): the generated pixels cover the opening's thin
         * ellipse, not the lips' outer edges (model rows 40 and 47; the lips are the photo's, warped) */
        for (int i = 60; i < 68; i++) lm[i][1] = (float)(43.5 + 0.25 * sin(2 * M_PI * (i - 60) / 8));   /* distinct */
        r = make_render(&photo, &fr, &od, ds, (const float(*)[2])lm, dt, (const float(*)[2])lm, &out);
        long closed = 0, lips = 0;
        for (int y = 0; y < K; y++)
            for (int x = 0; x < K; x++) {
                const uint8_t *a = out.data + (size_t)y * out.stride + 3 * x, *b = photo.data + (size_t)y * photo.stride + 3 * x;
                const int diff = abs(a[0] - b[0]) + abs(a[1] - b[1]) + abs(a[2] - b[2]);
                closed += diff > 3;
                lips += diff > 3 && (y < 4 * 40 + 2 || y >= 4 * 47);   /* the lips' outer edges (39.5, 47.5) */
            }
        printf("closed mouth: %ld changed pixels (%ld at the lips' outer edges), against %ld open\n", closed, lips,
               inside);
        re_render_get_diag(r, &d);
        CHECK(d.used_landmarks == 1);
        CHECK_MSG(closed < inside / 2 && lips == 0, "closed mouth changed %ld pixels, %ld on the lips", closed, lips);
        re_render_free(r);
    }

    /* 5b. the residual brings no foreign hue: a warm photo, a decoder whose skin is a different hue and whose
     * generated eye is blue. The generated pixels darken/brighten the photo, and their chroma stays on the photo's
     * own skin hue (a non-negative multiple of it), never the decoder's blue. */
    {
        float lm[RE_FACE_LANDMARKS][2];
        for (int i = 0; i < RE_FACE_LANDMARKS; i++) {
            lm[i][0] = 16 + (float)(i % 9) * 4;
            lm[i][1] = 16 + (float)(i / 9) * 4;
        }
        for (int i = 48; i < 68; i++) {
            const double a = 2 * M_PI * (i - 48) / (i < 60 ? 12 : 8);
            lm[i][0] = (float)(31.5 + (i < 60 ? 8 : 6) * cos(a));
            lm[i][1] = (float)(43.5 + (i < 60 ? 4 : 3) * sin(a));
        }
        re_image warm = {0};
        CHECK_OK(re_image_alloc(&warm, K, K));
        const int skin[3] = {205, 150, 120};
        for (int y = 0; y < K; y++)
            for (int x = 0; x < K; x++)
                for (int c = 0; c < 3; c++)   /* skin with a little texture, so the photo has chroma spread */
                    warm.data[(size_t)y * warm.stride + 3 * x + c] = (uint8_t)(skin[c] + ((x * 7 + y * 3 + c) % 11) - 5);
        for (int i = 0; i < N; i++) {   /* a pinkish-grey decoded skin, with texture in every channel */
            ds[i] = 0.62f + 0.04f * (float)((i * 13) % 7) / 7.0f;
            ds[N + i] = 0.55f + 0.04f * (float)((i * 5) % 9) / 9.0f;
            ds[2 * N + i] = 0.52f + 0.04f * (float)((i * 3) % 11) / 11.0f;
        }
        memcpy(dt, ds, 3 * N * sizeof(float));
        for (int y = 40; y < 48; y++)
            for (int x = 24; x < 40; x++) {   /* a dark, strongly blue generated mouth */
                dt[y * RES + x] = 0.05f;
                dt[N + y * RES + x] = 0.10f;
                dt[2 * N + y * RES + x] = 0.55f;
            }
        re_render *r = make_render(&warm, &fr, NULL, ds, (const float(*)[2])lm, dt, (const float(*)[2])lm, &out);
        const double scb = skin[2] - (0.299 * skin[0] + 0.587 * skin[1] + 0.114 * skin[2]);
        const double scr = skin[0] - (0.299 * skin[0] + 0.587 * skin[1] + 0.114 * skin[2]);
        const double sn = sqrt(scb * scb + scr * scr);
        long changed = 0, off_hue = 0;
        double worst = 0;
        for (int y = 4 * 41; y < 4 * 47; y++)
            for (int x = 4 * 26; x < 4 * 38; x++) {
                const uint8_t *a = out.data + (size_t)y * out.stride + 3 * x, *b = warm.data + (size_t)y * warm.stride + 3 * x;
                if (abs(a[0] - b[0]) + abs(a[1] - b[1]) + abs(a[2] - b[2]) <= 6) continue;
                changed++;
                const double Y = 0.299 * a[0] + 0.587 * a[1] + 0.114 * a[2], cb = a[2] - Y, cr = a[0] - Y;
                /* distance of (cb, cr) from the skin hue's ray, in 8-bit units */
                const double along = (cb * scb + cr * scr) / sn, across = fabs(cb * scr - cr * scb) / sn;
                const double d = along < 0 ? sqrt(cb * cb + cr * cr) : across;
                if (d > worst) worst = d;
                if (d > 8) off_hue++;
            }
        printf("foreign hue: %ld generated pixels in the mouth, %ld off the photo's skin hue (worst %.1f/255)\n",
               changed, off_hue, worst);
        re_render_diag dg;
        re_render_get_diag(r, &dg);
        CHECK(dg.gain_c > 0.1f);   /* the photo's colour is in play */
        CHECK(changed > 1000);
        CHECK_EQ_INT(off_hue, 0);
        re_render_free(r);
        re_image_free(&warm);
        make_face(ds, 0);
    }

    /* 6. a face at the photo's border and a tiny face: rendered without error, far pixels untouched */
    {
        re_image big = {0};
        CHECK_OK(re_image_alloc(&big, 300, 200));
        for (int i = 0; i < 300 * 200 * 3; i++) big.data[i] = (uint8_t)(i * 7 % 251);
        const re_face_frame corner = {5.0f, 190.0f, 60.0f, 0.3f}, tiny = {150.0f, 100.0f, 3.0f, 0.0f};
        const re_face_frame *frames[2] = {&corner, &tiny};
        make_face(ds, 0);
        make_face(dt, 1);
        for (int k = 0; k < 2; k++) {
            re_render_opts od;
            re_render_opts_default(&od);
            re_render *r = make_render(&big, frames[k], &od, ds, NULL, dt, NULL, &out);
            CHECK_EQ_INT(out.w, 300);
            CHECK_EQ_INT(out.h, 200);
            /* far corner unchanged */
            CHECK(memcmp(out.data + 250 * 3, big.data + 250 * 3, 30) == 0 || k == 1);
            CHECK(out.data[0] == big.data[0] || k == 0);
            re_render_free(r);
        }
        re_image_free(&big);
    }

    /* 6b. eye motion: a blink in the landmarks (upper lids 1 px down) moves the photo around the eyes twice as far
     * with eye_motion 2 as with 1 and leaves the mouth's pixels exactly as they were; a lid pushed through the
     * eye (5 px) would fold the warp at gain 3, so the gain is reduced and the warp stays as unfolded as at 1 */
    {
        float ls[RE_FACE_LANDMARKS][2], lt[RE_FACE_LANDMARKS][2];
        synth_landmarks(ls, 0.0f);
        double moved[3] = {0}, mouth[3] = {0};
        const float gains[3] = {1, 2, 3};
        re_render_diag dg[3];
        re_image_free(&photo);
        make_photo(&photo, K, 0, 0);
        make_face(ds, 0);
        for (int t = 0; t < 3; t++) {
            memcpy(lt, ls, sizeof lt);
            const float drop = t == 2 ? 5.0f : 1.0f;
            for (int e = 0; e < 2; e++)
                for (int k = 1; k <= 2; k++) lt[36 + 6 * e + k][1] += drop;   /* upper lids down */
            re_render_opts oe;
            re_render_opts_default(&oe);
            oe.residual = 0;
            oe.eye_motion = gains[t];
            re_render *r = make_render(&photo, &fr, &oe, ds, (const float(*)[2])ls, ds, (const float(*)[2])lt, &out);
            re_render_get_diag(r, &dg[t]);
            re_render_free(r);
            const int sc = K / RES;
            for (int y = 0; y < K; y++)
                for (int x = 0; x < K; x++) {
                    const size_t i = ((size_t)y * K + x) * 3;
                    const double d = fabs((double)out.data[i] - photo.data[i]) + fabs((double)out.data[i + 1] - photo.data[i + 1]);
                    if (y >= 20 * sc && y < 30 * sc && x >= 14 * sc && x < 50 * sc) moved[t] += d;
                    if (y >= 41 * sc && y < 49 * sc && x >= 22 * sc && x < 42 * sc) mouth[t] += d;
                }
            if (t == 0) {   /* the reference output for the mouth comparison */
                re_image_free(&want);
                CHECK_OK(re_image_alloc(&want, K, K));
                memcpy(want.data, out.data, (size_t)K * K * 3);
            } else if (t == 1) {
                size_t diff_mouth = 0;
                for (int y = 41 * sc; y < 49 * sc; y++)
                    for (int x = 22 * sc; x < 42 * sc; x++)
                        diff_mouth += memcmp(out.data + ((size_t)y * K + x) * 3, want.data + ((size_t)y * K + x) * 3, 3) != 0;
                CHECK_EQ_INT((int)diff_mouth, 0);
            }
        }
        printf("eye motion: change around the eyes %.0f (gain 1) %.0f (gain 2); gains used %.2f %.2f, folding lid %.2f\n",
               moved[0], moved[1], dg[0].eye_gain, dg[1].eye_gain, dg[2].eye_gain);
        CHECK(dg[0].used_landmarks == 1 && dg[0].eye_gain == 1.0f && dg[1].eye_gain == 2.0f);
        CHECK_MSG(moved[1] > 1.5 * moved[0] && moved[0] > 0, "eye change %.0f vs %.0f", moved[1], moved[0]);
        CHECK_MSG(dg[2].eye_gain < 3.0f && dg[2].eye_gain >= 1.0f, "folding lid kept gain %.2f", dg[2].eye_gain);
        (void)mouth;
    }

    /* 6c. motion at the crop square's edge: a face whose right cheek lies 2 px inside the square (a turned head)
     * moves its right jaw 5 px to the right. The local motion continues past the square and fades out over the
     * face's margin there, so the jaw's pixels move most of the way the landmarks say (the source face's margin
     * fades the rest: the jaw ends 5 px outside the source face; a fade inside the square moved it 0.16 of the
     * way), and the warp does not fold (the whole local field is not scaled down). The photo is twice the square's size; red and green code the photo's x and
     * y, so the output tells where each pixel came from. */
    {
        float ls[RE_FACE_LANDMARKS][2], lt[RE_FACE_LANDMARKS][2];
        synth_landmarks(ls, 6.0f);   /* jaw point 16 at x = 61.5 */
        memcpy(lt, ls, sizeof lt);
        for (int i = 12; i <= 16; i++) lt[i][0] += 5.0f;
        const int W = 2 * K;
        re_image big = {0};
        CHECK_OK(re_image_alloc(&big, W, W));
        for (int y = 0; y < W; y++)
            for (int x = 0; x < W; x++) {
                uint8_t *p = big.data + (size_t)y * big.stride + 3 * (size_t)x;
                p[0] = (uint8_t)(x / 2);
                p[1] = (uint8_t)(y / 2);
                p[2] = 128;
            }
        const re_face_frame cf = {W / 2 - 0.5f, W / 2 - 0.5f, K / 2.0f, 0.0f};
        float m2p[6], p2m[6];
        CHECK_OK(re_face_frame_matrix(&cf, RES, m2p, p2m));
        re_render_opts oc;
        re_render_opts_default(&oc);
        oc.residual = 0;
        oc.tps_lambda = 0;   /* the spline interpolates: the landmarks' motion is the field's there */
        re_render *r = make_render(&big, &cf, &oc, ds, (const float(*)[2])ls, ds, (const float(*)[2])lt, &out);
        re_render_diag dc;
        re_render_get_diag(r, &dc);
        re_render_free(r);
        double worst = 1e9;
        for (int i = 13; i <= 15; i++) {   /* the jaw points nearest the edge: where they show the photo from */
            const double px = m2p[0] * lt[i][0] + m2p[1] * lt[i][1] + m2p[2];
            const double py = m2p[3] * lt[i][0] + m2p[4] * lt[i][1] + m2p[5];
            const uint8_t *o = out.data + (size_t)lround(py) * out.stride + 3 * (size_t)lround(px);
            const double from_x = 2.0 * o[0] + 0.5;   /* photo x the output pixel came from (+-1) */
            const double want_x = m2p[0] * ls[i][0] + m2p[1] * ls[i][1] + m2p[2];
            const double moved = (px - from_x) / (px - want_x);   /* 1: as far as the landmarks say */
            if (moved < worst) worst = moved;
        }
        printf("crop edge: jaw moved %.2f of the landmarks' motion (worst of 3), local scale %.2f\n", worst,
               dc.local_scale);
        CHECK(dc.used_landmarks == 1);
        CHECK_MSG(dc.local_scale == 1.0f, "local field scaled by %.2f", dc.local_scale);
        CHECK_MSG(worst > 0.5 && worst < 1.25, "jaw moved %.2f of its motion", worst);
        re_image_free(&big);
    }

    /* 6d. the eyes' opening from the driver (re_render_set_parts): with the generated face's landmarks equal to
     * the source's, ratio 1 leaves the photo as it was; ratio 0.25 moves the upper lids towards the eyes' corner
     * line, to a quarter of the source's offset, at the photo's resolution (lid_map): a photo whose green channel
     * is its row shows which row each output pixel took. Down the eye's middle (model column 21.5, corner line at
     * row 25, lids 1.73 px above and below it): each row took the row the lids' remap says, the rows beyond the
     * bands stay, nothing folds; the eyes change far more than the mouth; NULL goes back to the generated face's lids; gain 0 keeps
     * them. */
    {
        float ls[RE_FACE_LANDMARKS][2];
        synth_landmarks(ls, 0.0f);
        re_image grad = {0};
        CHECK_OK(re_image_alloc(&grad, K, K));
        for (int y = 0; y < K; y++)
            for (int x = 0; x < K; x++) {
                uint8_t *q = grad.data + (size_t)y * grad.stride + 3 * (size_t)x;
                q[0] = (uint8_t)x;
                q[1] = (uint8_t)y;
                q[2] = 128;
            }
        re_render_opts oy;
        re_render_opts_default(&oy);
        oy.residual = 0;
        oy.tps_lambda = 0;
        oy.eye_motion = 1;   /* the ratio as given (the default 1.5 multiplies its change from 1) */
        re_render *r = NULL;
        CHECK_OK(re_render_create(&r, &grad, &fr, RES, &oy));
        CHECK_OK(re_render_set_source(r, ds, (const float(*)[2])ls));
        const re_render_parts one = {1, {1, 1}, 0, 0, 0, 0, 0}, quarter = {1, {0.25f, 0.25f}, 0, 0, 0, 0, 0};
        re_render_set_parts(r, &one);
        CHECK_OK(re_render_apply(r, ds, (const float(*)[2])ls, &out));
        CHECK_MSG(center_diff(&out, &grad, 1.0) == 0.0, "ratio 1 moved the photo (%g)", center_diff(&out, &grad, 1.0));
        re_render_set_parts(r, &quarter);
        CHECK_OK(re_render_apply(r, ds, (const float(*)[2])ls, &out));
        re_render_diag dy;
        re_render_get_diag(r, &dy);
        CHECK(dy.eye_gain == 1.0f);   /* no amplification of a lid placed from the driver */
        const int sc = K / RES, px = (int)lround((21.5 + 0.5) * sc - 0.5);
        /* closing: the eyeball between the target lids stays; each lid's lash line (a quarter of the source's
         * opening above, a sixth below) moves as it is, and the skin beyond it stretches linearly out to the bands'
         * ends (T: 0.5 eye widths or 0.6 of the way to the brow, B: 0.4 eye widths; further when the lid reaches
         * further) */
        /* the lid at the column: the arch through the corners (u 0 and 8) and the lid points (u 2 and 6) */
        const double lid_s = (ls[37][1] - 25.0) * (4.0 * 4.0) / (2.0 * 6.0), lid_t = 0.25 * lid_s;
        const double open = -2 * lid_s, lu = 0.25 * open, ll = open / 6;
        const double T = fmin(fmax(-0.5 * 8, 0.6 * (ls[19][1] - 25.0)), 1.5 * (lid_s - lu)), B = fmax(0.4 * 8, 2 * (-lid_s + ll));
        double worst_band = 0, worst_far = 0, prev = -1e9;
        int folds = 0, edge_rows = 0;
        for (int py = 60; py < 140; py++) {
            const double my = (py + 0.5) / sc - 0.5, vt = my - 25.0;   /* output row, from the corner line */
            const double vs = (out.data[(size_t)py * out.stride + 3 * (size_t)px + 1] + 0.5) / sc - 0.5 - 25.0;
            if (vs < prev - 0.3) folds++;
            prev = vs;
            const double want = vt <= T || vt >= B || fabs(vt) <= -lid_t ? vt
                                : vt < 0 && vt >= lid_t - lu      ? vt - (lid_t - lid_s)
                                : vt < 0                          ? T + (vt - T) * (lid_s - lu - T) / (lid_t - lu - T)
                                : vt <= -lid_t + ll               ? vt + (lid_t - lid_s)
                                                                  : B + (vt - B) * (B + lid_s - ll) / (B + lid_t - ll);
            if (fabs(fabs(vt) + lid_t) < 0.13) {   /* a lid's edge: lid and eyeball mixed (antialiased) */
                const double lid = vt < 0 ? vt - (lid_t - lid_s) : vt + (lid_t - lid_s);
                CHECK_MSG(fabs(vs - lid) > 0.3 && fabs(vs - vt) > 0.3 && (vs - lid) * (vs - vt) < 0,
                          "row %d at a lid's edge: %.2f, not between the lid's %.2f and the eyeball's %.2f", py, vs, lid, vt);
                edge_rows++;
                continue;
            }
            if (vt > T && vt < B) worst_band = fmax(worst_band, fabs(vs - want));
            else worst_far = fmax(worst_far, fabs(vs - vt));
        }
        printf("eye ratio 0.25 (photo resolution): rows in the lids' bands off by %.2f model px (a photo row is "
               "0.25), beyond them %.2f, folds %d\n", worst_band, worst_far, folds);
        CHECK_MSG(worst_band < 0.3, "rows in the lids' bands %.2f px from the remap", worst_band);
        CHECK_MSG(worst_far < 0.2, "rows beyond the lids' bands moved %.2f px", worst_far);
        CHECK(edge_rows == 2);
        CHECK(folds == 0);
        double eyes = 0, mouth = 0;
        for (int y = 0; y < K; y++)
            for (int x = 0; x < K; x++) {
                const size_t i = (size_t)y * out.stride + 3 * (size_t)x;
                const double dd = fabs((double)out.data[i] - grad.data[i]) + fabs((double)out.data[i + 1] - grad.data[i + 1]);
                if (y >= 20 * sc && y < 30 * sc && x >= 14 * sc && x < 50 * sc) eyes += dd;
                if (y >= 41 * sc && y < 49 * sc && x >= 22 * sc && x < 42 * sc) mouth += dd;
            }
        CHECK_MSG(eyes > 20 * (mouth + 1), "eyes changed %.0f, mouth %.0f", eyes, mouth);
        re_render_set_parts(r, NULL);
        CHECK_OK(re_render_apply(r, ds, (const float(*)[2])ls, &out));
        CHECK(center_diff(&out, &grad, 1.0) == 0.0);
        re_render_free(r);
        oy.eye_motion = 0;   /* gain 0: the eyes stay as they are whatever the ratio */
        CHECK_OK(re_render_create(&r, &grad, &fr, RES, &oy));
        CHECK_OK(re_render_set_source(r, ds, (const float(*)[2])ls));
        re_render_set_parts(r, &quarter);
        CHECK_OK(re_render_apply(r, ds, (const float(*)[2])ls, &out));
        CHECK(center_diff(&out, &grad, 1.0) == 0.0);
        re_render_free(r);
        re_image_free(&grad);
    }

    /* 6e. a still mouth (--lips 0, --pose-only): the generated face opens its mouth (lower lip 3 px down, a dark
     * mouth drawn) while the whole face moves 2 px right. With mouth_still the output is the photo moved 2 px, as
     * for a generated face that only moved: the lips keep the source's shape and nothing is generated there. */
    {
        float ls[RE_FACE_LANDMARKS][2], lt[RE_FACE_LANDMARKS][2], lm2[RE_FACE_LANDMARKS][2];
        synth_landmarks(ls, 0.0f);
        synth_landmarks(lm2, 2.0f);   /* moved only */
        memcpy(lt, lm2, sizeof lt);
        for (int i = 55; i <= 59; i++) lt[i][1] += 3.0f;   /* lower outer lip */
        for (int i = 65; i <= 67; i++) lt[i][1] += 3.0f;   /* lower inner lip */
        memcpy(dt, ds, N * 3 * sizeof(float));
        for (int y = 44; y < 49; y++)
            for (int x = 26; x < 38; x++)
                for (int c = 0; c < 3; c++) dt[c * N + y * RES + x] = 0.05f;
        re_render_opts om;
        re_render_opts_default(&om);
        re_image moved = {0};
        re_render *r = NULL;
        om.residual = 0;
        r = make_render(&photo, &fr, &om, ds, (const float(*)[2])ls, ds, (const float(*)[2])lm2, &moved);
        re_render_free(r);
        re_render_opts_default(&om);   /* the residual on: none may be generated around a still mouth */
        CHECK_OK(re_render_create(&r, &photo, &fr, RES, &om));
        CHECK_OK(re_render_set_source(r, ds, (const float(*)[2])ls));
        const re_render_parts still = {0, {1, 1}, 1, 0, 0, 0, 0};
        re_render_set_parts(r, &still);
        CHECK_OK(re_render_apply(r, dt, (const float(*)[2])lt, &out));
        int worst = 0;
        for (size_t i = 0; i < (size_t)K * K * 3; i++) {
            const int dd = abs((int)out.data[i] - moved.data[i]);
            if (dd > worst) worst = dd;
        }
        re_render_set_parts(r, NULL);   /* without it the mouth opens and darkens */
        CHECK_OK(re_render_apply(r, dt, (const float(*)[2])lt, &out));
        const int sc = K / RES;
        double mouth = 0;
        for (int y = 41 * sc; y < 51 * sc; y++)
            for (int x = 22 * sc; x < 42 * sc; x++) mouth += abs((int)out.data[((size_t)y * K + x) * 3] - moved.data[((size_t)y * K + x) * 3]);
        printf("still mouth: largest difference from the face only moved %d/255; without it %.0f in the mouth\n", worst,
               mouth);
        CHECK_MSG(worst <= 2, "still mouth differs by %d", worst);
        CHECK(mouth > 1000);
        re_render_free(r);
        re_image_free(&moved);
        make_face(dt, 1);
    }

    /* 6f. the head's pose from the caller (re_render_parts.pose): with the generated face's landmarks equal to the
     * source's, a zero pose change leaves the photo as it was. A 10 degree turn moves the nose tip along the eye line
     * by 1.3 sin(10 deg) half face widths (24 px: 5.4 px; the field points back, -5.4) and leaves the jaw line's
     * ends (depth 0) in place; a 10 degree nod moves the nose tip down, towards the mouth, by 0.43 (tan(a+10) -
     * tan(a)) eye-to-mouth distances (about 1.6 px) and barely moves the eye line; a 10 degree roll turns the face
     * clockwise (image-right side down). */
    {
        float ls[RE_FACE_LANDMARKS][2];
        synth_landmarks(ls, 0.0f);
        re_image_free(&photo);
        make_photo(&photo, K, 0, 0);
        make_face(ds, 0);
        re_render_opts op;
        re_render_opts_default(&op);
        op.residual = 0;
        op.tps_lambda = 0;
        re_render *r = NULL;
        CHECK_OK(re_render_create(&r, &photo, &fr, RES, &op));
        CHECK_OK(re_render_set_source(r, ds, (const float(*)[2])ls));
        re_render_parts pp = {0, {1, 1}, 0, 1, 0.0f, 0.0f, 0.0f};
        re_render_set_parts(r, &pp);
        CHECK_OK(re_render_apply(r, ds, (const float(*)[2])ls, &out));
        CHECK_MSG(center_diff(&out, &photo, 1.0) == 0.0, "no pose change moved the photo (%g)", center_diff(&out, &photo, 1.0));
        pp.yaw = NAN;   /* read as 0 */
        re_render_set_parts(r, &pp);
        CHECK_OK(re_render_apply(r, ds, (const float(*)[2])ls, &out));
        CHECK(center_diff(&out, &photo, 1.0) == 0.0);
        pp.yaw = 10.0f;
        re_render_set_parts(r, &pp);
        CHECK_OK(re_render_apply(r, ds, (const float(*)[2])ls, &out));
        CHECK_OK(re_render_get_flow(r, u, v));
        const double shift = 1.3 * sin(10.0 * M_PI / 180.0) * 24.0;
        const float nose_u = u[34 * RES + 37], jl = u[26 * RES + 8], jr = u[26 * RES + 55];
        printf("pose: yaw +10 deg: field at the turned nose tip %.2f px (want %.2f), at the jaw line's ends %.2f %.2f\n",
               nose_u, -shift, jl, jr);
        CHECK_MSG(fabs(nose_u + shift) < 0.25 * shift, "nose tip field %.2f, want %.2f", nose_u, -shift);
        CHECK_MSG(fabsf(jl) < 0.2 * shift && fabsf(jr) < 0.2 * shift, "jaw ends moved %.2f %.2f", jl, jr);
        pp.yaw = -10.0f;   /* the other way */
        re_render_set_parts(r, &pp);
        CHECK_OK(re_render_apply(r, ds, (const float(*)[2])ls, &out));
        CHECK_OK(re_render_get_flow(r, u, v));
        CHECK_MSG(fabs(u[34 * RES + 26] - shift) < 0.25 * shift, "nose tip field %.2f, want %.2f", u[34 * RES + 26], shift);
        pp.yaw = 0.0f;
        pp.pitch = 10.0f;
        re_render_set_parts(r, &pp);
        CHECK_OK(re_render_apply(r, ds, (const float(*)[2])ls, &out));
        CHECK_OK(re_render_get_flow(r, u, v));
        const double a0 = atan((9.0 / 20.0 - 0.54) / 0.43);
        const double down = 0.43 * (tan(a0 + 10.0 * M_PI / 180.0) - tan(a0)) * 20.0;
        const float nose_v = v[35 * RES + 32], eye_v = v[25 * RES + 21];
        printf("pose: pitch +10 deg: field below the nose tip %.2f px (want about %.2f), at an eye %.2f\n", nose_v, -down,
               eye_v);
        CHECK_MSG(nose_v < -0.6 * down && nose_v > -1.6 * down, "nose field %.2f, want about %.2f", nose_v, -down);
        CHECK_MSG(fabsf(eye_v) < 0.5f * fabsf(nose_v), "eye moved %.2f against the nose's %.2f", eye_v, nose_v);
        pp.pitch = 0.0f;
        pp.roll = 10.0f;
        re_render_set_parts(r, &pp);
        CHECK_OK(re_render_apply(r, ds, (const float(*)[2])ls, &out));
        CHECK_OK(re_render_get_flow(r, u, v));
        printf("pose: roll +10 deg: field at the jaw line's ends %.2f (left) %.2f (right)\n", v[26 * RES + 8],
               v[26 * RES + 55]);
        CHECK_MSG(v[26 * RES + 55] < -2.0f && v[26 * RES + 8] > 2.0f, "roll field %.2f %.2f", v[26 * RES + 8],
                  v[26 * RES + 55]);
        re_render_set_parts(r, NULL);   /* the generated face's pose again */
        CHECK_OK(re_render_apply(r, ds, (const float(*)[2])ls, &out));
        CHECK(center_diff(&out, &photo, 1.0) == 0.0);
        re_render_free(r);
        /* the generated face opens a dark mouth where the source's is; turned 10 degrees, the lips move right by
         * about 1.05 / 1.3 of the nose tip's 5.4 px, and the generated pixels must move with them (the generated
         * face is moved to the posed landmarks before the residual is taken): the darkening's centre of mass moves
         * right by about as much as the lips */
        op.residual = 1;
        CHECK_OK(re_render_create(&r, &photo, &fr, RES, &op));
        CHECK_OK(re_render_set_source(r, ds, (const float(*)[2])ls));
        memcpy(dt, ds, N * 3 * sizeof(float));
        for (int y = 44; y < 47; y++)
            for (int x = 27; x < 37; x++)
                for (int c = 0; c < 3; c++) dt[c * N + y * RES + x] = 0.05f;
        double cx[2];
        for (int t = 0; t < 2; t++) {
            re_render_parts pm = {0, {1, 1}, 0, 1, t ? 10.0f : 0.0f, 0.0f, 0.0f};
            re_render_set_parts(r, &pm);
            CHECK_OK(re_render_apply(r, dt, (const float(*)[2])ls, &out));
            const int sc = K / RES;
            double sw = 0, sx = 0;
            for (int y = 41 * sc; y < 50 * sc; y++)
                for (int x = 16 * sc; x < 52 * sc; x++) {
                    const size_t i = (size_t)y * out.stride + 3 * (size_t)x;
                    const double d = (double)photo.data[i + 1] - out.data[i + 1];
                    if (d > 20) {
                        sw += d;
                        sx += d * x;
                    }
                }
            cx[t] = sw > 0 ? sx / sw / sc : -1;
        }
        const double lips = 1.05 * sqrt(1 - pow(4.0 / 24, 2)) / 1.3 * shift;
        printf("pose: the generated mouth's darkening at x %.2f, turned %.2f (lips moved %.2f)\n", cx[0], cx[1], lips);
        CHECK_MSG(cx[0] > 28 && cx[0] < 35, "mouth at %.2f", cx[0]);
        CHECK_MSG(cx[1] - cx[0] > 0.6 * lips && cx[1] - cx[0] < 1.4 * lips, "generated mouth moved %.2f, lips %.2f",
                  cx[1] - cx[0], lips);
        re_render_free(r);
        make_face(dt, 1);
    }

    /* 6g. a closed mouth opening: the source's inner lips meet (on the mouth line, y 45), the generated face's part
     * by 3 px (the schematic face's 61-63 are the image-lower inner lip, 65-67 the upper one). The band between them
     * maps onto the source's lip line (a determinant near 0): it is the mouth's opening, which generated pixels
     * cover, so the fold guard must not scale the face's motion down for it. The whole local field stays (scale 1)
     * and the lower lip moves as far as its landmarks. */
    {
        float ls[RE_FACE_LANDMARKS][2], lt[RE_FACE_LANDMARKS][2];
        synth_landmarks(ls, 0.0f);
        for (int i = 60; i < 68; i++) ls[i][1] = 45.0f;   /* closed: the inner lips on the mouth line */
        memcpy(lt, ls, sizeof lt);
        for (int i = 61; i <= 63; i++) lt[i][1] += 2.0f;   /* lower inner lip down */
        for (int i = 65; i <= 67; i++) lt[i][1] -= 1.0f;   /* upper inner lip up */
        for (int i = 49; i <= 53; i++) lt[i][1] += 2.0f;   /* and the lower outer lip with it */
        re_render_opts om;
        re_render_opts_default(&om);
        om.tps_lambda = 0;
        re_image_free(&photo);
        make_photo(&photo, K, 0, 0);
        make_face(ds, 0);
        re_render *r = make_render(&photo, &fr, &om, ds, (const float(*)[2])ls, ds, (const float(*)[2])lt, &out);
        re_render_diag dm;
        re_render_get_diag(r, &dm);
        CHECK_OK(re_render_get_flow(r, u, v));
        const float lip = v[47 * RES + 31];   /* the lower inner lip 62 moved from y 45 to 47: the field -2 */
        printf("closed mouth opening: local scale %.2f, field at the lower lip %.2f px (landmarks -2)\n",
               dm.local_scale, lip);
        CHECK(dm.used_landmarks == 1);
        CHECK_MSG(dm.local_scale == 1.0f, "the mouth's opening scaled the motion by %.2f", dm.local_scale);
        CHECK_MSG(lip < -1.5f && lip > -2.5f, "lower lip field %.2f", lip);
        re_render_free(r);
    }

    /* 6f. the per-pixel warp shared out over threads (opts.threads): 1, 2 and 3 threads give the same bytes, with
     * the mouth moving and an eye closing (the lids' taps read the grid across the parts' rows) */
    {
        float ls[RE_FACE_LANDMARKS][2], lt[RE_FACE_LANDMARKS][2];
        synth_landmarks(ls, 0.0f);
        synth_landmarks(lt, 1.0f);
        for (int i = 55; i <= 59; i++) lt[i][1] += 2.0f;
        re_image grad = {0}, o1 = {0};
        CHECK_OK(re_image_alloc(&grad, K, K));
        for (int y = 0; y < K; y++)
            for (int x = 0; x < K; x++) {
                uint8_t *q = grad.data + (size_t)y * grad.stride + 3 * (size_t)x;
                q[0] = (uint8_t)(x * 3 + y);
                q[1] = (uint8_t)y;
                q[2] = (uint8_t)(x ^ y);
            }
        const re_render_parts quarter = {1, {0.25f, 1.0f}, 0, 0, 0, 0, 0};
        for (int t = 1; t <= 3; t++) {
            re_render_opts ot;
            re_render_opts_default(&ot);
            ot.threads = t;
            re_render *r = NULL;
            CHECK_OK(re_render_create(&r, &grad, &fr, RES, &ot));
            CHECK_OK(re_render_set_source(r, ds, (const float(*)[2])ls));
            re_render_set_parts(r, &quarter);
            CHECK_OK(re_render_apply(r, dt, (const float(*)[2])lt, t == 1 ? &o1 : &out));
            if (t == 1) {
                CHECK_MSG(center_diff(&o1, &grad, 1.0) > 1.0, "the warp changed nothing (%g)", center_diff(&o1, &grad, 1.0));
            } else {
                size_t diff = 0;
                for (int y = 0; y < K; y++)
                    diff += memcmp(o1.data + (size_t)y * o1.stride, out.data + (size_t)y * out.stride, (size_t)K * 3) != 0;
                CHECK_MSG(diff == 0, "%d threads: %zu rows differ from 1 thread's", t, diff);
            }
            re_render_free(r);
        }
        re_render_opts ob;
        re_render_opts_default(&ob);
        ob.threads = RE_RENDER_MAX_THREADS + 1;
        re_render *r = NULL;
        CHECK(re_render_create(&r, &grad, &fr, RES, &ob) == RE_ERR_ARG && r == NULL);
        re_image_free(&o1);
        re_image_free(&grad);
    }

    /* 7. bad arguments */
    {
        re_render *r = NULL;
        CHECK(re_render_create(NULL, &photo, &fr, RES, NULL) == RE_ERR_ARG);
        CHECK(re_render_create(&r, NULL, &fr, RES, NULL) == RE_ERR_ARG);
        CHECK(re_render_create(&r, &photo, &fr, 62, NULL) == RE_ERR_ARG);
        re_face_frame bad = fr;
        bad.half = NAN;
        CHECK(re_render_create(&r, &photo, &bad, RES, NULL) == RE_ERR_ARG);
        re_render_opts ob;
        re_render_opts_default(&ob);
        ob.gate_hi = ob.gate_lo;
        CHECK(re_render_create(&r, &photo, &fr, RES, &ob) == RE_ERR_ARG);
        CHECK(r == NULL);
        re_render_opts_default(&ob);
        ob.eye_motion = 4.5f;
        CHECK(re_render_create(&r, &photo, &fr, RES, &ob) == RE_ERR_ARG);
        CHECK(r == NULL);
        CHECK_OK(re_render_create(&r, &photo, &fr, RES, NULL));
        CHECK(re_render_apply(r, dt, NULL, &out) == RE_ERR_ARG);   /* no source yet */
        float lm[RE_FACE_LANDMARKS][2] = {{0}};
        lm[3][1] = NAN;
        CHECK(re_render_set_source(r, ds, (const float(*)[2])lm) == RE_ERR_ARG);
        CHECK_OK(re_render_set_source(r, ds, NULL));
        dt[5] = NAN;
        CHECK(re_render_apply(r, dt, NULL, &out) == RE_ERR_NONFINITE);
        ds[7] = INFINITY;
        CHECK(re_render_set_source(r, ds, NULL) == RE_ERR_NONFINITE);
        re_render_free(r);
        re_render_free(NULL);
    }

    re_image_free(&photo);
    re_image_free(&want);
    re_image_free(&out);
    free(ds);
    free(dt);
    free(u);
    free(v);
    RE_TEST_END();
}
