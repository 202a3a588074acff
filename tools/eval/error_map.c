/* Right/wrong/ignored maps, as described in error_map.h. */
#include "error_map.h"

void error_map_render(const uint8_t *truth, const uint8_t *pred, size_t n, int n_classes,
                      int ignore_label, const uint8_t (*colors)[3], uint8_t *rgb)
{
    for (size_t i = 0; i < n; i++, rgb += 3) {
        int t = truth[i];
        if (t == ignore_label || t >= n_classes) {
            rgb[0] = rgb[1] = rgb[2] = 0;
        } else if (pred[i] == t) {
            for (int c = 0; c < 3; c++)
                rgb[c] = (uint8_t)(colors[t][c] / 2);
        } else {
            rgb[0] = 255;
            rgb[1] = rgb[2] = 0;
        }
    }
}
