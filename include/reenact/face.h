/*
 * face.h - find faces, put 68 landmarks on them, and align them: the one place that decides how reenact frames a
 * face, for training images, source photos and driving video frames alike.
 *
 * Usage (error handling elided):
 *     re_face_detector *det = NULL;
 *     re_face_detector_open(&det, NULL);            // dlib HOG detector + 68-point shape predictor
 *     re_face faces[4]; int n = 0;
 *     re_face_detect(det, &photo, faces, 4, &n);    // largest face first; n == 0 is not an error
 *     re_image crop = {0};
 *     re_face_align(&photo, faces[0].lm, 64, &crop);  // 64x64 aligned crop
 *
 *     re_face_tracker *trk = NULL;                  // video: detect once, then follow the landmarks
 *     re_face_tracker_create(&trk, det, 64, NULL);
 *     for each frame: re_face_tracker_update(trk, &frame, &track);  // track.m_dst_to_src: smoothed crop matrix
 *     re_face_tracker_free(trk); re_face_detector_free(det); re_image_free(&crop);
 *
 * Coordinates: pixel (x,y) has its center at integer (x,y) (as in re_image_warp_affine); landmarks are sub-pixel
 * floats in that system. A face box {x0,y0,x1,y1} is in pixel-edge units: it covers columns x0 .. x1-1.
 * Landmarks follow the iBUG 300-W 68-point layout: 0-16 jaw, 17-26 brows, 27-35 nose (30 = tip), 36-41 the eye on
 * the image's left (the subject's right eye), 42-47 the eye on the image's right, 48-59 outer lips (48 and 54 are
 * the mouth corners), 60-67 inner lips.
 * Matrices m[6] map (x,y) to (m[0]*x + m[1]*y + m[2], m[3]*x + m[4]*y + m[5]) (the re_image_warp_affine layout).
 * Ownership and failure rules are those of reenact.h. Detectors and trackers are not thread-safe: use one per thread.
 * Without dlib (RE_HAVE_DLIB undefined) the alignment, tracking-math and feature functions still work, and
 * re_face_detector_open fails with RE_ERR_UNSUPPORTED.
 */
#ifndef REENACT_FACE_H
#define REENACT_FACE_H

#include "reenact/media.h"
#include "reenact/reenact.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RE_FACE_LANDMARKS 68
/* Used when neither the model_path argument nor $REENACT_DLIB_MODEL names a file (Debian: libdlib-data). */
#define RE_FACE_DEFAULT_MODEL "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"

/* Framing (FFHQ-style, see docs/ARCH.md "Face alignment"): with eye_avg = mean of the two eye centers,
 * eye_to_eye = right eye - left eye, eye_to_mouth = mouth-corner midpoint - eye_avg:
 *   crop center  = eye_avg + RE_FACE_CROP_SHIFT * eye_to_mouth
 *   crop x axis  = direction of (eye_to_eye - eye_to_mouth rotated by -90 degrees)
 *   half side    = RE_FACE_CROP_SCALE * max(|eye_to_eye|, 0.9 * |eye_to_mouth|)
 * FFHQ uses 2.0 and 0.1; reenact frames tighter (1.3, 0.55) because the training set is UTKFace's 200x200
 * chips, which end at the chin: FFHQ framing would make ~62% of every training crop replicated border, this
 * framing ~11%, while keeping brows, forehead, cheeks and chin inside the crop. Changing these invalidates
 * every trained model. */
#define RE_FACE_CROP_SCALE 1.3f
#define RE_FACE_CROP_SHIFT 0.55f

/* One detected face. */
typedef struct re_face {
    float box[4];                      /* detector box x0,y0,x1,y1 in image pixels (see Coordinates above) */
    float score;                       /* detector confidence (dlib HOG margin; > 0 above threshold) */
    float lm[RE_FACE_LANDMARKS][2];    /* landmarks (x,y) in image pixels */
} re_face;

