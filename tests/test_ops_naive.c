/* Operators against naive loops: single-node (and a few short-chain) models
 * built in memory, run through unet_session_run on seeded random inputs and
 * compared element by element with plain double-precision loops written here
 * from the ONNX operator definitions. Output shapes are computed here too,
 * from the spec's formulas, and must match.
 *
 * Tolerance: |got - want| <= 1e-4 * mag + 1e-6, where mag is the sum of the
 * magnitudes of the terms that make up the value (|want| for element-wise ops),
 * so a sum that cancels to near zero is judged by the size of its terms.
 *
 * Over 800 lines on purpose: one case table per operator family, all on the
 * shared model runner and comparison above them and the Conv geometry that
 * pooling and the fused chains reuse; split, they would need those exported
 * to each part. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unet/unet.h>

#include "onnx_builder.h"
#include "test_random.h"

#define REL_TOL 1e-4
#define ABS_TOL 1e-6

/* ---- seeded random data ---- */

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static float *random_floats(size_t n, double lo, double hi)
{
    float *p = test_random_floats(n, lo, hi, &rng_state);
    assert_non_null(p);
    return p;
}

static double *new_doubles(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

static size_t numel(int rank, const int64_t *dims)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    return n;
}

/* ---- running a model and comparing ---- */

typedef struct feed {
    const char *name;
    int rank;
    int64_t dims[UNET_MAX_RANK];
    const float *data;
} feed;

typedef struct result {
    int rank;
    int64_t dims[UNET_MAX_RANK];
    float *data;
} result;

static long n_cases, n_values;

static void ob_feed(ob_model *b, const feed *f) { ob_input(b, f->name, UNET_DTYPE_FLOAT, f->rank, f->dims); }

/* Serialises the model (freeing the builder), loads it from memory, runs it once
 * on feeds and copies outputs 0..n_out-1. */
static void run_model(ob_model *b, const char *what, const feed *feeds, int n_feeds, result *out, int n_out)
{
    size_t size;
    uint8_t *bytes = ob_serialize(b, &size);
    ob_model_free(b);
    unet_model *m = NULL;
    if (unet_model_open_memory(bytes, size, what, NULL, NULL, &m) != UNET_OK)
        fail_msg("%s: load: %s", what, unet_last_error());
    free(bytes);
    unet_session *s = NULL;
    if (unet_session_create(m, NULL, &s) != UNET_OK)
        fail_msg("%s: session: %s", what, unet_last_error());
    unet_tensor in[8];
    assert_true(n_feeds <= 8);
    for (int i = 0; i < n_feeds; i++) {
        memset(&in[i], 0, sizeof in[i]);
        in[i].dtype = UNET_DTYPE_FLOAT;
        in[i].rank = feeds[i].rank;
        memcpy(in[i].dims, feeds[i].dims, sizeof in[i].dims);
        in[i].data = (void *)feeds[i].data;
    }
    if (unet_session_run(s, in, n_feeds) != UNET_OK)
        fail_msg("%s: run: %s", what, unet_last_error());
    assert_int_equal(unet_model_output_count(m), n_out);
    for (int o = 0; o < n_out; o++) {
        unet_tensor t;
        assert_int_equal(unet_session_output(s, o, &t), UNET_OK);
        assert_int_equal(t.dtype, UNET_DTYPE_FLOAT);
        out[o].rank = t.rank;
        memcpy(out[o].dims, t.dims, sizeof out[o].dims);
        size_t count = numel(t.rank, t.dims);
        out[o].data = malloc((count ? count : 1) * sizeof(float));
        assert_non_null(out[o].data);
        memcpy(out[o].data, t.data, count * sizeof(float));
    }
    unet_session_free(s);
    unet_model_free(m);
    n_cases++;
}

static void expect_shape(const char *what, const result *r, int rank, const int64_t *dims)
{
    int same = r->rank == rank;
    for (int i = 0; same && i < rank; i++)
        same = r->dims[i] == dims[i];
    if (same)
        return;
    char got[128] = "", want[128] = "";
    for (int i = 0; i < r->rank; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "", (long long)r->dims[i]);
    for (int i = 0; i < rank; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? "," : "", (long long)dims[i]);
    fail_msg("%s: output shape [%s], expected [%s]", what, got, want);
}

/* mag NULL: |want| (element-wise ops). */
static void expect_close(const char *what, const result *r, const double *want, const double *mag)
{
    size_t count = numel(r->rank, r->dims);
    for (size_t i = 0; i < count; i++) {
        double tol = REL_TOL * (mag ? mag[i] : fabs(want[i])) + ABS_TOL;
        double err = fabs((double)r->data[i] - want[i]);
        if (!(err <= tol))
            fail_msg("%s: element %zu of %zu: got %.9g, expected %.9g (error %.3g > tolerance %.3g)", what, i,
                     count, r->data[i], want[i], err, tol);
    }
    n_values += (long)count;
}

static void expect_output(const char *what, result *r, int rank, const int64_t *dims, const double *want,
                          const double *mag)
{
    expect_shape(what, r, rank, dims);
    expect_close(what, r, want, mag);
    free(r->data);
    r->data = NULL;
}

static void describe_ints(char *buf, size_t size, const char *name, const int64_t *v, int n)
{
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, " %s=[", name);
    for (int i = 0; i < n; i++) {
        len = strlen(buf);
        snprintf(buf + len, size - len, "%s%lld", i ? "," : "", (long long)v[i]);
    }
    len = strlen(buf);
    snprintf(buf + len, size - len, "]");
}

/* ---- Conv and ConvTranspose ---- */

/* Spatial values live in [H, W] slots; a 1-D case uses W only (H is a unit dim). */
typedef struct conv_case {
    int sp, transposed;
    int64_t n, c, oc, group;
    int64_t in[2], k[2], s[2], d[2];
    int64_t pads[4]; /* begin H, begin W, end H, end W */
    int has_pads, has_kernel_shape, has_group;
    const char *auto_pad; /* NULL: attribute absent */
    int64_t out_pad[2];
    int has_out_pad;
    int64_t out_shape[2];
    int has_out_shape;
    int bias, weights_as_input;
} conv_case;

static void conv_norm(conv_case *c)
{
    if (c->sp == 1) {
        c->in[0] = c->k[0] = c->s[0] = c->d[0] = 1;
        c->pads[0] = c->pads[2] = 0;
        c->out_pad[0] = 0;
        c->out_shape[0] = 1;
    }
}

/* Output size and begin/end padding per the ONNX Conv / ConvTranspose text. */
static void conv_geometry(const conv_case *c, int64_t pl[2], int64_t pr[2], int64_t out[2])
{
    for (int i = 0; i < 2; i++) {
        int64_t in = c->in[i], s = c->s[i], ek = (c->k[i] - 1) * c->d[i] + 1;
        int same = c->auto_pad && !strncmp(c->auto_pad, "SAME", 4);
        int upper = c->auto_pad && !strcmp(c->auto_pad, "SAME_UPPER");
        int valid = c->auto_pad && !strcmp(c->auto_pad, "VALID");
        if (c->sp == 1 && i == 0) {
            pl[i] = pr[i] = 0;
            out[i] = 1;
            continue;
        }
        if (!c->transposed) {
            if (same) {
                out[i] = (in + s - 1) / s;
                int64_t total = (out[i] - 1) * s + ek - in;
                total = total > 0 ? total : 0;
                pl[i] = upper ? total / 2 : total - total / 2;
                pr[i] = total - pl[i];
            } else if (valid) {
                pl[i] = pr[i] = 0;
                out[i] = (in - ek) / s + 1;
            } else {
                pl[i] = c->pads[i];
                pr[i] = c->pads[2 + i];
                out[i] = (in + pl[i] + pr[i] - ek) / s + 1;
            }
        } else {
            int64_t full = s * (in - 1) + c->out_pad[i] + ek;
            if (c->has_out_shape) {
                int64_t total = full - c->out_shape[i];
                pl[i] = upper ? total / 2 : total - total / 2;
                pr[i] = total - pl[i];
                out[i] = c->out_shape[i];
            } else {
                pl[i] = c->pads[i];
                pr[i] = c->pads[2 + i];
                out[i] = full - pl[i] - pr[i];
            }
        }
    }
}

/* y[n,o,oy,ox] = b[o] + sum over the group's input channels and the kernel of
 * x[n,ic,oy*s-pl+ky*d, ox*s-pl+kx*d] * w[o,ci,ky,kx]. */
