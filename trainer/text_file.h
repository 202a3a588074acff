/* Small text files of the search (results, tables, logs): whole-file reads
 * with a size cap and atomic writes (temporary file in the same folder,
 * fsync, rename), so a reader never sees half a file and a killed process
 * never leaves one. */
#ifndef UNET_TRAINER_TEXT_FILE_H
#define UNET_TRAINER_TEXT_FILE_H

#include <stddef.h>

#include <unet/unet.h>

/* Largest file text_file_read accepts. */
#define TEXT_FILE_MAX_BYTES ((size_t)64 << 20)

/* Reads path into a NUL-terminated buffer (*text, free() it; *len may be
 * NULL). UNET_ERR_IO naming the file when it cannot be read, UNET_ERR_LIMIT
 * when it is larger than TEXT_FILE_MAX_BYTES. */
unet_status text_file_read(const char *path, char **text, size_t *len);
/* Writes len bytes to path atomically. */
unet_status text_file_write(const char *path, const char *text, size_t len);
/* 1 when path names an existing file or folder. */
int text_file_exists(const char *path);
/* Creates the folder (and no parents); an existing one is fine. */
unet_status text_file_mkdir(const char *path);

#endif
