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

int anim_cli_parse_format(const char *cmd, const char *v, re_video_format *f) {
    if (!strcmp(v, "mp4")) *f = RE_VIDEO_MP4;
    else if (!strcmp(v, "webm")) *f = RE_VIDEO_WEBM;
    else if (!strcmp(v, "gif")) *f = RE_VIDEO_GIF;
    else if (!strcmp(v, "png")) *f = RE_VIDEO_PNG_SEQ;
    else return cli_usage_error(cmd, "--format wants mp4, webm, gif or png, got '%s'", v);
    return 0;
}

/* ---- animate -------------------------------------------------------------------------------------------- */
static void help(FILE *f) {
    re_anim_opts d;
    re_anim_opts_default(&d);
    fprintf(f,
            "usage: reenact animate --source PHOTO (--driving VIDEO | --motion FILE) -o OUT [options]\n\n"
            "Makes a video of the person in PHOTO performing the head motion and expressions of the driving video:\n"
            "every face is aligned, encoded, z_t = z_photo + s * (z_drive(t) - z_drive(ref)), decoded and written.\n"
            "The output keeps the driver's frame rate and, unless --no-audio, its audio.\n\n"
            "inputs and output:\n"
            "  --model M             model file [%s]\n"
            "  --source PHOTO        source photo (PNG/JPEG); the largest face is used\n"
            "  --driving VIDEO       driving video (anything FFmpeg reads)\n"
            "  --motion FILE         driving motion from 'reenact motion extract' instead of a video\n"
            "  -o, --output OUT      output video; .mp4 (H.264), .webm (VP9), .gif, or with --format png a directory\n"
            "                        (or pattern dir/frame_%%05d.png) of PNG frames\n"
            "  --format F            mp4|webm|gif|png [from OUT's extension]\n"
            "  --size N              side of the face-only output video [--render photo: the face's size in the\n"
            "                        photo (64..1024); --render model: 256, upscaled from the model's 64]\n"
            "  --crf N               video quality (H.264 1..51, VP9 1..63) [encoder default]\n"
            "  --no-audio            do not copy the driver's audio\n"
            "motion:\n"
            "  --strength S          motion strength s [1]\n"
            "  --ref first|best      reference driving frame: the first with a face, or the one whose landmarks are\n"
            "                        closest to the photo's (FOMM find_best_frame; less identity leakage) [first]\n"
            "  --smooth, --no-smooth temporal One-Euro filtering of the driving codes against flicker [on]\n"
            "  --smooth-cutoff HZ    filter cutoff at rest [1.5]\n"
            "  --smooth-beta B       cutoff increase with motion speed [0.7]\n"
            "  --sample              sampled codes (mu + sigma * eps) instead of the means (with --motion: the\n"
            "                        photo's code only)\n"
            "  --seed N              seed for --sample [0]\n"
            "  --aligned             the photo and the driving frames are already aligned face crops (no detection)\n"
            "rendering:\n"
            "  --render photo|model  photo: the photo's own pixels at its resolution, moved by the model's motion,\n"
            "                        with generated pixels only where a warp cannot make them (open mouth, eyelids);\n"
            "                        model: the decoded 64x64 face itself, upscaled [photo]\n"
            "  --field landmarks|flow --render photo: the motion field from the landmarks of the two decoded faces\n"
            "                        (a thin-plate spline), or optical flow between them [landmarks]\n"
            "  --residual G          --render photo: gain of the generated residual, 0 = warp only (0..4) [%g]\n"
            "  --motion-scale K      --render photo: scale of the warp (0..4) [%g]\n"
            "composition:\n"
            "  --paste-back          output the whole photo, animated (output = photo size, longest side at most\n"
            "                        1920, or --size when given)\n"
            "  --side-by-side        driver | generated (with --motion the driver side is the decoded driving code)\n"
            "  --storyboard PNG      also write a storyboard: driving frames above generated ones\n"
            "  --every K             storyboard column every K frames [about 8 columns]\n"
            "run:\n"
            "  --max-frames N        stop after N driving frames [all]\n"
            "  --batch N             model batch [8]\n"
            "  --precision f32|bf16  model arithmetic; bf16 is faster on CPUs with AVX-512 BF16 (pixels differ\n"
            "                        slightly from f32) [f32]\n"
            "  --threads N           threads of the model stage (0 = all cores) [cores - 2, at least 1]\n"
            "  --no-pipeline         run the stages one after the other on one thread\n"
            "  -q, --quiet           no progress or summary\n"
            "  -h, --help            this help\n",
            cli_default_model(), d.render_opts.residual, d.render_opts.motion);
    cli_steer_help(f);
    fprintf(f, "exit status: 0 ok, 1 failure (no partial output is left), 2 usage error\n");
}

