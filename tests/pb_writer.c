/* See pb_writer.h. */
#include <stdlib.h>
#include <string.h>

#include "pb_writer.h"

void pb_free(pb *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void pb_raw(pb *b, const void *bytes, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d)
            abort();
        b->data = d;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, bytes, n);
    b->len += n;
}

void pb_varint(pb *b, uint64_t v)
{
    uint8_t buf[10];
    size_t n = 0;
    do {
        buf[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            buf[n] |= 0x80;
        n++;
    } while (v);
    pb_raw(b, buf, n);
}

void pb_key(pb *b, int field, int wire) { pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire); }

void pb_int(pb *b, int field, int64_t v)
{
    pb_key(b, field, 0);
    pb_varint(b, (uint64_t)v); /* negative int64: ten bytes, as protobuf does */
}

void pb_float(pb *b, int field, float v)
{
    pb_key(b, field, 5);
    pb_raw(b, &v, 4); /* little-endian host */
}

void pb_bytes(pb *b, int field, const void *bytes, size_t n)
{
    pb_key(b, field, 2);
    pb_varint(b, n);
    pb_raw(b, bytes, n);
}

void pb_str(pb *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }

void pb_msg(pb *b, int field, pb *sub)
{
    pb_bytes(b, field, sub->data, sub->len);
    pb_free(sub);
}

void pb_value_info(pb *graph, int field, const char *name, int elem_type, int rank, const int64_t *dims)
{
    pb shape = { 0 }, tensor = { 0 }, type = { 0 }, vi = { 0 };
    for (int d = 0; d < rank; d++) {
        pb dim = { 0 };
        if (dims[d] == -1)
            pb_str(&dim, 2, "N");
        else
            pb_int(&dim, 1, dims[d]);
        pb_msg(&shape, 1, &dim);
    }
    pb_int(&tensor, 1, elem_type);
    if (rank >= 0)
        pb_msg(&tensor, 2, &shape);
    pb_free(&shape);
    pb_msg(&type, 1, &tensor);
    pb_str(&vi, 1, name);
    pb_msg(&vi, 2, &type);
    pb_msg(graph, field, &vi);
}

void pb_node(pb *graph, const char *op_type, const char *in, const char *out, pb *attrs)
{
    pb node = { 0 };
    pb_str(&node, 1, in);
    pb_str(&node, 2, out);
    pb_str(&node, 4, op_type);
    if (attrs) {
        pb_raw(&node, attrs->data, attrs->len);
        pb_free(attrs);
    }
    pb_msg(graph, 1, &node);
}

void pb_model(pb *model, int64_t opset, pb *graph)
{
    pb op = { 0 };
    pb_int(model, 1, 8);
    pb_str(&op, 1, "");
    pb_int(&op, 2, opset);
    pb_msg(model, 8, &op);
    pb_msg(model, 7, graph);
}
