/* The pieces of the search that need no training:
 *  - grids: combinations and their order written out by hand, keys left to
 *    the base, value checks and their messages;
 *  - parameter counts from the architecture against the allocated
 *    parameters (params_create + params_trainable_count);
 *  - the training log CSV written and read back, value for value;
 *  - the plot: a constant series lands on the pixel row computed by hand from
 *    the documented geometry, in its colour, and the legend swatch is there. */
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
#include <unet/unet.h>

#include "curves.h"
#include "grid.h"
#include "net.h"

static grid_config base_config(void)
{
    grid_config b = {.lr = 0.01, .filters = 16, .depth = 4, .batchnorm = 0, .dropout = 0.1,
                     .weight_decay = 0};
    snprintf(b.class_weights, sizeof b.class_weights, "none");
    return b;
}

static void test_grid_order(void **state)
{
    (void)state;
    const grid_config base = base_config();
    grid g;
    assert_int_equal(grid_parse("lr=1e-3,3e-4 filters=8,16,32  depth=3,4,5", &base, &g), UNET_OK);
    assert_int_equal(g.n, 18);
    assert_int_equal(g.varied, GRID_LR | GRID_FILTERS | GRID_DEPTH);
    /* The first key varies slowest, the last fastest. */
    const double lrs[2] = {1e-3, 3e-4};
    const int filters[3] = {8, 16, 32}, depths[3] = {3, 4, 5};
    int i = 0;
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 3; c++, i++) {
                assert_true(g.configs[i].lr == lrs[a]);
                assert_int_equal(g.configs[i].filters, filters[b]);
                assert_int_equal(g.configs[i].depth, depths[c]);
                /* Keys not named keep the base. */
                assert_int_equal(g.configs[i].batchnorm, 0);
                assert_true(g.configs[i].dropout == 0.1);
                assert_string_equal(g.configs[i].class_weights, "none");
            }
    char label[200];
    grid_config_label(&g.configs[5], g.varied, label, sizeof label);
    assert_string_equal(label, "lr=0.001 filters=16 depth=5");
    grid_config_slug(&g.configs[5], label, sizeof label);
    assert_string_equal(label, "lr0.001-f16-d5-bn0-do0.1-wd0-cwnone");
    grid_free(&g);

    /* No spec: the base alone. */
    assert_int_equal(grid_parse(NULL, &base, &g), UNET_OK);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.configs[0].filters, 16);
    grid_config_label(&g.configs[0], g.varied, label, sizeof label);
    assert_string_equal(label, "lr=0.01 filters=16 depth=4 dropout=0.1");
    grid_free(&g);

    assert_int_equal(grid_parse("batchnorm=0,1 class_weights=none,auto,1:2:0.5", &base, &g),
                     UNET_OK);
    assert_int_equal(g.n, 6);
    assert_int_equal(g.configs[3].batchnorm, 1);
    assert_string_equal(g.configs[3].class_weights, "none");
    assert_string_equal(g.configs[5].class_weights, "1,2,0.5");
    grid_free(&g);

    /* loss: the kind varies, the weight stays the base's; a cross-entropy
     * run keeps the slug it had before the key existed. */
    grid_config wbase = base;
    wbase.loss.weight = 0.5;
    assert_int_equal(grid_parse("loss=ce,ce+lovasz,dice", &wbase, &g), UNET_OK);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.varied, GRID_LOSS);
    assert_int_equal(g.configs[0].loss.kind, LOSS_CE);
    assert_int_equal(g.configs[1].loss.kind, LOSS_CE_LOVASZ);
    assert_int_equal(g.configs[2].loss.kind, LOSS_DICE);
    assert_true(g.configs[1].loss.weight == 0.5);
    grid_config_label(&g.configs[1], g.varied, label, sizeof label);
    assert_string_equal(label, "loss=ce+lovasz");
    grid_config_slug(&g.configs[0], label, sizeof label);
    assert_string_equal(label, "lr0.01-f16-d4-bn0-do0.1-wd0-cwnone");
    grid_config_slug(&g.configs[1], label, sizeof label);
    assert_string_equal(label, "lr0.01-f16-d4-bn0-do0.1-wd0-cwnone-lossce_lovasz");
    grid_free(&g);
}

static void expect_error(const char *spec, const char *needle)
{
    const grid_config base = base_config();
    grid g;
    assert_int_not_equal(grid_parse(spec, &base, &g), UNET_OK);
    if (!strstr(unet_last_error(), needle))
        fail_msg("'%s': message '%s' lacks '%s'", spec, unet_last_error(), needle);
    assert_int_equal(g.n, 0);
    assert_null(g.configs);
}

