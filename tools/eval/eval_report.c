/* Text, JSON and CSV renderings of an evaluation (see eval_report.h). */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include <unet/palette.h>

#include "eval_report.h"
#include "json_out.h"

#define LABEL_W 18

static void label_of(const eval_class_info *cls, int c, char *buf, size_t size)
{
    snprintf(buf, size, "%d %s", c, c < cls->n_classes ? cls->names[c] : "");
}

static void print_ratio(FILE *f, double v, int width)
{
    if (isnan(v))
        fprintf(f, " %*s", width, "n/a");
    else
        fprintf(f, " %*.4f", width, v);
}

void eval_report_table(FILE *f, const eval_run *r, const unet_confusion *cm, const unet_metrics *m,
                       const eval_class_info *cls)
{
    fprintf(f, "unet-eval: %s on %s", r->model, r->tiles);
    if (r->fold)
        fprintf(f, " (fold %s of %s)", r->fold, r->folds_file);
    fprintf(f, "\n%d of %d tiles evaluated%s", r->evaluated, r->selected, r->interrupted ? " (interrupted)" : "");
    if (r->failed)
        fprintf(f, ", %d failed", r->failed);
    fprintf(f, "; %" PRIu64 " pixels counted, %" PRIu64 " ignored (label %d)", m->total, r->ignored_pixels,
            r->ignore_label);
    if (r->unknown_label_pixels)
        fprintf(f, ", %" PRIu64 " with labels that are not classes", r->unknown_label_pixels);
    fprintf(f, "\n");
    int k = cm && cm->counts ? cm->n_classes : 0;
    if (k == 0) {
        fprintf(f, "no pixels were evaluated\n");
        return;
    }

    uint64_t max = 0;
    for (size_t i = 0; i < (size_t)k * (size_t)k; i++)
        if (cm->counts[i] > max)
            max = cm->counts[i];
    char num[32];
    int cw = snprintf(num, sizeof num, "%" PRIu64, max) + 2;
    if (cw < 14)
        cw = 14;
    char label[96];
    fprintf(f, "\nConfusion matrix (pixels; rows = ground truth, columns = prediction)\n");
    fprintf(f, "%-*s", LABEL_W, "truth \\ pred");
    for (int p = 0; p < k; p++) {
        label_of(cls, p, label, sizeof label);
        fprintf(f, " %*.*s", cw - 1, cw - 2, label);
    }
    fprintf(f, "\n");
    for (int t = 0; t < k; t++) {
        label_of(cls, t, label, sizeof label);
        fprintf(f, "%-*.*s", LABEL_W, LABEL_W, label);
        for (int p = 0; p < k; p++)
            fprintf(f, " %*" PRIu64, cw - 1, cm->counts[(size_t)t * (size_t)k + (size_t)p]);
        fprintf(f, "\n");
    }

    fprintf(f, "\n%-*s %12s %12s %10s %10s %10s %10s\n", LABEL_W, "class", "support", "predicted",
            "precision", "recall", "F1", "IoU");
    for (int c = 0; c < k; c++) {
        const unet_class_metrics *cm_c = &m->per_class[c];
        label_of(cls, c, label, sizeof label);
        fprintf(f, "%-*.*s %12" PRIu64 " %12" PRIu64, LABEL_W, LABEL_W, label, cm_c->support,
                cm_c->predicted);
        print_ratio(f, cm_c->precision, 10);
        print_ratio(f, cm_c->recall, 10);
        print_ratio(f, cm_c->f1, 10);
        print_ratio(f, cm_c->iou, 10);
        fprintf(f, "%s\n", cm_c->support ? "" : "  (not in ground truth)");
    }
    fprintf(f, "\n%-15s", "pixel accuracy");
    print_ratio(f, m->pixel_accuracy, 7);
    fprintf(f, "\n%-15s", "mean IoU");
    print_ratio(f, m->mean_iou, 7);
    fprintf(f, "  (over the %d of %d classes present in the ground truth)\n%-15s", m->n_present, k, "macro F1");
    print_ratio(f, m->macro_f1, 7);
    fprintf(f, "  (same classes)\n%-15s", "weighted F1");
    print_ratio(f, m->weighted_f1, 7);
    fprintf(f, "  (F1 weighted by ground-truth pixels)\n");
}

static void json_opt_string(FILE *f, const char *s)
{
    if (s)
        json_write_string(f, s);
    else
        fputs("null", f);
}

