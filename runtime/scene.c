/* Sliding-window segmentation; see unet/scene.h. Per batch of windows
 * (row-major): read the image down to the batch's last row into a ring of
 * rows, fill the input tensor, run (three times with TTA), and for each
 * window hand over the rows above it (complete now) and add its scores to
 * the blending band (scene_blend.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unet/mask.h>
#include <unet/scene.h>
#include <unet/tiling.h>

#include "error.h"
#include "scene_blend.h"

struct unet_scene {
    unet_scene_options o;
    unet_session *session;
    unet_scene_read_fn read;
    void *read_ctx;
    unet_scene_row_fn take;
    void *take_ctx;
    int width, height, img_channels;
    uint8_t *ring;          /* ring_rows image rows; row y in slot y % ring_rows */
    uint8_t *valid_ring;    /* the same rows' validity when the reader gives it, else NULL */
    int ring_rows, rows_read;
    unet_window *windows;
    size_t n_windows, next; /* next: first window not yet run */
    int *xs, *ys, nx, ny;
    float *input;           /* batch x channels x tile x tile */
    float *tta;             /* batch x classes x tile x tile (flip average) */
    int classes;
    blend_band *band;
    uint8_t *mask_row;
    int take_failed;        /* the row function asked to stop */
    int finished;
};

/* i >= 0 mirrored back into [0, length): the edge pixel repeated. */
static int mirror(int i, int length)
{
    int m = i % (2 * length);
    return m < length ? m : 2 * length - 1 - m;
}

float unet_scene_blend_weight(int tile, int i) { return blend_weight(tile, i); }

size_t unet_scene_window_count(const unet_scene *s) { return s ? s->n_windows : 0; }

int unet_scene_classes(const unet_scene *s) { return s ? s->classes : 0; }

void unet_scene_close(unet_scene *s)
{
    if (!s)
        return;
    blend_band_free(s->band);
    free(s->ring);
    free(s->valid_ring);
    free(s->windows);
    free(s->xs);
    free(s->ys);
    free(s->input);
    free(s->tta);
    free(s->mask_row);
    free(s);
}

/* The distinct origins along each axis: the plan is a row-major grid. */
static unet_status grid_origins(unet_scene *s)
{
    s->nx = 0;
    while ((size_t)s->nx < s->n_windows && s->windows[s->nx].y == s->windows[0].y)
        s->nx++;
    s->ny = (int)(s->n_windows / (size_t)s->nx);
    s->xs = malloc((size_t)s->nx * sizeof *s->xs);
    s->ys = malloc((size_t)s->ny * sizeof *s->ys);
    if (!s->xs || !s->ys)
        return unet_set_error(UNET_ERR_NOMEM, "scene: out of memory for %d x %d window origins", s->nx, s->ny);
    for (int i = 0; i < s->nx; i++)
        s->xs[i] = s->windows[i].x;
    for (int j = 0; j < s->ny; j++)
        s->ys[j] = s->windows[(size_t)j * s->nx].y;
    return UNET_OK;
}

/* The image rows a batch needs: from the top of the window before it (the
 * rows above its own window are handed over, with their image rows, while
 * the batch is blended) down to the bottom of its last window. */
static void batch_rows(const unet_scene *s, size_t first, int n, int *lo, int *hi)
{
    *lo = first > 0 ? s->windows[first - 1].y : s->windows[first].y;
    *hi = s->windows[first + (size_t)n - 1].y + s->o.tile;
    if (*hi > s->height)
        *hi = s->height;
}

/* A ring that holds every batch's rows: the largest span over the batches. */
static int ring_size(const unet_scene *s)
{
    int rows = 1;
    for (size_t first = 0; first < s->n_windows; first += (size_t)s->o.batch) {
        int n = s->n_windows - first < (size_t)s->o.batch ? (int)(s->n_windows - first) : s->o.batch, lo, hi;
        batch_rows(s, first, n, &lo, &hi);
        rows = hi - lo > rows ? hi - lo : rows;
    }
    return rows;
}

static const uint8_t *image_row(const unet_scene *s, int y)
{
    return s->ring + (size_t)(y % s->ring_rows) * s->width * s->img_channels;
}

static const uint8_t *valid_row(const unet_scene *s, int y)
{
    return s->valid_ring + (size_t)(y % s->ring_rows) * s->width;
}

