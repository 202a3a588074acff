/* unet-train and unet-infer as two MPI ranks (mpirun -np 2), on synthetic
 * tiles (unet-synth -> unet-tile, 64x64 tiles):
 *  - "train":    6 steps of 2 ranks x 2 tiles end with the weights of one
 *                process with batch 4 (relative L2 difference over all
 *                parameters <= 1e-5), with augmentation and dropout on; a
 *                different seed differs by far more (the check can fail).
 *  - "train_bn": the same (4 steps) with batch normalisation (global-batch
 *                statistics) and SGD. Few steps, because rounding differences
 *                (other summation orders) grow by a factor of about 2 per step
 *                with BN on these tiny batches. Not Adam: the convolutions before a BN keep a bias
 *                whose true gradient is 0, so theirs is rounding noise, which
 *                Adam scales up to full steps; those biases then differ
 *                between any two summation orders without changing the
 *                network's function.
 *  - "resume":   a 2-rank run killed (SIGKILL to mpirun) after its third epoch
 *                and resumed, and one stopped mid-epoch (SIGUSR1 to mpirun,
 *                forwarded to both ranks, exit 3) and resumed, end with weights
 *                bit-identical to an uninterrupted 2-rank run (BN, dropout and
 *                augmentation on).
 *  - "infer":    2-rank unet-infer writes exactly the masks (byte for byte) and
 *                the report counts that one process writes, for tiles and for
 *                whole scenes (--scene).
 * Programs come from UNET_TRAIN, UNET_SYNTH, UNET_TILE, UNET_INFER,
 * UNET_MAKE_MODEL and MPIRUN. */
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
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <unet/unet.h>

#include "checkpoint.h"
#include "tool_run.h"
#include "weights_compare.h"

static const char *train_exe, *synth_exe, *tile_exe, *infer_exe, *make_model_exe, *mpirun_exe;

/* Two 256x256 scenes cut into 64x64 tiles, in folds 0 and 1. */
static const tiles_recipe mpi_tiles = {.scenes = 2, .scene_size = 256, .tile = 64, .folds = 2};

static int setup(void **state)
{
    (void)state;
    train_exe = getenv("UNET_TRAIN");
    synth_exe = getenv("UNET_SYNTH");
    tile_exe = getenv("UNET_TILE");
    infer_exe = getenv("UNET_INFER");
    make_model_exe = getenv("UNET_MAKE_MODEL");
    mpirun_exe = getenv("MPIRUN");
    if (!train_exe || !synth_exe || !tile_exe || !infer_exe || !make_model_exe || !mpirun_exe)
        return -1;
    run_mpi_setup(mpirun_exe);
    if (tmp_folder_create("mpi") != 0)
        return -1;
    make_tiles(synth_exe, tile_exe, &mpi_tiles);
    return 0;
}

/* ---- training: 2 ranks = 1 process ---------------------------------------------- */

