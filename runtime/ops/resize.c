/* Resize (opsets 10, 11, 13) and Upsample (7, 9).
 *
 * The output index x of an axis maps to an input coordinate by the
 * coordinate_transformation_mode (opset 10 and Upsample: asymmetric), then
 * nearest, linear or cubic interpolation picks and weights input samples,
 * axis by axis (the N-D result is the tensor product). The arithmetic follows
 * ONNX's reference implementation: double precision, the scale as given (or
 * sizes / input when sizes are given), edge samples repeated at borders.
 *
 * oneDNN resampling maps with half pixels only, ih = (oh + 0.5) * IH / OH - 0.5
 * (linear: clamped lerp; nearest: rounded). It is used where that equals the
 * request: linear with half_pixel (and pytorch_half_pixel when every resized
 * length exceeds 1) whenever the scale is OH / IH; nearest at integer upscale
 * factors F with asymmetric + floor (PyTorch's export, and opset 10 /
 * Upsample), or half_pixel + round_prefer_floor/ceil, where (oh + 0.5) / F - 0.5
 * stays strictly within half a pixel of floor(oh / F). Everything else runs
 * a plain C kernel. The scales and sizes (and roi) must be known when the plan
 * is built. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../ops.h"
#include "../plan_memory.h"

enum { MODE_NEAREST, MODE_LINEAR, MODE_CUBIC };
enum {
    CT_HALF_PIXEL, CT_PYTORCH_HALF_PIXEL, CT_ALIGN_CORNERS, CT_ASYMMETRIC, CT_TF_HALF_PIXEL_FOR_NN,
    CT_TF_CROP_AND_RESIZE
};
/* NEAREST_LEGACY: opset 10 and Upsample (ONNX gives no rule; ONNX Runtime's):
 * floor when upsampling an axis, ceil when downsampling it. */
enum { NEAREST_ROUND_PREFER_FLOOR, NEAREST_ROUND_PREFER_CEIL, NEAREST_FLOOR, NEAREST_CEIL, NEAREST_LEGACY };

typedef struct name_code {
    const char *name;
    int code;
} name_code;

static const name_code MODES[] = {
    { "nearest", MODE_NEAREST }, { "linear", MODE_LINEAR }, { "bilinear", MODE_LINEAR },
    { "cubic", MODE_CUBIC }, { NULL, 0 },
};
static const name_code TRANSFORMS[] = {
    { "half_pixel", CT_HALF_PIXEL }, { "pytorch_half_pixel", CT_PYTORCH_HALF_PIXEL },
    { "align_corners", CT_ALIGN_CORNERS }, { "asymmetric", CT_ASYMMETRIC },
    { "tf_half_pixel_for_nn", CT_TF_HALF_PIXEL_FOR_NN },
    { "tf_crop_and_resize", CT_TF_CROP_AND_RESIZE }, { NULL, 0 },
};
static const name_code NEAREST_MODES[] = {
    { "round_prefer_floor", NEAREST_ROUND_PREFER_FLOOR }, { "round_prefer_ceil", NEAREST_ROUND_PREFER_CEIL },
    { "floor", NEAREST_FLOOR }, { "ceil", NEAREST_CEIL }, { NULL, 0 },
};

static int lookup(const name_code *t, const char *name)
{
    for (; t->name; t++)
        if (!strcmp(t->name, name))
            return t->code;
    return -1;
}

typedef struct resize_params {
    int mode, transform, nearest;
    double cubic_a;
    int exclude_outside;
    float extrapolation;
    int rank;
    int64_t in[UNET_MAX_RANK], out[UNET_MAX_RANK];
    double scale[UNET_MAX_RANK];        /* the scale the mapping divides by */
    double roi[2 * UNET_MAX_RANK];      /* tf_crop_and_resize: starts, then ends */
} resize_params;

static int is_upsample(const node_t *n) { return !strcmp(n->op_type, "Upsample"); }
/* Opset 10 Resize and Upsample share the old semantics. */
static int legacy(const node_t *n) { return is_upsample(n) || n->opset < 11; }

