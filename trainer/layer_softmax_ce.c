/* Softmax over channels and the weighted cross-entropy loss, on plain NCHW
 * floats (the net reorders its logits to NCHW for the caller anyway). Both use
 * the max-shifted log-sum-exp so large logits neither overflow nor lose the
 * small probabilities.
 *
 * Pixels are independent, so the loops run in parallel (OpenMP when built
 * with it); the loss is summed per fixed block of pixels and the blocks are
 * added in order, so the result does not depend on the thread count. */
#include <math.h>
#include <stdlib.h>

#include "error.h"
#include "layers.h"

/* Pixels per block of the loss sum. */
#define CE_BLOCK 4096

void softmax_channels(const float *logits, float *probs, int batch, int channels, size_t hw)
{
    const long long total = (long long)batch * (long long)hw;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (long long k = 0; k < total; k++) {
        const size_t n = (size_t)k / hw, i = (size_t)k % hw;
        const float *x = logits + n * channels * hw + i;
        float *y = probs + n * channels * hw + i;
        float mx = x[0];
        for (int c = 1; c < channels; c++)
            mx = fmaxf(mx, x[c * hw]);
        float sum = 0;
        for (int c = 0; c < channels; c++) {
            const float e = expf(x[c * hw] - mx);
            y[c * hw] = e;
            sum += e;
        }
        const float inv = 1.0f / sum;
        for (int c = 0; c < channels; c++)
            y[c * hw] *= inv;
    }
}

static int counted(int y, int ignore_label, int channels) { return y != ignore_label && y < channels; }

unet_status softmax_ce(const float *logits, const uint8_t *labels, const float *weights,
                       int ignore_label, int batch, int channels, size_t hw, double *loss,
                       float *diff_logits)
{
    if (weights)
        for (int c = 0; c < channels; c++)
            if (!(weights[c] >= 0.0f && isfinite(weights[c])))
                return unet_set_error(UNET_ERR_ARG, "class weight %d is %g (must be finite, >= 0)",
                                      c, (double)weights[c]);
    /* First pass: the total weight, so the gradient can be scaled in the second. */
    double sum_w = 0;
    const size_t pixels = (size_t)batch * hw;
    for (size_t i = 0; i < pixels; i++)
        if (counted(labels[i], ignore_label, channels))
            sum_w += weights ? weights[labels[i]] : 1.0;
    const double inv_w = sum_w > 0 ? 1.0 / sum_w : 0.0;
    const long long n_blocks = (long long)((pixels + CE_BLOCK - 1) / CE_BLOCK);
    double *block_sum = malloc(sizeof(double) * (size_t)(n_blocks ? n_blocks : 1));
    if (!block_sum)
        return unet_set_error(UNET_ERR_NOMEM, "cross-entropy: out of memory");
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (long long b = 0; b < n_blocks; b++) {
        double part = 0;
        const size_t end = (size_t)(b + 1) * CE_BLOCK < pixels ? (size_t)(b + 1) * CE_BLOCK : pixels;
        for (size_t k = (size_t)b * CE_BLOCK; k < end; k++) {
            const size_t n = k / hw, i = k % hw;
            const float *x = logits + n * channels * hw + i;
            float *g = diff_logits + n * channels * hw + i;
            const int y = labels[k];
            const double w = counted(y, ignore_label, channels) ? (weights ? weights[y] : 1.0) : 0.0;
            if (w == 0.0 || inv_w == 0.0) {
                for (int c = 0; c < channels; c++)
                    g[c * hw] = 0.0f;
                continue;
            }
            float mx = x[0];
            for (int c = 1; c < channels; c++)
                mx = fmaxf(mx, x[c * hw]);
            float sum = 0;
            for (int c = 0; c < channels; c++)
                sum += expf(x[c * hw] - mx);
            const float lse = mx + logf(sum);
            part += w * ((double)lse - x[y * hw]);
            const float scale = (float)(w * inv_w);
            for (int c = 0; c < channels; c++)
                g[c * hw] = (expf(x[c * hw] - lse) - (float)(c == y)) * scale;
        }
        block_sum[b] = part;
    }
    double total = 0;
    for (long long b = 0; b < n_blocks; b++)
        total += block_sum[b];
    free(block_sum);
    *loss = total * inv_w;
    return UNET_OK;
}
