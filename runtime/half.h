/* IEEE 754 half precision (float16) from and to float32: rounding to
 * nearest even, subnormals, infinities, NaN payloads kept (their top bits).
 * The one conversion of the project: Cast and Pad in the runtime, the
 * .npy probability files of the programs. */
#ifndef UNET_RUNTIME_HALF_H
#define UNET_RUNTIME_HALF_H

#include <stdint.h>

uint16_t unet_half_from_float(float f);
float unet_half_to_float(uint16_t h);

#endif
