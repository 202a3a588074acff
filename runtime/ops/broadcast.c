/* numpy broadcasting (see broadcast.h). */
#include <string.h>

#include "../error.h"
#include "broadcast.h"

unet_status bc_shape(const tview *in, int n_in, tview *out)
{
    int rank = 0;
    for (int i = 0; i < n_in; i++)
        if (in[i].rank > rank)
            rank = in[i].rank;
    out->rank = rank;
    for (int d = 0; d < rank; d++) {
        int64_t dim = 1;
        for (int i = 0; i < n_in; i++) {
            int k = d - (rank - in[i].rank);
            int64_t v = k >= 0 ? in[i].dims[k] : 1;
            if (v == dim || v == 1)
                continue;
            if (dim != 1)
                return unet_set_error(UNET_ERR_SHAPE, "shapes do not broadcast: dimension %d is %lld in one input and %lld in input %d", d, (long long)dim, (long long)v, i);
            dim = v;
        }
        out->dims[d] = dim;
    }
    return UNET_OK;
}

void bc_init(bc_iter *it, const tview *in, int n_in, const tview *out)
{
    memset(it, 0, sizeof *it);
    it->rank = out->rank;
    it->n_in = n_in;
    memcpy(it->dims, out->dims, sizeof it->dims);
    for (int i = 0; i < n_in; i++) {
        int64_t s = 1;
        for (int d = out->rank - 1; d >= 0; d--) {
            int k = d - (out->rank - in[i].rank);
            int64_t dim = k >= 0 ? in[i].dims[k] : 1;
            it->strides[i][d] = dim == 1 ? 0 : s;
            s *= dim;
        }
    }
}

void bc_next(bc_iter *it)
{
    for (int d = it->rank - 1; d >= 0; d--) {
        it->idx[d]++;
        for (int i = 0; i < it->n_in; i++)
            it->off[i] += it->strides[i][d];
        if (it->idx[d] < it->dims[d])
            return;
        for (int i = 0; i < it->n_in; i++)
            it->off[i] -= it->strides[i][d] * it->idx[d];
        it->idx[d] = 0;
    }
}
