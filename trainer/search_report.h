/* unet-train --report after --cv, --grid or --budget: one self-contained
 * HTML file (tools/report/html_report.h) with the ranked configurations and their
 * per-fold validation figures (as STEM.grid.csv holds them), the exported
 * model (the winner retrained on every training fold), the retrain's loss
 * curve from STEM.log.csv, and the search's summary. */
#ifndef UNET_TRAINER_SEARCH_REPORT_H
#define UNET_TRAINER_SEARCH_REPORT_H

#include <stddef.h>

#include <unet/palette.h>

typedef struct search_report {
    const char *model_path, *tiles;
    const char *grid_csv;      /* STEM.grid.csv */
    const char *retrain_log;   /* STEM.log.csv */
    const char *summary_json;  /* shown as text */
    const unet_palette *pal;
} search_report;

/* Writes the report to path atomically; *size gets its bytes. 0, or -1 with
 * the reason in unet_last_error(). */
int search_report_write(const char *path, const search_report *r, size_t *size);

#endif
