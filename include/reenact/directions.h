/*
 * directions.h - motion controls in latent space: facial attributes measured from landmarks, the latent directions
 * that move them (learned from talking-head video and stored in the model file), the space of motion itself, and
 * the steering that turns a driver's code delta and its measured attributes into the delta added to the photo's
 * code. `reenact directions` fits them; `reenact animate --lips/--eyes/--smile/--yaw/...` and `reenact edit` use them.
 *
 * The model, all in the latent space of size L, over K = RE_ATTR_COUNT attributes:
 *   pattern  P [K][L]  the expected code change per unit of each attribute, the others held fixed: the multivariate
 *                      least-squares fit of within-clip centered codes on within-clip centered attributes (ridge).
 *                      Stepping a code by t * P[k] moves attribute k by about t * gain[k] in the decoded face.
 *   filter   F [K][L]  attributes predicted from a code delta: ridge regression of within-clip centered attributes
 *                      on codes. Its held-out R^2 (clips never seen by the fit) says how much of an attribute the code
 *                      delta carries at all.
 *   basis    B [M][L]  orthonormal principal components of the within-clip code deltas (each frame minus its clip's
 *                      mean): the space of motion. Identity varies between clips, not within one, so it stays out.
 * Centering within each clip is the point: the fits then learn how one face moves, not how faces differ.
 *
 * Steering one frame (re_steer_apply), with dz = z_drive(t) - z_drive(ref) and da = a_drive(t) - a_drive(ref) the
 * driver's attribute change measured on its own landmarks:
 *   ahat = F dz                               what the code delta says about the attributes
 *   r    = dz - P^T ahat                      the rest of the motion (head shape, hair, details)
 *   r    = B B^T r                            with motion_space learned: only what lies in the space of motion
 *   out  = s * w_rest * r + sum_k u_k * P[k]
 * With the driver's attributes known (attribute drive), the targets are t_k = s * c_k * da_k + offset_k (s the
 * strength, c_k the per-region multipliers of --lips, --eyes and the region flags, offset_k the constant controls
 * --smile, --yaw, ...), and u solves response^T u = t in the least-squares sense, in units of each attribute's sigma,
 * with a small ridge (0.1 sigma): a weak decoder response is amplified, and a step along one direction that moves
 * another attribute is compensated. Without calibration u_k = t_k. Without the driver's attributes u_k = s * c_k *
 * ahat_k + offset_k. So the mouth,
 * eyes, brows and pose follow the driver's measured landmarks through calibrated directions, and the latent delta
 * supplies everything else. The photo's code plus out is decoded.
 *
 * Errors: RE_ERR_ARG for bad arguments, RE_ERR_NOMEM, and the model-file errors of re_directions_from_tensors. The
 * library never prints. Objects are created/freed; nothing here is thread-safe on one object, and const objects
 * may be shared between threads.
 */
#ifndef REENACT_DIRECTIONS_H
#define REENACT_DIRECTIONS_H

#include <stddef.h>
#include <stdint.h>
#include "reenact/face.h"
#include "reenact/reenact.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Attributes ------------------------------------------------------------------------------------------------
 * All measured from the 68 dlib landmarks, scale-free (face size = max(|eye_to_eye|, 0.9 |eye_to_mouth|), the unit of
 * re_face_landmark_features). */
typedef enum re_attr {
    RE_ATTR_MOUTH = 0, /* inner-lip gap / face size (re_face_features.mouth_open) */
    RE_ATTR_SMILE,     /* mouth width |48-54| / face size + corner lift (lip center below the corners' midpoint,
                          along the face's down axis) / face size */
    RE_ATTR_EYE_L,     /* eye aspect ratio of the image-left eye (re_face_features.eye_open_l) */
    RE_ATTR_EYE_R,     /* eye aspect ratio of the image-right eye */
    RE_ATTR_BROWS,     /* mean height of the 10 brow points above the eye line / face size */
    RE_ATTR_YAW,       /* head yaw in approximate degrees: asin(yaw proxy / 1.3), the head a cylinder whose nose tip
                          lies 1.3 radii from the axis; > 0: nose towards the image right */
    RE_ATTR_PITCH,     /* head pitch in approximate degrees: atan(pitch proxy / 0.43), the nose tip 0.43 eye-mouth
                          distances in front of the face plane; > 0: head tilted down */
    RE_ATTR_ROLL,      /* in-plane rotation of the eye line in degrees; > 0: the image-right eye lower */
    RE_ATTR_COUNT
} re_attr;

RE_API const char *re_attr_name(int a);  /* "mouth", "smile", "eye_l", "eye_r", "brows", "yaw", "pitch", "roll"; NULL */
RE_API const char *re_attr_unit(int a);  /* "face", "ratio" or "deg" */
/* Index of an attribute by name, or -1. */
RE_API int re_attr_from_name(const char *name);

/* The attributes of a face from its landmarks (any coordinates: pixels or normalized). RE_ERR_ARG for non-finite or
 * degenerate landmarks. */
