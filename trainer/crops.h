/* Random crops from whole scene images, assembled from their tiles
 * (unet-train --crops-per-epoch N).
 *
 * unet-tile names a tile SCENE__IMAGE__yYYYY_xXXXX after its window's origin
 * in the source image, so the training tiles of one source image (same name
 * up to the last "__") lay out that image again; where tiles overlap they
 * hold the same pixels, and pixels no training tile covers (tiles unet-tile
 * dropped for lack of labels, or the outside) are black with the ignore
 * label. A tile whose name has no such suffix is an image of its own.
 *
 * A crop is drawn from (seed, sample) alone: a training tile chosen
 * uniformly (so images count by their tile area), a scale s uniform in
 * [CROP_SCALE_MIN, CROP_SCALE_MAX], a window of s x the tile size centred at
 * a uniform point of that tile and moved inside the image where it fits
 * (any position, not only the tile grid; centred on the image when the image
 * is smaller). The window is resampled to the tile size: bilinear for the
 * picture (over the covered pixels only), nearest for the mask, so masks
 * keep only their own values (class ids and the ignore label). */
#ifndef UNET_TRAINER_CROPS_H
#define UNET_TRAINER_CROPS_H

#include <stddef.h>
#include <stdint.h>

#include <unet/unet.h>

#include "data.h"

#define CROP_SCALE_MIN 0.75
#define CROP_SCALE_MAX 1.25
#define CROPS_PER_EPOCH_MAX 10000000

typedef struct crop_tile {
    int tile;  /* index into the tile set */
    int image; /* index into crop_source.images */
    int x, y;  /* origin in the image */
} crop_tile;

typedef struct crop_image {
    int first, n;       /* its tiles: crop_source.tiles[first .. first + n) */
    int width, height;  /* extent of its tiles */
} crop_image;

typedef struct crop_source {
    int tile_width, tile_height;
    int n_tiles, n_images;
    crop_tile *tiles; /* grouped by image, then by y and x */
    crop_image *images;
} crop_source;

/* Lays out the listed tiles (each tile_width x tile_height) by image. */
unet_status crop_source_build(const tile_set *set, const int *idx, int n, int tile_width,
                              int tile_height, crop_source *out);
void crop_source_free(crop_source *src);

/* Parses "...__yYYYY_xXXXX": 1 with *prefix_len (bytes before the last
 * "__"), *x and *y; 0 when the name has no such suffix. */
int crop_parse_tile_name(const char *name, size_t *prefix_len, int *x, int *y);

typedef struct crop_window {
    int image;         /* index into crop_source.images */
    double x0, y0;     /* top-left corner in the image, pixels */
    double w, h;       /* size in image pixels: scale x the tile size */
    double scale;
} crop_window;

/* The crop of sample `sample` under seed (a pure function of both). */
void crop_draw(const crop_source *src, uint64_t seed, uint64_t sample, crop_window *out);

/* Reads the tiles under the window and resamples it to out_w x out_h:
 * rgb (interleaved, 3 x out_w x out_h bytes) and mask (class ids, ignore
 * label where nothing covers). Masks are checked as tile_read_mask does. */
unet_status crop_render(const crop_source *src, const tile_set *set, const crop_window *win,
                        int out_w, int out_h, int n_classes, int ignore_label, uint8_t *rgb,
                        uint8_t *mask);

/* The resampling of crop_render on a canvas (cw x ch, rgb interleaved, mask,
 * covered = 1 where a tile supplied the pixel): window (x0, y0, w, h) in
 * canvas pixels to out_w x out_h. Pixel centres map to pixel centres: output
 * (u, v) samples the canvas at x0 + (u + 1/2) w / out_w - 1/2 (likewise y). */
void crop_resample(const uint8_t *rgb, const uint8_t *mask, const uint8_t *covered, int cw,
                   int ch, double x0, double y0, double w, double h, int out_w, int out_h,
                   int ignore_label, uint8_t *out_rgb, uint8_t *out_mask);

#endif
