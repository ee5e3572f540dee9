/*
 * serve_http.h - the HTTP side of `reenact serve` on libmicrohttpd: routes (serve_parse.c), the embedded page,
 * uploads through MHD's multipart post processor into the data dir, JSON answers (jansson), result downloads with
 * Range, server-sent progress events, and the WebSocket handshake of /api/live (serve_live.h). The API is
 * documented in docs/API.md.
 */
#ifndef RE_SERVE_HTTP_H
#define RE_SERVE_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include "serve_jobs.h"

typedef struct serve_http_cfg {
    const char *host;          /* numeric address or name to bind */
    int port;                  /* 0: any free port (serve_http_port tells which) */
    const char *token;         /* bearer token required on /api/, or NULL */
    uint64_t max_upload;       /* bytes per request */
    uint64_t max_file;         /* bytes per file of a request (<= max_upload) */
    serve_jobs *jobs;
    const char *model_path;
    const char *demo_photo;    /* bundled demo files, or NULL when absent */
    const char *demo_motion;
    int quiet;                 /* no access log on stderr */
    int max_live;              /* GET /api/live sessions at most (serve_live.h); 0: off */
} serve_http_cfg;

typedef struct serve_http serve_http;

/* Bind and start serving (threads of its own). Non-zero with a message in err on failure. */
int serve_http_start(serve_http **out, const serve_http_cfg *cfg, char *err, size_t errn);
int serve_http_port(const serve_http *h);
/* Stop accepting, end open connections (call serve_jobs_shutdown first so event streams end), free. */
void serve_http_stop(serve_http *h);

/* The page, generated at build time from cli/web/index.html (cli/web/embed.cmake). */
extern const unsigned char serve_page_html[];
extern const size_t serve_page_html_len;

#endif
