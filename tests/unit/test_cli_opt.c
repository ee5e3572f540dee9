/*
 * test_cli_opt.c - the option tables of the reenact commands (cli/opt.c, compiled in): every value type parsed into
 * its field (int, long, uint64, float, double, string, char array, enum, flag, list, positional arguments), the
 * --name=value, short-name and "--" forms; every usage error (unknown option, missing value, out of range, not a
 * number, NaN and infinities, a word for an integer, a bad choice, a value for a flag, two options of one exclusive
 * group, a too-long string, stray or too many positional arguments) returns 2 and leaves the field as it was, and
 * frees the lists; --help returns 0; the help lists every option with its range and its default taken from the field
 * (or .def), and wraps long lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "re_test.h"
#include "opt.h"

typedef struct fields {
    int i, flag, region, e;
    long l;
    uint64_t u;
    float f;
    double d;
    const char *s, *tok;
    char buf[8];
    cli_list list, one, pos;
    int seen_i, seen_any;
} fields;

static const cli_choice colors[] = {{"red", 1}, {"green", 2}, {"blue", -1}, {NULL, 0}};

/* The test table over *v; t must hold 24 entries. */
static void table(cli_opt *t, fields *v) {
    const cli_opt src[] = {
        CLI_SECTION("section:"),
        CLI_INT("--int", "-i", &v->i, "N", -5, 10, "an int", .seen = &v->seen_i, .bits = 1),
        CLI_INT("--long", NULL, &v->l, "N", 1, CLI_INF, "a long", .def = "all"),
        CLI_U64("--u64", NULL, &v->u, "S", "a seed", .bits = 2),
        CLI_NUM("--float", NULL, &v->f, "X", 0, 4, "a float"),
        CLI_NUM("--double", NULL, &v->d, "X", 0, 1, "a double", .flags = CLI_LO_OPEN),
        CLI_STR("--str", "-s", &v->s, "S", "a string", .flags = CLI_REQUIRED),
        CLI_STR("--token", NULL, &v->tok, "T", "at least 3", .lo = 3, .hi = 6),
        CLI_BUF("--buf", NULL, v->buf, "B", "a buffer"),
        CLI_ENUM("--color", NULL, &v->e, colors, "a color"),
        CLI_FLAG("--flag", "-f", &v->flag, 1, "a flag", .seen = &v->seen_any),
        CLI_FLAG("--no-flag", NULL, &v->flag, 0, "no flag"),
        CLI_FLAG("--a-only", NULL, &v->region, 1, "region a", .excl = 1),
        CLI_FLAG("--b-only", NULL, &v->region, 2, "region b", .excl = 1),
        CLI_LIST("--list", NULL, &v->list, "X...", "a list"),
        CLI_LIST("--one", NULL, &v->one, "K=V", "one at a time", .flags = CLI_ONE),
        CLI_TEXT("  a note"),
        CLI_NUM("--long-winded-option-name", NULL, &v->d, "X", 0, 1, "a help text long enough to be wrapped: it goes on "
                "and on about what the option does and why, well past the width of a terminal line, so that the "
                "help printer has to break it at a space and indent the rest", .flags = CLI_LO_OPEN),
        CLI_END,
    };
    memcpy(t, src, sizeof src);
}

static void init(fields *v) {
    *v = (fields){.i = 3, .l = 7, .u = 42, .f = 1.5f, .d = 0.25, .buf = "seed", .e = 2};
}

/* Parses the words of line (space-separated; argv[0] = "test") against a fresh table; returns cli_parse's result.
 * The help and the usage errors it prints are silenced. */
