/* 2x2 max pooling, stride 2: pooling_v2 forward_training keeps a workspace (the
 * arg-max positions) that backward reads to route each gradient. */
#include <stdio.h>

#include "layers.h"

struct pool_layer {
    char name[64];
    dnnl_primitive_desc_t fwd_pd;
    lp_tensor *src, *dst, *ws;
};

static const dnnl_dims_t pool_kernel = {2, 2}, pool_strides = {2, 2}, pool_dilation = {0, 0},
                         pool_pad = {0, 0};

unet_status pool_layer_create(layer_plan *p, const char *name, lp_tensor *src, pool_layer **out,
                              lp_tensor **dst)
{
    if (src->md.ndims != 4 || src->md.dims[2] % 2 || src->md.dims[3] % 2)
        return unet_set_error(UNET_ERR_SHAPE, "%s: 2x2 pooling needs an even height and width",
                              name);
    pool_layer *l = lp_alloc(p, sizeof *l);
    if (!l)
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", name);
    snprintf(l->name, sizeof l->name, "%s", name);
    l->src = src;
    const dnnl_dims_t ddims = {src->md.dims[0], src->md.dims[1], src->md.dims[2] / 2,
                               src->md.dims[3] / 2};
    dnnl_memory_desc_t dst_any;
    dnnl_memory_desc_init_by_tag(&dst_any, 4, ddims, dnnl_f32, dnnl_format_tag_any);
    dnnl_pooling_v2_desc_t d;
    DNNL_TRY(dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_training, dnnl_pooling_max,
                                               &src->md, &dst_any, pool_strides, pool_kernel,
                                               pool_dilation, pool_pad, pool_pad),
             name);
    DNNL_TRY(dnnl_primitive_desc_create(&l->fwd_pd, &d, lp_attr(p), lp_engine(p), NULL), name);
    UNET_TRY(lp_keep_pd(p, l->fwd_pd));
    char tn[96];
    snprintf(tn, sizeof tn, "%s.out", name);
    UNET_TRY(lp_tensor_new(p, dnnl_primitive_desc_query_md(l->fwd_pd, dnnl_query_dst_md, 0), tn,
                           &l->dst));
    snprintf(tn, sizeof tn, "%s.workspace", name);
    UNET_TRY(lp_tensor_new(p, dnnl_primitive_desc_query_md(l->fwd_pd, dnnl_query_workspace_md, 0),
                           tn, &l->ws));
    const dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, src->mem},
                                     {DNNL_ARG_DST, l->dst->mem},
                                     {DNNL_ARG_WORKSPACE, l->ws->mem}};
    UNET_TRY(lp_add_primitive(p, LP_FWD, LP_ALWAYS, l->fwd_pd, name, 3, args));
    *out = l;
    *dst = l->dst;
    return UNET_OK;
}

unet_status pool_layer_backward(layer_plan *p, pool_layer *l, lp_tensor *diff_dst,
                                lp_tensor **diff_src)
{
    char tn[96];
    snprintf(tn, sizeof tn, "%s backward", l->name);
    dnnl_pooling_v2_desc_t d;
    DNNL_TRY(dnnl_pooling_v2_backward_desc_init(&d, dnnl_pooling_max, &l->src->md, &l->dst->md,
                                                pool_strides, pool_kernel, pool_dilation, pool_pad,
                                                pool_pad),
             tn);
    dnnl_primitive_desc_t pd = NULL;
    DNNL_TRY(dnnl_primitive_desc_create(&pd, &d, lp_attr(p), lp_engine(p), l->fwd_pd), tn);
    UNET_TRY(lp_keep_pd(p, pd));
    lp_tensor *dy, *dx;
    UNET_TRY(lp_as_md(p, LP_BWD, LP_ALWAYS, diff_dst,
                      dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0), &dy));
    snprintf(tn, sizeof tn, "%s.in.grad", l->name);
    UNET_TRY(lp_tensor_new(p, dnnl_primitive_desc_query_md(pd, dnnl_query_diff_src_md, 0), tn,
                           &dx));
    const dnnl_exec_arg_t args[3] = {{DNNL_ARG_DIFF_DST, dy->mem},
                                     {DNNL_ARG_WORKSPACE, l->ws->mem},
                                     {DNNL_ARG_DIFF_SRC, dx->mem}};
    snprintf(tn, sizeof tn, "%s backward", l->name);
    UNET_TRY(lp_add_primitive(p, LP_BWD, LP_ALWAYS, pd, tn, 3, args));
    *diff_src = dx;
    return UNET_OK;
}
