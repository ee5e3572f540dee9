/*
 * steer_cli.h - the motion-control options shared by animate, eval and edit (include/reenact/directions.h):
 *   --lips R --eyes R --smile S --brows S --mouth S --yaw DEG --pitch DEG --roll DEG --expression-only --pose-only
 *   --lips-only --eyes-only --motion-space learned|full --attr-drive on|off --debias
 * One table holds each option's name, range and help line; the help text is generated from it.
 */
#ifndef RE_STEER_CLI_H
#define RE_STEER_CLI_H
#include <stdio.h>
#include "reenact/directions.h"

/* If argv[*i] is a steering option, parse it into *o and return 1 (*i then indexes its last argument, as cli_opt
 * leaves it); 0 if it is not one; -1 after printing a usage error for cmd. */
int cli_steer_option(const char *cmd, int argc, char **argv, int *i, re_steer_opts *o);
/* Print the options' help lines. */
void cli_steer_help(FILE *f);
/* After loading the model: converts the smile/brows offsets from sigmas to attribute units and checks that the
 * options can be served: options that need directions (re_steer_needs_directions, or always with require_dirs) on a
 * model without them, or --debias on an uncalibrated model, print an error naming the model to use and return
 * RE_EXIT_USAGE; range errors return RE_EXIT_FAIL. Returns 0 when fine, with *active = steering applies (the model
 * has directions and the options ask for it). */
int cli_steer_ready(const char *cmd, re_steer_opts *o, int require_dirs, const re_directions *d, int *active);
#endif
