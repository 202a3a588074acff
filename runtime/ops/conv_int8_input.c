/* The input of a QDQ Conv or ConvTranspose, quantised for its int8
 * convolution (see conv_int8.c): by a reorder with scale 1/s_x and the zero
 * point into the layout the convolution chose; taken as is when its
 * producer already wrote it quantised; or, when it is a channel Concat (or a
 * Clip of one) that only this node reads, each part quantised straight into
 * its channels, so that the float concatenation is never made. */
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../ops.h"
#include "../plan_memory.h"
#include "conv_int8.h"

/* A reorder step from tensor x into tensor to (in its md): quantising (to =
 * int8/uint8: q = saturate(round(x / s) + zp)) or dequantising (from int8/uint8:
 * (q - zp) * s). */
static unet_status qdq_reorder_into(plan_t *p, const node_t *n, int x, int to, int quantise)
{
    dnnl_primitive_attr_t attr = plan_make_attr();
    if (!attr)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    const float scale = quantise ? 1.0f / n->qdq_x_scale : n->qdq_x_scale;
    const int32_t zp = n->qdq_x_zero;
    dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale);
    if (zp)
        dnnl_primitive_attr_set_zero_points(attr, quantise ? DNNL_ARG_DST : DNNL_ARG_SRC, 1, 0, &zp);
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(&rpd, &p->t[x].md, p->engine, &p->t[to].md, p->engine, attr);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return dnnl_error(st, n, quantise ? "input quantisation (reorder) setup" : "input dequantisation (reorder) setup");
    int kinds[2] = { DNNL_ARG_FROM, DNNL_ARG_TO };
    int ids[2] = { x, to };
    unet_status s = plan_add_primitive(p, n, rpd, 2, kinds, ids);
    dnnl_primitive_desc_destroy(rpd);
    return s;
}

/* The same into a new tensor *out in md. */
static unet_status qdq_reorder(plan_t *p, const node_t *n, int x, const dnnl_memory_desc_t *md, int quantise, int *out)
{
    int dtype = !quantise ? UNET_DTYPE_FLOAT : n->qdq_x_u8 ? UNET_DTYPE_UINT8 : UNET_DTYPE_INT8;
    UNET_TRY(plan_new_tensor(p, dtype, p->t[x].rank, p->t[x].dims, out));
    plan_set_md(p, *out, md);
    return qdq_reorder_into(p, n, x, *out, quantise);
}

/* How often tensor x is read by the model's nodes. */
static int uses_of(const unet_model *m, int x)
{
    int uses = 0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++)
            uses += m->nodes[i].in[k] == x;
    return uses;
}

/* The step at index at when it is a oneDNN Concat along the channels of
 * result x, which only one node reads and is no graph output; else NULL. */
static const step_t *channel_concat_at(const plan_t *p, int at, int x)
{
    const unet_model *m = p->model;
    if (at < 0 || x < 0 || x >= m->n_values || m->values[x].is_graph_output)
        return NULL;
    const step_t *st = &p->steps[at];
    if (st->kind != STEP_PRIMITIVE || !st->node || strcmp(st->node->op_type, "Concat") || st->node->domain[0])
        return NULL;
    int64_t axis = node_attr_int(st->node, "axis", st->node->opset < 4 ? 1 : 0);
    if (axis < 0)
        axis += p->t[x].rank;
    if (axis != 1 || st->node->out[0] != x || uses_of(m, x) != 1)
        return NULL;
    return st;
}

/* The eltwise parameters of the last step when it is a Clip (a oneDNN
 * eltwise) of a channel Concat added just before it, the Clip's result x
 * read only by this Conv (7-bit files: Concat, Clip, QuantizeLinear): the
 * Concat's step, and *ed the Clip's; else NULL. */
static const step_t *clipped_concat_feeding(const plan_t *p, int x, dnnl_eltwise_desc_t *ed)
{
    const unet_model *m = p->model;
    if (p->n_steps < 2 || x < 0 || x >= m->n_values || m->values[x].is_graph_output || uses_of(m, x) != 1)
        return NULL;
    const step_t *st = &p->steps[p->n_steps - 1];
    if (st->kind != STEP_PRIMITIVE || !st->node || strcmp(st->node->op_type, "Clip") || st->node->domain[0] ||
        st->node->out[0] != x || st->node->n_in < 1)
        return NULL;
    const_dnnl_primitive_desc_t pd = NULL;
    const dnnl_eltwise_desc_t *d = NULL;
    if (dnnl_primitive_get_primitive_desc(st->prim, &pd) != dnnl_success ||
        dnnl_primitive_desc_query(pd, dnnl_query_eltwise_d, 0, &d) != dnnl_success || !d)
        return NULL;
    *ed = *d;
    return channel_concat_at(p, p->n_steps - 2, st->node->in[0]);
}

