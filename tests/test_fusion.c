/* The residual-Add fusion (Conv with a sum post-op writing into the other
 * operand's buffer, then a fused ReLU) against naive loops: the fused graph
 * must give the unfused graph's numbers, the Add node must disappear, and an
 * operand of another shape must fall back to a broadcasting add. And Relu
 * then Clip after a Conv (unet-quantize's 7-bit activations) as one Clip
 * post-op, only where that is the same function (Clip's min at most 0). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unet/unet.h>

#include "onnx_builder.h"

#define C 8
#define H 9
#define W 7

static float frand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* 3x3 'same' convolution, C -> C channels, one image, naive. */
static void conv3(const float *x, const float *w, const float *b, float *y)
{
    for (int o = 0; o < C; o++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                double acc = b[o];
                for (int c = 0; c < C; c++)
                    for (int ki = 0; ki < 3; ki++)
                        for (int kj = 0; kj < 3; kj++) {
                            int ii = i + ki - 1, jj = j + kj - 1;
                            if (ii < 0 || jj < 0 || ii >= H || jj >= W)
                                continue;
                            acc += (double)x[(c * H + ii) * W + jj] * w[((o * C + c) * 3 + ki) * 3 + kj];
                        }
                y[(o * H + i) * W + j] = (float)acc;
            }
}

typedef struct weights {
    float wa[C * C * 9], ba[C], wc[C * C * 9], bc[C];
} weights;

static void make_weights(weights *w)
{
    uint32_t s = 7;
    for (int i = 0; i < C * C * 9; i++) {
        w->wa[i] = frand(&s) * 0.3f;
        w->wc[i] = frand(&s) * 0.3f;
    }
    for (int i = 0; i < C; i++) {
        w->ba[i] = frand(&s) * 0.1f;
        w->bc[i] = frand(&s) * 0.1f;
    }
}

/* a = Conv(x; wa), c = Conv(x; wc), y = Relu(Add(c, operand)) where operand is
 * a itself (same shape: fusable) or GlobalAveragePool(a) (1x1: broadcast). */
static ob_model *build(const weights *w, int broadcast)
{
    ob_model *m = ob_model_new(13);
    int64_t xd[4] = { 1, C, H, W }, wd[4] = { C, C, 3, 3 }, bd[1] = { C };
    ob_input(m, "x", UNET_DTYPE_FLOAT, 4, xd);
    ob_initializer(m, "wa", UNET_DTYPE_FLOAT, 4, wd, w->wa);
    ob_initializer(m, "ba", UNET_DTYPE_FLOAT, 1, bd, w->ba);
    ob_initializer(m, "wc", UNET_DTYPE_FLOAT, 4, wd, w->wc);
    ob_initializer(m, "bc", UNET_DTYPE_FLOAT, 1, bd, w->bc);
    int64_t pads[4] = { 1, 1, 1, 1 }, k[2] = { 3, 3 };
    ob_node *n = ob_node_add(m, "Conv", "x,wa,ba", "a");
    ob_attr_ints(n, "pads", pads, 4);
    ob_attr_ints(n, "kernel_shape", k, 2);
    const char *operand = "a";
    if (broadcast) {
        ob_node_add(m, "GlobalAveragePool", "a", "g");
        operand = "g";
    }
    n = ob_node_add(m, "Conv", "x,wc,bc", "c");
    ob_attr_ints(n, "pads", pads, 4);
    ob_attr_ints(n, "kernel_shape", k, 2);
    char ins[16];
    snprintf(ins, sizeof ins, "c,%s", operand);
    ob_node_add(m, "Add", ins, "s");
    ob_node_add(m, "Relu", "s", "y");
    ob_output(m, "y", UNET_DTYPE_FLOAT, 4, xd);
    return m;
}

/* Runs model m on x (1 x C x H x W) into y, which it copies out. */
static void run_model(unet_model *m, const float *x, float *y)
{
    unet_tensor in = { UNET_DTYPE_FLOAT, 4, { 1, C, H, W }, (void *)x };
    unet_tensor out;
    if (ob_run(m, &in, y, sizeof(float) * C * H * W, &out) != UNET_OK)
        fail_msg("run: %s", unet_last_error());
    assert_int_equal(out.rank, 4);
}

