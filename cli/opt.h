/*
 * opt.h - the one way a reenact command declares its options: a table of cli_opt entries, each naming the option,
 * its value's type and range, the field it writes and its help line. cli_parse reads argv against the table (with
 * uniform usage errors, exit status 2) and cli_help prints the help from the same table, each option's default
 * taken from its field's value before parsing (or from .def where the default is not a plain value).
 *
 *   const char *model = cli_default_model();
 *   int quiet = 0;
 *   long batch = 8;
 *   cli_opt opts[] = {
 *       CLI_SECTION("options:"),
 *       CLI_STR("--model", NULL, &model, "M", "model file"),
 *       CLI_INT("--batch", NULL, &batch, "N", 1, 256, "images per forward pass"),
 *       CLI_FLAG("--quiet", "-q", &quiet, 1, "no progress"),
 *       CLI_END,
 *   };
 *   cli_cmd c = {.name = "eval", .usage = "usage: reenact eval [options]\n\n", .opts = opts};
 *   int rc = cli_parse(&c, argc, argv);
 *   if (rc != CLI_GO) return rc;   // 0 after --help, 2 after a usage error (printed)
 *
 * Accepted forms: --name VALUE, --name=VALUE, -x VALUE (the short name), flags alone; "-" is a positional argument
 * and "--" ends the options. The messages (stderr, then "try 'reenact CMD --help'"):
 *   reenact CMD: unknown option '--x'               reenact CMD: --name needs a value
 *   reenact CMD: --name takes no value              reenact CMD: --name: value 'x' is not a number
 *   reenact CMD: --name: value 'x' is not an integer
 *   reenact CMD: --name: value 'x' is out of range [lo, hi]     (also (lo, hi] and [lo, inf))
 *   reenact CMD: --name: value 'x' is not a, b or c
 *   reenact CMD: choose one of --a, --b, --c         (options of one exclusive group)
 */
#ifndef RE_CLI_OPT_H
#define RE_CLI_OPT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* cli_parse's result when the command should go on (anything else is the exit status to return). */
#define CLI_GO (-1)
/* An upper bound at or above this is shown as none ("[lo, inf)", "(>= lo)"). */
#define CLI_INF 1e15

typedef enum cli_type {
    CLI_T_END = 0,
    CLI_T_SECTION,   /* a heading line in the help */
    CLI_T_TEXT,      /* a line of text in the help */
    CLI_T_INCLUDE,   /* the entries of another table (.sub), in place */
    CLI_T_FLAG,      /* no value: stores .ival in an int-sized field (int or an enum) */
    CLI_T_INT,       /* integer in [lo, hi] into an int, long or int64_t */
    CLI_T_U64,       /* non-negative integer into a uint64_t */
    CLI_T_NUM,       /* finite number in [lo, hi] (or (lo, hi] with CLI_LO_OPEN) into a float or double */
    CLI_T_STR,       /* string into a const char * (lo: least length, hi: most, 0 = any) */
    CLI_T_BUF,       /* string copied into a char array of .size bytes */
    CLI_T_ENUM,      /* one of .choices, its value into an int-sized field */
    CLI_T_LIST,      /* VALUE [VALUE ...] (up to the next word starting with '-'), repeatable, into a cli_list;
                        with CLI_ONE one value per occurrence */
} cli_type;

enum {
    CLI_LO_OPEN = 1 << 0,    /* CLI_T_NUM: lo itself is out of range */
    CLI_REQUIRED = 1 << 1,   /* help shows [required] (the command checks it) */
    CLI_ONE = 1 << 2,        /* CLI_T_LIST: one value per occurrence (--meta K=V --meta K2=V2) */
};

typedef struct cli_choice {
    const char *name;
    int value;
} cli_choice;

/* Values of a CLI_T_LIST option or the positional arguments: pointers into argv. Free v with cli_list_free. */
typedef struct cli_list {
    const char **v;
    int n;
} cli_list;

typedef struct cli_opt {
    cli_type type;
    const char *name;             /* "--model" */
    const char *alt;              /* short name "-o", or NULL */
    const char *arg;              /* the value's name in the help ("N"); NULL: a|b|c for enums */
    const char *help;             /* help text; the range and [default] are appended */
    void *ptr;                    /* the field */
    size_t size;                  /* sizeof the field */
    double lo, hi;                /* range (CLI_T_INT, CLI_T_NUM), length bounds (CLI_T_STR) */
    int ival;                     /* CLI_T_FLAG: the value stored */
    unsigned flags;               /* CLI_LO_OPEN, CLI_REQUIRED, CLI_ONE */
    const cli_choice *choices;    /* CLI_T_ENUM: terminated by {NULL, 0} */
    const char *def;              /* the default as the help shows it, instead of the field's value */
    int *seen;                    /* set to 1 when the option is given */
    unsigned bits;                /* OR-ed into cli_cmd.given when the option is given */
    int excl;                     /* > 0: at most one (distinct) option of this group */
    const struct cli_opt *sub;    /* CLI_T_INCLUDE */
} cli_opt;

