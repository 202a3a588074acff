/* A QDQ Conv (see match_qdq_conv in passes.c) as one oneDNN int8
 * convolution: the float input quantised (conv_int8_input.c) by a reorder
 * with scale 1/s_x into the uint8/int8 layout the convolution chose, int8
 * weights reordered once
 * into its weight layout, s32 accumulation, output scales s_x * s_w[oc] that
 * dequantise the result to float32, and activation post-ops as in fp32.
 * oneDNN 2.x adds the bias before the output scale (dst = scale * (acc +
 * bias)), so the bias is given divided by the scale.
 * Only where the CPU has VNNI (AVX-512 VNNI or AVX-VNNI): without it oneDNN
 * multiplies u8 by s8 with vpmaddubsw, whose int16 pair sums saturate for
 * full-range uint8 activations (measured: errors of 0.17 on outputs of 1.8
 * capped at AVX2), and the QDQ arithmetic would not hold. The exception:
 * uint8 activations the graph bounds to 0..127 (a Clip before the
 * QuantizeLinear, node_t.qdq_x_max), whose pair sums cannot saturate.
 * Where the only reader of the output is another QDQ Conv, the convolution
 * writes that Conv's uint8/int8 input itself (requantising_consumer), with no
 * float32 tensor and no quantising reorder between the two.
 * Where oneDNN has no such kernel (or the node has a fused residual sum), the
 * caller runs the Conv in float32 on the dequantised weights and the
 * quantised-then-dequantised input: the QDQ arithmetic, in float. */
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../ops.h"
#include "../plan_memory.h"
#include "conv_int8.h"

/* Whether oneDNN runs QDQ Conv n in int8 on this CPU (see the top). */
int conv_int8_kernel_here(const node_t *n)
{
    const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    const int vnni = (isa & (unsigned)dnnl_cpu_isa_avx512_core_vnni) == (unsigned)dnnl_cpu_isa_avx512_core_vnni ||
                     (isa & (unsigned)dnnl_cpu_isa_avx2_vnni) == (unsigned)dnnl_cpu_isa_avx2_vnni;
    /* Without VNNI, uint8 inputs of at most 127 (7-bit activations behind a
     * Clip): pair sums stay within 2 * 127 * 127 = 32258, so vpmaddubsw
     * cannot saturate and the int8 convolution is exact. */
    const int pairs_fit_int16 = n->qdq_x_u8 && n->qdq_x_max <= 127;
    return vnni || pairs_fit_int16;
}

/* The QDQ Conv that alone reads n's output, when n can write that input
 * already quantised (requantisation fused: dst u8/s8 with output scales
 * s_x * s_w / s_next) instead of float32 that the next Conv quantises with
 * a reorder of its own; NULL otherwise. The activation must commute with a
 * positive scale (Relu, LeakyRelu, Clip with its bounds scaled), so that
 * Q(act(v)) = saturate(round(act(v / s_next)) + zp). UNET_NO_REQUANT keeps
 * the float32 hand-over, for A/B comparisons. */
static const node_t *requantising_consumer(const plan_t *p, const node_t *n)
{
    const unet_model *m = p->model;
    const int y = n->out[0];
    if (y < 0 || m->values[y].is_graph_output || getenv("UNET_NO_REQUANT"))
        return NULL;
    if (n->fused_act != FUSED_NONE && n->fused_act != FUSED_RELU && n->fused_act != FUSED_LEAKY_RELU &&
        n->fused_act != FUSED_CLIP)
        return NULL;
    const node_t *c = NULL;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] == y) {
                if (c)
                    return NULL; /* a second reader, or y read twice */
                c = &m->nodes[i];
            }
    if (!c || c->domain[0] || (strcmp(c->op_type, "Conv") && strcmp(c->op_type, "ConvTranspose")) || !c->qdq ||
        c->in[0] != y || c->fused_sum >= 0 || !conv_int8_kernel_here(c))
        return NULL;
    return c;
}

/* The primitive for n with output scales deq[oc] (dequantising to float32),
 * or, with next, writing next's quantised input; dnnl_unimplemented when
 * oneDNN has no kernel for it (or, writing int8, only a reference one). */