static int parse_line(fields *v, int with_pos, const char *line) {
    static char store[1024];
    char *argv[64];
    int argc = 0;
    snprintf(store, sizeof store, "test %s", line);
    for (char *tok = strtok(store, " "); tok && argc < 63; tok = strtok(NULL, " ")) argv[argc++] = tok;
    argv[argc] = NULL;
    cli_opt t[24];
    table(t, v);
    cli_cmd c = {.name = "test", .opts = t, .pos = with_pos ? &v->pos : NULL, .max_pos = 3,
                 .pos_error = "at most three inputs"};
    fflush(stdout);
    fflush(stderr);
    const int saved_out = dup(1), saved_err = dup(2);
    FILE *null = fopen("/dev/null", "w");
    if (null) {
        dup2(fileno(null), 1);
        dup2(fileno(null), 2);
    }
    int rc = cli_parse(&c, argc, argv);
    fflush(stdout);
    fflush(stderr);
    if (saved_out >= 0) dup2(saved_out, 1), close(saved_out);
    if (saved_err >= 0) dup2(saved_err, 2), close(saved_err);
    if (null) fclose(null);
    if (rc == CLI_GO) CHECK_EQ_INT(c.given & 3, (v->seen_i ? 1 : 0) | (strstr(line, "--u64") ? 2 : 0));
    return rc;
}

static void free_fields(fields *v) {
    cli_list_free(&v->list);
    cli_list_free(&v->one);
    cli_list_free(&v->pos);
}

static void test_values(void) {
    fields v;
    init(&v);
    CHECK_EQ_INT(parse_line(&v, 1, "in1 -i -5 --long=1099511627776 --u64 18446744073709551615 --float 4 --double 1 "
                                   "-s hello --token abc --buf 1234567 --color blue -f --b-only --b-only "
                                   "--list a b c --one k=v --one x=y --list d - -- --int"),
                 CLI_GO);
    CHECK_EQ_INT(v.i, -5);
    CHECK(v.l == 1099511627776L);
    CHECK(v.u == UINT64_MAX);
    CHECK(v.f == 4.0f);
    CHECK(v.d == 1.0);
    CHECK(v.s && !strcmp(v.s, "hello"));
    CHECK(v.tok && !strcmp(v.tok, "abc"));
    CHECK(!strcmp(v.buf, "1234567"));
    CHECK_EQ_INT(v.e, -1);
    CHECK_EQ_INT(v.flag, 1);
    CHECK_EQ_INT(v.region, 2);
    CHECK_EQ_INT(v.seen_i, 1);
    CHECK_EQ_INT(v.seen_any, 1);
    CHECK_EQ_INT(v.list.n, 4);
    CHECK(v.list.n == 4 && !strcmp(v.list.v[0], "a") && !strcmp(v.list.v[2], "c") && !strcmp(v.list.v[3], "d"));
    CHECK(v.one.n == 2 && !strcmp(v.one.v[1], "x=y"));
    /* positional: "in1", "-" (it ends the list, as an option would) and, after "--", "--int" */
    CHECK(v.pos.n == 3 && !strcmp(v.pos.v[0], "in1") && !strcmp(v.pos.v[1], "-") && !strcmp(v.pos.v[2], "--int"));
    free_fields(&v);

    init(&v);
    CHECK_EQ_INT(parse_line(&v, 0, "--flag --no-flag --int=+7 --float 0 --double 1e-300"), CLI_GO);
    CHECK_EQ_INT(v.flag, 0);
    CHECK_EQ_INT(v.i, 7);
    CHECK(v.f == 0.0f && v.d == 1e-300);
    free_fields(&v);

    init(&v);   /* nothing given: the defaults stay */
    CHECK_EQ_INT(parse_line(&v, 0, ""), CLI_GO);
    CHECK(v.i == 3 && v.l == 7 && v.u == 42 && v.f == 1.5f && v.d == 0.25 && v.e == 2 && !v.s && !v.seen_i);
    free_fields(&v);
}

