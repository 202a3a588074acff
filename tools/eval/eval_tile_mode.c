/* unet-eval's tile mode: every tile of a tiles folder through the model,
 * one confusion matrix, and the outputs (see eval_program.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <unet/image.h>
#include <unet/meta.h>
#include <unet/metrics.h>
#include <unet/palette.h>
#include <unet/unet.h>

#include "atomic_file.h"
#include "cli_message.h"
#include "confusion_heatmap.h"
#include "error_map.h"
#include "eval_html.h"
#include "eval_program.h"
#include "tile_batch.h"

/* ---- class names and colours ---------------------------------------------- */

static void resolve_classes(const eval_options *o, const unet_model_meta *meta, int k, eval_class_info *cls)
{
    memset(cls, 0, sizeof *cls);
    cls->n_classes = k;
    unet_palette tiles_pal, def;
    unet_palette_default(&def);
    /* Names for a model without them: TILES/classes.tsv, or in scene mode --palette. */
    char *path = o->scene ? (o->palette ? cli_xstrdup(o->palette) : NULL) : cli_path_join(o->tiles, "classes.tsv");
    struct stat st;
    int have_tsv = 0;
    if (path && stat(path, &st) == 0) {
        if (unet_palette_read(path, &tiles_pal) == UNET_OK)
            have_tsv = 1;
        else
            eval_warn(o, "%s: %s; not used for class names", path, unet_last_error());
    }
    for (int c = 0; c < k; c++) {
        const char *name = NULL;
        const uint8_t *rgb = NULL;
        if (meta->has_names && c < meta->n_classes)
            name = meta->names[c];
        else if (have_tsv && c < tiles_pal.n_classes)
            name = tiles_pal.classes[c].name;
        else if (c < def.n_classes)
            name = def.classes[c].name;
        if (meta->has_colors && c < meta->n_classes)
            rgb = meta->colors[c];
        else if (have_tsv && c < tiles_pal.n_classes)
            rgb = tiles_pal.classes[c].rgb;
        else if (c < def.n_classes)
            rgb = def.classes[c].rgb;
        if (name)
            snprintf(cls->names[c], sizeof cls->names[c], "%s", name);
        else
            snprintf(cls->names[c], sizeof cls->names[c], "class %d", c);
        if (rgb) {
            memcpy(cls->colors[c], rgb, 3);
        } else { /* a deterministic spread for classes beyond every palette */
            cls->colors[c][0] = (uint8_t)(c * 73);
            cls->colors[c][1] = (uint8_t)(c * 151);
            cls->colors[c][2] = (uint8_t)(c * 211);
        }
    }
    if ((meta->has_names || meta->has_colors) && meta->n_classes != k)
        eval_warn(o, "the model's metadata lists %d classes but its output has %d", meta->n_classes, k);
    if (have_tsv && tiles_pal.n_classes != k)
        eval_warn(o, "%s lists %d classes but the model has %d; mask values are read as the model's class ids",
             path, tiles_pal.n_classes, k);
    else if (have_tsv && meta->has_names)
        for (int c = 0; c < k; c++)
            if (strcmp(tiles_pal.classes[c].name, cls->names[c])) {
                eval_warn(o, "class %d is '%s' in the model but '%s' in %s", c, cls->names[c],
                     tiles_pal.classes[c].name, path);
                break;
            }
    free(path);
}

/* ---- the evaluation ----------------------------------------------------------- */

static void fail(evaluator *e, int index, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const eval_tile *t = &e->tiles->t[index];
    fprintf(stderr, "%s" PROG ": %s: %s\n", !e->o->quiet && isatty(2) ? "\n" : "", t->name, msg);
    eval_failure *p = realloc(e->run.failures, (size_t)(e->run.n_failures + 1) * sizeof *p);
    if (p) {
        e->run.failures = p;
        p[e->run.n_failures].tile = cli_xstrdup(t->name);
        p[e->run.n_failures].error = cli_xstrdup(msg);
        e->run.n_failures++;
    }
    if (!e->tile_failed[index]) {
        e->tile_failed[index] = 1;
        e->run.failed++;
    }
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    uint8_t *p = realloc(*buf, need);
    if (!p)
        return -1;
    *buf = p;
    *cap = need;
    return 0;
}

