/*
 * render.c - the photo-resolution renderer (include/reenact/anim.h, "Rendering at the photo's resolution"): the
 * photo supplies the pixels and the identity, the model supplies the motion.
 *
 * Per frame, with Ds = decode(z_src) and Dt = decode(z_t), both res x res:
 *   1. motion: a dense backward field f with Dt(x) ~ Ds(x + f(x)): a thin-plate spline through the landmark pairs
 *      of the two faces when the caller gives them (tps_field), else coarse-to-fine Horn-Schunck with warping on
 *      their luminances (flow);
 *   2. global part: a weighted affine fit a(x) of f over the face, so the head's pose change also moves the hair
 *      and neck outside the crop square, fading to 0 over a ring around it. The local rest f - a is kept over the
 *      face (with landmarks: the jaw/brow polygon, face_mask, also where it reaches past the crop square: the local
 *      field lives on a grid padded to cover the ring), capped, and scaled down until the warp cannot fold
 *      (limit_local); with landmarks its part around the eyes is then amplified (amplify_eyes: the 64 px decoder
 *      draws eyelid motion faintly), less where that would fold, unless the caller gave the eyes' opening
 *      (re_render_set_parts, from the driver's landmarks): then the target lid landmarks are placed with the
 *      source's opening on the target corner line before the spline is fitted, and the opening's change is made at
 *      the photo's resolution in step 4 (retarget_parts, lid_map; retarget_parts also keeps a still mouth's lips in
 *      the source's shape, and, given the head's pose, first turns, nods and rolls the generated face's landmarks
 *      to it: retarget_pose);
 *   3. residual: R = Dt - Ds(x + f(x)), what the warp cannot make (mouth interior, teeth, eyelids); with the pose
 *      given, Dt is first moved (a spline, bicubic) from its own landmarks to the posed ones. It is moved to
 *      the photo's colours (its luminance, scaled by the photo's contrast over the decoder's, is added; its chroma
 *      becomes the photo's skin hue, as saturated as the generated pixel is along the decoder's skin hue: a
 *      grayscale photo gets none) and gated by its own blurred size (with
 *      landmarks, also to the mouth, and the eyes with residual_eyes: region_mask), so only the places the warp cannot explain get
 *      generated pixels;
 *   4. output pixel p of the photo region: photo(p + A (w_out(p) a + l(p))) + gated residual, where A maps model
 *      pixels to photo pixels, w_out is the ring's fade and l the local part with its fades (the face's region and
 *      the ring's with landmarks, the crop square's with flow), evaluated on a grid of <= 4 photo pixels and
 *      interpolated. Around an eye whose opening the caller gave, each pixel first moves across the eye's corner
 *      line (lid_map) and the field is taken there. Outside the ring the photo is unchanged, so there is no seam:
 *      the motion goes to zero smoothly and the residual lives only inside the face.
 * The spline's field (step 1) and the per-pixel work of step 4 are shared out over opts.threads threads, by rows;
 * every value is computed the same way whatever the split, so the output does not depend on the thread count.
 * Tested by tests/unit/test_render.c.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "face/face_geom.h"
#include "reenact/anim.h"

#define MASK_LUT 1024
#define TPS_N (RE_FACE_LANDMARKS + 3)
/* Channels of the photo-resolution grid: the displacement, then the residual in the photo's colours: luminance to
 * add, the chroma gate g, and g times the target chroma (Cb, Cr) the gated pixels move to. Premultiplying by g keeps
 * every channel 0 where nothing is generated, so such blocks are skipped. The residual field at the model grid has
 * the residual channels only (NR, indexed from R_Y). */
enum { F_X, F_Y, R_Y, R_G, R_CB, R_CR, NF };
#define NR (NF - R_Y)

/* One eye's opening change, made at photo resolution (lid_map): the spline's landmarks keep the source's opening
 * on the target corner line; the lids then move to ratio times it by a remap across the corner line. Model
 * pixels, in the eye's frame: origin at the first corner, u along the corner line (unit ex), v across it (unit ey,
 * down the face). lid[0] the upper lid's points (u, v) at ratio 1 (v < 0), lid[1] the lower's (v > 0). */
typedef struct lid_remap {
    int on;
    float ratio;
    float c0[2], ex[2], ey[2], w;
    float lid[2][2][2];
    float top;               /* the upper band's end: 0.6 of the way to the brow (v < 0) */
    float cub[2][3];         /* each lid's cubic v = c0 u + c1 u^2 + c2 u^3, when cub_ok (lid_fit) */
    int cub_ok[2];
    float lim[2];            /* each lid's largest |v| (lid_curve) */
} lid_remap;

struct re_render {
    re_render_opts o;
    re_image photo;          /* the photo (copied) */
    int res;                 /* model side */
    float p2m[6];            /* photo pixel -> model pixel */
    float m2p[6];            /* model pixel -> photo pixel; its 2x2 part maps model displacements to photo ones */
    int x0, y0, bw, bh;      /* photo region touched (crop square grown by opts.outer), clipped */
    float lut_in[MASK_LUT + 1], lut_out[MASK_LUT + 1];   /* masks as functions of r^4 / outer^4 (see lut) */
    float lut_edge[MASK_LUT + 1];   /* the crop square's edge fade of the residual with landmarks (edge_feather) */
    int pad, side;           /* the local field's grid: the model grid grown by pad cells on each side (side =
                                res + 2 pad), far enough to cover the ring where the motion fades out */
    float *wout;             /* [side*side] the ring's fade (outer) at the local grid */
    float *fmask;            /* [side*side] the source face's region (landmark hull, raised brows), faded outside */
    float *loc;              /* [side*side][2] the local displacement (field minus affine) with its fades applied */
    float *lkeep;            /* [side*side][2] scratch (amplify_eyes) */
    float *upad, *vpad;      /* [side*side] the spline's field on the local grid (where the face mask is not 0) */
    int lx0, ly0, lx1, ly1;  /* the local grid's cells where loc may be non-zero: [lx0, lx1) x [ly0, ly1) */
    float gain_y, gain_c;    /* residual colour gains (photo / decoder spread) */
    float *pcrop;            /* [3][res][res] the photo at the model grid (crop square) */
    float *genw;             /* [3][res][res] the generated face moved to the posed landmarks (prepare) */
    float *mmask;            /* [res*res] the mouth's opening (region_mask): min_det does not look there (mmask_on) */
    int mmask_on;
    float photo_cb, photo_cr;   /* the photo's mean chroma over the face (skin), 0..1 units */
    float dec_cb, dec_cr;       /* the decoded source face's mean chroma over the same region */
    int has_source;
    int src_lm_ok;           /* source landmarks were given */
    float a_src[RE_ATTR_COUNT];   /* the source face's attributes (re_face_attributes of lm_s), when a_src_ok */
    int a_src_ok;
    float lm_s[RE_FACE_LANDMARKS][2];   /* source landmarks, model pixels */
    double *tps;             /* TPS system scratch */
    float *ds;               /* [3][res][res] decoded source face */
    float *lum_s, *lum_t;    /* [res*res] luminance pyramids' base level */
    float *pyr;              /* pyramid scratch */
    float *u, *v;            /* [res*res] flow (model pixels) */
    float *tmp;              /* scratch: 8 * res * res */
    float *field;            /* [res][res][NR]: the residual (channels R_* from R_Y) */
    float *win;              /* [res*res] inner mask at the model grid (affine fit weights) */
    float aff[6];            /* affine part of the flow, model pixels: (a0 x + a1 y + a2, a3 x + a4 y + a5) */
    re_render_diag diag;
    re_render_parts parts;   /* what the caller gives instead of the generated face's landmarks (re_render_set_parts) */
    int grid;                /* step of the photo-resolution grid the field is evaluated on (1..4 pixels) */
    lid_remap lids[2];       /* the eyes' opening, applied at photo resolution (retarget_parts, lid_map) */
    float *gridv;            /* [bh / grid + 2][bw / grid + 2][NF] */
};

void re_render_opts_default(re_render_opts *o) {
    memset(o, 0, sizeof *o);
    o->feather = 0.35f;
    o->outer = 1.6f;
    o->flow_levels = 3;
    o->flow_warps = 3;
    o->flow_iters = 40;
    o->flow_alpha = 0.3f;
    o->residual = 1.0f;
    o->gate_lo = 0.05f;
    o->gate_hi = 0.12f;
    o->motion = 1.0f;
    o->tps_lambda = 0.02f;
    o->edge_feather = 0.15f;
    o->face_fade = 12.0f;
    o->max_local = 8.0f;
    o->residual_eyes = 0;
    o->eye_motion = 1.5f;
    o->min_det = 0.2f;
    o->refine_iters = 0;
}

static re_status check_opts(const re_render_opts *o) {
    if (!(o->feather > 0 && o->feather <= 1)) return re_fail(RE_ERR_ARG, "render: feather must be in (0,1], got %g", o->feather);
    if (!(o->outer >= 1 && o->outer <= 4)) return re_fail(RE_ERR_ARG, "render: outer must be in [1,4], got %g", o->outer);
    if (o->flow_levels < 1 || o->flow_levels > 6 || o->flow_warps < 1 || o->flow_warps > 20 || o->flow_iters < 1 ||
        o->flow_iters > 1000)
        return re_fail(RE_ERR_ARG, "render: flow levels 1..6, warps 1..20, iterations 1..1000 (got %d, %d, %d)",
                       o->flow_levels, o->flow_warps, o->flow_iters);
    if (!(o->flow_alpha > 0 && o->flow_alpha < 10)) return re_fail(RE_ERR_ARG, "render: flow_alpha must be in (0,10)");
    if (!(o->residual >= 0 && o->residual <= 4)) return re_fail(RE_ERR_ARG, "render: residual must be in [0,4], got %g", o->residual);
    if (!(o->gate_lo >= 0 && o->gate_hi > o->gate_lo && o->gate_hi <= 1))
        return re_fail(RE_ERR_ARG, "render: need 0 <= gate_lo < gate_hi <= 1 (got %g, %g)", o->gate_lo, o->gate_hi);
    if (!(o->motion >= 0 && o->motion <= 4)) return re_fail(RE_ERR_ARG, "render: motion must be in [0,4], got %g", o->motion);
    if (!(o->tps_lambda >= 0 && o->tps_lambda <= 100)) return re_fail(RE_ERR_ARG, "render: tps_lambda must be in [0,100]");
    if (o->refine_iters < 0 || o->refine_iters > 1000) return re_fail(RE_ERR_ARG, "render: refine_iters must be 0..1000");
    if (!(o->edge_feather > 0 && o->edge_feather <= 1)) return re_fail(RE_ERR_ARG, "render: edge_feather must be in (0,1]");
    if (!(o->face_fade > 0 && o->face_fade <= 64)) return re_fail(RE_ERR_ARG, "render: face_fade must be in (0,64]");
    if (!(o->max_local > 0 && o->max_local <= 64)) return re_fail(RE_ERR_ARG, "render: max_local must be in (0,64]");
    if (!(o->min_det >= 0 && o->min_det < 1)) return re_fail(RE_ERR_ARG, "render: min_det must be in [0,1)");
    if (o->threads < 0 || o->threads > RE_RENDER_MAX_THREADS)
        return re_fail(RE_ERR_ARG, "render: threads must be 0..%d, got %d", RE_RENDER_MAX_THREADS, o->threads);
    if (!(o->eye_motion >= 0 && o->eye_motion <= 4)) return re_fail(RE_ERR_ARG, "render: eye_motion must be in [0,4]");
    return RE_OK;
}

/* Fade of the motion from the crop square (r = 1) to the ring's edge (r = outer), smoothstep. */
static float outer_fade(double r, double outer) {
    if (r <= 1.0) return 1.0f;
    if (r >= outer || outer <= 1.0) return 0.0f;
    double t = (outer - r) / (outer - 1.0);
    return (float)(t * t * (3.0 - 2.0 * t));
}

/* Masks from s = (u^4 + v^4) / outer^4 in [0,1] (u,v crop units in [-1,1] on the square), via tables. */
static void build_luts(re_render *r) {
    const double outer = r->o.outer, o4 = outer * outer * outer * outer;
    for (int i = 0; i <= MASK_LUT; i++) {
        const double s = (double)i / MASK_LUT * o4, rad = pow(s, 0.25);
        r->lut_in[i] = re_paste_mask((float)rad, 0.0f, r->o.feather);
        r->lut_edge[i] = re_paste_mask((float)rad, 0.0f, r->o.edge_feather);
        r->lut_out[i] = outer_fade(rad, outer);
    }
}

