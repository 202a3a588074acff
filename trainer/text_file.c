/* Whole-file reads and atomic writes (see text_file.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

unet_status text_file_write(const char *path, const char *text, size_t len)
{
    const size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp)
        return unet_set_error(UNET_ERR_NOMEM, "writing %s: out of memory", path);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int ok = f != NULL;
    ok = ok && (len == 0 || fwrite(text, 1, len, f) == len);
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (f && fclose(f) != 0)
        ok = 0;
    ok = ok && rename(tmp, path) == 0;
    unet_status s = UNET_OK;
    if (!ok) {
        s = unet_set_error(UNET_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return s;
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
