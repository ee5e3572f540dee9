/*
 * bench_animate.c - end-to-end speed and memory of `reenact animate` (re_animate: video decode + face tracking +
 * alignment + model + composition + H.264 encode + audio copy), per driving clip: frames per second for the whole
 * call and for the frame loop alone (after setup: model/detector loading, source face), where the time goes per stage
 * (ms per frame; pipelined stages overlap, so they may add up to more than the wall time), and peak RSS. Each run is a
 * forked child, so its peak RSS is its own; the memory check runs a clip and the same clip looped 10x: peak RSS must
 * not grow with the video's length. Timings are never pass/fail.
 *
 * Build: cmake --build build -j2 --target bench_animate
 * Run:   ./build/bench/bench_animate [--drivers DIR] [--driving FILE] [--source PHOTO] [--model M] [--min-side 512]
 *                                    [--max-frames N] [--runs R] [--batch B] [--threads N] [--no-pipeline]
 *                                    [--no-memory] [--loop 10] [--precision f32|bf16]
 *                                    [--photo-side N]... [--render photo|model] [--paste-back]
 *                                    [--render-threads N]
 * --render-threads N: the photo renderer's per-pixel warp on N threads (re_render_opts.threads; 0 = one per core);
 * with --photo-side, a third arm next to the library's default, with the ratio default / N.
 * --photo-side N: the source photo resized to N px on its longest side, animated with --paste-back by both renderers
 * (--render model: the decoded face upscaled and pasted; photo: the photo's pixels moved at full resolution), in the
 * same run, with the ratio photo / model; uses the bundled model (models/reenact-seed64.safetensors) unless --model
 * names one, since the photo renderer's landmarks need a trained decoder.
 * Defaults: the 512x512 (or larger) clips in ../shared/data/examples/driving, the portrait
 * ../shared/data/examples/portraits/lp_s1.jpg, an untrained seed64 model (same speed as a trained one), 1 run each,
 * the memory check on the first clip. Skips with a message (exit 0) when ../shared is absent and nothing is given.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reenact/anim.h"
#include "reenact/media.h"

#define MAX_CLIPS 64

typedef struct bench_opts {
    const char *drivers, *source, *model;
    const char *clips[MAX_CLIPS];
    int n_clips;
    int min_side, runs, batch, threads, pipeline, memory, loop;
    int photo_sides[8], n_photo_sides, paste_back, paste_side;
    int render_threads;   /* re_render_opts.threads of the photo renderer; -1: the library's default */
    re_anim_render render;
    re_precision precision;
    long max_frames;
} bench_opts;

/* What a child reports to the parent through a pipe. */
typedef struct result {
    int ok;
    char err[512];
    re_anim_stats st;
    int w, h;
} result;

static void usage(FILE *f) {
    fprintf(f, "usage: bench_animate [--drivers DIR] [--driving FILE]... [--source PHOTO] [--model M]\n"
               "                     [--min-side 512] [--max-frames N] [--runs 1] [--batch 8] [--threads 0]\n"
               "                     [--no-pipeline] [--no-memory] [--loop 10] [--precision f32|bf16]\n"
               "                     [--photo-side N]... [--render photo|model] [--paste-back]\n"
               "                     [--render-threads N]\n");
}

