/*
 * serve_http.c - libmicrohttpd glue of `reenact serve` (see serve_http.h, docs/API.md). One thread per connection
 * (MHD_USE_THREAD_PER_CONNECTION), so an event stream may block waiting for its job's next change. No HTTP parsing
 * of our own: MHD parses requests and multipart bodies; we route decoded paths (serve_parse.c) and check fields.
 * No path is built from request text: uploads get fixed names in a fresh directory, jobs are found by id.
 */
#include "serve_http.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reenact/media.h"
#include "serve_live.h"
#include "serve_ws.h"

struct serve_http {
    serve_http_cfg cfg;
    struct MHD_Daemon *d;
    int port;
    double t0;
    serve_live *live;       /* GET /api/live sessions (serve_live.c) */
};

enum { SLOT_PHOTO = 0, SLOT_DRIVING, SLOT_MOTION, SLOTS };
static const char *slot_name[SLOTS] = {"photo", "driving", "motion"};

/* Per-request state (MHD's con_cls). */
typedef struct req_ctx {
    serve_route route;
    double t0;
    unsigned status;        /* what was answered, for the access log */
    char line[200];         /* "METHOD /path" for the access log (printable ASCII) */
    /* POST /api/jobs */
    struct MHD_PostProcessor *pp;
    char staging[PATH_MAX]; /* DATA/.up-XXXXXX, removed unless it became a job */
    int consumed;
    FILE *f[SLOTS];
    uint64_t bytes[SLOTS];
    uint8_t head[SLOTS][SERVE_SNIFF_BYTES];
    size_t headn[SLOTS];
    int seen[SLOTS];
    int last_slot;          /* slot of the previous body chunk, -1 for a field */
    uint64_t total;
    unsigned err_status;    /* first error wins */
    char err[SERVE_ERR_MAX + 256];
    serve_opts opts;
    char fkey[72];          /* option field being received */
    char fval[SERVE_FIELD_MAX + 1];
    size_t fval_n;
    int fpending;
    int live_reserved;      /* GET /api/live: a session is reserved until the upgrade happens */
    uint64_t max_file;      /* the server's per-file limit, for on_part */
} req_ctx;


static double now_mono(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- responses ------------------------------------------------------------------------------------------ */
static enum MHD_Result send_resp(struct MHD_Connection *c, req_ctx *rc, unsigned status, struct MHD_Response *r) {
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    rc->status = status;
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A response of o as compact JSON (o is released); NULL when it cannot be made. */
static struct MHD_Response *json_response(json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) return NULL;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    if (!r) { free(s); return NULL; }
    MHD_add_response_header(r, "Content-Type", "application/json");
    return r;
}

static enum MHD_Result send_json(struct MHD_Connection *c, req_ctx *rc, unsigned status, json_t *o) {
    return send_resp(c, rc, status, json_response(o));
}

static enum MHD_Result send_error(struct MHD_Connection *c, req_ctx *rc, unsigned status, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct MHD_Response *r = json_response(json_pack("{s:s, s:i}", "error", msg, "status", (int)status));
    if (!r) return MHD_NO;
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"reenact\"");
    if (status == 503) MHD_add_response_header(r, "Retry-After", "5");
    if (status == 405 && rc->route.allow) MHD_add_response_header(r, "Allow", rc->route.allow);
    return send_resp(c, rc, status, r);
}

