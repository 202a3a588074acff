/* JPEG decoding through libjpeg(-turbo) to 8-bit gray or RGB.
 *
 * libjpeg's default error handler prints and calls exit(); ours records the
 * message and longjmps back. The setjmp sits in a function with no locals of
 * its own; state that must survive the jump lives in a caller-owned struct. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "error.h"
#include "image_codecs.h"

/* Progressive files may hold any number of scans; each costs a full pass, so
 * a hostile file could keep the decoder busy for minutes. Real ones use < 20. */
#define MAX_SCANS 1000

typedef struct jpeg_reader {
    struct jpeg_error_mgr err; /* first member: libjpeg hands us cinfo->err */
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
    struct jpeg_decompress_struct cinfo;
    int created;
    const unet_image_source *src;
    uint8_t *pixels;
    int width, height, channels;
} jpeg_reader;

static void on_error_exit(j_common_ptr cinfo)
{
    jpeg_reader *r = (jpeg_reader *)cinfo->err;
    if (r->msg[0] == '\0')
        cinfo->err->format_message(cinfo, r->msg);
    longjmp(r->jump, 1);
}

/* Warnings that mean the pixels are wrong or missing (a cut-off file makes
 * libjpeg pad with gray and warn "Premature end of JPEG file") are errors here;
 * the rest (unknown JFIF revision, bad ICC marker, ...) leave pixels intact. */
static void on_message(j_common_ptr cinfo, int level)
{
    if (level >= 0)
        return; /* trace messages */
    switch (cinfo->err->msg_code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
        on_error_exit(cinfo);
        break;
    default:
        break;
    }
}

static void output_nothing(j_common_ptr cinfo) { (void)cinfo; }

static void check_scans(j_common_ptr cinfo)
{
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    jpeg_reader *r = (jpeg_reader *)cinfo->err;
    if (d->input_scan_number > MAX_SCANS) {
        snprintf(r->msg, sizeof r->msg, "more than %d progressive scans", MAX_SCANS);
        on_error_exit(cinfo);
    }
}

/* From the file's start to jpeg_start_decompress; *bytes gets the size of
 * the decoded image. */
static unet_status header_steps(jpeg_reader *r, size_t *bytes)
{
    j_decompress_ptr cinfo = &r->cinfo;
    const char *name = r->src->name;
    r->created = 1; /* destroying a half-created (zeroed) struct is safe */
    jpeg_create_decompress(cinfo);
    cinfo->progress = &r->progress;
    if (r->src->file)
        jpeg_stdio_src(cinfo, r->src->file);
    else
        jpeg_mem_src(cinfo, r->src->data, (unsigned long)r->src->size);
    jpeg_read_header(cinfo, TRUE);

    int channels;
    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo->out_color_space = JCS_GRAYSCALE;
        channels = 1;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo->out_color_space = JCS_RGB;
        channels = 3;
        break;
    default:
        return unet_set_error(UNET_ERR_UNSUPPORTED,
                              "%s: JPEG colour space %d (CMYK/YCCK or unknown) is not supported; "
                              "convert the file to RGB", name, (int)cinfo->jpeg_color_space);
    }
    /* jpeg_start_decompress allocates whole-image buffers for progressive files. */
    UNET_TRY(unet_image_check_size(name, cinfo->image_width, cinfo->image_height, channels, bytes));
    jpeg_start_decompress(cinfo);
    if (cinfo->output_components != channels || cinfo->output_width != cinfo->image_width ||
        cinfo->output_height != cinfo->image_height)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s: JPEG decoder gave %d components of %ux%u",
                              name, cinfo->output_components, (unsigned)cinfo->output_width,
                              (unsigned)cinfo->output_height);
    r->width = (int)cinfo->output_width;
    r->height = (int)cinfo->output_height;
    r->channels = channels;
    return UNET_OK;
}

static unet_status read_steps(jpeg_reader *r)
{
    j_decompress_ptr cinfo = &r->cinfo;
    size_t bytes;
    UNET_TRY(header_steps(r, &bytes));
    r->pixels = malloc(bytes);
    if (!r->pixels)
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory for a %dx%d image", r->src->name,
                              r->width, r->height);
    int channels = r->channels;
    size_t stride = (size_t)cinfo->output_width * (size_t)channels;
    while (cinfo->output_scanline < cinfo->output_height) {
        JSAMPROW row = r->pixels + (size_t)cinfo->output_scanline * stride;
        jpeg_read_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_decompress(cinfo);
    return UNET_OK;
}

