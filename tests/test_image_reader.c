/* Row-by-row image reading (unet_image_reader_*): for PNG (RGB, gray, palette
 * with each read flag, interlaced, 16-bit) and JPEG (baseline, progressive,
 * gray), rows read in uneven chunks equal the whole-image decoder's pixels
 * (tested against independent references in test_image.c); cut-off and
 * foreign files fail with the file's name; misuse is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jpeglib.h>
#include <png.h>

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

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/unet-test-reader-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static uint8_t *pattern(int w, int h, int ch, int seed)
{
    uint8_t *p = malloc((size_t)w * h * ch);
    assert_non_null(p);
    for (size_t i = 0; i < (size_t)w * h * ch; i++)
        p[i] = (uint8_t)((i * 37 + (i / (size_t)(w * ch)) * 11 + (size_t)seed * 5) & 0xff);
    return p;
}

/* Reads path with the reader in chunks of 1, 2, 3, ... rows and compares with
 * unet_image_read under the same flags. */
static void check_rows_equal_whole(const char *path, int flags, int want_channels)
{
    unet_image whole;
    if (unet_image_read(path, flags, &whole) != UNET_OK)
        fail_msg("%s: %s", path, unet_last_error());
    unet_image_reader *r = NULL;
    if (unet_image_reader_open(path, flags, &r) != UNET_OK)
        fail_msg("%s: %s", path, unet_last_error());
    int w, h, c;
    unet_image_reader_size(r, &w, &h, &c);
    assert_int_equal(w, whole.width);
    assert_int_equal(h, whole.height);
    assert_int_equal(c, whole.channels);
    assert_int_equal(c, want_channels);
    size_t stride = (size_t)w * c;
    uint8_t *rows = malloc(stride * (size_t)h);
    assert_non_null(rows);
    int y = 0;
    for (int chunk = 1; y < h; chunk++) {
        int n = chunk < h - y ? chunk : h - y;
        if (unet_image_reader_read_rows(r, rows + (size_t)y * stride, n) != UNET_OK)
            fail_msg("%s: rows %d..%d: %s", path, y, y + n - 1, unet_last_error());
        y += n;
    }
    assert_memory_equal(rows, whole.pixels, stride * (size_t)h);
    assert_int_equal(unet_image_reader_read_rows(r, rows, 1), UNET_ERR_ARG); /* past the end */
    unet_image_reader_close(r);
    free(rows);
    unet_image_free(&whole);
}

static void write_png_direct(const char *path, const uint8_t *px, int w, int h, int color_type, int depth,
                             int interlace)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_true(png && info);
    int ch = color_type == PNG_COLOR_TYPE_RGB ? 3 : 1;
    size_t stride = (size_t)w * ch * (depth / 8);
    png_bytep *rows = malloc((size_t)h * sizeof *rows);
    for (int y = 0; y < h; y++)
        rows[y] = (png_bytep)(uintptr_t)(px + (size_t)y * stride);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng failed writing %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows); /* handles the Adam7 passes itself */
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    free(rows);
}

static void write_jpeg(const char *path, const uint8_t *px, int w, int h, int ch, int progressive)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, f);
    cinfo.image_width = (JDIMENSION)w;
    cinfo.image_height = (JDIMENSION)h;
    cinfo.input_components = ch;
    cinfo.in_color_space = ch == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 90, TRUE);
    if (progressive)
        jpeg_simple_progression(&cinfo);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(uintptr_t)(px + (size_t)cinfo.next_scanline * w * ch);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    fclose(f);
}

static void test_png_kinds(void **state)
{
    (void)state;
    enum { W = 53, H = 41 };
    uint8_t *rgb = pattern(W, H, 3, 1);
    unet_image img = { W, H, 3, rgb };
    assert_int_equal(unet_png_write(at("rgb.png"), &img, NULL, 0), UNET_OK);
    check_rows_equal_whole(at("rgb.png"), UNET_IMAGE_DEFAULT, 3);
    check_rows_equal_whole(at("rgb.png"), UNET_IMAGE_FORCE_RGB, 3);

    uint8_t *gray = pattern(W, H, 1, 2);
    unet_image g = { W, H, 1, gray };
    assert_int_equal(unet_png_write(at("gray.png"), &g, NULL, 0), UNET_OK);
    check_rows_equal_whole(at("gray.png"), UNET_IMAGE_DEFAULT, 1);
    check_rows_equal_whole(at("gray.png"), UNET_IMAGE_FORCE_RGB, 3);

    uint8_t idx[W * H], palette[4 * 3] = { 1, 2, 3, 40, 50, 60, 200, 100, 0, 9, 9, 9 };
    for (int i = 0; i < W * H; i++)
        idx[i] = (uint8_t)(i % 4);
    assert_int_equal(unet_png_write_indexed(at("pal.png"), W, H, idx, palette, 4, NULL, 0), UNET_OK);
    check_rows_equal_whole(at("pal.png"), UNET_IMAGE_PALETTE_INDEX, 1);
    check_rows_equal_whole(at("pal.png"), UNET_IMAGE_DEFAULT, 3);

    write_png_direct(at("interlaced.png"), rgb, W, H, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7);
    check_rows_equal_whole(at("interlaced.png"), UNET_IMAGE_DEFAULT, 3);
    uint8_t *wide = pattern(W * 2, H, 3, 3); /* 16-bit samples, big-endian pairs */
    write_png_direct(at("16bit.png"), wide, W, H, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE);
    check_rows_equal_whole(at("16bit.png"), UNET_IMAGE_DEFAULT, 3);
    free(wide);
    free(rgb);
    free(gray);
}

