/* Resize and Upsample against a naive reference written here from the ONNX
 * formulas (one output pixel at a time: map the coordinate, then round or
 * interpolate bilinearly with edge clamping). Models are built in memory with
 * a random input; each case also checks which engine ran the node, since the
 * runtime claims oneDNN's half-pixel resampling equals the requested mapping
 * in exactly the cases marked ONEDNN below. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unet/unet.h>

#include "onnx_builder.h"

enum { PLAIN = 0, ONEDNN = 1 };

typedef struct rs_case {
    const char *op;        /* "Resize" or "Upsample" */
    int opset;
    const char *mode;      /* nearest / linear */
    const char *transform; /* coordinate_transformation_mode, NULL = default */
    const char *nearest;   /* nearest_mode, NULL = default */
    int rank;              /* 4 (N, C, H, W) or 2 (H, W) */
    int64_t c, h, w;       /* input (c ignored for rank 2) */
    float sh, sw;          /* scales on H and W, when sizes are not used */
    int64_t oh, ow;        /* sizes (0: use scales) */
    int blocked;           /* feed Resize from a 1x1 identity Conv (oneDNN picks the layout) */
    int engine;            /* PLAIN or ONEDNN expected */
} rs_case;

/* ---- the reference ---- */

static double ref_coord(const char *t, double x, double scale, int64_t in, int64_t out)
{
    if (!strcmp(t, "half_pixel"))
        return (x + 0.5) / scale - 0.5;
    if (!strcmp(t, "pytorch_half_pixel"))
        return out > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    if (!strcmp(t, "align_corners"))
        return out == 1 ? 0.0 : x * (double)(in - 1) / (double)(out - 1);
    return x / scale; /* asymmetric */
}

static int64_t clampi(int64_t i, int64_t n) { return i < 0 ? 0 : i > n - 1 ? n - 1 : i; }

static int64_t ref_nearest(double c, const char *mode, int up)
{
    if (!strcmp(mode, "legacy")) /* opset 10 / Upsample: floor up, ceil down */
        return (int64_t)(up ? floor(c) : ceil(c));
    if (!strcmp(mode, "floor"))
        return (int64_t)floor(c);
    if (!strcmp(mode, "ceil"))
        return (int64_t)ceil(c);
    if (!strcmp(mode, "round_prefer_ceil"))
        return (int64_t)floor(c + 0.5);
    return (int64_t)ceil(c - 0.5); /* round_prefer_floor */
}

/* x: planes of h x w; y: planes of oh x ow. */
static void ref_resize(const rs_case *k, const float *x, int64_t planes, int64_t oh, int64_t ow,
                       double sh, double sw, float *y)
{
    int legacy = !strcmp(k->op, "Upsample") || k->opset < 11;
    const char *t = legacy ? "asymmetric" : k->transform ? k->transform : "half_pixel";
    const char *nm = legacy ? "legacy" : k->nearest ? k->nearest : "round_prefer_floor";
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * k->h * k->w;
        for (int64_t i = 0; i < oh; i++) {
            double cy = ref_coord(t, (double)i, sh, k->h, oh);
            for (int64_t j = 0; j < ow; j++) {
                double cx = ref_coord(t, (double)j, sw, k->w, ow);
                double v;
                if (!strcmp(k->mode, "nearest")) {
                    int64_t yi = clampi(ref_nearest(cy, nm, sh >= 1.0), k->h);
                    int64_t xi = clampi(ref_nearest(cx, nm, sw >= 1.0), k->w);
                    v = xp[yi * k->w + xi];
                } else {
                    double fy = floor(cy), fx = floor(cx), ay = cy - fy, ax = cx - fx;
                    int64_t y0 = clampi((int64_t)fy, k->h), y1 = clampi((int64_t)fy + 1, k->h);
                    int64_t x0 = clampi((int64_t)fx, k->w), x1 = clampi((int64_t)fx + 1, k->w);
                    v = (1 - ay) * ((1 - ax) * xp[y0 * k->w + x0] + ax * xp[y0 * k->w + x1]) +
                        ay * ((1 - ax) * xp[y1 * k->w + x0] + ax * xp[y1 * k->w + x1]);
                }
                y[(p * oh + i) * ow + j] = (float)v;
            }
        }
    }
}

