/* Inputs of unet-infer and their output names; see infer_inputs.h. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "infer_inputs.h"

static int has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int input_list_add(input_list *l, const char *path, const char *scene)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 256;
        char **p = realloc(l->paths, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        l->paths = p;
        char **q = realloc(l->scenes, (size_t)cap * sizeof *q);
        if (!q)
            return -1;
        l->scenes = q;
        l->cap = cap;
    }
    l->paths[l->n] = strdup(path);
    l->scenes[l->n] = scene ? strdup(scene) : NULL;
    if (!l->paths[l->n] || (scene && !l->scenes[l->n])) {
        free(l->paths[l->n]);
        free(l->scenes[l->n]);
        return -1;
    }
    l->n++;
    return 0;
}

void input_list_free(input_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->paths[i]);
        free(l->scenes[i]);
        if (l->names)
            free(l->names[i]);
    }
    free(l->paths);
    free(l->scenes);
    free(l->names);
    free(l->clash);
}

int infer_inputs_tiles(const char *arg, input_list *l)
{
    struct stat st;
    if (stat(arg, &st) != 0) {
        fprintf(stderr, "unet-infer: %s: %s\n", arg, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return input_list_add(l, arg, NULL);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/images", arg);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        snprintf(dir, sizeof dir, "%s", arg);
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "unet-infer: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    int first = l->n;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !has_image_ext(de->d_name))
            continue;
        char path[4352];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (input_list_add(l, path, NULL) != 0) {
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    qsort(l->paths + first, (size_t)(l->n - first), sizeof *l->paths, cmp_str);
    if (l->n == first)
        fprintf(stderr, "unet-infer: warning: no PNG or JPEG files in %s\n", dir);
    return 0;
}

void infer_stem(const char *path, char *out, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len >= size)
        len = size - 1;
    memcpy(out, base, len);
    out[len] = '\0';
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
}

/* The last component of a folder path ("a/b/" -> "b"); the real name for
 * "." and "..". */
static char *folder_name(const char *dir)
{
    char *real = realpath(dir, NULL);
    const char *p = real ? real : dir;
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && p[start - 1] != '/')
        start--;
    char *name = strndup(p + start, len - start);
    free(real);
    return name;
}

/* The scene an image file belongs to: its folder, or the folder above when
 * that is images/ (a scene folder's layout). */
static char *scene_of_file(const char *path)
{
    char *real = realpath(path, NULL);
    if (!real)
        return strdup(".");
    char *slash = strrchr(real, '/');
    if (slash)
        *slash = '\0';
    slash = strrchr(real, '/');
    if (slash && !strcmp(slash + 1, "images") && slash != real)
        *slash = '\0';
    char *name = folder_name(*real ? real : "/");
    free(real);
    return name;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Image files of folder dir, sorted, as images of scene. Returns the count or -1. */
static int add_folder_images(input_list *l, const char *dir, const char *scene)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "unet-infer: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    int first = l->n;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !has_image_ext(de->d_name))
            continue;
        char path[4352];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (is_dir(path))
            continue;
        if (input_list_add(l, path, scene) != 0) {
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    /* Sort this folder's entries by path, keeping scenes[] in step. */
    for (int i = first + 1; i < l->n; i++)
        for (int k = i; k > first && strcmp(l->paths[k - 1], l->paths[k]) > 0; k--) {
            char *t = l->paths[k]; l->paths[k] = l->paths[k - 1]; l->paths[k - 1] = t;
            t = l->scenes[k]; l->scenes[k] = l->scenes[k - 1]; l->scenes[k - 1] = t;
        }
    return l->n - first;
}

#define MAX_SCENE_DEPTH 3

/* Scene mode inputs: an image file; a scene folder (holds images/); a folder
 * holding images; or a folder whose subfolders (to MAX_SCENE_DEPTH levels)
 * are any of these, e.g. the data set's root with its 'Tile N' folders. */
static int collect_scenes(const char *arg, input_list *l, int depth)
{
    struct stat st;
    if (stat(arg, &st) != 0) {
        fprintf(stderr, "unet-infer: %s: %s\n", arg, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        char *scene = scene_of_file(arg);
        int r = scene ? input_list_add(l, arg, scene) : -1;
        free(scene);
        return r;
    }
    char images[4096];
    snprintf(images, sizeof images, "%s/images", arg);
    char *scene = folder_name(arg);
    if (!scene)
        return -1;
    int found;
    if (is_dir(images))
        found = add_folder_images(l, images, scene);
    else
        found = add_folder_images(l, arg, scene);
    free(scene);
    if (found < 0)
        return -1;
    if (is_dir(images)) {
        if (found == 0)
            fprintf(stderr, "unet-infer: warning: no PNG or JPEG files in %s\n", images);
        return 0;
    }
    if (found > 0)
        return 0;
    /* No images here: look for scenes in the subfolders, in name order. */
    int before = l->n;
    if (depth < MAX_SCENE_DEPTH) {
        DIR *d = opendir(arg);
        if (!d) {
            fprintf(stderr, "unet-infer: %s: %s\n", arg, strerror(errno));
            return -1;
        }
        char **subs = NULL;
        int n = 0, cap = 0, bad = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            char path[4352];
            snprintf(path, sizeof path, "%s/%s", arg, de->d_name);
            if (de->d_name[0] == '.' || !is_dir(path))
                continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                char **p = realloc(subs, (size_t)cap * sizeof *p);
                if (!p) {
                    bad = 1;
                    break;
                }
                subs = p;
            }
            if (!(subs[n] = strdup(path))) {
                bad = 1;
                break;
            }
            n++;
        }
        closedir(d);
        qsort(subs, (size_t)n, sizeof *subs, cmp_str);
        for (int i = 0; i < n && !bad; i++)
            if (collect_scenes(subs[i], l, depth + 1) != 0)
                bad = 1;
        for (int i = 0; i < n; i++)
            free(subs[i]);
        free(subs);
        if (bad)
            return -1;
    }
    if (depth == 0 && l->n == before)
        fprintf(stderr, "unet-infer: warning: no PNG or JPEG files or scene folders in %s\n", arg);
    return 0;
}

