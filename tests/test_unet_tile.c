/* End to end: unet-synth makes tiny scenes, unet-tile cuts them; the tiles are
 * read back and checked against the sources, cropped by hand here, and
 * against tile names and counts worked out from the window arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include <unet/image.h>

/* snprintf that fails the test instead of truncating. */
#define FMT(buf, size, ...) assert_true(snprintf(buf, size, __VA_ARGS__) < (int)(size))

static char tmp[256];
static const char *tile_exe, *synth_exe;

/* Runs a program with arguments; stdout and stderr go to files under tmp
 * (out.txt, err.txt). Returns the exit status, -1 when it did not exit. */
static int run(const char *exe, ...)
{
    const char *argv[64];
    int n = 0;
    va_list ap;
    va_start(ap, exe);
    argv[n++] = exe;
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 63) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char out[300], errf[300];
    snprintf(out, sizeof out, "%s/out.txt", tmp);
    snprintf(errf, sizeof errf, "%s/err.txt", tmp);
    pid_t pid = fork();
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), fe = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0) _exit(127);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

/* tmp/rel in one of 4 rotating buffers: valid for the next few calls only. */
static char *tmp_file(const char *rel)
{
    static char buf[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, rel);
    return buf[k];
}

static void assert_err_contains(const char *fragment)
{
    char *e = slurp(tmp_file("err.txt"));
    assert_non_null(e);
    if (!strstr(e, fragment)) fail_msg("stderr lacks '%s':\n%s", fragment, e);
    free(e);
}

