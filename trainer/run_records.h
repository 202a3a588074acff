/* The text records of one unet-train run: the flags as JSON (the
 * "flags" of summaries and of the model's unet.training metadata), an
 * epoch's validation metrics as JSON, and an epoch's row of STEM.log.csv
 * and line of STEM.log.jsonl. Formatting only: nothing here prints or
 * writes files. */
#ifndef UNET_TRAINER_RUN_RECORDS_H
#define UNET_TRAINER_RUN_RECORDS_H

#include <unet/palette.h>

#include "net.h"
#include "text_format.h"
#include "train_loop.h"
#include "train_options.h"

/* Floats of summaries and logs as JSON (9 digits give a float back exactly). */
void run_json_number(sbuf *b, double v);
/* The run's flags; ranks > 1 is recorded (another count sums in another order). */
void run_config_json(sbuf *b, const options *o, const unet_arch *a, int ranks);
/* {"epoch":..,"partial":..,"train_loss":..,"train_accuracy":.., and with
 * validation "val_loss", "val_pixel_accuracy", "val_miou", "val_macro_f1",
 * "classes":[{"name",..,"precision","recall","f1","iou","support"}]}. */
void run_metrics_json(sbuf *b, const train_epoch_report *r, const unet_palette *pal);
/* One row of STEM.log.csv (columns as run_logs_start's header), newline-ended. */
void run_epoch_csv(sbuf *b, const train_epoch_report *r, int n_classes);
/* One line of STEM.log.jsonl, newline-ended. */
void run_epoch_jsonl(sbuf *b, const train_epoch_report *r, const unet_palette *pal);

#endif
