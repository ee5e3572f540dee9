/*
 * image.c - 8-bit RGB images: allocation, the decompression-bomb limit, PNG (libpng) and JPEG (libjpeg-turbo)
 * loading from files or memory, and atomic PNG/JPEG saving. Format is detected from the magic bytes.
 * libpng/libjpeg report fatal errors by longjmp; each decoder runs in its own function whose mutable state lives in
 * a context struct owned by the caller, so nothing the longjmp skips over is left indeterminate, and every error
 * becomes a re_status with the library's message. Nothing here prints.
 * Resampling (resize, warp, CHW conversion) lives in image_resample.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "core/core.h"
#include "media/image_internal.h"
#include "reenact/media.h"

/* Files larger than this are refused before reading (a 64 Mpixel PNG is far smaller). */
#define RE_IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)

static uint64_t g_max_pixels = RE_IMAGE_DEFAULT_MAX_PIXELS;

void re_image_set_max_pixels(uint64_t max_pixels) {
    g_max_pixels = max_pixels ? max_pixels : RE_IMAGE_DEFAULT_MAX_PIXELS;
}

uint64_t re_image_get_max_pixels(void) { return g_max_pixels; }

re_status re_image_check_size(int w, int h, const char *what) {
    if (!what) what = "image";
    if (w <= 0 || h <= 0) return re_fail(RE_ERR_ARG, "%s: invalid size %dx%d (both must be > 0)", what, w, h);
    if ((uint64_t)w * (uint64_t)h > g_max_pixels)
        return re_fail(RE_ERR_TOO_LARGE, "%s: %dx%d = %llu pixels exceeds the limit of %llu (re_image_set_max_pixels)",
                       what, w, h, (unsigned long long)((uint64_t)w * (uint64_t)h), (unsigned long long)g_max_pixels);
    return RE_OK;
}

re_status re_image_alloc(re_image *img, int w, int h) {
    if (!img) return re_fail(RE_ERR_ARG, "re_image_alloc: NULL image");
    memset(img, 0, sizeof *img);
    re_status st = re_image_check_size(w, h, "re_image_alloc");
    if (st != RE_OK) return st;
    size_t stride, bytes;
    if (!re_mul_ok((size_t)w, 3, &stride) || stride > (size_t)INT32_MAX || !re_mul_ok(stride, (size_t)h, &bytes) ||
        !re_add_ok(bytes, 64, &bytes))
        return re_fail(RE_ERR_NOMEM, "re_image_alloc: %dx%d image size overflows", w, h);
    /* +64 bytes so SIMD code reading a little past the last pixel stays inside the allocation. */
    uint8_t *p = re_alloc(bytes, "re_image_alloc");
    if (!p) return RE_ERR_NOMEM;
    img->w = w;
    img->h = h;
    img->stride = (int)stride;
    img->data = p;
    img->owns_data = 1;
    return RE_OK;
}

void re_image_free(re_image *img) {
    if (!img) return;
    if (img->owns_data) re_free(img->data);
    memset(img, 0, sizeof *img);
}

re_status re_image_valid(const re_image *img, const char *what) {
    if (!img || !img->data || img->w <= 0 || img->h <= 0 || img->stride < 3 * img->w)
        return re_fail(RE_ERR_ARG, "%s: invalid image (NULL, no data, size %dx%d or stride %d < 3*w)", what,
                       img ? img->w : 0, img ? img->h : 0, img ? img->stride : 0);
    return RE_OK;
}

re_status re_image_prepare(re_image *dst, int w, int h, const char *what) {
    if (!dst) return re_fail(RE_ERR_ARG, "%s: NULL destination image", what);
    if (dst->data && dst->w == w && dst->h == h && dst->stride >= 3 * w) return RE_OK;
    if (dst->data && !dst->owns_data)
        return re_fail(RE_ERR_ARG, "%s: destination does not own its %dx%d buffer and cannot be resized to %dx%d", what,
                       dst->w, dst->h, w, h);
    re_image_free(dst);
    re_status st = re_image_alloc(dst, w, h);
    if (st != RE_OK) re_fail_ctx(st, "%s", what);
    return st;
}

