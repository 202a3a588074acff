/* Batch normalisation with separate scale and shift (dnnl_use_scale |
 * dnnl_use_shift): training forward with batch statistics, inference forward
 * with the running statistics, backward with diff scale and shift.
 *
 * Synchronised over ranks (spec->sync), since oneDNN has no cross-rank BN:
 *   forward   oneDNN's training forward gives this rank's mean and variance;
 *             a host step combines them over ranks (sum of n*mean, then of
 *             n*(var + (mean - global mean)^2): exact, no cancellation of
 *             large squares) and oneDNN's use_global_stats forward
 *             normalises with the global statistics.
 *   backward  oneDNN's backward, given the global mean and variance, yields
 *             this rank's sums lb = sum dy and lg = sum dy * x_hat (its dshift
 *             and dscale) and diff_src = g s (dy - lb/n - x_hat lg/n), g the
 *             scale, s = 1/sqrt(var + eps), n this rank's count. The global
 *             formula wants G_b/N and G_g/N (sums and count over all ranks)
 *             in their place; the difference, g s ((lb/n - G_b/N) + x_hat
 *             (lg/n - G_g/N)), is a per-channel affine function of x_hat, which
 *             the use_global_stats forward computes with that scale and shift,
 *             and a oneDNN sum adds it to diff_src.
 * The single-process path runs exactly the primitives it always ran. */
#include <math.h>
#include <stdio.h>

#include "layers.h"

struct bn_layer {
    bn_spec spec;
    char name[64];
    dnnl_primitive_desc_t train_pd, infer_pd;
    lp_tensor *src, *dst, *mean, *var, *scale, *shift;
    size_t channels;
    double count; /* values per channel in a batch */
    /* synchronised BN */
    double global_count; /* values per channel in the global batch */
    double *sums;        /* 2 * channels + 1 doubles for the reductions */
    float *corr_scale, *corr_shift;
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

/* Synchronised forward: this rank's statistics (oneDNN's, in mean/var) ->
 * the global batch's, written back into mean/var; running statistics from
 * the global ones. */
static void sync_forward_stats(void *ctx)
{
    bn_layer *l = ctx;
    const size_t C = l->channels;
    float *mean = lp_data(l->mean), *var = lp_data(l->var);
    double *v = l->sums;
    const double n = l->count;
    for (size_t c = 0; c < C; c++)
        v[c] = n * mean[c];
    v[C] = n;
    l->spec.sync->reduce_sums(l->spec.sync->ctx, v, C + 1);
    const double N = v[C] > 0 ? v[C] : 1;
    l->global_count = N;
    for (size_t c = 0; c < C; c++) {
        const double m = v[c] / N, d = mean[c] - m;
        mean[c] = (float)m;
        v[C + 1 + c] = n * ((double)var[c] + d * d);
    }
    l->spec.sync->reduce_sums(l->spec.sync->ctx, v + C + 1, C);
    const double unbias = N > 1 ? N / (N - 1) : 1.0;
    const double mo = l->spec.momentum;
    for (size_t c = 0; c < C; c++) {
        var[c] = (float)(v[C + 1 + c] / N);
        l->spec.running_mean[c] = (float)((1 - mo) * l->spec.running_mean[c] + mo * mean[c]);
        l->spec.running_var[c] =
            (float)((1 - mo) * l->spec.running_var[c] + mo * (double)var[c] * unbias);
    }
}

/* Synchronised backward: reduces this rank's dshift/dscale sums and sets the
 * correction's per-channel scale and shift (see the top of the file). */
static void sync_backward_sums(void *ctx)
{
    bn_layer *l = ctx;
    const size_t C = l->channels;
    const float *var = lp_data(l->var);
    double *v = l->sums;
    for (size_t c = 0; c < C; c++) {
        v[c] = l->spec.dshift[c];
        v[C + c] = l->spec.dscale[c];
    }
    l->spec.sync->reduce_sums(l->spec.sync->ctx, v, 2 * C);
    const double n = l->count, N = l->global_count;
    for (size_t c = 0; c < C; c++) {
        const double gs = (double)l->spec.scale[c] / sqrt((double)var[c] + l->spec.epsilon);
        l->corr_shift[c] = (float)(gs * (l->spec.dshift[c] / n - v[c] / N));
        l->corr_scale[c] = (float)(gs * (l->spec.dscale[c] / n - v[C + c] / N));
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
    if (!spec->sync) {
        snprintf(tn, sizeof tn, "%s running statistics", nm);
        UNET_TRY(lp_add_host(p, LP_FWD, LP_TRAIN, update_running_stats, l, tn));
    } else {
        l->sums = lp_alloc(p, (2 * l->channels + 1) * sizeof *l->sums);
        l->corr_scale = lp_alloc(p, l->channels * sizeof *l->corr_scale);
        l->corr_shift = lp_alloc(p, l->channels * sizeof *l->corr_shift);
        if (!l->sums || !l->corr_scale || !l->corr_shift)
            return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", nm);
        snprintf(tn, sizeof tn, "%s global statistics", nm);
        UNET_TRY(lp_add_host(p, LP_FWD, LP_TRAIN, sync_forward_stats, l, tn));
    }

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
    l->infer_pd = ipd;
    if (spec->sync) {
        /* Training output: normalised with the global statistics. */
        const dnnl_exec_arg_t gargs[6] = {
            {DNNL_ARG_SRC, src->mem},        {DNNL_ARG_DST, l->dst->mem},
            {DNNL_ARG_MEAN, l->mean->mem},   {DNNL_ARG_VARIANCE, l->var->mem},
            {DNNL_ARG_SCALE, l->scale->mem}, {DNNL_ARG_SHIFT, l->shift->mem}};
        snprintf(tn, sizeof tn, "%s with global statistics", nm);
        UNET_TRY(lp_add_primitive(p, LP_FWD, LP_TRAIN, ipd, tn, 6, gargs));
    }
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
    if (l->spec.sync) {
        snprintf(tn, sizeof tn, "%s global gradient sums", l->name);
        UNET_TRY(lp_add_host(p, LP_BWD, LP_ALWAYS, sync_backward_sums, l, tn));
        lp_tensor *cs, *ch, *corr;
        UNET_TRY(wrap_channels(p, l->infer_pd, DNNL_ARG_SCALE, l->corr_scale, l->name,
                               "grad_correction.scale", &cs));
        UNET_TRY(wrap_channels(p, l->infer_pd, DNNL_ARG_SHIFT, l->corr_shift, l->name,
                               "grad_correction.shift", &ch));
        snprintf(tn, sizeof tn, "%s.in.grad_correction", l->name);
        UNET_TRY(lp_tensor_new(p, &l->dst->md, tn, &corr));
        const dnnl_exec_arg_t cargs[6] = {
            {DNNL_ARG_SRC, l->src->mem},   {DNNL_ARG_DST, corr->mem},
            {DNNL_ARG_MEAN, l->mean->mem}, {DNNL_ARG_VARIANCE, l->var->mem},
            {DNNL_ARG_SCALE, cs->mem},     {DNNL_ARG_SHIFT, ch->mem}};
        snprintf(tn, sizeof tn, "%s global gradient correction", l->name);
        UNET_TRY(lp_add_primitive(p, LP_BWD, LP_ALWAYS, l->infer_pd, tn, 6, cargs));
        snprintf(tn, sizeof tn, "%s corrected gradient", l->name);
        UNET_TRY(lp_add_accumulate(p, LP_BWD, dx, corr, tn));
    }
    *diff_src = dx;
    return UNET_OK;
}
