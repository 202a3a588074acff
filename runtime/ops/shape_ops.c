/* Shape-level operators: Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze,
 * Identity, Dropout (inference), Expand, ConstantOfShape, Range.
 *
 * The reshape-like ones never copy: the output shares the (plain) input's
 * storage, or its constant data, through plan_alias. Shape and Size are
 * constants as soon as the input shape is known, which is what lets the
 * Shape -> Gather -> Concat -> Reshape chains of PyTorch exports fold away. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../ops.h"
#include "ops_decl.h"
#include "plain_inputs.h"
#include "strided.h"

static unet_status need_input(const node_t *n, int i)
{
    if (i >= n->n_in || n->in[i] < 0)
        return unet_set_error(UNET_ERR_INVALID, "input %d is missing", i);
    return UNET_OK;
}

/* Output id gets a constant buffer of the given shape (data known at plan time). */
static unet_status const_output(plan_t *p, int id, int dtype, int rank, const int64_t *dims, void **data)
{
    UNET_TRY(plan_set_shape(p, id, dtype, rank, dims));
    ptensor *t = &p->t[id];
    t->const_data = malloc(t->nbytes ? t->nbytes : 1);
    if (!t->const_data)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory for a constant of %zu bytes", t->nbytes);
    t->is_const = 1;
    t->owns_const = 1;
    *data = t->const_data;
    return UNET_OK;
}

/* out[0] becomes input 0 under a new shape, sharing its storage. */
static unet_status alias_output(plan_t *p, const node_t *n, int rank, const int64_t *dims)
{
    int src = -1;
    UNET_TRY(plan_as_plain(p, n->in[0], &src));
    UNET_TRY(plan_set_shape(p, n->out[0], p->t[src].dtype, rank, dims));
    return plan_alias(p, n->out[0], src);
}

static int norm_axis(int64_t axis, int rank, int *out)
{
    if (axis < -rank || axis >= rank)
        return -1;
    *out = (int)(axis < 0 ? axis + rank : axis);
    return 0;
}

/* ---- Shape, Size ---- */

unet_status shape_build(plan_t *p, const node_t *n)
{
    UNET_TRY(need_input(n, 0));
    const ptensor *x = &p->t[n->in[0]];
    int rank = x->rank;
    int64_t start = 0, end = rank;
    if (n->opset >= 15) {
        start = node_attr_int(n, "start", 0);
        end = node_attr_int(n, "end", rank);
    }
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = start < 0 ? 0 : start > rank ? rank : start;
    end = end < 0 ? 0 : end > rank ? rank : end;
    int64_t k = end > start ? end - start : 0;
    int64_t dims[1] = { k };
    int64_t src[UNET_MAX_RANK];
    memcpy(src, x->dims, sizeof src);
    void *data = NULL;
    UNET_TRY(const_output(p, n->out[0], UNET_DTYPE_INT64, 1, dims, &data));
    for (int64_t i = 0; i < k; i++)
        ((int64_t *)data)[i] = src[start + i];
    return UNET_OK;
}

unet_status size_build(plan_t *p, const node_t *n)
{
    UNET_TRY(need_input(n, 0));
    int64_t numel;
    UNET_TRY(shape_numel(p->t[n->in[0]].dims, p->t[n->in[0]].rank, &numel));
    void *data = NULL;
    UNET_TRY(const_output(p, n->out[0], UNET_DTYPE_INT64, 0, NULL, &data));
    *(int64_t *)data = numel;
    return UNET_OK;
}

/* ---- Reshape ---- */

unet_status reshape_check(const unet_model *m, const node_t *n)
{
    (void)m;
    if (n->opset < 5 && !node_attr(n, "shape"))
        return unet_set_error(UNET_ERR_INVALID, "Reshape before opset 5 needs a 'shape' attribute");
    if (n->opset >= 5 && (n->n_in < 2 || n->in[1] < 0))
        return unet_set_error(UNET_ERR_INVALID, "Reshape from opset 5 needs the shape input");
    int64_t az = node_attr_int(n, "allowzero", 0);
    if (az != 0 && az != 1)
        return unet_set_error(UNET_ERR_INVALID, "allowzero is %lld; 0 or 1 expected", (long long)az);
    return UNET_OK;
}

