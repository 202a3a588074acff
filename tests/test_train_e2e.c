/* unet-train end to end, on synthetic scenes (unet-synth -> unet-tile, 64x64
 * tiles, 3 scenes in 3 folds):
 *  - "train": a small U-Net trained for 240 steps must segment its training
 *    tiles with >= 90% pixel accuracy (always predicting the commonest class
 *    gives about 76%) and the held-out scene with >= 70% (71% for the
 *    commonest class; seeds and ISAs spread it over 0.75-0.95), measured here from the masks unet-infer writes with
 *    the exported model; the last epoch's validation pixel accuracy that
 *    unet-train reports must agree with that measurement; the model opens in
 *    libunet with its metadata; logs and checkpoint exist.
 *  - "resume": a run killed with SIGKILL mid-epoch and resumed, and a run
 *    stopped with SIGTERM (exit 3) and resumed, end with weights bit-identical
 *    to an uninterrupted run (batch norm, dropout and augmentation on).
 *  - "losses": --loss ce+lovasz with --crops-per-epoch and --loss dice train,
 *    are recorded in the model, and a crop run resumed mid-epoch repeats.
 * Usage: test_train_e2e train|resume|losses; programs come from UNET_TRAIN,
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <unet/image.h>
#include <unet/unet.h>

#include "checkpoint.h"
#include "tool_run.h"
#include "weights_compare.h"

static const char *train_exe, *synth_exe, *tile_exe, *infer_exe;

/* Synthetic scenes cut into 64x64 tiles, 3 scenes in folds 0..2. */
static const tiles_recipe e2e_tiles = {.scenes = 3, .scene_size = 256, .tile = 64, .folds = 3};

static int setup(void **state)
{
    (void)state;
    train_exe = getenv("UNET_TRAIN");
    synth_exe = getenv("UNET_SYNTH");
    tile_exe = getenv("UNET_TILE");
    infer_exe = getenv("UNET_INFER");
    if (!train_exe || !synth_exe || !tile_exe || !infer_exe)
        return -1;
    return tmp_folder_create("train");
}

/* Pixel accuracy of written masks against the tiles' masks, over the tiles
 * whose fold (folds.tsv) is (want_val ? "2" : not "2"). */
