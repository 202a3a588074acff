/* Limits: hostile sizes are refused cleanly (a status and a message that says
 * what and how much) before anything of that size is allocated, the caps are
 * configurable, and very deep graphs load, plan and run without recursion.
 * Models are written with the raw protobuf writer (tests/pb_writer.h) so that
 * they can declare what no honest encoder would; images are real files whose
 * headers are then patched to declare enormous sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jpeglib.h>

#include <unet/image.h>
#include <unet/unet.h>

#include "pb_writer.h"

/* ---- helpers ---- */

static void assert_refused(unet_status got, unet_status want, const char *needle)
{
    const char *msg = unet_last_error();
    if (got != want || !strstr(msg, needle)) {
        fprintf(stderr, "expected %s containing \"%s\", got %s: %s\n", unet_status_name(want), needle,
                unet_status_name(got), msg);
        fail();
    }
}

static unet_status open_pb(const pb *model, const unet_load_options *opts, unet_model **m)
{
    return unet_model_open_memory(model->data, model->len, "limits.onnx", NULL, opts, m);
}

/* x -> Relu -> y with x declared as given, for input-declaration tests. */
static void relu_model(pb *model, int rank, const int64_t *dims)
{
    pb graph = { 0 };
    pb_node(&graph, "Relu", "x", "y", NULL);
    pb_value_info(&graph, 11, "x", 1, rank, dims);
    pb_value_info(&graph, 12, "y", 1, -1, NULL);
    pb_model(model, 13, &graph);
}

/* An initializer "w" (float unless dtype says otherwise) with the given dims
 * and raw_data of raw_len bytes, feeding an Add with the graph input. */
static void initializer_model(pb *model, int dtype, int rank, const int64_t *dims, size_t raw_len)
{
    pb graph = { 0 }, t = { 0 };
    for (int d = 0; d < rank; d++)
        pb_int(&t, 1, dims[d]);
    pb_int(&t, 2, dtype);
    pb_str(&t, 8, "w");
    uint8_t *raw = calloc(raw_len ? raw_len : 1, 1);
    assert_non_null(raw);
    pb_bytes(&t, 9, raw, raw_len);
    free(raw);
    pb_msg(&graph, 5, &t);
    pb gnode = { 0 };
    pb_str(&gnode, 1, "x");
    pb_str(&gnode, 1, "w");
    pb_str(&gnode, 2, "y");
    pb_str(&gnode, 4, "Add");
    pb_msg(&graph, 1, &gnode);
    int64_t one = 1;
    pb_value_info(&graph, 11, "x", 1, 1, &one);
    pb_value_info(&graph, 12, "y", 1, -1, NULL);
    pb_model(model, 13, &graph);
}

/* ---- absurd dims ---- */

static void test_negative_input_dim(void **state)
{
    (void)state;
    int64_t dims[2] = { 1, -5 };
    pb model = { 0 };
    relu_model(&model, 2, dims);
    unet_model *m = NULL;
    assert_refused(open_pb(&model, NULL, &m), UNET_ERR_INVALID, "dimension 1 is negative (-5)");
    assert_null(m);
    pb_free(&model);
}

static void test_negative_initializer_dim(void **state)
{
    (void)state;
    int64_t dims[2] = { 3, INT64_MIN };
    pb model = { 0 };
    initializer_model(&model, 1, 2, dims, 12);
    unet_model *m = NULL;
    assert_refused(open_pb(&model, NULL, &m), UNET_ERR_INVALID, "tensor 'w': dimension 1 is negative");
    pb_free(&model);
}

static void test_element_count_overflows_64_bits(void **state)
{
    (void)state;
    int64_t dims[3] = { (int64_t)1 << 32, (int64_t)1 << 32, 16 };
    pb model = { 0 };
    initializer_model(&model, 1, 3, dims, 4);
    unet_model *m = NULL;
    assert_refused(open_pb(&model, NULL, &m), UNET_ERR_LIMIT, "element count overflows 64 bits");
    pb_free(&model);
}

static void test_rank_beyond_supported(void **state)
{
    (void)state;
    int64_t dims[12] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    pb model = { 0 };
    relu_model(&model, 12, dims);
    unet_model *m = NULL;
    assert_refused(open_pb(&model, NULL, &m), UNET_ERR_UNSUPPORTED, "has rank 12, more than the supported 8");
    pb_free(&model);
}

