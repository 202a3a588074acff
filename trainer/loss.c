/* Loss names and the dispatch between them (see loss.h). */
#include <math.h>
#include <string.h>

#include "error.h"
#include "layers.h"
#include "loss.h"

static const char *const kind_names[] = {"ce", "dice", "lovasz", "ce+dice", "ce+lovasz"};
#define N_KINDS ((int)(sizeof kind_names / sizeof kind_names[0]))

const char *loss_kind_name(int kind)
{
    return kind >= 0 && kind < N_KINDS ? kind_names[kind] : "?";
}

int loss_kind_from_name(const char *name)
{
    for (int k = 0; k < N_KINDS; k++)
        if (strcmp(name, kind_names[k]) == 0)
            return k;
    return -1;
}

int loss_has_ce(int kind) { return kind == LOSS_CE || kind == LOSS_CE_DICE || kind == LOSS_CE_LOVASZ; }

int loss_has_region(int kind) { return kind != LOSS_CE && kind >= 0 && kind < N_KINDS; }

size_t loss_present_classes(const uint8_t *labels, int ignore_label, int channels, size_t pixels,
                            int *present, size_t *counts)
{
    for (int c = 0; c < channels; c++) {
        present[c] = 0;
        if (counts)
            counts[c] = 0;
    }
    size_t counted = 0;
    for (size_t i = 0; i < pixels; i++) {
        const int y = labels[i];
        if (y == ignore_label || y >= channels)
            continue;
        present[y] = 1;
        if (counts)
            counts[y]++;
        counted++;
    }
    return counted;
}

void loss_softmax_backward(const float *probs, const double *dprobs, int batch, int channels,
                           size_t hw, float scale, float *diff_logits)
{
    for (int n = 0; n < batch; n++) {
        const size_t base = (size_t)n * (size_t)channels * hw;
        for (size_t i = 0; i < hw; i++) {
            double dot = 0;
            for (int c = 0; c < channels; c++)
                dot += (double)probs[base + (size_t)c * hw + i] * dprobs[base + (size_t)c * hw + i];
            for (int c = 0; c < channels; c++) {
                const size_t k = base + (size_t)c * hw + i;
                diff_logits[k] += (float)((double)scale * probs[k] * (dprobs[k] - dot));
            }
        }
    }
}

unet_status loss_compute(const loss_spec *spec, const float *logits, const float *probs,
                         const uint8_t *labels, const float *weights, int ignore_label, int batch,
                         int channels, size_t hw, double *loss, float *diff_logits)
{
    const int kind = spec ? spec->kind : LOSS_CE;
    if (kind < 0 || kind >= N_KINDS)
        return unet_set_error(UNET_ERR_ARG, "loss: unknown kind %d", kind);
    if (batch < 1 || channels < 1 || hw < 1)
        return unet_set_error(UNET_ERR_ARG, "loss: batch %d, %d channels, %zu pixels", batch,
                              channels, hw);
    if (weights)
        for (int c = 0; c < channels; c++)
            if (!(weights[c] >= 0.0f && isfinite(weights[c])))
                return unet_set_error(UNET_ERR_ARG, "class weight %d is %g (must be finite, >= 0)",
                                      c, (double)weights[c]);
    double ce = 0, region = 0;
    if (loss_has_ce(kind))
        UNET_TRY(softmax_ce(logits, labels, weights, ignore_label, batch, channels, hw, &ce,
                            diff_logits));
    else
        memset(diff_logits, 0, (size_t)batch * (size_t)channels * hw * sizeof *diff_logits);
    if (!loss_has_region(kind)) {
        *loss = ce;
        return UNET_OK;
    }
    /* Alone, a region loss has weight 1; added to cross-entropy, spec->weight. */
    const double w = loss_has_ce(kind) ? spec->weight : 1.0;
    if (!(w >= 0 && w <= LOSS_WEIGHT_MAX))
        return unet_set_error(UNET_ERR_ARG, "loss weight %g is outside [0, %g]", w,
                              LOSS_WEIGHT_MAX);
    if (kind == LOSS_DICE || kind == LOSS_CE_DICE)
        UNET_TRY(loss_dice(probs, labels, weights, ignore_label, batch, channels, hw, &region,
                           (float)w, diff_logits));
    else
        UNET_TRY(loss_lovasz(probs, labels, weights, ignore_label, batch, channels, hw, &region,
                             (float)w, diff_logits));
    *loss = ce + w * region;
    return UNET_OK;
}
