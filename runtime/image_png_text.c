/* One tEXt value of a PNG file (see image_png.h). */
#include <errno.h>
#include <png.h> /* PNG_UINT_31_MAX */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <unet/image.h>

#include "error.h"
#include "image_codecs.h"

/* ---- tEXt lookup: a plain chunk walk, so text after IDAT is found without
 * decoding any pixels ---- */

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unet_status find_text(FILE *f, const char *path, const char *key, char *buf, size_t buf_size)
{
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t head[80];
    size_t key_len = strlen(key);
    if (fread(head, 1, 8, f) != 8 || memcmp(head, signature, 8) != 0)
        return unet_set_error(UNET_ERR_PARSE, "%s: not a PNG file", path);
    for (;;) {
        if (fread(head, 1, 8, f) != 8)
            return unet_set_error(UNET_ERR_PARSE, "%s: PNG ends before IEND (truncated)", path);
        uint32_t len = be32(head);
        if (len > PNG_UINT_31_MAX)
            return unet_set_error(UNET_ERR_PARSE, "%s: PNG chunk length %lu is invalid", path,
                                  (unsigned long)len);
        if (memcmp(head + 4, "IEND", 4) == 0)
            return UNET_OK;
        if (memcmp(head + 4, "tEXt", 4) == 0 && len > key_len) {
            uint32_t crc = crc32_update(0, head + 4, 4);
            if (fread(head, 1, key_len + 1, f) != key_len + 1)
                return unet_set_error(UNET_ERR_PARSE, "%s: PNG ends inside a tEXt chunk", path);
            crc = crc32_update(crc, head, key_len + 1);
            len -= (uint32_t)(key_len + 1);
            if (memcmp(head, key, key_len) == 0 && head[key_len] == '\0') {
                if (len > buf_size - 1)
                    return unet_set_error(UNET_ERR_LIMIT, "%s: tEXt \"%s\" holds %lu bytes, buffer has room for %zu",
                                          path, key, (unsigned long)len, buf_size - 1);
                uint8_t stored[4];
                if (fread(buf, 1, len, f) != len || fread(stored, 1, 4, f) != 4) {
                    buf[0] = '\0';
                    return unet_set_error(UNET_ERR_PARSE, "%s: PNG ends inside a tEXt chunk", path);
                }
                if (crc32_update(crc, (const uint8_t *)buf, len) != be32(stored)) {
                    buf[0] = '\0';
                    return unet_set_error(UNET_ERR_PARSE, "%s: tEXt \"%s\" has a bad CRC", path, key);
                }
                buf[len] = '\0';
                return UNET_OK;
            }
        }
        if (fseek(f, (long)len + 4, SEEK_CUR) != 0)
            return unet_set_error(UNET_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    }
}

unet_status unet_png_read_text(const char *path, const char *key, char *buf, size_t buf_size)
{
    if (!path || !key || !buf || buf_size == 0)
        return unet_set_error(UNET_ERR_ARG, "unet_png_read_text: NULL argument or empty buffer");
    buf[0] = '\0';
    size_t key_len = strlen(key);
    if (key_len < 1 || key_len > 79)
        return unet_set_error(UNET_ERR_ARG, "%s: tEXt keyword must be 1 to 79 characters", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return unet_set_error(UNET_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unet_status s = find_text(f, path, key, buf, buf_size);
    fclose(f);
    return s;
}

