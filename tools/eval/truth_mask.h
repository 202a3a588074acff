/* Ground-truth masks of whole scenes read as class ids, a band of rows at a
 * time, so a scene's mask is never held whole. An 8-bit gray (or gray+alpha)
 * mask holds class ids already (unet-tile's index masks, value = class id);
 * any other mask (RGB, RGBA, palette PNG) is a colour mask whose colours are
 * mapped to class ids through a palette, its ignore colours to
 * UNET_IGNORE_LABEL. A palette PNG is read by its colours, so unet-tile's
 * index masks, whose palette holds the class colours, read right either way. */
#ifndef UNET_TOOLS_TRUTH_MASK_H
#define UNET_TOOLS_TRUTH_MASK_H

#include <stdint.h>

#include <unet/palette.h>
#include <unet/unet.h>

typedef struct truth_mask truth_mask;

/* palette must outlive the reader. Errors name the file. */
unet_status truth_mask_open(const char *path, const unet_palette *palette, truth_mask **out);
void truth_mask_size(const truth_mask *m, int *width, int *height);
/* 1 when the mask holds class ids (gray), 0 when it is mapped by colour. */
int truth_mask_has_ids(const truth_mask *m);
/* The next n_rows rows as class ids (n_rows * width bytes). A colour the
 * palette does not know becomes UNET_IGNORE_LABEL and is counted (see
 * truth_mask_unknown). */
unet_status truth_mask_read_rows(truth_mask *m, uint8_t *ids, int n_rows);
/* Unknown colours met so far; first_x/first_y are image coordinates. */
const unet_unknown_colors *truth_mask_unknown(const truth_mask *m);
void truth_mask_close(truth_mask *m);

#endif
