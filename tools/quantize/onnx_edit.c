/* Edits of an unpacked ONNX model: see onnx_edit.h. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "onnx_edit.h"

Onnx__TensorProto *qz_find_initializer(const Onnx__GraphProto *g, const char *name, size_t *index)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && strcmp(g->initializer[i]->name, name) == 0) {
            if (index)
                *index = i;
            return g->initializer[i];
        }
    return NULL;
}

int64_t qz_tensor_numel(const Onnx__TensorProto *t)
{
    int64_t n = 1;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0 || (t->dims[d] > 0 && n > ((int64_t)1 << 40) / t->dims[d]))
            return -1;
        n *= t->dims[d];
    }
    return n;
}

unet_status qz_tensor_floats(const Onnx__TensorProto *t, const char *what, float **out, int64_t *count)
{
    *out = NULL;
    int64_t n = qz_tensor_numel(t);
    if (!t->has_data_type || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s ('%s') is of type %d, expected float32 (1)", what, t->name, (int)t->data_type);
    if (n < 0)
        return unet_set_error(UNET_ERR_INVALID, "%s ('%s') has an invalid shape", what, t->name);
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory reading %s ('%s', %lld values)", what, t->name, (long long)n);
    if (t->has_raw_data && t->raw_data.len) {
        if (t->raw_data.len != (size_t)n * 4) {
            free(v);
            return unet_set_error(UNET_ERR_INVALID, "%s ('%s'): raw_data holds %zu bytes, its shape needs %lld", what, t->name, t->raw_data.len, (long long)n * 4);
        }
        for (int64_t i = 0; i < n; i++) { /* little-endian, whatever the host */
            const uint8_t *b = t->raw_data.data + 4 * i;
            uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
            memcpy(&v[i], &u, 4);
        }
    } else if (t->n_float_data == (size_t)n) {
        memcpy(v, t->float_data, (size_t)n * sizeof *v);
    } else {
        free(v);
        return unet_set_error(UNET_ERR_INVALID, "%s ('%s') holds %zu float_data values, its shape needs %lld", what, t->name, t->n_float_data, (long long)n);
    }
    *out = v;
    *count = n;
    return UNET_OK;
}

/* elem_size 4 (float32) or 1 (int8, uint8). */
static int set_raw(ProtobufCBinaryData *raw, const void *data, size_t count, size_t elem_size)
{
    uint8_t *bytes = malloc(count > 0 ? count * elem_size : 1);
    if (!bytes)
        return -1;
    if (elem_size == 4) { /* float32: to little-endian, whatever the host */
        for (size_t i = 0; i < count; i++) {
            uint32_t u;
            memcpy(&u, (const uint8_t *)data + 4 * i, 4);
            for (int k = 0; k < 4; k++)
                bytes[4 * i + (size_t)k] = (uint8_t)(u >> (8 * k));
        }
    } else if (count) { /* int8 / uint8 */
        memcpy(bytes, data, count * elem_size);
    }
    raw->data = bytes;
    raw->len = count * elem_size;
    return 0;
}

int qz_tensor_set_floats(Onnx__TensorProto *t, const float *values, int64_t count)
{
    ProtobufCBinaryData raw;
    if (set_raw(&raw, values, (size_t)count, sizeof(float)) != 0)
        return -1;
    if (t->has_raw_data)
        free(t->raw_data.data);
    free(t->float_data);
    t->float_data = NULL;
    t->n_float_data = 0;
    t->has_raw_data = 1;
    t->raw_data = raw;
    return 0;
}

Onnx__TensorProto *qz_tensor_new(const char *name, int dtype, int rank, const int64_t *dims,
                                 const void *data, size_t elem_size)
{
    Onnx__TensorProto *t = malloc(sizeof *t);
    if (!t)
        return NULL;
    onnx__tensor_proto__init(t);
    t->name = qz_strdup(name);
    t->dims = malloc((size_t)(rank ? rank : 1) * sizeof *t->dims);
    size_t count = 1;
    for (int d = 0; t->dims && d < rank; d++) {
        t->dims[d] = dims[d];
        count *= (size_t)dims[d];
    }
    t->n_dims = (size_t)rank;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->has_raw_data = 1;
    if (!t->name || !t->dims || set_raw(&t->raw_data, data, count, elem_size) != 0) {
        onnx__tensor_proto__free_unpacked(t, NULL);
        return NULL;
    }
    return t;
}

int qz_append(void ***items, size_t *n, void *item)
{
    void **grown = realloc(*items, (*n + 1) * sizeof *grown);
    if (!grown)
        return -1;
    grown[(*n)++] = item;
    *items = grown;
    return 0;
}

char *qz_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c)
        memcpy(c, s, n);
    return c;
}

Onnx__NodeProto *qz_node_new(const char *op_type, const char *name, int n_in, const char *const *inputs,
                             const char *output)
{
    Onnx__NodeProto *n = malloc(sizeof *n);
    if (!n)
        return NULL;
    onnx__node_proto__init(n);
    n->op_type = qz_strdup(op_type);
    n->name = qz_strdup(name);
    n->domain = qz_strdup("");
    n->input = calloc((size_t)n_in, sizeof *n->input);
    n->output = calloc(1, sizeof *n->output);
    int ok = n->op_type && n->name && n->domain && n->input && n->output;
    for (int k = 0; ok && k < n_in; k++) {
        n->input[k] = qz_strdup(inputs[k]);
        ok = n->input[k] != NULL;
        n->n_input = (size_t)k + 1;
    }
    if (ok) {
        n->output[0] = qz_strdup(output);
        n->n_output = 1;
        ok = n->output[0] != NULL;
    }
    if (!ok) {
        onnx__node_proto__free_unpacked(n, NULL);
        return NULL;
    }
    return n;
}

int qz_node_set_int(Onnx__NodeProto *n, const char *name, int64_t value)
{
    Onnx__AttributeProto *a = malloc(sizeof *a);
    if (!a)
        return -1;
    onnx__attribute_proto__init(a);
    a->name = qz_strdup(name);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = value;
    if (!a->name || qz_append((void ***)&n->attribute, &n->n_attribute, a) != 0) {
        onnx__attribute_proto__free_unpacked(a, NULL);
        return -1;
    }
    return 0;
}

static const Onnx__AttributeProto *find_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

int64_t qz_node_int(const Onnx__NodeProto *n, const char *name, int64_t fallback)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    return a && a->has_i ? a->i : fallback;
}

float qz_node_float(const Onnx__NodeProto *n, const char *name, float fallback)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    return a && a->has_f ? a->f : fallback;
}

int qz_count_uses(const Onnx__GraphProto *g, const char *name)
{
    int uses = 0;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++)
            uses += strcmp(g->node[i]->input[k], name) == 0;
    return uses;
}

int qz_is_graph_output(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_output; i++)
        if (strcmp(g->output[i]->name, name) == 0)
            return 1;
    return 0;
}

int qz_name_taken(const Onnx__GraphProto *g, const char *name)
{
    if (qz_find_initializer(g, name, NULL))
        return 1;
    for (size_t i = 0; i < g->n_input; i++)
        if (g->input[i]->name && strcmp(g->input[i]->name, name) == 0)
            return 1;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_output; k++)
            if (strcmp(g->node[i]->output[k], name) == 0)
                return 1;
    return 0;
}
