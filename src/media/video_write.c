/*
 * video_write.c - frame-by-frame video encoding with FFmpeg 5.1: MP4 (H.264/libx264, yuv420p), WEBM (VP9/libvpx),
 * GIF (per-frame median-cut palette), or a numbered PNG sequence; optional audio copied or transcoded from another
 * file (re_video_writer_opts.audio_from).
 *
 * Safety and FFmpeg pitfalls handled here:
 *   - the container is written to "<path>.tmp.<pid>.<n>" and renamed over <path> only after a successful trailer,
 *     so a failed or aborted run never leaves a partial file where a good one was;
 *   - every video packet gets duration 1 frame (else MP4 drops/shortens the last frame), timestamps are rescaled from
 *     the encoder time base 1/fps to the stream time base chosen by the muxer at write_header;
 *   - the encoder is flushed with avcodec_send_frame(NULL) at close;
 *   - RGB frames are converted to BT.709 limited-range YUV 4:2:0 by re_rgb_to_yuv420p (vectorized integer code,
 *     straight from the caller's rows: no copy, no over-read), which repeats the last column/row when H.264 4:2:0
 *     needs even dimensions;
 *   - the libx264 preset depends on the frame size (see x264_settings): large frames, such as `animate --paste-back`
 *     output at the photo's size, would otherwise spend most of the frame time in the encoder;
 *   - audio packets are interleaved as video advances (pumped up to the current video time), cut at the video's end.
 * PNG sequences: each frame is its own atomically written file; abort/failed close deletes the frames written.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

#include "core/core.h"
#include "media/image_internal.h"
#include "media/video_internal.h"
#include "reenact/media.h"

#define DEFAULT_CRF_H264 18
#define DEFAULT_CRF_VP9 31
/* H.264 frames of at least this many pixels use the fast preset (see x264_settings) */
#define X264_FAST_MIN_PIXELS (512 * 1024)
#define X264_FAST_PRESET "veryfast"
#define X264_FAST_CRF_OFFSET 4

static atomic_uint g_tmp_counter;

struct re_video_writer {
    re_video_format format;
    char *path, *tmp;
    int w, h;                /* frame size the caller writes */
    int ew, eh;              /* encoded size (even for H.264) */
    AVRational fps;          /* frames per second */
    int64_t frames;          /* frames written */
    /* container + video */
    AVFormatContext *oc;
    AVCodecContext *enc;
    AVStream *vst;
    AVFrame *vf;             /* frame handed to the encoder (YUV or PAL8) */
    AVPacket *pkt;
    int header_written;
    /* GIF quantizer scratch */
    uint32_t *hist;          /* 32768 bins x (count, r, g, b) */
    uint16_t *lut;           /* bin -> palette index */
    /* audio */
    re_audio_mode amode;
    AVFormatContext *ain;
    int aidx;
    AVStream *ast;
    AVCodecContext *adec, *aenc;
    SwrContext *swr;
    AVAudioFifo *fifo;
    AVFrame *afrm, *aout;
    AVPacket *apkt;
    int64_t a_start;         /* first input audio pts (input stream time base), AV_NOPTS_VALUE until seen */
    int64_t a_samples_in;    /* samples put into the fifo */
    int64_t a_next_pts;      /* next encoder frame pts (1/sample_rate) */
    int ain_done;
    int a_pending;           /* w->apkt holds an audio packet not written yet (copy mode) */
    int64_t a_copied;        /* packets copied/encoded */
    double t_convert, t_mux; /* seconds in conversion and packet writes (re_video_writer_get_timing) */
};

static double mono_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static const char *fmt_name(re_video_format f) {
    switch (f) {
    case RE_VIDEO_MP4: return "MP4/H.264";
    case RE_VIDEO_WEBM: return "WEBM/VP9";
    case RE_VIDEO_GIF: return "GIF";
    case RE_VIDEO_PNG_SEQ: return "PNG sequence";
    default: return "auto";
    }
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    if (m > n) return 0;
    for (size_t i = 0; i < m; i++) {
        char a = s[n - m + i], b = suf[i];
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (a != b) return 0;
    }
    return 1;
}

static re_video_format format_from_path(const char *p) {
    if (strchr(p, '%')) return RE_VIDEO_PNG_SEQ;
    if (ends_with(p, ".mp4") || ends_with(p, ".m4v") || ends_with(p, ".mov")) return RE_VIDEO_MP4;
    if (ends_with(p, ".webm") || ends_with(p, ".mkv")) return RE_VIDEO_WEBM;
    if (ends_with(p, ".gif")) return RE_VIDEO_GIF;
    return RE_VIDEO_AUTO;
}

/* The pattern must hold exactly one integer conversion (%d, %05d, ...) and no other '%' except "%%". */
static int valid_seq_pattern(const char *p) {
    int conv = 0;
    for (const char *s = p; *s; s++) {
        if (*s != '%') continue;
        if (s[1] == '%') {
            s++;
            continue;
        }
        s++;
        if (*s == '0') s++;
        while (*s >= '0' && *s <= '9') s++;
        if (*s != 'd') return 0;
        conv++;
    }
    return conv == 1;
}

static char *seq_name(const char *pattern, int64_t i) {
    char buf[4096];
    /* the pattern was validated to contain exactly one %d-style conversion */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    int n = snprintf(buf, sizeof buf, pattern, (int)i);
#pragma GCC diagnostic pop
    if (n < 0 || (size_t)n >= sizeof buf) return NULL;
    return strdup(buf);
}

/* ------------------------------------------------------------------------------------------ GIF quantizer */

/* Median cut over a 5-5-5 bit histogram: fills pal[256] (0xAARRGGBB, opaque) and lut[32768] -> index. */
typedef struct qbox { int lo[3], hi[3]; uint64_t count; } qbox;

static inline int bin_of(int r, int g, int b) { return (r << 10) | (g << 5) | b; }

