/* unet-infer on georeferenced rasters (GDAL), end to end with a tiny random
 * U-Net from unet-make-model (depth 1, filters 2). The test writes its own
 * GeoTIFFs through the GDAL API and checks:
 *  1. 3-band 8-bit, EPSG:32640, nodata value 0: the mask GeoTIFF keeps CRS and
 *     geotransform exactly (GDAL API and `gdalinfo -json`), is 8-bit, tiled,
 *     DEFLATE, nodata 255, with the class colours; its pixels equal the mask
 *     of the same pixels saved as PNG and run through the PNG path, except
 *     where every band is nodata, which is 255; a rerun skips it;
 *  2. 4-band 16-bit, EPSG:4326, a per-dataset mask band, --bands 3,2,1 with
 *     --stretch p2-98 and minmax: the same, with the 8-bit values computed
 *     here from sorted samples (the documented rule);
 *  3. --vector: per class, the polygon count and total area equal the
 *     4-connected components and pixel count x pixel area found here by
 *     flood fill; rasterising the polygons gives the mask back; --min-area
 *     drops exactly the small components; --simplify keeps every polygon
 *     valid; GeoJSON holds the same polygons;
 *  4. --cog: COG layout with overviews, full-resolution pixels unchanged. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal.h>
#include <gdal_alg.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include <unet/image.h>
#include <unet/palette.h>

#include "geo_fixture.h"
#include "tool_run.h"

static char tmp[256];
static char model[400];
static const char *infer_exe;

/* Runs unet-infer MODEL args... (NULL-terminated); output in tmp/out.txt, tmp/err.txt. */
static int infer(const char *first, ...)
{
    const char *argv[RUN_ARGV_MAX];
    const char *const head[] = { infer_exe, model, NULL };
    va_list ap;
    va_start(ap, first);
    run_argv_va(argv, head, first, ap);
    va_end(ap);
    char out[300], err[300];
    FMT(out, sizeof out, "%s/out.txt", tmp);
    FMT(err, sizeof err, "%s/err.txt", tmp);
    int rc = run_redirected(argv, out, err, NULL);
    if (rc != 0) {
        char *e = slurp(err, NULL);
        print_message("unet-infer exited %d:\n%s\n", rc, e ? e : "");
        free(e);
    }
    return rc;
}

/* Pseudo-random scenes with structure: 12x12 blocks of one colour plus a
 * little noise, so the random model answers with several classes. */
static uint32_t hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static double pattern(int x, int y, int band)
{
    uint32_t block = hash32((uint32_t)(x / 12) * 7919u + (uint32_t)(y / 12) * 104729u + (uint32_t)band * 31u);
    uint32_t noise = hash32((uint32_t)x * 73856093u ^ (uint32_t)y * 19349663u ^ (uint32_t)band * 83492791u);
    return 0.85 * (double)(block % 1000) / 1000.0 + 0.15 * (double)(noise % 1000) / 1000.0;
}

/* The palette PNG mask of the PNG path. */
static uint8_t *read_png_mask(const char *path, int w, int h)
{
    unet_image m;
    assert_int_equal(unet_image_read(path, UNET_IMAGE_PALETTE_INDEX, &m), UNET_OK);
    assert_int_equal(m.width, w);
    assert_int_equal(m.height, h);
    assert_int_equal(m.channels, 1);
    return m.pixels;
}

/* Mask GeoTIFF vs the PNG path's mask: equal where valid, 255 elsewhere;
 * and the mask must say something (several classes, some nodata). */
static void compare_masks(const uint8_t *geo, const uint8_t *png, const uint8_t *valid, int w, int h)
{
    long classes[256] = { 0 };
    for (int i = 0; i < w * h; i++) {
        int want = valid[i] ? png[i] : 255;
        if (geo[i] != want)
            fail_msg("pixel (%d, %d): mask GeoTIFF %d, PNG path %d, valid %d", i % w, i / w, geo[i], png[i], valid[i]);
        classes[geo[i]]++;
    }
    int present = 0;
    for (int c = 0; c < 255; c++)
        present += classes[c] > 0;
    assert_true(present >= 2);
    assert_true(classes[255] > 0);
}

