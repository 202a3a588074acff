/* End to end: unet-eval on a model whose output is known exactly. The model is
 * one 1x1 Conv built here with protobuf-c, weights set by hand so that every
 * pure colour maps to one class (red 0, green 1, blue 2, black 3, yellow a
 * tie of 0 and 1 that 0 wins; class 4 is never predicted). Tiles of those colours with pseudo-random masks are
 * written here; the confusion matrix and metrics are worked out here from the
 * pixels and the definitions in unet-eval --help, and compared with its JSON,
 * CSV, error maps and heat map. Broken tiles (size mismatch, missing mask,
 * corrupt image, a fold entry without image) must be reported while the rest
 * is evaluated. */
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
#include "onnx.pb-c.h"
#include "tool_run.h"

#define K 5
static const char *const class_names[K] = { "Red thing", "Green, thing", "Blue \"thing\"", "Dark", "Never" };
static const char *const class_hex[K] = { "#C81E1E", "#1EC81E", "#1E1EC8", "#646464", "#F0A000" };
static const uint8_t class_rgb[K][3] = { { 200, 30, 30 }, { 30, 200, 30 }, { 30, 30, 200 },
                                         { 100, 100, 100 }, { 240, 160, 0 } };
/* Tile pixel colours and the class the hand-set model gives each; yellow ties
 * classes 0 and 1, and the lowest class wins a tie. */
static const uint8_t paint[5][3] = { { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 }, { 0, 0, 0 }, { 255, 255, 0 } };
static const int paint_class[5] = { 0, 1, 2, 3, 0 };

static const char *const tsv_names[K] = { "t0", "t1", "t2", "t3", "t4" };
static const char *const tsv_hex[K] = { "#010203", "#111213", "#212223", "#313233", "#414243" };
static const char tsv_text[] = "0\tt0\t#010203\n1\tt1\t#111213\n2\tt2\t#212223\n3\tt3\t#313233\n"
                               "4\tt4\t#414243\n";

static const char *eval_exe;

/* ---- processes and files ---- */

/* Runs unet-eval with the arguments; stdout to tmp/out.txt, stderr to tmp/err.txt. */
static int run_eval(const char *first, ...)
{
    const char *argv[RUN_ARGV_MAX];
    const char *const head[] = { eval_exe, NULL };
    va_list ap;
    va_start(ap, first);
    run_argv_va(argv, head, first, ap);
    va_end(ap);
    return run_redirected(argv, tmp_file("out.txt"), tmp_file("err.txt"), NULL);
}

