/* The U-Net's parameters: the list agrees with the independent enumeration of
 * tests/random_params.c (written from trainer/net.h alone), architecture
 * validation, He initialisation statistics, counts and FLOPs worked out by
 * hand, and that oneDNN picks no reference ("ref:") kernel for the benchmark
 * architecture. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "export_onnx.h"
#include "net_ext.h"
#include "random_params.h"

#define CHECK_OK(expr)                                                                    \
    do {                                                                                  \
        unet_status s_ = (expr);                                                          \
        if (s_ != UNET_OK)                                                                \
            fail_msg("%s failed: %s (%s)", #expr, unet_status_name(s_), unet_last_error()); \
    } while (0)

static void test_names_match_independent_list(void **state)
{
    (void)state;
    for (int depth = 1; depth <= 3; depth++)
        for (int bn = 0; bn <= 1; bn++) {
            const unet_arch arch = {.in_channels = 3, .n_classes = 6, .depth = depth,
                                    .base_filters = 4, .batchnorm = bn};
            unet_params *mine, *theirs = random_params_create(&arch, 1);
            CHECK_OK(params_create(&arch, &mine));
            assert_non_null(theirs);
            assert_int_equal(mine->n, theirs->n);
            for (int i = 0; i < theirs->n; i++) {
                const net_param *t = &theirs->p[i], *m = params_find(mine, t->name);
                if (!m)
                    fail_msg("%s missing", t->name);
                assert_int_equal(m->kind, t->kind);
                assert_int_equal(m->trainable, t->trainable);
                assert_int_equal(m->rank, t->rank);
                for (int d = 0; d < t->rank; d++)
                    assert_int_equal(m->dims[d], t->dims[d]);
                assert_int_equal(m->count, t->count);
                assert_true((m->grad != NULL) == (m->trainable != 0));
                for (size_t j = 0; j < m->count; j++) /* created zeroed */
                    assert_true(m->data[j] == 0.0f);
            }
            params_free(mine);
            random_params_free(theirs);
        }
}

static void expect_refused(unet_arch a, const char *words)
{
    unet_params *ps = (unet_params *)1;
    assert_int_equal(params_create(&a, &ps), UNET_ERR_ARG);
    assert_null(ps);
    if (!strstr(unet_last_error(), words))
        fail_msg("message \"%s\" does not mention \"%s\"", unet_last_error(), words);
}

static void test_arch_validation(void **state)
{
    (void)state;
    const unet_arch ok = {.in_channels = 3, .n_classes = 6, .depth = 4, .base_filters = 16};
    unet_arch a = ok;
    a.depth = 0;
    expect_refused(a, "depth 0");
    a.depth = 7;
    expect_refused(a, "depth 7");
    a = ok;
    a.base_filters = 0;
    expect_refused(a, "base filters 0");
    a.base_filters = 513;
    expect_refused(a, "base filters 513");
    a = ok;
    a.n_classes = 1;
    expect_refused(a, "classes 1");
    a.n_classes = 256;
    expect_refused(a, "classes 256");
    a = ok;
    a.in_channels = 0;
    expect_refused(a, "input channels 0");
    a.in_channels = 17;
    expect_refused(a, "input channels 17");
    a = ok;
    a.batchnorm = 2;
    expect_refused(a, "batchnorm");
    a = ok;
    a.dropout = 1.0f;
    expect_refused(a, "dropout");
    a.dropout = NAN;
    expect_refused(a, "dropout");
    /* the largest architectures exceed the parameter cap */
    a = ok;
    a.base_filters = 512;
    a.depth = 6;
    unet_params *ps;
    assert_int_equal(params_create(&a, &ps), UNET_ERR_LIMIT);
}

static void test_counts_and_flops_by_hand(void **state)
{
    (void)state;
    /* depth 1, base 2, 3 -> 3 classes, no BN:
     * enc0.conv1 2*3*9+2 = 56, enc0.conv2 2*2*9+2 = 38, mid.conv1 4*2*9+4 = 76,
     * mid.conv2 4*4*9+4 = 148, dec0.up 4*2*2*2+2 = 34, dec0.conv1 2*4*9+2 = 74,
     * dec0.conv2 38, head 3*2+3 = 9: 473 in all. */
    const unet_arch a = {.in_channels = 3, .n_classes = 3, .depth = 1, .base_filters = 2};
    unet_params *ps;
    CHECK_OK(params_create(&a, &ps));
    assert_int_equal(params_trainable_count(ps), 473);
    params_free(ps);
    /* with BN: + 4 blocks x 2 BNs, trainable scale and shift only:
     * 2 * (2*2 + 2*4 + 2*2) = 32 */
    unet_arch b = a;
    b.batchnorm = 1;
    CHECK_OK(params_create(&b, &ps));
    assert_int_equal(params_trainable_count(ps), 473 + 32);
    assert_int_equal(ps->n, 16 + 6 * 4);
    params_free(ps);
    /* MACs on 4x4: enc0 16*9*3*2 + 16*9*2*2 = 1440; mid (2x2) 4*9*2*4 + 4*9*4*4 =
     * 864; dec0.up 16 outputs * 4 in * 2 out = 128; dec0 16*9*4*2 + 16*9*2*2 =
     * 1728; head 16*2*3 = 96: 4256 MACs = 8512 FLOPs. */
    assert_true(fabs(unet_arch_flops(&a, 4, 4) - 8512.0) < 1e-9);
    assert_true(fabs(unet_arch_flops(&b, 4, 4) - 8512.0) < 1e-9); /* BN not counted */
    assert_true(fabs(unet_arch_flops(&a, 8, 4) - 2 * 8512.0) < 1e-9);
}

