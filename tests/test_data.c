/* Training data: augmentation (each symmetry against its coordinate formula,
 * inverses, image and mask moved alike, jitter worked out by hand), the tiles
 * folder (pairs, folds, splits by fold and by scene), class weights by hand,
 * and the loader thread (batches equal to the tiles read directly, padding,
 * starting mid-pass, errors). */
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

#include "augment.h"
#include "data.h"
#include "loader.h"

/* ---- augmentation ---------------------------------------------------------- */

/* Source coordinates of destination (x, y) for op on an n x n image, written
 * out per op from the definition: mirror (x -> n-1-x) first, then quarter
 * turns clockwise. */
static void source_of(int op, int n, int x, int y, int *sx, int *sy)
{
    const int m = n - 1;
    switch (op) {
    case 0: *sx = x; *sy = y; break;         /* identity */
    case 1: *sx = y; *sy = m - x; break;     /* 90 clockwise */
    case 2: *sx = m - x; *sy = m - y; break; /* 180 */
    case 3: *sx = m - y; *sy = x; break;     /* 270 clockwise */
    case 4: *sx = m - x; *sy = y; break;     /* mirror */
    case 5: *sx = m - y; *sy = m - x; break; /* anti-transpose */
    case 6: *sx = x; *sy = m - y; break;     /* upside down */
    default: *sx = y; *sy = x; break;        /* transpose */
    }
}

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

static void test_symmetries_match_formulas(void **state)
{
    (void)state;
    enum { N = 7, C = 3 };
    uint8_t src[N * N * C], dst[N * N * C];
    fill_pattern(src, sizeof src, 1);
    for (int op = 0; op < AUG_OPS; op++) {
        aug_transform(src, dst, N, N, C, op);
        for (int y = 0; y < N; y++)
            for (int x = 0; x < N; x++) {
                int sx, sy;
                source_of(op, N, x, y, &sx, &sy);
                for (int c = 0; c < C; c++)
                    if (dst[(y * N + x) * C + c] != src[(sy * N + sx) * C + c])
                        fail_msg("op %d: pixel (%d, %d) channel %d", op, x, y, c);
            }
    }
}

static void test_inverses(void **state)
{
    (void)state;
    enum { N = 9 };
    uint8_t src[N * N * 3], a[N * N * 3], b[N * N * 3];
    fill_pattern(src, sizeof src, 7);
    for (int op = 0; op < AUG_OPS; op++) {
        aug_transform(src, a, N, N, 3, op);
        aug_transform(a, b, N, N, 3, aug_inverse(op));
        assert_memory_equal(b, src, sizeof src);
        /* The 8 ops are distinct. */
        for (int other = 0; other < op; other++) {
            aug_transform(src, b, N, N, 3, other);
            assert_memory_not_equal(a, b, sizeof a);
        }
    }
    /* Non-square tiles: the shape-keeping ops. */
    enum { W = 6, H = 4 };
    uint8_t r[W * H], s[W * H], t[W * H];
    fill_pattern(r, sizeof r, 3);
    for (int op = 0; op < AUG_OPS; op += 2) {
        aug_transform(r, s, W, H, 1, op);
        aug_transform(s, t, W, H, 1, aug_inverse(op));
        assert_memory_equal(t, r, sizeof r);
    }
    aug_transform(r, s, W, H, 1, 6); /* upside down */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            assert_int_equal(s[y * W + x], r[(H - 1 - y) * W + x]);
}

