/* Image/mask pairs of scenes, as unet-tile and unet-eval --scene find them.
 * A scene is a folder holding images/ and masks/; a mask pairs with the image
 * of the same file stem (images/a.jpg <-> masks/a.png); only .png, .jpg and
 * .jpeg files count. An explicit list (--pairs FILE, IMAGE<TAB>MASK<TAB>SCENE)
 * works for any layout. Tool code: problems are printed to stderr with the
 * program's name, and running out of memory ends the program. */
#ifndef UNET_TOOLS_SCENE_PAIRS_H
#define UNET_TOOLS_SCENE_PAIRS_H

#include <stddef.h>

typedef struct pair_scene {
    char *name;  /* folder name or the SCENE column ("Tile 1") */
    char *dir;   /* real path of the scene folder, NULL for --pairs scenes */
    int n_pairs; /* pairs with a mask */
} pair_scene;

typedef struct scene_pair {
    char *image;
    char *mask;    /* NULL when the image has no single mask: see problem */
    char *stem;    /* image file name without folder and extension */
    char *problem; /* why mask is NULL (already printed), else NULL */
    int scene;     /* index into scenes */
    int tag;       /* free for the caller (unet-tile: a georeferenced pair) */
} scene_pair;

typedef struct scene_pairs {
    const char *prog;     /* message prefix, e.g. "unet-tile" */
    int quiet;            /* no warnings (errors are still printed) */
    pair_scene *scenes;
    int n_scenes;
    scene_pair *pairs;    /* in the order found */
    size_t n_pairs;
    int input_failures;   /* images without a single mask, clashing folders */
} scene_pairs;

/* The scene of that name (dir: its folder, NULL for a --pairs scene), added
 * when new; -1 - i when scene i has the same name but another folder. */
int scene_pairs_add_scene(scene_pairs *sp, const char *name, const char *dir);
/* Appends a pair (mask NULL: an image without mask, problem says why). */
void scene_pairs_add(scene_pairs *sp, const char *image, const char *mask, int scene,
                     const char *problem);

/* Scene folders at path or below it (a few levels, depth-first in name
 * order; a folder with folds.tsv below the top is a tiles folder and is
 * skipped). Returns how many scene folders were found. */
int scene_pairs_find(scene_pairs *sp, const char *path);
/* IMAGE<TAB>MASK<TAB>SCENE lines, paths relative to the file's folder; empty
 * lines and '#' comments skipped. -1 (printed) on a malformed or unreadable
 * file. */
int scene_pairs_read_file(scene_pairs *sp, const char *path);
void scene_pairs_free(scene_pairs *sp);

/* Helpers shared with the programs. */
int scene_pairs_is_dir(const char *path);
int scene_pairs_image_name(const char *name);   /* ends in .png, .jpg or .jpeg (any case) */
char *scene_pairs_stem(const char *path);       /* malloc'ed */
/* Sorted names of a folder's entries, hidden ones skipped (NULL, 0 when it
 * cannot be read); free with scene_pairs_free_names. */
char **scene_pairs_list_dir(const char *path, size_t *count);
void scene_pairs_free_names(char **names, size_t count);

#endif
