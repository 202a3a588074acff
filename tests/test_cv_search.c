/* unet-train --cv / --grid / --budget end to end, on tiny synthetic scenes
 * (unet-synth -> unet-tile: three 64x64 scenes cut into 32x32 tiles, scenes
 * 1 and 2 in folds 0 and 1, scene 3 held out as fold "test"):
 *  - "search": a 2-fold x 2-configuration grid completes; the ranked CSV
 *    agrees with the per-run result files (means and sample standard
 *    deviations recomputed here, order by mean mIoU); the model is exported
 *    with the search in its metadata; the test-set pixel accuracy and mIoU
 *    the search reports agree with those measured here from unet-infer's
 *    masks of the exported model; the same command again trains nothing
 *    (every run skipped, result files untouched, same table).
 *  - "resume": a search stopped with SIGTERM (exit 3) after its first run and
 *    started again ends with the per-run results and table of an
 *    uninterrupted search; the run under way resumed from its checkpoint.
 *  - "budget": successive halving with 2 configurations: rung 0 runs both on
 *    both folds for a quarter of a share each, rung 1 continues only the one
 *    with the better mean validation mIoU of rung 0 (recomputed here) from
 *    its checkpoints, with the documented time limits.
 *  - "crops": --cv with --crops-per-epoch: every run, the retrain too, has
 *    ceil(N / batch) steps per epoch (not its tiles' count) and trains them
 *    all; its run names differ from those of the same search on tiles (the
 *    crops are in the hash) but for the hash alone.
 *  - "keep": --cv with --keep-run-models: each fold's run, and no other,
 *    writes model.onnx, a model libunet loads whose masks (unet-infer) score
 *    the run's validation fold as its result.json says; without the flag no
 *    run writes one, and the runs' names are the same either way.
 * Usage: test_cv_search search|resume|budget|crops|keep; programs from UNET_TRAIN,
 * UNET_SYNTH, UNET_TILE, UNET_INFER. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <unet/image.h>
#include <unet/unet.h>

#include "json_reader.h"
#include "tool_run.h"

static const char *train_exe, *synth_exe, *tile_exe, *infer_exe;

/* Three 64x64 scenes cut into 32x32 tiles: scenes 1 and 2 in folds 0 and 1,
 * scene 3 held out as fold "test". */
static const tiles_recipe cv_tiles = {
    .scenes = 3, .scene_size = 64, .tile = 32, .folds = 2, .test_scenes = "scene-3"};

/* ---- our own reading of the CSV table ------------------------------------------- */

typedef struct csv_row {
    int rank, rung;
    char label[100];
    double miou_mean, miou_std, f1_mean, f1_std;
} csv_row;

/* The grid CSV's rows: rank,"label",...; columns found by the header. */
static int read_grid_csv(const char *path, csv_row *rows, int max)
{
    char *t = slurp(path, NULL);
    assert_non_null(t);
    char *save = NULL;
    char *line = strtok_r(t, "\n", &save);
    assert_non_null(line);
    int col_miou = -1, col_miou_std = -1, col_f1 = -1, col_f1_std = -1, c = 0;
    for (char *p = line; p; c++) {
        char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 9 && strncmp(p, "miou_mean", 9) == 0) col_miou = c;
        if (len == 8 && strncmp(p, "miou_std", 8) == 0) col_miou_std = c;
        if (len == 13 && strncmp(p, "macro_f1_mean", 13) == 0) col_f1 = c;
        if (len == 12 && strncmp(p, "macro_f1_std", 12) == 0) col_f1_std = c;
        p = comma ? comma + 1 : NULL;
    }
    assert_true(col_miou > 0 && col_miou_std > 0 && col_f1 > 0 && col_f1_std > 0);
    int n = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        assert_true(n < max);
        csv_row *r = &rows[n++];
        assert_int_equal(sscanf(line, "%d,\"%99[^\"]\"", &r->rank, r->label), 2);
        /* Fields after the quoted label hold no commas in quotes except class weights
         * ("none" here). */
        c = 0;
        for (char *p = line; p; c++) {
            if (c == col_miou) r->miou_mean = strtod(p, NULL);
            if (c == col_miou_std) r->miou_std = strtod(p, NULL);
            if (c == col_f1) r->f1_mean = strtod(p, NULL);
            if (c == col_f1_std) r->f1_std = strtod(p, NULL);
            char *comma = strchr(p, ',');
            p = comma ? comma + 1 : NULL;
        }
    }
    free(t);
    return n;
}

