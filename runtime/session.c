/* Sessions: a oneDNN engine and stream, and a small cache of plans keyed by
 * the input shapes (the common case is one tile size and a smaller last batch). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "plan.h"

#define DEFAULT_MAX_PLANS 4

struct unet_session {
    const unet_model *model;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int threads;
    int max_plans;
    int profile;
    plan_settings settings;
    plan_t **plans;
    int n_plans;
    uint64_t clock;
    plan_t *last;
    plan_t *prepared;
    const unet_tensor *last_inputs;
    unet_tensor inputs_copy[16];
    double *profile_ms;
    int profile_n;
};

unet_status unet_session_create(const unet_model *model, const unet_session_options *opts,
                                unet_session **out)
{
    unet_clear_error();
    if (!model || !out)
        return unet_set_error(UNET_ERR_ARG, "unet_session_create: NULL argument");
    if (opts && unet_precision_check(opts->precision) != UNET_OK)
        return UNET_ERR_UNSUPPORTED; /* the message says what the CPU lacks */
    unet_session *s = calloc(1, sizeof *s);
    if (!s)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    s->model = model;
    s->threads = opts && opts->threads > 0 ? opts->threads : omp_get_num_procs();
    s->max_plans = opts && opts->max_cached_plans > 0 ? opts->max_cached_plans : DEFAULT_MAX_PLANS;
    s->profile = opts ? opts->profile : 0;
    s->settings.bf16 = opts && opts->precision == UNET_PRECISION_BF16;
    s->settings.direct_conv = opts ? opts->direct_convolutions : 0;
    s->plans = calloc((size_t)s->max_plans, sizeof *s->plans);
    dnnl_status_t st = s->plans ? dnnl_engine_create(&s->engine, dnnl_cpu, 0) : dnnl_out_of_memory;
    if (st == dnnl_success)
        st = dnnl_stream_create(&s->stream, s->engine, dnnl_stream_default_flags);
    if (st != dnnl_success) {
        unet_session_free(s);
        return dnnl_error(st, NULL, "engine creation");
    }
    *out = s;
    return UNET_OK;
}

void unet_session_free(unet_session *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_plans; i++)
        plan_free(s->plans[i]);
    free(s->plans);
    free(s->profile_ms);
    if (s->stream)
        dnnl_stream_destroy(s->stream);
    if (s->engine)
        dnnl_engine_destroy(s->engine);
    free(s);
}

static int plan_matches(const plan_t *p, const unet_tensor *inputs, int n)
{
    for (int i = 0; i < n; i++) {
        if (p->input_ranks[i] != inputs[i].rank)
            return 0;
        for (int d = 0; d < inputs[i].rank; d++)
            if (p->input_dims[i][d] != inputs[i].dims[d])
                return 0;
        /* an input the plan was built for by value (a shape argument) */
        const ptensor *t = &p->t[p->model->inputs[i]];
        if (t->is_const && (!inputs[i].data || memcmp(t->const_data, inputs[i].data, t->nbytes) != 0))
            return 0;
    }
    return 1;
}

unet_status plan_output(const plan_t *p, int index, const unet_tensor *inputs, unet_tensor *out);

static unet_status check_inputs(const unet_session *s, const unet_tensor *inputs, int n_inputs)
{
    if (!s || (!inputs && n_inputs))
        return unet_set_error(UNET_ERR_ARG, "NULL session or inputs");
    if (n_inputs != s->model->n_inputs || n_inputs > 16)
        return unet_set_error(UNET_ERR_ARG, "the model has %d input(s), %d given", s->model->n_inputs, n_inputs);
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i].rank < 0 || inputs[i].rank > UNET_MAX_RANK)
            return unet_set_error(UNET_ERR_ARG, "input %d: rank %d is outside 0..%d", i, inputs[i].rank, UNET_MAX_RANK);
    return UNET_OK;
}

/* The cached plan for these shapes, built on a miss (least recently used
 * plan evicted when the cache is full). */
