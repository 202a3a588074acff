/* ConvTranspose whose kernel equals its stride (the U-Net's 2x2 stride-2 up
 * path), run as a 1x1 convolution to kh*kw*OC channels followed by one reorder
 * that scatters each channel group to its pixel of the kh x kw output cell.
 * oneDNN's deconvolution runs these shapes far below its convolution speed;
 * the 1x1 convolution runs near it, and the reorder only moves the output once.
 *
 * Output channel c' = (a*kw + b)*OC + oc of the 1x1 convolution holds output
 * pixel (kh*i + a, kw*j + b) of channel oc. Both the convolution's output and
 * the final output are described as 7-D strided views
 * (N, OC/blk, blk, H, kh, W, kw) over the layout oneDNN chose (channels-last,
 * or channel blocks of blk), so one reorder does the pixel shuffle.
 * A QDQ ConvTranspose (passes.c) runs the 1x1 convolution in int8
 * (conv_int8.c) and shuffles its dequantised float32 output. */
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../ops.h"
#include "../plan_memory.h"
#include "conv_int8.h"
#include "deconv_shuffle.h"

enum { LAYOUT_NONE, LAYOUT_NHWC, LAYOUT_BLOCKED };

/* Which of the layouts we can view the md is in; blk gets the channel block. */
static int layout_of(const dnnl_memory_desc_t *md, const int64_t *dims4, int64_t *blk)
{
    const dnnl_data_type_t dt = md->data_type;
    dnnl_dims_t d = { dims4[0], dims4[1], dims4[2], dims4[3] };
    dnnl_memory_desc_t cmp;
    if (dnnl_memory_desc_init_by_tag(&cmp, 4, d, dt, dnnl_acdb) == dnnl_success && dnnl_memory_desc_equal(&cmp, md)) {
        *blk = dims4[1];
        return LAYOUT_NHWC;
    }
    const struct { dnnl_format_tag_t tag; int64_t blk; } blocked[] = { { dnnl_aBcd8b, 8 }, { dnnl_aBcd16b, 16 }, { dnnl_aBcd4b, 4 } };
    for (size_t k = 0; k < sizeof blocked / sizeof *blocked; k++) {
        if (dims4[1] % blocked[k].blk)
            continue;
        if (dnnl_memory_desc_init_by_tag(&cmp, 4, d, dt, blocked[k].tag) == dnnl_success && dnnl_memory_desc_equal(&cmp, md)) {
            *blk = blocked[k].blk;
            return LAYOUT_BLOCKED;
        }
    }
    return LAYOUT_NONE;
}

static unet_status strided7(const int64_t *dims, const int64_t *strides, dnnl_data_type_t dt, dnnl_memory_desc_t *md)
{
    dnnl_dims_t d, s;
    for (int i = 0; i < 7; i++) {
        d[i] = dims[i];
        s[i] = strides[i];
    }
    if (dnnl_memory_desc_init_by_strides(md, 7, d, dt, s) != dnnl_success)
        return unet_set_error(UNET_ERR_BACKEND, "cannot describe the pixel-shuffle view");
    return UNET_OK;
}

int deconv_shuffle_applies(const plan_t *p, const node_t *n, const int64_t *kernel, const int64_t *stride,
                           const int64_t *pad_l, const int64_t *pad_r, const int64_t *dil,
                           const int64_t *out_pad, int sp, int64_t group)
{
    if (sp != 2 || group != 1 || !p->t[n->in[1]].is_const)
        return 0;
    if (n->n_in > 2 && n->in[2] >= 0 && !p->t[n->in[2]].is_const)
        return 0;
    for (int i = 0; i < sp; i++)
        if (kernel[i] != stride[i] || pad_l[i] || pad_r[i] || dil[i] != 1 || out_pad[i])
            return 0;
    return !getenv("UNET_NO_DECONV_SHUFFLE"); /* kept for A/B benchmarks */
}

/* W'[(a*KW + b)*OC + oc][ic] = W[ic][oc][a][b] for elements of esize bytes. */
static void *rearranged_weights(const void *w0, int64_t C, int64_t OC, int64_t KH, int64_t KW, size_t esize)
{
    unsigned char *wp = malloc((size_t)(OC * KH * KW * C) * esize);
    if (!wp)
        return NULL;
    const unsigned char *src = w0;
    for (int64_t ic = 0; ic < C; ic++)
        for (int64_t oc = 0; oc < OC; oc++)
            for (int64_t a = 0; a < KH; a++)
                for (int64_t bb = 0; bb < KW; bb++)
                    memcpy(wp + (size_t)(((a * KW + bb) * OC + oc) * C + ic) * esize,
                           src + (size_t)(((ic * OC + oc) * KH + a) * KW + bb) * esize, esize);
    return wp;
}

/* A new constant tensor owning data. */
static unet_status const_tensor(plan_t *p, int dtype, int rank, const int64_t *dims, void *data, int *id)
{
    unet_status s = plan_new_tensor(p, dtype, rank, dims, id);
    if (s != UNET_OK) {
        free(data);
        return s;
    }
    p->t[*id].is_const = 1;
    p->t[*id].owns_const = 1;
    p->t[*id].const_data = data;
    return UNET_OK;
}

