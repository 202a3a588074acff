/* unet-make-model: writes an untrained U-Net (He-initialised weights) as
 * ONNX, for benchmarks and demos of the runtime before a model is trained. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <unet/unet.h>

#include "export_onnx.h"
#include "net.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: unet-make-model -o MODEL.onnx [--depth D] [--filters F] [--classes C] [--batchnorm] [--seed S]\n"
               "Writes an untrained U-Net (He-normal weights) for benchmarks. Defaults: depth 4,\n"
               "filters 16, 6 classes, no batch normalisation, seed 1.\n");
}

int main(int argc, char **argv)
{
    unet_arch arch = { 3, 6, 4, 16, 0, 0.0f };
    const char *out = NULL;
    unsigned long long seed = 1;
    static const struct option longopts[] = {
        { "out", required_argument, NULL, 'o' }, { "depth", required_argument, NULL, 'd' },
        { "filters", required_argument, NULL, 'f' }, { "classes", required_argument, NULL, 'c' },
        { "batchnorm", no_argument, NULL, 'b' }, { "seed", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o': out = optarg; break;
        case 'd': arch.depth = atoi(optarg); break;
        case 'f': arch.base_filters = atoi(optarg); break;
        case 'c': arch.n_classes = atoi(optarg); break;
        case 'b': arch.batchnorm = 1; break;
        case 's': seed = strtoull(optarg, NULL, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!out) {
        usage(stderr);
        return 2;
    }
    unet_params *p = NULL;
    if (params_create(&arch, &p) != UNET_OK) {
        fprintf(stderr, "unet-make-model: %s\n", unet_last_error());
        return 2;
    }
    params_init_he(p, seed);
    unet_export_meta meta = { arch.n_classes, NULL, NULL, "{\"untrained\":true}", NULL };
    unet_status s = unet_export_onnx(out, p, &meta);
    params_free(p);
    if (s != UNET_OK) {
        fprintf(stderr, "unet-make-model: %s\n", unet_last_error());
        return 1;
    }
    return 0;
}
