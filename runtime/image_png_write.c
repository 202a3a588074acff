/* Whole PNG images through libpng, written atomically (8-bit and palette
 * images with tEXt chunks), and PNG in memory (see image_png.h). */
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

/* ---- writing ---- */

typedef struct png_writer {
    png_err err;            /* first member: it is the libpng error pointer */
    FILE *file;
    png_structp png;
    png_infop info;
    int width, height, color_type;
    png_bytep *rows;
    png_color *palette;
    int n_colors;
    png_text *texts;
    int n_texts;
} png_writer;

static void write_file(png_structp png, png_bytep data, size_t n)
{
    png_writer *w = png_get_io_ptr(png);
    if (fwrite(data, 1, n, w->file) != n) {
        snprintf(w->err.msg, sizeof w->err.msg, "write error: %s", strerror(errno));
        png_error(png, w->err.msg);
    }
}

void png_flush_nothing(png_structp png) { (void)png; }

static void write_steps(png_writer *w)
{
    png_set_IHDR(w->png, w->info, (png_uint_32)w->width, (png_uint_32)w->height, 8, w->color_type,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (w->palette)
        png_set_PLTE(w->png, w->info, w->palette, w->n_colors);
    if (w->n_texts > 0)
        png_set_text(w->png, w->info, w->texts, w->n_texts);
    png_write_info(w->png, w->info); /* tEXt goes before IDAT, cheap to find */
    png_write_image(w->png, w->rows);
    png_write_end(w->png, NULL);
}

static unet_status write_guarded(png_writer *w)
{
    if (setjmp(png_jmpbuf(w->png)))
        return w->err.status;
    write_steps(w);
    return UNET_OK;
}

static unet_status encode(png_writer *w, const char *path)
{
    w->err.status = UNET_ERR_IO;
    w->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &w->err, on_png_error, on_png_warning);
    if (w->png)
        w->info = png_create_info_struct(w->png);
    if (!w->png || !w->info) {
        png_destroy_write_struct(w->png ? &w->png : NULL, NULL);
        return unet_set_error(UNET_ERR_NOMEM, "%s: cannot create PNG encoder", path);
    }
    png_set_write_fn(w->png, w, write_file, png_flush_nothing);
    unet_status s = write_guarded(w);
    if (s != UNET_OK)
        unet_set_error(s, "%s: writing PNG: %s", path, w->err.msg);
    png_destroy_write_struct(&w->png, &w->info);
    return s;
}

/* Readers never see half a file, and a process killed at any point leaves
 * no temporary file behind: the PNG is encoded into an unnamed file in the
 * same folder (atomic_file_open_unnamed), synced, and only then named (a
 * SIGKILL during unet-infer used to leave PATH.tmp.* files). */
static unet_status write_atomically(const char *path, png_writer *w)
{
    atomic_file a;
    UNET_TRY(atomic_file_open_unnamed(&a, path));
    w->file = a.f;
    const unet_status s = encode(w, path);
    w->file = NULL;
    if (s != UNET_OK) {
        atomic_file_discard(&a);
        return s;
    }
    return atomic_file_commit(&a, 0);
}

/* PNG keywords: 1-79 printable Latin-1 characters. */
unet_status png_check_texts(const char *path, const unet_png_text *texts, int n_texts)
{
    if (n_texts < 0 || (n_texts > 0 && !texts))
        return unet_set_error(UNET_ERR_ARG, "%s: bad tEXt list (%d entries)", path, n_texts);
    for (int i = 0; i < n_texts; i++) {
        const char *key = texts[i].key;
        size_t n = key ? strlen(key) : 0;
        if (n < 1 || n > 79)
            return unet_set_error(UNET_ERR_ARG, "%s: tEXt keyword %d must be 1 to 79 characters", path, i);
        for (size_t j = 0; j < n; j++) {
            unsigned char ch = (unsigned char)key[j];
            if (ch < 32 || (ch > 126 && ch < 161))
                return unet_set_error(UNET_ERR_ARG, "%s: tEXt keyword \"%s\" has a non-printable character",
                                      path, key);
        }
        if (!texts[i].value)
            return unet_set_error(UNET_ERR_ARG, "%s: tEXt \"%s\" has no value", path, key);
    }
    return UNET_OK;
}

/* Fills the row and text tables (libpng wants non-const pointers; it only reads). */
static unet_status prepare(const char *path, png_writer *w, const uint8_t *pixels, size_t row_bytes,
                           const unet_png_text *texts, int n_texts)
{
    w->rows = malloc((size_t)w->height * sizeof *w->rows);
    w->texts = n_texts > 0 ? calloc((size_t)n_texts, sizeof *w->texts) : NULL;
    if (!w->rows || (n_texts > 0 && !w->texts))
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
    for (int y = 0; y < w->height; y++)
        w->rows[y] = (png_bytep)(uintptr_t)(pixels + (size_t)y * row_bytes);
    for (int i = 0; i < n_texts; i++) {
        w->texts[i].compression = PNG_TEXT_COMPRESSION_NONE;
        w->texts[i].key = (png_charp)(uintptr_t)texts[i].key;
        w->texts[i].text = (png_charp)(uintptr_t)texts[i].value;
        w->texts[i].text_length = strlen(texts[i].value);
    }
    w->n_texts = n_texts;
    return UNET_OK;
}

