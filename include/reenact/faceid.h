/*
 * faceid.h - face-identity embeddings for evaluation: how much a generated face still looks like the person in the
 * source photo. Wraps a dlib DNN face-recognition network (the DenseNet of the public repository Cydral/BAREL,
 * `face_recognition_densenet_model_v1.dat`, MIT license; not shipped with reenact, see
 * ../shared/models/face-id/README.md): a 150x150 face chip -> a 128-d descriptor; two faces of the same person are
 * closer than RE_FACEID_THRESHOLD in Euclidean distance, faces of different people farther.
 *
 * Usage (error handling elided):
 *     re_face_detector *det = NULL;  re_faceid *id = NULL;
 *     re_face_detector_open(&det, NULL);
 *     re_faceid_open(&id, "face_recognition_densenet_model_v1.dat");   // NULL: $REENACT_FACEID_MODEL
 *     re_face fa, fb; int n = 0;
 *     re_face_detect(det, &photo_a, &fa, 1, &n);  re_face_detect(det, &photo_b, &fb, 1, &n);
 *     float ea[RE_FACEID_DIM], eb[RE_FACEID_DIM];
 *     re_faceid_embed(id, &photo_a, fa.lm, ea);
 *     re_faceid_embed(id, &photo_b, fb.lm, eb);
 *     int same = re_faceid_distance(ea, eb) < RE_FACEID_THRESHOLD;
 *     re_faceid_free(id); re_face_detector_free(det);
 *
 * The recipe is the network authors' one: the chip is dlib::get_face_chip_details(shape68, 150, 0.25) +
 * dlib::extract_image_chip (bilinear), where shape68 are the 68 landmarks (iBUG layout, image pixels, as in
 * face.h) rounded to whole pixels as dlib's own shape predictor outputs them; no jitter averaging. What the
 * distance means (measured with this recipe, ../shared/models/face-id/README.md): the same photo 0; the same person
 * in different photos 0.24-0.55; different people a median of 0.80; a portrait squeezed to 64x64 and upscaled back
 * about 0.20 from its original (the floor a perfect 64x64 generator can reach).
 * Speed: the network runs on the CPU (dlib's CPU layers, OpenBLAS for the convolutions): 11-20 ms per face on the
 * 2-core AMD EPYC (Zen 4) development machine with OMP_NUM_THREADS=1 or OMP_WAIT_POLICY=passive, measured while
 * other jobs shared the cores; the chip alone 0.35-0.6 ms. OpenBLAS's OpenMP threads spin-wait by default and then
 * collapse on busy cores (100-360 ms per face measured), so set OMP_WAIT_POLICY=passive (what the reenact CLI does)
 * or OMP_NUM_THREADS=1. Several faces in one forward pass were measured no faster, so there is no batch call.
 *
 * Ownership and failure rules are those of reenact.h: the library never prints, never exits and never aborts on bad
 * input; errors are re_status codes with a message from re_last_error() that names the model file where one is
 * involved. Thread-safety: an re_faceid keeps per-call state (the network's activations): use one per thread
 * (each loads its own copy of the model, ~3 MB). re_faceid_distance is pure and thread-safe.
 * Without dlib (RE_HAVE_DLIB undefined) re_faceid_open, the embed functions and re_faceid_chip fail with
 * RE_ERR_UNSUPPORTED; re_faceid_distance works.
 */
#ifndef REENACT_FACEID_H
#define REENACT_FACEID_H

#include "reenact/media.h"
#include "reenact/reenact.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RE_FACEID_DIM 128           /* floats per embedding */
#define RE_FACEID_THRESHOLD 0.55f   /* same/different person threshold of the network's authors (96.1% on LFW) */
#define RE_FACEID_CHIP 150          /* side of the aligned face chip the network takes */
#define RE_FACEID_PADDING 0.25      /* get_face_chip_details padding of that chip */

typedef struct re_faceid re_faceid;

/* Load the network from path (NULL or "": $REENACT_FACEID_MODEL). *f is NULL on error. Takes 0.1-0.4 s (it runs
 * the network once on a gray chip to check that it gives RE_FACEID_DIM finite values).
 * Errors: RE_ERR_ARG (f NULL, or no path and $REENACT_FACEID_MODEL unset), RE_ERR_IO (the file cannot be opened;
 * the message names it), RE_ERR_FORMAT (the file is not this network: another dlib network, a truncated or corrupt
 * file, not a dlib file at all; the message names the file and says what dlib found), RE_ERR_UNSUPPORTED (built
 * without dlib), RE_ERR_NOMEM, RE_ERR_BACKEND (dlib failed for another reason). */
RE_API re_status re_faceid_open(re_faceid **f, const char *path);
RE_API void re_faceid_free(re_faceid *f);   /* NULL is fine */

/* Embedding of the face with 68 landmarks lm (image pixels, iBUG layout as in face.h) in img: the 150x150 chip of
 * dlib::get_face_chip_details(shape, 150, 0.25) + extract_image_chip, then the network; out gets RE_FACEID_DIM
 * floats. Chip parts outside the image are black (dlib's rule). Deterministic: the same input gives the same
 * output. Errors: RE_ERR_ARG (NULL argument, invalid image, landmarks non-finite, collapsed (all within
 * 2 px) or far outside the image (beyond 4x its longest side)), RE_ERR_NOMEM, RE_ERR_BACKEND. */
RE_API re_status re_faceid_embed(re_faceid *f, const re_image *img, const float lm[68][2], float out[RE_FACEID_DIM]);

/* The network's input for that face: the 150x150 RGB chip described at re_faceid_embed, written to *chip (media.h
 * "Output images" rule). For looking at what the network sees, or for re_faceid_embed_chip. Needs no model.
 * Errors: those of re_faceid_embed. */
RE_API re_status re_faceid_chip(const re_image *img, const float lm[68][2], re_image *chip);

/* Embedding of an already aligned RE_FACEID_CHIP x RE_FACEID_CHIP chip (as re_faceid_chip makes). RE_ERR_ARG for
 * NULL arguments or another image size. */
RE_API re_status re_faceid_embed_chip(re_faceid *f, const re_image *chip, float out[RE_FACEID_DIM]);

/* Euclidean distance between two RE_FACEID_DIM embeddings (accumulated in double). NaN when a or b is NULL. */
RE_API float re_faceid_distance(const float *a, const float *b);

#ifdef __cplusplus
}
#endif
#endif
