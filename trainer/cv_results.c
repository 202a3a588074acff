/* A search run's folder name and its result.json (see cv_state.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unet/metrics.h>

#include "cv_state.h"
#include "text_file.h"

/* ---- reading back our own JSON -------------------------------------------------- */

/* The number after "key": (null gives NaN); -1 when the key is absent. The
 * files read here are the ones this module writes, whose keys are unique. */
int cv_json_number(const char *text, const char *key, double *out)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    if (strncmp(p, "null", 4) == 0) {
        *out = NAN;
        return 0;
    }
    char *end;
    const double v = strtod(p, &end);
    if (end == p)
        return -1;
    *out = v;
    return 0;
}

/* The string after "key": into buf (no escapes expected); -1 when absent. */
int cv_json_string(const char *text, const char *key, char *buf, size_t size)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(text, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    const char *q = strchr(p, '"');
    if (!q || (size_t)(q - p) >= size)
        return -1;
    memcpy(buf, p, (size_t)(q - p));
    buf[q - p] = '\0';
    return 0;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* The run's folder name and the description its hash covers. */
unet_status cv_run_dir(const search *S, const run_spec *sp, const tile_split *split,
                           char **dir)
{
    sbuf d = {0};
    cv_config_json(&d, &sp->cfg->c);
    sb_printf(&d, "|%s|fold=%d|rung=%d|epochs=%llu|limit=%.3f|train=%d|val=%d", S->base_json,
              sp->fold, sp->rung, (unsigned long long)sp->epochs, sp->time_limit, split->n_train,
              split->n_val);
    if (d.nomem)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    const uint64_t h = fnv1a(d.s);
    free(d.s);
    char name[400];
    if (sp->fold >= 0)
        snprintf(name, sizeof name, "/%s.fold%d.r%d.%08x", sp->cfg->slug, sp->fold, sp->rung,
                 (unsigned)(h ^ (h >> 32)));
    else
        snprintf(name, sizeof name, "/%s.final.%08x", sp->cfg->slug, (unsigned)(h ^ (h >> 32)));
    *dir = str_concat(S->dir, name);
    return *dir ? UNET_OK : unet_set_error(UNET_ERR_NOMEM, "out of memory");
}

unet_status cv_read_result(const char *path, const char *id, run_result *r)
{
    memset(r, 0, sizeof *r);
    char *t;
    UNET_TRY(text_file_read(path, &t, NULL));
    char got[400], end[32];
    int bad = cv_json_string(t, "id", got, sizeof got) != 0 || strcmp(got, id) != 0 ||
              cv_json_string(t, "end", end, sizeof end) != 0 || train_end_from_name(end) < 0;
    struct {
        const char *key;
        double *v;
    } keys[] = {{"epochs_completed", &r->epochs_completed}, {"steps", &r->steps},
                {"steps_per_epoch", &r->steps_per_epoch}, {"best_epoch", &r->best_epoch},
                {"best_epoch_fraction", &r->best_epoch_fraction}, {"val_miou", &r->miou},
                {"val_macro_f1", &r->f1}, {"val_pixel_accuracy", &r->pixel_accuracy},
                {"val_loss", &r->val_loss}, {"seconds", &r->seconds}, {"sessions", &r->sessions}};
    for (size_t i = 0; !bad && i < sizeof keys / sizeof keys[0]; i++)
        bad = cv_json_number(t, keys[i].key, keys[i].v) != 0;
    if (!bad)
        r->end = train_end_from_name(end);
    free(t);
    if (bad)
        return unet_set_error(UNET_ERR_PARSE, "%s is not a result of run %s", path, id);
    r->done = 1;
    return UNET_OK;
}

unet_status cv_write_result(const search *S, const run_spec *sp, const char *path,
                                const char *id, const run_result *r, const tile_split *split,
                                const char *carried_from)
{
    sbuf b = {0};
    sb_printf(&b, "{\"id\":");
    sb_json_string(&b, id);
    sb_printf(&b, ",\"config\":");
    cv_config_json(&b, &sp->cfg->c);
    sb_printf(&b, ",\"label\":");
    sb_json_string(&b, sp->cfg->label);
    if (sp->fold >= 0)
        sb_printf(&b, ",\"fold\":%d", sp->fold);
    else
        sb_printf(&b, ",\"fold\":null");
    sb_printf(&b, ",\"rung\":%d,\"epochs_limit\":%llu,\"time_limit\":", sp->rung,
              (unsigned long long)sp->epochs);
    cv_json_double(&b, sp->time_limit > 0 ? sp->time_limit : NAN);
    sb_printf(&b, ",\"end\":\"%s\",\"epochs_completed\":%.0f,\"steps\":%.0f,\"steps_per_epoch\":%.0f",
              train_end_name(r->end), r->epochs_completed, r->steps, r->steps_per_epoch);
    sb_printf(&b, ",\"best_epoch\":");
    cv_json_double(&b, r->best_epoch);
    sb_printf(&b, ",\"best_epoch_fraction\":");
    cv_json_double(&b, r->best_epoch_fraction);
    sb_printf(&b, ",\"val_miou\":");
    cv_json_double(&b, r->miou);
    sb_printf(&b, ",\"val_macro_f1\":");
    cv_json_double(&b, r->f1);
    sb_printf(&b, ",\"val_pixel_accuracy\":");
    cv_json_double(&b, r->pixel_accuracy);
    sb_printf(&b, ",\"val_loss\":");
    cv_json_double(&b, r->val_loss);
    if (r->n_class_iou > 0) {
        /* Keyed by class name: the file explains itself without the tiles. */
        const unet_palette *pal = S->o->pal;
        sb_printf(&b, ",\"val_class_iou\":{");
        for (int k = 0; k < r->n_class_iou && k < pal->n_classes; k++) {
            sb_printf(&b, k ? "," : "");
            sb_json_string(&b, pal->classes[k].name);
            sb_printf(&b, ":");
            cv_json_double(&b, r->class_iou[k]);
        }
        sb_printf(&b, "}");
    }
    sb_printf(&b, ",\"seconds\":");
    cv_json_double(&b, r->seconds);
    sb_printf(&b, ",\"sessions\":%.0f,\"parameters\":%zu,\"train_tiles\":%d,\"val_tiles\":%d",
              r->sessions, sp->cfg->params, split->n_train, split->n_val);
    /* Which process wrote it, and how many trained it together. */
    sb_printf(&b, ",\"rank\":%d,\"processes\":%d", S->rank, sp->dp ? S->size : 1);
    sb_printf(&b, ",\"carried_from\":");
    if (carried_from)
        sb_json_string(&b, carried_from);
    else
        sb_printf(&b, "null");
    sb_printf(&b, ",\"finished_unix\":%lld}\n", (long long)time(NULL));
    if (b.nomem)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    unet_status s = atomic_file_write_all(path, b.s, b.len);
    free(b.s);
    return s;
}

/* The result from the run's log: its best validated epoch (the first of
 * equal ones, as the training loop keeps it). */
void cv_result_from_log(const curve_log *log, const train_progress *pr, int end, uint64_t spe,
                            double sessions, run_result *r)
{
    memset(r, 0, sizeof *r);
    r->done = 1;
    r->end = end;
    r->epochs_completed = (double)pr->epoch;
    r->steps = (double)pr->global_step;
    r->steps_per_epoch = (double)spe;
    r->seconds = pr->seconds;
    r->sessions = sessions;
    r->best_epoch = r->best_epoch_fraction = r->miou = r->f1 = r->pixel_accuracy = r->val_loss = NAN;
    int best = -1;
    for (int i = 0; i < log->n; i++)
        if (isfinite(log->rows[i].val_miou) &&
            (best < 0 || log->rows[i].val_miou > log->rows[best].val_miou))
            best = i;
    if (best < 0) {
        /* No validation (the retrain): the last row stands for the run. */
        if (log->n > 0)
            r->best_epoch_fraction = spe ? (double)log->rows[log->n - 1].step / (double)spe : NAN;
        return;
    }
    const curve_row *b = &log->rows[best];
    r->best_epoch = b->epoch;
    r->best_epoch_fraction = spe ? (double)b->step / (double)spe : (double)b->epoch;
    r->miou = b->val_miou;
    r->f1 = b->val_macro_f1;
    r->pixel_accuracy = b->val_pixel_accuracy;
    r->val_loss = b->val_loss;
    r->n_class_iou = b->n_class_iou;
    for (int k = 0; k < b->n_class_iou; k++)
        r->class_iou[k] = b->val_class_iou[k];
}

