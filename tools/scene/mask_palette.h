/* The palette of a mask PNG: the model's class colours (metadata), else the
 * data set's default palette for the first 6 classes, else a fixed spread. */
#ifndef UNET_TOOLS_MASK_PALETTE_H
#define UNET_TOOLS_MASK_PALETTE_H

#include <stdint.h>
#include <unet/meta.h>

/* Fills palette[0 .. 3 * classes) (classes <= 256). */
void mask_palette(const unet_model_meta *meta, int classes, uint8_t *palette);

#endif
