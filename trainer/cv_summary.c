/* A search's test evaluation, summary JSON, curves and export (see cv_state.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unet/metrics.h>

#include "cv_state.h"
#include "export_onnx.h"
#include "loader.h"

/* ---- test evaluation ------------------------------------------------------------------ */

unet_status cv_evaluate(search *S, unet_params *params, const int *idx, int n,
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

static void cv_fold_json(sbuf *b, const search *S, const cfg_state *c)
{
    sb_printf(b, "[");
    for (int f = 0; f < S->k; f++) {
        const run_result *r = &c->folds[f].r;
        sb_printf(b, "%s{\"fold\":%d,\"val_miou\":", f ? "," : "", f);
        cv_json_double(b, r->done ? r->miou : NAN);
        sb_printf(b, ",\"val_macro_f1\":");
        cv_json_double(b, r->done ? r->f1 : NAN);
        sb_printf(b, ",\"val_pixel_accuracy\":");
        cv_json_double(b, r->done ? r->pixel_accuracy : NAN);
        sb_printf(b, ",\"best_epoch\":");
        cv_json_double(b, r->done ? r->best_epoch : NAN);
        sb_printf(b, ",\"seconds\":");
        cv_json_double(b, r->done ? r->seconds : NAN);
        sb_printf(b, ",\"run\":");
        if (c->folds[f].dir)
            sb_json_string(b, strrchr(c->folds[f].dir, '/') + 1);
        else
            sb_printf(b, "null");
        sb_printf(b, "}");
    }
    sb_printf(b, "]");
}

void cv_cfg_json(sbuf *b, const search *S, const cfg_state *c)
{
    sb_printf(b, "{\"label\":");
    sb_json_string(b, c->label);
    sb_printf(b, ",\"config\":");
    cv_config_json(b, &c->c);
    sb_printf(b, ",\"rung\":%d,\"miou_mean\":", c->rung);
    cv_json_double(b, c->miou_mean);
    sb_printf(b, ",\"miou_std\":");
    cv_json_double(b, c->miou_std);
    sb_printf(b, ",\"macro_f1_mean\":");
    cv_json_double(b, c->f1_mean);
    sb_printf(b, ",\"macro_f1_std\":");
    cv_json_double(b, c->f1_std);
    sb_printf(b, ",\"best_epoch_mean\":");
    cv_json_double(b, c->epoch_mean);
    sb_printf(b, ",\"parameters\":%zu,\"train_seconds\":", c->params);
    cv_json_double(b, c->seconds);
    sb_printf(b, ",\"folds\":");
    cv_fold_json(b, S, c);
    sb_printf(b, "}");
}

/* The retrain's curves with the winner's validation curves (mean over folds
 * per epoch, where every scored fold has the epoch) beside them. */
void cv_plot_final(search *S, const cfg_state *best, const curve_log *final_log)
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
                cv_msg(S, CV_MSG_WARNING, "no curves plot: %s", unet_last_error());
            free(fa);
        }
    }
    for (int i = 0; i < n_cv; i++)
        curve_log_free(&folds[i]);
    free(buf);
    free(png);
}

unet_status cv_export_model(search *S, const char *path, const unet_params *params,
                            const char *training_json)
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
    return unet_export_onnx(path, params, &meta);
}