static unet_status attrs_of(const node_t *n, resize_params *rp)
{
    const char *mode = node_attr_string(n, "mode", "nearest");
    rp->mode = lookup(MODES, mode);
    if (rp->mode < 0 || (rp->mode == MODE_CUBIC && legacy(n)) || (!strcmp(mode, "bilinear") && !is_upsample(n)))
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s mode '%s' is not supported", n->op_type, mode);
    rp->transform = CT_ASYMMETRIC;
    rp->nearest = NEAREST_LEGACY;
    rp->cubic_a = -0.75;
    rp->exclude_outside = 0;
    rp->extrapolation = 0.0f;
    if (legacy(n))
        return UNET_OK;
    const char *ct = node_attr_string(n, "coordinate_transformation_mode", "half_pixel");
    rp->transform = lookup(TRANSFORMS, ct);
    if (rp->transform < 0)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "coordinate_transformation_mode '%s' is not supported", ct);
    const char *nm = node_attr_string(n, "nearest_mode", "round_prefer_floor");
    rp->nearest = lookup(NEAREST_MODES, nm);
    if (rp->nearest < 0)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "nearest_mode '%s' is not supported", nm);
    rp->cubic_a = node_attr_float(n, "cubic_coeff_a", -0.75f);
    rp->exclude_outside = node_attr_int(n, "exclude_outside", 0) != 0;
    rp->extrapolation = node_attr_float(n, "extrapolation_value", 0.0f);
    return UNET_OK;
}

unet_status resize_check(const unet_model *m, const node_t *n)
{
    (void)m;
    resize_params rp;
    UNET_TRY(attrs_of(n, &rp));
    if (is_upsample(n) && n->opset < 9 && !node_attr(n, "scales"))
        return unet_set_error(UNET_ERR_INVALID, "Upsample needs the 'scales' attribute before opset 9");
    if (!is_upsample(n) && n->opset == 11 && n->n_in < 3)
        return unet_set_error(UNET_ERR_INVALID, "Resize-11 needs the inputs X, roi and scales");
    /* Opset 18 additions, refused rather than ignored. */
    if (node_attr_int(n, "antialias", 0) != 0)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "Resize with antialias is not supported");
    if (node_attr(n, "axes"))
        return unet_set_error(UNET_ERR_UNSUPPORTED, "Resize with the 'axes' attribute is not supported");
    const char *kar = node_attr_string(n, "keep_aspect_ratio_policy", "stretch");
    if (strcmp(kar, "stretch"))
        return unet_set_error(UNET_ERR_UNSUPPORTED, "keep_aspect_ratio_policy '%s' is not supported", kar);
    return UNET_OK;
}

/* The value names a tensor in messages. */
static const char *input_name(const node_t *n, int i)
{
    (void)n;
    static const char *names[] = { "X", "roi", "scales", "sizes" };
    return i >= 0 && i < 4 ? names[i] : "input";
}

static int64_t count_of(const tview *t)
{
    int64_t c = 1;
    for (int d = 0; d < t->rank; d++)
        c *= t->dims[d];
    return c;
}

