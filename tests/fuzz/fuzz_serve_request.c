/*
 * fuzz_serve_request.c - libFuzzer target for the request handling of `reenact serve` that is our own code, not
 * libmicrohttpd's (cli/serve_parse.c): routing of decoded URL paths and job ids, the job form's option fields and
 * their combination check, content sniffing of uploads, Range headers, bearer tokens, host and message scrubbing.
 *   libFuzzer: cmake -S . -B build-fuzz -DRE_FUZZ=ON -DRE_SANITIZE=ON -DCMAKE_C_COMPILER=clang \
 *                    -DCMAKE_CXX_COMPILER=clang++ -DRE_WITH_DLIB=OFF -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link
 *              cmake --build build-fuzz --target fuzz_serve_request_lf
 *              build-fuzz/tests/fuzz_serve_request_lf -max_total_time=60 tests/fuzz/corpus/serve_request
 *   replay (any compiler, also a ctest): build/tests/fuzz_serve_request tests/fuzz/corpus/serve_request
 * Input: line 1 "METHOD PATH"; then lines "key=value" (form fields) or "Range: ...", "Authorization: ...",
 * "Host: ..."; the whole input is also sniffed as an upload. Capped at 64 KB. Invariants: a routed job id is 32
 * lowercase hex digits; a failed field leaves a message; a range lies inside the file; options stay in their
 * documented ranges. Violations abort() so the fuzzer records the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serve_parse.h"

#define FUZZ_MAX_INPUT (64u << 10)
#define INVARIANT(c) do { if (!(c)) { fprintf(stderr, "fuzz_serve_request: invariant failed: %s (line %d)\n", \
    #c, __LINE__); abort(); } } while (0)

static void one_line(serve_opts *o, const char *line, uint64_t total) {
    char err[SERVE_ERR_MAX];
    if (!strncmp(line, "Range: ", 7)) {
        uint64_t a = 0, b = 0;
        int r = serve_range_parse(line + 7, total, &a, &b);
        INVARIANT(r >= -1 && r <= 1);
        if (r == 1) INVARIANT(a <= b && b < total);
        return;
    }
    if (!strncmp(line, "Authorization: ", 15)) {
        const char *t = serve_bearer(line + 15);
        if (t) {
            INVARIANT(serve_token_eq(t, t) == 1);
            INVARIANT(serve_token_eq(t, "x-not-the-token") == !strcmp(t, "x-not-the-token"));
        }
        return;
    }
    if (!strncmp(line, "Host: ", 6)) {
        int lb = serve_host_is_loopback(line + 6);
        INVARIANT(lb == 0 || lb == 1);
        char msg[256];
        snprintf(msg, sizeof msg, "%s/x: error in %s/x", line + 6, line + 6);
        serve_scrub(msg, line + 6);
        INVARIANT(line[6] == 0 || !strstr(msg, line + 6));
        int ha = serve_host_allowed(line + 6, "127.0.0.1", 8080);
        INVARIANT(ha == 0 || ha == 1);
        if (ha) INVARIANT(!strncasecmp(line + 6, "127.0.0.1", 9) || !strncasecmp(line + 6, "localhost", 9) ||
                          !strncmp(line + 6, "[::1]", 5));
        char origin[300];
        snprintf(origin, sizeof origin, "http://%s", line + 6);
        INVARIANT(serve_origin_allowed(origin, "127.0.0.1", 8080) == ha || strlen(line + 6) > 280);
        return;
    }
    const char *eq = strchr(line, '=');
    if (!eq) return;
    char key[128];
    size_t kn = (size_t)(eq - line) < sizeof key - 1 ? (size_t)(eq - line) : sizeof key - 1;
    memcpy(key, line, kn);
    key[kn] = 0;
    err[0] = 0;
    int r = serve_opts_set(o, key, eq + 1, err, sizeof err);
    if (r != 0) INVARIANT(r == -1 && err[0] != 0);
    INVARIANT(o->a.strength >= -RE_ANIM_STRENGTH_MAX && o->a.strength <= RE_ANIM_STRENGTH_MAX);
    INVARIANT(o->a.format == RE_VIDEO_MP4 || o->a.format == RE_VIDEO_WEBM || o->a.format == RE_VIDEO_GIF);
    INVARIANT(o->a.out_size == 0 || (o->a.out_size >= 16 && o->a.out_size <= 4096));
    INVARIANT(o->a.batch >= 1 && o->a.batch <= 256 && o->a.max_frames >= 0);
    INVARIANT(o->a.render_opts.residual >= 0 && o->a.render_opts.residual <= 4);
    INVARIANT(o->a.render_opts.eye_motion >= 0 && o->a.render_opts.eye_motion <= 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_INPUT) return 0;
    /* the whole input as an upload's first bytes */
    serve_kind k = serve_sniff(data, size, size);
    INVARIANT(serve_kind_name(k) != NULL);
    INVARIANT(!(serve_kind_is_image(k) && serve_kind_is_video(k)));
    if (k == SERVE_K_SAFETENSORS) INVARIANT(size >= 9 && data[8] == '{');
    if (k == SERVE_K_EMPTY) INVARIANT(size == 0);

    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;   /* lines end at '\n' or at an embedded NUL */
    char *line = s, *nl = strchr(line, '\n');
    if (nl) *nl = 0;
    char method[16] = "GET";
    const char *path = line;
    char *sp = strchr(line, ' ');
    if (sp && (size_t)(sp - line) < sizeof method) {
        memcpy(method, line, (size_t)(sp - line));
        method[sp - line] = 0;
        path = sp + 1;
    }
    serve_route r;
    serve_route_parse(method, path, &r);
    switch (r.kind) {
    case SERVE_R_JOB_GET: case SERVE_R_JOB_DELETE: case SERVE_R_JOB_RESULT: case SERVE_R_JOB_STORYBOARD:
    case SERVE_R_JOB_EVENTS:
        INVARIANT(serve_id_valid(r.id) && !strchr(r.id, '.') && !strchr(r.id, '/') && r.api);
        break;
    case SERVE_R_BAD_METHOD:
        INVARIANT(r.allow != NULL);
        break;
    default:
        INVARIANT(r.id[0] == 0 || serve_id_valid(r.id));
    }

    serve_opts o;
    serve_opts_default(&o);
    while (nl) {
        line = nl + 1;
        nl = strchr(line, '\n');
        if (nl) *nl = 0;
        one_line(&o, line, size);
    }
    char err[SERVE_ERR_MAX];
    if (serve_opts_check(&o, err, sizeof err) != 0) INVARIANT(err[0] != 0 && o.a.aligned && o.a.ref == RE_REF_BEST);
    free(s);
    return 0;
}