/* A mask derived from the image stays derived after the same op. */
static void test_image_and_mask_agree(void **state)
{
    (void)state;
    enum { N = 16 };
    uint8_t img[N * N * 3], mask[N * N], ti[N * N * 3], tm[N * N];
    fill_pattern(img, sizeof img, 11);
    for (int i = 0; i < N * N; i++)
        mask[i] = (uint8_t)(img[3 * i] ^ (img[3 * i + 1] * 3) ^ (img[3 * i + 2] * 7));
    for (uint64_t sample = 0; sample < 64; sample++) {
        aug_params p;
        aug_draw(42, sample, 1, &p);
        aug_transform(img, ti, N, N, 3, p.op);
        aug_transform(mask, tm, N, N, 1, p.op);
        for (int i = 0; i < N * N; i++)
            assert_int_equal(tm[i], (uint8_t)(ti[3 * i] ^ (ti[3 * i + 1] * 3) ^ (ti[3 * i + 2] * 7)));
    }
}

static void test_draws(void **state)
{
    (void)state;
    int seen[AUG_OPS] = {0};
    for (uint64_t s = 0; s < 2000; s++) {
        aug_params a, b, c;
        aug_draw(5, s, 1, &a);
        aug_draw(5, s, 1, &b);
        assert_memory_equal(&a, &b, sizeof a); /* a function of (seed, sample) */
        assert_in_range(a.op, 0, AUG_OPS - 1);
        seen[a.op]++;
        assert_true(fabsf(a.brightness) <= AUG_BRIGHTNESS);
        assert_true(fabsf(a.contrast - 1.0f) <= AUG_CONTRAST);
        assert_true(fabsf(a.saturation - 1.0f) <= AUG_SATURATION);
        for (int ch = 0; ch < 3; ch++)
            assert_true(fabsf(a.gain[ch] - 1.0f) <= AUG_GAIN);
        assert_true(a.gain[0] != a.gain[1]); /* drawn per channel */
        aug_draw(5, s, 0, &c);
        assert_int_equal(c.op % 2, 0); /* no odd quarter turn for non-square tiles */
    }
    for (int op = 0; op < AUG_OPS; op++)
        assert_true(seen[op] > 150); /* about 250 each */
    aug_params a, b;
    aug_draw(5, 0, 1, &a);
    aug_draw(6, 0, 1, &b);
    assert_true(a.brightness != b.brightness);
}

/* Pixels (51,102,153), (204,0,255): mean 0.5. Contrast 0.9 and brightness
 * 0.02 give (v - 0.5) 0.9 + 0.52: 0.25 0.43 0.61 / 0.79 0.07 0.97. */
static void test_planar_and_jitter(void **state)
{
    (void)state;
    const uint8_t rgb[6] = {51, 102, 153, 204, 0, 255};
    float out[6];
    aug_to_planar(rgb, 2, 1, NULL, out);
    const float plain[6] = {0.2f, 0.8f, 0.4f, 0.0f, 0.6f, 1.0f}; /* planes R, G, B */
    for (int i = 0; i < 6; i++)
        assert_true(fabsf(out[i] - plain[i]) < 1e-6f);
    const aug_params p = {.op = 0, .brightness = 0.02f, .contrast = 0.9f, .saturation = 1.0f,
                          .gain = {1.0f, 1.0f, 1.0f}};
    aug_to_planar(rgb, 2, 1, &p, out);
    const float want[6] = {0.25f, 0.79f, 0.43f, 0.07f, 0.61f, 0.97f};
    for (int i = 0; i < 6; i++)
        if (fabsf(out[i] - want[i]) > 1e-5f)
            fail_msg("value %d: %g, expected %g", i, (double)out[i], (double)want[i]);
    const aug_params q = {.op = 0, .brightness = 0.1f, .contrast = 1.15f, .saturation = 1.0f,
                          .gain = {1.0f, 1.0f, 1.0f}};
    aug_to_planar(rgb, 2, 1, &q, out);
    assert_true(out[5] == 1.0f); /* clamped */
    assert_true(out[3] >= 0.0f);
    /* Saturation 0.5 halves each channel's distance from the pixel's grey
     * (0.4 for pixel 0: 0.2 0.4 0.6 -> 0.3 0.4 0.5), then gains 1, 0.5, 2. */
    const aug_params r = {.op = 0, .brightness = 0.0f, .contrast = 1.0f, .saturation = 0.5f,
                          .gain = {1.0f, 0.5f, 2.0f}};
    aug_to_planar(rgb, 2, 1, &r, out);
    const float sat[3] = {0.3f, 0.2f, 1.0f};
    for (int c = 0; c < 3; c++)
        if (fabsf(out[2 * c] - sat[c]) > 1e-5f)
            fail_msg("channel %d: %g, expected %g", c, (double)out[2 * c], (double)sat[c]);
}

