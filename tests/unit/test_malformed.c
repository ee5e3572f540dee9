/*
 * test_malformed.c - the malformed-input suite: every fixture under tests/fixtures/malformed/ (written by
 * tools/make_malformed.py, listed in its MANIFEST) goes through the public entry point of its parser, which must
 * return the expected status with a message that contains the expected fragment and, where the entry point takes a
 * path, names the file. Prints every mismatch, then fails if there was one.
 *
 * Entry points (MANIFEST column 2):
 *   model         re_model_load (weights, directions metadata)
 *   optim         re_trainer_load_state on a VAE-GAN trainer of the "tiny" preset
 *   ckpt          re_checkpoint_load + re_checkpoint_load_optim of the newest checkpoint under the folder
 *   dataset       re_dataset_open + re_dataset_verify
 *   motion        re_motion_load
 *   config        re_config_from_json (text only: no path to name)
 *   train_config  train_config_parse (cli/train_ckpt.c: the training run's config.json, read by --resume)
 *   image         re_image_load
 *   video         re_video_reader_open, then re_video_reader_next until the end
 *   face_model    re_face_detector_open (dlib shape predictor file)
 *   faceid        re_faceid_open (dlib face-id network file)
 * Status "xfail:NAME": a known bug (NAME is the right status); reported as XFAIL, and a failure once it passes.
 * Run: ctest -R test_malformed (cwd = repo root); build/tests/test_malformed [PARSER...] runs only those folders;
 * RE_MALFORMED_VERBOSE=1 also prints the message of every fixture that passes.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "re_test.h"
#include "reenact/anim.h"
#include "reenact/data.h"
#include "reenact/face.h"
#include "reenact/faceid.h"
#include "reenact/media.h"
#include "reenact/reenact.h"
#include "train.h"

#define FIXDIR "tests/fixtures/malformed"
#define MAX_FIX 1024

static const struct { const char *name; re_status s; } k_status[] = {
    {"RE_OK", RE_OK}, {"RE_ERR_NOMEM", RE_ERR_NOMEM}, {"RE_ERR_IO", RE_ERR_IO}, {"RE_ERR_ARG", RE_ERR_ARG},
    {"RE_ERR_TRUNCATED", RE_ERR_TRUNCATED}, {"RE_ERR_BAD_HEADER", RE_ERR_BAD_HEADER},
    {"RE_ERR_OFFSETS", RE_ERR_OFFSETS}, {"RE_ERR_DTYPE", RE_ERR_DTYPE}, {"RE_ERR_SHAPE", RE_ERR_SHAPE},
    {"RE_ERR_MISSING", RE_ERR_MISSING}, {"RE_ERR_UNKNOWN", RE_ERR_UNKNOWN}, {"RE_ERR_CHECKSUM", RE_ERR_CHECKSUM},
    {"RE_ERR_VERSION", RE_ERR_VERSION}, {"RE_ERR_NONFINITE", RE_ERR_NONFINITE},
    {"RE_ERR_UNSUPPORTED", RE_ERR_UNSUPPORTED}, {"RE_ERR_FORMAT", RE_ERR_FORMAT},
    {"RE_ERR_TOO_LARGE", RE_ERR_TOO_LARGE}, {"RE_ERR_NO_FACE", RE_ERR_NO_FACE}, {"RE_ERR_BACKEND", RE_ERR_BACKEND},
    {"RE_ERR_CONFIG", RE_ERR_CONFIG}, {"RE_ERR_INTERRUPTED", RE_ERR_INTERRUPTED},
};

static int status_of(const char *name, re_status *s) {
    for (size_t i = 0; i < sizeof k_status / sizeof k_status[0]; i++)
        if (!strcmp(k_status[i].name, name)) { *s = k_status[i].s; return 1; }
    return 0;
}

static const char *status_name(re_status s) {
    for (size_t i = 0; i < sizeof k_status / sizeof k_status[0]; i++)
        if (k_status[i].s == s) return k_status[i].name;
    return "(not a re_status)";
}

/* A VAE-GAN trainer of the tiny preset, shared by the optim and ckpt entries. */
static re_model *g_model;
static re_trainer *g_trainer;

static re_status trainer(re_trainer **t) {
    if (!g_trainer) {
        re_config cfg;
        re_train_opts o;
        re_status s = re_config_preset(&cfg, "tiny");
        if (!s) s = re_model_create(&g_model, &cfg, 1, 1);
        re_train_opts_default(&o, RE_MODE_VAEGAN);
        o.batch = 2;
        if (!s) s = re_trainer_create(&g_trainer, g_model, &o);
        if (s) return s;
    }
    *t = g_trainer;
    return RE_OK;
}

