/* unet-eval: how well a model segments a tiles folder. Every tile of
 * TILES/images (or of one fold of folds.tsv) is run through the model, its
 * argmax compared with TILES/masks, and one confusion matrix accumulated; the
 * metrics are those of unet/metrics.h, the same the trainer reports. With
 * --scene, whole scene images are segmented with the sliding window of
 * unet-infer --scene and compared with their colour masks (eval_scene.h). */
#include <dirent.h>
#include <inttypes.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <unet/image.h>
#include <unet/meta.h>
#include <unet/metrics.h>
#include <unet/palette.h>
#include <unet/unet.h>

#include "cli_message.h"
#include "atomic_file.h"
#include "cli_number.h"
#include "confusion_heatmap.h"
#include "error_map.h"
#include "eval_html.h"
#include "eval_report.h"
#include "eval_scene.h"
#include "folds_tsv.h"
#include "report_gallery.h"
#include "scene_pairs.h"
#include "sha256.h"
#include "tile_batch.h"

#define EXIT_SOME_FAILED 1
#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 3

#define PROG "unet-eval"

typedef struct options {
    const char *model, *tiles;
    const char *folds_file, *fold;
    int batch, threads, ignore_label; /* ignore_label < 0: from the model (255) */
    unet_precision precision;         /* --precision: the session's arithmetic */
    int json, quiet;
    const char *json_file, *csv, *heatmap, *errors;
    const char *report;               /* --report FILE.html */
    int report_tiles;                 /* --report-tiles N: worst and best shown */
    /* Scene mode: */
    int scene;
    char **scenes;                    /* SCENE arguments */
    int n_scenes;
    const char *pairs;                /* --pairs FILE */
    int tile, overlap;                /* 0 / -1: not given */
    const char *palette;              /* --palette FILE: the mask colours */
    const char *ignore_colors;
    int unknown_ignore;               /* --unknown-colors ignore */
    const char *out;                  /* keep the predicted masks here */
    int force;
} options;

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { (void)sig; interrupted = 1; }

/* SIGINT and SIGTERM stop the run; the metrics so far are still reported. */
static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

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
"                       the same model is evaluated as it is, so a rerun resumes;\n"
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

static void warn(const options *o, const char *fmt, ...)
{
    if (o->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    cli_vmessage(PROG, "warning", fmt, ap);
    va_end(ap);
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p) {
        fprintf(stderr, PROG ": out of memory\n");
        exit(EXIT_USAGE);
    }
    return p;
}

static char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (!p) {
        fprintf(stderr, PROG ": out of memory\n");
        exit(EXIT_USAGE);
    }
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

static int mkdir_p(const char *path)
{
    char *tmp = xstrdup(path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST) {
            free(tmp);
            return -1;
        }
        *p = '/';
    }
    int rc = mkdir(tmp, 0777) != 0 && errno != EEXIST ? -1 : 0;
    free(tmp);
    return rc;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the tiles to evaluate ---------------------------------------------- */

typedef struct eval_tile {
    char *name;       /* image stem */
    char *image;      /* path; NULL when folds.tsv names a tile without image */
    const char *problem; /* set when the tile cannot be evaluated at all */
} eval_tile;

typedef struct tile_list {
    eval_tile *t;
    int n, cap;
} tile_list;

static void tiles_add(tile_list *l, char *name, char *image)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        eval_tile *p = realloc(l->t, (size_t)cap * sizeof *p);
        if (!p) {
            fprintf(stderr, PROG ": out of memory\n");
            exit(EXIT_USAGE);
        }
        l->t = p;
        l->cap = cap;
    }
    l->t[l->n++] = (eval_tile){ name, image, NULL };
}

static void tiles_free(tile_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->t[i].name);
        free(l->t[i].image);
    }
    free(l->t);
    memset(l, 0, sizeof *l);
}

static int image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot != name &&
           (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static int cmp_tiles(const void *a, const void *b)
{
    const eval_tile *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->image ? x->image : "", y->image ? y->image : "");
}

/* Every image in dir, sorted by name; two images with one stem are marked. */
static int list_images(const char *dir, tile_list *out)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, PROG ": %s: %s\n", dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !image_ext(de->d_name))
            continue;
        char *name = xstrdup(de->d_name);
        *strrchr(name, '.') = '\0';
        tiles_add(out, name, path_join(dir, de->d_name));
    }
    closedir(d);
    if (out->n)
        qsort(out->t, (size_t)out->n, sizeof *out->t, cmp_tiles);
    for (int i = 1; i < out->n; i++)
        if (!strcmp(out->t[i].name, out->t[i - 1].name))
            out->t[i].problem = out->t[i - 1].problem =
                "two images share this name (different extensions); keep one";
    return 0;
}

static int same_fold(const char *a, const char *b)
{
    if (!strcmp(a, b))
        return 1;
    char *ea, *eb;
    long x = strtol(a, &ea, 10), y = strtol(b, &eb, 10);
    return *a && *b && !*ea && !*eb && x == y;
}

/* Keeps the tiles of fold o->fold, sorted by name; a listed
 * tile without image is kept with a problem. Returns -1 on a usage error. */
