/* Scores over folds, ranking, the ranked table and STEM.grid.csv (see cv_state.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unet/metrics.h>

#include "cv_state.h"
#include "text_file.h"

/* ---- ranking ------------------------------------------------------------------------- */

void cv_score(search *S, cfg_state *c)
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

void cv_rank(search *S, int *order, int n)
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

void cv_plus_minus(char *buf, size_t size, double mean, double sd)
{
    if (!isfinite(mean))
        snprintf(buf, size, "-");
    else if (!isfinite(sd))
        snprintf(buf, size, "%.4f", mean);
    else
        snprintf(buf, size, "%.4f \xc2\xb1 %.4f", mean, sd);
}

unet_status cv_report_table(search *S, const int *order, int n, const char *title)
{
    sbuf t = {0};
    sb_printf(&t, "%s\n%4s  %-36s %s%-17s  %-17s  %6s  %10s  %8s\n", title, "rank",
              "configuration", S->rungs > 1 ? "rung  " : "", "val mIoU", "val macro F1", "epoch",
              "parameters", "time");
    for (int i = 0; i < n; i++) {
        const cfg_state *c = &S->cfgs[order[i]];
        char a[48], b[48], dur[32], rung[16] = "";
        cv_plus_minus(a, sizeof a, c->miou_mean, c->miou_std);
        cv_plus_minus(b, sizeof b, c->f1_mean, c->f1_std);
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
    cv_msg(S, CV_MSG_REPORT, "%s", t.s);
    free(t.s);
    return UNET_OK;
}

unet_status cv_write_grid_csv(search *S, const int *order, int n)
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