static void train_pair(const char *tag, const char *steps, const char *const *flags, double tol)
{
    char out1[64], out2[64], json[64], last1[64], last2[64], n1[64], n2[64];
    FMT(out1, sizeof out1, "%s1.onnx", tag);
    FMT(out2, sizeof out2, "%s2.onnx", tag);
    FMT(json, sizeof json, "%s2.json", tag);
    FMT(last1, sizeof last1, "%s1.last.onnx", tag);
    FMT(last2, sizeof last2, "%s2.last.onnx", tag);
    FMT(n1, sizeof n1, "%s-np1", tag);
    FMT(n2, sizeof n2, "%s-np2", tag);
    const char *args[48], *argv[RUN_ARGV_MAX];
    int n = 0;
    args[n++] = tmp_file("tiles");
    args[n++] = "-o";
    const int out_at = n;
    args[n++] = tmp_file(out1);
    static const char *const common[] = {"--depth", "2", "--filters", "8", "--batch", "4",
                                         "--epochs", "10", "--threads", "1", "--seed", "3",
                                         "--quiet", NULL};
    for (int i = 0; common[i]; i++)
        args[n++] = common[i];
    args[n++] = "--max-steps";
    args[n++] = steps;
    for (int i = 0; flags[i]; i++)
        args[n++] = flags[i];
    args[n] = NULL;
    run_argv(argv, 1, train_exe, args);
    run_expect(n1, argv, 0);

    args[out_at] = tmp_file(out2);
    args[n++] = "--json-file";
    args[n++] = tmp_file(json);
    args[n] = NULL;
    run_argv(argv, 2, train_exe, args);
    run_expect(n2, argv, 0);
    char *summary = slurp(tmp_file(json), NULL);
    assert_non_null(summary);
    assert_non_null(strstr(summary, "\"distributed\":{\"ranks\":2,"));
    char want[32];
    FMT(want, sizeof want, "\"steps\":%s,", steps);
    assert_non_null(strstr(summary, want));
    free(summary);

    const double d = weights_relative_difference(tmp_file(last1), tmp_file(last2), NULL);
    printf("%s: 2 ranks vs 1 process, relative weight difference %.3g (at most %.0e)\n", tag, d,
           tol);
    assert_true(d <= tol);
}

static void test_train(void **state)
{
    (void)state;
    static const char *const flags[] = {"--dropout", "0.3", NULL};
    train_pair("plain", "6", flags, 1e-5);
    /* The comparison can fail: another seed (other weights, tiles, masks). */
    const char *args[] = {tmp_file("tiles"), "-o", tmp_file("seed4.onnx"), "--depth", "2",
                          "--filters", "8", "--batch", "4", "--max-steps", "6", "--epochs", "10",
                          "--threads", "1", "--seed", "4", "--dropout", "0.3", "--quiet", NULL};
    const char *argv[RUN_ARGV_MAX];
    run_argv(argv, 2, train_exe, args);
    run_expect("seed4", argv, 0);
    const double d = weights_relative_difference(tmp_file("plain1.last.onnx"),
                                                 tmp_file("seed4.last.onnx"), NULL);
    printf("another seed: relative weight difference %.3g\n", d);
    assert_true(d > 0.1);
}

static void test_train_bn(void **state)
{
    (void)state;
    static const char *const flags[] = {"--batchnorm", "--optimizer", "sgd", "--lr", "0.01",
                                        NULL};
    train_pair("bn", "4", flags, 1e-5);
}

/* ---- kill and resume ------------------------------------------------------------ */

static void resume_args(const char *out, const char **args, int resume)
{
    int n = 0;
    static const char *const common[] = {"--depth", "2", "--filters", "8", "--batchnorm",
                                         "--dropout", "0.2", "--batch", "4", "--max-steps",
                                         "48", "--epochs", "100", "--lr", "0.003",
                                         "--val-fold", "1", "--threads", "1", "--seed", "7",
                                         "--quiet", NULL};
    args[n++] = tmp_file("tiles");
    args[n++] = "-o";
    args[n++] = out;
    for (int i = 0; common[i]; i++)
        args[n++] = common[i];
    if (resume)
        args[n++] = "--resume";
    args[n] = NULL;
}

/* Waits until nobody holds the lock of a checkpoint folder (the ranks of a
 * killed mpirun have ended). */
static void wait_unlocked(const char *lock_path, int seconds)
{
    const int fd = open(lock_path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    const struct timespec tick = {0, 50 * 1000 * 1000};
    int waited = 0;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (waited++ > seconds * 20)
            fail_msg("%s still locked after %d s", lock_path, seconds);
        nanosleep(&tick, NULL);
    }
    if (waited)
        printf("the killed run's ranks held the checkpoint folder %.2f s more\n", waited * 0.05);
    close(fd);
}

