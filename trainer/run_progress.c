/* What unet-train shows and logs while it trains (see run_progress.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli_message.h"
#include "run_progress.h"
#include "run_records.h"
#include "text_format.h"

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void run_progress_clear(run_progress *c)
{
    if (c->progress_shown) {
        fprintf(stderr, "\r\033[K");
        c->progress_shown = 0;
    }
}

void run_progress_step(void *user, const train_step_info *i)
{
    run_progress *c = user;
    if (c->quiet || !c->tty)
        return;
    const double t = wall_seconds();
    if (t - c->last_progress < 0.25 && i->step_in_epoch != i->steps_per_epoch)
        return;
    c->last_progress = t;
    char eta[32];
    format_duration(i->eta_seconds, 0, eta, sizeof eta);
    fprintf(stderr, "\r\033[Kepoch %llu/%llu  step %llu/%llu  loss %.4f  lr %.2e  %.1f tiles/s  ETA %s",
            (unsigned long long)i->epoch + 1, (unsigned long long)i->epochs,
            (unsigned long long)i->step_in_epoch, (unsigned long long)i->steps_per_epoch, i->loss,
            i->lr, i->tiles_per_second, eta);
    c->progress_shown = 1;
}

static void print_table(const run_progress *c, const train_epoch_report *r)
{
    char dur[32];
    format_duration(r->epoch_seconds, 0, dur, sizeof dur);
    fprintf(stderr, "epoch %llu%s  step %llu  lr %.2e  train loss %.4f  train acc %.2f%%",
            (unsigned long long)r->epoch + 1, r->partial ? " (partial)" : "",
            (unsigned long long)r->global_step, r->lr, r->train_loss, 100 * r->train_accuracy);
    fprintf(stderr, "  %.1f tiles/s  %s\n", r->tiles_per_second, dur);
    if (!r->has_val)
        return;
    fprintf(stderr, "  val loss %.4f  pixel acc %.2f%%  mIoU %.4f  macro F1 %.4f%s\n", r->val_loss,
            100 * r->val.pixel_accuracy, r->val.mean_iou, r->val.macro_f1,
            r->is_best ? "  * best" : "");
    fprintf(stderr, "  %-14s %9s %9s %9s %9s %12s\n", "class", "precision", "recall", "F1", "IoU",
            "support");
    for (int k = 0; k < r->val.n_classes; k++) {
        const unet_class_metrics *m = &r->val.per_class[k];
        char v[4][16];
        const double x[4] = {m->precision, m->recall, m->f1, m->iou};
        for (int i = 0; i < 4; i++) /* "-": undefined (0/0), see unet/metrics.h */
            snprintf(v[i], sizeof v[i], isfinite(x[i]) ? "%.4f" : "-", x[i]);
        fprintf(stderr, "  %-14.14s %9s %9s %9s %9s %12llu\n", c->pal->classes[k].name, v[0],
                v[1], v[2], v[3], (unsigned long long)m->support);
    }
}

unet_status run_progress_epoch(void *user, const train_epoch_report *r)
{
    run_progress *c = user;
    run_progress_clear(c);
    if (!c->quiet)
        print_table(c, r);
    if (r->is_best && r->has_val) {
        c->best = *r;
        c->has_best = 1;
    }
    sbuf row = {0}, line = {0};
    run_epoch_csv(&row, r, c->pal->n_classes);
    run_epoch_jsonl(&line, r, c->pal);
    unet_status st = row.nomem || line.nomem
                         ? unet_set_error(UNET_ERR_NOMEM, "epoch log: out of memory")
                         : run_logs_append(c->paths, row.s, line.s);
    free(row.s);
    free(line.s);
    if (st != UNET_OK) {
        cli_message(c->prog, "error", "%s", unet_last_error());
        c->log_failed = 1;
        return UNET_ERR_IO;
    }
    return UNET_OK;
}
