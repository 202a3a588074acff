/* Calibration images: see calib_tiles.h. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "calib_tiles.h"
#include "error.h"
#include "onnx_edit.h"

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return name[0] != '.' && dot &&
           (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0);
}

static int cmp_path(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

unet_status qz_tiles_list(const char *folder, qz_tile_list *out)
{
    out->paths = NULL;
    out->n = 0;
    char dir[4096];
    struct stat st;
    if (snprintf(dir, sizeof dir, "%s/images", folder) >= (int)sizeof dir)
        return unet_set_error(UNET_ERR_ARG, "%s: the path is too long", folder);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        snprintf(dir, sizeof dir, "%s", folder);
    DIR *d = opendir(dir);
    if (!d)
        return unet_set_error(UNET_ERR_IO, "calibration tiles %s: %s", dir, strerror(errno));
    size_t n = 0;
    struct dirent *de;
    unet_status s = UNET_OK;
    while (s == UNET_OK && (de = readdir(d))) {
        if (!is_image_name(de->d_name))
            continue;
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        char *path = malloc(len);
        if (path)
            snprintf(path, len, "%s/%s", dir, de->d_name);
        if (!path || qz_append((void ***)&out->paths, &n, path) != 0) {
            free(path);
            s = unet_set_error(UNET_ERR_NOMEM, "out of memory listing %s", dir);
        }
        if (n > 10000000)
            s = unet_set_error(UNET_ERR_LIMIT, "calibration tiles %s: more than 10 million images", dir);
    }
    closedir(d);
    out->n = (int)n;
    if (s == UNET_OK && n == 0)
        s = unet_set_error(UNET_ERR_INVALID, "calibration tiles %s: no PNG or JPEG file", dir);
    if (s != UNET_OK) {
        qz_tiles_free(out);
        return s;
    }
    qsort(out->paths, n, sizeof *out->paths, cmp_path);
    return UNET_OK;
}

void qz_tiles_spread(qz_tile_list *l, int max)
{
    if (max <= 0 || l->n <= max)
        return;
    char **kept = malloc((size_t)max * sizeof *kept);
    if (!kept) { /* keep the first max rather than fail */
        for (int i = max; i < l->n; i++)
            free(l->paths[i]);
        l->n = max;
        return;
    }
    int next = 0;
    for (int i = 0; i < l->n; i++) {
        if (next < max && i == (int)((long long)next * l->n / max))
            kept[next++] = l->paths[i];
        else
            free(l->paths[i]);
    }
    free(l->paths);
    l->paths = kept;
    l->n = max;
}

void qz_tiles_free(qz_tile_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
    l->paths = NULL;
    l->n = 0;
}