/* A file from disk, with one Range when asked (the video element seeks with them). */
static enum MHD_Result send_file(struct MHD_Connection *c, req_ctx *rc, const char *path, const char *mime,
                                 const char *download_name) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0) close(fd);
        return send_error(c, rc, 404, "not found");
    }
    uint64_t total = (uint64_t)sb.st_size, first = 0, last = total ? total - 1 : 0;
    int rg = serve_range_parse(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range"), total, &first, &last);
    if (rg < 0) {
        close(fd);
        char cr[64];
        snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)total);
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (r) MHD_add_response_header(r, "Content-Range", cr);
        return send_resp(c, rc, 416, r);
    }
    uint64_t n = rg > 0 ? last - first + 1 : total;
    struct MHD_Response *r = MHD_create_response_from_fd_at_offset64(n, fd, rg > 0 ? first : 0);
    if (!r) { close(fd); return MHD_NO; }
    MHD_add_response_header(r, "Content-Type", mime);
    MHD_add_response_header(r, "Accept-Ranges", "bytes");
    if (rg > 0) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)first, (unsigned long long)last,
                 (unsigned long long)total);
        MHD_add_response_header(r, "Content-Range", cr);
    }
    if (download_name) {
        const char *dl = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "download");
        char cd[128];
        snprintf(cd, sizeof cd, "%s; filename=\"%s\"", dl && strcmp(dl, "0") ? "attachment" : "inline",
                 download_name);
        MHD_add_response_header(r, "Content-Disposition", cd);
    }
    return send_resp(c, rc, rg > 0 ? 206 : 200, r);
}

/* ---- server-sent events --------------------------------------------------------------------------------- */
typedef struct sse_ctx {
    serve_http *H;
    serve_job *job;
    int64_t seq;
    int finished;
    double last_send;
    char buf[8192];
    size_t len, pos;
} sse_ctx;

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max) {
    sse_ctx *s = cls;
    serve_jobs *J = s->H->cfg.jobs;
    (void)pos;
    while (s->pos >= s->len) {
        if (s->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        s->pos = s->len = 0;
        /* at most ~10 events a second: progress arrives per frame, at up to ~100 frames a second */
        double since = now_mono() - s->last_send;
        if (s->seq >= 0 && since < 0.1) {
            struct timespec ts = {0, (long)((0.1 - since) * 1e9)};
            nanosleep(&ts, NULL);
        }
        int w = serve_job_wait(J, s->job, s->seq, 15000);
        if (w < 0) {
            s->len = (size_t)snprintf(s->buf, sizeof s->buf, "event: shutdown\ndata: {\"error\":\"the server is "
                                                             "shutting down\"}\n\n");
            s->finished = 1;
        } else if (w == 0) {
            s->len = (size_t)snprintf(s->buf, sizeof s->buf, ": keep-alive\n\n");
        } else {
            serve_state st;
            json_t *o = serve_job_json(J, s->job, &s->seq, &st);
            int deleted = json_is_true(json_object_get(o, "deleted"));
            char *js = json_dumps(o, JSON_COMPACT);
            json_decref(o);
            const char *ev = deleted ? "deleted" : st == SERVE_DONE ? "done" : st == SERVE_FAILED ? "failed" : "progress";
            int k = snprintf(s->buf, sizeof s->buf, "event: %s\ndata: %s\n\n", ev, js ? js : "{}");
            free(js);
            s->len = k > 0 && (size_t)k < sizeof s->buf ? (size_t)k : 0;
            if (deleted || st == SERVE_DONE || st == SERVE_FAILED) s->finished = 1;
            s->last_send = now_mono();
        }
    }
    size_t n = s->len - s->pos < max ? s->len - s->pos : max;
    memcpy(out, s->buf + s->pos, n);
    s->pos += n;
    return (ssize_t)n;
}

static void sse_free(void *cls) {
    sse_ctx *s = cls;
    serve_job_release(s->H->cfg.jobs, s->job);
    free(s);
}

/* ---- uploads -------------------------------------------------------------------------------------------- */
static void up_fail(req_ctx *rc, unsigned status, const char *fmt, ...) {
    if (rc->err_status) return;
    rc->err_status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rc->err, sizeof rc->err, fmt, ap);
    va_end(ap);
    if (rc->staging[0]) {   /* library messages name the stored file: keep only its field name */
        char prefix[PATH_MAX + 2];
        snprintf(prefix, sizeof prefix, "%s/", rc->staging);
        serve_scrub(rc->err, prefix);
    }
}

