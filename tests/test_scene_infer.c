/* Whole-scene inference (unet-infer --scene), end to end with a small random
 * U-Net exported by the trainer (depth 2, base 4):
 *  1. without overlap, a 3x2 grid of exact tiles gives the masks tile mode
 *     gives on the six crops;
 *  2. with overlap, a uniform scene has no seams, and the blended
 *     probabilities and mask equal an independent reference computed here:
 *     every window run alone through libunet, weighted with the documented
 *     Gaussian, summed over the whole scene in memory and normalised;
 *  3. images smaller than a tile and of awkward sizes give masks (and
 *     probabilities) of exactly their size;
 *  4. a corrupt image among scenes is reported and the others are written;
 *     reruns skip finished masks, and a mask from elsewhere needs --force;
 *     an interrupted scene leaves nothing behind. */
#include <fcntl.h>
#include <signal.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include <unet/image.h>
#include <unet/meta.h>

#include "export_onnx.h"
#include "random_params.h"
#include "tool_run.h"

#define CLASSES 6

static char tmp[256];
static char model_path[400];
static const char *infer_exe;
static unet_model *model;
static unet_session *session;
static unet_model_meta meta;

static const char *const names[CLASSES] = { "Building", "Land", "Road", "Vegetation", "Water", "Unlabeled" };
static const char *const colors[CLASSES] = { "#3C1098", "#8429F6", "#6EC1E4", "#FEDD3A", "#E2A929", "#9B9B9B" };

/* ---- running the program ---- */

/* Runs unet-infer with arguments (NULL-terminated); stdout and stderr go to
 * tmp/out.txt and tmp/err.txt. Returns the exit status. */
static int run_infer(const char *first, ...)
{
    const char *argv[RUN_ARGV_MAX];
    const char *const head[] = { infer_exe, NULL };
    va_list ap;
    va_start(ap, first);
    run_argv_va(argv, head, first, ap);
    va_end(ap);
    char out[300], errf[300];
    FMT(out, sizeof out, "%s/out.txt", tmp);
    FMT(errf, sizeof errf, "%s/err.txt", tmp);
    return run_redirected(argv, out, errf, NULL);
}

static void assert_file_contains(const char *rel, const char *fragment)
{
    char path[400];
    FMT(path, sizeof path, "%s/%s", tmp, rel);
    char *s = slurp(path, NULL);
    assert_non_null(s);
    if (!strstr(s, fragment))
        fail_msg("%s lacks '%s':\n%s", rel, fragment, s);
    free(s);
}

static void dump_err(void)
{
    char path[400];
    FMT(path, sizeof path, "%s/err.txt", tmp);
    char *s = slurp(path, NULL);
    print_message("unet-infer stderr:\n%s\n", s ? s : "(none)");
    free(s);
}

static void infer_failed(const char *what)
{
    dump_err();
    fail_msg("%s", what);
}

static void mkdirs(const char *rel)
{
    char path[600];
    FMT(path, sizeof path, "%s/%s", tmp, rel);
    for (char *p = path + strlen(tmp) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0777);
            *p = '/';
        }
    mkdir(path, 0777);
}

static const char *at(const char *rel)
{
    static char buf[8][600];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, rel);
    return buf[k];
}

/* ---- images ---- */

static uint64_t rng_state = 12345;

static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

