/* Class scores to a mask (see unet/mask.h). */
#include <unet/mask.h>

void unet_mask_argmax(const float *scores, int classes, size_t n, size_t class_stride,
                      size_t pixel_stride, uint8_t *mask)
{
    for (size_t i = 0; i < n; i++) {
        const float *p = scores + i * pixel_stride;
        int best = 0;
        float best_score = p[0];
        for (int k = 1; k < classes; k++)
            if (p[(size_t)k * class_stride] > best_score) {
                best_score = p[(size_t)k * class_stride];
                best = k;
            }
        mask[i] = (uint8_t)best;
    }
}
