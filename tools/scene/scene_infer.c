/* Whole-scene inference; see scene_infer.h. Flow per image: open the image
 * for reading row by row (PNG and JPEG through libunet, anything else
 * through GDAL, geo_raster.h, with a ring of validity rows for its nodata),
 * plan the windows, then per batch of windows (row-major): read the image
 * down to the batch's last row into a ring of rows, fill the input tensor,
 * run, and for each window emit the rows above it (complete now) and add its
 * scores to the band; finally emit the rest and rename the outputs into
 * place, the mask last since its presence marks the image done, then write
 * its polygons when asked. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unet/image.h>
#include <unet/tiling.h>

#include "blend_band.h"
#include "error.h"
#include "mask_palette.h"
#include "npy_rows.h"
#include "scene_infer.h"
#ifdef UNET_HAVE_GDAL
#include "geo_mask_writer.h"
#include "geo_raster.h"
#include "geo_vector.h"
#endif

int scene_mirror(int i, int length)
{
    int m = i % (2 * length);
    return m < length ? m : 2 * length - 1 - m;
}

/* Everything one image needs; freed by scene_free. */
typedef struct scene {
    const scene_options *o;
    const char *path;
    unet_image_reader *reader;
    int width, height, img_channels;
    uint8_t *ring;          /* ring_rows image rows; row y in slot y % ring_rows */
    uint8_t *valid_ring;    /* the same rows' validity (1/0) when the input has nodata, else NULL */
    int has_nodata;         /* GDAL input with a nodata value or mask: valid_ring is kept */
    int keep_prev;          /* rows above a batch stay in the rings until emitted (overlay, validity) */
#ifdef UNET_HAVE_GDAL
    geo_raster *geo;        /* GDAL input, instead of reader */
    geo_mask_writer *geo_w; /* its mask, instead of mask_w */
#endif
    int ring_rows, rows_read;
    unet_window *windows;
    size_t n_windows;
    int *xs, *ys, nx, ny;
    float *input;           /* batch x channels x tile x tile */
    float *tta;             /* batch x classes x tile x tile (flip average) */
    int classes;
    uint8_t palette[256 * 3];
    blend_band *band;
    unet_png_writer *mask_w, *overlay_w;
    npy_rows *probs_w;
    uint8_t *mask_row, *overlay_row;
    char *mask_path, *overlay_path, *probs_path;
    char why[512];          /* first failure, for the report */
} scene;

static void fail(scene *s, const char *why)
{
    if (!s->why[0])
        snprintf(s->why, sizeof s->why, "%s", why);
}

static void scene_free(scene *s)
{
    unet_png_writer_discard(s->mask_w);
    unet_png_writer_discard(s->overlay_w);
    npy_rows_discard(s->probs_w);
    blend_band_free(s->band);
    unet_image_reader_close(s->reader);
#ifdef UNET_HAVE_GDAL
    geo_mask_writer_discard(s->geo_w);
    geo_raster_close(s->geo);
#endif
    free(s->ring);
    free(s->valid_ring);
    free(s->windows);
    free(s->xs);
    free(s->ys);
    free(s->input);
    free(s->tta);
    free(s->mask_row);
    free(s->overlay_row);
    free(s->mask_path);
    free(s->overlay_path);
    free(s->probs_path);
}

static char *join(const char *base, const char *suffix)
{
    size_t n = strlen(base) + strlen(suffix) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s", base, suffix);
    return p;
}

/* The distinct origins along each axis: the plan is a row-major grid. */
static int grid_origins(scene *s)
{
    s->nx = 0;
    while ((size_t)s->nx < s->n_windows && s->windows[s->nx].y == s->windows[0].y)
        s->nx++;
    s->ny = (int)(s->n_windows / (size_t)s->nx);
    s->xs = malloc((size_t)s->nx * sizeof *s->xs);
    s->ys = malloc((size_t)s->ny * sizeof *s->ys);
    if (!s->xs || !s->ys)
        return -1;
    for (int i = 0; i < s->nx; i++)
        s->xs[i] = s->windows[i].x;
    for (int j = 0; j < s->ny; j++)
        s->ys[j] = s->windows[(size_t)j * s->nx].y;
    return 0;
}

/* The image rows batch b needs: from the top of the window before it (whose
 * rows above its own window are emitted, with the overlay or the validity,
 * while the batch is blended) or of its first window, down to the bottom of
 * its last. */
