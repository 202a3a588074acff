/* Class masks to vector polygons: one polygon (with its holes) per
 * 4-connected region of one class (GDALPolygonize; nodata 255 left out), in
 * the mask's CRS, with the attributes class_id, class_name and area (in the
 * CRS's units squared: m2 for UTM, degrees2 for EPSG:4326). Regions whose
 * area is below min_area are dropped. With simplify > 0 each polygon is
 * simplified with that tolerance (map units) by OGR_G_SimplifyPreserveTopology,
 * which keeps every polygon valid and its holes inside it; neighbouring
 * polygons are simplified one by one, so their shared edges may part
 * slightly. area is that of the polygon written.
 *
 * Output by extension: .gpkg (GeoPackage, one layer named after the file)
 * or .geojson / .json, written under a temporary name in the same folder and
 * renamed into place. The polygons pass through a temporary GeoPackage next
 * to the output, so memory does not grow with their number. */
#ifndef UNET_TOOLS_GEO_VECTOR_H
#define UNET_TOOLS_GEO_VECTOR_H

#include <stdint.h>
#include <unet/unet.h>

typedef struct geo_vector_options {
    const char (*class_names)[64]; /* n_names names for class ids 0.. (others and "": "class N") */
    int n_names;
    double min_area;
    double simplify;
} geo_vector_options;

typedef struct geo_vector_stats {
    int64_t polygons;   /* written */
    int64_t dropped;    /* below min_area */
} geo_vector_stats;

unet_status geo_vector_from_mask(const char *mask_path, const char *out_path, const geo_vector_options *o,
                                 geo_vector_stats *stats);

#endif
