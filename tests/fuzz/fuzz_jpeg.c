/* libFuzzer target: bytes as a JPEG (the SOI marker is put in front when missing). */
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
    static const uint8_t jpeg_magic[3] = { 0xff, 0xd8, 0xff };
    fuzz_image_decode(jpeg_magic, sizeof jpeg_magic, data, size);
    return 0;
}
