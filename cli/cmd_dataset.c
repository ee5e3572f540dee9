/*
 * cmd_dataset.c - `reenact dataset <pack|info|verify|show|synth>`: build and inspect packed training datasets
 * (format: docs/FORMAT.md "Dataset file"; library: include/reenact/data.h).
 *
 *   reenact dataset pack DIR_OR_FILE... -o faces.rds [--res 64] [--align] [--video-every K] [--threads T]
 *   reenact dataset info faces.rds [--verify] [--groups]
 *   reenact dataset verify faces.rds
 *   reenact dataset show faces.rds -o grid.png [--first N] [--cols C]
 *   reenact dataset synth -o synth.rds [--count N] [--res R] [--groups G] [--seed S]
 *
 * pack walks the folders recursively (hidden entries skipped; paths sorted, so the output does not depend on the
 * directory order), decodes every file as PNG/JPEG by content on all threads (OpenMP, chunks of files decoded in
 * parallel and written in order, so the file is identical for any thread count), center-crops non-square images
 * and resizes them with re_image_resize (Lanczos3, antialiased). With --align each image goes through the face
 * detector instead (largest face, re_face_align: the framing `animate` uses); images without a face are skipped
 * and counted. Files that cannot be read or decoded are skipped with a warning and counted. Each record's group is
 * its folder (relative to the argument, prefixed with the argument's name) or, for video frames, the video file,
 * so the training split can hold out whole identities or clips.
 */
#include <dirent.h>
/* Paths are length-checked when parsed; snprintf truncation cannot happen in practice. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "reenact/data.h"
#include "reenact/face.h"
#include "reenact/media.h"

#define CMD "dataset"
#define MAX_WARN 20

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char usage[] =
    "usage: reenact dataset <command> [options]\n\n"
    "commands:\n"
    "  pack DIR_OR_FILE... -o OUT.rds   pack image folders (and video frames) into one dataset file\n"
    "  info FILE.rds [--verify] [--groups]   header, groups; --verify checks the data SHA-256\n"
    "  verify FILE.rds                  check the header, index and data checksums (exit 1 on damage)\n"
    "  show FILE.rds -o GRID.png        contact sheet of records (to check crops and alignment)\n"
    "  synth -o OUT.rds                 synthetic face-like images (tests, benchmarks)\n\n";
static const char footer[] =
    "\nFiles that are not readable PNG/JPEG images are skipped with a warning and counted in the summary.\n"
    "exit status: 0 ok, 1 failure, 2 usage error\n";

/* The options of every subcommand, with their defaults: each subcommand parses its own table, and
 * `reenact dataset --help` shows them all. */
typedef struct ds_args {
    const char *out;
    long res, every, threads, first, cols, scale, count, groups;
    uint64_t seed;
    int align, quiet, verify, list_groups;
} ds_args;

enum { PACK_OPTS = 8, INFO_OPTS = 4, SHOW_OPTS = 6, SYNTH_OPTS = 7 };
typedef struct ds_tables {
    cli_opt pack[PACK_OPTS], info[INFO_OPTS], show[SHOW_OPTS], synth[SYNTH_OPTS];
} ds_tables;

