/* Exclusive lock of a checkpoint folder for one training run. */
#define _GNU_SOURCE
#include "run_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "text_file.h"

unet_status run_lock_acquire(const char *folder, int *fd)
{
    *fd = -1;
    unet_status s = text_file_mkdir(folder);
    if (s != UNET_OK)
        return s;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/lock", folder) >= (int)sizeof path)
        return unet_set_error(UNET_ERR_IO, "checkpoint folder name too long: %s", folder);
    const int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (f < 0)
        return unet_set_error(UNET_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        const int e = errno;
        char holder[32] = "";
        const ssize_t n = pread(f, holder, sizeof holder - 1, 0);
        close(f);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        if (e == EWOULDBLOCK)
            return unet_set_error(UNET_ERR_IO,
                                  "%s is in use by another training run%s%s%s; wait for it "
                                  "to end (or stop it) before starting or resuming this one",
                                  folder, holder[0] ? " (process " : "", holder,
                                  holder[0] ? ")" : "");
        return unet_set_error(UNET_ERR_IO, "cannot lock %s: %s", path, strerror(e));
    }
    /* The holder's pid, for the message above; the lock alone is what counts. */
    char pid[32];
    const int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(f, 0) != 0 || pwrite(f, pid, (size_t)len, 0) != len) {
        /* harmless: the lock is held either way */
    }
    *fd = f;
    return UNET_OK;
}
