/* unet-tile: cuts scenes (images + colour masks) into training tiles with
 * index masks, assigns whole scenes to cross-validation folds balanced by
 * pixel count, and reports class frequencies per fold.
 *
 * Flow: gather pairs (scene folders, a --pairs list, or georeferenced images
 * with --labels) -> check names -> per pair: read, map mask colours to class
 * ids (or burn the vector labels, geo_labels.h), cut windows, write tiles ->
 * folds by scene -> folds.tsv, classes.tsv, stats.tsv, report. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <unet/image.h>
#include <unet/palette.h>
#include <unet/tiling.h>
#include <unet/unet.h>

#include "cli_alloc.h"
#include "cli_files.h"
#include "cli_number.h"
#include "tile_job.h"


/* ---- command line ----------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: unet-tile SCENES... -o TILES [options]\n"
        "       unet-tile --pairs FILE -o TILES [options]\n"
        "       unet-tile IMAGE... --labels VECTORS --label-field NAME -o TILES [options]\n"
        "\n"
        "Cuts scenes into square training tiles with index masks and assigns whole\n"
        "scenes to cross-validation folds.\n"
        "\n"
        "A scene is a folder holding images/ and masks/; a mask pairs with the image\n"
        "of the same file stem (images/a.jpg <-> masks/a.png). SCENES may be scene\n"
        "folders or folders with scene folders below them (such as the data set\n"
        "root). Colour masks (RGB or palette PNG) are mapped to class ids by colour.\n"
        "\n"
        "Options:\n"
        "  -o, --out TILES        output folder (required)\n"
        "  --tile N               tile size in pixels (default 256)\n"
        "  --overlap N            overlap between neighbouring tiles, 0..N-1\n"
        "                         (default 0; stride = tile - overlap)\n"
        "  --drop-partial         drop windows that reach past the image edge\n"
        "  --align-edges          move the last window of a row/column back to end at\n"
        "                         the image edge (no padding, more overlap there)\n"
        "                         Default: windows stay on the stride grid and the\n"
        "                         ragged edge is padded: picture with black (0),\n"
        "                         mask with the ignore label 255.\n"
        "  --palette FILE         classes.tsv (ID<TAB>NAME<TAB>#RRGGBB); default: the\n"
        "                         Dubai aerial palette (Building, Land, Road,\n"
        "                         Vegetation, Water, Unlabeled)\n"
        "  --ignore-colors LIST   comma-separated #RRGGBB mask colours that mean \"not\n"
        "                         annotated\" -> label 255, or \"none\" (default #000000)\n"
        "  --unknown-colors error|ignore\n"
        "                         a mask colour outside the palette fails that pair\n"
        "                         (default) or becomes label 255 with a warning\n"
        "  --folds K              number of folds (default min(5, scenes)); whole\n"
        "                         scenes go to folds balanced by labelled tile pixels,\n"
        "                         greedily (heaviest scene to the lightest fold)\n"
        "  --seed S               breaks ties in the fold assignment (default 0)\n"
        "  --test-scenes LIST     comma-separated scene names held out as fold \"test\"\n"
        "  --pairs FILE           IMAGE<TAB>MASK<TAB>SCENE lines (paths relative to\n"
        "                         FILE's folder); may be combined with SCENES\n"
        "  --labels FILE          GIS labels (needs a build with GDAL): IMAGE arguments\n"
        "                         are georeferenced rasters (GeoTIFF, ...), each its\n"
        "                         own scene, and FILE holds polygons (GeoPackage,\n"
        "                         GeoJSON, ...) whose --label-field value is a class\n"
        "                         name of the palette (any case) or a class id. They\n"
        "                         are reprojected to the image's CRS when theirs\n"
        "                         differs and burnt onto its grid: a pixel takes the\n"
        "                         class of the last polygon covering its centre;\n"
        "                         uncovered and nodata pixels get 255. Classes\n"
        "                         outside the palette follow --unknown-colors.\n"
        "  --label-field NAME     the attribute holding the class (default class)\n"
        "  --bands LIST, --stretch minmax|p2-98|none\n"
        "                         bands of IMAGE and their scaling to 8 bits, as in\n"
        "                         unet-infer (default 1,2,3; none for 8-bit, p2-98\n"
        "                         otherwise)\n"
        "  --json                 print a JSON summary to stdout\n"
        "  --json-file PATH       write the JSON summary to PATH\n"
        "  --force                replace tiles from an earlier run in TILES\n"
        "  -q, --quiet            only errors on stderr\n"
        "  -h, --help             this text\n"
        "  --version              print the version\n"
        "\n"
        "Output:\n"
        "  TILES/images/NAME.png  RGB tile\n"
        "  TILES/masks/NAME.png   8-bit palette PNG, value = class id, 255 = ignore\n"
        "                         (shown black)\n"
        "  TILES/folds.tsv        NAME<TAB>SCENE<TAB>FOLD (FOLD = 0..K-1 or test)\n"
        "  TILES/classes.tsv      the palette\n"
        "  TILES/stats.tsv        per split (fold, test, all): scenes, tiles, labelled\n"
        "                         and ignored pixels, pixels per class\n"
        "NAME = SCENE-SLUG__IMAGE-STEM__yYYYY_xXXXX (window origin), for example\n"
        "tile-1__image_part_001__y0000_x0256. Tiles without any labelled pixel are\n"
        "not written.\n"
        "\n"
        "Exit status: 0 all done, 1 some inputs failed (the rest was tiled),\n"
        "2 bad usage.\n");
}

int main(int argc, char **argv)
{
    cli_alloc_program(PROG);
    settings st;
    memset(&st, 0, sizeof st);
    st.tile = 256;
    st.mode = UNET_TILING_PAD;
    st.unknown = UNET_UNKNOWN_COLOR_ERROR;
    const char *palette_path = NULL, *ignore_colors = "#000000", *test_scenes = NULL, *pairs_path = NULL;
    const char *json_file = NULL;
    int k_folds = 0, force = 0, json = 0, drop_partial = 0, align_edges = 0;
    uint64_t seed = 0;

    enum { O_TILE = 256, O_OVERLAP, O_PALETTE, O_DROP, O_ALIGN, O_UNKNOWN, O_IGNORE, O_FOLDS, O_SEED, O_TEST,
           O_PAIRS, O_QUIET, O_FORCE, O_JSON, O_JSON_FILE, O_VERSION, O_LABELS, O_LABEL_FIELD, O_BANDS,
           O_STRETCH };
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"tile", required_argument, NULL, O_TILE},
        {"overlap", required_argument, NULL, O_OVERLAP},
        {"palette", required_argument, NULL, O_PALETTE},
        {"drop-partial", no_argument, NULL, O_DROP},
        {"align-edges", no_argument, NULL, O_ALIGN},
        {"unknown-colors", required_argument, NULL, O_UNKNOWN},
        {"ignore-colors", required_argument, NULL, O_IGNORE},
        {"folds", required_argument, NULL, O_FOLDS},
        {"seed", required_argument, NULL, O_SEED},
        {"test-scenes", required_argument, NULL, O_TEST},
        {"pairs", required_argument, NULL, O_PAIRS},
        {"quiet", no_argument, NULL, O_QUIET},
        {"force", no_argument, NULL, O_FORCE},
        {"json", no_argument, NULL, O_JSON},
        {"json-file", required_argument, NULL, O_JSON_FILE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, O_VERSION},
        {"labels", required_argument, NULL, O_LABELS},
        {"label-field", required_argument, NULL, O_LABEL_FIELD},
        {"bands", required_argument, NULL, O_BANDS},
        {"stretch", required_argument, NULL, O_STRETCH},
        {NULL, 0, NULL, 0},
    };
    int c;
    int folds_given = 0;
    while ((c = getopt_long(argc, argv, "o:hq", opts, NULL)) != -1) {
        switch (c) {
        case 'o': st.out = optarg; break;
        case O_TILE:
            if (cli_int_option(PROG, "--tile", optarg, 1, 4096, &st.tile)) return 2;
            break;
        case O_OVERLAP:
            if (cli_int_option(PROG, "--overlap", optarg, 0, 4095, &st.overlap)) return 2;
            break;
        case O_PALETTE: palette_path = optarg; break;
        case O_DROP: drop_partial = 1; break;
        case O_ALIGN: align_edges = 1; break;
        case O_UNKNOWN:
            if (!strcmp(optarg, "error")) st.unknown = UNET_UNKNOWN_COLOR_ERROR;
            else if (!strcmp(optarg, "ignore")) st.unknown = UNET_UNKNOWN_COLOR_IGNORE;
            else {
                tile_err("--unknown-colors wants error or ignore, got '%s'", optarg);
                return 2;
            }
            break;
        case O_IGNORE: ignore_colors = optarg; break;
        case O_FOLDS:
            if (cli_int_option(PROG, "--folds", optarg, 1, 1000, &k_folds)) return 2;
            folds_given = 1;
            break;
        case O_SEED: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-') {
                tile_err("--seed wants a non-negative integer, got '%s'", optarg);
                return 2;
            }
            seed = v;
            break;
        }
        case O_TEST: test_scenes = optarg; break;
        case O_PAIRS: pairs_path = optarg; break;
        case 'q':
        case O_QUIET: tile_quiet = 1; break;
        case O_FORCE: force = 1; break;
        case O_JSON: json = 1; break;
        case O_JSON_FILE: json_file = optarg; break;
        case 'h': usage(stdout); return 0;
        case O_VERSION: printf("unet-tile %s\n", UNET_VERSION_STRING); return 0;
        case O_LABELS: st.labels = optarg; break;
        case O_LABEL_FIELD: st.label_field = optarg; break;
        case O_BANDS: {
            char why[200];
            if (geo_parse_bands(optarg, &st.geo, why, sizeof why)) {
                tile_err("%s", why);
                return 2;
            }
            break;
        }
        case O_STRETCH:
            if (geo_parse_stretch(optarg, &st.geo.stretch)) {
                tile_err("--stretch wants minmax, p2-98 or none, got '%s'", optarg);
                return 2;
            }
            break;
        default: usage(stderr); return 2;
        }
    }
    if (!st.out) {
        tile_err("-o TILES is required");
        usage(stderr);
        return 2;
    }
    if (optind >= argc && !pairs_path) {
        tile_err("no input: give scene folders or --pairs FILE");
        usage(stderr);
        return 2;
    }
    if (st.overlap >= st.tile) {
        tile_err("--overlap %d must be smaller than --tile %d", st.overlap, st.tile);
        return 2;
    }
    if ((st.labels || st.label_field || st.geo.n_bands || st.geo.stretch) && !geo_available()) {
        tile_err("--labels, --label-field, --bands, --stretch: %s", geo_enable_hint());
        return 2;
    }
    if ((st.label_field || st.geo.n_bands || st.geo.stretch) && !st.labels) {
        tile_err("--label-field, --bands and --stretch go with --labels");
        return 2;
    }
    if (!st.label_field) st.label_field = "class";
    if (drop_partial && align_edges) {
        tile_err("--drop-partial and --align-edges exclude each other");
        return 2;
    }
    if (drop_partial) st.mode = UNET_TILING_DROP_PARTIAL;
    if (align_edges) st.mode = UNET_TILING_ALIGN_EDGE;

    if (palette_path) {
        if (unet_palette_read(palette_path, &st.palette) != UNET_OK) {
            tile_err("--palette: %s", unet_last_error());
            return 2;
        }
    } else {
        unet_palette_default(&st.palette);
    }
    if (unet_palette_set_ignore_list(&st.palette, ignore_colors) != UNET_OK) {
        tile_err("--ignore-colors: %s", unet_last_error());
        return 2;
    }
    unet_palette_png_colors(&st.palette, st.png_palette);

    double t0 = tile_now_seconds();
    job j;
    memset(&j, 0, sizeof j);
    scene_pairs found = { PROG, tile_quiet, NULL, 0, NULL, 0, 0 };
    for (int i = optind; i < argc; i++) {
        if (st.labels && cli_is_file(argv[i])) { /* a georeferenced image: its own scene */
            char *stem = scene_pairs_stem(argv[i]);
            scene_pairs_add(&found, argv[i], st.labels, scene_pairs_add_scene(&found, stem, NULL), NULL);
            found.pairs[found.n_pairs - 1].tag = 1;
            free(stem);
        } else if (!cli_is_dir(argv[i])) {
            tile_err("%s: not a folder%s", argv[i], st.labels ? "" : " (a georeferenced image needs --labels FILE)");
            j.input_failures++;
        } else if (scene_pairs_find(&found, argv[i]) == 0) {
            tile_err("%s: no scene folder (one holding images/ and masks/) at or below it", argv[i]);
            j.input_failures++;
        }
    }
    if (pairs_path && scene_pairs_read_file(&found, pairs_path)) {
        scene_pairs_free(&found);
        tile_free_job(&j);
        return 2;
    }
    tile_take_pairs(&j, &found);
    scene_pairs_free(&found);
    tile_finish_gathering(&j);
    if (test_scenes && tile_mark_test_scenes(&j, test_scenes)) {
        tile_free_job(&j);
        return 2;
    }
    if (j.n_pairs == 0) {
        tile_err("no image/mask pairs found");
        int rc = j.input_failures ? 1 : 2;
        tile_free_job(&j);
        return rc;
    }
    for (int i = 0; i < j.n_scenes; i++)
        for (const char *p = j.scenes[i].name; *p; p++)
            if (*p == '\t' || *p == '\n' || *p == '\r') {
                tile_err("scene name '%s' holds a tab or line break; it cannot go into folds.tsv", j.scenes[i].name);
                tile_free_job(&j);
                return 2;
            }

    int prep = tile_prepare_out(st.out, force);
    if (prep) {
        tile_free_job(&j);
        return prep == -2 ? 2 : 1;
    }

    int progress = !tile_quiet && isatty(STDERR_FILENO);
    size_t n_failed = 0;
    for (size_t i = 0; i < j.n_pairs; i++) {
        pair *p = &j.pairs[i];
        if (progress) {
            fprintf(stderr, "\r\033[K[%zu/%zu] %s/%s", i + 1, j.n_pairs, j.scenes[p->scene].name, p->stem);
            fflush(stderr);
        }
        if (!p->failed && tile_cut_pair(&j, p, &st) != 0) p->failed = 1;
        if (p->failed) {
            if (progress) fprintf(stderr, "\n");
            n_failed++;
        } else {
            j.scenes[p->scene].n_done++;
        }
    }
    if (progress) fprintf(stderr, "\r\033[K");

    for (int i = 0; i < j.n_scenes; i++)
        if (j.scenes[i].n_pairs && !j.scenes[i].tiles)
            tile_warn("scene '%s' gave no tiles; it is in no fold", j.scenes[i].name);
    k_folds = tile_assign_folds(&j, folds_given ? k_folds : 5, folds_given, seed);

    int out_failed = 0;
    char *classes_path = cli_xasprintf("%s/classes.tsv", st.out);
    if (unet_palette_write(&st.palette, classes_path) != UNET_OK) {
        tile_err("%s", unet_last_error());
        out_failed = 1;
    }
    free(classes_path);
    if (tile_write_folds(&j, st.out)) out_failed = 1;
    int n_splits;
    split *sp = tile_make_splits(&j, k_folds, &n_splits);
    if (tile_write_stats(sp, n_splits, &st.palette, st.out)) out_failed = 1;

    if (!tile_quiet) {
        fprintf(stderr, PROG ": %zu tile(s) of %dx%d from %zu of %zu pair(s) in %d scene(s) -> %s\n", j.n_tiles,
                st.tile, st.tile, j.n_pairs - n_failed, j.n_pairs, j.n_scenes, st.out);
        if (j.skipped_empty) fprintf(stderr, PROG ": %zu tile(s) without labelled pixels not written\n", j.skipped_empty);
        tile_print_stats(sp, n_splits, &st.palette);
    }
    if (json || json_file) {
        char *text = tile_summary_json(&j, &st, sp, n_splits, k_folds, seed, n_failed, tile_now_seconds() - t0);
        if (!text) {
            tile_err("--json: out of memory");
            out_failed = 1;
        }
        if (text && json) fputs(text, stdout);
        if (text && json_file && tile_write_file_atomic(json_file, text, strlen(text))) out_failed = 1;
        free(text);
    }
    free(sp);

    int failed = n_failed > 0 || j.input_failures > 0 || out_failed;
    if (failed && !tile_quiet)
        fprintf(stderr, PROG ": %zu pair(s) failed, %d input(s) could not be listed%s\n", n_failed,
                j.input_failures, out_failed ? ", some outputs could not be written" : "");

    tile_free_job(&j);
    return failed ? 1 : 0;
}

