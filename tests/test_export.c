/* ONNX export: the file decodes with protobuf-c into exactly the graph the
 * design asks for (checked element by element against the parameter set),
 * python3-onnx's checker and strict shape inference accept it, a numpy
 * interpreter of the exported graph agrees with the naive reference U-Net, and
 * failures leave nothing behind. */
#include <dirent.h>
#include <errno.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "export_onnx.h"
#include "onnx.pb-c.h"
#include "random_params.h"
#include "reference_unet.h"

static const char *const class_names[6] = {
    "Building", "Land \"unpaved\"", "Road", "V\xc3\xa9g\xc3\xa9tation", "Water",
    "Un\\labeled\t"
};
static const char *const class_colors[6] = { "#3C1098", "#8429F6", "#6EC1E4",
                                             "#FEDD3A", "#E2A929", "#9B9B9B" };
static const char *const classes_json =
    "[\"Building\",\"Land \\\"unpaved\\\"\",\"Road\",\"V\xc3\xa9g\xc3\xa9tation\",\"Water\","
    "\"Un\\\\labeled\\t\"]";
static const char *const colors_json =
    "[\"#3C1098\",\"#8429F6\",\"#6EC1E4\",\"#FEDD3A\",\"#E2A929\",\"#9B9B9B\"]";
static const char *const training_json = "{\"epochs\": 3, \"miou\": 0.5, \"folds\": [1, 2]}";

static unet_export_meta test_meta(void)
{
    unet_export_meta m = { 6, class_names, class_colors, training_json, "9.9.9-test" };
    return m;
}

static unet_arch test_arch(int batchnorm)
{
    unet_arch a = { .in_channels = 3, .n_classes = 6, .depth = 2, .base_filters = 4,
                    .batchnorm = batchnorm, .dropout = 0.0f };
    return a;
}

/* ---- temp dirs -------------------------------------------------------------------- */

static char *make_temp_dir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/unet-test-export-XXXXXX", base && *base ? base : "/tmp");
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    return strdup(dir);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void remove_dir(char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[1024];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

static Onnx__ModelProto *load_model(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    uint8_t *bytes = malloc((size_t)size);
    assert_non_null(bytes);
    assert_int_equal(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, (size_t)size, bytes);
    free(bytes);
    assert_non_null(m);
    return m;
}

/* ---- structure -------------------------------------------------------------------- */

static const char *metadata(const Onnx__ModelProto *m, const char *key)
{
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (strcmp(m->metadata_props[i]->key, key) == 0)
            return m->metadata_props[i]->value;
    return NULL;
}

static const Onnx__NodeProto *node_named(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_node; i++)
        if (g->node[i]->name && strcmp(g->node[i]->name, name) == 0)
            return g->node[i];
    return NULL;
}

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

