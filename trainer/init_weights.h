/* Starting weights for fine-tuning (unet-train --init): a model exported by
 * unet-train, whose initializers are read by name with protobuf-c, or a
 * checkpoint (its best weights when it holds them, else its current ones). */
#ifndef UNET_TRAINER_INIT_WEIGHTS_H
#define UNET_TRAINER_INIT_WEIGHTS_H

#include <unet/unet.h>

#include "net.h"

/* The architecture of the weights in path. For an ONNX model it is read from
 * the initializer shapes (enc{l}.conv1.weight, enc0.bn1.scale, head.weight);
 * dropout, which leaves no trace in a model, is 0. */
unet_status init_weights_arch(const char *path, unet_arch *arch);

/* Copies every parameter of params from path; each must be present with the
 * same shape. With allow_new_head, head.weight and head.bias may have another
 * class count: they keep their values in params and *new_head is set to 1. */
unet_status init_weights_load(const char *path, unet_params *params, int allow_new_head,
                              int *new_head);

#endif
