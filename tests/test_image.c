/* Image I/O against independent references: PNG files are written here with
 * libpng directly (every colour type, bit depth, tRNS, Adam7) and the expected
 * 8-bit pixels are computed from the known samples; JPEGs are written with
 * libjpeg directly; files written by unet are read back with libpng directly.
 *
 * Over 800 lines on purpose: the cases of one public header (unet/image.h),
 * all on the hand-written libpng/libjpeg reference files made here. */
#include <dirent.h>
#include <errno.h>
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
#include <jpeglib.h>
#include <png.h>

#include <unet/image.h>

static char tmp_dir[4096];

static void path_in_tmp(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmp_dir, name);
}

/* Deterministic pseudo-random bytes (LCG), so failures are reproducible. */
static uint32_t rng_state;
static uint32_t rng(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static void write_bytes(const char *path, const uint8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static uint8_t *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len > 0);
    rewind(f);
    uint8_t *data = malloc((size_t)len);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return data;
}

/* ---- an independent PNG writer (libpng directly) ---- */

typedef struct png_spec {
    int width, height, bit_depth, color_type, interlace;
    const uint8_t *packed;        /* rows as PNG stores them */
    const png_color *palette;
    int n_palette;
    const uint8_t *trns;
    int n_trns;
} png_spec;

static int samples_per_pixel(int color_type)
{
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    case PNG_COLOR_TYPE_PALETTE: return 1;
    }
    return 0;
}

static size_t packed_row_bytes(int width, int depth, int color_type)
{
    return ((size_t)width * (size_t)depth * (size_t)samples_per_pixel(color_type) + 7) / 8;
}

/* Packs samples (one per uint16) MSB first for depths < 8, big-endian for 16. */
static uint8_t *pack_samples(const uint16_t *samples, int width, int height, int depth, int color_type)
{
    int spp = samples_per_pixel(color_type);
    size_t row_bytes = packed_row_bytes(width, depth, color_type);
    uint8_t *out = calloc((size_t)height, row_bytes);
    assert_non_null(out);
    for (int y = 0; y < height; y++) {
        uint8_t *row = out + (size_t)y * row_bytes;
        for (int i = 0; i < width * spp; i++) {
            uint16_t v = samples[(size_t)y * width * spp + i];
            if (depth == 16) {
                row[2 * i] = (uint8_t)(v >> 8);
                row[2 * i + 1] = (uint8_t)v;
            } else if (depth == 8) {
                row[i] = (uint8_t)v;
            } else {
                int bit = i * depth;
                row[bit / 8] |= (uint8_t)(v << (8 - depth - bit % 8));
            }
        }
    }
    return out;
}

static void write_png_direct(const char *path, const png_spec *s)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    assert_non_null(png);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    png_bytep *rows = malloc((size_t)s->height * sizeof *rows);
    assert_non_null(rows);
    size_t row_bytes = packed_row_bytes(s->width, s->bit_depth, s->color_type);
    for (int y = 0; y < s->height; y++)
        rows[y] = (png_bytep)(uintptr_t)(s->packed + (size_t)y * row_bytes);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng failed writing test file %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)s->width, (png_uint_32)s->height, s->bit_depth,
                 s->color_type, s->interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette)
        png_set_PLTE(png, info, s->palette, s->n_palette);
    if (s->trns)
        png_set_tRNS(png, info, s->trns, s->n_trns, NULL);
    png_write_info(png, info);
    png_write_image(png, rows); /* handles the Adam7 passes itself */
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    assert_int_equal(fclose(f), 0);
}

/* ---- decoding every colour type and bit depth ---- */

typedef struct png_case {
    const char *name;
    int color_type, bit_depth, interlace, with_trns;
} png_case;

static const png_case png_cases[] = {
    {"gray1", PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, 0},
    {"gray2", PNG_COLOR_TYPE_GRAY, 2, PNG_INTERLACE_NONE, 0},
    {"gray4", PNG_COLOR_TYPE_GRAY, 4, PNG_INTERLACE_NONE, 0},
    {"gray8", PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 0},
    {"gray16", PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, 0},
    {"ga8", PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, 0},
    {"ga16", PNG_COLOR_TYPE_GRAY_ALPHA, 16, PNG_INTERLACE_NONE, 0},
    {"rgb8", PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, 0},
    {"rgb16", PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, 0},
    {"rgba8", PNG_COLOR_TYPE_RGB_ALPHA, 8, PNG_INTERLACE_NONE, 0},
    {"rgba16", PNG_COLOR_TYPE_RGB_ALPHA, 16, PNG_INTERLACE_NONE, 0},
    {"pal1", PNG_COLOR_TYPE_PALETTE, 1, PNG_INTERLACE_NONE, 0},
    {"pal2", PNG_COLOR_TYPE_PALETTE, 2, PNG_INTERLACE_NONE, 0},
    {"pal4", PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, 0},
    {"pal8", PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, 0},
    {"pal4_trns", PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, 1},
    {"pal8_trns", PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, 1},
    {"adam7_gray1", PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_ADAM7, 0},
    {"adam7_gray16", PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_ADAM7, 0},
    {"adam7_rgb8", PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, 0},
    {"adam7_rgba16", PNG_COLOR_TYPE_RGB_ALPHA, 16, PNG_INTERLACE_ADAM7, 0},
    {"adam7_pal2", PNG_COLOR_TYPE_PALETTE, 2, PNG_INTERLACE_ADAM7, 0},
    {"adam7_pal8_trns", PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_ADAM7, 1},
};