static int select_fold(const options *o, tile_list *all, tile_list *out)
{
    folds_table ft;
    if (folds_read(o->folds_file, &ft) != UNET_OK) {
        fprintf(stderr, PROG ": %s\n", unet_last_error());
        return -1;
    }
    for (size_t r = 0; r < ft.n; r++) {
        const folds_row *row = &ft.rows[r];
        if (!same_fold(row->fold, o->fold))
            continue;
        /* all is sorted by name (then path): find the first image of this name. */
        int lo = 0, hi = all->n;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (strcmp(all->t[mid].name, row->name) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < all->n && !strcmp(all->t[lo].name, row->name)) {
            tiles_add(out, xstrdup(row->name), xstrdup(all->t[lo].image));
            out->t[out->n - 1].problem = all->t[lo].problem;
        } else {
            tiles_add(out, xstrdup(row->name), NULL);
            out->t[out->n - 1].problem = "listed in the folds file but there is no image of that name";
        }
    }
    if (out->n == 0) {
        fprintf(stderr, PROG ": %s lists no tile of fold '%s'; its folds:", o->folds_file, o->fold);
        int shown = 0;
        for (size_t r = 0; r < ft.n && shown < 20; r++) {
            int seen = 0;
            for (size_t q = 0; q < r && !seen; q++)
                seen = !strcmp(ft.rows[q].fold, ft.rows[r].fold);
            if (!seen) {
                fprintf(stderr, " %s", ft.rows[r].fold);
                shown++;
            }
        }
        fprintf(stderr, "%s\n", ft.n ? "" : " (none: the file is empty)");
        folds_free(&ft);
        return -1;
    }
    folds_free(&ft);
    return 0;
}

/* ---- class names and colours ---------------------------------------------- */

static void resolve_classes(const options *o, const unet_model_meta *meta, int k, eval_class_info *cls)
{
    memset(cls, 0, sizeof *cls);
    cls->n_classes = k;
    unet_palette tiles_pal, def;
    unet_palette_default(&def);
    /* Names for a model without them: TILES/classes.tsv, or in scene mode --palette. */
    char *path = o->scene ? (o->palette ? xstrdup(o->palette) : NULL) : path_join(o->tiles, "classes.tsv");
    struct stat st;
    int have_tsv = 0;
    if (path && stat(path, &st) == 0) {
        if (unet_palette_read(path, &tiles_pal) == UNET_OK)
            have_tsv = 1;
        else
            warn(o, "%s: %s; not used for class names", path, unet_last_error());
    }
    for (int c = 0; c < k; c++) {
        const char *name = NULL;
        const uint8_t *rgb = NULL;
        if (meta->has_names && c < meta->n_classes)
            name = meta->names[c];
        else if (have_tsv && c < tiles_pal.n_classes)
            name = tiles_pal.classes[c].name;
        else if (c < def.n_classes)
            name = def.classes[c].name;
        if (meta->has_colors && c < meta->n_classes)
            rgb = meta->colors[c];
        else if (have_tsv && c < tiles_pal.n_classes)
            rgb = tiles_pal.classes[c].rgb;
        else if (c < def.n_classes)
            rgb = def.classes[c].rgb;
        if (name)
            snprintf(cls->names[c], sizeof cls->names[c], "%s", name);
        else
            snprintf(cls->names[c], sizeof cls->names[c], "class %d", c);
        if (rgb) {
            memcpy(cls->colors[c], rgb, 3);
        } else { /* a deterministic spread for classes beyond every palette */
            cls->colors[c][0] = (uint8_t)(c * 73);
            cls->colors[c][1] = (uint8_t)(c * 151);
            cls->colors[c][2] = (uint8_t)(c * 211);
        }
    }
    if ((meta->has_names || meta->has_colors) && meta->n_classes != k)
        warn(o, "the model's metadata lists %d classes but its output has %d", meta->n_classes, k);
    if (have_tsv && tiles_pal.n_classes != k)
        warn(o, "%s lists %d classes but the model has %d; mask values are read as the model's class ids",
             path, tiles_pal.n_classes, k);
    else if (have_tsv && meta->has_names)
        for (int c = 0; c < k; c++)
            if (strcmp(tiles_pal.classes[c].name, cls->names[c])) {
                warn(o, "class %d is '%s' in the model but '%s' in %s", c, cls->names[c],
                     tiles_pal.classes[c].name, path);
                break;
            }
    free(path);
}

/* ---- the evaluation ----------------------------------------------------------- */

typedef struct loaded_tile {
    int index;
    unet_image image, mask;
} loaded_tile;

typedef struct evaluator {
    const options *o;
    tile_list *tiles;
    unsigned char *tile_failed;
    unet_model *model;
    unet_session *session;
    unet_model_meta meta;
    unet_tensor_info in;       /* the model's input */
    tile_batch tb;
    int ignore_label;
    int k_hint;
    unet_confusion cm;         /* counts == NULL until the class count is known */
    report_gallery gallery;    /* --report: worst and best tiles */
    int gallery_ready;
    eval_class_info cls;
    eval_run run;
    eval_scenes *scenes;       /* scene mode */
    int tile, overlap;         /* scene mode: the window */
    uint8_t *pred;
    size_t pred_cap;
    uint8_t *rgb;
    size_t rgb_cap;
} evaluator;