static void ref_conv(const conv_case *c, const float *x, const float *w, const float *bias,
                     const int64_t pl[2], const int64_t out[2], double *y, double *mag)
{
    int64_t H = c->in[0], W = c->in[1], OH = out[0], OW = out[1];
    int64_t cg = c->c / c->group, og = c->oc / c->group;
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t o = 0; o < c->oc; o++) {
            int64_t g = o / og;
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    double acc = bias ? bias[o] : 0.0, m = fabs(acc);
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t ky = 0; ky < c->k[0]; ky++)
                            for (int64_t kx = 0; kx < c->k[1]; kx++) {
                                int64_t iy = oy * c->s[0] - pl[0] + ky * c->d[0];
                                int64_t ix = ox * c->s[1] - pl[1] + kx * c->d[1];
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                    continue;
                                double t = (double)x[((n * c->c + g * cg + ci) * H + iy) * W + ix] *
                                           w[((o * cg + ci) * c->k[0] + ky) * c->k[1] + kx];
                                acc += t;
                                m += fabs(t);
                            }
                    size_t idx = (size_t)(((n * c->oc + o) * OH + oy) * OW + ox);
                    y[idx] = acc;
                    mag[idx] = m;
                }
        }
}

/* Scatter form: x[n,ic,iy,ix] * w[ic,ol,ky,kx] lands on y[n,o,iy*s+ky*d-pl, ...]. */
static void ref_conv_transpose(const conv_case *c, const float *x, const float *w, const float *bias,
                               const int64_t pl[2], const int64_t out[2], double *y, double *mag)
{
    int64_t H = c->in[0], W = c->in[1], OH = out[0], OW = out[1];
    int64_t cg = c->c / c->group, og = c->oc / c->group;
    size_t total = (size_t)(c->n * c->oc * OH * OW);
    memset(y, 0, total * sizeof *y);
    memset(mag, 0, total * sizeof *mag);
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t ic = 0; ic < c->c; ic++) {
            int64_t g = ic / cg;
            for (int64_t ol = 0; ol < og; ol++) {
                int64_t o = g * og + ol;
                for (int64_t iy = 0; iy < H; iy++)
                    for (int64_t ix = 0; ix < W; ix++) {
                        double xv = x[((n * c->c + ic) * H + iy) * W + ix];
                        for (int64_t ky = 0; ky < c->k[0]; ky++)
                            for (int64_t kx = 0; kx < c->k[1]; kx++) {
                                int64_t oy = iy * c->s[0] + ky * c->d[0] - pl[0];
                                int64_t ox = ix * c->s[1] + kx * c->d[1] - pl[1];
                                if (oy < 0 || oy >= OH || ox < 0 || ox >= OW)
                                    continue;
                                double t = xv * w[((ic * og + ol) * c->k[0] + ky) * c->k[1] + kx];
                                size_t idx = (size_t)(((n * c->oc + o) * OH + oy) * OW + ox);
                                y[idx] += t;
                                mag[idx] += fabs(t);
                            }
                    }
            }
        }
    if (bias)
        for (int64_t n = 0; n < c->n; n++)
            for (int64_t o = 0; o < c->oc; o++)
                for (int64_t i = 0; i < OH * OW; i++) {
                    size_t idx = (size_t)((n * c->oc + o) * OH * OW + i);
                    y[idx] += bias[o];
                    mag[idx] += fabs(bias[o]);
                }
}

static void ob_attr_spatial(ob_node *node, const char *name, const int64_t *v, int sp)
{
    ob_attr_ints(node, name, v + 2 - sp, sp);
}

static void conv_describe(const conv_case *c, char *what, size_t size)
{
    snprintf(what, size, "%s %dD n=%lld c=%lld oc=%lld group=%lld in=%lldx%lld", c->transposed ? "ConvTranspose" : "Conv",
             c->sp, (long long)c->n, (long long)c->c, (long long)c->oc, (long long)c->group, (long long)c->in[0],
             (long long)c->in[1]);
    describe_ints(what, size, "k", c->k, 2);
    describe_ints(what, size, "s", c->s, 2);
    describe_ints(what, size, "d", c->d, 2);
    if (c->has_pads)
        describe_ints(what, size, "pads", c->pads, 4);
    if (c->has_out_pad)
        describe_ints(what, size, "output_padding", c->out_pad, 2);
    if (c->has_out_shape)
        describe_ints(what, size, "output_shape", c->out_shape, 2);
    size_t len = strlen(what);
    snprintf(what + len, size - len, "%s%s%s%s", c->auto_pad ? " auto_pad=" : "", c->auto_pad ? c->auto_pad : "",
             c->bias ? " bias" : "", c->weights_as_input ? " weights-as-input" : "");
}

static void run_conv_case(const conv_case *given)
{
    conv_case c = *given;
    conv_norm(&c);
    char what[512];
    conv_describe(&c, what, sizeof what);
    int64_t pl[2], pr[2], out[2];
    conv_geometry(&c, pl, pr, out);
    assert_true(out[0] >= 1 && out[1] >= 1);
    int sp = c.sp, rank = sp + 2;

    int64_t xd[4] = { c.n, c.c, c.in[0], c.in[1] };
    if (sp == 1)
        xd[2] = c.in[1];
    int64_t wd[4] = { c.transposed ? c.c : c.oc, c.transposed ? c.oc / c.group : c.c / c.group, c.k[0], c.k[1] };
    if (sp == 1)
        wd[2] = c.k[1];
    int64_t yd[4] = { c.n, c.oc, out[0], out[1] };
    if (sp == 1)
        yd[2] = out[1];
    size_t nx = numel(rank, xd), nw = numel(rank, wd), ny = numel(rank, yd);
    float *x = random_floats(nx, -1, 1), *w = random_floats(nw, -1, 1), *bias = random_floats((size_t)c.oc, -1, 1);

    ob_model *b = ob_model_new(13);
    feed feeds[2] = { { "X", rank, { 0 }, x }, { "W", rank, { 0 }, w } };
    memcpy(feeds[0].dims, xd, sizeof xd);
    memcpy(feeds[1].dims, wd, sizeof wd);
    ob_feed(b, &feeds[0]);
    if (c.weights_as_input)
        ob_feed(b, &feeds[1]);
    else
        ob_initializer(b, "W", UNET_DTYPE_FLOAT, rank, wd, w);
    int64_t bd[1] = { c.oc };
    if (c.bias)
        ob_initializer(b, "B", UNET_DTYPE_FLOAT, 1, bd, bias);
    ob_node *node = ob_node_add(b, c.transposed ? "ConvTranspose" : "Conv", c.bias ? "X,W,B" : "X,W", "Y");
    if (c.has_kernel_shape)
        ob_attr_spatial(node, "kernel_shape", c.k, sp);
    if (c.s[0] != 1 || c.s[1] != 1)
        ob_attr_spatial(node, "strides", c.s, sp);
    if (c.d[0] != 1 || c.d[1] != 1)
        ob_attr_spatial(node, "dilations", c.d, sp);
    if (c.has_pads) {
        int64_t p[4] = { c.pads[0], c.pads[1], c.pads[2], c.pads[3] };
        if (sp == 1) {
            p[0] = c.pads[1];
            p[1] = c.pads[3];
        }
        ob_attr_ints(node, "pads", p, 2 * sp);
    }
    if (c.auto_pad)
        ob_attr_string(node, "auto_pad", c.auto_pad);
    if (c.group != 1 || c.has_group)
        ob_attr_int(node, "group", c.group);
    if (c.has_out_pad)
        ob_attr_spatial(node, "output_padding", c.out_pad, sp);
    if (c.has_out_shape)
        ob_attr_spatial(node, "output_shape", c.out_shape, sp);
    ob_output(b, "Y", UNET_DTYPE_FLOAT, -1, NULL);

    result r;
    run_model(b, what, feeds, c.weights_as_input ? 2 : 1, &r, 1);
    double *want = new_doubles(ny), *mag = new_doubles(ny);
    if (c.transposed)
        ref_conv_transpose(&c, x, w, c.bias ? bias : NULL, pl, out, want, mag);
    else
        ref_conv(&c, x, w, c.bias ? bias : NULL, pl, out, want, mag);
    expect_output(what, &r, rank, yd, want, mag);
    free(want);
    free(mag);
    free(x);
    free(w);
    free(bias);
}

typedef struct group_shape {
    int64_t c, oc, group;
} group_shape;

/* 1 and 2 groups, depthwise, and depthwise with a channel multiplier. */
static const group_shape GROUPS[] = { { 3, 4, 1 }, { 4, 6, 2 }, { 4, 4, 4 }, { 3, 6, 3 } };
#define N_GROUPS (sizeof GROUPS / sizeof *GROUPS)

enum { PAD_NONE, PAD_SYM, PAD_ASYM, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID, N_PAD_KINDS };

static void set_pad_kind(conv_case *c, int kind, const int64_t asym[4])
{
    c->has_pads = 0;
    c->auto_pad = NULL;
    memset(c->pads, 0, sizeof c->pads);
    switch (kind) {
    case PAD_SYM:
        c->has_pads = 1;
        for (int i = 0; i < 4; i++)
            c->pads[i] = 1;
        break;
    case PAD_ASYM:
        c->has_pads = 1;
        memcpy(c->pads, asym, sizeof c->pads);
        break;
    case PAD_SAME_UPPER: c->auto_pad = "SAME_UPPER"; break;
    case PAD_SAME_LOWER: c->auto_pad = "SAME_LOWER"; break;
    case PAD_VALID: c->auto_pad = "VALID"; break;
    default: break;
    }
}

