/* unet-train's front end to cross-validation and the search (--cv,
 * --grid, --budget; trainer/cv_search.h does the work): the options as
 * cv_options, its messages on stderr, and afterwards --report, --json and
 * --json-file from the search's summary. Under mpirun the runs are shared
 * out over the ranks. */
#ifndef UNET_TRAINER_TRAIN_SEARCH_H
#define UNET_TRAINER_TRAIN_SEARCH_H

#include <signal.h>

#include <unet/palette.h>

#include "distributed.h"
#include "run_files.h"
#include "train_options.h"

/* The search of o over the tiles; returns the exit status (train_messages.h).
 * stop: set by the caller's signal handlers. */
int train_search_run(const options *o, const unet_palette *pal, const run_paths *paths, dist *d,
                     volatile sig_atomic_t *stop);

#endif