/* Reads the image down to row hi, keeping rows from lo on. */
static unet_status read_rows(unet_scene *s, int lo, int hi)
{
    if (hi - s->ring_rows > lo)
        return unet_set_error(UNET_ERR_INVALID, "scene: internal error: image ring of %d rows too small for rows %d..%d",
                              s->ring_rows, lo, hi);
    for (; s->rows_read < hi; s->rows_read++) {
        size_t slot = (size_t)(s->rows_read % s->ring_rows);
        uint8_t *row = s->ring + slot * s->width * s->img_channels;
        uint8_t *valid = s->valid_ring ? s->valid_ring + slot * s->width : NULL;
        UNET_TRY(s->read(s->read_ctx, s->rows_read, row, valid));
    }
    return UNET_OK;
}

/* Input tensor for windows [first, first + n). flip 1 mirrors each window
 * left-right, 2 top-bottom. */
static void fill_input(unet_scene *s, size_t first, int n, int flip)
{
    const unet_scene_options *o = &s->o;
    int t = o->tile, channels = o->channels, ic = s->img_channels;
    for (int b = 0; b < n; b++) {
        const unet_window *win = &s->windows[first + (size_t)b];
        for (int y = 0; y < t; y++) {
            int wy = flip == 2 ? t - 1 - y : y;
            const uint8_t *row = image_row(s, mirror(win->y + wy, s->height));
            for (int x = 0; x < t; x++) {
                int wx = flip == 1 ? t - 1 - x : x;
                const uint8_t *px = row + (size_t)mirror(win->x + wx, s->width) * (size_t)ic;
                for (int ch = 0; ch < channels; ch++) {
                    int src = ic >= 3 ? ch : 0;
                    float v = ((float)px[src < ic ? src : 0] * o->scale - o->mean[ch & 3]) / o->std[ch & 3];
                    size_t idx = o->nhwc ? (((size_t)b * t + y) * t + x) * channels + ch
                                         : (((size_t)b * channels + ch) * t + y) * t + x;
                    s->input[idx] = v;
                }
            }
        }
    }
}

/* Called by the band for every finished row: mask by argmax, nodata, hand over. */
static int emit_row(void *ctx, int y, const float *probs)
{
    unet_scene *s = ctx;
    const int w = s->width;
    unet_mask_argmax(probs, s->classes, (size_t)w, (size_t)w, 1, s->mask_row);
    if (s->valid_ring) { /* nodata in, nodata out */
        const uint8_t *valid = valid_row(s, y);
        for (int x = 0; x < w; x++)
            if (!valid[x])
                s->mask_row[x] = 255;
    }
    if (s->take(s->take_ctx, y, s->mask_row, probs, image_row(s, y)) != 0) {
        s->take_failed = 1;
        return -1;
    }
    return 0;
}

static unet_status emit(unet_scene *s, int y_end)
{
    if (blend_band_emit(s->band, y_end, emit_row, s) == 0)
        return UNET_OK;
    return s->take_failed ? unet_set_error(UNET_ERR_IO, "scene: the row function stopped the scene")
                          : unet_set_error(UNET_ERR_INVALID, "scene: internal error: blending stopped");
}

/* Once the first run tells the class count: band and buffers. */
static unet_status start_band(unet_scene *s)
{
    const unet_scene_options *o = &s->o;
    UNET_TRY(blend_band_create(s->width, s->height, o->tile, s->classes, s->xs, s->nx, s->ys, s->ny, &s->band));
    s->mask_row = malloc((size_t)s->width);
    if (o->tta)
        s->tta = malloc((size_t)o->batch * s->classes * o->tile * o->tile * sizeof *s->tta);
    if (!s->mask_row || (o->tta && !s->tta))
        return unet_set_error(UNET_ERR_NOMEM, "scene: out of memory for a %d-wide mask row and the flip average",
                              s->width);
    return UNET_OK;
}

/* Checks output 0 against [n, classes, tile, tile] (or NHWC) and returns it. */
static unet_status get_output(unet_scene *s, int n, unet_tensor *out)
{
    const unet_scene_options *o = &s->o;
    int t = o->tile;
    UNET_TRY(unet_session_output(s->session, 0, out));
    if (out->dtype != UNET_DTYPE_FLOAT || out->rank != 4 || out->dims[0] != n ||
        (o->nhwc ? out->dims[1] != t || out->dims[2] != t : out->dims[2] != t || out->dims[3] != t))
        return unet_set_error(UNET_ERR_SHAPE, "scene: model output 0 is not float32 %s [N, classes, %d, %d] for %dx%d windows",
                              o->nhwc ? "NHWC" : "NCHW", t, t, t, t);
    int64_t classes = o->nhwc ? out->dims[3] : out->dims[1];
    if (classes < 1 || classes > 255)
        return unet_set_error(UNET_ERR_SHAPE, "scene: model output has %lld classes (1..255 supported)",
                              (long long)classes);
    if (s->classes && classes != s->classes)
        return unet_set_error(UNET_ERR_SHAPE, "scene: model output changed from %d to %lld classes between batches",
                              s->classes, (long long)classes);
    s->classes = (int)classes;
    return UNET_OK;
}

