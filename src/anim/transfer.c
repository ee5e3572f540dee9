/*
 * transfer.c - the math of latent motion transfer (include/reenact/anim.h): z_t = z_src + s * (z_drive(t) -
 * z_drive(ref)), reparameterized sampling with per-frame seeds, the One-Euro filter that smooths the driving codes,
 * and FOMM's landmark normalization used to pick the reference frame (--ref best).
 * Tested by tests/unit/test_anim.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "reenact/anim.h"


void re_anim_transfer(const float *z_src, const float *z_drive, const float *z_ref, float strength, int n,
                      float *z_out) {
    for (int i = 0; i < n; i++) z_out[i] = z_src[i] + strength * (z_drive[i] - z_ref[i]);
}

void re_anim_sample(const float *mu, const float *logvar, int n, uint64_t seed, uint64_t index, float *z) {
    re_rng rng;
    /* splitmix-style mixing of (seed, index) so neighbouring frames get unrelated streams */
    re_rng_seed(&rng, seed ^ (index * 0x9E3779B97F4A7C15ULL + 0xD1B54A32D192ED03ULL));
    for (int i = 0; i < n; i++) {
        float lv = logvar ? logvar[i] : 0.0f;
        if (!(lv >= -30.0f)) lv = -30.0f;   /* also catches NaN */
        if (lv > 20.0f) lv = 20.0f;
        z[i] = mu[i] + expf(0.5f * lv) * re_rng_normal(&rng);
    }
}

/* ---- One-Euro filter over a vector ------------------------------------------------------------------------ */
struct re_latent_filter {
    int dim;
    double dt;
    re_latent_filter_opts o;
    int init;
    float *x;    /* [dim] filtered code */
    float *dx;   /* [dim] filtered derivative */
};

void re_latent_filter_opts_default(re_latent_filter_opts *o) {
    o->min_cutoff = 1.5f;
    o->beta = 0.7f;
    o->d_cutoff = 1.0f;
}

re_status re_latent_filter_create(re_latent_filter **out, int dim, double fps, const re_latent_filter_opts *opts) {
    if (!out) return re_fail(RE_ERR_ARG, "re_latent_filter_create: NULL output pointer");
    *out = NULL;
    re_latent_filter_opts o;
    if (opts) o = *opts;
    else re_latent_filter_opts_default(&o);
    if (dim < 1 || dim > RE_MOTION_MAX_LATENT)
        return re_fail(RE_ERR_ARG, "re_latent_filter_create: dim must be 1..%d, got %d", RE_MOTION_MAX_LATENT, dim);
    if (!(fps > 0 && fps < 1e6)) return re_fail(RE_ERR_ARG, "re_latent_filter_create: fps must be > 0, got %g", fps);
    if (!(o.min_cutoff > 0 && o.min_cutoff < 1e6) || !(o.beta >= 0 && o.beta < 1e6) ||
        !(o.d_cutoff > 0 && o.d_cutoff < 1e6))
        return re_fail(RE_ERR_ARG, "re_latent_filter_create: need min_cutoff > 0, beta >= 0, d_cutoff > 0 "
                       "(got %g, %g, %g)", o.min_cutoff, o.beta, o.d_cutoff);
    re_latent_filter *f = re_alloc(sizeof *f, "latent filter");
    if (!f) return RE_ERR_NOMEM;
    f->x = re_alloc((size_t)dim * sizeof *f->x, "latent filter state");
    f->dx = re_alloc((size_t)dim * sizeof *f->dx, "latent filter state");
    if (!f->x || !f->dx) {
        re_latent_filter_free(f);
        return RE_ERR_NOMEM;
    }
    f->dim = dim;
    f->dt = 1.0 / fps;
    f->o = o;
    *out = f;
    return RE_OK;
}

static double alpha_of(double cutoff, double dt) {
    const double tau = 1.0 / (2.0 * RE_PI * cutoff);
    return 1.0 / (1.0 + tau / dt);
}

