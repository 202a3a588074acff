/* Building small ONNX models in memory for tests: a graph of a few nodes,
 * serialised with protobuf-c and opened with unet_model_open_memory. Test
 * code only: allocation failures abort. */
#ifndef UNET_TESTS_ONNX_BUILDER_H
#define UNET_TESTS_ONNX_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include <unet/unet.h>

typedef struct ob_model ob_model;
typedef struct ob_node ob_node;

/* An empty model importing the default domain at opset. */
ob_model *ob_model_new(int64_t opset);
void ob_model_free(ob_model *m);

/* Graph inputs and outputs; dims entries of -1 become symbolic ("d0", ...),
 * rank -1 leaves the shape out. dtype is a unet_dtype (= ONNX's codes). */
void ob_input(ob_model *m, const char *name, int dtype, int rank, const int64_t *dims);
void ob_output(ob_model *m, const char *name, int dtype, int rank, const int64_t *dims);
/* A constant (raw_data, row-major, unet_dtype_size bytes per element). */
void ob_initializer(ob_model *m, const char *name, int dtype, int rank, const int64_t *dims,
                    const void *data);

/* A node; inputs and outputs are comma-separated value names, an empty name
 * is an omitted optional input ("x,,axes"). */
ob_node *ob_node_add(ob_model *m, const char *op_type, const char *inputs, const char *outputs);
void ob_attr_int(ob_node *n, const char *name, int64_t value);
void ob_attr_ints(ob_node *n, const char *name, const int64_t *values, int count);
void ob_attr_float(ob_node *n, const char *name, float value);
void ob_attr_string(ob_node *n, const char *name, const char *value);

/* The serialised ModelProto (malloc'ed; the caller frees it). */
void *ob_serialize(ob_model *m, size_t *size);
/* Serialises and opens the model (name "built.onnx" in messages). */
unet_status ob_open(ob_model *m, unet_model **out);
/* Runs an opened model once on one input in a session of one thread and
 * copies output 0 into y, which holds y_bytes: exactly the output's size, or
 * the test is wrong and this aborts. *shape (when not NULL) gets the output's
 * dtype, rank and dims; its data pointer is NULL (the session is gone). */
unet_status ob_run(unet_model *m, const unet_tensor *in, void *y, size_t y_bytes,
                   unet_tensor *shape);

#endif
