/* libFuzzer target: bytes as a PNG (the signature is put in front when missing). */
#include "fuzz_image.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_image_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    fuzz_image_decode(png_magic, sizeof png_magic, data, size);
    return 0;
}
