/* The training losses of trainer/loss.h: hand-worked values on tiny cases,
 * and gradients w.r.t. the logits against central finite differences on
 * small random batches (several classes, ignored pixels, an absent class,
 * class weights), for every --loss kind through loss_compute.
 *
 * Finite differences: h = 1e-3 on one logit at a time, loss recomputed from
 * the float softmax. The float probabilities carry a relative rounding of
 * about 6e-8, so the loss (about 1) has a noise of a few 1e-8 and the
 * difference quotient an error of order 1e-8 / 1e-3 = 1e-5; the truncation
 * error h^2 f''' / 6 is below 1e-6 for these smooth losses. The gradients
 * are of order 1e-2, hence the tolerance |fd - g| <= 5e-5 + 1e-2 |fd|.
 * Lovász is piecewise smooth (the sorting order of the errors): a logit
 * step of h moves a probability by at most h/4, so the test first checks
 * that the errors of every class are at least 2h apart, i.e. that every
 * difference quotient stays within one order. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "layers.h"
#include "loss.h"

#define CHECK_OK(x) assert_int_equal((x), UNET_OK)

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static double urand(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return (double)((x * 0x2545f4914f6cdd1dULL) >> 11) / 9007199254740992.0;
}

/* Loss of kind on logits x (softmax taken here, as the net does). */
static double loss_of(int kind, double weight, const float *x, const uint8_t *labels,
                      const float *cw, int batch, int channels, size_t hw, float *grad)
{
    const size_t n = (size_t)batch * (size_t)channels * hw;
    float *probs = malloc(n * sizeof *probs);
    float *scratch = grad ? NULL : malloc(n * sizeof *scratch);
    assert_non_null(probs);
    softmax_channels(x, probs, batch, channels, hw);
    const loss_spec spec = {.kind = kind, .weight = weight};
    double loss = NAN;
    CHECK_OK(loss_compute(&spec, x, probs, labels, cw, 255, batch, channels, hw, &loss,
                          grad ? grad : scratch));
    free(probs);
    free(scratch);
    return loss;
}

/* Smallest gap between the Lovász errors of any present class (counted pixels
 * only; the order of an absent class's errors does not matter). channels <= 8. */
static double min_error_gap(const float *x, const uint8_t *labels, int batch, int channels,
                            size_t hw)
{
    const size_t n = (size_t)batch * (size_t)channels * hw;
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    softmax_channels(x, p, batch, channels, hw);
    double gap = INFINITY;
    const size_t pixels = (size_t)batch * hw;
    int present[8] = {0};
    for (size_t i = 0; i < pixels; i++)
        if (labels[i] < channels)
            present[labels[i]] = 1;
    for (int c = 0; c < channels; c++)
        for (size_t i = 0; present[c] && i < pixels; i++)
            for (size_t j = i + 1; j < pixels; j++) {
                if (labels[i] >= channels || labels[j] >= channels)
                    continue;
                const double pi = p[(i / hw) * channels * hw + (size_t)c * hw + i % hw];
                const double pj = p[(j / hw) * channels * hw + (size_t)c * hw + j % hw];
                const double ei = labels[i] == c ? 1 - pi : pi;
                const double ej = labels[j] == c ? 1 - pj : pj;
                if (fabs(ei - ej) < gap)
                    gap = fabs(ei - ej);
            }
    free(p);
    return gap;
}

