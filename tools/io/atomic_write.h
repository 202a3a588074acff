/* Writing a whole file so that readers see the old one or the new one, never
 * a part: a temporary file in the same folder, synced, renamed over path. */
#ifndef UNET_TOOLS_ATOMIC_WRITE_H
#define UNET_TOOLS_ATOMIC_WRITE_H

#include <stddef.h>

#include <unet/unet.h>

/* Errors name the file and the reason (UNET_ERR_IO); the temporary is removed. */
unet_status atomic_write_file(const char *path, const void *data, size_t len);

#endif
