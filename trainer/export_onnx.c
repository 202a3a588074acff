/* ONNX export of the trainer's U-Net (see export_onnx.h).
 *
 * The message tree is built in memory with every allocation recorded in one
 * list, so any failure frees everything at once. On little-endian hosts the
 * raw_data of each initializer points at the parameter itself instead of a
 * copy, and the packed bytes stream into the file rather than into a second
 * buffer, so a large model costs little extra memory to export. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <unet/palette.h>

#include "atomic_file.h"
#include "error.h"
#include "export_onnx.h"
#include "json_check.h"
#include "onnx.pb-c.h"
#include "text_format.h"

enum {
    MAX_DEPTH = 6,
    MAX_FILTERS = 1 << 16,   /* widest level accepted: far beyond any tile model */
    MAX_NODE_ATTRS = 4,
    NAME_LEN = 64
};

/* ---- allocation: everything the tree holds, freed in one go ---------------- */

typedef struct export_ctx {
    const unet_params *params;
    int little_endian;
    int nomem;
    void **allocs;
    size_t n_allocs, cap_allocs;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
} export_ctx;

static void *ctx_alloc(export_ctx *x, size_t size)
{
    if (x->nomem)
        return NULL;
    if (x->n_allocs == x->cap_allocs) {
        size_t cap = x->cap_allocs ? 2 * x->cap_allocs : 256;
        void **grown = realloc(x->allocs, cap * sizeof *grown);
        if (!grown) {
            x->nomem = 1;
            return NULL;
        }
        x->allocs = grown;
        x->cap_allocs = cap;
    }
    void *p = calloc(1, size ? size : 1);
    if (!p) {
        x->nomem = 1;
        return NULL;
    }
    x->allocs[x->n_allocs++] = p;
    return p;
}

static void *ctx_array(export_ctx *x, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        x->nomem = 1;
        return NULL;
    }
    return ctx_alloc(x, count * size);
}

