/*
 * test_directions.c - tests of include/reenact/directions.h: attributes from landmarks (each responds to its own
 * motion and is invariant to scale, translation and rotation where it should be), the within-clip fits on synthetic
 * clips whose true directions are known (patterns, held-out R^2, a motion space that excludes identity), the
 * calibration and the control solve on a synthetic decoder, steering (plain arithmetic as the neutral case, --lips 0,
 * regions, offsets, which directions to steer with), the per-driver steering state (anim.h, re_steer_state) against
 * the formula by hand, the directions inside a model file (round trip, weights_sha256 equal to the plain file's
 * data_sha256, and malformed entries refused with their status). Needs models/demo.motion (landmarks of a real face).
 *   Run: ./build/tests/test_directions     (cwd = repo root; ctest does that)
 *   RE_WRITE_DIRECTIONS_CORPUS=DIR ./build/tests/test_directions   also writes the fuzz seed corpus there.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/safetensors.h"
#include "model/directions_io.h"
#include "re_test.h"
#include "reenact/anim.h"
#include "reenact/directions.h"

#define K RE_ATTR_COUNT

static uint64_t g_rng = 88172645463325252ULL;
static double urand(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}
static double nrand(void) {
    double u = urand() + 1e-12, v = urand();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* ---- attributes --------------------------------------------------------------------------------------------- */
static void test_attributes(const float lm0[RE_FACE_LANDMARKS][2]) {
    float a0[K], a[K], lm[RE_FACE_LANDMARKS][2];
    CHECK_OK(re_face_attributes(lm0, a0));
    /* open the mouth: the lower inner lip moves down */
    memcpy(lm, lm0, sizeof lm);
    for (int i = 65; i <= 67; i++) lm[i][1] += 0.05f;
    CHECK_OK(re_face_attributes((const float(*)[2])lm, a));
    CHECK_MSG(a[RE_ATTR_MOUTH] > a0[RE_ATTR_MOUTH] + 0.02f, "mouth %g -> %g", a0[RE_ATTR_MOUTH], a[RE_ATTR_MOUTH]);
    CHECK(fabsf(a[RE_ATTR_YAW] - a0[RE_ATTR_YAW]) < 1e-3f && fabsf(a[RE_ATTR_EYE_L] - a0[RE_ATTR_EYE_L]) < 1e-4f);
    /* wider mouth: the corners move apart -> more smile */
    memcpy(lm, lm0, sizeof lm);
    lm[48][0] -= 0.03f;
    lm[54][0] += 0.03f;
    CHECK_OK(re_face_attributes((const float(*)[2])lm, a));
    CHECK(a[RE_ATTR_SMILE] > a0[RE_ATTR_SMILE] + 0.01f);
    /* close the image-left eye */
    memcpy(lm, lm0, sizeof lm);
    for (int i = 37; i <= 38; i++) lm[i][1] = 0.5f * (lm0[i][1] + lm0[i + 4 - 2 * (i - 37)][1]);
    CHECK_OK(re_face_attributes((const float(*)[2])lm, a));
    CHECK(a[RE_ATTR_EYE_L] < a0[RE_ATTR_EYE_L] - 0.05f);
    CHECK(fabsf(a[RE_ATTR_EYE_R] - a0[RE_ATTR_EYE_R]) < 1e-5f);
    /* raise the brows */
    memcpy(lm, lm0, sizeof lm);
    for (int i = 17; i <= 26; i++) lm[i][1] -= 0.03f;
    CHECK_OK(re_face_attributes((const float(*)[2])lm, a));
    CHECK(a[RE_ATTR_BROWS] > a0[RE_ATTR_BROWS] + 0.01f);
    /* the nose tip towards the image right: yaw > 0 */
    memcpy(lm, lm0, sizeof lm);
    lm[30][0] += 0.05f;
    CHECK_OK(re_face_attributes((const float(*)[2])lm, a));
    CHECK(a[RE_ATTR_YAW] > a0[RE_ATTR_YAW] + 1.0f);
    /* scale + translation + rotation by 10 degrees: all the same, roll + 10 */
    const double th = 10 * 3.14159265358979 / 180, c = cos(th), s = sin(th);
    for (int i = 0; i < RE_FACE_LANDMARKS; i++) {
        lm[i][0] = (float)(3.0 * (c * lm0[i][0] - s * lm0[i][1]) + 100);
        lm[i][1] = (float)(3.0 * (s * lm0[i][0] + c * lm0[i][1]) - 40);
    }
    CHECK_OK(re_face_attributes((const float(*)[2])lm, a));
    for (int k = 0; k < K; k++) {
        const double want = a0[k] + (k == RE_ATTR_ROLL ? 10.0 : 0.0);
        CHECK_MSG(fabs(a[k] - want) < (k >= RE_ATTR_YAW ? 0.05 : 1e-3), "%s %g vs %g", re_attr_name(k), a[k], want);
    }
    /* degenerate and non-finite landmarks are refused */
    memset(lm, 0, sizeof lm);
    CHECK(re_face_attributes((const float(*)[2])lm, a) == RE_ERR_ARG);
    memcpy(lm, lm0, sizeof lm);
    lm[5][0] = NAN;
    CHECK(re_face_attributes((const float(*)[2])lm, a) == RE_ERR_ARG);
    CHECK(re_attr_from_name("yaw") == RE_ATTR_YAW && re_attr_from_name("nose") == -1 && re_attr_name(K) == NULL);
}

/* ---- synthetic clips: codes = identity + sum_k a_k B_k + noise ---------------------------------------------- */
#define SL 16
static float g_B[K][SL];

