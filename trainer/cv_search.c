/* Cross-validation and hyperparameter search (see cv_search.h). */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <unet/metrics.h>

#include "checkpoint.h"
#include "curves.h"
#include "cv_search.h"
#include "data.h"
#include "error.h"
#include "export_onnx.h"
#include "loader.h"
#include "optimizer.h"
#include "schedule.h"
#include "text_file.h"
#include "text_format.h"
#include "train_loop.h"

#define CV_MAX_FOLDS 64

/* JSON numbers of results round-trip doubles exactly, so a search read back
 * prints the same tables as the one that trained. */
static void sb_num(sbuf *b, double v) { sb_json_number(b, v, 17); }

/* ---- reading back our own JSON -------------------------------------------------- */

/* The number after "key": (null gives NaN); -1 when the key is absent. The
 * files read here are the ones this module writes, whose keys are unique. */
static int json_number(const char *text, const char *key, double *out)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    if (strncmp(p, "null", 4) == 0) {
        *out = NAN;
        return 0;
    }
    char *end;
    const double v = strtod(p, &end);
    if (end == p)
        return -1;
    *out = v;
    return 0;
}

/* The string after "key": into buf (no escapes expected); -1 when absent. */
static int json_string(const char *text, const char *key, char *buf, size_t size)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(text, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    const char *q = strchr(p, '"');
    if (!q || (size_t)(q - p) >= size)
        return -1;
    memcpy(buf, p, (size_t)(q - p));
    buf[q - p] = '\0';
    return 0;
}

/* ---- small helpers -------------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

static void config_json(sbuf *b, const grid_config *c)
{
    sb_printf(b, "{\"lr\":");
    sb_num(b, c->lr);
    sb_printf(b, ",\"filters\":%d,\"depth\":%d,\"batchnorm\":%d,\"dropout\":", c->filters,
              c->depth, c->batchnorm);
    sb_num(b, c->dropout);
    sb_printf(b, ",\"weight_decay\":");
    sb_num(b, c->weight_decay);
    sb_printf(b, ",\"class_weights\":");
    sb_json_string(b, c->class_weights);
    if (c->loss.kind != LOSS_CE) /* absent for ce: earlier runs keep their hashes */
        sb_printf(b, ",\"loss\":\"%s\",\"loss_weight\":%.6g", loss_kind_name(c->loss.kind),
                  loss_has_ce(c->loss.kind) ? c->loss.weight : 1.0);
    sb_printf(b, "}");
}

/* ---- the search's state ------------------------------------------------------------ */

