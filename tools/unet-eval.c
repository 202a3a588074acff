/* unet-eval: how well a model segments a tiles folder. Every tile of
 * TILES/images (or of one fold of folds.tsv) is run through the model, its
 * argmax compared with TILES/masks, and one confusion matrix accumulated; the
 * metrics are those of unet/metrics.h, the same the trainer reports. With
 * --scene, whole scene images are segmented with the sliding window of
 * unet-infer --scene and compared with their colour masks (eval_scene.h). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <unet/image.h>
#include <unet/meta.h>
#include <unet/metrics.h>
#include <unet/palette.h>
#include <unet/unet.h>

#include "cli_message.h"
#include "cli_number.h"
#include "cli_signals.h"
#include "eval_program.h"

/* SIGINT, SIGTERM and SIGUSR1 stop the run; the metrics so far are still reported. */
volatile sig_atomic_t eval_interrupted;

static void usage(FILE *f)
{
    fprintf(f,
"usage: unet-eval [options] MODEL TILES\n"
"       unet-eval [options] --scene MODEL SCENE... [--pairs FILE]\n"
"Evaluates an ONNX segmentation model on a tiles folder (as unet-tile writes it):\n"
"each TILES/images/NAME.png (or .jpg) is segmented (argmax over the model's\n"
"classes) and compared with TILES/masks/NAME.png, an index mask (8-bit gray or\n"
"palette PNG, pixel value = class id). One confusion matrix is accumulated over\n"
"all tiles and printed with per-class precision, recall, F1, IoU and support,\n"
"pixel accuracy, mean IoU, macro F1 and frequency-weighted F1.\n\n"
"Whole scenes (--scene): a SCENE is a folder holding images/ and masks/ (the\n"
"data set's 'Tile N'), or a folder with such folders below it; a mask pairs\n"
"with the image of the same stem (.png, .jpg, .jpeg). Each image is segmented\n"
"whole with the sliding window of unet-infer --scene (same --tile, --overlap,\n"
"blending and input scaling) and compared with its mask. Masks are colour\n"
"masks (RGB or palette PNG): a colour of a class is that class, an ignore\n"
"colour is left out; an 8-bit gray mask holds class ids instead (index masks;\n"
"unet-tile's palette masks carry the class colours and read right too). One\n"
"matrix over all images, plus a line per scene.\n\n"
"Options:\n"
"      --fold K         evaluate only the tiles of fold K (0..K-1 or test) in\n"
"                       the folds file\n"
"      --folds-file F   NAME<TAB>SCENE<TAB>FOLD lines (default TILES/folds.tsv)\n"
"  -b, --batch N        tiles (scene mode: windows) per model run (default 8)\n"
"      --threads N      threads (default: all cores)\n"
"      --precision P    fp32 (default) or bf16 (AVX-512 BF16 CPUs; refused with\n"
"                       the reason elsewhere): evaluate the model as unet-infer\n"
"                       --precision P runs it\n"
"      --ignore-label L mask value left out of the metrics (default: the model's\n"
"                       unet.ignore_label, else 255); in scene mode it applies\n"
"                       to gray masks and to the class ids colours map to\n"
"      --json           print the results as one JSON object on stdout\n"
"      --json-file F    write that JSON object to F\n"
"      --csv F          write one CSV row per class to F (undefined values empty)\n"
"      --heatmap F.png  write the row-normalised confusion matrix as a heat map:\n"
"                       rows = ground truth, columns = prediction, the percentage\n"
"                       of the row in each cell, class colours and ids on the\n"
"                       edges, grey rows for classes absent from the ground truth\n"
"      --errors DIR     write DIR/NAME.png per tile (scene mode: per image): right\n"
"                       pixels in their class colour at half brightness, wrong\n"
"                       ones red, pixels left out (ignore label) black\n"
"      --report F.html  write one self-contained HTML report (no network, no\n"
"                       JavaScript; images inline): the model (name, SHA-256,\n"
"                       input, parameters, opset, classes), the metrics of\n"
"                       --json, the confusion matrix with row shares, and the\n"
"                       worst and best tiles (scene mode: windows of the --tile\n"
"                       grid) by their own mean IoU as image, truth, prediction\n"
"                       and error map; its last line states the file's size\n"
"      --report-tiles N how many worst and how many best to show, 0..500\n"
"                       (default 12; 0: no gallery)\n"
"      --quiet          no progress or warnings (errors still shown)\n"
"      --version        print the version\n"
"  -h, --help           this text\n\n"
"Scene mode options:\n"
"      --scene          whole scenes (see above)\n"
"      --pairs FILE     IMAGE<TAB>MASK<TAB>SCENE lines (paths relative to FILE's\n"
"                       folder), with or instead of SCENE folders; implies --scene\n"
"      --tile N         window size (default: the model's fixed input size, else\n"
"                       256)\n"
"      --overlap N      overlap between windows, 0..N-1 (default N/4)\n"
"      --tta            test-time augmentation as unet-infer --tta: each window's\n"
"                       probabilities averaged over it and its horizontal and\n"
"                       vertical flips (3 model runs per batch)\n"
"      --palette FILE   classes.tsv (ID<TAB>NAME<TAB>#RRGGBB): the mask colours of\n"
"                       the classes (default: the model's unet.colors, else the\n"
"                       data set's palette)\n"
"      --ignore-colors LIST\n"
"                       comma-separated #RRGGBB mask colours that mean \"not\n"
"                       annotated\", left out of the metrics, or \"none\" (default\n"
"                       #000000, the data set's unannotated black)\n"
"      --unknown-colors error|ignore\n"
"                       a mask colour that is neither a class's nor an ignore\n"
"                       colour fails that image, naming file, colour and pixel\n"
"                       (default), or is left out with a warning\n"
"  -o, --out DIR        keep the predicted masks as DIR/NAME.png (palette PNGs as\n"
"                       unet-infer --scene writes them; default: a temporary\n"
"                       folder under $TMPDIR, removed). A mask already there from\n"
"                       the same model is evaluated as it is (whatever --overlap\n"
"                       or --tta made it), so a rerun resumes;\n"
"                       one from another model fails that image unless --force\n"
"      --force          replace masks in DIR written by another model\n"
"NAME is the image's stem, or SCENE__STEM when the stem occurs in several scenes.\n\n"
"Output: the table goes to stdout; with --json, stdout holds only the JSON and\n"
"the table goes to stderr (left out with --quiet). Progress, warnings and\n"
"per-tile errors go to stderr. Class names and colours come from the model's\n"
"metadata, else TILES/classes.tsv (scene mode: --palette), else the default\n"
"palette. In scene mode the JSON's \"tiles_*\" counts are images, \"tiles\" names\n"
"the inputs, and \"scenes\" holds per scene its counts, pixel accuracy, mean IoU,\n"
"macro F1 and confusion matrix, and per image its result.\n\n"
"Definitions (pixels whose mask value is the ignore label, or is not a class\n"
"of the model, are not counted): for class c, TP = pixels of c predicted c,\n"
"FP = pixels of other classes predicted c, FN = pixels of c predicted as\n"
"another class, support = TP + FN.\n"
"  precision = TP / (TP + FP)       recall = TP / (TP + FN)\n"
"  F1 = 2 TP / (2 TP + FP + FN)     IoU = TP / (TP + FP + FN)\n"
"A ratio whose denominator is 0 is undefined: printed n/a (null in JSON, empty\n"
"in CSV). So a class absent from the ground truth and never predicted has all\n"
"four undefined; one absent but predicted has precision, F1 and IoU 0 and\n"
"recall undefined; one present but never predicted has precision undefined and\n"
"recall, F1 and IoU 0. Mean IoU and macro F1 are means over the classes present\n"
"in the ground truth (support > 0); weighted F1 weights each class's F1 by its\n"
"support; pixel accuracy = correct pixels / counted pixels.\n\n"
"A missing mask, a mask whose size differs from its image, an unreadable file\n"
"or a failed run is reported for that tile (scene mode: image) and the others\n"
"go on.\n"
"Exit status: 0 all tiles (images) evaluated; 1 some tiles or images (or an\n"
"output) failed; 2 bad usage, unusable model or nothing to evaluate;\n"
"3 interrupted (the metrics so far are still reported).\n");
}

