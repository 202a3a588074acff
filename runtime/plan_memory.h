/* Liveness analysis and the activation arena of a plan. */
#ifndef UNET_RUNTIME_PLAN_MEMORY_H
#define UNET_RUNTIME_PLAN_MEMORY_H

#include "plan.h"

/* Computes lifetimes, lays out the arena (tensors whose lifetimes overlap never
 * share bytes), allocates it and the scratchpad, creates the oneDNN memory
 * objects and the execution argument lists. */
unet_status plan_finalise(plan_t *p);
dnnl_primitive_attr_t plan_make_attr(void);

#endif
