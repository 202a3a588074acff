/* Seeded random unet_params for tests (see random_params.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "random_params.h"

static double next_uniform(uint64_t *state)
{
    /* xorshift64*: plenty for test data, identical on every platform */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

void random_fill(float *data, size_t count, float lo, float hi, uint64_t *state)
{
    for (size_t i = 0; i < count; i++)
        data[i] = (float)(lo + (hi - lo) * next_uniform(state));
}

static int add(unet_params *p, int cap, const char *name, int kind, int rank,
               const int64_t *dims, float lo, float hi, uint64_t *state)
{
    if (p->n >= cap)
        return -1;
    net_param *q = &p->p[p->n];
    memset(q, 0, sizeof *q);
    snprintf(q->name, sizeof q->name, "%s", name);
    q->kind = kind;
    q->trainable = kind != NET_PARAM_BN_MEAN && kind != NET_PARAM_BN_VAR;
    q->rank = rank;
    q->count = 1;
    for (int i = 0; i < rank; i++) {
        q->dims[i] = dims[i];
        q->count *= (size_t)dims[i];
    }
    q->data = malloc(q->count * sizeof *q->data);
    if (!q->data)
        return -1;
    random_fill(q->data, q->count, lo, hi, state);
    p->n++;
    return 0;
}

static int add_conv(unet_params *p, int cap, const char *prefix, int k, int c_in, int c_out,
                    int batchnorm, uint64_t *state)
{
    char name[64];
    float bound = (float)sqrt(6.0 / (9.0 * c_in)); /* uniform with He variance 2/fan_in */
    int rc = 0;
    snprintf(name, sizeof name, "%s.conv%d.weight", prefix, k);
    rc |= add(p, cap, name, NET_PARAM_CONV_WEIGHT, 4, (const int64_t[]){ c_out, c_in, 3, 3 },
              -bound, bound, state);
    snprintf(name, sizeof name, "%s.conv%d.bias", prefix, k);
    rc |= add(p, cap, name, NET_PARAM_BIAS, 1, (const int64_t[]){ c_out }, -0.1f, 0.1f, state);
    if (batchnorm && !rc) {
        static const struct { const char *part; int kind; float lo, hi; } bn[4] = {
            { "scale", NET_PARAM_BN_SCALE, 0.5f, 1.5f },
            { "shift", NET_PARAM_BN_SHIFT, -0.2f, 0.2f },
            { "mean", NET_PARAM_BN_MEAN, -0.2f, 0.2f },
            { "var", NET_PARAM_BN_VAR, 0.5f, 1.5f },
        };
        for (int i = 0; i < 4 && !rc; i++) {
            snprintf(name, sizeof name, "%s.bn%d.%s", prefix, k, bn[i].part);
            rc |= add(p, cap, name, bn[i].kind, 1, (const int64_t[]){ c_out }, bn[i].lo,
                      bn[i].hi, state);
        }
    }
    return rc;
}

unet_params *random_params_create(const unet_arch *arch, uint64_t seed)
{
    const int cap = 32 * (arch->depth + 2);
    unet_params *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->arch = *arch;
    p->p = calloc((size_t)cap, sizeof *p->p);
    if (!p->p) {
        free(p);
        return NULL;
    }
    uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
    int bn = arch->batchnorm, rc = 0;
    char prefix[16], name[64];
    for (int l = 0; l < arch->depth && !rc; l++) {
        int f = arch->base_filters << l;
        snprintf(prefix, sizeof prefix, "enc%d", l);
        rc |= add_conv(p, cap, prefix, 1, l ? f / 2 : arch->in_channels, f, bn, &state);
        rc |= add_conv(p, cap, prefix, 2, f, f, bn, &state);
    }
    int mid = arch->base_filters << arch->depth;
    rc |= add_conv(p, cap, "mid", 1, mid / 2, mid, bn, &state);
    rc |= add_conv(p, cap, "mid", 2, mid, mid, bn, &state);
    for (int l = arch->depth - 1; l >= 0 && !rc; l--) {
        int f = arch->base_filters << l;
        float bound = (float)sqrt(6.0 / (4.0 * 2 * f));
        snprintf(prefix, sizeof prefix, "dec%d", l);
        snprintf(name, sizeof name, "%s.up.weight", prefix);
        rc |= add(p, cap, name, NET_PARAM_DECONV_WEIGHT, 4, (const int64_t[]){ 2 * f, f, 2, 2 },
                  -bound, bound, &state);
        snprintf(name, sizeof name, "%s.up.bias", prefix);
        rc |= add(p, cap, name, NET_PARAM_BIAS, 1, (const int64_t[]){ f }, -0.1f, 0.1f, &state);
        rc |= add_conv(p, cap, prefix, 1, 2 * f, f, bn, &state);
        rc |= add_conv(p, cap, prefix, 2, f, f, bn, &state);
    }
    float hb = (float)sqrt(6.0 / arch->base_filters);
    rc |= add(p, cap, "head.weight", NET_PARAM_CONV_WEIGHT, 4,
              (const int64_t[]){ arch->n_classes, arch->base_filters, 1, 1 }, -hb, hb, &state);
    rc |= add(p, cap, "head.bias", NET_PARAM_BIAS, 1, (const int64_t[]){ arch->n_classes },
              -0.5f, 0.5f, &state);
    if (rc) {
        random_params_free(p);
        return NULL;
    }
    return p;
}

void random_params_free(unet_params *params)
{
    if (!params)
        return;
    for (int i = 0; i < params->n; i++)
        free(params->p[i].data);
    free(params->p);
    free(params);
}

net_param *random_params_find(unet_params *params, const char *name)
{
    for (int i = 0; i < params->n; i++)
        if (strcmp(params->p[i].name, name) == 0)
            return &params->p[i];
    return NULL;
}
