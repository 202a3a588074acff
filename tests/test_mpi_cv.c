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
#include <fcntl.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <unet/unet.h>

#include "init_weights.h"

#define FMT(buf, size, ...) assert_true(snprintf(buf, size, __VA_ARGS__) < (int)(size))

static char tmp[256];
static const char *train_exe, *synth_exe, *tile_exe, *mpirun_exe;

static const char *tmp_file(const char *rel)
{
    static char *kept[128];
    static int n;
    char buf[600];
    FMT(buf, sizeof buf, "%s/%s", tmp, rel);
    for (int i = 0; i < n; i++)
        if (strcmp(kept[i], buf) == 0)
            return kept[i];
    assert_true(n < 128);
    kept[n] = strdup(buf);
    assert_non_null(kept[n]);
    return kept[n++];
}

/* Runs argv in a process group of its own (mpirun and its ranks: a kill
 * reaches them all); stderr to tmp/NAME.err. */
static pid_t spawn(const char *name, const char *const *argv)
{
    char errf[600];
    FMT(errf, sizeof errf, "%s/%s.err", tmp, name);
    const pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        const int fe = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int fo = open("/dev/null", O_WRONLY);
        if (fe < 0 || fo < 0)
            _exit(127);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    assert_true(pid > 0);
    return pid;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n)
        n = 0;
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

/* Waits at most seconds for pid; kills its group and fails past that. */
static int wait_for(pid_t pid, const char *name, int seconds)
{
    const struct timespec tick = {0, 20 * 1000 * 1000};
    for (int waited = 0;; waited++) {
        int status = 0;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        assert_true(r == 0 || r == pid);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (waited > seconds * 50) {
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("%s still running after %d s (a rank waiting for the others?)", name,
                     seconds);
        }
        nanosleep(&tick, NULL);
    }
}

static void run_expect(const char *name, const char *const *argv, int want)
{
    const int rc = wait_for(spawn(name, argv), name, 120);
    if (rc != want) {
        char errf[600];
        FMT(errf, sizeof errf, "%s/%s.err", tmp, name);
        char *m = slurp(errf);
        fail_msg("%s (%s) exited with %d, expected %d:\n%s", argv[0], name, rc, want,
                 m ? m : "");
    }
}

/* out = [mpirun -np 2 ... if mpi] train_exe args... */
static void train_argv(const char **out, int mpi, const char *const *args)
{
    int n = 0;
    if (mpi) {
        static const char *const pre[] = {"-np", "2", "--oversubscribe", "--bind-to", "none",
                                          NULL};
        out[n++] = mpirun_exe;
        for (int i = 0; pre[i]; i++)
            out[n++] = pre[i];
    }
    out[n++] = train_exe;
    for (int i = 0; args[i]; i++)
        out[n++] = args[i];
    out[n] = NULL;
}

/* Three 64x64 scenes cut into 32x32 tiles: folds 0..folds-1, and scene 3 as
 * fold "test" when there are 2 folds. */
static void make_tiles(int folds)
{
    const char *synth[] = {synth_exe, "-o", tmp_file("scenes"), "--scenes", "3", "--size",
                           "64x64", "--seed", "1", "--quiet", NULL};
    run_expect("synth", synth, 0);
    const char *tile[] = {tile_exe, tmp_file("scenes"), "-o", tmp_file("tiles"), "--tile", "32",
                          "--folds", "2", "--test-scenes", "scene-3", "--quiet", NULL};
    if (folds == 3) {
        tile[7] = "3";
        tile[8] = "--quiet";
        tile[9] = NULL;
    }
    run_expect("tile", tile, 0);
}

/* ---- reading the outputs ------------------------------------------------------- */

static double json_num(const char *text, const char *key)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    if (!p)
        fail_msg("no %s in %.300s", key, text);
    p += strlen(pat);
    if (strncmp(p, "null", 4) == 0)
        return NAN;
    return strtod(p, NULL);
}

static void json_str(const char *text, const char *key, char *buf, size_t size)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(text, pat);
    if (!p)
        fail_msg("no %s in %.300s", key, text);
    p += strlen(pat);
    const char *q = strchr(p, '"');
    assert_non_null(q);
    assert_true((size_t)(q - p) < size);
    memcpy(buf, p, (size_t)(q - p));
    buf[q - p] = '\0';
}

typedef struct run_file {
    char dir[300], label[100], end[32];
    int fold, rung, rank, processes; /* fold -1: the retrain */
    double miou, f1, steps, sessions;
} run_file;

