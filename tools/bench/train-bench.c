/* unet-train-bench: times training steps (forward, softmax cross-entropy,
 * backward, Adam) of the U-Net on random tiles; one JSON line with the median
 * step time and tiles/s. The PyTorch side is tools/bench/torch-train-bench.py. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_clock.h"
#include "net.h"
#include "optimizer.h"

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: unet-train-bench DEPTH FILTERS BATCH THREADS STEPS [BATCHNORM(0/1)] [SIZE]\n");
        return 2;
    }
    unet_arch arch = { 3, 6, atoi(argv[1]), atoi(argv[2]), argc > 6 ? atoi(argv[6]) : 0, 0.0f };
    int batch = atoi(argv[3]), threads = atoi(argv[4]), steps = atoi(argv[5]);
    int size = argc > 7 ? atoi(argv[7]) : 256;
    if (batch < 1 || threads < 1 || steps < 1) {
        fprintf(stderr, "unet-train-bench: bad arguments\n");
        return 2;
    }
    omp_set_num_threads(threads);
    unet_params *params = NULL;
    unet_net *net = NULL;
    optimizer *opt = NULL;
    optim_config cfg;
    optim_config_default(&cfg, OPTIM_ADAM);
    if (params_create(&arch, &params) != UNET_OK) {
        fprintf(stderr, "unet-train-bench: %s\n", unet_last_error());
        return 2;
    }
    params_init_he(params, 1);
    if (net_create(params, batch, size, size, &net) != UNET_OK || optimizer_create(&cfg, params, &opt) != UNET_OK) {
        fprintf(stderr, "unet-train-bench: %s\n", unet_last_error());
        return 2;
    }
    size_t n = (size_t)batch * 3 * size * size, np = (size_t)batch * size * size;
    float *x = malloc(n * sizeof *x);
    unsigned char *labels = malloc(np);
    double *ms = malloc((size_t)steps * sizeof *ms);
    if (!x || !labels || !ms)
        return 1;
    srand(1);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((double)rand() / RAND_MAX);
    for (size_t i = 0; i < np; i++)
        labels[i] = (unsigned char)(rand() % 6);
    double loss;
    for (int s = -1; s < steps; s++) { /* one warm-up step */
        double t0 = bench_now_ms();
        if (net_forward(net, x, 1) != UNET_OK || net_loss(net, labels, NULL, 255, &loss) != UNET_OK ||
            net_backward(net) != UNET_OK || optimizer_step(opt, params, 1e-3) != UNET_OK) {
            fprintf(stderr, "unet-train-bench: %s\n", unet_last_error());
            return 1;
        }
        if (s >= 0)
            ms[s] = bench_now_ms() - t0;
    }
    double med = bench_median(ms, steps);
    printf("{\"depth\":%d,\"filters\":%d,\"batchnorm\":%d,\"batch\":%d,\"threads\":%d,\"size\":%d,\"median_step_ms\":%.2f,"
           "\"tiles_per_s\":%.3f,\"gflops\":%.1f}\n",
           arch.depth, arch.base_filters, arch.batchnorm, batch, threads, size, med, batch * 1000.0 / med,
           3.0 * unet_arch_flops(&arch, size, size) * batch / (med * 1e6));
    free(x);
    free(labels);
    free(ms);
    optimizer_free(opt);
    net_free(net);
    params_free(params);
    return 0;
}
