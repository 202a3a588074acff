/* A raw protobuf writer for hostile-model tests: fields are written exactly
 * as given, so a test can declare sizes, counts and lengths that no honest
 * encoder (protobuf-c, onnx_builder) would produce, and can build very large
 * graphs in linear time. Test code only: allocation failures abort. */
#ifndef UNET_TESTS_PB_WRITER_H
#define UNET_TESTS_PB_WRITER_H

#include <stddef.h>
#include <stdint.h>

typedef struct pb {
    uint8_t *data;
    size_t len, cap;
} pb;

void pb_free(pb *b);
void pb_raw(pb *b, const void *bytes, size_t n);
void pb_varint(pb *b, uint64_t v);
/* Field keys: wire type 0 (varint), 2 (length-delimited), 5 (32-bit). */
void pb_key(pb *b, int field, int wire);
void pb_int(pb *b, int field, int64_t v);
void pb_float(pb *b, int field, float v);
void pb_bytes(pb *b, int field, const void *bytes, size_t n);
void pb_str(pb *b, int field, const char *s);
/* Appends sub as an embedded message and frees it. */
void pb_msg(pb *b, int field, pb *sub);

/* ONNX pieces (field numbers from proto/onnx.proto). */
/* ValueInfoProto of a tensor; a dim of -1 becomes the symbol "N", any other
 * value is written as given (negative ones too). */
void pb_value_info(pb *graph, int field, const char *name, int elem_type, int rank, const int64_t *dims);
/* A NodeProto with one input and one output (either may be ""); attrs is an
 * already encoded list of AttributeProto fields, or NULL. */
void pb_node(pb *graph, const char *op_type, const char *in, const char *out, pb *attrs);
/* A ModelProto around graph (freed): ir_version 8, default domain at opset. */
void pb_model(pb *model, int64_t opset, pb *graph);

#endif
