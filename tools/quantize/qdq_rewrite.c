/* The QDQ rewrite: see qdq_rewrite.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "onnx_edit.h"
#include "onnx_file.h"
#include "qdq_rewrite.h"
#include "quant_params.h"

static int is_default_op(const Onnx__NodeProto *n, const char *op)
{
    return (!n->domain || !*n->domain || strcmp(n->domain, "ai.onnx") == 0) && strcmp(n->op_type, op) == 0;
}

/* A ConvTranspose whose kernel (weights' dims 2, 3) equals its strides, with
 * no padding, dilation 1 and no output_padding or output_shape: the form
 * libunet runs as an int8 1x1 convolution plus a pixel shuffle. */
static int shuffle_form(const Onnx__NodeProto *n, const Onnx__TensorProto *w)
{
    int strides_seen = 0;
    for (size_t i = 0; i < n->n_attribute; i++) {
        const Onnx__AttributeProto *a = n->attribute[i];
        const char *name = a->name ? a->name : "";
        for (size_t k = 0; k < a->n_ints; k++) {
            int64_t v = a->ints[k];
            if ((!strcmp(name, "strides") && (a->n_ints != 2 || v != w->dims[2 + k])) ||
                (!strcmp(name, "kernel_shape") && (a->n_ints != 2 || v != w->dims[2 + k])) ||
                (!strcmp(name, "dilations") && v != 1) || (!strcmp(name, "pads") && v != 0) ||
                (!strcmp(name, "output_padding") && v != 0))
                return 0;
        }
        strides_seen |= !strcmp(name, "strides");
        if (!strcmp(name, "output_shape") ||
            (!strcmp(name, "auto_pad") && a->has_s && a->s.len && strncmp((const char *)a->s.data, "NOTSET", a->s.len) &&
             strncmp((const char *)a->s.data, "VALID", a->s.len)))
            return 0;
    }
    return strides_seen || (w->dims[2] == 1 && w->dims[3] == 1);
}

