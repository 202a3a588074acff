/* Reading, checking and writing ONNX model files with protobuf-c (the
 * project's proto/onnx.proto), for unet-quantize. Errors are status codes
 * with the message in unet_last_error(), naming the file. */
#ifndef UNET_TOOLS_QUANTIZE_ONNX_FILE_H
#define UNET_TOOLS_QUANTIZE_ONNX_FILE_H

#include <stddef.h>
#include <stdint.h>

#include <unet/unet.h>

#include "onnx.pb-c.h"

/* Reads path and checks what unet-quantize relies on: a graph with nodes
 * that name their op type, inputs and outputs; initializers with names,
 * non-negative dims and their data inside the file; exactly one graph input
 * that is not an initializer, a float32 tensor of rank 4. */
unet_status qz_model_read(const char *path, Onnx__ModelProto **out);
void qz_model_free(Onnx__ModelProto *model);

/* The model serialised into a malloc'd buffer. */
unet_status qz_model_pack(const Onnx__ModelProto *model, uint8_t **data, size_t *size);
/* The model serialised into path atomically (runtime/atomic_file.h). */
unet_status qz_model_write(const char *path, const Onnx__ModelProto *model);

/* The graph input that is not an initializer (checked by qz_model_read). */
const Onnx__ValueInfoProto *qz_graph_data_input(const Onnx__GraphProto *g);
/* The version of the default ("" or "ai.onnx") operator set, 0 if none. */
int64_t qz_default_opset(const Onnx__ModelProto *model);

#endif
