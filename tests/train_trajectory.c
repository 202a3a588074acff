/* Runs a short training trajectory of the trainer's U-Net and writes
 * everything an independent reference needs to repeat it: the architecture,
 * the initial parameters, the fixed batches (inputs, labels with ignore
 * pixels, class weights) and, after chosen steps, the parameters and the
 * loss the trainer computed. tests/torch/trajectory_check.py repeats the same
 * steps in PyTorch (float64) and compares.
 *
 * Usage: train-trajectory OUT_DIR depth base_filters batchnorm adam|sgd
 *                         steps lr weight_decay class_weights(0|1) seed
 * Input is batch 2 x 3 x 8 x 8 * 2^(depth-1) (so every level is at least
 * 8 x 8 before the bottleneck pool, and 4 x 4 after it). Small, because each
 * activation near a ReLU kink may take the other branch in float32 and make
 * that step's gradient differ (see tests/torch/trajectory_check.py).
 *
 * OUT_DIR receives:
 *   meta.txt            key value lines (arch, optimiser, sizes, ISA)
 *   params.txt          name kind trainable count dims... per parameter, in order
 *   init.f32            all parameters back to back (float32), before step 1
 *   inputs.f32          steps x batch x 3 x H x W
 *   labels.u8           steps x batch x H x W (255 = ignore)
 *   class_weights.f32   n_classes (only with class_weights 1)
 *   grad_STEP.f32       the gradients of the trainable parameters in step 1..steps
 *                       (before the optimiser uses them), back to back
 *   after_STEP.f32      all parameters after each step 1..steps
 *   losses.txt          the loss of each step's forward, one per line (%.17g)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <dnnl.h>

#include "net.h"
#include "optimizer.h"

#define BATCH 2
#define IGNORE 255

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_u64(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dULL;
}

static double next_unit(void) { return (double)(next_u64() >> 11) / 9007199254740992.0; }

static int write_file(const char *dir, const char *name, const void *data, size_t bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, bytes, f) != bytes || fclose(f) != 0) {
        fprintf(stderr, "train-trajectory: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_params(const char *dir, const char *name, const unet_params *params)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = 1;
    for (int i = 0; i < params->n; i++)
        ok &= fwrite(params->p[i].data, sizeof(float), params->p[i].count, f) ==
              params->p[i].count;
    ok &= fclose(f) == 0;
    if (!ok)
        fprintf(stderr, "train-trajectory: cannot write %s\n", path);
    return ok ? 0 : -1;
}

static int write_grads(const char *dir, const char *name, const unet_params *params)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = 1;
    for (int i = 0; i < params->n; i++)
        if (params->p[i].trainable)
            ok &= fwrite(params->p[i].grad, sizeof(float), params->p[i].count, f) ==
                  params->p[i].count;
    ok &= fclose(f) == 0;
    if (!ok)
        fprintf(stderr, "train-trajectory: cannot write %s\n", path);
    return ok ? 0 : -1;
}

static const char *isa_tag(void)
{
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    default: return "other";
    }
}

/* Labels that depend on the input (so the gradients point somewhere) with
 * about 10% noise and 8% ignore pixels. */
static void make_batch(float *x, uint8_t *y, int n_classes, int h, int w)
{
    const size_t hw = (size_t)h * (size_t)w;
    for (size_t i = 0; i < (size_t)BATCH * 3 * hw; i++)
        x[i] = (float)next_unit();
    for (int b = 0; b < BATCH; b++)
        for (size_t i = 0; i < hw; i++) {
            const float *px = x + (size_t)b * 3 * hw + i;
            const double u = next_unit();
            int c = (int)((px[0] + px[hw]) * 0.5f * (float)n_classes) % n_classes;
            if (u < 0.08)
                c = IGNORE;
            else if (u < 0.18)
                c = (int)(next_u64() % (uint64_t)n_classes);
            y[(size_t)b * hw + i] = (uint8_t)c;
        }
}