static void flush_field(req_ctx *rc) {
    if (!rc->fpending) return;
    rc->fpending = 0;
    rc->fval[rc->fval_n] = 0;
    char e[SERVE_ERR_MAX + 128];
    if (serve_opts_set(&rc->opts, rc->fkey, rc->fval, e, sizeof e) != 0) up_fail(rc, 400, "%s", e);
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                               const char *content_type, const char *transfer_encoding, const char *data,
                               uint64_t off, size_t size) {
    req_ctx *rc = cls;
    (void)kind; (void)filename; (void)content_type; (void)transfer_encoding;
    if (rc->err_status) return MHD_NO;
    if (!key) { up_fail(rc, 400, "a multipart part without a name"); return MHD_NO; }
    int slot = -1;
    for (int i = 0; i < SLOTS; i++)
        if (!strcmp(key, slot_name[i])) slot = i;
    if (slot < 0) {
        if (off == 0 && !(rc->fpending && rc->last_slot == -1 && !strcmp(rc->fkey, key) && rc->fval_n == 0)) {
            flush_field(rc);
            if (rc->err_status) return MHD_NO;
            if (strlen(key) >= sizeof rc->fkey) { up_fail(rc, 400, "unknown form field '%.64s...'", key); return MHD_NO; }
            snprintf(rc->fkey, sizeof rc->fkey, "%s", key);
            rc->fval_n = 0;
            rc->fpending = 1;
        }
        if (rc->fval_n + size > SERVE_FIELD_MAX) {
            up_fail(rc, 400, "form field '%.64s' is longer than %d bytes", key, SERVE_FIELD_MAX);
            return MHD_NO;
        }
        memcpy(rc->fval + rc->fval_n, data, size);
        rc->fval_n += size;
        rc->last_slot = -1;
        return MHD_YES;
    }
    flush_field(rc);
    if (rc->err_status) return MHD_NO;
    if (off == 0 && rc->seen[slot] && (rc->last_slot != slot || rc->bytes[slot] > 0)) {   /* a second part */
        up_fail(rc, 400, "file field '%s' given twice", slot_name[slot]);
        return MHD_NO;
    }
    rc->seen[slot] = 1;
    rc->last_slot = slot;
    if (!rc->f[slot]) {
        char p[PATH_MAX + 16];
        snprintf(p, sizeof p, "%s/%s", rc->staging, slot_name[slot]);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        rc->f[slot] = fd >= 0 ? fdopen(fd, "wb") : NULL;
        if (!rc->f[slot]) {
            if (fd >= 0) close(fd);
            up_fail(rc, 500, "cannot store the upload: %s", strerror(errno));
            return MHD_NO;
        }
    }
    if (rc->bytes[slot] + size > rc->max_file) {
        up_fail(rc, 413, "'%s' is over this server's limit of %llu bytes per file (--max-file-mb)", slot_name[slot],
                (unsigned long long)rc->max_file);
        return MHD_NO;
    }
    if (size && fwrite(data, 1, size, rc->f[slot]) != size) {
        up_fail(rc, 507, "cannot store the upload (disk full?): %s", strerror(errno));
        return MHD_NO;
    }
    if (rc->headn[slot] < SERVE_SNIFF_BYTES) {
        size_t k = SERVE_SNIFF_BYTES - rc->headn[slot] < size ? SERVE_SNIFF_BYTES - rc->headn[slot] : size;
        memcpy(rc->head[slot] + rc->headn[slot], data, k);
        rc->headn[slot] += k;
    }
    rc->bytes[slot] += size;
    return MHD_YES;
}

/* Check one stored upload's content; returns 0 or sets the request's error. */
static int check_photo(serve_http *H, req_ctx *rc, const char *path, serve_kind k, uint64_t bytes) {
    (void)H;
    if (k == SERVE_K_EMPTY) { up_fail(rc, 400, "'photo' is an empty file"); return -1; }
    if (!serve_kind_is_image(k)) {
        up_fail(rc, 415, "'photo' is %s, expected a PNG or JPEG image", serve_kind_name(k));
        return -1;
    }
    re_image im = {0};
    re_status s = re_image_load(&im, path);
    re_image_free(&im);
    if (s != RE_OK) {
        up_fail(rc, s == RE_ERR_TOO_LARGE ? 413 : 400, "'photo' (%llu bytes) cannot be read: %s",
                (unsigned long long)bytes, re_last_error());
        return -1;
    }
    return 0;
}

