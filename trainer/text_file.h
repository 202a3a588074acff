/* Small text files of the search (results, tables, logs): whole-file reads
 * with a size cap, existence, folders. Their writes go through
 * atomic_file_write_all (runtime/atomic_file.h), which text_file.h includes. */
#ifndef UNET_TRAINER_TEXT_FILE_H
#define UNET_TRAINER_TEXT_FILE_H

#include <stddef.h>

#include <unet/unet.h>

#include "atomic_file.h"

/* Largest file text_file_read accepts. */
#define TEXT_FILE_MAX_BYTES ((size_t)64 << 20)

/* Reads path into a NUL-terminated buffer (*text, free() it; *len may be
 * NULL). UNET_ERR_IO naming the file when it cannot be read, UNET_ERR_LIMIT
 * when it is larger than TEXT_FILE_MAX_BYTES. */
unet_status text_file_read(const char *path, char **text, size_t *len);
/* 1 when path names an existing file or folder. */
int text_file_exists(const char *path);
/* Creates the folder (and no parents); an existing one is fine. */
unet_status text_file_mkdir(const char *path);

#endif