static void mean_std(const double *v, int n, double *mean, double *sd)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    *mean = s / n;
    double q = 0;
    for (int i = 0; i < n; i++)
        q += (v[i] - *mean) * (v[i] - *mean);
    *sd = sqrt(q / (n - 1));
}

static void assert_close(double a, double b, double tol, const char *what)
{
    if (!(fabs(a - b) <= tol))
        fail_msg("%s: %.9g vs %.9g", what, a, b);
}

/* The table agrees with the result files (the runs of each configuration's
 * highest rung): means, deviations and, within a rung, the order. */
static void check_table(const char *csv, const search_run *runs, int n_runs, int n_configs)
{
    csv_row rows[8];
    const int n = read_grid_csv(csv, rows, 8);
    assert_int_equal(n, n_configs);
    for (int i = 0; i < n; i++) {
        assert_int_equal(rows[i].rank, i + 1);
        double m[8], f[8];
        int k = 0, top = 0;
        for (int j = 0; j < n_runs; j++)
            if (runs[j].fold >= 0 && strcmp(runs[j].label, rows[i].label) == 0 &&
                runs[j].rung > top)
                top = runs[j].rung;
        rows[i].rung = top;
        for (int j = 0; j < n_runs; j++)
            if (runs[j].fold >= 0 && strcmp(runs[j].label, rows[i].label) == 0 &&
                runs[j].rung == top) {
                m[k] = runs[j].miou;
                f[k] = runs[j].f1;
                k++;
            }
        assert_int_equal(k, 2); /* two folds */
        double mm, ms, fm, fs;
        mean_std(m, k, &mm, &ms);
        mean_std(f, k, &fm, &fs);
        assert_close(rows[i].miou_mean, mm, 1e-5 * (1 + mm), "mean mIoU");
        assert_close(rows[i].miou_std, ms, 1e-5 * (1 + ms), "mIoU standard deviation");
        assert_close(rows[i].f1_mean, fm, 1e-5 * (1 + fm), "mean macro F1");
        assert_close(rows[i].f1_std, fs, 1e-5 * (1 + fs), "macro F1 standard deviation");
        if (i > 0) {
            assert_true(rows[i - 1].rung >= rows[i].rung);
            if (rows[i - 1].rung == rows[i].rung)
                assert_true(rows[i - 1].miou_mean >= rows[i].miou_mean);
        }
    }
}

/* Pixel accuracy and mIoU (over classes present in the truth) of unet-infer's
 * masks on the tiles of one fold ("test", "0", ...), of which there are n_tiles. */
