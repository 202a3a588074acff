/* Options and checks shared by the GDAL paths; see geo_options.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "geo_options.h"

int geo_parse_bands(const char *s, geo_read_options *o, char *why, int why_size)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > 65535) {
            snprintf(why, (size_t)why_size, "--bands wants comma-separated band numbers from 1, got '%s'", s);
            return -1;
        }
        if (n == GEO_MAX_BANDS) {
            snprintf(why, (size_t)why_size, "--bands takes at most %d bands", GEO_MAX_BANDS);
            return -1;
        }
        o->bands[n++] = (int)v;
        p = end;
        if (*p == ',' && p[1])
            p++;
        else if (*p) {
            snprintf(why, (size_t)why_size, "--bands wants comma-separated band numbers from 1, got '%s'", s);
            return -1;
        }
    }
    if (n == 0) {
        snprintf(why, (size_t)why_size, "--bands is empty");
        return -1;
    }
    o->n_bands = n;
    return 0;
}

int geo_parse_stretch(const char *s, geo_stretch *out)
{
    static const struct { const char *name; geo_stretch v; } names[] = {
        { "auto", GEO_STRETCH_AUTO }, { "none", GEO_STRETCH_NONE },
        { "minmax", GEO_STRETCH_MINMAX }, { "p2-98", GEO_STRETCH_P2_98 },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(s, names[i].name)) {
            *out = names[i].v;
            return 0;
        }
    return -1;
}

const char *geo_stretch_name(geo_stretch s)
{
    switch (s) {
    case GEO_STRETCH_NONE: return "none";
    case GEO_STRETCH_MINMAX: return "minmax";
    case GEO_STRETCH_P2_98: return "p2-98";
    default: return "auto";
    }
}

int geo_sniff_png_jpeg(const char *path)
{
    unsigned char head[8] = { 0 };
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    static const unsigned char png[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    if (n == 8 && !memcmp(head, png, 8))
        return 1;
    return n >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff;
}

const char *geo_vector_format(const char *path)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash))
        return NULL;
    if (!strcasecmp(dot, ".gpkg"))
        return "GPKG";
    if (!strcasecmp(dot, ".geojson") || !strcasecmp(dot, ".json"))
        return "GeoJSON";
    return NULL;
}

int geo_available(void)
{
#ifdef UNET_HAVE_GDAL
    return 1;
#else
    return 0;
#endif
}

const char *geo_enable_hint(void)
{
    return "this build has no GDAL support (GeoTIFF and other GIS formats): install libgdal-dev "
           "(tools/install-deps.sh does) and reconfigure, e.g. 'meson setup --reconfigure BUILD -Dgdal=enabled'";
}