/* ---- tiles folder --------------------------------------------------------------- */

static char root[256];

static void write_tile(const char *dir, const char *name, int w, int h, uint8_t seed, int label_max)
{
    char path[512];
    uint8_t *rgb = malloc((size_t)w * h * 3), *m = malloc((size_t)w * h);
    assert_non_null(rgb);
    assert_non_null(m);
    for (int i = 0; i < w * h; i++) {
        rgb[3 * i] = (uint8_t)(seed + i);
        rgb[3 * i + 1] = (uint8_t)(seed * 3 + 2 * i);
        rgb[3 * i + 2] = (uint8_t)(255 - i);
        m[i] = (uint8_t)((seed + i) % (label_max + 1));
    }
    m[0] = 255; /* an ignore pixel */
    unet_image img = {.width = w, .height = h, .channels = 3, .pixels = rgb};
    snprintf(path, sizeof path, "%s/images/%s.png", dir, name);
    assert_int_equal(unet_png_write(path, &img, NULL, 0), UNET_OK);
    unet_image mi = {.width = w, .height = h, .channels = 1, .pixels = m};
    snprintf(path, sizeof path, "%s/masks/%s.png", dir, name);
    assert_int_equal(unet_png_write(path, &mi, NULL, 0), UNET_OK);
    free(rgb);
    free(m);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *const names[6] = {"a__1", "a__2", "b__1", "b__2", "c__1", "d__1"};

static int setup_tiles(void **state)
{
    (void)state;
    char path[512];
    snprintf(root, sizeof root, "/tmp/unet-test-data-%ld", (long)getpid());
    mkdir(root, 0777);
    snprintf(path, sizeof path, "%s/images", root);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/masks", root);
    mkdir(path, 0777);
    for (int i = 0; i < 6; i++)
        write_tile(root, names[i], 8, 8, (uint8_t)(10 * i), 3);
    snprintf(path, sizeof path, "%s/folds.tsv", root);
    write_text(path, "a__1\ta\t0\na__2\ta\t0\nb__1\tb\t1\nb__2\tb\t1\nc__1\tc\t1\n"
                     "d__1\td\ttest\nzzz\tz\t0\n");
    return 0;
}

static int teardown_tiles(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_scan_and_folds(void **state)
{
    (void)state;
    tile_set set;
    assert_int_equal(tile_set_scan(root, &set), UNET_OK);
    assert_int_equal(set.n, 6);
    for (int i = 0; i < 6; i++)
        assert_string_equal(set.tiles[i].name, names[i]);
    assert_string_equal(set.tiles[2].scene, "b"); /* from the name before folds.tsv */
    char path[600];
    snprintf(path, sizeof path, "%s/folds.tsv", root);
    int unknown = -1;
    assert_int_equal(tile_set_read_folds(&set, path, &unknown), UNET_OK);
    assert_int_equal(unknown, 1);
    assert_string_equal(set.tiles[5].fold, "test");

    tile_split sp;
    assert_int_equal(split_by_fold(&set, "1", &sp), UNET_OK);
    assert_int_equal(sp.n_val, 3);  /* b__1 b__2 c__1 */
    assert_int_equal(sp.n_train, 2); /* a__1 a__2; d__1 is test */
    assert_int_equal(sp.train[0], 0);
    assert_int_equal(sp.train[1], 1);
    tile_split_free(&sp);
    assert_int_equal(split_by_fold(&set, "7", &sp), UNET_ERR_INVALID);
    assert_non_null(strstr(unet_last_error(), "fold 7"));

    assert_int_equal(split_none(&set, &sp), UNET_OK);
    assert_int_equal(sp.n_train, 5);
    assert_int_equal(sp.n_val, 0);
    tile_split_free(&sp);

    /* By scene (a: 2 tiles, b: 2, c: 1; d is test): every scene entirely on
     * one side, test tiles on neither, same seed same split. Fraction 0.3
     * wants 1.5 tiles: the first scene drawn and nothing more (one more would
     * be further off), so 1 or 2 tiles. Fraction 0.9 wants 4.5: two scenes
     * (3 or 4 tiles), the third must stay for training. */
    int sizes_seen[6] = {0};
    for (uint64_t seed = 0; seed < 16; seed++) {
        tile_split a, b;
        assert_int_equal(split_by_fraction(&set, 0.9, seed, &a), UNET_OK);
        assert_true(a.n_val == 3 || a.n_val == 4);
        tile_split_free(&a);
        assert_int_equal(split_by_fraction(&set, 0.3, seed, &a), UNET_OK);
        assert_int_equal(split_by_fraction(&set, 0.3, seed, &b), UNET_OK);
        assert_int_equal(a.n_val, b.n_val);
        assert_memory_equal(a.val, b.val, (size_t)a.n_val * sizeof *a.val);
        assert_int_equal(a.n_train + a.n_val, 5);
        assert_true(a.n_val == 1 || a.n_val == 2);
        sizes_seen[a.n_val]++;
        for (int i = 0; i < a.n_val; i++) {
            assert_true(a.val[i] != 5);
            for (int j = 0; j < a.n_train; j++)
                assert_string_not_equal(set.tiles[a.val[i]].scene, set.tiles[a.train[j]].scene);
        }
        tile_split_free(&a);
        tile_split_free(&b);
    }
    assert_true(sizes_seen[1] > 0 && sizes_seen[2] > 0); /* the seed matters */
    tile_set_free(&set);

    /* A folds file that misses a tile is refused, naming it. */
    snprintf(path, sizeof path, "%s/short.tsv", root);
    write_text(path, "a__1\ta\t0\n");
    assert_int_equal(tile_set_scan(root, &set), UNET_OK);
    assert_int_equal(tile_set_read_folds(&set, path, NULL), UNET_ERR_INVALID);
    assert_non_null(strstr(unet_last_error(), "a__2"));
    write_text(path, "a__1\ta\n");
    assert_int_equal(tile_set_read_folds(&set, path, NULL), UNET_ERR_PARSE);
    assert_non_null(strstr(unet_last_error(), "line 1"));
    tile_set_free(&set);
}

static void test_missing_mask_and_bad_labels(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/masks/c__1.png", root);
    char moved[620];
    snprintf(moved, sizeof moved, "%s.away", path);
    assert_int_equal(rename(path, moved), 0);
    tile_set set;
    assert_int_equal(tile_set_scan(root, &set), UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), "c__1.png"));
    assert_int_equal(rename(moved, path), 0);

    int w, h;
    uint8_t *m;
    assert_int_equal(tile_read_mask(path, 4, 255, &w, &h, &m), UNET_OK);
    free(m);
    assert_int_equal(tile_read_mask(path, 3, 255, &w, &h, &m), UNET_ERR_INVALID);
    assert_non_null(strstr(unet_last_error(), "class 3"));
}

