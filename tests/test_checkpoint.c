/* Checkpoints: exact round trip of every part of the training state, and
 * refusal (with a message saying why) of corrupt, truncated, extended,
 * foreign and inconsistent files. Also starting weights (--init) read back
 * from an exported ONNX model and from a checkpoint. */
#include <dirent.h>
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

#include "checkpoint.h"
#include "export_onnx.h"
#include "init_weights.h"

static char dir[256], path[300];
static uint32_t rng = 12345;

static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / (float)(1u << 24) - 0.5f;
}

static unet_params *random_params(const unet_arch *a)
{
    unet_params *p;
    assert_int_equal(params_create(a, &p), UNET_OK);
    for (int i = 0; i < p->n; i++)
        for (size_t k = 0; k < p->p[i].count; k++)
            p->p[i].data[k] = p->p[i].kind == NET_PARAM_BN_VAR ? 0.5f + frand() : frand();
    return p;
}

static const unet_arch arch_bn = {.in_channels = 3, .n_classes = 6, .depth = 2,
                                  .base_filters = 4, .batchnorm = 1, .dropout = 0.25f};

static void make_state(train_state *st, int kind, int with_best)
{
    memset(st, 0, sizeof *st);
    st->params = random_params(&arch_bn);
    if (with_best)
        st->best = random_params(&arch_bn);
    optim_config c;
    optim_config_default(&c, kind);
    assert_int_equal(optimizer_create(&c, st->params, &st->opt), UNET_OK);
    for (size_t i = 0; i < st->opt->n; i++) {
        st->opt->m[i] = frand();
        if (st->opt->v)
            st->opt->v[i] = frand() + 0.5f;
    }
    st->opt->step = 17;
    train_progress_init(&st->progress, 0xdeadbeefcafeULL);
    train_progress *p = &st->progress;
    p->epoch = 3;
    p->step_in_epoch = 2;
    p->global_step = 17;
    p->dropout_counter = 17;
    if (with_best) {
        p->best_miou = 0.625;
        p->best_epoch = 1;
    }
    p->epochs_since_best = 1;
    p->seconds = 12.5;
    p->epoch_loss_sum = 1.75;
    p->epoch_batches = 2;
    p->epoch_correct = 1000;
    p->epoch_pixels = 2048;
    p->epoch_seconds = 0.5;
}

