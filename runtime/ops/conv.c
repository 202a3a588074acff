/* Conv and ConvTranspose on oneDNN convolution / deconvolution primitives,
 * with layouts left to oneDNN (format any) and a fused activation post-op. */
#include <string.h>

#include "../error.h"
#include "../ops.h"
#include "../plan_memory.h"
#include "conv_int8.h"
#include "deconv_shuffle.h"
#include "ops_decl.h"

typedef struct conv_geom {
    int sp;                        /* spatial rank */
    int64_t group;
    int64_t kernel[UNET_MAX_RANK], stride[UNET_MAX_RANK], dil[UNET_MAX_RANK];
    int64_t pad_l[UNET_MAX_RANK], pad_r[UNET_MAX_RANK];
    int64_t out_pad[UNET_MAX_RANK];
    int64_t out_shape[UNET_MAX_RANK];
    int has_out_shape;
    const char *auto_pad;
} conv_geom;

static unet_status check_auto_pad(const node_t *n, const char **ap)
{
    *ap = node_attr_string(n, "auto_pad", "NOTSET");
    if (strcmp(*ap, "NOTSET") && strcmp(*ap, "SAME_UPPER") && strcmp(*ap, "SAME_LOWER") && strcmp(*ap, "VALID"))
        return unet_set_error(UNET_ERR_UNSUPPORTED, "auto_pad '%s' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", *ap);
    return UNET_OK;
}

unet_status conv_check(const unet_model *m, const node_t *n)
{
    const char *ap;
    UNET_TRY(check_auto_pad(n, &ap));
    if (node_attr_int(n, "group", 1) < 1)
        return unet_set_error(UNET_ERR_INVALID, "group must be >= 1");
    /* When the weights' rank is known at load, per-spatial-dim lists must
     * match it now rather than at the first run. */
    int w = n->n_in > 1 ? n->in[1] : -1;
    int wrank = w >= 0 ? m->values[w].rank : -1;
    if (wrank >= 3) {
        static const char *const lists[] = { "kernel_shape", "strides", "dilations", "output_padding" };
        int64_t tmp[UNET_MAX_RANK * 2];
        for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) {
            int k = node_attr_ints(n, lists[i], tmp, UNET_MAX_RANK * 2);
            if (k >= 0 && k != wrank - 2)
                return unet_set_error(UNET_ERR_INVALID, "%s has %d value(s), expected %d for weights of rank %d", lists[i], k, wrank - 2, wrank);
        }
        int k = node_attr_ints(n, "pads", tmp, UNET_MAX_RANK * 2);
        if (k >= 0 && k != 2 * (wrank - 2))
            return unet_set_error(UNET_ERR_INVALID, "pads has %d value(s), expected %d for weights of rank %d", k, 2 * (wrank - 2), wrank);
    }
    return UNET_OK;
}

