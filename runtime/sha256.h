/* SHA-256 (FIPS 180-4), used to tag masks with the model that wrote them. */
#ifndef UNET_RUNTIME_SHA256_H
#define UNET_RUNTIME_SHA256_H

#include <stddef.h>
#include <stdint.h>
#include <unet/unet.h>

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t bytes;
    uint8_t buf[64];
    size_t fill;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
void sha256_final(sha256_ctx *c, uint8_t out[32]);
/* Hex digest of a whole file into hex[65]. */
unet_status sha256_file_hex(const char *path, char hex[65]);

#endif