typedef struct re_face_detector re_face_detector;

typedef struct re_face_detector_opts {
    const char *model_path;  /* landmark model; NULL: $REENACT_DLIB_MODEL, else RE_FACE_DEFAULT_MODEL */
    int det_max_side;        /* the HOG detector scans the image downscaled so its longest side is at most this
                                [384]; it finds faces >= ~80 px in the scanned image, i.e. >= ~21% of the longest
                                side. Landmarks always use the full-resolution image. 0 = never downscale. */
    int retry;               /* 1 [default]: when a scan finds nothing, scan again with a replicated 25% border (faces
                                that fill or leave the frame, like UTKFace chips) and at twice the resolution (faces
                                down to ~10% of the longest side). 0: one scan only. */
    float threshold;         /* added to the detector's decision threshold [0]; < 0 finds more (and more false)
                                faces, > 0 fewer */
} re_face_detector_opts;

/* Fill *o with the defaults above. */
RE_API void re_face_detector_opts_default(re_face_detector_opts *o);

/* Open the default detector (dlib frontal HOG + 68-point shape predictor) with default options, loading the landmark
 * model from model_path (NULL: $REENACT_DLIB_MODEL, else RE_FACE_DEFAULT_MODEL). Takes 0.16-0.23 s on a 2-core Zen 3
 * (the model file is 100 MB; dlib's own loaders take 1.5-1.7 s: bench/bench_face_open.cpp).
 * *d is NULL on error. RE_ERR_IO when the model file cannot be opened (the message names it and how to get it),
 * RE_ERR_FORMAT when it is not a 68-point dlib shape predictor, RE_ERR_UNSUPPORTED when built without dlib,
 * RE_ERR_NOMEM. */
RE_API re_status re_face_detector_open(re_face_detector **d, const char *model_path);
/* Same with options (NULL = defaults). RE_ERR_ARG for det_max_side < 0 (or 1..63) or a non-finite threshold. */
RE_API re_status re_face_detector_open_opts(re_face_detector **d, const re_face_detector_opts *o);
RE_API void re_face_detector_free(re_face_detector *d);   /* NULL is fine */
/* A copy of d for use on another thread (same model and options). The read-only landmark model is shared, not
 * copied: a clone costs a few MB and milliseconds; the model is freed with the last detector that uses it.
 * RE_ERR_ARG for NULL, RE_ERR_NOMEM, RE_ERR_BACKEND. */
RE_API re_status re_face_detector_clone(const re_face_detector *d, re_face_detector **out);

/* Detect faces in img and put landmarks on each. Writes up to max faces to faces[0..*n-1], sorted by box area,
 * largest first. Finding no face is not an error: RE_OK with *n == 0. RE_ERR_ARG for a bad image or max < 0,
 * RE_ERR_NOMEM, RE_ERR_BACKEND if the detector library failed (message says why). */
RE_API re_status re_face_detect(re_face_detector *d, const re_image *img, re_face *faces, int max, int *n);

/* Run only the landmark predictor in a given box (e.g. the previous frame's face): ~1 ms at any image size.
 * The box should frame the face the way the detector does (re_face_box_from_landmarks gives such a box from
 * landmarks). RE_ERR_ARG for a bad image or a box that is degenerate, non-finite or entirely outside the image. */
RE_API re_status re_face_landmarks(re_face_detector *d, const re_image *img, const float box[4],
                                   float lm[RE_FACE_LANDMARKS][2]);

/* The detector-like box (square, x0,y0,x1,y1) that frames a face with these landmarks: the landmarks' bounding
 * square scaled by 1.03 and moved up by 7.6% of its side (the mean relation of dlib's boxes to its landmarks,
 * measured on 300 UTKFace chips and 18 portraits). */
RE_API void re_face_box_from_landmarks(const float lm[RE_FACE_LANDMARKS][2], float box[4]);

