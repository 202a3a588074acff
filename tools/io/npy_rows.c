/* Streaming float16 .npy (version 1.0) writer; see npy_rows.h. The header is
 * the one npy_write_f16 writes: a Python dict literal padded with spaces so
 * that magic + length + dict + newline is a multiple of 64 bytes. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "error.h"
#include "npy_rows.h"
#include "npy_write.h"

struct npy_rows {
    atomic_file out;        /* rows go in by pwrite on its descriptor */
    int out_open;
    int fd;                 /* fileno(out.f); nothing goes through the FILE buffer */
    char *path;
    int classes, height, width;
    size_t data_offset;
    uint16_t *buf;          /* one row of one class */
    int rows_written;       /* distinct rows: callers write each once */
    int broken;
};

/* Frees everything; removes the temporary file unless it was committed. */
static void release(npy_rows *n)
{
    if (n->out_open)
        atomic_file_discard(&n->out);
    free(n->path);
    free(n->buf);
    free(n);
}

static int write_all(int fd, const void *data, size_t size, off_t offset)
{
    const char *p = data;
    while (size > 0) {
        ssize_t k = pwrite(fd, p, size, offset);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        size -= (size_t)k;
        offset += k;
    }
    return 0;
}

unet_status npy_rows_open(const char *path, int classes, int height, int width, npy_rows **out)
{
    *out = NULL;
    if (classes < 1 || height < 1 || width < 1)
        return unet_set_error(UNET_ERR_ARG, "%s: cannot write probabilities of shape (%d, %d, %d)", path, classes,
                              height, width);
    npy_rows *n = calloc(1, sizeof *n);
    if (!n)
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
    n->path = strdup(path);
    n->buf = malloc((size_t)width * sizeof *n->buf);
    if (!n->path || !n->buf) {
        release(n);
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
    }
    n->classes = classes;
    n->height = height;
    n->width = width;
    unet_status opened = atomic_file_open(&n->out, n->path);
    if (opened != UNET_OK) {
        release(n);
        return opened;
    }
    n->out_open = 1;
    n->fd = fileno(n->out.f);
    char header[192];
    int hl = snprintf(header, sizeof header, "{'descr': '<f2', 'fortran_order': False, 'shape': (%d, %d, %d), }",
                      classes, height, width);
    int pad = (64 - (10 + hl + 1) % 64) % 64;
    unsigned char head[10 + sizeof header + 64];
    uint16_t hlen = (uint16_t)(hl + pad + 1);
    unsigned char magic[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                                (unsigned char)(hlen >> 8) };
    memcpy(head, magic, 10);
    memcpy(head + 10, header, (size_t)hl);
    memset(head + 10 + hl, ' ', (size_t)pad);
    head[10 + hl + pad] = '\n';
    n->data_offset = (size_t)(10 + hl + pad + 1);
    if (write_all(n->fd, head, n->data_offset, 0) != 0) {
        unet_status s = unet_set_error(UNET_ERR_IO, "%s: write failed: %s", n->out.tmp, strerror(errno));
        release(n);
        return s;
    }
    *out = n;
    return UNET_OK;
}

unet_status npy_rows_write(npy_rows *n, int y, const float *row)
{
    if (n->broken)
        return unet_set_error(UNET_ERR_IO, "%s: an earlier write failed", n->path);
    if (y < 0 || y >= n->height)
        return unet_set_error(UNET_ERR_ARG, "%s: row %d outside 0..%d", n->path, y, n->height - 1);
    for (int k = 0; k < n->classes; k++) {
        for (int x = 0; x < n->width; x++)
            n->buf[x] = float_to_half(row[(size_t)k * n->width + x]);
        size_t offset = n->data_offset + (((size_t)k * n->height + (size_t)y) * n->width) * 2;
        if (write_all(n->fd, n->buf, (size_t)n->width * 2, (off_t)offset) != 0) {
            n->broken = 1;
            return unet_set_error(UNET_ERR_IO, "%s: write failed: %s", n->out.tmp, strerror(errno));
        }
    }
    n->rows_written++;
    return UNET_OK;
}

unet_status npy_rows_close(npy_rows *n)
{
    unet_status s = UNET_OK;
    if (n->broken || n->rows_written != n->height)
        s = unet_set_error(UNET_ERR_ARG, "%s: closed after %d of %d rows; nothing written", n->path,
                           n->rows_written, n->height);
    if (s == UNET_OK) {
        n->out_open = 0;
        s = atomic_file_commit(&n->out, 0);
    }
    release(n);
    return s;
}

void npy_rows_discard(npy_rows *n)
{
    if (n)
        release(n);
}
