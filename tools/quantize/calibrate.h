/* The calibration run: the float model through libunet on each calibration
 * image, with the tensors to be quantised added as extra graph outputs
 * (libunet's session API returns graph outputs only), each tensor's values
 * gathered into a histogram (calib_stats.h). The graph input's values come
 * from the input tensor itself. */
#ifndef UNET_TOOLS_QUANTIZE_CALIBRATE_H
#define UNET_TOOLS_QUANTIZE_CALIBRATE_H

#include <signal.h>

#include <unet/meta.h>
#include <unet/unet.h>

#include "calib_stats.h"
#include "onnx.pb-c.h"

/* Called after each image: index 0-based of total, the image's path, and
 * UNET_OK or the status of its failure (message in unet_last_error()). */
typedef void (*qz_progress_fn)(void *ctx, int index, int total, const char *path, unet_status s);

typedef struct qz_calib_run {
    const char *model_name; /* for messages */
    int threads;            /* 0: all cores */
    qz_progress_fn progress;
    void *progress_ctx;
    volatile sig_atomic_t *stop; /* when set non-zero (a signal), no further image is run */
    int used, failed;       /* images that ran, images that failed (out) */
    unet_input_spec input;  /* how the model scales pixels (unet.input), out */
} qz_calib_run;

/* Runs model (unchanged on return) on each of n_paths images and adds the
 * values of tensors names[0..n-1] to hists[0..n-1] (initialised by the
 * caller). An image that cannot be read or run is reported through progress
 * and counted in failed; the model failing to load or a tensor missing from
 * the outputs is an error. */
unet_status qz_calibrate(Onnx__ModelProto *model, char *const *paths, int n_paths, const char *const *names,
                         qz_hist *hists, int n, qz_calib_run *run);

#endif
