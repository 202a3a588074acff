/* Random crops from scene images laid out from tiles (trainer/crops.h):
 * tile-name parsing and layout, crop geometry and determinism, resampling
 * (exact copies at scale 1, masks keep only their own values and the ignore
 * label, bilinear pictures), and rendering across tile borders from files. */
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

#include <unet/image.h>

#include "crops.h"
#include "data.h"
#include "loader.h"

#define CHECK_OK(x) assert_int_equal((x), UNET_OK)

static void test_parse_names(void **state)
{
    (void)state;
    size_t prefix;
    int x, y;
    assert_int_equal(crop_parse_tile_name("tile-1__image_part_005__y0256_x0512", &prefix, &x, &y),
                     1);
    assert_int_equal(prefix, strlen("tile-1__image_part_005"));
    assert_int_equal(x, 512);
    assert_int_equal(y, 256);
    assert_int_equal(crop_parse_tile_name("a__b__y0_x7", &prefix, &x, &y), 1);
    assert_int_equal(prefix, 4);
    assert_int_equal(crop_parse_tile_name("plain", &prefix, &x, &y), 0);
    assert_int_equal(crop_parse_tile_name("a__y12", &prefix, &x, &y), 0);
    assert_int_equal(crop_parse_tile_name("a__y12_x", &prefix, &x, &y), 0);
    assert_int_equal(crop_parse_tile_name("a__y12_x3b", &prefix, &x, &y), 0);
    assert_int_equal(crop_parse_tile_name("__y1_x1", &prefix, &x, &y), 0);
}

/* An in-memory tile set holding only names (layout needs no files). */
static void fake_set(tile_set *set, const char *const *names, int n)
{
    memset(set, 0, sizeof *set);
    set->tiles = calloc((size_t)n, sizeof *set->tiles);
    assert_non_null(set->tiles);
    set->n = n;
    for (int i = 0; i < n; i++)
        set->tiles[i].name = (char *)names[i];
}

static const char *const layout_names[] = {
    "s1__img__y0000_x0000", "s1__img__y0000_x0064", "s1__img__y0064_x0000",
    "s1__img__y0064_x0064", "s2__other__y0032_x0128", "lonely"};

static void test_layout(void **state)
{
    (void)state;
    tile_set set;
    fake_set(&set, layout_names, 6);
    const int idx[6] = {5, 3, 1, 4, 0, 2};
    crop_source src;
    CHECK_OK(crop_source_build(&set, idx, 6, 64, 64, &src));
    assert_int_equal(src.n_images, 3);
    assert_int_equal(src.n_tiles, 6);
    /* Sorted by image key: "lonely", "s1__img", "s2__other". */
    assert_int_equal(src.images[0].n, 1);
    assert_int_equal(src.images[0].width, 64);
    assert_int_equal(src.images[1].n, 4);
    assert_int_equal(src.images[1].width, 128);
    assert_int_equal(src.images[1].height, 128);
    assert_int_equal(src.images[2].n, 1);
    assert_int_equal(src.images[2].width, 192);
    assert_int_equal(src.images[2].height, 96);
    for (int i = 0; i < src.n_tiles; i++) {
        const crop_image *im = &src.images[src.tiles[i].image];
        assert_true(i >= im->first && i < im->first + im->n);
    }
    crop_source_free(&src);
    const int bad[1] = {6};
    assert_int_equal(crop_source_build(&set, bad, 1, 64, 64, &src), UNET_ERR_ARG);
    assert_null(src.tiles); /* nothing left to free after a failure */
    free(set.tiles);
}

static void test_draw_geometry(void **state)
{
    (void)state;
    tile_set set;
    fake_set(&set, layout_names, 6);
    const int idx[6] = {0, 1, 2, 3, 4, 5};
    crop_source src;
    CHECK_OK(crop_source_build(&set, idx, 6, 64, 64, &src));
    int seen_image[3] = {0, 0, 0}, off_grid = 0, small = 0, large = 0;
    for (uint64_t j = 0; j < 3000; j++) {
        crop_window a, b;
        crop_draw(&src, 42, j, &a);
        crop_draw(&src, 42, j, &b);
        /* a function of (seed, sample) */
        assert_true(a.image == b.image && a.x0 == b.x0 && a.y0 == b.y0 && a.w == b.w &&
                    a.h == b.h && a.scale == b.scale);
        assert_true(a.scale >= CROP_SCALE_MIN && a.scale < CROP_SCALE_MAX);
        assert_true(fabs(a.w - 64 * a.scale) < 1e-9 && fabs(a.h - 64 * a.scale) < 1e-9);
        const crop_image *im = &src.images[a.image];
        seen_image[a.image]++;
        if (a.w <= im->width) /* fits: inside the image */
            assert_true(a.x0 >= 0 && a.x0 + a.w <= im->width + 1e-9);
        else /* larger than the image: centred on it */
            assert_true(fabs(a.x0 + a.w / 2 - im->width / 2.0) < 1e-9);
        if (a.h <= im->height)
            assert_true(a.y0 >= 0 && a.y0 + a.h <= im->height + 1e-9);
        off_grid += fmod(a.x0, 64) > 1 && fmod(a.x0, 64) < 63;
        small += a.scale < 0.8;
        large += a.scale > 1.2;
    }
    /* Tiles are drawn uniformly: the 4-tile image about 4 times as often. */
    assert_true(seen_image[1] > 3 * seen_image[0] && seen_image[1] > 3 * seen_image[2]);
    assert_true(seen_image[0] > 300 && seen_image[2] > 300);
    assert_true(off_grid > 1000); /* any position, not the tile grid */
    assert_true(small > 200 && large > 200);
    /* Another seed draws other crops. */
    crop_window a, b;
    crop_draw(&src, 42, 7, &a);
    crop_draw(&src, 43, 7, &b);
    assert_true(a.x0 != b.x0 || a.y0 != b.y0 || a.scale != b.scale);
    crop_source_free(&src);
    free(set.tiles);
}

