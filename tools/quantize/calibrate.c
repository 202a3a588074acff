/* The calibration run: see calibrate.h. */
#include <stdlib.h>
#include <string.h>

#include <unet/image.h>
#include <unet/meta.h>

#include "calibrate.h"
#include "error.h"
#include "onnx_edit.h"
#include "onnx_file.h"

/* The model with names appended to its graph outputs (untyped: libunet takes
 * the type from the producer), packed and opened by libunet; the graph is
 * restored before returning. */
static unet_status open_with_outputs(Onnx__ModelProto *model, const char *const *names, int n,
                                     const char *input_name, const char *model_name, unet_model **out)
{
    Onnx__GraphProto *g = model->graph;
    size_t n_before = g->n_output;
    unet_status s = UNET_OK;
    for (int i = 0; i < n && s == UNET_OK; i++) {
        if (strcmp(names[i], input_name) == 0 || qz_is_graph_output(g, names[i]))
            continue;
        Onnx__ValueInfoProto *vi = malloc(sizeof *vi);
        if (vi) {
            onnx__value_info_proto__init(vi);
            vi->name = qz_strdup(names[i]);
        }
        if (!vi || !vi->name || qz_append((void ***)&g->output, &g->n_output, vi) != 0) {
            if (vi)
                onnx__value_info_proto__free_unpacked(vi, NULL);
            s = unet_set_error(UNET_ERR_NOMEM, "out of memory adding calibration outputs");
        }
    }
    uint8_t *data = NULL;
    size_t size = 0;
    if (s == UNET_OK)
        s = qz_model_pack(model, &data, &size);
    for (size_t i = n_before; i < g->n_output; i++)
        onnx__value_info_proto__free_unpacked(g->output[i], NULL);
    g->n_output = n_before;
    if (s == UNET_OK) {
        s = unet_model_open_memory(data, size, model_name, NULL, NULL, out);
        if (s != UNET_OK)
            s = unet_wrap_error(s, "%s with the calibration outputs added", model_name);
    }
    free(data);
    return s;
}

/* The image as the model's input tensor (1 x C x H x W or 1 x H x W x C):
 * (v * scale - mean[c]) / std[c]; an image with fewer channels than the
 * model feeds every channel from its first. */
static unet_status image_tensor(const char *path, const unet_tensor_info *in, const unet_model_meta *meta,
                                unet_tensor *t)
{
    unet_image img;
    UNET_TRY(unet_image_read(path, UNET_IMAGE_DEFAULT, &img));
    const int nhwc = meta->input.nhwc;
    const int64_t want_c = in->dims[nhwc ? 3 : 1];
    const int64_t want_h = in->dims[nhwc ? 1 : 2], want_w = in->dims[nhwc ? 2 : 3];
    unet_status s = UNET_OK;
    if (want_c < 1 || want_c > 4)
        s = unet_set_error(UNET_ERR_UNSUPPORTED, "input '%s' has %lld channels; 1 to 4 are supported", in->name, (long long)want_c);
    else if ((want_h > 0 && want_h != img.height) || (want_w > 0 && want_w != img.width))
        s = unet_set_error(UNET_ERR_SHAPE, "%s is %dx%d pixels; input '%s' takes %lldx%lld", path, img.width, img.height, in->name, (long long)want_w, (long long)want_h);
    float *x = s == UNET_OK ? malloc((size_t)want_c * (size_t)img.width * (size_t)img.height * sizeof *x) : NULL;
    if (s == UNET_OK && !x)
        s = unet_set_error(UNET_ERR_NOMEM, "out of memory for %s", path);
    if (s != UNET_OK) {
        unet_image_free(&img);
        return s;
    }
    const size_t plane = (size_t)img.width * (size_t)img.height;
    for (size_t p = 0; p < plane; p++)
        for (int64_t c = 0; c < want_c; c++) {
            int src = img.channels >= want_c && img.channels != 2 ? (int)c : 0;
            float v = img.pixels[p * (size_t)img.channels + (size_t)src] * meta->input.scale;
            v = (v - meta->input.mean[c]) / meta->input.std[c];
            x[nhwc ? p * (size_t)want_c + (size_t)c : (size_t)c * plane + p] = v;
        }
    memset(t, 0, sizeof *t);
    t->dtype = UNET_DTYPE_FLOAT;
    t->rank = 4;
    t->dims[0] = 1;
    t->dims[nhwc ? 3 : 1] = want_c;
    t->dims[nhwc ? 1 : 2] = img.height;
    t->dims[nhwc ? 2 : 3] = img.width;
    t->data = x;
    unet_image_free(&img);
    return UNET_OK;
}