static void test_conv_2d(void **state)
{
    (void)state;
    static const int64_t K[][2] = { { 3, 3 }, { 1, 1 }, { 2, 3 } };
    static const int64_t S[][2] = { { 1, 1 }, { 2, 2 }, { 3, 3 }, { 1, 2 } };
    static const int64_t asym[4] = { 0, 1, 2, 1 };
    int idx = 0;
    for (size_t g = 0; g < N_GROUPS; g++)
        for (size_t k = 0; k < 3; k++)
            for (size_t s = 0; s < 4; s++)
                for (int64_t d = 1; d <= 2; d++)
                    for (int pk = 0; pk < N_PAD_KINDS; pk++, idx++) {
                        conv_case c = { .sp = 2, .n = idx % 2 ? 3 : 1, .c = GROUPS[g].c, .oc = GROUPS[g].oc,
                                        .group = GROUPS[g].group, .in = { 7, 5 }, .k = { K[k][0], K[k][1] },
                                        .s = { S[s][0], S[s][1] }, .d = { d, d }, .has_kernel_shape = idx % 3 != 0,
                                        .has_group = idx % 5 == 0, .bias = (idx / 2) % 2 == 0 };
                        set_pad_kind(&c, pk, asym);
                        run_conv_case(&c);
                    }
    printf("  %d 2-D Conv cases\n", idx);
}

static void test_conv_1d(void **state)
{
    (void)state;
    static const int64_t asym[4] = { 0, 1, 0, 2 };
    int idx = 0;
    for (size_t g = 0; g < N_GROUPS; g++)
        for (int64_t k = 2; k <= 3; k++)
            for (int64_t s = 1; s <= 3; s++)
                for (int64_t d = 1; d <= 2; d++)
                    for (int pk = 0; pk < N_PAD_KINDS; pk++, idx++) {
                        conv_case c = { .sp = 1, .n = idx % 2 ? 1 : 3, .c = GROUPS[g].c, .oc = GROUPS[g].oc,
                                        .group = GROUPS[g].group, .in = { 1, 11 }, .k = { 1, k }, .s = { 1, s },
                                        .d = { 1, d }, .has_kernel_shape = idx % 2 == 0, .bias = idx % 3 != 0 };
                        set_pad_kind(&c, pk, asym);
                        run_conv_case(&c);
                    }
    printf("  %d 1-D Conv cases\n", idx);
}

/* Weights fed at run time take the non-constant path (reordered every run). */
static void test_conv_weights_as_input(void **state)
{
    (void)state;
    static const int64_t asym[4] = { 1, 0, 0, 2 };
    for (size_t g = 0; g < N_GROUPS; g++) {
        conv_case c = { .sp = 2, .n = 2, .c = GROUPS[g].c, .oc = GROUPS[g].oc, .group = GROUPS[g].group,
                        .in = { 6, 7 }, .k = { 3, 2 }, .s = { 2, 1 }, .d = { 1, 2 }, .bias = g % 2,
                        .weights_as_input = 1 };
        set_pad_kind(&c, PAD_ASYM, asym);
        run_conv_case(&c);
        c.transposed = 1;
        c.oc = GROUPS[g].oc;
        run_conv_case(&c);
    }
}

/* Transposed groups: input channels split into groups, each giving oc/group outputs. */
static const group_shape TGROUPS[] = { { 3, 4, 1 }, { 4, 6, 2 }, { 4, 4, 4 } };

enum { TP_NONE, TP_SYM, TP_ASYM, TP_OUT_PAD, TP_OUT_SHAPE, TP_OUT_SHAPE_UPPER, N_TP_KINDS };

static void test_conv_transpose_2d(void **state)
{
    (void)state;
    static const int64_t K[][2] = { { 3, 3 }, { 2, 2 }, { 3, 2 } };
    static const int64_t S[][2] = { { 1, 1 }, { 2, 2 }, { 3, 3 }, { 2, 1 } };
    int idx = 0;
    for (size_t g = 0; g < 3; g++)
        for (size_t k = 0; k < 3; k++)
            for (size_t s = 0; s < 4; s++)
                for (int64_t d = 1; d <= 2; d++)
                    for (int kind = 0; kind < N_TP_KINDS; kind++, idx++) {
                        conv_case c = { .sp = 2, .transposed = 1, .n = idx % 2 ? 1 : 3, .c = TGROUPS[g].c,
                                        .oc = TGROUPS[g].oc, .group = TGROUPS[g].group, .in = { 4, 3 },
                                        .k = { K[k][0], K[k][1] }, .s = { S[s][0], S[s][1] }, .d = { d, d },
                                        .has_kernel_shape = idx % 3 == 1, .bias = idx % 4 < 2 };
                        int64_t natural[2];
                        for (int i = 0; i < 2; i++)
                            natural[i] = c.s[i] * (c.in[i] - 1) + (c.k[i] - 1) * c.d[i] + 1;
                        switch (kind) {
                        case TP_SYM:
                            c.has_pads = 1;
                            for (int i = 0; i < 4; i++)
                                c.pads[i] = 1;
                            break;
                        case TP_ASYM:
                            c.has_pads = 1;
                            c.pads[0] = 0, c.pads[1] = 1, c.pads[2] = 2, c.pads[3] = 0;
                            break;
                        case TP_OUT_PAD: /* output_padding below the stride (or dilation) */
                            c.has_out_pad = 1;
                            c.has_pads = 1;
                            c.pads[1] = 1;
                            for (int i = 0; i < 2; i++) {
                                c.out_pad[i] = c.s[i] > 1 ? c.s[i] - 1 : c.d[i] > 1 ? 1 : 0;
                                /* beyond the stride it must fit in the end padding
                                 * (see test_conv_transpose_refusal) */
                                if (c.out_pad[i] >= c.s[i])
                                    c.pads[2 + i] = c.out_pad[i];
                            }
                            break;
                        case TP_OUT_SHAPE: /* odd and even total padding, NOTSET split */
                            c.has_out_shape = 1;
                            c.out_shape[0] = natural[0] - 1;
                            c.out_shape[1] = natural[1] - 2;
                            break;
                        case TP_OUT_SHAPE_UPPER:
                            c.has_out_shape = 1;
                            c.auto_pad = "SAME_UPPER";
                            c.out_shape[0] = natural[0] - 3;
                            c.out_shape[1] = natural[1] - 1;
                            break;
                        default: break;
                        }
                        run_conv_case(&c);
                    }
    printf("  %d 2-D ConvTranspose cases\n", idx);
}

static void test_conv_transpose_1d(void **state)
{
    (void)state;
    int idx = 0;
    for (size_t g = 0; g < 3; g++)
        for (int64_t s = 1; s <= 3; s++)
            for (int64_t d = 1; d <= 2; d++)
                for (int kind = 0; kind < 3; kind++, idx++) {
                    conv_case c = { .sp = 1, .transposed = 1, .n = 2, .c = TGROUPS[g].c, .oc = TGROUPS[g].oc,
                                    .group = TGROUPS[g].group, .in = { 1, 5 }, .k = { 1, 3 }, .s = { 1, s },
                                    .d = { 1, d }, .bias = kind != 1 };
                    if (kind == 1) {
                        c.has_pads = 1;
                        c.pads[1] = 2;
                        c.pads[3] = 1;
                    } else if (kind == 2) {
                        c.has_out_pad = 1;
                        c.out_pad[1] = s > 1 ? s - 1 : d - 1;
                        c.has_pads = 1;
                        c.pads[3] = c.out_pad[1] >= s ? c.out_pad[1] : 0;
                    }
                    run_conv_case(&c);
                }
    printf("  %d 1-D ConvTranspose cases\n", idx);
}

/* output_padding at or above the stride (allowed by ONNX below the dilation)
 * with less end padding than that cannot be given to oneDNN: a clear refusal
 * naming the node and the attribute, never a wrong answer. */
