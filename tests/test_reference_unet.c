/* The naive reference U-Net against values worked out by hand: each building
 * block on tiny inputs, then a whole depth-1 network whose weights are chosen
 * so the output can be computed on paper (and would differ if the concat order,
 * the IOHW layout of the transposed conv or the skip wiring were wrong). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "random_params.h"
#include "reference_unet.h"

#define EPS 1e-12

static void assert_close(double got, double want)
{
    if (!(fabs(got - want) <= EPS * (1.0 + fabs(want))))
        fail_msg("got %.17g, expected %.17g", got, want);
}

static void test_conv2d(void **state)
{
    (void)state;
    const double in[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    double out[9];
    float centre[9] = { 0 }, corner[9] = { 0 };
    centre[4] = 1.0f;
    corner[0] = 1.0f; /* tap (ky,kx) = (0,0) reads in[y-1][x-1] */
    const float bias = 0.5f;
    ref_conv2d(in, 1, 1, 3, 3, centre, &bias, 1, 3, 1, out);
    for (int i = 0; i < 9; i++)
        assert_close(out[i], in[i] + 0.5);
    ref_conv2d(in, 1, 1, 3, 3, corner, NULL, 1, 3, 1, out);
    const double shifted[9] = { 0, 0, 0, 0, 1, 2, 0, 4, 5 };
    for (int i = 0; i < 9; i++)
        assert_close(out[i], shifted[i]);

    /* two input channels, two output channels, OIHW: o0 = in0 + 2 in1, o1 = -in1 */
    const double in2[2 * 4] = { 1, 2, 3, 4, 10, 20, 30, 40 };
    float w[2 * 2 * 9] = { 0 };
    w[0 * 18 + 0 * 9 + 4] = 1.0f;
    w[0 * 18 + 1 * 9 + 4] = 2.0f;
    w[1 * 18 + 1 * 9 + 4] = -1.0f;
    double out2[2 * 4];
    ref_conv2d(in2, 1, 2, 2, 2, w, NULL, 2, 3, 1, out2);
    for (int i = 0; i < 4; i++) {
        assert_close(out2[i], in2[i] + 2 * in2[4 + i]);
        assert_close(out2[4 + i], -in2[4 + i]);
    }
    /* a full 3x3 box sum at the centre of a 3x3 image sums everything */
    float box[9];
    for (int i = 0; i < 9; i++)
        box[i] = 1.0f;
    ref_conv2d(in, 1, 1, 3, 3, box, NULL, 1, 3, 1, out);
    assert_close(out[4], 45);
    assert_close(out[0], 1 + 2 + 4 + 5);
}

static void test_batchnorm_relu(void **state)
{
    (void)state;
    double x[4] = { 3, -1, 0, 2 }; /* n=1, c=2, hw=2 */
    const float scale[2] = { 2, 1 }, shift[2] = { 1, 0 }, mean[2] = { 1, 0 }, var[2] = { 3, 1 };
    ref_batchnorm(x, 1, 2, 2, scale, shift, mean, var, 1e-5);
    assert_close(x[0], 2.0 * 2.0 / sqrt(3.00001) + 1.0);
    assert_close(x[1], 2.0 * -2.0 / sqrt(3.00001) + 1.0);
    assert_close(x[2], 0.0);
    assert_close(x[3], 2.0 / sqrt(1.00001));
    double r[4] = { -1, 0, 2.5, -0.0 };
    ref_relu(r, 4);
    assert_close(r[0], 0);
    assert_close(r[1], 0);
    assert_close(r[2], 2.5);
    assert_close(r[3], 0);
}

static void test_maxpool(void **state)
{
    (void)state;
    const double in[16] = { 1, 5, 2, 0, 3, 4, 8, 1, -1, -2, 0, 0, -3, -4, 0, 7 };
    double out[4];
    ref_maxpool2(in, 1, 1, 4, 4, out);
    assert_close(out[0], 5);
    assert_close(out[1], 8);
    assert_close(out[2], -1);
    assert_close(out[3], 7);
}

static void test_convtranspose(void **state)
{
    (void)state;
    const double in[4] = { 1, 2, 3, 4 };
    const float w[4] = { 1, 10, 100, 1000 }; /* IOHW [1,1,2,2] */
    const double want[16] = { 1, 10, 2, 20, 100, 1000, 200, 2000,
                              3, 30, 4, 40, 300, 3000, 400, 4000 };
    double out[16];
    ref_convtranspose2(in, 1, 1, 2, 2, w, NULL, 1, out);
    for (int i = 0; i < 16; i++)
        assert_close(out[i], want[i]);
    /* IOHW with 2 inputs and 2 outputs at one pixel: out[o] = sum_i in[i] * w[i,o] + b[o] */
    const double in2[2] = { 1, 3 };
    float w2[2 * 2 * 4] = { 0 };
    w2[(0 * 2 + 1) * 4 + 3] = 5.0f; /* i=0, o=1, (1,1) */
    w2[(1 * 2 + 0) * 4 + 2] = 7.0f; /* i=1, o=0, (1,0) */
    const float b2[2] = { 0.25f, -0.5f };
    double out2[2 * 4];
    ref_convtranspose2(in2, 1, 2, 1, 1, w2, b2, 2, out2);
    const double want2[8] = { 0.25, 0.25, 0.25 + 21, 0.25, -0.5, -0.5, -0.5, -0.5 + 5 };
    for (int i = 0; i < 8; i++)
        assert_close(out2[i], want2[i]);
}