/* ---- the model ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static float rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static ob_model *build_model(const rs_case *k)
{
    ob_model *m = ob_model_new(k->opset);
    int64_t xd[4] = { 1, k->c, k->h, k->w };
    int64_t x2[2] = { k->h, k->w };
    ob_input(m, "X", UNET_DTYPE_FLOAT, k->rank, k->rank == 4 ? xd : x2);
    ob_output(m, "Y", UNET_DTYPE_FLOAT, -1, NULL);
    const char *src = "X";
    if (k->blocked) {
        /* 1x1 convolution with identity weights: output = input exactly, in
         * whatever layout oneDNN prefers for the convolution. */
        float *wt = calloc((size_t)(k->c * k->c), sizeof *wt);
        assert_non_null(wt);
        for (int64_t i = 0; i < k->c; i++)
            wt[i * k->c + i] = 1.0f;
        int64_t wd[4] = { k->c, k->c, 1, 1 };
        ob_initializer(m, "W", UNET_DTYPE_FLOAT, 4, wd, wt);
        free(wt);
        ob_node_add(m, "Conv", "X,W", "Xc");
        src = "Xc";
    }
    float sc4[4] = { 1.0f, 1.0f, k->sh, k->sw }, sc2[2] = { k->sh, k->sw };
    int64_t sz4[4] = { 1, k->c, k->oh, k->ow }, sz2[2] = { k->oh, k->ow };
    int64_t nd = k->rank;
    char inputs[64];
    if (!strcmp(k->op, "Upsample") || k->opset < 11) {
        ob_initializer(m, "scales", UNET_DTYPE_FLOAT, 1, &nd, k->rank == 4 ? sc4 : sc2);
        snprintf(inputs, sizeof inputs, "%s,scales", src);
    } else {
        int64_t zero = 0;
        ob_initializer(m, "roi", UNET_DTYPE_FLOAT, 1, &zero, NULL);
        if (k->oh) {
            ob_initializer(m, "scales", UNET_DTYPE_FLOAT, 1, &zero, NULL);
            ob_initializer(m, "sizes", UNET_DTYPE_INT64, 1, &nd, k->rank == 4 ? sz4 : sz2);
            snprintf(inputs, sizeof inputs, "%s,roi,scales,sizes", src);
        } else {
            ob_initializer(m, "scales", UNET_DTYPE_FLOAT, 1, &nd, k->rank == 4 ? sc4 : sc2);
            snprintf(inputs, sizeof inputs, "%s,roi,scales", src);
        }
    }
    ob_node *n = ob_node_add(m, k->op, inputs, "Y");
    ob_attr_string(n, "mode", k->mode);
    if (k->transform)
        ob_attr_string(n, "coordinate_transformation_mode", k->transform);
    if (k->nearest)
        ob_attr_string(n, "nearest_mode", k->nearest);
    return m;
}

