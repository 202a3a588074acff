/* Naive double-precision U-Net forward (see reference_unet.h). Written for
 * reading, not speed: every output element is one explicit sum. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference_unet.h"

#define AT4(c, h, w, i, j, y, x) ((((size_t)(i) * (c) + (j)) * (h) + (y)) * (w) + (x))

void ref_conv2d(const double *in, int n, int c_in, int h, int w, const float *weight,
                const float *bias, int c_out, int k, int pad, double *out)
{
    int oh = h + 2 * pad - k + 1, ow = w + 2 * pad - k + 1;
    for (int b = 0; b < n; b++)
        for (int o = 0; o < c_out; o++)
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++) {
                    double sum = bias ? bias[o] : 0.0;
                    for (int i = 0; i < c_in; i++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int sy = y + ky - pad, sx = x + kx - pad;
                                if (sy < 0 || sy >= h || sx < 0 || sx >= w)
                                    continue;
                                sum += (double)weight[AT4(c_in, k, k, o, i, ky, kx)] *
                                       in[AT4(c_in, h, w, b, i, sy, sx)];
                            }
                    out[AT4(c_out, oh, ow, b, o, y, x)] = sum;
                }
}

void ref_batchnorm(double *x, int n, int c, int hw, const float *scale, const float *shift,
                   const float *mean, const float *var, double eps)
{
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++) {
            double inv_std = 1.0 / sqrt((double)var[ch] + eps);
            double *plane = x + ((size_t)b * c + ch) * hw;
            for (int i = 0; i < hw; i++)
                plane[i] = scale[ch] * (plane[i] - mean[ch]) * inv_std + shift[ch];
        }
}

void ref_relu(double *x, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (x[i] < 0.0)
            x[i] = 0.0;
}

void ref_maxpool2(const double *in, int n, int c, int h, int w, double *out)
{
    int oh = h / 2, ow = w / 2;
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++) {
                    double m = in[AT4(c, h, w, b, ch, 2 * y, 2 * x)];
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++) {
                            double v = in[AT4(c, h, w, b, ch, 2 * y + dy, 2 * x + dx)];
                            if (v > m)
                                m = v;
                        }
                    out[AT4(c, oh, ow, b, ch, y, x)] = m;
                }
}

void ref_convtranspose2(const double *in, int n, int c_in, int h, int w, const float *weight,
                        const float *bias, int c_out, double *out)
{
    int oh = 2 * h, ow = 2 * w;
    for (int b = 0; b < n; b++)
        for (int o = 0; o < c_out; o++)
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++) {
                    double sum = bias ? bias[o] : 0.0;
                    for (int i = 0; i < c_in; i++)
                        sum += (double)weight[AT4(c_out, 2, 2, i, o, y % 2, x % 2)] *
                               in[AT4(c_in, h, w, b, i, y / 2, x / 2)];
                    out[AT4(c_out, oh, ow, b, o, y, x)] = sum;
                }
}

void ref_concat(const double *a, int ca, const double *b, int cb, int n, int hw, double *out)
{
    for (int i = 0; i < n; i++) {
        double *dst = out + (size_t)i * (ca + cb) * hw;
        memcpy(dst, a + (size_t)i * ca * hw, (size_t)ca * hw * sizeof *dst);
        memcpy(dst + (size_t)ca * hw, b + (size_t)i * cb * hw, (size_t)cb * hw * sizeof *dst);
    }
}

void ref_softmax(const double *in, int n, int c, int hw, double *out)
{
    for (int b = 0; b < n; b++)
        for (int p = 0; p < hw; p++) {
            const double *src = in + (size_t)b * c * hw + p;
            double *dst = out + (size_t)b * c * hw + p;
            double max = src[0];
            for (int ch = 1; ch < c; ch++)
                if (src[(size_t)ch * hw] > max)
                    max = src[(size_t)ch * hw];
            double sum = 0.0;
            for (int ch = 0; ch < c; ch++)
                sum += exp(src[(size_t)ch * hw] - max);
            for (int ch = 0; ch < c; ch++)
                dst[(size_t)ch * hw] = exp(src[(size_t)ch * hw] - max) / sum;
        }
}

/* ---- the network ---------------------------------------------------------------- */

typedef struct ref_ctx {
    const unet_params *params;
    int n;
    int failed;
} ref_ctx;

/* The parameter called name with the given dims, or NULL (and a message). */
static const float *param(ref_ctx *c, const char *name, int rank, const int64_t *dims)
{
    for (int i = 0; i < c->params->n; i++) {
        const net_param *p = &c->params->p[i];
        if (strncmp(p->name, name, sizeof p->name) != 0)
            continue;
        int ok = p->rank == rank && p->data != NULL;
        size_t count = 1;
        for (int d = 0; ok && d < rank; d++) {
            ok = p->dims[d] == dims[d];
            count *= (size_t)dims[d];
        }
        if (!ok || p->count != count) {
            fprintf(stderr, "reference_unet: parameter %s has the wrong shape\n", name);
            c->failed = 1;
            return NULL;
        }
        return p->data;
    }
    fprintf(stderr, "reference_unet: parameter %s is missing\n", name);
    c->failed = 1;
    return NULL;
}

static double *alloc_act(ref_ctx *c, int ch, int h, int w)
{
    double *a = calloc((size_t)c->n * ch * h * w, sizeof *a);
    if (!a) {
        fprintf(stderr, "reference_unet: out of memory\n");
        c->failed = 1;
    }
    return a;
}

