/* Metrics and confusion tables of HTML reports (see report_metrics.h). */
#include "report_metrics.h"

#include <inttypes.h>
#include <math.h>

#include "html_report.h"

static void ratio_cell(FILE *f, const char *key, double v, int digits)
{
    if (isfinite(v))
        fprintf(f, "<td class=\"num\" data-key=\"%s\" data-value=\"%.*g\">%.4f</td>", key, digits, v, v);
    else
        fprintf(f, "<td class=\"num\" data-key=\"%s\" data-value=\"null\">n/a</td>", key);
}

static void class_label(FILE *f, const report_class *cls, int c)
{
    html_swatch(f, cls[c].rgb, NULL);
    fprintf(f, "%d ", c);
    html_text(f, cls[c].name);
}

void report_metrics_tables(FILE *f, const unet_metrics *m, const report_class *cls, int digits)
{
    fputs("<table id=\"metrics\">\n<thead><tr><th>class</th><th class=\"num\">support</th>"
          "<th class=\"num\">predicted</th><th class=\"num\">precision</th><th class=\"num\">recall</th>"
          "<th class=\"num\">F1</th><th class=\"num\">IoU</th></tr></thead>\n<tbody>\n",
          f);
    for (int c = 0; c < m->n_classes; c++) {
        const unet_class_metrics *x = &m->per_class[c];
        fprintf(f, "<tr data-class=\"%d\"><td class=\"name\">", c);
        class_label(f, cls, c);
        fprintf(f, "%s</td><td class=\"num\" data-key=\"support\" data-value=\"%" PRIu64 "\">%" PRIu64
                   "</td><td class=\"num\" data-key=\"predicted\" data-value=\"%" PRIu64 "\">%" PRIu64 "</td>",
                x->support ? "" : " <small>(not in ground truth)</small>", x->support, x->support, x->predicted,
                x->predicted);
        ratio_cell(f, "precision", x->precision, digits);
        ratio_cell(f, "recall", x->recall, digits);
        ratio_cell(f, "f1", x->f1, digits);
        ratio_cell(f, "iou", x->iou, digits);
        fputs("</tr>\n", f);
    }
    fputs("</tbody>\n</table>\n<table id=\"summary\">\n", f);
    static const char *const keys[] = { "mean_iou", "macro_f1", "pixel_accuracy", "weighted_f1" };
    static const char *const names[] = { "mean IoU", "macro F1", "pixel accuracy", "weighted F1" };
    const double values[] = { m->mean_iou, m->macro_f1, m->pixel_accuracy, m->weighted_f1 };
    for (int i = 0; i < 4; i++) {
        fprintf(f, "<tr><th>%s</th>", names[i]);
        ratio_cell(f, keys[i], values[i], digits);
        fputs("</tr>\n", f);
    }
    fprintf(f, "</table>\n<p>Mean IoU and macro F1 are means over the %d of %d classes present in the ground "
               "truth; %" PRIu64 " pixels counted.</p>\n",
            m->n_present, m->n_classes, m->total);
}

void report_confusion_table(FILE *f, const unet_confusion *cm, const report_class *cls)
{
    int k = cm->n_classes;
    fputs("<table id=\"confusion\">\n<thead><tr><th>truth \\ prediction</th>", f);
    for (int p = 0; p < k; p++) {
        fputs("<th>", f);
        class_label(f, cls, p);
        fputs("</th>", f);
    }
    fputs("<th class=\"num\">pixels</th></tr></thead>\n<tbody>\n", f);
    for (int t = 0; t < k; t++) {
        const uint64_t *row = cm->counts + (size_t)t * (size_t)k;
        uint64_t sum = 0;
        for (int p = 0; p < k; p++)
            sum += row[p];
        fprintf(f, "<tr data-truth=\"%d\"><th>", t);
        class_label(f, cls, t);
        fputs("</th>", f);
        for (int p = 0; p < k; p++) {
            double share = sum ? (double)row[p] / (double)sum : 0;
            /* Right answers in blue, mistakes in red, the deeper the larger the row's share. */
            int diag = t == p;
            fprintf(f, "<td class=\"cm\" data-t=\"%d\" data-p=\"%d\" data-count=\"%" PRIu64
                       "\" style=\"background:rgba(%s,%.3f);color:%s\">%" PRIu64,
                    t, p, row[p], diag ? "40,90,200" : "210,50,40", 0.08 + 0.85 * share,
                    share > 0.55 ? "#fff" : "#111", row[p]);
            if (sum)
                fprintf(f, "<small>%.1f%%</small></td>", 100 * share);
            else
                fputs("<small>-</small></td>", f);
        }
        fprintf(f, "<td class=\"num\">%" PRIu64 "</td></tr>\n", sum);
    }
    fputs("</tbody>\n</table>\n<p>Rows: ground truth; columns: prediction; each cell the pixel count and its "
          "share of the row.</p>\n",
          f);
}
