/* unet-train: trains the U-Net on a tiles folder and exports model.onnx.
 *
 * Flow: options -> palette, tiles, folds, split -> architecture (flags,
 * --init or the checkpoint) -> weights (He, --init or checkpoint) -> training
 * loop with per-epoch table, logs and checkpoints -> export of the best and the
 * last weights with metadata -> summary. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <unet/metrics.h>
#include <unet/palette.h>
#include <unet/unet.h>

#include "checkpoint.h"
#include "cli_signals.h"
#include "cli_number.h"
#include "curves.h"
#include "cv_search.h"
#include "data.h"
#include "distributed.h"
#include "export_onnx.h"
#include "grid.h"
#include "init_weights.h"
#include "optimizer.h"
#include "run_files.h"
#include "run_lock.h"
#include "run_progress.h"
#include "run_records.h"
#include "schedule.h"
#include "search_report.h"
#include "text_file.h"
#include "text_format.h"
#include "train_loop.h"
#include "train_options.h"
#include "train_messages.h"
#include "train_report.h"
#include "train_search.h"

#define PROG "unet-train"

/* SIGINT, SIGTERM and SIGUSR1 set stop_flag: training stops at the next step
 * and saves its state; a second signal ends the process at once. */
static volatile sig_atomic_t stop_flag;

/* Data-parallel runs (mpirun -np N): this process's rank; rank 0 alone
 * prints notes and writes logs, checkpoints, models and summaries. */
static dist *g_dist;
static int g_rank, g_size = 1;

/* ---- files ------------------------------------------------------------------- */

static int file_exists(const char *path) { return text_file_exists(path); }

/* Writes text to path atomically; -1 with the reason printed. */
static int write_file_atomic(const char *path, const char *text, size_t len)
{
    if (atomic_file_write_all(path, text, len) != UNET_OK) {
        train_error("%s", unet_last_error());
        return -1;
    }
    return 0;
}

/* ---- setup helpers ------------------------------------------------------------ */

/* Class weights from --class-weights; *weights NULL for none. 0 ok, -1 usage error, 1 failure. */
static int make_class_weights(const options *o, const tile_set *set, const tile_split *split,
                              int n_classes, float **weights)
{
    double power = 0;
    if (grid_class_weights_parse(o->class_weights, n_classes, weights, &power) != UNET_OK) {
        train_error("--class-weights: %s", unet_last_error());
        return -1;
    }
    if (power == 0)
        return 0; /* none, or the numbers given */
    uint64_t counts[UNET_PALETTE_MAX_CLASSES];
    float *w = malloc((size_t)n_classes * sizeof *w);
    if (!w) {
        train_error("out of memory");
        return 1;
    }
    if (tiles_class_counts(set, split->train, split->n_train, n_classes, o->ignore_label,
                           counts) != UNET_OK) {
        train_error("%s", unet_last_error());
        free(w);
        return 1;
    }
    class_weights_auto(counts, n_classes, power, w);
    *weights = w;
    return 0;
}

/* ---- main --------------------------------------------------------------------- */

typedef struct app {
    options o;
    run_paths p;
    unet_palette pal;
    tile_set set, val_set;
    tile_split split;
    float *class_weights;
    train_state st;
    char *stored_config;
    sbuf config;
} app;

static void app_free(app *a)
{
    run_paths_free(&a->p);
    tile_set_free(&a->set);
    tile_set_free(&a->val_set);
    tile_split_free(&a->split);
    free(a->class_weights);
    train_state_free(&a->st);
    free(a->stored_config);
    free(a->config.s);
}

