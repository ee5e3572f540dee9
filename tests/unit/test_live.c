/*
 * test_live.c - re_live (include/reenact/live.h), one driving frame at a time: argument and option checks; with an
 * untrained model and aligned input, the output size (face size, paste-back), that frames are animated one by one
 * with per-stage times, that the photo comes out unchanged at strength 0, and reset; with the bundled model and
 * face detection (when present): a real photo's face, frames of the photo itself tracked (found, reference set), and
 * a photo without a face refused with RE_ERR_NO_FACE.
 */
#include "re_test.h"

#include <unistd.h>

#include "reenact/anim.h"
#include "reenact/live.h"
#include "reenact/media.h"
#include "reenact/reenact.h"

/* A smooth synthetic image (w x h) that shifts with t. */
static void synth(re_image *im, int w, int h, int t) {
    re_image_free(im);   /* a previous frame (zeroed images are fine) */
    re_image_alloc(im, w, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = im->data + (size_t)y * im->stride + 3 * x;
            p[0] = (uint8_t)(128 + 100 * sin(0.05 * (x + 2 * t)));
            p[1] = (uint8_t)(128 + 100 * cos(0.07 * (y - t)));
            p[2] = (uint8_t)((x + y + 3 * t) & 255);
        }
}

static double mean_abs_diff(const re_image *a, const re_image *b) {
    if (a->w != b->w || a->h != b->h) return 1e9;
    double s = 0;
    for (int y = 0; y < a->h; y++)
        for (int x = 0; x < 3 * a->w; x++)
            s += fabs((double)a->data[(size_t)y * a->stride + x] - b->data[(size_t)y * b->stride + x]);
    return s / (3.0 * a->w * a->h);
}

static void untrained(void) {
    re_config cfg;
    re_model *m = NULL;
    CHECK_OK(re_config_preset(&cfg, "seed64"));
    CHECK_OK(re_model_create(&m, &cfg, 11, 0));
    if (!m) return;
    re_image photo = {0}, fr = {0}, out = {0};
    synth(&photo, 96, 96, 0);
    re_anim_opts o;
    re_anim_opts_default(&o);
    o.aligned = 1;
    o.render_field = RE_FIELD_FLOW;
    o.out_size = 128;
    re_live *lv = NULL;

    /* arguments and options */
    CHECK(re_live_create(NULL, m, &photo, &o, 30) == RE_ERR_ARG);
    CHECK(re_live_create(&lv, NULL, &photo, &o, 30) == RE_ERR_ARG && lv == NULL);
    CHECK(re_live_create(&lv, m, &photo, &o, 0) == RE_ERR_ARG && strstr(re_last_error(), "fps"));
    o.strength = NAN;
    CHECK(re_live_create(&lv, m, &photo, &o, 30) == RE_ERR_ARG && strstr(re_last_error(), "strength"));
    o.strength = 1;
    o.out_size = 8;
    CHECK(re_live_create(&lv, m, &photo, &o, 30) == RE_ERR_ARG && lv == NULL);
    o.out_size = 128;

    /* a stream: every frame the same size, times reported, frames counted */
    CHECK_OK(re_live_create(&lv, m, &photo, &o, 30));
    int w = 0, h = 0;
    re_live_size(lv, &w, &h);
    CHECK(w == 128 && h == 128);
    CHECK_EQ_INT(re_live_source_faces(lv), 1);
    re_live_info info;
    for (int t = 0; t < 4 && lv; t++) {
        synth(&fr, 160, 120, 5 * t);
        CHECK_OK(re_live_frame(lv, &fr, &out, &info));
        CHECK(out.w == 128 && out.h == 128);
        CHECK_EQ_INT(info.index, t);
        CHECK(info.found == 1 && info.have_ref == 1);
        CHECK(info.ms.total > 0 && info.ms.encode > 0 && info.ms.decode > 0 && info.ms.render > 0);
        CHECK(info.ms.total + 1e-6 >= info.ms.encode + info.ms.decode + info.ms.render);
    }
    CHECK(re_live_frame(lv, NULL, &out, &info) == RE_ERR_ARG);
    re_live_reset(lv);
    CHECK_OK(re_live_frame(lv, &fr, &out, &info));
    CHECK_EQ_INT(info.index, 4);
    re_live_free(lv);
    lv = NULL;

    /* strength 0, no smoothing: the photo itself (its crop at the output size) whatever the driver does */
    o.strength = 0;
    o.smooth = 0;
    o.steer.attr_drive = 0;
    re_image first = {0};
    CHECK_OK(re_live_create(&lv, m, &photo, &o, 30));
    for (int t = 0; t < 3 && lv; t++) {
        synth(&fr, 160, 120, 17 * t);
        CHECK_OK(re_live_frame(lv, &fr, t ? &out : &first, NULL));
    }
    CHECK_MSG(mean_abs_diff(&first, &out) < 0.5, "strength 0 changed the photo by %.2f", mean_abs_diff(&first, &out));
    re_live_free(lv);
    lv = NULL;

    /* paste-back: the whole photo, longest side at most paste_max_side */
    o.strength = 1;
    o.paste_back = 1;
    o.paste_max_side = 64;
    re_image wide = {0};
    synth(&wide, 160, 100, 0);
    CHECK_OK(re_live_create(&lv, m, &wide, &o, 30));
    re_live_size(lv, &w, &h);
    CHECK(w == 64 && h == 40);
    if (lv) CHECK_OK(re_live_frame(lv, &fr, &out, NULL));
    CHECK(out.w == 64 && out.h == 40);
    re_live_free(lv);
    re_live_free(NULL);
    re_image_free(&wide);
    re_image_free(&first);
    re_image_free(&photo);
    re_image_free(&fr);
    re_image_free(&out);
    re_model_free(m);
}

