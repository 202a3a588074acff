/* libunet: a lean ONNX runtime on oneDNN for segmentation models.
 *
 * Usage: open a model (file or memory), query its inputs and outputs, create a
 * session, run it. Every call returns a unet_status; on failure
 * unet_last_error() gives a message with context (file, node, op, tensor).
 *
 * Thread safety: a unet_model is immutable once opened and may be shared by
 * several sessions in several threads. A unet_session may be run from one
 * thread at a time. unet_last_error() is per thread.
 */
#ifndef UNET_UNET_H
#define UNET_UNET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UNET_VERSION_STRING "0.1.0"
#define UNET_MAX_RANK 8

typedef enum unet_status {
    UNET_OK = 0,
    UNET_ERR_IO = 1,          /* a file could not be read or written */
    UNET_ERR_PARSE = 2,       /* bytes are not a valid protobuf / image */
    UNET_ERR_INVALID = 3,     /* well-formed but inconsistent model or input */
    UNET_ERR_UNSUPPORTED = 4, /* valid ONNX outside the supported set */
    UNET_ERR_SHAPE = 5,       /* shapes do not agree */
    UNET_ERR_NOMEM = 6,       /* allocation failed */
    UNET_ERR_LIMIT = 7,       /* a configured cap was exceeded */
    UNET_ERR_BACKEND = 8,     /* oneDNN refused or failed */
    UNET_ERR_ARG = 9          /* bad argument to an API call */
} unet_status;

/* ONNX TensorProto.DataType values. */
typedef enum unet_dtype {
    UNET_DTYPE_UNDEFINED = 0,
    UNET_DTYPE_FLOAT = 1,
    UNET_DTYPE_UINT8 = 2,
    UNET_DTYPE_INT8 = 3,
    UNET_DTYPE_UINT16 = 4,
    UNET_DTYPE_INT16 = 5,
    UNET_DTYPE_INT32 = 6,
    UNET_DTYPE_INT64 = 7,
    UNET_DTYPE_STRING = 8,
    UNET_DTYPE_BOOL = 9,
    UNET_DTYPE_FLOAT16 = 10,
    UNET_DTYPE_DOUBLE = 11,
    UNET_DTYPE_UINT32 = 12,
    UNET_DTYPE_UINT64 = 13,
    UNET_DTYPE_BFLOAT16 = 16
} unet_dtype;

/* The last error message of the calling thread ("" when none). */
const char *unet_last_error(void);
const char *unet_status_name(unet_status s);
const char *unet_dtype_name(int dtype);
/* Size in bytes of one element, 0 for unsupported types. */
size_t unet_dtype_size(int dtype);

typedef struct unet_model unet_model;
typedef struct unet_session unet_session;

/* Caps applied while loading; 0 means the default. */
typedef struct unet_load_options {
    uint64_t max_model_bytes;     /* default 2 GiB */
    uint64_t max_tensor_elements; /* default 2^31 per tensor */
    int refuse_external_data;     /* 1: refuse external data; otherwise plain
                                     relative paths under the model's folder only */
} unet_load_options;

unet_status unet_model_open_file(const char *path, const unet_load_options *opts,
                                 unet_model **out);
/* name is used in messages; base_dir resolves external data (NULL: refuse it). */
unet_status unet_model_open_memory(const void *data, size_t size, const char *name,
                                   const char *base_dir, const unet_load_options *opts,
                                   unet_model **out);
void unet_model_free(unet_model *model);

typedef struct unet_tensor_info {
    const char *name;
    int dtype;              /* unet_dtype */
    int rank;               /* -1 when the model gives no shape */
    int64_t dims[UNET_MAX_RANK];         /* -1 for a symbolic or unknown dim */
    const char *dim_params[UNET_MAX_RANK]; /* symbol name or NULL */
} unet_tensor_info;

int unet_model_input_count(const unet_model *model);
int unet_model_output_count(const unet_model *model);
unet_status unet_model_input_info(const unet_model *model, int index, unet_tensor_info *info);
unet_status unet_model_output_info(const unet_model *model, int index, unet_tensor_info *info);
/* metadata_props value for key, NULL when absent. */
const char *unet_model_metadata(const unet_model *model, const char *key);
int unet_model_opset(const unet_model *model, const char *domain);
int unet_model_node_count(const unet_model *model);
/* Op type of node i (after import passes), for histograms and reports. */
const char *unet_model_node_op(const unet_model *model, int index);
const char *unet_model_node_name(const unet_model *model, int index);
/* Number of float parameters held in initializers. */
int64_t unet_model_parameter_count(const unet_model *model);

