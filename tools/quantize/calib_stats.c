/* Calibration statistics: see calib_stats.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib_stats.h"

void qz_hist_init(qz_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = INFINITY;
    h->max = -INFINITY;
}

/* Range doubles: bins 2j and 2j+1 become bin j (both sides). */
static void hist_double_range(qz_hist *h)
{
    for (int j = 0; j < QZ_HIST_BINS / 2; j++) {
        h->pos[j] = h->pos[2 * j] + h->pos[2 * j + 1];
        h->neg[j] = h->neg[2 * j] + h->neg[2 * j + 1];
    }
    memset(h->pos + QZ_HIST_BINS / 2, 0, QZ_HIST_BINS / 2 * sizeof h->pos[0]);
    memset(h->neg + QZ_HIST_BINS / 2, 0, QZ_HIST_BINS / 2 * sizeof h->neg[0]);
    h->range *= 2.0;
}

/* Bin of magnitude a > 0: (i*w, (i+1)*w] -> i. */
static int bin_of(const qz_hist *h, double a)
{
    double k = ceil(a * QZ_HIST_BINS / h->range) - 1.0;
    if (k < 0.0)
        k = 0.0;
    if (k > QZ_HIST_BINS - 1)
        k = QZ_HIST_BINS - 1;
    return (int)k;
}

void qz_hist_add(qz_hist *h, const float *values, size_t n)
{
    double amax = 0.0;
    for (size_t i = 0; i < n; i++) {
        double v = values[i];
        if (!isfinite(v))
            continue;
        if (fabs(v) > amax)
            amax = fabs(v);
    }
    if (amax > 0.0) {
        if (h->range == 0.0)
            h->range = amax; /* the first tile's extent sets the bin width */
        while (amax > h->range)
            hist_double_range(h);
    }
    for (size_t i = 0; i < n; i++) {
        double v = values[i];
        if (!isfinite(v)) {
            h->nonfinite++;
            continue;
        }
        h->count++;
        if (v < h->min)
            h->min = v;
        if (v > h->max)
            h->max = v;
        if (v == 0.0)
            h->zeros++;
        else if (v > 0.0)
            h->pos[bin_of(h, v)]++;
        else
            h->neg[bin_of(h, -v)]++;
    }
}

int qz_range_minmax(const qz_hist *h, double *lo, double *hi)
{
    if (h->count == 0)
        return -1;
    *lo = h->min;
    *hi = h->max;
    return 0;
}

/* The upper edge of the bin of side[] where the values above it would first
 * exceed `allowed`, capped at extent (the side's largest magnitude); 0 when
 * the side is empty. */
static double tail_edge(const qz_hist *h, const uint64_t *side, double allowed, double extent)
{
    double w = h->range / QZ_HIST_BINS, above = 0.0;
    for (int b = QZ_HIST_BINS - 1; b >= 0; b--) {
        if (!side[b])
            continue;
        if (above + (double)side[b] > allowed) {
            double edge = (b + 1) * w;
            return edge < extent ? edge : extent;
        }
        above += (double)side[b];
    }
    return 0.0; /* every value of this side may saturate */
}

int qz_range_percentile(const qz_hist *h, double percent, double *lo, double *hi)
{
    if (h->count == 0 || !(percent > 0.0 && percent <= 100.0))
        return -1;
    /* Whole values; the 1e-6 absorbs the decimal percent's binary rounding
     * (100 - 99.9 is 0.09999999999999432). */
    double allowed = floor((double)h->count * (100.0 - percent) / 100.0 + 1e-6);
    *hi = h->max > 0.0 ? tail_edge(h, h->pos, allowed, h->max) : h->max;
    *lo = h->min < 0.0 ? -tail_edge(h, h->neg, allowed, -h->min) : h->min;
    return 0;
}

/* d[0..n-1] normalised to sum 1, with the empty bins given eps taken evenly
 * from the others (so log(p / q) stays finite), as MXNet's and TensorRT's
 * calibrations smooth; 0 when d is all empty. */
static int smooth(double *d, int n, double eps)
{
    double total = 0.0;
    int zeros = 0;
    for (int b = 0; b < n; b++) {
        total += d[b];
        zeros += d[b] == 0.0;
    }
    if (total <= 0.0 || zeros == n)
        return 0;
    double take = eps * zeros / (n - zeros);
    for (int b = 0; b < n; b++)
        d[b] = d[b] == 0.0 ? eps : d[b] / total - take;
    return 1;
}

/* KL(P || Q) at a threshold of i bins (see the header): P is mag[0..i-1]
 * with the values beyond added to bin i-1; Q merges mag[0..i-1] (without
 * them) into `levels` steps and spreads each step's count evenly over the
 * bins where P is non-empty. */
static double kl_at(const double *mag, int i, int levels, double beyond, double *p, double *q)
{
    for (int b = 0; b < i; b++)
        p[b] = mag[b];
    p[i - 1] += beyond;
    for (int j = 0; j < levels; j++) {
        int first = (int)((int64_t)j * i / levels), end = (int)((int64_t)(j + 1) * i / levels);
        double sum = 0.0;
        int nonempty = 0;
        for (int b = first; b < end; b++) {
            sum += mag[b];
            nonempty += p[b] > 0.0;
        }
        for (int b = first; b < end; b++)
            q[b] = p[b] > 0.0 ? sum / nonempty : 0.0;
    }
    if (!smooth(p, i, 1e-4) || !smooth(q, i, 1e-4))
        return INFINITY;
    double kl = 0.0;
    for (int b = 0; b < i; b++)
        if (p[b] > 0.0 && q[b] > 0.0)
            kl += p[b] * log(p[b] / q[b]);
    return kl;
}

int qz_range_entropy(const qz_hist *h, int levels, double *lo, double *hi)
{
    if (h->count == 0 || levels < 2)
        return -1;
    if (h->range == 0.0) { /* only zeros */
        *lo = *hi = 0.0;
        return 0;
    }
    const int signed_range = h->min < 0.0;
    double *mag = malloc(3 * QZ_HIST_BINS * sizeof *mag);
    if (!mag)
        return -1;
    double *p = mag + QZ_HIST_BINS, *q = p + QZ_HIST_BINS;
    for (int b = 0; b < QZ_HIST_BINS; b++)
        mag[b] = (double)h->pos[b] + (signed_range ? (double)h->neg[b] : 0.0);
    mag[0] += (double)h->zeros;
    double beyond = 0.0, best = INFINITY;
    int best_i = QZ_HIST_BINS;
    int start = levels < QZ_HIST_BINS ? levels : QZ_HIST_BINS;
    for (int b = start; b < QZ_HIST_BINS; b++)
        beyond += mag[b];
    for (int i = start; i <= QZ_HIST_BINS; i++) {
        double kl = kl_at(mag, i, levels, beyond, p, q);
        if (kl < best) {
            best = kl;
            best_i = i;
        }
        if (i < QZ_HIST_BINS)
            beyond -= mag[i];
    }
    free(mag);
    double t = best_i * (h->range / QZ_HIST_BINS);
    double extent = signed_range ? fmax(h->max, -h->min) : h->max;
    if (t > extent)
        t = extent;
    *hi = h->max < t ? h->max : t;
    *lo = signed_range ? (h->min > -t ? h->min : -t) : h->min;
    return 0;
}
