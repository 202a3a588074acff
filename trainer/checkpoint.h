/* The training state and its checkpoint file.
 *
 * A checkpoint holds everything a run needs to continue exactly: the weights
 * (BN running statistics included), the best epoch's weights, the optimiser's
 * moments and step, the position (epoch, step within it), the RNG state (seed
 * and dropout counter; data order and augmentation are functions of seed,
 * epoch and step) and the best validation mIoU.
 *
 * File (little-endian): fixed header (magic "UNETCKPT", version, architecture,
 * sizes, progress), the run's flags as JSON, a table of parameter names and
 * shapes, the float arrays, and an FNV-1a 64 checksum of everything before it.
 * Reading checks magic, version, every size against the file's length and the
 * architecture before allocating, the checksum, and the table against the
 * architecture's parameters. Writing is atomic (temporary file, fsync, rename). */
#ifndef UNET_TRAINER_CHECKPOINT_H
#define UNET_TRAINER_CHECKPOINT_H

#include <stdint.h>

#include <unet/unet.h>

#include "net.h"
#include "optimizer.h"

#define CHECKPOINT_MAGIC "UNETCKPT"
#define CHECKPOINT_VERSION 1u

typedef struct train_progress {
    uint64_t seed;
    uint64_t epoch;           /* the epoch under way (0-based) */
    uint64_t step_in_epoch;   /* its optimiser steps done; = steps per epoch: validation pending */
    uint64_t global_step;     /* optimiser steps done in the whole run */
    uint64_t dropout_counter;
    double best_miou;         /* -1 before any validation */
    int64_t best_epoch;       /* -1 when none */
    uint64_t epochs_since_best;
    double seconds;           /* training time of the run so far, all sessions */
    /* Running statistics of the epoch under way. */
    double epoch_loss_sum;
    uint64_t epoch_batches;
    uint64_t epoch_correct, epoch_pixels;
    double epoch_seconds;
} train_progress;

typedef struct train_state {
    unet_params *params;  /* current weights */
    unet_params *best;    /* weights of the best validation epoch, NULL when none */
    optimizer *opt;
    train_progress progress;
} train_state;

void train_progress_init(train_progress *p, uint64_t seed);
void train_state_free(train_state *st);

unet_status checkpoint_write(const char *path, const train_state *st, const char *config);
/* Allocates st->params, st->best (when stored) and st->opt (kind and state from
 * the file, other settings default). *config gets the stored flags (free()). */
unet_status checkpoint_read(const char *path, train_state *st, char **config);
/* 1 when the file starts with the checkpoint magic. */
int checkpoint_is_checkpoint(const char *path);

#endif