/* Arithmetic of a session's convolutions. fp32 runs everywhere. bf16 runs
 * where the CPU has AVX-512 BF16 (oneDNN's avx512_core_bf16): convolutions and
 * the layers between them (pooling, concat) in bf16 with f32 accumulation,
 * weights converted once per plan, and the convolutions that feed anything else
 * (the softmax head, graph outputs) write f32. Elsewhere bf16 is refused
 * (UNET_ERR_UNSUPPORTED naming what the CPU lacks). int8 is refused as a
 * session setting: it comes from the model (QDQ files, whose quantised
 * convolutions run as int8 convolutions where the CPU has VNNI, and also
 * without it where a Clip bounds the uint8 input to 0..127, as
 * unet-quantize --activation-bits 7 writes). */
typedef enum unet_precision {
    UNET_PRECISION_FP32 = 0,
    UNET_PRECISION_BF16 = 1,
    UNET_PRECISION_INT8 = 2
} unet_precision;

typedef struct unet_session_options {
    int threads;        /* 0: all cores */
    int max_cached_plans; /* 0: default 4 */
    int profile;        /* 1: time every step (slower) */
    unet_precision precision; /* 0 (zeroed options): fp32 */
    /* 0: fp32 3x3 convolutions with many channels (input x output channels
     * >= 2048) use oneDNN's Winograd F(4x4, 3x3) kernels where the CPU has
     * them (AVX-512), about twice as fast for those layers, with rounding
     * errors as small as the direct kernel's (test_winograd); 1: direct
     * convolutions only, as the trainer computes them. */
    int direct_convolutions;
} unet_session_options;

/* "fp32", "bf16", "int8" -> *out; UNET_ERR_ARG for other names. */
unet_status unet_precision_parse(const char *name, unet_precision *out);
/* UNET_OK when sessions of this precision run on this CPU, else
 * UNET_ERR_UNSUPPORTED with a message naming the instructions needed and the
 * CPU's (oneDNN's effective ISA). */
unet_status unet_precision_check(unet_precision precision);

/* The instruction set oneDNN dispatches kernels to in this process (its
 * effective CPU ISA: the CPU's best, or lower when the environment variable
 * ONEDNN_MAX_CPU_ISA caps it), as oneDNN's name and a gloss, e.g.
 * "avx512_core_bf16 (AVX-512 with BF16 and VNNI)" or "avx2 (AVX2)". A static
 * string, never NULL; prints nothing. */
const char *unet_cpu_isa(void);
/* The CPU's model name (the first "model name" of /proc/cpuinfo), or
 * "unknown CPU" where there is none, into buf (truncated to size); returns buf. */
const char *unet_cpu_model(char *buf, size_t size);

unet_status unet_session_create(const unet_model *model, const unet_session_options *opts,
                                unet_session **out);
void unet_session_free(unet_session *session);

/* A tensor passed to or returned from a run: dense, row-major. */
typedef struct unet_tensor {
    int dtype;
    int rank;
    int64_t dims[UNET_MAX_RANK];
    void *data;
} unet_tensor;

/* Runs the model. inputs[i] feeds model input i (n_inputs must equal the model's
 * input count). On success the outputs stay valid until the next run or free. */
unet_status unet_session_run(unet_session *session, const unet_tensor *inputs, int n_inputs);
unet_status unet_session_output(const unet_session *session, int index, unet_tensor *out);

/* Builds (and caches) the plan for these input shapes without running it:
 * oneDNN primitives are created here, so a first run is not slower. */
unet_status unet_session_prepare(unet_session *session, const unet_tensor *inputs, int n_inputs);
/* Analytic FLOPs (a multiply-add is 2) of convolutions in the plan used last. */
double unet_session_flops(const unet_session *session);

/* Profile of the last run when opts.profile was set: one line per step. */
int unet_session_profile_count(const unet_session *session);
unet_status unet_session_profile_entry(const unet_session *session, int index,
                                       const char **node_name, const char **op_type,
                                       const char **impl, double *milliseconds);
/* Bytes of the activation arena of the plan used by the last run (or, before
 * any run, of the plan made by unet_session_prepare). */
size_t unet_session_arena_bytes(const unet_session *session);

#ifdef __cplusplus
}
#endif
#endif
