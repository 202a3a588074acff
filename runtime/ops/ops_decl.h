/* Entry points of the operator files, referenced by the registry table. */
#ifndef UNET_RUNTIME_OPS_DECL_H
#define UNET_RUNTIME_OPS_DECL_H

#include "../ops.h"

/* conv.c */
unet_status conv_check(const unet_model *m, const node_t *n);
unet_status conv_build(plan_t *p, const node_t *n);
unet_status conv_transpose_build(plan_t *p, const node_t *n);
/* pool.c */
unet_status pool_check(const unet_model *m, const node_t *n);
unet_status pool_build(plan_t *p, const node_t *n);
/* eltwise.c */
unet_status eltwise_build(plan_t *p, const node_t *n);
/* softmax.c */
unet_status softmax_build(plan_t *p, const node_t *n);
/* concat.c */
unet_status concat_build(plan_t *p, const node_t *n);
/* binary.c */
unet_status binary_check(const unet_model *m, const node_t *n);
unet_status binary_build(plan_t *p, const node_t *n);
/* The plain broadcasting kernel (Add for a Conv whose fused sum could not be fused). */
unet_status binary_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
/* batchnorm.c */
unet_status batchnorm_check(const unet_model *m, const node_t *n);
unet_status batchnorm_build(plan_t *p, const node_t *n);
/* shape_ops.c */
unet_status shape_build(plan_t *p, const node_t *n);
unet_status size_build(plan_t *p, const node_t *n);
unet_status reshape_check(const unet_model *m, const node_t *n);
unet_status reshape_build(plan_t *p, const node_t *n);
unet_status flatten_build(plan_t *p, const node_t *n);
unet_status squeeze_check(const unet_model *m, const node_t *n);
unet_status squeeze_build(plan_t *p, const node_t *n);
unet_status unsqueeze_build(plan_t *p, const node_t *n);
unet_status identity_build(plan_t *p, const node_t *n);
unet_status dropout_check(const unet_model *m, const node_t *n);
unet_status dropout_build(plan_t *p, const node_t *n);
unet_status expand_build(plan_t *p, const node_t *n);
unet_status constant_of_shape_check(const unet_model *m, const node_t *n);
unet_status constant_of_shape_build(plan_t *p, const node_t *n);
unet_status range_build(plan_t *p, const node_t *n);
/* transpose.c */
unet_status transpose_build(plan_t *p, const node_t *n);
/* index_ops.c */
unet_status gather_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status gather_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status slice_check(const unet_model *m, const node_t *n);
unet_status slice_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status slice_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status pad_check(const unet_model *m, const node_t *n);
unet_status pad_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status pad_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status tile_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status tile_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
/* cast.c */
unet_status cast_check(const unet_model *m, const node_t *n);
unet_status cast_build(plan_t *p, const node_t *n);
/* select_compare.c */
unet_status where_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status where_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status compare_check(const unet_model *m, const node_t *n);
unet_status compare_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status compare_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status logical_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status logical_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
/* resize.c */
unet_status resize_check(const unet_model *m, const node_t *n);
unet_status resize_build(plan_t *p, const node_t *n);
/* reduce.c */
unet_status reduce_check(const unet_model *m, const node_t *n);
unet_status reduce_shape_fn(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status reduce_run_fn(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
/* matmul.c */
unet_status matmul_build(plan_t *p, const node_t *n);
unet_status gemm_check(const unet_model *m, const node_t *n);
unet_status gemm_build(plan_t *p, const node_t *n);
/* normalization.c */
unet_status instancenorm_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status instancenorm_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status layernorm_check(const unet_model *m, const node_t *n);
unet_status layernorm_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status layernorm_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status mean_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status mean_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status hardmax_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status hardmax_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status unary_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status unary_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
/* DECL-END (helpers add declarations above this line) */

/* qdq.c */
unet_status quantize_linear_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status quantize_linear_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status dequantize_linear_shape(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status dequantize_linear_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out);
unet_status dequantize_linear_build(plan_t *p, const node_t *n);

#endif
