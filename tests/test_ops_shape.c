/* Shape, indexing and type operators on cases the ONNX conformance data lacks,
 * each checked against values worked out by hand (or by a naive loop):
 * Reshape's 0 and -1, shape inputs bound by value, Slice with negative steps
 * and out-of-range bounds, Gather with bad indices, Pad reflect/edge/constant,
 * float16 rounding in Cast, Transpose of a oneDNN-blocked tensor, and the
 * PyTorch Shape->Gather->Concat->Reshape chain folding to no step at all. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "onnx_builder.h"

static const int F32 = UNET_DTYPE_FLOAT, I64 = UNET_DTYPE_INT64;

static unet_model *open_built(ob_model *b)
{
    unet_model *m = NULL;
    unet_status s = ob_open(b, &m);
    if (s != UNET_OK)
        fail_msg("opening the built model failed: %s", unet_last_error());
    ob_model_free(b);
    return m;
}

static unet_session *new_session(const unet_model *m, int profile)
{
    unet_session_options o = { .threads = 1, .profile = profile };
    unet_session *s = NULL;
    assert_int_equal(unet_session_create(m, &o, &s), UNET_OK);
    return s;
}

static unet_tensor tensor(int dtype, int rank, const int64_t *dims, void *data)
{
    unet_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dtype;
    t.rank = rank;
    for (int d = 0; d < rank; d++)
        t.dims[d] = dims[d];
    t.data = data;
    return t;
}

/* Output index o must have this shape and these float values. */
static void expect_f32(unet_session *s, int o, int rank, const int64_t *dims, const float *want)
{
    unet_tensor got;
    assert_int_equal(unet_session_output(s, o, &got), UNET_OK);
    assert_int_equal(got.dtype, UNET_DTYPE_FLOAT);
    assert_int_equal(got.rank, rank);
    int64_t n = 1;
    for (int d = 0; d < rank; d++) {
        assert_int_equal(got.dims[d], dims[d]);
        n *= dims[d];
    }
    for (int64_t i = 0; i < n; i++)
        if (((const float *)got.data)[i] != want[i])
            fail_msg("output %d element %lld: got %g, expected %g", o, (long long)i, ((const float *)got.data)[i], want[i]);
}

static void iota(float *x, int n)
{
    for (int i = 0; i < n; i++)
        x[i] = (float)i;
}

/* 0 copies the input dimension, -1 takes what is left. */
static void test_reshape_zero_and_minus_one(void **state)
{
    (void)state;
    ob_model *b = ob_model_new(13);
    int64_t xd[3] = { 2, 3, 4 }, two = 2, three = 3;
    int64_t s1[2] = { 0, -1 }, s2[3] = { -1, 0, 2 };
    ob_input(b, "x", F32, 3, xd);
    ob_initializer(b, "s1", I64, 1, &two, s1);
    ob_initializer(b, "s2", I64, 1, &three, s2);
    ob_node_add(b, "Reshape", "x,s1", "y1");
    ob_node_add(b, "Reshape", "x,s2", "y2");
    ob_output(b, "y1", F32, -1, NULL);
    ob_output(b, "y2", F32, -1, NULL);
    unet_model *m = open_built(b);
    unet_session *s = new_session(m, 0);
    float x[24];
    iota(x, 24);
    unet_tensor in = tensor(F32, 3, xd, x);
    assert_int_equal(unet_session_run(s, &in, 1), UNET_OK);
    int64_t d1[2] = { 2, 12 }, d2[3] = { 4, 3, 2 };
    expect_f32(s, 0, 2, d1, x);
    expect_f32(s, 1, 3, d2, x);
    unet_session_free(s);
    unet_model_free(m);
}

/* With allowzero = 1 a 0 is a real zero: [0, -1] cannot hold 24 elements. */
static void test_reshape_allowzero_refuses_impossible_shape(void **state)
{
    (void)state;
    ob_model *b = ob_model_new(14);
    int64_t xd[3] = { 2, 3, 4 }, two = 2, sh[2] = { 0, -1 };
    ob_input(b, "x", F32, 3, xd);
    ob_initializer(b, "s", I64, 1, &two, sh);
    ob_attr_int(ob_node_add(b, "Reshape", "x,s", "y"), "allowzero", 1);
    ob_output(b, "y", F32, -1, NULL);
    unet_model *m = open_built(b);
    unet_session *s = new_session(m, 0);
    float x[24] = { 0 };
    unet_tensor in = tensor(F32, 3, xd, x);
    assert_int_equal(unet_session_run(s, &in, 1), UNET_ERR_SHAPE);
    unet_session_free(s);
    unet_model_free(m);
}