static void batch_rows(const scene *s, size_t first, int n, int *lo, int *hi)
{
    *lo = first > 0 && s->keep_prev ? s->windows[first - 1].y : s->windows[first].y;
    *hi = s->windows[first + (size_t)n - 1].y + s->o->tile;
    if (*hi > s->height)
        *hi = s->height;
}

/* A ring that holds every batch's rows: the largest span over the batches. */
static int ring_size(const scene *s)
{
    int rows = 1;
    for (size_t first = 0; first < s->n_windows; first += (size_t)s->o->batch) {
        int n = s->n_windows - first < (size_t)s->o->batch ? (int)(s->n_windows - first) : s->o->batch, lo, hi;
        batch_rows(s, first, n, &lo, &hi);
        rows = hi - lo > rows ? hi - lo : rows;
    }
    return rows;
}

static const uint8_t *image_row(const scene *s, int y)
{
    return s->ring + (size_t)(y % s->ring_rows) * s->width * s->img_channels;
}

static const uint8_t *valid_row(const scene *s, int y)
{
    return s->valid_ring + (size_t)(y % s->ring_rows) * s->width;
}

/* Reads the image down to row hi, keeping rows from lo on. */
static int read_rows(scene *s, int lo, int hi)
{
    if (hi - s->ring_rows > lo) {
        fail(s, "internal error: image ring too small");
        return -1;
    }
    for (; s->rows_read < hi; s->rows_read++) {
        uint8_t *slot = s->ring + (size_t)(s->rows_read % s->ring_rows) * s->width * s->img_channels;
#ifdef UNET_HAVE_GDAL
        if (s->geo) {
            uint8_t *valid = s->valid_ring ? s->valid_ring + (size_t)(s->rows_read % s->ring_rows) * s->width : NULL;
            if (geo_raster_read_rows(s->geo, slot, valid, 1) != UNET_OK)
                return fail(s, unet_last_error()), -1;
            continue;
        }
#endif
        if (unet_image_reader_read_rows(s->reader, slot, 1) != UNET_OK)
            return fail(s, unet_last_error()), -1;
    }
    return 0;
}

/* Input tensor for windows [first, first + n): the same arithmetic as tile
 * mode, so a window equal to a tile gives the same input bits. flip 1 mirrors
 * each window left-right, 2 top-bottom. */
