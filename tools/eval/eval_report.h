/* What unet-eval reports: the confusion matrix and the metrics of unet/metrics.h
 * as a text table, one JSON object, or CSV rows per class. Undefined values
 * (NaN) print as "n/a" in the table, null in JSON and an empty field in CSV. */
#ifndef UNET_TOOLS_EVAL_REPORT_H
#define UNET_TOOLS_EVAL_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include <unet/metrics.h>

typedef struct eval_class_info {
    int n_classes;
    char names[UNET_MAX_CLASSES][64];
    uint8_t colors[UNET_MAX_CLASSES][3];
} eval_class_info;

typedef struct eval_failure {
    char *tile;
    char *error;
} eval_failure;

typedef struct eval_run {
    const char *model, *tiles;
    const char *folds_file, *fold;     /* NULL without --fold */
    int ignore_label;
    int selected;                      /* tiles chosen (after the fold filter) */
    int evaluated;                     /* tiles whose pixels are in the matrix */
    int failed;                        /* tiles with at least one failure */
    eval_failure *failures;
    int n_failures;
    uint64_t ignored_pixels;           /* truth = ignore label */
    uint64_t unknown_label_pixels;     /* truth >= classes, not the ignore label */
    double seconds;
    int interrupted;
} eval_run;

void eval_report_table(FILE *f, const eval_run *r, const unet_confusion *cm, const unet_metrics *m,
                       const eval_class_info *cls);
void eval_report_json(FILE *f, const eval_run *r, const unet_confusion *cm, const unet_metrics *m,
                      const eval_class_info *cls);
/* Header id,name,color,support,predicted,tp,fp,fn,precision,recall,f1,iou. */
void eval_report_csv(FILE *f, const unet_confusion *cm, const unet_metrics *m,
                     const eval_class_info *cls);

#endif
