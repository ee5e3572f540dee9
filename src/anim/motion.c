/*
 * motion.c - motion files (include/reenact/anim.h; the format is specified in docs/FORMAT.md, "Motion file"):
 * a driving clip's motion as per-frame latent deltas in a safetensors file, written atomically and read with strict
 * validation. Tested by tests/unit/test_anim.c and fuzzed by tests/fuzz/fuzz_motion.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "core/safetensors.h"
#include "reenact/anim.h"

re_status re_motion_create(re_motion **out, int latent, int64_t frames, int with_landmarks) {
    if (!out) return re_fail(RE_ERR_ARG, "re_motion_create: NULL output pointer");
    *out = NULL;
    if (latent < 1 || latent > RE_MOTION_MAX_LATENT || frames < 1 || frames > RE_MOTION_MAX_FRAMES)
        return re_fail(RE_ERR_ARG, "re_motion_create: latent must be 1..%d and frames 1..%" PRId64 " (got %d, %" PRId64
                       ")", RE_MOTION_MAX_LATENT, RE_MOTION_MAX_FRAMES, latent, frames);
    size_t nd, nl;
    if (!re_mul_ok((size_t)frames, (size_t)latent * sizeof(float), &nd) ||
        !re_mul_ok((size_t)frames, (size_t)RE_FACE_LANDMARKS * 2 * sizeof(float), &nl))
        return re_fail(RE_ERR_NOMEM, "re_motion_create: %" PRId64 " x %d latents overflow", frames, latent);
    re_motion *m = re_alloc(sizeof *m, "motion");
    if (!m) return RE_ERR_NOMEM;
    m->latent = latent;
    m->frames = frames;
    m->fps_num = 25;
    m->fps_den = 1;
    m->ref_latent = re_alloc((size_t)latent * sizeof(float), "motion reference latent");
    m->deltas = re_alloc(nd, "motion deltas");
    m->found = re_alloc((size_t)frames, "motion face flags");
    if (with_landmarks) m->landmarks = re_alloc(nl, "motion landmarks");
    if (!m->ref_latent || !m->deltas || !m->found || (with_landmarks && !m->landmarks)) {
        re_motion_free(m);
        return RE_ERR_NOMEM;
    }
    *out = m;
    return RE_OK;
}

void re_motion_free(re_motion *m) {
    if (!m) return;
    re_free(m->ref_latent);
    re_free(m->deltas);
    re_free(m->landmarks);
    re_free(m->found);
    free(m->audio_path);
    free(m->audio);
    free(m->driving_name);
    re_free(m);
}

static int is_hex64(const char *s) {
    if (strlen(s) != 64) return 0;
    for (int i = 0; i < 64; i++) {
        const char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return 0;
    }
    return 1;
}

re_status re_motion_save(const re_motion *m, const char *path, int f16) {
    if (!m || !path) return re_fail(RE_ERR_ARG, "re_motion_save: NULL argument");
    if (m->latent < 1 || m->latent > RE_MOTION_MAX_LATENT || m->frames < 1 || m->frames > RE_MOTION_MAX_FRAMES ||
        !m->ref_latent || !m->deltas || !m->found || m->fps_num < 1 || m->fps_den < 1 || m->ref_frame < 0 ||
        m->ref_frame >= m->frames || (m->model_sha256[0] && !is_hex64(m->model_sha256)) || m->model_res < 0)
        return re_fail(RE_ERR_ARG, "re_motion_save: '%s': inconsistent motion (latent %d, frames %" PRId64
                       ", fps %d/%d, ref %d)", path, m->latent, m->frames, m->fps_num, m->fps_den, m->ref_frame);
    if (m->audio && (m->audio_bytes < 1 || (int64_t)m->audio_bytes > RE_MOTION_MAX_AUDIO))
        return re_fail(RE_ERR_ARG, "re_motion_save: '%s': embedded audio of %zu bytes (1..%" PRId64 " allowed)", path,
                       m->audio_bytes, RE_MOTION_MAX_AUDIO);
    re_st_entry e[5];
    size_t ne = 0;
    memset(e, 0, sizeof e);
    if (m->audio) {   /* names sorted: "audio" first */
        e[ne] = (re_st_entry){.name = "audio", .dtype = RE_DT_U8, .ndim = 1, .shape = {(int64_t)m->audio_bytes},
                              .raw = m->audio};
        ne++;
    }
    e[ne] = (re_st_entry){.name = "deltas", .dtype = f16 ? RE_DT_F16 : RE_DT_F32, .ndim = 2,
                          .shape = {m->frames, m->latent}, .src_f32 = m->deltas};
    ne++;
    e[ne] = (re_st_entry){.name = "found", .dtype = RE_DT_U8, .ndim = 1, .shape = {m->frames}, .raw = m->found};
    ne++;
    if (m->landmarks) {
        e[ne] = (re_st_entry){.name = "landmarks", .dtype = RE_DT_F16, .ndim = 3,
                              .shape = {m->frames, RE_FACE_LANDMARKS, 2}, .src_f32 = m->landmarks};
        ne++;
    }
    e[ne] = (re_st_entry){.name = "ref_latent", .dtype = RE_DT_F32, .ndim = 1, .shape = {m->latent},
                          .src_f32 = m->ref_latent};
    ne++;
    char fps[48], frames[32], latent[16], ref[32], res[16], asize[32], ver[8];
    snprintf(ver, sizeof ver, "%d", m->audio ? RE_MOTION_VERSION : 1);
    snprintf(fps, sizeof fps, "%d/%d", m->fps_num, m->fps_den);
    snprintf(frames, sizeof frames, "%" PRId64, m->frames);
    snprintf(latent, sizeof latent, "%d", m->latent);
    snprintf(ref, sizeof ref, "%d", m->ref_frame);
    snprintf(res, sizeof res, "%d", m->model_res);
    snprintf(asize, sizeof asize, "%" PRId64, m->audio_size);
    const char *kv[24];
    size_t n = 0;