/* Tiles, folds and the split. Returns an exit status, or -1 to go on. */
static int load_data(app *a)
{
    const options *o = &a->o;
    if (tile_set_scan(o->tiles, &a->set) != UNET_OK) {
        train_error("%s", unet_last_error());
        return EXIT_USAGE;
    }
    char *folds = o->folds_file ? strdup(o->folds_file) : str_concat(o->tiles, "/folds.tsv");
    if (!folds) {
        train_error("out of memory");
        return EXIT_FAILED;
    }
    if (o->folds_file || file_exists(folds)) {
        int unknown = 0;
        if (tile_set_read_folds(&a->set, folds, &unknown) != UNET_OK) {
            train_error("%s", unet_last_error());
            free(folds);
            return EXIT_USAGE;
        }
        if (unknown)
            train_note("%s lists %d name(s) that are not tiles of %s; ignored", folds, unknown, o->tiles);
    } else if (o->val_fold) {
        train_error("--val-fold %s needs a folds file: %s does not exist (use --folds-file)", o->val_fold,
            folds);
        free(folds);
        return EXIT_USAGE;
    }
    free(folds);
    unet_status s;
    if (o->val_fold)
        s = split_by_fold(&a->set, o->val_fold, &a->split);
    else if (o->val_fraction > 0)
        s = split_by_fraction(&a->set, o->val_fraction, o->seed, &a->split);
    else
        s = split_none(&a->set, &a->split);
    if (s != UNET_OK) {
        train_error("%s", unet_last_error());
        return EXIT_USAGE;
    }
    if (o->val_dir) {
        if (tile_set_scan(o->val_dir, &a->val_set) != UNET_OK) {
            train_error("--val-dir: %s", unet_last_error());
            return EXIT_USAGE;
        }
        free(a->split.val);
        a->split.val = malloc((size_t)a->val_set.n * sizeof *a->split.val);
        if (!a->split.val) {
            train_error("out of memory");
            return EXIT_FAILED;
        }
        for (int i = 0; i < a->val_set.n; i++)
            a->split.val[i] = i;
        a->split.n_val = a->val_set.n;
    }
    return -1;
}

/* Architecture, weights and optimiser: from the checkpoint when resuming,
 * else fresh (He or --init). Returns an exit status, or -1 to go on. */
static int load_state(app *a)
{
    options *o = &a->o;
    const int resuming = o->resume && file_exists(a->p.ckpt);
    if (!resuming && file_exists(a->p.ckpt) && !o->force) {
        train_error("%s exists: add --resume to continue that run or --force to start over", a->p.ckpt);
        return EXIT_USAGE;
    }
    if (o->resume && !resuming)
        train_note("no checkpoint at %s: starting from scratch", a->p.ckpt);
    unet_arch arch = {.in_channels = 3, .n_classes = a->pal.n_classes, .depth = o->depth,
                      .base_filters = o->filters, .batchnorm = o->batchnorm,
                      .dropout = (float)o->dropout};
    const char *from = NULL;
    if (resuming) {
        if (checkpoint_read(a->p.ckpt, &a->st, &a->stored_config) != UNET_OK) {
            train_error("%s", unet_last_error());
            return EXIT_USAGE;
        }
        arch = a->st.params->arch;
        from = a->p.ckpt;
        if (a->st.progress.seed != o->seed) {
            train_note("resuming with the checkpoint's seed %llu", (unsigned long long)a->st.progress.seed);
            o->seed = a->st.progress.seed;
        }
        if (o->init)
            train_note("resuming: --init %s is not used", o->init);
    } else if (o->init) {
        unet_arch ia;
        if (init_weights_arch(o->init, &ia) != UNET_OK) {
            train_error("--init: %s", unet_last_error());
            return EXIT_USAGE;
        }
        arch.depth = ia.depth;
        arch.base_filters = ia.base_filters;
        arch.batchnorm = ia.batchnorm;
        from = o->init;
        if (ia.in_channels != 3) {
            train_error("--init %s takes %d input channels; tiles are RGB", o->init, ia.in_channels);
            return EXIT_USAGE;
        }
    }
    if (from) {
        if ((o->depth_set && o->depth != arch.depth) ||
            (o->filters_set && o->filters != arch.base_filters) ||
            (o->batchnorm_set && !arch.batchnorm)) {
            train_error("%s holds a U-Net of depth %d, %d filters, %s batch norm; the options ask for "
                "another (leave --depth/--filters/--batchnorm out to take its own)",
                from, arch.depth, arch.base_filters, arch.batchnorm ? "with" : "without");
            return EXIT_USAGE;
        }
    }
    if (resuming && arch.n_classes != a->pal.n_classes) {
        train_error("%s was trained for %d classes, %s has %d", a->p.ckpt, arch.n_classes, o->tiles,
            a->pal.n_classes);
        return EXIT_USAGE;
    }
    o->depth = arch.depth;
    o->filters = arch.base_filters;
    o->batchnorm = arch.batchnorm;
    o->dropout = arch.dropout;

    if (resuming) {
        if (a->st.opt->cfg.kind != o->optimizer) {
            train_error("%s was trained with %s; --optimizer %s cannot continue it", a->p.ckpt,
                a->st.opt->cfg.kind == OPTIM_ADAM ? "adam" : "sgd",
                o->optimizer == OPTIM_ADAM ? "adam" : "sgd");
            return EXIT_USAGE;
        }
        a->st.opt->cfg.momentum = o->momentum;
        a->st.opt->cfg.weight_decay = o->weight_decay;
        return -1;
    }
    if (params_create(&arch, &a->st.params) != UNET_OK) {
        train_error("%s", unet_last_error());
        return EXIT_USAGE;
    }
    params_init_he(a->st.params, o->seed);
    if (o->init) {
        int new_head = 0;
        if (init_weights_load(o->init, a->st.params, 1, &new_head) != UNET_OK) {
            train_error("--init: %s", unet_last_error());
            return EXIT_USAGE;
        }
        train_note("starting from the weights of %s%s", o->init,
             new_head ? " (new head: the class count differs)" : "");
    }
    optim_config oc;
    optim_config_default(&oc, o->optimizer);
    oc.momentum = o->momentum;
    oc.weight_decay = o->weight_decay;
    if (optimizer_create(&oc, a->st.params, &a->st.opt) != UNET_OK) {
        train_error("%s", unet_last_error());
        return EXIT_USAGE;
    }
    train_progress_init(&a->st.progress, o->seed);
    return -1;
}

