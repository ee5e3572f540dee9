/*
 * test_config.c - the JSON configuration parsers against the fixtures in tests/fuzz/corpus/config (also the
 * fuzz_config seed corpus):
 *   - model configurations (re_config_from_json): ok_*.json accepted (ok_seed64 equals the seed64 preset); every
 *     bad_*.json that is not a run configuration refused with RE_ERR_CONFIG and a message naming the problem;
 *   - training-run config.json (train_config_parse, cli/train_ckpt.c, compiled in): ok_run_config*.json accepted
 *     (a file without "precision" or the learning-rate schedule, written before those fields existed, reads as
 *     f32 with constant rates), and each bad_run_*.json
 *     refused with a message naming the file (field values outside the ranges of `reenact train`'s options
 *     too, such as a loss weight beyond float range).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "re_test.h"
#include "reenact/reenact.h"
#include "train.h"

#define DIR "tests/fuzz/corpus/config/"

static char *load(const char *name, size_t *n) {
    char p[256];
    snprintf(p, sizeof p, DIR "%s", name);
    uint8_t *b = re_test_read_file(p, n);
    CHECK_MSG(b != NULL, "cannot read %s", p);
    if (!b) return NULL;
    char *t = realloc(b, *n + 1);
    if (t) t[*n] = 0;
    return t;
}

static void model_ok(const char *name) {
    size_t n;
    char *t = load(name, &n);
    if (!t) return;
    re_config c;
    re_status s = re_config_from_json(&c, t, n);
    CHECK_MSG(s == RE_OK, "%s refused: %s", name, re_last_error());
    free(t);
}

static void model_bad(const char *name, const char *want) {
    size_t n;
    char *t = load(name, &n);
    if (!t) return;
    re_config c;
    re_status s = re_config_from_json(&c, t, n);
    CHECK_MSG(s == RE_ERR_CONFIG, "%s: status %d, want RE_ERR_CONFIG", name, (int)s);
    CHECK_MSG(strstr(re_last_error(), want) != NULL, "%s: message '%s' lacks '%s'", name, re_last_error(), want);
    free(t);
}

static void run_case(const char *name, int ok, const char *want) {
    size_t n;
    char *t = load(name, &n);
    if (!t) return;
    static train_cfg c;
    static train_state st;
    re_status s = train_config_parse(t, name, &c, &st);
    if (ok) {
        CHECK_MSG(s == RE_OK, "%s refused: %s", name, re_last_error());
        CHECK(c.opts.mode == RE_MODE_VAEGAN && c.opts.batch == 64 && st.step == 500 && st.loader.pos == 7488);
    } else {
        CHECK_MSG(s < 0, "%s accepted", name);
        CHECK_MSG(strstr(re_last_error(), name) != NULL, "%s: message '%s' does not name the file", name,
                  re_last_error());
        CHECK_MSG(strstr(re_last_error(), want) != NULL, "%s: message '%s' lacks '%s'", name, re_last_error(), want);
    }
    free(t);
}

int main(void) {
    model_ok("ok_seed64.json");
    model_ok("ok_tiny.json");
    model_ok("ok_partial.json");
    {
        size_t n;
        char *t = load("ok_seed64.json", &n);
        re_config a, b;
        re_config_preset(&b, "seed64");
        if (t && re_config_from_json(&a, t, n) == RE_OK) {
            char *ja = re_config_to_json(&a), *jb = re_config_to_json(&b);
            CHECK_MSG(ja && jb && !strcmp(ja, jb), "ok_seed64.json differs from the preset: %s vs %s", ja, jb);
            free(ja);
            free(jb);
        }
        free(t);
    }
    model_bad("bad_dup_key.json", "duplicate");
    model_bad("bad_not_object.json", "not a JSON object");
    model_bad("bad_truncated.json", "bad JSON");
    model_bad("bad_type.json", "'res' must be an integer");
    model_bad("bad_float_type.json", "'bn_eps' must be a number");
    model_bad("bad_range.json", "latent 0 outside");
    model_bad("bad_huge.json", "out of range");
    model_bad("bad_widths_count.json", "enc_widths has 3 entries");
    model_bad("bad_disc_fc.json", "disc_fc must have 2 entries");
    model_bad("bad_res_multiple.json", "not a multiple");
    model_bad("bad_slope.json", "lrelu_slope");
    model_bad("bad_width_zero.json", "enc_widths");
    model_bad("bad_empty.json", "bad JSON");

    run_case("ok_run_config.json", 1, NULL);
    run_case("ok_run_config_no_precision.json", 1, NULL);
    run_case("ok_run_config_lr_decay.json", 1, NULL);
    run_case("ok_run_config_gdl.json", 1, NULL);
    run_case("ok_run_config_init.json", 1, NULL);
    {
        size_t n;
        char *t = load("ok_run_config_no_precision.json", &n);
        static train_cfg c;
        static train_state st;
        if (t && train_config_parse(t, "x", &c, &st) == RE_OK)
            CHECK(c.opts.precision == RE_PREC_F32 && c.lr_decay_epochs == 0 && c.lr_final == 1.0);
        free(t);
        t = load("ok_run_config_lr_decay.json", &n);
        if (t && train_config_parse(t, "x", &c, &st) == RE_OK)
            CHECK(c.lr_decay_epochs == 5 && c.lr_final == 0.1 && c.opts.w_gdl == 0.f); /* written before w_gdl */
        free(t);
        t = load("ok_run_config_gdl.json", &n);
        if (t && train_config_parse(t, "x", &c, &st) == RE_OK)
            CHECK(c.opts.w_gdl == 0.5f && c.init_sha256[0] == 0 && c.init_steps == 0); /* written before the lineage */
        free(t);
        t = load("ok_run_config_init.json", &n);
        if (t && train_config_parse(t, "x", &c, &st) == RE_OK)
            CHECK(c.init_steps == 11070 && strlen(c.init_sha256) == 64 && !strncmp(c.init_sha256, "abab", 4));
        free(t);
        t = load("ok_run_config.json", &n);
        if (t && train_config_parse(t, "x", &c, &st) == RE_OK) CHECK(c.opts.precision == RE_PREC_BF16);
        free(t);
    }
    run_case("bad_run_precision.json", 0, "missing or malformed");
    run_case("bad_run_version.json", 0, "version 2");
    run_case("bad_run_format.json", 0, "not a reenact training config");
    run_case("bad_run_no_state.json", 0, "missing or malformed");
    run_case("bad_run_batch_type.json", 0, "missing or malformed");
    run_case("bad_run_model_config.json", 0, "missing or malformed");
    /* found by fuzz_config: w_rec 2.2e82 became an infinite float, which could not be written back */
    run_case("bad_run_float_overflow.json", 0, "w_rec = inf is outside");
    run_case("bad_run_lr_final.json", 0, "lr_final = 0 is outside");
    run_case("bad_run_lr_decay_huge.json", 0, "lr_decay_epochs = 4.29497e+09 is outside");
    run_case("bad_run_lr_decay_half.json", 0, "missing or malformed");
    run_case("bad_run_w_gdl.json", 0, "w_gdl = 3e+06 is outside");
    run_case("bad_run_w_gdl_type.json", 0, "missing or malformed");
    run_case("bad_run_init_sha.json", 0, "init_data_sha256 is not empty or 64 hex");
    run_case("bad_run_init_steps.json", 0, "init_steps = -5 is outside");
    RE_TEST_END();
}