static re_directions *fit_synthetic(int n_clips, int frames) {
    for (int k = 0; k < K; k++)
        for (int i = 0; i < SL; i++) g_B[k][i] = (float)nrand();
    re_dir_fit *f = NULL;
    CHECK_OK(re_dir_fit_create(&f, SL, 1e-4));
    float *z = malloc((size_t)frames * SL * sizeof(float)), *a = malloc((size_t)frames * K * sizeof(float));
    uint8_t *ok = malloc((size_t)frames);
    for (int c = 0; c < n_clips; c++) {
        float id[SL];
        for (int i = 0; i < SL; i++) id[i] = (float)(5 * nrand());   /* identity: far larger than the motion */
        for (int t = 0; t < frames; t++) {
            ok[t] = t % 17 != 5;   /* some frames without a face */
            for (int k = 0; k < K; k++) a[t * K + k] = (float)((k + 1) * 0.1 * nrand());
            for (int i = 0; i < SL; i++) {
                double v = id[i] + 0.01 * nrand();
                for (int k = 0; k < K; k++) v += a[t * K + k] * g_B[k][i];
                z[t * SL + i] = ok[t] ? (float)v : NAN;   /* invalid frames are never read */
            }
        }
        int used = 0;
        CHECK_OK(re_dir_fit_add_clip(f, z, a, ok, frames, c % 4 == 3, &used));
        CHECK(used == 1);
    }
    /* a clip with too few frames is ignored */
    int used = 1;
    CHECK_OK(re_dir_fit_add_clip(f, z, a, ok, 2, 0, &used));
    CHECK(used == 0);
    re_directions *d = NULL;
    CHECK_OK(re_dir_fit_finish(f, 0.999, &d));
    re_dir_fit_free(f);
    free(z);
    free(a);
    free(ok);
    return d;
}

static void test_fit(void) {
    re_directions *d = fit_synthetic(12, 60);
    if (!d) return;
    CHECK(d->latent == SL && d->clips == 12);
    for (int k = 0; k < K; k++) {
        double err = 0, nn = 0;
        for (int i = 0; i < SL; i++) {
            err += pow(d->pattern[k * SL + i] - g_B[k][i], 2);
            nn += pow(g_B[k][i], 2);
        }
        CHECK_MSG(sqrt(err / nn) < 0.05, "pattern %s off by %.3f", re_attr_name(k), sqrt(err / nn));
        CHECK_MSG(d->r2[k] > 0.95, "held-out R2 of %s is %.3f", re_attr_name(k), d->r2[k]);
        CHECK(fabs(d->sigma[k] - (k + 1) * 0.1) < 0.02 * (k + 1));
        /* the filter inverts the patterns: F P^T ~ I */
        for (int j = 0; j < K; j++) {
            double fp = 0;
            for (int i = 0; i < SL; i++) fp += (double)d->filter[k * SL + i] * d->pattern[j * SL + i];
            CHECK_MSG(fabs(fp - (j == k)) < 0.05, "F[%d] . P[%d] = %.3f", k, j, fp);
        }
    }
    /* the motion space: K components explain the motion; each B_k lies in it; rows orthonormal */
    CHECK_MSG(d->n_motion >= K && d->n_motion <= K + 2, "%d motion components", d->n_motion);
    for (int m = 0; m < d->n_motion; m++)
        for (int q = 0; q < d->n_motion; q++) {
            double dot = 0;
            for (int i = 0; i < SL; i++) dot += (double)d->basis[m * SL + i] * d->basis[q * SL + i];
            CHECK(fabs(dot - (m == q)) < 1e-4);
        }
    for (int k = 0; k < K; k++) {
        double in = 0, nn = 0;
        for (int m = 0; m < d->n_motion; m++) {
            double c = 0;
            for (int i = 0; i < SL; i++) c += (double)d->basis[m * SL + i] * g_B[k][i];
            in += c * c;
        }
        for (int i = 0; i < SL; i++) nn += g_B[k][i] * g_B[k][i];
        CHECK_MSG(in / nn > 0.99, "direction %d keeps %.3f of its norm in the motion space", k, in / nn);
    }
    /* too little data */
    re_dir_fit *f = NULL;
    re_directions *none = NULL;
    CHECK_OK(re_dir_fit_create(&f, SL, 0));
    CHECK(re_dir_fit_finish(f, 0, &none) == RE_ERR_ARG && none == NULL);
    float nanz[3 * SL], a3[3 * K] = {0};
    for (int i = 0; i < 3 * SL; i++) nanz[i] = i == 7 ? NAN : 0.0f;
    CHECK(re_dir_fit_add_clip(f, nanz, a3, NULL, 3, 0, NULL) == RE_ERR_ARG);
    re_dir_fit_free(f);
    CHECK(re_dir_fit_create(&f, 0, 0) == RE_ERR_ARG);
    re_directions_free(d);
}

/* ---- calibration on a synthetic decoder: faces are codes, attributes are read linearly with cross-talk ------- */
static float g_W[K][SL];   /* measured attributes = W z */
static re_status syn_decode(const float *z, int n, float *faces, void *user) {
    (void)user;
    memcpy(faces, z, (size_t)n * SL * sizeof(float));
    return RE_OK;
}
static int syn_measure(const float *face, float a[K], void *user) {
    (void)user;
    for (int k = 0; k < K; k++) {
        double s = 0;
        for (int i = 0; i < SL; i++) s += (double)g_W[k][i] * face[i];
        a[k] = (float)s;
    }
    return 1;
}

