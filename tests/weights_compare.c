/* Comparing trained weights (see weights_compare.h). */
#include "weights_compare.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "init_weights.h"

static void load_weights(const char *path, unet_params **out)
{
    unet_arch a;
    if (init_weights_arch(path, &a) != UNET_OK)
        fail_msg("%s", unet_last_error());
    assert_int_equal(params_create(&a, out), UNET_OK);
    int new_head;
    if (init_weights_load(path, *out, 0, &new_head) != UNET_OK)
        fail_msg("%s", unet_last_error());
}

void weights_assert_same(const char *a_path, const char *b_path)
{
    unet_params *a, *b;
    load_weights(a_path, &a);
    load_weights(b_path, &b);
    assert_int_equal(a->n, b->n);
    for (int i = 0; i < a->n; i++)
        if (memcmp(a->p[i].data, b->p[i].data, a->p[i].count * sizeof(float)) != 0)
            fail_msg("%s and %s differ in %s", a_path, b_path, a->p[i].name);
    params_free(a);
    params_free(b);
}

double weights_relative_difference(const char *a_path, const char *b_path, int *identical)
{
    unet_params *a, *b;
    load_weights(a_path, &a);
    load_weights(b_path, &b);
    assert_int_equal(a->n, b->n);
    double num = 0, den = 0;
    int same = 1;
    for (int i = 0; i < a->n; i++) {
        assert_int_equal(a->p[i].count, b->p[i].count);
        if (memcmp(a->p[i].data, b->p[i].data, a->p[i].count * sizeof(float)) != 0)
            same = 0;
        for (size_t k = 0; k < a->p[i].count; k++) {
            const double d = (double)a->p[i].data[k] - (double)b->p[i].data[k];
            num += d * d;
            den += (double)a->p[i].data[k] * (double)a->p[i].data[k];
        }
    }
    params_free(a);
    params_free(b);
    assert_true(den > 0);
    if (identical)
        *identical = same;
    return sqrt(num / den);
}
