/* unet-train --report: one self-contained HTML file (tools/report/html_report.h) at
 * the end of a training run: the run (tiles, end, steps, time, best epoch),
 * the exported model (tools/report/report_model.h), loss and accuracy/mIoU curves
 * per epoch drawn as inline SVG from the epoch log, the validation metrics
 * of the best epoch (or of the last one when the best is from an earlier
 * session), the per-epoch table and the configuration. */
#ifndef UNET_TRAINER_TRAIN_REPORT_H
#define UNET_TRAINER_TRAIN_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <unet/palette.h>

#include "curves.h"
#include "train_loop.h"

typedef struct train_report {
    const char *model_path, *last_model_path, *tiles;
    const unet_palette *pal;
    const curve_log *log;          /* the epochs of STEM.log.csv */
    const char *config_json;       /* the flags, as in the summary's "flags" */
    const train_epoch_report *metrics; /* validation metrics shown; NULL: none */
    int metrics_are_best;          /* 1: of the best epoch, 0: of the last */
    int64_t best_epoch;            /* 1-based; 0: no validation, no best */
    double best_miou;
    uint64_t epochs_completed, steps;
    double seconds;                /* training time over all sessions */
    const char *end;               /* train_end_name */
    int n_train, n_val;
} train_report;

/* Writes the report to path atomically; *size gets its bytes. 0, or -1 with
 * the reason in unet_last_error(). */
int train_report_write(const char *path, const train_report *r, size_t *size);

#endif
