/* unet-quantize's arithmetic against hand-worked values: the calibration
 * histogram (exact range doubling), the min/max, percentile and entropy
 * ranges, the activation scale and zero point, and int8 weights per output
 * channel (round half to even, saturation at +-127). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "calib_stats.h"
#include "quant_params.h"

static qz_hist *new_hist(void)
{
    qz_hist *h = malloc(sizeof *h);
    assert_non_null(h);
    qz_hist_init(h);
    return h;
}

static void test_hist_doubling(void **state)
{
    (void)state;
    qz_hist *h = new_hist();
    const float a[] = { 1.0f, 0.0f, -0.25f }, b[] = { 3.0f, NAN };
    qz_hist_add(h, a, 3);
    assert_true(h->range == 1.0);
    assert_int_equal(h->pos[2047], 1); /* 1.0 in (2047/2048, 1] */
    assert_int_equal(h->neg[511], 1);  /* 0.25 in (511/2048, 512/2048] */
    qz_hist_add(h, b, 2);
    assert_true(h->range == 4.0); /* 1 -> 2 -> 4 */
    /* 1.0 is in bin 511 of the new width 4/2048, as it would be if added now;
     * 0.25 in bin 127; 3.0 in (1535, 1536] * 4/2048. */
    assert_int_equal(h->pos[511], 1);
    assert_int_equal(h->neg[127], 1);
    assert_int_equal(h->pos[1535], 1);
    assert_int_equal(h->zeros, 1);
    assert_int_equal(h->count, 4);
    assert_int_equal(h->nonfinite, 1);
    double lo, hi;
    assert_int_equal(qz_range_minmax(h, &lo, &hi), 0);
    assert_true(lo == -0.25 && hi == 3.0);
    free(h);
}

static void test_empty(void **state)
{
    (void)state;
    qz_hist *h = new_hist();
    double lo, hi;
    assert_int_equal(qz_range_minmax(h, &lo, &hi), -1);
    assert_int_equal(qz_range_percentile(h, 99.0, &lo, &hi), -1);
    assert_int_equal(qz_range_entropy(h, 255, &lo, &hi), -1);
    free(h);
}

/* 0.001 * i, i = 1..10000: range 10, bin width 10/2048. At 99.9% each tail
 * may hold 10 values; the top three bins hold 5 each (i 9996..10000,
 * 9991..9995, 9986..9990), so the cut is the upper edge of the third bin
 * from the top, 2046 * 10/2048. At 99.99% (1 value) the top bin stays: 10. */
static void test_percentile(void **state)
{
    (void)state;
    qz_hist *h = new_hist();
    float *v = malloc(10000 * sizeof *v);
    assert_non_null(v);
    for (int i = 1; i <= 10000; i++)
        v[i - 1] = (float)(i / 1000.0);
    qz_hist_add(h, v, 10000);
    double lo, hi;
    assert_int_equal(qz_range_percentile(h, 99.9, &lo, &hi), 0);
    assert_true(hi == 2046 * 10.0 / 2048);
    assert_true(lo == (double)v[0]); /* no negative values: the minimum */
    assert_int_equal(qz_range_percentile(h, 99.99, &lo, &hi), 0);
    assert_true(hi == 10.0);
    /* The negative side mirrored: the same cut below zero. */
    for (int i = 0; i < 10000; i++)
        v[i] = -v[i];
    qz_hist_add(h, v, 10000);
    assert_int_equal(qz_range_percentile(h, 99.95, &lo, &hi), 0);
    /* 20000 values, 10 per tail allowed: again the third bin from the top. */
    assert_true(hi == 2046 * 10.0 / 2048 && lo == -2046 * 10.0 / 2048);
    free(v);
    free(h);
}

/* One value in the middle of each of bins 0..254 and one at 10 (the range,
 * bin 2047), the rest empty. Without clipping every step of 2048/255 bins
 * holds non-empty bins of equal counts, so Q = P and the divergence is 0;
 * any threshold below moves the outlier into the last bin of P but not of Q
 * (Q is made from the values up to T), so P != Q and KL > 0. An isolated
 * outlier costs nothing to represent: the threshold is the maximum. */
