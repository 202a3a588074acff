/* Cross-validation and hyperparameter search (see cv_search.h; the
 * files it is made of are listed in cv_state.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unet/metrics.h>

#include "cv_state.h"
#include "text_file.h"

/* ---- small helpers -------------------------------------------------------------- */

double cv_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cv_config_json(sbuf *b, const grid_config *c)
{
    sb_printf(b, "{\"lr\":");
    cv_json_double(b, c->lr);
    sb_printf(b, ",\"filters\":%d,\"depth\":%d,\"batchnorm\":%d,\"dropout\":", c->filters,
              c->depth, c->batchnorm);
    cv_json_double(b, c->dropout);
    sb_printf(b, ",\"weight_decay\":");
    cv_json_double(b, c->weight_decay);
    sb_printf(b, ",\"class_weights\":");
    sb_json_string(b, c->class_weights);
    if (c->loss.kind != LOSS_CE) /* absent for ce: earlier runs keep their hashes */
        sb_printf(b, ",\"loss\":\"%s\",\"loss_weight\":%.6g", loss_kind_name(c->loss.kind),
                  loss_has_ce(c->loss.kind) ? c->loss.weight : 1.0);
    sb_printf(b, "}");
}

void cv_msg(const search *S, int kind, const char *fmt, ...) UNET_PRINTF(3, 4);
void cv_msg(const search *S, int kind, const char *fmt, ...)
{
    if (!S->o->message || (S->rank != 0 && kind != CV_MSG_WARNING))
        return; /* rank 0 alone reports progress and tables */
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    S->o->message(S->o->user, kind, buf);
}

int cv_stop_requested(const search *S) { return S->o->stop && *S->o->stop; }

/* ---- data ------------------------------------------------------------------------ */

/* Fold ids: "0".."K-1" must each hold tiles. */
static unet_status load_data(search *S)
{
    const cv_options *o = S->o;
    UNET_TRY(tile_set_scan(o->tiles, &S->set));
    char *folds = o->folds_file ? strdup(o->folds_file) : str_concat(o->tiles, "/folds.tsv");
    if (!folds)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    if (!o->folds_file && !text_file_exists(folds)) {
        unet_status s = unet_set_error(UNET_ERR_ARG,
                                       "cross-validation needs scene folds: %s does not exist "
                                       "(unet-tile --folds K writes it; or give --folds-file)",
                                       folds);
        free(folds);
        return s;
    }
    int unknown = 0;
    unet_status s = tile_set_read_folds(&S->set, folds, &unknown);
    if (s == UNET_OK && unknown)
        cv_msg(S, CV_MSG_NOTE, "%s lists %d name(s) that are not tiles of %s; ignored", folds,
            unknown, o->tiles);
    free(folds);
    UNET_TRY(s);

    int count[CV_MAX_FOLDS] = {0}, others = 0, n_numeric = 0;
    for (int i = 0; i < S->set.n; i++) {
        const char *f = S->set.tiles[i].fold;
        if (!f || strcmp(f, TILES_TEST_FOLD) == 0)
            continue;
        char *end;
        errno = 0;
        const long v = strtol(f, &end, 10);
        if (!errno && end != f && !*end && v >= 0 && v < CV_MAX_FOLDS) {
            n_numeric += count[v] == 0;
            count[v]++;
        } else {
            others++;
        }
    }
    S->k = o->folds > 0 ? o->folds : n_numeric;
    if (S->k < 2 || S->k > CV_MAX_FOLDS)
        return unet_set_error(UNET_ERR_ARG,
                              "cross-validation needs 2..%d folds; the folds file has %d "
                              "numbered fold(s) (re-tile with unet-tile --folds K)",
                              CV_MAX_FOLDS, n_numeric);
    for (int f = 0; f < S->k; f++)
        if (!count[f])
            return unet_set_error(UNET_ERR_ARG,
                                  "fold %d has no tiles: %d-fold cross-validation needs folds "
                                  "0..%d in the folds file (re-tile with unet-tile --folds %d)",
                                  f, S->k, S->k - 1, S->k);
    int beyond = 0;
    for (int f = S->k; f < CV_MAX_FOLDS; f++)
        beyond += count[f];
    if (beyond + others)
        cv_msg(S, CV_MSG_NOTE,
            "%d tile(s) in folds other than 0..%d and \"test\": always trained on, never validated",
            beyond + others, S->k - 1);
    for (int f = 0; f < S->k; f++) {
        char id[16];
        snprintf(id, sizeof id, "%d", f);
        UNET_TRY(split_by_fold(&S->set, id, &S->splits[f]));
        if (S->splits[f].n_train < 1)
            return unet_set_error(UNET_ERR_ARG, "fold %d: no training tiles are left", f);
    }
    UNET_TRY(split_none(&S->set, &S->all));
    S->test_idx = malloc((size_t)(S->set.n > 0 ? S->set.n : 1) * sizeof *S->test_idx);
    if (!S->test_idx)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    for (int i = 0; i < S->set.n; i++)
        if (S->set.tiles[i].fold && strcmp(S->set.tiles[i].fold, TILES_TEST_FOLD) == 0)
            S->test_idx[S->n_test++] = i;
    return tile_set_size(&S->set, &S->width, &S->height);
}

