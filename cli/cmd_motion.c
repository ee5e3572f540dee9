/*
 * cmd_motion.c - `reenact motion extract|info`: turn a driving video into a small reusable motion file (per-frame
 * latent deltas, fps, landmarks for --ref best, the model's checksum, the audio source's path; docs/FORMAT.md
 * "Motion file"), so one driver can animate many photos with `reenact animate --motion`; and describe such a file.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anim_cli.h"
#include "cli.h"

static const char usage[] =
    "usage: reenact motion extract --driving VIDEO -o OUT.motion [options]\n"
    "       reenact motion info FILE.motion\n\n"
    "extract: tracks and aligns the face in every frame of VIDEO, encodes it, and stores the motion as latent\n"
    "deltas z(t) - z(ref) (ref = the first frame with a face), with the frame rate, normalized landmarks (for\n"
    "animate --ref best), the model's checksum (a motion only works with the model that made it) and the\n"
    "video's audio stream (copied, not re-encoded; animate --motion puts it in its output). Frames without a\n"
    "face hold the last face's code.\n\n";

/* extract's options (also what `reenact motion --help` shows) */
typedef struct extract_args {
    const char *model, *driving, *out;
    int f32;
    re_anim_opts o;
    anim_cli_run run;
    cli_opt runo[ANIM_CLI_RUN_OPTS];
} extract_args;

static int extract_parse(extract_args *a, const char *name, int argc, char **argv) {
    memset(a, 0, sizeof *a);
    a->model = cli_default_model();
    re_anim_opts_default(&a->o);
    anim_cli_run_opts(a->runo, &a->o, &a->run);
    cli_opt opts[] = {
        CLI_SECTION("options:"),
        CLI_STR("--model", NULL, &a->model, "M", "model file"),
        CLI_STR("--driving", NULL, &a->driving, "VIDEO", "driving video", .flags = CLI_REQUIRED),
        CLI_STR("--output", "-o", &a->out, "OUT", "motion file to write (atomically)", .flags = CLI_REQUIRED),
        CLI_FLAG("--f32", NULL, &a->f32, 1, "store deltas as F32 instead of F16 (twice the size)"),
        CLI_FLAG("--no-audio", NULL, &a->o.audio, 0, "do not store the video's audio"),
        CLI_FLAG("--aligned", NULL, &a->o.aligned, 1, "the frames are already aligned face crops (no detection, no "
                 "landmarks)"),
        CLI_INCLUDE(a->runo),
        CLI_END,
    };
    cli_cmd c = {.name = name, .usage = usage, .opts = opts};
    const int rc = cli_parse(&c, argc, argv);
    if (rc == CLI_GO) anim_cli_run_apply(&a->run, &a->o);
    return rc;
}

static int motion_info(int argc, char **argv) {
    const char *cmd = "motion info";
    cli_list pos = {0};
    cli_opt none[] = {CLI_END};
    cli_cmd c = {.name = cmd, .usage = usage, .opts = none, .pos = &pos, .max_pos = 1,
                 .pos_error = "one motion file expected"};
    const int rc = cli_parse(&c, argc, argv);
    if (rc != CLI_GO) return rc;
    const char *path = pos.n ? pos.v[0] : NULL;
    cli_list_free(&pos);
    if (!path) return cli_usage_error(cmd, "usage: reenact motion info FILE.motion");
    if (anim_cli_check_input(cmd, "motion file", path)) return RE_EXIT_FAIL;
    re_motion *mo = NULL;
    re_status s = re_motion_load(&mo, path);
    if (s != RE_OK) return cli_fail(cmd, s, "cannot read motion file '%s'", path);
    int64_t found = 0;
    for (int64_t t = 0; t < mo->frames; t++) found += mo->found[t];
    double maxd = 0;
    for (size_t i = 0; i < (size_t)mo->frames * (size_t)mo->latent; i++) {
        double a = mo->deltas[i] < 0 ? -mo->deltas[i] : mo->deltas[i];
        if (a > maxd) maxd = a;
    }
    printf("motion:     %s\n", path);
    printf("frames:     %lld at %d/%d fps (%.2f s), face in %lld\n", (long long)mo->frames, mo->fps_num, mo->fps_den,
           (double)mo->frames * mo->fps_den / mo->fps_num, (long long)found);
    printf("latent:     %d (model input %dx%d), reference frame %d, max |delta| %.3f\n", mo->latent, mo->model_res,
           mo->model_res, mo->ref_frame, maxd);
    printf("landmarks:  %s\n", mo->landmarks ? "yes (animate --ref best works)" : "no");
    printf("model:      sha256 %s\n", mo->model_sha256[0] ? mo->model_sha256 : "(unknown)");
    printf("driving:    %s\n", mo->driving_name ? mo->driving_name : "(unknown)");
    if (mo->audio) printf("audio:      embedded (Matroska, %zu bytes)\n", mo->audio_bytes);
    else printf("audio:      %s\n", mo->audio_path ? mo->audio_path : "(none)");
    re_motion_free(mo);
    return RE_EXIT_OK;
}

