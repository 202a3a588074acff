/* ReLU in place. The backward uses the output (relu_use_dst_for_bwd), so the
 * input can be overwritten: dy * (y > 0) equals dy * (x > 0) except at x == 0. */
#include <stdio.h>

#include "layers.h"

struct relu_layer {
    char name[64];
    dnnl_primitive_desc_t fwd_pd;
    lp_tensor *t;
};

unet_status relu_layer_create(layer_plan *p, const char *name, lp_tensor *t, relu_layer **out)
{
    relu_layer *l = lp_alloc(p, sizeof *l);
    if (!l)
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", name);
    snprintf(l->name, sizeof l->name, "%s", name);
    l->t = t;
    dnnl_eltwise_desc_t d;
    DNNL_TRY(dnnl_eltwise_forward_desc_init(&d, dnnl_forward_training,
                                            dnnl_eltwise_relu_use_dst_for_bwd, &t->md, 0.f, 0.f),
             name);
    DNNL_TRY(dnnl_primitive_desc_create(&l->fwd_pd, &d, lp_attr(p), lp_engine(p), NULL), name);
    UNET_TRY(lp_keep_pd(p, l->fwd_pd));
    if (!dnnl_memory_desc_equal(dnnl_primitive_desc_query_md(l->fwd_pd, dnnl_query_dst_md, 0),
                                &t->md))
        return unet_set_error(UNET_ERR_BACKEND, "%s: oneDNN eltwise changed the layout", name);
    const dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, t->mem}, {DNNL_ARG_DST, t->mem}};
    UNET_TRY(lp_add_primitive(p, LP_FWD, LP_ALWAYS, l->fwd_pd, name, 2, args));
    *out = l;
    return UNET_OK;
}

unet_status relu_layer_backward(layer_plan *p, relu_layer *l, lp_tensor *diff_dst,
                                lp_tensor **diff_src)
{
    char tn[96];
    snprintf(tn, sizeof tn, "%s backward", l->name);
    dnnl_eltwise_desc_t d;
    DNNL_TRY(dnnl_eltwise_backward_desc_init(&d, dnnl_eltwise_relu_use_dst_for_bwd, &l->t->md,
                                             &l->t->md, 0.f, 0.f),
             tn);
    dnnl_primitive_desc_t pd = NULL;
    DNNL_TRY(dnnl_primitive_desc_create(&pd, &d, lp_attr(p), lp_engine(p), l->fwd_pd), tn);
    UNET_TRY(lp_keep_pd(p, pd));
    const dnnl_memory_desc_t *dd_md = dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0);
    const dnnl_memory_desc_t *ds_md = dnnl_primitive_desc_query_md(pd, dnnl_query_diff_src_md, 0);
    if (!dnnl_memory_desc_equal(dd_md, ds_md))
        return unet_set_error(UNET_ERR_BACKEND, "%s: eltwise backward layouts differ", tn);
    lp_tensor *dy;
    /* In place: the incoming gradient has no other reader. */
    UNET_TRY(lp_as_md(p, LP_BWD, LP_ALWAYS, diff_dst, dd_md, &dy));
    const dnnl_exec_arg_t args[3] = {{DNNL_ARG_DST, l->t->mem},
                                     {DNNL_ARG_DIFF_DST, dy->mem},
                                     {DNNL_ARG_DIFF_SRC, dy->mem}};
    UNET_TRY(lp_add_primitive(p, LP_BWD, LP_ALWAYS, pd, tn, 3, args));
    *diff_src = dy;
    return UNET_OK;
}
