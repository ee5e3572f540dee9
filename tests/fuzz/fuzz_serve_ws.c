/*
 * fuzz_serve_ws.c - libFuzzer target for the WebSocket framing of `reenact serve`'s /api/live (cli/serve_ws.c): the
 * incremental frame parser and message assembler, fed the input in chunks whose sizes come from the input itself,
 * plus the handshake key, header token lists, close payloads and UTF-8 checks.
 *   libFuzzer: cmake -S . -B build-fuzz -DRE_FUZZ=ON -DRE_SANITIZE=ON -DCMAKE_C_COMPILER=clang \
 *                    -DCMAKE_CXX_COMPILER=clang++ -DRE_WITH_DLIB=OFF -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link
 *              cmake --build build-fuzz --target fuzz_serve_ws_lf
 *              build-fuzz/tests/fuzz_serve_ws_lf -max_total_time=60 tests/fuzz/corpus/serve_ws
 *   replay (any compiler, also a ctest): build/tests/fuzz_serve_ws tests/fuzz/corpus/serve_ws
 * Input: byte 0 picks the message limit (64 << (b & 15) bytes) and whether masking is required (b & 16); byte 1 the
 * chunk size pattern; the rest is the byte stream from the client. Invariants: every message is within the limit and
 * text messages are UTF-8; control payloads are at most 125 bytes; a close code is valid or 1005; consumed counts never
 * exceed the input; after an error or a close the reader answers an error to anything; the same stream fed whole and
 * in chunks gives the same events. Violations abort() so the fuzzer records the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve_ws.h"

#define FUZZ_MAX_INPUT (256u << 10)
#define MAX_EVENTS 4096
#define INVARIANT(c) do { if (!(c)) { fprintf(stderr, "fuzz_serve_ws: invariant failed: %s (line %d)\n", #c, \
    __LINE__); abort(); } } while (0)

typedef struct summary {
    int n;
    int kind[MAX_EVENTS];
    size_t len[MAX_EVENTS];
    uint32_t sum[MAX_EVENTS];
} summary;

static uint32_t checksum(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Feed data in chunks (chunk == 0: whole), checking the invariants, and record the events. */
static void run(const uint8_t *data, size_t n, size_t max_message, int require_mask, unsigned pattern, summary *sm) {
    ws_reader r;
    ws_reader_init(&r, max_message, require_mask);
    memset(sm, 0, sizeof *sm);
    size_t off = 0, step = 0;
    int ended = 0;
    while (off < n && sm->n < MAX_EVENTS) {
        size_t chunk = pattern ? 1 + ((pattern * (step + 7)) % 97) : n - off;
        step++;
        if (chunk > n - off) chunk = n - off;
        size_t done = 0;
        while (done < chunk && sm->n < MAX_EVENTS) {
            size_t used = 0;
            ws_event ev;
            ws_event_kind k = ws_reader_feed(&r, data + off + done, chunk - done, &used, &ev);
            INVARIANT(used <= chunk - done);
            INVARIANT(k == ev.kind);
            done += used;
            if (k == WS_EV_NONE) {
                INVARIANT(done == chunk);
                break;
            }
            if (ended) INVARIANT(k == WS_EV_ERROR && used == 0);
            sm->kind[sm->n] = k;
            sm->len[sm->n] = ev.len;
            sm->sum[sm->n] = ev.data ? checksum(ev.data, ev.len) : 0;
            sm->n++;
            switch (k) {
            case WS_EV_MESSAGE:
                INVARIANT(ev.len <= max_message);
                INVARIANT(ev.opcode == WS_OP_TEXT || ev.opcode == WS_OP_BINARY);
                if (ev.opcode == WS_OP_TEXT) INVARIANT(ws_utf8_valid(ev.data, ev.len));
                if (sm->n % 2) {   /* sometimes take the buffer, as the server does with frames */
                    size_t tl = 0;
                    uint8_t *t = ws_reader_take(&r, &tl);
                    INVARIANT(tl == ev.len);
                    free(t);
                }
                break;
            case WS_EV_PING:
            case WS_EV_PONG: INVARIANT(ev.len <= 125); break;
            case WS_EV_CLOSE:
                INVARIANT(ev.code == WS_CLOSE_NO_STATUS || ws_close_code_valid(ev.code));
                INVARIANT(ev.len <= 123 && ws_utf8_valid(ev.data, ev.len));
                ended = 1;
                break;
            case WS_EV_ERROR:
                INVARIANT(ev.code >= 1000 && ev.code <= 1011);
                INVARIANT(ev.reason[0] != 0 && strlen(ev.reason) <= WS_REASON_MAX);
                ended = 1;
                break;
            default: INVARIANT(0);
            }
            if (ended) break;
        }
        off += chunk;
        if (ended) break;
    }
    ws_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2 || size > FUZZ_MAX_INPUT) return 0;
    const size_t max_message = (size_t)64 << (data[0] & 15);
    const int require_mask = (data[0] & 16) != 0;
    const unsigned pattern = data[1] | 1u;
    static summary whole, chunked;
    run(data + 2, size - 2, max_message, require_mask, 0, &whole);
    run(data + 2, size - 2, max_message, require_mask, pattern, &chunked);
    /* chunking never changes what the stream means */
    INVARIANT(whole.n == chunked.n || whole.n == MAX_EVENTS || chunked.n == MAX_EVENTS);
    for (int i = 0; i < whole.n && i < chunked.n; i++) {
        INVARIANT(whole.kind[i] == chunked.kind[i]);
        INVARIANT(whole.len[i] == chunked.len[i]);
        if (whole.kind[i] != WS_EV_ERROR) INVARIANT(whole.sum[i] == chunked.sum[i]);
    }

    /* the helpers, on the input as text */
    char s[256];
    size_t k = size - 2 < sizeof s - 1 ? size - 2 : sizeof s - 1;
    memcpy(s, data + 2, k);
    s[k] = 0;
    char acc[29];
    if (ws_accept_key(s, acc) == 0) INVARIANT(strlen(acc) == 28 && acc[27] == '=');
    (void)ws_header_has_token(s, "upgrade");
    (void)ws_header_has_token(s, "websocket");
    uint8_t pl[125];
    size_t pn = ws_close_payload(pl, 1008, s);
    INVARIANT(pn >= 2 && pn <= 125 && ws_utf8_valid(pl + 2, pn - 2));
    uint8_t hdr[10];
    size_t hn = ws_frame_header(hdr, WS_OP_BINARY, size);
    INVARIANT(hn == 2 || hn == 4 || hn == 10);
    return 0;
}