/* The defaults into *a, and the four tables over it into *t. */
static void ds_init(ds_args *a, ds_tables *t) {
    *a = (ds_args){.res = 64, .first = 64, .cols = 16, .scale = 1, .count = 1024, .groups = 8, .seed = 1};
    const ds_tables src = {
        .pack = {
            CLI_SECTION("pack options:"),
            CLI_STR("--out", "-o", &a->out, "PATH", "output dataset (written atomically)", .flags = CLI_REQUIRED),
            CLI_INT("--res", NULL, &a->res, "N", 4, RE_DATASET_MAX_RES, "image side in pixels, the model resolution"),
            CLI_FLAG("--align", NULL, &a->align, 1, "detect the largest face and align it (as `animate` does); no "
                     "face: skipped (without --align non-square images are center-cropped)"),
            CLI_INT("--video-every", NULL, &a->every, "K", 0, 1000000, "also add every K-th frame of video files (.mp4 "
                    ".mov .mkv .webm .avi .m4v); 0 = skip videos"),
            CLI_INT("--threads", "-t", &a->threads, "T", 0, 1024, "decoding threads, 0 = all cores"),
            CLI_FLAG("--quiet", "-q", &a->quiet, 1, "no progress, no per-file warnings (the summary still lists "
                     "counts)"),
            CLI_END,
        },
        .info = {
            CLI_SECTION("info options:"),
            CLI_FLAG("--verify", NULL, &a->verify, 1, "also check the data SHA-256 (what `dataset verify` does)"),
            CLI_FLAG("--groups", NULL, &a->list_groups, 1, "list the groups with their record counts"),
            CLI_END,
        },
        .show = {
            CLI_SECTION("show options:"),
            CLI_STR("--out", "-o", &a->out, "PATH", "contact sheet to write (PNG)", .flags = CLI_REQUIRED),
            CLI_INT("--first", NULL, &a->first, "N", 1, 100000, "records shown, from the first"),
            CLI_INT("--cols", NULL, &a->cols, "C", 1, 1000, "records per row"),
            CLI_INT("--scale", NULL, &a->scale, "S", 1, 16, "pixel replication factor"),
            CLI_END,
        },
        .synth = {
            CLI_SECTION("synth options:"),
            CLI_STR("--out", "-o", &a->out, "PATH", "output dataset", .flags = CLI_REQUIRED),
            CLI_INT("--count", "-n", &a->count, "N", 1, 100000000, "images"),
            CLI_INT("--res", NULL, &a->res, "R", 4, RE_DATASET_MAX_RES, "image side in pixels"),
            CLI_INT("--groups", NULL, &a->groups, "G", 1, 1000000, "groups (identities)"),
            CLI_U64("--seed", NULL, &a->seed, "S", "seed of the images"),
            CLI_END,
        },
    };
    *t = src;
}

/* Parses a subcommand's options (argv[0] = its name: pack, info, verify, show or synth) with their defaults into *a,
 * the positional arguments (at most max_pos, 0 = any; none when pos is NULL) into *pos. Returns CLI_GO or an exit
 * status. */
static int ds_parse(ds_args *a, cli_list *pos, int max_pos, int argc, char **argv) {
    ds_tables t;
    ds_init(a, &t);
    const char *sub = argv[0];
    cli_opt *table = !strcmp(sub, "pack") ? t.pack : !strcmp(sub, "show") ? t.show : !strcmp(sub, "synth") ? t.synth
                                                                                                          : t.info;
    char name[64];
    snprintf(name, sizeof name, CMD " %s", sub);
    cli_cmd c = {.name = name, .usage = usage, .opts = table, .footer = footer, .pos = pos, .max_pos = max_pos,
                 .pos_error = pos ? "one dataset file expected" : NULL};
    return cli_parse(&c, argc, argv);
}

static void help(FILE *f) {
    ds_args a;
    ds_tables t;
    ds_init(&a, &t);
    fputs(usage, f);
    cli_help_opts(t.pack, f);
    cli_help_opts(t.info, f);
    cli_help_opts(t.show, f);
    cli_help_opts(t.synth, f);
    fputs(footer, f);
}

/* ---- file collection ------------------------------------------------------------------------------------- */

typedef struct entry {
    char *path;
    char *group;
    int video;
} entry;

typedef struct entry_list {
    entry *v;
    size_t n, cap;
    size_t hidden, videos_skipped, not_regular;
} entry_list;

static int has_ext(const char *p, const char *const *exts) {
    const char *dot = strrchr(p, '.');
    if (!dot || strchr(dot, '/')) return 0;
    for (; *exts; exts++)
        if (!strcasecmp(dot, *exts)) return 1;
    return 0;
}

static const char *const k_video_ext[] = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", NULL};

static int push(entry_list *l, const char *path, const char *group, int video) {
    entry *nv = cli_grow(l->v, l->n, &l->cap, sizeof *nv, 1024);
    if (!nv) return -1;
    l->v = nv;
    entry *e = &l->v[l->n];
    e->path = strdup(path);
    e->group = strdup(group);
    e->video = video;
    if (!e->path || !e->group) {
        free(e->path);
        free(e->group);
        return -1;
    }
    l->n++;
    return 0;
}

static const char *base_name(const char *p, char *buf, size_t n) {
    snprintf(buf, n, "%s", p);
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/') buf[--len] = 0;
    const char *s = strrchr(buf, '/');
    return s ? s + 1 : buf;
}

