/* unet_mask_argmax from its public header alone: class-major (NCHW) and
 * pixel-major (NHWC) scores give the same mask, ties go to the lowest id,
 * a NaN never beats class 0, and one class gives zeros. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <unet/mask.h>

/* 4 pixels x 3 classes, pixel-major; expected classes written by hand. */
static const float scores_nhwc[4][3] = {
    {0.1f, 0.7f, 0.2f},  /* 1 */
    {0.5f, 0.5f, 0.0f},  /* tie of 0 and 1: 0 */
    {-3.0f, -1.0f, -1.0f}, /* logits, tie of 1 and 2: 1 */
    {0.2f, 0.3f, 0.5f},  /* 2 */
};
static const uint8_t want[4] = {1, 0, 1, 2};

static void test_layouts_and_ties(void **state)
{
    (void)state;
    uint8_t mask[4];
    unet_mask_argmax(&scores_nhwc[0][0], 3, 4, 1, 3, mask);
    assert_memory_equal(mask, want, 4);
    float nchw[3][4];
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++)
            nchw[k][i] = scores_nhwc[i][k];
    unet_mask_argmax(&nchw[0][0], 3, 4, 4, 1, mask);
    assert_memory_equal(mask, want, 4);
}

static void test_nan_and_one_class(void **state)
{
    (void)state;
    const float nan_first[3] = {NAN, 0.5f, 0.9f}; /* no score compares above NaN */
    const float nan_later[3] = {0.5f, NAN, 0.2f};
    uint8_t m = 9;
    unet_mask_argmax(nan_first, 3, 1, 1, 3, &m);
    assert_int_equal(m, 0);
    unet_mask_argmax(nan_later, 3, 1, 1, 3, &m);
    assert_int_equal(m, 0);
    const float one[5] = {3, -1, 0, 7, 2};
    uint8_t zeros[5] = {1, 1, 1, 1, 1};
    unet_mask_argmax(one, 1, 5, 5, 1, zeros);
    for (int i = 0; i < 5; i++)
        assert_int_equal(zeros[i], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layouts_and_ties),
        cmocka_unit_test(test_nan_and_one_class),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
