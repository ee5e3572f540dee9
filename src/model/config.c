/*
 * config.c - model configuration presets, validation and JSON (jansson) round trip.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

re_status re_config_preset(re_config *c, const char *name) {
    memset(c, 0, sizeof *c);
    c->res = 64;
    c->channels = 3;
    c->latent = 200;
    c->n_stages = 3;
    c->enc_widths[0] = 32; c->enc_widths[1] = 64; c->enc_widths[2] = 128;
    c->top_ch = 256;
    c->fc_hidden = 512;
    c->n_disc = 4;
    c->disc_widths[0] = 32; c->disc_widths[1] = 64; c->disc_widths[2] = 128; c->disc_widths[3] = 256;
    c->disc_fc[0] = 512; c->disc_fc[1] = 64;
    c->lrelu_slope = 0.2f;
    c->bn_eps = 1e-5f;
    c->bn_momentum = 0.1f;
    if (!name || strcmp(name, "seed64") == 0) return RE_OK;
    if (strcmp(name, "seed128") == 0) {
        /* One more down/up stage and one more discriminator conv: 128 -> 4x4 again. */
        c->res = 128;
        c->n_stages = 4;
        c->enc_widths[3] = 256;
        c->top_ch = 256;
        c->n_disc = 5;
        c->disc_widths[4] = 256;
        return RE_OK;
    }
    if (strcmp(name, "tiny") == 0) {
        /* A few-KB model at 16x16 for tests and smoke runs (same layer structure, one stage). */
        c->res = 16;
        c->latent = 8;
        c->n_stages = 1;
        c->enc_widths[0] = 4;
        c->top_ch = 6;
        c->fc_hidden = 10;
        c->n_disc = 2;
        c->disc_widths[0] = 4;
        c->disc_widths[1] = 6;
        c->disc_fc[0] = 12;
        c->disc_fc[1] = 5;
        return RE_OK;
    }
    return re_fail(RE_ERR_CONFIG, "unknown model preset '%s' (known: seed64, seed128, tiny)", name);
}

re_status re_config_validate(const re_config *c) {
#define NEED(cond, ...) do { if (!(cond)) return re_fail(RE_ERR_CONFIG, __VA_ARGS__); } while (0)
    NEED(c->channels >= 1 && c->channels <= 4, "config: channels %d outside 1..4", c->channels);
    NEED(c->latent >= 1 && c->latent <= 65536, "config: latent %d outside 1..65536", c->latent);
    NEED(c->n_stages >= 1 && c->n_stages <= RE_MAX_STAGES, "config: n_stages %d outside 1..%d", c->n_stages,
         RE_MAX_STAGES);
    NEED(c->n_disc >= 1 && c->n_disc <= RE_MAX_STAGES, "config: n_disc %d outside 1..%d", c->n_disc, RE_MAX_STAGES);
    NEED(c->res >= 4 && c->res <= 4096, "config: res %d outside 4..4096", c->res);
    NEED(c->res % (1 << (c->n_stages + 1)) == 0, "config: res %d is not a multiple of 2^(n_stages+1) = %d", c->res,
         1 << (c->n_stages + 1));
    NEED(c->res % (1 << c->n_disc) == 0, "config: res %d is not a multiple of 2^n_disc = %d", c->res, 1 << c->n_disc);
    for (int i = 0; i < c->n_stages; i++)
        NEED(c->enc_widths[i] >= 1 && c->enc_widths[i] <= 4096, "config: enc_widths[%d] = %d outside 1..4096", i,
             c->enc_widths[i]);
    for (int i = 0; i < c->n_disc; i++)
        NEED(c->disc_widths[i] >= 1 && c->disc_widths[i] <= 4096, "config: disc_widths[%d] = %d outside 1..4096", i,
             c->disc_widths[i]);
    NEED(c->top_ch >= 1 && c->top_ch <= 4096, "config: top_ch %d outside 1..4096", c->top_ch);
    NEED(c->fc_hidden >= 1 && c->fc_hidden <= 65536, "config: fc_hidden %d outside 1..65536", c->fc_hidden);
    NEED(c->disc_fc[0] >= 1 && c->disc_fc[0] <= 65536 && c->disc_fc[1] >= 1 && c->disc_fc[1] <= 65536,
         "config: disc_fc {%d,%d} outside 1..65536", c->disc_fc[0], c->disc_fc[1]);
    NEED(c->lrelu_slope > 0 && c->lrelu_slope < 1, "config: lrelu_slope %g outside (0,1)", c->lrelu_slope);
    NEED(c->bn_eps > 0 && c->bn_eps < 1, "config: bn_eps %g outside (0,1)", c->bn_eps);
    NEED(c->bn_momentum > 0 && c->bn_momentum <= 1, "config: bn_momentum %g outside (0,1]", c->bn_momentum);
    /* Keep every activation's per-sample size well inside int range. */
    size_t big = (size_t)c->res * c->res * (size_t)(c->enc_widths[0] > c->disc_widths[0] ? c->enc_widths[0]
                                                                                            : c->disc_widths[0]);
    NEED(big < (1u << 30), "config: activations of %zu values per image are too large", big);
#undef NEED
    return RE_OK;
}

