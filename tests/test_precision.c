/* Precisions: names parse, fp32 always runs, bf16 runs where the CPU has
 * AVX-512 BF16 and is refused with the reason (the instructions missing)
 * elsewhere, int8 is refused with the reason, both by the check and by a session. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <oneapi/dnnl/dnnl.h>
#include <unet/unet.h>

#include "onnx_builder.h"

static void test_parse(void **state)
{
    (void)state;
    unet_precision p = UNET_PRECISION_INT8;
    assert_int_equal(unet_precision_parse("fp32", &p), UNET_OK);
    assert_int_equal(p, UNET_PRECISION_FP32);
    assert_int_equal(unet_precision_parse("bf16", &p), UNET_OK);
    assert_int_equal(p, UNET_PRECISION_BF16);
    assert_int_equal(unet_precision_parse("int8", &p), UNET_OK);
    assert_int_equal(p, UNET_PRECISION_INT8);
    assert_int_equal(unet_precision_parse("fp16", &p), UNET_ERR_ARG);
    assert_non_null(strstr(unet_last_error(), "'fp16'"));
}

/* One Relu node: any model will do, the precision is judged first. */
static unet_model *tiny_model(void)
{
    ob_model *m = ob_model_new(13);
    const int64_t dims[4] = {1, 3, 4, 4};
    ob_input(m, "x", 1, 4, dims);
    ob_output(m, "y", 1, 4, dims);
    ob_node_add(m, "Relu", "x", "y");
    unet_model *model;
    assert_int_equal(ob_open(m, &model), UNET_OK);
    ob_model_free(m);
    return model;
}

static void test_refusals(void **state)
{
    (void)state;
    const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    const int has_bf16 = (isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) ==
                         (unsigned)dnnl_cpu_isa_avx512_core_bf16;
    assert_int_equal(unet_precision_check(UNET_PRECISION_FP32), UNET_OK);
    if (has_bf16) {
        assert_int_equal(unet_precision_check(UNET_PRECISION_BF16), UNET_OK);
    } else {
        assert_int_equal(unet_precision_check(UNET_PRECISION_BF16), UNET_ERR_UNSUPPORTED);
        if (!strstr(unet_last_error(), "needs a CPU with AVX-512 BF16"))
            fail_msg("bf16 message '%s' does not name what the CPU lacks", unet_last_error());
    }
    assert_int_equal(unet_precision_check(UNET_PRECISION_INT8), UNET_ERR_UNSUPPORTED);
    assert_non_null(strstr(unet_last_error(), "int8"));

    unet_model *model = tiny_model();
    unet_session *s = NULL;
    const unet_session_options bf16 = {.threads = 1, .precision = UNET_PRECISION_BF16};
    if (has_bf16) {
        assert_int_equal(unet_session_create(model, &bf16, &s), UNET_OK);
        unet_session_free(s);
        s = NULL;
    } else {
        assert_int_equal(unet_session_create(model, &bf16, &s), UNET_ERR_UNSUPPORTED);
        assert_null(s);
        assert_non_null(strstr(unet_last_error(), "bf16"));
    }
    const unet_session_options fp32 = {.threads = 1};
    assert_int_equal(unet_session_create(model, &fp32, &s), UNET_OK);
    unet_session_free(s);
    unet_model_free(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_parse), cmocka_unit_test(test_refusals)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