int eval_ensure_matrix(evaluator *e, int k)
{
    if (e->cm.counts)
        return 0;
    if (unet_confusion_init(&e->cm, k) != UNET_OK) {
        fprintf(stderr, PROG ": %s\n", unet_last_error());
        return -1;
    }
    resolve_classes(e->o, &e->meta, k, &e->cls);
    if (e->o->report) {
        if (report_gallery_init(&e->gallery, e->o->report_tiles, k) != 0) {
            fprintf(stderr, PROG ": out of memory for the report's gallery\n");
            return -1;
        }
        e->gallery_ready = 1;
    }
    return 0;
}

/* Reads image and mask of tile i; 0 when both are usable. */
static int load_tile(evaluator *e, int i, loaded_tile *lt)
{
    memset(lt, 0, sizeof *lt);
    lt->index = i;
    const eval_tile *t = &e->tiles->t[i];
    if (t->problem) {
        fail(e, i, "%s", t->problem);
        return -1;
    }
    char *mask_name = malloc(strlen(t->name) + 5);
    if (!mask_name) {
        fail(e, i, "out of memory");
        return -1;
    }
    sprintf(mask_name, "%s.png", t->name);
    char *masks = cli_path_join(e->o->tiles, "masks");
    char *mask_path = cli_path_join(masks, mask_name);
    free(masks);
    free(mask_name);
    int rc = -1;
    struct stat st;
    if (stat(mask_path, &st) != 0) {
        fail(e, i, "no mask: %s: %s", mask_path, strerror(errno));
    } else if (unet_image_read(t->image, UNET_IMAGE_DEFAULT, &lt->image) != UNET_OK) {
        fail(e, i, "%s", unet_last_error());
    } else if (unet_image_read(mask_path, UNET_IMAGE_PALETTE_INDEX, &lt->mask) != UNET_OK) {
        fail(e, i, "%s", unet_last_error());
    } else if (lt->mask.channels != 1) {
        fail(e, i, "%s has %d channels; expected an index mask (8-bit gray or palette PNG, value = class id)",
             mask_path, lt->mask.channels);
    } else if (lt->mask.width != lt->image.width || lt->mask.height != lt->image.height) {
        fail(e, i, "mask %s is %dx%d but image %s is %dx%d", mask_path, lt->mask.width, lt->mask.height,
             t->image, lt->image.width, lt->image.height);
    } else {
        rc = 0;
    }
    if (rc != 0) {
        unet_image_free(&lt->image);
        unet_image_free(&lt->mask);
    }
    free(mask_path);
    return rc;
}

static void count_tile(evaluator *e, const loaded_tile *lt, const uint8_t *pred)
{
    const eval_tile *t = &e->tiles->t[lt->index];
    size_t n = (size_t)lt->mask.width * (size_t)lt->mask.height;
    const uint8_t *truth = lt->mask.pixels;
    int k = e->cm.n_classes;
    uint64_t ignored = 0, unknown = 0;
    int first_unknown = -1;
    for (size_t i = 0; i < n; i++) {
        if (truth[i] == e->ignore_label)
            ignored++;
        else if (truth[i] >= k) {
            if (!unknown)
                first_unknown = truth[i];
            unknown++;
        }
    }
    if (unet_confusion_add(&e->cm, truth, pred, n, e->ignore_label) != UNET_OK) {
        fail(e, lt->index, "%s", unet_last_error());
        return;
    }
    e->run.ignored_pixels += ignored;
    e->run.unknown_label_pixels += unknown;
    e->run.evaluated++;
    if (unknown)
        eval_warn(e->o, "%s: %llu mask pixels hold labels that are not classes of the model (first: %d); left out",
             t->name, (unsigned long long)unknown, first_unknown);
    if (e->gallery_ready &&
        report_gallery_offer(&e->gallery, t->name, lt->mask.width, lt->mask.height, truth, pred,
                             (size_t)lt->mask.width, lt->image.pixels, lt->image.channels,
                             (size_t)lt->image.width * (size_t)lt->image.channels, e->ignore_label) != 0)
        eval_warn(e->o, "%s: out of memory for the report's gallery; left out", t->name);
    if (e->o->errors) {
        if (grow(&e->rgb, &e->rgb_cap, 3 * n) != 0) {
            fail(e, lt->index, "out of memory for the error map");
            return;
        }
        error_map_render(truth, pred, n, k, e->ignore_label, (const uint8_t(*)[3])e->cls.colors, e->rgb);
        unet_image im = { lt->mask.width, lt->mask.height, 3, e->rgb };
        char *file = malloc(strlen(t->name) + 5);
        if (!file) {
            fail(e, lt->index, "out of memory");
            return;
        }
        sprintf(file, "%s.png", t->name);
        char *path = cli_path_join(e->o->errors, file);
        free(file);
        if (unet_png_write(path, &im, NULL, 0) != UNET_OK)
            fail(e, lt->index, "error map not written: %s", unet_last_error());
        free(path);
    }
}

