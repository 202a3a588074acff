/* InstanceNormalization, LayerNormalization, Hardmax, Mean and the element-wise
 * functions oneDNN's eltwise lacks or that are rare in segmentation nets
 * (HardSigmoid, Reciprocal, Floor, Ceil, Round, Sign, Sin, Cos, Erf,
 * ThresholdedRelu, Selu, Celu, Mish, Softsign): plain kernels on dense
 * row-major float32 data; statistics accumulate in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../ops.h"

static int64_t numel_of(const tview *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++)
        n *= t->dims[d];
    return n;
}

static unet_status require_float(const node_t *n, const tview *t, const char *what)
{
    if (t->dtype != UNET_DTYPE_FLOAT)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s: %s is %s; only float32 is supported", n->op_type, what, unet_dtype_name(t->dtype));
    return UNET_OK;
}

/* Element-wise functions */

enum {
    U_HARDSIGMOID, U_RECIPROCAL, U_FLOOR, U_CEIL, U_ROUND, U_SIGN, U_SIN, U_COS, U_ERF,
    U_THRESHOLDED_RELU, U_SELU, U_CELU, U_MISH, U_SOFTSIGN
};

static const struct {
    const char *op;
    int kind;
} UNARY[] = {
    { "HardSigmoid", U_HARDSIGMOID }, { "Reciprocal", U_RECIPROCAL }, { "Floor", U_FLOOR },
    { "Ceil", U_CEIL }, { "Round", U_ROUND }, { "Sign", U_SIGN }, { "Sin", U_SIN },
    { "Cos", U_COS }, { "Erf", U_ERF }, { "ThresholdedRelu", U_THRESHOLDED_RELU },
    { "Selu", U_SELU }, { "Celu", U_CELU }, { "Mish", U_MISH }, { "Softsign", U_SOFTSIGN },
};

static int unary_kind(const char *op)
{
    for (size_t i = 0; i < sizeof UNARY / sizeof *UNARY; i++)
        if (!strcmp(UNARY[i].op, op))
            return UNARY[i].kind;
    return -1;
}

/* Round half to even, independent of the floating-point rounding mode. */
static float round_half_even(float x)
{
    float r = roundf(x); /* half away from zero */
    if (fabsf(x - truncf(x)) == 0.5f)
        r = 2.0f * roundf(x * 0.5f);
    return r;
}

unet_status unary_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_in;
    (void)n_out;
    UNET_TRY(require_float(n, &in[0], "input"));
    out[0] = in[0];
    out[0].data = NULL;
    return UNET_OK;
}

unet_status unary_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_in;
    (void)n_out;
    const float *x = in[0].data;
    float *y = out[0].data;
    int64_t total = numel_of(&in[0]);
    switch (unary_kind(n->op_type)) {
    case U_HARDSIGMOID: {
        float a = node_attr_float(n, "alpha", 0.2f), b = node_attr_float(n, "beta", 0.5f);
        for (int64_t i = 0; i < total; i++) {
            float v = a * x[i] + b;
            y[i] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
        }
        break;
    }
    case U_RECIPROCAL:
        for (int64_t i = 0; i < total; i++)
            y[i] = 1.0f / x[i];
        break;
    case U_FLOOR:
        for (int64_t i = 0; i < total; i++)
            y[i] = floorf(x[i]);
        break;
    case U_CEIL:
        for (int64_t i = 0; i < total; i++)
            y[i] = ceilf(x[i]);
        break;
    case U_ROUND:
        for (int64_t i = 0; i < total; i++)
            y[i] = round_half_even(x[i]);
        break;
    case U_SIGN:
        for (int64_t i = 0; i < total; i++)
            y[i] = x[i] > 0.0f ? 1.0f : x[i] < 0.0f ? -1.0f : x[i]; /* keeps 0 and NaN */
        break;
    case U_SIN:
        for (int64_t i = 0; i < total; i++)
            y[i] = sinf(x[i]);
        break;
    case U_COS:
        for (int64_t i = 0; i < total; i++)
            y[i] = cosf(x[i]);
        break;
    case U_ERF:
        for (int64_t i = 0; i < total; i++)
            y[i] = erff(x[i]);
        break;
    case U_THRESHOLDED_RELU: {
        float a = node_attr_float(n, "alpha", 1.0f);
        for (int64_t i = 0; i < total; i++)
            y[i] = x[i] > a ? x[i] : 0.0f;
        break;
    }
    case U_SELU: {
        double a = node_attr_float(n, "alpha", 1.67326319217681884765625f);
        double g = node_attr_float(n, "gamma", 1.05070102214813232421875f);
        for (int64_t i = 0; i < total; i++)
            y[i] = (float)(x[i] > 0.0f ? g * x[i] : g * a * expm1((double)x[i]));
        break;
    }
    case U_CELU: {
        double a = node_attr_float(n, "alpha", 1.0f);
        if (a == 0.0)
            return unet_set_error(UNET_ERR_INVALID, "Celu alpha must not be 0");
        for (int64_t i = 0; i < total; i++)
            y[i] = (float)(x[i] > 0.0f ? x[i] : a * expm1(x[i] / a));
        break;
    }
    case U_MISH:
        for (int64_t i = 0; i < total; i++) {
            double v = x[i];
            double sp = v > 20.0 ? v : log1p(exp(v)); /* softplus without overflow */
            y[i] = (float)(v * tanh(sp));
        }
        break;
    case U_SOFTSIGN:
        for (int64_t i = 0; i < total; i++)
            y[i] = x[i] / (1.0f + fabsf(x[i]));
        break;
    default:
        return unet_set_error(UNET_ERR_UNSUPPORTED, "no element-wise kernel for %s", n->op_type);
    }
    return UNET_OK;
}

