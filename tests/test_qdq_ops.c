/* QuantizeLinear / DequantizeLinear edge cases against values worked out by
 * hand: round half to even, saturation at both ends, uint8 and int8, per
 * tensor and per axis (opset 13), and the omitted zero point (uint8 0). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "onnx_builder.h"

static const int F32 = UNET_DTYPE_FLOAT, U8 = UNET_DTYPE_UINT8, S8 = UNET_DTYPE_INT8;

/* Runs a one-node model on x (1 x 2 x 4 float or int) and copies its output. */
static void run(ob_model *b, int in_dtype, const void *x, void *y, size_t y_bytes)
{
    unet_model *m = NULL;
    if (ob_open(b, &m) != UNET_OK)
        fail_msg("open: %s", unet_last_error());
    ob_model_free(b);
    unet_tensor in = { .dtype = in_dtype, .rank = 3, .dims = { 1, 2, 4 }, .data = (void *)x };
    if (ob_run(m, &in, y, y_bytes, NULL) != UNET_OK)
        fail_msg("run: %s", unet_last_error());
    unet_model_free(m);
}

static void test_quantize_u8_per_tensor(void **state)
{
    (void)state;
    const int64_t d[3] = { 1, 2, 4 }, one = 1;
    ob_model *b = ob_model_new(13);
    ob_input(b, "x", F32, 3, d);
    ob_output(b, "y", U8, 3, d);
    const float scale = 0.5f;
    const uint8_t zero = 10;
    ob_initializer(b, "s", F32, 0, &one, &scale);
    ob_initializer(b, "z", U8, 0, &one, &zero);
    ob_node_add(b, "QuantizeLinear", "x,s,z", "y");
    /* x/0.5 = 0.5, 1.5, 2.5, -0.5, 1000, -1000, 3.0, -7.5 */
    const float x[8] = { 0.25f, 0.75f, 1.25f, -0.25f, 500.0f, -500.0f, 1.5f, -3.75f };
    const uint8_t want[8] = { 10, 12, 12, 10, 255, 0, 13, 2 }; /* half to even, +10, saturated */
    uint8_t y[8];
    run(b, F32, x, y, sizeof y);
    assert_memory_equal(y, want, sizeof want);
}

static void test_quantize_s8_per_axis(void **state)
{
    (void)state;
    const int64_t d[3] = { 1, 2, 4 }, two = 2;
    ob_model *b = ob_model_new(13);
    ob_input(b, "x", F32, 3, d);
    ob_output(b, "y", S8, 3, d);
    const float scale[2] = { 1.0f, 0.25f };
    const int8_t zero[2] = { 0, -3 };
    ob_initializer(b, "s", F32, 1, &two, scale);
    ob_initializer(b, "z", S8, 1, &two, zero);
    ob_attr_int(ob_node_add(b, "QuantizeLinear", "x,s,z", "y"), "axis", 1);
    const float x[8] = { 2.5f, -2.5f, 200.0f, -200.0f, /* channel 1: x/0.25 - 3 */ 0.125f, -0.375f, 40.0f, -40.0f };
    const int8_t want[8] = { 2, -2, 127, -128, -3, -5, 127, -128 }; /* 0.5->0, -1.5->-2 */
    int8_t y[8];
    run(b, F32, x, y, sizeof y);
    assert_memory_equal(y, want, sizeof want);
}

static void test_quantize_without_zero_point(void **state)
{
    (void)state;
    const int64_t d[3] = { 1, 2, 4 }, one = 1;
    ob_model *b = ob_model_new(13);
    ob_input(b, "x", F32, 3, d);
    ob_output(b, "y", U8, 3, d);
    const float scale = 2.0f;
    ob_initializer(b, "s", F32, 0, &one, &scale);
    ob_node_add(b, "QuantizeLinear", "x,s", "y"); /* uint8, zero point 0 */
    const float x[8] = { -4.0f, 1.0f, 3.0f, 5.0f, 7.0f, 600.0f, 0.0f, 2.0f };
    const uint8_t want[8] = { 0, 0, 2, 2, 4, 255, 0, 1 }; /* 0.5->0, 1.5->2, 2.5->2, 3.5->4 */
    uint8_t y[8];
    run(b, F32, x, y, sizeof y);
    assert_memory_equal(y, want, sizeof want);
}

static void test_dequantize_s8_per_axis(void **state)
{
    (void)state;
    const int64_t d[3] = { 1, 2, 4 }, two = 2;
    ob_model *b = ob_model_new(13);
    ob_input(b, "x", S8, 3, d);
    ob_output(b, "y", F32, 3, d);
    const float scale[2] = { 0.5f, 2.0f };
    const int8_t zero[2] = { 1, -128 };
    ob_initializer(b, "s", F32, 1, &two, scale);
    ob_initializer(b, "z", S8, 1, &two, zero);
    ob_attr_int(ob_node_add(b, "DequantizeLinear", "x,s,z", "y"), "axis", 1);
    const int8_t x[8] = { 1, 3, -128, 127, -128, 0, 127, -1 };
    const float want[8] = { 0.0f, 1.0f, -64.5f, 63.0f, 0.0f, 256.0f, 510.0f, 254.0f };
    float y[8];
    run(b, S8, x, y, sizeof y);
    for (int i = 0; i < 8; i++)
        if (y[i] != want[i])
            fail_msg("element %d: %g, expected %g", i, y[i], want[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_u8_per_tensor),
        cmocka_unit_test(test_quantize_s8_per_axis),
        cmocka_unit_test(test_quantize_without_zero_point),
        cmocka_unit_test(test_dequantize_s8_per_axis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