/* Blocks of random colours with noise: structure the model reacts to. */
static unet_image make_scene(int w, int h)
{
    unet_image img = { w, h, 3, malloc((size_t)w * h * 3) };
    assert_non_null(img.pixels);
    uint8_t block[8][8][3];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            for (int c = 0; c < 3; c++)
                block[i][j][c] = (uint8_t)(rnd() & 0xff);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                int v = block[(y / 23) % 8][(x / 19) % 8][c] + (int)(rnd() % 61) - 30;
                img.pixels[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return img;
}

static void write_png(const char *rel, const unet_image *img)
{
    if (unet_png_write(at(rel), img, NULL, 0) != UNET_OK)
        fail_msg("writing %s: %s", rel, unet_last_error());
}

static unet_image read_mask(const char *rel)
{
    unet_image m;
    if (unet_image_read(at(rel), UNET_IMAGE_PALETTE_INDEX, &m) != UNET_OK)
        fail_msg("reading %s: %s", rel, unet_last_error());
    assert_int_equal(m.channels, 1);
    return m;
}

static float half_to_float(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float v;
    if (exp == 0)
        v = ldexpf((float)mant, -24);
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexpf((float)(mant | 0x400), exp - 25);
    return sign ? -v : v;
}

/* Reads a float16 (c, h, w) .npy; checks the shape; returns floats. */
static float *read_npy(const char *rel, int c, int h, int w)
{
    char *s;
    FILE *f = fopen(at(rel), "rb");
    if (!f)
        fail_msg("%s: cannot open", rel);
    unsigned char head[10];
    assert_int_equal(fread(head, 1, 10, f), 10);
    assert_memory_equal(head, "\x93NUMPY\x01\x00", 8);
    size_t hl = head[8] | (size_t)head[9] << 8;
    assert_int_equal((10 + hl) % 64, 0);
    s = calloc(1, hl + 1);
    assert_int_equal(fread(s, 1, hl, f), hl);
    char want[128];
    FMT(want, sizeof want, "'descr': '<f2', 'fortran_order': False, 'shape': (%d, %d, %d), }", c, h, w);
    if (!strstr(s, want))
        fail_msg("%s: header %s, expected shape (%d, %d, %d)", rel, s, c, h, w);
    free(s);
    size_t n = (size_t)c * h * w;
    uint16_t *raw = malloc(n * 2);
    float *out = malloc(n * sizeof *out);
    assert_int_equal(fread(raw, 2, n, f), n);
    assert_int_equal(fgetc(f), EOF);
    fclose(f);
    for (size_t i = 0; i < n; i++)
        out[i] = half_to_float(raw[i]);
    free(raw);
    return out;
}

/* ---- the independent reference ---- */

/* The documented weight: Gaussian centred on the window, sigma = tile / 8. */
static double ref_weight(int tile, int i)
{
    double sigma = tile / 8.0, d = i + 0.5 - tile / 2.0;
    return exp(-d * d / (2 * sigma * sigma));
}

/* Window origins along one side: a step of tile - overlap, the last one moved
 * back to end at the edge; one window at 0 when the side is at most a tile. */
static int ref_origins(int length, int tile, int overlap, int *out)
{
    int n = 0;
    if (length <= tile) {
        out[n++] = 0;
        return n;
    }
    for (int o = 0;; o += tile - overlap) {
        if (o + tile >= length) {
            out[n++] = length - tile;
            return n;
        }
        out[n++] = o;
    }
}

/* Mirror padding with the edge repeated, by reflecting until inside. */
static int ref_mirror(int i, int length)
{
    while (i < 0 || i >= length)
        i = i >= length ? 2 * length - 1 - i : -1 - i;
    return i;
}

/* Blended probabilities (classes x h x w) of the whole scene, in memory.
 * With tta, each window's probabilities are the mean over the window as is,
 * mirrored left-right and mirrored top-bottom (each mirrored back). */
static double *reference_blend(const unet_image *img, int tile, int overlap, int tta)
{
    int w = img->width, h = img->height;
    int xs[512], ys[512];
    int nx = ref_origins(w, tile, overlap, xs), ny = ref_origins(h, tile, overlap, ys);
    double *acc = calloc((size_t)CLASSES * w * h, sizeof *acc);
    double *wsum = calloc((size_t)w * h, sizeof *wsum);
    float *in = malloc((size_t)3 * tile * tile * sizeof *in);
    double *p = malloc((size_t)CLASSES * tile * tile * sizeof *p);
    assert_true(acc && wsum && in && p);
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            int passes = tta ? 3 : 1;
            memset(p, 0, (size_t)CLASSES * tile * tile * sizeof *p);
            for (int pass = 0; pass < passes; pass++) {
                int fx = pass == 1, fy = pass == 2; /* mirror x, mirror y */
                for (int c = 0; c < 3; c++)
                    for (int y = 0; y < tile; y++)
                        for (int x = 0; x < tile; x++) {
                            int wx = fx ? tile - 1 - x : x, wy = fy ? tile - 1 - y : y;
                            int sx = ref_mirror(xs[i] + wx, w), sy = ref_mirror(ys[j] + wy, h);
                            float v = img->pixels[((size_t)sy * w + sx) * 3 + c];
                            in[((size_t)c * tile + y) * tile + x] = (v * meta.input.scale - meta.input.mean[c]) / meta.input.std[c];
                        }
                unet_tensor t = { UNET_DTYPE_FLOAT, 4, { 1, 3, tile, tile }, in };
                if (unet_session_run(session, &t, 1) != UNET_OK)
                    fail_msg("reference run: %s", unet_last_error());
                unet_tensor out;
                assert_int_equal(unet_session_output(session, 0, &out), UNET_OK);
                assert_int_equal(out.dims[1], CLASSES);
                const float *o = out.data;
                for (int k = 0; k < CLASSES; k++)
                    for (int y = 0; y < tile; y++)
                        for (int x = 0; x < tile; x++) {
                            int wx = fx ? tile - 1 - x : x, wy = fy ? tile - 1 - y : y;
                            p[((size_t)k * tile + wy) * tile + wx] += o[((size_t)k * tile + y) * tile + x] / passes;
                        }
            }
            for (int y = 0; y < tile && ys[j] + y < h; y++)
                for (int x = 0; x < tile && xs[i] + x < w; x++) {
                    double wt = ref_weight(tile, x) * ref_weight(tile, y);
                    size_t pix = (size_t)(ys[j] + y) * w + (size_t)(xs[i] + x);
                    wsum[pix] += wt;
                    for (int k = 0; k < CLASSES; k++)
                        acc[(size_t)k * w * h + pix] += wt * p[((size_t)k * tile + y) * tile + x];
                }
        }
    for (size_t pix = 0; pix < (size_t)w * h; pix++) {
        assert_true(wsum[pix] > 0);
        for (int k = 0; k < CLASSES; k++)
            acc[(size_t)k * w * h + pix] /= wsum[pix];
    }
    free(wsum);
    free(in);
    free(p);
    return acc;
}