/* A shape fed as a graph input is bound by value: each value gets its own
 * plan, and going back to an earlier value gives the earlier shape. */
static void test_reshape_shape_from_graph_input(void **state)
{
    (void)state;
    ob_model *b = ob_model_new(13);
    int64_t xd[3] = { 2, 3, 4 }, two = 2;
    ob_input(b, "x", F32, 3, xd);
    ob_input(b, "shape", I64, 1, &two);
    ob_node_add(b, "Reshape", "x,shape", "y");
    ob_output(b, "y", F32, -1, NULL);
    unet_model *m = open_built(b);
    unet_session *s = new_session(m, 0);
    float x[24];
    iota(x, 24);
    int64_t a[2] = { 0, -1 }, c[2] = { -1, 6 };
    unet_tensor in[2] = { tensor(F32, 3, xd, x), tensor(I64, 1, &two, a) };
    int64_t da[2] = { 2, 12 }, dc[2] = { 4, 6 };
    assert_int_equal(unet_session_run(s, in, 2), UNET_OK);
    expect_f32(s, 0, 2, da, x);
    in[1].data = c;
    assert_int_equal(unet_session_run(s, in, 2), UNET_OK);
    expect_f32(s, 0, 2, dc, x);
    in[1].data = a;
    assert_int_equal(unet_session_run(s, in, 2), UNET_OK);
    expect_f32(s, 0, 2, da, x);
    unet_session_free(s);
    unet_model_free(m);
}

/* x = [[0..4], [5..9], [10..14], [15..19]] */
static void test_slice_negative_steps_and_clamping(void **state)
{
    (void)state;
    ob_model *b = ob_model_new(13);
    int64_t xd[2] = { 4, 5 }, two = 2, one = 1;
    ob_input(b, "x", F32, 2, xd);
    /* rows: start 100 -> 3, end -100 -> -1, step -2: rows 3, 1;
     * cols: start -1 -> 4, end 0, step -3: cols 4, 1 */
    int64_t st1[2] = { 100, -1 }, en1[2] = { -100, 0 }, ax1[2] = { 0, 1 }, sp1[2] = { -2, -3 };
    ob_initializer(b, "st1", I64, 1, &two, st1);
    ob_initializer(b, "en1", I64, 1, &two, en1);
    ob_initializer(b, "ax1", I64, 1, &two, ax1);
    ob_initializer(b, "sp1", I64, 1, &two, sp1);
    ob_node_add(b, "Slice", "x,st1,en1,ax1,sp1", "y1");
    /* the whole of axis 1 reversed with the INT64_MAX / INT64_MIN sentinels */
    int64_t st2 = INT64_MAX, en2 = INT64_MIN, ax2 = 1, sp2 = -1;
    ob_initializer(b, "st2", I64, 1, &one, &st2);
    ob_initializer(b, "en2", I64, 1, &one, &en2);
    ob_initializer(b, "ax2", I64, 1, &one, &ax2);
    ob_initializer(b, "sp2", I64, 1, &one, &sp2);
    ob_node_add(b, "Slice", "x,st2,en2,ax2,sp2", "y2");
    /* out-of-range bounds clamp to the axis, negative axis, step 2, axes omitted */
    int64_t st3 = -100, en3 = 100, ax3 = -1, sp3 = 2;
    ob_initializer(b, "st3", I64, 1, &one, &st3);
    ob_initializer(b, "en3", I64, 1, &one, &en3);
    ob_initializer(b, "ax3", I64, 1, &one, &ax3);
    ob_initializer(b, "sp3", I64, 1, &one, &sp3);
    ob_node_add(b, "Slice", "x,st3,en3,ax3,sp3", "y3");
    /* an empty result: start after end with a positive step */
    ob_node_add(b, "Slice", "x,en3,st3", "y4");
    ob_output(b, "y1", F32, -1, NULL);
    ob_output(b, "y2", F32, -1, NULL);
    ob_output(b, "y3", F32, -1, NULL);
    ob_output(b, "y4", F32, -1, NULL);
    unet_model *m = open_built(b);
    unet_session *s = new_session(m, 0);
    float x[20];
    iota(x, 20);
    unet_tensor in = tensor(F32, 2, xd, x);
    assert_int_equal(unet_session_run(s, &in, 1), UNET_OK);
    int64_t d1[2] = { 2, 2 }, d2[2] = { 4, 5 }, d3[2] = { 4, 3 }, d4[2] = { 0, 5 };
    const float w1[4] = { 19, 16, 9, 6 };
    const float w2[20] = { 4, 3, 2, 1, 0, 9, 8, 7, 6, 5, 14, 13, 12, 11, 10, 19, 18, 17, 16, 15 };
    const float w3[12] = { 0, 2, 4, 5, 7, 9, 10, 12, 14, 15, 17, 19 };
    expect_f32(s, 0, 2, d1, w1);
    expect_f32(s, 1, 2, d2, w2);
    expect_f32(s, 2, 2, d3, w3);
    expect_f32(s, 3, 2, d4, NULL);
    unet_session_free(s);
    unet_model_free(m);
}