static void test_errors(void) {
    static const char *const bad[] = {
        "--nope", "-x", "--int", "--int=", "--int 11", "--int -6", "--int 1.5", "--int abc", "--int 99999999999999999999",
        "--long 0", "--long x", "--u64 -1", "--u64 1.0", "--u64 abc", "--u64 99999999999999999999", "--u64 ''",
        "--float 4.01", "--float -0.1", "--float nan", "--float inf", "--float -inf", "--float 1e999", "--float 1x",
        "--float", "--double 0", "--double 1.5", "--double nan", "--token ab", "--token abcdefg", "--buf 12345678",
        "--color purple", "--color RED", "--color", "--flag=1", "--a-only --b-only", "--list", "--list --int 1",
        "--one", "stray", "-i", "--str",
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        fields v;
        init(&v);
        CHECK_MSG(parse_line(&v, 0, bad[k]) == 2, "'%s' was accepted", bad[k]);
        CHECK_MSG(v.i == 3 && v.l == 7 && v.u == 42 && v.f == 1.5f && v.d == 0.25 && v.e == 2 && !strcmp(v.buf, "seed"),
                  "'%s' changed a field", bad[k]);
        CHECK_MSG(!v.list.v && !v.one.v && !v.pos.v, "'%s' left a list allocated", bad[k]);
    }
    fields v;
    init(&v);   /* a list takes the words up to the next option */
    CHECK_EQ_INT(parse_line(&v, 1, "a --list x y b c d"), CLI_GO);
    CHECK(v.pos.n == 1 && v.list.n == 5);
    free_fields(&v);
    init(&v);   /* too many positional arguments; the lists given before are freed */
    CHECK_EQ_INT(parse_line(&v, 1, "a b c --list x -- d"), 2);
    CHECK(!v.list.v && !v.pos.v);
    init(&v);
    CHECK_EQ_INT(parse_line(&v, 0, "--help"), 0);
    init(&v);
    CHECK_EQ_INT(parse_line(&v, 0, "--int 2 -h --int 99"), 0);   /* help wins over what follows */
    CHECK_EQ_INT(v.i, 2);
    init(&v);
    CHECK_EQ_INT(parse_line(&v, 0, "--str --help"), CLI_GO);   /* a value that looks like --help is a value */
    CHECK(v.s && !strcmp(v.s, "--help"));
}

static void test_help(void) {
    fields v;
    init(&v);
    cli_opt t[24];
    table(t, &v);
    cli_cmd c = {.name = "test", .usage = "usage: test [options]\n", .footer = "the end\n", .opts = t};
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    CHECK(f != NULL);
    if (!f) return;
    cli_help(&c, f);
    fclose(f);
    static const char *const want[] = {
        "usage: test [options]\nsection:\n",
        "  -i, --int N           an int (-5..10) [3]\n",
        "  --long N              a long (>= 1) [all]\n",
        "  --u64 S               a seed (>= 0) [42]\n",
        "  --float X             a float (0..4) [1.5]\n",
        "  --double X            a double (> 0, <= 1) [0.25]\n",
        "  -s, --str S           a string [required]\n",
        "  --token T             at least 3 [none]\n",
        "  --buf B               a buffer [seed]\n",
        "  --color red|green|blue\n                        a color [green]\n",
        "  -f, --flag            a flag\n",
        "  --list X...           a list [none]\n",
        "  a note\n",
        "  --long-winded-option-name X\n                        a help text long enough",
        "  -h, --help            this help\nthe end\n",
    };
    for (size_t k = 0; k < sizeof want / sizeof *want; k++) CHECK_MSG(text && strstr(text, want[k]), "help lacks '%s'", want[k]);
    /* every option of the table is listed */
    for (int k = 0; t[k].type != CLI_T_END; k++)
        if (t[k].type >= CLI_T_FLAG) CHECK_MSG(text && strstr(text, t[k].name), "help lacks %s", t[k].name);
    /* no line is longer than the wrap width (118), and the long text was wrapped */
    int longest = 0, cur = 0;
    for (const char *p = text; p && *p; p++) {
        cur = *p == '\n' ? 0 : cur + 1;
        if (cur > longest) longest = cur;
    }
    CHECK_MSG(longest <= 118, "a help line of %d characters", longest);
    CHECK(text && strstr(text, "indent the rest"));
    free(text);
}

int main(void) {
    test_values();
    test_errors();
    test_help();
    RE_TEST_END();
}
