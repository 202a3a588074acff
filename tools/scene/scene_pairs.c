/* Finding image/mask pairs of scenes; see scene_pairs.h. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cli_alloc.h"
#include "cli_files.h"
#include "cli_message.h"
#include "scene_pairs.h"

#define MAX_SCAN_DEPTH 4

static void say(const scene_pairs *sp, const char *kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vmessage(sp->prog ? sp->prog : "scene_pairs", kind, fmt, ap);
    va_end(ap);
}

int scene_pairs_is_dir(const char *path) { return cli_is_dir(path); }

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

char *scene_pairs_stem(const char *path)
{
    const char *b = base_name(path);
    const char *dot = strrchr(b, '.');
    size_t n = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    char *s = cli_xrealloc(NULL, n + 1);
    memcpy(s, b, n);
    s[n] = '\0';
    return s;
}

int scene_pairs_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char **scene_pairs_list_dir(const char *path, size_t *count)
{
    DIR *d = opendir(path);
    *count = 0;
    if (!d)
        return NULL;
    char **names = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 32;
            names = cli_xrealloc(names, cap * sizeof *names);
        }
        names[(*count)++] = cli_xstrdup(e->d_name);
    }
    closedir(d);
    if (*count)
        qsort(names, *count, sizeof *names, cmp_str);
    return names;
}

void scene_pairs_free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

int scene_pairs_add_scene(scene_pairs *sp, const char *name, const char *dir)
{
    for (int i = 0; i < sp->n_scenes; i++)
        if (!strcmp(sp->scenes[i].name, name)) {
            if (dir && sp->scenes[i].dir && strcmp(dir, sp->scenes[i].dir))
                return -1 - i;
            return i;
        }
    sp->scenes = cli_xrealloc(sp->scenes, (size_t)(sp->n_scenes + 1) * sizeof *sp->scenes);
    pair_scene *s = &sp->scenes[sp->n_scenes];
    s->name = cli_xstrdup(name);
    s->dir = dir ? cli_xstrdup(dir) : NULL;
    s->n_pairs = 0;
    return sp->n_scenes++;
}

void scene_pairs_add(scene_pairs *sp, const char *image, const char *mask, int scene, const char *problem)
{
    sp->pairs = cli_xrealloc(sp->pairs, (sp->n_pairs + 1) * sizeof *sp->pairs);
    scene_pair *p = &sp->pairs[sp->n_pairs++];
    p->image = cli_xstrdup(image);
    p->mask = mask ? cli_xstrdup(mask) : NULL;
    p->stem = scene_pairs_stem(image);
    p->problem = mask ? NULL : cli_xstrdup(problem ? problem : "no mask");
    p->scene = scene;
    p->tag = 0;
    if (mask)
        sp->scenes[scene].n_pairs++;
}

static int is_scene_dir(const char *path)
{
    char *img = cli_xasprintf("%s/images", path), *msk = cli_xasprintf("%s/masks", path);
    int yes = scene_pairs_is_dir(img) && scene_pairs_is_dir(msk);
    free(img);
    free(msk);
    return yes;
}

/* An image without a single mask: printed, counted, and kept as a pair
 * without mask so that a program can list it among its failures. */
static void unpaired(scene_pairs *sp, const char *image, int scene, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *why = cli_xvasprintf(fmt, ap);
    va_end(ap);
    say(sp, "error", "%s: %s", image, why);
    sp->input_failures++;
    scene_pairs_add(sp, image, NULL, scene, why);
    free(why);
}