static void test_conv_transpose_refusal(void **state)
{
    (void)state;
    int64_t xd[4] = { 1, 2, 4, 4 }, wd[4] = { 2, 3, 3, 3 };
    float *x = random_floats(numel(4, xd), -1, 1), *w = random_floats(numel(4, wd), -1, 1);
    ob_model *b = ob_model_new(13);
    feed f = { "X", 4, { 1, 2, 4, 4 }, x };
    ob_feed(b, &f);
    ob_initializer(b, "W", UNET_DTYPE_FLOAT, 4, wd, w);
    ob_node *node = ob_node_add(b, "ConvTranspose", "X,W", "Y");
    const int64_t dil[2] = { 2, 2 }, op[2] = { 1, 0 };
    ob_attr_ints(node, "dilations", dil, 2);
    ob_attr_ints(node, "output_padding", op, 2);
    ob_output(b, "Y", UNET_DTYPE_FLOAT, -1, NULL);
    size_t size;
    uint8_t *bytes = ob_serialize(b, &size);
    ob_model_free(b);
    unet_model *m = NULL;
    if (unet_model_open_memory(bytes, size, "refusal", NULL, NULL, &m) != UNET_OK)
        fail_msg("load: %s", unet_last_error());
    unet_session *s = NULL;
    assert_int_equal(unet_session_create(m, NULL, &s), UNET_OK);
    unet_tensor in = { UNET_DTYPE_FLOAT, 4, { 1, 2, 4, 4 }, x };
    assert_int_equal(unet_session_run(s, &in, 1), UNET_ERR_UNSUPPORTED);
    const char *msg = unet_last_error();
    printf("  refused: %s\n", msg);
    assert_non_null(strstr(msg, "'n0_ConvTranspose'")); /* onnx_builder's node name */
    assert_non_null(strstr(msg, "output_padding 1"));
    assert_non_null(strstr(msg, "stride 1"));
    unet_session_free(s);
    unet_model_free(m);
    free(bytes);
    free(x);
    free(w);
}

/* ---- pooling ---- */

typedef struct pool_case {
    const char *op;
    int sp;
    int64_t n, c, in[2], k[2], s[2], d[2];
    int64_t pads[4];
    int has_pads, has_strides, ceil_mode, count_include_pad, has_cip;
    const char *auto_pad;
} pool_case;

static void pool_geometry(const pool_case *p, int64_t pl[2], int64_t pr[2], int64_t out[2])
{
    for (int i = 0; i < 2; i++) {
        int64_t in = p->in[i], s = p->s[i], ek = (p->k[i] - 1) * p->d[i] + 1;
        if (p->sp == 1 && i == 0) {
            pl[i] = pr[i] = 0;
            out[i] = 1;
        } else if (p->auto_pad && !strncmp(p->auto_pad, "SAME", 4)) {
            out[i] = (in + s - 1) / s;
            int64_t total = (out[i] - 1) * s + ek - in;
            total = total > 0 ? total : 0;
            pl[i] = !strcmp(p->auto_pad, "SAME_UPPER") ? total / 2 : total - total / 2;
            pr[i] = total - pl[i];
        } else if (p->auto_pad && !strcmp(p->auto_pad, "VALID")) {
            pl[i] = pr[i] = 0;
            out[i] = (in - ek) / s + 1;
        } else {
            pl[i] = p->pads[i];
            pr[i] = p->pads[2 + i];
            int64_t span = in + pl[i] + pr[i] - ek;
            out[i] = (p->ceil_mode ? (span + s - 1) / s : span / s) + 1;
            /* ceil_mode: a window must start inside the input or its left padding */
            if (p->ceil_mode && (out[i] - 1) * s >= in + pl[i])
                out[i]--;
        }
    }
}

/* Max over the window's input elements (padding is -inf); average over the
 * input elements, divided by their count, or with count_include_pad by the
 * window's extent clipped to the padded input (ONNX reference, PyTorch, ORT). */
static void ref_pool(const pool_case *p, const float *x, const int64_t pl[2], const int64_t pr[2],
                     const int64_t out[2], double *y, double *mag)
{
    int is_max = !strcmp(p->op, "MaxPool");
    int64_t H = p->in[0], W = p->in[1];
    for (int64_t nc = 0; nc < p->n * p->c; nc++)
        for (int64_t oy = 0; oy < out[0]; oy++)
            for (int64_t ox = 0; ox < out[1]; ox++) {
                const float *plane = x + nc * H * W;
                int64_t hs = oy * p->s[0] - pl[0], ws = ox * p->s[1] - pl[1];
                double v, m;
                if (is_max) {
                    v = -INFINITY;
                    for (int64_t ky = 0; ky < p->k[0]; ky++)
                        for (int64_t kx = 0; kx < p->k[1]; kx++) {
                            int64_t iy = hs + ky * p->d[0], ix = ws + kx * p->d[1];
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W && plane[iy * W + ix] > v)
                                v = plane[iy * W + ix];
                        }
                    m = fabs(v);
                } else {
                    int64_t he = hs + p->k[0] < H + pr[0] ? hs + p->k[0] : H + pr[0];
                    int64_t we = ws + p->k[1] < W + pr[1] ? ws + p->k[1] : W + pr[1];
                    int64_t pool_size = (he - hs) * (we - ws);
                    int64_t hs0 = hs > 0 ? hs : 0, ws0 = ws > 0 ? ws : 0;
                    int64_t he0 = he < H ? he : H, we0 = we < W ? we : W;
                    double sum = 0, asum = 0;
                    for (int64_t iy = hs0; iy < he0; iy++)
                        for (int64_t ix = ws0; ix < we0; ix++) {
                            sum += plane[iy * W + ix];
                            asum += fabs(plane[iy * W + ix]);
                        }
                    double div = p->count_include_pad ? (double)pool_size : (double)((he0 - hs0) * (we0 - ws0));
                    v = sum / div;
                    m = asum / div;
                }
                size_t idx = (size_t)((nc * out[0] + oy) * out[1] + ox);
                y[idx] = v;
                mag[idx] = m;
            }
}

static void run_pool_case(const pool_case *given)
{
    pool_case p = *given;
    if (p.sp == 1) {
        p.in[0] = p.k[0] = p.s[0] = p.d[0] = 1;
        p.pads[0] = p.pads[2] = 0;
    }
    char what[512];
    snprintf(what, sizeof what, "%s %dD n=%lld c=%lld in=%lldx%lld ceil_mode=%d count_include_pad=%d%s%s", p.op, p.sp,
             (long long)p.n, (long long)p.c, (long long)p.in[0], (long long)p.in[1], p.ceil_mode, p.count_include_pad,
             p.auto_pad ? " auto_pad=" : "", p.auto_pad ? p.auto_pad : "");
    describe_ints(what, sizeof what, "k", p.k, 2);
    describe_ints(what, sizeof what, "s", p.s, 2);
    describe_ints(what, sizeof what, "d", p.d, 2);
    if (p.has_pads)
        describe_ints(what, sizeof what, "pads", p.pads, 4);
    int64_t pl[2], pr[2], out[2];
    pool_geometry(&p, pl, pr, out);
    int rank = p.sp + 2;
    int64_t xd[4] = { p.n, p.c, p.in[0], p.in[1] }, yd[4] = { p.n, p.c, out[0], out[1] };
    if (p.sp == 1) {
        xd[2] = p.in[1];
        yd[2] = out[1];
    }
    size_t nx = numel(rank, xd), ny = numel(rank, yd);
    float *x = random_floats(nx, -1, 1);
    ob_model *b = ob_model_new(13);
    feed f = { "X", rank, { xd[0], xd[1], xd[2], xd[3] }, x };
    ob_feed(b, &f);
    ob_node *node = ob_node_add(b, p.op, "X", "Y");
    ob_attr_spatial(node, "kernel_shape", p.k, p.sp);
    if (p.has_strides)
        ob_attr_spatial(node, "strides", p.s, p.sp);
    if (p.d[0] != 1 || p.d[1] != 1)
        ob_attr_spatial(node, "dilations", p.d, p.sp);
    if (p.has_pads) {
        int64_t q[4] = { p.pads[0], p.pads[1], p.pads[2], p.pads[3] };
        if (p.sp == 1) {
            q[0] = p.pads[1];
            q[1] = p.pads[3];
        }
        ob_attr_ints(node, "pads", q, 2 * p.sp);
    }
    if (p.auto_pad)
        ob_attr_string(node, "auto_pad", p.auto_pad);
    if (p.ceil_mode)
        ob_attr_int(node, "ceil_mode", 1);
    if (p.has_cip)
        ob_attr_int(node, "count_include_pad", p.count_include_pad);
    ob_output(b, "Y", UNET_DTYPE_FLOAT, -1, NULL);
    result r;
    run_model(b, what, &f, 1, &r, 1);
    double *want = new_doubles(ny), *mag = new_doubles(ny);
    ref_pool(&p, x, pl, pr, out, want, mag);
    expect_output(what, &r, rank, yd, want, mag);
    free(want);
    free(mag);
    free(x);
}

