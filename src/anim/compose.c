/*
 * compose.c - how generated faces become output frames (include/reenact/anim.h): paste-back into the source photo
 * with a feathered rounded-square mask through the inverse alignment, resizing to a height, side-by-side stacking,
 * and the storyboard image (driving frames above generated ones, like the paper's fig. 7).
 * Tested by tests/unit/test_anim.c.
 */
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "reenact/anim.h"

static re_status check_img(const re_image *im, const char *fn, const char *what) {
    if (!im || !im->data || im->w <= 0 || im->h <= 0 || im->stride < 3 * im->w)
        return re_fail(RE_ERR_ARG, "%s: invalid %s image (%dx%d)", fn, what, im ? im->w : 0, im ? im->h : 0);
    return RE_OK;
}

/* Make dst a w x h image, reusing its buffer when the size matches (media.h "Output images" rule). */
static re_status ensure_image(re_image *dst, int w, int h) {
    if (dst->data && dst->w == w && dst->h == h) return RE_OK;
    if (dst->data && !dst->owns_data)
        return re_fail(RE_ERR_ARG, "output image %dx%d does not own its pixels and is not %dx%d", dst->w, dst->h, w, h);
    re_image_free(dst);
    return re_image_alloc(dst, w, h);
}

/* ---- Paste-back ------------------------------------------------------------------------------------------- */
struct re_paste {
    re_image photo;
    int k;              /* side of the crop as pasted (the face's size in the photo) */
    int x0, y0, bw, bh; /* photo region the crop covers */
    float m[6];         /* region pixel -> crop pixel (k x k) */
    float *mask;        /* [bh][bw] */
    re_image face_k;    /* face resized to k x k */
    re_image warped;    /* face warped into the region */
};

float re_paste_mask(float u, float v, float feather) {
    const double r = pow(pow(fabs(u), 4.0) + pow(fabs(v), 4.0), 0.25);
    double t = (1.0 - r) / (feather > 1e-6f ? feather : 1e-6f);
    if (t <= 0) return 0.0f;
    if (t >= 1) return 1.0f;
    return (float)(t * t * (3.0 - 2.0 * t));
}

re_status re_paste_create(re_paste **out, const re_image *photo, const re_face_frame *fr, float feather) {
    if (!out) return re_fail(RE_ERR_ARG, "re_paste_create: NULL output pointer");
    *out = NULL;
    re_status st = check_img(photo, "re_paste_create", "photo");
    if (st != RE_OK) return st;
    if (!fr || !isfinite(fr->cx) || !isfinite(fr->cy) || !isfinite(fr->angle) || !(fr->half > 0.5f) ||
        !(fr->half < 1e6f))
        return re_fail(RE_ERR_ARG, "re_paste_create: invalid face frame");
    if (!(feather > 0 && feather <= 1))
        return re_fail(RE_ERR_ARG, "re_paste_create: feather must be in (0,1], got %g", feather);
    re_paste *p = re_alloc(sizeof *p, "paste-back");
    if (!p) return RE_ERR_NOMEM;
    float d2s[6], s2d[6];
    st = re_image_copy(&p->photo, photo);
    if (st != RE_OK) goto fail;
    long k = lround(2.0 * fr->half);
    p->k = (int)(k < 16 ? 16 : k > 1024 ? 1024 : k);
    st = re_face_frame_matrix(fr, p->k, d2s, s2d);
    if (st != RE_OK) goto fail;
    /* bounding box of the crop square in the photo */
    double lo[2] = {1e300, 1e300}, hi[2] = {-1e300, -1e300};
    const double cs[4][2] = {{-0.5, -0.5}, {p->k - 0.5, -0.5}, {-0.5, p->k - 0.5}, {p->k - 0.5, p->k - 0.5}};
    for (int c = 0; c < 4; c++) {
        const double x = d2s[0] * cs[c][0] + d2s[1] * cs[c][1] + d2s[2];
        const double y = d2s[3] * cs[c][0] + d2s[4] * cs[c][1] + d2s[5];
        lo[0] = fmin(lo[0], x); lo[1] = fmin(lo[1], y);
        hi[0] = fmax(hi[0], x); hi[1] = fmax(hi[1], y);
    }
    const double x0 = fmax(0.0, floor(lo[0]) - 1), y0 = fmax(0.0, floor(lo[1]) - 1);
    const double x1 = fmin((double)photo->w, ceil(hi[0]) + 2), y1 = fmin((double)photo->h, ceil(hi[1]) + 2);
    if (x1 > x0 && y1 > y0) {
        p->x0 = (int)x0;
        p->y0 = (int)y0;
        p->bw = (int)(x1 - x0);
        p->bh = (int)(y1 - y0);
    }
    /* region pixel (i,j) = photo pixel (x0+i, y0+j) -> crop pixel */
    p->m[0] = s2d[0];
    p->m[1] = s2d[1];
    p->m[2] = s2d[0] * p->x0 + s2d[1] * p->y0 + s2d[2];
    p->m[3] = s2d[3];
    p->m[4] = s2d[4];
    p->m[5] = s2d[3] * p->x0 + s2d[4] * p->y0 + s2d[5];
    if (p->bw > 0) {
        p->mask = re_alloc((size_t)p->bw * (size_t)p->bh * sizeof *p->mask, "paste-back mask");
        if (!p->mask) {
            st = RE_ERR_NOMEM;
            goto fail;
        }
        const double half_k = 0.5 * p->k;
        for (int j = 0; j < p->bh; j++)
            for (int i = 0; i < p->bw; i++) {
                const double cu = p->m[0] * i + p->m[1] * j + p->m[2], cv = p->m[3] * i + p->m[4] * j + p->m[5];
                p->mask[(size_t)j * p->bw + i] =
                    re_paste_mask((float)((cu + 0.5) / half_k - 1.0), (float)((cv + 0.5) / half_k - 1.0), feather);
            }
    }
    *out = p;
    return RE_OK;
fail:
    re_paste_free(p);
    return st;
}

