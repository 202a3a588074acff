/* Base64 encoding (see base64.h). */
#include "base64.h"

#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_length(size_t n) { return (n + 2) / 3 * 4; }

/* The 4 characters of the (up to) 3 bytes at p; missing bytes give '='. */
static void quad(const uint8_t *p, size_t n, char *out)
{
    uint32_t v = (uint32_t)p[0] << 16 | (n > 1 ? (uint32_t)p[1] << 8 : 0) | (n > 2 ? p[2] : 0);
    out[0] = alphabet[v >> 18 & 63];
    out[1] = alphabet[v >> 12 & 63];
    out[2] = n > 1 ? alphabet[v >> 6 & 63] : '=';
    out[3] = n > 2 ? alphabet[v & 63] : '=';
}

void base64_encode(const void *data, size_t n, char *out)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i += 3, out += 4)
        quad(p + i, n - i, out);
    *out = '\0';
}

int base64_write(FILE *f, const void *data, size_t n)
{
    const uint8_t *p = data;
    char buf[4096]; /* 1024 quads per fwrite */
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        quad(p + i, n - i, buf + k);
        k += 4;
        if (k == sizeof buf) {
            if (fwrite(buf, 1, k, f) != k)
                return -1;
            k = 0;
        }
    }
    return k && fwrite(buf, 1, k, f) != k ? -1 : 0;
}
