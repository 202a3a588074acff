/* MatMul (numpy semantics: 1-D operands promoted, batch dimensions
 * broadcast) and Gemm (transA, transB, alpha, beta, C broadcast to (M, N)).
 * Float tensors run on oneDNN matmul (views give both operands the output's
 * rank; constant weights are reordered once into the layout oneDNN picks);
 * constants, empty tensors and cases oneDNN declines use a plain kernel. */
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../ops.h"
#include "../plan_memory.h"

/* MatMul's operand geometry: batch dims broadcast, then (M, K) x (K, N). */
typedef struct mm_geom {
    int batch_rank;
    int64_t batch[UNET_MAX_RANK];
    int64_t a_batch[UNET_MAX_RANK], b_batch[UNET_MAX_RANK]; /* right-aligned, 1-padded */
    int64_t m, k, n;
    int a_vec, b_vec; /* 1-D operands */
} mm_geom;

static unet_status matmul_geom(const tview *a, const tview *b, mm_geom *g)
{
    if (a->rank < 1 || b->rank < 1)
        return unet_set_error(UNET_ERR_SHAPE, "MatMul operands must have rank >= 1 (got %d and %d)", a->rank, b->rank);
    memset(g, 0, sizeof *g);
    g->a_vec = a->rank == 1;
    g->b_vec = b->rank == 1;
    g->m = g->a_vec ? 1 : a->dims[a->rank - 2];
    g->k = a->dims[a->rank - 1];
    int64_t kb = g->b_vec ? b->dims[0] : b->dims[b->rank - 2];
    g->n = g->b_vec ? 1 : b->dims[b->rank - 1];
    if (kb != g->k)
        return unet_set_error(UNET_ERR_SHAPE, "MatMul inner dimensions differ: %lld and %lld", (long long)g->k, (long long)kb);
    int ra = g->a_vec ? 0 : a->rank - 2, rb = g->b_vec ? 0 : b->rank - 2;
    g->batch_rank = ra > rb ? ra : rb;
    if (g->batch_rank + 2 > UNET_MAX_RANK)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "MatMul rank above %d", UNET_MAX_RANK);
    for (int d = 0; d < g->batch_rank; d++) {
        int ka = d - (g->batch_rank - ra), kb2 = d - (g->batch_rank - rb);
        int64_t da = ka >= 0 ? a->dims[ka] : 1, db = kb2 >= 0 ? b->dims[kb2] : 1;
        if (da != db && da != 1 && db != 1)
            return unet_set_error(UNET_ERR_SHAPE, "MatMul batch dimension %d is %lld in A and %lld in B", d, (long long)da, (long long)db);
        g->a_batch[d] = da;
        g->b_batch[d] = db;
        g->batch[d] = da == 1 ? db : da;
    }
    return UNET_OK;
}

static unet_status matmul_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n;
    (void)n_in;
    (void)n_out;
    if (in[0].dtype != UNET_DTYPE_FLOAT || in[1].dtype != UNET_DTYPE_FLOAT)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "MatMul of %s and %s; only float32 is supported", unet_dtype_name(in[0].dtype), unet_dtype_name(in[1].dtype));
    mm_geom g;
    UNET_TRY(matmul_geom(&in[0], &in[1], &g));
    out[0].dtype = UNET_DTYPE_FLOAT;
    out[0].rank = 0;
    for (int d = 0; d < g.batch_rank; d++)
        out[0].dims[out[0].rank++] = g.batch[d];
    if (!g.a_vec)
        out[0].dims[out[0].rank++] = g.m;
    if (!g.b_vec)
        out[0].dims[out[0].rank++] = g.n;
    return UNET_OK;
}

