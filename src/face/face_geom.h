/*
 * face_geom.h - internal: landmark geometry that the face module (face.c: alignment, features, tracking) and the
 * face attributes (src/anim/directions.c) share. Header-only.
 */
#ifndef RE_FACE_GEOM_H
#define RE_FACE_GEOM_H

#include "reenact/face.h"

/* The eye centers of 68 iBUG landmarks: the means of points 36..41 (el, image left) and 42..47 (er). */
static inline void re_face_eye_centers(const float lm[RE_FACE_LANDMARKS][2], double el[2], double er[2]) {
    el[0] = el[1] = er[0] = er[1] = 0;
    for (int i = 0; i < 6; i++) {
        el[0] += lm[36 + i][0] / 6.0;
        el[1] += lm[36 + i][1] / 6.0;
        er[0] += lm[42 + i][0] / 6.0;
        er[1] += lm[42 + i][1] / 6.0;
    }
}

#endif
