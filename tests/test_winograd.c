/* fp32 3x3 convolutions with many channels run as oneDNN Winograd F(4x4, 3x3)
 * where the CPU has the kernel (AVX-512; on AVX2 oneDNN has none and the
 * direct kernel runs): results against a float64 loop, the implementation
 * oneDNN reports, and unet_session_options.direct_convolutions turning it off.
 * Also the ReLU post-op and padding the U-Net uses ('same', 1 on each side). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "onnx_builder.h"
#include "test_random.h"

/* Errors relative to sum |w x|: measured at most 2.1e-7 on these cases with
 * Winograd and 2.2e-7 with the direct kernel (AVX-512, oneDNN 2.6); 1e-5
 * leaves room for other kernels and still catches a wrong tap or pad. */
#define REL_TOL 1e-5

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static float *random_floats(size_t n, double lo, double hi)
{
    float *p = test_random_floats(n, lo, hi, &rng_state);
    assert_non_null(p);
    return p;
}

typedef struct conv3 {
    int64_t n, c, oc, h, w;
    int64_t pads[4]; /* begin H, begin W, end H, end W */
    int relu;
} conv3;

static int64_t out_h(const conv3 *k) { return k->h + k->pads[0] + k->pads[2] - 2; }
static int64_t out_w(const conv3 *k) { return k->w + k->pads[1] + k->pads[3] - 2; }

/* y and sum |w x| (the scale of the rounding) in float64. */
static void reference(const conv3 *k, const float *x, const float *wt, const float *bias, double *y, double *mag)
{
    int64_t oh = out_h(k), ow = out_w(k);
    for (int64_t b = 0; b < k->n; b++)
        for (int64_t o = 0; o < k->oc; o++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    double s = bias[o], m = fabs(bias[o]);
                    for (int64_t c = 0; c < k->c; c++)
                        for (int64_t u = 0; u < 3; u++)
                            for (int64_t v = 0; v < 3; v++) {
                                int64_t yy = i + u - k->pads[0], xx = j + v - k->pads[1];
                                if (yy < 0 || yy >= k->h || xx < 0 || xx >= k->w)
                                    continue;
                                double t = (double)wt[((o * k->c + c) * 3 + u) * 3 + v] *
                                           x[((b * k->c + c) * k->h + yy) * k->w + xx];
                                s += t;
                                m += fabs(t);
                            }
                    size_t at = (size_t)(((b * k->oc + o) * oh + i) * ow + j);
                    y[at] = k->relu && s < 0 ? 0 : s;
                    mag[at] = m;
                }
}

static unet_model *build(const conv3 *k, const float *wt, const float *bias)
{
    ob_model *b = ob_model_new(13);
    int64_t xd[4] = { -1, k->c, -1, -1 }, wd[4] = { k->oc, k->c, 3, 3 }, bd[1] = { k->oc };
    ob_input(b, "X", UNET_DTYPE_FLOAT, 4, xd);
    ob_initializer(b, "W", UNET_DTYPE_FLOAT, 4, wd, wt);
    ob_initializer(b, "B", UNET_DTYPE_FLOAT, 1, bd, bias);
    ob_node *conv = ob_node_add(b, "Conv", "X,W,B", k->relu ? "C" : "Y");
    ob_attr_ints(conv, "pads", k->pads, 4);
    if (k->relu)
        ob_node_add(b, "Relu", "C", "Y");
    ob_output(b, "Y", UNET_DTYPE_FLOAT, -1, NULL);
    unet_model *m = NULL;
    if (ob_open(b, &m) != UNET_OK)
        fail_msg("model: %s", unet_last_error());
    ob_model_free(b);
    return m;
}

/* Runs the model; returns the output (copied) and whether a Winograd kernel ran. */
static float *run(const unet_model *m, const conv3 *k, const float *x, int direct, int *used_winograd)
{
    unet_session_options o = { .threads = 2, .profile = 1, .direct_convolutions = direct };
    unet_session *s = NULL;
    if (unet_session_create(m, &o, &s) != UNET_OK)
        fail_msg("session: %s", unet_last_error());
    unet_tensor in = { .dtype = UNET_DTYPE_FLOAT, .rank = 4, .dims = { k->n, k->c, k->h, k->w }, .data = (void *)x };
    if (unet_session_run(s, &in, 1) != UNET_OK)
        fail_msg("run: %s", unet_last_error());
    *used_winograd = 0;
    for (int i = 0; i < unet_session_profile_count(s); i++) {
        const char *node, *op, *impl;
        double ms;
        assert_int_equal(unet_session_profile_entry(s, i, &node, &op, &impl, &ms), UNET_OK);
        *used_winograd |= impl && strstr(impl, "wino") != NULL;
    }
    unet_tensor t;
    assert_int_equal(unet_session_output(s, 0, &t), UNET_OK);
    assert_int_equal(t.dims[0], k->n);
    assert_int_equal(t.dims[1], k->oc);
    assert_int_equal(t.dims[2], out_h(k));
    assert_int_equal(t.dims[3], out_w(k));
    size_t count = (size_t)(k->n * k->oc * out_h(k) * out_w(k));
    float *y = malloc(count * sizeof *y);
    assert_non_null(y);
    memcpy(y, t.data, count * sizeof *y);
    unet_session_free(s);
    return y;
}

