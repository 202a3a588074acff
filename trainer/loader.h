/* The batch loader: a thread that reads tiles, augments them and converts
 * them to network input while the caller computes on the previous batch
 * (two batch buffers, filled in order).
 *
 * A pass is a list of tile indices cut into batches of `batch`; the last
 * batch is completed by repeating its last tile (n_valid says how many are
 * real). Sample j of a pass (j = batch_index * batch + k) is augmented with
 * aug_draw(aug_seed, j), so the data depend on the pass's arguments alone,
 * never on timing. */
#ifndef UNET_TRAINER_LOADER_H
#define UNET_TRAINER_LOADER_H

#include <stdint.h>

#include <unet/unet.h>

#include "crops.h"
#include "data.h"

typedef struct loader_batch {
    int index;    /* batch number within the pass */
    int n_valid;  /* real samples; the rest repeat the last one */
    float *x;     /* batch x 3 x height x width, [0,1] */
    uint8_t *y;   /* batch x height x width class ids (ignore_label kept) */
} loader_batch;

typedef struct loader loader;

/* Starts the thread. Tiles must be width x height RGB images with index masks
 * whose values are < n_classes or ignore_label. */
unet_status loader_create(int batch, int width, int height, int n_classes, int ignore_label,
                          loader **out);
/* Stops the thread and frees everything. */
void loader_free(loader *ld);

/* Begins a pass over items[0..n_items) of set (copied), starting at batch
 * first_batch; augment = 0 gives the plain tiles. Any pass in progress is
 * abandoned. set must stay valid until the next loader_start or loader_free. */
unet_status loader_start(loader *ld, const tile_set *set, const int *items, int n_items,
                         int first_batch, int augment, uint64_t aug_seed);
/* Begins a pass of n_samples random crops (crops.h) from the tiles of set
 * laid out in crops, which must stay valid like set: sample j is the crop
 * crop_draw(crops, crop_seed, j) resampled to the tile size, then augmented
 * as a tile is. The sample numbering below applies to crops too. */
unet_status loader_start_crops(loader *ld, const tile_set *set, const crop_source *crops,
                               int n_samples, int first_batch, int augment, uint64_t aug_seed,
                               uint64_t crop_seed);
/* Sample numbering for augmentation in data-parallel runs: sample k of batch
 * bi is augmented as sample bi * stride + offset + k (the rank's place in the
 * global batch) instead of bi * batch + k. Applies to passes started later;
 * stride 0 restores the default. */
void loader_set_sample_numbering(loader *ld, uint64_t stride, uint64_t offset);
/* The next batch of the pass, in order; it stays valid until the next call of
 * loader_next or loader_start. A tile that cannot be read fails the call with
 * the reader's message. UNET_ERR_ARG after the last batch. */
unet_status loader_next(loader *ld, const loader_batch **out);

#endif
