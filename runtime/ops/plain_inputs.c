/* Input checks and constant lists shared by the plain C kernels. */
#include "plain_inputs.h"

#include "../error.h"

int plain_number_type(int dtype)
{
    switch (dtype) {
    case UNET_DTYPE_FLOAT: case UNET_DTYPE_DOUBLE:
    case UNET_DTYPE_INT8: case UNET_DTYPE_INT16: case UNET_DTYPE_INT32: case UNET_DTYPE_INT64:
    case UNET_DTYPE_UINT8: case UNET_DTYPE_UINT16: case UNET_DTYPE_UINT32: case UNET_DTYPE_UINT64:
        return 1;
    default:
        return 0;
    }
}

unet_status plain_read_int_list(const tview *v, const char *what, int64_t *out, int max,
                                int *count)
{
    if (!v->data)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "the %s input is not a constant when the plan is built (only constant %s are supported)", what, what);
    if (v->dtype != UNET_DTYPE_INT64 && v->dtype != UNET_DTYPE_INT32)
        return unet_set_error(UNET_ERR_INVALID, "the %s input is %s; int64 expected", what, unet_dtype_name(v->dtype));
    if (v->rank > 1)
        return unet_set_error(UNET_ERR_INVALID, "the %s input has rank %d; a 1-D tensor expected", what, v->rank);
    const int64_t k = v->rank == 0 ? 1 : v->dims[0];
    if (k > max)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "the %s input has %lld entries; at most %d are supported", what, (long long)k, max);
    for (int64_t i = 0; i < k; i++)
        out[i] = v->dtype == UNET_DTYPE_INT64 ? ((const int64_t *)v->data)[i] : ((const int32_t *)v->data)[i];
    *count = (int)k;
    return UNET_OK;
}

int64_t plain_numel(const tview *v)
{
    int64_t n = 1;
    for (int d = 0; d < v->rank; d++)
        n *= v->dims[d];
    return n;
}

int plain_omitted(const tview *v) { return v->dtype == UNET_DTYPE_UNDEFINED; }

unet_status plain_known_size(int dtype)
{
    if (unet_dtype_size(dtype) == 0 || dtype == UNET_DTYPE_STRING)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "type %s is not supported", unet_dtype_name(dtype));
    return UNET_OK;
}
