/* Folds by scene, balanced by labelled pixels (see tile_job.h). */
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

/* ---- folds ------------------------------------------------------------ */

uint64_t tile_labelled_pixels(const scene *s)
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
    uint64_t wi = tile_labelled_pixels(&fold_scenes[i]), wk = tile_labelled_pixels(&fold_scenes[k]);
    if (wi != wk) return wi > wk ? -1 : 1;
    if (fold_keys[i] != fold_keys[k]) return fold_keys[i] < fold_keys[k] ? -1 : 1;
    return strcmp(fold_scenes[i].name, fold_scenes[k].name);
}

/* Greedy: heaviest scene first, each to the currently lightest fold. The
 * seed orders scenes of equal weight and which of equally light folds wins
 * (so it permutes fold labels). Returns the number of folds used. */
int tile_assign_folds(job *j, int k_folds, int warn_fewer, uint64_t seed)
{
    int *order = cli_xmalloc((size_t)j->n_scenes * sizeof *order);
    uint64_t *keys = cli_xmalloc((size_t)j->n_scenes * sizeof *keys);
    int n = 0;
    for (int i = 0; i < j->n_scenes; i++) {
        j->scenes[i].fold = -1;
        keys[i] = tile_mix64(seed ^ tile_hash_string(j->scenes[i].name));
        if (!j->scenes[i].is_test && j->scenes[i].tiles > 0) order[n++] = i;
    }
    if (k_folds > n) {
        if (n > 0 && warn_fewer) tile_warn("--folds %d but only %d scene(s) to split; using %d fold(s)", k_folds, n, n);
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
        r = tile_mix64(r);
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
        load[best] += tile_labelled_pixels(&j->scenes[order[i]]);
    }
    free(order);
    free(keys);
    free(load);
    free(rank);
    return k_folds;
}

