/* unet-infer: segment folders of tiles, or whole scenes of any size with a
 * sliding window (--scene, scene_infer.c), with any ONNX model libunet can
 * run. One palette PNG per image (pixel = class id, palette = class colours),
 * written atomically and tagged with the model's SHA-256 so that a killed run
 * resumes. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <unet/image.h>
#include <unet/meta.h>
#include <unet/unet.h>

#include "cli_files.h"
#include "geo_options.h"
#ifdef UNET_HAVE_GDAL
#include "geo_mask_writer.h"
#endif
#include "cli_number.h"
#include "cli_signals.h"
#include "infer_inputs.h"
#include "infer_mpi.h"
#include "infer_report.h"
#include "infer_tiles.h"
#include "model_check.h"
#include "scene_infer.h"
#include "sha256.h"

#define EXIT_SOME_FAILED 1
#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 3

typedef struct options {
    const char *model;
    const char *out;
    int batch;
    int threads;
    unet_precision precision;
    int direct_conv;            /* --direct-conv */
    int force, quiet, json, probs, overlay, check, profile, tta;
    const char *json_file;
    int layout_override;        /* -1 none, 0 NCHW, 1 NHWC */
    float scale;                /* <0: from metadata */
    float mean[4], std[4];
    int has_mean, has_std;
    int scene;                  /* whole-scene mode */
    int tile, overlap;          /* 0 / -1: not given */
    /* GIS rasters through GDAL (scene mode): */
    geo_read_options geo;       /* --bands, --stretch */
    int cog;
    const char *vector;         /* "gpkg", "geojson" or a file path; NULL: none */
    double min_area, simplify;
    const char *geo_option;     /* the first GDAL option given, for messages */
} options;