/* A sample of depth d as an 8-bit value: low depths scale to 0..255 (PNG gray
 * semantics), 16-bit rounds v * 255 / 65535. */
static int to8(int v, int depth)
{
    if (depth == 16)
        return (int)lround(v * 255.0 / 65535.0);
    return v * 255 / ((1 << depth) - 1);
}

/* Channel count the reader should give for a case and flags. */
static int expected_channels(const png_case *c, int flags)
{
    if (flags & UNET_IMAGE_FORCE_RGB)
        return 3;
    if (c->color_type == PNG_COLOR_TYPE_PALETTE)
        return (flags & UNET_IMAGE_PALETTE_INDEX) ? 1 : c->with_trns ? 4 : 3;
    return samples_per_pixel(c->color_type);
}

/* Expected 8-bit pixels for a case and flags, from the known samples. */
static void expected_pixels(const png_case *c, int flags, const uint16_t *samples, int n_pixels,
                            const png_color *pal, const uint8_t *trns, int n_trns, uint8_t *out)
{
    int spp = samples_per_pixel(c->color_type);
    int ch = expected_channels(c, flags);
    for (int i = 0; i < n_pixels; i++) {
        const uint16_t *s = samples + (size_t)i * spp;
        uint8_t *o = out + (size_t)i * ch;
        int rgba[4];
        if (c->color_type == PNG_COLOR_TYPE_PALETTE) {
            if (ch == 1) { /* index mode: the raw index */
                o[0] = (uint8_t)s[0];
                continue;
            }
            rgba[0] = pal[s[0]].red;
            rgba[1] = pal[s[0]].green;
            rgba[2] = pal[s[0]].blue;
            rgba[3] = s[0] < n_trns ? trns[s[0]] : 255;
        } else if (spp <= 2) {
            rgba[0] = rgba[1] = rgba[2] = to8(s[0], c->bit_depth);
            rgba[3] = spp == 2 ? to8(s[1], c->bit_depth) : 255;
        } else {
            for (int k = 0; k < 3; k++)
                rgba[k] = to8(s[k], c->bit_depth);
            rgba[3] = spp == 4 ? to8(s[3], c->bit_depth) : 255;
        }
        if (ch == 1) {
            o[0] = (uint8_t)rgba[0];
        } else if (ch == 2) {
            o[0] = (uint8_t)rgba[0];
            o[1] = (uint8_t)rgba[3];
        } else {
            for (int k = 0; k < ch; k++)
                o[k] = (uint8_t)rgba[k];
        }
    }
}

static void test_png_all_formats(void **state)
{
    (void)state;
    const int w = 13, h = 11; /* odd sizes: partial bytes and partial Adam7 passes */
    for (size_t ci = 0; ci < sizeof png_cases / sizeof png_cases[0]; ci++) {
        const png_case *c = &png_cases[ci];
        int spp = samples_per_pixel(c->color_type);
        int n_palette = c->bit_depth < 8 ? 1 << c->bit_depth : 200;
        uint16_t samples[13 * 11 * 4];
        rng_state = (uint32_t)ci + 1;
        for (int i = 0; i < w * h * spp; i++) {
            uint32_t r = rng();
            samples[i] = c->color_type == PNG_COLOR_TYPE_PALETTE
                             ? (uint16_t)(r % (uint32_t)n_palette)
                             : (uint16_t)(r & ((1u << c->bit_depth) - 1));
        }
        if (c->bit_depth == 16) { /* make sure the extremes occur */
            samples[0] = 0;
            samples[1] = 65535;
        }
        png_color pal[256];
        uint8_t trns[256];
        for (int i = 0; i < n_palette; i++) {
            pal[i].red = (png_byte)rng();
            pal[i].green = (png_byte)rng();
            pal[i].blue = (png_byte)rng();
            trns[i] = (uint8_t)rng();
        }
        int n_trns = c->with_trns ? n_palette / 2 : 0; /* later entries are opaque */
        uint8_t *packed = pack_samples(samples, w, h, c->bit_depth, c->color_type);
        png_spec spec = {w, h, c->bit_depth, c->color_type, c->interlace, packed,
                         c->color_type == PNG_COLOR_TYPE_PALETTE ? pal : NULL, n_palette,
                         c->with_trns ? trns : NULL, n_trns};
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.png", tmp_dir, c->name);
        write_png_direct(path, &spec);
        free(packed);

        const int flag_sets[3] = {UNET_IMAGE_DEFAULT, UNET_IMAGE_PALETTE_INDEX, UNET_IMAGE_FORCE_RGB};
        for (int fi = 0; fi < 3; fi++) {
            uint8_t expect[13 * 11 * 4];
            int ch = expected_channels(c, flag_sets[fi]);
            expected_pixels(c, flag_sets[fi], samples, w * h, pal, trns, n_trns, expect);
            unet_image img;
            unet_status s = unet_image_read(path, flag_sets[fi], &img);
            if (s != UNET_OK)
                fail_msg("%s flags %d: %s", c->name, flag_sets[fi], unet_last_error());
            assert_int_equal(img.width, w);
            assert_int_equal(img.height, h);
            if (img.channels != ch)
                fail_msg("%s flags %d: %d channels, expected %d", c->name, flag_sets[fi], img.channels, ch);
            for (int i = 0; i < w * h * ch; i++)
                if (img.pixels[i] != expect[i])
                    fail_msg("%s flags %d: byte %d is %d, expected %d", c->name, flag_sets[fi], i,
                             img.pixels[i], expect[i]);

            /* The same bytes from memory decode identically. */
            size_t n;
            uint8_t *bytes = read_bytes(path, &n);
            unet_image mem;
            assert_int_equal(unet_image_read_memory(bytes, n, c->name, flag_sets[fi], &mem), UNET_OK);
            assert_int_equal(mem.channels, ch);
            assert_memory_equal(mem.pixels, expect, (size_t)w * h * ch);
            unet_image_free(&mem);
            free(bytes);
            unet_image_free(&img);
            assert_null(img.pixels);
        }
    }
}