static void fail(evaluator *e, int index, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const eval_tile *t = &e->tiles->t[index];
    fprintf(stderr, "%s" PROG ": %s: %s\n", !e->o->quiet && isatty(2) ? "\n" : "", t->name, msg);
    eval_failure *p = realloc(e->run.failures, (size_t)(e->run.n_failures + 1) * sizeof *p);
    if (p) {
        e->run.failures = p;
        p[e->run.n_failures].tile = xstrdup(t->name);
        p[e->run.n_failures].error = xstrdup(msg);
        e->run.n_failures++;
    }
    if (!e->tile_failed[index]) {
        e->tile_failed[index] = 1;
        e->run.failed++;
    }
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    uint8_t *p = realloc(*buf, need);
    if (!p)
        return -1;
    *buf = p;
    *cap = need;
    return 0;
}

static int ensure_matrix(evaluator *e, int k)
{
    if (e->cm.counts)
        return 0;
    if (unet_confusion_init(&e->cm, k) != UNET_OK) {
        fprintf(stderr, PROG ": %s\n", unet_last_error());
        return -1;
    }
    resolve_classes(e->o, &e->meta, k, &e->cls);
    if (e->o->report) {
        if (report_gallery_init(&e->gallery, e->o->report_tiles, k) != 0) {
            fprintf(stderr, PROG ": out of memory for the report's gallery\n");
            return -1;
        }
        e->gallery_ready = 1;
    }
    return 0;
}

/* Reads image and mask of tile i; 0 when both are usable. */
static int load_tile(evaluator *e, int i, loaded_tile *lt)
{
    memset(lt, 0, sizeof *lt);
    lt->index = i;
    const eval_tile *t = &e->tiles->t[i];
    if (t->problem) {
        fail(e, i, "%s", t->problem);
        return -1;
    }
    char *mask_name = malloc(strlen(t->name) + 5);
    if (!mask_name) {
        fail(e, i, "out of memory");
        return -1;
    }
    sprintf(mask_name, "%s.png", t->name);
    char *masks = path_join(e->o->tiles, "masks");
    char *mask_path = path_join(masks, mask_name);
    free(masks);
    free(mask_name);
    int rc = -1;
    struct stat st;
    if (stat(mask_path, &st) != 0) {
        fail(e, i, "no mask: %s: %s", mask_path, strerror(errno));
    } else if (unet_image_read(t->image, UNET_IMAGE_DEFAULT, &lt->image) != UNET_OK) {
        fail(e, i, "%s", unet_last_error());
    } else if (unet_image_read(mask_path, UNET_IMAGE_PALETTE_INDEX, &lt->mask) != UNET_OK) {
        fail(e, i, "%s", unet_last_error());
    } else if (lt->mask.channels != 1) {
        fail(e, i, "%s has %d channels; expected an index mask (8-bit gray or palette PNG, value = class id)",
             mask_path, lt->mask.channels);
    } else if (lt->mask.width != lt->image.width || lt->mask.height != lt->image.height) {
        fail(e, i, "mask %s is %dx%d but image %s is %dx%d", mask_path, lt->mask.width, lt->mask.height,
             t->image, lt->image.width, lt->image.height);
    } else {
        rc = 0;
    }
    if (rc != 0) {
        unet_image_free(&lt->image);
        unet_image_free(&lt->mask);
    }
    free(mask_path);
    return rc;
}

static void count_tile(evaluator *e, const loaded_tile *lt, const uint8_t *pred)
{
    const eval_tile *t = &e->tiles->t[lt->index];
    size_t n = (size_t)lt->mask.width * (size_t)lt->mask.height;
    const uint8_t *truth = lt->mask.pixels;
    int k = e->cm.n_classes;
    uint64_t ignored = 0, unknown = 0;
    int first_unknown = -1;
    for (size_t i = 0; i < n; i++) {
        if (truth[i] == e->ignore_label)
            ignored++;
        else if (truth[i] >= k) {
            if (!unknown)
                first_unknown = truth[i];
            unknown++;
        }
    }
    if (unet_confusion_add(&e->cm, truth, pred, n, e->ignore_label) != UNET_OK) {
        fail(e, lt->index, "%s", unet_last_error());
        return;
    }
    e->run.ignored_pixels += ignored;
    e->run.unknown_label_pixels += unknown;
    e->run.evaluated++;
    if (unknown)
        warn(e->o, "%s: %llu mask pixels hold labels that are not classes of the model (first: %d); left out",
             t->name, (unsigned long long)unknown, first_unknown);
    if (e->gallery_ready &&
        report_gallery_offer(&e->gallery, t->name, lt->mask.width, lt->mask.height, truth, pred,
                             (size_t)lt->mask.width, lt->image.pixels, lt->image.channels,
                             (size_t)lt->image.width * (size_t)lt->image.channels, e->ignore_label) != 0)
        warn(e->o, "%s: out of memory for the report's gallery; left out", t->name);
    if (e->o->errors) {
        if (grow(&e->rgb, &e->rgb_cap, 3 * n) != 0) {
            fail(e, lt->index, "out of memory for the error map");
            return;
        }
        error_map_render(truth, pred, n, k, e->ignore_label, (const uint8_t(*)[3])e->cls.colors, e->rgb);
        unet_image im = { lt->mask.width, lt->mask.height, 3, e->rgb };
        char *file = malloc(strlen(t->name) + 5);
        if (!file) {
            fail(e, lt->index, "out of memory");
            return;
        }
        sprintf(file, "%s.png", t->name);
        char *path = path_join(e->o->errors, file);
        free(file);
        if (unet_png_write(path, &im, NULL, 0) != UNET_OK)
            fail(e, lt->index, "error map not written: %s", unet_last_error());
        free(path);
    }
}