static void test_calibrate_and_steer(void) {
    re_directions *d = fit_synthetic(8, 50);
    if (!d) return;
    /* the decoder answers weakly (0.4 of the truth) and each direction leaks 0.15 into the next attribute */
    for (int k = 0; k < K; k++)
        for (int i = 0; i < SL; i++)
            g_W[k][i] = (float)(0.4 * d->filter[k * SL + i] + (k ? 0.15 * d->filter[(k - 1) * SL + i] : 0.0));
    float codes[4 * SL], real[4 * K];
    for (int i = 0; i < 4 * SL; i++) codes[i] = (float)nrand();
    for (int n = 0; n < 4; n++) syn_measure(codes + n * SL, real + n * K, NULL);
    CHECK(re_dir_calibrate(d, codes, real, 0, SL, syn_decode, syn_measure, NULL) == RE_ERR_ARG);
    CHECK_OK(re_dir_calibrate(d, codes, real, 4, SL, syn_decode, syn_measure, NULL));
    CHECK_MSG(fabs(d->response[RE_ATTR_MOUTH * K + RE_ATTR_MOUTH] - 0.4) < 0.03, "response %g",
              d->response[RE_ATTR_MOUTH * K + RE_ATTR_MOUTH]);
    CHECK(fabs(d->smile_bias) < 1e-3);   /* decoding is exact here */
    for (int k = 0; k < K; k++) {
        CHECK_MSG(fabs(d->gain[k] - 1) < 0.1, "control gain of %s: %.3f", re_attr_name(k), d->gain[k]);
        CHECK_MSG(d->cross[k] < 0.1, "control cross-talk of %s: %.3f", re_attr_name(k), d->cross[k]);
    }
    float dz[SL], out[SL], tmp[2 * SL];
    for (int i = 0; i < SL; i++) dz[i] = (float)nrand();
    /* neutral options: plain latent arithmetic */
    re_steer_opts o;
    re_steer_opts_default(&o);
    CHECK(re_steer_active(&o));
    o.attr_drive = 0;
    o.space = RE_MSPACE_FULL;
    CHECK(!re_steer_active(&o));
    re_steer_apply(d, &o, dz, NULL, 0.7f, out, tmp);
    for (int i = 0; i < SL; i++) CHECK(fabsf(out[i] - 0.7f * dz[i]) < 1e-4f);
    /* --lips 0 without the driver's attributes: the output carries no mouth or smile */
    o.lips = 0;
    CHECK(re_steer_active(&o));
    re_steer_apply(d, &o, dz, NULL, 1, out, tmp);
    for (int k = RE_ATTR_MOUTH; k <= RE_ATTR_SMILE; k++) {
        double ah = 0;
        for (int i = 0; i < SL; i++) ah += (double)d->filter[k * SL + i] * out[i];
        CHECK_MSG(fabs(ah) < 0.02, "%s left: %.4f", re_attr_name(k), ah);
    }
    /* --lips 0 with the driver's attributes: the rest of the motion is cleaned of what the filters read, so a code
     * delta that differs only along the mouth's pattern gives the same output (without the cleaning it moved by the
     * part of the pattern that F P != I leaves in the rest) */
    {
        float dz2[SL], out2[SL], dav[K];
        for (int k = 0; k < K; k++) dav[k] = (float)(d->sigma[k] * nrand());
        for (int i = 0; i < SL; i++) dz2[i] = dz[i] + 2.0f * d->pattern[RE_ATTR_MOUTH * SL + i];
        re_steer_opts_default(&o);
        o.space = RE_MSPACE_FULL;
        o.lips = 0;
        re_steer_apply(d, &o, dz, dav, 1, out, tmp);
        re_steer_apply(d, &o, dz2, dav, 1, out2, tmp);
        double moved = 0, size = 0;
        for (int i = 0; i < SL; i++) {
            moved += (double)(out2[i] - out[i]) * (out2[i] - out[i]);
            size += 4.0 * d->pattern[RE_ATTR_MOUTH * SL + i] * d->pattern[RE_ATTR_MOUTH * SL + i];
        }
        CHECK_MSG(sqrt(moved) < 1e-3 * sqrt(size), "--lips 0: a mouth-only change of the delta moved the output by %.2e "
                  "(of %.2e)", sqrt(moved), sqrt(size));
        o.lips = 1;   /* as driven: the default keeps the rest as it was, so the same change does move it */
        re_steer_apply(d, &o, dz, dav, 1, out, tmp);
        re_steer_apply(d, &o, dz2, dav, 1, out2, tmp);
        moved = 0;
        for (int i = 0; i < SL; i++) moved += (double)(out2[i] - out[i]) * (out2[i] - out[i]);
        printf("mouth-only change of the delta: output moved %.2e with --lips 1 (rest kept), of %.2e\n", sqrt(moved),
               sqrt(size));
    }
    /* attribute drive: the decoded attributes of the steered delta match the driver's changes */
    re_steer_opts_default(&o);
    o.space = RE_MSPACE_FULL;
    float da[K], meas[K], zero[SL] = {0}, base[K];
    for (int k = 0; k < K; k++) da[k] = (float)(d->sigma[k] * nrand());
    o.region = RE_REGION_POSE;   /* pose only: the expression stays where it was */
    re_steer_apply(d, &o, dz, da, 1, out, tmp);
    syn_measure(out, meas, NULL);
    syn_measure(zero, base, NULL);
    for (int k = 0; k < K; k++) {
        const double want = k >= RE_ATTR_YAW ? da[k] : 0;
        CHECK_MSG(fabs(meas[k] - base[k] - want) < 0.15 * d->sigma[k], "%s: %.4f, want %.4f", re_attr_name(k),
                  meas[k] - base[k], want);
    }
    /* offsets: +1 sigma of smile, nothing else */
    re_steer_opts_default(&o);
    o.attr_drive = 0;
    o.region = RE_REGION_EXPRESSION;
    o.lips = o.eyes = 0;
    for (int i = 0; i < SL; i++) dz[i] = 0;
    o.offset[RE_ATTR_SMILE] = d->sigma[RE_ATTR_SMILE];
    CHECK_OK(re_steer_opts_check(&o, d));
    re_steer_apply(d, &o, dz, NULL, 1, out, tmp);
    syn_measure(out, meas, NULL);
    CHECK(fabs(meas[RE_ATTR_SMILE] - d->sigma[RE_ATTR_SMILE]) < 0.15 * d->sigma[RE_ATTR_SMILE]);
    CHECK(fabs(meas[RE_ATTR_MOUTH]) < 0.15 * d->sigma[RE_ATTR_MOUTH]);
    /* option ranges */
    o.offset[RE_ATTR_SMILE] = 5 * d->sigma[RE_ATTR_SMILE];
    CHECK(re_steer_opts_check(&o, d) == RE_ERR_ARG);
    re_steer_opts_default(&o);
    o.offset[RE_ATTR_YAW] = 60;
    CHECK(re_steer_opts_check(&o, d) == RE_ERR_ARG);
    re_steer_opts_default(&o);
    o.lips = -1;
    CHECK(re_steer_opts_check(&o, NULL) == RE_ERR_ARG);
    o.lips = NAN;
    CHECK(re_steer_opts_check(&o, NULL) == RE_ERR_ARG);
    /* the mouth relative to the photo's own */
    float ad[K] = {0}, ar[K] = {0}, ap[K] = {0};
    ad[RE_ATTR_MOUTH] = 0.3f;
    ar[RE_ATTR_MOUTH] = 0.35f;
    ap[RE_ATTR_MOUTH] = 0.01f;
    re_steer_opts_default(&o);
    re_steer_attr_delta(&o, ad, ar, ap, da);
    CHECK(fabsf(da[RE_ATTR_MOUTH] - 0.29f) < 1e-6f);
    o.mouth_absolute = 0;
    re_steer_attr_delta(&o, ad, ar, ap, da);
    CHECK(fabsf(da[RE_ATTR_MOUTH] + 0.05f) < 1e-6f);
    re_directions_free(d);
}