/* Compares unet-infer's mask and probabilities with the reference. */
static void compare_with_reference(const unet_image *img, int tile, int overlap, int tta, const char *mask_rel,
                                   const char *probs_rel)
{
    int w = img->width, h = img->height;
    double *ref = reference_blend(img, tile, overlap, tta);
    unet_image m = read_mask(mask_rel);
    assert_int_equal(m.width, w);
    assert_int_equal(m.height, h);
    float *p = read_npy(probs_rel, CLASSES, h, w);
    size_t plane = (size_t)w * h;
    double worst = 0;
    int compared = 0, close_calls = 0, classes_seen = 0, seen[CLASSES] = { 0 };
    for (size_t pix = 0; pix < plane; pix++) {
        int best = 0;
        for (int k = 0; k < CLASSES; k++) {
            double d = fabs(p[k * plane + pix] - ref[k * plane + pix]);
            worst = d > worst ? d : worst;
            if (ref[k * plane + pix] > ref[best * plane + pix])
                best = k;
        }
        double second = -1;
        for (int k = 0; k < CLASSES; k++)
            if (k != best && ref[k * plane + pix] > second)
                second = ref[k * plane + pix];
        if (!seen[best]++)
            classes_seen++;
        /* float32 in the tool vs double here: only near-ties may differ. */
        if (ref[best * plane + pix] - second > 1e-5) {
            compared++;
            if (m.pixels[pix] != best)
                fail_msg("%s: pixel (%zu, %zu) is class %d, the reference says %d (margin %g)", mask_rel,
                         pix % w, pix / w, m.pixels[pix], best, ref[best * plane + pix] - second);
        } else {
            close_calls++;
        }
    }
    print_message("%dx%d tile %d overlap %d%s: max |probs - reference| = %.2g, %d classes, %d near-ties skipped\n", w,
                  h, tile, overlap, tta ? " tta" : "", worst, classes_seen, close_calls);
    /* float16 keeps 11 significant bits: 2^-12 for values up to 1, plus float32 noise. */
    assert_true(worst <= 5e-4);
    assert_true(compared >= (int)plane - (int)plane / 100);
    assert_true(classes_seen >= 2); /* a mask of one class compares little */
    free(p);
    free(ref);
    unet_image_free(&m);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
    (void)state;
    infer_exe = getenv("UNET_INFER");
    if (!infer_exe)
        return -1;
    const char *base = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/unet-test-scene-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp))
        return -1;
    unet_arch arch = { .in_channels = 3, .n_classes = CLASSES, .depth = 2, .base_filters = 4, .batchnorm = 0 };
    unet_params *params = random_params_create(&arch, 11);
    if (!params)
        return -1;
    snprintf(model_path, sizeof model_path, "%s/model.onnx", tmp);
    unet_export_meta em = { CLASSES, names, colors, NULL, NULL };
    unet_status s = unet_export_onnx(model_path, params, &em);
    random_params_free(params);
    if (s != UNET_OK)
        return -1;
    unet_session_options so = { .threads = 2 };
    if (unet_model_open_file(model_path, NULL, &model) != UNET_OK || unet_model_read_meta(model, &meta) != UNET_OK ||
        unet_session_create(model, &so, &session) != UNET_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unet_session_free(session);
    unet_model_free(model);
    if (getenv("UNET_TEST_KEEP")) /* for debugging: keep the files */
        return 0;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

/* No file named *.tmp.* left in a folder. */
static void assert_no_temp_files(const char *rel)
{
    DIR *d = opendir(at(rel));
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".tmp."))
            fail_msg("%s: temporary file %s left behind", rel, de->d_name);
    closedir(d);
}

