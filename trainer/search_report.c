/* The HTML report of a search (see search_report.h). */
#include "search_report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "curves.h"
#include "error.h"
#include "html_report.h"
#include "report_model.h"
#include "svg_plot.h"
#include "text_file.h"

#define MAX_FIELDS 512

/* Splits one CSV line in place (fields in "..." may hold commas; "" is a
 * quote): the field count, at most MAX_FIELDS. */
static int split_csv(char *line, char **fields)
{
    int n = 0;
    char *p = line;
    while (n < MAX_FIELDS) {
        char *out = p;
        fields[n++] = p;
        if (*p == '"') {
            char *q = p + 1;
            fields[n - 1] = out;
            while (*q && !(*q == '"' && q[1] != '"')) {
                if (*q == '"')
                    q++;
                *out++ = *q++;
            }
            if (*q == '"')
                q++;
            p = q;
        } else {
            while (*p && *p != ',')
                p++;
            out = p;
        }
        int more = *p == ',';
        *out = '\0';
        if (!more)
            break;
        p++;
    }
    return n;
}

static int column(char **head, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(head[i], name))
            return i;
    return -1;
}

static void number_cell(FILE *f, const char *v, int decimals)
{
    char *end;
    double x = v ? strtod(v, &end) : NAN;
    if (v && *v && !*end && isfinite(x))
        fprintf(f, "<td class=\"num\" data-value=\"%s\">%.*f</td>", v, decimals, x);
    else
        fputs("<td class=\"num\" data-value=\"null\">-</td>", f);
}

/* The ranked table: rank, configuration, rung, folds, mean +- sd of mIoU and
 * macro F1, best epoch, parameters, time, then mIoU and macro F1 per fold. */
static int ranked_table(FILE *f, const char *csv_path)
{
    char *text;
    if (text_file_read(csv_path, &text, NULL) != UNET_OK)
        return -1;
    char **head = malloc(2 * MAX_FIELDS * sizeof *head), **row = head ? head + MAX_FIELDS : NULL;
    if (!head) {
        free(text);
        return unet_set_error(UNET_ERR_NOMEM, "out of memory"), -1;
    }
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    int nh = line ? split_csv(line, head) : 0;
    static const char *const plain[] = { "rank", "configuration", "rung", "folds" };
    static const char *const figures[] = { "miou_mean", "miou_std", "macro_f1_mean", "macro_f1_std",
                                           "best_epoch_mean" };
    int ci[4], fi[5], folds = 0, ok = nh > 0;
    for (int i = 0; i < 4; i++)
        ok &= (ci[i] = column(head, nh, plain[i])) >= 0;
    for (int i = 0; i < 5; i++)
        ok &= (fi[i] = column(head, nh, figures[i])) >= 0;
    int cp = column(head, nh, "parameters"), cs = column(head, nh, "train_seconds");
    while (ok) {
        char name[32];
        snprintf(name, sizeof name, "miou_fold%d", folds);
        if (column(head, nh, name) < 0)
            break;
        folds++;
    }
    if (!ok) {
        free(head);
        free(text);
        return unet_set_error(UNET_ERR_PARSE, "%s: not the ranked table unet-train writes", csv_path), -1;
    }
    fputs("<div style=\"overflow-x:auto\"><table id=\"ranked\">\n<thead><tr><th class=\"num\">rank</th><th>configuration</th><th class=\"num\">"
          "rung</th><th class=\"num\">folds</th><th class=\"num\">val mIoU</th><th class=\"num\">sd</th>"
          "<th class=\"num\">val macro F1</th><th class=\"num\">sd</th><th class=\"num\">best epoch</th>"
          "<th class=\"num\">parameters</th><th class=\"num\">seconds</th>",
          f);
    for (int k = 0; k < folds; k++)
        fprintf(f, "<th class=\"num\">mIoU fold %d</th>", k);
    for (int k = 0; k < folds; k++)
        fprintf(f, "<th class=\"num\">F1 fold %d</th>", k);
    fputs("</tr></thead>\n<tbody>\n", f);
    while ((line = strtok_r(NULL, "\n", &save))) {
        int n = split_csv(line, row);
        if (n != nh)
            continue; /* a torn line cannot be: the file is written atomically */
        fputs("<tr class=\"config\">", f);
        for (int i = 0; i < 4; i++) {
            fputs(i == 1 ? "<td>" : "<td class=\"num\">", f);
            html_text(f, row[ci[i]]);
            fputs("</td>", f);
        }
        for (int i = 0; i < 5; i++)
            number_cell(f, row[fi[i]], i < 4 ? 4 : 1);
        fputs("<td class=\"num\">", f);
        html_text(f, cp >= 0 ? row[cp] : "");
        fputs("</td>", f);
        number_cell(f, cs >= 0 ? row[cs] : NULL, 1);
        for (int pass = 0; pass < 2; pass++)
            for (int k = 0; k < folds; k++) {
                char name[32];
                snprintf(name, sizeof name, pass ? "macro_f1_fold%d" : "miou_fold%d", k);
                int c = column(head, nh, name);
                number_cell(f, c >= 0 ? row[c] : NULL, 4);
            }
        fputs("</tr>\n", f);
    }
    fputs("</tbody>\n</table></div>\n<p>Ranked by mean validation mIoU over the folds (later rungs first), as "
          "STEM.grid.csv holds it; sd = standard deviation over folds.</p>\n",
          f);
    free(head);
    free(text);
    return 0;
}

