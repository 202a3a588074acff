/* Gradient checks of the trainer's layers and U-Net against central finite
 * differences, and of the U-Net forward against a naive loop implementation.
 *
 * Layer checks wrap one layer (or a short chain) in a layer plan with plain
 * inputs and the loss L = sum_i out_i * r_i for a fixed random r, so the output
 * gradient is r. Every input and parameter coordinate is checked; the finite
 * difference divides by the perturbation actually stored in float. Inputs are
 * chosen away from ReLU kinks and max-pool ties, so every coordinate must pass.
 * The whole-network checks sample coordinates and, because a perturbation can
 * still cross a kink there, require 95% of them within tolerance and a small
 * median error.
 *
 * Over 800 lines on purpose: every layer family's check runs through the
 * same finite-difference harness and layer-plan wrapper defined first. */
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
#include "net_ext.h"

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static double urand(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return (double)((x * 0x2545f4914f6cdd1dULL) >> 11) / 9007199254740992.0;
}

static float frand(float lo, float hi) { return (float)(lo + (hi - lo) * urand()); }

static void fill(float *v, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        v[i] = frand(lo, hi);
}

/* Values with |v| in [0.1, 1] and random sign: at least 0.1 from a ReLU kink. */
static void fill_away_from_zero(float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (urand() < 0.5 ? -1.0f : 1.0f) * frand(0.1f, 1.0f);
}

#define CHECK_OK(expr)                                                                    \
    do {                                                                                  \
        unet_status s_ = (expr);                                                          \
        if (s_ != UNET_OK)                                                                \
            fail_msg("%s failed: %s (%s)", #expr, unet_status_name(s_), unet_last_error()); \
    } while (0)

/* ---------------------------------------------------------- layer harness */

#define H_MAX_IN 2
#define H_MAX_PARAMS 4

typedef struct harness {
    layer_plan *p;
    int n_in;
    lp_tensor *in[H_MAX_IN];      /* plain inputs */
    float *in_vals[H_MAX_IN];     /* their values (copied in before each run) */
    size_t in_n[H_MAX_IN];
    lp_tensor *din[H_MAX_IN];     /* plain input gradients */
    lp_tensor *out_plain, *dout;  /* plain output and its gradient r */
    float *r;
    size_t out_n;
    int n_params;
    float *param[H_MAX_PARAMS], *grad[H_MAX_PARAMS];
    size_t param_n[H_MAX_PARAMS];
    const char *param_name[H_MAX_PARAMS];
} harness;

static void h_init(harness *h)
{
    memset(h, 0, sizeof *h);
    CHECK_OK(lp_create(&h->p));
}

static lp_tensor *h_input(harness *h, dnnl_dim_t n, dnnl_dim_t c, dnnl_dim_t y, dnnl_dim_t x)
{
    const dnnl_dims_t dims = {n, c, y, x};
    dnnl_memory_desc_t md;
    lp_plain_md(&md, 4, dims);
    const int i = h->n_in++;
    CHECK_OK(lp_tensor_new(h->p, &md, "test.input", &h->in[i]));
    lp_pin(h->in[i]);
    h->in_n[i] = (size_t)(n * c * y * x);
    h->in_vals[i] = calloc(h->in_n[i], sizeof(float));
    assert_non_null(h->in_vals[i]);
    return h->in[i];
}

/* A parameter array owned by the harness, filled uniformly in [lo, hi). */
static float *h_param(harness *h, const char *name, size_t n, float lo, float hi, float **grad)
{
    const int i = h->n_params++;
    h->param[i] = malloc(n * sizeof(float));
    h->grad[i] = calloc(n, sizeof(float));
    assert_non_null(h->param[i]);
    assert_non_null(h->grad[i]);
    fill(h->param[i], n, lo, hi);
    h->param_n[i] = n;
    h->param_name[i] = name;
    *grad = h->grad[i];
    return h->param[i];
}

/* After the forward layers: reorders y to plain and creates the gradient r. */
static lp_tensor *h_output(harness *h, lp_tensor *y)
{
    dnnl_memory_desc_t md;
    lp_plain_md(&md, y->md.ndims, y->md.dims);
    CHECK_OK(lp_tensor_new(h->p, &md, "test.out", &h->out_plain));
    CHECK_OK(lp_add_reorder(h->p, LP_FWD, LP_ALWAYS, y, h->out_plain, "test.out"));
    CHECK_OK(lp_tensor_new(h->p, &md, "test.out.grad", &h->dout));
    lp_pin(h->out_plain); /* read and written outside the plan */
    lp_pin(h->dout);
    h->out_n = lp_nfloats(h->out_plain);
    h->r = malloc(h->out_n * sizeof(float));
    assert_non_null(h->r);
    fill(h->r, h->out_n, -1.0f, 1.0f);
    return h->dout;
}

/* After the backward layers: reorders the input gradient dx to plain. */
static void h_input_grad(harness *h, int i, lp_tensor *dx)
{
    dnnl_memory_desc_t md;
    lp_plain_md(&md, 4, h->in[i]->md.dims);
    CHECK_OK(lp_tensor_new(h->p, &md, "test.input.grad", &h->din[i]));
    lp_pin(h->din[i]);
    CHECK_OK(lp_add_reorder(h->p, LP_BWD, LP_ALWAYS, dx, h->din[i], "test.input.grad"));
}

static double h_loss(harness *h, int mode)
{
    for (int i = 0; i < h->n_in; i++)
        memcpy(lp_data(h->in[i]), h->in_vals[i], h->in_n[i] * sizeof(float));
    CHECK_OK(lp_run(h->p, LP_FWD, mode));
    const float *y = lp_data(h->out_plain);
    double l = 0;
    for (size_t i = 0; i < h->out_n; i++)
        l += (double)y[i] * h->r[i];
    return l;
}

static void h_backward(harness *h)
{
    (void)h_loss(h, LP_TRAIN);
    memcpy(lp_data(h->dout), h->r, h->out_n * sizeof(float));
    CHECK_OK(lp_run(h->p, LP_BWD, LP_ALWAYS));
}

/* Central difference of the loss w.r.t. *v, dividing by the float step taken. */
static double h_fd(harness *h, float *v, float eps)
{
    const float v0 = *v, vp = v0 + eps, vm = v0 - eps;
    *v = vp;
    const double lp = h_loss(h, LP_TRAIN);
    *v = vm;
    const double lm = h_loss(h, LP_TRAIN);
    *v = v0;
    return (lp - lm) / ((double)vp - (double)vm);
}

/* Every coordinate of v against its analytic gradient g (copied first, since
 * the finite differences re-run the plan). */
static void h_check_all(harness *h, const char *what, float *v, const float *g, size_t n,
                        float eps, double rtol, double atol)
{
    float *an = malloc(n * sizeof(float));
    assert_non_null(an);
    memcpy(an, g, n * sizeof(float));
    int bad = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        const double fd = h_fd(h, &v[i], eps);
        const double err = fabs(fd - an[i]);
        const double lim = atol + rtol * fabs(fd);
        if (err / lim > worst)
            worst = err / lim;
        if (!(err <= lim)) {
            if (bad < 5)
                print_message("%s[%zu]: analytic %.7g, finite difference %.7g\n", what, i,
                              (double)an[i], fd);
            bad++;
        }
    }
    free(an);
    if (bad)
        fail_msg("%s: %d of %zu coordinates off (worst error/limit %.3g)", what, bad, n, worst);
}