static void run_case(int broadcast)
{
    weights *w = malloc(sizeof *w);
    assert_non_null(w);
    make_weights(w);
    float x[C * H * W], a[C * H * W], c[C * H * W], want[C * H * W];
    uint32_t s = 99;
    for (int i = 0; i < C * H * W; i++)
        x[i] = frand(&s);
    conv3(x, w->wa, w->ba, a);
    conv3(x, w->wc, w->bc, c);
    for (int o = 0; o < C; o++) {
        double mean = 0;
        for (int p = 0; p < H * W; p++)
            mean += a[o * H * W + p];
        mean /= H * W;
        for (int p = 0; p < H * W; p++) {
            double v = c[o * H * W + p] + (broadcast ? mean : a[o * H * W + p]);
            want[o * H * W + p] = v > 0 ? (float)v : 0.0f;
        }
    }
    ob_model *b = build(w, broadcast);
    unet_model *m = NULL;
    assert_int_equal(ob_open(b, &m), UNET_OK);
    ob_model_free(b);
    /* Same shapes: the Add and the Relu fold into the second Conv. */
    int adds = 0;
    for (int i = 0; i < unet_model_node_count(m); i++)
        adds += !strcmp(unet_model_node_op(m, i), "Add") || !strcmp(unet_model_node_op(m, i), "Relu");
    if (!broadcast)
        assert_int_equal(adds, 0);
    float y[C * H * W];
    run_model(m, x, y);
    double worst = 0;
    for (int i = 0; i < C * H * W; i++) {
        double d = fabs((double)y[i] - want[i]);
        if (d > worst)
            worst = d;
    }
    assert_true(worst < 1e-4);
    unet_model_free(m);
    free(w);
}

static void test_residual_add_fused(void **state)
{
    (void)state;
    run_case(0);
}

static void test_broadcast_operand_falls_back(void **state)
{
    (void)state;
    run_case(1);
}

/* y = Clip(Relu(Conv(x; wa)), lo, hi): one node left when lo <= 0, and the
 * naive loop's numbers either way. */
static void run_relu_clip(float lo, float hi, int want_nodes)
{
    weights *w = malloc(sizeof *w);
    assert_non_null(w);
    make_weights(w);
    float x[C * H * W], a[C * H * W];
    uint32_t s = 5;
    for (int i = 0; i < C * H * W; i++)
        x[i] = frand(&s);
    conv3(x, w->wa, w->ba, a);
    ob_model *b = ob_model_new(13);
    int64_t xd[4] = { 1, C, H, W }, wd[4] = { C, C, 3, 3 }, bd[1] = { C }, one = 1;
    ob_input(b, "x", UNET_DTYPE_FLOAT, 4, xd);
    ob_initializer(b, "wa", UNET_DTYPE_FLOAT, 4, wd, w->wa);
    ob_initializer(b, "ba", UNET_DTYPE_FLOAT, 1, bd, w->ba);
    ob_initializer(b, "lo", UNET_DTYPE_FLOAT, 0, &one, &lo);
    ob_initializer(b, "hi", UNET_DTYPE_FLOAT, 0, &one, &hi);
    int64_t pads[4] = { 1, 1, 1, 1 }, k[2] = { 3, 3 };
    ob_node *n = ob_node_add(b, "Conv", "x,wa,ba", "a");
    ob_attr_ints(n, "pads", pads, 4);
    ob_attr_ints(n, "kernel_shape", k, 2);
    ob_node_add(b, "Relu", "a", "r");
    ob_node_add(b, "Clip", "r,lo,hi", "y");
    ob_output(b, "y", UNET_DTYPE_FLOAT, 4, xd);
    unet_model *m = NULL;
    assert_int_equal(ob_open(b, &m), UNET_OK);
    ob_model_free(b);
    assert_int_equal(unet_model_node_count(m), want_nodes);
    float y[C * H * W];
    run_model(m, x, y);
    int clipped = 0;
    for (int i = 0; i < C * H * W; i++) {
        float r = a[i] > 0.0f ? a[i] : 0.0f;
        float want = r < lo ? lo : r > hi ? hi : r;
        clipped += r > hi;
        assert_true(fabsf(y[i] - want) < 1e-4f);
    }
    assert_true(clipped > 0); /* the bound is met somewhere: the Clip is tested */
    unet_model_free(m);
    free(w);
}

static void test_relu_then_clip_fused(void **state)
{
    (void)state;
    run_relu_clip(-1.0f, 0.2f, 1);
    run_relu_clip(0.0f, 0.2f, 1);
}

static void test_clip_with_positive_min_kept(void **state)
{
    (void)state;
    run_relu_clip(0.05f, 0.2f, 2); /* Clip(Relu(v), 0.05, ...) is not Clip(v, 0, ...) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_residual_add_fused),
        cmocka_unit_test(test_broadcast_operand_falls_back),
        cmocka_unit_test(test_relu_then_clip_fused),
        cmocka_unit_test(test_clip_with_positive_min_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
