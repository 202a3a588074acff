/* Softmax and LogSoftmax: oneDNN softmax over one axis on a plain layout.
 * Before opset 13 the input is coerced to 2-D at axis (default 1); from 13 on
 * it is one axis (default -1). */
#include <string.h>

#include "../error.h"
#include "../ops.h"
#include "../plan_memory.h"

unet_status softmax_build(plan_t *p, const node_t *n)
{
    UNET_TRY(op_require_float(p, n, 0));
    int x;
    UNET_TRY(plan_as_plain(p, n->in[0], &x));
    const ptensor *tx = &p->t[x];
    int rank = tx->rank;
    int old = n->opset < 13;
    int64_t axis = node_attr_int(n, "axis", old ? 1 : -1);
    if (axis < -rank || axis >= (rank ? rank : 1))
        return unet_set_error(UNET_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis, rank);
    if (axis < 0)
        axis += rank;
    UNET_TRY(plan_set_shape(p, n->out[0], UNET_DTYPE_FLOAT, rank, tx->dims));
    if (p->t[n->out[0]].nbytes == 0)
        return UNET_OK;
    dnnl_memory_desc_t md;
    int dnnl_axis = (int)axis;
    if (old || rank == 0) {
        int64_t d2[2] = { 1, 1 };
        for (int i = 0; i < rank; i++)
            d2[i < axis ? 0 : 1] *= tx->dims[i];
        UNET_TRY(plan_plain_md(2, d2, UNET_DTYPE_FLOAT, &md));
        dnnl_axis = 1;
    } else {
        md = tx->md;
    }
    dnnl_softmax_v2_desc_t sd;
    dnnl_alg_kind_t alg = !strcmp(n->op_type, "LogSoftmax") ? dnnl_softmax_log : dnnl_softmax_accurate;
    dnnl_primitive_attr_t attr = plan_make_attr();
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_softmax_v2_forward_desc_init(&sd, dnnl_forward_inference, alg, &md, &md, dnnl_axis);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &sd, attr, p->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return dnnl_error(st, n, "softmax setup");
    /* Same bytes as the plain tensors; views give oneDNN the 2-D shape. */
    int xv, yv;
    UNET_TRY(plan_new_tensor(p, UNET_DTYPE_FLOAT, rank, tx->dims, &xv));
    plan_set_md(p, xv, &md);
    UNET_TRY(plan_alias(p, xv, x));
    UNET_TRY(plan_new_tensor(p, UNET_DTYPE_FLOAT, rank, tx->dims, &yv));
    plan_set_md(p, yv, &md);
    UNET_TRY(plan_alias(p, yv, n->out[0]));
    int kinds[2] = { DNNL_ARG_SRC, DNNL_ARG_DST };
    int ids[2] = { xv, yv };
    unet_status r = plan_add_primitive(p, n, pd, 2, kinds, ids);
    dnnl_primitive_desc_destroy(pd);
    return r;
}