#define KV(k, v) do { kv[2 * n] = (k); kv[2 * n + 1] = (v); n++; } while (0)
    KV("format", RE_MOTION_FORMAT);
    KV("format_version", ver);
    KV("fps", fps);
    KV("frames", frames);
    KV("latent", latent);
    KV("ref_frame", ref);
    KV("model_res", res);
    KV("model_sha256", m->model_sha256);
    KV("creator", "reenact " RE_VERSION_STRING);
    if (m->audio) KV("audio_format", "matroska");
    else if (m->audio_path) {
        KV("audio_path", m->audio_path);
        KV("audio_size", asize);
    }
    if (m->driving_name) KV("driving_name", m->driving_name);
#undef KV
    re_status st = re_st_write(path, e, ne, kv, n);
    if (st != RE_OK) return re_fail_ctx(st, "cannot write motion file '%s'", path);
    return RE_OK;
}

/* Parse a decimal integer metadata value within [lo,hi]. */
static re_status meta_int(const re_st_file *f, const char *key, int64_t lo, int64_t hi, int required, int64_t *out) {
    const char *v = re_st_meta(f, key);
    if (!v) {
        if (required) return re_fail(RE_ERR_BAD_HEADER, "%s: motion metadata '%s' is missing", f->path, key);
        return RE_OK;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi)
        return re_fail(RE_ERR_BAD_HEADER, "%s: motion metadata %s = '%.40s', expected an integer in %" PRId64 "..%" PRId64,
                       f->path, key, v, lo, hi);
    *out = x;
    return RE_OK;
}

static re_status check_tensor(const re_st_file *f, const re_st_tensor *t, int ndim, const int64_t *shape,
                              const char *want) {
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        char got[128];
        int p = snprintf(got, sizeof got, "[");
        for (int i = 0; i < t->ndim && p < (int)sizeof got - 24; i++)
            p += snprintf(got + p, sizeof got - (size_t)p, "%s%" PRId64, i ? "," : "", t->shape[i]);
        snprintf(got + p, sizeof got - (size_t)p, "]");
        return re_fail(RE_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", f->path, t->name, got, want);
    }
    return RE_OK;
}