RE_API re_status re_face_attributes(const float lm[RE_FACE_LANDMARKS][2], float a[RE_ATTR_COUNT]);

/* ---- Directions ------------------------------------------------------------------------------------------------ */
#define RE_DIR_MAX_MOTION 128   /* motion-space components at most */
#define RE_DIR_FORMAT_VERSION 1 /* of the "directions" metadata and tensors in a model file */

typedef struct re_directions {
    int latent;                   /* L */
    int n_motion;                 /* M, 0..RE_DIR_MAX_MOTION */
    float *pattern;               /* [RE_ATTR_COUNT][L] */
    float *filter;                /* [RE_ATTR_COUNT][L] */
    float *basis;                 /* [M][L], orthonormal rows */
    float *basis_var;             /* [M] within-clip variance along each component, descending */
    float sigma[RE_ATTR_COUNT];   /* within-clip standard deviation of each attribute in the fit's data (> 0) */
    float r2[RE_ATTR_COUNT];      /* held-out R^2 of the filter (NaN: not measured) */
    float gain[RE_ATTR_COUNT];    /* decoded attribute change per unit step along the control re_dir_control(k)
                                     (1 is ideal), on calibration faces (NaN: not measured) */
    float cross[RE_ATTR_COUNT];   /* largest effect of that control on another attribute, in that attribute's
                                     sigmas, over its own effect in own sigmas (NaN: not measured) */
    float response[RE_ATTR_COUNT * RE_ATTR_COUNT]; /* [k][j]: decoded change of attribute j per unit step along
                                     P[k] (gain[k] = response[k][k]); NaN: not measured. Steering solves with it so
                                     that each driven attribute moves by its target and the others stay put */
    float smile_bias;             /* mean smile of decoded faces minus that of the same real faces (NaN: unknown) */
    float motion_explained;       /* share of the within-clip variance the basis keeps */
    int64_t frames;               /* frames in the fit */
    int clips;                    /* clips in the fit */
} re_directions;

/* Allocate with zeroed arrays; scalars NaN (not measured). RE_ERR_ARG for latent < 1 or n_motion out of range. */
RE_API re_status re_directions_create(re_directions **out, int latent, int n_motion);
RE_API void re_directions_free(re_directions *d);   /* NULL is fine */
RE_API re_status re_directions_copy(const re_directions *d, re_directions **out);

/* The directions a model carries (borrowed; valid while the model lives and until the next set), or NULL. */
RE_API const re_directions *re_model_directions(const re_model *m);
/* Give the model its directions (the model takes ownership of d; NULL removes them). re_model_save writes them;
 * re_model_load reads and validates them. RE_ERR_ARG when d's latent size is not the model's. On error d is freed. */
RE_API re_status re_model_set_directions(re_model *m, re_directions *d);

/* ---- Fitting --------------------------------------------------------------------------------------------------- */
typedef struct re_dir_fit re_dir_fit;

/* ridge: relative ridge strength (a fraction of the mean variance; 0 = default 1e-2). */
RE_API re_status re_dir_fit_create(re_dir_fit **out, int latent, double ridge);
RE_API void re_dir_fit_free(re_dir_fit *f);   /* NULL is fine */
/* Add one clip: codes [n][L], attributes [n][RE_ATTR_COUNT], valid[n] (NULL: all; a frame without a face is 0).
 * heldout = 1 puts the clip in the held-out set that measures R^2 (it joins the final fit too). Clips with fewer
 * than 3 valid frames are ignored (*used = 0). */
RE_API re_status re_dir_fit_add_clip(re_dir_fit *f, const float *codes, const float *attrs, const uint8_t *valid,
                                     int64_t n, int heldout, int *used);
/* Fit. motion_share: keep the fewest components that explain this share of the within-clip variance (0 = 0.95),
 * at most RE_DIR_MAX_MOTION. gain, cross and smile_bias are left NaN (re_dir_calibrate). RE_ERR_ARG when fewer than
 * 2 clips or 50 frames were added. */
RE_API re_status re_dir_fit_finish(re_dir_fit *f, double motion_share, re_directions **out);

/* Calibration: for each attribute, decode codes z + t * P[k] for t in {-2, -1, 0, 1, 2} * sigma[k], measure the
 * decoded faces' attributes (measure(face, attrs, user) returns 0 when no face was found) and set response[k][.]
 * (least-squares slopes over faces and steps); then step along each control re_dir_control(k) the same way and set
 * gain[k] and cross[k]. Also the smile bias when real_attrs (the measured attributes of the real faces the codes come
 * from, [n][K]; NaN for a code without one) is given. decode(z, n, faces, user) decodes n <= 5 codes. RE_ERR_NO_FACE when no decoded face could
 * be measured. */
typedef re_status (*re_dir_decode_fn)(const float *z, int n, float *faces, void *user);
typedef int (*re_dir_measure_fn)(const float *face, float a[RE_ATTR_COUNT], void *user);
RE_API re_status re_dir_calibrate(re_directions *d, const float *codes, const float *real_attrs, int n, int face_floats,
                                  re_dir_decode_fn decode, re_dir_measure_fn measure, void *user);