static unet_status read_guarded(jpeg_reader *r)
{
    if (setjmp(r->jump))
        return UNET_ERR_PARSE;
    return read_steps(r);
}

static jpeg_reader *reader_create(const unet_image_source *src)
{
    jpeg_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->src = src;
    r->cinfo.err = jpeg_std_error(&r->err);
    r->err.error_exit = on_error_exit;
    r->err.emit_message = on_message;
    r->err.output_message = output_nothing;
    r->progress.progress_monitor = check_scans;
    return r;
}

unet_status unet_jpeg_decode(const unet_image_source *src, unet_image *out)
{
    memset(out, 0, sizeof *out);
    jpeg_reader *r = reader_create(src);
    if (!r)
        return unet_set_error(UNET_ERR_NOMEM, "%s: cannot create JPEG decoder", src->name);

    unet_status s = read_guarded(r);
    if (s == UNET_OK) {
        out->width = r->width;
        out->height = r->height;
        out->channels = r->channels;
        out->pixels = r->pixels;
        r->pixels = NULL;
    } else if (r->msg[0]) {
        unet_set_error(s, "%s: cannot decode JPEG: %s", src->name, r->msg);
    }
    if (r->created)
        jpeg_destroy_decompress(&r->cinfo);
    free(r->pixels);
    free(r);
    return s;
}

/* ---- row by row: the same decoder, one jpeg_read_scanlines call per row
 * (libjpeg buffers what progressive files need itself) ---- */

struct unet_jpeg_rows {
    jpeg_reader *r;
    int next_row;
};

static unet_status header_guarded(jpeg_reader *r, size_t *bytes)
{
    if (setjmp(r->jump))
        return UNET_ERR_PARSE;
    return header_steps(r, bytes);
}

static void rows_steps(jpeg_reader *r, uint8_t *rows, int n_rows)
{
    size_t stride = (size_t)r->width * (size_t)r->channels;
    for (int i = 0; i < n_rows; i++) {
        JSAMPROW row = rows + (size_t)i * stride;
        jpeg_read_scanlines(&r->cinfo, &row, 1);
    }
    if (r->cinfo.output_scanline == r->cinfo.output_height)
        jpeg_finish_decompress(&r->cinfo); /* reads to EOI: a cut-off file is an error */
}

static unet_status rows_guarded(jpeg_reader *r, uint8_t *rows, int n_rows)
{
    if (setjmp(r->jump))
        return UNET_ERR_PARSE;
    rows_steps(r, rows, n_rows);
    return UNET_OK;
}

static void reader_destroy(jpeg_reader *r)
{
    if (r->created)
        jpeg_destroy_decompress(&r->cinfo);
    free(r->pixels);
    free(r);
}

unet_status unet_jpeg_rows_open(const unet_image_source *src, unet_jpeg_rows **out, int *width,
                                int *height, int *channels)
{
    *out = NULL;
    unet_jpeg_rows *j = calloc(1, sizeof *j);
    if (j)
        j->r = reader_create(src);
    if (!j || !j->r) {
        free(j);
        return unet_set_error(UNET_ERR_NOMEM, "%s: cannot create JPEG decoder", src->name);
    }
    size_t bytes;
    unet_status s = header_guarded(j->r, &bytes);
    if (s != UNET_OK) {
        if (j->r->msg[0])
            unet_set_error(s, "%s: cannot decode JPEG: %s", src->name, j->r->msg);
        unet_jpeg_rows_close(j);
        return s;
    }
    *width = j->r->width;
    *height = j->r->height;
    *channels = j->r->channels;
    *out = j;
    return UNET_OK;
}

unet_status unet_jpeg_rows_read(unet_jpeg_rows *j, uint8_t *rows, int n_rows)
{
    jpeg_reader *r = j->r;
    if (n_rows < 0 || n_rows > r->height - j->next_row)
        return unet_set_error(UNET_ERR_ARG, "%s: %d rows asked for, %d of %d left", r->src->name, n_rows,
                              r->height - j->next_row, r->height);
    unet_status s = rows_guarded(r, rows, n_rows);
    if (s != UNET_OK)
        return unet_set_error(s, "%s: cannot decode JPEG: %s", r->src->name, r->msg);
    j->next_row += n_rows;
    return UNET_OK;
}

void unet_jpeg_rows_close(unet_jpeg_rows *j)
{
    if (!j)
        return;
    reader_destroy(j->r);
    free(j);
}
