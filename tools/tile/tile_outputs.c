/* unet-tile's outputs: folds.tsv, stats.tsv, the summary JSON, and the
 * tiles folder made ready (see tile_job.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <unet/image.h>
#include <unet/palette.h>
#include <unet/tiling.h>
#include <unet/unet.h>

#include "cli_alloc.h"
#include "cli_files.h"
#include "text_format.h"
#include "tile_job.h"

/* ---- outputs ---------------------------------------------------------- */

static void fold_label(const scene *s, char *buf, size_t n)
{
    if (s->is_test) snprintf(buf, n, "test");
    else snprintf(buf, n, "%d", s->fold);
}

/* Splits: folds 0..K-1, then "test" (when any), then "all". */
split *tile_make_splits(const job *j, int k_folds, int *n_splits)
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

int tile_write_folds(const job *j, const char *out)
{
    sbuf b = {0};
    for (size_t t = 0; t < j->n_tiles; t++) {
        const scene *s = &j->scenes[j->tiles[t].scene];
        char fold[16];
        fold_label(s, fold, sizeof fold);
        sb_printf(&b, "%s\t%s\t%s\n", j->tiles[t].name, s->name, fold);
    }
    if (b.nomem) {
        tile_err("folds.tsv: out of memory");
        free(b.s);
        return -1;
    }
    char *path = cli_xasprintf("%s/folds.tsv", out);
    int rc = tile_write_file_atomic(path, b.s ? b.s : "", b.len);
    free(path);
    free(b.s);
    return rc;
}

/* stats.tsv: one row per split; class columns hold pixel counts. */
int tile_write_stats(const split *sp, int n_splits, const unet_palette *pal, const char *out)
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
        tile_err("stats.tsv: out of memory");
        free(b.s);
        return -1;
    }
    char *path = cli_xasprintf("%s/stats.tsv", out);
    int rc = tile_write_file_atomic(path, b.s, b.len);
    free(path);
    free(b.s);
    return rc;
}

void tile_print_stats(const split *sp, int n_splits, const unet_palette *pal)
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

char *tile_summary_json(const job *j, const settings *st, const split *sp, int n_splits, int k_folds,
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
                  s->n_done, s->tiles, tile_labelled_pixels(s));
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
int tile_prepare_out(const char *out, int force)
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
                    tile_err("cannot remove %s: %s", p, strerror(errno));
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
                tile_err("cannot remove %s: %s", p, strerror(errno));
                rc = -1;
            }
        }
        free(p);
    }
    if (busy && !force) {
        tile_err("%s already holds tiles; use --force to replace them", out);
        rc = -2;
    }
    if (!rc && (tile_make_dir(out) || tile_make_dir(dirs[0]) || tile_make_dir(dirs[1]))) rc = -1;
    free(dirs[0]);
    free(dirs[1]);
    return rc;
}

