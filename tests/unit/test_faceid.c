/*
 * test_faceid.c - the face-identity embedding (include/reenact/faceid.h).
 * Always: re_faceid_distance, NULL arguments -> RE_ERR_ARG (without dlib: RE_ERR_UNSUPPORTED from open).
 * With dlib: model file errors (missing or a directory -> RE_ERR_IO naming the path; no path and no
 * $REENACT_FACEID_MODEL -> RE_ERR_ARG; an empty file, truncated copies (1000 bytes, half, all but 1 byte), random
 * bytes, the right header then random bytes, a corrupted layer name, another dlib file -> RE_ERR_FORMAT, never a
 * crash); $REENACT_FACEID_MODEL naming the real model opens it.
 * With the model (../shared/models/face-id/face_recognition_densenet_model_v1.dat or $REENACT_FACEID_MODEL) and
 * ../shared: the same image twice -> distance 0; embed == chip + embed_chip; bad images and landmarks ->
 * RE_ERR_ARG; every example portrait against a copy resized to 70% and back and against a copy shifted 5 px (faces
 * re-detected) -> small distance; different people -> median pairwise distance above the authors' threshold (the
 * matrix is printed); the two same-person pairs of the set -> below it; per-face timing.
 * Exits 77 (skipped, after the checks that need no model) when the model, the landmark model or ../shared is absent.
 * Run: ctest --test-dir build -R faceid --output-on-failure (cwd = repo root), or build/tests/test_faceid.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "re_test.h"
#include "re_test_tmp.h"
#include "reenact/face.h"
#include "reenact/faceid.h"
#include "reenact/media.h"
#include "reenact/reenact.h"

#define SHARED "../shared"
#define MODEL_DEFAULT SHARED "/models/face-id/face_recognition_densenet_model_v1.dat"
#define PORTRAITS SHARED "/data/examples/portraits"
#define SKIP_CODE 77

/* Thresholds, chosen from measurements (see the report printed by the test and the numbers in the comments). */
#define SAME_IMAGE_MAX 1e-4f   /* identical input */
#define MILD_CHANGE_MAX 0.20f  /* a portrait vs itself resized to 70% and back or shifted 5 px, faces re-detected:
                                  measured 0.007-0.095 over the 18 example portraits (the closest different people:
                                  0.46) */
#define DIFFERENT_MEDIAN_MIN RE_FACEID_THRESHOLD /* different portraits: the model card measured a median of 0.80 */

static void test_distance(void) {
    float a[RE_FACEID_DIM] = {0}, b[RE_FACEID_DIM] = {0};
    CHECK(re_faceid_distance(a, b) == 0.0f);
    a[0] = 3;
    b[RE_FACEID_DIM - 1] = 4;
    CHECK(fabsf(re_faceid_distance(a, b) - 5.0f) < 1e-6f);
    CHECK(re_faceid_distance(a, b) == re_faceid_distance(b, a));
    CHECK(isnan(re_faceid_distance(NULL, b)));
    CHECK(isnan(re_faceid_distance(a, NULL)));
}

/* Argument errors that need no model. */
static void test_null_args(void) {
    float lm[68][2] = {{0}}, out[RE_FACEID_DIM];
    re_image img = {0};
    CHECK_EQ_INT(re_faceid_open(NULL, MODEL_DEFAULT), RE_ERR_ARG);
    CHECK_EQ_INT(re_faceid_embed(NULL, &img, (const float(*)[2])lm, out), RE_ERR_ARG);
    CHECK_EQ_INT(re_faceid_embed_chip(NULL, &img, out), RE_ERR_ARG);
    CHECK_EQ_INT(re_faceid_chip(&img, (const float(*)[2])lm, NULL), RE_ERR_ARG);
    re_faceid_free(NULL);
}

#ifdef RE_HAVE_DLIB

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char g_tmp[256];

static const char *tmp(const char *name) {
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", g_tmp, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f != NULL, "cannot create %s", path);
    if (!f) return;
    CHECK(fwrite(data, 1, n, f) == n);
    fclose(f);
}