/* Checks all inputs and parameters. */
static void h_check(harness *h, float eps, double rtol, double atol)
{
    h_backward(h);
    for (int i = 0; i < h->n_in; i++)
        if (h->din[i])
            h_check_all(h, "input gradient", h->in_vals[i], lp_data(h->din[i]), h->in_n[i], eps,
                        rtol, atol);
    for (int i = 0; i < h->n_params; i++)
        h_check_all(h, h->param_name[i], h->param[i], h->grad[i], h->param_n[i], eps, rtol, atol);
}

static void h_free(harness *h)
{
    lp_free(h->p);
    for (int i = 0; i < h->n_in; i++)
        free(h->in_vals[i]);
    for (int i = 0; i < h->n_params; i++) {
        free(h->param[i]);
        free(h->grad[i]);
    }
    free(h->r);
}

/* ------------------------------------------------------------ layer tests */

static void conv_case(int transposed, int n, int ic, int hgt, int wid, int oc, int k, int stride,
                      int pad)
{
    harness h;
    h_init(&h);
    lp_tensor *x = h_input(&h, n, ic, hgt, wid);
    fill(h.in_vals[0], h.in_n[0], -1.0f, 1.0f);
    float *dw, *db;
    conv_spec spec = {.name = transposed ? "test.deconv" : "test.conv", .transposed = transposed,
                      .out_channels = oc, .kernel = k, .stride = stride, .pad = pad};
    spec.weight = h_param(&h, "weight", (size_t)(oc * ic * k * k), -0.5f, 0.5f, &dw);
    spec.bias = h_param(&h, "bias", (size_t)oc, -0.5f, 0.5f, &db);
    spec.dweight = dw;
    spec.dbias = db;
    conv_layer *l;
    lp_tensor *y, *dx;
    CHECK_OK(conv_layer_create(h.p, &spec, x, &l, &y));
    lp_tensor *dy = h_output(&h, y);
    CHECK_OK(conv_layer_backward(h.p, l, dy, &dx));
    h_input_grad(&h, 0, dx);
    CHECK_OK(lp_finalize(h.p));
    /* Linear in every input and parameter: a large step is exact up to rounding. */
    h_check(&h, 0.25f, 1e-3, 1e-4);
    h_free(&h);
}

static void test_conv_layer(void **state)
{
    (void)state;
    conv_case(0, 2, 3, 6, 5, 5, 3, 1, 1);   /* plain-layout first layer */
    conv_case(0, 2, 8, 4, 4, 16, 3, 1, 1);  /* blocked layouts */
    conv_case(0, 1, 16, 3, 3, 6, 1, 1, 0);  /* the 1x1 head */
}

static void test_deconv_layer(void **state)
{
    (void)state;
    conv_case(1, 2, 4, 3, 3, 3, 2, 2, 0);
    conv_case(1, 2, 16, 2, 3, 8, 2, 2, 0);
}

static void test_pool_layer(void **state)
{
    (void)state;
    harness h;
    h_init(&h);
    lp_tensor *x = h_input(&h, 2, 3, 6, 4);
    /* Distinct values at least 0.05 apart, so a step of 0.01 never changes a max. */
    const size_t n = h.in_n[0];
    for (size_t i = 0; i < n; i++)
        h.in_vals[0][i] = 0.05f * (float)i - 1.0f;
    for (size_t i = n - 1; i > 0; i--) { /* shuffle */
        const size_t j = (size_t)(urand() * (double)(i + 1));
        const float t = h.in_vals[0][i];
        h.in_vals[0][i] = h.in_vals[0][j];
        h.in_vals[0][j] = t;
    }
    pool_layer *l;
    lp_tensor *y, *dx;
    CHECK_OK(pool_layer_create(h.p, "test.pool", x, &l, &y));
    assert_int_equal(y->md.dims[2], 3);
    assert_int_equal(y->md.dims[3], 2);
    lp_tensor *dy = h_output(&h, y);
    CHECK_OK(pool_layer_backward(h.p, l, dy, &dx));
    h_input_grad(&h, 0, dx);
    CHECK_OK(lp_finalize(h.p));
    h_check(&h, 0.01f, 1e-3, 1e-4);
    /* Forward against a naive max. */
    (void)h_loss(&h, LP_TRAIN);
    const float *out = lp_data(h.out_plain);
    for (int i = 0; i < 2 * 3 * 3 * 2; i++) {
        const int ox = i % 2, oy = (i / 2) % 3, nc = i / 6;
        const float *src = h.in_vals[0] + nc * 24;
        float m = -1e30f;
        for (int dy2 = 0; dy2 < 2; dy2++)
            for (int dx2 = 0; dx2 < 2; dx2++)
                m = fmaxf(m, src[(2 * oy + dy2) * 4 + 2 * ox + dx2]);
        assert_true(out[i] == m);
    }
    h_free(&h);
}

