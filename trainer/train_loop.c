/* The training loop (see train_loop.h). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "loader.h"
#include "net_dist.h"
#include "net_ext.h"
#include "train_loop.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t train_steps_per_epoch(int n_train, uint64_t crops_per_epoch, int batch)
{
    const uint64_t samples =
        crops_per_epoch ? crops_per_epoch : (uint64_t)(n_train > 0 ? n_train : 0);
    return samples < 1 || batch < 1 ? 0 : (samples + (uint64_t)batch - 1) / (uint64_t)batch;
}

uint64_t train_epoch_steps(const train_data *d, const train_options *o)
{
    return train_steps_per_epoch(d->n_train, o->crops_per_epoch, o->batch);
}

uint64_t train_planned_steps(uint64_t epochs, uint64_t steps_per_epoch, uint64_t max_steps)
{
    const uint64_t all = epochs * steps_per_epoch;
    return max_steps && max_steps < all ? max_steps : all;
}

/* The epoch's visiting order, steps x batch long: a seeded permutation of the
 * training tiles, wrapped around to fill the last batch. */
static void epoch_order(const train_data *d, uint64_t seed, uint64_t epoch, int *perm, int *order,
                        size_t order_len)
{
    for (int i = 0; i < d->n_train; i++)
        perm[i] = d->train_idx[i];
    uint64_t r = mix64(seed ^ mix64(epoch + 0x2545f4914f6cdd1dULL));
    for (int i = d->n_train - 1; i > 0; i--) {
        r = mix64(r);
        const int j = (int)(r % (uint64_t)(i + 1));
        const int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t k = 0; k < order_len; k++)
        order[k] = perm[k % (size_t)d->n_train];
}

static uint64_t epoch_aug_seed(uint64_t seed, uint64_t epoch)
{
    return mix64(seed ^ mix64(epoch ^ 0xa0761d6478bd642fULL));
}

static uint64_t epoch_crop_seed(uint64_t seed, uint64_t epoch)
{
    return mix64(seed ^ mix64(epoch ^ 0xe7037ed1a0b428dbULL));
}

static void argmax_classes(const float *probs, int batch, int n_classes, size_t hw, uint8_t *out)
{
    for (int b = 0; b < batch; b++) {
        const float *p = probs + (size_t)b * (size_t)n_classes * hw;
        uint8_t *o = out + (size_t)b * hw;
        for (size_t i = 0; i < hw; i++) {
            int best = 0;
            float v = p[i];
            for (int c = 1; c < n_classes; c++)
                if (p[(size_t)c * hw + i] > v) {
                    v = p[(size_t)c * hw + i];
                    best = c;
                }
            o[i] = (uint8_t)best;
        }
    }
}

typedef struct loop {
    const train_data *d;
    const train_options *o;
    train_state *st;
    train_result *res;
    unet_net *net;
    loader *ld;
    int n_classes;
    size_t hw;
    uint64_t spe, planned;
    int *perm, *order;
    crop_source crops; /* o->crops_per_epoch > 0: the training tiles laid out by image */
    uint8_t *pred;
    unet_confusion cm;
    /* data-parallel: this rank's share of each global batch */
    const train_dist *dist; /* NULL: one process */
    int rank, size, lb;     /* lb: local batch (o->batch when alone) */
    int *local_order;       /* spe * lb tile indices */
    double *red;            /* reduction buffer, n_classes^2 + 4 doubles */
    double session_start, train_time; /* train_time: seconds in optimiser steps this session */
    uint64_t session_tiles;
} loop;

static int stop_requested(const loop *L) { return L->o->stop && *L->o->stop; }

/* FNV-1a 64 over every parameter's bytes (BN running statistics included). */
static uint64_t weights_checksum(const unet_params *ps)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < ps->n; i++) {
        const unsigned char *b = (const unsigned char *)ps->p[i].data;
        for (size_t k = 0; k < ps->p[i].count * sizeof(float); k++)
            h = (h ^ b[k]) * 0x100000001b3ULL;
    }
    return h;
}

