/* export-random-model: writes a U-Net through the trainer's ONNX exporter with
 * seeded random parameters (non-zero biases, batch-norm statistics away from
 * 0/1), so interop tests exercise every exported tensor, unlike an untrained
 * model whose biases are zero and whose batch norms are identities. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <unet/unet.h>

#include "export_onnx.h"
#include "random_params.h"

int main(int argc, char **argv)
{
    unet_arch arch = { 3, 6, 2, 4, 0, 0.0f };
    const char *out = NULL;
    unsigned long long seed = 1;
    static const struct option longopts[] = {
        { "out", required_argument, NULL, 'o' }, { "depth", required_argument, NULL, 'd' },
        { "filters", required_argument, NULL, 'f' }, { "classes", required_argument, NULL, 'c' },
        { "batchnorm", no_argument, NULL, 'b' }, { "seed", required_argument, NULL, 's' },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o': out = optarg; break;
        case 'd': arch.depth = atoi(optarg); break;
        case 'f': arch.base_filters = atoi(optarg); break;
        case 'c': arch.n_classes = atoi(optarg); break;
        case 'b': arch.batchnorm = 1; break;
        case 's': seed = strtoull(optarg, NULL, 10); break;
        default: out = NULL; optind = argc; break;
        }
    }
    if (!out || optind != argc || arch.depth < 1 || arch.depth > 6 || arch.base_filters < 1 ||
        arch.n_classes < 1) {
        fprintf(stderr, "usage: export-random-model -o MODEL.onnx [--depth D] [--filters F] "
                        "[--classes C] [--batchnorm] [--seed S]\n");
        return 2;
    }
    unet_params *p = random_params_create(&arch, seed);
    if (!p) {
        fprintf(stderr, "export-random-model: out of memory\n");
        return 1;
    }
    unet_export_meta meta = { arch.n_classes, NULL, NULL, NULL, NULL };
    unet_status s = unet_export_onnx(out, p, &meta);
    random_params_free(p);
    if (s != UNET_OK) {
        fprintf(stderr, "export-random-model: %s\n", unet_last_error());
        return 1;
    }
    return 0;
}
