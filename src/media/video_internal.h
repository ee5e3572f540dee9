/*
 * video_internal.h - FFmpeg glue shared by src/media/video_read.c and video_write.c (not public API).
 */
#ifndef RE_MEDIA_VIDEO_INTERNAL_H
#define RE_MEDIA_VIDEO_INTERNAL_H
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
#endif
