/* Building a plan for one set of input shapes: shape propagation through the
 * operators' build functions, constant folding of plain kernels, layout
 * conversions where a consumer wants another layout, and the step list. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ops.h"
#include "plan.h"
#include "plan_memory.h"

const char *dnnl_status_text(dnnl_status_t s)
{
    switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "no implementation for these shapes/attributes";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    default: return "unknown oneDNN status";
    }
}

unet_status dnnl_error(dnnl_status_t s, const node_t *n, const char *what)
{
    if (n)
        return unet_set_error(UNET_ERR_BACKEND, "node '%s' (%s): oneDNN %s failed: %s", n->name, n->op_type, what, dnnl_status_text(s));
    return unet_set_error(UNET_ERR_BACKEND, "oneDNN %s failed: %s", what, dnnl_status_text(s));
}

static dnnl_data_type_t dnnl_dt(int dtype)
{
    switch (dtype) {
    case UNET_DTYPE_FLOAT: return dnnl_f32;
    case UNET_DTYPE_INT32: return dnnl_s32;
    case UNET_DTYPE_INT8: return dnnl_s8;
    case UNET_DTYPE_UINT8: return dnnl_u8;
    default: return dnnl_data_type_undef;
    }
}

unet_status plan_plain_md(int rank, const int64_t *dims, int dtype, dnnl_memory_desc_t *md)
{
    dnnl_dims_t d, strides;
    int r = rank > 0 ? rank : 1;
    if (r > DNNL_MAX_NDIMS)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "rank %d exceeds oneDNN's %d", rank, DNNL_MAX_NDIMS);
    for (int i = 0; i < r; i++)
        d[i] = rank > 0 ? dims[i] : 1;
    int64_t s = 1;
    for (int i = r - 1; i >= 0; i--) {
        strides[i] = s;
        s *= d[i] > 0 ? d[i] : 1;
    }
    dnnl_status_t st = dnnl_memory_desc_init_by_strides(md, r, d, dnnl_dt(dtype), strides);
    if (st != dnnl_success)
        return dnnl_error(st, NULL, "plain memory descriptor");
    return UNET_OK;
}

static int md_is_plain(const ptensor *t)
{
    if (!t->has_md)
        return 1;
    dnnl_memory_desc_t plain;
    if (plan_plain_md(t->rank, t->dims, t->dtype, &plain) != UNET_OK)
        return 0;
    return dnnl_memory_desc_equal(&plain, &t->md);
}

static unet_status grow_tensors(plan_t *p)
{
    if (p->n_tensors < p->cap_tensors)
        return UNET_OK;
    int cap = p->cap_tensors ? p->cap_tensors * 2 : 64;
    ptensor *t = realloc(p->t, (size_t)cap * sizeof *t);
    if (!t)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory for the plan");
    p->t = t;
    p->cap_tensors = cap;
    return UNET_OK;
}

static void init_tensor(ptensor *t)
{
    memset(t, 0, sizeof *t);
    t->first_step = -1;
    t->last_step = -1;
    t->alias_of = -1;
    t->plain_twin = -1;
}

unet_status plan_new_tensor(plan_t *p, int dtype, int rank, const int64_t *dims, int *id)
{
    /* dims may point into p->t (a copy of another tensor's shape), which
     * growing the array moves: copy them first. */
    int64_t shape[UNET_MAX_RANK];
    if (rank < 0 || rank > UNET_MAX_RANK)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "rank %d is outside 0..%d", rank, UNET_MAX_RANK);
    if (rank > 0)
        memcpy(shape, dims, (size_t)rank * sizeof *shape);
    UNET_TRY(grow_tensors(p));
    *id = p->n_tensors++;
    init_tensor(&p->t[*id]);
    return plan_set_shape(p, *id, dtype, rank, shape);
}

unet_status plan_set_shape(plan_t *p, int id, int dtype, int rank, const int64_t *dims)
{
    ptensor *t = &p->t[id];
    if (rank < 0 || rank > UNET_MAX_RANK)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "rank %d is outside 0..%d", rank, UNET_MAX_RANK);
    size_t esz = unet_dtype_size(dtype);
    if (esz == 0)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "data type %s is not supported", unet_dtype_name(dtype));
    int64_t numel;
    UNET_TRY(shape_numel(dims, rank, &numel));
    if (numel > (int64_t)(SIZE_MAX / 2 / esz))
        return unet_set_error(UNET_ERR_LIMIT, "tensor of %lld elements is too large", (long long)numel);
    if (p->model && p->model->max_tensor_elements && (uint64_t)numel > p->model->max_tensor_elements)
        return unet_set_error(UNET_ERR_LIMIT, "a tensor of %lld elements exceeds the cap of %llu (unet_load_options.max_tensor_elements)", (long long)numel, (unsigned long long)p->model->max_tensor_elements);
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->dims[i] = dims[i];
    t->nbytes = (size_t)numel * esz;
    t->has_md = 0;
    if (dtype == UNET_DTYPE_FLOAT) {
        UNET_TRY(plan_plain_md(rank, dims, dtype, &t->md));
        t->has_md = 1;
    }
    return UNET_OK;
}

