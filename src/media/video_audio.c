/*
 * video_audio.c - the audio stream of a media file, remuxed unchanged into an in-memory Matroska file
 * (re_audio_extract), so that a motion file can carry its driver's audio (docs/FORMAT.md "Motion file").
 * No decoding or re-encoding: the packets are copied with their timestamps rescaled to the output stream.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avformat.h>

#include "core/core.h"
#include "media/video_internal.h"
#include "reenact/media.h"

re_status re_audio_extract(const char *path, size_t max_bytes, uint8_t **buf, size_t *n) {
    if (!path || !buf || !n) return re_fail(RE_ERR_ARG, "re_audio_extract: NULL argument");
    *buf = NULL;
    *n = 0;
    re_ff_init();
    re_ff_clear_log();
    AVFormatContext *in = NULL, *oc = NULL;
    AVPacket *pkt = NULL;
    uint8_t *dyn = NULL;
    char eb[256];
    re_status s = RE_OK;
    int r = avformat_open_input(&in, path, NULL, NULL);
    if (r < 0) return re_fail(re_ff_status(r), "cannot open '%s': %s", path, re_ff_errstr(r, eb, sizeof eb));
    if ((r = avformat_find_stream_info(in, NULL)) < 0) {
        s = re_fail(RE_ERR_FORMAT, "'%s': cannot read stream info: %s", path, re_ff_errstr(r, eb, sizeof eb));
        goto done;
    }
    int ai = av_find_best_stream(in, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    if (ai < 0) goto done;   /* no audio: not an error */
    AVStream *is = in->streams[ai];
    if ((r = avformat_alloc_output_context2(&oc, NULL, "matroska", NULL)) < 0 || !oc) {
        s = re_fail(RE_ERR_UNSUPPORTED, "this FFmpeg has no Matroska muxer: %s", re_ff_errstr(r, eb, sizeof eb));
        goto done;
    }
    AVStream *os = avformat_new_stream(oc, NULL);
    if (!os || avcodec_parameters_copy(os->codecpar, is->codecpar) < 0) {
        s = re_fail(RE_ERR_NOMEM, "'%s': out of memory copying the audio stream", path);
        goto done;
    }
    os->codecpar->codec_tag = 0;
    os->time_base = is->time_base;
    if ((r = avio_open_dyn_buf(&oc->pb)) < 0) {
        s = re_fail(RE_ERR_NOMEM, "out of memory for the audio buffer");
        goto done;
    }
    if ((r = avformat_write_header(oc, NULL)) < 0) {
        s = re_fail(RE_ERR_UNSUPPORTED, "'%s': its audio (%s) cannot be stored in Matroska: %s", path,
                    avcodec_get_name(is->codecpar->codec_id), re_ff_errstr(r, eb, sizeof eb));
        goto done;
    }
    if (!(pkt = av_packet_alloc())) {
        s = re_fail(RE_ERR_NOMEM, "out of memory");
        goto done;
    }
    while ((r = av_read_frame(in, pkt)) >= 0) {
        if (pkt->stream_index == ai) {
            pkt->stream_index = 0;
            pkt->pos = -1;
            av_packet_rescale_ts(pkt, is->time_base, os->time_base);
            if ((r = av_interleaved_write_frame(oc, pkt)) < 0) {
                s = re_fail(RE_ERR_FORMAT, "'%s': cannot copy an audio packet: %s", path,
                            re_ff_errstr(r, eb, sizeof eb));
                goto done;
            }
            if ((uint64_t)avio_tell(oc->pb) > (uint64_t)max_bytes) {
                s = re_fail(RE_ERR_TOO_LARGE, "'%s': its audio is larger than %zu bytes", path, max_bytes);
                goto done;
            }
        }
        av_packet_unref(pkt);
    }
    if (r != AVERROR_EOF) {
        s = re_fail(RE_ERR_FORMAT, "'%s': read error in the audio: %s", path, re_ff_errstr(r, eb, sizeof eb));
        goto done;
    }
    if ((r = av_write_trailer(oc)) < 0) {
        s = re_fail(RE_ERR_FORMAT, "'%s': cannot finish the audio copy: %s", path, re_ff_errstr(r, eb, sizeof eb));
        goto done;
    }
    int len = avio_close_dyn_buf(oc->pb, &dyn);
    oc->pb = NULL;
    if (len <= 0 || (size_t)len > max_bytes) {
        s = len <= 0 ? re_fail(RE_ERR_FORMAT, "'%s': empty audio copy", path)
                     : re_fail(RE_ERR_TOO_LARGE, "'%s': its audio is larger than %zu bytes", path, max_bytes);
        goto done;
    }
    if (!(*buf = malloc((size_t)len))) {
        s = re_fail(RE_ERR_NOMEM, "out of memory for %d bytes of audio", len);
        goto done;
    }
    memcpy(*buf, dyn, (size_t)len);
    *n = (size_t)len;
done:
    av_free(dyn);
    av_packet_free(&pkt);
    if (oc) {
        if (oc->pb) {
            uint8_t *tmp = NULL;
            avio_close_dyn_buf(oc->pb, &tmp);
            av_free(tmp);
        }
        avformat_free_context(oc);
    }
    avformat_close_input(&in);
    return s;
}
