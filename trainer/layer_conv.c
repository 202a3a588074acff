/* Convolution and transposed convolution (oneDNN deconvolution) with bias:
 * forward_training, backward_data, backward_weights. oneDNN's deconvolution
 * weights have dims (OC, IC, KH, KW) in its own terms; ONNX ConvTranspose
 * stores (C_in, C_out, KH, KW), which is oneDNN's tag iohw over those dims. */
#include <stdio.h>

#include "layers.h"

struct conv_layer {
    conv_spec spec;
    char name[64];
    dnnl_dims_t strides, pad_l, pad_r;
    dnnl_memory_desc_t src_any, w_any, b_plain, dst_any, w_plain;
    dnnl_primitive_desc_t fwd_pd;
    lp_tensor *src;  /* the input in the forward primitive's layout */
    lp_tensor *w;    /* the weights in the forward primitive's layout */
};

static void any_md(dnnl_memory_desc_t *md, dnnl_dim_t a, dnnl_dim_t b, dnnl_dim_t c,
                   dnnl_dim_t d)
{
    const dnnl_dims_t dims = {a, b, c, d};
    dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32, dnnl_format_tag_any);
}

unet_status conv_layer_create(layer_plan *p, const conv_spec *spec, lp_tensor *src,
                              conv_layer **out, lp_tensor **dst)
{
    const char *nm = spec->name;
    if (src->md.ndims != 4 || spec->kernel < 1 || spec->stride < 1 || spec->pad < 0 ||
        spec->out_channels < 1 || !spec->weight || !spec->bias)
        return unet_set_error(UNET_ERR_ARG, "%s: bad convolution spec", nm);
    conv_layer *l = lp_alloc(p, sizeof *l);
    if (!l)
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", nm);
    l->spec = *spec;
    snprintf(l->name, sizeof l->name, "%s", nm);
    l->spec.name = l->name;
    const dnnl_dim_t n = src->md.dims[0], ic = src->md.dims[1], h = src->md.dims[2],
                     w = src->md.dims[3], oc = spec->out_channels, k = spec->kernel,
                     s = spec->stride, pd = spec->pad;
    dnnl_dim_t oh, ow;
    if (spec->transposed) {
        oh = (h - 1) * s - 2 * pd + k;
        ow = (w - 1) * s - 2 * pd + k;
    } else {
        oh = (h + 2 * pd - k) / s + 1;
        ow = (w + 2 * pd - k) / s + 1;
    }
    if (oh < 1 || ow < 1 || (!spec->transposed && (h + 2 * pd < k || w + 2 * pd < k)))
        return unet_set_error(UNET_ERR_SHAPE, "%s: input %lldx%lld too small for kernel %lld",
                              nm, (long long)h, (long long)w, (long long)k);
    for (int i = 0; i < 2; i++) {
        l->strides[i] = s;
        l->pad_l[i] = pd;
        l->pad_r[i] = pd;
    }
    any_md(&l->src_any, n, ic, h, w);
    any_md(&l->w_any, oc, ic, k, k);
    any_md(&l->dst_any, n, oc, oh, ow);
    const dnnl_dims_t bdims = {oc};
    lp_plain_md(&l->b_plain, 1, bdims);
    const dnnl_dims_t wdims = {oc, ic, k, k};
    dnnl_memory_desc_init_by_tag(&l->w_plain, 4, wdims, dnnl_f32,
                                 spec->transposed ? dnnl_iohw : dnnl_oihw);

    if (spec->transposed) {
        dnnl_deconvolution_desc_t d;
        DNNL_TRY(dnnl_deconvolution_forward_desc_init(
                     &d, dnnl_forward_training, dnnl_deconvolution_direct, &l->src_any,
                     &l->w_any, &l->b_plain, &l->dst_any, l->strides, l->pad_l, l->pad_r),
                 nm);
        DNNL_TRY(dnnl_primitive_desc_create(&l->fwd_pd, &d, lp_attr(p), lp_engine(p), NULL), nm);
    } else {
        dnnl_convolution_desc_t d;
        DNNL_TRY(dnnl_convolution_forward_desc_init(
                     &d, dnnl_forward_training, dnnl_convolution_direct, &l->src_any,
                     &l->w_any, &l->b_plain, &l->dst_any, l->strides, l->pad_l, l->pad_r),
                 nm);
        DNNL_TRY(dnnl_primitive_desc_create(&l->fwd_pd, &d, lp_attr(p), lp_engine(p), NULL), nm);
    }
    UNET_TRY(lp_keep_pd(p, l->fwd_pd));
    const dnnl_memory_desc_t *src_md = dnnl_primitive_desc_query_md(l->fwd_pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(l->fwd_pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *b_md = dnnl_primitive_desc_query_md(l->fwd_pd, dnnl_query_weights_md, 1);
    const dnnl_memory_desc_t *dst_md = dnnl_primitive_desc_query_md(l->fwd_pd, dnnl_query_dst_md, 0);

    char tn[96];
    lp_tensor *w_user, *b_user, *b, *y;
    UNET_TRY(lp_as_md(p, LP_FWD, LP_ALWAYS, src, src_md, &l->src));
    snprintf(tn, sizeof tn, "%s.weight", nm);
    /* The plan only reads parameters through these tensors. */
    UNET_TRY(lp_tensor_wrap(p, &l->w_plain, (void *)(uintptr_t)spec->weight, tn, &w_user));
    UNET_TRY(lp_as_md(p, LP_FWD, LP_ALWAYS, w_user, w_md, &l->w));
    snprintf(tn, sizeof tn, "%s.bias", nm);
    UNET_TRY(lp_tensor_wrap(p, &l->b_plain, (void *)(uintptr_t)spec->bias, tn, &b_user));
    UNET_TRY(lp_as_md(p, LP_FWD, LP_ALWAYS, b_user, b_md, &b));
    snprintf(tn, sizeof tn, "%s.out", nm);
    UNET_TRY(lp_tensor_new(p, dst_md, tn, &y));
    const dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, l->src->mem},
                                     {DNNL_ARG_WEIGHTS, l->w->mem},
                                     {DNNL_ARG_BIAS, b->mem},
                                     {DNNL_ARG_DST, y->mem}};
    UNET_TRY(lp_add_primitive(p, LP_FWD, LP_ALWAYS, l->fwd_pd, nm, 4, args));
    *out = l;
    *dst = y;
    return UNET_OK;
}