static void test_kill_and_resume(void **state)
{
    (void)state;
    const char *args[48], *argv[RUN_ARGV_MAX];
    /* Uninterrupted: 16 training tiles / batch 4 = 4 steps per epoch, 48 steps. */
    resume_args(tmp_file("a.onnx"), args, 0);
    run_argv(argv, 2, train_exe, args);
    run_expect("a", argv, 0);

    /* SIGKILL to mpirun after the third epoch's log line: both ranks die. */
    resume_args(tmp_file("b.onnx"), args, 0);
    run_argv(argv, 2, train_exe, args);
    pid_t pid = run_start("b1", argv);
    wait_lines(tmp_file("b.log.jsonl"), 3, 120);
    /* The whole group: a rank that outlived mpirun for a moment could still
     * append to the log after the resumed run trimmed it. */
    kill(-pid, SIGKILL);
    assert_int_equal(run_wait(pid, "b1"), 128 + SIGKILL);
    train_state st;
    char *config;
    assert_int_equal(checkpoint_read(tmp_file("b.ckpt/last.ckpt"), &st, &config), UNET_OK);
    printf("killed with the checkpoint at step %llu\n",
           (unsigned long long)st.progress.global_step);
    /* the third epoch's checkpoint follows its log line: the second's at least */
    assert_true(st.progress.global_step >= 8 && st.progress.global_step < 48);
    train_state_free(&st);
    free(config);
    /* mpirun puts each rank in a process group of its own, so the ranks
     * outlive its SIGKILL a moment and go on writing: a resume now is refused
     * (the checkpoint folder's lock), one after they are gone goes ahead. */
    wait_unlocked(tmp_file("b.ckpt/lock"), 60);
    resume_args(tmp_file("b.onnx"), args, 1);
    run_argv(argv, 2, train_exe, args);
    run_expect("b2", argv, 0);
    weights_assert_same(tmp_file("a.last.onnx"), tmp_file("b.last.onnx"));
    weights_assert_same(tmp_file("a.onnx"), tmp_file("b.onnx"));
    /* Every epoch logged once: the resumed run dropped the rows it repeated and
     * no rank of the killed run appended after it (the folder lock). */
    assert_int_equal(count_lines(tmp_file("b.log.jsonl")), count_lines(tmp_file("a.log.jsonl")));

    /* SIGUSR1 to mpirun mid-epoch: forwarded, both ranks stop at the same step,
     * rank 0 saves, exit 3; then resumed. */
    resume_args(tmp_file("c.onnx"), args, 0);
    run_argv(argv, 2, train_exe, args);
    pid = run_start("c1", argv);
    wait_lines(tmp_file("c.log.jsonl"), 2, 120);
    const struct timespec into_epoch = {0, 150 * 1000 * 1000};
    nanosleep(&into_epoch, NULL);
    kill(pid, SIGUSR1);
    assert_int_equal(run_wait(pid, "c1"), 3);
    char *err = slurp(tmp_file("c1.err"), NULL);
    assert_non_null(strstr(err ? err : "", "--resume"));
    free(err);
    assert_int_equal(checkpoint_read(tmp_file("c.ckpt/last.ckpt"), &st, &config), UNET_OK);
    printf("stopped by SIGUSR1 at step %llu (%llu into epoch %llu)\n",
           (unsigned long long)st.progress.global_step,
           (unsigned long long)st.progress.step_in_epoch, (unsigned long long)st.progress.epoch + 1);
    assert_true(st.progress.global_step >= 8 && st.progress.global_step < 48);
    train_state_free(&st);
    free(config);
    resume_args(tmp_file("c.onnx"), args, 1);
    run_argv(argv, 2, train_exe, args);
    run_expect("c2", argv, 0);
    weights_assert_same(tmp_file("a.last.onnx"), tmp_file("c.last.onnx"));
}

/* ---- inference: 2 ranks write what 1 process writes -------------------------- */

