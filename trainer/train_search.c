/* unet-train's front end to cross-validation and the search (see
 * train_search.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "cv_search.h"
#include "search_report.h"
#include "text_format.h"
#include "train_messages.h"
#include "train_search.h"

static void search_message(void *user, int kind, const char *text)
{
    (void)user;
    if (kind == CV_MSG_WARNING)
        train_warning("%s", text);
    else if (kind == CV_MSG_REPORT && !train_messages_quiet())
        fprintf(stderr, "%s\n", text);
    else
        train_note("%s", text);
}

/* --report after a search: the ranked table (STEM.grid.csv) and the retrain. */
static int write_search_report(const options *o, const unet_palette *pal, const run_paths *p,
                               const char *summary_json)
{
    char *grid = str_concat(p->stem, ".grid.csv"); /* run() made the paths */
    if (!grid) {
        train_error("out of memory");
        return -1;
    }
    search_report r = {.model_path = o->out, .tiles = o->tiles, .grid_csv = grid,
                       .retrain_log = p->csv, .summary_json = summary_json, .pal = pal};
    size_t size = 0;
    const int rc = search_report_write(o->report, &r, &size);
    if (rc != 0)
        train_error("--report: %s", unet_last_error());
    else
        train_note("wrote %s (%zu bytes)", o->report, size);
    free(grid);
    return rc;
}

int train_search_run(const options *o, const unet_palette *pal, const run_paths *paths, dist *d,
                     volatile sig_atomic_t *stop)
{
    const int rank = dist_rank(d), size = dist_size(d);
    if (o->init) {
        if (rank == 0) /* every rank finds it; one message */
            train_error("--cv, --grid and --budget train from scratch (no --init)");
        return EXIT_USAGE;
    }
    cv_options c = {.tiles = o->tiles, .folds_file = o->folds_file, .out = o->out,
                    .pal = pal, .grid = o->grid, .folds = (int)o->cv, .budget = o->budget,
                    .epochs = (int)o->epochs, .batch = (int)o->batch, .optimizer = o->optimizer,
                    .momentum = o->momentum, .schedule = o->schedule,
                    .step_size = (int)o->step_size, .gamma = o->gamma,
                    .ignore_label = o->ignore_label, .augment = o->augment,
                    .crops_per_epoch = (uint64_t)o->crops_per_epoch, .seed = o->seed,
                    .max_steps = o->max_steps, .early_stop = (int)o->early_stop,
                    .force = o->force,
                    .keep_run_models = o->keep_run_models, .stop = stop, .message = search_message};
    c.base = (grid_config){.lr = o->lr, .filters = o->filters, .depth = o->depth,
                           .batchnorm = o->batchnorm, .dropout = o->dropout,
                           .weight_decay = o->weight_decay,
                           .loss = {.kind = o->loss, .weight = o->loss_weight}};
    if (snprintf(c.base.class_weights, sizeof c.base.class_weights, "%s", o->class_weights) >=
        (int)sizeof c.base.class_weights) {
        train_error("--class-weights: too long");
        return EXIT_USAGE;
    }
    /* Stop signals: the handlers main installed set stop_flag (c.stop). */
    /* Under mpirun: the runs are shared out over the ranks (cv_search.h). */
    cv_ranks ranks;
    if (size > 1) {
        dist_search_ranks(d, &ranks);
        c.ranks = &ranks;
    }
    cv_outcome out;
    const unet_status s = cv_search_run(&c, &out);
    if (s != UNET_OK) {
        if (!out.failed_everywhere || rank == 0) /* the same message on every rank */
            train_error("%s", unet_last_error());
        if (out.abort_others)
            dist_abort(d, EXIT_FAILED);
        return s == UNET_ERR_ARG ? EXIT_USAGE : EXIT_FAILED;
    }
    if (out.interrupted) {
        if (rank == 0)
            fprintf(stderr, "unet-train: interrupted; finished runs and the checkpoint%s of the "
                            "run%s under way are kept: the same command continues\n",
                    size > 1 ? "s" : "", size > 1 ? "s" : "");
        return EXIT_INTERRUPTED;
    }
    if (!out.summary_json)
        return EXIT_DONE; /* ranks other than 0: rank 0 reports */
    int rc = EXIT_DONE;
    if (o->report && write_search_report(o, pal, paths, out.summary_json) != 0)
        rc = EXIT_FAILED;
    if (o->json)
        printf("%s\n", out.summary_json);
    if (o->json_file &&
        atomic_file_write_all(o->json_file, out.summary_json, strlen(out.summary_json)) != UNET_OK) {
        train_error("%s", unet_last_error());
        rc = EXIT_FAILED;
    }
    cv_outcome_free(&out);
    return rc;
}