static inline float lut(const float *t, float s) {
    if (s >= 1.0f) return t[MASK_LUT];
    const float f = s * MASK_LUT;
    const int i = (int)f;
    const float a = f - (float)i;
    return t[i] + a * (t[i + 1] - t[i]);
}

static inline float luma(float r, float g, float b) { return 0.299f * r + 0.587f * g + 0.114f * b; }

/* Spread (standard deviation) of luminance and of chroma (RMS of the Cb/Cr deviations) of planar [3][n] floats,
 * weighted by w[n]. */
static void color_spread(const float *img, const float *w, int n, double *sy, double *sc) {
    double W = 0, my = 0, mb = 0, mr = 0;
    for (int i = 0; i < n; i++) {
        const float R = img[i], G = img[n + i], B = img[2 * n + i];
        const double y = luma(R, G, B);
        W += w[i];
        my += w[i] * y;
        mb += w[i] * (B - y);
        mr += w[i] * (R - y);
    }
    if (W <= 0) {
        *sy = *sc = 0;
        return;
    }
    my /= W;
    mb /= W;
    mr /= W;
    double vy = 0, vc = 0;
    for (int i = 0; i < n; i++) {
        const float R = img[i], G = img[n + i], B = img[2 * n + i];
        const double y = luma(R, G, B), cb = B - y - mb, cr = R - y - mr;
        vy += w[i] * (y - my) * (y - my);
        vc += w[i] * 0.5 * (cb * cb + cr * cr);
    }
    *sy = sqrt(vy / W);
    *sc = sqrt(vc / W);
}

re_status re_render_create(re_render **out, const re_image *photo, const re_face_frame *fr, int res,
                           const re_render_opts *opts) {
    if (!out) return re_fail(RE_ERR_ARG, "re_render_create: NULL output pointer");
    *out = NULL;
    if (!photo || !photo->data || photo->w <= 0 || photo->h <= 0 || photo->stride < 3 * photo->w)
        return re_fail(RE_ERR_ARG, "re_render_create: invalid photo");
    if (res < 8 || res > 1024 || (res & 3))
        return re_fail(RE_ERR_ARG, "re_render_create: model side must be 8..1024 and a multiple of 4, got %d", res);
    if (!fr || !isfinite(fr->cx) || !isfinite(fr->cy) || !isfinite(fr->angle) || !(fr->half > 0.5f) ||
        !(fr->half < 1e6f))
        return re_fail(RE_ERR_ARG, "re_render_create: invalid face frame");
    re_render_opts od;
    if (!opts) {
        re_render_opts_default(&od);
        opts = &od;
    }
    re_status st = check_opts(opts);
    if (st != RE_OK) return st;
    re_render *r = re_alloc(sizeof *r, "renderer");
    if (!r) return RE_ERR_NOMEM;
    r->o = *opts;
    if (r->o.threads == 0) {   /* one per core, at most 4: looked up once, not per frame */
        const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        r->o.threads = cpus < 1 ? 1 : cpus > 4 ? 4 : (int)cpus;
    }
    r->res = res;
    const size_t n = (size_t)res * res;
    r->ds = re_alloc(3 * n * sizeof(float), "renderer");
    r->lum_s = re_alloc(n * sizeof(float), "renderer");
    r->lum_t = re_alloc(n * sizeof(float), "renderer");
    r->pyr = re_alloc(2 * n * sizeof(float), "renderer");
    r->u = re_alloc(n * sizeof(float), "renderer");
    r->v = re_alloc(n * sizeof(float), "renderer");
    r->tmp = re_alloc(8 * n * sizeof(float), "renderer");
    r->field = re_alloc(NR * n * sizeof(float), "renderer");
    r->win = re_alloc(n * sizeof(float), "renderer");
    r->pad = (int)ceil((r->o.outer - 1.0) * res / 2.0) + 2;
    r->side = res + 2 * r->pad;
    const size_t ns = (size_t)r->side * r->side;
    r->fmask = re_alloc(ns * sizeof(float), "renderer");
    r->wout = re_alloc(ns * sizeof(float), "renderer");
    r->loc = re_alloc(2 * ns * sizeof(float), "renderer");
    r->lkeep = re_alloc(2 * ns * sizeof(float), "renderer");
    r->upad = re_alloc(ns * sizeof(float), "renderer");
    r->vpad = re_alloc(ns * sizeof(float), "renderer");
    r->tps = re_alloc((size_t)TPS_N * (TPS_N + 2) * sizeof(double), "renderer");
    r->pcrop = re_alloc(3 * n * sizeof(float), "renderer");
    r->genw = re_alloc(3 * n * sizeof(float), "renderer");
    r->mmask = re_alloc(n * sizeof(float), "renderer");
    if (!r->pcrop || !r->genw || !r->mmask || !r->wout || !r->fmask || !r->loc || !r->lkeep || !r->upad || !r->vpad ||
        !r->tps || !r->ds || !r->lum_s || !r->lum_t || !r->pyr || !r->u || !r->v || !r->tmp || !r->field || !r->win) {
        st = RE_ERR_NOMEM;
        goto fail;
    }
    if ((st = re_image_copy(&r->photo, photo)) != RE_OK) goto fail;
    if ((st = re_face_frame_matrix(fr, res, r->m2p, r->p2m)) != RE_OK) goto fail;
    build_luts(r);
    /* region: the crop square grown by `outer` about its center */
    const double ext = r->o.outer * fr->half * 1.4142136 + 2.0;
    const double x0 = fmax(0.0, floor(fr->cx - ext)), y0 = fmax(0.0, floor(fr->cy - ext));
    const double x1 = fmin((double)photo->w, ceil(fr->cx + ext) + 1), y1 = fmin((double)photo->h, ceil(fr->cy + ext) + 1);
    if (x1 > x0 && y1 > y0) {
        r->x0 = (int)x0;
        r->y0 = (int)y0;
        r->bw = (int)(x1 - x0);
        r->bh = (int)(y1 - y0);
    }
    const int model_px = (int)floor(2.0 * fr->half / res);   /* photo pixels per model pixel */
    r->grid = model_px < 1 ? 1 : model_px > 4 ? 4 : model_px;
    r->gridv = re_alloc(((size_t)r->bw / r->grid + 2) * ((size_t)r->bh / r->grid + 2) * NF * sizeof(float), "renderer");
    if (!r->gridv) {
        st = RE_ERR_NOMEM;
        goto fail;
    }
    /* inner mask at the model grid, and the photo's colour spread there */
    for (int y = 0; y < res; y++)
        for (int x = 0; x < res; x++) {
            const float u = (x + 0.5f) * 2.0f / res - 1.0f, v = (y + 0.5f) * 2.0f / res - 1.0f;
            r->win[(size_t)y * res + x] = re_paste_mask(u, v, r->o.feather);
        }
    /* the ring's fade at the local grid: 0 on its border (pad reaches past outer), so sampling it beyond is 0 */
    for (int y = 0; y < r->side; y++)
        for (int x = 0; x < r->side; x++) {
            const double u = (x - r->pad + 0.5) * 2.0 / res - 1.0, v = (y - r->pad + 0.5) * 2.0 / res - 1.0;
            r->wout[(size_t)y * r->side + x] = outer_fade(pow(pow(fabs(u), 4.0) + pow(fabs(v), 4.0), 0.25), r->o.outer);
        }
    re_image crop = {0};
    st = re_image_warp_affine(photo, &crop, res, res, r->m2p, RE_BORDER_REPLICATE);
    if (st != RE_OK) goto fail;
    re_image_to_chw(&crop, r->pcrop);
    re_image_free(&crop);
    double sy, sc;
    color_spread(r->pcrop, r->win, res * res, &sy, &sc);
    r->diag.photo_spread_y = (float)sy;
    r->diag.photo_spread_c = (float)sc;
    *out = r;
    return RE_OK;
fail:
    re_render_free(r);
    return st;
}

/* Mean chroma (B-Y, R-Y) of planar [3][n] floats weighted by w[n]. */
static void mean_chroma(const float *img, const float *w, int n, float *cb, float *cr) {
    double W = 0, b = 0, r = 0;
    for (int i = 0; i < n; i++) {
        const float R = img[i], G = img[n + i], B = img[2 * n + i], y = luma(R, G, B);
        W += w[i];
        b += w[i] * (B - y);
        r += w[i] * (R - y);
    }
    *cb = W > 0 ? (float)(b / W) : 0.0f;
    *cr = W > 0 ? (float)(r / W) : 0.0f;
}

static void to_luma(const float *chw, int n, float *y) {
    for (int i = 0; i < n; i++) y[i] = luma(chw[i], chw[n + i], chw[2 * n + i]);
}

/* The face's region from its landmarks (model pixels): the polygon of the jaw (0-16) and the brows (26..17) raised
 * by a quarter of the brow-to-chin height, 1 inside, fading to 0 over `fade` model pixels outside; on a side x side
 * grid whose origin lies off cells before the model grid's (the local grid). */
static void face_mask(const float (*lm)[2], int side, int off, float fade, float *out) {
    float poly[27][2];
    int n = 0;
    float brow_y = 0;
    for (int i = 17; i <= 26; i++) brow_y += lm[i][1] / 10.0f;
    const float raise = 0.25f * (lm[8][1] - brow_y);
    for (int i = 0; i <= 16; i++) {
        poly[n][0] = lm[i][0] + off;
        poly[n++][1] = lm[i][1] + off;
    }
    for (int i = 26; i >= 17; i--) {
        poly[n][0] = lm[i][0] + off;
        poly[n++][1] = lm[i][1] + off - (raise > 0 ? raise : 0);
    }
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            int inside = 0;
            float d2 = 1e30f;
            for (int a = 0, b = n - 1; a < n; b = a++) {
                const float ax = poly[a][0], ay = poly[a][1], bx = poly[b][0], by = poly[b][1];
                if ((ay > y) != (by > y) && x < (bx - ax) * (y - ay) / (by - ay) + ax) inside = !inside;
                const float ex = bx - ax, ey = by - ay, l2 = ex * ex + ey * ey;
                float t = l2 > 0 ? ((x - ax) * ex + (y - ay) * ey) / l2 : 0;
                t = t < 0 ? 0 : t > 1 ? 1 : t;
                const float dx = x - (ax + t * ex), dy = y - (ay + t * ey);
                d2 = fminf(d2, dx * dx + dy * dy);
            }
            float m = 1.0f;
            if (!inside) {
                float t = 1.0f - sqrtf(d2) / fade;
                m = t <= 0 ? 0 : t * t * (3 - 2 * t);
            }
            out[y * side + x] = m;
        }
}

static int lm_ok(const float lm[RE_FACE_LANDMARKS][2], int res) {
    for (int i = 0; i < RE_FACE_LANDMARKS; i++)
        for (int k = 0; k < 2; k++)
            if (!isfinite(lm[i][k]) || fabsf(lm[i][k]) > 4.0f * res) return 0;
    return 1;
}

re_status re_render_set_source(re_render *r, const float *src_face, const float (*lm)[2]) {
    if (!r || !src_face) return re_fail(RE_ERR_ARG, "re_render_set_source: NULL argument");
    if (lm && !lm_ok(lm, r->res)) return re_fail(RE_ERR_ARG, "re_render_set_source: landmarks out of range");
    const int n = r->res * r->res;
    for (int i = 0; i < 3 * n; i++)
        if (!isfinite(src_face[i])) return re_fail(RE_ERR_NONFINITE, "re_render_set_source: non-finite source face");
    /* validated: only now change the renderer's state */
    r->src_lm_ok = lm != NULL;
    if (lm) {
        memcpy(r->lm_s, lm, sizeof r->lm_s);
        face_mask(lm, r->side, r->pad, r->o.face_fade, r->fmask);
    }
    r->a_src_ok = lm && re_face_attributes(lm, r->a_src) == RE_OK;
    memcpy(r->ds, src_face, (size_t)3 * n * sizeof(float));
    to_luma(r->ds, n, r->lum_s);
    /* the skin's mean chroma, photo and decoder: over the face's region inside the crop's fade (with landmarks),
     * else the crop's fade alone */
    float *w = r->tmp;
    for (int y = 0; y < r->res; y++)
        for (int x = 0; x < r->res; x++) {
            const int i = y * r->res + x;
            w[i] = r->win[i] * (lm ? r->fmask[(size_t)(y + r->pad) * r->side + x + r->pad] : 1.0f);
        }
    mean_chroma(r->pcrop, w, n, &r->photo_cb, &r->photo_cr);
    mean_chroma(r->ds, w, n, &r->dec_cb, &r->dec_cr);
    double sy, sc;
    color_spread(r->ds, r->win, n, &sy, &sc);
    r->diag.decoder_spread_y = (float)sy;
    r->diag.decoder_spread_c = (float)sc;
    /* residual gains: the photo's contrast over the decoder's, clamped (a flat decoded face must not blow up) */
    r->gain_y = sy > 1e-3 ? (float)fmin(2.0, r->diag.photo_spread_y / sy) : 1.0f;
    /* a photo without chroma (under a quarter of a grey level of spread) gets none: it stays exactly grayscale;
     * the chroma is never exaggerated beyond the decoder's (a gain over 1 painted lipstick on saturated photos) */
    r->gain_c = sc > 1e-3 && r->diag.photo_spread_c > 1e-3 ? (float)fmin(1.0, r->diag.photo_spread_c / sc) : 0.0f;
    r->diag.gain_y = r->gain_y;
    r->diag.gain_c = r->gain_c;
    r->has_source = 1;
    return RE_OK;
}

