/* Streaming .npy writer for class probabilities too large to hold: float16,
 * shape (classes, height, width) as npy_write_f16 writes them, filled one
 * image row at a time (each row lands in every class plane). Written to a
 * temporary file in the same folder and renamed into place at close. */
#ifndef UNET_TOOLS_NPY_ROWS_H
#define UNET_TOOLS_NPY_ROWS_H

#include <unet/unet.h>

typedef struct npy_rows npy_rows;

unet_status npy_rows_open(const char *path, int classes, int height, int width, npy_rows **out);
/* Row y: classes x width floats, class-major. Rows may come in any order. */
unet_status npy_rows_write(npy_rows *n, int y, const float *row);
/* Syncs and renames into place; an error (and no file) unless every row was
 * written. Frees n in every case. */
unet_status npy_rows_close(npy_rows *n);
/* Removes the temporary file and frees n (NULL: no-op). */
void npy_rows_discard(npy_rows *n);

#endif