static re_status all_finite(const re_st_file *f, const char *name, const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return re_fail(RE_ERR_NONFINITE, "%s: tensor '%s' element %zu is not finite", f->path, name, i);
    return RE_OK;
}

static re_status from_st(re_motion **out, re_st_file *f) {
    re_motion *m = NULL;
    re_status st;
    const char *fmt = re_st_meta(f, "format"), *ver = re_st_meta(f, "format_version");
    if (!fmt || strcmp(fmt, RE_MOTION_FORMAT) != 0)
        return re_fail(RE_ERR_VERSION, "%s: not a motion file (format '%.40s', expected '%s')", f->path,
                       fmt ? fmt : "(none)", RE_MOTION_FORMAT);
    if (!ver || (strcmp(ver, "1") != 0 && strcmp(ver, "2") != 0))
        return re_fail(RE_ERR_VERSION, "%s: motion format version '%.20s' is not supported (this build reads 1 and 2)",
                       f->path, ver ? ver : "(none)");
    const int v2 = strcmp(ver, "2") == 0;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const char *nm = f->tensors[i].name;
        if (strcmp(nm, "deltas") && strcmp(nm, "found") && strcmp(nm, "landmarks") && strcmp(nm, "ref_latent") &&
            (!v2 || strcmp(nm, "audio")))
            return re_fail(RE_ERR_UNKNOWN, "%s: unexpected tensor '%.60s' in a motion file", f->path, nm);
    }
    /* Embedded audio (version 2): U8 [n], a Matroska file (EBML magic 1A 45 DF A3), announced in the metadata. */
    const re_st_tensor *ta = re_st_find(f, "audio");
    const char *afmt = re_st_meta(f, "audio_format");
    if (ta || afmt) {
        if (!ta || !afmt || strcmp(afmt, "matroska") != 0)
            return re_fail(RE_ERR_BAD_HEADER, "%s: embedded audio needs an 'audio' tensor and audio_format = matroska "
                           "(found %s, '%.20s')", f->path, ta ? "the tensor" : "no tensor", afmt ? afmt : "(none)");
        if (ta->dtype != RE_DT_U8 || ta->ndim != 1 || ta->shape[0] < 4 || ta->shape[0] > RE_MOTION_MAX_AUDIO)
            return re_fail(RE_ERR_SHAPE, "%s: tensor 'audio' must be U8 [n] with 4 <= n <= %" PRId64, f->path,
                           RE_MOTION_MAX_AUDIO);
        const uint8_t *a = re_st_data(f, ta);
        if (a[0] != 0x1A || a[1] != 0x45 || a[2] != 0xDF || a[3] != 0xA3)
            return re_fail(RE_ERR_FORMAT, "%s: embedded audio is not a Matroska file", f->path);
    }
    const re_st_tensor *td = re_st_find(f, "deltas"), *tf = re_st_find(f, "found"), *tr = re_st_find(f, "ref_latent");
    const re_st_tensor *tl = re_st_find(f, "landmarks");
    const char *miss = !td ? "deltas" : !tf ? "found" : !tr ? "ref_latent" : NULL;
    if (miss) return re_fail(RE_ERR_MISSING, "%s: motion file has no '%s' tensor", f->path, miss);
    if (tr->ndim != 1 || tr->shape[0] < 1 || tr->shape[0] > RE_MOTION_MAX_LATENT)
        return re_fail(RE_ERR_SHAPE, "%s: 'ref_latent' must have shape [latent] with latent 1..%d", f->path,
                       RE_MOTION_MAX_LATENT);
    if (td->ndim != 2 || td->shape[0] < 1 || td->shape[0] > RE_MOTION_MAX_FRAMES)
        return re_fail(RE_ERR_SHAPE, "%s: 'deltas' must have shape [frames, latent] with frames 1..%" PRId64, f->path,
                       RE_MOTION_MAX_FRAMES);
    const int64_t L = tr->shape[0], T = td->shape[0];
    char want[96];
    snprintf(want, sizeof want, "[%" PRId64 ",%" PRId64 "] (latent %" PRId64 " from 'ref_latent')", T, L, L);
    if ((st = check_tensor(f, td, 2, (int64_t[]){T, L}, want)) != RE_OK) return st;
    snprintf(want, sizeof want, "[%" PRId64 "]", T);
    if ((st = check_tensor(f, tf, 1, (int64_t[]){T}, want)) != RE_OK) return st;
    if (tf->dtype != RE_DT_U8)
        return re_fail(RE_ERR_DTYPE, "%s: tensor 'found' has dtype %s, expected U8", f->path, re_dtype_name(tf->dtype));
    if (tl) {
        snprintf(want, sizeof want, "[%" PRId64 ",68,2]", T);
        if ((st = check_tensor(f, tl, 3, (int64_t[]){T, RE_FACE_LANDMARKS, 2}, want)) != RE_OK) return st;
    }
    int64_t frames = -1, latent = -1, ref = -1, res = 0, asize = 0;
    if ((st = meta_int(f, "frames", 1, RE_MOTION_MAX_FRAMES, 1, &frames)) != RE_OK) return st;
    if ((st = meta_int(f, "latent", 1, RE_MOTION_MAX_LATENT, 1, &latent)) != RE_OK) return st;
    if ((st = meta_int(f, "ref_frame", 0, T - 1, 1, &ref)) != RE_OK) return st;
    if ((st = meta_int(f, "model_res", 0, 65536, 0, &res)) != RE_OK) return st;
    if ((st = meta_int(f, "audio_size", 0, INT64_MAX, 0, &asize)) != RE_OK) return st;
    if (frames != T || latent != L)
        return re_fail(RE_ERR_BAD_HEADER, "%s: metadata says %" PRId64 " frames of latent %" PRId64
                       ", tensors hold %" PRId64 " x %" PRId64, f->path, frames, latent, T, L);
    const char *fps = re_st_meta(f, "fps");
    int fn = 0, fd = 0, used = 0;
    if (!fps || sscanf(fps, "%9d/%9d%n", &fn, &fd, &used) != 2 || fps[used] != 0 || fn < 1 || fd < 1)
        return re_fail(RE_ERR_BAD_HEADER, "%s: motion metadata fps = '%.40s', expected 'num/den' with positive integers",
                       f->path, fps ? fps : "(none)");
    const char *sha = re_st_meta(f, "model_sha256");
    if (sha && sha[0] && !is_hex64(sha))
        return re_fail(RE_ERR_BAD_HEADER, "%s: motion metadata model_sha256 is not 64 hex digits", f->path);
    const char *apath = re_st_meta(f, "audio_path");

    st = re_motion_create(&m, (int)L, T, tl != NULL);
    if (st != RE_OK) return st;
    m->fps_num = fn;
    m->fps_den = fd;
    m->ref_frame = (int)ref;
    m->model_res = (int)res;
    if (sha) {
        for (int i = 0; sha[i]; i++) m->model_sha256[i] = (char)(sha[i] >= 'A' && sha[i] <= 'F' ? sha[i] + 32 : sha[i]);
        m->model_sha256[strlen(sha)] = 0;
    }
    if (apath && apath[0]) {
        m->audio_path = strdup(apath);
        m->audio_size = asize;
        if (!m->audio_path) {
            st = re_fail(RE_ERR_NOMEM, "%s: out of memory", f->path);
            goto fail;
        }
    }
    if (ta) {
        m->audio_bytes = (size_t)ta->shape[0];
        if (!(m->audio = malloc(m->audio_bytes))) {
            st = re_fail(RE_ERR_NOMEM, "%s: out of memory for %zu bytes of audio", f->path, m->audio_bytes);
            goto fail;
        }
        memcpy(m->audio, re_st_data(f, ta), m->audio_bytes);
    }
    const char *dn = re_st_meta(f, "driving_name");
    if (dn && dn[0] && !(m->driving_name = strdup(dn))) {
        st = re_fail(RE_ERR_NOMEM, "%s: out of memory", f->path);
        goto fail;
    }
    const size_t nd = (size_t)T * (size_t)L;
    if ((st = re_st_to_f32(f, tr, m->ref_latent, (size_t)L)) != RE_OK) goto fail;
    if ((st = re_st_to_f32(f, td, m->deltas, nd)) != RE_OK) goto fail;
    if ((st = all_finite(f, "ref_latent", m->ref_latent, (size_t)L)) != RE_OK) goto fail;
    if ((st = all_finite(f, "deltas", m->deltas, nd)) != RE_OK) goto fail;
    if (tl) {
        const size_t nl = (size_t)T * RE_FACE_LANDMARKS * 2;
        if ((st = re_st_to_f32(f, tl, m->landmarks, nl)) != RE_OK) goto fail;
        if ((st = all_finite(f, "landmarks", m->landmarks, nl)) != RE_OK) goto fail;
    }
    const uint8_t *fl = re_st_data(f, tf);
    for (int64_t t = 0; t < T; t++) {
        if (fl[t] > 1) {
            st = re_fail(RE_ERR_BAD_HEADER, "%s: 'found'[%" PRId64 "] = %d, expected 0 or 1", f->path, t, fl[t]);
            goto fail;
        }
        m->found[t] = fl[t];
    }
    *out = m;
    return RE_OK;
