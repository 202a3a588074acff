/* unet-infer's tile mode, one batch at a time: equally sized tiles through
 * the model (tile_batch.h), with --tta the horizontal and vertical flips
 * averaged in, then per tile its mask (unet/mask.h's argmax), written as a
 * palette PNG tagged with the model's hash, and with --probs and --overlay
 * the probabilities (.probs.npy) and the overlay. The mask goes last: its
 * presence marks the tile as done. */
#ifndef UNET_TOOLS_INFER_TILES_H
#define UNET_TOOLS_INFER_TILES_H

#include <stddef.h>

#include <unet/image.h>
#include <unet/meta.h>

#include "infer_report.h"
#include "tile_batch.h"

typedef struct infer_tile {
    char path[4352];
    char stem[1024];  /* output names: OUT/STEM.png, .probs.npy, .overlay.png */
    unet_image img;
} infer_tile;

typedef struct infer_tiles {
    tile_batch tb;                /* the session and the input's scaling and layout */
    const unet_model_meta *meta;  /* the mask palette's colours */
    const char *model_hash;       /* the masks' unet:model tag */
    const char *out_dir;
    int tta, probs, overlay;
    infer_report *report;         /* each tile done or failed, with the reason */
    float *scores;                /* the passes' average, class-major per tile */
    size_t scores_cap;
} infer_tiles;

/* One batch of n tiles of one size; every tile ends up in the report, done
 * or failed with the reason. 0, or -1 when the batch failed as a whole. */
int infer_tiles_run(infer_tiles *t, const infer_tile *tiles, int n);
void infer_tiles_free(infer_tiles *t);

#endif