static json_t *int_array(const int *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
    return a;
}

/* The float fields as the shortest decimal that rounds back to the same float (0.2, not 0.200000003). */
static json_t *json_float(float v) {
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if ((float)strtod(buf, NULL) == v) break;
    }
    return json_real(strtod(buf, NULL));
}

char *re_config_to_json(const re_config *c) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "res", json_integer(c->res));
    json_object_set_new(o, "channels", json_integer(c->channels));
    json_object_set_new(o, "latent", json_integer(c->latent));
    json_object_set_new(o, "n_stages", json_integer(c->n_stages));
    json_object_set_new(o, "enc_widths", int_array(c->enc_widths, c->n_stages));
    json_object_set_new(o, "top_ch", json_integer(c->top_ch));
    json_object_set_new(o, "fc_hidden", json_integer(c->fc_hidden));
    json_object_set_new(o, "n_disc", json_integer(c->n_disc));
    json_object_set_new(o, "disc_widths", int_array(c->disc_widths, c->n_disc));
    json_object_set_new(o, "disc_fc", int_array(c->disc_fc, 2));
    json_object_set_new(o, "lrelu_slope", json_float(c->lrelu_slope));
    json_object_set_new(o, "bn_eps", json_float(c->bn_eps));
    json_object_set_new(o, "bn_momentum", json_float(c->bn_momentum));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(o);
    return s;
}

static re_status get_int(json_t *o, const char *key, int *dst) {
    json_t *v = json_object_get(o, key);
    if (!v) return RE_OK;
    if (!json_is_integer(v)) return re_fail(RE_ERR_CONFIG, "config: '%s' must be an integer", key);
    json_int_t x = json_integer_value(v);
    if (x < -1000000 || x > 1000000) return re_fail(RE_ERR_CONFIG, "config: '%s' = %lld out of range", key, (long long)x);
    *dst = (int)x;
    return RE_OK;
}

static re_status get_float(json_t *o, const char *key, float *dst) {
    json_t *v = json_object_get(o, key);
    if (!v) return RE_OK;
    if (!json_is_number(v)) return re_fail(RE_ERR_CONFIG, "config: '%s' must be a number", key);
    *dst = (float)json_number_value(v);
    return RE_OK;
}

static re_status get_ints(json_t *o, const char *key, int *dst, int max, int *n_out) {
    json_t *v = json_object_get(o, key);
    if (!v) return RE_OK;
    if (!json_is_array(v) || json_array_size(v) > (size_t)max)
        return re_fail(RE_ERR_CONFIG, "config: '%s' must be an array of at most %d integers", key, max);
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_integer(e) || json_integer_value(e) < 1 || json_integer_value(e) > 65536)
            return re_fail(RE_ERR_CONFIG, "config: '%s'[%zu] must be an integer in 1..65536", key, i);
        dst[i] = (int)json_integer_value(e);
    }
    if (n_out) *n_out = (int)json_array_size(v);
    return RE_OK;
}

re_status re_config_from_json(re_config *c, const char *text, size_t len) {
    re_config_preset(c, "seed64");
    json_error_t err;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!o) return re_fail(RE_ERR_CONFIG, "config: bad JSON at line %d: %s", err.line, err.text);
    re_status s = RE_ERR_CONFIG;
    int n_enc = -1, n_disc = -1, n_fc = 2;
    if (!json_is_object(o)) { re_fail(s, "config: not a JSON object"); goto done; }
    if ((s = get_int(o, "res", &c->res)) || (s = get_int(o, "channels", &c->channels)) ||
        (s = get_int(o, "latent", &c->latent)) || (s = get_int(o, "n_stages", &c->n_stages)) ||
        (s = get_int(o, "top_ch", &c->top_ch)) || (s = get_int(o, "fc_hidden", &c->fc_hidden)) ||
        (s = get_int(o, "n_disc", &c->n_disc)) || (s = get_float(o, "lrelu_slope", &c->lrelu_slope)) ||
        (s = get_float(o, "bn_eps", &c->bn_eps)) || (s = get_float(o, "bn_momentum", &c->bn_momentum)) ||
        (s = get_ints(o, "enc_widths", c->enc_widths, RE_MAX_STAGES, &n_enc)) ||
        (s = get_ints(o, "disc_widths", c->disc_widths, RE_MAX_STAGES, &n_disc)) ||
        (s = get_ints(o, "disc_fc", c->disc_fc, 2, &n_fc)))
        goto done;
    s = RE_ERR_CONFIG;
    if (n_enc >= 0 && n_enc != c->n_stages) {
        re_fail(s, "config: enc_widths has %d entries, n_stages is %d", n_enc, c->n_stages);
        goto done;
    }
    if (n_disc >= 0 && n_disc != c->n_disc) {
        re_fail(s, "config: disc_widths has %d entries, n_disc is %d", n_disc, c->n_disc);
        goto done;
    }
    if (n_fc != 2) { re_fail(s, "config: disc_fc must have 2 entries"); goto done; }
    s = re_config_validate(c);
done:
    json_decref(o);
    return s;
}
