/*
 * cli.h - shared pieces of the reenact command-line program: subcommand signature, exit codes, option parsing
 * pieces. Every subcommand is `int cmd_X(int argc, char **argv)` with argv[0] = the subcommand name, returning
 * RE_EXIT_OK (0), RE_EXIT_FAIL (1, runtime failure) or RE_EXIT_USAGE (2, bad usage). Options are declared in
 * one table per command (opt.h), which parses them and prints the help.
 */
#ifndef RE_CLI_H
#define RE_CLI_H

#include <stdint.h>
#include "reenact/reenact.h"
#include "reenact/anim.h"
#include "opt.h"

enum { RE_EXIT_OK = 0, RE_EXIT_FAIL = 1, RE_EXIT_USAGE = 2 };

/* Print "reenact <cmd>: <message>: <re_last_error()>" to stderr and return RE_EXIT_FAIL. */
int cli_fail(const char *cmd, re_status s, const char *fmt, ...);
/* Print "reenact <cmd>: <message>" + "try 'reenact <cmd> --help'" and return RE_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...);

/* A growable array v of *cap elements of elem bytes, n of them in use, made ready for one more: v itself while
 * n < *cap, else v reallocated to twice *cap (first when *cap is 0) with *cap updated. NULL when out of memory (v is
 * then unchanged and still the caller's). */
void *cli_grow(void *v, size_t n, size_t *cap, size_t elem, size_t first);

/* Appends to kv (key, value, key, value, ...) the provenance metadata of m that a re-saved model keeps: every entry
 * but the format keys and checksums the writer sets (format, format_version, config, data_sha256) and the entries
 * that go with the directions (directions, weights_sha256, which re_model_save writes with the directions or drops
 * with them), and but the keys of the n_new (key, value) pairs in new_kv, which replace them. Stops before kv holds
 * more than max strings; returns how many it holds (pairs x 2). */
int cli_kept_meta(const re_model *m, const char **kv, int max, const char *const *new_kv, int n_new);

/* Options: every command declares its options in one table (opt.h). The pieces several commands share: */
/* choices of --precision for runners (f32|bf16|mixed|auto) and for training (f32|bf16|auto), --render
 * photo|model and --field landmarks|flow */
extern const cli_choice cli_precision_choices[], cli_train_precision_choices[], cli_render_choices[],
    cli_field_choices[];
/* --smooth-cutoff HZ and --smooth-beta B (animate, eval) into *o, the one place their ranges live: fills the table
 * t (for CLI_INCLUDE); seen (or NULL) is set when either is given. */
enum { CLI_SMOOTH_OPTS = 3 };
void cli_smooth_opts(cli_opt t[CLI_SMOOTH_OPTS], re_latent_filter_opts *o, int *seen);
/* --threads N (0 = all cores) into *threads, *seen = 1 when given; def: the default as the help shows it. */
#define CLI_THREADS_OPT(p, seenp, defstr, text) \
    CLI_INT("--threads", NULL, p, "N", 0, 1024, text, .def = (defstr), .seen = (seenp))

/* Default bundled model path: $REENACT_MODEL, else <exe dir>/../models/reenact-seed64.safetensors, else
 * models/reenact-seed64.safetensors relative to the current directory, else the installed data dir. Returns a
 * static buffer. */
const char *cli_default_model(void);
/* When path is the last-resort default (./models/...) and missing: prints an error naming every place the bundled
 * model was looked for and returns RE_EXIT_FAIL; else 0. */
int cli_model_missing_help(const char *cmd, const char *path);


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
