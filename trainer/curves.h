/* Training curves: the per-epoch log (CSV, the columns unet-train writes)
 * read back and written, and a small line plot drawn into an RGB image and
 * saved as PNG (axes with numbered ticks, lines, a legend of coloured
 * swatches with labels, in a built-in 3x5 pixel font).
 *
 * The standard plot of a log has two panels side by side: loss per epoch
 * (train and validation) and accuracy per epoch (train pixel accuracy,
 * validation pixel accuracy, validation mIoU). Epochs are numbered from 1;
 * values that are missing (no validation) or not finite are left out. */
#ifndef UNET_TRAINER_CURVES_H
#define UNET_TRAINER_CURVES_H

#include <stdint.h>

#include <unet/palette.h>
#include <unet/unet.h>

/* Per-class validation IoU kept in the log (columns iou_NAME in class order). */
#define CURVES_MAX_CLASSES 16

typedef struct curve_row {
    int epoch;  /* 1-based */
    int partial;
    uint64_t step; /* optimiser steps after the epoch */
    double lr, train_loss, train_accuracy;
    double val_loss, val_pixel_accuracy, val_miou, val_macro_f1; /* NaN without validation */
    int best;
    double epoch_seconds;
    int n_class_iou; /* 0 when the log has no per-class columns */
    /* NaN for a class without validation pixels, so their mean is val_miou;
     * unet-train's own log writes such a class's IoU (0 when predicted). */
    double val_class_iou[CURVES_MAX_CLASSES];
} curve_row;

typedef struct curve_log {
    int n, cap;
    curve_row *rows;
    /* Column names of the per-class IoUs, "iou_" + class name as unet-train's
     * own log names them; class k's column is the k-th "iou_" column. */
    int n_class_columns;
    char class_column[CURVES_MAX_CLASSES][UNET_PALETTE_NAME_MAX + 4];
} curve_log;

/* Reads a log CSV by its header's column names (epoch, partial, step, lr,
 * train_loss, train_accuracy, val_loss, val_pixel_accuracy, val_miou,
 * val_macro_f1, best, epoch_seconds, and the iou_NAME columns of up to
 * CURVES_MAX_CLASSES classes; others are ignored, missing ones are NaN/0;
 * "epoch" is required). */
unet_status curve_log_read(const char *path, curve_log *out);
unet_status curve_log_append(curve_log *log, const curve_row *row);
/* Keeps the rows of epochs 1..epochs. */
void curve_log_truncate(curve_log *log, int epochs);
/* Names the per-class columns after the palette's classes (letters, digits
 * and '_'), unless the log has names already (read from a file). */
void curve_log_name_classes(curve_log *log, const unet_palette *pal);
/* Writes the columns above atomically (as many iou_ columns as the row with
 * the most classes has; unnamed ones are iou_K). */
unet_status curve_log_write(const char *path, const curve_log *log);
void curve_log_free(curve_log *log);

#define CURVES_MAX_SERIES 8

typedef struct curve_series {
    const char *label; /* drawn upper-case; letters, digits and " ./-()+:=_," */
    uint8_t rgb[3];
    int n;
    const double *x, *y; /* n points; non-finite y values break the line */
} curve_series;

typedef struct curve_panel {
    const char *title;
    int n_series; /* <= CURVES_MAX_SERIES */
    const curve_series *series;
    double y_min, y_max; /* y_max <= y_min: from the data (from 0, nice round top) */
} curve_panel;

/* Geometry of the plot, for tests: panel p spans x in
 * [p * CURVES_PANEL_W, (p + 1) * CURVES_PANEL_W); its plot area is
 * [left, right] x [top, bottom] within the panel (pixel centres), where the
 * x range's low end maps to left and y_min to bottom. */
#define CURVES_PANEL_W 480
#define CURVES_H 400
#define CURVES_LEFT 64
#define CURVES_RIGHT (CURVES_PANEL_W - 16)
#define CURVES_TOP 36
#define CURVES_BOTTOM (CURVES_H - 84)

/* Draws the panels side by side and writes an RGB PNG atomically. The x
 * range of every panel is [0, max x over all series] (at least 1). */
unet_status curves_plot(const char *png_path, const curve_panel *panels, int n_panels);
/* The standard two-panel plot of a log. */
unet_status curves_plot_log(const curve_log *log, const char *png_path);
/* Reads csv_path and plots it (a log without rows gives no file and UNET_OK). */
unet_status curves_plot_log_file(const char *csv_path, const char *png_path);

#endif