/* Open must fail with `want` (or any error when want == 0), leave *f NULL and say something. */
static void expect_open_error(const char *path, re_status want, const char *what) {
    re_faceid *f = (re_faceid *)1;
    re_status s = re_faceid_open(&f, path);
    if (want)
        CHECK_MSG(s == want, "%s: got %d (%s), want %d", what, s, re_last_error(), want);
    else
        CHECK_MSG(s < 0, "%s: opened", what);
    CHECK_MSG(f == NULL, "%s: *f not NULL after an error", what);
    CHECK_MSG(strlen(re_last_error()) > 0, "%s: no message", what);
    if (s != RE_OK) printf("  %-32s -> %s: %s\n", what, re_status_str(s), re_last_error());
    if (s == RE_OK) re_faceid_free(f);
}

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint8_t rnd8(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint8_t)(g_rng >> 24);
}

/* Every kind of bad model file; `model` is the real one (may be NULL when absent). */
static void test_model_errors(const char *model) {
    printf("model file errors:\n");
    const char *missing = "/nonexistent-dir/no_such_faceid_model.dat";
    re_faceid *f = (re_faceid *)1;
    CHECK_EQ_INT(re_faceid_open(&f, missing), RE_ERR_IO);
    CHECK(f == NULL);
    CHECK_MSG(strstr(re_last_error(), missing) != NULL, "message does not name the file: %s", re_last_error());
    printf("  %-32s -> %s\n", "missing file", re_last_error());
    expect_open_error(g_tmp, RE_ERR_IO, "a directory");

    /* no path and no $REENACT_FACEID_MODEL */
    const char *env = getenv("REENACT_FACEID_MODEL");
    char *saved = env ? strdup(env) : NULL;
    unsetenv("REENACT_FACEID_MODEL");
    expect_open_error(NULL, RE_ERR_ARG, "NULL path, no env");
    expect_open_error("", RE_ERR_ARG, "empty path, no env");
    setenv("REENACT_FACEID_MODEL", missing, 1);
    expect_open_error(NULL, RE_ERR_IO, "NULL path, env -> missing");
    CHECK(strstr(re_last_error(), missing) != NULL);

    write_file(tmp("empty.dat"), "", 0);
    expect_open_error(tmp("empty.dat"), RE_ERR_FORMAT, "empty file");
    uint8_t buf[4096];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = rnd8();
    write_file(tmp("random.dat"), buf, sizeof buf);
    expect_open_error(tmp("random.dat"), RE_ERR_FORMAT, "4 KB of random bytes");
    CHECK(strstr(re_last_error(), tmp("random.dat")) != NULL);
    if (re_test_is_file(RE_FACE_DEFAULT_MODEL)) expect_open_error(RE_FACE_DEFAULT_MODEL, RE_ERR_FORMAT, "a dlib shape predictor");

    if (model) {
        size_t n = 0;
        uint8_t *data = re_test_read_file(model, &n);
        CHECK_MSG(data && n > 100000, "cannot read %s", model);
        if (data && n > 100000) {
            write_file(tmp("trunc1000.dat"), data, 1000);
            expect_open_error(tmp("trunc1000.dat"), RE_ERR_FORMAT, "first 1000 bytes");
            CHECK(strstr(re_last_error(), tmp("trunc1000.dat")) != NULL);
            write_file(tmp("trunchalf.dat"), data, n / 2);
            expect_open_error(tmp("trunchalf.dat"), RE_ERR_FORMAT, "first half");
            write_file(tmp("trunclast.dat"), data, n - 1);
            expect_open_error(tmp("trunclast.dat"), RE_ERR_FORMAT, "all but the last byte");
            /* the right header, then garbage: dlib's deserializer gets random sizes and names */
            uint8_t *g = malloc(n);
            if (g) {
                memcpy(g, data, 32);
                for (size_t i = 32; i < n; i++) g[i] = rnd8();
                write_file(tmp("header_then_random.dat"), g, n);
                expect_open_error(tmp("header_then_random.dat"), 0, "real header, random rest");
                /* a layer name changed: "bn_con2" -> "bn_coX2" (the first one, near the start) */
                memcpy(g, data, n);
                uint8_t *p = NULL;
                for (size_t i = 0; i + 7 < n && i < 4096; i++)
                    if (memcmp(g + i, "bn_con2", 7) == 0) {
                        p = g + i;
                        break;
                    }
                CHECK_MSG(p != NULL, "no bn_con2 in the first 4 KB of %s", model);
                if (p) {
                    p[5] = 'X';
                    write_file(tmp("renamed_layer.dat"), g, n);
                    expect_open_error(tmp("renamed_layer.dat"), RE_ERR_FORMAT, "a layer name changed");
                }
                free(g);
            }
            /* the env variable names the real model */
            setenv("REENACT_FACEID_MODEL", model, 1);
            f = NULL;
            CHECK_OK(re_faceid_open(&f, NULL));
            CHECK(f != NULL);
            re_faceid_free(f);
        }
        free(data);
    }
    if (saved) {
        setenv("REENACT_FACEID_MODEL", saved, 1);
        free(saved);
    } else {
        unsetenv("REENACT_FACEID_MODEL");
    }
}