static re_status read_text(const char *path, char **text) {
    size_t n = 0;
    uint8_t *b = re_test_read_file(path, &n);
    if (!b) return re_fail(RE_ERR_IO, "%s: cannot read", path);
    char *t = realloc(b, n + 1);
    if (!t) { free(b); return RE_ERR_NOMEM; }
    t[n] = 0;
    *text = t;
    return RE_OK;
}

/* Run one entry point; *names_file = 1 when its message must name the path. 0 for an unknown entry. */
static int run_entry(const char *entry, const char *path, re_status *out, int *names_file) {
    re_status s = RE_OK;
    *names_file = 1;
    if (!strcmp(entry, "model")) {
        re_model *m = NULL;
        s = re_model_load(&m, path);
        re_model_free(m);
    } else if (!strcmp(entry, "optim")) {
        re_trainer *t = NULL;
        s = trainer(&t);
        if (!s) s = re_trainer_load_state(t, path);
    } else if (!strcmp(entry, "ckpt")) {
        re_trainer *t = NULL;
        re_model *m = NULL;
        char *cfg = NULL;
        int64_t step = re_checkpoint_latest(path);
        if (step < 0) s = re_fail(RE_ERR_MISSING, "%s: no complete checkpoint (fixture error)", path);
        if (!s) s = re_checkpoint_load(path, step, &m, &cfg);
        if (!s) s = trainer(&t);
        if (!s) s = re_checkpoint_load_optim(path, step, t);
        re_model_free(m);
        free(cfg);
    } else if (!strcmp(entry, "dataset")) {
        re_dataset *ds = NULL;
        s = re_dataset_open(&ds, path);
        if (!s) s = re_dataset_verify(ds);
        re_dataset_close(ds);
    } else if (!strcmp(entry, "motion")) {
        re_motion *mo = NULL;
        s = re_motion_load(&mo, path);
        re_motion_free(mo);
    } else if (!strcmp(entry, "config") || !strcmp(entry, "train_config")) {
        char *text = NULL;
        if ((s = read_text(path, &text)) == RE_OK) {
            if (entry[0] == 'c') {
                re_config cfg;
                *names_file = 0;
                s = re_config_from_json(&cfg, text, strlen(text));
            } else {
                static train_cfg tc;
                train_state ts;
                s = train_config_parse(text, path, &tc, &ts);
            }
        }
        free(text);
    } else if (!strcmp(entry, "image")) {
        re_image img = {0};
        s = re_image_load(&img, path);
        re_image_free(&img);
    } else if (!strcmp(entry, "video")) {
        re_video_reader *r = NULL;
        re_image frame = {0};
        s = re_video_reader_open(&r, path);
        while (s == RE_OK) s = re_video_reader_next(r, &frame, NULL);
        if (s == RE_VIDEO_EOF) s = RE_OK;
        re_image_free(&frame);
        re_video_reader_close(r);
    } else if (!strcmp(entry, "face_model")) {
        re_face_detector *d = NULL;
        s = re_face_detector_open(&d, path);
        re_face_detector_free(d);
    } else if (!strcmp(entry, "faceid")) {
        re_faceid *f = NULL;
        s = re_faceid_open(&f, path);
        re_faceid_free(f);
    } else {
        return 0;
    }
    *out = s;
    return 1;
}

typedef struct fixture {
    char rel[512], entry[32], status[48], frag[512];
} fixture;

static int want_parser(const char *rel, int argc, char **argv) {
    if (argc <= 1) return 1;
    size_t n = strcspn(rel, "/");
    for (int i = 1; i < argc; i++)
        if (strlen(argv[i]) == n && !strncmp(argv[i], rel, n)) return 1;
    return 0;
}

