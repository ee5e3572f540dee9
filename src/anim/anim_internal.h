/*
 * anim_internal.h - what re_animate (pipeline.c) and the live stream (live.c) share: the checks of the
 * re_anim_opts fields that both use, and the photo that paste-back works on.
 */
#ifndef RE_ANIM_ANIM_INTERNAL_H
#define RE_ANIM_ANIM_INTERNAL_H

#include <math.h>

#include "core/core.h"
#include "reenact/anim.h"

/* The output options: strength, output size, render mode and render field. */
static inline re_status anim_check_output_opts(const re_anim_opts *o) {
    if (!isfinite(o->strength) || fabsf(o->strength) > RE_ANIM_STRENGTH_MAX)
        return re_fail(RE_ERR_ARG, "strength must be a finite number in [-%d,%d], got %g", RE_ANIM_STRENGTH_MAX,
                       RE_ANIM_STRENGTH_MAX, o->strength);
    if (o->out_size != 0 && (o->out_size < 16 || o->out_size > 4096))
        return re_fail(RE_ERR_ARG, "output size must be 16..4096 (or 0: automatic), got %d", o->out_size);
    if (o->render != RE_RENDER_PHOTO && o->render != RE_RENDER_MODEL)
        return re_fail(RE_ERR_ARG, "unknown render mode %d", (int)o->render);
    if (o->render_field != RE_FIELD_LANDMARKS && o->render_field != RE_FIELD_FLOW)
        return re_fail(RE_ERR_ARG, "unknown render field %d", (int)o->render_field);
    return RE_OK;
}

/* The photo paste-back works on (*ph) and the source face frame fitted to it (*fr): the photo itself, or when its
 * longer side exceeds max_side, a copy scaled down to that in *small (the caller frees it). */
static inline re_status anim_paste_photo(const re_image *photo, const re_face_frame *sframe, int max_side,
                                         re_image *small, const re_image **ph, re_face_frame *fr) {
    const int side = photo->w > photo->h ? photo->w : photo->h;
    *ph = photo;
    *fr = *sframe;
    if (side <= max_side) return RE_OK;
    const double k = (double)max_side / side;
    int w = (int)lround(photo->w * k), h = (int)lround(photo->h * k);
    re_status s = re_image_resize(photo, small, w < 1 ? 1 : w, h < 1 ? 1 : h);
    if (s != RE_OK) return s;
    const double kx = (double)small->w / photo->w, ky = (double)small->h / photo->h;
    fr->cx = (float)((fr->cx + 0.5) * kx - 0.5);
    fr->cy = (float)((fr->cy + 0.5) * ky - 0.5);
    fr->half = (float)(fr->half * 0.5 * (kx + ky));
    *ph = small;
    return RE_OK;
}

#endif
