/*
 * cmd_edit.c - `reenact edit`: change a still photo's expression or pose with the motion directions
 * (include/reenact/directions.h): --smile, --brows, --yaw, --pitch, --roll. It is `animate` on a one-frame motion that
 * does not move, with the constant offsets of the motion controls, so the same renderer (the photo's own pixels,
 * warped at full resolution, by default) and the same paste-back make the picture. The PNG is written atomically.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anim_cli.h"
#include "cli.h"
#include "steer_cli.h"

static const char usage[] =
    "usage: reenact edit --source PHOTO -o OUT.png [--smile S] [--brows S] [--yaw DEG] [--pitch "
    "DEG] [--roll DEG]\n\n"
    "Changes the expression or pose of the face in PHOTO with the model's calibrated directions "
    "and writes\nthe whole photo (or, with --face-only, the aligned face) as a PNG.\n\n";
static const char footer[] =
    "exit status: 0 ok, 1 failure (nothing is written), 2 usage error\n";

int cmd_edit(int argc, char **argv) {
    const char *cmd = "edit", *model = NULL, *out = NULL;
    re_anim_opts o;
    re_anim_opts_default(&o);
    o.paste_back = 1;
    o.smooth = 0;
    o.audio = 0;
    o.pipeline = 0;
    o.steer.attr_drive = 0;
    int quiet = 0, active = 0, any = 0, size_given = 0;
    model = cli_default_model();
    cli_opt steer[CLI_STEER_OPTS];
    cli_steer_opts(steer, &o.steer, &any);
    cli_opt opts[] = {
        CLI_SECTION("options:"),
        CLI_STR("--model", NULL, &model, "M", "model file (needs directions)"),
        CLI_STR("--source", NULL, &o.source, "PHOTO", "photo (PNG or JPEG)", .flags = CLI_REQUIRED),
        CLI_STR("--output", "-o", &out, "OUT", "PNG to write (atomically)", .flags = CLI_REQUIRED),
        CLI_ENUM("--render", NULL, &o.render, cli_render_choices, "photo (the photo's pixels, warped) or model (the "
                 "decoded face)"),
        CLI_FLAG("--face-only", NULL, &o.paste_back, 0, "write the aligned face crop instead of the whole photo"),
        CLI_INT("--size", NULL, &o.out_size, "N", 16, 4096, "side of the face crop with --face-only, or longest side of "
                "the photo", .def = "native", .seen = &size_given),
        CLI_FLAG("--quiet", "-q", &quiet, 1, "no summary"),
        CLI_INCLUDE(steer),
        CLI_TEXT("  (edit takes --smile, --brows, --yaw, --pitch, --roll and --debias; the others act on a driving "
                 "video)"),
        CLI_END,
    };
    cli_cmd c = {.name = cmd, .opts = opts, .usage = usage, .footer = footer};
    const int prc = cli_parse(&c, argc, argv);
    if (prc != CLI_GO) return prc;
    if (size_given) o.paste_max_side = o.out_size;
    if (!o.source) return cli_usage_error(cmd, "--source PHOTO is required");
    if (!out) return cli_usage_error(cmd, "-o OUT.png is required");
    if (!any) return cli_usage_error(cmd, "nothing to change: give at least one of --smile, --brows, --yaw, --pitch, --roll");
    /* the motion controls that act on a driver make no sense on a still photo */
    if (o.steer.region != RE_REGION_ALL || o.steer.lips != 1 || o.steer.eyes != 1 || o.steer.attr_drive ||
        o.steer.space != RE_MSPACE_LEARNED || !o.steer.mouth_absolute)
        return cli_usage_error(cmd, "edit takes --smile, --brows, --yaw, --pitch, --roll and --debias; the other motion "
                               "controls act on a driving video (reenact animate)");
    if (anim_cli_check_input(cmd, "photo", o.source) || anim_cli_check_output(cmd, "output", out)) return RE_EXIT_FAIL;

    re_model *m = NULL;
    re_motion *mo = NULL;
    int rc = RE_EXIT_FAIL;
    char tmpdir[4096] = "", pattern[4200], frame[4200];
    if (anim_cli_load_model(cmd, model, &m)) return RE_EXIT_FAIL;
    if ((rc = cli_steer_ready(cmd, &o.steer, 1, re_model_directions(m), &active)) != 0) goto done;
    rc = RE_EXIT_FAIL;
    /* a one-frame motion that does not move: only the offsets change the face */
    const re_config *cfg = re_model_config(m);
    re_status s = re_motion_create(&mo, cfg->latent, 1, 0);
    if (s != RE_OK) { cli_fail(cmd, s, "motion"); goto done; }
    mo->fps_num = 25;
    mo->fps_den = 1;
    mo->found[0] = 1;
    mo->model_res = cfg->res;
    o.motion = mo;
    /* the frame goes to a private folder beside OUT, then is renamed onto OUT */
    if (snprintf(tmpdir, sizeof tmpdir, "%s.tmp.XXXXXX", out) >= (int)sizeof tmpdir || !mkdtemp(tmpdir)) {
        cli_fail(cmd, RE_OK, "cannot create a temporary folder beside '%s': %s", out, strerror(errno));
        tmpdir[0] = 0;
        goto done;
    }
    snprintf(pattern, sizeof pattern, "%s/frame_%%05d.png", tmpdir);
    snprintf(frame, sizeof frame, "%s/frame_00001.png", tmpdir);
    o.output = pattern;
    o.format = RE_VIDEO_PNG_SEQ;
    re_anim_stats st;
    if ((s = re_animate(m, &o, &st)) != RE_OK) { cli_fail(cmd, s, "cannot edit '%s'", o.source); goto done; }
    if (rename(frame, out) != 0) {
        cli_fail(cmd, RE_OK, "cannot write '%s': %s", out, strerror(errno));
        goto done;
    }
    if (!quiet) {
        printf("wrote %s (", out);
        int first = 1;
        for (int k = 0; k < RE_ATTR_COUNT; k++) {
            if (o.steer.offset[k] == 0) continue;
            const re_directions *d = re_model_directions(m);
            const int sig = k == RE_ATTR_SMILE || k == RE_ATTR_BROWS;
            printf("%s%s %+g%s", first ? "" : ", ", re_attr_name(k), sig ? o.steer.offset[k] / d->sigma[k] : o.steer.offset[k],
                   sig ? " sigma" : " deg");
            first = 0;
        }
        if (o.steer.debias) printf("%sdebiased", first ? "" : ", ");
        printf(")\n");
    }
    rc = RE_EXIT_OK;
done:
    if (tmpdir[0]) {
        unlink(frame);
        rmdir(tmpdir);
    }
    re_motion_free(mo);
    re_model_free(m);
    return rc;
}
