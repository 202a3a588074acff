/* ONNX import: protobuf-c decode under an allocation cap, validation, and
 * conversion into libunet's graph IR. The protobuf tree is freed at the end. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "graph.h"
#include "onnx.pb-c.h"
#include "ops.h"
#include "passes.h"
#include "tensor_data.h"

#define DEFAULT_MAX_MODEL_BYTES (2ULL << 30)
#define DEFAULT_MAX_ELEMENTS (1ULL << 31)
#define MIN_OPSET 1
#define MAX_TESTED_OPSET 17
#define MAX_NODE_ATTRIBUTES 256

/* protobuf-c allocations go through a counter so that a hostile file cannot
 * make the decoder allocate without bound (protobuf-c#796). */
typedef struct counting_alloc {
    size_t used, cap;
    int refused;
} counting_alloc;

static void *count_alloc(void *data, size_t size)
{
    counting_alloc *c = data;
    if (size > c->cap || c->used > c->cap - size) {
        c->refused = 1;
        return NULL;
    }
    size_t *p = malloc(size + sizeof(size_t) * 2);
    if (!p)
        return NULL;
    p[0] = size;
    c->used += size;
    return p + 2; /* keep 16-byte alignment */
}

static void count_free(void *data, void *ptr)
{
    counting_alloc *c = data;
    if (!ptr)
        return;
    size_t *p = (size_t *)ptr - 2;
    c->used -= p[0];
    free(p);
}

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

static unet_status convert_value_info(unet_model *m, const Onnx__ValueInfoProto *vi, value_t *v)
{
    (void)m;
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "value '%s' is not a tensor (sequences, maps and optionals are not supported)", v->name);
    const Onnx__TypeProto__Tensor *tt = vi->type->tensor_type;
    if (!tt)
        return unet_set_error(UNET_ERR_INVALID, "value '%s' has no tensor type", v->name);
    v->dtype = tt->has_elem_type ? tt->elem_type : 0;
    if (!tt->shape) {
        v->rank = -1;
        return UNET_OK;
    }
    if (tt->shape->n_dim > UNET_MAX_RANK)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "value '%s' has rank %zu, more than the supported %d", v->name, tt->shape->n_dim, UNET_MAX_RANK);
    v->rank = (int)tt->shape->n_dim;
    for (int d = 0; d < v->rank; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
        v->dims[d] = -1;
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (dim->dim_value < 0)
                return unet_set_error(UNET_ERR_INVALID, "value '%s' dimension %d is negative (%lld)", v->name, d, (long long)dim->dim_value);
            v->dims[d] = dim->dim_value;
        } else if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM) {
            v->dim_params[d] = strdup(dim->dim_param ? dim->dim_param : "");
        }
    }
    return UNET_OK;
}