void re_latent_filter_apply(re_latent_filter *f, float *z) {
    if (!f || !z) return;
    const int n = f->dim;
    int finite = 1;
    for (int i = 0; i < n; i++) finite &= isfinite(z[i]) != 0;
    if (!f->init || !finite) {
        if (finite) {
            memcpy(f->x, z, (size_t)n * sizeof *z);
            memset(f->dx, 0, (size_t)n * sizeof *f->dx);
            f->init = 1;
        } else {
            f->init = 0;
        }
        return;
    }
    const double ad = alpha_of(f->o.d_cutoff, f->dt);
    double ss = 0;
    for (int i = 0; i < n; i++) {
        const double d = (z[i] - f->x[i]) / f->dt;
        f->dx[i] = (float)(ad * d + (1.0 - ad) * f->dx[i]);
        ss += (double)f->dx[i] * f->dx[i];
    }
    const double speed = sqrt(ss / n);
    const double a = alpha_of(f->o.min_cutoff + f->o.beta * speed, f->dt);
    for (int i = 0; i < n; i++) {
        f->x[i] = (float)(a * z[i] + (1.0 - a) * f->x[i]);
        z[i] = f->x[i];
    }
}

void re_latent_filter_reset(re_latent_filter *f) {
    if (f) f->init = 0;
}

void re_latent_filter_free(re_latent_filter *f) {
    if (!f) return;
    re_free(f->x);
    re_free(f->dx);
    re_free(f);
}

/* ---- Landmark normalization (FOMM normalize_kp: centered, divided by sqrt of the convex hull's area) ------- */
static double cross3(const double *o, const double *a, const double *b) {
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}

static int cmp_pt(const void *pa, const void *pb) {
    const double *a = pa, *b = pb;
    if (a[0] != b[0]) return a[0] < b[0] ? -1 : 1;
    return (a[1] > b[1]) - (a[1] < b[1]);
}

/* Area of the convex hull of n points (Andrew's monotone chain). */
static double hull_area(double (*p)[2], int n) {
    double h[2 * RE_FACE_LANDMARKS + 2][2];
    int k = 0;
    qsort(p, (size_t)n, sizeof *p, cmp_pt);
    for (int i = 0; i < n; i++) {
        while (k >= 2 && cross3(h[k - 2], h[k - 1], p[i]) <= 0) k--;
        h[k][0] = p[i][0];
        h[k][1] = p[i][1];
        k++;
    }
    for (int i = n - 2, lo = k + 1; i >= 0; i--) {
        while (k >= lo && cross3(h[k - 2], h[k - 1], p[i]) <= 0) k--;
        h[k][0] = p[i][0];
        h[k][1] = p[i][1];
        k++;
    }
    double a = 0;
    for (int i = 0; i + 1 < k; i++) a += h[i][0] * h[i + 1][1] - h[i + 1][0] * h[i][1];
    return fabs(a) * 0.5;
}

re_status re_anim_landmarks_normalize(const float lm[RE_FACE_LANDMARKS][2], float out[RE_FACE_LANDMARKS][2]) {
    if (!lm || !out) return re_fail(RE_ERR_ARG, "re_anim_landmarks_normalize: NULL argument");
    double p[RE_FACE_LANDMARKS][2], mx = 0, my = 0;
    for (int i = 0; i < RE_FACE_LANDMARKS; i++) {
        if (!isfinite(lm[i][0]) || !isfinite(lm[i][1]))
            return re_fail(RE_ERR_ARG, "re_anim_landmarks_normalize: landmark %d is not finite", i);
        p[i][0] = lm[i][0];
        p[i][1] = lm[i][1];
        mx += p[i][0];
        my += p[i][1];
    }
    mx /= RE_FACE_LANDMARKS;
    my /= RE_FACE_LANDMARKS;
    const double area = hull_area(p, RE_FACE_LANDMARKS);
    if (!(area > 1e-12))
        return re_fail(RE_ERR_ARG, "re_anim_landmarks_normalize: landmarks are collinear (hull area %g)", area);
    const double s = 1.0 / sqrt(area);
    for (int i = 0; i < RE_FACE_LANDMARKS; i++) {
        const double x = lm[i][0], y = lm[i][1];
        out[i][0] = (float)((x - mx) * s);
        out[i][1] = (float)((y - my) * s);
    }
    return RE_OK;
}

float re_anim_landmarks_distance(const float a[RE_FACE_LANDMARKS][2], const float b[RE_FACE_LANDMARKS][2]) {
    double s = 0;
    for (int i = 0; i < RE_FACE_LANDMARKS; i++) {
        const double dx = (double)a[i][0] - b[i][0], dy = (double)a[i][1] - b[i][1];
        s += dx * dx + dy * dy;
    }
    return (float)s;
}
