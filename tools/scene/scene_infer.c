/* Whole-scene inference, the files around libunet's sliding window
 * (unet/scene.h); see scene_infer.h. Flow per image: open the image for
 * reading row by row (PNG and JPEG through libunet, anything else through
 * GDAL, geo_raster.h, with its nodata as validity), step the library's
 * windows, write each finished row to the outputs (opened once the first
 * batch tells the class count), then rename the outputs into place, the mask
 * last since its presence marks the image done, and write its polygons when
 * asked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unet/image.h>
#include <unet/scene.h>

#include "error.h"
#include "mask_palette.h"
#include "npy_rows.h"
#include "scene_infer.h"
#ifdef UNET_HAVE_GDAL
#include "geo_mask_writer.h"
#include "geo_raster.h"
#include "geo_vector.h"
#endif

/* Everything one image needs; freed by scene_free. */
typedef struct scene {
    const scene_options *o;
    const char *path, *out_base;
    unet_image_reader *reader;
    int width, height, img_channels;
    int has_nodata;         /* GDAL input with a nodata value or mask */
#ifdef UNET_HAVE_GDAL
    geo_raster *geo;        /* GDAL input, instead of reader */
    geo_mask_writer *geo_w; /* its mask, instead of mask_w */
#endif
    unet_scene *windows;    /* the sliding window */
    int classes;            /* 0 until the outputs are open */
    uint8_t palette[256 * 3];
    unet_png_writer *mask_w, *overlay_w;
    npy_rows *probs_w;
    uint8_t *overlay_row;
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
    unet_scene_close(s->windows);
    unet_image_reader_close(s->reader);
#ifdef UNET_HAVE_GDAL
    geo_mask_writer_discard(s->geo_w);
    geo_raster_close(s->geo);
#endif
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

/* The library's reader: one image row (and its validity for GDAL inputs). */
static unet_status read_row(void *ctx, int y, uint8_t *row, uint8_t *valid)
{
    scene *s = ctx;
    (void)y; /* rows come in order, as both readers give them */
#ifdef UNET_HAVE_GDAL
    if (s->geo)
        return geo_raster_read_rows(s->geo, row, valid, 1);
#endif
    (void)valid;
    return unet_image_reader_read_rows(s->reader, row, 1);
}

/* Once the first batch tells the class count: the output files. */
static int start_outputs(scene *s)
{
    const scene_options *o = s->o;
    int w = s->width, h = s->height;
    s->classes = unet_scene_classes(s->windows);
    mask_palette(o->meta, s->classes, s->palette);
    s->mask_path = join(s->out_base, scene_mask_suffix(s->path));
    if (o->overlay) {
        s->overlay_row = malloc((size_t)w * 3);
        s->overlay_path = join(s->out_base, ".overlay.png");
    }
    if (o->probs)
        s->probs_path = join(s->out_base, ".probs.npy");
    if (!s->mask_path || (o->overlay && (!s->overlay_row || !s->overlay_path)) || (o->probs && !s->probs_path))
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

/* The library's row function: mask, probabilities, overlay. */
static int take_row(void *ctx, int y, const uint8_t *mask, const float *probs, const uint8_t *image)
{
    scene *s = ctx;
    int w = s->width;
    if (!s->classes && start_outputs(s) != 0)
        return -1;
    if (s->probs_w && npy_rows_write(s->probs_w, y, probs) != UNET_OK)
        return fail(s, unet_last_error()), -1;
    if (s->overlay_w) {
        int ic = s->img_channels;
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < 3; ch++) {
                int sv = image[(size_t)x * ic + (ic >= 3 ? ch : 0)];
                s->overlay_row[(size_t)x * 3 + ch] =
                    mask[x] == 255 ? (uint8_t)sv : (uint8_t)((sv + s->palette[3 * mask[x] + ch]) / 2);
            }
        if (unet_png_writer_write_rows(s->overlay_w, s->overlay_row, 1) != UNET_OK)
            return fail(s, unet_last_error()), -1;
    }
#ifdef UNET_HAVE_GDAL
    if (s->geo_w) {
        if (geo_mask_writer_write_rows(s->geo_w, mask, 1) != UNET_OK)
            return fail(s, unet_last_error()), -1;
        return 0;
    }
#endif
    if (unet_png_writer_write_rows(s->mask_w, mask, 1) != UNET_OK)
        return fail(s, unet_last_error()), -1;
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
        return 0;
    }
#ifdef UNET_HAVE_GDAL
    if (geo_raster_open(s->path, &s->o->geo, &s->geo) != UNET_OK)
        return fail(s, unet_last_error()), -1;
    geo_raster_size(s->geo, &s->width, &s->height, &s->img_channels);
    s->has_nodata = geo_raster_has_nodata(s->geo);
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
    s.out_base = out_base;
    if (open_input(&s) != 0)
        return finish(&s, report, SCENE_FAILED);
    unet_scene_options so = { o->tile, o->overlap, o->batch, o->tta, o->nhwc, o->channels, o->scale,
                              { o->mean[0], o->mean[1], o->mean[2], o->mean[3] },
                              { o->std[0], o->std[1], o->std[2], o->std[3] } };
    if (unet_scene_open(session, s.width, s.height, s.img_channels, s.has_nodata, &so, read_row, &s, take_row, &s,
                        &s.windows) != UNET_OK)
        return fail(&s, unet_last_error()), finish(&s, report, SCENE_FAILED);
    infer_report_begin_item(report, label, (int)unet_scene_window_count(s.windows));
    for (;;) {
        if (*o->stop)
            return finish(&s, report, SCENE_INTERRUPTED);
        int n;
        if (unet_scene_step(s.windows, &n) != UNET_OK)
            return fail(&s, unet_last_error()), finish(&s, report, SCENE_FAILED);
        if (n == 0)
            break;
        infer_report_windows_done(report, n);
    }
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
