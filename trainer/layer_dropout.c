/* Inverted dropout in place, on the host: oneDNN 2.6 has no dropout primitive.
 * The mask is a counter-based hash of (seed, forward counter, element index),
 * so it needs no RNG state and repeats exactly for the same counter. It is
 * applied to the memory as laid out (padding included: padding is zero and
 * stays zero), which is fine because every element draws independently. */
#include <stdio.h>
#include <stdlib.h>

#include "layers.h"

struct dropout_layer {
    char name[64];
    lp_tensor *t;
    float rate;
    const uint64_t *seed, *counter;
    float *mask;  /* 0 or 1 / (1 - rate) per element, for backward */
    lp_tensor *diff; /* the gradient being scaled in backward */
    size_t n;
    uint64_t index_offset; /* elements before this batch in the global batch */
};

static uint64_t mix64(uint64_t z)
{
    /* splitmix64's finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void dropout_forward(void *ctx)
{
    dropout_layer *l = ctx;
    float *x = lp_data(l->t);
    const uint64_t key = mix64(*l->seed ^ mix64(*l->counter + 0x9e3779b97f4a7c15ULL));
    const float keep_scale = 1.0f / (1.0f - l->rate);
    /* keep when the 24-bit uniform draw u satisfies u >= rate */
    const uint32_t threshold = (uint32_t)((double)l->rate * 16777216.0);
    for (size_t i = 0; i < l->n; i++) {
        const uint64_t gi = (uint64_t)i + l->index_offset;
        const uint32_t u = (uint32_t)(mix64(key + 0x9e3779b97f4a7c15ULL * (gi + 1)) >> 40);
        l->mask[i] = u >= threshold ? keep_scale : 0.0f;
        x[i] *= l->mask[i];
    }
}

static void dropout_backward(void *ctx)
{
    dropout_layer *l = ctx;
    float *d = lp_data(l->diff);
    for (size_t i = 0; i < l->n; i++)
        d[i] *= l->mask[i];
}

unet_status dropout_layer_create(layer_plan *p, const char *name, lp_tensor *t, float rate,
                                 const uint64_t *seed, const uint64_t *counter,
                                 dropout_layer **out)
{
    if (!(rate >= 0.0f && rate < 1.0f))
        return unet_set_error(UNET_ERR_ARG, "%s: dropout rate %g outside [0, 1)", name,
                              (double)rate);
    dropout_layer *l = lp_alloc(p, sizeof *l);
    if (!l)
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", name);
    snprintf(l->name, sizeof l->name, "%s", name);
    l->t = t;
    l->rate = rate;
    l->seed = seed;
    l->counter = counter;
    l->n = lp_nfloats(t);
    lp_pin(t);
    l->mask = lp_alloc(p, l->n * sizeof *l->mask);
    if (!l->mask)
        return unet_set_error(UNET_ERR_NOMEM, "%s: mask of %zu floats: out of memory", name, l->n);
    UNET_TRY(lp_add_host(p, LP_FWD, LP_TRAIN, dropout_forward, l, name));
    *out = l;
    return UNET_OK;
}

unet_status dropout_layer_backward(layer_plan *p, dropout_layer *l, lp_tensor *diff_dst,
                                   lp_tensor **diff_src)
{
    lp_tensor *d;
    UNET_TRY(lp_as_md(p, LP_BWD, LP_ALWAYS, diff_dst, &l->t->md, &d));
    l->diff = d;
    lp_pin(d); /* the host step reads and writes it */
    char tn[96];
    snprintf(tn, sizeof tn, "%s backward", l->name);
    UNET_TRY(lp_add_host(p, LP_BWD, LP_ALWAYS, dropout_backward, l, tn));
    *diff_src = d;
    return UNET_OK;
}

unet_status dropout_layer_set_first_sample(dropout_layer *l, uint64_t first_sample,
                                           uint64_t batch)
{
    const dnnl_memory_desc_t *md = &l->t->md;
    const uint64_t per_sample = batch ? l->n / batch : 0;
    int outer = md->format_kind == dnnl_blocked && per_sample * batch == l->n &&
                (uint64_t)md->format_desc.blocking.strides[0] == per_sample;
    for (int d = 1; outer && d < md->ndims; d++)
        outer = md->format_desc.blocking.strides[d] <= md->format_desc.blocking.strides[0];
    if (!outer)
        return unet_set_error(UNET_ERR_BACKEND,
                              "%s: the layout oneDNN chose does not keep samples apart, so "
                              "dropout masks cannot follow the global batch",
                              l->name);
    l->index_offset = first_sample * per_sample;
    return UNET_OK;
}