fail:
    re_motion_free(m);
    return st;
}

re_status re_motion_load(re_motion **out, const char *path) {
    if (!out || !path) return re_fail(RE_ERR_ARG, "re_motion_load: NULL argument");
    *out = NULL;
    re_st_file *f = NULL;
    re_status st = re_st_load(&f, path);
    if (st != RE_OK) return re_fail_ctx(st, "cannot read motion file '%s'", path);
    st = from_st(out, f);
    re_st_free(f);
    return st;
}

re_status re_motion_load_mem(re_motion **out, const void *buf, size_t n, const char *what) {
    if (!out || (!buf && n)) return re_fail(RE_ERR_ARG, "re_motion_load_mem: NULL argument");
    *out = NULL;
    re_st_file *f = NULL;
    re_status st = re_st_load_mem(&f, buf, n, what ? what : "<memory>");
    if (st != RE_OK) return st;
    st = from_st(out, f);
    re_st_free(f);
    return st;
}

re_status re_motion_check_model(const re_motion *mo, const re_model *m, const char *what) {
    if (!mo || !m) return re_fail(RE_ERR_ARG, "re_motion_check_model: NULL argument");
    if (!what) what = "motion";
    const re_config *c = re_model_config(m);
    if (mo->latent != c->latent)
        return re_fail(RE_ERR_SHAPE, "%s: motion has latent size %d, the model %d; re-extract it with this model", what,
                       mo->latent, c->latent);
    if (mo->model_res && mo->model_res != c->res)
        return re_fail(RE_ERR_SHAPE, "%s: motion was extracted by a %dx%d model, this model is %dx%d; re-extract it",
                       what, mo->model_res, mo->model_res, c->res, c->res);
    const char *sha = re_model_weights_sha256(m);
    if (mo->model_sha256[0] && sha && strcasecmp(sha, mo->model_sha256) != 0)
        return re_fail(RE_ERR_CHECKSUM, "%s: motion was extracted with another model (sha256 %.12s..., this model "
                       "%.12s...): latent codes of different models do not match; re-extract it with "
                       "'reenact motion extract --model ...'", what, mo->model_sha256, sha);
    return RE_OK;
}