static void flush(evaluator *e, loaded_tile *batch, int n)
{
    if (n == 0)
        return;
    int h = batch[0].image.height, w = batch[0].image.width, k = 0;
    size_t plane = (size_t)h * (size_t)w;
    const unet_image **images = malloc((size_t)n * sizeof *images);
    for (int b = 0; images && b < n; b++)
        images[b] = &batch[b].image;
    if (!images || grow(&e->pred, &e->pred_cap, (size_t)n * plane) != 0) {
        for (int b = 0; b < n; b++)
            fail(e, batch[b].index, "out of memory for %d predictions of %dx%d", n, w, h);
    } else if (tile_batch_predict(&e->tb, images, n, e->pred, &k) != UNET_OK) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", unet_last_error());
        for (int b = 0; b < n; b++)
            fail(e, batch[b].index, "%s", msg);
    } else if (ensure_matrix(e, k) != 0) {
        for (int b = 0; b < n; b++)
            fail(e, batch[b].index, "no confusion matrix for %d classes", k);
    } else if (k != e->cm.n_classes) {
        for (int b = 0; b < n; b++)
            fail(e, batch[b].index, "the model gave %d classes for this tile size but %d before", k,
                 e->cm.n_classes);
    } else {
        for (int b = 0; b < n; b++)
            count_tile(e, &batch[b], e->pred + (size_t)b * plane);
    }
    free(images);
    for (int b = 0; b < n; b++) {
        unet_image_free(&batch[b].image);
        unet_image_free(&batch[b].mask);
    }
}

static void progress(const evaluator *e, int done)
{
    if (e->o->quiet || !isatty(2))
        return;
    fprintf(stderr, "\r" PROG ": %d/%d tiles", done, e->tiles->n);
    fflush(stderr);
}

/* Opens the model and its session; 0 on success. */
static int open_model(evaluator *e)
{
    const options *o = e->o;
    if (unet_model_open_file(o->model, NULL, &e->model) != UNET_OK) {
        fprintf(stderr, PROG ": %s\n", unet_last_error());
        return -1;
    }
    if (unet_model_read_meta(e->model, &e->meta) != UNET_OK) {
        fprintf(stderr, PROG ": %s: %s\n", o->model, unet_last_error());
        return -1;
    }
    if (unet_model_input_count(e->model) != 1 || unet_model_output_count(e->model) < 1) {
        fprintf(stderr, PROG ": %s: the model has %d inputs and %d outputs; segmentation needs one image input and a class-score output\n",
                o->model, unet_model_input_count(e->model), unet_model_output_count(e->model));
        return -1;
    }
    unet_tensor_info out;
    unet_tensor_info *in = &e->in;
    if (unet_model_input_info(e->model, 0, in) != UNET_OK || unet_model_output_info(e->model, 0, &out) != UNET_OK) {
        fprintf(stderr, PROG ": %s: %s\n", o->model, unet_last_error());
        return -1;
    }
    if (out.rank == 4) {
        int64_t c = e->meta.input.nhwc ? out.dims[3] : out.dims[1];
        if (c > 0 && c <= 255)
            e->k_hint = (int)c;
    }
    if (!e->k_hint && e->meta.n_classes > 0)
        e->k_hint = e->meta.n_classes;
    unet_session_options so = { .threads = o->threads, .precision = o->precision };
    if (unet_session_create(e->model, &so, &e->session) != UNET_OK) {
        fprintf(stderr, PROG ": %s\n", unet_last_error());
        return -1;
    }
    tile_batch_init(&e->tb, e->session, &e->meta.input, in);
    e->ignore_label = o->ignore_label >= 0 ? o->ignore_label : e->meta.ignore_label;
    return 0;
}

/* Scene mode's table: eval_report_table's, whose first two lines speak of
 * tiles, under a header of its own, then a line per scene. */