/* Recursively add regular files under dir; group = prefix (+ "/" + relative subfolder). */
static int walk(entry_list *l, const char *dir, const char *group, int videos, int depth) {
    if (depth > 64) return 0;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "reenact dataset: warning: cannot open folder '%s': %s\n", dir, strerror(errno));
        return 0;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') {
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) l->hidden++;
            continue;
        }
        size_t need = strlen(dir) + strlen(de->d_name) + 2;
        char *p = malloc(need);
        if (!p) { rc = -1; break; }
        snprintf(p, need, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (stat(p, &sb) != 0) {
            l->not_regular++;
        } else if (S_ISDIR(sb.st_mode)) {
            size_t gl = strlen(group) + strlen(de->d_name) + 2;
            char *g = malloc(gl);
            if (!g) { free(p); rc = -1; break; }
            snprintf(g, gl, "%s/%s", group, de->d_name);
            rc = walk(l, p, g, videos, depth + 1);
            free(g);
        } else if (S_ISREG(sb.st_mode)) {
            if (has_ext(p, k_video_ext)) {
                if (videos) rc = push(l, p, p, 1);
                else l->videos_skipped++;
            } else {
                rc = push(l, p, group, 0);
            }
        } else {
            l->not_regular++;
        }
        free(p);
        if (rc) break;
    }
    closedir(d);
    return rc;
}

static int cmp_entry(const void *a, const void *b) {
    const entry *x = a, *y = b;
    int c = strcmp(x->group, y->group);
    return c ? c : strcmp(x->path, y->path);
}

/* ---- per-file processing --------------------------------------------------------------------------------- */

typedef enum outcome { OUT_OK = 0, OUT_BAD = 1, OUT_NOFACE = 2 } outcome;

/* Center-crop (unless aligning) and resize img into the res x res record `rec` (HWC). */
static re_status to_record(const re_image *img, re_face_detector *det, int res, uint8_t *rec, outcome *oc) {
    re_image dst = {res, res, 3 * res, rec, 0};
    *oc = OUT_OK;
    if (det) {
        re_face faces[4];
        int n = 0;
        re_status s = re_face_detect(det, img, faces, 4, &n);
        if (s) return s;
        if (n == 0) {
            *oc = OUT_NOFACE;
            return RE_OK;
        }
        return re_face_align(img, faces[0].lm, res, &dst);
    }
    int side = img->w < img->h ? img->w : img->h;
    re_image sq = {side, side, img->stride,
                   img->data + (size_t)((img->h - side) / 2) * img->stride + (size_t)((img->w - side) / 2) * 3, 0};
    if (side == res) {
        for (int y = 0; y < res; y++) memcpy(rec + (size_t)y * 3 * res, sq.data + (size_t)y * sq.stride, 3 * (size_t)res);
        return RE_OK;
    }
    return re_image_resize(&sq, &dst, res, res);
}

typedef struct pack_stats {
    uint64_t packed, bad, noface, warned, video_frames, videos_bad;
} pack_stats;

static void warn_file(pack_stats *st, int quiet, const char *path, const char *why) {
    st->warned++;
    if (quiet) return;
    if (st->warned <= MAX_WARN) fprintf(stderr, "reenact dataset: warning: skipping '%s': %s\n", path, why);
    else if (st->warned == MAX_WARN + 1) fprintf(stderr, "reenact dataset: warning: (further warnings suppressed)\n");
}

typedef struct vid_result {
    uint8_t *recs;
    size_t n, cap;
    int64_t frames, noface;
    re_status st;
    char err[300];
} vid_result;

#ifdef RE_HAVE_FFMPEG
/* Every k-th frame of a video into r (aligned with the tracker's per-frame landmarks when det != NULL). */
static void pack_video(const char *path, re_face_detector *det, int res, int k, vid_result *r) {
    re_video_reader *vr = NULL;
    re_face_tracker *trk = NULL;
    re_image frame = {0};
    size_t rec = (size_t)res * res * 3;
    r->st = re_video_reader_open(&vr, path);
    if (r->st) goto done;
    if (det) {
        re_face_tracker_opts to;
        re_face_tracker_opts_default(&to);
        re_video_info vi = re_video_reader_info(vr);
        if (vi.fps_num > 0 && vi.fps_den > 0) to.fps = (float)vi.fps_num / (float)vi.fps_den;
        if ((r->st = re_face_tracker_create(&trk, det, res, &to))) goto done;
    }
    for (int64_t i = 0;; i++) {
        re_status s = re_video_reader_next(vr, &frame, NULL);
        if (s == RE_VIDEO_EOF) break;
        if (s) { r->st = s; goto done; }
        r->frames++;
        re_face_track tr;
        if (trk && (r->st = re_face_tracker_update(trk, &frame, &tr))) goto done;
        if (i % k) continue;
        uint8_t *nr = cli_grow(r->recs, r->n, &r->cap, rec, 64);
        if (!nr) { r->st = RE_ERR_NOMEM; snprintf(r->err, sizeof r->err, "out of memory"); goto out; }
        r->recs = nr;
        uint8_t *dst = r->recs + r->n * rec;
        if (trk) {
            if (!tr.found) { r->noface++; continue; }
            re_image out = {res, res, 3 * res, dst, 0};
            if ((r->st = re_face_align(&frame, tr.face.lm, res, &out))) goto done;
        } else {
            outcome oc;
            if ((r->st = to_record(&frame, NULL, res, dst, &oc))) goto done;
        }
        r->n++;
    }
done:
    if (r->st) snprintf(r->err, sizeof r->err, "%s", re_last_error());
out:
    re_image_free(&frame);
    re_face_tracker_free(trk);
    re_video_reader_close(vr);
}
#endif

