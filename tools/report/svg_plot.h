/* Line charts as inline SVG (training curves in HTML reports): axes with
 * round-numbered ticks, one polyline per series (points where a series has a
 * single point or few), a legend, an optional marked x (the best epoch).
 * Non-finite y values break a line. Labels are escaped. */
#ifndef UNET_TOOLS_SVG_PLOT_H
#define UNET_TOOLS_SVG_PLOT_H

#include <stdint.h>
#include <stdio.h>

typedef struct svg_series {
    const char *label;
    uint8_t rgb[3];
    int n;
    const double *x, *y;
    int dashed;
} svg_series;

typedef struct svg_chart {
    const char *title, *x_label, *y_label;
    int n_series;
    const svg_series *series;
    double y_min, y_max;   /* y_max <= y_min: from the data (from 0 when all are >= 0) */
    double mark_x;         /* a dashed vertical line here when finite (NAN: none) */
    const char *mark_label;
    const char *id;        /* the <svg> element's id (trusted), or NULL */
} svg_chart;

/* Writes <svg ...>...</svg> of 560 x 320 user units. */
void svg_plot(FILE *f, const svg_chart *c);
/* A round step (1, 2 or 5 times a power of ten) giving about n ticks over [lo, hi]. */
double svg_nice_step(double lo, double hi, int n);

#endif
