/* Indexing operators on dense tensors: Gather, Slice, Pad, Tile. Plain C
 * kernels; they run at plan time when their inputs are constants (shape
 * arithmetic) and as kernel steps otherwise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "ops_decl.h"
#include "plain_inputs.h"
#include "strided.h"
#include "scalar.h"

/* ---- Gather ---- */

static unet_status gather_axis(const node_t *n, int rank, int *axis)
{
    int64_t a = node_attr_int(n, "axis", 0);
    if (a < -rank || a >= rank)
        return unet_set_error(UNET_ERR_INVALID, "axis %lld is out of range for data of rank %d", (long long)a, rank);
    *axis = (int)(a < 0 ? a + rank : a);
    return UNET_OK;
}

unet_status gather_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_in; (void)n_out;
    int axis = 0;
    UNET_TRY(plain_known_size(in[0].dtype));
    UNET_TRY(gather_axis(n, in[0].rank, &axis));
    if (in[1].dtype != UNET_DTYPE_INT64 && in[1].dtype != UNET_DTYPE_INT32)
        return unet_set_error(UNET_ERR_INVALID, "indices are %s; int32 or int64 expected", unet_dtype_name(in[1].dtype));
    int rank = in[0].rank - 1 + in[1].rank;
    if (rank > UNET_MAX_RANK)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "the output would have rank %d; at most %d is supported", rank, UNET_MAX_RANK);
    out[0].dtype = in[0].dtype;
    out[0].rank = rank;
    int r = 0;
    for (int d = 0; d < axis; d++)
        out[0].dims[r++] = in[0].dims[d];
    for (int d = 0; d < in[1].rank; d++)
        out[0].dims[r++] = in[1].dims[d];
    for (int d = axis + 1; d < in[0].rank; d++)
        out[0].dims[r++] = in[0].dims[d];
    return UNET_OK;
}

unet_status gather_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_in; (void)n_out;
    int axis = 0;
    UNET_TRY(gather_axis(n, in[0].rank, &axis));
    int64_t outer = 1, inner = 1, dim = in[0].dims[axis], count = plain_numel(&in[1]);
    for (int d = 0; d < axis; d++)
        outer *= in[0].dims[d];
    for (int d = axis + 1; d < in[0].rank; d++)
        inner *= in[0].dims[d];
    size_t block = (size_t)inner * unet_dtype_size(in[0].dtype);
    /* Every index is checked before anything is copied. */
    for (int64_t j = 0; j < count; j++) {
        int64_t k = in[1].dtype == UNET_DTYPE_INT64 ? ((const int64_t *)in[1].data)[j] : ((const int32_t *)in[1].data)[j];
        if (k < -dim || k >= dim)
            return unet_set_error(UNET_ERR_INVALID, "index %lld (at flat position %lld) is out of range [%lld, %lld] for axis %d of size %lld", (long long)k, (long long)j, (long long)-dim, (long long)dim - 1, axis, (long long)dim);
    }
    char *dst = out[0].data;
    const char *src = in[0].data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < count; j++) {
            int64_t k = in[1].dtype == UNET_DTYPE_INT64 ? ((const int64_t *)in[1].data)[j] : ((const int32_t *)in[1].data)[j];
            if (k < 0)
                k += dim;
            memcpy(dst + (size_t)(o * count + j) * block, src + (size_t)(o * dim + k) * block, block);
        }
    return UNET_OK;
}

/* ---- Slice ---- */

unet_status slice_check(const unet_model *m, const node_t *n)
{
    (void)m;
    if (n->opset < 10 && (!node_attr(n, "starts") || !node_attr(n, "ends")))
        return unet_set_error(UNET_ERR_INVALID, "Slice before opset 10 needs 'starts' and 'ends' attributes");
    if (n->opset < 10 && n->n_in != 1)
        return unet_set_error(UNET_ERR_INVALID, "Slice before opset 10 takes one input, %d given", n->n_in);
    if (n->opset >= 10 && n->n_in < 3)
        return unet_set_error(UNET_ERR_INVALID, "Slice from opset 10 needs data, starts and ends inputs");
    return UNET_OK;
}

/* Per-axis first index, step and element count of a Slice, clamped as the
 * ONNX spec says. */
