/* Whole-file reads and atomic writes (see text_file.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "error.h"
#include "text_file.h"

unet_status text_file_read(const char *path, char **text, size_t *len)
{
    *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return unet_set_error(UNET_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    unet_status s = buf ? UNET_OK : unet_set_error(UNET_ERR_NOMEM, "reading %s: out of memory", path);
    while (s == UNET_OK) {
        if (n + 1 >= cap) {
            if (cap > TEXT_FILE_MAX_BYTES) {
                s = unet_set_error(UNET_ERR_LIMIT, "%s is larger than %zu bytes", path,
                                   TEXT_FILE_MAX_BYTES);
                break;
            }
            char *b = realloc(buf, cap * 2);
            if (!b) {
                s = unet_set_error(UNET_ERR_NOMEM, "reading %s: out of memory", path);
                break;
            }
            buf = b;
            cap *= 2;
        }
        const size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                s = unet_set_error(UNET_ERR_IO, "cannot read %s: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (s != UNET_OK) {
        free(buf);
        return s;
    }
    buf[n] = '\0';
    *text = buf;
    if (len)
        *len = n;
    return UNET_OK;
}

int text_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

unet_status text_file_mkdir(const char *path)
{
    if (mkdir(path, 0777) == 0 || errno == EEXIST)
        return UNET_OK;
    return unet_set_error(UNET_ERR_IO, "cannot create folder %s: %s", path, strerror(errno));
}
