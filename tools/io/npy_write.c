/* .npy version 1.0: magic, header length, a Python dict literal padded to a
 * multiple of 64 bytes, then the little-endian data. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "error.h"
#include "npy_write.h"

uint16_t float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10)
            return (uint16_t)sign;
        mant |= 0x800000;
        int shift = 14 - exp;
        uint32_t half = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exp << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
        half++; /* may carry into the exponent, which rounds up correctly */
    return (uint16_t)half;
}

unet_status npy_write_f16(const char *path, const float *data, int c, int h, int w)
{
    char header[128];
    int hl = snprintf(header, sizeof header, "{'descr': '<f2', 'fortran_order': False, 'shape': (%d, %d, %d), }", c, h, w);
    int total = 10 + hl + 1;
    int pad = (64 - total % 64) % 64;
    atomic_file a;
    UNET_TRY(atomic_file_open(&a, path));
    FILE *f = a.f;
    errno = 0;
    uint16_t hlen = (uint16_t)(hl + pad + 1);
    unsigned char magic[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8) };
    int ok = fwrite(magic, 1, 10, f) == 10 && fwrite(header, 1, (size_t)hl, f) == (size_t)hl;
    for (int i = 0; ok && i < pad; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    size_t n = (size_t)c * h * w;
    uint16_t buf[4096];
    for (size_t i = 0; ok && i < n; i += 4096) {
        size_t k = n - i < 4096 ? n - i : 4096;
        for (size_t j = 0; j < k; j++)
            buf[j] = float_to_half(data[i + j]);
        ok = fwrite(buf, 2, k, f) == k;
    }
    return atomic_file_commit(&a, ok ? 0 : errno ? errno : EIO);
}