/* ---- 1: exact tiles ---- */

static void test_grid_equals_tiles(void **state)
{
    (void)state;
    enum { T = 32 };
    unet_image scene = make_scene(3 * T, 2 * T);
    mkdirs("t1/Scene/images");
    mkdirs("t1/tiles/images");
    write_png("t1/Scene/images/big.png", &scene);
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 3; c++) {
            unet_image crop = { T, T, 3, malloc(T * T * 3) };
            for (int y = 0; y < T; y++)
                memcpy(crop.pixels + (size_t)y * T * 3, scene.pixels + ((size_t)(r * T + y) * scene.width + c * T) * 3,
                       T * 3);
            char rel[64];
            FMT(rel, sizeof rel, "t1/tiles/images/crop_%d_%d.png", r, c);
            write_png(rel, &crop);
            unet_image_free(&crop);
        }
    if (run_infer(model_path, at("t1/Scene"), "--scene", "--tile", "32", "--overlap", "0", "-o", at("t1/scene_out"),
                  "--quiet", NULL) != 0)
        infer_failed("scene mode failed");
    if (run_infer(model_path, at("t1/tiles"), "-o", at("t1/tile_out"), "--quiet", NULL) != 0)
        infer_failed("tile mode failed");
    unet_image big = read_mask("t1/scene_out/big.png");
    assert_int_equal(big.width, 3 * T);
    assert_int_equal(big.height, 2 * T);
    int counts[256] = { 0 }, classes = 0;
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 3; c++) {
            char rel[64];
            FMT(rel, sizeof rel, "t1/tile_out/crop_%d_%d.png", r, c);
            unet_image t = read_mask(rel);
            assert_int_equal(t.width, T);
            assert_int_equal(t.height, T);
            for (int y = 0; y < T; y++)
                for (int x = 0; x < T; x++) {
                    int a = big.pixels[(size_t)(r * T + y) * big.width + c * T + x], b = t.pixels[y * T + x];
                    if (a != b)
                        fail_msg("tile (%d, %d) pixel (%d, %d): scene mode %d, tile mode %d", r, c, x, y, a, b);
                    if (!counts[a]++)
                        classes++;
                }
            unet_image_free(&t);
        }
    assert_true(classes >= 2);
    /* Both carry the same model tag. */
    char a[128], b[128];
    assert_int_equal(unet_png_read_text(at("t1/scene_out/big.png"), "unet:model", a, sizeof a), UNET_OK);
    assert_int_equal(unet_png_read_text(at("t1/tile_out/crop_0_0.png"), "unet:model", b, sizeof b), UNET_OK);
    assert_int_equal(strlen(a), 64);
    assert_string_equal(a, b);
    assert_no_temp_files("t1/scene_out");
    unet_image_free(&big);
    unet_image_free(&scene);
}

/* ---- 2: overlap ---- */