/* Appends the weight-gradient steps: diff weights and bias, written back plain. */
static unet_status backward_weights(layer_plan *p, conv_layer *l, lp_tensor *diff_dst)
{
    const char *nm = l->name;
    char tn[96];
    snprintf(tn, sizeof tn, "%s backward weights", nm);
    dnnl_primitive_desc_t pd = NULL;
    if (l->spec.transposed) {
        dnnl_deconvolution_desc_t d;
        DNNL_TRY(dnnl_deconvolution_backward_weights_desc_init(
                     &d, dnnl_deconvolution_direct, &l->src_any, &l->w_any, &l->b_plain,
                     &l->dst_any, l->strides, l->pad_l, l->pad_r),
                 tn);
        DNNL_TRY(dnnl_primitive_desc_create(&pd, &d, lp_attr(p), lp_engine(p), l->fwd_pd), tn);
    } else {
        dnnl_convolution_desc_t d;
        DNNL_TRY(dnnl_convolution_backward_weights_desc_init(
                     &d, dnnl_convolution_direct, &l->src_any, &l->w_any, &l->b_plain,
                     &l->dst_any, l->strides, l->pad_l, l->pad_r),
                 tn);
        DNNL_TRY(dnnl_primitive_desc_create(&pd, &d, lp_attr(p), lp_engine(p), l->fwd_pd), tn);
    }
    UNET_TRY(lp_keep_pd(p, pd));
    const dnnl_memory_desc_t *src_md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *dw_md = dnnl_primitive_desc_query_md(pd, dnnl_query_diff_weights_md, 0);
    const dnnl_memory_desc_t *db_md = dnnl_primitive_desc_query_md(pd, dnnl_query_diff_weights_md, 1);
    const dnnl_memory_desc_t *dd_md = dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0);

    lp_tensor *x, *dy, *dw_user, *db_user, *dw, *db;
    UNET_TRY(lp_as_md(p, LP_BWD, LP_ALWAYS, l->src, src_md, &x));
    UNET_TRY(lp_as_md(p, LP_BWD, LP_ALWAYS, diff_dst, dd_md, &dy));
    snprintf(tn, sizeof tn, "%s.weight.grad", nm);
    UNET_TRY(lp_tensor_wrap(p, &l->w_plain, l->spec.dweight, tn, &dw_user));
    int dw_direct = dnnl_memory_desc_equal(dw_md, &l->w_plain);
    if (dw_direct)
        dw = dw_user;
    else
        UNET_TRY(lp_tensor_new(p, dw_md, tn, &dw));
    snprintf(tn, sizeof tn, "%s.bias.grad", nm);
    UNET_TRY(lp_tensor_wrap(p, &l->b_plain, l->spec.dbias, tn, &db_user));
    int db_direct = dnnl_memory_desc_equal(db_md, &l->b_plain);
    if (db_direct)
        db = db_user;
    else
        UNET_TRY(lp_tensor_new(p, db_md, tn, &db));
    const dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, x->mem},
                                     {DNNL_ARG_DIFF_DST, dy->mem},
                                     {DNNL_ARG_DIFF_WEIGHTS, dw->mem},
                                     {DNNL_ARG_DIFF_BIAS, db->mem}};
    snprintf(tn, sizeof tn, "%s backward weights", nm);
    UNET_TRY(lp_add_primitive(p, LP_BWD, LP_ALWAYS, pd, tn, 4, args));
    if (!dw_direct)
        UNET_TRY(lp_add_reorder(p, LP_BWD, LP_ALWAYS, dw, dw_user, dw_user->name));
    if (!db_direct)
        UNET_TRY(lp_add_reorder(p, LP_BWD, LP_ALWAYS, db, db_user, db_user->name));
    return UNET_OK;
}