static void run_case(const rs_case *k)
{
    int64_t planes = k->rank == 4 ? k->c : 1;
    int64_t oh = k->oh ? k->oh : (int64_t)floor(k->h * (double)k->sh);
    int64_t ow = k->ow ? k->ow : (int64_t)floor(k->w * (double)k->sw);
    double sh = k->oh ? (double)k->oh / (double)k->h : k->sh;
    double sw = k->ow ? (double)k->ow / (double)k->w : k->sw;
    size_t nx = (size_t)(planes * k->h * k->w), ny = (size_t)(planes * oh * ow);
    float *x = malloc(nx * sizeof *x), *want = malloc(ny * sizeof *want);
    assert_non_null(x);
    assert_non_null(want);
    for (size_t i = 0; i < nx; i++)
        x[i] = rnd();
    ref_resize(k, x, planes, oh, ow, sh, sw, want);

    ob_model *b = build_model(k);
    unet_model *m = NULL;
    unet_status s = ob_open(b, &m);
    ob_model_free(b);
    if (s != UNET_OK)
        fail_msg("open: %s", unet_last_error());
    unet_session_options opts = { .profile = 1 };
    unet_session *sess = NULL;
    assert_int_equal(unet_session_create(m, &opts, &sess), UNET_OK);
    unet_tensor in = { UNET_DTYPE_FLOAT, k->rank, { 0 }, x };
    if (k->rank == 4) {
        in.dims[0] = 1;
        in.dims[1] = k->c;
        in.dims[2] = k->h;
        in.dims[3] = k->w;
    } else {
        in.dims[0] = k->h;
        in.dims[1] = k->w;
    }
    s = unet_session_run(sess, &in, 1);
    if (s != UNET_OK)
        fail_msg("run: %s", unet_last_error());
    unet_tensor out;
    assert_int_equal(unet_session_output(sess, 0, &out), UNET_OK);
    assert_int_equal(out.rank, k->rank);
    assert_int_equal(out.dims[k->rank - 2], oh);
    assert_int_equal(out.dims[k->rank - 1], ow);
    const float *got = out.data;
    for (size_t i = 0; i < ny; i++)
        if (fabsf(got[i] - want[i]) > 1e-5f + 1e-5f * fabsf(want[i]))
            fail_msg("element %zu: got %.7g, expected %.7g", i, got[i], want[i]);

    /* Which engine ran the resize step. */
    const char *impl = NULL;
    for (int i = 0; i < unet_session_profile_count(sess); i++) {
        const char *node, *op, *im;
        double ms;
        assert_int_equal(unet_session_profile_entry(sess, i, &node, &op, &im, &ms), UNET_OK);
        if (!strcmp(op, k->op))
            impl = im;
    }
    assert_non_null(impl);
    if (k->engine == ONEDNN && !strcmp(impl, "c"))
        fail_msg("expected oneDNN resampling, the plain kernel ran");
    if (k->engine == PLAIN && strcmp(impl, "c"))
        fail_msg("expected the plain kernel, oneDNN (%s) ran", impl);
    unet_session_free(sess);
    unet_model_free(m);
    free(x);
    free(want);
}

/* The three the brief names: 1x3x5x7 random input. */
static void test_linear_half_pixel_2x(void **st)
{
    (void)st;
    rs_case k = { "Resize", 13, "linear", "half_pixel", NULL, 4, 3, 5, 7, 2, 2, 0, 0, 0, ONEDNN };
    run_case(&k);
}

static void test_linear_align_corners_2x(void **st)
{
    (void)st;
    rs_case k = { "Resize", 13, "linear", "align_corners", NULL, 4, 3, 5, 7, 2, 2, 0, 0, 0, PLAIN };
    run_case(&k);
}

static void test_nearest_asymmetric_floor_2x(void **st)
{
    (void)st;
    rs_case k = { "Resize", 13, "nearest", "asymmetric", "floor", 4, 3, 5, 7, 2, 2, 0, 0, 0, ONEDNN };
    run_case(&k);
}

/* More of the oneDNN equivalence claims. */
static void test_linear_half_pixel_sizes_fractional(void **st)
{
    (void)st;
    rs_case k = { "Resize", 13, "linear", "half_pixel", NULL, 4, 3, 5, 7, 0, 0, 8, 11, 0, ONEDNN };
    run_case(&k);
}

static void test_linear_pytorch_half_pixel_down(void **st)
{
    (void)st;
    rs_case k = { "Resize", 13, "linear", "pytorch_half_pixel", NULL, 4, 3, 5, 7, 0, 0, 3, 4, 0, ONEDNN };
    run_case(&k);
}

static void test_linear_pytorch_half_pixel_to_one(void **st)
{
    (void)st;
    /* A resized length of 1 maps to input 0, not the centre: plain kernel. */
    rs_case k = { "Resize", 13, "linear", "pytorch_half_pixel", NULL, 4, 3, 5, 7, 0, 0, 1, 4, 0, PLAIN };
    run_case(&k);
}

static void test_nearest_half_pixel_round_3x2(void **st)
{
    (void)st;
    rs_case k = { "Resize", 13, "nearest", NULL, NULL, 4, 3, 5, 7, 3, 2, 0, 0, 0, ONEDNN };
    run_case(&k);
}

static void test_nearest_half_pixel_prefer_ceil_2x(void **st)
{
    (void)st;
    rs_case k = { "Resize", 13, "nearest", "half_pixel", "round_prefer_ceil", 4, 3, 5, 7, 2, 2, 0, 0, 0, ONEDNN };
    run_case(&k);
}