/* ---- Steering -------------------------------------------------------------------------------------------------- */
typedef enum re_region {
    RE_REGION_ALL = 0,   /* everything the driver does */
    RE_REGION_EXPRESSION,/* mouth, smile, eyes, brows; no head motion */
    RE_REGION_POSE,      /* yaw, pitch, roll only */
    RE_REGION_LIPS,      /* mouth and smile only */
    RE_REGION_EYES       /* eyes (and brows) only */
} re_region;

typedef enum re_motion_space { RE_MSPACE_LEARNED = 0, RE_MSPACE_FULL = 1 } re_motion_space;

typedef struct re_steer_opts {
    re_region region;            /* [RE_REGION_ALL] */
    re_motion_space space;       /* the rest of the motion: projected on the learned basis or kept whole [LEARNED] */
    int attr_drive;              /* 1: drive the attributes from the driver's landmarks when known [1] */
    float lips;                  /* multiplier of the mouth and smile motion [1] */
    float eyes;                  /* multiplier of the eye motion [1] */
    float offset[RE_ATTR_COUNT]; /* constant offsets, in the attribute's units (deg for pose) [0] */
    int debias;                  /* subtract the model's smile bias (needs a calibrated smile_bias) [0] */
    int mouth_absolute;          /* re_steer_attr_delta: the mouth opens as far as the driver's, measured from the
                                    photo's own mouth, instead of by the driver's change since its reference frame
                                    (a reference frame with an open mouth would otherwise close a closed mouth
                                    further, which it cannot) [1] */
} re_steer_opts;
RE_API void re_steer_opts_default(re_steer_opts *o);
/* Check the options (ranges: lips, eyes in [0, 3]; offsets within 4 sigma of the attribute, pose within 45 deg).
 * RE_ERR_ARG naming the option. d may be NULL (then only values are checked). */
RE_API re_status re_steer_opts_check(const re_steer_opts *o, const re_directions *d);
/* Do the options ask for something only directions can do (a region, lips/eyes multipliers other than 1, offsets,
 * debias)? The other fields (attribute drive, motion space, mouth) fall back to plain arithmetic without them. */
RE_API int re_steer_needs_directions(const re_steer_opts *o);
/* Does steering with o change anything relative to plain latent arithmetic? (0: the caller may skip it) */
RE_API int re_steer_active(const re_steer_opts *o);
/* What to steer with, for a model carrying directions d (re_model_directions; NULL: none) and options o: *use = d
 * when steering changes something (re_steer_active), NULL when plain latent arithmetic serves. Errors (*use NULL):
 * RE_ERR_UNSUPPORTED when o needs directions (re_steer_needs_directions) and d is NULL, or asks to debias with
 * directions whose smile bias was not measured; RE_ERR_ARG for bad options (re_steer_opts_check). */
RE_API re_status re_steer_directions(const re_directions *d, const re_steer_opts *o, const re_directions **use);

/* The steps u along the patterns (sum_k u_k P[k]) whose decoded effect best matches the attribute changes t (in each
 * attribute's units), from the calibrated response (formula at the top; ridge RE_DIR_SOLVE_RIDGE in sigma units);
 * u = t when the directions are not calibrated. Steering and re_dir_control use it. */
#define RE_DIR_SOLVE_RIDGE 0.01
RE_API void re_dir_solve(const re_directions *d, const double t[RE_ATTR_COUNT], double u[RE_ATTR_COUNT]);
/* The latent direction that moves attribute k by one of its units and keeps the others (dir [L] = sum_j u_j P[j]
 * with u = re_dir_solve(e_k)). RE_ERR_ARG for k out of range. */
RE_API re_status re_dir_control(const re_directions *d, int k, float *dir);

/* The attribute change to drive with (da of re_steer_apply): a_drv - a_ref for every attribute, except the mouth
 * with mouth_absolute and a_photo given: a_drv[mouth] - a_photo[mouth]. a_photo: the photo's attributes from its own
 * landmarks, or NULL. */
RE_API void re_steer_attr_delta(const re_steer_opts *o, const float a_drv[RE_ATTR_COUNT],
                                const float a_ref[RE_ATTR_COUNT], const float *a_photo, float da[RE_ATTR_COUNT]);

/* out = the steered delta for one frame (formula at the top). dz [L]: z_drive(t) - z_drive(ref), unscaled; strength
 * s scales the driven motion (rest and attributes), not the constant offsets. da [K]: the driver's attribute change
 * since the reference frame, or NULL (attributes then come from ahat). With region ALL, space FULL, attr_drive 0,
 * multipliers 1 and no offsets, out = s * dz up to rounding. scratch: 2 * L floats. out may alias dz. */
RE_API void re_steer_apply(const re_directions *d, const re_steer_opts *o, const float *dz, const float *da,
                           float strength, float *out, float *scratch);

#ifdef __cplusplus
}
#endif
#endif
