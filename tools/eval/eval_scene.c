/* Whole-scene evaluation; see eval_scene.h. Per image: check the pair (mask
 * present, sizes agree, mask colours known), segment the image into a mask
 * PNG (or take the one this model left in --out), then read both masks band
 * by band, count, draw the error map, and add the image's matrix to its
 * scene's and the total. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <unet/image.h>

#include "error_map.h"
#include "eval_scene.h"
#include "infer_report.h"
#include "json_out.h"
#include "truth_mask.h"

#define BAND_ROWS 64 /* rows of both masks read and counted at once */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *str_printf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

/* ---- order and names ------------------------------------------------------ */

static int cmp_pairs(const void *a, const void *b)
{
    const scene_pair *p = a, *q = b;
    if (p->scene != q->scene)
        return p->scene < q->scene ? -1 : 1;
    int c = strcmp(p->stem, q->stem);
    return c ? c : strcmp(p->image, q->image);
}

/* A scene name inside a file name: '/' would make it a path. */
static char *file_safe(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; p && *p; p++)
        if (*p == '/')
            *p = '_';
    return d;
}

int eval_scenes_init(eval_scenes *es, scene_pairs *sp, int n_classes)
{
    memset(es, 0, sizeof *es);
    es->pairs = sp;
    if (sp->n_pairs)
        qsort(sp->pairs, sp->n_pairs, sizeof *sp->pairs, cmp_pairs);
    es->images = calloc(sp->n_pairs + 1, sizeof *es->images);
    es->scenes = calloc((size_t)sp->n_scenes + 1, sizeof *es->scenes);
    if (!es->images || !es->scenes)
        return -1;
    for (int s = 0; s < sp->n_scenes; s++)
        if (unet_confusion_init(&es->scenes[s].cm, n_classes) != UNET_OK)
            return -1;
    for (size_t i = 0; i < sp->n_pairs; i++) {
        const scene_pair *p = &sp->pairs[i];
        const char *scene = sp->scenes[p->scene].name;
        es->scenes[p->scene].selected++;
        int shared = 0; /* the stem is also an image's of another scene */
        for (size_t j = 0; j < sp->n_pairs && !shared; j++)
            shared = sp->pairs[j].scene != p->scene && !strcmp(sp->pairs[j].stem, p->stem);
        char *safe = file_safe(scene);
        es->images[i].label = str_printf("%s/%s", scene, p->stem);
        es->images[i].name = safe ? (shared ? str_printf("%s__%s", safe, p->stem) : strdup(p->stem)) : NULL;
        free(safe);
        if (!es->images[i].label || !es->images[i].name)
            return -1;
        for (size_t j = 0; j < i && !es->images[i].clash; j++)
            if (!strcmp(es->images[j].name, es->images[i].name))
                es->images[i].clash = (int)j + 1;
    }
    return 0;
}

void eval_scenes_free(eval_scenes *es)
{
    if (es->images)
        for (size_t i = 0; i < es->pairs->n_pairs; i++) {
            free(es->images[i].label);
            free(es->images[i].name);
        }
    if (es->scenes)
        for (int s = 0; s < es->pairs->n_scenes; s++)
            unet_confusion_free(&es->scenes[s].cm);
    free(es->images);
    free(es->scenes);
    memset(es, 0, sizeof *es);
}

/* ---- one image ---------------------------------------------------------------- */

typedef struct run_ctx {
    const eval_scene_config *c;
    eval_scenes *es;
    unet_confusion *total;
    eval_run *run;
    infer_report *report;
    unet_confusion image_cm;
    unet_metrics *metrics;
    uint8_t *truth, *pred, *rgb; /* BAND_ROWS rows each (rgb: 3 bytes a pixel) */
    size_t band_width;
    int tty;
    /* --report's gallery: a row of windows gathered band by band (truth,
     * prediction, RGB of gallery_window rows), and a band of image rows. */
    uint8_t *win_truth, *win_pred, *win_rgb, *img_band;
    size_t win_width;
} run_ctx;

