/* unet-infer's tile mode, one batch at a time (see infer_tiles.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unet/mask.h>

#include "infer_tiles.h"
#include "mask_palette.h"
#include "npy_write.h"

/* Adds weight x output 0 to the scores, mirrored back for flip 1 (left-right)
 * and 2 (top-bottom); the scores are class-major (NCHW) whatever the layout. */
static void accumulate(float *scores, const unet_tensor *out, int nhwc, int n, int classes, int h, int w,
                       int flip, float weight)
{
    const float *src = out->data;
    for (int b = 0; b < n; b++)
        for (int k = 0; k < classes; k++)
            for (int y = 0; y < h; y++) {
                int sy = flip == 2 ? h - 1 - y : y;
                for (int x = 0; x < w; x++) {
                    int sx = flip == 1 ? w - 1 - x : x;
                    size_t si = nhwc ? (((size_t)b * h + sy) * w + sx) * classes + k
                                     : (((size_t)b * classes + k) * h + sy) * w + sx;
                    size_t di = (((size_t)b * classes + k) * h + y) * w + x;
                    scores[di] += weight * src[si];
                }
            }
}

/* Every tile of the batch failed for the same reason. */
static void fail_all(infer_tiles *t, const infer_tile *tiles, int n, const char *why)
{
    for (int b = 0; b < n; b++)
        infer_report_failure(t->report, tiles[b].path, why);
}

/* The passes (1, or 3 with --tta) into t->scores; *classes gets the count.
 * 0, or -1 with every tile's failure reported. */
static int score_batch(infer_tiles *t, const infer_tile *tiles, int n, int *classes)
{
    const int h = tiles[0].img.height, w = tiles[0].img.width, passes = t->tta ? 3 : 1;
    const unet_image **images = malloc((size_t)n * sizeof *images);
    if (!images)
        return fail_all(t, tiles, n, "out of memory"), -1;
    for (int b = 0; b < n; b++)
        images[b] = &tiles[b].img;
    int rc = 0;
    for (int pass = 0; pass < passes && rc == 0; pass++) {
        unet_tensor out;
        if (tile_batch_fill(&t->tb, images, n, pass) != UNET_OK ||
            tile_batch_run(&t->tb, n, h, w, &out, classes) != UNET_OK) {
            fail_all(t, tiles, n, unet_last_error());
            rc = -1;
            break;
        }
        const size_t need = (size_t)n * (size_t)*classes * (size_t)h * (size_t)w;
        if (pass == 0 && need > t->scores_cap) {
            float *p = realloc(t->scores, need * sizeof *p);
            if (!p) {
                fail_all(t, tiles, n, "out of memory for the class scores");
                rc = -1;
                break;
            }
            t->scores = p;
            t->scores_cap = need;
        }
        if (pass == 0)
            memset(t->scores, 0, need * sizeof *t->scores);
        accumulate(t->scores, &out, t->tb.spec.nhwc, n, *classes, h, w, pass, 1.0f / (float)passes);
    }
    free(images);
    return rc;
}

/* The mask, and with --probs and --overlay their files, of one tile. */
static void write_tile(infer_tiles *t, const infer_tile *tile, const float *scores, int classes,
                       const uint8_t *palette, uint8_t *mask)
{
    const int h = tile->img.height, w = tile->img.width;
    const size_t plane = (size_t)h * (size_t)w;
    unet_mask_argmax(scores, classes, plane, plane, 1, mask);
    char path[4096 + 1100];
    if (t->probs) {
        snprintf(path, sizeof path, "%s/%s.probs.npy", t->out_dir, tile->stem);
        if (npy_write_f16(path, scores, classes, h, w) != UNET_OK) {
            infer_report_failure(t->report, tile->path, unet_last_error());
            return;
        }
    }
    if (t->overlay) {
        unet_image ov = {w, h, 3, malloc(plane * 3)};
        if (!ov.pixels) {
            infer_report_failure(t->report, tile->path, "out of memory for the overlay");
            return;
        }
        const unet_image *src = &tile->img;
        for (size_t i = 0; i < plane; i++)
            for (int ch = 0; ch < 3; ch++) {
                int sv = src->pixels[i * (size_t)src->channels + (src->channels >= 3 ? ch : 0)];
                ov.pixels[i * 3 + ch] = (uint8_t)((sv + palette[3 * mask[i] + ch]) / 2);
            }
        snprintf(path, sizeof path, "%s/%s.overlay.png", t->out_dir, tile->stem);
        const unet_status s = unet_png_write(path, &ov, NULL, 0);
        free(ov.pixels);
        if (s != UNET_OK) {
            infer_report_failure(t->report, tile->path, unet_last_error());
            return;
        }
    }
    snprintf(path, sizeof path, "%s/%s.png", t->out_dir, tile->stem);
    unet_png_text text[1] = {{"unet:model", t->model_hash}};
    if (unet_png_write_indexed(path, w, h, mask, palette, classes, text, 1) != UNET_OK) {
        infer_report_failure(t->report, tile->path, unet_last_error());
        return;
    }
    infer_report_done(t->report);
}

int infer_tiles_run(infer_tiles *t, const infer_tile *tiles, int n)
{
    int classes = 0;
    if (score_batch(t, tiles, n, &classes) != 0)
        return -1;
    const int h = tiles[0].img.height, w = tiles[0].img.width;
    uint8_t *mask = malloc((size_t)h * (size_t)w);
    if (!mask)
        return fail_all(t, tiles, n, "out of memory for the mask"), -1;
    uint8_t palette[256 * 3];
    mask_palette(t->meta, classes, palette);
    for (int b = 0; b < n; b++)
        write_tile(t, &tiles[b], t->scores + (size_t)b * (size_t)classes * (size_t)h * (size_t)w, classes,
                   palette, mask);
    free(mask);
    return 0;
}

void infer_tiles_free(infer_tiles *t)
{
    tile_batch_free(&t->tb);
    free(t->scores);
    t->scores = NULL;
    t->scores_cap = 0;
}
