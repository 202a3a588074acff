/* Cross-validation and hyperparameter search over scene folds
 * (unet-train --cv K, --grid SPEC, --budget SECONDS).
 *
 * Every configuration of the grid (grid.h; without one, the configuration
 * of the flags) trains once per fold k = 0..K-1 of the folds file: on the
 * tiles of the other folds, validated on fold k (fold "test" is never used
 * for either). A run's score is its best epoch's validation mIoU, with that
 * epoch's macro F1. Configurations are ranked by the mean over folds of the
 * validation mIoU (ties: mean macro F1, then grid order); the best is
 * retrained on every training tile (all folds but "test") for the epoch
 * count its validation runs chose (the mean over folds of the best epoch,
 * counting a partial epoch as its fraction, rounded, at least 1), following
 * the same learning-rate schedule as those runs (planned for --epochs),
 * evaluated once on the test tiles when there are any, and exported.
 *
 * Successive halving (budget > 0): with n configurations there are
 * R = 1 + ceil(log2 n) rungs, and rung r keeps the best ceil(n / 2^r). The
 * budget B is cut into R + 1 equal shares S = B / (R + 1): one per rung and
 * one for the final retrain. In rung r each of the m_r configurations x K
 * folds runs gets S / (m_r K) more seconds of training, continuing from its
 * checkpoint of rung r - 1 (so rung r's runs have trained
 * C_r = C_{r-1} + S / (m_r K) seconds in all; the schedule stays planned for
 * --epochs, so a continued run is the same as one run stopped later). Runs
 * also stop at --epochs, --max-steps or --early-stop, whichever comes first.
 * The time is checked between optimiser steps, and each stop is followed by
 * the validation of the (partial) epoch, so rungs overrun a little. The final
 * retrain is capped at S seconds. Without a budget there is one rung and
 * every run goes to --epochs (or --max-steps / --early-stop).
 *
 * Files (STEM = the output model's path without .onnx):
 *   STEM.search/RUN/result.json   one finished run (written atomically last)
 *   STEM.search/RUN/log.csv       its epochs; RUN/curves.png their plot
 *   STEM.search/RUN/last.ckpt     its checkpoint while it may continue
 *   STEM.search/summary.json      the search's summary (also returned)
 *   STEM.grid.csv                 the ranked table
 *   STEM.onnx (the output), STEM.log.csv and STEM.curves.png of the retrain
 * RUN = CONFIG.foldK.rR.HASH (or CONFIG.final.HASH), HASH covering the
 * configuration, every setting that changes training, the fold, the rung's
 * limits and the tile counts. A repeated command skips runs whose result
 * exists and resumes unfinished ones from their checkpoints.
 *
 * Several processes (cv_options.ranks, under mpirun): a round is the runs of
 * one rung (all of a grid without a budget), numbered i = configuration's
 * place in grid order among the rung's configurations x K + fold; rank
 * i mod N trains run i alone (no gradient exchange inside a run) and writes
 * its folder. After the round every rank gathers every run's result through
 * the ranks (not through the files), so all rank and halve identically, and
 * a failure or stop request on any rank ends the search on all of them.
 * Rank 0 alone reports, writes the table, the summary and the model. The
 * retrain is data-parallel over all ranks when --batch divides evenly
 * (rank 0 writes its files), else rank 0 trains it alone. A run continued in
 * a later rung by another rank than the one before, and a resumed
 * data-parallel retrain, read folders other ranks wrote: they need STEM.search
 * on a filesystem every rank shares.
 *
 * Library code: prints nothing; messages go to the caller's callback. */
#ifndef UNET_TRAINER_CV_SEARCH_H
#define UNET_TRAINER_CV_SEARCH_H

#include <signal.h>
#include <stdint.h>

#include <unet/palette.h>
#include <unet/unet.h>

#include "dist_hooks.h"
#include "grid.h"
#include "net.h"

typedef enum cv_message_kind {
    CV_MSG_NOTE = 0,    /* progress: a run starts or ends, a rung's choice */
    CV_MSG_EPOCH = 1,   /* one epoch of a run */
    CV_MSG_WARNING = 2,
    CV_MSG_REPORT = 3   /* tables: per fold, ranking, test scores */
} cv_message_kind;

/* The other processes of a search started by mpirun. Plain function
 * pointers, so the trainer library never links MPI (trainer/distributed.c
 * fills them; see dist_hooks.h for the same idea in training). */
typedef struct cv_ranks {
    int rank, size;
    void *ctx;
    /* all[r * bytes, (r + 1) * bytes) = mine of rank r, for every rank r;
     * the same on every rank. Every rank calls it at the same points. */
    unet_status (*allgather)(void *ctx, const void *mine, void *all, size_t bytes);
    /* Data-parallel hooks for training params (the retrain); NULL: the
     * retrain runs on rank 0 alone. */
    unet_status (*attach)(void *ctx, unet_params *params, train_dist *hooks);
} cv_ranks;

typedef struct cv_options {
    const char *tiles;      /* tiles folder */
    const char *folds_file; /* NULL: TILES/folds.tsv */
    const char *out;        /* MODEL.onnx */
    const unet_palette *pal;
    grid_config base; /* the flags' configuration */
    const char *grid; /* NULL: the base configuration alone */
    int folds;        /* K >= 2; 0: every numeric fold of the folds file */
    double budget;    /* seconds; 0: no successive halving */
    /* Training settings shared by every run (as unet-train's flags). */
    int epochs, batch, optimizer;
    double momentum;
    int schedule, step_size;
    double gamma;
    int ignore_label, augment;
    uint64_t crops_per_epoch; /* > 0: an epoch of a run is this many random crops of its
                                 training folds' scenes (train_loop.h); 0: its tiles */
    uint64_t seed;
    uint64_t max_steps; /* per run; 0: none */
    int early_stop;     /* per validated run; 0: off */
    int force;          /* train every run anew */
    int keep_run_models; /* a validated run trained here also writes RUN/model.onnx */
    volatile sig_atomic_t *stop; /* may be NULL */
    void (*message)(void *user, int kind, const char *text);
    void *user;
    const cv_ranks *ranks; /* NULL: one process */
} cv_options;

typedef struct cv_outcome {
    int interrupted; /* *stop was set: the run under way saved its checkpoint */
    int runs, trained, resumed, skipped, carried; /* over all ranks (on rank 0) */
    char *summary_json; /* the summary (also in STEM.search/summary.json); free();
                           NULL on ranks other than 0 */
    /* Several ranks, when cv_search_run fails: */
    int failed_everywhere; /* every rank returns this failure and message */
    int abort_others;      /* this rank failed where the others wait for it (inside
                              the data-parallel retrain, or out of memory at an
                              exchange): end them all */
} cv_outcome;

unet_status cv_search_run(const cv_options *o, cv_outcome *out);
void cv_outcome_free(cv_outcome *out);

#endif
