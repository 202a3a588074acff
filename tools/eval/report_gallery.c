/* Worst and best tiles of an evaluation (see report_gallery.h). */
#include "report_gallery.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <unet/image.h>

#include "error_map.h"
#include "html_report.h"
#include "report_model.h"

int report_gallery_init(report_gallery *g, int n, int n_classes)
{
    memset(g, 0, sizeof *g);
    g->cap = n;
    if (n <= 0)
        return 0;
    g->worst = calloc((size_t)n, sizeof *g->worst);
    g->best = calloc((size_t)n, sizeof *g->best);
    g->m = malloc(sizeof *g->m);
    if (!g->worst || !g->best || !g->m || unet_confusion_init(&g->cm, n_classes) != UNET_OK)
        return -1;
    return 0;
}

static void item_free(gallery_item *it)
{
    free(it->label);
    free(it->rgb);
    free(it->truth);
    free(it->pred);
    memset(it, 0, sizeof *it);
}

void report_gallery_free(report_gallery *g)
{
    for (int i = 0; i < g->n_worst; i++)
        item_free(&g->worst[i]);
    for (int i = 0; i < g->n_best; i++)
        item_free(&g->best[i]);
    free(g->worst);
    free(g->best);
    free(g->m);
    unet_confusion_free(&g->cm);
    memset(g, 0, sizeof *g);
}

/* Where an item of score v goes in list (sorted by sign * miou), or -1 when
 * it does not enter. Ties keep the earlier item first. */
static int slot(const gallery_item *list, int n, int cap, double v, int sign)
{
    int i = n;
    while (i > 0 && sign * v < sign * list[i - 1].miou)
        i--;
    return i < cap ? i : -1;
}

static int copy_item(gallery_item *it, const char *label, int w, int h, const uint8_t *truth, const uint8_t *pred,
                     size_t stride, const uint8_t *rgb, int channels, size_t rgb_stride)
{
    size_t n = (size_t)w * (size_t)h;
    it->label = strdup(label);
    it->truth = malloc(n);
    it->pred = malloc(n);
    it->rgb = malloc(3 * n);
    if (!it->label || !it->truth || !it->pred || !it->rgb)
        return -1;
    it->w = w;
    it->h = h;
    for (int y = 0; y < h; y++) {
        memcpy(it->truth + (size_t)y * (size_t)w, truth + (size_t)y * stride, (size_t)w);
        memcpy(it->pred + (size_t)y * (size_t)w, pred + (size_t)y * stride, (size_t)w);
        const uint8_t *s = rgb + (size_t)y * rgb_stride;
        uint8_t *d = it->rgb + 3 * (size_t)y * (size_t)w;
        for (int x = 0; x < w; x++, s += channels, d += 3) {
            int gray = channels < 3; /* gray (+alpha) replicated; alpha dropped */
            d[0] = s[0];
            d[1] = s[gray ? 0 : 1];
            d[2] = s[gray ? 0 : 2];
        }
    }
    return 0;
}

static int enter(gallery_item *list, int *n, int cap, int at, const gallery_item *proto, const char *label,
                 const uint8_t *truth, const uint8_t *pred, size_t stride, const uint8_t *rgb, int channels,
                 size_t rgb_stride)
{
    gallery_item it = *proto;
    if (copy_item(&it, label, proto->w, proto->h, truth, pred, stride, rgb, channels, rgb_stride) != 0) {
        item_free(&it);
        return -1;
    }
    if (*n == cap)
        item_free(&list[--*n]);
    memmove(list + at + 1, list + at, (size_t)(*n - at) * sizeof *list);
    list[at] = it;
    ++*n;
    return 0;
}

int report_gallery_offer(report_gallery *g, const char *label, int w, int h, const uint8_t *truth,
                         const uint8_t *pred, size_t stride, const uint8_t *rgb, int channels,
                         size_t rgb_stride, int ignore_label)
{
    if (g->cap <= 0 || w <= 0 || h <= 0)
        return 0;
    unet_confusion_reset(&g->cm);
    for (int y = 0; y < h; y++)
        if (unet_confusion_add(&g->cm, truth + (size_t)y * stride, pred + (size_t)y * stride, (size_t)w,
                               ignore_label) != UNET_OK)
            return -1;
    unet_metrics_compute(&g->cm, g->m);
    if (!isfinite(g->m->mean_iou))
        return 0; /* nothing counted: neither good nor bad */
    gallery_item proto = { .w = w, .h = h, .miou = g->m->mean_iou, .accuracy = g->m->pixel_accuracy,
                           .seq = g->offered++ };
    int a = slot(g->worst, g->n_worst, g->cap, proto.miou, 1);
    if (a >= 0 && enter(g->worst, &g->n_worst, g->cap, a, &proto, label, truth, pred, stride, rgb, channels,
                        rgb_stride) != 0)
        return -1;
    int b = slot(g->best, g->n_best, g->cap, proto.miou, -1);
    if (b >= 0 && enter(g->best, &g->n_best, g->cap, b, &proto, label, truth, pred, stride, rgb, channels,
                        rgb_stride) != 0)
        return -1;
    return 0;
}