typedef struct cli_cmd {
    const char *name;             /* in messages: "animate", "motion extract" */
    const char *usage;            /* help text before the options (usage lines, description), as is */
    const char *footer;           /* help text after the options, as is */
    cli_opt *opts;                /* terminated by CLI_END */
    cli_list *pos;                /* positional arguments, or NULL when none are accepted */
    int max_pos;                  /* at most this many (0: any) ... */
    const char *pos_error;        /* ... else this usage error ("only one model path expected"); with pos NULL, the
                                     hint after "unexpected argument 'x'" */
    unsigned given;               /* OR of the .bits of the options given */
} cli_cmd;

/* Field pointers are type-checked: a wrong one does not compile. */
#define CLI_INT_PTR_(p) _Generic((p), int *: (p), long *: (p), long long *: (p))
#define CLI_NUM_PTR_(p) _Generic((p), float *: (p), double *: (p))
#define CLI_STR_PTR_(p) _Generic((p), const char **: (p))

#define CLI_END {.type = CLI_T_END}
#define CLI_SECTION(text) {.type = CLI_T_SECTION, .help = (text)}
#define CLI_TEXT(text) {.type = CLI_T_TEXT, .help = (text)}
#define CLI_INCLUDE(table) {.type = CLI_T_INCLUDE, .sub = (table)}
/* Extra fields (.def, .seen, .bits, .excl, .flags) go after the help text: CLI_INT(..., "help", .seen = &x). */
#define CLI_FLAG(nm, al, p, val, h, ...) \
    {.type = CLI_T_FLAG, .name = (nm), .alt = (al), .ptr = (p), .size = sizeof *(p), .ival = (val), .help = (h), __VA_ARGS__}
#define CLI_INT(nm, al, p, a, lo_, hi_, h, ...) \
    {.type = CLI_T_INT, .name = (nm), .alt = (al), .ptr = CLI_INT_PTR_(p), .size = sizeof *(p), .arg = (a), \
     .lo = (lo_), .hi = (hi_), .help = (h), __VA_ARGS__}
#define CLI_U64(nm, al, p, a, h, ...) \
    {.type = CLI_T_U64, .name = (nm), .alt = (al), .ptr = _Generic((p), uint64_t *: (p)), .size = sizeof *(p), \
     .arg = (a), .help = (h), __VA_ARGS__}
#define CLI_NUM(nm, al, p, a, lo_, hi_, h, ...) \
    {.type = CLI_T_NUM, .name = (nm), .alt = (al), .ptr = CLI_NUM_PTR_(p), .size = sizeof *(p), .arg = (a), \
     .lo = (lo_), .hi = (hi_), .help = (h), __VA_ARGS__}
#define CLI_STR(nm, al, p, a, h, ...) \
    {.type = CLI_T_STR, .name = (nm), .alt = (al), .ptr = CLI_STR_PTR_(p), .size = sizeof *(p), .arg = (a), \
     .help = (h), __VA_ARGS__}
#define CLI_BUF(nm, al, buf, a, h, ...) \
    {.type = CLI_T_BUF, .name = (nm), .alt = (al), .ptr = (buf), .size = sizeof(buf), .arg = (a), .help = (h), \
     __VA_ARGS__}
#define CLI_ENUM(nm, al, p, ch, h, ...) \
    {.type = CLI_T_ENUM, .name = (nm), .alt = (al), .ptr = (p), .size = sizeof *(p), .choices = (ch), .help = (h), \
     __VA_ARGS__}
#define CLI_LIST(nm, al, p, a, h, ...) \
    {.type = CLI_T_LIST, .name = (nm), .alt = (al), .ptr = _Generic((p), cli_list *: (p)), .size = sizeof *(p), \
     .arg = (a), .help = (h), __VA_ARGS__}

/* Parses argv[1..argc) (argv[0] is the command's name) into the fields. Returns CLI_GO to go on; RE_EXIT_OK after
 * printing the help for --help or -h; RE_EXIT_USAGE after printing a usage error. On any return but CLI_GO the lists
 * (options' and positional) are freed. */
int cli_parse(cli_cmd *c, int argc, char **argv);
/* The help: usage, the options (each "  -x, --name ARG  help (range) [default]", wrapped), "-h, --help", footer. */
void cli_help(const cli_cmd *c, FILE *f);
/* Prints the option lines of one table (no usage, footer or -h line): for help texts made of several tables. */
void cli_help_opts(const cli_opt *opts, FILE *f);
void cli_list_free(cli_list *l);
/* Frees the positional list and every CLI_T_LIST field of the table. */
void cli_cmd_free(cli_cmd *c);

#endif