static void assert_file_contains(const char *rel, const char *fragment)
{
    char *s = slurp(tmp_file(rel), NULL);
    assert_non_null(s);
    if (!strstr(s, fragment))
        fail_msg("%s lacks '%s':\n%s", rel, fragment, s);
    free(s);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* ---- the model: y = W x + B, a 1x1 Conv from 3 channels to K classes ---- */

static Onnx__ValueInfoProto *value_info(const char *name, int channels)
{
    static Onnx__TensorShapeProto__Dimension dims[2][4];
    static Onnx__TensorShapeProto__Dimension *dimp[2][4];
    static Onnx__TensorShapeProto shape[2];
    static Onnx__TypeProto__Tensor tt[2];
    static Onnx__TypeProto type[2];
    static Onnx__ValueInfoProto vi[2];
    static const char *const params[4] = { "N", NULL, "H", "W" };
    int s = channels == 3 ? 0 : 1;
    for (int d = 0; d < 4; d++) {
        onnx__tensor_shape_proto__dimension__init(&dims[s][d]);
        if (params[d]) {
            dims[s][d].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dims[s][d].dim_param = (char *)params[d];
        } else {
            dims[s][d].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dims[s][d].dim_value = channels;
        }
        dimp[s][d] = &dims[s][d];
    }
    onnx__tensor_shape_proto__init(&shape[s]);
    shape[s].n_dim = 4;
    shape[s].dim = dimp[s];
    onnx__type_proto__tensor__init(&tt[s]);
    tt[s].has_elem_type = 1;
    tt[s].elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt[s].shape = &shape[s];
    onnx__type_proto__init(&type[s]);
    type[s].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type[s].tensor_type = &tt[s];
    onnx__value_info_proto__init(&vi[s]);
    vi[s].name = (char *)name;
    vi[s].type = &type[s];
    return &vi[s];
}

/* with_meta: store the class names and colours as unet.classes / unet.colors. */
static void write_model(const char *path, int with_meta)
{
    /* Scores of a pixel scaled to [0, 1]: class c < 3 scores channel c, class 3
     * a constant 0.5 (so black wins it), class 4 a constant -1 (never wins). */
    static float w[K * 3] = { 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
    static float b[K] = { 0, 0, 0, 0.5f, -1 };
    static int64_t w_dims[4] = { K, 3, 1, 1 }, b_dims[1] = { K };
    Onnx__TensorProto wt, bt;
    onnx__tensor_proto__init(&wt);
    wt.name = "W";
    wt.has_data_type = 1;
    wt.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    wt.n_dims = 4;
    wt.dims = w_dims;
    wt.n_float_data = K * 3;
    wt.float_data = w;
    onnx__tensor_proto__init(&bt);
    bt.name = "B";
    bt.has_data_type = 1;
    bt.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    bt.n_dims = 1;
    bt.dims = b_dims;
    bt.n_float_data = K;
    bt.float_data = b;
    Onnx__TensorProto *inits[2] = { &wt, &bt };

    static int64_t kernel[2] = { 1, 1 };
    Onnx__AttributeProto ks;
    onnx__attribute_proto__init(&ks);
    ks.name = "kernel_shape";
    ks.has_type = 1;
    ks.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    ks.n_ints = 2;
    ks.ints = kernel;
    Onnx__AttributeProto *attrs[1] = { &ks };
    static char *node_in[3] = { "x", "W", "B" }, *node_out[1] = { "y" };
    Onnx__NodeProto conv;
    onnx__node_proto__init(&conv);
    conv.name = "classify";
    conv.op_type = "Conv";
    conv.n_input = 3;
    conv.input = node_in;
    conv.n_output = 1;
    conv.output = node_out;
    conv.n_attribute = 1;
    conv.attribute = attrs;
    Onnx__NodeProto *nodes[1] = { &conv };

    Onnx__ValueInfoProto *in[1] = { value_info("x", 3) }, *out[1] = { value_info("y", K) };
    Onnx__GraphProto g;
    onnx__graph_proto__init(&g);
    g.name = "eval_test";
    g.n_node = 1;
    g.node = nodes;
    g.n_initializer = 2;
    g.initializer = inits;
    g.n_input = 1;
    g.input = in;
    g.n_output = 1;
    g.output = out;

    char names[256], colors[256];
    FMT(names, sizeof names, "[\"Red thing\",\"Green, thing\",\"Blue \\\"thing\\\"\",\"Dark\",\"Never\"]");
    FMT(colors, sizeof colors, "[\"%s\",\"%s\",\"%s\",\"%s\",\"%s\"]", class_hex[0], class_hex[1], class_hex[2],
        class_hex[3], class_hex[4]);
    Onnx__StringStringEntryProto meta[2];
    onnx__string_string_entry_proto__init(&meta[0]);
    meta[0].key = "unet.classes";
    meta[0].value = names;
    onnx__string_string_entry_proto__init(&meta[1]);
    meta[1].key = "unet.colors";
    meta[1].value = colors;
    Onnx__StringStringEntryProto *metap[2] = { &meta[0], &meta[1] };

    Onnx__OperatorSetIdProto opset;
    onnx__operator_set_id_proto__init(&opset);
    opset.domain = "";
    opset.has_version = 1;
    opset.version = 13;
    Onnx__OperatorSetIdProto *opsets[1] = { &opset };
    Onnx__ModelProto m;
    onnx__model_proto__init(&m);
    m.has_ir_version = 1;
    m.ir_version = 8;
    m.n_opset_import = 1;
    m.opset_import = opsets;
    m.producer_name = "test_unet_eval";
    m.graph = &g;
    m.n_metadata_props = with_meta ? 2 : 0;
    m.metadata_props = metap;

    size_t n = onnx__model_proto__get_packed_size(&m);
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    assert_int_equal(onnx__model_proto__pack(&m, buf), n);
    write_bytes(path, buf, n);
    free(buf);
}

/* ---- the tiles ---- */

typedef struct tile_spec {
    const char *name;
    int fold;
    int w, h;
    int n_paints;           /* colours drawn from paint[0..n_paints-1] */
    const uint8_t *labels;  /* mask values drawn from these */
    int n_labels;
} tile_spec;

static const uint8_t labels_fold0[] = { 0, 1, 4, 255 };
static const uint8_t labels_fold1[] = { 0, 1, 2, 3, 4, 255, 7 };

/* Fold 0 holds only red, green and black pixels and labels 0, 1, 4: class 2 is
 * absent and never predicted, class 3 absent but predicted, class 4 present
 * but never predicted. Fold 1 has everything, and label 7, which is no class. */
static const tile_spec good[] = {
    { "a", 0, 8, 6, 2, labels_fold0, 4 }, /* red and green only */
    { "b", 0, 8, 6, 4, labels_fold0, 4 }, /* blue shows up below: replaced by black */
    { "c", 0, 5, 7, 4, labels_fold0, 4 }, /* another size: a batch of its own */
    { "d", 1, 8, 6, 5, labels_fold1, 7 },
};
#define N_GOOD 4

typedef struct tile_data {
    int w, h;
    uint8_t *rgb, *truth, *pred;
} tile_data;

static tile_data data[N_GOOD];

static uint32_t rng = 12345;
static uint32_t next_rand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

static void make_tile(const char *tiles, const tile_spec *s, tile_data *d)
{
    size_t n = (size_t)s->w * (size_t)s->h;
    d->w = s->w;
    d->h = s->h;
    d->rgb = malloc(3 * n);
    d->truth = malloc(n);
    d->pred = malloc(n);
    assert_true(d->rgb && d->truth && d->pred);
    for (size_t i = 0; i < n; i++) {
        int p = (int)(next_rand() % (uint32_t)s->n_paints);
        if (s->fold == 0 && p == 2)
            p = 3; /* fold 0 never shows blue */
        memcpy(d->rgb + 3 * i, paint[p], 3);
        d->pred[i] = (uint8_t)paint_class[p];
        d->truth[i] = s->labels[next_rand() % (uint32_t)s->n_labels];
    }
    char path[800];
    unet_image img = { s->w, s->h, 3, d->rgb };
    FMT(path, sizeof path, "%s/images/%s.png", tiles, s->name);
    assert_int_equal(unet_png_write(path, &img, NULL, 0), UNET_OK);
    FMT(path, sizeof path, "%s/masks/%s.png", tiles, s->name);
    if (s->fold == 0) { /* gray masks here, palette masks below */
        unet_image m = { s->w, s->h, 1, d->truth };
        assert_int_equal(unet_png_write(path, &m, NULL, 0), UNET_OK);
    } else {
        uint8_t pal[256 * 3] = { 0 };
        for (int c = 0; c < K; c++)
            memcpy(pal + 3 * c, class_rgb[c], 3);
        assert_int_equal(unet_png_write_indexed(path, s->w, s->h, d->truth, pal, 256, NULL, 0), UNET_OK);
    }
}

static int setup(void **state)
{
    (void)state;
    eval_exe = getenv("UNET_EVAL");
    if (!eval_exe)
        return -1;
    if (tmp_folder_create("eval") != 0)
        return -1;
    write_model(tmp_file("model.onnx"), 1);
    write_model(tmp_file("bare.onnx"), 0);
    const char *tiles = tmp_file("tiles");
    char dir[800];
    assert_int_equal(mkdir(tiles, 0777), 0);
    FMT(dir, sizeof dir, "%s/images", tiles);
    assert_int_equal(mkdir(dir, 0777), 0);
    FMT(dir, sizeof dir, "%s/masks", tiles);
    assert_int_equal(mkdir(dir, 0777), 0);
    for (int i = 0; i < N_GOOD; i++)
        make_tile(tiles, &good[i], &data[i]);

    /* Broken tiles, all in fold 1: mask size differs, mask missing, image corrupt. */
    uint8_t px[3 * 8 * 6] = { 0 }, lab[8 * 6] = { 0 };
    unet_image img = { 8, 6, 3, px }, small = { 7, 6, 1, lab };
    char path[800];
    FMT(path, sizeof path, "%s/images/e_size.png", tiles);
    assert_int_equal(unet_png_write(path, &img, NULL, 0), UNET_OK);
    FMT(path, sizeof path, "%s/masks/e_size.png", tiles);
    assert_int_equal(unet_png_write(path, &small, NULL, 0), UNET_OK);
    FMT(path, sizeof path, "%s/images/f_nomask.png", tiles);
    assert_int_equal(unet_png_write(path, &img, NULL, 0), UNET_OK);
    FMT(path, sizeof path, "%s/images/g_corrupt.png", tiles);
    write_bytes(path, "\x89PNG\r\n\x1a\nthis is not a png", 24);
    FMT(path, sizeof path, "%s/masks/g_corrupt.png", tiles);
    unet_image m8 = { 8, 6, 1, lab };
    assert_int_equal(unet_png_write(path, &m8, NULL, 0), UNET_OK);

    /* The tiles' palette: used only when the model has no class metadata. */
    FMT(path, sizeof path, "%s/classes.tsv", tiles);
    write_bytes(path, tsv_text, strlen(tsv_text));

    FMT(path, sizeof path, "%s/folds.tsv", tiles);
    const char *folds = "a\tscene-1\t0\nb\tscene-1\t0\nc\tscene-2\t0\nd\tscene-3\t1\n"
                        "e_size\tscene-3\t1\nf_nomask\tscene-3\t1\ng_corrupt\tscene-3\t1\nghost\tscene-3\t1\n";
    write_bytes(path, folds, strlen(folds));
    /* Another split of the same tiles, for --folds-file. */
    const char *other = "# name, scene, fold\nb\ts\t2\r\nd\ts\t2\r\nc\ts\t3\r\n";
    write_bytes(tmp_file("other-folds.tsv"), other, strlen(other));
    return 0;
}

static int teardown(void **state)
{
    for (int i = 0; i < N_GOOD; i++) {
        free(data[i].rgb);
        free(data[i].truth);
        free(data[i].pred);
    }
    return tmp_folder_remove(state);
}

/* ---- the reference: confusion matrix and metrics worked out here ---- */

typedef struct reference {
    uint64_t cm[K][K];
    uint64_t ignored, unknown;
    double precision[K], recall[K], f1[K], iou[K];
    uint64_t support[K], predicted[K], total;
    double accuracy, miou, macro_f1, weighted_f1;
    int present;
} reference;

static double div_or_nan(double a, double b) { return b != 0 ? a / b : NAN; }

static void reference_of(const int *tiles, int n_tiles, int ignore, reference *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < n_tiles; i++) {
        const tile_data *d = &data[tiles[i]];
        for (int p = 0; p < d->w * d->h; p++) {
            int t = d->truth[p];
            if (t == ignore)
                r->ignored++;
            else if (t >= K)
                r->unknown++;
            else
                r->cm[t][d->pred[p]]++;
        }
    }
    uint64_t correct = 0;
    for (int t = 0; t < K; t++)
        for (int p = 0; p < K; p++) {
            r->support[t] += r->cm[t][p];
            r->predicted[p] += r->cm[t][p];
            r->total += r->cm[t][p];
            if (t == p)
                correct += r->cm[t][p];
        }
    double iou_sum = 0, f1_sum = 0, wsum = 0;
    for (int c = 0; c < K; c++) {
        double tp = (double)r->cm[c][c], fp = (double)(r->predicted[c] - r->cm[c][c]),
               fn = (double)(r->support[c] - r->cm[c][c]);
        r->precision[c] = div_or_nan(tp, tp + fp);
        r->recall[c] = div_or_nan(tp, tp + fn);
        r->f1[c] = div_or_nan(2 * tp, 2 * tp + fp + fn);
        r->iou[c] = div_or_nan(tp, tp + fp + fn);
        if (r->support[c]) {
            r->present++;
            iou_sum += r->iou[c];
            f1_sum += r->f1[c];
            wsum += r->f1[c] * (double)r->support[c];
        }
    }
    r->accuracy = div_or_nan((double)correct, (double)r->total);
    r->miou = div_or_nan(iou_sum, r->present);
    r->macro_f1 = div_or_nan(f1_sum, r->present);
    r->weighted_f1 = div_or_nan(wsum, (double)r->total);
}

static void check_json_classes(const json_value *j, const reference *r, const char *const *names,
                               const char *const *hex)
{
    const json_value *m = json_get(j, "confusion_matrix");
    assert_int_equal(m->type, JSON_ARRAY);
    assert_int_equal(m->n, K);
    for (int t = 0; t < K; t++) {
        assert_int_equal(m->items[t]->n, K);
        for (int p = 0; p < K; p++)
            if ((uint64_t)m->items[t]->items[p]->number != r->cm[t][p])
                fail_msg("confusion[%d][%d] = %g, expected %llu", t, p, m->items[t]->items[p]->number,
                         (unsigned long long)r->cm[t][p]);
    }
    assert_int_equal((int)json_number(j, "n_classes"), K);
    assert_int_equal((int)json_number(j, "n_present"), r->present);
    json_check_number(j, "pixel_accuracy", r->accuracy, 1e-12, "overall");
    json_check_number(j, "mean_iou", r->miou, 1e-12, "overall");
    json_check_number(j, "macro_f1", r->macro_f1, 1e-12, "overall");
    json_check_number(j, "weighted_f1", r->weighted_f1, 1e-12, "overall");
    const json_value *px = json_get(j, "pixels");
    assert_int_equal((uint64_t)json_number(px, "counted"), r->total);
    assert_int_equal((uint64_t)json_number(px, "ignored"), r->ignored);
    assert_int_equal((uint64_t)json_number(px, "unknown_label"), r->unknown);
    const json_value *cl = json_get(j, "classes");
    assert_int_equal(cl->n, K);
    for (int c = 0; c < K; c++) {
        const json_value *o = cl->items[c];
        char where[32];
        FMT(where, sizeof where, "class %d", c);
        assert_int_equal((int)json_number(o, "id"), c);
        assert_string_equal(json_string(o, "name"), names[c]);
        assert_string_equal(json_string(o, "color"), hex[c]);
        assert_int_equal((uint64_t)json_number(o, "support"), r->support[c]);
        assert_int_equal((uint64_t)json_number(o, "predicted"), r->predicted[c]);
        assert_int_equal((uint64_t)json_number(o, "tp"), r->cm[c][c]);
        assert_int_equal(json_get(o, "present")->number, r->support[c] > 0);
        json_check_number(o, "precision", r->precision[c], 1e-12, where);
        json_check_number(o, "recall", r->recall[c], 1e-12, where);
        json_check_number(o, "f1", r->f1[c], 1e-12, where);
        json_check_number(o, "iou", r->iou[c], 1e-12, where);
    }
}

static void check_json(const json_value *j, const reference *r)
{
    check_json_classes(j, r, class_names, class_hex);
}

static json_value *read_json(const char *rel)
{
    char *s = slurp(tmp_file(rel), NULL);
    assert_non_null(s);
    json_value *j = json_parse(s);
    free(s);
    return j;
}

/* ---- tests ---- */

/* Fold 0: the classes absent from the ground truth show their undefined values. */
static void test_fold0(void **state)
{
    (void)state;
    assert_int_equal(run_eval(tmp_file("model.onnx"), tmp_file("tiles"), "--fold", "0", "--json", "--batch", "2",
                              "--threads", "1", NULL),
                     0);
    reference r;
    int tiles[] = { 0, 1, 2 };
    reference_of(tiles, 3, 255, &r);
    /* What the tiles were built to show. */
    assert_int_equal(r.support[2] + r.predicted[2], 0);
    assert_int_equal(r.support[3], 0);
    assert_true(r.predicted[3] > 0);
    assert_true(r.support[4] > 0);
    assert_int_equal(r.predicted[4], 0);
    assert_true(r.ignored > 0);
    assert_int_equal(r.present, 3);
    json_value *j = read_json("out.txt");
    check_json(j, &r);
    assert_int_equal((int)json_number(j, "tiles_selected"), 3);
    assert_int_equal((int)json_number(j, "tiles_evaluated"), 3);
    assert_int_equal((int)json_number(j, "tiles_failed"), 0);
    assert_string_equal(json_string(j, "fold"), "0");
    /* The documented values of the three kinds of edge class. */
    const json_value *cl = json_get(j, "classes");
    assert_int_equal(json_get(cl->items[2], "precision")->type, JSON_NULL);
    assert_int_equal(json_get(cl->items[2], "iou")->type, JSON_NULL);
    assert_true(json_number(cl->items[3], "precision") == 0 && json_number(cl->items[3], "iou") == 0);
    assert_int_equal(json_get(cl->items[3], "recall")->type, JSON_NULL);
    assert_int_equal(json_get(cl->items[4], "precision")->type, JSON_NULL);
    assert_true(json_number(cl->items[4], "recall") == 0 && json_number(cl->items[4], "f1") == 0);
    json_free(j);
}

/* All tiles: broken ones reported, the rest counted; error maps, heat map, CSV. */
static void test_all_tiles(void **state)
{
    (void)state;
    assert_int_equal(run_eval(tmp_file("model.onnx"), tmp_file("tiles"), "--json", "--json-file",
                              tmp_file("report.json"), "--csv", tmp_file("report.csv"), "--heatmap",
                              tmp_file("heat.png"), "--errors", tmp_file("errors"), "--batch", "3", NULL),
                     1);
    reference r;
    int tiles[] = { 0, 1, 2, 3 };
    reference_of(tiles, 4, 255, &r);
    assert_true(r.unknown > 0);
    json_value *j = read_json("out.txt");
    check_json(j, &r);
    assert_int_equal((int)json_number(j, "tiles_selected"), 7);
    assert_int_equal((int)json_number(j, "tiles_evaluated"), 4);
    assert_int_equal((int)json_number(j, "tiles_failed"), 3);
    assert_int_equal(json_get(j, "fold")->type, JSON_NULL);
    const json_value *fl = json_get(j, "failures");
    assert_int_equal(fl->n, 3);
    const char *bad[3] = { "e_size", "f_nomask", "g_corrupt" };
    for (int i = 0; i < 3; i++)
        assert_string_equal(json_string(fl->items[i], "tile"), bad[i]);
    assert_non_null(strstr(json_string(fl->items[0], "error"), "7x6"));
    assert_file_contains("err.txt", "e_size");
    assert_file_contains("err.txt", "f_nomask: no mask");
    assert_file_contains("err.txt", "g_corrupt");
    json_free(j);

    /* --json-file holds the same object. */
    char *a = slurp(tmp_file("out.txt"), NULL), *b = slurp(tmp_file("report.json"), NULL);
    assert_non_null(b);
    assert_string_equal(a, b);
    free(a);
    free(b);

    /* CSV: one row per class, undefined values empty. */
    char *csv = slurp(tmp_file("report.csv"), NULL);
    assert_non_null(csv);
    char *line = strtok(csv, "\n");
    assert_string_equal(line, "id,name,color,support,predicted,tp,fp,fn,precision,recall,f1,iou");
    for (int c = 0; c < K; c++) {
        line = strtok(NULL, "\n");
        assert_non_null(line);
        char want[256];
        const char *quoted[K] = { "Red thing", "\"Green, thing\"", "\"Blue \"\"thing\"\"\"", "Dark", "Never" };
        FMT(want, sizeof want, "%d,%s,%s,%llu,%llu,%llu,%llu,%llu,", c, quoted[c], class_hex[c],
            (unsigned long long)r.support[c], (unsigned long long)r.predicted[c],
            (unsigned long long)r.cm[c][c], (unsigned long long)(r.predicted[c] - r.cm[c][c]),
            (unsigned long long)(r.support[c] - r.cm[c][c]));
        if (strncmp(line, want, strlen(want)))
            fail_msg("CSV row %d is '%s', expected it to start '%s'", c, line, want);
        const char *v = line + strlen(want);
        double ref[4] = { r.precision[c], r.recall[c], r.f1[c], r.iou[c] };
        for (int f = 0; f < 4; f++) {
            if (isnan(ref[f])) {
                assert_true(*v == ',' || *v == '\0');
            } else {
                char *end;
                double x = strtod(v, &end);
                assert_true(end != v);
                assert_true(fabs(x - ref[f]) < 1e-12);
                v = end;
            }
            if (f < 3) {
                assert_int_equal(*v, ',');
                v++;
            }
        }
        assert_int_equal(*v, '\0');
    }
    assert_null(strtok(NULL, "\n"));
    free(csv);

    /* Error maps, pixel by pixel. */
    for (int i = 0; i < N_GOOD; i++) {
        char rel[64];
        FMT(rel, sizeof rel, "errors/%s.png", good[i].name);
        unet_image im;
        assert_int_equal(unet_image_read(tmp_file(rel), UNET_IMAGE_DEFAULT, &im), UNET_OK);
        const tile_data *d = &data[i];
        assert_int_equal(im.width, d->w);
        assert_int_equal(im.height, d->h);
        assert_int_equal(im.channels, 3);
        for (int p = 0; p < d->w * d->h; p++) {
            uint8_t want[3] = { 0, 0, 0 };
            int t = d->truth[p];
            if (t == 255 || t >= K)
                ;
            else if (d->pred[p] == t)
                for (int c = 0; c < 3; c++)
                    want[c] = (uint8_t)(class_rgb[t][c] / 2);
            else
                want[0] = 255;
            if (memcmp(im.pixels + 3 * p, want, 3))
                fail_msg("%s pixel %d: got %d,%d,%d, expected %d,%d,%d", rel, p, im.pixels[3 * p],
                         im.pixels[3 * p + 1], im.pixels[3 * p + 2], want[0], want[1], want[2]);
        }
        unet_image_free(&im);
    }
    struct stat st;
    assert_int_not_equal(stat(tmp_file("errors/e_size.png"), &st), 0);

    /* Heat map: the documented size; each cell's corner (away from digits and
     * grid lines) grey for a class absent from the truth, white for a zero
     * count, the full colour for 100 %, else neither white nor grey. */
    unet_image hm;
    assert_int_equal(unet_image_read(tmp_file("heat.png"), UNET_IMAGE_DEFAULT, &hm), UNET_OK);
    assert_int_equal(hm.width, 40 * K + 114);
    assert_int_equal(hm.height, 40 * K + 44);
    assert_int_equal(hm.channels, 3);
    for (int t = 0; t < K; t++)
        for (int p = 0; p < K; p++) {
            const uint8_t *px = hm.pixels + ((size_t)(36 + 40 * t + 3) * (size_t)hm.width + (size_t)(48 + 40 * p + 3)) * 3;
            if (r.support[t] == 0)
                assert_true(px[0] == 200 && px[1] == 200 && px[2] == 200);
            else if (r.cm[t][p] == 0)
                assert_true(px[0] == 255 && px[1] == 255 && px[2] == 255);
            else if (r.cm[t][p] == r.support[t])
                assert_true(px[0] == 8 && px[1] == 48 && px[2] == 107);
            else
                assert_false((px[0] == 255 && px[1] == 255 && px[2] == 255) || (px[0] == 200 && px[1] == 200));
        }
    /* The class colour strips along both edges. */
    for (int c = 0; c < K; c++) {
        const uint8_t *left = hm.pixels + ((size_t)(36 + 40 * c + 20) * (size_t)hm.width + 40) * 3;
        const uint8_t *top = hm.pixels + ((size_t)28 * (size_t)hm.width + (size_t)(48 + 40 * c + 20)) * 3;
        assert_memory_equal(left, class_rgb[c], 3);
        assert_memory_equal(top, class_rgb[c], 3);
    }
    unet_image_free(&hm);
}

/* --folds-file and --ignore-label: labels 0 left out, 255 then counted as
 * "not a class"; the table prints n/a for undefined values. */
static void test_other_folds_and_ignore(void **state)
{
    (void)state;
    assert_int_equal(run_eval(tmp_file("model.onnx"), tmp_file("tiles"), "--folds-file",
                              tmp_file("other-folds.tsv"), "--fold", "2", "--ignore-label", "0", "--json", NULL),
                     0);
    reference r;
    int tiles[] = { 1, 3 };
    reference_of(tiles, 2, 0, &r);
    json_value *j = read_json("out.txt");
    check_json(j, &r);
    assert_int_equal((int)json_number(j, "ignore_label"), 0);
    assert_int_equal((int)json_number(j, "tiles_selected"), 2);
    json_free(j);

    assert_int_equal(run_eval(tmp_file("model.onnx"), tmp_file("tiles"), "--fold", "0", NULL), 0);
    assert_file_contains("out.txt", "n/a");
    assert_file_contains("out.txt", "Green, thing");
    assert_file_contains("out.txt", "mean IoU");
}

/* Without class metadata in the model, TILES/classes.tsv names the classes. */
static void test_names_from_tiles(void **state)
{
    (void)state;
    assert_int_equal(run_eval(tmp_file("bare.onnx"), tmp_file("tiles"), "--fold", "0", "--json", NULL), 0);
    reference r;
    int tiles[] = { 0, 1, 2 };
    reference_of(tiles, 3, 255, &r);
    json_value *j = read_json("out.txt");
    check_json_classes(j, &r, tsv_names, tsv_hex);
    json_free(j);
}

/* A fold entry without image fails that tile only. */
static void test_fold1_ghost(void **state)
{
    (void)state;
    assert_int_equal(run_eval(tmp_file("model.onnx"), tmp_file("tiles"), "--fold", "1", "--json", "--quiet", NULL),
                     1);
    reference r;
    int tiles[] = { 3 };
    reference_of(tiles, 1, 255, &r);
    json_value *j = read_json("out.txt");
    check_json(j, &r);
    assert_int_equal((int)json_number(j, "tiles_selected"), 5);
    assert_int_equal((int)json_number(j, "tiles_failed"), 4);
    json_free(j);
    assert_file_contains("err.txt", "ghost: listed in the folds file");
}

static void test_usage(void **state)
{
    (void)state;
    const char *model = tmp_file("model.onnx"), *tiles = tmp_file("tiles");
    /* Folds choose tiles; whole scenes (test_eval_scene.c) take none. */
    assert_int_equal(run_eval(model, tiles, "--scene", "--fold", "0", NULL), 2);
    assert_file_contains("err.txt", "--fold and --folds-file choose tiles");
    assert_int_equal(run_eval(model, tiles, "--fold", "9", NULL), 2);
    assert_file_contains("err.txt", "no tile of fold '9'");
    assert_int_equal(run_eval(model, tiles, "--folds-file", tmp_file("other-folds.tsv"), NULL), 2);
    assert_int_equal(run_eval(model, NULL), 2);
    assert_int_equal(run_eval(model, tiles, "--ignore-label", "256", NULL), 2);
    assert_int_equal(run_eval(tmp_file("tiles/folds.tsv"), tiles, NULL), 2);
    assert_int_equal(run_eval(model, tmp_file("nowhere"), NULL), 2);
    /* A malformed folds file is named with its line. */
    write_bytes(tmp_file("bad-folds.tsv"), "a\ts\t0\nb\t0\n", strlen("a\ts\t0\nb\t0\n"));
    assert_int_equal(run_eval(model, tiles, "--folds-file", tmp_file("bad-folds.tsv"), "--fold", "0", NULL), 2);
    assert_file_contains("err.txt", "bad-folds.tsv line 2");
    const char *dup = "a\ts\t0\nb\ts\t0\na\ts\t1\n";
    write_bytes(tmp_file("dup-folds.tsv"), dup, strlen(dup));
    assert_int_equal(run_eval(model, tiles, "--folds-file", tmp_file("dup-folds.tsv"), "--fold", "0", NULL), 2);
    assert_file_contains("err.txt", "dup-folds.tsv line 3: tile 'a' is listed again (first at line 1)");
    assert_int_equal(run_eval("--help", NULL), 0);
    assert_file_contains("out.txt", "never predicted");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fold0),
        cmocka_unit_test(test_all_tiles),
        cmocka_unit_test(test_other_folds_and_ignore),
        cmocka_unit_test(test_fold1_ghost),
        cmocka_unit_test(test_names_from_tiles),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
