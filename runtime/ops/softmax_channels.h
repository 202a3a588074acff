/* Softmax over the channels of N x C x spatial tensors with few channels: the
 * segmentation head (softmax_channels.c). */
#ifndef UNET_RUNTIME_OPS_SOFTMAX_CHANNELS_H
#define UNET_RUNTIME_OPS_SOFTMAX_CHANNELS_H

#include "../plan.h"

/* Whether Softmax n (opset 13 or later semantics, axis already normalised)
 * runs on this kernel: float, rank >= 3, axis 1, at most
 * SOFTMAX_CHANNELS_MAX channels. */
#define SOFTMAX_CHANNELS_MAX 64
int softmax_channels_applies(const plan_t *p, const node_t *n, int axis);
/* Adds the step (input and output in the plain layout). */
unet_status softmax_channels_build(plan_t *p, const node_t *n);

#endif