static unet_status convert_attr(unet_model *m, const node_t *n, const Onnx__AttributeProto *ap,
                                attr_t *a, const tensor_load_ctx *tctx)
{
    const char *nname = n->name;
    a->tensor = -1;
    a->name = strdup(ap->name ? ap->name : "");
    if (!a->name)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    if (ap->ref_attr_name)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "node '%s' (%s): attribute '%s' refers to a function attribute", nname, n->op_type, a->name);
    int type = ap->has_type ? (int)ap->type : 0;
    if (type == 0) { /* IR < 3 files: infer from the fields set */
        if (ap->has_f) type = ATTR_FLOAT;
        else if (ap->has_i) type = ATTR_INT;
        else if (ap->has_s) type = ATTR_STRING;
        else if (ap->t) type = ATTR_TENSOR;
        else if (ap->n_floats) type = ATTR_FLOATS;
        else if (ap->n_ints) type = ATTR_INTS;
        else if (ap->n_strings) type = ATTR_STRINGS;
        else if (ap->g) type = ATTR_GRAPH;
    }
    a->type = type;
    switch (type) {
    case ATTR_FLOAT: a->f = ap->f; break;
    case ATTR_INT: a->i = ap->i; break;
    case ATTR_STRING:
        a->s = malloc(ap->s.len + 1);
        if (!a->s)
            return unet_set_error(UNET_ERR_NOMEM, "out of memory");
        if (ap->s.len)
            memcpy(a->s, ap->s.data, ap->s.len);
        a->s[ap->s.len] = '\0';
        break;
    case ATTR_INTS:
        a->n_ints = ap->n_ints;
        a->ints = malloc((ap->n_ints ? ap->n_ints : 1) * sizeof *a->ints);
        if (!a->ints)
            return unet_set_error(UNET_ERR_NOMEM, "out of memory");
        if (ap->n_ints)
            memcpy(a->ints, ap->ints, ap->n_ints * sizeof *a->ints);
        break;
    case ATTR_FLOATS:
        a->n_floats = ap->n_floats;
        a->floats = malloc((ap->n_floats ? ap->n_floats : 1) * sizeof *a->floats);
        if (!a->floats)
            return unet_set_error(UNET_ERR_NOMEM, "out of memory");
        if (ap->n_floats)
            memcpy(a->floats, ap->floats, ap->n_floats * sizeof *a->floats);
        break;
    case ATTR_TENSOR: {
        if (!ap->t)
            return unet_set_error(UNET_ERR_INVALID, "node '%s' (%s): tensor attribute '%s' has no tensor", nname, n->op_type, a->name);
        char vname[512];
        snprintf(vname, sizeof vname, "%s::attr::%s::%d", nname, a->name, m->n_values);
        int id;
        UNET_TRY(graph_add_value(m, vname, &id));
        value_t *v = &m->values[id];
        unet_status s = tensor_from_proto(ap->t, tctx, &v->dtype, &v->rank, v->dims, &v->data, &v->nbytes);
        if (s != UNET_OK)
            return unet_wrap_error(s, "node '%s' (%s) attribute '%s'", nname, n->op_type, a->name);
        a->tensor = id;
        break;
    }
    case ATTR_STRINGS:
    case ATTR_GRAPH:
        /* Kept as present but without payload; ops that need them refuse. */
        break;
    default:
        return unet_set_error(UNET_ERR_UNSUPPORTED, "node '%s' (%s): attribute '%s' has unsupported type %d", nname, n->op_type, a->name, type);
    }
    return UNET_OK;
}

/* Kahn's algorithm; a cycle (or a node waiting on itself) is reported with a
 * node name on it. */
static unet_status topo_sort(unet_model *m)
{
    int n = m->n_nodes;
    if (n == 0)
        return UNET_OK;
    int *indeg = calloc((size_t)n, sizeof *indeg);
    int *order = malloc((size_t)n * sizeof *order);
    /* consumers adjacency via counting */
    int *start = calloc((size_t)m->n_values + 1, sizeof *start);
    if (!indeg || !order || !start) {
        free(indeg); free(order); free(start);
        return unet_set_error(UNET_ERR_NOMEM, "out of memory sorting the graph");
    }
    size_t total = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] >= 0) {
                start[m->nodes[i].in[k] + 1]++;
                total++;
            }
    for (int v = 0; v < m->n_values; v++)
        start[v + 1] += start[v];
    int *cons = malloc((total ? total : 1) * sizeof *cons);
    int *fill = calloc((size_t)m->n_values, sizeof *fill);
    if (!cons || !fill) {
        free(indeg); free(order); free(start); free(cons); free(fill);
        return unet_set_error(UNET_ERR_NOMEM, "out of memory sorting the graph");
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++) {
            int v = m->nodes[i].in[k];
            if (v < 0)
                continue;
            cons[start[v] + fill[v]++] = i;
            if (m->values[v].producer >= 0)
                indeg[i]++;
        }
    int head = 0, tail = 0;
    for (int i = 0; i < n; i++)
        if (indeg[i] == 0)
            order[tail++] = i;
    while (head < tail) {
        int i = order[head++];
        for (int o = 0; o < m->nodes[i].n_out; o++) {
            int v = m->nodes[i].out[o];
            if (v < 0)
                continue;
            for (int c = start[v]; c < start[v + 1]; c++)
                if (--indeg[cons[c]] == 0)
                    order[tail++] = cons[c];
        }
    }
    unet_status st = UNET_OK;
    if (tail != n) {
        /* Name the nodes that wait forever: the cycle and what depends on it. */
        char names[1024];
        size_t len = 0;
        int listed = 0;
        names[0] = '\0';
        for (int i = 0; i < n && listed < 8; i++) {
            if (indeg[i] <= 0)
                continue;
            int w = snprintf(names + len, sizeof names - len, "%s'%s' (%s)", listed ? ", " : "", m->nodes[i].name, m->nodes[i].op_type);
            if (w < 0 || (size_t)w >= sizeof names - len)
                break;
            len += (size_t)w;
            listed++;
        }
        st = unet_set_error(UNET_ERR_INVALID, "the graph has a cycle: %d node(s) wait on their own outputs and can never run: %s%s", n - tail, names, n - tail > listed ? ", ..." : "");
    } else {
        node_t *sorted = malloc((size_t)n * sizeof *sorted);
        if (!sorted) {
            st = unet_set_error(UNET_ERR_NOMEM, "out of memory sorting the graph");
        } else {
            for (int i = 0; i < n; i++)
                sorted[i] = m->nodes[order[i]];
            memcpy(m->nodes, sorted, (size_t)n * sizeof *sorted);
            free(sorted);
            for (int i = 0; i < n; i++)
                for (int o = 0; o < m->nodes[i].n_out; o++)
                    if (m->nodes[i].out[o] >= 0)
                        m->values[m->nodes[i].out[o]].producer = i;
        }
    }
    free(indeg); free(order); free(start); free(cons); free(fill);
    return st;
}