static void test_uniform_scene_has_no_seams(void **state)
{
    (void)state;
    enum { W = 320, H = 256, T = 128, O = 64, MARGIN = 32, PERIOD = 4 };
    unet_image scene = { W, H, 3, malloc(W * H * 3) };
    for (size_t i = 0; i < (size_t)W * H; i++) {
        scene.pixels[3 * i] = 90;
        scene.pixels[3 * i + 1] = 140;
        scene.pixels[3 * i + 2] = 60;
    }
    mkdirs("t2/uniform");
    write_png("t2/uniform/flat.png", &scene);
    if (run_infer(model_path, at("t2/uniform/flat.png"), "--scene", "--tile", "128", "--overlap", "64", "-o",
                  at("t2/uniform_out"), "--probs", "--quiet", NULL) != 0)
        infer_failed("scene mode failed");
    unet_image m = read_mask("t2/uniform_out/flat.png");
    assert_int_equal(m.width, W);
    assert_int_equal(m.height, H);
    float *p = read_npy("t2/uniform_out/flat.probs.npy", CLASSES, H, W);
    /* Away from the scene's border (where the network's own zero padding
     * shows) every pixel sees the same content. The U-Net's pooling and
     * stride-2 transposed convolutions make even a single window's output on
     * flat input periodic with period 2^depth = 4, in phase with the window
     * origin (all origins here are multiples of 4). So no seams means: the
     * blended mask and probabilities are invariant under shifts by 4, except
     * for the little that window borders (zero padding inside the network)
     * still add with their small weight. */
    size_t plane = (size_t)W * H;
    double spread = 0;
    int classes = 0, seen[CLASSES] = { 0 };
    for (int y = MARGIN; y < H - MARGIN; y++)
        for (int x = MARGIN; x < W - MARGIN; x++) {
            size_t i = (size_t)y * W + x;
            size_t r = (size_t)(MARGIN + (y - MARGIN) % PERIOD) * W + (size_t)(MARGIN + (x - MARGIN) % PERIOD);
            if (m.pixels[i] != m.pixels[r])
                fail_msg("seam: pixel (%d, %d) is class %d, (%zu, %zu) is %d", x, y, m.pixels[i], r % W, r / W,
                         m.pixels[r]);
            if (!seen[m.pixels[i]]++)
                classes++;
            for (int k = 0; k < CLASSES; k++) {
                double d = fabs(p[k * plane + i] - p[k * plane + r]);
                spread = d > spread ? d : spread;
            }
        }
    print_message("flat %dx%d, tile %d overlap %d: the mask repeats every %d pixels inside (%d classes), "
                  "probabilities within %.2g\n", W, H, T, O, PERIOD, classes, spread);
    assert_true(spread < 1e-3);
    free(p);
    unet_image_free(&m);
    unet_image_free(&scene);
}

static void test_blend_matches_reference(void **state)
{
    (void)state;
    unet_image scene = make_scene(300, 170);
    mkdirs("t2/ref");
    write_png("t2/ref/scene.png", &scene);
    if (run_infer(model_path, at("t2/ref/scene.png"), "--scene", "--tile", "64", "--overlap", "16", "-o",
                  at("t2/ref_out16"), "--probs", "--quiet", NULL) != 0)
        infer_failed("scene mode failed");
    compare_with_reference(&scene, 64, 16, 0, "t2/ref_out16/scene.png", "t2/ref_out16/scene.probs.npy");
    /* Heavier overlap, batches that span rows of windows, and a window row
     * moved back to the edge. */
    if (run_infer(model_path, at("t2/ref/scene.png"), "--scene", "--tile", "128", "--overlap", "64", "--batch", "3",
                  "-o", at("t2/ref_out64"), "--probs", "--quiet", NULL) != 0)
        infer_failed("scene mode failed");
    compare_with_reference(&scene, 128, 64, 0, "t2/ref_out64/scene.png", "t2/ref_out64/scene.probs.npy");
    assert_no_temp_files("t2/ref_out64");
    /* Test-time augmentation: each window averaged over its mirror images. */
    if (run_infer(model_path, at("t2/ref/scene.png"), "--scene", "--tile", "64", "--overlap", "16", "--tta", "-o",
                  at("t2/ref_tta"), "--probs", "--quiet", NULL) != 0)
        infer_failed("scene mode with --tta failed");
    compare_with_reference(&scene, 64, 16, 1, "t2/ref_tta/scene.png", "t2/ref_tta/scene.probs.npy");
    unet_image_free(&scene);
}

/* ---- 3: sizes ---- */

