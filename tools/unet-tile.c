/* unet-tile: cuts scenes (images + colour masks) into training tiles with
 * index masks, assigns whole scenes to cross-validation folds balanced by
 * pixel count, and reports class frequencies per fold.
 *
 * Flow: gather pairs (scene folders, a --pairs list, or georeferenced images
 * with --labels) -> check names -> per pair: read, map mask colours to class
 * ids (or burn the vector labels, geo_labels.h), cut windows, write tiles ->
 * folds by scene -> folds.tsv, classes.tsv, stats.tsv, report. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <unet/image.h>
#include <unet/palette.h>
#include <unet/tiling.h>
#include <unet/unet.h>

#include "atomic_file.h"
#include "cli_alloc.h"
#include "cli_files.h"
#include "cli_message.h"
#include "cli_number.h"
#include "geo_options.h"
#include "scene_pairs.h"
#include "text_format.h"
#ifdef UNET_HAVE_GDAL
#include "geo_labels.h"
#endif

#define PROG "unet-tile"

/* ---- small helpers ---------------------------------------------------- */

static int quiet;

static void err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vmessage(PROG, "error", fmt, ap);
    va_end(ap);
}

static void warn(const char *fmt, ...)
{
    if (quiet) return;
    va_list ap;
    va_start(ap, fmt);
    cli_vmessage(PROG, "warning", fmt, ap);
    va_end(ap);
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || (errno == EEXIST && cli_is_dir(path))) return 0;
    err("cannot create folder %s: %s", path, strerror(errno));
    return -1;
}

/* Writes text to path through a temporary file in the same folder. */
static int write_file_atomic(const char *path, const char *text, size_t len)
{
    if (atomic_file_write_all(path, text, len) == UNET_OK)
        return 0;
    err("%s", unet_last_error());
    return -1;
}

