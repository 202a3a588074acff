/* unet-quantize's graph edits on a hand-made one-Conv model, against
 * hand-worked values: BatchNormalization folded into the Conv, then the QDQ
 * rewrite (node order, names, int8 weights per channel, scales, zero points,
 * the float weight gone, metadata replaced or added). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fold_batchnorm.h"
#include "onnx_edit.h"
#include "qdq_rewrite.h"
#include "quant_metadata.h"

static void add_init(Onnx__GraphProto *g, const char *name, int n, const float *v)
{
    int64_t dims[4] = { n, 1, 1, 1 };
    Onnx__TensorProto *t = qz_tensor_new(name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, strcmp(name, "w") ? 1 : 4,
                                         dims, v, 4);
    assert_non_null(t);
    assert_int_equal(qz_append((void ***)&g->initializer, &g->n_initializer, t), 0);
}

static void add_node(Onnx__GraphProto *g, const char *op, const char *name, int n_in, const char *const *in,
                     const char *out)
{
    Onnx__NodeProto *n = qz_node_new(op, name, n_in, in, out);
    assert_non_null(n);
    assert_int_equal(qz_append((void ***)&g->node, &g->n_node, n), 0);
}

/* x -> Conv(w = [2, -1] over 1 input channel, 1x1; b = [0.5, 0]) -> BN
 * (scale [1, 2], shift [0, 1], mean [0.5, 1], var [3, 0], epsilon 1) -> y. */
static Onnx__ModelProto *one_conv_model(void)
{
    Onnx__ModelProto *m = malloc(sizeof *m);
    Onnx__GraphProto *g = malloc(sizeof *g);
    Onnx__OperatorSetIdProto *op = malloc(sizeof *op);
    assert_true(m && g && op);
    onnx__model_proto__init(m);
    onnx__graph_proto__init(g);
    onnx__operator_set_id_proto__init(op);
    op->domain = qz_strdup("");
    op->has_version = 1;
    op->version = 17;
    assert_int_equal(qz_append((void ***)&m->opset_import, &m->n_opset_import, op), 0);
    m->graph = g;
    const float w[2] = { 2.0f, -1.0f }, b[2] = { 0.5f, 0.0f }, scale[2] = { 1.0f, 2.0f }, shift[2] = { 0.0f, 1.0f },
                mean[2] = { 0.5f, 1.0f }, var[2] = { 3.0f, 0.0f };
    add_init(g, "w", 2, w);
    add_init(g, "b", 2, b);
    add_init(g, "bn.scale", 2, scale);
    add_init(g, "bn.shift", 2, shift);
    add_init(g, "bn.mean", 2, mean);
    add_init(g, "bn.var", 2, var);
    const char *conv_in[3] = { "x", "w", "b" }, *bn_in[5] = { "c", "bn.scale", "bn.shift", "bn.mean", "bn.var" };
    add_node(g, "Conv", "conv", 3, conv_in, "c");
    add_node(g, "BatchNormalization", "bn", 5, bn_in, "y");
    Onnx__AttributeProto *eps = malloc(sizeof *eps);
    assert_non_null(eps);
    onnx__attribute_proto__init(eps);
    eps->name = qz_strdup("epsilon");
    eps->has_f = 1;
    eps->f = 1.0f;
    assert_int_equal(qz_append((void ***)&g->node[1]->attribute, &g->node[1]->n_attribute, eps), 0);
    return m;
}

static void expect_floats(const Onnx__GraphProto *g, const char *name, int n, const float *want)
{
    const Onnx__TensorProto *t = qz_find_initializer(g, name, NULL);
    assert_non_null(t);
    float *v;
    int64_t count;
    assert_int_equal(qz_tensor_floats(t, name, &v, &count), UNET_OK);
    assert_int_equal(count, n);
    for (int i = 0; i < n; i++)
        assert_true(fabsf(v[i] - want[i]) <= 1e-7f * fmaxf(1.0f, fabsf(want[i])));
    free(v);
}

/* k = scale / sqrt(var + eps) = [1/2, 2]; W' = W * k = [1, -2];
 * b' = (b - mean) * k + shift = [0, -1]. */