/* ---- flow ------------------------------------------------------------------------------------------------ */

/* Catmull-Rom (bicubic) sample of a res x res float plane with the border replicated: moving a decoded face
 * bilinearly would blur its pixels before they become the residual. */
static inline float sample_cubic(const float *im, int res, float x, float y) {
    const float fx = floorf(x), fy = floorf(y), tx = x - fx, ty = y - fy;
    const int ix = (int)fx, iy = (int)fy;
    float wx[4], wy[4];
    const float t[2] = {tx, ty};
    float *w[2] = {wx, wy};
    for (int k = 0; k < 2; k++) {
        const float a = t[k], a2 = a * a, a3 = a2 * a;
        w[k][0] = 0.5f * (-a3 + 2 * a2 - a);
        w[k][1] = 0.5f * (3 * a3 - 5 * a2 + 2);
        w[k][2] = 0.5f * (-3 * a3 + 4 * a2 + a);
        w[k][3] = 0.5f * (a3 - a2);
    }
    float s = 0;
    for (int j = 0; j < 4; j++) {
        int yy = iy - 1 + j;
        yy = yy < 0 ? 0 : yy > res - 1 ? res - 1 : yy;
        float row = 0;
        for (int i = 0; i < 4; i++) {
            int xx = ix - 1 + i;
            xx = xx < 0 ? 0 : xx > res - 1 ? res - 1 : xx;
            row += wx[i] * im[(size_t)yy * res + xx];
        }
        s += wy[j] * row;
    }
    return s;
}

/* Bilinear sample of a w x h float plane with the border replicated. */
static inline float sample(const float *im, int w, int h, float x, float y) {
    if (x < 0) x = 0;
    if (y < 0) y = 0;
    if (x > w - 1) x = (float)(w - 1);
    if (y > h - 1) y = (float)(h - 1);
    int ix = (int)x, iy = (int)y;
    if (ix > w - 2) ix = w - 2 < 0 ? 0 : w - 2;
    if (iy > h - 2) iy = h - 2 < 0 ? 0 : h - 2;
    const float ax = x - ix, ay = y - iy;
    const float *p = im + (size_t)iy * w + ix;
    const int dx = w > 1, dy = h > 1 ? w : 0;
    const float t = p[0] + ax * (p[dx] - p[0]), b = p[dy] + ax * (p[dy + dx] - p[dy]);
    return t + ay * (b - t);
}

static void downsample(const float *src, int w, float *dst) {
    const int w2 = w / 2;
    for (int y = 0; y < w2; y++)
        for (int x = 0; x < w2; x++) {
            const float *p = src + (size_t)(2 * y) * w + 2 * x;
            dst[(size_t)y * w2 + x] = 0.25f * (p[0] + p[1] + p[w] + p[w + 1]);
        }
}

/* Horn-Schunck with warping at one level: I0 = target (Dt), I1 = moving (Ds); u, v refined in place. */
static void hs_level(const float *I0, const float *I1, int w, float *u, float *v, float *scr, int warps, int iters,
                     float alpha) {
    const int n = w * w;
    float *Ix = scr, *Iy = scr + n, *It = scr + 2 * n, *u0 = scr + 3 * n, *v0 = scr + 4 * n, *I1w = scr + 5 * n;
    const float a2 = alpha * alpha;
    for (int k = 0; k < warps; k++) {
        for (int y = 0; y < w; y++)
            for (int x = 0; x < w; x++) {
                const int i = y * w + x;
                I1w[i] = sample(I1, w, w, x + u[i], y + v[i]);
            }
        for (int y = 0; y < w; y++)
            for (int x = 0; x < w; x++) {
                const int i = y * w + x;
                const int xl = x > 0 ? i - 1 : i, xr = x < w - 1 ? i + 1 : i;
                const int yu = y > 0 ? i - w : i, yd = y < w - 1 ? i + w : i;
                const float sx = (xr - xl) == 2 ? 0.5f : 1.0f, sy = (yd - yu) == 2 * w ? 0.5f : 1.0f;
                Ix[i] = 0.5f * sx * ((I1w[xr] - I1w[xl]) + (I0[xr] - I0[xl]));
                Iy[i] = 0.5f * sy * ((I1w[yd] - I1w[yu]) + (I0[yd] - I0[yu]));
                It[i] = I1w[i] - I0[i];
                u0[i] = u[i];
                v0[i] = v[i];
            }
        for (int it = 0; it < iters; it++)
            for (int y = 0; y < w; y++)
                for (int x = 0; x < w; x++) {   /* Gauss-Seidel sweep */
                    const int i = y * w + x;
                    const int xl = x > 0 ? i - 1 : i, xr = x < w - 1 ? i + 1 : i;
                    const int yu = y > 0 ? i - w : i, yd = y < w - 1 ? i + w : i;
                    const float ub = 0.25f * (u[xl] + u[xr] + u[yu] + u[yd]);
                    const float vb = 0.25f * (v[xl] + v[xr] + v[yu] + v[yd]);
                    const float t = (Ix[i] * (ub - u0[i]) + Iy[i] * (vb - v0[i]) + It[i]) /
                                    (a2 + Ix[i] * Ix[i] + Iy[i] * Iy[i]);
                    u[i] = ub - Ix[i] * t;
                    v[i] = vb - Iy[i] * t;
                }
    }
}

/* Backward flow from target I0 to moving I1 (both res x res), coarse to fine. */
static void flow(re_render *r, const float *I0, const float *I1) {
    const int res = r->res;
    int levels = r->o.flow_levels;
    while (levels > 1 && (res >> (levels - 1)) < 8) levels--;
    /* pyramid: level l has side res >> l; store levels >= 1 in r->pyr (two images interleaved per level) */
    const float *L0[6], *L1[6];
    L0[0] = I0;
    L1[0] = I1;
    float *p = r->pyr;
    for (int l = 1; l < levels; l++) {
        const int w = res >> (l - 1), w2 = w / 2;
        downsample(L0[l - 1], w, p);
        L0[l] = p;
        p += (size_t)w2 * w2;
        downsample(L1[l - 1], w, p);
        L1[l] = p;
        p += (size_t)w2 * w2;
    }
    float *u = r->u, *v = r->v, *scr = r->tmp;   /* scr: 6 planes of res*res; u2/v2 below use the last two */
    float *u2 = r->tmp + 6 * (size_t)res * res, *v2 = u2 + (size_t)res * res;
    int w = res >> (levels - 1);
    memset(u, 0, (size_t)w * w * sizeof(float));
    memset(v, 0, (size_t)w * w * sizeof(float));
    for (int l = levels - 1; l >= 0; l--) {
        w = res >> l;
        if (l < levels - 1) {   /* upsample the coarser flow (side w/2) into u, v, doubling it */
            const int wc = w / 2;
            memcpy(u2, u, (size_t)wc * wc * sizeof(float));
            memcpy(v2, v, (size_t)wc * wc * sizeof(float));
            for (int y = 0; y < w; y++)
                for (int x = 0; x < w; x++) {
                    const float sx = (x + 0.5f) * 0.5f - 0.5f, sy = (y + 0.5f) * 0.5f - 0.5f;
                    u[y * w + x] = 2.0f * sample(u2, wc, wc, sx, sy);
                    v[y * w + x] = 2.0f * sample(v2, wc, wc, sx, sy);
                }
        }
        hs_level(L0[l], L1[l], w, u, v, scr, r->o.flow_warps, r->o.flow_iters, r->o.flow_alpha);
    }
}

/* ---- work shared out over threads (opts.threads) --------------------------------------------------------------- */

/* How many threads a pass over `work` pixels gets: opts.threads (resolved at create: 0 became one per core, at most
 * 4); 1 for small passes, where a thread costs more than it saves. */
static int render_threads(const re_render *r, long work) { return work < 128 * 128 ? 1 : r->o.threads; }

typedef struct part_job {
    void (*fn)(void *arg, int part, int parts);
    void *arg;
    int part, parts;
} part_job;

static void *part_thread(void *p) {
    const part_job *j = p;
    j->fn(j->arg, j->part, j->parts);
    return NULL;
}

/* fn(arg, i, n) for i in 0..n-1: parts 1.. on threads of their own, part 0 on the caller's, and any part whose
 * thread could not be started on the caller's too. fn must compute every element the same way whatever the split,
 * so the result does not depend on n. */
static void run_parts(int n, void (*fn)(void *arg, int part, int parts), void *arg) {
    if (n < 1) n = 1;
    if (n > RE_RENDER_MAX_THREADS) n = RE_RENDER_MAX_THREADS;
    part_job jobs[RE_RENDER_MAX_THREADS];
    pthread_t tid[RE_RENDER_MAX_THREADS];
    int started[RE_RENDER_MAX_THREADS] = {0};
    for (int i = 0; i < n; i++) jobs[i] = (part_job){fn, arg, i, n};
    for (int i = 1; i < n; i++) started[i] = pthread_create(&tid[i], NULL, part_thread, &jobs[i]) == 0;
    fn(arg, 0, n);
    for (int i = 1; i < n; i++)
        if (!started[i]) fn(arg, i, n);
    for (int i = 1; i < n; i++)
        if (started[i]) pthread_join(tid[i], NULL);
}

/* fmaxf / fminf as x86-64 glibc computes them (maxss / minss, the second operand for equal values, the number when
 * one is NaN), inlined: the library calls cost ~2% of animate's time in the per-pixel lid remap. */
static inline float maxf(float a, float b) { return (a > b || b != b) ? a : b; }
static inline float minf(float a, float b) { return (a < b || b != b) ? a : b; }

/* Thin-plate splines through landmark pairs, smoothed by lambda (in units of the normalized coordinates). */
typedef struct tps {
    double px[RE_FACE_LANDMARKS], py[RE_FACE_LANDMARKS];   /* the control points, normalized units */
    double wu[TPS_N], wv[TPS_N];                            /* kernel weights, then the affine part's 3 */
} tps;