re_status re_paste_apply(re_paste *p, const re_image *face, re_image *out) {
    if (!p || !out) return re_fail(RE_ERR_ARG, "re_paste_apply: NULL argument");
    re_status st = check_img(face, "re_paste_apply", "face");
    if (st != RE_OK) return st;
    if (face->w != face->h) return re_fail(RE_ERR_ARG, "re_paste_apply: face must be square, got %dx%d", face->w, face->h);
    st = ensure_image(out, p->photo.w, p->photo.h);
    if (st != RE_OK) return st;
    for (int y = 0; y < p->photo.h; y++)
        memcpy(out->data + (size_t)y * out->stride, p->photo.data + (size_t)y * p->photo.stride, (size_t)p->photo.w * 3);
    if (p->bw == 0) return RE_OK;
    const re_image *src = face;
    if (face->w != p->k) {
        st = re_image_resize(face, &p->face_k, p->k, p->k);
        if (st != RE_OK) return st;
        src = &p->face_k;
    }
    st = re_image_warp_affine(src, &p->warped, p->bw, p->bh, p->m, RE_BORDER_REPLICATE);
    if (st != RE_OK) return st;
    for (int j = 0; j < p->bh; j++) {
        uint8_t *o = out->data + (size_t)(p->y0 + j) * out->stride + (size_t)p->x0 * 3;
        const uint8_t *w = p->warped.data + (size_t)j * p->warped.stride;
        const float *mk = p->mask + (size_t)j * p->bw;
        for (int i = 0; i < p->bw; i++) {
            const float a = mk[i];
            if (a <= 0.0f) continue;
            for (int c = 0; c < 3; c++) {
                const float v = a * w[3 * i + c] + (1.0f - a) * o[3 * i + c];
                o[3 * i + c] = (uint8_t)(v + 0.5f);
            }
        }
    }
    return RE_OK;
}

void re_paste_free(re_paste *p) {
    if (!p) return;
    re_image_free(&p->photo);
    re_image_free(&p->face_k);
    re_image_free(&p->warped);
    re_free(p->mask);
    re_free(p);
}

/* ---- Resizing and stacking -------------------------------------------------------------------------------- */
re_status re_image_fit_height(const re_image *src, int h, re_image *dst) {
    re_status st = check_img(src, "re_image_fit_height", "source");
    if (st != RE_OK) return st;
    if (!dst || h < 1) return re_fail(RE_ERR_ARG, "re_image_fit_height: bad height %d", h);
    long w = 2 * lround((double)src->w * h / src->h / 2.0);
    if (w < 2) w = 2;
    if (w > 65536) return re_fail(RE_ERR_TOO_LARGE, "re_image_fit_height: %dx%d at height %d is %ld wide", src->w,
                                  src->h, h, w);
    if (src->w == w && src->h == h) return re_image_copy(dst, src);
    return re_image_resize(src, dst, (int)w, h);
}

re_status re_image_hstack(const re_image *l, const re_image *r, re_image *out) {
    re_status st = check_img(l, "re_image_hstack", "left");
    if (st == RE_OK) st = check_img(r, "re_image_hstack", "right");
    if (st != RE_OK) return st;
    if (!out) return re_fail(RE_ERR_ARG, "re_image_hstack: NULL output");
    if (l->h != r->h) return re_fail(RE_ERR_ARG, "re_image_hstack: heights differ (%d vs %d)", l->h, r->h);
    st = ensure_image(out, l->w + r->w, l->h);
    if (st != RE_OK) return st;
    for (int y = 0; y < l->h; y++) {
        uint8_t *o = out->data + (size_t)y * out->stride;
        memcpy(o, l->data + (size_t)y * l->stride, (size_t)l->w * 3);
        memcpy(o + (size_t)l->w * 3, r->data + (size_t)y * r->stride, (size_t)r->w * 3);
    }
    return RE_OK;
}

