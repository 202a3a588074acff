/* The protobuf-c structures of a model under construction. Every allocation
 * is recorded in the model and released by ob_model_free, so the structures
 * can point into each other freely. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "onnx_builder.h"

struct ob_node {
    ob_model *model;
    Onnx__NodeProto proto;
};

struct ob_model {
    void **blocks;
    size_t n_blocks, cap_blocks;
    Onnx__ModelProto proto;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    int n_nodes;
};

static void *ob_alloc(ob_model *m, size_t size)
{
    if (m->n_blocks == m->cap_blocks) {
        size_t cap = m->cap_blocks ? m->cap_blocks * 2 : 64;
        void **b = realloc(m->blocks, cap * sizeof *b);
        if (!b)
            abort();
        m->blocks = b;
        m->cap_blocks = cap;
    }
    void *p = calloc(1, size ? size : 1);
    if (!p)
        abort();
    m->blocks[m->n_blocks++] = p;
    return p;
}

static char *ob_strdup(ob_model *m, const char *s)
{
    char *d = ob_alloc(m, strlen(s) + 1);
    memcpy(d, s, strlen(s) + 1);
    return d;
}

/* Appends item to a protobuf-c repeated field (typed array + count). */
#define PUSH(m, arr, count, item)                                          \
    do {                                                                   \
        void *grown_ = ob_alloc((m), ((count) + 1) * sizeof *(arr));       \
        if (count)                                                         \
            memcpy(grown_, (arr), (count) * sizeof *(arr));                \
        (arr) = grown_;                                                    \
        (arr)[(count)++] = (item);                                         \
    } while (0)

ob_model *ob_model_new(int64_t opset)
{
    ob_model *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    onnx__model_proto__init(&m->proto);
    onnx__graph_proto__init(&m->graph);
    onnx__operator_set_id_proto__init(&m->opset);
    m->opset.domain = ob_strdup(m, "");
    m->opset.has_version = 1;
    m->opset.version = opset;
    m->opsets[0] = &m->opset;
    m->proto.has_ir_version = 1;
    m->proto.ir_version = 8;
    m->proto.producer_name = ob_strdup(m, "unet-tests");
    m->proto.n_opset_import = 1;
    m->proto.opset_import = m->opsets;
    m->graph.name = ob_strdup(m, "test");
    m->proto.graph = &m->graph;
    return m;
}

void ob_model_free(ob_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_blocks; i++)
        free(m->blocks[i]);
    free(m->blocks);
    free(m);
}