static unet_status slice_params(const node_t *n, const tview *in, int n_in, int64_t *first, int64_t *step, int64_t *count)
{
    int rank = in[0].rank;
    int64_t starts[UNET_MAX_RANK], ends[UNET_MAX_RANK], axes[UNET_MAX_RANK], steps[UNET_MAX_RANK];
    int k = 0, ke = 0, ka = -1, ks = -1;
    if (n->opset < 10) {
        k = node_attr_ints(n, "starts", starts, UNET_MAX_RANK);
        ke = node_attr_ints(n, "ends", ends, UNET_MAX_RANK);
        ka = node_attr_ints(n, "axes", axes, UNET_MAX_RANK);
    } else {
        UNET_TRY(plain_read_int_list(&in[1], "starts", starts, UNET_MAX_RANK, &k));
        UNET_TRY(plain_read_int_list(&in[2], "ends", ends, UNET_MAX_RANK, &ke));
        if (n_in > 3 && !plain_omitted(&in[3]))
            UNET_TRY(plain_read_int_list(&in[3], "axes", axes, UNET_MAX_RANK, &ka));
        if (n_in > 4 && !plain_omitted(&in[4]))
            UNET_TRY(plain_read_int_list(&in[4], "steps", steps, UNET_MAX_RANK, &ks));
    }
    if (k < 0 || k != ke || (ka >= 0 && ka != k) || (ks >= 0 && ks != k) || k > rank)
        return unet_set_error(UNET_ERR_INVALID, "starts, ends, axes and steps must have the same length, at most the rank %d", rank);
    int seen[UNET_MAX_RANK] = { 0 };
    for (int d = 0; d < rank; d++) {
        first[d] = 0;
        step[d] = 1;
        count[d] = in[0].dims[d];
    }
    for (int i = 0; i < k; i++) {
        int64_t a = ka >= 0 ? axes[i] : i;
        if (a < -rank || a >= rank)
            return unet_set_error(UNET_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)a, rank);
        if (a < 0)
            a += rank;
        if (seen[a])
            return unet_set_error(UNET_ERR_INVALID, "axis %lld is given twice", (long long)a);
        seen[a] = 1;
        int64_t dim = in[0].dims[a], st = ks >= 0 ? steps[i] : 1;
        if (st == 0)
            return unet_set_error(UNET_ERR_INVALID, "step for axis %lld is 0", (long long)a);
        int64_t s = starts[i], e = ends[i];
        /* Negative positions count from the end (the INT64_MIN sentinel stays
         * negative: dim is small). */
        if (s < 0) s += dim;
        if (e < 0) e += dim;
        int64_t c;
        if (st > 0) {
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < 0 ? 0 : e > dim ? dim : e;
            c = e > s ? (int64_t)(((uint64_t)(e - s) - 1) / (uint64_t)st + 1) : 0;
        } else {
            s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            /* |step| may be huge: compute ceil((s - e) / -st) without negating INT64_MIN */
            uint64_t span = s > e ? (uint64_t)(s - e) : 0, mag = 0 - (uint64_t)st;
            c = (int64_t)(span / mag + (span % mag != 0));
        }
        first[a] = c > 0 ? s : 0;
        step[a] = st;
        count[a] = c;
    }
    return UNET_OK;
}

unet_status slice_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    int64_t first[UNET_MAX_RANK], step[UNET_MAX_RANK];
    UNET_TRY(plain_known_size(in[0].dtype));
    out[0].dtype = in[0].dtype;
    out[0].rank = in[0].rank;
    return slice_params(n, in, n_in, first, step, out[0].dims);
}

unet_status slice_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    int rank = in[0].rank;
    int64_t first[UNET_MAX_RANK], step[UNET_MAX_RANK], count[UNET_MAX_RANK], dense[UNET_MAX_RANK], strides[UNET_MAX_RANK];
    UNET_TRY(slice_params(n, in, n_in, first, step, count));
    dense_strides(rank, in[0].dims, dense);
    int64_t offset = 0;
    for (int d = 0; d < rank; d++) {
        strides[d] = dense[d] * step[d];
        offset += first[d] * dense[d];
    }
    strided_copy(out[0].data, in[0].data, unet_dtype_size(in[0].dtype), rank, out[0].dims, strides, offset);
    return UNET_OK;
}

/* ---- Pad ---- */

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE };

static int pad_mode(const node_t *n)
{
    const char *m = node_attr_string(n, "mode", "constant");
    return !strcmp(m, "constant") ? PAD_CONSTANT : !strcmp(m, "reflect") ? PAD_REFLECT : !strcmp(m, "edge") ? PAD_EDGE : -1;
}

