/*
 * steer.c - the per-driver steering state (include/reenact/anim.h, re_steer_state): what one driver animating one
 * photo carries from frame to frame on top of the per-frame formula of re_steer_apply (directions.c): the driver's
 * attributes, smoothed like the codes and held through frames without a face; the reference frame's attributes;
 * the photo's own attributes; the scratch of re_steer_apply. Without directions it is re_anim_transfer.
 * One object serves re_animate's model stage (pipeline_stages.c), re_live (live.c) and `reenact eval` (the clips and
 * cross-identity parts). Tested by tests/unit/test_directions.c (against the formula by hand), and through its
 * users by tests/unit/test_anim.c, tests/unit/test_live.c, tests/cli/test_controls.sh and tests/cli/test_eval.sh.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "reenact/anim.h"

struct re_steer_state {
    const re_directions *d;     /* borrowed; NULL: plain transfer */
    re_steer_opts o;
    float strength;
    int latent;
    re_latent_filter *afilt;    /* the attributes' One-Euro filter, or NULL */
    float a_photo[RE_ATTR_COUNT], aref[RE_ATTR_COUNT], alast[RE_ATTR_COUNT];
    int has_a_photo, have_aref, have_alast;
    float apose[3];             /* the pose reference (yaw, pitch, roll), when have_apose */
    int have_apose;
    float *tmp;                 /* [3 * latent]: the delta, then re_steer_apply's scratch */
};

re_status re_steer_state_create(re_steer_state **out, const re_directions *d, const re_steer_opts *o, float strength,
                                int latent, double fps, const re_latent_filter_opts *smooth) {
    if (!out) return re_fail(RE_ERR_ARG, "re_steer_state_create: NULL argument");
    *out = NULL;
    if (latent < 1 || latent > RE_MOTION_MAX_LATENT)
        return re_fail(RE_ERR_ARG, "steering: latent size must be 1..%d, got %d", RE_MOTION_MAX_LATENT, latent);
    if (!isfinite(strength)) return re_fail(RE_ERR_ARG, "steering: strength must be finite, got %g", strength);
    if (d && !o) return re_fail(RE_ERR_ARG, "steering: directions without options");
    if (d && d->latent != latent)
        return re_fail(RE_ERR_ARG, "steering: the directions' latent size is %d, the codes' %d", d->latent, latent);
    re_status s;
    if (d && (s = re_steer_opts_check(o, d)) != RE_OK) return s;
    re_steer_state *st = calloc(1, sizeof *st);
    if (!st) return re_fail(RE_ERR_NOMEM, "out of memory");
    st->d = d;
    if (d) st->o = *o;
    st->strength = strength;
    st->latent = latent;
    if (d) {
        st->tmp = malloc((size_t)3 * latent * sizeof *st->tmp);
        if (!st->tmp) {
            re_steer_state_free(st);
            return re_fail(RE_ERR_NOMEM, "out of memory");
        }
        if (smooth && (s = re_latent_filter_create(&st->afilt, RE_ATTR_COUNT, fps, smooth)) != RE_OK) {
            re_steer_state_free(st);
            return s;
        }
    }
    *out = st;
    return RE_OK;
}

void re_steer_state_free(re_steer_state *st) {
    if (!st) return;
    re_latent_filter_free(st->afilt);
    free(st->tmp);
    free(st);
}

void re_steer_state_set_photo(re_steer_state *st, const float *a_photo) {
    if (!st) return;
    st->has_a_photo = a_photo != NULL;
    if (a_photo) memcpy(st->a_photo, a_photo, sizeof st->a_photo);
}

void re_steer_state_set_ref(re_steer_state *st, const float *a_ref) {
    if (!st) return;
    st->have_aref = a_ref != NULL;
    if (a_ref) memcpy(st->aref, a_ref, sizeof st->aref);
}

/* The pose reference, when given, replaces the reference attributes' yaw, pitch and roll. */
static void apply_pose_ref(re_steer_state *st) {
    if (st->have_apose && st->have_aref)
        for (int k = 0; k < 3; k++) st->aref[RE_ATTR_YAW + k] = st->apose[k];
}

void re_steer_state_set_pose_ref(re_steer_state *st, const float *a_ref) {
    if (!st) return;
    st->have_apose = a_ref != NULL;
    if (!a_ref) return;
    for (int k = 0; k < 3; k++) st->apose[k] = a_ref[RE_ATTR_YAW + k];
    apply_pose_ref(st);
}

