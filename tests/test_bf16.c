/* bf16 sessions (--precision bf16) where the CPU has AVX-512 BF16: the
 * convolutions really run in bf16 (oneDNN's implementation names say so), the
 * probabilities of trainer-exported U-Nets stay within bf16's rounding of the
 * naive double-precision reference, and the shipped model's masks on the
 * sample tiles agree with fp32's. Exits 77 (SKIP) with the reason elsewhere. */
#include <dirent.h>
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
#include <unet/image.h>

#include "export_onnx.h"
#include "random_params.h"
#include "reference_unet.h"

/* bf16 keeps 8 significant bits (relative rounding 2^-9 = 0.2 %) at every
 * layer's input and weights; through 10-20 layers the probabilities of these
 * random nets moved by at most 0.012 (measured over the nets below); 0.05
 * leaves room for other kernels. fp32 stays within 1e-5 (test_export_runtime). */
#define BF16_PROB_TOL 0.05
/* Below this, the session did not round anything: bf16 did not run. */
#define BF16_MIN_DIFF 1e-4
/* The shipped model's masks on the sample tiles: share of pixels whose class
 * matches fp32's (measured 99.6 %). */
#define BF16_MASK_AGREEMENT 0.99

static unet_session *open_session(const unet_model *model, unet_precision precision)
{
    unet_session *s = NULL;
    unet_session_options o = { .threads = 2, .precision = precision, .profile = 1 };
    if (unet_session_create(model, &o, &s) != UNET_OK)
        fail_msg("session (%s): %s", precision == UNET_PRECISION_BF16 ? "bf16" : "fp32",
                 unet_last_error());
    return s;
}

/* Every convolution step of the last run names a bf16 implementation, and at
 * least one ran. */
static void expect_bf16_convolutions(const unet_session *s)
{
    int convs = 0;
    for (int i = 0; i < unet_session_profile_count(s); i++) {
        const char *node, *op, *impl;
        double ms;
        assert_int_equal(unet_session_profile_entry(s, i, &node, &op, &impl, &ms), UNET_OK);
        if (!op || (strcmp(op, "Conv") && strcmp(op, "ConvTranspose")))
            continue;
        int is_bf16 = impl && strstr(impl, "bf16");
        /* a ConvTranspose also owns its pixel-shuffle reorder (a plain move) */
        if (!is_bf16 && strcmp(op, "Conv") == 0)
            fail_msg("node '%s' (%s) ran '%s', not a bf16 kernel", node, op, impl ? impl : "?");
        convs += is_bf16;
    }
    assert_true(convs > 0);
}

static char *export_to_temp(const unet_params *params, char *path, size_t size)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/unet-test-bf16-XXXXXX", base && *base ? base : "/tmp");
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    dir = strdup(dir);
    snprintf(path, size, "%s/model.onnx", dir);
    unet_export_meta meta = { params->arch.n_classes, NULL, NULL, "{\"epochs\":1}", NULL };
    if (unet_export_onnx(path, params, &meta) != UNET_OK)
        fail_msg("export failed: %s", unet_last_error());
    return dir;
}

static void check_arch(int depth, int base, int n_classes, int batchnorm, uint64_t seed)
{
    unet_arch arch = { .in_channels = 3, .n_classes = n_classes, .depth = depth,
                       .base_filters = base, .batchnorm = batchnorm };
    unet_params *params = random_params_create(&arch, seed);
    assert_non_null(params);
    char path[1100];
    char *dir = export_to_temp(params, path, sizeof path);
    unet_model *model = NULL;
    if (unet_model_open_file(path, NULL, &model) != UNET_OK)
        fail_msg("open failed: %s", unet_last_error());
    unet_session *s = open_session(model, UNET_PRECISION_BF16);

    const int n = 2, h = 4 << depth, w = 3 << depth;
    size_t in_count = (size_t)n * 3 * h * w, out_count = (size_t)n * n_classes * h * w;
    float *input = malloc(in_count * sizeof *input);
    double *want = malloc(out_count * sizeof *want);
    assert_non_null(input);
    assert_non_null(want);
    random_fill(input, in_count, 0.0f, 1.0f, &seed);
    assert_int_equal(reference_unet_forward(params, n, h, w, input, NULL, want), 0);
    unet_tensor in = { .dtype = UNET_DTYPE_FLOAT, .rank = 4, .dims = { n, 3, h, w }, .data = input };
    if (unet_session_run(s, &in, 1) != UNET_OK)
        fail_msg("run failed: %s", unet_last_error());
    expect_bf16_convolutions(s);
    unet_tensor out;
    assert_int_equal(unet_session_output(s, 0, &out), UNET_OK);
    assert_int_equal(out.dtype, UNET_DTYPE_FLOAT);
    const float *got = out.data;
    double worst = 0, spread = 0;
    for (size_t i = 0; i < out_count; i++) {
        double d = fabs(got[i] - want[i]);
        worst = d <= worst ? worst : isnan(d) ? INFINITY : d;
        spread = fmax(spread, fabs(want[i] - 1.0 / n_classes));
    }
    printf("depth %d base %d bn %d: max |bf16 - reference| = %.3g (outputs spread %.3g)\n", depth,
           base, batchnorm, worst, spread);
    assert_true(spread > 0.05);
    if (!(worst <= BF16_PROB_TOL))
        fail_msg("depth %d base %d: bf16 probabilities off by %g (> %g)", depth, base, worst,
                 BF16_PROB_TOL);
    if (!(worst >= BF16_MIN_DIFF))
        fail_msg("depth %d base %d: bf16 equals the reference to %g: no bf16 rounding happened",
                 depth, base, worst);
    unet_session_free(s);
    unet_model_free(model);
    unlink(path);
    rmdir(dir);
    free(dir);
    free(input);
    free(want);
    random_params_free(params);
}

