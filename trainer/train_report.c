/* The HTML report of a training run (see train_report.h). */
#include "train_report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "html_report.h"
#include "report_metrics.h"
#include "report_model.h"
#include "svg_plot.h"
#include "text_file.h"
#include "text_format.h"

/* Digits of the trainer's JSON numbers (run_json_number in run_records.c): the
 * metrics tables' data-value attributes say what the summary and
 * STEM.log.jsonl say. The epoch table and the curves come from STEM.log.csv
 * (so a resumed run shows its earlier sessions too), whose 6 digits they
 * carry. */
#define TRAIN_JSON_DIGITS 9

static void facts(FILE *f, const train_report *r)
{
    char dur[32], when[64] = "";
    format_duration(r->seconds, 1, dur, sizeof dur);
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %z", &tm);
    fputs("<section id=\"run\">\n<dl class=\"facts\">\n<dt>tiles</dt><dd>", f);
    html_text(f, r->tiles);
    fprintf(f, "</dd>\n<dt>split</dt><dd>%d training tiles, %d validation tiles</dd>\n", r->n_train, r->n_val);
    fprintf(f, "<dt>end</dt><dd id=\"end\">%s after %llu epochs, %llu steps</dd>\n", r->end,
            (unsigned long long)r->epochs_completed, (unsigned long long)r->steps);
    fprintf(f, "<dt>time</dt><dd id=\"train-time\" data-seconds=\"%.3f\">%s</dd>\n", r->seconds, dur);
    if (r->best_epoch > 0)
        fprintf(f, "<dt>best epoch</dt><dd id=\"best-epoch\" data-epoch=\"%lld\">%lld (validation mIoU %.4f)</dd>\n",
                (long long)r->best_epoch, (long long)r->best_epoch, r->best_miou);
    else
        fputs("<dt>best epoch</dt><dd id=\"best-epoch\" data-epoch=\"\">none: no validation, the model holds the "
              "last weights</dd>\n",
              f);
    fputs("<dt>outputs</dt><dd>", f);
    html_text(f, r->model_path);
    fputs(" (best weights), ", f);
    html_text(f, r->last_model_path);
    fprintf(f, " (last weights)</dd>\n<dt>written</dt><dd>%s by unet-train %s</dd>\n</dl>\n</section>\n", when,
            UNET_VERSION_STRING);
}

