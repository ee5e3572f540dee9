/*
 * serve_parse.c - routing, job ids, job form fields, content sniffing, Range and token parsing for `reenact serve`
 * (see serve_parse.h). No I/O and no allocation; fuzzed by tests/fuzz/fuzz_serve_request.c.
 */
#include "serve_parse.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- routes --------------------------------------------------------------------------------------------- */
int serve_id_valid(const char *s) {
    if (!s) return 0;
    for (int i = 0; i < SERVE_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return s[SERVE_ID_LEN] == 0;
}

static int is_get(const char *m) { return !strcmp(m, "GET") || !strcmp(m, "HEAD"); }

static void want(serve_route *r, const char *method, serve_route_kind k, const char *allow) {
    /* allow: the methods this path takes, "GET" or "GET, DELETE" etc. */
    char m[16];
    snprintf(m, sizeof m, "%s", strcmp(method, "HEAD") ? method : "GET");
    const char *p = allow;
    size_t ml = strlen(m);
    while (p && *p) {
        if (!strncmp(p, m, ml) && (p[ml] == 0 || p[ml] == ',')) {
            r->kind = k;
            return;
        }
        p = strchr(p, ',');
        if (p) p += strspn(p, ", ");
    }
    r->kind = SERVE_R_BAD_METHOD;
    r->allow = allow;
}

void serve_route_parse(const char *method, const char *url, serve_route *r) {
    memset(r, 0, sizeof *r);
    r->kind = SERVE_R_NOT_FOUND;
    if (!method || !url) return;
    if (!strcmp(url, "/") || !strcmp(url, "/index.html")) {
        if (is_get(method)) r->kind = SERVE_R_PAGE;
        else { r->kind = SERVE_R_BAD_METHOD; r->allow = "GET"; }
        return;
    }
    if (strncmp(url, "/api/", 5)) return;
    r->api = 1;
    const char *p = url + 5;
    if (!strcmp(p, "health")) { want(r, method, SERVE_R_HEALTH, "GET"); return; }
    if (!strcmp(p, "version")) { want(r, method, SERVE_R_VERSION, "GET"); return; }
    if (!strcmp(p, "demo/photo")) { want(r, method, SERVE_R_DEMO_PHOTO, "GET"); return; }
    if (!strcmp(p, "live")) { want(r, method, SERVE_R_LIVE, "GET"); return; }
    if (!strcmp(p, "jobs") || !strcmp(p, "jobs/")) {
        if (is_get(method)) r->kind = SERVE_R_JOBS_LIST;
        else if (!strcmp(method, "POST")) r->kind = SERVE_R_JOB_CREATE;
        else { r->kind = SERVE_R_BAD_METHOD; r->allow = "GET, POST"; }
        return;
    }
    if (strncmp(p, "jobs/", 5)) return;
    p += 5;
    const char *slash = strchr(p, '/');
    size_t idlen = slash ? (size_t)(slash - p) : strlen(p);
    if (idlen != SERVE_ID_LEN) return;
    memcpy(r->id, p, SERVE_ID_LEN);
    r->id[SERVE_ID_LEN] = 0;
    if (!serve_id_valid(r->id)) { r->id[0] = 0; return; }
    const char *sub = slash ? slash + 1 : NULL;
    if (!sub) {
        if (is_get(method)) r->kind = SERVE_R_JOB_GET;
        else if (!strcmp(method, "DELETE")) r->kind = SERVE_R_JOB_DELETE;
        else { r->kind = SERVE_R_BAD_METHOD; r->allow = "GET, DELETE"; }
    } else if (!strcmp(sub, "result")) want(r, method, SERVE_R_JOB_RESULT, "GET");
    else if (!strcmp(sub, "storyboard")) want(r, method, SERVE_R_JOB_STORYBOARD, "GET");
    else if (!strcmp(sub, "events")) want(r, method, SERVE_R_JOB_EVENTS, "GET");
    if (r->kind == SERVE_R_NOT_FOUND) r->id[0] = 0;
}

/* ---- options -------------------------------------------------------------------------------------------- */
void serve_opts_default(serve_opts *o) {
    memset(o, 0, sizeof *o);
    re_anim_opts_default(&o->a);
    o->a.format = RE_VIDEO_MP4;
    o->storyboard = 1;
}

static int parse_bool(const char *v, int *out) {
    if (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "on") || !strcasecmp(v, "yes")) *out = 1;
    else if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "off") || !strcasecmp(v, "no")) *out = 0;
    else return 0;
    return 1;
}

