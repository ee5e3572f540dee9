/*
 * checkpoint.c - training checkpoints: the folder format behind exact resume (docs/FORMAT.md "Checkpoints").
 *   <ckpt_dir>/step_0001234/{model.safetensors, optim.safetensors, config.json, DONE}
 * A checkpoint is written into <ckpt_dir>/.tmp-step_0001234/ (every file atomically: temp + fsync + rename +
 * directory fsync), DONE last, then the folder is fsynced and renamed to its final name and <ckpt_dir> is fsynced.
 * A folder named step_* therefore always holds a complete checkpoint; a crash leaves at most a .tmp-* (or, during
 * retention, a .del-*) folder, which re_checkpoint_clean removes. config.json is the application's run
 * configuration (for `reenact train`, cli/train_ckpt.c); the library stores and returns it as text.
 * Public API: include/reenact/reenact.h ("Training checkpoints").
 */
#include <dirent.h>
/* Paths are bounded by RE_CKPT_PATH; snprintf truncation cannot happen in practice. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "reenact/reenact.h"

#define RE_CKPT_PATH 4096

void re_checkpoint_path(char *out, size_t n, const char *ckpt_dir, int64_t step) {
    snprintf(out, n, "%s/step_%07" PRId64, ckpt_dir, step);
}

/* ---- small files ------------------------------------------------------------------------------------------ */

static re_status write_bytes(FILE *f, void *user) {
    const struct { const void *p; size_t n; } *b = user;
    if (b->n && fwrite(b->p, 1, b->n, f) != b->n) return re_fail(RE_ERR_IO, "write failed: %s", strerror(errno));
    return RE_OK;
}

re_status re_write_file_atomic(const char *path, const void *data, size_t n) {
    struct { const void *p; size_t n; } b = {data, n};
    return re_write_atomic(path, write_bytes, &b);
}

static re_status write_text(const char *path, const char *text) {
    return re_write_file_atomic(path, text, strlen(text));
}

re_status re_read_file_text(const char *path, char **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return re_fail(RE_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    re_status s = RE_OK;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) != 0) { s = re_fail(RE_ERR_IO, "cannot seek '%s'", path); goto done; }
    long n = ftell(f);
    if (n < 0 || n > (64l << 20)) { s = re_fail(RE_ERR_TOO_LARGE, "'%s' is not a small text file", path); goto done; }
    rewind(f);
    buf = malloc((size_t)n + 1);
    if (!buf) { s = re_fail(RE_ERR_NOMEM, "out of memory reading '%s'", path); goto done; }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) { s = re_fail(RE_ERR_IO, "cannot read '%s'", path); goto done; }
    buf[n] = 0;
    *out = buf;
    buf = NULL;
done:
    free(buf);
    fclose(f);
    return s;
}

/* The __metadata__ string `key` of a safetensors file, read from its header only (caller frees *val; NULL when
 * absent). */
