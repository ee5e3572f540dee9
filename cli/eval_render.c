/*
 * eval_render.c - see eval_render.h. The measurement crop is the face's crop square grown by ER_MEAS_GROW, cut
 * from the output at er_opts.meas pixels with the same matrix for the photo and every output frame, so a still
 * output scores exactly like the photo.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_render.h"
#include "reenact/directions.h"
#include "reenact/metrics.h"

#define ER_MEAS_GROW 1.5f   /* the measurement crop's half side, in crop-square half sides */
#define SEAM_BAND 0.06      /* half width of a seam band, crop units */

struct er_portrait {
    er_opts o;
    re_image photo;          /* downscaled to max_side */
    re_face_frame fr;        /* its face's crop square */
    re_render *render;
    re_paste *paste;
    float m_meas[6];         /* measurement crop pixel -> photo pixel */
    float src_box[4];        /* landmark box of the decoded source at RE_ANIM_LANDMARK_SIZE */
    int have_box;
    re_image out, meas, small, up;
    float *src_sq, *out_sq;  /* [3][q][q] the face square of the measurement crop (photo, output) */
    int q, q0;               /* its side and offset in the measurement crop */
    er_result src;
    int gray;
    int n_edges;             /* blend boundaries measured for the seam (crop square; photo renderer: its ring) */
    double edge_r[2];        /* their superellipse radii, crop units */
    double photo_band[2];    /* the photo's own mean gradient on each boundary band */
};

/* Largest max(R,G,B) - min(R,G,B) of any pixel. */
static int max_chroma(const re_image *im) {
    int mx = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            const uint8_t *p = im->data + (size_t)y * im->stride + 3 * (size_t)x;
            const int hi = p[0] > p[1] ? (p[0] > p[2] ? p[0] : p[2]) : (p[1] > p[2] ? p[1] : p[2]);
            const int lo = p[0] < p[1] ? (p[0] < p[2] ? p[0] : p[2]) : (p[1] < p[2] ? p[1] : p[2]);
            if (hi - lo > mx) mx = hi - lo;
        }
    return mx;
}

/* The face square (central q x q of the measurement crop) as planar floats. */
static void square_chw(const re_image *m, int q0, int q, float *dst) {
    const size_t n = (size_t)q * q;
    for (int y = 0; y < q; y++)
        for (int x = 0; x < q; x++) {
            const uint8_t *p = m->data + (size_t)(y + q0) * m->stride + 3 * (size_t)(x + q0);
            for (int c = 0; c < 3; c++) dst[c * n + (size_t)y * q + x] = p[c] / 255.0f;
        }
}

/* Landmarks, features and embedding of the measurement crop in p->meas. */
static re_status measure_crop(er_portrait *p, er_result *r) {
    re_face f[2];
    int nf = 0;
    r->found = 0;
    r->has_emb = 0;
    for (int k = 0; k < ER_NFEAT; k++) r->feat[k] = NAN;
    re_status s = re_face_detect(p->o.det, &p->meas, f, 2, &nf);
    if (s != RE_OK || nf == 0) return s;
    re_face_features ff;
    if (re_face_landmark_features(f[0].lm, &ff) != RE_OK) return RE_OK;
    r->found = 1;
    r->feat[0] = ff.mouth_open;
    r->feat[1] = 0.5 * ((double)ff.eye_open_l + ff.eye_open_r);
    r->feat[2] = ff.yaw;
    r->feat[3] = ff.pitch;
    float a[RE_ATTR_COUNT];
    if (re_face_attributes(f[0].lm, a) == RE_OK) r->feat[4] = a[RE_ATTR_SMILE];
    if (p->o.fid) {
        if ((s = re_faceid_embed(p->o.fid, &p->meas, (const float(*)[2])f[0].lm, r->emb)) != RE_OK) return s;
        r->has_emb = 1;
    }
    return RE_OK;
}

/* Mean gradient magnitude of the luminance of img over the pixels whose crop-square radius (superellipse, crop
 * units) is within [r0, r1). */
