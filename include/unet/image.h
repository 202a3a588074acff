/* Image I/O shared by every unet program: PNG through libpng, JPEG through
 * libjpeg-turbo. Pixels are 8-bit, row-major, channels interleaved. */
#ifndef UNET_IMAGE_H
#define UNET_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <unet/unet.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct unet_image {
    int width;
    int height;
    int channels;      /* 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
    uint8_t *pixels;   /* width * height * channels bytes, owned */
} unet_image;

typedef enum unet_image_read_flags {
    UNET_IMAGE_DEFAULT = 0,
    /* Palette PNGs: keep the palette index as a 1-channel image instead of
     * expanding to colours (index masks). Other images are unaffected. */
    UNET_IMAGE_PALETTE_INDEX = 1,
    /* Convert whatever the file holds to 3-channel RGB (gray replicated,
     * alpha dropped, palette expanded). */
    UNET_IMAGE_FORCE_RGB = 2
} unet_image_read_flags;

/* Largest image accepted, in pixels, before any allocation (default 2^28). */
void unet_image_set_max_pixels(uint64_t max_pixels);
uint64_t unet_image_max_pixels(void);

/* Reads a PNG or JPEG file (detected by its first bytes, not its name).
 * 16-bit samples are reduced to 8 bits; interlaced PNGs are supported.
 * Errors name the file and the reason. */
unet_status unet_image_read(const char *path, int flags, unet_image *out);
unet_status unet_image_read_memory(const void *data, size_t size, const char *name,
                                   int flags, unet_image *out);
void unet_image_free(unet_image *img);

/* Row-by-row reading, for images too large to decode whole (big scenes):
 * rows come top to bottom, 8-bit, channels interleaved, exactly as
 * unet_image_read would give them with the same flags; memory stays about one
 * row. Exceptions decoded whole behind the same calls: interlaced PNGs
 * (libpng needs every pass) and, inside libjpeg, progressive JPEGs (their
 * coefficients). The last read also checks the file's end, so a cut-off file
 * fails there at the latest. After a failed read only close is allowed. */
typedef struct unet_image_reader unet_image_reader;
unet_status unet_image_reader_open(const char *path, int flags, unet_image_reader **out);
void unet_image_reader_size(const unet_image_reader *r, int *width, int *height, int *channels);
/* Reads the next n_rows rows into rows (n_rows * width * channels bytes). */
unet_status unet_image_reader_read_rows(unet_image_reader *r, uint8_t *rows, int n_rows);
void unet_image_reader_close(unet_image_reader *r);

/* A tEXt chunk to store in a PNG. */
typedef struct unet_png_text {
    const char *key;
    const char *value;
} unet_png_text;

/* Writes an 8-bit gray/GA/RGB/RGBA PNG atomically (temporary file + rename). */
unet_status unet_png_write(const char *path, const unet_image *img,
                           const unet_png_text *texts, int n_texts);
/* Encodes an 8-bit gray/GA/RGB/RGBA image as PNG into a malloc'd buffer
 * (*data, *size bytes; free() it), e.g. for data: URIs in HTML reports. */
unet_status unet_png_encode_memory(const unet_image *img, void **data, size_t *size);
/* Writes an 8-bit palette PNG atomically: pixel value = index into palette
 * (palette_rgb holds n_colors RGB triples, n_colors <= 256). */
unet_status unet_png_write_indexed(const char *path, int width, int height,
                                   const uint8_t *indices, const uint8_t *palette_rgb,
                                   int n_colors, const unet_png_text *texts, int n_texts);
/* Streaming PNG writer, for images too large to hold whole (masks of big
 * scenes): rows are encoded as they are given. The file is written to a
 * temporary in the same folder and renamed into place by close, so readers
 * never see part of it. channels 1..4 (gray, gray+alpha, RGB, RGBA); with
 * palette_rgb (n_colors RGB triples, 1..256) channels must be 1 and the image
 * is an 8-bit palette PNG whose pixels are checked against n_colors. */
typedef struct unet_png_writer unet_png_writer;
unet_status unet_png_writer_open(const char *path, int width, int height, int channels,
                                 const uint8_t *palette_rgb, int n_colors,
                                 const unet_png_text *texts, int n_texts,
                                 unet_png_writer **out);
/* Appends n_rows rows of width * channels bytes each, stored back to back.
 * After a failure the writer can only be discarded (close also refuses). */
unet_status unet_png_writer_write_rows(unet_png_writer *w, const uint8_t *rows, int n_rows);
/* Finishes the file and renames it into place; an error, and no file, unless
 * all height rows were written. Frees w in every case. */
unet_status unet_png_writer_close(unet_png_writer *w);
/* Abandons the image: removes the temporary file and frees w (NULL: no-op). */
void unet_png_writer_discard(unet_png_writer *w);

/* Reads the value of tEXt chunk key from a PNG into buf; UNET_OK and "" when the
 * file has no such chunk. */
unet_status unet_png_read_text(const char *path, const char *key, char *buf, size_t buf_size);

#ifdef __cplusplus
}
#endif
#endif