static int cmd_pack(int argc, char **argv) {
    ds_args a;
    cli_list pos = {0};
    int rc = ds_parse(&a, &pos, 0, argc, argv);
    if (rc != CLI_GO) return rc;
    rc = RE_EXIT_FAIL;
    const char *out = a.out;
    const long res = a.res, every = a.every, threads = a.threads;
    const int align = a.align, quiet = a.quiet, ninputs = pos.n;
    const char **inputs = pos.v;
    if (!out) { free(inputs); return cli_usage_error(CMD " pack", "-o OUT.rds is required"); }
    if (ninputs == 0) { free(inputs); return cli_usage_error(CMD " pack", "give at least one folder or image file"); }
#ifndef RE_HAVE_FFMPEG
    if (every > 0) { free(inputs); return cli_usage_error(CMD " pack", "--video-every needs a build with FFmpeg"); }
#endif
    for (int k = 0; k < ninputs; k++) {
        struct stat sb;
        if (stat(inputs[k], &sb) != 0) {
            fprintf(stderr, "reenact dataset: error: input '%s': %s\n", inputs[k], strerror(errno));
            free(inputs);
            return RE_EXIT_FAIL;
        }
    }
    int nth = threads > 0 ? (int)threads : omp_get_num_procs();
    re_face_detector **dets = NULL;
    entry_list L = {0};
    re_dataset_writer *w = NULL;
    uint8_t *chunk = NULL;
    outcome *oc = NULL;
    re_status *sts = NULL;
    char (*errs)[300] = NULL;
    pack_stats st = {0};
    double t0 = now_s();

    for (int k = 0; k < ninputs; k++) {
        struct stat sb;
        char nb[4096];
        if (stat(inputs[k], &sb) == 0 && S_ISDIR(sb.st_mode)) {
            if (walk(&L, inputs[k], base_name(inputs[k], nb, sizeof nb), every > 0, 0)) goto nomem;
        } else {
            /* A single file: its group is its folder's name. */
            char parent[4096];
            snprintf(parent, sizeof parent, "%s", inputs[k]);
            char *slash = strrchr(parent, '/');
            if (slash) *slash = 0;
            else snprintf(parent, sizeof parent, ".");
            char cwd[4096];
            const char *g = base_name(strcmp(parent, ".") ? parent : (getcwd(cwd, sizeof cwd) ? cwd : "."), nb, sizeof nb);
            int video = has_ext(inputs[k], k_video_ext);
            if (video && every <= 0) L.videos_skipped++;
            else if (push(&L, inputs[k], video ? inputs[k] : g, video)) goto nomem;
        }
    }
    if (L.n > 1) qsort(L.v, L.n, sizeof *L.v, cmp_entry); /* qsort(NULL, 0, ...) is undefined */
    if (L.n == 0) {
        fprintf(stderr, "reenact dataset: error: no files found under the given inputs%s\n",
                L.videos_skipped ? " (videos were skipped: add --video-every K)" : "");
        goto done;
    }
    if (align) {
        dets = calloc((size_t)nth, sizeof *dets);
        if (!dets) goto nomem;
        for (int t = 0; t < nth; t++) {
            re_status s = re_face_detector_open(&dets[t], NULL);
            if (s) {
                rc = cli_fail(CMD, s, "--align: cannot open the face detector");
                goto done;
            }
        }
    }
    re_status s = re_dataset_writer_open(&w, out, (int)res, 3, align ? RE_DATASET_FLAG_ALIGNED : 0);
    if (s) {
        rc = cli_fail(CMD, s, "cannot create '%s'", out);
        goto done;
    }
    const size_t rec = (size_t)res * res * 3;
    const size_t CH = 64 * (size_t)nth;   /* files per parallel chunk */
    chunk = malloc(CH * rec);
    oc = calloc(CH, sizeof *oc);
    sts = calloc(CH, sizeof *sts);
    errs = calloc(CH, sizeof *errs);
    if (!chunk || !oc || !sts || !errs) goto nomem;
    size_t n_img = 0, n_vid = 0;
    for (size_t i = 0; i < L.n; i++) *(L.v[i].video ? &n_vid : &n_img) += 1;
    if (!quiet)
        fprintf(stderr, "reenact dataset: packing %zu image files%s into %s at %ldx%ld%s with %d threads\n", n_img,
                n_vid ? " and some videos" : "", out, res, res, align ? " (face-aligned)" : "", nth);
    double last = now_s();
    size_t done_files = 0;
    /* Images: parallel decode per chunk, ordered writes. */
    for (size_t base = 0; base < L.n; base += CH) {
        size_t cnt = L.n - base < CH ? L.n - base : CH;
#pragma omp parallel for schedule(dynamic, 2) num_threads(nth)
        for (size_t j = 0; j < cnt; j++) {
            const entry *e = &L.v[base + j];
            sts[j] = RE_OK;
            oc[j] = OUT_BAD;
            if (e->video) continue;
            re_image img = {0};
            re_status s1 = re_image_load(&img, e->path);
            if (!s1) s1 = to_record(&img, dets ? dets[omp_get_thread_num()] : NULL, (int)res, chunk + j * rec, &oc[j]);
            if (s1) {
                oc[j] = OUT_BAD;
                snprintf(errs[j], sizeof errs[j], "%s", re_last_error());
            }
            sts[j] = s1;
            re_image_free(&img);
        }
        for (size_t j = 0; j < cnt; j++) {
            const entry *e = &L.v[base + j];
            if (e->video) continue;
            done_files++;
            if (oc[j] == OUT_NOFACE) {
                st.noface++;
                continue;
            }
            if (oc[j] == OUT_BAD) {
                st.bad++;
                warn_file(&st, quiet, e->path, errs[j][0] ? errs[j] : re_status_str(sts[j]));
                continue;
            }
            uint32_t g;
            if ((s = re_dataset_writer_group(w, e->group, &g)) || (s = re_dataset_writer_add(w, chunk + j * rec, g))) {
                rc = cli_fail(CMD, s, "writing '%s'", out);
                goto done;
            }
            st.packed++;
        }
        double t = now_s();
        if (!quiet && (t - last > 0.5 || base + cnt == L.n) && n_img) {
            last = t;
            fprintf(stderr, "\r  images %zu/%zu  packed %llu  skipped %llu  no face %llu  %.0f img/s   ", done_files,
                    n_img, (unsigned long long)st.packed, (unsigned long long)st.bad, (unsigned long long)st.noface,
                    done_files / (t - t0));
        }
    }
    if (!quiet && n_img) fputc('\n', stderr);
#ifdef RE_HAVE_FFMPEG
    /* Videos: one per thread at a time, frames kept in memory per video, written in path order. */
    if (n_vid) {
        size_t *vi = malloc(n_vid * sizeof *vi), nv = 0;
        vid_result *vr = calloc((size_t)nth, sizeof *vr);
        if (!vi || !vr) { free(vi); free(vr); goto nomem; }
        for (size_t i = 0; i < L.n; i++)
            if (L.v[i].video) vi[nv++] = i;
        for (size_t base = 0; base < nv; base += (size_t)nth) {
            size_t cnt = nv - base < (size_t)nth ? nv - base : (size_t)nth;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth)
            for (size_t j = 0; j < cnt; j++) {
                vid_result *r = &vr[j];
                r->n = 0;
                r->frames = r->noface = 0;
                r->st = RE_OK;
                r->err[0] = 0;
                pack_video(L.v[vi[base + j]].path, dets ? dets[omp_get_thread_num()] : NULL, (int)res, (int)every, r);
            }
            for (size_t j = 0; j < cnt && !s; j++) {
                const entry *e = &L.v[vi[base + j]];
                vid_result *r = &vr[j];
                st.noface += (uint64_t)r->noface;
                if (r->st) {
                    st.videos_bad++;
                    warn_file(&st, quiet, e->path, r->err[0] ? r->err : re_status_str(r->st));
                    if (r->n == 0) continue;   /* frames decoded before the error are kept */
                }
                uint32_t g = 0;
                s = re_dataset_writer_group(w, e->group, &g);
                for (size_t f = 0; !s && f < r->n; f++) s = re_dataset_writer_add(w, r->recs + f * rec, g);
                if (s) {
                    rc = cli_fail(CMD, s, "writing '%s'", out);
                    break;
                }
                st.packed += r->n;
                st.video_frames += r->n;
                if (!quiet)
                    fprintf(stderr, "  video %s: %lld frames, %zu kept\n", e->path, (long long)r->frames, r->n);
            }
            if (s) break;
        }
        for (int t = 0; t < nth; t++) free(vr[t].recs);
        free(vr);
        free(vi);
        if (s) goto done;
    }
