/* Choosing quantisation parameters: the scale and zero point of an
 * activation range (asymmetric, unsigned), and symmetric int8 weights per
 * output channel. The arithmetic is ONNX's QuantizeLinear: q =
 * saturate(round_half_even(x / scale) + zero). Pure arithmetic. */
#ifndef UNET_TOOLS_QUANTIZE_QUANT_PARAMS_H
#define UNET_TOOLS_QUANTIZE_QUANT_PARAMS_H

#include <stdint.h>

/* Scale and zero point for [lo, hi] on 0..qmax (255 for uint8; 127 keeps
 * the activations to 7 bits): the range is widened to hold 0 (so zero, the
 * padding value, is exact), scale = (hi - lo) / qmax, zero =
 * round(-lo / scale) in 0..qmax. An empty range (lo = hi = 0) gives scale 1,
 * zero 0. Returns -1 when lo or hi is not finite, lo > hi or qmax < 1. */
int qz_choose_activation(double lo, double hi, int qmax, float *scale, uint8_t *zero);

/* Weights w of shape [oc, per_oc...] (per_oc values per output channel) to
 * int8 per output channel: scale[c] = max|w[c]| / 127 (1 for an all-zero
 * channel), q = clamp(round_half_even(w / scale[c]), -127, 127), zero point
 * 0. Returns the largest |w - q * scale| (the rounding error, at most
 * scale / 2), or -1 when a weight is not finite. */
double qz_quantize_weights(const float *w, int64_t oc, int64_t per_oc, int8_t *q, float *scale);

#endif