/* Fit the spline f(lt[i]) ~ to[i] - lt[i] (model pixels); 0 when the system is singular. */
static int tps_fit(re_render *r, const float (*lt)[2], const float (*to)[2], tps *t) {
    const int res = r->res, N = RE_FACE_LANDMARKS, M = TPS_N, C = M + 2;
    double *A = r->tps;   /* [M][M+2]: matrix | rhs_u rhs_v */
    const double sc = 2.0 / res;   /* model pixels -> normalized units */
    double *px = t->px, *py = t->py;
    for (int i = 0; i < N; i++) {
        px[i] = lt[i][0] * sc - 1.0;
        py[i] = lt[i][1] * sc - 1.0;
    }
    memset(A, 0, (size_t)M * C * sizeof(double));
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) {
            const double dx = px[i] - px[j], dy = py[i] - py[j], r2 = dx * dx + dy * dy;
            A[i * C + j] = r2 > 1e-12 ? r2 * log(r2) : 0.0;
        }
        A[i * C + i] += r->o.tps_lambda;
        A[i * C + N] = A[N * C + i] = 1.0;
        A[i * C + N + 1] = A[(N + 1) * C + i] = px[i];
        A[i * C + N + 2] = A[(N + 2) * C + i] = py[i];
        A[i * C + M] = to[i][0] - lt[i][0];
        A[i * C + M + 1] = to[i][1] - lt[i][1];
    }
    /* Gaussian elimination with partial pivoting */
    for (int k = 0; k < M; k++) {
        int p = k;
        for (int i = k + 1; i < M; i++)
            if (fabs(A[i * C + k]) > fabs(A[p * C + k])) p = i;
        if (!(fabs(A[p * C + k]) > 1e-12)) return 0;
        if (p != k)
            for (int j = 0; j < C; j++) {
                const double t = A[k * C + j];
                A[k * C + j] = A[p * C + j];
                A[p * C + j] = t;
            }
        for (int i = k + 1; i < M; i++) {
            const double f = A[i * C + k] / A[k * C + k];
            if (f == 0.0) continue;
            for (int j = k; j < C; j++) A[i * C + j] -= f * A[k * C + j];
        }
    }
    for (int k = M - 1; k >= 0; k--)
        for (int c = M; c < C; c++) {
            double v = A[k * C + c];
            for (int j = k + 1; j < M; j++) v -= A[k * C + j] * A[j * C + c];
            A[k * C + c] = v / A[k * C + k];
        }
    for (int i = 0; i < M; i++) {
        t->wu[i] = A[i * C + M];
        t->wv[i] = A[i * C + M + 1];
        if (!isfinite(t->wu[i]) || !isfinite(t->wv[i])) return 0;
    }
    return 1;
}

/* The spline at model pixel (mx, my). */
static inline void tps_at(const tps *t, int res, int mx, int my, double *u, double *v) {
    const int N = RE_FACE_LANDMARKS;
    const double sc = 2.0 / res, qx = mx * sc - 1.0, qy = my * sc - 1.0;
    const double *wu = t->wu, *wv = t->wv;
    double su = wu[N] + wu[N + 1] * qx + wu[N + 2] * qy, sv = wv[N] + wv[N + 1] * qx + wv[N + 2] * qy;
    for (int i = 0; i < N; i++) {
        const double dx = qx - t->px[i], dy = qy - t->py[i], r2 = dx * dx + dy * dy;
        if (r2 > 1e-12) {
            const double k = r2 * log(r2);
            su += wu[i] * k;
            sv += wv[i] * k;
        }
    }
    *u = su;
    *v = sv;
}

typedef struct tps_job {
    re_render *r;
    tps t;
} tps_job;

/* Rows y = part, part + parts, ... of the spline's field on the local grid. */
static void tps_rows(void *arg, int part, int parts) {
    tps_job *j = arg;
    re_render *r = j->r;
    const int res = r->res, S = r->side, P = r->pad;
    for (int y = part; y < S; y += parts)
        for (int x = 0; x < S; x++) {
            const size_t i = (size_t)y * S + x;
            const int mx = x - P, my = y - P, inside = mx >= 0 && mx < res && my >= 0 && my < res;
            if (!inside && !(r->fmask[i] > 0.0f)) {
                r->upad[i] = r->vpad[i] = 0.0f;
                continue;
            }
            double su, sv;
            tps_at(&j->t, res, mx, my, &su, &sv);
            r->upad[i] = (float)su;
            r->vpad[i] = (float)sv;
            if (inside) {
                r->u[my * res + mx] = (float)su;
                r->v[my * res + mx] = (float)sv;
            }
        }
}

/* The backward field from the landmarks lt to the source's (f(lt[i]) ~ lm_s[i] - lt[i]) on the local grid: everywhere
 * on the model grid (the residual needs it), and around it where the face mask reaches past the crop square.
 * Returns 0 when the system is singular. */
static int tps_field(re_render *r, const float (*lt)[2]) {
    tps_job j;
    j.r = r;
    if (!tps_fit(r, lt, (const float(*)[2])r->lm_s, &j.t)) return 0;
    /* 68 logarithms a point: shared out over the threads */
    run_parts(render_threads(r, (long)r->side * r->side * 4), tps_rows, &j);
    return 1;
}

/* Solve the 3x3 system A p = b by Cramer's rule; 0 when A is (nearly) singular. */
static int solve3(const double A[3][3], const double b[3], double p[3]) {
    const double det = A[0][0] * (A[1][1] * A[2][2] - A[1][2] * A[2][1]) -
                       A[0][1] * (A[1][0] * A[2][2] - A[1][2] * A[2][0]) +
                       A[0][2] * (A[1][0] * A[2][1] - A[1][1] * A[2][0]);
    if (!(fabs(det) > 1e-12)) return 0;
    for (int c = 0; c < 3; c++) {
        double M[3][3];
        memcpy(M, A, sizeof M);
        for (int r = 0; r < 3; r++) M[r][c] = b[r];
        p[c] = (M[0][0] * (M[1][1] * M[2][2] - M[1][2] * M[2][1]) - M[0][1] * (M[1][0] * M[2][2] - M[1][2] * M[2][0]) +
                M[0][2] * (M[1][0] * M[2][1] - M[1][1] * M[2][0])) / det;
    }
    return 1;
}

/* One weighted sample of a least-squares affine fit (x, y) -> (tu, tv): adds to the normal equations A p = bu, bv. */
static inline void lsq_affine_add(double A[3][3], double bu[3], double bv[3], double x, double y, double w, double tu,
                                  double tv) {
    const double q[3] = {x, y, 1.0};
    for (int a = 0; a < 3; a++) {
        for (int b = 0; b < 3; b++) A[a][b] += w * q[a] * q[b];
        bu[a] += w * q[a] * tu;
        bv[a] += w * q[a] * tv;
    }
}

/* Weighted least-squares affine fit of (u, v) over the model grid with weights win. */
static void fit_affine(const float *u, const float *v, const float *win, int res, float aff[6]) {
    double A[3][3] = {{0}}, bu[3] = {0}, bv[3] = {0};
    for (int y = 0; y < res; y++)
        for (int x = 0; x < res; x++) {
            const int i = y * res + x;
            if (win[i] > 0) lsq_affine_add(A, bu, bv, x, y, win[i], u[i], v[i]);
        }
    /* A is 3x3 symmetric positive definite for any non-degenerate mask */
    double su[3], sv[3];
    if (!solve3((const double(*)[3])A, bu, su) || !solve3((const double(*)[3])A, bv, sv)) {
        memset(aff, 0, 6 * sizeof(float));
        return;
    }
    for (int c = 0; c < 3; c++) {
        aff[c] = (float)su[c];
        aff[3 + c] = (float)sv[c];
    }
}

/* 3x3 box blur of a res x res plane (src -> dst), border replicated. */
static void blur3(const float *src, float *dst, int w) {
    for (int y = 0; y < w; y++)
        for (int x = 0; x < w; x++) {
            float s = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int xx = x + dx, yy = y + dy;
                    xx = xx < 0 ? 0 : xx >= w ? w - 1 : xx;
                    yy = yy < 0 ? 0 : yy >= w ? w - 1 : yy;
                    s += src[yy * w + xx];
                }
            dst[y * w + x] = s * (1.0f / 9.0f);
        }
}

/* Where a warp cannot make the driven face, given its landmarks: soft ellipses around the mouth's opening (the
 * inner lips, grown by 40%: the lips themselves are the photo's, warped) and/or the eyes (grown by a half), as parts
 * says, in [0,1] on the model grid. Around the outer lips (grown by a third), generated pixels darkened the photo's
 * lips wherever the decoded lips did not line up (72 pairs: worst mouth pair 0.214 -> 0.503, mouth r 0.864 ->
 * 0.883, identity median 0.268 -> 0.260). */
enum { REGION_MOUTH = 1, REGION_EYES = 2 };
static void region_mask(const float (*lm)[2], int res, int parts, float *out) {
    static const int range[3][2] = {{60, 68}, {36, 42}, {42, 48}};
    static const float grow[3] = {1.4f, 1.6f, 1.6f};
    for (int i = 0; i < res * res; i++) out[i] = 0.0f;
    for (int g = 0; g < 3; g++) {
        if (!(parts & (g == 0 ? REGION_MOUTH : REGION_EYES))) continue;
        float x0 = 1e30f, x1 = -1e30f, y0 = 1e30f, y1 = -1e30f;
        for (int i = range[g][0]; i < range[g][1]; i++) {
            x0 = minf(x0, lm[i][0]);
            x1 = maxf(x1, lm[i][0]);
            y0 = minf(y0, lm[i][1]);
            y1 = maxf(y1, lm[i][1]);
        }
        const float cx = 0.5f * (x0 + x1), cy = 0.5f * (y0 + y1);
        const float hx = 0.5f * (x1 - x0) * grow[g] + 1.0f, hy = 0.5f * (y1 - y0) * grow[g] + 1.5f;
        for (int y = 0; y < res; y++)
            for (int x = 0; x < res; x++) {
                const float dx = (x - cx) / hx, dy = (y - cy) / hy, d = sqrtf(dx * dx + dy * dy);
                float t = (1.25f - d) / 0.5f;
                t = t <= 0 ? 0 : t >= 1 ? 1 : t * t * (3 - 2 * t);
                if (t > out[y * res + x]) out[y * res + x] = t;
            }
    }
}

/* Smallest Jacobian determinant of the backward map x -> x + a(x) + k l(x) over the local grid, where l is the
 * local field (r->loc, its fades applied) and a the affine part: below 0 the warp folds over. The mouth's opening
 * (mmask, when on) is left out: opening a closed mouth maps the band between the lips onto the source's lip line
 * (a determinant near 0 by design), and the generated pixels cover it. Counting it scaled the whole face's motion
 * down whenever a closed-mouthed photo opened its mouth. */
static float min_det(const re_render *r, float k) {
    const int S = r->side, P = r->pad, res = r->res;
    const float *L = r->loc;
    /* where l and its neighbours are 0 the determinant is the affine part's; the loop covers the rest */
    float m = (1 + r->aff[0]) * (1 + r->aff[4]) - r->aff[1] * r->aff[3];
    const int x0 = r->lx0 > 0 ? r->lx0 - 1 : 0, y0 = r->ly0 > 0 ? r->ly0 - 1 : 0;
    for (int y = y0; y < r->ly1 && y + 1 < S; y++)
        for (int x = x0; x < r->lx1 && x + 1 < S; x++) {
            const size_t i = (size_t)y * S + x;
            const int mx = x - P, my = y - P;
            if (r->mmask_on && mx >= 0 && mx < res && my >= 0 && my < res && r->mmask[my * res + mx] > 0.5f) continue;
            const float *l = L + 2 * i, *lr = l + 2, *ld = l + 2 * (size_t)S;
            const float a = 1 + r->aff[0] + k * (lr[0] - l[0]), b = r->aff[1] + k * (ld[0] - l[0]);
            const float c = r->aff[3] + k * (lr[1] - l[1]), d = 1 + r->aff[4] + k * (ld[1] - l[1]);
            m = minf(m, a * d - b * c);
        }
    return m;
}

/* Keep the warp plausible whatever the landmarks or the flow say: the local field is capped at max_local model
 * pixels (smoothly), and scaled down as a whole until the warp nowhere compresses the photo below min_det of its
 * area (a fold-over tears the photo: hair pulled into the face, an ear smeared down the neck). A local damping
 * (only around the failing cells) was measured too: eyes r +0.03 and yaw +0.02 on 24 pairs, but 6.8% of frames
 * over the identity threshold against 1.9%, so the whole field is scaled. */
static void limit_local(re_render *r) {
    const size_t n = (size_t)r->side * r->side;
    const float cap = r->o.max_local;
    float *F = r->loc;
    for (size_t i = 0; i < n; i++) {
        const float m = sqrtf(F[2 * i] * F[2 * i] + F[2 * i + 1] * F[2 * i + 1]);
        if (m > cap) {   /* soft cap: m -> cap * (1 - exp(-m / cap)) * e/(e-1) would be smoother; tanh is enough */
            const float k = cap * tanhf(m / cap) / m;
            F[2 * i] *= k;
            F[2 * i + 1] *= k;
        }
    }
    float k = 1.0f;
    if (min_det(r, 1.0f) < r->o.min_det) {
        float lo = 0.0f, hi = 1.0f;
        for (int it = 0; it < 8; it++) {
            const float mid = 0.5f * (lo + hi);
            if (min_det(r, mid) >= r->o.min_det) lo = mid;
            else hi = mid;
        }
        k = lo;
        for (size_t i = 0; i < 2 * n; i++) F[i] *= k;
    }
    r->diag.local_scale = k;
}

