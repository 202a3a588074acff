/* BatchNormalization folded into the Conv before it, before quantising, so
 * the weights quantised are the ones that run (a BN after an int8 Conv would
 * otherwise rescale each channel's rounding error). */
#ifndef UNET_TOOLS_QUANTIZE_FOLD_BATCHNORM_H
#define UNET_TOOLS_QUANTIZE_FOLD_BATCHNORM_H

#include <unet/unet.h>

#include "onnx.pb-c.h"

/* Every Conv -> BatchNormalization pair where the BN is the Conv output's
 * only reader, the Conv output is no graph output, the BN's four parameters
 * and the Conv's weight (and bias) are float32 initializers read by that
 * node alone: W'[o] = W[o] * k[o], b'[o] = (b[o] - mean[o]) * k[o] + shift[o]
 * with k = scale / sqrt(var + epsilon); the Conv then writes the BN's output
 * and the BN node and its parameters go. *folded counts the pairs. Errors
 * name the node and tensor (invalid parameter sizes, negative variance). */
unet_status qz_fold_batchnorm(Onnx__GraphProto *g, int *folded);

#endif