/* counts 100, 300, 0, 600: inverse frequencies 10, 10/3, -, 10/6 sum to 15
 * over 3 present classes, so weights 2, 2/3, 1 (absent), 1/3. */
static void test_class_weights(void **state)
{
    (void)state;
    const uint64_t counts[4] = {100, 300, 0, 600};
    float w[4];
    class_weights_auto(counts, 4, 1.0, w);
    assert_true(fabsf(w[0] - 2.0f) < 1e-6f);
    assert_true(fabsf(w[1] - 2.0f / 3.0f) < 1e-6f);
    assert_true(w[2] == 1.0f);
    assert_true(fabsf(w[3] - 1.0f / 3.0f) < 1e-6f);
    const uint64_t skewed[2] = {1, 99999}; /* 1.99998 and 0.00002 -> clipped to 0.1 */
    class_weights_auto(skewed, 2, 1.0, w);
    assert_true(fabsf(w[0] - 1.99998f) < 1e-4f);
    assert_true(w[1] == 0.1f);
    /* sqrt: 1/sqrt(f) = sqrt(10), sqrt(10/3), -, sqrt(10/6); their sum over the
     * 3 present classes is s, each weight 3 sqrt(.)/s. */
    class_weights_auto(counts, 4, 0.5, w);
    const double r0 = sqrt(10.0), r1 = sqrt(10.0 / 3.0), r3 = sqrt(10.0 / 6.0);
    const double sum = r0 + r1 + r3;
    assert_true(fabs(w[0] - 3 * r0 / sum) < 1e-6);
    assert_true(fabs(w[1] - 3 * r1 / sum) < 1e-6);
    assert_true(w[2] == 1.0f);
    assert_true(fabs(w[3] - 3 * r3 / sum) < 1e-6);

    tile_set set;
    assert_int_equal(tile_set_scan(root, &set), UNET_OK);
    const int idx[1] = {0};
    uint64_t c[4];
    assert_int_equal(tiles_class_counts(&set, idx, 1, 4, 255, c), UNET_OK);
    /* a__1: labels (0 + i) % 4 over 64 pixels, pixel 0 ignored. */
    assert_int_equal(c[0], 15);
    assert_int_equal(c[1], 16);
    assert_int_equal(c[2], 16);
    assert_int_equal(c[3], 16);
    tile_set_free(&set);
}

