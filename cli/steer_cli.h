/*
 * steer_cli.h - the motion-control options shared by animate, eval and edit (include/reenact/directions.h):
 *   --lips R --eyes R --smile S --brows S --mouth S --yaw DEG --pitch DEG --roll DEG --expression-only --pose-only
 *   --lips-only --eyes-only --motion-space learned|full --attr-drive on|off --debias
 * One option table (opt.h) holds each option's name, range and help line; the help text is generated from it.
 */
#ifndef RE_STEER_CLI_H
#define RE_STEER_CLI_H
#include <stdio.h>
#include "reenact/directions.h"
#include "opt.h"

/* The options, for CLI_INCLUDE in a command's table: fills t, writing into *o; seen (or NULL) is set when any of them
 * is given. The region flags exclude each other. */
enum { CLI_STEER_OPTS = 17 };
void cli_steer_opts(cli_opt t[CLI_STEER_OPTS], re_steer_opts *o, int *seen);
/* After loading the model: converts the smile/brows offsets from sigmas to attribute units and checks that the
 * options can be served: options that need directions (re_steer_needs_directions, or always with require_dirs) on a
 * model without them, or --debias on an uncalibrated model, print an error naming the model to use and return
 * RE_EXIT_USAGE; range errors return RE_EXIT_FAIL. Returns 0 when fine, with *active = steering applies (the model
 * has directions and the options ask for it). */
int cli_steer_ready(const char *cmd, re_steer_opts *o, int require_dirs, const re_directions *d, int *active);
#endif
