/* Random crops from scene images laid out from their tiles (see crops.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <unet/image.h>

#include "crops.h"
#include "error.h"

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) from 53 random bits. */
static double unit(uint64_t r) { return (double)(r >> 11) / 9007199254740992.0; }

/* Non-negative decimal digits at *s (at least one, at most 9), advancing *s. */
static int parse_digits(const char **s, int *out)
{
    int v = 0, n = 0;
    while (**s >= '0' && **s <= '9') {
        if (++n > 9)
            return 0;
        v = v * 10 + (**s - '0');
        (*s)++;
    }
    *out = v;
    return n > 0;
}

int crop_parse_tile_name(const char *name, size_t *prefix_len, int *x, int *y)
{
    const char *sep = NULL;
    for (const char *p = strstr(name, "__"); p; p = strstr(p + 1, "__"))
        sep = p;
    if (!sep || sep == name)
        return 0;
    const char *s = sep + 2;
    if (*s++ != 'y' || !parse_digits(&s, y) || *s++ != '_' || *s++ != 'x' || !parse_digits(&s, x) ||
        *s)
        return 0;
    *prefix_len = (size_t)(sep - name);
    return 1;
}

void crop_source_free(crop_source *src)
{
    if (!src)
        return;
    free(src->tiles);
    free(src->images);
    memset(src, 0, sizeof *src);
}

/* Sorting context: names of the tiles (qsort has no user pointer). */
typedef struct keyed {
    crop_tile t;
    const char *name;
    size_t prefix; /* bytes of the image key; the whole name for a lone tile */
} keyed;

static int cmp_keyed(const void *pa, const void *pb)
{
    const keyed *a = pa, *b = pb;
    const size_t n = a->prefix < b->prefix ? a->prefix : b->prefix;
    int c = memcmp(a->name, b->name, n);
    if (c == 0 && a->prefix != b->prefix)
        c = a->prefix < b->prefix ? -1 : 1;
    if (c == 0)
        c = a->t.y != b->t.y ? (a->t.y < b->t.y ? -1 : 1) : a->t.x != b->t.x ? (a->t.x < b->t.x ? -1 : 1) : 0;
    if (c == 0)
        c = a->t.tile < b->t.tile ? -1 : a->t.tile > b->t.tile;
    return c;
}

unet_status crop_source_build(const tile_set *set, const int *idx, int n, int tile_width,
                              int tile_height, crop_source *out)
{
    memset(out, 0, sizeof *out);
    if (n < 1 || tile_width < 1 || tile_height < 1)
        return unet_set_error(UNET_ERR_ARG, "crops: %d tiles of %dx%d", n, tile_width,
                              tile_height);
    keyed *k = malloc((size_t)n * sizeof *k);
    out->tiles = malloc((size_t)n * sizeof *out->tiles);
    out->images = malloc((size_t)n * sizeof *out->images);
    if (!k || !out->tiles || !out->images) {
        free(k);
        crop_source_free(out);
        return unet_set_error(UNET_ERR_NOMEM, "crops: out of memory for %d tiles", n);
    }
    for (int i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= set->n) {
            free(k);
            crop_source_free(out);
            return unet_set_error(UNET_ERR_ARG, "crops: tile index %d outside 0..%d", idx[i],
                                  set->n - 1);
        }
        const char *name = set->tiles[idx[i]].name;
        k[i].name = name;
        k[i].t.tile = idx[i];
        if (!crop_parse_tile_name(name, &k[i].prefix, &k[i].t.x, &k[i].t.y)) {
            k[i].prefix = strlen(name); /* an image of its own */
            k[i].t.x = k[i].t.y = 0;
        }
    }
    qsort(k, (size_t)n, sizeof *k, cmp_keyed);
    for (int i = 0; i < n; i++) {
        const int same = i > 0 && k[i].prefix == k[i - 1].prefix &&
                         memcmp(k[i].name, k[i - 1].name, k[i].prefix) == 0;
        if (!same) {
            crop_image *im = &out->images[out->n_images++];
            im->first = i;
            im->n = 0;
            im->width = im->height = 0;
        }
        crop_image *im = &out->images[out->n_images - 1];
        k[i].t.image = out->n_images - 1;
        out->tiles[i] = k[i].t;
        im->n++;
        if (k[i].t.x + tile_width > im->width)
            im->width = k[i].t.x + tile_width;
        if (k[i].t.y + tile_height > im->height)
            im->height = k[i].t.y + tile_height;
    }
    free(k);
    out->n_tiles = n;
    out->tile_width = tile_width;
    out->tile_height = tile_height;
    return UNET_OK;
}

