/* MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool on oneDNN pooling. */
#include <string.h>

#include "../error.h"
#include "../ops.h"
#include "../plan_memory.h"

unet_status pool_check(const unet_model *m, const node_t *n)
{
    (void)m;
    if (!strcmp(n->op_type, "MaxPool") && n->n_out > 1 && n->out[1] >= 0)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "MaxPool's Indices output is not supported");
    const char *ap = node_attr_string(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") && strcmp(ap, "SAME_UPPER") && strcmp(ap, "SAME_LOWER") && strcmp(ap, "VALID"))
        return unet_set_error(UNET_ERR_UNSUPPORTED, "auto_pad '%s' is not supported", ap);
    if (strncmp(n->op_type, "Global", 6) && !node_attr(n, "kernel_shape"))
        return unet_set_error(UNET_ERR_INVALID, "kernel_shape is required");
    return UNET_OK;
}

/* AveragePool with count_include_pad=1 when ceil_mode lets the last window run
 * past the end padding: ONNX Runtime and PyTorch divide by the window clipped
 * to the padded input, oneDNN by the whole kernel. This plain kernel does the
 * former; spatial dims are viewed as 3 (missing ones of size 1). */
static unet_status avgpool_clipped_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_in;
    (void)n_out;
    int sp = in[0].rank - 2;
    int64_t k[3] = { 1, 1, 1 }, s[3] = { 1, 1, 1 }, d[3] = { 1, 1, 1 }, pl[3] = { 0, 0, 0 }, pr[3] = { 0, 0, 0 };
    int64_t isz[3] = { 1, 1, 1 }, osz[3] = { 1, 1, 1 };
    int64_t kk[UNET_MAX_RANK], ss[UNET_MAX_RANK], dd[UNET_MAX_RANK], pads[UNET_MAX_RANK * 2];
    op_spatial_attr(n, "kernel_shape", kk, sp, 1);
    op_spatial_attr(n, "strides", ss, sp, 1);
    op_spatial_attr(n, "dilations", dd, sp, 1);
    int np = node_attr_ints(n, "pads", pads, UNET_MAX_RANK * 2);
    if (strcmp(node_attr_string(n, "auto_pad", "NOTSET"), "NOTSET"))
        np = 0; /* VALID (SAME never gets here: its windows end inside the padding) */
    for (int i = 0; i < sp; i++) {
        int j = 3 - sp + i;
        k[j] = kk[i];
        s[j] = ss[i];
        d[j] = dd[i];
        pl[j] = np > 0 ? pads[i] : 0;
        pr[j] = np > 0 ? pads[sp + i] : 0;
        isz[j] = in[0].dims[2 + i];
        osz[j] = out[0].dims[2 + i];
    }
    int64_t planes = in[0].dims[0] * in[0].dims[1];
    const float *x = in[0].data;
    float *y = out[0].data;
    for (int64_t c = 0; c < planes; c++) {
        const float *xp = x + c * isz[0] * isz[1] * isz[2];
        for (int64_t o0 = 0; o0 < osz[0]; o0++)
            for (int64_t o1 = 0; o1 < osz[1]; o1++)
                for (int64_t o2 = 0; o2 < osz[2]; o2++) {
                    int64_t o[3] = { o0, o1, o2 }, lo[3], hi[3], div = 1;
                    for (int j = 0; j < 3; j++) {
                        lo[j] = o[j] * s[j] - pl[j];
                        hi[j] = lo[j] + (k[j] - 1) * d[j] + 1;
                        if (hi[j] > isz[j] + pr[j])
                            hi[j] = isz[j] + pr[j];
                        div *= 1 + (hi[j] - lo[j] - 1) / d[j];
                    }
                    double sum = 0;
                    for (int64_t a = lo[0]; a < hi[0]; a += d[0])
                        for (int64_t b = lo[1]; b < hi[1]; b += d[1])
                            for (int64_t e = lo[2]; e < hi[2]; e += d[2])
                                if (a >= 0 && a < isz[0] && b >= 0 && b < isz[1] && e >= 0 && e < isz[2])
                                    sum += xp[(a * isz[1] + b) * isz[2] + e];
                    y[((c * osz[0] + o0) * osz[1] + o1) * osz[2] + o2] = (float)(sum / (double)div);
                }
    }
    return UNET_OK;
}

