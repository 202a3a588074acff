/* The operator registry: one row per operator and opset range. A node takes
 * the row with the highest `since` not above the model's opset. */
#include <string.h>

#include "ops.h"
#include "ops/ops_decl.h"

#define INF 1024

static const op_def ROWS[] = {
    OP_ROW_DNNL("", "Conv", 1, 0, 2, 3, 1, 1, conv_check, conv_build),
    OP_ROW_DNNL("", "ConvTranspose", 1, 0, 2, 3, 1, 1, conv_check, conv_transpose_build),
    OP_ROW_DNNL("", "MaxPool", 1, 0, 1, 1, 1, 2, pool_check, pool_build),
    OP_ROW_DNNL("", "AveragePool", 1, 0, 1, 1, 1, 1, pool_check, pool_build),
    OP_ROW_DNNL("", "GlobalAveragePool", 1, 0, 1, 1, 1, 1, pool_check, pool_build),
    OP_ROW_DNNL("", "GlobalMaxPool", 1, 0, 1, 1, 1, 1, pool_check, pool_build),
    OP_ROW_DNNL("", "Relu", 1, 0, 1, 1, 1, 1, NULL, eltwise_build),
    OP_ROW_DNNL("", "LeakyRelu", 1, 0, 1, 1, 1, 1, NULL, eltwise_build),
    OP_ROW_DNNL("", "Sigmoid", 1, 0, 1, 1, 1, 1, NULL, eltwise_build),
    OP_ROW_DNNL("", "Tanh", 1, 0, 1, 1, 1, 1, NULL, eltwise_build),
    OP_ROW_DNNL("", "Elu", 1, 0, 1, 1, 1, 1, NULL, eltwise_build),
    OP_ROW_DNNL("", "HardSwish", 14, 0, 1, 1, 1, 1, NULL, eltwise_build),
    OP_ROW_DNNL("", "Exp", 1, 0, 1, 1, 1, 1, NULL, eltwise_build),
    OP_ROW_DNNL("", "Log", 1, 0, 1, 1, 1, 1, NULL, eltwise_build),
    OP_ROW_DNNL("", "Sqrt", 1, 0, 1, 1, 1, 1, NULL, eltwise_build),
    OP_ROW_DNNL("", "Abs", 1, 0, 1, 1, 1, 1, NULL, eltwise_build),
    OP_ROW_DNNL("", "Neg", 1, 0, 1, 1, 1, 1, NULL, eltwise_build),
    OP_ROW_DNNL("", "Softplus", 1, 0, 1, 1, 1, 1, NULL, eltwise_build),
    OP_ROW_DNNL("", "Clip", 1, 0, 1, 3, 1, 1, NULL, eltwise_build),
    OP_ROW_DNNL("", "Softmax", 1, 0, 1, 1, 1, 1, NULL, softmax_build),
    OP_ROW_DNNL("", "LogSoftmax", 1, 0, 1, 1, 1, 1, NULL, softmax_build),
    OP_ROW_DNNL("", "Concat", 1, 0, 1, INF, 1, 1, NULL, concat_build),
    OP_ROW_DNNL("", "Add", 7, 0, 2, 2, 1, 1, binary_check, binary_build),
    OP_ROW_DNNL("", "Sub", 7, 0, 2, 2, 1, 1, binary_check, binary_build),
    OP_ROW_DNNL("", "Mul", 7, 0, 2, 2, 1, 1, binary_check, binary_build),
    OP_ROW_DNNL("", "Div", 7, 0, 2, 2, 1, 1, binary_check, binary_build),
    OP_ROW_DNNL("", "Pow", 7, 0, 2, 2, 1, 1, binary_check, binary_build),
    OP_ROW_DNNL("", "Max", 8, 0, 1, INF, 1, 1, binary_check, binary_build),
    OP_ROW_DNNL("", "Min", 8, 0, 1, INF, 1, 1, binary_check, binary_build),
    OP_ROW_DNNL("", "Sum", 8, 0, 1, INF, 1, 1, binary_check, binary_build),
    OP_ROW_DNNL("", "PRelu", 7, 0, 2, 2, 1, 1, binary_check, binary_build),
    OP_ROW_DNNL("", "BatchNormalization", 7, 0, 5, 5, 1, 5, batchnorm_check, batchnorm_build),
    OP_ROW_DNNL("", "Shape", 1, 0, 1, 1, 1, 1, NULL, shape_build),
    OP_ROW_DNNL("", "Size", 1, 0, 1, 1, 1, 1, NULL, size_build),
    OP_ROW_DNNL("", "Reshape", 1, 0, 1, 2, 1, 1, reshape_check, reshape_build),
    OP_ROW_DNNL("", "Flatten", 1, 0, 1, 1, 1, 1, NULL, flatten_build),
    OP_ROW_DNNL("", "Squeeze", 1, 0, 1, 2, 1, 1, squeeze_check, squeeze_build),
    OP_ROW_DNNL("", "Unsqueeze", 1, 0, 1, 2, 1, 1, squeeze_check, unsqueeze_build),
    OP_ROW_DNNL("", "Identity", 1, 0, 1, 1, 1, 1, NULL, identity_build),
    OP_ROW_DNNL("", "Dropout", 1, 0, 1, 3, 1, 2, dropout_check, dropout_build),
    OP_ROW_DNNL("", "Expand", 8, 0, 2, 2, 1, 1, NULL, expand_build),
    OP_ROW_DNNL("", "ConstantOfShape", 9, 0, 1, 1, 1, 1, constant_of_shape_check, constant_of_shape_build),
    OP_ROW_DNNL("", "Range", 11, 0, 3, 3, 1, 1, NULL, range_build),
    OP_ROW_DNNL("", "Transpose", 1, 0, 1, 1, 1, 1, NULL, transpose_build),
    OP_ROW_PLAIN("", "Gather", 1, 0, 2, 2, 1, 1, NULL, gather_shape, gather_run),
    OP_ROW_PLAIN("", "Slice", 1, 0, 1, 5, 1, 1, slice_check, slice_shape, slice_run),
    OP_ROW_PLAIN("", "Pad", 1, 0, 1, 4, 1, 1, pad_check, pad_shape, pad_run),
    OP_ROW_PLAIN("", "Tile", 6, 0, 2, 2, 1, 1, NULL, tile_shape, tile_run),
    OP_ROW_DNNL("", "Cast", 1, 0, 1, 1, 1, 1, cast_check, cast_build),
    OP_ROW_PLAIN("", "Where", 9, 0, 3, 3, 1, 1, NULL, where_shape, where_run),
    OP_ROW_PLAIN("", "Equal", 1, 0, 2, 2, 1, 1, compare_check, compare_shape, compare_run),
    OP_ROW_PLAIN("", "Less", 1, 0, 2, 2, 1, 1, compare_check, compare_shape, compare_run),
    OP_ROW_PLAIN("", "Greater", 1, 0, 2, 2, 1, 1, compare_check, compare_shape, compare_run),
    OP_ROW_PLAIN("", "LessOrEqual", 12, 0, 2, 2, 1, 1, NULL, compare_shape, compare_run),
    OP_ROW_PLAIN("", "GreaterOrEqual", 12, 0, 2, 2, 1, 1, NULL, compare_shape, compare_run),
    OP_ROW_PLAIN("", "Not", 1, 0, 1, 1, 1, 1, NULL, logical_shape, logical_run),
    OP_ROW_PLAIN("", "And", 1, 0, 2, 2, 1, 1, compare_check, logical_shape, logical_run),
    OP_ROW_PLAIN("", "Or", 1, 0, 2, 2, 1, 1, compare_check, logical_shape, logical_run),
    OP_ROW_PLAIN("", "Xor", 1, 0, 2, 2, 1, 1, compare_check, logical_shape, logical_run),
    /* resize.c */
    OP_ROW_DNNL("", "Upsample", 7, 8, 1, 1, 1, 1, resize_check, resize_build),
    OP_ROW_DNNL("", "Upsample", 9, 9, 2, 2, 1, 1, resize_check, resize_build),
    OP_ROW_DNNL("", "Resize", 10, 10, 2, 2, 1, 1, resize_check, resize_build),
    OP_ROW_DNNL("", "Resize", 11, 0, 1, 4, 1, 1, resize_check, resize_build),
    /* reduce.c */
    OP_ROW_PLAIN("", "ReduceSum", 1, 0, 1, 2, 1, 1, reduce_check, reduce_shape_fn, reduce_run_fn),
    OP_ROW_PLAIN("", "ReduceMean", 1, 0, 1, 2, 1, 1, reduce_check, reduce_shape_fn, reduce_run_fn),
    OP_ROW_PLAIN("", "ReduceMax", 1, 0, 1, 2, 1, 1, reduce_check, reduce_shape_fn, reduce_run_fn),
    OP_ROW_PLAIN("", "ReduceMin", 1, 0, 1, 2, 1, 1, reduce_check, reduce_shape_fn, reduce_run_fn),
    OP_ROW_PLAIN("", "ReduceProd", 1, 0, 1, 2, 1, 1, reduce_check, reduce_shape_fn, reduce_run_fn),
    OP_ROW_PLAIN("", "ReduceSumSquare", 1, 0, 1, 2, 1, 1, reduce_check, reduce_shape_fn, reduce_run_fn),
    OP_ROW_PLAIN("", "ReduceL1", 1, 0, 1, 2, 1, 1, reduce_check, reduce_shape_fn, reduce_run_fn),
    OP_ROW_PLAIN("", "ReduceL2", 1, 0, 1, 2, 1, 1, reduce_check, reduce_shape_fn, reduce_run_fn),
    OP_ROW_PLAIN("", "ReduceLogSum", 1, 0, 1, 2, 1, 1, reduce_check, reduce_shape_fn, reduce_run_fn),
    OP_ROW_PLAIN("", "ReduceLogSumExp", 1, 0, 1, 2, 1, 1, reduce_check, reduce_shape_fn, reduce_run_fn),
    OP_ROW_PLAIN("", "ArgMax", 1, 0, 1, 1, 1, 1, NULL, reduce_shape_fn, reduce_run_fn),
    OP_ROW_PLAIN("", "ArgMin", 1, 0, 1, 1, 1, 1, NULL, reduce_shape_fn, reduce_run_fn),
    /* matmul.c */
    OP_ROW_PLAIN("", "QuantizeLinear", 10, 0, 2, 3, 1, 1, NULL, quantize_linear_shape, quantize_linear_run),
    /* a plain kernel, or two reorders after the QDQ pass (dequantize_linear_build) */
    { "", "DequantizeLinear", 10, 0, 2, 3, 1, 1, NULL, dequantize_linear_build, dequantize_linear_shape, dequantize_linear_run },
    OP_ROW_DNNL("", "MatMul", 1, 0, 2, 2, 1, 1, NULL, matmul_build),
    OP_ROW_DNNL("", "Gemm", 1, 0, 2, 3, 1, 1, gemm_check, gemm_build),
    /* normalization.c */
    OP_ROW_PLAIN("", "InstanceNormalization", 1, 0, 3, 3, 1, 1, NULL, instancenorm_shape, instancenorm_run),
    OP_ROW_PLAIN("", "LayerNormalization", 17, 0, 2, 3, 1, 3, layernorm_check, layernorm_shape, layernorm_run),
    OP_ROW_PLAIN("", "Mean", 1, 0, 1, INF, 1, 1, NULL, mean_shape, mean_run),
    OP_ROW_PLAIN("", "Hardmax", 1, 0, 1, 1, 1, 1, NULL, hardmax_shape, hardmax_run),
    OP_ROW_PLAIN("", "HardSigmoid", 1, 0, 1, 1, 1, 1, NULL, unary_shape, unary_run),
    OP_ROW_PLAIN("", "Reciprocal", 1, 0, 1, 1, 1, 1, NULL, unary_shape, unary_run),
    OP_ROW_PLAIN("", "Floor", 1, 0, 1, 1, 1, 1, NULL, unary_shape, unary_run),
    OP_ROW_PLAIN("", "Ceil", 1, 0, 1, 1, 1, 1, NULL, unary_shape, unary_run),
    OP_ROW_PLAIN("", "Round", 11, 0, 1, 1, 1, 1, NULL, unary_shape, unary_run),
    OP_ROW_PLAIN("", "Sign", 9, 0, 1, 1, 1, 1, NULL, unary_shape, unary_run),
    OP_ROW_PLAIN("", "Sin", 7, 0, 1, 1, 1, 1, NULL, unary_shape, unary_run),
    OP_ROW_PLAIN("", "Cos", 7, 0, 1, 1, 1, 1, NULL, unary_shape, unary_run),
    OP_ROW_PLAIN("", "Erf", 9, 0, 1, 1, 1, 1, NULL, unary_shape, unary_run),
    OP_ROW_PLAIN("", "ThresholdedRelu", 10, 0, 1, 1, 1, 1, NULL, unary_shape, unary_run),
    OP_ROW_PLAIN("", "Selu", 1, 0, 1, 1, 1, 1, NULL, unary_shape, unary_run),
    OP_ROW_PLAIN("", "Celu", 12, 0, 1, 1, 1, 1, NULL, unary_shape, unary_run),
    OP_ROW_PLAIN("", "Mish", 18, 0, 1, 1, 1, 1, NULL, unary_shape, unary_run),
    OP_ROW_PLAIN("", "Softsign", 1, 0, 1, 1, 1, 1, NULL, unary_shape, unary_run),
    /* ROWS-END (helpers add rows above this line) */
};

#define N_ROWS ((int)(sizeof ROWS / sizeof *ROWS))

static int same_domain(const char *a, const char *b)
{
    int ad = !a[0] || !strcmp(a, "ai.onnx"), bd = !b[0] || !strcmp(b, "ai.onnx");
    return (ad && bd) || !strcmp(a, b);
}

const op_def *ops_find(const char *domain, const char *op_type, int opset)
{
    const op_def *best = NULL;
    for (int i = 0; i < N_ROWS; i++) {
        const op_def *r = &ROWS[i];
        if (strcmp(r->op_type, op_type) || !same_domain(r->domain, domain))
            continue;
        if (r->since > opset || (r->until && r->until < opset))
            continue;
        if (!best || r->since > best->since)
            best = r;
    }
    return best;
}

int ops_known(const char *domain, const char *op_type)
{
    for (int i = 0; i < N_ROWS; i++)
        if (!strcmp(ROWS[i].op_type, op_type) && same_domain(ROWS[i].domain, domain))
            return 1;
    return 0;
}

int ops_count(void) { return N_ROWS; }
const op_def *ops_at(int i) { return i >= 0 && i < N_ROWS ? &ROWS[i] : NULL; }
