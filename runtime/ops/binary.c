/* Add, Sub, Mul, Div, Pow, Max, Min, Sum, PRelu with numpy broadcasting: oneDNN
 * binary when both float inputs have the output's shape, a plain broadcasting
 * kernel otherwise (and for integer types, used in shape arithmetic). */
#include <math.h>
#include <string.h>

#include "../error.h"
#include "../ops.h"
#include "../plan_memory.h"
#include "broadcast.h"
#include "plain_inputs.h"

enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_POW, BIN_MAX, BIN_MIN, BIN_PRELU };

static int bin_kind(const char *op)
{
    if (!strcmp(op, "Add") || !strcmp(op, "Sum")) return BIN_ADD;
    if (!strcmp(op, "Sub")) return BIN_SUB;
    if (!strcmp(op, "Mul")) return BIN_MUL;
    if (!strcmp(op, "Div")) return BIN_DIV;
    if (!strcmp(op, "Pow")) return BIN_POW;
    if (!strcmp(op, "Max")) return BIN_MAX;
    if (!strcmp(op, "Min")) return BIN_MIN;
    return BIN_PRELU;
}

unet_status binary_check(const unet_model *m, const node_t *n)
{
    (void)m;
    if (n->opset < 7 && node_attr(n, "broadcast"))
        return unet_set_error(UNET_ERR_UNSUPPORTED, "legacy 'broadcast' attribute (opset < 7)");
    return UNET_OK;
}

static unet_status binary_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    for (int i = 0; i < n_in; i++)
        if (!plain_number_type(in[i].dtype))
            return unet_set_error(UNET_ERR_UNSUPPORTED, "input %d is %s; %s supports float32, float64 and integer types", i, unet_dtype_name(in[i].dtype), n->op_type);
    for (int i = 1; i < n_in; i++)
        if (in[i].dtype != in[0].dtype && bin_kind(n->op_type) != BIN_POW)
            return unet_set_error(UNET_ERR_SHAPE, "input %d is %s, input 0 is %s", i, unet_dtype_name(in[i].dtype), unet_dtype_name(in[0].dtype));
    out[0].dtype = in[0].dtype;
    return bc_shape(in, n_in, &out[0]);
}

static double load(const tview *t, int64_t i)
{
    switch (t->dtype) {
    case UNET_DTYPE_FLOAT: return ((const float *)t->data)[i];
    case UNET_DTYPE_DOUBLE: return ((const double *)t->data)[i];
    case UNET_DTYPE_INT64: return (double)((const int64_t *)t->data)[i];
    case UNET_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case UNET_DTYPE_INT16: return ((const int16_t *)t->data)[i];
    case UNET_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case UNET_DTYPE_UINT8: return ((const uint8_t *)t->data)[i];
    case UNET_DTYPE_UINT16: return ((const uint16_t *)t->data)[i];
    case UNET_DTYPE_UINT32: return ((const uint32_t *)t->data)[i];
    case UNET_DTYPE_UINT64: return (double)((const uint64_t *)t->data)[i];
    default: return 0.0; /* refused by binary_shape */
    }
}

/* A double as integer bits: truncated toward zero, wrapped like numpy for
 * negative values stored into unsigned types, never an undefined C cast. */
static uint64_t int_bits(double v)
{
    if (isnan(v))
        return 0;
    if (v >= 9223372036854775808.0)
        return v >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)v;
    if (v <= -9223372036854775808.0)
        return (uint64_t)INT64_MIN;
    return (uint64_t)(int64_t)v;
}