/* Central differences on every logit; fails with the worst coordinate. */
static void check_gradient(int kind, double weight, const float *cw, int absent_class,
                           uint64_t seed)
{
    enum { B = 2, C = 4, HW = 6 };
    const double h = 1e-3;
    float x[B * C * HW], g[B * C * HW];
    uint8_t labels[B * HW];
    /* Lovász: draw again (seed + 1, ...) until the errors are 2h apart. */
    const int lovasz = kind == LOSS_LOVASZ || kind == LOSS_CE_LOVASZ;
    for (int attempt = 0;; attempt++) {
        if (attempt == 1000)
            fail_msg("no draw from seed %llu has Lovász errors %g apart",
                     (unsigned long long)seed, 2 * h);
        rng_state = (seed + (uint64_t)attempt) * 0x9e3779b97f4a7c15ULL;
        for (int i = 0; i < B * C * HW; i++)
            x[i] = (float)(-3.0 + 6.0 * urand());
        for (int i = 0; i < B * HW; i++)
            labels[i] = i % 7 == 3 ? 255 : (uint8_t)(urand() * (C - (absent_class ? 1 : 0)));
        if (!lovasz || min_error_gap(x, labels, B, C, HW) > 2 * h)
            break;
    }
    const double l0 = loss_of(kind, weight, x, labels, cw, B, C, HW, g);
    assert_true(isfinite(l0) && l0 > 0);
    /* Ignored pixels get no gradient. */
    for (int i = 0; i < B * HW; i++)
        if (labels[i] == 255)
            for (int c = 0; c < C; c++)
                assert_true(g[(i / HW) * C * HW + c * HW + i % HW] == 0.0f);
    double worst = 0;
    int worst_i = -1;
    double worst_fd = 0, gmax = 0, max_abs = 0;
    for (int i = 0; i < B * C * HW; i++) {
        const float x0 = x[i];
        const float xp = (float)(x0 + h), xm = (float)(x0 - h);
        x[i] = xp;
        const double lp = loss_of(kind, weight, x, labels, cw, B, C, HW, NULL);
        x[i] = xm;
        const double lm = loss_of(kind, weight, x, labels, cw, B, C, HW, NULL);
        x[i] = x0;
        const double fd = (lp - lm) / ((double)xp - (double)xm);
        const double excess = fabs(fd - g[i]) - (5e-5 + 1e-2 * fabs(fd));
        if (fabs(fd - g[i]) > max_abs)
            max_abs = fabs(fd - g[i]);
        if (fabs(g[i]) > gmax)
            gmax = fabs(g[i]);
        if (worst_i < 0 || excess > worst) {
            worst = excess;
            worst_i = i;
            worst_fd = fd;
        }
    }
    print_message("%-9s weights %s%s: largest |fd - analytic| %.2e, largest |gradient| %.2e\n",
                  loss_kind_name(kind), cw ? "yes" : "no ", absent_class ? ", a class absent" : "",
                  max_abs, gmax);
    assert_true(gmax > 1e-3); /* the check looked at a real gradient */
    if (worst > 0)
        fail_msg("%s gradient %d: analytic %.8g, finite difference %.8g",
                 loss_kind_name(kind), worst_i, (double)g[worst_i], worst_fd);
}

static void test_gradients(void **state)
{
    (void)state;
    const float cw[4] = {0.5f, 2.0f, 1.0f, 0.25f};
    for (int kind = LOSS_DICE; kind <= LOSS_CE_LOVASZ; kind++) {
        check_gradient(kind, 1.0, NULL, 0, 11);
        check_gradient(kind, 0.5, cw, 0, 12);
        check_gradient(kind, 1.0, NULL, 1, 13); /* class 3 absent from the labels */
    }
}

/* Logits of a 1 x 2 x 1 x n batch giving probabilities p0[i] for class 0. */
static void two_class_logits(const double *p0, int n, float *x)
{
    for (int i = 0; i < n; i++) {
        x[i] = 0.0f;
        x[n + i] = (float)log((1 - p0[i]) / p0[i]); /* p0 = 1 / (1 + e^x1) */
    }
}

static void test_dice_by_hand(void **state)
{
    (void)state;
    float x[6], g[6], probs[6];
    double loss;
    /* Perfect prediction: every Dice 1, loss 0, gradient 0. */
    const float perfect[4] = {1000.0f, -1000.0f, -1000.0f, 1000.0f};
    const uint8_t lab01[2] = {0, 1};
    softmax_channels(perfect, probs, 1, 2, 2);
    loss = loss_of(LOSS_DICE, 1, perfect, lab01, NULL, 1, 2, 2, g);
    assert_true(fabs(loss) < 1e-12);
    for (int i = 0; i < 4; i++)
        assert_true(fabs(g[i]) < 1e-12);
    /* Probabilities 1/2 everywhere, labels {0, 1}: I_c = 1/2, S_c = 2, D_c = 1/2. */
    const double half[3] = {0.5, 0.5, 0.5};
    two_class_logits(half, 3, x);
    const uint8_t lab_ign[3] = {0, 1, 255};
    loss = loss_of(LOSS_DICE, 1, x, lab_ign, NULL, 1, 2, 3, g);
    assert_true(fabs(loss - 0.5) < 1e-7);
    assert_true(g[2] == 0.0f && g[5] == 0.0f); /* the ignored pixel */
    /* Only class 0 present, labels {0, 0}: I = 1, S = 1 + 2 = 3, loss 1 - 2/3. */
    const uint8_t lab00[2] = {0, 0};
    two_class_logits(half, 2, x);
    loss = loss_of(LOSS_DICE, 1, x, lab00, NULL, 1, 2, 2, g);
    assert_true(fabs(loss - 1.0 / 3.0) < 1e-7);
    /* Class weights (3, 1) with p0 = (0.9, 0.3), labels {0, 1}:
     * D_0 = 2 * 0.9 / (1.2 + 1) = 0.8182, D_1 = 2 * 0.7 / (0.8 + 1) = 0.7778,
     * loss = 1 - (3 D_0 + D_1) / 4. */
    const double p[2] = {0.9, 0.3};
    two_class_logits(p, 2, x);
    const float w31[2] = {3.0f, 1.0f};
    loss = loss_of(LOSS_DICE, 1, x, lab01, w31, 1, 2, 2, g);
    const double want = 1 - (3 * (1.8 / 2.2) + 1.4 / 1.8) / 4;
    assert_true(fabs(loss - want) < 1e-6);
    /* Only ignored pixels: loss 0, no gradient. */
    const uint8_t none[2] = {255, 255};
    loss = loss_of(LOSS_DICE, 1, x, none, NULL, 1, 2, 2, g);
    assert_true(loss == 0.0 && g[0] == 0.0f && g[3] == 0.0f);
}