/* Reads the attributes for spatial rank sp, checking every list's length. */
static unet_status read_geom(const node_t *n, int sp, const int64_t *wdims, int transposed, conv_geom *g)
{
    memset(g, 0, sizeof *g);
    g->sp = sp;
    g->group = node_attr_int(n, "group", 1);
    UNET_TRY(check_auto_pad(n, &g->auto_pad));
    int k = op_spatial_attr(n, "kernel_shape", g->kernel, sp, 0);
    if (k < 0)
        return unet_set_error(UNET_ERR_INVALID, "kernel_shape has the wrong length for %d spatial dims", sp);
    for (int i = 0; i < sp; i++) {
        if (k == 0)
            g->kernel[i] = wdims[2 + i];
        else if (g->kernel[i] != wdims[2 + i])
            return unet_set_error(UNET_ERR_SHAPE, "kernel_shape[%d] = %lld but the weights have %lld", i, (long long)g->kernel[i], (long long)wdims[2 + i]);
    }
    if (op_spatial_attr(n, "strides", g->stride, sp, 1) < 0)
        return unet_set_error(UNET_ERR_INVALID, "strides has the wrong length for %d spatial dims", sp);
    if (op_spatial_attr(n, "dilations", g->dil, sp, 1) < 0)
        return unet_set_error(UNET_ERR_INVALID, "dilations has the wrong length for %d spatial dims", sp);
    int64_t pads[UNET_MAX_RANK * 2];
    int np = node_attr_ints(n, "pads", pads, UNET_MAX_RANK * 2);
    if (np >= 0 && np != 2 * sp)
        return unet_set_error(UNET_ERR_INVALID, "pads has %d values, expected %d", np, 2 * sp);
    for (int i = 0; i < sp; i++) {
        g->pad_l[i] = np > 0 ? pads[i] : 0;
        g->pad_r[i] = np > 0 ? pads[sp + i] : 0;
        if (g->stride[i] < 1 || g->dil[i] < 1 || g->kernel[i] < 1 || g->pad_l[i] < 0 || g->pad_r[i] < 0)
            return unet_set_error(UNET_ERR_INVALID, "strides, dilations and kernel must be >= 1 and pads >= 0 (spatial dim %d)", i);
    }
    if (transposed) {
        if (op_spatial_attr(n, "output_padding", g->out_pad, sp, 0) < 0)
            return unet_set_error(UNET_ERR_INVALID, "output_padding has the wrong length");
        int64_t os[UNET_MAX_RANK + 2];
        int no = node_attr_ints(n, "output_shape", os, UNET_MAX_RANK + 2);
        if (no >= 0) {
            g->has_out_shape = 1;
            if (no == sp)
                memcpy(g->out_shape, os, (size_t)sp * sizeof *os);
            else if (no == sp + 2)
                memcpy(g->out_shape, os + 2, (size_t)sp * sizeof *os);
            else
                return unet_set_error(UNET_ERR_INVALID, "output_shape has %d values, expected %d", no, sp);
        }
        for (int i = 0; i < sp; i++)
            if (g->out_pad[i] < 0 || (g->out_pad[i] >= g->stride[i] && g->out_pad[i] >= g->dil[i]))
                return unet_set_error(UNET_ERR_INVALID, "output_padding[%d] = %lld must be smaller than the stride or dilation", i, (long long)g->out_pad[i]);
    }
    return UNET_OK;
}

static void set_post_ops(const node_t *n, dnnl_primitive_attr_t attr, int with_sum)
{
    if (!n->fused_act && !with_sum)
        return;
    dnnl_post_ops_t po;
    if (dnnl_post_ops_create(&po) != dnnl_success)
        return;
    if (with_sum) /* dst += conv: the residual Add, before any activation after it */
        dnnl_post_ops_append_sum(po, 1.0f);
    switch (n->fused_act) {
    case FUSED_RELU: dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f); break;
    case FUSED_LEAKY_RELU: dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, n->act_alpha, 0.0f); break;
    case FUSED_CLIP: dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip_v2, n->act_alpha, n->act_beta); break;
    case FUSED_SIGMOID: dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_logistic, 0.0f, 0.0f); break;
    case FUSED_TANH: dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_tanh, 0.0f, 0.0f); break;
    default: break;
    }
    dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_post_ops_destroy(po);
}

static unet_status any_md(int rank, const int64_t *dims, dnnl_data_type_t dt, dnnl_memory_desc_t *md)
{
    dnnl_dims_t d = { 0 };
    for (int i = 0; i < rank; i++)
        d[i] = dims[i];
    if (dnnl_memory_desc_init_by_tag(md, rank, d, dt, dnnl_format_tag_any) != dnnl_success)
        return unet_set_error(UNET_ERR_BACKEND, "cannot describe a rank-%d tensor for oneDNN", rank);
    return UNET_OK;
}

