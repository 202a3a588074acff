/* Palettes: the default colours against the data set README, classes.tsv
 * parsing (errors name the line), writing, and colour masks -> class ids,
 * including a palette-mode PNG mask (the Tile 4 case) read as RGB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <unet/image.h>
#include <unet/palette.h>

static char tmpdir[256];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/unet-test-palette-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void assert_rgb(const uint8_t *got, int r, int g, int b)
{
    assert_int_equal(got[0], r);
    assert_int_equal(got[1], g);
    assert_int_equal(got[2], b);
}

/* Values typed from the README's table, not from palette.c. */
static void test_default_palette(void **state)
{
    (void)state;
    unet_palette p;
    unet_palette_default(&p);
    assert_int_equal(p.n_classes, 6);
    assert_string_equal(p.classes[0].name, "Building");
    assert_rgb(p.classes[0].rgb, 60, 16, 152);
    assert_string_equal(p.classes[1].name, "Land");
    assert_rgb(p.classes[1].rgb, 132, 41, 246);
    assert_string_equal(p.classes[2].name, "Road");
    assert_rgb(p.classes[2].rgb, 110, 193, 228);
    assert_string_equal(p.classes[3].name, "Vegetation");
    assert_rgb(p.classes[3].rgb, 254, 221, 58);
    assert_string_equal(p.classes[4].name, "Water");
    assert_rgb(p.classes[4].rgb, 226, 169, 41);
    assert_string_equal(p.classes[5].name, "Unlabeled");
    assert_rgb(p.classes[5].rgb, 155, 155, 155);
    assert_int_equal(p.n_ignore, 1);
    assert_rgb(p.ignore_rgb[0], 0, 0, 0);
    assert_int_equal(unet_palette_lookup(&p, 0, 0, 0), UNET_IGNORE_LABEL);
    assert_int_equal(unet_palette_lookup(&p, 0xFE, 0xDD, 0x3A), 3);
    assert_int_equal(unet_palette_lookup(&p, 0x50, 0xE3, 0xC2), -1); /* classes.json's Water */
}

static void test_shipped_classes_tsv(void **state)
{
    (void)state;
    unet_palette shipped, def;
    const char *path = getenv("UNET_SOURCE_ROOT");
    char file[512];
    if (!path) {
        skip();
        return;
    }
    snprintf(file, sizeof file, "%s/models/classes.tsv", path);
    assert_int_equal(unet_palette_read(file, &shipped), UNET_OK);
    unet_palette_default(&def);
    assert_int_equal(shipped.n_classes, def.n_classes);
    for (int i = 0; i < def.n_classes; i++) {
        assert_string_equal(shipped.classes[i].name, def.classes[i].name);
        assert_memory_equal(shipped.classes[i].rgb, def.classes[i].rgb, 3);
    }
}

static void test_parse_good(void **state)
{
    (void)state;
    /* Out of order, comments, blank lines, CRLF, spaces around fields. */
    const char *text = "# id\tname\tcolour\r\n"
                       "\n"
                       "1\tWater body\t#00ff80\r\n"
                       "0 \t Sand\t#A0B0C0\n"
                       "2\tRoad\t#010203";
    unet_palette p;
    assert_int_equal(unet_palette_parse(text, strlen(text), "x.tsv", &p), UNET_OK);
    assert_int_equal(p.n_classes, 3);
    assert_string_equal(p.classes[0].name, "Sand");
    assert_rgb(p.classes[0].rgb, 0xA0, 0xB0, 0xC0);
    assert_string_equal(p.classes[1].name, "Water body");
    assert_rgb(p.classes[1].rgb, 0x00, 0xFF, 0x80);
    assert_string_equal(p.classes[2].name, "Road");
    assert_rgb(p.classes[2].rgb, 1, 2, 3);
    assert_int_equal(p.n_ignore, 0);
}