static dnnl_status_t create_int8_conv_pd(plan_t *p, const node_t *n, const conv_int8_geom *g,
                                  const_dnnl_primitive_attr_t base, const float *deq, const node_t *next,
                                  int with_bias, dnnl_primitive_desc_t *pd)
{
    *pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_primitive_attr_clone(&attr, base) != dnnl_success)
        return dnnl_out_of_memory;
    float *scales = malloc((size_t)g->oc * sizeof *scales);
    if (!scales) {
        dnnl_primitive_attr_destroy(attr);
        return dnnl_out_of_memory;
    }
    const float s_next = next ? next->qdq_x_scale : 1.0f;
    for (int64_t oc = 0; oc < g->oc; oc++)
        scales[oc] = deq[oc] / s_next;
    dnnl_primitive_attr_set_output_scales(attr, g->oc, 1 << 1, scales);
    free(scales);
    const int32_t zp = n->qdq_x_zero;
    if (zp) /* asymmetric activations: oneDNN subtracts zp * sum(weights) */
        dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &zp);
    dnnl_data_type_t dst_dt = dnnl_f32;
    if (next) {
        dst_dt = next->qdq_x_u8 ? dnnl_u8 : dnnl_s8;
        const int32_t zp_next = next->qdq_x_zero;
        if (zp_next) /* added after the post-ops, before saturation */
            dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_DST, 1, 0, &zp_next);
        if (n->fused_act == FUSED_CLIP) { /* the bounds in units of s_next */
            dnnl_post_ops_t po;
            if (dnnl_post_ops_create(&po) != dnnl_success) {
                dnnl_primitive_attr_destroy(attr);
                return dnnl_out_of_memory;
            }
            const float lo = n->act_alpha <= -1e38f ? n->act_alpha : n->act_alpha / s_next;
            const float hi = n->act_beta >= 1e38f ? n->act_beta : n->act_beta / s_next;
            dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip_v2, lo, hi);
            dnnl_primitive_attr_set_post_ops(attr, po);
            dnnl_post_ops_destroy(po);
        }
    }
    dnnl_memory_desc_t src_any, w_any, dst_any, b_md;
    dnnl_dims_t sd, wd, dd;
    for (int i = 0; i < g->rank; i++) {
        sd[i] = p->t[n->in[0]].dims[i];
        dd[i] = g->odims[i];
    }
    for (int i = 0; i < g->w_rank; i++)
        wd[i] = g->w_dims[i];
    dnnl_memory_desc_init_by_tag(&src_any, g->rank, sd, n->qdq_x_u8 ? dnnl_u8 : dnnl_s8, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&w_any, g->w_rank, wd, dnnl_s8, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&dst_any, g->rank, dd, dst_dt, dnnl_format_tag_any);
    dnnl_dims_t bdim = { g->oc };
    dnnl_memory_desc_init_by_tag(&b_md, 1, bdim, dnnl_f32, dnnl_a);
    dnnl_convolution_desc_t cd;
    dnnl_status_t st = dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                                                  &src_any, &w_any, with_bias ? &b_md : NULL, &dst_any,
                                                                  g->strides, g->dil, g->pad_l, g->pad_r);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(pd, &cd, attr, p->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    const char *impl = NULL;
    if (st == dnnl_success && next && dnnl_primitive_desc_query(*pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
        impl && strstr(impl, "ref")) {
        dnnl_primitive_desc_destroy(*pd); /* slower than the float32 hand-over */
        *pd = NULL;
        st = dnnl_unimplemented;
    }
    return st;
}

unet_status conv_int8_scaled_bias(plan_t *p, int b, const float *deq, int64_t oc, int64_t bias_period, int *out)
{
    *out = -1;
    if (b < 0)
        return UNET_OK;
    int64_t bd[1] = { oc };
    UNET_TRY(plan_new_tensor(p, UNET_DTYPE_FLOAT, 1, bd, out));
    float *scaled = malloc((size_t)oc * sizeof *scaled);
    if (!scaled)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    const float *bias = p->t[b].const_data;
    for (int64_t c = 0; c < oc; c++) /* oneDNN 2.x: dst = scale * (acc + bias) */
        scaled[c] = bias[c % bias_period] / deq[c];
    p->t[*out].is_const = 1;
    p->t[*out].owns_const = 1;
    p->t[*out].const_data = scaled;
    return UNET_OK;
}

unet_status conv_int8_pd(plan_t *p, const node_t *n, const conv_int8_geom *g, const_dnnl_primitive_attr_t attr,
                         const float *deq, int with_bias, int allow_requant, dnnl_primitive_desc_t *pd, int *requant)
{
    const node_t *next = allow_requant ? requantising_consumer(p, n) : NULL;
    dnnl_status_t st = create_int8_conv_pd(p, n, g, attr, deq, next, with_bias, pd);
    if (next && st != dnnl_success && st != dnnl_out_of_memory) {
        next = NULL; /* no int8 output kernel: hand over float32 */
        st = create_int8_conv_pd(p, n, g, attr, deq, NULL, with_bias, pd);
    }
    *requant = next != NULL;
    if (st == dnnl_unimplemented)
        return UNET_OK; /* no int8 kernel for this shape: *pd stays NULL */
    if (st != dnnl_success)
        return dnnl_error(st, n, "int8 convolution setup");
    if (next) /* y will hold next's quantised input (quantize_input takes it as is) */
        p->t[n->out[0]].dtype = next->qdq_x_u8 ? UNET_DTYPE_UINT8 : UNET_DTYPE_INT8;
    return UNET_OK;
}

unet_status conv_int8_add(plan_t *p, const node_t *n, dnnl_primitive_desc_t pd, int x, int w_plain, int bias, int y)
{
    const dnnl_memory_desc_t *src_md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    int xq = -1, ws = -1;
    UNET_TRY(conv_int8_quantize_input(p, n, x, src_md, &xq));
    UNET_TRY(plan_as_md(p, w_plain, w_md, &ws)); /* once, at plan time: the weights are constant */
    plan_set_md(p, y, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0));
    int kinds[4] = { DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS };
    int ids[4] = { xq, ws, y, bias };
    return plan_add_primitive(p, n, pd, bias >= 0 ? 4 : 3, kinds, ids);
}

