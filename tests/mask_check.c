/* mask-check [--size WxH] [--tag HASH] [--classes N] FILE...: checks that
 * every FILE is a complete mask as unet-infer writes it: a PNG that decodes
 * (to IEND), one channel of class ids below N, of the given size, tagged
 * with the model's SHA-256. Prints each bad file and why; exit 1 if any. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unet/image.h>

int main(int argc, char **argv)
{
    int want_w = 0, want_h = 0, classes = 256, bad = 0, checked = 0;
    const char *tag = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i += 2) {
        if (i + 1 >= argc) {
            fprintf(stderr, "mask-check: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--size") && sscanf(argv[i + 1], "%dx%d", &want_w, &want_h) == 2)
            continue;
        if (!strcmp(argv[i], "--tag")) {
            tag = argv[i + 1];
            continue;
        }
        if (!strcmp(argv[i], "--classes") && (classes = atoi(argv[i + 1])) > 0)
            continue;
        fprintf(stderr, "usage: mask-check [--size WxH] [--tag HASH] [--classes N] FILE...\n");
        return 2;
    }
    for (; i < argc; i++) {
        const char *f = argv[i];
        unet_image img;
        checked++;
        if (unet_image_read(f, UNET_IMAGE_PALETTE_INDEX, &img) != UNET_OK) {
            printf("%s: does not decode: %s\n", f, unet_last_error());
            bad++;
            continue;
        }
        if (img.channels != 1 || (want_w && (img.width != want_w || img.height != want_h))) {
            printf("%s: %dx%d with %d channels, expected %dx%d index mask\n", f, img.width, img.height,
                   img.channels, want_w, want_h);
            bad++;
        } else {
            for (size_t p = 0; p < (size_t)img.width * img.height; p++)
                if (img.pixels[p] >= classes) {
                    printf("%s: class %d at pixel %zu, expected < %d\n", f, img.pixels[p], p, classes);
                    bad++;
                    break;
                }
        }
        unet_image_free(&img);
        if (tag) {
            char got[128];
            if (unet_png_read_text(f, "unet:model", got, sizeof got) != UNET_OK || strcmp(got, tag)) {
                printf("%s: tag unet:model is '%s', expected '%s'\n", f, got, tag);
                bad++;
            }
        }
    }
    fprintf(stderr, "mask-check: %d file(s), %d bad\n", checked, bad);
    return bad ? 1 : 0;
}
