/* unet-train --cv/--grid/--budget under mpirun -np 2 (the runs shared out
 * over the ranks), on tiny synthetic tiles (unet-synth -> unet-tile, 32x32):
 *  - "grid": a 2-fold x 2-configuration grid under 2 ranks ranks the same
 *    configurations in the same order with the same per-run validation mIoU
 *    and macro F1 (within 1e-6; one thread per run, so in fact exactly) as
 *    one process; run i (configuration's grid place x 2 + fold) says rank
 *    i mod 2 trained it, so each rank trained half; the counters add up over
 *    the ranks. The retrain, data-parallel over both ranks (--batch 2),
 *    exports weights within 1e-5 (relative L2) of one process's; with
 *    --batch 3 rank 0 retrains alone and the weights are bit-identical. A
 *    run that cannot be written on rank 1 ends both ranks with rank 1's
 *    message, within a deadline (no rank hangs in the exchange).
 *  - "budget": successive halving with 3 configurations x 3 folds under 2
 *    ranks: every rung's runs are on the ranks the static share says; the
 *    configurations going on are the best half by mean validation mIoU
 *    recomputed here from the result files of both ranks (so both ranks chose
 *    alike: each trained its share of the survivors); continued runs carry on
 *    from the rung before, also across ranks; the table ranks the survivor
 *    first and the retrain is of it.
 * Usage: test_mpi_cv grid|budget; programs from UNET_TRAIN, UNET_SYNTH,
 * UNET_TILE and MPIRUN. */
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

#include <unet/unet.h>

#include "tool_run.h"
#include "weights_compare.h"

static const char *train_exe, *synth_exe, *tile_exe, *mpirun_exe;

/* Three 64x64 scenes cut into 32x32 tiles: folds 0..folds-1, and scene 3 as
 * fold "test" when there are 2 folds. */
static void make_cv_tiles(int folds)
{
    const tiles_recipe recipe = {.scenes = 3, .scene_size = 64, .tile = 32, .folds = folds,
                                 .test_scenes = folds == 2 ? "scene-3" : NULL};
    make_tiles(synth_exe, tile_exe, &recipe);
}

/* ---- reading the outputs ------------------------------------------------------- */

static const search_run *find_run(const search_run *runs, int n, const char *label, int fold,
                                int rung)
{
    for (int i = 0; i < n; i++)
        if (runs[i].fold == fold && runs[i].rung == rung && strcmp(runs[i].label, label) == 0)
            return &runs[i];
    return NULL;
}

/* The labels of the CSV table's rows, in order. */
static int csv_labels(const char *path, char labels[][100], int max)
{
    char *t = slurp(path, NULL);
    assert_non_null(t);
    int n = 0;
    char *save = NULL;
    strtok_r(t, "\n", &save); /* header */
    for (char *line; (line = strtok_r(NULL, "\n", &save));) {
        assert_true(n < max);
        int rank;
        assert_int_equal(sscanf(line, "%d,\"%99[^\"]\"", &rank, labels[n]), 2);
        assert_int_equal(rank, n + 1);
        n++;
    }
    free(t);
    return n;
}

/* ---- grid: 2 ranks = 1 process ------------------------------------------------ */

static const char *const grid_labels[2] = {"filters=2", "filters=4"};

static int grid_place(const char *label)
{
    for (int c = 0; c < 2; c++)
        if (strcmp(label, grid_labels[c]) == 0)
            return c;
    fail_msg("unexpected configuration %s", label);
    return -1;
}

/* The same grid search in one process and under 2 ranks (stems TAG1, TAG2). */
static void grid_pair(const char *tag, const char *batch, const char *epochs)
{
    char out[2][64], json[2][64], name[2][64];
    for (int m = 0; m < 2; m++) {
        FMT(out[m], sizeof out[m], "%s%d.onnx", tag, m + 1);
        FMT(json[m], sizeof json[m], "%s%d.json", tag, m + 1);
        FMT(name[m], sizeof name[m], "%s-np%d", tag, m + 1);
        const char *args[] = {tmp_file("tiles"), "-o", tmp_file(out[m]), "--grid",
                              "filters=2,4", "--depth", "2", "--cv", "2", "--batch", batch,
                              "--epochs", epochs, "--threads", "1", "--seed", "0",
                              "--no-augment", "--json-file", tmp_file(json[m]), NULL};
        const char *argv[RUN_ARGV_MAX];
        run_argv(argv, m + 1, train_exe, args);
        run_expect(name[m], argv, 0);
    }
}