/* The output shape of a Reshape of x to the requested shape (0 copies the
 * input dimension unless allowzero, one -1 is inferred). */
static unet_status reshape_dims(const tview *x, const int64_t *req, int k, int allowzero, int64_t *out)
{
    int64_t numel, known = 1;
    UNET_TRY(shape_numel(x->dims, x->rank, &numel));
    int infer = -1;
    for (int i = 0; i < k; i++) {
        int64_t s = req[i];
        if (s == 0 && !allowzero) {
            if (i >= x->rank)
                return unet_set_error(UNET_ERR_SHAPE, "shape[%d] = 0 copies input dimension %d, but the input has rank %d", i, i, x->rank);
            s = x->dims[i];
        } else if (s == -1) {
            if (infer >= 0)
                return unet_set_error(UNET_ERR_SHAPE, "shape has -1 at both %d and %d", infer, i);
            infer = i;
            continue;
        } else if (s < 0) {
            return unet_set_error(UNET_ERR_SHAPE, "shape[%d] = %lld is negative", i, (long long)s);
        }
        out[i] = s;
        if (s != 0 && known > INT64_MAX / s)
            return unet_set_error(UNET_ERR_LIMIT, "the requested shape overflows 64 bits");
        known *= s;
    }
    if (infer >= 0) {
        if (known == 0 || numel % known != 0)
            return unet_set_error(UNET_ERR_SHAPE, "cannot infer shape[%d]: %lld elements do not divide into %lld", infer, (long long)numel, (long long)known);
        out[infer] = numel / known;
        known = numel;
    }
    if (known != numel)
        return unet_set_error(UNET_ERR_SHAPE, "cannot reshape %lld elements into %lld", (long long)numel, (long long)known);
    return UNET_OK;
}

unet_status reshape_build(plan_t *p, const node_t *n)
{
    UNET_TRY(need_input(n, 0));
    tview x = plan_view(p, n->in[0]);
    int64_t req[UNET_MAX_RANK], dims[UNET_MAX_RANK];
    int k = 0;
    if (n->opset < 5) {
        k = node_attr_ints(n, "shape", req, UNET_MAX_RANK);
        if (k < 0 || k > UNET_MAX_RANK)
            return unet_set_error(UNET_ERR_UNSUPPORTED, "the 'shape' attribute is missing or longer than %d", UNET_MAX_RANK);
    } else {
        UNET_TRY(need_input(n, 1));
        tview s = plan_view(p, n->in[1]);
        UNET_TRY(plain_read_int_list(&s, "shape", req, UNET_MAX_RANK, &k));
    }
    int allowzero = n->opset >= 14 && node_attr_int(n, "allowzero", 0) == 1;
    UNET_TRY(reshape_dims(&x, req, k, allowzero, dims));
    return alias_output(p, n, k, dims);
}

/* ---- Flatten ---- */

unet_status flatten_build(plan_t *p, const node_t *n)
{
    UNET_TRY(need_input(n, 0));
    const ptensor *x = &p->t[n->in[0]];
    int64_t axis = node_attr_int(n, "axis", 1);
    if (axis < 0)
        axis += x->rank;
    if (axis < 0 || axis > x->rank)
        return unet_set_error(UNET_ERR_INVALID, "axis %lld is outside [-%d, %d]", (long long)node_attr_int(n, "axis", 1), x->rank, x->rank);
    int64_t dims[2] = { 1, 1 };
    for (int d = 0; d < x->rank; d++)
        dims[d < axis ? 0 : 1] *= x->dims[d];
    return alias_output(p, n, 2, dims);
}

/* ---- Squeeze, Unsqueeze ---- */

