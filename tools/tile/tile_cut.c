/* Cutting one image/mask pair into tiles and index masks (see tile_job.h). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unet/image.h>
#include <unet/palette.h>
#include <unet/tiling.h>
#include <unet/unet.h>

#include "cli_alloc.h"
#include "tile_job.h"
#ifdef UNET_HAVE_GDAL
#include "geo_labels.h"
#endif

/* ---- tiling one pair -------------------------------------------------- */

static void add_tile(job *j, const char *name, int scene_index)
{
    if (j->n_tiles == j->cap_tiles) {
        j->cap_tiles = j->cap_tiles ? j->cap_tiles * 2 : 256;
        j->tiles = cli_xrealloc(j->tiles, j->cap_tiles * sizeof *j->tiles);
    }
    j->tiles[j->n_tiles].name = cli_xstrdup(name);
    j->tiles[j->n_tiles].scene = scene_index;
    j->n_tiles++;
}

/* An image and its colour mask -> img and class ids; -1 (message printed). */
static int read_colour_pair(const pair *p, const settings *st, unet_image *img, unet_image *msk, uint8_t **ids)
{
    if (unet_image_read(p->image, UNET_IMAGE_FORCE_RGB, img) != UNET_OK ||
        unet_image_read(p->mask, UNET_IMAGE_FORCE_RGB, msk) != UNET_OK) {
        tile_err("%s", unet_last_error());
        return -1;
    }
    if (img->width != msk->width || img->height != msk->height) {
        tile_err("%s is %dx%d but its mask %s is %dx%d; skipped", p->image, img->width, img->height, p->mask, msk->width,
            msk->height);
        return -1;
    }
    *ids = cli_xmalloc((size_t)msk->width * (size_t)msk->height);
    unet_unknown_colors unk;
    if (unet_palette_map_rgb(&st->palette, msk, p->mask, st->unknown, *ids, &unk) != UNET_OK) {
        tile_err("%s (use --unknown-colors ignore to map unknown colours to the ignore label)", unet_last_error());
        return -1;
    }
    if (unk.count) {
        char hex[8];
        unet_format_hex_color(unk.first_rgb, hex);
        tile_warn("%s: %" PRIu64 " pixel(s) of colours outside the palette set to ignore (first %s at x=%d, y=%d)",
             p->mask, unk.count, hex, unk.first_x, unk.first_y);
    }
    return 0;
}

/* A georeferenced image and vector labels (p->mask is the labels file) ->
 * img and class ids; -1 (message printed). */
static int read_geo_pair(const pair *p, const settings *st, unet_image *img, uint8_t **ids)
{
#ifdef UNET_HAVE_GDAL
    geo_labels_info info;
    if (geo_labels_load(p->image, p->mask, st->label_field, &st->geo, &st->palette, st->unknown, img, ids, &info) !=
        UNET_OK) {
        tile_err("%s%s", unet_last_error(),
            st->unknown == UNET_UNKNOWN_COLOR_ERROR ? " (use --unknown-colors ignore to leave such polygons out)" : "");
        return -1;
    }
    if (info.unknown)
        tile_warn("%s: %" PRId64 " polygon(s) of classes outside the palette left out (first '%s')", p->mask, info.unknown,
             info.first_unknown);
    if (!info.features)
        tile_warn("%s: no polygon with a class in %s", p->image, p->mask);
    return 0;
#else
    (void)p;
    (void)st;
    (void)img;
    (void)ids;
    tile_err("%s", geo_enable_hint());
    return -1;
#endif
}

/* Returns 0 when the pair was tiled, -1 (message printed) when it failed. */
int tile_cut_pair(job *j, pair *p, const settings *st)
{
    scene *sc = &j->scenes[p->scene];
    unet_image img = {0}, msk = {0};
    uint8_t *ids = NULL, *tile_rgb = NULL, *tile_ids = NULL;
    unet_window *win = NULL;
    size_t n_win = 0;
    char *src_text = NULL;
    int rc = -1;

    if (p->geo ? read_geo_pair(p, st, &img, &ids) != 0 : read_colour_pair(p, st, &img, &msk, &ids) != 0)
        goto done;
    if (unet_tiling_plan(img.width, img.height, st->tile, st->tile - st->overlap, st->mode, &win, &n_win) !=
        UNET_OK) {
        tile_err("%s: %s", p->image, unet_last_error());
        goto done;
    }
    if (n_win == 0)
        tile_warn("%s: %dx%d is smaller than one %dx%d tile; no tiles with --drop-partial", p->image, img.width,
             img.height, st->tile, st->tile);

    size_t T = (size_t)st->tile;
    tile_rgb = cli_xmalloc(T * T * 3);
    tile_ids = cli_xmalloc(T * T);
    for (size_t k = 0; k < n_win; k++) {
        const unet_window *w = &win[k];
        uint64_t hist[256] = {0};
        /* Padding: black picture, ignore label. */
        memset(tile_rgb, 0, T * T * 3);
        memset(tile_ids, UNET_IGNORE_LABEL, T * T);
        for (int y = 0; y < w->height; y++) {
            size_t src = (size_t)(w->y + y) * (size_t)img.width + (size_t)w->x;
            memcpy(tile_rgb + (size_t)y * T * 3, img.pixels + src * 3, (size_t)w->width * 3);
            memcpy(tile_ids + (size_t)y * T, ids + src, (size_t)w->width);
        }
        for (size_t i = 0; i < T * T; i++) hist[tile_ids[i]]++;
        if (hist[UNET_IGNORE_LABEL] == T * T) { /* nothing to learn from */
            j->skipped_empty++;
            continue;
        }
        char *name = cli_xasprintf("%s__%s__y%04d_x%04d", sc->slug, p->stem_slug, w->y, w->x);
        char *ipath = cli_xasprintf("%s/images/%s.png", st->out, name);
        char *mpath = cli_xasprintf("%s/masks/%s.png", st->out, name);
        free(src_text);
        src_text = cli_xasprintf("%s x=%d y=%d", p->image, w->x, w->y);
        unet_png_text text = {"unet:source", src_text};
        unet_image timg = {st->tile, st->tile, 3, tile_rgb};
        int ok = unet_png_write(ipath, &timg, &text, 1) == UNET_OK &&
                 unet_png_write_indexed(mpath, st->tile, st->tile, tile_ids, st->png_palette, 256, &text, 1) ==
                     UNET_OK;
        if (!ok) tile_err("%s", unet_last_error());
        free(ipath);
        free(mpath);
        if (!ok) {
            free(name);
            goto done;
        }
        add_tile(j, name, p->scene);
        free(name);
        sc->tiles++;
        for (int c = 0; c < 256; c++) sc->px[c] += hist[c];
    }
    rc = 0;
done:
    free(src_text);
    free(win);
    free(ids);
    free(tile_rgb);
    free(tile_ids);
    unet_image_free(&img);
    unet_image_free(&msk);
    return rc;
}

