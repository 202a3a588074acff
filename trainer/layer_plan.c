/* Layer plan: step lists, owned oneDNN objects, one shared user scratchpad. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer_plan.h"

#define LP_MAX_ARGS 15

typedef struct lp_step {
    int modes;
    dnnl_primitive_t prim;  /* NULL for a host step */
    int nargs;
    dnnl_exec_arg_t args[LP_MAX_ARGS + 1]; /* + scratchpad */
    lp_tensor *targs[LP_MAX_ARGS];          /* the tensors behind args */
    dnnl_memory_t scratch;  /* this primitive's view of the shared scratchpad */
    lp_host_fn fn;
    void *ctx;
    char what[80];
    char impl[64];
} lp_step;

typedef struct lp_steps {
    lp_step *v;
    int n, cap;
} lp_steps;

struct layer_plan {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_attr_t attr;
    lp_steps lists[2];
    lp_tensor **tensors;
    int n_tensors, cap_tensors;
    void **blocks;
    int n_blocks, cap_blocks;
    dnnl_primitive_desc_t *pds;
    int n_pds, cap_pds;
    size_t scratch_bytes;
    void *scratch_buf;
    size_t tensor_bytes;  /* own buffers */
    size_t arena_bytes;   /* the backward arena, once placed */
    int finalized, arena_placed;
};

enum { LP_OWNED, LP_USER, LP_VIEW };

/* Grows *v (elements of size sz) so that one more fits. */
static int grow(void **v, int n, int *cap, size_t sz)
{
    if (n < *cap)
        return 1;
    int nc = *cap ? *cap * 2 : 16;
    void *nv = realloc(*v, (size_t)nc * sz);
    if (!nv)
        return 0;
    *v = nv;
    *cap = nc;
    return 1;
}

unet_status lp_create(layer_plan **out)
{
    *out = NULL;
    layer_plan *p = calloc(1, sizeof *p);
    if (!p)
        return unet_set_error(UNET_ERR_NOMEM, "layer plan: out of memory");
    dnnl_status_t s = dnnl_engine_create(&p->engine, dnnl_cpu, 0);
    if (s == dnnl_success)
        s = dnnl_stream_create(&p->stream, p->engine, dnnl_stream_default_flags);
    if (s == dnnl_success)
        s = dnnl_primitive_attr_create(&p->attr);
    if (s == dnnl_success)
        s = dnnl_primitive_attr_set_scratchpad_mode(p->attr, dnnl_scratchpad_mode_user);
    if (s != dnnl_success) {
        lp_free(p);
        return unet_set_error(UNET_ERR_BACKEND, "layer plan: creating the oneDNN CPU engine: %s",
                              dnnl_status2str(s));
    }
    *out = p;
    return UNET_OK;
}

void lp_free(layer_plan *p)
{
    if (!p)
        return;
    for (int l = 0; l < 2; l++) {
        for (int i = 0; i < p->lists[l].n; i++) {
            lp_step *st = &p->lists[l].v[i];
            if (st->prim)
                dnnl_primitive_destroy(st->prim);
            if (st->scratch)
                dnnl_memory_destroy(st->scratch);
        }
        free(p->lists[l].v);
    }
    for (int i = 0; i < p->n_tensors; i++) {
        dnnl_memory_destroy(p->tensors[i]->mem);
        free(p->tensors[i]);
    }
    free(p->tensors);
    for (int i = 0; i < p->n_blocks; i++)
        free(p->blocks[i]);
    free(p->blocks);
    for (int i = 0; i < p->n_pds; i++)
        dnnl_primitive_desc_destroy(p->pds[i]);
    free(p->pds);
    if (p->attr)
        dnnl_primitive_attr_destroy(p->attr);
    if (p->stream)
        dnnl_stream_destroy(p->stream);
    if (p->engine)
        dnnl_engine_destroy(p->engine);
    free(p);
}

dnnl_engine_t lp_engine(const layer_plan *p) { return p->engine; }
const_dnnl_primitive_attr_t lp_attr(const layer_plan *p) { return p->attr; }