void plan_set_md(plan_t *p, int id, const dnnl_memory_desc_t *md)
{
    ptensor *t = &p->t[id];
    t->md = *md;
    t->has_md = 1;
    t->nbytes = dnnl_memory_desc_get_size(md);
}

static unet_status grow_steps(plan_t *p)
{
    if (p->n_steps < p->cap_steps)
        return UNET_OK;
    int cap = p->cap_steps ? p->cap_steps * 2 : 64;
    step_t *s = realloc(p->steps, (size_t)cap * sizeof *s);
    if (!s)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory for the plan");
    p->steps = s;
    p->cap_steps = cap;
    return UNET_OK;
}

dnnl_primitive_attr_t plan_make_attr(void)
{
    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success)
        return NULL;
    /* User scratchpad: one buffer for the plan, and no thread affinity of the
     * primitive to the thread that created it (Debian builds oneDNN without
     * concurrent execution). */
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    return attr;
}

unet_status plan_add_primitive(plan_t *p, const node_t *n, dnnl_primitive_desc_t pd,
                               int n_args, const int *arg_kinds, const int *arg_tensors)
{
    if (n_args + 1 > STEP_MAX_ARGS)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "too many primitive arguments");
    UNET_TRY(grow_steps(p));
    step_t *s = &p->steps[p->n_steps];
    memset(s, 0, sizeof *s);
    s->kind = STEP_PRIMITIVE;
    s->node = n;
    dnnl_status_t st = dnnl_primitive_create(&s->prim, pd);
    if (st != dnnl_success)
        return dnnl_error(st, n, "primitive creation");
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        s->impl = impl; /* owned by pd; the pd lives as long as the primitive below */
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sbytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
    for (int i = 0; i < n_args; i++) {
        s->arg_kind[i] = arg_kinds[i];
        s->arg_tensor[i] = arg_tensors[i];
    }
    s->n_args = n_args;
    if (sbytes) {
        s->arg_kind[s->n_args] = DNNL_ARG_SCRATCHPAD;
        s->arg_tensor[s->n_args] = -2;
        s->n_args++;
        if (sbytes > p->scratch_bytes)
            p->scratch_bytes = sbytes;
    }
    /* The primitive keeps its own copy of the pd; the impl string must outlive
     * this call, so read it again from the primitive's pd. */
    const_dnnl_primitive_desc_t ppd = NULL;
    if (dnnl_primitive_get_primitive_desc(s->prim, &ppd) == dnnl_success && ppd) {
        const char *pimpl = NULL;
        if (dnnl_primitive_desc_query(ppd, dnnl_query_impl_info_str, 0, &pimpl) == dnnl_success)
            s->impl = pimpl;
    }
    p->n_steps++;
    return UNET_OK;
}

/* Runs a reorder right away (constants: weights reordered once at plan time). */
static unet_status reorder_now(plan_t *p, const ptensor *src, const dnnl_memory_desc_t *dst_md, void *dst)
{
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t ms = NULL, md = NULL;
    dnnl_stream_t stream = NULL;
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, &src->md, p->engine, dst_md, p->engine, NULL);
    if (st == dnnl_success) st = dnnl_primitive_create(&prim, pd);
    if (st == dnnl_success) st = dnnl_memory_create(&ms, &src->md, p->engine, src->const_data);
    if (st == dnnl_success) st = dnnl_memory_create(&md, dst_md, p->engine, dst);
    if (st == dnnl_success) st = dnnl_stream_create(&stream, p->engine, dnnl_stream_default_flags);
    if (st == dnnl_success) {
        dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, ms }, { DNNL_ARG_TO, md } };
        st = dnnl_primitive_execute(prim, stream, 2, args);
        if (st == dnnl_success)
            st = dnnl_stream_wait(stream);
    }
    if (stream) dnnl_stream_destroy(stream);
    if (ms) dnnl_memory_destroy(ms);
    if (md) dnnl_memory_destroy(md);
    if (prim) dnnl_primitive_destroy(prim);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success)
        return dnnl_error(st, NULL, "constant reorder");
    return UNET_OK;
}