static void measure_fold(const char *pred_dir, const char *which, int n_tiles, double *acc,
                         double *miou)
{
    char *folds = slurp(tmp_file("tiles/folds.tsv"), NULL);
    assert_non_null(folds);
    uint64_t cm[6][6] = {{0}};
    int tiles = 0;
    char *save = NULL;
    for (char *line = strtok_r(folds, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[200], scene[100], fold[20];
        assert_int_equal(sscanf(line, "%199[^\t]\t%99[^\t]\t%19s", name, scene, fold), 3);
        if (strcmp(fold, which) != 0)
            continue;
        char tp[700], pp[700];
        FMT(tp, sizeof tp, "%s/tiles/masks/%s.png", tmp_folder(), name);
        FMT(pp, sizeof pp, "%s/%s.png", pred_dir, name);
        unet_image t, p;
        assert_int_equal(unet_image_read(tp, UNET_IMAGE_PALETTE_INDEX, &t), UNET_OK);
        assert_int_equal(unet_image_read(pp, UNET_IMAGE_PALETTE_INDEX, &p), UNET_OK);
        assert_int_equal(t.width * t.height, p.width * p.height);
        for (int i = 0; i < t.width * t.height; i++)
            if (t.pixels[i] < 6) {
                assert_true(p.pixels[i] < 6);
                cm[t.pixels[i]][p.pixels[i]]++;
            }
        unet_image_free(&t);
        unet_image_free(&p);
        tiles++;
    }
    free(folds);
    assert_int_equal(tiles, n_tiles);
    uint64_t right = 0, total = 0;
    double iou = 0;
    int present = 0;
    for (int c = 0; c < 6; c++) {
        uint64_t row = 0, col = 0;
        for (int k = 0; k < 6; k++) {
            row += cm[c][k];
            col += cm[k][c];
        }
        right += cm[c][c];
        total += row;
        if (row) {
            iou += (double)cm[c][c] / (double)(row + col - cm[c][c]);
            present++;
        }
    }
    *acc = (double)right / (double)total;
    *miou = iou / present;
}

#define GRID_ARGS(out, json)                                                                \
    train_exe, tmp_file("tiles"), "-o", tmp_file(out), "--grid", "filters=2,4", "--depth", \
        "2", "--cv", "2", "--batch", "2", "--threads", "1", "--seed", "0", "--no-augment",  \
        "--json-file", tmp_file(json)

/* A validated run's result.json gives the best epoch's IoU per class, keyed
 * by class name, whose mean over the classes present is its val_miou; its
 * log.csv has the iou_ columns of unet-train's own log. */
static void check_class_iou(const char *search_dir, const char *run, double miou)
{
    char path[900];
    FMT(path, sizeof path, "%s/%s/result.json", search_dir, run);
    char *text = slurp(path, NULL);
    assert_non_null(text);
    json_value *j = json_parse(text);
    if (!j)
        fail_msg("%s is not JSON", path);
    const json_value *iou = json_get(j, "val_class_iou");
    static const char *const names[6] = {"Building", "Land", "Road", "Vegetation", "Water",
                                         "Unlabeled"};
    assert_int_equal(iou->type, JSON_OBJECT);
    assert_int_equal(iou->n, 6);
    double sum = 0;
    int present = 0;
    for (int k = 0; k < 6; k++) {
        if (strcmp(iou->keys[k], names[k]) != 0)
            fail_msg("%s: class %d of val_class_iou is %s, not %s", path, k, iou->keys[k], names[k]);
        const json_value *v = iou->items[k];
        if (v->type == JSON_NULL)
            continue;
        assert_int_equal(v->type, JSON_NUMBER);
        assert_true(v->number >= 0 && v->number <= 1);
        sum += v->number;
        present++;
    }
    assert_true(present > 0);
    if (!(fabs(sum / present - miou) < 1e-7))
        fail_msg("%s: mean class IoU %.9g over %d classes, val_miou %.9g", path, sum / present, present, miou);
    json_free(j);
    free(text);
    FMT(path, sizeof path, "%s/%s/log.csv", search_dir, run);
    text = slurp(path, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, ",iou_Building,iou_Land,iou_Road,iou_Vegetation,iou_Water,iou_Unlabeled\n"));
    free(text);
}