/* The mask GeoTIFF's format and georeferencing, by the GDAL API. */
static void check_mask_file(const char *path, int w, int h, int epsg, const double gt_want[6])
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    assert_non_null(ds);
    assert_int_equal(GDALGetRasterXSize(ds), w);
    assert_int_equal(GDALGetRasterYSize(ds), h);
    assert_int_equal(GDALGetRasterCount(ds), 1);
    double gt[6];
    assert_int_equal(GDALGetGeoTransform(ds, gt), CE_None);
    for (int i = 0; i < 6; i++)
        assert_true(gt[i] == gt_want[i]);
    OGRSpatialReferenceH srs = GDALGetSpatialRef(ds), want = OSRNewSpatialReference(NULL);
    assert_non_null(srs);
    assert_int_equal(OSRImportFromEPSG(want, epsg), OGRERR_NONE);
    OSRSetAxisMappingStrategy(want, OAMS_TRADITIONAL_GIS_ORDER); /* as GDAL's rasters use it */
    assert_true(OSRIsSame(srs, want));
    char code[16];
    FMT(code, sizeof code, "%d", epsg);
    assert_string_equal(OSRGetAuthorityCode(srs, NULL), code);
    OSRDestroySpatialReference(want);
    GDALRasterBandH band = GDALGetRasterBand(ds, 1);
    assert_int_equal(GDALGetRasterDataType(band), GDT_Byte);
    int has_nodata = 0;
    assert_true(GDALGetRasterNoDataValue(band, &has_nodata) == 255.0);
    assert_true(has_nodata);
    int bw, bh;
    GDALGetBlockSize(band, &bw, &bh);
    assert_int_equal(bw, 512); /* tiled: strips would be the image's width */
    assert_int_equal(bh, 512);
    const char *compression = GDALGetMetadataItem(ds, "COMPRESSION", "IMAGE_STRUCTURE");
    assert_non_null(compression);
    assert_string_equal(compression, "DEFLATE");
    /* The model has no colours: the default palette, and 255 transparent. */
    GDALColorTableH ct = GDALGetRasterColorTable(band);
    assert_non_null(ct);
    unet_palette pal;
    unet_palette_default(&pal);
    for (int k = 0; k < pal.n_classes; k++) {
        const GDALColorEntry *e = GDALGetColorEntry(ct, k);
        assert_int_equal(e->c1, pal.classes[k].rgb[0]);
        assert_int_equal(e->c2, pal.classes[k].rgb[1]);
        assert_int_equal(e->c3, pal.classes[k].rgb[2]);
        assert_int_equal(e->c4, 255);
    }
    assert_int_equal(GDALGetColorEntry(ct, 255)->c4, 0);
    GDALClose(ds);
}

/* The same through `gdalinfo -json` (gdal-bin; GDALINFO names it, empty
 * when meson did not find it): geoTransform numbers, EPSG id, nodata. */
static void check_gdalinfo(const char *path, int epsg, const double gt_want[6])
{
    const char *gdalinfo = getenv("GDALINFO");
    if (!gdalinfo || !gdalinfo[0]) {
        print_message("gdalinfo not found (install gdal-bin): its check is left out\n");
        return;
    }
    char out[300], err[300];
    FMT(out, sizeof out, "%s/gdalinfo.json", tmp);
    FMT(err, sizeof err, "%s/gdalinfo.err", tmp);
    const char *argv[] = { gdalinfo, "-json", path, NULL };
    assert_int_equal(run_redirected(argv, out, err, NULL), 0);
    char *json = slurp(out, NULL);
    assert_non_null(json);
    const char *p = strstr(json, "\"geoTransform\":[");
    assert_non_null(p);
    p += strlen("\"geoTransform\":[");
    for (int i = 0; i < 6; i++) {
        char *end;
        double v = strtod(p, &end);
        assert_true(end != p);
        if (v != gt_want[i])
            fail_msg("gdalinfo geoTransform[%d] = %.17g, want %.17g", i, v, gt_want[i]);
        p = end;
        while (*p == ',' || *p == ' ' || *p == '\n')
            p++;
    }
    char id[64];
    FMT(id, sizeof id, "ID[\\\"EPSG\\\",%d]]\"", epsg); /* the CRS's own id closes the WKT */
    assert_non_null(strstr(json, id));
    assert_non_null(strstr(json, "\"noDataValue\":255.0"));
    free(json);
}