/* Every 16-bit value once: the reduction must round v * 255 / 65535. */
static void test_png_16bit_rounding_exhaustive(void **state)
{
    (void)state;
    uint16_t *samples = malloc(65536 * sizeof *samples);
    assert_non_null(samples);
    for (int v = 0; v < 65536; v++)
        samples[v] = (uint16_t)v;
    uint8_t *packed = pack_samples(samples, 256, 256, 16, PNG_COLOR_TYPE_GRAY);
    png_spec spec = {256, 256, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, packed, NULL, 0, NULL, 0};
    char path[4200];
    path_in_tmp(path, sizeof path, "all16.png");
    write_png_direct(path, &spec);
    unet_image img;
    assert_int_equal(unet_image_read(path, 0, &img), UNET_OK);
    assert_int_equal(img.channels, 1);
    for (int v = 0; v < 65536; v++)
        if (img.pixels[v] != (int)lround(v * 255.0 / 65535.0))
            fail_msg("16-bit %d became %d", v, img.pixels[v]);
    unet_image_free(&img);
    free(packed);
    free(samples);
}

/* ---- JPEG, written with libjpeg directly ---- */

static uint8_t *write_jpeg_direct(const char *path, const uint8_t *pixels, int w, int h, int ch,
                                  int quality, size_t *size)
{
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    unsigned char *buf = NULL;
    unsigned long len = 0;
    jpeg_mem_dest(&cinfo, &buf, &len);
    cinfo.image_width = (JDIMENSION)w;
    cinfo.image_height = (JDIMENSION)h;
    cinfo.input_components = ch;
    cinfo.in_color_space = ch == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    for (int i = 0; i < cinfo.num_components; i++) /* 4:4:4, no chroma subsampling */
        cinfo.comp_info[i].h_samp_factor = cinfo.comp_info[i].v_samp_factor = 1;
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(uintptr_t)(pixels + (size_t)cinfo.next_scanline * w * ch);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    if (path)
        write_bytes(path, buf, len);
    *size = len;
    return buf;
}

/* A smooth picture (what JPEG keeps well at quality 100). */
static void smooth_picture(uint8_t *px, int w, int h, int ch)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < ch; k++)
                px[((size_t)y * w + x) * ch + k] =
                    (uint8_t)(128 + 100 * sin(0.07 * x + 0.05 * y + 1.3 * k) * cos(0.04 * y - 0.3 * k));
}

static void check_jpeg_close(const uint8_t *got, const uint8_t *want, size_t n, int max_diff)
{
    int worst = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)got[i] - (int)want[i]);
        worst = d > worst ? d : worst;
        sum += d;
    }
    if (worst > max_diff || sum / (double)n > 1.0)
        fail_msg("JPEG differs: max %d (allowed %d), mean %.3f", worst, max_diff, sum / (double)n);
}

static void test_jpeg_rgb_and_gray(void **state)
{
    (void)state;
    const int w = 67, h = 45;
    for (int ch = 1; ch <= 3; ch += 2) {
        uint8_t *px = malloc((size_t)w * h * ch);
        assert_non_null(px);
        smooth_picture(px, w, h, ch);
        char path[4200];
        path_in_tmp(path, sizeof path, ch == 1 ? "gray.jpg" : "rgb.jpg");
        size_t size;
        uint8_t *bytes = write_jpeg_direct(path, px, w, h, ch, 100, &size);

        unet_image img;
        assert_int_equal(unet_image_read(path, 0, &img), UNET_OK);
        assert_int_equal(img.width, w);
        assert_int_equal(img.height, h);
        assert_int_equal(img.channels, ch);
        check_jpeg_close(img.pixels, px, (size_t)w * h * ch, 6);

        unet_image mem;
        assert_int_equal(unet_image_read_memory(bytes, size, "mem.jpg", 0, &mem), UNET_OK);
        assert_int_equal(mem.channels, ch);
        assert_memory_equal(mem.pixels, img.pixels, (size_t)w * h * ch);
        unet_image_free(&mem);

        /* FORCE_RGB on gray replicates the decoded gray value */
        assert_int_equal(unet_image_read(path, UNET_IMAGE_FORCE_RGB, &mem), UNET_OK);
        assert_int_equal(mem.channels, 3);
        for (int i = 0; i < w * h; i++)
            for (int k = 0; k < 3; k++)
                assert_int_equal(mem.pixels[3 * i + k], img.pixels[i * ch + (ch == 3 ? k : 0)]);
        unet_image_free(&mem);
        unet_image_free(&img);
        free(bytes);
        free(px);
    }
}

