/* Image front end: picks the decoder from the first bytes (never the file
 * name), applies the read flags and owns the pixel cap. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image_codecs.h"

#define DEFAULT_MAX_PIXELS ((uint64_t)1 << 28)

static _Atomic uint64_t max_pixels = DEFAULT_MAX_PIXELS;

/* 0 restores the default, like the zero fields of unet_load_options. */
void unet_image_set_max_pixels(uint64_t n)
{
    atomic_store(&max_pixels, n ? n : DEFAULT_MAX_PIXELS);
}

uint64_t unet_image_max_pixels(void) { return atomic_load(&max_pixels); }

unet_status unet_image_check_size(const char *name, uint64_t width, uint64_t height,
                                  int channels, size_t *bytes)
{
    uint64_t cap = unet_image_max_pixels();
    if (width == 0 || height == 0)
        return unet_set_error(UNET_ERR_PARSE, "%s: image declares an empty size %llux%llu",
                              name, (unsigned long long)width, (unsigned long long)height);
    if (width > INT32_MAX || height > INT32_MAX) /* unet_image holds ints */
        return unet_set_error(UNET_ERR_LIMIT, "%s: image is %llux%llu pixels, a side beyond 2^31-1",
                              name, (unsigned long long)width, (unsigned long long)height);
    /* Both sides below 2^31, so the product cannot overflow. */
    if (width * height > cap)
        return unet_set_error(UNET_ERR_LIMIT,
                              "%s: image is %llux%llu pixels, more than the limit of %llu pixels",
                              name, (unsigned long long)width, (unsigned long long)height,
                              (unsigned long long)cap);
    uint64_t n = width * height;
    if (n > SIZE_MAX / 4 / (uint64_t)channels)
        return unet_set_error(UNET_ERR_LIMIT, "%s: image of %llux%llu pixels does not fit in memory",
                              name, (unsigned long long)width, (unsigned long long)height);
    *bytes = (size_t)n * (size_t)channels;
    return UNET_OK;
}

void unet_image_free(unet_image *img)
{
    if (!img)
        return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* Names formats people are likely to feed by mistake, for a helpful message. */
static const char *other_format_name(const uint8_t *b, size_t n)
{
    if (n >= 4 && memcmp(b, "GIF8", 4) == 0) return "GIF";
    if (n >= 2 && memcmp(b, "BM", 2) == 0) return "BMP";
    if (n >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0)) return "TIFF";
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) return "WebP";
    return NULL;
}

/* n pixels of c channels to RGB: gray replicated, alpha dropped. */
static void to_rgb(const uint8_t *s, int c, size_t n, uint8_t *rgb)
{
    for (size_t i = 0; i < n; i++, s += c) {
        if (c <= 2) {
            rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = s[0];
        } else {
            rgb[3 * i] = s[0];
            rgb[3 * i + 1] = s[1];
            rgb[3 * i + 2] = s[2];
        }
    }
}

/* Converts any channel count to RGB: gray replicated, alpha dropped. */
static unet_status force_rgb(const char *name, unet_image *img)
{
    if (img->channels == 3)
        return UNET_OK;
    size_t n = (size_t)img->width * (size_t)img->height;
    uint8_t *rgb = malloc(n * 3);
    if (!rgb)
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory converting %dx%d image to RGB",
                              name, img->width, img->height);
    to_rgb(img->pixels, img->channels, n, rgb);
    free(img->pixels);
    img->pixels = rgb;
    img->channels = 3;
    return UNET_OK;
}

static unet_status check_flags(const char *name, int flags)
{
    if (flags & ~(UNET_IMAGE_PALETTE_INDEX | UNET_IMAGE_FORCE_RGB))
        return unet_set_error(UNET_ERR_ARG, "%s: unknown image read flags 0x%x", name, flags);
    if ((flags & UNET_IMAGE_PALETTE_INDEX) && (flags & UNET_IMAGE_FORCE_RGB))
        return unet_set_error(UNET_ERR_ARG,
                              "%s: UNET_IMAGE_PALETTE_INDEX and UNET_IMAGE_FORCE_RGB exclude each other",
                              name);
    return UNET_OK;
}