#endif
    if (re_dataset_writer_count(w) == 0) {
        fprintf(stderr, "reenact dataset: error: no usable image among %zu files (%llu unreadable, %llu without a "
                "face); nothing written\n", L.n, (unsigned long long)st.bad, (unsigned long long)st.noface);
        goto done;
    }
    s = re_dataset_writer_close(w);
    w = NULL;
    if (s) {
        rc = cli_fail(CMD, s, "cannot finish '%s'", out);
        goto done;
    }
    double dt = now_s() - t0;
    re_dataset *ds = NULL;
    uint32_t ng = 0;
    if (re_dataset_open(&ds, out) == RE_OK) ng = re_dataset_n_groups(ds);
    re_dataset_close(ds);
    printf("packed %llu images (%u groups) at %ldx%ld%s into %s in %.1f s: %.0f files/s\n",
           (unsigned long long)st.packed, ng, res, res, align ? ", face-aligned" : "", out, dt, (double)L.n / dt);
    printf("skipped: %llu unreadable or not an image%s, %llu without a face, %zu videos (no --video-every), "
           "%zu hidden, %zu not regular files\n", (unsigned long long)st.bad,
           st.videos_bad ? " (incl. videos that failed)" : "", (unsigned long long)st.noface, L.videos_skipped,
           L.hidden, L.not_regular);
    if (st.video_frames) printf("video frames: %llu\n", (unsigned long long)st.video_frames);
    rc = RE_EXIT_OK;
    goto done;
