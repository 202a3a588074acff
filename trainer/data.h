/* The training data: a tiles folder as written by unet-tile (images/NAME.png,
 * masks/NAME.png, folds.tsv, classes.tsv), its scenes and folds, the
 * train/validation split and class pixel counts.
 *
 * Splits never cut a scene: validation takes whole folds (--val-fold), whole
 * scenes (--val fraction) or another folder (--val-dir). Tiles of the fold
 * named "test" are never used for training. */
#ifndef UNET_TRAINER_DATA_H
#define UNET_TRAINER_DATA_H

#include <stddef.h>
#include <stdint.h>

#include <unet/unet.h>

#define TILES_MAX_COUNT 10000000
#define TILES_TEST_FOLD "test"

typedef struct tile {
    char *name;       /* file stem, shared by images/ and masks/ */
    char *image_file; /* file name in images/ (.png, .jpg or .jpeg) */
    char *scene;      /* folds.tsv's scene, else the name up to its first "__", else the name */
    char *fold;       /* folds.tsv's fold, NULL when there is no folds.tsv */
} tile;

typedef struct tile_set {
    char *dir;
    int n;
    tile *tiles; /* sorted by name */
    int has_folds;
} tile_set;

/* Lists dir/images/ and pairs every image with dir/masks/NAME.png (a missing
 * mask is an error naming it). Scenes come from the names until
 * tile_set_read_folds is called. */
unet_status tile_set_scan(const char *dir, tile_set *out);
void tile_set_free(tile_set *set);
/* dir/images/FILE and dir/masks/NAME.png into buf (UNET_ERR_LIMIT when too long). */
unet_status tile_image_path(const tile_set *set, int i, char *buf, size_t size);
unet_status tile_mask_path(const tile_set *set, int i, char *buf, size_t size);

/* Reads NAME<TAB>SCENE<TAB>FOLD lines. Every tile of the set must be listed
 * (else an error naming the first missing one); lines naming no tile are
 * counted in *unknown (may be NULL). */
unet_status tile_set_read_folds(tile_set *set, const char *path, int *unknown);

typedef struct tile_split {
    int *train, n_train;
    int *val, n_val;
} tile_split;

/* Validation = tiles whose fold is `fold`; training = the others except fold "test". */
unet_status split_by_fold(const tile_set *set, const char *fold, tile_split *out);
/* Whole scenes, taken in a seeded order, go to validation when they bring its
 * share of the (non-test) tiles closer to fraction; the first always goes, and
 * at least one scene stays for training. */
unet_status split_by_fraction(const tile_set *set, double fraction, uint64_t seed,
                              tile_split *out);
/* All non-test tiles train; no validation. */
unet_status split_none(const tile_set *set, tile_split *out);
void tile_split_free(tile_split *split);
/* Number of distinct scenes among the listed tiles. */
int split_scene_count(const tile_set *set, const int *idx, int n);

/* Size of the first tile's image; every tile must match it (the loader checks). */
unet_status tile_set_size(const tile_set *set, int *width, int *height);

/* Reads an index mask (1 channel) and checks every value is < n_classes or
 * ignore_label. *mask gets width*height bytes (free() it). */
unet_status tile_read_mask(const char *path, int n_classes, int ignore_label, int *width,
                           int *height, uint8_t **mask);

/* Pixels per class over the listed tiles' masks (ignore pixels left out). */
unet_status tiles_class_counts(const tile_set *set, const int *idx, int n, int n_classes,
                               int ignore_label, uint64_t *counts);

/* Class weights from pixel frequencies f_c: w_c = f_c^-power (1: inverse
 * frequency, 0.5: inverse square root, milder on rare classes) over classes
 * with pixels, scaled to mean 1 over those classes, then clipped to
 * [0.1, 10]; classes without pixels get 1. */
void class_weights_auto(const uint64_t *counts, int n_classes, double power, float *weights);

#endif