static int setup(void **state)
{
    (void)state;
    tile_exe = getenv("UNET_TILE");
    synth_exe = getenv("UNET_SYNTH");
    if (!tile_exe || !synth_exe) return -1;
    snprintf(tmp, sizeof tmp, "/tmp/unet-test-tile-XXXXXX");
    if (!mkdtemp(tmp)) return -1;
    /* 3 scenes of 2 parts, 70x45 pixels each. */
    return run(synth_exe, "-o", tmp_file("scenes"), "--scenes", "3", "--parts", "2", "--size", "70x45", "--seed",
               "7", "--quiet", NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

/* The data set's colours, typed here from the README, not from palette.c. */
static int class_of(const uint8_t *px)
{
    static const uint8_t colors[6][3] = {{0x3C, 0x10, 0x98}, {0x84, 0x29, 0xF6}, {0x6E, 0xC1, 0xE4},
                                         {0xFE, 0xDD, 0x3A}, {0xE2, 0xA9, 0x29}, {0x9B, 0x9B, 0x9B}};
    for (int c = 0; c < 6; c++)
        if (!memcmp(px, colors[c], 3)) return c;
    if (px[0] == 0 && px[1] == 0 && px[2] == 0) return 255;
    return -1;
}

/* Reads folds.tsv into parallel arrays; returns the line count. */
typedef struct fold_row {
    char name[128], scene[64], fold[16];
} fold_row;

static int read_folds(const char *tiles, fold_row *rows, int cap)
{
    char path[700];
    FMT(path, sizeof path, "%s/folds.tsv", tiles);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[400];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        assert_true(n < cap);
        line[strcspn(line, "\n")] = '\0';
        char *t1 = strchr(line, '\t');
        assert_non_null(t1);
        char *t2 = strchr(t1 + 1, '\t');
        assert_non_null(t2);
        assert_null(strchr(t2 + 1, '\t'));
        *t1 = *t2 = '\0';
        FMT(rows[n].name, sizeof rows[n].name, "%s", line);
        FMT(rows[n].scene, sizeof rows[n].scene, "%s", t1 + 1);
        FMT(rows[n].fold, sizeof rows[n].fold, "%s", t2 + 1);
        n++;
    }
    fclose(f);
    return n;
}

/* Checks one tile against its source part: picture pixels equal inside, black
 * outside; mask ids equal the colours mapped by hand inside, 255 outside.
 * Adds the tile's label counts to hist. */
static void check_tile(const char *tiles, const char *name, const char *src_image, const char *src_mask,
                       int x0, int y0, int tile, uint64_t *hist)
{
    char ip[700], mp[700];
    FMT(ip, sizeof ip, "%s/images/%s.png", tiles, name);
    FMT(mp, sizeof mp, "%s/masks/%s.png", tiles, name);
    unet_image ti = {0}, tm = {0}, si = {0}, sm = {0};
    assert_int_equal(unet_image_read(ip, UNET_IMAGE_DEFAULT, &ti), UNET_OK);
    assert_int_equal(unet_image_read(mp, UNET_IMAGE_PALETTE_INDEX, &tm), UNET_OK);
    assert_int_equal(unet_image_read(src_image, UNET_IMAGE_FORCE_RGB, &si), UNET_OK);
    assert_int_equal(unet_image_read(src_mask, UNET_IMAGE_FORCE_RGB, &sm), UNET_OK);
    assert_int_equal(ti.width, tile);
    assert_int_equal(ti.height, tile);
    assert_int_equal(ti.channels, 3);
    assert_int_equal(tm.width, tile);
    assert_int_equal(tm.height, tile);
    assert_int_equal(tm.channels, 1);
    for (int y = 0; y < tile; y++)
        for (int x = 0; x < tile; x++) {
            const uint8_t *t = ti.pixels + ((size_t)y * tile + x) * 3;
            uint8_t id = tm.pixels[(size_t)y * tile + x];
            hist[id]++;
            int sx = x0 + x, sy = y0 + y;
            if (sx < si.width && sy < si.height) {
                const uint8_t *s = si.pixels + ((size_t)sy * si.width + sx) * 3;
                if (memcmp(t, s, 3)) fail_msg("%s pixel (%d,%d) differs from %s (%d,%d)", name, x, y, src_image, sx, sy);
                int want = class_of(sm.pixels + ((size_t)sy * sm.width + sx) * 3);
                assert_true(want >= 0);
                assert_int_equal(id, want);
            } else {
                assert_int_equal(t[0] | t[1] | t[2], 0);
                assert_int_equal(id, 255);
            }
        }
    unet_image_free(&ti);
    unet_image_free(&tm);
    unet_image_free(&si);
    unet_image_free(&sm);
}

static void test_pad_default(void **state)
{
    (void)state;
    char out[600];
    FMT(out, sizeof out, "%s", tmp_file("tiles-pad"));
    assert_int_equal(run(tile_exe, tmp_file("scenes"), "-o", out, "--tile", "32", "--overlap", "8", "--json", NULL),
                     0);
    /* 70x45, tile 32, stride 24, padded: x 0, 24, 48 and y 0, 24 -> 6 per part. */
    static const int xs[] = {0, 24, 48}, ys[] = {0, 24};
    fold_row rows[64];
    int n = read_folds(out, rows, 64);
    assert_int_equal(n, 3 * 2 * 6);
    char *json = slurp(tmp_file("out.txt"));
    assert_non_null(strstr(json, "\"tiles\":36"));
    free(json);

    uint64_t hist[256] = {0};
    char fold_of_scene[3][16] = {"", "", ""};
    int k = 0;
    for (int s = 1; s <= 3; s++)
        for (int p = 1; p <= 2; p++)
            for (int yi = 0; yi < 2; yi++)
                for (int xi = 0; xi < 3; xi++, k++) {
                    char want[128], img[600], msk[600], scene[32];
                    FMT(want, sizeof want, "scene-%d__part_%03d__y%04d_x%04d", s, p, ys[yi], xs[xi]);
                    FMT(scene, sizeof scene, "scene-%d", s);
                    /* folds.tsv lists tiles in scene, part, row-major order */
                    assert_string_equal(rows[k].name, want);
                    assert_string_equal(rows[k].scene, scene);
                    if (!fold_of_scene[s - 1][0]) FMT(fold_of_scene[s - 1], 16, "%s", rows[k].fold);
                    assert_string_equal(rows[k].fold, fold_of_scene[s - 1]); /* one fold per scene */
                    FMT(img, sizeof img, "%s/scene-%d/images/part_%03d.png", tmp_file("scenes"), s, p);
                    FMT(msk, sizeof msk, "%s/scene-%d/masks/part_%03d.png", tmp_file("scenes"), s, p);
                    check_tile(out, want, img, msk, xs[xi], ys[yi], 32, hist);
                }
    /* Three scenes, default min(5, 3) folds: each scene its own fold. */
    assert_string_not_equal(fold_of_scene[0], fold_of_scene[1]);
    assert_string_not_equal(fold_of_scene[0], fold_of_scene[2]);
    assert_string_not_equal(fold_of_scene[1], fold_of_scene[2]);
    for (int s = 0; s < 3; s++) assert_true(!strcmp(fold_of_scene[s], "0") || !strcmp(fold_of_scene[s], "1") ||
                                            !strcmp(fold_of_scene[s], "2"));
    for (int v = 6; v < 255; v++) assert_int_equal(hist[v], 0);

    /* stats.tsv "all" row agrees with the counts of the masks read back. */
    char path[700];
    FMT(path, sizeof path, "%s/stats.tsv", out);
    char *stats = slurp(path);
    assert_non_null(stats);
    assert_non_null(strstr(stats, "SPLIT\tSCENES\tTILES\tLABELLED\tIGNORED\tBuilding\tLand\tRoad\tVegetation\tWater\tUnlabeled\n"));
    char want_all[256];
    uint64_t lab = 0;
    for (int c = 0; c < 6; c++) lab += hist[c];
    FMT(want_all, sizeof want_all, "all\t3\t36\t%llu\t%llu\t%llu\t%llu\t%llu\t%llu\t%llu\t%llu\n",
             (unsigned long long)lab, (unsigned long long)hist[255], (unsigned long long)hist[0],
             (unsigned long long)hist[1], (unsigned long long)hist[2], (unsigned long long)hist[3],
             (unsigned long long)hist[4], (unsigned long long)hist[5]);
    if (!strstr(stats, want_all)) fail_msg("stats.tsv lacks\n%sgot\n%s", want_all, stats);
    free(stats);

    FMT(path, sizeof path, "%s/classes.tsv", out);
    char *classes = slurp(path);
    assert_non_null(classes);
    assert_string_equal(classes, "0\tBuilding\t#3C1098\n1\tLand\t#8429F6\n2\tRoad\t#6EC1E4\n"
                                 "3\tVegetation\t#FEDD3A\n4\tWater\t#E2A929\n5\tUnlabeled\t#9B9B9B\n");
    free(classes);

    /* A second run into the same folder is refused without --force. */
    assert_int_equal(run(tile_exe, tmp_file("scenes"), "-o", out, "--tile", "32", "--quiet", NULL), 2);
    assert_err_contains("--force");
    assert_int_equal(run(tile_exe, tmp_file("scenes"), "-o", out, "--tile", "48", "--force", "--quiet", NULL), 0);
    n = read_folds(out, rows, 64);
    assert_int_equal(n, 3 * 2 * 2 * 1); /* stride 48: x 0, 48 (padded); y 0 only, 45 <= 48 */
    /* Tiles of the first run are gone, not mixed in. */
    FMT(path, sizeof path, "%s/images/scene-1__part_001__y0024_x0048.png", out);
    assert_int_equal(access(path, F_OK), -1);
}

static void test_drop_partial(void **state)
{
    (void)state;
    char out[600];
    FMT(out, sizeof out, "%s", tmp_file("tiles-drop"));
    assert_int_equal(run(tile_exe, tmp_file("scenes"), "-o", out, "--tile", "32", "--overlap", "8",
                         "--drop-partial", "--quiet", NULL), 0);
    /* Whole windows only: x 0, 24 (24 + 32 <= 70); y 0 (24 + 32 > 45). */
    fold_row rows[64];
    int n = read_folds(out, rows, 64);
    assert_int_equal(n, 3 * 2 * 2);
    uint64_t hist[256] = {0};
    for (int i = 0; i < n; i++) {
        int s, p, y, x;
        assert_int_equal(sscanf(rows[i].name, "scene-%d__part_%d__y%d_x%d", &s, &p, &y, &x), 4);
        assert_int_equal(y, 0);
        assert_true(x == 0 || x == 24);
        char img[600], msk[600];
        FMT(img, sizeof img, "%s/scene-%d/images/part_%03d.png", tmp_file("scenes"), s, p);
        FMT(msk, sizeof msk, "%s/scene-%d/masks/part_%03d.png", tmp_file("scenes"), s, p);
        check_tile(out, rows[i].name, img, msk, x, y, 32, hist);
    }
}

/* 3 small scenes and one about 5 times heavier, 2 folds: the heavy one is
 * alone; a test scene stays out of the folds. */
static void test_fold_balance_and_test_scenes(void **state)
{
    (void)state;
    assert_int_equal(run(synth_exe, "-o", tmp_file("big"), "--scenes", "1", "--parts", "2", "--size", "150x100",
                         "--seed", "3", "--quiet", NULL), 0);
    assert_int_equal(rename(tmp_file("big/scene-1"), tmp_file("big/heavy")), 0);
    char out[600];
    FMT(out, sizeof out, "%s", tmp_file("tiles-folds"));
    assert_int_equal(run(tile_exe, tmp_file("scenes"), tmp_file("big"), "-o", out, "--tile", "32", "--folds", "2",
                         "--seed", "5", "--quiet", NULL), 0);
    fold_row rows[256];
    int n = read_folds(out, rows, 256);
    assert_true(n > 0);
    char heavy_fold[16] = "";
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].scene, "heavy")) FMT(heavy_fold, sizeof heavy_fold, "%s", rows[i].fold);
    assert_true(heavy_fold[0]);
    for (int i = 0; i < n; i++) {
        assert_true(!strcmp(rows[i].fold, "0") || !strcmp(rows[i].fold, "1"));
        if (strcmp(rows[i].scene, "heavy")) assert_string_not_equal(rows[i].fold, heavy_fold);
    }

    assert_int_equal(run(tile_exe, tmp_file("scenes"), tmp_file("big"), "-o", out, "--tile", "32", "--folds", "2",
                         "--test-scenes", "Scene-2", "--force", "--quiet", NULL), 0);
    n = read_folds(out, rows, 256);
    int n_test = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(rows[i].scene, "scene-2")) {
            assert_string_equal(rows[i].fold, "test");
            n_test++;
        } else {
            assert_string_not_equal(rows[i].fold, "test");
        }
    }
    assert_int_equal(n_test, 2 * 3 * 2); /* 2 parts, x 0, 32, 64, y 0, 32 */

    assert_int_equal(run(tile_exe, tmp_file("scenes"), "-o", tmp_file("tiles-bad"), "--test-scenes", "nowhere",
                         NULL), 2);
    assert_err_contains("no scene named 'nowhere'");
}