re_status re_image_copy(re_image *dst, const re_image *src) {
    re_status st = re_image_valid(src, "re_image_copy");
    if (st != RE_OK) return st;
    if (dst == src || (dst && dst->data && dst->data == src->data))
        return re_fail(RE_ERR_ARG, "re_image_copy: destination aliases source");
    st = re_image_prepare(dst, src->w, src->h, "re_image_copy");
    if (st != RE_OK) return st;
    for (int y = 0; y < src->h; y++)
        memcpy(dst->data + (size_t)y * dst->stride, src->data + (size_t)y * src->stride, (size_t)src->w * 3);
    return RE_OK;
}

/* dst = src transformed by an EXIF orientation code (1..8; see image_internal.h); dst prepared (reused/allocated). */
re_status re_image_orient(const re_image *src, re_image *dst, int orientation) {
    int W = src->w, H = src->h;
    int swap = orientation >= 5 && orientation <= 8;
    re_status st = re_image_prepare(dst, swap ? H : W, swap ? W : H, "re_image_orient");
    if (st != RE_OK) return st;
    for (int sy = 0; sy < H; sy++) {
        const uint8_t *row = src->data + (size_t)sy * src->stride;
        for (int sx = 0; sx < W; sx++) {
            int dx, dy;
            switch (orientation) {
            case 2: dx = W - 1 - sx; dy = sy; break;                 /* mirror horizontal */
            case 3: dx = W - 1 - sx; dy = H - 1 - sy; break;         /* rotate 180 */
            case 4: dx = sx; dy = H - 1 - sy; break;                 /* mirror vertical */
            case 5: dx = sy; dy = sx; break;                         /* transpose */
            case 6: dx = H - 1 - sy; dy = sx; break;                 /* rotate 90 clockwise */
            case 7: dx = H - 1 - sy; dy = W - 1 - sx; break;         /* transverse */
            case 8: dx = sy; dy = W - 1 - sx; break;                 /* rotate 90 counter-clockwise */
            default: dx = sx; dy = sy; break;
            }
            uint8_t *d = dst->data + (size_t)dy * dst->stride + (size_t)dx * 3;
            d[0] = row[sx * 3 + 0];
            d[1] = row[sx * 3 + 1];
            d[2] = row[sx * 3 + 2];
        }
    }
    return RE_OK;
}

/* ------------------------------------------------------------------------------------------------ PNG read */

#define PNG_MSG 256   /* the size of the first libpng message kept (png_on_error) */

typedef struct png_rd {
    const uint8_t *buf;
    size_t n, pos;
    const char *what;
    re_image img;
    uint8_t *tmp;        /* RGBA rows when the image has alpha */
    png_bytep *rows;
    re_status st;        /* status to report when libpng longjmps */
    char msg[PNG_MSG];   /* libpng's error pointer */
} png_rd;

/* libpng's error and warning callbacks, reading and writing: the error pointer is the caller's char msg[PNG_MSG],
 * which keeps the first message. */
