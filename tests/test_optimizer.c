/* Optimisers and learning-rate schedules against values worked out by hand
 * (two Adam and SGD steps on single numbers) and against a plain double
 * precision loop written from the textbook formulas. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "optimizer.h"
#include "schedule.h"

#define assert_close(got, want, eps) assert_close_((got), (want), (eps), #got, __LINE__)
static void assert_close_(double got, double want, double eps, const char *what, int line)
{
    if (!(fabs(got - want) <= eps))
        fail_msg("line %d: %s = %.12g, expected %.12g", line, what, got, want);
}

static unet_params *tiny_params(int batchnorm)
{
    const unet_arch a = {.in_channels = 1, .n_classes = 2, .depth = 1, .base_filters = 1,
                         .batchnorm = batchnorm};
    unet_params *p = NULL;
    assert_int_equal(params_create(&a, &p), UNET_OK);
    return p;
}

static optimizer *make_opt(int kind, const unet_params *p, double momentum, double wd)
{
    optim_config c;
    optim_config_default(&c, kind);
    c.momentum = momentum;
    c.weight_decay = wd;
    optimizer *o = NULL;
    assert_int_equal(optimizer_create(&c, p, &o), UNET_OK);
    return o;
}

/* Adam, lr 0.01, betas 0.9/0.999, eps 1e-8, weight decay 0.1, gradients 0.2
 * then -0.1. A weight w = 0.5:
 *   step 1: m = 0.02, v = 4e-5, m^ = 0.2, v^ = 0.04, sqrt 0.2,
 *           w = 0.5 (1 - 0.001) - 0.01 * 0.2 / (0.2 + 1e-8) = 0.4895000005
 *   step 2: m = 0.008, v = 4.996e-5, m^ = 0.008 / 0.19, v^ = 4.996e-5 / 0.001999,
 *           w = 0.4895000005 * 0.999 - 0.01 * 0.0421053 / 0.1580902 = 0.486347130
 * A bias b = -0.3 (not decayed): -0.3099999995, then -0.312663370. */
static void test_adam_by_hand(void **state)
{
    (void)state;
    unet_params *p = tiny_params(0);
    net_param *w = params_find(p, "enc0.conv1.weight"), *b = params_find(p, "enc0.conv1.bias");
    assert_non_null(w);
    assert_non_null(b);
    for (int i = 0; i < p->n; i++)
        for (size_t k = 0; k < p->p[i].count; k++) {
            p->p[i].data[k] = 0;
            p->p[i].grad[k] = 0;
        }
    w->data[0] = 0.5f;
    b->data[0] = -0.3f;
    optimizer *o = make_opt(OPTIM_ADAM, p, 0.9, 0.1);
    w->grad[0] = 0.2f;
    b->grad[0] = 0.2f;
    assert_int_equal(optimizer_step(o, p, 0.01), UNET_OK);
    assert_close(w->data[0], 0.4895000005, 2e-7);
    assert_close(b->data[0], -0.3099999995, 2e-7);
    w->grad[0] = -0.1f;
    b->grad[0] = -0.1f;
    assert_int_equal(optimizer_step(o, p, 0.01), UNET_OK);
    assert_close(w->data[0], 0.48634713027, 3e-7);
    assert_close(b->data[0], -0.31266336973, 3e-7);
    assert_int_equal(o->step, 2);
    /* Zero gradients and zero weights stay zero. */
    assert_true(w->data[1] == 0.0f);
    optimizer_free(o);
    params_free(p);
}

/* SGD, lr 0.1, momentum 0.9, weight decay 0.01, gradients 0.5 twice, w = 1:
 *   step 1: g' = 0.5 + 0.01 = 0.51, buf = 0.51, w = 1 - 0.051 = 0.949
 *   step 2: g' = 0.5 + 0.00949 = 0.50949, buf = 0.459 + 0.50949 = 0.96849,
 *           w = 0.949 - 0.096849 = 0.852151
 * A bias b = 1 (not decayed): 0.95, then buf = 0.95, b = 0.855. */