/* ---------------------------------------------------------------------------------------------------------
 * Alignment: a similarity transform (rotation, uniform scale, translation) that maps the face to a square crop.
 * ------------------------------------------------------------------------------------------------------- */

/* The crop square in source-image pixels: center, half side, and the angle of its x axis (radians, measured from
 * the image x axis towards the image y axis, i.e. clockwise on screen). */
typedef struct re_face_frame {
    float cx, cy;
    float half;
    float angle;
} re_face_frame;

/* The crop square of a face (see RE_FACE_CROP_SCALE). RE_ERR_ARG for non-finite or degenerate landmarks
 * (eyes and mouth collapsed to a point). */
RE_API re_status re_face_frame_from_landmarks(const float lm[RE_FACE_LANDMARKS][2], re_face_frame *f);

/* Matrices of a crop square for an out_size x out_size crop: m_dst_to_src maps crop pixels to source pixels
 * (what re_image_warp_affine takes), m_src_to_dst is its inverse (source pixels -> crop pixels, for paste-back).
 * The crop's pixel centers (i + 0.5) * 2 half / out_size - half from the center tile the square exactly.
 * Either output may be NULL. RE_ERR_ARG for out_size < 1 or a non-finite/degenerate frame (half <= 0). */
RE_API re_status re_face_frame_matrix(const re_face_frame *f, int out_size, float m_dst_to_src[6],
                                      float m_src_to_dst[6]);

/* The alignment transform of a face: re_face_frame_from_landmarks + re_face_frame_matrix. */
RE_API re_status re_face_align_matrix(const float lm[RE_FACE_LANDMARKS][2], int out_size, float m_dst_to_src[6],
                                      float m_src_to_dst[6]);

/* Aligned out_size x out_size crop of the face with landmarks lm, bilinear (antialiased when shrinking) with the
 * image border replicated. *out follows media.h's "Output images" rule (zeroed struct or reused image).
 * Returns the errors of re_face_align_matrix and re_image_warp_affine. */
RE_API re_status re_face_align(const re_image *src, const float lm[RE_FACE_LANDMARKS][2], int out_size, re_image *out);

/* Inverse of a 2x3 affine matrix. RE_ERR_ARG when singular or non-finite. inv may alias m. */
RE_API re_status re_affine_invert(const float m[6], float inv[6]);

/* ---------------------------------------------------------------------------------------------------------
 * Expression and pose measures from landmarks (for evaluating motion fidelity). All are scale-free.
 * ------------------------------------------------------------------------------------------------------- */
typedef struct re_face_features {
    float mouth_open;   /* inner-lip gap (mean of |61-67|, |62-66|, |63-65|) / face size; ~0 closed, ~0.3-0.5 wide */
    float eye_open_l;   /* eye aspect ratio (|37-41| + |38-40|) / (2 |36-39|) of the image-left eye; ~0.3 open,
                           < 0.15 closed */
    float eye_open_r;   /* the same for the image-right eye (42-47) */
    float yaw;          /* (dl - dr) / (dl + dr) with dl, dr the nose tip's (30) distance along the eye line to jaw
                           points 0 and 16: 0 frontal, > 0 nose towards the image right, in [-1,1] */
    float pitch;        /* nose tip's position between eye line (0) and mouth-corner line (1) minus 0.54, its mean
                           on frontal faces: > 0 head tilted down, < 0 up (a proxy, not degrees) */
    float roll;         /* angle of the eye line in radians, > 0 when the image-right eye is lower */
    float face_size;    /* the unit used above: max(|eye_to_eye|, 0.9 |eye_to_mouth|) in pixels */
} re_face_features;

/* Compute the measures above. RE_ERR_ARG for non-finite or degenerate landmarks. */
RE_API re_status re_face_landmark_features(const float lm[RE_FACE_LANDMARKS][2], re_face_features *out);

