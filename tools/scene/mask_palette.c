/* Mask palette; see mask_palette.h. unet_model_read_meta fills colors with the
 * default palette when the model has none, so the first 6 are always set. */
#include <string.h>

#include "mask_palette.h"

void mask_palette(const unet_model_meta *meta, int classes, uint8_t *palette)
{
    for (int k = 0; k < classes; k++) {
        if (k < UNET_META_MAX_CLASSES && (meta->has_colors || k < 6))
            memcpy(palette + 3 * k, meta->colors[k], 3);
        else { /* a deterministic spread of colours for classes beyond the palette */
            palette[3 * k] = (uint8_t)(k * 73);
            palette[3 * k + 1] = (uint8_t)(k * 151);
            palette[3 * k + 2] = (uint8_t)(k * 211);
        }
    }
}