static void test_relu_layer(void **state)
{
    (void)state;
    harness h;
    h_init(&h);
    lp_tensor *x = h_input(&h, 2, 3, 4, 4);
    fill_away_from_zero(h.in_vals[0], h.in_n[0]);
    relu_layer *l;
    lp_tensor *dx;
    CHECK_OK(relu_layer_create(h.p, "test.relu", x, &l));
    lp_tensor *dy = h_output(&h, x);
    CHECK_OK(relu_layer_backward(h.p, l, dy, &dx));
    h_input_grad(&h, 0, dx);
    CHECK_OK(lp_finalize(h.p));
    h_check(&h, 0.01f, 1e-4, 1e-5);
    (void)h_loss(&h, LP_TRAIN);
    const float *out = lp_data(h.out_plain);
    for (size_t i = 0; i < h.in_n[0]; i++)
        assert_true(out[i] == fmaxf(h.in_vals[0][i], 0.0f));
    h_free(&h);
}

/* conv -> BN -> ReLU on blocked layouts, plus BN alone on a plain input. */
static void test_bn_layer(void **state)
{
    (void)state;
    for (int with_conv = 0; with_conv < 2; with_conv++) {
        harness h;
        h_init(&h);
        const int c = with_conv ? 8 : 3;
        lp_tensor *x = h_input(&h, 2, with_conv ? 4 : 3, 4, 3), *t = x;
        fill(h.in_vals[0], h.in_n[0], -1.0f, 1.0f);
        conv_layer *cl = NULL;
        float *g;
        if (with_conv) {
            float *dw, *db;
            conv_spec spec = {.name = "test.conv", .out_channels = c, .kernel = 3, .stride = 1,
                              .pad = 1};
            spec.weight = h_param(&h, "conv.weight", (size_t)(c * 4 * 9), -0.5f, 0.5f, &dw);
            spec.bias = h_param(&h, "conv.bias", (size_t)c, -0.5f, 0.5f, &db);
            spec.dweight = dw;
            spec.dbias = db;
            CHECK_OK(conv_layer_create(h.p, &spec, x, &cl, &t));
        }
        float rmean[8], rvar[8];
        for (int i = 0; i < c; i++) {
            rmean[i] = 0.5f;
            rvar[i] = 2.0f;
        }
        bn_spec spec = {.name = "test.bn", .epsilon = NET_BN_EPSILON, .momentum = 0.1f,
                        .running_mean = rmean, .running_var = rvar};
        spec.scale = h_param(&h, "bn.scale", (size_t)c, 0.5f, 1.5f, &g);
        spec.dscale = g;
        spec.shift = h_param(&h, "bn.shift", (size_t)c, -0.5f, 0.5f, &g);
        spec.dshift = g;
        bn_layer *bl;
        lp_tensor *y, *d;
        CHECK_OK(bn_layer_create(h.p, &spec, t, &bl, &y));
        lp_tensor *dy = h_output(&h, y);
        CHECK_OK(bn_layer_backward(h.p, bl, dy, &d));
        if (cl)
            CHECK_OK(conv_layer_backward(h.p, cl, d, &d));
        h_input_grad(&h, 0, d);
        CHECK_OK(lp_finalize(h.p));

        /* Forward and running statistics against a naive computation (BN alone). */
        if (!with_conv) {
            (void)h_loss(&h, LP_TRAIN);
            const float *out = lp_data(h.out_plain);
            const int hw = 12, m = 2 * hw;
            for (int ch = 0; ch < c; ch++) {
                double s = 0, s2 = 0;
                for (int n = 0; n < 2; n++)
                    for (int i = 0; i < hw; i++)
                        s += h.in_vals[0][(n * c + ch) * hw + i];
                const double mean = s / m;
                for (int n = 0; n < 2; n++)
                    for (int i = 0; i < hw; i++) {
                        const double dv = h.in_vals[0][(n * c + ch) * hw + i] - mean;
                        s2 += dv * dv;
                    }
                const double var = s2 / m;
                for (int n = 0; n < 2; n++)
                    for (int i = 0; i < hw; i++) {
                        const int k = (n * c + ch) * hw + i;
                        const double want = spec.scale[ch] * (h.in_vals[0][k] - mean) /
                                                sqrt(var + NET_BN_EPSILON) +
                                            spec.shift[ch];
                        assert_true(fabs(out[k] - want) < 1e-5);
                    }
                /* one update from (0.5, 2): unbiased variance for the running value */
                assert_true(fabs(rmean[ch] - (0.9 * 0.5 + 0.1 * mean)) < 1e-6);
                assert_true(fabs(rvar[ch] - (0.9 * 2.0 + 0.1 * var * m / (m - 1))) < 1e-5);
            }
            /* Inference uses the running statistics. */
            rmean[0] = 0.25f;
            rvar[0] = 4.0f;
            (void)h_loss(&h, LP_INFER);
            const double want0 = spec.scale[0] * (h.in_vals[0][0] - 0.25) /
                                     sqrt(4.0 + NET_BN_EPSILON) + spec.shift[0];
            assert_true(fabs(out[0] - want0) < 1e-5);
        }
        /* BN is nonlinear in its input: a small step, looser tolerance. */
        h_check(&h, 4e-3f, 1e-2, 2e-3);
        h_free(&h);
    }
}

/* conv(a) and conv(b) concatenated: channel splits 4+4 (inside one 8-channel
 * block) and 8+8 (block aligned), then a plain 3+2 split. */