/* ---- broken and hostile input ---- */

static void expect_failure_naming(const char *path, unet_status want, const char *also)
{
    unet_image img;
    img.pixels = (uint8_t *)1; /* must be reset on failure */
    unet_status s = unet_image_read(path, 0, &img);
    if (s != want)
        fail_msg("%s: status %d (%s), expected %d", path, s, unet_last_error(), want);
    assert_null(img.pixels);
    if (!strstr(unet_last_error(), path))
        fail_msg("message does not name the file: %s", unet_last_error());
    if (also && !strstr(unet_last_error(), also))
        fail_msg("message lacks \"%s\": %s", also, unet_last_error());
}

static void test_truncated_png(void **state)
{
    (void)state;
    const int w = 40, h = 30;
    uint8_t px[40 * 30 * 3];
    rng_state = 7;
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)rng(); /* noise: the IDAT stays large */
    png_spec spec = {w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, px, NULL, 0, NULL, 0};
    char full[4200], cut[4200];
    path_in_tmp(full, sizeof full, "full.png");
    write_png_direct(full, &spec);
    size_t n;
    uint8_t *bytes = read_bytes(full, &n);

    const size_t cuts[3] = {n / 2, 30 /* inside IHDR */, n - 12 /* IEND missing */};
    for (int i = 0; i < 3; i++) {
        snprintf(cut, sizeof cut, "%s/cut%d.png", tmp_dir, i);
        write_bytes(cut, bytes, cuts[i]);
        expect_failure_naming(cut, UNET_ERR_PARSE, "truncated");
    }
    unet_image img;
    assert_int_equal(unet_image_read_memory(bytes, n / 2, "half.png", 0, &img), UNET_ERR_PARSE);
    assert_non_null(strstr(unet_last_error(), "half.png"));
    assert_null(img.pixels);

    /* A flipped bit in the image data is caught (zlib check or CRC). */
    bytes[n / 2] ^= 0x10;
    path_in_tmp(cut, sizeof cut, "flipped_idat.png");
    write_bytes(cut, bytes, n);
    expect_failure_naming(cut, UNET_ERR_PARSE, NULL);
    bytes[n / 2] ^= 0x10;
    /* A flipped bit in the IHDR width fails its CRC. */
    bytes[8 + 8 + 3] ^= 0x01;
    path_in_tmp(cut, sizeof cut, "flipped_ihdr.png");
    write_bytes(cut, bytes, n);
    expect_failure_naming(cut, UNET_ERR_PARSE, "CRC");
    free(bytes);
}

static void test_truncated_jpeg(void **state)
{
    (void)state;
    const int w = 64, h = 48;
    uint8_t px[64 * 48 * 3];
    smooth_picture(px, w, h, 3);
    size_t n;
    uint8_t *bytes = write_jpeg_direct(NULL, px, w, h, 3, 90, &n);
    char cut[4200];
    path_in_tmp(cut, sizeof cut, "cut.jpg");
    write_bytes(cut, bytes, n * 6 / 10);
    expect_failure_naming(cut, UNET_ERR_PARSE, "Premature end");
    path_in_tmp(cut, sizeof cut, "cut_header.jpg");
    write_bytes(cut, bytes, 40);
    expect_failure_naming(cut, UNET_ERR_PARSE, NULL);
    unet_image img;
    assert_int_equal(unet_image_read_memory(bytes, n - 200, "part.jpg", 0, &img), UNET_ERR_PARSE);
    assert_non_null(strstr(unet_last_error(), "part.jpg"));
    free(bytes);
}

