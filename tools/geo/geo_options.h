/* What the programs need to know about GDAL input before (or without) GDAL:
 * the --bands and --stretch options, whether a file is PNG or JPEG (read by
 * libunet) or something for GDAL, and what to tell users of a build without
 * GDAL. Compiled in every build; the GDAL code itself is in geo_*.c, built
 * only when meson finds GDAL (UNET_HAVE_GDAL). */
#ifndef UNET_TOOLS_GEO_OPTIONS_H
#define UNET_TOOLS_GEO_OPTIONS_H

#define GEO_MAX_BANDS 16

/* How imagery other than 8-bit becomes the 8-bit values models take:
 * AUTO is NONE for 8-bit rasters and P2_98 for the rest. */
typedef enum geo_stretch {
    GEO_STRETCH_AUTO = 0,
    GEO_STRETCH_NONE,
    GEO_STRETCH_MINMAX,
    GEO_STRETCH_P2_98
} geo_stretch;

typedef struct geo_read_options {
    int bands[GEO_MAX_BANDS]; /* 1-based band numbers in the order wanted */
    int n_bands;              /* 0: bands 1,2,3 when there are three or more, else band 1 */
    geo_stretch stretch;
} geo_read_options;

/* "3,2,1" -> bands; -1 (message in why) when malformed or a band is < 1. */
int geo_parse_bands(const char *s, geo_read_options *o, char *why, int why_size);
/* "minmax", "p2-98", "none" or "auto"; -1 otherwise. */
int geo_parse_stretch(const char *s, geo_stretch *out);
const char *geo_stretch_name(geo_stretch s);

/* 1 when the file starts as a PNG or JPEG does (libunet reads it), 0
 * otherwise (GDAL's), -1 when it cannot be opened. */
int geo_sniff_png_jpeg(const char *path);

/* The GDAL vector driver for an output path by its extension: "GPKG" for
 * .gpkg, "GeoJSON" for .geojson or .json; NULL for anything else. */
const char *geo_vector_format(const char *path);

/* 1 when this build has GDAL. */
int geo_available(void);
/* How to get a build with GDAL, for messages: one sentence, no newline. */
const char *geo_enable_hint(void);

#endif
