/* ONNX files in and out for unet-quantize: see onnx_file.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "error.h"
#include "onnx_edit.h"
#include "onnx_file.h"

/* Larger files than protobuf's 2 GiB message limit cannot be unpacked. */
#define QZ_MAX_MODEL_BYTES ((size_t)INT32_MAX)

static unet_status read_whole(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return unet_set_error(UNET_ERR_IO, "%s: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= QZ_MAX_MODEL_BYTES) {
                free(buf);
                fclose(f);
                return unet_set_error(UNET_ERR_LIMIT, "%s: larger than %zu bytes, protobuf's limit", path, QZ_MAX_MODEL_BYTES);
            }
            cap = cap ? cap * 2 : 1 << 20;
            if (cap > QZ_MAX_MODEL_BYTES)
                cap = QZ_MAX_MODEL_BYTES;
            uint8_t *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                fclose(f);
                return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory reading it", path);
            }
            buf = grown;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return unet_set_error(UNET_ERR_IO, "%s: read error", path);
    }
    *data = buf;
    *size = len;
    return UNET_OK;
}

static unet_status check_tensor(const char *path, const Onnx__TensorProto *t)
{
    if (!t->name || !*t->name)
        return unet_set_error(UNET_ERR_INVALID, "%s: an initializer has no name", path);
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s: initializer '%s' keeps its data in an external file; unet-quantize reads self-contained models only", path, t->name);
    if (t->segment)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s: initializer '%s' is a segment of a larger tensor", path, t->name);
    if (t->n_dims > UNET_MAX_RANK)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s: initializer '%s' has rank %zu, more than %d", path, t->name, t->n_dims, UNET_MAX_RANK);
    if (qz_tensor_numel(t) < 0)
        return unet_set_error(UNET_ERR_INVALID, "%s: initializer '%s' has a negative or too large dimension", path, t->name);
    return UNET_OK;
}

static unet_status check_model(const char *path, const Onnx__ModelProto *m)
{
    const Onnx__GraphProto *g = m->graph;
    if (!g)
        return unet_set_error(UNET_ERR_INVALID, "%s: the model has no graph", path);
    if (qz_default_opset(m) <= 0)
        return unet_set_error(UNET_ERR_INVALID, "%s: the model imports no default-domain operator set", path);
    if (g->n_node == 0 || g->n_output == 0)
        return unet_set_error(UNET_ERR_INVALID, "%s: the graph has %zu nodes and %zu outputs", path, g->n_node, g->n_output);
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (!n->op_type || !*n->op_type)
            return unet_set_error(UNET_ERR_INVALID, "%s: node %zu ('%s') has no op type", path, i, n->name ? n->name : "");
        for (size_t k = 0; k < n->n_input; k++)
            if (!n->input[k])
                return unet_set_error(UNET_ERR_INVALID, "%s: node '%s' (%s): input %zu has no name", path, n->name ? n->name : "", n->op_type, k);
        for (size_t k = 0; k < n->n_output; k++)
            if (!n->output[k])
                return unet_set_error(UNET_ERR_INVALID, "%s: node '%s' (%s): output %zu has no name", path, n->name ? n->name : "", n->op_type, k);
    }
    for (size_t i = 0; i < g->n_initializer; i++)
        UNET_TRY(check_tensor(path, g->initializer[i]));
    for (size_t i = 0; i < g->n_output; i++)
        if (!g->output[i]->name || !*g->output[i]->name)
            return unet_set_error(UNET_ERR_INVALID, "%s: graph output %zu has no name", path, i);
    int n_data = 0;
    const Onnx__ValueInfoProto *in = NULL;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        if (!vi->name || !*vi->name)
            return unet_set_error(UNET_ERR_INVALID, "%s: graph input %zu has no name", path, i);
        if (!qz_find_initializer(g, vi->name, NULL)) {
            n_data++;
            in = vi;
        }
    }
    if (n_data != 1)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s: the graph has %d data inputs; unet-quantize calibrates models with one image input", path, n_data);
    const Onnx__TypeProto__Tensor *tt =
        in->type && in->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ? in->type->tensor_type : NULL;
    if (!tt || tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || !tt->shape || tt->shape->n_dim != 4)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s: input '%s' must be a float32 tensor of rank 4 (N,C,H,W or N,H,W,C)", path, in->name);
    return UNET_OK;
}

unet_status qz_model_read(const char *path, Onnx__ModelProto **out)
{
    *out = NULL;
    uint8_t *data = NULL;
    size_t size = 0;
    UNET_TRY(read_whole(path, &data, &size));
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, data);
    free(data);
    if (!m)
        return unet_set_error(UNET_ERR_PARSE, "%s: not an ONNX model (the protobuf does not parse)", path);
    unet_status s = check_model(path, m);
    if (s != UNET_OK) {
        onnx__model_proto__free_unpacked(m, NULL);
        return s;
    }
    *out = m;
    return UNET_OK;
}

void qz_model_free(Onnx__ModelProto *model)
{
    if (model)
        onnx__model_proto__free_unpacked(model, NULL);
}

unet_status qz_model_pack(const Onnx__ModelProto *model, uint8_t **data, size_t *size)
{
    size_t n = onnx__model_proto__get_packed_size(model);
    if (n > QZ_MAX_MODEL_BYTES)
        return unet_set_error(UNET_ERR_LIMIT, "the model packs to %zu bytes, over protobuf's 2 GiB limit", n);
    *data = malloc(n ? n : 1);
    if (!*data)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory packing the model (%zu bytes)", n);
    *size = onnx__model_proto__pack(model, *data);
    return UNET_OK;
}

typedef struct file_sink {
    ProtobufCBuffer base;
    FILE *file;
    int error; /* errno of the first failed write */
} file_sink;

static void file_sink_append(ProtobufCBuffer *buffer, size_t len, const uint8_t *data)
{
    file_sink *fs = (file_sink *)buffer;
    if (fs->error || len == 0)
        return;
    errno = 0;
    if (fwrite(data, 1, len, fs->file) != len)
        fs->error = errno ? errno : EIO;
}

unet_status qz_model_write(const char *path, const Onnx__ModelProto *model)
{
    size_t size = onnx__model_proto__get_packed_size(model);
    if (size > QZ_MAX_MODEL_BYTES)
        return unet_set_error(UNET_ERR_LIMIT, "%s: the model packs to %zu bytes, over protobuf's 2 GiB limit", path, size);
    atomic_file out;
    UNET_TRY(atomic_file_open(&out, path));
    file_sink fs = { { file_sink_append }, out.f, 0 };
    size_t written = onnx__model_proto__pack_to_buffer(model, &fs.base);
    int err = fs.error;
    if (!err && written != size)
        err = EIO;
    return atomic_file_commit(&out, err);
}

const Onnx__ValueInfoProto *qz_graph_data_input(const Onnx__GraphProto *g)
{
    for (size_t i = 0; i < g->n_input; i++)
        if (g->input[i]->name && !qz_find_initializer(g, g->input[i]->name, NULL))
            return g->input[i];
    return NULL;
}

int64_t qz_default_opset(const Onnx__ModelProto *model)
{
    for (size_t i = 0; i < model->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = model->opset_import[i];
        if (!o->domain || !*o->domain || strcmp(o->domain, "ai.onnx") == 0)
            return o->has_version ? o->version : 0;
    }
    return 0;
}