/* Class weights of a configuration on a split (NULL for none). */
unet_status cv_class_weights(const search *S, const grid_config *c, const tile_split *sp,
                                 float **w)
{
    double automatic = 0;
    const int nc = S->o->pal->n_classes;
    UNET_TRY(grid_class_weights_parse(c->class_weights, nc, w, &automatic));
    if (!automatic)
        return UNET_OK;
    uint64_t counts[UNET_PALETTE_MAX_CLASSES];
    UNET_TRY(tiles_class_counts(&S->set, sp->train, sp->n_train, nc, S->o->ignore_label, counts));
    *w = malloc((size_t)nc * sizeof **w);
    if (!*w)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    class_weights_auto(counts, nc, automatic, *w);
    return UNET_OK;
}

/* ---- the search ------------------------------------------------------------------------ */

static unet_status setup(search *S)
{
    const cv_options *o = S->o;
    if (!o->tiles || !o->out || !o->pal || o->batch < 1 || o->epochs < 1)
        return unet_set_error(UNET_ERR_ARG, "cv_search_run: missing tiles, output, palette, "
                                            "batch or epochs");
    if (o->folds == 1 || o->folds > CV_MAX_FOLDS)
        return unet_set_error(UNET_ERR_ARG, "--cv wants 2..%d folds, got %d", CV_MAX_FOLDS,
                              o->folds);
    UNET_TRY(grid_parse(o->grid, &o->base, &S->g));
    const size_t n = strlen(o->out);
    S->stem = n > 5 && strcmp(o->out + n - 5, ".onnx") == 0 ? strndup(o->out, n - 5)
                                                            : strdup(o->out);
    S->dir = S->stem ? str_concat(S->stem, ".search") : NULL;
    S->cfgs = calloc((size_t)S->g.n, sizeof *S->cfgs);
    if (!S->stem || !S->dir || !S->cfgs)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    UNET_TRY(load_data(S));
    for (int i = 0; i < S->g.n; i++) {
        cfg_state *c = &S->cfgs[i];
        c->c = S->g.configs[i];
        c->rung = -1;
        grid_config_label(&c->c, S->g.varied, c->label, sizeof c->label);
        grid_config_slug(&c->c, c->slug, sizeof c->slug);
        const unet_arch a = {.in_channels = 3, .n_classes = o->pal->n_classes,
                             .depth = c->c.depth, .base_filters = c->c.filters,
                             .batchnorm = c->c.batchnorm, .dropout = (float)c->c.dropout};
        c->params = grid_arch_param_count(&a);
        const int m = 1 << c->c.depth;
        if (S->width % m || S->height % m)
            return unet_set_error(UNET_ERR_ARG,
                                  "%s: tiles are %dx%d; a U-Net of depth %d needs multiples of %d",
                                  c->label, S->width, S->height, c->c.depth, m);
        /* Explicit class weights must fit the palette. */
        float *w = NULL;
        double automatic;
        UNET_TRY(grid_class_weights_parse(c->c.class_weights, o->pal->n_classes, &w, &automatic));
        free(w);
    }
    /* Settings every run shares; part of every run's hash. */
    snprintf(S->base_json, sizeof S->base_json,
             "{\"batch\":%d,\"epochs\":%d,\"optimizer\":%d,\"momentum\":%.9g,\"schedule\":%d,"
             "\"step_size\":%d,\"gamma\":%.9g,\"ignore_label\":%d,\"augment\":%d,\"seed\":%llu,"
             "\"max_steps\":%llu,\"early_stop\":%d,\"budget\":%.3f,\"folds\":%d,\"tiles\":\"%dx%d\"}",
             o->batch, o->epochs, o->optimizer, o->momentum, o->schedule, o->step_size, o->gamma,
             o->ignore_label, o->augment, (unsigned long long)o->seed,
             (unsigned long long)o->max_steps, o->early_stop, o->budget, S->k, S->width,
             S->height);
    if (o->crops_per_epoch) { /* absent without crops: earlier runs keep their hashes */
        const size_t end = strlen(S->base_json) - 1; /* its closing brace */
        snprintf(S->base_json + end, sizeof S->base_json - end, ",\"crops_per_epoch\":%llu}",
                 (unsigned long long)o->crops_per_epoch);
    }
    S->rungs = 1;
    if (o->budget > 0)
        while ((1 << (S->rungs - 1)) < S->g.n)
            S->rungs++;
    S->share = o->budget > 0 ? o->budget / (S->rungs + 1) : 0;
    return text_file_mkdir(S->dir);
}