/* Adds output score (k, y, x) of window b, read flipped, into the flip average. */
static void add_flipped(unet_scene *s, const unet_tensor *out, int n, int flip, float weight)
{
    int t = s->o.tile, c = s->classes, nhwc = s->o.nhwc;
    const float *src = out->data;
    for (int b = 0; b < n; b++)
        for (int k = 0; k < c; k++)
            for (int y = 0; y < t; y++) {
                int sy = flip == 2 ? t - 1 - y : y;
                for (int x = 0; x < t; x++) {
                    int sx = flip == 1 ? t - 1 - x : x;
                    size_t si = nhwc ? (((size_t)b * t + sy) * t + sx) * c + k : (((size_t)b * c + k) * t + sy) * t + sx;
                    size_t di = (((size_t)b * c + k) * t + y) * t + x;
                    s->tta[di] = (flip == 0 ? 0.0f : s->tta[di]) + weight * src[si];
                }
            }
}

/* 1 when window win has a valid pixel (or the reader gives no validity). */
static int window_has_data(const unet_scene *s, const unet_window *win)
{
    if (!s->valid_ring)
        return 1;
    for (int y = win->y; y < win->y + win->height; y++)
        if (memchr(valid_row(s, y) + win->x, 1, (size_t)win->width))
            return 1;
    return 0;
}

/* Runs windows [first, first + n) and blends them in. A batch of windows
 * that hold only nodata is not run once the class count is known: its rows
 * above are handed over as usual and nothing is added (its pixels all come
 * out 255, and no valid pixel lies under it, so no weight sum is touched). */
static unet_status run_batch(unet_scene *s, size_t first, int n)
{
    const unet_scene_options *o = &s->o;
    int t = o->tile;
    unet_tensor in = { UNET_DTYPE_FLOAT, 4, { n, o->nhwc ? t : o->channels, t, o->nhwc ? o->channels : t }, s->input };
    int passes = o->tta ? 3 : 1;
    unet_tensor out;
    int lo, hi;
    batch_rows(s, first, n, &lo, &hi);
    UNET_TRY(read_rows(s, lo, hi));
    int any_data = !s->band;
    for (int b = 0; b < n && !any_data; b++)
        any_data = window_has_data(s, &s->windows[first + (size_t)b]);
    if (!any_data) {
        for (int b = 0; b < n; b++)
            UNET_TRY(emit(s, s->windows[first + (size_t)b].y));
        return UNET_OK;
    }
    for (int pass = 0; pass < passes; pass++) {
        fill_input(s, first, n, pass);
        UNET_TRY(unet_session_run(s->session, &in, 1));
        UNET_TRY(get_output(s, n, &out));
        if (!s->band)
            UNET_TRY(start_band(s));
        if (o->tta)
            add_flipped(s, &out, n, pass, 1.0f / (float)passes);
    }
    int c = s->classes;
    const float *scores = o->tta ? s->tta : out.data;
    /* Strides of (k, y, x) inside one window, and between windows. */
    int nchw = o->tta || !o->nhwc;
    size_t cs = nchw ? (size_t)t * t : 1, rs = nchw ? (size_t)t : (size_t)t * c, xs = nchw ? 1 : (size_t)c;
    size_t per_window = (size_t)c * t * t;
    for (int b = 0; b < n; b++) {
        const unet_window *win = &s->windows[first + (size_t)b];
        UNET_TRY(emit(s, win->y));
        UNET_TRY(blend_band_add(s->band, win, scores + (size_t)b * per_window, cs, rs, xs));
    }
    return UNET_OK;
}

