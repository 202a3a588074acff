/* Temporary file (named, or unnamed with O_TMPFILE) + fsync + rename or
 * link + folder sync (see atomic_file.h). */
#define _GNU_SOURCE
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

/* Makes the rename itself durable; best effort, as some file systems refuse
 * fsync on folders. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

static atomic_uint counter; /* unique names for writers in one process */

unet_status atomic_file_open(atomic_file *a, const char *path)
{
    a->f = NULL;
    a->path = path;
    a->unnamed = 0;
    const size_t tmp_size = strlen(path) + 64;
    a->tmp = malloc(tmp_size);
    if (!a->tmp)
        return unet_set_error(UNET_ERR_NOMEM, "writing %s: out of memory", path);
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(a->tmp, tmp_size, "%s.tmp.%ld.%u", path, (long)getpid(),
                 atomic_fetch_add(&counter, 1u));
        fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd >= 0) {
        a->f = fdopen(fd, "wb");
        if (a->f)
            return UNET_OK;
        const int e = errno;
        close(fd);
        unlink(a->tmp);
        errno = e;
    }
    unet_status s = unet_set_error(UNET_ERR_IO, "cannot create the temporary file %s: %s",
                                   a->tmp, strerror(errno));
    free(a->tmp);
    a->tmp = NULL;
    return s;
}

/* An unnamed file in path's folder, or -1 where the system, the file system
 * or a missing /proc (needed to name it later) rules it out. */
static int open_unnamed(const char *path)
{
#ifdef O_TMPFILE
    if (access("/proc/self/fd", X_OK) != 0)
        return -1;
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return -1;
    const int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    free(dir);
    return fd;
#else
    (void)path;
    return -1;
#endif
}

unet_status atomic_file_open_unnamed(atomic_file *a, const char *path)
{
    const int fd = open_unnamed(path);
    if (fd < 0)
        return atomic_file_open(a, path);
    a->path = path;
    a->unnamed = 1;
    a->tmp = malloc(strlen(path) + 64);
    a->f = a->tmp ? fdopen(fd, "wb") : NULL;
    if (!a->f) {
        close(fd);
        free(a->tmp);
        a->tmp = NULL;
        return unet_set_error(UNET_ERR_NOMEM, "writing %s: out of memory", path);
    }
    snprintf(a->tmp, strlen(path) + 64, "%s.tmp.%ld.%u", path, (long)getpid(),
             atomic_fetch_add(&counter, 1u));
    return UNET_OK;
}

/* Gives the complete unnamed file its name: linked straight to the path
 * when the path is new, else linked to tmp and renamed over the path. */
static int name_unnamed(const atomic_file *a)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fileno(a->f));
    if (linkat(AT_FDCWD, proc, AT_FDCWD, a->path, AT_SYMLINK_FOLLOW) == 0)
        return 0;
    if (errno != EEXIST || linkat(AT_FDCWD, proc, AT_FDCWD, a->tmp, AT_SYMLINK_FOLLOW) != 0)
        return -1;
    if (rename(a->tmp, a->path) == 0)
        return 0;
    const int e = errno;
    unlink(a->tmp);
    errno = e;
    return -1;
}

static unet_status commit_unnamed(atomic_file *a, int err)
{
    if (!err && fflush(a->f) != 0)
        err = errno;
    if (!err && fsync(fileno(a->f)) != 0)
        err = errno;
    const char *stage = "writing";
    if (!err && name_unnamed(a) != 0) {
        err = errno;
        stage = "linking into place";
    }
    /* Once linked the data is synced: a close error cannot lose it. */
    fclose(a->f);
    unet_status s = UNET_OK;
    if (err)
        s = unet_set_error(UNET_ERR_IO, "%s %s: %s", stage, a->path, strerror(err));
    else
        sync_parent_dir(a->path);
    free(a->tmp);
    a->tmp = NULL;
    a->f = NULL;
    return s;
}

unet_status atomic_file_commit(atomic_file *a, int err)
{
    if (a->unnamed)
        return commit_unnamed(a, err);
    if (!err && fflush(a->f) != 0)
        err = errno;
    if (!err && fsync(fileno(a->f)) != 0)
        err = errno;
    if (fclose(a->f) != 0 && !err)
        err = errno;
    const char *stage = "writing";
    if (!err && rename(a->tmp, a->path) != 0) {
        err = errno;
        stage = "renaming";
    }
    unet_status s = UNET_OK;
    if (err) {
        unlink(a->tmp);
        s = unet_set_error(UNET_ERR_IO, "%s %s: %s", stage, a->tmp, strerror(err));
    } else {
        sync_parent_dir(a->path);
    }
    free(a->tmp);
    a->tmp = NULL;
    a->f = NULL;
    return s;
}

void atomic_file_discard(atomic_file *a)
{
    if (!a->tmp)
        return;
    if (a->f)
        fclose(a->f); /* an unnamed file vanishes with it */
    if (!a->unnamed)
        unlink(a->tmp);
    free(a->tmp);
    a->tmp = NULL;
    a->f = NULL;
}

unet_status atomic_file_write_all(const char *path, const void *data, size_t len)
{
    atomic_file a;
    UNET_TRY(atomic_file_open(&a, path));
    int err = 0;
    errno = 0;
    if (len > 0 && fwrite(data, 1, len, a.f) != len)
        err = errno ? errno : EIO;
    return atomic_file_commit(&a, err);
}