static Onnx__ValueInfoProto *value_info(ob_model *m, const char *name, int dtype, int rank, const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = ob_alloc(m, sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = ob_strdup(m, name);
    Onnx__TypeProto *tp = ob_alloc(m, sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = ob_alloc(m, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = dtype;
    if (rank >= 0) {
        Onnx__TensorShapeProto *sp = ob_alloc(m, sizeof *sp);
        onnx__tensor_shape_proto__init(sp);
        for (int d = 0; d < rank; d++) {
            Onnx__TensorShapeProto__Dimension *dim = ob_alloc(m, sizeof *dim);
            onnx__tensor_shape_proto__dimension__init(dim);
            if (dims[d] >= 0) {
                dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                dim->dim_value = dims[d];
            } else {
                char sym[32];
                snprintf(sym, sizeof sym, "d%d", d);
                dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                dim->dim_param = ob_strdup(m, sym);
            }
            PUSH(m, sp->dim, sp->n_dim, dim);
        }
        tt->shape = sp;
    }
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    return vi;
}

void ob_input(ob_model *m, const char *name, int dtype, int rank, const int64_t *dims)
{
    PUSH(m, m->graph.input, m->graph.n_input, value_info(m, name, dtype, rank, dims));
}

void ob_output(ob_model *m, const char *name, int dtype, int rank, const int64_t *dims)
{
    PUSH(m, m->graph.output, m->graph.n_output, value_info(m, name, dtype, rank, dims));
}

void ob_initializer(ob_model *m, const char *name, int dtype, int rank, const int64_t *dims, const void *data)
{
    Onnx__TensorProto *t = ob_alloc(m, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = ob_strdup(m, name);
    t->has_data_type = 1;
    t->data_type = dtype;
    size_t count = 1;
    t->dims = ob_alloc(m, (size_t)(rank > 0 ? rank : 1) * sizeof *t->dims);
    for (int d = 0; d < rank; d++) {
        t->dims[d] = dims[d];
        count *= (size_t)dims[d];
    }
    t->n_dims = (size_t)rank;
    size_t nbytes = count * unet_dtype_size(dtype);
    t->has_raw_data = 1;
    t->raw_data.len = nbytes;
    t->raw_data.data = ob_alloc(m, nbytes);
    if (nbytes)
        memcpy(t->raw_data.data, data, nbytes);
    PUSH(m, m->graph.initializer, m->graph.n_initializer, t);
}

/* Splits "a,,b" into names (empty entries kept). */
static void split_names(ob_model *m, const char *list, char ***out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (!list || !list[0])
        return;
    const char *s = list;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        char *name = ob_alloc(m, len + 1);
        memcpy(name, s, len);
        PUSH(m, *out, *count, name);
        if (!comma)
            break;
        s = comma + 1;
    }
}

ob_node *ob_node_add(ob_model *m, const char *op_type, const char *inputs, const char *outputs)
{
    ob_node *n = ob_alloc(m, sizeof *n);
    n->model = m;
    onnx__node_proto__init(&n->proto);
    char name[64];
    snprintf(name, sizeof name, "n%d_%s", m->n_nodes++, op_type);
    n->proto.name = ob_strdup(m, name);
    n->proto.op_type = ob_strdup(m, op_type);
    n->proto.domain = ob_strdup(m, "");
    split_names(m, inputs, &n->proto.input, &n->proto.n_input);
    split_names(m, outputs, &n->proto.output, &n->proto.n_output);
    PUSH(m, m->graph.node, m->graph.n_node, &n->proto);
    return n;
}

static Onnx__AttributeProto *new_attr(ob_node *n, const char *name, Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = ob_alloc(n->model, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = ob_strdup(n->model, name);
    a->has_type = 1;
    a->type = type;
    PUSH(n->model, n->proto.attribute, n->proto.n_attribute, a);
    return a;
}

void ob_attr_int(ob_node *n, const char *name, int64_t value)
{
    Onnx__AttributeProto *a = new_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = value;
}

void ob_attr_ints(ob_node *n, const char *name, const int64_t *values, int count)
{
    Onnx__AttributeProto *a = new_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->ints = ob_alloc(n->model, (size_t)(count > 0 ? count : 1) * sizeof *a->ints);
    if (count > 0)
        memcpy(a->ints, values, (size_t)count * sizeof *a->ints);
    a->n_ints = (size_t)(count > 0 ? count : 0);
}

void ob_attr_float(ob_node *n, const char *name, float value)
{
    Onnx__AttributeProto *a = new_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = value;
}

void ob_attr_string(ob_node *n, const char *name, const char *value)
{
    Onnx__AttributeProto *a = new_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.len = strlen(value);
    a->s.data = (uint8_t *)ob_strdup(n->model, value);
}

void *ob_serialize(ob_model *m, size_t *size)
{
    *size = onnx__model_proto__get_packed_size(&m->proto);
    uint8_t *buf = malloc(*size ? *size : 1);
    if (!buf)
        abort();
    onnx__model_proto__pack(&m->proto, buf);
    return buf;
}

unet_status ob_open(ob_model *m, unet_model **out)
{
    size_t size;
    void *buf = ob_serialize(m, &size);
    unet_status s = unet_model_open_memory(buf, size, "built.onnx", NULL, NULL, out);
    free(buf);
    return s;
}

unet_status ob_run(unet_model *m, const unet_tensor *in, void *y, size_t y_bytes,
                   unet_tensor *shape)
{
    unet_session *sess = NULL;
    const unet_session_options o = { .threads = 1 };
    unet_status s = unet_session_create(m, &o, &sess);
    if (s != UNET_OK)
        return s;
    unet_tensor out;
    s = unet_session_run(sess, in, 1);
    if (s == UNET_OK)
        s = unet_session_output(sess, 0, &out);
    if (s == UNET_OK) {
        size_t bytes = unet_dtype_size(out.dtype);
        for (int i = 0; i < out.rank; i++)
            bytes *= (size_t)out.dims[i];
        if (bytes != y_bytes) {
            fprintf(stderr, "ob_run: output 0 has %zu bytes, the test expects %zu\n", bytes,
                    y_bytes);
            abort();
        }
        memcpy(y, out.data, bytes);
        if (shape) {
            *shape = out;
            shape->data = NULL;
        }
    }
    unet_session_free(sess);
    return s;
}
