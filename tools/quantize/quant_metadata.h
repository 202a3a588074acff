/* The model's metadata_props after quantisation: every key the float model
 * had stays (unet.classes, unet.input, ...), and unet.quantization records
 * how the file was made, as JSON. */
#ifndef UNET_TOOLS_QUANTIZE_QUANT_METADATA_H
#define UNET_TOOLS_QUANTIZE_QUANT_METADATA_H

#include <unet/unet.h>

#include "onnx.pb-c.h"

typedef struct qz_summary {
    const char *method;      /* "minmax", "percentile", "entropy" */
    double percentile;       /* used by "percentile" */
    const char *calibration; /* the tiles folder as given */
    int tiles;               /* images the statistics came from */
    int activation_bits;     /* 8: uint8 0..255 */
    int convs_quantized;     /* Conv nodes int8 */
    int conv_transposes_quantized;
    int convs_float;         /* Conv and ConvTranspose nodes left float32 */
    int batchnorms_folded;
    int input_convs;         /* 1: the Convs reading the image input are int8 too */
} qz_summary;

/* The JSON object for sm (malloc'd), or NULL when out of memory. */
char *qz_summary_json(const qz_summary *sm);
/* Sets key to value, replacing an entry of that key or adding one. */
unet_status qz_metadata_set(Onnx__ModelProto *model, const char *key, const char *value);

#endif
