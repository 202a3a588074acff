/* QDQ around ops that only pick or move values (MaxPool, Concat), as ONNX
 * Runtime's quantiser writes them: DequantizeLinear(QuantizeLinear(x)) ->
 * op -> QuantizeLinear -> DequantizeLinear -> Conv with int8 weights. With
 * the same scale and zero point on both sides the pair in front of the op is
 * redundant and libunet drops it (node count); with another scale it stays.
 * Either way the output equals a naive loop of the QDQ arithmetic. */
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

enum { C = 4, H = 6, W = 6, OC = 3 };

static const float S_OUT = 0.01f;
static const uint8_t ZERO = 7;

static float frand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 65536.0f;
}

/* DequantizeLinear(QuantizeLinear(x)) to uint8, in double. */
static double qdq(double x, float s, int z)
{
    double q = nearbyint(x / s) + z;
    q = q < 0 ? 0 : q > 255 ? 255 : q;
    return (q - z) * s;
}

/* The int8 1x1 Conv after the ops: weights w[o][c] * ws[o], bias 0. */
static void add_head(ob_model *m, const char *in, int channels, const int8_t *w, const float *ws)
{
    const int64_t wd[4] = { OC, channels, 1, 1 }, oc = OC, one = 1;
    const int8_t wz[OC] = { 0 };
    ob_initializer(m, "os", UNET_DTYPE_FLOAT, 0, &one, &S_OUT);
    ob_initializer(m, "oz", UNET_DTYPE_UINT8, 0, &one, &ZERO);
    ob_initializer(m, "wq", UNET_DTYPE_INT8, 4, wd, w);
    ob_initializer(m, "ws", UNET_DTYPE_FLOAT, 1, &oc, ws);
    ob_initializer(m, "wz", UNET_DTYPE_INT8, 1, &oc, wz);
    char ins[64];
    snprintf(ins, sizeof ins, "%s,os,oz", in);
    ob_node_add(m, "QuantizeLinear", ins, "tq");
    ob_node_add(m, "DequantizeLinear", "tq,os,oz", "tdq");
    ob_attr_int(ob_node_add(m, "DequantizeLinear", "wq,ws,wz", "wdq"), "axis", 0);
    ob_node_add(m, "Conv", "tdq,wdq", "y");
}

/* Opens m, checks its node count after libunet's passes, runs x (dims) and
 * compares with want (1 x OC x oh x ow). */
static void run_and_compare(ob_model *m, int want_nodes, const float *x, const int64_t *dims, const double *want,
                            int oh, int ow)
{
    unet_model *model = NULL;
    if (ob_open(m, &model) != UNET_OK)
        fail_msg("open: %s", unet_last_error());
    ob_model_free(m);
    if (unet_model_node_count(model) != want_nodes) {
        char ops[256] = "";
        for (int i = 0; i < unet_model_node_count(model); i++)
            snprintf(ops + strlen(ops), sizeof ops - strlen(ops), " %s", unet_model_node_op(model, i));
        fail_msg("%d nodes after the passes (%s), expected %d", unet_model_node_count(model), ops, want_nodes);
    }
    unet_tensor in = { .dtype = UNET_DTYPE_FLOAT, .rank = 4, .dims = { dims[0], dims[1], dims[2], dims[3] }, .data = (void *)x };
    float *y = malloc(sizeof(float) * OC * oh * ow);
    assert_non_null(y);
    if (ob_run(model, &in, y, sizeof(float) * OC * oh * ow, NULL) != UNET_OK)
        fail_msg("run: %s", unet_last_error());
    double worst = 0;
    for (int i = 0; i < OC * oh * ow; i++)
        worst = fmax(worst, fabs(y[i] - want[i]));
    free(y);
    if (worst > 1e-5)
        fail_msg("max |libunet - reference| = %g", worst);
    unet_model_free(model);
}

static void make_weights(int channels, int8_t *w, float *ws)
{
    uint32_t s = 11;
    for (int i = 0; i < OC * channels; i++)
        w[i] = (int8_t)((int)(frand(&s) * 255.0f) - 127);
    for (int o = 0; o < OC; o++)
        ws[o] = 0.002f * (float)(o + 1);
}

