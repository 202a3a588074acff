/* Tiling geometry: window origins along an axis and the 2-D plan of windows
 * (modes are described in unet/tiling.h). */
#include <stdint.h>
#include <stdlib.h>

#include <unet/tiling.h>

#include "error.h"

static const char *mode_name(unet_tiling_mode mode)
{
    switch (mode) {
    case UNET_TILING_ALIGN_EDGE: return "align-edge";
    case UNET_TILING_PAD: return "pad";
    case UNET_TILING_DROP_PARTIAL: return "drop-partial";
    }
    return "unknown";
}

static unet_status check_args(int length, int tile, int stride, unet_tiling_mode mode)
{
    if (mode != UNET_TILING_ALIGN_EDGE && mode != UNET_TILING_PAD && mode != UNET_TILING_DROP_PARTIAL)
        return unet_set_error(UNET_ERR_ARG, "tiling: unknown mode %d", (int)mode);
    if (length < 1) return unet_set_error(UNET_ERR_ARG, "tiling: image side %d, must be at least 1", length);
    if (tile < 1) return unet_set_error(UNET_ERR_ARG, "tiling: tile size %d, must be at least 1", tile);
    if (stride < 1 || stride > tile)
        return unet_set_error(UNET_ERR_ARG,
                              "tiling: stride %d (tile %d minus overlap %d) must be in 1..%d",
                              stride, tile, tile - stride, tile);
    return UNET_OK;
}

/* Number of windows along one axis; arguments already checked. */
static size_t axis_count(int length, int tile, int stride, unet_tiling_mode mode)
{
    if (length <= tile) {
        if (mode == UNET_TILING_DROP_PARTIAL) return length == tile ? 1 : 0;
        return 1;
    }
    int64_t rest = (int64_t)length - tile; /* > 0 */
    if (mode == UNET_TILING_DROP_PARTIAL) return (size_t)(rest / stride + 1);
    /* ALIGN_EDGE and PAD both need ceil(rest / stride) steps after the first. */
    return (size_t)((rest + stride - 1) / stride + 1);
}

unet_status unet_tiling_axis(int length, int tile, int stride, unet_tiling_mode mode,
                             int *origins, size_t capacity, size_t *count)
{
    UNET_TRY(check_args(length, tile, stride, mode));
    size_t n = axis_count(length, tile, stride, mode);
    if (count) *count = n;
    if (!origins) return UNET_OK;
    if (capacity < n)
        return unet_set_error(UNET_ERR_LIMIT, "tiling: %zu windows along a side of %d, room for %zu",
                              n, length, capacity);
    for (size_t i = 0; i < n; i++) origins[i] = (int)((int64_t)i * stride);
    if (mode == UNET_TILING_ALIGN_EDGE && length > tile) origins[n - 1] = length - tile;
    return UNET_OK;
}

unet_status unet_tiling_plan(int width, int height, int tile, int stride, unet_tiling_mode mode,
                             unet_window **out, size_t *count)
{
    if (!out || !count) return unet_set_error(UNET_ERR_ARG, "tiling: NULL output");
    *out = NULL;
    *count = 0;
    size_t nx = 0, ny = 0;
    UNET_TRY(unet_tiling_axis(width, tile, stride, mode, NULL, 0, &nx));
    UNET_TRY(unet_tiling_axis(height, tile, stride, mode, NULL, 0, &ny));
    if (nx == 0 || ny == 0) return UNET_OK;
    /* nx, ny <= 2^31 each; their product and the bytes must fit a size_t. */
    if (ny > SIZE_MAX / nx || nx * ny > SIZE_MAX / sizeof(unet_window) / 2)
        return unet_set_error(UNET_ERR_LIMIT, "tiling: %zu x %zu windows (%s) is too many", nx, ny,
                              mode_name(mode));

    int *xs = malloc(nx * sizeof *xs);
    int *ys = malloc(ny * sizeof *ys);
    unet_window *w = malloc(nx * ny * sizeof *w);
    if (!xs || !ys || !w) {
        free(xs);
        free(ys);
        free(w);
        return unet_set_error(UNET_ERR_NOMEM, "tiling: out of memory for %zu windows", nx * ny);
    }
    (void)unet_tiling_axis(width, tile, stride, mode, xs, nx, NULL);
    (void)unet_tiling_axis(height, tile, stride, mode, ys, ny, NULL);
    size_t k = 0;
    for (size_t j = 0; j < ny; j++) {
        for (size_t i = 0; i < nx; i++, k++) {
            w[k].x = xs[i];
            w[k].y = ys[j];
            w[k].width = width - xs[i] < tile ? width - xs[i] : tile;
            w[k].height = height - ys[j] < tile ? height - ys[j] : tile;
        }
    }
    free(xs);
    free(ys);
    *out = w;
    *count = nx * ny;
    return UNET_OK;
}