static void test_search(void **state)
{
    (void)state;
    make_tiles(synth_exe, tile_exe, &cv_tiles);
    const char *args[] = {GRID_ARGS("m.onnx", "s1.json"), "--epochs", "4", NULL};
    run_expect("search1", args, 0);
    struct stat st;
    assert_int_equal(stat(tmp_file("m.onnx"), &st), 0);
    assert_int_equal(stat(tmp_file("m.log.csv"), &st), 0);
    unet_image img;
    assert_int_equal(unet_image_read(tmp_file("m.curves.png"), UNET_IMAGE_DEFAULT, &img), UNET_OK);
    assert_true(img.width >= 480 && img.height >= 200);
    unet_image_free(&img);

    char *sum = slurp(tmp_file("s1.json"), NULL);
    assert_non_null(sum);
    assert_int_equal((int)json_scan_number(sum, "runs"), 5); /* 2 x 2 + the retrain */
    assert_int_equal((int)json_scan_number(sum, "runs_trained"), 5);
    assert_int_equal((int)json_scan_number(sum, "runs_skipped"), 0);

    search_run runs[16];
    const int n = read_search_runs(tmp_file("m.search"), runs, 16);
    assert_int_equal(n, 5);
    check_table(tmp_file("m.grid.csv"), runs, n, 2);
    for (int i = 0; i < n; i++)
        if (runs[i].fold >= 0)
            check_class_iou(tmp_file("m.search"), runs[i].dir, runs[i].miou);
    csv_row rows[4];
    read_grid_csv(tmp_file("m.grid.csv"), rows, 4);
    /* The retrain is of the winner, and the model says so. */
    int finals = 0;
    for (int i = 0; i < n; i++)
        if (runs[i].fold < 0) {
            finals++;
            assert_string_equal(runs[i].label, rows[0].label);
        }
    assert_int_equal(finals, 1);
    unet_model *model;
    assert_int_equal(unet_model_open_file(tmp_file("m.onnx"), NULL, &model), UNET_OK);
    const char *training = unet_model_metadata(model, "unet.training");
    assert_non_null(training);
    char want[200];
    FMT(want, sizeof want, "\"best\":{\"label\":\"%s\"", rows[0].label);
    assert_non_null(strstr(training, want));
    unet_model_free(model);

    /* The test scenes' scores, measured here through libunet (unet-infer). */
    const char *infer[] = {infer_exe, tmp_file("m.onnx"), tmp_file("tiles"), "-o",
                           tmp_file("pred"), "--threads", "1", "--quiet", NULL};
    run_expect("infer", infer, 0);
    double acc, miou;
    measure_fold(tmp_file("pred"), "test", 4, &acc, &miou);
    const char *test = strstr(sum, "\"test\":{");
    assert_non_null(test);
    assert_int_equal((int)json_scan_number(test, "tiles"), 4);
    assert_close(json_scan_number(test, "pixel_accuracy"), acc, 0.005, "test pixel accuracy");
    assert_close(json_scan_number(test, "miou"), miou, 0.01, "test mIoU");
    free(sum);

    /* --cv alone: the flags' configuration, per-fold scores and their mean. */
    const char *cv[] = {train_exe, tmp_file("tiles"), "-o", tmp_file("c.onnx"), "--cv", "2",
                        "--depth", "1", "--filters", "2", "--epochs", "2", "--batch", "2",
                        "--threads", "1", "--json-file", tmp_file("c.json"), NULL};
    run_expect("cv", cv, 0);
    char *cvs = slurp(tmp_file("c.json"), NULL);
    assert_non_null(cvs);
    assert_int_equal((int)json_scan_number(cvs, "configurations"), 1);
    assert_int_equal((int)json_scan_number(cvs, "folds"), 2);
    free(cvs);
    char *err = slurp(tmp_file("cv.err"), NULL);
    assert_non_null(err);
    assert_non_null(strstr(err, "fold 0: val mIoU"));
    assert_non_null(strstr(err, "fold 1: val mIoU"));
    assert_non_null(strstr(err, "mean: val mIoU"));
    free(err);
    assert_int_equal(stat(tmp_file("c.onnx"), &st), 0);

    /* The same command again: nothing trains, nothing is rewritten. */
    char *csv1 = slurp(tmp_file("m.grid.csv"), NULL);
    const char *again[] = {GRID_ARGS("m.onnx", "s2.json"), "--epochs", "4", NULL};
    run_expect("search2", again, 0);
    sum = slurp(tmp_file("s2.json"), NULL);
    assert_non_null(sum);
    assert_int_equal((int)json_scan_number(sum, "runs_skipped"), 5);
    assert_int_equal((int)json_scan_number(sum, "runs_trained"), 0);
    assert_int_equal((int)json_scan_number(sum, "runs_resumed"), 0);
    free(sum);
    search_run runs2[16];
    assert_int_equal(read_search_runs(tmp_file("m.search"), runs2, 16), 5);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (strcmp(runs[i].dir, runs2[j].dir) == 0) {
                assert_int_equal(runs[i].mtime.tv_sec, runs2[j].mtime.tv_sec);
                assert_int_equal(runs[i].mtime.tv_nsec, runs2[j].mtime.tv_nsec);
            }
    char *csv2 = slurp(tmp_file("m.grid.csv"), NULL);
    assert_string_equal(csv1, csv2);
    free(csv1);
    free(csv2);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void test_resume(void **state)
{
    (void)state;
    make_tiles(synth_exe, tile_exe, &cv_tiles);
    const char *ref[] = {GRID_ARGS("ref.onnx", "ref.json"), "--epochs", "40", NULL};
    run_expect("reference", ref, 0);

    const char *args[] = {GRID_ARGS("m.onnx", "s1.json"), "--epochs", "40", NULL};
    const pid_t pid = run_start("stopped", args);
    /* Stop it once its first run has finished and the second has written a
     * checkpoint (finished runs drop theirs). */
    int ready = 0;
    for (int waited = 0; waited < 60000 && !ready; waited += 5) {
        int done = 0, going = 0;
        DIR *d = opendir(tmp_file("m.search"));
        struct dirent *e;
        while (d && (e = readdir(d))) {
            char p[900], q[900];
            FMT(p, sizeof p, "%s/%s/result.json", tmp_file("m.search"), e->d_name);
            FMT(q, sizeof q, "%s/%s/last.ckpt", tmp_file("m.search"), e->d_name);
            done += file_exists(p);
            going += !file_exists(p) && file_exists(q);
        }
        if (d)
            closedir(d);
        ready = done >= 1 && going >= 1;
        if (!ready)
            usleep(5000);
    }
    assert_true(ready);
    kill(pid, SIGTERM);
    const int rc = run_wait(pid, "stopped");
    if (rc != 3)
        fail_msg("the stopped search exited with %d, not 3 (finished before the signal?)", rc);
    /* Runs with a checkpoint but no result: the ones to resume. */
    int pending = 0, finished = 0;
    DIR *d = opendir(tmp_file("m.search"));
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        char p[900], q[900];
        FMT(p, sizeof p, "%s/%s/result.json", tmp_file("m.search"), e->d_name);
        FMT(q, sizeof q, "%s/%s/last.ckpt", tmp_file("m.search"), e->d_name);
        finished += file_exists(p);
        pending += !file_exists(p) && file_exists(q);
    }
    closedir(d);
    assert_true(finished >= 1 && finished < 5);
    assert_int_equal(pending, 1);

    run_expect("resumed", args, 0);
    char *sum = slurp(tmp_file("s1.json"), NULL);
    assert_non_null(sum);
    assert_int_equal((int)json_scan_number(sum, "runs_skipped"), finished);
    assert_int_equal((int)json_scan_number(sum, "runs_resumed"), pending);
    assert_int_equal((int)json_scan_number(sum, "runs_trained"), 5 - finished - pending);
    free(sum);

    /* Every run ends as in the uninterrupted search (one thread: exact). */
    search_run a[16], b[16];
    const int na = read_search_runs(tmp_file("ref.search"), a, 16);
    const int nb = read_search_runs(tmp_file("m.search"), b, 16);
    assert_int_equal(na, 5);
    assert_int_equal(nb, 5);
    for (int i = 0; i < na; i++) {
        int found = 0;
        for (int j = 0; j < nb; j++)
            if (strcmp(a[i].dir, b[j].dir) == 0) {
                found = 1;
                if (a[i].fold >= 0) {
                    assert_true(a[i].miou == b[j].miou);
                    assert_true(a[i].f1 == b[j].f1);
                }
                assert_true(a[i].steps == b[j].steps);
            }
        if (!found)
            fail_msg("run %s of the reference is missing after the resume", a[i].dir);
    }
    check_table(tmp_file("m.grid.csv"), b, nb, 2);
    csv_row ra[4], rb[4];
    assert_int_equal(read_grid_csv(tmp_file("ref.grid.csv"), ra, 4), 2);
    assert_int_equal(read_grid_csv(tmp_file("m.grid.csv"), rb, 4), 2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(ra[i].label, rb[i].label);
        assert_true(ra[i].miou_mean == rb[i].miou_mean);
    }
}

