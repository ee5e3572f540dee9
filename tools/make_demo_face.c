/*
 * make_demo_face.c - writes models/demo_face.png: a synthetic face decoded by the bundled model from a seeded
 * random latent code (z ~ N(0, s^2 I)), i.e. a person who does not exist and whose picture is the project's own.
 * Built as the `make_demo_face` target:  build/make_demo_face MODEL OUT.png [SEED] [SCALE]
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/core.h"
#include "reenact/media.h"
#include "reenact/reenact.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: make_demo_face MODEL OUT.png [SEED] [SCALE]\n");
        return 2;
    }
    uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 7;
    float scale = argc > 4 ? (float)atof(argv[4]) : 0.7f;
    re_model *m = NULL;
    re_runner *r = NULL;
    re_image img = {0};
    float *z = NULL, *x = NULL;
    int rc = 1;
    if (re_model_load(&m, argv[1]) || re_runner_create(&r, m, 1)) goto fail;
    const re_config *c = re_model_config(m);
    z = malloc((size_t)c->latent * sizeof *z);
    x = malloc((size_t)3 * c->res * c->res * sizeof *x);
    if (!z || !x) goto fail;
    re_rng rng;
    re_rng_seed(&rng, seed);
    for (int i = 0; i < c->latent; i++) z[i] = scale * re_rng_normal(&rng);
    if (re_decode(r, z, 1, x) || re_image_from_chw(&img, x, c->res, c->res) || re_image_save_png(&img, argv[2]))
        goto fail;
    printf("wrote %s (seed %llu, scale %.2f)\n", argv[2], (unsigned long long)seed, scale);
    rc = 0;
fail:
    if (rc) fprintf(stderr, "make_demo_face: %s\n", re_last_error());
    re_image_free(&img);
    free(z);
    free(x);
    re_runner_free(r);
    re_model_free(m);
    return rc;
}
