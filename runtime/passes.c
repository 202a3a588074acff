/* Graph passes run once at load: Constant nodes become constant values,
 * Identity and inference Dropout disappear, BatchNormalization folds into the
 * Conv before it, and an activation after a Conv becomes a oneDNN post-op. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "graph.h"
#include "ops.h"
#include "passes.h"


static void free_node(node_t *n)
{
    free(n->name);
    free(n->op_type);
    free(n->domain);
    free(n->in);
    free(n->out);
    for (int a = 0; a < n->n_attrs; a++) {
        free(n->attrs[a].name);
        free(n->attrs[a].s);
        free(n->attrs[a].ints);
        free(n->attrs[a].floats);
    }
    free(n->attrs);
}

/* Drops nodes flagged in removed[], then recomputes producers and consumer counts. */
static void compact(unet_model *m, const int *removed)
{
    int w = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        if (removed[i]) {
            free_node(&m->nodes[i]);
            continue;
        }
        m->nodes[w++] = m->nodes[i];
    }
    m->n_nodes = w;
    for (int v = 0; v < m->n_values; v++) {
        m->values[v].producer = -1;
        m->values[v].n_consumers = 0;
    }
    for (int i = 0; i < m->n_nodes; i++) {
        for (int o = 0; o < m->nodes[i].n_out; o++)
            if (m->nodes[i].out[o] >= 0)
                m->values[m->nodes[i].out[o]].producer = i;
        for (int k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] >= 0)
                m->values[m->nodes[i].in[k]].n_consumers++;
    }
}

static void replace_uses(unet_model *m, int from, int to)
{
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] == from)
                m->nodes[i].in[k] = to;
}

static unet_status constant_to_value(unet_model *m, node_t *n)
{
    if (n->n_out != 1 || n->out[0] < 0)
        return unet_set_error(UNET_ERR_INVALID, "node '%s' (Constant) must have one output", n->name);
    if (n->n_attrs != 1)
        return unet_set_error(UNET_ERR_INVALID, "node '%s' (Constant) must have exactly one value attribute, found %d", n->name, n->n_attrs);
    value_t *v = &m->values[n->out[0]];
    const attr_t *a = &n->attrs[0];
    if (strcmp(a->name, "value") == 0 && a->type == ATTR_TENSOR && a->tensor >= 0) {
        value_t *src = &m->values[a->tensor];
        v->dtype = src->dtype;
        v->rank = src->rank;
        memcpy(v->dims, src->dims, sizeof v->dims);
        v->data = src->data;
        v->nbytes = src->nbytes;
        src->data = NULL;
        src->nbytes = 0;
        return UNET_OK;
    }
    size_t count = 1;
    if (strcmp(a->name, "value_float") == 0 && a->type == ATTR_FLOAT) {
        v->dtype = UNET_DTYPE_FLOAT;
        v->rank = 0;
    } else if (strcmp(a->name, "value_int") == 0 && a->type == ATTR_INT) {
        v->dtype = UNET_DTYPE_INT64;
        v->rank = 0;
    } else if (strcmp(a->name, "value_floats") == 0 && a->type == ATTR_FLOATS) {
        v->dtype = UNET_DTYPE_FLOAT;
        v->rank = 1;
        count = a->n_floats;
        v->dims[0] = (int64_t)count;
    } else if (strcmp(a->name, "value_ints") == 0 && a->type == ATTR_INTS) {
        v->dtype = UNET_DTYPE_INT64;
        v->rank = 1;
        count = a->n_ints;
        v->dims[0] = (int64_t)count;
    } else {
        return unet_set_error(UNET_ERR_UNSUPPORTED, "node '%s' (Constant): attribute '%s' is not supported (value, value_float(s), value_int(s) are)", n->name, a->name);
    }
    size_t esz = unet_dtype_size(v->dtype);
    v->nbytes = count * esz;
    v->data = malloc(v->nbytes ? v->nbytes : 1);
    if (!v->data)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    if (a->type == ATTR_FLOAT)
        memcpy(v->data, &a->f, 4);
    else if (a->type == ATTR_INT)
        memcpy(v->data, &a->i, 8);
    else if (a->type == ATTR_FLOATS && count)
        memcpy(v->data, a->floats, count * 4);
    else if (a->type == ATTR_INTS && count)
        memcpy(v->data, a->ints, count * 8);
    return UNET_OK;
}

