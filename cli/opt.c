/*
 * opt.c - the option tables of the reenact commands (opt.h): parsing argv against a table, and the help printed
 * from the same table with each option's range and default.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opt.h"

enum { EXIT_OK = 0, EXIT_USAGE = 2 };   /* cli.h's RE_EXIT_OK and RE_EXIT_USAGE */
#define HELP_COL 24                      /* where the help text of an option starts */
#define HELP_WIDTH 118                   /* lines are wrapped before this column */

static int usage_error(const cli_cmd *c, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "reenact %s: ", c->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\ntry 'reenact %s --help'\n", c->name);
    return EXIT_USAGE;
}

/* ---- fields ------------------------------------------------------------------------------------------------- */

static void bad_field(const cli_opt *o) {
    fprintf(stderr, "reenact: internal error: option %s has a field of %zu bytes\n", o->name, o->size);
    abort();
}

static void set_int(const cli_opt *o, long long v) {
    if (o->size == sizeof(int)) *(int *)o->ptr = (int)v;
    else if (o->size == sizeof(long long)) *(long long *)o->ptr = v;
    else bad_field(o);
}

static long long get_int(const cli_opt *o) {
    if (o->size == sizeof(int)) return *(const int *)o->ptr;
    if (o->size == sizeof(long long)) return *(const long long *)o->ptr;
    bad_field(o);
    return 0;
}

static double get_num(const cli_opt *o) {
    return o->size == sizeof(float) ? (double)*(const float *)o->ptr : *(const double *)o->ptr;
}

/* ---- ranges and defaults, as the messages and the help show them ------------------------------------------- */

static void fmt_num(char *b, size_t n, double v, int is_float) {
    if (!isfinite(v) || fabs(v) >= CLI_INF) snprintf(b, n, "%s", v < 0 ? "-inf" : "inf");
    else if (v == floor(v)) snprintf(b, n, "%.0f", v);   /* integers in full: 1099511627776, not 1.1e+12 */
    else snprintf(b, n, is_float ? "%.7g" : "%.10g", v);
}

/* "[lo, hi]", "(lo, hi]" or "[lo, inf)". */
static void range_str(const cli_opt *o, char *b, size_t n) {
    char lo[40], hi[40];
    fmt_num(lo, sizeof lo, o->lo, 0);
    fmt_num(hi, sizeof hi, o->hi, 0);
    snprintf(b, n, "%s%s, %s%s", o->flags & CLI_LO_OPEN ? "(" : "[", lo, hi, o->hi >= CLI_INF ? ")" : "]");
}

/* "a, b or c" (sep ", ", last " or "), "a|b|c" */
static void choices_str(const cli_choice *ch, const char *sep, const char *last, char *b, size_t n) {
    size_t k = 0, count = 0;
    b[0] = 0;
    while (ch[count].name) count++;
    for (size_t i = 0; i < count && k < n; i++)
        k += (size_t)snprintf(b + k, n - k, "%s%s", i == 0 ? "" : i + 1 == count ? last : sep, ch[i].name);
}

/* The default shown in the help: 1 with text in b, 0 for none. */
static int default_str(const cli_opt *o, char *b, size_t n) {
    if (o->def) return snprintf(b, n, "%s", o->def), 1;
    if (o->flags & CLI_REQUIRED) return snprintf(b, n, "required"), 1;
    switch (o->type) {
    case CLI_T_INT: snprintf(b, n, "%lld", get_int(o)); return 1;
    case CLI_T_U64: snprintf(b, n, "%llu", (unsigned long long)*(const uint64_t *)o->ptr); return 1;
    case CLI_T_NUM: fmt_num(b, n, get_num(o), o->size == sizeof(float)); return 1;
    case CLI_T_STR: {
        const char *s = *(const char *const *)o->ptr;
        snprintf(b, n, "%s", s ? s : "none");
        return 1;
    }
    case CLI_T_BUF: snprintf(b, n, "%s", *(const char *)o->ptr ? (const char *)o->ptr : "none"); return 1;
    case CLI_T_ENUM: {
        const long long v = get_int(o);
        for (const cli_choice *ch = o->choices; ch->name; ch++)
            if (ch->value == v) return snprintf(b, n, "%s", ch->name), 1;
        return 0;
    }
    case CLI_T_LIST: snprintf(b, n, "none"); return 1;
    default: return 0;
    }
}