/* No temporary file left in dir. */
static void assert_no_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp"))
            fail_msg("temporary file left: %s/%s", dir, e->d_name);
    closedir(d);
}

/* ---- scene A: 3 bands, 8-bit, UTM 40N, nodata value 0 ---- */

#define AW 300
#define AH 200
static const double a_gt[6] = { 420000.0, 0.5, 0.0, 2800000.0, 0.0, -0.5 };
static uint8_t *a_valid, *a_mask; /* the test's validity; the mask GeoTIFF */
static char a_dir[300];

/* Writes scene A as GeoTIFF and PNG, runs both paths once. */
static void scene_a(void)
{
    if (a_mask)
        return;
    FMT(a_dir, sizeof a_dir, "%s/a", tmp);
    mkdir(a_dir, 0777);
    size_t plane = (size_t)AW * AH;
    uint8_t *bands = malloc(plane * 3), *rgb = malloc(plane * 3);
    a_valid = malloc(plane);
    assert_non_null(bands);
    assert_non_null(rgb);
    assert_non_null(a_valid);
    for (int y = 0; y < AH; y++)
        for (int x = 0; x < AW; x++) {
            size_t i = (size_t)y * AW + x;
            /* nodata: the left half (with 64-pixel windows 48 apart and
             * batches of 2, the first batch of each row holds only nodata
             * and is not run) and a box */
            int nodata = x < 150 || (x >= 200 && x < 230 && y >= 50 && y < 90);
            for (int b = 0; b < 3; b++) {
                uint8_t v = nodata ? 0 : (uint8_t)(1 + (int)(254 * pattern(x, y, b)));
                if (b == 0 && x >= 250 && x < 260)
                    v = 0; /* one band at its nodata value: still valid */
                bands[plane * b + i] = v;
                rgb[i * 3 + b] = v;
            }
            a_valid[i] = !nodata;
        }
    char tif[400], png[400], out_geo[400], out_png[400];
    FMT(tif, sizeof tif, "%s/scene.tif", a_dir);
    FMT(png, sizeof png, "%s/scene.png", a_dir);
    FMT(out_geo, sizeof out_geo, "%s/out-geo", a_dir);
    FMT(out_png, sizeof out_png, "%s/out-png", a_dir);
    double nodata = 0;
    assert_int_equal(fx_write_geotiff(tif, AW, AH, 3, GDT_Byte, 32640, a_gt, &nodata, bands, NULL), 0);
    unet_image img = { AW, AH, 3, rgb };
    assert_int_equal(unet_png_write(png, &img, NULL, 0), UNET_OK);
    free(bands);
    free(rgb);
    assert_int_equal(infer("--scene", "--tile", "64", "--overlap", "16", "-b", "2", "--threads", "1", "--quiet",
                           "-o", out_png, png, NULL), 0);
    assert_int_equal(infer("--scene", "--tile", "64", "--overlap", "16", "-b", "2", "--threads", "1", "--quiet",
                           "-o", out_geo, tif, NULL), 0);
    char path[500];
    FMT(path, sizeof path, "%s/scene.mask.tif", out_geo);
    int w, h;
    a_mask = fx_read_band(path, &w, &h, NULL);
    assert_non_null(a_mask);
    assert_int_equal(w, AW);
    assert_int_equal(h, AH);
}

static void test_rgb8_utm_nodata(void **state)
{
    (void)state;
    scene_a();
    char path[500];
    FMT(path, sizeof path, "%s/out-png/scene.png", a_dir);
    uint8_t *png = read_png_mask(path, AW, AH);
    compare_masks(a_mask, png, a_valid, AW, AH);
    free(png);
    FMT(path, sizeof path, "%s/out-geo/scene.mask.tif", a_dir);
    check_mask_file(path, AW, AH, 32640, a_gt);
    check_gdalinfo(path, 32640, a_gt);
    FMT(path, sizeof path, "%s/out-geo", a_dir);
    assert_no_temporaries(path);
    /* A rerun finds the mask written by the same model and skips it. */
    char tif[400];
    FMT(tif, sizeof tif, "%s/scene.tif", a_dir);
    assert_int_equal(infer("--scene", "--tile", "64", "--overlap", "16", "--quiet", "--json", "-o", path, tif, NULL), 0);
    FMT(path, sizeof path, "%s/out.txt", tmp);
    char *json = slurp(path, NULL);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"skipped\":1"));
    free(json);
}