void *lp_alloc(layer_plan *p, size_t bytes)
{
    if (!grow((void **)&p->blocks, p->n_blocks, &p->cap_blocks, sizeof *p->blocks))
        return NULL;
    void *b = calloc(1, bytes ? bytes : 1);
    if (b)
        p->blocks[p->n_blocks++] = b;
    return b;
}

unet_status lp_keep_pd(layer_plan *p, dnnl_primitive_desc_t pd)
{
    if (!grow((void **)&p->pds, p->n_pds, &p->cap_pds, sizeof *p->pds)) {
        dnnl_primitive_desc_destroy(pd);
        return unet_set_error(UNET_ERR_NOMEM, "layer plan: out of memory");
    }
    p->pds[p->n_pds++] = pd;
    return UNET_OK;
}

static unet_status add_tensor(layer_plan *p, const dnnl_memory_desc_t *md, int kind, void *data,
                              lp_tensor *parent, const char *name, lp_tensor **out)
{
    *out = NULL;
    if (p->finalized && kind != LP_USER)
        return unet_set_error(UNET_ERR_ARG, "tensor %s: plan already finalized", name);
    if (!grow((void **)&p->tensors, p->n_tensors, &p->cap_tensors, sizeof *p->tensors))
        return unet_set_error(UNET_ERR_NOMEM, "tensor %s: out of memory", name);
    lp_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return unet_set_error(UNET_ERR_NOMEM, "tensor %s: out of memory", name);
    t->md = *md;
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = kind;
    t->parent = parent;
    t->first_bwd = t->last_bwd = -1;
    dnnl_status_t s = dnnl_memory_create(&t->mem, md, p->engine,
                                         kind == LP_USER ? data : DNNL_MEMORY_NONE);
    if (s != dnnl_success) {
        free(t);
        return unet_set_error(UNET_ERR_BACKEND, "tensor %s: dnnl_memory_create failed: %s", name,
                              dnnl_status2str(s));
    }
    p->tensors[p->n_tensors++] = t;
    *out = t;
    return UNET_OK;
}

unet_status lp_tensor_new(layer_plan *p, const dnnl_memory_desc_t *md, const char *name,
                          lp_tensor **out)
{
    return add_tensor(p, md, LP_OWNED, NULL, NULL, name, out);
}

unet_status lp_tensor_wrap(layer_plan *p, const dnnl_memory_desc_t *md, void *data,
                           const char *name, lp_tensor **out)
{
    if (!data)
        return unet_set_error(UNET_ERR_ARG, "tensor %s: no data to wrap", name);
    return add_tensor(p, md, LP_USER, data, NULL, name, out);
}

unet_status lp_tensor_view(layer_plan *p, const dnnl_memory_desc_t *md, lp_tensor *parent,
                           const char *name, lp_tensor **out)
{
    while (parent->kind == LP_VIEW)
        parent = parent->parent;
    if (parent->kind == LP_USER) { /* caller memory is there already */
        void *h = NULL;
        DNNL_TRY(dnnl_memory_get_data_handle(parent->mem, &h), name);
        return add_tensor(p, md, LP_USER, h, NULL, name, out);
    }
    return add_tensor(p, md, LP_VIEW, NULL, parent, name, out);
}

void lp_pin(lp_tensor *t)
{
    while (t->kind == LP_VIEW)
        t = t->parent;
    t->pinned = 1;
}

void lp_plain_md(dnnl_memory_desc_t *md, int ndims, const dnnl_dim_t *dims)
{
    static const dnnl_format_tag_t tags[] = {dnnl_format_tag_undef, dnnl_a, dnnl_ab, dnnl_abc,
                                             dnnl_abcd};
    /* ndims 1..4 are the only ranks the trainer uses, so this cannot fail. */
    dnnl_memory_desc_init_by_tag(md, ndims, dims, dnnl_f32, tags[ndims]);
}

