/* Tensor elements as values and back (see scalar.h). */
#include <math.h>
#include <stdint.h>

#include <unet/unet.h>

#include "../half.h"
#include "scalar.h"

scalar scalar_load(const void *data, int dtype, int64_t k)
{
    scalar s = { S_INT, 0, 0, 0.0 };
    switch (dtype) {
    case UNET_DTYPE_FLOAT: s.kind = S_FLOAT; s.f = ((const float *)data)[k]; break;
    case UNET_DTYPE_DOUBLE: s.kind = S_FLOAT; s.f = ((const double *)data)[k]; break;
    case UNET_DTYPE_FLOAT16: s.kind = S_FLOAT; s.f = unet_half_to_float(((const uint16_t *)data)[k]); break;
    case UNET_DTYPE_INT8: s.i = ((const int8_t *)data)[k]; break;
    case UNET_DTYPE_INT16: s.i = ((const int16_t *)data)[k]; break;
    case UNET_DTYPE_INT32: s.i = ((const int32_t *)data)[k]; break;
    case UNET_DTYPE_INT64: s.i = ((const int64_t *)data)[k]; break;
    case UNET_DTYPE_BOOL: s.i = ((const uint8_t *)data)[k] != 0; break;
    case UNET_DTYPE_UINT8: s.kind = S_UINT; s.u = ((const uint8_t *)data)[k]; break;
    case UNET_DTYPE_UINT16: s.kind = S_UINT; s.u = ((const uint16_t *)data)[k]; break;
    case UNET_DTYPE_UINT32: s.kind = S_UINT; s.u = ((const uint32_t *)data)[k]; break;
    default: s.kind = S_UINT; s.u = ((const uint64_t *)data)[k]; break;
    }
    return s;
}

/* A float to a 64-bit integer pattern: truncation toward zero, saturated,
 * NaN as 0 (ONNX leaves out-of-range casts undefined; C would too). */
int64_t scalar_float_to_i64(double f)
{
    if (isnan(f))
        return 0;
    if (f >= 9223372036854775808.0)
        return INT64_MAX;
    if (f <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)f;
}

static uint64_t float_to_u64(double f)
{
    if (isnan(f) || f <= -1.0)
        return (uint64_t)scalar_float_to_i64(f); /* negative values wrap, as numpy on x86 */
    if (f >= 18446744073709551616.0)
        return UINT64_MAX;
    return (uint64_t)f;
}

void scalar_store(void *data, int dtype, int64_t k, scalar s)
{
    /* integer targets take the two's-complement bits of the value */
    uint64_t bits = s.kind == S_INT ? (uint64_t)s.i : s.kind == S_UINT ? s.u
                  : dtype == UNET_DTYPE_UINT64 ? float_to_u64(s.f) : (uint64_t)scalar_float_to_i64(s.f);
    double f = s.kind == S_FLOAT ? s.f : s.kind == S_INT ? (double)s.i : (double)s.u;
    switch (dtype) {
    case UNET_DTYPE_FLOAT:
        ((float *)data)[k] = s.kind == S_FLOAT ? (float)s.f : s.kind == S_INT ? (float)s.i : (float)s.u;
        break;
    case UNET_DTYPE_DOUBLE: ((double *)data)[k] = f; break;
    case UNET_DTYPE_FLOAT16: ((uint16_t *)data)[k] = unet_half_from_float((float)f); break;
    case UNET_DTYPE_BOOL:
        ((uint8_t *)data)[k] = s.kind == S_FLOAT ? s.f != 0.0 : bits != 0;
        break;
    case UNET_DTYPE_INT8: case UNET_DTYPE_UINT8: ((uint8_t *)data)[k] = (uint8_t)bits; break;
    case UNET_DTYPE_INT16: case UNET_DTYPE_UINT16: ((uint16_t *)data)[k] = (uint16_t)bits; break;
    case UNET_DTYPE_INT32: case UNET_DTYPE_UINT32: ((uint32_t *)data)[k] = (uint32_t)bits; break;
    default: ((uint64_t *)data)[k] = bits; break;
    }
}