static unet_status convert_graph(unet_model *m, const Onnx__GraphProto *g, const tensor_load_ctx *tctx)
{
    /* Initializers first: they are values with data. */
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        if (!t->name || !t->name[0])
            return unet_set_error(UNET_ERR_INVALID, "initializer %zu has no name", i);
        if (graph_find_value(m, t->name) >= 0)
            return unet_set_error(UNET_ERR_INVALID, "initializer '%s' is defined twice", t->name);
        int id;
        UNET_TRY(graph_add_value(m, t->name, &id));
        value_t *v = &m->values[id];
        UNET_TRY(tensor_from_proto(t, tctx, &v->dtype, &v->rank, v->dims, &v->data, &v->nbytes));
    }
    /* Graph inputs that are not initializers are what a caller feeds. */
    m->inputs = malloc((g->n_input ? g->n_input : 1) * sizeof *m->inputs);
    if (!m->inputs)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        if (!vi->name || !vi->name[0])
            return unet_set_error(UNET_ERR_INVALID, "graph input %zu has no name", i);
        int id = graph_find_value(m, vi->name);
        if (id >= 0 && m->values[id].data)
            continue; /* an initializer listed as input (IR < 4 style): a constant */
        if (id >= 0)
            return unet_set_error(UNET_ERR_INVALID, "graph input '%s' is listed twice", vi->name);
        UNET_TRY(graph_add_value(m, vi->name, &id));
        UNET_TRY(convert_value_info(m, vi, &m->values[id]));
        m->values[id].is_graph_input = 1;
        m->inputs[m->n_inputs++] = id;
    }
    if (m->n_inputs > 16)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "the graph has %d inputs; at most 16 are supported", m->n_inputs);

    /* Nodes: outputs first (so that file order does not matter), then inputs. */
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *np = g->node[i];
        node_t *n;
        UNET_TRY(graph_add_node(m, &n));
        if (np->name && np->name[0]) {
            n->name = strdup(np->name);
        } else {
            char buf[64];
            snprintf(buf, sizeof buf, "node_%zu", i);
            n->name = strdup(buf);
        }
        n->op_type = dup_or_empty(np->op_type);
        n->domain = dup_or_empty(np->domain);
        if (!n->name || !n->op_type || !n->domain)
            return unet_set_error(UNET_ERR_NOMEM, "out of memory");
        if (!n->op_type[0])
            return unet_set_error(UNET_ERR_INVALID, "node '%s' has no op_type", n->name);
        if (np->n_output > 64 || np->n_input > 1024)
            return unet_set_error(UNET_ERR_LIMIT, "node '%s' (%s) has %zu inputs and %zu outputs, beyond the limits", n->name, n->op_type, np->n_input, np->n_output);
        n->n_out = (int)np->n_output;
        n->out = malloc((np->n_output ? np->n_output : 1) * sizeof *n->out);
        n->n_in = (int)np->n_input;
        n->in = malloc((np->n_input ? np->n_input : 1) * sizeof *n->in);
        if (!n->out || !n->in)
            return unet_set_error(UNET_ERR_NOMEM, "out of memory");
        for (size_t o = 0; o < np->n_output; o++) {
            const char *name = np->output[o];
            if (!name || !name[0]) {
                n->out[o] = -1; /* optional output not requested */
                continue;
            }
            int id = graph_find_value(m, name);
            if (id >= 0) {
                int first = m->values[id].producer;
                if (first >= 0)
                    return unet_set_error(UNET_ERR_INVALID, "node '%s' (%s): output '%s' is already produced by node '%s' (%s)", n->name, n->op_type, name, m->nodes[first].name, m->nodes[first].op_type);
                return unet_set_error(UNET_ERR_INVALID, "node '%s' (%s): output '%s' is already an initializer or a graph input", n->name, n->op_type, name);
            }
            UNET_TRY(graph_add_value(m, name, &id));
            m->values[id].producer = (int)(m->n_nodes - 1);
            n->out[o] = id;
        }
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *np = g->node[i];
        node_t *n = &m->nodes[i];
        for (size_t k = 0; k < np->n_input; k++) {
            const char *name = np->input[k];
            if (!name || !name[0]) {
                n->in[k] = -1;
                continue;
            }
            int id = graph_find_value(m, name);
            if (id < 0)
                return unet_set_error(UNET_ERR_INVALID, "node '%s' (%s): input '%s' is not produced by any node, initializer or graph input", n->name, n->op_type, name);
            n->in[k] = id;
            m->values[id].n_consumers++;
        }
        /* No ONNX operator has more than a few dozen attributes; the cap also
         * bounds the quadratic duplicate check below. */
        if (np->n_attribute > MAX_NODE_ATTRIBUTES)
            return unet_set_error(UNET_ERR_LIMIT, "node '%s' (%s) has %zu attributes, more than the limit of %d", n->name, n->op_type, np->n_attribute, MAX_NODE_ATTRIBUTES);
        n->attrs = calloc(np->n_attribute ? np->n_attribute : 1, sizeof *n->attrs);
        if (!n->attrs)
            return unet_set_error(UNET_ERR_NOMEM, "out of memory");
        for (size_t a = 0; a < np->n_attribute; a++) {
            n->n_attrs++;
            UNET_TRY(convert_attr(m, n, np->attribute[a], &n->attrs[a], tctx));
            for (size_t b = 0; b < a; b++)
                if (strcmp(n->attrs[b].name, n->attrs[a].name) == 0)
                    return unet_set_error(UNET_ERR_INVALID, "node '%s' (%s): attribute '%s' is given twice", n->name, n->op_type, n->attrs[a].name);
            /* convert_attr may have grown m->nodes? no: only values. n stays valid. */
        }
    }

    m->outputs = malloc((g->n_output ? g->n_output : 1) * sizeof *m->outputs);
    if (!m->outputs)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    if (g->n_output == 0)
        return unet_set_error(UNET_ERR_INVALID, "the graph has no outputs");
    for (size_t i = 0; i < g->n_output; i++) {
        const Onnx__ValueInfoProto *vi = g->output[i];
        int id = vi->name ? graph_find_value(m, vi->name) : -1;
        if (id < 0)
            return unet_set_error(UNET_ERR_INVALID, "graph output '%s' is not produced by any node", vi->name ? vi->name : "(unnamed)");
        value_t *v = &m->values[id];
        if (v->is_graph_output)
            return unet_set_error(UNET_ERR_INVALID, "graph output '%s' is listed twice", vi->name);
        v->is_graph_output = 1;
        if (vi->type && !v->data && !v->is_graph_input) {
            value_t tmp = *v;
            memset(tmp.dim_params, 0, sizeof tmp.dim_params);
            UNET_TRY(convert_value_info(m, vi, &tmp));
            v->dtype = tmp.dtype;
            v->rank = tmp.rank;
            memcpy(v->dims, tmp.dims, sizeof v->dims);
            memcpy(v->dim_params, tmp.dim_params, sizeof v->dim_params);
        }
        m->outputs[m->n_outputs++] = id;
    }
    return topo_sort(m);
}