nomem:
    rc = cli_fail(CMD, RE_ERR_NOMEM, "out of memory");
done:
    re_dataset_writer_abort(w);
    if (dets)
        for (int t = 0; t < nth; t++) re_face_detector_free(dets[t]);
    free(dets);
    for (size_t i = 0; i < L.n; i++) {
        free(L.v[i].path);
        free(L.v[i].group);
    }
    free(L.v);
    free(chunk);
    free(oc);
    free(sts);
    free(errs);
    free(inputs);
    return rc;
}

/* ---- info / verify --------------------------------------------------------------------------------------- */

static int cmd_info_verify(int argc, char **argv, int verify) {
    ds_args a;
    cli_list pos = {0};
    char name[64];
    snprintf(name, sizeof name, CMD " %s", argv[0]);
    int rc = ds_parse(&a, &pos, 1, argc, argv);
    if (rc != CLI_GO) return rc;
    const char *path = pos.n ? pos.v[0] : NULL;
    cli_list_free(&pos);
    verify |= a.verify;
    const int groups = a.list_groups;
    if (!path) return cli_usage_error(name, "give a dataset file");
    re_dataset *ds = NULL;
    re_status s = re_dataset_open(&ds, path);
    if (s) return cli_fail(CMD, s, "cannot open dataset '%s'", path);
    const re_dataset_header *h = re_dataset_info(ds);
    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", h->data_sha256[i]);
    printf("dataset:     %s\n", path);
    printf("format:      reenact dataset v%u\n", h->version);
    printf("records:     %llu of %ux%u RGB%s\n", (unsigned long long)h->count, h->res, h->res,
           (h->flags & RE_DATASET_FLAG_ALIGNED) ? " (face-aligned)" : "");
    printf("groups:      %u\n", h->n_groups);
    printf("data:        %.1f MiB, sha256 %s\n", h->data_size / 1048576.0, hex);
    if (groups) {
        uint64_t *cnt = calloc(h->n_groups, sizeof *cnt);
        if (cnt) {
            for (uint64_t i = 0; i < h->count; i++) cnt[re_dataset_group_of(ds, i)]++;
            for (uint32_t g = 0; g < h->n_groups; g++)
                printf("  %8llu  %s\n", (unsigned long long)cnt[g], re_dataset_group_name(ds, g));
        }
        free(cnt);
    }
    if (verify) {
        double t0 = now_s();
        s = re_dataset_verify(ds);
        if (s) {
            re_dataset_close(ds);
            return cli_fail(CMD, s, "verification of '%s' failed", path);
        }
        printf("checksum:    data sha256 verified (%.1f s)\n", now_s() - t0);
    }
    re_dataset_close(ds);
    return RE_EXIT_OK;
}