static void concat_case(int ca, int cb, int via_conv)
{
    harness h;
    h_init(&h);
    lp_tensor *a = h_input(&h, 2, via_conv ? 3 : ca, 4, 4);
    lp_tensor *b = h_input(&h, 2, via_conv ? 3 : cb, 4, 4);
    fill(h.in_vals[0], h.in_n[0], -1.0f, 1.0f);
    fill(h.in_vals[1], h.in_n[1], -1.0f, 1.0f);
    lp_tensor *ta = a, *tb = b;
    conv_layer *la = NULL, *lb = NULL;
    if (via_conv) {
        float *dw, *db;
        conv_spec sa = {.name = "test.conv_a", .out_channels = ca, .kernel = 3, .stride = 1,
                        .pad = 1};
        sa.weight = h_param(&h, "a.weight", (size_t)(ca * 3 * 9), -0.5f, 0.5f, &dw);
        sa.dweight = dw;
        sa.bias = h_param(&h, "a.bias", (size_t)ca, -0.5f, 0.5f, &db);
        sa.dbias = db;
        conv_spec sb = sa;
        sb.name = "test.conv_b";
        sb.out_channels = cb;
        sb.weight = h_param(&h, "b.weight", (size_t)(cb * 3 * 9), -0.5f, 0.5f, &dw);
        sb.dweight = dw;
        sb.bias = h_param(&h, "b.bias", (size_t)cb, -0.5f, 0.5f, &db);
        sb.dbias = db;
        CHECK_OK(conv_layer_create(h.p, &sa, a, &la, &ta));
        CHECK_OK(conv_layer_create(h.p, &sb, b, &lb, &tb));
    }
    concat_layer *l;
    lp_tensor *y, *da, *db2;
    CHECK_OK(concat_layer_create(h.p, "test.concat", ta, tb, &l, &y));
    assert_int_equal(y->md.dims[1], ca + cb);
    lp_tensor *dy = h_output(&h, y);
    CHECK_OK(concat_layer_backward(h.p, l, dy, &da, &db2));
    if (via_conv) {
        CHECK_OK(conv_layer_backward(h.p, la, da, &da));
        CHECK_OK(conv_layer_backward(h.p, lb, db2, &db2));
    }
    h_input_grad(&h, 0, da);
    h_input_grad(&h, 1, db2);
    CHECK_OK(lp_finalize(h.p));
    h_check(&h, 0.25f, 1e-3, 1e-4);
    if (!via_conv) { /* forward order: a's channels, then b's */
        (void)h_loss(&h, LP_TRAIN);
        const float *out = lp_data(h.out_plain);
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < ca + cb; c++)
                for (int i = 0; i < 16; i++) {
                    const float want = c < ca ? h.in_vals[0][(n * ca + c) * 16 + i]
                                              : h.in_vals[1][(n * cb + c - ca) * 16 + i];
                    assert_true(out[(n * (ca + cb) + c) * 16 + i] == want);
                }
    }
    h_free(&h);
}

static void test_concat_layer(void **state)
{
    (void)state;
    concat_case(4, 4, 1);
    concat_case(8, 8, 1);
    concat_case(3, 3, 0);
}

static void test_dropout_layer(void **state)
{
    (void)state;
    harness h;
    h_init(&h);
    lp_tensor *x = h_input(&h, 2, 4, 8, 8);
    fill(h.in_vals[0], h.in_n[0], 0.5f, 1.5f);
    const uint64_t seed = 42, counter = 3;
    dropout_layer *l;
    lp_tensor *dx;
    CHECK_OK(dropout_layer_create(h.p, "test.dropout", x, 0.25f, &seed, &counter, &l));
    lp_tensor *dy = h_output(&h, x);
    CHECK_OK(dropout_layer_backward(h.p, l, dy, &dx));
    h_input_grad(&h, 0, dx);
    CHECK_OK(lp_finalize(h.p));
    h_check(&h, 0.25f, 1e-5, 1e-6);
    /* Each output is 0 or input / 0.75; about a quarter are dropped; inference passes. */
    (void)h_loss(&h, LP_TRAIN);
    const float *out = lp_data(h.out_plain);
    size_t dropped = 0;
    for (size_t i = 0; i < h.in_n[0]; i++) {
        if (out[i] == 0.0f)
            dropped++;
        else
            assert_true(fabsf(out[i] - h.in_vals[0][i] / 0.75f) < 1e-6f);
    }
    assert_true(dropped > h.in_n[0] * 0.18 && dropped < h.in_n[0] * 0.32);
    (void)h_loss(&h, LP_INFER);
    for (size_t i = 0; i < h.in_n[0]; i++)
        assert_true(out[i] == h.in_vals[0][i]);
    h_free(&h);
}