static int parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static int parse_args(int argc, char **argv, bench_opts *o) {
    memset(o, 0, sizeof *o);
    o->drivers = "../shared/data/examples/driving";
    o->source = "../shared/data/examples/portraits/lp_s1.jpg";
    o->min_side = 512;
    o->runs = 1;
    o->batch = 8;
    o->pipeline = 1;
    o->memory = 1;
    o->loop = 10;
    o->render_threads = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); exit(0); }
        if (!strcmp(a, "--no-pipeline")) { o->pipeline = 0; continue; }
        if (!strcmp(a, "--no-memory")) { o->memory = 0; continue; }
        if (!strcmp(a, "--paste-back")) { o->paste_back = 1; continue; }
        if (i + 1 >= argc) { fprintf(stderr, "bench_animate: %s needs a value\n", a); return 0; }
        const char *val = argv[++i];
        if (!strcmp(a, "--drivers")) o->drivers = val;
        else if (!strcmp(a, "--driving")) { if (o->n_clips < MAX_CLIPS) o->clips[o->n_clips++] = val; }
        else if (!strcmp(a, "--source")) o->source = val;
        else if (!strcmp(a, "--model")) o->model = val;
        else if (!strcmp(a, "--min-side") && parse_int(val, 0, 100000, &v)) o->min_side = (int)v;
        else if (!strcmp(a, "--max-frames") && parse_int(val, 0, 100000000, &v)) o->max_frames = v;
        else if (!strcmp(a, "--runs") && parse_int(val, 1, 1000, &v)) o->runs = (int)v;
        else if (!strcmp(a, "--batch") && parse_int(val, 1, 256, &v)) o->batch = (int)v;
        else if (!strcmp(a, "--threads") && parse_int(val, 0, 1024, &v)) o->threads = (int)v;
        else if (!strcmp(a, "--loop") && parse_int(val, 2, 100, &v)) o->loop = (int)v;
        else if (!strcmp(a, "--render-threads") && parse_int(val, 0, RE_RENDER_MAX_THREADS, &v)) o->render_threads = (int)v;
        else if (!strcmp(a, "--photo-side") && parse_int(val, 64, 8192, &v) && o->n_photo_sides < 8)
            o->photo_sides[o->n_photo_sides++] = (int)v;
        else if (!strcmp(a, "--render") && (!strcmp(val, "photo") || !strcmp(val, "model")))
            o->render = strcmp(val, "photo") ? RE_RENDER_MODEL : RE_RENDER_PHOTO;
        else if (!strcmp(a, "--precision") && (!strcmp(val, "f32") || !strcmp(val, "bf16")))
            o->precision = strcmp(val, "bf16") ? RE_PREC_F32 : RE_PREC_BF16;
        else { fprintf(stderr, "bench_animate: bad option or value: %s %s\n", a, val); usage(stderr); return 0; }
    }
    return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Clips in dir whose frames are at least min_side on the shorter side. */
static int find_clips(bench_opts *o, char **owned) {
    DIR *d = opendir(o->drivers);
    if (!d) return 0;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) && n < MAX_CLIPS) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".mp4")) continue;
        char *p = malloc(strlen(o->drivers) + l + 2);
        if (!p) break;
        sprintf(p, "%s/%s", o->drivers, e->d_name);
        re_video_reader *r = NULL;
        if (re_video_reader_open(&r, p) == RE_OK) {
            re_video_info in = re_video_reader_info(r);
            int side = in.width < in.height ? in.width : in.height;
            if (side >= o->min_side) owned[n++] = p;
            else free(p);
            re_video_reader_close(r);
        } else {
            free(p);
        }
    }
    closedir(d);
    qsort(owned, (size_t)n, sizeof *owned, cmp_str);
    for (int i = 0; i < n; i++) o->clips[o->n_clips++] = owned[i];
    return n;
}

static re_status get_model(const bench_opts *o, re_model **m) {
    if (o->model) return re_model_load(m, o->model);
    re_config cfg;
    re_status s = re_config_preset(&cfg, "seed64");
    return s != RE_OK ? s : re_model_create(m, &cfg, 1, 0);
}

/* One animate run in a forked child; returns its result and peak RSS (KiB). */
static int run_child(const bench_opts *o, const char *clip, result *res, long *maxrss_kb) {
    int fd[2];
    memset(res, 0, sizeof *res);
    if (pipe(fd) != 0) return 0;
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        close(fd[0]);
        result r;
        memset(&r, 0, sizeof r);
        re_set_threads(o->threads);
        re_model *m = NULL;
        re_status s = get_model(o, &m);
        if (s == RE_OK) {
            re_anim_opts ao;
            re_anim_opts_default(&ao);
            ao.source = o->source;
            ao.driving = clip;
            ao.output = "/tmp/bench_animate_out.mp4";
            ao.batch = o->batch;
            ao.precision = o->precision;
            ao.pipeline = o->pipeline;
            ao.max_frames = o->max_frames;
            ao.paste_back = o->paste_back;
            if (o->paste_side > 0) ao.paste_max_side = o->paste_side;
            ao.render = o->render;
            if (o->render_threads >= 0) ao.render_opts.threads = o->render_threads;
            s = re_animate(m, &ao, &r.st);
        }
        r.ok = s == RE_OK;
        if (!r.ok) snprintf(r.err, sizeof r.err, "%s", re_last_error());
        re_model_free(m);
        unlink("/tmp/bench_animate_out.mp4");
        ssize_t wr = write(fd[1], &r, sizeof r);
        close(fd[1]);
        _exit(wr == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fd[1]);
    size_t got = 0;
    while (got < sizeof *res) {
        ssize_t k = read(fd[0], (char *)res + got, sizeof *res - got);
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd[0]);
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) return 0;
    *maxrss_kb = ru.ru_maxrss;
    return got == sizeof *res && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The photo resized to `side` on its longest side, saved to out; done in a forked child like every run, so the
 * parent never starts the library's thread pools (a child forked after that may hang). */
