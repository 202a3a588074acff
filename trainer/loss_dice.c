/* Soft Dice loss over the batch (see loss.h).
 *
 * With I_c = sum_i p_ic y_ic and S_c = sum_i (p_ic + y_ic) over the counted
 * pixels, D_c = 2 I_c / S_c and L = 1 - sum_c w_c D_c / W (W = sum of w_c over
 * the present classes). Its gradient w.r.t. a probability is
 *   dL/dp_ic = -(w_c / W) * 2 (y_ic S_c - I_c) / S_c^2
 * for present classes (absent classes are not in the mean: 0), then through
 * the softmax. The sums are in double, in pixel order: no dependence on the
 * thread count. */
#include <stdlib.h>
#include <string.h>

#include <unet/palette.h>

#include "error.h"
#include "loss.h"

unet_status loss_dice(const float *probs, const uint8_t *labels, const float *weights,
                      int ignore_label, int batch, int channels, size_t hw, double *loss,
                      float scale, float *diff_logits)
{
    if (channels < 1 || channels > UNET_PALETTE_MAX_CLASSES)
        return unet_set_error(UNET_ERR_ARG, "Dice loss: %d classes (1..%d)", channels,
                              UNET_PALETTE_MAX_CLASSES);
    const size_t pixels = (size_t)batch * hw;
    int present[UNET_PALETTE_MAX_CLASSES];
    *loss = 0;
    if (loss_present_classes(labels, ignore_label, channels, pixels, present, NULL) == 0)
        return UNET_OK;
    double inter[UNET_PALETTE_MAX_CLASSES] = {0}, denom[UNET_PALETTE_MAX_CLASSES] = {0};
    for (size_t k = 0; k < pixels; k++) {
        const int y = labels[k];
        if (y == ignore_label || y >= channels)
            continue;
        const float *p = probs + (k / hw) * (size_t)channels * hw + k % hw;
        for (int c = 0; c < channels; c++)
            denom[c] += p[(size_t)c * hw];
        inter[y] += p[(size_t)y * hw];
        denom[y] += 1.0;
    }
    double wsum = 0;
    for (int c = 0; c < channels; c++)
        if (present[c])
            wsum += weights ? weights[c] : 1.0;
    if (!(wsum > 0))
        return UNET_OK; /* every present class weighs 0: nothing to learn */
    /* Per class: dL/dp = a_c y + b_c at a counted pixel. */
    double a[UNET_PALETTE_MAX_CLASSES] = {0}, b[UNET_PALETTE_MAX_CLASSES] = {0};
    double score = 0;
    for (int c = 0; c < channels; c++) {
        if (!present[c])
            continue;
        const double w = (weights ? weights[c] : 1.0) / wsum;
        score += w * 2.0 * inter[c] / denom[c];
        a[c] = -w * 2.0 / denom[c];
        b[c] = w * 2.0 * inter[c] / (denom[c] * denom[c]);
    }
    *loss = 1.0 - score;
    const size_t n = pixels * (size_t)channels;
    double *dprobs = malloc(n * sizeof *dprobs);
    if (!dprobs)
        return unet_set_error(UNET_ERR_NOMEM, "Dice loss: out of memory for %zu gradients", n);
    memset(dprobs, 0, n * sizeof *dprobs);
    for (size_t k = 0; k < pixels; k++) {
        const int y = labels[k];
        if (y == ignore_label || y >= channels)
            continue; /* left out: no gradient */
        double *g = dprobs + (k / hw) * (size_t)channels * hw + k % hw;
        for (int c = 0; c < channels; c++)
            g[(size_t)c * hw] = (c == y ? a[c] : 0.0) + b[c];
    }
    loss_softmax_backward(probs, dprobs, batch, channels, hw, scale, diff_logits);
    free(dprobs);
    return UNET_OK;
}
