/* unet-fma-peak: measures this CPU's FP32 FMA peak with independent FMA
 * chains (AVX-512 when the CPU has it, else AVX2+FMA), per core and on all
 * requested threads, so benchmarks can quote a fraction of peak. */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHAINS 10
#define ITERS 20000000L

__attribute__((target("avx2,fma"))) static float run_avx2(long iters)
{
    __m256 acc[CHAINS];
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++)
        acc[c] = _mm256_set1_ps((float)c);
    for (long i = 0; i < iters; i++)
        for (int c = 0; c < CHAINS; c++)
            acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    __m256 s = acc[0];
    for (int c = 1; c < CHAINS; c++)
        s = _mm256_add_ps(s, acc[c]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0];
}

__attribute__((target("avx512f"))) static float run_avx512(long iters)
{
    __m512 acc[CHAINS];
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++)
        acc[c] = _mm512_set1_ps((float)c);
    for (long i = 0; i < iters; i++)
        for (int c = 0; c < CHAINS; c++)
            acc[c] = _mm512_fmadd_ps(acc[c], a, b);
    __m512 s = acc[0];
    for (int c = 1; c < CHAINS; c++)
        s = _mm512_add_ps(s, acc[c]);
    return _mm512_reduce_add_ps(s);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : omp_get_num_procs();
    int wide = __builtin_cpu_supports("avx512f");
    int lanes = wide ? 16 : 8;
    if (!wide && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
        fprintf(stderr, "unet-fma-peak: this CPU has neither AVX-512 nor AVX2+FMA\n");
        return 1;
    }
    double best = 0;
    volatile float sink = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        sink += wide ? run_avx512(ITERS / 4) : run_avx2(ITERS / 4);
        double t = now_s() - t0;
        double gflops = 2.0 * lanes * CHAINS * (double)(ITERS / 4) * threads / t / 1e9;
        if (gflops > best)
            best = gflops;
    }
    printf("{\"isa\":\"%s\",\"threads\":%d,\"gflops\":%.1f}\n", wide ? "avx512" : "avx2", threads, best);
    return sink == 12345.0f;
}