static void test_garbage_empty_missing(void **state)
{
    (void)state;
    char path[4200];
    uint8_t junk[300];
    rng_state = 99;
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)rng();
    junk[0] = 'X';
    path_in_tmp(path, sizeof path, "junk.png");
    write_bytes(path, junk, sizeof junk);
    expect_failure_naming(path, UNET_ERR_PARSE, "unknown image format");

    /* right signatures, garbage after them */
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(junk, png_sig, 8);
    path_in_tmp(path, sizeof path, "junk_after_sig.png");
    write_bytes(path, junk, sizeof junk);
    expect_failure_naming(path, UNET_ERR_PARSE, NULL);
    junk[0] = 0xff, junk[1] = 0xd8, junk[2] = 0xff;
    path_in_tmp(path, sizeof path, "junk_after_sig.jpg");
    write_bytes(path, junk, sizeof junk);
    expect_failure_naming(path, UNET_ERR_PARSE, NULL);

    path_in_tmp(path, sizeof path, "fake.gif");
    write_bytes(path, (const uint8_t *)"GIF89a\1\0\1\0\0\0\0;", 14);
    expect_failure_naming(path, UNET_ERR_UNSUPPORTED, "GIF");

    path_in_tmp(path, sizeof path, "empty.png");
    write_bytes(path, junk, 0);
    expect_failure_naming(path, UNET_ERR_PARSE, "empty");
    unet_image img;
    assert_int_equal(unet_image_read_memory(NULL, 0, "nothing", 0, &img), UNET_ERR_PARSE);

    path_in_tmp(path, sizeof path, "does_not_exist.png");
    expect_failure_naming(path, UNET_ERR_IO, NULL);
    expect_failure_naming(tmp_dir, UNET_ERR_IO, NULL); /* a directory */

    /* contradictory and unknown flags */
    path_in_tmp(path, sizeof path, "rgb8.png");
    assert_int_equal(unet_image_read(path, UNET_IMAGE_PALETTE_INDEX | UNET_IMAGE_FORCE_RGB, &img),
                     UNET_ERR_ARG);
    assert_int_equal(unet_image_read(path, 8, &img), UNET_ERR_ARG);
}