static int read_runs(const char *search_dir, run_file *runs, int max)
{
    DIR *d = opendir(search_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[900];
        FMT(path, sizeof path, "%s/%s/result.json", search_dir, e->d_name);
        char *t = slurp(path);
        if (!t)
            continue;
        assert_true(n < max);
        run_file *r = &runs[n++];
        FMT(r->dir, sizeof r->dir, "%s", e->d_name);
        json_str(t, "label", r->label, sizeof r->label);
        json_str(t, "end", r->end, sizeof r->end);
        const double fold = json_num(t, "fold");
        r->fold = isnan(fold) ? -1 : (int)fold;
        r->rung = (int)json_num(t, "rung");
        r->rank = (int)json_num(t, "rank");
        r->processes = (int)json_num(t, "processes");
        r->miou = json_num(t, "val_miou");
        r->f1 = json_num(t, "val_macro_f1");
        r->steps = json_num(t, "steps");
        r->sessions = json_num(t, "sessions");
        free(t);
    }
    closedir(d);
    return n;
}

static const run_file *find_run(const run_file *runs, int n, const char *label, int fold,
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
    char *t = slurp(path);
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

static void load_weights(const char *path, unet_params **out)
{
    unet_arch a;
    if (init_weights_arch(path, &a) != UNET_OK)
        fail_msg("%s", unet_last_error());
    assert_int_equal(params_create(&a, out), UNET_OK);
    int new_head;
    if (init_weights_load(path, *out, 0, &new_head) != UNET_OK)
        fail_msg("%s", unet_last_error());
}

/* ||a - b|| / ||a|| over every parameter; *identical when bit for bit. */
static double weight_difference(const char *a_path, const char *b_path, int *identical)
{
    unet_params *a, *b;
    load_weights(a_path, &a);
    load_weights(b_path, &b);
    assert_int_equal(a->n, b->n);
    double num = 0, den = 0;
    *identical = 1;
    for (int i = 0; i < a->n; i++) {
        assert_int_equal(a->p[i].count, b->p[i].count);
        if (memcmp(a->p[i].data, b->p[i].data, a->p[i].count * sizeof(float)) != 0)
            *identical = 0;
        for (size_t k = 0; k < a->p[i].count; k++) {
            const double d = (double)a->p[i].data[k] - (double)b->p[i].data[k];
            num += d * d;
            den += (double)a->p[i].data[k] * (double)a->p[i].data[k];
        }
    }
    params_free(a);
    params_free(b);
    assert_true(den > 0);
    return sqrt(num / den);
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
        const char *argv[48];
        train_argv(argv, m, args);
        run_expect(name[m], argv, 0);
    }
}

