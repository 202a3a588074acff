/* Inputs that once crashed libunet (found by the fuzz targets in tests/fuzz/,
 * minimised by hand where the fuzzer's file was large), each with the outcome
 * it must have now. The files live in tests/regressions/; every file there
 * must have a row here, so none can be added without an expectation.
 * Under the sanitizer suite these also prove the memory errors are gone. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unet/image.h>
#include <unet/unet.h>

typedef struct regression {
    const char *file;
    const char *what;       /* the bug, for the log */
    unet_status status;     /* of loading (model) or decoding (image) */
    const char *message;    /* part of the message when status != OK */
} regression;

static const regression REGRESSIONS[] = {
    { "png-huge-text-chunk.png",
      "100-byte PNG whose tEXt chunk declares 2 GB: libpng allocated 2 GB before reading it",
      UNET_ERR_PARSE, "truncated" },
    { "onnx-bnfold-use-after-free.onnx",
      "Conv+BatchNormalization folding read the weight shape through a pointer into the value table after growing it",
      UNET_OK, NULL },
    { "onnx-relu-nul-input-name.onnx",
      "an input name starting with a NUL byte read as an omitted input; the Relu builder indexed tensor -1",
      UNET_ERR_INVALID, "input 0 is required but its name is empty" },
    { "onnx-relu-empty-output-name.onnx",
      "an empty name for a required output; the Relu builder wrote the shape of tensor -1",
      UNET_ERR_INVALID, "output 0 is required but its name is empty" },
    { "onnx-matmul-empty-rows.onnx",
      "MatMul with a 0-row input: an empty plan had a NULL arena and the kernel called memset(NULL, 0, 0)",
      UNET_OK, NULL },
};
#define N_REGRESSIONS (sizeof REGRESSIONS / sizeof *REGRESSIONS)

static const char *dir(void)
{
    const char *d = getenv("UNET_REGRESSIONS");
    return d ? d : "tests/regressions";
}

static const regression *find(const char *file)
{
    for (size_t i = 0; i < N_REGRESSIONS; i++)
        if (!strcmp(REGRESSIONS[i].file, file))
            return &REGRESSIONS[i];
    return NULL;
}

static void check_status(const regression *r, unet_status got)
{
    const char *msg = unet_last_error();
    int ok = got == r->status && (r->status == UNET_OK || (msg[0] && strstr(msg, r->message)));
    if (!ok) {
        fprintf(stderr, "%s (%s): expected %s%s%s%s, got %s: %s\n", r->file, r->what, unet_status_name(r->status),
                r->message ? " with \"" : "", r->message ? r->message : "", r->message ? "\"" : "",
                unet_status_name(got), msg);
        fail();
    }
}

static unet_status open_regression(const regression *r, unet_model **m)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir(), r->file);
    return unet_model_open_file(path, NULL, m);
}

static void test_every_file_has_a_row(void **state)
{
    (void)state;
    DIR *d = opendir(dir());
    assert_non_null(d);
    struct dirent *e;
    size_t seen = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (!find(e->d_name)) {
            fprintf(stderr, "tests/regressions/%s has no row in test_regressions.c\n", e->d_name);
            fail();
        }
        seen++;
    }
    closedir(d);
    assert_int_equal(seen, N_REGRESSIONS);
}

static void test_png_huge_text_chunk(void **state)
{
    (void)state;
    const regression *r = find("png-huge-text-chunk.png");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir(), r->file);
    static const int flags[3] = { UNET_IMAGE_DEFAULT, UNET_IMAGE_PALETTE_INDEX, UNET_IMAGE_FORCE_RGB };
    for (int f = 0; f < 3; f++) {
        unet_image img;
        check_status(r, unet_image_read(path, flags[f], &img));
        assert_null(img.pixels);
    }
}

/* The fold itself stays right: the model ends in Softmax over 6 classes, so
 * every pixel's probabilities are finite and sum to 1. */
static void test_bnfold_use_after_free(void **state)
{
    (void)state;
    const regression *r = find("onnx-bnfold-use-after-free.onnx");
    unet_model *m = NULL;
    check_status(r, open_regression(r, &m));
    unet_session *s = NULL;
    unet_session_options so = { .threads = 1, .max_cached_plans = 1 };
    assert_int_equal(unet_session_create(m, &so, &s), UNET_OK);
    enum { H = 16, W = 16 };
    static float x[3 * H * W];
    for (int i = 0; i < 3 * H * W; i++)
        x[i] = (float)((i * 37) % 101) / 100.0f;
    unet_tensor in = { UNET_DTYPE_FLOAT, 4, { 1, 3, H, W }, x };
    assert_int_equal(unet_session_run(s, &in, 1), UNET_OK);
    unet_tensor out;
    assert_int_equal(unet_session_output(s, 0, &out), UNET_OK);
    assert_int_equal(out.rank, 4);
    assert_int_equal(out.dims[0], 1);
    assert_int_equal(out.dims[1], 6);
    assert_int_equal(out.dims[2], H);
    assert_int_equal(out.dims[3], W);
    const float *p = out.data;
    for (int i = 0; i < H * W; i++) {
        double sum = 0;
        for (int c = 0; c < 6; c++) {
            assert_true(isfinite(p[c * H * W + i]));
            sum += p[c * H * W + i];
        }
        assert_true(fabs(sum - 1.0) < 1e-5);
    }
    unet_session_free(s);
    unet_model_free(m);
}

static void test_refused_models(void **state)
{
    (void)state;
    const char *files[] = { "onnx-relu-nul-input-name.onnx", "onnx-relu-empty-output-name.onnx" };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        const regression *r = find(files[i]);
        unet_model *m = NULL;
        check_status(r, open_regression(r, &m));
        assert_null(m);
    }
}

/* [0, 4] x [4, 3] = [0, 3]: runs, and gives an empty output. */
static void test_matmul_empty_rows(void **state)
{
    (void)state;
    const regression *r = find("onnx-matmul-empty-rows.onnx");
    unet_model *m = NULL;
    check_status(r, open_regression(r, &m));
    unet_session *s = NULL;
    unet_session_options so = { .threads = 1, .max_cached_plans = 1 };
    assert_int_equal(unet_session_create(m, &so, &s), UNET_OK);
    float a[1] = { 0 }, b[12];
    for (int i = 0; i < 12; i++)
        b[i] = (float)i;
    unet_tensor in[2] = { { UNET_DTYPE_FLOAT, 2, { 0, 4 }, a }, { UNET_DTYPE_FLOAT, 2, { 4, 3 }, b } };
    assert_int_equal(unet_session_run(s, in, 2), UNET_OK);
    unet_tensor out;
    assert_int_equal(unet_session_output(s, 0, &out), UNET_OK);
    assert_int_equal(out.rank, 2);
    assert_int_equal(out.dims[0], 0);
    assert_int_equal(out.dims[1], 3);
    unet_session_free(s);
    unet_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_file_has_a_row),
        cmocka_unit_test(test_png_huge_text_chunk),
        cmocka_unit_test(test_bnfold_use_after_free),
        cmocka_unit_test(test_refused_models),
        cmocka_unit_test(test_matmul_empty_rows),
    };
    /* UNET_TEST_FILTER=test_matmul_empty_rows runs one test (cmocka glob). */
    if (getenv("UNET_TEST_FILTER"))
        cmocka_set_test_filter(getenv("UNET_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