static uint32_t crc32_ref(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static size_t put_chunk(uint8_t *out, const char *type, const uint8_t *data, uint32_t len)
{
    out[0] = (uint8_t)(len >> 24), out[1] = (uint8_t)(len >> 16), out[2] = (uint8_t)(len >> 8), out[3] = (uint8_t)len;
    memcpy(out + 4, type, 4);
    if (len)
        memcpy(out + 8, data, len);
    uint32_t crc = crc32_ref(out + 4, 4 + (size_t)len);
    out[8 + len] = (uint8_t)(crc >> 24), out[9 + len] = (uint8_t)(crc >> 16);
    out[10 + len] = (uint8_t)(crc >> 8), out[11 + len] = (uint8_t)crc;
    return 12 + (size_t)len;
}

/* A PNG whose IHDR claims 100000 x 100000 RGB (30 GB) with valid CRCs. */
static void test_enormous_png_refused(void **state)
{
    (void)state;
    uint8_t file[128];
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(file, png_sig, 8);
    size_t n = 8;
    const uint8_t ihdr[13] = {0, 0x01, 0x86, 0xa0, 0, 0x01, 0x86, 0xa0, 8, 2, 0, 0, 0};
    n += put_chunk(file + n, "IHDR", ihdr, 13);
    const uint8_t idat[11] = {0x78, 0x9c, 0x63, 0, 0, 0, 0x01, 0, 0x01, 0, 0};
    n += put_chunk(file + n, "IDAT", idat, 11);
    n += put_chunk(file + n, "IEND", NULL, 0);
    char path[4200];
    path_in_tmp(path, sizeof path, "huge.png");
    write_bytes(path, file, n);
    expect_failure_naming(path, UNET_ERR_LIMIT, "100000x100000");
    unet_image img;
    assert_int_equal(unet_image_read_memory(file, n, "huge-mem", 0, &img), UNET_ERR_LIMIT);

    /* The same for a JPEG: patch the SOF0 size of a small valid file to 60000 x 60000. */
    uint8_t px[16 * 16 * 3];
    smooth_picture(px, 16, 16, 3);
    size_t jn;
    uint8_t *jpeg = write_jpeg_direct(NULL, px, 16, 16, 3, 90, &jn);
    size_t sof = 0;
    for (size_t i = 2; i + 9 < jn; i++)
        if (jpeg[i] == 0xff && jpeg[i + 1] == 0xc0) {
            sof = i;
            break;
        }
    assert_true(sof > 0);
    jpeg[sof + 5] = 0xea, jpeg[sof + 6] = 0x60; /* height 60000 */
    jpeg[sof + 7] = 0xea, jpeg[sof + 8] = 0x60; /* width 60000 */
    path_in_tmp(path, sizeof path, "huge.jpg");
    write_bytes(path, jpeg, jn);
    expect_failure_naming(path, UNET_ERR_LIMIT, "60000x60000");
    free(jpeg);
}

static void test_max_pixels_boundary(void **state)
{
    (void)state;
    assert_int_equal(unet_image_max_pixels(), (uint64_t)1 << 28);
    char path[4200];
    uint8_t px[13 * 11 * 3];
    smooth_picture(px, 13, 11, 3);
    png_spec spec = {13, 11, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, px, NULL, 0, NULL, 0};
    path_in_tmp(path, sizeof path, "limit.png"); /* 13 x 11 = 143 pixels */
    write_png_direct(path, &spec);
    unet_image img;
    unet_image_set_max_pixels(143);
    assert_int_equal(unet_image_max_pixels(), 143);
    assert_int_equal(unet_image_read(path, 0, &img), UNET_OK);
    unet_image_free(&img);
    unet_image_set_max_pixels(142);
    expect_failure_naming(path, UNET_ERR_LIMIT, "142");
    path_in_tmp(path, sizeof path, "limit.jpg"); /* 13 x 11 */
    size_t size;
    free(write_jpeg_direct(path, px, 13, 11, 3, 90, &size));
    expect_failure_naming(path, UNET_ERR_LIMIT, "142");
    unet_image_set_max_pixels(143);
    assert_int_equal(unet_image_read(path, 0, &img), UNET_OK);
    unet_image_free(&img);
    unet_image_set_max_pixels(0); /* back to the default */
    assert_int_equal(unet_image_max_pixels(), (uint64_t)1 << 28);
}

/* ---- writing, checked by reading back with libpng directly ---- */

typedef struct png_direct {
    png_uint_32 width, height;
    int bit_depth, color_type, interlace;
    uint8_t *pixels; /* as stored */
    size_t row_bytes;
    png_color palette[256];
    int n_palette;
    char text_keys[8][80];
    char text_values[8][256];
    int n_text;
} png_direct;

static void read_png_direct(const char *path, png_direct *d)
{
    memset(d, 0, sizeof *d);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng could not read %s", path);
    png_init_io(png, f);
    png_read_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_get_IHDR(png, info, &d->width, &d->height, &d->bit_depth, &d->color_type, &d->interlace,
                 NULL, NULL);
    d->row_bytes = png_get_rowbytes(png, info);
    d->pixels = malloc(d->row_bytes * d->height);
    assert_non_null(d->pixels);
    png_bytepp rows = png_get_rows(png, info);
    for (png_uint_32 y = 0; y < d->height; y++)
        memcpy(d->pixels + y * d->row_bytes, rows[y], d->row_bytes);
    png_colorp pal;
    if (png_get_PLTE(png, info, &pal, &d->n_palette))
        memcpy(d->palette, pal, (size_t)d->n_palette * sizeof *pal);
    png_textp text;
    int n_text = 0;
    png_get_text(png, info, &text, &n_text);
    for (int i = 0; i < n_text && i < 8; i++) {
        assert_int_equal(text[i].compression, PNG_TEXT_COMPRESSION_NONE); /* tEXt */
        snprintf(d->text_keys[i], sizeof d->text_keys[i], "%s", text[i].key);
        snprintf(d->text_values[i], sizeof d->text_values[i], "%s", text[i].text);
    }
    d->n_text = n_text;
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
}

static const char *direct_text(const png_direct *d, const char *key)
{
    for (int i = 0; i < d->n_text; i++)
        if (strcmp(d->text_keys[i], key) == 0)
            return d->text_values[i];
    return NULL;
}

static void assert_no_temp_files(void)
{
    DIR *dir = opendir(tmp_dir);
    assert_non_null(dir);
    struct dirent *e;
    while ((e = readdir(dir)) != NULL)
        if (strstr(e->d_name, ".tmp."))
            fail_msg("temporary file left behind: %s", e->d_name);
    closedir(dir);
}

static const unet_png_text texts[2] = {{"unet:model", "sha256:0123abcd"}, {"Software", "unet test"}};

static void test_png_write_round_trip(void **state)
{
    (void)state;
    static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                 PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    const int w = 17, h = 9;
    for (int ch = 1; ch <= 4; ch++) {
        uint8_t px[17 * 9 * 4];
        rng_state = (uint32_t)ch * 31;
        for (int i = 0; i < w * h * ch; i++)
            px[i] = (uint8_t)rng();
        unet_image img = {w, h, ch, px};
        char path[4200];
        snprintf(path, sizeof path, "%s/written%d.png", tmp_dir, ch);
        if (unet_png_write(path, &img, texts, 2) != UNET_OK)
            fail_msg("%s", unet_last_error());
        png_direct d;
        read_png_direct(path, &d);
        assert_int_equal(d.width, w);
        assert_int_equal(d.height, h);
        assert_int_equal(d.bit_depth, 8);
        assert_int_equal(d.color_type, types[ch]);
        assert_int_equal(d.interlace, PNG_INTERLACE_NONE);
        assert_int_equal(d.row_bytes, (size_t)w * ch);
        assert_memory_equal(d.pixels, px, (size_t)w * h * ch);
        assert_string_equal(direct_text(&d, "unet:model"), "sha256:0123abcd");
        assert_string_equal(direct_text(&d, "Software"), "unet test");
        free(d.pixels);

        char value[64];
        assert_int_equal(unet_png_read_text(path, "unet:model", value, sizeof value), UNET_OK);
        assert_string_equal(value, "sha256:0123abcd");
        assert_int_equal(unet_png_read_text(path, "Software", value, sizeof value), UNET_OK);
        assert_string_equal(value, "unet test");
        assert_int_equal(unet_png_read_text(path, "unet", value, sizeof value), UNET_OK);
        assert_string_equal(value, ""); /* a prefix of a key is not the key */
        assert_int_equal(unet_png_read_text(path, "unet:model", value, 5), UNET_ERR_LIMIT);
    }

    /* Overwriting replaces the content. */
    char path[4200];
    path_in_tmp(path, sizeof path, "written1.png");
    uint8_t gray[4] = {1, 2, 3, 4};
    unet_image small = {2, 2, 1, gray};
    assert_int_equal(unet_png_write(path, &small, NULL, 0), UNET_OK);
    png_direct d;
    read_png_direct(path, &d);
    assert_int_equal(d.width, 2);
    assert_memory_equal(d.pixels, gray, 4);
    assert_int_equal(d.n_text, 0);
    free(d.pixels);
    char value[16] = "x";
    assert_int_equal(unet_png_read_text(path, "unet:model", value, sizeof value), UNET_OK);
    assert_string_equal(value, "");

    /* Bad arguments are refused before any file is made. */
    unet_image bad = {2, 2, 5, gray};
    path_in_tmp(path, sizeof path, "bad.png");
    assert_int_equal(unet_png_write(path, &bad, NULL, 0), UNET_ERR_ARG);
    const unet_png_text bad_key = {"", "v"};
    assert_int_equal(unet_png_write(path, &small, &bad_key, 1), UNET_ERR_ARG);
    assert_int_equal(access(path, F_OK), -1);
    assert_no_temp_files();
}

/* A text chunk placed after IDAT by another writer is still found. */
static void test_read_text_after_idat(void **state)
{
    (void)state;
    char path[4200];
    path_in_tmp(path, sizeof path, "late_text.png");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_infop end = png_create_info_struct(png);
    assert_non_null(end);
    uint8_t row[3] = {9, 8, 7};
    png_bytep rows[1] = {row};
    png_text t = {0};
    t.compression = PNG_TEXT_COMPRESSION_NONE;
    t.key = (png_charp)(uintptr_t)"late";
    t.text = (png_charp)(uintptr_t)"after the pixels";
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng failed writing %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, 3, 1, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_set_text(png, end, &t, 1);
    png_write_end(png, end);
    png_destroy_info_struct(png, &end);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    char value[64];
    assert_int_equal(unet_png_read_text(path, "late", value, sizeof value), UNET_OK);
    assert_string_equal(value, "after the pixels");
}

static void test_png_write_indexed_round_trip(void **state)
{
    (void)state;
    const int w = 19, h = 7, k = 6;
    uint8_t idx[19 * 7];
    rng_state = 5;
    for (int i = 0; i < w * h; i++)
        idx[i] = (uint8_t)(rng() % k);
    const uint8_t palette[18] = {60, 16, 152, 132, 41, 246, 110, 193, 228,
                                 254, 221, 58, 226, 169, 41, 155, 155, 155};
    char path[4200];
    path_in_tmp(path, sizeof path, "indexed.png");
    if (unet_png_write_indexed(path, w, h, idx, palette, k, texts, 2) != UNET_OK)
        fail_msg("%s", unet_last_error());
    png_direct d;
    read_png_direct(path, &d);
    assert_int_equal(d.color_type, PNG_COLOR_TYPE_PALETTE);
    assert_int_equal(d.bit_depth, 8);
    assert_int_equal(d.width, w);
    assert_int_equal(d.height, h);
    assert_int_equal(d.n_palette, k);
    for (int i = 0; i < k; i++) {
        assert_int_equal(d.palette[i].red, palette[3 * i]);
        assert_int_equal(d.palette[i].green, palette[3 * i + 1]);
        assert_int_equal(d.palette[i].blue, palette[3 * i + 2]);
    }
    assert_memory_equal(d.pixels, idx, (size_t)w * h);
    assert_string_equal(direct_text(&d, "unet:model"), "sha256:0123abcd");
    free(d.pixels);

    /* and through unet's own reader: indices, then colours */
    unet_image img;
    assert_int_equal(unet_image_read(path, UNET_IMAGE_PALETTE_INDEX, &img), UNET_OK);
    assert_int_equal(img.channels, 1);
    assert_memory_equal(img.pixels, idx, (size_t)w * h);
    unet_image_free(&img);
    assert_int_equal(unet_image_read(path, 0, &img), UNET_OK);
    assert_int_equal(img.channels, 3);
    for (int i = 0; i < w * h; i++)
        assert_memory_equal(img.pixels + 3 * i, palette + 3 * idx[i], 3);
    unet_image_free(&img);

    /* an index beyond the palette is refused and nothing is written */
    idx[w * h - 1] = (uint8_t)k;
    path_in_tmp(path, sizeof path, "bad_index.png");
    assert_int_equal(unet_png_write_indexed(path, w, h, idx, palette, k, NULL, 0), UNET_ERR_ARG);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(unet_png_write_indexed(path, w, h, idx, palette, 257, NULL, 0), UNET_ERR_ARG);
    assert_no_temp_files();
}

static void test_atomic_write_failures(void **state)
{
    (void)state;
    uint8_t px[12] = {0};
    unet_image img = {2, 2, 3, px};
    char path[4300], dir[4200];
    path_in_tmp(dir, sizeof dir, "no_such_dir");
    snprintf(path, sizeof path, "%s/out.png", dir);
    assert_int_equal(unet_png_write(path, &img, NULL, 0), UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), path));
    assert_int_equal(access(dir, F_OK), -1);
    const uint8_t pal[3] = {1, 2, 3};
    assert_int_equal(unet_png_write_indexed(path, 2, 2, px, pal, 1, NULL, 0), UNET_ERR_IO);

    /* The rename fails when the target is a directory: the temporary file,
     * already written by then, must be removed. */
    path_in_tmp(dir, sizeof dir, "a_directory.png");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(unet_png_write(dir, &img, texts, 2), UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), dir));
    assert_int_equal(unet_png_write_indexed(dir, 2, 2, px, pal, 1, NULL, 0), UNET_ERR_IO);
    assert_no_temp_files();
    assert_int_equal(rmdir(dir), 0);
}