/* C[m x n] (+)= alpha * A[m x k] B[k x n] with arbitrary strides for A and B. */
static void gemm_kernel(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t a_rs,
                        int64_t a_cs, const float *b, int64_t b_rs, int64_t b_cs, float *c)
{
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * n;
        for (int64_t p = 0; p < k; p++) {
            float av = alpha * a[i * a_rs + p * a_cs];
            const float *bp = b + p * b_rs;
            if (b_cs == 1)
                for (int64_t j = 0; j < n; j++)
                    ci[j] += av * bp[j];
            else
                for (int64_t j = 0; j < n; j++)
                    ci[j] += av * bp[j * b_cs];
        }
    }
}

static unet_status matmul_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n;
    (void)n_in;
    (void)n_out;
    mm_geom g;
    UNET_TRY(matmul_geom(&in[0], &in[1], &g));
    int64_t nb = 1;
    for (int d = 0; d < g.batch_rank; d++)
        nb *= g.batch[d];
    const float *a = in[0].data, *b = in[1].data;
    float *c = out[0].data;
    memset(c, 0, (size_t)(nb * g.m * g.n) * sizeof *c);
    int64_t idx[UNET_MAX_RANK] = { 0 };
    for (int64_t e = 0; e < nb; e++) {
        /* Offsets of this batch entry in A and B (broadcast dims repeat). */
        int64_t ao = 0, bo = 0;
        for (int d = 0; d < g.batch_rank; d++) {
            ao = ao * g.a_batch[d] + (g.a_batch[d] == 1 ? 0 : idx[d]);
            bo = bo * g.b_batch[d] + (g.b_batch[d] == 1 ? 0 : idx[d]);
        }
        gemm_kernel(g.m, g.n, g.k, 1.0f, a + ao * g.m * g.k, g.k, 1, b + bo * g.k * g.n, g.n, 1,
                    c + e * g.m * g.n);
        for (int d = g.batch_rank - 1; d >= 0; d--) {
            if (++idx[d] < g.batch[d])
                break;
            idx[d] = 0;
        }
    }
    return UNET_OK;
}

/* A view of tensor id with other dims (and layout md when given). */
static unet_status view_of(plan_t *p, int id, int rank, const int64_t *dims, const dnnl_memory_desc_t *md, int *out)
{
    int v;
    UNET_TRY(plan_new_tensor(p, UNET_DTYPE_FLOAT, rank, dims, &v));
    if (md)
        plan_set_md(p, v, md);
    UNET_TRY(plan_alias(p, v, id));
    *out = v;
    return UNET_OK;
}

/* oneDNN matmul: dst = alpha * (src x weights + bias) + add, where bias (-1:
 * none) broadcasts per output column and add (-1: none) is a binary post-op
 * operand of any shape that broadcasts to dst. Returns UNET_OK with *done = 0
 * when oneDNN has no implementation (the caller goes plain). */
static unet_status matmul_primitive(plan_t *p, const node_t *n, int src, int wei, int bias, int add,
                                    int dst, float alpha, int *done)
{
    *done = 0;
    dnnl_memory_desc_t wmd = p->t[wei].md;
    int wei_const = p->t[wei].is_const;
    if (wei_const) {
        dnnl_dims_t wd;
        for (int d = 0; d < p->t[wei].rank; d++)
            wd[d] = p->t[wei].dims[d];
        dnnl_memory_desc_init_by_tag(&wmd, p->t[wei].rank, wd, dnnl_f32, dnnl_format_tag_any);
    }
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = plan_make_attr();
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int add_index = 0;
    dnnl_status_t st = attr ? dnnl_success : dnnl_out_of_memory;
    if (st == dnnl_success && (alpha != 1.0f || add >= 0))
        st = dnnl_post_ops_create(&po);
    if (st == dnnl_success && alpha != 1.0f) {
        st = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, alpha, 0.0f);
        add_index = 1;
    }
    if (st == dnnl_success && add >= 0)
        st = dnnl_post_ops_append_binary(po, dnnl_binary_add, &p->t[add].md);
    if (st == dnnl_success && po)
        st = dnnl_primitive_attr_set_post_ops(attr, po);
    if (st == dnnl_success)
        st = dnnl_matmul_desc_init(&md, &p->t[src].md, &wmd, bias >= 0 ? &p->t[bias].md : NULL, &p->t[dst].md);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &md, attr, p->engine, NULL);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (st == dnnl_unimplemented || st == dnnl_invalid_arguments)
        return UNET_OK;
    if (st != dnnl_success)
        return dnnl_error(st, n, "matmul setup");
    unet_status r = UNET_OK;
    if (wei_const)
        r = plan_as_md(p, wei, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), &wei);
    if (r == UNET_OK) {
        int kinds[5] = { DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST }, ids[5] = { src, wei, dst };
        int na = 3;
        if (bias >= 0) {
            kinds[na] = DNNL_ARG_BIAS;
            ids[na++] = bias;
        }
        if (add >= 0) {
            kinds[na] = DNNL_ARG_ATTR_MULTIPLE_POST_OP(add_index) | DNNL_ARG_SRC_1;
            ids[na++] = add;
        }
        r = plan_add_primitive(p, n, pd, na, kinds, ids);
    }
    dnnl_primitive_desc_destroy(pd);
    if (r == UNET_OK)
        *done = 1;
    return r;
}