/* Where a window of size len starts when centred at c inside [0, extent). */
static double place(double c, double len, double extent)
{
    if (len >= extent)
        return (extent - len) / 2; /* larger than the image: centred on it */
    double x0 = c - len / 2;
    if (x0 < 0)
        x0 = 0;
    if (x0 > extent - len)
        x0 = extent - len;
    return x0;
}

void crop_draw(const crop_source *src, uint64_t seed, uint64_t sample, crop_window *out)
{
    const uint64_t base = mix64(seed ^ mix64(sample + 0x1d8e4e27c47d124fULL));
    const crop_tile *t = &src->tiles[mix64(base) % (uint64_t)src->n_tiles];
    const crop_image *im = &src->images[t->image];
    out->image = t->image;
    out->scale = CROP_SCALE_MIN + (CROP_SCALE_MAX - CROP_SCALE_MIN) * unit(mix64(base + 1));
    out->w = out->scale * src->tile_width;
    out->h = out->scale * src->tile_height;
    const double cx = t->x + unit(mix64(base + 2)) * src->tile_width;
    const double cy = t->y + unit(mix64(base + 3)) * src->tile_height;
    out->x0 = place(cx, out->w, im->width);
    out->y0 = place(cy, out->h, im->height);
}

void crop_resample(const uint8_t *rgb, const uint8_t *mask, const uint8_t *covered, int cw,
                   int ch, double x0, double y0, double w, double h, int out_w, int out_h,
                   int ignore_label, uint8_t *out_rgb, uint8_t *out_mask)
{
    const double sx = w / out_w, sy = h / out_h;
    for (int v = 0; v < out_h; v++) {
        const double fy = y0 + (v + 0.5) * sy - 0.5;
        const int iy = (int)floor(fy);
        const double ay = fy - iy;
        const int ny = (int)floor(fy + 0.5);
        for (int u = 0; u < out_w; u++) {
            const double fx = x0 + (u + 0.5) * sx - 0.5;
            const int ix = (int)floor(fx);
            const double ax = fx - ix;
            const size_t o = (size_t)v * (size_t)out_w + (size_t)u;
            /* Mask: the nearest canvas pixel, never a blend of labels. */
            const int nx = (int)floor(fx + 0.5);
            const int inside = nx >= 0 && nx < cw && ny >= 0 && ny < ch;
            const size_t ni = inside ? (size_t)ny * (size_t)cw + (size_t)nx : 0;
            out_mask[o] = inside && covered[ni] ? mask[ni] : (uint8_t)ignore_label;
            /* Picture: bilinear over the covered ones of the 4 neighbours. */
            double acc[3] = {0, 0, 0}, wsum = 0;
            for (int dy = 0; dy < 2; dy++)
                for (int dx = 0; dx < 2; dx++) {
                    const int px = ix + dx, py = iy + dy;
                    const double wt = (dx ? ax : 1 - ax) * (dy ? ay : 1 - ay);
                    if (px < 0 || px >= cw || py < 0 || py >= ch || wt == 0)
                        continue;
                    const size_t pi = (size_t)py * (size_t)cw + (size_t)px;
                    if (!covered[pi])
                        continue;
                    for (int c = 0; c < 3; c++)
                        acc[c] += wt * rgb[3 * pi + (size_t)c];
                    wsum += wt;
                }
            for (int c = 0; c < 3; c++) {
                const double val = wsum > 0 ? acc[c] / wsum : 0.0;
                out_rgb[3 * o + (size_t)c] = (uint8_t)(val + 0.5 > 255 ? 255 : val + 0.5);
            }
        }
    }
}

