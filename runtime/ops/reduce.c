/* ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceSumSquare,
 * ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp, ArgMax, ArgMin: plain
 * kernels on dense row-major data. Axes come from the attribute, or from the
 * second input (ReduceSum from opset 13, every reduction from 18), which must
 * then be a constant; float reductions accumulate in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../ops.h"

enum { RED_SUM, RED_MEAN, RED_MAX, RED_MIN, RED_PROD, RED_SUMSQ, RED_L1, RED_L2, RED_LOGSUM, RED_LOGSUMEXP };

static const struct {
    const char *op;
    int kind;
} REDUCTIONS[] = {
    { "ReduceSum", RED_SUM }, { "ReduceMean", RED_MEAN }, { "ReduceMax", RED_MAX },
    { "ReduceMin", RED_MIN }, { "ReduceProd", RED_PROD }, { "ReduceSumSquare", RED_SUMSQ },
    { "ReduceL1", RED_L1 }, { "ReduceL2", RED_L2 }, { "ReduceLogSum", RED_LOGSUM },
    { "ReduceLogSumExp", RED_LOGSUMEXP },
};

static int reduce_kind(const char *op)
{
    for (size_t i = 0; i < sizeof REDUCTIONS / sizeof *REDUCTIONS; i++)
        if (!strcmp(REDUCTIONS[i].op, op))
            return REDUCTIONS[i].kind;
    return RED_SUM;
}

/* Which axes of a rank-`rank` input are reduced (mask[d] = 1); *noop is set when
 * the axes are empty and noop_with_empty_axes asks for the identity. */
static unet_status reduce_axes(const node_t *n, const tview *in, int n_in, int rank, int *mask, int *noop)
{
    int64_t axes[UNET_MAX_RANK];
    int count = -1;
    *noop = 0;
    if (n_in > 1 && n->in[1] >= 0) {
        const tview *a = &in[1];
        if (a->dtype != UNET_DTYPE_INT64)
            return unet_set_error(UNET_ERR_INVALID, "axes input is %s, expected int64", unet_dtype_name(a->dtype));
        if (a->rank != 1)
            return unet_set_error(UNET_ERR_INVALID, "axes input has rank %d, expected 1", a->rank);
        if (a->dims[0] > rank)
            return unet_set_error(UNET_ERR_INVALID, "axes input has %lld entries for an input of rank %d", (long long)a->dims[0], rank);
        if (a->dims[0] > 0 && !a->data)
            return unet_set_error(UNET_ERR_UNSUPPORTED, "axes input is not a constant (computed at run time); only constant axes are supported");
        count = (int)a->dims[0];
        for (int i = 0; i < count; i++)
            axes[i] = ((const int64_t *)a->data)[i];
    } else {
        count = node_attr_ints(n, "axes", axes, UNET_MAX_RANK);
        if (count > rank)
            return unet_set_error(UNET_ERR_INVALID, "axes has %d entries for an input of rank %d", count, rank);
    }
    for (int d = 0; d < rank; d++)
        mask[d] = count <= 0;
    if (count <= 0) {
        *noop = node_attr_int(n, "noop_with_empty_axes", 0) != 0;
        if (*noop)
            for (int d = 0; d < rank; d++)
                mask[d] = 0;
        return UNET_OK;
    }
    for (int i = 0; i < count; i++) {
        int64_t a = axes[i];
        if (a < -rank || a >= rank)
            return unet_set_error(UNET_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)a, rank);
        if (a < 0)
            a += rank;
        if (mask[a])
            return unet_set_error(UNET_ERR_INVALID, "axis %lld is given twice", (long long)axes[i]);
        mask[a] = 1;
    }
    return UNET_OK;
}

static int supported_type(int dtype)
{
    return dtype == UNET_DTYPE_FLOAT || dtype == UNET_DTYPE_DOUBLE || dtype == UNET_DTYPE_INT64 ||
           dtype == UNET_DTYPE_INT32;
}

