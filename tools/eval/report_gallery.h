/* The gallery of an evaluation report: the N worst and the N best tiles (or
 * scene windows) by their own mean IoU, each shown as image, ground truth,
 * prediction and error map side by side. Only the candidates are kept (2N
 * copies at most), so a run over many tiles or a large scene holds little. */
#ifndef UNET_TOOLS_REPORT_GALLERY_H
#define UNET_TOOLS_REPORT_GALLERY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <unet/metrics.h>

typedef struct gallery_item {
    char *label;
    int w, h;
    uint8_t *rgb, *truth, *pred;   /* owned copies */
    double miou, accuracy;
    long seq;                      /* order offered: one item may be in both lists */
} gallery_item;

typedef struct report_gallery {
    int cap;                       /* N */
    int n_worst, n_best;
    gallery_item *worst, *best;    /* worst ascending, best descending by miou */
    long offered;                  /* items scored (with a defined mIoU) */
    unet_confusion cm;             /* scratch for scoring */
    unet_metrics *m;
} report_gallery;

/* n items per list (0: no gallery, every offer is declined). -1 when out of memory. */
int report_gallery_init(report_gallery *g, int n, int n_classes);
void report_gallery_free(report_gallery *g);
/* Scores a w x h window (rows stride bytes apart in truth and pred) and keeps
 * a copy when it is among the worst or best so far. rgb: channels 1..4 per
 * pixel, rows rgb_stride bytes apart (converted to RGB). Windows with no
 * counted pixel are skipped. 0, or -1 when out of memory. */
int report_gallery_offer(report_gallery *g, const char *label, int w, int h, const uint8_t *truth,
                         const uint8_t *pred, size_t stride, const uint8_t *rgb, int channels,
                         size_t rgb_stride, int ignore_label);
/* <section id="gallery">: the worst, then the best not already shown, with
 * the class legend (cls: name and colour per class). -1 when a PNG could
 * not be made (the message in unet_last_error). */
struct report_class;
int report_gallery_html(FILE *f, const report_gallery *g, const struct report_class *cls, int n_classes,
                        int ignore_label);

#endif