/* Data-parallel runs: all ranks must hold the same weights. */
static unet_status check_same_weights(loop *L)
{
    if (!L->dist || !L->dist->check_same)
        return UNET_OK;
    return L->dist->check_same(L->dist->ctx, weights_checksum(L->st->params),
                               L->st->progress.global_step);
}

static unet_status save_checkpoint(loop *L)
{
    if (!L->o->checkpoint_path)
        return UNET_OK;
    UNET_TRY(check_same_weights(L));
    if (L->rank != 0)
        return UNET_OK; /* rank 0 writes for everyone */
    unet_status s = checkpoint_write(L->o->checkpoint_path, L->st, L->o->config_json);
    if (s == UNET_OK && L->o->on_checkpoint)
        L->o->on_checkpoint(L->o->user, L->o->checkpoint_path, &L->st->progress);
    return s;
}

/* Pixel accuracy of the last training forward on this rank's batch. */
static void batch_accuracy(loop *L, const uint8_t *labels, uint64_t *correct, uint64_t *counted)
{
    argmax_classes(net_probs(L->net), L->lb, L->n_classes, L->hw, L->pred);
    const size_t n = (size_t)L->lb * L->hw;
    for (size_t i = 0; i < n; i++) {
        const int y = labels[i];
        if (y == L->o->ignore_label || y >= L->n_classes)
            continue;
        (*counted)++;
        *correct += L->pred[i] == y;
    }
}

/* Data-parallel: the global batch's loss and accuracy, and this rank's loss
 * gradient rescaled from its own weight sum to the global one. */
static void global_loss(loop *L, const uint8_t *labels, double *loss, uint64_t *correct,
                        uint64_t *counted)
{
    const float *cw = L->o->class_weights;
    double wsum = 0;
    const size_t n = (size_t)L->lb * L->hw;
    for (size_t i = 0; i < n; i++) {
        const int y = labels[i];
        if (y != L->o->ignore_label && y < L->n_classes)
            wsum += cw ? cw[y] : 1.0;
    }
    uint64_t c = 0, k = 0;
    batch_accuracy(L, labels, &c, &k);
    double v[4] = {*loss * wsum, wsum, (double)c, (double)k};
    L->dist->reduce_sums(L->dist->ctx, v, 4);
    net_scale_loss_grad(L->net, v[1] > 0 ? (float)(wsum / v[1]) : 0.0f);
    *loss = v[1] > 0 ? v[0] / v[1] : 0;
    *correct = (uint64_t)v[2];
    *counted = (uint64_t)v[3];
}

/* One optimiser step on the next loader batch. */
static unet_status train_step(loop *L, double *lr_out)
{
    train_progress *pr = &L->st->progress;
    const double t0 = now_seconds();
    const loader_batch *b;
    UNET_TRY(loader_next(L->ld, &b));
    double loss = 0;
    uint64_t correct = 0, counted = 0;
    UNET_TRY(net_forward(L->net, b->x, 1));
    UNET_TRY(net_loss_spec(L->net, &L->o->loss, b->y, L->o->class_weights, L->o->ignore_label,
                           &loss));
    if (L->dist)
        global_loss(L, b->y, &loss, &correct, &counted);
    if (!isfinite(loss))
        return unet_set_error(UNET_ERR_INVALID,
                              "the training loss became %g at step %llu (epoch %llu); try a "
                              "lower --lr",
                              loss, (unsigned long long)pr->global_step + 1,
                              (unsigned long long)pr->epoch + 1);
    UNET_TRY(net_backward(L->net));
    if (L->dist)
        UNET_TRY(L->dist->grads_finish(L->dist->ctx));
    const double lr = schedule_lr(&L->o->schedule, pr->global_step);
    UNET_TRY(optimizer_step(L->st->opt, L->st->params, lr));
    *lr_out = lr;

    /* Pixel accuracy of this batch's training forward. */
    if (!L->dist)
        batch_accuracy(L, b->y, &correct, &counted);
    const double dt = now_seconds() - t0;
    pr->global_step++;
    pr->step_in_epoch++;
    pr->dropout_counter = net_dropout_counter(L->net);
    pr->epoch_loss_sum += loss;
    pr->epoch_batches++;
    pr->epoch_correct += correct;
    pr->epoch_pixels += counted;
    pr->seconds += dt;
    pr->epoch_seconds += dt;
    if (L->dist && pr->global_step % TRAIN_DIST_CHECK_EVERY == 0)
        UNET_TRY(check_same_weights(L));
    L->res->steps++;
    L->train_time += dt;
    L->session_tiles += (uint64_t)L->o->batch;

    if (L->o->on_step) {
        train_step_info info = {
            .epoch = pr->epoch, .epochs = L->o->epochs, .step_in_epoch = pr->step_in_epoch,
            .steps_per_epoch = L->spe, .global_step = pr->global_step,
            .planned_steps = L->planned, .loss = loss, .lr = lr};
        info.tiles_per_second = L->train_time > 0 ? (double)L->session_tiles / L->train_time : 0;
        const double per_step = L->train_time / (double)L->res->steps;
        info.eta_seconds = L->planned > pr->global_step
                               ? per_step * (double)(L->planned - pr->global_step) : 0;
        L->o->on_step(L->o->user, &info);
    }
    return UNET_OK;
}

