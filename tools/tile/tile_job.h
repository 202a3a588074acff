/* unet-tile's pieces (compiled into unet-tile alone: they print and exit
 * on out of memory as the program does): the job of scenes, pairs and tiles
 * (tile_gather.c), cutting one image/mask pair into tiles (tile_cut.c),
 * folds by scene balanced by labelled pixels (tile_folds.c), the outputs
 * folds.tsv, stats.tsv and the JSON summary (tile_outputs.c), and small
 * helpers (tile_util.c). tools/unet-tile.c parses the command line and
 * runs the flow. */
#ifndef UNET_TOOLS_TILE_JOB_H
#define UNET_TOOLS_TILE_JOB_H

#include <stddef.h>
#include <stdint.h>

#include <unet/palette.h>
#include <unet/tiling.h>

#include "error.h" /* UNET_PRINTF */
#include "geo_options.h"
#include "scene_pairs.h"

#define PROG "unet-tile"

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

typedef struct split {
    char label[16];
    int scenes;
    size_t tiles;
    uint64_t px[256];
} split;

/* tile_util.c */
extern int tile_quiet; /* --quiet: errors only */
void tile_err(const char *fmt, ...) UNET_PRINTF(1, 2);
void tile_warn(const char *fmt, ...) UNET_PRINTF(1, 2);
int tile_make_dir(const char *path);
int tile_write_file_atomic(const char *path, const char *text, size_t len);
char *tile_slug(const char *s, int keep_case_and_underscore);
double tile_now_seconds(void);
uint64_t tile_mix64(uint64_t x);
uint64_t tile_hash_string(const char *s);

/* tile_gather.c */
void tile_take_pairs(job *j, const scene_pairs *sp);
void tile_finish_gathering(job *j);
int tile_mark_test_scenes(job *j, const char *list);
void tile_free_job(job *j);

/* tile_cut.c */
int tile_cut_pair(job *j, pair *p, const settings *st);

/* tile_folds.c */
uint64_t tile_labelled_pixels(const scene *s);
int tile_assign_folds(job *j, int k_folds, int warn_fewer, uint64_t seed);

/* tile_outputs.c */
split *tile_make_splits(const job *j, int k_folds, int *n_splits);
int tile_write_folds(const job *j, const char *out);
int tile_write_stats(const split *sp, int n_splits, const unet_palette *pal, const char *out);
void tile_print_stats(const split *sp, int n_splits, const unet_palette *pal);
/* NULL when out of memory. */
char *tile_summary_json(const job *j, const settings *st, const split *sp, int n_splits, int k_folds,
                        uint64_t seed, size_t n_failed, double seconds);
int tile_prepare_out(const char *out, int force);

#endif