unet_status plan_as_md(plan_t *p, int id, const dnnl_memory_desc_t *md, int *out_id)
{
    ptensor *t = &p->t[id];
    if (!t->has_md)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "tensor of type %s cannot be given a oneDNN layout", unet_dtype_name(t->dtype));
    if (dnnl_memory_desc_equal(&t->md, md)) {
        *out_id = id;
        return UNET_OK;
    }
    int nid;
    UNET_TRY(grow_tensors(p));
    nid = p->n_tensors++;
    init_tensor(&p->t[nid]);
    t = &p->t[id];
    ptensor *n = &p->t[nid];
    n->dtype = t->dtype;
    n->rank = t->rank;
    memcpy(n->dims, t->dims, sizeof n->dims);
    plan_set_md(p, nid, md);
    if (t->is_const) {
        n->const_data = aligned_alloc(64, (n->nbytes + 63) / 64 * 64 + 64);
        if (!n->const_data)
            return unet_set_error(UNET_ERR_NOMEM, "out of memory reordering a constant");
        n->is_const = 1;
        n->owns_const = 1;
        UNET_TRY(reorder_now(p, t, md, n->const_data));
    } else {
        dnnl_primitive_desc_t pd = NULL;
        dnnl_primitive_attr_t attr = plan_make_attr();
        dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, &t->md, p->engine, md, p->engine, attr);
        dnnl_primitive_attr_destroy(attr);
        if (st != dnnl_success)
            return dnnl_error(st, NULL, "layout reorder");
        int kinds[2] = { DNNL_ARG_FROM, DNNL_ARG_TO };
        int ids[2] = { id, nid };
        unet_status s = plan_add_primitive(p, NULL, pd, 2, kinds, ids);
        dnnl_primitive_desc_destroy(pd);
        UNET_TRY(s);
    }
    *out_id = nid;
    return UNET_OK;
}

unet_status plan_as_plain(plan_t *p, int id, int *out_id)
{
    ptensor *t = &p->t[id];
    if (!t->has_md || md_is_plain(t)) {
        *out_id = id;
        return UNET_OK;
    }
    if (t->plain_twin >= 0) {
        *out_id = t->plain_twin;
        return UNET_OK;
    }
    dnnl_memory_desc_t plain;
    UNET_TRY(plan_plain_md(t->rank, t->dims, t->dtype, &plain));
    UNET_TRY(plan_as_md(p, id, &plain, out_id));
    p->t[id].plain_twin = *out_id;
    return UNET_OK;
}

unet_status plan_alias(plan_t *p, int dst, int src)
{
    ptensor *s = &p->t[src];
    ptensor *d = &p->t[dst];
    if (s->nbytes != d->nbytes)
        return unet_set_error(UNET_ERR_SHAPE, "internal: alias of %zu bytes onto %zu bytes", d->nbytes, s->nbytes);
    if (s->is_const) {
        d->is_const = 1;
        d->const_data = s->const_data;
        d->owns_const = 0;
        return UNET_OK;
    }
    d->alias_of = s->alias_of >= 0 ? s->alias_of : src;
    return UNET_OK;
}

tview plan_view(const plan_t *p, int id)
{
    tview v;
    memset(&v, 0, sizeof v);
    if (id < 0)
        return v;
    const ptensor *t = &p->t[id];
    v.dtype = t->dtype;
    v.rank = t->rank;
    memcpy(v.dims, t->dims, sizeof v.dims);
    v.data = t->is_const ? t->const_data : NULL;
    return v;
}

unet_status plan_add_plain(plan_t *p, const node_t *n, const int *in, int n_in,
                           const int *out, int n_out, plain_run_fn run)
{
    if (n_in > STEP_MAX_IO || n_out > STEP_MAX_IO)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "too many inputs or outputs for a plain kernel");
    int pin[STEP_MAX_IO];
    int all_const = 1;
    for (int i = 0; i < n_in; i++) {
        pin[i] = -1;
        if (in[i] < 0)
            continue;
        UNET_TRY(plan_as_plain(p, in[i], &pin[i]));
        if (!p->t[pin[i]].is_const)
            all_const = 0;
    }
    if (all_const) {
        tview vi[STEP_MAX_IO], vo[STEP_MAX_IO];
        for (int i = 0; i < n_in; i++)
            vi[i] = plan_view(p, pin[i]);
        for (int o = 0; o < n_out; o++) {
            memset(&vo[o], 0, sizeof vo[o]);
            if (out[o] < 0)
                continue; /* an omitted optional output */
            ptensor *t = &p->t[out[o]];
            t->const_data = malloc(t->nbytes ? t->nbytes : 1);
            if (!t->const_data)
                return unet_set_error(UNET_ERR_NOMEM, "out of memory folding constants");
            t->is_const = 1;
            t->owns_const = 1;
            vo[o] = plan_view(p, out[o]);
        }
        return run(n, vi, n_in, vo, n_out);
    }
    UNET_TRY(grow_steps(p));
    step_t *s = &p->steps[p->n_steps++];
    memset(s, 0, sizeof *s);
    s->kind = STEP_KERNEL;
    s->node = n;
    s->impl = "c";
    s->run = run;
    s->n_in = n_in;
    s->n_out = n_out;
    for (int i = 0; i < n_in; i++)
        s->in[i] = pin[i];
    for (int o = 0; o < n_out; o++)
        s->out[o] = out[o];
    return UNET_OK;
}

