/* Timing for the benchmark programs: a monotonic clock in milliseconds and
 * the median of a set of timings (the figure the benchmarks quote, since
 * these machines are shared and noisy). */
#ifndef UNET_TOOLS_BENCH_CLOCK_H
#define UNET_TOOLS_BENCH_CLOCK_H

double bench_now_ms(void);
/* Sorts v[0..n) and returns its median (n >= 1). */
double bench_median(double *v, int n);

#endif