static void compare_grid(const char *tag, int dp_retrain)
{
    char p[4][80];
    FMT(p[0], sizeof p[0], "%s1.search", tag);
    FMT(p[1], sizeof p[1], "%s2.search", tag);
    search_run one[16], two[16];
    const int n1 = read_search_runs(tmp_file(p[0]), one, 16);
    const int n2 = read_search_runs(tmp_file(p[1]), two, 16);
    assert_int_equal(n1, 5); /* 2 x 2 + the retrain */
    assert_int_equal(n2, 5);
    int per_rank[2] = {0, 0};
    double worst = 0;
    for (int i = 0; i < n2; i++) {
        const search_run *a = find_run(one, n1, two[i].label, two[i].fold, two[i].rung);
        assert_non_null(a);
        assert_string_equal(a->dir, two[i].dir); /* the same run, the same folder name */
        if (two[i].fold < 0) {
            /* The retrain: rank 0 writes it; data-parallel or rank 0 alone. */
            assert_int_equal(two[i].rank, 0);
            assert_int_equal(two[i].processes, dp_retrain ? 2 : 1);
            continue;
        }
        const int run = grid_place(two[i].label) * 2 + two[i].fold;
        assert_int_equal(two[i].rank, run % 2);
        assert_int_equal(two[i].processes, 1);
        per_rank[two[i].rank]++;
        assert_int_equal(a->rank, 0);
        const double dm = fabs(a->miou - two[i].miou), df = fabs(a->f1 - two[i].f1);
        if (!(dm <= 1e-6 && df <= 1e-6))
            fail_msg("%s: val mIoU %.9g / %.9g, macro F1 %.9g / %.9g (1 / 2 ranks)", two[i].dir,
                     a->miou, two[i].miou, a->f1, two[i].f1);
        worst = fmax(worst, fmax(dm, df));
        assert_true(two[i].steps == a->steps);
    }
    assert_int_equal(per_rank[0], 2);
    assert_int_equal(per_rank[1], 2);

    /* The same table: configurations, order, mean mIoU (the summary keeps 17 digits). */
    char l1[4][100], l2[4][100];
    FMT(p[2], sizeof p[2], "%s1.grid.csv", tag);
    FMT(p[3], sizeof p[3], "%s2.grid.csv", tag);
    assert_int_equal(csv_labels(tmp_file(p[2]), l1, 4), 2);
    assert_int_equal(csv_labels(tmp_file(p[3]), l2, 4), 2);
    FMT(p[2], sizeof p[2], "%s1.json", tag);
    FMT(p[3], sizeof p[3], "%s2.json", tag);
    char *s1 = slurp(tmp_file(p[2]), NULL), *s2 = slurp(tmp_file(p[3]), NULL);
    assert_non_null(s1);
    assert_non_null(s2);
    const char *r1 = strstr(s1, "\"ranking\":"), *r2 = strstr(s2, "\"ranking\":");
    assert_non_null(r1);
    assert_non_null(r2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(l1[i], l2[i]);
        char a[100], b[100];
        json_scan_string(r1, "label", a, sizeof a);
        json_scan_string(r2, "label", b, sizeof b);
        assert_string_equal(a, l1[i]);
        assert_string_equal(b, l2[i]);
        assert_true(
            fabs(json_scan_number(r1, "miou_mean") - json_scan_number(r2, "miou_mean")) <= 1e-6);
        r1 = strstr(r1, "\"folds\":[");
        r2 = strstr(r2, "\"folds\":[");
        assert_non_null(r1);
        assert_non_null(r2);
        r1++;
        r2++;
    }
    /* Every rank's runs counted once. */
    assert_int_equal((int)json_scan_number(s2, "ranks"), 2);
    assert_int_equal((int)json_scan_number(s2, "runs"), 5);
    assert_int_equal((int)json_scan_number(s2, "runs_trained"), 5);
    assert_int_equal((int)json_scan_number(s2, "runs_skipped"), 0);
    free(s1);
    free(s2);
    printf("%s: 2 ranks ranked %s, %s as 1 process (largest per-run difference %.3g); "
           "2 runs per rank\n",
           tag, l2[0], l2[1], worst);
}

