/* Writing a file so that readers see the old version or the whole new one,
 * never a part (the one implementation the library, the trainer and the
 * programs share; internal to the project, not an installed header): the
 * bytes go to a temporary file beside it (PATH.tmp.<pid>.<n>, created
 * exclusively), which is flushed, fsync'ed and renamed over the target;
 * then the folder is synced so the rename survives a crash. A failed write
 * removes the temporary file.
 *
 * atomic_file_open_unnamed goes one step further where Linux allows it: the
 * temporary file has no name at all (O_TMPFILE) until commit links it into
 * place, so even a process killed at any point (SIGKILL) leaves nothing
 * behind. Long streamed outputs use the named kind on purpose, so that a
 * running job's partial outputs can be seen. */
#ifndef UNET_RUNTIME_ATOMIC_FILE_H
#define UNET_RUNTIME_ATOMIC_FILE_H

#include <stdio.h>

#include <unet/unet.h>

typedef struct atomic_file {
    FILE *f;          /* write here between open and commit */
    char *tmp;        /* the temporary file's name (unnamed: used only if path exists) */
    const char *path; /* the target, borrowed from the caller */
    int unnamed;      /* an O_TMPFILE file, named at commit */
} atomic_file;

/* Creates the temporary file for path. UNET_ERR_IO naming it on failure
 * (nothing to clean up then). */
unet_status atomic_file_open(atomic_file *a, const char *path);
/* The same with an unnamed temporary file (O_TMPFILE) where the system, the
 * file system and /proc allow it, else as atomic_file_open. */
unet_status atomic_file_open_unnamed(atomic_file *a, const char *path);
/* Flushes, syncs, closes and renames into place. write_errno is the first
 * errno the caller's writes met (0: none); any error removes the temporary
 * file and gives UNET_ERR_IO ("writing TMP: ..." or "renaming TMP: ...").
 * Always releases a. */
unet_status atomic_file_commit(atomic_file *a, int write_errno);
/* Closes and removes the temporary file without renaming (a failed or
 * abandoned write). Always releases a; a released a is ignored. */
void atomic_file_discard(atomic_file *a);

/* The whole of data (len bytes) into path, atomically, as above; errors
 * name the file and the reason. */
unet_status atomic_file_write_all(const char *path, const void *data, size_t len);

#endif
