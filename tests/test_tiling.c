/* Tiling geometry: hand-computed origins, a naive step-by-step reference over
 * many sizes, and pixel-coverage checks by counting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unet/tiling.h>

static void expect_axis(int length, int tile, int stride, unet_tiling_mode mode,
                        const int *want, size_t n_want)
{
    int got[64];
    size_t n = 99;
    assert_int_equal(unet_tiling_axis(length, tile, stride, mode, got, 64, &n), UNET_OK);
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n; i++) assert_int_equal(got[i], want[i]);
}

#define AXIS(L, T, S, M, ...)                                                   \
    do {                                                                        \
        static const int want_[] = {__VA_ARGS__};                               \
        expect_axis(L, T, S, M, want_, sizeof want_ / sizeof want_[0]);         \
    } while (0)

/* A Dubai "Tile 1" width, worked out by hand. */
static void test_no_overlap_by_hand(void **state)
{
    (void)state;
    AXIS(797, 256, 256, UNET_TILING_ALIGN_EDGE, 0, 256, 512, 541);
    AXIS(797, 256, 256, UNET_TILING_PAD, 0, 256, 512, 768);
    AXIS(797, 256, 256, UNET_TILING_DROP_PARTIAL, 0, 256, 512);
}

/* tile 256, overlap 64 -> stride 192; heights 644 and 643 of Tile 1. */
static void test_overlap_by_hand(void **state)
{
    (void)state;
    AXIS(644, 256, 192, UNET_TILING_ALIGN_EDGE, 0, 192, 384, 388);
    AXIS(644, 256, 192, UNET_TILING_PAD, 0, 192, 384, 576);
    AXIS(644, 256, 192, UNET_TILING_DROP_PARTIAL, 0, 192, 384);
    AXIS(643, 256, 192, UNET_TILING_ALIGN_EDGE, 0, 192, 384, 387);
    AXIS(643, 256, 192, UNET_TILING_PAD, 0, 192, 384, 576);
    AXIS(643, 256, 192, UNET_TILING_DROP_PARTIAL, 0, 192, 384);
}

/* Sizes one pixel either side of an exact multiple change the plan. */
static void test_one_pixel_differences(void **state)
{
    (void)state;
    AXIS(512, 256, 256, UNET_TILING_ALIGN_EDGE, 0, 256);
    AXIS(512, 256, 256, UNET_TILING_PAD, 0, 256);
    AXIS(512, 256, 256, UNET_TILING_DROP_PARTIAL, 0, 256);
    AXIS(513, 256, 256, UNET_TILING_ALIGN_EDGE, 0, 256, 257);
    AXIS(513, 256, 256, UNET_TILING_PAD, 0, 256, 512);
    AXIS(513, 256, 256, UNET_TILING_DROP_PARTIAL, 0, 256);
    AXIS(511, 256, 256, UNET_TILING_ALIGN_EDGE, 0, 255);
    AXIS(511, 256, 256, UNET_TILING_PAD, 0, 256);
    AXIS(511, 256, 256, UNET_TILING_DROP_PARTIAL, 0);
}

static void test_smaller_than_tile(void **state)
{
    (void)state;
    AXIS(100, 256, 256, UNET_TILING_ALIGN_EDGE, 0);
    AXIS(100, 256, 200, UNET_TILING_PAD, 0);
    size_t n = 99;
    assert_int_equal(unet_tiling_axis(100, 256, 256, UNET_TILING_DROP_PARTIAL, NULL, 0, &n), UNET_OK);
    assert_int_equal(n, 0);
    AXIS(256, 256, 128, UNET_TILING_DROP_PARTIAL, 0);
    AXIS(1, 1, 1, UNET_TILING_ALIGN_EDGE, 0);

    unet_window *w = NULL;
    assert_int_equal(unet_tiling_plan(100, 300, 256, 256, UNET_TILING_PAD, &w, &n), UNET_OK);
    assert_int_equal(n, 2);
    assert_int_equal(w[0].x, 0);
    assert_int_equal(w[0].y, 0);
    assert_int_equal(w[0].width, 100);
    assert_int_equal(w[0].height, 256);
    assert_int_equal(w[1].y, 256);
    assert_int_equal(w[1].width, 100);
    assert_int_equal(w[1].height, 44);
    free(w);

    w = (unet_window *)1;
    assert_int_equal(unet_tiling_plan(100, 300, 256, 256, UNET_TILING_DROP_PARTIAL, &w, &n), UNET_OK);
    assert_int_equal(n, 0);
    assert_null(w);
}

static void test_stride_one(void **state)
{
    (void)state;
    AXIS(5, 3, 1, UNET_TILING_ALIGN_EDGE, 0, 1, 2);
    AXIS(5, 3, 1, UNET_TILING_PAD, 0, 1, 2);
    AXIS(5, 3, 1, UNET_TILING_DROP_PARTIAL, 0, 1, 2);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    size_t n;
    int o[4];
    assert_int_equal(unet_tiling_axis(10, 4, 0, UNET_TILING_PAD, NULL, 0, &n), UNET_ERR_ARG);
    assert_int_equal(unet_tiling_axis(10, 4, 5, UNET_TILING_PAD, NULL, 0, &n), UNET_ERR_ARG);
    assert_int_equal(unet_tiling_axis(10, 0, 1, UNET_TILING_PAD, NULL, 0, &n), UNET_ERR_ARG);
    assert_int_equal(unet_tiling_axis(0, 4, 4, UNET_TILING_PAD, NULL, 0, &n), UNET_ERR_ARG);
    assert_int_equal(unet_tiling_axis(-3, 4, 4, UNET_TILING_PAD, NULL, 0, &n), UNET_ERR_ARG);
    assert_int_equal(unet_tiling_axis(10, 4, 4, (unet_tiling_mode)7, NULL, 0, &n), UNET_ERR_ARG);
    /* 100 / 4 -> 25 windows do not fit in 4 slots. */
    assert_int_equal(unet_tiling_axis(100, 4, 4, UNET_TILING_PAD, o, 4, &n), UNET_ERR_LIMIT);
    assert_non_null(strstr(unet_last_error(), "25 windows"));
    unet_window *w;
    assert_int_equal(unet_tiling_plan(10, 10, 4, 8, UNET_TILING_PAD, &w, &n), UNET_ERR_ARG);
    assert_non_null(strstr(unet_last_error(), "stride"));
}