/* ---- scene B: 4 bands, 16-bit, WGS 84, a per-dataset mask band ---- */

#define BW 260
#define BH 190

static int cmp_u16(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* lo and hi of band samples at valid pixels by the documented rule. */
static void reference_stretch(const uint16_t *band, const uint8_t *valid, size_t n, int p2_98, double *lo, double *hi)
{
    uint16_t *s = malloc(n * sizeof *s);
    assert_non_null(s);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (valid[i])
            s[m++] = band[i];
    qsort(s, m, sizeof *s, cmp_u16);
    size_t klo = p2_98 ? (size_t)floor(0.02 * (double)m) : 0, khi = p2_98 ? (size_t)floor(0.98 * (double)m) : m - 1;
    *lo = s[klo < m ? klo : m - 1];
    *hi = s[khi < m ? khi : m - 1];
    free(s);
}

static uint8_t reference_byte(double v, double lo, double hi)
{
    double x = floor((v - lo) * 255.0 / (hi - lo) + 0.5);
    return x <= 0 ? 0 : x >= 255 ? 255 : (uint8_t)x;
}

static void run_scene_b(const char *stretch)
{
    char dir[300];
    FMT(dir, sizeof dir, "%s/b-%s", tmp, stretch);
    mkdir(dir, 0777);
    size_t plane = (size_t)BW * BH;
    uint16_t *bands = malloc(plane * 4 * sizeof *bands);
    uint8_t *mask = malloc(plane), *valid = malloc(plane), *rgb = malloc(plane * 3);
    assert_non_null(bands);
    assert_non_null(mask);
    assert_non_null(valid);
    assert_non_null(rgb);
    for (int y = 0; y < BH; y++)
        for (int x = 0; x < BW; x++) {
            size_t i = (size_t)y * BW + x;
            int dx = x - 180, dy = y - 120;
            int nodata = dx * dx + dy * dy < 50 * 50 || x >= 240;
            mask[i] = nodata ? 0 : 255;
            valid[i] = !nodata;
            for (int b = 0; b < 4; b++) /* 12-bit-like values, a few outliers */
                bands[plane * b + i] = (uint16_t)(200 + 300 * b + (int)(3000 * pattern(x, y, b)) +
                                                   ((hash32((uint32_t)i * 3u + (uint32_t)b) % 500) == 0 ? 9000 : 0));
        }
    static const double gt[6] = { 55.25, 1.0 / 8192, 0.0, 25.25, 0.0, -1.0 / 8192 };
    char tif[400], png[400], out_geo[400], out_png[400];
    FMT(tif, sizeof tif, "%s/scene.tif", dir);
    FMT(png, sizeof png, "%s/scene.png", dir);
    FMT(out_geo, sizeof out_geo, "%s/out-geo", dir);
    FMT(out_png, sizeof out_png, "%s/out-png", dir);
    assert_int_equal(fx_write_geotiff(tif, BW, BH, 4, GDT_UInt16, 4326, gt, NULL, bands, mask), 0);
    /* The PNG of the 8-bit values the rule gives, bands 3, 2, 1. */
    static const int order[3] = { 3, 2, 1 };
    int p2_98 = !strcmp(stretch, "p2-98");
    for (int c = 0; c < 3; c++) {
        const uint16_t *band = bands + plane * (size_t)(order[c] - 1);
        double lo, hi;
        reference_stretch(band, valid, plane, p2_98, &lo, &hi);
        assert_true(hi > lo);
        for (size_t i = 0; i < plane; i++)
            rgb[i * 3 + (size_t)c] = reference_byte(band[i], lo, hi);
    }
    unet_image img = { BW, BH, 3, rgb };
    assert_int_equal(unet_png_write(png, &img, NULL, 0), UNET_OK);
    assert_int_equal(infer("--scene", "--tile", "48", "--overlap", "12", "-b", "3", "--threads", "1", "--quiet",
                           "-o", out_png, png, NULL), 0);
    assert_int_equal(infer("--scene", "--tile", "48", "--overlap", "12", "-b", "3", "--threads", "1", "--quiet",
                           "--bands", "3,2,1", "--stretch", stretch, "-o", out_geo, tif, NULL), 0);
    char path[500];
    FMT(path, sizeof path, "%s/scene.mask.tif", out_geo);
    int w, h;
    uint8_t *geo = fx_read_band(path, &w, &h, NULL);
    assert_non_null(geo);
    assert_int_equal(w, BW);
    assert_int_equal(h, BH);
    FMT(path, sizeof path, "%s/scene.png", out_png);
    uint8_t *pngm = read_png_mask(path, BW, BH);
    compare_masks(geo, pngm, valid, BW, BH);
    FMT(path, sizeof path, "%s/scene.mask.tif", out_geo);
    check_mask_file(path, BW, BH, 4326, gt);
    check_gdalinfo(path, 4326, gt);
    free(geo);
    free(pngm);
    free(bands);
    free(mask);
    free(valid);
    free(rgb);
}

static void test_uint16_4band_wgs84_p2_98(void **state)
{
    (void)state;
    run_scene_b("p2-98");
}

static void test_uint16_4band_wgs84_minmax(void **state)
{
    (void)state;
    run_scene_b("minmax");
}

/* ---- polygons of scene A's mask ---- */

typedef struct layer_sums {
    long count[256];
    double area[256];
    long features, vertices;
    int invalid;
} layer_sums;

static long count_vertices(OGRGeometryH g)
{
    int n = OGR_G_GetGeometryCount(g);
    if (n == 0)
        return OGR_G_GetPointCount(g);
    long v = 0;
    for (int i = 0; i < n; i++)
        v += count_vertices(OGR_G_GetGeometryRef(g, i));
    return v;
}

/* Opens a vector file, sums its polygons per class_id, checks class names. */
static GDALDatasetH open_polygons(const char *path, layer_sums *s)
{
    memset(s, 0, sizeof *s);
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_VECTOR, NULL, NULL, NULL);
    assert_non_null(ds);
    assert_int_equal(GDALDatasetGetLayerCount(ds), 1);
    OGRLayerH layer = GDALDatasetGetLayer(ds, 0);
    OGRFeatureDefnH defn = OGR_L_GetLayerDefn(layer);
    int fi_id = OGR_FD_GetFieldIndex(defn, "class_id"), fi_name = OGR_FD_GetFieldIndex(defn, "class_name"),
        fi_area = OGR_FD_GetFieldIndex(defn, "area");
    assert_true(fi_id >= 0 && fi_name >= 0 && fi_area >= 0);
    unet_palette pal;
    unet_palette_default(&pal);
    OGR_L_ResetReading(layer);
    OGRFeatureH f;
    while ((f = OGR_L_GetNextFeature(layer))) {
        int c = OGR_F_GetFieldAsInteger(f, fi_id);
        assert_true(c >= 0 && c < pal.n_classes);
        assert_string_equal(OGR_F_GetFieldAsString(f, fi_name), pal.classes[c].name);
        OGRGeometryH g = OGR_F_GetGeometryRef(f);
        assert_non_null(g);
        assert_int_equal(wkbFlatten(OGR_G_GetGeometryType(g)), wkbPolygon);
        double area = OGR_F_GetFieldAsDouble(f, fi_area);
        assert_true(fabs(area - OGR_G_Area(g)) <= 1e-9 * (1 + area));
        s->count[c]++;
        s->area[c] += area;
        s->features++;
        s->vertices += count_vertices(g);
        s->invalid += !OGR_G_IsValid(g);
        OGR_F_Destroy(f);
    }
    return ds;
}

