/* Metadata of the quantised model: see quant_metadata.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "json_out.h"
#include "onnx_edit.h"
#include "quant_metadata.h"

/* s as a JSON string (quotes included) appended to buf. */
static void json_string(char *buf, size_t size, const char *s)
{
    size_t len = strlen(buf);
    char esc[8];
    if (len + 1 < size)
        buf[len++] = '"';
    for (; *s && len + 8 < size; s++) {
        const char *e = json_escape_byte((unsigned char)*s, esc);
        if (e) {
            size_t n = strlen(e);
            memcpy(buf + len, e, n);
            len += n;
        } else {
            buf[len++] = *s;
        }
    }
    if (len + 1 < size)
        buf[len++] = '"';
    buf[len] = 0;
}

char *qz_summary_json(const qz_summary *sm)
{
    size_t size = 6 * strlen(sm->calibration) + 1024; /* every byte may become \u00XX */
    char *buf = malloc(size);
    if (!buf)
        return NULL;
    snprintf(buf, size, "{\"program\":\"unet-quantize\",\"version\":\"%s\",\"format\":\"QDQ\",\"method\":",
             UNET_VERSION_STRING);
    json_string(buf, size, sm->method);
    size_t len = strlen(buf);
    if (strcmp(sm->method, "percentile") == 0)
        len += (size_t)snprintf(buf + len, size - len, ",\"percentile\":%.10g", sm->percentile);
    snprintf(buf + len, size - len, ",\"calibration\":");
    json_string(buf, size, sm->calibration);
    len = strlen(buf);
    char acts[160];
    if (sm->activation_bits < 8)
        snprintf(acts, sizeof acts, "uint8 per tensor, 0..%d (a Clip before each QuantizeLinear), the image input 0..255",
                 (1 << sm->activation_bits) - 1);
    else
        snprintf(acts, sizeof acts, "uint8 per tensor, 0..255");
    snprintf(buf + len, size - len,
             ",\"tiles\":%d,\"activation_bits\":%d,\"activations\":\"%s\","
             "\"weights\":\"int8 symmetric per output channel\",\"convs_quantized\":%d,"
             "\"conv_transposes_quantized\":%d,\"convs_float\":%d,\"input_convs\":\"%s\",\"batchnorms_folded\":%d}",
             sm->tiles, sm->activation_bits, acts, sm->convs_quantized, sm->conv_transposes_quantized, sm->convs_float,
             sm->input_convs ? "int8" : "float32", sm->batchnorms_folded);
    return buf;
}

unet_status qz_metadata_set(Onnx__ModelProto *model, const char *key, const char *value)
{
    char *v = qz_strdup(value);
    if (!v)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < model->n_metadata_props; i++) {
        Onnx__StringStringEntryProto *e = model->metadata_props[i];
        if (e->key && strcmp(e->key, key) == 0) {
            free(e->value);
            e->value = v;
            return UNET_OK;
        }
    }
    Onnx__StringStringEntryProto *e = malloc(sizeof *e);
    if (e) {
        onnx__string_string_entry_proto__init(e);
        e->key = qz_strdup(key);
        e->value = v;
        v = NULL;
    }
    if (!e || !e->key || qz_append((void ***)&model->metadata_props, &model->n_metadata_props, e) != 0) {
        free(v);
        if (e)
            onnx__string_string_entry_proto__free_unpacked(e, NULL);
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    }
    return UNET_OK;
}
