/* A layer plan: the oneDNN objects of one network at one batch shape.
 *
 * Layers append steps to two lists, forward and backward, while the network is
 * built; running a list executes its steps in order. The plan owns every
 * tensor (oneDNN memory), primitive and layer state it hands out, and one
 * user-mode scratchpad buffer sized to the largest primitive's need (Debian's
 * oneDNN is built without concurrent execution, so library-managed
 * scratchpads would tie primitives to their creating thread).
 *
 * Memory: tensors that a forward step touches get their own buffer at
 * lp_finalize. Tensors that only backward steps touch (gradients, backward
 * reorders) share one arena, placed by their lifetimes within the backward
 * list, allocated at the first backward run: a net that only runs forward
 * never pays for it. A tensor read or written outside the plan's primitives
 * (by the caller or a host step) must be pinned with lp_pin so it gets its own
 * buffer for the plan's lifetime; lp_data of an unplaced tensor is NULL.
 *
 * Layout rule: activations and weights use format_tag_any and whatever layout
 * the primitive picks; lp_as_md() inserts a reorder wherever a producer's layout
 * differs from what a consumer asked for (compared with dnnl_memory_desc_equal).
 */
#ifndef UNET_TRAINER_LAYER_PLAN_H
#define UNET_TRAINER_LAYER_PLAN_H

#include <stddef.h>

#include "dnnl_compat.h"

typedef struct lp_tensor {
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;
    char name[64];
    /* bookkeeping of layer_plan.c */
    int kind;                 /* owned, user memory or view */
    int pinned;
    struct lp_tensor *parent; /* views: the tensor whose memory they show */
    int first_bwd, last_bwd;  /* backward steps using it (-1: none) */
    int used_fwd;
    size_t offset;            /* in the backward arena */
} lp_tensor;

typedef struct layer_plan layer_plan;

enum lp_list { LP_FWD = 0, LP_BWD = 1 };
/* Which forward passes run a step; backward steps always use LP_ALWAYS. */
enum lp_mode { LP_TRAIN = 1, LP_INFER = 2, LP_ALWAYS = 3 };

typedef void (*lp_host_fn)(void *ctx);

unet_status lp_create(layer_plan **out);
void lp_free(layer_plan *p);
dnnl_engine_t lp_engine(const layer_plan *p);
/* Attributes every primitive of the plan is created with (user scratchpad). */
const_dnnl_primitive_attr_t lp_attr(const layer_plan *p);

/* Zeroed memory that lives as long as the plan (layer state); NULL when out of memory. */
void *lp_alloc(layer_plan *p, size_t bytes);
/* Keeps a primitive descriptor alive until lp_free (for backward hints). */
unet_status lp_keep_pd(layer_plan *p, dnnl_primitive_desc_t pd);

/* A new tensor whose memory the plan places (see Memory above). */
unet_status lp_tensor_new(layer_plan *p, const dnnl_memory_desc_t *md, const char *name,
                          lp_tensor **out);
/* A tensor over caller-owned memory (parameters); data must outlive the plan. */
unet_status lp_tensor_wrap(layer_plan *p, const dnnl_memory_desc_t *md, void *data,
                           const char *name, lp_tensor **out);
/* A view md (e.g. from dnnl_memory_desc_init_submemory) of parent's memory. */
unet_status lp_tensor_view(layer_plan *p, const dnnl_memory_desc_t *md, lp_tensor *parent,
                           const char *name, lp_tensor **out);
/* Gives t its own buffer, valid from lp_finalize on (for access outside the steps). */
void lp_pin(lp_tensor *t);
/* A plain row-major f32 memory descriptor (dims in logical order). */
void lp_plain_md(dnnl_memory_desc_t *md, int ndims, const dnnl_dim_t *dims);
float *lp_data(const lp_tensor *t);
/* Number of floats the tensor's memory holds (padding included). */
size_t lp_nfloats(const lp_tensor *t);

/* Creates pd's primitive and appends it with its arguments (scratchpad added
 * automatically). The plan does not take pd. */
unet_status lp_add_primitive(layer_plan *p, int list, int modes, const_dnnl_primitive_desc_t pd,
                             const char *what, int nargs, const dnnl_exec_arg_t *args);
/* Appends a host function (run after the oneDNN steps before it have finished). */
unet_status lp_add_host(layer_plan *p, int list, int modes, lp_host_fn fn, void *ctx,
                        const char *what);
/* Appends a reorder src -> dst. */
unet_status lp_add_reorder(layer_plan *p, int list, int modes, lp_tensor *src, lp_tensor *dst,
                           const char *what);
/* *out = t when t already has layout want, else a new tensor with layout want
 * filled from t by a reorder appended to list. */
unet_status lp_as_md(layer_plan *p, int list, int modes, lp_tensor *t,
                     const dnnl_memory_desc_t *want, lp_tensor **out);
/* Appends acc += other (a oneDNN sum, in place in acc; other is reordered to
 * acc's layout first when needed). */
unet_status lp_add_accumulate(layer_plan *p, int list, lp_tensor *acc, lp_tensor *other,
                              const char *what);

/* Places the tensors and allocates the scratchpad; call once after the last step. */
unet_status lp_finalize(layer_plan *p);
/* Runs the steps of list whose modes include mode, then waits for the stream. */
unet_status lp_run(layer_plan *p, int list, int mode);

/* The implementations oneDNN chose (for logs and for tests that refuse "ref:"). */
int lp_step_count(const layer_plan *p, int list);
const char *lp_step_what(const layer_plan *p, int list, int i);
/* NULL for host steps. */
const char *lp_step_impl(const layer_plan *p, int list, int i);
/* Bytes the plan has allocated: tensors, backward arena (once placed), scratchpad. */
size_t lp_bytes(const layer_plan *p);

#endif