unet_status op_build_plain(plan_t *p, const node_t *n)
{
    tview vi[STEP_MAX_IO], vo[STEP_MAX_IO];
    if (n->n_in > STEP_MAX_IO || n->n_out > STEP_MAX_IO)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "too many inputs or outputs");
    for (int i = 0; i < n->n_in; i++) {
        vi[i] = plan_view(p, n->in[i]);
        if (n->in[i] >= 0 && !p->t[n->in[i]].is_const && p->t[n->in[i]].plain_twin >= 0 &&
            p->t[p->t[n->in[i]].plain_twin].is_const)
            vi[i] = plan_view(p, p->t[n->in[i]].plain_twin);
    }
    memset(vo, 0, sizeof vo);
    UNET_TRY(n->def->shape(n, vi, n->n_in, vo, n->n_out));
    for (int o = 0; o < n->n_out; o++) {
        if (n->out[o] < 0)
            continue;
        UNET_TRY(plan_set_shape(p, n->out[o], vo[o].dtype, vo[o].rank, vo[o].dims));
    }
    return plan_add_plain(p, n, n->in, n->n_in, n->out, n->n_out, n->def->run);
}

unet_status op_require_float(const plan_t *p, const node_t *n, int input)
{
    int id = n->in[input];
    if (id < 0)
        return UNET_OK;
    if (p->t[id].dtype != UNET_DTYPE_FLOAT)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "input %d is %s; only float32 is supported here", input, unet_dtype_name(p->t[id].dtype));
    return UNET_OK;
}

int op_spatial_attr(const node_t *n, const char *name, int64_t *out, int rank, int64_t def)
{
    int64_t buf[UNET_MAX_RANK * 2];
    int k = node_attr_ints(n, name, buf, UNET_MAX_RANK * 2);
    for (int i = 0; i < rank; i++)
        out[i] = def;
    if (k < 0)
        return 0;
    if (k != rank)
        return -1;
    for (int i = 0; i < rank; i++)
        out[i] = buf[i];
    return 1;
}

/* Small graph inputs can be shape arguments (Reshape's shape, Slice's starts,
 * Range's limits, Pad's pads). When a plan cannot be built without their
 * values, they are bound as constants and the plan serves those values only
 * (the session compares them before reusing it). */
#define VALUE_INPUT_MAX_ELEMENTS 64

static int is_value_input(const unet_tensor *in)
{
    int64_t numel;
    if (!in->data || in->dtype == UNET_DTYPE_STRING || unet_dtype_size(in->dtype) == 0)
        return 0; /* no data: unet_session_prepare */
    if (shape_numel(in->dims, in->rank, &numel) != UNET_OK)
        return 0;
    return numel <= VALUE_INPUT_MAX_ELEMENTS;
}

static unet_status bind_inputs(plan_t *p, const unet_tensor *inputs, int n_inputs, int by_value)
{
    const unet_model *m = p->model;
    if (n_inputs != m->n_inputs)
        return unet_set_error(UNET_ERR_ARG, "the model has %d input(s), %d given", m->n_inputs, n_inputs);
    for (int i = 0; i < m->n_inputs; i++) {
        const value_t *v = &m->values[m->inputs[i]];
        const unet_tensor *in = &inputs[i];
        if (v->dtype && in->dtype != v->dtype)
            return unet_set_error(UNET_ERR_ARG, "input '%s': expected %s, got %s", v->name, unet_dtype_name(v->dtype), unet_dtype_name(in->dtype));
        if (v->rank >= 0 && in->rank != v->rank)
            return unet_set_error(UNET_ERR_SHAPE, "input '%s': expected rank %d, got %d", v->name, v->rank, in->rank);
        for (int d = 0; v->rank >= 0 && d < v->rank; d++)
            if (v->dims[d] >= 0 && in->dims[d] != v->dims[d])
                return unet_set_error(UNET_ERR_SHAPE, "input '%s': dimension %d must be %lld, got %lld", v->name, d, (long long)v->dims[d], (long long)in->dims[d]);
        UNET_TRY(plan_set_shape(p, m->inputs[i], in->dtype, in->rank, in->dims));
        p->t[m->inputs[i]].is_input = 1;
        if (by_value && is_value_input(in)) {
            ptensor *t = &p->t[m->inputs[i]];
            t->const_data = malloc(t->nbytes ? t->nbytes : 1);
            if (!t->const_data)
                return unet_set_error(UNET_ERR_NOMEM, "out of memory");
            memcpy(t->const_data, in->data, t->nbytes);
            t->is_const = 1;
            t->owns_const = 1;
        }
        p->input_ranks[i] = in->rank;
        memcpy(p->input_dims[i], in->dims, sizeof p->input_dims[i]);
    }
    return UNET_OK;
}