/* All nodes outside the operator set, listed at once. */
static unet_status resolve_ops(unet_model *m)
{
    char msg[1536];
    size_t len = 0;
    int bad = 0;
    msg[0] = '\0';
    for (int i = 0; i < m->n_nodes; i++) {
        node_t *n = &m->nodes[i];
        int opset = graph_opset(m, n->domain);
        const char *why = NULL;
        if (opset == 0) {
            /* ONNX requires an opset_import entry for every domain a node uses. */
            why = n->domain[0] ? "its domain is not imported (no opset_import entry)"
                               : "the default domain ai.onnx is not imported (no opset_import entry for it)";
        } else {
            n->opset = opset;
            n->def = ops_find(n->domain, n->op_type, opset);
            if (!n->def)
                why = ops_known(n->domain, n->op_type) ? "not supported at this opset" : "operator not supported";
        }
        if (!why) {
            const op_def *d = n->def;
            if (n->n_in < d->min_in || n->n_in > d->max_in || n->n_out < d->min_out || n->n_out > d->max_out) {
                return unet_set_error(UNET_ERR_INVALID, "node '%s' (%s, opset %d) has %d inputs and %d outputs; expected %d..%d inputs and %d..%d outputs", n->name, n->op_type, opset, n->n_in, n->n_out, d->min_in, d->max_in, d->min_out, d->max_out);
            }
            /* An empty name omits an optional input or output; the first
             * min_in / min_out are required (builders index them unchecked:
             * fuzz_onnx found a Relu whose input name began with a NUL byte). */
            for (int k = 0; k < d->min_in; k++)
                if (n->in[k] < 0)
                    return unet_set_error(UNET_ERR_INVALID, "node '%s' (%s, opset %d): input %d is required but its name is empty", n->name, n->op_type, opset, k);
            for (int k = 0; k < d->min_out; k++)
                if (n->out[k] < 0)
                    return unet_set_error(UNET_ERR_INVALID, "node '%s' (%s, opset %d): output %d is required but its name is empty", n->name, n->op_type, opset, k);
            if (d->check) {
                unet_status s = d->check(m, n);
                if (s == UNET_ERR_UNSUPPORTED) {
                    why = unet_last_error();
                } else if (s != UNET_OK) {
                    return unet_wrap_error(s, "node '%s' (%s, opset %d)", n->name, n->op_type, opset);
                }
            }
        }
        if (why) {
            bad++;
            if (len < sizeof msg - 200) {
                int w = snprintf(msg + len, sizeof msg - len, "%s\n  node '%s': %s%s%s (opset %d): %s", bad == 1 ? "" : "", n->name, n->domain[0] ? n->domain : "", n->domain[0] ? "." : "", n->op_type, opset, why);
                if (w > 0)
                    len += (size_t)w < sizeof msg - len ? (size_t)w : sizeof msg - len - 1;
            }
        }
    }
    if (bad) {
        char copy[1536];
        memcpy(copy, msg, sizeof copy);
        return unet_set_error(UNET_ERR_UNSUPPORTED, "%d node(s) cannot run in this runtime:%s", bad, copy);
    }
    return UNET_OK;
}

