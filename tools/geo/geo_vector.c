/* Mask -> polygons; see geo_vector.h. Two steps: GDALPolygonize writes raw
 * polygons with their class into a temporary GeoPackage (inside one
 * transaction, which SQLite needs to be fast), then each is filtered,
 * simplified, given its name and area, and written to the output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cpl_string.h>
#include <gdal.h>
#include <gdal_alg.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include "geo_gdal.h"
#include "geo_options.h"
#include "geo_vector.h"

/* The layer name: the output's file name without folder and extension. */
static void layer_name(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    snprintf(out, size, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
}

static unet_status add_field(OGRLayerH layer, const char *name, OGRFieldType type, const char *path)
{
    OGRFieldDefnH f = OGR_Fld_Create(name, type);
    OGRErr e = OGR_L_CreateField(layer, f, TRUE);
    OGR_Fld_Destroy(f);
    return e == OGRERR_NONE ? UNET_OK : geo_fail(UNET_ERR_IO, "%s: cannot add the field %s", path, name);
}

/* Raw polygons of the mask band into a new GeoPackage at tmp. */
static unet_status polygonize(GDALDatasetH mask, const char *mask_path, const char *tmp, GDALDatasetH *out)
{
    *out = NULL;
    GDALDriverH gpkg = GDALGetDriverByName("GPKG");
    if (!gpkg)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "this GDAL has no GPKG driver");
    GDALDatasetH ds = GDALCreate(gpkg, tmp, 0, 0, 0, GDT_Unknown, NULL);
    if (!ds)
        return geo_fail(UNET_ERR_IO, "%s: cannot create %s", mask_path, tmp);
    char **lopts = CSLSetNameValue(NULL, "SPATIAL_INDEX", "NO");
    OGRLayerH layer = GDALDatasetCreateLayer(ds, "polygons", GDALGetSpatialRef(mask), wkbPolygon, lopts);
    CSLDestroy(lopts);
    unet_status st = layer ? add_field(layer, "class_id", OFTInteger, tmp)
                           : geo_fail(UNET_ERR_IO, "%s: cannot create a layer", tmp);
    if (st == UNET_OK) {
        GDALRasterBandH band = GDALGetRasterBand(mask, 1);
        GDALDatasetStartTransaction(ds, FALSE);
        if (GDALPolygonize(band, GDALGetMaskBand(band), layer, 0, NULL, NULL, NULL) != CE_None)
            st = geo_fail(UNET_ERR_IO, "%s: polygonizing failed", mask_path);
        if (GDALDatasetCommitTransaction(ds) != OGRERR_NONE && st == UNET_OK)
            st = geo_fail(UNET_ERR_IO, "%s: cannot write polygons to %s", mask_path, tmp);
    }
    if (st != UNET_OK) {
        GDALClose(ds);
        return st;
    }
    *out = ds;
    return UNET_OK;
}

/* Copies the raw polygons to the output layer with attributes. */
static unet_status write_polygons(OGRLayerH raw, OGRLayerH layer, const geo_vector_options *o, const char *out_path,
                                  geo_vector_stats *stats)
{
    OGRFeatureDefnH defn = OGR_L_GetLayerDefn(layer);
    OGR_L_ResetReading(raw);
    OGRFeatureH f;
    unet_status st = UNET_OK;
    while (st == UNET_OK && (f = OGR_L_GetNextFeature(raw)) != NULL) {
        int cls = OGR_F_GetFieldAsInteger(f, 0);
        OGRGeometryH g = OGR_F_GetGeometryRef(f);
        double area = g ? OGR_G_Area(g) : 0.0;
        if (!g || area < o->min_area) {
            stats->dropped++;
            OGR_F_Destroy(f);
            continue;
        }
        OGRGeometryH keep = OGR_G_Clone(g);
        if (o->simplify > 0) {
            OGRGeometryH s = OGR_G_SimplifyPreserveTopology(keep, o->simplify);
            if (s && !OGR_G_IsEmpty(s)) {
                OGR_G_DestroyGeometry(keep);
                keep = s;
            } else if (s) {
                OGR_G_DestroyGeometry(s);
            }
        }
        char fallback[32];
        snprintf(fallback, sizeof fallback, "class %d", cls);
        OGRFeatureH nf = OGR_F_Create(defn);
        OGR_F_SetFieldInteger(nf, 0, cls);
        int named = o->class_names && cls >= 0 && cls < o->n_names && o->class_names[cls][0];
        OGR_F_SetFieldString(nf, 1, named ? o->class_names[cls] : fallback);
        OGR_F_SetFieldDouble(nf, 2, OGR_G_Area(keep));
        OGR_F_SetGeometryDirectly(nf, keep);
        if (OGR_L_CreateFeature(layer, nf) != OGRERR_NONE)
            st = geo_fail(UNET_ERR_IO, "%s: cannot write a polygon", out_path);
        else
            stats->polygons++;
        OGR_F_Destroy(nf);
        OGR_F_Destroy(f);
    }
    return st;
}

