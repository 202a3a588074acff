/* Copying a strided view of a dense tensor into a dense row-major tensor: the
 * engine shared by Transpose, Slice, Expand and Tile, each of which is only a
 * choice of per-dimension source strides (permuted, scaled by the step, zero
 * for a broadcast dimension). */
#ifndef UNET_RUNTIME_OPS_STRIDED_H
#define UNET_RUNTIME_OPS_STRIDED_H

#include <stddef.h>
#include <stdint.h>

#include <unet/unet.h>

/* Tile views a tensor of rank r as one of rank 2r. */
#define STRIDED_MAX_RANK (2 * UNET_MAX_RANK)

/* dst[i0..ik] = src[offset + sum(i_d * strides[d])], strides and offset in
 * elements of esz bytes; dims are the destination's. */
void strided_copy(void *dst, const void *src, size_t esz, int rank, const int64_t *dims,
                  const int64_t *strides, int64_t offset);

/* Row-major element strides of a shape. */
void dense_strides(int rank, const int64_t *dims, int64_t *strides);

#endif