/* ---- the real data set ---- */

static int find_dataset(char *buf, size_t size)
{
    const char *root = getenv("UNET_SOURCE_ROOT");
    if (!root) {
        print_message("skipped: ../shared/data not found (UNET_SOURCE_ROOT is not set)\n");
        return 0;
    }
    snprintf(buf, size, "%s/../shared/data/dubai-aerial-semantic-segmentation", root);
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
        print_message("skipped: ../shared/data not found (looked for %s)\n", buf);
        return 0;
    }
    return 1;
}

static void test_dataset_palette_mask(void **state)
{
    (void)state;
    char root[4096], path[4300];
    if (!find_dataset(root, sizeof root)) {
        skip();
        return;
    }
    snprintf(path, sizeof path, "%s/Tile 4/masks/image_part_001.png", root);
    unet_image idx, rgb;
    if (unet_image_read(path, UNET_IMAGE_PALETTE_INDEX, &idx) != UNET_OK)
        fail_msg("%s", unet_last_error());
    assert_int_equal(idx.channels, 1);
    assert_int_equal(idx.width, 1099);
    assert_int_equal(idx.height, 846);
    assert_int_equal(unet_image_read(path, 0, &rgb), UNET_OK);
    assert_int_equal(rgb.channels, 3);
    assert_int_equal(rgb.width, 1099);

    /* Colours must be the file's own palette entries at the decoded indices. */
    png_direct d;
    read_png_direct(path, &d);
    assert_int_equal(d.color_type, PNG_COLOR_TYPE_PALETTE);
    for (int i = 0; i < idx.width * idx.height; i++) {
        int k = idx.pixels[i];
        assert_true(k < d.n_palette);
        assert_int_equal(rgb.pixels[3 * i], d.palette[k].red);
        assert_int_equal(rgb.pixels[3 * i + 1], d.palette[k].green);
        assert_int_equal(rgb.pixels[3 * i + 2], d.palette[k].blue);
    }
    /* 4-bit indices as libpng stores them (two per byte, high nibble first) */
    assert_int_equal(d.bit_depth, 4);
    for (int y = 0; y < idx.height; y++)
        for (int x = 0; x < idx.width; x++) {
            int byte = d.pixels[(size_t)y * d.row_bytes + x / 2];
            assert_int_equal(idx.pixels[(size_t)y * idx.width + x], x % 2 ? byte & 15 : byte >> 4);
        }
    free(d.pixels);
    unet_image_free(&idx);
    unet_image_free(&rgb);
}