static void png_on_error(png_structp png, png_const_charp msg) {
    char *m = png_get_error_ptr(png);
    if (m[0] == 0) snprintf(m, PNG_MSG, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static void png_rd_read(png_structp png, png_bytep out, png_size_t len) {
    png_rd *c = png_get_io_ptr(png);
    if (len > c->n - c->pos) {
        c->st = RE_ERR_TRUNCATED;
        snprintf(c->msg, sizeof c->msg, "data ends at byte %zu, %zu more bytes needed", c->n, len - (c->n - c->pos));
        png_error(png, "truncated");
    }
    memcpy(out, c->buf + c->pos, len);
    c->pos += len;
}

/* Runs the libpng decode; returns 0 on success, 1 when libpng longjmped (c->st/c->msg say why). Everything it
 * allocates is recorded in *c so the caller can free it. */
static int png_decode(png_structp png, png_infop info, png_rd *c) {
    if (setjmp(png_jmpbuf(png))) return 1;
    png_set_read_fn(png, c, png_rd_read);
    png_set_user_limits(png, 1u << 24, 1u << 24);
    png_read_info(png, info);
    png_uint_32 w = 0, h = 0;
    int depth = 0, ctype = 0, interlace = 0;
    png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    if (w > INT32_MAX / 4 || h > INT32_MAX / 4) {
        c->st = RE_ERR_TOO_LARGE;
        snprintf(c->msg, sizeof c->msg, "%ux%u pixels is too large", (unsigned)w, (unsigned)h);
        return 1;
    }
    if (re_image_check_size((int)w, (int)h, c->what) != RE_OK) {
        c->st = RE_ERR_TOO_LARGE;
        snprintf(c->msg, sizeof c->msg, "%ux%u = %llu pixels exceeds the limit of %llu (re_image_set_max_pixels)",
                 (unsigned)w, (unsigned)h, (unsigned long long)w * h, (unsigned long long)g_max_pixels);
        return 1;
    }
    int has_alpha = (ctype & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS);
    png_set_expand(png);                                  /* palette -> RGB, gray < 8 bit -> 8, tRNS -> alpha */
    if (depth == 16) png_set_scale_16(png);
    if (!(ctype & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t channels = has_alpha ? 4 : 3;
    if (png_get_rowbytes(png, info) != (size_t)w * channels || png_get_bit_depth(png, info) != 8) {
        c->st = RE_ERR_FORMAT;
        snprintf(c->msg, sizeof c->msg, "unexpected row layout after conversion (%zu bytes per row, want %zu)",
                 (size_t)png_get_rowbytes(png, info), (size_t)w * channels);
        return 1;
    }
    if (re_image_alloc(&c->img, (int)w, (int)h) != RE_OK) {
        c->st = RE_ERR_NOMEM;
        snprintf(c->msg, sizeof c->msg, "%s", re_last_error());
        return 1;
    }
    c->rows = calloc(h, sizeof *c->rows);
    if (has_alpha) c->tmp = malloc((size_t)w * h * 4);
    if (!c->rows || (has_alpha && !c->tmp)) {
        c->st = RE_ERR_NOMEM;
        snprintf(c->msg, sizeof c->msg, "out of memory for %ux%u rows", (unsigned)w, (unsigned)h);
        return 1;
    }
    for (png_uint_32 y = 0; y < h; y++)
        c->rows[y] = has_alpha ? c->tmp + (size_t)y * w * 4 : c->img.data + (size_t)y * c->img.stride;
    png_read_image(png, c->rows);
    png_read_end(png, NULL);
    if (has_alpha) { /* composite over white: out = a*rgb + (1-a)*255 */
        for (png_uint_32 y = 0; y < h; y++) {
            const uint8_t *s = c->tmp + (size_t)y * w * 4;
            uint8_t *d = c->img.data + (size_t)y * c->img.stride;
            for (png_uint_32 x = 0; x < w; x++, s += 4, d += 3) {
                unsigned a = s[3];
                for (int k = 0; k < 3; k++) d[k] = (uint8_t)((s[k] * a + 255u * (255u - a) + 127u) / 255u);
            }
        }
    }
    return 0;
}

static re_status load_png(re_image *out, const uint8_t *buf, size_t n, const char *what) {
    png_rd c;
    memset(&c, 0, sizeof c);
    c.buf = buf;
    c.n = n;
    c.what = what;
    c.st = RE_ERR_FORMAT;
    re_status st = RE_OK;
    png_infop info = NULL;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c.msg, png_on_error, png_on_warning);
    if (png) info = png_create_info_struct(png);
    if (!png || !info) {
        st = re_fail(RE_ERR_NOMEM, "%s: cannot create PNG decoder", what);
        goto fail;
    }
    if (png_decode(png, info, &c) != 0) {
        st = re_fail(c.st, "%s: PNG %s: %s", what, c.st == RE_ERR_TRUNCATED ? "truncated" : "decode failed",
                     c.msg[0] ? c.msg : "unknown error");
        goto fail;
    }
    *out = c.img;
    c.img.data = NULL;
    c.img.owns_data = 0;
fail:
    png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
    free(c.rows);
    free(c.tmp);
    re_image_free(&c.img);
    return st;
}

/* ------------------------------------------------------------------------------------------------ JPEG read */

typedef struct jpg_err {
    struct jpeg_error_mgr pub;   /* first member: libjpeg casts cinfo->err to this */
    jmp_buf jb;
    int truncated;
    char msg[JMSG_LENGTH_MAX];
} jpg_err;

static void jpg_error_exit(j_common_ptr cinfo) {
    jpg_err *e = (jpg_err *)cinfo->err;
    if (e->msg[0] == 0) (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jb, 1);
}

static void jpg_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void jpg_emit_message(j_common_ptr cinfo, int level) {
    jpg_err *e = (jpg_err *)cinfo->err;
    if (level < 0) {
        e->pub.num_warnings++;
        if (e->pub.msg_code == JWRN_JPEG_EOF) e->truncated = 1;
    }
}

typedef struct jpg_rd {
    const char *what;
    re_image img;
    uint8_t *tmp;        /* CMYK row */
    int orientation;
    re_status st;
    char msg[256];
} jpg_rd;

static unsigned rd16(const uint8_t *p, int le) { return le ? (unsigned)(p[0] | p[1] << 8) : (unsigned)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* EXIF orientation (tag 0x0112 in IFD0) from an APP1 payload, 1 when absent or malformed. Bounds-checked. */
static int exif_orientation(const uint8_t *p, size_t n) {
    if (n < 14 || memcmp(p, "Exif\0\0", 6) != 0) return 1;
    p += 6;
    n -= 6;
    int le;
    if (p[0] == 'I' && p[1] == 'I') le = 1;
    else if (p[0] == 'M' && p[1] == 'M') le = 0;
    else return 1;
    if (rd16(p + 2, le) != 42) return 1;
    uint32_t ifd = rd32(p + 4, le);
    if (ifd > n || n - ifd < 2) return 1;
    unsigned count = rd16(p + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        size_t off = (size_t)ifd + 2 + (size_t)i * 12;
        if (off + 12 > n) return 1;
        if (rd16(p + off, le) == 0x0112) {
            unsigned type = rd16(p + off + 2, le);
            unsigned v = type == 3 ? rd16(p + off + 8, le) : type == 4 ? (unsigned)rd32(p + off + 8, le) : 1;
            return v >= 1 && v <= 8 ? (int)v : 1;
        }
    }
    return 1;
}

static int jpg_decode(struct jpeg_decompress_struct *cinfo, jpg_err *err, jpg_rd *c, const uint8_t *buf, size_t n) {
    if (setjmp(err->jb)) return 1;
    jpeg_create_decompress(cinfo);
    jpeg_mem_src(cinfo, buf, (unsigned long)n);
    jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(cinfo, TRUE);
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1) {
            c->orientation = exif_orientation(m->data, m->data_length);
            if (c->orientation != 1) break;
        }
    if (cinfo->image_width > INT32_MAX / 4 || cinfo->image_height > INT32_MAX / 4 ||
        re_image_check_size((int)cinfo->image_width, (int)cinfo->image_height, c->what) != RE_OK) {
        c->st = RE_ERR_TOO_LARGE;
        snprintf(c->msg, sizeof c->msg, "%ux%u = %llu pixels exceeds the limit of %llu (re_image_set_max_pixels)",
                 (unsigned)cinfo->image_width, (unsigned)cinfo->image_height,
                 (unsigned long long)cinfo->image_width * cinfo->image_height, (unsigned long long)g_max_pixels);
        return 1;
    }
    int cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
    cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(cinfo);
    int w = (int)cinfo->output_width, h = (int)cinfo->output_height;
    if (cinfo->output_components != (cmyk ? 4 : 3)) {
        c->st = RE_ERR_FORMAT;
        snprintf(c->msg, sizeof c->msg, "unexpected %d output components", cinfo->output_components);
        return 1;
    }
    if (re_image_alloc(&c->img, w, h) != RE_OK) {
        c->st = RE_ERR_NOMEM;
        snprintf(c->msg, sizeof c->msg, "%s", re_last_error());
        return 1;
    }
    if (cmyk && !(c->tmp = malloc((size_t)w * 4))) {
        c->st = RE_ERR_NOMEM;
        snprintf(c->msg, sizeof c->msg, "out of memory for a %d-pixel row", w);
        return 1;
    }
    while (cinfo->output_scanline < cinfo->output_height) {
        unsigned y = cinfo->output_scanline;
        JSAMPROW row = cmyk ? c->tmp : c->img.data + (size_t)y * c->img.stride;
        if (jpeg_read_scanlines(cinfo, &row, 1) != 1) {
            c->st = RE_ERR_TRUNCATED;
            snprintf(c->msg, sizeof c->msg, "no data for row %u of %d", y, h);
            return 1;
        }
        if (cmyk) { /* Adobe-style inverted CMYK: rgb = c*k/255 */
            uint8_t *d = c->img.data + (size_t)y * c->img.stride;
            for (int x = 0; x < w; x++) {
                unsigned k = c->tmp[x * 4 + 3];
                for (int j = 0; j < 3; j++) d[x * 3 + j] = (uint8_t)((c->tmp[x * 4 + j] * k + 127u) / 255u);
            }
        }
        if (err->truncated) break;
    }
    if (err->truncated) {
        c->st = RE_ERR_TRUNCATED;
        snprintf(c->msg, sizeof c->msg, "premature end of data at row %u of %d", cinfo->output_scanline, h);
        return 1;
    }
    jpeg_finish_decompress(cinfo);
    if (err->truncated) {
        c->st = RE_ERR_TRUNCATED;
        snprintf(c->msg, sizeof c->msg, "premature end of data after the last row");
        return 1;
    }
    return 0;
}

static re_status load_jpeg(re_image *out, const uint8_t *buf, size_t n, const char *what) {
    struct jpeg_decompress_struct cinfo;
    jpg_err err;
    jpg_rd c;
    re_status st = RE_OK;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&err, 0, sizeof err);
    memset(&c, 0, sizeof c);
    c.what = what;
    c.orientation = 1;
    c.st = RE_ERR_FORMAT;
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpg_error_exit;
    err.pub.output_message = jpg_output_message;
    err.pub.emit_message = jpg_emit_message;
    if (n > (size_t)0xffffffffu) {
        st = re_fail(RE_ERR_TOO_LARGE, "%s: JPEG data of %zu bytes is too large", what, n);
        goto fail;
    }
    if (jpg_decode(&cinfo, &err, &c, buf, n) != 0) {
        if (err.truncated && c.st == RE_ERR_FORMAT) c.st = RE_ERR_TRUNCATED; /* e.g. "missing SOS" after EOF */
        const char *m = c.msg[0] ? c.msg : err.msg[0] ? err.msg : "unknown error";
        st = re_fail(c.st, "%s: JPEG %s: %s", what, c.st == RE_ERR_TRUNCATED ? "truncated" : "decode failed", m);
        goto fail;
    }
    if (c.orientation != 1) {
        re_image rot = {0};
        st = re_image_orient(&c.img, &rot, c.orientation);
        if (st != RE_OK) {
            re_fail_ctx(st, "%s: applying EXIF orientation %d", what, c.orientation);
            goto fail;
        }
        re_image_free(&c.img);
        c.img = rot;
    }
    *out = c.img;
    c.img.data = NULL;
    c.img.owns_data = 0;
fail:
    jpeg_destroy_decompress(&cinfo);
    free(c.tmp);
    re_image_free(&c.img);
    return st;
}

/* ------------------------------------------------------------------------------------------------ load API */

re_status re_image_load_mem(re_image *out, const void *buf, size_t n, const char *what) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (!what) what = "<memory>";
    if (!out) return re_fail(RE_ERR_ARG, "%s: NULL output image", what);
    memset(out, 0, sizeof *out);
    if (!buf && n) return re_fail(RE_ERR_ARG, "%s: NULL buffer", what);
    const uint8_t *p = buf;
    if (n >= 8 && memcmp(p, png_sig, 8) == 0) return load_png(out, p, n, what);
    if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return load_jpeg(out, p, n, what);
    if (n == 0) return re_fail(RE_ERR_FORMAT, "%s: empty file, expected a PNG or JPEG image", what);
    return re_fail(RE_ERR_FORMAT, "%s: not a PNG or JPEG image (first bytes %02x %02x %02x %02x)", what, p[0],
                   n > 1 ? p[1] : 0, n > 2 ? p[2] : 0, n > 3 ? p[3] : 0);
}

re_status re_image_load(re_image *out, const char *path) {
    re_status st = RE_OK;
    uint8_t *buf = NULL;
    FILE *f = NULL;
    if (out) memset(out, 0, sizeof *out);
    if (!out || !path) return re_fail(RE_ERR_ARG, "re_image_load: NULL %s", out ? "path" : "output image");
    f = fopen(path, "rb");
    if (!f) {
        st = re_fail(RE_ERR_IO, "cannot open image '%s': %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = re_fail(RE_ERR_IO, "image '%s' is not a regular file", path);
        goto fail;
    }
    if ((uint64_t)sb.st_size > RE_IMAGE_MAX_FILE_BYTES) {
        st = re_fail(RE_ERR_TOO_LARGE, "image '%s' is %lld bytes, over the %zu-byte limit", path, (long long)sb.st_size,
                     RE_IMAGE_MAX_FILE_BYTES);
        goto fail;
    }
    size_t n = (size_t)sb.st_size;
    buf = malloc(n ? n : 1);
    if (!buf) {
        st = re_fail(RE_ERR_NOMEM, "cannot allocate %zu bytes to read '%s'", n, path);
        goto fail;
    }
    if (n && fread(buf, 1, n, f) != n) {
        st = re_fail(RE_ERR_IO, "reading image '%s' failed (wanted %zu bytes): %s", path, n,
                     ferror(f) ? strerror(errno) : "file shrank while reading");
        goto fail;
    }
    st = re_image_load_mem(out, buf, n, path);
fail:
    if (f) fclose(f);
    free(buf);
    return st;
}

/* ------------------------------------------------------------------------------------------------ save */

typedef struct png_wr {
    const re_image *img;
    char msg[PNG_MSG];   /* libpng's error pointer */
} png_wr;

static int png_encode(png_structp png, png_infop info, FILE *f, png_wr *c) {
    if (setjmp(png_jmpbuf(png))) return 1;
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)c->img->w, (png_uint_32)c->img->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < c->img->h; y++) png_write_row(png, c->img->data + (size_t)y * c->img->stride);
    png_write_end(png, info);
    return 0;
}

