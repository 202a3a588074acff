/* Checkpoint files: layout and checks in checkpoint.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "checkpoint.h"
#include "error.h"

#define HEADER_SIZE 208u
#define MAX_CONFIG_BYTES ((uint64_t)1 << 20)
#define MAX_TABLE_BYTES ((uint64_t)1 << 20)
#define MAX_PARAMS 4096u
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

void train_progress_init(train_progress *p, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    p->seed = seed;
    p->best_miou = -1.0;
    p->best_epoch = -1;
}

void train_state_free(train_state *st)
{
    if (!st)
        return;
    params_free(st->params);
    params_free(st->best);
    optimizer_free(st->opt);
    st->params = st->best = NULL;
    st->opt = NULL;
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

static int host_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_f64(uint8_t *p, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_u64(p, bits);
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static double get_f64(const uint8_t *p)
{
    const uint64_t bits = get_u64(p);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static float f32_from_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint32_t f32_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

/* ---- sizes ------------------------------------------------------------------- */

/* Floats in all parameters of arch (mirrors params.c's list; used to refuse a
 * header whose architecture and sizes disagree before allocating anything). */
static uint64_t arch_param_floats(const unet_arch *a)
{
    const uint64_t bn = a->batchnorm ? 4 : 0;
    uint64_t n = 0, in = (uint64_t)a->in_channels;
    for (int l = 0; l <= a->depth; l++) { /* encoder levels and the bottleneck */
        const uint64_t f = (uint64_t)a->base_filters << l;
        n += in * f * 9 + f + f * f * 9 + f + 2 * bn * f;
        in = f;
    }
    for (int l = a->depth - 1; l >= 0; l--) {
        const uint64_t f = (uint64_t)a->base_filters << l;
        n += 2 * f * f * 4 + f;                              /* up */
        n += 2 * f * f * 9 + f + f * f * 9 + f + 2 * bn * f; /* block */
    }
    n += (uint64_t)a->base_filters * (uint64_t)a->n_classes + (uint64_t)a->n_classes;
    return n;
}

static uint64_t table_bytes(const unet_params *p)
{
    uint64_t n = 0;
    for (int i = 0; i < p->n; i++)
        n += 52 + strlen(p->p[i].name);
    return n;
}

static uint64_t param_floats(const unet_params *p)
{
    uint64_t n = 0;
    for (int i = 0; i < p->n; i++)
        n += p->p[i].count;
    return n;
}

/* ---- writing ------------------------------------------------------------------ */

typedef struct writer {
    FILE *f;
    uint64_t hash;
    int err; /* errno of the first failure */
} writer;

static void w_bytes(writer *w, const void *p, size_t n)
{
    if (w->err || n == 0)
        return;
    w->hash = fnv1a(w->hash, p, n);
    errno = 0;
    if (fwrite(p, 1, n, w->f) != n)
        w->err = errno ? errno : EIO;
}

static void w_u32(writer *w, uint32_t v)
{
    uint8_t b[4];
    put_u32(b, v);
    w_bytes(w, b, 4);
}

static void w_u64(writer *w, uint64_t v)
{
    uint8_t b[8];
    put_u64(b, v);
    w_bytes(w, b, 8);
}

static void w_floats(writer *w, const float *v, size_t n)
{
    if (host_little_endian()) {
        w_bytes(w, v, n * sizeof(float));
        return;
    }
    uint8_t b[4];
    for (size_t i = 0; i < n; i++) {
        put_u32(b, f32_bits(v[i]));
        w_bytes(w, b, 4);
    }
}

static void w_params(writer *w, const unet_params *p)
{
    for (int i = 0; i < p->n; i++)
        w_floats(w, p->p[i].data, p->p[i].count);
}