unet_status geo_vector_from_mask(const char *mask_path, const char *out_path, const geo_vector_options *o,
                                 geo_vector_stats *stats)
{
    geo_init();
    memset(stats, 0, sizeof *stats);
    const char *format = geo_vector_format(out_path);
    if (!format)
        return unet_set_error(UNET_ERR_ARG, "%s: vector output must end in .gpkg, .geojson or .json", out_path);
    GDALDriverH driver = GDALGetDriverByName(format);
    if (!driver)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s: this GDAL has no %s driver", out_path, format);
    GDALDatasetH mask = GDALOpenEx(mask_path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!mask)
        return geo_fail(UNET_ERR_IO, "%s: cannot open the mask", mask_path);
    /* Temporary names keep the extension their driver wants. */
    size_t n = strlen(out_path) + 32;
    char *raw_name = malloc(n);
    char *raw_tmp = NULL, *out_tmp = geo_temp_path(out_path);
    if (raw_name) {
        snprintf(raw_name, n, "%s.polygons.gpkg", out_path);
        raw_tmp = geo_temp_path(raw_name);
    }
    GDALDatasetH raw = NULL, out = NULL;
    unet_status st = UNET_OK;
    if (!raw_name || !raw_tmp || !out_tmp) {
        st = unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", out_path);
        goto done;
    }
    if ((st = polygonize(mask, mask_path, raw_tmp, &raw)) != UNET_OK)
        goto done;
    out = GDALCreate(driver, out_tmp, 0, 0, 0, GDT_Unknown, NULL);
    if (!out) {
        st = geo_fail(UNET_ERR_IO, "%s: cannot create %s", out_path, out_tmp);
        goto done;
    }
    char name[256];
    layer_name(out_path, name, sizeof name);
    OGRLayerH layer = GDALDatasetCreateLayer(out, name, GDALGetSpatialRef(mask), wkbPolygon, NULL);
    if (!layer) {
        st = geo_fail(UNET_ERR_IO, "%s: cannot create the layer %s", out_path, name);
        goto done;
    }
    if ((st = add_field(layer, "class_id", OFTInteger, out_path)) != UNET_OK ||
        (st = add_field(layer, "class_name", OFTString, out_path)) != UNET_OK ||
        (st = add_field(layer, "area", OFTReal, out_path)) != UNET_OK)
        goto done;
    int in_transaction = GDALDatasetStartTransaction(out, FALSE) == OGRERR_NONE;
    st = write_polygons(GDALDatasetGetLayer(raw, 0), layer, o, out_path, stats);
    if (in_transaction && GDALDatasetCommitTransaction(out) != OGRERR_NONE && st == UNET_OK)
        st = geo_fail(UNET_ERR_IO, "%s: cannot commit the polygons", out_path);
    CPLErrorReset();
    GDALClose(out);
    out = NULL;
    if (st == UNET_OK && CPLGetLastErrorType() >= CE_Failure)
        st = geo_fail(UNET_ERR_IO, "%s: cannot finish %s", out_path, out_tmp);
    if (st == UNET_OK) {
        st = geo_rename(out_tmp, out_path);
        free(out_tmp);
        out_tmp = NULL;
    }
done:
    if (out)
        GDALClose(out);
    if (raw)
        GDALClose(raw);
    GDALClose(mask);
    if (raw_tmp)
        unlink(raw_tmp);
    if (out_tmp)
        unlink(out_tmp);
    free(raw_name);
    free(raw_tmp);
    free(out_tmp);
    return st;
}
