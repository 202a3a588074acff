/* BatchNormalization folding: see fold_batchnorm.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fold_batchnorm.h"
#include "onnx_edit.h"

static Onnx__NodeProto *producer(const Onnx__GraphProto *g, const char *name, size_t *index)
{
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_output; k++)
            if (strcmp(g->node[i]->output[k], name) == 0) {
                *index = i;
                return g->node[i];
            }
    return NULL;
}

/* The float initializer name read by one node only, or NULL. */
static Onnx__TensorProto *private_param(const Onnx__GraphProto *g, const char *name)
{
    Onnx__TensorProto *t = qz_find_initializer(g, name, NULL);
    return t && t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && qz_count_uses(g, name) == 1 ? t : NULL;
}

static void remove_initializer(Onnx__GraphProto *g, const char *name)
{
    size_t i;
    if (!qz_find_initializer(g, name, &i) || qz_count_uses(g, name) > 0)
        return;
    onnx__tensor_proto__free_unpacked(g->initializer[i], NULL);
    memmove(g->initializer + i, g->initializer + i + 1, (g->n_initializer - i - 1) * sizeof *g->initializer);
    g->n_initializer--;
}

/* Folds bn (node index bi) into conv; the caller checked the graph shape. */
static unet_status fold_one(Onnx__GraphProto *g, Onnx__NodeProto *conv, size_t bi)
{
    Onnx__NodeProto *bn = g->node[bi];
    Onnx__TensorProto *wt = private_param(g, conv->input[1]);
    float *p[4] = { 0 }, *w = NULL, *bias = NULL;
    int64_t np[4], nw = 0, nb = 0;
    const char *role[4] = { "scale", "shift (B)", "mean", "variance" };
    unet_status s = qz_tensor_floats(wt, "Conv weight", &w, &nw);
    int64_t oc = wt->n_dims >= 1 ? wt->dims[0] : 0;
    for (int k = 0; k < 4 && s == UNET_OK; k++) {
        s = qz_tensor_floats(qz_find_initializer(g, bn->input[k + 1], NULL), "BatchNormalization parameter", &p[k], &np[k]);
        if (s == UNET_OK && np[k] != oc)
            s = unet_set_error(UNET_ERR_INVALID, "BatchNormalization '%s': its %s '%s' has %lld values, Conv '%s' has %lld output channels", bn->name, role[k], bn->input[k + 1], (long long)np[k], conv->name, (long long)oc);
    }
    Onnx__TensorProto *bt = conv->n_input > 2 && conv->input[2][0] ? qz_find_initializer(g, conv->input[2], NULL) : NULL;
    if (s == UNET_OK && bt) {
        s = qz_tensor_floats(bt, "Conv bias", &bias, &nb);
        if (s == UNET_OK && nb != oc)
            s = unet_set_error(UNET_ERR_INVALID, "Conv '%s': bias '%s' has %lld values for %lld output channels", conv->name, bt->name, (long long)nb, (long long)oc);
    }
    float *folded_bias = s == UNET_OK ? malloc((size_t)(oc ? oc : 1) * sizeof *folded_bias) : NULL;
    if (s == UNET_OK && !folded_bias)
        s = unet_set_error(UNET_ERR_NOMEM, "out of memory folding '%s'", bn->name);
    const double eps = qz_node_float(bn, "epsilon", 1e-5f);
    const int64_t per_oc = oc ? nw / oc : 0;
    for (int64_t o = 0; s == UNET_OK && o < oc; o++) {
        double var = p[3][o];
        if (!(var + eps > 0.0))
            s = unet_set_error(UNET_ERR_INVALID, "BatchNormalization '%s': variance %g + epsilon %g of channel %lld is not positive", bn->name, var, eps, (long long)o);
        double k = p[0][o] / sqrt(var + eps);
        for (int64_t j = 0; j < per_oc; j++)
            w[o * per_oc + j] = (float)(w[o * per_oc + j] * k);
        folded_bias[o] = (float)(((bias ? bias[o] : 0.0) - p[2][o]) * k + p[1][o]);
    }
    if (s == UNET_OK && qz_tensor_set_floats(wt, w, nw) != 0)
        s = unet_set_error(UNET_ERR_NOMEM, "out of memory folding '%s'", bn->name);
    if (s == UNET_OK && bt) {
        if (qz_tensor_set_floats(bt, folded_bias, oc) != 0)
            s = unet_set_error(UNET_ERR_NOMEM, "out of memory folding '%s'", bn->name);
    } else if (s == UNET_OK) { /* a Conv without bias gets one */
        char name[512];
        snprintf(name, sizeof name, "%s_bn_folded_bias", conv->input[1]);
        Onnx__TensorProto *nbt = qz_name_taken(g, name) ? NULL
                                 : qz_tensor_new(name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, &oc, folded_bias, 4);
        char *in = nbt ? qz_strdup(name) : NULL;
        char **grown = in ? realloc(conv->input, 3 * sizeof *grown) : NULL;
        if (!grown || qz_append((void ***)&g->initializer, &g->n_initializer, nbt) != 0) {
            free(in);
            if (nbt)
                onnx__tensor_proto__free_unpacked(nbt, NULL);
            s = unet_set_error(UNET_ERR_NOMEM, "folding '%s': out of memory or the name '%s' is taken", bn->name, name);
        } else {
            conv->input = grown;
            if (conv->n_input == 3)
                free(conv->input[2]); /* an empty name */
            conv->input[2] = in;
            conv->n_input = 3;
        }
    }
    for (int k = 0; k < 4; k++)
        free(p[k]);
    free(w);
    free(bias);
    free(folded_bias);
    if (s != UNET_OK)
        return s;
    /* The Conv takes over the BN's output; the BN and its parameters go. */
    char *out = bn->output[0];
    bn->output[0] = conv->output[0];
    conv->output[0] = out;
    char *params[4];
    for (int k = 0; k < 4; k++)
        params[k] = qz_strdup(bn->input[k + 1]);
    onnx__node_proto__free_unpacked(bn, NULL);
    memmove(g->node + bi, g->node + bi + 1, (g->n_node - bi - 1) * sizeof *g->node);
    g->n_node--;
    for (int k = 0; k < 4; k++) {
        if (params[k])
            remove_initializer(g, params[k]);
        free(params[k]);
    }
    return UNET_OK;
}

