/* Tiles folder listing, folds, splits by fold or scene, class counts. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <unet/image.h>

#include "data.h"
#include "error.h"

#define FOLDS_MAX_BYTES ((size_t)256 << 20)

static unet_status nomem(void) { return unet_set_error(UNET_ERR_NOMEM, "tiles: out of memory"); }

static int cmp_tile(const void *a, const void *b)
{
    return strcmp(((const tile *)a)->name, ((const tile *)b)->name);
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The extension of an image file name we read, or NULL. */
static const char *image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name)
        return NULL;
    if (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 ||
        strcasecmp(dot, ".jpeg") == 0)
        return dot;
    return NULL;
}

static char *scene_from_name(const char *name)
{
    const char *sep = strstr(name, "__");
    return sep && sep > name ? strndup(name, (size_t)(sep - name)) : strdup(name);
}

void tile_set_free(tile_set *set)
{
    if (!set)
        return;
    for (int i = 0; i < set->n; i++) {
        free(set->tiles[i].name);
        free(set->tiles[i].image_file);
        free(set->tiles[i].scene);
        free(set->tiles[i].fold);
    }
    free(set->tiles);
    free(set->dir);
    memset(set, 0, sizeof *set);
}

unet_status tile_image_path(const tile_set *set, int i, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/images/%s", set->dir, set->tiles[i].image_file);
    if (n < 0 || (size_t)n >= size)
        return unet_set_error(UNET_ERR_LIMIT, "path of tile %s is too long", set->tiles[i].name);
    return UNET_OK;
}

unet_status tile_mask_path(const tile_set *set, int i, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/masks/%s.png", set->dir, set->tiles[i].name);
    if (n < 0 || (size_t)n >= size)
        return unet_set_error(UNET_ERR_LIMIT, "path of tile %s is too long", set->tiles[i].name);
    return UNET_OK;
}

unet_status tile_set_scan(const char *dir, tile_set *out)
{
    memset(out, 0, sizeof *out);
    char path[4096];
    snprintf(path, sizeof path, "%s/images", dir);
    DIR *d = opendir(path);
    if (!d)
        return unet_set_error(UNET_ERR_IO, "%s: %s (a tiles folder holds images/ and masks/)",
                              path, strerror(errno));
    out->dir = strdup(dir);
    int cap = 0;
    unet_status s = out->dir ? UNET_OK : nomem();
    struct dirent *e;
    while (s == UNET_OK && (e = readdir(d)) != NULL) {
        const char *ext = image_ext(e->d_name);
        if (e->d_name[0] == '.' || !ext)
            continue;
        if (out->n >= TILES_MAX_COUNT) {
            s = unet_set_error(UNET_ERR_LIMIT, "%s holds more than %d images", path,
                               TILES_MAX_COUNT);
            break;
        }
        if (out->n == cap) {
            cap = cap ? 2 * cap : 256;
            tile *t = realloc(out->tiles, (size_t)cap * sizeof *t);
            if (!t) {
                s = nomem();
                break;
            }
            out->tiles = t;
        }
        tile *t = &out->tiles[out->n];
        memset(t, 0, sizeof *t);
        t->name = strndup(e->d_name, (size_t)(ext - e->d_name));
        t->image_file = strdup(e->d_name);
        t->scene = t->name ? scene_from_name(t->name) : NULL;
        out->n++;
        if (!t->name || !t->image_file || !t->scene)
            s = nomem();
    }
    closedir(d);
    if (s == UNET_OK && out->n == 0)
        s = unet_set_error(UNET_ERR_INVALID, "%s holds no PNG or JPEG images", path);
    if (s == UNET_OK) {
        qsort(out->tiles, (size_t)out->n, sizeof *out->tiles, cmp_tile);
        for (int i = 1; i < out->n && s == UNET_OK; i++)
            if (strcmp(out->tiles[i].name, out->tiles[i - 1].name) == 0)
                s = unet_set_error(UNET_ERR_INVALID, "%s: two images named %s (%s and %s)", path,
                                   out->tiles[i].name, out->tiles[i - 1].image_file,
                                   out->tiles[i].image_file);
    }
    for (int i = 0; i < out->n && s == UNET_OK; i++) {
        s = tile_mask_path(out, i, path, sizeof path);
        if (s == UNET_OK && !is_file(path))
            s = unet_set_error(UNET_ERR_IO, "%s is missing (the mask of images/%s)", path,
                               out->tiles[i].image_file);
    }
    if (s != UNET_OK)
        tile_set_free(out);
    return s;
}

