/* Metrics against hand-computed values (fractions worked out on paper). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unet/metrics.h>

#define EPS 1e-12

/* cmocka 1.1.5 has no assert_double_equal. */
#define assert_double_equal(a, b, eps) assert_close((a), (b), (eps), #a, __LINE__)
static void assert_close(double got, double want, double eps, const char *what, int line)
{
    if (!(fabs(got - want) <= eps))
        fail_msg("line %d: %s = %.17g, expected %.17g", line, what, got, want);
}

/* Expands a confusion matrix into (truth, pred) pixel pairs, interleaving
 * entries so that order does not matter to the code under test. */
static size_t pixels_from_matrix(int k, const int *matrix, uint8_t *truth, uint8_t *pred)
{
    size_t n = 0;
    for (int t = 0; t < k; t++)
        for (int p = 0; p < k; p++)
            for (int i = 0; i < matrix[t * k + p]; i++) {
                truth[n] = (uint8_t)t;
                pred[n] = (uint8_t)p;
                n++;
            }
    /* Reverse the second half so pixels are not grouped by class. */
    for (size_t i = n / 2, j = n - 1; i < j; i++, j--) {
        uint8_t a = truth[i], b = pred[i];
        truth[i] = truth[j]; pred[i] = pred[j];
        truth[j] = a; pred[j] = b;
    }
    return n;
}

/*        p0 p1 p2
 *   t0 [  5  1  0 ]   support 6, predicted 7
 *   t1 [  2  3  1 ]   support 6, predicted 5
 *   t2 [  0  1  4 ]   support 5, predicted 5
 */
static const int example3[9] = {5, 1, 0, 2, 3, 1, 0, 1, 4};

static void test_three_classes(void **state)
{
    (void)state;
    uint8_t truth[64], pred[64];
    size_t n = pixels_from_matrix(3, example3, truth, pred);
    assert_int_equal(n, 17);

    unet_confusion cm;
    assert_int_equal(unet_confusion_init(&cm, 3), UNET_OK);
    assert_int_equal(unet_confusion_add(&cm, truth, pred, n, 255), UNET_OK);
    for (int i = 0; i < 9; i++)
        assert_int_equal(cm.counts[i], (uint64_t)example3[i]);

    unet_metrics m;
    unet_metrics_compute(&cm, &m);
    assert_int_equal(m.n_classes, 3);
    assert_int_equal(m.total, 17);
    assert_int_equal(m.n_present, 3);
    assert_double_equal(m.pixel_accuracy, 12.0 / 17.0, EPS);

    /* class 0: TP 5, FP 2, FN 1 */
    assert_int_equal(m.per_class[0].support, 6);
    assert_int_equal(m.per_class[0].predicted, 7);
    assert_double_equal(m.per_class[0].precision, 5.0 / 7.0, EPS);
    assert_double_equal(m.per_class[0].recall, 5.0 / 6.0, EPS);
    assert_double_equal(m.per_class[0].f1, 10.0 / 13.0, EPS);
    assert_double_equal(m.per_class[0].iou, 5.0 / 8.0, EPS);
    /* class 1: TP 3, FP 2, FN 3 */
    assert_int_equal(m.per_class[1].support, 6);
    assert_int_equal(m.per_class[1].predicted, 5);
    assert_double_equal(m.per_class[1].precision, 3.0 / 5.0, EPS);
    assert_double_equal(m.per_class[1].recall, 1.0 / 2.0, EPS);
    assert_double_equal(m.per_class[1].f1, 6.0 / 11.0, EPS);
    assert_double_equal(m.per_class[1].iou, 3.0 / 8.0, EPS);
    /* class 2: TP 4, FP 1, FN 1 */
    assert_int_equal(m.per_class[2].support, 5);
    assert_int_equal(m.per_class[2].predicted, 5);
    assert_double_equal(m.per_class[2].precision, 4.0 / 5.0, EPS);
    assert_double_equal(m.per_class[2].recall, 4.0 / 5.0, EPS);
    assert_double_equal(m.per_class[2].f1, 4.0 / 5.0, EPS);
    assert_double_equal(m.per_class[2].iou, 2.0 / 3.0, EPS);

    /* (5/8 + 3/8 + 2/3) / 3 = 5/9 */
    assert_double_equal(m.mean_iou, 5.0 / 9.0, EPS);
    assert_double_equal(m.macro_f1, (10.0 / 13.0 + 6.0 / 11.0 + 4.0 / 5.0) / 3.0, EPS);
    assert_double_equal(m.weighted_f1, (6 * 10.0 / 13.0 + 6 * 6.0 / 11.0 + 5 * 4.0 / 5.0) / 17.0, EPS);
    unet_confusion_free(&cm);
}

