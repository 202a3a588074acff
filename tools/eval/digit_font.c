/* Glyph rows are 3-bit masks, most significant bit leftmost. */
#include <string.h>

#include "digit_font.h"

static const char glyph_chars[] = "0123456789%-.<";
static const uint8_t glyphs[][DIGIT_FONT_H] = {
    { 2, 5, 5, 5, 2 }, /* 0 */
    { 2, 6, 2, 2, 7 }, /* 1 */
    { 7, 1, 7, 4, 7 }, /* 2 */
    { 7, 1, 7, 1, 7 }, /* 3 */
    { 5, 5, 7, 1, 1 }, /* 4 */
    { 7, 4, 7, 1, 7 }, /* 5 */
    { 7, 4, 7, 5, 7 }, /* 6 */
    { 7, 1, 1, 1, 1 }, /* 7 */
    { 7, 5, 7, 5, 7 }, /* 8 */
    { 7, 5, 7, 1, 7 }, /* 9 */
    { 5, 1, 2, 4, 5 }, /* % */
    { 0, 0, 7, 0, 0 }, /* - */
    { 0, 0, 0, 0, 2 }, /* . */
    { 1, 2, 4, 2, 1 }, /* < */
};

int digit_font_width(const char *text, int scale)
{
    int n = (int)strlen(text);
    return n ? (n * (DIGIT_FONT_W + 1) - 1) * scale : 0;
}

void digit_font_draw(uint8_t *rgb, int width, int height, int x, int y, const char *text,
                     int scale, const uint8_t color[3])
{
    for (; *text; text++, x += (DIGIT_FONT_W + 1) * scale) {
        const char *at = strchr(glyph_chars, *text);
        if (!at || !*text)
            continue;
        const uint8_t *g = glyphs[at - glyph_chars];
        for (int gy = 0; gy < DIGIT_FONT_H * scale; gy++) {
            int py = y + gy;
            if (py < 0 || py >= height)
                continue;
            for (int gx = 0; gx < DIGIT_FONT_W * scale; gx++) {
                int px = x + gx;
                if (px < 0 || px >= width || !(g[gy / scale] >> (DIGIT_FONT_W - 1 - gx / scale) & 1))
                    continue;
                memcpy(rgb + ((size_t)py * (size_t)width + (size_t)px) * 3, color, 3);
            }
        }
    }
}
