/*
 * serve_parse.h - the request parsing of `reenact serve` that is our own code rather than libmicrohttpd's: routing
 * of URL paths, job id checks, the job form's option fields, content sniffing of uploads, the Range header and
 * bearer token comparison. Plain functions without I/O, MHD or threads, so tests/fuzz/fuzz_serve_request.c can drive
 * them directly. Everything here is bounded: no input makes it allocate (except serve_live_text_parse, which parses
 * JSON with jansson and frees what it made), and every string result fits its buffer.
 */
#ifndef RE_SERVE_PARSE_H
#define RE_SERVE_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include "reenact/anim.h"

#define SERVE_ID_LEN 32          /* job ids: 128 random bits as lowercase hex */
#define SERVE_FIELD_MAX 1024     /* longest accepted option field value, bytes */
#define SERVE_ERR_MAX 256        /* error message buffers */

/* ---- routes --------------------------------------------------------------------------------------------- */
typedef enum serve_route_kind {
    SERVE_R_NOT_FOUND = 0,
    SERVE_R_BAD_METHOD,          /* a known path, another method: 405 */
    SERVE_R_PAGE,                /* GET / or /index.html */
    SERVE_R_HEALTH,              /* GET /api/health */
    SERVE_R_VERSION,             /* GET /api/version */
    SERVE_R_DEMO_PHOTO,          /* GET /api/demo/photo */
    SERVE_R_JOBS_LIST,           /* GET /api/jobs */
    SERVE_R_JOB_CREATE,          /* POST /api/jobs */
    SERVE_R_JOB_GET,             /* GET /api/jobs/ID */
    SERVE_R_JOB_DELETE,          /* DELETE /api/jobs/ID */
    SERVE_R_JOB_RESULT,          /* GET /api/jobs/ID/result */
    SERVE_R_JOB_STORYBOARD,      /* GET /api/jobs/ID/storyboard */
    SERVE_R_JOB_EVENTS,          /* GET /api/jobs/ID/events (server-sent events) */
    SERVE_R_LIVE,                /* GET /api/live (WebSocket; serve_live.c) */
} serve_route_kind;

typedef struct serve_route {
    serve_route_kind kind;
    int api;                          /* 1: under /api/ (needs the token when one is set) */
    char id[SERVE_ID_LEN + 1];        /* for SERVE_R_JOB_*: a well-formed id (existence is checked later) */
    const char *allow;                /* for SERVE_R_BAD_METHOD: the Allow header's value */
} serve_route;

/* Route a request. url is the decoded path without the query string. An id that is not exactly SERVE_ID_LEN
 * lowercase hex digits (so any '.', '/', '%' or NUL) routes to SERVE_R_NOT_FOUND: no path is ever built from
 * anything else. HEAD is treated as GET. */
void serve_route_parse(const char *method, const char *url, serve_route *r);
/* 1 if s is exactly SERVE_ID_LEN lowercase hex digits. */
int serve_id_valid(const char *s);

/* ---- job options (the form fields of POST /api/jobs) ---------------------------------------------------- */
typedef struct serve_opts {
    re_anim_opts a;          /* animate's options; paths and callbacks are set by the job runner */
    int storyboard;          /* write a storyboard PNG [1] */
    int use_demo;            /* fill a missing photo / driver with the bundled demo photo / motion [0] */
    int size_given;
    /* the motion controls are in a.steer; smile and brows arrive in sigmas and the job runner converts them with the
     * model's directions */
} serve_opts;

void serve_opts_default(serve_opts *o);
/* Apply one form field. Returns 0 when applied, -1 with a message in err for an unknown field or a bad value
 * (the message names the field and the accepted values). Fields: strength, ref, smooth, smooth_cutoff,
 * smooth_beta, sample, seed, aligned, render, field, residual, motion_scale, eye_motion, paste_back, side_by_side,
 * format, size, crf, audio, storyboard, every, max_frames, batch, precision, demo. Booleans take 1/0, true/false,
 * on/off, yes/no. val is NUL-terminated and at most SERVE_FIELD_MAX bytes. */
int serve_opts_set(serve_opts *o, const char *key, const char *val, char *err, size_t errn);
/* Checks combinations after all fields (as `reenact animate` does). 0 or -1 with err. */
int serve_opts_check(const serve_opts *o, char *err, size_t errn);
/* /api/live's options message (docs/API.md): the fields above that apply to a stream (strength, smooth,
 * smooth_cutoff, smooth_beta, aligned, render, field, residual, motion_scale, eye_motion, paste_back, size,
 * precision, the motion controls, demo) and two of its own: fps (the expected frame rate, the smoothing's time step: 1..120
 * [30]) and quality (of the answered JPEG frames: 10..100 [80]). Fields of files and jobs (ref, sample, seed,
 * side_by_side, format, crf, audio, storyboard, every, max_frames, batch) are refused by name. 0 or -1 with err. */