static void compare_grid(const char *tag, int dp_retrain)
{
    char p[4][80];
    FMT(p[0], sizeof p[0], "%s1.search", tag);
    FMT(p[1], sizeof p[1], "%s2.search", tag);
    run_file one[16], two[16];
    const int n1 = read_runs(tmp_file(p[0]), one, 16), n2 = read_runs(tmp_file(p[1]), two, 16);
    assert_int_equal(n1, 5); /* 2 x 2 + the retrain */
    assert_int_equal(n2, 5);
    int per_rank[2] = {0, 0};
    double worst = 0;
    for (int i = 0; i < n2; i++) {
        const run_file *a = find_run(one, n1, two[i].label, two[i].fold, two[i].rung);
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
    char *s1 = slurp(tmp_file(p[2])), *s2 = slurp(tmp_file(p[3]));
    assert_non_null(s1);
    assert_non_null(s2);
    const char *r1 = strstr(s1, "\"ranking\":"), *r2 = strstr(s2, "\"ranking\":");
    assert_non_null(r1);
    assert_non_null(r2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(l1[i], l2[i]);
        char a[100], b[100];
        json_str(r1, "label", a, sizeof a);
        json_str(r2, "label", b, sizeof b);
        assert_string_equal(a, l1[i]);
        assert_string_equal(b, l2[i]);
        assert_true(fabs(json_num(r1, "miou_mean") - json_num(r2, "miou_mean")) <= 1e-6);
        r1 = strstr(r1, "\"folds\":[");
        r2 = strstr(r2, "\"folds\":[");
        assert_non_null(r1);
        assert_non_null(r2);
        r1++;
        r2++;
    }
    /* Every rank's runs counted once. */
    assert_int_equal((int)json_num(s2, "ranks"), 2);
    assert_int_equal((int)json_num(s2, "runs"), 5);
    assert_int_equal((int)json_num(s2, "runs_trained"), 5);
    assert_int_equal((int)json_num(s2, "runs_skipped"), 0);
    free(s1);
    free(s2);
    printf("%s: 2 ranks ranked %s, %s as 1 process (largest per-run difference %.3g); "
           "2 runs per rank\n",
           tag, l2[0], l2[1], worst);
}

static void test_grid(void **state)
{
    (void)state;
    make_tiles(2);
    /* --batch 2: the retrain is data-parallel over both ranks. */
    grid_pair("g", "2", "4");
    compare_grid("g", 1);
    int same;
    const double d = weight_difference(tmp_file("g1.onnx"), tmp_file("g2.onnx"), &same);
    printf("data-parallel retrain: relative weight difference to 1 process %.3g\n", d);
    assert_true(d <= 1e-5);

    /* --batch 3 does not split over 2 ranks: rank 0 retrains alone, exactly. */
    grid_pair("h", "3", "2");
    compare_grid("h", 0);
    weight_difference(tmp_file("h1.onnx"), tmp_file("h2.onnx"), &same);
    assert_true(same);

    /* A run rank 1 cannot write (a file where its folder goes): both ranks stop
     * with rank 1's message, in time; no model. */
    char bad[400];
    const run_file *victim = NULL;
    run_file runs[16];
    const int n = read_runs(tmp_file("g1.search"), runs, 16);
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
    const char *argv[48];
    train_argv(argv, 1, args);
    run_expect("fail", argv, 1);
    char *err = slurp(tmp_file("fail.err"));
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
    make_tiles(3);
    /* 3 configurations: R = 3 rungs; S = 4 / 4 = 1 s per rung and for the retrain. */
    const char *labels[3] = {"filters=2", "filters=4", "filters=8"};
    const char *args[] = {tmp_file("tiles"), "-o", tmp_file("b.onnx"), "--grid",
                          "filters=2,4,8", "--depth", "1", "--budget", "4", "--epochs",
                          "100000", "--batch", "3", "--threads", "1", "--no-augment",
                          "--json-file", tmp_file("b.json"), NULL};
    const char *argv[48];
    train_argv(argv, 1, args);
    run_expect("budget", argv, 0);
    char *sum = slurp(tmp_file("b.json"));
    assert_non_null(sum);
    assert_int_equal((int)json_num(sum, "rungs"), 3);
    assert_int_equal((int)json_num(sum, "folds"), 3);
    assert_int_equal((int)json_num(sum, "ranks"), 2);
    run_file runs[32];
    const int n = read_runs(tmp_file("b.search"), runs, 32);
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
                const run_file *x = find_run(runs, n, labels[c], fold, r);
                if (!x)
                    fail_msg("rung %d has no run of %s on fold %d", r, labels[c], fold);
                assert_int_equal(x->rank, (place * 3 + fold) % 2);
                mean[c] += x->miou / 3;
                f1[c] += x->f1 / 3;
                count++;
                const run_file *prev = r ? find_run(runs, n, labels[c], fold, r - 1) : NULL;
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
    const run_file *fin = find_run(runs, n, labels[winner], -1, 0);
    assert_non_null(fin);
    assert_int_equal(fin->processes, 1); /* --batch 3: rank 0 alone */
    assert_int_equal((int)json_num(sum, "runs"), 19);
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
    /* As tests/test_mpi.c: root in CI, no single-copy shared memory in containers,
     * and no leak checks in the launched programs (Open MPI's allocations). */
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
    const char *asan = getenv("ASAN_OPTIONS");
    static char asan_opts[1024];
    snprintf(asan_opts, sizeof asan_opts, "%s%sdetect_leaks=0", asan ? asan : "",
             asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", asan_opts, 1);
    snprintf(tmp, sizeof tmp, "/tmp/unet-test-mpi-cv-XXXXXX");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest grid[] = {cmocka_unit_test(test_grid)};
    const struct CMUnitTest budget[] = {cmocka_unit_test(test_budget)};
    if (argc > 1 && strcmp(argv[1], "budget") == 0)
        return cmocka_run_group_tests_name("mpi_cv_budget", budget, setup, teardown);
    return cmocka_run_group_tests_name("mpi_cv_grid", grid, setup, teardown);
}
