/* A confusion matrix drawn as an RGB heat map: one square cell per (truth row,
 * prediction column), coloured by the row-normalised share (white 0 % through
 * blue to dark blue 100 %), the percentage written in the cell (blank when the
 * count is 0, "<1" under 1 %), rows of classes absent from the ground truth
 * grey. Class colour strips and class ids run along the left (truth) and top
 * (prediction) edges; a colour scale with 0 and 100 stands on the right.
 *
 * Geometry: cells of CONFUSION_HEATMAP_CELL px (CONFUSION_HEATMAP_CELL_SMALL
 * and no numbers above CONFUSION_HEATMAP_MAX_LABELLED classes), the grid's
 * top-left corner at (CONFUSION_HEATMAP_LEFT, CONFUSION_HEATMAP_TOP); the image
 * is LEFT + k*cell + RIGHT wide and TOP + k*cell + BOTTOM high, i.e. for up to
 * 32 classes (40 k + 114) x (40 k + 44). */
#ifndef UNET_TOOLS_CONFUSION_HEATMAP_H
#define UNET_TOOLS_CONFUSION_HEATMAP_H

#include <stdint.h>

#include <unet/image.h>
#include <unet/unet.h>

#define CONFUSION_HEATMAP_CELL 40
#define CONFUSION_HEATMAP_CELL_SMALL 12
#define CONFUSION_HEATMAP_MAX_LABELLED 32
#define CONFUSION_HEATMAP_LEFT 48
#define CONFUSION_HEATMAP_TOP 36
#define CONFUSION_HEATMAP_RIGHT 66
#define CONFUSION_HEATMAP_BOTTOM 8

/* Colours of the scale's ends and of absent rows. */
#define CONFUSION_HEATMAP_ZERO_RGB 255, 255, 255
#define CONFUSION_HEATMAP_FULL_RGB 8, 48, 107
#define CONFUSION_HEATMAP_ABSENT_RGB 200, 200, 200

int confusion_heatmap_cell(int n_classes);
void confusion_heatmap_size(int n_classes, int *width, int *height);
/* The scale colour of share v in [0, 1]. */
void confusion_heatmap_color(double v, uint8_t rgb[3]);

/* counts: k x k, row = truth; colors: k RGB triples. out gets a new 3-channel
 * image (free with unet_image_free). */
unet_status confusion_heatmap_render(const uint64_t *counts, int k, const uint8_t (*colors)[3],
                                     unet_image *out);
/* Renders and writes a PNG atomically. */
unet_status confusion_heatmap_write(const char *path, const uint64_t *counts, int k,
                                    const uint8_t (*colors)[3]);

#endif
