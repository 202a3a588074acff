/* The U-Net's parameters: names, shapes and plain (ONNX) layouts, He-normal
 * initialisation with a seeded RNG, and the analytic FLOP count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "net.h"

/* Total floats in one parameter set; larger architectures are refused. */
#define PARAMS_MAX_FLOATS ((size_t)1 << 30)

static unet_status check_arch(const unet_arch *a)
{
    if (a->depth < 1 || a->depth > 6)
        return unet_set_error(UNET_ERR_ARG, "U-Net depth %d outside 1..6", a->depth);
    if (a->base_filters < 1 || a->base_filters > 512)
        return unet_set_error(UNET_ERR_ARG, "U-Net base filters %d outside 1..512",
                              a->base_filters);
    if (a->n_classes < 2 || a->n_classes > 255)
        return unet_set_error(UNET_ERR_ARG, "U-Net classes %d outside 2..255", a->n_classes);
    if (a->in_channels < 1 || a->in_channels > 16)
        return unet_set_error(UNET_ERR_ARG, "U-Net input channels %d outside 1..16",
                              a->in_channels);
    if (a->batchnorm != 0 && a->batchnorm != 1)
        return unet_set_error(UNET_ERR_ARG, "U-Net batchnorm flag %d is not 0 or 1", a->batchnorm);
    if (!(a->dropout >= 0.0f && a->dropout < 1.0f))
        return unet_set_error(UNET_ERR_ARG, "U-Net dropout rate %g outside [0, 1)",
                              (double)a->dropout);
    return UNET_OK;
}

/* Builds the parameter list; with out == NULL only counts (*n, *floats). */
typedef struct param_builder {
    net_param *out;
    int n;
    size_t floats;
} param_builder;

static void add(param_builder *b, const char *name, int kind, int rank, int64_t d0, int64_t d1,
                int64_t d2, int64_t d3)
{
    const int64_t d[4] = {d0, d1, d2, d3};
    size_t count = 1;
    for (int i = 0; i < rank; i++)
        count *= (size_t)d[i];
    if (b->out) {
        net_param *p = &b->out[b->n];
        memset(p, 0, sizeof *p);
        snprintf(p->name, sizeof p->name, "%s", name);
        p->kind = kind;
        p->trainable = kind != NET_PARAM_BN_MEAN && kind != NET_PARAM_BN_VAR;
        p->rank = rank;
        for (int i = 0; i < 4; i++)
            p->dims[i] = i < rank ? d[i] : 1;
        p->count = count;
    }
    b->n++;
    b->floats += count;
}

static void add_conv(param_builder *b, const char *prefix, int in, int out, int k)
{
    char nm[64];
    snprintf(nm, sizeof nm, "%s.weight", prefix);
    add(b, nm, NET_PARAM_CONV_WEIGHT, 4, out, in, k, k);
    snprintf(nm, sizeof nm, "%s.bias", prefix);
    add(b, nm, NET_PARAM_BIAS, 1, out, 1, 1, 1);
}

static void add_bn(param_builder *b, const char *prefix, int ch)
{
    static const char *const what[4] = {"scale", "shift", "mean", "var"};
    static const int kinds[4] = {NET_PARAM_BN_SCALE, NET_PARAM_BN_SHIFT, NET_PARAM_BN_MEAN,
                                 NET_PARAM_BN_VAR};
    char nm[64];
    for (int i = 0; i < 4; i++) {
        snprintf(nm, sizeof nm, "%s.%s", prefix, what[i]);
        add(b, nm, kinds[i], 1, ch, 1, 1, 1);
    }
}

/* Two conv3x3 (+ BN) named <level>.conv1/.bn1/.conv2/.bn2. */
static void add_block(param_builder *b, const unet_arch *a, const char *level, int in, int out)
{
    char nm[24]; /* short prefixes keep the full names within net_param.name */
    for (int k = 1; k <= 2; k++) {
        snprintf(nm, sizeof nm, "%s.conv%d", level, k);
        add_conv(b, nm, k == 1 ? in : out, out, 3);
        if (a->batchnorm) {
            snprintf(nm, sizeof nm, "%s.bn%d", level, k);
            add_bn(b, nm, out);
        }
    }
}

static void build(param_builder *b, const unet_arch *a)
{
    char nm[24];
    int in = a->in_channels;
    for (int l = 0; l < a->depth; l++) {
        snprintf(nm, sizeof nm, "enc%d", l);
        add_block(b, a, nm, in, a->base_filters << l);
        in = a->base_filters << l;
    }
    add_block(b, a, "mid", in, a->base_filters << a->depth);
    for (int l = a->depth - 1; l >= 0; l--) {
        const int f = a->base_filters << l;
        snprintf(nm, sizeof nm, "dec%d.up.weight", l);
        add(b, nm, NET_PARAM_DECONV_WEIGHT, 4, 2 * f, f, 2, 2); /* IOHW */
        snprintf(nm, sizeof nm, "dec%d.up.bias", l);
        add(b, nm, NET_PARAM_BIAS, 1, f, 1, 1, 1);
        snprintf(nm, sizeof nm, "dec%d", l);
        add_block(b, a, nm, 2 * f, f);
    }
    add_conv(b, "head", a->base_filters, a->n_classes, 1);
}

/* unet_params plus the two blocks its parameters point into. */
typedef struct params_storage {
    unet_params pub;
    float *data, *grad;
} params_storage;

static size_t round_up16(size_t n) { return (n + 15) / 16 * 16; }