static void test_resample(void **state)
{
    (void)state;
    enum { CW = 20, CH = 16 };
    uint8_t rgb[3 * CW * CH], mask[CW * CH], cov[CW * CH];
    uint64_t r = 99;
    for (int i = 0; i < CW * CH; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        for (int c = 0; c < 3; c++)
            rgb[3 * i + c] = (uint8_t)(r >> (40 + 8 * c));
        const int v = (int)((r >> 33) % 7);
        mask[i] = (uint8_t)(v == 6 ? 255 : v); /* classes 0..5 and the ignore label */
        cov[i] = (r >> 20) % 10 != 0;          /* a tenth uncovered */
    }
    /* Scale 1 at an integer offset: an exact copy. */
    uint8_t out_rgb[3 * 12 * 10], out_mask[12 * 10];
    crop_resample(rgb, mask, cov, CW, CH, 5, 3, 12, 10, 12, 10, 255, out_rgb, out_mask);
    for (int v = 0; v < 10; v++)
        for (int u = 0; u < 12; u++) {
            const int s = (v + 3) * CW + u + 5, o = v * 12 + u;
            assert_int_equal(out_mask[o], cov[s] ? mask[s] : 255);
            if (cov[s])
                assert_memory_equal(out_rgb + 3 * o, rgb + 3 * s, 3);
        }
    /* Any window, any scale: each mask value is a covered canvas pixel's (or
     * ignore), so only classes 0..5 and 255 come out. */
    for (int t = 0; t < 200; t++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        const double s = 0.75 + 0.5 * (double)(r >> 11) / 9007199254740992.0;
        const double x0 = -2 + (double)((r >> 8) % 1000) / 100.0, y0 = -2 + (double)((r >> 20) % 800) / 100.0;
        crop_resample(rgb, mask, cov, CW, CH, x0, y0, 12 * s, 10 * s, 12, 10, 255, out_rgb,
                      out_mask);
        for (int o = 0; o < 120; o++) {
            const int m = out_mask[o];
            assert_true(m <= 5 || m == 255);
            if (m == 255)
                continue;
            int found = 0;
            for (int i = 0; i < CW * CH && !found; i++)
                found = cov[i] && mask[i] == m;
            assert_true(found);
        }
    }
    /* Bilinear: a 2 x 1 canvas (0 and 200) stretched to 4 pixels samples at
     * -0.25, 0.25, 0.75, 1.25: 0, 50, 150, 200 (edges clamp to the covered). */
    const uint8_t two_rgb[6] = {0, 0, 0, 200, 200, 200}, two_mask[2] = {1, 2}, two_cov[2] = {1, 1};
    uint8_t s_rgb[12], s_mask[4];
    crop_resample(two_rgb, two_mask, two_cov, 2, 1, 0, 0, 2, 1, 4, 1, 255, s_rgb, s_mask);
    const uint8_t want[4] = {0, 50, 150, 200}, want_mask[4] = {1, 1, 2, 2};
    for (int u = 0; u < 4; u++) {
        assert_int_equal(s_rgb[3 * u], want[u]);
        assert_int_equal(s_mask[u], want_mask[u]);
    }
    /* Nothing covered: black and ignored. */
    const uint8_t none[2] = {0, 0};
    crop_resample(two_rgb, two_mask, none, 2, 1, 0, 0, 2, 1, 4, 1, 255, s_rgb, s_mask);
    for (int u = 0; u < 4; u++)
        assert_true(s_rgb[3 * u] == 0 && s_mask[u] == 255);
}

