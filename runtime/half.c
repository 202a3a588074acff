/* float16 <-> float32 (see half.h). */
#include <string.h>

#include "half.h"

uint16_t unet_half_from_float(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, man = x & 0x7fffff;
    int exp = (int)((x >> 23) & 0xff);
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
    int e = exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        /* subnormal half (or zero): round the 24-bit significand to nearest even */
        if (e < -10)
            return (uint16_t)sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (h & 1)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++; /* a carry into the exponent is still correct (up to infinity) */
    return (uint16_t)(sign | h);
}

float unet_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, x;
    if (exp == 0x1f) {
        x = sign | 0x7f800000 | (man << 13);
    } else if (exp == 0) {
        if (!man) {
            x = sign;
        } else {
            int e = 0;
            while (!(man & 0x400)) {
                man <<= 1;
                e++;
            }
            x = sign | ((uint32_t)(113 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else {
        x = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}
