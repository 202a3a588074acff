/* The activation arena: every non-constant tensor gets an offset chosen so
 * that tensors alive at the same time never overlap (greedy by size, the
 * largest first, each at the lowest offset that fits among the tensors whose
 * lifetimes it meets). Skip connections simply stay alive longer. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "plan_memory.h"

#define ARENA_ALIGN 64

static int root_of(const plan_t *p, int id)
{
    return p->t[id].alias_of >= 0 ? p->t[id].alias_of : id;
}

static void touch(plan_t *p, int id, int step)
{
    if (id < 0)
        return;
    ptensor *t = &p->t[root_of(p, id)];
    if (t->first_step < 0 || step < t->first_step)
        t->first_step = step;
    if (step > t->last_step)
        t->last_step = step;
}

typedef struct block {
    int id;
    size_t size;
} block_t;

static int by_size_desc(const void *a, const void *b)
{
    const block_t *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->id - y->id;
}

typedef struct placed {
    size_t off, end;
} placed_t;

static int by_offset(const void *a, const void *b)
{
    const placed_t *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static int in_arena(const ptensor *t)
{
    return !t->is_const && !t->is_input && t->alias_of < 0 && t->first_step >= 0;
}

/* Lowest offset for block b that avoids every conflicting placed block
 * (conflicts need not be unique: a repeated one changes nothing). */
static size_t lowest_fit(placed_t *conflicts, int nc, size_t size)
{
    qsort(conflicts, (size_t)nc, sizeof *conflicts, by_offset);
    size_t off = 0;
    for (int c = 0; c < nc; c++) {
        if (conflicts[c].off >= off + size)
            break;
        if (conflicts[c].end > off)
            off = conflicts[c].end;
    }
    return off;
}

/* Places blocks (largest first) at the lowest offset that fits among the
 * placed blocks whose lifetimes meet theirs. Finding those by scanning every
 * placed block is quadratic: a 50,000-node chain took seconds. When the
 * lifetimes are short (the usual case) each step instead keeps the list of
 * placed blocks alive at it, and a block looks only along its own lifetime;
 * both ways find the same conflicts, so the offsets are the same. */
static unet_status place_blocks(plan_t *p, const block_t *blocks, int n_blocks, size_t *offsets,
                                size_t *arena_out)
{
    int n_steps = p->n_steps + 1; /* outputs live to step n_steps */
    placed_t *conflicts = malloc(((size_t)n_blocks + 1) * sizeof *conflicts);
    int64_t *count = calloc((size_t)n_steps + 1, sizeof *count);
    if (!conflicts || !count) {
        free(conflicts); free(count);
        return unet_set_error(UNET_ERR_NOMEM, "out of memory planning the arena");
    }
    /* Blocks alive at each step, and the work each way would take. */
    for (int b = 0; b < n_blocks; b++) {
        const ptensor *t = &p->t[blocks[b].id];
        count[t->first_step]++;
        count[t->last_step + 1]--; /* a difference array */
    }
    double list_work = 0, entries = 0;
    for (int st = 0; st < n_steps; st++) {
        if (st)
            count[st] += count[st - 1];
        entries += (double)count[st];
        list_work += (double)count[st] * (double)count[st];
    }
    double scan_work = (double)n_blocks * n_blocks / 2;
    int use_lists = list_work < scan_work && entries < (double)n_blocks * 64 + (1 << 20);

    size_t *start = NULL, *fill = NULL;
    int *live = NULL, *stamp = NULL;
    if (use_lists) {
        start = malloc(((size_t)n_steps + 1) * sizeof *start);
        fill = calloc((size_t)n_steps, sizeof *fill);
        live = malloc(((size_t)entries + 1) * sizeof *live);
        stamp = malloc(((size_t)n_blocks + 1) * sizeof *stamp);
        if (!start || !fill || !live || !stamp) {
            free(conflicts); free(count); free(start); free(fill); free(live); free(stamp);
            return unet_set_error(UNET_ERR_NOMEM, "out of memory planning the arena");
        }
        start[0] = 0;
        for (int st = 0; st < n_steps; st++)
            start[st + 1] = start[st] + count[st];
        for (int b = 0; b < n_blocks; b++)
            stamp[b] = -1;
    }
    size_t arena = 0;
    for (int b = 0; b < n_blocks; b++) {
        const ptensor *t = &p->t[blocks[b].id];
        int nc = 0;
        if (use_lists) {
            for (int st = t->first_step; st <= t->last_step; st++)
                for (size_t k = start[st]; k < start[st] + fill[st]; k++) {
                    int q = live[k];
                    if (stamp[q] == b)
                        continue;
                    stamp[q] = b;
                    size_t off = offsets[blocks[q].id];
                    conflicts[nc++] = (placed_t){ off, off + blocks[q].size };
                }
        } else {
            for (int q = 0; q < b; q++) {
                const ptensor *u = &p->t[blocks[q].id];
                if (u->first_step <= t->last_step && t->first_step <= u->last_step) {
                    size_t off = offsets[blocks[q].id];
                    conflicts[nc++] = (placed_t){ off, off + blocks[q].size };
                }
            }
        }
        size_t off = lowest_fit(conflicts, nc, blocks[b].size);
        offsets[blocks[b].id] = off;
        if (off + blocks[b].size > arena)
            arena = off + blocks[b].size;
        if (use_lists)
            for (int st = t->first_step; st <= t->last_step; st++)
                live[start[st] + fill[st]++] = b;
    }
    free(conflicts); free(count); free(start); free(fill); free(live); free(stamp);
    *arena_out = arena;
    return UNET_OK;
}