unet_status pad_check(const unet_model *m, const node_t *n)
{
    (void)m;
    if (pad_mode(n) < 0)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "mode '%s' is not supported (constant, reflect and edge are)", node_attr_string(n, "mode", ""));
    if (n->opset < 11 && !node_attr(n, "pads") && !node_attr(n, "paddings"))
        return unet_set_error(UNET_ERR_INVALID, "Pad before opset 11 needs a 'pads' attribute");
    if (n->opset >= 11 && (n->n_in < 2 || n->in[1] < 0))
        return unet_set_error(UNET_ERR_INVALID, "Pad from opset 11 needs the pads input");
    if (n->n_in > 3 && n->in[3] >= 0)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "the axes input (opset 18) is not supported");
    return UNET_OK;
}

/* pads = [begin_0 .. begin_r-1, end_0 .. end_r-1] */
static unet_status pad_amounts(const node_t *n, const tview *in, int64_t *pads)
{
    int rank = in[0].rank, k;
    if (n->opset < 11) {
        k = node_attr_ints(n, "pads", pads, 2 * UNET_MAX_RANK);
        if (k < 0)
            k = node_attr_ints(n, "paddings", pads, 2 * UNET_MAX_RANK);
    } else {
        UNET_TRY(plain_read_int_list(&in[1], "pads", pads, 2 * UNET_MAX_RANK, &k));
    }
    if (k != 2 * rank)
        return unet_set_error(UNET_ERR_INVALID, "pads has %d entries; 2 x rank = %d expected", k, 2 * rank);
    return UNET_OK;
}

unet_status pad_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    int64_t pads[2 * UNET_MAX_RANK];
    UNET_TRY(plain_known_size(in[0].dtype));
    UNET_TRY(pad_amounts(n, in, pads));
    int rank = in[0].rank, mode = pad_mode(n);
    if (n->opset >= 11 && n_in > 2 && !plain_omitted(&in[2]) && (in[2].dtype != in[0].dtype || plain_numel(&in[2]) != 1))
        return unet_set_error(UNET_ERR_INVALID, "constant_value must be one %s element (it is %s)", unet_dtype_name(in[0].dtype), unet_dtype_name(in[2].dtype));
    out[0].dtype = in[0].dtype;
    out[0].rank = rank;
    for (int d = 0; d < rank; d++) {
        int64_t dim = in[0].dims[d];
        out[0].dims[d] = dim + pads[d] + pads[d + rank];
        if (out[0].dims[d] < 0)
            return unet_set_error(UNET_ERR_SHAPE, "pads %lld and %lld crop more than the %lld elements of axis %d", (long long)pads[d], (long long)pads[d + rank], (long long)dim, d);
        int grows = pads[d] > 0 || pads[d + rank] > 0;
        if (grows && dim == 0 && mode != PAD_CONSTANT)
            return unet_set_error(UNET_ERR_SHAPE, "axis %d is empty: %s padding has nothing to copy", d, mode == PAD_EDGE ? "edge" : "reflect");
    }
    return UNET_OK;
}

/* The input index that output position o along one axis reads, -1 for the
 * constant. Reflection repeats with period 2 (dim - 1), as numpy's pad. */
static int64_t pad_source(int64_t o, int64_t before, int64_t dim, int mode)
{
    int64_t i = o - before;
    if (i >= 0 && i < dim)
        return i;
    if (mode == PAD_CONSTANT)
        return -1;
    if (mode == PAD_EDGE || dim == 1)
        return i < 0 ? 0 : dim - 1;
    int64_t period = 2 * (dim - 1);
    i %= period;
    if (i < 0)
        i += period;
    return i < dim ? i : period - i;
}

/* The fill value converted to the data type (written into fill, esz bytes). */
static void pad_fill_value(const node_t *n, const tview *in, int n_in, void *fill)
{
    double v = 0.0;
    const tview *c = n->opset >= 11 && n_in > 2 && !plain_omitted(&in[2]) && in[2].data ? &in[2] : NULL;
    if (n->opset < 11)
        v = node_attr_float(n, "value", 0.0f);
    if (c) { /* same type and one element: checked by pad_shape */
        memcpy(fill, c->data, unet_dtype_size(in[0].dtype));
        return;
    }
    scalar sv = { S_FLOAT, 0, 0, v };
    scalar_store(fill, in[0].dtype, 0, sv);
}