/* ---- the steering state (anim.h): the same frames through re_steer_state_next and through the formula by hand ---- */
/* want = z_src + re_steer_apply(z - z_ref, da or NULL) */
static void steer_by_hand(const re_directions *d, const re_steer_opts *o, float s, const float *zs, const float *z,
                          const float *zr, const float *da, float *want) {
    float dz[SL], tmp[2 * SL];
    for (int i = 0; i < SL; i++) dz[i] = z[i] - zr[i];
    re_steer_apply(d, o, dz, da, s, dz, tmp);
    for (int i = 0; i < SL; i++) want[i] = zs[i] + dz[i];
}

static void test_steer_state(void) {
    re_directions *d = fit_synthetic(8, 50);
    if (!d) return;
    enum { T = 6 };
    float zs[SL], zr[SL], z[T][SL], a[T][K], ap[K], out[SL], want[SL], da[K];
    for (int i = 0; i < SL; i++) zs[i] = (float)nrand(), zr[i] = (float)nrand();
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < SL; i++) z[t][i] = (float)nrand();
        for (int k = 0; k < K; k++) a[t][k] = (float)(d->sigma[k] * nrand());
    }
    for (int k = 0; k < K; k++) ap[k] = (float)(d->sigma[k] * nrand());
    re_steer_opts o;
    re_steer_opts_default(&o);
    re_steer_state *st = NULL;

    /* arguments */
    CHECK(re_steer_state_create(NULL, d, &o, 1, SL, 25, NULL) == RE_ERR_ARG);
    CHECK(re_steer_state_create(&st, NULL, NULL, 1, 0, 25, NULL) == RE_ERR_ARG && !st);
    CHECK(re_steer_state_create(&st, d, &o, 1, SL + 1, 25, NULL) == RE_ERR_ARG && !st);
    CHECK(re_steer_state_create(&st, d, NULL, 1, SL, 25, NULL) == RE_ERR_ARG && !st);
    CHECK(re_steer_state_create(&st, NULL, NULL, NAN, SL, 25, NULL) == RE_ERR_ARG && !st);
    o.lips = -1;
    CHECK(re_steer_state_create(&st, d, &o, 1, SL, 25, NULL) == RE_ERR_ARG && !st);
    re_steer_opts_default(&o);
    re_steer_state_free(NULL);

    /* what to steer with */
    const re_directions *use = d;
    CHECK(re_steer_directions(NULL, &o, &use) == RE_OK && !use);   /* defaults: plain arithmetic without directions */
    CHECK(re_steer_directions(d, &o, &use) == RE_OK && use == d);
    o.attr_drive = 0;
    o.space = RE_MSPACE_FULL;
    CHECK(re_steer_directions(d, &o, &use) == RE_OK && !use);      /* nothing to steer */
    o.lips = 0;
    CHECK(re_steer_directions(NULL, &o, &use) == RE_ERR_UNSUPPORTED && !use);
    o.lips = 4;
    CHECK(re_steer_directions(d, &o, &use) == RE_ERR_ARG && !use);
    re_steer_opts_default(&o);
    o.debias = 1;
    const float sb = d->smile_bias;
    d->smile_bias = NAN;
    CHECK(re_steer_directions(d, &o, &use) == RE_ERR_UNSUPPORTED && !use);
    d->smile_bias = 0.1f;
    CHECK(re_steer_directions(d, &o, &use) == RE_OK && use == d);
    d->smile_bias = sb;
    re_steer_opts_default(&o);

    /* without directions: re_anim_transfer, attributes ignored */
    CHECK_OK(re_steer_state_create(&st, NULL, NULL, 0.7f, SL, 25, NULL));
    re_steer_state_next(st, zs, z[0], zr, a[0], out);
    re_anim_transfer(zs, z[0], zr, 0.7f, SL, want);
    CHECK(memcmp(out, want, sizeof out) == 0);
    re_steer_state_free(st);

    /* with directions, unsmoothed: no attributes yet (da NULL), then the first ones are the reference, a frame
     * without them holds the last, the mouth is measured from the photo's */
    CHECK_OK(re_steer_state_create(&st, d, &o, 0.8f, SL, 25, NULL));
    re_steer_state_set_photo(st, ap);
    re_steer_state_next(st, zs, z[0], zr, NULL, out);
    steer_by_hand(d, &o, 0.8f, zs, z[0], zr, NULL, want);
    CHECK_MSG(memcmp(out, want, sizeof out) == 0, "steering before any attributes");
    re_steer_state_next(st, zs, z[1], zr, a[1], out);
    re_steer_attr_delta(&o, a[1], a[1], ap, da);
    steer_by_hand(d, &o, 0.8f, zs, z[1], zr, da, want);
    CHECK_MSG(memcmp(out, want, sizeof out) == 0, "steering, first attributes");
    re_steer_state_next(st, zs, z[2], zr, NULL, out);
    steer_by_hand(d, &o, 0.8f, zs, z[2], zr, da, want);
    CHECK_MSG(memcmp(out, want, sizeof out) == 0, "steering, attributes held");
    memcpy(out, z[3], sizeof out);   /* z_out may alias z_drive */
    re_steer_state_next(st, zs, out, zr, a[3], out);
    re_steer_attr_delta(&o, a[3], a[1], ap, da);
    steer_by_hand(d, &o, 0.8f, zs, z[3], zr, da, want);
    CHECK_MSG(memcmp(out, want, sizeof out) == 0, "steering, later attributes against the first");

    /* reset: a new driver, whose first attributes are the new reference; the photo's stay */
    re_steer_state_reset(st);
    re_steer_state_next(st, zs, z[4], zr, a[4], out);
    re_steer_attr_delta(&o, a[4], a[4], ap, da);
    steer_by_hand(d, &o, 0.8f, zs, z[4], zr, da, want);
    CHECK_MSG(memcmp(out, want, sizeof out) == 0, "steering after a reset");
    re_steer_state_free(st);

    /* a given reference (--ref best), no photo attributes, and the attributes smoothed like the codes */
    re_latent_filter_opts fo;
    re_latent_filter_opts_default(&fo);
    re_latent_filter *f = NULL;
    CHECK_OK(re_latent_filter_create(&f, K, 30, &fo));
    CHECK_OK(re_steer_state_create(&st, d, &o, 1, SL, 30, &fo));
    re_steer_state_set_ref(st, a[0]);
    for (int t = 1; t < T; t++) {
        float as[K];
        memcpy(as, a[t], sizeof as);
        re_latent_filter_apply(f, as);
        re_steer_state_next(st, zs, z[t], zr, a[t], out);
        re_steer_attr_delta(&o, as, a[0], NULL, da);
        steer_by_hand(d, &o, 1, zs, z[t], zr, da, want);
        CHECK_MSG(memcmp(out, want, sizeof out) == 0, "smoothed steering, frame %d", t);
    }
    re_latent_filter_free(f);
    re_steer_state_free(st);

    /* a pose reference (--ref pose): yaw, pitch and roll measured against a[0], the rest against the first attributes
     * seen; given before the first frame or after it, and forgotten by a reset */
    for (int late = 0; late < 2; late++) {
        re_steer_opts_default(&o);
        CHECK_OK(re_steer_state_create(&st, d, &o, 1, SL, 25, NULL));
        re_steer_state_set_photo(st, ap);
        if (!late) re_steer_state_set_pose_ref(st, a[0]);
        re_steer_state_next(st, zs, z[1], zr, a[1], out);
        if (late) re_steer_state_set_pose_ref(st, a[0]);
        re_steer_state_next(st, zs, z[3], zr, a[3], out);
        float ref[K];
        memcpy(ref, a[1], sizeof ref);
        for (int k = RE_ATTR_YAW; k <= RE_ATTR_ROLL; k++) ref[k] = a[0][k];
        re_steer_attr_delta(&o, a[3], ref, ap, da);
        CHECK_MSG(da[RE_ATTR_YAW] == a[3][RE_ATTR_YAW] - a[0][RE_ATTR_YAW] &&
                      da[RE_ATTR_SMILE] == a[3][RE_ATTR_SMILE] - a[1][RE_ATTR_SMILE],
                  "pose reference deltas");
        steer_by_hand(d, &o, 1, zs, z[3], zr, da, want);
        CHECK_MSG(memcmp(out, want, sizeof out) == 0, "steering with a pose reference (given %s the first frame)",
                  late ? "after" : "before");
        re_steer_state_reset(st);   /* a new driver: its own first attributes for everything */
        re_steer_state_next(st, zs, z[4], zr, a[4], out);
        re_steer_attr_delta(&o, a[4], a[4], ap, da);
        steer_by_hand(d, &o, 1, zs, z[4], zr, da, want);
        CHECK_MSG(memcmp(out, want, sizeof out) == 0, "a reset forgets the pose reference");
        re_steer_state_free(st);
    }

    /* the renderer's parts: the eyes' opening from the driver's against its reference's, scaled by strength and
     * --eyes, plus the offset over the reference's; still eyes (ratio 1) in a region without them or with --eyes 0;
     * a still mouth with --lips 0 or a region without it; nothing before attributes, without attribute drive, or
     * with a reference whose eyes are closed; the pose (yaw, pitch, roll) from the driver with attribute drive */
    {
        float ar[K], an[K];
        re_render_parts rp;
        for (int k = 0; k < K; k++) ar[k] = an[k] = 0;
        ar[RE_ATTR_EYE_L] = 0.30f, ar[RE_ATTR_EYE_R] = 0.25f;
        an[RE_ATTR_EYE_L] = 0.06f, an[RE_ATTR_EYE_R] = 0.30f;   /* a wink of the image-left eye */
        ar[RE_ATTR_YAW] = 2, ar[RE_ATTR_PITCH] = -3, ar[RE_ATTR_ROLL] = 1;
        an[RE_ATTR_YAW] = 8, an[RE_ATTR_PITCH] = 0, an[RE_ATTR_ROLL] = -1;
        re_steer_opts_default(&o);
        o.eyes = 0.5f;
        o.offset[RE_ATTR_EYE_R] = 0.05f;
        o.offset[RE_ATTR_YAW] = 5;
        CHECK_OK(re_steer_state_create(&st, d, &o, 2.0f, SL, 25, NULL));
        CHECK(re_steer_state_render_parts(st, &rp) == 0 && !rp.eyes && !rp.mouth_still);   /* no attributes yet */
        re_steer_state_set_ref(st, ar);
        re_steer_state_next(st, zs, z[0], zr, an, out);
        CHECK(re_steer_state_render_parts(st, &rp) == 1 && rp.eyes && !rp.mouth_still);
        /* left: 1 + 2 * 0.5 * (0.06 / 0.30 - 1) = 0.2; right: 1 + 1 * (0.30 / 0.25 - 1) + 0.05 / 0.25 = 1.4 */
        CHECK_MSG(fabsf(rp.eye_ratio[0] - 0.2f) < 1e-5f && fabsf(rp.eye_ratio[1] - 1.4f) < 1e-5f, "eye ratio %g %g",
                  rp.eye_ratio[0], rp.eye_ratio[1]);
        /* the pose: s * (a - a_ref) + offset = 2 * (8 - 2) + 5 yaw, 2 * (0 - -3) pitch, 2 * (-1 - 1) roll */
        CHECK_MSG(rp.pose && fabsf(rp.yaw - 17.0f) < 1e-4f && fabsf(rp.pitch - 6.0f) < 1e-4f &&
                      fabsf(rp.roll + 4.0f) < 1e-4f,
                  "pose %d: %g %g %g", rp.pose, rp.yaw, rp.pitch, rp.roll);
        re_steer_state_free(st);
        o.eyes = 3.0f;   /* clamped at 0 */
        o.offset[RE_ATTR_EYE_R] = 0;
        CHECK_OK(re_steer_state_create(&st, d, &o, 1.0f, SL, 25, NULL));
        re_steer_state_set_ref(st, ar);
        re_steer_state_next(st, zs, z[0], zr, an, out);
        CHECK(re_steer_state_render_parts(st, &rp) == 1 && rp.eyes && rp.eye_ratio[0] == 0.0f);
        re_steer_state_free(st);
        /* region, --lips 0, --eyes 0: which parts stay still */
        const struct { re_region g; float lips, eyes; int eyes_still, mouth_still; } rc[] = {
            {RE_REGION_POSE, 1, 1, 1, 1},       {RE_REGION_LIPS, 1, 1, 1, 0}, {RE_REGION_EYES, 1, 1, 0, 1},
            {RE_REGION_EXPRESSION, 1, 1, 0, 0}, {RE_REGION_ALL, 0, 1, 0, 1},  {RE_REGION_ALL, 1, 0, 1, 0},
        };
        for (int v = 0; v < (int)(sizeof rc / sizeof rc[0]); v++) {
            re_steer_opts_default(&o);
            o.region = rc[v].g;
            o.lips = rc[v].lips;
            o.eyes = rc[v].eyes;
            CHECK_OK(re_steer_state_create(&st, d, &o, 1.0f, SL, 25, NULL));
            re_steer_state_set_ref(st, ar);
            re_steer_state_next(st, zs, z[0], zr, an, out);
            const int ret = re_steer_state_render_parts(st, &rp);
            CHECK_MSG(rp.mouth_still == rc[v].mouth_still, "mouth still, case %d", v);
            CHECK_MSG(rp.eyes == 1, "eyes set, case %d", v);
            if (rc[v].eyes_still)
                CHECK_MSG(rp.eye_ratio[0] == 1.0f && rp.eye_ratio[1] == 1.0f, "still eyes, case %d", v);
            else
                CHECK_MSG(fabsf(rp.eye_ratio[0] - 0.2f) < 1e-5f, "driven eyes, case %d: %g", v, rp.eye_ratio[0]);
            CHECK(ret == 1);
            /* the pose follows the driver in the regions with it, and stays the photo's in the others */
            const int pose_in = rc[v].g == RE_REGION_ALL || rc[v].g == RE_REGION_POSE;
            CHECK_MSG(rp.pose && rp.yaw == (pose_in ? 6.0f : 0.0f) && rp.roll == (pose_in ? -2.0f : 0.0f),
                      "pose, case %d: %d %g %g", v, rp.pose, rp.yaw, rp.roll);
            re_steer_state_free(st);
        }
        for (int v = 0; v < 2; v++) {   /* eyes from the decoded face: no attribute drive, closed reference eyes */
            re_steer_opts_default(&o);
            if (v == 0) o.attr_drive = 0;
            float aref[K];
            memcpy(aref, ar, sizeof aref);
            if (v == 1) aref[RE_ATTR_EYE_R] = 0.02f;
            CHECK_OK(re_steer_state_create(&st, d, &o, 1.0f, SL, 25, NULL));
            re_steer_state_set_ref(st, aref);
            re_steer_state_next(st, zs, z[0], zr, an, out);
            /* with closed reference eyes the pose is still driven; without attribute drive nothing is */
            CHECK_MSG(re_steer_state_render_parts(st, &rp) == v && !rp.eyes && rp.pose == v, "eyes not driven, case %d", v);
            re_steer_state_free(st);
        }
        {   /* a reference without a pose (NaN yaw): the generated face's pose */
            re_steer_opts_default(&o);
            float aref[K];
            memcpy(aref, ar, sizeof aref);
            aref[RE_ATTR_YAW] = NAN;
            CHECK_OK(re_steer_state_create(&st, d, &o, 1.0f, SL, 25, NULL));
            re_steer_state_set_ref(st, aref);
            re_steer_state_next(st, zs, z[0], zr, an, out);
            CHECK(re_steer_state_render_parts(st, &rp) == 1 && rp.eyes && !rp.pose);
            re_steer_state_free(st);
        }
        CHECK_OK(re_steer_state_create(&st, NULL, NULL, 1.0f, SL, 25, NULL));   /* plain arithmetic: nothing */
        re_steer_state_next(st, zs, z[0], zr, an, out);
        CHECK(re_steer_state_render_parts(st, &rp) == 0);
        re_steer_state_free(st);
        CHECK(re_steer_state_render_parts(NULL, &rp) == 0);
    }
    re_directions_free(d);
}

