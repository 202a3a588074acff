/* The streaming PNG writer (see image_png.h). */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "error.h"
#include "image_codecs.h"
#include "image_png.h"

/* ---- streaming writer: rows go out as the caller makes them, so an image
 * larger than memory can be written; the file still appears atomically ---- */

struct unet_png_writer {
    png_err err;            /* first member: it is the libpng error pointer */
    atomic_file out;        /* the temporary file, renamed at close */
    int out_open;
    FILE *file;             /* out.f */
    png_structp png;
    png_infop info;
    char *path;
    int width, height, channels, n_colors;
    int rows_done;
    int broken;             /* a call failed: the file can only be discarded */
};

static void stream_write_file(png_structp png, png_bytep data, size_t n)
{
    unet_png_writer *w = png_get_io_ptr(png);
    if (fwrite(data, 1, n, w->file) != n) {
        snprintf(w->err.msg, sizeof w->err.msg, "write error: %s", strerror(errno));
        png_error(png, w->err.msg);
    }
}

typedef struct stream_header {
    const uint8_t *palette_rgb;
    const unet_png_text *texts;
    int n_texts;
} stream_header;

/* libpng copies palette and text into its info struct, so the caller's
 * arrays need not outlive the open call. */
static void stream_header_steps(unet_png_writer *w, const stream_header *h)
{
    static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                       PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    int color_type = h->palette_rgb ? PNG_COLOR_TYPE_PALETTE : color_types[w->channels];
    png_set_IHDR(w->png, w->info, (png_uint_32)w->width, (png_uint_32)w->height, 8, color_type,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (h->palette_rgb) {
        png_color palette[256];
        for (int i = 0; i < w->n_colors; i++) {
            palette[i].red = h->palette_rgb[3 * i];
            palette[i].green = h->palette_rgb[3 * i + 1];
            palette[i].blue = h->palette_rgb[3 * i + 2];
        }
        png_set_PLTE(w->png, w->info, palette, w->n_colors);
    }
    for (int i = 0; i < h->n_texts; i++) {
        png_text t = {.compression = PNG_TEXT_COMPRESSION_NONE,
                      .key = (png_charp)(uintptr_t)h->texts[i].key,
                      .text = (png_charp)(uintptr_t)h->texts[i].value,
                      .text_length = strlen(h->texts[i].value)};
        png_set_text(w->png, w->info, &t, 1);
    }
    png_write_info(w->png, w->info); /* tEXt goes before IDAT, cheap to find */
}

static unet_status stream_header_guarded(unet_png_writer *w, const stream_header *h)
{
    if (setjmp(png_jmpbuf(w->png)))
        return w->err.status;
    stream_header_steps(w, h);
    return UNET_OK;
}

static void stream_rows_steps(unet_png_writer *w, const uint8_t *rows, int n_rows)
{
    size_t row_bytes = (size_t)w->width * (size_t)w->channels;
    for (int i = 0; i < n_rows; i++)
        png_write_row(w->png, (png_const_bytep)(rows + (size_t)i * row_bytes));
}

static unet_status stream_rows_guarded(unet_png_writer *w, const uint8_t *rows, int n_rows)
{
    if (setjmp(png_jmpbuf(w->png)))
        return w->err.status;
    stream_rows_steps(w, rows, n_rows);
    return UNET_OK;
}

static unet_status stream_end_guarded(unet_png_writer *w)
{
    if (setjmp(png_jmpbuf(w->png)))
        return w->err.status;
    png_write_end(w->png, NULL);
    return UNET_OK;
}

/* Frees everything; removes the temporary file unless it was committed. */
static void stream_free(unet_png_writer *w)
{
    if (w->png)
        png_destroy_write_struct(&w->png, &w->info);
    if (w->out_open)
        atomic_file_discard(&w->out);
    free(w->path);
    free(w);
}

unet_status unet_png_writer_open(const char *path, int width, int height, int channels,
                                 const uint8_t *palette_rgb, int n_colors,
                                 const unet_png_text *texts, int n_texts, unet_png_writer **out)
{
    if (!out)
        return unet_set_error(UNET_ERR_ARG, "unet_png_writer_open: out is NULL");
    *out = NULL;
    if (!path)
        return unet_set_error(UNET_ERR_ARG, "unet_png_writer_open: path is NULL");
    UNET_TRY(png_check_size_for_write(path, width, height));
    if (palette_rgb && (channels != 1 || n_colors < 1 || n_colors > 256))
        return unet_set_error(UNET_ERR_ARG,
                              "%s: palette PNG needs 1 channel and 1 to 256 colours (got %d channels, %d colours)",
                              path, channels, n_colors);
    if (channels < 1 || channels > 4)
        return unet_set_error(UNET_ERR_ARG, "%s: cannot write an image with %d channels", path, channels);
    UNET_TRY(png_check_texts(path, texts, n_texts));

    unet_png_writer *w = calloc(1, sizeof *w);
    if (w)
        w->path = strdup(path);
    if (!w || !w->path) {
        if (w)
            stream_free(w);
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
    }
    w->err.status = UNET_ERR_IO;
    w->width = width;
    w->height = height;
    w->channels = channels;
    w->n_colors = palette_rgb ? n_colors : 0;
    /* A named temporary file: a long scene's partial output can be seen. */
    unet_status opened = atomic_file_open(&w->out, w->path);
    if (opened != UNET_OK) {
        unet_wrap_error(opened, "%s", path);
        stream_free(w);
        return opened;
    }
    w->out_open = 1;
    w->file = w->out.f;
    w->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &w->err, on_png_error, on_png_warning);
    if (w->png)
        w->info = png_create_info_struct(w->png);
    if (!w->png || !w->info) {
        stream_free(w);
        return unet_set_error(UNET_ERR_NOMEM, "%s: cannot create PNG encoder", path);
    }
    png_set_write_fn(w->png, w, stream_write_file, png_flush_nothing);
    stream_header h = {palette_rgb, texts, n_texts};
    unet_status s = stream_header_guarded(w, &h);
    if (s != UNET_OK) {
        unet_set_error(s, "%s: writing PNG header: %s", path, w->err.msg);
        stream_free(w);
        return s;
    }
    *out = w;
    return UNET_OK;
}