unet_status passes_before_resolve(unet_model *m)
{
    int *removed = calloc((size_t)m->n_nodes + 1, sizeof *removed);
    if (!removed)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    unet_status s = UNET_OK;
    for (int i = 0; i < m->n_nodes && s == UNET_OK; i++) {
        node_t *n = &m->nodes[i];
        if (strcmp(n->op_type, "Constant") == 0 && n->domain[0] == '\0') {
            s = constant_to_value(m, n);
            removed[i] = 1;
        }
    }
    if (s == UNET_OK)
        compact(m, removed);
    free(removed);
    return s;
}

static int single_consumer(const unet_model *m, int value, int *consumer)
{
    const value_t *v = &m->values[value];
    if (v->n_consumers != 1 || v->is_graph_output)
        return 0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] == value) {
                *consumer = i;
                return 1;
            }
    return 0;
}

static int is_float_const(const unet_model *m, int id, int64_t count)
{
    if (id < 0)
        return 0;
    const value_t *v = &m->values[id];
    return v->data && v->dtype == UNET_DTYPE_FLOAT && (int64_t)(v->nbytes / 4) == count;
}

static unet_status new_const_value(unet_model *m, const char *base, const char *suffix,
                                   const value_t *like, const float *data, int *id)
{
    /* like may point into m->values, which graph_add_value can move: copy
     * the shape first (a use after free found by fuzz_onnx). */
    int rank = like->rank;
    int64_t dims[UNET_MAX_RANK];
    memcpy(dims, like->dims, sizeof dims);
    size_t nbytes = like->nbytes;
    char name[512];
    snprintf(name, sizeof name, "%s::%s", base, suffix);
    for (int k = 0; graph_find_value(m, name) >= 0; k++)
        snprintf(name, sizeof name, "%s::%s%d", base, suffix, k);
    UNET_TRY(graph_add_value(m, name, id));
    value_t *v = &m->values[*id];
    v->dtype = UNET_DTYPE_FLOAT;
    v->rank = rank;
    memcpy(v->dims, dims, sizeof v->dims);
    v->nbytes = nbytes;
    v->data = malloc(v->nbytes ? v->nbytes : 1);
    if (!v->data)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    memcpy(v->data, data, v->nbytes);
    return UNET_OK;
}