/* Copies the part of one tile inside the canvas [bx, bx + cw) x [by, by + ch). */
static void paste(const uint8_t *rgb, const uint8_t *mask, int tx, int ty, int tw, int th, int bx,
                  int by, int cw, int ch, uint8_t *c_rgb, uint8_t *c_mask, uint8_t *c_cov)
{
    const int x_lo = tx > bx ? tx : bx, x_hi = tx + tw < bx + cw ? tx + tw : bx + cw;
    const int y_lo = ty > by ? ty : by, y_hi = ty + th < by + ch ? ty + th : by + ch;
    if (x_lo >= x_hi || y_lo >= y_hi)
        return;
    const size_t len = (size_t)(x_hi - x_lo);
    for (int y = y_lo; y < y_hi; y++) {
        const size_t s = (size_t)(y - ty) * (size_t)tw + (size_t)(x_lo - tx);
        const size_t d = (size_t)(y - by) * (size_t)cw + (size_t)(x_lo - bx);
        memcpy(c_rgb + 3 * d, rgb + 3 * s, 3 * len);
        memcpy(c_mask + d, mask + s, len);
        memset(c_cov + d, 1, len);
    }
}

unet_status crop_render(const crop_source *src, const tile_set *set, const crop_window *win,
                        int out_w, int out_h, int n_classes, int ignore_label, uint8_t *rgb,
                        uint8_t *mask)
{
    if (win->image < 0 || win->image >= src->n_images || out_w < 1 || out_h < 1)
        return unet_set_error(UNET_ERR_ARG, "crop: image %d, output %dx%d", win->image, out_w,
                              out_h);
    /* The canvas: the window's pixels plus one on each side for bilinear. */
    const int bx = (int)floor(win->x0) - 1, by = (int)floor(win->y0) - 1;
    const int cw = (int)ceil(win->x0 + win->w) + 1 - bx, ch = (int)ceil(win->y0 + win->h) + 1 - by;
    const size_t cn = (size_t)cw * (size_t)ch;
    uint8_t *c_rgb = calloc(3 * cn, 1), *c_mask = malloc(cn), *c_cov = calloc(cn, 1);
    unet_status s = c_rgb && c_mask && c_cov
                        ? UNET_OK
                        : unet_set_error(UNET_ERR_NOMEM, "crop: out of memory for %dx%d", cw, ch);
    if (s == UNET_OK)
        memset(c_mask, ignore_label, cn);
    const crop_image *im = &src->images[win->image];
    const int tw = src->tile_width, th = src->tile_height;
    char path[4096];
    for (int i = im->first; s == UNET_OK && i < im->first + im->n; i++) {
        const crop_tile *t = &src->tiles[i];
        if (t->x >= bx + cw || t->x + tw <= bx || t->y >= by + ch || t->y + th <= by)
            continue;
        unet_image img = {0};
        uint8_t *m = NULL;
        int mw = 0, mh = 0;
        s = tile_image_path(set, t->tile, path, sizeof path);
        if (s == UNET_OK)
            s = unet_image_read(path, UNET_IMAGE_FORCE_RGB, &img);
        if (s == UNET_OK && (img.width != tw || img.height != th))
            s = unet_set_error(UNET_ERR_SHAPE, "%s is %dx%d, the other tiles %dx%d", path,
                               img.width, img.height, tw, th);
        if (s == UNET_OK)
            s = tile_mask_path(set, t->tile, path, sizeof path);
        if (s == UNET_OK)
            s = tile_read_mask(path, n_classes, ignore_label, &mw, &mh, &m);
        if (s == UNET_OK && (mw != tw || mh != th))
            s = unet_set_error(UNET_ERR_SHAPE, "%s is %dx%d, its image %dx%d", path, mw, mh, tw,
                               th);
        if (s == UNET_OK)
            paste(img.pixels, m, t->x, t->y, tw, th, bx, by, cw, ch, c_rgb, c_mask, c_cov);
        free(m);
        unet_image_free(&img);
    }
    if (s == UNET_OK)
        crop_resample(c_rgb, c_mask, c_cov, cw, ch, win->x0 - bx, win->y0 - by, win->w, win->h,
                      out_w, out_h, ignore_label, rgb, mask);
    free(c_rgb);
    free(c_mask);
    free(c_cov);
    return s;
}
