/*
 * media.h - images and video for reenact: 8-bit RGB images (PNG/JPEG via libpng/libjpeg-turbo), resizing,
 * affine warping, and frame-by-frame video reading/writing via FFmpeg. Same ownership and error rules as reenact.h.
 *
 * Usage (error handling elided):
 *     re_image img = {0}, face = {0};
 *     re_image_load(&img, "photo.jpg");                     // PNG or JPEG, detected by content
 *     float m[6] = {...};                                   // maps destination (x,y) -> source coords
 *     re_image_warp_affine(&img, &face, 64, 64, m, RE_BORDER_REPLICATE);
 *     re_image_save_png(&face, "face.png");                 // atomic: temp file + rename
 *     re_image_free(&img); re_image_free(&face);
 *
 *     re_video_reader *r = NULL;
 *     re_video_reader_open(&r, "drive.mp4");
 *     re_image frame = {0}; double t;
 *     re_status s;
 *     while ((s = re_video_reader_next(r, &frame, &t)) == RE_OK) { ... }   // s == RE_VIDEO_EOF at the end
 *     re_video_reader_close(r); re_image_free(&frame);
 *
 * Output images: every function that fills a `re_image *dst` accepts either a zeroed struct ({0}) or an image
 * returned earlier by this API; it (re)allocates dst when its size differs and otherwise reuses the buffer.
 * A dst that does not own its data (owns_data == 0) is only reused when its size already matches, else
 * RE_ERR_ARG. dst must not alias src.
 * Not available without FFmpeg (RE_HAVE_FFMPEG undefined): the re_video_* functions are then not built.
 */
#ifndef REENACT_MEDIA_H
#define REENACT_MEDIA_H

#include <stddef.h>
#include <stdint.h>
#include "reenact/reenact.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An 8-bit interleaved RGB image: pixel (x,y) channel c at data[y*stride + x*3 + c]. Owned by whoever created it;
 * free with re_image_free (frees data when owns_data). */
typedef struct re_image {
    int w, h;
    int stride;        /* bytes per row, >= 3*w */
    uint8_t *data;
    int owns_data;
} re_image;

/* Allocate a w x h RGB image (zeroed), stride = 3*w. Any previous content of *img is overwritten (not freed).
 * RE_ERR_ARG for w or h <= 0, RE_ERR_TOO_LARGE when w*h exceeds re_image_get_max_pixels(), RE_ERR_NOMEM. */
RE_API re_status re_image_alloc(re_image *img, int w, int h);
/* Free the pixels (if owned) and zero the struct. NULL and zeroed structs are fine. */
RE_API void re_image_free(re_image *img);

/* Safety limit against decompression bombs, used by loaders, re_image_alloc and the video reader: images with
 * w*h > limit fail with RE_ERR_TOO_LARGE. Default 64 Mpixel (RE_IMAGE_DEFAULT_MAX_PIXELS). Process-wide: set it
 * before starting threads that load images or video. */
#define RE_IMAGE_DEFAULT_MAX_PIXELS ((uint64_t)64 << 20)
RE_API void re_image_set_max_pixels(uint64_t max_pixels);   /* 0 restores the default */
RE_API uint64_t re_image_get_max_pixels(void);

/* Load a PNG or JPEG (format detected from the first bytes, not the extension) as 8-bit RGB into *out
 * (which is overwritten, not freed: pass a zeroed or freed image).
 * Conversions: gray -> RGB, palette -> RGB, 16-bit -> 8-bit, alpha composited over white, CMYK JPEG -> RGB,
 * JPEG EXIF orientation applied (the image comes out upright).
 * Returns RE_ERR_IO (cannot open/read), RE_ERR_FORMAT (neither PNG nor JPEG, or corrupt data),
 * RE_ERR_TRUNCATED (data ends early), RE_ERR_TOO_LARGE (w*h over the limit), RE_ERR_NOMEM. On error *out is zeroed. */
RE_API re_status re_image_load(re_image *out, const char *path);
/* Same from memory; `what` names the source in error messages (may be NULL). */
RE_API re_status re_image_load_mem(re_image *out, const void *buf, size_t n, const char *what);

/* Write an image atomically (temp file in the same directory, fsync, rename): on failure `path` is untouched and
 * no temp file is left. PNG is lossless. JPEG quality 1..100 (out of range is clamped; 0 means 92), 4:2:0 chroma
 * below quality 90, 4:4:4 from 90. RE_ERR_ARG for a bad image, RE_ERR_IO for write failures. */
RE_API re_status re_image_save_png(const re_image *img, const char *path);
RE_API re_status re_image_save_jpeg(const re_image *img, const char *path, int quality);
/* Encode as JPEG into memory (same quality rule as re_image_save_jpeg, baseline Huffman tables: fast, for streaming):
 * *buf (malloc'ed; the caller frees it with free()) holds *n bytes. RE_ERR_ARG for a bad image, RE_ERR_NOMEM. */
