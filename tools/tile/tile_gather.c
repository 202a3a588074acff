/* unet-tile's job: scenes, their image/mask pairs in a fixed order, and
 * the test scenes (see tile_job.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <unet/image.h>
#include <unet/palette.h>
#include <unet/tiling.h>
#include <unet/unet.h>

#include "cli_alloc.h"
#include "text_format.h"
#include "tile_job.h"

/* ---- scenes and pairs ------------------------------------------------- */

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
    p->stem_slug = tile_slug(p->stem, 1);
    p->scene = scene_index;
    p->failed = 0;
    p->geo = 0;
    j->scenes[scene_index].n_pairs++;
}

/* The pairs found (scene_pairs.h) become the job's scenes and pairs, in the
 * same order; images without a mask were reported and counted there. A
 * pair's tag marks a georeferenced image with vector labels. */
void tile_take_pairs(job *j, const scene_pairs *sp)
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
void tile_finish_gathering(job *j)
{
    for (int i = 0; i < j->n_scenes; i++) {
        char *base = tile_slug(j->scenes[i].name, 0);
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
            tile_err("%s: same tile name stem '%s' as %s in scene '%s'; skipped", p->image, p->stem_slug, q->image,
                j->scenes[p->scene].name);
            p->failed = 1;
        }
    }
}

static int match_scene_name(const scene *s, const char *want)
{
    if (!strcasecmp(s->name, want)) return 1;
    return !strcasecmp(s->slug, want);
}

/* Marks test scenes from "A,B,..."; -1 when a name matches no scene. */
int tile_mark_test_scenes(job *j, const char *list)
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
            tile_err("--test-scenes: no scene named '%s' (scenes: %s)", tok, names.s ? names.s : "none");
            free(names.s);
            rc = -1;
        }
    }
    free(copy);
    return rc;
}

void tile_free_job(job *j)
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