static void search_free(search *S)
{
    if (S->cfgs)
        for (int i = 0; i < S->g.n; i++)
            for (int f = 0; f < CV_MAX_FOLDS; f++)
                free(S->cfgs[i].folds[f].dir);
    free(S->cfgs);
    grid_free(&S->g);
    free(S->stem);
    free(S->dir);
    tile_set_free(&S->set);
    for (int f = 0; f < CV_MAX_FOLDS; f++)
        tile_split_free(&S->splits[f]);
    tile_split_free(&S->all);
    free(S->test_idx);
}

/* One round: the runs i = 0 .. alive x K - 1 of rung r (configuration
 * live[i / K], fold i % K). Rank q of N trains runs q, q + N, q + 2N, ...:
 * a static share by number, which every rank knows without asking anyone (no
 * coordinator to wait for or to lose), spreads each configuration's folds
 * over the ranks, and is the same when the command runs again, so a rank
 * finds the results it wrote. Then every rank gets every result. */
static unet_status run_round(search *S, int r, const int *live, int alive, double limit,
                             int *interrupted)
{
    const cv_options *o = S->o;
    const int n_runs = alive * S->k, N = S->size;
    const int per = (n_runs + N - 1) / N; /* runs of rank 0, the most any rank has */
    run_result *mine = calloc((size_t)per, sizeof *mine);
    run_result *all = calloc((size_t)per * (size_t)N, sizeof *all);
    char **dirs = calloc((size_t)n_runs, sizeof *dirs);
    if (!mine || !all || !dirs) {
        free(mine);
        free(all);
        free(dirs);
        S->out->abort_others = N > 1; /* the others would wait for this rank's results */
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    }
    unet_status s = UNET_OK;
    for (int i = S->rank, j = 0; i < n_runs; i += N, j++) {
        cfg_state *c = &S->cfgs[live[i / S->k]];
        const int f = i % S->k;
        if (cv_stop_requested(S)) {
            *interrupted = 1;
            break;
        }
        const run_spec sp = {.cfg = c, .fold = f, .rung = r, .epochs = (uint64_t)o->epochs,
                             .time_limit = limit, .prev_dir = r > 0 ? c->folds[f].dir : NULL,
                             .prev_owner = c->folds[f].owner};
        s = cv_run_one(S, &sp, &mine[j], &dirs[i], NULL, interrupted);
        if (s != UNET_OK || *interrupted)
            break;
        if (r > 0)
            cv_drop_checkpoint(c->folds[f].dir); /* continued or carried */
        /* Only a run cut by time may continue in a later rung. */
        if (r == S->rungs - 1 || mine[j].end != TRAIN_END_TIME_BUDGET)
            cv_drop_checkpoint(dirs[i]);
    }
    /* A failure or stop on one rank ends the round on every rank here, so none
     * waits for results that will not come. */
    s = cv_exchange(S, s, interrupted, 0, NULL, mine, all, (size_t)per * sizeof *mine);
    for (int i = 0; s == UNET_OK && !*interrupted && i < n_runs; i++) {
        cfg_state *c = &S->cfgs[live[i / S->k]];
        const int f = i % S->k, q = i % N;
        const run_result *res = &all[(size_t)q * (size_t)per + (size_t)(i / N)];
        char *dir = dirs[i];
        dirs[i] = NULL;
        if (!dir) {
            /* Another rank's run: the folder name it used. */
            const run_spec sp = {.cfg = c, .fold = f, .rung = r, .epochs = (uint64_t)o->epochs,
                                 .time_limit = limit};
            s = cv_run_dir(S, &sp, &S->splits[f], &dir);
            if (s != UNET_OK) {
                S->out->abort_others = 1;
                break;
            }
            if (isfinite(res->miou))
                cv_msg(S, CV_MSG_NOTE, "%s, fold %d: val mIoU %.4f, macro F1 %.4f (rank %d, %s)",
                    c->label, f, res->miou, res->f1, q, strrchr(dir, '/') + 1);
        }
        free(c->folds[f].dir);
        c->folds[f].dir = dir;
        c->folds[f].r = *res;
        c->folds[f].owner = q;
        c->rung = r;
    }
    for (int i = 0; i < n_runs; i++)
        free(dirs[i]);
    free(dirs);
    free(mine);
    free(all);
    return s;
}