static double band_gradient(const er_portrait *p, const re_image *img, double r0, double r1) {
    float d2s[6], s2d[6];
    if (re_face_frame_matrix(&p->fr, 2, d2s, s2d) != RE_OK) return NAN;
    /* s2d maps photo pixels to a 2x2 crop: crop units u = s2d(x) - 0.5 in [-1, 1] */
    const double ext = r1 * p->fr.half * 1.42 + 2;
    int x0 = (int)floor(p->fr.cx - ext), x1 = (int)ceil(p->fr.cx + ext), y0 = (int)floor(p->fr.cy - ext),
        y1 = (int)ceil(p->fr.cy + ext);
    x0 = x0 < 1 ? 1 : x0;
    y0 = y0 < 1 ? 1 : y0;
    x1 = x1 > img->w - 1 ? img->w - 1 : x1;
    y1 = y1 > img->h - 1 ? img->h - 1 : y1;
    double sum = 0;
    long n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            const double u = s2d[0] * x + s2d[1] * y + s2d[2] - 0.5, v = s2d[3] * x + s2d[4] * y + s2d[5] - 0.5;
            const double rad = pow(u * u * u * u + v * v * v * v, 0.25);
            if (rad < r0 || rad >= r1) continue;
            const uint8_t *c = img->data + (size_t)y * img->stride + 3 * (size_t)x;
            const uint8_t *rgt = c + 3, *dn = c + img->stride;
            const double l = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
            const double gx = 0.299 * rgt[0] + 0.587 * rgt[1] + 0.114 * rgt[2] - l;
            const double gy = 0.299 * dn[0] + 0.587 * dn[1] + 0.114 * dn[2] - l;
            sum += sqrt(gx * gx + gy * gy);
            n++;
        }
    return n ? sum / n : NAN;
}

static re_status decoded_landmarks(er_portrait *p, const float *face, float lm[RE_FACE_LANDMARKS][2], int *ok) {
    *ok = 0;
    if (p->o.field == RE_FIELD_FLOW) return RE_OK;
    return re_render_face_landmarks(p->o.det, face, p->o.res, p->src_box, &p->have_box, &p->small, &p->up, lm, ok);
}

re_status er_portrait_open(er_portrait **out, const er_opts *o, const re_image *photo, const re_face *face,
                           const float *ds) {
    *out = NULL;
    er_portrait *p = calloc(1, sizeof *p);
    if (!p) return RE_ERR_NOMEM;
    p->o = *o;
    re_status s = re_face_frame_from_landmarks(face->lm, &p->fr);
    const int side = photo->w > photo->h ? photo->w : photo->h;
    if (s == RE_OK && side > o->max_side) {
        const double k = (double)o->max_side / side;
        int w = (int)lround(photo->w * k), h = (int)lround(photo->h * k);
        s = re_image_resize(photo, &p->photo, w < 1 ? 1 : w, h < 1 ? 1 : h);
        const double kx = (double)p->photo.w / photo->w, ky = (double)p->photo.h / photo->h;
        p->fr.cx = (float)((p->fr.cx + 0.5) * kx - 0.5);
        p->fr.cy = (float)((p->fr.cy + 0.5) * ky - 0.5);
        p->fr.half = (float)(p->fr.half * 0.5 * (kx + ky));
    } else if (s == RE_OK) {
        s = re_image_copy(&p->photo, photo);
    }
    if (s != RE_OK) goto fail;
    if (o->render == RE_RENDER_PHOTO) {
        float lm[RE_FACE_LANDMARKS][2];
        int ok = 0;
        re_render_opts ro;
        re_render_opts_default(&ro);
        ro.eye_motion = o->eye_motion;
        if ((s = re_render_create(&p->render, &p->photo, &p->fr, o->res, &ro)) != RE_OK) goto fail;
        if ((s = decoded_landmarks(p, ds, lm, &ok)) != RE_OK) goto fail;
        if ((s = re_render_set_source(p->render, ds, ok ? (const float(*)[2])lm : NULL)) != RE_OK) goto fail;
    } else if ((s = re_paste_create(&p->paste, &p->photo, &p->fr, 0.25f)) != RE_OK) {
        goto fail;
    }
    /* the measurement crop and the photo's own measures */
    re_face_frame mf = p->fr;
    mf.half *= ER_MEAS_GROW;
    if ((s = re_face_frame_matrix(&mf, o->meas, p->m_meas, NULL)) != RE_OK) goto fail;
    if ((s = re_image_warp_affine(&p->photo, &p->meas, o->meas, o->meas, p->m_meas, RE_BORDER_REPLICATE)) != RE_OK)
        goto fail;
    p->q = (int)lround(o->meas / ER_MEAS_GROW);
    p->q0 = (o->meas - p->q) / 2;
    p->src_sq = malloc(3 * sizeof(float) * (size_t)p->q * p->q);
    p->out_sq = malloc(3 * sizeof(float) * (size_t)p->q * p->q);
    if (!p->src_sq || !p->out_sq) {
        s = RE_ERR_NOMEM;
        goto fail;
    }
    square_chw(&p->meas, p->q0, p->q, p->src_sq);
    if ((s = measure_crop(p, &p->src)) != RE_OK) goto fail;
    p->gray = max_chroma(&p->meas) <= 2;
    /* the seam's bands, and the photo's own gradient there (constant: measured once) */
    re_render_opts ro;
    re_render_opts_default(&ro);
    p->edge_r[0] = 1.0;
    p->edge_r[1] = ro.outer;
    p->n_edges = p->render ? 2 : 1;
    for (int k = 0; k < p->n_edges; k++)
        p->photo_band[k] = band_gradient(p, &p->photo, p->edge_r[k] - SEAM_BAND, p->edge_r[k] + SEAM_BAND);
    p->src.sharp = 1.0;
    p->src.seam = 1.0;
    *out = p;
    return RE_OK;
fail:
    er_portrait_free(p);
    return s;
}

