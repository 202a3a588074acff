/* The U-Net the trainer trains: architecture, parameters, forward and backward.
 *
 * Parameters live in a unet_params object in plain ONNX layouts (Conv weights
 * OIHW, ConvTranspose weights IOHW), so the optimiser, checkpoints and the ONNX
 * export all see one simple layout; a unet_net is the oneDNN machinery for one
 * batch shape and reorders weights into whatever layout its primitives chose.
 * Several nets (say a training batch and a validation batch) share one params.
 *
 * Parameter names are the ONNX initializer names of the export:
 *   enc{l}.conv{k}.weight/.bias          l = 0..depth-1, k = 1, 2
 *   enc{l}.bn{k}.scale/.shift/.mean/.var (with batch normalisation)
 *   mid.conv{k}.*, mid.bn{k}.*           the bottleneck, base * 2^depth filters
 *   dec{l}.up.weight/.bias               ConvTranspose 2x2 stride 2, 2*f -> f
 *   dec{l}.conv{k}.*, dec{l}.bn{k}.*     after concat(up, skip of enc{l})
 *   head.weight/.bias                    1x1 conv to n_classes
 * where level l has base * 2^l filters. With batch normalisation the convs
 * keep their bias (it is folded away at export time if wanted).
 */
#ifndef UNET_TRAINER_NET_H
#define UNET_TRAINER_NET_H

#include <stddef.h>
#include <stdint.h>
#include <unet/unet.h>

typedef struct unet_arch {
    int in_channels;   /* 3 */
    int n_classes;     /* 6 */
    int depth;         /* pooling steps, 1..6 */
    int base_filters;  /* filters at level 0, doubling per level */
    int batchnorm;     /* 0 or 1 */
    float dropout;     /* dropout rate before the bottleneck convs, 0 = none */
} unet_arch;

typedef enum net_param_kind {
    NET_PARAM_CONV_WEIGHT,   /* OIHW */
    NET_PARAM_DECONV_WEIGHT, /* IOHW (ONNX ConvTranspose) */
    NET_PARAM_BIAS,
    NET_PARAM_BN_SCALE,
    NET_PARAM_BN_SHIFT,
    NET_PARAM_BN_MEAN,       /* running statistics: not trained by gradient */
    NET_PARAM_BN_VAR
} net_param_kind;

typedef struct net_param {
    char name[64];
    int kind;          /* net_param_kind */
    int trainable;     /* 1 when the optimiser updates it */
    int rank;
    int64_t dims[4];
    size_t count;
    float *data;       /* plain layout, owned by unet_params */
    float *grad;       /* same size; filled by net_backward (NULL when not trainable) */
} net_param;

typedef struct unet_params {
    unet_arch arch;
    int n;
    net_param *p;
} unet_params;

/* Validates arch (message on failure) and allocates all parameters, zeroed. */
unet_status params_create(const unet_arch *arch, unet_params **out);
void params_free(unet_params *params);
/* He-normal weights, zero biases, BN scale 1 / shift 0 / mean 0 / var 1. */
void params_init_he(unet_params *params, uint64_t seed);
net_param *params_find(unet_params *params, const char *name);
size_t params_trainable_count(const unet_params *params); /* number of floats */

typedef struct unet_net unet_net;

/* Builds the oneDNN primitives for input (batch, in_channels, height, width);
 * height and width must be divisible by 2^depth. */
unet_status net_create(unet_params *params, int batch, int height, int width, unet_net **out);
void net_free(unet_net *net);
int net_batch(const unet_net *net);

/* input: batch x C x H x W floats, plain NCHW, already scaled to [0,1].
 * training = 1 keeps what backward needs, uses batch statistics for BN
 * (updating running stats with momentum 0.1) and applies dropout. */
unet_status net_forward(unet_net *net, const float *input, int training);
/* Softmax probabilities of the last forward, batch x n_classes x H x W, plain NCHW. */
const float *net_probs(const unet_net *net);
/* Mean softmax cross-entropy over labelled pixels of the last forward and its
 * gradient w.r.t. the logits (kept for net_backward). labels: batch x H x W class
 * ids; ignore_label pixels (and values >= n_classes) are left out. class_weights
 * (n_classes floats, or NULL for 1) weight each pixel's term; the mean divides
 * by the sum of weights of counted pixels. */
unet_status net_loss(unet_net *net, const uint8_t *labels, const float *class_weights,
                     int ignore_label, double *loss);
/* Backpropagates the gradient of the last net_loss; overwrites every param's grad. */
unet_status net_backward(unet_net *net);

/* Analytic forward FLOPs per image (a multiply-add is 2). */
double unet_arch_flops(const unet_arch *arch, int height, int width);

#endif