static void assert_ints_attr(const Onnx__NodeProto *n, const char *name, size_t count,
                             const int64_t *expected)
{
    const Onnx__AttributeProto *a = attr(n, name);
    assert_non_null(a);
    assert_int_equal(a->type, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    assert_int_equal(a->n_ints, count);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(a->ints[i], expected[i]);
}

/* N, channels, H, W with symbolic N/H/W. */
static void assert_image_value(const Onnx__ValueInfoProto *vi, const char *name, int channels)
{
    assert_string_equal(vi->name, name);
    assert_non_null(vi->type);
    assert_int_equal(vi->type->value_case, ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE);
    const Onnx__TypeProto__Tensor *t = vi->type->tensor_type;
    assert_int_equal(t->elem_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    assert_non_null(t->shape);
    assert_int_equal(t->shape->n_dim, 4);
    static const char *const params[4] = { "N", NULL, "H", "W" };
    for (int i = 0; i < 4; i++) {
        const Onnx__TensorShapeProto__Dimension *d = t->shape->dim[i];
        if (params[i]) {
            assert_int_equal(d->value_case, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM);
            assert_string_equal(d->dim_param, params[i]);
        } else {
            assert_int_equal(d->value_case, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE);
            assert_int_equal(d->dim_value, channels);
        }
    }
}

static int count_op(const Onnx__GraphProto *g, const char *op)
{
    int n = 0;
    for (size_t i = 0; i < g->n_node; i++)
        n += strcmp(g->node[i]->op_type, op) == 0;
    return n;
}

static void check_structure(int batchnorm)
{
    unet_arch arch = test_arch(batchnorm);
    unet_params *params = random_params_create(&arch, 11 + (uint64_t)batchnorm);
    assert_non_null(params);
    char *dir = make_temp_dir();
    char path[1024];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    unet_export_meta meta = test_meta();
    assert_int_equal(unet_export_onnx(path, params, &meta), UNET_OK);
    assert_int_equal(count_entries(dir), 1); /* no temp file left */

    Onnx__ModelProto *m = load_model(path);
    assert_true(m->has_ir_version);
    assert_int_equal(m->ir_version, 8);
    assert_int_equal(m->n_opset_import, 1);
    assert_true(m->opset_import[0]->domain == NULL || m->opset_import[0]->domain[0] == '\0');
    assert_int_equal(m->opset_import[0]->version, 17);
    assert_string_equal(m->producer_name, "unet-train");
    assert_string_equal(m->producer_version, "9.9.9-test");
    const Onnx__GraphProto *g = m->graph;
    assert_non_null(g);
    assert_string_equal(g->name, "unet");
    assert_int_equal(g->n_input, 1);
    assert_int_equal(g->n_output, 1);
    assert_image_value(g->input[0], "image", 3);
    assert_image_value(g->output[0], "probs", 6);

    /* Initializers: each parameter exactly once, same dims, raw little-endian bytes
     * equal to the parameter's floats. */
    assert_int_equal(g->n_initializer, (size_t)params->n);
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        const net_param *p = random_params_find(params, t->name);
        assert_non_null(p);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(g->initializer[j]->name, t->name);
        assert_int_equal(t->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
        assert_int_equal(t->n_dims, (size_t)p->rank);
        for (int d = 0; d < p->rank; d++)
            assert_int_equal(t->dims[d], p->dims[d]);
        assert_true(t->has_raw_data);
        assert_int_equal(t->raw_data.len, p->count * 4);
        assert_int_equal(t->n_float_data, 0);
        for (size_t k = 0; k < p->count; k++) {
            const uint8_t *b = t->raw_data.data + 4 * k;
            uint32_t bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                            (uint32_t)b[3] << 24;
            float v;
            memcpy(&v, &bits, sizeof v);
            assert_memory_equal(&v, &p->data[k], sizeof v);
        }
        assert_string_not_equal(t->name, "image");
    }

    /* Nodes: count, unique names, unique outputs, topological order, op mix. */
    int per_conv = batchnorm ? 3 : 2; /* conv, (bn), relu */
    size_t expected_nodes = (size_t)(arch.depth * (2 * per_conv + 1) + 2 * per_conv +
                                     arch.depth * (2 + 2 * per_conv) + 2);
    assert_int_equal(g->n_node, expected_nodes);
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        assert_non_null(n->name);
        assert_true(n->name[0] != '\0');
        assert_int_equal(n->n_output, 1);
        assert_true(n->output[0][0] != '\0');
        assert_true(n->domain == NULL || n->domain[0] == '\0');
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(g->node[j]->name, n->name);
            assert_string_not_equal(g->node[j]->output[0], n->output[0]);
        }
        for (size_t k = 0; k < n->n_input; k++) {
            const char *in = n->input[k];
            int known = strcmp(in, "image") == 0;
            for (size_t j = 0; j < g->n_initializer && !known; j++)
                known = strcmp(g->initializer[j]->name, in) == 0;
            for (size_t j = 0; j < i && !known; j++)
                known = strcmp(g->node[j]->output[0], in) == 0;
            if (!known)
                fail_msg("node %s reads %s before anything produces it", n->name, in);
        }
    }
    assert_string_equal(g->node[g->n_node - 1]->output[0], "probs");
    int convs = 2 * arch.depth + 2 + 2 * arch.depth + 1;
    assert_int_equal(count_op(g, "Conv"), convs);
    assert_int_equal(count_op(g, "Relu"), convs - 1);
    assert_int_equal(count_op(g, "BatchNormalization"), batchnorm ? convs - 1 : 0);
    assert_int_equal(count_op(g, "MaxPool"), arch.depth);
    assert_int_equal(count_op(g, "ConvTranspose"), arch.depth);
    assert_int_equal(count_op(g, "Concat"), arch.depth);
    assert_int_equal(count_op(g, "Softmax"), 1);
    assert_int_equal(count_op(g, "Dropout"), 0);

    /* Attributes and wiring of the named nodes. */
    static const int64_t k3[2] = { 3, 3 }, p1[4] = { 1, 1, 1, 1 }, s1[2] = { 1, 1 };
    static const int64_t k2[2] = { 2, 2 }, p0[4] = { 0, 0, 0, 0 }, k1[2] = { 1, 1 };
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (strcmp(n->op_type, "Conv") == 0 && strcmp(n->name, "head") != 0) {
            assert_int_equal(n->n_input, 3);
            assert_ints_attr(n, "kernel_shape", 2, k3);
            assert_ints_attr(n, "pads", 4, p1);
            assert_ints_attr(n, "strides", 2, s1);
        } else if (strcmp(n->op_type, "BatchNormalization") == 0) {
            assert_int_equal(n->n_input, 5);
            const Onnx__AttributeProto *eps = attr(n, "epsilon");
            assert_non_null(eps);
            assert_int_equal(eps->type, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
            assert_true(fabsf(eps->f - 1e-5f) < 1e-12f);
            assert_null(attr(n, "training_mode"));
        } else if (strcmp(n->op_type, "MaxPool") == 0) {
            assert_ints_attr(n, "kernel_shape", 2, k2);
            assert_ints_attr(n, "strides", 2, k2);
        } else if (strcmp(n->op_type, "ConvTranspose") == 0) {
            assert_ints_attr(n, "kernel_shape", 2, k2);
            assert_ints_attr(n, "strides", 2, k2);
            assert_ints_attr(n, "pads", 4, p0);
        }
    }
    const Onnx__NodeProto *n = node_named(g, "enc0/conv1");
    assert_non_null(n);
    assert_string_equal(n->input[0], "image");
    assert_string_equal(n->input[1], "enc0.conv1.weight");
    assert_string_equal(n->input[2], "enc0.conv1.bias");
    assert_non_null(node_named(g, "enc0/relu1"));
    assert_non_null(node_named(g, "enc0/pool"));
    assert_non_null(node_named(g, "mid/conv2"));
    if (batchnorm) {
        n = node_named(g, "dec0/bn2");
        assert_non_null(n);
        assert_string_equal(n->input[1], "dec0.bn2.scale");
        assert_string_equal(n->input[2], "dec0.bn2.shift");
        assert_string_equal(n->input[3], "dec0.bn2.mean");
        assert_string_equal(n->input[4], "dec0.bn2.var");
    }
    for (int l = 0; l < arch.depth; l++) {
        char name[32], up[32], skip[32];
        snprintf(name, sizeof name, "dec%d/concat", l);
        snprintf(up, sizeof up, "dec%d/up", l);
        snprintf(skip, sizeof skip, "enc%d/relu2", l);
        n = node_named(g, name);
        assert_non_null(n);
        assert_int_equal(n->n_input, 2);
        assert_string_equal(n->input[0], node_named(g, up)->output[0]);
        assert_string_equal(n->input[1], node_named(g, skip)->output[0]);
        const Onnx__AttributeProto *axis = attr(n, "axis");
        assert_non_null(axis);
        assert_int_equal(axis->i, 1);
    }
    n = node_named(g, "dec1/up");
    assert_string_equal(n->input[0], node_named(g, "mid/relu2")->output[0]);
    assert_string_equal(n->input[1], "dec1.up.weight");
    n = node_named(g, "head");
    assert_non_null(n);
    assert_string_equal(n->input[0], node_named(g, "dec0/relu2")->output[0]);
    assert_ints_attr(n, "kernel_shape", 2, k1);
    n = node_named(g, "softmax");
    assert_non_null(n);
    assert_string_equal(n->input[0], node_named(g, "head")->output[0]);
    assert_int_equal(attr(n, "axis")->i, 1);

    /* Metadata, exactly. */
    assert_string_equal(metadata(m, "unet.classes"), classes_json);
    assert_string_equal(metadata(m, "unet.colors"), colors_json);
    assert_string_equal(metadata(m, "unet.input"),
                        "{\"layout\":\"NCHW\",\"scale\":0.00392156862745098,"
                        "\"mean\":[0,0,0],\"std\":[1,1,1]}");
    assert_string_equal(metadata(m, "unet.ignore_label"), "255");
    assert_string_equal(metadata(m, "unet.training"), training_json);
    char arch_json[200];
    snprintf(arch_json, sizeof arch_json,
             "{\"depth\":2,\"base_filters\":4,\"batchnorm\":%s,\"in_channels\":3,"
             "\"n_classes\":6}", batchnorm ? "true" : "false");
    assert_string_equal(metadata(m, "unet.arch"), arch_json);

    onnx__model_proto__free_unpacked(m, NULL);
    remove_dir(dir);
    random_params_free(params);
}