/* A mask with a colour outside the palette and an image without a mask: each
 * is reported, the rest is tiled, exit status 1. */
static void test_failures_go_on(void **state)
{
    (void)state;
    assert_int_equal(run(synth_exe, "-o", tmp_file("broken"), "--scenes", "2", "--parts", "2", "--size", "40x40",
                         "--seed", "11", "--quiet", NULL), 0);
    unet_image m = {0};
    assert_int_equal(unet_image_read(tmp_file("broken/scene-1/masks/part_002.png"), UNET_IMAGE_FORCE_RGB, &m),
                     UNET_OK);
    uint8_t *px = m.pixels + (5 * 40 + 7) * 3;
    px[0] = 1, px[1] = 2, px[2] = 3;
    assert_int_equal(unet_png_write(tmp_file("broken/scene-1/masks/part_002.png"), &m, NULL, 0), UNET_OK);
    unet_image_free(&m);
    assert_int_equal(unlink(tmp_file("broken/scene-2/masks/part_001.png")), 0);

    char out[600];
    FMT(out, sizeof out, "%s", tmp_file("tiles-broken"));
    assert_int_equal(run(tile_exe, tmp_file("broken"), "-o", out, "--tile", "40", NULL), 1);
    assert_err_contains("#010203 at pixel (x=7, y=5)");
    assert_err_contains("scene-1/masks/part_002.png");
    assert_err_contains("no mask with stem 'part_001'");
    fold_row rows[16];
    int n = read_folds(out, rows, 16);
    assert_int_equal(n, 2); /* scene-1/part_001 and scene-2/part_002 */
    assert_string_equal(rows[0].name, "scene-1__part_001__y0000_x0000");
    assert_string_equal(rows[1].name, "scene-2__part_002__y0000_x0000");

    /* --unknown-colors ignore: the odd pixel becomes 255, the pair is tiled. */
    assert_int_equal(run(tile_exe, tmp_file("broken"), "-o", out, "--tile", "40", "--force",
                         "--unknown-colors", "ignore", NULL), 1);
    assert_err_contains("set to ignore");
    n = read_folds(out, rows, 16);
    assert_int_equal(n, 3);
    unet_image t = {0};
    char path[700];
    FMT(path, sizeof path, "%s/masks/scene-1__part_002__y0000_x0000.png", out);
    assert_int_equal(unet_image_read(path, UNET_IMAGE_PALETTE_INDEX, &t), UNET_OK);
    assert_int_equal(t.pixels[5 * 40 + 7], 255);
    unet_image_free(&t);
}