/* ---- show ------------------------------------------------------------------------------------------------ */

static int cmd_show(int argc, char **argv) {
    ds_args a;
    cli_list pos = {0};
    const int prc = ds_parse(&a, &pos, 1, argc, argv);
    if (prc != CLI_GO) return prc;
    const char *path = pos.n ? pos.v[0] : NULL, *out = a.out;
    const long first = a.first, cols = a.cols, scale = a.scale;
    cli_list_free(&pos);
    if (!path || !out) return cli_usage_error(CMD " show", "usage: reenact dataset show FILE.rds -o GRID.png");
    re_dataset *ds = NULL;
    re_status s = re_dataset_open(&ds, path);
    if (s) return cli_fail(CMD, s, "cannot open dataset '%s'", path);
    uint64_t n = re_dataset_count(ds) < (uint64_t)first ? re_dataset_count(ds) : (uint64_t)first;
    int res = re_dataset_res(ds), cell = res * (int)scale + 2;
    int c = (int)(n < (uint64_t)cols ? n : (uint64_t)cols), r = (int)((n + (uint64_t)cols - 1) / (uint64_t)cols);
    re_image grid = {0};
    uint8_t *rec = malloc(re_dataset_record_size(ds));
    int rc = RE_EXIT_FAIL;
    if (!rec) { rc = cli_fail(CMD, RE_ERR_NOMEM, "out of memory"); goto out; }
    if ((s = re_image_alloc(&grid, c * cell, r * cell))) { rc = cli_fail(CMD, s, "grid image"); goto out; }
    for (uint64_t i = 0; i < n; i++) {
        if ((s = re_dataset_read(ds, i, rec))) { rc = cli_fail(CMD, s, "record %llu", (unsigned long long)i); goto out; }
        int ox = (int)(i % (uint64_t)cols) * cell + 1, oy = (int)(i / (uint64_t)cols) * cell + 1;
        for (int y = 0; y < res * scale; y++)
            for (int x = 0; x < res * scale; x++)
                memcpy(grid.data + (size_t)(oy + y) * grid.stride + (size_t)(ox + x) * 3,
                       rec + ((size_t)(y / scale) * res + (size_t)(x / scale)) * 3, 3);
    }
    if ((s = re_image_save_png(&grid, out))) { rc = cli_fail(CMD, s, "cannot write '%s'", out); goto out; }
    printf("wrote %s: %llu records, %d columns\n", out, (unsigned long long)n, c);
    rc = RE_EXIT_OK;
out:
    free(rec);
    re_image_free(&grid);
    re_dataset_close(ds);
    return rc;
}

/* ---- synth ----------------------------------------------------------------------------------------------- */

/* xorshift64 uniform in [0,1); a function (not a macro in an initializer list) so the draw order is defined. */
static double rnd(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return (double)(*x >> 11) * 0x1.0p-53;
}

/* A face-like picture: background gradient, skin-colored ellipse with eyes and a mouth whose position, size,
 * colors and openness vary with the RNG. Group g shifts the palette (an "identity"). */