static void scene_table(FILE *f, const evaluator *e, const unet_metrics *m)
{
    const eval_run *r = &e->run;
    char *buf = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&buf, &len);
    if (!mf) {
        fprintf(stderr, PROG ": out of memory for the table\n");
        return;
    }
    eval_report_table(mf, r, &e->cm, m, &e->cls);
    fclose(mf);
    const char *body = buf;
    for (int line = 0; line < 2 && body; line++)
        if ((body = strchr(body, '\n')))
            body++;
    fprintf(f, PROG ": %s on %s (whole images, %dx%d windows, overlap %d)\n", r->model, r->tiles, e->tile, e->tile,
            e->overlap);
    fprintf(f, "%d of %d images evaluated%s", r->evaluated, r->selected, r->interrupted ? " (interrupted)" : "");
    if (r->failed)
        fprintf(f, ", %d failed", r->failed);
    fprintf(f, "; %" PRIu64 " pixels counted, %" PRIu64 " ignored (ignore colours or label %d)", m->total,
            r->ignored_pixels, r->ignore_label);
    if (r->unknown_label_pixels)
        fprintf(f, ", %" PRIu64 " with colours or labels that are not classes", r->unknown_label_pixels);
    fprintf(f, "; %.1f s\n%s", r->seconds, body ? body : "");
    eval_scenes_table(f, e->scenes);
    free(buf);
}

/* Writes the JSON (stdout and/or file), CSV and heat map; 0 when all were written. */
static int write_outputs(evaluator *e, const unet_metrics *m)
{
    const options *o = e->o;
    int ok = 1;
    FILE *table = o->json ? (o->quiet ? NULL : stderr) : stdout;
    if (table && e->scenes)
        scene_table(table, e, m);
    else if (table)
        eval_report_table(table, &e->run, &e->cm, m, &e->cls);
    if (o->json || o->json_file) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f) {
            fprintf(stderr, PROG ": out of memory for the JSON report\n");
            return -1;
        }
        eval_report_json(f, &e->run, &e->cm, m, &e->cls);
        fflush(f);
        if (e->scenes && len >= 2 && !strcmp(buf + len - 2, "}\n")) {
            /* The scene keys go in before the object's closing brace. */
            fseek(f, (long)len - 2, SEEK_SET);
            fprintf(f, ",\"mode\":\"scene\",\"tile\":%d,\"overlap\":%d,\"scenes\":", e->tile, e->overlap);
            eval_scenes_json(f, e->scenes);
            fprintf(f, "}\n");
        }
        fclose(f);
        if (o->json) {
            fwrite(buf, 1, len, stdout);
            fflush(stdout);
        }
        if (o->json_file && atomic_file_write_all(o->json_file, buf, len) != UNET_OK) {
            fprintf(stderr, PROG ": %s\n", unet_last_error());
            ok = 0;
        }
        free(buf);
    }
    if (o->csv) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f) {
            fprintf(stderr, PROG ": out of memory for the CSV report\n");
            return -1;
        }
        eval_report_csv(f, &e->cm, m, &e->cls);
        fclose(f);
        if (atomic_file_write_all(o->csv, buf, len) != UNET_OK) {
            fprintf(stderr, PROG ": %s\n", unet_last_error());
            ok = 0;
        }
        free(buf);
    }
    if (o->report) {
        eval_html r = { .run = &e->run, .cm = &e->cm, .m = m, .cls = &e->cls,
                        .gallery = e->gallery_ready ? &e->gallery : NULL, .scenes = e->scenes,
                        .tile = e->tile, .overlap = e->overlap };
        size_t size = 0;
        if (eval_html_write(o->report, &r, &size) != 0) {
            fprintf(stderr, PROG ": report not written: %s\n", unet_last_error());
            ok = 0;
        } else if (!o->quiet) {
            fprintf(stderr, PROG ": wrote %s (%zu bytes)\n", o->report, size);
        }
    }
    if (o->heatmap) {
        if (!e->cm.counts) {
            fprintf(stderr, PROG ": %s not written: the model's class count is unknown (no tile was evaluated)\n",
                    o->heatmap);
            ok = 0;
        } else if (confusion_heatmap_write(o->heatmap, e->cm.counts, e->cm.n_classes,
                                           (const uint8_t(*)[3])e->cls.colors) != UNET_OK) {
            fprintf(stderr, PROG ": %s\n", unet_last_error());
            ok = 0;
        }
    }
    return ok ? 0 : -1;
}

