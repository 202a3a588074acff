/* Import-time graph rewrites (see passes.c). */
#ifndef UNET_RUNTIME_PASSES_H
#define UNET_RUNTIME_PASSES_H

#include "graph.h"

/* Constant nodes become constant values. */
unet_status passes_before_resolve(unet_model *m);
/* Identity/Dropout removal, BatchNormalization folding, Conv+activation fusion. */
unet_status passes_after_resolve(unet_model *m);

#endif