/* ---- parsing ------------------------------------------------------------------------------------------------ */

static int takes_value(const cli_opt *o) { return o->type != CLI_T_FLAG; }

static int is_option(const cli_opt *o) { return o->type >= CLI_T_FLAG; }

/* The entry named by arg ("--name", "--name=value" or the short name), searching included tables. */
static const cli_opt *find(const cli_opt *t, const char *arg, const char **eqval) {
    for (; t->type != CLI_T_END; t++) {
        if (t->type == CLI_T_INCLUDE) {
            const cli_opt *s = find(t->sub, arg, eqval);
            if (s) return s;
            continue;
        }
        if (!is_option(t)) continue;
        if (!strcmp(arg, t->name) || (t->alt && !strcmp(arg, t->alt))) {
            *eqval = NULL;
            return t;
        }
        const size_t nl = strlen(t->name);
        if (!strncmp(arg, t->name, nl) && arg[nl] == '=') {
            *eqval = arg + nl + 1;
            return t;
        }
    }
    return NULL;
}

static int list_add(cli_list *l, const char *v, int cap) {
    if (!l->v && !(l->v = calloc((size_t)cap, sizeof *l->v))) {
        fprintf(stderr, "reenact: out of memory\n");
        return -1;
    }
    l->v[l->n++] = v;
    return 0;
}

/* Stores value v of option o; returns 0 or the usage error's exit status. */
static int store(cli_cmd *c, const cli_opt *o, const char *v) {
    char r[96];
    switch (o->type) {
    case CLI_T_INT: {
        char *end;
        errno = 0;
        long long x = *v ? strtoll(v, &end, 10) : 0;
        if (!*v || *end) return usage_error(c, "%s: value '%s' is not an integer", o->name, v);
        if (errno || (double)x < o->lo || (double)x > o->hi) {
            range_str(o, r, sizeof r);
            return usage_error(c, "%s: value '%s' is out of range %s", o->name, v, r);
        }
        set_int(o, x);
        return 0;
    }
    case CLI_T_U64: {
        char *end;
        errno = 0;
        const char *s = v;
        while (*s == ' ' || *s == '\t') s++;
        const int neg = *s == '-', sign = neg || *s == '+';
        unsigned long long x = *s ? strtoull(s + sign, &end, 10) : 0;
        if (!*s || !isdigit((unsigned char)s[sign]) || *end)
            return usage_error(c, "%s: value '%s' is not an integer", o->name, v);
        if (errno || neg)
            return usage_error(c, "%s: value '%s' is out of range [0, %llu]", o->name, v, (unsigned long long)UINT64_MAX);
        *(uint64_t *)o->ptr = (uint64_t)x;
        return 0;
    }
    case CLI_T_NUM: {
        char *end;
        errno = 0;
        double x = *v ? strtod(v, &end) : 0;
        if (!*v || *end || isnan(x)) return usage_error(c, "%s: value '%s' is not a number", o->name, v);
        const int lo_ok = o->flags & CLI_LO_OPEN ? x > o->lo : x >= o->lo;
        if (errno == ERANGE || !isfinite(x) || !lo_ok || x > o->hi) {
            range_str(o, r, sizeof r);
            return usage_error(c, "%s: value '%s' is out of range %s", o->name, v, r);
        }
        if (o->size == sizeof(float)) *(float *)o->ptr = (float)x;
        else *(double *)o->ptr = x;
        return 0;
    }
    case CLI_T_STR: {
        const size_t n = strlen(v);
        if (o->lo > 0 && (double)n < o->lo)
            return usage_error(c, "%s: value is too short (at least %.0f characters)", o->name, o->lo);
        if (o->hi > 0 && (double)n > o->hi)
            return usage_error(c, "%s: value is too long (at most %.0f characters)", o->name, o->hi);
        *(const char **)o->ptr = v;
        return 0;
    }
    case CLI_T_BUF:
        if (strlen(v) >= o->size)
            return usage_error(c, "%s: value is too long (at most %zu characters)", o->name, o->size - 1);
        memcpy(o->ptr, v, strlen(v) + 1);
        return 0;
    case CLI_T_ENUM:
        for (const cli_choice *ch = o->choices; ch->name; ch++)
            if (!strcmp(v, ch->name)) {
                set_int(o, ch->value);
                return 0;
            }
        choices_str(o->choices, ", ", " or ", r, sizeof r);
        return usage_error(c, "%s: value '%s' is not %s", o->name, v, r);
    default: return 0;
    }
}

