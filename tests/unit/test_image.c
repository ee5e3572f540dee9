/*
 * test_image.c - images: PNG/JPEG round trips, format conversions (gray, palette, 16-bit, alpha, EXIF orientation),
 * bad inputs (missing, not an image, truncated, huge declared size), resize antialiasing, affine warp, CHW.
 * Run: ctest -R test_image (cwd = repo root; uses tests/fixtures/media/ and a temp dir under /tmp).
 */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <jpeglib.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "re_test.h"
#include "re_test_image.h"
#include "re_test_tmp.h"
#include "reenact/media.h"

static uint8_t *px(const re_image *im, int x, int y) { return im->data + (size_t)y * im->stride + (size_t)x * 3; }

/* Writer temp files left in the temp dir. */
static int count_tmp_files(void) { return re_test_count_entries(re_test_dir, ".tmp", 0); }

static uint32_t crc32_buf(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* Allocates im (w x h) with a pseudo-random but smooth-ish test image. */
static void alloc_pattern(re_image *im, int w, int h, unsigned seed) {
    CHECK_OK(re_image_alloc(im, w, h));
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            uint8_t *p = px(im, x, y);
            seed = seed * 1103515245u + 12345u;
            p[0] = (uint8_t)(x * 255 / (im->w > 1 ? im->w - 1 : 1));
            p[1] = (uint8_t)(y * 255 / (im->h > 1 ? im->h - 1 : 1));
            p[2] = (uint8_t)((seed >> 16) & 0xff);
        }
}

/* Allocates im (w x h) and sets each pixel's RGB p by rgb(x, y, p). */
static void alloc_fill(re_image *im, int w, int h, void (*rgb)(int x, int y, uint8_t *p)) {
    CHECK_OK(re_image_alloc(im, w, h));
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) rgb(x, y, px(im, x, y));
}
/* alloc_fill's pictures: smooth colour waves, one flat colour, a 1-pixel checkerboard, a horizontal gray ramp */
static void waves_rgb(int x, int y, uint8_t *p) {
    p[0] = (uint8_t)(128 + 100 * sin(x * 0.2));
    p[1] = (uint8_t)(128 + 100 * cos(y * 0.15));
    p[2] = (uint8_t)((x + y) * 2);
}
static void flat_rgb(int x, int y, uint8_t *p) {
    (void)x; (void)y;
    p[0] = 200; p[1] = 17; p[2] = 128;
}
static void checker_rgb(int x, int y, uint8_t *p) { memset(p, ((x + y) & 1) ? 255 : 0, 3); }
static void ramp_rgb(int x, int y, uint8_t *p) { (void)y; memset(p, x * 4, 3); }

/* The largest deviation from mid-gray (128) of channels 0..nc-1 over all of im. */
static int gray_dev(const re_image *im, int nc) {
    int dev = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++)
            for (int c = 0; c < nc; c++) {
                int d = abs((int)px(im, x, y)[c] - 128);
                if (d > dev) dev = d;
            }
    return dev;
}

/* Write a PNG with libpng directly (for formats re_image_save_png never produces). rows: bytes per row given. */
static int write_png_raw(const char *path, int w, int h, int depth, int ctype, const uint8_t *data, size_t rowbytes,
                         const png_color *pal, int npal, const uint8_t *trns, int ntrns) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return 0;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    if (trns) png_set_tRNS(png, info, trns, ntrns, NULL);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, data + (size_t)y * rowbytes);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return fclose(f) == 0;
}

/* write_png_raw into the test folder's file name, then re_image_load of it into b (both checked): non-zero when b
 * holds the image. */
static int png_raw_load(re_image *b, const char *name, int w, int h, int depth, int ctype, const uint8_t *data,
                        size_t rowbytes, const png_color *pal, int npal, const uint8_t *trns, int ntrns) {
    CHECK(write_png_raw(re_test_tmp(name), w, h, depth, ctype, data, rowbytes, pal, npal, trns, ntrns));
    CHECK_OK(re_image_load(b, re_test_tmp(name)));
    return b->data != NULL;
}

/* Pixel (x, y) of im is exactly (r, g, b). */
static int px_is(const re_image *im, int x, int y, int r, int g, int b) {
    const uint8_t *p = px(im, x, y);
    return p[0] == r && p[1] == g && p[2] == b;
}