static void test_polygons(void **state)
{
    (void)state;
    scene_a();
    long count[256], pixels[256], n_comp;
    fx_component *comp;
    fx_components(a_mask, AW, AH, count, pixels, &comp, &n_comp);
    const double px_area = fabs(a_gt[1] * a_gt[5]);
    char tif[400], out[400], gpkg[500], geojson[500], small[500], simple[500];
    FMT(tif, sizeof tif, "%s/scene.tif", a_dir);
    FMT(out, sizeof out, "%s/out-geo", a_dir);
    FMT(gpkg, sizeof gpkg, "%s/polygons.gpkg", a_dir);
    FMT(geojson, sizeof geojson, "%s/polygons.geojson", a_dir);
    FMT(small, sizeof small, "%s/big-only.gpkg", a_dir);
    FMT(simple, sizeof simple, "%s/simple.geojson", a_dir);
    /* The mask exists (same model): each run writes only the polygons. */
    assert_int_equal(infer("--scene", "--tile", "64", "--overlap", "16", "--quiet", "-o", out, "--vector", gpkg, tif,
                           NULL), 0);
    assert_int_equal(infer("--scene", "--tile", "64", "--overlap", "16", "--quiet", "-o", out, "--vector", geojson,
                           tif, NULL), 0);
    char min_area[32];
    FMT(min_area, sizeof min_area, "%.17g", 10.5 * px_area);
    assert_int_equal(infer("--scene", "--tile", "64", "--overlap", "16", "--quiet", "-o", out, "--vector", small,
                           "--min-area", min_area, tif, NULL), 0);
    assert_int_equal(infer("--scene", "--tile", "64", "--overlap", "16", "--quiet", "-o", out, "--vector", simple,
                           "--simplify", "0.6", tif, NULL), 0);
    assert_no_temporaries(a_dir);

    /* Counts and areas against the components. */
    layer_sums s, sj, sm, ss;
    GDALDatasetH ds = open_polygons(gpkg, &s);
    long total = 0;
    for (int c = 0; c < 255; c++) {
        if (s.count[c] != count[c])
            fail_msg("class %d: %ld polygons, %ld components", c, s.count[c], count[c]);
        assert_true(fabs(s.area[c] - (double)pixels[c] * px_area) <= 1e-9 * (1 + s.area[c]));
        total += count[c];
    }
    assert_true(total > 10);
    assert_int_equal(s.invalid, 0);

    /* Rasterising the polygons gives the mask back. */
    GDALDatasetH mem = GDALCreate(GDALGetDriverByName("MEM"), "", AW, AH, 1, GDT_Byte, NULL);
    GDALSetGeoTransform(mem, (double *)a_gt);
    OGRLayerH layer = GDALDatasetGetLayer(ds, 0);
    GDALSetSpatialRef(mem, OGR_L_GetSpatialRef(layer));
    GDALRasterBandH band = GDALGetRasterBand(mem, 1);
    assert_int_equal(GDALFillRaster(band, 255, 0), CE_None);
    int band_list[1] = { 1 };
    char **opts = CSLSetNameValue(NULL, "ATTRIBUTE", "class_id");
    assert_int_equal(GDALRasterizeLayers(mem, 1, band_list, 1, &layer, NULL, NULL, NULL, opts, NULL, NULL), CE_None);
    CSLDestroy(opts);
    uint8_t *back = malloc((size_t)AW * AH);
    assert_non_null(back);
    assert_int_equal(GDALRasterIO(band, GF_Read, 0, 0, AW, AH, back, AW, AH, GDT_Byte, 0, 0), CE_None);
    assert_memory_equal(back, a_mask, (size_t)AW * AH);
    free(back);
    GDALClose(mem);
    GDALClose(ds);

    /* GeoJSON: the same polygons. */
    GDALClose(open_polygons(geojson, &sj));
    for (int c = 0; c < 255; c++) {
        assert_int_equal(sj.count[c], s.count[c]);
        assert_true(fabs(sj.area[c] - s.area[c]) <= 1e-9 * (1 + s.area[c]));
    }
    /* --min-area: components of 11 pixels or more remain. */
    long big[256] = { 0 };
    for (long i = 0; i < n_comp; i++)
        if (comp[i].pixels >= 11)
            big[comp[i].cls]++;
    GDALClose(open_polygons(small, &sm));
    for (int c = 0; c < 255; c++)
        assert_int_equal(sm.count[c], big[c]);
    assert_true(sm.features < s.features);
    /* --simplify: every polygon kept, valid, with fewer vertices in all. */
    GDALClose(open_polygons(simple, &ss));
    assert_int_equal(ss.features, s.features);
    assert_int_equal(ss.invalid, 0);
    assert_true(ss.vertices < s.vertices);
    free(comp);
}