static int resize_photo(const char *src_path, int side, const char *out, int *w, int *h) {
    int fd[2];
    if (pipe(fd) != 0) return 0;
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        close(fd[0]);
        re_image src = {0}, big = {0};
        int wh[2] = {0, 0};
        if (re_image_load(&src, src_path) == RE_OK) {
            const double f = (double)side / (src.w > src.h ? src.w : src.h);
            wh[0] = (int)(src.w * f + 0.5);
            wh[1] = (int)(src.h * f + 0.5);
            if (re_image_resize(&src, &big, wh[0], wh[1]) != RE_OK || re_image_save_png(&big, out) != RE_OK)
                wh[0] = wh[1] = 0;
        }
        ssize_t wr = write(fd[1], wh, sizeof wh);
        _exit(wr == (ssize_t)sizeof wh && wh[0] > 0 ? 0 : 1);
    }
    close(fd[1]);
    int wh[2] = {0, 0}, status = 0;
    ssize_t got = read(fd[0], wh, sizeof wh);
    close(fd[0]);
    if (waitpid(pid, &status, 0) < 0 || got != (ssize_t)sizeof wh || !WIFEXITED(status) || WEXITSTATUS(status)) return 0;
    *w = wh[0];
    *h = wh[1];
    return 1;
}

static void print_row(const char *clip, const result *r, long rss_kb) {
    const re_anim_stats *st = &r->st;
    const double n = st->frames > 0 ? (double)st->frames : 1;
    const double loop_s = st->wall_s - st->t.setup;
    const char *base = strrchr(clip, '/');
    printf("%-22s %5lld | %6.1f %6.1f | %5.2f %5.2f %5.2f %5.2f %5.2f %5.2f %5.2f | %5.2f %5.2f | %6.1f\n",
           base ? base + 1 : clip, (long long)st->frames, st->frames / st->wall_s, loop_s > 0 ? st->frames / loop_s : 0,
           1e3 * st->t.decode / n, 1e3 * st->t.track / n, 1e3 * st->t.align / n, 1e3 * st->t.encode / n,
           1e3 * st->t.decode_model / n, 1e3 * st->t.compose / n, 1e3 * st->t.write / n, st->t.setup,
           st->t.model_setup, rss_kb / 1024.0);
    fflush(stdout);
}

static const char *header =
    "clip                   frames| fps    fps    | ms/frame per stage (overlapping when pipelined)   | setup s     | peak\n"
    "                             | total  loop   | decode track align  enc   dec  compose write | main  model | RSS MB\n";

/* A clip looped n times: ffmpeg stream copy when the command exists, else re-encoded through our writer. */
static int make_loop(const char *clip, int n, const char *out) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -stream_loop %d -i '%s' -c copy '%s' 2>/dev/null", n - 1, clip, out);
    if (system(cmd) == 0) return 1;
    re_video_reader *r = NULL;
    re_video_writer *w = NULL;
    re_image f = {0};
    int ok = 1;
    for (int k = 0; k < n && ok; k++) {
        ok = re_video_reader_open(&r, clip) == RE_OK;
        re_video_info in = ok ? re_video_reader_info(r) : (re_video_info){0};
        if (ok && !w) {
            re_video_writer_opts wo = {in.width, in.height, in.fps_num, in.fps_den, RE_VIDEO_MP4, 0, NULL};
            ok = re_video_writer_open(&w, out, &wo) == RE_OK;
        }
        while (ok && re_video_reader_next(r, &f, NULL) == RE_OK) ok = re_video_writer_write(w, &f) == RE_OK;
        re_video_reader_close(r);
        r = NULL;
    }
    re_image_free(&f);
    if (!ok) {
        re_video_writer_abort(w);
        return 0;
    }
    return re_video_writer_close(w) == RE_OK;
}

