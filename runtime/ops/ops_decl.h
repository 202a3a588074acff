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
/* batchnorm.c */
unet_status batchnorm_check(const unet_model *m, const node_t *n);
unet_status batchnorm_build(plan_t *p, const node_t *n);
/* DECL-END (helpers add declarations above this line) */

#endif
