/* numpy .npy output of class probabilities as float16 (numpy opens it). */
#ifndef UNET_TOOLS_NPY_WRITE_H
#define UNET_TOOLS_NPY_WRITE_H

#include <stdint.h>
#include <unet/unet.h>

/* Writes data (c x h x w floats) as '<f2' with shape (c, h, w), atomically. */
unet_status npy_write_f16(const char *path, const float *data, int c, int h, int w);

#endif
