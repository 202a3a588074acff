/* Channel concatenation [a, b]. Backward splits the gradient through
 * sub-memory views of it; a blocked layout (nChw8c) only allows views at
 * channel offsets that are multiples of the block, so otherwise the gradient
 * is reordered to plain NCHW first, where any offset works. */
#include <stdio.h>

#include "layers.h"

struct concat_layer {
    char name[64];
    lp_tensor *a, *b;
};

unet_status concat_layer_create(layer_plan *p, const char *name, lp_tensor *a, lp_tensor *b,
                                concat_layer **out, lp_tensor **dst)
{
    if (a->md.ndims != 4 || b->md.ndims != 4 || a->md.dims[0] != b->md.dims[0] ||
        a->md.dims[2] != b->md.dims[2] || a->md.dims[3] != b->md.dims[3])
        return unet_set_error(UNET_ERR_SHAPE, "%s: inputs differ in batch or spatial size", name);
    concat_layer *l = lp_alloc(p, sizeof *l);
    if (!l)
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", name);
    snprintf(l->name, sizeof l->name, "%s", name);
    l->a = a;
    l->b = b;
    const dnnl_dims_t dims = {a->md.dims[0], a->md.dims[1] + b->md.dims[1], a->md.dims[2],
                              a->md.dims[3]};
    dnnl_memory_desc_t dst_any;
    dnnl_memory_desc_init_by_tag(&dst_any, 4, dims, dnnl_f32, dnnl_format_tag_any);
    const dnnl_memory_desc_t srcs[2] = {a->md, b->md};
    dnnl_primitive_desc_t pd = NULL;
    DNNL_TRY(dnnl_concat_primitive_desc_create(&pd, &dst_any, 2, 1, srcs, lp_attr(p), lp_engine(p)),
             name);
    UNET_TRY(lp_keep_pd(p, pd));
    char tn[96];
    snprintf(tn, sizeof tn, "%s.out", name);
    lp_tensor *y;
    UNET_TRY(lp_tensor_new(p, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), tn, &y));
    const dnnl_exec_arg_t args[3] = {{DNNL_ARG_MULTIPLE_SRC, a->mem},
                                     {DNNL_ARG_MULTIPLE_SRC + 1, b->mem},
                                     {DNNL_ARG_DST, y->mem}};
    UNET_TRY(lp_add_primitive(p, LP_FWD, LP_ALWAYS, pd, name, 3, args));
    *out = l;
    *dst = y;
    return UNET_OK;
}

/* Views of the two channel ranges of whole; 0 when the layout does not allow them. */
static int split_views(const lp_tensor *whole, const lp_tensor *a, dnnl_memory_desc_t *va,
                       dnnl_memory_desc_t *vb)
{
    const dnnl_dim_t ca = a->md.dims[1];
    const dnnl_dims_t da = {whole->md.dims[0], ca, whole->md.dims[2], whole->md.dims[3]};
    const dnnl_dims_t db = {whole->md.dims[0], whole->md.dims[1] - ca, whole->md.dims[2],
                            whole->md.dims[3]};
    const dnnl_dims_t oa = {0, 0, 0, 0}, ob = {0, ca, 0, 0};
    return dnnl_memory_desc_init_submemory(va, &whole->md, da, oa) == dnnl_success &&
           dnnl_memory_desc_init_submemory(vb, &whole->md, db, ob) == dnnl_success;
}

unet_status concat_layer_backward(layer_plan *p, concat_layer *l, lp_tensor *diff_dst,
                                  lp_tensor **diff_a, lp_tensor **diff_b)
{
    char tn[96];
    dnnl_memory_desc_t va, vb;
    lp_tensor *whole = diff_dst;
    if (!split_views(whole, l->a, &va, &vb)) {
        dnnl_memory_desc_t plain;
        lp_plain_md(&plain, 4, diff_dst->md.dims);
        UNET_TRY(lp_as_md(p, LP_BWD, LP_ALWAYS, diff_dst, &plain, &whole));
        if (!split_views(whole, l->a, &va, &vb))
            return unet_set_error(UNET_ERR_BACKEND, "%s: cannot split a plain gradient", l->name);
    }
    lp_tensor *view_a, *view_b;
    snprintf(tn, sizeof tn, "%s.grad[a]", l->name);
    UNET_TRY(lp_tensor_view(p, &va, whole, tn, &view_a));
    UNET_TRY(lp_tensor_new(p, &l->a->md, tn, diff_a));
    UNET_TRY(lp_add_reorder(p, LP_BWD, LP_ALWAYS, view_a, *diff_a, tn));
    snprintf(tn, sizeof tn, "%s.grad[b]", l->name);
    UNET_TRY(lp_tensor_view(p, &vb, whole, tn, &view_b));
    UNET_TRY(lp_tensor_new(p, &l->b->md, tn, diff_b));
    UNET_TRY(lp_add_reorder(p, LP_BWD, LP_ALWAYS, view_b, *diff_b, tn));
    return UNET_OK;
}