/* The rungs; *interrupted when a stop request came. */
static unet_status run_rungs(search *S, int *order, int *interrupted)
{
    const int n = S->g.n;
    int alive = n;
    for (int i = 0; i < n; i++)
        order[i] = i;
    double limit = 0;
    for (int r = 0; r < S->rungs; r++) {
        if (S->rungs > 1) {
            limit += S->share / ((double)alive * S->k);
            cv_msg(S, CV_MSG_NOTE,
                "rung %d of %d: %d configuration(s) x %d folds, %.1f s of training per run in all",
                r, S->rungs - 1, alive, S->k, limit);
        }
        /* Grid order within the rung, so runs happen in a stable order. */
        int live[GRID_MAX_CONFIGS];
        memcpy(live, order, (size_t)alive * sizeof *live);
        for (int i = 1; i < alive; i++)
            for (int j = i; j > 0 && live[j - 1] > live[j]; j--) {
                const int t = live[j];
                live[j] = live[j - 1];
                live[j - 1] = t;
            }
        UNET_TRY(run_round(S, r, live, alive, S->rungs > 1 ? limit : 0, interrupted));
        if (*interrupted)
            return UNET_OK;
        for (int i = 0; i < alive; i++)
            cv_score(S, &S->cfgs[live[i]]);
        cv_rank(S, order, alive);
        if (r < S->rungs - 1) {
            const int keep = (alive + 1) / 2;
            for (int i = keep; i < alive; i++)
                for (int f = 0; f < S->k; f++)
                    if (S->cfgs[order[i]].folds[f].owner == S->rank)
                        cv_drop_checkpoint(S->cfgs[order[i]].folds[f].dir);
            char title[64];
            snprintf(title, sizeof title, "rung %d: the best %d go on", r, keep);
            const unet_status s = cv_report_table(S, order, alive, title);
            if (s != UNET_OK) {
                S->out->abort_others = S->size > 1; /* the others go on to the next round */
                return s;
            }
            alive = keep;
        }
    }
    /* Every configuration, ranked. */
    for (int i = 0; i < n; i++)
        order[i] = i;
    cv_rank(S, order, n);
    return UNET_OK;
}

