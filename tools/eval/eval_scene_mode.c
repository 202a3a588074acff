/* unet-eval --scene: whole scene images through libunet's sliding window
 * (unet/scene.h), compared with their colour masks (see eval_program.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <unet/image.h>
#include <unet/meta.h>
#include <unet/metrics.h>
#include <unet/palette.h>
#include <unet/unet.h>

#include "cli_message.h"
#include "eval_program.h"
#include "eval_scene.h"
#include "scene_pairs.h"
#include "sha256.h"

/* ---- scene mode ------------------------------------------------------------------ */

/* --tile defaults to the model's fixed input size (and must match it), else
 * 256; --overlap to a quarter of the tile: as unet-infer --scene. */
static int scene_geometry(evaluator *e)
{
    const eval_options *o = e->o;
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

/* The colours that map mask pixels to class ids: --palette, else the model's
 * unet.colors, else the data set's palette; plus the ignore colours. */
static int mask_colors(const evaluator *e, unet_palette *pal)
{
    const eval_options *o = e->o;
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
        eval_warn(o, "the mask colours name %d classes but the model has %d; pixels of classes %d.. are left out",
             pal->n_classes, e->cm.n_classes, e->cm.n_classes);
    if (unet_palette_set_ignore_list(pal, o->ignore_colors) != UNET_OK) {
        fprintf(stderr, PROG ": --ignore-colors: %s\n", unet_last_error());
        return -1;
    }
    return 0;
}

/* "A, B, pairs FILE": what was evaluated, for the report. */
static char *describe_inputs(const eval_options *o)
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

static int evaluate_scenes(const eval_options *o, scene_pairs *sp, int input_failures)
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
    if (eval_open_model(e) != 0 || scene_geometry(e) != 0)
        goto done;
    int k = class_count(e);
    if (k < 1 || eval_ensure_matrix(e, k) != 0 || mask_colors(e, pal) != 0)
        goto done;
    if (sha256_file_hex(o->model, model_hash) != UNET_OK) {
        fprintf(stderr, PROG ": %s\n", unet_last_error());
        goto done;
    }
    if (o->out && cli_mkdir_p(o->out) != 0) {
        fprintf(stderr, PROG ": cannot create %s: %s\n", o->out, strerror(errno));
        goto done;
    }
    if (!o->out) {
        const char *tmp = getenv("TMPDIR");
        temp_dir = cli_path_join(tmp && *tmp ? tmp : "/tmp", "unet-eval-XXXXXX");
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
    c.so.tta = e->tta = o->tta;
    c.so.batch = o->batch;
    c.so.nhwc = e->meta.input.nhwc;
    c.so.channels = input_channels(e);
    c.so.scale = e->meta.input.scale;
    memcpy(c.so.mean, e->meta.input.mean, sizeof c.so.mean);
    memcpy(c.so.std, e->meta.input.std, sizeof c.so.std);
    c.so.model_hash = model_hash;
    c.so.meta = &e->meta;
    c.so.stop = &eval_interrupted;
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

    double t0 = eval_now_seconds();
    int stopped = eval_scenes_run(&c, &es, &e->cm, &e->run);
    e->run.seconds = eval_now_seconds() - t0;
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
    int out_failed = eval_write_outputs(e, m) != 0;
    free(m);
    status = stopped ? EXIT_INTERRUPTED : (e->run.failed || input_failures || out_failed) ? EXIT_SOME_FAILED : 0;

done:
    if (temp_dir && rmdir(temp_dir) != 0)
        eval_warn(o, "temporary folder %s not removed: %s", temp_dir, strerror(errno));
    free(temp_dir);
    eval_scenes_free(&es);
    eval_evaluator_free(e);
    free(pal);
    free(inputs);
    return status;
}

/* Scene mode's inputs: SCENE folders and --pairs. */
int eval_scene_mode_run(eval_options *o)
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
    else if (o->errors && cli_mkdir_p(o->errors) != 0)
        fprintf(stderr, PROG ": cannot create %s: %s\n", o->errors, strerror(errno));
    else
        status = evaluate_scenes(o, &sp, input_failures);
    scene_pairs_free(&sp);
    return status;
}