static int make_dir(const char *dir)
{
    if (text_file_mkdir(dir) != UNET_OK) {
        train_error("%s", unet_last_error());
        return -1;
    }
    return 0;
}

static int export_models(app *a, const train_result *res, double train_seconds)
{
    const train_progress *pr = &a->st.progress;
    const char *names[UNET_PALETTE_MAX_CLASSES], *colors[UNET_PALETTE_MAX_CLASSES];
    static char hex[UNET_PALETTE_MAX_CLASSES][8];
    for (int k = 0; k < a->pal.n_classes; k++) {
        names[k] = a->pal.classes[k].name;
        unet_format_hex_color(a->pal.classes[k].rgb, hex[k]);
        colors[k] = hex[k];
    }
    sbuf t = {0};
    sb_printf(&t, "{\"program\":\"unet-train\",\"version\":\"" UNET_VERSION_STRING
                  "\",\"epochs_completed\":%llu,\"steps\":%llu,\"seconds\":",
              (unsigned long long)pr->epoch, (unsigned long long)pr->global_step);
    run_json_number(&t, train_seconds);
    sb_printf(&t, ",\"best_val_miou\":");
    run_json_number(&t, a->st.best ? pr->best_miou : NAN);
    sb_printf(&t, ",\"best_epoch\":");
    if (a->st.best)
        sb_printf(&t, "%lld", (long long)pr->best_epoch + 1);
    else
        sb_printf(&t, "null");
    sb_printf(&t, ",\"train_tiles\":%d,\"val_tiles\":%d,\"end\":\"%s\",\"flags\":%s}",
              a->split.n_train, a->split.n_val, train_end_name(res->end), a->config.s);
    if (t.nomem) {
        train_error("out of memory");
        return -1;
    }
    unet_export_meta meta = {.n_classes = a->pal.n_classes, .class_names = names,
                             .class_colors = colors, .training_json = t.s};
    const unet_params *best = a->st.best ? a->st.best : a->st.params;
    int rc = 0;
    if (unet_export_onnx(a->o.out, best, &meta) != UNET_OK ||
        unet_export_onnx(a->p.last_model, a->st.params, &meta) != UNET_OK) {
        train_error("%s", unet_last_error());
        rc = -1;
    }
    free(t.s);
    if (rc == 0) {
        if (a->st.best)
            train_note("wrote %s (best validation mIoU %.4f, epoch %lld) and %s (last weights, step %llu)",
                 a->o.out, pr->best_miou, (long long)pr->best_epoch + 1, a->p.last_model,
                 (unsigned long long)pr->global_step);
        else
            train_note("wrote %s and %s: the last weights (step %llu; no validation, so no best epoch)",
                 a->o.out, a->p.last_model, (unsigned long long)pr->global_step);
    }
    return rc;
}

