/*
 * train_ckpt.c - the run configuration of `reenact train`: the config.json stored in the run folder and in every
 * checkpoint (format: docs/FORMAT.md "Checkpoints"), written by train_config_json and read back by
 * train_config_parse on --resume. The checkpoint folders themselves (atomic writes, DONE markers, retention,
 * loading) are the library's: re_checkpoint_* in include/reenact/reenact.h, src/model/checkpoint.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train.h"

#define TRAIN_FORMAT "reenact-train"
#define TRAIN_FORMAT_VERSION 1

/* ---- run configuration JSON ------------------------------------------------------------------------------ */

/* The training options stored as plain JSON numbers, written and read in this order: X(key, re_train_opts field,
 * its type). */
#define TRAIN_OPT_NUMBERS(X)                                                                                           \
    X("lr", lr_g, double) X("lr_d", lr_d, double) X("beta1", beta1, double) X("beta2", beta2, double)                 \
    X("adam_eps", adam_eps, double) X("weight_decay", weight_decay, double) X("w_rec", w_rec, float)                  \
    X("w_kl", w_kl, float) X("w_adv", w_adv, float) X("w_fm", w_fm, float)

static const char *backend_name(re_backend b) {
    return b == RE_BACKEND_REF ? "ref" : b == RE_BACKEND_DNNL ? "dnnl" : "auto";
}

char *train_config_json(const train_cfg *c, const train_state *st) {
    json_t *o = json_object(), *s = json_object(), *mc = NULL;
    char *mtext = re_config_to_json(&c->mcfg), *out = NULL, seed[32];
    if (!o || !s || !mtext) goto done;
    mc = json_loads(mtext, 0, NULL);
    if (!mc) goto done;
    snprintf(seed, sizeof seed, "%" PRIu64, c->opts.seed);
    json_object_set_new(o, "format", json_string(TRAIN_FORMAT));
    json_object_set_new(o, "format_version", json_integer(TRAIN_FORMAT_VERSION));
    json_object_set_new(o, "data", json_string(c->data));
    json_object_set_new(o, "data_sha256", json_string(c->data_sha256));
    json_object_set_new(o, "model", json_string(c->model));
    json_object_set_new(o, "model_config", mc);
    mc = NULL;
    json_object_set_new(o, "init", json_string(c->init));
    json_object_set_new(o, "init_data_sha256", json_string(c->init_sha256));
    json_object_set_new(o, "init_steps", json_integer(c->init_steps));
    json_object_set_new(o, "mode", json_string(c->opts.mode == RE_MODE_VAEGAN ? "vaegan" : "vae"));
    json_object_set_new(o, "batch", json_integer(c->opts.batch));
#define PUT(key, field, type) json_object_set_new(o, key, json_real(c->opts.field));
    TRAIN_OPT_NUMBERS(PUT)
#undef PUT
    json_object_set_new(o, "w_gdl", json_real(c->opts.w_gdl));
    json_object_set_new(o, "seed", json_string(seed));
    json_object_set_new(o, "epochs", json_integer(c->epochs));
    json_object_set_new(o, "lr_decay_epochs", json_integer(c->lr_decay_epochs));
    json_object_set_new(o, "lr_final", json_real(c->lr_final));
    json_object_set_new(o, "max_steps", json_integer(c->max_steps));
    json_object_set_new(o, "threads", json_integer(c->threads));
    json_object_set_new(o, "backend", json_string(backend_name(c->backend)));
    json_object_set_new(o, "precision", json_string(c->opts.precision == RE_PREC_BF16 ? "bf16" : "f32"));
    json_object_set_new(o, "ckpt_every", json_integer(c->ckpt_every));
    json_object_set_new(o, "sample_every", json_integer(c->sample_every));
    json_object_set_new(o, "log_every", json_integer(c->log_every));
    json_object_set_new(o, "keep", json_integer(c->keep));
    json_object_set_new(o, "val_fraction", json_real(c->val_fraction));
    json_object_set_new(o, "val_max", json_integer(c->val_max));
    json_object_set_new(o, "flip", json_boolean(c->flip));
    json_object_set_new(o, "grid", json_integer(c->grid));
    json_object_set_new(o, "max_rollbacks", json_integer(c->max_rollbacks));
    json_object_set_new(o, "plot_log", json_boolean(c->plot_log));
    json_object_set_new(s, "step", json_integer(st->step));
    json_object_set_new(s, "loader_epoch", json_integer((json_int_t)st->loader.epoch));
    json_object_set_new(s, "loader_pos", json_integer((json_int_t)st->loader.pos));
    json_object_set_new(s, "lr_g", json_real(st->lr_g));
    json_object_set_new(s, "lr_d", json_real(st->lr_d));
    json_object_set_new(s, "rollbacks", json_integer(st->rollbacks));
    json_object_set_new(s, "best_val", isfinite(st->best_val) ? json_real(st->best_val) : json_null());
    json_object_set_new(s, "best_step", json_integer(st->best_step));
    json_object_set_new(s, "metrics_bytes", json_integer((json_int_t)st->metrics_bytes));
    json_object_set_new(s, "train_seconds", json_real(st->train_seconds));
    json_object_set_new(o, "state", s);
    s = NULL;
    out = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
done:
    json_decref(o);
    json_decref(s);
    json_decref(mc);
    free(mtext);
    return out;
}