/* Conv -> BatchNormalization (inference) becomes one Conv with scaled weights. */
static unet_status fold_batchnorm(unet_model *m, int conv_i, int bn_i, int *removed)
{
    node_t *c = &m->nodes[conv_i];
    node_t *b = &m->nodes[bn_i];
    if (b->n_out != 1 || b->n_in != 5)
        return UNET_OK;
    int w_id = c->in[1];
    if (w_id < 0 || !m->values[w_id].data || m->values[w_id].dtype != UNET_DTYPE_FLOAT || m->values[w_id].rank < 3)
        return UNET_OK;
    int64_t oc = m->values[w_id].dims[0];
    if (oc <= 0)
        return UNET_OK;
    for (int k = 1; k < 5; k++)
        if (!is_float_const(m, b->in[k], oc))
            return UNET_OK;
    int bias_id = c->n_in > 2 ? c->in[2] : -1;
    if (bias_id >= 0 && !is_float_const(m, bias_id, oc))
        return UNET_OK;
    float eps = node_attr_float(b, "epsilon", 1e-5f);
    const float *scale = m->values[b->in[1]].data, *shift = m->values[b->in[2]].data;
    const float *mean = m->values[b->in[3]].data, *var = m->values[b->in[4]].data;
    const value_t *wv = &m->values[w_id];
    size_t per_oc = wv->nbytes / 4 / (size_t)oc;
    float *w = malloc(wv->nbytes);
    float *bias = malloc((size_t)oc * 4);
    if (!w || !bias) {
        free(w); free(bias);
        return unet_set_error(UNET_ERR_NOMEM, "out of memory folding BatchNormalization");
    }
    const float *w0 = wv->data;
    const float *b0 = bias_id >= 0 ? m->values[bias_id].data : NULL;
    for (int64_t o = 0; o < oc; o++) {
        float f = scale[o] / sqrtf(var[o] + eps);
        for (size_t j = 0; j < per_oc; j++)
            w[(size_t)o * per_oc + j] = w0[(size_t)o * per_oc + j] * f;
        bias[o] = ((b0 ? b0[o] : 0.0f) - mean[o]) * f + shift[o];
    }
    int nw, nb;
    value_t like_b = { .rank = 1, .dims = { oc }, .nbytes = (size_t)oc * 4 };
    unet_status s = new_const_value(m, m->values[w_id].name, "bnfold", &m->values[w_id], w, &nw);
    if (s == UNET_OK)
        s = new_const_value(m, b->name, "bias", &like_b, bias, &nb);
    free(w);
    free(bias);
    UNET_TRY(s);
    c = &m->nodes[conv_i];
    b = &m->nodes[bn_i];
    if (c->n_in < 3) {
        int *in = realloc(c->in, 3 * sizeof *in);
        if (!in)
            return unet_set_error(UNET_ERR_NOMEM, "out of memory");
        c->in = in;
        c->n_in = 3;
    }
    c->in[1] = nw;
    c->in[2] = nb;
    c->out[0] = b->out[0];
    removed[bn_i] = 1;
    return UNET_OK;
}

static int fusable_activation(const unet_model *m, const node_t *a, int *kind, float *alpha, float *beta)
{
    if (a->domain[0] || a->n_out != 1)
        return 0;
    *alpha = 0.0f;
    *beta = 0.0f;
    if (strcmp(a->op_type, "Relu") == 0) {
        *kind = FUSED_RELU;
    } else if (strcmp(a->op_type, "LeakyRelu") == 0) {
        *kind = FUSED_LEAKY_RELU;
        *alpha = node_attr_float(a, "alpha", 0.01f);
    } else if (strcmp(a->op_type, "Sigmoid") == 0) {
        *kind = FUSED_SIGMOID;
    } else if (strcmp(a->op_type, "Tanh") == 0) {
        *kind = FUSED_TANH;
    } else if (strcmp(a->op_type, "Clip") == 0) {
        *kind = FUSED_CLIP;
        if (a->opset < 11) {
            *alpha = node_attr_float(a, "min", -3.402823466e+38f);
            *beta = node_attr_float(a, "max", 3.402823466e+38f);
        } else {
            *alpha = -3.402823466e+38f;
            *beta = 3.402823466e+38f;
            for (int k = 1; k < a->n_in; k++) {
                int id = a->in[k];
                if (id < 0)
                    continue;
                if (!is_float_const(m, id, 1))
                    return 0;
                float v = *(const float *)m->values[id].data;
                if (k == 1) *alpha = v; else *beta = v;
            }
        }
    } else {
        return 0;
    }
    return 1;
}

/* The constant value of a one-element tensor of a QDQ node: scale (float)
 * or zero point (uint8/int8; absent means 0 of uint8). */
static int const_scale(const unet_model *m, int id, float *out)
{
    if (!is_float_const(m, id, 1))
        return 0;
    *out = *(const float *)m->values[id].data;
    return *out > 0.0f && isfinite(*out);
}

static int const_zero(const unet_model *m, int id, int *zero, int *is_u8)
{
    if (id < 0) {
        *zero = 0;
        *is_u8 = 1;
        return 1;
    }
    const value_t *v = &m->values[id];
    if (!v->data || v->nbytes != 1)
        return 0;
    if (v->dtype == UNET_DTYPE_UINT8) {
        *zero = *(const uint8_t *)v->data;
        *is_u8 = 1;
        return 1;
    }
    if (v->dtype == UNET_DTYPE_INT8) {
        *zero = *(const int8_t *)v->data;
        *is_u8 = 0;
        return 1;
    }
    return 0;
}