int main(int argc, char **argv)
{
    if (argc != 11) {
        fprintf(stderr, "usage: %s OUT_DIR depth base_filters batchnorm adam|sgd steps lr "
                        "weight_decay class_weights seed\n",
                argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    unet_arch arch = {.in_channels = 3, .n_classes = 6, .depth = atoi(argv[2]),
                      .base_filters = atoi(argv[3]), .batchnorm = atoi(argv[4]), .dropout = 0};
    const int adam = strcmp(argv[5], "adam") == 0;
    const int steps = atoi(argv[6]);
    const double lr = atof(argv[7]), wd = atof(argv[8]);
    const int use_cw = atoi(argv[9]);
    rng ^= (uint64_t)strtoull(argv[10], NULL, 10) * 0xd1b54a32d192ed03ULL;
    if (steps < 1 || steps > 1000 || (!adam && strcmp(argv[5], "sgd"))) {
        fprintf(stderr, "train-trajectory: bad steps or optimiser\n");
        return 2;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "train-trajectory: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    const int side = 8 << (arch.depth - 1);
    const size_t hw = (size_t)side * (size_t)side;

    unet_params *params = NULL;
    unet_net *net = NULL;
    optimizer *opt = NULL;
    if (params_create(&arch, &params) != UNET_OK) {
        fprintf(stderr, "train-trajectory: %s\n", unet_last_error());
        return 2;
    }
    params_init_he(params, next_u64());
    /* Non-trivial BN affine parameters and biases, so their gradients matter. */
    for (int i = 0; i < params->n; i++) {
        net_param *p = &params->p[i];
        for (size_t k = 0; k < p->count; k++) {
            if (p->kind == NET_PARAM_BIAS || p->kind == NET_PARAM_BN_SHIFT)
                p->data[k] = (float)(0.1 * (next_unit() - 0.5));
            else if (p->kind == NET_PARAM_BN_SCALE)
                p->data[k] = (float)(0.8 + 0.4 * next_unit());
        }
    }
    optim_config cfg;
    optim_config_default(&cfg, adam ? OPTIM_ADAM : OPTIM_SGD);
    cfg.weight_decay = wd;
    if (net_create(params, BATCH, side, side, &net) != UNET_OK ||
        optimizer_create(&cfg, params, &opt) != UNET_OK) {
        fprintf(stderr, "train-trajectory: %s\n", unet_last_error());
        return 2;
    }

    FILE *meta = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.txt", dir);
    meta = fopen(path, "w");
    if (!meta)
        return 1;
    fprintf(meta, "depth %d\nbase_filters %d\nbatchnorm %d\nn_classes %d\nin_channels %d\n"
                  "optimizer %s\nsteps %d\nlr %.17g\nweight_decay %.17g\nbeta1 %.17g\n"
                  "beta2 %.17g\neps %.17g\nmomentum %.17g\nbatch %d\nheight %d\nwidth %d\n"
                  "class_weights %d\nignore %d\nbn_epsilon 1e-5\nbn_momentum 0.1\nisa %s\n",
            arch.depth, arch.base_filters, arch.batchnorm, arch.n_classes, arch.in_channels,
            adam ? "adam" : "sgd", steps, lr, wd, cfg.beta1, cfg.beta2, cfg.eps, cfg.momentum,
            BATCH, side, side, use_cw, IGNORE, isa_tag());
    fclose(meta);
    snprintf(path, sizeof path, "%s/params.txt", dir);
    FILE *pt = fopen(path, "w");
    if (!pt)
        return 1;
    for (int i = 0; i < params->n; i++) {
        const net_param *p = &params->p[i];
        fprintf(pt, "%s %d %d %zu", p->name, p->kind, p->trainable, p->count);
        for (int d = 0; d < p->rank; d++)
            fprintf(pt, " %lld", (long long)p->dims[d]);
        fprintf(pt, "\n");
    }
    fclose(pt);

    float cw[6];
    for (int c = 0; c < arch.n_classes; c++)
        cw[c] = (float)(0.5 + 1.5 * next_unit());
    if (use_cw && write_file(dir, "class_weights.f32", cw, sizeof cw))
        return 1;
    if (write_params(dir, "init.f32", params))
        return 1;

    const size_t nx = (size_t)BATCH * 3 * hw, ny = (size_t)BATCH * hw;
    float *xs = malloc((size_t)steps * nx * sizeof *xs);
    uint8_t *ys = malloc((size_t)steps * ny);
    if (!xs || !ys)
        return 1;
    for (int s = 0; s < steps; s++)
        make_batch(xs + (size_t)s * nx, ys + (size_t)s * ny, arch.n_classes, side, side);
    if (write_file(dir, "inputs.f32", xs, (size_t)steps * nx * sizeof *xs) ||
        write_file(dir, "labels.u8", ys, (size_t)steps * ny))
        return 1;

    snprintf(path, sizeof path, "%s/losses.txt", dir);
    FILE *lf = fopen(path, "w");
    if (!lf)
        return 1;
    for (int s = 0; s < steps; s++) {
        double loss = 0;
        if (net_forward(net, xs + (size_t)s * nx, 1) != UNET_OK ||
            net_loss(net, ys + (size_t)s * ny, use_cw ? cw : NULL, IGNORE, &loss) != UNET_OK ||
            net_backward(net) != UNET_OK) {
            fprintf(stderr, "train-trajectory: step %d: %s\n", s + 1, unet_last_error());
            return 1;
        }
        char name[64];
        snprintf(name, sizeof name, "grad_%d.f32", s + 1);
        if (write_grads(dir, name, params))
            return 1;
        if (optimizer_step(opt, params, lr) != UNET_OK) {
            fprintf(stderr, "train-trajectory: step %d: %s\n", s + 1, unet_last_error());
            return 1;
        }
        fprintf(lf, "%.17g\n", loss);
        snprintf(name, sizeof name, "after_%d.f32", s + 1);
        if (write_params(dir, name, params))
            return 1;
    }
    fclose(lf);
    free(xs);
    free(ys);
    optimizer_free(opt);
    net_free(net);
    params_free(params);
    return 0;
}
