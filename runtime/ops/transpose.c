/* Transpose: a oneDNN reorder for float tensors (the input's layout, blocked
 * or not, is read through a permuted memory descriptor, so NCHW <-> NHWC is a
 * single reorder), a strided copy for every other type and for constants. */
#include <string.h>

#include "../error.h"
#include "../ops.h"
#include "../plan_memory.h"
#include "ops_decl.h"
#include "strided.h"

/* perm[j] = the input axis that becomes output axis j (default: reversed). */
static unet_status transpose_perm(const node_t *n, int rank, int *perm)
{
    int64_t buf[UNET_MAX_RANK + 1];
    int k = node_attr_ints(n, "perm", buf, UNET_MAX_RANK + 1);
    if (k < 0) {
        for (int j = 0; j < rank; j++)
            perm[j] = rank - 1 - j;
        return UNET_OK;
    }
    if (k != rank)
        return unet_set_error(UNET_ERR_INVALID, "perm has %d entries for an input of rank %d", k, rank);
    int seen[UNET_MAX_RANK] = { 0 };
    for (int j = 0; j < rank; j++) {
        int64_t a = buf[j] < 0 ? buf[j] + rank : buf[j];
        if (a < 0 || a >= rank || seen[a])
            return unet_set_error(UNET_ERR_INVALID, "perm is not a permutation of 0..%d (entry %d is %lld)", rank - 1, j, (long long)buf[j]);
        seen[a] = 1;
        perm[j] = (int)a;
    }
    return UNET_OK;
}

static unet_status transpose_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_in; (void)n_out;
    int perm[UNET_MAX_RANK];
    UNET_TRY(transpose_perm(n, in[0].rank, perm));
    int64_t dense[UNET_MAX_RANK], strides[UNET_MAX_RANK];
    dense_strides(in[0].rank, in[0].dims, dense);
    for (int j = 0; j < in[0].rank; j++)
        strides[j] = dense[perm[j]];
    strided_copy(out[0].data, in[0].data, unet_dtype_size(in[0].dtype), out[0].rank, out[0].dims, strides, 0);
    return UNET_OK;
}

/* A reorder from the input, seen through a permuted descriptor, to the plain
 * output. Returns UNET_ERR_UNSUPPORTED (no message) when oneDNN declines, so
 * that the caller falls back to the plain kernel. */
static unet_status transpose_reorder(plan_t *p, const node_t *n, const int *perm)
{
    int in = n->in[0], rank = p->t[in].rank;
    int inv[UNET_MAX_RANK];
    for (int j = 0; j < rank; j++)
        inv[perm[j]] = j;
    dnnl_memory_desc_t src_md;
    if (dnnl_memory_desc_permute_axes(&src_md, &p->t[in].md, inv) != dnnl_success)
        return UNET_ERR_UNSUPPORTED;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = plan_make_attr();
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, &src_md, p->engine, &p->t[n->out[0]].md, p->engine, attr);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return UNET_ERR_UNSUPPORTED;
    /* The input's storage under the permuted descriptor. */
    int view = -1;
    int64_t dims[UNET_MAX_RANK];
    memcpy(dims, p->t[n->out[0]].dims, sizeof dims); /* plan_new_tensor may move p->t */
    unet_status s = plan_new_tensor(p, p->t[in].dtype, rank, dims, &view);
    if (s == UNET_OK) {
        plan_set_md(p, view, &src_md);
        s = plan_alias(p, view, in);
    }
    if (s == UNET_OK) {
        int kinds[2] = { DNNL_ARG_FROM, DNNL_ARG_TO };
        int ids[2] = { view, n->out[0] };
        s = plan_add_primitive(p, n, pd, 2, kinds, ids);
    }
    dnnl_primitive_desc_destroy(pd);
    return s;
}

unet_status transpose_build(plan_t *p, const node_t *n)
{
    if (n->in[0] < 0)
        return unet_set_error(UNET_ERR_INVALID, "input 0 is missing");
    const ptensor *x = &p->t[n->in[0]];
    int rank = x->rank, perm[UNET_MAX_RANK], identity = 1;
    UNET_TRY(transpose_perm(n, rank, perm));
    int64_t dims[UNET_MAX_RANK];
    for (int j = 0; j < rank; j++) {
        dims[j] = x->dims[perm[j]];
        identity &= perm[j] == j;
    }
    int dtype = x->dtype, is_const = x->is_const;
    size_t nbytes = x->nbytes;
    UNET_TRY(plan_set_shape(p, n->out[0], dtype, rank, dims));
    if (identity) {
        int src = -1;
        UNET_TRY(plan_as_plain(p, n->in[0], &src));
        return plan_alias(p, n->out[0], src);
    }
    if (dtype == UNET_DTYPE_FLOAT && !is_const && nbytes > 0 && rank > 0) {
        unet_status s = transpose_reorder(p, n, perm);
        if (s != UNET_ERR_UNSUPPORTED)
            return s;
    }
    return plan_add_plain(p, n, n->in, 1, n->out, 1, transpose_run);
}