static const node_t *producer_op(const unet_model *m, int value, const char *op)
{
    if (value < 0 || m->values[value].producer < 0)
        return NULL;
    const node_t *n = &m->nodes[m->values[value].producer];
    return !n->domain[0] && strcmp(n->op_type, op) == 0 ? n : NULL;
}

static int input_at(const node_t *n, int k) { return k < n->n_in ? n->in[k] : -1; }

/* The largest value QuantizeLinear(x) with scale s and zero point z can give
 * when x comes from a Clip (opset 11+, max as a constant input): q is
 * monotonic in x, so q(max) bounds it; else the type's own top, qmax. */
static int clipped_max(const unet_model *m, int x, float s, int z, int qmax)
{
    const node_t *clip = producer_op(m, x, "Clip");
    if (!clip || clip->opset < 11 || input_at(clip, 2) < 0 || !is_float_const(m, clip->in[2], 1))
        return qmax;
    double q = nearbyint((double)(*(const float *)m->values[clip->in[2]].data / s)) + z;
    return q < qmax ? (int)(q < 0.0 ? 0.0 : q) : qmax;
}

/* Conv(DequantizeLinear(QuantizeLinear(x)), DequantizeLinear(W_int8)) with a
 * per-tensor activation scale and symmetric per-tensor or per-output-channel
 * weight scales: the Conv reads x and the int8 weights directly and keeps the
 * scales (node_t.qdq), so the plan can run one int8 convolution; the
 * Quantize/Dequantize nodes that nothing else reads disappear. The same for
 * a ConvTranspose, whose output channels are the weights' axis 1. */
static void match_qdq_conv(unet_model *m, node_t *c)
{
    const int transposed = strcmp(c->op_type, "ConvTranspose") == 0;
    if (c->n_in < 2 || node_attr_int(c, "group", 1) != 1)
        return;
    const node_t *dqx = producer_op(m, c->in[0], "DequantizeLinear");
    const node_t *qx = dqx ? producer_op(m, dqx->in[0], "QuantizeLinear") : NULL;
    const node_t *dqw = producer_op(m, c->in[1], "DequantizeLinear");
    if (!dqx || !qx || !dqw || qx->in[0] < 0 || m->values[qx->in[0]].data ||
        (m->values[qx->in[0]].dtype && m->values[qx->in[0]].dtype != UNET_DTYPE_FLOAT))
        return; /* intermediate values have no type until the plan: it checks then */
    float s_q, s_dq;
    int z_q, z_dq, u8_q, u8_dq;
    if (!const_scale(m, input_at(qx, 1), &s_q) || !const_scale(m, input_at(dqx, 1), &s_dq) || s_q != s_dq)
        return;
    if (!const_zero(m, input_at(qx, 2), &z_q, &u8_q) || !const_zero(m, input_at(dqx, 2), &z_dq, &u8_dq) ||
        z_q != z_dq || u8_q != u8_dq)
        return;
    const value_t *w = &m->values[dqw->in[0]];
    if (!w->data || w->dtype != UNET_DTYPE_INT8 || w->rank != 4)
        return;
    int ws = input_at(dqw, 1);
    const int oc_axis = transposed ? 1 : 0;
    int64_t oc = w->dims[oc_axis];
    if (!is_float_const(m, ws, 1) && !(is_float_const(m, ws, oc) && node_attr_int(dqw, "axis", 1) == oc_axis))
        return;
    for (int64_t i = 0; i < (int64_t)(m->values[ws].nbytes / 4); i++)
        if (!(((const float *)m->values[ws].data)[i] > 0.0f))
            return;
    int wz = input_at(dqw, 2);
    if (wz >= 0) { /* symmetric weights only: every zero point 0 */
        const value_t *z = &m->values[wz];
        if (!z->data || z->dtype != UNET_DTYPE_INT8)
            return;
        for (size_t i = 0; i < z->nbytes; i++)
            if (((const int8_t *)z->data)[i] != 0)
                return;
    }
    c->in[0] = qx->in[0];
    c->in[1] = dqw->in[0];
    c->qdq = 1;
    c->qdq_x_scale = s_q;
    c->qdq_x_zero = z_q;
    c->qdq_x_u8 = u8_q;
    c->qdq_w_scale = ws;
    c->qdq_x_max = clipped_max(m, qx->in[0], s_q, z_q, u8_q ? 255 : 127);
}

