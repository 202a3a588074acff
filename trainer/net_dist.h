/* The U-Net as one rank of a data-parallel run (see dist_hooks.h): batch
 * normalisation over the global batch, "gradients ready" events during
 * backward, dropout masks that do not depend on how the batch is split, and
 * the loss gradient's rescaling to the global batch. */
#ifndef UNET_TRAINER_NET_DIST_H
#define UNET_TRAINER_NET_DIST_H

#include <stdint.h>

#include "dist_hooks.h"
#include "net.h"

/* net_create for the rank whose local batch (batch samples) starts at sample
 * first_sample of the global batch. dist must outlive the net; dist NULL and
 * first_sample 0 is net_create. */
unet_status net_create_dist(unet_params *params, int batch, int height, int width,
                            const train_dist *dist, uint64_t first_sample, unet_net **out);

/* Multiplies the loss gradient of the last net_loss by factor (this rank's
 * weight sum over the global one), before net_backward. */
void net_scale_loss_grad(unet_net *net, float factor);

#endif
