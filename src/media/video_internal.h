/*
 * video_internal.h - FFmpeg glue shared by src/media/video_read.c and video_write.c (not public API).
 */
#ifndef RE_MEDIA_VIDEO_INTERNAL_H
#define RE_MEDIA_VIDEO_INTERNAL_H
#include <stdint.h>

#include "reenact/media.h"

/* Route FFmpeg's log output away from stderr (once per process): the last error-level line of each thread is kept
 * for our messages. Setting the environment variable RE_FFMPEG_LOG=1 before the first call also prints FFmpeg's
 * log as usual (for debugging). */
void re_ff_init(void);
/* Last error-level FFmpeg log line on this thread ("" if none); re_ff_clear_log() forgets it. */
const char *re_ff_last_log(void);
void re_ff_clear_log(void);
/* av_strerror text of an AVERROR code, with the last FFmpeg log line appended when there is one. Returns buf. */
const char *re_ff_errstr(int averr, char *buf, size_t n);
/* Map an AVERROR from opening/reading a file to a status (ENOENT/EACCES -> IO, ENOMEM -> NOMEM, else FORMAT). */
re_status re_ff_status(int averr);
/* RGB24 (rows of 3*w bytes at `stride`) -> planar YUV 4:2:0, BT.709 limited range, as the MP4/WEBM writer encodes it:
 * Y per pixel (w x h), U/V from the mean of each 2x2 block (centred chroma; ceil(w/2) x ceil(h/2)); an odd last
 * column/row counts as if it were repeated. dst[0..2] are the Y, U, V planes with strides dst_stride[0..2]. Integer
 * arithmetic, the same result on every CPU. RE_ERR_ARG for non-positive sizes or stride < 3*w. Used by video_write.c;
 * declared here for bench/bench_video_write.c. */
re_status re_rgb_to_yuv420p(const uint8_t *rgb, int stride, int w, int h, uint8_t *const dst[3], const int dst_stride[3]);

/* Cumulative wall seconds a writer spent so far in its own thread (bench/bench_video_write.c): RGB->YUV conversion
 * (or GIF quantization), and muxing (packet writes). */
typedef struct re_video_writer_timing {
    double convert_s, mux_s;
    int64_t frames;
} re_video_writer_timing;
void re_video_writer_get_timing(const re_video_writer *w, re_video_writer_timing *t);
#endif