/* The 64 px decoder draws a blink or a squint as a pixel or two of eyelid motion, and the spline through the eye
 * landmarks carries it faintly (72 pairs: the output's eye-opening spread ~2/3 of --render model's). With
 * landmarks, the local motion around the eyes (region_mask) is multiplied by opts.eye_motion after limit_local;
 * where that would fold the warp, the gain is reduced (to 1 at worst) until it does not. */
static void amplify_eyes(re_render *r, const float (*lm)[2]) {
    const int res = r->res, S = r->side, P = r->pad;
    r->diag.eye_gain = 1.0f;
    if (!r->diag.used_landmarks || r->o.eye_motion == 1.0f || r->parts.eyes) return;
    float *em = r->tmp, *keep = r->lkeep;   /* the residual's scratch is free by now */
    region_mask(lm, res, REGION_EYES, em);
    memcpy(keep, r->loc, 2 * (size_t)S * S * sizeof(float));
    const float floor_det = minf(r->o.min_det, min_det(r, 1.0f));   /* never worse than limit_local left it */
    float g = r->o.eye_motion;
    for (int it = 0;; it++) {
        for (int y = 0; y < res; y++)   /* the eyes lie inside the model grid */
            for (int x = 0; x < res; x++) {
                const float a = 1 + (g - 1) * em[y * res + x];
                const size_t j = 2 * ((size_t)(y + P) * S + x + P);
                r->loc[j] = a * keep[j];
                r->loc[j + 1] = a * keep[j + 1];
            }
        if (g == 1.0f || min_det(r, 1.0f) >= floor_det) break;
        g = it < 8 ? 1 + 0.7f * (g - 1) : 1.0f;   /* the last try restores the field exactly */
    }
    r->diag.eye_gain = g;
}

/* The local part l = f - a on the local grid, with its fades. With landmarks it covers the face's region (the
 * spline means nothing far from the landmarks), also where that reaches past the crop square (a turned head's far
 * cheek lies near its edge: fading the motion out there folded the warp, and the whole field was scaled down to
 * about 0.6 on sadtalker_aoc), and fades with the ring (outer). With flow it lives inside the crop square only,
 * faded by feather. */
static void local_field(re_render *r) {
    const int res = r->res, S = r->side, P = r->pad;
    const float *a = r->aff;
    memset(r->loc, 0, 2 * (size_t)S * S * sizeof(float));
    r->lx0 = r->ly0 = S;
    r->lx1 = r->ly1 = 0;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            const int mx = x - P, my = y - P;
            const size_t j = (size_t)y * S + x;
            float fu, fv, w;
            if (r->diag.used_landmarks) {
                w = r->fmask[j] * r->wout[j];
                if (!(w > 0.0f)) continue;
                fu = r->upad[j];
                fv = r->vpad[j];
            } else {
                if (mx < 0 || mx >= res || my < 0 || my >= res) continue;
                w = r->win[my * res + mx];
                fu = r->u[my * res + mx];
                fv = r->v[my * res + mx];
            }
            r->loc[2 * j] = w * (fu - (a[0] * mx + a[1] * my + a[2]));
            r->loc[2 * j + 1] = w * (fv - (a[3] * mx + a[4] * my + a[5]));
            if (x < r->lx0) r->lx0 = x;
            if (y < r->ly0) r->ly0 = y;
            if (x + 1 > r->lx1) r->lx1 = x + 1;
            if (y + 1 > r->ly1) r->ly1 = y + 1;
        }
}

/* Depth of landmark i in front of the head's vertical axis, in half face widths, for a face seen from the front at
 * horizontal position xh (half face widths from the axis): the head a vertical cylinder of radius 1 (the jaw line
 * on it, the brows, eyes and lips a little inside or outside it) and the nose standing out to 1.3 at its tip, the
 * depth the yaw attribute assumes (asin(yaw proxy / 1.3), directions.h). */
static float lm_depth(int i, float xh) {
    static const float nose[9] = {1.0f, 1.1f, 1.2f, 1.3f, 1.05f, 1.15f, 1.2f, 1.15f, 1.05f};   /* 27..35 */
    const float c2 = 1.0f - xh * xh, c = c2 > 0.0f ? sqrtf(c2) : 0.0f;
    if (i <= 16) return c;          /* jaw line */
    if (i <= 26) return 0.95f * c;  /* brows */
    if (i <= 35) return nose[i - 27];
    if (i <= 47) return 0.85f * c;  /* eyes, set in their sockets */
    return 1.05f * c;               /* lips */
}

/* Pose landmarks lt: turn and nod them until their yaw and pitch (re_face_attributes) are the source face's plus
 * yaw / pitch (degrees), and roll them by what their roll lacks of the source's plus roll. A turn moves each
 * landmark along the eye line by its depth (lm_depth) times the turn, so the nose moves most and the jaw line's ends
 * not at all; a nod moves it across the eye line by its depth's excess over the eyes' and mouth corners' mean (they
 * stay, the nose moves toward the mouth or away from it). Three rounds of measure-and-move make up for the proxies'
 * non-linearity; the steps are bounded (a fold is limit_local's to stop). */
static void pose_to(const re_render *r, float lt[RE_FACE_LANDMARKS][2], float yaw, float pitch, float roll) {
    const float d2r = (float)(RE_PI / 180.0);
    float want_yaw = r->a_src[RE_ATTR_YAW] + yaw, want_pitch = r->a_src[RE_ATTR_PITCH] + pitch;
    want_yaw = want_yaw > 60.0f ? 60.0f : want_yaw < -60.0f ? -60.0f : want_yaw;
    want_pitch = want_pitch > 45.0f ? 45.0f : want_pitch < -45.0f ? -45.0f : want_pitch;
    const float p_yaw = 1.3f * sinf(want_yaw * d2r), p_pitch = 0.43f * tanf(want_pitch * d2r);
    float a[RE_ATTR_COUNT];
    if (re_face_attributes(lt, a) != RE_OK) return;
    /* roll: turn every landmark about their centroid by the roll still missing */
    const float droll = (r->a_src[RE_ATTR_ROLL] + roll - a[RE_ATTR_ROLL]) * d2r;
    if (fabsf(droll) > 1e-4f && fabsf(droll) < 0.6f) {
        float cx = 0, cy = 0;
        for (int i = 0; i < RE_FACE_LANDMARKS; i++) {
            cx += lt[i][0];
            cy += lt[i][1];
        }
        cx /= RE_FACE_LANDMARKS;
        cy /= RE_FACE_LANDMARKS;
        const float c = cosf(droll), s = sinf(droll);
        for (int i = 0; i < RE_FACE_LANDMARKS; i++) {
            const float x = lt[i][0] - cx, y = lt[i][1] - cy;
            lt[i][0] = cx + c * x - s * y;
            lt[i][1] = cy + s * x + c * y;
        }
    }
    for (int round = 0; round < 3; round++) {
        re_face_features f;
        if (re_face_landmark_features(lt, &f) != RE_OK) return;
        /* the face's axes: ex along the eye line (eye centres), ey down the face */
        double eld[2], erd[2];
        re_face_eye_centers((const float(*)[2])lt, eld, erd);
        const float el[2] = {(float)eld[0], (float)eld[1]}, er[2] = {(float)erd[0], (float)erd[1]};
        const float le = hypotf(er[0] - el[0], er[1] - el[1]);
        if (!(le > 1e-3f)) return;
        const float ex[2] = {(er[0] - el[0]) / le, (er[1] - el[1]) / le}, ey[2] = {-ex[1], ex[0]};
        /* half face width and axis from the jaw line's ends; eye-to-mouth distance */
        const float j0 = lt[0][0] * ex[0] + lt[0][1] * ex[1], j1 = lt[16][0] * ex[0] + lt[16][1] * ex[1];
        const float R = 0.5f * (j1 - j0), axis = 0.5f * (j0 + j1);
        const float mouth_y = 0.5f * ((lt[48][0] + lt[54][0]) * ey[0] + (lt[48][1] + lt[54][1]) * ey[1]);
        const float eye_y = 0.5f * ((el[0] + er[0]) * ey[0] + (el[1] + er[1]) * ey[1]);
        const float mv = mouth_y - eye_y;
        if (!(R > 1e-3f) || !(mv > 1e-3f)) return;
        float dyaw = p_yaw - f.yaw, dpitch = p_pitch - f.pitch;
        dyaw = dyaw > 0.5f ? 0.5f : dyaw < -0.5f ? -0.5f : dyaw;
        dpitch = dpitch > 0.3f ? 0.3f : dpitch < -0.3f ? -0.3f : dpitch;
        if (fabsf(dyaw) < 1e-4f && fabsf(dpitch) < 1e-4f) break;
        float z[RE_FACE_LANDMARKS];
        for (int i = 0; i < RE_FACE_LANDMARKS; i++)
            z[i] = lm_depth(i, ((lt[i][0] * ex[0] + lt[i][1] * ex[1]) - axis) / R);
        const float zem = 0.25f * (z[36] + z[45] + z[48] + z[54]);
        for (int i = 0; i < RE_FACE_LANDMARKS; i++) {
            const float sx = z[i] / 1.3f * dyaw * R;
            float wy = (z[i] - zem) / (1.3f - zem);
            wy = wy < -0.5f ? -0.5f : wy;
            const float sy = wy * dpitch * mv;
            lt[i][0] += sx * ex[0] + sy * ey[0];
            lt[i][1] += sx * ex[1] + sy * ey[1];
        }
    }
}

/* The head's pose from the caller (parts.pose): the generated face's landmarks are first brought to the source
 * face's pose (pose_to); there its rigid points (eye corners, nose, upper jaw) take the source face's own shape,
 * placed by the affine map that best takes the source's rigid points onto them, so what the 64 px decoder draws of
 * the driver's face shape and its landmark noise stay out (72 pairs: pitch r 0.774 -> 0.810, frames over the
 * identity threshold 0.5% -> 0.2%, yaw r 0.688 -> 0.662); then the whole set is posed as parts says. The mouth,
 * brows, lids and lower jaw keep the generated face's expression. */
static void retarget_pose(const re_render *r, float lt[RE_FACE_LANDMARKS][2]) {
    if (!r->a_src_ok) return;
    pose_to(r, lt, 0.0f, 0.0f, 0.0f);
    static const int rigid[] = {36, 39, 42, 45, 27, 28, 29, 30, 31, 32, 33, 34, 35, 0, 1, 2, 3, 13, 14, 15, 16};
    const int nr = (int)(sizeof rigid / sizeof rigid[0]);
    double A[3][3] = {{0}}, bx[3] = {0}, by[3] = {0}, px[3], py[3];
    for (int i = 0; i < nr; i++)
        lsq_affine_add(A, bx, by, r->lm_s[rigid[i]][0], r->lm_s[rigid[i]][1], 1.0, lt[rigid[i]][0], lt[rigid[i]][1]);
    if (solve3(A, bx, px) && solve3(A, by, py))
        for (int i = 0; i < nr; i++) {
            const double x = r->lm_s[rigid[i]][0], y = r->lm_s[rigid[i]][1];
            lt[rigid[i]][0] = (float)(px[0] * x + px[1] * y + px[2]);
            lt[rigid[i]][1] = (float)(py[0] * x + py[1] * y + py[2]);
        }
    pose_to(r, lt, r->parts.yaw, r->parts.pitch, r->parts.roll);
}

/* v of lid l (0 upper, 1 lower) at u: the cubic through the corners (v = 0 at u = 0 and u = w) and the lid's two
 * points (a lid is an arch; a broken line put kinks into the lash line), on the lid's side of the corner line and
 * no further out than 1.5 times its points; the broken line where the cubic is undetermined (lid_fit). */
static inline float lid_curve(const lid_remap *L, int l, float u) {
    const float(*p)[2] = L->lid[l];
    float v;
    if (L->cub_ok[l]) {
        const float *c = L->cub[l];
        v = u * (c[0] + u * (c[1] + u * c[2]));
    } else if (u <= p[0][0]) {
        v = p[0][0] > 1e-6f ? u / p[0][0] * p[0][1] : p[0][1];
    } else if (u <= p[1][0]) {
        const float dx = p[1][0] - p[0][0];
        v = dx > 1e-6f ? p[0][1] + (u - p[0][0]) / dx * (p[1][1] - p[0][1]) : p[1][1];
    } else {
        const float dx = L->w - p[1][0];
        v = dx > 1e-6f ? p[1][1] * (L->w - u) / dx : 0.0f;
    }
    return l == 0 ? maxf(minf(v, 0.0f), -L->lim[0]) : minf(maxf(v, 0.0f), L->lim[1]);
}