static int check_driving(serve_http *H, req_ctx *rc, const char *path, serve_kind k, uint64_t bytes) {
    (void)H, (void)bytes;
    if (k == SERVE_K_EMPTY) { up_fail(rc, 400, "'driving' is an empty file"); return -1; }
    if (!serve_kind_is_video(k)) {
        up_fail(rc, 415, "'driving' is %s, expected a video (MP4, WebM/MKV, AVI, GIF, MPEG-TS, FLV, Y4M, Ogg)",
                serve_kind_name(k));
        return -1;
    }
#ifdef RE_HAVE_FFMPEG
    re_video_reader *vr = NULL;
    re_image fr = {0};
    re_status s = re_video_reader_open(&vr, path);
    if (s == RE_OK) s = re_video_reader_next(vr, &fr, NULL);
    re_image_free(&fr);
    re_video_reader_close(vr);
    if (s != RE_OK) {
        up_fail(rc, s == RE_ERR_TOO_LARGE ? 413 : 400, "'driving' cannot be decoded: %s",
                s == RE_VIDEO_EOF ? "it has no frames" : re_last_error());
        return -1;
    }
#else
    (void)path;
    up_fail(rc, 501, "this build has no video decoding (FFmpeg); send a 'motion' file instead");
    return -1;
#endif
    return 0;
}

static int check_motion(serve_http *H, req_ctx *rc, const char *path, serve_kind k, uint64_t bytes) {
    (void)bytes;
    if (k == SERVE_K_EMPTY) { up_fail(rc, 400, "'motion' is an empty file"); return -1; }
    if (k != SERVE_K_SAFETENSORS) {
        up_fail(rc, 415, "'motion' is %s, expected a motion file from 'reenact motion extract'", serve_kind_name(k));
        return -1;
    }
    re_motion *mo = NULL;
    re_status s = re_motion_load(&mo, path);
    if (s == RE_OK) s = re_motion_check_model(mo, serve_jobs_model(H->cfg.jobs), "the motion file");
    re_motion_free(mo);
    if (s != RE_OK) {
        up_fail(rc, 400, "'motion' cannot be used: %s", re_last_error());
        return -1;
    }
    return 0;
}

/* One upload slot: 0 when it was not sent; 1 when it was and its content is good (*name: its file in the job's
 * folder); -1 when it is not (the request's error is set). */
static int take_slot(serve_http *H, req_ctx *rc, int slot, const char **name) {
    static int (*const check[SLOTS])(serve_http *, req_ctx *, const char *, serve_kind, uint64_t) = {
        check_photo, check_driving, check_motion};
    if (!rc->seen[slot]) return 0;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/%s", rc->staging, slot_name[slot]);
    if (check[slot](H, rc, path, serve_sniff(rc->head[slot], rc->headn[slot], rc->bytes[slot]), rc->bytes[slot]))
        return -1;
    *name = slot_name[slot];
    return 1;
}

static enum MHD_Result finish_upload(serve_http *H, struct MHD_Connection *c, req_ctx *rc) {
    if (rc->pp) {
        enum MHD_Result ok = MHD_destroy_post_processor(rc->pp);
        rc->pp = NULL;
        if (ok != MHD_YES) up_fail(rc, 400, "the multipart body is incomplete or malformed");
    }
    flush_field(rc);
    for (int i = 0; i < SLOTS; i++)
        if (rc->f[i]) {
            if (fclose(rc->f[i]) != 0) up_fail(rc, 507, "cannot store the upload: %s", strerror(errno));
            rc->f[i] = NULL;
        }
    if (rc->err_status) return send_error(c, rc, rc->err_status, "%s", rc->err);