static void encode_header(uint8_t *h, const train_state *st, uint64_t config_bytes)
{
    const unet_params *ps = st->params;
    const unet_arch *a = &ps->arch;
    const train_progress *pr = &st->progress;
    memset(h, 0, HEADER_SIZE);
    memcpy(h, CHECKPOINT_MAGIC, 8);
    put_u32(h + 8, CHECKPOINT_VERSION);
    put_u32(h + 12, HEADER_SIZE);
    put_u32(h + 16, (uint32_t)a->in_channels);
    put_u32(h + 20, (uint32_t)a->n_classes);
    put_u32(h + 24, (uint32_t)a->depth);
    put_u32(h + 28, (uint32_t)a->base_filters);
    put_u32(h + 32, (uint32_t)a->batchnorm);
    put_u32(h + 36, f32_bits(a->dropout));
    put_u32(h + 40, (uint32_t)ps->n);
    put_u32(h + 44, st->best ? 1u : 0u);
    put_u64(h + 48, param_floats(ps));
    put_u32(h + 56, (uint32_t)st->opt->cfg.kind);
    put_u32(h + 60, (uint32_t)optim_moment_arrays(st->opt->cfg.kind));
    put_u64(h + 64, st->opt->step);
    put_u64(h + 72, st->opt->n);
    put_u64(h + 80, pr->seed);
    put_u64(h + 88, pr->epoch);
    put_u64(h + 96, pr->step_in_epoch);
    put_u64(h + 104, pr->global_step);
    put_u64(h + 112, pr->dropout_counter);
    put_f64(h + 120, pr->best_miou);
    put_u64(h + 128, (uint64_t)pr->best_epoch);
    put_u64(h + 136, pr->epochs_since_best);
    put_f64(h + 144, pr->seconds);
    put_f64(h + 152, pr->epoch_loss_sum);
    put_u64(h + 160, pr->epoch_batches);
    put_u64(h + 168, pr->epoch_correct);
    put_u64(h + 176, pr->epoch_pixels);
    put_f64(h + 184, pr->epoch_seconds);
    put_u64(h + 192, config_bytes);
    put_u64(h + 200, table_bytes(ps));
}

unet_status checkpoint_write(const char *path, const train_state *st, const char *config)
{
    if (!st || !st->params || !st->opt)
        return unet_set_error(UNET_ERR_ARG, "checkpoint %s: incomplete training state", path);
    if (st->best && param_floats(st->best) != param_floats(st->params))
        return unet_set_error(UNET_ERR_ARG, "checkpoint %s: best and current weights differ in size",
                              path);
    const uint64_t config_bytes = config ? strlen(config) : 0;
    if (config_bytes > MAX_CONFIG_BYTES)
        return unet_set_error(UNET_ERR_LIMIT, "checkpoint %s: flags of %llu bytes", path,
                              (unsigned long long)config_bytes);
    atomic_file out;
    if (atomic_file_open(&out, path) != UNET_OK)
        return unet_wrap_error(UNET_ERR_IO, "checkpoint");
    writer w = {out.f, FNV_OFFSET, 0};
    uint8_t header[HEADER_SIZE];
    encode_header(header, st, config_bytes);
    w_bytes(&w, header, HEADER_SIZE);
    w_bytes(&w, config, (size_t)config_bytes);
    const unet_params *ps = st->params;
    for (int i = 0; i < ps->n; i++) {
        const net_param *p = &ps->p[i];
        const size_t len = strlen(p->name);
        w_u32(&w, (uint32_t)len);
        w_bytes(&w, p->name, len);
        w_u32(&w, (uint32_t)p->kind);
        w_u32(&w, (uint32_t)p->rank);
        for (int d = 0; d < 4; d++)
            w_u64(&w, (uint64_t)p->dims[d]);
        w_u64(&w, p->count);
    }
    w_params(&w, ps);
    if (st->best)
        w_params(&w, st->best);
    w_floats(&w, st->opt->m, st->opt->n);
    if (st->opt->v)
        w_floats(&w, st->opt->v, st->opt->n);
    uint8_t trailer[8];
    put_u64(trailer, w.hash);
    w_bytes(&w, trailer, 8);

    if (atomic_file_commit(&out, w.err) != UNET_OK)
        return unet_wrap_error(UNET_ERR_IO, "checkpoint");
    return UNET_OK;
}

/* ---- reading ------------------------------------------------------------------ */

