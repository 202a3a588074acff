/* The inputs of unet-infer: image paths from the command line's folders and
 * files, and the output name of each.
 * Tile mode: every PNG or JPEG of a folder (of its images/ when it has one).
 * Scene mode: an image file; a scene folder (holds images/); a folder of
 * images; or a folder whose subfolders, a few levels down, are any of these
 * (the data set's root with its 'Tile N' folders). Each image remembers its
 * scene folder, whose name goes in front of output names that would
 * otherwise collide. Problems are printed to stderr (tool code). */
#ifndef UNET_TOOLS_INFER_INPUTS_H
#define UNET_TOOLS_INFER_INPUTS_H

#include <stddef.h>

typedef struct input_list {
    char **paths;
    /* Scene mode only: */
    char **scenes;  /* name of the scene folder each image belongs to */
    char **names;   /* output name (no extension), set by infer_inputs_name_scenes */
    int *clash;     /* 1 + index of an earlier image with the same output name, else 0 */
    int n, cap;
} input_list;

/* Appends path (scene may be NULL); 0, or -1 when out of memory. */
int input_list_add(input_list *l, const char *path, const char *scene);
void input_list_free(input_list *l);

/* Add the images arg stands for; 0, or -1 (message printed) when it cannot
 * be read. */
int infer_inputs_tiles(const char *arg, input_list *l);
int infer_inputs_scenes(const char *arg, input_list *l);

/* Output names: the image's stem, or SCENE__STEM for stems found in more than
 * one scene folder; images that would still share a name are marked in
 * clash; the same file reached twice is kept once. -1 when out of memory. */
int infer_inputs_name_scenes(input_list *l);

/* The file name of path without folder and extension. */
void infer_stem(const char *path, char *out, size_t size);

#endif
