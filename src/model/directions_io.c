/*
 * directions_io.c - the motion directions (include/reenact/directions.h) inside a model file: four F32 tensors
 * (directions.pattern [K,L], directions.filter [K,L], directions.basis [M,L], directions.basis_var [M]) and the
 * "directions" metadata entry (JSON: version, attribute names and units, sigma, r2, gain, cross, smile_bias,
 * motion_explained, frames, clips; null for a value not measured). docs/FORMAT.md has the table. The loader refuses
 * anything malformed with a message naming the file and the field; a model file without them is fine.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "model/directions_io.h"

#define K RE_ATTR_COUNT

static json_t *num_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *farr(const float *v, int n) {
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) json_array_append_new(a, num_or_null(v[i]));
    return a;
}

int re_dir_entries(const re_directions *d, re_st_entry e[RE_DIR_N_TENSORS], char **meta_json) {
    *meta_json = NULL;
    const int L = d->latent, M = d->n_motion;
    memset(e, 0, RE_DIR_N_TENSORS * sizeof *e);
    e[0] = (re_st_entry){"directions.pattern", RE_DT_F32, 2, {K, L}, d->pattern, NULL};
    e[1] = (re_st_entry){"directions.filter", RE_DT_F32, 2, {K, L}, d->filter, NULL};
    e[2] = (re_st_entry){"directions.basis", RE_DT_F32, 2, {M, L}, d->basis, NULL};
    e[3] = (re_st_entry){"directions.basis_var", RE_DT_F32, 1, {M}, d->basis_var, NULL};
    json_t *o = json_object(), *names = json_array(), *units = json_array();
    if (!o || !names || !units) {
        json_decref(o);
        json_decref(names);
        json_decref(units);
        return -1;
    }
    for (int k = 0; k < K; k++) {
        json_array_append_new(names, json_string(re_attr_name(k)));
        json_array_append_new(units, json_string(re_attr_unit(k)));
    }
    json_object_set_new(o, "version", json_integer(RE_DIR_FORMAT_VERSION));
    json_object_set_new(o, "attributes", names);
    json_object_set_new(o, "units", units);
    json_object_set_new(o, "sigma", farr(d->sigma, K));
    json_object_set_new(o, "r2", farr(d->r2, K));
    json_object_set_new(o, "gain", farr(d->gain, K));
    json_object_set_new(o, "cross", farr(d->cross, K));
    json_object_set_new(o, "response", isfinite(d->response[0]) ? farr(d->response, K * K) : json_null());
    json_object_set_new(o, "smile_bias", num_or_null(d->smile_bias));
    json_object_set_new(o, "motion_explained", num_or_null(d->motion_explained));
    json_object_set_new(o, "frames", json_integer(d->frames));
    json_object_set_new(o, "clips", json_integer(d->clips));
    *meta_json = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(o);
    return *meta_json ? RE_DIR_N_TENSORS : -1;
}

/* n floats from a JSON array into v: numbers, or null (read as NaN) when null_ok */
static int read_farr(json_t *o, const char *key, float *v, int n, int null_ok) {
    json_t *a = json_object_get(o, key);
    if (!json_is_array(a) || (int)json_array_size(a) != n) return 0;
    for (int i = 0; i < n; i++) {
        json_t *x = json_array_get(a, i);
        if (json_is_null(x) && null_ok) v[i] = NAN;
        else if (json_is_number(x) && isfinite(json_number_value(x)) && fabs(json_number_value(x)) < 1e30)
            v[i] = (float)json_number_value(x);
        else return 0;
    }
    return 1;
}

static re_status read_tensor(const re_st_file *f, const char *path, const char *name, int ndim, int64_t d0,
                             int64_t d1, float *dst) {
    const re_st_tensor *t = re_st_find(f, name);
    if (!t) return re_fail(RE_ERR_MISSING, "%s: the directions need tensor '%s', which is missing", path, name);
    int same = t->ndim == ndim && t->shape[0] == d0 && (ndim < 2 || t->shape[1] == d1);
    if (!same) {
        char want[64];
        if (ndim == 2) snprintf(want, sizeof want, "[%lld,%lld]", (long long)d0, (long long)d1);
        else snprintf(want, sizeof want, "[%lld]", (long long)d0);
        return re_fail(RE_ERR_SHAPE, "%s: tensor '%s' has the wrong shape for the directions (expected %s)", path,
                       name, want);
    }
    const size_t n = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
    re_status st = re_st_to_f32(f, t, dst, n);
    if (st != RE_OK) return re_fail_ctx(st, "%s: tensor '%s'", path, name);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(dst[i]) || fabsf(dst[i]) > 1e6f)
            return re_fail(RE_ERR_NONFINITE, "%s: tensor '%s' holds a non-finite or huge value at %zu", path, name, i);
    return RE_OK;
}

int re_dir_is_tensor(const char *name) {
    return !strcmp(name, "directions.pattern") || !strcmp(name, "directions.filter") ||
           !strcmp(name, "directions.basis") || !strcmp(name, "directions.basis_var");
}

