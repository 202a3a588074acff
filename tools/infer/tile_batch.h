/* Running a segmentation model on a batch of equally sized tiles: 8-bit pixels
 * scaled as the model's metadata says into one float tensor (NCHW or NHWC),
 * one run, then the class of every pixel by argmax over output 0.
 * Shared by unet-infer (tile mode, infer_tiles.c) and unet-eval. */
#ifndef UNET_TOOLS_TILE_BATCH_H
#define UNET_TOOLS_TILE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include <unet/image.h>
#include <unet/meta.h>
#include <unet/unet.h>

typedef struct tile_batch {
    unet_session *session;    /* borrowed */
    unet_input_spec spec;     /* scale, mean, std; spec.nhwc is the layout */
    int channels;             /* input channels the model takes (3 unless its shape says) */
    float *input;             /* the batch tensor, grown as needed */
    size_t input_cap;         /* floats */
} tile_batch;

/* in is the model's input 0 (its channel dim decides `channels`). */
void tile_batch_init(tile_batch *tb, unet_session *session, const unet_input_spec *spec,
                     const unet_tensor_info *in);
void tile_batch_free(tile_batch *tb);

/* Fills the input tensor from n images of one size. Gray images are
 * replicated to every channel; channels past the image's are taken from its
 * first. flip: 0 none, 1 horizontal, 2 vertical (for test-time augmentation). */
unet_status tile_batch_fill(tile_batch *tb, const unet_image *const *images, int n, int flip);

/* Runs the filled batch of n tiles of h x w and checks output 0: float32,
 * [n, classes, h, w] (NCHW) or [n, h, w, classes] (NHWC), 1..255 classes.
 * out stays valid until the session runs again. */
unet_status tile_batch_run(tile_batch *tb, int n, int h, int w, unet_tensor *out, int *classes);

/* The class of each pixel of tile b of a checked output: argmax over the class
 * axis, the lowest class winning ties. mask gets h * w bytes. */
void tile_batch_argmax(const unet_tensor *out, int nhwc, int b, int classes, int h, int w,
                       uint8_t *mask);

/* fill + run + argmax: masks gets n * h * w bytes, tile after tile.
 * *classes (may be NULL) gets the model's class count. */
unet_status tile_batch_predict(tile_batch *tb, const unet_image *const *images, int n,
                               uint8_t *masks, int *classes);

#endif