/* Records a failure of image i (printed unless the message was already). */
static void fail(run_ctx *x, size_t i, int print, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    eval_scene_image *im = &x->es->images[i];
    if (print)
        fprintf(stderr, "%sunet-eval: %s: %s\n", x->tty && !x->c->quiet ? "\r\033[K" : "", im->label, msg);
    eval_failure *p = realloc(x->run->failures, (size_t)(x->run->n_failures + 1) * sizeof *p);
    if (p) {
        x->run->failures = p;
        p[x->run->n_failures].tile = strdup(im->label);
        p[x->run->n_failures].error = strdup(msg);
        if (p[x->run->n_failures].tile && p[x->run->n_failures].error)
            x->run->n_failures++;
        else {
            free(p[x->run->n_failures].tile);
            free(p[x->run->n_failures].error);
        }
    }
    if (im->status != EVAL_IMAGE_FAILED) {
        im->status = EVAL_IMAGE_FAILED;
        x->run->failed++;
        x->es->scenes[x->es->pairs->pairs[i].scene].failed++;
    }
}

static int band_buffers(run_ctx *x, int width)
{
    if ((size_t)width <= x->band_width)
        return 0;
    size_t n = (size_t)BAND_ROWS * (size_t)width;
    uint8_t *t = realloc(x->truth, n), *p = t ? realloc(x->pred, n) : NULL;
    if (t)
        x->truth = t;
    if (p)
        x->pred = p;
    uint8_t *r = p ? realloc(x->rgb, 3 * n) : NULL;
    if (!r)
        return -1;
    x->rgb = r;
    x->band_width = (size_t)width;
    return 0;
}

/* Reads the whole mask once to find colours outside the palette before the
 * image is segmented. -1 with the failure recorded. */
static int check_colours(run_ctx *x, size_t i, const char *mask_path, int width, int height)
{
    truth_mask *tm;
    if (truth_mask_open(mask_path, x->c->palette, &tm) != UNET_OK) {
        fail(x, i, 1, "%s", unet_last_error());
        return -1;
    }
    int rc = 0;
    for (int y = 0; y < height && rc == 0; y += BAND_ROWS) {
        int n = height - y < BAND_ROWS ? height - y : BAND_ROWS;
        if (truth_mask_read_rows(tm, x->truth, n) != UNET_OK) {
            fail(x, i, 1, "%s", unet_last_error());
            rc = -1;
        }
    }
    const unet_unknown_colors *u = truth_mask_unknown(tm);
    if (rc == 0 && u->count) {
        char hex[8];
        unet_format_hex_color(u->first_rgb, hex);
        fail(x, i, 1,
             "%s: colour %s at pixel (x=%d, y=%d) is neither a class colour nor an ignore colour "
             "(%" PRIu64 " such pixels of %dx%d); use --unknown-colors ignore to leave them out",
             mask_path, hex, u->first_x, u->first_y, u->count, width, height);
        rc = -1;
    }
    truth_mask_close(tm);
    return rc;
}

/* Room for a row of gallery windows of the image's width; -1 when out of memory. */
static int window_buffers(run_ctx *x, int width)
{
    if ((size_t)width <= x->win_width)
        return 0;
    size_t n = (size_t)x->c->gallery_window * (size_t)width;
    uint8_t *t = realloc(x->win_truth, n);
    if (t)
        x->win_truth = t;
    uint8_t *p = t ? realloc(x->win_pred, n) : NULL;
    if (p)
        x->win_pred = p;
    uint8_t *r = p ? realloc(x->win_rgb, 3 * n) : NULL;
    if (r)
        x->win_rgb = r;
    uint8_t *b = r ? realloc(x->img_band, 3 * (size_t)BAND_ROWS * (size_t)width) : NULL;
    if (!b)
        return -1;
    x->img_band = b;
    x->win_width = (size_t)width;
    return 0;
}

