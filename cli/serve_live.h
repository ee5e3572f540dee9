/*
 * serve_live.h - `reenact serve`'s live channel, GET /api/live (docs/API.md): WebSocket sessions on sockets that
 * libmicrohttpd hands over after the upgrade handshake (serve_http.c). The client sends options (text, JSON) and the
 * photo (binary), then driving frames (JPEG); each frame is answered with the animated frame (JPEG) after a JSON
 * line with its timing. Per session: a reader thread (the socket, serve_ws.c's framing) and a worker thread that
 * owns the model and the stream (re_live, include/reenact/live.h); at most one frame waits for the worker, a newer
 * one replaces it (the older is answered "skipped"), so latency never builds up.
 */
#ifndef RE_SERVE_LIVE_H
#define RE_SERVE_LIVE_H

#include <stddef.h>
#include <stdint.h>

#define SERVE_LIVE_MAX_PHOTO ((size_t)32 << 20)   /* bytes of the photo message at most (also --max-upload-mb) */
#define SERVE_LIVE_MAX_FRAME ((size_t)4 << 20)    /* bytes of a driving frame message at most */
#define SERVE_LIVE_MAX_TEXT ((size_t)64 << 10)    /* bytes of a text message at most */
#define SERVE_LIVE_MAX_SIDE 4096                  /* pixels of a driving frame's side at most */
#define SERVE_LIVE_IDLE_S 60                      /* a session without a message for this long is closed */

typedef struct serve_live_cfg {
    const char *model_path;    /* each session loads its own model (runs in parallel with jobs and other sessions) */
    const char *demo_photo;    /* the bundled demo photo, or NULL */
    int max_sessions;          /* live sessions at most (more: 503); 0 disables /api/live */
    size_t max_photo;          /* bytes of the photo message at most */
    int quiet;                 /* no session log on stderr */
} serve_live_cfg;

typedef struct serve_live serve_live;
struct MHD_UpgradeResponseHandle;

int serve_live_create(serve_live **out, const serve_live_cfg *cfg);
/* Reserve a session for a handshake about to be answered: 0, or -1 when all are taken or the server is stopping. */
int serve_live_reserve(serve_live *L);
void serve_live_unreserve(serve_live *L);   /* the handshake did not complete */
/* Run a session on an upgraded socket (uses the reservation; the socket is closed through urh at the end). extra:
 * bytes MHD read past the request, the session's first input. */
void serve_live_start(serve_live *L, int fd, struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t n);
void serve_live_counts(serve_live *L, int *active, int *max, int64_t *total);
/* Close every session (1001, "the server is shutting down") and wait for them to end; later upgrades are closed
 * at once. */
void serve_live_shutdown(serve_live *L);
void serve_live_free(serve_live *L);   /* after serve_live_shutdown; NULL is fine */

#endif
