/* Training losses on the net's logits (unet-train --loss): softmax
 * cross-entropy (layer_softmax_ce.c), soft Dice (loss_dice.c), Lovász-softmax
 * (loss_lovasz.c) and cross-entropy plus one of the two.
 *
 * Dice and Lovász are losses of the whole batch (they are not sums over
 * pixels): classes are scored over every counted pixel of every sample, then
 * averaged over the classes present in the batch's labels. A pixel counts
 * when its label is < channels and != ignore_label. Class weights, when
 * given, weight each class in that average (a weight of 0 leaves the class
 * out); cross-entropy weights pixels as before.
 *
 * Inputs are plain NCHW: probs = softmax of the logits over channels (the net
 * keeps them from the forward), labels batch x H x W. The region losses add
 * scale x their gradient w.r.t. the logits (through the softmax) to
 * diff_logits, so combinations sum in one buffer. Library code: no output. */
#ifndef UNET_TRAINER_LOSS_H
#define UNET_TRAINER_LOSS_H

#include <stddef.h>
#include <stdint.h>

#include <unet/unet.h>

typedef enum loss_kind {
    LOSS_CE = 0, /* the default: zero-initialised options mean cross-entropy */
    LOSS_DICE,
    LOSS_LOVASZ,
    LOSS_CE_DICE,
    LOSS_CE_LOVASZ
} loss_kind;

/* What --loss and --loss-weight chose. The combined kinds are
 * CE + weight x (Dice or Lovász); weight is not used by the others. */
typedef struct loss_spec {
    int kind;     /* loss_kind */
    double weight;
} loss_spec;

#define LOSS_WEIGHT_DEFAULT 1.0
#define LOSS_WEIGHT_MAX 100.0

/* "ce", "dice", "lovasz", "ce+dice", "ce+lovasz"; from_name: -1 when unknown. */
const char *loss_kind_name(int kind);
int loss_kind_from_name(const char *name);
/* Whether the kind has a cross-entropy term / a region (Dice or Lovász) term. */
int loss_has_ce(int kind);
int loss_has_region(int kind);

/* The loss of spec on one batch and its gradient w.r.t. the logits, written
 * to diff_logits (overwritten). logits and probs (its softmax) are batch x
 * channels x hw. weights NULL or channels finite values >= 0. With no
 * counted pixel the loss and the gradient are 0. */
unet_status loss_compute(const loss_spec *spec, const float *logits, const float *probs,
                         const uint8_t *labels, const float *weights, int ignore_label, int batch,
                         int channels, size_t hw, double *loss, float *diff_logits);

/* Soft Dice loss 1 - sum_c w_c D_c / sum_c w_c over the classes c present,
 * D_c = 2 sum_i p_ic y_ic / sum_i (p_ic + y_ic) over the counted pixels i
 * (no smoothing term: a present class has a positive denominator). Adds
 * scale x gradient to diff_logits. */
unet_status loss_dice(const float *probs, const uint8_t *labels, const float *weights,
                      int ignore_label, int batch, int channels, size_t hw, double *loss,
                      float scale, float *diff_logits);

/* Lovász-softmax (Berman, Rannen Triki and Blaschko, 2018): per present
 * class c, the Lovász extension of the Jaccard loss evaluated at the errors
 * e_i = |[y_i = c] - p_ic| of the counted pixels, i.e. sum_k e_(k) g_k with
 * the errors sorted in decreasing order (ties by pixel index) and g_k the
 * increments of 1 - Jaccard along that order; then the (weighted) mean over
 * the present classes. Adds scale x gradient to diff_logits. */
unet_status loss_lovasz(const float *probs, const uint8_t *labels, const float *weights,
                        int ignore_label, int batch, int channels, size_t hw, double *loss,
                        float scale, float *diff_logits);

/* Shared by the region losses: diff_logits += scale x the gradient w.r.t.
 * the logits of a loss whose gradient w.r.t. the probabilities is dprobs
 * (both NCHW): dz_k = p_k (g_k - sum_c p_c g_c) at every pixel. */
void loss_softmax_backward(const float *probs, const double *dprobs, int batch, int channels,
                           size_t hw, float scale, float *diff_logits);

/* The classes present among the counted labels (present[c] = 1) and their
 * pixel counts (counts may be NULL). Returns the number of counted pixels. */
size_t loss_present_classes(const uint8_t *labels, int ignore_label, int channels, size_t pixels,
                            int *present, size_t *counts);

#endif