unet_status plan_finalise(plan_t *p)
{
    /* Lifetimes in step indices; graph outputs live to the end. */
    for (int s = 0; s < p->n_steps; s++) {
        step_t *st = &p->steps[s];
        if (st->kind == STEP_PRIMITIVE) {
            for (int a = 0; a < st->n_args; a++)
                if (st->arg_tensor[a] >= 0)
                    touch(p, st->arg_tensor[a], s);
        } else {
            for (int i = 0; i < st->n_in; i++)
                touch(p, st->in[i], s);
            for (int o = 0; o < st->n_out; o++)
                touch(p, st->out[o], s);
        }
    }
    for (int i = 0; i < p->n_tensors; i++)
        if (p->t[i].is_output) {
            touch(p, i, p->n_steps);
            if (p->t[root_of(p, i)].first_step < 0)
                p->t[root_of(p, i)].first_step = p->n_steps;
        }

    int n_blocks = 0;
    block_t *blocks = malloc(((size_t)p->n_tensors + 1) * sizeof *blocks);
    size_t *offsets = calloc((size_t)p->n_tensors + 1, sizeof *offsets);
    if (!blocks || !offsets) {
        free(blocks); free(offsets);
        return unet_set_error(UNET_ERR_NOMEM, "out of memory planning the arena");
    }
    for (int i = 0; i < p->n_tensors; i++)
        if (in_arena(&p->t[i]))
            blocks[n_blocks++] = (block_t){ i, (p->t[i].nbytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN };
    qsort(blocks, (size_t)n_blocks, sizeof *blocks, by_size_desc);
    size_t arena = 0;
    unet_status placed = place_blocks(p, blocks, n_blocks, offsets, &arena);
    free(blocks);
    if (placed != UNET_OK) {
        free(offsets);
        return placed;
    }
    p->arena_bytes = arena;
    /* Even an all-empty plan gets a (tiny) arena, so that every tensor has a
     * valid address: NULL + 0 and memset(NULL, 0, 0) are undefined in C. */
    p->arena = aligned_alloc(ARENA_ALIGN, arena ? arena : ARENA_ALIGN);
    if (!p->arena) {
        free(offsets);
        return unet_set_error(UNET_ERR_NOMEM, "cannot allocate an activation arena of %zu bytes", arena);
    }
    for (int i = 0; i < p->n_tensors; i++)
        p->t[i].offset = offsets[root_of(p, i)];
    free(offsets);

    if (p->scratch_bytes) {
        size_t sz = (p->scratch_bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
        p->scratch = aligned_alloc(ARENA_ALIGN, sz);
        if (!p->scratch)
            return unet_set_error(UNET_ERR_NOMEM, "cannot allocate a scratchpad of %zu bytes", sz);
        dnnl_memory_desc_t smd;
        dnnl_dims_t d = { (dnnl_dim_t)sz };
        dnnl_memory_desc_init_by_tag(&smd, 1, d, dnnl_u8, dnnl_a);
        dnnl_status_t st = dnnl_memory_create(&p->scratch_mem, &smd, p->engine, p->scratch);
        if (st != dnnl_success)
            return dnnl_error(st, NULL, "scratchpad memory");
    }

    /* oneDNN memory objects for the tensors primitives touch. */
    for (int s = 0; s < p->n_steps; s++) {
        step_t *st = &p->steps[s];
        if (st->kind != STEP_PRIMITIVE)
            continue;
        st->exec_args = calloc((size_t)st->n_args, sizeof *st->exec_args);
        if (!st->exec_args)
            return unet_set_error(UNET_ERR_NOMEM, "out of memory");
        for (int a = 0; a < st->n_args; a++) {
            int id = st->arg_tensor[a];
            st->exec_args[a].arg = st->arg_kind[a];
            if (id == -2) {
                st->exec_args[a].memory = p->scratch_mem;
                continue;
            }
            ptensor *t = &p->t[id];
            if (!t->mem) {
                void *h = t->is_const ? t->const_data : p->t[root_of(p, id)].is_input ? DNNL_MEMORY_NONE : (char *)p->arena + t->offset;
                dnnl_status_t e = dnnl_memory_create(&t->mem, &t->md, p->engine, h);
                if (e != dnnl_success)
                    return dnnl_error(e, st->node, "memory object");
            }
            st->exec_args[a].memory = t->mem;
        }
    }
    return UNET_OK;
}