RE_API re_status re_image_encode_jpeg(const re_image *img, int quality, uint8_t **buf, size_t *n);

/* Deep copy src into dst (see "Output images" above). */
RE_API re_status re_image_copy(re_image *dst, const re_image *src);

/* Resample src to w x h into dst with a separable Lanczos3 filter whose support widens by the downscale factor
 * (area-like antialiasing when shrinking; no aliasing of fine patterns). Aspect ratio is not preserved.
 * Values are rounded and clamped to [0,255]; a constant image stays constant. */
RE_API re_status re_image_resize(const re_image *src, re_image *dst, int w, int h);

/* What warp_affine samples outside the source image. */
typedef enum re_border {
    RE_BORDER_CONSTANT = 0,   /* black (0,0,0) */
    RE_BORDER_REPLICATE = 1,  /* nearest edge pixel */
    RE_BORDER_REFLECT = 2     /* mirror without repeating the edge pixel (..2 1 | 0 1 2 ..| w-2 w-3..) */
} re_border;

/* dst (w x h) pixel (x,y) = src sampled bilinearly at (m[0]*x + m[1]*y + m[2], m[3]*x + m[4]*y + m[5]): m maps
 * DESTINATION pixel coordinates to SOURCE coordinates, pixel centers at integer coordinates. When one destination
 * pixel covers more than one source pixel (|column of the 2x2 part| > 1), each destination pixel averages an
 * n x n grid of bilinear samples spread over its footprint (n = ceil(footprint)), so strong downscaling
 * (e.g. a 64x64 face crop out of a 1080p frame) does not alias. The identity matrix reproduces src exactly.
 * RE_ERR_ARG for bad sizes, a non-finite matrix or an unknown border mode. */
RE_API re_status re_image_warp_affine(const re_image *src, re_image *dst, int w, int h, const float m[6],
                                      re_border border);

/* img -> planar floats dst[3][h][w] = value / 255 in [0,1] (caller provides 3*h*w floats). */
RE_API void re_image_to_chw(const re_image *img, float *dst);
/* planar floats src[3][h][w] -> dst (w x h), value*255 rounded and clamped to [0,255] (NaN -> 0). */
RE_API re_status re_image_from_chw(re_image *dst, const float *src, int w, int h);

/* ---------------------------------------------------------------------------------------------------------
 * Video (FFmpeg). Frames are decoded one at a time; the reader never holds the whole video.
 * ------------------------------------------------------------------------------------------------------- */

/* re_video_reader_next returns RE_VIDEO_EOF (= 1, in re_status: reenact.h) when there are no more frames; a positive
 * value, never an error. */

typedef struct re_video_reader re_video_reader;

typedef struct re_video_info {
    int width, height;      /* of the frames re_video_reader_next returns (after rotation) */
    int fps_num, fps_den;   /* frame rate as a rational (average, else the stream's nominal rate; 25/1 if unknown) */
    double duration;        /* seconds, -1 if unknown */
    int64_t nb_frames;      /* container's frame count, else duration*fps rounded, -1 if unknown (an estimate) */
    int has_audio;          /* 1 if the file has an audio stream */
    int rotation;           /* clockwise degrees applied to decoded frames from display-matrix side data: 0/90/180/270 */
    const char *codec;      /* short video codec name, e.g. "h264" (valid while the reader is open) */
} re_video_info;

/* Open a video file and its best video stream. Only local files are read (protocol "file"); formats are limited
 * to common video containers (mp4/mov, mkv/webm, avi, gif, apng, flv, mpeg-ts/ps, ogg, asf, y4m, raw h264/hevc,
 * image sequences such as "dir/frame_%05d.png").
 * RE_ERR_IO (cannot open), RE_ERR_FORMAT (not a video, or no video stream), RE_ERR_UNSUPPORTED (no decoder),
 * RE_ERR_TOO_LARGE (frame over the pixel limit), RE_ERR_NOMEM. *r is NULL on error. */
RE_API re_status re_video_reader_open(re_video_reader **r, const char *path);
/* Same over a memory buffer (borrowed; must outlive the reader). `what` names it in messages (may be NULL). */
RE_API re_status re_video_reader_open_mem(re_video_reader **r, const void *buf, size_t n, const char *what);
RE_API re_video_info re_video_reader_info(const re_video_reader *r);
/* Decode the next frame into *frame (reused when its size matches; see "Output images") as RGB, and its
 * presentation time in seconds relative to the first returned frame (NULL allowed).
 * Returns RE_OK, RE_VIDEO_EOF after the last frame (the decoder is flushed, so trailing frames are returned),
 * or an error. A truncated or partly corrupt file yields the frames that decode and then RE_VIDEO_EOF;
 * only when not a single frame decodes is it an error (RE_ERR_TRUNCATED / RE_ERR_FORMAT). */