/* JPEG via libjpeg directly: gray (comps 1) or RGB, optional EXIF orientation. */
static int write_jpeg_raw(const char *path, int w, int h, int comps, const uint8_t *data, int orientation) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    if (orientation) { /* minimal big-endian EXIF: IFD0 with one SHORT entry 0x0112 */
        uint8_t exif[6 + 8 + 2 + 12 + 4] = {'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1,
                                            0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, (uint8_t)orientation, 0, 0, 0, 0, 0, 0};
        jpeg_write_marker(&c, JPEG_APP0 + 1, exif, sizeof exif);
    }
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(data + (size_t)c.next_scanline * w * comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return fclose(f) == 0;
}

static void test_alloc(void) {
    re_image im = {0};
    CHECK_OK(re_image_alloc(&im, 5, 3));
    CHECK(im.data != NULL && im.owns_data && im.stride >= 15);
    CHECK(px(&im, 4, 2)[2] == 0);
    re_image_free(&im);
    CHECK(im.data == NULL && im.w == 0);
    re_image_free(&im);            /* twice is fine */
    re_image_free(NULL);
    CHECK_EQ_INT(re_image_alloc(&im, 0, 3), RE_ERR_ARG);
    CHECK_EQ_INT(re_image_alloc(&im, 100000, 100000), RE_ERR_TOO_LARGE);
    CHECK(strstr(re_last_error(), "100000x100000") != NULL);
    CHECK(re_image_get_max_pixels() == RE_IMAGE_DEFAULT_MAX_PIXELS);
}

static void test_png_roundtrip(void) {
    re_image a = {0}, b = {0};
    alloc_pattern(&a, 37, 23, 1);
    CHECK_OK(re_image_save_png(&a, re_test_tmp("a.png")));
    CHECK_OK(re_image_load(&b, re_test_tmp("a.png")));
    CHECK_EQ_INT(b.w, 37);
    CHECK_EQ_INT(b.h, 23);
    CHECK_MSG(re_test_images_equal(&a, &b), "PNG round trip not exact");
    re_image_free(&b);
    /* content, not extension: a PNG named .jpg loads */
    CHECK_OK(re_image_save_png(&a, re_test_tmp("png_named.jpg")));
    CHECK_OK(re_image_load(&b, re_test_tmp("png_named.jpg")));
    CHECK(re_test_images_equal(&a, &b));
    re_image_free(&b);
    /* from memory */
    size_t n = 0;
    uint8_t *buf = re_test_read_file(re_test_tmp("a.png"), &n);
    CHECK(buf != NULL);
    if (buf) {
        CHECK_OK(re_image_load_mem(&b, buf, n, "mem"));
        CHECK(re_test_images_equal(&a, &b));
        re_image_free(&b);
    }
    free(buf);
    /* a non-contiguous (strided) source saves the same pixels */
    re_image view = a;
    view.w = 10;
    view.owns_data = 0;
    CHECK_OK(re_image_save_png(&view, re_test_tmp("view.png")));
    CHECK_OK(re_image_load(&b, re_test_tmp("view.png")));
    CHECK(b.w == 10 && re_test_images_equal(&view, &b));
    re_image_free(&b);
    /* failed save: no temp left, existing file untouched */
    CHECK_EQ_INT(re_image_save_png(&a, "/nonexistent_dir_re/x.png"), RE_ERR_IO);
    CHECK_EQ_INT(re_image_save_png(NULL, re_test_tmp("x.png")), RE_ERR_ARG);
    CHECK_EQ_INT(count_tmp_files(), 0);
    re_image_free(&a);
}

static void test_jpeg_roundtrip(void) {
    re_image a = {0}, b = {0};
    alloc_fill(&a, 64, 48, waves_rgb);
    int qs[3] = {95, 75, 0};
    double bounds[3] = {38.0, 30.0, 36.0};
    for (int i = 0; i < 3; i++) {
        CHECK_OK(re_image_save_jpeg(&a, re_test_tmp("a.jpg"), qs[i]));
        CHECK_OK(re_image_load(&b, re_test_tmp("a.jpg")));
        CHECK(b.w == 64 && b.h == 48);
        if (b.data) {
            double p = re_test_psnr_region(&a, &b, a.w, a.h);
            CHECK_MSG(p > bounds[i], "JPEG q=%d PSNR %.2f dB <= %.1f", qs[i], p, bounds[i]);
        }
        re_image_free(&b);
    }
    /* a JPEG named .png loads */
    CHECK_OK(re_image_save_jpeg(&a, re_test_tmp("jpeg_named.png"), 90));
    CHECK_OK(re_image_load(&b, re_test_tmp("jpeg_named.png")));
    CHECK(b.w == 64);
    re_image_free(&b);
    CHECK_EQ_INT(count_tmp_files(), 0);
    re_image_free(&a);
}