/* Attributes plus the scales / sizes / roi inputs, which must be constants. */
static unet_status resize_params_of(const node_t *n, const tview *in, int n_in, resize_params *rp)
{
    UNET_TRY(attrs_of(n, rp));
    const tview *x = &in[0];
    int rank = x->rank;
    rp->rank = rank;
    for (int d = 0; d < rank; d++)
        rp->in[d] = x->dims[d];
    if (rank < 1)
        return unet_set_error(UNET_ERR_SHAPE, "%s of a scalar", n->op_type);
    if (x->dtype != UNET_DTYPE_FLOAT)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s of %s; only float32 is supported", n->op_type, unet_dtype_name(x->dtype));
    int scales_in = -1, sizes_in = -1, roi_in = -1;
    float attr_scales[UNET_MAX_RANK];
    const float *scales = NULL;
    const int64_t *sizes = NULL;
    if (is_upsample(n) && n->opset < 9) {
        const attr_t *a = node_attr(n, "scales");
        if (!a || a->type != ATTR_FLOATS || (int)a->n_floats != rank)
            return unet_set_error(UNET_ERR_INVALID, "Upsample 'scales' must hold %d floats", rank);
        for (int d = 0; d < rank; d++)
            attr_scales[d] = a->floats[d];
        scales = attr_scales;
    } else if (legacy(n)) {
        scales_in = 1;
    } else {
        roi_in = 1;
        scales_in = 2;
        sizes_in = 3;
    }
    /* An omitted input or an empty tensor both mean "not given". */
    if (scales_in >= 0 && (scales_in >= n_in || n->in[scales_in] < 0 || count_of(&in[scales_in]) == 0))
        scales_in = -1;
    if (sizes_in >= 0 && (sizes_in >= n_in || n->in[sizes_in] < 0 || count_of(&in[sizes_in]) == 0))
        sizes_in = -1;
    if (roi_in >= 0 && (roi_in >= n_in || n->in[roi_in] < 0 || count_of(&in[roi_in]) == 0))
        roi_in = -1;
    if (!scales && (scales_in < 0) == (sizes_in < 0))
        return unet_set_error(UNET_ERR_INVALID, "%s needs exactly one of scales and sizes", n->op_type);
    int given[2] = { scales_in, sizes_in };
    for (int k = 0; k < 2; k++) {
        int i = given[k];
        if (i < 0)
            continue;
        if (in[i].dtype != (k == 0 ? UNET_DTYPE_FLOAT : UNET_DTYPE_INT64))
            return unet_set_error(UNET_ERR_INVALID, "%s is %s, expected %s", input_name(n, i), unet_dtype_name(in[i].dtype), k == 0 ? "float32" : "int64");
        if (in[i].rank != 1 || in[i].dims[0] != rank)
            return unet_set_error(UNET_ERR_INVALID, "%s must hold %d values (one per input axis)", input_name(n, i), rank);
        if (!in[i].data)
            return unet_set_error(UNET_ERR_UNSUPPORTED, "%s: '%s' is computed at run time; only constant scales and sizes are supported", n->op_type, input_name(n, i));
    }
    if (scales_in >= 0)
        scales = in[scales_in].data;
    if (sizes_in >= 0)
        sizes = in[sizes_in].data;
    for (int d = 0; d < rank; d++) {
        if (sizes) {
            if (sizes[d] < 0)
                return unet_set_error(UNET_ERR_INVALID, "sizes[%d] is negative (%lld)", d, (long long)sizes[d]);
            rp->out[d] = sizes[d];
            rp->scale[d] = rp->in[d] > 0 ? (double)sizes[d] / (double)rp->in[d] : 1.0;
        } else {
            double s = scales[d];
            if (!(s > 0.0) || isinf(s))
                return unet_set_error(UNET_ERR_INVALID, "scales[%d] must be positive (got %g)", d, s);
            double o = floor((double)rp->in[d] * s);
            if (o > (double)INT64_MAX / 2)
                return unet_set_error(UNET_ERR_LIMIT, "scales[%d] = %g gives an output too large", d, s);
            rp->out[d] = (int64_t)o;
            rp->scale[d] = s;
        }
    }
    for (int d = 0; d < rank; d++) {
        rp->roi[d] = 0.0;
        rp->roi[rank + d] = 1.0;
    }
    if (rp->transform == CT_TF_CROP_AND_RESIZE) {
        if (roi_in < 0)
            return unet_set_error(UNET_ERR_INVALID, "tf_crop_and_resize needs roi");
        const tview *r = &in[roi_in];
        if (r->dtype != UNET_DTYPE_FLOAT)
            return unet_set_error(UNET_ERR_UNSUPPORTED, "roi is %s; only float32 is supported", unet_dtype_name(r->dtype));
        if (count_of(r) != 2 * rank)
            return unet_set_error(UNET_ERR_INVALID, "roi must hold %d values", 2 * rank);
        if (!r->data)
            return unet_set_error(UNET_ERR_UNSUPPORTED, "Resize: roi is computed at run time; only a constant roi is supported");
        for (int d = 0; d < 2 * rank; d++)
            rp->roi[d] = ((const float *)r->data)[d];
    }
    return UNET_OK;
}

