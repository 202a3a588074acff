/* Helpers of the GDAL tests: writing small georeferenced rasters through the
 * GDAL API (so the tests build their own inputs), reading rasters back, and
 * the independent references they compare against (connected components by
 * flood fill). The tests run the programs with tool_run.h. */
#ifndef UNET_TESTS_GEO_FIXTURE_H
#define UNET_TESTS_GEO_FIXTURE_H

#include <stdint.h>

#include <gdal.h>

/* Writes a tiled GeoTIFF: bands x (w x h) samples of type, band-sequential in
 * pixels (uint8_t or uint16_t), in EPSG:epsg with geotransform gt. nodata:
 * NULL or the nodata value of every band. mask: NULL or w x h bytes written
 * as a per-dataset mask band (0 = nodata). 0 on success. */
int fx_write_geotiff(const char *path, int w, int h, int bands, GDALDataType type, int epsg, const double gt[6],
                     const double *nodata, const void *pixels, const uint8_t *mask);

/* Band 1 of a raster as bytes (malloc'd); its size and geotransform. */
uint8_t *fx_read_band(const char *path, int *w, int *h, double gt[6]);

/* 4-connected components of the pixels of each class < 255: count[c] and
 * pixels[c] get the number of components and pixels of class c (256 each);
 * sizes (may be NULL) gets, per component, its pixel count and class. */
typedef struct fx_component {
    int cls;
    long pixels;
} fx_component;
void fx_components(const uint8_t *mask, int w, int h, long count[256], long pixels[256], fx_component **sizes,
                   long *n_sizes);

#endif