/* Pairs the images of one scene folder with its masks by file stem. */
static void gather_scene(scene_pairs *sp, const char *dir)
{
    char *real = realpath(dir, NULL);
    const char *key = real ? real : dir;
    char *trimmed = cli_xstrdup(dir);
    size_t tl = strlen(trimmed);
    while (tl > 1 && trimmed[tl - 1] == '/')
        trimmed[--tl] = '\0';
    const char *name = base_name(key);
    int si = scene_pairs_add_scene(sp, name, key);
    if (si < 0) {
        say(sp, "error", "%s: another scene folder is also named '%s' (%s); rename one or use --pairs", dir, name,
            sp->scenes[-1 - si].dir);
        sp->input_failures++;
        free(real);
        free(trimmed);
        return;
    }
    for (size_t i = 0; i < sp->n_pairs; i++)
        if (sp->pairs[i].scene == si) { /* the same folder given twice */
            free(real);
            free(trimmed);
            return;
        }
    char *img_dir = cli_xasprintf("%s/images", trimmed), *msk_dir = cli_xasprintf("%s/masks", trimmed);
    size_t n_img, n_msk;
    char **imgs = scene_pairs_list_dir(img_dir, &n_img), **msks = scene_pairs_list_dir(msk_dir, &n_msk);
    char **mask_stems = cli_xrealloc(NULL, (n_msk + 1) * sizeof *mask_stems);
    int *mask_used = cli_xcalloc(n_msk + 1, sizeof *mask_used);
    size_t skipped = 0;
    for (size_t m = 0; m < n_msk; m++)
        mask_stems[m] = scene_pairs_stem(msks[m]);
    for (size_t i = 0; i < n_img; i++) {
        if (!scene_pairs_image_name(imgs[i])) {
            skipped++;
            continue;
        }
        char *stem = scene_pairs_stem(imgs[i]);
        size_t found = n_msk;
        int n_found = 0;
        for (size_t m = 0; m < n_msk; m++)
            if (scene_pairs_image_name(msks[m]) && !strcmp(mask_stems[m], stem)) {
                if (!n_found)
                    found = m;
                n_found++;
                mask_used[m] = 1;
            }
        char *img_path = cli_xasprintf("%s/%s", img_dir, imgs[i]);
        if (n_found == 0) {
            unpaired(sp, img_path, si, "no mask with stem '%s' in %s", stem, msk_dir);
        } else if (n_found > 1) {
            unpaired(sp, img_path, si, "%d masks with stem '%s' in %s; keep one", n_found, stem, msk_dir);
        } else {
            char *mask_path = cli_xasprintf("%s/%s", msk_dir, msks[found]);
            scene_pairs_add(sp, img_path, mask_path, si, NULL);
            free(mask_path);
        }
        free(img_path);
        free(stem);
    }
    for (size_t m = 0; m < n_msk; m++) {
        if (!mask_used[m] && scene_pairs_image_name(msks[m]) && !sp->quiet)
            say(sp, "warning", "%s/%s: no image with this stem in %s; mask not used", msk_dir, msks[m], img_dir);
        if (!scene_pairs_image_name(msks[m]))
            skipped++;
        free(mask_stems[m]);
    }
    if (skipped && !sp->quiet)
        say(sp, "warning", "%s: skipped %zu file(s) that are not .png/.jpg/.jpeg", trimmed, skipped);
    if (n_img == 0 && !sp->quiet)
        say(sp, "warning", "%s: no images", img_dir);
    free(mask_stems);
    free(mask_used);
    scene_pairs_free_names(imgs, n_img);
    scene_pairs_free_names(msks, n_msk);
    free(img_dir);
    free(msk_dir);
    free(real);
    free(trimmed);
}

/* A tiles folder (unet-tile's output) also holds images/ and masks/; found
 * while scanning, it is not a scene. */
static int is_tiles_dir(const char *path)
{
    char *folds = cli_xasprintf("%s/folds.tsv", path);
    int yes = cli_is_file(folds);
    free(folds);
    return yes;
}

static int find_at(scene_pairs *sp, const char *path, int depth)
{
    if (is_scene_dir(path)) {
        if (depth > 0 && is_tiles_dir(path)) {
            if (!sp->quiet)
                say(sp, "warning", "%s: holds folds.tsv, so it looks like a tiles folder; not taken as a scene",
                    path);
            return 0;
        }
        gather_scene(sp, path);
        return 1;
    }
    if (depth >= MAX_SCAN_DEPTH)
        return 0;
    size_t n;
    char **names = scene_pairs_list_dir(path, &n);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        char *sub = cli_xasprintf("%s/%s", path, names[i]);
        if (scene_pairs_is_dir(sub))
            found += find_at(sp, sub, depth + 1);
        free(sub);
    }
    scene_pairs_free_names(names, n);
    return found;
}

int scene_pairs_find(scene_pairs *sp, const char *path) { return find_at(sp, path, 0); }

int scene_pairs_read_file(scene_pairs *sp, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        say(sp, "error", "--pairs %s: %s", path, strerror(errno));
        return -1;
    }
    char *dir = cli_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        dir[0] = '\0';
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int line_no = 0, status = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        line_no++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        char *fields[3];
        int n = 0;
        char *p = line;
        for (;;) {
            char *tab = strchr(p, '\t');
            if (n < 3)
                fields[n] = p;
            n++;
            if (!tab)
                break;
            *tab = '\0';
            p = tab + 1;
        }
        if (n != 3 || !fields[0][0] || !fields[1][0] || !fields[2][0]) {
            say(sp, "error", "%s line %d: expected IMAGE<TAB>MASK<TAB>SCENE (3 non-empty fields), found %d field(s)",
                path, line_no, n);
            status = -1;
            break;
        }
        char *img = fields[0][0] == '/' ? cli_xstrdup(fields[0]) : cli_xasprintf("%s%s", dir, fields[0]);
        char *msk = fields[1][0] == '/' ? cli_xstrdup(fields[1]) : cli_xasprintf("%s%s", dir, fields[1]);
        scene_pairs_add(sp, img, msk, scene_pairs_add_scene(sp, fields[2], NULL), NULL);
        free(img);
        free(msk);
    }
    if (ferror(f)) {
        say(sp, "error", "%s: read error", path);
        status = -1;
    }
    free(line);
    free(dir);
    fclose(f);
    return status;
}

void scene_pairs_free(scene_pairs *sp)
{
    for (size_t i = 0; i < sp->n_pairs; i++) {
        free(sp->pairs[i].image);
        free(sp->pairs[i].mask);
        free(sp->pairs[i].stem);
        free(sp->pairs[i].problem);
    }
    free(sp->pairs);
    for (int i = 0; i < sp->n_scenes; i++) {
        free(sp->scenes[i].name);
        free(sp->scenes[i].dir);
    }
    free(sp->scenes);
    sp->pairs = NULL;
    sp->scenes = NULL;
    sp->n_pairs = 0;
    sp->n_scenes = 0;
}