static int write_summary(app *a, const train_result *res, uint64_t resumed_from)
{
    if (!a->o.json && !a->o.json_file)
        return 0;
    const train_progress *pr = &a->st.progress;
    sbuf b = {0};
    sb_printf(&b, "{\"program\":\"unet-train\",\"version\":\"" UNET_VERSION_STRING "\",\"model\":");
    sb_json_string(&b, a->o.out);
    sb_printf(&b, ",\"last_model\":");
    sb_json_string(&b, a->p.last_model);
    sb_printf(&b, ",\"checkpoint\":");
    sb_json_string(&b, a->p.ckpt);
    sb_printf(&b, ",\"end\":\"%s\",\"epochs_completed\":%llu,\"steps\":%llu,\"session_steps\":%llu",
              train_end_name(res->end), (unsigned long long)pr->epoch,
              (unsigned long long)pr->global_step, (unsigned long long)res->steps);
    sb_printf(&b, ",\"resumed_from_step\":");
    if (resumed_from != UINT64_MAX)
        sb_printf(&b, "%llu", (unsigned long long)resumed_from);
    else
        sb_printf(&b, "null");
    sb_printf(&b, ",\"seconds\":");
    run_json_number(&b, pr->seconds);
    sb_printf(&b, ",\"session_seconds\":");
    run_json_number(&b, res->seconds);
    sb_printf(&b, ",\"tiles_per_second\":");
    run_json_number(&b, res->tiles_per_second);
    sb_printf(&b, ",\"train_tiles\":%d,\"val_tiles\":%d,\"best_epoch\":", a->split.n_train,
              a->split.n_val);
    if (a->st.best)
        sb_printf(&b, "%lld", (long long)pr->best_epoch + 1);
    else
        sb_printf(&b, "null");
    sb_printf(&b, ",\"best_val_miou\":");
    run_json_number(&b, a->st.best ? pr->best_miou : NAN);
    sb_printf(&b, ",\"class_weights\":");
    if (a->class_weights) {
        sb_printf(&b, "[");
        for (int k = 0; k < a->pal.n_classes; k++) {
            sb_printf(&b, k ? "," : "");
            run_json_number(&b, a->class_weights[k]);
        }
        sb_printf(&b, "]");
    } else {
        sb_printf(&b, "null");
    }
    sb_printf(&b, ",\"last_epoch\":");
    if (res->has_report)
        run_metrics_json(&b, &res->last, &a->pal);
    else
        sb_printf(&b, "null");
    if (g_size > 1) {
        dist_stats ds;
        dist_get_stats(g_dist, &ds);
        sb_printf(&b, ",\"distributed\":{\"ranks\":%d,\"threads_per_rank\":%d,\"steps\":%llu,"
                      "\"gradient_bytes\":%zu,\"buckets\":%d,\"mpi_wait_seconds\":",
                  g_size, a->o.threads, ds.steps, ds.gradient_floats * sizeof(float), ds.buckets);
        run_json_number(&b, ds.wait_seconds);
        sb_printf(&b, ",\"gradient_wait_seconds\":");
        run_json_number(&b, ds.grad_seconds);
        sb_printf(&b, "}");
    }
    sb_printf(&b, ",\"flags\":%s}\n", a->config.s);
    int rc = 0;
    if (b.nomem) {
        train_error("out of memory");
        rc = -1;
    }
    if (rc == 0 && a->o.json)
        fputs(b.s, stdout);
    if (rc == 0 && a->o.json_file)
        rc = write_file_atomic(a->o.json_file, b.s, b.len);
    free(b.s);
    return rc;
}

/* --report: the HTML file of the run; -1 with the reason printed. */
static int write_report(app *a, const run_progress *ctx, const train_result *res)
{
    const train_progress *pr = &a->st.progress;
    curve_log log = {0};
    if (curve_log_read(a->p.csv, &log) != UNET_OK) {
        train_error("--report: %s", unet_last_error());
        return -1;
    }
    /* The best epoch's metrics when this session ran it, else the last epoch's. */
    const int best_here = a->st.best && ctx->has_best && (int64_t)ctx->best.epoch == pr->best_epoch;
    train_report r = {.model_path = a->o.out, .last_model_path = a->p.last_model, .tiles = a->o.tiles,
                      .pal = &a->pal, .log = &log, .config_json = a->config.s,
                      .metrics = best_here ? &ctx->best : res->has_report ? &res->last : NULL,
                      .metrics_are_best = best_here,
                      .best_epoch = a->st.best ? pr->best_epoch + 1 : 0, .best_miou = pr->best_miou,
                      .epochs_completed = pr->epoch, .steps = pr->global_step, .seconds = pr->seconds,
                      .end = train_end_name(res->end), .n_train = a->split.n_train,
                      .n_val = a->split.n_val};
    size_t size = 0;
    const int rc = train_report_write(a->o.report, &r, &size);
    if (rc != 0)
        train_error("--report: %s", unet_last_error());
    else
        train_note("wrote %s (%zu bytes)", a->o.report, size);
    curve_log_free(&log);
    return rc;
}