static double worst_error(const float *y, const double *want, const double *mag, size_t count, const char *what)
{
    double worst = 0;
    for (size_t i = 0; i < count; i++) {
        double e = fabs((double)y[i] - want[i]) / (mag[i] + 1e-30);
        if (!(e <= REL_TOL))
            fail_msg("%s: element %zu: got %.9g, expected %.9g (error %.3g of sum |w x| = %.3g, tolerance %.0e)",
                     what, i, y[i], want[i], e, mag[i], REL_TOL);
        worst = e > worst ? e : worst;
    }
    return worst;
}

enum { EITHER = -1 };

static int cpu_has_avx512(void) { return strncmp(unet_cpu_isa(), "avx512", 6) == 0; }

static void check_case(const conv3 *k, int expect_winograd)
{
    size_t nx = (size_t)(k->n * k->c * k->h * k->w), nw = (size_t)(k->oc * k->c * 9);
    size_t ny = (size_t)(k->n * k->oc * out_h(k) * out_w(k));
    float *x = random_floats(nx, 0, 1), *wt = random_floats(nw, -0.1, 0.1), *bias = random_floats((size_t)k->oc, -0.1, 0.1);
    double *want = malloc(ny * sizeof *want), *mag = malloc(ny * sizeof *mag);
    assert_non_null(want);
    assert_non_null(mag);
    reference(k, x, wt, bias, want, mag);
    unet_model *m = build(k, wt, bias);
    char what[160];
    int wino_default, wino_direct;
    float *y = run(m, k, x, 0, &wino_default);
    float *yd = run(m, k, x, 1, &wino_direct);
    snprintf(what, sizeof what, "%lld -> %lld channels, %lldx%lld, pads %lld,%lld,%lld,%lld%s (%s)",
             (long long)k->c, (long long)k->oc, (long long)k->h, (long long)k->w, (long long)k->pads[0],
             (long long)k->pads[1], (long long)k->pads[2], (long long)k->pads[3], k->relu ? ", ReLU" : "",
             wino_default ? "Winograd" : "direct");
    double e_default = worst_error(y, want, mag, ny, what);
    double e_direct = worst_error(yd, want, mag, ny, "direct_convolutions = 1");
    print_message("%s: worst error %.2g of sum |w x| (direct kernel: %.2g)\n", what, e_default, e_direct);
    if (wino_direct)
        fail_msg("%s: direct_convolutions = 1 still ran a Winograd kernel", what);
    if (expect_winograd == 1 && cpu_has_avx512() && !wino_default)
        fail_msg("%s: ISA %s, but no Winograd kernel ran", what, unet_cpu_isa());
    if (expect_winograd == 0 && wino_default)
        fail_msg("%s: a Winograd kernel ran below the channel threshold", what);
    free(y);
    free(yd);
    unet_model_free(m);
    free(x);
    free(wt);
    free(bias);
    free(want);
    free(mag);
}

static void test_winograd_unet_layers(void **state)
{
    (void)state;
    /* the U-Net's 'same' 3x3 convolutions at 64 and 128 channels */
    conv3 a = { .n = 2, .c = 64, .oc = 64, .h = 19, .w = 23, .pads = { 1, 1, 1, 1 }, .relu = 1 };
    check_case(&a, 1);
    conv3 b = { .n = 1, .c = 128, .oc = 32, .h = 16, .w = 16, .pads = { 1, 1, 1, 1 }, .relu = 0 };
    check_case(&b, 1);
}

static void test_winograd_other_padding(void **state)
{
    (void)state;
    /* no padding, and asymmetric padding (which oneDNN may run either way) */
    conv3 a = { .n = 1, .c = 64, .oc = 48, .h = 13, .w = 9, .pads = { 0, 0, 0, 0 } };
    check_case(&a, EITHER);
    conv3 b = { .n = 2, .c = 32, .oc = 64, .h = 10, .w = 12, .pads = { 1, 0, 0, 1 }, .relu = 1 };
    check_case(&b, EITHER);
}

static void test_below_threshold_stays_direct(void **state)
{
    (void)state;
    /* 16 -> 32 channels: the transforms would cost more than they save */
    conv3 a = { .n = 2, .c = 16, .oc = 32, .h = 20, .w = 20, .pads = { 1, 1, 1, 1 }, .relu = 1 };
    check_case(&a, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_winograd_unet_layers),
        cmocka_unit_test(test_winograd_other_padding),
        cmocka_unit_test(test_below_threshold_stays_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