static void test_fold_then_rewrite(void **state)
{
    (void)state;
    Onnx__ModelProto *m = one_conv_model();
    Onnx__GraphProto *g = m->graph;
    int folded;
    assert_int_equal(qz_fold_batchnorm(g, &folded), UNET_OK);
    assert_int_equal(folded, 1);
    assert_int_equal(g->n_node, 1);
    assert_string_equal(g->node[0]->op_type, "Conv");
    assert_string_equal(g->node[0]->output[0], "y"); /* the BN's output, so readers of y are unchanged */
    assert_int_equal(g->n_initializer, 2);           /* the BN's parameters are gone */
    expect_floats(g, "w", 2, (const float[]){ 1.0f, -2.0f });
    expect_floats(g, "b", 2, (const float[]){ 0.0f, -1.0f });

    qz_plan plan;
    assert_int_equal(qz_plan_make(g, NULL, 0, 1, &plan), UNET_OK);
    assert_int_equal(plan.n_convs, 1);
    assert_int_equal(plan.n_tensors, 1);
    assert_string_equal(plan.tensors[0], "x");
    const float act_scale = 0.5f;
    const uint8_t act_zero = 3;
    double werr;
    assert_int_equal(qz_rewrite_qdq(m, &plan, &act_scale, &act_zero, NULL, &werr), UNET_OK);
    qz_plan_free(&plan);
    /* Per channel max|w| / 127 = [1/127, 2/127]: q = [127, -127] exactly. */
    assert_true(werr < 1e-7);
    const char *ops[4] = { "QuantizeLinear", "DequantizeLinear", "DequantizeLinear", "Conv" };
    assert_int_equal(g->n_node, 4);
    for (int i = 0; i < 4; i++)
        assert_string_equal(g->node[i]->op_type, ops[i]);
    assert_string_equal(g->node[0]->input[0], "x");
    assert_string_equal(g->node[0]->output[0], "x_quantized");
    assert_string_equal(g->node[1]->output[0], "x_dequantized");
    assert_string_equal(g->node[2]->input[0], "w_quantized");
    assert_int_equal(qz_node_int(g->node[2], "axis", -1), 0);
    assert_string_equal(g->node[3]->input[0], "x_dequantized");
    assert_string_equal(g->node[3]->input[1], "w_dequantized");
    assert_string_equal(g->node[3]->input[2], "b"); /* the bias stays float */
    assert_null(qz_find_initializer(g, "w", NULL)); /* nothing reads the float weight any more */
    const Onnx__TensorProto *wq = qz_find_initializer(g, "w_quantized", NULL);
    assert_non_null(wq);
    assert_int_equal(wq->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__INT8);
    assert_int_equal(wq->raw_data.len, 2);
    assert_int_equal((int8_t)wq->raw_data.data[0], 127);
    assert_int_equal((int8_t)wq->raw_data.data[1], -127);
    expect_floats(g, "w_scale", 2, (const float[]){ 1.0f / 127, 2.0f / 127 });
    const Onnx__TensorProto *wz = qz_find_initializer(g, "w_zero_point", NULL);
    assert_true(wz && wz->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 && wz->raw_data.len == 2 &&
                wz->raw_data.data[0] == 0 && wz->raw_data.data[1] == 0);
    const Onnx__TensorProto *xs = qz_find_initializer(g, "x_scale", NULL), *xz = qz_find_initializer(g, "x_zero_point", NULL);
    assert_true(xs && xs->n_dims == 0 && xz && xz->n_dims == 0);
    expect_floats(g, "x_scale", 1, &act_scale);
    assert_true(xz->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 && xz->raw_data.len == 1 && xz->raw_data.data[0] == 3);

    /* Quantising the result again finds nothing to do: the Conv's weight is
     * a DequantizeLinear output now, not a float initializer. */
    assert_int_equal(qz_plan_make(g, NULL, 0, 1, &plan), UNET_OK);
    assert_int_equal(plan.n_convs, 0);
    qz_plan_free(&plan);

    assert_int_equal(qz_metadata_set(m, "unet.quantization", "{\"a\":1}"), UNET_OK);
    assert_int_equal(qz_metadata_set(m, "unet.quantization", "{\"a\":2}"), UNET_OK);
    assert_int_equal(m->n_metadata_props, 1);
    assert_string_equal(m->metadata_props[0]->value, "{\"a\":2}");
    onnx__model_proto__free_unpacked(m, NULL);
}

/* --keep-float names must be quantisable Convs of the model; Convs reading
 * the graph input are left float unless input_convs is 1. */
static void test_keep_float(void **state)
{
    (void)state;
    Onnx__ModelProto *m = one_conv_model();
    qz_plan plan;
    char *keep[1] = { "conv" }, *wrong[1] = { "bn" };
    assert_int_equal(qz_plan_make(m->graph, keep, 1, 1, &plan), UNET_OK);
    assert_int_equal(plan.n_convs, 0);
    assert_int_equal(plan.convs_left_float, 1);
    qz_plan_free(&plan);
    assert_int_equal(qz_plan_make(m->graph, wrong, 1, 1, &plan), UNET_ERR_ARG);
    assert_non_null(strstr(unet_last_error(), "'bn'"));
    /* With x declared the graph input, its Conv stays float unless asked. */
    Onnx__ValueInfoProto *in = malloc(sizeof *in);
    assert_non_null(in);
    onnx__value_info_proto__init(in);
    in->name = qz_strdup("x");
    assert_int_equal(qz_append((void ***)&m->graph->input, &m->graph->n_input, in), 0);
    assert_int_equal(qz_plan_make(m->graph, NULL, 0, 0, &plan), UNET_OK);
    assert_int_equal(plan.n_convs, 0);
    qz_plan_free(&plan);
    assert_int_equal(qz_plan_make(m->graph, NULL, 0, 1, &plan), UNET_OK);
    assert_int_equal(plan.n_convs, 1);
    qz_plan_free(&plan);
    onnx__model_proto__free_unpacked(m, NULL);
}

