/* Confusion matrix and the metrics derived from it, as defined in unet/metrics.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <unet/metrics.h>

#include "error.h"

unet_status unet_confusion_init(unet_confusion *cm, int n_classes)
{
    if (!cm)
        return unet_set_error(UNET_ERR_ARG, "unet_confusion_init: cm is NULL");
    cm->n_classes = 0;
    cm->counts = NULL;
    if (n_classes < 1 || n_classes > UNET_MAX_CLASSES)
        return unet_set_error(UNET_ERR_ARG, "confusion matrix: %d classes, expected 1 to %d",
                              n_classes, UNET_MAX_CLASSES);
    cm->counts = calloc((size_t)n_classes * (size_t)n_classes, sizeof *cm->counts);
    if (!cm->counts)
        return unet_set_error(UNET_ERR_NOMEM, "confusion matrix: out of memory for %d classes",
                              n_classes);
    cm->n_classes = n_classes;
    return UNET_OK;
}

void unet_confusion_free(unet_confusion *cm)
{
    if (!cm)
        return;
    free(cm->counts);
    cm->counts = NULL;
    cm->n_classes = 0;
}

void unet_confusion_reset(unet_confusion *cm)
{
    if (cm && cm->counts)
        memset(cm->counts, 0, (size_t)cm->n_classes * (size_t)cm->n_classes * sizeof *cm->counts);
}

unet_status unet_confusion_add(unet_confusion *cm, const uint8_t *truth, const uint8_t *pred,
                               size_t n, int ignore_label)
{
    if (!cm || !cm->counts)
        return unet_set_error(UNET_ERR_ARG, "unet_confusion_add: matrix not initialised");
    if (n == 0)
        return UNET_OK;
    if (!truth || !pred)
        return unet_set_error(UNET_ERR_ARG, "unet_confusion_add: %s is NULL",
                              truth ? "pred" : "truth");
    int k = cm->n_classes;
    /* Check every prediction first so that a bad call leaves the matrix as it was. */
    for (size_t i = 0; i < n; i++)
        if (pred[i] >= k)
            return unet_set_error(UNET_ERR_ARG,
                                  "confusion matrix: prediction %d at pixel %zu is not a class (0..%d)",
                                  pred[i], i, k - 1);
    for (size_t i = 0; i < n; i++) {
        int t = truth[i];
        if (t == ignore_label || t >= k)
            continue;
        cm->counts[(size_t)t * (size_t)k + pred[i]]++;
    }
    return UNET_OK;
}

unet_status unet_confusion_merge(unet_confusion *dst, const unet_confusion *src)
{
    if (!dst || !src || !dst->counts || !src->counts)
        return unet_set_error(UNET_ERR_ARG, "unet_confusion_merge: matrix not initialised");
    if (dst->n_classes != src->n_classes)
        return unet_set_error(UNET_ERR_ARG, "confusion matrices differ: %d vs %d classes",
                              dst->n_classes, src->n_classes);
    size_t n = (size_t)dst->n_classes * (size_t)dst->n_classes;
    for (size_t i = 0; i < n; i++)
        dst->counts[i] += src->counts[i];
    return UNET_OK;
}

static double ratio(uint64_t num, uint64_t den)
{
    return den ? (double)num / (double)den : NAN;
}

void unet_metrics_compute(const unet_confusion *cm, unet_metrics *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    for (int c = 0; c < UNET_MAX_CLASSES; c++) {
        unet_class_metrics *m = &out->per_class[c];
        m->precision = m->recall = m->f1 = m->iou = NAN;
    }
    out->pixel_accuracy = out->mean_iou = out->macro_f1 = out->weighted_f1 = NAN;
    if (!cm || !cm->counts || cm->n_classes < 1 || cm->n_classes > UNET_MAX_CLASSES)
        return;

    int k = cm->n_classes;
    out->n_classes = k;
    uint64_t correct = 0;
    for (int t = 0; t < k; t++) {
        for (int p = 0; p < k; p++) {
            uint64_t v = cm->counts[(size_t)t * (size_t)k + (size_t)p];
            out->per_class[t].support += v;
            out->per_class[p].predicted += v;
            out->total += v;
        }
        correct += cm->counts[(size_t)t * (size_t)k + (size_t)t];
    }

    double iou_sum = 0, f1_sum = 0, weighted_sum = 0;
    for (int c = 0; c < k; c++) {
        unet_class_metrics *m = &out->per_class[c];
        uint64_t tp = cm->counts[(size_t)c * (size_t)k + (size_t)c];
        uint64_t fp = m->predicted - tp, fn = m->support - tp;
        m->precision = ratio(tp, tp + fp);
        m->recall = ratio(tp, tp + fn);
        m->f1 = ratio(2 * tp, 2 * tp + fp + fn);
        m->iou = ratio(tp, tp + fp + fn);
        if (m->support > 0) { /* present: then F1 and IoU are defined */
            out->n_present++;
            iou_sum += m->iou;
            f1_sum += m->f1;
            weighted_sum += (double)m->support * m->f1;
        }
    }
    if (out->total > 0) {
        out->pixel_accuracy = (double)correct / (double)out->total;
        out->weighted_f1 = weighted_sum / (double)out->total;
    }
    if (out->n_present > 0) {
        out->mean_iou = iou_sum / out->n_present;
        out->macro_f1 = f1_sum / out->n_present;
    }
}