static void test_softmax_ce(void **state)
{
    (void)state;
    /* By hand: logits (0, ln 3) -> p = (1/4, 3/4); label 1 weighs 2, label 0 weighs 1. */
    const float lg[4] = {0.0f, 0.0f, logf(3.0f), 0.0f}; /* 1 x 2 x 1 x 2, NCHW */
    const uint8_t lab[2] = {1, 0};
    const float w[2] = {1.0f, 2.0f};
    float g[4], pr[4];
    double loss;
    CHECK_OK(softmax_ce(lg, lab, w, 255, 1, 2, 2, &loss, g));
    const double want = (2.0 * -log(0.75) + 1.0 * -log(0.5)) / 3.0;
    assert_true(fabs(loss - want) < 1e-6);
    assert_true(fabs(g[0] - 2.0 / 3.0 * 0.25) < 1e-6);  /* pixel 0, class 0: (p - 0) w / sum_w */
    assert_true(fabs(g[2] - 2.0 / 3.0 * -0.25) < 1e-6); /* pixel 0, class 1: (p - 1) w / sum_w */
    assert_true(fabs(g[1] - 1.0 / 3.0 * -0.5) < 1e-6);
    softmax_channels(lg, pr, 1, 2, 2);
    assert_true(fabs(pr[0] - 0.25) < 1e-6 && fabs(pr[2] - 0.75) < 1e-6);
    assert_true(fabs(pr[1] - 0.5) < 1e-6 && fabs(pr[3] - 0.5) < 1e-6);
    /* Large logits stay finite. */
    const float big[2] = {1000.0f, -1000.0f};
    const uint8_t lab1 = 1;
    CHECK_OK(softmax_ce(big, &lab1, NULL, 255, 1, 2, 1, &loss, g));
    assert_true(fabs(loss - 2000.0) < 1e-3);
    /* Negative weights are refused. */
    const float neg[2] = {1.0f, -1.0f};
    assert_int_equal(softmax_ce(lg, lab, neg, 255, 1, 2, 2, &loss, g), UNET_ERR_ARG);

    /* Finite differences: 2 x 4 x 3 x 5, class weights with a zero, ignored and
     * out-of-range labels. */
    enum { B = 2, C = 4, HW = 15 };
    float x[B * C * HW], d[B * C * HW], d2[B * C * HW];
    uint8_t labels[B * HW];
    const float cw[C] = {0.5f, 2.0f, 1.0f, 0.0f};
    fill(x, B * C * HW, -3.0f, 3.0f);
    for (int i = 0; i < B * HW; i++)
        labels[i] = (uint8_t)(i % 7 == 3 ? 255 : i % 11 == 5 ? 9 : (int)(urand() * C));
    CHECK_OK(softmax_ce(x, labels, cw, 255, B, C, HW, &loss, d));
    int zero_pixels = 0;
    for (int n = 0; n < B; n++)
        for (int i = 0; i < HW; i++) {
            const int y = labels[n * HW + i];
            if (y == 255 || y >= C || cw[y] == 0.0f) {
                zero_pixels++;
                for (int c = 0; c < C; c++)
                    assert_true(d[(n * C + c) * HW + i] == 0.0f);
            }
        }
    assert_true(zero_pixels > 0);
    for (int i = 0; i < B * C * HW; i++) {
        const float x0 = x[i], xp = x0 + 1e-2f, xm = x0 - 1e-2f;
        double lp, lm;
        x[i] = xp;
        CHECK_OK(softmax_ce(x, labels, cw, 255, B, C, HW, &lp, d2));
        x[i] = xm;
        CHECK_OK(softmax_ce(x, labels, cw, 255, B, C, HW, &lm, d2));
        x[i] = x0;
        const double fd = (lp - lm) / ((double)xp - (double)xm);
        if (!(fabs(fd - d[i]) <= 1e-6 + 2e-3 * fabs(fd)))
            fail_msg("softmax_ce gradient %d: analytic %.8g, finite difference %.8g", i,
                     (double)d[i], fd);
    }
}

/* ------------------------------------------------------- whole-network FD */

static void perturb_params(unet_params *ps)
{
    /* Non-trivial biases and BN affine parameters so their gradients are tested
     * away from the symmetric starting point. */
    for (int i = 0; i < ps->n; i++) {
        net_param *p = &ps->p[i];
        for (size_t j = 0; j < p->count; j++) {
            if (p->kind == NET_PARAM_BIAS || p->kind == NET_PARAM_BN_SHIFT)
                p->data[j] = frand(-0.1f, 0.1f);
            else if (p->kind == NET_PARAM_BN_SCALE)
                p->data[j] = frand(0.7f, 1.3f);
        }
    }
}

typedef struct net_case {
    unet_net *net;
    const uint8_t *labels;
    const float *input, *weights;
    int dropout;
} net_case;