int main(int argc, char **argv)
{
    cli_alloc_program(PROG);
    eval_options o;
    memset(&o, 0, sizeof o);
    o.batch = 8;
    o.ignore_label = -1;
    o.overlap = -1;
    o.ignore_colors = "#000000";
    o.report_tiles = 12;
    int report_tiles_set = 0;
    const char *scene_only = NULL; /* a scene-mode option given, for the message in tile mode */
    enum { OPT_FOLDS_FILE = 256, OPT_FOLD, OPT_THREADS, OPT_JSON, OPT_JSON_FILE, OPT_CSV, OPT_HEATMAP,
           OPT_ERRORS, OPT_IGNORE, OPT_SCENE, OPT_QUIET, OPT_VERSION, OPT_PAIRS, OPT_TILE, OPT_OVERLAP,
           OPT_PALETTE, OPT_IGNORE_COLORS, OPT_UNKNOWN_COLORS, OPT_FORCE, OPT_REPORT, OPT_REPORT_TILES,
           OPT_PRECISION, OPT_TTA };
    static const struct option longopts[] = {
        { "folds-file", required_argument, NULL, OPT_FOLDS_FILE }, { "fold", required_argument, NULL, OPT_FOLD },
        { "batch", required_argument, NULL, 'b' }, { "threads", required_argument, NULL, OPT_THREADS },
        { "json", no_argument, NULL, OPT_JSON }, { "json-file", required_argument, NULL, OPT_JSON_FILE },
        { "csv", required_argument, NULL, OPT_CSV }, { "heatmap", required_argument, NULL, OPT_HEATMAP },
        { "errors", required_argument, NULL, OPT_ERRORS }, { "ignore-label", required_argument, NULL, OPT_IGNORE },
        { "scene", no_argument, NULL, OPT_SCENE }, { "quiet", no_argument, NULL, OPT_QUIET },
        { "version", no_argument, NULL, OPT_VERSION }, { "help", no_argument, NULL, 'h' },
        { "pairs", required_argument, NULL, OPT_PAIRS }, { "tile", required_argument, NULL, OPT_TILE },
        { "overlap", required_argument, NULL, OPT_OVERLAP }, { "palette", required_argument, NULL, OPT_PALETTE },
        { "ignore-colors", required_argument, NULL, OPT_IGNORE_COLORS },
        { "unknown-colors", required_argument, NULL, OPT_UNKNOWN_COLORS },
        { "out", required_argument, NULL, 'o' }, { "force", no_argument, NULL, OPT_FORCE },
        { "report", required_argument, NULL, OPT_REPORT },
        { "report-tiles", required_argument, NULL, OPT_REPORT_TILES },
        { "precision", required_argument, NULL, OPT_PRECISION }, { "tta", no_argument, NULL, OPT_TTA },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "b:ho:", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_FOLDS_FILE: o.folds_file = optarg; break;
        case OPT_FOLD:
            if (!*optarg) {
                fprintf(stderr, PROG ": --fold needs a fold label (0..K-1 or test)\n");
                return EXIT_USAGE;
            }
            o.fold = optarg;
            break;
        case 'b':
            if (cli_int_option(PROG, "--batch", optarg, 1, 4096, &o.batch) != 0)
                return EXIT_USAGE;
            break;
        case OPT_THREADS:
            if (cli_int_option(PROG, "--threads", optarg, 1, 1024, &o.threads) != 0)
                return EXIT_USAGE;
            break;
        case OPT_PRECISION:
            if (unet_precision_parse(optarg, &o.precision) != UNET_OK ||
                unet_precision_check(o.precision) != UNET_OK) {
                fprintf(stderr, PROG ": --precision %s: %s\n", optarg, unet_last_error());
                return EXIT_USAGE;
            }
            break;
        case OPT_JSON: o.json = 1; break;
        case OPT_JSON_FILE: o.json_file = optarg; break;
        case OPT_CSV: o.csv = optarg; break;
        case OPT_HEATMAP: o.heatmap = optarg; break;
        case OPT_ERRORS: o.errors = optarg; break;
        case OPT_REPORT: o.report = optarg; break;
        case OPT_REPORT_TILES:
            if (cli_int_option(PROG, "--report-tiles", optarg, 0, 500, &o.report_tiles) != 0)
                return EXIT_USAGE;
            report_tiles_set = 1;
            break;
        case OPT_IGNORE:
            if (cli_int_option(PROG, "--ignore-label", optarg, 0, 255, &o.ignore_label) != 0)
                return EXIT_USAGE;
            break;
        case OPT_SCENE: o.scene = 1; break;
        case OPT_PAIRS:
            o.pairs = optarg;
            o.scene = 1;
            break;
        case OPT_TILE:
            if (cli_int_option(PROG, "--tile", optarg, 1, 16384, &o.tile) != 0)
                return EXIT_USAGE;
            scene_only = "--tile";
            break;
        case OPT_OVERLAP:
            if (cli_int_option(PROG, "--overlap", optarg, 0, 16383, &o.overlap) != 0)
                return EXIT_USAGE;
            scene_only = "--overlap";
            break;
        case OPT_TTA: o.tta = 1; scene_only = "--tta"; break;
        case OPT_PALETTE: o.palette = optarg; scene_only = "--palette"; break;
        case OPT_IGNORE_COLORS: o.ignore_colors = optarg; scene_only = "--ignore-colors"; break;
        case OPT_UNKNOWN_COLORS:
            if (strcmp(optarg, "error") && strcmp(optarg, "ignore")) {
                fprintf(stderr, PROG ": --unknown-colors wants error or ignore, got '%s'\n", optarg);
                return EXIT_USAGE;
            }
            o.unknown_ignore = !strcmp(optarg, "ignore");
            scene_only = "--unknown-colors";
            break;
        case 'o': o.out = optarg; scene_only = "--out"; break;
        case OPT_FORCE: o.force = 1; scene_only = "--force"; break;
        case OPT_QUIET: o.quiet = 1; break;
        case OPT_VERSION: printf(PROG " %s\n", UNET_VERSION_STRING); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (report_tiles_set && !o.report) {
        fprintf(stderr, PROG ": --report-tiles sizes the gallery of --report FILE.html: give --report too\n");
        return EXIT_USAGE;
    }
    if (o.scene) {
        if (o.fold || o.folds_file) {
            fprintf(stderr, PROG ": --fold and --folds-file choose tiles of a tiles folder; scene mode takes "
                            "scene folders or --pairs\n");
            return EXIT_USAGE;
        }
        if (argc - optind < 1 + (o.pairs ? 0 : 1)) {
            fprintf(stderr, PROG ": expected MODEL and at least one SCENE (or --pairs FILE)\n");
            usage(stderr);
            return EXIT_USAGE;
        }
        if (o.tile && o.overlap >= o.tile) {
            fprintf(stderr, PROG ": --overlap %d must be smaller than --tile %d\n", o.overlap, o.tile);
            return EXIT_USAGE;
        }
        o.model = argv[optind];
        o.scenes = argv + optind + 1;
        o.n_scenes = argc - optind - 1;
        cli_catch_stop_signals(&eval_interrupted, 0);
        return eval_scene_mode_run(&o);
    }
    if (scene_only) {
        fprintf(stderr, PROG ": %s is for whole scenes: add --scene\n", scene_only);
        return EXIT_USAGE;
    }
    if (argc - optind != 2) {
        fprintf(stderr, PROG ": %s\n", argc - optind < 2 ? "expected MODEL and TILES" : "too many arguments");
        usage(stderr);
        return EXIT_USAGE;
    }
    o.model = argv[optind];
    o.tiles = argv[optind + 1];
    if (o.folds_file && !o.fold) {
        fprintf(stderr, PROG ": --folds-file needs --fold K (which fold to evaluate)\n");
        return EXIT_USAGE;
    }
    char *default_folds = cli_path_join(o.tiles, "folds.tsv");
    if (o.fold && !o.folds_file)
        o.folds_file = default_folds;

    int status = EXIT_USAGE;
    tile_list all = { 0 }, chosen = { 0 };
    char *images = cli_path_join(o.tiles, "images");
    struct stat st;
    if (stat(images, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, PROG ": %s is not a tiles folder: %s is missing (expected images/ and masks/, as unet-tile writes)\n",
                o.tiles, images);
        goto out;
    }
    if (eval_list_images(images, &all) != 0)
        goto out;
    tile_list *tiles = &all;
    if (o.fold) {
        if (eval_select_fold(&o, &all, &chosen) != 0)
            goto out;
        tiles = &chosen;
    }
    if (tiles->n == 0) {
        fprintf(stderr, PROG ": no PNG or JPEG images in %s\n", images);
        goto out;
    }
    if (o.errors && cli_mkdir_p(o.errors) != 0) {
        fprintf(stderr, PROG ": cannot create %s: %s\n", o.errors, strerror(errno));
        goto out;
    }
    cli_catch_stop_signals(&eval_interrupted, 0);
    status = eval_tile_mode_run(&o, tiles);
out:
    eval_tiles_free(&all);
    eval_tiles_free(&chosen);
    free(images);
    free(default_folds);
    return status;
}

