/* unet-eval --scene end to end, against a reference worked out here.
 *
 * The model is one 1x1 Conv (3 channels -> 5 classes) whose argmax is known
 * for every pixel colour: class c < 3 scores channel c scaled to [0, 1],
 * class 3 a constant 0.5, class 4 a constant -1 (never wins), the lowest class
 * winning a tie. A pixel's prediction depends on that pixel alone, so the
 * sliding window's overlapping windows and their blending must not change it:
 * the confusion matrix over whole scenes equals the one a naive loop over the
 * pixels gives here, whatever --tile and --overlap are.
 *
 * Scenes are written here: colour masks (RGB, RGBA, and a palette PNG whose
 * indices are not class ids), a gray mask of class ids, black (ignore) pixels,
 * a label that is no class, an image without mask (reported, the others
 * counted, exit 1), a stem shared by two scenes (outputs SCENE__STEM), and a
 * mask with a colour outside the palette. Checked: the JSON (overall, per
 * scene, per image), the masks kept by --out (and reused on a rerun), the
 * error maps, --pairs, --unknown-colors, the temporary folder left empty,
 * and that a scene one tile large gives the tile mode's matrix with a 3x3
 * Conv model, where window borders matter. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <unet/image.h>

#include "json_reader.h"
#include "onnx_builder.h"
#include "tool_run.h"

#define K 5
#define IGN 255 /* reference truth: left out as ignored */
#define UNK 254 /* reference truth: left out as not a class */

static const char *const class_names[K] = { "Red", "Green", "Blue", "Dark", "Never" };
static const uint8_t class_rgb[K][3] = { { 200, 30, 30 }, { 30, 200, 30 }, { 30, 30, 200 },
                                         { 100, 100, 100 }, { 240, 160, 0 } };
static const uint8_t paint[5][3] = { { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 }, { 0, 0, 0 }, { 255, 255, 0 } };

static const char *eval_exe;

/* ---- running unet-eval ---- */

/* Runs unet-eval in tmp with the arguments; stdout to out.txt, stderr to err.txt. */
static int run_eval(const char *first, ...)
{
    const char *argv[RUN_ARGV_MAX];
    const char *const head[] = { eval_exe, NULL };
    va_list ap;
    va_start(ap, first);
    run_argv_va(argv, head, first, ap);
    va_end(ap);
    return run_redirected(argv, tmp_file("out.txt"), tmp_file("err.txt"), tmp_folder());
}

static void assert_err_contains(const char *fragment)
{
    char *s = slurp(tmp_file("err.txt"), NULL);
    assert_non_null(s);
    if (!strstr(s, fragment))
        fail_msg("stderr lacks '%s':\n%s", fragment, s);
    free(s);
}

static json_value *read_json_out(void)
{
    char *s = slurp(tmp_file("out.txt"), NULL);
    assert_non_null(s);
    json_value *j = json_parse(s);
    free(s);
    return j;
}

static void make_dir(const char *rel)
{
    assert_int_equal(mkdir(tmp_file(rel), 0777), 0);
}

