/*
 * face_backend.h - the vtable behind re_face_detector (include/reenact/face.h), so another detector or landmark
 * model can be added next to dlib's. face.c does everything that is not detector-specific (downscaling for
 * detection, retries, box mapping, sorting, tracking); a backend only scans a gray image for face boxes and
 * predicts landmarks in a box. Internal: not installed.
 */
#ifndef RE_FACE_BACKEND_H
#define RE_FACE_BACKEND_H

#include <stdint.h>
#include "reenact/face.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct re_face_backend {
    const char *name;
    /* Scan an 8-bit gray image (row y at gray + y*stride) for faces. Writes up to max boxes (x0,y0,x1,y1 in that
     * image's pixel-edge units) and scores to boxes[i*4..], scores[i], and their count to *n. threshold is added to
     * the decision threshold. Returns RE_OK (also for no face), RE_ERR_NOMEM or RE_ERR_BACKEND. */
    re_status (*detect)(void *impl, const uint8_t *gray, int w, int h, int stride, float threshold, float *boxes,
                        float *scores, int max, int *n);
    /* Predict landmarks (pixel-center coordinates, sub-pixel) of the face in box (same units as re_face.box) of
     * the RGB image img. Returns RE_OK, RE_ERR_NOMEM or RE_ERR_BACKEND. */
    re_status (*landmarks)(void *impl, const re_image *img, const float box[4], float lm[RE_FACE_LANDMARKS][2]);
    void (*close)(void *impl);
    /* A second, independent state for another thread, sharing nothing mutable with impl (read-only model data may
     * be shared; it lives as long as the last state that uses it).
     * RE_OK, RE_ERR_NOMEM or RE_ERR_BACKEND. */
    re_status (*clone)(void *impl, void **out);
} re_face_backend;

#ifdef RE_HAVE_DLIB
/* dlib: frontal HOG detector (get_frontal_face_detector) + the 68-point shape predictor in model_path
 * (dlib_bridge.cpp). On success *impl is the backend's state, to be released with re_face_dlib_backend.close.
 * RE_ERR_IO (file cannot be opened), RE_ERR_FORMAT (not a 68-point dlib shape predictor), RE_ERR_NOMEM. */
re_status re_face_dlib_open(void **impl, const char *model_path);
extern const re_face_backend re_face_dlib_backend;
#endif

#ifdef __cplusplus
}
#endif
#endif