static void flush(evaluator *e, loaded_tile *batch, int n)
{
    if (n == 0)
        return;
    int h = batch[0].image.height, w = batch[0].image.width, k = 0;
    size_t plane = (size_t)h * (size_t)w;
    const unet_image **images = malloc((size_t)n * sizeof *images);
    for (int b = 0; images && b < n; b++)
        images[b] = &batch[b].image;
    if (!images || grow(&e->pred, &e->pred_cap, (size_t)n * plane) != 0) {
        for (int b = 0; b < n; b++)
            fail(e, batch[b].index, "out of memory for %d predictions of %dx%d", n, w, h);
    } else if (tile_batch_predict(&e->tb, images, n, e->pred, &k) != UNET_OK) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", unet_last_error());
        for (int b = 0; b < n; b++)
            fail(e, batch[b].index, "%s", msg);
    } else if (eval_ensure_matrix(e, k) != 0) {
        for (int b = 0; b < n; b++)
            fail(e, batch[b].index, "no confusion matrix for %d classes", k);
    } else if (k != e->cm.n_classes) {
        for (int b = 0; b < n; b++)
            fail(e, batch[b].index, "the model gave %d classes for this tile size but %d before", k,
                 e->cm.n_classes);
    } else {
        for (int b = 0; b < n; b++)
            count_tile(e, &batch[b], e->pred + (size_t)b * plane);
    }
    free(images);
    for (int b = 0; b < n; b++) {
        unet_image_free(&batch[b].image);
        unet_image_free(&batch[b].mask);
    }
}

static void progress(const evaluator *e, int done)
{
    if (e->o->quiet || !isatty(2))
        return;
    fprintf(stderr, "\r" PROG ": %d/%d tiles", done, e->tiles->n);
    fflush(stderr);
}

/* Opens the model and its session; 0 on success. */
int eval_open_model(evaluator *e)
{
    const eval_options *o = e->o;
    if (unet_model_open_file(o->model, NULL, &e->model) != UNET_OK) {
        fprintf(stderr, PROG ": %s\n", unet_last_error());
        return -1;
    }
    if (unet_model_read_meta(e->model, &e->meta) != UNET_OK) {
        fprintf(stderr, PROG ": %s: %s\n", o->model, unet_last_error());
        return -1;
    }
    if (unet_model_input_count(e->model) != 1 || unet_model_output_count(e->model) < 1) {
        fprintf(stderr, PROG ": %s: the model has %d inputs and %d outputs; segmentation needs one image input and a class-score output\n",
                o->model, unet_model_input_count(e->model), unet_model_output_count(e->model));
        return -1;
    }
    unet_tensor_info out;
    unet_tensor_info *in = &e->in;
    if (unet_model_input_info(e->model, 0, in) != UNET_OK || unet_model_output_info(e->model, 0, &out) != UNET_OK) {
        fprintf(stderr, PROG ": %s: %s\n", o->model, unet_last_error());
        return -1;
    }
    if (out.rank == 4) {
        int64_t c = e->meta.input.nhwc ? out.dims[3] : out.dims[1];
        if (c > 0 && c <= 255)
            e->k_hint = (int)c;
    }
    if (!e->k_hint && e->meta.n_classes > 0)
        e->k_hint = e->meta.n_classes;
    unet_session_options so = { .threads = o->threads, .precision = o->precision };
    if (unet_session_create(e->model, &so, &e->session) != UNET_OK) {
        fprintf(stderr, PROG ": %s\n", unet_last_error());
        return -1;
    }
    tile_batch_init(&e->tb, e->session, &e->meta.input, in);
    e->ignore_label = o->ignore_label >= 0 ? o->ignore_label : e->meta.ignore_label;
    return 0;
}

