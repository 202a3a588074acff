/* The U-Net's layer families on a layer plan: each *_create appends its forward
 * steps, each *_backward (called in reverse order) appends its backward steps.
 *
 * Tensors flow as lp_tensor pointers in whatever layout oneDNN picked; a layer
 * reorders its inputs when its primitive asked for another layout. Parameters
 * are caller-owned plain arrays (ONNX layouts) that must outlive the plan; the
 * forward steps reorder them into the primitive's layout on every run (so the
 * optimiser can update them in place between steps) and the backward steps
 * write the gradients back in plain layout, overwriting them.
 */
#ifndef UNET_TRAINER_LAYERS_H
#define UNET_TRAINER_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "dist_hooks.h"
#include "layer_plan.h"

/* ---- convolution and transposed convolution (layer_conv.c) ---- */
typedef struct conv_spec {
    const char *name;
    int transposed;   /* 0: Conv, weights OIHW; 1: ConvTranspose, weights IOHW */
    int out_channels;
    int kernel, stride, pad; /* square kernel, equal stride and padding on all sides */
    const float *weight, *bias;
    float *dweight, *dbias;  /* gradients; NULL: no weight gradient steps */
} conv_spec;
typedef struct conv_layer conv_layer;
unet_status conv_layer_create(layer_plan *p, const conv_spec *spec, lp_tensor *src,
                              conv_layer **out, lp_tensor **dst);
/* diff_src NULL: the input's gradient is not needed (first layer). */
unet_status conv_layer_backward(layer_plan *p, conv_layer *l, lp_tensor *diff_dst,
                                lp_tensor **diff_src);

/* ---- 2x2 max pooling, stride 2 (layer_pool.c) ---- */
typedef struct pool_layer pool_layer;
unet_status pool_layer_create(layer_plan *p, const char *name, lp_tensor *src, pool_layer **out,
                              lp_tensor **dst);
unet_status pool_layer_backward(layer_plan *p, pool_layer *l, lp_tensor *diff_dst,
                                lp_tensor **diff_src);

/* ---- ReLU, in place on t (layer_relu.c) ---- */
typedef struct relu_layer relu_layer;
unet_status relu_layer_create(layer_plan *p, const char *name, lp_tensor *t, relu_layer **out);
/* May work in place on diff_dst. */
unet_status relu_layer_backward(layer_plan *p, relu_layer *l, lp_tensor *diff_dst,
                                lp_tensor **diff_src);

/* ---- batch normalisation (layer_bn.c) ----
 * Training forward normalises with the batch statistics and then updates the
 * running statistics as PyTorch does: running = (1 - momentum) * running +
 * momentum * batch, where the batch variance put into the running variance is
 * the unbiased one (times m / (m - 1), m = batch * height * width) while the
 * normalisation itself uses the biased one. Inference forward uses the running
 * statistics.
 * With sync (data-parallel training) the statistics are those of the global
 * batch: training forward reduces each rank's per-channel counts, sums and
 * squared deviations through sync->reduce_sums and normalises with the
 * global mean and variance; backward reduces the sums of diff_dst and
 * diff_dst * x_hat and uses them in diff_src. dscale/dshift receive this
 * rank's part (the gradient reduction sums them). sync NULL: one process. */
typedef struct bn_spec {
    const char *name;
    float epsilon, momentum;
    const float *scale, *shift;
    float *running_mean, *running_var;
    float *dscale, *dshift;
    const train_dist *sync;
} bn_spec;
typedef struct bn_layer bn_layer;
unet_status bn_layer_create(layer_plan *p, const bn_spec *spec, lp_tensor *src, bn_layer **out,
                            lp_tensor **dst);
unet_status bn_layer_backward(layer_plan *p, bn_layer *l, lp_tensor *diff_dst,
                              lp_tensor **diff_src);

/* ---- channel concatenation [a, b] (layer_concat.c) ---- */
typedef struct concat_layer concat_layer;
unet_status concat_layer_create(layer_plan *p, const char *name, lp_tensor *a, lp_tensor *b,
                                concat_layer **out, lp_tensor **dst);
/* Splits diff_dst into the gradients of a and b (in a's and b's layouts). */
unet_status concat_layer_backward(layer_plan *p, concat_layer *l, lp_tensor *diff_dst,
                                  lp_tensor **diff_a, lp_tensor **diff_b);

/* ---- inverted dropout, in place on t, training forward only (layer_dropout.c) ----
 * The mask is a pure function of (*seed, *counter, element index), read at
 * each forward: the caller advances *counter once per training forward, so runs
 * repeat exactly. Kept elements are scaled by 1 / (1 - rate). */
typedef struct dropout_layer dropout_layer;
unet_status dropout_layer_create(layer_plan *p, const char *name, lp_tensor *t, float rate,
                                 const uint64_t *seed, const uint64_t *counter,
                                 dropout_layer **out);
unet_status dropout_layer_backward(layer_plan *p, dropout_layer *l, lp_tensor *diff_dst,
                                   lp_tensor **diff_src);
/* Numbers the elements as if this batch of `batch` samples were samples
 * first_sample.. of a larger batch, so that a batch split over ranks draws
 * the masks one process draws. Needs the sample to be the outermost
 * dimension of the layout oneDNN picked (UNET_ERR_BACKEND otherwise). */
unet_status dropout_layer_set_first_sample(dropout_layer *l, uint64_t first_sample,
                                           uint64_t batch);

/* ---- softmax over channels and cross-entropy, plain NCHW (layer_softmax_ce.c) ---- */
void softmax_channels(const float *logits, float *probs, int batch, int channels, size_t hw);
/* Mean weighted cross-entropy over the counted pixels (label < channels and
 * != ignore_label) and its gradient w.r.t. the logits, (p - onehot) * w / sum_w
 * (zero at pixels left out). weights NULL means 1; they must be finite and >= 0.
 * With no counted pixel (or zero total weight) the loss and gradient are 0. */
unet_status softmax_ce(const float *logits, const uint8_t *labels, const float *weights,
                       int ignore_label, int batch, int channels, size_t hw, double *loss,
                       float *diff_logits);

#endif
