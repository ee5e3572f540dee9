/*
 * test_grad_model.c - gradient checks of the whole training objective by central differences, on a tiny model
 * with the reference (double-accumulating) ops: VAE (recon BCE + KL), VAE-GAN generator side (+ adversarial +
 * feature matching through a frozen discriminator), and the discriminator loss.
 *
 * Tolerance: the objective is evaluated in f32 (activations are stored as float), so with h = 1e-3 the central
 * difference carries ~1e-4 relative noise plus O(h^2) curvature; we require |num - ana| <= 2e-2*max(|num|,|ana|) +
 * 2e-3 on every checked element, skipping elements whose analytic gradient is tiny (< 1e-3) where the noise dominates.
 * Kinks (LeakyReLU at 0, L1 at 0) can make single elements disagree: at most 5% of checked elements may fail.
 */
#include <string.h>

#include "model/model_internal.h"
#include "re_test.h"
#ifndef H_STEP
#define H_STEP 1e-3f
#endif

static re_config tiny(void) {
    re_config c;
    re_config_preset(&c, "seed64");
    c.res = 16; c.latent = 8; c.n_stages = 1; c.enc_widths[0] = 4; c.top_ch = 6; c.fc_hidden = 10;
    c.n_disc = 2; c.disc_widths[0] = 4; c.disc_widths[1] = 6; c.disc_fc[0] = 12; c.disc_fc[1] = 5;
    return c;
}

static double loss_of(re_trainer *t, const float *x, const float *eps, int disc) {
    re_step_stats st;
    if (re_trainer_step_ex(t, x, eps, &st, 0)) return NAN;
    return disc ? st.d_loss : st.g_loss;
}

static void check_mode(re_train_mode mode, int disc_loss) {
    re_config c = tiny();
    re_model *m = NULL;
    CHECK_OK(re_model_create(&m, &c, 7, 1));
    CHECK_OK(re_model_set_backend(m, RE_BACKEND_REF));
    re_train_opts o;
    re_train_opts_default(&o, mode);
    o.batch = 3;
    o.w_kl = 0.5f; o.w_adv = mode == RE_MODE_VAEGAN ? 3.f : 0.f; o.w_fm = mode == RE_MODE_VAEGAN ? 2.f : 0.f;
    re_trainer *t = NULL;
    CHECK_OK(re_trainer_create(&t, m, &o));
    size_t img = 3 * 16 * 16;
    float x[3 * 768], eps[3 * 8];
    re_rng r;
    re_rng_seed(&r, 99);
    for (size_t i = 0; i < 3 * img; i++) x[i] = (float)(0.05 + 0.9 * re_rng_uniform(&r));
    for (int i = 0; i < 24; i++) eps[i] = re_rng_normal(&r);
    CHECK(isfinite(loss_of(t, x, eps, disc_loss)));
    float *g = re_trainer_grads(t);
    float *ana = malloc(m->data_count * sizeof(float));
    memcpy(ana, g, m->data_count * sizeof(float));
    int checked = 0, bad = 0;
    for (int pi = 0; pi < m->n_params; pi++) {
        const re_param *p = &m->params[pi];
        if (p->kind != RE_P_WEIGHT) continue;
        if (disc_loss != (p->part == RE_PART_DISC)) continue;
        for (int k = 0; k < 6 && (size_t)k < p->count; k++) {
            size_t idx = p->offset + ((size_t)k * (p->count / 6 + 1)) % p->count;
            float a = ana[idx];
            if (fabsf(a) < 1e-3f) continue;
            float save = m->data[idx];
            const float h = H_STEP;
            m->data[idx] = save + h;
            double lp = loss_of(t, x, eps, disc_loss);
            m->data[idx] = save - h;
            double lm = loss_of(t, x, eps, disc_loss);
            m->data[idx] = save;
            double num = (lp - lm) / (2 * h);
            checked++;
            double tol = 2e-2 * fmax(fabs(num), fabs(a)) + 2e-3;
            if (fabs(num - a) > tol) {
                bad++;
                fprintf(stderr, "  %s mode %d %s[%zu]: analytic %.6g numeric %.6g\n", disc_loss ? "D" : "G", mode,
                        p->name, idx - p->offset, a, num);
            }
        }
    }
    printf("mode %d %s: %d elements checked, %d outside tolerance\n", mode, disc_loss ? "disc" : "gen", checked, bad);
    CHECK(checked > 20);
    CHECK_MSG(bad * 20 <= checked, "%d of %d gradient elements disagree", bad, checked);
    free(ana);
    re_trainer_free(t);
    re_model_free(m);
}

int main(void) {
    check_mode(RE_MODE_VAE, 0);
    check_mode(RE_MODE_VAEGAN, 0);
    check_mode(RE_MODE_VAEGAN, 1);
    RE_TEST_END();
}
