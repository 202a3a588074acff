/* BatchNormalization (inference form) on oneDNN when it was not folded into a
 * Conv at load. */
#include "../error.h"
#include "../ops.h"
#include "../plan_memory.h"

unet_status batchnorm_check(const unet_model *m, const node_t *n)
{
    (void)m;
    if (node_attr_int(n, "training_mode", 0) != 0)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "training_mode=1 is not supported (export the model in eval mode)");
    if (n->n_out > 1)
        for (int o = 1; o < n->n_out; o++)
            if (n->out[o] >= 0)
                return unet_set_error(UNET_ERR_UNSUPPORTED, "running mean/var outputs (training) are not supported");
    if (n->opset < 7 && node_attr_int(n, "spatial", 1) != 1)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "spatial=0 is not supported");
    return UNET_OK;
}

unet_status batchnorm_build(plan_t *p, const node_t *n)
{
    for (int i = 0; i < 5; i++)
        UNET_TRY(op_require_float(p, n, i));
    int x = n->in[0];
    const ptensor *tx = &p->t[x];
    if (tx->rank < 2)
        return unet_set_error(UNET_ERR_SHAPE, "input must have rank >= 2");
    int64_t C = tx->dims[1];
    int prm[4];
    for (int i = 0; i < 4; i++) {
        const ptensor *t = &p->t[n->in[1 + i]];
        if (t->rank != 1 || t->dims[0] != C)
            return unet_set_error(UNET_ERR_SHAPE, "input %d must be a vector of %lld", i + 1, (long long)C);
        UNET_TRY(plan_as_plain(p, n->in[1 + i], &prm[i]));
    }
    UNET_TRY(plan_set_shape(p, n->out[0], UNET_DTYPE_FLOAT, tx->rank, tx->dims));
    float eps = node_attr_float(n, "epsilon", 1e-5f);
    dnnl_batch_normalization_desc_t bd;
    dnnl_primitive_attr_t attr = plan_make_attr();
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_batch_normalization_forward_desc_init(&bd, dnnl_forward_inference, &p->t[x].md, eps,
                                                                  dnnl_use_global_stats | dnnl_use_scale | dnnl_use_shift);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &bd, attr, p->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return dnnl_error(st, n, "batch normalization setup");
    plan_set_md(p, n->out[0], dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0));
    int kinds[6] = { DNNL_ARG_SRC, DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE, DNNL_ARG_DST };
    int ids[6] = { x, prm[0], prm[1], prm[2], prm[3], n->out[0] };
    unet_status r = plan_add_primitive(p, n, pd, 6, kinds, ids);
    dnnl_primitive_desc_destroy(pd);
    return r;
}