static int parse_long(const char *v, long lo, long hi, long *out) {
    if (!*v || isspace((unsigned char)*v)) return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

static int parse_double(const char *v, double lo, double hi, double *out) {
    if (!*v || isspace((unsigned char)*v)) return 0;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || !isfinite(x) || x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

#define BAD(...) do { snprintf(err, errn, __VA_ARGS__); return -1; } while (0)

int serve_opts_set(serve_opts *o, const char *key, const char *val, char *err, size_t errn) {
    long lv;
    double dv;
    int b;
    re_anim_opts *a = &o->a;
    if (!key || !val) BAD("empty form field");
    if (strlen(val) > SERVE_FIELD_MAX) BAD("field '%.64s': value longer than %d bytes", key, SERVE_FIELD_MAX);
    /* the fields of one plain value: kind 'b' a boolean (an int), 'i' an integer in [lo,hi] (an int), 'f' a number
     * in [lo,hi] (a float); want: what a bad value's message asks for */
    const struct { const char *key; char kind; double lo, hi; void *p; const char *want; } plain[] = {
        {"smooth", 'b', 0, 1, &a->smooth, "1 or 0"},
        {"sample", 'b', 0, 1, &a->sample, "1 or 0"},
        {"aligned", 'b', 0, 1, &a->aligned, "1 or 0"},
        {"paste_back", 'b', 0, 1, &a->paste_back, "1 or 0"},
        {"side_by_side", 'b', 0, 1, &a->side_by_side, "1 or 0"},
        {"audio", 'b', 0, 1, &a->audio, "1 or 0"},
        {"storyboard", 'b', 0, 1, &o->storyboard, "1 or 0"},
        {"attr_drive", 'b', 0, 1, &a->steer.attr_drive, "1 or 0"},
        {"debias", 'b', 0, 1, &a->steer.debias, "1 or 0"},
        {"demo", 'b', 0, 1, &o->use_demo, "1 or 0"},
        {"size", 'i', 16, 4096, &a->out_size, "16..4096"},
        {"crf", 'i', 1, 63, &a->crf, "1..63"},
        {"every", 'i', 1, 1000000, &a->storyboard_every, "1..1000000"},
        {"batch", 'i', 1, 256, &a->batch, "1..256"},
        {"smooth_cutoff", 'f', 1e-3, 1000, &a->smooth_opts.min_cutoff, "Hz in (0,1000]"},
        {"smooth_beta", 'f', 0, 1000, &a->smooth_opts.beta, "0..1000"},
        {"residual", 'f', 0, 4, &a->render_opts.residual, "a number in [0,4]"},
        {"motion_scale", 'f', 0, 4, &a->render_opts.motion, "a number in [0,4]"},
        {"eye_motion", 'f', 0, 4, &a->render_opts.eye_motion, "a number in [0,4]"},
        {"lips", 'f', 0, 3, &a->steer.lips, "a number in [0,3]"},
        {"eyes", 'f', 0, 3, &a->steer.eyes, "a number in [0,3]"},
        {"smile", 'f', -3, 3, &a->steer.offset[RE_ATTR_SMILE], "standard deviations in [-3,3]"},
        {"brows", 'f', -3, 3, &a->steer.offset[RE_ATTR_BROWS], "standard deviations in [-3,3]"},
        {"yaw", 'f', -30, 30, &a->steer.offset[RE_ATTR_YAW], "degrees in [-30,30]"},
        {"pitch", 'f', -30, 30, &a->steer.offset[RE_ATTR_PITCH], "degrees in [-30,30]"},
        {"roll", 'f', -30, 30, &a->steer.offset[RE_ATTR_ROLL], "degrees in [-30,30]"},
    };
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
        const char kind = plain[i].kind;
        if (strcmp(key, plain[i].key)) continue;
        if (!(kind == 'b'   ? parse_bool(val, &b)
              : kind == 'i' ? parse_long(val, (long)plain[i].lo, (long)plain[i].hi, &lv)
                            : parse_double(val, plain[i].lo, plain[i].hi, &dv)))
            BAD("field '%s' wants %s, got '%.64s'", plain[i].key, plain[i].want, val);
        if (kind == 'b') *(int *)plain[i].p = b;
        else if (kind == 'i') *(int *)plain[i].p = (int)lv;
        else *(float *)plain[i].p = (float)dv;
        if (plain[i].p == &a->out_size) o->size_given = 1;
        return 0;
    }
    /* the fields of one word from a list (an int-sized field): names[k] sets values[k]; want: as plain's */
    _Static_assert(sizeof(re_anim_ref) == sizeof(int) && sizeof(re_anim_render) == sizeof(int) &&
                       sizeof(re_anim_field) == sizeof(int) && sizeof(re_video_format) == sizeof(int) &&
                       sizeof(re_region) == sizeof(int) && sizeof(re_motion_space) == sizeof(int),
                   "serve_opts_set: the enum fields are int-sized");
    const struct { const char *key; const char *names[5]; int values[5]; void *p; const char *want; } word[] = {
        {"ref", {"first", "best", "pose"}, {RE_REF_FIRST, RE_REF_BEST, RE_REF_POSE}, &a->ref, "first, best or pose"},
        {"render", {"photo", "model"}, {RE_RENDER_PHOTO, RE_RENDER_MODEL}, &a->render, "photo or model"},
        {"field", {"landmarks", "flow"}, {RE_FIELD_LANDMARKS, RE_FIELD_FLOW}, &a->render_field, "landmarks or flow"},
        {"format", {"mp4", "webm", "gif"}, {RE_VIDEO_MP4, RE_VIDEO_WEBM, RE_VIDEO_GIF}, &a->format,
         "mp4, webm or gif"},
        {"region", {"all", "expression", "pose", "lips", "eyes"},
         {RE_REGION_ALL, RE_REGION_EXPRESSION, RE_REGION_POSE, RE_REGION_LIPS, RE_REGION_EYES}, &a->steer.region,
         "all, expression, pose, lips or eyes"},
        {"motion_space", {"learned", "full"}, {RE_MSPACE_LEARNED, RE_MSPACE_FULL}, &a->steer.space, "learned or full"},
        {"mouth", {"absolute", "relative"}, {1, 0}, &a->steer.mouth_absolute, "absolute or relative"},
    };
    for (size_t i = 0; i < sizeof word / sizeof *word; i++) {
        if (strcmp(key, word[i].key)) continue;
        for (int k = 0; k < 5 && word[i].names[k]; k++)
            if (!strcmp(val, word[i].names[k])) {
                *(int *)word[i].p = word[i].values[k];
                return 0;
            }
        BAD("field '%s' wants %s, got '%.64s'", word[i].key, word[i].want, val);
    }
    if (!strcmp(key, "strength")) {
        /* the library's bound (re_animate, re_live_create), as `reenact animate --strength` */
        if (!parse_double(val, -RE_ANIM_STRENGTH_MAX, RE_ANIM_STRENGTH_MAX, &dv))
            BAD("field 'strength' wants a number in [-%d,%d], got '%.64s'", RE_ANIM_STRENGTH_MAX, RE_ANIM_STRENGTH_MAX,
                val);
        a->strength = (float)dv;
    } else if (!strcmp(key, "seed")) {
        if (!parse_long(val, 0, 0x7fffffffL, &lv)) BAD("field 'seed' wants 0..2147483647, got '%.64s'", val);
        a->seed = (uint64_t)lv;
    } else if (!strcmp(key, "max_frames")) {
        if (!parse_long(val, 0, 100000000L, &lv)) BAD("field 'max_frames' wants 0 (all) ..100000000, got '%.64s'", val);
        a->max_frames = lv;
    } else if (!strcmp(key, "precision")) {
        re_precision p;
        if (re_precision_parse(val, &p) != RE_OK) BAD("field 'precision' wants f32, bf16, mixed or auto, got '%.64s'", val);
        a->precision = p;
    } else {
        BAD("unknown form field '%.64s' (fields: photo, driving, motion, strength, ref, smooth, smooth_cutoff, "
            "smooth_beta, sample, seed, aligned, render, field, residual, motion_scale, eye_motion, paste_back, "
            "side_by_side, format, size, crf, audio, storyboard, every, max_frames, batch, precision, lips, eyes, "
            "smile, brows, yaw, pitch, roll, region, motion_space, attr_drive, mouth, debias, demo)", key);
    }
    return 0;
}

void serve_live_opts_default(serve_live_opts *o) {
    serve_opts_default(&o->o);
    o->o.a.out_size = 256;
    o->o.a.paste_max_side = 640;
    o->o.storyboard = 0;
    o->fps = 30;
    o->quality = 80;
}

int serve_live_opts_set(serve_live_opts *o, const char *key, const char *val, char *err, size_t errn) {
    static const char *const not_live[] = {"ref", "sample", "seed", "side_by_side", "format", "crf", "audio",
                                           "storyboard", "every", "max_frames", "batch"};
    long lv;
    double dv;
    if (!key || !val) BAD("empty option");
    for (size_t i = 0; i < sizeof not_live / sizeof *not_live; i++)
        if (!strcmp(key, not_live[i])) BAD("option '%s' does not apply to a live stream", key);
    if (!strcmp(key, "fps")) {
        if (!parse_double(val, 1, 120, &dv)) BAD("option 'fps' wants frames per second in [1,120], got '%.64s'", val);
        o->fps = dv;
        return 0;
    }
    if (!strcmp(key, "quality")) {
        if (!parse_long(val, 10, 100, &lv)) BAD("option 'quality' wants a JPEG quality of 10..100, got '%.64s'", val);
        o->quality = (int)lv;
        return 0;
    }
    char e[SERVE_ERR_MAX + 64];
    if (serve_opts_set(&o->o, key, val, e, sizeof e) == 0) return 0;
    if (!strncmp(e, "unknown form field", 18))
        BAD("unknown option '%.64s' (options: strength, smooth, smooth_cutoff, smooth_beta, aligned, render, field, "
            "residual, motion_scale, eye_motion, paste_back, size, precision, lips, eyes, smile, brows, yaw, pitch, roll, "
            "region, motion_space, attr_drive, mouth, debias, demo, fps, quality)", key);
    if (!strncmp(e, "field ", 6)) BAD("option %s", e + 6);   /* "field 'x' wants ..." -> "option 'x' wants ..." */
    BAD("%s", e);
}

int serve_live_opts_check(const serve_live_opts *o, char *err, size_t errn) {
    const int hi = o->o.a.paste_back ? 1920 : 1024;
    if (o->o.size_given && o->o.a.out_size > hi)
        BAD("option 'size' wants 16..%d%s, got %d", hi, o->o.a.paste_back ? " with paste_back" : " (paste_back: 1920)",
            o->o.a.out_size);
    return 0;
}

/* A JSON value as the text a form field would carry. 0, -1 for objects, arrays and null, -2 for a string too long. */
static int json_as_field(json_t *v, char *buf, size_t n) {
    if (json_is_string(v)) {
        if (json_string_length(v) >= n || strlen(json_string_value(v)) != json_string_length(v)) return -2;
        snprintf(buf, n, "%s", json_string_value(v));
    } else if (json_is_integer(v)) snprintf(buf, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) snprintf(buf, n, "%.17g", json_real_value(v));
    else if (json_is_boolean(v)) snprintf(buf, n, "%d", json_is_true(v) ? 1 : 0);
    else return -1;
    return 0;
}

serve_live_msg serve_live_text_parse(const char *text, size_t n, serve_live_opts *o, char *err, size_t errn) {
    json_error_t je;
    json_t *m = text ? json_loadb(text, n, 0, &je) : NULL;
    const char *type = json_string_value(json_object_get(m, "type"));
    if (!json_is_object(m) || !type) {
        snprintf(err, errn, "text messages are JSON objects with a \"type\" (options, reset)%s%s", m ? "" : ": ",
                 m ? "" : text ? je.text : "no text");
        json_decref(m);
        return SERVE_LIVE_MSG_NOT_OBJECT;
    }
    serve_live_msg r;
    if (!strcmp(type, "reset")) {
        r = SERVE_LIVE_MSG_RESET;
    } else if (!strcmp(type, "options")) {
        r = SERVE_LIVE_MSG_OPTIONS;
        serve_live_opts_default(o);
        const char *key;
        json_t *v;
        char val[SERVE_FIELD_MAX + 1];
        json_object_foreach(m, key, v) {
            if (!strcmp(key, "type")) continue;
            const int f = json_as_field(v, val, sizeof val);
            if (f == -2) {
                snprintf(err, errn, "option '%.64s': value longer than %d bytes", key, SERVE_FIELD_MAX);
                r = SERVE_LIVE_MSG_BAD_OPTION;
                break;
            }
            if (f != 0) {
                snprintf(err, errn, "option '%.64s' wants a number, a string or a boolean", key);
                r = SERVE_LIVE_MSG_BAD_OPTION;
                break;
            }
            if (serve_live_opts_set(o, key, val, err, errn) != 0) {
                r = SERVE_LIVE_MSG_BAD_OPTION;
                break;
            }
        }
        if (r == SERVE_LIVE_MSG_OPTIONS && serve_live_opts_check(o, err, errn) != 0) r = SERVE_LIVE_MSG_BAD_OPTION;
    } else {
        snprintf(err, errn, "unknown message type '%.64s' (options, reset)", type);
        r = SERVE_LIVE_MSG_UNKNOWN;
    }
    json_decref(m);
    return r;
}

int serve_opts_check(const serve_opts *o, char *err, size_t errn) {
    if (o->a.aligned && o->a.ref == RE_REF_BEST)
        BAD("'ref=best' needs face landmarks; it cannot be used with 'aligned=1'");
    return 0;
}
#undef BAD

const char *serve_format_ext(re_video_format f) {
    return f == RE_VIDEO_WEBM ? "webm" : f == RE_VIDEO_GIF ? "gif" : "mp4";
}

const char *serve_format_mime(re_video_format f) {
    return f == RE_VIDEO_WEBM ? "video/webm" : f == RE_VIDEO_GIF ? "image/gif" : "video/mp4";
}

/* ---- sniffing ------------------------------------------------------------------------------------------- */
static int has(const uint8_t *b, size_t n, size_t off, const char *magic, size_t len) {
    return n >= off + len && !memcmp(b + off, magic, len);
}

static int png_is_apng(const uint8_t *b, size_t n) {
    /* walk the chunks we have: acTL before IDAT marks an animated PNG */
    size_t p = 8;
    while (p + 8 <= n) {
        uint32_t len = (uint32_t)b[p] << 24 | (uint32_t)b[p + 1] << 16 | (uint32_t)b[p + 2] << 8 | b[p + 3];
        if (!memcmp(b + p + 4, "acTL", 4)) return 1;
        if (!memcmp(b + p + 4, "IDAT", 4)) return 0;
        if (len > n) return 0;   /* beyond what we were given (and bounded: no overflow below) */
        p += 12 + (size_t)len;
    }
    return 0;
}

serve_kind serve_sniff(const uint8_t *b, size_t n, uint64_t total) {
    if (n == 0 || !b) return SERVE_K_EMPTY;
    if (n > SERVE_SNIFF_BYTES) n = SERVE_SNIFF_BYTES;
    if (has(b, n, 0, "\x89PNG\r\n\x1a\n", 8)) return png_is_apng(b, n) ? SERVE_K_APNG : SERVE_K_PNG;
    if (has(b, n, 0, "\xff\xd8\xff", 3)) return SERVE_K_JPEG;
    if (has(b, n, 4, "ftyp", 4) || has(b, n, 4, "moov", 4) || has(b, n, 4, "mdat", 4) || has(b, n, 4, "wide", 4) ||
        has(b, n, 4, "free", 4))
        return SERVE_K_MP4;
    if (has(b, n, 0, "\x1a\x45\xdf\xa3", 4)) return SERVE_K_MKV;
    if (has(b, n, 0, "RIFF", 4) && has(b, n, 8, "AVI ", 4)) return SERVE_K_AVI;
    if (has(b, n, 0, "GIF87a", 6) || has(b, n, 0, "GIF89a", 6)) return SERVE_K_GIF;
    if (has(b, n, 0, "FLV\x01", 4)) return SERVE_K_FLV;
    if (has(b, n, 0, "YUV4MPEG2 ", 10)) return SERVE_K_Y4M;
    if (has(b, n, 0, "OggS", 4)) return SERVE_K_OGG;
    if (has(b, n, 0, "\x00\x00\x01\xba", 4)) return SERVE_K_MPEGPS;
    if (b[0] == 0x47 && (n < 189 || b[188] == 0x47) && (n < 377 || b[376] == 0x47) && n >= 189)
        return SERVE_K_MPEGTS;
    if (n >= 9) {
        uint64_t hl = 0;
        for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
        if (hl >= 2 && hl <= ((uint64_t)100 << 20) && hl + 8 <= total && b[8] == '{') return SERVE_K_SAFETENSORS;
    }
    size_t printable = 0;
    for (size_t i = 0; i < n; i++)
        if (b[i] == '\n' || b[i] == '\r' || b[i] == '\t' || (b[i] >= 0x20 && b[i] < 0x7f) || b[i] >= 0x80) printable++;
    if (printable == n) return SERVE_K_TEXT;
    return SERVE_K_UNKNOWN;
}

const char *serve_kind_name(serve_kind k) {
    switch (k) {
    case SERVE_K_EMPTY: return "an empty file";
    case SERVE_K_TEXT: return "text";
    case SERVE_K_PNG: return "a PNG image";
    case SERVE_K_JPEG: return "a JPEG image";
    case SERVE_K_MP4: return "an MP4/QuickTime video";
    case SERVE_K_MKV: return "a Matroska/WebM video";
    case SERVE_K_AVI: return "an AVI video";
    case SERVE_K_GIF: return "a GIF";
    case SERVE_K_MPEGTS: return "an MPEG-TS video";
    case SERVE_K_MPEGPS: return "an MPEG-PS video";
    case SERVE_K_FLV: return "an FLV video";
    case SERVE_K_Y4M: return "a Y4M video";
    case SERVE_K_OGG: return "an Ogg file";
    case SERVE_K_APNG: return "an animated PNG";
    case SERVE_K_SAFETENSORS: return "a safetensors file";
    default: return "binary data of an unknown kind";
    }
}

int serve_kind_is_image(serve_kind k) { return k == SERVE_K_PNG || k == SERVE_K_JPEG; }

int serve_kind_is_video(serve_kind k) {
    return k == SERVE_K_MP4 || k == SERVE_K_MKV || k == SERVE_K_AVI || k == SERVE_K_GIF || k == SERVE_K_MPEGTS ||
           k == SERVE_K_MPEGPS || k == SERVE_K_FLV || k == SERVE_K_Y4M || k == SERVE_K_OGG || k == SERVE_K_APNG;
}

/* ---- headers -------------------------------------------------------------------------------------------- */
static int parse_u64(const char **p, uint64_t *out) {
    const char *s = *p;
    if (!isdigit((unsigned char)*s)) return 0;
    uint64_t x = 0;
    while (isdigit((unsigned char)*s)) {
        if (x > (UINT64_MAX - 9) / 10) return 0;
        x = x * 10 + (uint64_t)(*s++ - '0');
    }
    *p = s;
    *out = x;
    return 1;
}

int serve_range_parse(const char *h, uint64_t total, uint64_t *first, uint64_t *last) {
    if (!h) return 0;
    while (*h == ' ') h++;
    if (strncmp(h, "bytes=", 6)) return 0;
    const char *p = h + 6;
    while (*p == ' ') p++;
    uint64_t a = 0, b = 0;
    if (*p == '-') {   /* suffix: the last b bytes */
        p++;
        if (!parse_u64(&p, &b)) return 0;
        while (*p == ' ') p++;
        if (*p) return 0;
        if (b == 0 || total == 0) return -1;
        if (b > total) b = total;
        *first = total - b;
        *last = total - 1;
        return 1;
    }
    if (!parse_u64(&p, &a) || *p++ != '-') return 0;
    int open = 1;
    if (isdigit((unsigned char)*p)) {
        if (!parse_u64(&p, &b)) return 0;
        open = 0;
    }
    while (*p == ' ') p++;
    if (*p) return 0;  /* several ranges or junk: serve the whole file */
    if (!open && b < a) return 0;
    if (a >= total) return -1;
    *first = a;
    *last = open || b >= total ? total - 1 : b;
    return 1;
}

int serve_token_eq(const char *got, const char *want) {
    if (!got || !want) return 0;
    size_t gn = strlen(got), wn = strlen(want);
    unsigned char d = gn != wn;
    for (size_t i = 0; i < wn; i++) d |= (unsigned char)(want[i] ^ (i < gn ? got[i] : 0));
    return d == 0;
}

const char *serve_bearer(const char *h) {
    if (!h) return NULL;
    while (*h == ' ') h++;
    if (strncasecmp(h, "Bearer ", 7)) return NULL;
    h += 7;
    while (*h == ' ') h++;
    return h;
}

int serve_host_is_loopback(const char *host) {
    if (!host) return 0;
    if (!strcmp(host, "localhost") || !strcmp(host, "::1") || !strcmp(host, "[::1]")) return 1;
    unsigned a, b, c, d;
    char tail;
    if (sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 && c < 256 && d < 256)
        return 1;
    return 0;
}

void serve_scrub(char *msg, const char *prefix) {
    size_t pl = prefix ? strlen(prefix) : 0;
    if (!msg || pl == 0) return;
    char *p;
    while ((p = strstr(msg, prefix))) memmove(p, p + pl, strlen(p + pl) + 1);
}

/* host[:port] equal to name (with the brackets of an IPv6 name optional in `name`) and port (":port" optional when
 * port is 80)? Case-insensitive on the name. */
static int host_is(const char *h, size_t hn, const char *name, int port) {
    char want[300];
    int v6 = strchr(name, ':') != NULL && name[0] != '[';
    int k = snprintf(want, sizeof want, "%s%s%s", v6 ? "[" : "", name, v6 ? "]" : "");
    if (k <= 0 || (size_t)k >= sizeof want) return 0;
    size_t wn = (size_t)k;
    if (hn < wn || strncasecmp(h, want, wn)) return 0;
    if (hn == wn) return port == 80;
    if (h[wn] != ':') return 0;
    char ps[16];
    int pn = snprintf(ps, sizeof ps, "%d", port);
    return hn - wn - 1 == (size_t)pn && !memcmp(h + wn + 1, ps, (size_t)pn);
}

static int host_ok(const char *h, size_t hn, const char *bind_host, int port) {
    if (host_is(h, hn, "127.0.0.1", port) || host_is(h, hn, "localhost", port) || host_is(h, hn, "::1", port))
        return 1;
    return bind_host && *bind_host && strcmp(bind_host, "0.0.0.0") && strcmp(bind_host, "::") &&
           host_is(h, hn, bind_host, port);
}

int serve_host_allowed(const char *host_header, const char *bind_host, int port) {
    if (!host_header) return 0;
    return host_ok(host_header, strlen(host_header), bind_host, port);
}

int serve_origin_allowed(const char *origin, const char *bind_host, int port) {
    if (!origin) return 1;
    if (strncasecmp(origin, "http://", 7)) return 0;
    return host_ok(origin + 7, strlen(origin + 7), bind_host, port);
}
