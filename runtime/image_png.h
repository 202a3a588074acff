/* The libpng glue the PNG files share (internal): libpng reports errors by
 * longjmp. Each setjmp sits in a tiny function with no locals of its own
 * ("*_guarded"); everything that must survive the jump lives in a context
 * struct owned by the caller, which also frees it. Its first member is a
 * png_err, given to libpng as the error pointer.
 *   image_png_read.c    decoding, whole or row by row
 *   image_png_write.c   whole images, atomically, and PNG in memory
 *   image_png_stream.c  rows as the caller makes them, atomically
 *   image_png_text.c    one tEXt value by a chunk walk */
#ifndef UNET_RUNTIME_IMAGE_PNG_H
#define UNET_RUNTIME_IMAGE_PNG_H

#include <png.h>

#include <unet/image.h>
#include <unet/unet.h>

typedef struct png_err {
    char msg[256];          /* why libpng stopped */
    unet_status status;     /* status to report for it */
} png_err;

/* libpng's error callback: keeps the first message, longjmps. */
void on_png_error(png_structp png, png_const_charp msg);
/* Warnings (bad ancillary chunks, sRGB profile quirks) do not affect pixels. */
void on_png_warning(png_structp png, png_const_charp msg);

/* For the writers: PNG keywords are 1-79 printable Latin-1 characters, and
 * images 1x1 up to what fits in memory. */
unet_status png_check_texts(const char *path, const unet_png_text *texts, int n_texts);
unet_status png_check_size_for_write(const char *path, int width, int height);
void png_flush_nothing(png_structp png);

#endif