unet_status params_create(const unet_arch *arch, unet_params **out)
{
    *out = NULL;
    if (!arch)
        return unet_set_error(UNET_ERR_ARG, "params_create: no architecture");
    UNET_TRY(check_arch(arch));
    param_builder count = {0};
    build(&count, arch);
    if (count.floats > PARAMS_MAX_FLOATS)
        return unet_set_error(UNET_ERR_LIMIT,
                              "U-Net with base %d and depth %d has %zu parameters (at most %zu)",
                              arch->base_filters, arch->depth, count.floats, PARAMS_MAX_FLOATS);
    params_storage *st = calloc(1, sizeof *st);
    net_param *list = calloc((size_t)count.n, sizeof *list);
    if (!st || !list) {
        free(st);
        free(list);
        return unet_set_error(UNET_ERR_NOMEM, "U-Net parameters: out of memory");
    }
    unet_params *ps = &st->pub;
    ps->arch = *arch;
    ps->p = list;
    param_builder fill = {list, 0, 0};
    build(&fill, arch);
    ps->n = fill.n;
    /* One block for all values and one for all gradients, each parameter
     * starting on a 64-byte boundary. */
    size_t total = 0;
    for (int i = 0; i < ps->n; i++)
        total += round_up16(list[i].count);
    float *data = aligned_alloc(64, total * sizeof(float));
    float *grad = aligned_alloc(64, total * sizeof(float));
    if (!data || !grad) {
        free(data);
        free(grad);
        free(list);
        free(st);
        return unet_set_error(UNET_ERR_NOMEM, "U-Net parameters: %zu floats: out of memory", total);
    }
    memset(data, 0, total * sizeof(float));
    memset(grad, 0, total * sizeof(float));
    st->data = data;
    st->grad = grad;
    size_t off = 0;
    for (int i = 0; i < ps->n; i++) {
        list[i].data = data + off;
        list[i].grad = list[i].trainable ? grad + off : NULL;
        off += round_up16(list[i].count);
    }
    *out = ps;
    return UNET_OK;
}

void params_free(unet_params *params)
{
    if (!params)
        return;
    params_storage *st = (params_storage *)params;
    free(st->data);
    free(st->grad);
    free(params->p);
    free(st);
}

/* xoshiro256** seeded through splitmix64, and Box-Muller normals. */
typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in (0, 1]: never 0, so log() below is finite. */
static double uniform01(rng *r) { return ((next_u64(r) >> 11) + 1) * 0x1.0p-53; }

static double normal(rng *r)
{
    const double u1 = uniform01(r), u2 = uniform01(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void params_init_he(unet_params *params, uint64_t seed)
{
    rng r;
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++)
        r.s[i] = splitmix64(&sm);
    for (int i = 0; i < params->n; i++) {
        net_param *p = &params->p[i];
        double fan_in = 0;
        switch (p->kind) {
        case NET_PARAM_CONV_WEIGHT: /* OIHW: in * kh * kw */
            fan_in = (double)p->dims[1] * (double)p->dims[2] * (double)p->dims[3];
            break;
        case NET_PARAM_DECONV_WEIGHT:
            /* IOHW, kernel 2x2 with stride 2: each output pixel sums exactly one
             * tap per input channel, so its fan-in is in * kh * kw / (2 * 2) =
             * in. (PyTorch's kaiming_normal_ would take dims[1] * kh * kw =
             * out * 4 = 2 * in here, a std smaller by sqrt 2.) */
            fan_in = (double)p->dims[0] * (double)p->dims[2] * (double)p->dims[3] / 4.0;
            break;
        default:
            break;
        }
        for (size_t j = 0; j < p->count; j++) {
            float v = 0.0f;
            switch (p->kind) {
            case NET_PARAM_CONV_WEIGHT:
            case NET_PARAM_DECONV_WEIGHT: v = (float)(normal(&r) * sqrt(2.0 / fan_in)); break;
            case NET_PARAM_BN_SCALE:
            case NET_PARAM_BN_VAR: v = 1.0f; break;
            default: v = 0.0f; break;
            }
            p->data[j] = v;
        }
    }
}

net_param *params_find(unet_params *params, const char *name)
{
    for (int i = 0; i < params->n; i++)
        if (strcmp(params->p[i].name, name) == 0)
            return &params->p[i];
    return NULL;
}

size_t params_trainable_count(const unet_params *params)
{
    size_t n = 0;
    for (int i = 0; i < params->n; i++)
        if (params->p[i].trainable)
            n += params->p[i].count;
    return n;
}

double unet_arch_flops(const unet_arch *a, int height, int width)
{
    if (!a || a->depth < 1 || a->depth > 6 || a->base_filters < 1 || height < 1 || width < 1)
        return 0.0;
    /* 2 * multiply-adds of every conv, transposed conv and the head; biases,
     * BN, ReLU, pooling and softmax are left out. */
    double macs = 0;
    double in = a->in_channels;
    for (int l = 0; l < a->depth; l++) {
        const double s = (double)(height >> l) * (double)(width >> l), f = a->base_filters << l;
        macs += s * 9 * in * f + s * 9 * f * f;
        in = f;
    }
    const double sm = (double)(height >> a->depth) * (double)(width >> a->depth);
    const double fm = (double)(a->base_filters << a->depth);
    macs += sm * 9 * in * fm + sm * 9 * fm * fm;
    for (int l = a->depth - 1; l >= 0; l--) {
        const double s = (double)(height >> l) * (double)(width >> l), f = a->base_filters << l;
        macs += s * (2 * f) * f;                 /* 2x2 stride 2: one tap per output pixel */
        macs += s * 9 * (2 * f) * f + s * 9 * f * f;
    }
    macs += (double)height * width * a->base_filters * a->n_classes;
    return 2.0 * macs;
}
