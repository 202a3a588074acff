/* The HTML report of unet-eval (see eval_html.h). */
#include "eval_html.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unet/unet.h>

#include "atomic_file.h"
#include "error.h"
#include "html_report.h"
#include "json_out.h"
#include "report_metrics.h"
#include "report_model.h"

static void run_facts(FILE *f, const eval_html *r)
{
    const eval_run *run = r->run;
    const char *unit = r->scenes ? "images" : "tiles";
    fputs("<section id=\"run\">\n<dl class=\"facts\">\n<dt>model</dt><dd>", f);
    html_text(f, run->model);
    fprintf(f, "</dd>\n<dt>%s</dt><dd id=\"inputs\">", r->scenes ? "scenes" : "tiles");
    html_text(f, run->tiles);
    if (run->fold) {
        fputs("</dd>\n<dt>fold</dt><dd>", f);
        html_text(f, run->fold);
        fputs(" of ", f);
        html_text(f, run->folds_file);
    }
    if (r->scenes)
        fprintf(f, "</dd>\n<dt>windows</dt><dd>%dx%d, overlap %d (unet-infer --scene's sliding window); gallery "
                   "windows: the %dx%d grid from the top left",
                r->tile, r->tile, r->overlap, r->tile, r->tile);
    fprintf(f, "</dd>\n<dt>%s</dt><dd id=\"counts\">%d of %d evaluated%s", unit, run->evaluated, run->selected,
            run->interrupted ? " (interrupted)" : "");
    if (run->failed)
        fprintf(f, ", %d failed", run->failed);
    fprintf(f, "</dd>\n<dt>pixels</dt><dd>%" PRIu64 " counted, %" PRIu64 " ignored (label %d)", r->m->total,
            run->ignored_pixels, run->ignore_label);
    if (run->unknown_label_pixels)
        fprintf(f, ", %" PRIu64 " with labels that are not classes", run->unknown_label_pixels);
    char when[64] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %z", &tm);
    fprintf(f, "</dd>\n<dt>time</dt><dd>%.1f s</dd>\n<dt>written</dt><dd>%s by unet-eval %s</dd>\n</dl>\n</section>\n",
            run->seconds, when, UNET_VERSION_STRING);
}

static void scenes_table(FILE *f, const eval_scenes *es)
{
    unet_metrics *m = malloc(sizeof *m);
    if (!m)
        return;
    fputs("<section id=\"scenes\">\n<h2>Scenes</h2>\n<table>\n<thead><tr><th>scene</th><th class=\"num\">images"
          "</th><th class=\"num\">pixels</th><th class=\"num\">pixel accuracy</th><th class=\"num\">mean IoU</th>"
          "<th class=\"num\">macro F1</th></tr></thead>\n<tbody>\n",
          f);
    for (int s = 0; s < es->pairs->n_scenes; s++) {
        const eval_scene_summary *sc = &es->scenes[s];
        if (!sc->selected)
            continue;
        unet_metrics_compute(&sc->cm, m);
        fputs("<tr><td>", f);
        html_text(f, es->pairs->scenes[s].name);
        fprintf(f, "</td><td class=\"num\">%d/%d</td><td class=\"num\">%" PRIu64 "</td>", sc->evaluated,
                sc->selected, m->total);
        const double v[3] = { m->pixel_accuracy, m->mean_iou, m->macro_f1 };
        for (int i = 0; i < 3; i++) {
            if (isfinite(v[i]))
                fprintf(f, "<td class=\"num\" data-value=\"%.*g\">%.4f</td>", JSON_DIGITS, v[i], v[i]);
            else
                fputs("<td class=\"num\" data-value=\"null\">n/a</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</tbody>\n</table>\n</section>\n", f);
    free(m);
}

static void failures(FILE *f, const eval_run *run)
{
    if (!run->n_failures)
        return;
    fputs("<section id=\"failures\">\n<h2>Failures</h2>\n<ul>\n", f);
    for (int i = 0; i < run->n_failures; i++) {
        fputs("<li><b>", f);
        html_text(f, run->failures[i].tile);
        fputs("</b>: ", f);
        html_text(f, run->failures[i].error);
        fputs("</li>\n", f);
    }
    fputs("</ul>\n</section>\n", f);
}

int eval_html_write(const char *path, const eval_html *r, size_t *size)
{
    *size = 0;
    int k = r->cls->n_classes;
    report_class *cls = calloc((size_t)(k > 0 ? k : 1), sizeof *cls);
    html_doc d;
    if (!cls || html_doc_open(&d, "unet-eval report") != 0) {
        free(cls);
        unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
        return -1;
    }
    for (int c = 0; c < k; c++) {
        cls[c].name = r->cls->names[c];
        memcpy(cls[c].rgb, r->cls->colors[c], 3);
    }
    FILE *f = d.f;
    fputs("<h1>Evaluation of ", f);
    html_text(f, r->run->model);
    fputs("</h1>\n", f);
    run_facts(f, r);
    int rc = 0;
    /* A model that cannot be described still gets its metrics reported. */
    report_model_section(f, r->run->model, cls, k);
    fputs("<section id=\"metrics-section\">\n<h2>Metrics</h2>\n", f);
    if (r->cm && r->cm->counts) {
        report_metrics_tables(f, r->m, cls, JSON_DIGITS);
        fputs("</section>\n<section id=\"confusion-section\">\n<h2>Confusion matrix</h2>\n", f);
        report_confusion_table(f, r->cm, cls);
    } else {
        fputs("<p>No pixels were evaluated.</p>\n", f);
    }
    fputs("</section>\n", f);
    if (r->scenes)
        scenes_table(f, r->scenes);
    failures(f, r->run);
    if (r->gallery && r->gallery->cap > 0 && r->cm && r->cm->counts)
        rc = report_gallery_html(f, r->gallery, cls, k, r->run->ignore_label);
    free(cls);
    if (rc != 0) {
        html_doc_discard(&d);
        return -1;
    }
    return html_doc_write(&d, path, size);
}