static void write_text(const char *rel, const char *text)
{
    FILE *f = fopen(tmp_file(rel), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static int files_in(const char *rel)
{
    DIR *d = opendir(tmp_file(rel));
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* ---- models ---- */

static void append_varint(uint8_t **buf, size_t *n, uint64_t v)
{
    *buf = realloc(*buf, *n + 10);
    assert_non_null(*buf);
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        (*buf)[(*n)++] = (uint8_t)(b | (v ? 0x80 : 0));
    } while (v);
}

static void append_bytes(uint8_t **buf, size_t *n, const void *data, size_t len)
{
    *buf = realloc(*buf, *n + len);
    assert_non_null(*buf);
    memcpy(*buf + *n, data, len);
    *n += len;
}

/* Appends ModelProto.metadata_props (field 14) entry {key: 1, value: 2}: a
 * protobuf message may carry its fields in any order. */
static void append_meta(uint8_t **buf, size_t *n, const char *key, const char *value)
{
    size_t kl = strlen(key), vl = strlen(value);
    uint8_t *entry = NULL;
    size_t en = 0;
    append_varint(&entry, &en, 1 << 3 | 2);
    append_varint(&entry, &en, kl);
    append_bytes(&entry, &en, key, kl);
    append_varint(&entry, &en, 2 << 3 | 2);
    append_varint(&entry, &en, vl);
    append_bytes(&entry, &en, value, vl);
    append_varint(buf, n, 14 << 3 | 2);
    append_varint(buf, n, en);
    append_bytes(buf, n, entry, en);
    free(entry);
}

/* A Conv of kernel ks x ks (padding keeps the size) from 3 channels to K
 * classes, any N, H, W, with the class names and colours as metadata. */
static void write_conv_model(const char *path, int ks, const float *w, const float *b)
{
    ob_model *m = ob_model_new(13);
    int64_t in_dims[4] = { -1, 3, -1, -1 }, out_dims[4] = { -1, K, -1, -1 };
    int64_t w_dims[4] = { K, 3, ks, ks }, b_dims[1] = { K };
    ob_input(m, "x", UNET_DTYPE_FLOAT, 4, in_dims);
    ob_output(m, "y", UNET_DTYPE_FLOAT, 4, out_dims);
    ob_initializer(m, "W", UNET_DTYPE_FLOAT, 4, w_dims, w);
    ob_initializer(m, "B", UNET_DTYPE_FLOAT, 1, b_dims, b);
    ob_node *conv = ob_node_add(m, "Conv", "x,W,B", "y");
    int64_t kernel[2] = { ks, ks }, pads[4] = { ks / 2, ks / 2, ks / 2, ks / 2 };
    ob_attr_ints(conv, "kernel_shape", kernel, 2);
    ob_attr_ints(conv, "pads", pads, 4);
    size_t n;
    uint8_t *buf = ob_serialize(m, &n);
    ob_model_free(m);
    char names[256] = "[", colors[256] = "[";
    for (int c = 0; c < K; c++) {
        size_t ln = strlen(names), lc = strlen(colors);
        FMT(names + ln, sizeof names - ln, "%s\"%s\"", c ? "," : "", class_names[c]);
        FMT(colors + lc, sizeof colors - lc, "%s\"#%02X%02X%02X\"", c ? "," : "", class_rgb[c][0], class_rgb[c][1],
            class_rgb[c][2]);
    }
    strcat(names, "]");
    strcat(colors, "]");
    append_meta(&buf, &n, "unet.classes", names);
    append_meta(&buf, &n, "unet.colors", colors);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    free(buf);
}

/* The 1x1 model's class of a pixel, worked out from its definition. */
static uint8_t class_of(const uint8_t *px)
{
    double s[K] = { px[0] / 255.0, px[1] / 255.0, px[2] / 255.0, 0.5, -1 };
    int best = 0;
    for (int c = 1; c < K; c++)
        if (s[c] > s[best])
            best = c;
    return (uint8_t)best;
}

/* ---- scenes ---- */

static uint32_t rng = 2024;
static uint32_t next_rand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

typedef enum mask_kind { MASK_RGB, MASK_RGBA, MASK_PALETTE, MASK_IDS, MASK_NONE, MASK_ODD } mask_kind;

typedef struct image_data {
    const char *scene, *stem, *name; /* name: the output name unet-eval should give */
    int w, h;
    mask_kind kind;
    uint8_t *rgb, *truth, *pred;     /* truth: class, IGN or UNK */
} image_data;

enum { ALPHA_BIG, ALPHA_SMALL, ALPHA_LONELY, BETA_BIG, BETA_IDS, ODD, N_IMAGES };
static image_data images[N_IMAGES] = {
    { "alpha", "big", "alpha__big", 300, 260, MASK_RGB, NULL, NULL, NULL },
    { "alpha", "small", "small", 40, 30, MASK_PALETTE, NULL, NULL, NULL },
    { "alpha", "lonely", "lonely", 20, 20, MASK_NONE, NULL, NULL, NULL },
    { "beta", "big", "beta__big", 120, 100, MASK_RGBA, NULL, NULL, NULL },
    { "beta", "ids", "ids", 70, 90, MASK_IDS, NULL, NULL, NULL },
    { "odd", "odd", "odd", 50, 40, MASK_ODD, NULL, NULL, NULL },
};
static const uint8_t odd_colour[3] = { 0x12, 0x34, 0x56 };
static uint64_t odd_unknown; /* pixels of odd_colour in odd's mask */

static void make_image(const char *root, image_data *d)
{
    size_t n = (size_t)d->w * (size_t)d->h;
    d->rgb = malloc(3 * n);
    d->truth = malloc(n);
    d->pred = malloc(n);
    uint8_t *mask = malloc(4 * n);
    assert_true(d->rgb && d->truth && d->pred && mask);
    /* Palette mask: indices are not class ids; 0 is black (ignore). */
    static const int pal_class[6] = { -1, 3, 0, 4, 2, 1 };
    uint8_t pal[6 * 3];
    for (int i = 0; i < 6; i++)
        if (pal_class[i] < 0)
            memset(pal + 3 * i, 0, 3);
        else
            memcpy(pal + 3 * i, class_rgb[pal_class[i]], 3);
    for (size_t i = 0; i < n; i++) {
        uint8_t *px = d->rgb + 3 * i;
        if (next_rand() % 2)
            memcpy(px, paint[next_rand() % 5], 3);
        else
            for (int c = 0; c < 3; c++)
                px[c] = (uint8_t)(next_rand() & 0xff);
        d->pred[i] = class_of(px);
        int label = (int)(next_rand() % 7); /* 0..4 classes, 5 ignore, 6 not a class */
        switch (d->kind) {
        case MASK_RGB:
        case MASK_RGBA:
        case MASK_ODD: {
            int ch = d->kind == MASK_RGBA ? 4 : 3;
            uint8_t *m = mask + (size_t)ch * i;
            int x = (int)(i % (size_t)d->w), y = (int)(i / (size_t)d->w);
            int odd = d->kind == MASK_ODD && ((x == 5 && y == 7) || (y > 7 && label == 6));
            if (odd) {
                memcpy(m, odd_colour, 3);
                d->truth[i] = UNK;
                odd_unknown++;
            } else if (label >= 5) {
                memset(m, 0, 3);
                d->truth[i] = IGN;
            } else {
                memcpy(m, class_rgb[label], 3);
                d->truth[i] = (uint8_t)label;
            }
            if (ch == 4)
                m[3] = 255;
            break;
        }
        case MASK_PALETTE: {
            int idx = (int)(next_rand() % 6);
            mask[i] = (uint8_t)idx;
            d->truth[i] = pal_class[idx] < 0 ? IGN : (uint8_t)pal_class[idx];
            break;
        }
        case MASK_IDS:
            mask[i] = label < 5 ? (uint8_t)label : label == 5 ? 255 : 7;
            d->truth[i] = label < 5 ? (uint8_t)label : label == 5 ? IGN : UNK;
            break;
        case MASK_NONE: break;
        }
    }
    char path[800];
    unet_image img = { d->w, d->h, 3, d->rgb };
    FMT(path, sizeof path, "%s/%s/images/%s.png", root, d->scene, d->stem);
    assert_int_equal(unet_png_write(path, &img, NULL, 0), UNET_OK);
    FMT(path, sizeof path, "%s/%s/masks/%s.png", root, d->scene, d->stem);
    if (d->kind == MASK_PALETTE) {
        assert_int_equal(unet_png_write_indexed(path, d->w, d->h, mask, pal, 6, NULL, 0), UNET_OK);
    } else if (d->kind != MASK_NONE) {
        int ch = d->kind == MASK_IDS ? 1 : d->kind == MASK_RGBA ? 4 : 3;
        unet_image m = { d->w, d->h, ch, mask };
        assert_int_equal(unet_png_write(path, &m, NULL, 0), UNET_OK);
    }
    free(mask);
}

static void make_scene_dirs(const char *root, const char *scene)
{
    char rel[300];
    FMT(rel, sizeof rel, "%s/%s", root, scene);
    make_dir(rel);
    FMT(rel, sizeof rel, "%s/%s/images", root, scene);
    make_dir(rel);
    FMT(rel, sizeof rel, "%s/%s/masks", root, scene);
    make_dir(rel);
}

static int setup(void **state)
{
    (void)state;
    eval_exe = getenv("UNET_EVAL");
    if (!eval_exe)
        return -1;
    if (tmp_folder_create("eval-scene") != 0)
        return -1;
    float w[K * 3] = { 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 }, b[K] = { 0, 0, 0, 0.5f, -1 };
    write_conv_model(tmp_file("model.onnx"), 1, w, b);
    make_dir("scenes");
    make_scene_dirs("scenes", "alpha");
    make_scene_dirs("scenes", "beta");
    make_dir("other");
    make_scene_dirs("other", "odd");
    make_dir("tmpdir");
    for (int i = 0; i < N_IMAGES; i++)
        make_image(tmp_file(i == ODD ? "other" : "scenes"), &images[i]);
    /* Paths relative to the list's folder. */
    write_text("pairs.tsv", "# image, mask, scene\n"
                            "scenes/alpha/images/big.png\tscenes/alpha/masks/big.png\tS1\n"
                            "scenes/beta/images/ids.png\tscenes/beta/masks/ids.png\tS2\n");
    return 0;
}

static int teardown(void **state)
{
    for (int i = 0; i < N_IMAGES; i++) {
        free(images[i].rgb);
        free(images[i].truth);
        free(images[i].pred);
    }
    return tmp_folder_remove(state);
}

/* ---- the reference ---- */

typedef struct reference {
    uint64_t cm[K][K], ignored, unknown, total, support[K], predicted[K];
    double accuracy, miou, macro_f1, precision[K], recall[K], f1[K], iou[K];
} reference;

static double ratio(double a, double b) { return b != 0 ? a / b : NAN; }

static void reference_of(const int *which, int n, reference *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < n; i++) {
        const image_data *d = &images[which[i]];
        for (size_t p = 0; p < (size_t)d->w * (size_t)d->h; p++) {
            if (d->truth[p] == IGN)
                r->ignored++;
            else if (d->truth[p] == UNK)
                r->unknown++;
            else
                r->cm[d->truth[p]][d->pred[p]]++;
        }
    }
    uint64_t correct = 0;
    for (int t = 0; t < K; t++)
        for (int p = 0; p < K; p++) {
            r->support[t] += r->cm[t][p];
            r->predicted[p] += r->cm[t][p];
            r->total += r->cm[t][p];
            correct += t == p ? r->cm[t][p] : 0;
        }
    double iou_sum = 0, f1_sum = 0;
    int present = 0;
    for (int c = 0; c < K; c++) {
        double tp = (double)r->cm[c][c], fp = (double)(r->predicted[c] - r->cm[c][c]),
               fn = (double)(r->support[c] - r->cm[c][c]);
        r->precision[c] = ratio(tp, tp + fp);
        r->recall[c] = ratio(tp, tp + fn);
        r->f1[c] = ratio(2 * tp, 2 * tp + fp + fn);
        r->iou[c] = ratio(tp, tp + fp + fn);
        if (r->support[c]) {
            present++;
            iou_sum += r->iou[c];
            f1_sum += r->f1[c];
        }
    }
    r->accuracy = ratio((double)correct, (double)r->total);
    r->miou = ratio(iou_sum, present);
    r->macro_f1 = ratio(f1_sum, present);
}

static void check_matrix(const json_value *m, const reference *r, const char *where)
{
    assert_int_equal(m->type, JSON_ARRAY);
    assert_int_equal(m->n, K);
    for (int t = 0; t < K; t++) {
        assert_int_equal(m->items[t]->n, K);
        for (int p = 0; p < K; p++)
            if ((uint64_t)m->items[t]->items[p]->number != r->cm[t][p])
                fail_msg("%s: confusion[%d][%d] = %.0f, expected %llu", where, t, p, m->items[t]->items[p]->number,
                         (unsigned long long)r->cm[t][p]);
    }
}

/* The overall part of the report: matrix, pixel counts, metrics per class. */
static void check_overall(const json_value *j, const reference *r)
{
    check_matrix(json_get(j, "confusion_matrix"), r, "overall");
    const json_value *px = json_get(j, "pixels");
    assert_int_equal((uint64_t)json_number(px, "counted"), r->total);
    assert_int_equal((uint64_t)json_number(px, "ignored"), r->ignored);
    assert_int_equal((uint64_t)json_number(px, "unknown_label"), r->unknown);
    json_check_number(j, "pixel_accuracy", r->accuracy, 1e-12, "overall");
    json_check_number(j, "mean_iou", r->miou, 1e-12, "overall");
    json_check_number(j, "macro_f1", r->macro_f1, 1e-12, "overall");
    const json_value *cl = json_get(j, "classes");
    assert_int_equal(cl->n, K);
    for (int c = 0; c < K; c++) {
        char where[32];
        FMT(where, sizeof where, "class %d", c);
        assert_string_equal(json_string(cl->items[c], "name"), class_names[c]);
        assert_int_equal((uint64_t)json_number(cl->items[c], "support"), r->support[c]);
        json_check_number(cl->items[c], "precision", r->precision[c], 1e-12, where);
        json_check_number(cl->items[c], "recall", r->recall[c], 1e-12, where);
        json_check_number(cl->items[c], "f1", r->f1[c], 1e-12, where);
        json_check_number(cl->items[c], "iou", r->iou[c], 1e-12, where);
    }
}

/* One entry of "scenes": counts, metrics and matrix of the listed images. */
static void check_scene(const json_value *s, const char *name, int selected, const int *which, int n)
{
    reference r;
    reference_of(which, n, &r);
    assert_string_equal(json_string(s, "name"), name);
    assert_int_equal((int)json_number(s, "images_selected"), selected);
    assert_int_equal((int)json_number(s, "images_evaluated"), n);
    assert_int_equal((int)json_number(s, "images_failed"), selected - n);
    assert_int_equal((uint64_t)json_number(s, "pixels_counted"), r.total);
    json_check_number(s, "pixel_accuracy", r.accuracy, 1e-12, name);
    json_check_number(s, "mean_iou", r.miou, 1e-12, name);
    json_check_number(s, "macro_f1", r.macro_f1, 1e-12, name);
    check_matrix(json_get(s, "confusion_matrix"), &r, name);
}

/* A per-image entry of a scene: status and, when evaluated, its metrics. */
static void check_image_entry(const json_value *e, int which, const char *status)
{
    const image_data *d = &images[which];
    assert_string_equal(json_string(e, "name"), d->name);
    assert_string_equal(json_string(e, "status"), status);
    if (strcmp(status, "evaluated"))
        return;
    reference r;
    reference_of(&which, 1, &r);
    assert_int_equal((uint64_t)json_number(e, "pixels_counted"), r.total);
    json_check_number(e, "mean_iou", r.miou, 1e-12, d->name);
    json_check_number(e, "pixel_accuracy", r.accuracy, 1e-12, d->name);
}

static void check_scenes_report(const json_value *j)
{
    const json_value *sc = json_get(j, "scenes");
    assert_int_equal(sc->type, JSON_ARRAY);
    assert_int_equal(sc->n, 2);
    int alpha[] = { ALPHA_BIG, ALPHA_SMALL }, beta[] = { BETA_BIG, BETA_IDS };
    check_scene(sc->items[0], "alpha", 3, alpha, 2);
    check_scene(sc->items[1], "beta", 2, beta, 2);
    /* Images in stem order within each scene. */
    const json_value *ai = json_get(sc->items[0], "images"), *bi = json_get(sc->items[1], "images");
    assert_int_equal(ai->n, 3);
    assert_int_equal(bi->n, 2);
    check_image_entry(ai->items[0], ALPHA_BIG, "evaluated");
    check_image_entry(ai->items[1], ALPHA_LONELY, "failed");
    check_image_entry(ai->items[2], ALPHA_SMALL, "evaluated");
    check_image_entry(bi->items[0], BETA_BIG, "evaluated");
    check_image_entry(bi->items[1], BETA_IDS, "evaluated");
}

static const int evaluated[] = { ALPHA_BIG, ALPHA_SMALL, BETA_BIG, BETA_IDS };

/* ---- tests ---- */

/* Small windows, overlapping: the matrix is the naive one; the image without
 * mask is reported and the others counted; no file is left in $TMPDIR. */
static void test_scenes_small_windows(void **state)
{
    (void)state;
    assert_int_equal(setenv("TMPDIR", tmp_file("tmpdir"), 1), 0);
    assert_int_equal(run_eval("--scene", "model.onnx", "scenes", "--json", "--threads", "1", "-b", "3", "--tile",
                              "64", "--overlap", "16", NULL),
                     1);
    reference r;
    reference_of(evaluated, 4, &r);
    assert_true(r.ignored > 0 && r.unknown > 0);
    assert_true(r.support[4] > 0 && r.predicted[4] == 0 && r.predicted[3] > 0);
    json_value *j = read_json_out();
    check_overall(j, &r);
    assert_int_equal((int)json_number(j, "tiles_selected"), 5);
    assert_int_equal((int)json_number(j, "tiles_evaluated"), 4);
    assert_int_equal((int)json_number(j, "tiles_failed"), 1);
    assert_string_equal(json_string(j, "mode"), "scene");
    assert_int_equal((int)json_number(j, "tile"), 64);
    assert_int_equal((int)json_number(j, "overlap"), 16);
    const json_value *fl = json_get(j, "failures");
    assert_int_equal(fl->n, 1);
    assert_string_equal(json_string(fl->items[0], "tile"), "alpha/lonely");
    assert_non_null(strstr(json_string(fl->items[0], "error"), "no mask with stem 'lonely'"));
    check_scenes_report(j);
    json_free(j);
    assert_err_contains("lonely.png: no mask");
    assert_int_equal(files_in("tmpdir"), 0);
    assert_int_equal(unsetenv("TMPDIR"), 0);
}

/* --tta: the fixture's model is per pixel (a 1x1 Conv), so averaging it over
 * flipped windows changes no prediction: the same matrix, and the report
 * says the flips were averaged. */
static void test_scenes_tta(void **state)
{
    (void)state;
    assert_int_equal(run_eval("--scene", "model.onnx", "scenes", "--json", "--threads", "1", "-b", "3", "--tile",
                              "64", "--overlap", "16", "--tta", NULL),
                     1);
    reference r;
    reference_of(evaluated, 4, &r);
    json_value *j = read_json_out();
    check_overall(j, &r);
    const json_value *tta = json_get(j, "tta");
    assert_int_equal(tta->type, JSON_BOOL);
    assert_true(tta->number == 1);
    json_free(j);
    /* Tile mode has no windows to flip: refused, naming the option. */
    assert_int_equal(run_eval("model.onnx", "scenes/alpha", "--tta", NULL), 2);
    assert_err_contains("--tta");
}

static void check_error_map(const char *rel, const image_data *d)
{
    unet_image im;
    assert_int_equal(unet_image_read(tmp_file(rel), UNET_IMAGE_DEFAULT, &im), UNET_OK);
    assert_int_equal(im.width, d->w);
    assert_int_equal(im.height, d->h);
    assert_int_equal(im.channels, 3);
    for (size_t p = 0; p < (size_t)d->w * (size_t)d->h; p++) {
        uint8_t want[3] = { 0, 0, 0 };
        int t = d->truth[p];
        if (t < K && d->pred[p] == t)
            for (int c = 0; c < 3; c++)
                want[c] = (uint8_t)(class_rgb[t][c] / 2);
        else if (t < K)
            want[0] = 255;
        if (memcmp(im.pixels + 3 * p, want, 3))
            fail_msg("%s pixel %zu: %d,%d,%d, expected %d,%d,%d", rel, p, im.pixels[3 * p], im.pixels[3 * p + 1],
                     im.pixels[3 * p + 2], want[0], want[1], want[2]);
    }
    unet_image_free(&im);
}

/* Default windows (256, overlap 64): the same matrix. --out keeps the masks,
 * equal to the naive prediction, and a rerun takes them instead of segmenting
 * again; a mask from elsewhere fails its image unless --force. */
static void test_out_errors_and_rerun(void **state)
{
    (void)state;
    assert_int_equal(run_eval("--scene", "model.onnx", "scenes/alpha", "scenes/beta", "--out", "kept", "--errors",
                              "errs", "--json", NULL),
                     1);
    reference r;
    reference_of(evaluated, 4, &r);
    json_value *j = read_json_out();
    check_overall(j, &r);
    assert_int_equal((int)json_number(j, "tile"), 256);
    assert_int_equal((int)json_number(j, "overlap"), 64);
    check_scenes_report(j);
    json_free(j);
    for (int i = 0; i < 4; i++) {
        const image_data *d = &images[evaluated[i]];
        char rel[300];
        FMT(rel, sizeof rel, "kept/%s.png", d->name);
        unet_image m;
        assert_int_equal(unet_image_read(tmp_file(rel), UNET_IMAGE_PALETTE_INDEX, &m), UNET_OK);
        assert_int_equal(m.width, d->w);
        assert_int_equal(m.height, d->h);
        assert_int_equal(m.channels, 1);
        assert_memory_equal(m.pixels, d->pred, (size_t)d->w * (size_t)d->h);
        unet_image_free(&m);
        FMT(rel, sizeof rel, "errs/%s.png", d->name);
        check_error_map(rel, d);
    }
    assert_int_equal(files_in("kept"), 4);
    assert_int_equal(files_in("errs"), 4);

    /* A rerun evaluates the kept masks as they are. */
    assert_int_equal(run_eval("--scene", "model.onnx", "scenes/alpha", "scenes/beta", "--out", "kept", "--json", NULL),
                     1);
    j = read_json_out();
    check_overall(j, &r);
    const json_value *img = json_get(json_get(j, "scenes")->items[1], "images")->items[1];
    assert_int_equal(json_get(img, "mask_reused")->type, JSON_BOOL);
    assert_true(json_get(img, "mask_reused")->number == 1);
    json_free(j);
    assert_err_contains("mask from --out reused");

    /* A mask there that this model did not write: that image fails, unless --force. */
    uint8_t zeros[40 * 30] = { 0 };
    unet_image z = { 40, 30, 1, zeros };
    assert_int_equal(unet_png_write(tmp_file("kept/small.png"), &z, NULL, 0), UNET_OK);
    assert_int_equal(run_eval("--scene", "model.onnx", "scenes/alpha", "--out", "kept", "--json", NULL), 1);
    j = read_json_out();
    assert_int_equal((int)json_number(j, "tiles_failed"), 2);
    json_free(j);
    assert_err_contains("small.png exists and was not written by unet-eval or unet-infer");
    assert_int_equal(run_eval("--scene", "model.onnx", "scenes/alpha", "--out", "kept", "--force", "--json", NULL), 1);
    j = read_json_out();
    int alpha[] = { ALPHA_BIG, ALPHA_SMALL };
    reference ra;
    reference_of(alpha, 2, &ra);
    check_overall(j, &ra);
    assert_int_equal((int)json_number(j, "tiles_failed"), 1);
    json_free(j);

    /* The table: the overall metrics, then a line per scene. */
    assert_int_equal(run_eval("--scene", "model.onnx", "scenes", "--quiet", NULL), 1);
    char *table = slurp(tmp_file("out.txt"), NULL);
    assert_non_null(table);
    assert_non_null(strstr(table, "4 of 5 images evaluated, 1 failed"));
    assert_non_null(strstr(table, "mean IoU"));
    const char *scenes_part = strstr(table, "\nscene ");
    assert_non_null(scenes_part);
    assert_non_null(strstr(scenes_part, "\nalpha "));
    assert_non_null(strstr(scenes_part, "2/3"));
    assert_non_null(strstr(scenes_part, "\nbeta "));
    free(table);
}

/* --pairs: any layout, scenes named by the list. */
static void test_pairs_file(void **state)
{
    (void)state;
    assert_int_equal(run_eval("--pairs", "pairs.tsv", "model.onnx", "--json", "--tile", "96", NULL), 0);
    int which[] = { ALPHA_BIG, BETA_IDS };
    reference r;
    reference_of(which, 2, &r);
    json_value *j = read_json_out();
    check_overall(j, &r);
    const json_value *sc = json_get(j, "scenes");
    assert_int_equal(sc->n, 2);
    check_scene(sc->items[0], "S1", 1, which, 1);
    check_scene(sc->items[1], "S2", 1, which + 1, 1);
    /* Stems differ, so outputs keep their plain stem. */
    assert_string_equal(json_string(json_get(sc->items[0], "images")->items[0], "name"), "big");
    json_free(j);
}

/* A colour outside the palette fails its image, named with file, colour and
 * first pixel; --unknown-colors ignore leaves those pixels out. */
static void test_unknown_colours(void **state)
{
    (void)state;
    assert_int_equal(run_eval("--scene", "model.onnx", "other", "--json", NULL), 1);
    json_value *j = read_json_out();
    assert_int_equal((int)json_number(j, "tiles_evaluated"), 0);
    json_free(j);
    assert_err_contains("odd.png: colour #123456 at pixel (x=5, y=7)");
    assert_int_equal(run_eval("--scene", "model.onnx", "other", "--unknown-colors", "ignore", "--json", NULL), 0);
    int which[] = { ODD };
    reference r;
    reference_of(which, 1, &r);
    assert_int_equal(r.unknown, odd_unknown);
    j = read_json_out();
    check_overall(j, &r);
    json_free(j);
}

/* A scene exactly one window large gives the tile mode's matrix, with a 3x3
 * Conv whose output depends on the neighbours (and on padding at the edge). */
static void test_one_window_equals_tile_mode(void **state)
{
    (void)state;
    float w[K * 3 * 9], b[K];
    for (int i = 0; i < K * 3 * 9; i++)
        w[i] = (float)((int)(next_rand() % 2001) - 1000) / 1000.0f;
    for (int i = 0; i < K; i++)
        b[i] = (float)((int)(next_rand() % 201) - 100) / 1000.0f;
    write_conv_model(tmp_file("conv3.onnx"), 3, w, b);
    make_dir("tiles3");
    make_dir("tiles3/images");
    make_dir("tiles3/masks");
    make_dir("one");
    make_scene_dirs("one", "s");
    enum { T = 64 };
    uint8_t rgb[T * T * 3], ids[T * T], pal[256 * 3] = { 0 };
    for (int i = 0; i < T * T * 3; i++)
        rgb[i] = (uint8_t)(next_rand() & 0xff);
    for (int i = 0; i < T * T; i++) {
        int v = (int)(next_rand() % 6);
        ids[i] = v == 5 ? 255 : (uint8_t)v;
    }
    for (int c = 0; c < K; c++)
        memcpy(pal + 3 * c, class_rgb[c], 3);
    unet_image img = { T, T, 3, rgb };
    /* As unet-tile writes them: palette index = class id, palette = class colours. */
    assert_int_equal(unet_png_write(tmp_file("tiles3/images/t.png"), &img, NULL, 0), UNET_OK);
    assert_int_equal(unet_png_write_indexed(tmp_file("tiles3/masks/t.png"), T, T, ids, pal, 256, NULL, 0), UNET_OK);
    assert_int_equal(unet_png_write(tmp_file("one/s/images/t.png"), &img, NULL, 0), UNET_OK);
    assert_int_equal(unet_png_write_indexed(tmp_file("one/s/masks/t.png"), T, T, ids, pal, 256, NULL, 0), UNET_OK);

    assert_int_equal(run_eval("conv3.onnx", "tiles3", "--json", NULL), 0);
    json_value *tile = read_json_out();
    assert_int_equal(run_eval("--scene", "conv3.onnx", "one", "--tile", "64", "--json", NULL), 0);
    json_value *scene = read_json_out();
    const json_value *a = json_get(tile, "confusion_matrix"), *s = json_get(scene, "confusion_matrix");
    int columns_used = 0;
    uint64_t total = 0;
    for (int p = 0; p < K; p++) {
        uint64_t col = 0;
        for (int t = 0; t < K; t++) {
            assert_int_equal((uint64_t)a->items[t]->items[p]->number, (uint64_t)s->items[t]->items[p]->number);
            col += (uint64_t)a->items[t]->items[p]->number;
        }
        columns_used += col > 0;
        total += col;
    }
    assert_true(columns_used >= 2); /* the model tells pixels apart */
    uint64_t labelled = 0;
    for (int i = 0; i < T * T; i++)
        labelled += ids[i] != 255;
    assert_int_equal(total, labelled);
    assert_int_equal((uint64_t)json_number(json_get(tile, "pixels"), "ignored"),
                     (uint64_t)json_number(json_get(scene, "pixels"), "ignored"));
    json_free(tile);
    json_free(scene);
}

static void test_usage(void **state)
{
    (void)state;
    assert_int_equal(run_eval("--scene", "--fold", "0", "model.onnx", "scenes", NULL), 2);
    assert_err_contains("--fold");
    assert_int_equal(run_eval("--tile", "64", "model.onnx", "scenes", NULL), 2);
    assert_err_contains("add --scene");
    assert_int_equal(run_eval("--scene", "model.onnx", NULL), 2);
    assert_int_equal(run_eval("--scene", "model.onnx", "nowhere", NULL), 2);
    assert_err_contains("nowhere: not a folder");
    assert_int_equal(run_eval("--scene", "model.onnx", "scenes", "--unknown-colors", "maybe", NULL), 2);
    assert_int_equal(run_eval("--scene", "model.onnx", "scenes", "--tile", "32", "--overlap", "32", NULL), 2);
    /* An ignore colour that is a class's. */
    assert_int_equal(run_eval("--scene", "model.onnx", "scenes", "--ignore-colors", "#C81E1E", NULL), 2);
    assert_err_contains("--ignore-colors");
    assert_int_equal(run_eval("--help", NULL), 0);
    char *help = slurp(tmp_file("out.txt"), NULL);
    assert_non_null(help);
    assert_non_null(strstr(help, "--scene MODEL SCENE..."));
    assert_non_null(strstr(help, "--unknown-colors"));
    free(help);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenes_small_windows),
        cmocka_unit_test(test_scenes_tta),
        cmocka_unit_test(test_out_errors_and_rerun),
        cmocka_unit_test(test_pairs_file),
        cmocka_unit_test(test_unknown_colours),
        cmocka_unit_test(test_one_window_equals_tile_mode),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