static double net_case_loss(net_case *c)
{
    if (c->dropout)
        net_set_dropout_state(c->net, 99, 5); /* the same mask for every evaluation */
    CHECK_OK(net_forward(c->net, c->input, 1));
    double loss;
    CHECK_OK(net_loss(c->net, c->labels, c->weights, 255, &loss));
    return loss;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void net_fd_case(int batchnorm, float dropout)
{
    const unet_arch arch = {.in_channels = 3, .n_classes = 3, .depth = 2, .base_filters = 4,
                            .batchnorm = batchnorm, .dropout = dropout};
    enum { N = 2, H = 16, W = 16 };
    unet_params *ps;
    CHECK_OK(params_create(&arch, &ps));
    params_init_he(ps, 1234 + (uint64_t)batchnorm);
    perturb_params(ps);
    unet_net *net;
    CHECK_OK(net_create(ps, N, H, W, &net));
    float *input = malloc(sizeof(float) * N * 3 * H * W);
    uint8_t labels[N * H * W];
    assert_non_null(input);
    fill(input, (size_t)N * 3 * H * W, 0.0f, 1.0f);
    for (int i = 0; i < N * H * W; i++)
        labels[i] = (uint8_t)(i % 13 == 0 ? 255 : (int)(urand() * 3));
    const float weights[3] = {1.0f, 2.0f, 0.5f};
    net_case c = {net, labels, input, weights, dropout > 0};

    (void)net_case_loss(&c);
    CHECK_OK(net_backward(net));
    /* Sample 4 coordinates of every trainable parameter. */
    enum { PER_PARAM = 4 };
    const int max_checks = ps->n * PER_PARAM;
    double *errs = malloc(sizeof(double) * (size_t)max_checks);
    float *an = malloc(sizeof(float) * (size_t)max_checks);
    int *which = malloc(sizeof(int) * (size_t)max_checks);
    size_t *coord = malloc(sizeof(size_t) * (size_t)max_checks);
    assert_true(errs && an && which && coord);
    int m = 0;
    for (int i = 0; i < ps->n; i++) {
        if (!ps->p[i].trainable)
            continue;
        for (int k = 0; k < PER_PARAM; k++) {
            which[m] = i;
            coord[m] = (size_t)(urand() * (double)ps->p[i].count);
            an[m] = ps->p[i].grad[coord[m]];
            m++;
        }
    }
    /* In float a step must be large enough to rise above rounding, and then it
     * often crosses a ReLU kink or changes a max-pool winner somewhere in the
     * net, which bends the difference quotient. So this check is statistical:
     * 6 in 7 coordinates within 5% and a median error under 1.5%. (The strict
     * per-coordinate check is test_unet_gradients_vs_naive, in double.) */
    const float eps = 5e-4f;
    int bad = 0;
    for (int k = 0; k < m; k++) {
        float *v = &ps->p[which[k]].data[coord[k]];
        const float v0 = *v, vp = v0 + eps, vm = v0 - eps;
        *v = vp;
        const double lp = net_case_loss(&c);
        *v = vm;
        const double lm = net_case_loss(&c);
        *v = v0;
        const double fd = (lp - lm) / ((double)vp - (double)vm);
        /* relative, with a floor of 2e-3 (about 10x the rounding noise of fd) */
        errs[k] = fabs(fd - an[k]) / fmax(fmax(fabs(fd), fabs(an[k])), 2e-3);
        if (errs[k] > 5e-2) {
            if (bad < 4)
                print_message("  %s[%zu]: analytic %.6g, finite difference %.6g\n",
                              ps->p[which[k]].name, coord[k], (double)an[k], fd);
            bad++;
        }
    }
    qsort(errs, (size_t)m, sizeof *errs, cmp_double);
    const double median = errs[m / 2];
    print_message("U-Net (batchnorm %d, dropout %.2f): %d coordinates, %d off by more than 5%%, "
                  "median relative error %.2g\n", batchnorm, (double)dropout, m, bad, median);
    assert_true(bad <= m / 7);
    assert_true(median < 1.5e-2);
    free(errs);
    free(an);
    free(which);
    free(coord);
    free(input);
    net_free(net);
    params_free(ps);
}

static void test_unet_gradients(void **state)
{
    (void)state;
    net_fd_case(0, 0.0f);
}

static void test_unet_gradients_bn(void **state)
{
    (void)state;
    net_fd_case(1, 0.0f);
}

static void test_unet_gradients_dropout(void **state)
{
    (void)state;
    net_fd_case(1, 0.3f);
}

/* ------------------------------------------------ naive double reference */

/* out[n][o][y][x] = b[o] + sum w[o][i][ky][kx] in[n][i][y+ky-p][x+kx-p], p = k / 2 */
static void naive_conv(const double *in, int n, int ci, int h, int w, const float *wt,
                       const float *b, int co, int k, double *out)
{
    const int p = k / 2;
    for (int b0 = 0; b0 < n; b0++)
        for (int o = 0; o < co; o++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    double s = b[o];
                    for (int i = 0; i < ci; i++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                const int yy = y + ky - p, xx = x + kx - p;
                                if (yy < 0 || yy >= h || xx < 0 || xx >= w)
                                    continue;
                                s += wt[((o * ci + i) * k + ky) * k + kx] *
                                     in[((b0 * ci + i) * h + yy) * w + xx];
                            }
                    out[((b0 * co + o) * h + y) * w + x] = s;
                }
}

static const float *pdata(unet_params *ps, const char *name)
{
    net_param *p = params_find(ps, name);
    if (!p)
        fail_msg("parameter %s missing", name);
    return p->data;
}

enum { BN_NONE, BN_RUNNING, BN_BATCH };

/* [BN] then ReLU in place. BN_BATCH normalises with the batch mean and biased
 * variance (training), BN_RUNNING with the stored running statistics. */
static void naive_bn_relu(double *v, int n, int c, int hw, unet_params *ps, const char *prefix,
                          int bn)
{
    char nm[64];
    const float *sc = NULL, *sh = NULL, *mu = NULL, *var = NULL;
    if (bn != BN_NONE) {
        snprintf(nm, sizeof nm, "%s.scale", prefix);
        sc = pdata(ps, nm);
        snprintf(nm, sizeof nm, "%s.shift", prefix);
        sh = pdata(ps, nm);
        snprintf(nm, sizeof nm, "%s.mean", prefix);
        mu = pdata(ps, nm);
        snprintf(nm, sizeof nm, "%s.var", prefix);
        var = pdata(ps, nm);
    }
    for (int ch = 0; ch < c; ch++) {
        double mean = 0, vr = 1;
        if (bn == BN_RUNNING) {
            mean = mu[ch];
            vr = var[ch];
        } else if (bn == BN_BATCH) {
            double s = 0, s2 = 0;
            for (int b = 0; b < n; b++)
                for (int i = 0; i < hw; i++)
                    s += v[(b * c + ch) * hw + i];
            mean = s / (n * hw);
            for (int b = 0; b < n; b++)
                for (int i = 0; i < hw; i++) {
                    const double d = v[(b * c + ch) * hw + i] - mean;
                    s2 += d * d;
                }
            vr = s2 / (n * hw);
        }
        for (int b = 0; b < n; b++)
            for (int i = 0; i < hw; i++) {
                double *x = &v[(b * c + ch) * hw + i];
                if (bn != BN_NONE)
                    *x = sc[ch] * (*x - mean) / sqrt(vr + (double)NET_BN_EPSILON) + sh[ch];
                if (*x < 0)
                    *x = 0;
            }
    }
}

/* Two conv3x3 + [BN] + ReLU of a level; tmp holds n * co * h * w doubles. */
static void naive_block(unet_params *ps, const char *lvl, const double *in, int n, int ci, int h,
                        int w, int co, int bn, double *tmp, double *out)
{
    char a[64], b[64];
    snprintf(a, sizeof a, "%s.conv1.weight", lvl);
    snprintf(b, sizeof b, "%s.conv1.bias", lvl);
    naive_conv(in, n, ci, h, w, pdata(ps, a), pdata(ps, b), co, 3, tmp);
    snprintf(a, sizeof a, "%s.bn1", lvl);
    naive_bn_relu(tmp, n, co, h * w, ps, a, bn);
    snprintf(a, sizeof a, "%s.conv2.weight", lvl);
    snprintf(b, sizeof b, "%s.conv2.bias", lvl);
    naive_conv(tmp, n, co, h, w, pdata(ps, a), pdata(ps, b), co, 3, out);
    snprintf(a, sizeof a, "%s.bn2", lvl);
    naive_bn_relu(out, n, co, h * w, ps, a, bn);
}

static double *dalloc(size_t n)
{
    double *p = malloc(n * sizeof(double));
    assert_non_null(p);
    return p;
}

/* The whole U-Net in naive double loops (no dropout); logits is
 * N x classes x H x W. */
static void naive_unet(unet_params *ps, const float *input, int n, int h, int w, int bn,
                       double *logits)
{
    const unet_arch *a = &ps->arch;
    const int d = a->depth, f0 = a->base_filters;
    const size_t cap = (size_t)n * (size_t)(4 * f0 + 16 + a->in_channels) * h * w;
    double *skip[8], *x = dalloc(cap), *tmp = dalloc(cap), *y = dalloc(cap);
    char lvl[32];
    for (int i = 0; i < n * a->in_channels * h * w; i++)
        x[i] = input[i];
    int c = a->in_channels;
    for (int l = 0; l < d; l++) {
        const int hl = h >> l, wl = w >> l, f = f0 << l;
        skip[l] = dalloc((size_t)n * f * hl * wl);
        snprintf(lvl, sizeof lvl, "enc%d", l);
        naive_block(ps, lvl, x, n, c, hl, wl, f, bn, tmp, skip[l]);
        for (int bc = 0; bc < n * f; bc++) /* 2x2 max pool */
            for (int yy = 0; yy < hl / 2; yy++)
                for (int xx = 0; xx < wl / 2; xx++) {
                    double m = -INFINITY;
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++)
                            m = fmax(m, skip[l][(bc * hl + 2 * yy + dy) * wl + 2 * xx + dx]);
                    x[(bc * (hl / 2) + yy) * (wl / 2) + xx] = m;
                }
        c = f;
    }
    naive_block(ps, "mid", x, n, c, h >> d, w >> d, f0 << d, bn, tmp, y);
    c = f0 << d;
    for (int l = d - 1; l >= 0; l--) {
        const int hl = h >> l, wl = w >> l, f = f0 << l;
        /* ConvTranspose 2x2 stride 2, IOHW:
         * up[o][y][x] = b[o] + sum_i in[i][y/2][x/2] w[i][o][y%2][x%2];
         * concat puts the up channels first, then the skip. */
        snprintf(lvl, sizeof lvl, "dec%d.up.weight", l);
        const float *uw = pdata(ps, lvl);
        snprintf(lvl, sizeof lvl, "dec%d.up.bias", l);
        const float *ub = pdata(ps, lvl);
        for (int b = 0; b < n; b++)
            for (int o = 0; o < f; o++)
                for (int yy = 0; yy < hl; yy++)
                    for (int xx = 0; xx < wl; xx++) {
                        double s = ub[o];
                        for (int i = 0; i < c; i++)
                            s += y[((b * c + i) * (hl / 2) + yy / 2) * (wl / 2) + xx / 2] *
                                 uw[((i * f + o) * 2 + yy % 2) * 2 + xx % 2];
                        x[((b * 2 * f + o) * hl + yy) * wl + xx] = s;
                        x[((b * 2 * f + f + o) * hl + yy) * wl + xx] =
                            skip[l][((b * f + o) * hl + yy) * wl + xx];
                    }
        snprintf(lvl, sizeof lvl, "dec%d", l);
        naive_block(ps, lvl, x, n, 2 * f, hl, wl, f, bn, tmp, y);
        c = f;
        free(skip[l]);
    }
    naive_conv(y, n, f0, h, w, pdata(ps, "head.weight"), pdata(ps, "head.bias"), a->n_classes, 1,
               logits);
    free(x);
    free(tmp);
    free(y);
}