unet_status matmul_build(plan_t *p, const node_t *n)
{
    tview vi[2], vo[1];
    for (int i = 0; i < 2; i++)
        vi[i] = plan_view(p, n->in[i]);
    memset(vo, 0, sizeof vo);
    UNET_TRY(matmul_shape(n, vi, 2, vo, 1));
    UNET_TRY(plan_set_shape(p, n->out[0], vo[0].dtype, vo[0].rank, vo[0].dims));
    mm_geom g;
    UNET_TRY(matmul_geom(&vi[0], &vi[1], &g));
    int all_const = p->t[n->in[0]].is_const && p->t[n->in[1]].is_const;
    int rank = g.batch_rank + 2;
    if (all_const || p->t[n->out[0]].nbytes == 0 || g.k == 0 || rank > DNNL_MAX_NDIMS)
        return plan_add_plain(p, n, n->in, 2, n->out, 1, matmul_run);
    /* Same-rank views: (batch..., M, K) x (batch..., K, N) -> (batch..., M, N). */
    int64_t ad[UNET_MAX_RANK], bd[UNET_MAX_RANK], dd[UNET_MAX_RANK];
    for (int d = 0; d < g.batch_rank; d++) {
        ad[d] = g.a_batch[d];
        bd[d] = g.b_batch[d];
        dd[d] = g.batch[d];
    }
    ad[rank - 2] = g.m;
    ad[rank - 1] = g.k;
    bd[rank - 2] = g.k;
    bd[rank - 1] = g.n;
    dd[rank - 2] = g.m;
    dd[rank - 1] = g.n;
    int a, b, av, bv, dv;
    UNET_TRY(plan_as_plain(p, n->in[0], &a));
    UNET_TRY(plan_as_plain(p, n->in[1], &b));
    UNET_TRY(view_of(p, a, rank, ad, NULL, &av));
    UNET_TRY(view_of(p, b, rank, bd, NULL, &bv));
    UNET_TRY(plan_new_tensor(p, UNET_DTYPE_FLOAT, rank, dd, &dv));
    UNET_TRY(plan_alias(p, dv, n->out[0]));
    int done;
    UNET_TRY(matmul_primitive(p, n, av, bv, -1, -1, dv, 1.0f, &done));
    if (done)
        return UNET_OK;
    return plan_add_plain(p, n, n->in, 2, n->out, 1, matmul_run);
}

/* Gemm */

typedef struct gemm_geom {
    int64_t m, k, n;
    int64_t cm, cn; /* C as (cm, cn), each 1 or equal to M / N; 0 when absent */
} gemm_geom;