static re_status png_write_fn(FILE *f, void *user) {
    png_wr c;
    memset(&c, 0, sizeof c);
    c.img = user;
    re_status st = RE_OK;
    png_infop info = NULL;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, c.msg, png_on_error, png_on_warning);
    if (png) info = png_create_info_struct(png);
    if (!png || !info) {
        st = re_fail(RE_ERR_NOMEM, "cannot create PNG encoder");
        goto fail;
    }
    if (png_encode(png, info, f, &c) != 0) {
        st = re_fail(RE_ERR_IO, "PNG encoding failed: %s", c.msg[0] ? c.msg : "unknown error");
        goto fail;
    }
fail:
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    return st;
}

re_status re_image_save_png(const re_image *img, const char *path) {
    re_status st = re_image_valid(img, path ? path : "re_image_save_png");
    if (st != RE_OK) return st;
    if (!path || !path[0]) return re_fail(RE_ERR_ARG, "re_image_save_png: empty path");
    return re_write_atomic(path, png_write_fn, (void *)img);
}

/* One JPEG encoder for files and memory: into f when it is set, else into mbuf and mn (jpeg_mem_dest; malloc'd). */
typedef struct jpg_wr {
    const re_image *img;
    int quality;
    FILE *f;
    unsigned char **mbuf;
    unsigned long *mn;
    int optimize;        /* optimized Huffman tables: smaller files, a second pass (off for live frames) */
} jpg_wr;

