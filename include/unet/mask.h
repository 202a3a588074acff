/* Class scores to a mask: the one place where a pixel's probabilities (or
 * logits) become its class id, for tiles (unet-infer, unet-eval) and for
 * the rows of a scene (unet/scene.h) alike.
 *
 * Scores of n pixels for `classes` classes sit at
 * scores[k * class_stride + i * pixel_stride]: class-major planes
 * (NCHW: class_stride = pixels of a plane, pixel_stride = 1) or pixel-major
 * (NHWC: class_stride = 1, pixel_stride = classes). A pixel's value is the
 * class with the largest score, the lowest id on ties; a NaN score never
 * wins against class 0's. */
#ifndef UNET_MASK_H
#define UNET_MASK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* classes is 1..256; mask gets n bytes. */
void unet_mask_argmax(const float *scores, int classes, size_t n, size_t class_stride,
                      size_t pixel_stride, uint8_t *mask);

#ifdef __cplusplus
}
#endif

#endif