static re_status st_meta(const char *path, const char *key, char **val) {
    *val = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return re_fail(RE_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    re_status s = RE_OK;
    char *hdr = NULL;
    json_t *o = NULL;
    uint8_t nb[8];
    if (fread(nb, 1, 8, f) != 8) { s = re_fail(RE_ERR_TRUNCATED, "'%s': shorter than 8 bytes", path); goto done; }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | nb[i];
    if (n == 0 || n > (100u << 20)) { s = re_fail(RE_ERR_BAD_HEADER, "'%s': header length %llu", path, (unsigned long long)n); goto done; }
    hdr = malloc((size_t)n);
    if (!hdr) { s = re_fail(RE_ERR_NOMEM, "out of memory"); goto done; }
    if (fread(hdr, 1, (size_t)n, f) != (size_t)n) { s = re_fail(RE_ERR_TRUNCATED, "'%s': header truncated", path); goto done; }
    o = json_loadb(hdr, (size_t)n, 0, NULL);
    if (!o) { s = re_fail(RE_ERR_BAD_HEADER, "'%s': header is not JSON", path); goto done; }
    const char *v = json_string_value(json_object_get(json_object_get(o, "__metadata__"), key));
    if (v && !(*val = strdup(v))) s = re_fail(RE_ERR_NOMEM, "out of memory");
done:
    json_decref(o);
    free(hdr);
    fclose(f);
    return s;
}

/* ---- listing, cleaning, retention ------------------------------------------------------------------------- */

/* Parse "step_NNNNNNN" (7..15 digits); -1 otherwise. */
static int64_t parse_step(const char *name) {
    if (strncmp(name, "step_", 5)) return -1;
    const char *p = name + 5;
    size_t nd = strlen(p);
    if (nd < 7 || nd > 15) return -1;
    int64_t v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

static int is_complete(const char *ckpt_dir, int64_t step) {
    char p[RE_CKPT_PATH + 64];
    re_checkpoint_path(p, sizeof p, ckpt_dir, step);
    strcat(p, "/DONE");
    return access(p, F_OK) == 0;
}

/* Complete checkpoint steps, newest first. Caller frees. */
static int64_t *list_steps(const char *ckpt_dir, size_t *n) {
    *n = 0;
    DIR *d = opendir(ckpt_dir);
    if (!d) return NULL;
    int64_t *v = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int64_t s = parse_step(e->d_name);
        if (s < 0 || !is_complete(ckpt_dir, s)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            int64_t *nv = realloc(v, cap * sizeof *nv);
            if (!nv) break;
            v = nv;
        }
        v[(*n)++] = s;
    }
    closedir(d);
    for (size_t i = 1; i < *n; i++)   /* insertion sort, descending */
        for (size_t j = i; j > 0 && v[j] > v[j - 1]; j--) {
            int64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v;
}

int64_t re_checkpoint_latest(const char *ckpt_dir) {
    size_t n = 0;
    int64_t *v = list_steps(ckpt_dir, &n), r = n ? v[0] : -1;
    free(v);
    return r;
}

/* Remove a folder and the files in it (one level). 0 ok (or absent), -1 when something stayed. */
static int rm_dir_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[RE_CKPT_PATH + 300];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0) rc = -1;
    }
    closedir(d);
    if (rmdir(dir) != 0) rc = -1;
    return rc;
}

void re_checkpoint_clean(const char *ckpt_dir) {
    DIR *d = opendir(ckpt_dir);
    if (!d) return;
    struct dirent *e;
    char (*names)[300] = NULL;
    size_t n = 0, cap = 0;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, ".tmp-", 5) && strncmp(e->d_name, ".del-", 5)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            void *nn = realloc(names, cap * sizeof *names);
            if (!nn) break;
            names = nn;
        }
        snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < n; i++) {
        char p[RE_CKPT_PATH + 300];
        snprintf(p, sizeof p, "%s/%s", ckpt_dir, names[i]);
        rm_dir_files(p);
    }
    free(names);
}

int re_checkpoint_prune(const char *ckpt_dir, int keep, int64_t protect_step) {
    size_t n = 0;
    int64_t *v = list_steps(ckpt_dir, &n);
    int deleted = 0;
    for (size_t i = (size_t)(keep > 0 ? keep : 1); i < n; i++) {
        if (v[i] == protect_step) continue;
        char p[RE_CKPT_PATH + 64], del[RE_CKPT_PATH + 80];
        re_checkpoint_path(p, sizeof p, ckpt_dir, v[i]);
        /* Rename first so a crash mid-delete never leaves a step_* folder without all its files. */
        snprintf(del, sizeof del, "%s/.del-step_%07" PRId64, ckpt_dir, v[i]);
        if (rename(p, del) == 0 && rm_dir_files(del) == 0) deleted++;
    }
    free(v);
    if (deleted) re_fsync_dir(ckpt_dir);
    return deleted;
}

/* ---- writing ----------------------------------------------------------------------------------------------- */