/* ---------------------------------------------------------------------------------------------------------
 * Video tracking. Per frame the tracker runs the landmark predictor in a box derived from the previous frame's
 * landmarks (~1-2 ms), and checks the result: plausible geometry, bounded change of size, position and angle, and
 * appearance (a 24x24 gray aligned patch must correlate >= 0.5 with the previous frame's: the predictor outputs a
 * face-shaped set of points even on a blank wall). Every redetect_every frames the detector confirms the face in a
 * window around it (a few ms); one failed confirmation is tolerated while the other checks pass (turned heads defeat
 * the frontal detector before the tracker). The full-frame detector runs on the first frame, when a check fails,
 * and, while no face is found, every lost_retry_every frames.
 * The crop square (center, log half side, angle) is smoothed with a One-Euro filter (Casiez et al. 2012): a low
 * cutoff when the head is still removes jitter, a cutoff that grows with speed keeps lag small during motion.
 * ------------------------------------------------------------------------------------------------------- */
typedef struct re_face_tracker re_face_tracker;

typedef struct re_face_tracker_opts {
    float fps;              /* frame rate of the video, for the filter's time step [25] */
    int redetect_every;     /* confirm the face with the detector every N frames [10]; 0 = never */
    int lost_retry_every;   /* while no face is found, run the full detector every N frames [3] */
    int smooth;             /* 1: One-Euro smoothing [default]; 0: raw per-frame transform */
    float min_cutoff;       /* One-Euro cutoff at rest, Hz [1.0] */
    float beta;             /* cutoff increase per unit speed, speed in half sides (or radians) per second [1.5] */
    float d_cutoff;         /* cutoff of the speed estimate, Hz [1.0] */
} re_face_tracker_opts;

RE_API void re_face_tracker_opts_default(re_face_tracker_opts *o);

/* What the tracker reports for one frame. */
typedef struct re_face_track {
    int found;             /* 1 if a face was located in this frame (face.lm valid) */
    int detected;          /* 1 if the detector ran on this frame (full frame or the window around the face) */
    int valid;             /* 1 if the matrices below come from a face (this frame's or the last one found);
                              0 before any face was found: they then frame the centered square of the frame */
    int lost;              /* frames so far in which no face was found */
    int lost_run;          /* consecutive frames up to this one without a face (0 when found) */
    float appearance;      /* when found by tracking: normalized correlation of the face's gray 24x24 aligned patch
                              with the previous frame's (a track is dropped below 0.5); 1 after a detection;
                              0 when not found */
    re_face face;          /* this frame's face when found (box = the box the landmarks were predicted in) */
    re_face_frame raw;     /* this frame's unsmoothed crop square (the last found one when not found) */
    re_face_frame smooth;  /* smoothed crop square */
    float m_dst_to_src[6]; /* smoothed alignment: crop pixels -> frame pixels, for out_size */
    float m_src_to_dst[6]; /* its inverse */
} re_face_track;

/* Create a tracker that uses detector d (borrowed: it must outlive the tracker) and reports matrices for
 * out_size x out_size crops. o may be NULL (defaults). RE_ERR_ARG for out_size < 1 or bad options, RE_ERR_NOMEM. */
RE_API re_status re_face_tracker_create(re_face_tracker **t, re_face_detector *d, int out_size,
                                        const re_face_tracker_opts *o);
/* Process the next frame (any size; a size change resets tracking). When no face is found the last good transform
 * is reused and counted (lost, lost_run). RE_OK also when no face is found; errors as re_face_detect. */
RE_API re_status re_face_tracker_update(re_face_tracker *t, const re_image *frame, re_face_track *out);
/* Forget the face and the filter state (e.g. before a new video). Counters restart at 0. */
RE_API void re_face_tracker_reset(re_face_tracker *t);
RE_API void re_face_tracker_free(re_face_tracker *t);   /* NULL is fine */

#ifdef __cplusplus
}
#endif
#endif
