/*
 * video_read.c - frame-by-frame video decoding with FFmpeg 5.1 (libavformat + libavcodec + libswscale) into 8-bit
 * RGB re_images, from a file or a memory buffer (custom AVIOContext). Also the FFmpeg log glue (video_internal.h).
 *
 * Decode loop: receive_frame until EAGAIN, then read the next packet of the video stream; at the end of the demuxer
 * (or a read error: truncated file) send a NULL packet to flush the decoder so the final frames come out too.
 * Packets the decoder rejects are skipped. Colour: YUV->RGB uses the frame's signalled matrix and range (BT.709
 * when unsignalled and the height is >= 720, else BT.601). Rotation from display-matrix side data is applied.
 * Safety: only the "file" protocol, a whitelist of video containers, the image pixel limit as the decoder's
 * max_pixels, and FFmpeg's log never reaches stderr (see re_ff_init).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "core/core.h"
#include "media/image_internal.h"
#include "media/video_internal.h"
#include "reenact/media.h"

/* ------------------------------------------------------------------------------------------- FFmpeg log glue */

static pthread_once_t g_ff_once = PTHREAD_ONCE_INIT;
static int g_ff_verbose = 0;
static _Thread_local char g_ff_log[512];

static void ff_log_cb(void *avcl, int level, const char *fmt, va_list vl) {
    if (g_ff_verbose) {
        va_list copy;
        va_copy(copy, vl);
        av_log_default_callback(avcl, level, fmt, copy);
        va_end(copy);
    }
    if (level > AV_LOG_ERROR) return;
    char line[512];
    vsnprintf(line, sizeof line, fmt, vl);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    if (n) memcpy(g_ff_log, line, n + 1);
}

static void ff_init_once(void) {
    const char *v = getenv("RE_FFMPEG_LOG");
    g_ff_verbose = v && v[0] && strcmp(v, "0") != 0;
    av_log_set_callback(ff_log_cb);
}

void re_ff_init(void) { pthread_once(&g_ff_once, ff_init_once); }
const char *re_ff_last_log(void) { return g_ff_log; }
void re_ff_clear_log(void) { g_ff_log[0] = 0; }

const char *re_ff_errstr(int averr, char *buf, size_t n) {
    char e[AV_ERROR_MAX_STRING_SIZE];
    if (av_strerror(averr, e, sizeof e) < 0) snprintf(e, sizeof e, "error %d", averr);
    if (g_ff_log[0] && !strstr(e, g_ff_log)) snprintf(buf, n, "%s (%s)", e, g_ff_log);
    else snprintf(buf, n, "%s", e);
    return buf;
}

re_status re_ff_status(int averr) {
    if (averr == AVERROR(ENOENT) || averr == AVERROR(EACCES) || averr == AVERROR(EISDIR) || averr == AVERROR(EIO))
        return RE_ERR_IO;
    if (averr == AVERROR(ENOMEM)) return RE_ERR_NOMEM;
    if (averr == AVERROR_DECODER_NOT_FOUND || averr == AVERROR_DEMUXER_NOT_FOUND) return RE_ERR_UNSUPPORTED;
    return RE_ERR_FORMAT;
}

/* ------------------------------------------------------------------------------------------- reader */

/* Containers we accept: names as in libavformat (a demuxer matches when any of its comma-separated names is listed). */
static const char *k_formats = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,gif,apng,flv,mpegts,mpeg,ogg,asf,"
                               "yuv4mpegpipe,h264,hevc,m4v,image2,png_pipe,jpeg_pipe";

#define MAX_CONSECUTIVE_ERRORS 1000   /* decoder errors in a row before giving up (corrupt streams) */

typedef struct mem_src {
    const uint8_t *buf;
    size_t n, pos;
} mem_src;

