/* Batch preprocessing, one model run and argmax, as described in tile_batch.h. */
#include <stdlib.h>
#include <string.h>

#include <unet/mask.h>

#include "error.h"
#include "tile_batch.h"

void tile_batch_init(tile_batch *tb, unet_session *session, const unet_input_spec *spec,
                     const unet_tensor_info *in)
{
    memset(tb, 0, sizeof *tb);
    tb->session = session;
    tb->spec = *spec;
    tb->channels = 3;
    if (in && in->rank == 4) {
        int64_t c = spec->nhwc ? in->dims[3] : in->dims[1];
        if (c > 0 && c <= 64)
            tb->channels = (int)c;
    }
}

void tile_batch_free(tile_batch *tb)
{
    free(tb->input);
    tb->input = NULL;
    tb->input_cap = 0;
}

unet_status tile_batch_fill(tile_batch *tb, const unet_image *const *images, int n, int flip)
{
    if (n < 1 || !images || !images[0])
        return unet_set_error(UNET_ERR_ARG, "tile_batch_fill: empty batch");
    int h = images[0]->height, w = images[0]->width, channels = tb->channels;
    for (int b = 1; b < n; b++)
        if (images[b]->width != w || images[b]->height != h)
            return unet_set_error(UNET_ERR_ARG, "tile_batch_fill: tile %d is %dx%d, tile 0 is %dx%d", b,
                                  images[b]->width, images[b]->height, w, h);
    size_t need = (size_t)n * (size_t)channels * (size_t)h * (size_t)w;
    if (need > tb->input_cap) {
        float *p = realloc(tb->input, need * sizeof *p);
        if (!p)
            return unet_set_error(UNET_ERR_NOMEM, "batch of %d tiles of %dx%d: out of memory", n, w, h);
        tb->input = p;
        tb->input_cap = need;
    }
    const unet_input_spec *in = &tb->spec;
    for (int b = 0; b < n; b++) {
        const unet_image *img = images[b];
        for (int y = 0; y < h; y++) {
            int sy = flip == 2 ? h - 1 - y : y;
            for (int x = 0; x < w; x++) {
                int sx = flip == 1 ? w - 1 - x : x;
                const uint8_t *px = img->pixels + ((size_t)sy * (size_t)w + (size_t)sx) * (size_t)img->channels;
                for (int ch = 0; ch < channels; ch++) {
                    int src = img->channels >= 3 && ch < img->channels ? ch : 0;
                    float v = ((float)px[src] * in->scale - in->mean[ch & 3]) / in->std[ch & 3];
                    size_t idx = in->nhwc ? (((size_t)b * h + y) * w + x) * channels + ch
                                          : (((size_t)b * channels + ch) * h + y) * w + x;
                    tb->input[idx] = v;
                }
            }
        }
    }
    return UNET_OK;
}

unet_status tile_batch_run(tile_batch *tb, int n, int h, int w, unet_tensor *out, int *classes)
{
    int nhwc = tb->spec.nhwc, channels = tb->channels;
    unet_tensor in = { UNET_DTYPE_FLOAT, 4,
                       { n, nhwc ? h : channels, nhwc ? w : h, nhwc ? channels : w }, tb->input };
    UNET_TRY(unet_session_run(tb->session, &in, 1));
    UNET_TRY(unet_session_output(tb->session, 0, out));
    int ok = out->dtype == UNET_DTYPE_FLOAT && out->rank == 4 && out->dims[0] == n &&
             (nhwc ? out->dims[1] == h && out->dims[2] == w : out->dims[2] == h && out->dims[3] == w);
    if (!ok)
        return unet_set_error(UNET_ERR_SHAPE,
                              "model output 0 is %s rank %d; expected float32 %s for %d tile(s) of %dx%d",
                              unet_dtype_name(out->dtype), out->rank,
                              nhwc ? "[N, H, W, classes]" : "[N, classes, H, W]", n, w, h);
    int64_t k = nhwc ? out->dims[3] : out->dims[1];
    if (k < 1 || k > 255)
        return unet_set_error(UNET_ERR_SHAPE, "model output 0 has %lld classes; 1 to 255 are supported",
                              (long long)k);
    *classes = (int)k;
    return UNET_OK;
}

void tile_batch_argmax(const unet_tensor *out, int nhwc, int b, int classes, int h, int w,
                       uint8_t *mask)
{
    const float *src = out->data;
    size_t plane = (size_t)h * (size_t)w;
    const float *tile = src + (size_t)b * (size_t)classes * plane;
    /* NCHW: class k of pixel i at k * plane + i; NHWC: at i * classes + k. */
    unet_mask_argmax(tile, classes, plane, nhwc ? 1 : plane, nhwc ? (size_t)classes : 1, mask);
}

unet_status tile_batch_predict(tile_batch *tb, const unet_image *const *images, int n,
                               uint8_t *masks, int *classes)
{
    UNET_TRY(tile_batch_fill(tb, images, n, 0));
    int h = images[0]->height, w = images[0]->width, k = 0;
    unet_tensor out;
    UNET_TRY(tile_batch_run(tb, n, h, w, &out, &k));
    for (int b = 0; b < n; b++)
        tile_batch_argmax(&out, tb->spec.nhwc, b, k, h, w, masks + (size_t)b * (size_t)h * (size_t)w);
    if (classes)
        *classes = k;
    return UNET_OK;
}