static void test_odd_and_small_sizes(void **state)
{
    (void)state;
    static const int sizes[][2] = { { 300, 170 }, { 40, 30 }, { 1, 1 }, { 64, 1 }, { 65, 200 }, { 63, 64 } };
    int n = (int)(sizeof sizes / sizeof sizes[0]);
    mkdirs("t3/images");
    for (int i = 0; i < n; i++) {
        unet_image img = make_scene(sizes[i][0], sizes[i][1]);
        char rel[64];
        FMT(rel, sizeof rel, "t3/images/s%d.png", i);
        write_png(rel, &img);
        unet_image_free(&img);
    }
    if (run_infer(model_path, at("t3/images"), "--scene", "--tile", "64", "--overlap", "16", "-o", at("t3/out"),
                  "--probs", "--overlay", "--quiet", NULL) != 0)
        infer_failed("scene mode failed");
    for (int i = 0; i < n; i++) {
        char rel[64];
        FMT(rel, sizeof rel, "t3/out/s%d.png", i);
        unet_image m = read_mask(rel);
        assert_int_equal(m.width, sizes[i][0]);
        assert_int_equal(m.height, sizes[i][1]);
        for (size_t k = 0; k < (size_t)m.width * m.height; k++)
            assert_true(m.pixels[k] < CLASSES);
        FMT(rel, sizeof rel, "t3/out/s%d.probs.npy", i);
        float *p = read_npy(rel, CLASSES, sizes[i][1], sizes[i][0]);
        size_t plane = (size_t)sizes[i][0] * sizes[i][1];
        for (size_t k = 0; k < plane; k++) { /* blended probabilities still sum to 1 */
            double sum = 0;
            for (int c = 0; c < CLASSES; c++)
                sum += p[c * plane + k];
            if (fabs(sum - 1) > 4e-3)
                fail_msg("%s: probabilities of pixel %zu sum to %g", rel, k, sum);
        }
        free(p);
        /* overlay = (image + class colour) / 2, colours from the export above */
        unet_image ov, src;
        FMT(rel, sizeof rel, "t3/out/s%d.overlay.png", i);
        assert_int_equal(unet_image_read(at(rel), UNET_IMAGE_DEFAULT, &ov), UNET_OK);
        assert_int_equal(ov.width, sizes[i][0]);
        assert_int_equal(ov.height, sizes[i][1]);
        assert_int_equal(ov.channels, 3);
        FMT(rel, sizeof rel, "t3/images/s%d.png", i);
        assert_int_equal(unet_image_read(at(rel), UNET_IMAGE_DEFAULT, &src), UNET_OK);
        for (size_t k = 0; k < (size_t)m.width * m.height; k++)
            for (int c = 0; c < 3; c++) {
                unsigned rgb = (unsigned)strtoul(colors[m.pixels[k]] + 1, NULL, 16);
                int want = (src.pixels[3 * k + c] + (int)((rgb >> (16 - 8 * c)) & 0xff)) / 2;
                if (ov.pixels[3 * k + c] != want)
                    fail_msg("s%d overlay pixel %zu channel %d: %d, expected %d", i, k, c, ov.pixels[3 * k + c], want);
            }
        unet_image_free(&ov);
        unet_image_free(&src);
        unet_image_free(&m);
    }
    /* The padded small image against the reference (mirror padding). */
    unet_image small;
    assert_int_equal(unet_image_read(at("t3/images/s1.png"), UNET_IMAGE_DEFAULT, &small), UNET_OK);
    compare_with_reference(&small, 64, 16, 0, "t3/out/s1.png", "t3/out/s1.probs.npy");
    unet_image_free(&small);
    assert_no_temp_files("t3/out");
}

/* ---- 4: failures, naming, resume ---- */

