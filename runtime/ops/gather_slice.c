/* Indexing and element-type operators on dense tensors: Gather, Slice, Pad,
 * Tile, Cast, Where, the comparisons (Equal, Less, Greater, LessOrEqual,
 * GreaterOrEqual) and the logical ones (Not, And, Or, Xor). All are plain C
 * kernels; they run at plan time when their inputs are constants (shape
 * arithmetic) and as kernel steps otherwise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../ops.h"
#include "ops_decl.h"
#include "plain_inputs.h"
#include "strided.h"

static int64_t view_numel(const tview *v)
{
    int64_t n = 1;
    for (int d = 0; d < v->rank; d++)
        n *= v->dims[d];
    return n;
}

/* An omitted optional input shows as a view of undefined type. */
static int omitted(const tview *v) { return v->dtype == UNET_DTYPE_UNDEFINED; }

static unet_status known_size(int dtype)
{
    if (unet_dtype_size(dtype) == 0 || dtype == UNET_DTYPE_STRING)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "type %s is not supported", unet_dtype_name(dtype));
    return UNET_OK;
}

/* ---- numpy broadcasting over up to three inputs ---- */

#define BC_MAX_IN 3

typedef struct bc_iter {
    int rank, n_in;
    int64_t dims[UNET_MAX_RANK];
    int64_t strides[BC_MAX_IN][UNET_MAX_RANK];
    int64_t idx[UNET_MAX_RANK];
    int64_t off[BC_MAX_IN];
} bc_iter;

static unet_status bc_shape(const tview *in, int n_in, tview *out)
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

static void bc_init(bc_iter *it, const tview *in, int n_in, const tview *out)
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

static void bc_next(bc_iter *it)
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
    UNET_TRY(known_size(in[0].dtype));
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
    int64_t outer = 1, inner = 1, dim = in[0].dims[axis], count = view_numel(&in[1]);
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
        if (n_in > 3 && !omitted(&in[3]))
            UNET_TRY(plain_read_int_list(&in[3], "axes", axes, UNET_MAX_RANK, &ka));
        if (n_in > 4 && !omitted(&in[4]))
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
    UNET_TRY(known_size(in[0].dtype));
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

/* ---- element conversions (Cast, Pad's fill value) ---- */

static uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, man = x & 0x7fffff;
    int exp = (int)((x >> 23) & 0xff);
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
    int e = exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        /* subnormal half (or zero): round the 24-bit significand to nearest even */
        if (e < -10)
            return (uint16_t)sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (h & 1)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++; /* a carry into the exponent is still correct (up to infinity) */
    return (uint16_t)(sign | h);
}