/* ---- Cloud-Optimised GeoTIFF ---- */

static void test_cog(void **state)
{
    (void)state;
    const int w = 1100, h = 1000;
    char dir[300], tif[400], plain[400], cog[400];
    FMT(dir, sizeof dir, "%s/cog", tmp);
    mkdir(dir, 0777);
    FMT(tif, sizeof tif, "%s/big.tif", dir);
    FMT(plain, sizeof plain, "%s/plain", dir);
    FMT(cog, sizeof cog, "%s/cog", dir);
    size_t plane = (size_t)w * h;
    uint8_t *bands = malloc(plane * 3);
    assert_non_null(bands);
    for (size_t i = 0; i < plane; i++)
        for (int b = 0; b < 3; b++)
            bands[plane * b + i] = (uint8_t)(255 * pattern((int)(i % w) / 4, (int)(i / w) / 4, b));
    static const double gt[6] = { 500000.0, 2.0, 0.0, 2700000.0, 0.0, -2.0 };
    assert_int_equal(fx_write_geotiff(tif, w, h, 3, GDT_Byte, 32640, gt, NULL, bands, NULL), 0);
    free(bands);
    assert_int_equal(infer("--scene", "--tile", "128", "--overlap", "0", "--threads", "1", "--quiet", "-o", plain, tif,
                           NULL), 0);
    assert_int_equal(infer("--scene", "--tile", "128", "--overlap", "0", "--threads", "1", "--quiet", "--cog", "-o",
                           cog, tif, NULL), 0);
    char a[500], b[500];
    FMT(a, sizeof a, "%s/big.mask.tif", plain);
    FMT(b, sizeof b, "%s/big.mask.tif", cog);
    int w1, h1, w2, h2;
    uint8_t *m1 = fx_read_band(a, &w1, &h1, NULL), *m2 = fx_read_band(b, &w2, &h2, NULL);
    assert_non_null(m1);
    assert_non_null(m2);
    assert_int_equal(w1, w2);
    assert_int_equal(h1, h2);
    assert_memory_equal(m1, m2, plane);
    free(m1);
    free(m2);
    check_mask_file(b, w, h, 32640, gt);
    GDALDatasetH ds = GDALOpen(b, GA_ReadOnly);
    assert_non_null(ds);
    const char *layout = GDALGetMetadataItem(ds, "LAYOUT", "IMAGE_STRUCTURE");
    assert_non_null(layout);
    assert_string_equal(layout, "COG");
    assert_true(GDALGetOverviewCount(GDALGetRasterBand(ds, 1)) >= 1);
    assert_non_null(GDALGetMetadataItem(ds, "UNET_MODEL", NULL));
    GDALClose(ds);
    assert_no_temporaries(cog);
}

