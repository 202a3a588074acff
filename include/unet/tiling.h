/* Tiling geometry: the square windows that cut an image into tiles, shared by
 * unet-tile (training tiles) and whole-scene inference.
 *
 * Along each axis of length L, with tile size T and stride S (S = T - overlap,
 * 1 <= S <= T), window origins are 0, S, 2S, ... and the modes differ only at
 * the far edge:
 *
 *  UNET_TILING_ALIGN_EDGE  while L > T, the last window is moved back to end
 *                          exactly at the edge (origin L - T), so no window
 *                          leaves the image; it then overlaps its neighbour
 *                          by more than T - S. Origins: 0, S, ..., kS, L - T
 *                          with kS < L - T. Inference uses this.
 *  UNET_TILING_PAD         origins stay on the grid; the last window reaches
 *                          past the edge and the caller pads it. Origins: 0,
 *                          S, ..., kS with kS + T >= L and (k-1)S + T < L.
 *  UNET_TILING_DROP_PARTIAL only windows wholly inside the image: 0, S, ...,
 *                          kS with kS + T <= L; pixels past the last one are
 *                          not covered (none at all when L < T).
 *
 * When L <= T every mode but DROP_PARTIAL gives one window at 0 whose part
 * inside the image is L long (padded up to T by the caller when L < T).
 * ALIGN_EDGE and PAD cover every pixel at least once. Windows come in
 * row-major order (y, then x).
 */
#ifndef UNET_TILING_H
#define UNET_TILING_H

#include <stddef.h>
#include <unet/unet.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum unet_tiling_mode {
    UNET_TILING_ALIGN_EDGE = 0,
    UNET_TILING_PAD = 1,
    UNET_TILING_DROP_PARTIAL = 2
} unet_tiling_mode;

/* One tile-sized window: origin (x, y) in image pixels; width and height are
 * the part inside the image (< tile where the window is padded). */
typedef struct unet_window {
    int x, y;
    int width, height;
} unet_window;

/* Window origins along one axis. origins may be NULL to count only; otherwise
 * it must hold capacity entries (UNET_ERR_LIMIT when too few). *count gets the
 * number of windows. */
unet_status unet_tiling_axis(int length, int tile, int stride, unet_tiling_mode mode,
                             int *origins, size_t capacity, size_t *count);

/* All windows of a width x height image, row-major. *out is allocated with
 * malloc (free() it; NULL when *count is 0). */
unet_status unet_tiling_plan(int width, int height, int tile, int stride, unet_tiling_mode mode,
                             unet_window **out, size_t *count);

#ifdef __cplusplus
}
#endif
#endif
