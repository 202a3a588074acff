/* Small edits of an unpacked ONNX model (protobuf-c): finding and reading
 * initializers, making tensors, nodes and attributes. Everything made here is
 * malloc'd piece by piece, as protobuf-c's unpack does, so
 * onnx__model_proto__free_unpacked releases old and new parts alike. The
 * int-returning makers give 0, or -1 when out of memory. */
#ifndef UNET_TOOLS_QUANTIZE_ONNX_EDIT_H
#define UNET_TOOLS_QUANTIZE_ONNX_EDIT_H

#include <stddef.h>
#include <stdint.h>

#include <unet/unet.h>

#include "onnx.pb-c.h"

/* The initializer called name (its index in *index when not NULL), or NULL. */
Onnx__TensorProto *qz_find_initializer(const Onnx__GraphProto *g, const char *name, size_t *index);
/* Element count, or -1 for a negative dim or a count beyond 2^40. */
int64_t qz_tensor_numel(const Onnx__TensorProto *t);
/* A float32 initializer's values (from raw_data, little-endian, or
 * float_data) copied into *out (malloc'd, *count values). what names the
 * tensor's role in messages ("weight of Conv 'x'"). UNET_ERR_INVALID when
 * the type or data size is wrong, naming the tensor. */
unet_status qz_tensor_floats(const Onnx__TensorProto *t, const char *what, float **out, int64_t *count);
/* Replaces t's data with count float32 values (raw_data), dims unchanged. */
int qz_tensor_set_floats(Onnx__TensorProto *t, const float *values, int64_t count);
/* A new tensor of dtype (FLOAT, UINT8 or INT8) with rank dims (rank 0: a
 * scalar) holding count elements of elem_size bytes (little-endian). */
Onnx__TensorProto *qz_tensor_new(const char *name, int dtype, int rank, const int64_t *dims,
                                 const void *data, size_t elem_size);

/* Appends item to the pointer array *items of *n entries. */
int qz_append(void ***items, size_t *n, void *item);
char *qz_strdup(const char *s);
/* A new node of the default domain. */
Onnx__NodeProto *qz_node_new(const char *op_type, const char *name, int n_in, const char *const *inputs,
                             const char *output);
int qz_node_set_int(Onnx__NodeProto *n, const char *name, int64_t value);
/* The attribute's int (or ints[index]) value, or fallback when absent. */
int64_t qz_node_int(const Onnx__NodeProto *n, const char *name, int64_t fallback);
float qz_node_float(const Onnx__NodeProto *n, const char *name, float fallback);
/* Nodes reading tensor name (as any input), and whether a graph output is it. */
int qz_count_uses(const Onnx__GraphProto *g, const char *name);
int qz_is_graph_output(const Onnx__GraphProto *g, const char *name);
/* Whether name is already a tensor of the graph (input, initializer or node output). */
int qz_name_taken(const Onnx__GraphProto *g, const char *name);

#endif