static void test_budget(void **state)
{
    (void)state;
    make_tiles(synth_exe, tile_exe, &cv_tiles);
    /* 2 configurations: R = 2 rungs, S = 3 / 3 = 1 s; rung 0: 1 / (2 x 2) s per run;
     * rung 1: + 1 / (1 x 2) s, 0.75 s in all. */
    const char *args[] = {train_exe, tmp_file("tiles"), "-o", tmp_file("m.onnx"), "--grid",
                          "filters=2,4", "--depth", "1", "--budget", "3", "--epochs", "100000",
                          "--batch", "2", "--threads", "1", "--no-augment", "--json-file",
                          tmp_file("s.json"), NULL};
    run_expect("budget", args, 0);
    char *sum = slurp(tmp_file("s.json"), NULL);
    assert_non_null(sum);
    assert_int_equal((int)json_scan_number(sum, "rungs"), 2);
    assert_int_equal((int)json_scan_number(sum, "folds"), 2);
    search_run runs[16];
    const int n = read_search_runs(tmp_file("m.search"), runs, 16);
    assert_int_equal(n, 4 + 2 + 1);
    /* Rung 0: the better mean validation mIoU goes on (ties: macro F1, grid order). */
    const char *labels[2] = {"filters=2", "filters=4"};
    double m[2] = {0, 0}, f[2] = {0, 0};
    int r0 = 0;
    for (int i = 0; i < n; i++)
        if (runs[i].rung == 0 && runs[i].fold >= 0) {
            const int c = strcmp(runs[i].label, labels[0]) == 0 ? 0 : 1;
            assert_string_equal(runs[i].label, labels[c]);
            m[c] += runs[i].miou / 2;
            f[c] += runs[i].f1 / 2;
            assert_close(runs[i].time_limit, 0.25, 1e-6, "rung 0 time limit");
            r0++;
        }
    assert_int_equal(r0, 4);
    const int win = m[1] > m[0] || (m[1] == m[0] && f[1] > f[0]) ? 1 : 0;
    int r1 = 0;
    for (int i = 0; i < n; i++) {
        if (runs[i].rung == 1) {
            assert_string_equal(runs[i].label, labels[win]);
            assert_close(runs[i].time_limit, 0.75, 1e-6, "rung 1 time limit");
            /* Continued from rung 0: more steps than there, a second session. */
            for (int j = 0; j < n; j++)
                if (runs[j].rung == 0 && runs[j].fold == runs[i].fold &&
                    strcmp(runs[j].label, runs[i].label) == 0) {
                    if (strcmp(runs[j].end, "time_budget") == 0) {
                        assert_true(runs[i].steps >= runs[j].steps);
                        assert_true(runs[i].sessions == 2);
                    }
                }
            r1++;
        }
        if (runs[i].fold < 0)
            assert_string_equal(runs[i].label, labels[win]);
    }
    assert_int_equal(r1, 2);
    /* The ranking puts the survivor first. */
    check_table(tmp_file("m.grid.csv"), runs, n, 2);
    csv_row rows[4];
    assert_int_equal(read_grid_csv(tmp_file("m.grid.csv"), rows, 4), 2);
    assert_string_equal(rows[0].label, labels[win]);
    free(sum);
}

