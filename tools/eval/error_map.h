/* Where a model was right and wrong on one tile, as an RGB picture: a pixel
 * predicted correctly shows its class colour at half brightness (each channel
 * halved, rounded down), a wrong one is bright red #FF0000, and a pixel left
 * out of the metrics (ignore label, or a label that is not a class) is black.
 * Halved colours never reach 255, so red cannot be mistaken for a class. */
#ifndef UNET_TOOLS_ERROR_MAP_H
#define UNET_TOOLS_ERROR_MAP_H

#include <stddef.h>
#include <stdint.h>

/* truth and pred hold n labels; colors n_classes RGB triples; rgb gets 3n bytes. */
void error_map_render(const uint8_t *truth, const uint8_t *pred, size_t n, int n_classes,
                      int ignore_label, const uint8_t (*colors)[3], uint8_t *rgb);

#endif
