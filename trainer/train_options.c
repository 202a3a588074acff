/* unet-train's options; see train_options.h. */
#include "train_options.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <unet/palette.h>
#include <unet/unet.h>

#include "cli_message.h"
#include "cli_number.h"
#include "crops.h"
#include "loss.h"
#include "optimizer.h"
#include "schedule.h"

#define PROG "unet-train"

static const char *g_prog = PROG; /* the name errors print, set by train_options_parse */

static void err(const char *fmt, ...) UNET_PRINTF(1, 2);
static void err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vmessage(g_prog, "error", fmt, ap);
    va_end(ap);
}

/* The CPU and the ISA oneDNN dispatches to (the environment variable
 * ONEDNN_MAX_CPU_ISA, e.g. =AVX2, lowers it). */
static void print_machine(FILE *f)
{
    char cpu[256];
    fprintf(f, "CPU: %s\noneDNN ISA: %s\n", unet_cpu_model(cpu, sizeof cpu), unet_cpu_isa());
}

static void usage(FILE *f)
{
    fprintf(f,
"Usage: unet-train TILES -o MODEL.onnx [options]\n"
"       unet-train --data TILES --out MODEL.onnx [options]\n"
"\n"
"Trains a U-Net on a tiles folder written by unet-tile (TILES/images/NAME.png,\n"
"TILES/masks/NAME.png with class ids, TILES/folds.tsv, TILES/classes.tsv) and\n"
"exports it as an ONNX model whose metadata carries the class names and colours\n"
"(classes.tsv, else the default palette), the input scaling (x/255) and a\n"
"training summary.\n"
"\n"
"Outputs (STEM = MODEL without .onnx):\n"
"  MODEL.onnx            the weights of the epoch with the best validation mIoU\n"
"                        (the last weights when there is no validation)\n"
"  STEM.last.onnx        the weights at the end of the run\n"
"  STEM.log.csv          one row per epoch; STEM.log.jsonl the same as JSON lines\n"
"  STEM.curves.png       loss, accuracy and validation mIoU per epoch\n"
"  STEM.ckpt/last.ckpt   checkpoint, written every epoch and on SIGINT/SIGTERM/\n"
"                        SIGUSR1 (mpirun forwards SIGUSR1 to every process)\n"
"\n"
"Network:\n"
"  --depth N             pooling steps, 1..6 (default 4)\n"
"  --filters N           filters at the first level, doubling per level (default 16)\n"
"  --batchnorm           batch normalisation after every 3x3 convolution\n"
"  --dropout R           dropout rate before the bottleneck, 0..0.9 (default 0)\n"
"  --init FILE           start from the weights of a model exported by unet-train\n"
"                        or of a checkpoint (its best weights when it has them);\n"
"                        the architecture comes from FILE, a different class count\n"
"                        gets a new, freshly initialised head\n"
"Optimisation:\n"
"  --epochs N            epochs (default 30)\n"
"  --batch N             tiles per step (default 8); an epoch has ceil(tiles/N)\n"
"                        steps, the last batch topped up from the epoch's start\n"
"  --optimizer adam|sgd  Adam with bias correction (default) or SGD with momentum\n"
"  --lr X                learning rate (default 1e-3 for Adam, 1e-2 for SGD)\n"
"  --momentum X          SGD momentum (default 0.9)\n"
"  --weight-decay X      decay of convolution weights (not biases or BN): decoupled\n"
"                        for Adam (AdamW: w -= lr*X*w), L2 added to the gradient for\n"
"                        SGD (default 0)\n"
"  --schedule cosine|step|constant\n"
"                        learning rate per step (default cosine: from lr to 0 over\n"
"                        the planned steps, min(epochs x steps, --max-steps));\n"
"                        step: times --gamma (default 0.1) every --step-size\n"
"                        epochs (default 10)\n"
"  --class-weights none|auto|sqrt|W0,W1,...\n"
"                        loss weight per class (default none); auto = inverse\n"
"                        pixel frequency over the training tiles, sqrt = its\n"
"                        square root (milder on rare classes), either scaled to\n"
"                        mean 1 over the classes present, then clipped to [0.1, 10]\n"
"  --loss ce|dice|lovasz|ce+dice|ce+lovasz\n"
"                        training loss (default ce, softmax cross-entropy).\n"
"                        dice: 1 - mean soft Dice 2 sum(p y) / sum(p + y);\n"
"                        lovasz: Lovasz-softmax (Berman et al. 2018), a convex\n"
"                        surrogate of 1 - IoU per class. Both are computed over\n"
"                        the whole batch and averaged over the classes present\n"
"                        in its labels (class weights weight that average);\n"
"                        ignore-label pixels are left out. ce+dice, ce+lovasz:\n"
"                        cross-entropy plus the second times --loss-weight. The\n"
"                        validation loss stays the cross-entropy. Only ce runs\n"
"                        data-parallel (under mpirun)\n"
"  --loss-weight W       weight of Dice/Lovasz in ce+dice and ce+lovasz, 0..100\n"
"                        (default 1)\n"
"  --ignore-label N      mask value left out of loss and metrics (default 255)\n"
"  --no-augment          no augmentation (default: random flips and quarter turns\n"
"                        of tile and mask, brightness +-0.1, contrast x0.85..1.15,\n"
"                        saturation x0.8..1.2 and per-channel gain x0.94..1.06;\n"
"                        drawn from the seed, epoch and sample)\n"
"  --crops-per-epoch N   an epoch is N random crops, ceil(N / --batch) steps,\n"
"                        instead of one pass over the tiles (default: off). The\n"
"                        training tiles of each source image are laid out again\n"
"                        by unet-tile's names (SCENE__IMAGE__yY_xX, the window's\n"
"                        origin); a crop is a window at any position, s x the\n"
"                        tile size with s uniform in 0.75..1.25, resampled to the\n"
"                        tile size (bilinear for the picture, nearest for the\n"
"                        mask); pixels no training tile covers are black and\n"
"                        ignored, a tile without that suffix is an image of its\n"
"                        own. Drawn from the seed, epoch and sample, then\n"
"                        augmented as tiles are (see --no-augment); validation\n"
"                        uses whole tiles. With --cv, --grid or --budget each\n"
"                        run's crops come from its own training folds (and the\n"
"                        retrain's from all of them); N is part of every run's\n"
"                        name, so such runs are not those of a search without it\n"
"Validation (whole scenes or folds, never single tiles):\n"
"  --val-fold K          tiles whose fold is K are validation (folds file)\n"
"  --folds-file PATH     NAME<TAB>SCENE<TAB>FOLD (default TILES/folds.tsv)\n"
"  --val F               random fraction F of the scenes (scenes from the folds\n"
"                        file, else from tile names SCENE__...)\n"
"  --val-dir DIR         another tiles folder for validation\n"
"                        Without these there is no validation. Tiles of the fold\n"
"                        \"test\" are never trained on.\n"
"  --early-stop N        stop after N epochs without a better validation mIoU\n"
"Run:\n"
"  --seed N              seed of weights, data order, augmentation, dropout\n"
"                        (default 0); same seed and --threads = same weights\n"
"  --threads N           oneDNN/OpenMP threads (default: all cores; under mpirun\n"
"                        the cores over the processes on the machine)\n"
"  --checkpoint DIR      checkpoint folder (default STEM.ckpt)\n"
"  --resume              continue from DIR/last.ckpt (fresh start when absent)\n"
"  --force               start over although DIR/last.ckpt exists\n"
"  --max-steps N         stop after N optimiser steps in all (tests, budgets)\n"
"  --time-budget S       stop after S seconds of this session\n"
"  --json                print a JSON summary on stdout\n"
"  --json-file PATH      write the JSON summary to PATH\n"
"  --report FILE.html    at the end, one self-contained HTML report (no network,\n"
"                        no JavaScript): the run, the model (SHA-256, input,\n"
"                        parameters, opset, classes), loss and mIoU curves per\n"
"                        epoch as inline SVG, the best epoch's validation\n"
"                        metrics, the epochs and the configuration; with\n"
"                        --cv/--grid/--budget the ranked configurations with\n"
"                        their per-fold figures\n"
"  --quiet               only errors and warnings on stderr\n"
"  --version             print the version, the CPU and the ISA oneDNN runs\n"
"  -h, --help            this text\n"
"Cross-validation and search (fold ids 0..K-1 of the folds file; fold \"test\"\n"
"is never trained or validated on):\n"
"  --cv K                K-fold cross-validation: each fold validates the runs\n"
"                        trained on the others; per-fold and mean +- standard\n"
"                        deviation of validation mIoU and macro F1 (K defaults\n"
"                        to the folds of the folds file with --grid/--budget)\n"
"  --grid SPEC           every combination on every fold, e.g.\n"
"                        \"lr=1e-3,3e-4 filters=8,16,32 depth=3,4,5\"; keys lr,\n"
"                        filters, depth, batchnorm (0,1), dropout, weight_decay,\n"
"                        class_weights (none,auto,sqrt or W0:W1:...), loss (the\n"
"                        --loss names, e.g. loss=ce,ce+lovasz); other keys keep\n"
"                        the flags' values. A run scores its best epoch's\n"
"                        validation mIoU; configurations rank by the mean over\n"
"                        folds. The best is retrained on every non-test tile for\n"
"                        the mean best epoch (rounded; same LR schedule, planned\n"
"                        for --epochs), evaluated once on fold \"test\" when\n"
"                        present, and exported to MODEL\n"
"  --budget SECONDS      successive halving within about SECONDS: with n\n"
"                        configurations, R = 1 + ceil(log2 n) rungs; rung r keeps\n"
"                        the best ceil(n/2^r) by mean validation mIoU. The budget\n"
"                        is cut into R+1 equal shares S (one per rung, one for\n"
"                        the retrain); in rung r each of its m configurations x K\n"
"                        folds runs trains S/(m K) seconds more, continuing its\n"
"                        checkpoint from rung r-1. Runs also end at --epochs,\n"
"                        --max-steps or --early-stop; time is checked between\n"
"                        steps and each stop validates the partial epoch (a\n"
"                        partial best epoch counts as its fraction). The\n"
"                        retrain stops after S seconds at the latest; the\n"
"                        table lists later rungs first\n"
"                        Search outputs: STEM.grid.csv (ranked table),\n"
"                        STEM.search/RUN/{result.json,log.csv,curves.png} per run,\n"
"                        STEM.search/summary.json (--json prints it). The same\n"
"                        command again skips finished runs and resumes the\n"
"                        unfinished one from its checkpoint; --force retrains all\n"
"                        Under mpirun -np N (built with MPI) each run trains in\n"
"                        one process: run i of a round (a rung; the whole grid\n"
"                        without --budget) on rank i mod N, --threads defaulting\n"
"                        to the cores over the ranks on the machine; results are\n"
"                        exchanged through MPI after each round, so every rank\n"
"                        ranks and halves alike, and a failure or stop on one\n"
"                        rank ends all. Rank 0 prints and writes the table, the\n"
"                        summary and MODEL; the retrain is data-parallel over the\n"
"                        N ranks when N divides --batch, else on rank 0 alone.\n"
"                        Each rank writes the folders of its runs: --budget (a\n"
"                        run may continue on another rank) and resuming the\n"
"                        retrain need STEM.search on a filesystem all ranks share\n"
"  --keep-run-models     every validated run that ends in this process also\n"
"                        writes its best epoch's weights as\n"
"                        STEM.search/RUN/model.onnx (4 bytes per parameter), so\n"
"                        its validation fold's scenes can be scored again with\n"
"                        other inference settings (window overlap, flips: see\n"
"                        tools/search/fold-inference.sh); runs skipped or\n"
"                        carried over write none. Not part of the runs' names\n"
"\n"
"Data-parallel (built with MPI): mpirun -np N unet-train ... splits each --batch\n"
"over N processes (N must divide it) and averages gradients with MPI_Allreduce;\n"
"batch norm uses the whole batch's statistics; the tiles, augmentation and\n"
"dropout of a step are those of one process. Rank 0 writes every file; all\n"
"ranks --resume from the same checkpoint (a shared folder across machines).\n"
"With --cv, --grid or --budget the ranks share out whole runs instead (above).\n"
"\n"
"Each epoch prints train loss, validation loss, pixel accuracy, per-class\n"
"precision, recall, F1 and IoU, mIoU and macro F1 (means over the classes present\n"
"in the validation ground truth; definitions as in unet/metrics.h).\n"
"Exit status: 0 done; 1 training failed (unreadable tile, diverged, disk full);\n"
"2 bad usage or unusable input; 3 interrupted (checkpoint saved; --resume).\n"
"oneDNN runs the best ISA of the CPU; ONEDNN_MAX_CPU_ISA=AVX2 (say) caps it.\n\n");
    print_machine(f);
}