/* Mean: variadic with numpy broadcasting (from opset 8; equal shapes before). */

unet_status mean_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    int rank = 0;
    for (int i = 0; i < n_in; i++) {
        if (n->in[i] < 0)
            return unet_set_error(UNET_ERR_INVALID, "input %d is missing", i);
        UNET_TRY(require_float(n, &in[i], "an input"));
        if (in[i].rank > rank)
            rank = in[i].rank;
    }
    out[0].dtype = UNET_DTYPE_FLOAT;
    out[0].rank = rank;
    for (int d = 0; d < rank; d++) {
        int64_t dim = 1;
        for (int i = 0; i < n_in; i++) {
            int k = d - (rank - in[i].rank);
            if (k < 0 || in[i].dims[k] == dim || in[i].dims[k] == 1)
                continue;
            if (dim != 1)
                return unet_set_error(UNET_ERR_SHAPE, "shapes do not broadcast: dimension %d is %lld in one input and %lld in another", d, (long long)dim, (long long)in[i].dims[k]);
            dim = in[i].dims[k];
        }
        out[0].dims[d] = dim;
    }
    return UNET_OK;
}

unet_status mean_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n;
    (void)n_out;
    int rank = out[0].rank;
    int64_t total = numel_of(&out[0]);
    float *y = out[0].data;
    for (int64_t e = 0; e < total; e++)
        y[e] = 0.0f;
    for (int i = 0; i < n_in; i++) {
        /* Broadcast strides of input i over the output's index space. */
        int64_t stride[UNET_MAX_RANK], idx[UNET_MAX_RANK] = { 0 }, off = 0, s = 1;
        for (int d = rank - 1; d >= 0; d--) {
            int k = d - (rank - in[i].rank);
            int64_t dim = k >= 0 ? in[i].dims[k] : 1;
            stride[d] = dim == 1 ? 0 : s;
            s *= dim;
        }
        const float *x = in[i].data;
        for (int64_t e = 0; e < total; e++) {
            y[e] += x[off];
            for (int d = rank - 1; d >= 0; d--) {
                off += stride[d];
                if (++idx[d] < out[0].dims[d])
                    break;
                off -= stride[d] * idx[d];
                idx[d] = 0;
            }
        }
    }
    for (int64_t e = 0; e < total; e++)
        y[e] /= (float)n_in;
    return UNET_OK;
}

/* Hardmax: 1 at the first maximum along the axis, 0 elsewhere. Before opset 13
 * the input is coerced to 2-D at axis (default 1); from 13 it is one axis
 * (default -1). */

static unet_status hardmax_axis(const node_t *n, const tview *x, int64_t *outer, int64_t *len, int64_t *inner)
{
    int rank = x->rank;
    int old = n->opset < 13;
    int64_t axis = node_attr_int(n, "axis", old ? 1 : -1);
    if (axis < -rank || axis >= (rank ? rank : 1))
        return unet_set_error(UNET_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis, rank);
    if (axis < 0)
        axis += rank;
    *outer = 1;
    *len = 1;
    *inner = 1;
    for (int d = 0; d < rank; d++) {
        if (d < axis)
            *outer *= x->dims[d];
        else if (d == axis || old)
            *len *= x->dims[d];
        else
            *inner *= x->dims[d];
    }
    return UNET_OK;
}

