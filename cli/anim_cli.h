/*
 * anim_cli.h - helpers shared by the animate, motion and demo subcommands (defined in cmd_animate.c): progress
 * lines with frame counts and fps on stderr, Ctrl-C handling (the run stops and leaves no partial output), input and
 * output path checks done before any work, model loading, the per-stage timing line, and the run options they share.
 */
#ifndef RE_ANIM_CLI_H
#define RE_ANIM_CLI_H

#include <stdio.h>
#include "reenact/anim.h"
#include "opt.h"

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
/* re_animate(m, o, st) with progress lines on stderr (prefixed with what, none when quiet) and Ctrl-C handling (o's
 * progress callback is set for the run and cleared after it). */
re_status anim_cli_animate(const char *what, int quiet, re_model *m, re_anim_opts *o, re_anim_stats *st);
/* Each returns 0 if fine, else prints an error naming the file and returns non-zero. */
int anim_cli_check_input(const char *cmd, const char *what, const char *path);
int anim_cli_check_output(const char *cmd, const char *what, const char *path);
int anim_cli_load_model(const char *cmd, const char *path, re_model **m);
/* The run options of animate and motion extract (--max-frames, --batch, --precision, --threads, --no-pipeline,
 * --quiet), for CLI_INCLUDE: fills t, writing into *o and *run. After parsing, anim_cli_run_apply applies --threads
 * (re_set_threads) and sets o->model_threads from it. */
typedef struct anim_cli_run {
    int threads, threads_given, quiet;
} anim_cli_run;
enum { ANIM_CLI_RUN_OPTS = 7 };
void anim_cli_run_opts(cli_opt t[ANIM_CLI_RUN_OPTS], re_anim_opts *o, anim_cli_run *run);
void anim_cli_run_apply(const anim_cli_run *run, re_anim_opts *o);
void anim_cli_print_times(FILE *f, const re_anim_stats *st);

#endif