/* Part x clipped as ed says, into a new float tensor *out in x's layout. */
static unet_status clip_part(plan_t *p, const node_t *n, const dnnl_eltwise_desc_t *ed, int x, int *out)
{
    dnnl_eltwise_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = plan_make_attr();
    dnnl_status_t st = dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference, ed->alg_kind, &p->t[x].md, ed->alpha,
                                                      ed->beta);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &d, attr, p->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return dnnl_error(st, n, "Clip of a Concat's part (eltwise) setup");
    unet_status s = plan_new_tensor(p, UNET_DTYPE_FLOAT, p->t[x].rank, p->t[x].dims, out);
    if (s == UNET_OK) {
        plan_set_md(p, *out, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0));
        int kinds[2] = { DNNL_ARG_SRC, DNNL_ARG_DST };
        int ids[2] = { x, *out };
        s = plan_add_primitive(p, n, pd, 2, kinds, ids);
    }
    dnnl_primitive_desc_destroy(pd);
    return s;
}

/* Quantises x into src_md. When x is a channel Concat that only this Conv
 * reads, its float result is never made: each part is quantised straight
 * into its channels of the int8 input (exact: one scale and zero point for
 * all), which saves the float concatenation's copy (8.5 ms of a 150 ms
 * batch at the default model's last level). The same when a Clip of such a
 * Concat is what this Conv reads: each part is clipped first (elementwise,
 * so the same values), then quantised into its channels. */
unet_status conv_int8_quantize_input(plan_t *p, const node_t *n, int x, const dnnl_memory_desc_t *src_md, int *xq)
{
    if (p->t[x].dtype != UNET_DTYPE_FLOAT) /* quantised by its producer (requantising_consumer) */
        return plan_as_md(p, x, src_md, xq);
    dnnl_eltwise_desc_t clip;
    const step_t *cat = clipped_concat_feeding(p, x, &clip);
    const int clipped = cat != NULL;
    const node_t *clip_node = clipped ? p->steps[p->n_steps - 1].node : NULL; /* the profile names it */
    if (!cat)
        cat = channel_concat_at(p, p->n_steps - 1, x);
    int parts = 0, part[STEP_MAX_ARGS];
    dnnl_memory_desc_t views[STEP_MAX_ARGS];
    if (cat) {
        int64_t offset = 0;
        for (int a = 0; a < cat->n_args && cat; a++) {
            if (cat->arg_kind[a] < DNNL_ARG_MULTIPLE_SRC || cat->arg_kind[a] >= DNNL_ARG_MULTIPLE_SRC + STEP_MAX_IO)
                continue;
            int id = cat->arg_tensor[a];
            const ptensor *t = &p->t[id];
            dnnl_dims_t dims, offsets = { 0 };
            for (int d = 0; d < t->rank; d++)
                dims[d] = t->dims[d];
            offsets[1] = offset;
            /* fails where the channel offset splits a layout's block */
            if (t->dtype != UNET_DTYPE_FLOAT || !t->has_md ||
                dnnl_memory_desc_init_submemory(&views[parts], src_md, dims, offsets) != dnnl_success)
                cat = NULL;
            part[parts++] = id;
            offset += t->dims[1];
        }
    }
    if (!cat || parts < 2)
        return qdq_reorder(p, n, x, src_md, 1, xq);
    for (int k = 0; k < 1 + clipped; k++) { /* the float concatenation (and its Clip) are not needed */
        dnnl_primitive_destroy(p->steps[p->n_steps - 1].prim);
        p->n_steps--;
    }
    UNET_TRY(plan_new_tensor(p, n->qdq_x_u8 ? UNET_DTYPE_UINT8 : UNET_DTYPE_INT8, p->t[x].rank, p->t[x].dims, xq));
    plan_set_md(p, *xq, src_md);
    for (int i = 0; i < parts; i++) {
        int from = part[i], view;
        if (clipped)
            UNET_TRY(clip_part(p, clip_node, &clip, part[i], &from));
        UNET_TRY(plan_new_tensor(p, p->t[*xq].dtype, p->t[part[i]].rank, p->t[part[i]].dims, &view));
        plan_set_md(p, view, &views[i]);
        p->t[view].nbytes = p->t[*xq].nbytes;
        UNET_TRY(plan_alias(p, view, *xq));
        UNET_TRY(qdq_reorder_into(p, n, from, view, 1));
    }
    return UNET_OK;
}

unet_status conv_int8_fake_quantized_input(plan_t *p, const node_t *n, int *x)
{
    if (!p->t[*x].has_md || p->t[*x].is_const)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "the quantised input must be a computed float tensor");
    dnnl_memory_desc_t qmd = p->t[*x].md, fmd = p->t[*x].md;
    qmd.data_type = n->qdq_x_u8 ? dnnl_u8 : dnnl_s8; /* same layout, strides in elements */
    fmd.data_type = dnnl_f32;
    if (p->t[*x].dtype != UNET_DTYPE_FLOAT) /* quantised by its producer: only the dequantisation */
        return qdq_reorder(p, n, *x, &fmd, 0, x);
    int q;
    UNET_TRY(qdq_reorder(p, n, *x, &qmd, 1, &q));
    return qdq_reorder(p, n, q, &fmd, 0, x);
}