/* ---- loader ----------------------------------------------------------------- */

static void read_tile(const tile_set *set, int i, uint8_t **rgb, uint8_t **mask)
{
    char path[600];
    unet_image img;
    assert_int_equal(tile_image_path(set, i, path, sizeof path), UNET_OK);
    assert_int_equal(unet_image_read(path, UNET_IMAGE_FORCE_RGB, &img), UNET_OK);
    *rgb = img.pixels;
    assert_int_equal(tile_mask_path(set, i, path, sizeof path), UNET_OK);
    assert_int_equal(unet_image_read(path, UNET_IMAGE_PALETTE_INDEX, &img), UNET_OK);
    *mask = img.pixels;
}

/* Sample k of batch b must equal tile items[b*B+k] (or the batch's last real
 * one), op'd and jittered by aug_draw(seed, b*B+k) when augmenting. */
static void check_batch(const tile_set *set, const int *items, int n_items, int B,
                        const loader_batch *b, int augment, uint64_t seed)
{
    enum { HW = 64 };
    const int first = b->index * B;
    const int n_valid = n_items - first < B ? n_items - first : B;
    assert_int_equal(b->n_valid, n_valid);
    for (int k = 0; k < B; k++) {
        const int j = first + (k < n_valid ? k : n_valid - 1);
        uint8_t *rgb, *mask, trgb[HW * 3], tmask[HW];
        read_tile(set, items[j], &rgb, &mask);
        aug_params p;
        aug_identity(&p);
        if (augment)
            aug_draw(seed, (uint64_t)j, 1, &p);
        aug_transform(rgb, trgb, 8, 8, 3, p.op);
        aug_transform(mask, tmask, 8, 8, 1, p.op);
        assert_memory_equal(b->y + (size_t)k * HW, tmask, HW);
        /* x: planes of the (op'd) pixels; without jitter exactly v/255. */
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < HW; i++) {
                const float v = b->x[((size_t)k * 3 + (size_t)c) * HW + (size_t)i];
                const float plain = trgb[3 * i + c] / 255.0f;
                if (!augment)
                    assert_true(fabsf(v - plain) < 1e-6f);
                else
                    assert_true(v >= 0.0f && v <= 1.0f &&
                                fabsf(v - plain) <= AUG_BRIGHTNESS + AUG_CONTRAST + 1e-5f);
            }
        free(rgb);
        free(mask);
    }
}