int main(int argc, char **argv) {
    static fixture fx[MAX_FIX];
    int n = 0;
    FILE *mf = fopen(FIXDIR "/MANIFEST", "r");
    if (!mf) { fprintf(stderr, "FAIL: cannot open %s/MANIFEST (cwd must be the repository root)\n", FIXDIR); return 1; }
    char line[2048];
    int lineno = 0, bad_lines = 0;
    while (fgets(line, sizeof line, mf)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        fixture *f = &fx[n];
        int used = 0;
        if (n == MAX_FIX || sscanf(line, "%511s %31s %47s %n", f->rel, f->entry, f->status, &used) < 3) {
            fprintf(stderr, "FAIL: MANIFEST line %d unreadable: %s\n", lineno, line);
            bad_lines++;
            continue;
        }
        snprintf(f->frag, sizeof f->frag, "%s", used ? line + used : "");
        size_t fl = strlen(f->frag);
        while (fl && f->frag[fl - 1] == ' ') f->frag[--fl] = 0;
        n++;
    }
    fclose(mf);

    int mismatches = bad_lines, xfails = 0, ran = 0, per_ok = 0;
    char report[64][16];   /* parser names seen, for the per-parser counts */
    int counts[64] = {0}, n_parsers = 0;
    for (int i = 0; i < n; i++) {
        fixture *f = &fx[i];
        if (!want_parser(f->rel, argc, argv)) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", FIXDIR, f->rel);
        const int xfail = !strncmp(f->status, "xfail:", 6);
        re_status want, got = RE_OK;
        int names_file = 0;
        if (!status_of(f->status + (xfail ? 6 : 0), &want)) {
            fprintf(stderr, "MISMATCH %s: unknown status name '%s' in MANIFEST\n", f->rel, f->status);
            mismatches++;
            continue;
        }
        re_fail(RE_OK, "%s", "");   /* clear the message of the previous fixture */
        if (!run_entry(f->entry, path, &got, &names_file)) {
            fprintf(stderr, "MISMATCH %s: unknown entry point '%s' in MANIFEST\n", f->rel, f->entry);
            mismatches++;
            continue;
        }
        ran++;
        const char *msg = re_last_error();
        const char *base = strrchr(f->rel, '/') ? strrchr(f->rel, '/') + 1 : f->rel;
        /* the fragment must name the problem, not match the fixture's own file name: look for it with the path
         * blanked out */
        char bare[1024];
        snprintf(bare, sizeof bare, "%s", msg);
        for (char *q; (q = strstr(bare, base)) != NULL;) memset(q, '_', strlen(base));
        char why[1024] = "";
        if (got != want)
            snprintf(why, sizeof why, "status %s (%d), expected %s", status_name(got), (int)got, status_name(want));
        else if (want != RE_OK && !msg[0])
            snprintf(why, sizeof why, "empty message");
        else if (want != RE_OK && f->frag[0] && !strstr(bare, f->frag))
            snprintf(why, sizeof why, "message lacks \"%s\"", f->frag);
        else if (want != RE_OK && names_file && !strstr(msg, base))
            snprintf(why, sizeof why, "message does not name the file \"%s\"", base);
        if (xfail) {
            if (why[0]) {
                printf("XFAIL    %-48s %-12s %s: \"%s\"\n", f->rel, f->entry, why, msg);
                xfails++;
            } else {
                fprintf(stderr, "MISMATCH %s: marked %s but now passes: remove the xfail mark\n", f->rel, f->status);
                mismatches++;
            }
        } else if (why[0]) {
            fprintf(stderr, "MISMATCH %-48s %-12s %s; message: \"%s\"\n", f->rel, f->entry, why, msg);
            mismatches++;
        } else {
            per_ok++;
            if (getenv("RE_MALFORMED_VERBOSE")) printf("ok       %-48s %-12s %s: \"%s\"\n", f->rel, f->entry, f->status, msg);
        }
        int p = 0;
        size_t pl = strcspn(f->rel, "/");
        while (p < n_parsers && (strlen(report[p]) != pl || strncmp(report[p], f->rel, pl))) p++;
        if (p == n_parsers && n_parsers < 64) snprintf(report[n_parsers++], sizeof report[0], "%.*s", (int)pl, f->rel);
        if (p < 64) counts[p]++;
    }

    /* every file in a fixture folder must be listed (ckpt folders are listed as a whole) */
    for (int p = 0; p < n_parsers; p++) {
        if (!strcmp(report[p], "ckpt")) continue;
        char dir[1100];
        snprintf(dir, sizeof dir, "%s/%s", FIXDIR, report[p]);
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char rel[1400];
            snprintf(rel, sizeof rel, "%s/%s", report[p], e->d_name);
            int listed = 0;
            for (int i = 0; i < n && !listed; i++) listed = !strcmp(fx[i].rel, rel);
            if (!listed) {
                fprintf(stderr, "MISMATCH %s: file not listed in MANIFEST\n", rel);
                mismatches++;
            }
        }
        if (d) closedir(d);
    }

    printf("fixtures per parser:");
    for (int p = 0; p < n_parsers; p++) printf(" %s %d", report[p], counts[p]);
    printf("\n%d fixtures run: %d as expected, %d known bugs (XFAIL), %d mismatches\n", ran, per_ok, xfails,
           mismatches);
    re_trainer_free(g_trainer);
    re_model_free(g_model);
    if (ran == 0) { fprintf(stderr, "FAIL: no fixture ran\n"); return 1; }
    return mismatches ? 1 : 0;
}