/* The eye's opening at photo resolution. (mx, my), a point of the output in model pixels, moves across the corner
 * line to where it lies in the eye opened as the source's (what the spline warps). Closing (ratio < 1): the lids
 * slide over the eyeball, which stays; each lid's edge (its lash line: a quarter of the opening for the upper lid,
 * a sixth for the lower) moves as it is, and the skin beyond it (up to 0.5 eye widths above the corner line, or
 * 0.6 of the way to the brow if that is nearer, and 0.4 below) stretches to follow. A closed eye shows the
 * source's lash lines meeting, with its lid skin above them. A lid's edge is antialiased over aa (half a photo
 * pixel): the points to take, up to 3, go to q with their weights in wq. Opening (ratio > 1): the band between the
 * lids stretches onto the source's opening, the skin beyond shrinks. Returns the number of points, 0 where
 * nothing moves (at the corners, beyond the bands). On the model grid (64 px) the spline spread a lid's 2-3 px of
 * motion over the lid and the skin around it, and a closed eye stayed half open (fomm_02 x lp_d13: the lids at
 * 0.09 of the corner line, the output measured at 0.34); squeezing the eye instead of covering it drew the lashes
 * into a thick dark band. */
static int lid_map(const lid_remap *L, float mx, float my, float aa, float q[3][2], float wq[3]) {
    const float dx = mx - L->c0[0], dy = my - L->c0[1];
    const float u = dx * L->ex[0] + dy * L->ex[1], v = dx * L->ey[0] + dy * L->ey[1];
    if (!(u > 0.0f && u < L->w)) return 0;
    const float vu1 = lid_curve(L, 0, u), vl1 = lid_curve(L, 1, u);
    const float vur = L->ratio * vu1, vlr = L->ratio * vl1;
    float vs[3], ws[3];
    int n = 0;
    if (L->ratio < 1.0f) {
        const float lu = 0.25f * (vl1 - vu1), ll = (1.0f / 6.0f) * (vl1 - vu1);   /* the lash lines' width */
        const float T = minf(maxf(-0.5f * L->w, L->top), 1.5f * (vu1 - lu)), B = maxf(0.4f * L->w, 2.0f * (vl1 + ll));
        if (!(v > T && v < B)) return 0;
        /* each lid's share of the pixel (its edge antialiased over a photo pixel), the eyeball's the rest */
        float cu = (vur - v) / (2.0f * aa) + 0.5f, cl = (v - vlr) / (2.0f * aa) + 0.5f;
        cu = cu < 0.0f ? 0.0f : cu > 1.0f ? 1.0f : cu;
        cl = cl < 0.0f ? 0.0f : cl > 1.0f ? 1.0f : cl;
        if (cu + cl > 1.0f) {
            const float k = 1.0f / (cu + cl);
            cu *= k;
            cl *= k;
        }
        if (cu > 0.0f) {   /* the upper lid: its lash line moves as it is, the skin above stretches */
            vs[n] = v >= vur - lu ? v - (vur - vu1) : T + (v - T) * (vu1 - lu - T) / (vur - lu - T);
            ws[n++] = cu;
        }
        if (cl > 0.0f) {
            vs[n] = v <= vlr + ll ? v - (vlr - vl1) : B + (v - B) * (B - vl1 - ll) / (B - vlr - ll);
            ws[n++] = cl;
        }
        if (cu + cl < 1.0f) {   /* the eyeball stays */
            vs[n] = v;
            ws[n++] = 1.0f - cu - cl;
        }
    } else {
        const float T = minf(maxf(-0.5f * L->w, L->top), 1.5f * vur), B = maxf(0.4f * L->w, 2.0f * vlr);
        if (!(v > T && v < B)) return 0;
        if (v <= vur) vs[0] = T + (v - T) * (vu1 - T) / (vur - T);
        else if (v < vlr) vs[0] = vu1 + (v - vur) * (vl1 - vu1) / (vlr - vur);
        else vs[0] = B + (v - B) * (B - vl1) / (B - vlr);
        ws[0] = 1.0f;
        n = 1;
    }
    if (n == 1 && vs[0] == v) return 0;
    for (int k = 0; k < n; k++) {
        q[k][0] = mx + (vs[k] - v) * L->ey[0];
        q[k][1] = my + (vs[k] - v) * L->ey[1];
        wq[k] = ws[k];
    }
    return n;
}

/* Each lid's cubic through the corners and its two points (lid_curve): v = c0 u + c1 u^2 + c2 u^3 vanishes at
 * u = 0; it is fitted to the points and to v(w) = 0. Not when the points nearly coincide along the corner line or
 * sit at a corner (the broken line then). */
static void lid_fit(lid_remap *L) {
    for (int l = 0; l < 2; l++) {
        const float(*p)[2] = L->lid[l];
        L->cub_ok[l] = 0;
        L->lim[l] = 1.5f * maxf(fabsf(p[0][1]), fabsf(p[1][1]));
        if (!(p[1][0] - p[0][0] > 0.05f * L->w && p[0][0] > 0.02f * L->w && p[1][0] < 0.98f * L->w)) continue;
        const double us[3] = {p[0][0], p[1][0], L->w}, b[3] = {p[0][1], p[1][1], 0.0};
        double A[3][3], c[3];
        for (int i = 0; i < 3; i++) {
            A[i][0] = us[i];
            A[i][1] = us[i] * us[i];
            A[i][2] = us[i] * us[i] * us[i];
        }
        if (!solve3(A, b, c)) continue;
        for (int k = 0; k < 3; k++) L->cub[l][k] = (float)c[k];
        L->cub_ok[l] = 1;
    }
}

/* The generated face's landmarks with the parts re_render_set_parts gives. Eyes: each lid point (37, 38, 40, 41 and
 * 43, 44, 46, 47) keeps its position along the target eye's corner line and gets the source's offset from the
 * source's corner line, times the ratio (its change from 1 times eye_motion; scaled by the eye's width change).
 * A still mouth: the source's lips moved by the affine map that best takes the source's eye corners, nose and upper
 * jaw onto the target's. */

static void retarget_parts(re_render *r, const float (*lt_in)[2], float out[RE_FACE_LANDMARKS][2]) {
    r->lids[0].on = r->lids[1].on = 0;
    memcpy(out, lt_in, sizeof(float) * 2 * RE_FACE_LANDMARKS);
    if (r->parts.pose) retarget_pose(r, out);   /* the head's pose first: the eyes and lips follow the posed face */
    float posed[RE_FACE_LANDMARKS][2];
    memcpy(posed, out, sizeof posed);
    const float (*lt)[2] = (const float(*)[2])posed;
    static const int lids[4] = {1, 2, 4, 5};
    for (int e = 0; r->parts.eyes && e < 2; e++) {
        /* the lids' change times eye_motion, as the decoded face's eye motion is without parts */
        float ratio = 1.0f + r->o.eye_motion * (r->parts.eye_ratio[e] - 1.0f);
        ratio = ratio < 0.0f ? 0.0f : ratio > 2.5f ? 2.5f : ratio;
        const int b = 36 + 6 * e;
        const float *s0 = r->lm_s[b], *s1 = r->lm_s[b + 3], *t0 = lt[b], *t1 = lt[b + 3];
        const float sx = s1[0] - s0[0], sy = s1[1] - s0[1], tx = t1[0] - t0[0], ty = t1[1] - t0[1];
        const float ls = sqrtf(sx * sx + sy * sy), lt_ = sqrtf(tx * tx + ty * ty);
        if (!(ls > 1e-3f) || !(lt_ > 1e-3f)) continue;
        const float ex = tx / lt_, ey = ty / lt_;   /* target corner line, and its normal (-ey, ex) */
        lid_remap *lr = &r->lids[e];
        lr->ratio = ratio;
        lr->c0[0] = t0[0];
        lr->c0[1] = t0[1];
        lr->ex[0] = ex;
        lr->ex[1] = ey;
        lr->ey[0] = -ey;
        lr->ey[1] = ex;
        lr->w = lt_;
        lr->on = ratio != 1.0f;
        float along_k[4], along_c[4], perp_k[4];   /* each lid point: along the target corner line (lid_map's
                                                       clamped inside the eye); the source's offset */
        for (int k = 0; k < 4; k++) {
            const float *ps = r->lm_s[b + lids[k]], *pt = lt[b + lids[k]];
            const float along = along_k[k] = (pt[0] - t0[0]) * ex + (pt[1] - t0[1]) * ey;
            along_c[k] = along < 0.05f * lt_ ? 0.05f * lt_ : along > 0.95f * lt_ ? 0.95f * lt_ : along;
            perp_k[k] = ((ps[0] - s0[0]) * -sy + (ps[1] - s0[1]) * sx) / ls * (lt_ / ls);
            lr->lid[k / 2][k % 2][0] = along_c[k];
            lr->lid[k / 2][k % 2][1] = perp_k[k];
        }
        float vb = 0.0f;   /* the brow above this eye (17-21 over 36-41, 22-26 over 42-47), across the corner line */
        for (int k = 0; k < 5; k++) {
            const float *q = lt[17 + 5 * e + k];
            vb += ((q[0] - t0[0]) * -ey + (q[1] - t0[1]) * ex) / 5.0f;
        }
        lr->top = vb < 0.0f ? 0.6f * vb : -0.5f * lt_;
        for (int l = 0; l < 2; l++)   /* each lid's two points in order along the corner line */
            if (lr->lid[l][0][0] > lr->lid[l][1][0])
                for (int c = 0; c < 2; c++) {
                    const float t = lr->lid[l][0][c];
                    lr->lid[l][0][c] = lr->lid[l][1][c];
                    lr->lid[l][1][c] = t;
                }
        lid_fit(lr);
        /* a lid on the wrong side of the corner line (landmark noise on a closed eye) leaves the opening alone */
        if (!(lr->lid[0][0][1] < 0.0f && lr->lid[0][1][1] < 0.0f && lr->lid[1][0][1] > 0.0f && lr->lid[1][1][1] > 0.0f))
            lr->on = 0;
        /* the spline's lids: the source's opening when lid_map makes the ratio, else the ratio's (as before) */
        const float scale = lr->on ? 1.0f : ratio, *al = lr->on ? along_c : along_k;
        for (int k = 0; k < 4; k++) {
            out[b + lids[k]][0] = t0[0] + al[k] * ex - perp_k[k] * scale * ey;
            out[b + lids[k]][1] = t0[1] + al[k] * ey + perp_k[k] * scale * ex;
        }
    }
    if (r->parts.mouth_still) {
        /* least-squares affine map over the eye corners, the nose and the upper jaw (points that a mouth's opening
         * does not move): it carries the head's pose, including the vertical foreshortening of a nod */
        static const int anchor[] = {36, 39, 42, 45, 27, 28, 29, 30, 31, 32, 33, 34, 35, 0, 1, 2, 3, 13, 14, 15, 16};
        const int na = (int)(sizeof anchor / sizeof anchor[0]);
        double A[3][3] = {{0}}, bx[3] = {0}, by[3] = {0};
        for (int i = 0; i < na; i++)
            lsq_affine_add(A, bx, by, r->lm_s[anchor[i]][0], r->lm_s[anchor[i]][1], 1.0, lt[anchor[i]][0],
                           lt[anchor[i]][1]);
        double px[3], py[3];
        if (solve3(A, bx, px) && solve3(A, by, py))
            for (int i = 48; i < RE_FACE_LANDMARKS; i++) {
                const double x = r->lm_s[i][0], y = r->lm_s[i][1];
                out[i][0] = (float)(px[0] * x + px[1] * y + px[2]);
                out[i][1] = (float)(py[0] * x + py[1] * y + py[2]);
            }
    }
}