static int64_t tensor_numel(const unet_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++)
        n *= t->dims[d];
    return n;
}

/* One image: input tensor, run, every requested tensor into its histogram. */
static unet_status calibrate_image(unet_session *session, const char *path, const unet_tensor_info *in,
                                   const unet_model_meta *meta, const int *out_index, qz_hist *hists, int n)
{
    unet_tensor x;
    UNET_TRY(image_tensor(path, in, meta, &x));
    unet_status s = unet_session_run(session, &x, 1);
    if (s != UNET_OK)
        s = unet_wrap_error(s, "running %s", path);
    for (int i = 0; s == UNET_OK && i < n; i++) {
        unet_tensor t;
        if (out_index[i] < 0) {
            t = x;
        } else {
            s = unet_session_output(session, out_index[i], &t);
            if (s == UNET_OK && t.dtype != UNET_DTYPE_FLOAT)
                s = unet_set_error(UNET_ERR_UNSUPPORTED, "tensor %d of %s is %s, expected float32", i, path, unet_dtype_name(t.dtype));
        }
        if (s == UNET_OK)
            qz_hist_add(&hists[i], t.data, (size_t)tensor_numel(&t));
    }
    free(x.data);
    return s;
}

unet_status qz_calibrate(Onnx__ModelProto *model, char *const *paths, int n_paths, const char *const *names,
                         qz_hist *hists, int n, qz_calib_run *run)
{
    run->used = run->failed = 0;
    const char *input_name = qz_graph_data_input(model->graph)->name;
    unet_model *um = NULL;
    UNET_TRY(open_with_outputs(model, names, n, input_name, run->model_name, &um));
    unet_model_meta meta;
    unet_tensor_info in;
    int *out_index = malloc((size_t)(n ? n : 1) * sizeof *out_index);
    unet_status s = out_index ? unet_model_read_meta(um, &meta) : unet_set_error(UNET_ERR_NOMEM, "out of memory");
    if (s == UNET_OK)
        s = unet_model_input_info(um, 0, &in);
    if (s == UNET_OK && in.rank != 4)
        s = unet_set_error(UNET_ERR_UNSUPPORTED, "%s: input '%s' has rank %d, expected 4", run->model_name, in.name, in.rank);
    /* Where each tensor is: an output index, or -1 for the input itself. */
    for (int i = 0; s == UNET_OK && i < n; i++) {
        out_index[i] = -2;
        if (strcmp(names[i], input_name) == 0)
            out_index[i] = -1;
        for (int k = 0; out_index[i] == -2 && k < unet_model_output_count(um); k++) {
            unet_tensor_info oi;
            if (unet_model_output_info(um, k, &oi) == UNET_OK && strcmp(oi.name, names[i]) == 0)
                out_index[i] = k;
        }
        if (out_index[i] == -2)
            s = unet_set_error(UNET_ERR_INVALID, "%s: tensor '%s' is not among the calibration outputs", run->model_name, names[i]);
    }
    if (s == UNET_OK)
        run->input = meta.input;
    unet_session *session = NULL;
    unet_session_options so = { .threads = run->threads };
    if (s == UNET_OK)
        s = unet_session_create(um, &so, &session);
    for (int t = 0; s == UNET_OK && t < n_paths && !(run->stop && *run->stop); t++) {
        unet_status ts = calibrate_image(session, paths[t], &in, &meta, out_index, hists, n);
        if (ts == UNET_OK)
            run->used++;
        else if (ts == UNET_ERR_NOMEM)
            s = ts;
        else
            run->failed++;
        if (run->progress)
            run->progress(run->progress_ctx, t, n_paths, paths[t], ts);
    }
    unet_session_free(session);
    unet_model_free(um);
    free(out_index);
    return s;
}