/* conv3x3 (+ BN) + ReLU of {prefix}.conv{k}: returns a new activation. */
static double *conv_block(ref_ctx *c, const char *prefix, int k, const double *in, int c_in,
                          int c_out, int h, int w)
{
    char name[64];
    snprintf(name, sizeof name, "%s.conv%d.weight", prefix, k);
    const float *weight = param(c, name, 4, (const int64_t[]){ c_out, c_in, 3, 3 });
    snprintf(name, sizeof name, "%s.conv%d.bias", prefix, k);
    const float *bias = param(c, name, 1, (const int64_t[]){ c_out });
    const float *bn[4] = { NULL, NULL, NULL, NULL };
    if (c->params->arch.batchnorm) {
        static const char *const parts[4] = { "scale", "shift", "mean", "var" };
        for (int i = 0; i < 4; i++) {
            snprintf(name, sizeof name, "%s.bn%d.%s", prefix, k, parts[i]);
            bn[i] = param(c, name, 1, (const int64_t[]){ c_out });
        }
    }
    if (c->failed)
        return NULL;
    double *out = alloc_act(c, c_out, h, w);
    if (!out)
        return NULL;
    ref_conv2d(in, c->n, c_in, h, w, weight, bias, c_out, 3, 1, out);
    if (c->params->arch.batchnorm)
        ref_batchnorm(out, c->n, c_out, h * w, bn[0], bn[1], bn[2], bn[3], REFERENCE_BN_EPSILON);
    ref_relu(out, (size_t)c->n * c_out * h * w);
    return out;
}

int reference_unet_forward(const unet_params *params, int n, int h, int w, const float *input,
                           double *logits, double *probs)
{
    const unet_arch *a = &params->arch;
    if (a->depth < 1 || a->depth > 6 || n < 1 || h < 1 || w < 1 ||
        h % (1 << a->depth) || w % (1 << a->depth)) {
        fprintf(stderr, "reference_unet: bad sizes (n %d, %dx%d, depth %d)\n", n, h, w,
                a->depth);
        return -1;
    }
    ref_ctx c = { params, n, 0 };
    double *skips[7] = { NULL };
    double *cur = alloc_act(&c, a->in_channels, h, w);
    double *head = NULL;
    if (!cur)
        return -1;
    for (size_t i = 0; i < (size_t)n * a->in_channels * h * w; i++)
        cur[i] = input[i];

    int ch = a->in_channels, ih = h, iw = w;
    char prefix[16];
    for (int l = 0; l < a->depth && !c.failed; l++) {
        int f = a->base_filters << l;
        snprintf(prefix, sizeof prefix, "enc%d", l);
        double *t1 = conv_block(&c, prefix, 1, cur, ch, f, ih, iw);
        free(cur);
        cur = NULL;
        if (!t1)
            break;
        skips[l] = conv_block(&c, prefix, 2, t1, f, f, ih, iw);
        free(t1);
        if (!skips[l])
            break;
        cur = alloc_act(&c, f, ih / 2, iw / 2);
        if (!cur)
            break;
        ref_maxpool2(skips[l], n, f, ih, iw, cur);
        ch = f;
        ih /= 2;
        iw /= 2;
    }
    if (!c.failed) {
        int mid = a->base_filters << a->depth;
        double *t1 = conv_block(&c, "mid", 1, cur, ch, mid, ih, iw);
        free(cur);
        cur = t1 ? conv_block(&c, "mid", 2, t1, mid, mid, ih, iw) : NULL;
        free(t1);
        ch = mid;
    }
    for (int l = a->depth - 1; l >= 0 && !c.failed && cur; l--) {
        int f = a->base_filters << l;
        char name[64];
        snprintf(prefix, sizeof prefix, "dec%d", l);
        snprintf(name, sizeof name, "%s.up.weight", prefix);
        const float *uw = param(&c, name, 4, (const int64_t[]){ 2 * f, f, 2, 2 });
        snprintf(name, sizeof name, "%s.up.bias", prefix);
        const float *ub = param(&c, name, 1, (const int64_t[]){ f });
        double *up = c.failed ? NULL : alloc_act(&c, f, 2 * ih, 2 * iw);
        double *cat = c.failed ? NULL : alloc_act(&c, 2 * f, 2 * ih, 2 * iw);
        if (up && cat) {
            ref_convtranspose2(cur, n, ch, ih, iw, uw, ub, f, up);
            ih *= 2;
            iw *= 2;
            ref_concat(up, f, skips[l], f, n, ih * iw, cat);
        }
        free(up);
        free(cur);
        cur = NULL;
        if (!cat)
            break;
        double *t1 = conv_block(&c, prefix, 1, cat, 2 * f, f, ih, iw);
        free(cat);
        cur = t1 ? conv_block(&c, prefix, 2, t1, f, f, ih, iw) : NULL;
        free(t1);
        ch = f;
    }
    if (!c.failed && cur) {
        const float *hw_ = param(&c, "head.weight", 4,
                                 (const int64_t[]){ a->n_classes, a->base_filters, 1, 1 });
        const float *hb = param(&c, "head.bias", 1, (const int64_t[]){ a->n_classes });
        head = c.failed ? NULL : alloc_act(&c, a->n_classes, h, w);
        if (head) {
            ref_conv2d(cur, n, ch, h, w, hw_, hb, a->n_classes, 1, 0, head);
            size_t count = (size_t)n * a->n_classes * h * w;
            if (logits)
                memcpy(logits, head, count * sizeof *head);
            if (probs)
                ref_softmax(head, n, a->n_classes, h * w, probs);
        }
    }
    free(cur);
    free(head);
    for (int l = 0; l < 7; l++)
        free(skips[l]);
    return c.failed ? -1 : 0;
}