static void test_linear_half_pixel_blocked_input(void **st)
{
    (void)st;
    rs_case k = { "Resize", 13, "linear", "half_pixel", NULL, 4, 8, 5, 7, 2, 2, 0, 0, 1, ONEDNN };
    run_case(&k);
}

static void test_nearest_asymmetric_floor_blocked_input(void **st)
{
    (void)st;
    rs_case k = { "Resize", 13, "nearest", "asymmetric", "floor", 4, 8, 5, 7, 2, 2, 0, 0, 1, ONEDNN };
    run_case(&k);
}

static void test_upsample9_nearest_2x(void **st)
{
    (void)st;
    rs_case k = { "Upsample", 9, "nearest", NULL, NULL, 4, 3, 5, 7, 2, 2, 0, 0, 0, ONEDNN };
    run_case(&k);
}

static void test_resize10_nearest_3x(void **st)
{
    (void)st;
    rs_case k = { "Resize", 10, "nearest", NULL, NULL, 4, 3, 5, 7, 3, 3, 0, 0, 0, ONEDNN };
    run_case(&k);
}

/* Cases where oneDNN would differ: the plain kernel must run. */
static void test_nearest_asymmetric_floor_fractional(void **st)
{
    (void)st;
    rs_case k = { "Resize", 13, "nearest", "asymmetric", "floor", 4, 3, 5, 7, 0, 0, 8, 11, 0, PLAIN };
    run_case(&k);
}

static void test_nearest_half_pixel_down(void **st)
{
    (void)st;
    rs_case k = { "Resize", 13, "nearest", "half_pixel", "round_prefer_floor", 4, 3, 5, 7, 0.5f, 0.5f, 0, 0, 0, PLAIN };
    run_case(&k);
}

static void test_nearest_asymmetric_prefer_ceil_2x(void **st)
{
    (void)st;
    rs_case k = { "Resize", 13, "nearest", "asymmetric", "round_prefer_ceil", 4, 3, 5, 7, 2, 2, 0, 0, 0, PLAIN };
    run_case(&k);
}

static void test_resize10_linear_asymmetric(void **st)
{
    (void)st;
    rs_case k = { "Resize", 10, "linear", NULL, NULL, 4, 3, 5, 7, 2, 1.5f, 0, 0, 0, PLAIN };
    run_case(&k);
}

static void test_resize11_align_corners_sizes(void **st)
{
    (void)st;
    rs_case k = { "Resize", 11, "linear", "align_corners", NULL, 4, 3, 5, 7, 0, 0, 9, 4, 0, PLAIN };
    run_case(&k);
}

static void test_linear_half_pixel_rank2(void **st)
{
    (void)st;
    /* A 2-D input: both axes are resized. */
    rs_case k = { "Resize", 13, "linear", "half_pixel", NULL, 2, 1, 5, 7, 2, 3, 0, 0, 0, PLAIN };
    run_case(&k);
}

/* A leading axis resized (the general N-D kernel): a (3, 5, 7) input scaled
 * (2, 1, 1) with align_corners is a 3 x 35 image resized along its rows. */
static void test_linear_align_corners_leading_axis(void **st)
{
    (void)st;
    float x[105], want[210];
    for (int i = 0; i < 105; i++)
        x[i] = rnd();
    rs_case ref = { "Resize", 13, "linear", "align_corners", NULL, 2, 1, 3, 35, 2, 1, 0, 0, 0, PLAIN };
    ref_resize(&ref, x, 1, 6, 35, 2.0, 1.0, want);

    ob_model *b = ob_model_new(13);
    int64_t xd[3] = { 3, 5, 7 }, three = 3;
    float sc[3] = { 2, 1, 1 };
    ob_input(b, "X", UNET_DTYPE_FLOAT, 3, xd);
    ob_output(b, "Y", UNET_DTYPE_FLOAT, -1, NULL);
    ob_initializer(b, "scales", UNET_DTYPE_FLOAT, 1, &three, sc);
    ob_node *n = ob_node_add(b, "Resize", "X,,scales", "Y");
    ob_attr_string(n, "mode", "linear");
    ob_attr_string(n, "coordinate_transformation_mode", "align_corners");
    unet_model *m = NULL;
    assert_int_equal(ob_open(b, &m), UNET_OK);
    ob_model_free(b);
    unet_session *sess = NULL;
    assert_int_equal(unet_session_create(m, NULL, &sess), UNET_OK);
    unet_tensor in = { UNET_DTYPE_FLOAT, 3, { 3, 5, 7 }, x };
    assert_int_equal(unet_session_run(sess, &in, 1), UNET_OK);
    unet_tensor out;
    assert_int_equal(unet_session_output(sess, 0, &out), UNET_OK);
    assert_int_equal(out.rank, 3);
    assert_int_equal(out.dims[0], 6);
    assert_int_equal(out.dims[1], 5);
    assert_int_equal(out.dims[2], 7);
    for (int i = 0; i < 210; i++)
        if (fabsf(((const float *)out.data)[i] - want[i]) > 1e-5f + 1e-5f * fabsf(want[i]))
            fail_msg("element %d: got %.7g, expected %.7g", i, ((const float *)out.data)[i], want[i]);
    unet_session_free(sess);
    unet_model_free(m);
}

