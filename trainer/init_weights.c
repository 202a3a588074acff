/* Reading starting weights from an exported ONNX model or a checkpoint. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "error.h"
#include "init_weights.h"
#include "onnx.pb-c.h"

#define MAX_MODEL_BYTES ((uint64_t)2 << 30)

static unet_status read_model(const char *path, Onnx__ModelProto **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return unet_set_error(UNET_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return unet_set_error(UNET_ERR_IO, "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > MAX_MODEL_BYTES || st.st_size == 0) {
        fclose(f);
        return unet_set_error(UNET_ERR_LIMIT, "%s: %lld bytes (a model has 1 to %llu)", path,
                              (long long)st.st_size, (unsigned long long)MAX_MODEL_BYTES);
    }
    const size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n);
    if (!buf) {
        fclose(f);
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
    }
    const size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) {
        free(buf);
        return unet_set_error(UNET_ERR_IO, "%s: short read", path);
    }
    *out = onnx__model_proto__unpack(NULL, n, buf);
    free(buf);
    if (!*out)
        return unet_set_error(UNET_ERR_PARSE, "%s is neither an ONNX model nor a checkpoint", path);
    if (!(*out)->graph) {
        onnx__model_proto__free_unpacked(*out, NULL);
        *out = NULL;
        return unet_set_error(UNET_ERR_INVALID, "%s: the model has no graph", path);
    }
    return UNET_OK;
}

static const Onnx__TensorProto *find_init(const Onnx__ModelProto *m, const char *name)
{
    const Onnx__GraphProto *g = m->graph;
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && strcmp(g->initializer[i]->name, name) == 0)
            return g->initializer[i];
    return NULL;
}

static unet_status dims_of(const char *path, const Onnx__ModelProto *m, const char *name,
                           size_t rank, int64_t *dims)
{
    const Onnx__TensorProto *t = find_init(m, name);
    if (!t)
        return unet_set_error(UNET_ERR_INVALID,
                              "%s has no initializer %s: was it exported by unet-train?", path, name);
    if (t->n_dims != rank)
        return unet_set_error(UNET_ERR_SHAPE, "%s: initializer %s has rank %zu, expected %zu", path,
                              name, t->n_dims, rank);
    for (size_t i = 0; i < rank; i++) {
        if (t->dims[i] < 1 || t->dims[i] > 65536)
            return unet_set_error(UNET_ERR_SHAPE, "%s: initializer %s has dimension %lld", path,
                                  name, (long long)t->dims[i]);
        dims[i] = t->dims[i];
    }
    return UNET_OK;
}

static unet_status onnx_arch(const char *path, const Onnx__ModelProto *m, unet_arch *a)
{
    int64_t enc[4], head[4];
    UNET_TRY(dims_of(path, m, "enc0.conv1.weight", 4, enc));
    UNET_TRY(dims_of(path, m, "head.weight", 4, head));
    memset(a, 0, sizeof *a);
    a->base_filters = (int)enc[0];
    a->in_channels = (int)enc[1];
    a->n_classes = (int)head[0];
    a->batchnorm = find_init(m, "enc0.bn1.scale") != NULL;
    char name[64];
    for (a->depth = 0; a->depth < 7; a->depth++) {
        snprintf(name, sizeof name, "enc%d.conv1.weight", a->depth);
        if (!find_init(m, name))
            break;
    }
    if (a->depth < 1 || a->depth > 6)
        return unet_set_error(UNET_ERR_INVALID, "%s: %d encoder levels (1..6 supported)", path,
                              a->depth);
    return UNET_OK;
}

unet_status init_weights_arch(const char *path, unet_arch *arch)
{
    if (checkpoint_is_checkpoint(path)) {
        train_state st;
        char *config;
        UNET_TRY(checkpoint_read(path, &st, &config));
        *arch = st.params->arch;
        free(config);
        train_state_free(&st);
        return UNET_OK;
    }
    Onnx__ModelProto *m;
    UNET_TRY(read_model(path, &m));
    unet_status s = onnx_arch(path, m, arch);
    onnx__model_proto__free_unpacked(m, NULL);
    return s;
}

static int is_head(const char *name) { return strncmp(name, "head.", 5) == 0; }

static unet_status copy_tensor(const char *path, const Onnx__TensorProto *t, net_param *p)
{
    if (!t->has_data_type || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s: initializer %s is not float32", path,
                              p->name);
    if (t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL || t->n_external_data)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%s: initializer %s uses external data", path,
                              p->name);
    if (t->has_raw_data) {
        if (t->raw_data.len != p->count * sizeof(float))
            return unet_set_error(UNET_ERR_SHAPE, "%s: initializer %s holds %zu bytes, expected %zu",
                                  path, p->name, t->raw_data.len, p->count * sizeof(float));
        for (size_t i = 0; i < p->count; i++) {
            const uint8_t *b = t->raw_data.data + 4 * i;
            const uint32_t bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                                  (uint32_t)b[3] << 24;
            memcpy(&p->data[i], &bits, sizeof(float));
        }
    } else {
        if (t->n_float_data != p->count)
            return unet_set_error(UNET_ERR_SHAPE, "%s: initializer %s holds %zu values, expected %zu",
                                  path, p->name, t->n_float_data, p->count);
        memcpy(p->data, t->float_data, p->count * sizeof(float));
    }
    return UNET_OK;
}

static unet_status load_onnx(const char *path, unet_params *params, int allow_new_head,
                             int *new_head)
{
    Onnx__ModelProto *m;
    UNET_TRY(read_model(path, &m));
    unet_status s = UNET_OK;
    /* Shapes first, so a mismatch changes nothing. */
    for (int i = 0; i < params->n && s == UNET_OK; i++) {
        net_param *p = &params->p[i];
        const Onnx__TensorProto *t = find_init(m, p->name);
        if (!t) {
            s = unet_set_error(UNET_ERR_INVALID, "%s has no initializer %s (the architecture needs it)",
                               path, p->name);
            break;
        }
        int same = t->n_dims == (size_t)p->rank;
        for (int d = 0; same && d < p->rank; d++)
            same = t->dims[d] == p->dims[d];
        if (!same) {
            if (allow_new_head && is_head(p->name)) {
                *new_head = 1;
                continue;
            }
            s = unet_set_error(UNET_ERR_SHAPE,
                               "%s: initializer %s has another shape than the architecture's "
                               "(%lld x %lld x %lld x %lld)",
                               path, p->name, (long long)p->dims[0], (long long)p->dims[1],
                               (long long)p->dims[2], (long long)p->dims[3]);
        }
    }
    for (int i = 0; i < params->n && s == UNET_OK; i++) {
        net_param *p = &params->p[i];
        if (*new_head && is_head(p->name))
            continue;
        s = copy_tensor(path, find_init(m, p->name), p);
    }
    onnx__model_proto__free_unpacked(m, NULL);
    return s;
}