void re_render_set_parts(re_render *r, const re_render_parts *p) {
    if (!r) return;
    memset(&r->parts, 0, sizeof r->parts);
    if (!p) return;
    r->parts.eyes = p->eyes != 0;
    r->parts.mouth_still = p->mouth_still != 0;
    r->parts.pose = p->pose != 0;
    const float *ang[3] = {&p->yaw, &p->pitch, &p->roll};
    float *dst[3] = {&r->parts.yaw, &r->parts.pitch, &r->parts.roll};
    for (int k = 0; k < 3; k++) {
        const float v = *ang[k];
        *dst[k] = v != v ? 0.0f : v < -90.0f ? -90.0f : v > 90.0f ? 90.0f : v;
    }
    for (int e = 0; e < 2; e++) {
        const float v = p->eye_ratio[e];
        r->parts.eye_ratio[e] = v != v ? 1.0f : v < 0 ? 0.0f : v > 2.5f ? 2.5f : v;
    }
}

/* Everything at model resolution for one generated face: flow, affine part, gated colour-matched residual. */
static re_status prepare(re_render *r, const float *gen, const float (*lm)[2]) {
    const int res = r->res, n = res * res;
    for (int i = 0; i < 3 * n; i++)
        if (!isfinite(gen[i])) return re_fail(RE_ERR_NONFINITE, "re_render_apply: non-finite generated face");
    if (lm && !lm_ok(lm, res)) return re_fail(RE_ERR_ARG, "re_render_apply: landmarks out of range");
    r->diag.used_landmarks = 0;
    r->lids[0].on = r->lids[1].on = 0;
    float lm_parts[RE_FACE_LANDMARKS][2];
    const float (*lm_gen)[2] = lm;
    if (lm && r->src_lm_ok && (r->parts.eyes || r->parts.mouth_still || r->parts.pose)) {
        retarget_parts(r, lm, lm_parts);
        lm = (const float(*)[2])lm_parts;
    }
    /* Posed landmarks are not where the generated face has its features: its pixels are moved to them (a spline
     * from the posed landmarks to the generated ones) before the residual is taken, so the generated mouth's
     * opening lands between the posed lips. Only where the residual may be used (its region, grown by the gate's
     * blur): the spline costs 68 logarithms a pixel. */
    const int rparts = (r->parts.mouth_still ? 0 : REGION_MOUTH) | (r->o.residual_eyes ? REGION_EYES : 0);
    tps g;
    if (lm && lm != lm_gen && r->parts.pose && rparts && tps_fit(r, lm, lm_gen, &g)) {
        region_mask(lm, res, rparts, r->mmask);
        int x0 = res, y0 = res, x1 = -1, y1 = -1;
        for (int y = 0; y < res; y++)
            for (int x = 0; x < res; x++)
                if (r->mmask[y * res + x] > 0.0f) {
                    x0 = x < x0 ? x : x0;
                    x1 = x > x1 ? x : x1;
                    y0 = y < y0 ? y : y0;
                    y1 = y > y1 ? y : y1;
                }
        memcpy(r->genw, gen, (size_t)3 * n * sizeof(float));
        x0 = x0 - 2 < 0 ? 0 : x0 - 2;
        y0 = y0 - 2 < 0 ? 0 : y0 - 2;
        x1 = x1 + 2 > res - 1 ? res - 1 : x1 + 2;
        y1 = y1 + 2 > res - 1 ? res - 1 : y1 + 2;
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++) {
                double gu, gv;
                tps_at(&g, res, x, y, &gu, &gv);
                for (int c = 0; c < 3; c++)
                    r->genw[(size_t)c * n + y * res + x] =
                        sample_cubic(gen + (size_t)c * n, res, x + (float)gu, y + (float)gv);
            }
        gen = r->genw;
    }
    to_luma(gen, n, r->lum_t);
    if (lm && r->src_lm_ok && tps_field(r, lm)) {
        r->diag.used_landmarks = 1;
        if (r->o.refine_iters > 0)
            hs_level(r->lum_t, r->lum_s, res, r->u, r->v, r->tmp, 1, r->o.refine_iters, r->o.flow_alpha);
    } else {
        flow(r, r->lum_t, r->lum_s);
    }
    fit_affine(r->u, r->v, r->win, res, r->aff);
    /* residual R = Dt - Ds(x + f), its luminance magnitude blurred for the gate */
    float *R = r->tmp, *mag = r->tmp + 3 * n, *magb = r->tmp + 4 * n;
    double flow_sum = 0, wsum = 0;
    for (int y = 0; y < res; y++)
        for (int x = 0; x < res; x++) {
            const int i = y * res + x;
            const float sx = x + r->u[i], sy = y + r->v[i];
            for (int c = 0; c < 3; c++) R[c * n + i] = gen[c * n + i] - sample(r->ds + (size_t)c * n, res, res, sx, sy);
            mag[i] = fabsf(luma(R[i], R[n + i], R[2 * n + i]));
            flow_sum += r->win[i] * sqrt((double)r->u[i] * r->u[i] + (double)r->v[i] * r->v[i]);
            wsum += r->win[i];
        }
    blur3(mag, magb, res);
    float *region = NULL;
    if (r->diag.used_landmarks) {   /* with landmarks, generated pixels only around the mouth (and the eyes) */
        region = r->tmp + 5 * n;
        const int parts = (r->parts.mouth_still ? 0 : REGION_MOUTH) | (r->o.residual_eyes ? REGION_EYES : 0);
        region_mask(lm, res, parts, region);
    }
    const float lo = r->o.gate_lo, hi = r->o.gate_hi, gy = r->gain_y * r->o.residual;
    const float sk2 = r->dec_cb * r->dec_cb + r->dec_cr * r->dec_cr;
    double gate_sum = 0;
    for (int y = 0; y < res; y++)
        for (int x = 0; x < res; x++) {
            const int i = y * res + x;
            float t = (magb[i] - lo) / (hi - lo);
            t = t <= 0 ? 0 : t >= 1 ? 1 : t * t * (3 - 2 * t);
            const float g = t * r->win[i] * (region ? region[i] : 1.0f);
            gate_sum += g;
            /* the residual's luminance is added to the warped photo (it keeps the photo's grain); its colour is
             * not the decoder's: gated pixels move to the photo's own skin hue, as saturated as the generated pixel
             * is along the decoder's skin hue (k = <c_gen, c_skin> / |c_skin|^2 in [0, 2]). A closing eyelid takes
             * the photo's skin colour, the inside of a mouth a deeper one, teeth a paler one; no foreign hue (the
             * decoder's blue eyes, its red lips) reaches the photo, and a grayscale photo (skin chroma 0) gets none. */
            const float dr = R[i], dg = R[n + i], db = R[2 * n + i];
            const float dy = luma(dr, dg, db);
            const float tR = gen[i], tG = gen[n + i], tB = gen[2 * n + i], ty = luma(tR, tG, tB);
            float k = sk2 > 1e-8f ? ((tB - ty) * r->dec_cb + (tR - ty) * r->dec_cr) / sk2 : 1.0f;
            k = k < 0 ? 0 : k > 2 ? 2 : k;
            const float tcb = k * r->photo_cb, tcr = k * r->photo_cr;
            const float gch = r->gain_c > 0 ? g * (r->o.residual < 1 ? r->o.residual : 1.0f) : 0.0f;
            float *f = r->field + (size_t)i * NR;
            f[R_Y - R_Y] = 255.0f * g * gy * dy;
            f[R_G - R_Y] = gch;
            f[R_CB - R_Y] = 255.0f * gch * tcb;
            f[R_CR - R_Y] = 255.0f * gch * tcr;
        }
    r->mmask_on = r->diag.used_landmarks && !r->parts.mouth_still;
    if (r->mmask_on) region_mask(lm, res, REGION_MOUTH, r->mmask);
    local_field(r);
    limit_local(r);
    amplify_eyes(r, lm);
    r->diag.mean_flow = wsum > 0 ? (float)(flow_sum / wsum) : 0.0f;
    r->diag.gate_area = (float)(gate_sum / n);
    return RE_OK;
}

/* The photo box [x0, x1) x [y0, y1) that eye e's lid_map can move (its bands, grown by 2 px), empty when off. */
static void lid_box(const re_render *r, int e, int box[4]) {
    box[0] = box[1] = box[2] = box[3] = 0;
    const lid_remap *L = &r->lids[e];
    if (!L->on) return;
    float lo = 0.0f, hi = 0.0f;   /* the bands' extent across the corner line (lid_map's T and B at worst) */
    for (int k = 0; k < 2; k++) {
        const float open = L->lid[1][k][1] - L->lid[0][k][1];
        lo = minf(lo, 3.0f * minf(L->lid[0][k][1] - 0.25f * open, L->ratio * L->lid[0][k][1]));
        hi = maxf(hi, 3.0f * maxf(L->lid[1][k][1] + open / 6.0f, L->ratio * L->lid[1][k][1]));
    }
    lo = minf(lo, minf(maxf(-0.5f * L->w, L->top), 0.0f));
    hi = maxf(hi, 0.4f * L->w);
    const float *M = r->m2p;
    float x0 = 1e30f, x1 = -1e30f, y0 = 1e30f, y1 = -1e30f;
    for (int c = 0; c < 4; c++) {
        const float u = (c & 1) ? L->w : 0.0f, v = (c & 2) ? hi : lo;
        const float mx = L->c0[0] + u * L->ex[0] + v * L->ey[0], my = L->c0[1] + u * L->ex[1] + v * L->ey[1];
        const float X = M[0] * mx + M[1] * my + M[2], Y = M[3] * mx + M[4] * my + M[5];
        x0 = minf(x0, X);
        x1 = maxf(x1, X);
        y0 = minf(y0, Y);
        y1 = maxf(y1, Y);
    }
    box[0] = (int)floorf(x0) - 2;
    box[1] = (int)ceilf(x1) + 3;
    box[2] = (int)floorf(y0) - 2;
    box[3] = (int)ceilf(y1) + 3;
}

/* Bilinear sample of the photo at (sx, sy), clamped to its pixels. */
static inline void sample_photo(const re_image *ph, float sx, float sy, float px3[3]) {
    const int W = ph->w, H = ph->h, dxs = W > 1 ? 3 : 0;
    sx = sx < 0 ? 0 : sx > W - 1 ? (float)(W - 1) : sx;
    sy = sy < 0 ? 0 : sy > H - 1 ? (float)(H - 1) : sy;
    int ix = (int)sx, iy = (int)sy;
    if (ix > W - 2) ix = W > 1 ? W - 2 : 0;
    if (iy > H - 2) iy = H > 1 ? H - 2 : 0;
    const float fx = sx - ix, fy = sy - iy;
    const uint8_t *q0 = ph->data + (size_t)iy * ph->stride + (size_t)ix * 3;
    const uint8_t *q1 = H > 1 ? q0 + ph->stride : q0;
    for (int c = 0; c < 3; c++) {
        const float t = q0[c] + fx * (q0[dxs + c] - q0[c]), b = q1[c] + fx * (q1[dxs + c] - q1[c]);
        px3[c] = t + fy * (b - t);
    }
}

/* Bilinear sample of the photo-resolution grid (NF channels, gw x gh nodes) at node coordinates (gx, gy). */
static void grid_at(const float *gd, int gw, int gh, float gx, float gy, float out[NF]) {
    gx = gx < 0.0f ? 0.0f : gx > gw - 1.001f ? gw - 1.001f : gx;
    gy = gy < 0.0f ? 0.0f : gy > gh - 1.001f ? gh - 1.001f : gy;
    const int i = (int)gx, j = (int)gy;
    const float fx = gx - i, fy = gy - j;
    const float *a = gd + ((size_t)j * gw + i) * NF, *b = a + NF, *c = a + (size_t)gw * NF, *d = c + NF;
    for (int k = 0; k < NF; k++) {
        const float t = a[k] + fx * (b[k] - a[k]), u = c[k] + fx * (d[k] - c[k]);
        out[k] = t + fy * (u - t);
    }
}

/* Bilinear sample of a field of nc channels on a res x res grid at (x, y), border replicated. */
static inline void sample_field(const float *F, int res, int nc, float x, float y, float *out) {
    if (x < 0) x = 0;
    if (y < 0) y = 0;
    if (x > res - 1) x = (float)(res - 1);
    if (y > res - 1) y = (float)(res - 1);
    int ix = (int)x, iy = (int)y;
    if (ix > res - 2) ix = res - 2;
    if (iy > res - 2) iy = res - 2;
    const float ax = x - ix, ay = y - iy;
    const float *p00 = F + ((size_t)iy * res + ix) * nc, *p01 = p00 + nc, *p10 = p00 + (size_t)res * nc, *p11 = p10 + nc;
    const float w00 = (1 - ax) * (1 - ay), w01 = ax * (1 - ay), w10 = (1 - ax) * ay, w11 = ax * ay;
    for (int c = 0; c < nc; c++) out[c] = w00 * p00[c] + w01 * p01[c] + w10 * p10[c] + w11 * p11[c];
}