static unet_status gemm_geometry(const node_t *n, const tview *in, int n_in, gemm_geom *g)
{
    int ta = node_attr_int(n, "transA", 0) != 0, tb = node_attr_int(n, "transB", 0) != 0;
    if (in[0].rank != 2 || in[1].rank != 2)
        return unet_set_error(UNET_ERR_SHAPE, "Gemm operands must be 2-D (got ranks %d and %d)", in[0].rank, in[1].rank);
    g->m = in[0].dims[ta ? 1 : 0];
    g->k = in[0].dims[ta ? 0 : 1];
    int64_t kb = in[1].dims[tb ? 1 : 0];
    g->n = in[1].dims[tb ? 0 : 1];
    if (kb != g->k)
        return unet_set_error(UNET_ERR_SHAPE, "Gemm inner dimensions differ: %lld and %lld", (long long)g->k, (long long)kb);
    g->cm = g->cn = 0;
    if (n_in > 2 && n->in[2] >= 0) {
        const tview *c = &in[2];
        if (c->rank > 2)
            return unet_set_error(UNET_ERR_SHAPE, "Gemm C has rank %d, expected at most 2", c->rank);
        g->cm = c->rank == 2 ? c->dims[0] : 1;
        g->cn = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
        if ((g->cm != 1 && g->cm != g->m) || (g->cn != 1 && g->cn != g->n))
            return unet_set_error(UNET_ERR_SHAPE, "Gemm C of shape (%lld, %lld) does not broadcast to (%lld, %lld)", (long long)g->cm, (long long)g->cn, (long long)g->m, (long long)g->n);
    }
    return UNET_OK;
}

static unet_status gemm_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    for (int i = 0; i < n_in; i++)
        if (n->in[i] >= 0 && in[i].dtype != UNET_DTYPE_FLOAT)
            return unet_set_error(UNET_ERR_UNSUPPORTED, "Gemm input %d is %s; only float32 is supported", i, unet_dtype_name(in[i].dtype));
    gemm_geom g;
    UNET_TRY(gemm_geometry(n, in, n_in, &g));
    out[0].dtype = UNET_DTYPE_FLOAT;
    out[0].rank = 2;
    out[0].dims[0] = g.m;
    out[0].dims[1] = g.n;
    return UNET_OK;
}

static unet_status gemm_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    gemm_geom g;
    UNET_TRY(gemm_geometry(n, in, n_in, &g));
    int ta = node_attr_int(n, "transA", 0) != 0, tb = node_attr_int(n, "transB", 0) != 0;
    float alpha = node_attr_float(n, "alpha", 1.0f), beta = node_attr_float(n, "beta", 1.0f);
    float *y = out[0].data;
    const float *c = g.cm ? in[2].data : NULL;
    for (int64_t i = 0; i < g.m; i++)
        for (int64_t j = 0; j < g.n; j++)
            y[i * g.n + j] = c ? beta * c[(g.cm == 1 ? 0 : i) * g.cn + (g.cn == 1 ? 0 : j)] : 0.0f;
    /* A is (M, K) or, transposed, (K, M) in memory; likewise B. */
    gemm_kernel(g.m, g.n, g.k, alpha, in[0].data, ta ? 1 : g.k, ta ? g.m : 1, in[1].data,
                tb ? 1 : g.n, tb ? g.k : 1, y);
    return UNET_OK;
}

/* A 2-D float view (rows, cols) of a plain tensor stored transposed or not. */
static unet_status matrix_view(plan_t *p, int id, int64_t rows, int64_t cols, int transposed, int *out)
{
    dnnl_dims_t d = { rows, cols }, s;
    s[0] = transposed ? 1 : cols;
    s[1] = transposed ? rows : 1;
    dnnl_memory_desc_t md;
    dnnl_status_t st = dnnl_memory_desc_init_by_strides(&md, 2, d, dnnl_f32, s);
    if (st != dnnl_success)
        return dnnl_error(st, NULL, "strided matrix descriptor");
    int64_t dims[2] = { rows, cols };
    return view_of(p, id, 2, dims, &md, out);
}

