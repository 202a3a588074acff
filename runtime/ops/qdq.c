/* QuantizeLinear and DequantizeLinear (opsets 10 and 13): the QDQ form in
 * which quantised ONNX models carry their int8 arithmetic. Plain kernels on
 * dense row-major data: per tensor (a scalar or one-element scale) or, from
 * opset 13, per axis (a 1-D scale along `axis`). Dequantising a constant (the
 * int8 weights of a QDQ model) folds at plan time into float32 weights, so a
 * QDQ model runs in float32 wherever no int8 kernel takes over its pattern. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../error.h"
#include "../ops.h"
#include "conv_int8.h"
#include "ops_decl.h"

static int64_t numel_of(const tview *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++)
        n *= t->dims[d];
    return n;
}

/* How the scale (and zero point) apply: count = 1 per tensor, else along axis
 * with inner = product of the dims after it. */
typedef struct qdq_layout {
    int64_t count, inner;
} qdq_layout;

static unet_status layout_of(const node_t *n, const tview *x, const tview *scale, const tview *zp,
                             qdq_layout *l)
{
    if (scale->dtype != UNET_DTYPE_FLOAT)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s: the scale is %s; only float32 scales are supported", n->op_type, unet_dtype_name(scale->dtype));
    int64_t k = numel_of(scale);
    if (scale->rank > 1 || k < 1)
        return unet_set_error(UNET_ERR_SHAPE, "%s: the scale must be a scalar or a 1-D tensor, got rank %d with %lld values", n->op_type, scale->rank, (long long)k);
    if (zp && zp->rank >= 0 && zp->dtype != UNET_DTYPE_UNDEFINED && numel_of(zp) != k)
        return unet_set_error(UNET_ERR_SHAPE, "%s: the zero point has %lld values, the scale %lld", n->op_type, (long long)numel_of(zp), (long long)k);
    l->count = 1;
    l->inner = 1;
    if (k == 1)
        return UNET_OK; /* a scalar, or one value along an axis: the same arithmetic */
    if (n->opset < 13)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s opset %d: a per-axis scale needs opset 13", n->op_type, n->opset);
    int64_t axis = node_attr_int(n, "axis", 1);
    if (axis < 0)
        axis += x->rank;
    if (axis < 0 || axis >= x->rank)
        return unet_set_error(UNET_ERR_INVALID, "%s: axis %lld is outside the input's rank %d", n->op_type, (long long)node_attr_int(n, "axis", 1), x->rank);
    if (x->dims[axis] != k)
        return unet_set_error(UNET_ERR_SHAPE, "%s: %lld scales for axis %lld of size %lld", n->op_type, (long long)k, (long long)axis, (long long)x->dims[axis]);
    l->count = k;
    for (int d = (int)axis + 1; d < x->rank; d++)
        l->inner *= x->dims[d];
    return UNET_OK;
}

static int zp_given(const tview *in, int n_in) { return n_in > 2 && in[2].dtype != UNET_DTYPE_UNDEFINED; }

unet_status quantize_linear_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    if (in[0].dtype != UNET_DTYPE_FLOAT)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "QuantizeLinear: the input is %s; only float32 is supported", unet_dtype_name(in[0].dtype));
    int dt = zp_given(in, n_in) ? in[2].dtype : UNET_DTYPE_UINT8;
    if (dt != UNET_DTYPE_UINT8 && dt != UNET_DTYPE_INT8)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "QuantizeLinear: the zero point is %s; expected uint8 or int8", unet_dtype_name(dt));
    qdq_layout l;
    UNET_TRY(layout_of(n, &in[0], &in[1], zp_given(in, n_in) ? &in[2] : NULL, &l));
    out[0] = in[0];
    out[0].dtype = dt;
    out[0].data = NULL;
    return UNET_OK;
}

