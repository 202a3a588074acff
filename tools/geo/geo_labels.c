/* Vector labels burnt onto an image's grid; see geo_labels.h. The image is
 * read whole (unet-tile cuts tiles from memory), the polygons gathered with
 * their class ids, reprojected, then rasterised in one call into an
 * in-memory band filled with 255 beforehand. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gdal.h>
#include <gdal_alg.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include "geo_gdal.h"
#include "geo_labels.h"
#include "geo_raster.h"

typedef struct burn_list {
    OGRGeometryH *geoms;
    double *values;
    size_t n, cap;
} burn_list;

static void burn_list_free(burn_list *b)
{
    for (size_t i = 0; i < b->n; i++)
        OGR_G_DestroyGeometry(b->geoms[i]);
    free(b->geoms);
    free(b->values);
}

static int burn_list_add(burn_list *b, OGRGeometryH g, double value)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        OGRGeometryH *gs = realloc(b->geoms, cap * sizeof *gs);
        if (!gs)
            return -1;
        b->geoms = gs;
        double *vs = realloc(b->values, cap * sizeof *vs);
        if (!vs)
            return -1;
        b->values = vs;
        b->cap = cap;
    }
    b->geoms[b->n] = g;
    b->values[b->n++] = value;
    return 0;
}

/* The class id of a field value: a palette name (any case) or a number
 * 0..classes-1 (or 255, the ignore label); -1 when neither. */
static int class_of(const char *value, const unet_palette *p)
{
    for (int k = 0; k < p->n_classes; k++)
        if (!strcasecmp(value, p->classes[k].name))
            return k;
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (end == value || *end || errno)
        return -1;
    return (v >= 0 && v < p->n_classes) || v == UNET_IGNORE_LABEL ? (int)v : -1;
}

/* Reads the whole image as 3-channel rows, nodata noted in valid. */
static unet_status read_image(geo_raster *r, unet_image *img, uint8_t *valid)
{
    int w, h, c;
    geo_raster_size(r, &w, &h, &c);
    uint8_t *row = malloc((size_t)w * (size_t)c);
    img->width = w;
    img->height = h;
    img->channels = 3;
    img->pixels = malloc((size_t)w * (size_t)h * 3);
    if (!row || !img->pixels) {
        free(row);
        return unet_set_error(UNET_ERR_NOMEM, "out of memory for a %dx%d image", w, h);
    }
    for (int y = 0; y < h; y++) {
        unet_status st = geo_raster_read_rows(r, row, valid + (size_t)y * w, 1);
        if (st != UNET_OK) {
            free(row);
            return st;
        }
        uint8_t *dst = img->pixels + (size_t)y * w * 3;
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++)
                dst[(size_t)x * 3 + k] = row[(size_t)x * c + (c >= 3 ? k : 0)];
    }
    free(row);
    return UNET_OK;
}

/* A transformation from the layer's CRS to the image's, or NULL when none
 * is needed; *bad set when one is needed but cannot be made. */
static OGRCoordinateTransformationH layer_transform(OGRLayerH layer, OGRSpatialReferenceH image_srs, int *bad)
{
    *bad = 0;
    OGRSpatialReferenceH lsrs = OGR_L_GetSpatialRef(layer);
    if (!lsrs || !image_srs || OSRIsSame(lsrs, image_srs))
        return NULL;
    /* Coordinates as the files store them: x = easting or longitude. */
    OGRSpatialReferenceH from = OSRClone(lsrs), to = OSRClone(image_srs);
    OSRSetAxisMappingStrategy(from, OAMS_TRADITIONAL_GIS_ORDER);
    OSRSetAxisMappingStrategy(to, OAMS_TRADITIONAL_GIS_ORDER);
    OGRCoordinateTransformationH ct = OCTNewCoordinateTransformation(from, to);
    OSRDestroySpatialReference(from);
    OSRDestroySpatialReference(to);
    *bad = ct == NULL;
    return ct;
}

