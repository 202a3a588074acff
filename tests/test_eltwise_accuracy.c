/* Element-wise ops at their exact points and over a sweep, against libm in
 * double: log(1) = 0, exp(0) = 1, tanh(0) = 0, sigmoid(0) = 0.5, sqrt(1) = 1,
 * sqrt(4) = 2, sqrt(0) = 0 must come out within ONNX's absolute tolerance
 * (1e-7), and every value within a relative 1e-5 (ONNX allows 1e-3). oneDNN
 * picks other kernels per ISA, so this runs again under
 * ONEDNN_MAX_CPU_ISA=AVX2 (tools/test.sh). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <unet/unet.h>

#include "onnx_builder.h"

#define N 64

typedef struct op_case {
    const char *op;
    double (*ref)(double);
    double lo, hi;           /* sweep range */
    double exact_x[3];       /* points where the result is exact ... */
    double exact_y[3];       /* ... and what it is */
    int n_exact;
} op_case;

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double softplus(double x) { return log1p(exp(x)); }

static const op_case CASES[] = {
    { "Log", log, 1e-3, 50.0, { 1.0 }, { 0.0 }, 1 },
    { "Exp", exp, -20.0, 20.0, { 0.0 }, { 1.0 }, 1 },
    { "Tanh", tanh, -8.0, 8.0, { 0.0 }, { 0.0 }, 1 },
    { "Sigmoid", sigmoid, -15.0, 15.0, { 0.0 }, { 0.5 }, 1 },
    { "Sqrt", sqrt, 0.0, 100.0, { 0.0, 1.0, 4.0 }, { 0.0, 1.0, 2.0 }, 3 },
    { "Softplus", softplus, -15.0, 15.0, { 0.0 }, { 0.6931471805599453 }, 1 },
};

static void check_op(const op_case *c)
{
    float x[N];
    int k = 0;
    for (; k < c->n_exact; k++)
        x[k] = (float)c->exact_x[k];
    for (int i = k; i < N; i++)
        x[i] = (float)(c->lo + (c->hi - c->lo) * (i - k) / (N - k - 1));
    const int64_t dims[4] = { 1, 4, 4, 4 };
    ob_model *b = ob_model_new(13);
    ob_input(b, "x", UNET_DTYPE_FLOAT, 4, dims);
    ob_node_add(b, c->op, "x", "y");
    ob_output(b, "y", UNET_DTYPE_FLOAT, 4, dims);
    unet_model *m = NULL;
    assert_int_equal(ob_open(b, &m), UNET_OK);
    ob_model_free(b);
    unet_session *sess = NULL;
    assert_int_equal(unet_session_create(m, NULL, &sess), UNET_OK);
    unet_tensor in = { UNET_DTYPE_FLOAT, 4, { 1, 4, 4, 4 }, x };
    assert_int_equal(unet_session_run(sess, &in, 1), UNET_OK);
    unet_tensor out;
    assert_int_equal(unet_session_output(sess, 0, &out), UNET_OK);
    const float *y = out.data;
    for (int i = 0; i < c->n_exact; i++)
        if (!(fabs((double)y[i] - c->exact_y[i]) <= 1e-7))
            fail_msg("%s(%g) = %.9g, want %.9g within 1e-7 (ISA %s)", c->op, c->exact_x[i],
                     (double)y[i], c->exact_y[i], unet_cpu_isa());
    double worst = 0;
    int worst_i = 0;
    for (int i = 0; i < N; i++) {
        const double want = c->ref((double)x[i]);
        const double err = fabs((double)y[i] - want) / fmax(fabs(want), 1e-30);
        if (err > worst) {
            worst = err;
            worst_i = i;
        }
    }
    printf("%-8s worst relative error %.2e at x = %g (ISA %s)\n", c->op, worst,
           (double)x[worst_i], unet_cpu_isa());
    if (!(worst <= 1e-5))
        fail_msg("%s(%g) = %.9g, want %.9g (relative error %.2e > 1e-5)", c->op,
                 (double)x[worst_i], (double)y[worst_i], c->ref((double)x[worst_i]), worst);
    unet_session_free(sess);
    unet_model_free(m);
}

static void test_eltwise_ops(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++)
        check_op(&CASES[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_eltwise_ops) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