unet_status quantize_linear_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    qdq_layout l;
    const int has_zp = zp_given(in, n_in);
    UNET_TRY(layout_of(n, &in[0], &in[1], has_zp ? &in[2] : NULL, &l));
    const float *x = in[0].data, *scale = in[1].data;
    const int is_u8 = out[0].dtype == UNET_DTYPE_UINT8;
    const float lo = is_u8 ? 0.0f : -128.0f, hi = is_u8 ? 255.0f : 127.0f;
    const int64_t total = numel_of(&in[0]);
    for (int64_t i = 0; i < total; i++) {
        int64_t c = l.count > 1 ? (i / l.inner) % l.count : 0;
        float zp = 0.0f;
        if (has_zp)
            zp = is_u8 ? (float)((const uint8_t *)in[2].data)[c] : (float)((const int8_t *)in[2].data)[c];
        /* nearbyintf rounds half to even in the default rounding mode, as the spec asks */
        float q = nearbyintf(x[i] / scale[c]) + zp;
        q = q < lo ? lo : q > hi ? hi : q;
        if (q != q)
            q = zp; /* NaN input: no defined result; keep it finite */
        if (is_u8)
            ((uint8_t *)out[0].data)[i] = (uint8_t)q;
        else
            ((int8_t *)out[0].data)[i] = (int8_t)q;
    }
    return UNET_OK;
}

unet_status dequantize_linear_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    int dt = in[0].dtype;
    if (dt != UNET_DTYPE_UINT8 && dt != UNET_DTYPE_INT8 && dt != UNET_DTYPE_INT32)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "DequantizeLinear: the input is %s; expected uint8, int8 or int32", unet_dtype_name(dt));
    if (zp_given(in, n_in) && in[2].dtype != dt)
        return unet_set_error(UNET_ERR_INVALID, "DequantizeLinear: the zero point is %s, the input %s", unet_dtype_name(in[2].dtype), unet_dtype_name(dt));
    qdq_layout l;
    UNET_TRY(layout_of(n, &in[0], &in[1], zp_given(in, n_in) ? &in[2] : NULL, &l));
    out[0] = in[0];
    out[0].dtype = UNET_DTYPE_FLOAT;
    out[0].data = NULL;
    return UNET_OK;
}

static double element_at(const tview *t, int64_t i)
{
    switch (t->dtype) {
    case UNET_DTYPE_UINT8: return ((const uint8_t *)t->data)[i];
    case UNET_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    default: return ((const int32_t *)t->data)[i];
    }
}

unet_status dequantize_linear_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    qdq_layout l;
    const int has_zp = zp_given(in, n_in);
    UNET_TRY(layout_of(n, &in[0], &in[1], has_zp ? &in[2] : NULL, &l));
    const float *scale = in[1].data;
    float *y = out[0].data;
    const int64_t total = numel_of(&in[0]);
    for (int64_t i = 0; i < total; i++) {
        int64_t c = l.count > 1 ? (i / l.inner) % l.count : 0;
        double zp = has_zp ? element_at(&in[2], c) : 0.0;
        y[i] = (float)((element_at(&in[0], i) - zp) * scale[c]);
    }
    return UNET_OK;
}

/* A DequantizeLinear that the QDQ pass gave its QuantizeLinear's input
 * (node_t.qdq): quantise and dequantise in the input's layout (two oneDNN
 * reorders); any other one runs as the plain kernel. */
unet_status dequantize_linear_build(plan_t *p, const node_t *n)
{
    if (!n->qdq || n->in[0] < 0 || !p->t[n->in[0]].has_md || p->t[n->in[0]].is_const ||
        p->t[n->in[0]].dtype != UNET_DTYPE_FLOAT) {
        if (n->qdq)
            return unet_set_error(UNET_ERR_UNSUPPORTED, "the quantised value must be a computed float32 tensor");
        return op_build_plain(p, n);
    }
    int x = n->in[0], y = n->out[0];
    UNET_TRY(plan_set_shape(p, y, UNET_DTYPE_FLOAT, p->t[x].rank, p->t[x].dims));
    UNET_TRY(conv_int8_fake_quantized_input(p, n, &x));
    plan_set_md(p, y, &p->t[x].md);
    return plan_alias(p, y, x);
}