static void add_ints(Onnx__NodeProto *n, const char *name, int count, const int64_t *v)
{
    Onnx__AttributeProto *a = malloc(sizeof *a);
    int64_t *ints = malloc((size_t)count * sizeof *ints);
    assert_true(a && ints);
    onnx__attribute_proto__init(a);
    a->name = qz_strdup(name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    memcpy(ints, v, (size_t)count * sizeof *ints);
    a->ints = ints;
    a->n_ints = (size_t)count;
    assert_int_equal(qz_append((void ***)&n->attribute, &n->n_attribute, a), 0);
}

/* x -> ConvTranspose(w: 1 input channel, 2 output channels, 2x2, strides 2)
 * -> t -> ConvTranspose(3x3, strides 2, pads 1) -> y: the first is quantised
 * with one scale per output channel, the weights' axis 1; the second is not
 * in the form libunet runs int8 and stays float32. */
static void test_conv_transpose_axis1(void **state)
{
    (void)state;
    Onnx__ModelProto *m = one_conv_model();
    Onnx__GraphProto *g = m->graph;
    for (size_t i = 0; i < g->n_node; i++)
        onnx__node_proto__free_unpacked(g->node[i], NULL);
    g->n_node = 0;
    /* w[0][oc][a][b]: channel 0 reaches |4|, channel 1 |1| */
    const float w[8] = { 4.0f, -2.0f, 1.0f, 0.5f, /* oc 1 */ -1.0f, 0.25f, 0.5f, 1.0f }, w3[18] = { 1.0f };
    int64_t wd[4] = { 1, 2, 2, 2 }, w3d[4] = { 2, 1, 3, 3 }, two[2] = { 2, 2 }, pads[4] = { 1, 1, 1, 1 };
    Onnx__TensorProto *t = qz_tensor_new("wt", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 4, wd, w, 4);
    Onnx__TensorProto *t3 = qz_tensor_new("w3", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 4, w3d, w3, 4);
    assert_true(t && t3);
    assert_int_equal(qz_append((void ***)&g->initializer, &g->n_initializer, t), 0);
    assert_int_equal(qz_append((void ***)&g->initializer, &g->n_initializer, t3), 0);
    const char *in1[2] = { "x", "wt" }, *in2[2] = { "t", "w3" };
    add_node(g, "ConvTranspose", "up", 2, in1, "t");
    add_ints(g->node[0], "strides", 2, two);
    add_node(g, "ConvTranspose", "up3", 2, in2, "y");
    add_ints(g->node[1], "strides", 2, two);
    add_ints(g->node[1], "pads", 4, pads);
    qz_plan plan;
    assert_int_equal(qz_plan_make(g, NULL, 0, 1, &plan), UNET_OK);
    assert_int_equal(plan.n_convs, 1);
    assert_int_equal(plan.n_conv_transposes, 1);
    assert_int_equal(plan.convs_left_float, 1);
    assert_string_equal(plan.convs[0]->name, "up");
    const float act_scale = 0.25f;
    const uint8_t act_zero = 0;
    double werr;
    assert_int_equal(qz_rewrite_qdq(m, &plan, &act_scale, &act_zero, NULL, &werr), UNET_OK);
    qz_plan_free(&plan);
    const Onnx__NodeProto *wdq = NULL;
    for (size_t i = 0; i < g->n_node; i++)
        if (!strcmp(g->node[i]->op_type, "DequantizeLinear") && !strcmp(g->node[i]->input[0], "wt_quantized"))
            wdq = g->node[i];
    assert_non_null(wdq);
    assert_int_equal(qz_node_int(wdq, "axis", -1), 1);
    expect_floats(g, "wt_scale", 2, (const float[]){ 4.0f / 127, 1.0f / 127 });
    /* q = round(w / scale[oc]), in the weights' own (C, OC, kH, kW) order */
    const int8_t want[8] = { 127, -64, 32, 16, -127, 32, 64, 127 };
    const Onnx__TensorProto *wq = qz_find_initializer(g, "wt_quantized", NULL);
    assert_true(wq && wq->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 && wq->raw_data.len == 8);
    assert_memory_equal(wq->raw_data.data, want, 8);
    assert_non_null(qz_find_initializer(g, "w3", NULL)); /* the second keeps its float weights */
    onnx__model_proto__free_unpacked(m, NULL);
}

static void test_summary_json(void **state)
{
    (void)state;
    qz_summary sm = { "percentile", 99.99, "tiles \"a\"\\b", 8, 8, 18, 4, 1, 18, 0 };
    char *json = qz_summary_json(&sm);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"method\":\"percentile\",\"percentile\":99.99,"));
    assert_non_null(strstr(json, "\"calibration\":\"tiles \\\"a\\\"\\\\b\",\"tiles\":8,"));
    assert_non_null(strstr(json, "\"convs_quantized\":18,\"conv_transposes_quantized\":4,\"convs_float\":1,\"input_convs\":\"float32\",\"batchnorms_folded\":18}"));
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fold_then_rewrite),
        cmocka_unit_test(test_keep_float),
        cmocka_unit_test(test_conv_transpose_axis1),
        cmocka_unit_test(test_summary_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