unet_status qz_fold_batchnorm(Onnx__GraphProto *g, int *folded)
{
    *folded = 0;
    for (size_t i = 0; i < g->n_node; i++) {
        Onnx__NodeProto *bn = g->node[i];
        if ((bn->domain && *bn->domain) || strcmp(bn->op_type, "BatchNormalization") != 0 ||
            bn->n_input != 5 || bn->n_output < 1 || (bn->n_output > 1 && bn->output[1][0]))
            continue; /* training-mode BN (running stats as outputs) stays */
        size_t ci;
        Onnx__NodeProto *conv = producer(g, bn->input[0], &ci);
        if (!conv || (conv->domain && *conv->domain) || strcmp(conv->op_type, "Conv") != 0 || conv->n_input < 2 ||
            qz_count_uses(g, bn->input[0]) != 1 || qz_is_graph_output(g, bn->input[0]) || !private_param(g, conv->input[1]))
            continue;
        if (conv->n_input > 2 && conv->input[2][0] && !private_param(g, conv->input[2]))
            continue;
        int params_ok = 1;
        for (int k = 1; k < 5; k++)
            params_ok &= qz_find_initializer(g, bn->input[k], NULL) != NULL;
        if (!params_ok)
            continue;
        UNET_TRY(fold_one(g, conv, i));
        (*folded)++;
        i--; /* the next node moved into slot i */
    }
    return UNET_OK;
}
