/* GeoTIFF mask writer; see geo_mask_writer.h. Rows are gathered into strips
 * of one block row (512 rows), each written with one RasterIO call and
 * flushed from GDAL's cache, so memory holds a strip whatever the height. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cpl_string.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#include "geo_gdal.h"
#include "geo_mask_writer.h"

#define BLOCK 512

struct geo_mask_writer {
    char *path, *tmp;
    GDALDatasetH ds;
    GDALRasterBandH band;
    int width, height, cog;
    int rows_done;          /* rows written to the file */
    int buffered;           /* rows waiting in strip */
    uint8_t *strip;         /* BLOCK x width */
    int broken;
};

static void release(geo_mask_writer *w)
{
    if (w->ds)
        GDALClose(w->ds);
    if (w->tmp)
        unlink(w->tmp);
    free(w->path);
    free(w->tmp);
    free(w->strip);
    free(w);
}

void geo_mask_writer_discard(geo_mask_writer *w)
{
    if (w)
        release(w);
}

/* CRS and geotransform, or GCPs, of source. */
static void copy_georef(GDALDatasetH dst, GDALDatasetH src)
{
    double gt[6];
    if (GDALGetGeoTransform(src, gt) == CE_None) {
        GDALSetGeoTransform(dst, gt);
        OGRSpatialReferenceH srs = GDALGetSpatialRef(src);
        if (srs)
            GDALSetSpatialRef(dst, srs);
    } else if (GDALGetGCPCount(src) > 0) {
        GDALSetGCPs2(dst, GDALGetGCPCount(src), GDALGetGCPs(src), GDALGetGCPSpatialRef(src));
    }
    CPLErrorReset();
}

static void set_colors(GDALRasterBandH band, const uint8_t *palette, int n)
{
    GDALColorTableH ct = GDALCreateColorTable(GPI_RGB);
    for (int i = 0; i < 256; i++) {
        GDALColorEntry e = { 0, 0, 0, i == GEO_MASK_NODATA ? 0 : 255 };
        if (i < n) {
            e.c1 = palette[3 * i];
            e.c2 = palette[3 * i + 1];
            e.c3 = palette[3 * i + 2];
        }
        GDALSetColorEntry(ct, i, &e);
    }
    GDALSetRasterColorTable(band, ct);
    GDALSetRasterColorInterpretation(band, GCI_PaletteIndex);
    GDALDestroyColorTable(ct);
}

unet_status geo_mask_writer_open(const char *path, int width, int height, void *source,
                                 const geo_mask_options *o, geo_mask_writer **out)
{
    *out = NULL;
    geo_init();
    if (width < 1 || height < 1 || o->n_colors < 1 || o->n_colors > 255)
        return unet_set_error(UNET_ERR_ARG, "%s: a %dx%d mask of %d classes cannot be written", path, width, height,
                              o->n_colors);
    GDALDriverH gtiff = GDALGetDriverByName("GTiff");
    if (!gtiff || (o->cog && !GDALGetDriverByName("COG")))
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s: this GDAL has no %s driver", path, gtiff ? "COG" : "GTiff");
    geo_mask_writer *w = calloc(1, sizeof *w);
    if (!w)
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
    w->width = width;
    w->height = height;
    w->cog = o->cog;
    w->path = strdup(path);
    w->strip = malloc((size_t)BLOCK * (size_t)width);
    if (!w->path || !w->strip || !(w->tmp = geo_temp_path(path))) {
        release(w);
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory for a strip of %d rows of %d pixels", path, BLOCK,
                              width);
    }
    char block[16];
    snprintf(block, sizeof block, "%d", BLOCK);
    char **opts = NULL;
    opts = CSLSetNameValue(opts, "TILED", "YES");
    opts = CSLSetNameValue(opts, "BLOCKXSIZE", block);
    opts = CSLSetNameValue(opts, "BLOCKYSIZE", block);
    opts = CSLSetNameValue(opts, "COMPRESS", "DEFLATE");
    opts = CSLSetNameValue(opts, "BIGTIFF", "IF_SAFER");
    w->ds = GDALCreate(gtiff, w->tmp, width, height, 1, GDT_Byte, opts);
    CSLDestroy(opts);
    if (!w->ds) {
        unet_status st = geo_fail(UNET_ERR_IO, "%s: cannot create %s", path, w->tmp);
        release(w);
        return st;
    }
    w->band = GDALGetRasterBand(w->ds, 1);
    if (source)
        copy_georef(w->ds, source);
    set_colors(w->band, o->palette, o->n_colors);
    GDALSetRasterNoDataValue(w->band, GEO_MASK_NODATA);
    if (o->model_hash)
        GDALSetMetadataItem(w->ds, "UNET_MODEL", o->model_hash, NULL);
    *out = w;
    return UNET_OK;
}