static void naive_softmax(const double *logits, int n, int nc, int hw, double *probs)
{
    for (int b = 0; b < n; b++)
        for (int i = 0; i < hw; i++) {
            double mx = -INFINITY, s = 0;
            for (int c = 0; c < nc; c++)
                mx = fmax(mx, logits[(b * nc + c) * hw + i]);
            for (int c = 0; c < nc; c++)
                s += exp(logits[(b * nc + c) * hw + i] - mx);
            for (int c = 0; c < nc; c++)
                probs[(b * nc + c) * hw + i] = exp(logits[(b * nc + c) * hw + i] - mx) / s;
        }
}

/* Weighted mean cross-entropy, labels 255 ignored. */
static double naive_loss(const double *logits, int n, int nc, int hw, const uint8_t *labels,
                         const float *weights)
{
    double *pr = dalloc((size_t)n * nc * hw), num = 0, den = 0;
    naive_softmax(logits, n, nc, hw, pr);
    for (int b = 0; b < n; b++)
        for (int i = 0; i < hw; i++) {
            const int y = labels[b * hw + i];
            if (y == 255)
                continue;
            num -= weights[y] * log(pr[(b * nc + y) * hw + i]);
            den += weights[y];
        }
    free(pr);
    return num / den;
}

static void naive_case(int depth, int base, int batchnorm)
{
    const unet_arch arch = {.in_channels = 3, .n_classes = 3, .depth = depth,
                            .base_filters = base, .batchnorm = batchnorm};
    enum { N = 2, H = 8, W = 12 };
    unet_params *ps;
    CHECK_OK(params_create(&arch, &ps));
    params_init_he(ps, 77);
    perturb_params(ps);
    for (int i = 0; i < ps->n; i++) { /* running statistics away from 0 / 1 */
        if (ps->p[i].kind == NET_PARAM_BN_MEAN)
            fill(ps->p[i].data, ps->p[i].count, -0.2f, 0.2f);
        if (ps->p[i].kind == NET_PARAM_BN_VAR)
            fill(ps->p[i].data, ps->p[i].count, 0.5f, 2.0f);
    }
    unet_net *net;
    CHECK_OK(net_create(ps, N, H, W, &net));
    float input[N * 3 * H * W];
    fill(input, N * 3 * H * W, 0.0f, 1.0f);
    double logits[N * 3 * H * W], want[N * 3 * H * W];
    naive_unet(ps, input, N, H, W, batchnorm ? BN_RUNNING : BN_NONE, logits);
    naive_softmax(logits, N, 3, H * W, want);
    CHECK_OK(net_forward(net, input, 0)); /* inference: BN uses the running statistics */
    const float *got = net_probs(net);
    assert_non_null(got);
    double worst = 0, spread = 0;
    for (int i = 0; i < N * 3 * H * W; i++) {
        worst = fmax(worst, fabs(got[i] - want[i]));
        spread = fmax(spread, fabs(want[i] - 1.0 / 3.0));
    }
    print_message("naive depth-%d base-%d U-Net (batchnorm %d): max |probability difference| "
                  "%.3g\n", depth, base, batchnorm, worst);
    assert_true(worst < 1e-4);
    assert_true(spread > 1e-2); /* the probabilities are not trivially uniform */
    if (batchnorm) { /* training forward: batch statistics */
        naive_unet(ps, input, N, H, W, BN_BATCH, logits);
        naive_softmax(logits, N, 3, H * W, want);
        CHECK_OK(net_forward(net, input, 1));
        worst = 0;
        for (int i = 0; i < N * 3 * H * W; i++)
            worst = fmax(worst, fabs(net_probs(net)[i] - want[i]));
        print_message("  training forward (batch statistics): max |difference| %.3g\n", worst);
        assert_true(worst < 1e-4);
    }
    net_free(net);
    params_free(ps);
}