static void test_jpeg_kinds(void **state)
{
    (void)state;
    enum { W = 67, H = 45 };
    uint8_t *rgb = pattern(W, H, 3, 4), *gray = pattern(W, H, 1, 5);
    write_jpeg(at("base.jpg"), rgb, W, H, 3, 0);
    check_rows_equal_whole(at("base.jpg"), UNET_IMAGE_DEFAULT, 3);
    write_jpeg(at("prog.jpg"), rgb, W, H, 3, 1);
    check_rows_equal_whole(at("prog.jpg"), UNET_IMAGE_DEFAULT, 3);
    write_jpeg(at("gray.jpg"), gray, W, H, 1, 0);
    check_rows_equal_whole(at("gray.jpg"), UNET_IMAGE_DEFAULT, 1);
    check_rows_equal_whole(at("gray.jpg"), UNET_IMAGE_FORCE_RGB, 3);
    free(rgb);
    free(gray);
}

/* Copies the first keep bytes of src to dst. */
static void truncate_copy(const char *src, const char *dst, long keep)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_true(in && out);
    for (long i = 0; i < keep; i++) {
        int c = fgetc(in);
        assert_true(c != EOF);
        fputc(c, out);
    }
    fclose(in);
    fclose(out);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* A cut-off file opens (the header is whole) but fails by the last row, names
 * the file, and then refuses further reads. */
static void check_cut_off(const char *whole, const char *cut)
{
    truncate_copy(whole, cut, file_size(whole) * 2 / 3);
    unet_image_reader *r = NULL;
    if (unet_image_reader_open(cut, UNET_IMAGE_DEFAULT, &r) != UNET_OK)
        fail_msg("%s: %s", cut, unet_last_error());
    int w, h, c;
    unet_image_reader_size(r, &w, &h, &c);
    uint8_t *row = malloc((size_t)w * c);
    unet_status s = UNET_OK;
    int y = 0;
    for (; y < h && s == UNET_OK; y++)
        s = unet_image_reader_read_rows(r, row, 1);
    assert_int_not_equal(s, UNET_OK);
    assert_non_null(strstr(unet_last_error(), cut));
    if (y < h)
        assert_int_equal(unet_image_reader_read_rows(r, row, 1), UNET_ERR_ARG);
    unet_image_reader_close(r);
    free(row);
}

static void test_failures(void **state)
{
    (void)state;
    enum { W = 40, H = 64 };
    uint8_t *rgb = pattern(W, H, 3, 6);
    unet_image img = { W, H, 3, rgb };
    assert_int_equal(unet_png_write(at("whole.png"), &img, NULL, 0), UNET_OK);
    check_cut_off(at("whole.png"), at("cut.png"));
    write_jpeg(at("whole.jpg"), rgb, W, H, 3, 0);
    check_cut_off(at("whole.jpg"), at("cut.jpg"));
    free(rgb);

    unet_image_reader *r = NULL;
    FILE *f = fopen(at("gif.png"), "wb");
    fputs("GIF89a and so on", f);
    fclose(f);
    assert_int_equal(unet_image_reader_open(at("gif.png"), UNET_IMAGE_DEFAULT, &r), UNET_ERR_UNSUPPORTED);
    assert_non_null(strstr(unet_last_error(), "GIF"));
    assert_null(r);
    assert_int_equal(unet_image_reader_open(at("missing.png"), UNET_IMAGE_DEFAULT, &r), UNET_ERR_IO);
    assert_int_equal(unet_image_reader_open(at("whole.png"), UNET_IMAGE_PALETTE_INDEX | UNET_IMAGE_FORCE_RGB, &r),
                     UNET_ERR_ARG);
    assert_int_equal(unet_image_reader_open(at("whole.png"), UNET_IMAGE_DEFAULT, &r), UNET_OK);
    uint8_t rows[W * 3 * 2];
    assert_int_equal(unet_image_reader_read_rows(r, rows, -1), UNET_ERR_ARG);
    assert_int_equal(unet_image_reader_read_rows(r, rows, H + 1), UNET_ERR_ARG);
    assert_int_equal(unet_image_reader_read_rows(r, rows, 2), UNET_OK); /* misuse did not break it */
    unet_image_reader_close(r);
    unet_image_reader_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_kinds),
        cmocka_unit_test(test_jpeg_kinds),
        cmocka_unit_test(test_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
