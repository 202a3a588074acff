/* The graph IR's tables: values by name (hashed once at import), nodes, and
 * attribute access with defaults. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "graph.h"

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static unet_status rehash(unet_model *m, int cap)
{
    int *h = malloc((size_t)cap * sizeof *h);
    if (!h)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory for the value table");
    for (int i = 0; i < cap; i++)
        h[i] = -1;
    for (int v = 0; v < m->n_values; v++) {
        uint64_t k = hash_name(m->values[v].name) & (uint64_t)(cap - 1);
        while (h[k] >= 0)
            k = (k + 1) & (uint64_t)(cap - 1);
        h[k] = v;
    }
    free(m->hash);
    m->hash = h;
    m->hash_cap = cap;
    return UNET_OK;
}

int graph_find_value(const unet_model *m, const char *name)
{
    if (!m->hash_cap)
        return -1;
    uint64_t k = hash_name(name) & (uint64_t)(m->hash_cap - 1);
    while (m->hash[k] >= 0) {
        if (strcmp(m->values[m->hash[k]].name, name) == 0)
            return m->hash[k];
        k = (k + 1) & (uint64_t)(m->hash_cap - 1);
    }
    return -1;
}

unet_status graph_add_value(unet_model *m, const char *name, int *id)
{
    if (m->n_values == m->cap_values) {
        int cap = m->cap_values ? m->cap_values * 2 : 64;
        value_t *v = realloc(m->values, (size_t)cap * sizeof *v);
        if (!v)
            return unet_set_error(UNET_ERR_NOMEM, "out of memory for the value table");
        m->values = v;
        m->cap_values = cap;
    }
    value_t *v = &m->values[m->n_values];
    memset(v, 0, sizeof *v);
    v->name = strdup(name);
    if (!v->name)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory for the value table");
    v->rank = -1;
    v->producer = -1;
    *id = m->n_values++;
    if ((m->n_values + 1) * 2 > m->hash_cap)
        return rehash(m, m->hash_cap ? m->hash_cap * 2 : 128);
    uint64_t k = hash_name(name) & (uint64_t)(m->hash_cap - 1);
    while (m->hash[k] >= 0)
        k = (k + 1) & (uint64_t)(m->hash_cap - 1);
    m->hash[k] = *id;
    return UNET_OK;
}

unet_status graph_add_node(unet_model *m, node_t **out)
{
    if (m->n_nodes == m->cap_nodes) {
        int cap = m->cap_nodes ? m->cap_nodes * 2 : 64;
        node_t *n = realloc(m->nodes, (size_t)cap * sizeof *n);
        if (!n)
            return unet_set_error(UNET_ERR_NOMEM, "out of memory for the node table");
        m->nodes = n;
        m->cap_nodes = cap;
    }
    node_t *n = &m->nodes[m->n_nodes++];
    memset(n, 0, sizeof *n);
    n->fused_sum = -1;
    *out = n;
    return UNET_OK;
}

static void free_attr(attr_t *a)
{
    free(a->name);
    free(a->s);
    free(a->ints);
    free(a->floats);
}

void graph_free_model_contents(unet_model *m)
{
    for (int i = 0; i < m->n_nodes; i++) {
        node_t *n = &m->nodes[i];
        free(n->name);
        free(n->op_type);
        free(n->domain);
        free(n->in);
        free(n->out);
        for (int a = 0; a < n->n_attrs; a++)
            free_attr(&n->attrs[a]);
        free(n->attrs);
    }
    free(m->nodes);
    for (int i = 0; i < m->n_values; i++) {
        value_t *v = &m->values[i];
        free(v->name);
        free(v->data);
        for (int d = 0; d < UNET_MAX_RANK; d++)
            free(v->dim_params[d]);
    }
    free(m->values);
    for (int i = 0; i < m->n_opsets; i++)
        free(m->opset_domains[i]);
    free(m->opset_domains);
    free(m->opset_versions);
    for (int i = 0; i < m->n_meta; i++) {
        free(m->meta[i].key);
        free(m->meta[i].value);
    }
    free(m->meta);
    free(m->inputs);
    free(m->outputs);
    free(m->hash);
    free(m->name);
    free(m->producer);
}

const attr_t *node_attr(const node_t *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int64_t node_attr_int(const node_t *n, const char *name, int64_t def)
{
    const attr_t *a = node_attr(n, name);
    return a && a->type == ATTR_INT ? a->i : def;
}

float node_attr_float(const node_t *n, const char *name, float def)
{
    const attr_t *a = node_attr(n, name);
    return a && a->type == ATTR_FLOAT ? a->f : def;
}

const char *node_attr_string(const node_t *n, const char *name, const char *def)
{
    const attr_t *a = node_attr(n, name);
    return a && a->type == ATTR_STRING ? a->s : def;
}

int node_attr_ints(const node_t *n, const char *name, int64_t *out, int max)
{
    const attr_t *a = node_attr(n, name);
    if (!a || a->type != ATTR_INTS)
        return -1;
    int k = (int)(a->n_ints < (size_t)max ? a->n_ints : (size_t)max);
    for (int i = 0; i < k; i++)
        out[i] = a->ints[i];
    return (int)a->n_ints;
}

unet_status shape_numel(const int64_t *dims, int rank, int64_t *numel)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return unet_set_error(UNET_ERR_SHAPE, "negative dimension %lld", (long long)dims[i]);
        if (dims[i] != 0 && n > INT64_MAX / dims[i])
            return unet_set_error(UNET_ERR_LIMIT, "element count overflows 64 bits");
        n *= dims[i];
    }
    *numel = n;
    return UNET_OK;
}

int graph_opset(const unet_model *m, const char *domain)
{
    int def = domain[0] == '\0' || strcmp(domain, "ai.onnx") == 0;
    for (int i = 0; i < m->n_opsets; i++) {
        const char *d = m->opset_domains[i];
        int is_def = d[0] == '\0' || strcmp(d, "ai.onnx") == 0;
        if ((def && is_def) || strcmp(d, domain) == 0)
            return (int)m->opset_versions[i];
    }
    return 0;
}
