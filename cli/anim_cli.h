/*
 * anim_cli.h - helpers shared by the animate, motion and demo subcommands (defined in cmd_animate.c): progress
 * lines with frame counts and fps on stderr, Ctrl-C handling (the run stops and leaves no partial output), input and
 * output path checks done before any work, model loading, and the per-stage timing line.
 */
#ifndef RE_ANIM_CLI_H
#define RE_ANIM_CLI_H

#include <stdio.h>
#include "reenact/anim.h"

typedef struct anim_cli_prog {
    const char *what;   /* prefix of progress lines */
    int quiet;
    double last;        /* time of the last line */
    int printed;        /* a \r line is open */
} anim_cli_prog;

/* SIGINT/SIGTERM make anim_cli_progress return 1, which stops the run. */
void anim_cli_install_signals(void);
/* re_anim_progress_fn: user = anim_cli_prog*. */
int anim_cli_progress(const re_anim_progress *p, void *user);
void anim_cli_progress_end(anim_cli_prog *pr);
/* Each returns 0 if fine, else prints an error naming the file and returns non-zero. */
int anim_cli_check_input(const char *cmd, const char *what, const char *path);
int anim_cli_check_output(const char *cmd, const char *what, const char *path);
int anim_cli_load_model(const char *cmd, const char *path, re_model **m);
/* "--format mp4|webm|gif|png": 0 if parsed, else prints a usage error and returns RE_EXIT_USAGE. */
int anim_cli_parse_format(const char *cmd, const char *v, re_video_format *f);
void anim_cli_print_times(FILE *f, const re_anim_stats *st);

#endif