enum {
    OPT_DATA = 256, OPT_DEPTH, OPT_FILTERS, OPT_BATCHNORM, OPT_DROPOUT, OPT_EPOCHS, OPT_BATCH,
    OPT_LR, OPT_OPTIMIZER, OPT_MOMENTUM, OPT_WEIGHT_DECAY, OPT_SCHEDULE, OPT_STEP_SIZE, OPT_GAMMA,
    OPT_CLASS_WEIGHTS, OPT_IGNORE_LABEL, OPT_VAL_FOLD, OPT_FOLDS_FILE, OPT_VAL, OPT_VAL_DIR,
    OPT_NO_AUGMENT, OPT_SEED, OPT_THREADS, OPT_CHECKPOINT, OPT_RESUME, OPT_FORCE, OPT_INIT,
    OPT_EARLY_STOP, OPT_JSON, OPT_JSON_FILE, OPT_QUIET, OPT_VERSION, OPT_MAX_STEPS,
    OPT_TIME_BUDGET, OPT_CV, OPT_GRID, OPT_BUDGET, OPT_REPORT, OPT_LOSS, OPT_LOSS_WEIGHT,
    OPT_CROPS_PER_EPOCH, OPT_KEEP_RUN_MODELS
};

/* The shared parsers (cli_number.h) with unet-train's messages. */
static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    if (cli_parse_long(s, lo, hi, out) == 0)
        return 0;
    err("%s wants an integer in %ld..%ld, got '%s'", opt, lo, hi, s);
    return -1;
}

