/* ONNX import rejects broken and hostile models with a status code and a
 * message that says what is wrong and where (file, tensor, node, expected vs
 * found), and loads the same bytes from memory exactly as from a file. Every
 * model is built here with protobuf-c, one defect at a time, on top of a
 * small valid Conv -> Relu model that is itself checked to load and run.
 *
 * Over 800 lines on purpose: one defect per case, all on the same valid
 * base model and its protobuf-c builders defined first. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <unet/unet.h>

#include "onnx.pb-c.h"

/* ---- a tiny in-memory model builder (every allocation freed together) ----
 * tests/onnx_builder.h builds valid models behind an opaque handle; the
 * defects below need the protobuf-c structures themselves (a raw_data length,
 * a negative dim, external data entries, an opset domain), hence this one. */

#define MB_MAX 32 /* entries per repeated field */

typedef struct mb {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    void **allocs;
    size_t n_allocs, cap_allocs;
} mb;

static void *mb_alloc(mb *b, size_t size)
{
    if (b->n_allocs == b->cap_allocs) {
        size_t cap = b->cap_allocs ? 2 * b->cap_allocs : 64;
        void **p = realloc(b->allocs, cap * sizeof *p);
        assert_non_null(p);
        b->allocs = p;
        b->cap_allocs = cap;
    }
    void *p = calloc(1, size ? size : 1);
    assert_non_null(p);
    b->allocs[b->n_allocs++] = p;
    return p;
}

static char *mb_str(mb *b, const char *s)
{
    char *p = mb_alloc(b, strlen(s) + 1);
    memcpy(p, s, strlen(s) + 1);
    return p;
}

static void mb_opset(mb *b, const char *domain, int version)
{
    Onnx__OperatorSetIdProto *o = mb_alloc(b, sizeof *o);
    onnx__operator_set_id_proto__init(o);
    o->domain = mb_str(b, domain);
    o->has_version = 1;
    o->version = version;
    b->model.opset_import[b->model.n_opset_import++] = o;
}

/* opset 0: no opset_import entry for the default domain. */
static void mb_init(mb *b, int opset)
{
    memset(b, 0, sizeof *b);
    onnx__model_proto__init(&b->model);
    onnx__graph_proto__init(&b->graph);
    b->model.has_ir_version = 1;
    b->model.ir_version = 8;
    b->model.producer_name = mb_str(b, "unet-tests");
    b->model.graph = &b->graph;
    b->model.opset_import = mb_alloc(b, MB_MAX * sizeof(void *));
    b->graph.name = mb_str(b, "g");
    b->graph.node = mb_alloc(b, MB_MAX * sizeof(void *));
    b->graph.initializer = mb_alloc(b, MB_MAX * sizeof(void *));
    b->graph.input = mb_alloc(b, MB_MAX * sizeof(void *));
    b->graph.output = mb_alloc(b, MB_MAX * sizeof(void *));
    if (opset > 0)
        mb_opset(b, "", opset);
}

static void mb_free(mb *b)
{
    for (size_t i = 0; i < b->n_allocs; i++)
        free(b->allocs[i]);
    free(b->allocs);
    memset(b, 0, sizeof *b);
}