/* Typed getters: set *bad when the key is missing or of the wrong type. */
static double get_num(json_t *o, const char *k, int *bad) {
    json_t *v = json_object_get(o, k);
    if (!json_is_number(v)) { *bad = 1; return 0; }
    return json_number_value(v);
}
static int64_t get_int(json_t *o, const char *k, int *bad) {
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v)) { *bad = 1; return 0; }
    return (int64_t)json_integer_value(v);
}
static void get_str(json_t *o, const char *k, char *dst, size_t n, int *bad) {
    const char *v = json_string_value(json_object_get(o, k));
    if (!v || strlen(v) >= n) { *bad = 1; return; }
    snprintf(dst, n, "%s", v);
}

int train_is_sha256_hex(const char *s) {
    return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

typedef struct train_range { const char *name; double v, lo, hi; } train_range;

re_status train_config_parse(const char *text, const char *what, train_cfg *c, train_state *st) {
    json_error_t err;
    json_t *o = json_loads(text, 0, &err);
    re_status s = RE_OK;
    char *mtext = NULL;
    if (!o) {
        s = re_fail(RE_ERR_BAD_HEADER, "%s: not valid JSON (line %d: %s)", what, err.line, err.text);
        goto done;
    }
    if (!json_is_object(o)) {
        s = re_fail(RE_ERR_BAD_HEADER, "%s: a training config is a JSON object, this is a JSON %s", what,
                    json_is_array(o) ? "array" : json_is_string(o) ? "string" : json_is_number(o) ? "number"
                                                                                               : "value");
        goto done;
    }
    const char *fmt = json_string_value(json_object_get(o, "format"));
    if (!fmt || strcmp(fmt, TRAIN_FORMAT)) {
        s = re_fail(RE_ERR_BAD_HEADER, "%s: not a reenact training config (format '%s')", what, fmt ? fmt : "?");
        goto done;
    }
    int bad = 0;
    int64_t ver = get_int(o, "format_version", &bad);
    if (bad) {
        s = re_fail(RE_ERR_VERSION, "%s: training config version is missing or not an integer (format_version; "
                    "this build reads %d)", what, TRAIN_FORMAT_VERSION);
        goto done;
    }
    if (ver != TRAIN_FORMAT_VERSION) {
        s = re_fail(RE_ERR_VERSION, "%s: training config version %lld, this build reads %d", what, (long long)ver,
                    TRAIN_FORMAT_VERSION);
        goto done;
    }
    memset(c, 0, sizeof *c);
    memset(st, 0, sizeof *st);
    get_str(o, "data", c->data, sizeof c->data, &bad);
    get_str(o, "data_sha256", c->data_sha256, sizeof c->data_sha256, &bad);
    get_str(o, "model", c->model, sizeof c->model, &bad);
    get_str(o, "init", c->init, sizeof c->init, &bad);
    /* The --init lineage arrived after the first runs: absent means none recorded. */
    double init_steps_v = 0;
    if (json_object_get(o, "init_data_sha256") || json_object_get(o, "init_steps")) {
        get_str(o, "init_data_sha256", c->init_sha256, sizeof c->init_sha256, &bad);
        int64_t is = get_int(o, "init_steps", &bad);
        init_steps_v = (double)is;
        c->init_steps = is >= 0 ? is : 0;
        if (c->init_sha256[0] && !train_is_sha256_hex(c->init_sha256)) {
            s = re_fail(RE_ERR_BAD_HEADER, "%s: training config field init_data_sha256 is not empty or 64 hex digits",
                        what);
            goto done;
        }
    }
    json_t *mc = json_object_get(o, "model_config");
    mtext = mc ? json_dumps(mc, 0) : NULL;
    if (!mtext || re_config_from_json(&c->mcfg, mtext, strlen(mtext)) != RE_OK) bad = 1;
    char mode[16] = "", backend[16] = "", seed[32] = "";
    get_str(o, "mode", mode, sizeof mode, &bad);
    get_str(o, "backend", backend, sizeof backend, &bad);
    get_str(o, "seed", seed, sizeof seed, &bad);
    re_train_mode m = strcmp(mode, "vaegan") == 0 ? RE_MODE_VAEGAN : RE_MODE_VAE;
    re_train_opts_default(&c->opts, m);
    c->opts.batch = (int)get_int(o, "batch", &bad);
#define GET(key, field, type) c->opts.field = (type)get_num(o, key, &bad);
    TRAIN_OPT_NUMBERS(GET)
#undef GET
    /* The gradient difference loss arrived after the first runs: absent means off. */
    double wgdl = json_object_get(o, "w_gdl") ? get_num(o, "w_gdl", &bad) : 0.0;
    c->opts.w_gdl = wgdl >= 0 && wgdl <= 1e6 ? (float)wgdl : 0.f;
    c->opts.seed = strtoull(seed, NULL, 10);
    c->epochs = (int)get_int(o, "epochs", &bad);
    /* The learning-rate schedule arrived after the first runs: absent means constant rates. */
    c->lr_decay_epochs = 0;
    c->lr_final = 1.0;
    double decay_v = 0; /* as read, for the range check (an int could not hold every value) */
    if (json_object_get(o, "lr_decay_epochs") || json_object_get(o, "lr_final")) {
        int64_t de = get_int(o, "lr_decay_epochs", &bad);
        decay_v = (double)de;
        c->lr_decay_epochs = de >= 0 && de <= 1000000 ? (int)de : 0;
        c->lr_final = get_num(o, "lr_final", &bad);
    }
    c->max_steps = get_int(o, "max_steps", &bad);
    c->threads = (int)get_int(o, "threads", &bad);
    /* "precision" arrived after the first runs: absent means f32. */
    const char *prec = json_string_value(json_object_get(o, "precision"));
    if (prec && strcmp(prec, "f32") && strcmp(prec, "bf16")) bad = 1;
    c->opts.precision = prec && !strcmp(prec, "bf16") ? RE_PREC_BF16 : RE_PREC_F32;
    c->backend = !strcmp(backend, "ref") ? RE_BACKEND_REF : !strcmp(backend, "dnnl") ? RE_BACKEND_DNNL : RE_BACKEND_AUTO;
    c->ckpt_every = get_int(o, "ckpt_every", &bad);
    c->sample_every = get_int(o, "sample_every", &bad);
    c->log_every = get_int(o, "log_every", &bad);
    c->keep = (int)get_int(o, "keep", &bad);
    c->val_fraction = get_num(o, "val_fraction", &bad);
    c->val_max = (int)get_int(o, "val_max", &bad);
    c->flip = json_is_true(json_object_get(o, "flip"));
    c->grid = (int)get_int(o, "grid", &bad);
    c->max_rollbacks = (int)get_int(o, "max_rollbacks", &bad);
    c->plot_log = json_is_true(json_object_get(o, "plot_log"));
    json_t *so = json_object_get(o, "state");
    if (!json_is_object(so)) bad = 1;
    else {
        st->step = get_int(so, "step", &bad);
        st->loader.epoch = (uint64_t)get_int(so, "loader_epoch", &bad);
        st->loader.pos = (uint64_t)get_int(so, "loader_pos", &bad);
        st->lr_g = get_num(so, "lr_g", &bad);
        st->lr_d = get_num(so, "lr_d", &bad);
        st->rollbacks = (int)get_int(so, "rollbacks", &bad);
        json_t *bv = json_object_get(so, "best_val");
        st->best_val = json_is_number(bv) ? json_number_value(bv) : INFINITY;
        st->best_step = get_int(so, "best_step", &bad);
        st->metrics_bytes = (uint64_t)get_int(so, "metrics_bytes", &bad);
        st->train_seconds = get_num(so, "train_seconds", &bad);
    }
    if (bad) {
        s = re_fail(RE_ERR_BAD_HEADER, "%s: training config has missing or malformed fields", what);
        goto done;
    }
    /* Values the CLI could never have written (the ranges of `reenact train`'s options): refused here, so that a
     * damaged file cannot start a run with, say, an infinite loss weight (a double beyond float range). */
    const train_range ranges[] = {
        {"batch", c->opts.batch, 1, 4096}, {"lr", c->opts.lr_g, 0, 10}, {"lr_d", c->opts.lr_d, 0, 10},
        {"beta1", c->opts.beta1, 0, 1}, {"beta2", c->opts.beta2, 0, 1}, {"adam_eps", c->opts.adam_eps, 0, 1},
        {"weight_decay", c->opts.weight_decay, 0, 1e6}, {"w_rec", c->opts.w_rec, 0, 1e6},
        {"w_kl", c->opts.w_kl, 0, 1e6}, {"w_adv", c->opts.w_adv, 0, 1e6}, {"w_fm", c->opts.w_fm, 0, 1e6},
        {"w_gdl", wgdl, 0, 1e6},
        {"epochs", c->epochs, 1, 1000000}, {"lr_decay_epochs", decay_v, 0, 1000000},
        {"lr_final", c->lr_final, 1e-6, 1}, {"max_steps", (double)c->max_steps, 0, 1e12},
        {"threads", c->threads, 0, 1024}, {"ckpt_every", (double)c->ckpt_every, 1, 1e12},
        {"sample_every", (double)c->sample_every, 1, 1e12}, {"log_every", (double)c->log_every, 1, 1e12},
        {"keep", c->keep, 1, 1000000}, {"val_fraction", c->val_fraction, 0, 0.9}, {"val_max", c->val_max, 1, 1000000},
        {"grid", c->grid, 1, 64}, {"max_rollbacks", c->max_rollbacks, 0, 1000},
        {"init_steps", init_steps_v, 0, 1e15},
        {"state.step", (double)st->step, 0, 1e15}, {"state.lr_g", st->lr_g, 0, 10}, {"state.lr_d", st->lr_d, 0, 10},
        {"state.rollbacks", st->rollbacks, 0, 1e6}, {"state.train_seconds", st->train_seconds, 0, 1e12},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof *ranges; i++)
        if (!(ranges[i].v >= ranges[i].lo && ranges[i].v <= ranges[i].hi)) {
            s = re_fail(RE_ERR_BAD_HEADER, "%s: training config field %s = %g is outside %g..%g", what,
                        ranges[i].name, ranges[i].v, ranges[i].lo, ranges[i].hi);
            goto done;
        }
done:
    free(mtext);
    json_decref(o);
    return s;
}

