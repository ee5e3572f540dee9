/*
 * steer_cli.c - motion-control options of animate, eval and edit (steer_cli.h), declared once in an option table
 * (opt.h), and their check against the model's directions.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "steer_cli.h"

static const cli_choice space_choices[] = {{"learned", RE_MSPACE_LEARNED}, {"full", RE_MSPACE_FULL}, {NULL, 0}};
static const cli_choice drive_choices[] = {{"on", 1}, {"off", 0}, {NULL, 0}};
static const cli_choice mouth_choices[] = {{"absolute", 1}, {"relative", 0}, {NULL, 0}};

void cli_steer_opts(cli_opt t[CLI_STEER_OPTS], re_steer_opts *o, int *seen) {
    const cli_opt src[CLI_STEER_OPTS] = {
        CLI_SECTION("motion controls (need a model with directions, e.g. the bundled one; see 'reenact info'):"),
        CLI_NUM("--lips", NULL, &o->lips, "R", 0, 3, "scale the driver's mouth motion (0 freezes it, 1 as driven, 1.5 more)", .seen = seen),
        CLI_NUM("--eyes", NULL, &o->eyes, "R", 0, 3, "scale the driver's eye motion", .seen = seen),
        /* smile and brows in sigmas here; cli_steer_ready converts them to attribute units */
        CLI_NUM("--smile", NULL, &o->offset[RE_ATTR_SMILE], "S", -3, 3, "constant smile, in standard deviations of smiles in talking-head video", .seen = seen),
        CLI_NUM("--brows", NULL, &o->offset[RE_ATTR_BROWS], "S", -3, 3, "constant brow raise, in standard deviations", .seen = seen),
        CLI_NUM("--yaw", NULL, &o->offset[RE_ATTR_YAW], "DEG", -30, 30, "constant head turn (approximate degrees, > 0 towards image right)", .seen = seen),
        CLI_NUM("--pitch", NULL, &o->offset[RE_ATTR_PITCH], "DEG", -30, 30, "constant head tilt (approximate degrees, > 0 down)", .seen = seen),
        CLI_NUM("--roll", NULL, &o->offset[RE_ATTR_ROLL], "DEG", -30, 30, "constant in-plane tilt (the model barely has it; see the model card)", .seen = seen),
        CLI_FLAG("--expression-only", NULL, &o->region, RE_REGION_EXPRESSION, "animate the mouth, smile, eyes and brows only (no head motion)", .seen = seen, .excl = 1),
        CLI_FLAG("--pose-only", NULL, &o->region, RE_REGION_POSE, "animate the head pose only (yaw, pitch, roll)", .seen = seen, .excl = 1),
        CLI_FLAG("--lips-only", NULL, &o->region, RE_REGION_LIPS, "animate the mouth and smile only", .seen = seen, .excl = 1),
        CLI_FLAG("--eyes-only", NULL, &o->region, RE_REGION_EYES, "animate the eyes and brows only", .seen = seen, .excl = 1),
        CLI_ENUM("--motion-space", NULL, &o->space, space_choices, "the driver's other motion projected on the learned space of motion, or whole", .seen = seen),
        CLI_ENUM("--attr-drive", NULL, &o->attr_drive, drive_choices, "drive mouth, eyes, brows and pose from the driver's landmarks", .seen = seen),
        CLI_ENUM("--mouth", NULL, &o->mouth_absolute, mouth_choices, "open the mouth as far as the driver's (from the photo's own mouth) or by the driver's change since its reference frame", .seen = seen),
        CLI_FLAG("--debias", NULL, &o->debias, 1, "remove the model's measured smile bias", .seen = seen),
        CLI_END,
    };
    memcpy(t, src, sizeof src);
}

int cli_steer_ready(const char *cmd, re_steer_opts *o, int require_dirs, const re_directions *d, int *active) {
    *active = 0;
    if (!d) {
        if (require_dirs || re_steer_needs_directions(o)) {
            fprintf(stderr, "reenact %s: the motion controls need a model with directions, and this one has none; use "
                            "the bundled model (%s) or add them with 'reenact directions'\n", cmd, cli_default_model());
            return RE_EXIT_USAGE;
        }
        return 0;
    }
    /* smile and brows offsets come in sigmas; the library takes attribute units */
    o->offset[RE_ATTR_SMILE] *= d->sigma[RE_ATTR_SMILE];
    o->offset[RE_ATTR_BROWS] *= d->sigma[RE_ATTR_BROWS];
    re_status st = re_steer_opts_check(o, d);
    if (st != RE_OK) return cli_fail(cmd, st, "motion controls");
    if (o->debias && !isfinite(d->smile_bias)) {
        fprintf(stderr, "reenact %s: --debias needs a calibrated model (its smile bias is not measured); run 'reenact "
                        "directions' with --faces\n", cmd);
        return RE_EXIT_USAGE;
    }
    *active = re_steer_active(o);
    return 0;
}
