/* unet-eval's own pieces (not a library: they print, and exit on out of
 * memory as the program does): its options, the tiles of a tiles folder
 * (eval_tile_list.c), tile mode (eval_tile_mode.c), scene mode
 * (eval_scene_mode.c) and small helpers (eval_program.c). tools/unet-eval.c
 * parses the command line and calls eval_tiles_run or eval_scenes_run. */
#ifndef UNET_TOOLS_EVAL_PROGRAM_H
#define UNET_TOOLS_EVAL_PROGRAM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <unet/meta.h>
#include <unet/metrics.h>
#include <unet/unet.h>

#include "cli_alloc.h" /* the programs' allocation: out of memory ends the process */
#include "cli_files.h"
#include "eval_report.h"
#include "eval_scene.h"
#include "report_gallery.h"
#include "tile_batch.h"

#define EXIT_SOME_FAILED 1
#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 3

#define PROG "unet-eval"

typedef struct eval_options {
    const char *model, *tiles;
    const char *folds_file, *fold;
    int batch, threads, ignore_label; /* ignore_label < 0: from the model (255) */
    unet_precision precision;         /* --precision: the session's arithmetic */
    int json, quiet;
    const char *json_file, *csv, *heatmap, *errors;
    const char *report;               /* --report FILE.html */
    int report_tiles;                 /* --report-tiles N: worst and best shown */
    /* Scene mode: */
    int scene;
    char **scenes;                    /* SCENE arguments */
    int n_scenes;
    const char *pairs;                /* --pairs FILE */
    int tile, overlap;                /* 0 / -1: not given */
    int tta;                          /* --tta: average over flips (scene mode) */
    const char *palette;              /* --palette FILE: the mask colours */
    const char *ignore_colors;
    int unknown_ignore;               /* --unknown-colors ignore */
    const char *out;                  /* keep the predicted masks here */
    int force;
} eval_options;

/* Set by SIGINT and SIGTERM (unet-eval.c): the run stops, the metrics so far are reported. */
extern volatile sig_atomic_t eval_interrupted;

typedef struct eval_tile {
    char *name;       /* image stem */
    char *image;      /* path; NULL when folds.tsv names a tile without image */
    const char *problem; /* set when the tile cannot be evaluated at all */
} eval_tile;

typedef struct tile_list {
    eval_tile *t;
    int n, cap;
} tile_list;

typedef struct loaded_tile {
    int index;
    unet_image image, mask;
} loaded_tile;

typedef struct evaluator {
    const eval_options *o;
    tile_list *tiles;
    unsigned char *tile_failed;
    unet_model *model;
    unet_session *session;
    unet_model_meta meta;
    unet_tensor_info in;       /* the model's input */
    tile_batch tb;
    int ignore_label;
    int k_hint;
    unet_confusion cm;         /* counts == NULL until the class count is known */
    report_gallery gallery;    /* --report: worst and best tiles */
    int gallery_ready;
    eval_class_info cls;
    eval_run run;
    eval_scenes *scenes;       /* scene mode */
    int tile, overlap;         /* scene mode: the window */
    int tta;                   /* scene mode: flips averaged */
    uint8_t *pred;
    size_t pred_cap;
    uint8_t *rgb;
    size_t rgb_cap;
} evaluator;

/* eval_program.c */
void eval_warn(const eval_options *o, const char *fmt, ...) UNET_PRINTF(2, 3);
double eval_now_seconds(void);

/* eval_tile_list.c */
int eval_list_images(const char *dir, tile_list *out);
int eval_select_fold(const eval_options *o, tile_list *all, tile_list *out);
void eval_tiles_free(tile_list *l);

/* eval_tile_mode.c */
int eval_ensure_matrix(evaluator *e, int k);
int eval_open_model(evaluator *e);
int eval_write_outputs(evaluator *e, const unet_metrics *m);
/* Everything the evaluator holds, and e itself (NULL is ignored). */
void eval_evaluator_free(evaluator *e);
/* Tile mode: every tile of tiles through the model; returns the exit status. */
int eval_tile_mode_run(const eval_options *o, tile_list *tiles);

/* eval_scene_mode.c: --scene; returns the exit status. */
int eval_scene_mode_run(eval_options *o);

#endif