unet_status hardmax_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_in;
    (void)n_out;
    UNET_TRY(require_float(n, &in[0], "input"));
    int64_t o = 0, l = 0, i = 0;
    UNET_TRY(hardmax_axis(n, &in[0], &o, &l, &i));
    out[0] = in[0];
    out[0].data = NULL;
    return UNET_OK;
}

unet_status hardmax_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_in;
    (void)n_out;
    int64_t outer = 0, len = 0, inner = 0;
    UNET_TRY(hardmax_axis(n, &in[0], &outer, &len, &inner));
    const float *x = in[0].data;
    float *y = out[0].data;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * len * inner + i, best = 0;
            for (int64_t k = 0; k < len; k++) {
                y[base + k * inner] = 0.0f;
                if (x[base + k * inner] > x[base + best * inner])
                    best = k;
            }
            if (len > 0)
                y[base + best * inner] = 1.0f;
        }
    }
    return UNET_OK;
}

/* InstanceNormalization: per (n, c) over the spatial axes. */

unet_status instancenorm_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_in;
    (void)n_out;
    for (int i = 0; i < 3; i++)
        UNET_TRY(require_float(n, &in[i], i == 0 ? "input" : i == 1 ? "scale" : "B"));
    if (in[0].rank < 2)
        return unet_set_error(UNET_ERR_SHAPE, "input has rank %d, expected at least 2 (N, C, ...)", in[0].rank);
    int64_t c = in[0].dims[1];
    for (int i = 1; i < 3; i++)
        if (in[i].rank != 1 || in[i].dims[0] != c)
            return unet_set_error(UNET_ERR_SHAPE, "%s must have shape [%lld]", i == 1 ? "scale" : "B", (long long)c);
    out[0] = in[0];
    out[0].data = NULL;
    return UNET_OK;
}

unet_status instancenorm_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_in;
    (void)n_out;
    double eps = node_attr_float(n, "epsilon", 1e-5f);
    int64_t batch = in[0].dims[0], ch = in[0].dims[1], sp = 1;
    for (int d = 2; d < in[0].rank; d++)
        sp *= in[0].dims[d];
    const float *x = in[0].data, *scale = in[1].data, *bias = in[2].data;
    float *y = out[0].data;
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t c = 0; c < ch; c++) {
            const float *xs = x + (b * ch + c) * sp;
            float *ys = y + (b * ch + c) * sp;
            double sum = 0.0, sq = 0.0;
            for (int64_t i = 0; i < sp; i++)
                sum += xs[i];
            double mean = sp ? sum / (double)sp : 0.0;
            for (int64_t i = 0; i < sp; i++)
                sq += (xs[i] - mean) * (xs[i] - mean);
            double inv = 1.0 / sqrt((sp ? sq / (double)sp : 0.0) + eps);
            double k = scale[c] * inv;
            for (int64_t i = 0; i < sp; i++)
                ys[i] = (float)((xs[i] - mean) * k + bias[c]);
        }
    }
    return UNET_OK;
}

/* LayerNormalization (opset 17): statistics over the axes from `axis` on;
 * Scale and B broadcast onto those axes; optional Mean and InvStdDev outputs
 * have the input's shape with 1 on the normalised axes. */

static unet_status layernorm_axis(const node_t *n, int rank, int *axis)
{
    int64_t a = node_attr_int(n, "axis", -1);
    if (a < -rank || a >= rank)
        return unet_set_error(UNET_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)a, rank);
    *axis = (int)(a < 0 ? a + rank : a);
    return UNET_OK;
}