static int evaluate(const options *o, tile_list *tiles)
{
    evaluator *e = calloc(1, sizeof *e);
    if (!e) {
        fprintf(stderr, PROG ": out of memory\n");
        return EXIT_USAGE;
    }
    e->o = o;
    e->tiles = tiles;
    e->tile_failed = calloc((size_t)tiles->n + 1, 1);
    loaded_tile *batch = calloc((size_t)o->batch, sizeof *batch);
    int status = EXIT_USAGE;
    if (!e->tile_failed || !batch) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    if (open_model(e) != 0)
        goto done;
    e->run.model = o->model;
    e->run.tiles = o->tiles;
    e->run.folds_file = o->folds_file;
    e->run.fold = o->fold;
    e->run.ignore_label = e->ignore_label;
    e->run.selected = tiles->n;

    double t0 = now_seconds();
    int n = 0, i;
    for (i = 0; i < tiles->n && !interrupted; i++) {
        loaded_tile lt;
        if (load_tile(e, i, &lt) != 0)
            continue;
        if (n > 0 && (lt.image.width != batch[0].image.width || lt.image.height != batch[0].image.height)) {
            flush(e, batch, n); /* a new size starts a new batch */
            n = 0;
        }
        batch[n++] = lt;
        if (n == o->batch) {
            flush(e, batch, n);
            n = 0;
            progress(e, i + 1);
        }
    }
    flush(e, batch, n);
    progress(e, i);
    if (!o->quiet && isatty(2))
        fputc('\n', stderr);
    e->run.seconds = now_seconds() - t0;
    e->run.interrupted = interrupted != 0;
    if (interrupted)
        fprintf(stderr, PROG ": interrupted after %d of %d tiles; the metrics cover the tiles evaluated\n", i,
                tiles->n);

    if (!e->cm.counts && e->k_hint > 0 && ensure_matrix(e, e->k_hint) != 0)
        goto done;
    unet_metrics *m = malloc(sizeof *m);
    if (!m) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    unet_metrics_compute(e->cm.counts ? &e->cm : NULL, m);
    int out_failed = write_outputs(e, m) != 0;
    free(m);
    status = interrupted ? EXIT_INTERRUPTED : (e->run.failed || out_failed) ? EXIT_SOME_FAILED : 0;

done:
    for (int f = 0; f < e->run.n_failures; f++) {
        free(e->run.failures[f].tile);
        free(e->run.failures[f].error);
    }
    free(e->run.failures);
    free(batch);
    free(e->tile_failed);
    free(e->pred);
    free(e->rgb);
    tile_batch_free(&e->tb);
    unet_confusion_free(&e->cm);
    report_gallery_free(&e->gallery);
    unet_session_free(e->session);
    unet_model_free(e->model);
    free(e);
    return status;
}

/* ---- scene mode ------------------------------------------------------------------ */

/* --tile defaults to the model's fixed input size (and must match it), else
 * 256; --overlap to a quarter of the tile: as unet-infer --scene. */
static int scene_geometry(evaluator *e)
{
    const options *o = e->o;
    const unet_tensor_info *in = &e->in;
    int nhwc = e->meta.input.nhwc;
    int64_t h = -1, w = -1;
    if (in->rank == 4) {
        h = in->dims[nhwc ? 1 : 2];
        w = in->dims[nhwc ? 2 : 3];
    }
    e->tile = o->tile;
    if (h > 0 || w > 0) {
        if (h != w || (o->tile && o->tile != h)) {
            fprintf(stderr, PROG ": %s: the model takes %lldx%lld inputs only; scene mode needs square windows%s\n",
                    o->model, (long long)h, (long long)w, o->tile ? " of the --tile size" : "");
            return -1;
        }
        e->tile = (int)h;
    }
    if (!e->tile)
        e->tile = 256;
    e->overlap = o->overlap >= 0 ? o->overlap : e->tile / 4;
    if (e->overlap >= e->tile) {
        fprintf(stderr, PROG ": --overlap %d must be smaller than the tile, %d\n", e->overlap, e->tile);
        return -1;
    }
    return 0;
}

static int input_channels(const evaluator *e)
{
    if (e->in.rank == 4) {
        int64_t c = e->meta.input.nhwc ? e->in.dims[3] : e->in.dims[1];
        if (c > 0 && c <= 4096)
            return (int)c;
    }
    return 3;
}

/* The model's class count: its output's channel dimension when fixed, else
 * what one run on a blank window gives (metadata may list other classes
 * than the output has, and the matrix must be sized before any image is
 * run). -1 (printed) when neither tells. */
static int class_count(evaluator *e)
{
    int nhwc = e->meta.input.nhwc;
    unet_tensor_info info;
    if (unet_model_output_info(e->model, 0, &info) == UNET_OK && info.rank == 4) {
        int64_t n = nhwc ? info.dims[3] : info.dims[1];
        if (n >= 1 && n <= 255)
            return (int)n;
    }
    int t = e->tile, c = input_channels(e);
    float *zero = calloc((size_t)c * (size_t)t * (size_t)t, sizeof *zero);
    unet_tensor in = { UNET_DTYPE_FLOAT, 4, { 1, nhwc ? t : c, t, nhwc ? c : t }, zero }, out;
    int k = -1;
    if (!zero) {
        fprintf(stderr, PROG ": out of memory\n");
    } else if (unet_session_run(e->session, &in, 1) != UNET_OK || unet_session_output(e->session, 0, &out) != UNET_OK) {
        fprintf(stderr, PROG ": %s: %s\n", e->o->model, unet_last_error());
    } else {
        int64_t n = out.rank == 4 ? (nhwc ? out.dims[3] : out.dims[1]) : 0;
        if (n >= 1 && n <= 255)
            k = (int)n;
        else
            fprintf(stderr, PROG ": %s: output 0 is not %s class scores with 1 to 255 classes\n", e->o->model,
                    nhwc ? "[N, H, W, classes]" : "[N, classes, H, W]");
    }
    free(zero);
    return k;
}

static int parse_ignore_colors(unet_palette *pal, const char *list)
{
    unet_palette_clear_ignore(pal);
    if (!strcasecmp(list, "none"))
        return 0;
    char *copy = xstrdup(list);
    int rc = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t n = strlen(tok);
        while (n > 0 && tok[n - 1] == ' ')
            tok[--n] = '\0';
        uint8_t rgb[3];
        if (unet_parse_hex_color(tok, n, rgb) != UNET_OK) {
            fprintf(stderr, PROG ": --ignore-colors: '%s' is not #RRGGBB\n", tok);
            rc = -1;
        } else if (unet_palette_add_ignore(pal, rgb) != UNET_OK) {
            fprintf(stderr, PROG ": --ignore-colors: %s\n", unet_last_error());
            rc = -1;
        }
    }
    free(copy);
    return rc;
}

