/* PNG decoding through libpng: any colour type and bit depth to 8-bit
 * pixels, whole or row by row (see image_png.h). */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "image_codecs.h"
#include "image_png.h"

/* ---- errors shared by reading and writing ---- */

void on_png_error(png_structp png, png_const_charp msg)
{
    png_err *e = png_get_error_ptr(png);
    /* Our own I/O callbacks fill msg before calling png_error; keep theirs. */
    if (e->msg[0] == '\0')
        snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}

/* Warnings (bad ancillary chunks, sRGB profile quirks) do not affect pixels. */
void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* ---- reading ---- */

typedef struct png_reader {
    png_err err;            /* first member: it is the libpng error pointer */
    const unet_image_source *src;
    size_t pos;             /* next byte of a memory source */
    int palette_index;
    png_structp png;
    png_infop info;
    uint8_t *pixels;
    png_bytep *rows;
    int width, height, channels;
} png_reader;

static void read_source(png_structp png, png_bytep out, size_t n)
{
    png_reader *r = png_get_io_ptr(png);
    if (r->src->file) {
        size_t got = fread(out, 1, n, r->src->file);
        if (got == n)
            return;
        if (ferror(r->src->file)) {
            snprintf(r->err.msg, sizeof r->err.msg, "read error: %s", strerror(errno));
            r->err.status = UNET_ERR_IO;
        } else {
            snprintf(r->err.msg, sizeof r->err.msg, "file ends early (truncated)");
        }
        png_error(png, r->err.msg);
    }
    if (n > r->src->size - r->pos) {
        snprintf(r->err.msg, sizeof r->err.msg, "data ends early (truncated)");
        png_error(png, r->err.msg);
    }
    memcpy(out, r->src->data + r->pos, n);
    r->pos += n;
}

/* From png_read_info to png_read_update_info: the transforms that give 8-bit
 * samples, and the size checks. Returns a status of its own for limits;
 * libpng's errors leave through the longjmp. */
static unet_status header_steps(png_reader *r, size_t *bytes_out, int *interlaced)
{
    png_structp png = r->png;
    png_infop info = r->info;
    const char *name = r->src->name;

    /* libpng's own caps (1e6 per side) would give a vaguer message than ours. */
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    /* libpng allocates a buffer of the declared length for text and other
     * metadata chunks before reading them: a 100-byte file declaring a 2 GB
     * tEXt chunk made it allocate 2 GB (found by fuzz_png; the chunk malloc
     * cap did not apply). Pixels need none of them, so all ancillary chunks
     * but tRNS are skipped unread (-1 means exactly that list). */
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_read_info(png, info);
    png_uint_32 width, height;
    int depth, color_type, interlace;
    png_get_IHDR(png, info, &width, &height, &depth, &color_type, &interlace, NULL, NULL);

    /* png_read_update_info allocates row buffers: check the size before it. */
    size_t bytes;
    UNET_TRY(unet_image_check_size(name, width, height, 1, &bytes));

    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        if (r->palette_index) {
            if (depth < 8)
                png_set_packing(png); /* one index per byte, values unchanged */
        } else {
            png_set_palette_to_rgb(png); /* also turns tRNS into an alpha channel */
        }
    } else if (depth < 8) {
        png_set_expand_gray_1_2_4_to_8(png); /* scaled to 0..255 */
    }
    /* A tRNS colour key on gray/RGB images is not turned into alpha: the
     * channel count then follows the colour type alone. */
    if (depth == 16)
        png_set_scale_16(png); /* rounds v * 255 / 65535 */
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    UNET_TRY(unet_image_check_size(name, width, height, channels, &bytes));
    if (png_get_bit_depth(png, info) != 8 || png_get_rowbytes(png, info) != (size_t)width * channels)
        return unet_set_error(UNET_ERR_UNSUPPORTED,
                              "%s: PNG colour type %d, bit depth %d did not convert to 8-bit samples",
                              name, color_type, depth);
    r->width = (int)width;
    r->height = (int)height;
    r->channels = channels;
    *bytes_out = bytes;
    *interlaced = interlace != PNG_INTERLACE_NONE;
    return UNET_OK;
}

/* Decodes every row into r->pixels, then reads to IEND (a cut-off file is an
 * error). */
static unet_status rows_whole_steps(png_reader *r, size_t bytes)
{
    r->pixels = malloc(bytes);
    r->rows = malloc((size_t)r->height * sizeof *r->rows);
    if (!r->pixels || !r->rows)
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory for a %dx%d image", r->src->name, r->width,
                              r->height);
    for (int y = 0; y < r->height; y++)
        r->rows[y] = r->pixels + (size_t)y * r->width * r->channels;
    png_read_image(r->png, r->rows);
    png_read_end(r->png, NULL);
    return UNET_OK;
}

/* Everything between png_read_info and png_read_end. */
static unet_status read_steps(png_reader *r)
{
    size_t bytes;
    int interlaced;
    UNET_TRY(header_steps(r, &bytes, &interlaced));
    return rows_whole_steps(r, bytes);
}

static unet_status read_guarded(png_reader *r)
{
    if (setjmp(png_jmpbuf(r->png)))
        return r->err.status;
    return read_steps(r);
}