static unet_status reduce_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    int kind = reduce_kind(n->op_type);
    if (!supported_type(in[0].dtype))
        return unet_set_error(UNET_ERR_UNSUPPORTED, "input is %s; float32, float64, int32 and int64 are supported", unet_dtype_name(in[0].dtype));
    int is_float = in[0].dtype == UNET_DTYPE_FLOAT || in[0].dtype == UNET_DTYPE_DOUBLE;
    if (!is_float && kind != RED_SUM && kind != RED_MAX && kind != RED_MIN &&
        kind != RED_PROD && kind != RED_SUMSQ && kind != RED_L1)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s on %s is not supported", n->op_type, unet_dtype_name(in[0].dtype));
    int mask[UNET_MAX_RANK], noop;
    UNET_TRY(reduce_axes(n, in, n_in, in[0].rank, mask, &noop));
    int keep = node_attr_int(n, "keepdims", 1) != 0;
    out[0].dtype = in[0].dtype;
    out[0].rank = 0;
    for (int d = 0; d < in[0].rank; d++) {
        if (!mask[d])
            out[0].dims[out[0].rank++] = in[0].dims[d];
        else if (keep)
            out[0].dims[out[0].rank++] = 1;
    }
    return UNET_OK;
}

/* Output offset strides of the input's axes (0 on reduced axes). */
static void reduced_strides(const tview *x, const int *mask, int64_t *ostride)
{
    int64_t s = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        ostride[d] = mask[d] ? 0 : s;
        if (!mask[d])
            s *= x->dims[d];
    }
}

static int64_t numel_of(const tview *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++)
        n *= t->dims[d];
    return n;
}

/* Calls the accumulation for every input element with its output offset. */
#define FOR_EACH_INPUT(x, ostride, BODY)                                  \
    do {                                                                  \
        int64_t idx_[UNET_MAX_RANK] = { 0 };                              \
        int64_t o = 0;                                                    \
        int64_t total_ = numel_of(x);                                     \
        for (int64_t i = 0; i < total_; i++) {                            \
            BODY;                                                         \
            for (int d_ = (x)->rank - 1; d_ >= 0; d_--) {                 \
                o += (ostride)[d_];                                       \
                if (++idx_[d_] < (x)->dims[d_])                           \
                    break;                                                \
                o -= (ostride)[d_] * idx_[d_];                            \
                idx_[d_] = 0;                                             \
            }                                                             \
        }                                                                 \
    } while (0)

/* float32 and float64 inputs; XF reads element i as double. */
static unet_status reduce_float(int kind, const tview *x, const int *mask, tview *out, int64_t n_out)
{
    const float *xf = x->data;
    const double *xdb = x->data;
    int is_double = x->dtype == UNET_DTYPE_DOUBLE;
#define XF (is_double ? xdb[i] : (double)xf[i])
    int64_t ostride[UNET_MAX_RANK];
    reduced_strides(x, mask, ostride);
    int64_t count = 1;
    for (int d = 0; d < x->rank; d++)
        if (mask[d])
            count *= x->dims[d];
    double *acc = malloc((size_t)(n_out ? n_out : 1) * sizeof *acc);
    double *mx = kind == RED_LOGSUMEXP ? malloc((size_t)(n_out ? n_out : 1) * sizeof *mx) : NULL;
    if (!acc || (kind == RED_LOGSUMEXP && !mx)) {
        free(acc);
        free(mx);
        return unet_set_error(UNET_ERR_NOMEM, "out of memory for a reduction");
    }
    double init = kind == RED_MAX ? -INFINITY : kind == RED_MIN ? INFINITY : kind == RED_PROD ? 1.0 : 0.0;
    for (int64_t i = 0; i < n_out; i++)
        acc[i] = init;
    switch (kind) {
    case RED_SUM: case RED_MEAN: case RED_LOGSUM:
        FOR_EACH_INPUT(x, ostride, acc[o] += XF);
        break;
    case RED_MAX:
        FOR_EACH_INPUT(x, ostride, if (XF > acc[o] || isnan(XF)) acc[o] = XF);
        break;
    case RED_MIN:
        FOR_EACH_INPUT(x, ostride, if (XF < acc[o] || isnan(XF)) acc[o] = XF);
        break;
    case RED_PROD:
        FOR_EACH_INPUT(x, ostride, acc[o] *= XF);
        break;
    case RED_SUMSQ: case RED_L2:
        FOR_EACH_INPUT(x, ostride, acc[o] += XF * XF);
        break;
    case RED_L1:
        FOR_EACH_INPUT(x, ostride, acc[o] += fabs(XF));
        break;
    case RED_LOGSUMEXP:
        /* Shifted by the maximum so that large inputs do not overflow exp. */
        for (int64_t i = 0; i < n_out; i++)
            mx[i] = -INFINITY;
        FOR_EACH_INPUT(x, ostride, if (XF > mx[o]) mx[o] = XF);
        FOR_EACH_INPUT(x, ostride, acc[o] += isinf(mx[o]) ? exp(XF) : exp(XF - mx[o]));
        break;
    }
#undef XF
    for (int64_t i = 0; i < n_out; i++) {
        double v = acc[i];
        switch (kind) {
        case RED_MEAN: v = v / (double)count; break;
        case RED_L2: v = sqrt(v); break;
        case RED_LOGSUM: v = log(v); break;
        case RED_LOGSUMEXP: v = isinf(mx[i]) ? log(v) : mx[i] + log(v); break;
        default: break;
        }
        if (out->dtype == UNET_DTYPE_DOUBLE)
            ((double *)out->data)[i] = v;
        else
            ((float *)out->data)[i] = (float)v;
    }
    free(acc);
    free(mx);
    return UNET_OK;
}