static void test_grid_errors(void **state)
{
    (void)state;
    expect_error("speed=1,2", "unknown key 'speed'");
    expect_error("lr=1e-3 lr=1e-4", "given twice");
    expect_error("depth=3,9", "depth wants an integer in 1..6, got '9'");
    expect_error("filters=8,,16", "empty choice");
    expect_error("lr", "is not KEY=V1,V2");
    expect_error("lr=0", "lr wants a number in (0, 10]");
    expect_error("batchnorm=2", "batchnorm wants 0 or 1");
    expect_error("class_weights=heavy", "class_weights wants none, auto");
    expect_error("loss=ce,focal", "loss wants ce, dice, lovasz, ce+dice or ce+lovasz, got 'focal'");

    float *w;
    double automatic;
    assert_int_equal(grid_class_weights_parse("1,2:3", 3, &w, &automatic), UNET_OK);
    assert_true(automatic == 0);
    assert_true(w[0] == 1.0f && w[1] == 2.0f && w[2] == 3.0f);
    free(w);
    assert_int_equal(grid_class_weights_parse("auto", 3, &w, &automatic), UNET_OK);
    assert_true(automatic == 1.0);
    assert_null(w);
    assert_int_equal(grid_class_weights_parse("sqrt", 3, &w, &automatic), UNET_OK);
    assert_true(automatic == 0.5);
    assert_null(w);
    assert_int_not_equal(grid_class_weights_parse("1,2", 3, &w, &automatic), UNET_OK);
    assert_non_null(strstr(unet_last_error(), "2 weight(s) for 3 classes"));
    assert_int_not_equal(grid_class_weights_parse("0,0,0", 3, &w, &automatic), UNET_OK);
}

static void test_param_count(void **state)
{
    (void)state;
    for (int depth = 1; depth <= 4; depth++)
        for (int bn = 0; bn <= 1; bn++)
            for (int f = 2; f <= 8; f *= 2) {
                const unet_arch a = {.in_channels = 3, .n_classes = 6, .depth = depth,
                                     .base_filters = f, .batchnorm = bn};
                unet_params *p;
                assert_int_equal(params_create(&a, &p), UNET_OK);
                assert_int_equal(grid_arch_param_count(&a), params_trainable_count(p));
                params_free(p);
            }
    /* By hand: depth 1, 2 filters, no BN, 3 -> 6 classes:
     * enc0 3->2: 54+2 + 36+2; mid 2->4: 72+4 + 144+4; up 4->2: 32+2;
     * dec0 4->2: 72+2 + 36+2; head 12+6. */
    const unet_arch a = {.in_channels = 3, .n_classes = 6, .depth = 1, .base_filters = 2};
    assert_int_equal(grid_arch_param_count(&a), 94 + 224 + 34 + 112 + 18);
}

static char tmpdir[64];

