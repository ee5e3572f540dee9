/*
 * cli.h - shared pieces of the reenact command-line program: subcommand signature, exit codes, option parsing
 * helpers. Every subcommand is `int cmd_X(int argc, char **argv)` with argv[0] = the subcommand name, returning
 * RE_EXIT_OK (0), RE_EXIT_FAIL (1, runtime failure) or RE_EXIT_USAGE (2, bad usage).
 */
#ifndef RE_CLI_H
#define RE_CLI_H

#include <stdint.h>
#include "reenact/reenact.h"
#include "reenact/anim.h"

enum { RE_EXIT_OK = 0, RE_EXIT_FAIL = 1, RE_EXIT_USAGE = 2 };

/* Print "reenact <cmd>: <message>: <re_last_error()>" to stderr and return RE_EXIT_FAIL. */
int cli_fail(const char *cmd, re_status s, const char *fmt, ...);
/* Print "reenact <cmd>: <message>" + "try 'reenact <cmd> --help'" and return RE_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...);

/* Strict number parsing: whole string must be a number within [lo,hi]; returns 0 on failure. */
int cli_parse_int(const char *s, long lo, long hi, long *out);
int cli_parse_float(const char *s, double lo, double hi, double *out);
int cli_parse_u64(const char *s, uint64_t *out);

/* Option matcher: if argv[*i] is `name` (or `alt`), consumes it plus a value (for takes_value) and sets *val.
 * Returns 1 if matched, 0 if not, -1 if the value is missing (an error message is printed). Also accepts
 * --name=value. */
int cli_opt(int argc, char **argv, int *i, const char *name, const char *alt, const char **val);
int cli_flag(char **argv, int i, const char *name, const char *alt);

/* animate's and eval's --smooth-cutoff HZ / --smooth-beta B (name is either): parses v into *o, the one place
 * their ranges live. Returns RE_EXIT_OK, or RE_EXIT_USAGE after printing the usage error. */
int cli_smooth_option(const char *cmd, const char *name, const char *v, re_latent_filter_opts *o);

/* Default bundled model path: $REENACT_MODEL, else <exe dir>/../models/reenact-seed64.safetensors, else
 * models/reenact-seed64.safetensors relative to the current directory, else the installed data dir. Returns a
 * static buffer. */
const char *cli_default_model(void);
/* When path is the last-resort default (./models/...) and missing: prints an error naming every place the bundled
 * model was looked for and returns RE_EXIT_FAIL; else 0. */
int cli_model_missing_help(const char *cmd, const char *path);

/* Common --threads handling: applies re_set_threads. */
int cli_apply_threads(const char *cmd, const char *val);

/* Subcommands, one file each (cli/cmd_<name>.c). Declared weak so a command whose file is not part of this build
 * (or not written yet) is reported as unavailable instead of breaking the link. */
#define RE_CMD(name) int cmd_##name(int argc, char **argv) __attribute__((weak))
RE_CMD(info);
RE_CMD(dataset);
RE_CMD(train);
RE_CMD(animate);
RE_CMD(motion);
RE_CMD(reconstruct);
RE_CMD(eval);
RE_CMD(demo);
RE_CMD(convert);
RE_CMD(directions);
RE_CMD(edit);
#undef RE_CMD
#endif