    const char *photo = NULL, *driving = NULL, *motion = NULL;
    if (rc->seen[SLOT_DRIVING] && rc->seen[SLOT_MOTION])
        return send_error(c, rc, 400, "give a 'driving' video or a 'motion' file, not both");
    if (take_slot(H, rc, SLOT_PHOTO, &photo) < 0) return send_error(c, rc, rc->err_status, "%s", rc->err);
    if (!photo && rc->opts.use_demo) photo = H->cfg.demo_photo;
    if (!photo)
        return send_error(c, rc, 400, "missing the 'photo' file field (a PNG or JPEG portrait)%s",
                          rc->opts.use_demo ? "; this server has no bundled demo photo" : "");
    int got = take_slot(H, rc, SLOT_DRIVING, &driving);
    if (got == 0) got = take_slot(H, rc, SLOT_MOTION, &motion);
    if (got < 0) return send_error(c, rc, rc->err_status, "%s", rc->err);
    if (!got && rc->opts.use_demo) motion = H->cfg.demo_motion;
    if (!driving && !motion)
        return send_error(c, rc, 400, "missing the driver: a 'driving' video or a 'motion' file field%s",
                          rc->opts.use_demo ? " (this server has no bundled demo motion)" : "");
    char e[SERVE_ERR_MAX];
    if (serve_opts_check(&rc->opts, e, sizeof e)) return send_error(c, rc, 400, "%s", e);

    serve_jobs *J = H->cfg.jobs;
    char id[SERVE_ID_LEN + 1], dir[PATH_MAX + 64];
    if (serve_jobs_new_id(J, id) != 0) return send_error(c, rc, 500, "no randomness for a job id");
    snprintf(dir, sizeof dir, "%s/%s", serve_jobs_data_dir(J), id);
    if (rename(rc->staging, dir) != 0) return send_error(c, rc, 500, "cannot store the job: %s", strerror(errno));
    rc->consumed = 1;
    int r = serve_jobs_submit(J, id, photo, driving, motion, &rc->opts);
    if (r != 0) {
        serve_rm_dir(dir);
        return send_error(c, rc, 503, r > 0 ? "the job queue is full; retry later" : "the server is shutting down");
    }
    char url[80];
    snprintf(url, sizeof url, "/api/jobs/%s", id);
    struct MHD_Response *resp = json_response(json_pack("{s:s, s:s, s:s}", "id", id, "state", "queued", "url", url));
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Location", url);
    return send_resp(c, rc, 201, resp);
}

/* ---- routes --------------------------------------------------------------------------------------------- */
static int authorized(serve_http *H, struct MHD_Connection *c) {
    if (!H->cfg.token) return 1;
    const char *b = serve_bearer(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"));
    if (b && serve_token_eq(b, H->cfg.token)) return 1;
    /* EventSource and <video src> cannot send headers: the token may come as ?token= */
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
    return q && serve_token_eq(q, H->cfg.token);
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* ---- GET /api/live: the WebSocket handshake (RFC 6455 4.2) through MHD's upgrade; serve_live.c takes over ---- */
static void on_upgrade(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra_in, size_t extra_in_size,
                       MHD_socket sock, struct MHD_UpgradeResponseHandle *urh) {
    serve_http *H = cls;
    req_ctx *rc = con_cls;
    (void)c;
    if (rc) rc->live_reserved = 0;   /* the session takes the reservation over */
    serve_live_start(H->live, sock, urh, extra_in, extra_in_size);
}

static enum MHD_Result handle_live(serve_http *H, struct MHD_Connection *c, req_ctx *rc) {
    const char *upgrade = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
    const char *conn = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONNECTION);
    const char *ver = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Version");
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    if (!ws_header_has_token(upgrade, "websocket"))
        return send_error(c, rc, 426, "GET /api/live is a WebSocket endpoint: connect with a WebSocket client "
                          "('Upgrade: websocket'); see docs/API.md");
    if (!ws_header_has_token(conn, "upgrade"))
        return send_error(c, rc, 400, "a WebSocket handshake needs 'Connection: Upgrade'");
    if (!ver || strcmp(ver, "13")) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (r) MHD_add_response_header(r, "Sec-WebSocket-Version", "13");
        return send_resp(c, rc, 426, r);
    }
    char accept[29];
    if (ws_accept_key(key, accept) != 0)
        return send_error(c, rc, 400, "a WebSocket handshake needs a Sec-WebSocket-Key of 16 base64-encoded bytes");
    if (H->cfg.max_live <= 0) return send_error(c, rc, 503, "live animation is turned off on this server (--live 0)");
    if (serve_live_reserve(H->live) != 0) {
        int active = 0, max = 0;
        serve_live_counts(H->live, &active, &max, NULL);
        return send_error(c, rc, 503, "too many live sessions (at most %d at a time, --live); retry later", max);
    }
    rc->live_reserved = 1;
    struct MHD_Response *r = MHD_create_response_for_upgrade(on_upgrade, H);
    if (!r) return MHD_NO;   /* on_completed releases the reservation */
    MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
    MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
    return send_resp(c, rc, MHD_HTTP_SWITCHING_PROTOCOLS, r);
}