typedef enum format { FORMAT_PNG, FORMAT_JPEG } format;

/* The format from the first bytes, or an error naming what the file is. */
static unet_status sniff(const char *name, const uint8_t *head, size_t head_len, format *fmt)
{
    if (head_len == 0)
        return unet_set_error(UNET_ERR_PARSE, "%s: empty file, not an image", name);
    if (head_len >= sizeof png_signature && memcmp(head, png_signature, sizeof png_signature) == 0) {
        *fmt = FORMAT_PNG;
        return UNET_OK;
    }
    if (head_len >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff) {
        *fmt = FORMAT_JPEG;
        return UNET_OK;
    }
    const char *other = other_format_name(head, head_len);
    if (other)
        return unet_set_error(UNET_ERR_UNSUPPORTED,
                              "%s: %s image; only PNG and JPEG are supported", name, other);
    char hex[3 * 8 + 1] = "";
    for (size_t i = 0; i < head_len && i < 8; i++)
        snprintf(hex + 3 * i, sizeof hex - 3 * i, "%s%02x", i ? " " : "", head[i]);
    return unet_set_error(UNET_ERR_PARSE,
                          "%s: unknown image format (first bytes %s), expected PNG or JPEG",
                          name, hex);
}

static unet_status decode(const unet_image_source *src, const uint8_t *head, size_t head_len,
                          int flags, unet_image *out)
{
    format fmt;
    UNET_TRY(sniff(src->name, head, head_len, &fmt));
    unet_status s = fmt == FORMAT_PNG ? unet_png_decode(src, (flags & UNET_IMAGE_PALETTE_INDEX) != 0, out)
                                      : unet_jpeg_decode(src, out);
    if (s != UNET_OK)
        return s;
    if (flags & UNET_IMAGE_FORCE_RGB) {
        s = force_rgb(src->name, out);
        if (s != UNET_OK)
            unet_image_free(out);
    }
    return s;
}