static int quantisable_conv(const Onnx__GraphProto *g, const Onnx__NodeProto *n)
{
    const int transposed = is_default_op(n, "ConvTranspose");
    if ((!is_default_op(n, "Conv") && !transposed) || n->n_input < 2 || n->n_output != 1 ||
        qz_node_int(n, "group", 1) != 1)
        return 0;
    const Onnx__TensorProto *w = qz_find_initializer(g, n->input[1], NULL);
    if (!w || w->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || w->n_dims != 4 || w->dims[0] < 1 || w->dims[1] < 1)
        return 0;
    if (transposed && !shuffle_form(n, w))
        return 0;
    if (n->n_input > 2 && n->input[2][0]) {
        const Onnx__TensorProto *b = qz_find_initializer(g, n->input[2], NULL);
        if (!b || b->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
            return 0;
    }
    return !qz_find_initializer(g, n->input[0], NULL);
}

static int kept_float(const Onnx__NodeProto *n, char *const *keep_float, int n_keep)
{
    for (int k = 0; k < n_keep; k++)
        if (n->name && strcmp(n->name, keep_float[k]) == 0)
            return 1;
    return 0;
}

unet_status qz_plan_make(const Onnx__GraphProto *g, char *const *keep_float, int n_keep, int input_convs,
                         qz_plan *p)
{
    const Onnx__ValueInfoProto *in = qz_graph_data_input(g);
    memset(p, 0, sizeof *p);
    for (int k = 0; k < n_keep; k++) {
        int found = 0;
        for (size_t i = 0; i < g->n_node && !found; i++)
            found = g->node[i]->name && strcmp(g->node[i]->name, keep_float[k]) == 0 && quantisable_conv(g, g->node[i]);
        if (!found)
            return unet_set_error(UNET_ERR_ARG, "--keep-float: the model has no quantisable Conv or ConvTranspose named '%s'", keep_float[k]);
    }
    size_t nc = 0, nt = 0;
    for (size_t i = 0; i < g->n_node; i++) {
        Onnx__NodeProto *n = g->node[i];
        const int reads_input = in && strcmp(n->input[0], in->name) == 0;
        if (!quantisable_conv(g, n) || kept_float(n, keep_float, n_keep) || (reads_input && !input_convs)) {
            p->convs_left_float += is_default_op(n, "Conv") || is_default_op(n, "ConvTranspose");
            continue;
        }
        int seen = 0;
        for (size_t k = 0; k < nt && !seen; k++)
            seen = strcmp(p->tensors[k], n->input[0]) == 0;
        char *name = seen ? NULL : qz_strdup(n->input[0]); /* the rewrite renames the Conv's input */
        if (qz_append((void ***)&p->convs, &nc, n) != 0 ||
            (!seen && (!name || qz_append((void ***)&p->tensors, &nt, name) != 0))) {
            free(name);
            p->n_tensors = (int)nt;
            qz_plan_free(p);
            return unet_set_error(UNET_ERR_NOMEM, "out of memory");
        }
        p->n_convs = (int)nc;
        p->n_conv_transposes += is_default_op(n, "ConvTranspose");
        p->n_tensors = (int)nt;
    }
    return UNET_OK;
}

static int in_plan(const qz_plan *p, const Onnx__NodeProto *n)
{
    for (int k = 0; k < p->n_convs; k++)
        if (p->convs[k] == n)
            return 1;
    return 0;
}

void qz_plan_free(qz_plan *p)
{
    free(p->convs);
    for (int k = 0; k < p->n_tensors; k++)
        free(p->tensors[k]);
    free(p->tensors);
    memset(p, 0, sizeof *p);
}

/* base + suffix into buf, refused when the graph has that name already. */
static unet_status new_name(const Onnx__GraphProto *g, const char *base, const char *suffix, char *buf, size_t size)
{
    if (snprintf(buf, size, "%s%s", base, suffix) >= (int)size)
        return unet_set_error(UNET_ERR_LIMIT, "tensor name '%s' is too long", base);
    if (qz_name_taken(g, buf))
        return unet_set_error(UNET_ERR_INVALID, "the graph already has a tensor '%s', a name the QDQ rewrite needs (already quantised?)", buf);
    return UNET_OK;
}

typedef struct node_list {
    Onnx__NodeProto **nodes;
    size_t n;
} node_list;

static unet_status add_init(Onnx__GraphProto *g, Onnx__TensorProto *t, const char *what)
{
    if (!t || qz_append((void ***)&g->initializer, &g->n_initializer, t) != 0) {
        if (t)
            onnx__tensor_proto__free_unpacked(t, NULL);
        return unet_set_error(UNET_ERR_NOMEM, "out of memory adding %s", what);
    }
    return UNET_OK;
}

static unet_status add_node(node_list *l, Onnx__NodeProto *n, const char *what)
{
    if (!n || qz_append((void ***)&l->nodes, &l->n, n) != 0) {
        if (n)
            onnx__node_proto__free_unpacked(n, NULL);
        return unet_set_error(UNET_ERR_NOMEM, "out of memory adding %s", what);
    }
    return UNET_OK;
}

/* QuantizeLinear + DequantizeLinear of activation t (Clip first when
 * clip_max is finite); the Convs then read dq. */
static unet_status emit_activation(Onnx__GraphProto *g, node_list *l, const char *t, float scale, uint8_t zero,
                                   float clip_max, char *dq, size_t dq_size)
{
    char s_name[1024], z_name[1024], q_name[1024], node_name[1100];
    char c_name[1024], cmax_name[1024];
    const char *q_input = t;
    if (isfinite(clip_max)) {
        UNET_TRY(new_name(g, t, "_clipped", c_name, sizeof c_name));
        UNET_TRY(new_name(g, t, "_clip_max", cmax_name, sizeof cmax_name));
        UNET_TRY(add_init(g, qz_tensor_new(cmax_name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, &clip_max, 4), cmax_name));
        const char *c_in[3] = { t, "", cmax_name };
        snprintf(node_name, sizeof node_name, "%s_Clip", t);
        UNET_TRY(add_node(l, qz_node_new("Clip", node_name, 3, c_in, c_name), node_name));
        q_input = c_name;
    }
    UNET_TRY(new_name(g, t, "_scale", s_name, sizeof s_name));
    UNET_TRY(new_name(g, t, "_zero_point", z_name, sizeof z_name));
    UNET_TRY(new_name(g, t, "_quantized", q_name, sizeof q_name));
    UNET_TRY(new_name(g, t, "_dequantized", dq, dq_size));
    UNET_TRY(add_init(g, qz_tensor_new(s_name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, &scale, 4), s_name));
    UNET_TRY(add_init(g, qz_tensor_new(z_name, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 0, NULL, &zero, 1), z_name));
    const char *q_in[3] = { q_input, s_name, z_name }, *dq_in[3] = { q_name, s_name, z_name };
    snprintf(node_name, sizeof node_name, "%s_QuantizeLinear", t);
    UNET_TRY(add_node(l, qz_node_new("QuantizeLinear", node_name, 3, q_in, q_name), node_name));
    snprintf(node_name, sizeof node_name, "%s_DequantizeLinear", t);
    return add_node(l, qz_node_new("DequantizeLinear", node_name, 3, dq_in, dq), node_name);
}

/* The int8 weight, its scales and zero points, and its DequantizeLinear. */
static unet_status emit_weight(Onnx__GraphProto *g, node_list *l, const Onnx__NodeProto *conv, double *worst)
{
    const char *w_name = conv->input[1];
    char q_name[1024], s_name[1024], z_name[1024], dq_name[1024], node_name[1100];
    UNET_TRY(new_name(g, w_name, "_quantized", q_name, sizeof q_name));
    UNET_TRY(new_name(g, w_name, "_scale", s_name, sizeof s_name));
    UNET_TRY(new_name(g, w_name, "_zero_point", z_name, sizeof z_name));
    UNET_TRY(new_name(g, w_name, "_dequantized", dq_name, sizeof dq_name));
    const Onnx__TensorProto *wt = qz_find_initializer(g, w_name, NULL);
    char what[1200];
    snprintf(what, sizeof what, "weight of %s '%s'", conv->op_type, conv->name ? conv->name : "");
    float *w;
    int64_t nw;
    UNET_TRY(qz_tensor_floats(wt, what, &w, &nw));
    /* the output channels: axis 0 of a Conv's weights, axis 1 of a ConvTranspose's */
    const int axis = is_default_op(conv, "ConvTranspose") ? 1 : 0;
    int64_t oc = wt->dims[axis], outer = axis ? wt->dims[0] : 1, per_oc = nw / oc, inner = nw / oc / outer;
    int8_t *q = malloc((size_t)(nw ? nw : 1)), *q_oc = axis ? malloc((size_t)(nw ? nw : 1)) : q;
    float *w_oc = axis ? malloc((size_t)(nw ? nw : 1) * sizeof *w_oc) : w;
    float *scale = malloc((size_t)oc * sizeof *scale);
    int8_t *zeros = calloc((size_t)oc, 1);
    unet_status s = UNET_OK;
    if (!q || !q_oc || !w_oc || !scale || !zeros)
        s = unet_set_error(UNET_ERR_NOMEM, "out of memory quantising the %s", what);
    if (s == UNET_OK && axis) /* (C, OC, k) -> (OC, C, k): each channel's weights in a row */
        for (int64_t a = 0; a < outer; a++)
            for (int64_t o = 0; o < oc; o++)
                memcpy(w_oc + (o * outer + a) * inner, w + (a * oc + o) * inner, (size_t)inner * sizeof *w);
    double err = s == UNET_OK ? qz_quantize_weights(w_oc, oc, per_oc, q_oc, scale) : 0.0;
    if (s == UNET_OK && axis)
        for (int64_t a = 0; a < outer; a++)
            for (int64_t o = 0; o < oc; o++)
                memcpy(q + (a * oc + o) * inner, q_oc + (o * outer + a) * inner, (size_t)inner);
    if (s == UNET_OK && err < 0.0)
        s = unet_set_error(UNET_ERR_INVALID, "the %s ('%s') holds a value that is not finite", what, w_name);
    if (err > *worst)
        *worst = err;
    int64_t dims[4] = { wt->dims[0], wt->dims[1], wt->dims[2], wt->dims[3] };
    if (s == UNET_OK)
        s = add_init(g, qz_tensor_new(q_name, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 4, dims, q, 1), q_name);
    if (s == UNET_OK)
        s = add_init(g, qz_tensor_new(s_name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, &oc, scale, 4), s_name);
    if (s == UNET_OK)
        s = add_init(g, qz_tensor_new(z_name, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 1, &oc, zeros, 1), z_name);
    if (axis) {
        free(w_oc);
        free(q_oc);
    }
    free(w);
    free(q);
    free(scale);
    free(zeros);
    if (s != UNET_OK)
        return s;
    const char *in[3] = { q_name, s_name, z_name };
    snprintf(node_name, sizeof node_name, "%s_DequantizeLinear", w_name);
    Onnx__NodeProto *dq = qz_node_new("DequantizeLinear", node_name, 3, in, dq_name);
    if (dq && qz_node_set_int(dq, "axis", axis) != 0) {
        onnx__node_proto__free_unpacked(dq, NULL);
        dq = NULL;
    }
    return add_node(l, dq, node_name);
}

static unet_status replace_input(Onnx__NodeProto *n, size_t k, const char *name)
{
    char *c = qz_strdup(name);
    if (!c)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    free(n->input[k]);
    n->input[k] = c;
    return UNET_OK;
}

unet_status qz_rewrite_qdq(Onnx__ModelProto *model, const qz_plan *p, const float *scale, const uint8_t *zero,
                           const float *clip_max, double *weight_error)
{
    Onnx__GraphProto *g = model->graph;
    *weight_error = 0.0;
    int64_t opset = qz_default_opset(model);
    if (opset < 13)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "the model imports operator set %lld; per-channel DequantizeLinear needs 13 or later (re-export the model at opset 13-17)", (long long)opset);
    char (*dq_names)[1024] = calloc((size_t)(p->n_tensors ? p->n_tensors : 1), sizeof *dq_names);
    if (!dq_names)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    node_list l = { 0 };
    unet_status s = UNET_OK;
    char **weights_used = NULL; /* float weights to drop once nothing reads them */
    size_t n_weights = 0;
    for (size_t i = 0; i < g->n_node && s == UNET_OK; i++) {
        Onnx__NodeProto *n = g->node[i];
        if (in_plan(p, n)) {
            int t = -1;
            for (int k = 0; k < p->n_tensors && t < 0; k++)
                if (strcmp(p->tensors[k], n->input[0]) == 0)
                    t = k;
            if (t < 0) {
                s = unet_set_error(UNET_ERR_INVALID, "Conv '%s': its input '%s' is not in the plan", n->name, n->input[0]);
                break;
            }
            if (!dq_names[t][0])
                s = emit_activation(g, &l, p->tensors[t], scale[t], zero[t], clip_max ? clip_max[t] : INFINITY, dq_names[t],
                                    sizeof dq_names[t]);
            if (s == UNET_OK)
                s = emit_weight(g, &l, n, weight_error);
            char *w = s == UNET_OK ? qz_strdup(n->input[1]) : NULL;
            if (s == UNET_OK && (!w || qz_append((void ***)&weights_used, &n_weights, w) != 0)) {
                free(w);
                s = unet_set_error(UNET_ERR_NOMEM, "out of memory");
            }
            if (s == UNET_OK)
                s = replace_input(n, 0, dq_names[t]);
            if (s == UNET_OK) {
                char dq_w[1100];
                snprintf(dq_w, sizeof dq_w, "%s_dequantized", n->input[1]);
                s = replace_input(n, 1, dq_w);
            }
        }
        if (s == UNET_OK && qz_append((void ***)&l.nodes, &l.n, n) != 0)
            s = unet_set_error(UNET_ERR_NOMEM, "out of memory");
    }
    if (s == UNET_OK) {
        free(g->node); /* its nodes are all in l, in order, with the new ones */
        g->node = l.nodes;
        g->n_node = l.n;
        for (size_t k = 0; k < n_weights; k++) {
            size_t at;
            if (qz_count_uses(g, weights_used[k]) == 0 && qz_find_initializer(g, weights_used[k], &at)) {
                onnx__tensor_proto__free_unpacked(g->initializer[at], NULL);
                memmove(g->initializer + at, g->initializer + at + 1, (g->n_initializer - at - 1) * sizeof *g->initializer);
                g->n_initializer--;
            }
        }
    } else { /* the graph keeps its own nodes (some inputs renamed: not to be written); new nodes go */
        for (size_t k = 0; k < l.n; k++) {
            int old = 0;
            for (size_t i = 0; i < g->n_node && !old; i++)
                old = g->node[i] == l.nodes[k];
            if (!old)
                onnx__node_proto__free_unpacked(l.nodes[k], NULL);
        }
        free(l.nodes);
    }
    for (size_t k = 0; k < n_weights; k++)
        free(weights_used[k]);
    free(weights_used);
    free(dq_names);
    return s;
}