/* The 1x1 convolution's weights (and bias) and primitive: float32/bf16, or
 * int8 for a QDQ ConvTranspose (n->qdq: x quantised, int8 weights, output
 * scales s_x * s_w[oc] per shuffled channel, float32 out). *pd NULL when
 * oneDNN has no such kernel. */
static unet_status one_by_one(plan_t *p, const node_t *n, int x, int w, dnnl_primitive_attr_t attr, int int8,
                              int *wt, int *bt, dnnl_primitive_desc_t *pd)
{
    const ptensor *tx = &p->t[x], *tw = &p->t[w];
    const int b = n->n_in > 2 ? n->in[2] : -1;
    const int64_t N = tx->dims[0], C = tx->dims[1], H = tx->dims[2], W = tx->dims[3];
    const int64_t OC = tw->dims[1], KH = tw->dims[2], KW = tw->dims[3], CP = OC * KH * KW;
    const int64_t wdims[4] = { CP, C, 1, 1 }, bdims[1] = { CP };
    *pd = NULL;
    void *wp = rearranged_weights(tw->const_data, C, OC, KH, KW, int8 ? 1 : sizeof(float));
    if (!wp)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory rearranging ConvTranspose weights");
    UNET_TRY(const_tensor(p, int8 ? UNET_DTYPE_INT8 : UNET_DTYPE_FLOAT, 4, wdims, wp, wt));
    if (int8) {
        dnnl_memory_desc_t plain;
        UNET_TRY(plan_plain_md(4, wdims, UNET_DTYPE_INT8, &plain));
        plan_set_md(p, *wt, &plain);
        const value_t *sv = &p->model->values[n->qdq_w_scale];
        const float *sw = sv->data;
        const int64_t n_sw = (int64_t)(sv->nbytes / sizeof(float));
        float *deq = malloc((size_t)CP * sizeof *deq);
        if (!deq)
            return unet_set_error(UNET_ERR_NOMEM, "out of memory");
        for (int64_t c = 0; c < CP; c++)
            deq[c] = n->qdq_x_scale * sw[n_sw == 1 ? 0 : c % OC];
        int64_t odims[4] = { N, CP, H, W };
        dnnl_dim_t strides[2] = { 1, 1 }, zero[2] = { 0, 0 };
        conv_int8_geom g = { 4, odims, CP, &plain, wdims, 4, strides, zero, zero, zero };
        int requant = 0; /* the output is the shuffle's input: never requantised */
        unet_status s = conv_int8_scaled_bias(p, b, deq, CP, OC, bt);
        if (s == UNET_OK)
            s = conv_int8_pd(p, n, &g, attr, deq, b >= 0, 0, pd, &requant);
        free(deq);
        return s;
    }
    float *bp = malloc((size_t)CP * sizeof *bp);
    if (!bp)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory rearranging ConvTranspose weights");
    const float *b0 = b >= 0 ? p->t[b].const_data : NULL;
    for (int64_t c = 0; c < CP; c++)
        bp[c] = b0 ? b0[c % OC] : 0.0f;
    UNET_TRY(const_tensor(p, UNET_DTYPE_FLOAT, 1, bdims, bp, bt));

    /* A bf16 plan keeps the whole up-step in bf16 (f32 accumulation inside
     * the convolution); the shuffle only moves values. */
    const dnnl_data_type_t dt = p->settings.bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_t src_any, w_any, dst_any, b_md;
    dnnl_dims_t sd = { N, C, H, W }, wd = { CP, C, 1, 1 }, dd = { N, CP, H, W }, bd = { CP };
    dnnl_memory_desc_init_by_tag(&src_any, 4, sd, dt, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dt, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&dst_any, 4, dd, dt, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_a);
    dnnl_dims_t one = { 1, 1 }, zero = { 0, 0 };
    dnnl_convolution_desc_t cd;
    dnnl_status_t st = dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                                                  &src_any, &w_any, &b_md, &dst_any, one, zero, zero, zero);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(pd, &cd, attr, p->engine, NULL);
    if (st != dnnl_success)
        *pd = NULL; /* the caller uses the deconvolution primitive */
    return UNET_OK;
}