unet_status squeeze_check(const unet_model *m, const node_t *n)
{
    (void)m;
    if (!strcmp(n->op_type, "Unsqueeze")) {
        if (n->opset < 13 && !node_attr(n, "axes"))
            return unet_set_error(UNET_ERR_INVALID, "Unsqueeze before opset 13 needs an 'axes' attribute");
        if (n->opset >= 13 && (n->n_in < 2 || n->in[1] < 0))
            return unet_set_error(UNET_ERR_INVALID, "Unsqueeze from opset 13 needs the axes input");
    }
    if (n->opset < 13 && n->n_in > 1)
        return unet_set_error(UNET_ERR_INVALID, "%s before opset 13 takes one input, %d given", n->op_type, n->n_in);
    return UNET_OK;
}

/* The axes of Squeeze/Unsqueeze: the attribute before opset 13, the input
 * after; *k = -1 when absent. */
static unet_status squeeze_axes(plan_t *p, const node_t *n, int64_t *axes, int *k)
{
    *k = -1;
    if (n->opset < 13) {
        *k = node_attr_ints(n, "axes", axes, STRIDED_MAX_RANK);
        if (*k > UNET_MAX_RANK * 2)
            return unet_set_error(UNET_ERR_INVALID, "too many axes");
        return UNET_OK;
    }
    if (n->n_in < 2 || n->in[1] < 0)
        return UNET_OK;
    tview a = plan_view(p, n->in[1]);
    return plain_read_int_list(&a, "axes", axes, STRIDED_MAX_RANK, k);
}

unet_status squeeze_build(plan_t *p, const node_t *n)
{
    UNET_TRY(need_input(n, 0));
    const ptensor *x = &p->t[n->in[0]];
    int64_t axes[STRIDED_MAX_RANK], dims[UNET_MAX_RANK];
    int k = -1, drop[UNET_MAX_RANK] = { 0 };
    UNET_TRY(squeeze_axes(p, n, axes, &k));
    if (k < 0) {
        for (int d = 0; d < x->rank; d++)
            drop[d] = x->dims[d] == 1;
    }
    for (int i = 0; i < k; i++) {
        int a;
        if (norm_axis(axes[i], x->rank, &a))
            return unet_set_error(UNET_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axes[i], x->rank);
        if (x->dims[a] != 1)
            return unet_set_error(UNET_ERR_SHAPE, "cannot squeeze axis %d of size %lld", a, (long long)x->dims[a]);
        if (drop[a])
            return unet_set_error(UNET_ERR_INVALID, "axis %d is given twice", a);
        drop[a] = 1;
    }
    int r = 0;
    for (int d = 0; d < x->rank; d++)
        if (!drop[d])
            dims[r++] = x->dims[d];
    return alias_output(p, n, r, dims);
}

unet_status unsqueeze_build(plan_t *p, const node_t *n)
{
    UNET_TRY(need_input(n, 0));
    const ptensor *x = &p->t[n->in[0]];
    int64_t axes[STRIDED_MAX_RANK], dims[UNET_MAX_RANK];
    int k = -1, added[UNET_MAX_RANK] = { 0 };
    UNET_TRY(squeeze_axes(p, n, axes, &k));
    if (k < 0)
        return unet_set_error(UNET_ERR_INVALID, "no axes given");
    int rank = x->rank + k;
    if (rank > UNET_MAX_RANK)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "the output would have rank %d; at most %d is supported", rank, UNET_MAX_RANK);
    for (int i = 0; i < k; i++) {
        int a;
        if (norm_axis(axes[i], rank, &a))
            return unet_set_error(UNET_ERR_INVALID, "axis %lld is out of range for output rank %d", (long long)axes[i], rank);
        if (added[a])
            return unet_set_error(UNET_ERR_INVALID, "axis %d is given twice", a);
        added[a] = 1;
    }
    for (int d = 0, s = 0; d < rank; d++)
        dims[d] = added[d] ? 1 : x->dims[s++];
    return alias_output(p, n, rank, dims);
}