re_status re_dir_load(const re_st_file *f, const char *path, int latent, re_directions **out) {
    *out = NULL;
    const char *js = re_st_meta(f, "directions");
    int any_tensor = 0;
    for (size_t i = 0; i < f->n_tensors; i++) any_tensor |= re_dir_is_tensor(f->tensors[i].name);
    if (!js && !any_tensor) return RE_OK;
    if (!js) return re_fail(RE_ERR_BAD_HEADER, "%s: direction tensors without the 'directions' metadata", path);
    json_error_t jerr;
    json_t *o = json_loads(js, 0, &jerr);
    re_status st = RE_OK;
    re_directions *d = NULL;
    if (!json_is_object(o)) {
        st = re_fail(RE_ERR_BAD_HEADER, "%s: 'directions' metadata is not a JSON object", path);
        goto done;
    }
    json_t *ver = json_object_get(o, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) != RE_DIR_FORMAT_VERSION) {
        st = re_fail(RE_ERR_VERSION, "%s: directions version not supported (this build reads version %d)", path,
                     RE_DIR_FORMAT_VERSION);
        goto done;
    }
    json_t *names = json_object_get(o, "attributes");
    int ok = json_is_array(names) && json_array_size(names) == K;
    for (int k = 0; ok && k < K; k++) {
        const char *s = json_string_value(json_array_get(names, k));
        ok = s && strcmp(s, re_attr_name(k)) == 0;
    }
    if (!ok) {
        st = re_fail(RE_ERR_BAD_HEADER, "%s: directions 'attributes' must list mouth, smile, eye_l, eye_r, brows, yaw, "
                     "pitch, roll in that order", path);
        goto done;
    }
    const re_st_tensor *tb = re_st_find(f, "directions.basis");
    if (!tb) {
        st = re_fail(RE_ERR_MISSING, "%s: the directions need tensor 'directions.basis', which is missing", path);
        goto done;
    }
    const int64_t M = tb && tb->ndim == 2 ? tb->shape[0] : -1;
    if (M < 1 || M > RE_DIR_MAX_MOTION || M > latent) {
        st = re_fail(RE_ERR_SHAPE, "%s: tensor 'directions.basis' must be [M,%d] with 1 <= M <= %d", path, latent,
                     RE_DIR_MAX_MOTION);
        goto done;
    }
    if ((st = re_directions_create(&d, latent, (int)M)) != RE_OK) goto done;
    if ((st = read_tensor(f, path, "directions.pattern", 2, K, latent, d->pattern)) != RE_OK ||
        (st = read_tensor(f, path, "directions.filter", 2, K, latent, d->filter)) != RE_OK ||
        (st = read_tensor(f, path, "directions.basis", 2, M, latent, d->basis)) != RE_OK ||
        (st = read_tensor(f, path, "directions.basis_var", 1, M, 0, d->basis_var)) != RE_OK)
        goto done;
    for (int m = 0; m < M; m++) {
        double nn = 0;
        for (int i = 0; i < latent; i++) nn += (double)d->basis[(size_t)m * latent + i] * d->basis[(size_t)m * latent + i];
        if (fabs(sqrt(nn) - 1) > 1e-2 || !(d->basis_var[m] >= 0)) {
            st = re_fail(RE_ERR_BAD_HEADER, "%s: motion basis row %d is not a unit vector with a variance >= 0", path, m);
            goto done;
        }
    }
    if (!read_farr(o, "sigma", d->sigma, K, 0) || !read_farr(o, "r2", d->r2, K, 1) ||
        !read_farr(o, "gain", d->gain, K, 1) || !read_farr(o, "cross", d->cross, K, 1)) {
        st = re_fail(RE_ERR_BAD_HEADER, "%s: directions 'sigma', 'r2', 'gain' and 'cross' must be arrays of %d numbers "
                     "(sigma > 0; null for a value not measured)", path, K);
        goto done;
    }
    for (int k = 0; k < K; k++)
        if (!(d->sigma[k] > 0)) {
            st = re_fail(RE_ERR_BAD_HEADER, "%s: directions sigma of '%s' must be > 0", path, re_attr_name(k));
            goto done;
        }
    json_t *resp = json_object_get(o, "response");
    if (resp && !json_is_null(resp) && !read_farr(o, "response", d->response, K * K, 0)) {
        st = re_fail(RE_ERR_BAD_HEADER, "%s: directions 'response' must be null or an array of %d numbers", path, K * K);
        goto done;
    }
    json_t *sb = json_object_get(o, "smile_bias"), *me = json_object_get(o, "motion_explained");
    json_t *fr = json_object_get(o, "frames"), *cl = json_object_get(o, "clips");
    if ((sb && !json_is_null(sb) && !json_is_number(sb)) || (me && !json_is_null(me) && !json_is_number(me)) ||
        (fr && !json_is_integer(fr)) || (cl && !json_is_integer(cl))) {
        st = re_fail(RE_ERR_BAD_HEADER, "%s: directions 'smile_bias', 'motion_explained', 'frames' or 'clips' has the "
                     "wrong type", path);
        goto done;
    }
    d->smile_bias = json_is_number(sb) ? (float)json_number_value(sb) : NAN;
    d->motion_explained = json_is_number(me) ? (float)json_number_value(me) : NAN;
    d->frames = fr ? json_integer_value(fr) : 0;
    d->clips = cl ? (int)json_integer_value(cl) : 0;
    if (!isfinite(d->smile_bias) && json_is_number(sb)) {
        st = re_fail(RE_ERR_BAD_HEADER, "%s: directions 'smile_bias' is not finite", path);
        goto done;
    }
done:
    json_decref(o);
    if (st != RE_OK) re_directions_free(d);
    else *out = d;
    return st;
}
