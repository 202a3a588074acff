/* Heat map rendering; the geometry is spelled out in confusion_heatmap.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confusion_heatmap.h"
#include "digit_font.h"
#include "error.h"

#define STRIP 12       /* class colour strip thickness */
#define STRIP_GAP 2    /* between strip and grid */
#define LABEL_GAP 4    /* between id labels and strip */
#define BAR_GAP 16     /* between grid and colour scale */
#define BAR_WIDTH 16

static const uint8_t line_rgb[3] = { 170, 170, 170 };
static const uint8_t black[3] = { 0, 0, 0 };
static const uint8_t white[3] = { 255, 255, 255 };

int confusion_heatmap_cell(int n_classes)
{
    return n_classes <= CONFUSION_HEATMAP_MAX_LABELLED ? CONFUSION_HEATMAP_CELL : CONFUSION_HEATMAP_CELL_SMALL;
}

void confusion_heatmap_size(int n_classes, int *width, int *height)
{
    int grid = n_classes * confusion_heatmap_cell(n_classes);
    *width = CONFUSION_HEATMAP_LEFT + grid + CONFUSION_HEATMAP_RIGHT;
    *height = CONFUSION_HEATMAP_TOP + grid + CONFUSION_HEATMAP_BOTTOM;
}

void confusion_heatmap_color(double v, uint8_t rgb[3])
{
    /* White -> mid blue -> dark blue: light cells stay readable with black text. */
    static const double stops[3][3] = { { CONFUSION_HEATMAP_ZERO_RGB }, { 107, 174, 214 },
                                        { CONFUSION_HEATMAP_FULL_RGB } };
    if (!(v > 0))
        v = 0;
    if (v > 1)
        v = 1;
    int seg = v < 0.5 ? 0 : 1;
    double t = (v - 0.5 * seg) * 2;
    for (int c = 0; c < 3; c++)
        rgb[c] = (uint8_t)lround(stops[seg][c] + t * (stops[seg + 1][c] - stops[seg][c]));
}

static void fill_rect(unet_image *im, int x, int y, int w, int h, const uint8_t rgb[3])
{
    for (int yy = y; yy < y + h; yy++) {
        if (yy < 0 || yy >= im->height)
            continue;
        for (int xx = x; xx < x + w; xx++)
            if (xx >= 0 && xx < im->width)
                memcpy(im->pixels + ((size_t)yy * (size_t)im->width + (size_t)xx) * 3, rgb, 3);
    }
}

static void text(unet_image *im, int x, int y, const char *s, int scale, const uint8_t rgb[3])
{
    digit_font_draw(im->pixels, im->width, im->height, x, y, s, scale, rgb);
}

unet_status confusion_heatmap_render(const uint64_t *counts, int k, const uint8_t (*colors)[3],
                                     unet_image *out)
{
    memset(out, 0, sizeof *out);
    if (k < 1 || k > 256 || !counts || !colors)
        return unet_set_error(UNET_ERR_ARG, "heat map: %d classes, expected 1 to 256", k);
    int w, h, cell = confusion_heatmap_cell(k);
    confusion_heatmap_size(k, &w, &h);
    unet_image im = { w, h, 3, malloc((size_t)w * (size_t)h * 3) };
    if (!im.pixels)
        return unet_set_error(UNET_ERR_NOMEM, "heat map of %dx%d: out of memory", w, h);
    memset(im.pixels, 255, (size_t)w * (size_t)h * 3);

    int x0 = CONFUSION_HEATMAP_LEFT, y0 = CONFUSION_HEATMAP_TOP, grid = k * cell;
    int labelled = k <= CONFUSION_HEATMAP_MAX_LABELLED;
    int id_scale = labelled ? 2 : 1, glyph_h = DIGIT_FONT_H * id_scale;
    const uint8_t absent[3] = { CONFUSION_HEATMAP_ABSENT_RGB };

    /* Grid lines: the background shows through a 1 px gap after every cell. */
    fill_rect(&im, x0 - 1, y0 - 1, grid + 1, grid + 1, line_rgb);
    for (int t = 0; t < k; t++) {
        uint64_t row = 0;
        for (int p = 0; p < k; p++)
            row += counts[(size_t)t * (size_t)k + (size_t)p];
        for (int p = 0; p < k; p++) {
            uint64_t n = counts[(size_t)t * (size_t)k + (size_t)p];
            int cx = x0 + p * cell, cy = y0 + t * cell;
            if (!row) {
                fill_rect(&im, cx, cy, cell - 1, cell - 1, absent);
                continue;
            }
            double v = (double)n / (double)row;
            uint8_t rgb[3];
            confusion_heatmap_color(v, rgb);
            fill_rect(&im, cx, cy, cell - 1, cell - 1, rgb);
            if (!labelled || n == 0)
                continue;
            char buf[8];
            long pct = lround(v * 100);
            snprintf(buf, sizeof buf, pct == 0 ? "<1" : "%ld", pct);
            int tw = digit_font_width(buf, 2);
            text(&im, cx + (cell - 1 - tw) / 2, cy + (cell - 1 - DIGIT_FONT_H * 2) / 2, buf, 2,
                 v < 0.5 ? black : white);
        }
    }

    /* Class colour strips and ids: truth down the left, prediction along the top. */
    for (int c = 0; c < k; c++) {
        char id[8];
        snprintf(id, sizeof id, "%d", c);
        int tw = digit_font_width(id, id_scale);
        fill_rect(&im, x0 - STRIP_GAP - STRIP, y0 + c * cell, STRIP, cell - 1, colors[c]);
        text(&im, x0 - STRIP_GAP - STRIP - LABEL_GAP - tw, y0 + c * cell + (cell - 1 - glyph_h) / 2, id,
             id_scale, black);
        fill_rect(&im, x0 + c * cell, y0 - STRIP_GAP - STRIP, cell - 1, STRIP, colors[c]);
        text(&im, x0 + c * cell + (cell - 1 - tw) / 2, y0 - STRIP_GAP - STRIP - LABEL_GAP - glyph_h, id,
             id_scale, black);
    }

    /* Colour scale: 100 % at the top, 0 % at the bottom. */
    int bx = x0 + grid + BAR_GAP;
    fill_rect(&im, bx - 1, y0 - 1, BAR_WIDTH + 2, grid + 1, line_rgb);
    for (int j = 0; j < grid - 1; j++) {
        uint8_t rgb[3];
        confusion_heatmap_color(grid > 2 ? 1.0 - (double)j / (double)(grid - 2) : 1.0, rgb);
        fill_rect(&im, bx, y0 + j, BAR_WIDTH, 1, rgb);
    }
    text(&im, bx + BAR_WIDTH + LABEL_GAP, y0, "100", 2, black);
    text(&im, bx + BAR_WIDTH + LABEL_GAP, y0 + grid - 1 - DIGIT_FONT_H * 2, "0", 2, black);
    *out = im;
    return UNET_OK;
}

unet_status confusion_heatmap_write(const char *path, const uint64_t *counts, int k,
                                    const uint8_t (*colors)[3])
{
    unet_image im;
    UNET_TRY(confusion_heatmap_render(counts, k, colors, &im));
    unet_status st = unet_png_write(path, &im, NULL, 0);
    unet_image_free(&im);
    return st;
}
