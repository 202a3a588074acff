/* The training loop: epochs of optimiser steps on batches from the loader
 * thread, validation after each epoch (confusion matrix through
 * unet/metrics.h), best-epoch tracking, early stopping, checkpoints at every
 * epoch end and when asked to stop, and per-step and per-epoch callbacks for
 * the caller's output. Prints nothing.
 *
 * Repeatability: epoch e visits the training tiles in a permutation drawn from
 * (seed, e), or with crops_per_epoch draws sample j's crop from (seed, e, j);
 * sample j of the epoch is augmented from (seed, e, j); dropout
 * masks come from (seed, dropout counter). With the same thread count the
 * weights after step s do not depend on where the run was stopped and
 * resumed.
 *
 * Data-parallel (opt->dist, see dist_hooks.h): batch is the global batch,
 * split into equal parts over the ranks (it must divide); rank r takes
 * samples r*b .. r*b+b-1 of each global batch of the same epoch order, with
 * the same sample numbers for augmentation and dropout, so the data a step
 * sees do not depend on the rank count. Loss and accuracy are the global
 * batch's; validation tiles are shared out and their confusion matrix summed;
 * stop requests and the time budget are agreed on before every step (a stop
 * request is not looked at inside validation). Only rank 0 writes
 * checkpoints and calls on_epoch / on_checkpoint. */
#ifndef UNET_TRAINER_TRAIN_LOOP_H
#define UNET_TRAINER_TRAIN_LOOP_H

#include <signal.h>
#include <stdint.h>

#include <unet/metrics.h>
#include <unet/unet.h>

#include "checkpoint.h"
#include "data.h"
#include "dist_hooks.h"
#include "loss.h"
#include "schedule.h"

/* Data-parallel runs compare a checksum of every rank's weights this often
 * (in steps), and at every checkpoint and at the end. */
#define TRAIN_DIST_CHECK_EVERY 200

typedef struct train_data {
    const tile_set *train_set;
    const int *train_idx;
    int n_train;
    const tile_set *val_set; /* NULL or n_val = 0: no validation */
    const int *val_idx;
    int n_val;
    int width, height; /* every tile's size */
} train_data;

typedef struct train_step_info {
    uint64_t epoch, epochs;
    uint64_t step_in_epoch, steps_per_epoch; /* step_in_epoch counts the step just taken */
    uint64_t global_step, planned_steps;
    double loss, lr;
    double tiles_per_second; /* this session */
    double eta_seconds;      /* for the remaining planned steps */
} train_step_info;

typedef struct train_epoch_report {
    uint64_t epoch;      /* 0-based */
    int partial;         /* the run stopped before the epoch's last step */
    uint64_t steps_done; /* in this epoch */
    uint64_t global_step;
    double lr;           /* of the epoch's last step */
    double train_loss;     /* mean over the epoch's batches */
    double train_accuracy; /* pixel accuracy on the (augmented) training batches */
    int has_val;
    double val_loss;
    unet_metrics val;
    int is_best;
    double best_miou;
    int64_t best_epoch;
    double epoch_seconds, total_seconds;
    double tiles_per_second; /* training steps of this epoch in this session */
} train_epoch_report;

typedef enum train_end {
    TRAIN_END_EPOCHS = 0,
    TRAIN_END_MAX_STEPS,
    TRAIN_END_TIME_BUDGET,
    TRAIN_END_EARLY_STOP,
    TRAIN_END_INTERRUPTED /* *stop was set; state saved when a checkpoint path is given */
} train_end;

/* "epochs", "max_steps", "time_budget", "early_stop", "interrupted" (as logs
 * and summaries write them); train_end_from_name is the inverse, -1 when
 * unknown. */
const char *train_end_name(int end);
int train_end_from_name(const char *name);

typedef struct train_options {
    int batch;
    uint64_t epochs;
    uint64_t max_steps;  /* 0: none */
    double time_budget;  /* seconds of this session; 0: none */
    lr_schedule schedule;
    const float *class_weights; /* n_classes, or NULL */
    loss_spec loss; /* the training loss (zero: cross-entropy); validation loss is always
                       cross-entropy, comparable across losses */
    int ignore_label;
    int augment;
    /* > 0: an epoch is this many random crops from the training tiles' scene
     * images (crops.h; ceil(crops / batch) steps) instead of one pass over
     * the tiles. Crops of epoch e come from (seed, e, sample). */
    uint64_t crops_per_epoch;
    uint64_t early_stop; /* epochs without a better val mIoU before stopping; 0: off */
    const char *checkpoint_path; /* NULL: no checkpoints */
    const char *config_json;     /* stored in checkpoints */
    volatile sig_atomic_t *stop; /* may be NULL */
    void *user;
    void (*on_step)(void *user, const train_step_info *info);
    /* A failure (e.g. a log that cannot be written) ends the run with it. */
    unet_status (*on_epoch)(void *user, const train_epoch_report *report);
    /* Called after every checkpoint write with its path. */
    void (*on_checkpoint)(void *user, const char *path, const train_progress *progress);
    const train_dist *dist; /* NULL: one process */
} train_options;

typedef struct train_result {
    int end; /* train_end */
    uint64_t steps;       /* optimiser steps of this session */
    double seconds;       /* of this session */
    double tiles_per_second;
    int has_report;
    train_epoch_report last; /* the last epoch reported */
} train_result;

/* ceil(samples / batch): an epoch is crops_per_epoch crops when that is set,
 * else one pass over n_train tiles. */
uint64_t train_steps_per_epoch(int n_train, uint64_t crops_per_epoch, int batch);
/* The steps of an epoch of opt on data (tiles or crops_per_epoch). */
uint64_t train_epoch_steps(const train_data *data, const train_options *opt);
/* min(epochs x steps per epoch, max_steps when set): the length cosine plans for. */
uint64_t train_planned_steps(uint64_t epochs, uint64_t steps_per_epoch, uint64_t max_steps);

/* Trains st (fresh or read from a checkpoint) on data. st->progress says where
 * to begin. On return st holds the final state, also when the run was stopped. */
unet_status train_run(const train_data *data, const train_options *opt, train_state *st,
                      train_result *res);

#endif
