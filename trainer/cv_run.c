/* One run of a search: trained, resumed, skipped or carried over (see cv_state.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <unet/metrics.h>

#include "checkpoint.h"
#include "cv_state.h"
#include "optimizer.h"
#include "schedule.h"
#include "text_file.h"

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
    if (r->has_val) {
        curve_log_name_classes(e->log, e->S->o->pal);
        row.n_class_iou = r->val.n_classes < CURVES_MAX_CLASSES ? r->val.n_classes : CURVES_MAX_CLASSES;
        for (int k = 0; k < row.n_class_iou; k++)
            /* As mIoU counts it: a class without validation pixels has no IoU. */
            row.val_class_iou[k] = r->val.per_class[k].support ? r->val.per_class[k].iou : NAN;
    }
    UNET_TRY(curve_log_append(e->log, &row));
    UNET_TRY(curve_log_write(e->log_path, e->log));
    if (r->has_val)
        cv_msg(e->S, CV_MSG_EPOCH, "  epoch %llu%s: train loss %.4f, val loss %.4f, mIoU %.4f, "
            "macro F1 %.4f%s",
            (unsigned long long)r->epoch + 1, r->partial ? " (partial)" : "", r->train_loss,
            r->val_loss, r->val.mean_iou, r->val.macro_f1, r->is_best ? " *" : "");
    else
        cv_msg(e->S, CV_MSG_EPOCH, "  epoch %llu%s: train loss %.4f, train accuracy %.2f%%",
            (unsigned long long)r->epoch + 1, r->partial ? " (partial)" : "", r->train_loss,
            100 * r->train_accuracy);
    return UNET_OK;
}

/* --keep-run-models: the best epoch's weights as RUN/model.onnx, its
 * result.json as the model's training metadata. */
static unet_status keep_run_model(search *S, const char *dir, const char *result_path,
                                  const train_state *st)
{
    char *path = str_concat(dir, "/model.onnx"), *json = NULL;
    if (!path)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    unet_status s = text_file_read(result_path, &json, NULL);
    if (s == UNET_OK)
        s = cv_export_model(S, path, st->best ? st->best : st->params, json);
    if (s != UNET_OK)
        unet_wrap_error(s, "--keep-run-models: %s", path);
    else
        cv_msg(S, CV_MSG_NOTE, "wrote %s (the run's best epoch)", path);
    free(json);
    free(path);
    return s;
}

/* Trains (or skips, resumes, carries over) one run. *keep, when given, gets
 * the final state (the retrain's weights). *interrupted when a stop request
 * ended it (state saved). */
unet_status cv_run_one(search *S, const run_spec *sp, run_result *res, char **dir_out,
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
    unet_status s = cv_run_dir(S, sp, split, &dir);
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
        if (cv_read_result(result, id, res) == UNET_OK)
            finished = 1;
        else
            cv_msg(S, CV_MSG_WARNING, "%s; training the run again", unet_last_error());
    }
    if (lead && !finished)
        has_ckpt = !o->force && text_file_exists(ckpt);
    if (sp->dp) {
        int32_t v[2] = {finished, has_ckpt};
        s = cv_exchange(S, UNET_OK, NULL, 0, v, NULL, NULL, 0);
        if (s != UNET_OK)
            goto done;
        finished = v[0];
        has_ckpt = v[1];
    }
    if (finished) {
        if (lead) {
            S->out->skipped++;
            cv_msg(S, CV_MSG_NOTE, "%s, %s%s: done before (%s), skipped", sp->cfg->label, what,
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
    if (sp->prev_dir && (s = cv_read_result(prev_result, strrchr(sp->prev_dir, '/') + 1, &prev)) != UNET_OK) {
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
            s = cv_write_result(S, sp, result, id, res, split, strrchr(sp->prev_dir, '/') + 1);
        if (s == UNET_OK) {
            S->out->carried++;
            cv_msg(S, CV_MSG_NOTE, "%s, %s%s: ended at rung %d (%s); result carried over",
                sp->cfg->label, what, rung_txt, sp->rung - 1, train_end_name(prev.end));
        }
        goto done;
    }

    /* The rung before was cut by time, but its checkpoint is not here: the
     * search state came from another machine (result.json and log.csv are
     * small enough to keep in git, checkpoints are not). The run trains
     * afresh for its whole time limit instead of continuing. */
    const int prev_gone = sp->prev_dir && !has_ckpt && !text_file_exists(prev_ckpt);
    if (prev_gone)
        cv_msg(S, CV_MSG_NOTE, "%s, %s%s: run %s has no checkpoint here; training afresh for "
            "the whole time limit", sp->cfg->label, what, rung_txt,
            strrchr(sp->prev_dir, '/') + 1);

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
    } else if (sp->prev_dir && !prev_gone) {
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
        if (from == ckpt && (!stored || cv_json_number(stored, "sessions", &sessions) != 0 ||
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
        s = cv_class_weights(S, &sp->cfg->c, split, &cw);
    if (s != UNET_OK)
        goto done;

    const uint64_t spe = train_steps_per_epoch(split->n_train, o->crops_per_epoch, o->batch);
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
    cv_config_json(&cfgj, &sp->cfg->c);
    sb_printf(&cfgj, ",\"sessions\":%.0f}", sessions + 1);
    if (cfgj.nomem) {
        s = unet_set_error(UNET_ERR_NOMEM, "out of memory");
        goto done;
    }
    cv_msg(S, CV_MSG_NOTE, "%s, %s%s: %s (%d train / %d val tiles, %zu parameters)", sp->cfg->label,
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
                                .crops_per_epoch = o->crops_per_epoch,
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
    cv_result_from_log(&log, &st.progress, tr.end, spe, sessions + 1, res);
    s = cv_write_result(S, sp, result, id, res, split, NULL);
    if (s != UNET_OK)
        goto done;
    if (curves_plot_log(&log, png) != UNET_OK)
        cv_msg(S, CV_MSG_WARNING, "no curves for %s: %s", id, unet_last_error());
    if (o->keep_run_models && split->n_val && (s = keep_run_model(S, dir, result, &st)) != UNET_OK)
        goto done;
    char dur[32];
    format_duration(res->seconds, 1, dur, sizeof dur);
    const double trained = spe ? res->steps / (double)spe : 0;
    if (split->n_val)
        cv_msg(S, CV_MSG_NOTE, "%s, %s: val mIoU %.4f, macro F1 %.4f (best epoch %.0f; %.1f epochs "
            "trained, %s, ended by %s)",
            sp->cfg->label, what, res->miou, res->f1, res->best_epoch, trained, dur,
            train_end_name(res->end));
    else if (res->end == TRAIN_END_TIME_BUDGET)
        cv_msg(S, CV_MSG_WARNING, "the retrain used up its share of the budget after %.1f of %llu "
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
void cv_drop_checkpoint(const char *dir)
{
    char *p = str_concat(dir, "/last.ckpt");
    if (p)
        unlink(p);
    free(p);
}