RE_API re_status re_video_reader_next(re_video_reader *r, re_image *frame, double *pts_seconds);
/* Number of frames returned so far. */
RE_API int64_t re_video_reader_frames_read(const re_video_reader *r);
RE_API void re_video_reader_close(re_video_reader *r);   /* NULL is fine */

typedef struct re_video_writer re_video_writer;

typedef enum re_video_format {
    RE_VIDEO_AUTO = 0,     /* from the path: .mp4/.m4v/.mov -> MP4, .webm/.mkv -> WEBM, .gif -> GIF,
                              a path containing '%' (e.g. "dir/frame_%05d.png") -> PNG_SEQ */
    RE_VIDEO_MP4 = 1,      /* H.264 (libx264), yuv420p, +faststart. Odd width/height are padded to even by
                              repeating the last column/row, so the file is 1 pixel larger there. */
    RE_VIDEO_WEBM = 2,     /* VP9 (libvpx-vp9), yuv420p, constant quality */
    RE_VIDEO_GIF = 3,      /* GIF, 256-color palette computed per frame (median cut), no dithering */
    RE_VIDEO_PNG_SEQ = 4   /* one PNG per frame: printf pattern with one integer conversion, numbered from 1 */
} re_video_format;

/* What happened to opts.audio_from's audio (re_video_writer_audio_mode). */
typedef enum re_audio_mode {
    RE_AUDIO_NONE = 0,        /* no audio requested */
    RE_AUDIO_COPIED = 1,      /* packets remuxed unchanged (AAC/MP3/Opus/ALAC into MP4; Opus/Vorbis into WEBM) */
    RE_AUDIO_TRANSCODED = 2,  /* re-encoded: AAC 128 kb/s for MP4, Opus 96 kb/s for WEBM */
    RE_AUDIO_SKIPPED = 3      /* requested but not written: GIF/PNG output, or the file has no audio stream */
} re_audio_mode;

typedef struct re_video_writer_opts {
    int width, height;          /* frame size; every written frame must have it */
    int fps_num, fps_den;       /* frame rate, e.g. 25/1 (fps_den 0 is taken as 1) */
    re_video_format format;     /* RE_VIDEO_AUTO: from the path's extension */
    int crf;                    /* quality: 0 = default (H.264 crf 18, VP9 crf 31); H.264 1..51, VP9 1..63.
                                   H.264 frames under 0.5 Mpixel (w*h < 524288) are encoded with libx264 preset medium
                                   at this CRF; larger ones (e.g. `animate --paste-back` at the photo's size) with
                                   preset veryfast at CRF - 4 (at least 1): the same PSNR as medium at CRF or within
                                   0.25 dB (bench/bench_video_write.c), 2-3x less encoding time, files ~10-65% larger
                                   (paste-back frames: ~60%). Raise crf for smaller files. */
    const char *audio_from;     /* file whose audio goes into the output (cut to the video's length), or NULL */
} re_video_writer_opts;

/* Create a writer. The output is written to a temp name next to `path` and renamed on successful close, so a
 * failed or aborted run never leaves a partial file (and never replaces an existing good one). Audio from
 * opts->audio_from is copied or transcoded (see re_audio_mode); an unreadable audio_from file is an error.
 * RE_ERR_ARG (bad size/fps/format), RE_ERR_UNSUPPORTED (encoder missing), RE_ERR_IO, RE_ERR_NOMEM. */
RE_API re_status re_video_writer_open(re_video_writer **w, const char *path, const re_video_writer_opts *opts);
/* Encode one frame (must be opts.width x opts.height; RE_ERR_ARG otherwise). Frame i gets pts i/fps. */
RE_API re_status re_video_writer_write(re_video_writer *w, const re_image *frame);
RE_API re_audio_mode re_video_writer_audio_mode(const re_video_writer *w);
/* Flush encoders, write the trailer, rename into place and free w (always freed, even on error; on error the
 * partial output is deleted). A writer with zero frames written fails with RE_ERR_ARG and writes nothing. */
RE_API re_status re_video_writer_close(re_video_writer *w);
/* Stop, delete the partial output and free w. NULL is fine. */
RE_API void re_video_writer_abort(re_video_writer *w);

/* The best audio stream of a media file, remuxed unchanged (no re-encoding) into a Matroska audio file held in
 * memory: *buf (malloc'd; the caller frees it) of *n bytes, usable as re_video_writer_opts.audio_from once written
 * to a file. A file without audio gives RE_OK with *buf = NULL, *n = 0. Errors: those of opening a video
 * (RE_ERR_IO, RE_ERR_FORMAT), RE_ERR_TOO_LARGE when the copy would exceed max_bytes, RE_ERR_UNSUPPORTED for a codec
 * Matroska cannot hold. FFmpeg builds only (like the rest of this section). */
RE_API re_status re_audio_extract(const char *path, size_t max_bytes, uint8_t **buf, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