/* Opset 1-9 Slice takes attributes; ends past the axis clamp. */
static void test_slice_attributes_before_opset_10(void **state)
{
    (void)state;
    ob_model *b = ob_model_new(9);
    int64_t xd[2] = { 4, 5 }, starts[2] = { 1, -2 }, ends[2] = { 1000, 1000 }, axes[2] = { 0, 1 };
    ob_input(b, "x", F32, 2, xd);
    ob_node *n = ob_node_add(b, "Slice", "x", "y");
    ob_attr_ints(n, "starts", starts, 2);
    ob_attr_ints(n, "ends", ends, 2);
    ob_attr_ints(n, "axes", axes, 2);
    ob_output(b, "y", F32, -1, NULL);
    unet_model *m = open_built(b);
    unet_session *s = new_session(m, 0);
    float x[20];
    iota(x, 20);
    unet_tensor in = tensor(F32, 2, xd, x);
    assert_int_equal(unet_session_run(s, &in, 1), UNET_OK);
    int64_t d[2] = { 3, 2 };
    const float w[6] = { 8, 9, 13, 14, 18, 19 };
    expect_f32(s, 0, 2, d, w);
    unet_session_free(s);
    unet_model_free(m);
}

/* data = [[1, 2], [3, 4], [5, 6]] gathered along axis 0. */
static void test_gather_out_of_range_is_an_error(void **state)
{
    (void)state;
    ob_model *b = ob_model_new(13);
    int64_t dd[2] = { 3, 2 }, two = 2;
    const float data[6] = { 1, 2, 3, 4, 5, 6 };
    ob_initializer(b, "data", F32, 2, dd, data);
    ob_input(b, "idx", I64, 1, &two);
    ob_node_add(b, "Gather", "data,idx", "y");
    ob_output(b, "y", F32, -1, NULL);
    unet_model *m = open_built(b);
    unet_session *s = new_session(m, 0);
    int64_t good[2] = { 2, -3 }, high[2] = { 0, 3 }, low[2] = { -4, 0 };
    unet_tensor in = tensor(I64, 1, &two, good);
    assert_int_equal(unet_session_run(s, &in, 1), UNET_OK);
    const float w[4] = { 5, 6, 1, 2 };
    int64_t yd[2] = { 2, 2 };
    expect_f32(s, 0, 2, yd, w);
    in.data = high;
    assert_int_equal(unet_session_run(s, &in, 1), UNET_ERR_INVALID);
    assert_non_null(strstr(unet_last_error(), "out of range"));
    in.data = low;
    assert_int_equal(unet_session_run(s, &in, 1), UNET_ERR_INVALID);
    /* the session stays usable */
    in.data = good;
    assert_int_equal(unet_session_run(s, &in, 1), UNET_OK);
    unet_session_free(s);
    unet_model_free(m);
}

/* Constant data and constant bad indices fail while the plan is built. */
static void test_gather_constant_out_of_range_fails_at_plan(void **state)
{
    (void)state;
    ob_model *b = ob_model_new(13);
    int64_t dd[2] = { 3, 2 }, one = 1, xd[2] = { 1, 2 }, bad = 5;
    const float data[6] = { 1, 2, 3, 4, 5, 6 };
    ob_initializer(b, "data", F32, 2, dd, data);
    ob_initializer(b, "idx", I64, 1, &one, &bad);
    ob_input(b, "x", F32, 2, xd);
    ob_node_add(b, "Gather", "data,idx", "g");
    ob_node_add(b, "Add", "g,x", "y");
    ob_output(b, "y", F32, -1, NULL);
    unet_model *m = open_built(b);
    unet_session *s = new_session(m, 0);
    float x[2] = { 0, 0 };
    unet_tensor in = tensor(F32, 2, xd, x);
    assert_int_equal(unet_session_run(s, &in, 1), UNET_ERR_INVALID);
    assert_non_null(strstr(unet_last_error(), "index 5"));
    unet_session_free(s);
    unet_model_free(m);
}