static void pool_grid(const char *op)
{
    static const int64_t K[][2] = { { 2, 2 }, { 3, 3 }, { 3, 2 } };
    static const int64_t S[][2] = { { 1, 1 }, { 2, 2 }, { 3, 3 }, { 2, 1 } };
    int is_max = !strcmp(op, "MaxPool");
    int idx = 0;
    for (size_t k = 0; k < 3; k++)
        for (size_t s = 0; s < 4; s++)
            for (int variant = 0; variant < 2; variant++) /* dilation 2 (max) / count_include_pad (avg) */
                for (int pk = 0; pk < N_PAD_KINDS; pk++)
                    for (int ceil_mode = 0; ceil_mode <= 1; ceil_mode++, idx++) {
                        int auto_kind = pk >= PAD_SAME_UPPER;
                        if (auto_kind && ceil_mode)
                            continue;
                        pool_case p = { .op = op, .sp = 2, .n = 2, .c = 3, .in = { 7, 5 }, .k = { K[k][0], K[k][1] },
                                        .s = { S[s][0], S[s][1] }, .d = { 1, 1 },
                                        .has_strides = S[s][0] != 1 || S[s][1] != 1 || idx % 2,
                                        .ceil_mode = ceil_mode };
                        if (is_max && variant)
                            p.d[0] = p.d[1] = 2;
                        if (!is_max) {
                            p.count_include_pad = variant;
                            p.has_cip = variant || idx % 3 == 0;
                        }
                        conv_case tmp = { 0 };
                        static const int64_t asym[4] = { 0, 1, 1, 0 };
                        set_pad_kind(&tmp, pk, asym);
                        p.has_pads = tmp.has_pads;
                        memcpy(p.pads, tmp.pads, sizeof p.pads);
                        p.auto_pad = tmp.auto_pad;
                        run_pool_case(&p);
                    }
    printf("  %s: %d 2-D cases\n", op, idx);
    /* 1-D */
    for (int64_t s = 1; s <= 3; s++)
        for (int ceil_mode = 0; ceil_mode <= 1; ceil_mode++) {
            pool_case p = { .op = op, .sp = 1, .n = 2, .c = 3, .in = { 1, 10 }, .k = { 1, 3 }, .s = { 1, s },
                            .d = { 1, 1 }, .has_strides = 1, .ceil_mode = ceil_mode, .has_pads = 1,
                            .pads = { 0, 1, 0, 2 }, .count_include_pad = !is_max && s == 2, .has_cip = !is_max };
            run_pool_case(&p);
        }
}

static void test_maxpool(void **state)
{
    (void)state;
    pool_grid("MaxPool");
}

static void test_averagepool(void **state)
{
    (void)state;
    pool_grid("AveragePool");
}

static void test_global_pool(void **state)
{
    (void)state;
    static const int64_t shapes[][4] = { { 2, 3, 7, 5 }, { 1, 4, 1, 9 }, { 3, 2, 6, 0 } };
    const char *ops[2] = { "GlobalAveragePool", "GlobalMaxPool" };
    for (int o = 0; o < 2; o++)
        for (int si = 0; si < 3; si++) {
            int rank = shapes[si][3] ? 4 : 3;
            int64_t xd[4] = { shapes[si][0], shapes[si][1], shapes[si][2], shapes[si][3] };
            int64_t yd[4] = { xd[0], xd[1], 1, 1 };
            int64_t plane = rank == 4 ? xd[2] * xd[3] : xd[2];
            size_t nx = numel(rank, xd), ny = (size_t)(xd[0] * xd[1]);
            float *x = random_floats(nx, -1, 1);
            char what[128];
            snprintf(what, sizeof what, "%s rank %d", ops[o], rank);
            ob_model *b = ob_model_new(13);
            feed f = { "X", rank, { xd[0], xd[1], xd[2], xd[3] }, x };
            ob_feed(b, &f);
            ob_node_add(b, ops[o], "X", "Y");
            ob_output(b, "Y", UNET_DTYPE_FLOAT, -1, NULL);
            result r;
            run_model(b, what, &f, 1, &r, 1);
            double *want = new_doubles(ny), *mag = new_doubles(ny);
            for (size_t i = 0; i < ny; i++) {
                double sum = 0, asum = 0, mx = -INFINITY;
                for (int64_t j = 0; j < plane; j++) {
                    double v = x[i * (size_t)plane + (size_t)j];
                    sum += v;
                    asum += fabs(v);
                    mx = v > mx ? v : mx;
                }
                want[i] = o ? mx : sum / (double)plane;
                mag[i] = o ? fabs(mx) : asum / (double)plane;
            }
            expect_output(what, &r, rank, yd, want, mag);
            free(want);
            free(mag);
            free(x);
        }
}

/* ---- element-wise binary ops with numpy broadcasting ---- */

typedef struct shape {
    int rank;
    int64_t dims[4];
} shape;

static double apply_binary(const char *op, double a, double b)
{
    if (!strcmp(op, "Add")) return a + b;
    if (!strcmp(op, "Sub")) return a - b;
    if (!strcmp(op, "Mul")) return a * b;
    return a / b;
}

static void run_binary_case(const char *op, const shape *sa, const shape *sb, int b_const)
{
    char what[256];
    snprintf(what, sizeof what, "%s rank %d vs rank %d%s", op, sa->rank, sb->rank, b_const ? " (B constant)" : "");
    describe_ints(what, sizeof what, "A", sa->dims, sa->rank);
    describe_ints(what, sizeof what, "B", sb->dims, sb->rank);
    /* Broadcast shape: align right, a 1 stretches to the other size. */
    int rank = sa->rank > sb->rank ? sa->rank : sb->rank;
    int64_t od[4];
    for (int d = 0; d < rank; d++) {
        int ka = d - (rank - sa->rank), kb = d - (rank - sb->rank);
        int64_t da = ka >= 0 ? sa->dims[ka] : 1, db = kb >= 0 ? sb->dims[kb] : 1;
        od[d] = da == 1 ? db : da;
    }
    size_t na = numel(sa->rank, sa->dims), nb = numel(sb->rank, sb->dims), no = numel(rank, od);
    float *a = random_floats(na, -2, 2);
    float *bv = random_floats(nb, 0.5, 2);
    for (size_t i = 0; i < nb; i++) /* divisors away from zero, either sign */
        if (test_random_uniform(&rng_state) < 0.5)
            bv[i] = -bv[i];
    ob_model *b = ob_model_new(13);
    feed f[2] = { { "A", sa->rank, { 0 }, a }, { "B", sb->rank, { 0 }, bv } };
    memcpy(f[0].dims, sa->dims, sizeof sa->dims);
    memcpy(f[1].dims, sb->dims, sizeof sb->dims);
    ob_feed(b, &f[0]);
    if (b_const)
        ob_initializer(b, "B", UNET_DTYPE_FLOAT, sb->rank, sb->dims, bv);
    else
        ob_feed(b, &f[1]);
    ob_node_add(b, op, "A,B", "Y");
    ob_output(b, "Y", UNET_DTYPE_FLOAT, -1, NULL);
    result r;
    run_model(b, what, f, b_const ? 1 : 2, &r, 1);
    double *want = new_doubles(no);
    int64_t idx[4] = { 0 };
    for (size_t e = 0; e < no; e++) {
        size_t ia = 0, ib = 0;
        for (int d = 0; d < rank; d++) {
            int ka = d - (rank - sa->rank), kb = d - (rank - sb->rank);
            if (ka >= 0)
                ia = ia * (size_t)sa->dims[ka] + (size_t)(sa->dims[ka] == 1 ? 0 : idx[d]);
            if (kb >= 0)
                ib = ib * (size_t)sb->dims[kb] + (size_t)(sb->dims[kb] == 1 ? 0 : idx[d]);
        }
        want[e] = apply_binary(op, a[ia], bv[ib]);
        for (int d = rank - 1; d >= 0; d--) {
            if (++idx[d] < od[d])
                break;
            idx[d] = 0;
        }
    }
    expect_output(what, &r, rank, od, want, NULL);
    free(want);
    free(a);
    free(bv);
}

static void test_binary_broadcast(void **state)
{
    (void)state;
    static const shape pairs[][2] = {
        { { 4, { 2, 3, 4, 5 } }, { 3, { 3, 1, 5 } } },
        { { 3, { 3, 1, 5 } }, { 4, { 2, 3, 4, 5 } } },
        { { 4, { 2, 3, 4, 5 } }, { 1, { 1 } } },
        { { 4, { 2, 3, 4, 5 } }, { 1, { 5 } } },
        { { 1, { 5 } }, { 4, { 2, 3, 4, 5 } } },
        { { 4, { 2, 3, 4, 5 } }, { 4, { 2, 3, 4, 5 } } },
        { { 4, { 2, 1, 4, 1 } }, { 3, { 3, 1, 5 } } },
        { { 4, { 2, 3, 4, 5 } }, { 0, { 0 } } },
        { { 4, { 2, 3, 1, 1 } }, { 4, { 1, 3, 4, 5 } } },
        { { 2, { 4, 5 } }, { 2, { 4, 5 } } },
    };
    const char *ops[4] = { "Add", "Mul", "Sub", "Div" };
    for (int o = 0; o < 4; o++)
        for (size_t p = 0; p < sizeof pairs / sizeof *pairs; p++)
            for (int bc = 0; bc <= 1; bc++)
                run_binary_case(ops[o], &pairs[p][0], &pairs[p][1], bc);
}

