/* The QDQ rewrite: which Convs are quantised, and the graph with
 * QuantizeLinear/DequantizeLinear pairs in front of them, in the standard
 * form ONNX Runtime's static quantiser writes (and libunet's passes.c
 * match_qdq_conv turns into int8 convolutions):
 *   x -> QuantizeLinear(x_scale, x_zero_point: uint8, per tensor)
 *     -> DequantizeLinear -> Conv <- DequantizeLinear(axis 0) <- W int8
 * (x -> Clip(max) -> QuantizeLinear ... for activations of fewer bits)
 * with symmetric int8 weights per output channel (zero points 0; axis 0 of
 * a Conv's weights, axis 1 of a ConvTranspose's) and the bias left in
 * float32. A ConvTranspose is quantised only in the form libunet runs in
 * int8 (kernel equal to stride, no padding: the U-Net's up-steps); others
 * stay float32, as quantising them would add error and no speed. */
#ifndef UNET_TOOLS_QUANTIZE_QDQ_REWRITE_H
#define UNET_TOOLS_QUANTIZE_QDQ_REWRITE_H

#include <stdint.h>

#include <unet/unet.h>

#include "onnx.pb-c.h"

typedef struct qz_plan {
    Onnx__NodeProto **convs; /* the Convs and ConvTransposes quantised, in node order (borrowed) */
    int n_convs;
    int n_conv_transposes; /* of them ConvTranspose */
    char **tensors;     /* the distinct activations they read, in node order (owned) */
    int n_tensors;
    int convs_left_float; /* Conv / ConvTranspose nodes that stay float32 */
} qz_plan;

/* Conv nodes (and ConvTranspose nodes in the form above) of the default
 * domain with group 1, a float32 rank-4 weight initializer (and a float32
 * bias initializer or none), reading a computed tensor or the graph input,
 * except those named in keep_float (n_keep names; a name that is no such
 * node is an error naming it) and, unless
 * input_convs is 1, those reading the graph input (the first layer is the
 * most sensitive to int8 weights: measured on the shipped model, it alone
 * took mask agreement with fp32 from 99.72% to 99.37%). */
unet_status qz_plan_make(const Onnx__GraphProto *g, char *const *keep_float, int n_keep, int input_convs,
                         qz_plan *p);
void qz_plan_free(qz_plan *p);

/* Rewrites model per plan: tensors[i] quantised with scale[i], zero[i],
 * through Clip(max = clip_max[i]) first where clip_max[i] is finite (fewer
 * than 8 bits: libunet sees the bound and may then run int8 without VNNI).
 * Needs default opset >= 13 (DequantizeLinear per axis); names it would add
 * that the graph already has are an error naming them. *weight_error gets
 * the largest |w - dequantised w| over all weights. */
unet_status qz_rewrite_qdq(Onnx__ModelProto *model, const qz_plan *p, const float *scale, const uint8_t *zero,
                           const float *clip_max, double *weight_error);

#endif