static void test_bad_inputs(re_faceid *id, const re_image *img, const float lm[68][2]) {
    float out[RE_FACEID_DIM], bad[68][2];
    re_image none = {0}, chip = {0};
    CHECK_EQ_INT(re_faceid_embed(id, NULL, lm, out), RE_ERR_ARG);
    CHECK_EQ_INT(re_faceid_embed(id, &none, lm, out), RE_ERR_ARG);
    CHECK_EQ_INT(re_faceid_embed(id, img, NULL, out), RE_ERR_ARG);
    CHECK_EQ_INT(re_faceid_embed(id, img, lm, NULL), RE_ERR_ARG);
    re_image narrow = *img;
    narrow.stride = 3 * img->w - 1;
    CHECK_EQ_INT(re_faceid_embed(id, &narrow, lm, out), RE_ERR_ARG);
    memcpy(bad, lm, sizeof bad);
    bad[30][0] = NAN;
    CHECK_EQ_INT(re_faceid_embed(id, img, (const float(*)[2])bad, out), RE_ERR_ARG);
    printf("  NaN landmark -> %s\n", re_last_error());
    memcpy(bad, lm, sizeof bad);
    bad[8][1] = 1e30f;
    CHECK_EQ_INT(re_faceid_embed(id, img, (const float(*)[2])bad, out), RE_ERR_ARG);
    for (int i = 0; i < 68; i++) bad[i][0] = 40.5f, bad[i][1] = 60.25f;
    CHECK_EQ_INT(re_faceid_embed(id, img, (const float(*)[2])bad, out), RE_ERR_ARG);
    printf("  collapsed landmarks -> %s\n", re_last_error());
    /* a face partly outside the image is fine (the chip gets black there) */
    memcpy(bad, lm, sizeof bad);
    for (int i = 0; i < 68; i++) bad[i][0] -= 0.6f * img->w;
    CHECK_OK(re_faceid_embed(id, img, (const float(*)[2])bad, out));
    /* embed_chip wants exactly a 150x150 chip */
    CHECK_EQ_INT(re_faceid_embed_chip(id, img, out), RE_ERR_ARG);
    CHECK_EQ_INT(re_faceid_embed_chip(id, NULL, out), RE_ERR_ARG);
    CHECK_EQ_INT(re_faceid_chip(NULL, lm, &chip), RE_ERR_ARG);
    /* the handle still works after errors */
    CHECK_OK(re_faceid_embed(id, img, lm, out));
}

#define MAXP 32

typedef struct portrait {
    char name[64];
    re_image img;
    float lm[68][2];
    float e[RE_FACEID_DIM];
} portrait;

/* Detect the largest face of img; 1 if found. */
static int detect(re_face_detector *det, const re_image *img, float lm[68][2], const char *what) {
    re_face faces[4];
    int n = 0;
    CHECK_OK(re_face_detect(det, img, faces, 4, &n));
    CHECK_MSG(n >= 1, "%s: no face found", what);
    if (n < 1) return 0;
    memcpy(lm, faces[0].lm, sizeof faces[0].lm);
    return 1;
}