/* Palette-mode masks (the data set's Tile 4) are decoded to colours first:
 * a palette whose order differs from the class ids must not leak through. */
static void test_palette_mode_masks_and_pairs_file(void **state)
{
    (void)state;
    static const uint8_t colors[7][3] = {{0, 0, 0}, {0x9B, 0x9B, 0x9B}, {0xE2, 0xA9, 0x29}, {0xFE, 0xDD, 0x3A},
                                         {0x6E, 0xC1, 0xE4}, {0x84, 0x29, 0xF6}, {0x3C, 0x10, 0x98}};
    unet_image m = {0};
    assert_int_equal(unet_image_read(tmp_file("scenes/scene-3/masks/part_001.png"), UNET_IMAGE_FORCE_RGB, &m),
                     UNET_OK);
    size_t n = (size_t)m.width * m.height;
    uint8_t *idx = malloc(n);
    assert_non_null(idx);
    for (size_t i = 0; i < n; i++) {
        int k = -1;
        for (int c = 0; c < 7; c++)
            if (!memcmp(m.pixels + 3 * i, colors[c], 3)) k = c;
        assert_true(k >= 0);
        idx[i] = (uint8_t)k;
    }
    assert_int_equal(mkdir(tmp_file("pal"), 0755), 0);
    assert_int_equal(unet_png_write_indexed(tmp_file("pal/mask.png"), m.width, m.height, idx, &colors[0][0], 7,
                                            NULL, 0), UNET_OK);
    free(idx);
    unet_image_free(&m);

    /* A pairs list with paths relative to the list's folder. */
    FILE *f = fopen(tmp_file("pal/pairs.tsv"), "w");
    assert_non_null(f);
    fprintf(f, "# image\tmask\tscene\n../scenes/scene-3/images/part_001.png\tmask.png\tFour Palette\n");
    fclose(f);
    char out[600];
    FMT(out, sizeof out, "%s", tmp_file("tiles-pal"));
    assert_int_equal(run(tile_exe, "--pairs", tmp_file("pal/pairs.tsv"), "-o", out, "--tile", "80", "--quiet",
                         NULL), 0);
    fold_row rows[8];
    assert_int_equal(read_folds(out, rows, 8), 1);
    assert_string_equal(rows[0].name, "four-palette__part_001__y0000_x0000");
    assert_string_equal(rows[0].scene, "Four Palette");
    assert_string_equal(rows[0].fold, "0");
    uint64_t hist[256] = {0};
    check_tile(out, rows[0].name, tmp_file("scenes/scene-3/images/part_001.png"),
               tmp_file("scenes/scene-3/masks/part_001.png"), 0, 0, 80, hist);
    assert_true(hist[1] > 0); /* land is everywhere in unet-synth scenes */
}