/* x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]] */
static void test_pad_modes_2d(void **state)
{
    (void)state;
    ob_model *b = ob_model_new(13);
    int64_t xd[2] = { 3, 3 }, four = 4;
    ob_input(b, "x", F32, 2, xd);
    /* reflect: 1 row before and after, 2 columns before */
    int64_t p1[4] = { 1, 2, 1, 0 };
    ob_initializer(b, "p1", I64, 1, &four, p1);
    ob_attr_string(ob_node_add(b, "Pad", "x,p1", "y1"), "mode", "reflect");
    /* edge with a negative pad: the first column cropped, one repeated at the end */
    int64_t p2[4] = { 0, -1, 0, 1 };
    ob_initializer(b, "p2", I64, 1, &four, p2);
    ob_attr_string(ob_node_add(b, "Pad", "x,p2", "y2"), "mode", "edge");
    /* constant 7.5: one column before, one row after */
    int64_t p3[4] = { 0, 1, 1, 0 };
    float cv = 7.5f;
    ob_initializer(b, "p3", I64, 1, &four, p3);
    ob_initializer(b, "cv", F32, 0, NULL, &cv);
    ob_node_add(b, "Pad", "x,p3,cv", "y3");
    /* reflect wider than the axis repeats the reflection (numpy's pad) */
    int64_t p4[4] = { 0, 4, 0, 0 };
    ob_initializer(b, "p4", I64, 1, &four, p4);
    ob_attr_string(ob_node_add(b, "Pad", "x,p4", "y4"), "mode", "reflect");
    ob_output(b, "y1", F32, -1, NULL);
    ob_output(b, "y2", F32, -1, NULL);
    ob_output(b, "y3", F32, -1, NULL);
    ob_output(b, "y4", F32, -1, NULL);
    unet_model *m = open_built(b);
    unet_session *s = new_session(m, 0);
    float x[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    unet_tensor in = tensor(F32, 2, xd, x);
    assert_int_equal(unet_session_run(s, &in, 1), UNET_OK);
    int64_t d1[2] = { 5, 5 }, d2[2] = { 3, 3 }, d3[2] = { 4, 4 }, d4[2] = { 3, 7 };
    const float w1[25] = { 6, 5, 4, 5, 6,
                           3, 2, 1, 2, 3,
                           6, 5, 4, 5, 6,
                           9, 8, 7, 8, 9,
                           6, 5, 4, 5, 6 };
    const float w2[9] = { 2, 3, 3, 5, 6, 6, 8, 9, 9 };
    const float w3[16] = { 7.5f, 1, 2, 3, 7.5f, 4, 5, 6, 7.5f, 7, 8, 9, 7.5f, 7.5f, 7.5f, 7.5f };
    /* columns -4..2 reflect with period 4 to 0 1 2 1 0 1 2 */
    const float w4[21] = { 1, 2, 3, 2, 1, 2, 3, 4, 5, 6, 5, 4, 5, 6, 7, 8, 9, 8, 7, 8, 9 };
    expect_f32(s, 0, 2, d1, w1);
    expect_f32(s, 1, 2, d2, w2);
    expect_f32(s, 2, 2, d3, w3);
    expect_f32(s, 3, 2, d4, w4);
    unet_session_free(s);
    unet_model_free(m);
}

/* Cast to float16 rounds to nearest even, saturates to infinity, keeps
 * subnormals; back to float is exact. Bit patterns from IEEE 754 binary16. */
static void test_cast_float16_rounding(void **state)
{
    (void)state;
    const float x[] = {
        1.0f, -0.0f, 65504.0f, 65520.0f, 1e9f,
        0x1p-24f, 0x1p-25f, 0x1.8p-25f, 0x1p-14f,
        1.0f + 0x1p-11f, 1.0f + 0x3p-11f, 0.1f, -2.5f,
    };
    const uint16_t want[] = {
        0x3c00, 0x8000, 0x7bff, 0x7c00, 0x7c00,
        0x0001, 0x0000, 0x0001, 0x0400,
        0x3c00, 0x3c02, 0x2e66, 0xc100,
    };
    int64_t n = (int64_t)(sizeof x / sizeof *x);
    ob_model *b = ob_model_new(13);
    ob_input(b, "x", F32, 1, &n);
    ob_attr_int(ob_node_add(b, "Cast", "x", "h"), "to", UNET_DTYPE_FLOAT16);
    ob_attr_int(ob_node_add(b, "Cast", "h", "back"), "to", UNET_DTYPE_FLOAT);
    ob_output(b, "h", UNET_DTYPE_FLOAT16, -1, NULL);
    ob_output(b, "back", F32, -1, NULL);
    unet_model *m = open_built(b);
    unet_session *s = new_session(m, 0);
    unet_tensor in = tensor(F32, 1, &n, (void *)x);
    assert_int_equal(unet_session_run(s, &in, 1), UNET_OK);
    unet_tensor h, back;
    assert_int_equal(unet_session_output(s, 0, &h), UNET_OK);
    assert_int_equal(unet_session_output(s, 1, &back), UNET_OK);
    assert_int_equal(h.dtype, UNET_DTYPE_FLOAT16);
    for (int64_t i = 0; i < n; i++) {
        if (((const uint16_t *)h.data)[i] != want[i])
            fail_msg("float16 of %a: got 0x%04x, expected 0x%04x", (double)x[i], ((const uint16_t *)h.data)[i], want[i]);
    }
    const float back_want[] = {
        1.0f, -0.0f, 65504.0f, INFINITY, INFINITY,
        0x1p-24f, 0.0f, 0x1p-24f, 0x1p-14f,
        1.0f, 1.0f + 0x1p-9f, 0.0999755859375f, -2.5f,
    };
    expect_f32(s, 1, 1, &n, back_want);
    unet_session_free(s);
    unet_model_free(m);
}

/* A 1x1 identity convolution over 8 channels (oneDNN may keep the result in
 * a blocked layout such as nChw8c), then NCHW -> NHWC: y[h][w][c] = x[c][h][w]. */
static void test_transpose_after_conv(void **state)
{
    (void)state;
    enum { C = 8, H = 3, W = 5 };
    ob_model *b = ob_model_new(13);
    int64_t xd[4] = { 1, C, H, W }, wd[4] = { C, C, 1, 1 }, perm[4] = { 0, 2, 3, 1 };
    float weights[C * C] = { 0 };
    for (int c = 0; c < C; c++)
        weights[c * C + c] = 1.0f;
    ob_input(b, "x", F32, 4, xd);
    ob_initializer(b, "w", F32, 4, wd, weights);
    ob_node_add(b, "Conv", "x,w", "c");
    ob_attr_ints(ob_node_add(b, "Transpose", "c", "y"), "perm", perm, 4);
    ob_output(b, "y", F32, -1, NULL);
    unet_model *m = open_built(b);
    unet_session *s = new_session(m, 0);
    float x[C * H * W], want[H * W * C];
    for (int i = 0; i < C * H * W; i++)
        x[i] = (float)(i * 7 % 23) - 11.0f;
    for (int c = 0; c < C; c++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                want[(h * W + w) * C + c] = x[(c * H + h) * W + w];
    unet_tensor in = tensor(F32, 4, xd, x);
    assert_int_equal(unet_session_run(s, &in, 1), UNET_OK);
    int64_t yd[4] = { 1, H, W, C };
    expect_f32(s, 0, 4, yd, want);
    unet_session_free(s);
    unet_model_free(m);
}

/* An int64 tensor (plain kernel): perm [2, 0, 1] of a [2, 3, 2] iota. */
static void test_transpose_int64(void **state)
{
    (void)state;
    ob_model *b = ob_model_new(13);
    int64_t xd[3] = { 2, 3, 2 }, perm[3] = { 2, 0, 1 };
    ob_input(b, "x", I64, 3, xd);
    ob_attr_ints(ob_node_add(b, "Transpose", "x", "y"), "perm", perm, 3);
    ob_output(b, "y", I64, -1, NULL);
    unet_model *m = open_built(b);
    unet_session *s = new_session(m, 0);
    int64_t x[12];
    for (int i = 0; i < 12; i++)
        x[i] = i;
    unet_tensor in = tensor(I64, 3, xd, x);
    assert_int_equal(unet_session_run(s, &in, 1), UNET_OK);
    unet_tensor y;
    assert_int_equal(unet_session_output(s, 0, &y), UNET_OK);
    assert_int_equal(y.rank, 3);
    assert_int_equal(y.dims[0], 2);
    assert_int_equal(y.dims[1], 2);
    assert_int_equal(y.dims[2], 3);
    /* y[k][i][j] = x[i][j][k] = 6i + 2j + k */
    const int64_t want[12] = { 0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11 };
    for (int i = 0; i < 12; i++)
        assert_int_equal(((const int64_t *)y.data)[i], want[i]);
    unet_session_free(s);
    unet_model_free(m);
}

/* view(x.size(0), -1) as PyTorch exports it: Shape -> Gather -> Unsqueeze ->
 * Concat -> Reshape. Everything folds at plan time and the Reshape shares
 * the input's storage, so the plan has no step at all. */
static void test_shape_chain_folds_to_nothing(void **state)
{
    (void)state;
    ob_model *b = ob_model_new(13);
    int64_t xd[4] = { -1, 2, 3, 4 }, one = 1, zero = 0, minus1 = -1;
    ob_input(b, "x", F32, 4, xd);
    ob_initializer(b, "zero", I64, 0, NULL, &zero);
    ob_initializer(b, "axes0", I64, 1, &one, &zero);
    ob_initializer(b, "minus1", I64, 1, &one, &minus1);
    ob_node_add(b, "Shape", "x", "shape");
    ob_node_add(b, "Gather", "shape,zero", "batch");
    ob_node_add(b, "Unsqueeze", "batch,axes0", "batch1");
    ob_attr_int(ob_node_add(b, "Concat", "batch1,minus1", "target"), "axis", 0);
    ob_node_add(b, "Reshape", "x,target", "y");
    ob_output(b, "y", F32, -1, NULL);
    unet_model *m = open_built(b);
    unet_session *s = new_session(m, 1);
    float x[3 * 24];
    iota(x, 3 * 24);
    int64_t xd3[4] = { 3, 2, 3, 4 };
    unet_tensor in = tensor(F32, 4, xd3, x);
    assert_int_equal(unet_session_run(s, &in, 1), UNET_OK);
    int64_t yd[2] = { 3, 24 };
    expect_f32(s, 0, 2, yd, x);
    assert_int_equal(unet_session_profile_count(s), 0);
    unet_session_free(s);
    unet_model_free(m);
}

/* Dropout in inference passes the input through; its mask is all true. */
static void test_dropout_mask_and_identity_output(void **state)
{
    (void)state;
    ob_model *b = ob_model_new(13);
    int64_t xd[2] = { 2, 3 };
    ob_input(b, "x", F32, 2, xd);
    ob_node_add(b, "Dropout", "x", "y,mask");
    ob_node_add(b, "Identity", "y", "z");
    ob_output(b, "mask", UNET_DTYPE_BOOL, -1, NULL);
    ob_output(b, "z", F32, -1, NULL);
    unet_model *m = open_built(b);
    unet_session *s = new_session(m, 0);
    float x[6] = { 1, -2, 3, -4, 5, -6 };
    unet_tensor in = tensor(F32, 2, xd, x);
    assert_int_equal(unet_session_run(s, &in, 1), UNET_OK);
    unet_tensor mask;
    assert_int_equal(unet_session_output(s, 0, &mask), UNET_OK);
    assert_int_equal(mask.dtype, UNET_DTYPE_BOOL);
    for (int i = 0; i < 6; i++)
        assert_int_equal(((const uint8_t *)mask.data)[i], 1);
    expect_f32(s, 1, 2, xd, x);
    unet_session_free(s);
    unet_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reshape_zero_and_minus_one),
        cmocka_unit_test(test_reshape_allowzero_refuses_impossible_shape),
        cmocka_unit_test(test_reshape_shape_from_graph_input),
        cmocka_unit_test(test_slice_negative_steps_and_clamping),
        cmocka_unit_test(test_slice_attributes_before_opset_10),
        cmocka_unit_test(test_gather_out_of_range_is_an_error),
        cmocka_unit_test(test_gather_constant_out_of_range_fails_at_plan),
        cmocka_unit_test(test_pad_modes_2d),
        cmocka_unit_test(test_cast_float16_rounding),
        cmocka_unit_test(test_transpose_after_conv),
        cmocka_unit_test(test_transpose_int64),
        cmocka_unit_test(test_shape_chain_folds_to_nothing),
        cmocka_unit_test(test_dropout_mask_and_identity_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
