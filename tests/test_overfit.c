/* The trainer's U-Net learns: a tiny network with a plain Adam written here
 * overfits four synthetic tiles (squares and disks on a background) to at
 * least 99% pixel accuracy within a fixed step budget, and two runs with the
 * same seed end with bit-identical parameters. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net_ext.h"

#define CHECK_OK(expr)                                                                    \
    do {                                                                                  \
        unet_status s_ = (expr);                                                          \
        if (s_ != UNET_OK)                                                                \
            fail_msg("%s failed: %s (%s)", #expr, unet_status_name(s_), unet_last_error()); \
    } while (0)

static double urand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (double)((x * 0x2545f4914f6cdd1dULL) >> 11) / 9007199254740992.0;
}

/* Tiles of a noisy background (class 0) with squares (class 1) and disks
 * (class 2) of random size and place, later shapes drawn over earlier ones.
 * Squares and disks share one colour, so only their shape tells them apart. */
static void draw_tiles(int n, int h, int w, uint64_t seed, float *img, uint8_t *lab)
{
    uint64_t st = seed;
    static const float colour[3][3] = {{0.35f, 0.45f, 0.30f}, {0.75f, 0.35f, 0.30f},
                                       {0.75f, 0.35f, 0.30f}};
    for (int b = 0; b < n; b++) {
        uint8_t *l = lab + (size_t)b * h * w;
        memset(l, 0, (size_t)h * w);
        for (int s = 0; s < 4; s++) {
            const int cls = 1 + (int)(urand(&st) * 2);
            const int r = 3 + (int)(urand(&st) * 5);
            const int cy = (int)(urand(&st) * h), cx = (int)(urand(&st) * w);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    const int dy = y - cy, dx = x - cx;
                    const int in = cls == 1 ? (abs(dy) <= r && abs(dx) <= r)
                                            : (dy * dy + dx * dx <= r * r);
                    if (in)
                        l[y * w + x] = (uint8_t)cls;
                }
        }
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < h * w; i++)
                img[((size_t)b * 3 + c) * h * w + i] =
                    colour[l[i]][c] + (float)(urand(&st) - 0.5) * 0.3f;
    }
}

/* Adam (Kingma & Ba) over every trainable parameter. */
typedef struct adam {
    float *m, *v;
    long t;
} adam;

static void adam_step(adam *a, unet_params *ps, float lr)
{
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    a->t++;
    const float c1 = 1.0f - powf(b1, (float)a->t), c2 = 1.0f - powf(b2, (float)a->t);
    size_t off = 0;
    for (int i = 0; i < ps->n; i++) {
        net_param *p = &ps->p[i];
        if (!p->trainable)
            continue;
        for (size_t j = 0; j < p->count; j++, off++) {
            const float g = p->grad[j];
            a->m[off] = b1 * a->m[off] + (1 - b1) * g;
            a->v[off] = b2 * a->v[off] + (1 - b2) * g * g;
            p->data[j] -= lr * (a->m[off] / c1) / (sqrtf(a->v[off] / c2) + eps);
        }
    }
}

static double accuracy(const float *probs, const uint8_t *lab, int n, int nc, size_t hw)
{
    size_t right = 0;
    for (int b = 0; b < n; b++)
        for (size_t i = 0; i < hw; i++) {
            int best = 0;
            for (int c = 1; c < nc; c++)
                if (probs[((size_t)b * nc + c) * hw + i] > probs[((size_t)b * nc + best) * hw + i])
                    best = c;
            right += best == lab[(size_t)b * hw + i];
        }
    return (double)right / ((double)n * (double)hw);
}

static void overfit_case(int batchnorm)
{
    enum { N = 4, H = 32, W = 32, STEPS = 300 };
    const unet_arch arch = {.in_channels = 3, .n_classes = 3, .depth = 2, .base_filters = 8,
                            .batchnorm = batchnorm};
    unet_params *ps;
    CHECK_OK(params_create(&arch, &ps));
    params_init_he(ps, 2024);
    unet_net *net;
    CHECK_OK(net_create(ps, N, H, W, &net));
    float *img = malloc(sizeof(float) * N * 3 * H * W);
    uint8_t *lab = malloc(N * H * W);
    const size_t n_train = params_trainable_count(ps);
    adam opt = {calloc(n_train, sizeof(float)), calloc(n_train, sizeof(float)), 0};
    assert_true(img && lab && opt.m && opt.v);
    draw_tiles(N, H, W, 99, img, lab);
    size_t counts[3] = {0};
    for (int i = 0; i < N * H * W; i++)
        counts[lab[i]]++;
    assert_true(counts[0] > 0 && counts[1] > 0 && counts[2] > 0);

    double loss = 0, first_loss = 0, acc = 0;
    int step;
    for (step = 0; step < STEPS; step++) {
        CHECK_OK(net_forward(net, img, 1));
        acc = accuracy(net_probs(net), lab, N, 3, (size_t)H * W);
        CHECK_OK(net_loss(net, lab, NULL, 255, &loss));
        if (step == 0)
            first_loss = loss;
        if (acc >= 0.995)
            break;
        CHECK_OK(net_backward(net));
        adam_step(&opt, ps, 5e-3f);
    }
    /* The inference forward (running statistics for BN) must agree. */
    CHECK_OK(net_forward(net, img, 0));
    const double infer_acc = accuracy(net_probs(net), lab, N, 3, (size_t)H * W);
    print_message("batchnorm %d: %d steps, loss %.4f -> %.4f, pixel accuracy %.4f (training "
                  "forward), %.4f (inference forward)\n",
                  batchnorm, step, first_loss, loss, acc, infer_acc);
    assert_true(acc >= 0.99);
    assert_true(infer_acc >= 0.99);
    assert_true(loss < first_loss / 4);
    free(opt.m);
    free(opt.v);
    free(img);
    free(lab);
    net_free(net);
    params_free(ps);
}