float *lp_data(const lp_tensor *t)
{
    void *h = NULL;
    dnnl_memory_get_data_handle(t->mem, &h);
    return h;
}

size_t lp_nfloats(const lp_tensor *t) { return dnnl_memory_desc_get_size(&t->md) / sizeof(float); }

static lp_step *new_step(layer_plan *p, int list, int modes, const char *what)
{
    lp_steps *l = &p->lists[list];
    if (!grow((void **)&l->v, l->n, &l->cap, sizeof *l->v))
        return NULL;
    lp_step *st = &l->v[l->n++];
    memset(st, 0, sizeof *st);
    st->modes = modes;
    snprintf(st->what, sizeof st->what, "%s", what);
    return st;
}

unet_status lp_add_primitive(layer_plan *p, int list, int modes, const_dnnl_primitive_desc_t pd,
                             const char *what, int nargs, const dnnl_exec_arg_t *args)
{
    if (nargs > LP_MAX_ARGS)
        return unet_set_error(UNET_ERR_ARG, "%s: %d primitive arguments (at most %d)", what, nargs,
                              LP_MAX_ARGS);
    if (p->finalized)
        return unet_set_error(UNET_ERR_ARG, "%s: plan already finalized", what);
    dnnl_primitive_t prim = NULL;
    DNNL_TRY(dnnl_primitive_create(&prim, pd), what);
    lp_step *st = new_step(p, list, modes, what);
    if (!st) {
        dnnl_primitive_destroy(prim);
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", what);
    }
    st->prim = prim;
    st->nargs = nargs;
    memcpy(st->args, args, (size_t)nargs * sizeof *args);
    for (int a = 0; a < nargs; a++) {
        for (int i = p->n_tensors - 1; i >= 0 && !st->targs[a]; i--)
            if (p->tensors[i]->mem == args[a].memory)
                st->targs[a] = p->tensors[i];
        if (!st->targs[a])
            return unet_set_error(UNET_ERR_ARG, "%s: argument %d is not a tensor of the plan",
                                  what, args[a].arg);
    }
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        snprintf(st->impl, sizeof st->impl, "%s", impl);
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sbytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (sbytes > 0) {
        /* The handle is set to the shared buffer in lp_finalize. */
        DNNL_TRY(dnnl_memory_create(&st->scratch, smd, p->engine, DNNL_MEMORY_NONE), what);
        st->args[st->nargs].arg = DNNL_ARG_SCRATCHPAD;
        st->args[st->nargs].memory = st->scratch;
        st->nargs++;
        if (sbytes > p->scratch_bytes)
            p->scratch_bytes = sbytes;
    }
    return UNET_OK;
}

unet_status lp_add_host(layer_plan *p, int list, int modes, lp_host_fn fn, void *ctx,
                        const char *what)
{
    lp_step *st = new_step(p, list, modes, what);
    if (!st)
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", what);
    st->fn = fn;
    st->ctx = ctx;
    return UNET_OK;
}

unet_status lp_add_reorder(layer_plan *p, int list, int modes, lp_tensor *src, lp_tensor *dst,
                           const char *what)
{
    dnnl_primitive_desc_t pd = NULL;
    DNNL_TRY(dnnl_reorder_primitive_desc_create(&pd, &src->md, p->engine, &dst->md, p->engine,
                                                p->attr),
             what);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src->mem}, {DNNL_ARG_TO, dst->mem}};
    unet_status s = lp_add_primitive(p, list, modes, pd, what, 2, args);
    dnnl_primitive_desc_destroy(pd);
    return s;
}

unet_status lp_as_md(layer_plan *p, int list, int modes, lp_tensor *t,
                     const dnnl_memory_desc_t *want, lp_tensor **out)
{
    if (dnnl_memory_desc_equal(&t->md, want)) {
        *out = t;
        return UNET_OK;
    }
    char name[96];
    snprintf(name, sizeof name, "%s@reordered", t->name);
    UNET_TRY(lp_tensor_new(p, want, name, out));
    return lp_add_reorder(p, list, modes, t, *out, name);
}