static void test_loader_passes(void **state)
{
    (void)state;
    tile_set set;
    assert_int_equal(tile_set_scan(root, &set), UNET_OK);
    loader *ld;
    assert_int_equal(loader_create(2, 8, 8, 4, 255, &ld), UNET_OK);
    const int items[5] = {4, 0, 3, 3, 1};
    const loader_batch *b;
    for (int augment = 0; augment < 2; augment++) {
        assert_int_equal(loader_start(ld, &set, items, 5, 0, augment, 99), UNET_OK);
        for (int bi = 0; bi < 3; bi++) {
            assert_int_equal(loader_next(ld, &b), UNET_OK);
            assert_int_equal(b->index, bi);
            check_batch(&set, items, 5, 2, b, augment, 99);
        }
        assert_int_equal(loader_next(ld, &b), UNET_ERR_ARG); /* past the end */
    }
    /* Starting at batch 1, and abandoning a pass halfway, changes nothing. */
    assert_int_equal(loader_start(ld, &set, items, 5, 0, 1, 7), UNET_OK);
    assert_int_equal(loader_next(ld, &b), UNET_OK);
    assert_int_equal(loader_start(ld, &set, items, 5, 1, 1, 7), UNET_OK);
    assert_int_equal(loader_next(ld, &b), UNET_OK);
    assert_int_equal(b->index, 1);
    check_batch(&set, items, 5, 2, b, 1, 7);
    loader_free(ld);

    /* A tile whose image vanished fails the batch with its name. */
    assert_int_equal(loader_create(2, 8, 8, 4, 255, &ld), UNET_OK);
    char path[600], moved[620];
    assert_int_equal(tile_image_path(&set, 3, path, sizeof path), UNET_OK);
    snprintf(moved, sizeof moved, "%s.away", path);
    assert_int_equal(rename(path, moved), 0);
    assert_int_equal(loader_start(ld, &set, items, 5, 0, 0, 0), UNET_OK);
    assert_int_equal(loader_next(ld, &b), UNET_OK);
    assert_int_not_equal(loader_next(ld, &b), UNET_OK);
    assert_non_null(strstr(unet_last_error(), "b__2"));
    assert_int_equal(rename(moved, path), 0);
    /* Wrong size for the loader. */
    loader_free(ld);
    assert_int_equal(loader_create(1, 16, 16, 4, 255, &ld), UNET_OK);
    assert_int_equal(loader_start(ld, &set, items, 1, 0, 0, 0), UNET_OK);
    assert_int_equal(loader_next(ld, &b), UNET_ERR_SHAPE);
    assert_non_null(strstr(unet_last_error(), "8x8"));
    loader_free(ld);
    tile_set_free(&set);
}

int main(void)
{
    const struct CMUnitTest aug[] = {
        cmocka_unit_test(test_symmetries_match_formulas),
        cmocka_unit_test(test_inverses),
        cmocka_unit_test(test_image_and_mask_agree),
        cmocka_unit_test(test_draws),
        cmocka_unit_test(test_planar_and_jitter),
    };
    const struct CMUnitTest tiles[] = {
        cmocka_unit_test(test_scan_and_folds),
        cmocka_unit_test(test_missing_mask_and_bad_labels),
        cmocka_unit_test(test_class_weights),
        cmocka_unit_test(test_loader_passes),
    };
    int fails = cmocka_run_group_tests_name("augmentation", aug, NULL, NULL);
    fails += cmocka_run_group_tests_name("tiles", tiles, setup_tiles, teardown_tiles);
    return fails;
}
