/* Segmentation metrics from a confusion matrix, shared by training and
 * evaluation so that both report the same numbers.
 *
 * Definitions (also given in unet-eval --help):
 *  - counts[t * n + p] = pixels of true class t predicted as p; pixels whose
 *    truth is the ignore label (or any value >= n_classes) are not counted.
 *  - precision_c = TP / (TP + FP), recall_c = TP / (TP + FN),
 *    F1_c = 2 TP / (2 TP + FP + FN), IoU_c = TP / (TP + FP + FN).
 *    A ratio whose denominator is 0 is reported as NaN ("undefined") and left
 *    out of means.
 *  - A class is "present" when it occurs in the ground truth. mIoU and macro F1
 *    are means over present classes; frequency-weighted F1 weights F1_c by the
 *    class's ground-truth pixel share.
 */
#ifndef UNET_METRICS_H
#define UNET_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <unet/unet.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UNET_MAX_CLASSES 256

typedef struct unet_confusion {
    int n_classes;
    uint64_t *counts; /* n_classes * n_classes, row = truth, column = prediction */
} unet_confusion;

unet_status unet_confusion_init(unet_confusion *cm, int n_classes);
void unet_confusion_free(unet_confusion *cm);
void unet_confusion_reset(unet_confusion *cm);
/* Adds n pixels; truth values equal to ignore_label or >= n_classes are skipped;
 * predictions >= n_classes are an error (UNET_ERR_ARG). */
unet_status unet_confusion_add(unet_confusion *cm, const uint8_t *truth, const uint8_t *pred,
                               size_t n, int ignore_label);
unet_status unet_confusion_merge(unet_confusion *dst, const unet_confusion *src);

typedef struct unet_class_metrics {
    uint64_t support;    /* ground-truth pixels */
    uint64_t predicted;  /* predicted pixels */
    double precision, recall, f1, iou; /* NaN when undefined */
} unet_class_metrics;

typedef struct unet_metrics {
    int n_classes;
    uint64_t total;            /* counted pixels */
    double pixel_accuracy;
    double mean_iou;           /* over present classes */
    double macro_f1;           /* over present classes */
    double weighted_f1;        /* weighted by support */
    int n_present;
    unet_class_metrics per_class[UNET_MAX_CLASSES];
} unet_metrics;

void unet_metrics_compute(const unet_confusion *cm, unet_metrics *out);

#ifdef __cplusplus
}
#endif
#endif