static int setup(void **state)
{
    (void)state;
    infer_exe = getenv("UNET_INFER");
    const char *make_model = getenv("UNET_MAKE_MODEL");
    if (!infer_exe || !make_model) {
        fprintf(stderr, "UNET_INFER and UNET_MAKE_MODEL must name the programs\n");
        return -1;
    }
    snprintf(tmp, sizeof tmp, "/tmp/unet-geo-infer-XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    GDALAllRegister();
    CPLSetConfigOption("GDAL_TIFF_INTERNAL_MASK", "YES");
    snprintf(model, sizeof model, "%s/tiny.onnx", tmp);
    char out[300], err[300];
    snprintf(out, sizeof out, "%s/out.txt", tmp);
    snprintf(err, sizeof err, "%s/err.txt", tmp);
    const char *argv[] = { make_model, "-o", model, "--depth", "1", "--filters", "2", NULL };
    return run_redirected(argv, out, err, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(a_valid);
    free(a_mask);
    if (!getenv("UNET_KEEP_TMP")) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rgb8_utm_nodata),
        cmocka_unit_test(test_uint16_4band_wgs84_p2_98),
        cmocka_unit_test(test_uint16_4band_wgs84_minmax),
        cmocka_unit_test(test_polygons),
        cmocka_unit_test(test_cog),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
