/* unet-train's command line: the options, their defaults, --help and
 * --version, and the checks between options (which exclude each other,
 * which need which). */
#ifndef UNET_TRAINER_TRAIN_OPTIONS_H
#define UNET_TRAINER_TRAIN_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

typedef struct options {
    const char *tiles, *out;
    int depth, filters, batchnorm;
    int depth_set, filters_set, batchnorm_set;
    double dropout;
    long epochs, batch;
    double lr;
    int lr_set;
    int optimizer;
    double momentum, weight_decay;
    int schedule;
    long step_size;
    double gamma;
    const char *class_weights;
    int loss;           /* loss_kind (loss.h) */
    double loss_weight; /* of Dice/Lovász beside cross-entropy */
    int loss_weight_set;
    int ignore_label;
    const char *val_fold, *folds_file, *val_dir;
    double val_fraction;
    int augment;
    long crops_per_epoch; /* 0: an epoch is one pass over the tiles */
    uint64_t seed;
    int threads;
    const char *checkpoint_dir;
    int resume, force;
    const char *init;
    long early_stop;
    int json;
    const char *json_file;
    uint64_t max_steps;
    double time_budget;
    long cv;           /* --cv K */
    const char *grid;  /* --grid SPEC */
    double budget;     /* --budget SECONDS */
    const char *report; /* --report FILE.html */
    int keep_run_models; /* --keep-run-models */
    int quiet;          /* --quiet */
} options;

/* Parses argv into o (defaults first). 0 to run; 1 when --help or --version
 * printed what was asked (exit 0); -1 after a usage error, printed on stderr
 * as "PROG: error: ..." (prog is the name to print, e.g. with the MPI rank). */
int train_options_parse(int argc, char **argv, const char *prog, options *o);

#endif