/* "choose one of --a, --b or --c" for exclusive group g. */
static void excl_names(const cli_opt *t, int g, char *b, size_t n, size_t *k) {
    for (; t->type != CLI_T_END; t++) {
        if (t->type == CLI_T_INCLUDE) excl_names(t->sub, g, b, n, k);
        else if (is_option(t) && t->excl == g && *k < n) *k += (size_t)snprintf(b + *k, n - *k, "%s%s", *k ? ", " : "", t->name);
    }
}

static void free_lists(cli_opt *t) {
    for (; t->type != CLI_T_END; t++) {
        if (t->type == CLI_T_INCLUDE) free_lists((cli_opt *)t->sub);
        else if (t->type == CLI_T_LIST) cli_list_free(t->ptr);
    }
}

void cli_list_free(cli_list *l) {
    if (!l) return;
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void cli_cmd_free(cli_cmd *c) {
    free_lists(c->opts);
    cli_list_free(c->pos);
}

static int parse(cli_cmd *c, int argc, char **argv) {
    enum { MAX_EXCL = 8 };
    const cli_opt *excl_first[MAX_EXCL + 1] = {0};
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && (!strcmp(a, "--help") || !strcmp(a, "-h"))) {
            cli_help(c, stdout);
            return EXIT_OK;
        }
        if (!only_pos && !strcmp(a, "--")) {
            only_pos = 1;
            continue;
        }
        if (only_pos || a[0] != '-' || !a[1]) {   /* a positional argument ("-" is one) */
            if (!c->pos && c->pos_error) return usage_error(c, "unexpected argument '%s' (%s)", a, c->pos_error);
            if (!c->pos) return usage_error(c, "unexpected argument '%s'", a);
            if (c->max_pos && c->pos->n >= c->max_pos)
                return usage_error(c, "%s", c->pos_error ? c->pos_error : "too many arguments");
            if (list_add(c->pos, a, argc)) return EXIT_USAGE;
            continue;
        }
        const char *v = NULL;
        const cli_opt *o = find(c->opts, a, &v);
        if (!o) return usage_error(c, "unknown option '%s'", a);
        if (!takes_value(o)) {
            if (v) return usage_error(c, "%s takes no value", o->name);
        } else if (!v) {
            /* a list's values end at the next option, so its first value cannot look like one */
            if (i + 1 >= argc || (o->type == CLI_T_LIST && argv[i + 1][0] == '-' && argv[i + 1][1]))
                return usage_error(c, "%s needs a value", o->name);
            v = argv[++i];
        }
        if (o->excl > 0 && o->excl <= MAX_EXCL) {
            if (excl_first[o->excl] && excl_first[o->excl] != o) {
                char names[256];
                size_t k = 0;
                excl_names(c->opts, o->excl, names, sizeof names, &k);
                return usage_error(c, "choose one of %s", names);
            }
            excl_first[o->excl] = o;
        }
        int rc = 0;
        if (o->type == CLI_T_FLAG) set_int(o, o->ival);
        else if (o->type == CLI_T_LIST) {
            cli_list *l = o->ptr;
            rc = list_add(l, v, argc) ? EXIT_USAGE : 0;
            if (!(o->flags & CLI_ONE))
                while (!rc && i + 1 < argc && argv[i + 1][0] != '-') rc = list_add(l, argv[++i], argc) ? EXIT_USAGE : 0;
        } else
            rc = store(c, o, v);
        if (rc) return rc;
        if (o->seen) *o->seen = 1;
        c->given |= o->bits;
    }
    return CLI_GO;
}