static int compare_dirs(const char *a, const char *b)
{
    DIR *d = opendir(a);
    assert_non_null(d);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strstr(e->d_name, ".png"))
            continue;
        char pa[800], pb[800];
        FMT(pa, sizeof pa, "%s/%s", a, e->d_name);
        FMT(pb, sizeof pb, "%s/%s", b, e->d_name);
        size_t la, lb;
        char *ca = slurp(pa, &la), *cb = slurp(pb, &lb);
        if (!cb)
            fail_msg("%s is missing", pb);
        if (la != lb || memcmp(ca, cb, la) != 0)
            fail_msg("%s and %s differ", pa, pb);
        free(ca);
        free(cb);
        files++;
    }
    closedir(d);
    return files;
}

static void infer_pair(const char *tag, const char *input, int scene, int expect)
{
    char o1[64], o2[64], n1[64], n2[64];
    FMT(o1, sizeof o1, "%s-masks1", tag);
    FMT(o2, sizeof o2, "%s-masks2", tag);
    FMT(n1, sizeof n1, "%s-np1", tag);
    FMT(n2, sizeof n2, "%s-np2", tag);
    const char *args[32], *argv[RUN_ARGV_MAX];
    int n = 0;
    args[n++] = tmp_file("m.onnx");
    args[n++] = input;
    args[n++] = "-o";
    const int out_at = n;
    args[n++] = tmp_file(o1);
    args[n++] = "--batch";
    args[n++] = "4";
    args[n++] = "--threads";
    args[n++] = "1";
    args[n++] = "--json";
    if (scene) {
        args[n++] = "--scene";
        args[n++] = "--tile";
        args[n++] = "64";
    }
    args[n] = NULL;
    run_argv(argv, 1, infer_exe, args);
    run_expect(n1, argv, 0);
    args[out_at] = tmp_file(o2);
    run_argv(argv, 2, infer_exe, args);
    run_expect(n2, argv, 0);

    char outf[600];
    FMT(outf, sizeof outf, "%s/%s.out", tmp_folder(), n2);
    char *json = slurp(outf, NULL);
    assert_non_null(json);
    /* One combined report, from rank 0 only. */
    assert_non_null(strstr(json, "\"tiles\":"));
    assert_null(strstr(strstr(json, "\"tiles\":") + 1, "\"tiles\":"));
    assert_int_equal((int)json_scan_number(json, "tiles"), expect);
    assert_int_equal((int)json_scan_number(json, "written"), expect);
    assert_int_equal((int)json_scan_number(json, "failed"), 0);
    free(json);
    const int files = compare_dirs(tmp_file(o1), tmp_file(o2));
    assert_int_equal(files, expect);
    assert_int_equal(compare_dirs(tmp_file(o2), tmp_file(o1)), expect);
    printf("%s: %d masks from 2 ranks identical to 1 process\n", tag, files);
}

static void test_infer(void **state)
{
    (void)state;
    const char *mk[] = {make_model_exe, "-o", tmp_file("m.onnx"), "--depth", "2", "--filters",
                        "4", "--seed", "5", NULL};
    run_expect("make_model", mk, 0);
    infer_pair("tiles", tmp_file("tiles"), 0, 32);
    infer_pair("scenes", tmp_file("scenes"), 1, 2);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest train[] = {cmocka_unit_test(test_train)};
    const struct CMUnitTest train_bn[] = {cmocka_unit_test(test_train_bn)};
    const struct CMUnitTest resume[] = {cmocka_unit_test(test_kill_and_resume)};
    const struct CMUnitTest infer[] = {cmocka_unit_test(test_infer)};
    const char *what = argc > 1 ? argv[1] : "train";
    if (strcmp(what, "train_bn") == 0)
        return cmocka_run_group_tests_name("mpi_train_bn", train_bn, setup, tmp_folder_remove);
    if (strcmp(what, "resume") == 0)
        return cmocka_run_group_tests_name("mpi_train_resume", resume, setup, tmp_folder_remove);
    if (strcmp(what, "infer") == 0)
        return cmocka_run_group_tests_name("mpi_infer", infer, setup, tmp_folder_remove);
    return cmocka_run_group_tests_name("mpi_train", train, setup, tmp_folder_remove);
}
