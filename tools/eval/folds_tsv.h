/* folds.tsv, written by unet-tile and read by unet-eval (and the trainer):
 * one tile per line, NAME<TAB>SCENE<TAB>FOLD, FOLD being 0..K-1 or "test".
 * Empty lines and lines starting with '#' are skipped; CRLF is accepted. */
#ifndef UNET_TOOLS_FOLDS_TSV_H
#define UNET_TOOLS_FOLDS_TSV_H

#include <stddef.h>

#include <unet/unet.h>

typedef struct folds_row {
    const char *name, *scene, *fold; /* point into the table's text */
    int line;                        /* 1-based, for messages */
} folds_row;

typedef struct folds_table {
    folds_row *rows;
    size_t n;
    char *text;
} folds_table;

/* Parses len bytes of text (copied); name is used in messages. A line without
 * exactly three non-empty fields, or a tile listed twice, is an error naming
 * the line (UNET_ERR_PARSE). */
unet_status folds_parse(const char *text, size_t len, const char *name, folds_table *out);
/* Reads and parses a file of at most 1 GiB. */
unet_status folds_read(const char *path, folds_table *out);
void folds_free(folds_table *t);

/* The row of tile name, NULL when absent (binary search; rows are sorted by name). */
const folds_row *folds_find(const folds_table *t, const char *name);

#endif