static void test_grid(void **state)
{
    (void)state;
    make_cv_tiles(2);
    /* --batch 2: the retrain is data-parallel over both ranks. */
    grid_pair("g", "2", "4");
    compare_grid("g", 1);
    int same;
    const double d = weights_relative_difference(tmp_file("g1.onnx"), tmp_file("g2.onnx"), &same);
    printf("data-parallel retrain: relative weight difference to 1 process %.3g\n", d);
    assert_true(d <= 1e-5);

    /* --batch 3 does not split over 2 ranks: rank 0 retrains alone, exactly. */
    grid_pair("h", "3", "2");
    compare_grid("h", 0);
    weights_relative_difference(tmp_file("h1.onnx"), tmp_file("h2.onnx"), &same);
    assert_true(same);

    /* A run rank 1 cannot write (a file where its folder goes): both ranks stop
     * with rank 1's message, in time; no model. */
    char bad[400];
    const search_run *victim = NULL;
    search_run runs[16];
    const int n = read_search_runs(tmp_file("g1.search"), runs, 16);
    victim = find_run(runs, n, "filters=4", 1, 0); /* run 3: rank 1 */
    assert_non_null(victim);
    assert_int_equal(mkdir(tmp_file("f.search"), 0755), 0);
    FMT(bad, sizeof bad, "%s/%s", tmp_file("f.search"), victim->dir);
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fclose(f);
    const char *args[] = {tmp_file("tiles"), "-o", tmp_file("f.onnx"), "--grid", "filters=2,4",
                          "--depth", "2", "--cv", "2", "--batch", "2", "--epochs", "4",
                          "--threads", "1", "--seed", "0", "--no-augment", NULL};
    const char *argv[RUN_ARGV_MAX];
    run_argv(argv, 2, train_exe, args);
    run_expect("fail", argv, 1);
    char *err = slurp(tmp_file("fail.err"), NULL);
    assert_non_null(err);
    const char *e = strstr(err, "error: rank 1: ");
    if (!e || !strstr(e, victim->dir))
        fail_msg("no error from rank 1 naming %s:\n%s", victim->dir, err);
    /* Said once (rank 0), not by every rank. */
    assert_null(strstr(e + 1, "error: rank 1: "));
    free(err);
    struct stat st;
    assert_int_equal(stat(tmp_file("f.onnx"), &st), -1);
}

/* ---- budget: successive halving over 2 ranks ------------------------------------ */