static char *ctx_strdup(export_ctx *x, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = ctx_alloc(x, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void ctx_free(export_ctx *x)
{
    for (size_t i = 0; i < x->n_allocs; i++)
        free(x->allocs[i]);
    free(x->allocs);
    x->allocs = NULL;
    x->n_allocs = x->cap_allocs = 0;
}

static unet_status ctx_nomem(void)
{
    return unet_set_error(UNET_ERR_NOMEM, "out of memory");
}

static int host_is_little_endian(void)
{
    const uint16_t probe = 1;
    unsigned char first;
    memcpy(&first, &probe, 1);
    return first == 1;
}

/* ["a","b",...] into b. */
static void json_string_array(sbuf *b, const char *const *items, int n)
{
    sb_printf(b, "[");
    for (int i = 0; i < n; i++) {
        if (i)
            sb_printf(b, ",");
        sb_json_string(b, items[i]);
    }
    sb_printf(b, "]");
}

/* ---- validation of what is exported --------------------------------------------- */

/* "#RRGGBB", as the metadata spells colours. */
static int color_valid(const char *s)
{
    uint8_t rgb[3];
    return s[0] == '#' && unet_parse_hex_color(s, strlen(s), rgb) == UNET_OK;
}

static unet_status check_arch(const unet_arch *a)
{
    if (a->in_channels < 1 || a->in_channels > MAX_FILTERS)
        return unet_set_error(UNET_ERR_ARG, "in_channels %d is out of range 1..%d",
                              a->in_channels, MAX_FILTERS);
    if (a->n_classes < 1 || a->n_classes > MAX_FILTERS)
        return unet_set_error(UNET_ERR_ARG, "n_classes %d is out of range 1..%d",
                              a->n_classes, MAX_FILTERS);
    if (a->depth < 1 || a->depth > MAX_DEPTH)
        return unet_set_error(UNET_ERR_ARG, "depth %d is out of range 1..%d", a->depth, MAX_DEPTH);
    if (a->base_filters < 1 || ((int64_t)a->base_filters << a->depth) > MAX_FILTERS)
        return unet_set_error(UNET_ERR_ARG,
                              "base_filters %d with depth %d gives more than %d filters",
                              a->base_filters, a->depth, MAX_FILTERS);
    if (a->batchnorm != 0 && a->batchnorm != 1)
        return unet_set_error(UNET_ERR_ARG, "batchnorm must be 0 or 1, found %d", a->batchnorm);
    return UNET_OK;
}

static unet_status check_meta(const unet_export_meta *m, const unet_arch *a)
{
    if (!m)
        return UNET_OK;
    if ((m->class_names || m->class_colors) && m->n_classes != a->n_classes)
        return unet_set_error(UNET_ERR_ARG, "metadata names %d classes, the network has %d",
                              m->n_classes, a->n_classes);
    for (int i = 0; m->class_names && i < m->n_classes; i++) {
        if (!m->class_names[i] || !json_check_utf8(m->class_names[i]))
            return unet_set_error(UNET_ERR_ARG, "class name %d is missing or not UTF-8", i);
    }
    for (int i = 0; m->class_colors && i < m->n_classes; i++) {
        if (!m->class_colors[i] || !color_valid(m->class_colors[i]))
            return unet_set_error(UNET_ERR_ARG, "colour of class %d is \"%s\", expected #RRGGBB",
                                  i, m->class_colors[i] ? m->class_colors[i] : "(null)");
    }
    if (m->training_json && !(json_check_utf8(m->training_json) && json_check_text(m->training_json)))
        return unet_set_error(UNET_ERR_ARG, "the training summary is not valid UTF-8 JSON");
    if (m->producer_version && !json_check_utf8(m->producer_version))
        return unet_set_error(UNET_ERR_ARG, "the producer version is not UTF-8");
    return UNET_OK;
}

static const net_param *find_param(const unet_params *params, const char *name)
{
    for (int i = 0; i < params->n; i++) {
        if (strncmp(params->p[i].name, name, sizeof params->p[i].name) == 0)
            return &params->p[i];
    }
    return NULL;
}

static void format_dims(char *buf, size_t size, int rank, const int64_t *dims)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? "," : "",
                                 (long long)dims[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* ---- graph building ------------------------------------------------------------- */

/* The node and initializer lists are sized once from the depth (see
 * unet_export_onnx); running out of room would be a bug in this file. */
static int push_node(export_ctx *x, Onnx__NodeProto *node)
{
    if (!node || x->n_nodes >= x->cap_nodes) {
        x->nomem = 1;
        return 0;
    }
    x->nodes[x->n_nodes++] = node;
    return 1;
}

static int push_init(export_ctx *x, Onnx__TensorProto *t)
{
    if (!t || x->n_inits >= x->cap_inits) {
        x->nomem = 1;
        return 0;
    }
    x->inits[x->n_inits++] = t;
    return 1;
}

/* Adds the parameter called name as a float initializer after checking its
 * shape against the architecture and its values for NaN/Inf. */
static unet_status add_param(export_ctx *x, const char *name, int rank, const int64_t *dims)
{
    const net_param *p = find_param(x->params, name);
    if (!p)
        return unet_set_error(UNET_ERR_INVALID, "parameter %s is missing", name);
    int same = p->rank == rank;
    size_t count = 1;
    for (int i = 0; i < rank; i++) {
        same = same && p->dims[i] == dims[i];
        count *= (size_t)dims[i];
    }
    if (!same) {
        char found[96], expected[96];
        format_dims(found, sizeof found, p->rank >= 0 && p->rank <= 4 ? p->rank : 0, p->dims);
        format_dims(expected, sizeof expected, rank, dims);
        return unet_set_error(UNET_ERR_SHAPE, "parameter %s has shape %s, expected %s", name,
                              found, expected);
    }
    if (p->count != count || !p->data)
        return unet_set_error(UNET_ERR_INVALID, "parameter %s holds %zu values, expected %zu",
                              name, p->data ? p->count : 0, count);
    for (size_t i = 0; i < count; i++) {
        if (!isfinite(p->data[i]))
            return unet_set_error(UNET_ERR_INVALID, "parameter %s holds %f at index %zu", name,
                                  (double)p->data[i], i);
        if (p->kind == NET_PARAM_BN_VAR && p->data[i] < 0.0f)
            return unet_set_error(UNET_ERR_INVALID, "parameter %s holds a negative variance %g",
                                  name, (double)p->data[i]);
    }

    Onnx__TensorProto *t = ctx_alloc(x, sizeof *t);
    int64_t *tdims = ctx_array(x, (size_t)rank, sizeof *tdims);
    char *tname = ctx_strdup(x, name);
    if (!t || !tdims || !tname)
        return ctx_nomem();
    onnx__tensor_proto__init(t);
    memcpy(tdims, dims, (size_t)rank * sizeof *tdims);
    t->dims = tdims;
    t->n_dims = (size_t)rank;
    t->name = tname;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->has_raw_data = 1;
    t->raw_data.len = count * sizeof(float);
    if (x->little_endian) {
        t->raw_data.data = (uint8_t *)p->data; /* only read while packing */
    } else {
        uint8_t *bytes = ctx_array(x, count, sizeof(float));
        if (!bytes)
            return ctx_nomem();
        for (size_t i = 0; i < count; i++) {
            uint32_t bits;
            memcpy(&bits, &p->data[i], sizeof bits);
            for (int k = 0; k < 4; k++)
                bytes[4 * i + (size_t)k] = (uint8_t)(bits >> (8 * k));
        }
        t->raw_data.data = bytes;
    }
    if (!push_init(x, t))
        return ctx_nomem();
    return UNET_OK;
}

/* Appends a node whose single output value carries the node's own name (or
 * output when given), and returns it (NULL when out of memory). */
static Onnx__NodeProto *add_node(export_ctx *x, const char *op_type, const char *name,
                                 const char *const *inputs, size_t n_inputs, const char *output)
{
    Onnx__NodeProto *node = ctx_alloc(x, sizeof *node);
    char **in = ctx_array(x, n_inputs, sizeof *in);
    char **out = ctx_array(x, 1, sizeof *out);
    Onnx__AttributeProto **attrs = ctx_array(x, MAX_NODE_ATTRS, sizeof *attrs);
    if (!node || !in || !out || !attrs)
        return NULL;
    onnx__node_proto__init(node);
    for (size_t i = 0; i < n_inputs; i++)
        in[i] = ctx_strdup(x, inputs[i]);
    out[0] = ctx_strdup(x, output ? output : name);
    node->input = in;
    node->n_input = n_inputs;
    node->output = out;
    node->n_output = 1;
    node->attribute = attrs;
    node->name = ctx_strdup(x, name);
    node->op_type = ctx_strdup(x, op_type);
    if (x->nomem || !push_node(x, node))
        return NULL;
    return node;
}

static Onnx__AttributeProto *add_attr(export_ctx *x, Onnx__NodeProto *node, const char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    if (!node || node->n_attribute >= MAX_NODE_ATTRS) {
        x->nomem = 1; /* a node with more attributes is a bug in this file */
        return NULL;
    }
    Onnx__AttributeProto *a = ctx_alloc(x, sizeof *a);
    char *aname = ctx_strdup(x, name);
    if (!a || !aname)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = aname;
    a->has_type = 1;
    a->type = type;
    node->attribute[node->n_attribute++] = a;
    return a;
}

static void attr_ints(export_ctx *x, Onnx__NodeProto *node, const char *name,
                      const int64_t *values, size_t n)
{
    Onnx__AttributeProto *a = add_attr(x, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *copy = ctx_array(x, n, sizeof *copy);
    if (!a || !copy)
        return;
    memcpy(copy, values, n * sizeof *copy);
    a->ints = copy;
    a->n_ints = n;
}

static void attr_int(export_ctx *x, Onnx__NodeProto *node, const char *name, int64_t value)
{
    Onnx__AttributeProto *a = add_attr(x, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) {
        a->has_i = 1;
        a->i = value;
    }
}

static void attr_float(export_ctx *x, Onnx__NodeProto *node, const char *name, float value)
{
    Onnx__AttributeProto *a = add_attr(x, node, name,
                                       ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a) {
        a->has_f = 1;
        a->f = value;
    }
}

/* Conv 3x3 (+ BatchNormalization) + Relu for {prefix}.conv{k}; *out receives
 * the name of the Relu's output value. */
static unet_status add_conv_block(export_ctx *x, const char *prefix, int k, const char *input,
                                  int c_in, int c_out, const char **out)
{
    static const int64_t kernel[2] = { 3, 3 }, pads[4] = { 1, 1, 1, 1 }, strides[2] = { 1, 1 };
    char node_name[NAME_LEN], weight[NAME_LEN], bias[NAME_LEN];
    snprintf(node_name, sizeof node_name, "%s/conv%d", prefix, k);
    snprintf(weight, sizeof weight, "%s.conv%d.weight", prefix, k);
    snprintf(bias, sizeof bias, "%s.conv%d.bias", prefix, k);
    UNET_TRY(add_param(x, weight, 4, (const int64_t[]){ c_out, c_in, 3, 3 }));
    UNET_TRY(add_param(x, bias, 1, (const int64_t[]){ c_out }));
    const char *conv_in[3] = { input, weight, bias };
    Onnx__NodeProto *conv = add_node(x, "Conv", node_name, conv_in, 3, NULL);
    attr_ints(x, conv, "kernel_shape", kernel, 2);
    attr_ints(x, conv, "pads", pads, 4);
    attr_ints(x, conv, "strides", strides, 2);
    if (x->nomem)
        return ctx_nomem();
    const char *current = conv->output[0];

    if (x->params->arch.batchnorm) {
        static const char *const parts[4] = { "scale", "shift", "mean", "var" };
        char names[4][NAME_LEN];
        const char *bn_in[5] = { current, names[0], names[1], names[2], names[3] };
        for (int i = 0; i < 4; i++) {
            snprintf(names[i], sizeof names[i], "%s.bn%d.%s", prefix, k, parts[i]);
            UNET_TRY(add_param(x, names[i], 1, (const int64_t[]){ c_out }));
        }
        snprintf(node_name, sizeof node_name, "%s/bn%d", prefix, k);
        Onnx__NodeProto *bn = add_node(x, "BatchNormalization", node_name, bn_in, 5, NULL);
        attr_float(x, bn, "epsilon", UNET_EXPORT_BN_EPSILON);
        if (x->nomem)
            return ctx_nomem();
        current = bn->output[0];
    }

    snprintf(node_name, sizeof node_name, "%s/relu%d", prefix, k);
    Onnx__NodeProto *relu = add_node(x, "Relu", node_name, &current, 1, NULL);
    if (!relu)
        return ctx_nomem();
    *out = relu->output[0];
    return UNET_OK;
}

static Onnx__ValueInfoProto *image_value_info(export_ctx *x, const char *name, int channels)
{
    Onnx__ValueInfoProto *vi = ctx_alloc(x, sizeof *vi);
    Onnx__TypeProto *type = ctx_alloc(x, sizeof *type);
    Onnx__TypeProto__Tensor *tensor = ctx_alloc(x, sizeof *tensor);
    Onnx__TensorShapeProto *shape = ctx_alloc(x, sizeof *shape);
    Onnx__TensorShapeProto__Dimension **dims = ctx_array(x, 4, sizeof *dims);
    if (!vi || !type || !tensor || !shape || !dims)
        return NULL;
    static const char *const dim_params[4] = { "N", NULL, "H", "W" };
    for (int i = 0; i < 4; i++) {
        Onnx__TensorShapeProto__Dimension *d = ctx_alloc(x, sizeof *d);
        if (!d)
            return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (dim_params[i]) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = ctx_strdup(x, dim_params[i]);
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = channels;
        }
        dims[i] = d;
    }
    onnx__tensor_shape_proto__init(shape);
    shape->dim = dims;
    shape->n_dim = 4;
    onnx__type_proto__tensor__init(tensor);
    tensor->has_elem_type = 1;
    tensor->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tensor->shape = shape;
    onnx__type_proto__init(type);
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tensor;
    onnx__value_info_proto__init(vi);
    vi->name = ctx_strdup(x, name);
    vi->type = type;
    return x->nomem ? NULL : vi;
}

/* Encoder, bottleneck, decoder with concat(up, skip), 1x1 head, softmax. */
static unet_status build_graph(export_ctx *x, Onnx__GraphProto *graph)
{
    static const int64_t two[2] = { 2, 2 }, no_pads[4] = { 0, 0, 0, 0 };
    const unet_arch *a = &x->params->arch;
    const char *skips[MAX_DEPTH];
    const char *current = "image";
    char prefix[16], node_name[NAME_LEN];

    for (int l = 0; l < a->depth; l++) {
        int f = a->base_filters << l;
        int c_in = l == 0 ? a->in_channels : f / 2;
        snprintf(prefix, sizeof prefix, "enc%d", l);
        UNET_TRY(add_conv_block(x, prefix, 1, current, c_in, f, &current));
        UNET_TRY(add_conv_block(x, prefix, 2, current, f, f, &current));
        skips[l] = current;
        snprintf(node_name, sizeof node_name, "%s/pool", prefix);
        Onnx__NodeProto *pool = add_node(x, "MaxPool", node_name, &current, 1, NULL);
        attr_ints(x, pool, "kernel_shape", two, 2);
        attr_ints(x, pool, "strides", two, 2);
        if (x->nomem)
            return ctx_nomem();
        current = pool->output[0];
    }

    int mid = a->base_filters << a->depth;
    UNET_TRY(add_conv_block(x, "mid", 1, current, mid / 2, mid, &current));
    UNET_TRY(add_conv_block(x, "mid", 2, current, mid, mid, &current));

    for (int l = a->depth - 1; l >= 0; l--) {
        int f = a->base_filters << l;
        char weight[NAME_LEN], bias[NAME_LEN];
        snprintf(prefix, sizeof prefix, "dec%d", l);
        snprintf(weight, sizeof weight, "%s.up.weight", prefix);
        snprintf(bias, sizeof bias, "%s.up.bias", prefix);
        UNET_TRY(add_param(x, weight, 4, (const int64_t[]){ 2 * f, f, 2, 2 }));
        UNET_TRY(add_param(x, bias, 1, (const int64_t[]){ f }));
        const char *up_in[3] = { current, weight, bias };
        snprintf(node_name, sizeof node_name, "%s/up", prefix);
        Onnx__NodeProto *up = add_node(x, "ConvTranspose", node_name, up_in, 3, NULL);
        attr_ints(x, up, "kernel_shape", two, 2);
        attr_ints(x, up, "strides", two, 2);
        attr_ints(x, up, "pads", no_pads, 4);
        if (x->nomem)
            return ctx_nomem();

        const char *cat_in[2] = { up->output[0], skips[l] };
        snprintf(node_name, sizeof node_name, "%s/concat", prefix);
        Onnx__NodeProto *cat = add_node(x, "Concat", node_name, cat_in, 2, NULL);
        attr_int(x, cat, "axis", 1);
        if (x->nomem)
            return ctx_nomem();
        current = cat->output[0];
        UNET_TRY(add_conv_block(x, prefix, 1, current, 2 * f, f, &current));
        UNET_TRY(add_conv_block(x, prefix, 2, current, f, f, &current));
    }

    static const int64_t one[2] = { 1, 1 }, zero_pads[4] = { 0, 0, 0, 0 };
    UNET_TRY(add_param(x, "head.weight", 4,
                       (const int64_t[]){ a->n_classes, a->base_filters, 1, 1 }));
    UNET_TRY(add_param(x, "head.bias", 1, (const int64_t[]){ a->n_classes }));
    const char *head_in[3] = { current, "head.weight", "head.bias" };
    Onnx__NodeProto *head = add_node(x, "Conv", "head", head_in, 3, "logits");
    attr_ints(x, head, "kernel_shape", one, 2);
    attr_ints(x, head, "pads", zero_pads, 4);
    attr_ints(x, head, "strides", one, 2);
    const char *logits = "logits";
    Onnx__NodeProto *softmax = add_node(x, "Softmax", "softmax", &logits, 1, "probs");
    attr_int(x, softmax, "axis", 1);

    Onnx__ValueInfoProto **inputs = ctx_array(x, 1, sizeof *inputs);
    Onnx__ValueInfoProto **outputs = ctx_array(x, 1, sizeof *outputs);
    if (x->nomem || !inputs || !outputs)
        return ctx_nomem();
    inputs[0] = image_value_info(x, "image", a->in_channels);
    outputs[0] = image_value_info(x, "probs", a->n_classes);
    if (!inputs[0] || !outputs[0])
        return ctx_nomem();

    onnx__graph_proto__init(graph);
    graph->name = ctx_strdup(x, "unet");
    graph->node = x->nodes;
    graph->n_node = x->n_nodes;
    graph->initializer = x->inits;
    graph->n_initializer = x->n_inits;
    graph->input = inputs;
    graph->n_input = 1;
    graph->output = outputs;
    graph->n_output = 1;
    return x->nomem ? ctx_nomem() : UNET_OK;
}

static int add_metadata(export_ctx *x, Onnx__ModelProto *model, size_t cap, const char *key,
                        const char *value)
{
    if (model->n_metadata_props >= cap)
        return 0;
    Onnx__StringStringEntryProto *e = ctx_alloc(x, sizeof *e);
    if (!e)
        return 0;
    onnx__string_string_entry_proto__init(e);
    e->key = ctx_strdup(x, key);
    e->value = ctx_strdup(x, value);
    model->metadata_props[model->n_metadata_props++] = e;
    return !x->nomem;
}

static unet_status build_metadata(export_ctx *x, Onnx__ModelProto *model,
                                  const unet_export_meta *meta)
{
    enum { N_KEYS = 6 };
    const unet_arch *a = &x->params->arch;
    model->metadata_props = ctx_array(x, N_KEYS, sizeof *model->metadata_props);
    if (!model->metadata_props)
        return ctx_nomem();

    sbuf b = { 0 };
    int ok = 1;
    if (meta && meta->class_names) {
        b.len = 0;
        json_string_array(&b, meta->class_names, meta->n_classes);
        ok = ok && !b.nomem && add_metadata(x, model, N_KEYS, "unet.classes", b.s);
    }
    if (ok && meta && meta->class_colors) {
        b.len = 0;
        json_string_array(&b, meta->class_colors, meta->n_classes);
        ok = ok && !b.nomem && add_metadata(x, model, N_KEYS, "unet.colors", b.s);
    }
    ok = ok && add_metadata(x, model, N_KEYS, "unet.input",
                            "{\"layout\":\"NCHW\",\"scale\":0.00392156862745098,"
                            "\"mean\":[0,0,0],\"std\":[1,1,1]}");
    ok = ok && add_metadata(x, model, N_KEYS, "unet.ignore_label", "255");
    if (ok) {
        char arch[256];
        snprintf(arch, sizeof arch,
                 "{\"depth\":%d,\"base_filters\":%d,\"batchnorm\":%s,\"in_channels\":%d,"
                 "\"n_classes\":%d}",
                 a->depth, a->base_filters, a->batchnorm ? "true" : "false", a->in_channels,
                 a->n_classes);
        ok = add_metadata(x, model, N_KEYS, "unet.arch", arch);
    }
    if (ok && meta && meta->training_json)
        ok = add_metadata(x, model, N_KEYS, "unet.training", meta->training_json);
    free(b.s);
    return ok ? UNET_OK : ctx_nomem();
}

static unet_status build_model(export_ctx *x, const unet_export_meta *meta,
                               Onnx__ModelProto *model, Onnx__GraphProto *graph)
{
    onnx__model_proto__init(model);
    model->has_ir_version = 1;
    model->ir_version = UNET_EXPORT_IR_VERSION;
    model->producer_name = ctx_strdup(x, "unet-train");
    model->producer_version = ctx_strdup(x, meta && meta->producer_version
                                                ? meta->producer_version
                                                : UNET_VERSION_STRING);
    Onnx__OperatorSetIdProto *opset = ctx_alloc(x, sizeof *opset);
    model->opset_import = ctx_array(x, 1, sizeof *model->opset_import);
    if (!opset || !model->opset_import)
        return ctx_nomem();
    onnx__operator_set_id_proto__init(opset);
    opset->domain = ctx_strdup(x, "");
    opset->has_version = 1;
    opset->version = UNET_EXPORT_OPSET;
    model->opset_import[0] = opset;
    model->n_opset_import = 1;
    UNET_TRY(build_graph(x, graph));
    model->graph = graph;
    UNET_TRY(build_metadata(x, model, meta));
    return x->nomem ? ctx_nomem() : UNET_OK;
}

/* ---- writing -------------------------------------------------------------------- */

typedef struct file_buffer {
    ProtobufCBuffer base;
    FILE *file;
    int error; /* errno of the first failed write, 0 when none */
} file_buffer;

static void file_buffer_append(ProtobufCBuffer *buffer, size_t len, const uint8_t *data)
{
    file_buffer *fb = (file_buffer *)buffer;
    if (fb->error || len == 0)
        return;
    errno = 0;
    if (fwrite(data, 1, len, fb->file) != len)
        fb->error = errno ? errno : EIO;
}

static unet_status write_model(const char *path, const Onnx__ModelProto *model)
{
    size_t size = onnx__model_proto__get_packed_size(model);
    if (size > (size_t)INT32_MAX)
        return unet_set_error(UNET_ERR_LIMIT,
                              "the model packs to %zu bytes, over protobuf's 2 GiB limit", size);
    atomic_file out;
    UNET_TRY(atomic_file_open(&out, path));
    file_buffer fb = { { file_buffer_append }, out.f, 0 };
    size_t written = onnx__model_proto__pack_to_buffer(model, &fb.base);
    int err = fb.error;
    if (!err && written != size)
        err = EIO;
    return atomic_file_commit(&out, err);
}

unet_status unet_export_onnx(const char *path, const unet_params *params,
                             const unet_export_meta *meta)
{
    if (!path || !*path || !params)
        return unet_set_error(UNET_ERR_ARG, "unet_export_onnx: a path and params are required");
    unet_status s = check_arch(&params->arch);
    if (s == UNET_OK)
        s = check_meta(meta, &params->arch);
    if (s != UNET_OK)
        return unet_wrap_error(s, "exporting %s", path);

    /* Per level at most 8 nodes and 14 initializers (two conv blocks of
     * conv, bn, relu with 6 parameters each, plus pool or up/concat). */
    export_ctx x = { .params = params, .little_endian = host_is_little_endian() };
    x.cap_nodes = 16 * (size_t)params->arch.depth + 16;
    x.cap_inits = 32 * (size_t)params->arch.depth + 32;
    x.nodes = ctx_array(&x, x.cap_nodes, sizeof *x.nodes);
    x.inits = ctx_array(&x, x.cap_inits, sizeof *x.inits);
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    s = x.nomem ? ctx_nomem() : build_model(&x, meta, &model, &graph);
    if (s == UNET_OK)
        s = write_model(path, &model);
    ctx_free(&x);
    if (s != UNET_OK)
        return unet_wrap_error(s, "exporting %s", path);
    return UNET_OK;
}
