/* The streaming PNG writer (unet_png_writer_*): images written row by row in
 * uneven chunks read back equal to the rows given (palette indices, colours
 * through the palette, RGB), tEXt is kept, the file appears only at close
 * (an older file stays intact until then), and nothing is left behind when a
 * writer is discarded, closed early or fails. unet_png_encode_memory gives
 * the same PNG bytes in a buffer. */
#include <dirent.h>
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

static char dir[256];

static const char *at(const char *name)
{
    static char buf[4][400];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static int count_entries(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/unet-test-pngw-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_palette_rows_round_trip(void **state)
{
    (void)state;
    enum { W = 37, H = 29, K = 5 };
    uint8_t idx[W * H];
    for (int i = 0; i < W * H; i++)
        idx[i] = (uint8_t)((i * 7 + i / W) % K);
    const uint8_t palette[K * 3] = { 10, 20, 30, 200, 0, 0, 0, 200, 0, 0, 0, 200, 255, 255, 255 };
    unet_png_text text[2] = { { "unet:model", "abc123" }, { "note", "rows" } };
    unet_png_writer *w = NULL;
    assert_int_equal(unet_png_writer_open(at("p.png"), W, H, 1, palette, K, text, 2, &w), UNET_OK);
    /* uneven chunks: 1, 3, 0, then the rest */
    assert_int_equal(unet_png_writer_write_rows(w, idx, 1), UNET_OK);
    assert_int_equal(unet_png_writer_write_rows(w, idx + W, 3), UNET_OK);
    assert_int_equal(unet_png_writer_write_rows(w, idx + 4 * W, 0), UNET_OK);
    assert_int_equal(access(at("p.png"), F_OK), -1); /* not there before close */
    assert_int_equal(unet_png_writer_write_rows(w, idx + 4 * W, H - 4), UNET_OK);
    assert_int_equal(unet_png_writer_close(w), UNET_OK);

    unet_image img;
    assert_int_equal(unet_image_read(at("p.png"), UNET_IMAGE_PALETTE_INDEX, &img), UNET_OK);
    assert_int_equal(img.width, W);
    assert_int_equal(img.height, H);
    assert_int_equal(img.channels, 1);
    assert_memory_equal(img.pixels, idx, W * H);
    unet_image_free(&img);
    assert_int_equal(unet_image_read(at("p.png"), UNET_IMAGE_DEFAULT, &img), UNET_OK);
    assert_int_equal(img.channels, 3);
    for (int i = 0; i < W * H; i++)
        assert_memory_equal(img.pixels + 3 * i, palette + 3 * idx[i], 3);
    unet_image_free(&img);
    char buf[64];
    assert_int_equal(unet_png_read_text(at("p.png"), "unet:model", buf, sizeof buf), UNET_OK);
    assert_string_equal(buf, "abc123");
    assert_int_equal(unet_png_read_text(at("p.png"), "note", buf, sizeof buf), UNET_OK);
    assert_string_equal(buf, "rows");
    assert_int_equal(count_entries(), 1);
    unlink(at("p.png"));
}

static void test_rgb_rows_replace_old_file_at_close(void **state)
{
    (void)state;
    enum { W = 13, H = 11 };
    uint8_t px[W * H * 3];
    for (int i = 0; i < W * H * 3; i++)
        px[i] = (uint8_t)(i * 31 + 7);
    unet_image old = { 2, 2, 1, (uint8_t[4]){ 1, 2, 3, 4 } };
    assert_int_equal(unet_png_write(at("rgb.png"), &old, NULL, 0), UNET_OK);
    unet_png_writer *w = NULL;
    assert_int_equal(unet_png_writer_open(at("rgb.png"), W, H, 3, NULL, 0, NULL, 0, &w), UNET_OK);
    for (int y = 0; y < H; y++) {
        assert_int_equal(unet_png_writer_write_rows(w, px + (size_t)y * W * 3, 1), UNET_OK);
        unet_image mid; /* the old file is whole until close */
        assert_int_equal(unet_image_read(at("rgb.png"), UNET_IMAGE_DEFAULT, &mid), UNET_OK);
        assert_int_equal(mid.width, 2);
        unet_image_free(&mid);
    }
    assert_int_equal(unet_png_writer_close(w), UNET_OK);
    unet_image img;
    assert_int_equal(unet_image_read(at("rgb.png"), UNET_IMAGE_DEFAULT, &img), UNET_OK);
    assert_int_equal(img.width, W);
    assert_int_equal(img.height, H);
    assert_int_equal(img.channels, 3);
    assert_memory_equal(img.pixels, px, sizeof px);
    unet_image_free(&img);
    assert_int_equal(count_entries(), 1);
    unlink(at("rgb.png"));
}

static void test_incomplete_discarded_and_bad_input(void **state)
{
    (void)state;
    const uint8_t palette[6] = { 0, 0, 0, 255, 255, 255 };
    uint8_t rows[8 * 4] = { 0 };
    unet_png_writer *w = NULL;

    /* closed early: an error, no file, no temporary */
    assert_int_equal(unet_png_writer_open(at("a.png"), 8, 4, 1, palette, 2, NULL, 0, &w), UNET_OK);
    assert_int_equal(unet_png_writer_write_rows(w, rows, 3), UNET_OK);
    assert_int_equal(unet_png_writer_close(w), UNET_ERR_ARG);
    assert_non_null(strstr(unet_last_error(), "3 of 4 rows"));
    assert_int_equal(count_entries(), 0);

    /* discarded: nothing left */
    assert_int_equal(unet_png_writer_open(at("b.png"), 8, 4, 1, palette, 2, NULL, 0, &w), UNET_OK);
    assert_int_equal(count_entries(), 1); /* the temporary */
    assert_int_equal(unet_png_writer_write_rows(w, rows, 2), UNET_OK);
    unet_png_writer_discard(w);
    assert_int_equal(count_entries(), 0);
    unet_png_writer_discard(NULL);

    /* an index past the palette and too many rows are refused without
     * breaking the writer: the image can still be completed */
    assert_int_equal(unet_png_writer_open(at("c.png"), 8, 4, 1, palette, 2, NULL, 0, &w), UNET_OK);
    rows[8 + 5] = 2;
    assert_int_equal(unet_png_writer_write_rows(w, rows, 2), UNET_ERR_ARG);
    assert_non_null(strstr(unet_last_error(), "pixel (5, 1) has index 2"));
    rows[8 + 5] = 1;
    assert_int_equal(unet_png_writer_write_rows(w, rows, 5), UNET_ERR_ARG);
    assert_int_equal(unet_png_writer_write_rows(w, rows, 4), UNET_OK);
    assert_int_equal(unet_png_writer_write_rows(w, rows, 1), UNET_ERR_ARG);
    assert_int_equal(unet_png_writer_close(w), UNET_OK);
    unet_image img;
    assert_int_equal(unet_image_read(at("c.png"), UNET_IMAGE_PALETTE_INDEX, &img), UNET_OK);
    assert_int_equal(img.pixels[8 + 5], 1);
    unet_image_free(&img);
    unlink(at("c.png"));

    /* bad arguments and an unwritable place */
    assert_int_equal(unet_png_writer_open(at("d.png"), 0, 4, 1, NULL, 0, NULL, 0, &w), UNET_ERR_ARG);
    assert_null(w);
    assert_int_equal(unet_png_writer_open(at("d.png"), 4, 4, 3, palette, 2, NULL, 0, &w), UNET_ERR_ARG);
    assert_int_equal(unet_png_writer_open(at("d.png"), 4, 4, 5, NULL, 0, NULL, 0, &w), UNET_ERR_ARG);
    assert_int_equal(unet_png_writer_open(at("d.png"), 4, 4, 1, palette, 257, NULL, 0, &w), UNET_ERR_ARG);
    unet_png_text bad = { "", "x" };
    assert_int_equal(unet_png_writer_open(at("d.png"), 4, 4, 1, NULL, 0, &bad, 1, &w), UNET_ERR_ARG);
    assert_int_equal(unet_png_writer_open(at("no/such/dir/d.png"), 4, 4, 1, NULL, 0, NULL, 0, &w), UNET_ERR_IO);
    assert_null(w);
    assert_int_equal(count_entries(), 0);
}

/* unet_png_encode_memory: what it encodes decodes (through libunet's reader)
 * to the same pixels for every channel count, nothing is written to disk,
 * and bad input is refused. */
static void test_encode_memory_round_trip(void **state)
{
    (void)state;
    for (int ch = 1; ch <= 4; ch++) {
        uint8_t px[5 * 3 * 4];
        for (size_t i = 0; i < sizeof px; i++)
            px[i] = (uint8_t)(i * 37 + ch);
        unet_image im = { 5, 3, ch, px }, back = { 0 };
        void *data = NULL;
        size_t size = 0;
        assert_int_equal(unet_png_encode_memory(&im, &data, &size), UNET_OK);
        assert_true(size > 8);
        assert_memory_equal(data, "\x89PNG\r\n\x1a\n", 8);
        assert_int_equal(unet_image_read_memory(data, size, "mem", UNET_IMAGE_DEFAULT, &back), UNET_OK);
        assert_int_equal(back.width, 5);
        assert_int_equal(back.height, 3);
        assert_int_equal(back.channels, ch);
        assert_memory_equal(back.pixels, px, (size_t)5 * 3 * (size_t)ch);
        unet_image_free(&back);
        free(data);
    }
    assert_int_equal(count_entries(), 0);
    unet_image none = { 0, 3, 3, (uint8_t *)"" };
    void *data = (void *)1;
    size_t size = 1;
    assert_int_equal(unet_png_encode_memory(&none, &data, &size), UNET_ERR_ARG);
    assert_null(data);
    assert_int_equal(size, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_palette_rows_round_trip),
        cmocka_unit_test(test_rgb_rows_replace_old_file_at_close),
        cmocka_unit_test(test_incomplete_discarded_and_bad_input),
        cmocka_unit_test(test_encode_memory_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