static void curves(FILE *f, const train_report *r)
{
    const curve_log *log = r->log;
    int n = log ? log->n : 0;
    fputs("<section id=\"curves\">\n<h2>Curves</h2>\n", f);
    if (n == 0) {
        fputs("<p>No epoch was logged.</p>\n</section>\n", f);
        return;
    }
    double *v = malloc((size_t)n * 6 * sizeof *v);
    if (!v) {
        fputs("<p>Out of memory for the curves.</p>\n</section>\n", f);
        return;
    }
    double *x = v, *tl = v + n, *vl = v + 2 * n, *ta = v + 3 * n, *va = v + 4 * n, *mi = v + 5 * n;
    for (int i = 0; i < n; i++) {
        const curve_row *row = &log->rows[i];
        x[i] = row->epoch;
        tl[i] = row->train_loss;
        vl[i] = row->val_loss;
        ta[i] = row->train_accuracy;
        va[i] = row->val_pixel_accuracy;
        mi[i] = row->val_miou;
    }
    char mark[48];
    snprintf(mark, sizeof mark, "best: epoch %lld", (long long)r->best_epoch);
    const svg_series loss[] = { { "train loss", { 0x1f, 0x77, 0xb4 }, n, x, tl, 0 },
                                { "validation loss", { 0xd6, 0x27, 0x28 }, n, x, vl, 1 } };
    const svg_series acc[] = { { "validation mIoU", { 0x2c, 0xa0, 0x2c }, n, x, mi, 0 },
                               { "validation pixel accuracy", { 0xd6, 0x27, 0x28 }, n, x, va, 1 },
                               { "train pixel accuracy", { 0x1f, 0x77, 0xb4 }, n, x, ta, 1 } };
    svg_chart c1 = { "Loss per epoch", "epoch", "loss", 2, loss, 0, 0, NAN, NULL, "curve-loss" };
    svg_chart c2 = { "Validation mIoU and pixel accuracy per epoch", "epoch", "", 3, acc, 0, 1, NAN, NULL,
                     "curve-miou" };
    if (r->best_epoch > 0) {
        c1.mark_x = c2.mark_x = (double)r->best_epoch;
        c1.mark_label = c2.mark_label = mark;
    }
    svg_plot(f, &c1);
    svg_plot(f, &c2);
    /* The figures behind the curves, for reading off and for tests. */
    fputs("<table id=\"epochs\">\n<thead><tr><th class=\"num\">epoch</th><th class=\"num\">lr</th>"
          "<th class=\"num\">train loss</th><th class=\"num\">train acc.</th><th class=\"num\">val loss</th>"
          "<th class=\"num\">val pixel acc.</th><th class=\"num\">val mIoU</th><th class=\"num\">val macro F1</th>"
          "<th class=\"num\">seconds</th><th></th></tr></thead>\n<tbody>\n",
          f);
    for (int i = 0; i < n; i++) {
        const curve_row *row = &log->rows[i];
        fprintf(f, "<tr data-epoch=\"%d\"><td class=\"num\">%d%s</td><td class=\"num\">%.3g</td>", row->epoch,
                row->epoch, row->partial ? " (partial)" : "", row->lr);
        const double vals[] = { row->train_loss, row->train_accuracy, row->val_loss, row->val_pixel_accuracy,
                                row->val_miou, row->val_macro_f1 };
        static const char *const keys[] = { "train_loss", "train_accuracy", "val_loss", "val_pixel_accuracy",
                                            "val_miou", "val_macro_f1" };
        for (int k = 0; k < 6; k++) {
            if (isfinite(vals[k]))
                fprintf(f, "<td class=\"num\" data-key=\"%s\" data-value=\"%.*g\">%.4f</td>", keys[k],
                        TRAIN_JSON_DIGITS, vals[k], vals[k]);
            else
                fprintf(f, "<td class=\"num\" data-key=\"%s\" data-value=\"null\">-</td>", keys[k]);
        }
        fprintf(f, "<td class=\"num\">%.1f</td><td>%s</td></tr>\n", row->epoch_seconds, row->best ? "best" : "");
    }
    fputs("</tbody>\n</table>\n</section>\n", f);
    free(v);
}

int train_report_write(const char *path, const train_report *r, size_t *size)
{
    *size = 0;
    int k = r->pal->n_classes;
    report_class *cls = report_classes_of_palette(r->pal);
    html_doc d;
    if (!cls || html_doc_open(&d, "unet-train report") != 0) {
        free(cls);
        unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
        return -1;
    }
    FILE *f = d.f;
    fputs("<h1>Training of ", f);
    html_text(f, r->model_path);
    fputs("</h1>\n", f);
    facts(f, r);
    report_model_section(f, r->model_path, cls, k);
    curves(f, r);
    fputs("<section id=\"metrics-section\">\n<h2>Validation metrics</h2>\n", f);
    if (r->metrics && r->metrics->has_val) {
        fprintf(f, "<p id=\"metrics-epoch\" data-epoch=\"%llu\">Epoch %llu%s: validation loss %.4f.</p>\n",
                (unsigned long long)r->metrics->epoch + 1, (unsigned long long)r->metrics->epoch + 1,
                r->metrics_are_best ? ", the best (the weights in the model)"
                                    : ", the last (the best epoch ran in an earlier session)",
                r->metrics->val_loss);
        report_metrics_tables(f, &r->metrics->val, cls, TRAIN_JSON_DIGITS);
    } else {
        fputs("<p>No validation (see --val-fold, --val, --val-dir).</p>\n", f);
    }
    fputs("</section>\n<section id=\"config\">\n<h2>Configuration</h2>\n<pre>", f);
    html_text(f, r->config_json);
    fputs("</pre>\n</section>\n", f);
    free(cls);
    return html_doc_write(&d, path, size);
}