unet_status conv_int8_build(plan_t *p, const node_t *n, const conv_int8_geom *g, dnnl_primitive_attr_t attr, int *done)
{
    *done = 0;
    int x = n->in[0], w = n->in[1], b = n->n_in > 2 ? n->in[2] : -1, y = n->out[0];
    if (!conv_int8_kernel_here(n) || n->fused_sum >= 0 || p->t[x].is_const || !p->t[x].has_md || !p->t[w].is_const)
        return UNET_OK;
    if (b >= 0 && (!p->t[b].is_const || p->t[b].dtype != UNET_DTYPE_FLOAT))
        return UNET_OK;
    const value_t *sv = &p->model->values[n->qdq_w_scale];
    const float *sw = sv->data;
    int64_t n_sw = (int64_t)(sv->nbytes / sizeof(float));
    float *deq = malloc((size_t)g->oc * sizeof *deq);
    if (!deq)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    for (int64_t oc = 0; oc < g->oc; oc++)
        deq[oc] = n->qdq_x_scale * sw[n_sw == 1 ? 0 : oc];
    int bs = -1, requant = 0, wview = -1;
    dnnl_primitive_desc_t pd = NULL;
    unet_status s = conv_int8_scaled_bias(p, b, deq, g->oc, g->oc, &bs);
    if (s == UNET_OK)
        s = conv_int8_pd(p, n, g, attr, deq, b >= 0, 1, &pd, &requant);
    free(deq);
    if (s != UNET_OK || !pd)
        return s;
    /* the ONNX int8 weights, viewed in oneDNN's dim order */
    s = plan_new_tensor(p, UNET_DTYPE_INT8, p->t[w].rank, p->t[w].dims, &wview);
    if (s == UNET_OK) {
        dnnl_memory_desc_t w_plain = *g->w_plain_f32;
        w_plain.data_type = dnnl_s8; /* strides are in elements: the same view of int8 data */
        plan_set_md(p, wview, &w_plain);
        p->t[wview].is_const = 1;
        p->t[wview].const_data = p->t[w].const_data;
        s = conv_int8_add(p, n, pd, x, wview, bs, y);
    }
    dnnl_primitive_desc_destroy(pd);
    if (s == UNET_OK)
        *done = 1;
    return s;
}

unet_status conv_int8_dequantized_weights(plan_t *p, const node_t *n, int *w_float)
{
    int w = n->in[1];
    const ptensor *tw = &p->t[w];
    if (!tw->is_const || tw->dtype != UNET_DTYPE_INT8 || tw->rank < 1)
        return unet_set_error(UNET_ERR_INVALID, "the quantised weights must be a constant int8 tensor");
    const value_t *sv = &p->model->values[n->qdq_w_scale];
    const float *sw = sv->data;
    /* the output channels: axis 0 of a Conv's weights, axis 1 of a ConvTranspose's */
    const int axis = strcmp(n->op_type, "ConvTranspose") == 0 ? 1 : 0;
    if (tw->rank < axis + 1)
        return unet_set_error(UNET_ERR_INVALID, "the quantised weights have rank %d", tw->rank);
    int64_t n_sw = (int64_t)(sv->nbytes / sizeof(float)), outer = 1, oc = tw->dims[axis], per = 1;
    for (int d = 0; d < axis; d++)
        outer *= tw->dims[d];
    for (int d = axis + 1; d < tw->rank; d++)
        per *= tw->dims[d];
    UNET_TRY(plan_new_tensor(p, UNET_DTYPE_FLOAT, tw->rank, tw->dims, w_float));
    ptensor *tf = &p->t[*w_float];
    float *data = malloc(tf->nbytes ? tf->nbytes : 1);
    if (!data)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory dequantising weights");
    const int8_t *q = p->t[w].const_data;
    for (int64_t a = 0; a < outer; a++)
        for (int64_t o = 0; o < oc; o++)
            for (int64_t i = 0; i < per; i++) {
                const int64_t at = (a * oc + o) * per + i;
                data[at] = (float)q[at] * sw[n_sw == 1 ? 0 : o];
            }
    tf->is_const = 1;
    tf->owns_const = 1;
    tf->const_data = data;
    return UNET_OK;
}
