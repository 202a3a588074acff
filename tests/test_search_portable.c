/* A --budget search carried to another machine with only its small files
 * (what tools/search/scene-search.sh keeps in git): each run's result.json
 * and log.csv, no checkpoints, the tiles at another path, the search under
 * another output stem.
 *  - The run folders' names (hashes of configuration, settings and split
 *    sizes) do not depend on the tiles' or the output's path: the rung-0 runs
 *    are found and skipped, not trained again.
 *  - A rung-1 run whose rung-0 run has a result but no checkpoint trains
 *    afresh for its whole time limit (one session), where on the first
 *    machine it continued the checkpoint (two sessions); the search ends.
 * Usage: test_search_portable; programs from UNET_TRAIN, UNET_SYNTH, UNET_TILE. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tool_run.h"

static const char *train_exe, *synth_exe, *tile_exe;

static const tiles_recipe portable_tiles = {.scenes = 2, .scene_size = 64, .tile = 32, .folds = 2};

/* Copies src to dst (small text files). */
static void copy_file(const char *src, const char *dst)
{
    size_t len;
    char *t = slurp(src, &len);
    assert_non_null(t);
    FILE *f = fopen(dst, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(t, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    free(t);
}

static const char **budget_args(const char *tiles, const char *out, const char *json)
{
    static const char *a[32];
    const char *args[] = {train_exe, tiles, "-o", out, "--grid", "filters=2,4", "--depth", "1",
                          "--budget", "3", "--epochs", "100000", "--batch", "2", "--threads",
                          "1", "--no-augment", "--json-file", json, NULL};
    memcpy(a, args, sizeof args);
    return a;
}

static void test_portable(void **state)
{
    (void)state;
    make_tiles(synth_exe, tile_exe, &portable_tiles);
    run_expect("first", budget_args(tmp_file("tiles"), tmp_file("a.onnx"), tmp_file("a.json")), 0);
    search_run a[16];
    const int na = read_search_runs(tmp_file("a.search"), a, 16);
    assert_int_equal(na, 4 + 2 + 1);

    /* The other machine: tiles elsewhere, only rung 0's small files. */
    assert_int_equal(rename(tmp_file("tiles"), tmp_file("tiles-moved")), 0);
    assert_int_equal(mkdir(tmp_file("b.search"), 0755), 0);
    int copied = 0;
    for (int i = 0; i < na; i++) {
        if (a[i].rung != 0 || a[i].fold < 0)
            continue;
        assert_string_equal(a[i].end, "time_budget"); /* so rung 1 needs its checkpoint */
        char src[900], dst[900], sub[400];
        FMT(sub, sizeof sub, "b.search/%s", a[i].dir);
        assert_int_equal(mkdir(tmp_file(sub), 0755), 0);
        const char *files[] = {"result.json", "log.csv"};
        for (int k = 0; k < 2; k++) {
            FMT(src, sizeof src, "%s/%s/%s", tmp_file("a.search"), a[i].dir, files[k]);
            FMT(dst, sizeof dst, "%s/%s", tmp_file(sub), files[k]);
            copy_file(src, dst);
        }
        copied++;
    }
    assert_int_equal(copied, 4);

    run_expect("second",
               budget_args(tmp_file("tiles-moved"), tmp_file("b.onnx"), tmp_file("b.json")), 0);
    char *sum = slurp(tmp_file("b.json"), NULL);
    assert_non_null(sum);
    assert_int_equal((int)json_scan_number(sum, "runs_skipped"), 4);
    assert_int_equal((int)json_scan_number(sum, "runs_resumed"), 0);
    assert_int_equal((int)json_scan_number(sum, "runs_trained"), 2 + 1);
    free(sum);
    char *err = slurp(tmp_file("second.err"), NULL);
    assert_non_null(err);
    assert_non_null(strstr(err, "has no checkpoint here; training afresh"));
    free(err);

    search_run b[16];
    const int nb = read_search_runs(tmp_file("b.search"), b, 16);
    assert_int_equal(nb, na);
    for (int i = 0; i < na; i++) {
        /* The retrain's name covers its epoch count, which the fold runs'
         * best epochs decide; rung 1 trained afresh here, so it may differ. */
        if (a[i].fold < 0)
            continue;
        int found = 0;
        for (int j = 0; j < nb; j++) {
            if (strcmp(a[i].dir, b[j].dir) != 0)
                continue;
            found = 1;
            if (a[i].rung == 0 && a[i].fold >= 0) {
                /* Skipped: the very result of the first machine. */
                assert_true(a[i].miou == b[j].miou);
                assert_true(a[i].steps == b[j].steps);
                assert_true(b[j].sessions == 1);
            } else if (a[i].rung == 1) {
                /* Continued there (two sessions), afresh here (one). */
                assert_true(a[i].sessions == 2);
                assert_true(b[j].sessions == 1);
                assert_true(b[j].steps > 0);
                assert_true(fabs(b[j].time_limit - a[i].time_limit) < 1e-9);
            }
        }
        if (!found)
            fail_msg("run %s of the first machine has another name on the second", a[i].dir);
    }
}

static int setup(void **state)
{
    (void)state;
    train_exe = getenv("UNET_TRAIN");
    synth_exe = getenv("UNET_SYNTH");
    tile_exe = getenv("UNET_TILE");
    if (!train_exe || !synth_exe || !tile_exe)
        return -1;
    return tmp_folder_create("portable");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_portable)};
    return cmocka_run_group_tests(tests, setup, tmp_folder_remove);
}
