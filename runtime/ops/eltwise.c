/* Element-wise activations on oneDNN eltwise, in whatever layout the input has. */
#include <math.h>
#include <string.h>

#include "../error.h"
#include "../ops.h"
#include "../plan_memory.h"

typedef struct eltwise_map {
    const char *op;
    dnnl_alg_kind_t alg;
    float alpha, beta;      /* defaults */
    const char *alpha_attr; /* ONNX attribute feeding alpha, if any */
} eltwise_map;

static const eltwise_map MAP[] = {
    { "Relu", dnnl_eltwise_relu, 0.0f, 0.0f, NULL },
    { "LeakyRelu", dnnl_eltwise_relu, 0.01f, 0.0f, "alpha" },
    { "Sigmoid", dnnl_eltwise_logistic, 0.0f, 0.0f, NULL },
    { "Tanh", dnnl_eltwise_tanh, 0.0f, 0.0f, NULL },
    { "Elu", dnnl_eltwise_elu, 1.0f, 0.0f, "alpha" },
    { "HardSwish", dnnl_eltwise_hardswish, 0.0f, 0.0f, NULL },
    { "Exp", dnnl_eltwise_exp, 0.0f, 0.0f, NULL },
    { "Log", dnnl_eltwise_log, 0.0f, 0.0f, NULL },
    { "Sqrt", dnnl_eltwise_sqrt, 0.0f, 0.0f, NULL },
    { "Abs", dnnl_eltwise_abs, 0.0f, 0.0f, NULL },
    { "Neg", dnnl_eltwise_linear, -1.0f, 0.0f, NULL },
    { "Softplus", dnnl_eltwise_soft_relu, 0.0f, 0.0f, NULL },
    { "Clip", dnnl_eltwise_clip_v2, -3.402823466e+38f, 3.402823466e+38f, NULL },
};

static unet_status eltwise_primitive(plan_t *p, const node_t *n, dnnl_alg_kind_t alg, float alpha,
                                     float beta, int x, int y)
{
    const ptensor *tx = &p->t[x];
    UNET_TRY(plan_set_shape(p, y, UNET_DTYPE_FLOAT, tx->rank, tx->dims));
    if (p->t[y].nbytes == 0)
        return UNET_OK; /* an empty tensor: nothing to compute */
    dnnl_eltwise_desc_t ed;
    dnnl_primitive_attr_t attr = plan_make_attr();
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, alg, &p->t[x].md, alpha, beta);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &ed, attr, p->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return dnnl_error(st, n, "eltwise setup");
    plan_set_md(p, y, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0));
    int kinds[2] = { DNNL_ARG_SRC, DNNL_ARG_DST };
    int ids[2] = { x, y };
    unet_status r = plan_add_primitive(p, n, pd, 2, kinds, ids);
    dnnl_primitive_desc_destroy(pd);
    return r;
}

/* Log and Softplus through libm: oneDNN 2.6's vectorised log returns -1.43e-6
 * for log(1), and its soft_relu returns 0 for softplus(-15) = 3.06e-7; both
 * are outside ONNX's absolute tolerance (1e-7). libm is exact at 1 and within
 * an ulp elsewhere. */
static float softplusf(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

static unet_status libm_run(const tview *in, tview *out, float (*f)(float))
{
    size_t count = 1;
    for (int d = 0; d < in[0].rank; d++)
        count *= (size_t)in[0].dims[d];
    const float *x = in[0].data;
    float *y = out[0].data;
    for (size_t i = 0; i < count; i++)
        y[i] = f(x[i]);
    return UNET_OK;
}

static unet_status log_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n, (void)n_in, (void)n_out;
    return libm_run(in, out, logf);
}

static unet_status softplus_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n, (void)n_in, (void)n_out;
    return libm_run(in, out, softplusf);
}

unet_status eltwise_build(plan_t *p, const node_t *n)
{
    UNET_TRY(op_require_float(p, n, 0));
    const int is_log = !strcmp(n->op_type, "Log");
    if (is_log || !strcmp(n->op_type, "Softplus")) {
        const ptensor *tx = &p->t[n->in[0]];
        UNET_TRY(plan_set_shape(p, n->out[0], UNET_DTYPE_FLOAT, tx->rank, tx->dims));
        return plan_add_plain(p, n, n->in, 1, n->out, 1, is_log ? log_run : softplus_run);
    }
    const eltwise_map *e = NULL;
    for (size_t i = 0; i < sizeof MAP / sizeof *MAP; i++)
        if (!strcmp(MAP[i].op, n->op_type))
            e = &MAP[i];
    if (!e)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "no eltwise mapping");
    float alpha = e->alpha, beta = e->beta;
    if (e->alpha_attr)
        alpha = node_attr_float(n, e->alpha_attr, alpha);
    if (!strcmp(n->op_type, "Clip")) {
        if (n->opset < 11) {
            alpha = node_attr_float(n, "min", alpha);
            beta = node_attr_float(n, "max", beta);
        } else {
            for (int k = 1; k < n->n_in; k++) {
                int id = n->in[k];
                if (id < 0)
                    continue;
                const ptensor *t = &p->t[id];
                if (!t->is_const || t->dtype != UNET_DTYPE_FLOAT || t->nbytes != 4)
                    return unet_set_error(UNET_ERR_UNSUPPORTED, "Clip's min and max must be constant float scalars");
                float v = *(const float *)t->const_data;
                if (k == 1) alpha = v; else beta = v;
            }
        }
    }
    return eltwise_primitive(p, n, e->alg, alpha, beta, n->in[0], n->out[0]);
}