/* DequantizeLinear(QuantizeLinear(x)) elsewhere (before a ConvTranspose, a
 * MaxPool, a Concat...), per tensor with the same constant scale and zero
 * point: the DequantizeLinear reads x and keeps the parameters (node_t.qdq),
 * and the plan runs the pair as two oneDNN reorders in x's own layout instead
 * of two plain kernels on plain copies. */
static void match_qdq_pair(unet_model *m, node_t *dq)
{
    const node_t *q = producer_op(m, dq->in[0], "QuantizeLinear");
    if (!q || q->in[0] < 0 || m->values[q->in[0]].data ||
        (m->values[q->in[0]].dtype && m->values[q->in[0]].dtype != UNET_DTYPE_FLOAT))
        return; /* constants fold through the plain kernels */
    float s_q, s_dq;
    int z_q, z_dq, u8_q, u8_dq;
    if (!const_scale(m, input_at(q, 1), &s_q) || !const_scale(m, input_at(dq, 1), &s_dq) || s_q != s_dq)
        return;
    if (!const_zero(m, input_at(q, 2), &z_q, &u8_q) || !const_zero(m, input_at(dq, 2), &z_dq, &u8_dq) ||
        z_q != z_dq || u8_q != u8_dq)
        return;
    dq->in[0] = q->in[0];
    dq->qdq = 1;
    dq->qdq_x_scale = s_q;
    dq->qdq_x_zero = z_q;
    dq->qdq_x_u8 = u8_q;
    dq->qdq_w_scale = -1;
}

/* Whether the QuantizeLinear/DequantizeLinear nodes a and b have the same
 * constant per-tensor scale and zero point. */
static int same_qdq_params(const unet_model *m, const node_t *a, const node_t *b)
{
    float sa, sb;
    int za, zb, ua, ub;
    return const_scale(m, input_at(a, 1), &sa) && const_scale(m, input_at(b, 1), &sb) && sa == sb &&
           const_zero(m, input_at(a, 2), &za, &ua) && const_zero(m, input_at(b, 2), &zb, &ub) && za == zb && ua == ub;
}

/* The only node reading value v, when there is exactly one such read. */
static const node_t *only_reader(const unet_model *m, int v)
{
    const node_t *r = NULL;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] == v) {
                if (r)
                    return NULL;
                r = &m->nodes[i];
            }
    return r;
}

/* MaxPool, nearest Resize or Concat between DequantizeLinear(QuantizeLinear(x))
 * and a QuantizeLinear of the same scale and zero point (as ONNX Runtime's
 * quantiser writes around them): the op only picks or moves values, and Q and
 * DQ are monotone with Q(DQ(q)) = q, so Q(op(DQ(Q(x)))) = Q(op(x)) exactly and
 * the op reads x; the pair in front then goes (drop_dead_qdq). The op runs
 * in float32 on values the QuantizeLinear after it quantises as before. */
static void skip_qdq_before_selection(unet_model *m, node_t *op)
{
    int resize_nearest = !strcmp(op->op_type, "Resize") && !strcmp(node_attr_string(op, "mode", "nearest"), "nearest");
    int is_pool = !strcmp(op->op_type, "MaxPool") && (op->n_out < 2 || op->out[1] < 0);
    int is_concat = !strcmp(op->op_type, "Concat");
    if (op->domain[0] || !(is_pool || resize_nearest || is_concat) || op->out[0] < 0 || m->values[op->out[0]].is_graph_output)
        return;
    const node_t *q_after = only_reader(m, op->out[0]);
    if (!q_after || q_after->domain[0] || strcmp(q_after->op_type, "QuantizeLinear") || q_after->in[0] != op->out[0])
        return;
    for (int k = 0; k < (is_concat ? op->n_in : 1); k++) {
        const node_t *dq = producer_op(m, input_at(op, k), "DequantizeLinear");
        const node_t *q = dq ? producer_op(m, dq->in[0], "QuantizeLinear") : NULL;
        if (!q || q->in[0] < 0 || m->values[q->in[0]].data || !same_qdq_params(m, q, dq) || !same_qdq_params(m, q, q_after))
            continue;
        op->in[k] = q->in[0];
    }
}