static void test_usage_errors(void **state)
{
    (void)state;
    assert_int_equal(run(tile_exe, tmp_file("scenes"), NULL), 2);
    assert_err_contains("-o TILES is required");
    assert_int_equal(run(tile_exe, tmp_file("scenes"), "-o", tmp_file("x"), "--tile", "32", "--overlap", "32", NULL), 2);
    assert_int_equal(run(tile_exe, tmp_file("scenes"), "-o", tmp_file("x"), "--unknown-colors", "maybe", NULL), 2);
    assert_int_equal(run(tile_exe, tmp_file("scenes"), "-o", tmp_file("x"), "--tile", "0", NULL), 2);
    assert_int_equal(run(tile_exe, "-o", tmp_file("x"), NULL), 2);
    assert_int_equal(run(tile_exe, "--help", NULL), 0);
    char *help = slurp(tmp_file("out.txt"));
    assert_non_null(strstr(help, "ignore label 255"));
    free(help);
    assert_int_equal(run(tile_exe, "--version", NULL), 0);
    /* A folder without scenes is a failed input, not bad usage. */
    assert_int_equal(mkdir(tmp_file("empty"), 0755), 0);
    assert_int_equal(run(tile_exe, tmp_file("empty"), tmp_file("scenes/scene-1"), "-o", tmp_file("tiles-empty"),
                         "--quiet", NULL), 1);
    assert_err_contains("no scene folder");
}

