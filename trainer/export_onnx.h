/* Export of a trained U-Net as an ONNX model (opset 17, IR version 8) that
 * onnx.checker, ONNX Runtime and libunet all accept: symbolic N/H/W, weights as
 * little-endian raw_data initializers, inference-form BatchNormalization, the
 * softmax probabilities as the output and the class palette in metadata_props. */
#ifndef UNET_TRAINER_EXPORT_ONNX_H
#define UNET_TRAINER_EXPORT_ONNX_H

#include <unet/unet.h>

#include "net.h"

#define UNET_EXPORT_OPSET 17
#define UNET_EXPORT_IR_VERSION 8
#define UNET_EXPORT_BN_EPSILON 1e-5f

typedef struct unet_export_meta {
    /* n_classes entries each, equal to the architecture's n_classes; either
     * array may be NULL to leave its metadata key out (the runtime then falls
     * back to the default palette). Colours are "#RRGGBB". */
    int n_classes;
    const char *const *class_names;
    const char *const *class_colors;
    /* A JSON value (usually an object) stored as unet.training; NULL to omit. */
    const char *training_json;
    /* NULL: UNET_VERSION_STRING. */
    const char *producer_version;
} unet_export_meta;

/* Writes params as an ONNX model to path, atomically: a temporary file in the
 * same directory is written, synced and renamed over path, and removed on any
 * failure. meta may be NULL (no class metadata, default producer version).
 * Fails with a message (parameter name, expected vs found) when params do not
 * match their architecture or hold non-finite values. */
unet_status unet_export_onnx(const char *path, const unet_params *params,
                             const unet_export_meta *meta);

#endif