/* A float tensor value_info; rank < 0 leaves the shape out. */
static Onnx__ValueInfoProto *mb_value_info(mb *b, const char *name, int rank, const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = mb_alloc(b, sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = mb_str(b, name);
    Onnx__TypeProto *tp = mb_alloc(b, sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = mb_alloc(b, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = UNET_DTYPE_FLOAT;
    if (rank >= 0) {
        Onnx__TensorShapeProto *sh = mb_alloc(b, sizeof *sh);
        onnx__tensor_shape_proto__init(sh);
        sh->dim = mb_alloc(b, (size_t)(rank ? rank : 1) * sizeof(void *));
        for (int d = 0; d < rank; d++) {
            Onnx__TensorShapeProto__Dimension *dim = mb_alloc(b, sizeof *dim);
            onnx__tensor_shape_proto__dimension__init(dim);
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim->dim_value = dims[d];
            sh->dim[sh->n_dim++] = dim;
        }
        tt->shape = sh;
    }
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    return vi;
}

static void mb_input(mb *b, const char *name, int rank, const int64_t *dims)
{
    b->graph.input[b->graph.n_input++] = mb_value_info(b, name, rank, dims);
}

static void mb_output(mb *b, const char *name)
{
    b->graph.output[b->graph.n_output++] = mb_value_info(b, name, -1, NULL);
}

/* A float initializer holding data as raw_data (data may be NULL: zeros). */
static Onnx__TensorProto *mb_initializer(mb *b, const char *name, int rank, const int64_t *dims,
                                         const float *data)
{
    Onnx__TensorProto *t = mb_alloc(b, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = mb_str(b, name);
    t->has_data_type = 1;
    t->data_type = UNET_DTYPE_FLOAT;
    t->dims = mb_alloc(b, (size_t)(rank ? rank : 1) * sizeof *t->dims);
    t->n_dims = (size_t)rank;
    size_t count = 1;
    for (int d = 0; d < rank; d++) {
        t->dims[d] = dims[d];
        count *= (size_t)dims[d];
    }
    t->has_raw_data = 1;
    t->raw_data.len = count * sizeof(float);
    t->raw_data.data = mb_alloc(b, t->raw_data.len);
    if (data)
        memcpy(t->raw_data.data, data, t->raw_data.len);
    b->graph.initializer[b->graph.n_initializer++] = t;
    return t;
}

/* ins/outs: comma-separated value names ("" items are omitted inputs). */
static char **mb_names(mb *b, const char *list, size_t *n)
{
    char **out = mb_alloc(b, MB_MAX * sizeof *out);
    *n = 0;
    if (!list)
        return out;
    const char *s = list;
    for (;;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        char *item = mb_alloc(b, len + 1);
        memcpy(item, s, len);
        out[(*n)++] = item;
        if (!e)
            break;
        s = e + 1;
    }
    return out;
}

static Onnx__NodeProto *mb_node(mb *b, const char *op, const char *name, const char *ins,
                                const char *outs)
{
    Onnx__NodeProto *n = mb_alloc(b, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = mb_str(b, op);
    n->name = mb_str(b, name);
    n->input = mb_names(b, ins, &n->n_input);
    n->output = mb_names(b, outs, &n->n_output);
    n->attribute = mb_alloc(b, MB_MAX * sizeof(void *));
    b->graph.node[b->graph.n_node++] = n;
    return n;
}

static Onnx__AttributeProto *mb_attr(mb *b, Onnx__NodeProto *n, const char *name,
                                     Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = mb_alloc(b, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = mb_str(b, name);
    a->has_type = 1;
    a->type = type;
    n->attribute[n->n_attribute++] = a;
    return a;
}

static void mb_attr_ints(mb *b, Onnx__NodeProto *n, const char *name, int count, const int64_t *v)
{
    Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->ints = mb_alloc(b, (size_t)(count ? count : 1) * sizeof *a->ints);
    memcpy(a->ints, v, (size_t)count * sizeof *v);
    a->n_ints = (size_t)count;
}

/* Packs the model; the caller frees the bytes. */
static uint8_t *mb_pack(const mb *b, size_t *size)
{
    *size = onnx__model_proto__get_packed_size(&b->model);
    uint8_t *buf = malloc(*size ? *size : 1);
    assert_non_null(buf);
    assert_int_equal(onnx__model_proto__pack(&b->model, buf), *size);
    return buf;
}

/* ---- the valid base model and its parts ---- */

static const int64_t X_DIMS[4] = { 1, 2, 5, 5 };
static const int64_t W_DIMS[4] = { 3, 2, 3, 3 };
#define W_COUNT 54
static const int64_t B_DIMS[1] = { 3 };

static float w_values[W_COUNT];
static const float b_values[3] = { 0.5f, -0.25f, 0.125f };

typedef struct base_model {
    Onnx__NodeProto *conv, *relu;
    Onnx__TensorProto *w, *bias;
} base_model;

/* X[1,2,5,5] -> Conv(W[3,2,3,3], B[3], pads 1) -> Y -> Relu -> Z. */
static void build_base(mb *b, base_model *bm)
{
    mb_init(b, 13);
    mb_input(b, "X", 4, X_DIMS);
    bm->w = mb_initializer(b, "W", 4, W_DIMS, w_values);
    bm->bias = mb_initializer(b, "B", 1, B_DIMS, b_values);
    bm->conv = mb_node(b, "Conv", "conv", "X,W,B", "Y");
    const int64_t pads[4] = { 1, 1, 1, 1 };
    mb_attr_ints(b, bm->conv, "pads", 4, pads);
    const int64_t ks[2] = { 3, 3 };
    mb_attr_ints(b, bm->conv, "kernel_shape", 2, ks);
    bm->relu = mb_node(b, "Relu", "relu", "Y", "Z");
    mb_output(b, "Z");
}

/* ---- temp folders ---- */

static char tmp_root[512];  /* holds model/ and outside/ */
static char model_dir[600]; /* where models and their external data live */
static char outside_dir[600];

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (size)
        assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

static int setup_dirs(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmp_root, sizeof tmp_root, "%s/unet-test-import-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp_root))
        return -1;
    snprintf(model_dir, sizeof model_dir, "%s/model", tmp_root);
    snprintf(outside_dir, sizeof outside_dir, "%s/outside", tmp_root);
    if (mkdir(model_dir, 0700) != 0 || mkdir(outside_dir, 0700) != 0)
        return -1;
    for (int i = 0; i < W_COUNT; i++)
        w_values[i] = (float)((i * 37) % 17 - 8) / 8.0f;
    return 0;
}

static int teardown_dirs(void **state)
{
    (void)state;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- loading and checking ---- */

typedef struct expect {
    unet_status status;
    const char *needles[6]; /* substrings the message must hold (NULL-terminated) */
} expect;

/* The needles are looked for with the model's path blanked out, so that a
 * word in a file name cannot stand in for the explanation. */
static void check_message(const char *what, const char *path, const char *msg, const expect *e)
{
    char rest[2048];
    snprintf(rest, sizeof rest, "%s", msg);
    char *at = strstr(rest, path);
    if (at)
        memset(at, '_', strlen(path));
    for (int i = 0; i < 6 && e->needles[i]; i++)
        if (!strstr(rest, e->needles[i]))
            fail_msg("%s: message lacks \"%s\": %s", what, e->needles[i], msg);
}

/* Loads bytes from path (written first) and from memory under the same name
 * with the same base folder: same status, same message, both as expected. */
static void expect_rejected(const char *file, const void *bytes, size_t size,
                            const unet_load_options *opts, const expect *e)
{
    char path[800];
    snprintf(path, sizeof path, "%s/%s", model_dir, file);
    write_file(path, bytes, size);

    unet_model *m = (unet_model *)0x1;
    unet_status s = unet_model_open_file(path, opts, &m);
    char file_msg[2048];
    snprintf(file_msg, sizeof file_msg, "%s", unet_last_error());
    if (s != e->status)
        fail_msg("%s from file: status %s (%d), expected %s (%d): %s", file, unet_status_name(s), s,
                 unet_status_name(e->status), e->status, file_msg);
    assert_null(m);
    if (!strstr(file_msg, path))
        fail_msg("%s from file: message does not name the file: %s", file, file_msg);
    check_message(file, path, file_msg, e);

    m = (unet_model *)0x1;
    s = unet_model_open_memory(bytes, size, path, model_dir, opts, &m);
    if (s != e->status)
        fail_msg("%s from memory: status %s (%d), expected %s (%d): %s", file, unet_status_name(s), s,
                 unet_status_name(e->status), e->status, unet_last_error());
    assert_null(m);
    assert_string_equal(unet_last_error(), file_msg);
    printf("  %-22s %-14s %s\n", file, unet_status_name(s), file_msg);
    unlink(path);
}

static void expect_rejected_model(const char *file, mb *b, const unet_load_options *opts,
                                  const expect *e)
{
    size_t size;
    uint8_t *bytes = mb_pack(b, &size);
    expect_rejected(file, bytes, size, opts, e);
    free(bytes);
    mb_free(b);
}

/* ---- the base model is valid (so each rejection below is due to its one defect) ---- */

static void test_base_model_loads_and_runs(void **state)
{
    (void)state;
    mb b;
    base_model bm;
    build_base(&b, &bm);
    size_t size;
    uint8_t *bytes = mb_pack(&b, &size);
    mb_free(&b);
    unet_model *m = NULL;
    if (unet_model_open_memory(bytes, size, "base.onnx", NULL, NULL, &m) != UNET_OK)
        fail_msg("base model: %s", unet_last_error());
    free(bytes);
    unet_session *s = NULL;
    assert_int_equal(unet_session_create(m, NULL, &s), UNET_OK);
    /* A one-hot input at (channel 1, 2, 2): each output is bias + one weight. */
    float x[50] = { 0 };
    x[25 + 2 * 5 + 2] = 1.0f;
    unet_tensor in = { UNET_DTYPE_FLOAT, 4, { 1, 2, 5, 5 }, x };
    if (unet_session_run(s, &in, 1) != UNET_OK)
        fail_msg("base model run: %s", unet_last_error());
    unet_tensor out;
    assert_int_equal(unet_session_output(s, 0, &out), UNET_OK);
    assert_int_equal(out.rank, 4);
    assert_int_equal(out.dims[1], 3);
    const float *z = out.data;
    for (int o = 0; o < 3; o++)
        for (int y = 0; y < 5; y++)
            for (int xx = 0; xx < 5; xx++) {
                int ky = 2 - y + 1, kx = 2 - xx + 1; /* input row = y + ky - 1 */
                float want = b_values[o];
                if (ky >= 0 && ky < 3 && kx >= 0 && kx < 3)
                    want += w_values[((o * 2 + 1) * 3 + ky) * 3 + kx];
                want = want > 0 ? want : 0;
                assert_float_equal(z[(o * 5 + y) * 5 + xx], want, 1e-6);
            }
    unet_session_free(s);
    unet_model_free(m);
}

/* ---- bytes that are not a model ---- */

static void test_truncated(void **state)
{
    (void)state;
    mb b;
    base_model bm;
    build_base(&b, &bm);
    size_t size;
    uint8_t *bytes = mb_pack(&b, &size);
    mb_free(&b);
    /* Every cut from memory: never a crash, never a model, always a message. */
    for (size_t cut = 0; cut < size; cut++) {
        unet_model *m = NULL;
        unet_status s = unet_model_open_memory(bytes, cut, "cut.onnx", model_dir, NULL, &m);
        if (s == UNET_OK || m)
            fail_msg("a model cut to %zu of %zu bytes loaded", cut, size);
        if (s != UNET_ERR_PARSE && s != UNET_ERR_INVALID && s != UNET_ERR_UNSUPPORTED)
            fail_msg("cut to %zu bytes: unexpected status %s: %s", cut, unet_status_name(s), unet_last_error());
        if (!strstr(unet_last_error(), "cut.onnx"))
            fail_msg("cut to %zu bytes: message does not name the model: %s", cut, unet_last_error());
    }
    /* A few cuts through files: a cut inside a field is a parse error. */
    size_t cuts[] = { 1, 7, size / 3, size / 2, size - 5, size - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        char file[64];
        snprintf(file, sizeof file, "cut%zu.onnx", cuts[i]);
        unet_model *m = NULL;
        char path[800];
        snprintf(path, sizeof path, "%s/%s", model_dir, file);
        write_file(path, bytes, cuts[i]);
        unet_status s = unet_model_open_file(path, NULL, &m);
        assert_null(m);
        assert_true(s == UNET_ERR_PARSE || s == UNET_ERR_INVALID || s == UNET_ERR_UNSUPPORTED);
        assert_non_null(strstr(unet_last_error(), path));
        unet_status s2 = unet_model_open_memory(bytes, cuts[i], path, model_dir, NULL, &m);
        assert_int_equal(s2, s);
        unlink(path);
    }
    /* The last byte belongs to the opset_import entry, the last field packed:
     * dropping it must be a parse error, not a model without an opset. */
    unet_model *m = NULL;
    assert_int_equal(unet_model_open_memory(bytes, size - 1, "cut.onnx", NULL, NULL, &m), UNET_ERR_PARSE);
    free(bytes);
}

static void test_empty_file(void **state)
{
    (void)state;
    expect e = { UNET_ERR_PARSE, { "empty" } };
    expect_rejected("empty.onnx", "", 0, NULL, &e);
}

static void test_garbage(void **state)
{
    (void)state;
    uint8_t junk[4096];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < sizeof junk; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        junk[i] = (uint8_t)(x >> 24);
    }
    expect e = { UNET_ERR_PARSE, { "not a valid ONNX" } };
    expect_rejected("garbage.onnx", junk, sizeof junk, NULL, &e);
    /* An image where a model is expected. */
    static const uint8_t png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                                   'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0 };
    expect_rejected("image.onnx", png, sizeof png, NULL, &e);
}

/* ---- inconsistent tensors ---- */

static void test_raw_data_length(void **state)
{
    (void)state;
    mb b;
    base_model bm;
    build_base(&b, &bm);
    bm.w->raw_data.len -= 4;
    expect e = { UNET_ERR_INVALID, { "'W'", "raw_data", "212", "216" } };
    expect_rejected_model("raw_len.onnx", &b, NULL, &e);
}

static void test_float_data_count(void **state)
{
    (void)state;
    mb b;
    base_model bm;
    build_base(&b, &bm);
    bm.bias->has_raw_data = 0;
    bm.bias->raw_data.len = 0;
    bm.bias->raw_data.data = NULL;
    bm.bias->float_data = mb_alloc(&b, 2 * sizeof(float));
    bm.bias->n_float_data = 2;
    expect e = { UNET_ERR_INVALID, { "'B'", "float_data", "2 values", "expected 3" } };
    expect_rejected_model("float_count.onnx", &b, NULL, &e);
}

static void test_negative_dim(void **state)
{
    (void)state;
    mb b;
    base_model bm;
    build_base(&b, &bm);
    bm.w->dims[2] = -3;
    expect e = { UNET_ERR_INVALID, { "'W'", "dimension 2", "negative", "-3" } };
    expect_rejected_model("negative.onnx", &b, NULL, &e);
}

static void test_element_count_overflow(void **state)
{
    (void)state;
    mb b;
    base_model bm;
    build_base(&b, &bm);
    bm.w->dims[0] = (int64_t)1 << 32;
    bm.w->dims[1] = (int64_t)1 << 32;
    expect e = { UNET_ERR_LIMIT, { "'W'", "overflow" } };
    expect_rejected_model("overflow.onnx", &b, NULL, &e);
}

static void test_element_cap(void **state)
{
    (void)state;
    mb b;
    base_model bm;
    build_base(&b, &bm);
    unet_load_options opts = { .max_tensor_elements = 50 };
    expect e = { UNET_ERR_LIMIT, { "'W'", "54 elements", "cap of 50" } };
    expect_rejected_model("cap.onnx", &b, &opts, &e);
    /* At the cap exactly it loads. */
    build_base(&b, &bm);
    size_t size;
    uint8_t *bytes = mb_pack(&b, &size);
    mb_free(&b);
    opts.max_tensor_elements = 54;
    unet_model *m = NULL;
    if (unet_model_open_memory(bytes, size, "cap.onnx", NULL, &opts, &m) != UNET_OK)
        fail_msg("at the cap: %s", unet_last_error());
    unet_model_free(m);
    free(bytes);
}

static void test_duplicate_initializer(void **state)
{
    (void)state;
    mb b;
    base_model bm;
    build_base(&b, &bm);
    mb_initializer(&b, "W", 4, W_DIMS, w_values);
    expect e = { UNET_ERR_INVALID, { "initializer 'W'", "twice" } };
    expect_rejected_model("dup_init.onnx", &b, NULL, &e);
}

/* ---- graph structure ---- */

static void test_unknown_op(void **state)
{
    (void)state;
    mb b;
    base_model bm;
    build_base(&b, &bm);
    bm.relu->op_type = mb_str(&b, "FancyOp");
    bm.relu->name = mb_str(&b, "mystery");
    expect e = { UNET_ERR_UNSUPPORTED, { "'mystery'", "FancyOp", "1 node(s)" } };
    expect_rejected_model("unknown_op.onnx", &b, NULL, &e);
}

static void test_two_unknown_ops(void **state)
{
    (void)state;
    mb b;
    base_model bm;
    build_base(&b, &bm);
    bm.relu->op_type = mb_str(&b, "FancyOp");
    bm.relu->name = mb_str(&b, "mystery_one");
    bm.conv->op_type = mb_str(&b, "OtherOp");
    bm.conv->name = mb_str(&b, "mystery_two");
    expect e = { UNET_ERR_UNSUPPORTED,
                 { "2 node(s)", "'mystery_one'", "FancyOp", "'mystery_two'", "OtherOp" } };
    expect_rejected_model("two_unknown.onnx", &b, NULL, &e);
}

static void test_input_never_produced(void **state)
{
    (void)state;
    mb b;
    base_model bm;
    build_base(&b, &bm);
    bm.relu->input[0] = mb_str(&b, "nowhere");
    expect e = { UNET_ERR_INVALID, { "'relu'", "'nowhere'", "not produced" } };
    expect_rejected_model("dangling.onnx", &b, NULL, &e);
}

static void test_two_producers(void **state)
{
    (void)state;
    mb b;
    base_model bm;
    build_base(&b, &bm);
    mb_node(&b, "Sigmoid", "second", "X", "Y");
    expect e = { UNET_ERR_INVALID, { "'second'", "'Y'", "'conv'" } };
    expect_rejected_model("two_producers.onnx", &b, NULL, &e);
}

static void test_cycle(void **state)
{
    (void)state;
    mb b;
    mb_init(&b, 13);
    const int64_t d[2] = { 2, 3 };
    mb_input(&b, "X", 2, d);
    mb_node(&b, "Add", "A", "X,b_out", "a_out");
    mb_node(&b, "Relu", "B", "a_out", "b_out");
    mb_output(&b, "a_out");
    expect e = { UNET_ERR_INVALID, { "cycle", "'A'", "'B'" } };
    expect_rejected_model("cycle.onnx", &b, NULL, &e);
}

static void test_output_not_produced(void **state)
{
    (void)state;
    mb b;
    base_model bm;
    build_base(&b, &bm);
    mb_output(&b, "ghost");
    expect e = { UNET_ERR_INVALID, { "graph output 'ghost'", "not produced" } };
    expect_rejected_model("ghost_output.onnx", &b, NULL, &e);
}

static void test_conv_kernel_shape_length(void **state)
{
    (void)state;
    mb b;
    base_model bm;
    build_base(&b, &bm);
    /* kernel_shape is the second attribute: give it one value for 2 spatial dims. */
    bm.conv->attribute[1]->n_ints = 1;
    expect e = { UNET_ERR_INVALID, { "'conv'", "Conv", "kernel_shape", "1 value", "expected 2" } };
    expect_rejected_model("kernel_shape.onnx", &b, NULL, &e);
}

static void test_default_domain_not_imported(void **state)
{
    (void)state;
    mb b;
    base_model bm;
    build_base(&b, &bm);
    /* Only a custom domain is imported, yet Conv and Relu are ai.onnx ops. */
    b.model.opset_import[0]->domain = mb_str(&b, "com.example");
    expect e = { UNET_ERR_UNSUPPORTED, { "'conv'", "'relu'", "ai.onnx", "not imported" } };
    expect_rejected_model("no_default_opset.onnx", &b, NULL, &e);
}

/* ---- external data ---- */

#define EXT_OFFSET 16

/* Writes the weights to dir/name after EXT_OFFSET bytes of junk. */
static void write_weights(const char *dir, const char *name)
{
    char path[800];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t buf[EXT_OFFSET + sizeof w_values];
    memset(buf, 0xAB, EXT_OFFSET);
    memcpy(buf + EXT_OFFSET, w_values, sizeof w_values);
    write_file(path, buf, sizeof buf);
}

static void set_external(mb *b, Onnx__TensorProto *t, const char *location, long offset, long length)
{
    t->has_raw_data = 0;
    t->raw_data.len = 0;
    t->raw_data.data = NULL;
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    t->external_data = mb_alloc(b, 3 * sizeof(void *));
    const char *keys[3] = { "location", "offset", "length" };
    char values[3][600];
    snprintf(values[0], sizeof values[0], "%s", location);
    snprintf(values[1], sizeof values[1], "%ld", offset);
    snprintf(values[2], sizeof values[2], "%ld", length);
    for (int i = 0; i < 3; i++) {
        if (i == 2 && length < 0)
            break;
        Onnx__StringStringEntryProto *e = mb_alloc(b, sizeof *e);
        onnx__string_string_entry_proto__init(e);
        e->key = mb_str(b, keys[i]);
        e->value = mb_str(b, values[i]);
        t->external_data[t->n_external_data++] = e;
    }
}

static void external_case(const char *file, const char *location, long offset, long length,
                          const expect *e)
{
    mb b;
    base_model bm;
    build_base(&b, &bm);
    set_external(&b, bm.w, location, offset, length);
    expect_rejected_model(file, &b, NULL, e);
}

static void test_external_absolute_path(void **state)
{
    (void)state;
    char abs[800];
    snprintf(abs, sizeof abs, "%s/weights.bin", model_dir);
    write_weights(model_dir, "weights.bin");
    /* Refused even though the file exists and is inside the folder. */
    expect e = { UNET_ERR_INVALID, { "'W'", abs, "absolute" } };
    external_case("ext_abs.onnx", abs, EXT_OFFSET, -1, &e);
}

static void test_external_dotdot(void **state)
{
    (void)state;
    write_weights(outside_dir, "secret.bin");
    expect e = { UNET_ERR_INVALID, { "'W'", "'../outside/secret.bin'", "'..'" } };
    external_case("ext_dotdot.onnx", "../outside/secret.bin", EXT_OFFSET, -1, &e);
    expect e2 = { UNET_ERR_INVALID, { "'W'", "'sub/../weights.bin'" } };
    external_case("ext_dotdot2.onnx", "sub/../weights.bin", EXT_OFFSET, -1, &e2);
}

static void test_external_symlink_outside(void **state)
{
    (void)state;
    write_weights(outside_dir, "secret.bin");
    char target[800], link[800];
    snprintf(target, sizeof target, "%s/secret.bin", outside_dir);
    snprintf(link, sizeof link, "%s/link.bin", model_dir);
    unlink(link);
    assert_int_equal(symlink(target, link), 0);
    expect e = { UNET_ERR_IO, { "'W'", "'link.bin'", "symlinks are refused" } };
    external_case("ext_symlink.onnx", "link.bin", EXT_OFFSET, -1, &e);
    /* A symlinked folder on the way is refused as well. */
    snprintf(link, sizeof link, "%s/subdir", model_dir);
    unlink(link);
    assert_int_equal(symlink(outside_dir, link), 0);
    expect e2 = { UNET_ERR_IO, { "'W'", "'subdir/secret.bin'", "'subdir' is a symbolic link", "symlinks are refused" } };
    external_case("ext_symlink_dir.onnx", "subdir/secret.bin", EXT_OFFSET, -1, &e2);
}

static void test_external_past_end(void **state)
{
    (void)state;
    write_weights(model_dir, "weights.bin");
    /* The file holds 16 + 216 bytes: offset 17 needs one byte more. */
    expect e = { UNET_ERR_INVALID, { "'W'", "'weights.bin'", "232 bytes", "offset 17", "past" } };
    external_case("ext_past_end.onnx", "weights.bin", EXT_OFFSET + 1, -1, &e);
    expect e2 = { UNET_ERR_INVALID, { "'W'", "length 200", "expected 216" } };
    external_case("ext_length.onnx", "weights.bin", EXT_OFFSET, 200, &e2);
    expect e3 = { UNET_ERR_IO, { "'W'", "'missing.bin'" } };
    external_case("ext_missing.onnx", "missing.bin", 0, -1, &e3);
}

/* The external weights are read: the output of a one-hot input is bias + weight. */
static void check_external_model_runs(unet_model *m)
{
    unet_session *s = NULL;
    assert_int_equal(unet_session_create(m, NULL, &s), UNET_OK);
    float x[50] = { 0 };
    x[2 * 5 + 2] = 1.0f; /* channel 0, centre */
    unet_tensor in = { UNET_DTYPE_FLOAT, 4, { 1, 2, 5, 5 }, x };
    if (unet_session_run(s, &in, 1) != UNET_OK)
        fail_msg("external model run: %s", unet_last_error());
    unet_tensor out;
    assert_int_equal(unet_session_output(s, 0, &out), UNET_OK);
    const float *z = out.data;
    for (int o = 0; o < 3; o++)
        for (int y = 1; y < 4; y++)
            for (int xx = 1; xx < 4; xx++) {
                float want = b_values[o] + w_values[((o * 2 + 0) * 3 + (3 - y)) * 3 + (3 - xx)];
                assert_float_equal(z[(o * 5 + y) * 5 + xx], want > 0 ? want : 0, 1e-6);
            }
    unet_session_free(s);
}

static void test_external_valid(void **state)
{
    (void)state;
    write_weights(model_dir, "weights.bin");
    char sub[800];
    snprintf(sub, sizeof sub, "%s/data", model_dir);
    mkdir(sub, 0700);
    write_weights(sub, "w.bin");
    const char *locations[2] = { "weights.bin", "data/w.bin" };
    for (int k = 0; k < 2; k++) {
        mb b;
        base_model bm;
        build_base(&b, &bm);
        set_external(&b, bm.w, locations[k], EXT_OFFSET, k ? (long)sizeof w_values : -1);
        size_t size;
        uint8_t *bytes = mb_pack(&b, &size);
        mb_free(&b);
        char path[800];
        snprintf(path, sizeof path, "%s/ext_ok.onnx", model_dir);
        write_file(path, bytes, size);

        unet_model *m = NULL;
        if (unet_model_open_file(path, NULL, &m) != UNET_OK)
            fail_msg("%s: %s", locations[k], unet_last_error());
        assert_int_equal(unet_model_parameter_count(m), W_COUNT + 3);
        check_external_model_runs(m);
        unet_model_free(m);
        m = NULL;
        if (unet_model_open_memory(bytes, size, path, model_dir, NULL, &m) != UNET_OK)
            fail_msg("%s from memory: %s", locations[k], unet_last_error());
        check_external_model_runs(m);
        unet_model_free(m);

        /* refuse_external_data refuses it, from a file and from memory. */
        unet_load_options opts = { .refuse_external_data = 1 };
        expect e = { UNET_ERR_UNSUPPORTED, { "'W'", "external data", "refuse" } };
        expect_rejected("ext_refused.onnx", bytes, size, &opts, &e);
        /* From memory without a base folder there is nowhere to read it from. */
        m = NULL;
        assert_int_equal(unet_model_open_memory(bytes, size, "mem.onnx", NULL, NULL, &m), UNET_ERR_UNSUPPORTED);
        assert_null(m);
        assert_non_null(strstr(unet_last_error(), "'W'"));
        assert_non_null(strstr(unet_last_error(), "mem.onnx"));
        assert_non_null(strstr(unet_last_error(), "base folder"));
        unlink(path);
        free(bytes);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_model_loads_and_runs),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_raw_data_length),
        cmocka_unit_test(test_float_data_count),
        cmocka_unit_test(test_negative_dim),
        cmocka_unit_test(test_element_count_overflow),
        cmocka_unit_test(test_element_cap),
        cmocka_unit_test(test_duplicate_initializer),
        cmocka_unit_test(test_unknown_op),
        cmocka_unit_test(test_two_unknown_ops),
        cmocka_unit_test(test_input_never_produced),
        cmocka_unit_test(test_two_producers),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_output_not_produced),
        cmocka_unit_test(test_conv_kernel_shape_length),
        cmocka_unit_test(test_default_domain_not_imported),
        cmocka_unit_test(test_external_absolute_path),
        cmocka_unit_test(test_external_dotdot),
        cmocka_unit_test(test_external_symlink_outside),
        cmocka_unit_test(test_external_past_end),
        cmocka_unit_test(test_external_valid),
    };
    return cmocka_run_group_tests(tests, setup_dirs, teardown_dirs);
}