static int jpg_encode(struct jpeg_compress_struct *cinfo, jpg_err *err, const jpg_wr *c) {
    if (setjmp(err->jb)) return 1;
    jpeg_create_compress(cinfo);
    if (c->f) jpeg_stdio_dest(cinfo, c->f);
    else jpeg_mem_dest(cinfo, c->mbuf, c->mn);
    cinfo->image_width = (JDIMENSION)c->img->w;
    cinfo->image_height = (JDIMENSION)c->img->h;
    cinfo->input_components = 3;
    cinfo->in_color_space = JCS_RGB;
    jpeg_set_defaults(cinfo);
    jpeg_set_quality(cinfo, c->quality, TRUE);
    cinfo->optimize_coding = c->optimize ? TRUE : FALSE;
    if (c->quality >= 90) { /* keep full-resolution chroma at high quality (faces, thin color edges) */
        cinfo->comp_info[0].h_samp_factor = 1;
        cinfo->comp_info[0].v_samp_factor = 1;
    }
    jpeg_start_compress(cinfo, TRUE);
    while (cinfo->next_scanline < cinfo->image_height) {
        JSAMPROW row = (JSAMPROW)(c->img->data + (size_t)cinfo->next_scanline * c->img->stride);
        if (jpeg_write_scanlines(cinfo, &row, 1) != 1) return 1;
    }
    jpeg_finish_compress(cinfo);
    return 0;
}

