/* Inline SVG line charts (see svg_plot.h). */
#include "svg_plot.h"

#include <math.h>

#include "html_report.h"

#define W 560
#define H 320
#define LEFT 60
#define RIGHT (W - 16)
#define TOP 30
#define BOTTOM (H - 70)

double svg_nice_step(double lo, double hi, int n)
{
    double span = hi - lo;
    if (!(span > 0) || n < 1)
        return 1;
    double raw = span / n, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void range(const svg_chart *c, double *x0, double *x1, double *y0, double *y1)
{
    *x0 = INFINITY, *x1 = -INFINITY, *y0 = INFINITY, *y1 = -INFINITY;
    for (int s = 0; s < c->n_series; s++)
        for (int i = 0; i < c->series[s].n; i++) {
            double x = c->series[s].x[i], y = c->series[s].y[i];
            if (!isfinite(x) || !isfinite(y))
                continue;
            *x0 = fmin(*x0, x), *x1 = fmax(*x1, x), *y0 = fmin(*y0, y), *y1 = fmax(*y1, y);
        }
    if (!isfinite(*x0))
        *x0 = 0, *x1 = 1, *y0 = 0, *y1 = 1;
    if (*x1 <= *x0)
        *x1 = *x0 + 1;
    if (c->y_max > c->y_min) {
        *y0 = c->y_min, *y1 = c->y_max;
        return;
    }
    if (*y0 >= 0)
        *y0 = 0;
    if (*y1 <= *y0)
        *y1 = *y0 + 1;
    double step = svg_nice_step(*y0, *y1, 5); /* a round top */
    *y1 = ceil(*y1 / step - 1e-9) * step;
}

void svg_plot(FILE *f, const svg_chart *c)
{
    double x0, x1, y0, y1;
    range(c, &x0, &x1, &y0, &y1);
#define PX(x) (LEFT + ((x) - x0) / (x1 - x0) * (RIGHT - LEFT))
#define PY(y) (BOTTOM - ((y) - y0) / (y1 - y0) * (BOTTOM - TOP))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\"", W, H,
            W, H);
    if (c->id)
        fprintf(f, " id=\"%s\"", c->id);
    fputs(" role=\"img\" font-family=\"sans-serif\" font-size=\"11\"><title>", f);
    html_text(f, c->title);
    fputs("</title>\n", f);
    fprintf(f, "<text x=\"%d\" y=\"18\" font-size=\"13\" font-weight=\"bold\">", LEFT);
    html_text(f, c->title);
    fputs("</text>\n", f);
    /* Grid and ticks. */
    double ys = svg_nice_step(y0, y1, 5), xs = svg_nice_step(x0, x1, 8);
    if (xs < 1 && x1 - x0 >= 1)
        xs = 1; /* epochs: whole numbers */
    for (double y = ceil(y0 / ys - 1e-9) * ys; y <= y1 + ys * 1e-9; y += ys)
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                LEFT, RIGHT, PY(y), PY(y), LEFT - 4, PY(y) + 4, fabs(y) < ys * 1e-9 ? 0 : y);
    for (double x = ceil(x0 / xs - 1e-9) * xs; x <= x1 + xs * 1e-9; x += xs)
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#888\"/>"
                   "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                PX(x), PX(x), BOTTOM, BOTTOM + 4, PX(x), BOTTOM + 16, x);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n", LEFT, TOP,
            RIGHT - LEFT, BOTTOM - TOP);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (LEFT + RIGHT) / 2, BOTTOM + 32);
    html_text(f, c->x_label);
    fprintf(f, "</text><text transform=\"translate(14 %d) rotate(-90)\" text-anchor=\"middle\">", (TOP + BOTTOM) / 2);
    html_text(f, c->y_label);
    fputs("</text>\n", f);
    if (isfinite(c->mark_x) && c->mark_x >= x0 && c->mark_x <= x1) {
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#555\" stroke-dasharray=\"3 3\"/>",
                PX(c->mark_x), PX(c->mark_x), TOP, BOTTOM);
        if (c->mark_label) {
            int left = PX(c->mark_x) > (LEFT + RIGHT) / 2; /* the label on the side with room */
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"%s\">",
                    PX(c->mark_x) + (left ? -3 : 3), TOP + 11, left ? "end" : "start");
            html_text(f, c->mark_label);
            fputs("</text>", f);
        }
        fputc('\n', f);
    }
    /* Lines: one path per series, a move wherever a value is missing. */
    for (int s = 0; s < c->n_series; s++) {
        const svg_series *sr = &c->series[s];
        char colour[8];
        snprintf(colour, sizeof colour, "#%02x%02x%02x", sr->rgb[0], sr->rgb[1], sr->rgb[2]);
        fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s d=\"", colour,
                sr->dashed ? " stroke-dasharray=\"6 3\"" : "");
        int pen = 0;
        for (int i = 0; i < sr->n; i++) {
            if (!isfinite(sr->x[i]) || !isfinite(sr->y[i])) {
                pen = 0;
                continue;
            }
            fprintf(f, "%c%.1f %.1f ", pen ? 'L' : 'M', PX(sr->x[i]), PY(sr->y[i]));
            pen = 1;
        }
        fputs("\"/>\n", f);
        if (sr->n <= 40) /* points stay visible on short runs (one epoch: no line at all) */
            for (int i = 0; i < sr->n; i++)
                if (isfinite(sr->x[i]) && isfinite(sr->y[i]))
                    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>", PX(sr->x[i]),
                            PY(sr->y[i]), colour);
        /* Legend entry. */
        int lx = LEFT + (s % 3) * 160, ly = BOTTOM + 48 + (s / 3) * 14;
        fprintf(f, "\n<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">", lx,
                ly - 4, colour, lx + 18, ly);
        html_text(f, sr->label);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
#undef PX
#undef PY
}
