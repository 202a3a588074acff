/* Softmax over axis 1 of N x C x spatial tensors with few channels, on the
 * plain layout, vectorised across pixels.
 *
 * Why not oneDNN's: its JIT softmax wants the reduced axis innermost; with
 * C = 6 classes that is a 6-float row per pixel, which it handles with masked
 * vectors one pixel at a time (11 ms of a 240 ms batch of 8 tiles for the
 * default model, AVX-512), and the graph output then needs a reorder back to
 * NCHW. Here each of the C planes is read and written contiguously, 16 pixels
 * per instruction where the CPU has AVX-512, and the result is NCHW at once. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../error.h"
#include "../ops.h"
#include "softmax_channels.h"

/* Pixels handled together: C planes of this many floats stay in L1. */
#define PIXEL_CHUNK 256

/* expf for x <= 0 (x - max), branch-free so that loops over it vectorise:
 * x = n ln2 + r with |r| <= ln2 / 2, e^r by the minimax polynomial of
 * Cephes' expf (relative error about 2e-7), 2^n built in the exponent bits.
 * Inputs below -87 give e^-87 (1.6e-38): against the sum, which is >= 1 (the
 * maximum contributes e^0), that is zero to float precision. */
static inline float exp_nonpositive(float x)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    x = x < -87.0f ? -87.0f : x;
    float t = x * 1.44269504088896341f + magic;
    uint32_t tb; /* unsigned: NaN inputs give any bits, and must not overflow a shift */
    memcpy(&tb, &t, sizeof tb);
    float n = t - magic;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float r2 = r * r;
    float poly = 1.9875691500e-4f;
    poly = poly * r + 1.3981999507e-3f;
    poly = poly * r + 8.3334519073e-3f;
    poly = poly * r + 4.1665795894e-2f;
    poly = poly * r + 1.6666665459e-1f;
    poly = poly * r + 5.0000001201e-1f;
    float er = poly * r2 + r + 1.0f;
    uint32_t scale_bits = (tb - 0x4B400000u + 127u) << 23; /* tb - bits(magic) = n */
    float scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    return er * scale;
}

/* One chunk of `count` pixels: planes of x and y are `plane` floats apart. */
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
static void softmax_chunk(const float *x, float *y, int64_t channels, int64_t plane, int count)
{
    float top[PIXEL_CHUNK], sum[PIXEL_CHUNK];
    for (int j = 0; j < count; j++)
        top[j] = x[j];
    for (int64_t c = 1; c < channels; c++)
        for (int j = 0; j < count; j++)
            top[j] = x[c * plane + j] > top[j] ? x[c * plane + j] : top[j];
    for (int j = 0; j < count; j++)
        sum[j] = 0.0f;
    for (int64_t c = 0; c < channels; c++)
        for (int j = 0; j < count; j++) {
            float e = exp_nonpositive(x[c * plane + j] - top[j]);
            y[c * plane + j] = e;
            sum[j] += e;
        }
    for (int j = 0; j < count; j++)
        sum[j] = 1.0f / sum[j];
    for (int64_t c = 0; c < channels; c++)
        for (int j = 0; j < count; j++)
            y[c * plane + j] *= sum[j];
}

static unet_status softmax_channels_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n; (void)n_in; (void)n_out;
    const int64_t batch = in[0].dims[0], channels = in[0].dims[1];
    int64_t plane = 1;
    for (int d = 2; d < in[0].rank; d++)
        plane *= in[0].dims[d];
    const int64_t chunks = (plane + PIXEL_CHUNK - 1) / PIXEL_CHUNK;
    const float *x = in[0].data;
    float *y = out[0].data;
    /* NaN inputs propagate as NaN (comparisons keep the first operand's
     * maximum; exp and the sum carry it), as in oneDNN's softmax. */
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < batch * chunks; k++) {
        int64_t b = k / chunks, first = (k % chunks) * PIXEL_CHUNK;
        int count = (int)(plane - first < PIXEL_CHUNK ? plane - first : PIXEL_CHUNK);
        size_t at = (size_t)(b * channels * plane + first);
        softmax_chunk(x + at, y + at, channels, plane, count);
    }
    return UNET_OK;
}

int softmax_channels_applies(const plan_t *p, const node_t *n, int axis)
{
    const ptensor *t = &p->t[n->in[0]];
    return !strcmp(n->op_type, "Softmax") && n->opset >= 13 && axis == 1 && t->rank >= 3 &&
           t->dtype == UNET_DTYPE_FLOAT && t->dims[1] >= 1 && t->dims[1] <= SOFTMAX_CHANNELS_MAX;
}

unet_status softmax_channels_build(plan_t *p, const node_t *n)
{
    int in[1] = { n->in[0] }, out[1] = { n->out[0] };
    return plan_add_plain(p, n, in, 1, out, 1, softmax_channels_run);
}