unet_status unet_image_read(const char *path, int flags, unet_image *out)
{
    if (!out)
        return unet_set_error(UNET_ERR_ARG, "unet_image_read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path)
        return unet_set_error(UNET_ERR_ARG, "unet_image_read: path is NULL");
    UNET_TRY(check_flags(path, flags));
    FILE *f = fopen(path, "rb");
    if (!f)
        return unet_set_error(UNET_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t head[12];
    size_t n = fread(head, 1, sizeof head, f);
    if (n < sizeof head && ferror(f)) {
        int e = errno;
        fclose(f);
        return unet_set_error(UNET_ERR_IO, "%s: cannot read: %s", path, strerror(e));
    }
    if (fseek(f, 0, SEEK_SET) != 0) {
        int e = errno;
        fclose(f);
        return unet_set_error(UNET_ERR_IO, "%s: cannot seek: %s", path, strerror(e));
    }
    unet_image_source src = {.name = path, .file = f};
    unet_status s = decode(&src, head, n, flags, out);
    fclose(f);
    return s;
}

unet_status unet_image_read_memory(const void *data, size_t size, const char *name, int flags,
                                   unet_image *out)
{
    if (!name)
        name = "<memory>";
    if (!out)
        return unet_set_error(UNET_ERR_ARG, "%s: unet_image_read_memory: out is NULL", name);
    memset(out, 0, sizeof *out);
    if (!data && size > 0)
        return unet_set_error(UNET_ERR_ARG, "%s: unet_image_read_memory: data is NULL", name);
    UNET_TRY(check_flags(name, flags));
    unet_image_source src = {.name = name, .data = data, .size = size};
    return decode(&src, data, size, flags, out);
}

/* ---- row by row ---- */

struct unet_image_reader {
    FILE *file;
    char *path;
    unet_image_source src;
    unet_png_rows *png;
    unet_jpeg_rows *jpeg;
    int width, height, channels;    /* as given to the caller */
    int decoded_channels;           /* as the decoder gives them */
    uint8_t *row;                   /* one decoded row, when converting to RGB */
    int next_row;
    int broken;
};

void unet_image_reader_close(unet_image_reader *r)
{
    if (!r)
        return;
    unet_png_rows_close(r->png);
    unet_jpeg_rows_close(r->jpeg);
    if (r->file)
        fclose(r->file);
    free(r->path);
    free(r->row);
    free(r);
}

unet_status unet_image_reader_open(const char *path, int flags, unet_image_reader **out)
{
    if (!out)
        return unet_set_error(UNET_ERR_ARG, "unet_image_reader_open: out is NULL");
    *out = NULL;
    if (!path)
        return unet_set_error(UNET_ERR_ARG, "unet_image_reader_open: path is NULL");
    UNET_TRY(check_flags(path, flags));
    unet_image_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
    }
    r->file = fopen(path, "rb");
    if (!r->file) {
        unet_status s = unet_set_error(UNET_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        unet_image_reader_close(r);
        return s;
    }
    uint8_t head[12];
    size_t n = fread(head, 1, sizeof head, r->file);
    unet_status s = UNET_OK;
    if ((n < sizeof head && ferror(r->file)) || fseek(r->file, 0, SEEK_SET) != 0)
        s = unet_set_error(UNET_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    format fmt = FORMAT_PNG;
    if (s == UNET_OK)
        s = sniff(path, head, n, &fmt);
    r->src.name = r->path;
    r->src.file = r->file;
    if (s == UNET_OK)
        s = fmt == FORMAT_PNG ? unet_png_rows_open(&r->src, (flags & UNET_IMAGE_PALETTE_INDEX) != 0, &r->png,
                                                   &r->width, &r->height, &r->decoded_channels)
                              : unet_jpeg_rows_open(&r->src, &r->jpeg, &r->width, &r->height, &r->decoded_channels);
    r->channels = r->decoded_channels;
    if (s == UNET_OK && (flags & UNET_IMAGE_FORCE_RGB) && r->decoded_channels != 3) {
        r->channels = 3;
        if (!(r->row = malloc((size_t)r->width * (size_t)r->decoded_channels)))
            s = unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
    }
    if (s != UNET_OK) {
        unet_image_reader_close(r);
        return s;
    }
    *out = r;
    return UNET_OK;
}

void unet_image_reader_size(const unet_image_reader *r, int *width, int *height, int *channels)
{
    if (width)
        *width = r->width;
    if (height)
        *height = r->height;
    if (channels)
        *channels = r->channels;
}

static unet_status read_decoded(unet_image_reader *r, uint8_t *rows, int n_rows)
{
    return r->png ? unet_png_rows_read(r->png, rows, n_rows) : unet_jpeg_rows_read(r->jpeg, rows, n_rows);
}

unet_status unet_image_reader_read_rows(unet_image_reader *r, uint8_t *rows, int n_rows)
{
    if (!r || (n_rows > 0 && !rows))
        return unet_set_error(UNET_ERR_ARG, "unet_image_reader_read_rows: NULL argument");
    if (r->broken)
        return unet_set_error(UNET_ERR_ARG, "%s: an earlier read failed", r->path);
    if (n_rows < 0 || n_rows > r->height - r->next_row)
        return unet_set_error(UNET_ERR_ARG, "%s: %d rows asked for, %d of %d left", r->path, n_rows,
                              r->height - r->next_row, r->height);
    unet_status s = UNET_OK;
    if (!r->row) {
        s = read_decoded(r, rows, n_rows);
    } else {
        for (int i = 0; i < n_rows && s == UNET_OK; i++) {
            s = read_decoded(r, r->row, 1);
            if (s == UNET_OK)
                to_rgb(r->row, r->decoded_channels, (size_t)r->width, rows + (size_t)i * r->width * 3);
        }
    }
    if (s != UNET_OK) {
        r->broken = 1;
        return s;
    }
    r->next_row += n_rows;
    return UNET_OK;
}
