/* libFuzzer target: arbitrary bytes as an ONNX model. A model that loads is
 * also planned and run once on a small input shaped after its declared inputs,
 * so the importer, the passes, the planner and the kernels all see the bytes.
 * Any crash, sanitizer report or leak is a bug; a refusal with a status is not. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unet/unet.h>

/* Keep each run small: inputs and every tensor are capped, so a model that
 * merely asks for a lot of memory is refused by the library, not reported by
 * libFuzzer's malloc limit. */
#define MAX_INPUT_ELEMENTS 100000
#define MAX_TENSOR_ELEMENTS (1u << 22)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("OMP_NUM_THREADS", "1", 0);
    return 0;
}

/* A deterministic value from the input bytes, so a crash reproduces. */
static uint32_t hash_bytes(const uint8_t *d, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ d[i]) * 16777619u;
    return h;
}

/* Shapes input i after the model's declaration: fixed dims as declared,
 * symbolic or unknown dims 1..4. Returns 0 when the input cannot be fed
 * (not float, no rank, too large). */
static int shape_input(const unet_tensor_info *info, uint32_t seed, unet_tensor *t)
{
    if (info->dtype != UNET_DTYPE_FLOAT && info->dtype != UNET_DTYPE_UNDEFINED)
        return 0;
    if (info->rank < 0 || info->rank > UNET_MAX_RANK)
        return 0;
    memset(t, 0, sizeof *t);
    t->dtype = UNET_DTYPE_FLOAT;
    t->rank = info->rank;
    uint64_t numel = 1;
    for (int d = 0; d < info->rank; d++) {
        int64_t v = info->dims[d];
        if (v < 0) {
            v = 1 + (int64_t)(seed % 4);
            seed = seed / 4 + seed * 7 + 1;
        }
        t->dims[d] = v;
        if (v != 0 && numel > MAX_INPUT_ELEMENTS / (uint64_t)v)
            return 0;
        numel *= (uint64_t)v;
    }
    float *p = malloc((numel ? numel : 1) * sizeof *p);
    if (!p)
        return 0;
    for (uint64_t i = 0; i < numel; i++)
        p[i] = (float)((int)((i * 2654435761u + seed) % 17) - 8) * 0.25f;
    t->data = p;
    return 1;
}

static void run_once(const unet_model *m, uint32_t seed)
{
    int n = unet_model_input_count(m);
    if (n < 0 || n > 16)
        return;
    unet_tensor inputs[16];
    int ok = 1, made = 0;
    for (int i = 0; i < n && ok; i++) {
        unet_tensor_info info;
        ok = unet_model_input_info(m, i, &info) == UNET_OK && shape_input(&info, seed + (uint32_t)i, &inputs[i]);
        made += ok;
    }
    if (ok) {
        unet_session_options so = { .threads = 1, .max_cached_plans = 2 };
        unet_session *s = NULL;
        /* Plans whose activations exceed 16 MiB are built (that is what is
         * fuzzed) but not run: a tiny model can legally ask for a huge
         * upsampling, which is slow, not wrong, under ASan. */
        if (unet_session_create(m, &so, &s) == UNET_OK) {
            int small = unet_session_prepare(s, inputs, n) == UNET_OK && unet_session_arena_bytes(s) <= (16u << 20);
            if (small && unet_session_run(s, inputs, n) == UNET_OK) {
                for (int o = 0; o < unet_model_output_count(m); o++) {
                    unet_tensor out;
                    if (unet_session_output(s, o, &out) != UNET_OK || !out.data)
                        continue;
                    /* Touch the last byte: the whole output must be readable memory. */
                    size_t bytes = unet_dtype_size(out.dtype);
                    for (int d = 0; d < out.rank && d < UNET_MAX_RANK; d++)
                        bytes *= out.dims[d] > 0 ? (size_t)out.dims[d] : 0;
                    if (bytes) {
                        volatile uint8_t last = ((const uint8_t *)out.data)[bytes - 1];
                        (void)last;
                    }
                }
            }
            unet_session_free(s);
        }
    }
    for (int i = 0; i < made; i++)
        free(inputs[i].data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unet_load_options opts = { 1u << 20, MAX_TENSOR_ELEMENTS, 1 };
    unet_model *m = NULL;
    if (unet_model_open_memory(data, size, "fuzz.onnx", NULL, &opts, &m) != UNET_OK)
        return 0;
    /* The query API must be safe on whatever loaded. */
    for (int i = 0; i < unet_model_node_count(m); i++) {
        (void)unet_model_node_op(m, i);
        (void)unet_model_node_name(m, i);
    }
    for (int i = 0; i < unet_model_output_count(m); i++) {
        unet_tensor_info info;
        (void)unet_model_output_info(m, i, &info);
    }
    (void)unet_model_metadata(m, "unet.classes");
    (void)unet_model_parameter_count(m);
    run_once(m, hash_bytes(data, size));
    unet_model_free(m);
    return 0;
}
