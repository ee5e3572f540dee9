/*
 * image_internal.h - helpers shared by src/media/image*.c and src/media/video*.c (not part of the public API).
 */
#ifndef RE_MEDIA_IMAGE_INTERNAL_H
#define RE_MEDIA_IMAGE_INTERNAL_H
#include "reenact/media.h"

/* RE_ERR_ARG for w or h <= 0, RE_ERR_TOO_LARGE when w*h is over re_image_get_max_pixels(); message names `what`. */
re_status re_image_check_size(int w, int h, const char *what);
/* RE_ERR_ARG unless img is a usable image (non-NULL data, positive size, stride >= 3*w). */
re_status re_image_valid(const re_image *img, const char *what);
/* Make dst a w x h image: reuse its buffer when the size matches, else free (if owned) and allocate. */
re_status re_image_prepare(re_image *dst, int w, int h, const char *what);
/* dst (reused or allocated as by re_image_prepare; must not alias src) = src transformed by EXIF orientation 1..8:
 * 2 mirror-x, 3 rotate 180, 4 mirror-y, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-cw. */
re_status re_image_orient(const re_image *src, re_image *dst, int orientation);
#endif
