/* The metrics sections of HTML reports: per-class precision, recall, F1,
 * IoU and support with the summary figures, and the confusion matrix as a
 * coloured table of counts and row-normalised shares. Every figure also sits
 * in a data-value attribute printed with "%.*g" and the digits the program's
 * JSON uses, so a reader (or a test) can compare it with the JSON exactly;
 * the visible text is rounded to 4 decimals as in unet-eval's table.
 * Undefined values (NaN) are "n/a" and data-value="null". */
#ifndef UNET_TOOLS_REPORT_METRICS_H
#define UNET_TOOLS_REPORT_METRICS_H

#include <stdio.h>

#include <unet/metrics.h>

#include "report_model.h"

/* <table id="metrics"> and <table id="summary">. */
void report_metrics_tables(FILE *f, const unet_metrics *m, const report_class *cls, int digits);
/* <table id="confusion">: rows ground truth, columns prediction. */
void report_confusion_table(FILE *f, const unet_confusion *cm, const report_class *cls);

#endif
