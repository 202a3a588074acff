/* unet-train end to end, on synthetic scenes (unet-synth -> unet-tile, 64x64
 * tiles, 3 scenes in 3 folds):
 *  - "train": a small U-Net trained for 240 steps must segment its training
 *    tiles with >= 90% pixel accuracy (always predicting the commonest class
 *    gives about 76%) and the held-out scene with >= 80% (71% for the
 *    commonest class), measured here from the masks unet-infer writes with
 *    the exported model; the last epoch's validation pixel accuracy that
 *    unet-train reports must agree with that measurement; the model opens in
 *    libunet with its metadata; logs and checkpoint exist.
 *  - "resume": a run killed with SIGKILL mid-epoch and resumed, and a run
 *    stopped with SIGTERM (exit 3) and resumed, end with weights bit-identical
 *    to an uninterrupted run (batch norm, dropout and augmentation on).
 * Usage: test_train_e2e train|resume; programs come from UNET_TRAIN,
 * UNET_SYNTH, UNET_TILE and UNET_INFER. */
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

#include <unet/image.h>
#include <unet/unet.h>

#include "checkpoint.h"
#include "init_weights.h"

#define FMT(buf, size, ...) assert_true(snprintf(buf, size, __VA_ARGS__) < (int)(size))

static char tmp[256];
static const char *train_exe, *synth_exe, *tile_exe, *infer_exe;

/* tmp/rel, kept until the process ends (argument lists hold these). */
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