/* Validation pass; *stopped = 1 when a stop request cut it short. */
static unet_status validate(loop *L, train_epoch_report *r, int *stopped)
{
    const train_data *d = L->d;
    unet_confusion_reset(&L->cm);
    const double t0 = now_seconds();
    /* Data-parallel: rank r validates tiles [n r / R, n (r+1) / R). */
    const int v0 = (int)((int64_t)d->n_val * L->rank / L->size);
    const int v1 = (int)((int64_t)d->n_val * (L->rank + 1) / L->size);
    if (v1 > v0)
        UNET_TRY(loader_start(L->ld, d->val_set, d->val_idx + v0, v1 - v0, 0, 0, 0));
    const int n_batches = (v1 - v0 + L->lb - 1) / L->lb;
    double loss_sum = 0, weight_sum = 0;
    const float *cw = L->o->class_weights;
    for (int bi = 0; bi < n_batches; bi++) {
        if (!L->dist && stop_requested(L)) {
            *stopped = 1;
            break;
        }
        const loader_batch *b;
        UNET_TRY(loader_next(L->ld, &b));
        UNET_TRY(net_forward(L->net, b->x, 0));
        const float *probs = net_probs(L->net);
        argmax_classes(probs, b->n_valid, L->n_classes, L->hw, L->pred);
        UNET_TRY(unet_confusion_add(&L->cm, b->y, L->pred, (size_t)b->n_valid * L->hw,
                                    L->o->ignore_label));
        for (int k = 0; k < b->n_valid; k++) {
            const float *p = probs + (size_t)k * (size_t)L->n_classes * L->hw;
            const uint8_t *y = b->y + (size_t)k * L->hw;
            for (size_t i = 0; i < L->hw; i++) {
                if (y[i] == L->o->ignore_label || y[i] >= L->n_classes)
                    continue;
                const double w = cw ? cw[y[i]] : 1.0;
                const float pi = p[(size_t)y[i] * L->hw + i];
                loss_sum -= w * log(pi > FLT_MIN ? pi : FLT_MIN);
                weight_sum += w;
            }
        }
    }
    if (L->dist) {
        const size_t nc2 = (size_t)L->n_classes * (size_t)L->n_classes;
        for (size_t i = 0; i < nc2; i++)
            L->red[i] = (double)L->cm.counts[i]; /* exact below 2^53 pixels */
        L->red[nc2] = loss_sum;
        L->red[nc2 + 1] = weight_sum;
        L->dist->reduce_sums(L->dist->ctx, L->red, nc2 + 2);
        for (size_t i = 0; i < nc2; i++)
            L->cm.counts[i] = (uint64_t)L->red[i];
        loss_sum = L->red[nc2];
        weight_sum = L->red[nc2 + 1];
    }
    const double dt = now_seconds() - t0;
    L->st->progress.seconds += dt;
    L->st->progress.epoch_seconds += dt;
    if (*stopped)
        return UNET_OK;
    r->has_val = 1;
    r->val_loss = weight_sum > 0 ? loss_sum / weight_sum : NAN;
    unet_metrics_compute(&L->cm, &r->val);
    return UNET_OK;
}

