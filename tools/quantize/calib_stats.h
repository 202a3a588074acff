/* Calibration statistics of one activation tensor: its min, max, count and a
 * histogram of the values seen over every calibration tile, and the three
 * ways of turning them into a quantisation range (min/max, percentile,
 * entropy). Pure arithmetic: no I/O, no messages. */
#ifndef UNET_TOOLS_QUANTIZE_CALIB_STATS_H
#define UNET_TOOLS_QUANTIZE_CALIB_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Bins on each side of zero. The histogram covers [-range, range]: pos[i]
 * counts values in (i*w, (i+1)*w] and neg[i] values in [-(i+1)*w, -i*w),
 * w = range / QZ_HIST_BINS; exact zeros are counted apart (Relu outputs are
 * often half zeros). When a value beyond range arrives, range doubles and
 * neighbouring bins merge pairwise, which is exact, so one pass over the
 * tiles suffices and the result does not depend on the tile order beyond the
 * first tile's maximum. */
#define QZ_HIST_BINS 2048

typedef struct qz_hist {
    double min, max;  /* of the finite values seen */
    uint64_t count;   /* finite values seen */
    uint64_t zeros;
    uint64_t nonfinite; /* NaN and infinities, left out of everything else */
    double range;     /* 0 until a non-zero value arrives */
    uint64_t pos[QZ_HIST_BINS], neg[QZ_HIST_BINS];
} qz_hist;

void qz_hist_init(qz_hist *h);
void qz_hist_add(qz_hist *h, const float *values, size_t n);

/* The range [lo, hi] a method keeps; values outside it saturate. Each
 * returns 0, or -1 when the histogram is empty (no finite value seen). */
int qz_range_minmax(const qz_hist *h, double *lo, double *hi);
/* Lets at most floor(count * (100 - percent) / 100) values saturate in each
 * tail: hi is the upper edge of the bin where the values above it would
 * exceed that many (never above max), lo likewise on the negative side (min
 * when there are no negative values). percent in (0, 100]. */
int qz_range_percentile(const qz_hist *h, double percent, double *lo, double *hi);
/* The threshold T that minimises the Kullback-Leibler divergence between the
 * histogram clipped at T (the values beyond T added to its last bin) and the
 * histogram up to T quantised to `levels` steps over [0, T] (each step
 * spreads its count evenly over its non-empty bins), both smoothed with 1e-4
 * for the empty bins, as TensorRT's entropy calibration does; the smallest
 * T of the least divergence, from `levels` bins up. Non-negative tensors: T on the positive side, [0, T];
 * tensors with negative values: T on |x|, [-T, T] clipped to [min, max].
 * levels >= 2 (255 for uint8 one-sided, 127 for one side of a signed range). */
int qz_range_entropy(const qz_hist *h, int levels, double *lo, double *hi);

#endif
