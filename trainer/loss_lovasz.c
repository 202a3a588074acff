/* Lovász-softmax loss over the batch (see loss.h).
 *
 * For one class with n_fg foreground pixels among the counted ones, sort the
 * errors e = |fg - p| in decreasing order; after the first k pixels of that
 * order, with f_k of them foreground and b_k background, the Jaccard loss of
 * "those k are wrong" is J_k = 1 - (n_fg - f_k) / (n_fg + b_k). The Lovász
 * extension is sum_k e_(k) (J_k - J_(k-1)) (J_0 = 0): linear in the errors
 * within one sorting order, so its gradient w.r.t. e_(k) is J_k - J_(k-1),
 * and de/dp = -1 at foreground pixels, +1 at background ones. Errors are
 * the floats 1 - p and p; ties are broken by pixel index, so the gradient
 * is a deterministic function of the inputs (the loss itself does not
 * depend on how ties are broken). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <unet/palette.h>

#include "error.h"
#include "loss.h"

typedef struct ranked {
    uint32_t key;  /* orders by decreasing error (see error_key) */
    float err;
    size_t pixel;  /* index into batch x hw */
} ranked;

/* A key whose increasing order is the decreasing order of err >= 0: the bits
 * of a non-negative float grow with its value. */
static uint32_t error_key(float err)
{
    uint32_t bits;
    memcpy(&bits, &err, sizeof bits);
    return ~bits;
}

/* Stable LSD radix sort by key, 8 bits a pass: the pixels were filled in
 * index order, so equal errors stay in index order. A sort per class per
 * step over every pixel of the batch: radix keeps it linear. */
static void sort_by_key(ranked *a, ranked *tmp, size_t m)
{
    for (int shift = 0; shift < 32; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < m; i++)
            count[((a[i].key >> shift) & 0xff) + 1]++;
        if (count[((a[0].key >> shift) & 0xff) + 1] == m)
            continue; /* one digit value throughout: the pass would not move anything */
        for (int d = 0; d < 256; d++)
            count[d + 1] += count[d];
        for (size_t i = 0; i < m; i++)
            tmp[count[(a[i].key >> shift) & 0xff]++] = a[i];
        memcpy(a, tmp, m * sizeof *a);
    }
}

unet_status loss_lovasz(const float *probs, const uint8_t *labels, const float *weights,
                        int ignore_label, int batch, int channels, size_t hw, double *loss,
                        float scale, float *diff_logits)
{
    if (channels < 1 || channels > UNET_PALETTE_MAX_CLASSES)
        return unet_set_error(UNET_ERR_ARG, "Lovász loss: %d classes (1..%d)", channels,
                              UNET_PALETTE_MAX_CLASSES);
    const size_t pixels = (size_t)batch * hw;
    int present[UNET_PALETTE_MAX_CLASSES];
    size_t fg_count[UNET_PALETTE_MAX_CLASSES];
    *loss = 0;
    const size_t counted =
        loss_present_classes(labels, ignore_label, channels, pixels, present, fg_count);
    if (counted == 0)
        return UNET_OK;
    double wsum = 0;
    for (int c = 0; c < channels; c++)
        if (present[c])
            wsum += weights ? weights[c] : 1.0;
    if (!(wsum > 0))
        return UNET_OK;
    const size_t n = pixels * (size_t)channels;
    ranked *order = malloc(counted * sizeof *order), *tmp = malloc(counted * sizeof *tmp);
    double *dprobs = malloc(n * sizeof *dprobs);
    if (!order || !tmp || !dprobs) {
        free(order);
        free(tmp);
        free(dprobs);
        return unet_set_error(UNET_ERR_NOMEM, "Lovász loss: out of memory for %zu pixels",
                              counted);
    }
    memset(dprobs, 0, n * sizeof *dprobs);
    double total = 0;
    for (int c = 0; c < channels; c++) {
        const double w = present[c] ? (weights ? weights[c] : 1.0) / wsum : 0.0;
        if (w == 0.0)
            continue;
        size_t m = 0;
        for (size_t k = 0; k < pixels; k++) {
            const int y = labels[k];
            if (y == ignore_label || y >= channels)
                continue;
            const float p = probs[(k / hw) * (size_t)channels * hw + (size_t)c * hw + k % hw];
            /* p may round a hair above 1: errors stay >= 0 for the key. */
            const float e = fmaxf(y == c ? 1.0f - p : p, 0.0f);
            order[m].err = e;
            order[m].key = error_key(e);
            order[m].pixel = k;
            m++;
        }
        sort_by_key(order, tmp, m);
        const double n_fg = (double)fg_count[c];
        double f = 0, b = 0, j_prev = 0, class_loss = 0;
        for (size_t k = 0; k < m; k++) {
            const size_t px = order[k].pixel;
            const int fg = labels[px] == c;
            if (fg)
                f += 1;
            else
                b += 1;
            const double j = 1.0 - (n_fg - f) / (n_fg + b); /* n_fg >= 1: present */
            const double g = j - j_prev;
            j_prev = j;
            class_loss += (double)order[k].err * g;
            dprobs[(px / hw) * (size_t)channels * hw + (size_t)c * hw + px % hw] =
                w * (fg ? -g : g);
        }
        total += w * class_loss;
    }
    free(order);
    free(tmp);
    *loss = total;
    loss_softmax_backward(probs, dprobs, batch, channels, hw, scale, diff_logits);
    free(dprobs);
    return UNET_OK;
}