unet_status pool_build(plan_t *p, const node_t *n)
{
    UNET_TRY(op_require_float(p, n, 0));
    int x = n->in[0];
    const ptensor *tx = &p->t[x];
    int rank = tx->rank;
    if (rank < 3 || rank > 5)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "input rank %d: 1-D to 3-D pooling only", rank);
    int sp = rank - 2;
    int global = !strncmp(n->op_type, "Global", 6);
    int is_max = strstr(n->op_type, "Max") != NULL;
    int64_t k[UNET_MAX_RANK], s[UNET_MAX_RANK], d[UNET_MAX_RANK], pl[UNET_MAX_RANK], pr[UNET_MAX_RANK];
    int64_t out[UNET_MAX_RANK];
    int clipped = 0; /* a window runs past the end padding (ceil_mode) */
    out[0] = tx->dims[0];
    out[1] = tx->dims[1];
    if (global) {
        for (int i = 0; i < sp; i++) {
            k[i] = tx->dims[2 + i];
            s[i] = 1;
            d[i] = 1;
            pl[i] = pr[i] = 0;
            out[2 + i] = 1;
        }
    } else {
        if (op_spatial_attr(n, "kernel_shape", k, sp, 1) != 1)
            return unet_set_error(UNET_ERR_INVALID, "kernel_shape must have %d values", sp);
        if (op_spatial_attr(n, "strides", s, sp, 1) < 0 || op_spatial_attr(n, "dilations", d, sp, 1) < 0)
            return unet_set_error(UNET_ERR_INVALID, "strides/dilations must have %d values", sp);
        int64_t pads[UNET_MAX_RANK * 2];
        int np = node_attr_ints(n, "pads", pads, UNET_MAX_RANK * 2);
        if (np >= 0 && np != 2 * sp)
            return unet_set_error(UNET_ERR_INVALID, "pads has %d values, expected %d", np, 2 * sp);
        const char *ap = node_attr_string(n, "auto_pad", "NOTSET");
        int ceil_mode = (int)node_attr_int(n, "ceil_mode", 0);
        for (int i = 0; i < sp; i++) {
            if (k[i] < 1 || s[i] < 1 || d[i] < 1)
                return unet_set_error(UNET_ERR_INVALID, "kernel, strides and dilations must be >= 1");
            int64_t in = tx->dims[2 + i], ek = (k[i] - 1) * d[i] + 1;
            pl[i] = np > 0 ? pads[i] : 0;
            pr[i] = np > 0 ? pads[sp + i] : 0;
            if (pl[i] < 0 || pr[i] < 0 || pl[i] >= ek || pr[i] >= ek)
                return unet_set_error(UNET_ERR_INVALID, "pads must be >= 0 and smaller than the kernel extent");
            if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
                int64_t o = (in + s[i] - 1) / s[i];
                int64_t total = (o - 1) * s[i] + ek - in;
                if (total < 0)
                    total = 0;
                pl[i] = !strcmp(ap, "SAME_UPPER") ? total / 2 : total - total / 2;
                pr[i] = total - pl[i];
                out[2 + i] = o;
            } else {
                if (!strcmp(ap, "VALID"))
                    pl[i] = pr[i] = 0;
                int64_t span = in + pl[i] + pr[i] - ek;
                if (span < 0)
                    return unet_set_error(UNET_ERR_SHAPE, "input %lld is smaller than the kernel extent %lld", (long long)in, (long long)ek);
                out[2 + i] = (ceil_mode ? (span + s[i] - 1) / s[i] : span / s[i]) + 1;
                if (ceil_mode && (out[2 + i] - 1) * s[i] >= in + pl[i])
                    out[2 + i]--; /* the last window must start inside the input or left padding */
            }
            /* oneDNN wants the right padding that makes its formula give out. */
            int64_t given_pr = pr[i];
            pr[i] = (out[2 + i] - 1) * s[i] + ek - in - pl[i];
            if (pr[i] > given_pr)
                clipped = 1;
        }
    }
    UNET_TRY(plan_set_shape(p, n->out[0], UNET_DTYPE_FLOAT, rank, out));
    if (clipped && !is_max && node_attr_int(n, "count_include_pad", 0))
        return plan_add_plain(p, n, n->in, 1, n->out, 1, avgpool_clipped_run);
    dnnl_dims_t dd, ds, dk, ddil, dpl, dpr;
    for (int i = 0; i < rank; i++)
        dd[i] = out[i];
    for (int i = 0; i < sp; i++) {
        ds[i] = s[i];
        dk[i] = k[i];
        ddil[i] = d[i] - 1;
        dpl[i] = pl[i];
        dpr[i] = pr[i];
    }
    dnnl_memory_desc_t dst_any;
    dnnl_memory_desc_init_by_tag(&dst_any, rank, dd, p->t[n->in[0]].md.data_type, dnnl_format_tag_any); /* as the input (bf16 plans) */
    dnnl_alg_kind_t alg = is_max ? dnnl_pooling_max
                        : node_attr_int(n, "count_include_pad", 0) ? dnnl_pooling_avg_include_padding
                                                                   : dnnl_pooling_avg_exclude_padding;
    dnnl_pooling_v2_desc_t pdsc;
    dnnl_primitive_attr_t attr = plan_make_attr();
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_inference, alg, &p->t[x].md,
                                                         &dst_any, ds, dk, ddil, dpl, dpr);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &pdsc, attr, p->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return dnnl_error(st, n, "pooling setup");
    plan_set_md(p, n->out[0], dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0));
    int kinds[2] = { DNNL_ARG_SRC, DNNL_ARG_DST };
    int ids[2] = { x, n->out[0] };
    unet_status r = plan_add_primitive(p, n, pd, 2, kinds, ids);
    dnnl_primitive_desc_destroy(pd);
    return r;
}