static void test_overfit(void **state)
{
    (void)state;
    overfit_case(0);
}

static void test_overfit_bn(void **state)
{
    (void)state;
    overfit_case(1);
}

/* A few Adam steps (with BN and dropout); returns the parameters, values of all
 * of them (running statistics too) in order. */
static float *train_a_little(uint64_t seed, size_t *count)
{
    enum { N = 2, H = 16, W = 16 };
    const unet_arch arch = {.in_channels = 3, .n_classes = 3, .depth = 2, .base_filters = 4,
                            .batchnorm = 1, .dropout = 0.2f};
    unet_params *ps;
    CHECK_OK(params_create(&arch, &ps));
    params_init_he(ps, seed);
    unet_net *net;
    CHECK_OK(net_create(ps, N, H, W, &net));
    net_set_dropout_state(net, seed, 0);
    float img[N * 3 * H * W];
    uint8_t lab[N * H * W];
    draw_tiles(N, H, W, 5, img, lab);
    const size_t n_train = params_trainable_count(ps);
    adam opt = {calloc(n_train, sizeof(float)), calloc(n_train, sizeof(float)), 0};
    assert_true(opt.m && opt.v);
    const float weights[3] = {1.0f, 2.0f, 3.0f};
    for (int step = 0; step < 4; step++) {
        double loss;
        CHECK_OK(net_forward(net, img, 1));
        CHECK_OK(net_loss(net, lab, weights, 255, &loss));
        CHECK_OK(net_backward(net));
        adam_step(&opt, ps, 1e-2f);
    }
    assert_int_equal(net_dropout_counter(net), 4);
    size_t total = 0;
    for (int i = 0; i < ps->n; i++)
        total += ps->p[i].count;
    float *out = malloc(total * sizeof(float));
    assert_non_null(out);
    size_t off = 0;
    for (int i = 0; i < ps->n; i++) {
        memcpy(out + off, ps->p[i].data, ps->p[i].count * sizeof(float));
        off += ps->p[i].count;
    }
    *count = total;
    free(opt.m);
    free(opt.v);
    net_free(net);
    params_free(ps);
    return out;
}

static void test_same_seed_same_params(void **state)
{
    (void)state;
    size_t n1, n2, n3;
    float *a = train_a_little(17, &n1), *b = train_a_little(17, &n2), *c = train_a_little(18, &n3);
    assert_int_equal(n1, n2);
    assert_int_equal(n1, n3);
    assert_memory_equal(a, b, n1 * sizeof(float));
    assert_memory_not_equal(a, c, n1 * sizeof(float));
    free(a);
    free(b);
    free(c);
}

static void test_call_order_errors(void **state)
{
    (void)state;
    const unet_arch arch = {.in_channels = 1, .n_classes = 2, .depth = 1, .base_filters = 2};
    unet_params *ps;
    CHECK_OK(params_create(&arch, &ps));
    params_init_he(ps, 1);
    unet_net *net;
    assert_int_equal(net_create(ps, 1, 7, 8, &net), UNET_ERR_SHAPE);
    assert_non_null(strstr(unet_last_error(), "multiples of 2^depth"));
    CHECK_OK(net_create(ps, 1, 8, 8, &net));
    float img[64] = {0};
    uint8_t lab[64] = {0};
    double loss;
    assert_null(net_probs(net));
    assert_int_equal(net_backward(net), UNET_ERR_ARG);
    assert_int_equal(net_loss(net, lab, NULL, 255, &loss), UNET_ERR_ARG);
    CHECK_OK(net_forward(net, img, 0));
    CHECK_OK(net_loss(net, lab, NULL, 255, &loss));
    assert_int_equal(net_backward(net), UNET_ERR_ARG); /* the forward was not training */
    CHECK_OK(net_forward(net, img, 1));
    assert_int_equal(net_backward(net), UNET_ERR_ARG); /* no loss yet */
    CHECK_OK(net_loss(net, lab, NULL, 255, &loss));
    CHECK_OK(net_backward(net));
    net_free(net);
    params_free(ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overfit),
        cmocka_unit_test(test_overfit_bn),
        cmocka_unit_test(test_same_seed_same_params),
        cmocka_unit_test(test_call_order_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
