/* Training-time augmentation: the 8 symmetries of the square (flips and
 * quarter turns, applied identically to image and mask) and brightness /
 * contrast / saturation / per-channel gain jitter of the image (scenes differ
 * in colour balance, so the network should not lean on exact hues); plus the conversion of 8-bit RGB to the
 * network's [0,1] NCHW floats.
 *
 * A symmetry op is 0..7: bit 2 set = mirror left-right first, then (op & 3)
 * quarter turns clockwise. Odd turns need square tiles. Every draw is a
 * function of (seed, sample) only, so runs repeat exactly. */
#ifndef UNET_TRAINER_AUGMENT_H
#define UNET_TRAINER_AUGMENT_H

#include <stdint.h>

#define AUG_OPS 8
#define AUG_BRIGHTNESS 0.1f   /* added offset drawn from [-0.1, 0.1] */
#define AUG_CONTRAST 0.15f    /* factor drawn from [0.85, 1.15] around the tile mean */
#define AUG_SATURATION 0.2f   /* factor drawn from [0.8, 1.2] around each pixel's grey */
#define AUG_GAIN 0.06f        /* per-channel factor drawn from [0.94, 1.06] */

typedef struct aug_params {
    int op;           /* symmetry 0..7 */
    float brightness; /* added after scaling to [0,1] */
    float contrast;   /* multiplies the distance from the tile's mean */
    float saturation; /* multiplies each channel's distance from the pixel's grey */
    float gain[3];    /* multiplies each channel, last */
} aug_params;

/* The identity: op 0, no jitter. */
void aug_identity(aug_params *p);
/* Draws the augmentation of one sample. square = 0 restricts ops to those
 * that keep a non-square shape (mirror, half turn). */
void aug_draw(uint64_t seed, uint64_t sample, int square, aug_params *p);

/* The op that undoes op. */
int aug_inverse(int op);
/* dst = op applied to src (width x height x channels bytes, row-major,
 * interleaved); odd quarter turns need width == height. dst != src. */
void aug_transform(const uint8_t *src, uint8_t *dst, int width, int height, int channels, int op);

/* 8-bit RGB (interleaved) -> 3 planes of floats in [0,1], x/255, then
 * v = (x - mean) * contrast + mean + brightness, mean being the tile's mean
 * over all channels; then v = (grey + (v - grey) * saturation) * gain[c],
 * grey the pixel's mean of v over channels; clamped to [0,1] (no jitter when
 * p is NULL). */
void aug_to_planar(const uint8_t *rgb, int width, int height, const aug_params *p, float *chw);

#endif