/* The colours that map mask pixels to class ids: --palette, else the model's
 * unet.colors, else the data set's palette; plus the ignore colours. */
static int mask_colors(const evaluator *e, unet_palette *pal)
{
    const options *o = e->o;
    if (o->palette) {
        if (unet_palette_read(o->palette, pal) != UNET_OK) {
            fprintf(stderr, PROG ": --palette: %s\n", unet_last_error());
            return -1;
        }
    } else {
        unet_palette_default(pal);
        if (e->meta.has_colors) {
            pal->n_classes = e->meta.n_classes;
            for (int c = 0; c < pal->n_classes; c++) {
                snprintf(pal->classes[c].name, sizeof pal->classes[c].name, "%s", e->cls.names[c]);
                memcpy(pal->classes[c].rgb, e->meta.colors[c], 3);
            }
        }
    }
    for (int c = 0; c < pal->n_classes; c++)
        for (int d = 0; d < c; d++)
            if (!memcmp(pal->classes[c].rgb, pal->classes[d].rgb, 3)) {
                char hex[8];
                unet_format_hex_color(pal->classes[c].rgb, hex);
                fprintf(stderr, PROG ": classes %d and %d share the colour %s, so colour masks cannot tell them apart%s\n",
                        d, c, hex, o->palette ? "" : "; give --palette");
                return -1;
            }
    if (pal->n_classes > e->cm.n_classes)
        warn(o, "the mask colours name %d classes but the model has %d; pixels of classes %d.. are left out",
             pal->n_classes, e->cm.n_classes, e->cm.n_classes);
    return parse_ignore_colors(pal, o->ignore_colors);
}

/* "A, B, pairs FILE": what was evaluated, for the report. */
static char *describe_inputs(const options *o)
{
    size_t n = 32 + (o->pairs ? strlen(o->pairs) : 0);
    for (int i = 0; i < o->n_scenes; i++)
        n += strlen(o->scenes[i]) + 2;
    char *d = malloc(n);
    if (!d)
        return NULL;
    d[0] = '\0';
    for (int i = 0; i < o->n_scenes; i++) {
        if (i)
            strcat(d, ", ");
        strcat(d, o->scenes[i]);
    }
    if (o->pairs) {
        if (o->n_scenes)
            strcat(d, ", ");
        strcat(d, "pairs ");
        strcat(d, o->pairs);
    }
    return d;
}

static int evaluate_scenes(const options *o, scene_pairs *sp, int input_failures)
{
    evaluator *e = calloc(1, sizeof *e);
    eval_scenes es;
    memset(&es, 0, sizeof es);
    unet_palette *pal = malloc(sizeof *pal);
    char model_hash[65] = "", *temp_dir = NULL, *inputs = describe_inputs(o);
    int status = EXIT_USAGE;
    if (!e || !pal || !inputs) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    e->o = o;
    if (open_model(e) != 0 || scene_geometry(e) != 0)
        goto done;
    int k = class_count(e);
    if (k < 1 || ensure_matrix(e, k) != 0 || mask_colors(e, pal) != 0)
        goto done;
    if (sha256_file_hex(o->model, model_hash) != UNET_OK) {
        fprintf(stderr, PROG ": %s\n", unet_last_error());
        goto done;
    }
    if (o->out && mkdir_p(o->out) != 0) {
        fprintf(stderr, PROG ": cannot create %s: %s\n", o->out, strerror(errno));
        goto done;
    }
    if (!o->out) {
        const char *tmp = getenv("TMPDIR");
        temp_dir = path_join(tmp && *tmp ? tmp : "/tmp", "unet-eval-XXXXXX");
        if (!mkdtemp(temp_dir)) {
            fprintf(stderr, PROG ": cannot create a temporary folder %s: %s\n", temp_dir, strerror(errno));
            free(temp_dir);
            temp_dir = NULL;
            goto done;
        }
    }
    if (eval_scenes_init(&es, sp, k) != 0) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    e->scenes = &es;
    e->run.model = o->model;
    e->run.tiles = inputs;
    e->run.ignore_label = e->ignore_label;
    e->run.selected = (int)sp->n_pairs;

    eval_scene_config c;
    memset(&c, 0, sizeof c);
    c.so.tile = e->tile;
    c.so.overlap = e->overlap;
    c.so.batch = o->batch;
    c.so.nhwc = e->meta.input.nhwc;
    c.so.channels = input_channels(e);
    c.so.scale = e->meta.input.scale;
    memcpy(c.so.mean, e->meta.input.mean, sizeof c.so.mean);
    memcpy(c.so.std, e->meta.input.std, sizeof c.so.std);
    c.so.model_hash = model_hash;
    c.so.meta = &e->meta;
    c.so.stop = &interrupted;
    c.so.quiet = o->quiet;
    c.session = e->session;
    c.palette = pal;
    c.unknown = o->unknown_ignore ? UNET_UNKNOWN_COLOR_IGNORE : UNET_UNKNOWN_COLOR_ERROR;
    c.ignore_label = e->ignore_label;
    c.n_classes = k;
    c.colors = (const uint8_t(*)[3])e->cls.colors;
    c.out_dir = o->out;
    c.temp_dir = temp_dir;
    c.errors_dir = o->errors;
    c.force = o->force;
    c.quiet = o->quiet;
    c.gallery = e->gallery_ready ? &e->gallery : NULL;
    c.gallery_window = e->tile;

    double t0 = now_seconds();
    int stopped = eval_scenes_run(&c, &es, &e->cm, &e->run);
    e->run.seconds = now_seconds() - t0;
    e->run.interrupted = stopped;
    if (stopped)
        fprintf(stderr, "%s" PROG ": interrupted; the metrics cover the %d images evaluated\n",
                !o->quiet && isatty(2) ? "\r\033[K" : "", e->run.evaluated);
    unet_metrics *m = malloc(sizeof *m);
    if (!m) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    unet_metrics_compute(&e->cm, m);
    int out_failed = write_outputs(e, m) != 0;
    free(m);
    status = stopped ? EXIT_INTERRUPTED : (e->run.failed || input_failures || out_failed) ? EXIT_SOME_FAILED : 0;

done:
    if (temp_dir && rmdir(temp_dir) != 0)
        warn(o, "temporary folder %s not removed: %s", temp_dir, strerror(errno));
    free(temp_dir);
    eval_scenes_free(&es);
    if (e) {
        for (int f = 0; f < e->run.n_failures; f++) {
            free(e->run.failures[f].tile);
            free(e->run.failures[f].error);
        }
        free(e->run.failures);
        tile_batch_free(&e->tb);
        unet_confusion_free(&e->cm);
        report_gallery_free(&e->gallery);
        unet_session_free(e->session);
        unet_model_free(e->model);
    }
    free(e);
    free(pal);
    free(inputs);
    return status;
}

