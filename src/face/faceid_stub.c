/*
 * faceid_stub.c - the parts of include/reenact/faceid.h that need no dlib: re_faceid_distance (always built), and,
 * in a build without dlib (RE_HAVE_DLIB undefined), the rest of the API failing with RE_ERR_UNSUPPORTED so that
 * callers link either way. With dlib the network lives in faceid.cpp.
 */
#include <math.h>
#include <stddef.h>

#include "core/core.h"
#include "reenact/faceid.h"

float re_faceid_distance(const float *a, const float *b) {
    if (!a || !b) return NAN;
    double s = 0;
    for (int i = 0; i < RE_FACEID_DIM; i++) {
        const double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    return (float)sqrt(s);
}

#ifndef RE_HAVE_DLIB

static re_status unsupported(const char *fn) {
    return re_fail(RE_ERR_UNSUPPORTED, "%s: this build of reenact has no dlib, which the face-id network needs "
                   "(install libdlib-dev and rebuild)", fn);
}

re_status re_faceid_open(re_faceid **f, const char *path) {
    (void)path;
    if (!f) return re_fail(RE_ERR_ARG, "re_faceid_open: f is NULL");
    *f = NULL;
    return unsupported("re_faceid_open");
}

void re_faceid_free(re_faceid *f) { (void)f; }

re_status re_faceid_embed(re_faceid *f, const re_image *img, const float lm[68][2], float out[RE_FACEID_DIM]) {
    (void)img;
    if (!f || !lm || !out) return re_fail(RE_ERR_ARG, "re_faceid_embed: %s is NULL", !f ? "f" : !lm ? "lm" : "out");
    return unsupported("re_faceid_embed");
}

re_status re_faceid_chip(const re_image *img, const float lm[68][2], re_image *chip) {
    (void)img;
    (void)lm;
    if (!chip) return re_fail(RE_ERR_ARG, "re_faceid_chip: chip is NULL");
    return unsupported("re_faceid_chip");
}

re_status re_faceid_embed_chip(re_faceid *f, const re_image *chip, float out[RE_FACEID_DIM]) {
    (void)chip;
    if (!f || !out) return re_fail(RE_ERR_ARG, "re_faceid_embed_chip: %s is NULL", !f ? "f" : "out");
    return unsupported("re_faceid_embed_chip");
}

#endif /* RE_HAVE_DLIB */