unet_status lp_add_accumulate(layer_plan *p, int list, lp_tensor *acc, lp_tensor *other,
                              const char *what)
{
    lp_tensor *o = NULL;
    UNET_TRY(lp_as_md(p, list, LP_ALWAYS, other, &acc->md, &o));
    const float scales[2] = {1.0f, 1.0f};
    const dnnl_memory_desc_t srcs[2] = {acc->md, o->md};
    dnnl_primitive_desc_t pd = NULL;
    DNNL_TRY(dnnl_sum_primitive_desc_create(&pd, &acc->md, 2, scales, srcs, p->attr, p->engine),
             what);
    /* The sum primitive may write into its first source (in place). */
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_MULTIPLE_SRC, acc->mem},
                               {DNNL_ARG_MULTIPLE_SRC + 1, o->mem},
                               {DNNL_ARG_DST, acc->mem}};
    unet_status s = lp_add_primitive(p, list, LP_ALWAYS, pd, what, 3, args);
    dnnl_primitive_desc_destroy(pd);
    return s;
}

/* A zeroed 64-byte-aligned buffer freed with the plan (zero: blocked layouts'
 * padding must read as zero). */
static void *plan_buffer(layer_plan *p, size_t bytes)
{
    if (!grow((void **)&p->blocks, p->n_blocks, &p->cap_blocks, sizeof *p->blocks))
        return NULL;
    bytes = (bytes + 63) / 64 * 64;
    void *b = aligned_alloc(64, bytes ? bytes : 64);
    if (b) {
        memset(b, 0, bytes);
        p->blocks[p->n_blocks++] = b;
    }
    return b;
}

/* Points t (an owned tensor) and every view of it at buf. */
static unet_status set_handle(layer_plan *p, lp_tensor *t, void *buf)
{
    for (int i = 0; i < p->n_tensors; i++) {
        lp_tensor *u = p->tensors[i];
        if (u == t || (u->kind == LP_VIEW && u->parent == t))
            DNNL_TRY(dnnl_memory_set_data_handle(u->mem, buf), u->name);
    }
    return UNET_OK;
}

static lp_tensor *root(lp_tensor *t) { return t->kind == LP_VIEW ? t->parent : t; }

unet_status lp_finalize(layer_plan *p)
{
    if (p->finalized)
        return UNET_OK;
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < p->lists[l].n; i++) {
            const lp_step *st = &p->lists[l].v[i];
            for (int a = 0; st->prim && a < st->nargs && a < LP_MAX_ARGS; a++) {
                lp_tensor *t = st->targs[a] ? root(st->targs[a]) : NULL;
                if (!t)
                    continue;
                if (l == LP_FWD) {
                    t->used_fwd = 1;
                } else {
                    if (t->first_bwd < 0)
                        t->first_bwd = i;
                    t->last_bwd = i;
                }
            }
        }
    /* Own buffers for what the forward touches and for pinned tensors. */
    for (int i = 0; i < p->n_tensors; i++) {
        lp_tensor *t = p->tensors[i];
        if (t->kind != LP_OWNED || !(t->used_fwd || t->pinned))
            continue;
        const size_t bytes = dnnl_memory_desc_get_size(&t->md);
        void *buf = plan_buffer(p, bytes);
        if (!buf)
            return unet_set_error(UNET_ERR_NOMEM, "tensor %s (%zu bytes): out of memory", t->name,
                                  bytes);
        p->tensor_bytes += bytes;
        UNET_TRY(set_handle(p, t, buf));
    }
    if (p->scratch_bytes > 0) {
        p->scratch_buf = plan_buffer(p, p->scratch_bytes);
        if (!p->scratch_buf)
            return unet_set_error(UNET_ERR_NOMEM, "scratchpad of %zu bytes: out of memory",
                                  p->scratch_bytes);
        for (int l = 0; l < 2; l++)
            for (int i = 0; i < p->lists[l].n; i++)
                if (p->lists[l].v[i].scratch)
                    DNNL_TRY(dnnl_memory_set_data_handle(p->lists[l].v[i].scratch, p->scratch_buf),
                             p->lists[l].v[i].what);
    }
    p->finalized = 1;
    return UNET_OK;
}