static void assert_params_equal(const unet_params *a, const unet_params *b)
{
    assert_int_equal(a->n, b->n);
    assert_memory_equal(&a->arch, &b->arch, sizeof a->arch);
    for (int i = 0; i < a->n; i++) {
        assert_string_equal(a->p[i].name, b->p[i].name);
        assert_int_equal(a->p[i].count, b->p[i].count);
        assert_memory_equal(a->p[i].data, b->p[i].data, a->p[i].count * sizeof(float));
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/unet-test-ckpt-%ld", (long)getpid());
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/last.ckpt", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int files_in_dir(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void round_trip(int kind, int with_best)
{
    train_state st, back;
    make_state(&st, kind, with_best);
    assert_int_equal(checkpoint_write(path, &st, "{\"lr\":0.001}"), UNET_OK);
    assert_int_equal(files_in_dir(), 1); /* the temporary file is gone */
    assert_true(checkpoint_is_checkpoint(path));
    char *config = NULL;
    assert_int_equal(checkpoint_read(path, &back, &config), UNET_OK);
    assert_string_equal(config, "{\"lr\":0.001}");
    assert_params_equal(st.params, back.params);
    assert_true(back.params->arch.dropout == 0.25f);
    if (with_best)
        assert_params_equal(st.best, back.best);
    else
        assert_null(back.best);
    assert_int_equal(back.opt->cfg.kind, kind);
    assert_int_equal(back.opt->step, 17);
    assert_int_equal(back.opt->n, st.opt->n);
    assert_memory_equal(back.opt->m, st.opt->m, st.opt->n * sizeof(float));
    if (kind == OPTIM_ADAM)
        assert_memory_equal(back.opt->v, st.opt->v, st.opt->n * sizeof(float));
    else
        assert_null(back.opt->v);
    assert_memory_equal(&back.progress, &st.progress, sizeof st.progress);
    free(config);
    train_state_free(&st);
    train_state_free(&back);
}

static void test_round_trip_adam_with_best(void **state)
{
    (void)state;
    round_trip(OPTIM_ADAM, 1);
}

static void test_round_trip_sgd_without_best(void **state)
{
    (void)state;
    round_trip(OPTIM_SGD, 0);
}

static unsigned char *slurp(size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void spill(const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* Reads the damaged file, expecting status and a message containing what. */
static void expect_refused(unet_status status, const char *what)
{
    train_state st;
    char *config = (char *)"untouched";
    const unet_status s = checkpoint_read(path, &st, &config);
    if (s != status || !strstr(unet_last_error(), what))
        fail_msg("expected %s with \"%s\", got %s: %s", unet_status_name(status), what,
                 unet_status_name(s), unet_last_error());
    assert_null(st.params);
    assert_null(st.opt);
    assert_null(config);
}

static void test_damaged_files(void **state)
{
    (void)state;
    train_state st;
    make_state(&st, OPTIM_ADAM, 1);
    assert_int_equal(checkpoint_write(path, &st, "{}"), UNET_OK);
    train_state_free(&st);
    size_t n;
    unsigned char *good = slurp(&n);
    unsigned char *b = malloc(n + 16);
    assert_non_null(b);

    memcpy(b, good, n); /* one flipped bit in the weights */
    b[n / 2] ^= 0x10;
    spill(b, n);
    expect_refused(UNET_ERR_PARSE, "corrupt");

    spill(good, n - 100); /* truncated */
    expect_refused(UNET_ERR_PARSE, "truncated");
    spill(good, 100); /* shorter than a header */
    expect_refused(UNET_ERR_PARSE, "truncated");
    spill(good, 0);
    expect_refused(UNET_ERR_PARSE, "truncated");

    memcpy(b, good, n); /* extended */
    memset(b + n, 0, 16);
    spill(b, n + 16);
    expect_refused(UNET_ERR_PARSE, "too long");

    memcpy(b, good, n); /* not ours */
    memcpy(b, "PK\003\004xxxx", 8);
    spill(b, n);
    expect_refused(UNET_ERR_PARSE, "not a unet-train checkpoint");

    memcpy(b, good, n); /* a future version */
    b[8] = 2;
    spill(b, n);
    expect_refused(UNET_ERR_UNSUPPORTED, "version 2");

    memcpy(b, good, n); /* header claims another architecture: refused before allocating */
    b[24] = 5;          /* depth */
    spill(b, n);
    expect_refused(UNET_ERR_INVALID, "architecture");
    b[24] = 60;
    spill(b, n);
    expect_refused(UNET_ERR_INVALID, "out of range");

    memcpy(b, good, n); /* a huge moment count cannot slip past the size check */
    b[72 + 7] = 0x7f;
    spill(b, n);
    char *cfg = NULL;
    assert_int_not_equal(checkpoint_read(path, &st, &cfg), UNET_OK);
    assert_null(st.params);

    spill(good, n); /* and the intact file still reads */
    char *config;
    assert_int_equal(checkpoint_read(path, &st, &config), UNET_OK);
    free(config);
    train_state_free(&st);
    free(b);
    free(good);

    unlink(path);
    char *c2;
    assert_int_equal(checkpoint_read(path, &st, &c2), UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), "last.ckpt"));
}

/* --init: an exported model gives back its architecture and exactly its
 * weights; a model for other classes keeps the new head; a model of another
 * depth is refused. */
static void test_init_from_onnx_and_checkpoint(void **state)
{
    (void)state;
    char model[320];
    snprintf(model, sizeof model, "%s/init.onnx", dir);
    unet_params *src = random_params(&arch_bn);
    assert_int_equal(unet_export_onnx(model, src, NULL), UNET_OK);
    unet_arch a;
    assert_int_equal(init_weights_arch(model, &a), UNET_OK);
    assert_int_equal(a.depth, 2);
    assert_int_equal(a.base_filters, 4);
    assert_int_equal(a.batchnorm, 1);
    assert_int_equal(a.n_classes, 6);
    assert_int_equal(a.in_channels, 3);
    a.dropout = arch_bn.dropout;
    unet_params *dst;
    assert_int_equal(params_create(&a, &dst), UNET_OK);
    int new_head = -1;
    assert_int_equal(init_weights_load(model, dst, 0, &new_head), UNET_OK);
    assert_int_equal(new_head, 0);
    assert_params_equal(src, dst);
    params_free(dst);

    unet_arch other = arch_bn;
    other.n_classes = 3;
    assert_int_equal(params_create(&other, &dst), UNET_OK);
    params_init_he(dst, 1);
    const float head0 = params_find(dst, "head.weight")->data[0];
    assert_int_equal(init_weights_load(model, dst, 0, &new_head), UNET_ERR_SHAPE);
    assert_non_null(strstr(unet_last_error(), "head.weight"));
    assert_int_equal(init_weights_load(model, dst, 1, &new_head), UNET_OK);
    assert_int_equal(new_head, 1);
    assert_true(params_find(dst, "head.weight")->data[0] == head0);
    assert_memory_equal(params_find(dst, "enc1.conv2.weight")->data,
                        params_find(src, "enc1.conv2.weight")->data,
                        params_find(src, "enc1.conv2.weight")->count * sizeof(float));
    params_free(dst);

    other = arch_bn;
    other.depth = 3;
    assert_int_equal(params_create(&other, &dst), UNET_OK);
    assert_int_not_equal(init_weights_load(model, dst, 1, &new_head), UNET_OK);
    assert_non_null(strstr(unet_last_error(), "init.onnx"));
    params_free(dst);

    /* From a checkpoint: its best weights. */
    train_state st;
    make_state(&st, OPTIM_ADAM, 1);
    assert_int_equal(checkpoint_write(path, &st, "{}"), UNET_OK);
    assert_int_equal(init_weights_arch(path, &a), UNET_OK);
    assert_int_equal(a.depth, 2);
    assert_int_equal(params_create(&a, &dst), UNET_OK);
    assert_int_equal(init_weights_load(path, dst, 0, &new_head), UNET_OK);
    assert_params_equal(st.best, dst);
    params_free(dst);
    train_state_free(&st);

    /* Not a model at all. */
    FILE *f = fopen(model, "wb");
    fputs("hello, world", f);
    fclose(f);
    assert_int_not_equal(init_weights_arch(model, &a), UNET_OK);
    params_free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_adam_with_best),
        cmocka_unit_test(test_round_trip_sgd_without_best),
        cmocka_unit_test(test_damaged_files),
        cmocka_unit_test(test_init_from_onnx_and_checkpoint),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
