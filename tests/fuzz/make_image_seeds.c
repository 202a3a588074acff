/* fuzz-image-seeds IN.png OUTDIR: small PNG and JPEG seeds for the image fuzz
 * targets, cut from a real tile so that the pixels are natural, in every
 * colour type, bit depth and coding mode the decoders handle (gray, gray+alpha,
 * RGB, RGBA, palette with tRNS, 1- and 16-bit, interlaced; baseline,
 * progressive, arithmetic, restart markers, 4:2:0 and 4:4:4, gray JPEG).
 * Seeds are generated at test time and never committed. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>
#include <unet/image.h>

typedef struct crop {
    int w, h;
    uint8_t *rgb; /* w * h * 3 */
} crop;

static int write_png(const char *dir, const char *name, const crop *c, int color_type, int depth,
                     int interlace)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int channels = color_type == PNG_COLOR_TYPE_GRAY ? 1 : color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                 : color_type == PNG_COLOR_TYPE_RGB ? 3 : color_type == PNG_COLOR_TYPE_RGB_ALPHA ? 4 : 1;
    size_t bps = depth == 16 ? 2 : 1;
    uint8_t *pix = calloc((size_t)c->w * c->h * channels * bps + 1, 1);
    png_bytep *rows = calloc((size_t)c->h, sizeof *rows);
    if (!png || !info || !pix || !rows || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(pix);
        free(rows);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, depth, color_type, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[16];
        png_byte trns[16];
        for (int i = 0; i < 16; i++) {
            pal[i].red = (png_byte)(i * 17);
            pal[i].green = (png_byte)(255 - i * 17);
            pal[i].blue = (png_byte)(i * 5);
            trns[i] = (png_byte)(255 - i * 8);
        }
        png_set_PLTE(png, info, pal, 16);
        png_set_tRNS(png, info, trns, 16, NULL);
    }
    png_text text = { PNG_TEXT_COMPRESSION_NONE, "unet:model", "seed", 4, 0, NULL, NULL };
    png_set_text(png, info, &text, 1);
    size_t row_bytes = depth < 8 ? ((size_t)c->w * depth + 7) / 8 : (size_t)c->w * channels * bps;
    for (int y = 0; y < c->h; y++) {
        rows[y] = pix + (size_t)y * row_bytes;
        for (int x = 0; x < c->w; x++) {
            const uint8_t *s = c->rgb + ((size_t)y * c->w + x) * 3;
            uint8_t gray = (uint8_t)((s[0] * 3 + s[1] * 6 + s[2]) / 10);
            uint8_t v[4] = { s[0], s[1], s[2], (uint8_t)(x * 16 + y) };
            if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) {
                v[0] = gray;
                v[1] = v[3];
            }
            if (depth == 1) {
                if (gray > 127)
                    rows[y][x / 8] |= (png_byte)(0x80 >> (x % 8));
            } else if (color_type == PNG_COLOR_TYPE_PALETTE) {
                rows[y][x] = (png_byte)(gray >> 4);
            } else {
                for (int ch = 0; ch < channels; ch++)
                    for (size_t b = 0; b < bps; b++)
                        rows[y][((size_t)x * channels + ch) * bps + b] = v[ch];
            }
        }
    }
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(pix);
    free(rows);
    return fclose(f) == 0 ? 0 : -1;
}

enum { JPEG_BASELINE, JPEG_444, JPEG_GRAY, JPEG_PROGRESSIVE, JPEG_ARITH, JPEG_RESTART };

static int write_jpeg(const char *dir, const char *name, const crop *c, int mode)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err); /* a failure here exits: this is a build-time helper */
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)c->w;
    ci.image_height = (JDIMENSION)c->h;
    int gray = mode == JPEG_GRAY;
    ci.input_components = gray ? 1 : 3;
    ci.in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 75, TRUE);
    if (mode == JPEG_444)
        ci.comp_info[0].h_samp_factor = ci.comp_info[0].v_samp_factor = 1;
    if (mode == JPEG_PROGRESSIVE)
        jpeg_simple_progression(&ci);
#if defined(C_ARITH_CODING_SUPPORTED)
    if (mode == JPEG_ARITH)
        ci.arith_code = TRUE;
#endif
    if (mode == JPEG_RESTART)
        ci.restart_in_rows = 1;
    jpeg_start_compress(&ci, TRUE);
    uint8_t *row = malloc((size_t)c->w * 3);
    while (row && ci.next_scanline < ci.image_height) {
        const uint8_t *s = c->rgb + (size_t)ci.next_scanline * c->w * 3;
        if (gray)
            for (int x = 0; x < c->w; x++)
                row[x] = (uint8_t)((s[3 * x] * 3 + s[3 * x + 1] * 6 + s[3 * x + 2]) / 10);
        else
            memcpy(row, s, (size_t)c->w * 3);
        JSAMPROW r = row;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    free(row);
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fuzz-image-seeds IN.png OUTDIR\n");
        return 2;
    }
    unet_image img;
    if (unet_image_read(argv[1], UNET_IMAGE_FORCE_RGB, &img) != UNET_OK) {
        fprintf(stderr, "fuzz-image-seeds: %s\n", unet_last_error());
        return 1;
    }
    /* Two sizes: a block-aligned one and an odd one (partial MCUs, short rows). */
    static const int sizes[2][2] = { { 16, 16 }, { 13, 7 } };
    int bad = 0;
    for (int s = 0; s < 2; s++) {
        crop c = { sizes[s][0] < img.width ? sizes[s][0] : img.width,
                   sizes[s][1] < img.height ? sizes[s][1] : img.height, NULL };
        c.rgb = malloc((size_t)c.w * c.h * 3);
        if (!c.rgb)
            return 1;
        for (int y = 0; y < c.h; y++)
            memcpy(c.rgb + (size_t)y * c.w * 3, img.pixels + (size_t)y * img.width * 3, (size_t)c.w * 3);
        char name[64];
#define PNG_SEED(tag, ct, depth, il) \
        snprintf(name, sizeof name, "%s-%dx%d.png", tag, c.w, c.h); \
        bad |= write_png(argv[2], name, &c, ct, depth, il)
        PNG_SEED("gray8", PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE);
        PNG_SEED("gray1", PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE);
        PNG_SEED("graya", PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE);
        PNG_SEED("rgb8", PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE);
        PNG_SEED("rgb16", PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE);
        PNG_SEED("rgba", PNG_COLOR_TYPE_RGB_ALPHA, 8, PNG_INTERLACE_NONE);
        PNG_SEED("palette", PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE);
        PNG_SEED("adam7", PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7);
#undef PNG_SEED
        static const char *jtags[] = { "baseline", "yuv444", "gray", "progressive", "arith", "restart" };
        for (int m = JPEG_BASELINE; m <= JPEG_RESTART; m++) {
            snprintf(name, sizeof name, "%s-%dx%d.jpg", jtags[m], c.w, c.h);
            bad |= write_jpeg(argv[2], name, &c, m);
        }
        free(c.rgb);
    }
    unet_image_free(&img);
    if (bad)
        fprintf(stderr, "fuzz-image-seeds: some seeds could not be written in %s\n", argv[2]);
    return bad ? 1 : 0;
}