/* Scene mode's table: eval_report_table's, whose first two lines speak of
 * tiles, under a header of its own, then a line per scene. */
static void scene_table(FILE *f, const evaluator *e, const unet_metrics *m)
{
    const eval_run *r = &e->run;
    char *buf = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&buf, &len);
    if (!mf) {
        fprintf(stderr, PROG ": out of memory for the table\n");
        return;
    }
    eval_report_table(mf, r, &e->cm, m, &e->cls);
    fclose(mf);
    const char *body = buf;
    for (int line = 0; line < 2 && body; line++)
        if ((body = strchr(body, '\n')))
            body++;
    fprintf(f, PROG ": %s on %s (whole images, %dx%d windows, overlap %d%s)\n", r->model, r->tiles, e->tile,
            e->tile, e->overlap, e->tta ? ", flips averaged" : "");
    fprintf(f, "%d of %d images evaluated%s", r->evaluated, r->selected, r->interrupted ? " (interrupted)" : "");
    if (r->failed)
        fprintf(f, ", %d failed", r->failed);
    fprintf(f, "; %" PRIu64 " pixels counted, %" PRIu64 " ignored (ignore colours or label %d)", m->total,
            r->ignored_pixels, r->ignore_label);
    if (r->unknown_label_pixels)
        fprintf(f, ", %" PRIu64 " with colours or labels that are not classes", r->unknown_label_pixels);
    fprintf(f, "; %.1f s\n%s", r->seconds, body ? body : "");
    eval_scenes_table(f, e->scenes);
    free(buf);
}

/* Writes the JSON (stdout and/or file), CSV and heat map; 0 when all were written. */
int eval_write_outputs(evaluator *e, const unet_metrics *m)
{
    const eval_options *o = e->o;
    int ok = 1;
    FILE *table = o->json ? (o->quiet ? NULL : stderr) : stdout;
    if (table && e->scenes)
        scene_table(table, e, m);
    else if (table)
        eval_report_table(table, &e->run, &e->cm, m, &e->cls);
    if (o->json || o->json_file) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f) {
            fprintf(stderr, PROG ": out of memory for the JSON report\n");
            return -1;
        }
        eval_report_json(f, &e->run, &e->cm, m, &e->cls);
        fflush(f);
        if (e->scenes && len >= 2 && !strcmp(buf + len - 2, "}\n")) {
            /* The scene keys go in before the object's closing brace. */
            fseek(f, (long)len - 2, SEEK_SET);
            fprintf(f, ",\"mode\":\"scene\",\"tile\":%d,\"overlap\":%d,\"tta\":%s,\"scenes\":", e->tile,
                    e->overlap, e->tta ? "true" : "false");
            eval_scenes_json(f, e->scenes);
            fprintf(f, "}\n");
        }
        fclose(f);
        if (o->json) {
            fwrite(buf, 1, len, stdout);
            fflush(stdout);
        }
        if (o->json_file && atomic_file_write_all(o->json_file, buf, len) != UNET_OK) {
            fprintf(stderr, PROG ": %s\n", unet_last_error());
            ok = 0;
        }
        free(buf);
    }
    if (o->csv) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f) {
            fprintf(stderr, PROG ": out of memory for the CSV report\n");
            return -1;
        }
        eval_report_csv(f, &e->cm, m, &e->cls);
        fclose(f);
        if (atomic_file_write_all(o->csv, buf, len) != UNET_OK) {
            fprintf(stderr, PROG ": %s\n", unet_last_error());
            ok = 0;
        }
        free(buf);
    }
    if (o->report) {
        eval_html r = { .run = &e->run, .cm = &e->cm, .m = m, .cls = &e->cls,
                        .gallery = e->gallery_ready ? &e->gallery : NULL, .scenes = e->scenes,
                        .tile = e->tile, .overlap = e->overlap };
        size_t size = 0;
        if (eval_html_write(o->report, &r, &size) != 0) {
            fprintf(stderr, PROG ": report not written: %s\n", unet_last_error());
            ok = 0;
        } else if (!o->quiet) {
            fprintf(stderr, PROG ": wrote %s (%zu bytes)\n", o->report, size);
        }
    }
    if (o->heatmap) {
        if (!e->cm.counts) {
            fprintf(stderr, PROG ": %s not written: the model's class count is unknown (no tile was evaluated)\n",
                    o->heatmap);
            ok = 0;
        } else if (confusion_heatmap_write(o->heatmap, e->cm.counts, e->cm.n_classes,
                                           (const uint8_t(*)[3])e->cls.colors) != UNET_OK) {
            fprintf(stderr, PROG ": %s\n", unet_last_error());
            ok = 0;
        }
    }
    return ok ? 0 : -1;
}