static void test_structure_plain(void **state) { (void)state; check_structure(0); }
static void test_structure_batchnorm(void **state) { (void)state; check_structure(1); }

/* ---- python3-onnx checker + numpy interpretation vs reference_unet ---------------- */

static const char *check_script(void)
{
    const char *s = getenv("UNET_CHECK_ONNX");
    return s && *s ? s : "tests/check_onnx.py";
}

/* Runs python3 check_onnx.py with args; returns its exit status (77: skip). */
static int run_checker(const char *const *args, int n_args)
{
    const char *python = "/usr/bin/python3";
    if (access(python, X_OK) != 0)
        return 77;
    const char *argv[16];
    int k = 0;
    argv[k++] = python;
    argv[k++] = check_script();
    for (int i = 0; i < n_args && k < 15; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execv(python, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void write_raw(const char *path, const void *data, size_t bytes)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, bytes, f), bytes);
    assert_int_equal(fclose(f), 0);
}

static void check_with_onnx(int batchnorm)
{
    unet_arch arch = test_arch(batchnorm);
    unet_params *params = random_params_create(&arch, 21 + (uint64_t)batchnorm);
    assert_non_null(params);
    char *dir = make_temp_dir();
    char model[1024], in_path[1024], out_path[1024];
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    snprintf(in_path, sizeof in_path, "%s/input.f32", dir);
    snprintf(out_path, sizeof out_path, "%s/expected.f64", dir);
    unet_export_meta meta = test_meta();
    assert_int_equal(unet_export_onnx(model, params, &meta), UNET_OK);

    enum { N = 2, H = 8, W = 12 };
    size_t in_count = (size_t)N * 3 * H * W, out_count = (size_t)N * 6 * H * W;
    float *input = malloc(in_count * sizeof *input);
    double *probs = malloc(out_count * sizeof *probs);
    assert_non_null(input);
    assert_non_null(probs);
    uint64_t rng = 99;
    random_fill(input, in_count, 0.0f, 1.0f, &rng);
    assert_int_equal(reference_unet_forward(params, N, H, W, input, NULL, probs), 0);
    /* raw little-endian files for numpy (this host is little-endian; checked) */
    const uint16_t probe = 1;
    assert_int_equal(*(const uint8_t *)&probe, 1);
    write_raw(in_path, input, in_count * sizeof *input);
    write_raw(out_path, probs, out_count * sizeof *probs);

    const char *args[] = { model, "--run", in_path, out_path, "2", "3", "8", "12", "1e-9" };
    int rc = run_checker(args, 9);
    free(input);
    free(probs);
    remove_dir(dir);
    random_params_free(params);
    if (rc == 77) {
        printf("SKIP: /usr/bin/python3 with the onnx and numpy modules is needed "
               "(apt install python3-onnx python3-numpy)\n");
        skip();
    }
    if (rc != 0)
        fail_msg("check_onnx.py failed with status %d", rc);
}

