/* The strided copy loop: an odometer over all but the last dimension, a
 * typed inner loop along the last one. */
#include <string.h>

#include "strided.h"

void dense_strides(int rank, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        strides[d] = s;
        s *= dims[d];
    }
}

#define INNER_LOOP(T)                                             \
    do {                                                          \
        T *o = (T *)out;                                          \
        const T *i = (const T *)src + off;                        \
        for (int64_t k = 0; k < n; k++)                           \
            o[k] = i[k * step];                                   \
    } while (0)

void strided_copy(void *dst, const void *src, size_t esz, int rank, const int64_t *dims,
                  const int64_t *strides, int64_t offset)
{
    int64_t total = 1;
    for (int d = 0; d < rank; d++)
        total *= dims[d];
    if (total == 0)
        return;
    int64_t n = rank > 0 ? dims[rank - 1] : 1;
    int64_t step = rank > 0 ? strides[rank - 1] : 0;
    int64_t idx[STRIDED_MAX_RANK] = { 0 };
    int64_t off = offset;
    char *out = dst;
    for (int64_t done = 0; done < total; done += n) {
        switch (esz) {
        case 1: INNER_LOOP(uint8_t); break;
        case 2: INNER_LOOP(uint16_t); break;
        case 4: INNER_LOOP(uint32_t); break;
        case 8: INNER_LOOP(uint64_t); break;
        default:
            for (int64_t k = 0; k < n; k++)
                memcpy(out + (size_t)k * esz, (const char *)src + (size_t)(off + k * step) * esz, esz);
        }
        out += (size_t)n * esz;
        for (int d = rank - 2; d >= 0; d--) {
            idx[d]++;
            off += strides[d];
            if (idx[d] < dims[d])
                break;
            off -= strides[d] * idx[d];
            idx[d] = 0;
        }
    }
}