/* ---- Storyboard ------------------------------------------------------------------------------------------- */
#define SB_GAP 2

struct re_storyboard {
    int tile, max_cols, n;
    re_image *top, *bottom;   /* [max_cols]; top[i].data NULL when absent */
};

re_status re_storyboard_create(re_storyboard **out, int tile, int max_cols) {
    if (!out) return re_fail(RE_ERR_ARG, "re_storyboard_create: NULL output pointer");
    *out = NULL;
    if (tile < 16 || tile > 1024 || max_cols < 1 || max_cols > 4096)
        return re_fail(RE_ERR_ARG, "re_storyboard_create: tile must be 16..1024 and max_cols 1..4096 (got %d, %d)",
                       tile, max_cols);
    re_storyboard *sb = re_alloc(sizeof *sb, "storyboard");
    if (!sb) return RE_ERR_NOMEM;
    sb->top = re_alloc((size_t)max_cols * sizeof *sb->top, "storyboard");
    sb->bottom = re_alloc((size_t)max_cols * sizeof *sb->bottom, "storyboard");
    if (!sb->top || !sb->bottom) {
        re_storyboard_free(sb);
        return RE_ERR_NOMEM;
    }
    sb->tile = tile;
    sb->max_cols = max_cols;
    *out = sb;
    return RE_OK;
}

re_status re_storyboard_add(re_storyboard *sb, const re_image *top, const re_image *bottom) {
    if (!sb) return re_fail(RE_ERR_ARG, "re_storyboard_add: NULL storyboard");
    if (sb->n >= sb->max_cols) return RE_OK;
    re_status st = re_image_fit_height(bottom, sb->tile, &sb->bottom[sb->n]);
    if (st == RE_OK && top) st = re_image_fit_height(top, sb->tile, &sb->top[sb->n]);
    if (st != RE_OK) {
        re_image_free(&sb->top[sb->n]);
        re_image_free(&sb->bottom[sb->n]);
        return st;
    }
    sb->n++;
    return RE_OK;
}

int re_storyboard_cols(const re_storyboard *sb) { return sb ? sb->n : 0; }

static void blit(re_image *dst, const re_image *src, int x, int y) {
    for (int j = 0; j < src->h; j++)
        memcpy(dst->data + (size_t)(y + j) * dst->stride + (size_t)x * 3, src->data + (size_t)j * src->stride,
               (size_t)src->w * 3);
}

re_status re_storyboard_render(const re_storyboard *sb, re_image *out) {
    if (!sb || !out) return re_fail(RE_ERR_ARG, "re_storyboard_render: NULL argument");
    if (sb->n == 0) return re_fail(RE_ERR_ARG, "re_storyboard_render: no frames were added");
    int has_top = 0;
    long width = SB_GAP;
    for (int i = 0; i < sb->n; i++) {
        int cw = sb->bottom[i].w;
        if (sb->top[i].data) {
            has_top = 1;
            if (sb->top[i].w > cw) cw = sb->top[i].w;
        }
        width += cw + SB_GAP;
    }
    const int rows = has_top ? 2 : 1;
    const long height = (long)rows * sb->tile + (long)(rows + 1) * SB_GAP;
    if (width > 65536) return re_fail(RE_ERR_TOO_LARGE, "storyboard would be %ld pixels wide", width);
    re_status st = ensure_image(out, (int)width, (int)height);
    if (st != RE_OK) return st;
    for (int y = 0; y < out->h; y++) memset(out->data + (size_t)y * out->stride, 255, (size_t)out->w * 3);
    int x = SB_GAP;
    for (int i = 0; i < sb->n; i++) {
        int cw = sb->bottom[i].w;
        if (sb->top[i].data && sb->top[i].w > cw) cw = sb->top[i].w;
        if (sb->top[i].data) blit(out, &sb->top[i], x + (cw - sb->top[i].w) / 2, SB_GAP);
        blit(out, &sb->bottom[i], x + (cw - sb->bottom[i].w) / 2, has_top ? 2 * SB_GAP + sb->tile : SB_GAP);
        x += cw + SB_GAP;
    }
    return RE_OK;
}

void re_storyboard_free(re_storyboard *sb) {
    if (!sb) return;
    for (int i = 0; i < sb->max_cols && sb->top; i++) re_image_free(&sb->top[i]);
    for (int i = 0; i < sb->max_cols && sb->bottom; i++) re_image_free(&sb->bottom[i]);
    re_free(sb->top);
    re_free(sb->bottom);
    re_free(sb);
}