/* Input coordinate of output index x on axis d (before interpolation). */
static double source_coord(const resize_params *rp, int d, int64_t x)
{
    double s = rp->scale[d], in = (double)rp->in[d], len = in * s;
    switch (rp->transform) {
    case CT_HALF_PIXEL: return (x + 0.5) / s - 0.5;
    /* The spec's 0 for a length-1 output (the 1.12 reference uses -0.5; the
     * two differ for cubic only, which no conformance case exercises). */
    case CT_PYTORCH_HALF_PIXEL: return rp->out[d] > 1 ? (x + 0.5) / s - 0.5 : 0.0;
    /* The reference divides by the unrounded resized length in * scale. */
    case CT_ALIGN_CORNERS: return len == 1.0 ? 0.0 : x * (in - 1.0) / (len - 1.0);
    case CT_TF_HALF_PIXEL_FOR_NN: return (x + 0.5) / s;
    case CT_TF_CROP_AND_RESIZE: {
        double start = rp->roi[d], end = rp->roi[rp->rank + d];
        if (len == 1.0)
            return 0.5 * (start + end) * (in - 1.0);
        return start * (in - 1.0) + x * (end - start) * (in - 1.0) / (len - 1.0);
    }
    default: return x / s;
    }
}

static int taps(int mode) { return mode == MODE_NEAREST ? 1 : mode == MODE_LINEAR ? 2 : 4; }

/* Per-axis sampling table: for each output index, taps input indices (times
 * the input stride) and weights; oob marks tf_crop_and_resize extrapolation. */
typedef struct axis_table {
    int axis;
    int64_t *off;
    double *w;
    unsigned char *oob;
} axis_table;

static int64_t clamp_index(int64_t i, int64_t n) { return i < 0 ? 0 : i >= n ? n - 1 : i; }

static void fill_table(const resize_params *rp, int d, int64_t stride, axis_table *t)
{
    int k = taps(rp->mode);
    int64_t n_in = rp->in[d];
    for (int64_t x = 0; x < rp->out[d]; x++) {
        double xo = source_coord(rp, d, x);
        int64_t *off = t->off + x * k;
        double *w = t->w + x * k;
        t->oob[x] = rp->transform == CT_TF_CROP_AND_RESIZE && (xo < 0.0 || xo > n_in - 1.0);
        double f = floor(xo), r = xo - f;
        int64_t i0 = (int64_t)f;
        if (rp->mode == MODE_NEAREST) {
            int64_t i = i0;
            if (r > 0.0) {
                switch (rp->nearest) {
                case NEAREST_ROUND_PREFER_FLOOR: i = r <= 0.5 ? i0 : i0 + 1; break;
                case NEAREST_ROUND_PREFER_CEIL: i = r < 0.5 ? i0 : i0 + 1; break;
                case NEAREST_FLOOR: i = i0; break;
                case NEAREST_CEIL: i = i0 + 1; break;
                default: i = rp->scale[d] < 1.0 ? i0 + 1 : i0; break;
                }
            }
            off[0] = clamp_index(i, n_in) * stride;
            w[0] = 1.0;
        } else if (rp->mode == MODE_LINEAR) {
            off[0] = clamp_index(i0, n_in) * stride;
            off[1] = clamp_index(i0 + 1, n_in) * stride;
            w[0] = 1.0 - r;
            w[1] = r;
        } else {
            /* Keys' cubic on i0-1 .. i0+2; an integer coordinate puts the
             * sample at the third tap (ratio 1), as the reference does. */
            if (r == 0.0) {
                i0 -= 1;
                r = 1.0;
            }
            double a = rp->cubic_a, c[4];
            double r1 = r + 1.0, s = 1.0 - r, s1 = s + 1.0;
            c[0] = ((a * r1 - 5.0 * a) * r1 + 8.0 * a) * r1 - 4.0 * a;
            c[1] = ((a + 2.0) * r - (a + 3.0)) * r * r + 1.0;
            c[2] = ((a + 2.0) * s - (a + 3.0)) * s * s + 1.0;
            c[3] = ((a * s1 - 5.0 * a) * s1 + 8.0 * a) * s1 - 4.0 * a;
            double sum = 0.0;
            for (int j = 0; j < 4; j++) {
                int64_t i = i0 - 1 + j;
                if (rp->exclude_outside && (i < 0 || i >= n_in))
                    c[j] = 0.0;
                sum += c[j];
            }
            for (int j = 0; j < 4; j++) {
                off[j] = clamp_index(i0 - 1 + j, n_in) * stride;
                w[j] = rp->exclude_outside && sum != 0.0 ? c[j] / sum : c[j];
            }
        }
    }
}