static volatile sig_atomic_t interrupted; /* SIGINT, SIGTERM, SIGUSR1 (cli_signals.h) */
/* mpirun -np N: this rank's share of the inputs (infer_mpi.h); NULL alone. */
static infer_mpi *g_mpi;

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
"usage: unet-infer [options] MODEL INPUT...\n"
"       unet-infer [options] MODEL SCENE... --scene [--tile N] [--overlap N]\n"
"       unet-infer --check MODEL\n"
"Segments images with an ONNX model: every PNG or JPEG in each INPUT folder (a\n"
"tiles folder with images/ is read from images/ only), or INPUT files. Writes\n"
"OUT/NAME.png (NAME = the image's file name without extension), an 8-bit\n"
"palette PNG whose pixel value is the class id and whose palette shows the\n"
"class colours (from the model's metadata, else the default). Without --scene\n"
"each image is one model input (tiles; images of one size are batched).\n\n"
"Scene mode (--scene): images of any size are cut into TILE x TILE windows,\n"
"TILE - OVERLAP apart, the last window of a row or column moved back to end at\n"
"the image edge; an image smaller than a tile is padded by mirroring (the edge\n"
"pixel repeated) and the padding is cropped from the results. Windows of one\n"
"image run in batches of --batch. Where windows overlap, the model's outputs\n"
"(class probabilities for models from unet-train) are averaged with weights\n"
"that favour window centres (a separable Gaussian, sigma = TILE/8, never zero),\n"
"and the mask is the most likely class of the average. Images are read and\n"
"the mask, overlay and probabilities written row by row, so memory grows with\n"
"the width, not the height: TILE rows x width x classes floats (61 MB for a\n"
"10000-pixel-wide scene, tile 256, 6 classes) plus a band of image rows a\n"
"little over a tile high. Interlaced PNGs and progressive JPEGs are decoded\n"
"whole (3 bytes per pixel, or more). A SCENE is an image file, a folder of\n"
"images, a scene folder holding images/ (the data set's 'Tile N'), or a folder\n"
"of scene folders. When images in different scene folders share a NAME, their\n"
"outputs are named SCENE__NAME.png after the scene folder (e.g.\n"
"'Tile 1__image_part_001.png').\n\n"
"Options:\n"
"  -o, --out DIR        output folder (default: masks/ in the current folder)\n"
"  -b, --batch N        tiles (scene mode: windows) per run (default 8)\n"
"      --scene          whole-scene mode (see above)\n"
"      --tile N         scene mode: window size (default: the model's fixed input\n"
"                       size, else 256)\n"
"      --overlap N      scene mode: overlap between windows, 0..TILE-1 (default\n"
"                       TILE/4)\n"
"      --threads N      threads (default: all cores)\n"
"      --precision P    fp32 (default) or bf16: convolutions in bf16 with fp32\n"
"                       accumulation, the head (softmax, argmax) in fp32; needs\n"
"                       AVX-512 BF16 (refused with the reason elsewhere; unet-infer\n"
"                       --check names this CPU's ISA). int8 comes from the\n"
"                       model: a QDQ file's convolutions run in int8 where the\n"
"                       CPU has VNNI, or anywhere for 7-bit activations (made\n"
"                       by unet-quantize); --precision int8 is refused, saying so\n"
"      --direct-conv    fp32: direct 3x3 convolutions only. By default those with\n"
"                       many channels (in x out >= 2048) use oneDNN's Winograd\n"
"                       kernels where the CPU has them (AVX-512), about twice as\n"
"                       fast for those layers, rounding as little as the direct\n"
"                       kernel; this gives the trainer's own arithmetic\n"
"      --force          overwrite masks written by another model\n"
"      --probs          also write NAME.probs.npy: class probabilities, float16,\n"
"                       shape (classes, height, width) (scene mode: blended)\n"
"      --overlay        also write NAME.overlay.png: the mask blended over the image\n"
"      --tta            test-time augmentation: average over horizontal and\n"
"                       vertical flips (3 runs per batch)\n"
"      --layout L       NCHW or NHWC input layout (default: model metadata, NCHW)\n"
"      --scale X        pixel scale (default: metadata, else 1/255)\n"
"      --mean A,B,C     subtracted after scaling (default: metadata, else 0)\n"
"      --std A,B,C      divided after that (default: metadata, else 1)\n"
"      --check          print the model's inputs, outputs, opsets, operators,\n"
"                       parameters, metadata, this machine's CPU and the ISA\n"
"                       oneDNN dispatches to, and any node the runtime cannot run\n"
"      --profile        print time per node and oneDNN implementation at the end\n"
"      --json           print a JSON summary on stdout (\"tiles\" counts input\n"
"                       images; scene mode adds \"windows\"; \"machine\" names the\n"
"                       CPU and oneDNN's ISA the timing was measured with)\n"
"      --json-file F    write the JSON summary to F\n"
"      --quiet          no progress or summary (errors still shown); the progress\n"
"                       line shows tiles, or in scene mode windows, and an ETA\n"
"      --version        print the version, the CPU and oneDNN's ISA\n"
"  -h, --help           this text\n\n"
"GIS rasters (needs a build with GDAL; scene mode): an input that is not PNG or\n"
"JPEG is read through GDAL (GeoTIFF, JPEG2000, VRT, ...) strip by strip, so\n"
"memory stays bounded for any size. The mask is OUT/NAME.mask.tif: 8-bit, the\n"
"class colour table, the input's CRS and geotransform, nodata 255, tiled\n"
"512x512, DEFLATE. Nodata pixels (the bands' nodata value, a mask or alpha\n"
"band; with per-band nodata, where every chosen band is nodata) come out 255,\n"
"and batches of windows holding only nodata are not run.\n"
"      --bands LIST     bands in the order the model takes them, e.g. 3,2,1\n"
"                       (default 1,2,3, or 1 for rasters with fewer bands)\n"
"      --stretch S      how values become 0..255, per band (default: none for\n"
"                       8-bit rasters, p2-98 otherwise):\n"
"                         none    v8 = clamp(round(v), 0, 255)\n"
"                         minmax  v8 = clamp(round(255 (v - lo) / (hi - lo)))\n"
"                                 with lo, hi the band's min and max\n"
"                         p2-98   the same with lo, hi the band's 2nd and\n"
"                                 98th percentiles (sorted values s[0..N):\n"
"                                 s[floor(p N / 100)])\n"
"                       over the valid pixels of the whole raster (one pass\n"
"                       before inference); round = floor(x + 0.5), NaN = 0\n"
"      --cog            write the mask as a Cloud-Optimised GeoTIFF with\n"
"                       overviews (majority class)\n"
"      --vector V       also polygons of the mask: V = gpkg or geojson writes\n"
"                       OUT/NAME.gpkg (.geojson) per scene, a path ending in\n"
"                       .gpkg, .geojson or .json names the file (one scene).\n"
"                       One polygon per 4-connected region of a class, with\n"
"                       class_id, class_name and area (map units squared)\n"
"      --min-area A     drop polygons with an area below A (map units squared)\n"
"      --simplify TOL   simplify polygons with tolerance TOL (map units),\n"
"                       keeping each valid (OGR_G_SimplifyPreserveTopology)\n\n"
"A mask that already exists is skipped when the same model wrote it (its SHA-256\n"
"is stored in the PNG's tEXt chunk 'unet:model', in a mask GeoTIFF's metadata\n"
"item UNET_MODEL), so a killed run resumes; one\n"
"from another model is an error for that image unless --force. A scene\n"
"interrupted half way is started again (nothing of it is kept).\n"
"Several processes (built with MPI): mpirun -np N unet-infer ... gives each\n"
"rank a fixed share (tiles: contiguous blocks; scenes: whole scenes balanced by\n"
"pixel count); rank 0 prints the combined summary. SIGUSR1 to mpirun stops all.\n"
"Exit status: 0 all done; 1 some inputs failed (the others were written);\n"
"2 bad usage or unusable model; 3 interrupted (finished masks are kept).\n"
"oneDNN runs the best ISA of the CPU; ONEDNN_MAX_CPU_ISA=AVX2 (say) caps it.\n\n");
    print_machine(f);
}

