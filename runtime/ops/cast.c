/* Cast between the numeric element types (scalar.h's conversions). */
#include <string.h>

#include "../error.h"
#include "ops_decl.h"
#include "plain_inputs.h"
#include "scalar.h"

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
    int64_t count = plain_numel(&in[0]);
    int from = in[0].dtype, to = out[0].dtype;
    if (from == UNET_DTYPE_FLOAT && to == UNET_DTYPE_INT64) {
        for (int64_t k = 0; k < count; k++)
            ((int64_t *)out[0].data)[k] = scalar_float_to_i64(((const float *)in[0].data)[k]);
        return UNET_OK;
    }
    if (from == UNET_DTYPE_INT64 && to == UNET_DTYPE_FLOAT) {
        for (int64_t k = 0; k < count; k++)
            ((float *)out[0].data)[k] = (float)((const int64_t *)in[0].data)[k];
        return UNET_OK;
    }
    for (int64_t k = 0; k < count; k++)
        scalar_store(out[0].data, to, k, scalar_load(in[0].data, from, k));
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