/* ---- enormous declared tensors ---- */

/* 2^40 floats declared, 16 bytes present: the default cap (2^31 elements)
 * refuses it before any allocation. */
static void test_raw_data_claims_a_terabyte(void **state)
{
    (void)state;
    int64_t dims[2] = { (int64_t)1 << 20, (int64_t)1 << 20 };
    pb model = { 0 };
    initializer_model(&model, 1, 2, dims, 16);
    unet_model *m = NULL;
    assert_refused(open_pb(&model, NULL, &m), UNET_ERR_LIMIT, "tensor 'w': 1099511627776 elements exceed the cap of 2147483648");
    pb_free(&model);
}

/* Under the cap, the claim is still checked against the bytes present before
 * the 4 GiB buffer would be allocated. */
static void test_raw_data_shorter_than_claimed(void **state)
{
    (void)state;
    int64_t dims[1] = { (int64_t)1 << 30 };
    pb model = { 0 };
    initializer_model(&model, 1, 1, dims, 8);
    unet_model *m = NULL;
    assert_refused(open_pb(&model, NULL, &m), UNET_ERR_INVALID, "raw_data has 8 bytes, expected 4294967296");
    pb_free(&model);
}

/* A caller that lifts the element cap must still not get a wrapped byte
 * count: 2^61 int64 elements are 2^64 bytes, which wrapped to 0 and matched
 * an empty raw_data before the check was added. */
static void test_byte_count_wrap_with_cap_lifted(void **state)
{
    (void)state;
    int64_t dims[1] = { (int64_t)1 << 61 };
    pb model = { 0 };
    initializer_model(&model, 7, 1, dims, 0);
    unet_load_options opts = { 0, UINT64_MAX, 1 };
    unet_model *m = NULL;
    assert_refused(open_pb(&model, &opts, &m), UNET_ERR_LIMIT, "do not fit in memory");
    pb_free(&model);
}

static void test_tensor_cap_is_configurable(void **state)
{
    (void)state;
    int64_t dims[1] = { 1000 };
    pb model = { 0 };
    initializer_model(&model, 1, 1, dims, 4000);
    unet_load_options tight = { 0, 999, 1 };
    unet_model *m = NULL;
    assert_refused(open_pb(&model, &tight, &m), UNET_ERR_LIMIT, "1000 elements exceed the cap of 999");
    unet_load_options enough = { 0, 1000, 1 };
    assert_int_equal(open_pb(&model, &enough, &m), UNET_OK);
    unet_model_free(m);
    pb_free(&model);
}

/* The element cap also holds for tensors a plan creates: a 30-byte Expand
 * asking for 10^10 elements is refused when the plan is built. */
static void test_intermediate_tensor_cap(void **state)
{
    (void)state;
    pb graph = { 0 }, t = { 0 }, node = { 0 };
    int64_t shape[2] = { 100000, 100000 };
    pb_int(&t, 1, 2);
    pb_int(&t, 2, 7);
    pb_str(&t, 8, "shape");
    pb_bytes(&t, 9, shape, sizeof shape);
    pb_msg(&graph, 5, &t);
    pb_str(&node, 1, "x");
    pb_str(&node, 1, "shape");
    pb_str(&node, 2, "y");
    pb_str(&node, 4, "Expand");
    pb_msg(&graph, 1, &node);
    int64_t one[2] = { 1, 1 };
    pb_value_info(&graph, 11, "x", 1, 2, one);
    pb_value_info(&graph, 12, "y", 1, -1, NULL);
    pb model = { 0 };
    pb_model(&model, 13, &graph);
    unet_model *m = NULL;
    assert_int_equal(open_pb(&model, NULL, &m), UNET_OK);
    unet_session *s = NULL;
    assert_int_equal(unet_session_create(m, NULL, &s), UNET_OK);
    float x = 1.0f;
    unet_tensor in = { UNET_DTYPE_FLOAT, 2, { 1, 1 }, &x };
    assert_refused(unet_session_run(s, &in, 1), UNET_ERR_LIMIT, "10000000000 elements exceeds the cap of 2147483648");
    unet_session_free(s);
    unet_model_free(m);
    pb_free(&model);
}