static void test_corrupt_image_and_resume(void **state)
{
    (void)state;
    mkdirs("t4/root/Alpha/images");
    mkdirs("t4/root/Beta/images");
    unet_image a = make_scene(100, 80), b = make_scene(70, 90);
    write_png("t4/root/Alpha/images/part_1.png", &a);
    write_png("t4/root/Beta/images/part_2.png", &b);
    FILE *f = fopen(at("t4/root/Beta/images/part_1.png"), "wb");
    assert_non_null(f);
    fputs("\x89PNG\r\n\x1a\n but the rest is not a PNG at all", f);
    fclose(f);
    if (run_infer(model_path, at("t4/root"), "--scene", "--tile", "64", "--overlap", "16", "-o", at("t4/out"),
                  "--json", NULL) != 1)
        infer_failed("expected exit status 1 (some inputs failed)");
    assert_file_contains("err.txt", "Beta/images/part_1.png");
    assert_file_contains("out.txt", "\"written\":2,\"skipped\":0,\"failed\":1");
    /* part_1 occurs in both scenes: named after them; part_2 keeps its stem. */
    unet_image m = read_mask("t4/out/Alpha__part_1.png");
    assert_int_equal(m.width, 100);
    assert_int_equal(m.height, 80);
    unet_image_free(&m);
    m = read_mask("t4/out/part_2.png");
    assert_int_equal(m.width, 70);
    assert_int_equal(m.height, 90);
    unet_image_free(&m);
    assert_int_equal(access(at("t4/out/Beta__part_1.png"), F_OK), -1);
    assert_no_temp_files("t4/out");

    /* A rerun skips what the same model wrote. */
    assert_int_equal(run_infer(model_path, at("t4/root"), "--scene", "--tile", "64", "--overlap", "16", "-o",
                               at("t4/out"), "--json", NULL), 1);
    assert_file_contains("out.txt", "\"written\":0,\"skipped\":2,\"failed\":1");

    /* A mask that unet-infer did not write is kept unless --force. */
    unet_image foreign = { 70, 90, 1, calloc(70 * 90, 1) };
    assert_int_equal(unet_png_write(at("t4/out/part_2.png"), &foreign, NULL, 0), UNET_OK);
    unet_image_free(&foreign);
    assert_int_equal(run_infer(model_path, at("t4/root/Beta"), "--scene", "--tile", "64", "-o", at("t4/out"),
                               "--json", NULL), 1);
    assert_file_contains("err.txt", "use --force");
    assert_file_contains("out.txt", "\"written\":0,\"skipped\":0,\"failed\":2");
    /* Beta alone: its part_1 is no longer shared, so it is named part_1. */
    assert_int_equal(run_infer(model_path, at("t4/root/Beta/images/part_2.png"), "--scene", "--tile", "64", "-o",
                               at("t4/out"), "--force", "--json", NULL), 0);
    assert_file_contains("out.txt", "\"written\":1,");
    char tag[128];
    assert_int_equal(unet_png_read_text(at("t4/out/part_2.png"), "unet:model", tag, sizeof tag), UNET_OK);
    assert_int_equal(strlen(tag), 64);
    unet_image_free(&a);
    unet_image_free(&b);
}

/* Any file named *.tmp.* in a folder. */
static int has_temp_file(const char *rel)
{
    DIR *d = opendir(at(rel));
    if (!d)
        return 0;
    struct dirent *de;
    int found = 0;
    while ((de = readdir(d)))
        found |= strstr(de->d_name, ".tmp.") != NULL;
    closedir(d);
    return found;
}

/* SIGINT in the middle of a scene: exit status 3, and neither the mask nor
 * any temporary file is left. */
static void test_interrupted_scene_leaves_nothing(void **state)
{
    (void)state;
    mkdirs("t5/in");
    mkdirs("t5/out");
    unet_image big = make_scene(1200, 1200);
    write_png("t5/in/big.png", &big);
    unet_image_free(&big);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(infer_exe, infer_exe, model_path, at("t5/in/big.png"), "--scene", "--tile", "64", "--overlap", "16",
              "--batch", "1", "--probs", "--overlay", "-o", at("t5/out"), (char *)NULL);
        _exit(127);
    }
    assert_true(pid > 0);
    /* The outputs' temporary files appear after the first batch; 625 windows
     * one by one take far longer than that. */
    int seen = 0;
    for (int i = 0; i < 3000 && !seen; i++) {
        seen = has_temp_file("t5/out");
        if (!seen)
            usleep(10000);
    }
    kill(pid, SIGINT);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(seen);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);
    assert_int_equal(access(at("t5/out/big.png"), F_OK), -1);
    assert_int_equal(access(at("t5/out/big.probs.npy"), F_OK), -1);
    assert_int_equal(access(at("t5/out/big.overlay.png"), F_OK), -1);
    assert_false(has_temp_file("t5/out"));
}

static void test_usage_errors(void **state)
{
    (void)state;
    assert_int_equal(run_infer(model_path, tmp, "--tile", "64", NULL), 2);
    assert_file_contains("err.txt", "--scene");
    assert_int_equal(run_infer(model_path, tmp, "--scene", "--tile", "64", "--overlap", "64", NULL), 2);
    assert_file_contains("err.txt", "smaller");
    assert_int_equal(run_infer("--help", NULL), 0);
    assert_file_contains("out.txt", "SCENE__NAME.png");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_equals_tiles),
        cmocka_unit_test(test_uniform_scene_has_no_seams),
        cmocka_unit_test(test_blend_matches_reference),
        cmocka_unit_test(test_odd_and_small_sizes),
        cmocka_unit_test(test_corrupt_image_and_resume),
        cmocka_unit_test(test_interrupted_scene_leaves_nothing),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