unet_status pad_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    int rank = in[0].rank, mode = pad_mode(n);
    int64_t pads[2 * UNET_MAX_RANK], dense[UNET_MAX_RANK];
    UNET_TRY(pad_amounts(n, in, pads));
    int64_t total = plain_numel(&out[0]);
    if (total == 0)
        return UNET_OK;
    size_t esz = unet_dtype_size(in[0].dtype);
    unsigned char fill[16] = { 0 };
    pad_fill_value(n, in, n_in, fill);
    if (rank == 0) {
        memcpy(out[0].data, in[0].data, esz);
        return UNET_OK;
    }
    dense_strides(rank, in[0].dims, dense);
    /* Source offset contribution of each output position, per axis (-1 = fill). */
    int64_t map_len = 0, *map[UNET_MAX_RANK];
    for (int d = 0; d < rank; d++)
        map_len += out[0].dims[d];
    int64_t *maps = malloc((size_t)map_len * sizeof *maps);
    if (!maps)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory for Pad index maps");
    int64_t at = 0;
    for (int d = 0; d < rank; d++) {
        map[d] = maps + at;
        for (int64_t o = 0; o < out[0].dims[d]; o++) {
            int64_t i = pad_source(o, pads[d], in[0].dims[d], mode);
            map[d][o] = i < 0 ? -1 : i * dense[d];
        }
        at += out[0].dims[d];
    }
    int64_t idx[UNET_MAX_RANK] = { 0 }, row = out[0].dims[rank - 1];
    char *dst = out[0].data;
    const char *src = in[0].data;
    for (int64_t done = 0; done < total; done += row) {
        int64_t base = 0;
        int fill_row = 0;
        for (int d = 0; d < rank - 1; d++) {
            if (map[d][idx[d]] < 0)
                fill_row = 1;
            base += map[d][idx[d]];
        }
        for (int64_t o = 0; o < row; o++, dst += esz) {
            int64_t m = map[rank - 1][o];
            memcpy(dst, fill_row || m < 0 ? (const char *)fill : src + (size_t)(base + m) * esz, esz);
        }
        for (int d = rank - 2; d >= 0; d--) {
            if (++idx[d] < out[0].dims[d])
                break;
            idx[d] = 0;
        }
    }
    free(maps);
    return UNET_OK;
}

/* ---- Tile ---- */

unet_status tile_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n; (void)n_in; (void)n_out;
    int64_t rep[UNET_MAX_RANK];
    int k = 0;
    UNET_TRY(plain_known_size(in[0].dtype));
    UNET_TRY(plain_read_int_list(&in[1], "repeats", rep, UNET_MAX_RANK, &k));
    if (k != in[0].rank)
        return unet_set_error(UNET_ERR_INVALID, "repeats has %d entries for an input of rank %d", k, in[0].rank);
    out[0].dtype = in[0].dtype;
    out[0].rank = k;
    for (int d = 0; d < k; d++) {
        if (rep[d] < 0)
            return unet_set_error(UNET_ERR_INVALID, "repeats[%d] = %lld is negative", d, (long long)rep[d]);
        if (rep[d] && in[0].dims[d] > INT64_MAX / rep[d])
            return unet_set_error(UNET_ERR_LIMIT, "the tiled size overflows");
        out[0].dims[d] = in[0].dims[d] * rep[d];
    }
    return UNET_OK;
}

unet_status tile_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n; (void)n_in; (void)n_out;
    /* The output seen as [r0, d0, r1, d1, ...] reads the input with stride 0
     * along each repeat axis. */
    int rank = in[0].rank;
    int64_t dense[UNET_MAX_RANK], dims[STRIDED_MAX_RANK], strides[STRIDED_MAX_RANK];
    dense_strides(rank, in[0].dims, dense);
    for (int d = 0; d < rank; d++) {
        dims[2 * d] = in[0].dims[d] ? out[0].dims[d] / in[0].dims[d] : 0;
        strides[2 * d] = 0;
        dims[2 * d + 1] = in[0].dims[d];
        strides[2 * d + 1] = dense[d];
    }
    strided_copy(out[0].data, in[0].data, unet_dtype_size(in[0].dtype), 2 * rank, dims, strides, 0);
    return UNET_OK;
}