int eval_tile_mode_run(const eval_options *o, tile_list *tiles)
{
    evaluator *e = calloc(1, sizeof *e);
    if (!e) {
        fprintf(stderr, PROG ": out of memory\n");
        return EXIT_USAGE;
    }
    e->o = o;
    e->tiles = tiles;
    e->tile_failed = calloc((size_t)tiles->n + 1, 1);
    loaded_tile *batch = calloc((size_t)o->batch, sizeof *batch);
    int status = EXIT_USAGE;
    if (!e->tile_failed || !batch) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    if (eval_open_model(e) != 0)
        goto done;
    e->run.model = o->model;
    e->run.tiles = o->tiles;
    e->run.folds_file = o->folds_file;
    e->run.fold = o->fold;
    e->run.ignore_label = e->ignore_label;
    e->run.selected = tiles->n;

    double t0 = eval_now_seconds();
    int n = 0, i;
    for (i = 0; i < tiles->n && !eval_interrupted; i++) {
        loaded_tile lt;
        if (load_tile(e, i, &lt) != 0)
            continue;
        if (n > 0 && (lt.image.width != batch[0].image.width || lt.image.height != batch[0].image.height)) {
            flush(e, batch, n); /* a new size starts a new batch */
            n = 0;
        }
        batch[n++] = lt;
        if (n == o->batch) {
            flush(e, batch, n);
            n = 0;
            progress(e, i + 1);
        }
    }
    flush(e, batch, n);
    progress(e, i);
    if (!o->quiet && isatty(2))
        fputc('\n', stderr);
    e->run.seconds = eval_now_seconds() - t0;
    e->run.interrupted = eval_interrupted != 0;
    if (eval_interrupted)
        fprintf(stderr, PROG ": interrupted after %d of %d tiles; the metrics cover the tiles evaluated\n", i,
                tiles->n);

    if (!e->cm.counts && e->k_hint > 0 && eval_ensure_matrix(e, e->k_hint) != 0)
        goto done;
    unet_metrics *m = malloc(sizeof *m);
    if (!m) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    unet_metrics_compute(e->cm.counts ? &e->cm : NULL, m);
    int out_failed = eval_write_outputs(e, m) != 0;
    free(m);
    status = eval_interrupted ? EXIT_INTERRUPTED : (e->run.failed || out_failed) ? EXIT_SOME_FAILED : 0;

done:
    free(batch);
    eval_evaluator_free(e);
    return status;
}

void eval_evaluator_free(evaluator *e)
{
    if (!e)
        return;
    for (int f = 0; f < e->run.n_failures; f++) {
        free(e->run.failures[f].tile);
        free(e->run.failures[f].error);
    }
    free(e->run.failures);
    free(e->tile_failed);
    free(e->pred);
    free(e->rgb);
    tile_batch_free(&e->tb);
    unet_confusion_free(&e->cm);
    report_gallery_free(&e->gallery);
    unet_session_free(e->session);
    unet_model_free(e->model);
    free(e);
}