static int find_tile(const tile_set *set, const char *name)
{
    int lo = 0, hi = set->n - 1;
    while (lo <= hi) {
        const int mid = lo + (hi - lo) / 2;
        const int c = strcmp(set->tiles[mid].name, name);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

static unet_status read_text(const char *path, char **text, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return unet_set_error(UNET_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return unet_set_error(UNET_ERR_IO, "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > FOLDS_MAX_BYTES) {
        fclose(f);
        return unet_set_error(UNET_ERR_LIMIT, "%s: %lld bytes, more than the %zu accepted", path,
                              (long long)st.st_size, FOLDS_MAX_BYTES);
    }
    const size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return nomem();
    }
    const size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) {
        free(buf);
        return unet_set_error(UNET_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return UNET_OK;
}

unet_status tile_set_read_folds(tile_set *set, const char *path, int *unknown)
{
    char *text = NULL;
    size_t len = 0;
    UNET_TRY(read_text(path, &text, &len));
    int n_unknown = 0, line_no = 0;
    unet_status s = UNET_OK;
    char *p = text, *end = text + len;
    while (p < end && s == UNET_OK) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line_end = nl ? nl : end;
        char *next = nl ? nl + 1 : end;
        line_no++;
        if (line_end > p && line_end[-1] == '\r')
            line_end--;
        *line_end = '\0';
        if (*p == '\0' || *p == '#') {
            p = next;
            continue;
        }
        if (memchr(p, '\0', (size_t)(line_end - p)) != NULL) {
            s = unet_set_error(UNET_ERR_PARSE, "%s line %d: NUL byte", path, line_no);
            break;
        }
        char *t1 = strchr(p, '\t');
        char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t1 || !t2 || strchr(t2 + 1, '\t') || t1 == p || t2 == t1 + 1 || t2[1] == '\0') {
            s = unet_set_error(UNET_ERR_PARSE, "%s line %d: expected NAME<TAB>SCENE<TAB>FOLD",
                               path, line_no);
            break;
        }
        *t1 = '\0';
        *t2 = '\0';
        const int i = find_tile(set, p);
        if (i < 0) {
            n_unknown++;
        } else {
            tile *t = &set->tiles[i];
            if (t->fold) {
                s = unet_set_error(UNET_ERR_INVALID, "%s line %d: tile %s is listed twice", path,
                                   line_no, p);
                break;
            }
            char *scene = strdup(t1 + 1), *fold = strdup(t2 + 1);
            if (!scene || !fold) {
                free(scene);
                free(fold);
                s = nomem();
                break;
            }
            free(t->scene);
            t->scene = scene;
            t->fold = fold;
        }
        p = next;
    }
    free(text);
    for (int i = 0; i < set->n && s == UNET_OK; i++)
        if (!set->tiles[i].fold)
            s = unet_set_error(UNET_ERR_INVALID, "%s does not list tile %s", path,
                               set->tiles[i].name);
    if (s != UNET_OK) {
        /* Leave the set as scanned: no partial fold assignment. */
        for (int i = 0; i < set->n; i++) {
            free(set->tiles[i].fold);
            set->tiles[i].fold = NULL;
        }
        return s;
    }
    set->has_folds = 1;
    if (unknown)
        *unknown = n_unknown;
    return UNET_OK;
}

static int is_test(const tile *t) { return t->fold && strcmp(t->fold, TILES_TEST_FOLD) == 0; }

static unet_status split_alloc(const tile_set *set, tile_split *out)
{
    memset(out, 0, sizeof *out);
    out->train = malloc((size_t)set->n * sizeof *out->train);
    out->val = malloc((size_t)set->n * sizeof *out->val);
    if (!out->train || !out->val) {
        tile_split_free(out);
        return nomem();
    }
    return UNET_OK;
}

void tile_split_free(tile_split *split)
{
    free(split->train);
    free(split->val);
    memset(split, 0, sizeof *split);
}

unet_status split_by_fold(const tile_set *set, const char *fold, tile_split *out)
{
    if (!set->has_folds)
        return unet_set_error(UNET_ERR_ARG, "validation fold %s: no folds file was read", fold);
    UNET_TRY(split_alloc(set, out));
    for (int i = 0; i < set->n; i++) {
        const tile *t = &set->tiles[i];
        if (strcmp(t->fold, fold) == 0)
            out->val[out->n_val++] = i;
        else if (!is_test(t))
            out->train[out->n_train++] = i;
    }
    if (out->n_val == 0 || out->n_train == 0) {
        const int nv = out->n_val;
        tile_split_free(out);
        if (!nv)
            return unet_set_error(UNET_ERR_INVALID, "no tile of %s is in fold %s", set->dir, fold);
        return unet_set_error(UNET_ERR_INVALID, "fold %s leaves no tiles of %s for training",
                              fold, set->dir);
    }
    return UNET_OK;
}

unet_status split_none(const tile_set *set, tile_split *out)
{
    UNET_TRY(split_alloc(set, out));
    for (int i = 0; i < set->n; i++)
        if (!is_test(&set->tiles[i]))
            out->train[out->n_train++] = i;
    if (out->n_train == 0) {
        tile_split_free(out);
        return unet_set_error(UNET_ERR_INVALID, "%s: every tile is in the test fold", set->dir);
    }
    return UNET_OK;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted distinct scene names of the listed tiles (pointers into the set). */
static unet_status scene_list(const tile_set *set, const int *idx, int n, const char ***names,
                              int *count)
{
    const char **v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v)
        return nomem();
    for (int i = 0; i < n; i++)
        v[i] = set->tiles[idx[i]].scene;
    qsort(v, (size_t)n, sizeof *v, cmp_str_ptr);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (k == 0 || strcmp(v[k - 1], v[i]) != 0)
            v[k++] = v[i];
    *names = v;
    *count = k;
    return UNET_OK;
}

int split_scene_count(const tile_set *set, const int *idx, int n)
{
    const char **names;
    int count;
    if (scene_list(set, idx, n, &names, &count) != UNET_OK)
        return -1;
    free(names);
    return count;
}

unet_status split_by_fraction(const tile_set *set, double fraction, uint64_t seed,
                              tile_split *out)
{
    if (!(fraction > 0 && fraction < 1))
        return unet_set_error(UNET_ERR_ARG, "validation fraction %g outside (0, 1)", fraction);
    tile_split all;
    UNET_TRY(split_none(set, &all));
    const char **scenes;
    int n_scenes;
    unet_status s = scene_list(set, all.train, all.n_train, &scenes, &n_scenes);
    if (s != UNET_OK) {
        tile_split_free(&all);
        return s;
    }
    if (n_scenes < 2) {
        s = unet_set_error(UNET_ERR_INVALID,
                           "a validation split by scene needs two scenes, but the training tiles "
                           "of %s hold one (%s)%s",
                           set->dir, n_scenes ? scenes[0] : "none",
                           set->has_folds ? "" : "; without folds.tsv scenes come from "
                                                 "tile names (SCENE__...)");
        free(scenes);
        tile_split_free(&all);
        return s;
    }
    /* Seeded Fisher-Yates over the sorted scene names. */
    uint64_t r = seed ^ 0x5ca1ab1e0ddba11ULL;
    for (int i = n_scenes - 1; i > 0; i--) {
        const int j = (int)(splitmix64(&r) % (uint64_t)(i + 1));
        const char *t = scenes[i];
        scenes[i] = scenes[j];
        scenes[j] = t;
    }
    int *in_val = calloc((size_t)set->n, sizeof *in_val);
    s = in_val ? split_alloc(set, out) : nomem();
    if (s == UNET_OK) {
        /* In the drawn order, a scene joins validation when that brings the
         * validation share closer to the fraction (the first one always). */
        const double want = fraction * all.n_train;
        int n_val = 0, n_val_scenes = 0;
        for (int k = 0; k < n_scenes && n_val_scenes < n_scenes - 1; k++) {
            int size = 0;
            for (int i = 0; i < all.n_train; i++)
                size += strcmp(set->tiles[all.train[i]].scene, scenes[k]) == 0;
            if (n_val_scenes > 0 && fabs(n_val + size - want) >= fabs(n_val - want))
                continue;
            for (int i = 0; i < all.n_train; i++)
                if (strcmp(set->tiles[all.train[i]].scene, scenes[k]) == 0)
                    in_val[all.train[i]] = 1;
            n_val += size;
            n_val_scenes++;
        }
        for (int i = 0; i < all.n_train; i++) {
            const int t = all.train[i];
            if (in_val[t])
                out->val[out->n_val++] = t;
            else
                out->train[out->n_train++] = t;
        }
    }
    free(in_val);
    free(scenes);
    tile_split_free(&all);
    return s;
}

unet_status tile_set_size(const tile_set *set, int *width, int *height)
{
    char path[4096];
    UNET_TRY(tile_image_path(set, 0, path, sizeof path));
    unet_image img;
    UNET_TRY(unet_image_read(path, UNET_IMAGE_FORCE_RGB, &img));
    *width = img.width;
    *height = img.height;
    unet_image_free(&img);
    return UNET_OK;
}

unet_status tile_read_mask(const char *path, int n_classes, int ignore_label, int *width,
                           int *height, uint8_t **mask)
{
    unet_image img;
    UNET_TRY(unet_image_read(path, UNET_IMAGE_PALETTE_INDEX, &img));
    if (img.channels != 1) {
        unet_image_free(&img);
        return unet_set_error(UNET_ERR_INVALID,
                              "%s has %d channels; masks must be 8-bit gray or palette PNGs "
                              "whose value is the class id (unet-tile writes them)",
                              path, img.channels);
    }
    const size_t n = (size_t)img.width * (size_t)img.height;
    for (size_t i = 0; i < n; i++) {
        const int v = img.pixels[i];
        if (v >= n_classes && v != ignore_label) {
            const int x = (int)(i % (size_t)img.width), y = (int)(i / (size_t)img.width);
            unet_image_free(&img);
            return unet_set_error(UNET_ERR_INVALID,
                                  "%s: pixel (%d, %d) has class %d, but there are %d classes "
                                  "(0..%d) and the ignore label is %d",
                                  path, x, y, v, n_classes, n_classes - 1, ignore_label);
        }
    }
    *width = img.width;
    *height = img.height;
    *mask = img.pixels; /* ownership moves to the caller */
    return UNET_OK;
}

unet_status tiles_class_counts(const tile_set *set, const int *idx, int n, int n_classes,
                               int ignore_label, uint64_t *counts)
{
    memset(counts, 0, (size_t)n_classes * sizeof *counts);
    char path[4096];
    for (int i = 0; i < n; i++) {
        UNET_TRY(tile_mask_path(set, idx[i], path, sizeof path));
        int w, h;
        uint8_t *mask;
        UNET_TRY(tile_read_mask(path, n_classes, ignore_label, &w, &h, &mask));
        const size_t np = (size_t)w * (size_t)h;
        for (size_t k = 0; k < np; k++)
            if (mask[k] < n_classes)
                counts[mask[k]]++;
        free(mask);
    }
    return UNET_OK;
}

void class_weights_auto(const uint64_t *counts, int n_classes, double power, float *weights)
{
    uint64_t total = 0;
    int present = 0;
    for (int c = 0; c < n_classes; c++) {
        total += counts[c];
        present += counts[c] > 0;
    }
    double inv[256], sum = 0;
    for (int c = 0; c < n_classes; c++) {
        inv[c] = counts[c] ? pow((double)total / (double)counts[c], power) : 0.0;
        sum += inv[c];
    }
    for (int c = 0; c < n_classes; c++) {
        double w = 1.0;
        if (counts[c] && sum > 0) {
            w = inv[c] * present / sum;
            w = w < 0.1 ? 0.1 : w > 10.0 ? 10.0 : w;
        }
        weights[c] = (float)w;
    }
}
