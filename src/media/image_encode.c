/*
 * image_encode.c - JPEG encoding into memory (re_image_encode_jpeg, include/reenact/media.h), for frames that go
 * over a network rather than into a file (`reenact serve`'s /api/live). libjpeg-turbo's jpeg_mem_dest; libjpeg's
 * fatal errors longjmp back to the encoder's own function, as in image.c.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "core/core.h"
#include "media/image_internal.h"

typedef struct enc_err {
    struct jpeg_error_mgr pub;   /* first member: libjpeg casts cinfo->err to this */
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} enc_err;

static void enc_error_exit(j_common_ptr cinfo) {
    enc_err *e = (enc_err *)cinfo->err;
    if (e->msg[0] == 0) (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jb, 1);
}

static void enc_output_message(j_common_ptr cinfo) { (void)cinfo; }

typedef struct enc_job {
    const re_image *img;
    int quality;
    unsigned char *buf;
    unsigned long n;
} enc_job;

static int enc_run(struct jpeg_compress_struct *cinfo, enc_err *err, enc_job *c) {
    if (setjmp(err->jb)) return 1;
    jpeg_create_compress(cinfo);
    jpeg_mem_dest(cinfo, &c->buf, &c->n);
    cinfo->image_width = (JDIMENSION)c->img->w;
    cinfo->image_height = (JDIMENSION)c->img->h;
    cinfo->input_components = 3;
    cinfo->in_color_space = JCS_RGB;
    jpeg_set_defaults(cinfo);
    jpeg_set_quality(cinfo, c->quality, TRUE);
    cinfo->dct_method = JDCT_ISLOW;
    if (c->quality >= 90) {   /* full-resolution chroma at high quality, as re_image_save_jpeg */
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

re_status re_image_encode_jpeg(const re_image *img, int quality, uint8_t **buf, size_t *n) {
    if (!buf || !n) return re_fail(RE_ERR_ARG, "re_image_encode_jpeg: NULL argument");
    *buf = NULL;
    *n = 0;
    re_status st = re_image_valid(img, "re_image_encode_jpeg");
    if (st != RE_OK) return st;
    struct jpeg_compress_struct cinfo;
    enc_err err;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&err, 0, sizeof err);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = enc_error_exit;
    err.pub.output_message = enc_output_message;
    enc_job c = {img, quality == 0 ? 92 : quality < 1 ? 1 : quality > 100 ? 100 : quality, NULL, 0};
    if (enc_run(&cinfo, &err, &c) != 0) {
        jpeg_destroy_compress(&cinfo);
        free(c.buf);
        return re_fail(RE_ERR_NOMEM, "JPEG encoding failed: %s", err.msg[0] ? err.msg : "out of memory");
    }
    jpeg_destroy_compress(&cinfo);
    *buf = c.buf;
    *n = (size_t)c.n;
    return RE_OK;
}
