/* A QDQ ConvTranspose (QuantizeLinear/DequantizeLinear on its input, int8
 * weights with one scale per output channel: axis 1) against a naive loop of
 * the QDQ arithmetic in double: kernel 2 stride 2, which libunet runs as an
 * int8 1x1 convolution plus a pixel shuffle where oneDNN has the kernel, and
 * kernel 3 stride 2 with pads and output_padding, which runs in float32 on
 * the dequantised weights. The input has a zero point and values beyond the
 * uint8 range at both ends, so saturation is met. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "onnx_builder.h"

enum { N = 2, C = 16, OC = 8, H = 5, W = 7 };

static float frand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 65536.0f;
}

/* ONNX QuantizeLinear to uint8: round half to even, saturate. */
static int quantize_u8(float x, float scale, int zero)
{
    double q = nearbyint((double)x / scale) + zero;
    return q < 0 ? 0 : q > 255 ? 255 : (int)q;
}

static void run_case(int k, int stride, int pad, int out_pad)
{
    const float x_scale = 0.005f;
    const uint8_t x_zero = 10;
    const int OH = (H - 1) * stride + out_pad + k - 2 * pad, OW = (W - 1) * stride + out_pad + k - 2 * pad;
    float *x = malloc(sizeof(float) * N * C * H * W), *bias = malloc(sizeof(float) * OC);
    int8_t *wq = malloc((size_t)C * OC * k * k);
    float w_scale[OC];
    double *want = calloc((size_t)N * OC * OH * OW, sizeof *want);
    assert_true(x && bias && wq && want);
    uint32_t s = 3;
    for (int i = 0; i < N * C * H * W; i++)
        x[i] = frand(&s) * 1.4f - 0.1f; /* -0.1 .. 1.3: below 0 and above 255 once quantised */
    for (int i = 0; i < C * OC * k * k; i++)
        wq[i] = (int8_t)((int)(frand(&s) * 255.0f) - 127);
    for (int o = 0; o < OC; o++) {
        w_scale[o] = 0.001f * (float)(o + 1); /* distinct per output channel: axis 1 matters */
        bias[o] = frand(&s) - 0.5f;
    }
    /* reference: dequantise(quantise(x)) and dequantised weights, in double */
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++)
            for (int i = 0; i < OH * OW; i++)
                want[(n * OC + o) * OH * OW + i] = bias[o];
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++) {
                    double xd = (double)(quantize_u8(x[((n * C + c) * H + i) * W + j], x_scale, x_zero) - x_zero) * x_scale;
                    for (int o = 0; o < OC; o++)
                        for (int a = 0; a < k; a++)
                            for (int b = 0; b < k; b++) {
                                int oi = i * stride + a - pad, oj = j * stride + b - pad;
                                if (oi < 0 || oj < 0 || oi >= OH || oj >= OW)
                                    continue;
                                double wd = (double)wq[((c * OC + o) * k + a) * k + b] * w_scale[o];
                                want[((n * OC + o) * OH + oi) * OW + oj] += xd * wd;
                            }
                }

    ob_model *m = ob_model_new(13);
    const int64_t xd[4] = { N, C, H, W }, yd[4] = { N, OC, OH, OW }, wd[4] = { C, OC, k, k }, oc = OC, one = 1;
    const int8_t w_zero[OC] = { 0 };
    ob_input(m, "x", UNET_DTYPE_FLOAT, 4, xd);
    ob_output(m, "y", UNET_DTYPE_FLOAT, 4, yd);
    ob_initializer(m, "xs", UNET_DTYPE_FLOAT, 0, &one, &x_scale);
    ob_initializer(m, "xz", UNET_DTYPE_UINT8, 0, &one, &x_zero);
    ob_initializer(m, "wq", UNET_DTYPE_INT8, 4, wd, wq);
    ob_initializer(m, "ws", UNET_DTYPE_FLOAT, 1, &oc, w_scale);
    ob_initializer(m, "wz", UNET_DTYPE_INT8, 1, &oc, w_zero);
    ob_initializer(m, "b", UNET_DTYPE_FLOAT, 1, &oc, bias);
    ob_node_add(m, "QuantizeLinear", "x,xs,xz", "xq");
    ob_node_add(m, "DequantizeLinear", "xq,xs,xz", "xdq");
    ob_attr_int(ob_node_add(m, "DequantizeLinear", "wq,ws,wz", "wdq"), "axis", 1);
    ob_node *t = ob_node_add(m, "ConvTranspose", "xdq,wdq,b", "y");
    const int64_t ks[2] = { k, k }, st[2] = { stride, stride }, pads[4] = { pad, pad, pad, pad }, op[2] = { out_pad, out_pad };
    ob_attr_ints(t, "kernel_shape", ks, 2);
    ob_attr_ints(t, "strides", st, 2);
    ob_attr_ints(t, "pads", pads, 4);
    if (out_pad)
        ob_attr_ints(t, "output_padding", op, 2);
    unet_model *model = NULL;
    if (ob_open(m, &model) != UNET_OK)
        fail_msg("open: %s", unet_last_error());
    ob_model_free(m);
    unet_tensor in = { .dtype = UNET_DTYPE_FLOAT, .rank = 4, .dims = { N, C, H, W }, .data = x };
    const size_t y_bytes = sizeof(float) * (size_t)(N * OC * OH * OW);
    float *y = malloc(y_bytes);
    assert_non_null(y);
    unet_tensor out;
    if (ob_run(model, &in, y, y_bytes, &out) != UNET_OK)
        fail_msg("run: %s", unet_last_error());
    assert_int_equal(out.rank, 4);
    assert_int_equal(out.dims[2], OH);
    assert_int_equal(out.dims[3], OW);
    double worst = 0.0, largest = 0.0;
    for (int i = 0; i < N * OC * OH * OW; i++) {
        worst = fmax(worst, fabs(y[i] - want[i]));
        largest = fmax(largest, fabs(want[i]));
    }
    if (worst > 1e-4 * (1.0 + largest))
        fail_msg("kernel %d stride %d: max |libunet - reference| = %g (outputs up to %g)", k, stride, worst, largest);
    assert_true(largest > 0.1); /* not a degenerate all-zero case */
    free(y);
    unet_model_free(model);
    free(x);
    free(bias);
    free(wq);
    free(want);
}

static void test_kernel2_stride2(void **state)
{
    (void)state;
    run_case(2, 2, 0, 0);
}

static void test_kernel3_stride2_padded(void **state)
{
    (void)state;
    run_case(3, 2, 1, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel2_stride2),
        cmocka_unit_test(test_kernel3_stride2_padded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
