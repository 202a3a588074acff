/* GDAL set-up, errors and temporary names; see geo_gdal.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cpl_error.h>
#include <gdal.h>
#include <ogr_api.h>

#include "geo_gdal.h"

void geo_init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    CPLSetErrorHandler(CPLQuietErrorHandler);
    GDALAllRegister();
}

unet_status geo_fail(unet_status status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *gdal = CPLGetLastErrorType() != CE_None ? CPLGetLastErrorMsg() : "";
    unet_status st = gdal[0] ? unet_set_error(status, "%s: GDAL says: %s", msg, gdal)
                             : unet_set_error(status, "%s", msg);
    CPLErrorReset();
    return st;
}

char *geo_temp_path(const char *path)
{
    static unsigned counter;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t dir_len = (size_t)(base - path), stem_len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    const char *ext = dot && dot != base ? dot : "";
    size_t n = strlen(path) + 64;
    char *tmp = malloc(n);
    if (tmp)
        snprintf(tmp, n, "%.*s.%.*s.tmp-%ld-%u%s", (int)dir_len, path, (int)stem_len, base, (long)getpid(),
                 counter++, ext);
    return tmp;
}

unet_status geo_rename(const char *tmp, const char *path)
{
    if (rename(tmp, path) == 0)
        return UNET_OK;
    int e = errno;
    unlink(tmp);
    return unet_set_error(UNET_ERR_IO, "%s: cannot move the finished file into place: %s", path, strerror(e));
}