static void test_onnx_checker_plain(void **state) { (void)state; check_with_onnx(0); }
static void test_onnx_checker_batchnorm(void **state) { (void)state; check_with_onnx(1); }

/* The trainer's own parameter set (params_create + params_init_he) exports
 * with every parameter used once, and the exported graph computes what the
 * reference computes from those parameters. */
static void test_trainer_params(void **state)
{
    (void)state;
    unet_arch arch = { .in_channels = 3, .n_classes = 6, .depth = 3, .base_filters = 2,
                       .batchnorm = 1, .dropout = 0.1f };
    unet_params *params = NULL;
    if (params_create(&arch, &params) != UNET_OK)
        fail_msg("params_create: %s", unet_last_error());
    params_init_he(params, 42);
    char *dir = make_temp_dir();
    char model[1100], in_path[1100], out_path[1100];
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    snprintf(in_path, sizeof in_path, "%s/input.f32", dir);
    snprintf(out_path, sizeof out_path, "%s/expected.f64", dir);
    unet_export_meta meta = test_meta();
    if (unet_export_onnx(model, params, &meta) != UNET_OK)
        fail_msg("export: %s", unet_last_error());
    Onnx__ModelProto *m = load_model(model);
    assert_int_equal(m->graph->n_initializer, (size_t)params->n);
    onnx__model_proto__free_unpacked(m, NULL);

    enum { N = 1, H = 16, W = 8 };
    size_t in_count = (size_t)N * 3 * H * W, out_count = (size_t)N * 6 * H * W;
    float input[N * 3 * H * W];
    double probs[N * 6 * H * W];
    uint64_t rng = 5;
    random_fill(input, in_count, 0.0f, 1.0f, &rng);
    assert_int_equal(reference_unet_forward(params, N, H, W, input, NULL, probs), 0);
    write_raw(in_path, input, in_count * sizeof *input);
    write_raw(out_path, probs, out_count * sizeof *probs);
    const char *args[] = { model, "--run", in_path, out_path, "1", "3", "16", "8", "1e-9" };
    int rc = run_checker(args, 9);
    remove_dir(dir);
    params_free(params);
    if (rc == 77) {
        printf("SKIP: /usr/bin/python3 with the onnx and numpy modules is needed\n");
        skip();
    }
    if (rc != 0)
        fail_msg("check_onnx.py failed with status %d", rc);
}

