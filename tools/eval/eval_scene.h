/* unet-eval --scene: whole images scored against their ground-truth masks.
 * Each image/mask pair (scene_pairs.h) is segmented by scene_infer (sliding
 * window, the predicted mask written as a PNG), then the predicted mask and
 * the ground truth (truth_mask.h) are read back a band of rows at a time and
 * counted into the image's confusion matrix, which is added to its scene's
 * and to the overall one. Memory stays what scene_infer holds plus a band of
 * rows: no image's class scores or whole mask are kept. */
#ifndef UNET_TOOLS_EVAL_SCENE_H
#define UNET_TOOLS_EVAL_SCENE_H

#include <stdint.h>
#include <stdio.h>

#include <unet/metrics.h>
#include <unet/palette.h>
#include <unet/unet.h>

#include "eval_report.h"
#include "report_gallery.h"
#include "scene_infer.h"
#include "scene_pairs.h"

typedef struct eval_scene_config {
    scene_options so;                  /* window, batch, input scaling, stop flag, model hash */
    unet_session *session;
    const unet_palette *palette;       /* mask colours -> class ids, with the ignore colours */
    unet_unknown_color_policy unknown; /* a colour outside the palette: fail the image, or leave it out */
    int ignore_label;                  /* mask value (or class id) left out of the metrics */
    int n_classes;
    const uint8_t (*colors)[3];        /* class colours of the error maps */
    const char *out_dir;               /* predicted masks kept here as NAME.png; NULL: temp_dir */
    const char *temp_dir;              /* predicted masks removed once counted */
    const char *errors_dir;            /* NAME.png error maps here; NULL: none */
    int force;                         /* replace a mask in out_dir from another model */
    int quiet;
    struct report_gallery *gallery;    /* --report: windows offered here; NULL: none */
    int gallery_window;                /* their size: a grid of squares from the top left */
} eval_scene_config;

typedef enum eval_image_status { EVAL_IMAGE_PENDING = 0, EVAL_IMAGE_DONE, EVAL_IMAGE_FAILED } eval_image_status;

typedef struct eval_scene_image {
    char *label;            /* SCENE/STEM, in messages and failures */
    char *name;             /* output name: STEM, or SCENE__STEM when several scenes have the stem */
    int clash;              /* 1 + index of an earlier image with the same name, else 0 */
    eval_image_status status;
    int reused;             /* the mask in out_dir came from this model and was not made again */
    uint64_t counted;       /* pixels in the metrics */
    double pixel_accuracy, mean_iou, seconds;
} eval_scene_image;

typedef struct eval_scene_summary {
    unet_confusion cm;
    int selected, evaluated, failed;
} eval_scene_summary;

typedef struct eval_scenes {
    scene_pairs *pairs;          /* sorted by scene (as found), then stem */
    eval_scene_image *images;    /* one per pair */
    eval_scene_summary *scenes;  /* one per scene of pairs */
} eval_scenes;

/* Sorts sp's pairs and names the outputs (sp is borrowed). -1 when out of memory. */
int eval_scenes_init(eval_scenes *es, scene_pairs *sp, int n_classes);
/* Evaluates every pair, adding to total (n_classes, initialised) and to
 * run's failures and pixel counts; progress and failures on stderr. Returns
 * 1 when stopped by c->so.stop, else 0. */
int eval_scenes_run(const eval_scene_config *c, eval_scenes *es, unet_confusion *total, eval_run *run);
/* One line per scene: images evaluated, pixels, pixel accuracy, mean IoU. */
void eval_scenes_table(FILE *f, const eval_scenes *es);
/* The value of the JSON report's "scenes" key: per scene its counts,
 * metrics and confusion matrix, and per image its result. */
void eval_scenes_json(FILE *f, const eval_scenes *es);
void eval_scenes_free(eval_scenes *es);

#endif