/* Lowercase letters and digits kept, runs of anything else become one '-'. */
static char *slug_of(const char *s, int keep_case_and_underscore)
{
    size_t n = strlen(s);
    char *out = cli_xmalloc(n + 8);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) && c < 0x80) out[k++] = keep_case_and_underscore ? (char)c : (char)tolower(c);
        else if (keep_case_and_underscore && (c == '_' || c == '.' || c == '-')) out[k++] = (char)c;
        else if (k > 0 && out[k - 1] != '-') out[k++] = '-';
    }
    while (k > 0 && out[k - 1] == '-') k--;
    if (k == 0) {
        strcpy(out, "x");
        k = 1;
    }
    out[k] = '\0';
    return out;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t hash_string(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* ---- scenes and pairs ------------------------------------------------- */

typedef struct scene {
    char *name;  /* as given: folder name or SCENE column ("Tile 1") */
    char *slug;  /* in tile names ("tile-1") */
    int is_test;
    int fold;    /* 0..K-1, -1 for test scenes or scenes without tiles */
    int n_pairs, n_done;
    size_t tiles;
    uint64_t px[256]; /* tile pixels per label (255 = ignore, padding included) */
} scene;

typedef struct pair {
    char *image, *mask, *stem, *stem_slug; /* mask: a colour mask, or vector labels (geo) */
    int scene;
    int failed;
    int geo;     /* a georeferenced image with vector labels (--labels) */
} pair;

typedef struct tile_ref {
    char *name;
    int scene;
} tile_ref;

typedef struct job {
    scene *scenes;
    int n_scenes;
    pair *pairs;
    size_t n_pairs;
    tile_ref *tiles;
    size_t n_tiles, cap_tiles;
    size_t skipped_empty;
    int input_failures; /* inputs that could not even be listed */
} job;

static int add_scene(job *j, const char *name)
{
    j->scenes = cli_xrealloc(j->scenes, (size_t)(j->n_scenes + 1) * sizeof *j->scenes);
    scene *s = &j->scenes[j->n_scenes];
    memset(s, 0, sizeof *s);
    s->name = cli_xstrdup(name);
    s->fold = -1;
    return j->n_scenes++;
}

static void add_pair(job *j, const char *image, const char *mask, int scene_index)
{
    j->pairs = cli_xrealloc(j->pairs, (j->n_pairs + 1) * sizeof *j->pairs);
    pair *p = &j->pairs[j->n_pairs++];
    p->image = cli_xstrdup(image);
    p->mask = cli_xstrdup(mask);
    p->stem = scene_pairs_stem(image);
    p->stem_slug = slug_of(p->stem, 1);
    p->scene = scene_index;
    p->failed = 0;
    p->geo = 0;
    j->scenes[scene_index].n_pairs++;
}

/* The pairs found (scene_pairs.h) become the job's scenes and pairs, in the
 * same order; images without a mask were reported and counted there. A
 * pair's tag marks a georeferenced image with vector labels. */
static void take_pairs(job *j, const scene_pairs *sp)
{
    for (int i = 0; i < sp->n_scenes; i++)
        add_scene(j, sp->scenes[i].name);
    for (size_t i = 0; i < sp->n_pairs; i++) {
        const scene_pair *p = &sp->pairs[i];
        if (!p->mask)
            continue;
        add_pair(j, p->image, p->mask, p->scene);
        j->pairs[j->n_pairs - 1].geo = p->tag;
    }
    j->input_failures += sp->input_failures;
}

static int cmp_pair(const void *a, const void *b, const job *j)
{
    const pair *p = a, *q = b;
    if (p->scene != q->scene) return strcmp(j->scenes[p->scene].name, j->scenes[q->scene].name);
    return strcmp(p->stem, q->stem);
}

static const job *sort_job;
static int cmp_pair_qsort(const void *a, const void *b) { return cmp_pair(a, b, sort_job); }

/* Unique scene slugs, pairs in (scene, stem) order, and unique tile names. */
static void finish_gathering(job *j)
{
    for (int i = 0; i < j->n_scenes; i++) {
        char *base = slug_of(j->scenes[i].name, 0);
        char *slug = cli_xstrdup(base);
        for (int k = 2;; k++) {
            int clash = 0;
            for (int o = 0; o < i; o++)
                if (!strcmp(j->scenes[o].slug, slug)) clash = 1;
            if (!clash) break;
            free(slug);
            slug = cli_xasprintf("%s-%d", base, k);
        }
        free(base);
        j->scenes[i].slug = slug;
    }
    sort_job = j;
    if (j->n_pairs) qsort(j->pairs, j->n_pairs, sizeof *j->pairs, cmp_pair_qsort);
    for (size_t i = 1; i < j->n_pairs; i++) {
        pair *p = &j->pairs[i], *q = &j->pairs[i - 1];
        if (p->scene == q->scene && !strcmp(p->stem_slug, q->stem_slug)) {
            err("%s: same tile name stem '%s' as %s in scene '%s'; skipped", p->image, p->stem_slug, q->image,
                j->scenes[p->scene].name);
            p->failed = 1;
        }
    }
}

/* ---- tiling one pair -------------------------------------------------- */

typedef struct settings {
    const char *out;
    int tile, overlap;
    unet_tiling_mode mode;
    unet_unknown_color_policy unknown;
    unet_palette palette;
    uint8_t png_palette[256 * 3];
    const char *labels, *label_field; /* vector labels for georeferenced images (geo_labels.h) */
    geo_read_options geo;             /* their --bands and --stretch */
} settings;

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
        err("%s", unet_last_error());
        return -1;
    }
    if (img->width != msk->width || img->height != msk->height) {
        err("%s is %dx%d but its mask %s is %dx%d; skipped", p->image, img->width, img->height, p->mask, msk->width,
            msk->height);
        return -1;
    }
    *ids = cli_xmalloc((size_t)msk->width * (size_t)msk->height);
    unet_unknown_colors unk;
    if (unet_palette_map_rgb(&st->palette, msk, p->mask, st->unknown, *ids, &unk) != UNET_OK) {
        err("%s (use --unknown-colors ignore to map unknown colours to the ignore label)", unet_last_error());
        return -1;
    }
    if (unk.count) {
        char hex[8];
        unet_format_hex_color(unk.first_rgb, hex);
        warn("%s: %" PRIu64 " pixel(s) of colours outside the palette set to ignore (first %s at x=%d, y=%d)",
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
        err("%s%s", unet_last_error(),
            st->unknown == UNET_UNKNOWN_COLOR_ERROR ? " (use --unknown-colors ignore to leave such polygons out)" : "");
        return -1;
    }
    if (info.unknown)
        warn("%s: %" PRId64 " polygon(s) of classes outside the palette left out (first '%s')", p->mask, info.unknown,
             info.first_unknown);
    if (!info.features)
        warn("%s: no polygon with a class in %s", p->image, p->mask);
    return 0;
#else
    (void)p;
    (void)st;
    (void)img;
    (void)ids;
    err("%s", geo_enable_hint());
    return -1;
#endif
}

