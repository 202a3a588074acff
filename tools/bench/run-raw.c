/* unet-run-raw: runs one ONNX model through libunet on an input read from a
 * raw little-endian float32 file and writes each output as raw float32, so
 * other runtimes (ONNX Runtime, PyTorch) can be compared with libunet byte
 * for byte on the same input. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <unet/unet.h>

#include "atomic_file.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: unet-run-raw [--threads N] MODEL INPUT.f32 DIMS OUT_PREFIX\n"
               "Runs MODEL on INPUT (raw little-endian float32 of shape DIMS, e.g. 2x3x64x64)\n"
               "and writes output K as OUT_PREFIX<K>.f32 (raw float32). Prints one line per\n"
               "output: K NAME DIMS.\n");
}

/* "2x3x64x64" -> dims; every dim in 1..2^20 and the product within 2^31. */
static int parse_dims(const char *s, unet_tensor *t)
{
    const char *p = s;
    uint64_t total = 1;
    t->rank = 0;
    for (;;) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 1 || v > (1 << 20) || t->rank >= UNET_MAX_RANK)
            return -1;
        t->dims[t->rank++] = v;
        total *= (uint64_t)v;
        if (total > ((uint64_t)1 << 31))
            return -1;
        if (*end == '\0')
            return 0;
        if (*end != 'x')
            return -1;
        p = end + 1;
    }
}

static float *read_input(const char *path, size_t count)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "unet-run-raw: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || (uint64_t)st.st_size != (uint64_t)count * sizeof(float)) {
        fprintf(stderr, "unet-run-raw: %s: holds %lld bytes, the shape needs %zu\n", path,
                (long long)st.st_size, count * sizeof(float));
        fclose(f);
        return NULL;
    }
    float *x = malloc(count * sizeof *x);
    if (!x || fread(x, sizeof *x, count, f) != count) {
        fprintf(stderr, "unet-run-raw: %s: %s\n", path, x ? "short read" : "out of memory");
        free(x);
        x = NULL;
    }
    fclose(f);
    return x;
}

static int write_outputs(const unet_model *m, const unet_session *s, const char *prefix)
{
    for (int k = 0; k < unet_model_output_count(m); k++) {
        unet_tensor out;
        unet_tensor_info info;
        if (unet_session_output(s, k, &out) != UNET_OK || unet_model_output_info(m, k, &info) != UNET_OK) {
            fprintf(stderr, "unet-run-raw: %s\n", unet_last_error());
            return -1;
        }
        if (out.dtype != UNET_DTYPE_FLOAT) {
            fprintf(stderr, "unet-run-raw: output %d (%s) is %s, only float is written\n", k,
                    info.name, unet_dtype_name(out.dtype));
            return -1;
        }
        size_t count = 1;
        printf("%d %s ", k, info.name);
        for (int i = 0; i < out.rank; i++) {
            count *= (size_t)out.dims[i];
            printf("%s%lld", i ? "x" : "", (long long)out.dims[i]);
        }
        printf("\n");
        char path[4096];
        if (snprintf(path, sizeof path, "%s%d.f32", prefix, k) >= (int)sizeof path) {
            fprintf(stderr, "unet-run-raw: output prefix too long\n");
            return -1;
        }
        if (atomic_file_write_all(path, out.data, count * sizeof(float)) != UNET_OK) {
            fprintf(stderr, "unet-run-raw: %s\n", unet_last_error());
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 0;
    static const struct option longopts[] = {
        { "threads", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 't': threads = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 4 || threads < 0) {
        usage(stderr);
        return 2;
    }
    const char *model_path = argv[optind], *input_path = argv[optind + 1];
    const char *prefix = argv[optind + 3];
    unet_tensor in = { UNET_DTYPE_FLOAT, 0, { 0 }, NULL };
    if (parse_dims(argv[optind + 2], &in) != 0) {
        fprintf(stderr, "unet-run-raw: bad DIMS '%s' (expected e.g. 2x3x64x64)\n", argv[optind + 2]);
        return 2;
    }
    size_t count = 1;
    for (int i = 0; i < in.rank; i++)
        count *= (size_t)in.dims[i];
    in.data = read_input(input_path, count);
    if (!in.data)
        return 2;
    unet_model *m = NULL;
    unet_session *s = NULL;
    unet_session_options so = { .threads = threads };
    int rc = 0;
    if (unet_model_open_file(model_path, NULL, &m) != UNET_OK || unet_session_create(m, &so, &s) != UNET_OK) {
        fprintf(stderr, "unet-run-raw: %s\n", unet_last_error());
        rc = 2;
    } else if (unet_model_input_count(m) != 1) {
        fprintf(stderr, "unet-run-raw: %s has %d inputs, this tool feeds exactly 1\n", model_path,
                unet_model_input_count(m));
        rc = 2;
    } else if (unet_session_run(s, &in, 1) != UNET_OK) {
        fprintf(stderr, "unet-run-raw: %s\n", unet_last_error());
        rc = 1;
    } else if (write_outputs(m, s, prefix) != 0) {
        rc = 1;
    }
    unet_session_free(s);
    unet_model_free(m);
    free(in.data);
    return rc;
}
