/* The --check report reads the protobuf itself, so that it can describe a
 * model even when libunet refuses to load it, then asks libunet for the
 * verdict (which lists every node it cannot run). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unet/unet.h>

#include "model_check.h"
#include "onnx.pb-c.h"

static void print_value_info(FILE *f, const Onnx__ValueInfoProto *vi)
{
    fprintf(f, "  %s: ", vi->name ? vi->name : "(unnamed)");
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
        fprintf(f, "(not a tensor)\n");
        return;
    }
    const Onnx__TypeProto__Tensor *t = vi->type->tensor_type;
    fprintf(f, "%s [", unet_dtype_name(t->has_elem_type ? t->elem_type : 0));
    if (t->shape) {
        for (size_t d = 0; d < t->shape->n_dim; d++) {
            const Onnx__TensorShapeProto__Dimension *dim = t->shape->dim[d];
            if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
                fprintf(f, "%s%lld", d ? ", " : "", (long long)dim->dim_value);
            else if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
                fprintf(f, "%s%s", d ? ", " : "", dim->dim_param);
            else
                fprintf(f, "%s?", d ? ", " : "");
        }
    } else {
        fprintf(f, "unknown rank");
    }
    fprintf(f, "]\n");
}

typedef struct op_count {
    char name[128];
    int count;
} op_count;

static int by_count(const void *a, const void *b)
{
    const op_count *x = a, *y = b;
    return y->count != x->count ? y->count - x->count : strcmp(x->name, y->name);
}

int model_check_print(const char *path, FILE *f)
{
    FILE *in = fopen(path, "rb");
    if (!in) {
        fprintf(stderr, "unet-infer: cannot open %s\n", path);
        return 1;
    }
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    uint8_t *buf = size > 0 ? malloc((size_t)size) : NULL;
    if (!buf || fread(buf, 1, (size_t)size, in) != (size_t)size) {
        fclose(in);
        free(buf);
        fprintf(stderr, "unet-infer: cannot read %s\n", path);
        return 1;
    }
    fclose(in);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, (size_t)size, buf);
    free(buf);
    fprintf(f, "model: %s (%ld bytes)\n", path, size);
    if (!m || !m->graph) {
        fprintf(f, "  not a valid ONNX model (protobuf decoding failed or no graph)\n");
        if (m)
            onnx__model_proto__free_unpacked(m, NULL);
        return 1;
    }
    fprintf(f, "ir_version: %lld  producer: %s %s\n", (long long)m->ir_version,
            m->producer_name ? m->producer_name : "?", m->producer_version ? m->producer_version : "");
    fprintf(f, "opsets:");
    for (size_t i = 0; i < m->n_opset_import; i++)
        fprintf(f, " %s=%lld", m->opset_import[i]->domain && m->opset_import[i]->domain[0] ? m->opset_import[i]->domain : "ai.onnx",
                (long long)m->opset_import[i]->version);
    fprintf(f, "\ninputs:\n");
    const Onnx__GraphProto *g = m->graph;
    for (size_t i = 0; i < g->n_input; i++) {
        int is_init = 0;
        for (size_t k = 0; k < g->n_initializer; k++)
            if (g->initializer[k]->name && g->input[i]->name && !strcmp(g->initializer[k]->name, g->input[i]->name))
                is_init = 1;
        if (!is_init)
            print_value_info(f, g->input[i]);
    }
    fprintf(f, "outputs:\n");
    for (size_t i = 0; i < g->n_output; i++)
        print_value_info(f, g->output[i]);
    long long params = 0;
    for (size_t k = 0; k < g->n_initializer; k++) {
        long long n = 1;
        for (size_t d = 0; d < g->initializer[k]->n_dims; d++)
            n *= g->initializer[k]->dims[d];
        params += n;
    }
    fprintf(f, "parameters: %lld in %zu initializers\n", params, g->n_initializer);
    op_count *ops = calloc(g->n_node + 1, sizeof *ops);
    int n_ops = 0;
    for (size_t i = 0; ops && i < g->n_node; i++) {
        const char *op = g->node[i]->op_type ? g->node[i]->op_type : "?";
        int k = 0;
        while (k < n_ops && strcmp(ops[k].name, op))
            k++;
        if (k == n_ops)
            snprintf(ops[n_ops++].name, sizeof ops[0].name, "%s", op);
        ops[k].count++;
    }
    if (ops)
        qsort(ops, (size_t)n_ops, sizeof *ops, by_count);
    fprintf(f, "operators (%zu nodes):", g->n_node);
    for (int k = 0; k < n_ops; k++)
        fprintf(f, " %s x%d", ops[k].name, ops[k].count);
    fprintf(f, "\nmetadata:\n");
    for (size_t i = 0; i < m->n_metadata_props; i++)
        fprintf(f, "  %s = %s\n", m->metadata_props[i]->key ? m->metadata_props[i]->key : "",
                m->metadata_props[i]->value ? m->metadata_props[i]->value : "");
    if (!m->n_metadata_props)
        fprintf(f, "  (none: input scaled x/255, NCHW, default palette)\n");
    free(ops);
    onnx__model_proto__free_unpacked(m, NULL);

    /* The verdict is this machine's: name the CPU and what oneDNN runs on it. */
    char cpu[256];
    fprintf(f, "cpu: %s\noneDNN ISA: %s\n", unet_cpu_model(cpu, sizeof cpu), unet_cpu_isa());
    unet_model *um = NULL;
    if (unet_model_open_file(path, NULL, &um) != UNET_OK) {
        fprintf(f, "libunet: CANNOT RUN this model:\n  %s\n", unet_last_error());
        return 1;
    }
    fprintf(f, "libunet: loads (%d nodes after folding and fusion)\n", unet_model_node_count(um));
    unet_model_free(um);
    return 0;
}