/* Gathers the polygons of every layer that has field, with class ids. */
static unet_status gather(GDALDatasetH vds, const char *labels_path, const char *field,
                          OGRSpatialReferenceH image_srs, const unet_palette *palette,
                          unet_unknown_color_policy policy, burn_list *burn, geo_labels_info *info)
{
    int layers = GDALDatasetGetLayerCount(vds), used = 0;
    for (int l = 0; l < layers; l++) {
        OGRLayerH layer = GDALDatasetGetLayer(vds, l);
        int fi = OGR_FD_GetFieldIndex(OGR_L_GetLayerDefn(layer), field);
        if (fi < 0)
            continue;
        used++;
        int bad;
        OGRCoordinateTransformationH ct = layer_transform(layer, image_srs, &bad);
        if (bad)
            return geo_fail(UNET_ERR_INVALID, "%s: layer %s: cannot reproject its CRS to the image's", labels_path,
                            OGR_L_GetName(layer));
        info->reprojected |= ct != NULL;
        OGR_L_ResetReading(layer);
        OGRFeatureH f;
        unet_status st = UNET_OK;
        while (st == UNET_OK && (f = OGR_L_GetNextFeature(layer)) != NULL) {
            OGRGeometryH g = OGR_F_GetGeometryRef(f);
            const char *value = OGR_F_IsFieldSetAndNotNull(f, fi) ? OGR_F_GetFieldAsString(f, fi) : "(null)";
            int cls = class_of(value, palette);
            if (g && cls < 0) {
                if (policy == UNET_UNKNOWN_COLOR_ERROR) {
                    st = unet_set_error(UNET_ERR_INVALID,
                                        "%s: layer %s, feature %lld: %s = '%s' is no class of the palette "
                                        "(a class name or id 0..%d)",
                                        labels_path, OGR_L_GetName(layer), (long long)OGR_F_GetFID(f), field, value,
                                        palette->n_classes - 1);
                } else {
                    if (!info->unknown++)
                        snprintf(info->first_unknown, sizeof info->first_unknown, "%s", value);
                }
            } else if (g) {
                OGRGeometryH c = OGR_G_Clone(g);
                if (ct && OGR_G_Transform(c, ct) != OGRERR_NONE) {
                    OGR_G_DestroyGeometry(c);
                    st = geo_fail(UNET_ERR_INVALID, "%s: layer %s, feature %lld: cannot reproject it", labels_path,
                                  OGR_L_GetName(layer), (long long)OGR_F_GetFID(f));
                } else if (burn_list_add(burn, c, cls) != 0) {
                    OGR_G_DestroyGeometry(c);
                    st = unet_set_error(UNET_ERR_NOMEM, "%s: out of memory for polygons", labels_path);
                } else {
                    info->features++;
                }
            }
            OGR_F_Destroy(f);
        }
        if (ct)
            OCTDestroyCoordinateTransformation(ct);
        if (st != UNET_OK)
            return st;
    }
    if (!used)
        return unet_set_error(UNET_ERR_INVALID, "%s: no layer has the field '%s'", labels_path, field);
    return UNET_OK;
}

/* Burns the polygons into a w x h band on the image's grid; ids gets it. */
static unet_status rasterise(GDALDatasetH image, const burn_list *burn, int w, int h, uint8_t *ids,
                             const char *labels_path)
{
    GDALDatasetH mem = GDALCreate(GDALGetDriverByName("MEM"), "", w, h, 1, GDT_Byte, NULL);
    if (!mem)
        return geo_fail(UNET_ERR_NOMEM, "%s: cannot make a %dx%d label raster", labels_path, w, h);
    double gt[6];
    GDALGetGeoTransform(image, gt);
    GDALSetGeoTransform(mem, gt);
    GDALRasterBandH band = GDALGetRasterBand(mem, 1);
    int band_list[1] = { 1 };
    unet_status st = UNET_OK;
    if (GDALFillRaster(band, UNET_IGNORE_LABEL, 0) != CE_None ||
        (burn->n && GDALRasterizeGeometries(mem, 1, band_list, (int)burn->n, burn->geoms, NULL, NULL, burn->values,
                                            NULL, NULL, NULL) != CE_None) ||
        GDALRasterIO(band, GF_Read, 0, 0, w, h, ids, w, h, GDT_Byte, 0, 0) != CE_None)
        st = geo_fail(UNET_ERR_IO, "%s: rasterising the polygons failed", labels_path);
    GDALClose(mem);
    return st;
}

unet_status geo_labels_load(const char *image_path, const char *labels_path, const char *field,
                            const geo_read_options *ro, const unet_palette *palette,
                            unet_unknown_color_policy policy, unet_image *img, uint8_t **ids,
                            geo_labels_info *info)
{
    geo_init();
    memset(img, 0, sizeof *img);
    memset(info, 0, sizeof *info);
    *ids = NULL;
    geo_raster *r = NULL;
    GDALDatasetH vds = NULL;
    burn_list burn = { NULL, NULL, 0, 0 };
    uint8_t *valid = NULL;
    unet_status st = geo_raster_open(image_path, ro, &r);
    if (st != UNET_OK)
        return st;
    int w, h, c;
    geo_raster_size(r, &w, &h, &c);
    GDALDatasetH ds = geo_raster_dataset(r);
    double gt[6];
    if (GDALGetGeoTransform(ds, gt) != CE_None) {
        st = unet_set_error(UNET_ERR_INVALID, "%s: the image has no geotransform, so polygons cannot be placed on it",
                            image_path);
        goto done;
    }
    valid = malloc((size_t)w * (size_t)h);
    *ids = malloc((size_t)w * (size_t)h);
    if (!valid || !*ids) {
        st = unet_set_error(UNET_ERR_NOMEM, "%s: out of memory for %dx%d labels", image_path, w, h);
        goto done;
    }
    if ((st = read_image(r, img, valid)) != UNET_OK) {
        unet_wrap_error(st, "%s", image_path);
        goto done;
    }
    vds = GDALOpenEx(labels_path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!vds) {
        st = geo_fail(UNET_ERR_IO, "%s: GDAL cannot open it as vector data", labels_path);
        goto done;
    }
    if ((st = gather(vds, labels_path, field, GDALGetSpatialRef(ds), palette, policy, &burn, info)) != UNET_OK ||
        (st = rasterise(ds, &burn, w, h, *ids, labels_path)) != UNET_OK)
        goto done;
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
        if (!valid[i])
            (*ids)[i] = UNET_IGNORE_LABEL;
done:
    if (st != UNET_OK) {
        unet_image_free(img);
        free(*ids);
        *ids = NULL;
    }
    burn_list_free(&burn);
    if (vds)
        GDALClose(vds);
    geo_raster_close(r);
    free(valid);
    return st;
}
