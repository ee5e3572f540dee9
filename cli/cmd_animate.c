/*
 * cmd_animate.c - `reenact animate`: make a video of the person in a photo performing the motion of a driving
 * video (or of a motion file from `reenact motion extract`). A thin client of re_animate (include/reenact/anim.h);
 * this file parses and checks options, prints progress, warnings and the summary, and maps failures to exit codes.
 * Also holds the progress/interrupt helpers shared with cmd_motion.c and cmd_demo.c (anim_cli.h).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "anim_cli.h"
#include "cli.h"
#include "steer_cli.h"

/* ---- shared helpers ------------------------------------------------------------------------------------- */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

void anim_cli_install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static double wall_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int anim_cli_progress(const re_anim_progress *p, void *user) {
    anim_cli_prog *pr = user;
    if (g_stop) return 1;
    if (!pr || pr->quiet) return 0;
    const double now = wall_s();
    const int tty = isatty(2);
    const int last = p->total > 0 && p->done >= p->total;
    if (!last && now - pr->last < (tty ? 0.25 : 2.0)) return 0;
    pr->last = now;
    const double fps = p->elapsed_s > 0 ? (double)p->done / p->elapsed_s : 0;
    if (p->total > 0)
        fprintf(stderr, "%s%s: frame %lld/%lld | %.1f fps%s", tty ? "\r" : "", pr->what, (long long)p->done,
                (long long)p->total, fps, tty ? "   " : "\n");
    else
        fprintf(stderr, "%s%s: frame %lld | %.1f fps%s", tty ? "\r" : "", pr->what, (long long)p->done, fps,
                tty ? "   " : "\n");
    pr->printed = tty;
    return 0;
}

void anim_cli_progress_end(anim_cli_prog *pr) {
    if (pr->printed) fputc('\n', stderr);
    pr->printed = 0;
}

re_status anim_cli_animate(const char *what, int quiet, re_model *m, re_anim_opts *o, re_anim_stats *st) {
    anim_cli_prog pr = {what, quiet, 0, 0};
    o->progress = anim_cli_progress;
    o->progress_user = &pr;
    anim_cli_install_signals();
    re_status s = re_animate(m, o, st);
    anim_cli_progress_end(&pr);
    o->progress = NULL;   /* pr is gone */
    o->progress_user = NULL;
    return s;
}