static void release(png_writer *w)
{
    free(w->rows);
    free(w->texts);
    free(w->palette);
}

unet_status png_check_size_for_write(const char *path, int width, int height)
{
    if (width < 1 || height < 1)
        return unet_set_error(UNET_ERR_ARG, "%s: cannot write a %dx%d image", path, width, height);
    if ((uint64_t)width * (uint64_t)height > SIZE_MAX / 4)
        return unet_set_error(UNET_ERR_LIMIT, "%s: %dx%d image is too large", path, width, height);
    return UNET_OK;
}

unet_status unet_png_write(const char *path, const unet_image *img, const unet_png_text *texts,
                           int n_texts)
{
    static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                       PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    if (!path || !img)
        return unet_set_error(UNET_ERR_ARG, "unet_png_write: %s is NULL", path ? "image" : "path");
    UNET_TRY(png_check_size_for_write(path, img->width, img->height));
    if (img->channels < 1 || img->channels > 4 || !img->pixels)
        return unet_set_error(UNET_ERR_ARG, "%s: cannot write an image with %d channels%s", path,
                              img->channels, img->pixels ? "" : " and no pixels");
    UNET_TRY(png_check_texts(path, texts, n_texts));

    png_writer w = {.width = img->width, .height = img->height,
                    .color_type = color_types[img->channels]};
    unet_status s = prepare(path, &w, img->pixels, (size_t)img->width * (size_t)img->channels,
                            texts, n_texts);
    if (s == UNET_OK)
        s = write_atomically(path, &w);
    release(&w);
    return s;
}

unet_status unet_png_encode_memory(const unet_image *img, void **data, size_t *size)
{
    static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                       PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    const char *what = "PNG in memory";
    if (!img || !data || !size)
        return unet_set_error(UNET_ERR_ARG, "unet_png_encode_memory: %s is NULL",
                              !img ? "image" : "output");
    *data = NULL;
    *size = 0;
    UNET_TRY(png_check_size_for_write(what, img->width, img->height));
    if (img->channels < 1 || img->channels > 4 || !img->pixels)
        return unet_set_error(UNET_ERR_ARG, "%s: cannot encode an image with %d channels%s", what,
                              img->channels, img->pixels ? "" : " and no pixels");
    png_writer w = {.width = img->width, .height = img->height,
                    .color_type = color_types[img->channels]};
    unet_status s = prepare(what, &w, img->pixels, (size_t)img->width * (size_t)img->channels, NULL, 0);
    char *buf = NULL;
    size_t len = 0;
    /* The file writer's fwrite path, into a growing buffer: one encoder for both. */
    if (s == UNET_OK && !(w.file = open_memstream(&buf, &len)))
        s = unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", what);
    if (s == UNET_OK)
        s = encode(&w, what);
    if (w.file && fclose(w.file) != 0 && s == UNET_OK)
        s = unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", what);
    release(&w);
    if (s != UNET_OK) {
        free(buf);
        return s;
    }
    *data = buf;
    *size = len;
    return UNET_OK;
}

unet_status unet_png_write_indexed(const char *path, int width, int height, const uint8_t *indices,
                                   const uint8_t *palette_rgb, int n_colors,
                                   const unet_png_text *texts, int n_texts)
{
    if (!path)
        return unet_set_error(UNET_ERR_ARG, "unet_png_write_indexed: path is NULL");
    UNET_TRY(png_check_size_for_write(path, width, height));
    if (!indices || !palette_rgb || n_colors < 1 || n_colors > 256)
        return unet_set_error(UNET_ERR_ARG, "%s: palette PNG needs indices and 1 to 256 colours (got %d)",
                              path, n_colors);
    UNET_TRY(png_check_texts(path, texts, n_texts));
    /* An index past the palette makes a PNG that decoders reject or misread. */
    size_t n = (size_t)width * (size_t)height;
    for (size_t i = 0; i < n; i++)
        if (indices[i] >= n_colors)
            return unet_set_error(UNET_ERR_ARG, "%s: pixel (%zu, %zu) has index %d, palette has %d colours",
                                  path, i % (size_t)width, i / (size_t)width, indices[i], n_colors);

    png_writer w = {.width = width, .height = height, .color_type = PNG_COLOR_TYPE_PALETTE,
                    .n_colors = n_colors};
    unet_status s = prepare(path, &w, indices, (size_t)width, texts, n_texts);
    if (s == UNET_OK) {
        w.palette = malloc((size_t)n_colors * sizeof *w.palette);
        if (!w.palette)
            s = unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
    }
    if (s == UNET_OK) {
        for (int i = 0; i < n_colors; i++) {
            w.palette[i].red = palette_rgb[3 * i];
            w.palette[i].green = palette_rgb[3 * i + 1];
            w.palette[i].blue = palette_rgb[3 * i + 2];
        }
        s = write_atomically(path, &w);
    }
    release(&w);
    return s;
}

