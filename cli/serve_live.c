/*
 * serve_live.c - the sessions of GET /api/live (serve_live.h, docs/API.md). libmicrohttpd did the HTTP handshake
 * (serve_http.c) and hands over the socket; from there the bytes are WebSocket frames (serve_ws.c parses them).
 * Each session has two threads:
 *   reader (the session's own): reads and parses frames, answers pings, takes the options, the photo and the
 *     driving frames, keeps at most ONE frame waiting (a newer one replaces it and the older is answered
 *     {"type":"skipped"}), closes on bad input, idleness or shutdown, and ends the session;
 *   worker: loads a model of its own, builds the stream (re_live) from the photo, then animates the latest waiting
 *     frame and sends its timing (text) and the animated frame (JPEG, binary).
 * Sends from both threads go through one mutex. Every message has a size limit checked on the frame header before
 * its payload is read; a bad message closes the session with a code and a reason (also sent as an error message
 * first, since a close reason is cut at 123 bytes). The server stays up whatever a session does.
 */
#include "serve_live.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "reenact/directions.h"
#include "reenact/live.h"
#include "reenact/media.h"
#include "serve_parse.h"
#include "serve_ws.h"

#define STATS_KEEP 1024   /* server times kept for the session's median in the log */

struct serve_live {
    serve_live_cfg cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int reserved, active, stopping;
    int64_t total;
    pthread_mutex_t det_mu;
    re_face_detector *det;    /* opened by the first session that needs it; sessions use clones */
    int det_failed;
};

typedef struct sess {
    serve_live *L;
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
    int64_t id;
    pthread_t worker;
    pthread_mutex_t send_mu;
    int dead;                 /* under send_mu: the socket failed, or our close frame went out */
    int close_code;           /* under send_mu: the code we closed with (0: none) */
    char close_reason[WS_REASON_MAX + 1];

    pthread_mutex_t mu;       /* the fields below */
    pthread_cond_t cv;
    int stop;                 /* the reader ends the session */
    int worker_done;
    serve_live_opts opts;
    int have_photo, use_demo;
    uint8_t *photo;
    size_t photo_n;
    uint8_t *frame;           /* the waiting driving frame, or NULL */
    size_t frame_n;
    int64_t frame_index;
    double frame_t;           /* when it arrived */
    int reset;
    int64_t received, skipped, answered;
    double first_answer, last_answer;
    float svc_ms[STATS_KEEP];
} sess;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

/* ---- sending ---------------------------------------------------------------------------------------------- */
static int send_iov(int fd, struct iovec *iov, int n) {
    while (n > 0) {
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = iov;
        mh.msg_iovlen = (size_t)n;
        ssize_t k = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;   /* EAGAIN here is SO_SNDTIMEO: a client that does not read */
        }
        while (n > 0 && (size_t)k >= iov->iov_len) {
            k -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
    return 0;
}

/* One unfragmented message. 0, or -1 when the session can no longer send. */
static int ws_send(sess *s, int opcode, const void *p, size_t n) {
    uint8_t hdr[10];
    struct iovec iov[2] = {{hdr, ws_frame_header(hdr, opcode, n)}, {(void *)p, n}};
    pthread_mutex_lock(&s->send_mu);
    int r = -1;
    if (!s->dead) {
        r = send_iov(s->fd, iov, n ? 2 : 1);
        if (r != 0 || opcode == WS_OP_CLOSE) s->dead = 1;
    }
    pthread_mutex_unlock(&s->send_mu);
    return r;
}

static int send_json(sess *s, json_t *o) {
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!t) return -1;
    int r = ws_send(s, WS_OP_TEXT, t, strlen(t));
    free(t);
    return r;
}

/* Close the session with code: an error message with the whole text first (unless a normal close), then the close
 * frame with the reason cut to fit. The reader sees the worker's close through worker_done or a failed send. */
