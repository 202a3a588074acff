/* unet-tile with vector labels (GDAL): a georeferenced GeoTIFF (EPSG:32640,
 * nodata box) and rectangles of known classes, written by the test as a
 * GeoPackage in the image's CRS (integer class ids) and as GeoJSON in
 * EPSG:4326 (class names, so reprojected by unet-tile). The masks of the
 * tiles, put back together, must equal the mask drawn here directly from
 * the rectangles' pixel ranges (later rectangles over earlier ones, 255
 * outside them and on nodata), and the image tiles the GeoTIFF's pixels. A
 * class outside the palette fails the image, or is left out with
 * --unknown-colors ignore. */
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

#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include <unet/image.h>

#include "geo_fixture.h"
#include "tool_run.h"

#define W 200
#define H 160
#define TILE 64

static char tmp[256];
static const char *tile_exe;
static const double gt[6] = { 420000.0, 0.5, 0.0, 2800000.0, 0.0, -0.5 };

/* Rectangles in pixels [x0, x1) x [y0, y1), burnt in this order. */
typedef struct rect {
    int x0, y0, x1, y1;
    int cls;
    const char *name;
} rect;
static const rect rects[] = {
    { 10, 20, 60, 80, 0, "Building" },
    { 40, 50, 120, 100, 4, "water" },      /* over part of the first; any case */
    { 150, 10, 190, 150, 2, "ROAD" },      /* crosses the nodata box */
    { 70, 110, 140, 155, 3, "Vegetation" },
};
#define N_RECTS (int)(sizeof rects / sizeof rects[0])

static int is_nodata(int x, int y) { return x >= 160 && x < 180 && y >= 60 && y < 90; }

static uint8_t pixel(int x, int y, int b)
{
    if (is_nodata(x, y))
        return 0;
    return (uint8_t)(1 + (x * 7 + y * 13 + b * 101) % 254);
}

static int run_tile(const char *first, ...)
{
    const char *argv[RUN_ARGV_MAX];
    const char *const head[] = { tile_exe, NULL };
    va_list ap;
    va_start(ap, first);
    run_argv_va(argv, head, first, ap);
    va_end(ap);
    char out[300], err[300];
    FMT(out, sizeof out, "%s/out.txt", tmp);
    FMT(err, sizeof err, "%s/err.txt", tmp);
    return run_redirected(argv, out, err, NULL);
}

static char *read_err(void)
{
    char path[300];
    FMT(path, sizeof path, "%s/err.txt", tmp);
    return slurp(path, NULL);
}

/* A vector file with the rectangles (plus extra, when not NULL) in EPSG:epsg;
 * the class in field "class" as a name, or as an integer id. */