/* Removes Quantize/DequantizeLinear nodes whose outputs nothing reads any
 * more (consumers counted over the nodes still there). */
static void drop_dead_qdq(unet_model *m, int *removed)
{
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < m->n_nodes; i++) {
            const node_t *n = &m->nodes[i];
            if (removed[i] || n->domain[0] || n->out[0] < 0 || m->values[n->out[0]].is_graph_output ||
                (strcmp(n->op_type, "QuantizeLinear") && strcmp(n->op_type, "DequantizeLinear")))
                continue;
            int used = 0;
            for (int j = 0; j < m->n_nodes && !used; j++)
                for (int k = 0; !removed[j] && k < m->nodes[j].n_in; k++)
                    used |= m->nodes[j].in[k] == n->out[0];
            if (!used) {
                removed[i] = 1;
                changed = 1;
            }
        }
    }
}

unet_status passes_after_resolve(unet_model *m)
{
    int *removed = calloc((size_t)m->n_nodes + 1, sizeof *removed);
    if (!removed)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    unet_status s = UNET_OK;

    /* Identity and inference Dropout: consumers read the input directly. */
    for (int i = 0; i < m->n_nodes; i++) {
        node_t *n = &m->nodes[i];
        if (n->domain[0])
            continue;
        int is_id = strcmp(n->op_type, "Identity") == 0;
        int is_drop = strcmp(n->op_type, "Dropout") == 0 && (n->n_out < 2 || n->out[1] < 0);
        if (!(is_id || is_drop) || n->n_in < 1 || n->in[0] < 0 || n->out[0] < 0)
            continue;
        if (m->values[n->out[0]].is_graph_output)
            continue; /* the output name must survive: the plan aliases it */
        replace_uses(m, n->out[0], n->in[0]);
        removed[i] = 1;
    }
    compact(m, removed);

    /* QDQ around a Conv or ConvTranspose: int8 convolution (before BN folding and fusion, which
     * then see the Conv as usual). UNET_NO_QDQ_INT8 keeps the float path, for
     * A/B comparisons. */
    if (!getenv("UNET_NO_QDQ_INT8")) {
        memset(removed, 0, ((size_t)m->n_nodes + 1) * sizeof *removed);
        for (int i = 0; i < m->n_nodes; i++)
            skip_qdq_before_selection(m, &m->nodes[i]);
        for (int i = 0; i < m->n_nodes; i++)
            if (!m->nodes[i].domain[0] &&
                (strcmp(m->nodes[i].op_type, "Conv") == 0 || strcmp(m->nodes[i].op_type, "ConvTranspose") == 0))
                match_qdq_conv(m, &m->nodes[i]);
        for (int i = 0; i < m->n_nodes; i++)
            if (!m->nodes[i].domain[0] && strcmp(m->nodes[i].op_type, "DequantizeLinear") == 0)
                match_qdq_pair(m, &m->nodes[i]);
        drop_dead_qdq(m, removed);
        compact(m, removed);
    }

    /* BatchNormalization into the Conv before it. */
    memset(removed, 0, ((size_t)m->n_nodes + 1) * sizeof *removed);
    for (int i = 0; i < m->n_nodes && s == UNET_OK; i++) {
        node_t *c = &m->nodes[i];
        int consumer;
        if (c->domain[0] || strcmp(c->op_type, "Conv") != 0 || c->out[0] < 0 || c->qdq)
            continue; /* int8 weights keep their scales: no folding into them */
        if (!single_consumer(m, c->out[0], &consumer) || removed[consumer])
            continue;
        node_t *b = &m->nodes[consumer];
        if (strcmp(b->op_type, "BatchNormalization") == 0 && !b->domain[0] && b->in[0] == c->out[0]
            && node_attr_int(b, "training_mode", 0) == 0)
            s = fold_batchnorm(m, i, consumer, removed);
    }
    compact(m, removed);

    /* Residual Add after a Conv as a sum post-op: the Conv accumulates into
     * the other operand's buffer. Only when that operand dies at the Add (one
     * consumer, not a graph input, output or constant) and is computed before
     * the Conv runs. Shapes are checked at plan time (fallback: a plain add). */
    memset(removed, 0, ((size_t)m->n_nodes + 1) * sizeof *removed);
    for (int i = 0; i < m->n_nodes && s == UNET_OK; i++) {
        node_t *a = &m->nodes[i];
        if (a->domain[0] || strcmp(a->op_type, "Add") != 0 || a->n_in != 2 || a->n_out != 1 || a->out[0] < 0)
            continue;
        for (int side = 0; side < 2; side++) {
            int cv = a->in[side], other = a->in[1 - side];
            if (cv < 0 || other < 0 || cv == other)
                continue;
            int ci = m->values[cv].producer;
            if (ci < 0 || removed[ci])
                continue;
            node_t *c = &m->nodes[ci];
            if (c->domain[0] || strcmp(c->op_type, "Conv") != 0 || c->fused_act || c->fused_sum >= 0 || c->out[0] != cv)
                continue;
            const value_t *ov = &m->values[other];
            int consumer;
            if (!single_consumer(m, cv, &consumer) || consumer != i)
                continue;
            if (ov->data || ov->is_graph_input || ov->is_graph_output || ov->n_consumers != 1 || ov->producer < 0 || ov->producer >= ci)
                continue;
            int *in = realloc(c->in, 4 * sizeof *in);
            if (!in) {
                s = unet_set_error(UNET_ERR_NOMEM, "out of memory");
                break;
            }
            c->in = in;
            while (c->n_in < 3)
                c->in[c->n_in++] = -1;
            c->in[3] = other; /* keeps the operand's consumer count and liveness honest */
            c->n_in = 4;
            c->fused_sum = other;
            c->out[0] = a->out[0];
            removed[i] = 1;
            break;
        }
    }
    compact(m, removed);

    /* Activation after Conv / ConvTranspose as a post-op. */
    memset(removed, 0, ((size_t)m->n_nodes + 1) * sizeof *removed);
    for (int i = 0; i < m->n_nodes && s == UNET_OK; i++) {
        node_t *c = &m->nodes[i];
        int consumer, kind;
        float alpha, beta;
        if (c->domain[0] || (strcmp(c->op_type, "Conv") != 0 && strcmp(c->op_type, "ConvTranspose") != 0))
            continue;
        if (c->out[0] < 0 || !single_consumer(m, c->out[0], &consumer) || removed[consumer])
            continue;
        node_t *a = &m->nodes[consumer];
        if (a->in[0] != c->out[0] || !fusable_activation(m, a, &kind, &alpha, &beta))
            continue;
        if (m->values[c->out[0]].dtype && m->values[c->out[0]].dtype != UNET_DTYPE_FLOAT)
            continue;
        if (c->fused_act) {
            /* Relu then Clip(lo <= 0, hi >= 0) is Clip(0, hi): the 7-bit
             * activations unet-quantize writes (Relu, Clip, QuantizeLinear)
             * then need no eltwise step of their own. */
            if (c->fused_act != FUSED_RELU || c->act_alpha != 0.0f || kind != FUSED_CLIP || alpha > 0.0f || beta < 0.0f)
                continue;
            alpha = 0.0f;
        }
        c->fused_act = kind;
        c->act_alpha = alpha;
        c->act_beta = beta;
        c->out[0] = a->out[0];
        removed[consumer] = 1;
        i--; /* the same node again: a Clip may follow the activation just fused */
    }
    compact(m, removed);
    free(removed);
    return s;
}
