/* The blending band described in scene_blend.h. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scene_blend.h"
#include "error.h"

struct blend_band {
    int width, height, tile, classes;
    int rows;           /* ring height: min(tile, height) */
    int next;           /* first row not yet emitted */
    float *acc;         /* rows x classes x width weighted sums */
    float *out;         /* classes x width: the row being emitted */
    float *w;           /* tile weights along one axis */
    float *sx, *sy;     /* weight sums along x and along y */
};

float blend_weight(int tile, int i)
{
    double sigma = tile / 8.0;
    double d = (i + 0.5) - tile / 2.0; /* distance from the window's centre */
    return (float)exp(-d * d / (2.0 * sigma * sigma));
}

static void axis_sums(float *sum, int length, int tile, const float *w, const int *origins, int n)
{
    for (int i = 0; i < length; i++)
        sum[i] = 0.0f;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < tile && origins[k] + i < length; i++)
            sum[origins[k] + i] += w[i];
}

unet_status blend_band_create(int width, int height, int tile, int classes, const int *xs, int nx,
                              const int *ys, int ny, blend_band **out)
{
    *out = NULL;
    if (width < 1 || height < 1 || tile < 1 || classes < 1 || nx < 1 || ny < 1)
        return unet_set_error(UNET_ERR_ARG, "blend band: %dx%d scene, tile %d, %d classes, %dx%d windows",
                              width, height, tile, classes, nx, ny);
    for (int k = 0; k < nx; k++)
        if (xs[k] < 0 || xs[k] >= width || (k > 0 && xs[k] <= xs[k - 1]))
            return unet_set_error(UNET_ERR_ARG, "blend band: x origin %d of %d is %d (width %d)", k, nx, xs[k], width);
    for (int k = 0; k < ny; k++)
        if (ys[k] < 0 || ys[k] >= height || (k > 0 && ys[k] <= ys[k - 1]))
            return unet_set_error(UNET_ERR_ARG, "blend band: y origin %d of %d is %d (height %d)", k, ny, ys[k], height);
    int rows = tile < height ? tile : height;
    size_t plane = (size_t)classes * (size_t)width;
    if (plane > SIZE_MAX / sizeof(float) / (size_t)(rows + 1))
        return unet_set_error(UNET_ERR_LIMIT, "blend band: %d rows of %d x %d scores do not fit in memory", rows, width, classes);
    blend_band *b = calloc(1, sizeof *b);
    if (!b)
        return unet_set_error(UNET_ERR_NOMEM, "blend band: out of memory");
    b->width = width;
    b->height = height;
    b->tile = tile;
    b->classes = classes;
    b->rows = rows;
    b->acc = calloc((size_t)rows * plane, sizeof *b->acc);
    b->out = malloc(plane * sizeof *b->out);
    b->w = malloc((size_t)tile * sizeof *b->w);
    b->sx = malloc((size_t)width * sizeof *b->sx);
    b->sy = malloc((size_t)height * sizeof *b->sy);
    if (!b->acc || !b->out || !b->w || !b->sx || !b->sy) {
        blend_band_free(b);
        return unet_set_error(UNET_ERR_NOMEM, "blend band: out of memory for %d rows of %d x %d scores", rows,
                              width, classes);
    }
    for (int i = 0; i < tile; i++)
        b->w[i] = blend_weight(tile, i);
    axis_sums(b->sx, width, tile, b->w, xs, nx);
    axis_sums(b->sy, height, tile, b->w, ys, ny);
    for (int i = 0; i < width; i++)
        if (!(b->sx[i] > 0.0f)) {
            blend_band_free(b);
            return unet_set_error(UNET_ERR_ARG, "blend band: column %d is covered by no window", i);
        }
    for (int i = 0; i < height; i++)
        if (!(b->sy[i] > 0.0f)) {
            blend_band_free(b);
            return unet_set_error(UNET_ERR_ARG, "blend band: row %d is covered by no window", i);
        }
    *out = b;
    return UNET_OK;
}

void blend_band_free(blend_band *b)
{
    if (!b)
        return;
    free(b->acc);
    free(b->out);
    free(b->w);
    free(b->sx);
    free(b->sy);
    free(b);
}

unet_status blend_band_add(blend_band *b, const unet_window *win, const float *scores,
                           size_t class_stride, size_t row_stride, size_t col_stride)
{
    if (win->x < 0 || win->width < 1 || win->width > b->tile || win->x + win->width > b->width ||
        win->height < 1 || win->height > b->tile || win->y < b->next || win->y + win->height > b->next + b->rows ||
        win->y + win->height > b->height)
        return unet_set_error(UNET_ERR_ARG,
                              "blend band: window %dx%d at (%d, %d) outside rows %d..%d of a %dx%d scene",
                              win->width, win->height, win->x, win->y, b->next, b->next + b->rows - 1, b->width,
                              b->height);
    size_t plane = (size_t)b->classes * (size_t)b->width;
    for (int j = 0; j < win->height; j++) {
        float *row = b->acc + (size_t)((win->y + j) % b->rows) * plane + win->x;
        float wy = b->w[j];
        for (int k = 0; k < b->classes; k++) {
            float *dst = row + (size_t)k * b->width;
            const float *src = scores + (size_t)k * class_stride + (size_t)j * row_stride;
            for (int i = 0; i < win->width; i++)
                dst[i] += wy * b->w[i] * src[(size_t)i * col_stride];
        }
    }
    return UNET_OK;
}

int blend_band_emit(blend_band *b, int y_end, blend_row_fn fn, void *ctx)
{
    if (y_end > b->height)
        y_end = b->height;
    size_t plane = (size_t)b->classes * (size_t)b->width;
    for (; b->next < y_end; b->next++) {
        float *slot = b->acc + (size_t)(b->next % b->rows) * plane;
        float sy = b->sy[b->next];
        for (int k = 0; k < b->classes; k++)
            for (int x = 0; x < b->width; x++)
                b->out[(size_t)k * b->width + x] = slot[(size_t)k * b->width + x] / (b->sx[x] * sy);
        memset(slot, 0, plane * sizeof *slot);
        int r = fn(ctx, b->next, b->out);
        if (r != 0) {
            b->next++;
            return r;
        }
    }
    return 0;
}