/* An axis whose table reads input index x with weight 1 for every output x. */
static int table_is_identity(const resize_params *rp, int d, int64_t stride, const axis_table *t)
{
    if (rp->in[d] != rp->out[d])
        return 0;
    int k = taps(rp->mode);
    for (int64_t x = 0; x < rp->out[d]; x++) {
        if (t->oob[x])
            return 0;
        for (int j = 0; j < k; j++) {
            double w = t->w[x * k + j];
            if (w != 0.0 && (w != 1.0 || t->off[x * k + j] != x * stride))
                return 0;
        }
    }
    return 1;
}

static unet_status resize_shape(const node_t *n, const tview *in, int n_in, tview *out)
{
    resize_params rp;
    UNET_TRY(resize_params_of(n, in, n_in, &rp));
    out->dtype = UNET_DTYPE_FLOAT;
    out->rank = rp.rank;
    memcpy(out->dims, rp.out, sizeof rp.out);
    return UNET_OK;
}

/* Any set of resized axes: every output element sums the tensor product of
 * the active axes' taps. */
static void resample_nd(const resize_params *rp, const axis_table *tab, int n_active, const int *active,
                        const int64_t *stride, const float *x, float *y, int64_t total)
{
    int rank = rp->rank, k = taps(rp->mode);
    int combos = 1;
    for (int j = 0; j < n_active; j++)
        combos *= k;
    int64_t idx[UNET_MAX_RANK] = { 0 }, base = 0;
    for (int64_t e = 0; e < total; e++) {
        int oob = 0;
        for (int j = 0; j < n_active; j++)
            oob |= tab[j].oob[idx[tab[j].axis]];
        if (oob) {
            y[e] = rp->extrapolation;
        } else {
            double acc = 0.0;
            for (int c = 0; c < combos; c++) {
                int64_t off = base;
                double w = 1.0;
                int cc = c;
                for (int j = 0; j < n_active; j++) {
                    int64_t q = idx[tab[j].axis] * k + cc % k;
                    cc /= k;
                    off += tab[j].off[q];
                    w *= tab[j].w[q];
                }
                if (w != 0.0)
                    acc += w * x[off];
            }
            y[e] = (float)acc;
        }
        for (int d = rank - 1; d >= 0; d--) {
            if (!active[d])
                base += stride[d];
            if (++idx[d] < rp->out[d])
                break;
            if (!active[d])
                base -= stride[d] * idx[d];
            idx[d] = 0;
        }
    }
}

/* Only the last two axes (h, w) change: per output row, blend the h taps
 * into one input-width row, then take the w taps from it. Rows are
 * independent, so they are shared among threads. */
static void resample_rows(const resize_params *rp, const axis_table *th, const axis_table *tw,
                          int64_t planes, int64_t hin, int64_t win, int64_t hout, int64_t wout,
                          const float *x, float *y, double *rowbuf)
{
    int k = taps(rp->mode);
    int64_t rows = planes * hout;
    float extra = rp->extrapolation;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t pl = r / hout, oy = r % hout;
        const float *xp = x + pl * hin * win;
        float *yr = y + r * wout;
        double *tmp = rowbuf + (size_t)omp_get_thread_num() * (size_t)win;
        if (th->oob[oy]) {
            for (int64_t ox = 0; ox < wout; ox++)
                yr[ox] = extra;
            continue;
        }
        for (int64_t j = 0; j < win; j++)
            tmp[j] = 0.0;
        for (int a = 0; a < k; a++) {
            double w = th->w[oy * k + a];
            if (w == 0.0)
                continue;
            const float *xr = xp + th->off[oy * k + a];
            for (int64_t j = 0; j < win; j++)
                tmp[j] += w * xr[j];
        }
        for (int64_t ox = 0; ox < wout; ox++) {
            if (tw->oob[ox]) {
                yr[ox] = extra;
                continue;
            }
            double acc = 0.0;
            for (int b = 0; b < k; b++)
                acc += tw->w[ox * k + b] * tmp[tw->off[ox * k + b]];
            yr[ox] = (float)acc;
        }
    }
}