/* Training and export normalise with one epsilon. */
static void test_bn_epsilon_matches_export(void **state)
{
    (void)state;
    assert_true(NET_BN_EPSILON == UNET_EXPORT_BN_EPSILON);
}

static void test_he_init(void **state)
{
    (void)state;
    const unet_arch a = {.in_channels = 3, .n_classes = 6, .depth = 3, .base_filters = 16,
                         .batchnorm = 1};
    unet_params *p1, *p2, *p3;
    CHECK_OK(params_create(&a, &p1));
    CHECK_OK(params_create(&a, &p2));
    CHECK_OK(params_create(&a, &p3));
    params_init_he(p1, 7);
    params_init_he(p2, 7);
    params_init_he(p3, 8);
    int differs = 0;
    for (int i = 0; i < p1->n; i++) {
        const net_param *p = &p1->p[i];
        assert_memory_equal(p->data, p2->p[i].data, p->count * sizeof(float));
        differs |= memcmp(p->data, p3->p[i].data, p->count * sizeof(float)) != 0;
        double s = 0, s2 = 0;
        for (size_t j = 0; j < p->count; j++) {
            s += p->data[j];
            s2 += (double)p->data[j] * p->data[j];
        }
        const double mean = s / (double)p->count, sd = sqrt(s2 / (double)p->count - mean * mean);
        switch (p->kind) {
        case NET_PARAM_CONV_WEIGHT:
        case NET_PARAM_DECONV_WEIGHT: {
            /* Conv: fan-in = in * kh * kw (OIHW); 2x2 stride-2 ConvTranspose: in (IOHW dim 0). */
            const double fan_in = p->kind == NET_PARAM_CONV_WEIGHT
                                      ? (double)(p->dims[1] * p->dims[2] * p->dims[3])
                                      : (double)p->dims[0];
            const double want = sqrt(2.0 / fan_in);
            if (p->count >= 20000) { /* statistical check where the sample is large */
                assert_true(fabs(sd / want - 1.0) < 0.03);
                assert_true(fabs(mean) < 0.03 * want);
            }
            break;
        }
        case NET_PARAM_BN_SCALE:
        case NET_PARAM_BN_VAR:
            assert_true(mean == 1.0 && sd == 0.0);
            break;
        default:
            assert_true(mean == 0.0 && sd == 0.0);
            break;
        }
    }
    assert_true(differs);
    params_free(p1);
    params_free(p2);
    params_free(p3);
}

/* The "small" benchmark architecture runs on optimised oneDNN kernels only. */
static void test_no_reference_kernels(void **state)
{
    (void)state;
    for (int bn = 0; bn <= 1; bn++) {
        const unet_arch a = {.in_channels = 3, .n_classes = 6, .depth = 4, .base_filters = 16,
                             .batchnorm = bn};
        unet_params *ps;
        CHECK_OK(params_create(&a, &ps));
        unet_net *net;
        CHECK_OK(net_create(ps, 2, 64, 64, &net));
        const layer_plan *p = net_plan(net);
        int prims = 0;
        for (int l = LP_FWD; l <= LP_BWD; l++)
            for (int i = 0; i < lp_step_count(p, l); i++) {
                const char *impl = lp_step_impl(p, l, i);
                if (!impl)
                    continue;
                prims++;
                if (strncmp(impl, "ref", 3) == 0)
                    fail_msg("%s runs on oneDNN's reference kernel %s", lp_step_what(p, l, i),
                             impl);
            }
        assert_true(prims > 50);
        net_free(net);
        params_free(ps);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_match_independent_list),
        cmocka_unit_test(test_arch_validation),
        cmocka_unit_test(test_counts_and_flops_by_hand),
        cmocka_unit_test(test_bn_epsilon_matches_export),
        cmocka_unit_test(test_he_init),
        cmocka_unit_test(test_no_reference_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
