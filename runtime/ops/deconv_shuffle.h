/* ConvTranspose with kernel == stride as a 1x1 convolution plus a pixel shuffle. */
#ifndef UNET_RUNTIME_OPS_DECONV_SHUFFLE_H
#define UNET_RUNTIME_OPS_DECONV_SHUFFLE_H

#include "../plan.h"

/* 1 when the node's geometry allows it (2-D, one group, kernel == stride, no
 * padding, dilation 1, constant weights and bias). */
int deconv_shuffle_applies(const plan_t *p, const node_t *n, const int64_t *kernel, const int64_t *stride,
                           const int64_t *pad_l, const int64_t *pad_r, const int64_t *dil,
                           const int64_t *out_pad, int sp, int64_t group);
/* Builds the steps for n on input x and weights w (n's own, or float32 ones
 * in their place); int8 when n is a QDQ ConvTranspose whose w is its int8
 * weights. *done = 0 (and nothing added) when oneDNN has no kernel or its
 * chosen layout cannot be viewed, so the caller falls back to the
 * deconvolution primitive. attr carries the fused activation. The output
 * shape must already be set. */
unet_status deconv_shuffle_build(plan_t *p, const node_t *n, int x, int w, dnnl_primitive_attr_t attr, int *done);

#endif