static unet_status flush_strip(geo_mask_writer *w)
{
    if (!w->buffered)
        return UNET_OK;
    if (GDALRasterIO(w->band, GF_Write, 0, w->rows_done, w->width, w->buffered, w->strip, w->width, w->buffered,
                     GDT_Byte, 0, 0) != CE_None ||
        GDALFlushRasterCache(w->band) != CE_None) {
        w->broken = 1;
        return geo_fail(UNET_ERR_IO, "%s: cannot write rows %d..%d", w->path, w->rows_done,
                        w->rows_done + w->buffered - 1);
    }
    w->rows_done += w->buffered;
    w->buffered = 0;
    return UNET_OK;
}

unet_status geo_mask_writer_write_rows(geo_mask_writer *w, const uint8_t *rows, int n_rows)
{
    if (w->broken)
        return unet_set_error(UNET_ERR_IO, "%s: an earlier write failed", w->path);
    if (n_rows < 0 || w->rows_done + w->buffered + n_rows > w->height) {
        w->broken = 1;
        return unet_set_error(UNET_ERR_ARG, "%s: %d rows more than its height %d", w->path, n_rows, w->height);
    }
    for (int k = 0; k < n_rows; k++) {
        memcpy(w->strip + (size_t)w->buffered * (size_t)w->width, rows + (size_t)k * (size_t)w->width,
               (size_t)w->width);
        if (++w->buffered == BLOCK)
            UNET_TRY(flush_strip(w));
    }
    return UNET_OK;
}

/* Rewrites the finished tiled GeoTIFF tmp as a COG at cog_tmp. */
static unet_status make_cog(geo_mask_writer *w, const char *cog_tmp)
{
    GDALDatasetH src = GDALOpenEx(w->tmp, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!src)
        return geo_fail(UNET_ERR_IO, "%s: cannot reopen %s", w->path, w->tmp);
    char block[16];
    snprintf(block, sizeof block, "%d", BLOCK);
    char **opts = NULL;
    opts = CSLSetNameValue(opts, "COMPRESS", "DEFLATE");
    opts = CSLSetNameValue(opts, "BLOCKSIZE", block);
    opts = CSLSetNameValue(opts, "RESAMPLING", "MODE");
    opts = CSLSetNameValue(opts, "BIGTIFF", "IF_SAFER");
    GDALDatasetH cog = GDALCreateCopy(GDALGetDriverByName("COG"), cog_tmp, src, FALSE, opts, NULL, NULL);
    CSLDestroy(opts);
    GDALClose(src);
    if (!cog) {
        unlink(cog_tmp);
        return geo_fail(UNET_ERR_IO, "%s: the COG driver failed", w->path);
    }
    GDALClose(cog);
    return UNET_OK;
}

unet_status geo_mask_writer_close(geo_mask_writer *w)
{
    unet_status st = w->broken ? unet_set_error(UNET_ERR_IO, "%s: an earlier write failed", w->path) : UNET_OK;
    if (st == UNET_OK)
        st = flush_strip(w);
    if (st == UNET_OK && w->rows_done != w->height)
        st = unet_set_error(UNET_ERR_ARG, "%s: %d of %d rows written", w->path, w->rows_done, w->height);
    GDALDatasetH ds = w->ds;
    w->ds = NULL;
    CPLErrorReset();
    GDALClose(ds); /* writes the last blocks and the directory */
    if (st == UNET_OK && CPLGetLastErrorType() >= CE_Failure)
        st = geo_fail(UNET_ERR_IO, "%s: cannot finish %s", w->path, w->tmp);
    if (st == UNET_OK && w->cog) {
        char *cog_tmp = geo_temp_path(w->path);
        if (!cog_tmp)
            st = unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", w->path);
        else if ((st = make_cog(w, cog_tmp)) == UNET_OK)
            st = geo_rename(cog_tmp, w->path);
        free(cog_tmp);
    } else if (st == UNET_OK) {
        st = geo_rename(w->tmp, w->path);
    }
    release(w); /* removes tmp when it is still there */
    return st;
}

int geo_mask_read_tag(const char *path, char *buf, size_t size)
{
    geo_init();
    buf[0] = '\0';
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!ds) {
        CPLErrorReset();
        return -1;
    }
    const char *tag = GDALGetMetadataItem(ds, "UNET_MODEL", NULL);
    if (tag)
        snprintf(buf, size, "%s", tag);
    GDALClose(ds);
    return 0;
}