static unet_status copy_params(unet_params **dst, const unet_params *src)
{
    if (!*dst)
        UNET_TRY(params_create(&src->arch, dst));
    for (int i = 0; i < src->n; i++)
        memcpy((*dst)->p[i].data, src->p[i].data, src->p[i].count * sizeof(float));
    return UNET_OK;
}

/* Validation, report and bookkeeping at the end of an epoch (or of a partial
 * one when the run stops early); *stopped when a stop request came in. */
static unet_status finish_epoch(loop *L, double lr, double epoch_tiles_time,
                                uint64_t epoch_tiles, int *stopped)
{
    train_progress *pr = &L->st->progress;
    train_epoch_report *r = &L->res->last;
    memset(r, 0, sizeof *r);
    if (L->d->val_set && L->d->n_val > 0)
        UNET_TRY(validate(L, r, stopped));
    if (*stopped)
        return UNET_OK;
    r->epoch = pr->epoch;
    r->partial = pr->step_in_epoch < L->spe;
    r->steps_done = pr->step_in_epoch;
    r->global_step = pr->global_step;
    r->lr = lr;
    r->train_loss = pr->epoch_batches ? pr->epoch_loss_sum / (double)pr->epoch_batches : NAN;
    r->train_accuracy = pr->epoch_pixels ? (double)pr->epoch_correct / (double)pr->epoch_pixels
                                         : NAN;
    if (r->has_val) {
        const double miou = r->val.mean_iou;
        if (isfinite(miou) && miou > pr->best_miou) {
            UNET_TRY(copy_params(&L->st->best, L->st->params));
            pr->best_miou = miou;
            pr->best_epoch = (int64_t)pr->epoch;
            pr->epochs_since_best = 0;
            r->is_best = 1;
        } else {
            pr->epochs_since_best++;
        }
    }
    r->best_miou = pr->best_miou;
    r->best_epoch = pr->best_epoch;
    r->epoch_seconds = pr->epoch_seconds;
    r->total_seconds = pr->seconds;
    r->tiles_per_second = epoch_tiles_time > 0 ? (double)epoch_tiles / epoch_tiles_time : 0;
    L->res->has_report = 1;
    if (L->o->on_epoch && L->rank == 0)
        UNET_TRY(L->o->on_epoch(L->o->user, r));
    if (!r->partial) {
        pr->epoch++;
        pr->step_in_epoch = 0;
        pr->epoch_loss_sum = 0;
        pr->epoch_batches = 0;
        pr->epoch_correct = 0;
        pr->epoch_pixels = 0;
        pr->epoch_seconds = 0;
    }
    return UNET_OK;
}