static void fill_input(scene *s, size_t first, int n, int flip)
{
    const scene_options *o = s->o;
    int t = o->tile, channels = o->channels, ic = s->img_channels;
    for (int b = 0; b < n; b++) {
        const unet_window *win = &s->windows[first + (size_t)b];
        for (int y = 0; y < t; y++) {
            int wy = flip == 2 ? t - 1 - y : y;
            const uint8_t *row = image_row(s, scene_mirror(win->y + wy, s->height));
            for (int x = 0; x < t; x++) {
                int wx = flip == 1 ? t - 1 - x : x;
                const uint8_t *px = row + (size_t)scene_mirror(win->x + wx, s->width) * (size_t)ic;
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

/* Called for every finished row: mask by argmax, probabilities, overlay. */
static int emit_row(void *ctx, int y, const float *probs)
{
    scene *s = ctx;
    int w = s->width, classes = s->classes;
    for (int x = 0; x < w; x++) {
        int best = 0;
        float bv = probs[x];
        for (int k = 1; k < classes; k++)
            if (probs[(size_t)k * w + x] > bv) {
                bv = probs[(size_t)k * w + x];
                best = k;
            }
        s->mask_row[x] = (uint8_t)best;
    }
    if (s->valid_ring) { /* nodata in, nodata out */
        const uint8_t *valid = valid_row(s, y);
        for (int x = 0; x < w; x++)
            if (!valid[x])
                s->mask_row[x] = 255;
    }
    if (s->probs_w && npy_rows_write(s->probs_w, y, probs) != UNET_OK)
        return fail(s, unet_last_error()), -1;
    if (s->overlay_w) {
        int ic = s->img_channels;
        const uint8_t *src = image_row(s, y);
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < 3; ch++) {
                int sv = src[(size_t)x * ic + (ic >= 3 ? ch : 0)];
                s->overlay_row[(size_t)x * 3 + ch] =
                    s->mask_row[x] == 255 ? (uint8_t)sv : (uint8_t)((sv + s->palette[3 * s->mask_row[x] + ch]) / 2);
            }
        if (unet_png_writer_write_rows(s->overlay_w, s->overlay_row, 1) != UNET_OK)
            return fail(s, unet_last_error()), -1;
    }
#ifdef UNET_HAVE_GDAL
    if (s->geo_w) {
        if (geo_mask_writer_write_rows(s->geo_w, s->mask_row, 1) != UNET_OK)
            return fail(s, unet_last_error()), -1;
        return 0;
    }
#endif
    if (unet_png_writer_write_rows(s->mask_w, s->mask_row, 1) != UNET_OK)
        return fail(s, unet_last_error()), -1;
    return 0;
}

/* Once the first run tells the class count: band, buffers, output files. */
static int start_outputs(scene *s, const char *out_base)
{
    const scene_options *o = s->o;
    int w = s->width, h = s->height;
    mask_palette(o->meta, s->classes, s->palette);
    if (blend_band_create(w, h, o->tile, s->classes, s->xs, s->nx, s->ys, s->ny, &s->band) != UNET_OK)
        return fail(s, unet_last_error()), -1;
    s->mask_row = malloc((size_t)w);
    s->mask_path = join(out_base, scene_mask_suffix(s->path));
    if (o->tta)
        s->tta = malloc((size_t)o->batch * s->classes * o->tile * o->tile * sizeof *s->tta);
    if (o->overlay) {
        s->overlay_row = malloc((size_t)w * 3);
        s->overlay_path = join(out_base, ".overlay.png");
    }
    if (o->probs)
        s->probs_path = join(out_base, ".probs.npy");
    if (!s->mask_row || !s->mask_path || (o->tta && !s->tta) || (o->overlay && (!s->overlay_row || !s->overlay_path)) ||
        (o->probs && !s->probs_path))
        return fail(s, "out of memory"), -1;
    unet_png_text text[1] = { { "unet:model", o->model_hash } };
    unet_status st;
#ifdef UNET_HAVE_GDAL
    geo_mask_options gmo = { o->cog, o->model_hash, s->palette, s->classes };
    if (s->geo)
        st = geo_mask_writer_open(s->mask_path, w, h, geo_raster_dataset(s->geo), &gmo, &s->geo_w);
    else
#endif
        st = unet_png_writer_open(s->mask_path, w, h, 1, s->palette, s->classes, text, 1, &s->mask_w);
    if (st != UNET_OK)
        return fail(s, unet_last_error()), -1;
    if (o->overlay && unet_png_writer_open(s->overlay_path, w, h, 3, NULL, 0, NULL, 0, &s->overlay_w) != UNET_OK)
        return fail(s, unet_last_error()), -1;
    if (o->probs && npy_rows_open(s->probs_path, s->classes, h, w, &s->probs_w) != UNET_OK)
        return fail(s, unet_last_error()), -1;
    return 0;
}

/* Checks output 0 against [n, classes, tile, tile] (or NHWC) and returns it. */
static int get_output(scene *s, unet_session *session, int n, unet_tensor *out)
{
    const scene_options *o = s->o;
    int t = o->tile;
    if (unet_session_output(session, 0, out) != UNET_OK)
        return fail(s, unet_last_error()), -1;
    if (out->dtype != UNET_DTYPE_FLOAT || out->rank != 4 || out->dims[0] != n ||
        (o->nhwc ? out->dims[1] != t || out->dims[2] != t : out->dims[2] != t || out->dims[3] != t)) {
        char msg[256];
        snprintf(msg, sizeof msg, "model output 0 is not float32 %s [N, classes, %d, %d] for %dx%d windows",
                 o->nhwc ? "NHWC" : "NCHW", t, t, t, t);
        return fail(s, msg), -1;
    }
    int64_t classes = o->nhwc ? out->dims[3] : out->dims[1];
    if (classes < 1 || classes > 255)
        return fail(s, "model output has no classes or more than 255"), -1;
    if (s->classes && classes != s->classes)
        return fail(s, "model output changed its class count between batches"), -1;
    s->classes = (int)classes;
    return 0;
}

/* Adds output score (k, y, x) of window b, read flipped, into the flip average. */
static void add_flipped(scene *s, const unet_tensor *out, int n, int flip, float weight)
{
    int t = s->o->tile, c = s->classes, nhwc = s->o->nhwc;
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

/* 1 when window win has a valid pixel (or the input has no nodata). */
static int window_has_data(const scene *s, const unet_window *win)
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
 * above are emitted as usual and nothing is added (its pixels all come out
 * 255, and no valid pixel lies under it, so no weight sum is touched). */
static int run_batch(scene *s, unet_session *session, size_t first, int n, const char *out_base)
{
    const scene_options *o = s->o;
    int t = o->tile;
    unet_tensor in = { UNET_DTYPE_FLOAT, 4, { n, o->nhwc ? t : o->channels, t, o->nhwc ? o->channels : t }, s->input };
    int passes = o->tta ? 3 : 1;
    unet_tensor out;
    int lo, hi;
    batch_rows(s, first, n, &lo, &hi);
    if (read_rows(s, lo, hi) != 0)
        return -1;
    int any_data = !s->band;
    for (int b = 0; b < n && !any_data; b++)
        any_data = window_has_data(s, &s->windows[first + (size_t)b]);
    if (!any_data) {
        for (int b = 0; b < n; b++)
            if (blend_band_emit(s->band, s->windows[first + (size_t)b].y, emit_row, s) != 0)
                return -1;
        return 0;
    }
    for (int pass = 0; pass < passes; pass++) {
        fill_input(s, first, n, pass);
        if (unet_session_run(session, &in, 1) != UNET_OK)
            return fail(s, unet_last_error()), -1;
        if (get_output(s, session, n, &out) != 0)
            return -1;
        if (!s->band && start_outputs(s, out_base) != 0)
            return -1;
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
        if (blend_band_emit(s->band, win->y, emit_row, s) != 0)
            return -1;
        if (blend_band_add(s->band, win, scores + (size_t)b * per_window, cs, rs, xs) != UNET_OK)
            return fail(s, unet_last_error()), -1;
    }
    return 0;
}

static scene_result finish(scene *s, infer_report *report, scene_result r)
{
    if (r == SCENE_FAILED)
        infer_report_failure(report, s->path, s->why[0] ? s->why : "failed");
    scene_free(s);
    return r;
}

int scene_input_is_geo(const char *image_path) { return geo_sniff_png_jpeg(image_path) == 0; }

const char *scene_mask_suffix(const char *image_path)
{
    return scene_input_is_geo(image_path) ? ".mask.tif" : ".png";
}

int scene_vector(const scene_options *o, const char *mask_path, const char *vector_path)
{
#ifdef UNET_HAVE_GDAL
    const unet_model_meta *m = o->meta;
    /* Names the model gives, else the default ones (unet_model_read_meta). */
    geo_vector_options vo = { m->names, UNET_META_MAX_CLASSES, o->min_area, o->simplify };
    geo_vector_stats vs;
    return geo_vector_from_mask(mask_path, vector_path, &vo, &vs) == UNET_OK ? 0 : -1;
#else
    (void)o;
    (void)mask_path;
    unet_set_error(UNET_ERR_UNSUPPORTED, "%s: %s", vector_path, geo_enable_hint());
    return -1;
#endif
}

/* Notes on stderr how a GDAL input's values became 8-bit. */
#ifdef UNET_HAVE_GDAL
static void note_stretch(const scene *s)
{
    double lo, hi;
    if (s->o->quiet || geo_raster_stretch(s->geo, 0, &lo, &hi) == GEO_STRETCH_NONE)
        return;
    fprintf(stderr, "unet-infer: %s: %s stretch to 0..255 per band:", s->path,
            geo_stretch_name(geo_raster_stretch(s->geo, 0, &lo, &hi)));
    for (int c = 0; c < s->img_channels; c++) {
        geo_raster_stretch(s->geo, c, &lo, &hi);
        fprintf(stderr, "%s %g..%g", c ? "," : "", lo, hi);
    }
    fprintf(stderr, "\n");
}
#endif

/* Opens the image: PNG and JPEG through libunet, anything else through GDAL. */
static int open_input(scene *s)
{
    if (geo_sniff_png_jpeg(s->path) != 0) { /* PNG, JPEG, or unreadable: libunet says why */
        if (unet_image_reader_open(s->path, UNET_IMAGE_DEFAULT, &s->reader) != UNET_OK)
            return fail(s, unet_last_error()), -1;
        unet_image_reader_size(s->reader, &s->width, &s->height, &s->img_channels);
        s->keep_prev = s->o->overlay;
        return 0;
    }
#ifdef UNET_HAVE_GDAL
    if (geo_raster_open(s->path, &s->o->geo, &s->geo) != UNET_OK)
        return fail(s, unet_last_error()), -1;
    geo_raster_size(s->geo, &s->width, &s->height, &s->img_channels);
    s->has_nodata = geo_raster_has_nodata(s->geo);
    s->keep_prev = s->o->overlay || s->has_nodata;
    note_stretch(s);
    return 0;
#else
    char why[512];
    snprintf(why, sizeof why, "not a PNG or JPEG; %s", geo_enable_hint());
    return fail(s, why), -1;
#endif
}

scene_result scene_infer(const scene_options *o, unet_session *session, infer_report *report,
                         const char *image_path, const char *out_base, const char *label)
{
    scene s;
    memset(&s, 0, sizeof s);
    s.o = o;
    s.path = image_path;
    if (open_input(&s) != 0)
        return finish(&s, report, SCENE_FAILED);
    if (unet_tiling_plan(s.width, s.height, o->tile, o->tile - o->overlap, UNET_TILING_ALIGN_EDGE,
                         &s.windows, &s.n_windows) != UNET_OK || s.n_windows == 0)
        return fail(&s, unet_last_error()), finish(&s, report, SCENE_FAILED);
    if (s.n_windows > INT_MAX)
        return fail(&s, "too many windows; use a larger --tile or a smaller --overlap"), finish(&s, report, SCENE_FAILED);
    s.input = malloc((size_t)o->batch * o->channels * o->tile * o->tile * sizeof *s.input);
    s.ring_rows = ring_size(&s);
    s.ring = malloc((size_t)s.ring_rows * s.width * s.img_channels);
    if (s.has_nodata)
        s.valid_ring = malloc((size_t)s.ring_rows * s.width);
    if (grid_origins(&s) != 0 || !s.input || !s.ring || (s.has_nodata && !s.valid_ring))
        return fail(&s, "out of memory"), finish(&s, report, SCENE_FAILED);
    infer_report_begin_item(report, label, (int)s.n_windows);
    for (size_t first = 0; first < s.n_windows; first += (size_t)o->batch) {
        if (*o->stop)
            return finish(&s, report, SCENE_INTERRUPTED);
        int n = s.n_windows - first < (size_t)o->batch ? (int)(s.n_windows - first) : o->batch;
        if (run_batch(&s, session, first, n, out_base) != 0)
            return finish(&s, report, SCENE_FAILED);
        infer_report_windows_done(report, n);
    }
    if (blend_band_emit(s.band, s.height, emit_row, &s) != 0)
        return finish(&s, report, SCENE_FAILED);
    if (*o->stop)
        return finish(&s, report, SCENE_INTERRUPTED);
    /* Each close or discard frees its writer; the mask goes last. */
    npy_rows *probs_w = s.probs_w;
    unet_png_writer *overlay_w = s.overlay_w, *mask_w = s.mask_w;
    s.probs_w = NULL;
    s.overlay_w = NULL;
    s.mask_w = NULL;
    unet_status st = probs_w ? npy_rows_close(probs_w) : UNET_OK;
    if (overlay_w && st == UNET_OK)
        st = unet_png_writer_close(overlay_w);
    else
        unet_png_writer_discard(overlay_w);
#ifdef UNET_HAVE_GDAL
    geo_mask_writer *geo_w = s.geo_w;
    s.geo_w = NULL;
    if (geo_w && st == UNET_OK)
        st = geo_mask_writer_close(geo_w);
    else
        geo_mask_writer_discard(geo_w);
#endif
    if (mask_w && st == UNET_OK)
        st = unet_png_writer_close(mask_w);
    else
        unet_png_writer_discard(mask_w);
    if (st != UNET_OK)
        return fail(&s, unet_last_error()), finish(&s, report, SCENE_FAILED);
    if (o->vector_path && scene_vector(o, s.mask_path, o->vector_path) != 0)
        return fail(&s, unet_last_error()), finish(&s, report, SCENE_FAILED);
    infer_report_done(report);
    return finish(&s, report, SCENE_DONE);
}