static int run(app *a)
{
    options *o = &a->o;
    if (g_size > 1 && o->threads == 0)
        o->threads = dist_default_threads(g_dist);
    if (o->threads > 0)
        omp_set_num_threads(o->threads);
    if (o->batch % g_size && !(o->cv || o->grid || o->budget > 0)) {
        if (g_rank == 0) /* every rank finds it; one message */
            train_error("--batch %ld cannot be split over %d processes: give a multiple of %d", o->batch,
                g_size, g_size);
        return EXIT_USAGE;
    }
    if (g_size > 1 && o->loss != LOSS_CE && !(o->cv || o->grid || o->budget > 0)) {
        if (g_rank == 0) /* Dice and Lovász are losses of the whole batch */
            train_error("--loss %s does not run data-parallel: use one process or --loss ce",
                        loss_kind_name(o->loss));
        return EXIT_USAGE;
    }
    if (run_paths_make(o->out, o->checkpoint_dir, &a->p) != UNET_OK) {
        train_error("out of memory");
        return EXIT_FAILED;
    }

    /* Palette: the tiles' classes.tsv, else the default. */
    char *classes = str_concat(o->tiles, "/classes.tsv");
    if (!classes) {
        train_error("out of memory");
        return EXIT_FAILED;
    }
    if (file_exists(classes)) {
        if (unet_palette_read(classes, &a->pal) != UNET_OK) {
            train_error("%s", unet_last_error());
            free(classes);
            return EXIT_USAGE;
        }
    } else {
        unet_palette_default(&a->pal);
        train_note("%s not found: using the default palette (%d classes)", classes, a->pal.n_classes);
    }
    free(classes);
    if (o->ignore_label < a->pal.n_classes) {
        train_error("--ignore-label %d is a class id (there are %d classes)", o->ignore_label,
            a->pal.n_classes);
        return EXIT_USAGE;
    }
    if (o->cv || o->grid || o->budget > 0)
        return train_search_run(&a->o, &a->pal, &a->p, g_dist, &stop_flag);

    /* Before the checkpoint is read: a run still writing it (the ranks of a
     * killed mpirun linger a moment) must not be resumed under its feet. The
     * descriptor stays open until the process ends. */
    if (g_rank == 0) {
        int lock_fd;
        if (run_lock_acquire(a->p.ckpt_dir, &lock_fd) != UNET_OK) {
            train_error("%s", unet_last_error());
            if (g_size > 1)
                dist_abort(g_dist, EXIT_FAILED);
            return EXIT_FAILED;
        }
    }
    /* State first: a resumed run splits with the checkpoint's seed. */
    int rc = load_state(a);
    if (rc >= 0)
        return rc;
    rc = load_data(a);
    if (rc >= 0)
        return rc;
    const unet_arch *arch = &a->st.params->arch;

    /* Tile size against the depth. */
    int width, height;
    if (tile_set_size(&a->set, &width, &height) != UNET_OK) {
        train_error("%s", unet_last_error());
        return EXIT_USAGE;
    }
    if (o->val_dir) {
        int vw, vh;
        if (tile_set_size(&a->val_set, &vw, &vh) != UNET_OK) {
            train_error("%s", unet_last_error());
            return EXIT_USAGE;
        }
        if (vw != width || vh != height) {
            train_error("validation tiles are %dx%d, training tiles %dx%d", vw, vh, width, height);
            return EXIT_USAGE;
        }
    }
    const int step = 1 << arch->depth;
    if (width % step || height % step) {
        train_error("tiles are %dx%d; a U-Net of depth %d needs multiples of %d: cut tiles with "
            "unet-tile --tile %d or lower --depth",
            width, height, arch->depth, step, (width / step + 1) * step);
        return EXIT_USAGE;
    }

    rc = make_class_weights(o, &a->set, &a->split, a->pal.n_classes, &a->class_weights);
    if (rc != 0)
        return rc < 0 ? EXIT_USAGE : EXIT_FAILED;

    run_config_json(&a->config, o, arch, g_size);
    if (a->config.nomem) {
        train_error("out of memory");
        return EXIT_FAILED;
    }
    const int resuming = a->stored_config != NULL;
    if (resuming && strcmp(a->stored_config, a->config.s) != 0)
        train_warning("the settings differ from the checkpoint's, so the result will differ from an "
             "uninterrupted run:\n  checkpoint: %s\n  now:        %s",
             a->stored_config, a->config.s);

    if (g_rank == 0 && make_dir(a->p.ckpt_dir) != 0)
        return EXIT_FAILED;
    /* Logs: a fresh run starts them anew; a resumed one drops the epochs it repeats. */
    if (g_rank != 0) {
        /* rank 0 writes the files */
    } else if (run_logs_start(&a->p, &a->pal, resuming, a->st.progress.epoch) != UNET_OK) {
        train_error("%s", unet_last_error());
        return EXIT_FAILED;
    }

    const uint64_t spe =
        train_steps_per_epoch(a->split.n_train, (uint64_t)o->crops_per_epoch, (int)o->batch);
    lr_schedule sched = {.kind = o->schedule, .base_lr = o->lr,
                         .total_steps = train_planned_steps((uint64_t)o->epochs, spe, o->max_steps),
                         .steps_per_epoch = spe, .step_size = (uint64_t)o->step_size,
                         .gamma = o->gamma};
    if (!train_messages_quiet()) {
        const int scenes = split_scene_count(&a->set, a->split.train, a->split.n_train);
        train_note("%d training tiles (%d scene%s) of %dx%d%s", a->split.n_train, scenes,
             scenes == 1 ? "" : "s", width, height,
             a->split.n_val ? "" : "; no validation (the final model is the last weights; see "
                                   "--val-fold, --val, --val-dir)");
        if (a->split.n_val) {
            const tile_set *vs = o->val_dir ? &a->val_set : &a->set;
            const int vsc = split_scene_count(vs, a->split.val, a->split.n_val);
            train_note("%d validation tiles (%d scene%s)%s%s", a->split.n_val, vsc, vsc == 1 ? "" : "s",
                 o->val_fold ? ", fold " : "", o->val_fold ? o->val_fold : "");
        }
        if (g_size > 1)
            train_note("data-parallel: %d processes, %ld tiles each per step", g_size,
                 o->batch / g_size);
        train_note("U-Net depth %d, %d filters%s%s, %zu parameters; batch %ld, %llu steps per epoch, "
             "%ld epochs; %s lr %g (%s)%s; %d thread(s)%s",
             arch->depth, arch->base_filters, arch->batchnorm ? ", batch norm" : "",
             arch->dropout > 0 ? ", dropout" : "", params_trainable_count(a->st.params), o->batch,
             (unsigned long long)spe, o->epochs, o->optimizer == OPTIM_ADAM ? "Adam(W)" : "SGD",
             o->lr, schedule_kind_name(o->schedule), o->augment ? "; augmented" : "",
             o->threads > 0 ? o->threads : omp_get_max_threads(),
             g_size > 1 ? " per process" : "");
        if (o->crops_per_epoch)
            train_note("an epoch is %ld random crops of the training scenes (any position, scale "
                       "0.75-1.25), not the tile grid", (long)o->crops_per_epoch);
        if (a->class_weights) {
            fprintf(stderr, PROG ": class weights:");
            for (int k = 0; k < a->pal.n_classes; k++)
                fprintf(stderr, " %s %.3g", a->pal.classes[k].name, (double)a->class_weights[k]);
            fputc('\n', stderr);
        }
        if (o->batch > a->split.n_train)
            train_warning("--batch %ld is more than the %d training tiles: batches repeat tiles", o->batch,
                 a->split.n_train);
        if (resuming)
            train_note("resuming %s at epoch %llu, step %llu", a->p.ckpt,
                 (unsigned long long)a->st.progress.epoch + 1,
                 (unsigned long long)a->st.progress.global_step);
    }

    /* A signal during start-up (reading tiles, counting class pixels) is
     * kept by the handler main installed; nothing is trained yet, so nothing
     * needs saving. */
    if (stop_flag) {
        fprintf(stderr, PROG ": interrupted during start-up, before the first step: nothing trained, no checkpoint written\n");
        return EXIT_INTERRUPTED;
    }

    train_dist hooks;
    if (g_size > 1 && dist_attach(g_dist, a->st.params, &hooks) != UNET_OK) {
        train_error("%s", unet_last_error());
        return EXIT_FAILED;
    }

    run_progress ctx = {.prog = train_messages_error_prog(), .pal = &a->pal, .paths = &a->p,
                        .quiet = train_messages_quiet(),
                        .tty = isatty(STDERR_FILENO)};
    train_data data = {.train_set = &a->set, .train_idx = a->split.train,
                       .n_train = a->split.n_train,
                       .val_set = o->val_dir ? &a->val_set : &a->set, .val_idx = a->split.val,
                       .n_val = a->split.n_val, .width = width, .height = height};
    train_options topt = {.batch = (int)o->batch, .epochs = (uint64_t)o->epochs,
                          .max_steps = o->max_steps, .time_budget = o->time_budget,
                          .schedule = sched, .class_weights = a->class_weights,
                          .loss = {.kind = o->loss, .weight = o->loss_weight},
                          .ignore_label = o->ignore_label, .augment = o->augment,
                          .crops_per_epoch = (uint64_t)o->crops_per_epoch,
                          .early_stop = (uint64_t)o->early_stop, .checkpoint_path = a->p.ckpt,
                          .config_json = a->config.s, .stop = &stop_flag, .user = &ctx,
                          .on_step = run_progress_step, .on_epoch = run_progress_epoch,
                          .dist = g_size > 1 ? &hooks : NULL};
    const uint64_t resumed_from = resuming ? a->st.progress.global_step : UINT64_MAX;
    train_result res;
    unet_status s = train_run(&data, &topt, &a->st, &res);
    run_progress_clear(&ctx);
    if (s != UNET_OK) {
        if (!ctx.log_failed)
            train_error("training stopped: %s", unet_last_error());
        /* The last epoch-end checkpoint stays for --resume. A failure one rank
         * alone saw would leave the others waiting in a collective. */
        if (g_size > 1)
            dist_abort(g_dist, EXIT_FAILED);
        return EXIT_FAILED;
    }
    if (g_rank != 0)
        return res.end == TRAIN_END_INTERRUPTED ? EXIT_INTERRUPTED : EXIT_DONE;
    if (res.end == TRAIN_END_INTERRUPTED) {
        /* Said even with --quiet: it explains exit status 3. */
        fprintf(stderr, PROG ": interrupted at step %llu; state saved to %s (continue with --resume)\n",
                (unsigned long long)a->st.progress.global_step, a->p.ckpt);
        write_summary(a, &res, resumed_from);
        return EXIT_INTERRUPTED;
    }
    switch (res.end) {
    case TRAIN_END_MAX_STEPS: train_note("stopped after --max-steps %llu", (unsigned long long)o->max_steps); break;
    case TRAIN_END_TIME_BUDGET: train_note("stopped: --time-budget %g s used", o->time_budget); break;
    case TRAIN_END_EARLY_STOP:
        train_note("early stop: no better validation mIoU for %ld epochs", o->early_stop);
        break;
    default: break;
    }
    if (export_models(a, &res, a->st.progress.seconds) != 0)
        return EXIT_FAILED;
    char *curves = str_concat(a->p.stem, ".curves.png");
    if (!curves || curves_plot_log_file(a->p.csv, curves) != UNET_OK)
        train_warning("no training curves: %s", curves ? unet_last_error() : "out of memory");
    free(curves);
    if (o->report && write_report(a, &ctx, &res) != 0)
        rc = EXIT_FAILED;
    else
        rc = EXIT_DONE;
    if (write_summary(a, &res, resumed_from) != 0)
        return EXIT_FAILED;
    return rc;
}

int main(int argc, char **argv)
{
    const int dr = dist_init(&argc, &argv, PROG, &g_dist);
    if (dr != 0)
        return dr;
    g_rank = dist_rank(g_dist);
    g_size = dist_size(g_dist);
    app a;
    memset(&a, 0, sizeof a);
    char prog[64] = PROG;
    if (g_size > 1)
        snprintf(prog, sizeof prog, PROG " (rank %d of %d)", g_rank, g_size);
    const int pr = train_options_parse(argc, argv, prog, &a.o);
    /* Other ranks are quiet: errors and the interruption notice still show. */
    train_messages_set(PROG, prog, a.o.quiet || g_rank != 0);
    int rc = pr > 0 ? EXIT_DONE : EXIT_USAGE;
    if (pr == 0) {
        cli_catch_stop_signals(&stop_flag, 1);
        rc = run(&a);
    }
    app_free(&a);
    dist_finish(g_dist);
    return rc;
}
