/*
 * test_grad_model.c - gradient checks of the whole training objective by central differences, on a tiny model
 * with the reference (double-accumulating) ops: VAE (recon BCE + KL), VAE-GAN generator side (+ adversarial +
 * feature matching through a frozen discriminator), and the discriminator loss. Both generator checks include the
 * gradient difference loss (w_gdl = GDL_W), whose |.| kinks count against the same 5% allowance as the others.
 * check_gdl_term: g_loss(w_gdl) - g_loss(0) == w_gdl * st.gdl on the same model, batch and eps (both modes).
 *
 * Why GDL_W is small: gdl is piecewise linear in xr with ~4300 kinks (|dxr| = 0 or |dxr| = |dx| per neighbour pair),
 * and the untrained decoder's xr is nearly flat, so many dxr sit near 0 and an h = 1e-3 step crosses kinks. With
 * w_gdl = 0.7 that made 11 of 151 elements disagree (> 5%); shrinking h towards 1e-4 makes the numeric gdl derivative
 * converge to the analytic one (checked element by element) until f32 noise takes over. At 0.05 the failures stay at
 * the 5 of ~150 the other terms cause alone, while the gdl gradient is still a large share of the total: an analytic
 * gradient with the gdl part dropped, sign-flipped, x3 or x1.1 fails 117, 131, 128 and 30 of ~150 elements.
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
#ifndef GDL_W
#define GDL_W 0.05f   /* see the header: larger weights turn gdl kink crossings into > 5% disagreements */
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
    o.w_gdl = disc_loss ? 0.f : GDL_W;
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

/* The gdl term enters g_loss as exactly w_gdl * st.gdl: two trainers on one model (apply = 0 changes no parameter;
 * train-mode BN uses batch statistics, so the running stats it updates do not feed back), same batch and eps, one
 * with w_gdl = 0 and one with GDL_W. Everything else in the stats must match bit for bit. */
static void check_gdl_term(re_train_mode mode) {
    re_config c = tiny();
    re_model *m = NULL;
    CHECK_OK(re_model_create(&m, &c, 7, 1));
    CHECK_OK(re_model_set_backend(m, RE_BACKEND_REF));
    re_train_opts o0, o1;
    re_train_opts_default(&o0, mode);
    o0.batch = 3;
    o0.w_kl = 0.5f; o0.w_adv = mode == RE_MODE_VAEGAN ? 3.f : 0.f; o0.w_fm = mode == RE_MODE_VAEGAN ? 2.f : 0.f;
    o0.w_gdl = 0.f;
    o1 = o0;
    o1.w_gdl = GDL_W;
    re_trainer *t0 = NULL, *t1 = NULL;
    CHECK_OK(re_trainer_create(&t0, m, &o0));
    CHECK_OK(re_trainer_create(&t1, m, &o1));
    float x[3 * 768], eps[3 * 8];
    re_rng r;
    re_rng_seed(&r, 99);
    for (size_t i = 0; i < 3 * 768; i++) x[i] = (float)(0.05 + 0.9 * re_rng_uniform(&r));
    for (int i = 0; i < 24; i++) eps[i] = re_rng_normal(&r);
    re_step_stats s0, s1;
    memset(&s0, 0, sizeof s0);
    memset(&s1, 0, sizeof s1);
    CHECK_OK(re_trainer_step_ex(t0, x, eps, &s0, 0));
    CHECK_OK(re_trainer_step_ex(t1, x, eps, &s1, 0));
    CHECK_MSG(s0.gdl == 0.0, "mode %d: st.gdl = %g with w_gdl = 0, want 0", mode, s0.gdl);
    CHECK_MSG(isfinite(s1.gdl) && s1.gdl > 0.0, "mode %d: st.gdl = %g with w_gdl = %g, want > 0", mode, s1.gdl,
              (double)GDL_W);
    CHECK_MSG(s0.rec == s1.rec && s0.kl == s1.kl && s0.adv == s1.adv && s0.fm == s1.fm && s0.d_loss == s1.d_loss,
              "mode %d: terms other than gdl changed with w_gdl (rec %.17g/%.17g kl %.17g/%.17g adv %.17g/%.17g "
              "fm %.17g/%.17g d %.17g/%.17g)", mode, s0.rec, s1.rec, s0.kl, s1.kl, s0.adv, s1.adv, s0.fm, s1.fm,
              s0.d_loss, s1.d_loss);
    const double diff = s1.g_loss - s0.g_loss, want = (double)GDL_W * s1.gdl;
    const double rel = fabs(diff - want) / fabs(want);
    printf("mode %d: g_loss %.9g (w_gdl 0) -> %.9g (w_gdl %g), gdl %.9g, diff - w_gdl*gdl rel %.3g\n", mode,
           s0.g_loss, s1.g_loss, (double)GDL_W, s1.gdl, rel);
    CHECK_MSG(rel <= 1e-6, "mode %d: g_loss difference %.17g, want w_gdl*gdl = %.17g (rel err %.3g)", mode, diff, want,
              rel);
    re_trainer_free(t1);
    re_trainer_free(t0);
    re_model_free(m);
}

int main(void) {
    check_mode(RE_MODE_VAE, 0);
    check_mode(RE_MODE_VAEGAN, 0);
    check_mode(RE_MODE_VAEGAN, 1);
    check_gdl_term(RE_MODE_VAE);
    check_gdl_term(RE_MODE_VAEGAN);
    RE_TEST_END();
}
