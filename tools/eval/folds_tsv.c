/* folds.tsv parsing: the text is copied once and split in place. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "folds_tsv.h"

#define FOLDS_MAX_BYTES (1u << 30)

static int cmp_rows(const void *a, const void *b)
{
    return strcmp(((const folds_row *)a)->name, ((const folds_row *)b)->name);
}

/* Splits line (NUL-terminated, no line end) into exactly three tab fields. */
static int split_fields(char *line, const char **f)
{
    int n = 0;
    char *s = line;
    for (;;) {
        char *tab = strchr(s, '\t');
        if (n == 3)
            return -1;
        f[n++] = s;
        if (!tab)
            break;
        *tab = '\0';
        s = tab + 1;
    }
    if (n != 3)
        return -1;
    for (int i = 0; i < 3; i++)
        if (!f[i][0])
            return -1;
    return 0;
}

unet_status folds_parse(const char *text, size_t len, const char *name, folds_table *out)
{
    memset(out, 0, sizeof *out);
    if (len >= FOLDS_MAX_BYTES)
        return unet_set_error(UNET_ERR_LIMIT, "%s: %zu bytes, more than the %u accepted", name, len,
                              FOLDS_MAX_BYTES);
    if (memchr(text, '\0', len))
        return unet_set_error(UNET_ERR_PARSE, "%s: holds a NUL byte; not a text file", name);
    out->text = malloc(len + 1);
    if (!out->text)
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", name);
    memcpy(out->text, text, len);
    out->text[len] = '\0';
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    out->rows = calloc(lines, sizeof *out->rows);
    if (!out->rows) {
        folds_free(out);
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory for %zu lines", name, lines);
    }
    char *s = out->text;
    for (int line = 1; *s; line++) {
        char *end = strchr(s, '\n');
        char *next = end ? end + 1 : s + strlen(s);
        if (end)
            *end = '\0';
        size_t l = strlen(s);
        if (l && s[l - 1] == '\r')
            s[--l] = '\0';
        if (l && s[0] != '#') {
            const char *f[3];
            if (split_fields(s, f) != 0) {
                folds_free(out);
                return unet_set_error(UNET_ERR_PARSE,
                                      "%s line %d: expected NAME<TAB>SCENE<TAB>FOLD (three non-empty fields)",
                                      name, line);
            }
            folds_row *r = &out->rows[out->n++];
            r->name = f[0];
            r->scene = f[1];
            r->fold = f[2];
            r->line = line;
        }
        s = next;
    }
    qsort(out->rows, out->n, sizeof *out->rows, cmp_rows);
    for (size_t i = 1; i < out->n; i++)
        if (!strcmp(out->rows[i - 1].name, out->rows[i].name)) {
            int a = out->rows[i - 1].line, b = out->rows[i].line;
            unet_status st = unet_set_error(UNET_ERR_PARSE, "%s line %d: tile '%s' is listed again (first at line %d)",
                                            name, a > b ? a : b, out->rows[i].name, a < b ? a : b);
            folds_free(out);
            return st;
        }
    return UNET_OK;
}

unet_status folds_read(const char *path, folds_table *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return unet_set_error(UNET_ERR_IO, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= FOLDS_MAX_BYTES) {
                free(buf);
                fclose(f);
                return unet_set_error(UNET_ERR_LIMIT, "%s: larger than %u bytes", path, FOLDS_MAX_BYTES);
            }
            cap = cap ? cap * 2 : 65536;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = p;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return unet_set_error(UNET_ERR_IO, "%s: read error", path);
    }
    unet_status st = folds_parse(buf ? buf : "", len, path, out);
    free(buf);
    return st;
}

void folds_free(folds_table *t)
{
    free(t->rows);
    free(t->text);
    memset(t, 0, sizeof *t);
}

const folds_row *folds_find(const folds_table *t, const char *name)
{
    folds_row key = { name, NULL, NULL, 0 };
    return t->n ? bsearch(&key, t->rows, t->n, sizeof key, cmp_rows) : NULL;
}
