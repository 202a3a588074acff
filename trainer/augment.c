/* Flips, quarter turns and colour jitter for training tiles. */
#include <string.h>

#include "augment.h"

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1) from 24 random bits. */
static float unit_signed(uint64_t r) { return (float)(r >> 40) / (float)(1u << 23) - 1.0f; }

void aug_identity(aug_params *p)
{
    p->op = 0;
    p->brightness = 0.0f;
    p->contrast = 1.0f;
    p->saturation = 1.0f;
    for (int c = 0; c < 3; c++)
        p->gain[c] = 1.0f;
}

void aug_draw(uint64_t seed, uint64_t sample, int square, aug_params *p)
{
    const uint64_t base = mix64(seed ^ mix64(sample + 0x632be59bd9b4e019ULL));
    const uint64_t r0 = mix64(base), r1 = mix64(base + 1), r2 = mix64(base + 2);
    p->op = square ? (int)(r0 % AUG_OPS) : (int)(r0 % 4) * 2; /* 0, 2, 4, 6: no odd turn */
    p->brightness = AUG_BRIGHTNESS * unit_signed(r1);
    p->contrast = 1.0f + AUG_CONTRAST * unit_signed(r2);
    p->saturation = 1.0f + AUG_SATURATION * unit_signed(mix64(base + 3));
    for (int c = 0; c < 3; c++)
        p->gain[c] = 1.0f + AUG_GAIN * unit_signed(mix64(base + 4 + (uint64_t)c));
}

int aug_inverse(int op)
{
    /* Mirrors are their own inverse; a rotation by k is undone by 4 - k. */
    return (op & 4) ? op : (4 - (op & 3)) & 3;
}

void aug_transform(const uint8_t *src, uint8_t *dst, int width, int height, int channels, int op)
{
    const int mirror = (op & 4) != 0, turns = op & 3;
    const int dw = (turns & 1) ? height : width;
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            /* Where source pixel (x, y) lands: mirror, then quarter turns
             * clockwise, (x, y) in a w x h frame -> (h - 1 - y, x). */
            int px = mirror ? width - 1 - x : x, py = y, w = width, h = height;
            for (int k = 0; k < turns; k++) {
                const int nx = h - 1 - py;
                py = px;
                px = nx;
                const int t = w;
                w = h;
                h = t;
            }
            memcpy(dst + ((size_t)py * (size_t)dw + (size_t)px) * (size_t)channels,
                   src + ((size_t)y * (size_t)width + (size_t)x) * (size_t)channels,
                   (size_t)channels);
        }
    }
}

void aug_to_planar(const uint8_t *rgb, int width, int height, const aug_params *p, float *chw)
{
    const size_t hw = (size_t)width * (size_t)height;
    const float inv255 = 1.0f / 255.0f;
    if (!p || (p->brightness == 0.0f && p->contrast == 1.0f && p->saturation == 1.0f &&
               p->gain[0] == 1.0f && p->gain[1] == 1.0f && p->gain[2] == 1.0f)) {
        for (size_t i = 0; i < hw; i++)
            for (int c = 0; c < 3; c++)
                chw[(size_t)c * hw + i] = (float)rgb[3 * i + (size_t)c] * inv255;
        return;
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < 3 * hw; i++)
        sum += rgb[i];
    const float mean = (float)((double)sum / (3.0 * (double)hw) / 255.0);
    const float offset = mean - p->contrast * mean + p->brightness;
    for (size_t i = 0; i < hw; i++) {
        float v[3];
        for (int c = 0; c < 3; c++)
            v[c] = (float)rgb[3 * i + (size_t)c] * inv255 * p->contrast + offset;
        const float grey = (v[0] + v[1] + v[2]) * (1.0f / 3.0f);
        for (int c = 0; c < 3; c++) {
            const float w = (grey + (v[c] - grey) * p->saturation) * p->gain[c];
            chw[(size_t)c * hw + i] = w < 0.0f ? 0.0f : w > 1.0f ? 1.0f : w;
        }
    }
}