unet_status unet_png_writer_write_rows(unet_png_writer *w, const uint8_t *rows, int n_rows)
{
    if (!w)
        return unet_set_error(UNET_ERR_ARG, "unet_png_writer_write_rows: writer is NULL");
    if (w->broken)
        return unet_set_error(UNET_ERR_ARG, "%s: an earlier write failed; discard the writer", w->path);
    if (n_rows < 0 || (n_rows > 0 && !rows) || n_rows > w->height - w->rows_done)
        return unet_set_error(UNET_ERR_ARG, "%s: %d more rows given, %d of %d rows are left", w->path,
                              n_rows, w->height - w->rows_done, w->height);
    if (w->n_colors > 0) {
        /* An index past the palette makes a PNG that decoders reject or misread. */
        size_t n = (size_t)n_rows * (size_t)w->width;
        for (size_t i = 0; i < n; i++)
            if (rows[i] >= w->n_colors)
                return unet_set_error(UNET_ERR_ARG, "%s: pixel (%zu, %zu) has index %d, palette has %d colours",
                                      w->path, i % (size_t)w->width, w->rows_done + i / (size_t)w->width,
                                      rows[i], w->n_colors);
    }
    unet_status s = stream_rows_guarded(w, rows, n_rows);
    if (s != UNET_OK) {
        w->broken = 1;
        return unet_set_error(s, "%s: writing PNG rows: %s", w->path, w->err.msg);
    }
    w->rows_done += n_rows;
    return UNET_OK;
}

unet_status unet_png_writer_close(unet_png_writer *w)
{
    if (!w)
        return unet_set_error(UNET_ERR_ARG, "unet_png_writer_close: writer is NULL");
    unet_status s = UNET_OK;
    if (w->broken)
        s = unet_set_error(UNET_ERR_ARG, "%s: an earlier write failed; nothing written", w->path);
    else if (w->rows_done != w->height)
        s = unet_set_error(UNET_ERR_ARG, "%s: closed after %d of %d rows; nothing written", w->path,
                           w->rows_done, w->height);
    if (s == UNET_OK && (s = stream_end_guarded(w)) != UNET_OK)
        unet_set_error(s, "%s: finishing PNG: %s", w->path, w->err.msg);
    if (s == UNET_OK) {
        w->out_open = 0;
        w->file = NULL;
        if ((s = atomic_file_commit(&w->out, 0)) != UNET_OK)
            unet_wrap_error(s, "%s", w->path);
    }
    stream_free(w);
    return s;
}

void unet_png_writer_discard(unet_png_writer *w)
{
    if (w)
        stream_free(w);
}
