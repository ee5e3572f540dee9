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

static void help(FILE *f) {
    fprintf(f,
            "usage: reenact motion extract --driving VIDEO -o OUT.motion [options]\n"
            "       reenact motion info FILE.motion\n\n"
            "extract: tracks and aligns the face in every frame of VIDEO, encodes it, and stores the motion as latent\n"
            "deltas z(t) - z(ref) (ref = the first frame with a face), with the frame rate, normalized landmarks (for\n"
            "animate --ref best), the model's checksum (a motion only works with the model that made it) and the\n"
            "video's audio stream (copied, not re-encoded; animate --motion puts it in its output). Frames without a\n"
            "face hold the last face's code.\n\n"
            "options:\n"
            "  --model M          model file [%s]\n"
            "  --driving VIDEO    driving video\n"
            "  -o, --output OUT   motion file to write (atomically)\n"
            "  --f32              store deltas as F32 instead of F16 (twice the size)\n"
            "  --no-audio         do not store the video's audio\n"
            "  --aligned          the frames are already aligned face crops (no detection, no landmarks)\n"
            "  --max-frames N     stop after N frames [all]\n"
            "  --batch N          model batch [8]\n"
            "  --precision f32|bf16  model arithmetic (bf16: faster on CPUs with AVX-512 BF16) [f32]\n"
            "  --threads N        threads of the model stage (0 = all cores) [cores - 2, at least 1]\n"
            "  --no-pipeline      run the stages one after the other on one thread\n"
            "  -q, --quiet        no progress or summary\n"
            "  -h, --help         this help\n",
            cli_default_model());
}

static int motion_info(int argc, char **argv) {
    const char *cmd = "motion info";
    if (argc != 2 || argv[1][0] == '-') {
        if (argc == 2 && cli_flag(argv, 1, "--help", "-h")) {
            help(stdout);
            return RE_EXIT_OK;
        }
        return cli_usage_error("motion", "usage: reenact motion info FILE.motion");
    }
    if (anim_cli_check_input(cmd, "motion file", argv[1])) return RE_EXIT_FAIL;
    re_motion *mo = NULL;
    re_status s = re_motion_load(&mo, argv[1]);
    if (s != RE_OK) return cli_fail(cmd, s, "cannot read motion file '%s'", argv[1]);
    int64_t found = 0;
    for (int64_t t = 0; t < mo->frames; t++) found += mo->found[t];
    double maxd = 0;
    for (size_t i = 0; i < (size_t)mo->frames * (size_t)mo->latent; i++) {
        double a = mo->deltas[i] < 0 ? -mo->deltas[i] : mo->deltas[i];
        if (a > maxd) maxd = a;
    }
    printf("motion:     %s\n", argv[1]);
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
    const char *model = NULL, *driving = NULL, *out = NULL, *v = NULL;
    int f32 = 0, quiet = 0;
    long lv;
    re_anim_opts o;
    re_anim_opts_default(&o);
    for (int i = 1; i < argc; i++) {
        int r;
        if (cli_flag(argv, i, "--help", "-h")) {
            help(stdout);
            return RE_EXIT_OK;
        }
#define OPT(name, alt) ((r = cli_opt(argc, argv, &i, name, alt, &v)) != 0)
        if (OPT("--model", NULL)) { if (r < 0) return RE_EXIT_USAGE; model = v; }
        else if (OPT("--driving", NULL)) { if (r < 0) return RE_EXIT_USAGE; driving = v; }
        else if (OPT("--output", "-o")) { if (r < 0) return RE_EXIT_USAGE; out = v; }
        else if (OPT("--max-frames", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_int(v, 1, LONG_MAX, &lv)) return cli_usage_error("motion", "--max-frames wants a positive integer, got '%s'", v);
            o.max_frames = lv;
        } else if (OPT("--precision", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (strcmp(v, "f32") && strcmp(v, "bf16")) return cli_usage_error("motion", "--precision wants f32 or bf16, got '%s'", v);
            o.precision = strcmp(v, "bf16") ? RE_PREC_F32 : RE_PREC_BF16;
        } else if (OPT("--batch", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_int(v, 1, 256, &lv)) return cli_usage_error("motion", "--batch wants 1..256, got '%s'", v);
            o.batch = (int)lv;
        } else if (OPT("--threads", NULL)) {
            if (r < 0) return RE_EXIT_USAGE;
            if (cli_apply_threads("motion", v)) return RE_EXIT_USAGE;
            o.model_threads = re_get_threads();
        }
#undef OPT
        else if (cli_flag(argv, i, "--f32", NULL)) f32 = 1;
        else if (cli_flag(argv, i, "--no-audio", NULL)) o.audio = 0;
        else if (cli_flag(argv, i, "--aligned", NULL)) o.aligned = 1;
        else if (cli_flag(argv, i, "--no-pipeline", NULL)) o.pipeline = 0;
        else if (cli_flag(argv, i, "--quiet", "-q")) quiet = 1;
        else if (argv[i][0] == '-') return cli_usage_error("motion", "unknown option '%s'", argv[i]);
        else return cli_usage_error("motion", "unexpected argument '%s'", argv[i]);
    }
    if (!driving) return cli_usage_error("motion", "--driving VIDEO is required");
    if (!out) return cli_usage_error("motion", "-o OUT.motion is required");
    if (!model) model = cli_default_model();
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
    if (cli_flag(argv, 1, "--help", "-h")) {
        help(stdout);
        return RE_EXIT_OK;
    }
    if (!strcmp(argv[1], "extract")) return motion_extract(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info")) return motion_info(argc - 1, argv + 1);
    return cli_usage_error("motion", "unknown subcommand '%s' (expected extract or info)", argv[1]);
}
