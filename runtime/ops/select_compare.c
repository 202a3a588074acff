/* Where, the comparisons (Equal, Less, Greater, LessOrEqual,
 * GreaterOrEqual) and the logical operators (Not, And, Or, Xor), with numpy
 * broadcasting. Plain C kernels, at plan time on constants. */
#include <string.h>

#include "../error.h"
#include "ops_decl.h"
#include "plain_inputs.h"
#include "broadcast.h"

/* ---- Where ---- */

unet_status where_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n; (void)n_out;
    if (in[0].dtype != UNET_DTYPE_BOOL)
        return unet_set_error(UNET_ERR_INVALID, "condition is %s; bool expected", unet_dtype_name(in[0].dtype));
    if (in[1].dtype != in[2].dtype)
        return unet_set_error(UNET_ERR_INVALID, "X is %s and Y is %s; they must agree", unet_dtype_name(in[1].dtype), unet_dtype_name(in[2].dtype));
    UNET_TRY(plain_known_size(in[1].dtype));
    out[0].dtype = in[1].dtype;
    return bc_shape(in, n_in, &out[0]);
}

unet_status where_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n; (void)n_out;
    bc_iter it;
    bc_init(&it, in, n_in, &out[0]);
    size_t esz = unet_dtype_size(out[0].dtype);
    int64_t total = plain_numel(&out[0]);
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
    int64_t total = plain_numel(&out[0]);
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
    int64_t total = plain_numel(&out[0]);
    uint8_t *dst = out[0].data;
    const uint8_t *a = in[0].data, *b = n_in > 1 ? in[1].data : NULL;
    char op = n->op_type[0]; /* N(ot), A(nd), O(r), X(or) */
    for (int64_t e = 0; e < total; e++, bc_next(&it)) {
        int x = a[it.off[0]] != 0, y = b ? b[it.off[1]] != 0 : 0;
        dst[e] = (uint8_t)(op == 'N' ? !x : op == 'A' ? (x && y) : op == 'O' ? (x || y) : (x != y));
    }
    return UNET_OK;
}