static unet_status resize_run(const node_t *n, const tview *in, int n_in, tview *out, int n_out)
{
    (void)n_out;
    resize_params rp;
    UNET_TRY(resize_params_of(n, in, n_in, &rp));
    int rank = rp.rank, k = taps(rp.mode);
    int64_t total = count_of(&out[0]);
    if (total == 0)
        return UNET_OK;
    int64_t stride[UNET_MAX_RANK], s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        stride[d] = s;
        s *= rp.in[d];
    }
    if (s == 0)
        return unet_set_error(UNET_ERR_SHAPE, "%s of an empty tensor to a non-empty one", n->op_type);
    size_t entries = 0;
    for (int d = 0; d < rank; d++)
        entries += (size_t)rp.out[d];
    int64_t *offs = malloc(entries * (size_t)k * sizeof *offs + 1);
    double *ws = malloc(entries * (size_t)k * sizeof *ws + 1);
    unsigned char *oobs = malloc(entries + 1);
    if (!offs || !ws || !oobs) {
        free(offs);
        free(ws);
        free(oobs);
        return unet_set_error(UNET_ERR_NOMEM, "out of memory for resize tables");
    }
    /* Tables for every axis; those that are the identity need none at run. */
    axis_table all[UNET_MAX_RANK], tab[UNET_MAX_RANK];
    int active[UNET_MAX_RANK] = { 0 }, n_active = 0, leading_active = 0;
    size_t at = 0;
    for (int d = 0; d < rank; d++) {
        axis_table t = { d, offs + at * (size_t)k, ws + at * (size_t)k, oobs + at };
        at += (size_t)rp.out[d];
        fill_table(&rp, d, stride[d], &t);
        all[d] = t;
        if (!table_is_identity(&rp, d, stride[d], &t)) {
            active[d] = 1;
            tab[n_active++] = t;
            if (d < rank - 2)
                leading_active = 1;
        }
    }
    const float *x = in[0].data;
    float *y = out[0].data;
    unet_status r = UNET_OK;
    if (rank >= 2 && !leading_active) {
        int64_t planes = 1;
        for (int d = 0; d < rank - 2; d++)
            planes *= rp.out[d];
        int64_t win = rp.in[rank - 1];
        double *rowbuf = malloc((size_t)omp_get_max_threads() * (size_t)win * sizeof *rowbuf + 1);
        if (!rowbuf) {
            r = unet_set_error(UNET_ERR_NOMEM, "out of memory for a resize row buffer");
        } else {
            resample_rows(&rp, &all[rank - 2], &all[rank - 1], planes, rp.in[rank - 2], win,
                          rp.out[rank - 2], rp.out[rank - 1], x, y, rowbuf);
            free(rowbuf);
        }
    } else {
        resample_nd(&rp, tab, n_active, active, stride, x, y, total);
    }
    free(offs);
    free(ws);
    free(oobs);
    return r;
}

