/* A tiny built-in bitmap font for numbers drawn into RGB images (heat map
 * labels): glyphs 3 x 5 pixels for 0-9 % - . < , scaled by an integer. */
#ifndef UNET_TOOLS_DIGIT_FONT_H
#define UNET_TOOLS_DIGIT_FONT_H

#include <stdint.h>

#define DIGIT_FONT_W 3
#define DIGIT_FONT_H 5

/* Width in pixels of text at scale (one glyph column of space between glyphs). */
int digit_font_width(const char *text, int scale);
/* Draws text with its top-left corner at (x, y) into an RGB image of
 * width x height; pixels outside the image are skipped, characters without a
 * glyph are drawn as space. */
void digit_font_draw(uint8_t *rgb, int width, int height, int x, int y, const char *text,
                     int scale, const uint8_t color[3]);

#endif