static unet_status convert_model(unet_model *m, const Onnx__ModelProto *mp, const tensor_load_ctx *tctx)
{
    m->ir_version = mp->has_ir_version ? mp->ir_version : 0;
    if (m->ir_version < 3)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "ir_version %lld is older than the supported 3", (long long)m->ir_version);
    m->producer = dup_or_empty(mp->producer_name);
    if (mp->n_opset_import == 0)
        return unet_set_error(UNET_ERR_INVALID, "the model imports no opset");
    m->opset_domains = calloc(mp->n_opset_import, sizeof *m->opset_domains);
    m->opset_versions = calloc(mp->n_opset_import, sizeof *m->opset_versions);
    if (!m->opset_domains || !m->opset_versions)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        m->opset_domains[i] = dup_or_empty(o->domain);
        m->opset_versions[i] = o->has_version ? o->version : 0;
        m->n_opsets++;
        if (!m->opset_domains[i])
            return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    }
    int opset = graph_opset(m, "");
    if (opset != 0 && opset < MIN_OPSET)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "opset %d is older than the oldest supported, %d; convert the model with onnx.version_converter", opset, MIN_OPSET);
    if (mp->n_metadata_props > 10000)
        return unet_set_error(UNET_ERR_LIMIT, "too many metadata entries (%zu)", mp->n_metadata_props);
    m->meta = calloc(mp->n_metadata_props ? mp->n_metadata_props : 1, sizeof *m->meta);
    if (!m->meta)
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < mp->n_metadata_props; i++) {
        m->meta[i].key = dup_or_empty(mp->metadata_props[i]->key);
        m->meta[i].value = dup_or_empty(mp->metadata_props[i]->value);
        m->n_meta++;
        if (!m->meta[i].key || !m->meta[i].value)
            return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    }
    if (!mp->graph)
        return unet_set_error(UNET_ERR_INVALID, "the model has no graph");
    UNET_TRY(convert_graph(m, mp->graph, tctx));
    for (int v = 0; v < m->n_values; v++) /* the file's parameters, before folding copies them */
        if (m->values[v].data && m->values[v].dtype == UNET_DTYPE_FLOAT && m->values[v].producer < 0)
            m->file_parameters += (int64_t)(m->values[v].nbytes / 4);
    UNET_TRY(passes_before_resolve(m));
    UNET_TRY(resolve_ops(m));
    UNET_TRY(passes_after_resolve(m));
    return UNET_OK;
}

