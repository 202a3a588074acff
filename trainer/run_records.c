/* The text records of one unet-train run (see run_records.h). */
#include <math.h>
#include <omp.h>

#include "run_records.h"
#include "schedule.h"

void run_json_number(sbuf *b, double v) { sb_json_number(b, v, 9); }

void run_config_json(sbuf *b, const options *o, const unet_arch *a, int ranks)
{
    sb_printf(b, "{\"depth\":%d,\"filters\":%d,\"batchnorm\":%s,\"dropout\":%.6g", a->depth,
              a->base_filters, a->batchnorm ? "true" : "false", (double)a->dropout);
    sb_printf(b, ",\"epochs\":%ld,\"batch\":%ld,\"optimizer\":\"%s\",\"lr\":", o->epochs, o->batch,
              o->optimizer == OPTIM_ADAM ? "adam" : "sgd");
    run_json_number(b, o->lr);
    if (o->optimizer == OPTIM_SGD) {
        sb_printf(b, ",\"momentum\":");
        run_json_number(b, o->momentum);
    }
    sb_printf(b, ",\"weight_decay\":");
    run_json_number(b, o->weight_decay);
    sb_printf(b, ",\"schedule\":\"%s\"", schedule_kind_name(o->schedule));
    if (o->schedule == SCHEDULE_STEP) {
        sb_printf(b, ",\"step_size\":%ld,\"gamma\":", o->step_size);
        run_json_number(b, o->gamma);
    }
    sb_printf(b, ",\"class_weights\":");
    sb_json_string(b, o->class_weights);
    sb_printf(b, ",\"loss\":\"%s\"", loss_kind_name(o->loss));
    if (o->loss == LOSS_CE_DICE || o->loss == LOSS_CE_LOVASZ)
        sb_printf(b, ",\"loss_weight\":%.6g", o->loss_weight);
    sb_printf(b, ",\"ignore_label\":%d,\"augment\":%s,\"seed\":%llu,\"threads\":%d",
              o->ignore_label, o->augment ? "true" : "false", (unsigned long long)o->seed,
              o->threads > 0 ? o->threads : omp_get_max_threads());
    if (o->crops_per_epoch)
        sb_printf(b, ",\"crops_per_epoch\":%ld", o->crops_per_epoch);
    sb_printf(b, ",\"validation\":");
    if (o->val_fold) {
        sb_printf(b, "{\"fold\":");
        sb_json_string(b, o->val_fold);
        sb_printf(b, "}");
    } else if (o->val_fraction > 0) {
        sb_printf(b, "{\"fraction\":");
        run_json_number(b, o->val_fraction);
        sb_printf(b, "}");
    } else if (o->val_dir) {
        sb_printf(b, "{\"dir\":");
        sb_json_string(b, o->val_dir);
        sb_printf(b, "}");
    } else {
        sb_printf(b, "null");
    }
    sb_printf(b, ",\"max_steps\":%llu", (unsigned long long)o->max_steps);
    if (ranks > 1)
        sb_printf(b, ",\"ranks\":%d", ranks);
    sb_printf(b, "}");
}

/* ,"val_loss":..,...,"classes":[...] of an epoch with validation; with_id
 * puts each class's id before its name (the JSONL log's shape). */
static void val_json(sbuf *b, const train_epoch_report *r, const unet_palette *pal, int with_id)
{
    sb_printf(b, ",\"val_loss\":");
    run_json_number(b, r->val_loss);
    sb_printf(b, ",\"val_pixel_accuracy\":");
    run_json_number(b, r->val.pixel_accuracy);
    sb_printf(b, ",\"val_miou\":");
    run_json_number(b, r->val.mean_iou);
    sb_printf(b, ",\"val_macro_f1\":");
    run_json_number(b, r->val.macro_f1);
    sb_printf(b, ",\"classes\":[");
    for (int k = 0; k < r->val.n_classes; k++) {
        const unet_class_metrics *m = &r->val.per_class[k];
        sb_printf(b, "%s{", k ? "," : "");
        if (with_id)
            sb_printf(b, "\"id\":%d,", k);
        sb_printf(b, "\"name\":");
        sb_json_string(b, pal->classes[k].name);
        sb_printf(b, ",\"precision\":");
        run_json_number(b, m->precision);
        sb_printf(b, ",\"recall\":");
        run_json_number(b, m->recall);
        sb_printf(b, ",\"f1\":");
        run_json_number(b, m->f1);
        sb_printf(b, ",\"iou\":");
        run_json_number(b, m->iou);
        sb_printf(b, ",\"support\":%llu}", (unsigned long long)m->support);
    }
    sb_printf(b, "]");
}

void run_metrics_json(sbuf *b, const train_epoch_report *r, const unet_palette *pal)
{
    sb_printf(b, "{\"epoch\":%llu,\"partial\":%s,\"train_loss\":", (unsigned long long)r->epoch + 1,
              r->partial ? "true" : "false");
    run_json_number(b, r->train_loss);
    sb_printf(b, ",\"train_accuracy\":");
    run_json_number(b, r->train_accuracy);
    if (r->has_val)
        val_json(b, r, pal, 0);
    sb_printf(b, "}");
}

void run_epoch_csv(sbuf *b, const train_epoch_report *r, int n_classes)
{
    sb_printf(b, "%llu,%d,%llu", (unsigned long long)r->epoch + 1, r->partial,
              (unsigned long long)r->global_step);
    sb_csv_number(b, r->lr);
    sb_csv_number(b, r->train_loss);
    sb_csv_number(b, r->train_accuracy);
    sb_csv_number(b, r->has_val ? r->val_loss : NAN);
    sb_csv_number(b, r->has_val ? r->val.pixel_accuracy : NAN);
    sb_csv_number(b, r->has_val ? r->val.mean_iou : NAN);
    sb_csv_number(b, r->has_val ? r->val.macro_f1 : NAN);
    sb_printf(b, ",%d", r->is_best);
    sb_csv_number(b, r->epoch_seconds);
    sb_csv_number(b, r->tiles_per_second);
    for (int k = 0; k < n_classes; k++)
        sb_csv_number(b, r->has_val ? r->val.per_class[k].iou : NAN);
    for (int k = 0; k < n_classes; k++)
        sb_csv_number(b, r->has_val ? r->val.per_class[k].f1 : NAN);
    sb_printf(b, "\n");
}

void run_epoch_jsonl(sbuf *b, const train_epoch_report *r, const unet_palette *pal)
{
    sb_printf(b, "{\"epoch\":%llu,\"partial\":%s,\"step\":%llu,\"lr\":",
              (unsigned long long)r->epoch + 1, r->partial ? "true" : "false",
              (unsigned long long)r->global_step);
    run_json_number(b, r->lr);
    sb_printf(b, ",\"train_loss\":");
    run_json_number(b, r->train_loss);
    sb_printf(b, ",\"train_accuracy\":");
    run_json_number(b, r->train_accuracy);
    if (r->has_val)
        val_json(b, r, pal, 1);
    sb_printf(b, ",\"best\":%s,\"seconds\":", r->is_best ? "true" : "false");
    run_json_number(b, r->epoch_seconds);
    sb_printf(b, ",\"tiles_per_second\":");
    run_json_number(b, r->tiles_per_second);
    sb_printf(b, "}\n");
}
