/*
 * re_test_model.h - helpers for the unit tests of the model, its backends and training (header-only, next to
 * re_test.h): random buffers, a small configuration, and a model pair on the reference and oneDNN backends to compare.
 */
#ifndef RE_TEST_MODEL_H
#define RE_TEST_MODEL_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/model_internal.h"
#include "re_test.h"

/* n floats uniform in [lo, hi) from r; exits the test when out of memory. */
static inline float *re_test_uniform(re_rng *r, size_t n, float lo, float hi) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) { fprintf(stderr, "FAIL: out of memory\n"); exit(1); }
    for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * (float)re_rng_uniform(r);
    return p;
}

/* A small seed64-like configuration: 32x32, two encoder stages (16, 32), latent 24, three discriminator convs. */
static inline re_config re_test_cfg32(void) {
    re_config c;
    re_config_preset(&c, "seed64");
    c.res = 32; c.latent = 24; c.n_stages = 2; c.enc_widths[0] = 16; c.enc_widths[1] = 32; c.top_ch = 48;
    c.fc_hidden = 64; c.n_disc = 3; c.disc_widths[0] = 16; c.disc_widths[1] = 32; c.disc_widths[2] = 48;
    c.disc_fc[0] = 64; c.disc_fc[1] = 16;
    return c;
}

/* Two models of config c made with the same seed, a on the reference backend and b on oneDNN, each with a trainer
 * (mode, batch, other options default). Returns 1 when all four exist; failures are counted checks. */
typedef struct {
    re_model *a, *b;
    re_trainer *ta, *tb;
} re_test_twins;

static inline int re_test_twins_create(re_test_twins *t, const re_config *c, uint64_t seed, re_train_mode mode,
                                       int batch) {
    t->a = t->b = NULL;
    t->ta = t->tb = NULL;
    CHECK_OK(re_model_create(&t->a, c, seed, 1));
    CHECK_OK(re_model_create(&t->b, c, seed, 1));
    if (!t->a || !t->b) return 0;
    CHECK_OK(re_model_set_backend(t->a, RE_BACKEND_REF));
    CHECK_OK(re_model_set_backend(t->b, RE_BACKEND_DNNL));
    re_train_opts o;
    re_train_opts_default(&o, mode);
    o.batch = batch;
    CHECK_OK(re_trainer_create(&t->ta, t->a, &o));
    CHECK_OK(re_trainer_create(&t->tb, t->b, &o));
    return t->ta && t->tb;
}

/* One training step of both twins on the same batch x; checks that their generator losses agree to 1e-3 relative
 * (same RNG, same math: only the accumulation order differs) and returns both steps' statistics. */
static inline void re_test_twins_step(re_test_twins *t, const float *x, int step, re_step_stats *sa,
                                      re_step_stats *sb) {
    CHECK_OK(re_trainer_step(t->ta, x, NULL, sa));
    CHECK_OK(re_trainer_step(t->tb, x, NULL, sb));
    CHECK_MSG(fabs(sa->g_loss - sb->g_loss) <= 1e-3 * fabs(sa->g_loss), "step %d g_loss ref %.6f dnnl %.6f", step,
              sa->g_loss, sb->g_loss);
}

static inline void re_test_twins_free(re_test_twins *t) {
    re_trainer_free(t->ta);
    re_trainer_free(t->tb);
    re_model_free(t->a);
    re_model_free(t->b);
}
#endif
