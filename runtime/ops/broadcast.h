/* numpy broadcasting over up to three inputs: the output shape, and an
 * iterator that walks the output in row-major order keeping each input's
 * element offset (stride 0 along broadcast dimensions). Shared by the
 * arithmetic (binary.c) and the selection and comparison operators. */
#ifndef UNET_RUNTIME_OPS_BROADCAST_H
#define UNET_RUNTIME_OPS_BROADCAST_H

#include "../ops.h"

#define BC_MAX_IN 3

typedef struct bc_iter {
    int rank, n_in;
    int64_t dims[UNET_MAX_RANK];
    int64_t strides[BC_MAX_IN][UNET_MAX_RANK];
    int64_t idx[UNET_MAX_RANK];
    int64_t off[BC_MAX_IN];  /* element offset of each input at idx */
} bc_iter;

/* out's rank and dims from in[0..n_in) (any number of inputs; the iterator
 * takes up to BC_MAX_IN); UNET_ERR_SHAPE naming the dimension and the input
 * that does not broadcast. */
unet_status bc_shape(const tview *in, int n_in, tview *out);
void bc_init(bc_iter *it, const tview *in, int n_in, const tview *out);
/* To the next output element. */
void bc_next(bc_iter *it);

#endif