/* Broadcast strides of a parameter of the normalised shape x.dims[axis:]. */
static unet_status param_strides(const node_t *n, const tview *x, int axis, const tview *p,
                                 const char *what, int64_t *stride)
{
    int nr = x->rank - axis;
    if (p->rank > nr)
        return unet_set_error(UNET_ERR_SHAPE, "%s: %s has rank %d, more than the %d normalised axes", n->op_type, what, p->rank, nr);
    int64_t s = 1;
    for (int d = nr - 1; d >= 0; d--) {
        int k = d - (nr - p->rank);
        int64_t dim = k >= 0 ? p->dims[k] : 1;
        if (dim != 1 && dim != x->dims[axis + d])
            return unet_set_error(UNET_ERR_SHAPE, "%s: %s dimension %d is %lld, expected 1 or %lld", n->op_type, what, k, (long long)dim, (long long)x->dims[axis + d]);
        stride[d] = dim == 1 ? 0 : s;
        s *= dim;
    }
    return UNET_OK;
}

unet_status layernorm_check(const unet_model *m, const node_t *n)
{
    (void)m;
    int64_t stash = node_attr_int(n, "stash_type", 1);
    if (stash != 1)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "stash_type %lld (only 1, float32, is supported)", (long long)stash);
    return UNET_OK;
}

unet_status layernorm_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    UNET_TRY(require_float(n, &in[0], "X"));
    UNET_TRY(require_float(n, &in[1], "Scale"));
    if (n_in > 2 && n->in[2] >= 0)
        UNET_TRY(require_float(n, &in[2], "B"));
    int axis = 0;
    UNET_TRY(layernorm_axis(n, in[0].rank, &axis));
    int64_t stride[UNET_MAX_RANK];
    UNET_TRY(param_strides(n, &in[0], axis, &in[1], "Scale", stride));
    if (n_in > 2 && n->in[2] >= 0)
        UNET_TRY(param_strides(n, &in[0], axis, &in[2], "B", stride));
    out[0] = in[0];
    out[0].data = NULL;
    for (int o = 1; o < n_out; o++) {
        out[o] = in[0];
        out[o].data = NULL;
        for (int d = axis; d < in[0].rank; d++)
            out[o].dims[d] = 1;
    }
    return UNET_OK;
}

unet_status layernorm_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    int axis = 0;
    UNET_TRY(layernorm_axis(n, in[0].rank, &axis));
    int nr = in[0].rank - axis;
    int64_t sstride[UNET_MAX_RANK], bstride[UNET_MAX_RANK];
    int has_b = n_in > 2 && n->in[2] >= 0;
    UNET_TRY(param_strides(n, &in[0], axis, &in[1], "Scale", sstride));
    if (has_b)
        UNET_TRY(param_strides(n, &in[0], axis, &in[2], "B", bstride));
    double eps = node_attr_float(n, "epsilon", 1e-5f);
    int64_t outer = 1, len = 1;
    for (int d = 0; d < axis; d++)
        outer *= in[0].dims[d];
    for (int d = axis; d < in[0].rank; d++)
        len *= in[0].dims[d];
    const float *x = in[0].data, *scale = in[1].data, *bias = has_b ? in[2].data : NULL;
    float *y = out[0].data;
    /* Optional outputs: the node's ids say which were asked for. */
    float *mean_out = n_out > 1 && n->out[1] >= 0 ? out[1].data : NULL;
    float *inv_out = n_out > 2 && n->out[2] >= 0 ? out[2].data : NULL;
    for (int64_t o = 0; o < outer; o++) {
        const float *xr = x + o * len;
        float *yr = y + o * len;
        double sum = 0.0, sq = 0.0;
        for (int64_t i = 0; i < len; i++)
            sum += xr[i];
        double mean = len ? sum / (double)len : 0.0;
        for (int64_t i = 0; i < len; i++)
            sq += (xr[i] - mean) * (xr[i] - mean);
        double inv = 1.0 / sqrt((len ? sq / (double)len : 0.0) + eps);
        int64_t idx[UNET_MAX_RANK] = { 0 }, so = 0, bo = 0;
        for (int64_t i = 0; i < len; i++) {
            double v = (xr[i] - mean) * inv * scale[so];
            if (bias)
                v += bias[bo];
            yr[i] = (float)v;
            for (int d = nr - 1; d >= 0; d--) {
                so += sstride[d];
                if (bias)
                    bo += bstride[d];
                if (++idx[d] < in[0].dims[axis + d])
                    break;
                so -= sstride[d] * idx[d];
                if (bias)
                    bo -= bstride[d] * idx[d];
                idx[d] = 0;
            }
        }
        if (mean_out)
            mean_out[o] = (float)mean;
        if (inv_out)
            inv_out[o] = (float)inv;
    }
    return UNET_OK;
}