/* Optional: a few parts of the real data set (Tile 1: heights 644/643; Tile
 * 4: palette-mode masks). Runs only when UNET_DUBAI_DATA names it. */
static void test_real_data(void **state)
{
    (void)state;
    const char *root = getenv("UNET_DUBAI_DATA");
    char probe[700];
    if (root) FMT(probe, sizeof probe, "%s/Tile 4/masks/image_part_001.png", root);
    if (!root || access(probe, R_OK) != 0) {
        print_message("skipping the Dubai data test: set UNET_DUBAI_DATA to the "
                      "dubai-aerial-semantic-segmentation folder to run it\n");
        skip();
        return;
    }
    FILE *f = fopen(tmp_file("real.tsv"), "w");
    assert_non_null(f);
    static const char *parts[][2] = {{"Tile 1", "001"}, {"Tile 1", "004"}, {"Tile 4", "001"}};
    for (int i = 0; i < 3; i++)
        fprintf(f, "%s/%s/images/image_part_%s.jpg\t%s/%s/masks/image_part_%s.png\t%s\n", root, parts[i][0],
                parts[i][1], root, parts[i][0], parts[i][1], parts[i][0]);
    fclose(f);
    char out[600];
    FMT(out, sizeof out, "%s", tmp_file("tiles-real"));
    assert_int_equal(run(tile_exe, "--pairs", tmp_file("real.tsv"), "-o", out, "--quiet", NULL), 0);
    fold_row rows[64];
    int n = read_folds(out, rows, 64);
    /* Tile 1 parts: 797 x 644/643 -> 4 x 3 windows each; Tile 4: 1099x846 -> 5 x 4. */
    assert_int_equal(n, 12 + 12 + 20);
    uint64_t hist[256] = {0};
    for (int i = 0; i < n; i++) {
        int s = 0, p, y, x;
        char tile[32];
        assert_int_equal(sscanf(rows[i].name, "tile-%d__image_part_%d__y%d_x%d", &s, &p, &y, &x), 4);
        FMT(tile, sizeof tile, "Tile %d", s);
        assert_string_equal(rows[i].scene, tile);
        char img[900], msk[900];
        FMT(img, sizeof img, "%s/%s/images/image_part_%03d.jpg", root, tile, p);
        FMT(msk, sizeof msk, "%s/%s/masks/image_part_%03d.png", root, tile, p);
        check_tile(out, rows[i].name, img, msk, x, y, 256, hist);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pad_default),
        cmocka_unit_test(test_drop_partial),
        cmocka_unit_test(test_fold_balance_and_test_scenes),
        cmocka_unit_test(test_failures_go_on),
        cmocka_unit_test(test_palette_mode_masks_and_pairs_file),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_real_data),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
