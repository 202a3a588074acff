/* See geo_fixture.h. */
#include <stdlib.h>
#include <string.h>

#include <cpl_string.h>
#include <ogr_srs_api.h>

#include "geo_fixture.h"

int fx_write_geotiff(const char *path, int w, int h, int bands, GDALDataType type, int epsg, const double gt[6],
                     const double *nodata, const void *pixels, const uint8_t *mask)
{
    char **opts = NULL;
    opts = CSLSetNameValue(opts, "TILED", "YES");
    opts = CSLSetNameValue(opts, "BLOCKXSIZE", "64");
    opts = CSLSetNameValue(opts, "BLOCKYSIZE", "64");
    opts = CSLSetNameValue(opts, "COMPRESS", "DEFLATE");
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), path, w, h, bands, type, opts);
    CSLDestroy(opts);
    if (!ds)
        return -1;
    int rc = 0;
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    if (OSRImportFromEPSG(srs, epsg) != OGRERR_NONE || GDALSetSpatialRef(ds, srs) != CE_None ||
        GDALSetGeoTransform(ds, (double *)gt) != CE_None)
        rc = -1;
    OSRDestroySpatialReference(srs);
    size_t plane = (size_t)w * (size_t)h * (size_t)GDALGetDataTypeSizeBytes(type);
    for (int b = 0; b < bands && rc == 0; b++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, b + 1);
        if (nodata && GDALSetRasterNoDataValue(band, *nodata) != CE_None)
            rc = -1;
        if (GDALRasterIO(band, GF_Write, 0, 0, w, h, (uint8_t *)pixels + plane * (size_t)b, w, h, type, 0, 0) !=
            CE_None)
            rc = -1;
    }
    if (mask && rc == 0) {
        GDALRasterBandH b1 = GDALGetRasterBand(ds, 1);
        if (GDALCreateMaskBand(b1, GMF_PER_DATASET) != CE_None ||
            GDALRasterIO(GDALGetMaskBand(b1), GF_Write, 0, 0, w, h, (void *)mask, w, h, GDT_Byte, 0, 0) != CE_None)
            rc = -1;
    }
    GDALClose(ds);
    return rc;
}

uint8_t *fx_read_band(const char *path, int *w, int *h, double gt[6])
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds)
        return NULL;
    *w = GDALGetRasterXSize(ds);
    *h = GDALGetRasterYSize(ds);
    if (gt)
        GDALGetGeoTransform(ds, gt);
    uint8_t *px = malloc((size_t)*w * (size_t)*h);
    if (px && GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, *w, *h, px, *w, *h, GDT_Byte, 0, 0) != CE_None) {
        free(px);
        px = NULL;
    }
    GDALClose(ds);
    return px;
}

void fx_components(const uint8_t *mask, int w, int h, long count[256], long pixels[256], fx_component **sizes,
                   long *n_sizes)
{
    size_t n = (size_t)w * (size_t)h;
    uint8_t *seen = calloc(n, 1);
    size_t *stack = malloc(n * sizeof *stack);
    long cap = 64, ns = 0;
    fx_component *comp = sizes ? malloc((size_t)cap * sizeof *comp) : NULL;
    if (!seen || !stack || (sizes && !comp))
        abort(); /* a test's few pixels; nothing sensible to go on with */
    memset(count, 0, 256 * sizeof *count);
    memset(pixels, 0, 256 * sizeof *pixels);
    for (size_t start = 0; start < n; start++) {
        int c = mask[start];
        if (c == 255 || seen[start])
            continue;
        long size = 0;
        size_t top = 0;
        stack[top++] = start;
        seen[start] = 1;
        while (top) {
            size_t i = stack[--top];
            size++;
            int x = (int)(i % (size_t)w), y = (int)(i / (size_t)w);
            size_t nb[4];
            int k = 0;
            if (x > 0) nb[k++] = i - 1;
            if (x + 1 < w) nb[k++] = i + 1;
            if (y > 0) nb[k++] = i - (size_t)w;
            if (y + 1 < h) nb[k++] = i + (size_t)w;
            for (int j = 0; j < k; j++)
                if (!seen[nb[j]] && mask[nb[j]] == c) {
                    seen[nb[j]] = 1;
                    stack[top++] = nb[j];
                }
        }
        count[c]++;
        pixels[c] += size;
        if (comp) {
            if (ns == cap) {
                cap *= 2;
                fx_component *more = realloc(comp, (size_t)cap * sizeof *comp);
                if (!more)
                    abort();
                comp = more;
            }
            comp[ns].cls = c;
            comp[ns].pixels = size;
            ns++;
        }
    }
    free(seen);
    free(stack);
    if (sizes) {
        *sizes = comp;
        *n_sizes = ns;
    }
}
