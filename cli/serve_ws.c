/*
 * serve_ws.c - WebSocket framing (RFC 6455) for `reenact serve`'s /api/live: the handshake key, the incremental
 * frame parser and message assembler, server frame headers and close payloads (serve_ws.h). No I/O here; the
 * socket loop is in serve_live.c. Fuzzed by tests/fuzz/fuzz_serve_ws.c.
 */
#include "serve_ws.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- SHA-1 (FIPS 180-4), only for the handshake's accept key ---------------------------------------------- */
static uint32_t rol(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

static void sha1_block(uint32_t h[5], const uint8_t *p) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999u; }
        else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1u; }
        else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDCu; }
        else { f = b ^ c ^ d; k = 0xCA62C1D6u; }
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d; d = c; c = rol(b, 30); b = a; a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

void ws_sha1(const void *data, size_t n, uint8_t out[20]) {
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    const uint8_t *p = data;
    size_t left = n;
    while (left >= 64) {
        sha1_block(h, p);
        p += 64;
        left -= 64;
    }
    uint8_t last[128];
    memset(last, 0, sizeof last);
    if (left) memcpy(last, p, left);
    last[left] = 0x80;
    const size_t tot = left + 9 <= 64 ? 64 : 128;
    const uint64_t bits = (uint64_t)n * 8;
    for (int i = 0; i < 8; i++) last[tot - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha1_block(h, last);
    if (tot == 128) sha1_block(h, last + 64);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int ws_accept_key(const char *key, char out[29]) {
    out[0] = 0;
    if (!key) return -1;
    /* the base64 of 16 bytes: 22 characters of the alphabet and "==" */
    if (strlen(key) != 24 || key[22] != '=' || key[23] != '=') return -1;
    for (int i = 0; i < 22; i++)
        if (!strchr(b64, key[i]) || key[i] == 0) return -1;
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char buf[24 + sizeof guid];
    memcpy(buf, key, 24);
    memcpy(buf + 24, guid, sizeof guid - 1);
    uint8_t d[21];
    ws_sha1(buf, 24 + sizeof guid - 1, d);
    d[20] = 0;
    int o = 0;
    for (int i = 0; i < 21; i += 3) {
        const uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | (uint32_t)d[i + 2];   /* d[20] = 0 */
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    out[27] = '=';   /* 20 bytes: 27 characters and one pad */
    out[28] = 0;
    return 0;
}

int ws_header_has_token(const char *value, const char *token) {
    if (!value || !token) return 0;
    const size_t tl = strlen(token);
    const char *p = value;
    while (*p) {
        p += strspn(p, " \t,");
        const char *e = p + strcspn(p, ",");
        const char *q = e;
        while (q > p && (q[-1] == ' ' || q[-1] == '\t')) q--;
        if ((size_t)(q - p) == tl && !strncasecmp(p, token, tl)) return 1;
        p = e;
    }
    return 0;
}

/* ---- UTF-8 ---------------------------------------------------------------------------------------------- */
int ws_utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        const uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        int k;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) { k = 1; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { k = 2; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { k = 3; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (n - i <= (size_t)k) return 0;
        for (int j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += (size_t)k + 1;
    }
    return 1;
}

/* ---- writing ---------------------------------------------------------------------------------------------- */
size_t ws_frame_header(uint8_t out[10], int opcode, uint64_t len) {
    out[0] = (uint8_t)(0x80 | (opcode & 0x0F));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (8 * (7 - i)));
    return 10;
}

size_t ws_close_payload(uint8_t out[125], int code, const char *reason) {
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    size_t n = reason ? strlen(reason) : 0;
    if (n > WS_REASON_MAX) {
        n = WS_REASON_MAX;
        while (n > 0 && ((uint8_t)reason[n] & 0xC0) == 0x80) n--;   /* do not cut a character */
    }
    if (n) memcpy(out + 2, reason, n);
    while (n > 0 && !ws_utf8_valid(out + 2, n)) n--;   /* a reason that is not UTF-8 is cut where it stops being */
    return 2 + n;
}

int ws_close_code_valid(int code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
}

/* ---- reading ---------------------------------------------------------------------------------------------- */
void ws_reader_init(ws_reader *r, size_t max_message, int require_mask) {
    memset(r, 0, sizeof *r);
    r->max_message = max_message;
    r->require_mask = require_mask;
}

void ws_reader_free(ws_reader *r) {
    free(r->msg);
    r->msg = NULL;
    r->msg_n = r->msg_cap = 0;
}

uint8_t *ws_reader_take(ws_reader *r, size_t *len) {
    uint8_t *p = r->msg;
    *len = r->msg_n;
    r->msg = NULL;
    r->msg_n = r->msg_cap = 0;
    return p;
}

static ws_event_kind fail(ws_reader *r, ws_event *ev, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static ws_event_kind fail(ws_reader *r, ws_event *ev, int code, const char *fmt, ...) {
    r->failed = 1;
    ev->kind = WS_EV_ERROR;
    ev->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev->reason, sizeof ev->reason, fmt, ap);
    va_end(ap);
    return WS_EV_ERROR;
}

/* Bytes of the header once its first two are known. */
static size_t header_len(const uint8_t *h) {
    const int l7 = h[1] & 0x7F;
    return 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((h[1] & 0x80) ? 4 : 0);
}

/* The header is complete: check it and set up the payload. Returns WS_EV_NONE to go on, or WS_EV_ERROR. */
static ws_event_kind start_frame(ws_reader *r, ws_event *ev) {
    const uint8_t *h = r->hdr;
    r->fin = (h[0] & 0x80) != 0;
    r->opcode = h[0] & 0x0F;
    r->masked = (h[1] & 0x80) != 0;
    const int l7 = h[1] & 0x7F;
    uint64_t len = (uint64_t)l7;
    size_t at = 2;
    if (l7 == 126) {
        len = (uint64_t)h[2] << 8 | h[3];
        at = 4;
        if (len < 126)
            return fail(r, ev, WS_CLOSE_PROTOCOL, "frame length %llu not minimally encoded", (unsigned long long)len);
    } else if (l7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++) len = len << 8 | h[2 + i];
        at = 10;
        if (len >> 63) return fail(r, ev, WS_CLOSE_PROTOCOL, "frame length has its top bit set");
        if (len <= 0xFFFF)
            return fail(r, ev, WS_CLOSE_PROTOCOL, "frame length %llu not minimally encoded", (unsigned long long)len);
    }
    if (r->masked) memcpy(r->mask, h + at, 4);
    if (h[0] & 0x70) return fail(r, ev, WS_CLOSE_PROTOCOL, "reserved bits set (no extension was agreed)");
    if (r->require_mask && !r->masked)
        return fail(r, ev, WS_CLOSE_PROTOCOL, "client frames must be masked");
    const int op = r->opcode;
    if (op >= 8) {
        if (op != WS_OP_CLOSE && op != WS_OP_PING && op != WS_OP_PONG)
            return fail(r, ev, WS_CLOSE_PROTOCOL, "unknown control opcode %d", op);
        if (!r->fin) return fail(r, ev, WS_CLOSE_PROTOCOL, "fragmented control frame");
        if (len > 125)
            return fail(r, ev, WS_CLOSE_PROTOCOL, "control frame of %llu bytes (at most 125)", (unsigned long long)len);
        r->ctl_n = 0;
    } else {
        if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY)
            return fail(r, ev, WS_CLOSE_PROTOCOL, "unknown data opcode %d", op);
        if (op == WS_OP_CONT && !r->msg_op)
            return fail(r, ev, WS_CLOSE_PROTOCOL, "continuation frame without a message");
        if (op != WS_OP_CONT && r->msg_op)
            return fail(r, ev, WS_CLOSE_PROTOCOL, "new message before the previous one ended");
        if (op != WS_OP_CONT) {
            r->msg_op = op;
            r->msg_n = 0;
        }
        if (len > r->max_message || r->msg_n > r->max_message - len)
            return fail(r, ev, WS_CLOSE_TOO_BIG, "message of %s%llu bytes is over the limit of %llu bytes",
                        r->msg_n ? "at least " : "", (unsigned long long)(r->msg_n + len),
                        (unsigned long long)r->max_message);
        const size_t need = r->msg_n + (size_t)len;
        if (need > r->msg_cap) {   /* geometric growth for many fragments, never past the limit */
            size_t cap = r->msg_cap * 2 > r->max_message ? r->max_message : r->msg_cap * 2;
            if (cap < need) cap = need;
            uint8_t *p = realloc(r->msg, cap ? cap : 1);
            if (!p)
                return fail(r, ev, WS_CLOSE_INTERNAL, "out of memory for a %llu-byte message", (unsigned long long)need);
            r->msg = p;
            r->msg_cap = cap;
        }
    }
    r->remaining = len;
    r->pos = 0;
    r->in_payload = 1;
    return WS_EV_NONE;
}

/* The frame's payload is complete. Returns the event it makes (WS_EV_NONE for a non-final fragment). */
static ws_event_kind end_frame(ws_reader *r, ws_event *ev) {
    r->in_payload = 0;
    r->hdr_n = 0;
    switch (r->opcode) {
    case WS_OP_PING:
    case WS_OP_PONG:
        ev->kind = r->opcode == WS_OP_PING ? WS_EV_PING : WS_EV_PONG;
        ev->data = r->ctl;
        ev->len = r->ctl_n;
        return ev->kind;
    case WS_OP_CLOSE:
        if (r->ctl_n == 1) return fail(r, ev, WS_CLOSE_PROTOCOL, "close frame with a 1-byte payload");
        ev->code = WS_CLOSE_NO_STATUS;
        ev->data = r->ctl + 2;
        ev->len = 0;
        if (r->ctl_n >= 2) {
            ev->code = r->ctl[0] << 8 | r->ctl[1];
            ev->len = r->ctl_n - 2;
            if (!ws_close_code_valid(ev->code))
                return fail(r, ev, WS_CLOSE_PROTOCOL, "invalid close code %d", ev->code);
            if (!ws_utf8_valid(ev->data, ev->len))
                return fail(r, ev, WS_CLOSE_BAD_DATA, "close reason is not UTF-8");
        }
        ev->kind = WS_EV_CLOSE;
        r->failed = 1;   /* nothing may follow a close */
        return WS_EV_CLOSE;
    default:
        break;
    }
    if (!r->fin) return WS_EV_NONE;
    const int op = r->msg_op;
    r->msg_op = 0;
    if (op == WS_OP_TEXT && !ws_utf8_valid(r->msg, r->msg_n))
        return fail(r, ev, WS_CLOSE_BAD_DATA, "text message is not UTF-8");
    ev->kind = WS_EV_MESSAGE;
    ev->opcode = op;
    ev->data = r->msg;
    ev->len = r->msg_n;
    return WS_EV_MESSAGE;
}

ws_event_kind ws_reader_feed(ws_reader *r, const uint8_t *data, size_t n, size_t *used, ws_event *ev) {
    memset(ev, 0, sizeof *ev);
    *used = 0;
    if (r->failed) {
        ev->kind = WS_EV_ERROR;
        ev->code = WS_CLOSE_PROTOCOL;
        snprintf(ev->reason, sizeof ev->reason, "data after the connection failed or closed");
        return WS_EV_ERROR;
    }
    size_t i = 0;
    while (1) {
        if (!r->in_payload) {
            while (i < n && (r->hdr_n < 2 || r->hdr_n < header_len(r->hdr))) r->hdr[r->hdr_n++] = data[i++];
            if (r->hdr_n < 2 || r->hdr_n < header_len(r->hdr)) break;
            ws_event_kind k = start_frame(r, ev);
            if (k == WS_EV_ERROR) {
                *used = i;
                return k;
            }
        }
        if (r->remaining > 0) {
            size_t k = n - i;
            if ((uint64_t)k > r->remaining) k = (size_t)r->remaining;
            if (k == 0) break;
            uint8_t *dst = r->opcode >= 8 ? r->ctl + r->ctl_n : r->msg + r->msg_n;
            const uint8_t *src = data + i;
            if (r->masked)
                for (size_t j = 0; j < k; j++) dst[j] = src[j] ^ r->mask[(r->pos + j) & 3];
            else
                memcpy(dst, src, k);
            if (r->opcode >= 8) r->ctl_n += k;
            else r->msg_n += k;
            r->pos += k;
            r->remaining -= k;
            i += k;
            if (r->remaining > 0) break;
        }
        ws_event_kind k = end_frame(r, ev);
        if (k != WS_EV_NONE) {
            *used = i;
            return k;
        }
    }
    *used = i;
    ev->kind = WS_EV_NONE;
    return WS_EV_NONE;
}