unet_status cv_search_run(const cv_options *o, cv_outcome *out)
{
    memset(out, 0, sizeof *out);
    search S = {.o = o, .out = out, .t0 = cv_now_seconds()};
    int *order = NULL, interrupted = 0;
    train_state fin = {0};
    curve_log final_log = {0};
    char *final_dir = NULL, *path = NULL;
    sbuf sum = {0};
    S.size = 1;
    if (o->ranks && o->ranks->size > 1) {
        if (!o->ranks->allgather || o->ranks->rank < 0 || o->ranks->rank >= o->ranks->size)
            return unet_set_error(UNET_ERR_ARG, "cv_search_run: incomplete cv_ranks");
        S.rank = o->ranks->rank;
        S.size = o->ranks->size;
    }
    unet_status s = setup(&S);
    if (s == UNET_OK) {
        order = malloc((size_t)S.g.n * sizeof *order);
        if (!order)
            s = unet_set_error(UNET_ERR_NOMEM, "out of memory");
    }
    /* Several ranks: all set up alike (tiles, folds, grid), else all stop here. */
    s = cv_exchange(&S, s, &interrupted, 0, NULL, NULL, NULL, 0);
    if (s == UNET_OK) {
        char ranks[96] = "";
        if (S.size > 1)
            snprintf(ranks, sizeof ranks, "; %d ranks, each training runs alone (run i of a "
                     "round on rank i mod %d)", S.size, S.size);
        cv_msg(&S, CV_MSG_NOTE,
            "%d configuration(s) x %d folds on %d tiles of %dx%d (%d test tile(s))%s; runs in %s%s",
            S.g.n, S.k, S.set.n, S.width, S.height, S.n_test,
            S.rungs > 1 ? ", successive halving" : "", S.dir, ranks);
        s = run_rungs(&S, order, &interrupted);
    }
    if (s == UNET_OK && !interrupted) {
        s = cv_report_table(&S, order, S.g.n, "cross-validation ranking (mean \xc2\xb1 sample "
                                           "standard deviation over folds):");
        if (s == UNET_OK && S.rank == 0)
            s = cv_write_grid_csv(&S, order, S.g.n);
        /* Several ranks: rank 0's table written and no stop request on any
         * rank, or every rank stops here. */
        s = cv_exchange(&S, s, &interrupted, 1, NULL, NULL, NULL, 0);
    }
    const cfg_state *best = S.cfgs && order ? &S.cfgs[order[0]] : NULL;
    if (s == UNET_OK && !interrupted && !isfinite(best->miou_mean))
        s = unet_set_error(UNET_ERR_INVALID, "no configuration was validated (no run finished "
                                             "an epoch?)");
    int retrain_epochs = 0, retraining = 0;
    if (s == UNET_OK && !interrupted) {
        sbuf t = {0};
        sb_printf(&t, "best: %s\n", best->label);
        for (int f = 0; f < S.k; f++) {
            const run_result *r = &best->folds[f].r;
            sb_printf(&t, "  fold %d: val mIoU %.4f, macro F1 %.4f, pixel accuracy %.4f, best "
                          "epoch %.0f (%d train / %d val tiles)\n",
                      f, r->miou, r->f1, r->pixel_accuracy, r->best_epoch, S.splits[f].n_train,
                      S.splits[f].n_val);
        }
        char a[48], b[48];
        cv_plus_minus(a, sizeof a, best->miou_mean, best->miou_std);
        cv_plus_minus(b, sizeof b, best->f1_mean, best->f1_std);
        sb_printf(&t, "  mean: val mIoU %s, macro F1 %s", a, b);
        if (!t.nomem)
            cv_msg(&S, CV_MSG_REPORT, "%s", t.s);
        free(t.s);
        const double e = isfinite(best->epoch_mean) ? round(best->epoch_mean) : o->epochs;
        retrain_epochs = e < 1 ? 1 : e > o->epochs ? o->epochs : (int)e;
        /* Several ranks: data-parallel when the batch splits evenly (the
         * trainer's own path), else rank 0 alone while the others wait. */
        const int dp = S.size > 1 && o->ranks->attach && o->batch % S.size == 0 &&
                       best->c.loss.kind == LOSS_CE; /* Dice/Lovász: whole-batch losses */
        char how[128] = "";
        if (dp)
            snprintf(how, sizeof how, ", data-parallel over %d ranks", S.size);
        else if (S.size > 1 && best->c.loss.kind != LOSS_CE)
            snprintf(how, sizeof how, ", on rank 0 alone (--loss %s is not data-parallel)",
                     loss_kind_name(best->c.loss.kind));
        else if (S.size > 1)
            snprintf(how, sizeof how, ", on rank 0 alone (--batch %d does not split over %d "
                     "ranks)", o->batch, S.size);
        cv_msg(&S, CV_MSG_NOTE, "retraining %s on all %d training tiles for %d epoch(s) (the mean "
            "best epoch %.2f)%s", best->label, S.all.n_train, retrain_epochs, best->epoch_mean,
            how);
        const run_spec sp = {.cfg = best, .fold = -1, .rung = 0,
                             .epochs = (uint64_t)retrain_epochs, .time_limit = S.share, .dp = dp};
        run_result res;
        retraining = 1;
        if (S.size == 1 && cv_stop_requested(&S)) {
            interrupted = 1; /* several ranks: looked at in the exchange above */
        } else if (dp || S.rank == 0) {
            s = cv_run_one(&S, &sp, &res, &final_dir, &fin, &interrupted);
            /* A failure one rank alone saw leaves the others in a collective. */
            if (dp && s != UNET_OK && !out->failed_everywhere)
                out->abort_others = 1;
        }
    }
    const int lead = S.rank == 0; /* evaluates, writes the summary and the model */
    unet_metrics test;
    int have_test = 0;
    if (s == UNET_OK && !interrupted && lead && S.n_test > 0) {
        s = cv_evaluate(&S, fin.params, S.test_idx, S.n_test, &test);
        have_test = s == UNET_OK;
        if (have_test)
            cv_msg(&S, CV_MSG_REPORT, "test (%d tile(s) of fold \"test\", evaluated once): mIoU "
                "%.4f, macro F1 %.4f, pixel accuracy %.4f",
                S.n_test, test.mean_iou, test.macro_f1, test.pixel_accuracy);
    }
    if (s == UNET_OK && !interrupted && lead) {
        sb_printf(&sum, "{\"program\":\"unet-train\",\"version\":\"" UNET_VERSION_STRING
                        "\",\"mode\":\"%s\",\"folds\":%d,\"configurations\":%d,\"rungs\":%d,"
                        "\"ranks\":%d,\"budget_seconds\":",
                  S.rungs > 1 || o->budget > 0 ? "successive_halving" : "grid", S.k, S.g.n,
                  S.rungs, S.size);
        cv_json_double(&sum, o->budget > 0 ? o->budget : NAN);
        sb_printf(&sum, ",\"runs\":%d,\"runs_trained\":%d,\"runs_resumed\":%d,"
                        "\"runs_skipped\":%d,\"runs_carried\":%d,\"ranking\":[",
                  out->runs, out->trained, out->resumed, out->skipped, out->carried);
        for (int i = 0; i < S.g.n; i++) {
            sb_printf(&sum, "%s", i ? "," : "");
            cv_cfg_json(&sum, &S, &S.cfgs[order[i]]);
        }
        sb_printf(&sum, "],\"best\":");
        cv_cfg_json(&sum, &S, best);
        sb_printf(&sum, ",\"retrain\":{\"epochs\":%d,\"train_tiles\":%d,\"run\":", retrain_epochs,
                  S.all.n_train);
        sb_json_string(&sum, strrchr(final_dir, '/') + 1);
        sb_printf(&sum, ",\"model\":");
        sb_json_string(&sum, o->out);
        sb_printf(&sum, "},\"test\":");
        if (have_test) {
            sb_printf(&sum, "{\"tiles\":%d,\"miou\":", S.n_test);
            cv_json_double(&sum, test.mean_iou);
            sb_printf(&sum, ",\"macro_f1\":");
            cv_json_double(&sum, test.macro_f1);
            sb_printf(&sum, ",\"pixel_accuracy\":");
            cv_json_double(&sum, test.pixel_accuracy);
            sb_printf(&sum, "}");
        } else {
            sb_printf(&sum, "null");
        }
        sb_printf(&sum, ",\"base\":%s,\"seconds\":", S.base_json);
        cv_json_double(&sum, cv_now_seconds() - S.t0);
        sb_printf(&sum, "}");
        if (sum.nomem)
            s = unet_set_error(UNET_ERR_NOMEM, "out of memory");
    }
    if (s == UNET_OK && !interrupted && lead) {
        s = cv_export_model(&S, o->out, fin.params, sum.s);
        if (s == UNET_OK)
            cv_msg(&S, CV_MSG_NOTE, "wrote %s (%s, %d epoch(s) on all training tiles)", o->out,
                best->label, retrain_epochs);
    }
    if (s == UNET_OK && !interrupted && lead) {
        /* The retrain's log beside the model, and the curves. */
        char *src = str_concat(final_dir, "/log.csv");
        path = str_concat(S.stem, ".log.csv");
        if (src && path && curve_log_read(src, &final_log) == UNET_OK)
            s = curve_log_write(path, &final_log);
        unet_clear_error();
        free(src);
        if (s == UNET_OK)
            cv_plot_final(&S, best, &final_log);
        free(path);
        path = str_concat(S.dir, "/summary.json");
        if (s == UNET_OK)
            s = path ? atomic_file_write_all(path, sum.s, sum.len)
                     : unet_set_error(UNET_ERR_NOMEM, "out of memory");
    }
    /* Several ranks: every rank ends with rank 0's outcome (a failure, a
     * stop during its retrain), not before it is done. */
    if (retraining && !out->abort_others)
        s = cv_exchange(&S, s, &interrupted, 0, NULL, NULL, NULL, 0);
    if (s == UNET_OK && !interrupted && lead) {
        out->summary_json = sum.s;
        sum.s = NULL;
    }
    out->interrupted = interrupted;
    free(sum.s);
    free(path);
    free(final_dir);
    free(order);
    curve_log_free(&final_log);
    train_state_free(&fin);
    search_free(&S);
    return s;
}

void cv_outcome_free(cv_outcome *out)
{
    free(out->summary_json);
    out->summary_json = NULL;
}

