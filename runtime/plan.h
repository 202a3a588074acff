/* A plan: the graph specialised for one set of input shapes, as a list of
 * steps (oneDNN primitives or plain C kernels) over tensors that live in one
 * activation arena laid out by liveness. Built once per input shape, cached by
 * the session. */
#ifndef UNET_RUNTIME_PLAN_H
#define UNET_RUNTIME_PLAN_H

#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>

#include "graph.h"

#if DNNL_VERSION_MAJOR != 2
#error "libunet is written against the oneDNN 2.x C API (Debian's libdnnl-dev 2.6)"
#endif

/* A dense row-major view used by plain kernels and shape functions. */
typedef struct tview {
    int dtype;
    int rank;
    int64_t dims[UNET_MAX_RANK];
    void *data;         /* NULL when not known yet (shape time, non-constant) */
} tview;

typedef struct ptensor {
    int dtype;
    int rank;
    int64_t dims[UNET_MAX_RANK];
    int has_md;                 /* float tensors: md says the layout */
    dnnl_memory_desc_t md;
    int is_const;               /* data known at plan time */
    void *const_data;           /* owned by the plan (or borrowed from the model) */
    int owns_const;
    size_t nbytes;
    size_t offset;              /* in the arena */
    int first_step, last_step;  /* liveness, step indices */
    int is_input, is_output;
    int alias_of;               /* shares storage with another tensor, -1 when none */
    dnnl_memory_t mem;
    int plain_twin;             /* id of a plain-layout copy already made, -1 */
} ptensor;

enum { STEP_PRIMITIVE = 1, STEP_KERNEL = 2 };

#define STEP_MAX_ARGS 24
#define STEP_MAX_IO 16

struct plan;
typedef unet_status (*plain_run_fn)(const node_t *n, const tview *in, int n_in, tview *out, int n_out);

typedef struct step {
    int kind;
    const node_t *node;         /* for profiles and messages */
    const char *impl;           /* oneDNN implementation name or "c" */
    dnnl_primitive_t prim;
    int n_args;
    int arg_kind[STEP_MAX_ARGS];   /* DNNL_ARG_* */
    int arg_tensor[STEP_MAX_ARGS]; /* tensor id, -2 for the scratchpad */
    dnnl_exec_arg_t *exec_args;    /* built at finalise */
    /* plain kernels */
    plain_run_fn run;
    int n_in, n_out;
    int in[STEP_MAX_IO];
    int out[STEP_MAX_IO];
} step_t;

/* What a session asks of every plan it builds. */
typedef struct plan_settings {
    int bf16;        /* convolutions in bf16 (UNET_PRECISION_BF16) */
    int direct_conv; /* 1: direct convolutions only (no Winograd) */
} plan_settings;

typedef struct plan {
    const unet_model *model;
    dnnl_engine_t engine;
    int n_tensors, cap_tensors;
    ptensor *t;                 /* ids < model->n_values mirror model values */
    int n_steps, cap_steps;
    step_t *steps;
    int64_t input_dims[16][UNET_MAX_RANK];
    int input_ranks[16];
    size_t arena_bytes;
    void *arena;
    size_t scratch_bytes;
    void *scratch;
    dnnl_memory_t scratch_mem;
    int *output_ids;            /* plain tensors holding the graph outputs */
    uint64_t last_used;
    double flops;               /* analytic, convolutions only */
    plan_settings settings;     /* from the session's options */
} plan_t;

/* Plan building */
unet_status plan_build(const unet_model *m, dnnl_engine_t engine, const unet_tensor *inputs,
                       int n_inputs, const plan_settings *settings, plan_t **out);
void plan_free(plan_t *p);
unet_status plan_execute(plan_t *p, dnnl_stream_t stream, const unet_tensor *inputs,
                         double *step_ms);

/* Helpers for operator builders */
unet_status plan_new_tensor(plan_t *p, int dtype, int rank, const int64_t *dims, int *id);
unet_status plan_set_shape(plan_t *p, int id, int dtype, int rank, const int64_t *dims);
/* Makes tensor id a float tensor with layout md (any other fields kept). */
void plan_set_md(plan_t *p, int id, const dnnl_memory_desc_t *md);
/* The plain row-major md of a float tensor shape (rank 0 becomes [1]). */
unet_status plan_plain_md(int rank, const int64_t *dims, int dtype, dnnl_memory_desc_t *md);
/* Returns a tensor holding tensor id in layout md: id itself when it already has
 * that layout, else a reorder (done now for constants, else as a step). */
unet_status plan_as_md(plan_t *p, int id, const dnnl_memory_desc_t *md, int *out_id);
unet_status plan_as_plain(plan_t *p, int id, int *out_id);
/* Appends a primitive step; args are (DNNL_ARG_*, tensor id) pairs; the
 * scratchpad is added automatically when the primitive wants one. */
unet_status plan_add_primitive(plan_t *p, const node_t *n, dnnl_primitive_desc_t pd,
                               int n_args, const int *arg_kinds, const int *arg_tensors);
/* Runs a plain kernel for node n: inputs made plain, outputs plain; evaluated
 * right away when all inputs are constant. */
unet_status plan_add_plain(plan_t *p, const node_t *n, const int *in, int n_in,
                           const int *out, int n_out, plain_run_fn run);
/* Makes tensor dst share tensor src's storage (reshapes of plain tensors). */
unet_status plan_alias(plan_t *p, int dst, int src);
tview plan_view(const plan_t *p, int id);

/* A oneDNN status as a libunet error naming the node. */
unet_status dnnl_error(dnnl_status_t s, const node_t *n, const char *what);
const char *dnnl_status_text(dnnl_status_t s);

#endif
