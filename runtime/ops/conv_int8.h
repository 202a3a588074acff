/* QDQ Convs as oneDNN int8 convolutions (conv_int8.c). */
#ifndef UNET_RUNTIME_OPS_CONV_INT8_H
#define UNET_RUNTIME_OPS_CONV_INT8_H

#include "../plan.h"

/* What build_conv_like has worked out about the Conv. */
typedef struct conv_int8_geom {
    int rank;
    const int64_t *odims;
    int64_t oc;
    const dnnl_memory_desc_t *w_plain_f32; /* the ONNX weights in oneDNN's dim order */
    const int64_t *w_dims;
    int w_rank;
    const dnnl_dim_t *strides, *dil, *pad_l, *pad_r;
} conv_int8_geom;

/* Builds the int8 convolution for Conv n (n->qdq set) with attr's post-ops;
 * *done = 0 (and nothing added) when it does not apply here. */
unet_status conv_int8_build(plan_t *p, const node_t *n, const conv_int8_geom *g, dnnl_primitive_attr_t attr, int *done);

/* The parts, for other forms of int8 convolution (deconv_shuffle.c). */
/* Whether oneDNN runs QDQ node n in int8 on this CPU. */
int conv_int8_kernel_here(const node_t *n);
/* Bias b (float constant, period values repeated) divided by the output
 * scales deq[0..oc), as oneDNN 2.x adds it before scaling; -1 without b. */
unet_status conv_int8_scaled_bias(plan_t *p, int b, const float *deq, int64_t oc, int64_t period, int *out);
/* The int8 convolution of geometry g over n's input with output scales deq
 * (to float32 or, allow_requant and a QDQ reader alone, to that reader's
 * quantised input: *requant 1, n's output then typed uint8/int8); *pd NULL
 * when oneDNN has no int8 kernel for it. */
unet_status conv_int8_pd(plan_t *p, const node_t *n, const conv_int8_geom *g, const_dnnl_primitive_attr_t attr,
                         const float *deq, int with_bias, int allow_requant, dnnl_primitive_desc_t *pd, int *requant);
/* Adds pd as a step: x quantised into its input layout, the constant int8
 * weights w_plain (plain layout) reordered once, output into y. */
unet_status conv_int8_add(plan_t *p, const node_t *n, dnnl_primitive_desc_t pd, int x, int w_plain, int bias, int y);
/* *xq: tensor x quantised (n's scale, zero point, uint8/int8) in src_md
 * (conv_int8_input.c). */
unet_status conv_int8_quantize_input(plan_t *p, const node_t *n, int x, const dnnl_memory_desc_t *src_md, int *xq);
/* Replaces *x by x quantised and dequantised again (two reorders in x's
 * layout), for the float path of a QDQ Conv. */
unet_status conv_int8_fake_quantized_input(plan_t *p, const node_t *n, int *x);
/* The float32 weights (int8 times scale, per output channel: axis 0 of a
 * Conv, 1 of a ConvTranspose) as a new constant tensor, for the float path
 * of a QDQ Conv or ConvTranspose. */
unet_status conv_int8_dequantized_weights(plan_t *p, const node_t *n, int *w_float);

#endif
