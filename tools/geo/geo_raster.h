/* Reading any raster GDAL reads as the 8-bit rows a model takes, top to
 * bottom, in strips of the file's block height, so memory holds one strip
 * (plus GDAL's block cache, capped here) whatever the raster's size.
 *
 * Bands: the ones asked for, in that order (geo_read_options), else 1,2,3
 * when the raster has three or more, else band 1.
 *
 * Values to 8 bits, per band b, with lo_b and hi_b from statistics over the
 * valid pixels of the whole raster (one pass before the first row):
 *   none    v8 = clamp(floor(v + 0.5), 0, 255)
 *   minmax  lo_b, hi_b = the band's minimum and maximum
 *   p2-98   lo_b, hi_b = the band's 2nd and 98th percentiles: with the N
 *           values sorted s[0..N), percentile p is s[floor(p/100 * N)]
 *           (capped at s[N-1]); exact for 8- and 16-bit integer bands, for
 *           other types the edge of a bin 1/65536 of the range wide
 *   minmax and p2-98: v8 = clamp(floor((v - lo_b) * 255 / (hi_b - lo_b) + 0.5), 0, 255)
 *           (a band with hi_b = lo_b gives 0, or 255 above lo_b)
 * computed in double. auto: none for 8-bit rasters, p2-98 for the rest.
 * NaN values count as 0.
 *
 * Validity: a pixel is nodata when the dataset's mask band (per-dataset mask
 * or alpha band) is 0 there, or, without one, when every selected band says
 * so: the band's nodata value, or its own mask band is 0. Nodata pixels are
 * left out of the statistics; their values still come out stretched. */
#ifndef UNET_TOOLS_GEO_RASTER_H
#define UNET_TOOLS_GEO_RASTER_H

#include <stdint.h>
#include <unet/unet.h>

#include "geo_options.h"

typedef struct geo_raster geo_raster;

/* Opens path, checks the bands, computes the statistics the stretch needs.
 * Errors name the file and the reason. */
unet_status geo_raster_open(const char *path, const geo_read_options *o, geo_raster **out);
void geo_raster_size(const geo_raster *r, int *width, int *height, int *channels);
/* 1 when some pixel may be nodata (a nodata value or a mask band exists). */
int geo_raster_has_nodata(const geo_raster *r);
/* The next n_rows rows: rows gets n_rows * width * channels bytes, channels
 * interleaved; valid (may be NULL) n_rows * width bytes, 1 valid, 0 nodata. */
unet_status geo_raster_read_rows(geo_raster *r, uint8_t *rows, uint8_t *valid, int n_rows);
/* The open dataset (a GDALDatasetH), for copying its georeferencing. */
void *geo_raster_dataset(const geo_raster *r);
/* The stretch used and, unless none, lo and hi of channel c. */
geo_stretch geo_raster_stretch(const geo_raster *r, int c, double *lo, double *hi);
void geo_raster_close(geo_raster *r);

#endif