/* Plain weights md for ONNX layouts, grouped when group > 1. */
static unet_status weights_plain_md(const int64_t *wdims, int rank, int64_t group, int transposed,
                                    dnnl_memory_desc_t *md, int64_t *dnnl_dims, int *dnnl_rank)
{
    dnnl_dims_t d;
    int r;
    if (group == 1) {
        r = rank;
        for (int i = 0; i < rank; i++)
            d[i] = wdims[i];
        if (transposed) { /* ONNX (Cin, Cout, k...) -> oneDNN dims (Cout, Cin, k...) */
            d[0] = wdims[1];
            d[1] = wdims[0];
        }
    } else {
        r = rank + 1;
        d[0] = group;
        if (transposed) { /* ONNX (Cin, Cout/g, k...) = (g, Cin/g, Cout/g, k...) */
            d[1] = wdims[1];
            d[2] = wdims[0] / group;
        } else {          /* ONNX (Cout, Cin/g, k...) = (g, Cout/g, Cin/g, k...) */
            d[1] = wdims[0] / group;
            d[2] = wdims[1];
        }
        for (int i = 2; i < rank; i++)
            d[i + 1] = wdims[i];
    }
    /* Strides of the ONNX row-major buffer expressed in oneDNN's dim order. */
    dnnl_dims_t strides;
    int64_t sp = 1;
    for (int i = 2; i < rank; i++)
        sp *= wdims[i];
    if (group == 1) {
        for (int i = r - 1, s = 1; i >= 2; i--) {
            strides[i] = s;
            s *= (int)d[i];
        }
        if (!transposed) {
            strides[1] = sp;
            strides[0] = sp * d[1];
        } else {
            strides[0] = sp;          /* Cout index moves by one spatial block */
            strides[1] = sp * d[0];   /* Cin index moves by Cout blocks */
        }
    } else {
        int64_t s = 1;
        for (int i = r - 1; i >= 3; i--) {
            strides[i] = s;
            s *= d[i];
        }
        if (!transposed) { /* g, o, i */
            strides[2] = sp;
            strides[1] = sp * d[2];
            strides[0] = sp * d[2] * d[1];
        } else {           /* g, o, i with memory (g, i, o) */
            strides[1] = sp;
            strides[2] = sp * d[1];
            strides[0] = sp * d[1] * d[2];
        }
    }
    if (dnnl_memory_desc_init_by_strides(md, r, d, dnnl_f32, strides) != dnnl_success)
        return unet_set_error(UNET_ERR_BACKEND, "cannot describe the weights for oneDNN");
    for (int i = 0; i < r; i++)
        dnnl_dims[i] = d[i];
    *dnnl_rank = r;
    return UNET_OK;
}

/* Winograd F(4x4, 3x3) does 2.25x fewer multiplications than a direct 3x3
 * convolution but spends time on its transforms; measured on the U-Nets here
 * (AVX-512, oneDNN 2.6) it wins once input x output channels reach about
 * 2,048 and loses below (3 -> 16 channels: 4x slower). fp32 only: oneDNN has
 * no bf16 Winograd, and int8 layers take their own path. */
static int winograd_pays(const plan_t *p, const conv_geom *g, int64_t in_channels, int64_t out_channels)
{
    if (p->settings.direct_conv || p->settings.bf16 || g->sp != 2 || g->group != 1)
        return 0;
    for (int i = 0; i < 2; i++)
        if (g->kernel[i] != 3 || g->stride[i] != 1 || g->dil[i] != 1)
            return 0;
    return in_channels * out_channels >= 2048;
}

/* In a bf16 plan a convolution hands bf16 on when every consumer is a layer
 * that computes in bf16 too; the head (Softmax, ArgMax, graph outputs, plain
 * kernels) gets float32 straight from the convolution's f32 accumulators. */
static int output_stays_bf16(const plan_t *p, int y)
{
    static const char *const bf16_consumers[] = { "Conv", "ConvTranspose", "MaxPool", "AveragePool", "Concat", "Relu" };
    const unet_model *m = p->model;
    if (y < 0 || y >= m->n_values || m->values[y].is_graph_output)
        return 0;
    int uses = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const node_t *c = &m->nodes[i];
        for (int k = 0; k < c->n_in; k++) {
            if (c->in[k] != y)
                continue;
            int ok = 0;
            for (size_t j = 0; j < sizeof bf16_consumers / sizeof *bf16_consumers; j++)
                ok |= strcmp(c->op_type, bf16_consumers[j]) == 0 && c->domain[0] == '\0';
            if (!ok)
                return 0;
            uses++;
        }
    }
    return uses > 0;
}