static void expect_parse_error(const char *text, const char *fragment1, const char *fragment2)
{
    unet_palette p;
    unet_status s = unet_palette_parse(text, strlen(text), "bad.tsv", &p);
    assert_int_equal(s, UNET_ERR_PARSE);
    const char *msg = unet_last_error();
    if (!strstr(msg, fragment1) || (fragment2 && !strstr(msg, fragment2)))
        fail_msg("message '%s' lacks '%s' / '%s'", msg, fragment1, fragment2 ? fragment2 : "");
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_parse_error("0\tA\t#000001\n1\tB #000002\n", "bad.tsv line 2:", "3 tab-separated fields");
    expect_parse_error("0\tA\t#000001\n\n1\tB\t#000002\textra\n", "line 3:", "found 4");
    expect_parse_error("0\tA\t#000001\n1\tB\t000002\n", "line 2:", "not #RRGGBB");
    expect_parse_error("0\tA\t#00000G\n", "line 1:", "'#00000G'");
    expect_parse_error("0\tA\t#0000011\n", "line 1:", "not #RRGGBB");
    expect_parse_error("0\tA\t#000001\nx\tB\t#000002\n", "line 2:", "class id 'x'");
    expect_parse_error("0\tA\t#000001\n-1\tB\t#000002\n", "line 2:", "class id '-1'");
    expect_parse_error("255\tIgnore\t#000000\n", "line 1:", "255 is the ignore label");
    expect_parse_error("0\tA\t#000001\n# c\n0\tB\t#000002\n", "line 3:", "already defined on line 1");
    expect_parse_error("0\tA\t#000001\n1\tB\t#000001\n", "line 2:", "#000001 already used by class 0 'A' on line 1");
    expect_parse_error("0\tA\t#000001\n1\tA\t#000002\n", "line 2:", "name 'A' already used");
    expect_parse_error("0\t\t#000001\n", "line 1:", "empty class name");
    expect_parse_error("0\tA\t#000001\n2\tC\t#000003\n", "id 1 is missing", "line 2 defines id 2");
    expect_parse_error("# only a comment\n\n", "no classes", NULL);
    expect_parse_error("", "no classes", NULL);
    char long_name[200];
    memset(long_name, 'n', sizeof long_name);
    snprintf(long_name, sizeof long_name, "0\t%0100d\t#000001\n", 0);
    expect_parse_error(long_name, "line 1:", "at most 63");
}

static void test_write_and_read_back(void **state)
{
    (void)state;
    unet_palette p, q;
    unet_palette_default(&p);
    char path[300];
    snprintf(path, sizeof path, "%s/classes.tsv", tmpdir);
    assert_int_equal(unet_palette_write(&p, path), UNET_OK);

    /* The exact bytes the conventions describe. */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(buf, "0\tBuilding\t#3C1098\n1\tLand\t#8429F6\n2\tRoad\t#6EC1E4\n"
                             "3\tVegetation\t#FEDD3A\n4\tWater\t#E2A929\n5\tUnlabeled\t#9B9B9B\n");

    assert_int_equal(unet_palette_read(path, &q), UNET_OK);
    assert_int_equal(q.n_classes, 6);
    assert_string_equal(q.classes[3].name, "Vegetation");
    assert_rgb(q.classes[4].rgb, 0xE2, 0xA9, 0x29);

    snprintf(path, sizeof path, "%s/missing.tsv", tmpdir);
    assert_int_equal(unet_palette_read(path, &q), UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), "missing.tsv"));

    char small[10];
    size_t needed = 0;
    assert_int_equal(unet_palette_format(&p, small, sizeof small, &needed), UNET_ERR_LIMIT);
    assert_int_equal(needed, strlen(buf) + 1);
}

static void test_ignore_colors(void **state)
{
    (void)state;
    unet_palette p;
    unet_palette_default(&p);
    const uint8_t white[3] = {255, 255, 255}, road[3] = {0x6E, 0xC1, 0xE4};
    assert_int_equal(unet_palette_add_ignore(&p, white), UNET_OK);
    assert_int_equal(unet_palette_add_ignore(&p, white), UNET_OK); /* no duplicate */
    assert_int_equal(p.n_ignore, 2);
    assert_int_equal(unet_palette_lookup(&p, 255, 255, 255), UNET_IGNORE_LABEL);
    assert_int_equal(unet_palette_add_ignore(&p, road), UNET_ERR_ARG);
    assert_non_null(strstr(unet_last_error(), "class 2 'Road'"));
    unet_palette_clear_ignore(&p);
    assert_int_equal(unet_palette_lookup(&p, 0, 0, 0), -1);
}

/* --ignore-colors lists: "none", items with spaces, and the item named in
 * errors (a bad one, and a class colour). */