static void bundled(void) {
    const char *mp = "models/reenact-seed64.safetensors", *pp = "models/demo_photo.png";
    if (access(mp, R_OK) != 0 || access(pp, R_OK) != 0) {
        printf("note: %s or %s not found: the real-face part is skipped\n", mp, pp);
        return;
    }
    re_face_detector *det = NULL;
    if (re_face_detector_open(&det, NULL) != RE_OK) {
        printf("note: no face detection in this build (%s): the real-face part is skipped\n", re_last_error());
        return;
    }
    re_model *m = NULL;
    re_image photo = {0}, out = {0}, noise = {0}, fr = {0};
    CHECK_OK(re_model_load(&m, mp));
    CHECK_OK(re_image_load(&photo, pp));
    re_anim_opts o;
    re_anim_opts_default(&o);
    o.out_size = 256;
    o.detector = det;
    re_live *lv = NULL;
    if (m && photo.data) CHECK_OK(re_live_create(&lv, m, &photo, &o, 30));
    re_face_detector_free(det);   /* the stream holds a clone */
    o.detector = NULL;
    if (lv) {
        /* the photo itself, shifted a little, as the driver */
        re_live_info info;
        int found = 0;
        for (int t = 0; t < 6; t++) {
            re_image_alloc(&fr, photo.w, photo.h);
            for (int y = 0; y < photo.h; y++)
                memcpy(fr.data + (size_t)y * fr.stride + (size_t)3 * (t < photo.w ? t : 0),
                       photo.data + (size_t)y * photo.stride, (size_t)3 * (photo.w - t));
            CHECK_OK(re_live_frame(lv, &fr, &out, &info));
            found += info.found;
            re_image_free(&fr);
        }
        CHECK_MSG(found == 6 && info.have_ref, "faces found in %d of 6 frames", found);
        CHECK(out.w == 256 && out.h == 256);
        CHECK(info.ms.track > 0 && info.ms.landmarks > 0);
        printf("bundled model, 256x256: %.1f ms a frame (track %.1f, encode %.1f, decode %.1f, landmarks %.1f, "
               "render %.1f)\n", info.ms.total, info.ms.track, info.ms.encode, info.ms.decode, info.ms.landmarks,
               info.ms.render);
        re_live_free(lv);
    }
    /* a photo without a face */
    synth(&noise, 200, 200, 3);
    lv = NULL;
    if (m) CHECK(re_live_create(&lv, m, &noise, &o, 30) == RE_ERR_NO_FACE && lv == NULL &&
                 strstr(re_last_error(), "no face"));
    re_image_free(&photo);
    re_image_free(&out);
    re_image_free(&noise);
    re_model_free(m);
}

int main(void) {
    re_set_threads(2);
    untrained();
    bundled();
    RE_TEST_END();
}