/* ---- failures ---------------------------------------------------------------------- */

static void test_missing_directory(void **state)
{
    (void)state;
    unet_arch arch = test_arch(0);
    unet_params *params = random_params_create(&arch, 3);
    assert_non_null(params);
    char *dir = make_temp_dir();
    char path[1100], missing[1024];
    snprintf(missing, sizeof missing, "%s/no-such-dir", dir);
    snprintf(path, sizeof path, "%s/model.onnx", missing);
    assert_int_equal(unet_export_onnx(path, params, NULL), UNET_ERR_IO);
    const char *msg = unet_last_error();
    assert_non_null(strstr(msg, path));
    assert_non_null(strstr(msg, "No such file"));
    struct stat st;
    assert_int_equal(stat(missing, &st), -1);
    assert_int_equal(count_entries(dir), 0);
    remove_dir(dir);
    random_params_free(params);
}

/* Bad inputs fail with a message naming the problem and write nothing, and a
 * failed export does not touch an existing model at the same path. */
static void test_rejects_bad_input(void **state)
{
    (void)state;
    unet_arch arch = test_arch(1);
    unet_params *params = random_params_create(&arch, 5);
    assert_non_null(params);
    char *dir = make_temp_dir();
    char path[1024];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    write_raw(path, "old", 3);

    unet_export_meta meta = test_meta();
    const char *bad_colors[6] = { "#3C1098", "#8429F6", "#6EC1E4", "FEDD3A", "#E2A929",
                                  "#9B9B9B" };
    meta.class_colors = bad_colors;
    assert_int_equal(unet_export_onnx(path, params, &meta), UNET_ERR_ARG);
    assert_non_null(strstr(unet_last_error(), "FEDD3A"));

    meta = test_meta();
    meta.training_json = "{\"epochs\": 3,}";
    assert_int_equal(unet_export_onnx(path, params, &meta), UNET_ERR_ARG);
    assert_non_null(strstr(unet_last_error(), "training summary"));

    meta = test_meta();
    meta.n_classes = 5;
    assert_int_equal(unet_export_onnx(path, params, &meta), UNET_ERR_ARG);

    net_param *p = random_params_find(params, "mid.conv2.weight");
    assert_non_null(p);
    float saved = p->data[7];
    p->data[7] = NAN;
    assert_int_equal(unet_export_onnx(path, params, NULL), UNET_ERR_INVALID);
    assert_non_null(strstr(unet_last_error(), "mid.conv2.weight"));
    p->data[7] = saved;

    p = random_params_find(params, "dec1.bn1.var");
    assert_non_null(p);
    saved = p->data[0];
    p->data[0] = -1.0f;
    assert_int_equal(unet_export_onnx(path, params, NULL), UNET_ERR_INVALID);
    assert_non_null(strstr(unet_last_error(), "dec1.bn1.var"));
    p->data[0] = saved;

    p = random_params_find(params, "dec0.up.weight");
    assert_non_null(p);
    p->dims[0] = 4; /* IOHW [8,4,2,2] mislabelled as [4,4,2,2] */
    assert_int_equal(unet_export_onnx(path, params, NULL), UNET_ERR_SHAPE);
    assert_non_null(strstr(unet_last_error(), "dec0.up.weight"));
    assert_non_null(strstr(unet_last_error(), "[8,4,2,2]"));
    p->dims[0] = 8;

    snprintf(p->name, sizeof p->name, "dec0.up.weights");
    assert_int_equal(unet_export_onnx(path, params, NULL), UNET_ERR_INVALID);
    assert_non_null(strstr(unet_last_error(), "dec0.up.weight is missing"));
    snprintf(p->name, sizeof p->name, "dec0.up.weight");

    /* the old file is untouched and nothing else appeared */
    assert_int_equal(count_entries(dir), 1);
    FILE *f = fopen(path, "rb");
    char buf[8] = { 0 };
    assert_non_null(f);
    assert_int_equal(fread(buf, 1, sizeof buf, f), 3);
    fclose(f);
    assert_memory_equal(buf, "old", 3);

    /* and a good export replaces it */
    assert_int_equal(unet_export_onnx(path, params, NULL), UNET_OK);
    assert_int_equal(count_entries(dir), 1);
    Onnx__ModelProto *m = load_model(path);
    assert_null(metadata(m, "unet.classes"));
    assert_null(metadata(m, "unet.training"));
    assert_string_equal(m->producer_version, UNET_VERSION_STRING);
    onnx__model_proto__free_unpacked(m, NULL);
    remove_dir(dir);
    random_params_free(params);
}