static unet_status get_plan(unet_session *s, const unet_tensor *inputs, int n_inputs, plan_t **out)
{
    plan_t *p = NULL;
    for (int i = 0; i < s->n_plans; i++)
        if (plan_matches(s->plans[i], inputs, n_inputs)) {
            p = s->plans[i];
            break;
        }
    if (!p) {
        UNET_TRY(plan_build(s->model, s->engine, inputs, n_inputs, &s->settings, &p));
        if (s->n_plans == s->max_plans) {
            int lru = 0;
            for (int i = 1; i < s->n_plans; i++)
                if (s->plans[i]->last_used < s->plans[lru]->last_used)
                    lru = i;
            if (s->last == s->plans[lru])
                s->last = NULL;
            if (s->prepared == s->plans[lru])
                s->prepared = NULL;
            plan_free(s->plans[lru]);
            s->plans[lru] = s->plans[--s->n_plans];
        }
        s->plans[s->n_plans++] = p;
    }
    p->last_used = ++s->clock;
    *out = p;
    return UNET_OK;
}

unet_status unet_session_prepare(unet_session *s, const unet_tensor *inputs, int n_inputs)
{
    unet_clear_error();
    UNET_TRY(check_inputs(s, inputs, n_inputs));
    omp_set_num_threads(s->threads);
    return get_plan(s, inputs, n_inputs, &s->prepared);
}

double unet_session_flops(const unet_session *s)
{
    const plan_t *p = s ? (s->last ? s->last : s->prepared) : NULL;
    return p ? p->flops : 0.0;
}

unet_status unet_session_run(unet_session *s, const unet_tensor *inputs, int n_inputs)
{
    unet_clear_error();
    UNET_TRY(check_inputs(s, inputs, n_inputs));
    for (int i = 0; i < n_inputs; i++)
        if (!inputs[i].data)
            return unet_set_error(UNET_ERR_ARG, "input %d: NULL data", i);
    omp_set_num_threads(s->threads);
    plan_t *p;
    UNET_TRY(get_plan(s, inputs, n_inputs, &p));
    double *ms = NULL;
    if (s->profile) {
        if (s->profile_n < p->n_steps) {
            double *r = realloc(s->profile_ms, (size_t)p->n_steps * sizeof *r);
            if (!r)
                return unet_set_error(UNET_ERR_NOMEM, "out of memory");
            s->profile_ms = r;
        }
        s->profile_n = p->n_steps;
        ms = s->profile_ms;
    }
    s->last = NULL;
    UNET_TRY(plan_execute(p, s->stream, inputs, ms));
    s->last = p;
    if (n_inputs)
        memcpy(s->inputs_copy, inputs, (size_t)n_inputs * sizeof *inputs);
    return UNET_OK;
}

unet_status unet_session_output(const unet_session *s, int index, unet_tensor *out)
{
    if (!s || !out || !s->last)
        return unet_set_error(UNET_ERR_ARG, "no successful run to take outputs from");
    if (index < 0 || index >= s->model->n_outputs)
        return unet_set_error(UNET_ERR_ARG, "output index %d out of range (the model has %d)", index, s->model->n_outputs);
    return plan_output(s->last, index, s->inputs_copy, out);
}

int unet_session_profile_count(const unet_session *s)
{
    return s && s->profile && s->last ? s->last->n_steps : 0;
}

unet_status unet_session_profile_entry(const unet_session *s, int index, const char **node_name,
                                       const char **op_type, const char **impl, double *ms)
{
    if (index < 0 || index >= unet_session_profile_count(s))
        return unet_set_error(UNET_ERR_ARG, "profile index %d out of range", index);
    const step_t *st = &s->last->steps[index];
    *node_name = st->node ? st->node->name : "(reorder)";
    *op_type = st->node ? st->node->op_type : "Reorder";
    *impl = st->impl ? st->impl : "";
    *ms = s->profile_ms[index];
    return UNET_OK;
}

size_t unet_session_arena_bytes(const unet_session *s)
{
    const plan_t *p = s ? (s->last ? s->last : s->prepared) : NULL;
    return p ? p->arena_bytes : 0;
}