/* *dy_used: diff_dst as this step read it (reordered when needed). */
static unet_status backward_data(layer_plan *p, conv_layer *l, lp_tensor *diff_dst,
                                 lp_tensor **diff_src, lp_tensor **dy_used)
{
    const char *nm = l->name;
    char tn[96];
    snprintf(tn, sizeof tn, "%s backward data", nm);
    dnnl_primitive_desc_t pd = NULL;
    if (l->spec.transposed) {
        dnnl_deconvolution_desc_t d;
        DNNL_TRY(dnnl_deconvolution_backward_data_desc_init(
                     &d, dnnl_deconvolution_direct, &l->src_any, &l->w_any, &l->dst_any,
                     l->strides, l->pad_l, l->pad_r),
                 tn);
        DNNL_TRY(dnnl_primitive_desc_create(&pd, &d, lp_attr(p), lp_engine(p), l->fwd_pd), tn);
    } else {
        dnnl_convolution_desc_t d;
        DNNL_TRY(dnnl_convolution_backward_data_desc_init(
                     &d, dnnl_convolution_direct, &l->src_any, &l->w_any, &l->dst_any,
                     l->strides, l->pad_l, l->pad_r),
                 tn);
        DNNL_TRY(dnnl_primitive_desc_create(&pd, &d, lp_attr(p), lp_engine(p), l->fwd_pd), tn);
    }
    UNET_TRY(lp_keep_pd(p, pd));
    const dnnl_memory_desc_t *ds_md = dnnl_primitive_desc_query_md(pd, dnnl_query_diff_src_md, 0);
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dd_md = dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0);

    lp_tensor *w, *dy, *dx;
    /* The forward already reordered this step's weights; start from that copy. */
    UNET_TRY(lp_as_md(p, LP_BWD, LP_ALWAYS, l->w, w_md, &w));
    UNET_TRY(lp_as_md(p, LP_BWD, LP_ALWAYS, diff_dst, dd_md, &dy));
    snprintf(tn, sizeof tn, "%s.in.grad", nm);
    UNET_TRY(lp_tensor_new(p, ds_md, tn, &dx));
    const dnnl_exec_arg_t args[3] = {{DNNL_ARG_DIFF_DST, dy->mem},
                                     {DNNL_ARG_WEIGHTS, w->mem},
                                     {DNNL_ARG_DIFF_SRC, dx->mem}};
    snprintf(tn, sizeof tn, "%s backward data", nm);
    UNET_TRY(lp_add_primitive(p, LP_BWD, LP_ALWAYS, pd, tn, 3, args));
    *diff_src = dx;
    *dy_used = dy;
    return UNET_OK;
}

unet_status conv_layer_backward(layer_plan *p, conv_layer *l, lp_tensor *diff_dst,
                                lp_tensor **diff_src)
{
    /* When both steps want diff_dst in the same layout, reorder it only once. */
    if (diff_src)
        UNET_TRY(backward_data(p, l, diff_dst, diff_src, &diff_dst));
    if (l->spec.dweight && l->spec.dbias)
        UNET_TRY(backward_weights(p, l, diff_dst));
    return UNET_OK;
}
