/*
 * fuzz_serve_live_opts.c - libFuzzer target for the options of `reenact serve`'s live channel (GET /api/live): the
 * text messages a client sends (cli/serve_parse.c: serve_live_text_parse, a JSON object {"type": "options", ...} or
 * {"type": "reset"}) and the option parser behind them (serve_live_opts_set, serve_live_opts_check).
 *   libFuzzer: cmake -S . -B build-fuzz -DRE_FUZZ=ON -DRE_SANITIZE=ON -DCMAKE_C_COMPILER=clang \
 *                    -DCMAKE_CXX_COMPILER=clang++ -DRE_WITH_DLIB=OFF -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link
 *              cmake --build build-fuzz --target fuzz_serve_live_opts_lf
 *              build-fuzz/tests/fuzz_serve_live_opts_lf -max_total_time=60 tests/fuzz/corpus/serve_live_opts
 *   replay (any compiler, also a ctest): build/tests/fuzz_serve_live_opts tests/fuzz/corpus/serve_live_opts
 * Input: the whole input is one text message (as the WebSocket reader hands it over: any bytes, not NUL-terminated);
 * then each line "key=value" of it is also applied to fresh options with serve_live_opts_set. Capped at 64 KiB (the
 * server's text message limit). Invariants: every failure leaves a message that fits its buffer; accepted options
 * stay in their documented ranges (fps 1..120, quality 10..100, size 16..1024, 1920 with paste_back, strength
 * +-RE_ANIM_STRENGTH_MAX, the motion controls' ranges) and the job-only fields keep their defaults; parsing is
 * deterministic. Violations abort() so the fuzzer records the input.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve_parse.h"

#define FUZZ_MAX_INPUT (64u << 10)
#define INVARIANT(c) do { if (!(c)) { fprintf(stderr, "fuzz_serve_live_opts: invariant failed: %s (line %d)\n", \
    #c, __LINE__); abort(); } } while (0)

static int in(double x, double lo, double hi) { return isfinite(x) && x >= lo && x <= hi; }

/* What any accepted set of live options must satisfy (before the final check: size may still be up to 4096). */
static void check_ranges(const serve_live_opts *lo, const serve_live_opts *def) {
    const re_anim_opts *a = &lo->o.a;
    INVARIANT(in(lo->fps, 1, 120));
    INVARIANT(lo->quality >= 10 && lo->quality <= 100);
    INVARIANT(in(a->strength, -RE_ANIM_STRENGTH_MAX, RE_ANIM_STRENGTH_MAX));
    INVARIANT(a->out_size >= 16 && a->out_size <= 4096);
    INVARIANT(in(a->render_opts.residual, 0, 4) && in(a->render_opts.motion, 0, 4));
    INVARIANT(in(a->render_opts.eye_motion, 0, 4));
    INVARIANT(in(a->smooth_opts.min_cutoff, 1e-3, 1000) && in(a->smooth_opts.beta, 0, 1000));
    INVARIANT(in(a->steer.lips, 0, 3) && in(a->steer.eyes, 0, 3));
    INVARIANT(in(a->steer.offset[RE_ATTR_SMILE], -3, 3) && in(a->steer.offset[RE_ATTR_BROWS], -3, 3));
    INVARIANT(in(a->steer.offset[RE_ATTR_YAW], -30, 30) && in(a->steer.offset[RE_ATTR_PITCH], -30, 30) &&
              in(a->steer.offset[RE_ATTR_ROLL], -30, 30));
    INVARIANT(a->render == RE_RENDER_PHOTO || a->render == RE_RENDER_MODEL);
    INVARIANT(a->precision == RE_PREC_F32 || a->precision == RE_PREC_BF16 || a->precision == RE_PREC_AUTO ||
              a->precision == RE_PREC_MIXED);
    INVARIANT(lo->o.use_demo == 0 || lo->o.use_demo == 1);
    /* the fields of jobs and files are refused by name: they keep their defaults */
    const re_anim_opts *d = &def->o.a;
    INVARIANT(a->ref == d->ref && a->sample == d->sample && a->seed == d->seed && a->side_by_side == d->side_by_side);
    INVARIANT(a->format == d->format && a->crf == d->crf && a->audio == d->audio);
    INVARIANT(lo->o.storyboard == def->o.storyboard && a->storyboard_every == d->storyboard_every);
    INVARIANT(a->max_frames == d->max_frames && a->batch == d->batch);
}

static void check_err(const char *err, size_t errn) {
    INVARIANT(err[0] != 0);
    INVARIANT(memchr(err, 0, errn) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_INPUT) return 0;
    serve_live_opts def;
    serve_live_opts_default(&def);
    check_ranges(&def, &def);

    /* 1. the whole input as a text message */
    serve_live_opts a, b;
    char ea[SERVE_ERR_MAX + 64], eb[SERVE_ERR_MAX + 64];
    memset(ea, 0, sizeof ea);
    memset(eb, 0, sizeof eb);
    const serve_live_msg ra = serve_live_text_parse((const char *)data, size, &a, ea, sizeof ea);
    const serve_live_msg rb = serve_live_text_parse((const char *)data, size, &b, eb, sizeof eb);
    INVARIANT(ra == rb);
    INVARIANT(ra == SERVE_LIVE_MSG_OPTIONS || ra == SERVE_LIVE_MSG_RESET || ra == SERVE_LIVE_MSG_NOT_OBJECT ||
              ra == SERVE_LIVE_MSG_UNKNOWN || ra == SERVE_LIVE_MSG_BAD_OPTION);
    if (ra == SERVE_LIVE_MSG_OPTIONS) {
        check_ranges(&a, &def);
        INVARIANT(a.o.a.out_size <= (a.o.a.paste_back ? 1920 : 1024));
        INVARIANT(a.fps == b.fps && a.quality == b.quality && a.o.a.out_size == b.o.a.out_size &&
                  a.o.a.strength == b.o.a.strength && a.o.use_demo == b.o.use_demo);
    } else if (ra != SERVE_LIVE_MSG_RESET) {
        check_err(ea, sizeof ea);
        INVARIANT(!strcmp(ea, eb));
    }
    /* a small error buffer: messages are cut, never overrun */
    char tiny[8];
    serve_live_opts t;
    if (serve_live_text_parse((const char *)data, size, &t, tiny, sizeof tiny) < 0) INVARIANT(strlen(tiny) < sizeof tiny);

    /* 2. lines "key=value" straight into the option parser */
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;   /* lines end at '\n' or at an embedded NUL */
    serve_live_opts lo;
    serve_live_opts_default(&lo);
    for (char *line = s, *nl; line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl) *nl = 0;
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = 0;
        char e[SERVE_ERR_MAX + 64];
        e[0] = 0;
        const int r = serve_live_opts_set(&lo, line, eq + 1, e, sizeof e);
        INVARIANT(r == 0 || r == -1);
        if (r) check_err(e, sizeof e);
        check_ranges(&lo, &def);
    }
    char e[SERVE_ERR_MAX + 64];
    e[0] = 0;
    if (serve_live_opts_check(&lo, e, sizeof e) != 0) check_err(e, sizeof e);
    else INVARIANT(!lo.o.size_given || lo.o.a.out_size <= (lo.o.a.paste_back ? 1920 : 1024));
    free(s);
    return 0;
}
