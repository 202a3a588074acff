/* Additions to net.h used by the trainer's own code and tests: the constants
 * the export must agree with, dropout state (for exactly repeatable and
 * resumable runs) and a view of the oneDNN plan (memory, implementations). */
#ifndef UNET_TRAINER_NET_EXT_H
#define UNET_TRAINER_NET_EXT_H

#include <stddef.h>
#include <stdint.h>

#include "layer_plan.h"
#include "loss.h"
#include "net.h"

/* BatchNormalization epsilon (PyTorch's and the export's default) and the
 * running-statistics momentum. */
#define NET_BN_EPSILON 1e-5f
#define NET_BN_MOMENTUM 0.1f

/* Dropout masks are a function of (seed, counter); every training forward
 * uses the current counter and then advances it by one. Defaults: 0, 0. */
void net_set_dropout_state(unet_net *net, uint64_t seed, uint64_t counter);
uint64_t net_dropout_counter(const unet_net *net);

/* net_loss with the loss spec chooses (loss.h; NULL: cross-entropy), its
 * gradient kept for net_backward as net_loss's is. */
unet_status net_loss_spec(unet_net *net, const loss_spec *spec, const uint8_t *labels,
                          const float *class_weights, int ignore_label, double *loss);

const layer_plan *net_plan(const unet_net *net);
int net_height(const unet_net *net);
int net_width(const unet_net *net);

#endif