static int load_portraits(re_face_detector *det, portrait *p) {
    DIR *dp = opendir(PORTRAITS);
    CHECK_MSG(dp != NULL, "cannot open %s", PORTRAITS);
    if (!dp) return 0;
    char names[MAXP][64];
    int k = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL && k < MAXP) {
        size_t L = strlen(e->d_name);
        if (L < 5 || L >= 64 || (strcmp(e->d_name + L - 4, ".png") != 0 && strcmp(e->d_name + L - 4, ".jpg") != 0))
            continue;
        memcpy(names[k++], e->d_name, L + 1);
    }
    closedir(dp);
    qsort(names, (size_t)k, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    int n = 0;
    for (int i = 0; i < k; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%.63s", PORTRAITS, names[i]);
        portrait *q = &p[n];
        memset(q, 0, sizeof *q);
        CHECK_OK(re_image_load(&q->img, path));
        if (!q->img.data) continue;
        if (!detect(det, &q->img, q->lm, path)) {
            re_image_free(&q->img);
            continue;
        }
        snprintf(q->name, sizeof q->name, "%.*s", (int)(strlen(names[i]) - 4), names[i]);
        n++;
    }
    CHECK_MSG(n >= 10, "only %d portraits with a face", n);
    return n;
}

/* Portraits that show the same person, found by looking at their chips: sadtalker_happy and sadtalker_sad are one
 * woman, sadtalker_happy1 and sadtalker_sad1 another (happy and happy1 are two different women); the lp_s* and
 * fomm_* portraits are all different people. */
static int same_person(const char *a, const char *b) {
    static const char *groups[][3] = {{"sadtalker_happy", "sadtalker_sad", NULL},
                                      {"sadtalker_happy1", "sadtalker_sad1", NULL}};
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        int ia = 0, ib = 0;
        for (int j = 0; j < 3 && groups[g][j]; j++) {
            ia |= strcmp(a, groups[g][j]) == 0;
            ib |= strcmp(b, groups[g][j]) == 0;
        }
        if (ia && ib) return 1;
    }
    return 0;
}