static void test_model_bytes_cap(void **state)
{
    (void)state;
    int64_t dims[2] = { 1, 4 };
    pb model = { 0 };
    relu_model(&model, 2, dims);
    unet_load_options opts = { model.len - 1, 0, 1 };
    unet_model *m = NULL;
    char want[128];
    snprintf(want, sizeof want, "%zu bytes exceed the model size cap of %zu", model.len, model.len - 1);
    assert_refused(open_pb(&model, &opts, &m), UNET_ERR_LIMIT, want);
    /* The file API checks the size before reading the file. */
    char path[] = "/tmp/unet-limits-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, model.data, model.len), (ssize_t)model.len);
    close(fd);
    assert_refused(unet_model_open_file(path, &opts, &m), UNET_ERR_LIMIT, "exceed the model size cap");
    opts.max_model_bytes = model.len;
    assert_int_equal(unet_model_open_file(path, &opts, &m), UNET_OK);
    unet_model_free(m);
    unlink(path);
    pb_free(&model);
}

/* ---- protobuf-c's own allocations ---- */

/* 1.5 million empty NodeProto entries: 3 MB of file that protobuf-c would
 * unpack into ~170 MB of structures. The counting allocator refuses at
 * 8 x file size + 64 MiB and the load fails with a limit, not an abort. */
static void test_repeated_field_allocation_cap(void **state)
{
    (void)state;
    pb graph = { 0 };
    static const uint8_t empty_node[2] = { 0x0a, 0x00 }; /* field 1, length 0 */
    for (int i = 0; i < 1500000; i++)
        pb_raw(&graph, empty_node, sizeof empty_node);
    pb model = { 0 };
    pb_model(&model, 13, &graph);
    unet_model *m = NULL;
    assert_refused(open_pb(&model, NULL, &m), UNET_ERR_LIMIT, "decoding needs more memory than the cap");
    pb_free(&model);
}

/* A length prefix claiming far more bytes than the file holds is a parse
 * error, not an allocation of that size. */
static void test_length_prefix_beyond_file(void **state)
{
    (void)state;
    pb model = { 0 };
    pb_int(&model, 1, 8);
    pb_key(&model, 7, 2);
    pb_varint(&model, (uint64_t)1 << 40);
    pb_raw(&model, "\x0a\x00", 2);
    unet_model *m = NULL;
    assert_refused(open_pb(&model, NULL, &m), UNET_ERR_PARSE, "not a valid ONNX protobuf");
    pb_free(&model);
}

/* ---- huge attribute lists ---- */

static void test_too_many_attributes(void **state)
{
    (void)state;
    pb attrs = { 0 };
    for (int i = 0; i < 100000; i++) {
        pb a = { 0 };
        char name[32];
        snprintf(name, sizeof name, "a%d", i);
        pb_str(&a, 1, name);
        pb_int(&a, 3, i);
        pb_int(&a, 20, 2);
        pb_msg(&attrs, 5, &a);
    }
    pb graph = { 0 };
    pb_node(&graph, "Relu", "x", "y", &attrs);
    int64_t dims[1] = { 4 };
    pb_value_info(&graph, 11, "x", 1, 1, dims);
    pb_value_info(&graph, 12, "y", 1, -1, NULL);
    pb model = { 0 };
    pb_model(&model, 13, &graph);
    unet_model *m = NULL;
    assert_refused(open_pb(&model, NULL, &m), UNET_ERR_LIMIT, "has 100000 attributes, more than the limit of 256");
    pb_free(&model);
}

/* One INTS attribute of a million entries (an unused one on a Relu): it loads
 * and the model still runs; nothing is quadratic in the list's length. */
static void test_huge_ints_attribute(void **state)
{
    (void)state;
    pb attrs = { 0 }, a = { 0 }, packed = { 0 };
    for (int i = 0; i < 1000000; i++)
        pb_varint(&packed, (uint64_t)i);
    pb_str(&a, 1, "unused_ints");
    pb_bytes(&a, 8, packed.data, packed.len);
    pb_free(&packed);
    pb_int(&a, 20, 7);
    pb_msg(&attrs, 5, &a);
    pb graph = { 0 };
    pb_node(&graph, "Relu", "x", "y", &attrs);
    int64_t dims[1] = { 4 };
    pb_value_info(&graph, 11, "x", 1, 1, dims);
    pb_value_info(&graph, 12, "y", 1, -1, NULL);
    pb model = { 0 };
    pb_model(&model, 13, &graph);
    unet_model *m = NULL;
    assert_int_equal(open_pb(&model, NULL, &m), UNET_OK);
    unet_session *s = NULL;
    assert_int_equal(unet_session_create(m, NULL, &s), UNET_OK);
    float x[4] = { -1.0f, 2.0f, -3.0f, 4.0f };
    unet_tensor in = { UNET_DTYPE_FLOAT, 1, { 4 }, x };
    assert_int_equal(unet_session_run(s, &in, 1), UNET_OK);
    unet_tensor out;
    assert_int_equal(unet_session_output(s, 0, &out), UNET_OK);
    const float *y = out.data;
    assert_true(y[0] == 0.0f && y[1] == 2.0f && y[2] == 0.0f && y[3] == 4.0f);
    unet_session_free(s);
    unet_model_free(m);
    pb_free(&model);
}