static void test_entropy_keeps_isolated_outlier(void **state)
{
    (void)state;
    qz_hist *h = new_hist();
    float v[256];
    const double w = 10.0 / 2048;
    v[0] = 10.0f;
    for (int k = 0; k < 255; k++)
        v[k + 1] = (float)((k + 0.5) * w);
    qz_hist_add(h, v, 256);
    double lo, hi;
    assert_int_equal(qz_range_entropy(h, 255, &lo, &hi), 0);
    assert_true(hi == 10.0);
    assert_true(lo == (double)v[1]);
    free(h);
}

/* One value per bin over the whole range: any clipping piles values into
 * the last bin, which quantisation spreads out (KL > 0); no clipping gives
 * equal counts in every level (KL = 0): the threshold is the maximum. */
static void test_entropy_uniform(void **state)
{
    (void)state;
    qz_hist *h = new_hist();
    float v[2048];
    for (int k = 0; k < 2048; k++)
        v[k] = (float)(k + 1); /* range 2048, bin width 1: k+1 in (k, k+1] */
    qz_hist_add(h, v, 2048);
    double lo, hi;
    assert_int_equal(qz_range_entropy(h, 255, &lo, &hi), 0);
    assert_true(hi == 2048.0);
    free(h);
}

static void test_activation_params(void **state)
{
    (void)state;
    float s;
    uint8_t z;
    assert_int_equal(qz_choose_activation(0.0, 2.55, 255, &s, &z), 0);
    assert_true(s == 0.01f && z == 0);
    /* -0.5..2.05: scale 2.55/255 = 0.01, zero round(0.5 / 0.01) = 50. */
    assert_int_equal(qz_choose_activation(-0.5, 2.05, 255, &s, &z), 0);
    assert_true(s == 0.01f && z == 50);
    /* A range above zero is widened to hold it: 0..2. */
    assert_int_equal(qz_choose_activation(1.0, 2.0, 255, &s, &z), 0);
    assert_true(s == (float)(2.0 / 255) && z == 0);
    /* Below zero only: zero point at the top. */
    assert_int_equal(qz_choose_activation(-2.55, -1.0, 255, &s, &z), 0);
    assert_true(s == 0.01f && z == 255);
    /* 7 bits: 0..127. */
    assert_int_equal(qz_choose_activation(0.0, 1.27, 127, &s, &z), 0);
    assert_true(s == 0.01f && z == 0);
    assert_int_equal(qz_choose_activation(0.0, 0.0, 255, &s, &z), 0);
    assert_true(s == 1.0f && z == 0);
    assert_int_equal(qz_choose_activation(1.0, 0.5, 255, &s, &z), -1);
    assert_int_equal(qz_choose_activation(NAN, 1.0, 255, &s, &z), -1);
    assert_int_equal(qz_choose_activation(0.0, INFINITY, 255, &s, &z), -1);
}

/* Per-channel scales that are powers of two keep the arithmetic exact:
 * channel 0 max |w| 3.96875 = 127 / 32 (scale 1/32), channel 1 all zero
 * (scale 1), channel 2 max 1.984375 = 127 / 64 (scale 1/64). Halves round
 * to even: 1.5 -> 2, 2.5 -> 2, -2.5... (3.5 -> 4). */
static void test_weights(void **state)
{
    (void)state;
    const float w[12] = { -3.96875f, 0.046875f, 0.078125f, 0.0f,      /* -127, 1.5 -> 2, 2.5 -> 2, 0 */
                          0.0f, 0.0f, 0.0f, 0.0f,
                          1.984375f, -0.5f, 0.0390625f, -0.0546875f }; /* 127, -32, 2.5 -> 2, -3.5 -> -4 */
    int8_t q[12];
    float s[3];
    double err = qz_quantize_weights(w, 3, 4, q, s);
    const int8_t want[12] = { -127, 2, 2, 0, 0, 0, 0, 0, 127, -32, 2, -4 };
    for (int i = 0; i < 12; i++)
        assert_int_equal(q[i], want[i]);
    assert_true(s[0] == 0.03125f && s[1] == 1.0f && s[2] == 0.015625f);
    assert_true(err == 0.5 * 0.03125); /* half a step of the coarsest channel */
    const float bad[2] = { 1.0f, NAN };
    assert_true(qz_quantize_weights(bad, 1, 2, q, s) < 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_doubling),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_percentile),
        cmocka_unit_test(test_entropy_keeps_isolated_outlier),
        cmocka_unit_test(test_entropy_uniform),
        cmocka_unit_test(test_activation_params),
        cmocka_unit_test(test_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