/* The training summary is stored verbatim, so it must be JSON: a few valid and
 * invalid texts worked out by hand. */
static void test_training_json_validation(void **state)
{
    (void)state;
    unet_arch arch = { .in_channels = 1, .n_classes = 2, .depth = 1, .base_filters = 1 };
    unet_params *params = random_params_create(&arch, 9);
    assert_non_null(params);
    char *dir = make_temp_dir();
    char path[1100];
    snprintf(path, sizeof path, "%s/m.onnx", dir);
    static const char *const valid[] = {
        "{}", "[]", "0", "-0.5e+3", "\"x\"",
        (" { \"k\" : [true, false, null, 1.25E-2, "
         "\"\\u00e9\\n\\\"\", {\"n\": []}] } "),
    };
    static const char *const invalid[] = {
        "", "{", "{\"a\":}", "{\"a\" 1}", "{\"a\":1,}", "[1,2", "\"abc", "{\"a\":1} x",
        "nul", "01", "1.", "-", "\"\\x\"", "\"\\u12G4\"", "{1:2}", "\"tab\there\"", "{\"a\"",
    };
    unet_export_meta meta = { 0 };
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        meta.training_json = valid[i];
        if (unet_export_onnx(path, params, &meta) != UNET_OK)
            fail_msg("valid JSON refused: [%s]: %s", valid[i], unet_last_error());
        Onnx__ModelProto *m = load_model(path);
        assert_string_equal(metadata(m, "unet.training"), valid[i]);
        onnx__model_proto__free_unpacked(m, NULL);
    }
    unlink(path);
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        meta.training_json = invalid[i];
        if (unet_export_onnx(path, params, &meta) != UNET_ERR_ARG)
            fail_msg("invalid JSON accepted: [%s]", invalid[i]);
    }
    meta.training_json = "\"\xff\"";
    assert_int_equal(unet_export_onnx(path, params, &meta), UNET_ERR_ARG);
    assert_int_equal(count_entries(dir), 0);
    remove_dir(dir);
    random_params_free(params);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structure_plain),
        cmocka_unit_test(test_structure_batchnorm),
        cmocka_unit_test(test_onnx_checker_plain),
        cmocka_unit_test(test_onnx_checker_batchnorm),
        cmocka_unit_test(test_trainer_params),
        cmocka_unit_test(test_missing_directory),
        cmocka_unit_test(test_rejects_bad_input),
        cmocka_unit_test(test_training_json_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