re_status re_checkpoint_save(const char *ckpt_dir, int64_t step, const re_checkpoint *c) {
    if (!ckpt_dir || !c || !c->model || !c->trainer || !c->config_json || step < 0)
        return re_fail(RE_ERR_ARG, "re_checkpoint_save: ckpt_dir, model, trainer and config_json are required");
    if (strlen(ckpt_dir) >= RE_CKPT_PATH)
        return re_fail(RE_ERR_ARG, "checkpoint folder path longer than %d bytes", RE_CKPT_PATH - 1);
    char tmp[RE_CKPT_PATH + 64], fin[RE_CKPT_PATH + 64], p[RE_CKPT_PATH + 128], name[32];
    snprintf(name, sizeof name, "step_%07" PRId64, step);
    snprintf(tmp, sizeof tmp, "%s/.tmp-%s", ckpt_dir, name);
    re_checkpoint_path(fin, sizeof fin, ckpt_dir, step);
    rm_dir_files(tmp);
    if (mkdir(tmp, 0755) != 0)
        return re_fail(RE_ERR_IO, "cannot create checkpoint folder '%s': %s", tmp, strerror(errno));
    re_status s = RE_OK;
    char done_text[64];
    snprintf(done_text, sizeof done_text, "%s complete\n", name);
    for (int f = 1; f <= 4 && !s; f++) {
        if (c->file_hook) c->file_hook(c->hook_user, f, 0);
        switch (f) {
        case 1:
            snprintf(p, sizeof p, "%s/model.safetensors", tmp);
            s = re_model_save(c->model, p, re_model_has_disc(c->model), RE_STORE_F32, c->model_meta);
            break;
        case 2:
            snprintf(p, sizeof p, "%s/optim.safetensors", tmp);
            s = re_trainer_save_state(c->trainer, p, c->optim_meta);
            break;
        case 3:
            snprintf(p, sizeof p, "%s/config.json", tmp);
            s = write_text(p, c->config_json);
            break;
        default:
            snprintf(p, sizeof p, "%s/DONE", tmp);   /* the completion marker, written last */
            s = write_text(p, done_text);
            break;
        }
        if (c->file_hook) c->file_hook(c->hook_user, f, 1);
        if (s) re_fail_ctx(s, "checkpoint file '%s'", p);
    }
    if (!s) s = re_fsync_dir(tmp);
    if (!s && access(fin, F_OK) == 0) {
        /* Same step written again (e.g. after a rollback): move the old one aside, then delete it. */
        char old[RE_CKPT_PATH + 80];
        snprintf(old, sizeof old, "%s/.del-%s", ckpt_dir, name);
        rm_dir_files(old);
        if (rename(fin, old) != 0) s = re_fail(RE_ERR_IO, "cannot replace '%s': %s", fin, strerror(errno));
        else rm_dir_files(old);
    }
    if (!s && rename(tmp, fin) != 0) s = re_fail(RE_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, fin, strerror(errno));
    if (!s) s = re_fsync_dir(ckpt_dir);
    if (s) rm_dir_files(tmp);
    return s;
}

/* ---- reading ----------------------------------------------------------------------------------------------- */

static re_status file_path(char *out, size_t n, const char *ckpt_dir, int64_t step, const char *file) {
    if (!ckpt_dir || step < 0) return re_fail(RE_ERR_ARG, "checkpoint: no folder or a negative step");
    if (strlen(ckpt_dir) >= RE_CKPT_PATH)
        return re_fail(RE_ERR_ARG, "checkpoint folder path longer than %d bytes", RE_CKPT_PATH - 1);
    char dir[RE_CKPT_PATH + 64];
    re_checkpoint_path(dir, sizeof dir, ckpt_dir, step);
    snprintf(out, n, "%s/%s", dir, file);
    return RE_OK;
}

re_status re_checkpoint_load(const char *ckpt_dir, int64_t step, re_model **model, char **config_json) {
    char p[RE_CKPT_PATH + 128];
    re_status s = RE_OK;
    if (model) *model = NULL;
    if (config_json) *config_json = NULL;
    if (config_json) {
        if ((s = file_path(p, sizeof p, ckpt_dir, step, "config.json"))) return s;
        if ((s = re_read_file_text(p, config_json))) return s;
    }
    if (model) {
        if (!s) s = file_path(p, sizeof p, ckpt_dir, step, "model.safetensors");
        if (!s) s = re_model_load(model, p);
        if (s && config_json) {
            free(*config_json);
            *config_json = NULL;
        }
    }
    return s;
}

re_status re_checkpoint_load_optim(const char *ckpt_dir, int64_t step, re_trainer *t) {
    char p[RE_CKPT_PATH + 128];
    re_status s = file_path(p, sizeof p, ckpt_dir, step, "optim.safetensors");
    return s ? s : re_trainer_load_state(t, p);
}

re_status re_checkpoint_optim_meta(const char *ckpt_dir, int64_t step, const char *key, char **val) {
    char p[RE_CKPT_PATH + 128];
    *val = NULL;
    re_status s = file_path(p, sizeof p, ckpt_dir, step, "optim.safetensors");
    return s ? s : st_meta(p, key, val);
}
