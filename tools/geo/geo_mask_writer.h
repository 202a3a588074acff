/* Class masks of georeferenced scenes as GeoTIFF, written row by row: 8-bit,
 * one band, the class colour table (entry 255 transparent), nodata 255, the
 * source's CRS and geotransform (or its GCPs), tiled 512x512 and DEFLATE-
 * compressed, the model's SHA-256 in the metadata item UNET_MODEL (so a
 * killed run resumes). With cog, the finished file is rewritten by GDAL's
 * COG driver: Cloud-Optimised GeoTIFF layout with overviews (class of the
 * majority, MODE). Written under a temporary name in the same folder and
 * renamed into place by close, so readers never see part of it. */
#ifndef UNET_TOOLS_GEO_MASK_WRITER_H
#define UNET_TOOLS_GEO_MASK_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <unet/unet.h>

#define GEO_MASK_NODATA 255

typedef struct geo_mask_options {
    int cog;
    const char *model_hash;   /* may be NULL */
    const uint8_t *palette;   /* n_colors RGB triples */
    int n_colors;             /* 1..255 */
} geo_mask_options;

typedef struct geo_mask_writer geo_mask_writer;

/* source: the GDALDatasetH whose georeferencing the mask takes (may be NULL). */
unet_status geo_mask_writer_open(const char *path, int width, int height, void *source,
                                 const geo_mask_options *o, geo_mask_writer **out);
/* Appends n_rows rows of width class ids (or 255). */
unet_status geo_mask_writer_write_rows(geo_mask_writer *w, const uint8_t *rows, int n_rows);
/* Finishes (COG conversion when asked) and renames into place; an error, and
 * no file, unless every row was written. Frees w in every case. */
unet_status geo_mask_writer_close(geo_mask_writer *w);
/* Removes the temporary file and frees w (NULL: no-op). */
void geo_mask_writer_discard(geo_mask_writer *w);

/* The UNET_MODEL item of an existing mask into buf ("" when it has none);
 * -1 when the file cannot be opened as a raster. */
int geo_mask_read_tag(const char *path, char *buf, size_t size);

#endif