unet_status binary_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    int kind = bin_kind(n->op_type);
    int rank = out[0].rank;
    int64_t total = 1;
    for (int d = 0; d < rank; d++)
        total *= out[0].dims[d];
    int64_t strides[STEP_MAX_IO][UNET_MAX_RANK];
    for (int i = 0; i < n_in; i++) {
        int64_t s = 1;
        for (int d = rank - 1; d >= 0; d--) {
            int k = d - (rank - in[i].rank);
            int64_t dim = k >= 0 ? in[i].dims[k] : 1;
            strides[i][d] = dim == 1 ? 0 : s;
            s *= dim;
        }
    }
    int64_t idx[UNET_MAX_RANK] = { 0 };
    int64_t off[STEP_MAX_IO] = { 0 };
    int is_int = out[0].dtype != UNET_DTYPE_FLOAT && out[0].dtype != UNET_DTYPE_DOUBLE;
    for (int64_t e = 0; e < total; e++) {
        if (out[0].dtype == UNET_DTYPE_FLOAT && in[0].dtype == UNET_DTYPE_FLOAT && n_in == 2 && kind != BIN_POW) {
            float a = ((const float *)in[0].data)[off[0]], b = ((const float *)in[1].data)[off[1]], r;
            switch (kind) {
            case BIN_ADD: r = a + b; break;
            case BIN_SUB: r = a - b; break;
            case BIN_MUL: r = a * b; break;
            case BIN_DIV: r = a / b; break;
            case BIN_MAX: r = a > b ? a : b; break;
            case BIN_MIN: r = a < b ? a : b; break;
            default: r = a < 0 ? a * b : a; break;
            }
            ((float *)out[0].data)[e] = r;
        } else {
            double acc = load(&in[0], off[0]);
            for (int i = 1; i < n_in; i++) {
                double b = load(&in[i], off[i]);
                switch (kind) {
                case BIN_ADD: acc += b; break;
                case BIN_SUB: acc -= b; break;
                case BIN_MUL: acc *= b; break;
                case BIN_DIV:
                    if (is_int) {
                        if (b == 0)
                            return unet_set_error(UNET_ERR_INVALID, "integer division by zero");
                        acc = (double)((int64_t)acc / (int64_t)b);
                    } else {
                        acc /= b;
                    }
                    break;
                case BIN_POW: acc = pow(acc, b); break;
                case BIN_MAX: acc = acc > b ? acc : b; break;
                case BIN_MIN: acc = acc < b ? acc : b; break;
                default: acc = acc < 0 ? acc * b : acc; break;
                }
            }
            switch (out[0].dtype) {
            case UNET_DTYPE_FLOAT: ((float *)out[0].data)[e] = (float)acc; break;
            case UNET_DTYPE_DOUBLE: ((double *)out[0].data)[e] = acc; break;
            case UNET_DTYPE_INT64: ((int64_t *)out[0].data)[e] = (int64_t)int_bits(acc); break;
            case UNET_DTYPE_INT32: ((int32_t *)out[0].data)[e] = (int32_t)int_bits(acc); break;
            case UNET_DTYPE_INT16: ((int16_t *)out[0].data)[e] = (int16_t)int_bits(acc); break;
            case UNET_DTYPE_INT8: ((int8_t *)out[0].data)[e] = (int8_t)int_bits(acc); break;
            case UNET_DTYPE_UINT8: ((uint8_t *)out[0].data)[e] = (uint8_t)int_bits(acc); break;
            case UNET_DTYPE_UINT16: ((uint16_t *)out[0].data)[e] = (uint16_t)int_bits(acc); break;
            case UNET_DTYPE_UINT32: ((uint32_t *)out[0].data)[e] = (uint32_t)int_bits(acc); break;
            case UNET_DTYPE_UINT64: ((uint64_t *)out[0].data)[e] = int_bits(acc); break;
            default: return unet_set_error(UNET_ERR_UNSUPPORTED, "type %s", unet_dtype_name(out[0].dtype));
            }
        }
        for (int d = rank - 1; d >= 0; d--) {
            idx[d]++;
            for (int i = 0; i < n_in; i++)
                off[i] += strides[i][d];
            if (idx[d] < out[0].dims[d])
                break;
            for (int i = 0; i < n_in; i++)
                off[i] -= strides[i][d] * idx[d];
            idx[d] = 0;
        }
    }
    return UNET_OK;
}

unet_status binary_build(plan_t *p, const node_t *n)
{
    tview vi[STEP_MAX_IO], vo[1];
    memset(vi, 0, sizeof vi);
    if (n->n_in > STEP_MAX_IO)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "more than %d inputs", STEP_MAX_IO);
    int all_const = 1;
    for (int i = 0; i < n->n_in; i++) {
        if (n->in[i] < 0)
            return unet_set_error(UNET_ERR_INVALID, "input %d is missing", i);
        vi[i] = plan_view(p, n->in[i]);
        all_const &= p->t[n->in[i]].is_const;
    }
    memset(vo, 0, sizeof vo);
    UNET_TRY(binary_shape(n, vi, n->n_in, vo, 1));
    UNET_TRY(plan_set_shape(p, n->out[0], vo[0].dtype, vo[0].rank, vo[0].dims));
    int kind = bin_kind(n->op_type);
    int same = n->n_in == 2 && vo[0].dtype == UNET_DTYPE_FLOAT && vi[1].dtype == UNET_DTYPE_FLOAT &&
               vi[0].rank == vo[0].rank && vi[1].rank == vo[0].rank && p->t[n->out[0]].nbytes > 0;
    for (int d = 0; same && d < vo[0].rank; d++)
        same = vi[0].dims[d] == vo[0].dims[d] && vi[1].dims[d] == vo[0].dims[d];
    if (!same || all_const || kind == BIN_POW || kind == BIN_PRELU)
        return plan_add_plain(p, n, n->in, n->n_in, n->out, 1, binary_run);
    dnnl_alg_kind_t alg = kind == BIN_ADD ? dnnl_binary_add : kind == BIN_SUB ? dnnl_binary_sub
                        : kind == BIN_MUL ? dnnl_binary_mul : kind == BIN_DIV ? dnnl_binary_div
                        : kind == BIN_MAX ? dnnl_binary_max : dnnl_binary_min;
    const dnnl_memory_desc_t *md0 = &p->t[n->in[0]].md;
    int b;
    UNET_TRY(plan_as_md(p, n->in[1], md0, &b));
    dnnl_binary_desc_t bd;
    dnnl_primitive_attr_t attr = plan_make_attr();
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_binary_desc_init(&bd, alg, md0, md0, md0);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &bd, attr, p->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return dnnl_error(st, n, "binary setup");
    plan_set_md(p, n->out[0], md0);
    int kinds[3] = { DNNL_ARG_SRC_0, DNNL_ARG_SRC_1, DNNL_ARG_DST };
    int ids[3] = { n->in[0], b, n->out[0] };
    unet_status r = plan_add_primitive(p, n, pd, 3, kinds, ids);
    dnnl_primitive_desc_destroy(pd);
    return r;
}