static unet_status plan_build_once(const unet_model *m, dnnl_engine_t engine, const unet_tensor *inputs,
                                   int n_inputs, int by_value, const plan_settings *settings, plan_t **out);

unet_status plan_build(const unet_model *m, dnnl_engine_t engine, const unet_tensor *inputs,
                       int n_inputs, const plan_settings *settings, plan_t **out)
{
    unet_status s = plan_build_once(m, engine, inputs, n_inputs, 0, settings, out);
    if (s != UNET_ERR_UNSUPPORTED)
        return s;
    int any = 0;
    for (int i = 0; i < n_inputs && i < m->n_inputs; i++)
        any |= is_value_input(&inputs[i]);
    return any ? plan_build_once(m, engine, inputs, n_inputs, 1, settings, out) : s;
}

static unet_status plan_build_once(const unet_model *m, dnnl_engine_t engine, const unet_tensor *inputs,
                                   int n_inputs, int by_value, const plan_settings *settings, plan_t **out)
{
    plan_t *p = calloc(1, sizeof *p);
    if (!p)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory for the plan");
    p->model = m;
    p->engine = engine;
    p->settings = *settings;
    unet_status s = UNET_OK;
    p->cap_tensors = m->n_values + 64;
    p->t = calloc((size_t)p->cap_tensors, sizeof *p->t);
    p->output_ids = calloc((size_t)m->n_outputs + 1, sizeof *p->output_ids);
    if (!p->t || !p->output_ids)
        s = unet_set_error(UNET_ERR_NOMEM, "out of memory for the plan");
    if (s == UNET_OK) {
        p->n_tensors = m->n_values;
        for (int v = 0; v < m->n_values; v++) {
            init_tensor(&p->t[v]);
            const value_t *val = &m->values[v];
            if (val->data && s == UNET_OK) {
                s = plan_set_shape(p, v, val->dtype, val->rank, val->dims);
                p->t[v].is_const = 1;
                p->t[v].const_data = val->data;
                if (s != UNET_OK)
                    unet_wrap_error(s, "constant '%s'", val->name);
            }
        }
    }
    if (s == UNET_OK)
        s = bind_inputs(p, inputs, n_inputs, by_value);
    for (int i = 0; i < m->n_nodes && s == UNET_OK; i++) {
        const node_t *n = &m->nodes[i];
        s = n->def->build ? n->def->build(p, n) : op_build_plain(p, n);
        if (s != UNET_OK)
            unet_wrap_error(s, "node '%s' (%s, opset %d)", n->name, n->op_type, n->opset);
    }
    for (int o = 0; o < m->n_outputs && s == UNET_OK; o++) {
        s = plan_as_plain(p, m->outputs[o], &p->output_ids[o]);
        if (s == UNET_OK)
            p->t[p->output_ids[o]].is_output = 1;
    }
    if (s == UNET_OK)
        s = plan_finalise(p);
    if (s != UNET_OK) {
        plan_free(p);
        return s;
    }
    *out = p;
    return UNET_OK;
}

void plan_free(plan_t *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_steps; i++) {
        if (p->steps[i].prim)
            dnnl_primitive_destroy(p->steps[i].prim);
        free(p->steps[i].exec_args);
    }
    free(p->steps);
    for (int i = 0; i < p->n_tensors; i++) {
        if (p->t[i].mem)
            dnnl_memory_destroy(p->t[i].mem);
        if (p->t[i].owns_const)
            free(p->t[i].const_data);
    }
    free(p->t);
    if (p->scratch_mem)
        dnnl_memory_destroy(p->scratch_mem);
    free(p->scratch);
    free(p->arena);
    free(p->output_ids);
    free(p);
}
