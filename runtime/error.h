/* Internal error helpers: record a message (printf-style) and return the status. */
#ifndef UNET_RUNTIME_ERROR_H
#define UNET_RUNTIME_ERROR_H

#include <unet/unet.h>

#if defined(__GNUC__)
#define UNET_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define UNET_PRINTF(a, b)
#endif

/* Sets the thread's message and returns status. */
unet_status unet_set_error(unet_status status, const char *fmt, ...) UNET_PRINTF(2, 3);
/* Prefixes the current message with context ("loading x.onnx: ...") and returns status. */
unet_status unet_wrap_error(unet_status status, const char *fmt, ...) UNET_PRINTF(2, 3);
void unet_clear_error(void);

#define UNET_TRY(expr) do { unet_status unet_try_s_ = (expr); if (unet_try_s_ != UNET_OK) return unet_try_s_; } while (0)

#endif
