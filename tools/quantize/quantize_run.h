/* One unet-quantize run, from the float model to the QDQ file: read and
 * check, fold BatchNormalization, calibrate on the tiles, choose the
 * parameters, rewrite, write atomically. Tool code: messages go to stderr. */
#ifndef UNET_TOOLS_QUANTIZE_QUANTIZE_RUN_H
#define UNET_TOOLS_QUANTIZE_QUANTIZE_RUN_H

typedef enum qz_method { QZ_MINMAX = 0, QZ_PERCENTILE = 1, QZ_ENTROPY = 2 } qz_method;

typedef struct qz_options {
    const char *model, *tiles, *out;
    qz_method method;
    double percentile;   /* QZ_PERCENTILE: share of each tail kept, in percent */
    int max_tiles;       /* 0: all */
    int activation_bits; /* 8 (0..255) or 7 (0..127) */
    int threads;         /* 0: all cores */
    char **keep_float;   /* Conv node names left in float32 */
    int n_keep_float;
    int input_convs;     /* 1: quantise the Convs reading the image input too */
    int force, quiet;
} qz_options;

/* "minmax", "percentile", "entropy" -> *out; -1 for other names. */
int qz_method_parse(const char *name, qz_method *out);
const char *qz_method_name(qz_method m);

/* The program's exit status: 0 written; 1 written, but some calibration
 * images failed (named on stderr); 2 nothing written (unusable model, tiles
 * or output; the reason on stderr); 3 interrupted (SIGINT, SIGTERM), nothing
 * written. */
int qz_run(const qz_options *o);

#endif
