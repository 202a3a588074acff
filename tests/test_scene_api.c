/* unet/scene.h from the header alone: an image held by the test is read
 * through the reader callback, segmented by a small model (3x3 Conv and
 * Softmax, built in memory), and every row handed back is compared with a
 * naive whole-image reference computed here in double from the rule the
 * header documents: the windows of ALIGN_EDGE tiling, mirrored padding, the
 * Conv+Softmax by plain loops, flips averaged for TTA, a Gaussian blend
 * (sigma = tile / 8) and argmax, 255 for nodata. Also: rows are asked for
 * once each in order, a stop from the row function ends the scene, bad
 * options are refused. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unet/scene.h>
#include <unet/unet.h>

#include "onnx_builder.h"

#define CI 3
#define CO 4
#define TILE 16

static float weights[CO * CI * 9], bias[CO];

/* The model: Conv 3x3 'same' (zero padding inside each window) + Softmax. */
static unet_model *make_model(void)
{
    uint64_t r = 12345;
    for (int i = 0; i < CO * CI * 9; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        weights[i] = (float)((double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    for (int i = 0; i < CO; i++)
        bias[i] = 0.1f * (float)(i - 1);
    ob_model *m = ob_model_new(17);
    int64_t in_dims[4] = { -1, CI, TILE, TILE }, out_dims[4] = { -1, CO, TILE, TILE };
    int64_t w_dims[4] = { CO, CI, 3, 3 }, b_dims[1] = { CO };
    ob_input(m, "x", UNET_DTYPE_FLOAT, 4, in_dims);
    ob_output(m, "p", UNET_DTYPE_FLOAT, 4, out_dims);
    ob_initializer(m, "w", UNET_DTYPE_FLOAT, 4, w_dims, weights);
    ob_initializer(m, "b", UNET_DTYPE_FLOAT, 1, b_dims, bias);
    ob_node *c = ob_node_add(m, "Conv", "x,w,b", "y");
    int64_t pads[4] = { 1, 1, 1, 1 }, k[2] = { 3, 3 };
    ob_attr_ints(c, "pads", pads, 4);
    ob_attr_ints(c, "kernel_shape", k, 2);
    ob_attr_int(ob_node_add(m, "Softmax", "y", "p"), "axis", 1);
    unet_model *model = NULL;
    assert_int_equal(ob_open(m, &model), UNET_OK);
    ob_model_free(m);
    return model;
}

typedef struct image {
    int w, h;
    uint8_t *px;     /* h x w x 3 */
    uint8_t *valid;  /* h x w, or NULL */
} image;

static image make_image(int w, int h, int nodata_block)
{
    image im = { w, h, malloc((size_t)w * h * 3), NULL };
    uint64_t r = (uint64_t)w * 1000 + (uint64_t)h;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        im.px[i] = (uint8_t)(r >> 56);
    }
    if (nodata_block) { /* the top-left quarter and one column are nodata */
        im.valid = malloc((size_t)w * h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                im.valid[(size_t)y * w + x] = !((y < h / 2 && x < w / 2) || x == w - 2);
    }
    return im;
}

/* Origins along an axis as the header says: 0, S, 2S, ... and L - T last. */
static int origins(int length, int tile, int stride, int *out)
{
    int n = 0;
    if (length <= tile) {
        out[n++] = 0;
        return n;
    }
    for (int o = 0; o + tile < length; o += stride)
        out[n++] = o;
    out[n++] = length - tile;
    return n;
}

static int mirror(int i, int length)
{
    int m = i % (2 * length);
    return m < length ? m : 2 * length - 1 - m;
}

/* Naive probabilities of one window at (ox, oy), read flipped (1 left-right,
 * 2 top-bottom) and flipped back: p[k][y][x] in window coordinates. */
static void window_probs(const image *im, int ox, int oy, int flip, double p[CO][TILE][TILE])
{
    static double in[CI][TILE][TILE];
    for (int y = 0; y < TILE; y++)
        for (int x = 0; x < TILE; x++) {
            int wy = flip == 2 ? TILE - 1 - y : y, wx = flip == 1 ? TILE - 1 - x : x;
            const uint8_t *px = im->px + ((size_t)mirror(oy + wy, im->h) * im->w + mirror(ox + wx, im->w)) * 3;
            for (int c = 0; c < CI; c++)
                in[c][y][x] = px[c] / 255.0;
        }
    for (int y = 0; y < TILE; y++)
        for (int x = 0; x < TILE; x++) {
            double z[CO], mx = -1e300, sum = 0;
            for (int k = 0; k < CO; k++) {
                z[k] = bias[k];
                for (int c = 0; c < CI; c++)
                    for (int a = 0; a < 3; a++)
                        for (int b = 0; b < 3; b++) {
                            int yy = y + a - 1, xx = x + b - 1;
                            if (yy >= 0 && yy < TILE && xx >= 0 && xx < TILE)
                                z[k] += weights[((k * CI + c) * 3 + a) * 3 + b] * in[c][yy][xx];
                        }
                mx = z[k] > mx ? z[k] : mx;
            }
            for (int k = 0; k < CO; k++)
                sum += exp(z[k] - mx);
            /* Back to unflipped window coordinates. */
            int ty = flip == 2 ? TILE - 1 - y : y, tx = flip == 1 ? TILE - 1 - x : x;
            for (int k = 0; k < CO; k++)
                p[k][ty][tx] = exp(z[k] - mx) / sum;
        }
}

static double gauss(int i)
{
    double sigma = TILE / 8.0, d = (i + 0.5) - TILE / 2.0;
    return exp(-d * d / (2.0 * sigma * sigma));
}

/* The blended reference over the whole image: probs[k][y][x]. */
static double *reference(const image *im, int overlap, int tta)
{
    int xs[64], ys[64], nx = origins(im->w, TILE, TILE - overlap, xs), ny = origins(im->h, TILE, TILE - overlap, ys);
    double *acc = calloc((size_t)CO * im->w * im->h, sizeof *acc), *wsum = calloc((size_t)im->w * im->h, sizeof *wsum);
    static double p[CO][TILE][TILE], q[CO][TILE][TILE];
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            memset(q, 0, sizeof q);
            int passes = tta ? 3 : 1;
            for (int f = 0; f < passes; f++) {
                window_probs(im, xs[i], ys[j], f, p);
                for (int k = 0; k < CO; k++)
                    for (int y = 0; y < TILE; y++)
                        for (int x = 0; x < TILE; x++)
                            q[k][y][x] += p[k][y][x] / passes;
            }
            for (int y = 0; y < TILE && ys[j] + y < im->h; y++)
                for (int x = 0; x < TILE && xs[i] + x < im->w; x++) {
                    double wt = gauss(y) * gauss(x);
                    size_t at = (size_t)(ys[j] + y) * im->w + (xs[i] + x);
                    wsum[at] += wt;
                    for (int k = 0; k < CO; k++)
                        acc[(size_t)k * im->w * im->h + at] += wt * q[k][y][x];
                }
        }
    for (int k = 0; k < CO; k++)
        for (size_t at = 0; at < (size_t)im->w * im->h; at++)
            acc[(size_t)k * im->w * im->h + at] /= wsum[at];
    free(wsum);
    return acc;
}

typedef struct run {
    const image *im;
    const double *ref;
    int next_read, next_row;
    int stop_at;          /* row at which the row function says stop, -1 none */
    double max_prob_err;
    int mask_errors, nodata_errors;
} run;

static unet_status read_row(void *ctx, int y, uint8_t *row, uint8_t *valid)
{
    run *r = ctx;
    assert_int_equal(y, r->next_read);
    r->next_read++;
    memcpy(row, r->im->px + (size_t)y * r->im->w * 3, (size_t)r->im->w * 3);
    assert_true((valid != NULL) == (r->im->valid != NULL));
    if (valid)
        memcpy(valid, r->im->valid + (size_t)y * r->im->w, (size_t)r->im->w);
    return UNET_OK;
}

static int take_row(void *ctx, int y, const uint8_t *mask, const float *probs, const uint8_t *img)
{
    run *r = ctx;
    const image *im = r->im;
    assert_int_equal(y, r->next_row);
    r->next_row++;
    if (y == r->stop_at)
        return 1;
    assert_memory_equal(img, im->px + (size_t)y * im->w * 3, (size_t)im->w * 3);
    size_t plane = (size_t)im->w * im->h;
    for (int x = 0; x < im->w; x++) {
        size_t at = (size_t)y * im->w + x;
        int best = 0;
        double second = -1;
        for (int k = 0; k < CO; k++) {
            double e = fabs(probs[(size_t)k * im->w + x] - r->ref[k * plane + at]);
            r->max_prob_err = e > r->max_prob_err ? e : r->max_prob_err;
            if (r->ref[k * plane + at] > r->ref[best * plane + at])
                best = k;
        }
        for (int k = 0; k < CO; k++)
            if (k != best && r->ref[k * plane + at] > second)
                second = r->ref[k * plane + at];
        if (im->valid && !im->valid[at]) {
            r->nodata_errors += mask[x] != 255;
            continue;
        }
        /* A near-tie may go either way in float32. */
        if (mask[x] != best && r->ref[best * plane + at] - second > 1e-5)
            r->mask_errors++;
    }
    return 0;
}

static void check_scene(int w, int h, int overlap, int batch, int tta, int nodata)
{
    unet_model *model = make_model();
    unet_session *session = NULL;
    assert_int_equal(unet_session_create(model, NULL, &session), UNET_OK);
    image im = make_image(w, h, nodata);
    double *ref = reference(&im, overlap, tta);
    run r = { &im, ref, 0, 0, -1, 0, 0, 0 };
    unet_scene_options o = { TILE, overlap, batch, tta, 0, CI, 1.0f / 255.0f, { 0, 0, 0, 0 }, { 1, 1, 1, 1 } };
    unet_scene *sc = NULL;
    assert_int_equal(unet_scene_open(session, w, h, 3, nodata, &o, read_row, &r, take_row, &r, &sc), UNET_OK);
    assert_int_equal(unet_scene_classes(sc), 0);
    size_t run_total = 0;
    int n;
    do {
        assert_int_equal(unet_scene_step(sc, &n), UNET_OK);
        assert_true(n <= batch);
        run_total += (size_t)n;
    } while (n > 0);
    assert_int_equal(unet_scene_step(sc, &n), UNET_OK); /* finished stays finished */
    assert_int_equal(n, 0);
    assert_int_equal(run_total, unet_scene_window_count(sc));
    assert_int_equal(unet_scene_classes(sc), CO);
    assert_int_equal(r.next_read, h);
    assert_int_equal(r.next_row, h);
    print_message("%dx%d overlap %d batch %d tta %d nodata %d: %zu windows, max |p - reference| %.2g, "
                  "mask errors %d\n", w, h, overlap, batch, tta, nodata, unet_scene_window_count(sc),
                  r.max_prob_err, r.mask_errors);
    assert_true(r.max_prob_err < 2e-5);
    assert_int_equal(r.mask_errors, 0);
    assert_int_equal(r.nodata_errors, 0);
    unet_scene_close(sc);
    free(ref);
    free(im.px);
    free(im.valid);
    unet_session_free(session);
    unet_model_free(model);
}

static void test_blend_matches_reference(void **state)
{
    (void)state;
    check_scene(37, 29, 6, 3, 0, 0);
    check_scene(40, 40, 0, 1, 0, 0);
    check_scene(16, 16, 8, 4, 0, 0);
}

static void test_small_image_is_mirrored(void **state)
{
    (void)state;
    check_scene(10, 7, 4, 2, 0, 0);
    check_scene(1, 1, 0, 1, 0, 0);
}

static void test_tta_flips(void **state)
{
    (void)state;
    check_scene(37, 29, 6, 3, 1, 0);
}

static void test_nodata_comes_out_255(void **state)
{
    (void)state;
    check_scene(53, 45, 6, 2, 0, 1);
}

static void test_row_function_stops_scene(void **state)
{
    (void)state;
    unet_model *model = make_model();
    unet_session *session = NULL;
    assert_int_equal(unet_session_create(model, NULL, &session), UNET_OK);
    image im = make_image(40, 40, 0);
    double *ref = reference(&im, 4, 0);
    run r = { &im, ref, 0, 0, 3, 0, 0, 0 };
    unet_scene_options o = { TILE, 4, 2, 0, 0, CI, 1.0f / 255.0f, { 0, 0, 0, 0 }, { 1, 1, 1, 1 } };
    unet_scene *sc = NULL;
    assert_int_equal(unet_scene_open(session, 40, 40, 3, 0, &o, read_row, &r, take_row, &r, &sc), UNET_OK);
    unet_status st = UNET_OK;
    int n = 1;
    while (st == UNET_OK && n > 0)
        st = unet_scene_step(sc, &n);
    assert_int_equal(st, UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), "row function"));
    assert_int_equal(r.next_row, 4); /* rows 0..3 handed over, none after the stop */
    unet_scene_close(sc);
    free(ref);
    free(im.px);
    unet_session_free(session);
    unet_model_free(model);
}

