/* Training labels from GIS data, for unet-tile: a georeferenced image (any
 * raster GDAL reads, to 8-bit RGB as geo_raster.h says) and vector polygons
 * (GeoPackage, GeoJSON, any OGR source) whose attribute field holds the
 * class: a class name of the palette (any case) or a class id. Polygons are
 * reprojected from their layer's CRS to the image's when the two differ (a
 * layer without a CRS is taken to be in the image's), then burnt onto the
 * image grid (GDALRasterizeGeometries): a pixel takes the class of the last
 * polygon, in file order, that covers its centre; pixels no polygon covers,
 * and the image's nodata pixels, get the ignore label 255. Every layer that
 * has the field is used. */
#ifndef UNET_TOOLS_GEO_LABELS_H
#define UNET_TOOLS_GEO_LABELS_H

#include <stdint.h>
#include <unet/image.h>
#include <unet/palette.h>
#include <unet/unet.h>

#include "geo_options.h"

typedef struct geo_labels_info {
    int64_t features;        /* polygons burnt */
    int64_t unknown;         /* features whose class is not in the palette (policy ignore) */
    char first_unknown[64];  /* the first such value */
    int reprojected;         /* 1 when the layers' CRS differed from the image's */
} geo_labels_info;

/* img gets the image (3 channels; free with unet_image_free), *ids its
 * width x height class ids (free()). Under UNET_UNKNOWN_COLOR_ERROR an
 * unknown class fails the call, naming file, feature and value. */
unet_status geo_labels_load(const char *image_path, const char *labels_path, const char *field,
                            const geo_read_options *ro, const unet_palette *palette,
                            unet_unknown_color_policy policy, unet_image *img, uint8_t **ids,
                            geo_labels_info *info);

#endif