static void test_ignore_list(void **state)
{
    (void)state;
    unet_palette p;
    unet_palette_default(&p);
    assert_int_equal(unet_palette_set_ignore_list(&p, "#FFFFFF, 123456 ,#000000"), UNET_OK);
    assert_int_equal(p.n_ignore, 3);
    assert_int_equal(unet_palette_lookup(&p, 0x12, 0x34, 0x56), UNET_IGNORE_LABEL);
    assert_int_equal(unet_palette_lookup(&p, 255, 255, 255), UNET_IGNORE_LABEL);
    assert_int_equal(unet_palette_set_ignore_list(&p, "NONE"), UNET_OK);
    assert_int_equal(p.n_ignore, 0);
    assert_int_equal(unet_palette_set_ignore_list(&p, "#FFFFFF,#12345"), UNET_ERR_ARG);
    assert_string_equal(unet_last_error(), "'#12345' is not #RRGGBB");
    assert_int_equal(unet_palette_set_ignore_list(&p, "#000000,,#FFFFFF,"), UNET_OK);
    assert_int_equal(p.n_ignore, 2);
    assert_int_equal(unet_palette_set_ignore_list(&p, "#6EC1E4"), UNET_ERR_ARG);
    assert_non_null(strstr(unet_last_error(), "class 2 'Road'"));
}

/* A 4x3 colour mask whose expected ids are written out by hand. */
static const uint8_t mask_rgb[3][4][3] = {
    {{0x3C, 0x10, 0x98}, {0x84, 0x29, 0xF6}, {0x84, 0x29, 0xF6}, {0x6E, 0xC1, 0xE4}},
    {{0, 0, 0}, {0xFE, 0xDD, 0x3A}, {0xE2, 0xA9, 0x29}, {0x9B, 0x9B, 0x9B}},
    {{0x3C, 0x10, 0x98}, {0x12, 0x34, 0x56}, {0x9B, 0x9B, 0x9B}, {0x12, 0x34, 0x56}},
};
static const uint8_t mask_ids[12] = {0, 1, 1, 2, 255, 3, 4, 5, 0, 255, 5, 255};

static void test_map_unknown_error_and_ignore(void **state)
{
    (void)state;
    unet_palette p;
    unet_palette_default(&p);
    unet_image img = {4, 3, 3, (uint8_t *)mask_rgb};
    uint8_t out[12];
    unet_unknown_colors unk;

    assert_int_equal(unet_palette_map_rgb(&p, &img, "scene/masks/m.png", UNET_UNKNOWN_COLOR_ERROR, out, &unk),
                     UNET_ERR_INVALID);
    const char *msg = unet_last_error();
    assert_non_null(strstr(msg, "scene/masks/m.png"));
    assert_non_null(strstr(msg, "#123456"));
    assert_non_null(strstr(msg, "(x=1, y=2)"));

    memset(out, 7, sizeof out);
    assert_int_equal(unet_palette_map_rgb(&p, &img, "m.png", UNET_UNKNOWN_COLOR_IGNORE, out, &unk), UNET_OK);
    assert_memory_equal(out, mask_ids, 12);
    assert_int_equal(unk.count, 2);
    assert_int_equal(unk.first_x, 1);
    assert_int_equal(unk.first_y, 2);
    assert_rgb(unk.first_rgb, 0x12, 0x34, 0x56);

    /* Without ignore colours black is unknown too. */
    unet_palette_clear_ignore(&p);
    assert_int_equal(unet_palette_map_rgb(&p, &img, "m.png", UNET_UNKNOWN_COLOR_ERROR, out, NULL), UNET_ERR_INVALID);
    assert_non_null(strstr(unet_last_error(), "#000000 at pixel (x=0, y=1)"));

    unet_image gray = {4, 3, 1, (uint8_t *)mask_rgb};
    assert_int_equal(unet_palette_map_rgb(&p, &gray, "g.png", UNET_UNKNOWN_COLOR_ERROR, out, NULL), UNET_ERR_ARG);
}