int checkpoint_is_checkpoint(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char magic[8];
    const int ok = fread(magic, 1, 8, f) == 8 && memcmp(magic, CHECKPOINT_MAGIC, 8) == 0;
    fclose(f);
    return ok;
}

/* a * b + c without wrapping; 0 on overflow. */
static int mul_add(uint64_t a, uint64_t b, uint64_t c, uint64_t *out)
{
    if (b && a > (UINT64_MAX - c) / b)
        return 0;
    *out = a * b + c;
    return 1;
}

static void read_floats(const uint8_t *src, float *dst, size_t n)
{
    if (host_little_endian()) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i++)
        dst[i] = f32_from_bits(get_u32(src + 4 * i));
}

static const uint8_t *read_params(const uint8_t *p, unet_params *ps)
{
    for (int i = 0; i < ps->n; i++) {
        read_floats(p, ps->p[i].data, ps->p[i].count);
        p += ps->p[i].count * sizeof(float);
    }
    return p;
}

/* Checks the parameter table against the architecture's parameters. */
static unet_status check_table(const char *path, const uint8_t *p, uint64_t size,
                               const unet_params *ps)
{
    const uint8_t *end = p + size;
    for (int i = 0; i < ps->n; i++) {
        const net_param *want = &ps->p[i];
        if (end - p < 4)
            return unet_set_error(UNET_ERR_PARSE, "checkpoint %s: parameter table ends early", path);
        const uint32_t len = get_u32(p);
        if ((uint64_t)(end - p) < 52u + (uint64_t)len)
            return unet_set_error(UNET_ERR_PARSE, "checkpoint %s: parameter table ends early", path);
        const char *name = (const char *)p + 4;
        if (len != strlen(want->name) || memcmp(name, want->name, len) != 0)
            return unet_set_error(UNET_ERR_INVALID,
                                  "checkpoint %s: parameter %d is \"%.*s\", the architecture's is %s",
                                  path, i, (int)(len > 64 ? 64 : len), name, want->name);
        const uint8_t *q = p + 4 + len;
        const uint32_t kind = get_u32(q), rank = get_u32(q + 4);
        int same = kind == (uint32_t)want->kind && rank == (uint32_t)want->rank;
        for (int d = 0; d < 4; d++)
            same = same && get_u64(q + 8 + 8 * d) == (uint64_t)want->dims[d];
        same = same && get_u64(q + 40) == (uint64_t)want->count;
        if (!same)
            return unet_set_error(UNET_ERR_SHAPE,
                                  "checkpoint %s: parameter %s has another shape than the "
                                  "architecture gives (%lld x %lld x %lld x %lld)",
                                  path, want->name, (long long)want->dims[0],
                                  (long long)want->dims[1], (long long)want->dims[2],
                                  (long long)want->dims[3]);
        p = q + 48;
    }
    if (p != end)
        return unet_set_error(UNET_ERR_PARSE, "checkpoint %s: %lld stray bytes after the table",
                              path, (long long)(end - p));
    return UNET_OK;
}

