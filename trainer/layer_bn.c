/* Batch normalisation with separate scale and shift (dnnl_use_scale |
 * dnnl_use_shift): training forward with batch statistics, inference forward
 * with the running statistics, backward with diff scale and shift. */
#include <stdio.h>

#include "layers.h"

struct bn_layer {
    bn_spec spec;
    char name[64];
    dnnl_primitive_desc_t train_pd;
    lp_tensor *src, *dst, *mean, *var, *scale, *shift;
    size_t channels;
    double count; /* values per channel in a batch */
};

/* running = (1 - momentum) running + momentum batch, unbiased batch variance. */
static void update_running_stats(void *ctx)
{
    const bn_layer *l = ctx;
    const float *mean = lp_data(l->mean), *var = lp_data(l->var);
    const double unbias = l->count > 1 ? l->count / (l->count - 1) : 1.0;
    const double m = l->spec.momentum;
    for (size_t c = 0; c < l->channels; c++) {
        l->spec.running_mean[c] = (float)((1 - m) * l->spec.running_mean[c] + m * mean[c]);
        l->spec.running_var[c] = (float)((1 - m) * l->spec.running_var[c] + m * var[c] * unbias);
    }
}

static unet_status wrap_channels(layer_plan *p, const_dnnl_primitive_desc_t pd, int arg,
                                 const float *data, const char *name, const char *what,
                                 lp_tensor **out)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
    dnnl_memory_desc_t plain;
    const dnnl_dims_t dims = {md ? md->dims[0] : 0};
    lp_plain_md(&plain, 1, dims);
    if (!md || !dnnl_memory_desc_equal(md, &plain))
        return unet_set_error(UNET_ERR_BACKEND, "%s: oneDNN wants %s in a non-plain layout", name,
                              what);
    char tn[96];
    snprintf(tn, sizeof tn, "%s.%s", name, what);
    return lp_tensor_wrap(p, md, (void *)(uintptr_t)data, tn, out);
}

unet_status bn_layer_create(layer_plan *p, const bn_spec *spec, lp_tensor *src, bn_layer **out,
                            lp_tensor **dst)
{
    const char *nm = spec->name;
    if (src->md.ndims != 4)
        return unet_set_error(UNET_ERR_ARG, "%s: batch normalisation needs a 4-d input", nm);
    bn_layer *l = lp_alloc(p, sizeof *l);
    if (!l)
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", nm);
    l->spec = *spec;
    snprintf(l->name, sizeof l->name, "%s", nm);
    l->spec.name = l->name;
    l->src = src;
    l->channels = (size_t)src->md.dims[1];
    l->count = (double)src->md.dims[0] * (double)src->md.dims[2] * (double)src->md.dims[3];
    const unsigned flags = dnnl_use_scale | dnnl_use_shift;
    char tn[96];

    dnnl_batch_normalization_desc_t d;
    DNNL_TRY(dnnl_batch_normalization_forward_desc_init(&d, dnnl_forward_training, &src->md,
                                                        spec->epsilon, flags),
             nm);
    DNNL_TRY(dnnl_primitive_desc_create(&l->train_pd, &d, lp_attr(p), lp_engine(p), NULL), nm);
    UNET_TRY(lp_keep_pd(p, l->train_pd));
    lp_tensor *rmean, *rvar;
    UNET_TRY(wrap_channels(p, l->train_pd, DNNL_ARG_SCALE, spec->scale, nm, "scale", &l->scale));
    UNET_TRY(wrap_channels(p, l->train_pd, DNNL_ARG_SHIFT, spec->shift, nm, "shift", &l->shift));
    snprintf(tn, sizeof tn, "%s.batch_mean", nm);
    UNET_TRY(lp_tensor_new(p, dnnl_primitive_desc_query_md(l->train_pd, dnnl_query_exec_arg_md,
                                                           DNNL_ARG_MEAN),
                           tn, &l->mean));
    snprintf(tn, sizeof tn, "%s.batch_var", nm);
    UNET_TRY(lp_tensor_new(p, dnnl_primitive_desc_query_md(l->train_pd, dnnl_query_exec_arg_md,
                                                           DNNL_ARG_VARIANCE),
                           tn, &l->var));
    lp_pin(l->mean); /* the running-statistics host step reads them */
    lp_pin(l->var);
    snprintf(tn, sizeof tn, "%s.out", nm);
    UNET_TRY(lp_tensor_new(p, dnnl_primitive_desc_query_md(l->train_pd, dnnl_query_dst_md, 0), tn,
                           &l->dst));
    const dnnl_exec_arg_t targs[6] = {{DNNL_ARG_SRC, src->mem},   {DNNL_ARG_DST, l->dst->mem},
                                      {DNNL_ARG_MEAN, l->mean->mem}, {DNNL_ARG_VARIANCE, l->var->mem},
                                      {DNNL_ARG_SCALE, l->scale->mem}, {DNNL_ARG_SHIFT, l->shift->mem}};
    UNET_TRY(lp_add_primitive(p, LP_FWD, LP_TRAIN, l->train_pd, nm, 6, targs));
    snprintf(tn, sizeof tn, "%s running statistics", nm);
    UNET_TRY(lp_add_host(p, LP_FWD, LP_TRAIN, update_running_stats, l, tn));

    /* Inference: normalise with the running statistics. */
    dnnl_batch_normalization_desc_t di;
    snprintf(tn, sizeof tn, "%s inference", nm);
    DNNL_TRY(dnnl_batch_normalization_forward_desc_init(&di, dnnl_forward_inference, &src->md,
                                                        spec->epsilon,
                                                        flags | dnnl_use_global_stats),
             tn);
    dnnl_primitive_desc_t ipd = NULL;
    DNNL_TRY(dnnl_primitive_desc_create(&ipd, &di, lp_attr(p), lp_engine(p), NULL), tn);
    UNET_TRY(lp_keep_pd(p, ipd));
    if (!dnnl_memory_desc_equal(dnnl_primitive_desc_query_md(ipd, dnnl_query_dst_md, 0),
                                &l->dst->md))
        return unet_set_error(UNET_ERR_BACKEND, "%s: training and inference layouts differ", nm);
    UNET_TRY(wrap_channels(p, ipd, DNNL_ARG_MEAN, spec->running_mean, nm, "mean", &rmean));
    UNET_TRY(wrap_channels(p, ipd, DNNL_ARG_VARIANCE, spec->running_var, nm, "var", &rvar));
    const dnnl_exec_arg_t iargs[6] = {{DNNL_ARG_SRC, src->mem},   {DNNL_ARG_DST, l->dst->mem},
                                      {DNNL_ARG_MEAN, rmean->mem}, {DNNL_ARG_VARIANCE, rvar->mem},
                                      {DNNL_ARG_SCALE, l->scale->mem}, {DNNL_ARG_SHIFT, l->shift->mem}};
    UNET_TRY(lp_add_primitive(p, LP_FWD, LP_INFER, ipd, tn, 6, iargs));
    *out = l;
    *dst = l->dst;
    return UNET_OK;
}

