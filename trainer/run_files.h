/* The files of one unet-train run, named from MODEL.onnx (STEM = MODEL
 * without .onnx): STEM.last.onnx, the epoch logs STEM.log.csv (a header,
 * then one row per epoch) and STEM.log.jsonl (the same as JSON lines), and
 * the checkpoint folder (STEM.ckpt or --checkpoint) with last.ckpt. A
 * resumed run keeps the log lines of the epochs it does not repeat. */
#ifndef UNET_TRAINER_RUN_FILES_H
#define UNET_TRAINER_RUN_FILES_H

#include <stdint.h>

#include <unet/palette.h>
#include <unet/unet.h>

typedef struct run_paths {
    char *stem, *last_model, *csv, *jsonl, *ckpt_dir, *ckpt;
} run_paths;

/* The names for model path out (checkpoint_dir NULL: STEM.ckpt). */
unet_status run_paths_make(const char *out, const char *checkpoint_dir, run_paths *p);
void run_paths_free(run_paths *p);

/* A fresh run writes the CSV header (class columns iou_NAME, f1_NAME) and
 * an empty JSONL; a resumed one keeps the header and epochs 1..keep_epochs. */
unet_status run_logs_start(const run_paths *p, const unet_palette *pal, int resuming, uint64_t keep_epochs);
/* Appends one epoch's CSV row and JSON line (each ending in a newline). */
unet_status run_logs_append(const run_paths *p, const char *csv_line, const char *json_line);

#endif
