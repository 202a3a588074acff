/* libunet's own graph IR: values with integer ids, nodes holding ids, typed
 * attributes, constant data owned by the model. The protobuf tree is freed
 * once this is built. */
#ifndef UNET_RUNTIME_GRAPH_H
#define UNET_RUNTIME_GRAPH_H

#include <stddef.h>
#include <stdint.h>
#include <unet/unet.h>

/* ONNX AttributeProto.AttributeType values that the runtime keeps. */
enum {
    ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_STRING = 3, ATTR_TENSOR = 4, ATTR_GRAPH = 5,
    ATTR_FLOATS = 6, ATTR_INTS = 7, ATTR_STRINGS = 8
};

typedef struct attr {
    char *name;
    int type;
    int64_t i;
    float f;
    char *s;            /* NUL-terminated copy */
    int64_t *ints;
    size_t n_ints;
    float *floats;
    size_t n_floats;
    int tensor;         /* value id holding an ATTR_TENSOR's data, -1 otherwise */
} attr_t;

typedef struct value {
    char *name;
    int dtype;                          /* unet_dtype, 0 when unknown */
    int rank;                           /* -1 when unknown */
    int64_t dims[UNET_MAX_RANK];        /* -1 when symbolic/unknown */
    char *dim_params[UNET_MAX_RANK];
    void *data;                         /* constant data (row-major), or NULL */
    size_t nbytes;
    int producer;                       /* node index, -1 for inputs/constants */
    int n_consumers;
    int is_graph_input;
    int is_graph_output;
} value_t;

struct op_def;

typedef struct node {
    char *name;
    char *op_type;
    char *domain;
    int n_in, n_out;
    int *in;            /* value ids, -1 for an omitted optional input */
    int *out;
    int n_attrs;
    attr_t *attrs;
    const struct op_def *def;
    int opset;
    /* Filled by passes. */
    int fused_act;      /* a fused activation (FUSED_*), 0 when none */
    float act_alpha, act_beta;
    int fused_sum;      /* value id added into the output (sum post-op), -1 when none */
    /* Filled by the QDQ pass (Conv only): in[0] is the float input that the
     * model quantises by (qdq_x_scale, qdq_x_zero) as uint8 (qdq_x_u8) or
     * int8, in[1] the int8 weights, qdq_w_scale the value id of their scale
     * (one, or one per output channel). 0 when the Conv is not quantised.
     * qdq_x_max is the largest quantised input value the graph lets occur:
     * 255 (uint8) or 127 (int8), less when a Clip with a constant max feeds
     * the QuantizeLinear (7-bit activations). */
    int qdq;
    float qdq_x_scale;
    int qdq_x_zero, qdq_x_u8, qdq_w_scale, qdq_x_max;
} node_t;

enum { FUSED_NONE = 0, FUSED_RELU, FUSED_LEAKY_RELU, FUSED_CLIP, FUSED_SIGMOID, FUSED_TANH };

typedef struct kv {
    char *key;
    char *value;
} kv_t;

struct unet_model {
    char *name;                  /* file name for messages */
    int64_t ir_version;
    char *producer;
    int n_opsets;
    char **opset_domains;
    int64_t *opset_versions;
    int n_meta;
    kv_t *meta;

    int n_values, cap_values;
    value_t *values;
    int n_nodes, cap_nodes;
    node_t *nodes;               /* topologically sorted after import */
    int n_inputs, n_outputs;
    int *inputs;                 /* graph inputs that are not initializers */
    int *outputs;

    /* name -> value id (open addressing) */
    int hash_cap;
    int *hash;

    /* unet_load_options.max_tensor_elements, also applied to every tensor
     * a plan creates (a small model can declare a huge intermediate). */
    uint64_t max_tensor_elements;

    /* Float values in the file's initializers, counted before the passes add
     * folded copies (unet_model_parameter_count). */
    int64_t file_parameters;
};

/* Value table */
int graph_find_value(const unet_model *m, const char *name);
unet_status graph_add_value(unet_model *m, const char *name, int *id);
unet_status graph_add_node(unet_model *m, node_t **out);
void graph_free_model_contents(unet_model *m);

/* Attribute access with defaults (the attribute name must match exactly). */
const attr_t *node_attr(const node_t *n, const char *name);
int64_t node_attr_int(const node_t *n, const char *name, int64_t def);
float node_attr_float(const node_t *n, const char *name, float def);
const char *node_attr_string(const node_t *n, const char *name, const char *def);
/* Copies an INTS attribute into out (max entries); returns count, or -1 when absent. */
int node_attr_ints(const node_t *n, const char *name, int64_t *out, int max);

/* Product of dims with overflow check; 0 on overflow or negative dims is an error. */
unet_status shape_numel(const int64_t *dims, int rank, int64_t *numel);

/* Opset of domain ("" or "ai.onnx" for the default domain), 0 when not imported. */
int graph_opset(const unet_model *m, const char *domain);

#endif