/* Runs jpg_encode with this file's error manager; 0 or the libjpeg message in msg. */
static int jpg_encode_run(const jpg_wr *c, char *msg, size_t msg_n) {
    struct jpeg_compress_struct cinfo;
    jpg_err err;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&err, 0, sizeof err);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpg_error_exit;
    err.pub.output_message = jpg_output_message;
    err.pub.emit_message = jpg_emit_message;
    int bad = jpg_encode(&cinfo, &err, c);
    jpeg_destroy_compress(&cinfo);
    snprintf(msg, msg_n, "%s", err.msg);
    return bad;
}

static int jpg_quality(int q) { return q == 0 ? 92 : q < 1 ? 1 : q > 100 ? 100 : q; }

static re_status jpg_write_fn(FILE *f, void *user) {
    jpg_wr c = *(const jpg_wr *)user;
    c.f = f;
    char msg[JMSG_LENGTH_MAX];
    if (jpg_encode_run(&c, msg, sizeof msg) != 0)
        return re_fail(RE_ERR_IO, "JPEG encoding failed: %s", msg[0] ? msg : "short write");
    return RE_OK;
}

re_status re_image_encode_jpeg(const re_image *img, int quality, uint8_t **buf, size_t *n) {
    if (!buf || !n) return re_fail(RE_ERR_ARG, "re_image_encode_jpeg: NULL argument");
    *buf = NULL;
    *n = 0;
    re_status st = re_image_valid(img, "re_image_encode_jpeg");
    if (st != RE_OK) return st;
    unsigned char *mb = NULL;
    unsigned long mn = 0;
    jpg_wr c = {img, jpg_quality(quality), NULL, &mb, &mn, 0};
    char msg[JMSG_LENGTH_MAX];
    if (jpg_encode_run(&c, msg, sizeof msg) != 0) {
        free(mb);
        return re_fail(RE_ERR_NOMEM, "JPEG encoding failed: %s", msg[0] ? msg : "out of memory");
    }
    *buf = mb;
    *n = (size_t)mn;
    return RE_OK;
}

re_status re_image_save_jpeg(const re_image *img, const char *path, int quality) {
    re_status st = re_image_valid(img, path ? path : "re_image_save_jpeg");
    if (st != RE_OK) return st;
    if (!path || !path[0]) return re_fail(RE_ERR_ARG, "re_image_save_jpeg: empty path");
    jpg_wr c = {img, jpg_quality(quality), NULL, NULL, NULL, 1};
    return re_write_atomic(path, jpg_write_fn, &c);
}
