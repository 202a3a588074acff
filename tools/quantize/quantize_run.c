/* One unet-quantize run: see quantize_run.h. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_signals.h"
#include "calib_stats.h"
#include "calib_tiles.h"
#include "calibrate.h"
#include "cli_message.h"
#include "fold_batchnorm.h"
#include "onnx_file.h"
#include "qdq_rewrite.h"
#include "quant_metadata.h"
#include "quant_params.h"
#include "quantize_run.h"

#define PROG "unet-quantize"

static const char *const method_names[] = { "minmax", "percentile", "entropy" };

int qz_method_parse(const char *name, qz_method *out)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(name, method_names[i]) == 0) {
            *out = (qz_method)i;
            return 0;
        }
    return -1;
}

const char *qz_method_name(qz_method m) { return method_names[m]; }

/* SIGINT, SIGTERM and SIGUSR1 end the calibration after the current image;
 * nothing is written then (exit 3). */
static volatile sig_atomic_t interrupted;

static void progress(void *ctx, int index, int total, const char *path, unet_status s)
{
    const qz_options *o = ctx;
    if (s != UNET_OK)
        cli_message(PROG, "error", "calibration image %d/%d: %s (left out)", index + 1, total, unet_last_error());
    else if (!o->quiet)
        cli_message(PROG, NULL, "calibration %d/%d: %s", index + 1, total, path);
}

/* The range method gives for tensor i (the image input: the full 8-bit
 * pixel range through unet.input, which calibration can only estimate). */
static int tensor_range(const qz_options *o, const qz_hist *h, int is_input, const unet_input_spec *in, int channels,
                        double *lo, double *hi)
{
    if (is_input) {
        *lo = 1e300;
        *hi = -1e300;
        for (int c = 0; c < channels && c < 4; c++) {
            double a = (0.0 * in->scale - in->mean[c]) / in->std[c], b = (255.0 * in->scale - in->mean[c]) / in->std[c];
            *lo = a < *lo ? a : *lo;
            *lo = b < *lo ? b : *lo;
            *hi = a > *hi ? a : *hi;
            *hi = b > *hi ? b : *hi;
        }
        return 0;
    }
    const int qmax = (1 << o->activation_bits) - 1;
    switch (o->method) {
    case QZ_MINMAX: return qz_range_minmax(h, lo, hi);
    case QZ_PERCENTILE: return qz_range_percentile(h, o->percentile, lo, hi);
    case QZ_ENTROPY: return qz_range_entropy(h, h->min < 0.0 ? qmax / 2 : qmax, lo, hi);
    }
    return -1;
}

static int input_channels(const Onnx__ModelProto *m, int nhwc)
{
    const Onnx__TypeProto__Tensor *tt = qz_graph_data_input(m->graph)->type->tensor_type;
    const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[nhwc ? 3 : 1];
    return d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value > 0 &&
                   d->dim_value <= 4 ? (int)d->dim_value : 4;
}

/* Calibration and the parameters of every planned tensor. */
static int choose_parameters(const qz_options *o, Onnx__ModelProto *m, const qz_plan *plan, const qz_tile_list *tiles,
                             float *scale, uint8_t *zero, float *clip_max, int *used)
{
    qz_hist *hists = malloc((size_t)plan->n_tensors * sizeof *hists);
    if (!hists) {
        cli_message(PROG, "error", "out of memory for %d histograms", plan->n_tensors);
        return 2;
    }
    for (int i = 0; i < plan->n_tensors; i++)
        qz_hist_init(&hists[i]);
    qz_calib_run run = { .model_name = o->model, .threads = o->threads, .progress = progress,
                         .progress_ctx = (void *)o, .stop = &interrupted };
    cli_catch_stop_signals(&interrupted, 0);
    unet_status s = qz_calibrate(m, tiles->paths, tiles->n, (const char *const *)plan->tensors, hists,
                                 plan->n_tensors, &run);
    int status = 0;
    if (s != UNET_OK) {
        cli_message(PROG, "error", "calibrating %s: %s", o->model, unet_last_error());
        status = 2;
    } else if (interrupted) {
        cli_message(PROG, "error", "interrupted after %d of %d calibration images; nothing written", run.used + run.failed, tiles->n);
        status = 3;
    } else if (run.used == 0) {
        cli_message(PROG, "error", "none of the %d calibration images of %s could be used; nothing written", tiles->n, o->tiles);
        status = 2;
    }
    const char *input = qz_graph_data_input(m->graph)->name;
    const int channels = input_channels(m, run.input.nhwc);
    for (int i = 0; status == 0 && i < plan->n_tensors; i++) {
        double lo, hi;
        int is_input = strcmp(plan->tensors[i], input) == 0;
        /* The image input keeps 8 bits: its 256 pixel values are then exact. */
        const int qmax = is_input ? 255 : (1 << o->activation_bits) - 1;
        if (tensor_range(o, &hists[i], is_input, &run.input, channels, &lo, &hi) != 0 ||
            qz_choose_activation(lo, hi, qmax, &scale[i], &zero[i]) != 0) {
            cli_message(PROG, "error", "tensor '%s' of %s: no usable range from %llu finite values (%llu not finite)",
                        plan->tensors[i], o->model, (unsigned long long)hists[i].count,
                        (unsigned long long)hists[i].nonfinite);
            status = 2;
        }
        /* Fewer bits: a Clip in front keeps every quantised value <= qmax
         * (QuantizeLinear itself saturates at 255 only). */
        clip_max[i] = qmax < 255 ? (float)((qmax - zero[i]) * (double)scale[i]) : INFINITY;
    }
    *used = run.used;
    free(hists);
    return status ? status : run.failed ? 1 : 0;
}