int main(int argc, char **argv) {
    bench_opts o;
    char *owned[MAX_CLIPS] = {0};
    if (!parse_args(argc, argv, &o)) return 2;
    if (o.n_clips == 0 && find_clips(&o, owned) == 0) {
        printf("SKIP: no driving clips (../shared not found, or no clip in %s with a side >= %d)\n", o.drivers,
               o.min_side);
        return 0;
    }
    if (access(o.source, R_OK) != 0) {
        printf("SKIP: source photo %s not found\n", o.source);
        return 0;
    }
    printf("bench_animate: reenact %s, source %s, model %s, batch %d, precision %s, %s, threads %d (0 = all), %ld "
           "cores online\n", re_version(), o.source, o.model ? o.model : "untrained seed64", o.batch,
           o.precision == RE_PREC_BF16 ? "bf16" : "f32",
           o.pipeline ? "pipelined" : "sequential", o.threads, sysconf(_SC_NPROCESSORS_ONLN));
    int fails = 0;
    if (o.n_photo_sides > 0) {
        /* photo-resolution paste-back: both renderers on the same resized photo, first clip only */
        if (!o.model && access("models/reenact-seed64.safetensors", R_OK) == 0) o.model = "models/reenact-seed64.safetensors";
        printf("paste-back on resized photos (%s, model %s), clip %s; fps = whole command\n", o.source,
               o.model ? o.model : "untrained seed64", o.clips[0]);
        printf("%s", header);
        for (int k = 0; k < o.n_photo_sides; k++) {
            const int side = o.photo_sides[k];
            char path[64];
            snprintf(path, sizeof path, "/tmp/bench_animate_photo_%d.png", side);
            int w = 0, h = 0;
            if (!resize_photo(o.source, side, path, &w, &h)) {
                printf("cannot write %s from %s\n", path, o.source);
                fails++;
                continue;
            }
            bench_opts po = o;
            po.source = path;
            po.paste_back = 1;
            po.paste_side = side;
            /* arms: model; photo (the library's render threads); photo with --render-threads N, when given */
            double fps[3] = {0, 0, 0};
            const int arms = o.render_threads >= 0 ? 3 : 2;
            for (int m = 0; m < arms; m++) {
                po.render = m ? RE_RENDER_PHOTO : RE_RENDER_MODEL;
                po.render_threads = m == 2 ? o.render_threads : -1;
                for (int rr = 0; rr < o.runs; rr++) {
                    result r;
                    long rss = 0;
                    char label[64];
                    if (m == 2) snprintf(label, sizeof label, "%dx%d photo, %d thr", w, h, o.render_threads);
                    else snprintf(label, sizeof label, "%dx%d %s", w, h, m ? "photo" : "model");
                    if (!run_child(&po, o.clips[0], &r, &rss) || !r.ok) {
                        printf("%-22s failed: %s\n", label, r.err[0] ? r.err : "child crashed");
                        fails++;
                        continue;
                    }
                    print_row(label, &r, rss);
                    const double v = r.st.frames / r.st.wall_s;
                    if (v > fps[m]) fps[m] = v;
                }
            }
            if (fps[0] > 0 && fps[1] > 0)
                printf("%dx%d: --render photo %.1f fps vs model %.1f fps (best of %d): ratio %.2f\n", w, h, fps[1],
                       fps[0], o.runs, fps[1] / fps[0]);
            if (arms == 3 && fps[1] > 0 && fps[2] > 0)
                printf("%dx%d: --render photo, default render threads %.1f fps vs %d render thread%s %.1f fps (best of "
                       "%d): ratio %.2f\n", w, h, fps[1], o.render_threads, o.render_threads == 1 ? "" : "s", fps[2],
                       o.runs, fps[1] / fps[2]);
            unlink(path);
        }
        return fails ? 1 : 0;
    }
    printf("%s", header);
    for (int c = 0; c < o.n_clips; c++)
        for (int k = 0; k < o.runs; k++) {
            result r;
            long rss = 0;
            if (!run_child(&o, o.clips[c], &r, &rss) || !r.ok) {
                printf("%-22s failed: %s\n", o.clips[c], r.err[0] ? r.err : "child crashed");
                fails++;
                continue;
            }
            print_row(o.clips[c], &r, rss);
        }
    if (o.memory) {
        const char *clip = o.clips[0];
        const char *loop = "/tmp/bench_animate_loop.mp4";
        printf("\nmemory: %s once and looped %dx (peak RSS must not grow with length)\n", clip, o.loop);
        if (!make_loop(clip, o.loop, loop)) {
            printf("memory check skipped: cannot write the looped clip\n");
        } else {
            bench_opts om = o;
            om.max_frames = 0;
            result r1, r2;
            long rss1 = 0, rss2 = 0;
            int ok1 = run_child(&om, clip, &r1, &rss1) && r1.ok;
            int ok2 = ok1 && run_child(&om, loop, &r2, &rss2) && r2.ok;
            if (ok1) print_row(clip, &r1, rss1);
            if (ok2) print_row(loop, &r2, rss2);
            if (ok1 && ok2)
                printf("peak RSS: %.1f MB for %lld frames, %.1f MB for %lld frames (ratio %.3f)\n", rss1 / 1024.0,
                       (long long)r1.st.frames, rss2 / 1024.0, (long long)r2.st.frames, (double)rss2 / rss1);
            else
                printf("memory check failed: %s\n", !ok1 ? r1.err : r2.err);
            unlink(loop);
        }
    }
    for (int i = 0; i < MAX_CLIPS; i++) free(owned[i]);
    return fails ? 1 : 0;
}
