/* Concat: oneDNN concat for float tensors (inputs keep their layouts), a
 * plain copy kernel for other types and empty inputs. */
#include <string.h>

#include "../error.h"
#include "../ops.h"
#include "../plan_memory.h"

static int norm_axis(int64_t axis, int rank) { return (int)(axis < 0 ? axis + rank : axis); }

static unet_status concat_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    int rank = in[0].rank;
    int axis = norm_axis(node_attr_int(n, "axis", n->opset < 4 ? 1 : 0), rank);
    if (axis < 0 || axis >= rank)
        return unet_set_error(UNET_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)node_attr_int(n, "axis", 0), rank);
    out[0] = in[0];
    out[0].data = NULL;
    out[0].dims[axis] = 0;
    for (int i = 0; i < n_in; i++) {
        if (in[i].rank != rank || in[i].dtype != in[0].dtype)
            return unet_set_error(UNET_ERR_SHAPE, "input %d has rank %d and type %s; input 0 has rank %d and type %s", i, in[i].rank, unet_dtype_name(in[i].dtype), rank, unet_dtype_name(in[0].dtype));
        for (int d = 0; d < rank; d++)
            if (d != axis && in[i].dims[d] != in[0].dims[d])
                return unet_set_error(UNET_ERR_SHAPE, "input %d dimension %d is %lld, input 0 has %lld", i, d, (long long)in[i].dims[d], (long long)in[0].dims[d]);
        out[0].dims[axis] += in[i].dims[axis];
    }
    return UNET_OK;
}

static unet_status concat_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    int rank = in[0].rank;
    int axis = norm_axis(node_attr_int(n, "axis", n->opset < 4 ? 1 : 0), rank);
    size_t esz = unet_dtype_size(in[0].dtype);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= out[0].dims[d];
    for (int d = axis + 1; d < rank; d++)
        inner *= out[0].dims[d];
    size_t out_row = (size_t)(out[0].dims[axis] * inner) * esz;
    size_t off = 0;
    for (int i = 0; i < n_in; i++) {
        size_t row = (size_t)(in[i].dims[axis] * inner) * esz;
        for (int64_t o = 0; o < outer; o++)
            memcpy((char *)out[0].data + (size_t)o * out_row + off, (const char *)in[i].data + (size_t)o * row, row);
        off += row;
    }
    return UNET_OK;
}

unet_status concat_build(plan_t *p, const node_t *n)
{
    tview vi[STEP_MAX_IO], vo[1];
    memset(vi, 0, sizeof vi);
    if (n->n_in > STEP_MAX_IO)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "more than %d inputs", STEP_MAX_IO);
    int all_const = 1, any_empty = 0;
    for (int i = 0; i < n->n_in; i++) {
        if (n->in[i] < 0)
            return unet_set_error(UNET_ERR_INVALID, "input %d is missing", i);
        vi[i] = plan_view(p, n->in[i]);
        all_const &= p->t[n->in[i]].is_const;
        any_empty |= p->t[n->in[i]].nbytes == 0;
    }
    UNET_TRY(concat_shape(n, vi, n->n_in, vo, 1));
    UNET_TRY(plan_set_shape(p, n->out[0], vo[0].dtype, vo[0].rank, vo[0].dims));
    if (vo[0].dtype != UNET_DTYPE_FLOAT || all_const || any_empty || vo[0].rank == 0)
        return plan_add_plain(p, n, n->in, n->n_in, n->out, 1, concat_run);
    int axis = norm_axis(node_attr_int(n, "axis", n->opset < 4 ? 1 : 0), vo[0].rank);
    dnnl_memory_desc_t srcs[STEP_MAX_IO];
    for (int i = 0; i < n->n_in; i++)
        srcs[i] = p->t[n->in[i]].md;
    dnnl_primitive_attr_t attr = plan_make_attr();
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_concat_primitive_desc_create(&pd, NULL, n->n_in, axis, srcs, attr, p->engine);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return plan_add_plain(p, n, n->in, n->n_in, n->out, 1, concat_run);
    plan_set_md(p, n->out[0], dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0));
    int kinds[STEP_MAX_IO + 1], ids[STEP_MAX_IO + 1];
    for (int i = 0; i < n->n_in; i++) {
        kinds[i] = DNNL_ARG_MULTIPLE_SRC + i;
        ids[i] = n->in[i];
    }
    kinds[n->n_in] = DNNL_ARG_DST;
    ids[n->n_in] = n->out[0];
    unet_status r = plan_add_primitive(p, n, pd, n->n_in + 1, kinds, ids);
    dnnl_primitive_desc_destroy(pd);
    return r;
}