static unet_status run(loop *L)
{
    const train_options *o = L->o;
    train_progress *pr = &L->st->progress;
    net_set_dropout_state(L->net, pr->seed, pr->dropout_counter);
    const size_t order_len = (size_t)L->spe * (size_t)o->batch;
    while (pr->epoch < o->epochs) {
        int end = -1;
        double lr = schedule_lr(&o->schedule, pr->global_step ? pr->global_step - 1 : 0);
        const double tiles_time0 = L->train_time;
        const uint64_t tiles0 = L->session_tiles;
        if (pr->step_in_epoch < L->spe && o->crops_per_epoch) {
            /* Crops: sample numbers (the loader's, global under data
             * parallelism) pick the crop; no tile order needed. */
            UNET_TRY(loader_start_crops(L->ld, L->d->train_set, &L->crops,
                                        (int)(L->spe * (uint64_t)L->lb), (int)pr->step_in_epoch,
                                        o->augment, epoch_aug_seed(pr->seed, pr->epoch),
                                        epoch_crop_seed(pr->seed, pr->epoch)));
        } else if (pr->step_in_epoch < L->spe) {
            epoch_order(L->d, pr->seed, pr->epoch, L->perm, L->order, order_len);
            const int *items = L->order;
            if (L->dist) {
                /* This rank's part of every global batch. */
                for (uint64_t bi = 0; bi < L->spe; bi++)
                    for (int k = 0; k < L->lb; k++)
                        L->local_order[bi * (uint64_t)L->lb + (uint64_t)k] =
                            L->order[bi * (uint64_t)o->batch + (uint64_t)(L->rank * L->lb + k)];
                items = L->local_order;
            }
            UNET_TRY(loader_start(L->ld, L->d->train_set, items, (int)(L->spe * (uint64_t)L->lb),
                                  (int)pr->step_in_epoch, o->augment,
                                  epoch_aug_seed(pr->seed, pr->epoch)));
        }
        while (pr->step_in_epoch < L->spe) {
            int flags = stop_requested(L) ? 1 : 0;
            if (o->time_budget > 0 && now_seconds() - L->session_start >= o->time_budget)
                flags |= 2;
            if (L->dist)
                flags = L->dist->any(L->dist->ctx, flags); /* every rank stops at the same step */
            if (flags & 1) {
                end = TRAIN_END_INTERRUPTED;
                break;
            }
            if (o->max_steps && pr->global_step >= o->max_steps) {
                end = TRAIN_END_MAX_STEPS;
                break;
            }
            if (flags & 2) {
                end = TRAIN_END_TIME_BUDGET;
                break;
            }
            UNET_TRY(train_step(L, &lr));
        }
        if (end == TRAIN_END_INTERRUPTED) {
            L->res->end = end;
            return save_checkpoint(L);
        }
        if (end >= 0 && pr->step_in_epoch == 0) {
            /* Stopped on an epoch boundary: nothing new to validate. */
            L->res->end = end;
            return save_checkpoint(L);
        }
        int stopped = 0;
        UNET_TRY(finish_epoch(L, lr, L->train_time - tiles_time0, L->session_tiles - tiles0,
                              &stopped));
        if (stopped) {
            L->res->end = TRAIN_END_INTERRUPTED;
            return save_checkpoint(L);
        }
        UNET_TRY(save_checkpoint(L));
        if (end >= 0) {
            L->res->end = end;
            return UNET_OK;
        }
        if (o->early_stop && L->d->n_val > 0 && pr->epochs_since_best >= o->early_stop) {
            L->res->end = TRAIN_END_EARLY_STOP;
            return UNET_OK;
        }
    }
    L->res->end = TRAIN_END_EPOCHS;
    return UNET_OK;
}