static void qbox_shrink(qbox *q, const uint32_t *hist) {
    int lo[3] = {31, 31, 31}, hi[3] = {0, 0, 0};
    uint64_t cnt = 0;
    for (int r = q->lo[0]; r <= q->hi[0]; r++)
        for (int g = q->lo[1]; g <= q->hi[1]; g++)
            for (int b = q->lo[2]; b <= q->hi[2]; b++) {
                uint32_t c = hist[bin_of(r, g, b) * 4];
                if (!c) continue;
                cnt += c;
                int v[3] = {r, g, b};
                for (int k = 0; k < 3; k++) {
                    if (v[k] < lo[k]) lo[k] = v[k];
                    if (v[k] > hi[k]) hi[k] = v[k];
                }
            }
    q->count = cnt;
    if (cnt) {
        memcpy(q->lo, lo, sizeof lo);
        memcpy(q->hi, hi, sizeof hi);
    }
}

static void quantize(re_video_writer *w, const uint8_t *rgb, int stride, uint8_t *idx, int idx_stride, uint32_t *pal) {
    uint32_t *hist = w->hist;
    memset(hist, 0, sizeof(uint32_t) * 32768 * 4);
    for (int y = 0; y < w->eh; y++) {
        const uint8_t *p = rgb + (size_t)y * stride;
        for (int x = 0; x < w->ew; x++, p += 3) {
            uint32_t *hb = hist + bin_of(p[0] >> 3, p[1] >> 3, p[2] >> 3) * 4;
            hb[0]++;
            hb[1] += p[0];
            hb[2] += p[1];
            hb[3] += p[2];
        }
    }
    qbox boxes[256];
    int nb = 1;
    boxes[0] = (qbox){{0, 0, 0}, {31, 31, 31}, 0};
    qbox_shrink(&boxes[0], hist);
    while (nb < 256) {
        int best = -1, axis = 0;
        uint64_t best_score = 0;
        for (int i = 0; i < nb; i++) {
            int ax = 0, len = -1;
            for (int k = 0; k < 3; k++)
                if (boxes[i].hi[k] - boxes[i].lo[k] > len) {
                    len = boxes[i].hi[k] - boxes[i].lo[k];
                    ax = k;
                }
            if (len <= 0) continue;
            uint64_t score = boxes[i].count * (uint64_t)len;
            if (score > best_score) {
                best_score = score;
                best = i;
                axis = ax;
            }
        }
        if (best < 0) break;
        qbox *q = &boxes[best];
        /* count per slice along the axis, cut at the median */
        uint64_t slice[32] = {0};
        for (int r = q->lo[0]; r <= q->hi[0]; r++)
            for (int g = q->lo[1]; g <= q->hi[1]; g++)
                for (int b = q->lo[2]; b <= q->hi[2]; b++) {
                    int v[3] = {r, g, b};
                    slice[v[axis]] += hist[bin_of(r, g, b) * 4];
                }
        uint64_t acc = 0;
        int cut = q->lo[axis];
        for (int s = q->lo[axis]; s < q->hi[axis]; s++) {
            acc += slice[s];
            cut = s;
            if (acc * 2 >= q->count) break;
        }
        qbox a = *q, b = *q;
        a.hi[axis] = cut;
        b.lo[axis] = cut + 1;
        qbox_shrink(&a, hist);
        qbox_shrink(&b, hist);
        *q = a;
        boxes[nb++] = b;
    }
    for (int i = 0; i < 256; i++) pal[i] = 0xff000000u;
    for (int i = 0; i < nb; i++) {
        uint64_t s[4] = {0, 0, 0, 0};
        qbox *q = &boxes[i];
        for (int r = q->lo[0]; r <= q->hi[0]; r++)
            for (int g = q->lo[1]; g <= q->hi[1]; g++)
                for (int b = q->lo[2]; b <= q->hi[2]; b++) {
                    int bin = bin_of(r, g, b);
                    const uint32_t *hb = hist + bin * 4;
                    for (int k = 0; k < 4; k++) s[k] += hb[k];
                    w->lut[bin] = (uint16_t)i;
                }
        if (s[0]) {
            uint32_t rr = (uint32_t)((s[1] + s[0] / 2) / s[0]), gg = (uint32_t)((s[2] + s[0] / 2) / s[0]),
                     bb = (uint32_t)((s[3] + s[0] / 2) / s[0]);
            pal[i] = 0xff000000u | rr << 16 | gg << 8 | bb;
        }
    }
    for (int y = 0; y < w->eh; y++) {
        const uint8_t *p = rgb + (size_t)y * stride;
        uint8_t *o = idx + (size_t)y * idx_stride;
        for (int x = 0; x < w->ew; x++, p += 3) o[x] = (uint8_t)w->lut[bin_of(p[0] >> 3, p[1] >> 3, p[2] >> 3)];
    }
}

/* ------------------------------------------------------------------------------------------ audio */

static int is_copyable(re_video_format f, enum AVCodecID id) {
    if (f == RE_VIDEO_MP4)
        return id == AV_CODEC_ID_AAC || id == AV_CODEC_ID_MP3 || id == AV_CODEC_ID_ALAC || id == AV_CODEC_ID_OPUS;
    if (f == RE_VIDEO_WEBM) return id == AV_CODEC_ID_OPUS || id == AV_CODEC_ID_VORBIS;
    return 0;
}