unet_status unet_scene_step(unet_scene *s, int *windows_run)
{
    if (!s || !windows_run)
        return unet_set_error(UNET_ERR_ARG, "unet_scene_step: no scene or no count");
    *windows_run = 0;
    if (s->finished)
        return UNET_OK;
    if (s->next >= s->n_windows) {
        UNET_TRY(emit(s, s->height));
        s->finished = 1;
        return UNET_OK;
    }
    size_t left = s->n_windows - s->next;
    int n = left < (size_t)s->o.batch ? (int)left : s->o.batch;
    UNET_TRY(run_batch(s, s->next, n));
    s->next += (size_t)n;
    *windows_run = n;
    return UNET_OK;
}

static unet_status check_options(const unet_scene_options *o, int width, int height, int image_channels)
{
    if (width < 1 || height < 1)
        return unet_set_error(UNET_ERR_ARG, "scene: image of %d x %d pixels", width, height);
    if (image_channels < 1 || image_channels > 4)
        return unet_set_error(UNET_ERR_ARG, "scene: image with %d channels (1..4 supported)", image_channels);
    if (o->tile < 1 || o->tile > 16384)
        return unet_set_error(UNET_ERR_ARG, "scene: tile %d (1..16384)", o->tile);
    if (o->overlap < 0 || o->overlap >= o->tile)
        return unet_set_error(UNET_ERR_ARG, "scene: overlap %d must be 0..%d for tile %d", o->overlap,
                              o->tile - 1, o->tile);
    if (o->batch < 1 || o->batch > 4096)
        return unet_set_error(UNET_ERR_ARG, "scene: batch %d (1..4096)", o->batch);
    if (o->channels < 1 || o->channels > 4)
        return unet_set_error(UNET_ERR_ARG, "scene: model input with %d channels (1..4 supported)", o->channels);
    for (int c = 0; c < 4; c++)
        if (o->std[c] == 0.0f)
            return unet_set_error(UNET_ERR_ARG, "scene: std[%d] is 0", c);
    /* The buffers below multiply these; refuse sizes whose products overflow. */
    if ((size_t)o->batch * (size_t)o->channels * (size_t)o->tile * (size_t)o->tile > SIZE_MAX / 256 / sizeof(float))
        return unet_set_error(UNET_ERR_ARG, "scene: batch %d of %dx%d windows is too large", o->batch, o->tile, o->tile);
    return UNET_OK;
}

unet_status unet_scene_open(unet_session *session, int width, int height, int image_channels,
                            int with_validity, const unet_scene_options *opts,
                            unet_scene_read_fn read, void *read_ctx, unet_scene_row_fn take,
                            void *take_ctx, unet_scene **out)
{
    if (!out)
        return unet_set_error(UNET_ERR_ARG, "unet_scene_open: no output pointer");
    *out = NULL;
    if (!session || !opts || !read || !take)
        return unet_set_error(UNET_ERR_ARG, "unet_scene_open: session, options, reader and row function are needed");
    UNET_TRY(check_options(opts, width, height, image_channels));
    unet_scene *s = calloc(1, sizeof *s);
    if (!s)
        return unet_set_error(UNET_ERR_NOMEM, "scene: out of memory");
    s->o = *opts;
    s->session = session;
    s->read = read;
    s->read_ctx = read_ctx;
    s->take = take;
    s->take_ctx = take_ctx;
    s->width = width;
    s->height = height;
    s->img_channels = image_channels;
    unet_status st = unet_tiling_plan(width, height, opts->tile, opts->tile - opts->overlap, UNET_TILING_ALIGN_EDGE,
                                      &s->windows, &s->n_windows);
    if (st == UNET_OK && (s->n_windows == 0 || s->n_windows > INT_MAX))
        st = unet_set_error(UNET_ERR_ARG, "scene: %zu windows for %d x %d with tile %d, overlap %d; use a larger "
                            "tile or a smaller overlap", s->n_windows, width, height, opts->tile, opts->overlap);
    if (st == UNET_OK)
        st = grid_origins(s);
    if (st == UNET_OK) {
        s->input = malloc((size_t)opts->batch * opts->channels * opts->tile * opts->tile * sizeof *s->input);
        s->ring_rows = ring_size(s);
        s->ring = malloc((size_t)s->ring_rows * width * image_channels);
        if (with_validity)
            s->valid_ring = malloc((size_t)s->ring_rows * width);
        if (!s->input || !s->ring || (with_validity && !s->valid_ring))
            st = unet_set_error(UNET_ERR_NOMEM, "scene: out of memory for %d image rows of %d pixels and a batch of %d",
                                s->ring_rows, width, opts->batch);
    }
    if (st != UNET_OK) {
        unet_scene_close(s);
        return st;
    }
    *out = s;
    return UNET_OK;
}
