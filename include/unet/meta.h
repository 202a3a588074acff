/* What a segmentation model says about itself (metadata_props written by
 * unet-train, values JSON), with the documented fallbacks when absent:
 * input scaled x/255 with mean 0 and std 1, NCHW, the default palette. */
#ifndef UNET_META_H
#define UNET_META_H

#include <stdint.h>
#include <unet/unet.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UNET_META_MAX_CLASSES 255

typedef struct unet_input_spec {
    int nhwc;          /* 1 when the model takes N,H,W,C */
    float scale;       /* pixel value multiplier (1/255) */
    float mean[4];     /* subtracted after scaling, per channel */
    float std[4];      /* divided after subtracting */
} unet_input_spec;

typedef struct unet_model_meta {
    unet_input_spec input;
    int n_classes;                 /* from unet.classes or unet.colors; 0 when unknown */
    char names[UNET_META_MAX_CLASSES][64];
    uint8_t colors[UNET_META_MAX_CLASSES][3];
    int has_names, has_colors, has_input;
    int ignore_label;              /* 255 by default */
} unet_model_meta;

/* Reads unet.input, unet.classes, unet.colors and unet.ignore_label. Malformed
 * values are an error naming the key (UNET_ERR_INVALID); absent ones fall back. */
unet_status unet_model_read_meta(const unet_model *model, unet_model_meta *out);

#ifdef __cplusplus
}
#endif
#endif