/* ---- Identity, Dropout ---- */

unet_status identity_build(plan_t *p, const node_t *n)
{
    UNET_TRY(need_input(n, 0));
    const ptensor *x = &p->t[n->in[0]];
    int64_t dims[UNET_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    return alias_output(p, n, x->rank, dims);
}

unet_status dropout_check(const unet_model *m, const node_t *n)
{
    if (n->n_in < 3 || n->in[2] < 0)
        return UNET_OK;
    const value_t *t = &m->values[n->in[2]];
    if (!t->data || t->nbytes < 1)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "training_mode '%s' is not a constant; only inference Dropout (training_mode false) is supported", t->name);
    if (((const uint8_t *)t->data)[0] != 0)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "training_mode '%s' is true; only inference Dropout is supported", t->name);
    return UNET_OK;
}

static void fill_one(void *data, int dtype, int64_t count)
{
    for (int64_t i = 0; i < count; i++) {
        switch (dtype) {
        case UNET_DTYPE_FLOAT: ((float *)data)[i] = 1.0f; break;
        case UNET_DTYPE_DOUBLE: ((double *)data)[i] = 1.0; break;
        case UNET_DTYPE_FLOAT16: ((uint16_t *)data)[i] = 0x3c00; break;
        case UNET_DTYPE_BFLOAT16: ((uint16_t *)data)[i] = 0x3f80; break;
        default: ((uint8_t *)data)[i] = 1; break;
        }
    }
}

unet_status dropout_build(plan_t *p, const node_t *n)
{
    UNET_TRY(identity_build(p, n));
    if (n->n_out < 2 || n->out[1] < 0)
        return UNET_OK;
    /* In inference every element is kept: the mask is a constant. Before
     * opset 10 the mask has the input's type. */
    const ptensor *x = &p->t[n->in[0]];
    int dtype = n->opset >= 10 ? UNET_DTYPE_BOOL : x->dtype;
    int64_t dims[UNET_MAX_RANK], numel;
    int rank = x->rank;
    memcpy(dims, x->dims, sizeof dims);
    UNET_TRY(shape_numel(dims, rank, &numel));
    void *data = NULL;
    UNET_TRY(const_output(p, n->out[1], dtype, rank, dims, &data));
    fill_one(data, dtype, numel);
    return UNET_OK;
}

/* ---- Expand ---- */

static unet_status expand_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n; (void)n_in; (void)n_out;
    int64_t req[UNET_MAX_RANK];
    int k = 0;
    UNET_TRY(plain_read_int_list(&in[1], "shape", req, UNET_MAX_RANK, &k));
    int rank = k > in[0].rank ? k : in[0].rank;
    out[0].dtype = in[0].dtype;
    out[0].rank = rank;
    for (int d = 0; d < rank; d++) {
        int dx = d - (rank - in[0].rank), ds = d - (rank - k);
        int64_t a = dx >= 0 ? in[0].dims[dx] : 1, b = ds >= 0 ? req[ds] : 1;
        if (b < 0)
            return unet_set_error(UNET_ERR_SHAPE, "shape[%d] = %lld is negative", ds, (long long)b);
        if (a != b && a != 1 && b != 1)
            return unet_set_error(UNET_ERR_SHAPE, "input dimension %d (%lld) does not broadcast to %lld", dx, (long long)a, (long long)b);
        out[0].dims[d] = a == 1 ? b : a;
    }
    return UNET_OK;
}

static unet_status expand_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n; (void)n_in; (void)n_out;
    int rank = out[0].rank;
    int64_t dense[UNET_MAX_RANK], strides[UNET_MAX_RANK];
    dense_strides(in[0].rank, in[0].dims, dense);
    for (int d = 0; d < rank; d++) {
        int dx = d - (rank - in[0].rank);
        strides[d] = dx >= 0 && in[0].dims[dx] != 1 ? dense[dx] : 0;
    }
    strided_copy(out[0].data, in[0].data, unet_dtype_size(in[0].dtype), rank, out[0].dims, strides, 0);
    return UNET_OK;
}