static void test_concat_softmax(void **state)
{
    (void)state;
    const double a[2] = { 1, 2 };          /* n=2, c=1, hw=1 */
    const double b[4] = { 10, 11, 20, 21 }; /* n=2, c=2, hw=1 */
    double out[6];
    ref_concat(a, 1, b, 2, 2, 1, out);
    const double want[6] = { 1, 10, 11, 2, 20, 21 };
    for (int i = 0; i < 6; i++)
        assert_close(out[i], want[i]);

    const double logits[3] = { 1000, 1000 + log(2.0), 1000 + log(3.0) };
    double p[3];
    ref_softmax(logits, 1, 3, 1, p);
    assert_close(p[0], 1.0 / 6);
    assert_close(p[1], 2.0 / 6);
    assert_close(p[2], 3.0 / 6);
}

static void set(unet_params *params, const char *name, const float *values)
{
    net_param *p = random_params_find(params, name);
    assert_non_null(p);
    memcpy(p->data, values, p->count * sizeof *values);
}

static void zero(unet_params *params, const char *name)
{
    net_param *p = random_params_find(params, name);
    assert_non_null(p);
    memset(p->data, 0, p->count * sizeof *p->data);
}

/* depth 1, base 1, 1 input channel, 2 classes: enc0 (1 filter), mid (2 filters),
 * dec0.up 2 -> 1, concat(up, skip) -> 2 channels, dec0 convs, head 1 -> 2. */
static void test_whole_network_by_hand(void **state)
{
    (void)state;
    unet_arch arch = { .in_channels = 1, .n_classes = 2, .depth = 1, .base_filters = 1,
                       .batchnorm = 0 };
    unet_params *params = random_params_create(&arch, 7);
    assert_non_null(params);
    /* encoder and bottleneck reduce to their biases: skip = 0.7, mid = (0.5, 0.25) */
    zero(params, "enc0.conv1.weight");
    set(params, "enc0.conv1.bias", (const float[]){ 0.3f });
    zero(params, "enc0.conv2.weight");
    set(params, "enc0.conv2.bias", (const float[]){ 0.7f });
    zero(params, "mid.conv2.weight");
    set(params, "mid.conv2.bias", (const float[]){ 0.5f, 0.25f });
    /* up[y,x] = 0.1 + 0.5 w[0,0,y%2,x%2] + 0.25 w[1,0,y%2,x%2] = 1.6, 1.1, -0.4, 2.1 */
    set(params, "dec0.up.weight", (const float[]){ 1, 2, 3, 4, 4, 0, -8, 0 });
    set(params, "dec0.up.bias", (const float[]){ 0.1f });
    /* dec0.conv1 = relu(up + 2 * skip), centre taps only; conv2 passes it on */
    float w1[2 * 9] = { 0 };
    w1[4] = 1.0f;
    w1[9 + 4] = 2.0f;
    set(params, "dec0.conv1.weight", w1);
    set(params, "dec0.conv1.bias", (const float[]){ 0 });
    float w2[9] = { 0 };
    w2[4] = 1.0f;
    set(params, "dec0.conv2.weight", w2);
    set(params, "dec0.conv2.bias", (const float[]){ 0 });
    set(params, "head.weight", (const float[]){ 1, -1 });
    set(params, "head.bias", (const float[]){ 0, 0.5f });

    float input[2 * 4];
    uint64_t rng = 3;
    random_fill(input, 8, 0, 1, &rng);
    double logits[2 * 2 * 4], probs[2 * 2 * 4];
    assert_int_equal(reference_unet_forward(params, 2, 2, 2, input, logits, probs), 0);
    const double v[4] = { 1.6 + 1.4, 1.1 + 1.4, -0.4 + 1.4, 2.1 + 1.4 };
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 4; i++) {
            /* float weights: compare with the float-rounded hand values */
            double up = 0.1f + 0.5f * (double[]){ 1, 2, 3, 4 }[i] +
                        0.25f * (double[]){ 4, 0, -8, 0 }[i];
            double want = up + 2.0 * 0.7f;
            assert_true(fabs(want - v[i]) < 1e-6);
            assert_close(logits[b * 8 + i], want);
            assert_close(logits[b * 8 + 4 + i], -want + 0.5);
            assert_close(probs[b * 8 + i], 1.0 / (1.0 + exp(-2 * want + 0.5)));
            assert_close(probs[b * 8 + i] + probs[b * 8 + 4 + i], 1.0);
        }
    /* a missing parameter is an error, not a crash */
    snprintf(params->p[0].name, sizeof params->p[0].name, "renamed");
    assert_int_equal(reference_unet_forward(params, 1, 2, 2, input, NULL, probs), -1);
    random_params_free(params);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d),
        cmocka_unit_test(test_batchnorm_relu),
        cmocka_unit_test(test_maxpool),
        cmocka_unit_test(test_convtranspose),
        cmocka_unit_test(test_concat_softmax),
        cmocka_unit_test(test_whole_network_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