void re_steer_state_reset(re_steer_state *st) {
    if (!st) return;
    if (st->afilt) re_latent_filter_reset(st->afilt);
    st->have_alast = 0;
    st->have_aref = 0;
    st->have_apose = 0;
}

void re_steer_state_next(re_steer_state *st, const float *z_src, const float *z_drive, const float *z_ref,
                         const float *attr, float *z_out) {
    const int L = st->latent;
    if (!st->d) {
        re_anim_transfer(z_src, z_drive, z_ref, st->strength, L, z_out);
        return;
    }
    if (attr) {   /* the driver's attributes: smoothed like the codes; without them the last ones are held */
        memcpy(st->alast, attr, sizeof st->alast);
        if (st->afilt) re_latent_filter_apply(st->afilt, st->alast);
        st->have_alast = 1;
    }
    if (!st->have_aref && st->have_alast) {   /* the first attributes seen are the reference's */
        memcpy(st->aref, st->alast, sizeof st->aref);
        st->have_aref = 1;
        apply_pose_ref(st);
    }
    float da[RE_ATTR_COUNT] = {0}, *dz = st->tmp;
    if (st->have_aref) re_steer_attr_delta(&st->o, st->alast, st->aref, st->has_a_photo ? st->a_photo : NULL, da);
    for (int i = 0; i < L; i++) dz[i] = z_drive[i] - z_ref[i];
    re_steer_apply(st->d, &st->o, dz, st->have_aref ? da : NULL, st->strength, dz, st->tmp + L);
    for (int i = 0; i < L; i++) z_out[i] = z_src[i] + dz[i];
}

int re_steer_state_render_parts(const re_steer_state *st, re_render_parts *p) {
    if (!p) return 0;
    memset(p, 0, sizeof *p);
    if (!st || !st->d) return 0;
    const re_region g = st->o.region;
    const int eyes_in = g == RE_REGION_ALL || g == RE_REGION_EXPRESSION || g == RE_REGION_EYES;
    const int mouth_in = g == RE_REGION_ALL || g == RE_REGION_EXPRESSION || g == RE_REGION_LIPS;
    p->mouth_still = !mouth_in || st->o.lips == 0.0f;
    const int k[2] = {RE_ATTR_EYE_L, RE_ATTR_EYE_R};
    int ref_ok = st->have_aref && st->have_alast;
    for (int e = 0; e < 2; e++)   /* a reference frame with closed eyes gives no scale to the driver's opening */
        if (!(st->aref[k[e]] > 0.08f) || !isfinite(st->alast[k[e]])) ref_ok = 0;
    if (!eyes_in || st->o.eyes == 0.0f) {   /* still: the source's lids, plus a constant offset when it has a scale */
        p->eyes = 1;
        for (int e = 0; e < 2; e++)
            p->eye_ratio[e] = 1.0f + (eyes_in && ref_ok ? st->o.offset[k[e]] / st->aref[k[e]] : 0.0f);
    } else if (st->o.attr_drive && ref_ok) {
        p->eyes = 1;
        for (int e = 0; e < 2; e++) {
            const float a0 = st->aref[k[e]];
            p->eye_ratio[e] =
                1.0f + st->strength * st->o.eyes * (st->alast[k[e]] / a0 - 1.0f) + st->o.offset[k[e]] / a0;
        }
    }
    for (int e = 0; e < 2; e++) {
        const float v = p->eye_ratio[e];
        p->eye_ratio[e] = v > 2.5f ? 2.5f : v > 0.0f ? v : 0.0f;
    }
    /* the head's pose from the driver's landmarks, as measured (the 64 px decoder turns the head by about half the
     * driver's turn, and jitters it) */
    const int pose_in = g == RE_REGION_ALL || g == RE_REGION_POSE;
    const int pk[3] = {RE_ATTR_YAW, RE_ATTR_PITCH, RE_ATTR_ROLL};
    int pose_ok = st->o.attr_drive && st->have_aref && st->have_alast;
    for (int k = 0; k < 3; k++)
        if (!isfinite(st->aref[pk[k]]) || !isfinite(st->alast[pk[k]])) pose_ok = 0;
    if (pose_ok) {
        p->pose = 1;
        float *out[3] = {&p->yaw, &p->pitch, &p->roll};
        for (int k = 0; k < 3; k++)
            *out[k] = (pose_in ? st->strength * (st->alast[pk[k]] - st->aref[pk[k]]) : 0.0f) + st->o.offset[pk[k]];
    }
    return p->eyes || p->mouth_still || p->pose;
}