/* Naive reference: walk origin by origin. */
static size_t reference_axis(int L, int T, int S, unet_tiling_mode mode, int *out)
{
    size_t n = 0;
    if (mode == UNET_TILING_DROP_PARTIAL) {
        for (int o = 0; o + T <= L; o += S) out[n++] = o;
        return n;
    }
    for (int o = 0;; o += S) {
        if (o + T >= L) {
            out[n++] = (mode == UNET_TILING_ALIGN_EDGE && L > T) ? L - T : o;
            return n;
        }
        out[n++] = o;
    }
}

static void test_against_reference_and_coverage(void **state)
{
    (void)state;
    static const unet_tiling_mode modes[] = {UNET_TILING_ALIGN_EDGE, UNET_TILING_PAD,
                                             UNET_TILING_DROP_PARTIAL};
    int got[128], want[128], cover[128];
    for (int L = 1; L <= 60; L++)
        for (int T = 1; T <= 20; T++)
            for (int S = 1; S <= T; S++)
                for (int m = 0; m < 3; m++) {
                    size_t n, nw = reference_axis(L, T, S, modes[m], want);
                    assert_int_equal(unet_tiling_axis(L, T, S, modes[m], got, 128, &n), UNET_OK);
                    assert_int_equal(n, nw);
                    memset(cover, 0, sizeof cover);
                    for (size_t i = 0; i < n; i++) {
                        assert_int_equal(got[i], want[i]);
                        if (i > 0) {
                            /* Increasing, and never a gap between neighbours. */
                            assert_true(got[i] > got[i - 1]);
                            assert_true(got[i] - got[i - 1] <= S);
                        }
                        for (int p = got[i]; p < got[i] + T && p < L; p++) cover[p]++;
                        if (modes[m] != UNET_TILING_PAD && L >= T) assert_true(got[i] + T <= L);
                    }
                    for (int p = 0; p < L; p++) {
                        if (modes[m] == UNET_TILING_DROP_PARTIAL) {
                            /* Exactly the pixels before the end of the last whole window. */
                            int inside = n > 0 && p < got[n - 1] + T;
                            assert_int_equal(cover[p] > 0, inside);
                        } else {
                            assert_true(cover[p] > 0);
                        }
                    }
                }
}

/* 2-D plans: row-major, sizes clipped to the image, every pixel covered. */
static void test_plan_cover(void **state)
{
    (void)state;
    static const int sizes[][2] = {{797, 644}, {797, 643}, {37, 19}, {19, 37}, {64, 64}, {65, 63}};
    static const int tiles[][2] = {{256, 256}, {256, 192}, {16, 12}, {32, 32}, {8, 3}};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (size_t ti = 0; ti < sizeof tiles / sizeof tiles[0]; ti++)
            for (int mode = 0; mode < 3; mode++) {
                int W = sizes[si][0], H = sizes[si][1], T = tiles[ti][0], S = tiles[ti][1];
                unet_window *w = NULL;
                size_t n = 0, nx = 0, ny = 0;
                assert_int_equal(unet_tiling_plan(W, H, T, S, (unet_tiling_mode)mode, &w, &n), UNET_OK);
                assert_int_equal(unet_tiling_axis(W, T, S, (unet_tiling_mode)mode, NULL, 0, &nx), UNET_OK);
                assert_int_equal(unet_tiling_axis(H, T, S, (unet_tiling_mode)mode, NULL, 0, &ny), UNET_OK);
                assert_int_equal(n, nx * ny);
                unsigned char *cover = calloc((size_t)W * H, 1);
                assert_non_null(cover);
                for (size_t k = 0; k < n; k++) {
                    assert_int_equal(w[k].width, W - w[k].x < T ? W - w[k].x : T);
                    assert_int_equal(w[k].height, H - w[k].y < T ? H - w[k].y : T);
                    assert_true(w[k].width > 0 && w[k].height > 0);
                    if (k > 0) /* row-major: y never decreases; within a row x increases */
                        assert_true(w[k].y > w[k - 1].y || (w[k].y == w[k - 1].y && w[k].x > w[k - 1].x));
                    for (int y = w[k].y; y < w[k].y + w[k].height; y++)
                        for (int x = w[k].x; x < w[k].x + w[k].width; x++) cover[(size_t)y * W + x] = 1;
                }
                if (mode != UNET_TILING_DROP_PARTIAL)
                    for (size_t p = 0; p < (size_t)W * H; p++) assert_int_equal(cover[p], 1);
                else
                    for (size_t k = 0; k < n; k++) assert_true(w[k].width == T && w[k].height == T);
                free(cover);
                free(w);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_overlap_by_hand),
        cmocka_unit_test(test_overlap_by_hand),
        cmocka_unit_test(test_one_pixel_differences),
        cmocka_unit_test(test_smaller_than_tile),
        cmocka_unit_test(test_stride_one),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_against_reference_and_coverage),
        cmocka_unit_test(test_plan_cover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