static void test_lovasz_by_hand(void **state)
{
    (void)state;
    float x[4], g[4];
    double loss;
    /* Labels {0, 0}, p0 = (0.8, 0.6): errors 0.2, 0.4, both foreground; sorted
     * increments of 1 - Jaccard are 1/2, 1/2: loss 0.4/2 + 0.2/2 = 0.3. */
    const uint8_t lab00[2] = {0, 0};
    const double pa[2] = {0.8, 0.6};
    two_class_logits(pa, 2, x);
    loss = loss_of(LOSS_LOVASZ, 1, x, lab00, NULL, 1, 2, 2, g);
    assert_true(fabs(loss - 0.3) < 1e-6);
    /* Labels {0, 1}, p0 = (0.9, 0.3). Class 0: errors 0.1 (fg), 0.3 (bg); the
     * order is bg then fg: J = 1/2, 1: loss 0.3/2 + 0.1/2 = 0.2. Class 1:
     * errors 0.1 (bg), 0.3 (fg); the order fg then bg: J = 1, 1: loss 0.3.
     * Mean 0.25. */
    const uint8_t lab01[2] = {0, 1};
    const double pb[2] = {0.9, 0.3};
    two_class_logits(pb, 2, x);
    loss = loss_of(LOSS_LOVASZ, 1, x, lab01, NULL, 1, 2, 2, g);
    assert_true(fabs(loss - 0.25) < 1e-6);
    /* Weighted mean of the two classes, weights (1, 3): (0.2 + 3 * 0.3) / 4. */
    const float w13[2] = {1.0f, 3.0f};
    loss = loss_of(LOSS_LOVASZ, 1, x, lab01, w13, 1, 2, 2, g);
    assert_true(fabs(loss - 1.1 / 4) < 1e-6);
    /* Equal errors: in both classes 0.3 at a foreground and at a background
     * pixel; either order gives 0.3 (increments 1, 0 or 1/2, 1/2). Mean 0.3. */
    const double pt[2] = {0.7, 0.3};
    two_class_logits(pt, 2, x);
    loss = loss_of(LOSS_LOVASZ, 1, x, lab01, NULL, 1, 2, 2, g);
    assert_true(fabs(loss - 0.3) < 1e-6);
    /* Perfect prediction: 0. */
    const float perfect[4] = {1000.0f, -1000.0f, -1000.0f, 1000.0f};
    loss = loss_of(LOSS_LOVASZ, 1, perfect, lab01, NULL, 1, 2, 2, g);
    assert_true(fabs(loss) < 1e-12);
}

static void test_combined_and_names(void **state)
{
    (void)state;
    enum { N = 2 * 3 * 5 };
    float x[N], gce[N], gr[N], gsum[N];
    uint8_t labels[10] = {0, 1, 2, 255, 1, 0, 0, 2, 1, 255};
    rng_state = 5;
    for (int i = 0; i < N; i++)
        x[i] = (float)(-2 + 4 * urand());
    const double ce = loss_of(LOSS_CE, 0.25, x, labels, NULL, 2, 3, 5, gce);
    const double dice = loss_of(LOSS_DICE, 0.25, x, labels, NULL, 2, 3, 5, gr);
    const double both = loss_of(LOSS_CE_DICE, 0.25, x, labels, NULL, 2, 3, 5, gsum);
    assert_true(fabs(both - (ce + 0.25 * dice)) < 1e-9);
    for (int i = 0; i < N; i++)
        assert_true(fabs(gsum[i] - (gce[i] + 0.25f * gr[i])) < 1e-6);
    for (int k = LOSS_CE; k <= LOSS_CE_LOVASZ; k++)
        assert_int_equal(loss_kind_from_name(loss_kind_name(k)), k);
    assert_int_equal(loss_kind_from_name("focal"), -1);
    assert_true(loss_has_ce(LOSS_CE_LOVASZ) && !loss_has_ce(LOSS_LOVASZ));
    assert_true(loss_has_region(LOSS_DICE) && !loss_has_region(LOSS_CE));
    /* A negative class weight is refused, as cross-entropy refuses it. */
    float probs[N];
    softmax_channels(x, probs, 2, 3, 5);
    const float neg[3] = {1, -1, 1};
    const loss_spec lovasz = {.kind = LOSS_LOVASZ};
    double loss;
    assert_int_equal(loss_compute(&lovasz, x, probs, labels, neg, 255, 2, 3, 5, &loss, gr),
                     UNET_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dice_by_hand),
        cmocka_unit_test(test_lovasz_by_hand),
        cmocka_unit_test(test_combined_and_names),
        cmocka_unit_test(test_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