static unet_status build_conv_like(plan_t *p, const node_t *n, int transposed)
{
    /* A QDQ Conv's weights are int8 (passes.c), and its input may be too:
     * quantised already by the int8 Conv before it (conv_int8.c). */
    if (!n->qdq || (p->t[n->in[0]].dtype != UNET_DTYPE_UINT8 && p->t[n->in[0]].dtype != UNET_DTYPE_INT8))
        UNET_TRY(op_require_float(p, n, 0));
    if (!n->qdq)
        UNET_TRY(op_require_float(p, n, 1));
    int x = n->in[0], w = n->in[1], b = n->n_in > 2 ? n->in[2] : -1;
    const ptensor *tx = &p->t[x], *tw = &p->t[w];
    int rank = tx->rank;
    if (rank < 3 || rank > 5)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "input rank %d: only 1-D, 2-D and 3-D convolutions are supported", rank);
    if (tw->rank != rank)
        return unet_set_error(UNET_ERR_SHAPE, "weights have rank %d, input has rank %d", tw->rank, rank);
    int sp = rank - 2;
    conv_geom g;
    UNET_TRY(read_geom(n, sp, tw->dims, transposed, &g));
    int64_t N = tx->dims[0], C = tx->dims[1];
    int64_t OC;
    if (!transposed) {
        if (C != tw->dims[1] * g.group)
            return unet_set_error(UNET_ERR_SHAPE, "input has %lld channels, weights expect %lld x group %lld", (long long)C, (long long)tw->dims[1], (long long)g.group);
        if (tw->dims[0] % g.group)
            return unet_set_error(UNET_ERR_SHAPE, "%lld output channels are not divisible by group %lld", (long long)tw->dims[0], (long long)g.group);
        OC = tw->dims[0];
    } else {
        if (C != tw->dims[0])
            return unet_set_error(UNET_ERR_SHAPE, "input has %lld channels, weights expect %lld", (long long)C, (long long)tw->dims[0]);
        if (C % g.group)
            return unet_set_error(UNET_ERR_SHAPE, "%lld input channels are not divisible by group %lld", (long long)C, (long long)g.group);
        OC = tw->dims[1] * g.group;
    }
    if (b >= 0) {
        UNET_TRY(op_require_float(p, n, 2));
        if (p->t[b].rank != 1 || p->t[b].dims[0] != OC)
            return unet_set_error(UNET_ERR_SHAPE, "bias must be a vector of %lld", (long long)OC);
    }
    int64_t odims[UNET_MAX_RANK];
    odims[0] = N;
    odims[1] = OC;
    for (int i = 0; i < sp; i++) {
        int64_t in = tx->dims[2 + i];
        int64_t ek = (g.kernel[i] - 1) * g.dil[i] + 1;
        if (!transposed) {
            if (!strcmp(g.auto_pad, "SAME_UPPER") || !strcmp(g.auto_pad, "SAME_LOWER")) {
                int64_t out = (in + g.stride[i] - 1) / g.stride[i];
                int64_t total = (out - 1) * g.stride[i] + ek - in;
                if (total < 0)
                    total = 0;
                g.pad_l[i] = !strcmp(g.auto_pad, "SAME_UPPER") ? total / 2 : total - total / 2;
                g.pad_r[i] = total - g.pad_l[i];
            } else if (!strcmp(g.auto_pad, "VALID")) {
                g.pad_l[i] = g.pad_r[i] = 0;
            }
            int64_t span = in + g.pad_l[i] + g.pad_r[i] - ek;
            if (span < 0)
                return unet_set_error(UNET_ERR_SHAPE, "spatial dim %d: input %lld plus padding is smaller than the kernel extent %lld", i, (long long)in, (long long)ek);
            odims[2 + i] = span / g.stride[i] + 1;
        } else {
            int64_t full = g.stride[i] * (in - 1) + g.out_pad[i] + ek;
            if (g.has_out_shape) {
                /* The spec's split, with floor division; a negative total
                 * (output_shape past the natural size) pads the end. */
                int64_t total = full - g.out_shape[i];
                int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
                if (!strcmp(g.auto_pad, "SAME_UPPER")) {
                    g.pad_l[i] = half;
                    g.pad_r[i] = total - half;
                } else {
                    g.pad_l[i] = total - half;
                    g.pad_r[i] = half;
                }
            } else if (!strcmp(g.auto_pad, "SAME_UPPER") || !strcmp(g.auto_pad, "SAME_LOWER")) {
                int64_t target = in * g.stride[i];
                int64_t total = full - target;
                if (total < 0)
                    total = 0;
                g.pad_l[i] = !strcmp(g.auto_pad, "SAME_UPPER") ? total / 2 : total - total / 2;
                g.pad_r[i] = total - g.pad_l[i];
            } else if (!strcmp(g.auto_pad, "VALID")) {
                g.pad_l[i] = g.pad_r[i] = 0;
            }
            odims[2 + i] = full - g.pad_l[i] - g.pad_r[i];
            if (odims[2 + i] < 1)
                return unet_set_error(UNET_ERR_SHAPE, "spatial dim %d: output size %lld is not positive", i, (long long)odims[2 + i]);
        }
    }
    int y = n->out[0];
    UNET_TRY(plan_set_shape(p, y, UNET_DTYPE_FLOAT, rank, odims));
    {   /* multiply-adds: every output (conv) or input (deconv) element meets
         * channels/group x kernel weights */
        double ksz = 1, sp_out = 1, sp_in = 1;
        for (int i = 0; i < sp; i++) {
            ksz *= (double)g.kernel[i];
            sp_out *= (double)odims[2 + i];
            sp_in *= (double)tx->dims[2 + i];
        }
        p->flops += transposed ? 2.0 * N * C * sp_in * (OC / g.group) * ksz
                               : 2.0 * N * OC * sp_out * (C / g.group) * ksz;
    }

    /* bf16: inputs and weights in bf16, accumulation in f32 (oneDNN's bf16
     * kernels), the bias in f32; the weights are converted once, below. */
    const dnnl_data_type_t act_dt = p->settings.bf16 ? dnnl_bf16 : dnnl_f32;
    const dnnl_data_type_t dst_dt = p->settings.bf16 && output_stays_bf16(p, n->out[0]) ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_t src_any, dst_any, w_plain, w_any, b_md;
    UNET_TRY(any_md(rank, tx->dims, act_dt, &src_any));
    UNET_TRY(any_md(rank, odims, dst_dt, &dst_any));
    int64_t wd[UNET_MAX_RANK + 1];
    int wr = 0;
    UNET_TRY(weights_plain_md(tw->dims, rank, g.group, transposed, &w_plain, wd, &wr));
    UNET_TRY(any_md(wr, wd, act_dt, &w_any));
    dnnl_dims_t bdim = { OC };
    dnnl_memory_desc_init_by_tag(&b_md, 1, bdim, dnnl_f32, dnnl_a);
    dnnl_dims_t strides, dil, pl, pr;
    for (int i = 0; i < sp; i++) {
        strides[i] = g.stride[i];
        dil[i] = g.dil[i] - 1;
        pl[i] = g.pad_l[i];
        pr[i] = g.pad_r[i];
        /* oneDNN has no output_padding: its size check divides by the stride,
         * which absorbs output_padding below the stride; beyond that (only
         * possible through the dilation) it must come out of the end padding,
         * and oneDNN refuses negative padding. */
        if (transposed && g.out_pad[i] >= g.stride[i]) {
            if (g.pad_r[i] < g.out_pad[i])
                return unet_set_error(UNET_ERR_UNSUPPORTED, "spatial dim %d: output_padding %lld is not below the stride %lld and exceeds the end padding %lld (oneDNN cannot express it)", i, (long long)g.out_pad[i], (long long)g.stride[i], (long long)g.pad_r[i]);
            pr[i] = g.pad_r[i] - g.out_pad[i];
        }
    }
    if (n->qdq && !transposed) {
        /* int8 where oneDNN has the kernel, else float32 on the dequantised weights */
        dnnl_primitive_attr_t qattr = plan_make_attr();
        if (!qattr)
            return unet_set_error(UNET_ERR_NOMEM, "out of memory");
        set_post_ops(n, qattr, 0);
        conv_int8_geom qg = { rank, odims, OC, &w_plain, wd, wr, strides, dil, pl, pr };
        int done = 0;
        unet_status qs = conv_int8_build(p, n, &qg, qattr, &done);
        dnnl_primitive_attr_destroy(qattr);
        if (qs != UNET_OK || done)
            return qs;
        UNET_TRY(conv_int8_dequantized_weights(p, n, &w));
        UNET_TRY(conv_int8_fake_quantized_input(p, n, &x));
        tw = &p->t[w];
        tx = &p->t[x];
    }
    /* A fused residual Add: legal when the operand has the output's shape and
     * its buffer may be overwritten; otherwise the sum runs as a plain add. */
    int sum_id = !transposed ? n->fused_sum : -1;
    int fuse_sum = 0;
    if (sum_id >= 0) {
        const ptensor *to = &p->t[sum_id];
        fuse_sum = to->dtype == UNET_DTYPE_FLOAT && to->rank == rank && !to->is_const && !to->is_input && to->alias_of < 0;
        for (int i = 0; fuse_sum && i < rank; i++)
            fuse_sum = to->dims[i] == odims[i];
        if (!fuse_sum) {
            /* The Conv writes a temporary, then y = temporary + operand. */
            int tmp;
            UNET_TRY(plan_new_tensor(p, UNET_DTYPE_FLOAT, rank, odims, &tmp));
            node_t conv_only = *n;
            int out_tmp[1] = { tmp };
            conv_only.out = out_tmp;
            conv_only.fused_sum = -1;
            conv_only.n_in = n->n_in > 3 ? 3 : n->n_in;
            UNET_TRY(build_conv_like(p, &conv_only, 0));
            static const node_t fused_add = { .name = "fused-add", .op_type = "Add", .domain = "", .n_in = 2, .n_out = 1, .fused_sum = -1 };
            tview vi[2] = { plan_view(p, tmp), plan_view(p, sum_id) }, vo[1];
            (void)vi;
            memset(vo, 0, sizeof vo);
            int ins[2] = { tmp, sum_id };
            int64_t bd[UNET_MAX_RANK];
            int br = rank > p->t[sum_id].rank ? rank : p->t[sum_id].rank;
            for (int d = 0; d < br; d++) {
                int ka = d - (br - rank), kb = d - (br - p->t[sum_id].rank);
                int64_t da = ka >= 0 ? odims[ka] : 1, db = kb >= 0 ? p->t[sum_id].dims[kb] : 1;
                if (da != db && da != 1 && db != 1)
                    return unet_set_error(UNET_ERR_SHAPE, "the residual Add's operands do not broadcast");
                bd[d] = da > db ? da : db;
            }
            UNET_TRY(plan_set_shape(p, y, UNET_DTYPE_FLOAT, br, bd));
            return plan_add_plain(p, &fused_add, ins, 2, &y, 1, binary_run);
        }
    }
    dnnl_primitive_attr_t attr = plan_make_attr();
    set_post_ops(n, attr, fuse_sum);
    const int shuffle = transposed && deconv_shuffle_applies(p, n, g.kernel, g.stride, g.pad_l, g.pad_r, g.dil, g.out_pad, sp, g.group);
    int done = 0;
    unet_status ds = UNET_OK;
    if (shuffle) /* int8 for a QDQ ConvTranspose where oneDNN has the kernel */
        ds = deconv_shuffle_build(p, n, x, w, attr, &done);
    if (ds == UNET_OK && !done && n->qdq && transposed) {
        /* float32 on the dequantised weights and the quantised-then-dequantised input */
        ds = conv_int8_dequantized_weights(p, n, &w);
        if (ds == UNET_OK)
            ds = conv_int8_fake_quantized_input(p, n, &x);
        if (ds == UNET_OK && shuffle)
            ds = deconv_shuffle_build(p, n, x, w, attr, &done);
        tw = &p->t[w];
        tx = &p->t[x];
    }
    if (ds != UNET_OK || done) {
        dnnl_primitive_attr_destroy(attr);
        return ds;
    }
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st;
    if (!transposed) {
        dnnl_convolution_desc_t cd;
        /* Winograd first where it pays; not every CPU has the kernel (AVX2
         * has none), and then the direct one runs. */
        static const dnnl_alg_kind_t algs[2] = { dnnl_convolution_winograd, dnnl_convolution_direct };
        st = dnnl_unimplemented;
        for (int a = winograd_pays(p, &g, C, OC) ? 0 : 1; a < 2 && st != dnnl_success; a++) {
            st = dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, algs[a],
                                                            &src_any, &w_any, b >= 0 ? &b_md : NULL, &dst_any,
                                                            strides, dil, pl, pr);
            if (st == dnnl_success)
                st = dnnl_primitive_desc_create(&pd, &cd, attr, p->engine, NULL);
        }
    } else {
        dnnl_deconvolution_desc_t dd;
        st = dnnl_dilated_deconvolution_forward_desc_init(&dd, dnnl_forward_inference, dnnl_deconvolution_direct,
                                                          &src_any, &w_any, b >= 0 ? &b_md : NULL, &dst_any,
                                                          strides, dil, pl, pr);
        if (st == dnnl_success)
            st = dnnl_primitive_desc_create(&pd, &dd, attr, p->engine, NULL);
    }
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return dnnl_error(st, n, transposed ? "deconvolution setup" : "convolution setup");

    /* Follow the layouts oneDNN chose: reorder the input (if needed) and the
     * weights (once, at plan time, when they are constant). */
    const dnnl_memory_desc_t *src_md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dst_md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    int xs, ws;
    unet_status s = plan_as_md(p, x, src_md, &xs);
    if (s == UNET_OK) {
        /* View the plain ONNX weights through w_plain, then reorder. */
        int wview;
        s = plan_new_tensor(p, UNET_DTYPE_FLOAT, p->t[w].rank, p->t[w].dims, &wview);
        if (s == UNET_OK) {
            plan_set_md(p, wview, &w_plain);
            p->t[wview].nbytes = p->t[w].nbytes;
            if (p->t[w].is_const) {
                p->t[wview].is_const = 1;
                p->t[wview].const_data = p->t[w].const_data;
            } else {
                int wp;
                s = plan_as_plain(p, w, &wp);
                if (s == UNET_OK)
                    s = plan_alias(p, wview, wp);
            }
        }
        if (s == UNET_OK)
            s = plan_as_md(p, wview, w_md, &ws);
    }
    if (s == UNET_OK && fuse_sum) {
        /* The operand in the conv's output layout becomes the output buffer. */
        int so;
        s = plan_as_md(p, sum_id, dst_md, &so);
        if (s == UNET_OK) {
            plan_set_md(p, y, dst_md);
            s = plan_alias(p, y, so);
        }
    }
    if (s == UNET_OK) {
        plan_set_md(p, y, dst_md);
        int kinds[4] = { DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS };
        int ids[4] = { xs, ws, y, b };
        s = plan_add_primitive(p, n, pd, b >= 0 ? 4 : 3, kinds, ids);
    }
    dnnl_primitive_desc_destroy(pd);
    return s;
}

unet_status conv_build(plan_t *p, const node_t *n) { return build_conv_like(p, n, 0); }
unet_status conv_transpose_build(plan_t *p, const node_t *n) { return build_conv_like(p, n, 1); }