static int parse_u64(const char *opt, const char *s, uint64_t *out)
{
    if (cli_parse_u64(s, out) == 0)
        return 0;
    err("%s wants a non-negative integer, got '%s'", opt, s);
    return -1;
}

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    if (cli_parse_double(s, lo, hi, out) == 0)
        return 0;
    err("%s wants a number in [%g, %g], got '%s'", opt, lo, hi, s);
    return -1;
}

/* 0 ok, 1 exit 0 (help/version), -1 usage error. */
int train_options_parse(int argc, char **argv, const char *prog, options *o)
{
    g_prog = prog;
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"data", required_argument, NULL, OPT_DATA},
        {"depth", required_argument, NULL, OPT_DEPTH},
        {"filters", required_argument, NULL, OPT_FILTERS},
        {"batchnorm", no_argument, NULL, OPT_BATCHNORM},
        {"dropout", required_argument, NULL, OPT_DROPOUT},
        {"epochs", required_argument, NULL, OPT_EPOCHS},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"lr", required_argument, NULL, OPT_LR},
        {"optimizer", required_argument, NULL, OPT_OPTIMIZER},
        {"momentum", required_argument, NULL, OPT_MOMENTUM},
        {"weight-decay", required_argument, NULL, OPT_WEIGHT_DECAY},
        {"schedule", required_argument, NULL, OPT_SCHEDULE},
        {"step-size", required_argument, NULL, OPT_STEP_SIZE},
        {"gamma", required_argument, NULL, OPT_GAMMA},
        {"class-weights", required_argument, NULL, OPT_CLASS_WEIGHTS},
        {"loss", required_argument, NULL, OPT_LOSS},
        {"loss-weight", required_argument, NULL, OPT_LOSS_WEIGHT},
        {"ignore-label", required_argument, NULL, OPT_IGNORE_LABEL},
        {"val-fold", required_argument, NULL, OPT_VAL_FOLD},
        {"folds-file", required_argument, NULL, OPT_FOLDS_FILE},
        {"val", required_argument, NULL, OPT_VAL},
        {"val-dir", required_argument, NULL, OPT_VAL_DIR},
        {"no-augment", no_argument, NULL, OPT_NO_AUGMENT},
        {"crops-per-epoch", required_argument, NULL, OPT_CROPS_PER_EPOCH},
        {"seed", required_argument, NULL, OPT_SEED},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
        {"resume", no_argument, NULL, OPT_RESUME},
        {"force", no_argument, NULL, OPT_FORCE},
        {"init", required_argument, NULL, OPT_INIT},
        {"early-stop", required_argument, NULL, OPT_EARLY_STOP},
        {"json", no_argument, NULL, OPT_JSON},
        {"json-file", required_argument, NULL, OPT_JSON_FILE},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {"max-steps", required_argument, NULL, OPT_MAX_STEPS},
        {"time-budget", required_argument, NULL, OPT_TIME_BUDGET},
        {"cv", required_argument, NULL, OPT_CV},
        {"grid", required_argument, NULL, OPT_GRID},
        {"budget", required_argument, NULL, OPT_BUDGET},
        {"report", required_argument, NULL, OPT_REPORT},
        {"keep-run-models", no_argument, NULL, OPT_KEEP_RUN_MODELS},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->depth = 4;
    o->filters = 16;
    o->epochs = 30;
    o->batch = 8;
    o->optimizer = OPTIM_ADAM;
    o->momentum = 0.9;
    o->schedule = SCHEDULE_COSINE;
    o->step_size = 10;
    o->gamma = 0.1;
    o->class_weights = "none";
    o->ignore_label = UNET_IGNORE_LABEL;
    o->loss = LOSS_CE;
    o->loss_weight = LOSS_WEIGHT_DEFAULT;
    o->augment = 1;
    long v;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o->out = optarg; break;
        case OPT_DATA: o->tiles = optarg; break;
        case OPT_DEPTH:
            if (parse_long("--depth", optarg, 1, 6, &v)) return -1;
            o->depth = (int)v;
            o->depth_set = 1;
            break;
        case OPT_FILTERS:
            if (parse_long("--filters", optarg, 1, 512, &v)) return -1;
            o->filters = (int)v;
            o->filters_set = 1;
            break;
        case OPT_BATCHNORM: o->batchnorm = o->batchnorm_set = 1; break;
        case OPT_DROPOUT:
            if (parse_double("--dropout", optarg, 0, 0.9, &o->dropout)) return -1;
            break;
        case OPT_EPOCHS:
            if (parse_long("--epochs", optarg, 1, 1000000, &o->epochs)) return -1;
            break;
        case OPT_BATCH:
            if (parse_long("--batch", optarg, 1, 4096, &o->batch)) return -1;
            break;
        case OPT_LR:
            if (parse_double("--lr", optarg, 1e-12, 10, &o->lr)) return -1;
            o->lr_set = 1;
            break;
        case OPT_OPTIMIZER:
            if (strcmp(optarg, "adam") == 0)
                o->optimizer = OPTIM_ADAM;
            else if (strcmp(optarg, "sgd") == 0)
                o->optimizer = OPTIM_SGD;
            else {
                err("--optimizer wants adam or sgd, got '%s'", optarg);
                return -1;
            }
            break;
        case OPT_MOMENTUM:
            if (parse_double("--momentum", optarg, 0, 0.999, &o->momentum)) return -1;
            break;
        case OPT_WEIGHT_DECAY:
            if (parse_double("--weight-decay", optarg, 0, 0.5, &o->weight_decay)) return -1;
            break;
        case OPT_SCHEDULE:
            o->schedule = schedule_kind_from_name(optarg);
            if (o->schedule < 0) {
                err("--schedule wants cosine, step or constant, got '%s'", optarg);
                return -1;
            }
            break;
        case OPT_STEP_SIZE:
            if (parse_long("--step-size", optarg, 1, 1000000, &o->step_size)) return -1;
            break;
        case OPT_GAMMA:
            if (parse_double("--gamma", optarg, 1e-6, 1, &o->gamma)) return -1;
            break;
        case OPT_CLASS_WEIGHTS: o->class_weights = optarg; break;
        case OPT_LOSS:
            o->loss = loss_kind_from_name(optarg);
            if (o->loss < 0) {
                err("--loss wants ce, dice, lovasz, ce+dice or ce+lovasz, got '%s'", optarg);
                return -1;
            }
            break;
        case OPT_LOSS_WEIGHT:
            if (parse_double("--loss-weight", optarg, 0, LOSS_WEIGHT_MAX, &o->loss_weight))
                return -1;
            o->loss_weight_set = 1;
            break;
        case OPT_IGNORE_LABEL:
            if (parse_long("--ignore-label", optarg, 0, 255, &v)) return -1;
            o->ignore_label = (int)v;
            break;
        case OPT_VAL_FOLD: o->val_fold = optarg; break;
        case OPT_FOLDS_FILE: o->folds_file = optarg; break;
        case OPT_VAL:
            if (parse_double("--val", optarg, 1e-6, 0.999999, &o->val_fraction)) return -1;
            break;
        case OPT_VAL_DIR: o->val_dir = optarg; break;
        case OPT_NO_AUGMENT: o->augment = 0; break;
        case OPT_CROPS_PER_EPOCH:
            if (parse_long("--crops-per-epoch", optarg, 1, CROPS_PER_EPOCH_MAX,
                           &o->crops_per_epoch))
                return -1;
            break;
        case OPT_SEED:
            if (parse_u64("--seed", optarg, &o->seed)) return -1;
            break;
        case OPT_THREADS:
            if (parse_long("--threads", optarg, 1, 1024, &v)) return -1;
            o->threads = (int)v;
            break;
        case OPT_CHECKPOINT: o->checkpoint_dir = optarg; break;
        case OPT_RESUME: o->resume = 1; break;
        case OPT_FORCE: o->force = 1; break;
        case OPT_INIT: o->init = optarg; break;
        case OPT_EARLY_STOP:
            if (parse_long("--early-stop", optarg, 1, 1000000, &o->early_stop)) return -1;
            break;
        case OPT_JSON: o->json = 1; break;
        case OPT_JSON_FILE: o->json_file = optarg; break;
        case OPT_QUIET: o->quiet = 1; break;
        case OPT_VERSION:
            printf(PROG " " UNET_VERSION_STRING "\n");
            print_machine(stdout);
            return 1;
        case 'h': usage(stdout); return 1;
        case OPT_MAX_STEPS:
            if (parse_u64("--max-steps", optarg, &o->max_steps)) return -1;
            break;
        case OPT_TIME_BUDGET:
            if (parse_double("--time-budget", optarg, 1e-3, 1e9, &o->time_budget)) return -1;
            break;
        case OPT_CV:
            if (parse_long("--cv", optarg, 2, 64, &o->cv)) return -1;
            break;
        case OPT_GRID: o->grid = optarg; break;
        case OPT_REPORT: o->report = optarg; break;
        case OPT_KEEP_RUN_MODELS: o->keep_run_models = 1; break;
        case OPT_BUDGET:
            if (parse_double("--budget", optarg, 1e-3, 1e9, &o->budget)) return -1;
            break;
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        if (o->tiles || optind + 1 < argc) {
            err("one tiles folder please (got %s%s%s)", o->tiles ? o->tiles : "",
                o->tiles ? " and " : "", argv[optind]);
            return -1;
        }
        o->tiles = argv[optind];
    }
    if (!o->tiles) {
        err("no tiles folder: unet-train TILES -o MODEL.onnx (see --help)");
        return -1;
    }
    if (!o->out) {
        err("no output: give -o MODEL.onnx");
        return -1;
    }
    const int n_val = (o->val_fold != NULL) + (o->val_fraction > 0) + (o->val_dir != NULL);
    if (n_val > 1) {
        err("--val-fold, --val and --val-dir exclude each other");
        return -1;
    }
    const int search = o->cv || o->grid || o->budget > 0;
    if (search && n_val) {
        err("--cv, --grid and --budget validate on the folds themselves: leave out --val-fold, "
            "--val and --val-dir");
        return -1;
    }
    if (o->keep_run_models && !search) {
        err("--keep-run-models keeps the models of a search's runs: give --cv, --grid or "
            "--budget");
        return -1;
    }
    if (o->early_stop && n_val == 0 && !search) {
        err("--early-stop needs validation (--val-fold, --val or --val-dir)");
        return -1;
    }
    if (o->loss_weight_set && o->loss != LOSS_CE_DICE && o->loss != LOSS_CE_LOVASZ &&
        !o->grid) {
        err("--loss-weight weighs the second term of --loss ce+dice or ce+lovasz (--loss is %s)",
            loss_kind_name(o->loss));
        return -1;
    }
    if (!o->lr_set)
        o->lr = o->optimizer == OPTIM_ADAM ? 1e-3 : 1e-2;
    return 0;
}