static void test_crops(void **state)
{
    (void)state;
    make_tiles(synth_exe, tile_exe, &cv_tiles);
    const char *crops[] = {train_exe, tmp_file("tiles"), "-o", tmp_file("c.onnx"), "--cv", "2",
                           "--filters", "2", "--depth", "1", "--epochs", "2", "--batch", "2",
                           "--crops-per-epoch", "6", "--threads", "1", NULL};
    run_expect("search on crops", crops, 0);
    const char *tiles[] = {train_exe, tmp_file("tiles"), "-o", tmp_file("t.onnx"), "--cv", "2",
                           "--filters", "2", "--depth", "1", "--epochs", "2", "--batch", "2",
                           "--threads", "1", NULL};
    run_expect("search on tiles", tiles, 0);
    search_run c[8], t[8];
    const int nc = read_search_runs(tmp_file("c.search"), c, 8);
    const int nt = read_search_runs(tmp_file("t.search"), t, 8);
    assert_int_equal(nc, 2 + 1); /* two folds and the retrain */
    assert_int_equal(nt, nc);
    for (int i = 0; i < nc; i++) {
        /* 6 crops in batches of 2; a fold's training scene has 4 tiles (2 steps). */
        assert_true(c[i].steps_per_epoch == 3); /* NaN when result.json lacks it */
        if (c[i].fold >= 0)
            assert_int_equal((int)c[i].steps, 2 * 3);
        int same_slug = 0;
        for (int j = 0; j < nt; j++) {
            assert_string_not_equal(c[i].dir, t[j].dir);
            /* RUN = SLUG.foldK.rR.HASH: compare all but HASH */
            const size_t lc = (size_t)(strrchr(c[i].dir, '.') - c[i].dir);
            const size_t lt = (size_t)(strrchr(t[j].dir, '.') - t[j].dir);
            if (lc == lt && strncmp(c[i].dir, t[j].dir, lc) == 0) {
                same_slug++;
                if (t[j].fold >= 0)
                    assert_true(t[j].steps_per_epoch == 2);
            }
        }
        assert_int_equal(same_slug, 1);
    }
}