void eval_report_json(FILE *f, const eval_run *r, const unet_confusion *cm, const unet_metrics *m,
                      const eval_class_info *cls)
{
    int k = cm && cm->counts ? cm->n_classes : 0;
    fprintf(f, "{\"program\":\"unet-eval\",\"version\":");
    json_write_string(f, UNET_VERSION_STRING);
    fprintf(f, ",\"model\":");
    json_write_string(f, r->model);
    fprintf(f, ",\"tiles\":");
    json_write_string(f, r->tiles);
    fprintf(f, ",\"folds_file\":");
    json_opt_string(f, r->fold ? r->folds_file : NULL);
    fprintf(f, ",\"fold\":");
    json_opt_string(f, r->fold);
    fprintf(f, ",\"ignore_label\":%d,\"tiles_selected\":%d,\"tiles_evaluated\":%d,\"tiles_failed\":%d,"
               "\"interrupted\":%s,\"failures\":[",
            r->ignore_label, r->selected, r->evaluated, r->failed, r->interrupted ? "true" : "false");
    for (int i = 0; i < r->n_failures; i++) {
        fprintf(f, "%s{\"tile\":", i ? "," : "");
        json_write_string(f, r->failures[i].tile);
        fprintf(f, ",\"error\":");
        json_write_string(f, r->failures[i].error);
        fputc('}', f);
    }
    fprintf(f, "],\"pixels\":{\"counted\":%" PRIu64 ",\"ignored\":%" PRIu64 ",\"unknown_label\":%" PRIu64 "}",
            m->total, r->ignored_pixels, r->unknown_label_pixels);
    fprintf(f, ",\"n_classes\":%d,\"n_present\":%d,\"pixel_accuracy\":", k, m->n_present);
    json_write_number(f, m->pixel_accuracy);
    fprintf(f, ",\"mean_iou\":");
    json_write_number(f, m->mean_iou);
    fprintf(f, ",\"macro_f1\":");
    json_write_number(f, m->macro_f1);
    fprintf(f, ",\"weighted_f1\":");
    json_write_number(f, m->weighted_f1);
    fprintf(f, ",\"classes\":[");
    for (int c = 0; c < k; c++) {
        const unet_class_metrics *x = &m->per_class[c];
        uint64_t tp = cm->counts[(size_t)c * (size_t)k + (size_t)c];
        char hex[8];
        unet_format_hex_color(cls->colors[c], hex);
        fprintf(f, "%s{\"id\":%d,\"name\":", c ? "," : "", c);
        json_write_string(f, cls->names[c]);
        fprintf(f, ",\"color\":\"%s\",\"present\":%s,\"support\":%" PRIu64 ",\"predicted\":%" PRIu64
                   ",\"tp\":%" PRIu64 ",\"fp\":%" PRIu64 ",\"fn\":%" PRIu64 ",\"precision\":",
                hex, x->support ? "true" : "false", x->support, x->predicted, tp, x->predicted - tp,
                x->support - tp);
        json_write_number(f, x->precision);
        fprintf(f, ",\"recall\":");
        json_write_number(f, x->recall);
        fprintf(f, ",\"f1\":");
        json_write_number(f, x->f1);
        fprintf(f, ",\"iou\":");
        json_write_number(f, x->iou);
        fputc('}', f);
    }
    fprintf(f, "],\"confusion_matrix\":[");
    for (int t = 0; t < k; t++) {
        fprintf(f, "%s[", t ? "," : "");
        for (int p = 0; p < k; p++)
            fprintf(f, "%s%" PRIu64, p ? "," : "", cm->counts[(size_t)t * (size_t)k + (size_t)p]);
        fputc(']', f);
    }
    fprintf(f, "],\"timing\":{\"seconds\":");
    json_write_number(f, r->seconds);
    fprintf(f, ",\"tiles_per_second\":");
    json_write_number(f, r->seconds > 0 ? r->evaluated / r->seconds : NAN);
    fprintf(f, "}}\n");
}

static void csv_ratio(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, ",%.15g", v);
    else
        fputc(',', f);
}

static void csv_string(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void eval_report_csv(FILE *f, const unet_confusion *cm, const unet_metrics *m,
                     const eval_class_info *cls)
{
    int k = cm && cm->counts ? cm->n_classes : 0;
    fprintf(f, "id,name,color,support,predicted,tp,fp,fn,precision,recall,f1,iou\n");
    for (int c = 0; c < k; c++) {
        const unet_class_metrics *x = &m->per_class[c];
        uint64_t tp = cm->counts[(size_t)c * (size_t)k + (size_t)c];
        char hex[8];
        unet_format_hex_color(cls->colors[c], hex);
        fprintf(f, "%d,", c);
        csv_string(f, cls->names[c]);
        fprintf(f, ",%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64, hex, x->support,
                x->predicted, tp, x->predicted - tp, x->support - tp);
        csv_ratio(f, x->precision);
        csv_ratio(f, x->recall);
        csv_ratio(f, x->f1);
        csv_ratio(f, x->iou);
        fputc('\n', f);
    }
}