/* ---- the model file ---------------------------------------------------------------------------------------------- */
static char g_dir[512];

/* A directions-only safetensors buffer for re_dir_load, with the metadata JSON given (NULL: the valid one). */
static uint8_t *dir_buffer(const re_directions *d, const char *meta_override, int drop_tensor, size_t *len) {
    re_st_entry e[RE_DIR_N_TENSORS];
    char *json = NULL;
    CHECK(re_dir_entries(d, e, &json) == RE_DIR_N_TENSORS);
    const char *kv[2] = {"directions", meta_override ? meta_override : json};
    uint8_t *buf = NULL;
    re_st_entry keep[RE_DIR_N_TENSORS];
    size_t n = 0;
    for (int i = 0; i < RE_DIR_N_TENSORS; i++)
        if (i != drop_tensor) keep[n++] = e[i];
    CHECK_OK(re_st_write_mem(&buf, len, keep, n, kv, 1));
    free(json);
    return buf;
}

static re_status load_buffer(const uint8_t *buf, size_t len, int latent) {
    re_st_file *f = NULL;
    re_status s = re_st_load_mem(&f, buf, len, "<test>");
    if (s != RE_OK) return s;
    re_directions *d = NULL;
    s = re_dir_load(f, "<test>", latent, &d);
    re_directions_free(d);
    re_st_free(f);
    return s;
}