/* Starts exe with a NULL-terminated argument list; stderr goes to tmp/NAME.err. */
static pid_t spawn(const char *errname, const char *const *args)
{
    const char *argv[64];
    int n = 0;
    while (args[n] && n < 63) {
        argv[n] = args[n];
        n++;
    }
    argv[n] = NULL;
    char errf[600];
    FMT(errf, sizeof errf, "%s/%s.err", tmp, errname);
    pid_t pid = fork();
    if (pid == 0) {
        int fe = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fo = open("/dev/null", O_WRONLY);
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

/* Exit status, or 128 + signal. */
static int wait_for(pid_t pid)
{
    int status = 0;
    assert_true(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
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

static int run_ok(const char *errname, const char *const *args)
{
    const int rc = wait_for(spawn(errname, args));
    if (rc != 0) {
        char errf[600];
        FMT(errf, sizeof errf, "%s/%s.err", tmp, errname);
        char *m = slurp(errf);
        fail_msg("%s exited with %d:\n%s", args[0], rc, m ? m : "");
        free(m);
    }
    return rc;
}

static int count_lines(const char *path)
{
    char *s = slurp(path);
    int n = 0;
    for (char *p = s; p && *p; p++)
        n += *p == '\n';
    free(s);
    return n;
}

/* Synthetic scenes cut into 64x64 tiles, 3 scenes in folds 0..2. */
static void make_tiles(void)
{
    const char *synth[] = {synth_exe, "-o", tmp_file("scenes"), "--scenes", "3", "--size",
                           "256x256", "--seed", "1", "--quiet", NULL};
    run_ok("synth", synth);
    const char *tile[] = {tile_exe, tmp_file("scenes"), "-o", tmp_file("tiles"), "--tile", "64",
                          "--folds", "3", "--quiet", NULL};
    run_ok("tile", tile);
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
    snprintf(tmp, sizeof tmp, "/tmp/unet-test-train-XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

/* The value of "key": in a JSON text (first occurrence at or after from). */
static double json_number(const char *text, const char *key, const char **from)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(from && *from ? *from : text, pat);
    if (!p)
        fail_msg("no %s in %.200s", key, text);
    p += strlen(pat);
    if (from)
        *from = p;
    return strtod(p, NULL);
}

/* Pixel accuracy of written masks against the tiles' masks, over the tiles
 * whose fold (folds.tsv) is (want_val ? "2" : not "2"). */
static double accuracy(const char *masks_dir, int want_val)
{
    char *folds = slurp(tmp_file("tiles/folds.tsv"));
    assert_non_null(folds);
    uint64_t right = 0, total = 0;
    int tiles = 0;
    for (char *line = strtok(folds, "\n"); line; line = strtok(NULL, "\n")) {
        char name[200], scene[100], fold[20];
        assert_int_equal(sscanf(line, "%199[^\t]\t%99[^\t]\t%19s", name, scene, fold), 3);
        if ((strcmp(fold, "2") == 0) != want_val)
            continue;
        char truth_path[600], pred_path[600];
        FMT(truth_path, sizeof truth_path, "%s/tiles/masks/%s.png", tmp, name);
        FMT(pred_path, sizeof pred_path, "%s/%s.png", masks_dir, name);
        unet_image t, p;
        assert_int_equal(unet_image_read(truth_path, UNET_IMAGE_PALETTE_INDEX, &t), UNET_OK);
        if (unet_image_read(pred_path, UNET_IMAGE_PALETTE_INDEX, &p) != UNET_OK)
            fail_msg("%s", unet_last_error());
        assert_int_equal(t.width, p.width);
        assert_int_equal(t.height, p.height);
        assert_int_equal(p.channels, 1);
        for (int i = 0; i < t.width * t.height; i++) {
            if (t.pixels[i] == 255)
                continue;
            total++;
            right += t.pixels[i] == p.pixels[i];
        }
        unet_image_free(&t);
        unet_image_free(&p);
        tiles++;
    }
    free(folds);
    assert_true(tiles > 0 && total > 0);
    return (double)right / (double)total;
}

static void test_train_and_infer(void **state)
{
    (void)state;
    make_tiles();
    const char *train[] = {train_exe, tmp_file("tiles"), "-o", tmp_file("m.onnx"), "--depth",
                           "2", "--filters", "8", "--max-steps", "240", "--epochs", "1000",
                           "--lr", "0.005", "--schedule", "constant", "--no-augment",
                           "--val-fold", "2", "--threads", "1", "--seed", "0", "--json-file",
                           tmp_file("summary.json"), NULL};
    run_ok("train", train);
    /* 32 training tiles / batch 8 = 4 steps per epoch: 60 epochs. */
    assert_int_equal(count_lines(tmp_file("m.log.jsonl")), 60);
    assert_int_equal(count_lines(tmp_file("m.log.csv")), 61);
    struct stat st;
    assert_int_equal(stat(tmp_file("m.ckpt/last.ckpt"), &st), 0);
    assert_int_equal(stat(tmp_file("m.last.onnx"), &st), 0);

    /* The loss must have come down a long way. */
    char *log = slurp(tmp_file("m.log.jsonl"));
    assert_non_null(log);
    const double first = json_number(log, "train_loss", NULL);
    const char *last_line = log + strlen(log) - 2;
    while (last_line > log && last_line[-1] != '\n')
        last_line--;
    const double last = json_number(last_line, "train_loss", NULL);
    const double reported_val_acc = json_number(last_line, "val_pixel_accuracy", NULL);
    if (!(last < 0.3 * first))
        fail_msg("train loss %g -> %g", first, last);
    free(log);
    char *summary = slurp(tmp_file("summary.json"));
    assert_non_null(summary);
    assert_int_equal((int)json_number(summary, "steps", NULL), 240);
    assert_non_null(strstr(summary, "\"end\":\"max_steps\""));
    free(summary);

    /* The exported models open in libunet with their metadata. */
    unet_model *model;
    assert_int_equal(unet_model_open_file(tmp_file("m.onnx"), NULL, &model), UNET_OK);
    const char *classes = unet_model_metadata(model, "unet.classes");
    assert_non_null(classes);
    assert_non_null(strstr(classes, "Vegetation"));
    assert_non_null(strstr(unet_model_metadata(model, "unet.colors"), "#3C1098"));
    const char *training = unet_model_metadata(model, "unet.training");
    assert_non_null(training);
    assert_non_null(strstr(training, "\"steps\":240"));
    assert_non_null(strstr(training, "\"best_val_miou\":0."));
    unet_tensor_info in;
    assert_int_equal(unet_model_input_info(model, 0, &in), UNET_OK);
    assert_int_equal(in.rank, 4);
    assert_int_equal(in.dims[1], 3);
    unet_model_free(model);

    /* unet-infer segments the tiles with the last weights. */
    const char *infer[] = {infer_exe, tmp_file("m.last.onnx"), tmp_file("tiles"), "-o",
                           tmp_file("pred"), "--threads", "1", "--quiet", NULL};
    run_ok("infer", infer);
    const double train_acc = accuracy(tmp_file("pred"), 0);
    const double val_acc = accuracy(tmp_file("pred"), 1);
    printf("pixel accuracy through unet-infer: training scenes %.4f, held-out scene %.4f "
           "(unet-train reported %.4f)\n",
           train_acc, val_acc, reported_val_acc);
    assert_true(train_acc >= 0.90);
    assert_true(val_acc >= 0.80);
    /* Same weights, same tiles: the trainer's validation agrees with the runtime. */
    assert_true(fabs(val_acc - reported_val_acc) < 0.002);

    /* The best model runs too. */
    const char *infer_best[] = {infer_exe, tmp_file("m.onnx"), tmp_file("tiles"), "-o",
                                tmp_file("pred_best"), "--threads", "1", "--quiet", NULL};
    run_ok("infer_best", infer_best);
    assert_true(accuracy(tmp_file("pred_best"), 1) >= 0.75);

    /* A second run into the same output refuses to overwrite the checkpoint. */
    assert_int_equal(wait_for(spawn("again", train)), 2);
    char *err = slurp(tmp_file("again.err"));
    assert_non_null(err);
    assert_non_null(strstr(err, "--resume"));
    free(err);
}

/* ---- resume ---------------------------------------------------------------------- */

static void train_args(const char *out, const char **argv, int resume)
{
    int n = 0;
    static const char *const common[] = {"--depth", "2", "--filters", "8", "--batchnorm",
                                         "--dropout", "0.2", "--batch", "4", "--max-steps",
                                         "60", "--epochs", "100", "--lr", "0.003",
                                         "--val-fold", "2", "--threads", "1", "--seed", "7",
                                         "--quiet", NULL};
    argv[n++] = train_exe;
    argv[n++] = tmp_file("tiles");
    argv[n++] = "-o";
    argv[n++] = out;
    for (int i = 0; common[i]; i++)
        argv[n++] = common[i];
    if (resume)
        argv[n++] = "--resume";
    argv[n] = NULL;
}

static void load_weights(const char *path, unet_params **out)
{
    unet_arch a;
    if (init_weights_arch(path, &a) != UNET_OK)
        fail_msg("%s", unet_last_error());
    assert_int_equal(params_create(&a, out), UNET_OK);
    int new_head;
    assert_int_equal(init_weights_load(path, *out, 0, &new_head), UNET_OK);
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

/* Sleeps until path has at least n lines (or 50 s pass). */
static void wait_lines(const char *path, int n)
{
    for (int i = 0; i < 5000 && count_lines(path) < n; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_true(count_lines(path) >= n);
}

static void test_kill_and_resume(void **state)
{
    (void)state;
    make_tiles();
    const char *argv[64];

    /* Uninterrupted: 32 tiles / batch 4 = 8 steps per epoch, 60 steps. */
    train_args(tmp_file("a.onnx"), argv, 0);
    run_ok("a", argv);

    /* SIGKILL after the third epoch's log line, i.e. inside epoch 4. */
    train_args(tmp_file("b.onnx"), argv, 0);
    pid_t pid = spawn("b1", argv);
    wait_lines(tmp_file("b.log.jsonl"), 3);
    kill(pid, SIGKILL);
    assert_int_equal(wait_for(pid), 128 + SIGKILL);
    train_state st;
    char *config, *err;
    assert_int_equal(checkpoint_read(tmp_file("b.ckpt/last.ckpt"), &st, &config), UNET_OK);
    const uint64_t killed_at = st.progress.global_step;
    printf("killed with the checkpoint at step %llu (epoch %llu)\n",
           (unsigned long long)killed_at, (unsigned long long)st.progress.epoch);
    assert_true(killed_at >= 16 && killed_at < 60);
    assert_int_equal(st.progress.step_in_epoch, 0); /* an epoch-end checkpoint */
    train_state_free(&st);
    free(config);
    /* While another process holds the checkpoint folder, a resume is refused
     * before it reads or writes anything there. */
    const int lock = open(tmp_file("b.ckpt/lock"), O_RDWR | O_CLOEXEC);
    assert_true(lock >= 0);
    assert_int_equal(flock(lock, LOCK_EX | LOCK_NB), 0);
    train_args(tmp_file("b.onnx"), argv, 1);
    assert_int_equal(wait_for(spawn("b_locked", argv)), 1);
    err = slurp(tmp_file("b_locked.err"));
    assert_non_null(err);
    assert_non_null(strstr(err, "in use by another training run"));
    free(err);
    assert_int_equal(count_lines(tmp_file("b.log.jsonl")), 3);
    close(lock);
    run_ok("b2", argv);
    assert_same_weights(tmp_file("a.last.onnx"), tmp_file("b.last.onnx"));
    assert_same_weights(tmp_file("a.onnx"), tmp_file("b.onnx"));
    /* The resumed log repeats no epoch. */
    assert_int_equal(count_lines(tmp_file("b.log.jsonl")), count_lines(tmp_file("a.log.jsonl")));

    /* SIGTERM: state saved mid-epoch, exit 3, then resumed. */
    train_args(tmp_file("c.onnx"), argv, 0);
    pid = spawn("c1", argv);
    wait_lines(tmp_file("c.log.jsonl"), 2);
    const struct timespec into_epoch = {0, 200 * 1000 * 1000}; /* an epoch takes ~0.5 s */
    nanosleep(&into_epoch, NULL);
    kill(pid, SIGTERM);
    assert_int_equal(wait_for(pid), 3);
    err = slurp(tmp_file("c1.err"));
    assert_non_null(strstr(err ? err : "", "--resume"));
    free(err);
    assert_int_equal(checkpoint_read(tmp_file("c.ckpt/last.ckpt"), &st, &config), UNET_OK);
    printf("stopped by SIGTERM at step %llu (%llu into epoch %llu)\n",
           (unsigned long long)st.progress.global_step,
           (unsigned long long)st.progress.step_in_epoch, (unsigned long long)st.progress.epoch + 1);
    assert_true(st.progress.global_step >= 16 && st.progress.global_step < 60);
    train_state_free(&st);
    free(config);
    train_args(tmp_file("c.onnx"), argv, 1);
    run_ok("c2", argv);
    assert_same_weights(tmp_file("a.last.onnx"), tmp_file("c.last.onnx"));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest train[] = {cmocka_unit_test(test_train_and_infer)};
    const struct CMUnitTest resume[] = {cmocka_unit_test(test_kill_and_resume)};
    if (argc > 1 && strcmp(argv[1], "resume") == 0)
        return cmocka_run_group_tests_name("resume", resume, setup, teardown);
    return cmocka_run_group_tests_name("train", train, setup, teardown);
}