static void test_sgd_by_hand(void **state)
{
    (void)state;
    unet_params *p = tiny_params(0);
    net_param *w = params_find(p, "dec0.up.weight"), *b = params_find(p, "head.bias");
    w->data[0] = 1.0f;
    b->data[0] = 1.0f;
    optimizer *o = make_opt(OPTIM_SGD, p, 0.9, 0.01);
    for (int step = 0; step < 2; step++) {
        w->grad[0] = 0.5f;
        b->grad[0] = 0.5f;
        assert_int_equal(optimizer_step(o, p, 0.1), UNET_OK);
        if (step == 0) {
            assert_close(w->data[0], 0.949, 1e-6);
            assert_close(b->data[0], 0.95, 1e-6);
        }
    }
    assert_close(w->data[0], 0.852151, 1e-6);
    assert_close(b->data[0], 0.855, 1e-6);
    optimizer_free(o);
    params_free(p);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static int decays(const net_param *p)
{
    return p->kind == NET_PARAM_CONV_WEIGHT || p->kind == NET_PARAM_DECONV_WEIGHT;
}

/* Five steps on every parameter against a double-precision reference. */
static void reference_run(int kind)
{
    unet_params *p = tiny_params(1);
    const size_t n = params_trainable_count(p);
    double *w = calloc(n, sizeof *w), *m = calloc(n, sizeof *m), *v = calloc(n, sizeof *v);
    assert_non_null(w);
    assert_non_null(m);
    assert_non_null(v);
    size_t off = 0;
    for (int i = 0; i < p->n; i++) {
        net_param *q = &p->p[i];
        for (size_t k = 0; k < q->count; k++) {
            q->data[k] = (float)(2 * urand() - 1);
            if (q->trainable)
                w[off + k] = q->data[k];
        }
        if (q->trainable)
            off += q->count;
    }
    const net_param *mean = params_find(p, "enc0.bn1.mean");
    assert_non_null(mean);
    assert_false(mean->trainable);
    const float mean0 = mean->data[0];
    const double lr = 0.05, wd = 0.02, mom = 0.8, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    optimizer *o = make_opt(kind, p, mom, wd);
    for (int t = 1; t <= 5; t++) {
        off = 0;
        for (int i = 0; i < p->n; i++) {
            net_param *q = &p->p[i];
            if (!q->trainable)
                continue;
            for (size_t k = 0; k < q->count; k++) {
                const double g = (float)(2 * urand() - 1);
                q->grad[k] = (float)g;
                double *x = &w[off + k];
                const double d = decays(q) ? wd : 0.0;
                if (kind == OPTIM_ADAM) {
                    m[off + k] = b1 * m[off + k] + (1 - b1) * g;
                    v[off + k] = b2 * v[off + k] + (1 - b2) * g * g;
                    const double mh = m[off + k] / (1 - pow(b1, t)), vh = v[off + k] / (1 - pow(b2, t));
                    *x = *x - lr * d * *x - lr * mh / (sqrt(vh) + eps);
                } else {
                    m[off + k] = mom * m[off + k] + g + d * *x;
                    *x -= lr * m[off + k];
                }
            }
            off += q->count;
        }
        assert_int_equal(optimizer_step(o, p, lr), UNET_OK);
    }
    off = 0;
    double worst = 0;
    for (int i = 0; i < p->n; i++) {
        const net_param *q = &p->p[i];
        if (!q->trainable)
            continue;
        for (size_t k = 0; k < q->count; k++) {
            const double e = fabs(q->data[k] - w[off + k]);
            if (e > worst)
                worst = e;
        }
        off += q->count;
    }
    if (worst > 2e-6)
        fail_msg("%s: max |difference| to the reference %g", kind == OPTIM_ADAM ? "Adam" : "SGD",
                 worst);
    assert_true(mean->data[0] == mean0); /* running statistics are not trained */
    optimizer_free(o);
    params_free(p);
    free(w);
    free(m);
    free(v);
}

static void test_adam_reference(void **state)
{
    (void)state;
    reference_run(OPTIM_ADAM);
}

static void test_sgd_reference(void **state)
{
    (void)state;
    reference_run(OPTIM_SGD);
}

static void test_bad_settings(void **state)
{
    (void)state;
    unet_params *p = tiny_params(0);
    optim_config c;
    optim_config_default(&c, OPTIM_SGD);
    c.momentum = 1.5;
    optimizer *o = NULL;
    assert_int_equal(optimizer_create(&c, p, &o), UNET_ERR_ARG);
    assert_null(o);
    assert_non_null(strstr(unet_last_error(), "momentum"));
    o = make_opt(OPTIM_ADAM, p, 0.9, 0);
    assert_int_equal(optimizer_step(o, p, NAN), UNET_ERR_ARG);
    optimizer_free(o);
    params_free(p);
}

/* Cosine from 0.1 over 100 steps: 0.1 at 0, 0.05 at 50, 0.1 (1 + cos(pi/4)) / 2 =
 * 0.0853553 at 25, 0 at 100 and beyond; with floor 0.01: 0.055 at 50. */
static void test_cosine(void **state)
{
    (void)state;
    lr_schedule s = {.kind = SCHEDULE_COSINE, .base_lr = 0.1, .total_steps = 100};
    assert_int_equal(schedule_check(&s), UNET_OK);
    assert_close(schedule_lr(&s, 0), 0.1, 1e-15);
    assert_close(schedule_lr(&s, 25), 0.0853553390593, 1e-12);
    assert_close(schedule_lr(&s, 50), 0.05, 1e-15);
    assert_close(schedule_lr(&s, 100), 0.0, 1e-15);
    assert_close(schedule_lr(&s, 1000), 0.0, 1e-15);
    s.min_lr = 0.01;
    assert_close(schedule_lr(&s, 50), 0.055, 1e-15);
    s.total_steps = 0;
    assert_int_equal(schedule_check(&s), UNET_ERR_ARG);
}

/* Step: 10 steps per epoch, x0.5 every 3 epochs: 0.2 until step 29, 0.1 from
 * 30, 0.05 from 60. */
static void test_step_and_constant(void **state)
{
    (void)state;
    lr_schedule s = {.kind = SCHEDULE_STEP, .base_lr = 0.2, .steps_per_epoch = 10,
                     .step_size = 3, .gamma = 0.5};
    assert_int_equal(schedule_check(&s), UNET_OK);
    assert_close(schedule_lr(&s, 0), 0.2, 1e-15);
    assert_close(schedule_lr(&s, 29), 0.2, 1e-15);
    assert_close(schedule_lr(&s, 30), 0.1, 1e-15);
    assert_close(schedule_lr(&s, 59), 0.1, 1e-15);
    assert_close(schedule_lr(&s, 60), 0.05, 1e-15);
    s.gamma = 0;
    assert_int_equal(schedule_check(&s), UNET_ERR_ARG);
    lr_schedule c = {.kind = SCHEDULE_CONSTANT, .base_lr = 0.003};
    assert_close(schedule_lr(&c, 0), 0.003, 1e-18);
    assert_close(schedule_lr(&c, 123456), 0.003, 1e-18);
    assert_int_equal(schedule_kind_from_name("cosine"), SCHEDULE_COSINE);
    assert_int_equal(schedule_kind_from_name("step"), SCHEDULE_STEP);
    assert_int_equal(schedule_kind_from_name("constant"), SCHEDULE_CONSTANT);
    assert_int_equal(schedule_kind_from_name("linear"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_by_hand),
        cmocka_unit_test(test_sgd_by_hand),
        cmocka_unit_test(test_adam_reference),
        cmocka_unit_test(test_sgd_reference),
        cmocka_unit_test(test_bad_settings),
        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_step_and_constant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