/* ---- deep graphs ---- */

/* A chain of 50,000 Relu nodes: import (topological sort), passes, planning
 * and execution are all iterative, so it loads and runs within the default
 * 8 MiB stack, and gives max(x, 0) like one Relu. */
#define DEEP_NODES 50000

static void test_deep_chain(void **state)
{
    (void)state;
    pb graph = { 0 };
    char in[32], out[32];
    for (int i = 0; i < DEEP_NODES; i++) {
        snprintf(in, sizeof in, i ? "v%d" : "x", i);
        snprintf(out, sizeof out, i == DEEP_NODES - 1 ? "y" : "v%d", i + 1);
        pb_node(&graph, "Relu", in, out, NULL);
    }
    int64_t dims[2] = { 1, 8 };
    pb_value_info(&graph, 11, "x", 1, 2, dims);
    pb_value_info(&graph, 12, "y", 1, -1, NULL);
    pb model = { 0 };
    pb_model(&model, 13, &graph);
    unet_model *m = NULL;
    assert_int_equal(open_pb(&model, NULL, &m), UNET_OK);
    assert_int_equal(unet_model_node_count(m), DEEP_NODES);
    unet_session *s = NULL;
    unet_session_options so = { .threads = 1, .max_cached_plans = 1 };
    assert_int_equal(unet_session_create(m, &so, &s), UNET_OK);
    float x[8] = { -2.0f, -1.0f, -0.5f, 0.0f, 0.25f, 1.0f, 3.0f, 7.0f };
    unet_tensor tin = { UNET_DTYPE_FLOAT, 2, { 1, 8 }, x };
    unet_status st = unet_session_run(s, &tin, 1);
    if (st != UNET_OK)
        fprintf(stderr, "deep chain: %s\n", unet_last_error());
    assert_int_equal(st, UNET_OK);
    unet_tensor tout;
    assert_int_equal(unet_session_output(s, 0, &tout), UNET_OK);
    assert_int_equal(tout.rank, 2);
    assert_int_equal(tout.dims[1], 8);
    const float *y = tout.data;
    for (int k = 0; k < 8; k++)
        assert_true(y[k] == (x[k] > 0.0f ? x[k] : 0.0f));
    unet_session_free(s);
    unet_model_free(m);
    pb_free(&model);
}

/* ---- images of enormous declared size ---- */

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint8_t *read_whole(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *buf = malloc(1 << 20);
    assert_non_null(buf);
    *size = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

/* A real 16x16 RGB PNG whose IHDR then declares width x height (CRC fixed,
 * so only the size is wrong). */
static uint8_t *png_declaring(uint32_t width, uint32_t height, size_t *size)
{
    char path[] = "/tmp/unet-limits-png-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    uint8_t px[16 * 16 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 7);
    unet_image img = { 16, 16, 3, px };
    assert_int_equal(unet_png_write(path, &img, NULL, 0), UNET_OK);
    uint8_t *buf = read_whole(path, size);
    unlink(path);
    assert_memory_equal(buf + 12, "IHDR", 4);
    put_be32(buf + 16, width);
    put_be32(buf + 20, height);
    put_be32(buf + 29, crc32_of(buf + 12, 17));
    return buf;
}

static void test_png_enormous_declared_size(void **state)
{
    (void)state;
    size_t size;
    uint8_t *buf = png_declaring(100000, 100000, &size);
    unet_image img;
    assert_refused(unet_image_read_memory(buf, size, "huge.png", 0, &img), UNET_ERR_LIMIT,
                   "huge.png: image is 100000x100000 pixels, more than the limit of 268435456 pixels");
    assert_null(img.pixels);
    /* A side beyond 2^31-1 cannot even be held in unet_image. */
    free(buf);
    buf = png_declaring(0x7fffffffu, 1, &size);
    assert_refused(unet_image_read_memory(buf, size, "wide.png", 0, &img), UNET_ERR_LIMIT, "more than the limit");
    free(buf);
}

/* A real 16x16 JPEG whose SOF0 then declares width x height. */
static uint8_t *jpeg_declaring(unsigned width, unsigned height, size_t *size)
{
    uint8_t px[16 * 16 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 5);
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err);
    jpeg_create_compress(&ci);
    unsigned char *out = NULL;
    unsigned long out_size = 0;
    jpeg_mem_dest(&ci, &out, &out_size);
    ci.image_width = 16;
    ci.image_height = 16;
    ci.input_components = 3;
    ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < 16) {
        JSAMPROW row = px + ci.next_scanline * 16 * 3;
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    size_t i = 2;
    while (i + 9 < out_size && !(out[i] == 0xff && out[i + 1] == 0xc0))
        i++;
    assert_true(i + 9 < out_size);
    out[i + 5] = (uint8_t)(height >> 8);
    out[i + 6] = (uint8_t)height;
    out[i + 7] = (uint8_t)(width >> 8);
    out[i + 8] = (uint8_t)width;
    *size = out_size;
    return out;
}