static void test_forward_matches_naive(void **state)
{
    (void)state;
    naive_case(1, 2, 0);
    naive_case(1, 2, 1);
    naive_case(2, 4, 1);
}

/* The net's analytic gradients against central differences of the naive
 * double-precision loss with a tiny step: in double a step of 1e-6 crosses a
 * ReLU kink or a pooling switch with negligible probability, so every sampled
 * coordinate must agree (up to the float arithmetic of the net). */
static void naive_grad_case(int batchnorm)
{
    const unet_arch arch = {.in_channels = 3, .n_classes = 3, .depth = 2, .base_filters = 4,
                            .batchnorm = batchnorm};
    enum { N = 2, H = 16, W = 16 };
    unet_params *ps;
    CHECK_OK(params_create(&arch, &ps));
    params_init_he(ps, 4321 + (uint64_t)batchnorm);
    perturb_params(ps);
    unet_net *net;
    CHECK_OK(net_create(ps, N, H, W, &net));
    float *input = malloc(sizeof(float) * N * 3 * H * W);
    assert_non_null(input);
    uint8_t labels[N * H * W];
    fill(input, (size_t)N * 3 * H * W, 0.0f, 1.0f);
    for (int i = 0; i < N * H * W; i++)
        labels[i] = (uint8_t)(i % 13 == 0 ? 255 : (int)(urand() * 3));
    const float weights[3] = {1.0f, 2.0f, 0.5f};
    double loss;
    CHECK_OK(net_forward(net, input, 1));
    CHECK_OK(net_loss(net, labels, weights, 255, &loss));
    CHECK_OK(net_backward(net));
    double *logits = dalloc((size_t)N * 3 * H * W);
    const int bn = batchnorm ? BN_BATCH : BN_NONE;
    naive_unet(ps, input, N, H, W, bn, logits);
    const double ref_loss = naive_loss(logits, N, 3, H * W, labels, weights);
    assert_true(fabs(loss - ref_loss) < 1e-5 * fabs(ref_loss));

    int checked = 0, bad = 0;
    double worst = 0;
    for (int i = 0; i < ps->n; i++) {
        net_param *p = &ps->p[i];
        if (!p->trainable)
            continue;
        for (int k = 0; k < 6; k++) {
            const size_t j = (size_t)(urand() * (double)p->count);
            const float v0 = p->data[j], vp = v0 + 1e-6f * fmaxf(1.0f, fabsf(v0)),
                        vm = v0 - 1e-6f * fmaxf(1.0f, fabsf(v0));
            p->data[j] = vp;
            naive_unet(ps, input, N, H, W, bn, logits);
            const double lp = naive_loss(logits, N, 3, H * W, labels, weights);
            p->data[j] = vm;
            naive_unet(ps, input, N, H, W, bn, logits);
            const double lm = naive_loss(logits, N, 3, H * W, labels, weights);
            p->data[j] = v0;
            const double fd = (lp - lm) / ((double)vp - (double)vm), an = p->grad[j];
            const double err = fabs(an - fd), lim = 1e-3 * fabs(fd) + 2e-6;
            worst = fmax(worst, err / lim);
            if (!(err <= lim)) {
                if (bad < 8)
                    print_message("  %s[%zu]: analytic %.8g, reference finite difference %.8g\n",
                                  p->name, j, an, fd);
                bad++;
            }
            checked++;
        }
    }
    print_message("U-Net (batchnorm %d) vs naive double reference: %d coordinates, %d off, "
                  "worst error/limit %.3g\n", batchnorm, checked, bad, worst);
    assert_int_equal(bad, 0);
    free(logits);
    free(input);
    net_free(net);
    params_free(ps);
}

static void test_unet_gradients_vs_naive(void **state)
{
    (void)state;
    naive_grad_case(0);
}

static void test_unet_gradients_vs_naive_bn(void **state)
{
    (void)state;
    naive_grad_case(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_layer),
        cmocka_unit_test(test_deconv_layer),
        cmocka_unit_test(test_pool_layer),
        cmocka_unit_test(test_relu_layer),
        cmocka_unit_test(test_bn_layer),
        cmocka_unit_test(test_concat_layer),
        cmocka_unit_test(test_dropout_layer),
        cmocka_unit_test(test_softmax_ce),
        cmocka_unit_test(test_forward_matches_naive),
        cmocka_unit_test(test_unet_gradients_vs_naive),
        cmocka_unit_test(test_unet_gradients_vs_naive_bn),
        cmocka_unit_test(test_unet_gradients),
        cmocka_unit_test(test_unet_gradients_bn),
        cmocka_unit_test(test_unet_gradients_dropout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