/* Offers each window of the gathered row (rows rows from y0) to the gallery. */
static int offer_windows(run_ctx *x, size_t i, int y0, int rows, int width)
{
    const eval_scene_config *c = x->c;
    int t = c->gallery_window;
    for (int x0 = 0; x0 < width; x0 += t) {
        int w = width - x0 < t ? width - x0 : t;
        char *label = str_printf("%s at x=%d, y=%d", x->es->images[i].label, x0, y0);
        size_t off = (size_t)x0;
        int rc = label ? report_gallery_offer(c->gallery, label, w, rows, x->win_truth + off, x->win_pred + off,
                                              (size_t)width, x->win_rgb + 3 * off, 3, 3 * (size_t)width,
                                              c->ignore_label)
                       : -1;
        free(label);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Counts the predicted mask at pred_path against the ground truth into
 * x->image_cm, drawing the error map on the way. 0, or -1 with the failure
 * recorded (nothing counted). *ignored and *unknown get the pixels left out. */
static int count_image(run_ctx *x, size_t i, const char *pred_path, int width, int height, uint64_t *ignored,
                       uint64_t *unknown)
{
    const eval_scene_config *c = x->c;
    const scene_pair *p = &x->es->pairs->pairs[i];
    const eval_scene_image *im = &x->es->images[i];
    int k = c->n_classes, ig = c->ignore_label;
    truth_mask *tm = NULL;
    unet_image_reader *pr = NULL, *ir = NULL;
    unet_png_writer *ew = NULL;
    char *err_path = NULL;
    int rc = -1, pw = 0, ph = 0, pc = 0;
    uint64_t n255 = 0, left_out = 0, beyond = 0;
    int first_beyond = -1;
    *ignored = *unknown = 0;
    unet_confusion_reset(&x->image_cm);
    if (truth_mask_open(p->mask, c->palette, &tm) != UNET_OK ||
        unet_image_reader_open(pred_path, UNET_IMAGE_PALETTE_INDEX, &pr) != UNET_OK) {
        fail(x, i, 1, "%s", unet_last_error());
        goto done;
    }
    unet_image_reader_size(pr, &pw, &ph, &pc);
    if (pw != width || ph != height || pc != 1) {
        fail(x, i, 1, "predicted mask %s is %dx%d with %d channels; expected %dx%d with 1", pred_path, pw, ph, pc,
             width, height);
        goto done;
    }
    if (c->errors_dir) {
        err_path = str_printf("%s/%s.png", c->errors_dir, im->name);
        if (!err_path || unet_png_writer_open(err_path, width, height, 3, NULL, 0, NULL, 0, &ew) != UNET_OK) {
            fail(x, i, 1, "error map not written: %s", err_path ? unet_last_error() : "out of memory");
            goto done;
        }
    }
    /* The gallery reads the image alongside, band by band (one more decode). */
    int gallery = c->gallery && c->gallery->cap > 0 && c->gallery_window > 0, win_rows = 0;
    if (gallery && (window_buffers(x, width) != 0 ||
                    unet_image_reader_open(p->image, UNET_IMAGE_FORCE_RGB, &ir) != UNET_OK)) {
        fail(x, i, 1, "report gallery: %s", ir || x->win_width < (size_t)width ? "out of memory" : unet_last_error());
        goto done;
    }
    int ids = truth_mask_has_ids(tm);
    for (int y = 0; y < height; y += BAND_ROWS) {
        int n = height - y < BAND_ROWS ? height - y : BAND_ROWS;
        size_t np = (size_t)n * (size_t)width;
        if (truth_mask_read_rows(tm, x->truth, n) != UNET_OK ||
            unet_image_reader_read_rows(pr, x->pred, n) != UNET_OK ||
            unet_confusion_add(&x->image_cm, x->truth, x->pred, np, ig) != UNET_OK) {
            fail(x, i, 1, "%s", unet_last_error());
            goto done;
        }
        /* What the matrix left out: the ignore label, and labels that are no
         * class of the model; in colour masks 255 stands for ignore colours
         * and unknown colours alike (told apart by the reader's count). */
        for (size_t j = 0; j < np; j++) {
            int t = x->truth[j];
            if (!ids && t == UNET_IGNORE_LABEL)
                n255++;
            else if (t == ig)
                left_out++;
            else if (t >= k) {
                if (!beyond)
                    first_beyond = t;
                beyond++;
            }
        }
        if (gallery) {
            if (unet_image_reader_read_rows(ir, x->img_band, n) != UNET_OK) {
                fail(x, i, 1, "report gallery: %s", unet_last_error());
                goto done;
            }
            size_t wb = (size_t)width;
            for (int r = 0; r < n; r++) { /* windows need not align with bands */
                memcpy(x->win_truth + (size_t)win_rows * wb, x->truth + (size_t)r * wb, wb);
                memcpy(x->win_pred + (size_t)win_rows * wb, x->pred + (size_t)r * wb, wb);
                memcpy(x->win_rgb + 3 * (size_t)win_rows * wb, x->img_band + 3 * (size_t)r * wb, 3 * wb);
                if (++win_rows == c->gallery_window || y + r + 1 == height) {
                    if (offer_windows(x, i, y + r + 1 - win_rows, win_rows, width) != 0) {
                        fail(x, i, 1, "report gallery: out of memory");
                        goto done;
                    }
                    win_rows = 0;
                }
            }
        }
        if (ew) {
            error_map_render(x->truth, x->pred, np, k, ig, c->colors, x->rgb);
            if (unet_png_writer_write_rows(ew, x->rgb, n) != UNET_OK) {
                fail(x, i, 1, "error map not written: %s", unet_last_error());
                goto done;
            }
        }
    }
    if (ew) {
        unet_png_writer *w = ew;
        ew = NULL;
        if (unet_png_writer_close(w) != UNET_OK) {
            fail(x, i, 1, "error map not written: %s", unet_last_error());
            goto done;
        }
    }
    uint64_t colour_unknown = truth_mask_unknown(tm)->count;
    *ignored = left_out + n255 - colour_unknown;
    *unknown = beyond + colour_unknown;
    if (colour_unknown && !c->quiet) {
        const unet_unknown_colors *u = truth_mask_unknown(tm);
        char hex[8];
        unet_format_hex_color(u->first_rgb, hex);
        fprintf(stderr, "%sunet-eval: warning: %s: %" PRIu64 " pixel(s) of colours outside the palette left out (first %s at x=%d, y=%d)\n",
                x->tty ? "\r\033[K" : "", p->mask, colour_unknown, hex, u->first_x, u->first_y);
    }
    if (beyond && !c->quiet)
        fprintf(stderr, "%sunet-eval: warning: %s: %" PRIu64 " mask pixels hold labels that are not classes of the model (first: %d); left out\n",
                x->tty ? "\r\033[K" : "", p->mask, beyond, first_beyond);
    rc = 0;
done:
    unet_png_writer_discard(ew);
    truth_mask_close(tm);
    unet_image_reader_close(pr);
    unet_image_reader_close(ir);
    free(err_path);
    return rc;
}

/* 1: out_path holds this model's mask (use it); 0: absent, or replaced
 * under --force; -1: the failure is recorded. */
static int existing_mask(run_ctx *x, size_t i, const char *out_path)
{
    struct stat st;
    if (stat(out_path, &st) != 0)
        return 0;
    char tag[128] = "";
    unet_png_read_text(out_path, "unet:model", tag, sizeof tag);
    if (x->c->so.model_hash && !strcmp(tag, x->c->so.model_hash))
        return 1;
    if (x->c->force)
        return 0;
    fail(x, i, 1, "%s exists and was %s (use --force to replace it)", out_path,
         tag[0] ? "written by another model" : "not written by unet-eval or unet-infer");
    return -1;
}

/* Evaluates pair i; 1 when interrupted, else 0 (done or failed). */
static int eval_image(run_ctx *x, size_t i)
{
    const eval_scene_config *c = x->c;
    const scene_pair *p = &x->es->pairs->pairs[i];
    eval_scene_image *im = &x->es->images[i];
    eval_scene_summary *sc = &x->es->scenes[p->scene];
    double t0 = now_seconds();
    if (!p->mask) /* printed when the pairs were gathered */
        return fail(x, i, 0, "%s", p->problem), 0;
    if (im->clash)
        return fail(x, i, 1, "its output name '%s' is also that of %s; rename one", im->name,
                    x->es->pairs->pairs[im->clash - 1].image), 0;
    if (scene_input_is_geo(p->image))
        return fail(x, i, 1, "%s is not a PNG or JPEG image", p->image), 0;

    unet_image_reader *r;
    if (unet_image_reader_open(p->image, UNET_IMAGE_DEFAULT, &r) != UNET_OK)
        return fail(x, i, 1, "%s", unet_last_error()), 0;
    int width, height, channels, mw, mh;
    unet_image_reader_size(r, &width, &height, &channels);
    unet_image_reader_close(r);
    truth_mask *tm;
    if (truth_mask_open(p->mask, c->palette, &tm) != UNET_OK)
        return fail(x, i, 1, "%s", unet_last_error()), 0;
    truth_mask_size(tm, &mw, &mh);
    int ids = truth_mask_has_ids(tm);
    truth_mask_close(tm);
    if (mw != width || mh != height)
        return fail(x, i, 1, "mask %s is %dx%d but image %s is %dx%d", p->mask, mw, mh, p->image, width, height), 0;
    if (band_buffers(x, width) != 0)
        return fail(x, i, 1, "out of memory for rows of %d pixels", width), 0;
    if (!ids && c->unknown == UNET_UNKNOWN_COLOR_ERROR && check_colours(x, i, p->mask, width, height) != 0)
        return 0;

    char *base = str_printf("%s/%s", c->out_dir ? c->out_dir : c->temp_dir, im->name);
    char *pred_path = base ? str_printf("%s.png", base) : NULL;
    if (!pred_path) {
        free(base);
        return fail(x, i, 1, "out of memory"), 0;
    }
    int have = c->out_dir ? existing_mask(x, i, pred_path) : 0, stopped = 0;
    if (have == 1) {
        im->reused = 1;
        infer_report_skipped(x->report);
    } else if (have == 0) {
        int before = infer_report_failure_listed(x->report);
        scene_result sr = scene_infer(&c->so, c->session, x->report, p->image, base, im->label);
        if (sr == SCENE_INTERRUPTED) {
            stopped = 1;
        } else if (sr == SCENE_FAILED) { /* infer_report printed it */
            const char *file = "", *why = "segmentation failed";
            if (infer_report_failure_listed(x->report) > before)
                infer_report_failure_at(x->report, infer_report_failure_listed(x->report) - 1, &file, &why);
            fail(x, i, 0, "%s", why);
        } else {
            have = 1;
        }
    }
    uint64_t ignored = 0, unknown = 0;
    if (have == 1 && count_image(x, i, pred_path, width, height, &ignored, &unknown) == 0) {
        if (unet_confusion_merge(x->total, &x->image_cm) != UNET_OK ||
            unet_confusion_merge(&sc->cm, &x->image_cm) != UNET_OK) {
            fail(x, i, 1, "%s", unet_last_error());
        } else {
            x->run->ignored_pixels += ignored;
            x->run->unknown_label_pixels += unknown;
            x->run->evaluated++;
            sc->evaluated++;
            unet_metrics_compute(&x->image_cm, x->metrics);
            im->counted = x->metrics->total;
            im->pixel_accuracy = x->metrics->pixel_accuracy;
            im->mean_iou = x->metrics->mean_iou;
            im->status = EVAL_IMAGE_DONE;
        }
    }
    if (!c->out_dir)
        unlink(pred_path);
    free(base);
    free(pred_path);
    im->seconds = now_seconds() - t0;
    return stopped;
}

static void print_ratio(FILE *f, double v)
{
    if (isnan(v))
        fprintf(f, "n/a");
    else
        fprintf(f, "%.4f", v);
}

/* Progress: one line per image evaluated, one per scene finished. */
static void report_image(const run_ctx *x, size_t i)
{
    const eval_scene_image *im = &x->es->images[i];
    if (x->c->quiet || im->status != EVAL_IMAGE_DONE)
        return;
    fprintf(stderr, "%sunet-eval: [%zu/%zu] %s: mean IoU ", x->tty ? "\r\033[K" : "", i + 1,
            x->es->pairs->n_pairs, im->label);
    print_ratio(stderr, im->mean_iou);
    fprintf(stderr, ", pixel accuracy ");
    print_ratio(stderr, im->pixel_accuracy);
    fprintf(stderr, " (%.1f s%s)\n", im->seconds, im->reused ? ", mask from --out reused" : "");
}

static void report_scene(run_ctx *x, int s)
{
    const eval_scene_summary *sc = &x->es->scenes[s];
    if (x->c->quiet)
        return;
    unet_metrics_compute(&sc->cm, x->metrics);
    fprintf(stderr, "%sunet-eval: scene '%s': %d of %d images evaluated, mean IoU ", x->tty ? "\r\033[K" : "",
            x->es->pairs->scenes[s].name, sc->evaluated, sc->selected);
    print_ratio(stderr, x->metrics->mean_iou);
    fprintf(stderr, ", pixel accuracy ");
    print_ratio(stderr, x->metrics->pixel_accuracy);
    fprintf(stderr, "\n");
}

int eval_scenes_run(const eval_scene_config *c, eval_scenes *es, unet_confusion *total, eval_run *run)
{
    run_ctx x;
    memset(&x, 0, sizeof x);
    x.c = c;
    x.es = es;
    x.total = total;
    x.run = run;
    x.tty = isatty(2);
    size_t n = es->pairs->n_pairs;
    x.report = infer_report_create("unet-eval", (int)n, c->quiet);
    x.metrics = malloc(sizeof *x.metrics);
    int stopped = 0;
    if (!x.report || !x.metrics || unet_confusion_init(&x.image_cm, c->n_classes) != UNET_OK) {
        fprintf(stderr, "unet-eval: out of memory\n");
        for (size_t i = 0; i < n; i++)
            fail(&x, i, 0, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n && !stopped; i++) {
        if (*c->so.stop) {
            stopped = 1;
            break;
        }
        stopped = eval_image(&x, i);
        report_image(&x, i);
        int s = es->pairs->pairs[i].scene;
        if (!stopped && (i + 1 == n || es->pairs->pairs[i + 1].scene != s))
            report_scene(&x, s);
    }
done:
    infer_report_free(x.report);
    unet_confusion_free(&x.image_cm);
    free(x.metrics);
    free(x.truth);
    free(x.pred);
    free(x.rgb);
    free(x.win_truth);
    free(x.win_pred);
    free(x.win_rgb);
    free(x.img_band);
    return stopped;
}

/* ---- reports -------------------------------------------------------------------- */

void eval_scenes_table(FILE *f, const eval_scenes *es)
{
    unet_metrics *m = malloc(sizeof *m);
    if (!m)
        return;
    fprintf(f, "\n%-24s %10s %14s %14s %10s\n", "scene", "images", "pixels", "pixel acc.", "mean IoU");
    for (int s = 0; s < es->pairs->n_scenes; s++) {
        const eval_scene_summary *sc = &es->scenes[s];
        if (!sc->selected)
            continue;
        unet_metrics_compute(&sc->cm, m);
        char imgs[32];
        snprintf(imgs, sizeof imgs, "%d/%d", sc->evaluated, sc->selected);
        fprintf(f, "%-24.24s %10s %14" PRIu64 " ", es->pairs->scenes[s].name, imgs, m->total);
        if (isnan(m->pixel_accuracy))
            fprintf(f, "%14s", "n/a");
        else
            fprintf(f, "%14.4f", m->pixel_accuracy);
        if (isnan(m->mean_iou))
            fprintf(f, " %10s\n", "n/a");
        else
            fprintf(f, " %10.4f\n", m->mean_iou);
    }
    free(m);
}

void eval_scenes_json(FILE *f, const eval_scenes *es)
{
    unet_metrics *m = malloc(sizeof *m);
    if (!m) {
        fputs("null", f);
        return;
    }
    static const char *const status[] = { "not reached", "evaluated", "failed" };
    fputc('[', f);
    int first = 1;
    for (int s = 0; s < es->pairs->n_scenes; s++) {
        const eval_scene_summary *sc = &es->scenes[s];
        if (!sc->selected)
            continue;
        unet_metrics_compute(&sc->cm, m);
        fprintf(f, "%s{\"name\":", first ? "" : ",");
        first = 0;
        json_write_string(f, es->pairs->scenes[s].name);
        fprintf(f, ",\"images_selected\":%d,\"images_evaluated\":%d,\"images_failed\":%d,\"pixels_counted\":%" PRIu64
                   ",\"pixel_accuracy\":",
                sc->selected, sc->evaluated, sc->failed, m->total);
        json_write_number(f, m->pixel_accuracy);
        fprintf(f, ",\"mean_iou\":");
        json_write_number(f, m->mean_iou);
        fprintf(f, ",\"macro_f1\":");
        json_write_number(f, m->macro_f1);
        int k = sc->cm.n_classes;
        fprintf(f, ",\"confusion_matrix\":[");
        for (int t = 0; t < k; t++) {
            fprintf(f, "%s[", t ? "," : "");
            for (int p = 0; p < k; p++)
                fprintf(f, "%s%" PRIu64, p ? "," : "", sc->cm.counts[(size_t)t * (size_t)k + (size_t)p]);
            fputc(']', f);
        }
        fprintf(f, "],\"images\":[");
        int first_image = 1;
        for (size_t i = 0; i < es->pairs->n_pairs; i++) {
            const scene_pair *p = &es->pairs->pairs[i];
            const eval_scene_image *im = &es->images[i];
            if (p->scene != s)
                continue;
            fprintf(f, "%s{\"name\":", first_image ? "" : ",");
            first_image = 0;
            json_write_string(f, im->name);
            fprintf(f, ",\"image\":");
            json_write_string(f, p->image);
            fprintf(f, ",\"mask\":");
            if (p->mask)
                json_write_string(f, p->mask);
            else
                fputs("null", f);
            fprintf(f, ",\"status\":\"%s\",\"mask_reused\":%s", status[im->status], im->reused ? "true" : "false");
            if (im->status == EVAL_IMAGE_DONE) {
                fprintf(f, ",\"pixels_counted\":%" PRIu64 ",\"pixel_accuracy\":", im->counted);
                json_write_number(f, im->pixel_accuracy);
                fprintf(f, ",\"mean_iou\":");
                json_write_number(f, im->mean_iou);
            }
            fprintf(f, ",\"seconds\":");
            json_write_number(f, im->seconds);
            fputc('}', f);
        }
        fprintf(f, "]}");
    }
    fputc(']', f);
    free(m);
}