static void test_map_large_matches_lookup(void **state)
{
    (void)state;
    /* Many colours (a 200-class palette) through the hash table, checked
     * pixel by pixel against the linear lookup. */
    unet_palette p;
    memset(&p, 0, sizeof p);
    p.n_classes = 200;
    for (int i = 0; i < 200; i++) {
        snprintf(p.classes[i].name, sizeof p.classes[i].name, "c%d", i);
        p.classes[i].rgb[0] = (uint8_t)(i * 7);
        p.classes[i].rgb[1] = (uint8_t)(i / 3);
        p.classes[i].rgb[2] = (uint8_t)(255 - i);
    }
    int w = 97, h = 31;
    unet_image img = {w, h, 3, malloc((size_t)w * h * 3)};
    uint8_t *out = malloc((size_t)w * h);
    assert_non_null(img.pixels);
    assert_non_null(out);
    uint32_t r = 12345;
    for (int i = 0; i < w * h; i++) {
        r = r * 1103515245u + 12345u;
        int c = (int)((r >> 16) % 210); /* 10 of 210 are not classes */
        if (c < 200) memcpy(img.pixels + 3 * i, p.classes[c].rgb, 3);
        else memset(img.pixels + 3 * i, c, 3);
    }
    unet_unknown_colors unk;
    assert_int_equal(unet_palette_map_rgb(&p, &img, "big.png", UNET_UNKNOWN_COLOR_IGNORE, out, &unk), UNET_OK);
    uint64_t unknown = 0;
    for (int i = 0; i < w * h; i++) {
        const uint8_t *px = img.pixels + 3 * i;
        int want = unet_palette_lookup(&p, px[0], px[1], px[2]);
        if (want < 0) {
            unknown++;
            want = UNET_IGNORE_LABEL;
        }
        assert_int_equal(out[i], want);
    }
    assert_int_equal(unk.count, unknown);
    assert_true(unknown > 0);
    free(img.pixels);
    free(out);
}

/* A palette-mode PNG whose palette order differs from the class ids (as in
 * Tile 4): read as RGB, the colours decide the class, not the index. */
static void test_palette_mode_mask(void **state)
{
    (void)state;
    unet_palette p;
    unet_palette_default(&p);
    /* index k -> colour of class (5 - k); index 6 is black. */
    uint8_t png_pal[7 * 3];
    for (int k = 0; k < 6; k++) memcpy(png_pal + 3 * k, p.classes[5 - k].rgb, 3);
    memset(png_pal + 18, 0, 3);
    const uint8_t idx[10] = {0, 1, 2, 3, 4, 5, 6, 5, 0, 6};
    const uint8_t want[10] = {5, 4, 3, 2, 1, 0, 255, 0, 5, 255};
    char path[300];
    snprintf(path, sizeof path, "%s/palmask.png", tmpdir);
    assert_int_equal(unet_png_write_indexed(path, 5, 2, idx, png_pal, 7, NULL, 0), UNET_OK);

    unet_image img = {0};
    assert_int_equal(unet_image_read(path, UNET_IMAGE_FORCE_RGB, &img), UNET_OK);
    assert_int_equal(img.width, 5);
    assert_int_equal(img.height, 2);
    assert_int_equal(img.channels, 3);
    uint8_t out[10];
    assert_int_equal(unet_palette_map_rgb(&p, &img, path, UNET_UNKNOWN_COLOR_ERROR, out, NULL), UNET_OK);
    assert_memory_equal(out, want, 10);
    unet_image_free(&img);
}

/* The PNG palette of index masks: ids get their colours, the rest black. */
static void test_png_colors(void **state)
{
    (void)state;
    unet_palette p;
    unet_palette_default(&p);
    uint8_t pal[256 * 3];
    memset(pal, 0xAA, sizeof pal);
    unet_palette_png_colors(&p, pal);
    assert_rgb(pal + 3 * 2, 0x6E, 0xC1, 0xE4);
    assert_rgb(pal + 3 * 6, 0, 0, 0);
    assert_rgb(pal + 3 * 255, 0, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_palette),
        cmocka_unit_test(test_shipped_classes_tsv),
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_write_and_read_back),
        cmocka_unit_test(test_ignore_colors),
        cmocka_unit_test(test_ignore_list),
        cmocka_unit_test(test_map_unknown_error_and_ignore),
        cmocka_unit_test(test_map_large_matches_lookup),
        cmocka_unit_test(test_palette_mode_mask),
        cmocka_unit_test(test_png_colors),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