unet_status gemm_build(plan_t *p, const node_t *n)
{
    tview vi[3], vo[1];
    int n_in = n->n_in;
    int all_const = 1;
    for (int i = 0; i < n_in; i++) {
        vi[i] = plan_view(p, n->in[i]);
        if (n->in[i] >= 0)
            all_const &= p->t[n->in[i]].is_const;
    }
    memset(vo, 0, sizeof vo);
    UNET_TRY(gemm_shape(n, vi, n_in, vo, 1));
    UNET_TRY(plan_set_shape(p, n->out[0], UNET_DTYPE_FLOAT, 2, vo[0].dims));
    gemm_geom g;
    UNET_TRY(gemm_geometry(n, vi, n_in, &g));
    int ta = node_attr_int(n, "transA", 0) != 0, tb = node_attr_int(n, "transB", 0) != 0;
    float alpha = node_attr_float(n, "alpha", 1.0f), beta = node_attr_float(n, "beta", 1.0f);
    int has_c = g.cm != 0 && beta != 0.0f;
    int c_const = has_c && p->t[n->in[2]].is_const;
    /* C of shape (1, N) is a oneDNN bias, added before alpha scales: it is
     * C * beta / alpha. Otherwise C is a binary post-op added after alpha:
     * C * beta. Scaling needs C at plan time. */
    int c_is_bias = has_c && g.cm == 1 && g.cn == g.n && (c_const || beta == alpha);
    float c_scale = c_is_bias ? beta / alpha : beta;
    if (all_const || p->t[n->out[0]].nbytes == 0 || g.k == 0 || alpha == 0.0f || (has_c && c_scale != 1.0f && !c_const))
        return plan_add_plain(p, n, n->in, n_in, n->out, 1, gemm_run);
    int a, b, av, bv, cv = -1;
    UNET_TRY(plan_as_plain(p, n->in[0], &a));
    UNET_TRY(plan_as_plain(p, n->in[1], &b));
    UNET_TRY(matrix_view(p, a, g.m, g.k, ta, &av));
    UNET_TRY(matrix_view(p, b, g.k, g.n, tb, &bv));
    if (has_c) {
        int c;
        UNET_TRY(plan_as_plain(p, n->in[2], &c));
        int64_t cd[2] = { g.cm, g.cn };
        if (c_scale != 1.0f) {
            UNET_TRY(plan_new_tensor(p, UNET_DTYPE_FLOAT, 2, cd, &cv));
            ptensor *t = &p->t[cv];
            float *data = malloc(t->nbytes ? t->nbytes : 1);
            if (!data)
                return unet_set_error(UNET_ERR_NOMEM, "out of memory scaling Gemm's C");
            const float *src = p->t[c].const_data;
            for (int64_t i = 0; i < g.cm * g.cn; i++)
                data[i] = src[i] * c_scale;
            t->const_data = data;
            t->is_const = 1;
            t->owns_const = 1;
        } else {
            UNET_TRY(view_of(p, c, 2, cd, NULL, &cv));
        }
    }
    int64_t dd[2] = { g.m, g.n };
    int dv;
    UNET_TRY(plan_new_tensor(p, UNET_DTYPE_FLOAT, 2, dd, &dv));
    UNET_TRY(plan_alias(p, dv, n->out[0]));
    int done;
    UNET_TRY(matmul_primitive(p, n, av, bv, c_is_bias ? cv : -1, c_is_bias ? -1 : cv, dv, alpha, &done));
    if (done)
        return UNET_OK;
    return plan_add_plain(p, n, n->in, n_in, n->out, 1, gemm_run);
}

unet_status gemm_check(const unet_model *m, const node_t *n)
{
    (void)m;
    if (n->opset < 11 && n->n_in < 3)
        return unet_set_error(UNET_ERR_INVALID, "Gemm before opset 11 needs C");
    return UNET_OK;
}
