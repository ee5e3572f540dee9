/*
 * serve_ws.h - the WebSocket protocol (RFC 6455) of `reenact serve`'s /api/live, as far as it is our own code: the
 * opening handshake's key (SHA-1 + base64; the HTTP side of the handshake goes through libmicrohttpd's upgrade),
 * an incremental frame parser that assembles messages (client masking required, fragmentation, control frames
 * between fragments, a size limit checked on each frame's declared length before its payload is read, UTF-8 of text
 * messages and close reasons), and the server's frame headers and close payloads. Plain functions without I/O,
 * MHD or threads, so tests/fuzz/fuzz_serve_ws.c drives them directly. No input makes the parser allocate more than
 * its message limit.
 */
#ifndef RE_SERVE_WS_H
#define RE_SERVE_WS_H

#include <stddef.h>
#include <stdint.h>

enum {
    WS_OP_CONT = 0x0, WS_OP_TEXT = 0x1, WS_OP_BINARY = 0x2, WS_OP_CLOSE = 0x8, WS_OP_PING = 0x9, WS_OP_PONG = 0xA
};
/* Close codes (RFC 6455 7.4.1). */
enum {
    WS_CLOSE_NORMAL = 1000, WS_CLOSE_GOING_AWAY = 1001, WS_CLOSE_PROTOCOL = 1002, WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005, WS_CLOSE_BAD_DATA = 1007, WS_CLOSE_POLICY = 1008, WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011, WS_CLOSE_TRY_AGAIN = 1013
};
#define WS_REASON_MAX 123   /* bytes of a close reason (125 minus the code) */

typedef enum ws_event_kind {
    WS_EV_NONE = 0,   /* all input consumed, no event complete yet */
    WS_EV_MESSAGE,    /* a whole text or binary message */
    WS_EV_PING,
    WS_EV_PONG,
    WS_EV_CLOSE,      /* the peer's close frame */
    WS_EV_ERROR,      /* a protocol violation: close with ev.code and ev.reason; the reader stays failed */
} ws_event_kind;

typedef struct ws_event {
    ws_event_kind kind;
    int opcode;                  /* WS_EV_MESSAGE: WS_OP_TEXT or WS_OP_BINARY */
    const uint8_t *data;         /* MESSAGE, PING, PONG, CLOSE (the reason): valid until the next feed or take */
    size_t len;
    int code;                    /* CLOSE: the peer's code (WS_CLOSE_NO_STATUS when none); ERROR: the code to send */
    char reason[WS_REASON_MAX + 1];   /* ERROR: why, NUL-terminated */
} ws_event;

typedef struct ws_reader {
    size_t max_message;          /* largest message accepted (bytes); may be changed between messages */
    int require_mask;            /* 1 on a server: unmasked client frames are a protocol error */
    int failed;
    /* the frame header being read */
    uint8_t hdr[14];
    size_t hdr_n;
    int in_payload;
    int fin, opcode, masked;
    uint8_t mask[4];
    uint64_t remaining, pos;
    /* control frame payload */
    uint8_t ctl[125];
    size_t ctl_n;
    /* the data message being assembled */
    int msg_op;                  /* 0 when none is in progress */
    uint8_t *msg;
    size_t msg_n, msg_cap;
} ws_reader;

void ws_reader_init(ws_reader *r, size_t max_message, int require_mask);
void ws_reader_free(ws_reader *r);
/* Consume input until one event completes (or the input ends): *used is set to the bytes consumed, so call again with
 * the rest. After WS_EV_ERROR every call returns WS_EV_ERROR again. Returns the event's kind (also in ev->kind). */
ws_event_kind ws_reader_feed(ws_reader *r, const uint8_t *data, size_t n, size_t *used, ws_event *ev);
/* After WS_EV_MESSAGE: take the message's buffer (malloc'ed, *len bytes; the caller frees it) instead of copying. */
uint8_t *ws_reader_take(ws_reader *r, size_t *len);

/* Header of an unmasked frame with FIN set: writes 2, 4 or 10 bytes to out and returns how many. */
size_t ws_frame_header(uint8_t out[10], int opcode, uint64_t len);
/* Close frame payload: code (big-endian) + reason, truncated to WS_REASON_MAX bytes at a UTF-8 boundary. Returns its
 * length (2..125). */
size_t ws_close_payload(uint8_t out[125], int code, const char *reason);
/* 1 if a peer may send this close code (1000-1003, 1007-1011, 3000-4999). */
int ws_close_code_valid(int code);
/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points over U+10FFFF). */
int ws_utf8_valid(const uint8_t *s, size_t n);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + RFC 6455's GUID)) into out (28 chars + NUL).
 * Returns -1 when the key is not the base64 of 16 bytes (a 400). */
int ws_accept_key(const char *key, char out[29]);
void ws_sha1(const void *data, size_t n, uint8_t out[20]);
/* 1 if a comma-separated header value (Connection, Upgrade) holds token, compared without case. */
int ws_header_has_token(const char *value, const char *token);

#endif