static void retrain_curve(FILE *f, const char *log_path)
{
    curve_log log;
    if (curve_log_read(log_path, &log) != UNET_OK || log.n == 0) {
        unet_clear_error();
        fputs("<p>No retrain epochs logged.</p>\n", f);
        return;
    }
    double *v = malloc((size_t)log.n * 2 * sizeof *v);
    if (v) {
        for (int i = 0; i < log.n; i++) {
            v[i] = log.rows[i].epoch;
            v[log.n + i] = log.rows[i].train_loss;
        }
        const svg_series s[] = { { "train loss", { 0x1f, 0x77, 0xb4 }, log.n, v, v + log.n, 0 } };
        svg_chart c = { "Retrain on every training fold: loss per epoch", "epoch", "loss", 1, s, 0, 0, NAN, NULL,
                        "curve-retrain" };
        svg_plot(f, &c);
    }
    free(v);
    curve_log_free(&log);
}

int search_report_write(const char *path, const search_report *r, size_t *size)
{
    *size = 0;
    int k = r->pal->n_classes;
    report_class *cls = report_classes_of_palette(r->pal);
    html_doc d;
    if (!cls || html_doc_open(&d, "unet-train search report") != 0) {
        free(cls);
        unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
        return -1;
    }
    FILE *f = d.f;
    char when[64] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %z", &tm);
    fputs("<h1>Search for ", f);
    html_text(f, r->model_path);
    fputs("</h1>\n<dl class=\"facts\"><dt>tiles</dt><dd>", f);
    html_text(f, r->tiles);
    fprintf(f, "</dd><dt>written</dt><dd>%s by unet-train %s</dd></dl>\n", when, UNET_VERSION_STRING);
    fputs("<section id=\"search\">\n<h2>Configurations</h2>\n", f);
    int rc = ranked_table(f, r->grid_csv);
    fputs("</section>\n", f);
    if (rc == 0) {
        report_model_section(f, r->model_path, cls, k);
        fputs("<section id=\"curves\">\n<h2>Retrain</h2>\n", f);
        retrain_curve(f, r->retrain_log);
        fputs("</section>\n<section id=\"summary\">\n<h2>Summary</h2>\n<pre>", f);
        html_text(f, r->summary_json);
        fputs("</pre>\n</section>\n", f);
    }
    free(cls);
    if (rc != 0) {
        html_doc_discard(&d);
        return -1;
    }
    return html_doc_write(&d, path, size);
}