/* Refusals: clear status codes, never a wrong answer. */
static void test_refusals(void **st)
{
    (void)st;
    ob_model *b = ob_model_new(13);
    int64_t xd[4] = { 1, 3, 5, 7 }, four = 4;
    float sc[4] = { 1, 1, 2, 2 };
    ob_input(b, "X", UNET_DTYPE_FLOAT, 4, xd);
    ob_output(b, "Y", UNET_DTYPE_FLOAT, -1, NULL);
    ob_initializer(b, "scales", UNET_DTYPE_FLOAT, 1, &four, sc);
    ob_node *n = ob_node_add(b, "Resize", "X,,scales", "Y");
    ob_attr_string(n, "mode", "linear");
    ob_attr_int(n, "antialias", 1);
    unet_model *m = NULL;
    assert_int_equal(ob_open(b, &m), UNET_ERR_UNSUPPORTED);
    assert_non_null(strstr(unet_last_error(), "antialias"));
    ob_model_free(b);

    /* Three scales for a rank-4 input. */
    b = ob_model_new(13);
    int64_t three = 3;
    ob_input(b, "X", UNET_DTYPE_FLOAT, 4, xd);
    ob_output(b, "Y", UNET_DTYPE_FLOAT, -1, NULL);
    ob_initializer(b, "scales", UNET_DTYPE_FLOAT, 1, &three, sc);
    ob_node_add(b, "Resize", "X,,scales", "Y");
    assert_int_equal(ob_open(b, &m), UNET_OK);
    ob_model_free(b);
    unet_session *sess = NULL;
    assert_int_equal(unet_session_create(m, NULL, &sess), UNET_OK);
    float x[105] = { 0 };
    unet_tensor in = { UNET_DTYPE_FLOAT, 4, { 1, 3, 5, 7 }, x };
    assert_int_equal(unet_session_run(sess, &in, 1), UNET_ERR_INVALID);
    assert_non_null(strstr(unet_last_error(), "scales"));
    unet_session_free(sess);
    unet_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_half_pixel_2x),
        cmocka_unit_test(test_linear_align_corners_2x),
        cmocka_unit_test(test_nearest_asymmetric_floor_2x),
        cmocka_unit_test(test_linear_half_pixel_sizes_fractional),
        cmocka_unit_test(test_linear_pytorch_half_pixel_down),
        cmocka_unit_test(test_linear_pytorch_half_pixel_to_one),
        cmocka_unit_test(test_nearest_half_pixel_round_3x2),
        cmocka_unit_test(test_nearest_half_pixel_prefer_ceil_2x),
        cmocka_unit_test(test_linear_half_pixel_blocked_input),
        cmocka_unit_test(test_nearest_asymmetric_floor_blocked_input),
        cmocka_unit_test(test_upsample9_nearest_2x),
        cmocka_unit_test(test_resize10_nearest_3x),
        cmocka_unit_test(test_nearest_asymmetric_floor_fractional),
        cmocka_unit_test(test_nearest_half_pixel_down),
        cmocka_unit_test(test_nearest_asymmetric_prefer_ceil_2x),
        cmocka_unit_test(test_resize10_linear_asymmetric),
        cmocka_unit_test(test_resize11_align_corners_sizes),
        cmocka_unit_test(test_linear_half_pixel_rank2),
        cmocka_unit_test(test_linear_align_corners_leading_axis),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
