/* One tensor element of any numeric type as a value of the widest type of
 * its kind, and back: Cast's conversions and Pad's fill value, with ONNX's
 * rules where it has them (float16 rounded to nearest even; integer targets
 * take two's-complement bits; floats to integers truncate, saturate, NaN 0). */
#ifndef UNET_RUNTIME_OPS_SCALAR_H
#define UNET_RUNTIME_OPS_SCALAR_H

#include <stdint.h>

/* One element in the widest type of its kind, so that no conversion rounds twice. */
typedef struct scalar {
    enum { S_INT, S_UINT, S_FLOAT } kind;
    int64_t i;
    uint64_t u;
    double f;
} scalar;

/* Element k of data (of type dtype). */
scalar scalar_load(const void *data, int dtype, int64_t k);
void scalar_store(void *data, int dtype, int64_t k, scalar s);
/* A float to a 64-bit integer: truncation toward zero, saturated, NaN as 0. */
int64_t scalar_float_to_i64(double f);

#endif
