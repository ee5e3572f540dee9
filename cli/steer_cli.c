/*
 * steer_cli.c - motion-control options of animate, eval and edit (steer_cli.h), declared once in a table.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "steer_cli.h"

typedef enum kind { K_MULT, K_OFFSET_SIGMA, K_OFFSET_DEG, K_REGION, K_SPACE, K_DRIVE, K_MOUTH, K_DEBIAS } kind;

typedef struct opt {
    const char *name;
    kind k;
    int target;       /* attribute or region */
    double lo, hi;
    const char *help;
} opt;

static const opt opts[] = {
    {"--lips", K_MULT, RE_ATTR_MOUTH, 0, 3, "R  scale the driver's mouth motion (0 freezes it, 1 as driven, 1.5 more) [1]"},
    {"--eyes", K_MULT, RE_ATTR_EYE_L, 0, 3, "R  scale the driver's eye motion [1]"},
    {"--smile", K_OFFSET_SIGMA, RE_ATTR_SMILE, -3, 3, "S  constant smile, in standard deviations of smiles in talking-head video [0]"},
    {"--brows", K_OFFSET_SIGMA, RE_ATTR_BROWS, -3, 3, "S  constant brow raise, in standard deviations [0]"},
    {"--yaw", K_OFFSET_DEG, RE_ATTR_YAW, -30, 30, "DEG  constant head turn (approximate degrees, > 0 towards image right) [0]"},
    {"--pitch", K_OFFSET_DEG, RE_ATTR_PITCH, -30, 30, "DEG  constant head tilt (approximate degrees, > 0 down) [0]"},
    {"--roll", K_OFFSET_DEG, RE_ATTR_ROLL, -30, 30, "DEG  constant in-plane tilt (the model barely has it; see the model card) [0]"},
    {"--expression-only", K_REGION, RE_REGION_EXPRESSION, 0, 0, "   animate the mouth, smile, eyes and brows only (no head motion)"},
    {"--pose-only", K_REGION, RE_REGION_POSE, 0, 0, "   animate the head pose only (yaw, pitch, roll)"},
    {"--lips-only", K_REGION, RE_REGION_LIPS, 0, 0, "   animate the mouth and smile only"},
    {"--eyes-only", K_REGION, RE_REGION_EYES, 0, 0, "   animate the eyes and brows only"},
    {"--motion-space", K_SPACE, 0, 0, 0, "learned|full  the driver's other motion projected on the learned space of motion, or whole [learned]"},
    {"--attr-drive", K_DRIVE, 0, 0, 0, "on|off  drive mouth, eyes, brows and pose from the driver's landmarks [on]"},
    {"--mouth", K_MOUTH, 0, 0, 0, "absolute|relative  open the mouth as far as the driver's (from the photo's own mouth) or by the driver's change since its reference frame [absolute]"},
    {"--debias", K_DEBIAS, 0, 0, 0, "   remove the model's measured smile bias"},
};
#define N_OPTS ((int)(sizeof opts / sizeof opts[0]))

void cli_steer_help(FILE *f) {
    fprintf(f, "motion controls (need a model with directions, e.g. the bundled one; see 'reenact info'):\n");
    for (int i = 0; i < N_OPTS; i++) {
        /* help = "VALUE  text", or "   text" for a flag */
        const char *h = opts[i].help, *sp = strstr(h, "  ");
        char head[80];
        if (h[0] == ' ') snprintf(head, sizeof head, "%s", opts[i].name);
        else snprintf(head, sizeof head, "%s %.*s", opts[i].name, (int)(sp ? sp - h : 0), h);
        const char *text = h[0] == ' ' ? h + 3 : sp ? sp + 2 : h;
        if (strlen(head) > 22) fprintf(f, "  %s\n  %-22s %s\n", head, "", text);
        else fprintf(f, "  %-22s %s\n", head, text);
    }
}

int cli_steer_option(const char *cmd, int argc, char **argv, int *i, re_steer_opts *o) {
    const char *arg = argv[*i];
    for (int q = 0; q < N_OPTS; q++) {
        const opt *p = &opts[q];
        const size_t nl = strlen(p->name);
        if (strncmp(arg, p->name, nl) != 0 || (arg[nl] != 0 && arg[nl] != '=')) continue;
        const int takes = p->k != K_REGION && p->k != K_DEBIAS;
        const char *v = NULL;
        if (takes) {
            int r = cli_opt(argc, argv, i, p->name, NULL, &v);
            if (r < 0) return -1;
        } else if (arg[nl] == '=') {
            cli_usage_error(cmd, "%s takes no value", p->name);
            return -1;
        }
        double x;
        switch (p->k) {
        case K_MULT:
            if (!cli_parse_float(v, p->lo, p->hi, &x)) {
                cli_usage_error(cmd, "%s must be a number in [%g, %g], got '%s'", p->name, p->lo, p->hi, v);
                return -1;
            }
            if (p->target == RE_ATTR_MOUTH) o->lips = (float)x;
            else o->eyes = (float)x;
            break;
        case K_OFFSET_SIGMA:
        case K_OFFSET_DEG:
            if (!cli_parse_float(v, p->lo, p->hi, &x)) {
                cli_usage_error(cmd, "%s must be a number in [%g, %g], got '%s'", p->name, p->lo, p->hi, v);
                return -1;
            }
            /* sigma offsets are converted once the model's sigma is known (cli_steer_ready); keep them here */
            o->offset[p->target] = (float)x;
            break;
        case K_REGION:
            if (o->region != RE_REGION_ALL && (int)o->region != p->target) {
                cli_usage_error(cmd, "choose one of --expression-only, --pose-only, --lips-only, --eyes-only");
                return -1;
            }
            o->region = (re_region)p->target;
            break;
        case K_SPACE:
            if (!strcmp(v, "learned")) o->space = RE_MSPACE_LEARNED;
            else if (!strcmp(v, "full")) o->space = RE_MSPACE_FULL;
            else {
                cli_usage_error(cmd, "--motion-space must be 'learned' or 'full', got '%s'", v);
                return -1;
            }
            break;
        case K_DRIVE:
            if (!strcmp(v, "on")) o->attr_drive = 1;
            else if (!strcmp(v, "off")) o->attr_drive = 0;
            else {
                cli_usage_error(cmd, "--attr-drive must be 'on' or 'off', got '%s'", v);
                return -1;
            }
            break;
        case K_MOUTH:
            if (!strcmp(v, "absolute")) o->mouth_absolute = 1;
            else if (!strcmp(v, "relative")) o->mouth_absolute = 0;
            else {
                cli_usage_error(cmd, "--mouth must be 'absolute' or 'relative', got '%s'", v);
                return -1;
            }
            break;
        case K_DEBIAS: o->debias = 1; break;
        }
        return 1;
    }
    return 0;
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