static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, x;
    if (exp == 0x1f) {
        x = sign | 0x7f800000 | (man << 13);
    } else if (exp == 0) {
        if (!man) {
            x = sign;
        } else {
            int e = 0;
            while (!(man & 0x400)) {
                man <<= 1;
                e++;
            }
            x = sign | ((uint32_t)(113 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else {
        x = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* One element in the widest type of its kind, so that no conversion rounds twice. */
typedef struct scalar {
    enum { S_INT, S_UINT, S_FLOAT } kind;
    int64_t i;
    uint64_t u;
    double f;
} scalar;

static scalar load_scalar(const void *data, int dtype, int64_t k)
{
    scalar s = { S_INT, 0, 0, 0.0 };
    switch (dtype) {
    case UNET_DTYPE_FLOAT: s.kind = S_FLOAT; s.f = ((const float *)data)[k]; break;
    case UNET_DTYPE_DOUBLE: s.kind = S_FLOAT; s.f = ((const double *)data)[k]; break;
    case UNET_DTYPE_FLOAT16: s.kind = S_FLOAT; s.f = f16_to_f32(((const uint16_t *)data)[k]); break;
    case UNET_DTYPE_INT8: s.i = ((const int8_t *)data)[k]; break;
    case UNET_DTYPE_INT16: s.i = ((const int16_t *)data)[k]; break;
    case UNET_DTYPE_INT32: s.i = ((const int32_t *)data)[k]; break;
    case UNET_DTYPE_INT64: s.i = ((const int64_t *)data)[k]; break;
    case UNET_DTYPE_BOOL: s.i = ((const uint8_t *)data)[k] != 0; break;
    case UNET_DTYPE_UINT8: s.kind = S_UINT; s.u = ((const uint8_t *)data)[k]; break;
    case UNET_DTYPE_UINT16: s.kind = S_UINT; s.u = ((const uint16_t *)data)[k]; break;
    case UNET_DTYPE_UINT32: s.kind = S_UINT; s.u = ((const uint32_t *)data)[k]; break;
    default: s.kind = S_UINT; s.u = ((const uint64_t *)data)[k]; break;
    }
    return s;
}

/* A float to a 64-bit integer pattern: truncation toward zero, saturated,
 * NaN as 0 (ONNX leaves out-of-range casts undefined; C would too). */
static int64_t float_to_i64(double f)
{
    if (isnan(f))
        return 0;
    if (f >= 9223372036854775808.0)
        return INT64_MAX;
    if (f <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)f;
}

static uint64_t float_to_u64(double f)
{
    if (isnan(f) || f <= -1.0)
        return (uint64_t)float_to_i64(f); /* negative values wrap, as numpy on x86 */
    if (f >= 18446744073709551616.0)
        return UINT64_MAX;
    return (uint64_t)f;
}

static void store_scalar(void *data, int dtype, int64_t k, scalar s)
{
    /* integer targets take the two's-complement bits of the value */
    uint64_t bits = s.kind == S_INT ? (uint64_t)s.i : s.kind == S_UINT ? s.u
                  : dtype == UNET_DTYPE_UINT64 ? float_to_u64(s.f) : (uint64_t)float_to_i64(s.f);
    double f = s.kind == S_FLOAT ? s.f : s.kind == S_INT ? (double)s.i : (double)s.u;
    switch (dtype) {
    case UNET_DTYPE_FLOAT:
        ((float *)data)[k] = s.kind == S_FLOAT ? (float)s.f : s.kind == S_INT ? (float)s.i : (float)s.u;
        break;
    case UNET_DTYPE_DOUBLE: ((double *)data)[k] = f; break;
    case UNET_DTYPE_FLOAT16: ((uint16_t *)data)[k] = f32_to_f16((float)f); break;
    case UNET_DTYPE_BOOL:
        ((uint8_t *)data)[k] = s.kind == S_FLOAT ? s.f != 0.0 : bits != 0;
        break;
    case UNET_DTYPE_INT8: case UNET_DTYPE_UINT8: ((uint8_t *)data)[k] = (uint8_t)bits; break;
    case UNET_DTYPE_INT16: case UNET_DTYPE_UINT16: ((uint16_t *)data)[k] = (uint16_t)bits; break;
    case UNET_DTYPE_INT32: case UNET_DTYPE_UINT32: ((uint32_t *)data)[k] = (uint32_t)bits; break;
    default: ((uint64_t *)data)[k] = bits; break;
    }
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
    UNET_TRY(known_size(in[0].dtype));
    UNET_TRY(pad_amounts(n, in, pads));
    int rank = in[0].rank, mode = pad_mode(n);
    if (n->opset >= 11 && n_in > 2 && !omitted(&in[2]) && (in[2].dtype != in[0].dtype || view_numel(&in[2]) != 1))
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
    const tview *c = n->opset >= 11 && n_in > 2 && !omitted(&in[2]) && in[2].data ? &in[2] : NULL;
    if (n->opset < 11)
        v = node_attr_float(n, "value", 0.0f);
    if (c) { /* same type and one element: checked by pad_shape */
        memcpy(fill, c->data, unet_dtype_size(in[0].dtype));
        return;
    }
    scalar sv = { S_FLOAT, 0, 0, v };
    store_scalar(fill, in[0].dtype, 0, sv);
}

unet_status pad_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    int rank = in[0].rank, mode = pad_mode(n);
    int64_t pads[2 * UNET_MAX_RANK], dense[UNET_MAX_RANK];
    UNET_TRY(pad_amounts(n, in, pads));
    int64_t total = view_numel(&out[0]);
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
    UNET_TRY(known_size(in[0].dtype));
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

/* ---- Cast ---- */

static int castable(int dtype)
{
    return plain_number_type(dtype) || dtype == UNET_DTYPE_BOOL || dtype == UNET_DTYPE_FLOAT16;
}

/* The 'to' attribute: an integer type code, or before opset 6 a type name. */
static int cast_target(const node_t *n)
{
    const attr_t *a = node_attr(n, "to");
    if (!a)
        return -1;
    if (a->type == ATTR_INT)
        return (int)a->i;
    if (a->type != ATTR_STRING || !a->s)
        return -1;
    static const struct { const char *name; int dtype; } names[] = {
        { "FLOAT", UNET_DTYPE_FLOAT }, { "UINT8", UNET_DTYPE_UINT8 }, { "INT8", UNET_DTYPE_INT8 },
        { "UINT16", UNET_DTYPE_UINT16 }, { "INT16", UNET_DTYPE_INT16 }, { "INT32", UNET_DTYPE_INT32 },
        { "INT64", UNET_DTYPE_INT64 }, { "STRING", UNET_DTYPE_STRING }, { "BOOL", UNET_DTYPE_BOOL },
        { "FLOAT16", UNET_DTYPE_FLOAT16 }, { "DOUBLE", UNET_DTYPE_DOUBLE }, { "UINT32", UNET_DTYPE_UINT32 },
        { "UINT64", UNET_DTYPE_UINT64 }, { "BFLOAT16", UNET_DTYPE_BFLOAT16 },
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(a->s, names[i].name))
            return names[i].dtype;
    return -1;
}

unet_status cast_check(const unet_model *m, const node_t *n)
{
    int to = cast_target(n);
    if (to < 0)
        return unet_set_error(UNET_ERR_INVALID, "the 'to' attribute is missing or names no known type");
    if (!castable(to))
        return unet_set_error(UNET_ERR_UNSUPPORTED, "cast to %s is not supported", unet_dtype_name(to));
    int from = n->in[0] >= 0 ? m->values[n->in[0]].dtype : 0;
    if (from && !castable(from))
        return unet_set_error(UNET_ERR_UNSUPPORTED, "cast from %s is not supported", unet_dtype_name(from));
    return UNET_OK;
}

static unet_status cast_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n; (void)n_in; (void)n_out;
    int64_t count = view_numel(&in[0]);
    int from = in[0].dtype, to = out[0].dtype;
    if (from == UNET_DTYPE_FLOAT && to == UNET_DTYPE_INT64) {
        for (int64_t k = 0; k < count; k++)
            ((int64_t *)out[0].data)[k] = float_to_i64(((const float *)in[0].data)[k]);
        return UNET_OK;
    }
    if (from == UNET_DTYPE_INT64 && to == UNET_DTYPE_FLOAT) {
        for (int64_t k = 0; k < count; k++)
            ((float *)out[0].data)[k] = (float)((const int64_t *)in[0].data)[k];
        return UNET_OK;
    }
    for (int64_t k = 0; k < count; k++)
        store_scalar(out[0].data, to, k, load_scalar(in[0].data, from, k));
    return UNET_OK;
}

unet_status cast_build(plan_t *p, const node_t *n)
{
    if (n->in[0] < 0)
        return unet_set_error(UNET_ERR_INVALID, "input 0 is missing");
    const ptensor *x = &p->t[n->in[0]];
    int to = cast_target(n), from = x->dtype;
    if (!castable(from))
        return unet_set_error(UNET_ERR_UNSUPPORTED, "cast from %s is not supported", unet_dtype_name(from));
    int64_t dims[UNET_MAX_RANK];
    int rank = x->rank;
    memcpy(dims, x->dims, sizeof dims);
    if (to == from) {
        int src = -1;
        UNET_TRY(plan_as_plain(p, n->in[0], &src));
        UNET_TRY(plan_set_shape(p, n->out[0], to, rank, dims));
        return plan_alias(p, n->out[0], src);
    }
    UNET_TRY(plan_set_shape(p, n->out[0], to, rank, dims));
    return plan_add_plain(p, n, n->in, 1, n->out, 1, cast_run);
}

/* ---- Where ---- */

unet_status where_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n; (void)n_out;
    if (in[0].dtype != UNET_DTYPE_BOOL)
        return unet_set_error(UNET_ERR_INVALID, "condition is %s; bool expected", unet_dtype_name(in[0].dtype));
    if (in[1].dtype != in[2].dtype)
        return unet_set_error(UNET_ERR_INVALID, "X is %s and Y is %s; they must agree", unet_dtype_name(in[1].dtype), unet_dtype_name(in[2].dtype));
    UNET_TRY(known_size(in[1].dtype));
    out[0].dtype = in[1].dtype;
    return bc_shape(in, n_in, &out[0]);
}

unet_status where_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n; (void)n_out;
    bc_iter it;
    bc_init(&it, in, n_in, &out[0]);
    size_t esz = unet_dtype_size(out[0].dtype);
    int64_t total = view_numel(&out[0]);
    const uint8_t *c = in[0].data;
    char *dst = out[0].data;
    for (int64_t e = 0; e < total; e++, bc_next(&it)) {
        const tview *pick = c[it.off[0]] ? &in[1] : &in[2];
        int64_t at = c[it.off[0]] ? it.off[1] : it.off[2];
        memcpy(dst + (size_t)e * esz, (const char *)pick->data + (size_t)at * esz, esz);
    }
    return UNET_OK;
}

/* ---- Equal, Less, Greater, LessOrEqual, GreaterOrEqual ---- */

enum { CMP_EQ, CMP_LT, CMP_GT, CMP_LE, CMP_GE };

static int cmp_kind(const char *op)
{
    if (!strcmp(op, "Equal")) return CMP_EQ;
    if (!strcmp(op, "Less")) return CMP_LT;
    if (!strcmp(op, "Greater")) return CMP_GT;
    if (!strcmp(op, "LessOrEqual")) return CMP_LE;
    return CMP_GE;
}

/* Legacy (opset < 7) limited broadcasting with 'broadcast'/'axis' is refused;
 * without it the shapes are equal and numpy broadcasting gives the same. */
unet_status compare_check(const unet_model *m, const node_t *n)
{
    (void)m;
    if (n->opset < 7 && node_attr_int(n, "broadcast", 0) != 0)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "legacy 'broadcast' attribute (opset < 7)");
    return UNET_OK;
}

unet_status compare_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    if (in[0].dtype != in[1].dtype)
        return unet_set_error(UNET_ERR_INVALID, "inputs are %s and %s; they must agree", unet_dtype_name(in[0].dtype), unet_dtype_name(in[1].dtype));
    int ok = plain_number_type(in[0].dtype) || (in[0].dtype == UNET_DTYPE_BOOL && cmp_kind(n->op_type) == CMP_EQ);
    if (!ok)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s of %s tensors is not supported", n->op_type, unet_dtype_name(in[0].dtype));
    out[0].dtype = UNET_DTYPE_BOOL;
    return bc_shape(in, n_in, &out[0]);
}

