/* The state of one cross-validation search, shared by the files that
 * make it up (internal to the trainer; cv_search.h is the interface):
 * cv_search.c   the search: data, rungs, rounds, retrain, outcome
 * cv_ranks.c    exchanges with the other ranks under mpirun
 * cv_results.c  a run's folder name and its result.json, read and written
 * cv_run.c      one run: trained, resumed, skipped or carried over
 * cv_ranking.c  scores over folds, ranking, the table and STEM.grid.csv
 * cv_summary.c  test evaluation, the summary JSON, curves, export */
#ifndef UNET_TRAINER_CV_STATE_H
#define UNET_TRAINER_CV_STATE_H

#include <stdint.h>

#include "curves.h"
#include "cv_search.h"
#include "data.h"
#include "grid.h"
#include "text_format.h"
#include "train_loop.h"

#define CV_MAX_FOLDS 64

/* JSON numbers of results round-trip doubles exactly, so a search read back
 * prints the same tables as the one that trained. */
static inline void cv_json_double(sbuf *b, double v) { sb_json_number(b, v, 17); }

/* One finished run, as its result.json says. */
typedef struct run_result {
    int done;
    int end;
    double epochs_completed, steps, steps_per_epoch;
    double best_epoch, best_epoch_fraction;
    double miou, f1, pixel_accuracy, val_loss;
    double seconds;
    double sessions;
    /* The best epoch's IoU per class (written to result.json; not read back). */
    int n_class_iou;
    double class_iou[CURVES_MAX_CLASSES];
} run_result;

typedef struct fold_run {
    char *dir; /* run folder of the highest rung reached */
    int owner; /* the rank that trained it */
    run_result r;
} fold_run;

typedef struct cfg_state {
    grid_config c;
    char label[256], slug[200];
    size_t params;
    int rung; /* highest rung reached, -1 before any */
    fold_run folds[CV_MAX_FOLDS];
    double miou_mean, miou_std, f1_mean, f1_std, epoch_mean, seconds;
    int n_scored;
} cfg_state;

typedef struct search {
    const cv_options *o;
    cv_outcome *out;
    grid g;
    cfg_state *cfgs;
    char *stem, *dir;
    tile_set set;
    int width, height, k;
    tile_split splits[CV_MAX_FOLDS], all;
    int *test_idx, n_test;
    int rungs;
    double share; /* seconds per rung (budget) */
    char base_json[1024];
    double t0;
    int rank, size; /* this process among the search's (0 and 1 alone) */
    int counted[5]; /* out's run counters at the last exchange with the other ranks */
} search;

typedef struct run_spec {
    const cfg_state *cfg;
    int fold; /* -1: the retrain on every training tile */
    int rung;
    uint64_t epochs;      /* epoch cap */
    double time_limit;    /* seconds of training in all, 0: none */
    const char *prev_dir; /* the rung before's run folder to continue, or NULL */
    int prev_owner;       /* the rank that trained it */
    int dp;               /* data-parallel over every rank: rank 0 writes and counts it */
} run_spec;


/* cv_search.c */
void cv_msg(const search *S, int kind, const char *fmt, ...) UNET_PRINTF(3, 4);
int cv_stop_requested(const search *S);
double cv_now_seconds(void);
void cv_config_json(sbuf *b, const grid_config *c);
/* Class weights of a configuration on a split (NULL for none). */
unet_status cv_class_weights(const search *S, const grid_config *c, const tile_split *sp, float **w);

/* cv_ranks.c: every rank's state at the same point of the search (see there). */
unet_status cv_exchange(search *S, unet_status s, int *interrupted, int check_stop,
                        int32_t values[2], const void *payload, void *payloads, size_t bytes);

/* cv_results.c */
/* The number after "key": (null gives NaN); -1 when the key is absent. */
int cv_json_number(const char *text, const char *key, double *out);
int cv_json_string(const char *text, const char *key, char *buf, size_t size);
unet_status cv_run_dir(const search *S, const run_spec *sp, const tile_split *split, char **dir);
unet_status cv_read_result(const char *path, const char *id, run_result *r);
unet_status cv_write_result(const search *S, const run_spec *sp, const char *path, const char *id,
                            const run_result *r, const tile_split *split, const char *carried_from);
void cv_result_from_log(const curve_log *log, const train_progress *pr, int end, uint64_t spe,
                        double sessions, run_result *r);

/* cv_run.c */
/* Trains (or skips, resumes, carries over) one run; see there. */
unet_status cv_run_one(search *S, const run_spec *sp, run_result *res, char **dir_out,
                       train_state *keep, int *interrupted);
void cv_drop_checkpoint(const char *dir);

/* cv_ranking.c */
void cv_score(search *S, cfg_state *c);
void cv_rank(search *S, int *order, int n);
unet_status cv_report_table(search *S, const int *order, int n, const char *title);
unet_status cv_write_grid_csv(search *S, const int *order, int n);
/* "mean ± sd" with 4 decimals, the mean alone without sd, "-" without either. */
void cv_plus_minus(char *buf, size_t size, double mean, double sd);

/* cv_summary.c */
unet_status cv_evaluate(search *S, unet_params *params, const int *idx, int n, unet_metrics *out);
void cv_cfg_json(sbuf *b, const search *S, const cfg_state *c);
void cv_plot_final(search *S, const cfg_state *best, const curve_log *final_log);
unet_status cv_export_model(search *S, const char *path, const unet_params *params,
                            const char *training_json);

#endif