static void test_dataset_jpeg(void **state)
{
    (void)state;
    char root[4096], path[4300];
    if (!find_dataset(root, sizeof root)) {
        skip();
        return;
    }
    snprintf(path, sizeof path, "%s/Tile 1/images/image_part_001.jpg", root);
    unet_image img;
    if (unet_image_read(path, 0, &img) != UNET_OK)
        fail_msg("%s", unet_last_error());
    assert_int_equal(img.width, 797);
    assert_int_equal(img.height, 644);
    assert_int_equal(img.channels, 3);

    /* libjpeg with the same (default) settings must give the same bytes */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * 3;
    uint8_t *row = malloc(stride);
    assert_non_null(row);
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
        assert_memory_equal(img.pixels + y * stride, row, stride);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    fclose(f);
    free(row);
    unet_image_free(&img);
}

/* ---- fixture: a private temporary directory ---- */

static int make_tmp_dir(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/unet-test-image-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int remove_tmp_dir(void **state)
{
    (void)state;
    DIR *dir = opendir(tmp_dir);
    if (!dir)
        return -1;
    struct dirent *e;
    char path[4400];
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", tmp_dir, e->d_name);
        if (unlink(path) != 0)
            rmdir(path);
    }
    closedir(dir);
    return rmdir(tmp_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_all_formats),
        cmocka_unit_test(test_png_16bit_rounding_exhaustive),
        cmocka_unit_test(test_jpeg_rgb_and_gray),
        cmocka_unit_test(test_truncated_png),
        cmocka_unit_test(test_truncated_jpeg),
        cmocka_unit_test(test_garbage_empty_missing),
        cmocka_unit_test(test_enormous_png_refused),
        cmocka_unit_test(test_max_pixels_boundary),
        cmocka_unit_test(test_png_write_round_trip),
        cmocka_unit_test(test_read_text_after_idat),
        cmocka_unit_test(test_png_write_indexed_round_trip),
        cmocka_unit_test(test_atomic_write_failures),
        cmocka_unit_test(test_dataset_palette_mask),
        cmocka_unit_test(test_dataset_jpeg),
    };
    return cmocka_run_group_tests(tests, make_tmp_dir, remove_tmp_dir);
}
