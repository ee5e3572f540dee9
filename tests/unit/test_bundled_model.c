/*
 * test_bundled_model.c - the shipped model (models/reenact-seed64.safetensors) loads, its data checksum equals
 * the one recorded in models/expected.txt, and it reconstructs the shipped synthetic face (models/demo_face.png,
 * 64x64) with at least the recorded PSNR minus 0.5 dB. The weights' checksum (weights_sha256) is recorded too, and the
 * model carries calibrated motion directions (margin for oneDNN/reference accumulation-order
 * differences across machines, which move PSNR by far less than 0.01 dB).
 */
#include <stdio.h>
#include <string.h>

#include <math.h>

#include "reenact/directions.h"
#include "reenact/media.h"
#include "reenact/metrics.h"
#include "reenact/reenact.h"
#include "re_test.h"

static int read_expected(const char *path, char *sha, size_t sha_len, char *wsha, double *psnr) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[256];
    int got = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!strncmp(line, "data_sha256=", 12)) { snprintf(sha, sha_len, "%.64s", line + 12); got |= 1; }
        if (!strncmp(line, "demo_face_psnr=", 15)) { *psnr = atof(line + 15); got |= 2; }
        if (!strncmp(line, "weights_sha256=", 15)) { snprintf(wsha, sha_len, "%.64s", line + 15); got |= 4; }
    }
    fclose(f);
    return got == 7;
}

int main(void) {
    const char *mp = RE_SOURCE_DIR "/models/reenact-seed64.safetensors";
    char sha[80] = "", wsha[80] = "";
    double want_psnr = 0;
    CHECK_MSG(read_expected(RE_SOURCE_DIR "/models/expected.txt", sha, sizeof sha, wsha, &want_psnr),
              "models/expected.txt missing or incomplete");
    re_model *m = NULL;
    CHECK_OK(re_model_load(&m, mp));
    if (!m) RE_TEST_END();
    const char *got_sha = re_model_meta(m, "data_sha256");
    CHECK_MSG(got_sha && !strcmp(got_sha, sha), "data_sha256 %s, recorded %s", got_sha ? got_sha : "(none)", sha);
    /* the weights' own checksum (what motion files record) and the motion directions */
    const char *got_w = re_model_weights_sha256(m);
    CHECK_MSG(got_w && !strcmp(got_w, wsha), "weights_sha256 %s, recorded %s", got_w ? got_w : "(none)", wsha);
    const re_directions *d = re_model_directions(m);
    CHECK_MSG(d != NULL, "the bundled model carries no motion directions (tools/make_directions.sh)");
    CHECK(d && d->n_motion >= 8 && isfinite(d->response[0]) && isfinite(d->smile_bias));
    const re_config *c = re_model_config(m);
    CHECK_EQ_INT(c->res, 64);
    CHECK_EQ_INT(c->latent, 200);

    re_image img = {0};
    CHECK_OK(re_image_load(&img, RE_SOURCE_DIR "/models/demo_face.png"));
    CHECK_EQ_INT(img.w, 64);
    CHECK_EQ_INT(img.h, 64);
    float x[3 * 64 * 64], xr[3 * 64 * 64], mu[200];
    re_image_to_chw(&img, x);
    re_runner *r = NULL;
    CHECK_OK(re_runner_create(&r, m, 1));
    CHECK_OK(re_encode(r, x, 1, mu, NULL));
    CHECK_OK(re_decode(r, mu, 1, xr));
    double psnr = re_metric_psnr(re_metric_mse(xr, x, sizeof x / sizeof *x), 1.0);
    printf("bundled model: demo face PSNR %.3f dB (recorded %.3f)\n", psnr, want_psnr);
    CHECK_MSG(psnr >= want_psnr - 0.5, "PSNR %.3f below recorded %.3f - 0.5", psnr, want_psnr);
    re_runner_free(r);
    re_image_free(&img);
    re_model_free(m);
    RE_TEST_END();
}