/* Integer reductions (shape arithmetic): exact in int64. */
static unet_status reduce_int(int kind, const tview *x, const int *mask, tview *y, int64_t n_out)
{
    int64_t ostride[UNET_MAX_RANK];
    reduced_strides(x, mask, ostride);
    int64_t *acc = malloc((size_t)(n_out ? n_out : 1) * sizeof *acc);
    if (!acc)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory for a reduction");
    int64_t init = kind == RED_MAX ? INT64_MIN : kind == RED_MIN ? INT64_MAX : kind == RED_PROD ? 1 : 0;
    for (int64_t i = 0; i < n_out; i++)
        acc[i] = init;
    int is64 = x->dtype == UNET_DTYPE_INT64;
    const int64_t *x64 = x->data;
    const int32_t *x32 = x->data;
#define XV (is64 ? x64[i] : (int64_t)x32[i])
    switch (kind) {
    case RED_SUM: FOR_EACH_INPUT(x, ostride, acc[o] += XV); break;
    case RED_MAX: FOR_EACH_INPUT(x, ostride, if (XV > acc[o]) acc[o] = XV); break;
    case RED_MIN: FOR_EACH_INPUT(x, ostride, if (XV < acc[o]) acc[o] = XV); break;
    case RED_PROD: FOR_EACH_INPUT(x, ostride, acc[o] *= XV); break;
    case RED_SUMSQ: FOR_EACH_INPUT(x, ostride, acc[o] += XV * XV); break;
    case RED_L1: FOR_EACH_INPUT(x, ostride, acc[o] += XV < 0 ? -XV : XV); break;
    default: break;
    }
#undef XV
    for (int64_t i = 0; i < n_out; i++) {
        if (y->dtype == UNET_DTYPE_INT64)
            ((int64_t *)y->data)[i] = acc[i];
        else
            ((int32_t *)y->data)[i] = (int32_t)acc[i];
    }
    free(acc);
    return UNET_OK;
}

static unet_status reduce_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    int mask[UNET_MAX_RANK], noop;
    UNET_TRY(reduce_axes(n, in, n_in, in[0].rank, mask, &noop));
    int64_t n_y = numel_of(&out[0]);
    if (noop) {
        memcpy(out[0].data, in[0].data, (size_t)n_y * unet_dtype_size(in[0].dtype));
        return UNET_OK;
    }
    int kind = reduce_kind(n->op_type);
    if (in[0].dtype == UNET_DTYPE_FLOAT || in[0].dtype == UNET_DTYPE_DOUBLE)
        return reduce_float(kind, &in[0], mask, &out[0], n_y);
    return reduce_int(kind, &in[0], mask, &out[0], n_y);
}