struct re_video_reader {
    char *name;
    AVFormatContext *fmt;
    AVIOContext *avio;         /* custom I/O for memory input (we free it; the format context does not) */
    mem_src mem;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frm;
    int vidx;
    struct SwsContext *sws;
    int sws_w, sws_h, sws_fmt, sws_cs, sws_range;
    uint8_t *rgb;              /* sws output: aligned rows, padded */
    int rgb_stride;
    size_t rgb_bytes;
    int rotation;              /* clockwise degrees */
    re_video_info info;
    int64_t frames;
    int64_t first_pts;
    int demux_done, flushed;
    int read_err;              /* AVERROR from av_read_frame other than EOF, 0 if none */
    int dec_err;               /* last decoder error */
    int64_t dec_errors;
};

static int mem_read(void *opaque, uint8_t *buf, int size) {
    mem_src *m = opaque;
    size_t left = m->n - m->pos;
    if (left == 0) return AVERROR_EOF;
    size_t k = (size_t)size < left ? (size_t)size : left;
    memcpy(buf, m->buf + m->pos, k);
    m->pos += k;
    return (int)k;
}

static int64_t mem_seek(void *opaque, int64_t off, int whence) {
    mem_src *m = opaque;
    whence &= ~AVSEEK_FORCE;
    if (whence == AVSEEK_SIZE) return (int64_t)m->n;
    int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (int64_t)m->pos : whence == SEEK_END ? (int64_t)m->n : -1;
    if (base < 0) return AVERROR(EINVAL);
    if ((off > 0 && base > INT64_MAX - off)) return AVERROR(EINVAL);
    int64_t p = base + off;
    if (p < 0 || p > (int64_t)m->n) return AVERROR(EINVAL);
    m->pos = (size_t)p;
    return p;
}

/* Nested opens (playlists, references) are refused for memory input. */
static int deny_io_open(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags, AVDictionary **opts) {
    (void)s; (void)pb; (void)url; (void)flags; (void)opts;
    return AVERROR(EPERM);
}

static int rotation_of(const AVStream *st) {
    size_t sz = 0;
    const uint8_t *m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &sz);
    if (!m || sz < 9 * sizeof(int32_t)) return 0;
    double theta = -av_display_rotation_get((const int32_t *)m);   /* clockwise degrees */
    if (!isfinite(theta)) return 0;
    theta -= 360.0 * floor(theta / 360.0 + 0.9 / 360.0);
    if (fabs(theta - 90) < 2) return 90;
    if (fabs(theta - 180) < 2) return 180;
    if (fabs(theta - 270) < 2) return 270;
    return 0;
}

static void fill_info(re_video_reader *r) {
    AVStream *st = r->fmt->streams[r->vidx];
    re_video_info *in = &r->info;
    in->width = r->rotation % 180 ? st->codecpar->height : st->codecpar->width;
    in->height = r->rotation % 180 ? st->codecpar->width : st->codecpar->height;
    AVRational fr = st->avg_frame_rate;
    if (fr.num <= 0 || fr.den <= 0) fr = st->r_frame_rate;
    if (fr.num <= 0 || fr.den <= 0 || av_q2d(fr) > 1000.0) fr = (AVRational){25, 1};
    av_reduce(&in->fps_num, &in->fps_den, fr.num, fr.den, INT32_MAX);
    in->duration = -1;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0 && st->time_base.den > 0)
        in->duration = (double)st->duration * av_q2d(st->time_base);
    else if (r->fmt->duration != AV_NOPTS_VALUE && r->fmt->duration > 0)
        in->duration = (double)r->fmt->duration / AV_TIME_BASE;
    in->nb_frames = -1;
    if (st->nb_frames > 0) in->nb_frames = st->nb_frames;
    else if (in->duration > 0) in->nb_frames = (int64_t)llround(in->duration * av_q2d(fr));
    in->has_audio = 0;
    for (unsigned i = 0; i < r->fmt->nb_streams; i++)
        if (r->fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) in->has_audio = 1;
    in->rotation = r->rotation;
    in->codec = avcodec_get_name(st->codecpar->codec_id);
}

