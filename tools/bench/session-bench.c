/* unet-session-bench: times libunet on one model: load (open to ready for the
 * first run, oneDNN primitive creation included), then repeated runs of a
 * random batch at a precision (fp32 by default); prints one JSON line (median
 * of the runs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <unet/unet.h>

#include "bench_clock.h"

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: unet-session-bench MODEL BATCH THREADS ITERS [SIZE [fp32|bf16|int8]]\n");
        return 2;
    }
    const char *path = argv[1];
    int batch = atoi(argv[2]), threads = atoi(argv[3]), iters = atoi(argv[4]);
    int size = argc > 5 ? atoi(argv[5]) : 256;
    unet_precision precision = UNET_PRECISION_FP32;
    if (argc > 6 && unet_precision_parse(argv[6], &precision) != UNET_OK) {
        fprintf(stderr, "unet-session-bench: %s\n", unet_last_error());
        return 2;
    }
    if (batch < 1 || threads < 1 || iters < 1 || size < 8) {
        fprintf(stderr, "unet-session-bench: bad arguments\n");
        return 2;
    }
    size_t n = (size_t)batch * 3 * size * size;
    float *x = malloc(n * sizeof *x);
    if (!x)
        return 1;
    srand(1);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((double)rand() / RAND_MAX);
    unet_tensor in = { UNET_DTYPE_FLOAT, 4, { batch, 3, size, size }, x };

    /* Baseline: the libraries loaded and an empty session exists. */
    long rss_base = rss_kb();
    double t0 = bench_now_ms();
    unet_model *m = NULL;
    unet_session *s = NULL;
    unet_session_options so = { .threads = threads, .precision = precision };
    if (unet_model_open_file(path, NULL, &m) != UNET_OK || unet_session_create(m, &so, &s) != UNET_OK) {
        fprintf(stderr, "unet-session-bench: %s\n", unet_last_error());
        return 2;
    }
    if (unet_session_prepare(s, &in, 1) != UNET_OK) {
        fprintf(stderr, "unet-session-bench: %s\n", unet_last_error());
        return 2;
    }
    double load_ms = bench_now_ms() - t0;
    if (unet_session_run(s, &in, 1) != UNET_OK) {
        fprintf(stderr, "unet-session-bench: %s\n", unet_last_error());
        return 2;
    }
    double *ms = malloc((size_t)iters * sizeof *ms);
    for (int i = 0; i < iters; i++) {
        double t = bench_now_ms();
        unet_session_run(s, &in, 1);
        ms[i] = bench_now_ms() - t;
    }
    double med = bench_median(ms, iters);
    double flops = unet_session_flops(s);
    printf("{\"model\":\"%s\",\"precision\":\"%s\",\"batch\":%d,\"threads\":%d,\"size\":%d,\"median_ms\":%.3f,\"min_ms\":%.3f,\"max_ms\":%.3f,"
           "\"tiles_per_s\":%.3f,\"gflops\":%.2f,\"load_ms\":%.2f,\"arena_bytes\":%zu,\"rss_base_kb\":%ld,\"rss_peak_kb\":%ld}\n",
           path, argc > 6 ? argv[6] : "fp32", batch, threads, size, med, ms[0], ms[iters - 1], batch * 1000.0 / med,
           flops / (med * 1e6), load_ms, unet_session_arena_bytes(s), rss_base, rss_kb());
    free(ms);
    free(x);
    unet_session_free(s);
    unet_model_free(m);
    return 0;
}
