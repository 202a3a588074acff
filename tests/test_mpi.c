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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <unet/unet.h>

#include "checkpoint.h"
#include "init_weights.h"

#define FMT(buf, size, ...) assert_true(snprintf(buf, size, __VA_ARGS__) < (int)(size))

static char tmp[256];
static const char *train_exe, *synth_exe, *tile_exe, *infer_exe, *make_model_exe, *mpirun_exe;

static char *tmp_file(const char *rel)
{
    static char *kept[256];
    static int n;
    char buf[600];
    snprintf(buf, sizeof buf, "%s/%s", tmp, rel);
    for (int i = 0; i < n; i++)
        if (strcmp(kept[i], buf) == 0)
            return kept[i];
    assert_true(n < 256);
    kept[n] = strdup(buf);
    assert_non_null(kept[n]);
    return kept[n++];
}

/* Runs argv (NULL-terminated); stderr to tmp/NAME.err, stdout to tmp/NAME.out. */
static pid_t spawn(const char *name, const char *const *argv)
{
    char errf[600], outf[600];
    FMT(errf, sizeof errf, "%s/%s.err", tmp, name);
    FMT(outf, sizeof outf, "%s/%s.out", tmp, name);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0); /* mpirun and its ranks in one group: a kill reaches them all */
        int fe = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fo = open(outf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
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

static int wait_for(pid_t pid)
{
    int status = 0;
    assert_true(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *slurp(const char *path, size_t *len)
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
    if (len)
        *len = (size_t)n;
    fclose(f);
    return s;
}

static void run_expect(const char *name, const char *const *argv, int want)
{
    const int rc = wait_for(spawn(name, argv));
    if (rc != want) {
        char errf[600];
        FMT(errf, sizeof errf, "%s/%s.err", tmp, name);
        char *m = slurp(errf, NULL);
        fail_msg("%s (%s) exited with %d, expected %d:\n%s", argv[0], name, rc, want,
                 m ? m : "");
    }
}

/* argv = mpirun -np 2 [options] prog args... (args NULL-terminated). */
static void mpi_argv(const char **out, const char *prog, const char *const *args)
{
    int n = 0;
    static const char *const pre[] = {"-np", "2", "--oversubscribe", "--bind-to", "none", NULL};
    out[n++] = mpirun_exe;
    for (int i = 0; pre[i]; i++)
        out[n++] = pre[i];
    out[n++] = prog;
    for (int i = 0; args[i]; i++)
        out[n++] = args[i];
    out[n] = NULL;
}

static void one_argv(const char **out, const char *prog, const char *const *args)
{
    int n = 0;
    out[n++] = prog;
    for (int i = 0; args[i]; i++)
        out[n++] = args[i];
    out[n] = NULL;
}

static int count_lines(const char *path)
{
    char *s = slurp(path, NULL);
    int n = 0;
    for (char *p = s; p && *p; p++)
        n += *p == '\n';
    free(s);
    return n;
}

static void make_tiles(void)
{
    const char *synth[] = {synth_exe, "-o", tmp_file("scenes"), "--scenes", "2", "--size",
                           "256x256", "--seed", "1", "--quiet", NULL};
    run_expect("synth", synth, 0);
    const char *tile[] = {tile_exe, tmp_file("scenes"), "-o", tmp_file("tiles"), "--tile", "64",
                          "--folds", "2", "--quiet", NULL};
    run_expect("tile", tile, 0);
}

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
    /* CI runs as root; containers often forbid the shared-memory single copy. */
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
    /* Under AddressSanitizer: Open MPI frees little at MPI_Finalize and its
     * components are unloaded by then, so their allocations show as leaks with
     * no stack to suppress. The launched programs run without leak checks;
     * this process and every other test keep them. */
    const char *asan = getenv("ASAN_OPTIONS");
    static char asan_opts[1024];
    snprintf(asan_opts, sizeof asan_opts, "%s%sdetect_leaks=0", asan ? asan : "",
             asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", asan_opts, 1);
    snprintf(tmp, sizeof tmp, "/tmp/unet-test-mpi-XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    make_tiles();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
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

/* ||a - b|| / ||a|| over every parameter (BN running statistics included). */
static double relative_difference(const char *a_path, const char *b_path)
{
    unet_params *a, *b;
    load_weights(a_path, &a);
    load_weights(b_path, &b);
    assert_int_equal(a->n, b->n);
    double num = 0, den = 0;
    for (int i = 0; i < a->n; i++)
        for (size_t k = 0; k < a->p[i].count; k++) {
            const double d = (double)a->p[i].data[k] - (double)b->p[i].data[k];
            num += d * d;
            den += (double)a->p[i].data[k] * (double)a->p[i].data[k];
        }
    params_free(a);
    params_free(b);
    assert_true(den > 0);
    return sqrt(num / den);
}

static void assert_same_weights(const char *a_path, const char *b_path)
{
    unet_params *a, *b;
    load_weights(a_path, &a);
    load_weights(b_path, &b);
    assert_int_equal(a->n, b->n);
    for (int i = 0; i < a->n; i++)
        if (memcmp(a->p[i].data, b->p[i].data, a->p[i].count * sizeof(float)) != 0)
            fail_msg("%s and %s differ in %s", a_path, b_path, a->p[i].name);
    params_free(a);
    params_free(b);
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
    const char *args[48], *argv[64];
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
    one_argv(argv, train_exe, args);
    run_expect(n1, argv, 0);

    args[out_at] = tmp_file(out2);
    args[n++] = "--json-file";
    args[n++] = tmp_file(json);
    args[n] = NULL;
    mpi_argv(argv, train_exe, args);
    run_expect(n2, argv, 0);
    char *summary = slurp(tmp_file(json), NULL);
    assert_non_null(summary);
    assert_non_null(strstr(summary, "\"distributed\":{\"ranks\":2,"));
    char want[32];
    FMT(want, sizeof want, "\"steps\":%s,", steps);
    assert_non_null(strstr(summary, want));
    free(summary);

    const double d = relative_difference(tmp_file(last1), tmp_file(last2));
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
    const char *argv[64];
    mpi_argv(argv, train_exe, args);
    run_expect("seed4", argv, 0);
    const double d = relative_difference(tmp_file("plain1.last.onnx"), tmp_file("seed4.last.onnx"));
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

static void wait_lines(const char *path, int n)
{
    for (int i = 0; i < 12000 && count_lines(path) < n; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_true(count_lines(path) >= n);
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
    const char *args[48], *argv[64];
    /* Uninterrupted: 16 training tiles / batch 4 = 4 steps per epoch, 48 steps. */
    resume_args(tmp_file("a.onnx"), args, 0);
    mpi_argv(argv, train_exe, args);
    run_expect("a", argv, 0);

    /* SIGKILL to mpirun after the third epoch's log line: both ranks die. */
    resume_args(tmp_file("b.onnx"), args, 0);
    mpi_argv(argv, train_exe, args);
    pid_t pid = spawn("b1", argv);
    wait_lines(tmp_file("b.log.jsonl"), 3);
    /* The whole group: a rank that outlived mpirun for a moment could still
     * append to the log after the resumed run trimmed it. */
    kill(-pid, SIGKILL);
    assert_int_equal(wait_for(pid), 128 + SIGKILL);
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
    mpi_argv(argv, train_exe, args);
    run_expect("b2", argv, 0);
    assert_same_weights(tmp_file("a.last.onnx"), tmp_file("b.last.onnx"));
    assert_same_weights(tmp_file("a.onnx"), tmp_file("b.onnx"));
    /* Every epoch logged once: the resumed run dropped the rows it repeated and
     * no rank of the killed run appended after it (the folder lock). */
    assert_int_equal(count_lines(tmp_file("b.log.jsonl")), count_lines(tmp_file("a.log.jsonl")));

    /* SIGUSR1 to mpirun mid-epoch: forwarded, both ranks stop at the same step,
     * rank 0 saves, exit 3; then resumed. */
    resume_args(tmp_file("c.onnx"), args, 0);
    mpi_argv(argv, train_exe, args);
    pid = spawn("c1", argv);
    wait_lines(tmp_file("c.log.jsonl"), 2);
    const struct timespec into_epoch = {0, 150 * 1000 * 1000};
    nanosleep(&into_epoch, NULL);
    kill(pid, SIGUSR1);
    assert_int_equal(wait_for(pid), 3);
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
    mpi_argv(argv, train_exe, args);
    run_expect("c2", argv, 0);
    assert_same_weights(tmp_file("a.last.onnx"), tmp_file("c.last.onnx"));
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

static int json_int(const char *text, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    if (!p)
        fail_msg("no %s in %s", key, text);
    return atoi(p + strlen(pat));
}

static void infer_pair(const char *tag, const char *input, int scene, int expect)
{
    char o1[64], o2[64], n1[64], n2[64];
    FMT(o1, sizeof o1, "%s-masks1", tag);
    FMT(o2, sizeof o2, "%s-masks2", tag);
    FMT(n1, sizeof n1, "%s-np1", tag);
    FMT(n2, sizeof n2, "%s-np2", tag);
    const char *args[32], *argv[48];
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
    one_argv(argv, infer_exe, args);
    run_expect(n1, argv, 0);
    args[out_at] = tmp_file(o2);
    mpi_argv(argv, infer_exe, args);
    run_expect(n2, argv, 0);

    char outf[600];
    FMT(outf, sizeof outf, "%s/%s.out", tmp, n2);
    char *json = slurp(outf, NULL);
    assert_non_null(json);
    /* One combined report, from rank 0 only. */
    assert_non_null(strstr(json, "\"tiles\":"));
    assert_null(strstr(strstr(json, "\"tiles\":") + 1, "\"tiles\":"));
    assert_int_equal(json_int(json, "tiles"), expect);
    assert_int_equal(json_int(json, "written"), expect);
    assert_int_equal(json_int(json, "failed"), 0);
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
        return cmocka_run_group_tests_name("mpi_train_bn", train_bn, setup, teardown);
    if (strcmp(what, "resume") == 0)
        return cmocka_run_group_tests_name("mpi_train_resume", resume, setup, teardown);
    if (strcmp(what, "infer") == 0)
        return cmocka_run_group_tests_name("mpi_infer", infer, setup, teardown);
    return cmocka_run_group_tests_name("mpi_train", train, setup, teardown);
}