unet_status checkpoint_read(const char *path, train_state *st, char **config)
{
    memset(st, 0, sizeof *st);
    *config = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return unet_set_error(UNET_ERR_IO, "checkpoint %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return unet_set_error(UNET_ERR_IO, "checkpoint %s is not a regular file", path);
    }
    const uint64_t file_size = (uint64_t)sb.st_size;
    uint8_t h[HEADER_SIZE];
    const size_t head = fread(h, 1, HEADER_SIZE, f);
    if (file_size < HEADER_SIZE + 8 || head != HEADER_SIZE) {
        fclose(f);
        if (head >= 8 && memcmp(h, CHECKPOINT_MAGIC, 8) != 0)
            return unet_set_error(UNET_ERR_PARSE, "%s is not a unet-train checkpoint", path);
        return unet_set_error(UNET_ERR_PARSE,
                              "checkpoint %s is truncated: %llu bytes, a header alone needs %u",
                              path, (unsigned long long)file_size, HEADER_SIZE + 8);
    }
    unet_status s = UNET_OK;
    if (memcmp(h, CHECKPOINT_MAGIC, 8) != 0)
        s = unet_set_error(UNET_ERR_PARSE, "%s is not a unet-train checkpoint (no %s magic)",
                           path, CHECKPOINT_MAGIC);
    else if (get_u32(h + 8) != CHECKPOINT_VERSION)
        s = unet_set_error(UNET_ERR_UNSUPPORTED,
                           "checkpoint %s has format version %u; this unet-train reads version %u",
                           path, get_u32(h + 8), CHECKPOINT_VERSION);
    else if (get_u32(h + 12) != HEADER_SIZE)
        s = unet_set_error(UNET_ERR_PARSE, "checkpoint %s: header size %u, expected %u", path,
                           get_u32(h + 12), HEADER_SIZE);
    if (s != UNET_OK) {
        fclose(f);
        return s;
    }
    unet_arch arch = {
        .in_channels = (int)get_u32(h + 16), .n_classes = (int)get_u32(h + 20),
        .depth = (int)get_u32(h + 24), .base_filters = (int)get_u32(h + 28),
        .batchnorm = (int)get_u32(h + 32), .dropout = f32_from_bits(get_u32(h + 36))};
    const uint32_t n_params = get_u32(h + 40), has_best = get_u32(h + 44);
    const uint64_t floats = get_u64(h + 48);
    const uint32_t kind = get_u32(h + 56), n_arrays = get_u32(h + 60);
    const uint64_t opt_step = get_u64(h + 64), moment_floats = get_u64(h + 72);
    const uint64_t config_bytes = get_u64(h + 192), tbytes = get_u64(h + 200);

    /* Architecture ranges first (params_create repeats them with messages),
     * so the size arithmetic below cannot be fed absurd values. */
    if (arch.depth < 1 || arch.depth > 6 || arch.base_filters < 1 || arch.base_filters > 512 ||
        arch.n_classes < 2 || arch.n_classes > 255 || arch.in_channels < 1 ||
        arch.in_channels > 16 || n_params > MAX_PARAMS || has_best > 1 ||
        (kind != OPTIM_ADAM && kind != OPTIM_SGD) || n_arrays != (uint32_t)optim_moment_arrays((int)kind) ||
        config_bytes > MAX_CONFIG_BYTES || tbytes > MAX_TABLE_BYTES)
        s = unet_set_error(UNET_ERR_INVALID,
                           "checkpoint %s: header out of range (depth %d, base %d, classes %d, "
                           "inputs %d, %u parameters, optimiser %u with %u moment arrays)",
                           path, arch.depth, arch.base_filters, arch.n_classes, arch.in_channels,
                           n_params, kind, n_arrays);
    else if (floats != arch_param_floats(&arch))
        s = unet_set_error(UNET_ERR_INVALID,
                           "checkpoint %s: the header claims %llu parameter values, its "
                           "architecture (depth %d, base %d, %d classes%s) has %llu",
                           path, (unsigned long long)floats, arch.depth, arch.base_filters,
                           arch.n_classes, arch.batchnorm ? ", batch norm" : "",
                           (unsigned long long)arch_param_floats(&arch));
    uint64_t array_floats = 0, expected = 0;
    if (s == UNET_OK && !(mul_add(floats, 1 + has_best, 0, &array_floats) &&
                          mul_add(moment_floats, n_arrays, array_floats, &array_floats) &&
                          mul_add(array_floats, 4, HEADER_SIZE + config_bytes + tbytes + 8,
                                  &expected)))
        s = unet_set_error(UNET_ERR_INVALID, "checkpoint %s: sizes overflow", path);
    if (s == UNET_OK && expected != file_size)
        s = unet_set_error(UNET_ERR_PARSE,
                           "checkpoint %s is %s: %llu bytes, its header describes %llu", path,
                           file_size < expected ? "truncated" : "too long",
                           (unsigned long long)file_size, (unsigned long long)expected);
    if (s != UNET_OK) {
        fclose(f);
        return s;
    }

    /* Everything after the header; bounded by the file's real length. */
    const size_t rest = (size_t)(file_size - HEADER_SIZE);
    uint8_t *body = malloc(rest);
    if (!body) {
        fclose(f);
        return unet_set_error(UNET_ERR_NOMEM, "checkpoint %s: %zu bytes: out of memory", path,
                              rest);
    }
    const size_t got = fread(body, 1, rest, f);
    fclose(f);
    if (got != rest) {
        free(body);
        return unet_set_error(UNET_ERR_IO, "checkpoint %s: short read (%zu of %zu bytes)", path,
                              got, rest);
    }
    const uint64_t hash = fnv1a(fnv1a(FNV_OFFSET, h, HEADER_SIZE), body, rest - 8);
    if (hash != get_u64(body + rest - 8)) {
        free(body);
        return unet_set_error(UNET_ERR_PARSE,
                              "checkpoint %s is corrupt: its checksum does not match its contents",
                              path);
    }

    s = params_create(&arch, &st->params);
    if (s == UNET_OK && (uint32_t)st->params->n != n_params)
        s = unet_set_error(UNET_ERR_INVALID, "checkpoint %s: %u parameters, the architecture has %d",
                           path, n_params, st->params->n);
    if (s == UNET_OK && param_floats(st->params) != floats)
        s = unet_set_error(UNET_ERR_INVALID, "checkpoint %s: parameter sizes disagree", path);
    if (s == UNET_OK)
        s = check_table(path, body + config_bytes, tbytes, st->params);
    if (s == UNET_OK && has_best)
        s = params_create(&arch, &st->best);
    optim_config oc;
    optim_config_default(&oc, (int)kind);
    if (s == UNET_OK)
        s = optimizer_create(&oc, st->params, &st->opt);
    if (s == UNET_OK && st->opt->n != moment_floats)
        s = unet_set_error(UNET_ERR_INVALID,
                           "checkpoint %s: %llu optimiser values, the parameters need %zu", path,
                           (unsigned long long)moment_floats, st->opt->n);
    if (s == UNET_OK) {
        *config = malloc((size_t)config_bytes + 1);
        if (!*config)
            s = unet_set_error(UNET_ERR_NOMEM, "checkpoint %s: out of memory", path);
    }
    if (s != UNET_OK) {
        free(body);
        train_state_free(st);
        return s;
    }
    memcpy(*config, body, (size_t)config_bytes);
    (*config)[config_bytes] = '\0';
    const uint8_t *p = body + config_bytes + tbytes;
    p = read_params(p, st->params);
    if (st->best)
        p = read_params(p, st->best);
    read_floats(p, st->opt->m, st->opt->n);
    p += st->opt->n * sizeof(float);
    if (st->opt->v)
        read_floats(p, st->opt->v, st->opt->n);
    st->opt->step = opt_step;
    free(body);

    train_progress *pr = &st->progress;
    pr->seed = get_u64(h + 80);
    pr->epoch = get_u64(h + 88);
    pr->step_in_epoch = get_u64(h + 96);
    pr->global_step = get_u64(h + 104);
    pr->dropout_counter = get_u64(h + 112);
    pr->best_miou = get_f64(h + 120);
    pr->best_epoch = (int64_t)get_u64(h + 128);
    pr->epochs_since_best = get_u64(h + 136);
    pr->seconds = get_f64(h + 144);
    pr->epoch_loss_sum = get_f64(h + 152);
    pr->epoch_batches = get_u64(h + 160);
    pr->epoch_correct = get_u64(h + 168);
    pr->epoch_pixels = get_u64(h + 176);
    pr->epoch_seconds = get_f64(h + 184);
    if (!isfinite(pr->seconds) || !isfinite(pr->epoch_loss_sum) ||
        (st->best != NULL) != (pr->best_epoch >= 0)) {
        free(*config);
        *config = NULL;
        train_state_free(st);
        return unet_set_error(UNET_ERR_INVALID, "checkpoint %s: inconsistent progress fields",
                              path);
    }
    return UNET_OK;
}
