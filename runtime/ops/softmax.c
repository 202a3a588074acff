/* Softmax and LogSoftmax: oneDNN softmax over one axis on a plain layout.
 * Before opset 13 the input is coerced to 2-D at axis (default 1); from 13 on
 * it is one axis (default -1). */
#include <string.h>

#include "../error.h"
#include "../ops.h"
#include "../plan_memory.h"
#include "softmax_channels.h"

/* A dense layout whose innermost dimension is `axis`: oneDNN's JIT softmax
 * wants the reduced axis contiguous (plain NCHW with axis 1 falls to its
 * reference kernel, about 60x slower). */
static unet_status axis_inner_md(int rank, const int64_t *dims, int axis, dnnl_memory_desc_t *md)
{
    dnnl_dims_t d, strides;
    int64_t s = dims[axis] > 0 ? dims[axis] : 1;
    for (int i = 0; i < rank; i++)
        d[i] = dims[i];
    strides[axis] = 1;
    for (int i = rank - 1; i >= 0; i--) {
        if (i == axis)
            continue;
        strides[i] = s;
        s *= dims[i] > 0 ? dims[i] : 1;
    }
    if (dnnl_memory_desc_init_by_strides(md, rank, d, dnnl_f32, strides) != dnnl_success)
        return unet_set_error(UNET_ERR_BACKEND, "cannot describe the softmax layout");
    return UNET_OK;
}

unet_status softmax_build(plan_t *p, const node_t *n)
{
    UNET_TRY(op_require_float(p, n, 0));
    const ptensor *tin = &p->t[n->in[0]];
    int rank = tin->rank;
    int old = n->opset < 13;
    int64_t axis = node_attr_int(n, "axis", old ? 1 : -1);
    if (axis < -rank || axis >= (rank ? rank : 1))
        return unet_set_error(UNET_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis, rank);
    if (axis < 0)
        axis += rank;
    int64_t dims[UNET_MAX_RANK];
    memcpy(dims, tin->dims, sizeof dims);
    UNET_TRY(plan_set_shape(p, n->out[0], UNET_DTYPE_FLOAT, rank, dims));
    if (p->t[n->out[0]].nbytes == 0)
        return UNET_OK;
    if (!old && softmax_channels_applies(p, n, (int)axis))
        return softmax_channels_build(p, n);
    dnnl_alg_kind_t alg = !strcmp(n->op_type, "LogSoftmax") ? dnnl_softmax_log : dnnl_softmax_accurate;
    dnnl_softmax_v2_desc_t sd;
    dnnl_primitive_attr_t attr = plan_make_attr();
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st;
    unet_status r;
    if (old || rank == 0) {
        /* Coerced to 2-D [prod(dims < axis), prod(dims >= axis)]: a view of the
         * plain tensor, reduced over its (contiguous) second dimension. */
        int x;
        UNET_TRY(plan_as_plain(p, n->in[0], &x));
        int64_t d2[2] = { 1, 1 };
        for (int i = 0; i < rank; i++)
            d2[i < axis ? 0 : 1] *= dims[i];
        dnnl_memory_desc_t md;
        UNET_TRY(plan_plain_md(2, d2, UNET_DTYPE_FLOAT, &md));
        st = dnnl_softmax_v2_forward_desc_init(&sd, dnnl_forward_inference, alg, &md, &md, 1);
        if (st == dnnl_success)
            st = dnnl_primitive_desc_create(&pd, &sd, attr, p->engine, NULL);
        dnnl_primitive_attr_destroy(attr);
        if (st != dnnl_success)
            return dnnl_error(st, n, "softmax setup");
        int xv, yv;
        UNET_TRY(plan_new_tensor(p, UNET_DTYPE_FLOAT, rank, dims, &xv));
        plan_set_md(p, xv, &md);
        UNET_TRY(plan_alias(p, xv, x));
        UNET_TRY(plan_new_tensor(p, UNET_DTYPE_FLOAT, rank, dims, &yv));
        plan_set_md(p, yv, &md);
        UNET_TRY(plan_alias(p, yv, n->out[0]));
        int kinds[2] = { DNNL_ARG_SRC, DNNL_ARG_DST };
        int ids[2] = { xv, yv };
        r = plan_add_primitive(p, n, pd, 2, kinds, ids);
    } else {
        dnnl_memory_desc_t md;
        UNET_TRY(axis_inner_md(rank, dims, (int)axis, &md));
        int x;
        UNET_TRY(plan_as_md(p, n->in[0], &md, &x));
        st = dnnl_softmax_v2_forward_desc_init(&sd, dnnl_forward_inference, alg, &md, &md, (int)axis);
        if (st == dnnl_success)
            st = dnnl_primitive_desc_create(&pd, &sd, attr, p->engine, NULL);
        dnnl_primitive_attr_destroy(attr);
        if (st != dnnl_success)
            return dnnl_error(st, n, "softmax setup");
        plan_set_md(p, n->out[0], &md);
        int kinds[2] = { DNNL_ARG_SRC, DNNL_ARG_DST };
        int ids[2] = { x, n->out[0] };
        r = plan_add_primitive(p, n, pd, 2, kinds, ids);
    }
    dnnl_primitive_desc_destroy(pd);
    return r;
}
