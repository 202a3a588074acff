/* The tiles of a tiles folder that unet-eval evaluates: images/, and one fold
 * of folds.tsv (see eval_program.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <unet/image.h>
#include <unet/meta.h>
#include <unet/metrics.h>
#include <unet/palette.h>
#include <unet/unet.h>

#include "cli_message.h"
#include "eval_program.h"
#include "folds_tsv.h"

/* ---- the tiles to evaluate ---------------------------------------------- */

static void tiles_add(tile_list *l, char *name, char *image)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        eval_tile *p = realloc(l->t, (size_t)cap * sizeof *p);
        if (!p) {
            fprintf(stderr, PROG ": out of memory\n");
            exit(EXIT_USAGE);
        }
        l->t = p;
        l->cap = cap;
    }
    l->t[l->n++] = (eval_tile){ name, image, NULL };
}

void eval_tiles_free(tile_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->t[i].name);
        free(l->t[i].image);
    }
    free(l->t);
    memset(l, 0, sizeof *l);
}

static int image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot != name &&
           (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static int cmp_tiles(const void *a, const void *b)
{
    const eval_tile *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->image ? x->image : "", y->image ? y->image : "");
}

/* Every image in dir, sorted by name; two images with one stem are marked. */
int eval_list_images(const char *dir, tile_list *out)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, PROG ": %s: %s\n", dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !image_ext(de->d_name))
            continue;
        char *name = cli_xstrdup(de->d_name);
        *strrchr(name, '.') = '\0';
        tiles_add(out, name, cli_path_join(dir, de->d_name));
    }
    closedir(d);
    if (out->n)
        qsort(out->t, (size_t)out->n, sizeof *out->t, cmp_tiles);
    for (int i = 1; i < out->n; i++)
        if (!strcmp(out->t[i].name, out->t[i - 1].name))
            out->t[i].problem = out->t[i - 1].problem =
                "two images share this name (different extensions); keep one";
    return 0;
}

static int same_fold(const char *a, const char *b)
{
    if (!strcmp(a, b))
        return 1;
    char *ea, *eb;
    long x = strtol(a, &ea, 10), y = strtol(b, &eb, 10);
    return *a && *b && !*ea && !*eb && x == y;
}

/* Keeps the tiles of fold o->fold, sorted by name; a listed
 * tile without image is kept with a problem. Returns -1 on a usage error. */
int eval_select_fold(const eval_options *o, tile_list *all, tile_list *out)
{
    folds_table ft;
    if (folds_read(o->folds_file, &ft) != UNET_OK) {
        fprintf(stderr, PROG ": %s\n", unet_last_error());
        return -1;
    }
    for (size_t r = 0; r < ft.n; r++) {
        const folds_row *row = &ft.rows[r];
        if (!same_fold(row->fold, o->fold))
            continue;
        /* all is sorted by name (then path): find the first image of this name. */
        int lo = 0, hi = all->n;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (strcmp(all->t[mid].name, row->name) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < all->n && !strcmp(all->t[lo].name, row->name)) {
            tiles_add(out, cli_xstrdup(row->name), cli_xstrdup(all->t[lo].image));
            out->t[out->n - 1].problem = all->t[lo].problem;
        } else {
            tiles_add(out, cli_xstrdup(row->name), NULL);
            out->t[out->n - 1].problem = "listed in the folds file but there is no image of that name";
        }
    }
    if (out->n == 0) {
        fprintf(stderr, PROG ": %s lists no tile of fold '%s'; its folds:", o->folds_file, o->fold);
        int shown = 0;
        for (size_t r = 0; r < ft.n && shown < 20; r++) {
            int seen = 0;
            for (size_t q = 0; q < r && !seen; q++)
                seen = !strcmp(ft.rows[q].fold, ft.rows[r].fold);
            if (!seen) {
                fprintf(stderr, " %s", ft.rows[r].fold);
                shown++;
            }
        }
        fprintf(stderr, "%s\n", ft.n ? "" : " (none: the file is empty)");
        folds_free(&ft);
        return -1;
    }
    folds_free(&ft);
    return 0;
}