/* Output names: the image's stem, or SCENE__STEM for stems that occur in more
 * than one scene folder. Two images that still end with one name (scene
 * folders of the same name) are marked as clashes; the same file given twice
 * is dropped. */
int infer_inputs_name_scenes(input_list *l)
{
    l->names = calloc((size_t)l->n + 1, sizeof *l->names);
    l->clash = calloc((size_t)l->n + 1, sizeof *l->clash);
    char **stems = calloc((size_t)l->n + 1, sizeof *stems);
    char **reals = calloc((size_t)l->n + 1, sizeof *reals);
    if (!l->names || !l->clash || !stems || !reals) {
        free(stems);
        free(reals);
        return -1;
    }
    int bad = 0;
    for (int i = 0; i < l->n && !bad; i++) {
        stems[i] = malloc(1024);
        reals[i] = realpath(l->paths[i], NULL);
        if (!stems[i])
            bad = 1;
        else
            infer_stem(l->paths[i], stems[i], 1024);
    }
    /* Drop repeated files (the same image reached through two arguments). */
    for (int i = 0; i < l->n && !bad; i++) {
        int dup = 0;
        for (int k = 0; k < i && !dup; k++)
            dup = reals[i] && reals[k] && !strcmp(reals[i], reals[k]);
        if (!dup)
            continue;
        free(l->paths[i]);
        free(l->scenes[i]);
        free(stems[i]);
        free(reals[i]);
        for (int k = i + 1; k < l->n; k++) {
            l->paths[k - 1] = l->paths[k];
            l->scenes[k - 1] = l->scenes[k];
            stems[k - 1] = stems[k];
            reals[k - 1] = reals[k];
        }
        l->n--;
        i--;
    }
    for (int i = 0; i < l->n && !bad; i++) {
        int shared = 0;
        for (int k = 0; k < l->n && !shared; k++)
            shared = k != i && !strcmp(stems[i], stems[k]) && strcmp(l->scenes[i], l->scenes[k]);
        size_t len = strlen(stems[i]) + strlen(l->scenes[i]) + 3;
        if (!(l->names[i] = malloc(len)))
            bad = 1;
        else if (shared)
            snprintf(l->names[i], len, "%s__%s", l->scenes[i], stems[i]);
        else
            snprintf(l->names[i], len, "%s", stems[i]);
    }
    for (int i = 0; i < l->n && !bad; i++)
        for (int k = 0; k < i; k++)
            if (!strcmp(l->names[i], l->names[k])) {
                l->clash[i] = k + 1;
                break;
            }
    for (int i = 0; i < l->n; i++) {
        free(stems[i]);
        free(reals[i]);
    }
    free(stems);
    free(reals);
    return bad ? -1 : 0;
}

int infer_inputs_scenes(const char *arg, input_list *l) { return collect_scenes(arg, l, 0); }
