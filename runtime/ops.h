/* The operator registry: one row per (domain, op, opset range). Adding an op is
 * adding a row here and a file under ops/. */
#ifndef UNET_RUNTIME_OPS_H
#define UNET_RUNTIME_OPS_H

#include "graph.h"
#include "plan.h"

/* Load-time check of attributes and arity beyond the row's bounds; refuses
 * attribute values the runtime does not handle (never a wrong answer). */
typedef unet_status (*op_check_fn)(const unet_model *m, const node_t *n);
/* Plan-time: given the node's input tensors (shapes known, constants known),
 * set the output shapes and append the steps. */
typedef unet_status (*op_build_fn)(plan_t *p, const node_t *n);
/* Plain ops: output shapes from input views (data set for constants). */
typedef unet_status (*op_shape_fn)(const node_t *n, const tview *in, int n_in, tview *out, int n_out);

typedef struct op_def {
    const char *domain;   /* "" = ai.onnx */
    const char *op_type;
    int since, until;     /* opset range, inclusive; until 0 = open */
    int min_in, max_in, min_out, max_out;
    op_check_fn check;
    op_build_fn build;    /* oneDNN ops; NULL for plain ops */
    op_shape_fn shape;    /* plain ops */
    plain_run_fn run;     /* plain ops */
} op_def;

/* The row for op_type in domain at the model's opset: highest since <= opset. */
const op_def *ops_find(const char *domain, const char *op_type, int opset);
/* 1 when some row exists for the op at any opset (to word errors). */
int ops_known(const char *domain, const char *op_type);
/* Number of rows and row i (for --list-ops). */
int ops_count(void);
const op_def *ops_at(int i);

/* Generic build for plain ops (shape + run). */
unet_status op_build_plain(plan_t *p, const node_t *n);

/* Shared checks */
unet_status op_require_float(const plan_t *p, const node_t *n, int input);
int op_spatial_attr(const node_t *n, const char *name, int64_t *out, int rank, int64_t def);

#define OP_ROW_PLAIN(dom, name, since, until, mi, ma, mo, mao, check, shape, run) \
    { dom, name, since, until, mi, ma, mo, mao, check, NULL, shape, run }
#define OP_ROW_DNNL(dom, name, since, until, mi, ma, mo, mao, check, build) \
    { dom, name, since, until, mi, ma, mo, mao, check, build, NULL, NULL }

#endif
