/* The trainer's own forward pass (inference mode) against libunet running the
 * exported model: the criterion is a max abs difference <= 1e-5 on the
 * probabilities, with and without batch normalisation. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <unet/unet.h>

#include "export_onnx.h"
#include "net.h"

static float frand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 65536.0f;
}

static void run_case(int batchnorm, int depth, int filters)
{
    unet_arch arch = { 3, 6, depth, filters, batchnorm, 0.0f };
    unet_params *params = NULL;
    assert_int_equal(params_create(&arch, &params), UNET_OK);
    params_init_he(params, 11);
    /* Non-trivial biases and BN statistics, so that the export must carry them. */
    uint32_t s = 5;
    for (int i = 0; i < params->n; i++) {
        net_param *p = &params->p[i];
        for (size_t k = 0; k < p->count; k++) {
            switch (p->kind) {
            case NET_PARAM_BIAS: p->data[k] = (frand(&s) - 0.5f) * 0.2f; break;
            case NET_PARAM_BN_SCALE: p->data[k] = 0.5f + frand(&s); break;
            case NET_PARAM_BN_SHIFT: p->data[k] = (frand(&s) - 0.5f) * 0.2f; break;
            case NET_PARAM_BN_MEAN: p->data[k] = (frand(&s) - 0.5f) * 0.2f; break;
            case NET_PARAM_BN_VAR: p->data[k] = 0.5f + frand(&s); break;
            default: break;
            }
        }
    }
    const int N = 2, Hh = 32, Ww = 32;
    size_t n_in = (size_t)N * 3 * Hh * Ww, n_out = (size_t)N * 6 * Hh * Ww;
    float *x = malloc(n_in * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n_in; i++)
        x[i] = frand(&s);

    unet_net *net = NULL;
    assert_int_equal(net_create(params, N, Hh, Ww, &net), UNET_OK);
    assert_int_equal(net_forward(net, x, 0), UNET_OK);
    const float *want = net_probs(net);

    char dir[] = "/tmp/unet-trvsrt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    unet_export_meta meta = { 6, NULL, NULL, NULL, NULL };
    assert_int_equal(unet_export_onnx(path, params, &meta), UNET_OK);

    unet_model *m = NULL;
    unet_session *sess = NULL;
    assert_int_equal(unet_model_open_file(path, NULL, &m), UNET_OK);
    assert_int_equal(unet_session_create(m, NULL, &sess), UNET_OK);
    unet_tensor in = { UNET_DTYPE_FLOAT, 4, { N, 3, Hh, Ww }, x };
    assert_int_equal(unet_session_run(sess, &in, 1), UNET_OK);
    unet_tensor out;
    assert_int_equal(unet_session_output(sess, 0, &out), UNET_OK);
    assert_int_equal(out.dims[1], 6);
    const float *got = out.data;
    double worst = 0;
    for (size_t i = 0; i < n_out; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (d > worst)
            worst = d;
    }
    printf("depth %d, %d filters, batchnorm %d: max abs difference %.3g\n", depth, filters, batchnorm, worst);
    assert_true(worst <= 1e-5);

    unet_session_free(sess);
    unet_model_free(m);
    net_free(net);
    params_free(params);
    free(x);
    unlink(path);
    rmdir(dir);
}

static void test_plain(void **state)
{
    (void)state;
    run_case(0, 2, 8);
}

static void test_batchnorm(void **state)
{
    (void)state;
    run_case(1, 3, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_batchnorm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