static void test_png_variants(void) {
    re_image b = {0};
    enum { W = 6, H = 4 };
    uint8_t gray[W * H], g16[W * H * 2], pal_idx[W * H], rgba[W * H * 4];
    for (int i = 0; i < W * H; i++) {
        gray[i] = (uint8_t)(i * 10);
        uint16_t v = (uint16_t)(i * 2000 + 77);
        g16[2 * i] = (uint8_t)(v >> 8);
        g16[2 * i + 1] = (uint8_t)v;
        pal_idx[i] = (uint8_t)(i % 3);
        rgba[4 * i + 0] = 200;
        rgba[4 * i + 1] = 10;
        rgba[4 * i + 2] = 50;
        rgba[4 * i + 3] = (uint8_t)(i % 2 ? 255 : 0);
    }
    if (png_raw_load(&b, "gray.png", W, H, 8, PNG_COLOR_TYPE_GRAY, gray, W, NULL, 0, NULL, 0))
        for (int i = 0; i < W * H; i++) {
            uint8_t *p = px(&b, i % W, i / W);
            CHECK_MSG(p[0] == gray[i] && p[1] == gray[i] && p[2] == gray[i], "gray pixel %d", i);
        }
    re_image_free(&b);

    if (png_raw_load(&b, "g16.png", W, H, 16, PNG_COLOR_TYPE_GRAY, g16, W * 2, NULL, 0, NULL, 0))
        for (int i = 0; i < W * H; i++) {
            unsigned v = (unsigned)(i * 2000 + 77), want = (v * 255u + 32767u) / 65535u;
            uint8_t *p = px(&b, i % W, i / W);
            CHECK_MSG(abs((int)p[0] - (int)want) <= 1 && p[0] == p[2], "16-bit pixel %d: %u vs %u", i, p[0], want);
        }
    re_image_free(&b);

    png_color pal[3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
    if (png_raw_load(&b, "pal.png", W, H, 8, PNG_COLOR_TYPE_PALETTE, pal_idx, W, pal, 3, NULL, 0))
        for (int i = 0; i < W * H; i++) {
            uint8_t *p = px(&b, i % W, i / W);
            const png_color *c = &pal[pal_idx[i]];
            CHECK_MSG(p[0] == c->red && p[1] == c->green && p[2] == c->blue, "palette pixel %d", i);
        }
    re_image_free(&b);

    /* palette with tRNS: index 2 fully transparent -> white */
    uint8_t trns[3] = {255, 255, 0};
    if (png_raw_load(&b, "pal_trns.png", W, H, 8, PNG_COLOR_TYPE_PALETTE, pal_idx, W, pal, 3, trns, 3)) {
        CHECK(px_is(&b, 2, 0, 255, 255, 255));
        CHECK(px_is(&b, 0, 0, 255, 0, 0));
    }
    re_image_free(&b);

    if (png_raw_load(&b, "rgba.png", W, H, 8, PNG_COLOR_TYPE_RGBA, rgba, W * 4, NULL, 0, NULL, 0)) {
        CHECK(px_is(&b, 1, 0, 200, 10, 50));     /* opaque */
        CHECK(px_is(&b, 0, 0, 255, 255, 255));   /* clear: white */
    }
    re_image_free(&b);
}

static void test_jpeg_variants(void) {
    re_image b = {0};
    enum { W = 16, H = 8 };
    uint8_t gray[W * H], rgb[W * H * 3];
    for (int i = 0; i < W * H; i++) gray[i] = 90;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) { /* left 8x8 red, right 8x8 blue */
            uint8_t *p = rgb + (y * W + x) * 3;
            p[0] = x < 8 ? 250 : 0;
            p[1] = 0;
            p[2] = x < 8 ? 0 : 250;
        }
    CHECK(write_jpeg_raw(re_test_tmp("gray.jpg"), W, H, 1, gray, 0));
    CHECK_OK(re_image_load(&b, re_test_tmp("gray.jpg")));
    if (b.data) {
        uint8_t *p = px(&b, 3, 3);
        CHECK(abs(p[0] - 90) <= 2 && p[0] == p[1] && p[1] == p[2]);
    }
    re_image_free(&b);
    /* EXIF orientation 6 = rotate 90 clockwise to display: the left (red) half ends up on top */
    int orients[4] = {1, 6, 8, 3};
    for (int k = 0; k < 4; k++) {
        CHECK(write_jpeg_raw(re_test_tmp("exif.jpg"), W, H, 3, rgb, orients[k]));
        CHECK_OK(re_image_load(&b, re_test_tmp("exif.jpg")));
        if (!b.data) continue;
        int o = orients[k];
        if (o == 6 || o == 8) {
            CHECK_MSG(b.w == H && b.h == W, "orientation %d: %dx%d", o, b.w, b.h);
            uint8_t *top = px(&b, 4, 4), *bottom = px(&b, 4, 12);
            int red_top = top[0] > 180 && top[2] < 70 && bottom[2] > 180 && bottom[0] < 70;
            int blue_top = top[2] > 180 && top[0] < 70 && bottom[0] > 180 && bottom[2] < 70;
            CHECK_MSG(o == 6 ? red_top : blue_top, "orientation %d: top %u,%u,%u bottom %u,%u,%u", o, top[0], top[1],
                      top[2], bottom[0], bottom[1], bottom[2]);
        } else {
            CHECK(b.w == W && b.h == H);
            uint8_t *left = px(&b, 4, 4);
            CHECK_MSG(o == 3 ? left[2] > 180 : left[0] > 180, "orientation %d: left %u,%u,%u", o, left[0], left[1],
                      left[2]);
        }
        re_image_free(&b);
    }
}