int cmd_animate(int argc, char **argv) {
    const char *cmd = "animate";
    const char *model = NULL, *motion = NULL, *fmt = NULL, *v = NULL;
    re_anim_opts o;
    re_anim_opts_default(&o);
    int quiet = 0, size_given = 0, steer_active = 0;
    long lv;
    double dv;
    for (int i = 1; i < argc; i++) {
        int r;
        if (cli_flag(argv, i, "--help", "-h")) {
            help(stdout);
            return RE_EXIT_OK;
        }
#define OPT(name, alt) ((r = cli_opt(argc, argv, &i, name, alt, &v)) != 0)
        if (OPT("--model", NULL)) { if (r < 0) return RE_EXIT_USAGE; model = v; }
        else if (OPT("--source", NULL)) { if (r < 0) return RE_EXIT_USAGE; o.source = v; }
        else if (OPT("--driving", NULL)) { if (r < 0) return RE_EXIT_USAGE; o.driving = v; }
        else if (OPT("--motion", NULL)) { if (r < 0) return RE_EXIT_USAGE; motion = v; }
        else if (OPT("--output", "-o")) { if (r < 0) return RE_EXIT_USAGE; o.output = v; }
        else if (OPT("--format", NULL)) { if (r < 0) return RE_EXIT_USAGE; fmt = v; }
        else if (OPT("--size", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_int(v, 16, 4096, &lv)) return cli_usage_error(cmd, "--size wants 16..4096, got '%s'", v);
            o.out_size = (int)lv;
            size_given = 1;
        } else if (OPT("--crf", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_int(v, 1, 63, &lv)) return cli_usage_error(cmd, "--crf wants 1..63, got '%s'", v);
            o.crf = (int)lv;
        } else if (OPT("--strength", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_float(v, -10, 10, &dv)) return cli_usage_error(cmd, "--strength wants a number in [-10,10], got '%s'", v);
            o.strength = (float)dv;
        } else if (OPT("--render", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!strcmp(v, "photo")) o.render = RE_RENDER_PHOTO;
            else if (!strcmp(v, "model")) o.render = RE_RENDER_MODEL;
            else return cli_usage_error(cmd, "--render wants photo or model, got '%s'", v);
        } else if (OPT("--field", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!strcmp(v, "landmarks")) o.render_field = RE_FIELD_LANDMARKS;
            else if (!strcmp(v, "flow")) o.render_field = RE_FIELD_FLOW;
            else return cli_usage_error(cmd, "--field wants landmarks or flow, got '%s'", v);
        } else if (OPT("--residual", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_float(v, 0, 4, &dv)) return cli_usage_error(cmd, "--residual wants a number in [0,4], got '%s'", v);
            o.render_opts.residual = (float)dv;
        } else if (OPT("--motion-scale", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_float(v, 0, 4, &dv)) return cli_usage_error(cmd, "--motion-scale wants a number in [0,4], got '%s'", v);
            o.render_opts.motion = (float)dv;
        } else if (OPT("--ref", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!strcmp(v, "first")) o.ref = RE_REF_FIRST;
            else if (!strcmp(v, "best")) o.ref = RE_REF_BEST;
            else return cli_usage_error(cmd, "--ref wants first or best, got '%s'", v);
        } else if (OPT("--smooth-cutoff", NULL)) {
            if (r < 0 || cli_smooth_option(cmd, "--smooth-cutoff", v, &o.smooth_opts)) return RE_EXIT_USAGE;
        } else if (OPT("--smooth-beta", NULL)) {
            if (r < 0 || cli_smooth_option(cmd, "--smooth-beta", v, &o.smooth_opts)) return RE_EXIT_USAGE;
        } else if (OPT("--seed", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_u64(v, &o.seed)) return cli_usage_error(cmd, "--seed wants a non-negative integer, got '%s'", v);
        } else if (OPT("--storyboard", NULL)) { if (r < 0) return RE_EXIT_USAGE; o.storyboard = v; }
        else if (OPT("--every", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_int(v, 1, 1000000, &lv)) return cli_usage_error(cmd, "--every wants a positive integer, got '%s'", v);
            o.storyboard_every = (int)lv;
        } else if (OPT("--max-frames", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_int(v, 1, LONG_MAX, &lv)) return cli_usage_error(cmd, "--max-frames wants a positive integer, got '%s'", v);
            o.max_frames = lv;
        } else if (OPT("--precision", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (strcmp(v, "f32") && strcmp(v, "bf16")) return cli_usage_error(cmd, "--precision wants f32 or bf16, got '%s'", v);
            o.precision = strcmp(v, "bf16") ? RE_PREC_F32 : RE_PREC_BF16;
        } else if (OPT("--batch", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_int(v, 1, 256, &lv)) return cli_usage_error(cmd, "--batch wants 1..256, got '%s'", v);
            o.batch = (int)lv;
        } else if (OPT("--threads", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (cli_apply_threads(cmd, v)) return RE_EXIT_USAGE;
            o.model_threads = re_get_threads();
        }
#undef OPT
        else if (cli_flag(argv, i, "--smooth", NULL)) o.smooth = 1;
        else if (cli_flag(argv, i, "--no-smooth", NULL)) o.smooth = 0;
        else if (cli_flag(argv, i, "--sample", NULL)) o.sample = 1;
        else if (cli_flag(argv, i, "--aligned", NULL)) o.aligned = 1;
        else if (cli_flag(argv, i, "--paste-back", NULL)) o.paste_back = 1;
        else if (cli_flag(argv, i, "--side-by-side", NULL)) o.side_by_side = 1;
        else if (cli_flag(argv, i, "--no-audio", NULL)) o.audio = 0;
        else if (cli_flag(argv, i, "--no-pipeline", NULL)) o.pipeline = 0;
        else if (cli_flag(argv, i, "--quiet", "-q")) quiet = 1;
        else if ((r = cli_steer_option(cmd, argc, argv, &i, &o.steer)) != 0) {
            if (r < 0) return RE_EXIT_USAGE;
        }
        else if (argv[i][0] == '-') return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        else return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
    }
    if (!o.source) return cli_usage_error(cmd, "--source PHOTO is required");
    if (!o.driving && !motion) return cli_usage_error(cmd, "one of --driving VIDEO or --motion FILE is required");
    if (o.driving && motion) return cli_usage_error(cmd, "give --driving or --motion, not both");
    if (!o.output) return cli_usage_error(cmd, "-o OUT is required");
    if (o.paste_back && size_given) o.paste_max_side = o.out_size;
    if (o.aligned && o.ref == RE_REF_BEST) return cli_usage_error(cmd, "--ref best needs face landmarks; it cannot be used with --aligned");
    if (fmt && anim_cli_parse_format(cmd, fmt, &o.format)) return RE_EXIT_USAGE;
    if (!model) model = cli_default_model();

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
    anim_cli_prog pr = {"animate", quiet, 0, 0};
    o.progress = anim_cli_progress;
    o.progress_user = &pr;
    anim_cli_install_signals();
    re_anim_stats st;
    re_status s = re_animate(m, &o, &st);
    anim_cli_progress_end(&pr);
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
        printf("  reference frame %lld (%s)%s\n", (long long)st.ref_frame, o.ref == RE_REF_BEST ? "best" : "first",
               o.smooth ? ", smoothed" : "");
        anim_cli_print_times(stdout, &st);
    }
    return RE_EXIT_OK;
fail_dir:
    if (made_dir) rmdir(outdir);
    return RE_EXIT_FAIL;
}