static void close_with(sess *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void close_with(sess *s, int code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (code != WS_CLOSE_NORMAL)
        send_json(s, json_pack("{s:s, s:s, s:i}", "type", "error", "error", msg, "code", code));
    uint8_t pl[125];
    size_t n = ws_close_payload(pl, code, msg);
    pthread_mutex_lock(&s->send_mu);
    if (!s->close_code) {
        s->close_code = code;
        memcpy(s->close_reason, pl + 2, n - 2);
        s->close_reason[n - 2] = 0;
    }
    pthread_mutex_unlock(&s->send_mu);
    ws_send(s, WS_OP_CLOSE, pl, n);
}

/* ---- the worker ------------------------------------------------------------------------------------------- */
static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* A detector clone for a new stream (the master is opened once, by the first session that needs one). */
static re_face_detector *detector_clone(serve_live *L) {
    re_face_detector *d = NULL;
    pthread_mutex_lock(&L->det_mu);
    if (!L->det && !L->det_failed && re_face_detector_open(&L->det, NULL) != RE_OK) L->det_failed = 1;
    if (L->det && re_face_detector_clone(L->det, &d) != RE_OK) d = NULL;
    pthread_mutex_unlock(&L->det_mu);
    return d;
}

static int setup_code(re_status s) {
    return s == RE_ERR_NO_FACE || s == RE_ERR_ARG || s == RE_ERR_UNSUPPORTED ? WS_CLOSE_POLICY
           : s == RE_ERR_TOO_LARGE                                           ? WS_CLOSE_TOO_BIG
                                                                             : WS_CLOSE_INTERNAL;
}

/* Take the waiting driving frame out of its slot (the caller holds s->mu and has seen s->frame set). */
static void take_frame(sess *s, uint8_t **buf, size_t *n, int64_t *index, double *t) {
    *buf = s->frame;
    *n = s->frame_n;
    *index = s->frame_index;
    *t = s->frame_t;
    s->frame = NULL;
}

static void worker_run(sess *s) {
    serve_live *L = s->L;
    pthread_mutex_lock(&s->mu);
    while (!s->have_photo && !s->stop) pthread_cond_wait(&s->cv, &s->mu);
    if (s->stop) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    serve_live_opts lo = s->opts;
    uint8_t *photo_buf = s->photo;
    size_t photo_n = s->photo_n;
    const int use_demo = s->use_demo;
    s->photo = NULL;
    pthread_mutex_unlock(&s->mu);

    const double t0 = now_ms();
    re_image photo = {0}, frame = {0}, out = {0};
    re_model *m = NULL;
    re_live *lv = NULL;
    re_face_detector *det = NULL;
    uint8_t *jpg = NULL, *nbuf = NULL;   /* nbuf: the next frame, taken from the slot before answering */
    size_t nn = 0;
    int64_t nindex = 0;
    double nt = 0;
    re_status st = use_demo ? re_image_load(&photo, L->cfg.demo_photo)
                            : re_image_load_mem(&photo, photo_buf, photo_n, "the photo");
    free(photo_buf);
    if (st != RE_OK) {
        close_with(s, st == RE_ERR_TOO_LARGE ? WS_CLOSE_TOO_BIG : WS_CLOSE_BAD_DATA, "the photo cannot be read: %s",
                   re_last_error());
        goto done;
    }
    if ((st = re_model_load(&m, L->cfg.model_path)) != RE_OK) {
        close_with(s, WS_CLOSE_INTERNAL, "cannot load the model: %s", re_last_error());
        goto done;
    }
    re_anim_opts *o = &lo.o.a;
    {   /* motion controls: smile and brows come in sigmas of the model's directions (as jobs) */
        const re_directions *d = re_model_directions(m);
        if (!d && re_steer_needs_directions(&o->steer)) {
            close_with(s, WS_CLOSE_POLICY, "the motion controls need a model with directions; this server's model "
                       "has none (start it with the bundled model)");
            goto done;
        }
        if (d) {
            o->steer.offset[RE_ATTR_SMILE] *= d->sigma[RE_ATTR_SMILE];
            o->steer.offset[RE_ATTR_BROWS] *= d->sigma[RE_ATTR_BROWS];
        }
    }
    if (o->paste_back && lo.o.size_given) o->paste_max_side = o->out_size;
    if (o->paste_back) o->out_size = 0;
    if (!o->aligned || (o->render == RE_RENDER_PHOTO && o->render_field == RE_FIELD_LANDMARKS)) det = detector_clone(L);
    o->detector = det;
    if ((st = re_live_create(&lv, m, &photo, o, lo.fps)) != RE_OK) {
        close_with(s, setup_code(st), "%s", re_last_error());
        goto done;
    }
    re_face_detector_free(det);
    det = NULL;
    re_image_free(&photo);
    int ow = 0, oh = 0;
    re_live_size(lv, &ow, &oh);
    if (send_json(s, json_pack("{s:s, s:i, s:i, s:i, s:f, s:f, s:i, s:I, s:b}", "type", "ready", "width", ow,
                               "height", oh, "faces", re_live_source_faces(lv), "setup_ms", now_ms() - t0, "fps",
                               lo.fps, "quality", lo.quality, "max_frame_bytes", (json_int_t)SERVE_LIVE_MAX_FRAME,
                               "demo", use_demo)) != 0)
        goto done;

    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!nbuf && !s->frame && !s->stop && !s->reset) pthread_cond_wait(&s->cv, &s->mu);
        if (s->stop) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        if (s->reset) {
            s->reset = 0;
            re_live_reset(lv);
        }
        if (!nbuf && s->frame) take_frame(s, &nbuf, &nn, &nindex, &nt);
        pthread_mutex_unlock(&s->mu);
        if (!nbuf) continue;
        uint8_t *buf = nbuf;
        const size_t n = nn;
        const int64_t index = nindex;
        const double t_in = nt;
        nbuf = NULL;

        const double t1 = now_ms();
        re_image_free(&frame);   /* re_image_load_mem overwrites without freeing: the last frame's pixels go here */
        st = re_image_load_mem(&frame, buf, n, "the driving frame");
        free(buf);
        if (st != RE_OK) {
            close_with(s, st == RE_ERR_TOO_LARGE ? WS_CLOSE_TOO_BIG : WS_CLOSE_BAD_DATA,
                       "driving frame %lld cannot be decoded: %s", (long long)index, re_last_error());
            break;
        }
        if (frame.w > SERVE_LIVE_MAX_SIDE || frame.h > SERVE_LIVE_MAX_SIDE) {
            close_with(s, WS_CLOSE_TOO_BIG, "driving frame %lld is %dx%d: at most %d pixels a side", (long long)index,
                       frame.w, frame.h, SERVE_LIVE_MAX_SIDE);
            break;
        }
        const double t2 = now_ms();
        re_live_info info;
        if ((st = re_live_frame(lv, &frame, &out, &info)) != RE_OK) {
            close_with(s, WS_CLOSE_INTERNAL, "animation failed: %s", re_last_error());
            break;
        }
        const double t3 = now_ms();
        size_t jn = 0;
        free(jpg);
        jpg = NULL;
        if ((st = re_image_encode_jpeg(&out, lo.quality, &jpg, &jn)) != RE_OK) {
            close_with(s, WS_CLOSE_INTERNAL, "cannot encode the frame: %s", re_last_error());
            break;
        }
        const double t4 = now_ms();
        /* take the waiting frame (if any) before answering: a client that sends its next frame on our answer then
         * finds the slot free, instead of replacing (skipping) the frame that was waiting */
        pthread_mutex_lock(&s->mu);
        if (s->frame) take_frame(s, &nbuf, &nn, &nindex, &nt);
        pthread_mutex_unlock(&s->mu);
        json_t *ms = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "wait", t1 - t_in,
                               "decode_jpeg", t2 - t1, "track", info.ms.track, "align", info.ms.align, "encode",
                               info.ms.encode, "transfer", info.ms.transfer, "decode", info.ms.decode, "landmarks",
                               info.ms.landmarks, "render", info.ms.render, "animate", t3 - t2, "encode_jpeg", t4 - t3,
                               "server", t4 - t_in);
        if (send_json(s, json_pack("{s:s, s:I, s:b, s:b, s:i, s:i, s:I, s:o}", "type", "frame", "index",
                                   (json_int_t)index, "found", info.found, "ref", info.have_ref, "width", out.w,
                                   "height", out.h, "bytes", (json_int_t)jn, "ms", ms)) != 0 ||
            ws_send(s, WS_OP_BINARY, jpg, jn) != 0)
            break;
        pthread_mutex_lock(&s->mu);
        s->svc_ms[s->answered % STATS_KEEP] = (float)(t4 - t_in);
        if (s->answered == 0) s->first_answer = t4;
        s->last_answer = t4;
        s->answered++;
        pthread_mutex_unlock(&s->mu);
    }
