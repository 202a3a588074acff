/* unet-quantize: post-training quantisation of a float ONNX model into a
 * standard QDQ file (QuantizeLinear/DequantizeLinear pairs) that libunet runs
 * as int8 convolutions and ONNX Runtime runs too. The steps live in
 * tools/quantize/ (quantize_run.c walks them); this file is the command line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unet/unet.h>

#include "cli_message.h"
#include "cli_number.h"
#include "quantize_run.h"

#define PROG "unet-quantize"

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: unet-quantize MODEL CALIB_TILES -o OUT.onnx [options]\n"
        "\n"
        "Post-training quantisation of a float32 ONNX model into a standard QDQ\n"
        "ONNX file (QuantizeLinear/DequantizeLinear pairs, opset 13 or later), which\n"
        "libunet runs as int8 convolutions where the CPU has VNNI and ONNX Runtime\n"
        "runs too. BatchNormalization after a Conv is folded into it first. Every\n"
        "Conv with group 1 and float32 weights in the file gets int8 weights,\n"
        "symmetric per output channel (axis 0), and a uint8 input quantised per\n"
        "tensor, except those --keep-float names and the Convs that read the image\n"
        "input (the most sensitive layer; see --quantize-input-conv). So does every\n"
        "ConvTranspose whose kernel equals its strides, without padding (the\n"
        "U-Net's up-steps, which libunet runs as an int8 1x1 convolution; weights\n"
        "per output channel, axis 1); other ConvTransposes and the biases stay\n"
        "float32. The activation ranges come from running the float model\n"
        "(through libunet) on the images of CALIB_TILES (a tiles folder, its\n"
        "images/ when it has one: PNG or JPEG), except the image input's, which is\n"
        "the full 8-bit pixel range scaled as the model's unet.input says. The\n"
        "model's metadata is kept and unet.quantization (JSON: method, calibration\n"
        "folder, tile count) added.\n"
        "\n"
        "Options:\n"
        "  -o, --out PATH       the QDQ model to write (required; written atomically)\n"
        "  --method M           how an activation's range is chosen from its values:\n"
        "                       minmax (all of them), percentile (clip each tail,\n"
        "                       see --percentile) or entropy (the threshold with the\n"
        "                       least KL divergence, as TensorRT); default percentile\n"
        "  --percentile P       share of values kept in each tail, in percent,\n"
        "                       50..100 (default 99.99)\n"
        "  --keep-float NODES   leave these Conv or ConvTranspose nodes (comma-\n"
        "                       separated names, as in the model) in float32; may\n"
        "                       be repeated\n"
        "  --activation-bits B  8 (uint8 0..255, default) or 7 (0..127, with a Clip\n"
        "                       in front of each QuantizeLinear so no value exceeds\n"
        "                       127): coarser, but libunet then runs those Convs int8\n"
        "                       on CPUs without VNNI too (the image input keeps 8)\n"
        "  --quantize-input-conv  quantise the Convs that read the image input too\n"
        "                       (default: float32; on the shipped model int8 there\n"
        "                       costs 0.35 points of agreement with fp32 masks)\n"
        "  --max-tiles N        calibrate on at most N images, spread evenly over the\n"
        "                       sorted names (default 200; 0: all)\n"
        "  --threads N          threads for the calibration runs (default: all cores)\n"
        "  --force              replace OUT when it exists\n"
        "  -q, --quiet          no progress lines (errors are still printed)\n"
        "  --version            print the version\n"
        "  -h, --help           this text\n"
        "\n"
        "Progress (one line per calibration image) and errors go to stderr.\n"
        "Exit status: 0 written; 1 written, but some calibration images could not\n"
        "be read or run (each named); 2 bad usage, or the model, tiles or output\n"
        "unusable (nothing written); 3 interrupted (SIGINT, SIGTERM or SIGUSR1:\n"
        "the image being run finishes, nothing is written).\n");
}

/* Appends the comma-separated names of list (split in place) to o. */
static int add_names(qz_options *o, char *list)
{
    for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
        char **grown = realloc(o->keep_float, (size_t)(o->n_keep_float + 1) * sizeof *grown);
        if (!grown)
            return -1;
        grown[o->n_keep_float++] = name;
        o->keep_float = grown;
    }
    return 0;
}

enum { O_METHOD = 256, O_PERCENTILE, O_KEEP_FLOAT, O_QUANTIZE_INPUT_CONV, O_ACTIVATION_BITS, O_MAX_TILES, O_THREADS, O_FORCE, O_VERSION };

/* The options, then the run; every return leaves o->keep_float to main. */
static int quantize_main(int argc, char **argv, qz_options *o)
{
    static const struct option long_options[] = {
        { "out", required_argument, NULL, 'o' },
        { "method", required_argument, NULL, O_METHOD },
        { "percentile", required_argument, NULL, O_PERCENTILE },
        { "keep-float", required_argument, NULL, O_KEEP_FLOAT },
        { "quantize-input-conv", no_argument, NULL, O_QUANTIZE_INPUT_CONV },
        { "activation-bits", required_argument, NULL, O_ACTIVATION_BITS },
        { "max-tiles", required_argument, NULL, O_MAX_TILES },
        { "threads", required_argument, NULL, O_THREADS },
        { "force", no_argument, NULL, O_FORCE },
        { "quiet", no_argument, NULL, 'q' },
        { "version", no_argument, NULL, O_VERSION },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "o:qh", long_options, NULL)) != -1) {
        switch (c) {
        case 'o': o->out = optarg; break;
        case O_METHOD:
            if (qz_method_parse(optarg, &o->method) != 0) {
                cli_message(PROG, "error", "--method takes minmax, percentile or entropy, not '%s'", optarg);
                return 2;
            }
            break;
        case O_PERCENTILE:
            if (cli_parse_double(optarg, 50.0, 100.0, &o->percentile) != 0) {
                cli_message(PROG, "error", "--percentile must be a number from 50 to 100, got '%s'", optarg);
                return 2;
            }
            break;
        case O_KEEP_FLOAT:
            if (add_names(o, optarg) != 0) {
                cli_message(PROG, "error", "out of memory");
                return 2;
            }
            break;
        case O_QUANTIZE_INPUT_CONV: o->input_convs = 1; break;
        case O_ACTIVATION_BITS:
            if (cli_int_option(PROG, "--activation-bits", optarg, 7, 8, &o->activation_bits) != 0)
                return 2;
            break;
        case O_MAX_TILES:
            if (cli_int_option(PROG, "--max-tiles", optarg, 0, 10000000, &o->max_tiles) != 0)
                return 2;
            break;
        case O_THREADS:
            if (cli_int_option(PROG, "--threads", optarg, 0, 4096, &o->threads) != 0)
                return 2;
            break;
        case O_FORCE: o->force = 1; break;
        case 'q': o->quiet = 1; break;
        case O_VERSION: printf("unet-quantize %s\n", UNET_VERSION_STRING); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 2 || !o->out) {
        cli_message(PROG, "error", "%s", argc - optind != 2 ? "expected MODEL and CALIB_TILES" : "-o OUT.onnx is required");
        usage(stderr);
        return 2;
    }
    o->model = argv[optind];
    o->tiles = argv[optind + 1];
    return qz_run(o);
}

int main(int argc, char **argv)
{
    qz_options o = { .method = QZ_PERCENTILE, .percentile = 99.99, .max_tiles = 200, .activation_bits = 8 };
    const int status = quantize_main(argc, argv, &o);
    free(o.keep_float);
    return status;
}