typedef struct serve_live_opts {
    serve_opts o;
    double fps;
    int quality;
} serve_live_opts;
void serve_live_opts_default(serve_live_opts *o);
int serve_live_opts_set(serve_live_opts *o, const char *key, const char *val, char *err, size_t errn);
/* After all options: size is at most 1024 for a face, 1920 with paste_back (the photo's longest side). */
int serve_live_opts_check(const serve_live_opts *o, char *err, size_t errn);
/* A text message of /api/live (n bytes, not NUL-terminated): a JSON object with a "type". "options": *o is reset to
 * serve_live_opts_default, each other member applied with serve_live_opts_set (numbers, strings and booleans as a
 * form field's text; a string over SERVE_FIELD_MAX bytes is refused), then serve_live_opts_check. On anything but
 * OPTIONS or RESET, err names the problem (*o may be partly set: do not use it). tests/fuzz/fuzz_serve_live_opts.c
 * fuzzes it. */
typedef enum serve_live_msg {
    SERVE_LIVE_MSG_NOT_OBJECT = -1,   /* not a JSON object with a string "type": close 1003 */
    SERVE_LIVE_MSG_UNKNOWN = -2,      /* a type other than options or reset: close 1003 */
    SERVE_LIVE_MSG_BAD_OPTION = -3,   /* type options with a bad member: close 1008 */
    SERVE_LIVE_MSG_OPTIONS = 1,
    SERVE_LIVE_MSG_RESET = 2,
} serve_live_msg;
serve_live_msg serve_live_text_parse(const char *text, size_t n, serve_live_opts *o, char *err, size_t errn);
/* The result's file extension and MIME type for a format (RE_VIDEO_AUTO counts as MP4). */
const char *serve_format_ext(re_video_format f);
const char *serve_format_mime(re_video_format f);

/* ---- content sniffing ----------------------------------------------------------------------------------- */
typedef enum serve_kind {
    SERVE_K_EMPTY = 0,
    SERVE_K_UNKNOWN,         /* binary of no known kind */
    SERVE_K_TEXT,            /* printable text (a common mistake: worth naming) */
    SERVE_K_PNG, SERVE_K_JPEG,
    SERVE_K_MP4,             /* ISO BMFF / QuickTime: "ftyp" (or moov/mdat/free/wide) box at offset 4 */
    SERVE_K_MKV,             /* Matroska / WebM: EBML magic */
    SERVE_K_AVI, SERVE_K_GIF, SERVE_K_MPEGTS, SERVE_K_MPEGPS, SERVE_K_FLV, SERVE_K_Y4M, SERVE_K_OGG,
    SERVE_K_APNG,            /* a PNG with an acTL chunk before IDAT: FFmpeg reads it as a video */
    SERVE_K_SAFETENSORS,     /* u64 header length + '{': a motion file candidate */
} serve_kind;
#define SERVE_SNIFF_BYTES 512   /* bytes of the file's start that serve_sniff looks at (it accepts fewer) */

/* What the first n bytes of a file are (n may be less than the whole file; total is the file's size). */
serve_kind serve_sniff(const uint8_t *b, size_t n, uint64_t total);
const char *serve_kind_name(serve_kind k);
int serve_kind_is_image(serve_kind k);
int serve_kind_is_video(serve_kind k);

/* ---- headers -------------------------------------------------------------------------------------------- */
/* Parse a Range header ("bytes=a-b", "bytes=a-", "bytes=-n"; one range only) against a file of size total.
 * Returns 1 with [*first, *last] inclusive, 0 when absent or not of that form (serve the whole file), -1 when
 * unsatisfiable (416). */
int serve_range_parse(const char *h, uint64_t total, uint64_t *first, uint64_t *last);
/* Constant-time comparison of a presented token with the expected one: 1 if equal. An Authorization header
 * "Bearer T" is unwrapped by serve_bearer(). */
int serve_token_eq(const char *got, const char *want);
const char *serve_bearer(const char *authorization);   /* the token after "Bearer ", or NULL */
/* Remove every occurrence of prefix (a server path such as the job's directory plus '/') from msg, in place, so
 * error messages name the upload ('photo') and not where the server keeps it. */
void serve_scrub(char *msg, const char *prefix);
/* 1 if host names the loopback interface (127.0.0.0/8, ::1, localhost). */
int serve_host_is_loopback(const char *host);
/* DNS-rebinding and cross-site protection of a server without a token: 1 if a request's Host header names this
 * server (127.0.0.1, localhost, [::1] or bind_host, with `port`, or without it when port is 80), 0 otherwise (also
 * when absent). serve_origin_allowed: an Origin header, when present, must be "http://" + an allowed host (so "null"
 * and other sites are refused); NULL (absent) is allowed. */
int serve_host_allowed(const char *host_header, const char *bind_host, int port);
int serve_origin_allowed(const char *origin, const char *bind_host, int port);

#endif