static enum MHD_Result handle_get(serve_http *H, struct MHD_Connection *c, req_ctx *rc) {
    serve_jobs *J = H->cfg.jobs;
    switch (rc->route.kind) {
    case SERVE_R_LIVE:
        return handle_live(H, c, rc);
    case SERVE_R_PAGE: {
        struct MHD_Response *r = MHD_create_response_from_buffer(serve_page_html_len, (void *)serve_page_html,
                                                                 MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                "img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; "
                                "form-action 'none'; frame-ancestors 'none'; base-uri 'none'");
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
        return send_resp(c, rc, 200, r);
    }
    case SERVE_R_HEALTH: {
        int la = 0, lm = 0;
        int64_t lt = 0;
        serve_live_counts(H->live, &la, &lm, &lt);
        json_t *o = json_pack("{s:s, s:f, s:o, s:I, s:{s:i, s:i, s:I}}", "status", "ok", "uptime_s",
                              now_mono() - H->t0, "jobs", serve_jobs_counts_json(J), "disk_bytes",
                              (json_int_t)serve_jobs_disk_bytes(J), "live", "active", la, "max", lm, "sessions",
                              (json_int_t)lt);
        return send_json(c, rc, 200, o);
    }
    case SERVE_R_VERSION: {
        json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:b, s:b, s:I, s:I, s:f, s:[sss], s:{s:b, s:b, s:b, s:b}}",
                              "name",
                              "reenact", "version", re_version(), "api", 1, "microhttpd", MHD_get_version(), "model",
                              base_name(H->cfg.model_path), "demo",
                              H->cfg.demo_photo != NULL && H->cfg.demo_motion != NULL, "token_required",
                              H->cfg.token != NULL, "max_upload_bytes", (json_int_t)H->cfg.max_upload,
                              "max_file_bytes", (json_int_t)(H->cfg.max_file ? H->cfg.max_file : H->cfg.max_upload),
                              "job_ttl_s", serve_jobs_ttl(J), "formats",
                              "mp4", "webm", "gif", "features",
#ifdef RE_HAVE_FFMPEG
                              "video", 1,
#else
                              "video", 0,
#endif
#ifdef RE_HAVE_DLIB
                              "face_detection", 1,
#else
                              "face_detection", 0,
#endif
#ifdef RE_HAVE_DNNL
                              "onednn", 1,
#else
                              "onednn", 0,
#endif
                              "live", H->cfg.max_live > 0);
        return send_json(c, rc, 200, o);
    }
    case SERVE_R_DEMO_PHOTO:
        if (!H->cfg.demo_photo) return send_error(c, rc, 404, "this server has no bundled demo photo");
        return send_file(c, rc, H->cfg.demo_photo, "image/png", NULL);
    case SERVE_R_JOBS_LIST:
        return send_json(c, rc, 200, json_pack("{s:o}", "jobs", serve_jobs_list_json(J)));
    default: break;
    }
    serve_job *j = serve_jobs_get(J, rc->route.id);
    if (!j) return send_error(c, rc, 404, "no such job");
    enum MHD_Result ret;
    char path[PATH_MAX + 64], name[64];
    re_video_format fmt;
    switch (rc->route.kind) {
    case SERVE_R_JOB_GET:
        ret = send_json(c, rc, 200, serve_job_json(J, j, NULL, NULL));
        break;
    case SERVE_R_JOB_RESULT:
        if (serve_job_result_path(J, j, path, sizeof path, &fmt)) {
            ret = send_error(c, rc, 409, "the job has no result (yet): see its state");
            break;
        }
        snprintf(name, sizeof name, "reenact-%.8s.%s", rc->route.id, serve_format_ext(fmt));
        ret = send_file(c, rc, path, serve_format_mime(fmt), name);
        break;
    case SERVE_R_JOB_STORYBOARD:
        if (serve_job_storyboard_path(J, j, path, sizeof path)) {
            ret = send_error(c, rc, 409, "the job has no storyboard (yet, or it was not asked for)");
            break;
        }
        snprintf(name, sizeof name, "reenact-%.8s-storyboard.png", rc->route.id);
        ret = send_file(c, rc, path, "image/png", name);
        break;
    case SERVE_R_JOB_EVENTS: {
        sse_ctx *s = calloc(1, sizeof *s);
        if (!s) { ret = MHD_NO; break; }
        s->H = H;
        s->job = j;
        s->seq = -1;
        struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
        if (!r) { free(s); ret = MHD_NO; break; }
        j = NULL;   /* the stream holds the reference now */
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "X-Accel-Buffering", "no");
        ret = send_resp(c, rc, 200, r);
        break;
    }
    default:
        ret = send_error(c, rc, 404, "not found");
    }
    serve_job_release(J, j);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    serve_http *H = cls;
    req_ctx *rc = *con_cls;
    (void)version;
    if (!rc) {
        rc = calloc(1, sizeof *rc);
        if (!rc) return MHD_NO;
        *con_cls = rc;
        rc->t0 = now_mono();
        rc->last_slot = -1;
        size_t n = 0;
        for (const char *p = method; *p && n + 2 < 16; p++) rc->line[n++] = (*p > 0x20 && *p < 0x7f) ? *p : '?';
        rc->line[n++] = ' ';
        for (const char *p = url; *p && n + 1 < sizeof rc->line; p++) rc->line[n++] = (*p > 0x20 && *p < 0x7f) ? *p : '?';
        rc->line[n] = 0;
        serve_route_parse(method, url, &rc->route);
        /* Without a token, only this machine's names may be used (a page on another site that rebinds its name to
         * 127.0.0.1 could read the API otherwise) and only this server's own page may call it. */
        if (!H->cfg.token &&
            (!serve_host_allowed(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"), H->cfg.host, H->port) ||
             !serve_origin_allowed(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"), H->cfg.host, H->port)))
            return send_error(c, rc, 403, "request from another site or for another host name refused (this server "
                              "answers http://127.0.0.1:%d/ and http://localhost:%d/; --token allows others)",
                              H->port, H->port);
        if (rc->route.api && !authorized(H, c))
            return send_error(c, rc, 401, "this server needs its token: 'Authorization: Bearer TOKEN'");
        if (rc->route.kind == SERVE_R_NOT_FOUND) return send_error(c, rc, 404, "not found");
        if (rc->route.kind == SERVE_R_BAD_METHOD) return send_error(c, rc, 405, "method %s not allowed here", method);
        if (rc->route.kind == SERVE_R_JOB_DELETE) {
            if (serve_jobs_delete(H->cfg.jobs, rc->route.id)) return send_error(c, rc, 404, "no such job");
            return send_json(c, rc, 200, json_pack("{s:s, s:b}", "id", rc->route.id, "deleted", 1));
        }
        if (rc->route.kind != SERVE_R_JOB_CREATE) return handle_get(H, c, rc);
        /* POST /api/jobs: refuse an announced oversize body before reading it */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (!errno && *end == 0 && n > H->cfg.max_upload)
                return send_error(c, rc, 413, "the upload (%llu bytes) is over this server's limit of %llu bytes "
                                  "(--max-upload-mb)", n, (unsigned long long)H->cfg.max_upload);
        }
        serve_opts_default(&rc->opts);
        rc->max_file = H->cfg.max_file ? H->cfg.max_file : H->cfg.max_upload;
        rc->pp = MHD_create_post_processor(c, 64 * 1024, on_part, rc);
        if (!rc->pp)
            return send_error(c, rc, 415, "POST /api/jobs wants a multipart/form-data body (fields: photo, driving "
                              "or motion, options)");
        snprintf(rc->staging, sizeof rc->staging, "%.3800s/.up-XXXXXX", serve_jobs_data_dir(H->cfg.jobs));
        if (!mkdtemp(rc->staging)) {
            rc->staging[0] = 0;
            return send_error(c, rc, 500, "cannot store uploads: %s", strerror(errno));
        }
        return MHD_YES;
    }
    if (rc->route.kind != SERVE_R_JOB_CREATE || rc->status) {   /* already answered: drop any body */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        rc->total += *upload_data_size;
        if (rc->total > H->cfg.max_upload)
            up_fail(rc, 413, "the upload is over this server's limit of %llu bytes (--max-upload-mb)",
                    (unsigned long long)H->cfg.max_upload);
        if (!rc->err_status && MHD_post_process(rc->pp, upload_data, *upload_data_size) != MHD_YES)
            up_fail(rc, 400, "the multipart body is malformed");
        *upload_data_size = 0;   /* consumed (or dropped after an error, so the answer can go out at the end) */
        return MHD_YES;
    }
    return finish_upload(H, c, rc);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    serve_http *H = cls;
    req_ctx *rc = *con_cls;
    (void)c;
    if (!rc) return;
    if (rc->live_reserved) serve_live_unreserve(H->live);   /* the handshake's answer never went out */
    if (rc->pp) MHD_destroy_post_processor(rc->pp);
    for (int i = 0; i < SLOTS; i++)
        if (rc->f[i]) fclose(rc->f[i]);
    if (rc->staging[0] && !rc->consumed) serve_rm_dir(rc->staging);
    if (!H->cfg.quiet)
        fprintf(stderr, "reenact serve: %s %u %.1f ms%s%s%s\n", rc->line, rc->status, 1e3 * (now_mono() - rc->t0),
                rc->err_status ? " | " : "", rc->err_status ? rc->err : "",
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection ended early)");
    free(rc);
    *con_cls = NULL;
}

int serve_http_start(serve_http **out, const serve_http_cfg *cfg, char *err, size_t errn) {
    *out = NULL;
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int gr = getaddrinfo(cfg->host, port, &hints, &ai);
    if (gr != 0 || !ai) {
        snprintf(err, errn, "cannot resolve --host '%s': %s", cfg->host, gai_strerror(gr));
        return -1;
    }
    serve_http *H = calloc(1, sizeof *H);
    if (!H) { freeaddrinfo(ai); snprintf(err, errn, "out of memory"); return -1; }
    H->cfg = *cfg;
    H->t0 = now_mono();
    H->port = cfg->port;   /* the bound port once known (port 0), below */
    const uint64_t max_file = cfg->max_file ? cfg->max_file : cfg->max_upload;
    serve_live_cfg lc = {cfg->model_path, cfg->demo_photo, cfg->max_live,
                         max_file < SERVE_LIVE_MAX_PHOTO ? (size_t)max_file : SERVE_LIVE_MAX_PHOTO, cfg->quiet};
    if (serve_live_create(&H->live, &lc) != 0) {
        freeaddrinfo(ai);
        free(H);
        snprintf(err, errn, "out of memory");
        return -1;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_UPGRADE;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    H->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, H,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, H,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!H->d) {
        snprintf(err, errn, "cannot listen on %s:%d (in use, or not an address of this machine)", cfg->host,
                 cfg->port);
        serve_live_free(H->live);
        free(H);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(H->d, MHD_DAEMON_INFO_BIND_PORT);
    H->port = di ? di->port : cfg->port;
    *out = H;
    return 0;
}

int serve_http_port(const serve_http *h) { return h->port; }

void serve_http_stop(serve_http *h) {
    if (!h) return;
    serve_live_shutdown(h->live);   /* upgraded sockets are ours: close them before MHD stops */
    MHD_stop_daemon(h->d);
    serve_live_free(h->live);
    free(h);
}