/* Class 2 never occurs in the truth but is predicted twice; class 3 never
 * occurs at all. Both are left out of mIoU and macro F1. */
static void test_absent_classes(void **state)
{
    (void)state;
    /*        p0 p1 p2 p3
     *   t0 [  3  1  2  0 ]
     *   t1 [  0  4  0  0 ]
     *   t2 [  0  0  0  0 ]
     *   t3 [  0  0  0  0 ] */
    static const int mat[16] = {3, 1, 2, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    uint8_t truth[32], pred[32];
    size_t n = pixels_from_matrix(4, mat, truth, pred);
    unet_confusion cm;
    assert_int_equal(unet_confusion_init(&cm, 4), UNET_OK);
    assert_int_equal(unet_confusion_add(&cm, truth, pred, n, 255), UNET_OK);
    unet_metrics m;
    unet_metrics_compute(&cm, &m);
    assert_int_equal(m.n_present, 2);
    assert_int_equal(m.total, 10);

    /* class 2: TP 0, FP 2, FN 0: precision 0, recall undefined, F1 = IoU = 0 */
    assert_double_equal(m.per_class[2].precision, 0.0, EPS);
    assert_true(isnan(m.per_class[2].recall));
    assert_double_equal(m.per_class[2].f1, 0.0, EPS);
    assert_double_equal(m.per_class[2].iou, 0.0, EPS);
    /* class 3: nothing anywhere: everything undefined */
    assert_int_equal(m.per_class[3].support, 0);
    assert_int_equal(m.per_class[3].predicted, 0);
    assert_true(isnan(m.per_class[3].precision));
    assert_true(isnan(m.per_class[3].recall));
    assert_true(isnan(m.per_class[3].f1));
    assert_true(isnan(m.per_class[3].iou));
    /* classes beyond n_classes are undefined too */
    assert_true(isnan(m.per_class[4].iou));

    /* class 0: TP 3, FP 0, FN 3 -> IoU 1/2, F1 6/9; class 1: TP 4, FP 1, FN 0 -> IoU 4/5, F1 8/9 */
    assert_double_equal(m.per_class[0].iou, 1.0 / 2.0, EPS);
    assert_double_equal(m.per_class[1].iou, 4.0 / 5.0, EPS);
    assert_double_equal(m.mean_iou, (1.0 / 2.0 + 4.0 / 5.0) / 2.0, EPS);
    assert_double_equal(m.macro_f1, (6.0 / 9.0 + 8.0 / 9.0) / 2.0, EPS);
    assert_double_equal(m.weighted_f1, (6 * 6.0 / 9.0 + 4 * 8.0 / 9.0) / 10.0, EPS);
    assert_double_equal(m.pixel_accuracy, 7.0 / 10.0, EPS);
    unet_confusion_free(&cm);
}

static void test_ignore_label_and_out_of_range_truth(void **state)
{
    (void)state;
    /* Pixels 1, 3 and 5 are ignored (255) or not a class (7); predictions there do not count. */
    const uint8_t truth[6] = {0, 255, 1, 255, 2, 7};
    const uint8_t pred[6] = {0, 1, 1, 2, 0, 2};
    unet_confusion cm;
    assert_int_equal(unet_confusion_init(&cm, 3), UNET_OK);
    assert_int_equal(unet_confusion_add(&cm, truth, pred, 6, 255), UNET_OK);
    const uint64_t expect[9] = {1, 0, 0, 0, 1, 0, 1, 0, 0};
    for (int i = 0; i < 9; i++)
        assert_int_equal(cm.counts[i], expect[i]);
    unet_metrics m;
    unet_metrics_compute(&cm, &m);
    assert_int_equal(m.total, 3);
    assert_double_equal(m.pixel_accuracy, 2.0 / 3.0, EPS);

    /* A different ignore label: 2 is skipped, 255 is not a class either. */
    unet_confusion_reset(&cm);
    assert_int_equal(unet_confusion_add(&cm, truth, pred, 6, 2), UNET_OK);
    const uint64_t expect2[9] = {1, 0, 0, 0, 1, 0, 0, 0, 0};
    for (int i = 0; i < 9; i++)
        assert_int_equal(cm.counts[i], expect2[i]);
    unet_confusion_free(&cm);
}

static void test_prediction_out_of_range(void **state)
{
    (void)state;
    const uint8_t truth[4] = {0, 1, 2, 1};
    const uint8_t pred[4] = {0, 1, 3, 1};
    unet_confusion cm;
    assert_int_equal(unet_confusion_init(&cm, 3), UNET_OK);
    assert_int_equal(unet_confusion_add(&cm, truth, pred, 4, 255), UNET_ERR_ARG);
    assert_non_null(strstr(unet_last_error(), "prediction 3"));
    /* the failed call left the matrix untouched */
    for (int i = 0; i < 9; i++)
        assert_int_equal(cm.counts[i], 0);
    unet_confusion_free(&cm);
}

static void test_merge(void **state)
{
    (void)state;
    uint8_t truth[64], pred[64];
    size_t n = pixels_from_matrix(3, example3, truth, pred);
    unet_confusion a, b, c;
    assert_int_equal(unet_confusion_init(&a, 3), UNET_OK);
    assert_int_equal(unet_confusion_init(&b, 3), UNET_OK);
    assert_int_equal(unet_confusion_init(&c, 4), UNET_OK);
    /* first 10 pixels into a, the rest into b, then once more all into b */
    assert_int_equal(unet_confusion_add(&a, truth, pred, 10, 255), UNET_OK);
    assert_int_equal(unet_confusion_add(&b, truth + 10, pred + 10, n - 10, 255), UNET_OK);
    assert_int_equal(unet_confusion_merge(&a, &b), UNET_OK);
    for (int i = 0; i < 9; i++)
        assert_int_equal(a.counts[i], (uint64_t)example3[i]);
    assert_int_equal(unet_confusion_add(&b, truth, pred, n, 255), UNET_OK);
    assert_int_equal(unet_confusion_merge(&a, &b), UNET_OK);
    uint64_t b_total = 0;
    for (int i = 0; i < 9; i++)
        b_total += b.counts[i];
    assert_int_equal(b_total, 17 + 7);
    uint64_t a_total = 0;
    for (int i = 0; i < 9; i++)
        a_total += a.counts[i];
    assert_int_equal(a_total, 17 + 24);

    assert_int_equal(unet_confusion_merge(&a, &c), UNET_ERR_ARG);
    unet_confusion_free(&a);
    unet_confusion_free(&b);
    unet_confusion_free(&c);
}

static void test_bad_arguments_and_empty(void **state)
{
    (void)state;
    unet_confusion cm;
    assert_int_equal(unet_confusion_init(&cm, 0), UNET_ERR_ARG);
    assert_int_equal(unet_confusion_init(&cm, UNET_MAX_CLASSES + 1), UNET_ERR_ARG);
    assert_int_equal(unet_confusion_init(&cm, UNET_MAX_CLASSES), UNET_OK);
    unet_metrics m;
    unet_metrics_compute(&cm, &m); /* nothing counted: every ratio undefined */
    assert_int_equal(m.total, 0);
    assert_int_equal(m.n_present, 0);
    assert_true(isnan(m.pixel_accuracy));
    assert_true(isnan(m.mean_iou));
    assert_true(isnan(m.macro_f1));
    assert_true(isnan(m.weighted_f1));
    /* with 256 classes, 255 is still the ignore label when asked */
    const uint8_t t[2] = {255, 255}, p[2] = {255, 0};
    assert_int_equal(unet_confusion_add(&cm, t, p, 2, 255), UNET_OK);
    unet_metrics_compute(&cm, &m);
    assert_int_equal(m.total, 0);
    assert_int_equal(unet_confusion_add(&cm, t, p, 2, -1), UNET_OK);
    unet_metrics_compute(&cm, &m);
    assert_int_equal(m.total, 2);
    assert_int_equal(cm.counts[255 * 256 + 255], 1);
    assert_int_equal(cm.counts[255 * 256 + 0], 1);
    unet_confusion_free(&cm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_classes),
        cmocka_unit_test(test_absent_classes),
        cmocka_unit_test(test_ignore_label_and_out_of_range_truth),
        cmocka_unit_test(test_prediction_out_of_range),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_bad_arguments_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