unet_status deconv_shuffle_build(plan_t *p, const node_t *n, int x, int w, dnnl_primitive_attr_t attr, int *done)
{
    *done = 0;
    const int y = n->out[0];
    const int int8 = n->qdq && p->t[w].dtype == UNET_DTYPE_INT8;
    if (int8 && (!conv_int8_kernel_here(n) || p->t[x].is_const || !p->t[x].has_md))
        return UNET_OK;
    const ptensor *tx = &p->t[x];
    const int64_t N = tx->dims[0], H = tx->dims[2], W = tx->dims[3];
    const int64_t OC = p->t[w].dims[1], KH = p->t[w].dims[2], KW = p->t[w].dims[3], CP = OC * KH * KW;
    int wt = -1, bt = -1;
    dnnl_primitive_desc_t pd = NULL;
    UNET_TRY(one_by_one(p, n, x, w, attr, int8, &wt, &bt, &pd));
    if (!pd)
        return UNET_OK;
    /* the shuffle moves the convolution's output values: f32 (also after
     * int8, which dequantises) or bf16 */
    const dnnl_memory_desc_t *cdst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    const dnnl_data_type_t dt = cdst->data_type;
    int64_t blk_mid, blk_out;
    int64_t mid_dims[4] = { N, CP, H, W }, out_dims[4] = { N, OC, H * KH, W * KW };
    int lay = layout_of(cdst, mid_dims, &blk_mid);
    /* The output takes the same family of layout as the convolution chose. */
    dnnl_memory_desc_t out_md;
    dnnl_dims_t od = { N, OC, H * KH, W * KW };
    if (lay == LAYOUT_NHWC) {
        dnnl_memory_desc_init_by_tag(&out_md, 4, od, dt, dnnl_acdb);
        blk_out = OC;
    } else if (lay == LAYOUT_BLOCKED && OC % blk_mid == 0) {
        dnnl_memory_desc_init_by_tag(&out_md, 4, od, dt, blk_mid == 8 ? dnnl_aBcd8b : blk_mid == 16 ? dnnl_aBcd16b : dnnl_aBcd4b);
        blk_out = blk_mid;
    } else {
        dnnl_primitive_desc_destroy(pd);
        return UNET_OK;
    }
    int64_t B = blk_out, OB = OC / B;
    int64_t v_dims[7] = { N, OB, B, H, KH, W, KW };
    int64_t mid_str[7], out_str[7];
    if (lay == LAYOUT_NHWC) {
        int64_t m[7] = { H * W * CP, B, 1, W * CP, KW * OC, CP, OC };
        int64_t o[7] = { KH * H * KW * W * OC, B, 1, KH * KW * W * OC, KW * W * OC, KW * OC, OC };
        memcpy(mid_str, m, sizeof m);
        memcpy(out_str, o, sizeof o);
    } else {
        int64_t m[7] = { CP * H * W, H * W * B, 1, W * B, KW * OB * H * W * B, B, OB * H * W * B };
        int64_t o[7] = { OC * KH * H * KW * W, KH * H * KW * W * B, 1, KH * KW * W * B, KW * W * B, KW * B, B };
        memcpy(mid_str, m, sizeof m);
        memcpy(out_str, o, sizeof o);
    }
    dnnl_memory_desc_t mid7, out7;
    unet_status r = strided7(v_dims, mid_str, dt, &mid7);
    if (r == UNET_OK)
        r = strided7(v_dims, out_str, dt, &out7);
    dnnl_primitive_desc_t rpd = NULL;
    if (r == UNET_OK) {
        dnnl_primitive_attr_t rattr = plan_make_attr();
        dnnl_status_t st = dnnl_reorder_primitive_desc_create(&rpd, &mid7, p->engine, &out7, p->engine, rattr);
        dnnl_primitive_attr_destroy(rattr);
        if (st != dnnl_success) {
            dnnl_primitive_desc_destroy(pd);
            return UNET_OK;
        }
    }
    /* Tensors: the 1x1 output, its 7-D view, and the 7-D view of y. */
    int mid = -1, midv = -1, yv = -1, xs = -1, ws = -1;
    if (r == UNET_OK)
        r = plan_new_tensor(p, UNET_DTYPE_FLOAT, 4, mid_dims, &mid);
    if (r == UNET_OK) {
        plan_set_md(p, mid, cdst);
        plan_set_md(p, y, &out_md);
        r = plan_new_tensor(p, UNET_DTYPE_FLOAT, 4, mid_dims, &midv);
    }
    if (r == UNET_OK) {
        plan_set_md(p, midv, &mid7);
        p->t[midv].nbytes = p->t[mid].nbytes;
        r = plan_alias(p, midv, mid);
    }
    if (r == UNET_OK)
        r = plan_new_tensor(p, UNET_DTYPE_FLOAT, 4, out_dims, &yv);
    if (r == UNET_OK) {
        plan_set_md(p, yv, &out7);
        p->t[yv].nbytes = p->t[y].nbytes;
        r = plan_alias(p, yv, y);
    }
    if (r == UNET_OK && int8) {
        r = conv_int8_add(p, n, pd, x, wt, bt, mid);
    } else if (r == UNET_OK) {
        r = plan_as_md(p, x, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), &xs);
        if (r == UNET_OK)
            r = plan_as_md(p, wt, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), &ws);
        if (r == UNET_OK) {
            int kinds[4] = { DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS };
            int ids[4] = { xs, ws, mid, bt };
            r = plan_add_primitive(p, n, pd, 4, kinds, ids);
        }
    }
    if (r == UNET_OK) {
        int kinds[2] = { DNNL_ARG_FROM, DNNL_ARG_TO };
        int ids[2] = { midv, yv };
        r = plan_add_primitive(p, n, rpd, 2, kinds, ids);
    }
    dnnl_primitive_desc_destroy(pd);
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    if (r == UNET_OK)
        *done = 1;
    return r;
}