unet_status expand_build(plan_t *p, const node_t *n)
{
    UNET_TRY(need_input(n, 0));
    UNET_TRY(need_input(n, 1));
    tview in[2] = { plan_view(p, n->in[0]), plan_view(p, n->in[1]) };
    tview out;
    memset(&out, 0, sizeof out);
    UNET_TRY(expand_shape(n, in, 2, &out, 1));
    UNET_TRY(plan_set_shape(p, n->out[0], out.dtype, out.rank, out.dims));
    int same = out.rank == in[0].rank && !memcmp(out.dims, in[0].dims, sizeof(int64_t) * (size_t)out.rank);
    if (same)
        return alias_output(p, n, out.rank, out.dims);
    return plan_add_plain(p, n, n->in, 1, n->out, 1, expand_run);
}

/* ---- ConstantOfShape ---- */

unet_status constant_of_shape_check(const unet_model *m, const node_t *n)
{
    const attr_t *a = node_attr(n, "value");
    if (!a)
        return UNET_OK;
    if (a->type != ATTR_TENSOR || a->tensor < 0)
        return unet_set_error(UNET_ERR_INVALID, "'value' must be a tensor attribute");
    const value_t *v = &m->values[a->tensor];
    size_t esz = unet_dtype_size(v->dtype);
    if (!esz)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "'value' of type %s is not supported", unet_dtype_name(v->dtype));
    if (v->nbytes != esz)
        return unet_set_error(UNET_ERR_INVALID, "'value' must hold exactly one element");
    return UNET_OK;
}

unet_status constant_of_shape_build(plan_t *p, const node_t *n)
{
    UNET_TRY(need_input(n, 0));
    tview s = plan_view(p, n->in[0]);
    int64_t dims[UNET_MAX_RANK], numel;
    int k = 0;
    UNET_TRY(plain_read_int_list(&s, "shape", dims, UNET_MAX_RANK, &k));
    UNET_TRY(shape_numel(dims, k, &numel));
    const attr_t *a = node_attr(n, "value");
    int dtype = UNET_DTYPE_FLOAT;
    static const uint64_t zero = 0;
    const void *value = &zero;
    if (a && a->tensor >= 0) {
        dtype = p->t[a->tensor].dtype;
        value = p->t[a->tensor].const_data;
    }
    size_t esz = unet_dtype_size(dtype);
    void *data = NULL;
    UNET_TRY(const_output(p, n->out[0], dtype, k, dims, &data));
    for (int64_t i = 0; i < numel; i++)
        memcpy((char *)data + (size_t)i * esz, value, esz);
    return UNET_OK;
}

/* ---- Range ---- */

static int range_is_float(int dtype) { return dtype == UNET_DTYPE_FLOAT || dtype == UNET_DTYPE_DOUBLE; }

static double scalar_f(const tview *v)
{
    return v->dtype == UNET_DTYPE_FLOAT ? ((const float *)v->data)[0] : ((const double *)v->data)[0];
}

static int64_t scalar_i(const tview *v)
{
    switch (v->dtype) {
    case UNET_DTYPE_INT16: return ((const int16_t *)v->data)[0];
    case UNET_DTYPE_INT32: return ((const int32_t *)v->data)[0];
    default: return ((const int64_t *)v->data)[0];
    }
}