int cli_parse(cli_cmd *c, int argc, char **argv) {
    c->given = 0;
    int rc = parse(c, argc, argv);
    if (rc != CLI_GO) cli_cmd_free(c);
    return rc;
}

/* ---- help --------------------------------------------------------------------------------------------------- */

/* Prints text from column col (the cursor is there), wrapped at HELP_WIDTH with continuation lines at col. */
static void wrap(FILE *f, const char *text, int col) {
    int x = col;
    const char *p = text;
    while (*p) {
        if (*p == '\n') {
            fprintf(f, "\n%*s", col, "");
            x = col;
            p++;
            continue;
        }
        const char *w = p;
        while (*w == ' ') w++;
        const char *e = w;
        while (*e && *e != ' ' && *e != '\n') e++;
        const int spaces = (int)(w - p), len = (int)(e - w);
        if (x > col && x + spaces + len > HELP_WIDTH) {
            fprintf(f, "\n%*s%.*s", col, "", len, w);
            x = col + len;
        } else {
            fprintf(f, "%.*s", spaces + len, p);
            x += spaces + len;
        }
        p = e;
    }
    fputc('\n', f);
}

static void help_line(FILE *f, const cli_opt *o) {
    char head[128], text[1024], b[160];
    int k = snprintf(head, sizeof head, "%s%s%s", o->alt ? o->alt : "", o->alt ? ", " : "", o->name);
    if (takes_value(o)) {
        if (o->arg) snprintf(head + k, sizeof head - (size_t)k, " %s", o->arg);
        else if (o->choices) {
            choices_str(o->choices, "|", "|", b, sizeof b);
            snprintf(head + k, sizeof head - (size_t)k, " %s", b);
        } else
            snprintf(head + k, sizeof head - (size_t)k, " X");
    }
    size_t t = (size_t)snprintf(text, sizeof text, "%s", o->help ? o->help : "");
    if (o->type == CLI_T_U64 && t < sizeof text) t += (size_t)snprintf(text + t, sizeof text - t, " (>= 0)");
    if (o->type == CLI_T_INT || o->type == CLI_T_NUM) {
        char lo[40], hi[40];
        fmt_num(lo, sizeof lo, o->lo, 0);
        fmt_num(hi, sizeof hi, o->hi, 0);
        if (t < sizeof text) {
            if (o->hi >= CLI_INF) t += (size_t)snprintf(text + t, sizeof text - t, " (%s %s)", o->flags & CLI_LO_OPEN ? ">" : ">=", lo);
            else if (o->flags & CLI_LO_OPEN) t += (size_t)snprintf(text + t, sizeof text - t, " (> %s, <= %s)", lo, hi);
            else t += (size_t)snprintf(text + t, sizeof text - t, " (%s..%s)", lo, hi);
        }
    }
    if (takes_value(o) && default_str(o, b, sizeof b) && t < sizeof text)
        snprintf(text + t, sizeof text - t, " [%s]", b);
    const int hl = (int)strlen(head);
    if (hl <= HELP_COL - 4) fprintf(f, "  %-*s", HELP_COL - 2, head);   /* at least two spaces before the text */
    else fprintf(f, "  %s\n%*s", head, HELP_COL, "");
    wrap(f, text, HELP_COL);
}

void cli_help_opts(const cli_opt *t, FILE *f) {
    for (; t->type != CLI_T_END; t++) {
        switch (t->type) {
        case CLI_T_SECTION:
        case CLI_T_TEXT: fprintf(f, "%s\n", t->help); break;
        case CLI_T_INCLUDE: cli_help_opts(t->sub, f); break;
        default: help_line(f, t); break;
        }
    }
}

void cli_help(const cli_cmd *c, FILE *f) {
    if (c->usage) fputs(c->usage, f);
    cli_help_opts(c->opts, f);
    static const cli_opt h = {.type = CLI_T_FLAG, .name = "--help", .alt = "-h", .help = "this help"};
    help_line(f, &h);
    if (c->footer) fputs(c->footer, f);
}
