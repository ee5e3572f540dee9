/*
 * fuzz_cli_opts.c - libFuzzer target for the option parser of every reenact command (cli/opt.c, compiled in):
 * argv words against a table with every value type.
 *   libFuzzer: cmake -S . -B build-fuzz -DRE_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
 *              cmake --build build-fuzz --target fuzz_cli_opts_lf
 *              build-fuzz/tests/fuzz_cli_opts_lf -max_total_time=60 tests/fuzz/corpus/cli_opts
 *   replay (any compiler, also a ctest): build/tests/fuzz_cli_opts tests/fuzz/corpus/cli_opts
 * Input: the words of argv[1..], separated by NUL or newline bytes (at most 64 words of the first 4 KiB).
 * Invariants: the result is CLI_GO, 0 (--help) or 2 (a usage error); after CLI_GO every field is within its
 * declared range (integers and numbers in [lo, hi], finite; the enum one of its values; the string at most its
 * buffer), the lists hold only words of the input or their parts after '=' (at most 4 positional ones); after any
 * other result the lists are freed. Violations abort() so the fuzzer records the input. The parser's messages
 * go to /dev/null.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opt.h"

#define INVARIANT(c) do { if (!(c)) { fprintf(stderr, "fuzz_cli_opts: invariant failed: %s (line %d)\n", #c, \
    __LINE__); abort(); } } while (0)

static const cli_choice choices[] = {{"a", 1}, {"bb", 2}, {"c", -3}, {NULL, 0}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static FILE *null;
    if (!null) null = fopen("/dev/null", "w");
    if (size > 4096) size = 4096;
    char buf[4097];
    memcpy(buf, data, size);
    buf[size] = 0;
    char *argv[66];
    int argc = 0;
    argv[argc++] = "fuzz";
    for (char *p = buf, *w = buf; argc < 65; p++) {
        if (p == buf + size || *p == '\n' || *p == 0) {
            const int end = p == buf + size;
            *p = 0;
            argv[argc++] = w;
            w = p + 1;
            if (end) break;
        }
    }
    argv[argc] = NULL;

    int i = 5, flag = 0, region = 0, e = 1, seen = 0;
    long l = 10;
    uint64_t u = 0;
    float f = 1;
    double d = 0.5;
    const char *s = NULL;
    char small[6] = "x";
    cli_list list = {0}, one = {0}, pos = {0};
    cli_opt sub[] = {
        CLI_FLAG("--x-only", NULL, &region, 1, "x", .excl = 1),
        CLI_FLAG("--y-only", NULL, &region, 2, "y", .excl = 1),
        CLI_END,
    };
    cli_opt opts[] = {
        CLI_INT("--int", "-i", &i, "N", -3, 7, "int", .seen = &seen),
        CLI_INT("--long", NULL, &l, "N", 1, CLI_INF, "long"),
        CLI_U64("--u64", NULL, &u, "S", "u64"),
        CLI_NUM("--float", NULL, &f, "X", -2, 2, "float"),
        CLI_NUM("--double", NULL, &d, "X", 0, 1, "double", .flags = CLI_LO_OPEN),
        CLI_STR("--str", "-s", &s, "S", "str", .lo = 2, .hi = 10),
        CLI_BUF("--buf", NULL, small, "B", "buf"),
        CLI_ENUM("--enum", NULL, &e, choices, "enum"),
        CLI_FLAG("--flag", "-f", &flag, 1, "flag"),
        CLI_INCLUDE(sub),
        CLI_LIST("--list", NULL, &list, "X...", "list"),
        CLI_LIST("--one", NULL, &one, "X", "one", .flags = CLI_ONE),
        CLI_END,
    };
    cli_cmd c = {.name = "fuzz", .opts = opts, .pos = (size & 1) ? &pos : NULL, .max_pos = 4};
    fflush(stdout);
    fflush(stderr);
    const int out = dup(1), err = dup(2);
    if (null) {
        dup2(fileno(null), 1);
        dup2(fileno(null), 2);
    }
    const int rc = cli_parse(&c, argc, argv);
    fflush(stdout);
    fflush(stderr);
    if (out >= 0) dup2(out, 1), close(out);
    if (err >= 0) dup2(err, 2), close(err);
    INVARIANT(rc == CLI_GO || rc == 0 || rc == 2);
    if (rc != CLI_GO) {
        INVARIANT(!list.v && !one.v && !pos.v && list.n == 0 && one.n == 0 && pos.n == 0);
        return 0;
    }
    INVARIANT(i >= -3 && i <= 7);
    INVARIANT(l >= 1);
    INVARIANT(isfinite(f) && f >= -2 && f <= 2);
    INVARIANT(isfinite(d) && d > 0 && d <= 1);
    INVARIANT(!s || (strlen(s) >= 2 && strlen(s) <= 10));
    INVARIANT(memchr(small, 0, sizeof small) != NULL);
    INVARIANT(e == 1 || e == 2 || e == -3);
    INVARIANT(region >= 0 && region <= 2 && (flag == 0 || flag == 1));
    const cli_list *lists[3] = {&list, &one, &pos};
    for (int k = 0; k < 3; k++) {
        INVARIANT(lists[k]->n >= 0 && lists[k]->n < argc);
        for (int q = 0; q < lists[k]->n; q++) {
            int found = 0;
            for (int a = 1; a < argc; a++)   /* a word, or the part after '=' of --name=value */
                found |= lists[k]->v[q] >= argv[a] && lists[k]->v[q] <= argv[a] + strlen(argv[a]);
            INVARIANT(found);
        }
    }
    INVARIANT(pos.n <= 4);
    (void)u;
    cli_cmd_free(&c);
    INVARIANT(!list.v && !one.v && !pos.v);
    return 0;
}