/* Class colours per pixel; pixels left out of the metrics black, as in the error map. */
static void colourise(const uint8_t *labels, size_t n, const report_class *cls, int k, int ignore, uint8_t *rgb)
{
    for (size_t i = 0; i < n; i++, rgb += 3) {
        int v = labels[i];
        if (v == ignore || v >= k)
            rgb[0] = rgb[1] = rgb[2] = 0;
        else
            memcpy(rgb, cls[v].rgb, 3);
    }
}

static int item_html(FILE *f, const gallery_item *it, const char *kind, int rank, const report_class *cls, int k,
                     int ignore, uint8_t *buf)
{
    uint8_t colors[UNET_MAX_CLASSES][3];
    for (int c = 0; c < k; c++)
        memcpy(colors[c], cls[c].rgb, 3);
    size_t n = (size_t)it->w * (size_t)it->h;
    fprintf(f, "<div class=\"row\" data-kind=\"%s\" data-rank=\"%d\" data-miou=\"%.17g\"><p><b>%s %d</b> ", kind,
            rank, it->miou, kind, rank);
    html_text(f, it->label);
    fprintf(f, " &mdash; mean IoU %.4f, pixel accuracy %.4f</p>\n", it->miou, it->accuracy);
    static const char *const captions[] = { "image", "ground truth", "prediction", "errors" };
    for (int p = 0; p < 4; p++) {
        unet_image im = { it->w, it->h, 3, buf };
        if (p == 0)
            im.pixels = it->rgb;
        else if (p == 1)
            colourise(it->truth, n, cls, k, ignore, buf);
        else if (p == 2)
            colourise(it->pred, n, cls, k, ignore, buf);
        else
            error_map_render(it->truth, it->pred, n, k, ignore, (const uint8_t(*)[3])colors, buf);
        char alt[96];
        snprintf(alt, sizeof alt, "%s %d: %s", kind, rank, captions[p]);
        fprintf(f, "<figure data-part=\"%s\">", captions[p]);
        if (html_png(f, &im, alt, NULL) != 0)
            return -1;
        fprintf(f, "<figcaption>%s</figcaption></figure>", captions[p]);
    }
    fputs("\n</div>\n", f);
    return 0;
}

int report_gallery_html(FILE *f, const report_gallery *g, const report_class *cls, int n_classes,
                        int ignore_label)
{
    fprintf(f, "<section id=\"gallery\" class=\"gallery\">\n<h2>Worst and best</h2>\n<p>The %d worst and %d best of "
               "%ld by their own mean IoU (over the classes in their ground truth). Error map: right pixels in "
               "their class colour at half brightness, wrong ones red, pixels left out black.</p>\n",
            g->n_worst, g->n_best, g->offered);
    report_class_legend(f, cls, n_classes);
    size_t most = 0;
    for (int i = 0; i < g->n_worst; i++)
        most = (size_t)g->worst[i].w * (size_t)g->worst[i].h > most ? (size_t)g->worst[i].w * (size_t)g->worst[i].h : most;
    for (int i = 0; i < g->n_best; i++)
        most = (size_t)g->best[i].w * (size_t)g->best[i].h > most ? (size_t)g->best[i].w * (size_t)g->best[i].h : most;
    uint8_t *buf = malloc(3 * most + 1);
    if (!buf) {
        fputs("</section>\n", f);
        return -1;
    }
    int rc = 0;
    fputs("<h3>Worst</h3>\n", f);
    for (int i = 0; i < g->n_worst && rc == 0; i++)
        rc = item_html(f, &g->worst[i], "worst", i + 1, cls, n_classes, ignore_label, buf);
    fputs("<h3>Best</h3>\n", f);
    for (int i = 0, r = 0; i < g->n_best && rc == 0; i++) {
        int shown = 0; /* few tiles: the best may already be among the worst */
        for (int j = 0; j < g->n_worst && !shown; j++)
            shown = g->worst[j].seq == g->best[i].seq;
        if (!shown)
            rc = item_html(f, &g->best[i], "best", ++r, cls, n_classes, ignore_label, buf);
    }
    free(buf);
    fputs("</section>\n", f);
    return rc;
}