static void test_log_round_trip(void **state)
{
    (void)state;
    curve_log log = {0};
    for (int e = 1; e <= 5; e++) {
        const curve_row r = {.epoch = e, .partial = e == 5, .step = (uint64_t)e * 3,
                             .lr = 1e-3 / e, .train_loss = 2.0 / e, .train_accuracy = 0.1 * e,
                             .val_loss = e == 2 ? NAN : 1.5 / e,
                             .val_pixel_accuracy = 0.11 * e, .val_miou = 0.05 * e,
                             .val_macro_f1 = 0.06 * e, .best = e == 4,
                             .epoch_seconds = 0.25 * e};
        curve_row row = r;
        /* Per-class IoU on validated epochs; a class absent from validation is NaN. */
        if (e != 2) {
            row.n_class_iou = 3;
            row.val_class_iou[0] = 0.1 * e;
            row.val_class_iou[1] = NAN;
            row.val_class_iou[2] = 0.01 * e;
        }
        assert_int_equal(curve_log_append(&log, &row), UNET_OK);
    }
    unet_palette pal;
    unet_palette_default(&pal);
    snprintf(pal.classes[2].name, sizeof pal.classes[2].name, "Road (paved)");
    curve_log_name_classes(&log, &pal);
    assert_int_equal(log.n_class_columns, 6);
    assert_string_equal(log.class_column[2], "iou_Road__paved_");
    char path[128];
    snprintf(path, sizeof path, "%s/log.csv", tmpdir);
    assert_int_equal(curve_log_write(path, &log), UNET_OK);
    curve_log back;
    assert_int_equal(curve_log_read(path, &back), UNET_OK);
    assert_int_equal(back.n, 5);
    for (int i = 0; i < 5; i++) {
        const curve_row *a = &log.rows[i], *b = &back.rows[i];
        assert_int_equal(a->epoch, b->epoch);
        assert_int_equal(a->partial, b->partial);
        assert_int_equal(a->step, b->step);
        assert_int_equal(a->best, b->best);
        const double x[8] = {a->lr, a->train_loss, a->train_accuracy, a->val_loss,
                             a->val_pixel_accuracy, a->val_miou, a->val_macro_f1,
                             a->epoch_seconds};
        const double y[8] = {b->lr, b->train_loss, b->train_accuracy, b->val_loss,
                             b->val_pixel_accuracy, b->val_miou, b->val_macro_f1,
                             b->epoch_seconds};
        for (int k = 0; k < 8; k++) {
            if (isnan(x[k]))
                assert_true(isnan(y[k]));
            else
                assert_true(fabs(x[k] - y[k]) <= 1e-8 * fabs(x[k]));
        }
        /* Written: as many columns as the widest row (3); read: every row has them. */
        assert_int_equal(b->n_class_iou, 3);
        for (int k = 0; k < 3; k++) {
            const double want = a->n_class_iou ? a->val_class_iou[k] : NAN;
            if (isnan(want))
                assert_true(isnan(b->val_class_iou[k]));
            else
                assert_true(fabs(want - b->val_class_iou[k]) <= 1e-8 * want);
        }
    }
    assert_int_equal(back.n_class_columns, 3);
    assert_string_equal(back.class_column[0], "iou_Building");
    assert_string_equal(back.class_column[2], "iou_Road__paved_");
    curve_log_truncate(&back, 3);
    assert_int_equal(back.n, 3);
    curve_log_free(&back);

    /* unet-train's own log has more columns (tiles_per_second, f1_ per class):
     * unknown ones are skipped, its iou_ columns read in order. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "epoch,partial,step,lr,train_loss,iou_Building,f1_Building,iou_Land,val_miou\n"
               "1,0,4,0.001,1.25,0.5,0.75,0.125,0.25\n");
    fclose(f);
    assert_int_equal(curve_log_read(path, &back), UNET_OK);
    assert_int_equal(back.n, 1);
    assert_true(back.rows[0].train_loss == 1.25 && back.rows[0].val_miou == 0.25);
    assert_true(isnan(back.rows[0].val_loss));
    assert_int_equal(back.rows[0].n_class_iou, 2);
    assert_true(back.rows[0].val_class_iou[0] == 0.5 && back.rows[0].val_class_iou[1] == 0.125);
    assert_string_equal(back.class_column[1], "iou_Land");
    curve_log_free(&back);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "step,lr\n1,2\n");
    fclose(f);
    assert_int_not_equal(curve_log_read(path, &back), UNET_OK);
    assert_non_null(strstr(unet_last_error(), "no 'epoch' column"));
    curve_log_free(&log);
}

static void test_plot_geometry(void **state)
{
    (void)state;
    /* A series at y = 0.5 on [0, 1] over epochs 1..4; x runs over [0, 4]. */
    const double x[4] = {1, 2, 3, 4}, y[4] = {0.5, 0.5, 0.5, 0.5};
    const curve_series s = {"half", {200, 10, 20}, 4, x, y};
    const curve_panel panel = {"test", 1, &s, 0, 1};
    char path[128];
    snprintf(path, sizeof path, "%s/plot.png", tmpdir);
    assert_int_equal(curves_plot(path, &panel, 1), UNET_OK);
    unet_image img;
    assert_int_equal(unet_image_read(path, UNET_IMAGE_DEFAULT, &img), UNET_OK);
    assert_int_equal(img.width, CURVES_PANEL_W);
    assert_int_equal(img.height, CURVES_H);
    assert_int_equal(img.channels, 3);
    /* y = 0.5 -> bottom - 0.5 (bottom - top); x = 2.5 -> left + 2.5/4 (right - left). */
    const int row = CURVES_BOTTOM - (int)lround(0.5 * (CURVES_BOTTOM - CURVES_TOP));
    const int col = CURVES_LEFT + (int)lround(2.5 / 4 * (CURVES_RIGHT - CURVES_LEFT));
    const uint8_t *p = img.pixels + ((size_t)row * (size_t)img.width + (size_t)col) * 3;
    assert_int_equal(p[0], 200);
    assert_int_equal(p[1], 10);
    assert_int_equal(p[2], 20);
    /* Above and below the two-pixel line: background or grid, not the series. */
    for (int dy = -3; dy <= 4; dy += 7) {
        const uint8_t *q = p + (ptrdiff_t)dy * img.width * 3;
        assert_false(q[0] == 200 && q[1] == 10 && q[2] == 20);
    }
    /* The legend swatch sits under the axis at the plot's left edge. */
    const uint8_t *sw = img.pixels + ((size_t)(CURVES_BOTTOM + 54) * (size_t)img.width +
                                      (size_t)(CURVES_LEFT + 8)) * 3;
    assert_true(sw[0] == 200 && sw[1] == 10 && sw[2] == 20);
    /* The x axis is black at the bottom of the plot area. */
    const uint8_t *ax = img.pixels + ((size_t)CURVES_BOTTOM * (size_t)img.width +
                                      (size_t)(CURVES_LEFT + 100)) * 3;
    assert_true(ax[0] == 0 && ax[1] == 0 && ax[2] == 0);
    unet_image_free(&img);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/unet-test-cv-units-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_order),
        cmocka_unit_test(test_grid_errors),
        cmocka_unit_test(test_param_count),
        cmocka_unit_test(test_log_round_trip),
        cmocka_unit_test(test_plot_geometry),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
