/*
 * cmd_demo.c - `reenact demo [-o DIR]`: the README's one-command demo. Animates the photo that ships next to the
 * bundled model (models/demo_photo.png: NASA's public-domain portrait of astronaut Eileen Collins, 512x512) at its
 * own resolution with the motion that ships there (models/demo.motion), and writes DIR/demo.mp4 and
 * DIR/demo_storyboard.png. Without demo_photo.png it animates models/demo_face.png (a synthetic face decoded by
 * the model, already an aligned crop), and without that the model's mean face (z = 0).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anim_cli.h"
#include "cli.h"

static const char usage[] =
    "usage: reenact demo [-o DIR] [options]\n\n"
    "Animates the demo photo shipped with the model (demo_photo.png, at its own resolution) with "
    "the shipped\ndemo motion and writes DIR/demo.mp4 and DIR/demo_storyboard.png (driving codes "
    "as the model sees them\nabove the generated frames). Without demo_photo.png: demo_face.png, "
    "else the model's mean face.\n\n";

/* Decode z = 0 (the center of the latent space: the model's "mean face") and save it upscaled to 256x256. */
static re_status mean_face(re_model *m, const char *path) {
    const re_config *c = re_model_config(m);
    re_runner *r = NULL;
    float *z = calloc((size_t)c->latent, sizeof *z);
    float *x = malloc((size_t)c->channels * c->res * c->res * sizeof *x);
    re_image small = {0}, big = {0};
    re_status s = RE_ERR_NOMEM;
    if (!z || !x) goto done;
    if ((s = re_runner_create(&r, m, 1)) != RE_OK) goto done;
    if ((s = re_decode(r, z, 1, x)) != RE_OK) goto done;
    if ((s = re_image_from_chw(&small, x, c->res, c->res)) != RE_OK) goto done;
    if ((s = re_image_resize(&small, &big, 256, 256)) != RE_OK) goto done;
    s = re_image_save_png(&big, path);
done:
    re_runner_free(r);
    free(z);
    free(x);
    re_image_free(&small);
    re_image_free(&big);
    return s;
}

int cmd_demo(int argc, char **argv) {
    const char *cmd = "demo";
    const char *dir = "reenact-demo", *model = cli_default_model();
    int quiet = 0, threads = 0, threads_given = 0;
    cli_opt opts[] = {
        CLI_SECTION("options:"),
        CLI_STR("--output", "-o", &dir, "DIR", "output directory, created if missing"),
        CLI_STR("--model", NULL, &model, "M", "model file (demo_photo.png, demo_face.png and demo.motion are looked up "
                "next to it)"),
        CLI_THREADS_OPT(&threads, &threads_given, "cores - 2, at least 1", "threads of the model stage, 0 = all cores"),
        CLI_FLAG("--quiet", "-q", &quiet, 1, "no progress"),
        CLI_END,
    };
    cli_cmd c = {.name = cmd, .opts = opts, .usage = usage};
    const int prc = cli_parse(&c, argc, argv);
    if (prc != CLI_GO) return prc;
    if (threads_given) {
        re_set_threads(threads);
        threads = re_get_threads();
    }
    if (cli_model_missing_help(cmd, model)) return RE_EXIT_FAIL;
    if (access(model, R_OK) != 0)
        return cli_fail(cmd, RE_OK, "the bundled model '%s' is missing (%s); the demo needs it. Build or fetch the "
                        "model (see README), or name one with --model or $REENACT_MODEL", model, strerror(errno));
    char mdir[PATH_MAX], photo[PATH_MAX], face[PATH_MAX], motion[PATH_MAX], out[PATH_MAX], board[PATH_MAX], gen[PATH_MAX];
    snprintf(mdir, sizeof mdir, "%s", model);
    char *slash = strrchr(mdir, '/');
    if (slash) *slash = 0;
    else snprintf(mdir, sizeof mdir, ".");
    if (snprintf(photo, sizeof photo, "%s/demo_photo.png", mdir) >= (int)sizeof photo ||
        snprintf(face, sizeof face, "%s/demo_face.png", mdir) >= (int)sizeof face ||
        snprintf(motion, sizeof motion, "%s/demo.motion", mdir) >= (int)sizeof motion ||
        snprintf(out, sizeof out, "%s/demo.mp4", dir) >= (int)sizeof out ||
        snprintf(board, sizeof board, "%s/demo_storyboard.png", dir) >= (int)sizeof board ||
        snprintf(gen, sizeof gen, "%s/demo_face.png", dir) >= (int)sizeof gen)
        return cli_fail(cmd, RE_OK, "path too long");
    if (access(motion, R_OK) != 0)
        return cli_fail(cmd, RE_OK, "the demo motion '%s' is missing (%s); it ships next to the model. Make one with "
                        "'reenact motion extract --model %s --driving CLIP.mp4 -o %s'", motion, strerror(errno),
                        model, motion);
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        if (mkdir(dir, 0777) != 0) return cli_fail(cmd, RE_OK, "cannot create '%s': %s", dir, strerror(errno));
    } else if (!S_ISDIR(sb.st_mode)) {
        return cli_fail(cmd, RE_OK, "'%s' exists and is not a directory", dir);
    }
    if (anim_cli_check_output(cmd, "demo video", out)) return RE_EXIT_FAIL;

    re_model *m = NULL;
    re_motion *mo = NULL;
    int rc = RE_EXIT_FAIL;
    if (anim_cli_load_model(cmd, model, &m)) return RE_EXIT_FAIL;
    re_status s = re_motion_load(&mo, motion);
    if (s != RE_OK) {
        cli_fail(cmd, s, "cannot use the demo motion '%s'", motion);
        goto done;
    }
    const char *src = photo;
    int aligned = 0;
    if (access(photo, R_OK) != 0) {
        src = face;
        aligned = 1;
    }
    if (aligned && access(face, R_OK) != 0) {
        s = mean_face(m, gen);
        if (s != RE_OK) {
            cli_fail(cmd, s, "cannot make a demo face at '%s'", gen);
            goto done;
        }
        if (!quiet) fprintf(stderr, "reenact demo: '%s' not found; using the model's mean face (%s)\n", face, gen);
        src = gen;
    }
    re_anim_opts o;
    re_anim_opts_default(&o);
    o.source = src;
    o.motion = mo;
    o.aligned = aligned;   /* the demo face is a crop the model itself produced */
    o.paste_back = !aligned;  /* the demo photo: the whole photo, animated at its own resolution */
    o.model_threads = threads;
    o.output = out;
    o.storyboard = board;
    re_anim_stats st;
    s = anim_cli_animate("demo", quiet, m, &o, &st);
    if (s != RE_OK) {
        cli_fail(cmd, s, "the demo failed");
        goto done;
    }
    if (st.audio_missing && !quiet)
        fprintf(stderr, "reenact demo: note: the demo motion's audio source is not on this machine; no audio\n");
    printf("demo video:      %s (%lld frames, %dx%d, %g fps)\n", out, (long long)st.frames, st.out_w, st.out_h,
           (double)st.fps_num / st.fps_den);
    printf("demo storyboard: %s\n", board);
    rc = RE_EXIT_OK;
done:
    re_motion_free(mo);
    re_model_free(m);
    return rc;
}