void er_set_parts(er_portrait *p, const re_render_parts *parts) {
    if (p->render) re_render_set_parts(p->render, parts);
}

re_status er_measure(er_portrait *p, const float *gen, er_result *r) {
    re_status s;
    if (p->render) {
        float lm[RE_FACE_LANDMARKS][2];
        int ok = 0;
        if ((s = decoded_landmarks(p, gen, lm, &ok)) != RE_OK) return s;
        s = re_render_apply(p->render, gen, ok ? (const float(*)[2])lm : NULL, &p->out);
    } else {
        s = re_image_from_chw(&p->small, gen, p->o.res, p->o.res);
        if (s == RE_OK) s = re_paste_apply(p->paste, &p->small, &p->out);
    }
    if (s != RE_OK) return s;
    if ((s = re_image_warp_affine(&p->out, &p->meas, p->o.meas, p->o.meas, p->m_meas, RE_BORDER_REPLICATE)) != RE_OK)
        return s;
    if ((s = measure_crop(p, r)) != RE_OK) return s;
    square_chw(&p->meas, p->q0, p->q, p->out_sq);
    if (re_metric_sharpness_ratio(p->out_sq, p->src_sq, 3, p->q, p->q, &r->sharp) != RE_OK) r->sharp = NAN;
    r->chroma = p->gray ? max_chroma(&p->out) : 0;   /* only reported for grayscale photos */
    /* the blend boundaries: the crop square's edge (paste-back mask, the residual's mask) and, for the photo
     * renderer, the edge of the ring where its global motion fades out */
    double worst = 0;
    for (int k = 0; k < p->n_edges; k++) {
        const double go = band_gradient(p, &p->out, p->edge_r[k] - SEAM_BAND, p->edge_r[k] + SEAM_BAND);
        const double gp = p->photo_band[k];
        if (isfinite(go) && isfinite(gp) && gp > 1e-9 && go / gp > worst) worst = go / gp;
    }
    r->seam = worst > 0 ? worst : NAN;
    return RE_OK;
}

const er_result *er_source(const er_portrait *p) { return &p->src; }
int er_is_gray(const er_portrait *p) { return p->gray; }

void er_portrait_free(er_portrait *p) {
    if (!p) return;
    re_render_free(p->render);
    re_paste_free(p->paste);
    re_image *imgs[] = {&p->photo, &p->out, &p->meas, &p->small, &p->up};
    for (size_t i = 0; i < sizeof imgs / sizeof *imgs; i++) re_image_free(imgs[i]);
    free(p->src_sq);
    free(p->out_sq);
    free(p);
}
