/* Shared body of the image fuzz targets: decode the bytes with every read
 * flag; a refusal with a status is fine, a crash or sanitizer report is a bug.
 * Each target makes sure its format's signature leads, so the mutations are
 * spent inside that decoder. */
#ifndef UNET_FUZZ_IMAGE_H
#define UNET_FUZZ_IMAGE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unet/image.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 Mpixel: larger than any tile, small enough that a declared size under
 * the cap costs little (the pixel buffer is allocated before the rows are
 * decoded), so the fuzzer stays fast and never trips its malloc limit. */
#define FUZZ_MAX_PIXELS (1u << 20)

static void fuzz_image_init(void) { unet_image_set_max_pixels(FUZZ_MAX_PIXELS); }

static void fuzz_image_decode(const uint8_t *magic, size_t magic_len, const uint8_t *data, size_t size)
{
    uint8_t *buf = NULL;
    if (size < magic_len || memcmp(data, magic, magic_len) != 0) {
        buf = malloc(size + magic_len);
        if (!buf)
            return;
        memcpy(buf, magic, magic_len);
        if (size)
            memcpy(buf + magic_len, data, size);
        data = buf;
        size += magic_len;
    }
    static const int flags[3] = { UNET_IMAGE_DEFAULT, UNET_IMAGE_PALETTE_INDEX, UNET_IMAGE_FORCE_RGB };
    for (int f = 0; f < 3; f++) {
        unet_image img;
        if (unet_image_read_memory(data, size, "fuzz", flags[f], &img) == UNET_OK) {
            /* The whole pixel buffer must be there and the sizes consistent. */
            size_t n = (size_t)img.width * (size_t)img.height * (size_t)img.channels;
            if (img.width < 1 || img.height < 1 || img.channels < 1 || img.channels > 4 || !img.pixels)
                abort();
            if ((flags[f] == UNET_IMAGE_FORCE_RGB && img.channels != 3) || (uint64_t)img.width * (uint64_t)img.height > FUZZ_MAX_PIXELS)
                abort();
            volatile uint8_t last = img.pixels[n - 1];
            (void)last;
            unet_image_free(&img);
        }
    }
    free(buf);
}

#endif