/* Scene mode's inputs: SCENE folders and --pairs. */
static int main_scenes(options *o)
{
    scene_pairs sp;
    memset(&sp, 0, sizeof sp);
    sp.prog = PROG;
    sp.quiet = o->quiet;
    int input_failures = 0;
    for (int i = 0; i < o->n_scenes; i++) {
        if (!scene_pairs_is_dir(o->scenes[i])) {
            fprintf(stderr, PROG ": %s: not a folder\n", o->scenes[i]);
            input_failures++;
        } else if (scene_pairs_find(&sp, o->scenes[i]) == 0) {
            fprintf(stderr, PROG ": %s: no scene folder (one holding images/ and masks/) at or below it\n",
                    o->scenes[i]);
            input_failures++;
        }
    }
    if (o->pairs && scene_pairs_read_file(&sp, o->pairs) != 0) {
        scene_pairs_free(&sp);
        return EXIT_USAGE;
    }
    /* Images without a mask are pairs that fail; other problems (clashing
     * scene folders) only fail the run. */
    for (size_t i = 0; i < sp.n_pairs; i++)
        if (!sp.pairs[i].mask)
            sp.input_failures--;
    input_failures += sp.input_failures;
    int status = EXIT_USAGE;
    if (sp.n_pairs == 0)
        fprintf(stderr, PROG ": no images to evaluate\n");
    else if (o->errors && mkdir_p(o->errors) != 0)
        fprintf(stderr, PROG ": cannot create %s: %s\n", o->errors, strerror(errno));
    else
        status = evaluate_scenes(o, &sp, input_failures);
    scene_pairs_free(&sp);
    return status;
}

int main(int argc, char **argv)
{
    options o;
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
           OPT_PRECISION };
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
        { "precision", required_argument, NULL, OPT_PRECISION }, { NULL, 0, NULL, 0 },
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
        catch_signals();
        return main_scenes(&o);
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
    char *default_folds = path_join(o.tiles, "folds.tsv");
    if (o.fold && !o.folds_file)
        o.folds_file = default_folds;

    int status = EXIT_USAGE;
    tile_list all = { 0 }, chosen = { 0 };
    char *images = path_join(o.tiles, "images");
    struct stat st;
    if (stat(images, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, PROG ": %s is not a tiles folder: %s is missing (expected images/ and masks/, as unet-tile writes)\n",
                o.tiles, images);
        goto out;
    }
    if (list_images(images, &all) != 0)
        goto out;
    tile_list *tiles = &all;
    if (o.fold) {
        if (select_fold(&o, &all, &chosen) != 0)
            goto out;
        tiles = &chosen;
    }
    if (tiles->n == 0) {
        fprintf(stderr, PROG ": no PNG or JPEG images in %s\n", images);
        goto out;
    }
    if (o.errors && mkdir_p(o.errors) != 0) {
        fprintf(stderr, PROG ": cannot create %s: %s\n", o.errors, strerror(errno));
        goto out;
    }
    catch_signals();
    status = evaluate(&o, tiles);
out:
    tiles_free(&all);
    tiles_free(&chosen);
    free(images);
    free(default_folds);
    return status;
}