static void test_portraits(re_faceid *id, re_face_detector *det) {
    static portrait p[MAXP];
    int n = load_portraits(det, p);
    if (n < 2) return;

    printf("argument errors with a real face:\n");
    test_bad_inputs(id, &p[0].img, (const float(*)[2])p[0].lm);

    /* the same image twice; a copy; chip + embed_chip; all equal */
    float e1[RE_FACEID_DIM], e2[RE_FACEID_DIM];
    for (int i = 0; i < n; i++) CHECK_OK(re_faceid_embed(id, &p[i].img, (const float(*)[2])p[i].lm, p[i].e));
    CHECK_OK(re_faceid_embed(id, &p[0].img, (const float(*)[2])p[0].lm, e1));
    float d_same = re_faceid_distance(p[0].e, e1);
    CHECK_MSG(d_same < SAME_IMAGE_MAX, "same image twice: distance %g", d_same);
    re_image cp = {0}, chip = {0};
    CHECK_OK(re_image_copy(&cp, &p[0].img));
    CHECK_OK(re_faceid_embed(id, &cp, (const float(*)[2])p[0].lm, e2));
    CHECK_MSG(re_faceid_distance(p[0].e, e2) < SAME_IMAGE_MAX, "a copy: distance %g", re_faceid_distance(p[0].e, e2));
    CHECK_OK(re_faceid_chip(&p[0].img, (const float(*)[2])p[0].lm, &chip));
    CHECK(chip.w == RE_FACEID_CHIP && chip.h == RE_FACEID_CHIP);
    CHECK_OK(re_faceid_embed_chip(id, &chip, e2));
    CHECK_MSG(re_faceid_distance(p[0].e, e2) < SAME_IMAGE_MAX, "chip + embed_chip: distance %g",
              re_faceid_distance(p[0].e, e2));
    CHECK_OK(re_faceid_chip(&p[1].img, (const float(*)[2])p[1].lm, &chip));   /* reuses the chip buffer */
    re_image_free(&cp);
    re_image_free(&chip);
    /* embeddings are not degenerate */
    for (int i = 0; i < n; i++) {
        double nn = 0;
        for (int j = 0; j < RE_FACEID_DIM; j++) nn += (double)p[i].e[j] * p[i].e[j];
        CHECK_MSG(sqrt(nn) > 0.1 && sqrt(nn) < 100, "%s: |e| = %g", p[i].name, sqrt(nn));
    }
    printf("same image twice: distance %.3g\n", d_same);

    /* a mildly changed copy, faces re-detected: resized to 70%% and back; shifted 5 px right */
    printf("portrait vs a mildly changed copy of itself (faces re-detected):\n  %-22s %9s %9s\n", "", "70%+back",
           "shift5px");
    float worst_mild = 0;
    for (int i = 0; i < n; i++) {
        re_image small = {0}, back = {0}, shifted = {0};
        float lm[68][2], ea[RE_FACEID_DIM], eb[RE_FACEID_DIM], da = NAN, db = NAN;
        int w7 = (int)lrint(0.7 * p[i].img.w), h7 = (int)lrint(0.7 * p[i].img.h);
        CHECK_OK(re_image_resize(&p[i].img, &small, w7, h7));
        CHECK_OK(re_image_resize(&small, &back, p[i].img.w, p[i].img.h));
        if (back.data && detect(det, &back, lm, "70% and back") &&
            re_faceid_embed(id, &back, (const float(*)[2])lm, ea) == RE_OK)
            da = re_faceid_distance(p[i].e, ea);
        const float m[6] = {1, 0, -5, 0, 1, 0};   /* dst(x) = src(x - 5) */
        CHECK_OK(re_image_warp_affine(&p[i].img, &shifted, p[i].img.w, p[i].img.h, m, RE_BORDER_REPLICATE));
        if (shifted.data && detect(det, &shifted, lm, "shifted") &&
            re_faceid_embed(id, &shifted, (const float(*)[2])lm, eb) == RE_OK)
            db = re_faceid_distance(p[i].e, eb);
        printf("  %-22s %9.4f %9.4f\n", p[i].name, da, db);
        CHECK_MSG(da < MILD_CHANGE_MAX, "%s: 70%% and back: distance %g", p[i].name, da);
        CHECK_MSG(db < MILD_CHANGE_MAX, "%s: shifted 5 px: distance %g", p[i].name, db);
        worst_mild = fmaxf(worst_mild, fmaxf(da, db));
        re_image_free(&small);
        re_image_free(&back);
        re_image_free(&shifted);
    }
    printf("  worst %.4f (limit %.2f)\n", worst_mild, MILD_CHANGE_MAX);

    /* the pairwise matrix of different portraits */
    printf("pairwise distances (x100):\n%-18s", "");
    for (int j = 0; j < n; j++) printf(" %3d", j);
    printf("\n");
    static float diff[MAXP * MAXP];
    int nd = 0, below = 0;
    for (int i = 0; i < n; i++) {
        printf("%2d %-15.15s", i, p[i].name);
        for (int j = 0; j < n; j++) {
            float d = re_faceid_distance(p[i].e, p[j].e);
            printf(" %3.0f", 100 * d);
            if (j > i) {
                if (same_person(p[i].name, p[j].name)) continue;
                diff[nd++] = d;
                below += d < RE_FACEID_THRESHOLD;
            }
        }
        printf("\n");
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            float d = re_faceid_distance(p[i].e, p[j].e);
            if (same_person(p[i].name, p[j].name)) {
                printf("  same person: %s - %s: %.3f\n", p[i].name, p[j].name, d);
                CHECK_MSG(d < RE_FACEID_THRESHOLD, "same person %s - %s: distance %g", p[i].name, p[j].name, d);
            }
            else if (d < RE_FACEID_THRESHOLD)
                printf("  different portraits below %.2f: %s - %s: %.3f\n", RE_FACEID_THRESHOLD, p[i].name, p[j].name,
                       d);
        }
    qsort(diff, (size_t)nd, sizeof diff[0], cmp_float);
    float med = nd % 2 ? diff[nd / 2] : 0.5f * (diff[nd / 2 - 1] + diff[nd / 2]);
    printf("different portraits: %d pairs, min %.3f, median %.3f, max %.3f, %d below %.2f\n", nd, diff[0], med,
           diff[nd - 1], below, RE_FACEID_THRESHOLD);
    CHECK_MSG(med > DIFFERENT_MEDIAN_MIN, "median distance of different portraits %g", med);
    CHECK_MSG(worst_mild < diff[0], "a changed copy (%g) is farther than the closest different portraits (%g)",
              worst_mild, diff[0]);

    /* timings: the median of 15 calls; the chip extraction alone */
    double t[15];
    for (int r = 0; r < 15; r++) {
        double t0 = re_test_now_ms();
        CHECK_OK(re_faceid_embed(id, &p[r % n].img, (const float(*)[2])p[r % n].lm, e1));
        t[r] = re_test_now_ms() - t0;
    }
    qsort(t, 15, sizeof t[0], cmp_double);
    double tc[15];
    CHECK_OK(re_faceid_chip(&p[0].img, (const float(*)[2])p[0].lm, &chip));
    for (int r = 0; r < 15; r++) {
        double t0 = re_test_now_ms();
        CHECK_OK(re_faceid_chip(&p[r % n].img, (const float(*)[2])p[r % n].lm, &chip));
        tc[r] = re_test_now_ms() - t0;
    }
    qsort(tc, 15, sizeof tc[0], cmp_double);
    re_image_free(&chip);
    printf("timing: re_faceid_embed %.1f ms/face (median of 15, min %.1f; the chip alone %.2f ms; OMP_NUM_THREADS=%s "
           "OMP_WAIT_POLICY=%s)\n", t[7], t[0], tc[7], getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "unset",
           getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "unset");

    for (int i = 0; i < n; i++) re_image_free(&p[i].img);
}