/* ---- Concat ---- */

static void run_concat_case(int rank, const int64_t *base, int n_in, int64_t axis, int opset)
{
    int ax = (int)(axis < 0 ? axis + rank : axis);
    char what[128];
    snprintf(what, sizeof what, "Concat rank %d, %d inputs, axis %lld", rank, n_in, (long long)axis);
    feed f[3];
    float *data[3];
    int64_t od[4];
    memcpy(od, base, (size_t)rank * sizeof *od);
    od[ax] = 0;
    ob_model *b = ob_model_new(opset);
    static const char *names[3] = { "I0", "I1", "I2" };
    for (int i = 0; i < n_in; i++) {
        f[i].name = names[i];
        f[i].rank = rank;
        memcpy(f[i].dims, base, (size_t)rank * sizeof *base);
        f[i].dims[ax] = i + 1; /* 1, 2, 3 along the axis */
        od[ax] += i + 1;
        data[i] = random_floats(numel(rank, f[i].dims), -1, 1);
        f[i].data = data[i];
        ob_feed(b, &f[i]);
    }
    ob_node *node = ob_node_add(b, "Concat", n_in == 3 ? "I0,I1,I2" : "I0,I1", "Y");
    ob_attr_int(node, "axis", axis);
    ob_output(b, "Y", UNET_DTYPE_FLOAT, -1, NULL);
    result r;
    run_model(b, what, f, n_in, &r, 1);
    size_t no = numel(rank, od);
    double *want = new_doubles(no);
    int64_t idx[4] = { 0 };
    for (size_t e = 0; e < no; e++) {
        int64_t along = idx[ax];
        int src = 0;
        while (along >= f[src].dims[ax]) {
            along -= f[src].dims[ax];
            src++;
        }
        size_t off = 0;
        for (int d = 0; d < rank; d++)
            off = off * (size_t)f[src].dims[d] + (size_t)(d == ax ? along : idx[d]);
        want[e] = data[src][off];
        for (int d = rank - 1; d >= 0; d--) {
            if (++idx[d] < od[d])
                break;
            idx[d] = 0;
        }
    }
    expect_output(what, &r, rank, od, want, NULL);
    free(want);
    for (int i = 0; i < n_in; i++)
        free(data[i]);
}

static void test_concat(void **state)
{
    (void)state;
    static const int64_t base4[4] = { 2, 3, 4, 5 };
    static const int64_t base3[3] = { 3, 4, 2 };
    for (int64_t axis = -4; axis <= 3; axis++)
        run_concat_case(4, base4, 3, axis, 13);
    for (int64_t axis = -3; axis <= 2; axis++)
        run_concat_case(3, base3, 2, axis, 11);
}

/* ---- Softmax and LogSoftmax ---- */

/* Before opset 13 the input is a 2-D [prod(dims before axis), prod(dims from axis)]
 * matrix normalised by rows; from 13 on, softmax runs along the one axis. */
static void run_softmax_case(const char *op, int opset, int has_axis, int64_t axis)
{
    static const int64_t xd[4] = { 2, 3, 4, 5 };
    int rank = 4;
    int64_t ax = has_axis ? axis : opset < 13 ? 1 : -1;
    if (ax < 0)
        ax += rank;
    char what[128];
    snprintf(what, sizeof what, "%s opset %d axis %s%lld", op, opset, has_axis ? "" : "default ", (long long)ax);
    size_t n = numel(rank, xd);
    float *x = random_floats(n, -4, 4);
    ob_model *b = ob_model_new(opset);
    feed f = { "X", rank, { 2, 3, 4, 5 }, x };
    ob_feed(b, &f);
    ob_node *node = ob_node_add(b, op, "X", "Y");
    if (has_axis)
        ob_attr_int(node, "axis", axis);
    ob_output(b, "Y", UNET_DTYPE_FLOAT, -1, NULL);
    result r;
    run_model(b, what, &f, 1, &r, 1);
    /* Groups of elements normalised together: outer x [len at stride inner] x inner. */
    size_t outer = 1, len = 1, inner = 1;
    for (int d = 0; d < rank; d++) {
        if (d < ax)
            outer *= (size_t)xd[d];
        else if (opset < 13 || d == ax)
            len *= (size_t)xd[d];
        else
            inner *= (size_t)xd[d];
    }
    int is_log = !strcmp(op, "LogSoftmax");
    double *want = new_doubles(n), *mag = new_doubles(n);
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            const float *base = x + o * len * inner + i;
            double mx = -INFINITY, sum = 0;
            for (size_t j = 0; j < len; j++)
                mx = base[j * inner] > mx ? base[j * inner] : mx;
            for (size_t j = 0; j < len; j++)
                sum += exp(base[j * inner] - mx);
            for (size_t j = 0; j < len; j++) {
                size_t idx = o * len * inner + j * inner + i;
                double v = base[j * inner] - mx;
                want[idx] = is_log ? v - log(sum) : exp(v) / sum;
                /* log-softmax: |x - max| + log(sum); the sum's terms are up to 1
                 * and oneDNN's exp/log are good to about 1e-6 absolute */
                mag[idx] = is_log ? fabs(v) + log(sum) + 0.05 : fabs(want[idx]);
            }
        }
    expect_output(what, &r, rank, xd, want, mag);
    free(want);
    free(mag);
    free(x);
}

/* The segmentation head's shape (softmax_channels.c: axis 1 of N x C x H x W,
 * planes not a multiple of its 256-pixel chunks) at 1, 6 and 64 channels,
 * with logits up to +-60 so that e^(x - max) spans the float range and
 * underflows (below e^-87) for some elements. */
static void run_softmax_head_case(int64_t channels, double range)
{
    const int64_t xd[4] = { 2, channels, 37, 29 };
    size_t n = numel(4, xd), plane = 37 * 29;
    char what[96];
    snprintf(what, sizeof what, "Softmax opset 13 axis 1, %lld channels, logits in +-%g", (long long)channels, range);
    float *x = random_floats(n, -range, range);
    ob_model *b = ob_model_new(13);
    feed f = { "X", 4, { 2, channels, 37, 29 }, x };
    ob_feed(b, &f);
    ob_node *node = ob_node_add(b, "Softmax", "X", "Y");
    ob_attr_int(node, "axis", 1);
    ob_output(b, "Y", UNET_DTYPE_FLOAT, -1, NULL);
    result r;
    run_model(b, what, &f, 1, &r, 1);
    double *want = new_doubles(n);
    for (int64_t o = 0; o < 2; o++)
        for (size_t i = 0; i < plane; i++) {
            const float *base = x + (size_t)o * (size_t)channels * plane + i;
            double mx = -INFINITY, sum = 0;
            for (int64_t c = 0; c < channels; c++)
                mx = base[c * plane] > mx ? base[c * plane] : mx;
            for (int64_t c = 0; c < channels; c++)
                sum += exp(base[c * plane] - mx);
            for (int64_t c = 0; c < channels; c++)
                want[(size_t)o * (size_t)channels * plane + c * plane + i] = exp(base[c * plane] - mx) / sum;
        }
    expect_output(what, &r, 4, xd, want, NULL);
    free(want);
    free(x);
}

/* NaN or +inf among a pixel's logits: that pixel's probabilities are all
 * NaN (as oneDNN's softmax gives), and its neighbours stay right. Under the
 * sanitizer suite this also covers the exponent arithmetic of NaN inputs
 * (found by fuzz_onnx: a signed shift overflowed). */
static void test_softmax_head_nan(void **state)
{
    (void)state;
    const int64_t xd[4] = { 1, 6, 1, 300 };
    size_t n = numel(4, xd), plane = 300;
    float *x = random_floats(n, -4, 4);
    x[2 * plane + 7] = NAN;      /* pixel 7, class 2 */
    x[0 * plane + 290] = NAN;    /* pixel 290 (second chunk), class 0 */
    x[5 * plane + 11] = INFINITY; /* pixel 11, class 5 */
    ob_model *b = ob_model_new(13);
    feed f = { "X", 4, { 1, 6, 1, 300 }, x };
    ob_feed(b, &f);
    ob_node *node = ob_node_add(b, "Softmax", "X", "Y");
    ob_attr_int(node, "axis", 1);
    ob_output(b, "Y", UNET_DTYPE_FLOAT, -1, NULL);
    result r;
    run_model(b, "Softmax with NaN and inf logits", &f, 1, &r, 1);
    expect_shape("Softmax with NaN and inf logits", &r, 4, xd);
    for (size_t i = 0; i < plane; i++) {
        int bad = i == 7 || i == 290 || i == 11;
        double mx = -INFINITY, sum = 0;
        for (int c = 0; !bad && c < 6; c++)
            mx = x[c * plane + i] > mx ? x[c * plane + i] : mx;
        for (int c = 0; !bad && c < 6; c++)
            sum += exp(x[c * plane + i] - mx);
        for (int c = 0; c < 6; c++) {
            float got = r.data[c * plane + i];
            if (bad && !isnan(got))
                fail_msg("pixel %zu class %d: %g, expected NaN", i, c, got);
            double want = bad ? 0 : exp(x[c * plane + i] - mx) / sum;
            if (!bad && !(fabs(got - want) <= REL_TOL * want + ABS_TOL))
                fail_msg("pixel %zu class %d: %.9g, expected %.9g", i, c, got, want);
        }
    }
    free(r.data);
    free(x);
}