/* A 16 x 16 scene cut into four 8 x 8 tiles on disk, one missing. */
static void test_render_across_tiles(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_crops.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512];
    snprintf(path, sizeof path, "%s/images", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/masks", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    uint8_t scene_rgb[3 * 16 * 16], scene_mask[16 * 16];
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++) {
            const int i = y * 16 + x;
            scene_rgb[3 * i] = (uint8_t)(x * 16);
            scene_rgb[3 * i + 1] = (uint8_t)(y * 16);
            scene_rgb[3 * i + 2] = (uint8_t)(x + y);
            scene_mask[i] = (uint8_t)((x / 4 + y / 4) % 3);
        }
    for (int ty = 0; ty < 2; ty++)
        for (int tx = 0; tx < 2; tx++) {
            if (tx == 1 && ty == 1)
                continue; /* the bottom-right tile is missing */
            uint8_t t_rgb[3 * 64], t_mask[64];
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 8; x++) {
                    const int s = (ty * 8 + y) * 16 + tx * 8 + x;
                    memcpy(t_rgb + 3 * (y * 8 + x), scene_rgb + 3 * s, 3);
                    t_mask[y * 8 + x] = scene_mask[s];
                }
            unet_image img = {.width = 8, .height = 8, .channels = 3, .pixels = t_rgb};
            snprintf(path, sizeof path, "%s/images/sc__im__y%04d_x%04d.png", dir, ty * 8, tx * 8);
            CHECK_OK(unet_png_write(path, &img, NULL, 0));
            unet_image m = {.width = 8, .height = 8, .channels = 1, .pixels = t_mask};
            snprintf(path, sizeof path, "%s/masks/sc__im__y%04d_x%04d.png", dir, ty * 8, tx * 8);
            CHECK_OK(unet_png_write(path, &m, NULL, 0));
        }
    tile_set set;
    CHECK_OK(tile_set_scan(dir, &set));
    assert_int_equal(set.n, 3);
    const int idx[3] = {0, 1, 2};
    crop_source src;
    CHECK_OK(crop_source_build(&set, idx, 3, 8, 8, &src));
    assert_int_equal(src.n_images, 1);
    /* Scale 1 at (4, 4): straddles all four places; the missing one is ignored. */
    const crop_window win = {.image = 0, .x0 = 4, .y0 = 4, .w = 8, .h = 8, .scale = 1};
    uint8_t rgb[3 * 64], mask[64];
    CHECK_OK(crop_render(&src, &set, &win, 8, 8, 3, 255, rgb, mask));
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++) {
            const int sx = x + 4, sy = y + 4, s = sy * 16 + sx, o = y * 8 + x;
            if (sx >= 8 && sy >= 8) {
                assert_int_equal(mask[o], 255);
                continue;
            }
            assert_int_equal(mask[o], scene_mask[s]);
            assert_memory_equal(rgb + 3 * o, scene_rgb + 3 * s, 3);
        }
    /* Through the loader: the same pass twice gives the same batches, masks
     * hold classes 0..2 and 255 only; another crop seed other batches. */
    loader *ld;
    CHECK_OK(loader_create(2, 8, 8, 3, 255, &ld));
    float first_x[2][2 * 3 * 64];
    uint8_t first_y[2][2 * 64];
    for (int pass = 0; pass < 3; pass++) {
        CHECK_OK(loader_start_crops(ld, &set, &src, 4, 0, 1, 5, pass < 2 ? 9 : 10));
        int differs = 0;
        for (int bi = 0; bi < 2; bi++) {
            const loader_batch *b;
            CHECK_OK(loader_next(ld, &b));
            assert_int_equal(b->n_valid, 2);
            for (int i = 0; i < 2 * 64; i++)
                assert_true(b->y[i] <= 2 || b->y[i] == 255);
            if (pass == 0) {
                memcpy(first_x[bi], b->x, sizeof first_x[bi]);
                memcpy(first_y[bi], b->y, sizeof first_y[bi]);
            } else if (pass == 1) {
                assert_memory_equal(first_x[bi], b->x, sizeof first_x[bi]);
                assert_memory_equal(first_y[bi], b->y, sizeof first_y[bi]);
            } else {
                differs += memcmp(first_x[bi], b->x, sizeof first_x[bi]) != 0;
            }
        }
        if (pass == 2)
            assert_true(differs > 0);
    }
    loader_free(ld);

    /* A mask value that is no class is refused with the file's name. */
    uint8_t bad_mask[64];
    memset(bad_mask, 7, sizeof bad_mask);
    unet_image m = {.width = 8, .height = 8, .channels = 1, .pixels = bad_mask};
    snprintf(path, sizeof path, "%s/masks/sc__im__y0000_x0000.png", dir);
    CHECK_OK(unet_png_write(path, &m, NULL, 0));
    assert_int_equal(crop_render(&src, &set, &win, 8, 8, 3, 255, rgb, mask), UNET_ERR_INVALID);
    assert_non_null(strstr(unet_last_error(), "sc__im__y0000_x0000.png"));
    crop_source_free(&src);
    for (int i = 0; i < set.n; i++) {
        snprintf(path, sizeof path, "%s/images/%s", dir, set.tiles[i].image_file);
        unlink(path);
        snprintf(path, sizeof path, "%s/masks/%s.png", dir, set.tiles[i].name);
        unlink(path);
    }
    tile_set_free(&set);
    snprintf(path, sizeof path, "%s/images", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/masks", dir);
    rmdir(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_names),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_draw_geometry),
        cmocka_unit_test(test_resample),
        cmocka_unit_test(test_render_across_tiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