/* x -> Q/DQ (scale s_in) -> MaxPool 2x2 -> Q/DQ (S_OUT) -> Conv. */
static void pool_case(float s_in, int want_nodes)
{
    float x[C * H * W], r[C * H * W];
    uint32_t s = 5;
    for (int i = 0; i < C * H * W; i++)
        x[i] = frand(&s) * 2.8f - 0.2f; /* beyond 255 steps of 0.01 above: saturation */
    for (int i = 0; i < C * H * W; i++)
        r[i] = fmaxf(x[i], 0.0f); /* the Relu in front */
    int8_t w[OC * C];
    float ws[OC];
    make_weights(C, w, ws);
    double t[C][H / 2][W / 2], want[OC * (H / 2) * (W / 2)];
    for (int c = 0; c < C; c++)
        for (int i = 0; i < H / 2; i++)
            for (int j = 0; j < W / 2; j++) {
                double v = -INFINITY;
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++)
                        v = fmax(v, qdq(r[(c * H + 2 * i + a) * W + 2 * j + b], s_in, ZERO));
                t[c][i][j] = qdq(v, S_OUT, ZERO);
            }
    for (int o = 0; o < OC; o++)
        for (int p = 0; p < (H / 2) * (W / 2); p++) {
            double acc = 0;
            for (int c = 0; c < C; c++)
                acc += t[c][p / (W / 2)][p % (W / 2)] * (double)w[o * C + c] * ws[o];
            want[o * (H / 2) * (W / 2) + p] = acc;
        }
    ob_model *m = ob_model_new(13);
    const int64_t xd[4] = { 1, C, H, W }, yd[4] = { 1, OC, H / 2, W / 2 }, one = 1, k[2] = { 2, 2 };
    ob_input(m, "x", UNET_DTYPE_FLOAT, 4, xd);
    ob_output(m, "y", UNET_DTYPE_FLOAT, 4, yd);
    ob_initializer(m, "is", UNET_DTYPE_FLOAT, 0, &one, &s_in);
    ob_initializer(m, "iz", UNET_DTYPE_UINT8, 0, &one, &ZERO);
    ob_node_add(m, "Relu", "x", "r"); /* a computed tensor, as inside a network */
    ob_node_add(m, "QuantizeLinear", "r,is,iz", "rq");
    ob_node_add(m, "DequantizeLinear", "rq,is,iz", "rdq");
    ob_node *p = ob_node_add(m, "MaxPool", "rdq", "pool");
    ob_attr_ints(p, "kernel_shape", k, 2);
    ob_attr_ints(p, "strides", k, 2);
    add_head(m, "pool", C, w, ws);
    run_and_compare(m, want_nodes, x, xd, want, H / 2, W / 2);
}

static void test_maxpool_pair_dropped(void **state)
{
    (void)state;
    pool_case(S_OUT, 3); /* Relu, MaxPool, Conv */
}

static void test_maxpool_other_scale_kept(void **state)
{
    (void)state;
    pool_case(0.03f, 4); /* Relu, the pair (one node), MaxPool, Conv */
}

/* x -> two Relus -> Q/DQ (S_OUT) each -> Concat -> Q/DQ (S_OUT) -> Conv. */
static void test_concat_pairs_dropped(void **state)
{
    (void)state;
    const int CH = 2 * C;
    float x[C * H * W];
    uint32_t s = 9;
    for (int i = 0; i < C * H * W; i++)
        x[i] = frand(&s) * 2.8f - 0.2f;
    int8_t w[OC * 2 * C];
    float ws[OC];
    make_weights(CH, w, ws);
    double want[OC * H * W];
    for (int o = 0; o < OC; o++)
        for (int p = 0; p < H * W; p++) {
            double acc = 0;
            for (int c = 0; c < CH; c++) {
                double r = fmax(x[(c % C) * H * W + p], 0.0);
                acc += qdq(qdq(r, S_OUT, ZERO), S_OUT, ZERO) * (double)w[o * CH + c] * ws[o];
            }
            want[o * H * W + p] = acc;
        }
    ob_model *m = ob_model_new(13);
    const int64_t xd[4] = { 1, C, H, W }, yd[4] = { 1, OC, H, W }, one = 1;
    ob_input(m, "x", UNET_DTYPE_FLOAT, 4, xd);
    ob_output(m, "y", UNET_DTYPE_FLOAT, 4, yd);
    ob_initializer(m, "is", UNET_DTYPE_FLOAT, 0, &one, &S_OUT);
    ob_initializer(m, "iz", UNET_DTYPE_UINT8, 0, &one, &ZERO);
    ob_node_add(m, "Relu", "x", "ra");
    ob_node_add(m, "Relu", "x", "rb");
    ob_node_add(m, "QuantizeLinear", "ra,is,iz", "raq");
    ob_node_add(m, "DequantizeLinear", "raq,is,iz", "radq");
    ob_node_add(m, "QuantizeLinear", "rb,is,iz", "rbq");
    ob_node_add(m, "DequantizeLinear", "rbq,is,iz", "rbdq");
    ob_attr_int(ob_node_add(m, "Concat", "radq,rbdq", "cat"), "axis", 1);
    add_head(m, "cat", CH, w, ws);
    run_and_compare(m, 4, x, xd, want, H, W); /* Relu, Relu, Concat, Conv */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maxpool_pair_dropped),
        cmocka_unit_test(test_maxpool_other_scale_kept),
        cmocka_unit_test(test_concat_pairs_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
