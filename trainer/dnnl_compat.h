/* The trainer's one contact point with oneDNN's version: it is written against
 * the 2.x C API (operation descriptors + dnnl_primitive_desc_create, value
 * memory descriptors), which 3.0 removed. A port touches this header and the
 * *_desc_init calls in the layer_*.c files. */
#ifndef UNET_TRAINER_DNNL_COMPAT_H
#define UNET_TRAINER_DNNL_COMPAT_H

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "error.h"

#if DNNL_VERSION_MAJOR != 2
#error "the trainer is written against the oneDNN 2.x C API (Debian's libdnnl-dev 2.6)"
#endif

/* Runs a oneDNN call; on failure records "<what>: <call name>: <dnnl status>"
 * and returns UNET_ERR_BACKEND from the enclosing function. */
#define DNNL_TRY(call, what)                                                          \
    do {                                                                              \
        dnnl_status_t dnnl_try_s_ = (call);                                           \
        if (dnnl_try_s_ != dnnl_success)                                              \
            return unet_set_error(UNET_ERR_BACKEND, "%s: %s failed: %s", (what),      \
                                  #call, dnnl_status2str(dnnl_try_s_));               \
    } while (0)

#endif
