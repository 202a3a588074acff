/* .npy version 1.0: magic, header length, a Python dict literal padded to a
 * multiple of 64 bytes, then the little-endian data. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "error.h"
#include "half.h"
#include "npy_write.h"

unet_status npy_write_f16(const char *path, const float *data, int c, int h, int w)
{
    char header[128];
    int hl = snprintf(header, sizeof header, "{'descr': '<f2', 'fortran_order': False, 'shape': (%d, %d, %d), }", c, h, w);
    int total = 10 + hl + 1;
    int pad = (64 - total % 64) % 64;
    atomic_file a;
    UNET_TRY(atomic_file_open(&a, path));
    FILE *f = a.f;
    errno = 0;
    uint16_t hlen = (uint16_t)(hl + pad + 1);
    unsigned char magic[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8) };
    int ok = fwrite(magic, 1, 10, f) == 10 && fwrite(header, 1, (size_t)hl, f) == (size_t)hl;
    for (int i = 0; ok && i < pad; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    size_t n = (size_t)c * h * w;
    uint16_t buf[4096];
    for (size_t i = 0; ok && i < n; i += 4096) {
        size_t k = n - i < 4096 ? n - i : 4096;
        for (size_t j = 0; j < k; j++)
            buf[j] = unet_half_from_float(data[i + j]);
        ok = fwrite(buf, 2, k, f) == k;
    }
    return atomic_file_commit(&a, ok ? 0 : errno ? errno : EIO);
}