/* Channel counts that fill oneDNN's 16-channel blocks, and ones that do not. */
static void test_base16_bn(void **state) { (void)state; check_arch(3, 16, 6, 1, 11); }
static void test_base8_plain(void **state) { (void)state; check_arch(2, 8, 6, 0, 12); }
static void test_base12_depth4(void **state) { (void)state; check_arch(4, 12, 5, 1, 13); }
static void test_base3_depth1(void **state) { (void)state; check_arch(1, 3, 2, 0, 14); }

/* Class of every pixel of a run's output (N, C, H, W) into cls. */
static void argmax_classes(const unet_tensor *t, uint8_t *cls)
{
    const float *p = t->data;
    int64_t n = t->dims[0], c = t->dims[1], hw = t->dims[2] * t->dims[3];
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < hw; i++) {
            int best = 0;
            for (int64_t k = 1; k < c; k++)
                if (p[(b * c + k) * hw + i] > p[(b * c + best) * hw + i])
                    best = (int)k;
            cls[b * hw + i] = (uint8_t)best;
        }
}

static void test_shipped_model_masks(void **state)
{
    (void)state;
    const char *root = getenv("UNET_SOURCE_ROOT");
    assert_non_null(root);
    char path[4096];
    snprintf(path, sizeof path, "%s/models/unet-aerial.onnx", root);
    unet_model *model = NULL;
    if (unet_model_open_file(path, NULL, &model) != UNET_OK)
        fail_msg("%s: %s", path, unet_last_error());
    char dir_path[3500];
    snprintf(dir_path, sizeof dir_path, "%s/models/samples/images", root);
    DIR *dir = opendir(dir_path);
    assert_non_null(dir);
    enum { MAX_TILES = 8, SIDE = 256 };
    float *batch = calloc((size_t)MAX_TILES * 3 * SIDE * SIDE, sizeof *batch);
    assert_non_null(batch);
    int n = 0;
    for (struct dirent *e; n < MAX_TILES && (e = readdir(dir));) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir_path, e->d_name);
        unet_image img;
        if (unet_image_read(path, UNET_IMAGE_FORCE_RGB, &img) != UNET_OK)
            fail_msg("%s", unet_last_error());
        assert_int_equal(img.width, SIDE);
        assert_int_equal(img.height, SIDE);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < SIDE * SIDE; i++)
                batch[((size_t)n * 3 + c) * SIDE * SIDE + i] = img.pixels[i * 3 + c] / 255.0f;
        unet_image_free(&img);
        n++;
    }
    closedir(dir);
    assert_true(n >= 4);
    unet_tensor in = { .dtype = UNET_DTYPE_FLOAT, .rank = 4, .dims = { n, 3, SIDE, SIDE }, .data = batch };
    size_t pixels = (size_t)n * SIDE * SIDE;
    uint8_t *cls[2];
    const unet_precision precisions[2] = { UNET_PRECISION_FP32, UNET_PRECISION_BF16 };
    for (int k = 0; k < 2; k++) {
        unet_session *s = open_session(model, precisions[k]);
        if (unet_session_run(s, &in, 1) != UNET_OK)
            fail_msg("run: %s", unet_last_error());
        if (precisions[k] == UNET_PRECISION_BF16)
            expect_bf16_convolutions(s);
        unet_tensor out;
        assert_int_equal(unet_session_output(s, 0, &out), UNET_OK);
        cls[k] = malloc(pixels);
        assert_non_null(cls[k]);
        argmax_classes(&out, cls[k]);
        unet_session_free(s);
    }
    size_t same = 0;
    for (size_t i = 0; i < pixels; i++)
        same += cls[0][i] == cls[1][i];
    double agreement = (double)same / (double)pixels;
    printf("shipped model, %d sample tiles: bf16 masks agree with fp32 on %.4f of pixels\n", n,
           agreement);
    if (!(agreement >= BF16_MASK_AGREEMENT))
        fail_msg("bf16 masks agree with fp32 on %.4f of pixels (< %.2f)", agreement,
                 BF16_MASK_AGREEMENT);
    free(cls[0]);
    free(cls[1]);
    free(batch);
    unet_model_free(model);
}

int main(void)
{
    if (unet_precision_check(UNET_PRECISION_BF16) != UNET_OK) {
        printf("SKIP: bf16 does not run here: %s\n", unet_last_error());
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base16_bn),
        cmocka_unit_test(test_base8_plain),
        cmocka_unit_test(test_base12_depth4),
        cmocka_unit_test(test_base3_depth1),
        cmocka_unit_test(test_shipped_model_masks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