static void test_keep(void **state)
{
    (void)state;
    make_tiles(synth_exe, tile_exe, &cv_tiles);
#define KEEP_ARGS(out)                                                                       \
    train_exe, tmp_file("tiles"), "-o", tmp_file(out), "--cv", "2", "--filters", "4",       \
        "--depth", "2", "--epochs", "3", "--batch", "2", "--no-augment", "--threads", "1"
    const char *keep[] = {KEEP_ARGS("k.onnx"), "--keep-run-models", NULL};
    run_expect("search keeping run models", keep, 0);
    const char *plain[] = {KEEP_ARGS("p.onnx"), NULL};
    run_expect("search without", plain, 0);
    search_run k[8], p[8];
    const int nk = read_search_runs(tmp_file("k.search"), k, 8);
    assert_int_equal(nk, 2 + 1); /* two folds and the retrain */
    assert_int_equal(read_search_runs(tmp_file("p.search"), p, 8), nk);
    for (int j = 0; j < nk; j++) {
        char plain_model[900];
        FMT(plain_model, sizeof plain_model, "%s/%s/model.onnx", tmp_file("p.search"), p[j].dir);
        assert_int_equal(access(plain_model, F_OK), -1);
    }
    int folds_seen = 0;
    for (int i = 0; i < nk; i++) {
        char model[900], pred[900], fold[8];
        FMT(model, sizeof model, "%s/%s/model.onnx", tmp_file("k.search"), k[i].dir);
        int same_name = 0;
        for (int j = 0; j < nk; j++)
            same_name += strcmp(k[i].dir, p[j].dir) == 0;
        assert_int_equal(same_name, 1);
        if (k[i].fold < 0) {
            assert_int_equal(access(model, F_OK), -1); /* the retrain is MODEL itself */
            continue;
        }
        folds_seen++;
        unet_model *m = NULL;
        if (unet_model_open_file(model, NULL, &m) != UNET_OK)
            fail_msg("%s: %s", model, unet_last_error());
        const char *training = unet_model_metadata(m, "unet.training");
        assert_non_null(training);
        assert_non_null(strstr(training, k[i].dir)); /* the run's result.json */
        unet_model_free(m);
        FMT(pred, sizeof pred, "pred-fold%d", k[i].fold);
        const char *infer[] = {infer_exe, model, tmp_file("tiles"), "-o", tmp_file(pred),
                               "--threads", "1", "--quiet", NULL};
        run_expect("infer with a run's model", infer, 0);
        FMT(fold, sizeof fold, "%d", k[i].fold);
        double acc, miou;
        measure_fold(tmp_file(pred), fold, 4, &acc, &miou);
        /* The runtime's fp32 kernels are not the trainer's: a few pixels may flip. */
        assert_close(k[i].miou, miou, 0.01, "a kept run model's validation mIoU");
    }
    assert_int_equal(folds_seen, 2);
#undef KEEP_ARGS
}

static int setup(void **state)
{
    (void)state;
    train_exe = getenv("UNET_TRAIN");
    synth_exe = getenv("UNET_SYNTH");
    tile_exe = getenv("UNET_TILE");
    infer_exe = getenv("UNET_INFER");
    if (!train_exe || !synth_exe || !tile_exe || !infer_exe)
        return -1;
    return tmp_folder_create("cv");
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "search";
    struct CMUnitTest t;
    if (strcmp(which, "resume") == 0)
        t = (struct CMUnitTest)cmocka_unit_test(test_resume);
    else if (strcmp(which, "budget") == 0)
        t = (struct CMUnitTest)cmocka_unit_test(test_budget);
    else if (strcmp(which, "crops") == 0)
        t = (struct CMUnitTest)cmocka_unit_test(test_crops);
    else if (strcmp(which, "keep") == 0)
        t = (struct CMUnitTest)cmocka_unit_test(test_keep);
    else
        t = (struct CMUnitTest)cmocka_unit_test(test_search);
    const struct CMUnitTest tests[] = {t};
    return cmocka_run_group_tests(tests, setup, tmp_folder_remove);
}