static void test_jpeg_enormous_declared_size(void **state)
{
    (void)state;
    size_t size;
    uint8_t *buf = jpeg_declaring(65000, 65000, &size);
    unet_image img;
    assert_refused(unet_image_read_memory(buf, size, "huge.jpg", 0, &img), UNET_ERR_LIMIT,
                   "huge.jpg: image is 65000x65000 pixels, more than the limit of 268435456 pixels");
    assert_null(img.pixels);
    free(buf);
}

static void test_pixel_cap_is_configurable(void **state)
{
    (void)state;
    size_t size;
    uint8_t *png = png_declaring(16, 16, &size);
    unet_image img;
    unet_image_set_max_pixels(255);
    assert_refused(unet_image_read_memory(png, size, "tile.png", 0, &img), UNET_ERR_LIMIT,
                   "tile.png: image is 16x16 pixels, more than the limit of 255 pixels");
    unet_image_set_max_pixels(256);
    assert_int_equal(unet_image_read_memory(png, size, "tile.png", 0, &img), UNET_OK);
    assert_int_equal(img.width * img.height, 256);
    unet_image_free(&img);
    size_t jsize;
    uint8_t *jpg = jpeg_declaring(16, 16, &jsize);
    unet_image_set_max_pixels(255);
    assert_refused(unet_image_read_memory(jpg, jsize, "tile.jpg", 0, &img), UNET_ERR_LIMIT, "more than the limit of 255 pixels");
    unet_image_set_max_pixels(0); /* back to the default */
    assert_true(unet_image_max_pixels() == (uint64_t)1 << 28);
    assert_int_equal(unet_image_read_memory(jpg, jsize, "tile.jpg", 0, &img), UNET_OK);
    unet_image_free(&img);
    free(png);
    free(jpg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negative_input_dim),
        cmocka_unit_test(test_negative_initializer_dim),
        cmocka_unit_test(test_element_count_overflows_64_bits),
        cmocka_unit_test(test_rank_beyond_supported),
        cmocka_unit_test(test_raw_data_claims_a_terabyte),
        cmocka_unit_test(test_raw_data_shorter_than_claimed),
        cmocka_unit_test(test_byte_count_wrap_with_cap_lifted),
        cmocka_unit_test(test_tensor_cap_is_configurable),
        cmocka_unit_test(test_intermediate_tensor_cap),
        cmocka_unit_test(test_model_bytes_cap),
        cmocka_unit_test(test_repeated_field_allocation_cap),
        cmocka_unit_test(test_length_prefix_beyond_file),
        cmocka_unit_test(test_too_many_attributes),
        cmocka_unit_test(test_huge_ints_attribute),
        cmocka_unit_test(test_deep_chain),
        cmocka_unit_test(test_png_enormous_declared_size),
        cmocka_unit_test(test_jpeg_enormous_declared_size),
        cmocka_unit_test(test_pixel_cap_is_configurable),
    };
    /* UNET_TEST_FILTER=test_deep_chain runs one test (cmocka glob). */
    if (getenv("UNET_TEST_FILTER"))
        cmocka_set_test_filter(getenv("UNET_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