static inline uint8_t clamp_u8(float v) { return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(v + 0.5f); }

/* ---- the per-pixel warp of re_render_apply, shared out over threads ------------------------------------------ */

/* What every part of one frame's warp reads: the renderer, the output, the grid's geometry, the eyes' boxes. */
typedef struct warp_ctx {
    re_render *r;
    re_image *out;
    int G, gw, gh;      /* grid step (photo px) and size */
    int ebox[2][4];     /* photo boxes [x0, x1) x [y0, y1) where an eye's opening is remapped per pixel (lid_map) */
    float aa;           /* half a photo pixel, in model pixels */
} warp_ctx;

/* The field at photo resolution is smooth on the scale of a model pixel (K / res photo pixels): evaluate the
 * displacement and residual on a grid of step G <= that, then interpolate bilinearly inside each G x G block.
 * Blocks whose four corners move nothing and add nothing keep the photo's pixels (already copied). */
static void grid_part(void *arg, int part, int parts) {
    const warp_ctx *w = arg;
    const re_render *r = w->r;
    const int res = r->res, G = w->G, gw = w->gw, gh = w->gh;
    const float *P = r->p2m, *M = r->m2p, *aff = r->aff;
    const float mot = r->o.motion;
    const float o4 = r->o.outer * r->o.outer * r->o.outer * r->o.outer, inv_o4 = 1.0f / o4;
    const float inv_half = 2.0f / res;
    float *gd = r->gridv;   /* [gh][gw][NF]: photo displacement dx, dy; then the residual fields R_* */
    for (int gj = part; gj < gh; gj += parts)
        for (int gi = 0; gi < gw; gi++) {
            const float px = (float)(r->x0 + gi * G), py = (float)(r->y0 + gj * G);
            float *g = gd + ((size_t)gj * gw + gi) * NF;
            for (int k = 0; k < NF; k++) g[k] = 0.0f;
            const float mx = P[0] * px + P[1] * py + P[2], my = P[3] * px + P[4] * py + P[5];
            const float cu = (mx + 0.5f) * inv_half - 1.0f, cv = (my + 0.5f) * inv_half - 1.0f;
            const float cu2 = cu * cu, cv2 = cv * cv;
            const float s = (cu2 * cu2 + cv2 * cv2) * inv_o4;
            if (s >= 1.0f) continue;
            const float wo = lut(r->lut_out, s);
            if (wo <= 0.0f) continue;
            const float wi = lut(r->diag.used_landmarks ? r->lut_edge : r->lut_in, s);
            float f[NF] = {0}, l[2];
            if (wi > 0.0f) sample_field(r->field, res, NR, mx, my, f + R_Y);
            sample_field(r->loc, r->side, 2, mx + r->pad, my + r->pad, l);
            /* displacement in model pixels: affine everywhere (fading in the ring), local detail (faded already) */
            const float ax = aff[0] * mx + aff[1] * my + aff[2], ay = aff[3] * mx + aff[4] * my + aff[5];
            const float dmx = mot * (wo * ax + l[0]), dmy = mot * (wo * ay + l[1]);
            g[0] = M[0] * dmx + M[1] * dmy;
            g[1] = M[3] * dmx + M[4] * dmy;
            for (int k = R_Y; k < NF; k++) g[k] = wi * f[k];
        }
}

static void warp_part(void *arg, int part, int parts) {
    const warp_ctx *w = arg;
    const re_render *r = w->r;
    const re_image *ph = &r->photo;
    re_image *out = w->out;
    const int G = w->G, gw = w->gw, gh = w->gh;
    const float *P = r->p2m, *M = r->m2p;
    const float *gd = r->gridv;
    const float inv_g = 1.0f / G, aa = w->aa;
    for (int gj = part; gj + 1 < gh; gj += parts) {
        const int yb = r->y0 + gj * G, ye = yb + G < r->y0 + r->bh ? yb + G : r->y0 + r->bh;
        if (yb >= ye) break;
        for (int gi = 0; gi + 1 < gw; gi++) {
            const int xb = r->x0 + gi * G, xe = xb + G < r->x0 + r->bw ? xb + G : r->x0 + r->bw;
            if (xb >= xe) break;
            const float *c00 = gd + ((size_t)gj * gw + gi) * NF, *c01 = c00 + NF, *c10 = c00 + (size_t)gw * NF,
                        *c11 = c10 + NF;
            int eye_blk = 0;
            for (int e = 0; e < 2; e++)
                eye_blk |= xb < w->ebox[e][1] && xe > w->ebox[e][0] && yb < w->ebox[e][3] && ye > w->ebox[e][2];
            float amax = 0.0f;
            for (int k = 0; k < NF; k++)
                amax = maxf(amax, maxf(maxf(fabsf(c00[k]), fabsf(c01[k])), maxf(fabsf(c10[k]), fabsf(c11[k]))));
            if (amax < 1e-4f && !eye_blk) continue;
            for (int y = yb; y < ye; y++) {
                const float ty = (y - yb) * inv_g;
                float L[NF], R[NF];
                for (int k = 0; k < NF; k++) {
                    L[k] = c00[k] + ty * (c10[k] - c00[k]);
                    R[k] = c01[k] + ty * (c11[k] - c01[k]);
                }
                uint8_t *o = out->data + (size_t)y * out->stride;
                for (int x = xb; x < xe; x++) {
                    const float tx = (x - xb) * inv_g;
                    float at[NF];
                    for (int k = 0; k < NF; k++) at[k] = L[k] + tx * (R[k] - L[k]);
                    float px3[3];
                    int taps = 0;
                    if (eye_blk) {   /* the eyes' opening: the field is taken where lid_map moves the pixel */
                        const float mx = P[0] * x + P[1] * y + P[2], my = P[3] * x + P[4] * y + P[5];
                        float q[3][2], wq[3];
                        for (int e = 0; e < 2 && !taps; e++)
                            if (r->lids[e].on) taps = lid_map(&r->lids[e], mx, my, aa, q, wq);
                        if (taps) {
                            px3[0] = px3[1] = px3[2] = 0.0f;
                            for (int k = 0; k < taps; k++) {
                                const float X = M[0] * q[k][0] + M[1] * q[k][1] + M[2];
                                const float Y = M[3] * q[k][0] + M[4] * q[k][1] + M[5];
                                float ak[NF], pk[3];
                                grid_at(gd, gw, gh, (X - r->x0) * inv_g, (Y - r->y0) * inv_g, ak);
                                sample_photo(ph, X + ak[F_X], Y + ak[F_Y], pk);
                                for (int c = 0; c < 3; c++) px3[c] += wq[k] * pk[c];
                                if (k == 0)
                                    for (int c = R_Y; c < NF; c++) at[c] = ak[c];
                            }
                        }
                    }
                    if (!taps) sample_photo(ph, x + at[F_X], y + at[F_Y], px3);
                    if (at[R_Y] == 0.0f && at[R_G] == 0.0f) {
                        for (int c = 0; c < 3; c++) o[3 * x + c] = clamp_u8(px3[c]);
                        continue;
                    }
                    /* photo pixel to Y, Cb, Cr; add the luminance, move the chroma towards the target by g */
                    const float py = luma(px3[0], px3[1], px3[2]);
                    const float pcb = px3[2] - py, pcr = px3[0] - py;
                    const float ny = py + at[R_Y];
                    const float ncb = pcb + at[R_CB] - at[R_G] * pcb, ncr = pcr + at[R_CR] - at[R_G] * pcr;
                    o[3 * x + 0] = clamp_u8(ny + ncr);
                    o[3 * x + 2] = clamp_u8(ny + ncb);
                    o[3 * x + 1] = clamp_u8(ny - (0.299f * ncr + 0.114f * ncb) / 0.587f);
                }
            }
        }
    }
}

re_status re_render_apply(re_render *r, const float *gen_face, const float (*lm)[2], re_image *out) {
    if (!r || !gen_face || !out) return re_fail(RE_ERR_ARG, "re_render_apply: NULL argument");
    if (!r->has_source) return re_fail(RE_ERR_ARG, "re_render_apply: re_render_set_source was not called");
    re_status st = prepare(r, gen_face, lm);
    if (st != RE_OK) return st;
    const re_image *ph = &r->photo;
    if (!(out->data && out->w == ph->w && out->h == ph->h)) {
        if (out->data && !out->owns_data)
            return re_fail(RE_ERR_ARG, "re_render_apply: output image does not own its pixels and is not %dx%d", ph->w, ph->h);
        re_image_free(out);
        if ((st = re_image_alloc(out, ph->w, ph->h)) != RE_OK) return st;
    }
    for (int y = 0; y < ph->h; y++)
        memcpy(out->data + (size_t)y * out->stride, ph->data + (size_t)y * ph->stride, (size_t)ph->w * 3);
    if (r->bw == 0) return RE_OK;
    warp_ctx w;
    w.r = r;
    w.out = out;
    w.G = r->grid;
    w.gw = r->bw / w.G + 2;
    w.gh = r->bh / w.G + 2;
    const float *P = r->p2m;
    w.aa = 0.5f * sqrtf(fabsf(P[0] * P[4] - P[1] * P[3]));   /* half a photo pixel, in model pixels */
    for (int e = 0; e < 2; e++) lid_box(r, e, w.ebox[e]);
    /* the grid first (the lids' taps read it anywhere), then the pixels; rows of blocks are shared out */
    const int n = render_threads(r, (long)r->bw * r->bh);
    run_parts(n, grid_part, &w);
    run_parts(n, warp_part, &w);
    return RE_OK;
}

re_status re_render_face_landmarks(re_face_detector *det, const float *face, int res, float box[4], int *have_box,
                                   re_image *small, re_image *up, float lm[RE_FACE_LANDMARKS][2], int *found) {
    if (!det || !face || !box || !have_box || !small || !up || !lm || !found)
        return re_fail(RE_ERR_ARG, "re_render_face_landmarks: NULL argument");
    *found = 0;
    const int L = RE_ANIM_LANDMARK_SIZE;
    re_status s = re_image_from_chw(small, face, res, res);
    if (s == RE_OK) s = re_image_resize(small, up, L, L);
    if (s != RE_OK) return s;
    if (!*have_box) {
        re_face f[2];
        int nf = 0;
        if ((s = re_face_detect(det, up, f, 2, &nf)) != RE_OK || nf == 0) return s;
        memcpy(lm, f[0].lm, sizeof f[0].lm);
        re_face_box_from_landmarks(f[0].lm, box);
        *have_box = 1;
    } else if ((s = re_face_landmarks(det, up, box, lm)) != RE_OK) {
        return s;
    }
    const float k = (float)res / L;
    for (int i = 0; i < RE_FACE_LANDMARKS; i++)
        for (int d = 0; d < 2; d++) lm[i][d] = (lm[i][d] + 0.5f) * k - 0.5f;
    *found = 1;
    return RE_OK;
}

re_status re_render_get_flow(const re_render *r, float *u, float *v) {
    if (!r || !u || !v) return re_fail(RE_ERR_ARG, "re_render_get_flow: NULL argument");
    memcpy(u, r->u, (size_t)r->res * r->res * sizeof(float));
    memcpy(v, r->v, (size_t)r->res * r->res * sizeof(float));
    return RE_OK;
}

void re_render_get_diag(const re_render *r, re_render_diag *d) {
    if (!d) return;
    if (!r) {
        memset(d, 0, sizeof *d);
        return;
    }
    *d = r->diag;
    memcpy(d->affine, r->aff, sizeof d->affine);
}

void re_render_free(re_render *r) {
    if (!r) return;
    re_image_free(&r->photo);
    re_free(r->ds);
    re_free(r->lum_s);
    re_free(r->lum_t);
    re_free(r->pyr);
    re_free(r->u);
    re_free(r->v);
    re_free(r->tmp);
    re_free(r->field);
    re_free(r->win);
    re_free(r->tps);
    re_free(r->genw);
    re_free(r->mmask);
    re_free(r->fmask);
    re_free(r->wout);
    re_free(r->loc);
    re_free(r->lkeep);
    re_free(r->upad);
    re_free(r->vpad);
    re_free(r->gridv);
    re_free(r->pcrop);
    re_free(r);
}
