/* Sliding-window segmentation of an image of any size, in bounded memory.
 *
 * An embedding program says how big the image is, hands over a function
 * that reads it one row at a time (top to bottom) and a function that takes
 * finished mask rows, then steps through the windows:
 *
 *   unet_scene *sc;
 *   unet_scene_open(session, w, h, 3, 0, &opts, read_row, me, take_row, me, &sc);
 *   int n;
 *   do unet_scene_step(sc, &n); while (n > 0);   (check the status of each)
 *   unet_scene_close(sc);
 *
 * Windows: unet_tiling_plan(width, height, tile, tile - overlap,
 * UNET_TILING_ALIGN_EDGE), so no window leaves the image unless the image is
 * smaller than a tile; pixels a window reaches past the image are mirrored
 * back into it (the edge pixel repeated, numpy's 'symmetric' padding).
 * Windows run in row-major order, `batch` to a unet_session_run.
 *
 * Blend rule: each window's class scores are added with the weight
 * w(i) * w(j), a separable Gaussian centred on the window (sigma = tile / 8,
 * as MONAI and nnU-Net do), so window borders, where zero padding inside the
 * network makes predictions worst, count little but never zero (w >= exp(-8)
 * at the edge). A pixel's blended score is its weighted sum divided by the
 * sum of the weights that reached it; its mask value is the class with the
 * largest blended score (the first on ties), or 255 where the reader marked
 * the pixel as nodata.
 *
 * Memory: the rows that the current batch of windows spans (about tile rows
 * plus one window's height) of the image, a ring of min(tile, height) rows
 * of classes x width floats for the blend, and the batch's input and output
 * tensors: it grows with the image's width, never with its area.
 *
 * With tta = 1 every window also runs mirrored left-right and top-bottom and
 * the three outputs, mirrored back, are averaged before blending.
 */
#ifndef UNET_SCENE_H
#define UNET_SCENE_H

#include <stddef.h>
#include <stdint.h>
#include <unet/unet.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct unet_scene_options {
    int tile;      /* window side in pixels: the model's input height and width */
    int overlap;   /* pixels that neighbouring windows share, 0 .. tile - 1 */
    int batch;     /* windows per unet_session_run, >= 1 */
    int tta;       /* 1: average each window over identity and two flips */
    int nhwc;      /* the model's input layout: 0 NCHW, 1 NHWC */
    int channels;  /* the model's input channels, 1 .. 4 */
    /* Model input from an 8-bit pixel value v of channel c:
     * (v * scale - mean[c]) / std[c]. A 1- or 2-channel image feeds every
     * input channel from its first channel. */
    float scale, mean[4], std[4];
} unet_scene_options;

/* Reads image row y into row (width x image_channels bytes, interleaved).
 * Rows are asked for once each, in order 0, 1, 2, ...; valid (width bytes,
 * 1 = data, 0 = nodata) is non-NULL only when the scene was opened with
 * validity, and must then be filled too. A status other than UNET_OK ends
 * the scene with that status. */
typedef unet_status (*unet_scene_read_fn)(void *ctx, int y, uint8_t *row, uint8_t *valid);

/* Takes finished row y (rows come once each, top to bottom): mask holds
 * width class ids (255 for nodata), probs the blended scores class-major
 * (classes x width floats), image the image row as read (for overlays). All
 * three are valid during the call only. A non-zero return ends the scene
 * (unet_scene_step returns UNET_ERR_IO saying so). */
typedef int (*unet_scene_row_fn)(void *ctx, int y, const uint8_t *mask, const float *probs,
                                 const uint8_t *image);

typedef struct unet_scene unet_scene;

/* Plans the windows of a width x height image with image_channels (1..4)
 * channels and allocates the buffers; with_validity = 1 when the reader
 * marks nodata pixels (windows holding only nodata are then not run once
 * the class count is known). The session must stay valid until
 * unet_scene_close and takes inputs [batch, channels, tile, tile] (NCHW) or
 * [batch, tile, tile, channels] (NHWC); its output 0 must be float32 class
 * scores of the same layout and size. */
unet_status unet_scene_open(unet_session *session, int width, int height, int image_channels,
                            int with_validity, const unet_scene_options *opts,
                            unet_scene_read_fn read, void *read_ctx, unet_scene_row_fn take,
                            void *take_ctx, unet_scene **out);

/* Windows in the plan. */
size_t unet_scene_window_count(const unet_scene *scene);

/* Runs the next batch of windows and hands over every row they complete;
 * *windows_run is the batch's size, or 0 once every window has run, in
 * which call the last rows are handed over. */
unet_status unet_scene_step(unet_scene *scene, int *windows_run);

/* The model's class count, known after the first step (0 before). */
int unet_scene_classes(const unet_scene *scene);

/* The weight of offset i (0 .. tile - 1) inside a window along one axis. */
float unet_scene_blend_weight(int tile, int i);

void unet_scene_close(unet_scene *scene);

#ifdef __cplusplus
}
#endif

#endif