static void write_labels(const char *path, const char *driver, int epsg, int as_names, const rect *extra)
{
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName(driver), path, 0, 0, 0, GDT_Unknown, NULL);
    assert_non_null(ds);
    OGRSpatialReferenceH image_srs = OSRNewSpatialReference(NULL), srs = OSRNewSpatialReference(NULL);
    assert_int_equal(OSRImportFromEPSG(image_srs, 32640), OGRERR_NONE);
    assert_int_equal(OSRImportFromEPSG(srs, epsg), OGRERR_NONE);
    OSRSetAxisMappingStrategy(image_srs, OAMS_TRADITIONAL_GIS_ORDER);
    OSRSetAxisMappingStrategy(srs, OAMS_TRADITIONAL_GIS_ORDER);
    OGRCoordinateTransformationH ct = epsg == 32640 ? NULL : OCTNewCoordinateTransformation(image_srs, srs);
    OGRLayerH layer = GDALDatasetCreateLayer(ds, "labels", srs, wkbPolygon, NULL);
    assert_non_null(layer);
    OGRFieldDefnH fd = OGR_Fld_Create("class", as_names ? OFTString : OFTInteger);
    assert_int_equal(OGR_L_CreateField(layer, fd, TRUE), OGRERR_NONE);
    OGR_Fld_Destroy(fd);
    for (int i = 0; i <= N_RECTS; i++) {
        const rect *r = i < N_RECTS ? &rects[i] : extra;
        if (!r)
            break;
        OGRGeometryH ring = OGR_G_CreateGeometry(wkbLinearRing);
        const int xs[5] = { r->x0, r->x1, r->x1, r->x0, r->x0 }, ys[5] = { r->y0, r->y0, r->y1, r->y1, r->y0 };
        for (int k = 0; k < 5; k++)
            OGR_G_AddPoint_2D(ring, gt[0] + xs[k] * gt[1], gt[3] + ys[k] * gt[5]);
        OGRGeometryH poly = OGR_G_CreateGeometry(wkbPolygon);
        OGR_G_AddGeometryDirectly(poly, ring);
        if (ct)
            assert_int_equal(OGR_G_Transform(poly, ct), OGRERR_NONE);
        OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(layer));
        if (as_names)
            OGR_F_SetFieldString(f, 0, r->name);
        else
            OGR_F_SetFieldInteger(f, 0, r->cls);
        OGR_F_SetGeometryDirectly(f, poly);
        assert_int_equal(OGR_L_CreateFeature(layer, f), OGRERR_NONE);
        OGR_F_Destroy(f);
    }
    if (ct)
        OCTDestroyCoordinateTransformation(ct);
    OSRDestroySpatialReference(image_srs);
    OSRDestroySpatialReference(srs);
    GDALClose(ds);
}

/* The mask drawn straight from the rectangles. */
static void expected_mask(uint8_t *m)
{
    memset(m, 255, (size_t)W * H);
    for (int i = 0; i < N_RECTS; i++)
        for (int y = rects[i].y0; y < rects[i].y1; y++)
            for (int x = rects[i].x0; x < rects[i].x1; x++)
                m[(size_t)y * W + x] = (uint8_t)rects[i].cls;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            if (is_nodata(x, y))
                m[(size_t)y * W + x] = 255;
}

/* Puts the tiles of out back together (tiles on the 64-pixel grid, padded
 * past the image, tiles without labels not written) and compares. */
static void check_tiles(const char *out)
{
    uint8_t want[W * H];
    expected_mask(want);
    int written = 0;
    for (int ty = 0; ty < H; ty += TILE)
        for (int tx = 0; tx < W; tx += TILE) {
            char mpath[500], ipath[500];
            FMT(mpath, sizeof mpath, "%s/masks/scene__scene__y%04d_x%04d.png", out, ty, tx);
            FMT(ipath, sizeof ipath, "%s/images/scene__scene__y%04d_x%04d.png", out, ty, tx);
            struct stat st;
            if (stat(mpath, &st) != 0) { /* no label in this tile */
                for (int y = ty; y < ty + TILE && y < H; y++)
                    for (int x = tx; x < tx + TILE && x < W; x++)
                        assert_int_equal(want[(size_t)y * W + x], 255);
                continue;
            }
            written++;
            unet_image m, img;
            assert_int_equal(unet_image_read(mpath, UNET_IMAGE_PALETTE_INDEX, &m), UNET_OK);
            assert_int_equal(unet_image_read(ipath, UNET_IMAGE_DEFAULT, &img), UNET_OK);
            assert_int_equal(m.width, TILE);
            assert_int_equal(img.channels, 3);
            for (int y = 0; y < TILE; y++)
                for (int x = 0; x < TILE; x++) {
                    int gx = tx + x, gy = ty + y, inside = gx < W && gy < H;
                    int got = m.pixels[(size_t)y * TILE + x];
                    int exp = inside ? want[(size_t)gy * W + gx] : 255;
                    if (got != exp)
                        fail_msg("%s: pixel (%d, %d) is %d, want %d", out, gx, gy, got, exp);
                    for (int b = 0; b < 3 && inside; b++)
                        assert_int_equal(img.pixels[((size_t)y * TILE + x) * 3 + b], pixel(gx, gy, b));
                }
            unet_image_free(&m);
            unet_image_free(&img);
        }
    assert_true(written >= 4);
}

