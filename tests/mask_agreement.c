/* mask-agreement [--min SHARE] DIR_A DIR_B: the share of pixels where the
 * masks of DIR_A and DIR_B (index PNGs as unet-infer writes them, paired by
 * file name; every PNG of DIR_A needs its twin in DIR_B, of the same size)
 * hold the same class. Prints "agreement S (P of N pixels, M masks)"; exit
 * 1 when S < SHARE or a mask is missing or unreadable, 2 on bad usage. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unet/image.h>

static int is_mask(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".png") == 0 && !strstr(name, ".overlay.");
}

int main(int argc, char **argv)
{
    double min_share = 0.0;
    int i = 1;
    if (argc > 2 && strcmp(argv[1], "--min") == 0) {
        min_share = atof(argv[2]);
        i = 3;
    }
    if (argc - i != 2) {
        fprintf(stderr, "usage: mask-agreement [--min SHARE] DIR_A DIR_B\n");
        return 2;
    }
    const char *dir_a = argv[i], *dir_b = argv[i + 1];
    DIR *d = opendir(dir_a);
    if (!d) {
        fprintf(stderr, "mask-agreement: cannot read %s\n", dir_a);
        return 1;
    }
    unsigned long long same = 0, total = 0;
    int masks = 0, bad = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!is_mask(de->d_name))
            continue;
        char pa[4096], pb[4096];
        snprintf(pa, sizeof pa, "%s/%s", dir_a, de->d_name);
        snprintf(pb, sizeof pb, "%s/%s", dir_b, de->d_name);
        unet_image a, b;
        if (unet_image_read(pa, UNET_IMAGE_PALETTE_INDEX, &a) != UNET_OK) {
            fprintf(stderr, "mask-agreement: %s\n", unet_last_error());
            bad++;
            continue;
        }
        if (unet_image_read(pb, UNET_IMAGE_PALETTE_INDEX, &b) != UNET_OK) {
            fprintf(stderr, "mask-agreement: %s\n", unet_last_error());
            unet_image_free(&a);
            bad++;
            continue;
        }
        if (a.width != b.width || a.height != b.height || a.channels != 1 || b.channels != 1) {
            fprintf(stderr, "mask-agreement: %s is %dx%dx%d, %s %dx%dx%d\n", pa, a.width, a.height, a.channels, pb,
                    b.width, b.height, b.channels);
            bad++;
        } else {
            size_t n = (size_t)a.width * (size_t)a.height;
            for (size_t p = 0; p < n; p++)
                same += a.pixels[p] == b.pixels[p];
            total += n;
            masks++;
        }
        unet_image_free(&a);
        unet_image_free(&b);
    }
    closedir(d);
    double share = total ? (double)same / (double)total : 0.0;
    printf("agreement %.6f (%llu of %llu pixels, %d masks)\n", share, same, total, masks);
    return bad || masks == 0 || share < min_share ? 1 : 0;
}