static int has_qdq(const Onnx__GraphProto *g)
{
    for (size_t i = 0; i < g->n_node; i++)
        if (strcmp(g->node[i]->op_type, "QuantizeLinear") == 0 || strcmp(g->node[i]->op_type, "DequantizeLinear") == 0)
            return 1;
    return 0;
}

/* The output's folder exists (checked before the calibration run, which
 * takes a while). */
static int out_folder_ok(const char *out)
{
    const char *slash = strrchr(out, '/');
    if (!slash)
        return 1;
    char dir[4096];
    size_t n = (size_t)(slash - out);
    if (n == 0)
        return 1;
    if (n >= sizeof dir)
        return 0;
    memcpy(dir, out, n);
    dir[n] = 0;
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

int qz_run(const qz_options *o)
{
    struct stat st;
    if (!o->force && stat(o->out, &st) == 0) {
        cli_message(PROG, "error", "%s exists; --force replaces it", o->out);
        return 2;
    }
    if (!out_folder_ok(o->out)) {
        cli_message(PROG, "error", "%s: its folder does not exist", o->out);
        return 2;
    }
    Onnx__ModelProto *m;
    if (qz_model_read(o->model, &m) != UNET_OK) {
        cli_message(PROG, "error", "%s", unet_last_error());
        return 2;
    }
    int folded = 0, status = 0, used = 0;
    qz_plan plan = { 0 };
    qz_tile_list tiles = { 0 };
    float *scale = NULL, *clip_max = NULL;
    uint8_t *zero = NULL;
    double weight_error = 0.0;
    unet_status s = qz_fold_batchnorm(m->graph, &folded);
    if (s == UNET_OK)
        s = qz_plan_make(m->graph, o->keep_float, o->n_keep_float, o->input_convs, &plan);
    if (s == UNET_OK && plan.n_convs == 0)
        s = unet_set_error(UNET_ERR_UNSUPPORTED, "no Conv of the model can be quantised (group 1 with float32 initializer weights of rank 4)%s",
                           has_qdq(m->graph) ? "; it holds QuantizeLinear/DequantizeLinear nodes already" : "");
    if (s == UNET_OK && qz_default_opset(m) < 13)
        s = unet_set_error(UNET_ERR_UNSUPPORTED, "the model imports operator set %lld; per-channel DequantizeLinear needs 13 or later",
                           (long long)qz_default_opset(m));
    if (s != UNET_OK) {
        cli_message(PROG, "error", "%s: %s", o->model, unet_last_error());
        status = 2;
    }
    if (status == 0 && qz_tiles_list(o->tiles, &tiles) != UNET_OK) {
        cli_message(PROG, "error", "%s", unet_last_error());
        status = 2;
    }
    if (status == 0) {
        qz_tiles_spread(&tiles, o->max_tiles);
        scale = malloc((size_t)plan.n_tensors * sizeof *scale);
        zero = malloc((size_t)plan.n_tensors);
        clip_max = malloc((size_t)plan.n_tensors * sizeof *clip_max);
        status = scale && zero && clip_max ? choose_parameters(o, m, &plan, &tiles, scale, zero, clip_max, &used) : 2;
    }
    if (status < 2 && qz_rewrite_qdq(m, &plan, scale, zero, clip_max, &weight_error) != UNET_OK) {
        cli_message(PROG, "error", "%s: %s", o->model, unet_last_error());
        status = 2;
    }
    if (status < 2) {
        qz_summary sm = { qz_method_name(o->method), o->percentile, o->tiles, used, o->activation_bits,
                          plan.n_convs - plan.n_conv_transposes, plan.n_conv_transposes, plan.convs_left_float,
                          folded, o->input_convs };
        char *json = qz_summary_json(&sm);
        s = json ? qz_metadata_set(m, "unet.quantization", json) : unet_set_error(UNET_ERR_NOMEM, "out of memory");
        if (s == UNET_OK)
            s = qz_model_write(o->out, m);
        if (s != UNET_OK) {
            cli_message(PROG, "error", "%s", unet_last_error());
            status = 2;
        } else if (!o->quiet) {
            cli_message(PROG, NULL, "wrote %s: %d Convs and %d ConvTransposes int8 (weights per channel, largest rounding error %.3g), "
                        "%d activations uint8 (%s, %d tiles), %d Conv/ConvTranspose left float32, %d BatchNormalization folded",
                        o->out, plan.n_convs - plan.n_conv_transposes, plan.n_conv_transposes, weight_error, plan.n_tensors,
                        qz_method_name(o->method), used, plan.convs_left_float, folded);
        }
        free(json);
    }
    free(scale);
    free(zero);
    free(clip_max);
    qz_tiles_free(&tiles);
    qz_plan_free(&plan);
    qz_model_free(m);
    return status;
}