/* -1, 0, 1 for less, equal, greater; 2 when unordered (NaN). */
#define CMP_AS(T) { T x = ((const T *)a)[i], y = ((const T *)b)[j]; return x < y ? -1 : x > y ? 1 : x == y ? 0 : 2; }
static int compare_at(const void *a, int64_t i, const void *b, int64_t j, int dtype)
{
    switch (dtype) {
    case UNET_DTYPE_FLOAT: CMP_AS(float)
    case UNET_DTYPE_DOUBLE: CMP_AS(double)
    case UNET_DTYPE_INT8: CMP_AS(int8_t)
    case UNET_DTYPE_INT16: CMP_AS(int16_t)
    case UNET_DTYPE_INT32: CMP_AS(int32_t)
    case UNET_DTYPE_INT64: CMP_AS(int64_t)
    case UNET_DTYPE_UINT16: CMP_AS(uint16_t)
    case UNET_DTYPE_UINT32: CMP_AS(uint32_t)
    case UNET_DTYPE_UINT64: CMP_AS(uint64_t)
    default: CMP_AS(uint8_t) /* uint8, bool */
    }
}

unet_status compare_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    int kind = cmp_kind(n->op_type);
    bc_iter it;
    bc_init(&it, in, n_in, &out[0]);
    int64_t total = view_numel(&out[0]);
    uint8_t *dst = out[0].data;
    for (int64_t e = 0; e < total; e++, bc_next(&it)) {
        int c = compare_at(in[0].data, it.off[0], in[1].data, it.off[1], in[0].dtype);
        int r;
        switch (kind) {
        case CMP_EQ: r = c == 0; break;
        case CMP_LT: r = c == -1; break;
        case CMP_GT: r = c == 1; break;
        case CMP_LE: r = c == -1 || c == 0; break;
        default: r = c == 1 || c == 0; break;
        }
        dst[e] = (uint8_t)r;
    }
    return UNET_OK;
}

/* ---- Not, And, Or, Xor ---- */

unet_status logical_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    for (int i = 0; i < n_in; i++)
        if (in[i].dtype != UNET_DTYPE_BOOL)
            return unet_set_error(UNET_ERR_INVALID, "%s input %d is %s; bool expected", n->op_type, i, unet_dtype_name(in[i].dtype));
    out[0].dtype = UNET_DTYPE_BOOL;
    return bc_shape(in, n_in, &out[0]);
}

unet_status logical_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    bc_iter it;
    bc_init(&it, in, n_in, &out[0]);
    int64_t total = view_numel(&out[0]);
    uint8_t *dst = out[0].data;
    const uint8_t *a = in[0].data, *b = n_in > 1 ? in[1].data : NULL;
    char op = n->op_type[0]; /* N(ot), A(nd), O(r), X(or) */
    for (int64_t e = 0; e < total; e++, bc_next(&it)) {
        int x = a[it.off[0]] != 0, y = b ? b[it.off[1]] != 0 : 0;
        dst[e] = (uint8_t)(op == 'N' ? !x : op == 'A' ? (x && y) : op == 'O' ? (x || y) : (x != y));
    }
    return UNET_OK;
}