/* Shared tail of both open functions: r->fmt is set up (pb for memory), opens it and the decoder. */
static re_status reader_start(re_video_reader *r, const char *url, AVDictionary **opts) {
    char eb[600];
    re_status st;
    int ret = avformat_open_input(&r->fmt, url, NULL, opts);
    if (ret < 0) {
        st = re_ff_status(ret);
        return re_fail(st, "%s: cannot open as a video: %s", r->name, re_ff_errstr(ret, eb, sizeof eb));
    }
    r->fmt->flags |= AVFMT_FLAG_DISCARD_CORRUPT;
    ret = avformat_find_stream_info(r->fmt, NULL);
    if (ret < 0)
        return re_fail(RE_ERR_FORMAT, "%s: cannot read stream info: %s", r->name, re_ff_errstr(ret, eb, sizeof eb));
    const AVCodec *codec = NULL;
    ret = av_find_best_stream(r->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (ret == AVERROR_STREAM_NOT_FOUND || (ret < 0 && ret != AVERROR_DECODER_NOT_FOUND))
        return re_fail(RE_ERR_FORMAT, "%s: no usable video stream (format %s, %u streams)", r->name, r->fmt->iformat->name,
                       r->fmt->nb_streams);
    if (ret < 0 || !codec) {
        ret = av_find_best_stream(r->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
        const char *cn = ret >= 0 ? avcodec_get_name(r->fmt->streams[ret]->codecpar->codec_id) : "?";
        return re_fail(RE_ERR_UNSUPPORTED, "%s: no decoder for video codec '%s' in this FFmpeg build", r->name, cn);
    }
    r->vidx = ret;
    AVStream *vs = r->fmt->streams[r->vidx];
    for (unsigned i = 0; i < r->fmt->nb_streams; i++)
        if ((int)i != r->vidx) r->fmt->streams[i]->discard = AVDISCARD_ALL;
    if (vs->codecpar->width > 0 && vs->codecpar->height > 0 &&
        (st = re_image_check_size(vs->codecpar->width, vs->codecpar->height, r->name)) != RE_OK)
        return st;
    r->rotation = rotation_of(vs);
    r->dec = avcodec_alloc_context3(codec);
    if (!r->dec) return re_fail(RE_ERR_NOMEM, "%s: cannot allocate a decoder", r->name);
    ret = avcodec_parameters_to_context(r->dec, vs->codecpar);
    if (ret < 0) return re_fail(RE_ERR_FORMAT, "%s: bad codec parameters: %s", r->name, re_ff_errstr(ret, eb, sizeof eb));
    r->dec->pkt_timebase = vs->time_base;
    r->dec->thread_count = 0;   /* auto */
    uint64_t maxpix = re_image_get_max_pixels();
    r->dec->max_pixels = maxpix > INT64_MAX ? INT64_MAX : (int64_t)maxpix;
    ret = avcodec_open2(r->dec, codec, NULL);
    if (ret < 0)
        return re_fail(RE_ERR_UNSUPPORTED, "%s: cannot open the %s decoder: %s", r->name, codec->name,
                       re_ff_errstr(ret, eb, sizeof eb));
    r->pkt = av_packet_alloc();
    r->frm = av_frame_alloc();
    if (!r->pkt || !r->frm) return re_fail(RE_ERR_NOMEM, "%s: cannot allocate packet/frame", r->name);
    r->first_pts = AV_NOPTS_VALUE;
    fill_info(r);
    return RE_OK;
}

static re_video_reader *reader_new(const char *name) {
    re_video_reader *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->name = strdup(name);
    if (!r->name) {
        free(r);
        return NULL;
    }
    r->vidx = -1;
    return r;
}

/* The end of an open: the options freed, then r handed out when st is RE_OK, else closed. */
static re_status open_end(re_video_reader *r, re_status st, AVDictionary **opts, re_video_reader **out) {
    av_dict_free(opts);
    if (st != RE_OK) {
        re_video_reader_close(r);
        return st;
    }
    *out = r;
    return RE_OK;
}

re_status re_video_reader_open(re_video_reader **out, const char *path) {
    re_status st = RE_OK;
    re_video_reader *r = NULL;
    AVDictionary *opts = NULL;
    if (!out || !path || !path[0]) return re_fail(RE_ERR_ARG, "re_video_reader_open: NULL reader pointer or empty path");
    *out = NULL;
    re_ff_init();
    re_ff_clear_log();
    if (!strchr(path, '%')) { /* an image-sequence pattern names no single file */
        struct stat sb;
        if (stat(path, &sb) != 0) return re_fail(RE_ERR_IO, "cannot open video '%s': %s", path, strerror(errno));
        if (!S_ISREG(sb.st_mode)) return re_fail(RE_ERR_IO, "video '%s' is not a regular file", path);
        if (sb.st_size == 0) return re_fail(RE_ERR_FORMAT, "video '%s' is empty", path);
    }
    r = reader_new(path);
    if (!r) return re_fail(RE_ERR_NOMEM, "cannot allocate a video reader for '%s'", path);
    r->fmt = avformat_alloc_context();
    if (!r->fmt) {
        st = re_fail(RE_ERR_NOMEM, "cannot allocate a format context for '%s'", path);
        goto done;
    }
    if (av_dict_set(&opts, "protocol_whitelist", "file", 0) < 0 || av_dict_set(&opts, "format_whitelist", k_formats, 0) < 0) {
        st = re_fail(RE_ERR_NOMEM, "cannot set options for '%s'", path);
        goto done;
    }
    st = reader_start(r, path, &opts);
done:
    return open_end(r, st, &opts, out);
}

re_status re_video_reader_open_mem(re_video_reader **out, const void *buf, size_t n, const char *what) {
    re_status st = RE_OK;
    re_video_reader *r = NULL;
    AVDictionary *opts = NULL;
    uint8_t *iobuf = NULL;
    if (!what) what = "<memory>";
    if (!out || (!buf && n)) return re_fail(RE_ERR_ARG, "%s: NULL reader pointer or buffer", what);
    *out = NULL;
    if (n == 0) return re_fail(RE_ERR_FORMAT, "%s: empty input, expected a video", what);
    re_ff_init();
    re_ff_clear_log();
    r = reader_new(what);
    if (!r) return re_fail(RE_ERR_NOMEM, "cannot allocate a video reader for %s", what);
    r->mem.buf = buf;
    r->mem.n = n;
    const int iosz = 32768;
    iobuf = av_malloc(iosz);
    r->fmt = avformat_alloc_context();
    if (iobuf) r->avio = avio_alloc_context(iobuf, iosz, 0, &r->mem, mem_read, NULL, mem_seek);
    if (!r->fmt || !r->avio) {
        if (!r->avio) av_free(iobuf);
        st = re_fail(RE_ERR_NOMEM, "cannot allocate I/O for %s", what);
        goto done;
    }
    r->fmt->pb = r->avio;
    r->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    r->fmt->io_open = deny_io_open;
    if (av_dict_set(&opts, "format_whitelist", k_formats, 0) < 0) {
        st = re_fail(RE_ERR_NOMEM, "cannot set options for %s", what);
        goto done;
    }
    st = reader_start(r, "", &opts);
done:
    return open_end(r, st, &opts, out);
}

re_video_info re_video_reader_info(const re_video_reader *r) {
    re_video_info none = {0, 0, 0, 0, -1, -1, 0, 0, ""};
    return r ? r->info : none;
}

int64_t re_video_reader_frames_read(const re_video_reader *r) { return r ? r->frames : 0; }

void re_video_reader_close(re_video_reader *r) {
    if (!r) return;
    sws_freeContext(r->sws);
    av_free(r->rgb);
    av_frame_free(&r->frm);
    av_packet_free(&r->pkt);
    avcodec_free_context(&r->dec);
    if (r->fmt) avformat_close_input(&r->fmt);   /* frees a context that failed to open too */
    if (r->avio) {
        av_freep(&r->avio->buffer);
        avio_context_free(&r->avio);
    }
    free(r->name);
    free(r);
}

/* Convert r->frm to RGB into `out` (rotated if needed). */
static re_status convert_frame(re_video_reader *r, re_image *out) {
    AVFrame *f = r->frm;
    int w = f->width, h = f->height;
    re_status st = re_image_check_size(w, h, r->name);
    if (st != RE_OK) return st;
    if (f->format < 0 || !f->data[0]) return re_fail(RE_ERR_FORMAT, "%s: decoder returned an empty frame", r->name);
    int cs = f->colorspace;
    if (cs == AVCOL_SPC_UNSPECIFIED || cs == AVCOL_SPC_RESERVED || cs == AVCOL_SPC_RGB)
        cs = h >= 720 ? SWS_CS_ITU709 : SWS_CS_DEFAULT;
    int fmt = f->format;
    int full = f->color_range == AVCOL_RANGE_JPEG || fmt == AV_PIX_FMT_YUVJ420P || fmt == AV_PIX_FMT_YUVJ422P ||
               fmt == AV_PIX_FMT_YUVJ444P || fmt == AV_PIX_FMT_YUVJ440P || fmt == AV_PIX_FMT_YUVJ411P;
    if (!r->sws || r->sws_w != w || r->sws_h != h || r->sws_fmt != fmt || r->sws_cs != cs || r->sws_range != full) {
        sws_freeContext(r->sws);
        r->sws = sws_getContext(w, h, (enum AVPixelFormat)fmt, w, h, AV_PIX_FMT_RGB24,
                                SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
        if (!r->sws)
            return re_fail(RE_ERR_UNSUPPORTED, "%s: cannot convert pixel format %s (%dx%d) to RGB", r->name,
                           av_get_pix_fmt_name((enum AVPixelFormat)fmt) ? av_get_pix_fmt_name((enum AVPixelFormat)fmt) : "?",
                           w, h);
        const int *coef = sws_getCoefficients(cs);
        /* no-op (returns -1) for RGB sources, which is fine */
        sws_setColorspaceDetails(r->sws, coef, full, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
        r->sws_w = w;
        r->sws_h = h;
        r->sws_fmt = fmt;
        r->sws_cs = cs;
        r->sws_range = full;
        int stride = FFALIGN(w * 3, 64);
        size_t need = (size_t)stride * (size_t)(h + 1) + 64;   /* one spare row: SIMD writers may overshoot */
        if (need > r->rgb_bytes) {
            av_free(r->rgb);
            r->rgb = av_malloc(need);
            r->rgb_bytes = r->rgb ? need : 0;
            if (!r->rgb) return re_fail(RE_ERR_NOMEM, "%s: cannot allocate a %dx%d RGB buffer", r->name, w, h);
        }
        r->rgb_stride = stride;
    }
    uint8_t *dst[4] = {r->rgb, NULL, NULL, NULL};
    int dls[4] = {r->rgb_stride, 0, 0, 0};
    int got = sws_scale(r->sws, (const uint8_t *const *)f->data, f->linesize, 0, h, dst, dls);
    if (got != h) return re_fail(RE_ERR_FORMAT, "%s: pixel conversion produced %d of %d rows", r->name, got, h);
    re_image view = {w, h, r->rgb_stride, r->rgb, 0};
    if (r->rotation == 0) {
        st = re_image_prepare(out, w, h, "re_video_reader_next");
        if (st != RE_OK) return st;
        for (int y = 0; y < h; y++)
            memcpy(out->data + (size_t)y * out->stride, r->rgb + (size_t)y * r->rgb_stride, (size_t)w * 3);
        return RE_OK;
    }
    return re_image_orient(&view, out, r->rotation == 90 ? 6 : r->rotation == 180 ? 3 : 8);
}

re_status re_video_reader_next(re_video_reader *r, re_image *frame, double *pts_seconds) {
    char eb[600];
    if (!r || !frame) return re_fail(RE_ERR_ARG, "re_video_reader_next: NULL reader or frame");
    int consecutive = 0;
    for (;;) {
        int ret = avcodec_receive_frame(r->dec, r->frm);
        if (ret == 0) {
            re_status st = convert_frame(r, frame);
            int64_t pts = r->frm->best_effort_timestamp;
            av_frame_unref(r->frm);
            if (st != RE_OK) return st;
            double t;
            AVRational tb = r->fmt->streams[r->vidx]->time_base;
            if (pts != AV_NOPTS_VALUE && tb.den > 0) {
                if (r->first_pts == AV_NOPTS_VALUE) r->first_pts = pts;
                t = (double)(pts - r->first_pts) * av_q2d(tb);
            } else {
                t = (double)r->frames * r->info.fps_den / r->info.fps_num;
            }
            if (pts_seconds) *pts_seconds = t;
            r->frames++;
            return RE_OK;
        }
        if (ret == AVERROR_EOF) {
            if (r->frames > 0) return RE_VIDEO_EOF;
            if (r->read_err)
                return re_fail(RE_ERR_TRUNCATED, "%s: no frame could be decoded before a read error: %s", r->name,
                               re_ff_errstr(r->read_err, eb, sizeof eb));
            if (r->dec_errors)
                return re_fail(RE_ERR_FORMAT, "%s: no frame could be decoded (%lld decoder errors, last: %s)", r->name,
                               (long long)r->dec_errors, re_ff_errstr(r->dec_err, eb, sizeof eb));
            if (r->info.nb_frames > 0)
                return re_fail(RE_ERR_TRUNCATED, "%s: the container lists %lld frames but none could be read "
                               "(file truncated?)", r->name, (long long)r->info.nb_frames);
            return re_fail(RE_ERR_FORMAT, "%s: the video stream contains no frames", r->name);
        }
        if (ret != AVERROR(EAGAIN)) { /* a decoding error surfaced here (frame threads): skip it */
            r->dec_err = ret;
            r->dec_errors++;
            if (++consecutive > MAX_CONSECUTIVE_ERRORS)
                return re_fail(RE_ERR_FORMAT, "%s: decoder keeps failing: %s", r->name, re_ff_errstr(ret, eb, sizeof eb));
            if (r->flushed) {
                if (r->frames > 0) return RE_VIDEO_EOF;
                return re_fail(RE_ERR_FORMAT, "%s: no frame could be decoded: %s", r->name,
                               re_ff_errstr(ret, eb, sizeof eb));
            }
            continue;
        }
        /* EAGAIN: the decoder wants input */
        if (r->demux_done) {
            if (r->flushed) return r->frames > 0 ? RE_VIDEO_EOF : re_fail(RE_ERR_FORMAT, "%s: decoder stalled", r->name);
            ret = avcodec_send_packet(r->dec, NULL);
            r->flushed = 1;
            if (ret < 0 && ret != AVERROR_EOF)
                return re_fail(RE_ERR_FORMAT, "%s: flushing the decoder failed: %s", r->name,
                               re_ff_errstr(ret, eb, sizeof eb));
            continue;
        }
        ret = av_read_frame(r->fmt, r->pkt);
        if (ret < 0) {
            if (ret != AVERROR_EOF) r->read_err = ret;
            r->demux_done = 1;
            continue;
        }
        if (r->pkt->stream_index != r->vidx) {
            av_packet_unref(r->pkt);
            continue;
        }
        ret = avcodec_send_packet(r->dec, r->pkt);
        av_packet_unref(r->pkt);
        if (ret < 0 && ret != AVERROR(EAGAIN)) {
            r->dec_err = ret;
            r->dec_errors++;
            if (++consecutive > MAX_CONSECUTIVE_ERRORS)
                return re_fail(RE_ERR_FORMAT, "%s: decoder keeps failing: %s", r->name, re_ff_errstr(ret, eb, sizeof eb));
        }
    }
}