unet_status bn_layer_backward(layer_plan *p, bn_layer *l, lp_tensor *diff_dst,
                              lp_tensor **diff_src)
{
    char tn[96];
    snprintf(tn, sizeof tn, "%s backward", l->name);
    dnnl_batch_normalization_desc_t d;
    DNNL_TRY(dnnl_batch_normalization_backward_desc_init(&d, dnnl_backward, &l->dst->md,
                                                         &l->src->md, l->spec.epsilon,
                                                         dnnl_use_scale | dnnl_use_shift),
             tn);
    dnnl_primitive_desc_t pd = NULL;
    DNNL_TRY(dnnl_primitive_desc_create(&pd, &d, lp_attr(p), lp_engine(p), l->train_pd), tn);
    UNET_TRY(lp_keep_pd(p, pd));
    lp_tensor *dy, *dx, *dscale, *dshift;
    UNET_TRY(lp_as_md(p, LP_BWD, LP_ALWAYS, diff_dst,
                      dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0), &dy));
    snprintf(tn, sizeof tn, "%s.in.grad", l->name);
    UNET_TRY(lp_tensor_new(p, dnnl_primitive_desc_query_md(pd, dnnl_query_diff_src_md, 0), tn,
                           &dx));
    UNET_TRY(wrap_channels(p, pd, DNNL_ARG_DIFF_SCALE, l->spec.dscale, l->name, "scale.grad",
                           &dscale));
    UNET_TRY(wrap_channels(p, pd, DNNL_ARG_DIFF_SHIFT, l->spec.dshift, l->name, "shift.grad",
                           &dshift));
    /* oneDNN 2.6 counts the shift among the backward's inputs (it does not read it). */
    const dnnl_exec_arg_t args[9] = {
        {DNNL_ARG_SRC, l->src->mem},          {DNNL_ARG_MEAN, l->mean->mem},
        {DNNL_ARG_VARIANCE, l->var->mem},     {DNNL_ARG_SCALE, l->scale->mem},
        {DNNL_ARG_SHIFT, l->shift->mem},      {DNNL_ARG_DIFF_DST, dy->mem},
        {DNNL_ARG_DIFF_SRC, dx->mem},         {DNNL_ARG_DIFF_SCALE, dscale->mem},
        {DNNL_ARG_DIFF_SHIFT, dshift->mem}};
    snprintf(tn, sizeof tn, "%s backward", l->name);
    UNET_TRY(lp_add_primitive(p, LP_BWD, LP_ALWAYS, pd, tn, 9, args));
    *diff_src = dx;
    return UNET_OK;
}
