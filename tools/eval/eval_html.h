/* unet-eval --report: one self-contained HTML file (html_report.h) with the
 * run, the model, the metrics table (the figures of --json, compared in
 * tests/test_report_browser.sh), the confusion matrix, per-scene lines in
 * scene mode, the failures, and the gallery of worst and best tiles. */
#ifndef UNET_TOOLS_EVAL_HTML_H
#define UNET_TOOLS_EVAL_HTML_H

#include <stddef.h>

#include <unet/metrics.h>

#include "eval_report.h"
#include "eval_scene.h"
#include "report_gallery.h"

typedef struct eval_html {
    const eval_run *run;
    const unet_confusion *cm;      /* counts NULL: no pixel was evaluated */
    const unet_metrics *m;
    const eval_class_info *cls;
    const report_gallery *gallery;
    const eval_scenes *scenes;     /* scene mode, else NULL */
    int tile, overlap;             /* scene mode: the window */
} eval_html;

/* Writes the report to path atomically; *size gets its bytes. 0, or -1 with
 * the reason in unet_last_error(). */
int eval_html_write(const char *path, const eval_html *r, size_t *size);

#endif