static unet_status load_checkpoint(const char *path, unet_params *params, int allow_new_head,
                                   int *new_head)
{
    train_state st;
    char *config;
    UNET_TRY(checkpoint_read(path, &st, &config));
    free(config);
    const unet_params *src = st.best ? st.best : st.params;
    unet_status s = UNET_OK;
    for (int pass = 0; pass < 2 && s == UNET_OK; pass++) {
        for (int i = 0; i < params->n && s == UNET_OK; i++) {
            net_param *p = &params->p[i];
            const net_param *q = NULL;
            for (int j = 0; j < src->n && !q; j++)
                if (strcmp(src->p[j].name, p->name) == 0)
                    q = &src->p[j];
            int same = q && q->rank == p->rank && q->count == p->count;
            for (int d = 0; same && d < 4; d++)
                same = q->dims[d] == p->dims[d];
            if (!q)
                s = unet_set_error(UNET_ERR_INVALID, "checkpoint %s has no parameter %s", path,
                                   p->name);
            else if (!same && allow_new_head && is_head(p->name))
                *new_head = 1;
            else if (!same)
                s = unet_set_error(UNET_ERR_SHAPE,
                                   "checkpoint %s: parameter %s has another shape than the "
                                   "architecture's", path, p->name);
            else if (pass == 1)
                memcpy(p->data, q->data, p->count * sizeof(float));
        }
    }
    train_state_free(&st);
    return s;
}

unet_status init_weights_load(const char *path, unet_params *params, int allow_new_head,
                              int *new_head)
{
    *new_head = 0;
    unet_status s = checkpoint_is_checkpoint(path)
                        ? load_checkpoint(path, params, allow_new_head, new_head)
                        : load_onnx(path, params, allow_new_head, new_head);
    if (s != UNET_OK)
        return unet_wrap_error(s, "initial weights");
    return UNET_OK;
}