static void test_softmax_head(void **state)
{
    (void)state;
    run_softmax_head_case(1, 4);
    run_softmax_head_case(6, 4);
    run_softmax_head_case(6, 60);
    run_softmax_head_case(64, 60);
    run_softmax_head_case(65, 4); /* above the kernel's limit: oneDNN's softmax */
}

static void test_softmax(void **state)
{
    (void)state;
    const char *ops[2] = { "Softmax", "LogSoftmax" };
    for (int o = 0; o < 2; o++) {
        run_softmax_case(ops[o], 11, 0, 0);
        run_softmax_case(ops[o], 11, 1, 0);
        run_softmax_case(ops[o], 11, 1, 2);
        run_softmax_case(ops[o], 11, 1, -1);
        run_softmax_case(ops[o], 13, 0, 0);
        run_softmax_case(ops[o], 13, 1, 1);
        run_softmax_case(ops[o], 13, 1, 2);
        run_softmax_case(ops[o], 13, 1, -3);
        run_softmax_case(ops[o], 13, 1, 0);
    }
}

/* ---- BatchNormalization and activations ---- */

typedef struct bn_params {
    float *scale, *shift, *mean, *var;
} bn_params;

static void bn_random(bn_params *p, int64_t c)
{
    p->scale = random_floats((size_t)c, 0.5, 1.5);
    p->shift = random_floats((size_t)c, -0.5, 0.5);
    p->mean = random_floats((size_t)c, -0.5, 0.5);
    p->var = random_floats((size_t)c, 0.25, 2);
}

static void bn_free(bn_params *p)
{
    free(p->scale);
    free(p->shift);
    free(p->mean);
    free(p->var);
}

static void bn_initializers(ob_model *b, const bn_params *p, int64_t c)
{
    int64_t d[1] = { c };
    ob_initializer(b, "bn_scale", UNET_DTYPE_FLOAT, 1, d, p->scale);
    ob_initializer(b, "bn_shift", UNET_DTYPE_FLOAT, 1, d, p->shift);
    ob_initializer(b, "bn_mean", UNET_DTYPE_FLOAT, 1, d, p->mean);
    ob_initializer(b, "bn_var", UNET_DTYPE_FLOAT, 1, d, p->var);
}

/* In place over [n, c, plane]: y = scale (x - mean) / sqrt(var + eps) + shift. */
static void ref_bn(const bn_params *p, double eps, int64_t n, int64_t c, int64_t plane, double *y, double *mag)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < c; ch++) {
            double f = p->scale[ch] / sqrt((double)p->var[ch] + eps);
            for (int64_t j = 0; j < plane; j++) {
                size_t idx = (size_t)((i * c + ch) * plane + j);
                mag[idx] = fabs(f) * (mag[idx] + fabs(p->mean[ch])) + fabs(p->shift[ch]);
                y[idx] = f * (y[idx] - p->mean[ch]) + p->shift[ch];
            }
        }
}

static void test_batchnorm(void **state)
{
    (void)state;
    static const int64_t shapes[][4] = { { 2, 3, 4, 5 }, { 3, 4, 7, 0 }, { 2, 5, 0, 0 } };
    for (int si = 0; si < 3; si++) {
        int rank = shapes[si][3] ? 4 : shapes[si][2] ? 3 : 2;
        int64_t xd[4] = { shapes[si][0], shapes[si][1], shapes[si][2], shapes[si][3] };
        int64_t c = xd[1], plane = 1;
        for (int d = 2; d < rank; d++)
            plane *= xd[d];
        size_t n = numel(rank, xd);
        float *x = random_floats(n, -2, 2);
        bn_params p;
        bn_random(&p, c);
        double eps = si == 0 ? 1e-5 : 1e-3;
        char what[64];
        snprintf(what, sizeof what, "BatchNormalization rank %d eps %g", rank, eps);
        ob_model *b = ob_model_new(si == 2 ? 9 : 15);
        feed f = { "X", rank, { xd[0], xd[1], xd[2], xd[3] }, x };
        ob_feed(b, &f);
        bn_initializers(b, &p, c);
        ob_node *node = ob_node_add(b, "BatchNormalization", "X,bn_scale,bn_shift,bn_mean,bn_var", "Y");
        if (si != 0)
            ob_attr_float(node, "epsilon", (float)eps);
        ob_output(b, "Y", UNET_DTYPE_FLOAT, -1, NULL);
        result r;
        run_model(b, what, &f, 1, &r, 1);
        double *want = new_doubles(n), *mag = new_doubles(n);
        for (size_t i = 0; i < n; i++) {
            want[i] = x[i];
            mag[i] = fabs(x[i]);
        }
        ref_bn(&p, (double)(float)eps, xd[0], c, plane, want, mag);
        expect_output(what, &r, rank, xd, want, mag);
        free(want);
        free(mag);
        free(x);
        bn_free(&p);
    }
}

typedef struct act {
    const char *op;
    int opset;
    float alpha, beta;  /* LeakyRelu alpha; Clip min, max */
    int has_min, has_max; /* Clip: which bounds are given */
} act;

static double ref_act(const act *a, double v)
{
    if (!strcmp(a->op, "Relu")) return v > 0 ? v : 0;
    if (!strcmp(a->op, "LeakyRelu")) return v >= 0 ? v : a->alpha * v;
    if (!strcmp(a->op, "Sigmoid")) return 1.0 / (1.0 + exp(-v));
    if (!strcmp(a->op, "Tanh")) return tanh(v);
    /* Clip */
    if (a->has_min && v < a->alpha) v = a->alpha;
    if (a->has_max && v > a->beta) v = a->beta;
    return v;
}

/* Adds the activation node in -> out, with its attributes or bound inputs. */
static void ob_act(ob_model *b, const act *a, const char *in, const char *out)
{
    char ins[128];
    snprintf(ins, sizeof ins, "%s", in);
    if (!strcmp(a->op, "Clip") && a->opset >= 11) {
        int64_t none[1] = { 0 };
        if (a->has_min)
            ob_initializer(b, "clip_min", UNET_DTYPE_FLOAT, 0, none, &a->alpha);
        if (a->has_max)
            ob_initializer(b, "clip_max", UNET_DTYPE_FLOAT, 0, none, &a->beta);
        snprintf(ins, sizeof ins, "%s,%s%s%s", in, a->has_min ? "clip_min" : "", a->has_max ? "," : "",
                 a->has_max ? "clip_max" : "");
    }
    ob_node *node = ob_node_add(b, a->op, ins, out);
    if (!strcmp(a->op, "LeakyRelu") && a->alpha != 0.01f)
        ob_attr_float(node, "alpha", a->alpha);
    if (!strcmp(a->op, "Clip") && a->opset < 11) {
        if (a->has_min)
            ob_attr_float(node, "min", a->alpha);
        if (a->has_max)
            ob_attr_float(node, "max", a->beta);
    }
}

static const act ACTS[] = {
    { "Relu", 13, 0, 0, 0, 0 },
    { "LeakyRelu", 13, 0.2f, 0, 0, 0 },
    { "LeakyRelu", 13, 0.01f, 0, 0, 0 },
    { "Sigmoid", 13, 0, 0, 0, 0 },
    { "Tanh", 13, 0, 0, 0, 0 },
    { "Clip", 13, -0.5f, 0.75f, 1, 1 },
    { "Clip", 13, -0.25f, 0, 1, 0 },
    { "Clip", 13, 0, 0.5f, 0, 1 },
    { "Clip", 6, -0.5f, 0.75f, 1, 1 },
};
#define N_ACTS (sizeof ACTS / sizeof *ACTS)

static void test_activations(void **state)
{
    (void)state;
    static const int64_t xd[4] = { 2, 3, 4, 5 };
    size_t n = numel(4, xd);
    for (size_t i = 0; i < N_ACTS; i++) {
        char what[96];
        snprintf(what, sizeof what, "%s opset %d alpha %g beta %g", ACTS[i].op, ACTS[i].opset, ACTS[i].alpha, ACTS[i].beta);
        float *x = random_floats(n, -3, 3);
        ob_model *b = ob_model_new(ACTS[i].opset);
        feed f = { "X", 4, { 2, 3, 4, 5 }, x };
        ob_feed(b, &f);
        ob_act(b, &ACTS[i], "X", "Y");
        ob_output(b, "Y", UNET_DTYPE_FLOAT, -1, NULL);
        result r;
        run_model(b, what, &f, 1, &r, 1);
        double *want = new_doubles(n);
        for (size_t j = 0; j < n; j++)
            want[j] = ref_act(&ACTS[i], x[j]);
        expect_output(what, &r, 4, xd, want, NULL);
        free(want);
        free(x);
    }
}

