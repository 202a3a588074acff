/* What the plain C kernels share about their inputs: which element types
 * they compute on, and constant integer lists (shapes, axes, pads) read at
 * plan time. */
#ifndef UNET_RUNTIME_OPS_PLAIN_INPUTS_H
#define UNET_RUNTIME_OPS_PLAIN_INPUTS_H

#include "../ops.h"

/* 1 for the types a plain kernel reads and writes: float32/64 and the
 * integers (not string; float16 only where an op converts it itself). */
int plain_number_type(int dtype);

/* Copies a constant int32/int64 tensor of rank 0 or 1 with at most max
 * elements into out; what names the input in messages ("the shape input is
 * not a constant ..."). */
unet_status plain_read_int_list(const tview *v, const char *what, int64_t *out, int max,
                                int *count);

/* Elements of a view (1 for rank 0). */
int64_t plain_numel(const tview *v);
/* An omitted optional input shows as a view of undefined type. */
int plain_omitted(const tview *v);
/* UNET_ERR_UNSUPPORTED for element types without a fixed size (string). */
unet_status plain_known_size(int dtype);

#endif
