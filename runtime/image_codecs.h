/* Internal interface between the image front end (image.c) and the decoders
 * (image_png_read.c, image_jpeg.c; the PNG writers are image_png.h's). */
#ifndef UNET_RUNTIME_IMAGE_CODECS_H
#define UNET_RUNTIME_IMAGE_CODECS_H

#include <stdint.h>
#include <stdio.h>
#include <unet/image.h>

/* Where encoded bytes come from: an open file positioned at its first byte, or
 * a memory buffer when file is NULL. name is only used in messages. */
typedef struct unet_image_source {
    const char *name;
    FILE *file;
    const uint8_t *data;
    size_t size;
} unet_image_source;

/* Decoders fill out (zeroed on failure) and record messages naming the source. */
unet_status unet_png_decode(const unet_image_source *src, int palette_index, unet_image *out);
unet_status unet_jpeg_decode(const unet_image_source *src, unet_image *out);

/* Row-by-row decoding behind unet_image_reader: open reads the header and
 * gives the decoded size; read gives the next rows (width * channels bytes
 * each), reading to the end of the file with the last one; after an error
 * only close is allowed. */
typedef struct unet_png_rows unet_png_rows;
unet_status unet_png_rows_open(const unet_image_source *src, int palette_index, unet_png_rows **out,
                               int *width, int *height, int *channels);
unet_status unet_png_rows_read(unet_png_rows *p, uint8_t *rows, int n_rows);
void unet_png_rows_close(unet_png_rows *p);
typedef struct unet_jpeg_rows unet_jpeg_rows;
unet_status unet_jpeg_rows_open(const unet_image_source *src, unet_jpeg_rows **out, int *width,
                                int *height, int *channels);
unet_status unet_jpeg_rows_read(unet_jpeg_rows *j, uint8_t *rows, int n_rows);
void unet_jpeg_rows_close(unet_jpeg_rows *j);

/* Checks a declared size against unet_image_max_pixels() and gives the byte
 * count of the 8-bit pixel buffer; call before allocating anything that size. */
unet_status unet_image_check_size(const char *name, uint64_t width, uint64_t height,
                                  int channels, size_t *bytes);

#endif