static int in_arena(const lp_tensor *t)
{
    return t->kind == LP_OWNED && !t->used_fwd && !t->pinned && t->first_bwd >= 0;
}

/* Places the backward-only tensors in one arena: largest first, each at the
 * lowest offset that overlaps no placed tensor alive during the same steps. */
static unet_status place_arena(layer_plan *p)
{
    int n = 0;
    lp_tensor **v = malloc(sizeof *v * (size_t)(p->n_tensors ? p->n_tensors : 1));
    if (!v)
        return unet_set_error(UNET_ERR_NOMEM, "backward arena: out of memory");
    for (int i = 0; i < p->n_tensors; i++)
        if (in_arena(p->tensors[i]))
            v[n++] = p->tensors[i];
    for (int i = 1; i < n; i++) { /* insertion sort by size, descending (stable) */
        lp_tensor *t = v[i];
        const size_t sz = dnnl_memory_desc_get_size(&t->md);
        int j = i - 1;
        while (j >= 0 && dnnl_memory_desc_get_size(&v[j]->md) < sz) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = t;
    }
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        lp_tensor *t = v[i];
        const size_t sz = (dnnl_memory_desc_get_size(&t->md) + 63) / 64 * 64;
        size_t off = 0;
        for (int moved = 1; moved;) { /* bump past every conflict until none is left */
            moved = 0;
            for (int j = 0; j < i; j++) {
                const lp_tensor *u = v[j];
                const size_t usz = (dnnl_memory_desc_get_size(&u->md) + 63) / 64 * 64;
                const int alive_together = u->first_bwd <= t->last_bwd && t->first_bwd <= u->last_bwd;
                if (alive_together && off < u->offset + usz && u->offset < off + sz) {
                    off = u->offset + usz;
                    moved = 1;
                }
            }
        }
        t->offset = off;
        if (off + sz > total)
            total = off + sz;
    }
    char *arena = n ? plan_buffer(p, total) : NULL;
    if (n && !arena) {
        free(v);
        return unet_set_error(UNET_ERR_NOMEM, "backward arena of %zu bytes: out of memory", total);
    }
    for (int i = 0; i < n; i++) {
        unet_status s = set_handle(p, v[i], arena + v[i]->offset);
        if (s != UNET_OK) {
            free(v);
            return s;
        }
    }
    free(v);
    p->arena_bytes = total;
    p->arena_placed = 1;
    return UNET_OK;
}

unet_status lp_run(layer_plan *p, int list, int mode)
{
    if (!p->finalized)
        return unet_set_error(UNET_ERR_ARG, "layer plan run before lp_finalize");
    if (list == LP_BWD && !p->arena_placed)
        UNET_TRY(place_arena(p));
    lp_steps *l = &p->lists[list];
    for (int i = 0; i < l->n; i++) {
        lp_step *st = &l->v[i];
        if (!(st->modes & mode))
            continue;
        if (st->prim) {
            DNNL_TRY(dnnl_primitive_execute(st->prim, p->stream, st->nargs, st->args), st->what);
        } else {
            DNNL_TRY(dnnl_stream_wait(p->stream), st->what);
            st->fn(st->ctx);
        }
    }
    DNNL_TRY(dnnl_stream_wait(p->stream), "layer plan");
    return UNET_OK;
}

int lp_step_count(const layer_plan *p, int list) { return p->lists[list].n; }
const char *lp_step_what(const layer_plan *p, int list, int i) { return p->lists[list].v[i].what; }

const char *lp_step_impl(const layer_plan *p, int list, int i)
{
    const lp_step *st = &p->lists[list].v[i];
    return st->prim ? st->impl : NULL;
}

size_t lp_bytes(const layer_plan *p)
{
    return p->tensor_bytes + p->arena_bytes + p->scratch_bytes;
}