/* 1 when oneDNN's half-pixel resampling computes exactly what rp asks for. */
static int onednn_equivalent(const resize_params *rp, dnnl_alg_kind_t *alg)
{
    if (rp->rank < 3 || rp->rank > 5)
        return 0;
    for (int d = 0; d < 2; d++)
        if (rp->out[d] != rp->in[d] || rp->scale[d] != 1.0)
            return 0;
    for (int d = 2; d < rp->rank; d++) {
        double in = (double)rp->in[d], out = (double)rp->out[d], s = rp->scale[d];
        if (in < 1 || out < 1)
            return 0;
        if (rp->mode == MODE_LINEAR) {
            /* The mapping divides by s; oneDNN by out / in. */
            if (fabs(s * in - out) > 1e-6 * out)
                return 0;
            if (rp->transform == CT_PYTORCH_HALF_PIXEL) {
                if (rp->out[d] <= 1 && rp->in[d] > 1)
                    return 0;
            } else if (rp->transform != CT_HALF_PIXEL) {
                return 0;
            }
        } else if (rp->mode == MODE_NEAREST) {
            int asym_floor = rp->transform == CT_ASYMMETRIC &&
                             (rp->nearest == NEAREST_FLOOR || rp->nearest == NEAREST_LEGACY);
            int half_round = rp->transform == CT_HALF_PIXEL &&
                             (rp->nearest == NEAREST_ROUND_PREFER_FLOOR || rp->nearest == NEAREST_ROUND_PREFER_CEIL);
            if (!asym_floor && !half_round)
                return 0;
            /* An integer upscale factor F, with out = F * in exactly. */
            if (s < 1.0 || s != floor(s) || rp->out[d] != rp->in[d] * (int64_t)s)
                return 0;
        } else {
            return 0;
        }
    }
    *alg = rp->mode == MODE_LINEAR ? dnnl_resampling_linear : dnnl_resampling_nearest;
    return 1;
}

unet_status resize_build(plan_t *p, const node_t *n)
{
    UNET_TRY(op_require_float(p, n, 0));
    tview vi[STEP_MAX_IO], vo;
    if (n->n_in > 4)
        return unet_set_error(UNET_ERR_INVALID, "%s has %d inputs", n->op_type, n->n_in);
    for (int i = 0; i < n->n_in; i++) {
        vi[i] = plan_view(p, n->in[i]);
        /* A constant float input held in another layout has a plain copy. */
        if (n->in[i] >= 0 && !vi[i].data && p->t[n->in[i]].plain_twin >= 0 &&
            p->t[p->t[n->in[i]].plain_twin].is_const)
            vi[i] = plan_view(p, p->t[n->in[i]].plain_twin);
    }
    memset(&vo, 0, sizeof vo);
    UNET_TRY(resize_shape(n, vi, n->n_in, &vo));
    UNET_TRY(plan_set_shape(p, n->out[0], UNET_DTYPE_FLOAT, vo.rank, vo.dims));
    resize_params rp;
    UNET_TRY(resize_params_of(n, vi, n->n_in, &rp));
    dnnl_alg_kind_t alg;
    if (p->t[n->in[0]].is_const || p->t[n->out[0]].nbytes == 0 || !onednn_equivalent(&rp, &alg))
        return plan_add_plain(p, n, n->in, n->n_in, n->out, 1, resize_run);
    dnnl_dims_t od;
    for (int d = 0; d < rp.rank; d++)
        od[d] = rp.out[d];
    dnnl_memory_desc_t dst_any;
    dnnl_memory_desc_init_by_tag(&dst_any, rp.rank, od, p->t[n->in[0]].md.data_type, dnnl_format_tag_any); /* as the input (bf16 plans) */
    dnnl_resampling_desc_t rd;
    dnnl_primitive_attr_t attr = plan_make_attr();
    dnnl_primitive_desc_t pd = NULL;
    int x = n->in[0];
    dnnl_status_t st = attr ? dnnl_resampling_forward_desc_init(&rd, dnnl_forward_inference, alg, NULL, &p->t[x].md, &dst_any)
                            : dnnl_out_of_memory;
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &rd, attr, p->engine, NULL);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (st == dnnl_unimplemented)
        return plan_add_plain(p, n, n->in, n->n_in, n->out, 1, resize_run);
    if (st != dnnl_success)
        return dnnl_error(st, n, "resampling setup");
    plan_set_md(p, n->out[0], dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0));
    int kinds[2] = { DNNL_ARG_SRC, DNNL_ARG_DST };
    int ids[2] = { x, n->out[0] };
    unet_status r = plan_add_primitive(p, n, pd, 2, kinds, ids);
    dnnl_primitive_desc_destroy(pd);
    return r;
}