done:
    free(jpg);
    free(nbuf);
    re_live_free(lv);
    re_model_free(m);
    re_face_detector_free(det);
    re_image_free(&photo);
    re_image_free(&frame);
    re_image_free(&out);
}

static void *worker_main(void *arg) {
    sess *s = arg;
    worker_run(s);
    pthread_mutex_lock(&s->mu);
    s->worker_done = 1;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- the reader ------------------------------------------------------------------------------------------- */
/* Returns 0 to go on, -1 when the session closed. The message is parsed by serve_live_text_parse (serve_parse.c,
 * fuzzed). */
static int on_text(sess *s, ws_reader *rd, const uint8_t *p, size_t n) {
    if (n > SERVE_LIVE_MAX_TEXT) {
        close_with(s, WS_CLOSE_TOO_BIG, "text message of %zu bytes is over the limit of %zu bytes", n,
                   SERVE_LIVE_MAX_TEXT);
        return -1;
    }
    serve_live_opts lo;
    char err[1024];
    const serve_live_msg m = serve_live_text_parse((const char *)p, n, &lo, err, sizeof err);
    if (m == SERVE_LIVE_MSG_NOT_OBJECT || m == SERVE_LIVE_MSG_UNKNOWN) {
        close_with(s, WS_CLOSE_UNSUPPORTED, "%s", err);
        return -1;
    }
    if (m == SERVE_LIVE_MSG_RESET) {
        pthread_mutex_lock(&s->mu);
        s->reset = 1;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    /* options, good or bad */
    pthread_mutex_lock(&s->mu);
    const int late = s->have_photo;
    pthread_mutex_unlock(&s->mu);
    if (late) {
        close_with(s, WS_CLOSE_POLICY, "options come before the photo");
        return -1;
    }
    if (m == SERVE_LIVE_MSG_BAD_OPTION) {
        close_with(s, WS_CLOSE_POLICY, "%s", err);
        return -1;
    }
    if (lo.o.use_demo && !s->L->cfg.demo_photo) {
        close_with(s, WS_CLOSE_POLICY, "this server has no bundled demo photo: send a photo");
        return -1;
    }
    pthread_mutex_lock(&s->mu);
    s->opts = lo;
    if (lo.o.use_demo) {   /* the bundled photo: the stream starts now */
        s->have_photo = s->use_demo = 1;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (lo.o.use_demo) rd->max_message = SERVE_LIVE_MAX_FRAME;
    return 0;
}

static int on_binary(sess *s, ws_reader *rd, const uint8_t *p, size_t n) {
    const serve_kind k = serve_sniff(p, n < SERVE_SNIFF_BYTES ? n : SERVE_SNIFF_BYTES, n);
    pthread_mutex_lock(&s->mu);
    const int have_photo = s->have_photo;
    const int64_t index = s->received;
    pthread_mutex_unlock(&s->mu);
    if (!have_photo) {
        if (!serve_kind_is_image(k)) {
            close_with(s, WS_CLOSE_UNSUPPORTED, "the photo is %s, expected a PNG or JPEG image", serve_kind_name(k));
            return -1;
        }
        size_t len;
        uint8_t *buf = ws_reader_take(rd, &len);
        pthread_mutex_lock(&s->mu);
        s->photo = buf;
        s->photo_n = len;
        s->have_photo = 1;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        rd->max_message = SERVE_LIVE_MAX_FRAME;
        return 0;
    }
    if (k != SERVE_K_JPEG && k != SERVE_K_PNG) {
        close_with(s, WS_CLOSE_UNSUPPORTED, "driving frame %lld is %s, expected a JPEG (or PNG) image",
                   (long long)index, serve_kind_name(k));
        return -1;
    }
    size_t len;
    uint8_t *buf = ws_reader_take(rd, &len);
    pthread_mutex_lock(&s->mu);
    uint8_t *old = s->frame;
    const int64_t old_index = s->frame_index;
    s->frame = buf;
    s->frame_n = len;
    s->frame_index = index;
    s->frame_t = now_ms();
    s->received++;
    if (old) s->skipped++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (old) {   /* the worker was busy: the older frame is dropped, never queued */
        free(old);
        send_json(s, json_pack("{s:s, s:I}", "type", "skipped", "index", (json_int_t)old_index));
    }
    return 0;
}

/* After our close frame: read (and drop) what the client still sends until it ends the connection, goes quiet for
 * 100 ms (its close frame came, or it stopped sending) or 2 s have passed, so the kernel does not reset the
 * connection over unread data (a reset can destroy our close frame before the client reads it). */
static void linger(sess *s) {
    const double end = now_ms() + 2000;
    uint8_t buf[16384];
    shutdown(s->fd, SHUT_WR);
    for (double t = now_ms(); t < end; t = now_ms()) {
        struct pollfd pf = {s->fd, POLLIN, 0};
        if (poll(&pf, 1, 100) <= 0) break;
        if (recv(s->fd, buf, sizeof buf, 0) <= 0) break;
    }
}

static void session_log(sess *s, double t_start) {
    if (s->L->cfg.quiet) return;
    pthread_mutex_lock(&s->mu);
    const int64_t n = s->answered;
    const int keep = n < STATS_KEEP ? (int)n : STATS_KEEP;
    float v[STATS_KEEP];
    memcpy(v, s->svc_ms, (size_t)keep * sizeof *v);
    const double span = s->last_answer - s->first_answer;
    const int64_t received = s->received, skipped = s->skipped;
    pthread_mutex_unlock(&s->mu);
    qsort(v, (size_t)keep, sizeof *v, cmp_float);
    fprintf(stderr, "reenact serve: live #%lld: %lld frames received, %lld answered, %lld skipped, %.1f fps, server "
            "median %.1f ms, %.1f s | closed %d%s%s\n",
            (long long)s->id, (long long)received, (long long)n, (long long)skipped,
            n > 1 && span > 0 ? 1e3 * (double)(n - 1) / span : 0.0, keep ? (double)v[keep / 2] : 0.0,
            1e-3 * (now_ms() - t_start), s->close_code ? s->close_code : WS_CLOSE_NORMAL, s->close_reason[0] ? " " : "",
            s->close_reason);
}

static void session_run(sess *s, const char *extra, size_t extra_n) {
    serve_live *L = s->L;
    const double t_start = now_ms();
    int fl = fcntl(s->fd, F_GETFL);
    if (fl >= 0) fcntl(s->fd, F_SETFL, fl & ~O_NONBLOCK);
    const int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {10, 0};   /* a client that stops reading for 10 s is dropped */
    setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

    ws_reader rd;
    ws_reader_init(&rd, L->cfg.max_photo, 1);
    if (pthread_create(&s->worker, NULL, worker_main, s) != 0) {
        close_with(s, WS_CLOSE_TRY_AGAIN, "cannot start the session's worker thread");
        ws_reader_free(&rd);
        linger(s);
        return;
    }
    uint8_t *buf = malloc(65536);
    double last_msg = now_ms();
    int peer_closed = 0, end = buf == NULL;
    size_t pend_n = extra_n;
    const uint8_t *pend = (const uint8_t *)extra;
    while (!end) {
        if (pend_n == 0) {
            struct pollfd pf = {s->fd, POLLIN, 0};
            int pr = poll(&pf, 1, 200);
            pthread_mutex_lock(&L->mu);
            const int stopping = L->stopping;
            pthread_mutex_unlock(&L->mu);
            pthread_mutex_lock(&s->mu);
            const int wdone = s->worker_done;
            pthread_mutex_unlock(&s->mu);
            if (stopping) {
                close_with(s, WS_CLOSE_GOING_AWAY, "the server is shutting down");
                break;
            }
            if (wdone) break;   /* it closed the session with a reason, or could not send */
            if (now_ms() - last_msg > 1e3 * SERVE_LIVE_IDLE_S) {
                close_with(s, WS_CLOSE_NORMAL, "no message for %d s: closing", SERVE_LIVE_IDLE_S);
                break;
            }
            if (pr < 0 && errno != EINTR) break;
            if (pr <= 0) continue;
            ssize_t k = recv(s->fd, buf, 65536, 0);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                peer_closed = 1;   /* gone without a close frame */
                break;
            }
            pend = buf;
            pend_n = (size_t)k;
        }
        while (pend_n > 0 && !end) {
            size_t used = 0;
            ws_event ev;
            ws_event_kind kind = ws_reader_feed(&rd, pend, pend_n, &used, &ev);
            pend += used;
            pend_n -= used;
            switch (kind) {
            case WS_EV_NONE: break;
            case WS_EV_MESSAGE:
                last_msg = now_ms();
                if (ev.opcode == WS_OP_TEXT ? on_text(s, &rd, ev.data, ev.len) : on_binary(s, &rd, ev.data, ev.len))
                    end = 1;
                break;
            case WS_EV_PING:
                last_msg = now_ms();
                ws_send(s, WS_OP_PONG, ev.data, ev.len);
                break;
            case WS_EV_PONG: break;
            case WS_EV_CLOSE: {   /* echo the code, then end */
                uint8_t pl[125];
                size_t n = 0;
                if (ev.code != WS_CLOSE_NO_STATUS) n = ws_close_payload(pl, ev.code, "");
                pthread_mutex_lock(&s->send_mu);
                if (!s->close_code) s->close_code = ev.code;
                pthread_mutex_unlock(&s->send_mu);
                ws_send(s, WS_OP_CLOSE, pl, n);
                peer_closed = 1;
                end = 1;
                break;
            }
            case WS_EV_ERROR:
                close_with(s, ev.code, "%s", ev.reason);
                end = 1;
                break;
            }
        }
        if (pthread_mutex_lock(&s->send_mu) == 0) {
            if (s->dead) end = 1;   /* a send failed, or the worker closed */
            pthread_mutex_unlock(&s->send_mu);
        }
    }
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->worker, NULL);
    if (!peer_closed) linger(s);
    ws_reader_free(&rd);
    free(buf);
    session_log(s, t_start);
}

typedef struct start_arg {
    sess *s;
    char *extra;
    size_t extra_n;
} start_arg;

static void *session_main(void *arg) {
    start_arg *a = arg;
    sess *s = a->s;
    serve_live *L = s->L;
    session_run(s, a->extra, a->extra_n);
    MHD_upgrade_action(s->urh, MHD_UPGRADE_ACTION_CLOSE);
    free(s->photo);
    free(s->frame);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->send_mu);
    pthread_cond_destroy(&s->cv);
    free(s);
    free(a->extra);
    free(a);
    pthread_mutex_lock(&L->mu);
    L->active--;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
    return NULL;
}

