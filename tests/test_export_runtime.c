/* End to end: a U-Net exported by the trainer, loaded and run by libunet,
 * gives the probabilities of the naive double-precision reference U-Net, for
 * several architectures, with and without batch normalisation, at several
 * batch sizes and tile shapes (one session, so cached plans are exercised). */
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

#include "export_onnx.h"
#include "random_params.h"
#include "reference_unet.h"

/* float32 through some 20 layers against double: probabilities agree to
 * about 3e-7 here; 1e-5 leaves room for other CPUs' kernels and summation order. */
#define PROB_TOL 1e-5

static const char *const names[6] = { "Building", "Land", "Road", "Vegetation", "Water",
                                      "Unlabeled" };
static const char *const colors[6] = { "#3C1098", "#8429F6", "#6EC1E4", "#FEDD3A", "#E2A929",
                                       "#9B9B9B" };

static char *export_to_temp(const unet_params *params, char *path, size_t size)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/unet-test-export-rt-XXXXXX", base && *base ? base : "/tmp");
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    dir = strdup(dir);
    snprintf(path, size, "%s/model.onnx", dir);
    unet_export_meta meta = { params->arch.n_classes, params->arch.n_classes == 6 ? names : NULL,
                              params->arch.n_classes == 6 ? colors : NULL, "{\"epochs\":1}",
                              NULL };
    if (unet_export_onnx(path, params, &meta) != UNET_OK)
        fail_msg("export failed: %s", unet_last_error());
    return dir;
}

static void run_and_compare(unet_session *session, const unet_params *params, int n, int h,
                            int w, uint64_t seed)
{
    const unet_arch *a = &params->arch;
    size_t in_count = (size_t)n * a->in_channels * h * w;
    size_t out_count = (size_t)n * a->n_classes * h * w;
    float *input = malloc(in_count * sizeof *input);
    double *want = malloc(out_count * sizeof *want);
    assert_non_null(input);
    assert_non_null(want);
    random_fill(input, in_count, 0.0f, 1.0f, &seed);
    assert_int_equal(reference_unet_forward(params, n, h, w, input, NULL, want), 0);

    unet_tensor in = { .dtype = UNET_DTYPE_FLOAT, .rank = 4,
                       .dims = { n, a->in_channels, h, w }, .data = input };
    if (unet_session_run(session, &in, 1) != UNET_OK)
        fail_msg("run failed: %s", unet_last_error());
    unet_tensor out;
    assert_int_equal(unet_session_output(session, 0, &out), UNET_OK);
    assert_int_equal(out.dtype, UNET_DTYPE_FLOAT);
    assert_int_equal(out.rank, 4);
    assert_int_equal(out.dims[0], n);
    assert_int_equal(out.dims[1], a->n_classes);
    assert_int_equal(out.dims[2], h);
    assert_int_equal(out.dims[3], w);
    const float *got = out.data;
    double worst = 0.0, spread = 0.0;
    for (size_t i = 0; i < out_count; i++) {
        double d = fabs(got[i] - want[i]);
        if (!(d <= worst)) /* NaN counts as worst */
            worst = isnan(d) ? INFINITY : d;
        if (fabs(want[i] - 1.0 / a->n_classes) > spread)
            spread = fabs(want[i] - 1.0 / a->n_classes);
    }
    /* a meaningful comparison needs outputs far from uniform */
    assert_true(spread > 0.05);
    printf("depth %d base %d bn %d, batch %d, %dx%d: max |libunet - reference| = %.3g\n",
           a->depth, a->base_filters, a->batchnorm, n, h, w, worst);
    if (!(worst <= PROB_TOL))
        fail_msg("depth %d base %d bn %d, %dx%dx%d: max |libunet - reference| = %g", a->depth,
                 a->base_filters, a->batchnorm, n, h, w, worst);
    free(input);
    free(want);
}

static void check_arch(int depth, int base, int in_channels, int n_classes, int batchnorm,
                       uint64_t seed)
{
    unet_arch arch = { .in_channels = in_channels, .n_classes = n_classes, .depth = depth,
                       .base_filters = base, .batchnorm = batchnorm };
    unet_params *params = random_params_create(&arch, seed);
    assert_non_null(params);
    char path[1100];
    char *dir = export_to_temp(params, path, sizeof path);

    unet_model *model = NULL;
    if (unet_model_open_file(path, NULL, &model) != UNET_OK)
        fail_msg("open failed: %s", unet_last_error());
    assert_int_equal(unet_model_input_count(model), 1);
    assert_int_equal(unet_model_output_count(model), 1);
    unet_tensor_info info;
    assert_int_equal(unet_model_input_info(model, 0, &info), UNET_OK);
    assert_string_equal(info.name, "image");
    assert_int_equal(info.rank, 4);
    assert_int_equal(info.dims[1], in_channels);
    assert_non_null(info.dim_params[0]);
    assert_string_equal(info.dim_params[0], "N");
    assert_int_equal(unet_model_opset(model, ""), 17);
    const char *arch_json = unet_model_metadata(model, "unet.arch");
    assert_non_null(arch_json);
    assert_non_null(strstr(arch_json, batchnorm ? "\"batchnorm\":true" : "\"batchnorm\":false"));

    unet_session *session = NULL;
    unet_session_options opts = { .threads = 2 };
    if (unet_session_create(model, &opts, &session) != UNET_OK)
        fail_msg("session failed: %s", unet_last_error());
    int unit = 1 << depth;
    run_and_compare(session, params, 2, 4 * unit, 3 * unit, seed + 100);
    run_and_compare(session, params, 1, 2 * unit, 5 * unit, seed + 200);
    run_and_compare(session, params, 3, 4 * unit, 3 * unit, seed + 300);
    run_and_compare(session, params, 2, 4 * unit, 3 * unit, seed + 400); /* cached plan */

    unet_session_free(session);
    unet_model_free(model);
    unlink(path);
    rmdir(dir);
    free(dir);
    random_params_free(params);
}

static void test_small_plain(void **state) { (void)state; check_arch(2, 4, 3, 6, 0, 1); }
static void test_small_batchnorm(void **state) { (void)state; check_arch(2, 4, 3, 6, 1, 2); }
static void test_deeper_odd_channels(void **state) { (void)state; check_arch(3, 3, 1, 2, 1, 3); }
static void test_depth1(void **state) { (void)state; check_arch(1, 8, 4, 5, 0, 4); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_plain),
        cmocka_unit_test(test_small_batchnorm),
        cmocka_unit_test(test_deeper_odd_channels),
        cmocka_unit_test(test_depth1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