#endif /* RE_HAVE_DLIB */

int main(void) {
    test_distance();
    test_null_args();
#ifdef RE_HAVE_DLIB
    const char *model = getenv("REENACT_FACEID_MODEL");
    if (!model || !model[0]) model = MODEL_DEFAULT;
    const int have_model = re_test_is_file(model);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/test_faceid.XXXXXX");
    CHECK(mkdtemp(g_tmp) != NULL);
    test_model_errors(have_model ? model : NULL);
    const char *skip = NULL;
    if (!have_model)
        skip = "face-id model not found (../shared/models/face-id/face_recognition_densenet_model_v1.dat or "
               "$REENACT_FACEID_MODEL)";
    else if (!re_test_is_file(RE_FACE_DEFAULT_MODEL) && !getenv("REENACT_DLIB_MODEL"))
        skip = "landmark model " RE_FACE_DEFAULT_MODEL " not found (Debian: apt-get install libdlib-data)";
    else if (!re_test_is_dir(PORTRAITS))
        skip = PORTRAITS " not found";
    if (!skip) {
        re_faceid *id = NULL;
        re_face_detector *det = NULL;
        double t0 = re_test_now_ms();
        CHECK_OK(re_faceid_open(&id, model));
        printf("face-id model %s opened in %.0f ms\n", model, re_test_now_ms() - t0);
        CHECK_OK(re_face_detector_open(&det, NULL));
        if (id && det) test_portraits(id, det);
        re_face_detector_free(det);
        re_faceid_free(id);
    }
    /* clean up the temp dir */
    const char *files[] = {"empty.dat", "random.dat", "trunc1000.dat", "trunchalf.dat", "trunclast.dat",
                           "header_then_random.dat", "renamed_layer.dat"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) unlink(tmp(files[i]));
    rmdir(g_tmp);
    if (skip) {
        if (re_test_failures) RE_TEST_END();
        printf("SKIP: %s (%d checks without it passed)\n", skip, re_test_checks);
        return SKIP_CODE;
    }
#else
    re_faceid *f = (re_faceid *)1;
    CHECK_EQ_INT(re_faceid_open(&f, MODEL_DEFAULT), RE_ERR_UNSUPPORTED);
    CHECK(f == NULL);
    if (re_test_failures) RE_TEST_END();
    printf("SKIP: built without dlib (re_faceid_open gives RE_ERR_UNSUPPORTED; %d checks passed)\n", re_test_checks);
    return SKIP_CODE;
#endif
    RE_TEST_END();
}