static void test_budget(void **state)
{
    (void)state;
    make_cv_tiles(3);
    /* 3 configurations: R = 3 rungs; S = 4 / 4 = 1 s per rung and for the retrain. */
    const char *labels[3] = {"filters=2", "filters=4", "filters=8"};
    const char *args[] = {tmp_file("tiles"), "-o", tmp_file("b.onnx"), "--grid",
                          "filters=2,4,8", "--depth", "1", "--budget", "4", "--epochs",
                          "100000", "--batch", "3", "--threads", "1", "--no-augment",
                          "--json-file", tmp_file("b.json"), NULL};
    const char *argv[RUN_ARGV_MAX];
    run_argv(argv, 2, train_exe, args);
    run_expect("budget", argv, 0);
    char *sum = slurp(tmp_file("b.json"), NULL);
    assert_non_null(sum);
    assert_int_equal((int)json_scan_number(sum, "rungs"), 3);
    assert_int_equal((int)json_scan_number(sum, "folds"), 3);
    assert_int_equal((int)json_scan_number(sum, "ranks"), 2);
    search_run runs[32];
    const int n = read_search_runs(tmp_file("b.search"), runs, 32);
    assert_int_equal(n, 9 + 6 + 3 + 1);

    int alive[3] = {1, 1, 1}, n_alive = 3, across = 0, continued = 0;
    for (int r = 0; r < 3; r++) {
        /* This rung's runs: the live configurations in grid order x 3 folds,
         * run i on rank i mod 2. */
        double mean[3] = {0, 0, 0}, f1[3] = {0, 0, 0};
        int place = 0, count = 0;
        for (int c = 0; c < 3; c++) {
            if (!alive[c]) {
                for (int fold = 0; fold < 3; fold++)
                    assert_null(find_run(runs, n, labels[c], fold, r));
                continue;
            }
            for (int fold = 0; fold < 3; fold++) {
                const search_run *x = find_run(runs, n, labels[c], fold, r);
                if (!x)
                    fail_msg("rung %d has no run of %s on fold %d", r, labels[c], fold);
                assert_int_equal(x->rank, (place * 3 + fold) % 2);
                mean[c] += x->miou / 3;
                f1[c] += x->f1 / 3;
                count++;
                const search_run *prev = r ? find_run(runs, n, labels[c], fold, r - 1) : NULL;
                if (prev && strcmp(prev->end, "time_budget") == 0) {
                    /* Continued from the rung before, perhaps written by the other rank. */
                    assert_true(x->sessions == prev->sessions + 1);
                    assert_true(x->steps >= prev->steps);
                    continued++;
                    across += x->rank != prev->rank;
                }
            }
            place++;
        }
        assert_int_equal(count, n_alive * 3);
        if (r == 2)
            break;
        /* The best ceil(n/2) by mean mIoU (ties: macro F1, grid order) go on. */
        const int keep = (n_alive + 1) / 2;
        int next[3] = {0, 0, 0};
        for (int k = 0; k < keep; k++) {
            int best = -1;
            for (int c = 0; c < 3; c++)
                if (alive[c] && !next[c] &&
                    (best < 0 || mean[c] > mean[best] ||
                     (mean[c] == mean[best] && f1[c] > f1[best])))
                    best = c;
            next[best] = 1;
        }
        memcpy(alive, next, sizeof alive);
        n_alive = keep;
    }
    int winner = -1;
    for (int c = 0; c < 3; c++)
        if (alive[c])
            winner = c;
    char table[3][100];
    assert_int_equal(csv_labels(tmp_file("b.grid.csv"), table, 3), 3);
    assert_string_equal(table[0], labels[winner]);
    const search_run *fin = find_run(runs, n, labels[winner], -1, 0);
    assert_non_null(fin);
    assert_int_equal(fin->processes, 1); /* --batch 3: rank 0 alone */
    assert_int_equal((int)json_scan_number(sum, "runs"), 19);
    free(sum);
    printf("budget: %s won; %d runs continued from the rung before, %d of them on the other "
           "rank\n",
           labels[winner], continued, across);
}

static int setup(void **state)
{
    (void)state;
    train_exe = getenv("UNET_TRAIN");
    synth_exe = getenv("UNET_SYNTH");
    tile_exe = getenv("UNET_TILE");
    mpirun_exe = getenv("MPIRUN");
    if (!train_exe || !synth_exe || !tile_exe || !mpirun_exe)
        return -1;
    run_mpi_setup(mpirun_exe);
    /* A rank waiting for the others must not hang the test. */
    run_set_deadline(120);
    return tmp_folder_create("mpi-cv");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest grid[] = {cmocka_unit_test(test_grid)};
    const struct CMUnitTest budget[] = {cmocka_unit_test(test_budget)};
    if (argc > 1 && strcmp(argv[1], "budget") == 0)
        return cmocka_run_group_tests_name("mpi_cv_budget", budget, setup, tmp_folder_remove);
    return cmocka_run_group_tests_name("mpi_cv_grid", grid, setup, tmp_folder_remove);
}
