/* Small things every GDAL file of the tools needs: registering the drivers
 * once with GDAL's own messages silenced (ours say more, through
 * unet_last_error), failures that carry GDAL's last message, and the
 * temporary names outputs are written under before the rename that makes
 * them appear whole. Built only with GDAL. */
#ifndef UNET_TOOLS_GEO_GDAL_H
#define UNET_TOOLS_GEO_GDAL_H

#include <stddef.h>
#include <unet/unet.h>

#include "error.h"

/* Registers GDAL's drivers and installs a quiet error handler (once). */
void geo_init(void);

/* unet_set_error(status, fmt...) with ": GDAL says: <last GDAL error>"
 * appended when GDAL recorded one; the GDAL error is then cleared. */
unet_status geo_fail(unet_status status, const char *fmt, ...) UNET_PRINTF(2, 3);

/* A temporary name in the folder of path that keeps its extension
 * (drivers pick formats by it): DIR/.NAME.tmp-PID-N.EXT, malloc'd. */
char *geo_temp_path(const char *path);

/* Renames tmp to path; on failure removes tmp and records the error. */
unet_status geo_rename(const char *tmp, const char *path);

#endif