/* Open opts->audio_from and add the output audio stream (copy or encoder). Before write_header. */
static re_status audio_setup(re_video_writer *w, const char *src) {
    char eb[600];
    int ret;
    AVDictionary *o = NULL;
    if (w->format == RE_VIDEO_GIF || w->format == RE_VIDEO_PNG_SEQ) {
        w->amode = RE_AUDIO_SKIPPED;
        return RE_OK;
    }
    if (av_dict_set(&o, "protocol_whitelist", "file", 0) < 0) return re_fail(RE_ERR_NOMEM, "out of memory");
    ret = avformat_open_input(&w->ain, src, NULL, &o);
    av_dict_free(&o);
    if (ret < 0)
        return re_fail(re_ff_status(ret), "audio source '%s': cannot open: %s", src, re_ff_errstr(ret, eb, sizeof eb));
    ret = avformat_find_stream_info(w->ain, NULL);
    if (ret < 0)
        return re_fail(RE_ERR_FORMAT, "audio source '%s': cannot read stream info: %s", src,
                       re_ff_errstr(ret, eb, sizeof eb));
    ret = av_find_best_stream(w->ain, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    if (ret < 0) {
        w->amode = RE_AUDIO_SKIPPED;   /* documented: a source without audio just gives a silent video */
        avformat_close_input(&w->ain);
        return RE_OK;
    }
    w->aidx = ret;
    for (unsigned i = 0; i < w->ain->nb_streams; i++)
        if ((int)i != w->aidx) w->ain->streams[i]->discard = AVDISCARD_ALL;
    AVStream *is = w->ain->streams[w->aidx];
    w->ast = avformat_new_stream(w->oc, NULL);
    w->apkt = av_packet_alloc();
    if (!w->ast || !w->apkt) return re_fail(RE_ERR_NOMEM, "cannot allocate the audio stream");
    w->a_start = AV_NOPTS_VALUE;
    if (is_copyable(w->format, is->codecpar->codec_id) &&
        avformat_query_codec(w->oc->oformat, is->codecpar->codec_id, FF_COMPLIANCE_NORMAL) == 1) {
        ret = avcodec_parameters_copy(w->ast->codecpar, is->codecpar);
        if (ret < 0) return re_fail(RE_ERR_NOMEM, "audio source '%s': cannot copy codec parameters", src);
        w->ast->codecpar->codec_tag = 0;
        w->ast->time_base = is->time_base;
        w->amode = RE_AUDIO_COPIED;
        return RE_OK;
    }
    /* transcode: decoder for the input, AAC (MP4) or Opus (WEBM) encoder */
    const AVCodec *dc = avcodec_find_decoder(is->codecpar->codec_id);
    if (!dc)
        return re_fail(RE_ERR_UNSUPPORTED, "audio source '%s': no decoder for audio codec '%s'", src,
                       avcodec_get_name(is->codecpar->codec_id));
    w->adec = avcodec_alloc_context3(dc);
    if (!w->adec) return re_fail(RE_ERR_NOMEM, "cannot allocate an audio decoder");
    if ((ret = avcodec_parameters_to_context(w->adec, is->codecpar)) < 0 || (ret = avcodec_open2(w->adec, dc, NULL)) < 0)
        return re_fail(RE_ERR_UNSUPPORTED, "audio source '%s': cannot open the %s decoder: %s", src, dc->name,
                       re_ff_errstr(ret, eb, sizeof eb));
    w->adec->pkt_timebase = is->time_base;
    const AVCodec *ec = w->format == RE_VIDEO_MP4 ? avcodec_find_encoder(AV_CODEC_ID_AAC)
                                                  : avcodec_find_encoder_by_name("libopus");
    if (!ec && w->format == RE_VIDEO_WEBM) ec = avcodec_find_encoder(AV_CODEC_ID_OPUS);
    if (!ec)
        return re_fail(RE_ERR_UNSUPPORTED, "no %s audio encoder in this FFmpeg build",
                       w->format == RE_VIDEO_MP4 ? "AAC" : "Opus");
    w->aenc = avcodec_alloc_context3(ec);
    if (!w->aenc) return re_fail(RE_ERR_NOMEM, "cannot allocate an audio encoder");
    int in_ch = w->adec->ch_layout.nb_channels > 0 ? w->adec->ch_layout.nb_channels : 2;
    av_channel_layout_default(&w->aenc->ch_layout, in_ch >= 2 ? 2 : 1);
    int rate = 48000;
    if (w->format == RE_VIDEO_MP4 && w->adec->sample_rate > 0) {
        rate = w->adec->sample_rate;
        int ok = !ec->supported_samplerates;
        for (const int *r = ec->supported_samplerates; r && *r; r++) ok |= *r == rate;
        if (!ok) rate = 48000;
    }
    w->aenc->sample_rate = rate;
    w->aenc->sample_fmt = ec->sample_fmts ? ec->sample_fmts[0] : AV_SAMPLE_FMT_FLTP;
    w->aenc->bit_rate = w->format == RE_VIDEO_MP4 ? 128000 : 96000;
    w->aenc->time_base = (AVRational){1, rate};
    if (w->oc->oformat->flags & AVFMT_GLOBALHEADER) w->aenc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    ret = avcodec_open2(w->aenc, ec, NULL);
    if (ret < 0)
        return re_fail(RE_ERR_UNSUPPORTED, "cannot open the %s audio encoder: %s", ec->name,
                       re_ff_errstr(ret, eb, sizeof eb));
    ret = avcodec_parameters_from_context(w->ast->codecpar, w->aenc);
    if (ret < 0) return re_fail(RE_ERR_NOMEM, "cannot set audio stream parameters");
    w->ast->time_base = w->aenc->time_base;
    AVChannelLayout in_layout;
    if (w->adec->ch_layout.nb_channels > 0 && av_channel_layout_check(&w->adec->ch_layout))
        ret = av_channel_layout_copy(&in_layout, &w->adec->ch_layout);
    else
        av_channel_layout_default(&in_layout, in_ch), ret = 0;
    if (ret < 0) return re_fail(RE_ERR_NOMEM, "cannot copy the audio channel layout");
    ret = swr_alloc_set_opts2(&w->swr, &w->aenc->ch_layout, w->aenc->sample_fmt, rate, &in_layout,
                              w->adec->sample_fmt, w->adec->sample_rate > 0 ? w->adec->sample_rate : rate, 0, NULL);
    av_channel_layout_uninit(&in_layout);
    if (ret < 0 || (ret = swr_init(w->swr)) < 0)
        return re_fail(RE_ERR_UNSUPPORTED, "audio source '%s': cannot set up resampling: %s", src,
                       re_ff_errstr(ret, eb, sizeof eb));
    w->fifo = av_audio_fifo_alloc(w->aenc->sample_fmt, w->aenc->ch_layout.nb_channels, 4096);
    w->afrm = av_frame_alloc();
    w->aout = av_frame_alloc();
    if (!w->fifo || !w->afrm || !w->aout) return re_fail(RE_ERR_NOMEM, "cannot allocate audio buffers");
    w->amode = RE_AUDIO_TRANSCODED;
    return RE_OK;
}

static re_status write_packet(re_video_writer *w, AVPacket *p, const char *what) {
    char eb[600];
    const double t0 = mono_s();
    int ret = av_interleaved_write_frame(w->oc, p);
    w->t_mux += mono_s() - t0;
    if (ret < 0)
        return re_fail(RE_ERR_IO, "%s: writing a %s packet failed: %s", w->path, what, re_ff_errstr(ret, eb, sizeof eb));
    return RE_OK;
}

/* Write out the packets an encoder has ready (what: "video" or "audio"; a video packet lasts one frame of the
 * encoder's time base 1/fps). */
static re_status drain(re_video_writer *w, AVCodecContext *enc, AVPacket *pkt, AVStream *stream, const char *what) {
    char eb[600];
    for (;;) {
        int ret = avcodec_receive_packet(enc, pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return RE_OK;
        if (ret < 0)
            return re_fail(RE_ERR_FORMAT, "%s: %s encoding failed: %s", w->path, what, re_ff_errstr(ret, eb, sizeof eb));
        if (enc == w->enc) pkt->duration = 1;
        av_packet_rescale_ts(pkt, enc->time_base, stream->time_base);
        pkt->stream_index = stream->index;
        re_status st = write_packet(w, pkt, what);
        if (st != RE_OK) return st;
    }
}

static re_status audio_drain(re_video_writer *w) { return drain(w, w->aenc, w->apkt, w->ast, "audio"); }

/* Encode whole frames from the fifo (all remaining samples when final). */
static re_status audio_encode_fifo(re_video_writer *w, int final) {
    char eb[600];
    int fs = w->aenc->frame_size > 0 ? w->aenc->frame_size : 1024;
    while (av_audio_fifo_size(w->fifo) >= fs || (final && av_audio_fifo_size(w->fifo) > 0)) {
        int n = av_audio_fifo_size(w->fifo) < fs ? av_audio_fifo_size(w->fifo) : fs;
        av_frame_unref(w->aout);
        w->aout->nb_samples = n;
        w->aout->format = w->aenc->sample_fmt;
        w->aout->sample_rate = w->aenc->sample_rate;
        int ret = av_channel_layout_copy(&w->aout->ch_layout, &w->aenc->ch_layout);
        if (ret >= 0) ret = av_frame_get_buffer(w->aout, 0);
        if (ret < 0) return re_fail(RE_ERR_NOMEM, "%s: cannot allocate an audio frame", w->path);
        if (av_audio_fifo_read(w->fifo, (void **)w->aout->data, n) != n)
            return re_fail(RE_ERR_NOMEM, "%s: audio fifo read failed", w->path);
        w->aout->pts = w->a_next_pts;
        w->a_next_pts += n;
        ret = avcodec_send_frame(w->aenc, w->aout);
        if (ret < 0)
            return re_fail(RE_ERR_FORMAT, "%s: audio encoding failed: %s", w->path, re_ff_errstr(ret, eb, sizeof eb));
        re_status st = audio_drain(w);
        if (st != RE_OK) return st;
        w->a_copied++;
    }
    return RE_OK;
}

/* Resample decoded frame (or flush when f == NULL) into the fifo, keeping at most max_samples in total. */
static re_status audio_to_fifo(re_video_writer *w, const AVFrame *f, int64_t max_samples) {
    int cap = swr_get_out_samples(w->swr, f ? f->nb_samples : 0);
    if (cap <= 0) return RE_OK;
    uint8_t **buf = NULL;
    int ret = av_samples_alloc_array_and_samples(&buf, NULL, w->aenc->ch_layout.nb_channels, cap, w->aenc->sample_fmt, 0);
    if (ret < 0) return re_fail(RE_ERR_NOMEM, "%s: cannot allocate resampling buffers", w->path);
    int got = swr_convert(w->swr, buf, cap, f ? (const uint8_t **)f->extended_data : NULL, f ? f->nb_samples : 0);
    re_status st = RE_OK;
    if (got < 0) {
        st = re_fail(RE_ERR_FORMAT, "%s: audio resampling failed", w->path);
    } else {
        int64_t room = max_samples - w->a_samples_in;
        int keep = room < got ? (int)(room > 0 ? room : 0) : got;
        if (keep > 0 && av_audio_fifo_write(w->fifo, (void **)buf, keep) != keep)
            st = re_fail(RE_ERR_NOMEM, "%s: audio fifo write failed", w->path);
        w->a_samples_in += keep;
    }
    av_freep(&buf[0]);
    av_freep(&buf);
    return st;
}

/* Move audio up to `until` seconds of output (the current video time); at the end (final) up to the video's end,
 * then flush. */
static re_status audio_pump(re_video_writer *w, double until, int final) {
    char eb[600];
    re_status st = RE_OK;
    if (w->amode != RE_AUDIO_COPIED && w->amode != RE_AUDIO_TRANSCODED) return RE_OK;
    AVStream *is = w->ain->streams[w->aidx];
    int64_t max_samples = w->aenc ? (int64_t)ceil(until * w->aenc->sample_rate) : 0;
    while (!w->ain_done) {
        if (w->aenc && w->a_samples_in >= max_samples) break;
        if (w->a_pending) { /* read by an earlier pump, starts after that pump's video time */
            w->a_pending = 0;
        } else {
            int ret = av_read_frame(w->ain, w->apkt);
            if (ret < 0) { /* end of the audio (or a read error: keep what we have) */
                w->ain_done = 1;
                break;
            }
            if (w->apkt->stream_index != w->aidx) {
                av_packet_unref(w->apkt);
                continue;
            }
        }
        if (w->a_start == AV_NOPTS_VALUE)
            w->a_start = w->apkt->pts != AV_NOPTS_VALUE ? w->apkt->pts : w->apkt->dts != AV_NOPTS_VALUE ? w->apkt->dts : 0;
        if (w->amode == RE_AUDIO_COPIED) {
            int64_t pts = w->apkt->pts != AV_NOPTS_VALUE ? w->apkt->pts : w->apkt->dts;
            double t = pts == AV_NOPTS_VALUE ? 0.0 : (double)(pts - w->a_start) * av_q2d(is->time_base);
            if (t >= until) { /* starts after the current video time */
                if (final) { /* ... and after the video's end: drop the rest */
                    av_packet_unref(w->apkt);
                    w->ain_done = 1;
                } else {
                    w->a_pending = 1;   /* keep it for the next pump */
                }
                break;
            }
            if (w->apkt->pts != AV_NOPTS_VALUE) w->apkt->pts -= w->a_start;
            if (w->apkt->dts != AV_NOPTS_VALUE) w->apkt->dts -= w->a_start;
            av_packet_rescale_ts(w->apkt, is->time_base, w->ast->time_base);
            w->apkt->stream_index = w->ast->index;
            w->apkt->pos = -1;
            st = write_packet(w, w->apkt, "audio");
            av_packet_unref(w->apkt);
            if (st != RE_OK) return st;
            w->a_copied++;
            continue;
        }
        int ret = avcodec_send_packet(w->adec, w->apkt);
        av_packet_unref(w->apkt);
        if (ret < 0 && ret != AVERROR(EAGAIN) && ret != AVERROR_INVALIDDATA)
            return re_fail(RE_ERR_FORMAT, "%s: audio decoding failed: %s", w->path, re_ff_errstr(ret, eb, sizeof eb));
        while ((ret = avcodec_receive_frame(w->adec, w->afrm)) == 0) {
            st = audio_to_fifo(w, w->afrm, max_samples);
            av_frame_unref(w->afrm);
            if (st != RE_OK) return st;
        }
        st = audio_encode_fifo(w, 0);
        if (st != RE_OK) return st;
    }
    if (final && w->amode == RE_AUDIO_TRANSCODED) {
        /* drain the decoder and resampler up to the cap, then everything left in the fifo, then the encoder */
        if (avcodec_send_packet(w->adec, NULL) >= 0)
            while (avcodec_receive_frame(w->adec, w->afrm) == 0) {
                st = audio_to_fifo(w, w->afrm, max_samples);
                av_frame_unref(w->afrm);
                if (st != RE_OK) return st;
            }
        if ((st = audio_to_fifo(w, NULL, max_samples)) != RE_OK) return st;
        if ((st = audio_encode_fifo(w, 1)) != RE_OK) return st;
        int ret = avcodec_send_frame(w->aenc, NULL);
        if (ret < 0 && ret != AVERROR_EOF)
            return re_fail(RE_ERR_FORMAT, "%s: flushing the audio encoder failed: %s", w->path,
                           re_ff_errstr(ret, eb, sizeof eb));
        return audio_drain(w);
    }
    return RE_OK;
}

/* ------------------------------------------------------------------------------------------ RGB -> YUV 4:2:0 */

/* BT.709 limited range in 16-bit fixed point: Y = 16 + 219/255 (0.2126 R + 0.7152 G + 0.0722 B); U, V = 128 + 224/255
 * (B - Y') / 1.8556, (R - Y') / 1.5748 of the 2x2 mean. The Y coefficients sum to round(219/255 * 2^16) (white ->
 * 235), the U and V ones to 0 (grey -> 128; U's green term is rounded towards zero for that). Every result lies in
 * [16, 240] before rounding, so no clamping is needed. */
enum {
    YR = 11966, YG = 40254, YB = 4064,
    UR = -6596, UG = -22188, UB = 28784,
    VR = 28784, VG = -26145, VB = -2639,
};

/* Pixels per chunk of a row pair: the scratch rows live on the stack. */
#define YUV_CHUNK 256

static void y_row(const uint8_t *restrict a, int n, uint8_t *restrict y) {
    const int32_t yoff = (16 << 16) + (1 << 15);
#pragma omp simd
    for (int x = 0; x < n; x++) y[x] = (uint8_t)((YR * a[3 * x] + YG * a[3 * x + 1] + YB * a[3 * x + 2] + yoff) >> 16);
}

/* Two RGB rows of n pixels -> two Y rows of n and one U and one V row of ceil(n / 2); b may equal a (last row of an
 * odd height) and y1 may then be NULL. Written as loops with unit or stride-3 access so that the compiler vectorizes
 * them (a direct 2x2-block loop has stride 6 and does not): Y per row, the vertical sums, the chroma terms of each
 * summed pixel, then the horizontal pairs (the conversion is linear, so summing the terms equals converting the 2x2
 * sum). An odd last column counts twice, as if the image were padded by repeating it. */
static void yuv_row_pair(const uint8_t *a, const uint8_t *b, int n, uint8_t *y0, uint8_t *y1, uint8_t *u, uint8_t *v) {
    uint16_t s[3 * YUV_CHUNK];
    int32_t cu[YUV_CHUNK + 1], cv[YUV_CHUNK + 1];
    const int32_t coff = (128 << 18) + (1 << 17);
    for (int x0 = 0; x0 < n; x0 += YUV_CHUNK) {
        const int m = n - x0 < YUV_CHUNK ? n - x0 : YUV_CHUNK;
        const uint8_t *restrict pa = a + 3 * x0, *restrict pb = b + 3 * x0;
        y_row(pa, m, y0 + x0);
        if (y1) y_row(pb, m, y1 + x0);
#pragma omp simd
        for (int i = 0; i < 3 * m; i++) s[i] = (uint16_t)(pa[i] + pb[i]);
#pragma omp simd
        for (int x = 0; x < m; x++) {
            const int32_t r = s[3 * x], g = s[3 * x + 1], bb = s[3 * x + 2];
            cu[x] = UR * r + UG * g + UB * bb;
            cv[x] = VR * r + VG * g + VB * bb;
        }
        if (m & 1) {   /* only in the last chunk (YUV_CHUNK is even) */
            cu[m] = cu[m - 1];
            cv[m] = cv[m - 1];
        }
        const int mc = (m + 1) / 2;
        uint8_t *restrict uu = u + x0 / 2, *restrict vv = v + x0 / 2;
#pragma omp simd
        for (int x = 0; x < mc; x++) {
            uu[x] = (uint8_t)((cu[2 * x] + cu[2 * x + 1] + coff) >> 18);
            vv[x] = (uint8_t)((cv[2 * x] + cv[2 * x + 1] + coff) >> 18);
        }
    }
}

re_status re_rgb_to_yuv420p(const uint8_t *rgb, int stride, int w, int h, uint8_t *const dst[3], const int dst_stride[3]) {
    if (!rgb || !dst || !dst_stride || w <= 0 || h <= 0 || stride < 3 * w)
        return re_fail(RE_ERR_ARG, "re_rgb_to_yuv420p: bad arguments (%dx%d, stride %d)", w, h, stride);
    for (int y = 0; y < h; y += 2) {
        const int last = y + 1 >= h;   /* odd height: the last row pairs with itself */
        const uint8_t *a = rgb + (size_t)y * stride;
        yuv_row_pair(a, last ? a : a + stride, w, dst[0] + (size_t)y * dst_stride[0],
                     last ? NULL : dst[0] + (size_t)(y + 1) * dst_stride[0], dst[1] + (size_t)(y / 2) * dst_stride[1],
                     dst[2] + (size_t)(y / 2) * dst_stride[2]);
    }
    return RE_OK;
}

/* ------------------------------------------------------------------------------------------ video */

/* libx264 preset and CRF for a crf request (0 = default) at ew x eh. Below X264_FAST_MIN_PIXELS: preset medium at
 * that CRF. From there on (e.g. `animate --paste-back` at the photo's size) medium would take most of each frame's
 * time, so preset veryfast at CRF - 4, the offset that keeps medium's quality: on synthetic and real paste-back frames
 * from 1024x1024 to 1920x1920, PSNR within 0.25 dB of medium at CRF or higher, 2-3x less encoder time, files 9-66%
 * larger (CRF - 3: 20-45% larger but up to 0.9 dB lower PSNR). Measured with bench/bench_video_write.c; media.h
 * documents it. */
static void x264_settings(int crf, int ew, int eh, const char **preset, int *x264_crf) {
    int q = crf > 0 ? (crf > 51 ? 51 : crf) : DEFAULT_CRF_H264;
    *preset = "medium";
    if ((int64_t)ew * eh >= X264_FAST_MIN_PIXELS) {
        *preset = X264_FAST_PRESET;
        q = q - X264_FAST_CRF_OFFSET < 1 ? 1 : q - X264_FAST_CRF_OFFSET;
    }
    *x264_crf = q;
}

static re_status video_setup(re_video_writer *w, int crf) {
    char eb[600];
    int ret;
    const AVCodec *c = NULL;
    const char *muxer = w->format == RE_VIDEO_MP4 ? "mp4" : w->format == RE_VIDEO_WEBM ? "webm" : "gif";
    ret = avformat_alloc_output_context2(&w->oc, NULL, muxer, w->tmp);
    if (ret < 0 || !w->oc)
        return re_fail(RE_ERR_UNSUPPORTED, "%s: no %s muxer: %s", w->path, muxer, re_ff_errstr(ret, eb, sizeof eb));
    if (w->format == RE_VIDEO_MP4) {
        c = avcodec_find_encoder_by_name("libx264");
        if (!c) c = avcodec_find_encoder(AV_CODEC_ID_H264);
    } else if (w->format == RE_VIDEO_WEBM) {
        c = avcodec_find_encoder_by_name("libvpx-vp9");
        if (!c) c = avcodec_find_encoder(AV_CODEC_ID_VP9);
    } else {
        c = avcodec_find_encoder(AV_CODEC_ID_GIF);
    }
    if (!c) return re_fail(RE_ERR_UNSUPPORTED, "%s: no %s encoder in this FFmpeg build", w->path, fmt_name(w->format));
    w->vst = avformat_new_stream(w->oc, NULL);
    w->enc = avcodec_alloc_context3(c);
    w->pkt = av_packet_alloc();
    w->vf = av_frame_alloc();
    if (!w->vst || !w->enc || !w->pkt || !w->vf) return re_fail(RE_ERR_NOMEM, "%s: cannot allocate the encoder", w->path);
    AVCodecContext *e = w->enc;
    e->width = w->ew;
    e->height = w->eh;
    e->time_base = av_inv_q(w->fps);
    e->framerate = w->fps;
    e->sample_aspect_ratio = (AVRational){1, 1};
    e->pix_fmt = w->format == RE_VIDEO_GIF ? AV_PIX_FMT_PAL8 : AV_PIX_FMT_YUV420P;
    if (w->format != RE_VIDEO_GIF) {
        e->color_range = AVCOL_RANGE_MPEG;
        e->colorspace = AVCOL_SPC_BT709;
        e->color_primaries = AVCOL_PRI_BT709;
        e->color_trc = AVCOL_TRC_BT709;
        e->thread_count = 0;
    }
    if (w->oc->oformat->flags & AVFMT_GLOBALHEADER) e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary *o = NULL;
    char crfs[16];
    if (w->format == RE_VIDEO_MP4) {
        const char *preset;
        int q;
        x264_settings(crf, w->ew, w->eh, &preset, &q);
        snprintf(crfs, sizeof crfs, "%d", q);
        av_dict_set(&o, "crf", crfs, 0);
        av_dict_set(&o, "preset", preset, 0);
        e->gop_size = 250;
    } else if (w->format == RE_VIDEO_WEBM) {
        snprintf(crfs, sizeof crfs, "%d", crf > 0 ? (crf > 63 ? 63 : crf) : DEFAULT_CRF_VP9);
        av_dict_set(&o, "crf", crfs, 0);
        e->bit_rate = 0;                  /* constant quality */
        av_dict_set(&o, "deadline", "good", 0);
        av_dict_set(&o, "cpu-used", "4", 0);
        av_dict_set(&o, "row-mt", "1", 0);
        e->gop_size = 250;
    }
    ret = avcodec_open2(e, c, &o);
    av_dict_free(&o);
    if (ret < 0)
        return re_fail(RE_ERR_UNSUPPORTED, "%s: cannot open the %s encoder (%dx%d @ %d/%d fps): %s", w->path, c->name, w->ew,
                       w->eh, w->fps.num, w->fps.den, re_ff_errstr(ret, eb, sizeof eb));
    ret = avcodec_parameters_from_context(w->vst->codecpar, e);
    if (ret < 0) return re_fail(RE_ERR_NOMEM, "%s: cannot set stream parameters", w->path);
    w->vst->time_base = e->time_base;
    w->vst->avg_frame_rate = w->fps;
    w->vst->r_frame_rate = w->fps;
    w->vf->format = e->pix_fmt;
    w->vf->width = w->ew;
    w->vf->height = w->eh;
    if ((ret = av_frame_get_buffer(w->vf, 64)) < 0) return re_fail(RE_ERR_NOMEM, "%s: cannot allocate a frame", w->path);
    if (w->format == RE_VIDEO_GIF) {
        w->hist = malloc(sizeof(uint32_t) * 32768 * 4);
        w->lut = malloc(sizeof(uint16_t) * 32768);
        if (!w->hist || !w->lut) return re_fail(RE_ERR_NOMEM, "%s: cannot allocate the GIF quantizer", w->path);
    }
    return RE_OK;
}

static re_status video_drain(re_video_writer *w) { return drain(w, w->enc, w->pkt, w->vst, "video"); }

/* ------------------------------------------------------------------------------------------ API */

static void writer_free(re_video_writer *w, int remove_output) {
    if (!w) return;
    if (w->oc && w->oc->pb && !(w->oc->oformat->flags & AVFMT_NOFILE)) avio_closep(&w->oc->pb);
    if (remove_output) {
        if (w->format == RE_VIDEO_PNG_SEQ) {
            for (int64_t i = 1; i <= w->frames; i++) {
                char *n = seq_name(w->path, i);
                if (n) remove(n);
                free(n);
            }
        } else if (w->tmp) {
            remove(w->tmp);
        }
    }
    avformat_free_context(w->oc);
    avcodec_free_context(&w->enc);
    avcodec_free_context(&w->adec);
    avcodec_free_context(&w->aenc);
    if (w->ain) avformat_close_input(&w->ain);
    swr_free(&w->swr);
    if (w->fifo) av_audio_fifo_free(w->fifo);
    av_frame_free(&w->afrm);
    av_frame_free(&w->aout);
    av_packet_free(&w->apkt);
    av_frame_free(&w->vf);
    av_packet_free(&w->pkt);
    free(w->hist);
    free(w->lut);
    free(w->path);
    free(w->tmp);
    free(w);
}

re_status re_video_writer_open(re_video_writer **out, const char *path, const re_video_writer_opts *o) {
    char eb[600];
    re_status st = RE_OK;
    re_video_writer *w = NULL;
    if (!out || !path || !path[0] || !o) return re_fail(RE_ERR_ARG, "re_video_writer_open: NULL argument or empty path");
    *out = NULL;
    re_ff_init();
    re_ff_clear_log();
    re_video_format f = o->format == RE_VIDEO_AUTO ? format_from_path(path) : o->format;
    if (f < RE_VIDEO_MP4 || f > RE_VIDEO_PNG_SEQ)
        return re_fail(RE_ERR_ARG, "%s: cannot tell the video format (use .mp4, .webm, .gif or a frame_%%05d.png pattern, "
                                   "or set opts.format)", path);
    if (f == RE_VIDEO_PNG_SEQ && !valid_seq_pattern(path))
        return re_fail(RE_ERR_ARG, "%s: a PNG sequence path needs exactly one integer conversion such as %%05d", path);
    if ((st = re_image_check_size(o->width, o->height, path)) != RE_OK) return st;
    if (o->width > 16384 || o->height > 16384)
        return re_fail(RE_ERR_ARG, "%s: %dx%d is larger than 16384 on a side", path, o->width, o->height);
    int den = o->fps_den ? o->fps_den : 1;
    if (o->fps_num <= 0 || den <= 0 || (double)o->fps_num / den > 1000.0)
        return re_fail(RE_ERR_ARG, "%s: bad frame rate %d/%d (want 0 < fps <= 1000)", path, o->fps_num, o->fps_den);
    if (o->crf < 0) return re_fail(RE_ERR_ARG, "%s: crf %d < 0", path, o->crf);
    w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return re_fail(RE_ERR_NOMEM, "cannot allocate a video writer for '%s'", path);
    }
    w->format = f;
    w->w = o->width;
    w->h = o->height;
    w->ew = o->width;
    w->eh = o->height;
    if (f == RE_VIDEO_MP4) { /* H.264 4:2:0: even sizes (the extra column/row repeats the last one) */
        w->ew += w->ew & 1;
        w->eh += w->eh & 1;
    }
    av_reduce(&w->fps.num, &w->fps.den, o->fps_num, den, 1 << 30);
    w->aidx = -1;
    if (f == RE_VIDEO_PNG_SEQ) {
        if (o->audio_from) w->amode = RE_AUDIO_SKIPPED;
        *out = w;
        return RE_OK;
    }
    size_t tl = strlen(path) + 64;
    w->tmp = malloc(tl);
    if (!w->tmp) {
        st = re_fail(RE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    snprintf(w->tmp, tl, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&g_tmp_counter, 1u));
    if ((st = video_setup(w, o->crf)) != RE_OK) goto fail;
    if (o->audio_from && (st = audio_setup(w, o->audio_from)) != RE_OK) goto fail;
    int ret = avio_open(&w->oc->pb, w->tmp, AVIO_FLAG_WRITE);
    if (ret < 0) {
        st = re_fail(RE_ERR_IO, "%s: cannot create '%s': %s", path, w->tmp, re_ff_errstr(ret, eb, sizeof eb));
        goto fail;
    }
    AVDictionary *mo = NULL;
    if (f == RE_VIDEO_MP4) av_dict_set(&mo, "movflags", "+faststart", 0);
    ret = avformat_write_header(w->oc, &mo);
    av_dict_free(&mo);
    if (ret < 0) {
        st = re_fail(RE_ERR_IO, "%s: cannot write the %s header: %s", path, fmt_name(f), re_ff_errstr(ret, eb, sizeof eb));
        goto fail;
    }
    w->header_written = 1;
    *out = w;
    return RE_OK;
fail:
    writer_free(w, 1);
    return st;
}

re_audio_mode re_video_writer_audio_mode(const re_video_writer *w) { return w ? w->amode : RE_AUDIO_NONE; }

void re_video_writer_get_timing(const re_video_writer *w, re_video_writer_timing *t) {
    if (!t) return;
    memset(t, 0, sizeof *t);
    if (!w) return;
    t->convert_s = w->t_convert;
    t->mux_s = w->t_mux;
    t->frames = w->frames;
}

re_status re_video_writer_write(re_video_writer *w, const re_image *frame) {
    char eb[600];
    if (!w) return re_fail(RE_ERR_ARG, "re_video_writer_write: NULL writer");
    re_status st = re_image_valid(frame, w->path);
    if (st != RE_OK) return st;
    if (frame->w != w->w || frame->h != w->h)
        return re_fail(RE_ERR_ARG, "%s: frame %lld is %dx%d, the video is %dx%d", w->path, (long long)w->frames, frame->w,
                       frame->h, w->w, w->h);
    if (w->format == RE_VIDEO_PNG_SEQ) {
        char *name = seq_name(w->path, w->frames + 1);
        if (!name) return re_fail(RE_ERR_ARG, "%s: frame name for %lld is too long", w->path, (long long)w->frames + 1);
        st = re_image_save_png(frame, name);
        free(name);
        if (st == RE_OK) w->frames++;
        return st;
    }
    int ret = av_frame_make_writable(w->vf);
    if (ret < 0) return re_fail(RE_ERR_NOMEM, "%s: cannot get a writable frame", w->path);
    const double t0 = mono_s();
    if (w->format == RE_VIDEO_GIF) {
        quantize(w, frame->data, frame->stride, w->vf->data[0], w->vf->linesize[0], (uint32_t *)w->vf->data[1]);
    } else {
        st = re_rgb_to_yuv420p(frame->data, frame->stride, w->w, w->h, w->vf->data, w->vf->linesize);
        if (st != RE_OK) return st;
        /* H.264 even size: repeat the last luma column/row (the chroma of the padded 2x2 blocks already did) */
        uint8_t *Y = w->vf->data[0];
        const int ls = w->vf->linesize[0];
        if (w->ew > w->w)
            for (int y = 0; y < w->h; y++) Y[(size_t)y * ls + w->w] = Y[(size_t)y * ls + w->w - 1];
        if (w->eh > w->h) memcpy(Y + (size_t)w->h * ls, Y + (size_t)(w->h - 1) * ls, (size_t)w->ew);
    }
    w->t_convert += mono_s() - t0;
    w->vf->pts = w->frames;
    ret = avcodec_send_frame(w->enc, w->vf);
    if (ret < 0)
        return re_fail(RE_ERR_FORMAT, "%s: encoding frame %lld failed: %s", w->path, (long long)w->frames,
                       re_ff_errstr(ret, eb, sizeof eb));
    w->frames++;
    if ((st = video_drain(w)) != RE_OK) return st;
    return audio_pump(w, (double)w->frames * w->fps.den / w->fps.num, 0);
}

re_status re_video_writer_close(re_video_writer *w) {
    char eb[600];
    re_status st = RE_OK;
    if (!w) return re_fail(RE_ERR_ARG, "re_video_writer_close: NULL writer");
    if (w->frames == 0) {
        st = re_fail(RE_ERR_ARG, "%s: no frames were written; nothing saved", w->path);
        goto fail;
    }
    if (w->format == RE_VIDEO_PNG_SEQ) {
        writer_free(w, 0);
        return RE_OK;
    }
    int ret = avcodec_send_frame(w->enc, NULL);
    if (ret < 0 && ret != AVERROR_EOF) {
        st = re_fail(RE_ERR_FORMAT, "%s: flushing the encoder failed: %s", w->path, re_ff_errstr(ret, eb, sizeof eb));
        goto fail;
    }
    if ((st = video_drain(w)) != RE_OK) goto fail;
    if ((st = audio_pump(w, (double)w->frames * w->fps.den / w->fps.num, 1)) != RE_OK) goto fail;
    ret = av_write_trailer(w->oc);
    if (ret < 0) {
        st = re_fail(RE_ERR_IO, "%s: writing the trailer failed: %s", w->path, re_ff_errstr(ret, eb, sizeof eb));
        goto fail;
    }
    ret = avio_closep(&w->oc->pb);
    if (ret < 0) {
        st = re_fail(RE_ERR_IO, "%s: closing '%s' failed: %s", w->path, w->tmp, re_ff_errstr(ret, eb, sizeof eb));
        goto fail;
    }
    if (rename(w->tmp, w->path) != 0) {
        st = re_fail(RE_ERR_IO, "cannot rename '%s' to '%s': %s", w->tmp, w->path, strerror(errno));
        goto fail;
    }
    free(w->tmp);
    w->tmp = NULL;
    st = re_fsync_dir(w->path);
    writer_free(w, 0);
    return st;
fail:
    writer_free(w, 1);
    return st;
}

void re_video_writer_abort(re_video_writer *w) { writer_free(w, 1); }