int anim_cli_check_input(const char *cmd, const char *what, const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        return cli_fail(cmd, RE_OK, "cannot read %s '%s': %s", what, path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return cli_fail(cmd, RE_OK, "%s '%s' is a directory, expected a file", what, path);
    if (access(path, R_OK) != 0) return cli_fail(cmd, RE_OK, "cannot read %s '%s': %s", what, path, strerror(errno));
    return 0;
}

int anim_cli_check_output(const char *cmd, const char *what, const char *path) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = 0;
    else if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cli_fail(cmd, RE_OK, "cannot write %s '%s': directory '%s' does not exist", what, path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return cli_fail(cmd, RE_OK, "cannot write %s '%s': directory '%s' is not writable", what, path, dir);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return cli_fail(cmd, RE_OK, "cannot write %s '%s': it is a directory", what, path);
    return 0;
}

int anim_cli_load_model(const char *cmd, const char *path, re_model **m) {
    if (cli_model_missing_help(cmd, path)) return 1;
    if (anim_cli_check_input(cmd, "model", path)) return 1;
    re_status s = re_model_load(m, path);
    if (s != RE_OK) return cli_fail(cmd, s, "cannot load model '%s'", path);
    return 0;
}

void anim_cli_print_times(FILE *f, const re_anim_stats *st) {
    const double n = st->frames > 0 ? (double)st->frames : 1;
    fprintf(f, "  time per frame (ms, stages overlap when pipelined): decode %.2f | track %.2f | align %.2f | "
               "encode %.2f | transfer %.2f | decode-model %.2f | compose %.2f | write %.2f; setup %.2f s (model %.2f s)\n",
            1e3 * st->t.decode / n, 1e3 * st->t.track / n, 1e3 * st->t.align / n, 1e3 * st->t.encode / n,
            1e3 * st->t.transfer / n, 1e3 * st->t.decode_model / n, 1e3 * st->t.compose / n, 1e3 * st->t.write / n,
            st->t.setup, st->t.model_setup);
}

static const char *audio_str(re_audio_mode a) {
    switch (a) {
    case RE_AUDIO_COPIED: return "audio copied";
    case RE_AUDIO_TRANSCODED: return "audio transcoded";
    case RE_AUDIO_SKIPPED: return "audio not written (format without audio, or no audio stream)";
    default: return "no audio";
    }
}

static const cli_choice format_choices[] = {
    {"mp4", RE_VIDEO_MP4}, {"webm", RE_VIDEO_WEBM}, {"gif", RE_VIDEO_GIF}, {"png", RE_VIDEO_PNG_SEQ}, {NULL, 0}};
static const cli_choice ref_choices[] = {
    {"first", RE_REF_FIRST}, {"best", RE_REF_BEST}, {"pose", RE_REF_POSE}, {NULL, 0}};

void anim_cli_run_opts(cli_opt t[ANIM_CLI_RUN_OPTS], re_anim_opts *o, anim_cli_run *run) {
    const cli_opt src[ANIM_CLI_RUN_OPTS] = {
        CLI_INT("--max-frames", NULL, &o->max_frames, "N", 1, CLI_INF, "stop after N driving frames", .def = "all"),
        CLI_INT("--batch", NULL, &o->batch, "N", 1, 256, "model batch"),
        CLI_ENUM("--precision", NULL, &o->precision, cli_precision_choices,
                 "model arithmetic: f32; bf16 (oneDNN bf16 kernels, AVX-512 CPUs only; pixels differ slightly from f32); "
                 "mixed (f32 with "
                 "bf16 weights in the large linear layers, for memory-bound batch-1 runs); auto (what a one-time "
                 "micro-benchmark finds fastest on this CPU: 'reenact info --cpu')"),
        CLI_THREADS_OPT(&run->threads, &run->threads_given, "cores - 2, at least 1",
                        "threads of the model stage, 0 = all cores"),
        CLI_FLAG("--no-pipeline", NULL, &o->pipeline, 0, "run the stages one after the other on one thread"),
        CLI_FLAG("--quiet", "-q", &run->quiet, 1, "no progress or summary"),
        CLI_END,
    };
    memcpy(t, src, sizeof src);
}

void anim_cli_run_apply(const anim_cli_run *run, re_anim_opts *o) {
    if (!run->threads_given) return;
    re_set_threads(run->threads);
    o->model_threads = re_get_threads();
}

/* ---- animate -------------------------------------------------------------------------------------------- */
static const char usage[] =
    "usage: reenact animate --source PHOTO (--driving VIDEO | --motion FILE) -o OUT [options]\n\n"
    "Makes a video of the person in PHOTO performing the head motion and expressions of the driving video:\n"
    "every face is aligned, encoded, z_t = z_photo + s * (z_drive(t) - z_drive(ref)), decoded and written.\n"
    "The output keeps the driver's frame rate and, unless --no-audio, its audio.\n\n";

int cmd_animate(int argc, char **argv) {
    const char *cmd = "animate";
    const char *model = cli_default_model(), *motion = NULL;
    re_anim_opts o;
    re_anim_opts_default(&o);
    int size_given = 0, steer_active = 0;
    anim_cli_run run = {0};
    cli_opt smooth[CLI_SMOOTH_OPTS], steer[CLI_STEER_OPTS], runo[ANIM_CLI_RUN_OPTS];
    cli_smooth_opts(smooth, &o.smooth_opts, NULL);
    cli_steer_opts(steer, &o.steer, NULL);
    anim_cli_run_opts(runo, &o, &run);
    cli_opt opts[] = {
        CLI_SECTION("inputs and output:"),
        CLI_STR("--model", NULL, &model, "M", "model file"),
        CLI_STR("--source", NULL, &o.source, "PHOTO", "source photo (PNG/JPEG); the largest face is used", .flags = CLI_REQUIRED),
        CLI_STR("--driving", NULL, &o.driving, "VIDEO", "driving video (anything FFmpeg reads)"),
        CLI_STR("--motion", NULL, &motion, "FILE", "driving motion from 'reenact motion extract' instead of a video"),
        CLI_STR("--output", "-o", &o.output, "OUT", "output video; .mp4 (H.264), .webm (VP9), .gif, or with --format png "
                "a directory (or pattern dir/frame_%05d.png) of PNG frames", .flags = CLI_REQUIRED),
        CLI_ENUM("--format", NULL, &o.format, format_choices, "output format", .def = "from OUT's extension"),
        CLI_INT("--size", NULL, &o.out_size, "N", 16, 4096, "side of the face-only output video", .seen = &size_given,
                .def = "--render photo: the face's size in the photo (64..1024); --render model: 256, upscaled from the "
                       "model's 64"),
        CLI_INT("--crf", NULL, &o.crf, "N", 1, 63, "video quality (H.264 up to 51, VP9 up to 63)", .def = "encoder default"),
        CLI_FLAG("--no-audio", NULL, &o.audio, 0, "do not copy the driver's audio"),
        CLI_SECTION("motion:"),
        CLI_NUM("--strength", NULL, &o.strength, "S", -RE_ANIM_STRENGTH_MAX, RE_ANIM_STRENGTH_MAX, "motion strength s"),
        CLI_ENUM("--ref", NULL, &o.ref, ref_choices, "reference driving frame: the first with a face; the one whose "
                 "landmarks are closest to the photo's (best: FOMM find_best_frame); or the first, with the head's pose "
                 "measured from that best frame (pose: the head turns about the photo's own pose; needs the model's "
                 "directions and a detected face, else first)"),
        CLI_FLAG("--smooth", NULL, &o.smooth, 1, "temporal One-Euro filtering of the driving codes against flicker "
                 "(the default)"),
        CLI_FLAG("--no-smooth", NULL, &o.smooth, 0, "no temporal filtering"),
        CLI_INCLUDE(smooth),
        CLI_FLAG("--sample", NULL, &o.sample, 1, "sampled codes (mu + sigma * eps) instead of the means (with --motion: "
                 "the photo's code only)"),
        CLI_U64("--seed", NULL, &o.seed, "N", "seed for --sample"),
        CLI_FLAG("--aligned", NULL, &o.aligned, 1, "the photo and the driving frames are already aligned face crops (no "
                 "detection)"),
        CLI_SECTION("rendering:"),
        CLI_ENUM("--render", NULL, &o.render, cli_render_choices, "photo: the photo's own pixels at its resolution, moved "
                 "by the model's motion, with generated pixels only where a warp cannot make them (open mouth, "
                 "eyelids); model: the decoded 64x64 face itself, upscaled"),
        CLI_ENUM("--field", NULL, &o.render_field, cli_field_choices, "--render photo: the motion field from the "
                 "landmarks of the two decoded faces (a thin-plate spline), or optical flow between them"),
        CLI_NUM("--residual", NULL, &o.render_opts.residual, "G", 0, 4, "--render photo: gain of the generated residual, "
                "0 = warp only"),
        CLI_NUM("--motion-scale", NULL, &o.render_opts.motion, "K", 0, 4, "--render photo: scale of the warp"),
        CLI_NUM("--eye-motion", NULL, &o.render_opts.eye_motion, "G", 0, 4, "--render photo: gain of the eyes' motion: "
                "the eyelids' opening change measured on the driver, or (--attr-drive off, a model without "
                "directions) the motion around the eyes, which the 64 px model draws faintly (lowered where it would "
                "fold the photo); 0 keeps the photo's eyes still"),
        CLI_SECTION("composition:"),
        CLI_FLAG("--paste-back", NULL, &o.paste_back, 1, "output the whole photo, animated (output = photo size, longest "
                 "side at most 1920, or --size when given)"),
        CLI_FLAG("--side-by-side", NULL, &o.side_by_side, 1, "driver | generated (with --motion the driver side is the "
                 "decoded driving code)"),
        CLI_STR("--storyboard", NULL, &o.storyboard, "PNG", "also write a storyboard: driving frames above generated ones"),
        CLI_INT("--every", NULL, &o.storyboard_every, "K", 1, 1000000, "storyboard column every K frames",
                .def = "about 8 columns"),
        CLI_SECTION("run:"),
        CLI_INCLUDE(runo),
        CLI_INCLUDE(steer),
        CLI_END,
    };
    cli_cmd c = {.name = cmd, .usage = usage, .opts = opts,
                 .footer = "exit status: 0 ok, 1 failure (no partial output is left), 2 usage error\n"};
    int rc = cli_parse(&c, argc, argv);
    if (rc != CLI_GO) return rc;
    const int quiet = run.quiet;
    anim_cli_run_apply(&run, &o);
    if (!o.source) return cli_usage_error(cmd, "--source PHOTO is required");
    if (!o.driving && !motion) return cli_usage_error(cmd, "one of --driving VIDEO or --motion FILE is required");
    if (o.driving && motion) return cli_usage_error(cmd, "give --driving or --motion, not both");
    if (!o.output) return cli_usage_error(cmd, "-o OUT is required");
    if (o.paste_back && size_given) o.paste_max_side = o.out_size;
    if (o.aligned && o.ref == RE_REF_BEST) return cli_usage_error(cmd, "--ref best needs face landmarks; it cannot be used with --aligned");

    /* inputs and outputs before any work */
    if (anim_cli_check_input(cmd, "source photo", o.source)) return RE_EXIT_FAIL;
    if (o.driving && anim_cli_check_input(cmd, "driving video", o.driving)) return RE_EXIT_FAIL;
    if (motion && anim_cli_check_input(cmd, "motion file", motion)) return RE_EXIT_FAIL;
    char pattern[PATH_MAX];
    int made_dir = 0;
    const char *outdir = NULL;
    if (o.format == RE_VIDEO_PNG_SEQ && !strchr(o.output, '%')) {
        /* a directory of PNG frames */
        outdir = o.output;
        struct stat sb;
        if (stat(outdir, &sb) != 0) {
            if (anim_cli_check_output(cmd, "output directory", outdir)) return RE_EXIT_FAIL;
            if (mkdir(outdir, 0777) != 0)
                return cli_fail(cmd, RE_OK, "cannot create output directory '%s': %s", outdir, strerror(errno));
            made_dir = 1;
        } else if (!S_ISDIR(sb.st_mode)) {
            return cli_fail(cmd, RE_OK, "--format png: output '%s' exists and is not a directory", outdir);
        }
        if (snprintf(pattern, sizeof pattern, "%s/frame_%%05d.png", outdir) >= (int)sizeof pattern)
            return cli_fail(cmd, RE_OK, "output path too long");
        o.output = pattern;
    }
    if (anim_cli_check_output(cmd, "output", o.output)) goto fail_dir;
    if (o.storyboard && anim_cli_check_output(cmd, "storyboard", o.storyboard)) goto fail_dir;

    re_model *m = NULL;
    re_motion *mo = NULL;
    if (anim_cli_load_model(cmd, model, &m)) goto fail_dir;
    {
        int rs = cli_steer_ready(cmd, &o.steer, 0, re_model_directions(m), &steer_active);
        if (rs) {
            re_model_free(m);
            if (made_dir) rmdir(outdir);
            return rs;
        }
    }
    if (motion) {
        re_status s = re_motion_load(&mo, motion);
        if (s != RE_OK) {
            cli_fail(cmd, s, "cannot use motion file '%s'", motion);
            re_model_free(m);
            goto fail_dir;
        }
        if ((s = re_motion_check_model(mo, m, motion)) != RE_OK) {
            cli_fail(cmd, s, "cannot use motion file '%s' with model '%s'", motion, model);
            re_motion_free(mo);
            re_model_free(m);
            goto fail_dir;
        }
        o.motion = mo;
    }
    re_anim_stats st;
    re_status s = anim_cli_animate("animate", quiet, m, &o, &st);
    if (st.source_faces > 1)
        fprintf(stderr, "reenact animate: warning: %d faces in '%s'; using the largest\n", st.source_faces, o.source);
    if (s == RE_OK && st.lost_frames > 0)
        fprintf(stderr, "reenact animate: warning: no face in %lld of %lld driving frames; the last face's motion "
                        "was held there\n", (long long)st.lost_frames, (long long)st.frames);
    if (s == RE_OK && st.audio_missing)
        fprintf(stderr, "reenact animate: warning: the motion file's audio source '%s' is missing or changed; "
                        "writing without audio\n", mo && mo->audio_path ? mo->audio_path : "?");
    re_motion_free(mo);
    re_model_free(m);
    if (s != RE_OK) {
        cli_fail(cmd, s, "animation failed");
        goto fail_dir;
    }
    if (!quiet) {
        printf("wrote %s: %lld frames, %dx%d, %g fps, %s; %.1f frames/s end to end (%.2f s)\n",
               outdir ? outdir : o.output, (long long)st.frames, st.out_w, st.out_h,
               (double)st.fps_num / st.fps_den, audio_str(st.audio), st.wall_s > 0 ? st.frames / st.wall_s : 0.0,
               st.wall_s);
        if (o.storyboard) printf("wrote %s: storyboard, %d columns\n", o.storyboard, st.storyboard_cols);
        printf("  reference frame %lld (%s)", (long long)st.ref_frame, o.ref == RE_REF_BEST ? "best" : "first");
        if (st.pose_ref_frame >= 0) printf(", head pose from frame %lld (best)", (long long)st.pose_ref_frame);
        printf("%s\n", o.smooth ? ", smoothed" : "");
        anim_cli_print_times(stdout, &st);
    }
    return RE_EXIT_OK;
fail_dir:
    if (made_dir) rmdir(outdir);
    return RE_EXIT_FAIL;
}
