/* Whole-scene inference as unet-infer and unet-eval run it: the files
 * around libunet's sliding-window segmentation (unet/scene.h, which holds
 * the windows, the blend rule and the memory bound): PNG, JPEG or GDAL
 * rasters in; the mask (PNG or GeoTIFF), probabilities (.npy), an overlay
 * and polygons out, written row by row as the library hands rows over. */
#ifndef UNET_TOOLS_SCENE_INFER_H
#define UNET_TOOLS_SCENE_INFER_H

#include <signal.h>
#include <unet/meta.h>
#include <unet/unet.h>

#include "geo_options.h"
#include "infer_report.h"

typedef struct scene_options {
    int tile, overlap, batch;
    int tta;                    /* average over horizontal and vertical flips */
    int nhwc, channels;         /* the model's input layout and channel count */
    float scale, mean[4], std[4];
    int probs, overlay;         /* also write OUT.probs.npy / OUT.overlay.png */
    const char *model_hash;     /* stored in the mask's tEXt unet:model */
    const unet_model_meta *meta;
    volatile sig_atomic_t *stop; /* set by a signal: give up the scene */
    int quiet;                  /* no note of the stretch used */
    /* Inputs that are not PNG or JPEG are read through GDAL (geo_raster.h):
     * the mask becomes OUT.mask.tif (geo_mask_writer.h), nodata pixels come
     * out 255 and windows without a valid pixel are not run. */
    geo_read_options geo;       /* --bands, --stretch */
    int cog;                    /* mask as a Cloud-Optimised GeoTIFF */
    const char *vector_path;    /* also polygons of the mask here (NULL: none) */
    double min_area, simplify;  /* for the polygons (geo_vector.h) */
} scene_options;

typedef enum scene_result { SCENE_DONE = 0, SCENE_FAILED = 1, SCENE_INTERRUPTED = 2 } scene_result;

/* 1 when image_path is read through GDAL (it is not a PNG or JPEG), so its
 * mask is out_base + scene_mask_suffix(image_path). */
int scene_input_is_geo(const char *image_path);
const char *scene_mask_suffix(const char *image_path);

/* Polygons of a finished mask into vector_path (geo_vector.h) with o's
 * class names, min_area and simplify; -1 with unet_last_error() set. */
int scene_vector(const scene_options *o, const char *mask_path, const char *vector_path);

/* Segments image_path into out_base.png, or out_base.mask.tif for GDAL
 * inputs (and out_base.probs.npy, out_base.overlay.png when asked), each
 * written atomically, the mask last; then the polygons when asked.
 * Failures are reported through report (file and reason); label names the
 * scene on the progress line. On failure or interruption the temporary
 * files are removed and no mask appears. */
scene_result scene_infer(const scene_options *o, unet_session *session, infer_report *report,
                         const char *image_path, const char *out_base, const char *label);

#endif
