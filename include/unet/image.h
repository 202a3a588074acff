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

/* A tEXt chunk to store in a PNG. */
typedef struct unet_png_text {
    const char *key;
    const char *value;
} unet_png_text;

/* Writes an 8-bit gray/GA/RGB/RGBA PNG atomically (temporary file + rename). */
unet_status unet_png_write(const char *path, const unet_image *img,
                           const unet_png_text *texts, int n_texts);
/* Writes an 8-bit palette PNG atomically: pixel value = index into palette
 * (palette_rgb holds n_colors RGB triples, n_colors <= 256). */
unet_status unet_png_write_indexed(const char *path, int width, int height,
                                   const uint8_t *indices, const uint8_t *palette_rgb,
                                   int n_colors, const unet_png_text *texts, int n_texts);
/* Reads the value of tEXt chunk key from a PNG into buf; UNET_OK and "" when the
 * file has no such chunk. */
unet_status unet_png_read_text(const char *path, const char *key, char *buf, size_t buf_size);

#ifdef __cplusplus
}
#endif
#endif