unet_status unet_model_open_memory(const void *data, size_t size, const char *name,
                                   const char *base_dir, const unet_load_options *opts,
                                   unet_model **out)
{
    unet_clear_error();
    if (!out || (!data && size))
        return unet_set_error(UNET_ERR_ARG, "unet_model_open_memory: NULL argument");
    *out = NULL;
    const char *label = name ? name : "(memory)";
    uint64_t max_bytes = opts && opts->max_model_bytes ? opts->max_model_bytes : DEFAULT_MAX_MODEL_BYTES;
    if (size > max_bytes)
        return unet_set_error(UNET_ERR_LIMIT, "%s: %zu bytes exceed the model size cap of %llu", label, size, (unsigned long long)max_bytes);
    /* Zero bytes decode as an empty ModelProto; say what it really is. */
    if (size == 0)
        return unet_set_error(UNET_ERR_PARSE, "%s: empty file (0 bytes), not an ONNX model", label);
    tensor_load_ctx tctx = {
        .base_dir = base_dir,
        .allow_external = !(opts && opts->refuse_external_data),
        .max_elements = opts && opts->max_tensor_elements ? opts->max_tensor_elements : DEFAULT_MAX_ELEMENTS,
    };
    /* Decoded structures take a few times the file's bytes; cap at 8x + 64 MiB. */
    counting_alloc ca = { 0, size * 8 + (64u << 20), 0 };
    ProtobufCAllocator alloc = { count_alloc, count_free, &ca };
    Onnx__ModelProto *mp = onnx__model_proto__unpack(&alloc, size, data);
    if (!mp) {
        if (ca.refused)
            return unet_set_error(UNET_ERR_LIMIT, "%s: decoding needs more memory than the cap of %zu bytes", label, ca.cap);
        return unet_set_error(UNET_ERR_PARSE, "%s: not a valid ONNX protobuf (truncated or corrupt)", label);
    }
    unet_model *m = calloc(1, sizeof *m);
    if (!m) {
        onnx__model_proto__free_unpacked(mp, &alloc);
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    }
    m->name = strdup(label);
    m->max_tensor_elements = tctx.max_elements;
    unet_status s = m->name ? convert_model(m, mp, &tctx) : unet_set_error(UNET_ERR_NOMEM, "out of memory");
    onnx__model_proto__free_unpacked(mp, &alloc);
    if (s != UNET_OK) {
        unet_wrap_error(s, "%s", label);
        unet_model_free(m);
        return s;
    }
    *out = m;
    return UNET_OK;
}

unet_status unet_model_open_file(const char *path, const unet_load_options *opts, unet_model **out)
{
    unet_clear_error();
    if (!path || !out)
        return unet_set_error(UNET_ERR_ARG, "unet_model_open_file: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return unet_set_error(UNET_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return unet_set_error(UNET_ERR_IO, "%s: not a regular file", path);
    }
    uint64_t max_bytes = opts && opts->max_model_bytes ? opts->max_model_bytes : DEFAULT_MAX_MODEL_BYTES;
    if ((uint64_t)st.st_size > max_bytes) {
        fclose(f);
        return unet_set_error(UNET_ERR_LIMIT, "%s: %lld bytes exceed the model size cap of %llu", path, (long long)st.st_size, (unsigned long long)max_bytes);
    }
    size_t size = (size_t)st.st_size;
    void *buf = malloc(size ? size : 1);
    if (!buf) {
        fclose(f);
        return unet_set_error(UNET_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, size);
    }
    size_t got = size ? fread(buf, 1, size, f) : 0;
    fclose(f);
    if (got != size) {
        free(buf);
        return unet_set_error(UNET_ERR_IO, "%s: short read", path);
    }
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash) {
        size_t l = (size_t)(slash - path);
        if (l >= sizeof dir)
            l = sizeof dir - 1;
        memcpy(dir, path, l ? l : 1);
        dir[l ? l : 1] = '\0';
    } else {
        strcpy(dir, ".");
    }
    unet_status s = unet_model_open_memory(buf, size, path, dir, opts, out);
    free(buf);
    return s;
}