/* ---- the server side -------------------------------------------------------------------------------------- */
int serve_live_create(serve_live **out, const serve_live_cfg *cfg) {
    serve_live *L = calloc(1, sizeof *L);
    *out = L;
    if (!L) return -1;
    L->cfg = *cfg;
    pthread_mutex_init(&L->mu, NULL);
    pthread_mutex_init(&L->det_mu, NULL);
    pthread_cond_init(&L->cv, NULL);
    return 0;
}

int serve_live_reserve(serve_live *L) {
    pthread_mutex_lock(&L->mu);
    int ok = !L->stopping && L->reserved + L->active < L->cfg.max_sessions;
    if (ok) L->reserved++;
    pthread_mutex_unlock(&L->mu);
    return ok ? 0 : -1;
}

void serve_live_unreserve(serve_live *L) {
    pthread_mutex_lock(&L->mu);
    if (L->reserved > 0) L->reserved--;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
}

void serve_live_start(serve_live *L, int fd, struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t n) {
    sess *s = calloc(1, sizeof *s);
    start_arg *a = calloc(1, sizeof *a);
    char *ex = n ? malloc(n) : NULL;
    pthread_mutex_lock(&L->mu);
    if (L->reserved > 0) L->reserved--;
    const int ok = s && a && (ex || !n) && !L->stopping;
    if (ok) {
        L->active++;
        s->id = ++L->total;
    }
    pthread_mutex_unlock(&L->mu);
    if (!ok) {
        free(s);
        free(a);
        free(ex);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    if (n) memcpy(ex, extra, n);
    s->L = L;
    s->fd = fd;
    s->urh = urh;
    serve_live_opts_default(&s->opts);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->send_mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    a->s = s;
    a->extra = ex;
    a->extra_n = n;
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &at, session_main, a) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_mutex_destroy(&s->send_mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        free(a);
        free(ex);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        pthread_mutex_lock(&L->mu);
        L->active--;
        pthread_cond_broadcast(&L->cv);
        pthread_mutex_unlock(&L->mu);
    }
    pthread_attr_destroy(&at);
}

void serve_live_counts(serve_live *L, int *active, int *max, int64_t *total) {
    pthread_mutex_lock(&L->mu);
    if (active) *active = L->active;
    if (max) *max = L->cfg.max_sessions;
    if (total) *total = L->total;
    pthread_mutex_unlock(&L->mu);
}

void serve_live_shutdown(serve_live *L) {
    if (!L) return;
    pthread_mutex_lock(&L->mu);
    L->stopping = 1;
    while (L->active > 0) pthread_cond_wait(&L->cv, &L->mu);   /* each notices within ~0.2 s (+2 s linger) */
    pthread_mutex_unlock(&L->mu);
}

void serve_live_free(serve_live *L) {
    if (!L) return;
    re_face_detector_free(L->det);
    pthread_mutex_destroy(&L->mu);
    pthread_mutex_destroy(&L->det_mu);
    pthread_cond_destroy(&L->cv);
    free(L);
}
