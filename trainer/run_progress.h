/* What unet-train shows and logs while it trains: the progress line on a
 * terminal (every quarter second), the per-epoch table with per-class
 * precision, recall, F1 and IoU, and each epoch's log row and line
 * (run_records.h) appended to the run's logs (run_files.h). The two
 * functions are train_options' on_step and on_epoch callbacks. */
#ifndef UNET_TRAINER_RUN_PROGRESS_H
#define UNET_TRAINER_RUN_PROGRESS_H

#include <unet/palette.h>

#include "run_files.h"
#include "train_loop.h"

typedef struct run_progress {
    const char *prog;          /* message prefix, e.g. "unet-train (rank 0 of 2)" */
    const unet_palette *pal;
    const run_paths *paths;
    int quiet;                 /* no progress line and no table */
    int tty;                   /* stderr is a terminal: the progress line shows */
    int progress_shown;
    double last_progress;
    int log_failed;            /* a log write failed (its message is already on stderr) */
    train_epoch_report best;   /* --report: the best epoch of this session */
    int has_best;
} run_progress;

void run_progress_step(void *user, const train_step_info *info);
unet_status run_progress_epoch(void *user, const train_epoch_report *r);
/* Erases the progress line, so that other messages start on a clean line. */
void run_progress_clear(run_progress *c);

#endif
