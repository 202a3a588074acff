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