static unet_status range_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n; (void)n_in; (void)n_out;
    static const char *names[3] = { "start", "limit", "delta" };
    int dt = in[0].dtype;
    if (!range_is_float(dt) && dt != UNET_DTYPE_INT16 && dt != UNET_DTYPE_INT32 && dt != UNET_DTYPE_INT64)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "type %s", unet_dtype_name(dt));
    for (int i = 0; i < 3; i++) {
        if (in[i].dtype != dt)
            return unet_set_error(UNET_ERR_INVALID, "%s is %s, start is %s", names[i], unet_dtype_name(in[i].dtype), unet_dtype_name(dt));
        if (!in[i].data)
            return unet_set_error(UNET_ERR_UNSUPPORTED, "%s is not a constant when the plan is built (the output size depends on it)", names[i]);
        int64_t numel = 1;
        for (int d = 0; d < in[i].rank; d++)
            numel *= in[i].dims[d];
        if (numel != 1)
            return unet_set_error(UNET_ERR_INVALID, "%s must be a scalar", names[i]);
    }
    int64_t count;
    if (range_is_float(dt)) {
        double s = scalar_f(&in[0]), l = scalar_f(&in[1]), d = scalar_f(&in[2]);
        if (d == 0 || !isfinite(s) || !isfinite(l) || !isfinite(d))
            return unet_set_error(UNET_ERR_INVALID, "start, limit and delta must be finite and delta non-zero");
        double c = ceil((l - s) / d);
        if (c > (double)INT32_MAX)
            return unet_set_error(UNET_ERR_LIMIT, "Range would have %.0f elements", c);
        count = c > 0 ? (int64_t)c : 0;
    } else {
        int64_t s = scalar_i(&in[0]), l = scalar_i(&in[1]), d = scalar_i(&in[2]);
        if (d == 0)
            return unet_set_error(UNET_ERR_INVALID, "delta is zero");
        count = 0;
        if ((d > 0 && l > s) || (d < 0 && l < s)) {
            /* ceil(|l - s| / |d|) in unsigned arithmetic, exact for any int64 */
            uint64_t span = d > 0 ? (uint64_t)l - (uint64_t)s : (uint64_t)s - (uint64_t)l;
            uint64_t step = d > 0 ? (uint64_t)d : 0 - (uint64_t)d;
            uint64_t c = span / step + (span % step != 0);
            if (c > INT32_MAX)
                return unet_set_error(UNET_ERR_LIMIT, "Range would have %llu elements", (unsigned long long)c);
            count = (int64_t)c;
        }
    }
    out[0].dtype = dt;
    out[0].rank = 1;
    out[0].dims[0] = count;
    return UNET_OK;
}

static unet_status range_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n; (void)n_in; (void)n_out;
    int64_t count = out[0].dims[0];
    switch (out[0].dtype) {
    case UNET_DTYPE_FLOAT: {
        float s = ((const float *)in[0].data)[0], d = ((const float *)in[2].data)[0];
        for (int64_t i = 0; i < count; i++)
            ((float *)out[0].data)[i] = s + (float)i * d;
        break;
    }
    case UNET_DTYPE_DOUBLE: {
        double s = scalar_f(&in[0]), d = scalar_f(&in[2]);
        for (int64_t i = 0; i < count; i++)
            ((double *)out[0].data)[i] = s + (double)i * d;
        break;
    }
    default: {
        int64_t s = scalar_i(&in[0]), d = scalar_i(&in[2]);
        for (int64_t i = 0; i < count; i++) {
            int64_t v = (int64_t)((uint64_t)s + (uint64_t)i * (uint64_t)d); /* no signed overflow */
            if (out[0].dtype == UNET_DTYPE_INT16) ((int16_t *)out[0].data)[i] = (int16_t)v;
            else if (out[0].dtype == UNET_DTYPE_INT32) ((int32_t *)out[0].data)[i] = (int32_t)v;
            else ((int64_t *)out[0].data)[i] = v;
        }
    }
    }
    return UNET_OK;
}

unet_status range_build(plan_t *p, const node_t *n)
{
    tview in[3], out;
    for (int i = 0; i < 3; i++) {
        UNET_TRY(need_input(n, i));
        in[i] = plan_view(p, n->in[i]);
    }
    memset(&out, 0, sizeof out);
    UNET_TRY(range_shape(n, in, 3, &out, 1));
    UNET_TRY(plan_set_shape(p, n->out[0], out.dtype, out.rank, out.dims));
    return plan_add_plain(p, n, n->in, 3, n->out, 1, range_run);
}