/* ArgMax / ArgMin */

static int arg_axis(const node_t *n, int rank, int *axis)
{
    int64_t a = node_attr_int(n, "axis", 0);
    if (a < -rank || a >= rank)
        return 0;
    *axis = (int)(a < 0 ? a + rank : a);
    return 1;
}

static unet_status argmax_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_in;
    (void)n_out;
    if (!supported_type(in[0].dtype))
        return unet_set_error(UNET_ERR_UNSUPPORTED, "input is %s; float32, float64, int32 and int64 are supported", unet_dtype_name(in[0].dtype));
    int axis = 0;
    if (!arg_axis(n, in[0].rank, &axis))
        return unet_set_error(UNET_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)node_attr_int(n, "axis", 0), in[0].rank);
    if (in[0].dims[axis] == 0)
        return unet_set_error(UNET_ERR_SHAPE, "%s over an empty axis", n->op_type);
    int keep = node_attr_int(n, "keepdims", 1) != 0;
    out[0].dtype = UNET_DTYPE_INT64;
    out[0].rank = 0;
    for (int d = 0; d < in[0].rank; d++) {
        if (d != axis)
            out[0].dims[out[0].rank++] = in[0].dims[d];
        else if (keep)
            out[0].dims[out[0].rank++] = 1;
    }
    return UNET_OK;
}

static double load_value(const tview *t, int64_t i)
{
    switch (t->dtype) {
    case UNET_DTYPE_FLOAT: return ((const float *)t->data)[i];
    case UNET_DTYPE_DOUBLE: return ((const double *)t->data)[i];
    case UNET_DTYPE_INT64: return (double)((const int64_t *)t->data)[i];
    default: return ((const int32_t *)t->data)[i];
    }
}

static unet_status argmax_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_in;
    (void)n_out;
    int axis = 0;
    if (!arg_axis(n, in[0].rank, &axis))
        return unet_set_error(UNET_ERR_INVALID, "axis is out of range");
    int is_max = !strcmp(n->op_type, "ArgMax");
    int last = node_attr_int(n, "select_last_index", 0) != 0;
    int64_t outer = 1, inner = 1, len = in[0].dims[axis];
    for (int d = 0; d < axis; d++)
        outer *= in[0].dims[d];
    for (int d = axis + 1; d < in[0].rank; d++)
        inner *= in[0].dims[d];
    int64_t *y = out[0].data;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * len * inner + i, best = 0;
            double bv = load_value(&in[0], base);
            for (int64_t k = 1; k < len; k++) {
                double v = load_value(&in[0], base + k * inner);
                int better = is_max ? (last ? v >= bv : v > bv) : (last ? v <= bv : v < bv);
                if (better) {
                    bv = v;
                    best = k;
                }
            }
            y[o * inner + i] = best;
        }
    }
    return UNET_OK;
}

unet_status reduce_check(const unet_model *m, const node_t *n)
{
    (void)m;
    if (n->n_in > 1 && n->opset < 13)
        return unet_set_error(UNET_ERR_INVALID, "%s takes one input before opset 13", n->op_type);
    if (n->n_in > 1 && n->opset < 18 && strcmp(n->op_type, "ReduceSum"))
        return unet_set_error(UNET_ERR_INVALID, "%s takes axes as an attribute before opset 18", n->op_type);
    return UNET_OK;
}

unet_status reduce_shape_fn(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    if (!strncmp(n->op_type, "Arg", 3))
        return argmax_shape(n, in, n_in, out, n_out);
    return reduce_shape(n, in, n_in, out, n_out);
}

unet_status reduce_run_fn(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    if (!strncmp(n->op_type, "Arg", 3))
        return argmax_run(n, in, n_in, out, n_out);
    return reduce_run(n, in, n_in, out, n_out);
}
