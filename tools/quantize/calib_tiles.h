/* The calibration images: the PNG and JPEG files of a tiles folder (of its
 * images/ when it has one, as unet-infer reads tiles), sorted by name, and
 * an evenly spread choice of at most N of them, so a capped run still sees
 * every scene of a folder whose names start with the scene. */
#ifndef UNET_TOOLS_QUANTIZE_CALIB_TILES_H
#define UNET_TOOLS_QUANTIZE_CALIB_TILES_H

#include <unet/unet.h>

typedef struct qz_tile_list {
    char **paths;
    int n;
} qz_tile_list;

/* Lists folder's images; UNET_ERR_IO naming the folder when it cannot be
 * read, UNET_ERR_INVALID when it holds no PNG or JPEG file. */
unet_status qz_tiles_list(const char *folder, qz_tile_list *out);
/* Keeps at most max of the list, at indices i * n / max (max <= 0: all). */
void qz_tiles_spread(qz_tile_list *l, int max);
void qz_tiles_free(qz_tile_list *l);

#endif