/* Returns 0 when the pair was tiled, -1 (message printed) when it failed. */
static int tile_pair(job *j, pair *p, const settings *st)
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
        err("%s: %s", p->image, unet_last_error());
        goto done;
    }
    if (n_win == 0)
        warn("%s: %dx%d is smaller than one %dx%d tile; no tiles with --drop-partial", p->image, img.width,
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
        if (!ok) err("%s", unet_last_error());
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

/* ---- folds ------------------------------------------------------------ */

static uint64_t labelled_pixels(const scene *s)
{
    uint64_t n = 0;
    for (int c = 0; c < UNET_IGNORE_LABEL; c++) n += s->px[c];
    return n;
}

static const scene *fold_scenes;
static const uint64_t *fold_keys;
static int cmp_scene_weight(const void *a, const void *b)
{
    int i = *(const int *)a, k = *(const int *)b;
    uint64_t wi = labelled_pixels(&fold_scenes[i]), wk = labelled_pixels(&fold_scenes[k]);
    if (wi != wk) return wi > wk ? -1 : 1;
    if (fold_keys[i] != fold_keys[k]) return fold_keys[i] < fold_keys[k] ? -1 : 1;
    return strcmp(fold_scenes[i].name, fold_scenes[k].name);
}

/* Greedy: heaviest scene first, each to the currently lightest fold. The
 * seed orders scenes of equal weight and which of equally light folds wins
 * (so it permutes fold labels). Returns the number of folds used. */
static int assign_folds(job *j, int k_folds, int warn_fewer, uint64_t seed)
{
    int *order = cli_xmalloc((size_t)j->n_scenes * sizeof *order);
    uint64_t *keys = cli_xmalloc((size_t)j->n_scenes * sizeof *keys);
    int n = 0;
    for (int i = 0; i < j->n_scenes; i++) {
        j->scenes[i].fold = -1;
        keys[i] = splitmix64(seed ^ hash_string(j->scenes[i].name));
        if (!j->scenes[i].is_test && j->scenes[i].tiles > 0) order[n++] = i;
    }
    if (k_folds > n) {
        if (n > 0 && warn_fewer) warn("--folds %d but only %d scene(s) to split; using %d fold(s)", k_folds, n, n);
        k_folds = n;
    }
    fold_scenes = j->scenes;
    fold_keys = keys;
    if (n) qsort(order, (size_t)n, sizeof *order, cmp_scene_weight);
    uint64_t *load = cli_xcalloc((size_t)(k_folds + 1), sizeof *load);
    int *rank = cli_xmalloc((size_t)(k_folds + 1) * sizeof *rank);
    /* Seeded tie order among folds: a Fisher-Yates permutation of 0..K-1. */
    for (int f = 0; f < k_folds; f++) rank[f] = f;
    uint64_t r = seed;
    for (int f = k_folds - 1; f > 0; f--) {
        r = splitmix64(r);
        int g = (int)(r % (uint64_t)(f + 1));
        int t = rank[f];
        rank[f] = rank[g];
        rank[g] = t;
    }
    for (int i = 0; i < n; i++) {
        int best = -1;
        for (int f = 0; f < k_folds; f++)
            if (best < 0 || load[f] < load[best] || (load[f] == load[best] && rank[f] < rank[best])) best = f;
        j->scenes[order[i]].fold = best;
        load[best] += labelled_pixels(&j->scenes[order[i]]);
    }
    free(order);
    free(keys);
    free(load);
    free(rank);
    return k_folds;
}

/* ---- outputs ---------------------------------------------------------- */

typedef struct split {
    char label[16];
    int scenes;
    size_t tiles;
    uint64_t px[256];
} split;

static void fold_label(const scene *s, char *buf, size_t n)
{
    if (s->is_test) snprintf(buf, n, "test");
    else snprintf(buf, n, "%d", s->fold);
}

/* Splits: folds 0..K-1, then "test" (when any), then "all". */
static split *make_splits(const job *j, int k_folds, int *n_splits)
{
    int has_test = 0;
    for (int i = 0; i < j->n_scenes; i++)
        if (j->scenes[i].is_test && j->scenes[i].tiles) has_test = 1;
    int n = k_folds + has_test + 1;
    split *sp = cli_xcalloc((size_t)n, sizeof *sp);
    for (int f = 0; f < k_folds; f++) snprintf(sp[f].label, sizeof sp[f].label, "%d", f);
    if (has_test) snprintf(sp[k_folds].label, sizeof sp[k_folds].label, "test");
    snprintf(sp[n - 1].label, sizeof sp[n - 1].label, "all");
    for (int i = 0; i < j->n_scenes; i++) {
        const scene *s = &j->scenes[i];
        if (!s->tiles) continue;
        int idx = s->is_test ? k_folds : s->fold;
        for (int t = 0; t < 2; t++) {
            split *d = &sp[t == 0 ? idx : n - 1];
            d->scenes++;
            d->tiles += s->tiles;
            for (int c = 0; c < 256; c++) d->px[c] += s->px[c];
        }
    }
    *n_splits = n;
    return sp;
}

static uint64_t split_labelled(const split *s, int n_classes)
{
    uint64_t n = 0;
    for (int c = 0; c < n_classes; c++) n += s->px[c];
    return n;
}

static int write_folds(const job *j, const char *out)
{
    sbuf b = {0};
    for (size_t t = 0; t < j->n_tiles; t++) {
        const scene *s = &j->scenes[j->tiles[t].scene];
        char fold[16];
        fold_label(s, fold, sizeof fold);
        sb_printf(&b, "%s\t%s\t%s\n", j->tiles[t].name, s->name, fold);
    }
    if (b.nomem) {
        err("folds.tsv: out of memory");
        free(b.s);
        return -1;
    }
    char *path = cli_xasprintf("%s/folds.tsv", out);
    int rc = write_file_atomic(path, b.s ? b.s : "", b.len);
    free(path);
    free(b.s);
    return rc;
}

/* stats.tsv: one row per split; class columns hold pixel counts. */
static int write_stats(const split *sp, int n_splits, const unet_palette *pal, const char *out)
{
    sbuf b = {0};
    sb_printf(&b, "SPLIT\tSCENES\tTILES\tLABELLED\tIGNORED");
    for (int c = 0; c < pal->n_classes; c++) sb_printf(&b, "\t%s", pal->classes[c].name);
    sb_printf(&b, "\n");
    for (int i = 0; i < n_splits; i++) {
        const split *s = &sp[i];
        uint64_t other = 0; /* labels past the palette cannot occur; counted to be sure */
        for (int c = pal->n_classes; c < UNET_IGNORE_LABEL; c++) other += s->px[c];
        sb_printf(&b, "%s\t%d\t%zu\t%" PRIu64 "\t%" PRIu64, s->label, s->scenes, s->tiles,
                  split_labelled(s, pal->n_classes), s->px[UNET_IGNORE_LABEL] + other);
        for (int c = 0; c < pal->n_classes; c++) sb_printf(&b, "\t%" PRIu64, s->px[c]);
        sb_printf(&b, "\n");
    }
    if (b.nomem) {
        err("stats.tsv: out of memory");
        free(b.s);
        return -1;
    }
    char *path = cli_xasprintf("%s/stats.tsv", out);
    int rc = write_file_atomic(path, b.s, b.len);
    free(path);
    free(b.s);
    return rc;
}

static void print_stats(const split *sp, int n_splits, const unet_palette *pal)
{
    fprintf(stderr, "%-6s %6s %7s %6s", "split", "scenes", "tiles", "ignore");
    for (int c = 0; c < pal->n_classes; c++) fprintf(stderr, " %10.10s", pal->classes[c].name);
    fprintf(stderr, "\n");
    for (int i = 0; i < n_splits; i++) {
        const split *s = &sp[i];
        uint64_t lab = split_labelled(s, pal->n_classes), all = lab + s->px[UNET_IGNORE_LABEL];
        fprintf(stderr, "%-6s %6d %7zu %5.1f%%", s->label, s->scenes, s->tiles,
                all ? 100.0 * (double)s->px[UNET_IGNORE_LABEL] / (double)all : 0.0);
        for (int c = 0; c < pal->n_classes; c++)
            fprintf(stderr, " %9.2f%%", lab ? 100.0 * (double)s->px[c] / (double)lab : 0.0);
        fprintf(stderr, "\n");
    }
    fprintf(stderr, "(class %% of labelled pixels; ignore %% of all tile pixels, padding included)\n");
}

static char *make_json(const job *j, const settings *st, const split *sp, int n_splits, int k_folds,
                       uint64_t seed, size_t n_failed, double seconds)
{
    const char *edges = st->mode == UNET_TILING_PAD ? "pad" : st->mode == UNET_TILING_DROP_PARTIAL ? "drop-partial"
                                                                                                  : "align";
    sbuf b = {0};
    sb_printf(&b, "{\"program\":\"unet-tile\",\"version\":\"%s\",\"out\":", UNET_VERSION_STRING);
    sb_json_string(&b, st->out);
    sb_printf(&b, ",\"tile\":%d,\"overlap\":%d,\"edges\":\"%s\",\"folds\":%d,\"seed\":%" PRIu64
                  ",\"pairs\":%zu,\"failed\":%zu,\"tiles\":%zu,\"skipped_empty_tiles\":%zu,\"classes\":[",
              st->tile, st->overlap, edges, k_folds, seed, j->n_pairs, n_failed, j->n_tiles, j->skipped_empty);
    for (int c = 0; c < st->palette.n_classes; c++) {
        if (c) sb_printf(&b, ",");
        sb_json_string(&b, st->palette.classes[c].name);
    }
    sb_printf(&b, "],\"scenes\":[");
    for (int i = 0; i < j->n_scenes; i++) {
        const scene *s = &j->scenes[i];
        char fold[16];
        fold_label(s, fold, sizeof fold);
        sb_printf(&b, "%s{\"name\":", i ? "," : "");
        sb_json_string(&b, s->name);
        sb_printf(&b, ",\"slug\":");
        sb_json_string(&b, s->slug);
        if (s->tiles || s->is_test) sb_printf(&b, ",\"fold\":\"%s\"", fold);
        else sb_printf(&b, ",\"fold\":null");
        sb_printf(&b, ",\"pairs\":%d,\"pairs_done\":%d,\"tiles\":%zu,\"labelled_pixels\":%" PRIu64 "}", s->n_pairs,
                  s->n_done, s->tiles, labelled_pixels(s));
    }
    sb_printf(&b, "],\"splits\":[");
    for (int i = 0; i < n_splits; i++) {
        const split *s = &sp[i];
        uint64_t lab = split_labelled(s, st->palette.n_classes);
        sb_printf(&b, "%s{\"split\":\"%s\",\"scenes\":%d,\"tiles\":%zu,\"labelled_pixels\":%" PRIu64
                      ",\"ignored_pixels\":%" PRIu64 ",\"class_pixels\":[",
                  i ? "," : "", s->label, s->scenes, s->tiles, lab, s->px[UNET_IGNORE_LABEL]);
        for (int c = 0; c < st->palette.n_classes; c++) sb_printf(&b, "%s%" PRIu64, c ? "," : "", s->px[c]);
        sb_printf(&b, "],\"class_fractions\":[");
        for (int c = 0; c < st->palette.n_classes; c++)
            sb_printf(&b, "%s%.6f", c ? "," : "", lab ? (double)s->px[c] / (double)lab : 0.0);
        sb_printf(&b, "]}");
    }
    sb_printf(&b, "],\"seconds\":%.3f}\n", seconds);
    if (b.nomem) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* Refuses a non-empty tiles folder unless --force; with --force removes the
 * outputs of an earlier run (only *.png in images/ and masks/ and the TSVs). */
static int prepare_out(const char *out, int force)
{
    static const char *const tsv[] = {"folds.tsv", "classes.tsv", "stats.tsv"};
    char *dirs[2] = {cli_xasprintf("%s/images", out), cli_xasprintf("%s/masks", out)};
    int rc = 0, busy = 0;
    for (int d = 0; d < 2; d++) {
        size_t n;
        char **names = scene_pairs_list_dir(dirs[d], &n);
        for (size_t i = 0; i < n; i++) {
            busy = 1;
            if (force && scene_pairs_image_name(names[i])) {
                char *p = cli_xasprintf("%s/%s", dirs[d], names[i]);
                if (unlink(p) != 0) {
                    err("cannot remove %s: %s", p, strerror(errno));
                    rc = -1;
                }
                free(p);
            }
        }
        scene_pairs_free_names(names, n);
    }
    for (int t = 0; t < 3; t++) {
        char *p = cli_xasprintf("%s/%s", out, tsv[t]);
        if (cli_is_file(p)) {
            busy = 1;
            if (force && unlink(p) != 0) {
                err("cannot remove %s: %s", p, strerror(errno));
                rc = -1;
            }
        }
        free(p);
    }
    if (busy && !force) {
        err("%s already holds tiles; use --force to replace them", out);
        rc = -2;
    }
    if (!rc && (make_dir(out) || make_dir(dirs[0]) || make_dir(dirs[1]))) rc = -1;
    free(dirs[0]);
    free(dirs[1]);
    return rc;
}

/* ---- command line ----------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: unet-tile SCENES... -o TILES [options]\n"
        "       unet-tile --pairs FILE -o TILES [options]\n"
        "       unet-tile IMAGE... --labels VECTORS --label-field NAME -o TILES [options]\n"
        "\n"
        "Cuts scenes into square training tiles with index masks and assigns whole\n"
        "scenes to cross-validation folds.\n"
        "\n"
        "A scene is a folder holding images/ and masks/; a mask pairs with the image\n"
        "of the same file stem (images/a.jpg <-> masks/a.png). SCENES may be scene\n"
        "folders or folders with scene folders below them (such as the data set\n"
        "root). Colour masks (RGB or palette PNG) are mapped to class ids by colour.\n"
        "\n"
        "Options:\n"
        "  -o, --out TILES        output folder (required)\n"
        "  --tile N               tile size in pixels (default 256)\n"
        "  --overlap N            overlap between neighbouring tiles, 0..N-1\n"
        "                         (default 0; stride = tile - overlap)\n"
        "  --drop-partial         drop windows that reach past the image edge\n"
        "  --align-edges          move the last window of a row/column back to end at\n"
        "                         the image edge (no padding, more overlap there)\n"
        "                         Default: windows stay on the stride grid and the\n"
        "                         ragged edge is padded: picture with black (0),\n"
        "                         mask with the ignore label 255.\n"
        "  --palette FILE         classes.tsv (ID<TAB>NAME<TAB>#RRGGBB); default: the\n"
        "                         Dubai aerial palette (Building, Land, Road,\n"
        "                         Vegetation, Water, Unlabeled)\n"
        "  --ignore-colors LIST   comma-separated #RRGGBB mask colours that mean \"not\n"
        "                         annotated\" -> label 255, or \"none\" (default #000000)\n"
        "  --unknown-colors error|ignore\n"
        "                         a mask colour outside the palette fails that pair\n"
        "                         (default) or becomes label 255 with a warning\n"
        "  --folds K              number of folds (default min(5, scenes)); whole\n"
        "                         scenes go to folds balanced by labelled tile pixels,\n"
        "                         greedily (heaviest scene to the lightest fold)\n"
        "  --seed S               breaks ties in the fold assignment (default 0)\n"
        "  --test-scenes LIST     comma-separated scene names held out as fold \"test\"\n"
        "  --pairs FILE           IMAGE<TAB>MASK<TAB>SCENE lines (paths relative to\n"
        "                         FILE's folder); may be combined with SCENES\n"
        "  --labels FILE          GIS labels (needs a build with GDAL): IMAGE arguments\n"
        "                         are georeferenced rasters (GeoTIFF, ...), each its\n"
        "                         own scene, and FILE holds polygons (GeoPackage,\n"
        "                         GeoJSON, ...) whose --label-field value is a class\n"
        "                         name of the palette (any case) or a class id. They\n"
        "                         are reprojected to the image's CRS when theirs\n"
        "                         differs and burnt onto its grid: a pixel takes the\n"
        "                         class of the last polygon covering its centre;\n"
        "                         uncovered and nodata pixels get 255. Classes\n"
        "                         outside the palette follow --unknown-colors.\n"
        "  --label-field NAME     the attribute holding the class (default class)\n"
        "  --bands LIST, --stretch minmax|p2-98|none\n"
        "                         bands of IMAGE and their scaling to 8 bits, as in\n"
        "                         unet-infer (default 1,2,3; none for 8-bit, p2-98\n"
        "                         otherwise)\n"
        "  --json                 print a JSON summary to stdout\n"
        "  --json-file PATH       write the JSON summary to PATH\n"
        "  --force                replace tiles from an earlier run in TILES\n"
        "  -q, --quiet            only errors on stderr\n"
        "  -h, --help             this text\n"
        "  --version              print the version\n"
        "\n"
        "Output:\n"
        "  TILES/images/NAME.png  RGB tile\n"
        "  TILES/masks/NAME.png   8-bit palette PNG, value = class id, 255 = ignore\n"
        "                         (shown black)\n"
        "  TILES/folds.tsv        NAME<TAB>SCENE<TAB>FOLD (FOLD = 0..K-1 or test)\n"
        "  TILES/classes.tsv      the palette\n"
        "  TILES/stats.tsv        per split (fold, test, all): scenes, tiles, labelled\n"
        "                         and ignored pixels, pixels per class\n"
        "NAME = SCENE-SLUG__IMAGE-STEM__yYYYY_xXXXX (window origin), for example\n"
        "tile-1__image_part_001__y0000_x0256. Tiles without any labelled pixel are\n"
        "not written.\n"
        "\n"
        "Exit status: 0 all done, 1 some inputs failed (the rest was tiled),\n"
        "2 bad usage.\n");
}

static int match_scene_name(const scene *s, const char *want)
{
    if (!strcasecmp(s->name, want)) return 1;
    return !strcasecmp(s->slug, want);
}

/* Marks test scenes from "A,B,..."; -1 when a name matches no scene. */
static int mark_test_scenes(job *j, const char *list)
{
    char *copy = cli_xstrdup(list);
    int rc = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        size_t n = strlen(tok);
        while (n > 0 && tok[n - 1] == ' ') tok[--n] = '\0';
        if (!n) continue;
        int found = 0;
        for (int i = 0; i < j->n_scenes; i++)
            if (match_scene_name(&j->scenes[i], tok)) {
                j->scenes[i].is_test = 1;
                found = 1;
            }
        if (!found) {
            sbuf names = {0};
            for (int i = 0; i < j->n_scenes; i++) sb_printf(&names, "%s'%s'", i ? ", " : "", j->scenes[i].name);
            err("--test-scenes: no scene named '%s' (scenes: %s)", tok, names.s ? names.s : "none");
            free(names.s);
            rc = -1;
        }
    }
    free(copy);
    return rc;
}

static void free_job(job *j)
{
    for (size_t i = 0; i < j->n_pairs; i++) {
        free(j->pairs[i].image);
        free(j->pairs[i].mask);
        free(j->pairs[i].stem);
        free(j->pairs[i].stem_slug);
    }
    free(j->pairs);
    for (size_t i = 0; i < j->n_tiles; i++) free(j->tiles[i].name);
    free(j->tiles);
    for (int i = 0; i < j->n_scenes; i++) {
        free(j->scenes[i].name);
        free(j->scenes[i].slug);
    }
    free(j->scenes);
    memset(j, 0, sizeof *j);
}

int main(int argc, char **argv)
{
    cli_alloc_program(PROG);
    settings st;
    memset(&st, 0, sizeof st);
    st.tile = 256;
    st.mode = UNET_TILING_PAD;
    st.unknown = UNET_UNKNOWN_COLOR_ERROR;
    const char *palette_path = NULL, *ignore_colors = "#000000", *test_scenes = NULL, *pairs_path = NULL;
    const char *json_file = NULL;
    int k_folds = 0, force = 0, json = 0, drop_partial = 0, align_edges = 0;
    uint64_t seed = 0;

    enum { O_TILE = 256, O_OVERLAP, O_PALETTE, O_DROP, O_ALIGN, O_UNKNOWN, O_IGNORE, O_FOLDS, O_SEED, O_TEST,
           O_PAIRS, O_QUIET, O_FORCE, O_JSON, O_JSON_FILE, O_VERSION, O_LABELS, O_LABEL_FIELD, O_BANDS,
           O_STRETCH };
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"tile", required_argument, NULL, O_TILE},
        {"overlap", required_argument, NULL, O_OVERLAP},
        {"palette", required_argument, NULL, O_PALETTE},
        {"drop-partial", no_argument, NULL, O_DROP},
        {"align-edges", no_argument, NULL, O_ALIGN},
        {"unknown-colors", required_argument, NULL, O_UNKNOWN},
        {"ignore-colors", required_argument, NULL, O_IGNORE},
        {"folds", required_argument, NULL, O_FOLDS},
        {"seed", required_argument, NULL, O_SEED},
        {"test-scenes", required_argument, NULL, O_TEST},
        {"pairs", required_argument, NULL, O_PAIRS},
        {"quiet", no_argument, NULL, O_QUIET},
        {"force", no_argument, NULL, O_FORCE},
        {"json", no_argument, NULL, O_JSON},
        {"json-file", required_argument, NULL, O_JSON_FILE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, O_VERSION},
        {"labels", required_argument, NULL, O_LABELS},
        {"label-field", required_argument, NULL, O_LABEL_FIELD},
        {"bands", required_argument, NULL, O_BANDS},
        {"stretch", required_argument, NULL, O_STRETCH},
        {NULL, 0, NULL, 0},
    };
    int c;
    int folds_given = 0;
    while ((c = getopt_long(argc, argv, "o:hq", opts, NULL)) != -1) {
        switch (c) {
        case 'o': st.out = optarg; break;
        case O_TILE:
            if (cli_int_option(PROG, "--tile", optarg, 1, 4096, &st.tile)) return 2;
            break;
        case O_OVERLAP:
            if (cli_int_option(PROG, "--overlap", optarg, 0, 4095, &st.overlap)) return 2;
            break;
        case O_PALETTE: palette_path = optarg; break;
        case O_DROP: drop_partial = 1; break;
        case O_ALIGN: align_edges = 1; break;
        case O_UNKNOWN:
            if (!strcmp(optarg, "error")) st.unknown = UNET_UNKNOWN_COLOR_ERROR;
            else if (!strcmp(optarg, "ignore")) st.unknown = UNET_UNKNOWN_COLOR_IGNORE;
            else {
                err("--unknown-colors wants error or ignore, got '%s'", optarg);
                return 2;
            }
            break;
        case O_IGNORE: ignore_colors = optarg; break;
        case O_FOLDS:
            if (cli_int_option(PROG, "--folds", optarg, 1, 1000, &k_folds)) return 2;
            folds_given = 1;
            break;
        case O_SEED: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-') {
                err("--seed wants a non-negative integer, got '%s'", optarg);
                return 2;
            }
            seed = v;
            break;
        }
        case O_TEST: test_scenes = optarg; break;
        case O_PAIRS: pairs_path = optarg; break;
        case 'q':
        case O_QUIET: quiet = 1; break;
        case O_FORCE: force = 1; break;
        case O_JSON: json = 1; break;
        case O_JSON_FILE: json_file = optarg; break;
        case 'h': usage(stdout); return 0;
        case O_VERSION: printf("unet-tile %s\n", UNET_VERSION_STRING); return 0;
        case O_LABELS: st.labels = optarg; break;
        case O_LABEL_FIELD: st.label_field = optarg; break;
        case O_BANDS: {
            char why[200];
            if (geo_parse_bands(optarg, &st.geo, why, sizeof why)) {
                err("%s", why);
                return 2;
            }
            break;
        }
        case O_STRETCH:
            if (geo_parse_stretch(optarg, &st.geo.stretch)) {
                err("--stretch wants minmax, p2-98 or none, got '%s'", optarg);
                return 2;
            }
            break;
        default: usage(stderr); return 2;
        }
    }
    if (!st.out) {
        err("-o TILES is required");
        usage(stderr);
        return 2;
    }
    if (optind >= argc && !pairs_path) {
        err("no input: give scene folders or --pairs FILE");
        usage(stderr);
        return 2;
    }
    if (st.overlap >= st.tile) {
        err("--overlap %d must be smaller than --tile %d", st.overlap, st.tile);
        return 2;
    }
    if ((st.labels || st.label_field || st.geo.n_bands || st.geo.stretch) && !geo_available()) {
        err("--labels, --label-field, --bands, --stretch: %s", geo_enable_hint());
        return 2;
    }
    if ((st.label_field || st.geo.n_bands || st.geo.stretch) && !st.labels) {
        err("--label-field, --bands and --stretch go with --labels");
        return 2;
    }
    if (!st.label_field) st.label_field = "class";
    if (drop_partial && align_edges) {
        err("--drop-partial and --align-edges exclude each other");
        return 2;
    }
    if (drop_partial) st.mode = UNET_TILING_DROP_PARTIAL;
    if (align_edges) st.mode = UNET_TILING_ALIGN_EDGE;

    if (palette_path) {
        if (unet_palette_read(palette_path, &st.palette) != UNET_OK) {
            err("--palette: %s", unet_last_error());
            return 2;
        }
    } else {
        unet_palette_default(&st.palette);
    }
    if (unet_palette_set_ignore_list(&st.palette, ignore_colors) != UNET_OK) {
        err("--ignore-colors: %s", unet_last_error());
        return 2;
    }
    unet_palette_png_colors(&st.palette, st.png_palette);

    double t0 = now_seconds();
    job j;
    memset(&j, 0, sizeof j);
    scene_pairs found = { PROG, quiet, NULL, 0, NULL, 0, 0 };
    for (int i = optind; i < argc; i++) {
        if (st.labels && cli_is_file(argv[i])) { /* a georeferenced image: its own scene */
            char *stem = scene_pairs_stem(argv[i]);
            scene_pairs_add(&found, argv[i], st.labels, scene_pairs_add_scene(&found, stem, NULL), NULL);
            found.pairs[found.n_pairs - 1].tag = 1;
            free(stem);
        } else if (!cli_is_dir(argv[i])) {
            err("%s: not a folder%s", argv[i], st.labels ? "" : " (a georeferenced image needs --labels FILE)");
            j.input_failures++;
        } else if (scene_pairs_find(&found, argv[i]) == 0) {
            err("%s: no scene folder (one holding images/ and masks/) at or below it", argv[i]);
            j.input_failures++;
        }
    }
    if (pairs_path && scene_pairs_read_file(&found, pairs_path)) {
        scene_pairs_free(&found);
        free_job(&j);
        return 2;
    }
    take_pairs(&j, &found);
    scene_pairs_free(&found);
    finish_gathering(&j);
    if (test_scenes && mark_test_scenes(&j, test_scenes)) {
        free_job(&j);
        return 2;
    }
    if (j.n_pairs == 0) {
        err("no image/mask pairs found");
        int rc = j.input_failures ? 1 : 2;
        free_job(&j);
        return rc;
    }
    for (int i = 0; i < j.n_scenes; i++)
        for (const char *p = j.scenes[i].name; *p; p++)
            if (*p == '\t' || *p == '\n' || *p == '\r') {
                err("scene name '%s' holds a tab or line break; it cannot go into folds.tsv", j.scenes[i].name);
                free_job(&j);
                return 2;
            }

    int prep = prepare_out(st.out, force);
    if (prep) {
        free_job(&j);
        return prep == -2 ? 2 : 1;
    }

    int progress = !quiet && isatty(STDERR_FILENO);
    size_t n_failed = 0;
    for (size_t i = 0; i < j.n_pairs; i++) {
        pair *p = &j.pairs[i];
        if (progress) {
            fprintf(stderr, "\r\033[K[%zu/%zu] %s/%s", i + 1, j.n_pairs, j.scenes[p->scene].name, p->stem);
            fflush(stderr);
        }
        if (!p->failed && tile_pair(&j, p, &st) != 0) p->failed = 1;
        if (p->failed) {
            if (progress) fprintf(stderr, "\n");
            n_failed++;
        } else {
            j.scenes[p->scene].n_done++;
        }
    }
    if (progress) fprintf(stderr, "\r\033[K");

    for (int i = 0; i < j.n_scenes; i++)
        if (j.scenes[i].n_pairs && !j.scenes[i].tiles)
            warn("scene '%s' gave no tiles; it is in no fold", j.scenes[i].name);
    k_folds = assign_folds(&j, folds_given ? k_folds : 5, folds_given, seed);

    int out_failed = 0;
    char *classes_path = cli_xasprintf("%s/classes.tsv", st.out);
    if (unet_palette_write(&st.palette, classes_path) != UNET_OK) {
        err("%s", unet_last_error());
        out_failed = 1;
    }
    free(classes_path);
    if (write_folds(&j, st.out)) out_failed = 1;
    int n_splits;
    split *sp = make_splits(&j, k_folds, &n_splits);
    if (write_stats(sp, n_splits, &st.palette, st.out)) out_failed = 1;

    if (!quiet) {
        fprintf(stderr, PROG ": %zu tile(s) of %dx%d from %zu of %zu pair(s) in %d scene(s) -> %s\n", j.n_tiles,
                st.tile, st.tile, j.n_pairs - n_failed, j.n_pairs, j.n_scenes, st.out);
        if (j.skipped_empty) fprintf(stderr, PROG ": %zu tile(s) without labelled pixels not written\n", j.skipped_empty);
        print_stats(sp, n_splits, &st.palette);
    }
    if (json || json_file) {
        char *text = make_json(&j, &st, sp, n_splits, k_folds, seed, n_failed, now_seconds() - t0);
        if (!text) {
            err("--json: out of memory");
            out_failed = 1;
        }
        if (text && json) fputs(text, stdout);
        if (text && json_file && write_file_atomic(json_file, text, strlen(text))) out_failed = 1;
        free(text);
    }
    free(sp);

    int failed = n_failed > 0 || j.input_failures > 0 || out_failed;
    if (failed && !quiet)
        fprintf(stderr, PROG ": %zu pair(s) failed, %d input(s) could not be listed%s\n", n_failed,
                j.input_failures, out_failed ? ", some outputs could not be written" : "");

    free_job(&j);
    return failed ? 1 : 0;
}