static void test_bad_inputs(void) {
    re_image b = {0}, a = {0};
    CHECK_EQ_INT(re_image_load(&b, re_test_tmp("does_not_exist.png")), RE_ERR_IO);
    CHECK(strstr(re_last_error(), "does_not_exist.png") != NULL);
    CHECK_EQ_INT(re_image_load(&b, re_test_dir), RE_ERR_IO); /* a directory */
    const char *text = "hello, this is not an image\n";
    CHECK(re_test_write_file(re_test_tmp("text.png"), text, strlen(text)));
    CHECK_EQ_INT(re_image_load(&b, re_test_tmp("text.png")), RE_ERR_FORMAT);
    CHECK(strstr(re_last_error(), "text.png") != NULL);
    CHECK(re_test_write_file(re_test_tmp("empty.png"), "", 0));
    CHECK_EQ_INT(re_image_load(&b, re_test_tmp("empty.png")), RE_ERR_FORMAT);
    CHECK_EQ_INT(re_image_load_mem(&b, "\x89PNG\r\n\x1a\n", 8, "sig only"), RE_ERR_TRUNCATED);
    CHECK_EQ_INT(re_image_load_mem(&b, "\xff\xd8\xff", 3, "soi only"), RE_ERR_TRUNCATED);
    CHECK(b.data == NULL);

    /* truncated PNG and JPEG made from files written here */
    alloc_pattern(&a, 40, 30, 7);
    CHECK_OK(re_image_save_png(&a, re_test_tmp("t.png")));
    CHECK_OK(re_image_save_jpeg(&a, re_test_tmp("t.jpg"), 90));
    size_t n = 0;
    uint8_t *buf = re_test_read_file(re_test_tmp("t.png"), &n);
    if (buf) {
        size_t cuts[3] = {n / 2, n - 20, 40};
        for (int i = 0; i < 3; i++) {
            re_status st = re_image_load_mem(&b, buf, cuts[i], "t.png cut");
            CHECK_MSG(st == RE_ERR_TRUNCATED, "PNG cut at %zu of %zu: status %d (%s)", cuts[i], n, st, re_last_error());
        }
        buf[n / 2] ^= 0x55; /* corrupt IDAT: CRC error */
        CHECK(re_image_load_mem(&b, buf, n, "t.png corrupt") < 0);
        /* declared 100000x100000 with a valid CRC -> TOO_LARGE before any allocation */
        buf[n / 2] ^= 0x55;
        put32(buf + 16, 100000);
        put32(buf + 20, 100000);
        put32(buf + 29, crc32_buf(buf + 12, 17));
        CHECK_EQ_INT(re_image_load_mem(&b, buf, n, "huge.png"), RE_ERR_TOO_LARGE);
    }
    free(buf);
    buf = re_test_read_file(re_test_tmp("t.jpg"), &n);
    if (buf) {
        size_t cuts[3] = {n / 2, n - 2, 300};
        for (int i = 0; i < 3; i++) {
            re_status st = re_image_load_mem(&b, buf, cuts[i], "t.jpg cut");
            CHECK_MSG(st == RE_ERR_TRUNCATED, "JPEG cut at %zu of %zu: status %d (%s)", cuts[i], n, st, re_last_error());
        }
        /* patch SOF dims to 60000x60000 -> TOO_LARGE */
        for (size_t i = 2; i + 9 < n; i++)
            if (buf[i] == 0xff && (buf[i + 1] == 0xc0 || buf[i + 1] == 0xc2)) {
                buf[i + 5] = 0xea; buf[i + 6] = 0x60; buf[i + 7] = 0xea; buf[i + 8] = 0x60;
                break;
            }
        CHECK_EQ_INT(re_image_load_mem(&b, buf, n, "huge.jpg"), RE_ERR_TOO_LARGE);
    }
    free(buf);
    /* settable limit */
    re_image_set_max_pixels(40 * 30 - 1);
    CHECK_EQ_INT(re_image_load(&b, re_test_tmp("t.png")), RE_ERR_TOO_LARGE);
    CHECK_EQ_INT(re_image_load(&b, re_test_tmp("t.jpg")), RE_ERR_TOO_LARGE);
    re_image_set_max_pixels(40 * 30);
    CHECK_OK(re_image_load(&b, re_test_tmp("t.png")));
    re_image_free(&b);
    re_image_set_max_pixels(0);
    CHECK(re_image_get_max_pixels() == RE_IMAGE_DEFAULT_MAX_PIXELS);
    re_image_free(&a);

    /* committed negative fixtures */
    struct { const char *path; re_status want; } fx[] = {
        {"tests/fixtures/media/truncated.png", RE_ERR_TRUNCATED},
        {"tests/fixtures/media/truncated.jpg", RE_ERR_TRUNCATED},
        {"tests/fixtures/media/huge_dims.png", RE_ERR_TOO_LARGE},
        {"tests/fixtures/media/huge_dims.jpg", RE_ERR_TOO_LARGE},
        {"tests/fixtures/media/not_an_image.png", RE_ERR_FORMAT},
        {"tests/fixtures/media/bad_crc.png", RE_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof fx / sizeof fx[0]; i++) {
        re_status st = re_image_load(&b, fx[i].path);
        CHECK_MSG(st == fx[i].want, "%s: status %d, want %d (%s)", fx[i].path, st, fx[i].want, re_last_error());
        CHECK(b.data == NULL);
    }
    CHECK_OK(re_image_load(&b, "tests/fixtures/media/good.png"));
    CHECK(b.w == 8 && b.h == 6);
    re_image_free(&b);
}

static void test_resize(void) {
    re_image a = {0}, b = {0};
    alloc_fill(&a, 100, 80, flat_rgb);
    int sizes[4][2] = {{37, 23}, {100, 80}, {250, 161}, {1, 1}};
    for (int k = 0; k < 4; k++) {
        CHECK_OK(re_image_resize(&a, &b, sizes[k][0], sizes[k][1]));
        int bad = 0;
        for (int y = 0; y < b.h; y++)
            for (int x = 0; x < b.w; x++) {
                uint8_t *p = px(&b, x, y);
                bad += p[0] != 200 || p[1] != 17 || p[2] != 128;
            }
        CHECK_MSG(bad == 0, "constant image resized to %dx%d: %d pixels changed", sizes[k][0], sizes[k][1], bad);
    }
    re_image_free(&b);
    re_image_free(&a);

    /* 1-pixel checkerboard, downscale by 8: must become flat gray (aliasing would give 0/255 patterns) */
    alloc_fill(&a, 128, 128, checker_rgb);
    CHECK_OK(re_image_resize(&a, &b, 16, 16));
    int maxdev = gray_dev(&b, 3);
    CHECK_MSG(maxdev <= 4, "checkerboard/8 max deviation from gray %d", maxdev);
    /* and by a non-integer factor */
    CHECK_OK(re_image_resize(&a, &b, 23, 19));
    maxdev = gray_dev(&b, 1);
    CHECK_MSG(maxdev <= 8, "checkerboard -> 23x19 max deviation from gray %d", maxdev);
    re_image_free(&a);

    /* horizontal ramp stays a monotone ramp after up- and downscaling */
    alloc_fill(&a, 64, 4, ramp_rgb);
    int ws[2] = {200, 21};
    for (int k = 0; k < 2; k++) {
        CHECK_OK(re_image_resize(&a, &b, ws[k], 4));
        int mono = 1;
        for (int x = 1; x < b.w; x++) mono &= px(&b, x, 2)[0] + 1 >= px(&b, x - 1, 2)[0];
        CHECK_MSG(mono, "ramp resized to width %d is not monotone", ws[k]);
        int mid = px(&b, b.w / 2, 2)[0];
        CHECK_MSG(abs(mid - 128) <= 8, "ramp middle %d", mid);
    }
    /* errors */
    CHECK_EQ_INT(re_image_resize(&a, &b, 0, 5), RE_ERR_ARG);
    CHECK_EQ_INT(re_image_resize(&a, &a, 5, 5), RE_ERR_ARG);
    re_image view = {3, 3, 9, b.data, 0}; /* non-owning destination of the wrong size */
    CHECK_EQ_INT(re_image_resize(&a, &view, 5, 5), RE_ERR_ARG);
    re_image_free(&a);
    re_image_free(&b);
}

static void test_warp(void) {
    re_image a = {0}, b = {0};
    alloc_pattern(&a, 31, 17, 3);
    const float id[6] = {1, 0, 0, 0, 1, 0};
    for (int border = 0; border < 3; border++) {
        CHECK_OK(re_image_warp_affine(&a, &b, 31, 17, id, (re_border)border));
        CHECK_MSG(re_test_images_equal(&a, &b), "identity warp not exact (border %d)", border);
    }
    /* integer translation dst(x,y) = src(x+3, y-2), replicate border */
    const float tr[6] = {1, 0, 3, 0, 1, -2};
    CHECK_OK(re_image_warp_affine(&a, &b, 31, 17, tr, RE_BORDER_REPLICATE));
    int bad = 0;
    for (int y = 0; y < 17; y++)
        for (int x = 0; x < 31; x++) {
            int sx = x + 3 > 30 ? 30 : x + 3, sy = y - 2 < 0 ? 0 : y - 2;
            bad += memcmp(px(&b, x, y), px(&a, sx, sy), 3) != 0;
        }
    CHECK_MSG(bad == 0, "translation: %d wrong pixels", bad);
    /* constant border: far outside -> black; reflect: dst(0) = src(2) for a shift of -2 */
    const float far[6] = {1, 0, 1000, 0, 1, 0};
    CHECK_OK(re_image_warp_affine(&a, &b, 31, 17, far, RE_BORDER_CONSTANT));
    CHECK(px(&b, 5, 5)[0] == 0 && px(&b, 5, 5)[1] == 0 && px(&b, 30, 16)[2] == 0);
    const float sh[6] = {1, 0, -2, 0, 1, 0};
    CHECK_OK(re_image_warp_affine(&a, &b, 31, 17, sh, RE_BORDER_REFLECT));
    CHECK(memcmp(px(&b, 0, 4), px(&a, 2, 4), 3) == 0 && memcmp(px(&b, 1, 4), px(&a, 1, 4), 3) == 0);
    /* rotation by 90 degrees: dst(x,y) = src(y, H-1-x), dst is 17x31 */
    const float rot[6] = {0, 1, 0, -1, 0, 16};
    CHECK_OK(re_image_warp_affine(&a, &b, 17, 31, rot, RE_BORDER_CONSTANT));
    bad = 0;
    for (int y = 0; y < 31; y++)
        for (int x = 0; x < 17; x++) bad += memcmp(px(&b, x, y), px(&a, y, 16 - x), 3) != 0;
    CHECK_MSG(bad == 0, "90-degree rotation: %d wrong pixels", bad);
    /* half-pixel shift averages neighbours */
    const float half[6] = {1, 0, 0.5f, 0, 1, 0};
    CHECK_OK(re_image_warp_affine(&a, &b, 31, 17, half, RE_BORDER_REPLICATE));
    int want = (px(&a, 4, 4)[2] + px(&a, 5, 4)[2]);
    CHECK(abs(2 * px(&b, 4, 4)[2] - want) <= 2);
    re_image_free(&a);

    /* strong downscale (8x) of a checkerboard must not alias */
    alloc_fill(&a, 256, 256, checker_rgb);
    const float dn[6] = {8, 0, 3.5f, 0, 8, 3.5f};
    CHECK_OK(re_image_warp_affine(&a, &b, 32, 32, dn, RE_BORDER_REPLICATE));
    int maxdev = gray_dev(&b, 1);
    CHECK_MSG(maxdev <= 6, "warp downscale by 8 of a checkerboard: max deviation from gray %d", maxdev);
    /* same with a rotation + scale 5.3 */
    const float c = 5.3f * 0.8f, s = 5.3f * 0.6f;
    const float rs[6] = {c, -s, 100, s, c, 20};
    CHECK_OK(re_image_warp_affine(&a, &b, 20, 20, rs, RE_BORDER_REPLICATE));
    maxdev = gray_dev(&b, 1);
    CHECK_MSG(maxdev <= 40, "rotated downscale of a checkerboard: max deviation from gray %d", maxdev);
    /* errors */
    const float nan6[6] = {NAN, 0, 0, 0, 1, 0};
    CHECK_EQ_INT(re_image_warp_affine(&a, &b, 8, 8, nan6, RE_BORDER_CONSTANT), RE_ERR_ARG);
    CHECK_EQ_INT(re_image_warp_affine(&a, &b, 8, 8, id, (re_border)7), RE_ERR_ARG);
    CHECK_EQ_INT(re_image_warp_affine(&a, &b, 8, -1, id, RE_BORDER_CONSTANT), RE_ERR_ARG);
    re_image_free(&a);
    re_image_free(&b);
}

static void test_chw(void) {
    re_image a = {0}, b = {0};
    alloc_pattern(&a, 9, 5, 11);
    float *t = malloc(sizeof(float) * 3 * 9 * 5);
    if (!t) return;
    re_image_to_chw(&a, t);
    CHECK(fabsf(t[0 * 45 + 2 * 9 + 4] - px(&a, 4, 2)[0] / 255.0f) < 1e-7f);
    CHECK(fabsf(t[1 * 45 + 2 * 9 + 4] - px(&a, 4, 2)[1] / 255.0f) < 1e-7f);
    CHECK(fabsf(t[2 * 45 + 2 * 9 + 4] - px(&a, 4, 2)[2] / 255.0f) < 1e-7f);
    CHECK_OK(re_image_from_chw(&b, t, 9, 5));
    CHECK_MSG(re_test_images_equal(&a, &b), "CHW round trip not exact");
    t[0] = -0.5f;
    t[1] = 1.7f;
    t[2] = NAN;
    t[3] = 0.5f / 255.0f + 1e-4f; /* rounds up to 1 */
    CHECK_OK(re_image_from_chw(&b, t, 9, 5));
    CHECK(px(&b, 0, 0)[0] == 0 && px(&b, 1, 0)[0] == 255 && px(&b, 2, 0)[0] == 0 && px(&b, 3, 0)[0] == 1);
    CHECK_EQ_INT(re_image_from_chw(&b, NULL, 9, 5), RE_ERR_ARG);
    free(t);
    re_image_free(&a);
    re_image_free(&b);
}

int main(void) {
    if (!re_test_tmpdir("image")) return 1;
    test_alloc();
    test_png_roundtrip();
    test_jpeg_roundtrip();
    test_png_variants();
    test_jpeg_variants();
    test_bad_inputs();
    test_resize();
    test_warp();
    test_chw();
    re_test_tmpdir_remove();
    RE_TEST_END();
}