static int motion_extract(int argc, char **argv) {
    const char *cmd = "motion extract";
    extract_args a;
    int rc = extract_parse(&a, cmd, argc, argv);
    if (rc != CLI_GO) return rc;
    const char *model = a.model, *driving = a.driving, *out = a.out;
    const int f32 = a.f32, quiet = a.run.quiet;
    re_anim_opts o = a.o;
    if (!driving) return cli_usage_error(cmd, "--driving VIDEO is required");
    if (!out) return cli_usage_error(cmd, "-o OUT.motion is required");
    if (anim_cli_check_input(cmd, "driving video", driving)) return RE_EXIT_FAIL;
    if (anim_cli_check_output(cmd, "motion file", out)) return RE_EXIT_FAIL;
    re_model *m = NULL;
    if (anim_cli_load_model(cmd, model, &m)) return RE_EXIT_FAIL;
    anim_cli_prog pr = {"motion extract", quiet, 0, 0};
    o.progress = anim_cli_progress;
    o.progress_user = &pr;
    anim_cli_install_signals();
    re_motion *mo = NULL;
    re_anim_stats st;
    re_status s = re_motion_extract(m, driving, &o, &mo, &st);
    anim_cli_progress_end(&pr);
    re_model_free(m);
    if (s != RE_OK) return cli_fail(cmd, s, "extracting the motion of '%s' failed", driving);
    s = re_motion_save(mo, out, !f32);
    if (s != RE_OK) {
        re_motion_free(mo);
        return cli_fail(cmd, s, "cannot write '%s'", out);
    }
    if (st.audio == RE_AUDIO_SKIPPED)
        fprintf(stderr, "reenact motion extract: warning: the audio of '%s' could not be copied (unsupported codec "
                        "or larger than %lld MiB); the motion file has no audio\n", driving,
                (long long)(RE_MOTION_MAX_AUDIO >> 20));
    if (st.lost_frames > 0)
        fprintf(stderr, "reenact motion extract: warning: no face in %lld of %lld frames; the last face's code was "
                        "held there\n", (long long)st.lost_frames, (long long)st.frames);
    if (!quiet) {
        char audio[64];
        if (mo->audio) snprintf(audio, sizeof audio, "audio embedded (%zu bytes)", mo->audio_bytes);
        else snprintf(audio, sizeof audio, "no audio");
        printf("wrote %s: %lld frames at %d/%d fps, reference frame %d, %s, %s; %.1f frames/s\n", out,
               (long long)mo->frames, mo->fps_num, mo->fps_den, mo->ref_frame, f32 ? "F32" : "F16", audio,
               st.wall_s > 0 ? st.frames / st.wall_s : 0.0);
        anim_cli_print_times(stdout, &st);
    }
    re_motion_free(mo);
    return RE_EXIT_OK;
}

int cmd_motion(int argc, char **argv) {
    if (argc < 2) return cli_usage_error("motion", "expected a subcommand: extract or info");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        extract_args a;
        return extract_parse(&a, "motion", argc, argv);
    }
    if (!strcmp(argv[1], "extract")) return motion_extract(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info")) return motion_info(argc - 1, argv + 1);
    return cli_usage_error("motion", "unknown subcommand '%s' (expected extract or info)", argv[1]);
}