static double accuracy(const char *masks_dir, int want_val)
{
    char *folds = slurp(tmp_file("tiles/folds.tsv"), NULL);
    assert_non_null(folds);
    uint64_t right = 0, total = 0;
    int tiles = 0;
    for (char *line = strtok(folds, "\n"); line; line = strtok(NULL, "\n")) {
        char name[200], scene[100], fold[20];
        assert_int_equal(sscanf(line, "%199[^\t]\t%99[^\t]\t%19s", name, scene, fold), 3);
        if ((strcmp(fold, "2") == 0) != want_val)
            continue;
        char truth_path[600], pred_path[600];
        FMT(truth_path, sizeof truth_path, "%s/tiles/masks/%s.png", tmp_folder(), name);
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
    make_tiles(synth_exe, tile_exe, &e2e_tiles);
    const char *train[] = {train_exe, tmp_file("tiles"), "-o", tmp_file("m.onnx"), "--depth",
                           "2", "--filters", "8", "--max-steps", "240", "--epochs", "1000",
                           "--lr", "0.005", "--schedule", "constant", "--no-augment",
                           "--val-fold", "2", "--threads", "1", "--seed", "0", "--json-file",
                           tmp_file("summary.json"), NULL};
    run_expect("train", train, 0);
    /* 32 training tiles / batch 8 = 4 steps per epoch: 60 epochs. */
    assert_int_equal(count_lines(tmp_file("m.log.jsonl")), 60);
    assert_int_equal(count_lines(tmp_file("m.log.csv")), 61);
    struct stat st;
    assert_int_equal(stat(tmp_file("m.ckpt/last.ckpt"), &st), 0);
    assert_int_equal(stat(tmp_file("m.last.onnx"), &st), 0);

    /* The loss must have come down a long way. */
    char *log = slurp(tmp_file("m.log.jsonl"), NULL);
    assert_non_null(log);
    const double first = json_scan_number(log, "train_loss");
    const char *last_line = log + strlen(log) - 2;
    while (last_line > log && last_line[-1] != '\n')
        last_line--;
    const double last = json_scan_number(last_line, "train_loss");
    const double reported_val_acc = json_scan_number(last_line, "val_pixel_accuracy");
    if (!(last < 0.3 * first))
        fail_msg("train loss %g -> %g", first, last);
    free(log);
    char *summary = slurp(tmp_file("summary.json"), NULL);
    assert_non_null(summary);
    assert_int_equal((int)json_scan_number(summary, "steps"), 240);
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
    run_expect("infer", infer, 0);
    const double train_acc = accuracy(tmp_file("pred"), 0);
    const double val_acc = accuracy(tmp_file("pred"), 1);
    printf("pixel accuracy through unet-infer: training scenes %.4f, held-out scene %.4f "
           "(unet-train reported %.4f)\n",
           train_acc, val_acc, reported_val_acc);
    /* Bars outside the spread of seeds and ISAs: this run over seeds 0-7 at AVX2 and
     * at AVX-512 (issue 14) reached 0.937-0.993 on the training scenes (the
     * trainer's last-epoch figure) and 0.751-0.945 on the held-out scene; the
     * held-out figure is chaotic at this learning rate on either ISA. */
    assert_true(train_acc >= 0.90);
    assert_true(val_acc >= 0.70);
    /* Same weights, same tiles: the trainer's validation agrees with the runtime. */
    assert_true(fabs(val_acc - reported_val_acc) < 0.002);

    /* The best model runs too. */
    const char *infer_best[] = {infer_exe, tmp_file("m.onnx"), tmp_file("tiles"), "-o",
                                tmp_file("pred_best"), "--threads", "1", "--quiet", NULL};
    run_expect("infer_best", infer_best, 0);
    assert_true(accuracy(tmp_file("pred_best"), 1) >= 0.70);

    /* A second run into the same output refuses to overwrite the checkpoint. */
    run_expect("again", train, 2);
    char *err = slurp(tmp_file("again.err"), NULL);
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

static void test_kill_and_resume(void **state)
{
    (void)state;
    make_tiles(synth_exe, tile_exe, &e2e_tiles);
    const char *argv[64];

    /* Uninterrupted: 32 tiles / batch 4 = 8 steps per epoch, 60 steps. */
    train_args(tmp_file("a.onnx"), argv, 0);
    run_expect("a", argv, 0);

    /* SIGKILL after the third epoch's log line, i.e. inside epoch 4. */
    train_args(tmp_file("b.onnx"), argv, 0);
    pid_t pid = run_start("b1", argv);
    wait_lines(tmp_file("b.log.jsonl"), 3, 50);
    kill(pid, SIGKILL);
    assert_int_equal(run_wait(pid, "b1"), 128 + SIGKILL);
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
    run_expect("b_locked", argv, 1);
    err = slurp(tmp_file("b_locked.err"), NULL);
    assert_non_null(err);
    assert_non_null(strstr(err, "in use by another training run"));
    free(err);
    assert_int_equal(count_lines(tmp_file("b.log.jsonl")), 3);
    close(lock);
    run_expect("b2", argv, 0);
    weights_assert_same(tmp_file("a.last.onnx"), tmp_file("b.last.onnx"));
    weights_assert_same(tmp_file("a.onnx"), tmp_file("b.onnx"));
    /* The resumed log repeats no epoch. */
    assert_int_equal(count_lines(tmp_file("b.log.jsonl")), count_lines(tmp_file("a.log.jsonl")));

    /* SIGTERM: state saved mid-epoch, exit 3, then resumed. */
    train_args(tmp_file("c.onnx"), argv, 0);
    pid = run_start("c1", argv);
    wait_lines(tmp_file("c.log.jsonl"), 2, 50);
    const struct timespec into_epoch = {0, 200 * 1000 * 1000}; /* an epoch takes ~0.5 s */
    nanosleep(&into_epoch, NULL);
    kill(pid, SIGTERM);
    assert_int_equal(run_wait(pid, "c1"), 3);
    err = slurp(tmp_file("c1.err"), NULL);
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
    run_expect("c2", argv, 0);
    weights_assert_same(tmp_file("a.last.onnx"), tmp_file("c.last.onnx"));
}

/* ---- losses and crops -------------------------------------------------------------- */

/* train_loss of the first and the last line of a log.jsonl. */
static void first_last_loss(const char *log_path, double *first, double *last)
{
    char *log = slurp(log_path, NULL);
    assert_non_null(log);
    *first = json_scan_number(log, "train_loss");
    const char *last_line = log + strlen(log) - 2;
    while (last_line > log && last_line[-1] != '\n')
        last_line--;
    *last = json_scan_number(last_line, "train_loss");
    free(log);
}

static void loss_args(const char *out, const char *loss, const char *crops, const char *steps,
                      int resume, const char **argv)
{
    int n = 0;
    static const char *const common[] = {"--depth", "2", "--filters", "8", "--batch", "8",
                                         "--epochs", "100", "--lr", "0.005", "--schedule",
                                         "constant", "--val-fold", "2", "--threads", "1",
                                         "--seed", "0", "--quiet", NULL};
    argv[n++] = train_exe;
    argv[n++] = tmp_file("tiles");
    argv[n++] = "-o";
    argv[n++] = out;
    for (int i = 0; common[i]; i++)
        argv[n++] = common[i];
    argv[n++] = "--loss";
    argv[n++] = loss;
    argv[n++] = "--max-steps";
    argv[n++] = steps;
    if (crops) {
        argv[n++] = "--crops-per-epoch";
        argv[n++] = crops;
    }
    if (resume)
        argv[n++] = "--resume";
    argv[n] = NULL;
}

/* --loss ce+lovasz on --crops-per-epoch 32 (4 steps an epoch) and --loss dice
 * on tiles train (the loss comes down; over seeds 0-2 the last epoch's loss
 * was 0.33-0.44 of the first's for ce+lovasz with crops, 0.56-0.91 for dice;
 * with this seed 0.44 and 0.69, at ONEDNN_MAX_CPU_ISA=AVX2 0.44 and 0.74);
 * the model records loss and crops; a run
 * stopped mid-epoch (step 30; the constant rate makes --max-steps leave the
 * schedule alone) and resumed ends with the uninterrupted run's weights, so
 * crops are drawn from the seed, epoch and sample alone. */
static void test_losses_and_crops(void **state)
{
    (void)state;
    make_tiles(synth_exe, tile_exe, &e2e_tiles);
    const char *argv[64];
    loss_args(tmp_file("a.onnx"), "ce+lovasz", "32", "60", 0, argv);
    run_expect("a", argv, 0);
    double first, last;
    first_last_loss(tmp_file("a.log.jsonl"), &first, &last);
    printf("ce+lovasz on crops: train loss %.4f -> %.4f\n", first, last);
    if (!(last < 0.6 * first))
        fail_msg("ce+lovasz on crops: train loss %g -> %g", first, last);
    unet_model *model;
    assert_int_equal(unet_model_open_file(tmp_file("a.onnx"), NULL, &model), UNET_OK);
    const char *training = unet_model_metadata(model, "unet.training");
    assert_non_null(training);
    assert_non_null(strstr(training, "\"loss\":\"ce+lovasz\",\"loss_weight\":1"));
    assert_non_null(strstr(training, "\"crops_per_epoch\":32"));
    unet_model_free(model);

    loss_args(tmp_file("b.onnx"), "ce+lovasz", "32", "30", 0, argv);
    run_expect("b1", argv, 0);
    loss_args(tmp_file("b.onnx"), "ce+lovasz", "32", "60", 1, argv);
    run_expect("b2", argv, 0);
    weights_assert_same(tmp_file("a.last.onnx"), tmp_file("b.last.onnx"));

    loss_args(tmp_file("d.onnx"), "dice", NULL, "60", 0, argv);
    run_expect("d", argv, 0);
    first_last_loss(tmp_file("d.log.jsonl"), &first, &last);
    printf("dice on tiles: train loss %.4f -> %.4f\n", first, last);
    if (!(last < 0.9 * first))
        fail_msg("dice: train loss %g -> %g", first, last);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest train[] = {cmocka_unit_test(test_train_and_infer)};
    const struct CMUnitTest resume[] = {cmocka_unit_test(test_kill_and_resume)};
    const struct CMUnitTest losses[] = {cmocka_unit_test(test_losses_and_crops)};
    if (argc > 1 && strcmp(argv[1], "resume") == 0)
        return cmocka_run_group_tests_name("resume", resume, setup, tmp_folder_remove);
    if (argc > 1 && strcmp(argv[1], "losses") == 0)
        return cmocka_run_group_tests_name("losses", losses, setup, tmp_folder_remove);
    return cmocka_run_group_tests_name("train", train, setup, tmp_folder_remove);
}
