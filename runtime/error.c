/* Errors are values: the first failure records a message with context in a
 * per-thread buffer, and the status code travels back up the call chain. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static _Thread_local char last_error[2048];

const char *unet_last_error(void) { return last_error; }

unet_status unet_set_error(unet_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

unet_status unet_wrap_error(unet_status status, const char *fmt, ...)
{
    char prefix[1024];
    char inner[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(inner, last_error, sizeof inner);
    /* prefix + ": " + inner, cut to the buffer */
    size_t pl = strlen(prefix), il = strlen(inner);
    if (pl > sizeof last_error / 2)
        pl = sizeof last_error / 2;
    if (il > sizeof last_error - pl - 3)
        il = sizeof last_error - pl - 3;
    memcpy(last_error, prefix, pl);
    memcpy(last_error + pl, ": ", 2);
    memcpy(last_error + pl + 2, inner, il);
    last_error[pl + 2 + il] = '\0';
    return status;
}

void unet_clear_error(void) { last_error[0] = '\0'; }

const char *unet_status_name(unet_status s)
{
    switch (s) {
    case UNET_OK: return "ok";
    case UNET_ERR_IO: return "i/o error";
    case UNET_ERR_PARSE: return "parse error";
    case UNET_ERR_INVALID: return "invalid model";
    case UNET_ERR_UNSUPPORTED: return "unsupported";
    case UNET_ERR_SHAPE: return "shape mismatch";
    case UNET_ERR_NOMEM: return "out of memory";
    case UNET_ERR_LIMIT: return "limit exceeded";
    case UNET_ERR_BACKEND: return "oneDNN error";
    case UNET_ERR_ARG: return "bad argument";
    }
    return "unknown status";
}