static void test_model_file(void) {
    re_directions *d = fit_synthetic(6, 40);
    if (!d) return;
    const char *corpus = getenv("RE_WRITE_DIRECTIONS_CORPUS");
    size_t len;
    uint8_t *good = dir_buffer(d, NULL, -1, &len);
    CHECK_OK(load_buffer(good, len, SL));
    CHECK(load_buffer(good, len, SL + 1) == RE_ERR_SHAPE);   /* another latent size */
    re_test_save_corpus(corpus, "valid.safetensors", good, len);
    free(good);
    struct bad { const char *name, *meta; int drop; re_status want; } bads[] = {
        {"meta_not_json", "{", -1, RE_ERR_BAD_HEADER},
        {"meta_version", "{\"version\":2}", -1, RE_ERR_VERSION},
        {"meta_names", "{\"version\":1,\"attributes\":[\"mouth\"]}", -1, RE_ERR_BAD_HEADER},
        {"meta_no_sigma", "{\"version\":1,\"attributes\":[\"mouth\",\"smile\",\"eye_l\",\"eye_r\",\"brows\",\"yaw\",\"pitch\",\"roll\"]}", -1, RE_ERR_BAD_HEADER},
        {"meta_zero_sigma", "{\"version\":1,\"attributes\":[\"mouth\",\"smile\",\"eye_l\",\"eye_r\",\"brows\",\"yaw\",\"pitch\",\"roll\"],"
                            "\"sigma\":[1,1,1,0,1,1,1,1],\"r2\":[null,null,null,null,null,null,null,null],\"gain\":[1,1,1,1,1,1,1,1],"
                            "\"cross\":[0,0,0,0,0,0,0,0]}", -1, RE_ERR_BAD_HEADER},
        {"meta_bad_response", "{\"version\":1,\"attributes\":[\"mouth\",\"smile\",\"eye_l\",\"eye_r\",\"brows\",\"yaw\",\"pitch\",\"roll\"],"
                              "\"sigma\":[1,1,1,1,1,1,1,1],\"r2\":[null,null,null,null,null,null,null,null],\"gain\":[1,1,1,1,1,1,1,1],"
                              "\"cross\":[0,0,0,0,0,0,0,0],\"response\":[1,2]}", -1, RE_ERR_BAD_HEADER},
        {"missing_filter", NULL, 1, RE_ERR_MISSING},
        {"missing_basis", NULL, 2, RE_ERR_MISSING},
    };
    for (size_t i = 0; i < sizeof bads / sizeof *bads; i++) {
        uint8_t *b = dir_buffer(d, bads[i].meta, bads[i].drop, &len);
        re_status s = load_buffer(b, len, SL);
        CHECK_MSG(s == bads[i].want, "%s: got %d (%s), want %d", bads[i].name, s, re_last_error(), bads[i].want);
        char nm[128];
        snprintf(nm, sizeof nm, "%s.safetensors", bads[i].name);
        re_test_save_corpus(corpus, nm, b, len);
        free(b);
    }
    /* non-finite values and a basis that is not orthonormal */
    re_directions *c = NULL;
    CHECK_OK(re_directions_copy(d, &c));
    c->pattern[3] = NAN;
    uint8_t *b = dir_buffer(c, NULL, -1, &len);
    CHECK(load_buffer(b, len, SL) == RE_ERR_NONFINITE);
    re_test_save_corpus(corpus, "nan_pattern.safetensors", b, len);
    free(b);
    c->pattern[3] = 0;
    c->basis[0] *= 3;
    b = dir_buffer(c, NULL, -1, &len);
    CHECK(load_buffer(b, len, SL) == RE_ERR_BAD_HEADER);
    re_test_save_corpus(corpus, "basis_not_unit.safetensors", b, len);
    free(b);
    re_directions_free(c);
    /* tensors without the metadata entry */
    {
        re_st_entry e[RE_DIR_N_TENSORS];
        char *json = NULL;
        re_dir_entries(d, e, &json);
        const char *kv[2] = {"other", "x"};
        CHECK_OK(re_st_write_mem(&b, &len, e, RE_DIR_N_TENSORS, kv, 1));
        CHECK(load_buffer(b, len, SL) == RE_ERR_BAD_HEADER);
        re_test_save_corpus(corpus, "no_meta.safetensors", b, len);
        free(b);
        free(json);
    }
    re_directions_free(d);

    /* a whole model: plain file, then with directions */
    re_config cfg;
    CHECK_OK(re_config_preset(&cfg, "seed64"));
    re_model *m = NULL, *m2 = NULL;
    CHECK_OK(re_model_create(&m, &cfg, 1, 0));
    char p1[600], p2[600];
    snprintf(p1, sizeof p1, "%s/plain.safetensors", g_dir);
    snprintf(p2, sizeof p2, "%s/dirs.safetensors", g_dir);
    CHECK_OK(re_model_save(m, p1, 0, RE_STORE_F16, NULL));
    CHECK_OK(re_model_load(&m2, p1));
    char plain_sha[65];
    snprintf(plain_sha, sizeof plain_sha, "%s", re_model_meta(m2, "data_sha256"));
    CHECK(re_model_directions(m2) == NULL);
    CHECK(strcmp(re_model_weights_sha256(m2), plain_sha) == 0);
    re_directions *big = NULL;
    CHECK_OK(re_directions_create(&big, cfg.latent, 3));
    for (int k = 0; k < K; k++) big->pattern[k * cfg.latent + k] = 1, big->filter[k * cfg.latent + k] = 1, big->sigma[k] = 0.5f;
    for (int q = 0; q < 3; q++) big->basis[q * cfg.latent + 10 + q] = 1;
    CHECK(re_model_set_directions(m2, NULL) == RE_OK);
    re_directions *wrong = NULL;
    CHECK_OK(re_directions_create(&wrong, cfg.latent + 1, 1));
    CHECK(re_model_set_directions(m2, wrong) == RE_ERR_ARG);   /* frees it */
    CHECK_OK(re_model_set_directions(m2, big));
    CHECK_OK(re_model_save(m2, p2, 0, RE_STORE_F16, NULL));
    re_model_free(m2);
    m2 = NULL;
    CHECK_OK(re_model_load(&m2, p2));
    const re_directions *got = m2 ? re_model_directions(m2) : NULL;
    CHECK(got && got->n_motion == 3 && got->pattern[2 * cfg.latent + 2] == 1 && got->sigma[4] == 0.5f);
    CHECK(got && isnan(got->gain[0]) && isnan(got->response[0]));
    CHECK(m2 && strcmp(re_model_meta(m2, "data_sha256"), plain_sha) != 0);
    CHECK_MSG(m2 && strcmp(re_model_weights_sha256(m2), plain_sha) == 0, "weights_sha256 %s, plain %s",
              m2 ? re_model_weights_sha256(m2) : "?", plain_sha);
    re_model_free(m2);
    re_model_free(m);
    unlink(p1);
    unlink(p2);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "%s/test_directions.tmp", RE_TEST_BINARY_DIR);
    mkdir(g_dir, 0777);
    re_motion *mo = NULL;
    if (re_motion_load(&mo, "models/demo.motion") != RE_OK || !mo->landmarks) {
        fprintf(stderr, "test_directions: models/demo.motion (with landmarks) is needed: %s\n", re_last_error());
        return 1;
    }
    float lm0[RE_FACE_LANDMARKS][2];
    memcpy(lm0, mo->landmarks + (size_t)mo->ref_frame * RE_FACE_LANDMARKS * 2, sizeof lm0);
    re_motion_free(mo);
    test_attributes((const float(*)[2])lm0);
    test_fit();
    test_calibrate_and_steer();
    test_steer_state();
    test_model_file();
    rmdir(g_dir);
    RE_TEST_END();
}