static void make_image(const char *tif)
{
    size_t plane = (size_t)W * H;
    uint8_t *bands = malloc(plane * 3);
    assert_non_null(bands);
    for (int b = 0; b < 3; b++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                bands[plane * b + (size_t)y * W + x] = pixel(x, y, b);
    double nodata = 0;
    assert_int_equal(fx_write_geotiff(tif, W, H, 3, GDT_Byte, 32640, gt, &nodata, bands, NULL), 0);
    free(bands);
}

static void test_gpkg_same_crs_ids(void **state)
{
    (void)state;
    char tif[300], labels[300], out[300];
    FMT(tif, sizeof tif, "%s/scene.tif", tmp);
    FMT(labels, sizeof labels, "%s/labels.gpkg", tmp);
    FMT(out, sizeof out, "%s/tiles-gpkg", tmp);
    make_image(tif);
    write_labels(labels, "GPKG", 32640, 0, NULL);
    assert_int_equal(run_tile(tif, "--labels", labels, "--label-field", "class", "--tile", "64", "--quiet", "-o", out,
                              NULL), 0);
    check_tiles(out);
}

static void test_geojson_reprojected_names(void **state)
{
    (void)state;
    char tif[300], labels[300], out[300];
    FMT(tif, sizeof tif, "%s/scene.tif", tmp);
    FMT(labels, sizeof labels, "%s/labels.geojson", tmp);
    FMT(out, sizeof out, "%s/tiles-geojson", tmp);
    make_image(tif);
    write_labels(labels, "GeoJSON", 4326, 1, NULL);
    /* the default --label-field is class */
    assert_int_equal(run_tile(tif, "--labels", labels, "--tile", "64", "--quiet", "-o", out, NULL), 0);
    check_tiles(out);
}

static void test_unknown_class(void **state)
{
    (void)state;
    char tif[300], labels[300], out[300];
    FMT(tif, sizeof tif, "%s/scene.tif", tmp);
    FMT(labels, sizeof labels, "%s/lava.geojson", tmp);
    FMT(out, sizeof out, "%s/tiles-lava", tmp);
    make_image(tif);
    static const rect lava = { 0, 0, 8, 8, 0, "Lava" }; /* a corner no other rectangle covers */
    write_labels(labels, "GeoJSON", 32640, 1, &lava);
    assert_int_equal(run_tile(tif, "--labels", labels, "--tile", "64", "-o", out, NULL), 1);
    char *err = read_err();
    assert_non_null(err);
    assert_non_null(strstr(err, "'Lava'"));
    free(err);
    assert_int_equal(run_tile(tif, "--labels", labels, "--tile", "64", "--unknown-colors", "ignore", "--force", "-o",
                              out, NULL), 0);
    err = read_err();
    assert_non_null(strstr(err, "Lava"));
    free(err);
    check_tiles(out); /* the Lava corner stays 255 */
    /* A field no layer has is an error that names it. */
    assert_int_equal(run_tile(tif, "--labels", labels, "--label-field", "kind", "--force", "-o", out, NULL), 1);
    err = read_err();
    assert_non_null(strstr(err, "'kind'"));
    free(err);
}

static int setup(void **state)
{
    (void)state;
    tile_exe = getenv("UNET_TILE");
    if (!tile_exe) {
        fprintf(stderr, "UNET_TILE must name unet-tile\n");
        return -1;
    }
    snprintf(tmp, sizeof tmp, "/tmp/unet-geo-labels-XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    GDALAllRegister();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (getenv("UNET_KEEP_TMP"))
        return 0;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpkg_same_crs_ids),
        cmocka_unit_test(test_geojson_reprojected_names),
        cmocka_unit_test(test_unknown_class),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
