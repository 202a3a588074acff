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
/* Replaces *x by x quantised and dequantised again (two reorders in x's
 * layout), for the float path of a QDQ Conv. */
unet_status conv_int8_fake_quantized_input(plan_t *p, const node_t *n, int *x);
/* The float32 weights (int8 times scale) as a new constant tensor, for the
 * float path of a QDQ Conv. */
unet_status conv_int8_dequantized_weights(plan_t *p, const node_t *n, int *w_float);

#endif
