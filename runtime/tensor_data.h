/* Decoding ONNX TensorProto payloads into plain bytes, sizes checked first. */
#ifndef UNET_RUNTIME_TENSOR_DATA_H
#define UNET_RUNTIME_TENSOR_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <unet/unet.h>

#include "onnx.pb-c.h"

typedef struct tensor_load_ctx {
    const char *base_dir;     /* the model's folder, NULL when loading from memory */
    int allow_external;
    uint64_t max_elements;
} tensor_load_ctx;

/* On success *data is malloc'ed (nbytes, at least 1 byte allocated). */
unet_status tensor_from_proto(const Onnx__TensorProto *t, const tensor_load_ctx *ctx,
                              int *dtype, int *rank, int64_t *dims, void **data, size_t *nbytes);

#endif