static void synth_image(uint8_t *p, int res, uint64_t seed, uint32_t g) {
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
    for (int i = 0; i < 8; i++) (void)rnd(&x);
    double r[9];   /* drawn one by one: the order of initializer-list evaluation is unspecified in C */
    for (int i = 0; i < 9; i++) r[i] = rnd(&x);
    double hue = (g % 7) / 7.0;
    double bg0[3] = {r[0], r[1], r[2]}, bg1[3] = {r[3], r[4], r[5]};
    double skin[3] = {0.55 + 0.35 * r[6], 0.35 + 0.3 * r[7] * (0.5 + hue), 0.25 + 0.3 * r[8]};
    double cx = 0.5 + 0.08 * (rnd(&x) - 0.5), cy = 0.52 + 0.08 * (rnd(&x) - 0.5);
    double rx = 0.26 + 0.06 * rnd(&x), ry = 0.34 + 0.06 * rnd(&x);
    double eye_y = cy - 0.1 * ry / 0.34, eye_dx = 0.38 * rx, eye_r = 0.045 + 0.02 * rnd(&x);
    double mouth_w = 0.35 * rx * (0.8 + 0.4 * rnd(&x)), mouth_h = 0.01 + 0.05 * rnd(&x), mouth_y = cy + 0.5 * ry;
    double tilt = 0.3 * (rnd(&x) - 0.5);
    for (int yy = 0; yy < res; yy++)
        for (int xx = 0; xx < res; xx++) {
            double u = (xx + 0.5) / res, v = (yy + 0.5) / res;
            double c[3];
            for (int k = 0; k < 3; k++) c[k] = bg0[k] * (1 - v) + bg1[k] * v;
            double du = (u - cx) * cos(tilt) + (v - cy) * sin(tilt), dv = -(u - cx) * sin(tilt) + (v - cy) * cos(tilt);
            double e = (du * du) / (rx * rx) + (dv * dv) / (ry * ry);
            if (e < 1) {
                double shade = 1.0 - 0.25 * e;
                for (int k = 0; k < 3; k++) c[k] = skin[k] * shade;
                double ey = dv - (eye_y - cy);
                for (int side = -1; side <= 1; side += 2) {
                    double ex = du - side * eye_dx;
                    if (ex * ex + ey * ey < eye_r * eye_r) c[0] = c[1] = c[2] = 0.08;
                }
                double my = dv - (mouth_y - cy);
                if (fabs(du) < mouth_w && fabs(my) < mouth_h + 0.01) { c[0] = 0.5; c[1] = 0.1; c[2] = 0.12; }
            }
            for (int k = 0; k < 3; k++) {
                double q = c[k] * 255.0 + 0.5;
                p[((size_t)yy * res + xx) * 3 + k] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
            }
        }
}

static int cmd_synth(int argc, char **argv) {
    ds_args a;
    int rc = ds_parse(&a, NULL, 0, argc, argv);
    if (rc != CLI_GO) return rc;
    const char *out = a.out;
    long count = a.count, res = a.res, groups = a.groups;
    const uint64_t seed = a.seed;
    if (!out) return cli_usage_error(CMD " synth", "-o OUT.rds is required");
    if (groups > count) groups = count;
    re_dataset_writer *w = NULL;
    re_status s = re_dataset_writer_open(&w, out, (int)res, 3, 0);
    if (s) return cli_fail(CMD, s, "cannot create '%s'", out);
    uint8_t *p = malloc((size_t)res * res * 3);
    if (!p) {
        re_dataset_writer_abort(w);
        return cli_fail(CMD, RE_ERR_NOMEM, "out of memory");
    }
    for (long i = 0; i < count && !s; i++) {
        char name[32];
        uint32_t g = (uint32_t)(i * groups / count), id;
        snprintf(name, sizeof name, "synth_%04u", g);
        synth_image(p, (int)res, seed * 1000003ull + (uint64_t)i, g);
        s = re_dataset_writer_group(w, name, &id);
        if (!s) s = re_dataset_writer_add(w, p, id);
    }
    free(p);
    if (s) {
        re_dataset_writer_abort(w);
        return cli_fail(CMD, s, "writing '%s'", out);
    }
    if ((s = re_dataset_writer_close(w))) return cli_fail(CMD, s, "cannot finish '%s'", out);
    printf("wrote %s: %ld synthetic images at %ldx%ld in %ld groups\n", out, count, res, res, groups);
    return RE_EXIT_OK;
}

int cmd_dataset(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? RE_EXIT_USAGE : RE_EXIT_OK;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "pack")) return cmd_pack(argc - 1, argv + 1);
    if (!strcmp(sub, "info")) return cmd_info_verify(argc - 1, argv + 1, 0);
    if (!strcmp(sub, "verify")) return cmd_info_verify(argc - 1, argv + 1, 1);
    if (!strcmp(sub, "show")) return cmd_show(argc - 1, argv + 1);
    if (!strcmp(sub, "synth")) return cmd_synth(argc - 1, argv + 1);
    return cli_usage_error(CMD, "unknown command '%s' (pack, info, verify, show, synth)", sub);
}