unet_status train_run(const train_data *d, const train_options *o, train_state *st,
                      train_result *res)
{
    memset(res, 0, sizeof *res);
    if (!d || !o || !st || !st->params || !st->opt)
        return unet_set_error(UNET_ERR_ARG, "train_run: missing data, options or state");
    if (d->n_train < 1 || o->batch < 1)
        return unet_set_error(UNET_ERR_ARG, "train_run: %d training tiles, batch %d", d->n_train,
                              o->batch);
    const int n_classes = st->params->arch.n_classes;
    if (o->class_weights)
        for (int c = 0; c < n_classes; c++)
            if (!(o->class_weights[c] >= 0) || !isfinite(o->class_weights[c]))
                return unet_set_error(UNET_ERR_ARG, "class weight %d is %g", c,
                                      (double)o->class_weights[c]);
    UNET_TRY(schedule_check(&o->schedule));

    loop L = {.d = d, .o = o, .st = st, .res = res, .n_classes = n_classes, .size = 1,
              .lb = o->batch};
    if (o->dist) {
        L.dist = o->dist;
        L.rank = o->dist->rank;
        L.size = o->dist->size;
        if (L.size < 1 || L.rank < 0 || L.rank >= L.size || !o->dist->reduce_sums ||
            !o->dist->grads_ready || !o->dist->grads_finish || !o->dist->any)
            return unet_set_error(UNET_ERR_ARG, "train_run: incomplete data-parallel hooks");
        if (o->batch % L.size)
            return unet_set_error(UNET_ERR_ARG,
                                  "--batch %d cannot be split evenly over %d processes: use a "
                                  "multiple of %d",
                                  o->batch, L.size, L.size);
        L.lb = o->batch / L.size;
        /* global_loss rescales a sum over pixels; Dice and Lovász are not one. */
        if (o->loss.kind != LOSS_CE)
            return unet_set_error(UNET_ERR_ARG,
                                  "--loss %s is a loss of the whole batch and cannot be split "
                                  "over %d processes: train it in one process (only --loss ce "
                                  "runs data-parallel)",
                                  loss_kind_name(o->loss.kind), L.size);
    }
    L.hw = (size_t)d->width * (size_t)d->height;
    if (o->crops_per_epoch > CROPS_PER_EPOCH_MAX)
        return unet_set_error(UNET_ERR_ARG, "train_run: %llu crops per epoch (at most %d)",
                              (unsigned long long)o->crops_per_epoch, CROPS_PER_EPOCH_MAX);
    L.spe = train_epoch_steps(d, o);
    L.planned = train_planned_steps(o->epochs, L.spe, o->max_steps);
    if (st->progress.step_in_epoch > L.spe)
        return unet_set_error(UNET_ERR_INVALID,
                              "the checkpoint is at step %llu of an epoch, but an epoch now has "
                              "%llu steps (other tiles or --batch?)",
                              (unsigned long long)st->progress.step_in_epoch,
                              (unsigned long long)L.spe);
    L.session_start = now_seconds();
    const size_t order_len = (size_t)L.spe * (size_t)o->batch;
    L.perm = malloc((size_t)d->n_train * sizeof *L.perm);
    L.order = malloc(order_len * sizeof *L.order);
    L.pred = malloc((size_t)L.lb * L.hw);
    if (L.dist) {
        L.local_order = malloc((size_t)L.spe * (size_t)L.lb * sizeof *L.local_order);
        L.red = malloc(((size_t)n_classes * (size_t)n_classes + 4) * sizeof *L.red);
    }
    unet_status s = L.perm && L.order && L.pred && (!L.dist || (L.local_order && L.red))
                        ? UNET_OK
                        : unet_set_error(UNET_ERR_NOMEM, "training: out of memory");
    if (s == UNET_OK)
        s = unet_confusion_init(&L.cm, n_classes);
    if (s == UNET_OK && o->crops_per_epoch)
        s = crop_source_build(d->train_set, d->train_idx, d->n_train, d->width, d->height,
                              &L.crops);
    if (s == UNET_OK)
        s = net_create_dist(st->params, L.lb, d->height, d->width, L.dist,
                            (uint64_t)L.rank * (uint64_t)L.lb, &L.net);
    if (s == UNET_OK)
        s = loader_create(L.lb, d->width, d->height, n_classes, o->ignore_label, &L.ld);
    if (s == UNET_OK && L.dist)
        loader_set_sample_numbering(L.ld, (uint64_t)o->batch, (uint64_t)L.rank * (uint64_t)L.lb);
    if (s == UNET_OK)
        s = run(&L);
    if (s == UNET_OK)
        s = check_same_weights(&L);
    res->seconds = now_seconds() - L.session_start;
    res->tiles_per_second = L.train_time > 0 ? (double)L.session_tiles / L.train_time : 0;
    loader_free(L.ld);
    net_free(L.net);
    unet_confusion_free(&L.cm);
    crop_source_free(&L.crops);
    free(L.perm);
    free(L.order);
    free(L.pred);
    free(L.local_order);
    free(L.red);
    return s;
}

const char *train_end_name(int end)
{
    switch (end) {
    case TRAIN_END_MAX_STEPS: return "max_steps";
    case TRAIN_END_TIME_BUDGET: return "time_budget";
    case TRAIN_END_EARLY_STOP: return "early_stop";
    case TRAIN_END_INTERRUPTED: return "interrupted";
    default: return "epochs";
    }
}

int train_end_from_name(const char *name)
{
    for (int e = TRAIN_END_EPOCHS; e <= TRAIN_END_INTERRUPTED; e++)
        if (strcmp(name, train_end_name(e)) == 0)
            return e;
    return -1;
}
