/* Hyperparameter grids (see grid.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "grid.h"

#include "cli_number.h"

#define GRID_MAX_CHOICES 64

typedef struct axis {
    int key;
    int n;
    grid_config values[GRID_MAX_CHOICES]; /* only the axis' field is used */
} axis;

static const struct {
    const char *name;
    int key;
} key_names[] = {
    {"lr", GRID_LR},
    {"filters", GRID_FILTERS},
    {"depth", GRID_DEPTH},
    {"batchnorm", GRID_BATCHNORM},
    {"dropout", GRID_DROPOUT},
    {"weight_decay", GRID_WEIGHT_DECAY},
    {"weight-decay", GRID_WEIGHT_DECAY},
    {"class_weights", GRID_CLASS_WEIGHTS},
    {"class-weights", GRID_CLASS_WEIGHTS},
    {"loss", GRID_LOSS},
};

static int parse_number(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, long lo, long hi, int *out)
{
    long v;
    if (cli_parse_long(s, lo, hi, &v) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

unet_status grid_class_weights_parse(const char *text, int n_classes, float **weights,
                                     double *auto_weights)
{
    *weights = NULL;
    *auto_weights = 0;
    if (strcmp(text, "none") == 0)
        return UNET_OK;
    if (strcmp(text, "auto") == 0 || strcmp(text, "sqrt") == 0) {
        *auto_weights = text[0] == 'a' ? 1.0 : 0.5;
        return UNET_OK;
    }
    float *w = malloc((size_t)(n_classes > 0 ? n_classes : 1) * sizeof *w);
    if (!w)
        return unet_set_error(UNET_ERR_NOMEM, "class weights: out of memory");
    int k = 0, any = 0;
    const char *s = text;
    while (*s) {
        char *end;
        errno = 0;
        const double v = strtod(s, &end);
        if (end == s || errno || !(v >= 0 && v <= 1e6) || k >= n_classes ||
            (*end != ',' && *end != ':' && *end != '\0')) {
            free(w);
            return unet_set_error(UNET_ERR_ARG,
                                  "class weights '%s': want none, auto, sqrt or %d non-negative numbers",
                                  text, n_classes);
        }
        any = any || v > 0;
        w[k++] = (float)v;
        s = *end ? end + 1 : end;
    }
    if (k != n_classes || !any) {
        free(w);
        return unet_set_error(UNET_ERR_ARG, "class weights '%s': %d weight(s) for %d classes%s",
                              text, k, n_classes, any ? "" : " (and one must be positive)");
    }
    *weights = w;
    return UNET_OK;
}

/* One choice of key from text into v's field. */
static unet_status parse_value(int key, const char *name, const char *text, grid_config *v)
{
    int bad = 0;
    switch (key) {
    case GRID_LR: bad = parse_number(text, 1e-12, 10, &v->lr) || !(v->lr > 0); break;
    case GRID_FILTERS: bad = parse_int(text, 1, 512, &v->filters); break;
    case GRID_DEPTH: bad = parse_int(text, 1, 6, &v->depth); break;
    case GRID_BATCHNORM: bad = parse_int(text, 0, 1, &v->batchnorm); break;
    case GRID_DROPOUT: bad = parse_number(text, 0, 0.9, &v->dropout); break;
    case GRID_WEIGHT_DECAY: bad = parse_number(text, 0, 0.5, &v->weight_decay); break;
    case GRID_CLASS_WEIGHTS: {
        if (strlen(text) >= sizeof v->class_weights)
            return unet_set_error(UNET_ERR_ARG, "--grid: %s value '%.40s...' is too long", name,
                                  text);
        /* Check the numbers now (any class count); stored with commas. */
        if (strcmp(text, "none") != 0 && strcmp(text, "auto") != 0 && strcmp(text, "sqrt") != 0) {
            for (const char *p = text; *p; p++)
                if (!(isdigit((unsigned char)*p) || *p == '.' || *p == ':' || *p == 'e' ||
                      *p == 'E' || *p == '-' || *p == '+'))
                    bad = 1;
        }
        snprintf(v->class_weights, sizeof v->class_weights, "%s", text);
        for (char *p = v->class_weights; *p; p++)
            if (*p == ':')
                *p = ',';
        break;
    }
    case GRID_LOSS:
        v->loss.kind = loss_kind_from_name(text);
        bad = v->loss.kind < 0;
        break;
    default: bad = 1;
    }
    if (bad) {
        static const char *const wants[] = {
            "a number in (0, 10]", "an integer in 1..512", "an integer in 1..6", "0 or 1",
            "a number in [0, 0.9]", "a number in [0, 0.5]",
            "none, auto, sqrt or weights W0:W1:... (':' between the weights)",
            "ce, dice, lovasz, ce+dice or ce+lovasz"};
        int bit = 0;
        while ((1 << bit) != key)
            bit++;
        return unet_set_error(UNET_ERR_ARG, "--grid: %s wants %s, got '%s'", name, wants[bit],
                              text);
    }
    return UNET_OK;
}

static void set_field(grid_config *dst, int key, const grid_config *src)
{
    switch (key) {
    case GRID_LR: dst->lr = src->lr; break;
    case GRID_FILTERS: dst->filters = src->filters; break;
    case GRID_DEPTH: dst->depth = src->depth; break;
    case GRID_BATCHNORM: dst->batchnorm = src->batchnorm; break;
    case GRID_DROPOUT: dst->dropout = src->dropout; break;
    case GRID_WEIGHT_DECAY: dst->weight_decay = src->weight_decay; break;
    case GRID_CLASS_WEIGHTS: memcpy(dst->class_weights, src->class_weights, sizeof dst->class_weights); break;
    case GRID_LOSS: dst->loss.kind = src->loss.kind; break;
    default: break;
    }
}

/* Parses "key=v1,v2" (len bytes at s) into ax. */
static unet_status parse_axis(const char *s, size_t len, unsigned seen, axis *ax)
{
    char item[1024];
    if (len >= sizeof item)
        return unet_set_error(UNET_ERR_ARG, "--grid: '%.40s...' is too long", s);
    memcpy(item, s, len);
    item[len] = '\0';
    char *eq = strchr(item, '=');
    if (!eq || eq == item || !eq[1])
        return unet_set_error(UNET_ERR_ARG, "--grid: '%s' is not KEY=V1,V2,...", item);
    *eq = '\0';
    ax->key = 0;
    for (size_t i = 0; i < sizeof key_names / sizeof key_names[0]; i++)
        if (strcmp(item, key_names[i].name) == 0)
            ax->key = key_names[i].key;
    if (!ax->key)
        return unet_set_error(UNET_ERR_ARG,
                              "--grid: unknown key '%s' (keys: lr, filters, depth, batchnorm, "
                              "dropout, weight_decay, class_weights, loss)",
                              item);
    if (seen & (unsigned)ax->key)
        return unet_set_error(UNET_ERR_ARG, "--grid: key '%s' given twice", item);
    ax->n = 0;
    char *v = eq + 1;
    for (;;) {
        char *comma = strchr(v, ',');
        if (comma)
            *comma = '\0';
        if (!*v)
            return unet_set_error(UNET_ERR_ARG, "--grid: empty choice in %s", item);
        if (ax->n >= GRID_MAX_CHOICES)
            return unet_set_error(UNET_ERR_LIMIT, "--grid: more than %d choices for %s",
                                  GRID_MAX_CHOICES, item);
        memset(&ax->values[ax->n], 0, sizeof ax->values[ax->n]);
        UNET_TRY(parse_value(ax->key, item, v, &ax->values[ax->n]));
        ax->n++;
        if (!comma)
            break;
        v = comma + 1;
    }
    return UNET_OK;
}

unet_status grid_parse(const char *spec, const grid_config *base, grid *out)
{
    memset(out, 0, sizeof *out);
    enum { MAX_AXES = 16 };
    axis *axes = calloc(MAX_AXES, sizeof *axes);
    if (!axes)
        return unet_set_error(UNET_ERR_NOMEM, "--grid: out of memory");
    int n_axes = 0;
    unsigned seen = 0;
    unet_status s = UNET_OK;
    const char *p = spec ? spec : "";
    while (s == UNET_OK) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (n_axes >= MAX_AXES) {
            s = unet_set_error(UNET_ERR_LIMIT, "--grid: too many keys");
            break;
        }
        s = parse_axis(start, (size_t)(p - start), seen, &axes[n_axes]);
        if (s == UNET_OK)
            seen |= (unsigned)axes[n_axes++].key;
    }
    size_t total = 1;
    for (int a = 0; s == UNET_OK && a < n_axes; a++) {
        total *= (size_t)axes[a].n;
        if (total > GRID_MAX_CONFIGS)
            s = unet_set_error(UNET_ERR_LIMIT, "--grid: more than %d configurations",
                               GRID_MAX_CONFIGS);
    }
    if (s == UNET_OK) {
        out->configs = malloc(total * sizeof *out->configs);
        if (!out->configs)
            s = unet_set_error(UNET_ERR_NOMEM, "--grid: out of memory");
    }
    if (s == UNET_OK) {
        /* Mixed-radix counting, the last key the fastest digit. */
        for (size_t i = 0; i < total; i++) {
            grid_config *c = &out->configs[i];
            *c = *base;
            size_t rest = i;
            for (int a = n_axes - 1; a >= 0; a--) {
                set_field(c, axes[a].key, &axes[a].values[rest % (size_t)axes[a].n]);
                rest /= (size_t)axes[a].n;
            }
        }
        out->n = (int)total;
        out->varied = seen;
    }
    free(axes);
    if (s != UNET_OK)
        grid_free(out);
    return s;
}

void grid_free(grid *g)
{
    free(g->configs);
    memset(g, 0, sizeof *g);
}

void grid_config_label(const grid_config *c, unsigned varied, char *buf, size_t size)
{
    if (!varied) /* one configuration: its shape, and what differs from the defaults */
        varied = GRID_LR | GRID_FILTERS | GRID_DEPTH | (c->batchnorm ? GRID_BATCHNORM : 0u) |
                 (c->dropout > 0 ? GRID_DROPOUT : 0u) |
                 (c->weight_decay > 0 ? GRID_WEIGHT_DECAY : 0u) |
                 (strcmp(c->class_weights, "none") != 0 ? GRID_CLASS_WEIGHTS : 0u) |
                 (c->loss.kind != LOSS_CE ? GRID_LOSS : 0u);
    size_t at = 0;
    buf[0] = '\0';
#define ADD(...)                                                                   \
    do {                                                                           \
        if (at < size) {                                                           \
            const int n_ = snprintf(buf + at, size - at, __VA_ARGS__);            \
            at += n_ > 0 ? (size_t)n_ : 0;                                         \
        }                                                                          \
    } while (0)
    const char *sep = "";
    if (varied & GRID_LR) { ADD("%slr=%g", sep, c->lr); sep = " "; }
    if (varied & GRID_FILTERS) { ADD("%sfilters=%d", sep, c->filters); sep = " "; }
    if (varied & GRID_DEPTH) { ADD("%sdepth=%d", sep, c->depth); sep = " "; }
    if (varied & GRID_BATCHNORM) { ADD("%sbatchnorm=%d", sep, c->batchnorm); sep = " "; }
    if (varied & GRID_DROPOUT) { ADD("%sdropout=%g", sep, c->dropout); sep = " "; }
    if (varied & GRID_WEIGHT_DECAY) { ADD("%sweight_decay=%g", sep, c->weight_decay); sep = " "; }
    if (varied & GRID_CLASS_WEIGHTS) { ADD("%sclass_weights=%s", sep, c->class_weights); sep = " "; }
    if (varied & GRID_LOSS) { ADD("%sloss=%s", sep, loss_kind_name(c->loss.kind)); sep = " "; }
#undef ADD
}

void grid_config_slug(const grid_config *c, char *buf, size_t size)
{
    snprintf(buf, size, "lr%g-f%d-d%d-bn%d-do%g-wd%g-cw%s%s%s", c->lr, c->filters, c->depth,
             c->batchnorm, c->dropout, c->weight_decay, c->class_weights,
             c->loss.kind != LOSS_CE ? "-loss" : "",
             c->loss.kind != LOSS_CE ? loss_kind_name(c->loss.kind) : "");
    for (char *p = buf; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '_'))
            *p = '_';
}

/* Two 3x3 convolutions (with bias, and BN scale/shift when asked). */
static size_t block_count(const unet_arch *a, size_t in, size_t out)
{
    size_t n = 9 * in * out + out + 9 * out * out + out;
    if (a->batchnorm)
        n += 4 * out;
    return n;
}

size_t grid_arch_param_count(const unet_arch *a)
{
    size_t n = 0, in = (size_t)a->in_channels;
    for (int l = 0; l < a->depth; l++) {
        const size_t f = (size_t)a->base_filters << l;
        n += block_count(a, in, f);
        in = f;
    }
    n += block_count(a, in, (size_t)a->base_filters << a->depth);
    for (int l = 0; l < a->depth; l++) {
        const size_t f = (size_t)a->base_filters << l;
        n += 2 * f * f * 4 + f;          /* ConvTranspose 2x2, 2f -> f */
        n += block_count(a, 2 * f, f); /* after the concat */
    }
    return n + (size_t)a->base_filters * (size_t)a->n_classes + (size_t)a->n_classes;
}