/* Creates the libpng structs of r (set up by the caller). */
static unet_status create_decoder(png_reader *r)
{
    r->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r->err, on_png_error, on_png_warning);
    if (r->png)
        r->info = png_create_info_struct(r->png);
    if (!r->png || !r->info) {
        png_destroy_read_struct(r->png ? &r->png : NULL, NULL, NULL);
        r->png = NULL;
        return unet_set_error(UNET_ERR_NOMEM, "%s: cannot create PNG decoder", r->src->name);
    }
    png_set_read_fn(r->png, r, read_source);
    return UNET_OK;
}

unet_status unet_png_decode(const unet_image_source *src, int palette_index, unet_image *out)
{
    memset(out, 0, sizeof *out);
    png_reader r = {.err = {.status = UNET_ERR_PARSE}, .src = src, .palette_index = palette_index};
    UNET_TRY(create_decoder(&r));

    unet_status s = read_guarded(&r);
    if (s == UNET_OK) {
        out->width = r.width;
        out->height = r.height;
        out->channels = r.channels;
        out->pixels = r.pixels;
        r.pixels = NULL;
    } else if (r.err.msg[0]) {
        unet_set_error(s, "%s: cannot decode PNG: %s", src->name, r.err.msg);
    }
    png_destroy_read_struct(&r.png, &r.info, NULL);
    free(r.rows);
    free(r.pixels);
    return s;
}

/* ---- row by row: png_read_row for plain files; interlaced ones (whose
 * passes each cover the whole image) are decoded whole behind the same calls */

struct unet_png_rows {
    png_reader r;
    int interlaced;
    int next_row;
};

static unet_status rows_header_guarded(unet_png_rows *p, size_t *bytes)
{
    if (setjmp(png_jmpbuf(p->r.png)))
        return p->r.err.status;
    return header_steps(&p->r, bytes, &p->interlaced);
}

static unet_status rows_whole_guarded(png_reader *r, size_t bytes)
{
    if (setjmp(png_jmpbuf(r->png)))
        return r->err.status;
    return rows_whole_steps(r, bytes);
}

static void rows_steps(unet_png_rows *p, uint8_t *rows, int n_rows)
{
    png_reader *r = &p->r;
    size_t stride = (size_t)r->width * (size_t)r->channels;
    for (int i = 0; i < n_rows; i++)
        png_read_row(r->png, rows + (size_t)i * stride, NULL);
    if (p->next_row + n_rows == r->height)
        png_read_end(r->png, NULL); /* reaches IEND: a cut-off file is an error */
}

static unet_status rows_guarded(unet_png_rows *p, uint8_t *rows, int n_rows)
{
    if (setjmp(png_jmpbuf(p->r.png)))
        return p->r.err.status;
    rows_steps(p, rows, n_rows);
    return UNET_OK;
}

unet_status unet_png_rows_open(const unet_image_source *src, int palette_index, unet_png_rows **out, int *width,
                               int *height, int *channels)
{
    *out = NULL;
    unet_png_rows *p = calloc(1, sizeof *p);
    if (!p)
        return unet_set_error(UNET_ERR_NOMEM, "%s: cannot create PNG decoder", src->name);
    p->r.err.status = UNET_ERR_PARSE;
    p->r.src = src;
    p->r.palette_index = palette_index;
    unet_status s = create_decoder(&p->r);
    size_t bytes = 0;
    if (s == UNET_OK && (s = rows_header_guarded(p, &bytes)) != UNET_OK && p->r.err.msg[0])
        unet_set_error(s, "%s: cannot decode PNG: %s", src->name, p->r.err.msg);
    if (s == UNET_OK && p->interlaced && (s = rows_whole_guarded(&p->r, bytes)) != UNET_OK && p->r.err.msg[0])
        unet_set_error(s, "%s: cannot decode PNG: %s", src->name, p->r.err.msg);
    if (s != UNET_OK) {
        unet_png_rows_close(p);
        return s;
    }
    *width = p->r.width;
    *height = p->r.height;
    *channels = p->r.channels;
    *out = p;
    return UNET_OK;
}

unet_status unet_png_rows_read(unet_png_rows *p, uint8_t *rows, int n_rows)
{
    png_reader *r = &p->r;
    if (n_rows < 0 || n_rows > r->height - p->next_row)
        return unet_set_error(UNET_ERR_ARG, "%s: %d rows asked for, %d of %d left", r->src->name, n_rows,
                              r->height - p->next_row, r->height);
    if (p->interlaced) {
        size_t stride = (size_t)r->width * (size_t)r->channels;
        memcpy(rows, r->pixels + (size_t)p->next_row * stride, (size_t)n_rows * stride);
    } else {
        unet_status s = rows_guarded(p, rows, n_rows);
        if (s != UNET_OK)
            return unet_set_error(s, "%s: cannot decode PNG: %s", r->src->name, r->err.msg);
    }
    p->next_row += n_rows;
    return UNET_OK;
}

void unet_png_rows_close(unet_png_rows *p)
{
    if (!p)
        return;
    if (p->r.png)
        png_destroy_read_struct(&p->r.png, &p->r.info, NULL);
    free(p->r.rows);
    free(p->r.pixels);
    free(p);
}

