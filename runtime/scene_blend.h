/* Blending of overlapping window outputs for whole-scene inference, in a band
 * of rows that moves down the scene, so memory grows with the scene's width,
 * not its area.
 *
 * Each window's class scores are added with the weight w(i) * w(j) of a
 * separable Gaussian centred on the window (sigma = tile / 8, as MONAI and
 * nnU-Net do): window borders, where zero padding inside the network makes
 * predictions worst, count little but never zero (w >= exp(-8) at the edge).
 * A pixel's blended score is its weighted sum divided by the sum of the
 * weights that reached it. The windows form a grid (every x origin with every
 * y origin), so that sum is Sx(x) * Sy(y), with Sx and Sy the sums along each
 * axis, and needs no buffer of its own.
 *
 * Windows are added in row-major order; before adding windows whose top is y,
 * the rows above y are complete and are emitted (blend_band_emit), which frees
 * their place in the ring of min(tile, height) rows. */
#ifndef UNET_RUNTIME_SCENE_BLEND_H
#define UNET_RUNTIME_SCENE_BLEND_H

#include <stddef.h>
#include <unet/tiling.h>
#include <unet/unet.h>

typedef struct blend_band blend_band;

/* The weight of offset i (0..tile-1) inside a window along one axis. */
float blend_weight(int tile, int i);

/* A band for a width x height scene cut into tile x tile windows whose
 * distinct origins are xs[0..nx) and ys[0..ny) (ascending), classes scores
 * per pixel. */
unet_status blend_band_create(int width, int height, int tile, int classes, const int *xs, int nx,
                              const int *ys, int ny, blend_band **out);
void blend_band_free(blend_band *b);

/* Adds the scores of window win: score (k, y, x) of the window, 0 <= y, x <
 * tile, is scores[k * class_stride + y * row_stride + x * col_stride]. Only
 * the part inside the scene (win->width x win->height) is used. The rows
 * above win->y must have been emitted and win->y must not be above them. */
unet_status blend_band_add(blend_band *b, const unet_window *win, const float *scores,
                           size_t class_stride, size_t row_stride, size_t col_stride);

/* Called once per finished row, top to bottom: probs holds the blended scores
 * class-major (classes x width floats), valid during the call only. A non-zero
 * return stops the emission and is returned by blend_band_emit. */
typedef int (*blend_row_fn)(void *ctx, int y, const float *probs);
/* Emits rows from the first not yet emitted up to (not including) y_end. */
int blend_band_emit(blend_band *b, int y_end, blend_row_fn fn, void *ctx);

#endif