/* ---- Conv + BatchNormalization + activation: folding and fusion ---- */

typedef struct chain_case {
    int transposed, bias, bn, group;
    const act *activation;   /* NULL: none */
    int conv_out_visible;    /* the Conv output is also a graph output (no fusion into it) */
    int bn_out_visible;      /* the BN output is also a graph output */
    int conv_twice;          /* the Conv output feeds a second consumer (Sigmoid) too */
} chain_case;

static void run_chain_case(const chain_case *cc)
{
    char what[256];
    snprintf(what, sizeof what, "%s%s%s%s%s group %d%s%s%s", cc->transposed ? "ConvTranspose" : "Conv",
             cc->bias ? "(bias)" : "", cc->bn ? " -> BatchNormalization" : "", cc->activation ? " -> " : "",
             cc->activation ? cc->activation->op : "", cc->group, cc->conv_out_visible ? ", conv output visible" : "",
             cc->bn_out_visible ? ", bn output visible" : "", cc->conv_twice ? ", conv output used twice" : "");
    conv_case c = { .sp = 2, .transposed = cc->transposed, .n = 2, .c = 4, .oc = 6, .group = cc->group,
                    .in = { 7, 6 }, .k = { 3, 3 }, .s = { cc->transposed ? 2 : 1, 2 }, .d = { 1, 1 },
                    .has_pads = 1, .pads = { 1, 1, 1, 0 }, .bias = cc->bias };
    int64_t pl[2], pr[2], out[2];
    conv_geometry(&c, pl, pr, out);
    int64_t xd[4] = { c.n, c.c, c.in[0], c.in[1] };
    int64_t wd[4] = { cc->transposed ? c.c : c.oc, cc->transposed ? c.oc / c.group : c.c / c.group, 3, 3 };
    int64_t yd[4] = { c.n, c.oc, out[0], out[1] };
    size_t nx = numel(4, xd), nw = numel(4, wd), ny = numel(4, yd);
    float *x = random_floats(nx, -1, 1), *w = random_floats(nw, -1, 1), *bias = random_floats((size_t)c.oc, -1, 1);
    bn_params p;
    bn_random(&p, c.oc);

    int opset = cc->activation ? cc->activation->opset : 13;
    ob_model *b = ob_model_new(opset);
    feed f = { "X", 4, { xd[0], xd[1], xd[2], xd[3] }, x };
    ob_feed(b, &f);
    ob_initializer(b, "W", UNET_DTYPE_FLOAT, 4, wd, w);
    int64_t bd[1] = { c.oc };
    if (c.bias)
        ob_initializer(b, "B", UNET_DTYPE_FLOAT, 1, bd, bias);
    ob_node *node = ob_node_add(b, cc->transposed ? "ConvTranspose" : "Conv", c.bias ? "X,W,B" : "X,W", "C");
    const int64_t pads[4] = { 1, 1, 1, 0 };
    ob_attr_ints(node, "pads", pads, 4);
    ob_attr_ints(node, "strides", c.s, 2);
    if (c.group != 1)
        ob_attr_int(node, "group", c.group);
    const char *last = "C";
    if (cc->bn) {
        bn_initializers(b, &p, c.oc);
        ob_node_add(b, "BatchNormalization", "C,bn_scale,bn_shift,bn_mean,bn_var", "N");
        last = "N";
    }
    if (cc->activation) {
        ob_act(b, cc->activation, last, "Z");
        last = "Z";
    }
    ob_output(b, last, UNET_DTYPE_FLOAT, -1, NULL);
    int n_out = 1;
    if (cc->conv_out_visible) {
        ob_output(b, "C", UNET_DTYPE_FLOAT, -1, NULL);
        n_out++;
    }
    if (cc->bn_out_visible) {
        ob_output(b, "N", UNET_DTYPE_FLOAT, -1, NULL);
        n_out++;
    }
    if (cc->conv_twice) {
        ob_node_add(b, "Sigmoid", "C", "S");
        ob_output(b, "S", UNET_DTYPE_FLOAT, -1, NULL);
        n_out++;
    }
    result r[4];
    run_model(b, what, &f, 1, r, n_out);

    double *conv = new_doubles(ny), *conv_mag = new_doubles(ny);
    if (c.transposed)
        ref_conv_transpose(&c, x, w, c.bias ? bias : NULL, pl, out, conv, conv_mag);
    else
        ref_conv(&c, x, w, c.bias ? bias : NULL, pl, out, conv, conv_mag);
    double *y = new_doubles(ny), *mag = new_doubles(ny);
    memcpy(y, conv, ny * sizeof *y);
    memcpy(mag, conv_mag, ny * sizeof *mag);
    if (cc->bn)
        ref_bn(&p, 1e-5, c.n, c.oc, out[0] * out[1], y, mag);
    double *bn_out = new_doubles(ny);
    memcpy(bn_out, y, ny * sizeof *y);
    double *bn_mag = new_doubles(ny);
    memcpy(bn_mag, mag, ny * sizeof *mag);
    if (cc->activation)
        for (size_t i = 0; i < ny; i++)
            y[i] = ref_act(cc->activation, y[i]); /* mag stays that of the input */
    int k = 0;
    expect_output(what, &r[k++], 4, yd, y, mag);
    if (cc->conv_out_visible)
        expect_output(what, &r[k++], 4, yd, conv, conv_mag);
    if (cc->bn_out_visible)
        expect_output(what, &r[k++], 4, yd, bn_out, bn_mag);
    if (cc->conv_twice) {
        for (size_t i = 0; i < ny; i++)
            bn_out[i] = 1.0 / (1.0 + exp(-conv[i]));
        expect_output(what, &r[k++], 4, yd, bn_out, conv_mag);
    }
    free(conv);
    free(conv_mag);
    free(y);
    free(mag);
    free(bn_out);
    free(bn_mag);
    free(x);
    free(w);
    free(bias);
    bn_free(&p);
}

static void test_conv_bn_activation_chains(void **state)
{
    (void)state;
    int count = 0;
    for (int bias = 0; bias <= 1; bias++)
        for (int group = 1; group <= 2; group++) {
            /* Conv -> BN -> Relu: folded and fused into one Conv. */
            chain_case c = { .bias = bias, .bn = 1, .group = group, .activation = &ACTS[0] };
            run_chain_case(&c);
            /* Conv -> BN alone, and Conv -> each activation. */
            c.activation = NULL;
            run_chain_case(&c);
            c.bn = 0;
            for (size_t a = 0; a < N_ACTS; a++) {
                c.activation = &ACTS[a];
                run_chain_case(&c);
            }
            /* Intermediate values that must survive: no folding or fusion into them. */
            chain_case v1 = { .bias = bias, .bn = 1, .group = group, .activation = &ACTS[0], .conv_out_visible = 1 };
            run_chain_case(&v1);
            chain_case v2 = { .bias = bias, .bn = 1, .group = group, .activation = &ACTS[1], .bn_out_visible = 1 };
            run_chain_case(&v2);
            chain_case v3 = { .bias = bias, .bn = 1, .group = group, .activation = &ACTS[0], .conv_twice = 1 };
            run_chain_case(&v3);
            chain_case v4 = { .bias = bias, .group = group, .activation = &ACTS[4], .conv_twice = 1 };
            run_chain_case(&v4);
            /* ConvTranspose -> activation (fused), ConvTranspose -> BN (not folded). */
            chain_case t1 = { .transposed = 1, .bias = bias, .group = group, .activation = &ACTS[0] };
            run_chain_case(&t1);
            chain_case t2 = { .transposed = 1, .bias = bias, .bn = 1, .group = group, .activation = &ACTS[5] };
            run_chain_case(&t2);
            count += 8 + (int)N_ACTS;
        }
    printf("  %d chains\n", count);
}

static int print_totals(void **state)
{
    (void)state;
    printf("%ld models run, %ld output values compared\n", n_cases, n_values);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_2d),
        cmocka_unit_test(test_conv_1d),
        cmocka_unit_test(test_conv_weights_as_input),
        cmocka_unit_test(test_conv_transpose_2d),
        cmocka_unit_test(test_conv_transpose_1d),
        cmocka_unit_test(test_conv_transpose_refusal),
        cmocka_unit_test(test_maxpool),
        cmocka_unit_test(test_averagepool),
        cmocka_unit_test(test_global_pool),
        cmocka_unit_test(test_binary_broadcast),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_softmax_head),
        cmocka_unit_test(test_softmax_head_nan),
        cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_conv_bn_activation_chains),
    };
    return cmocka_run_group_tests(tests, NULL, print_totals);
}