static void test_bad_options_refused(void **state)
{
    (void)state;
    unet_model *model = make_model();
    unet_session *session = NULL;
    assert_int_equal(unet_session_create(model, NULL, &session), UNET_OK);
    run r = { 0 };
    unet_scene *sc = (unet_scene *)&r;
    unet_scene_options ok = { TILE, 4, 2, 0, 0, CI, 1.0f / 255.0f, { 0, 0, 0, 0 }, { 1, 1, 1, 1 } };
    unet_scene_options o = ok;
    o.overlap = TILE;
    assert_int_equal(unet_scene_open(session, 40, 40, 3, 0, &o, read_row, &r, take_row, &r, &sc), UNET_ERR_ARG);
    assert_null(sc);
    assert_non_null(strstr(unet_last_error(), "overlap"));
    o = ok;
    o.batch = 0;
    assert_int_equal(unet_scene_open(session, 40, 40, 3, 0, &o, read_row, &r, take_row, &r, &sc), UNET_ERR_ARG);
    o = ok;
    o.std[2] = 0;
    assert_int_equal(unet_scene_open(session, 40, 40, 3, 0, &o, read_row, &r, take_row, &r, &sc), UNET_ERR_ARG);
    assert_int_equal(unet_scene_open(session, 0, 40, 3, 0, &ok, read_row, &r, take_row, &r, &sc), UNET_ERR_ARG);
    assert_int_equal(unet_scene_open(session, 40, 40, 5, 0, &ok, read_row, &r, take_row, &r, &sc), UNET_ERR_ARG);
    assert_int_equal(unet_scene_open(session, 40, 40, 3, 0, &ok, NULL, &r, take_row, &r, &sc), UNET_ERR_ARG);
    assert_int_equal(unet_scene_step(NULL, NULL), UNET_ERR_ARG);
    unet_scene_close(NULL);
    unet_session_free(session);
    unet_model_free(model);
}

static void test_blend_weight_is_the_documented_gaussian(void **state)
{
    (void)state;
    for (int i = 0; i < TILE; i++)
        assert_float_equal(unet_scene_blend_weight(TILE, i), gauss(i), 1e-6);
    assert_true(unet_scene_blend_weight(256, 0) >= expf(-8.0f) * 0.999f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blend_matches_reference),
        cmocka_unit_test(test_small_image_is_mirrored),
        cmocka_unit_test(test_tta_flips),
        cmocka_unit_test(test_nodata_comes_out_255),
        cmocka_unit_test(test_row_function_stops_scene),
        cmocka_unit_test(test_bad_options_refused),
        cmocka_unit_test(test_blend_weight_is_the_documented_gaussian),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