static int parse_floats(const char *s, float *out, int max)
{
    int n = 0;
    char *end;
    while (*s && n < max) {
        out[n++] = strtof(s, &end);
        if (end == s)
            return -1;
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return *s ? -1 : n;
}

typedef struct context {
    options *o;
    unet_model *model;
    unet_session *sess;
    unet_model_meta meta;
    char model_hash[65];
    unet_tensor_info in_info;
    infer_report *report;
    infer_tiles tiles;          /* tile mode */
} context;

/* The model's input scaling and layout with --layout, --scale, --mean and
 * --std applied. */
static unet_input_spec input_spec(const context *c)
{
    const options *o = c->o;
    unet_input_spec spec = c->meta.input;
    if (o->layout_override >= 0)
        spec.nhwc = o->layout_override;
    if (o->scale >= 0)
        spec.scale = o->scale;
    if (o->has_mean)
        memcpy(spec.mean, o->mean, sizeof spec.mean);
    if (o->has_std)
        memcpy(spec.std, o->std, sizeof spec.std);
    return spec;
}

/* 1: the mask at out_path was written by this model (skip it); 0: absent,
 * or to be overwritten (--force); -1: reported as a failure for input. */
static int existing_mask(context *c, const char *out_path, const char *input)
{
    struct stat st;
    if (stat(out_path, &st) != 0)
        return 0;
    char tag[128] = "";
    unet_png_read_text(out_path, "unet:model", tag, sizeof tag);
    if (!strcmp(tag, c->model_hash)) {
        infer_report_skipped(c->report);
        return 1;
    }
    if (c->o->force)
        return 0;
    infer_report_failure(c->report, input, tag[0] ? "the mask exists and was written by another model (use --force to overwrite)"
                                                   : "the mask exists and was not written by unet-infer (use --force to overwrite)");
    return -1;
}

/* The vector file of scene name: OUT/NAME.gpkg for a format word, else the
 * path given. */
static void vector_path(const options *o, const char *name, char *out, size_t size)
{
    if (!strcasecmp(o->vector, "gpkg") || !strcasecmp(o->vector, "geojson"))
        snprintf(out, size, "%s/%s.%s", o->out, name, !strcasecmp(o->vector, "gpkg") ? "gpkg" : "geojson");
    else
        snprintf(out, size, "%s", o->vector);
}

/* 1: the GeoTIFF mask at out_path was written by this model (skip it); 0:
 * absent or to be overwritten; -1: reported as a failure for input. */
static int existing_geo_mask(context *c, const char *out_path, const char *input)
{
    struct stat st;
    if (stat(out_path, &st) != 0)
        return 0;
    char tag[128] = "";
#ifdef UNET_HAVE_GDAL
    geo_mask_read_tag(out_path, tag, sizeof tag);
#endif
    if (!strcmp(tag, c->model_hash)) {
        infer_report_skipped(c->report);
        return 1;
    }
    if (c->o->force)
        return 0;
    infer_report_failure(c->report, input, tag[0] ? "the mask exists and was written by another model (use --force to overwrite)"
                                                   : "the mask exists and was not written by unet-infer (use --force to overwrite)");
    return -1;
}

/* Scene mode: each input image through scene_infer, outputs named as planned. */
static void run_scenes(context *c, input_list *files)
{
    options *o = c->o;
    scene_options so;
    memset(&so, 0, sizeof so);
    so.tile = o->tile;
    so.overlap = o->overlap;
    so.batch = o->batch;
    so.tta = o->tta;
    const unet_input_spec spec = input_spec(c);
    so.nhwc = spec.nhwc;
    so.channels = 3;
    if (c->in_info.rank == 4) {
        int64_t cdim = so.nhwc ? c->in_info.dims[3] : c->in_info.dims[1];
        if (cdim > 0 && cdim <= 4096)
            so.channels = (int)cdim;
    }
    so.scale = spec.scale;
    memcpy(so.mean, spec.mean, sizeof so.mean);
    memcpy(so.std, spec.std, sizeof so.std);
    so.probs = o->probs;
    so.overlay = o->overlay;
    so.model_hash = c->model_hash;
    so.meta = &c->meta;
    so.stop = &interrupted;
    so.quiet = o->quiet;
    so.geo = o->geo;
    so.cog = o->cog;
    so.min_area = o->min_area;
    so.simplify = o->simplify;
    for (int i = 0; i < files->n && !interrupted; i++) {
        if (!infer_mpi_mine(g_mpi, i))
            continue;
        if (files->clash && files->clash[i]) {
            char why[4400];
            snprintf(why, sizeof why, "its output name '%s' is also that of %s; rename one",
                     files->names[i], files->paths[files->clash[i] - 1]);
            infer_report_failure(c->report, files->paths[i], why);
            continue;
        }
        char base[4096 + 1100], out_path[4096 + 1200], vec[4096 + 1200];
        snprintf(base, sizeof base, "%s/%s", o->out, files->names[i]);
        int geo = scene_input_is_geo(files->paths[i]);
        snprintf(out_path, sizeof out_path, "%s%s", base, scene_mask_suffix(files->paths[i]));
        so.vector_path = NULL;
        if (o->vector) {
            vector_path(o, files->names[i], vec, sizeof vec);
            so.vector_path = vec;
        }
        int skip = geo ? existing_geo_mask(c, out_path, files->paths[i]) : existing_mask(c, out_path, files->paths[i]);
        struct stat vst;
        /* A finished mask whose polygons were not written (a run killed in
         * between, or --vector added on a rerun) gets them now. */
        if (skip == 1 && so.vector_path && stat(so.vector_path, &vst) != 0 &&
            scene_vector(&so, out_path, so.vector_path) != 0)
            infer_report_failure(c->report, files->paths[i], unet_last_error());
        if (skip != 0)
            continue;
        scene_infer(&so, c->sess, c->report, files->paths[i], base, files->names[i]);
    }
}

/* --tile defaults to the model's input size when that is fixed (and must
 * match it), else 256; --overlap to a quarter of the tile. */
static int scene_geometry(options *o, const unet_tensor_info *in, int meta_nhwc)
{
    int nhwc = o->layout_override >= 0 ? o->layout_override : meta_nhwc;
    int64_t h = -1, w = -1;
    if (in->rank == 4) {
        h = in->dims[nhwc ? 1 : 2];
        w = in->dims[nhwc ? 2 : 3];
    }
    if (h > 0 || w > 0) {
        if (h != w || (o->tile && o->tile != h)) {
            fprintf(stderr, "unet-infer: %s: the model takes %lldx%lld inputs only; scene mode needs square windows%s\n",
                    o->model, (long long)h, (long long)w, o->tile ? " of the --tile size" : "");
            return -1;
        }
        o->tile = (int)h;
    }
    if (!o->tile)
        o->tile = 256;
    if (o->overlap < 0)
        o->overlap = o->tile / 4;
    if (o->overlap >= o->tile) {
        fprintf(stderr, "unet-infer: --overlap %d must be smaller than the tile, %d\n", o->overlap, o->tile);
        return -1;
    }
    return 0;
}

static int run(options *o, input_list *files)
{
    context c;
    memset(&c, 0, sizeof c);
    c.o = o;
    if (unet_model_open_file(o->model, NULL, &c.model) != UNET_OK) {
        fprintf(stderr, "unet-infer: %s\n", unet_last_error());
        return EXIT_USAGE;
    }
    if (unet_model_read_meta(c.model, &c.meta) != UNET_OK || sha256_file_hex(o->model, c.model_hash) != UNET_OK) {
        fprintf(stderr, "unet-infer: %s: %s\n", o->model, unet_last_error());
        unet_model_free(c.model);
        return EXIT_USAGE;
    }
    if (unet_model_input_count(c.model) != 1) {
        fprintf(stderr, "unet-infer: %s: the model has %d inputs; segmentation needs exactly one image input\n", o->model, unet_model_input_count(c.model));
        unet_model_free(c.model);
        return EXIT_USAGE;
    }
    unet_model_input_info(c.model, 0, &c.in_info);
    if (o->scene && scene_geometry(o, &c.in_info, c.meta.input.nhwc) != 0) {
        unet_model_free(c.model);
        return EXIT_USAGE;
    }
    unet_session_options so = { .threads = o->threads, .profile = o->profile, .precision = o->precision,
                                .direct_convolutions = o->direct_conv };
    if (unet_session_create(c.model, &so, &c.sess) != UNET_OK) {
        fprintf(stderr, "unet-infer: %s\n", unet_last_error());
        unet_model_free(c.model);
        return EXIT_USAGE;
    }
    if (cli_mkdir_p(o->out) != 0) {
        fprintf(stderr, "unet-infer: cannot create output folder %s: %s\n", o->out, strerror(errno));
        unet_session_free(c.sess);
        unet_model_free(c.model);
        return EXIT_USAGE;
    }
    if (infer_mpi_plan(g_mpi, files, o->scene) != 0) {
        fprintf(stderr, "unet-infer: out of memory\n");
        unet_session_free(c.sess);
        unet_model_free(c.model);
        return EXIT_USAGE;
    }
    c.report = infer_report_create("unet-infer", infer_mpi_share(g_mpi, files->n),
                                   o->quiet || infer_mpi_rank(g_mpi) != 0);
    if (o->scene)
        run_scenes(&c, files);
    const unet_input_spec spec = input_spec(&c);
    tile_batch_init(&c.tiles.tb, c.sess, &spec, &c.in_info);
    c.tiles.meta = &c.meta;
    c.tiles.model_hash = c.model_hash;
    c.tiles.out_dir = o->out;
    c.tiles.tta = o->tta;
    c.tiles.probs = o->probs;
    c.tiles.overlay = o->overlay;
    c.tiles.report = c.report;
    infer_tile *tiles = o->scene ? NULL : calloc((size_t)o->batch, sizeof *tiles);
    int n = 0;
    for (int i = 0; !o->scene && i <= files->n && !interrupted; i++) {
        int flush = i == files->n;
        infer_tile t;
        if (!flush && !infer_mpi_mine(g_mpi, i))
            continue;
        if (!flush) {
            memset(&t, 0, sizeof t);
            snprintf(t.path, sizeof t.path, "%s", files->paths[i]);
            infer_stem(t.path, t.stem, sizeof t.stem);
            char out_path[4096 + 1100];
            snprintf(out_path, sizeof out_path, "%s/%s.png", o->out, t.stem);
            if (existing_mask(&c, out_path, t.path) != 0)
                continue;
            if (unet_image_read(t.path, UNET_IMAGE_DEFAULT, &t.img) != UNET_OK) {
                char why[1200];
                snprintf(why, sizeof why, "%s%s", unet_last_error(),
                         scene_input_is_geo(t.path) ? "; GIS rasters (GeoTIFF, ...) are read in scene mode: add --scene" : "");
                infer_report_failure(c.report, t.path, why);
                continue;
            }
            if (n > 0 && (t.img.width != tiles[0].img.width || t.img.height != tiles[0].img.height))
                flush = 2; /* a different size starts a new batch */
        }
        if ((flush && n > 0) || n == o->batch) {
            infer_tiles_run(&c.tiles, tiles, n);
            for (int b = 0; b < n; b++)
                unet_image_free(&tiles[b].img);
            n = 0;
        }
        if (i < files->n)
            tiles[n++] = t;
    }
    for (int b = 0; b < n; b++)
        unet_image_free(&tiles[b].img);
    free(tiles);
    int status = infer_mpi_finish(g_mpi, c.report, o->json, o->json_file, interrupted);
    if (o->profile && infer_mpi_rank(g_mpi) == 0)
        infer_report_profile(c.sess, stderr);
    infer_report_free(c.report);
    infer_tiles_free(&c.tiles);
    unet_session_free(c.sess);
    unet_model_free(c.model);
    return status;
}

static int infer_main(int argc, char **argv)
{
    options o;
    memset(&o, 0, sizeof o);
    o.out = "masks";
    o.batch = 8;
    o.layout_override = -1;
    o.scale = -1.0f;
    o.overlap = -1;
    enum { OPT_THREADS = 256, OPT_FORCE, OPT_PROBS, OPT_OVERLAY, OPT_LAYOUT, OPT_SCALE, OPT_MEAN, OPT_STD,
           OPT_CHECK, OPT_PROFILE, OPT_JSON, OPT_JSON_FILE, OPT_QUIET, OPT_VERSION, OPT_TTA,
           OPT_SCENE, OPT_TILE, OPT_OVERLAP, OPT_BANDS, OPT_STRETCH, OPT_COG, OPT_VECTOR, OPT_MIN_AREA,
           OPT_SIMPLIFY, OPT_PRECISION, OPT_DIRECT_CONV };
    static const struct option longopts[] = {
        { "out", required_argument, NULL, 'o' }, { "batch", required_argument, NULL, 'b' },
        { "threads", required_argument, NULL, OPT_THREADS }, { "force", no_argument, NULL, OPT_FORCE },
        { "probs", no_argument, NULL, OPT_PROBS }, { "overlay", no_argument, NULL, OPT_OVERLAY },
        { "layout", required_argument, NULL, OPT_LAYOUT }, { "scale", required_argument, NULL, OPT_SCALE },
        { "mean", required_argument, NULL, OPT_MEAN }, { "std", required_argument, NULL, OPT_STD },
        { "check", no_argument, NULL, OPT_CHECK }, { "profile", no_argument, NULL, OPT_PROFILE },
        { "json", no_argument, NULL, OPT_JSON }, { "json-file", required_argument, NULL, OPT_JSON_FILE },
        { "quiet", no_argument, NULL, OPT_QUIET }, { "version", no_argument, NULL, OPT_VERSION },
        { "tta", no_argument, NULL, OPT_TTA }, { "help", no_argument, NULL, 'h' },
        { "scene", no_argument, NULL, OPT_SCENE }, { "tile", required_argument, NULL, OPT_TILE },
        { "overlap", required_argument, NULL, OPT_OVERLAP }, { "bands", required_argument, NULL, OPT_BANDS },
        { "stretch", required_argument, NULL, OPT_STRETCH }, { "cog", no_argument, NULL, OPT_COG },
        { "vector", required_argument, NULL, OPT_VECTOR }, { "min-area", required_argument, NULL, OPT_MIN_AREA },
        { "simplify", required_argument, NULL, OPT_SIMPLIFY },
        { "precision", required_argument, NULL, OPT_PRECISION },
        { "direct-conv", no_argument, NULL, OPT_DIRECT_CONV }, { NULL, 0, NULL, 0 },
    };
    int opt;
    char *end;
    while ((opt = getopt_long(argc, argv, "o:b:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o': o.out = optarg; break;
        case 'b':
            if (cli_int_option("unet-infer", "--batch", optarg, 1, 4096, &o.batch) != 0)
                return EXIT_USAGE;
            break;
        case OPT_THREADS:
            if (cli_int_option("unet-infer", "--threads", optarg, 1, 1024, &o.threads) != 0)
                return EXIT_USAGE;
            break;
        case OPT_PRECISION:
            if (unet_precision_parse(optarg, &o.precision) != UNET_OK ||
                unet_precision_check(o.precision) != UNET_OK) {
                fprintf(stderr, "unet-infer: --precision %s: %s\n", optarg, unet_last_error());
                return EXIT_USAGE;
            }
            break;
        case OPT_DIRECT_CONV: o.direct_conv = 1; break;
        case OPT_FORCE: o.force = 1; break;
        case OPT_PROBS: o.probs = 1; break;
        case OPT_OVERLAY: o.overlay = 1; break;
        case OPT_TTA: o.tta = 1; break;
        case OPT_SCENE: o.scene = 1; break;
        case OPT_TILE:
            if (cli_int_option("unet-infer", "--tile", optarg, 1, 16384, &o.tile) != 0)
                return EXIT_USAGE;
            break;
        case OPT_OVERLAP:
            if (cli_int_option("unet-infer", "--overlap", optarg, 0, 16383, &o.overlap) != 0)
                return EXIT_USAGE;
            break;
        case OPT_LAYOUT:
            if (!strcasecmp(optarg, "NCHW")) o.layout_override = 0;
            else if (!strcasecmp(optarg, "NHWC")) o.layout_override = 1;
            else {
                fprintf(stderr, "unet-infer: --layout must be NCHW or NHWC, got '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_SCALE:
            o.scale = strtof(optarg, &end);
            if (*end || !(o.scale > 0)) {
                fprintf(stderr, "unet-infer: --scale must be a positive number, got '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_MEAN:
        case OPT_STD: {
            float v[4] = { 0, 0, 0, 0 };
            int k = parse_floats(optarg, v, 4);
            if (k < 1) {
                fprintf(stderr, "unet-infer: --%s takes 1 to 4 comma-separated numbers, got '%s'\n", opt == OPT_MEAN ? "mean" : "std", optarg);
                return EXIT_USAGE;
            }
            for (int i = k; i < 4; i++)
                v[i] = v[k - 1];
            if (opt == OPT_MEAN) {
                memcpy(o.mean, v, sizeof v);
                o.has_mean = 1;
            } else {
                for (int i = 0; i < 4; i++)
                    if (v[i] == 0) {
                        fprintf(stderr, "unet-infer: --std values must not be 0\n");
                        return EXIT_USAGE;
                    }
                memcpy(o.std, v, sizeof v);
                o.has_std = 1;
            }
            break;
        }
        case OPT_BANDS: {
            char why[200];
            if (geo_parse_bands(optarg, &o.geo, why, sizeof why) != 0) {
                fprintf(stderr, "unet-infer: %s\n", why);
                return EXIT_USAGE;
            }
            o.geo_option = "--bands";
            break;
        }
        case OPT_STRETCH:
            if (geo_parse_stretch(optarg, &o.geo.stretch) != 0) {
                fprintf(stderr, "unet-infer: --stretch must be minmax, p2-98 or none, got '%s'\n", optarg);
                return EXIT_USAGE;
            }
            o.geo_option = "--stretch";
            break;
        case OPT_COG: o.cog = 1; o.geo_option = "--cog"; break;
        case OPT_VECTOR:
            if (strcasecmp(optarg, "gpkg") && strcasecmp(optarg, "geojson") && !geo_vector_format(optarg)) {
                fprintf(stderr, "unet-infer: --vector wants gpkg, geojson or a file ending in .gpkg, .geojson or .json, got '%s'\n", optarg);
                return EXIT_USAGE;
            }
            o.vector = optarg;
            o.geo_option = "--vector";
            break;
        case OPT_MIN_AREA:
        case OPT_SIMPLIFY: {
            double v = strtod(optarg, &end);
            if (*end || end == optarg || !(v >= 0) || v > 1e300) {
                fprintf(stderr, "unet-infer: --%s must be a number >= 0, got '%s'\n",
                        opt == OPT_MIN_AREA ? "min-area" : "simplify", optarg);
                return EXIT_USAGE;
            }
            *(opt == OPT_MIN_AREA ? &o.min_area : &o.simplify) = v;
            o.geo_option = opt == OPT_MIN_AREA ? "--min-area" : "--simplify";
            break;
        }
        case OPT_CHECK: o.check = 1; break;
        case OPT_PROFILE: o.profile = 1; break;
        case OPT_JSON: o.json = 1; break;
        case OPT_JSON_FILE: o.json_file = optarg; break;
        case OPT_QUIET: o.quiet = 1; break;
        case OPT_VERSION:
            printf("unet-infer %s\n", UNET_VERSION_STRING);
            print_machine(stdout);
            return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "unet-infer: no model given\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    o.model = argv[optind++];
    if (!o.scene && (o.tile || o.overlap >= 0)) {
        fprintf(stderr, "unet-infer: --tile and --overlap need --scene (tiles are run whole)\n");
        return EXIT_USAGE;
    }
    if (o.geo_option && !geo_available()) {
        fprintf(stderr, "unet-infer: %s: %s\n", o.geo_option, geo_enable_hint());
        return EXIT_USAGE;
    }
    if (o.geo_option && !o.scene) {
        fprintf(stderr, "unet-infer: %s needs --scene (GIS rasters are segmented as whole scenes)\n", o.geo_option);
        return EXIT_USAGE;
    }
    if ((o.min_area > 0 || o.simplify > 0) && !o.vector) {
        fprintf(stderr, "unet-infer: --min-area and --simplify shape the polygons of --vector; give --vector too\n");
        return EXIT_USAGE;
    }
    if (o.scene && o.tile && o.overlap >= o.tile) {
        fprintf(stderr, "unet-infer: --overlap %d must be smaller than --tile %d\n", o.overlap, o.tile);
        return EXIT_USAGE;
    }
    if (o.check)
        return model_check_print(o.model, stdout) == 0 ? 0 : EXIT_USAGE;
    if (infer_mpi_size(g_mpi) > 1 && o.threads == 0)
        o.threads = infer_mpi_default_threads(g_mpi);
    if (optind >= argc) {
        fprintf(stderr, "unet-infer: no input folder or file given\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    input_list files = { NULL, NULL, NULL, NULL, 0, 0 };
    for (int i = optind; i < argc; i++)
        if ((o.scene ? infer_inputs_scenes(argv[i], &files) : infer_inputs_tiles(argv[i], &files)) != 0) {
            input_list_free(&files);
            return EXIT_USAGE;
        }
    if (o.scene && infer_inputs_name_scenes(&files) != 0) {
        fprintf(stderr, "unet-infer: out of memory\n");
        input_list_free(&files);
        return EXIT_USAGE;
    }
    if (o.vector && geo_vector_format(o.vector) && files.n > 1) {
        fprintf(stderr, "unet-infer: --vector %s names one file but there are %d scenes; use --vector gpkg or geojson "
                        "(OUT/NAME.gpkg per scene)\n", o.vector, files.n);
        input_list_free(&files);
        return EXIT_USAGE;
    }
    cli_catch_stop_signals(&interrupted, 0);
    int status = run(&o, &files);
    input_list_free(&files);
    return status;
}

int main(int argc, char **argv)
{
    const int mr = infer_mpi_init(&argc, &argv, &g_mpi);
    if (mr != 0)
        return mr;
    const int status = infer_main(argc, argv);
    infer_mpi_end(g_mpi);
    return status;
}