/* One finished run, as its result.json says. */
typedef struct run_result {
    int done;
    int end;
    double epochs_completed, steps, steps_per_epoch;
    double best_epoch, best_epoch_fraction;
    double miou, f1, pixel_accuracy, val_loss;
    double seconds;
    double sessions;
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

static void msg(const search *S, int kind, const char *fmt, ...) UNET_PRINTF(3, 4);
static void msg(const search *S, int kind, const char *fmt, ...)
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

static int stop_requested(const search *S) { return S->o->stop && *S->o->stop; }

/* ---- the other ranks (cv_options.ranks) ------------------------------------------ */

/* What a rank tells the others at each synchronisation point. Sent as bytes:
 * every rank runs the same program, so they mean the same everywhere. */
typedef struct rank_note {
    int32_t status;      /* unet_status of this rank so far */
    int32_t interrupted; /* a run stopped by a stop request (or, when asked, one pending) */
    int32_t counts[5];   /* runs it trained, resumed, ... since the last note (counter()) */
    int32_t values[2];   /* rank 0's decisions, for everyone */
    char message[480];   /* why it failed */
} rank_note;

static int *counter(cv_outcome *out, int i)
{
    int *const c[5] = {&out->runs, &out->trained, &out->resumed, &out->skipped, &out->carried};
    return c[i];
}

/* Every rank's note and payload (bytes each; payloads gets size x bytes, rank
 * by rank) to every rank, at the same point of every rank's search. After it
 * the run counters add up every rank's runs, a failure on any rank is every
 * rank's (the first failing rank's status and message), a stop on any rank
 * stops all (check_stop: a stop request not yet acted on counts too), and
 * values holds rank 0's. One process: nothing to exchange, s as it is. */
static unet_status exchange(search *S, unet_status s, int *interrupted, int check_stop,
                            int32_t values[2], const void *payload, void *payloads, size_t bytes)
{
    if (S->size == 1) {
        if (bytes)
            memcpy(payloads, payload, bytes);
        return s;
    }
    rank_note mine;
    memset(&mine, 0, sizeof mine);
    mine.status = s;
    mine.interrupted = (interrupted && *interrupted) || (check_stop && stop_requested(S));
    for (int i = 0; i < 5; i++)
        mine.counts[i] = *counter(S->out, i) - S->counted[i];
    if (values)
        memcpy(mine.values, values, sizeof mine.values);
    if (s != UNET_OK)
        snprintf(mine.message, sizeof mine.message, "%s", unet_last_error());
    const size_t stride = sizeof mine + bytes;
    char *buf = malloc(stride * (size_t)(S->size + 1));
    if (!buf) {
        S->out->abort_others = 1; /* the others wait in the exchange */
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    }
    char *all = buf + stride;
    memcpy(buf, &mine, sizeof mine);
    if (bytes)
        memcpy(buf + sizeof mine, payload, bytes);
    const cv_ranks *R = S->o->ranks;
    if (R->allgather(R->ctx, buf, all, stride) != UNET_OK) {
        free(buf);
        S->out->abort_others = 1;
        return UNET_ERR_IO;
    }
    int first = -1, stop = 0, alike = 1; /* alike: every rank failed with the same message */
    unet_status agreed = UNET_OK;
    char why[sizeof mine.message];
    for (int r = 0; r < S->size; r++) {
        rank_note n;
        memcpy(&n, all + (size_t)r * stride, sizeof n);
        n.message[sizeof n.message - 1] = '\0';
        if (r != S->rank)
            for (int i = 0; i < 5; i++)
                *counter(S->out, i) += n.counts[i];
        if (n.status != UNET_OK && first < 0) {
            first = r;
            agreed = (unet_status)n.status;
            memcpy(why, n.message, sizeof why);
        }
        alike = alike && n.status != UNET_OK && strcmp(n.message, why) == 0;
        stop |= n.interrupted != 0;
        if (r == 0 && values)
            memcpy(values, n.values, sizeof n.values);
        if (bytes)
            memcpy((char *)payloads + (size_t)r * bytes, all + (size_t)r * stride + sizeof n,
                   bytes);
    }
    free(buf);
    for (int i = 0; i < 5; i++)
        S->counted[i] = *counter(S->out, i);
    if (interrupted)
        *interrupted = stop;
    if (first < 0)
        return UNET_OK;
    S->out->failed_everywhere = 1;
    if (alike) /* e.g. a bad --grid: no rank to blame */
        return unet_set_error(agreed, "%s", why);
    return unet_set_error(agreed, "rank %d: %s", first, why);
}

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
        msg(S, CV_MSG_NOTE, "%s lists %d name(s) that are not tiles of %s; ignored", folds,
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
        msg(S, CV_MSG_NOTE,
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
static unet_status class_weights(const search *S, const grid_config *c, const tile_split *sp,
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

/* ---- one run ----------------------------------------------------------------------- */

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

typedef struct epoch_ctx {
    const search *S;
    curve_log *log;
    const char *log_path;
    const run_spec *spec;
} epoch_ctx;

static unet_status on_epoch(void *user, const train_epoch_report *r)
{
    epoch_ctx *e = user;
    curve_row row = {.epoch = (int)r->epoch + 1, .partial = r->partial,
                     .step = r->global_step, .lr = r->lr, .train_loss = r->train_loss,
                     .train_accuracy = r->train_accuracy,
                     .val_loss = r->has_val ? r->val_loss : NAN,
                     .val_pixel_accuracy = r->has_val ? r->val.pixel_accuracy : NAN,
                     .val_miou = r->has_val ? r->val.mean_iou : NAN,
                     .val_macro_f1 = r->has_val ? r->val.macro_f1 : NAN,
                     .best = r->is_best, .epoch_seconds = r->epoch_seconds};
    UNET_TRY(curve_log_append(e->log, &row));
    UNET_TRY(curve_log_write(e->log_path, e->log));
    if (r->has_val)
        msg(e->S, CV_MSG_EPOCH, "  epoch %llu%s: train loss %.4f, val loss %.4f, mIoU %.4f, "
            "macro F1 %.4f%s",
            (unsigned long long)r->epoch + 1, r->partial ? " (partial)" : "", r->train_loss,
            r->val_loss, r->val.mean_iou, r->val.macro_f1, r->is_best ? " *" : "");
    else
        msg(e->S, CV_MSG_EPOCH, "  epoch %llu%s: train loss %.4f, train accuracy %.2f%%",
            (unsigned long long)r->epoch + 1, r->partial ? " (partial)" : "", r->train_loss,
            100 * r->train_accuracy);
    return UNET_OK;
}

/* The run's folder name and the description its hash covers. */
static unet_status run_dir(const search *S, const run_spec *sp, const tile_split *split,
                           char **dir)
{
    sbuf d = {0};
    config_json(&d, &sp->cfg->c);
    sb_printf(&d, "|%s|fold=%d|rung=%d|epochs=%llu|limit=%.3f|train=%d|val=%d", S->base_json,
              sp->fold, sp->rung, (unsigned long long)sp->epochs, sp->time_limit, split->n_train,
              split->n_val);
    if (d.nomem)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    const uint64_t h = fnv1a(d.s);
    free(d.s);
    char name[400];
    if (sp->fold >= 0)
        snprintf(name, sizeof name, "/%s.fold%d.r%d.%08x", sp->cfg->slug, sp->fold, sp->rung,
                 (unsigned)(h ^ (h >> 32)));
    else
        snprintf(name, sizeof name, "/%s.final.%08x", sp->cfg->slug, (unsigned)(h ^ (h >> 32)));
    *dir = str_concat(S->dir, name);
    return *dir ? UNET_OK : unet_set_error(UNET_ERR_NOMEM, "out of memory");
}

static unet_status read_result(const char *path, const char *id, run_result *r)
{
    memset(r, 0, sizeof *r);
    char *t;
    UNET_TRY(text_file_read(path, &t, NULL));
    char got[400], end[32];
    int bad = json_string(t, "id", got, sizeof got) != 0 || strcmp(got, id) != 0 ||
              json_string(t, "end", end, sizeof end) != 0 || train_end_from_name(end) < 0;
    struct {
        const char *key;
        double *v;
    } keys[] = {{"epochs_completed", &r->epochs_completed}, {"steps", &r->steps},
                {"steps_per_epoch", &r->steps_per_epoch}, {"best_epoch", &r->best_epoch},
                {"best_epoch_fraction", &r->best_epoch_fraction}, {"val_miou", &r->miou},
                {"val_macro_f1", &r->f1}, {"val_pixel_accuracy", &r->pixel_accuracy},
                {"val_loss", &r->val_loss}, {"seconds", &r->seconds}, {"sessions", &r->sessions}};
    for (size_t i = 0; !bad && i < sizeof keys / sizeof keys[0]; i++)
        bad = json_number(t, keys[i].key, keys[i].v) != 0;
    if (!bad)
        r->end = train_end_from_name(end);
    free(t);
    if (bad)
        return unet_set_error(UNET_ERR_PARSE, "%s is not a result of run %s", path, id);
    r->done = 1;
    return UNET_OK;
}

static unet_status write_result(const search *S, const run_spec *sp, const char *path,
                                const char *id, const run_result *r, const tile_split *split,
                                const char *carried_from)
{
    sbuf b = {0};
    sb_printf(&b, "{\"id\":");
    sb_json_string(&b, id);
    sb_printf(&b, ",\"config\":");
    config_json(&b, &sp->cfg->c);
    sb_printf(&b, ",\"label\":");
    sb_json_string(&b, sp->cfg->label);
    if (sp->fold >= 0)
        sb_printf(&b, ",\"fold\":%d", sp->fold);
    else
        sb_printf(&b, ",\"fold\":null");
    sb_printf(&b, ",\"rung\":%d,\"epochs_limit\":%llu,\"time_limit\":", sp->rung,
              (unsigned long long)sp->epochs);
    sb_num(&b, sp->time_limit > 0 ? sp->time_limit : NAN);
    sb_printf(&b, ",\"end\":\"%s\",\"epochs_completed\":%.0f,\"steps\":%.0f,\"steps_per_epoch\":%.0f",
              train_end_name(r->end), r->epochs_completed, r->steps, r->steps_per_epoch);
    sb_printf(&b, ",\"best_epoch\":");
    sb_num(&b, r->best_epoch);
    sb_printf(&b, ",\"best_epoch_fraction\":");
    sb_num(&b, r->best_epoch_fraction);
    sb_printf(&b, ",\"val_miou\":");
    sb_num(&b, r->miou);
    sb_printf(&b, ",\"val_macro_f1\":");
    sb_num(&b, r->f1);
    sb_printf(&b, ",\"val_pixel_accuracy\":");
    sb_num(&b, r->pixel_accuracy);
    sb_printf(&b, ",\"val_loss\":");
    sb_num(&b, r->val_loss);
    sb_printf(&b, ",\"seconds\":");
    sb_num(&b, r->seconds);
    sb_printf(&b, ",\"sessions\":%.0f,\"parameters\":%zu,\"train_tiles\":%d,\"val_tiles\":%d",
              r->sessions, sp->cfg->params, split->n_train, split->n_val);
    /* Which process wrote it, and how many trained it together. */
    sb_printf(&b, ",\"rank\":%d,\"processes\":%d", S->rank, sp->dp ? S->size : 1);
    sb_printf(&b, ",\"carried_from\":");
    if (carried_from)
        sb_json_string(&b, carried_from);
    else
        sb_printf(&b, "null");
    sb_printf(&b, ",\"finished_unix\":%lld}\n", (long long)time(NULL));
    if (b.nomem)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    unet_status s = atomic_file_write_all(path, b.s, b.len);
    free(b.s);
    return s;
}

/* The result from the run's log: its best validated epoch (the first of
 * equal ones, as the training loop keeps it). */
static void result_from_log(const curve_log *log, const train_progress *pr, int end, uint64_t spe,
                            double sessions, run_result *r)
{
    memset(r, 0, sizeof *r);
    r->done = 1;
    r->end = end;
    r->epochs_completed = (double)pr->epoch;
    r->steps = (double)pr->global_step;
    r->steps_per_epoch = (double)spe;
    r->seconds = pr->seconds;
    r->sessions = sessions;
    r->best_epoch = r->best_epoch_fraction = r->miou = r->f1 = r->pixel_accuracy = r->val_loss = NAN;
    int best = -1;
    for (int i = 0; i < log->n; i++)
        if (isfinite(log->rows[i].val_miou) &&
            (best < 0 || log->rows[i].val_miou > log->rows[best].val_miou))
            best = i;
    if (best < 0) {
        /* No validation (the retrain): the last row stands for the run. */
        if (log->n > 0)
            r->best_epoch_fraction = spe ? (double)log->rows[log->n - 1].step / (double)spe : NAN;
        return;
    }
    const curve_row *b = &log->rows[best];
    r->best_epoch = b->epoch;
    r->best_epoch_fraction = spe ? (double)b->step / (double)spe : (double)b->epoch;
    r->miou = b->val_miou;
    r->f1 = b->val_macro_f1;
    r->pixel_accuracy = b->val_pixel_accuracy;
    r->val_loss = b->val_loss;
}

/* Trains (or skips, resumes, carries over) one run. *keep, when given, gets
 * the final state (the retrain's weights). *interrupted when a stop request
 * ended it (state saved). */
static unet_status run_one(search *S, const run_spec *sp, run_result *res, char **dir_out,
                           train_state *keep, int *interrupted)
{
    const cv_options *o = S->o;
    const tile_split *split = sp->fold >= 0 ? &S->splits[sp->fold] : &S->all;
    /* Writes the run's files and counts it: data-parallel, rank 0 for all. */
    const int lead = !sp->dp || S->rank == 0;
    *interrupted = 0;
    char *dir = NULL, *result = NULL, *ckpt = NULL, *logp = NULL, *png = NULL;
    char *prev_result = NULL, *prev_ckpt = NULL, *prev_log = NULL, *stored = NULL;
    float *cw = NULL;
    train_state st = {0};
    curve_log log = {0};
    unet_status s = run_dir(S, sp, split, &dir);
    if (s != UNET_OK)
        return s;
    const char *id = strrchr(dir, '/') + 1;
    result = str_concat(dir, "/result.json");
    ckpt = str_concat(dir, "/last.ckpt");
    logp = str_concat(dir, "/log.csv");
    png = str_concat(dir, "/curves.png");
    if (sp->prev_dir) {
        prev_result = str_concat(sp->prev_dir, "/result.json");
        prev_ckpt = str_concat(sp->prev_dir, "/last.ckpt");
        prev_log = str_concat(sp->prev_dir, "/log.csv");
    }
    if (!result || !ckpt || !logp || !png ||
        (sp->prev_dir && (!prev_result || !prev_ckpt || !prev_log))) {
        s = unet_set_error(UNET_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (lead)
        S->out->runs++;
    char what[64];
    if (sp->fold >= 0)
        snprintf(what, sizeof what, "fold %d", sp->fold);
    else
        snprintf(what, sizeof what, "all %d training tiles", split->n_train);
    char rung_txt[96] = "";
    if (sp->fold < 0 && sp->time_limit > 0)
        snprintf(rung_txt, sizeof rung_txt, " (at most %.1f s)", sp->time_limit);
    else if (S->rungs > 1)
        snprintf(rung_txt, sizeof rung_txt, ", rung %d (%.1f s of training in all)", sp->rung,
                 sp->time_limit);

    /* Finished before: skip; or resume its checkpoint. Data-parallel: rank 0
     * looks and every rank follows (the others need not see its files). */
    int finished = 0, has_ckpt = 0;
    if (lead && !o->force && text_file_exists(result)) {
        if (read_result(result, id, res) == UNET_OK)
            finished = 1;
        else
            msg(S, CV_MSG_WARNING, "%s; training the run again", unet_last_error());
    }
    if (lead && !finished)
        has_ckpt = !o->force && text_file_exists(ckpt);
    if (sp->dp) {
        int32_t v[2] = {finished, has_ckpt};
        s = exchange(S, UNET_OK, NULL, 0, v, NULL, NULL, 0);
        if (s != UNET_OK)
            goto done;
        finished = v[0];
        has_ckpt = v[1];
    }
    if (finished) {
        if (lead) {
            S->out->skipped++;
            msg(S, CV_MSG_NOTE, "%s, %s%s: done before (%s), skipped", sp->cfg->label, what,
                rung_txt, id);
        }
        goto done;
    }
    if (lead) {
        s = text_file_mkdir(dir);
        if (s != UNET_OK)
            goto done;
    }

    /* The rung before ended for good (epochs, early stop, step cap): nothing to continue. */
    run_result prev = {0};
    if (sp->prev_dir && (s = read_result(prev_result, strrchr(sp->prev_dir, '/') + 1, &prev)) != UNET_OK) {
        if (sp->prev_owner != S->rank && !text_file_exists(prev_result))
            unet_wrap_error(s, "run %s continues run %s, which rank %d trained, but this rank "
                            "(%d) cannot see its folder: several ranks need %s on a "
                            "filesystem they share for --budget",
                            id, strrchr(sp->prev_dir, '/') + 1, sp->prev_owner, S->rank, S->dir);
        goto done;
    }
    if (sp->prev_dir && prev.end != TRAIN_END_TIME_BUDGET) {
        *res = prev;
        s = curve_log_read(prev_log, &log);
        if (s == UNET_OK)
            s = curve_log_write(logp, &log);
        if (s == UNET_OK)
            s = write_result(S, sp, result, id, res, split, strrchr(sp->prev_dir, '/') + 1);
        if (s == UNET_OK) {
            S->out->carried++;
            msg(S, CV_MSG_NOTE, "%s, %s%s: ended at rung %d (%s); result carried over",
                sp->cfg->label, what, rung_txt, sp->rung - 1, train_end_name(prev.end));
        }
        goto done;
    }

    /* State: own checkpoint (resume), the rung before's (continue) or fresh. */
    const unet_arch arch = {.in_channels = 3, .n_classes = o->pal->n_classes,
                            .depth = sp->cfg->c.depth, .base_filters = sp->cfg->c.filters,
                            .batchnorm = sp->cfg->c.batchnorm,
                            .dropout = (float)sp->cfg->c.dropout};
    const char *from = NULL, *from_log = NULL;
    double sessions = 0;
    if (has_ckpt) {
        from = ckpt;
        from_log = logp;
        if (lead)
            S->out->resumed++;
    } else if (sp->prev_dir) {
        from = prev_ckpt;
        from_log = prev_log;
        sessions = prev.sessions;
    }
    if (from) {
        s = checkpoint_read(from, &st, &stored);
        if (s != UNET_OK) {
            if (!lead)
                unet_wrap_error(s, "the data-parallel retrain resumes rank 0's checkpoint, so "
                                "every rank must see %s (a filesystem they share)", S->dir);
            goto done;
        }
        const unet_arch *a = &st.params->arch;
        if (a->depth != arch.depth || a->base_filters != arch.base_filters ||
            a->batchnorm != arch.batchnorm || a->n_classes != arch.n_classes ||
            st.opt->cfg.kind != o->optimizer) {
            s = unet_set_error(UNET_ERR_INVALID,
                               "%s holds another network or optimiser than run %s asks for", from,
                               id);
            goto done;
        }
        if (lead && text_file_exists(from_log)) {
            s = curve_log_read(from_log, &log);
            if (s != UNET_OK)
                goto done;
        }
        curve_log_truncate(&log, (int)st.progress.epoch);
        if (from == ckpt && (!stored || json_number(stored, "sessions", &sessions) != 0 ||
                             !(sessions >= 0)))
            sessions = 0;
    } else {
        s = params_create(&arch, &st.params);
        if (s != UNET_OK)
            goto done;
        params_init_he(st.params, o->seed);
        optim_config oc;
        optim_config_default(&oc, o->optimizer);
        s = optimizer_create(&oc, st.params, &st.opt);
        if (s != UNET_OK)
            goto done;
        train_progress_init(&st.progress, o->seed);
    }
    st.opt->cfg.momentum = o->momentum;
    st.opt->cfg.weight_decay = sp->cfg->c.weight_decay;
    if (lead)
        s = curve_log_write(logp, &log);
    if (s == UNET_OK)
        s = class_weights(S, &sp->cfg->c, split, &cw);
    if (s != UNET_OK)
        goto done;

    const uint64_t spe = train_steps_per_epoch(split->n_train, o->batch);
    const lr_schedule sched = {
        .kind = o->schedule, .base_lr = sp->cfg->c.lr,
        .total_steps = train_planned_steps((uint64_t)o->epochs, spe, o->max_steps),
        .steps_per_epoch = spe, .step_size = (uint64_t)o->step_size, .gamma = o->gamma};
    double budget = 0;
    if (sp->time_limit > 0) {
        budget = sp->time_limit - st.progress.seconds;
        if (budget < 1e-3)
            budget = 1e-3;
    }
    /* Stored in the checkpoint: the run, its configuration and the session count. */
    sbuf cfgj = {0};
    sb_printf(&cfgj, "{\"run\":");
    sb_json_string(&cfgj, id);
    sb_printf(&cfgj, ",\"config\":");
    config_json(&cfgj, &sp->cfg->c);
    sb_printf(&cfgj, ",\"sessions\":%.0f}", sessions + 1);
    if (cfgj.nomem) {
        s = unet_set_error(UNET_ERR_NOMEM, "out of memory");
        goto done;
    }
    msg(S, CV_MSG_NOTE, "%s, %s%s: %s (%d train / %d val tiles, %zu parameters)", sp->cfg->label,
        what, rung_txt,
        from == ckpt ? "resuming its checkpoint" : from ? "continuing the rung before" : "training",
        split->n_train, split->n_val, sp->cfg->params);
    train_dist hooks; /* data-parallel: gradients summed over every rank */
    if (sp->dp && (s = S->o->ranks->attach(S->o->ranks->ctx, st.params, &hooks)) != UNET_OK) {
        free(cfgj.s);
        goto done;
    }
    epoch_ctx ectx = {.S = S, .log = &log, .log_path = logp, .spec = sp};
    const train_data data = {.train_set = &S->set, .train_idx = split->train,
                             .n_train = split->n_train, .val_set = split->n_val ? &S->set : NULL,
                             .val_idx = split->val, .n_val = split->n_val, .width = S->width,
                             .height = S->height};
    const train_options topt = {.batch = o->batch, .epochs = sp->epochs,
                                .max_steps = o->max_steps, .time_budget = budget,
                                .schedule = sched, .class_weights = cw, .loss = sp->cfg->c.loss,
                                .ignore_label = o->ignore_label, .augment = o->augment,
                                .early_stop = split->n_val ? (uint64_t)o->early_stop : 0,
                                .checkpoint_path = ckpt, .config_json = cfgj.s, .stop = o->stop,
                                .user = &ectx, .on_epoch = on_epoch,
                                .dist = sp->dp ? &hooks : NULL};
    train_result tr;
    s = train_run(&data, &topt, &st, &tr);
    free(cfgj.s);
    if (s != UNET_OK) {
        unet_wrap_error(s, "run %s", id);
        goto done;
    }
    if (tr.end == TRAIN_END_INTERRUPTED) {
        *interrupted = 1;
        goto done;
    }
    if (!lead)
        goto done; /* rank 0 logged the epochs and writes the result */
    if (!from || from != ckpt)
        S->out->trained++;
    result_from_log(&log, &st.progress, tr.end, spe, sessions + 1, res);
    s = write_result(S, sp, result, id, res, split, NULL);
    if (s != UNET_OK)
        goto done;
    if (curves_plot_log(&log, png) != UNET_OK)
        msg(S, CV_MSG_WARNING, "no curves for %s: %s", id, unet_last_error());
    char dur[32];
    format_duration(res->seconds, 1, dur, sizeof dur);
    const double trained = spe ? res->steps / (double)spe : 0;
    if (split->n_val)
        msg(S, CV_MSG_NOTE, "%s, %s: val mIoU %.4f, macro F1 %.4f (best epoch %.0f; %.1f epochs "
            "trained, %s, ended by %s)",
            sp->cfg->label, what, res->miou, res->f1, res->best_epoch, trained, dur,
            train_end_name(res->end));
    else if (res->end == TRAIN_END_TIME_BUDGET)
        msg(S, CV_MSG_WARNING, "the retrain used up its share of the budget after %.1f of %llu "
            "epochs", trained, (unsigned long long)sp->epochs);

done:
    if (s == UNET_OK && !*interrupted && keep && lead) {
        if (!st.params) {
            /* Skipped or carried: the weights are in the run's checkpoint. */
            free(stored);
            stored = NULL;
            s = checkpoint_read(ckpt, &st, &stored);
            if (s != UNET_OK)
                unet_wrap_error(s, "the finished retrain's weights");
        }
        if (s == UNET_OK) {
            *keep = st;
            memset(&st, 0, sizeof st);
        }
    }
    if (s == UNET_OK && dir_out) {
        *dir_out = dir;
        dir = NULL;
    }
    train_state_free(&st);
    curve_log_free(&log);
    free(cw);
    free(stored);
    free(dir);
    free(result);
    free(ckpt);
    free(logp);
    free(png);
    free(prev_result);
    free(prev_ckpt);
    free(prev_log);
    return s;
}

/* Removes a finished run's checkpoint once nothing continues it. */
static void drop_checkpoint(const char *dir)
{
    char *p = str_concat(dir, "/last.ckpt");
    if (p)
        unlink(p);
    free(p);
}

/* ---- ranking ------------------------------------------------------------------------- */

static void score(search *S, cfg_state *c)
{
    double sm = 0, sf = 0, se = 0, sec = 0;
    int n = 0, ne = 0;
    for (int f = 0; f < S->k; f++) {
        const run_result *r = &c->folds[f].r;
        if (!r->done)
            continue;
        sec += r->seconds;
        if (!isfinite(r->miou))
            continue;
        sm += r->miou;
        sf += isfinite(r->f1) ? r->f1 : 0;
        n++;
        if (isfinite(r->best_epoch_fraction)) {
            se += r->best_epoch_fraction;
            ne++;
        }
    }
    c->n_scored = n;
    c->seconds = sec;
    c->miou_mean = n ? sm / n : NAN;
    c->f1_mean = n ? sf / n : NAN;
    c->epoch_mean = ne ? se / ne : NAN;
    double vm = 0, vf = 0;
    for (int f = 0; f < S->k; f++) {
        const run_result *r = &c->folds[f].r;
        if (!r->done || !isfinite(r->miou))
            continue;
        vm += (r->miou - c->miou_mean) * (r->miou - c->miou_mean);
        const double f1 = isfinite(r->f1) ? r->f1 : 0;
        vf += (f1 - c->f1_mean) * (f1 - c->f1_mean);
    }
    c->miou_std = n > 1 ? sqrt(vm / (n - 1)) : NAN;
    c->f1_std = n > 1 ? sqrt(vf / (n - 1)) : NAN;
}

static const cfg_state *rank_base;

/* Higher rung first, then mean mIoU (unscored last), mean macro F1, grid order. */
static int rank_cmp(const void *pa, const void *pb)
{
    const int a = *(const int *)pa, b = *(const int *)pb;
    const cfg_state *x = &rank_base[a], *y = &rank_base[b];
    if (x->rung != y->rung)
        return x->rung > y->rung ? -1 : 1;
    const int fx = isfinite(x->miou_mean), fy = isfinite(y->miou_mean);
    if (fx != fy)
        return fx ? -1 : 1;
    if (fx && x->miou_mean != y->miou_mean)
        return x->miou_mean > y->miou_mean ? -1 : 1;
    if (isfinite(x->f1_mean) && isfinite(y->f1_mean) && x->f1_mean != y->f1_mean)
        return x->f1_mean > y->f1_mean ? -1 : 1;
    return a < b ? -1 : a > b;
}

static void rank(search *S, int *order, int n)
{
    rank_base = S->cfgs;
    qsort(order, (size_t)n, sizeof *order, rank_cmp);
}

/* s padded with spaces to width characters (UTF-8 aware). */
static void sb_pad(sbuf *b, const char *s, int width)
{
    int w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        w += (*p & 0xC0) != 0x80;
    sb_printf(b, "%s%*s", s, width > w ? width - w : 0, "");
}

static void pm(char *buf, size_t size, double mean, double sd)
{
    if (!isfinite(mean))
        snprintf(buf, size, "-");
    else if (!isfinite(sd))
        snprintf(buf, size, "%.4f", mean);
    else
        snprintf(buf, size, "%.4f \xc2\xb1 %.4f", mean, sd);
}

static unet_status report_table(search *S, const int *order, int n, const char *title)
{
    sbuf t = {0};
    sb_printf(&t, "%s\n%4s  %-36s %s%-17s  %-17s  %6s  %10s  %8s\n", title, "rank",
              "configuration", S->rungs > 1 ? "rung  " : "", "val mIoU", "val macro F1", "epoch",
              "parameters", "time");
    for (int i = 0; i < n; i++) {
        const cfg_state *c = &S->cfgs[order[i]];
        char a[48], b[48], dur[32], rung[16] = "";
        pm(a, sizeof a, c->miou_mean, c->miou_std);
        pm(b, sizeof b, c->f1_mean, c->f1_std);
        format_duration(c->seconds, 1, dur, sizeof dur);
        if (S->rungs > 1)
            snprintf(rung, sizeof rung, "%4d  ", c->rung);
        sb_printf(&t, "%4d  ", i + 1);
        sb_pad(&t, c->label, 36);
        sb_printf(&t, " %s", rung);
        sb_pad(&t, a, 17);
        sb_printf(&t, "  ");
        sb_pad(&t, b, 17);
        sb_printf(&t, "  %6.1f  %10zu  %8s\n", c->epoch_mean, c->params, dur);
    }
    if (t.nomem)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    msg(S, CV_MSG_REPORT, "%s", t.s);
    free(t.s);
    return UNET_OK;
}

static unet_status write_grid_csv(search *S, const int *order, int n)
{
    sbuf b = {0};
    sb_printf(&b, "rank,configuration,lr,filters,depth,batchnorm,dropout,weight_decay,"
                  "class_weights,rung,folds,miou_mean,miou_std,macro_f1_mean,macro_f1_std,"
                  "best_epoch_mean,parameters,train_seconds");
    for (int f = 0; f < S->k; f++)
        sb_printf(&b, ",miou_fold%d", f);
    for (int f = 0; f < S->k; f++)
        sb_printf(&b, ",macro_f1_fold%d", f);
    sb_printf(&b, "\n");
    for (int i = 0; i < n; i++) {
        const cfg_state *c = &S->cfgs[order[i]];
        sb_printf(&b, "%d,\"%s\"", i + 1, c->label);
        sb_csv_number(&b, c->c.lr);
        sb_printf(&b, ",%d,%d,%d", c->c.filters, c->c.depth, c->c.batchnorm);
        sb_csv_number(&b, c->c.dropout);
        sb_csv_number(&b, c->c.weight_decay);
        sb_printf(&b, ",\"%s\",%d,%d", c->c.class_weights, c->rung, c->n_scored);
        sb_csv_number(&b, c->miou_mean);
        sb_csv_number(&b, c->miou_std);
        sb_csv_number(&b, c->f1_mean);
        sb_csv_number(&b, c->f1_std);
        sb_csv_number(&b, c->epoch_mean);
        sb_printf(&b, ",%zu", c->params);
        sb_csv_number(&b, c->seconds);
        for (int f = 0; f < S->k; f++)
            sb_csv_number(&b, c->folds[f].r.done ? c->folds[f].r.miou : NAN);
        for (int f = 0; f < S->k; f++)
            sb_csv_number(&b, c->folds[f].r.done ? c->folds[f].r.f1 : NAN);
        sb_printf(&b, "\n");
    }
    if (b.nomem)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    char *path = str_concat(S->stem, ".grid.csv");
    unet_status s = path ? atomic_file_write_all(path, b.s, b.len)
                         : unet_set_error(UNET_ERR_NOMEM, "out of memory");
    free(path);
    free(b.s);
    return s;
}

/* ---- test evaluation ------------------------------------------------------------------ */

static unet_status evaluate(search *S, unet_params *params, const int *idx, int n,
                            unet_metrics *m)
{
    const int nc = params->arch.n_classes, batch = S->o->batch;
    const size_t hw = (size_t)S->width * (size_t)S->height;
    unet_net *net = NULL;
    loader *ld = NULL;
    unet_confusion cm = {0};
    uint8_t *pred = malloc((size_t)batch * hw);
    unet_status s = pred ? UNET_OK : unet_set_error(UNET_ERR_NOMEM, "out of memory");
    if (s == UNET_OK)
        s = unet_confusion_init(&cm, nc);
    if (s == UNET_OK)
        s = net_create(params, batch, S->height, S->width, &net);
    if (s == UNET_OK)
        s = loader_create(batch, S->width, S->height, nc, S->o->ignore_label, &ld);
    if (s == UNET_OK)
        s = loader_start(ld, &S->set, idx, n, 0, 0, 0);
    for (int bi = 0; s == UNET_OK && bi < (n + batch - 1) / batch; bi++) {
        const loader_batch *b;
        s = loader_next(ld, &b);
        if (s == UNET_OK)
            s = net_forward(net, b->x, 0);
        if (s != UNET_OK)
            break;
        const float *p = net_probs(net);
        for (int k = 0; k < b->n_valid; k++)
            for (size_t i = 0; i < hw; i++) {
                const float *q = p + (size_t)k * (size_t)nc * hw + i;
                int best = 0;
                for (int c = 1; c < nc; c++)
                    if (q[(size_t)c * hw] > q[(size_t)best * hw])
                        best = c;
                pred[(size_t)k * hw + i] = (uint8_t)best;
            }
        s = unet_confusion_add(&cm, b->y, pred, (size_t)b->n_valid * hw, S->o->ignore_label);
    }
    if (s == UNET_OK)
        unet_metrics_compute(&cm, m);
    loader_free(ld);
    net_free(net);
    unet_confusion_free(&cm);
    free(pred);
    return s;
}

/* ---- summary, curves, export --------------------------------------------------------- */

static void fold_json(sbuf *b, const search *S, const cfg_state *c)
{
    sb_printf(b, "[");
    for (int f = 0; f < S->k; f++) {
        const run_result *r = &c->folds[f].r;
        sb_printf(b, "%s{\"fold\":%d,\"val_miou\":", f ? "," : "", f);
        sb_num(b, r->done ? r->miou : NAN);
        sb_printf(b, ",\"val_macro_f1\":");
        sb_num(b, r->done ? r->f1 : NAN);
        sb_printf(b, ",\"val_pixel_accuracy\":");
        sb_num(b, r->done ? r->pixel_accuracy : NAN);
        sb_printf(b, ",\"best_epoch\":");
        sb_num(b, r->done ? r->best_epoch : NAN);
        sb_printf(b, ",\"seconds\":");
        sb_num(b, r->done ? r->seconds : NAN);
        sb_printf(b, ",\"run\":");
        if (c->folds[f].dir)
            sb_json_string(b, strrchr(c->folds[f].dir, '/') + 1);
        else
            sb_printf(b, "null");
        sb_printf(b, "}");
    }
    sb_printf(b, "]");
}

static void cfg_json(sbuf *b, const search *S, const cfg_state *c)
{
    sb_printf(b, "{\"label\":");
    sb_json_string(b, c->label);
    sb_printf(b, ",\"config\":");
    config_json(b, &c->c);
    sb_printf(b, ",\"rung\":%d,\"miou_mean\":", c->rung);
    sb_num(b, c->miou_mean);
    sb_printf(b, ",\"miou_std\":");
    sb_num(b, c->miou_std);
    sb_printf(b, ",\"macro_f1_mean\":");
    sb_num(b, c->f1_mean);
    sb_printf(b, ",\"macro_f1_std\":");
    sb_num(b, c->f1_std);
    sb_printf(b, ",\"best_epoch_mean\":");
    sb_num(b, c->epoch_mean);
    sb_printf(b, ",\"parameters\":%zu,\"train_seconds\":", c->params);
    sb_num(b, c->seconds);
    sb_printf(b, ",\"folds\":");
    fold_json(b, S, c);
    sb_printf(b, "}");
}

/* The retrain's curves with the winner's validation curves (mean over folds
 * per epoch, where every scored fold has the epoch) beside them. */
static void plot_final(search *S, const cfg_state *best, const curve_log *final_log)
{
    char *png = str_concat(S->stem, ".curves.png");
    int n_cv = 0;
    curve_log folds[CV_MAX_FOLDS];
    memset(folds, 0, sizeof folds);
    for (int f = 0; f < S->k; f++) {
        char *p = best->folds[f].dir ? str_concat(best->folds[f].dir, "/log.csv") : NULL;
        if (p && curve_log_read(p, &folds[n_cv]) == UNET_OK)
            n_cv++;
        else
            unet_clear_error();
        free(p);
    }
    int n = 0;
    for (int i = 0; i < n_cv; i++)
        if (i == 0 || folds[i].n < n)
            n = folds[i].n;
    const int nf = final_log->n;
    double *buf = malloc((size_t)(n + nf + 1) * 8 * sizeof *buf);
    if (png && buf) {
        double *x = buf, *tl = x + n, *vl = tl + n, *ta = vl + n, *va = ta + n, *vm = va + n;
        double *fx = vm + n, *fl = fx + nf;
        for (int e = 0; e < n; e++) {
            x[e] = e + 1;
            tl[e] = vl[e] = ta[e] = va[e] = vm[e] = 0;
            for (int i = 0; i < n_cv; i++) {
                const curve_row *r = &folds[i].rows[e];
                tl[e] += r->train_loss / n_cv;
                vl[e] += r->val_loss / n_cv;
                ta[e] += r->train_accuracy / n_cv;
                va[e] += r->val_pixel_accuracy / n_cv;
                vm[e] += r->val_miou / n_cv;
            }
        }
        for (int e = 0; e < nf; e++) {
            fx[e] = final_log->rows[e].epoch;
            fl[e] = final_log->rows[e].train_loss;
        }
        double *fa = malloc((size_t)(nf + 1) * sizeof *fa);
        if (fa) {
            for (int e = 0; e < nf; e++)
                fa[e] = final_log->rows[e].train_accuracy;
            const curve_series loss[3] = {{"cv train", {31, 119, 180}, n, x, tl},
                                          {"cv val", {255, 127, 14}, n, x, vl},
                                          {"final train", {120, 120, 120}, nf, fx, fl}};
            const curve_series acc[4] = {{"cv train acc", {31, 119, 180}, n, x, ta},
                                         {"cv val acc", {255, 127, 14}, n, x, va},
                                         {"cv val miou", {44, 160, 44}, n, x, vm},
                                         {"final train acc", {120, 120, 120}, nf, fx, fa}};
            const curve_panel panels[2] = {{"loss", 3, loss, 0, 0},
                                           {"accuracy and miou", 4, acc, 0, 1}};
            if (curves_plot(png, panels, 2) != UNET_OK)
                msg(S, CV_MSG_WARNING, "no curves plot: %s", unet_last_error());
            free(fa);
        }
    }
    for (int i = 0; i < n_cv; i++)
        curve_log_free(&folds[i]);
    free(buf);
    free(png);
}

static unet_status export_model(search *S, const unet_params *params, const char *training_json)
{
    const unet_palette *pal = S->o->pal;
    const char *names[UNET_PALETTE_MAX_CLASSES], *colors[UNET_PALETTE_MAX_CLASSES];
    char hex[UNET_PALETTE_MAX_CLASSES][8];
    for (int k = 0; k < pal->n_classes; k++) {
        names[k] = pal->classes[k].name;
        unet_format_hex_color(pal->classes[k].rgb, hex[k]);
        colors[k] = hex[k];
    }
    const unet_export_meta meta = {.n_classes = pal->n_classes, .class_names = names,
                                   .class_colors = colors, .training_json = training_json};
    return unet_export_onnx(S->o->out, params, &meta);
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
        if (stop_requested(S)) {
            *interrupted = 1;
            break;
        }
        const run_spec sp = {.cfg = c, .fold = f, .rung = r, .epochs = (uint64_t)o->epochs,
                             .time_limit = limit, .prev_dir = r > 0 ? c->folds[f].dir : NULL,
                             .prev_owner = c->folds[f].owner};
        s = run_one(S, &sp, &mine[j], &dirs[i], NULL, interrupted);
        if (s != UNET_OK || *interrupted)
            break;
        if (r > 0)
            drop_checkpoint(c->folds[f].dir); /* continued or carried */
        /* Only a run cut by time may continue in a later rung. */
        if (r == S->rungs - 1 || mine[j].end != TRAIN_END_TIME_BUDGET)
            drop_checkpoint(dirs[i]);
    }
    /* A failure or stop on one rank ends the round on every rank here, so none
     * waits for results that will not come. */
    s = exchange(S, s, interrupted, 0, NULL, mine, all, (size_t)per * sizeof *mine);
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
            s = run_dir(S, &sp, &S->splits[f], &dir);
            if (s != UNET_OK) {
                S->out->abort_others = 1;
                break;
            }
            if (isfinite(res->miou))
                msg(S, CV_MSG_NOTE, "%s, fold %d: val mIoU %.4f, macro F1 %.4f (rank %d, %s)",
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
            msg(S, CV_MSG_NOTE,
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
            score(S, &S->cfgs[live[i]]);
        rank(S, order, alive);
        if (r < S->rungs - 1) {
            const int keep = (alive + 1) / 2;
            for (int i = keep; i < alive; i++)
                for (int f = 0; f < S->k; f++)
                    if (S->cfgs[order[i]].folds[f].owner == S->rank)
                        drop_checkpoint(S->cfgs[order[i]].folds[f].dir);
            char title[64];
            snprintf(title, sizeof title, "rung %d: the best %d go on", r, keep);
            const unet_status s = report_table(S, order, alive, title);
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
    rank(S, order, n);
    return UNET_OK;
}

unet_status cv_search_run(const cv_options *o, cv_outcome *out)
{
    memset(out, 0, sizeof *out);
    search S = {.o = o, .out = out, .t0 = now_seconds()};
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
    s = exchange(&S, s, &interrupted, 0, NULL, NULL, NULL, 0);
    if (s == UNET_OK) {
        char ranks[96] = "";
        if (S.size > 1)
            snprintf(ranks, sizeof ranks, "; %d ranks, each training runs alone (run i of a "
                     "round on rank i mod %d)", S.size, S.size);
        msg(&S, CV_MSG_NOTE,
            "%d configuration(s) x %d folds on %d tiles of %dx%d (%d test tile(s))%s; runs in %s%s",
            S.g.n, S.k, S.set.n, S.width, S.height, S.n_test,
            S.rungs > 1 ? ", successive halving" : "", S.dir, ranks);
        s = run_rungs(&S, order, &interrupted);
    }
    if (s == UNET_OK && !interrupted) {
        s = report_table(&S, order, S.g.n, "cross-validation ranking (mean \xc2\xb1 sample "
                                           "standard deviation over folds):");
        if (s == UNET_OK && S.rank == 0)
            s = write_grid_csv(&S, order, S.g.n);
        /* Several ranks: rank 0's table written and no stop request on any
         * rank, or every rank stops here. */
        s = exchange(&S, s, &interrupted, 1, NULL, NULL, NULL, 0);
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
        pm(a, sizeof a, best->miou_mean, best->miou_std);
        pm(b, sizeof b, best->f1_mean, best->f1_std);
        sb_printf(&t, "  mean: val mIoU %s, macro F1 %s", a, b);
        if (!t.nomem)
            msg(&S, CV_MSG_REPORT, "%s", t.s);
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
        msg(&S, CV_MSG_NOTE, "retraining %s on all %d training tiles for %d epoch(s) (the mean "
            "best epoch %.2f)%s", best->label, S.all.n_train, retrain_epochs, best->epoch_mean,
            how);
        const run_spec sp = {.cfg = best, .fold = -1, .rung = 0,
                             .epochs = (uint64_t)retrain_epochs, .time_limit = S.share, .dp = dp};
        run_result res;
        retraining = 1;
        if (S.size == 1 && stop_requested(&S)) {
            interrupted = 1; /* several ranks: looked at in the exchange above */
        } else if (dp || S.rank == 0) {
            s = run_one(&S, &sp, &res, &final_dir, &fin, &interrupted);
            /* A failure one rank alone saw leaves the others in a collective. */
            if (dp && s != UNET_OK && !out->failed_everywhere)
                out->abort_others = 1;
        }
    }
    const int lead = S.rank == 0; /* evaluates, writes the summary and the model */
    unet_metrics test;
    int have_test = 0;
    if (s == UNET_OK && !interrupted && lead && S.n_test > 0) {
        s = evaluate(&S, fin.params, S.test_idx, S.n_test, &test);
        have_test = s == UNET_OK;
        if (have_test)
            msg(&S, CV_MSG_REPORT, "test (%d tile(s) of fold \"test\", evaluated once): mIoU "
                "%.4f, macro F1 %.4f, pixel accuracy %.4f",
                S.n_test, test.mean_iou, test.macro_f1, test.pixel_accuracy);
    }
    if (s == UNET_OK && !interrupted && lead) {
        sb_printf(&sum, "{\"program\":\"unet-train\",\"version\":\"" UNET_VERSION_STRING
                        "\",\"mode\":\"%s\",\"folds\":%d,\"configurations\":%d,\"rungs\":%d,"
                        "\"ranks\":%d,\"budget_seconds\":",
                  S.rungs > 1 || o->budget > 0 ? "successive_halving" : "grid", S.k, S.g.n,
                  S.rungs, S.size);
        sb_num(&sum, o->budget > 0 ? o->budget : NAN);
        sb_printf(&sum, ",\"runs\":%d,\"runs_trained\":%d,\"runs_resumed\":%d,"
                        "\"runs_skipped\":%d,\"runs_carried\":%d,\"ranking\":[",
                  out->runs, out->trained, out->resumed, out->skipped, out->carried);
        for (int i = 0; i < S.g.n; i++) {
            sb_printf(&sum, "%s", i ? "," : "");
            cfg_json(&sum, &S, &S.cfgs[order[i]]);
        }
        sb_printf(&sum, "],\"best\":");
        cfg_json(&sum, &S, best);
        sb_printf(&sum, ",\"retrain\":{\"epochs\":%d,\"train_tiles\":%d,\"run\":", retrain_epochs,
                  S.all.n_train);
        sb_json_string(&sum, strrchr(final_dir, '/') + 1);
        sb_printf(&sum, ",\"model\":");
        sb_json_string(&sum, o->out);
        sb_printf(&sum, "},\"test\":");
        if (have_test) {
            sb_printf(&sum, "{\"tiles\":%d,\"miou\":", S.n_test);
            sb_num(&sum, test.mean_iou);
            sb_printf(&sum, ",\"macro_f1\":");
            sb_num(&sum, test.macro_f1);
            sb_printf(&sum, ",\"pixel_accuracy\":");
            sb_num(&sum, test.pixel_accuracy);
            sb_printf(&sum, "}");
        } else {
            sb_printf(&sum, "null");
        }
        sb_printf(&sum, ",\"base\":%s,\"seconds\":", S.base_json);
        sb_num(&sum, now_seconds() - S.t0);
        sb_printf(&sum, "}");
        if (sum.nomem)
            s = unet_set_error(UNET_ERR_NOMEM, "out of memory");
    }
    if (s == UNET_OK && !interrupted && lead) {
        s = export_model(&S, fin.params, sum.s);
        if (s == UNET_OK)
            msg(&S, CV_MSG_NOTE, "wrote %s (%s, %d epoch(s) on all training tiles)", o->out,
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
            plot_final(&S, best, &final_log);
        free(path);
        path = str_concat(S.dir, "/summary.json");
        if (s == UNET_OK)
            s = path ? atomic_file_write_all(path, sum.s, sum.len)
                     : unet_set_error(UNET_ERR_NOMEM, "out of memory");
    }
    /* Several ranks: every rank ends with rank 0's outcome (a failure, a
     * stop during its retrain), not before it is done. */
    if (retraining && !out->abort_others)
        s = exchange(&S, s, &interrupted, 0, NULL, NULL, NULL, 0);
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
