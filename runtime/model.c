/* Public queries on a loaded model. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "graph.h"
#include "ops.h"

void unet_model_free(unet_model *model)
{
    if (!model)
        return;
    graph_free_model_contents(model);
    free(model);
}

int unet_model_input_count(const unet_model *m) { return m ? m->n_inputs : 0; }
int unet_model_output_count(const unet_model *m) { return m ? m->n_outputs : 0; }

static void fill_info(const value_t *v, unet_tensor_info *info)
{
    memset(info, 0, sizeof *info);
    info->name = v->name;
    info->dtype = v->dtype;
    info->rank = v->rank;
    for (int d = 0; d < v->rank && d < UNET_MAX_RANK; d++) {
        info->dims[d] = v->dims[d];
        info->dim_params[d] = v->dim_params[d];
    }
}

unet_status unet_model_input_info(const unet_model *m, int index, unet_tensor_info *info)
{
    if (!m || !info || index < 0 || index >= m->n_inputs)
        return unet_set_error(UNET_ERR_ARG, "input index %d out of range", index);
    fill_info(&m->values[m->inputs[index]], info);
    return UNET_OK;
}

unet_status unet_model_output_info(const unet_model *m, int index, unet_tensor_info *info)
{
    if (!m || !info || index < 0 || index >= m->n_outputs)
        return unet_set_error(UNET_ERR_ARG, "output index %d out of range", index);
    fill_info(&m->values[m->outputs[index]], info);
    return UNET_OK;
}

const char *unet_model_metadata(const unet_model *m, const char *key)
{
    if (!m || !key)
        return NULL;
    for (int i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta[i].key, key) == 0)
            return m->meta[i].value;
    return NULL;
}

int unet_model_opset(const unet_model *m, const char *domain)
{
    return m ? graph_opset(m, domain ? domain : "") : 0;
}

int unet_model_node_count(const unet_model *m) { return m ? m->n_nodes : 0; }

const char *unet_model_node_op(const unet_model *m, int i)
{
    return m && i >= 0 && i < m->n_nodes ? m->nodes[i].op_type : NULL;
}

const char *unet_model_node_name(const unet_model *m, int i)
{
    return m && i >= 0 && i < m->n_nodes ? m->nodes[i].name : NULL;
}

int64_t unet_model_parameter_count(const unet_model *m)
{
    /* Counted at import: the passes (BatchNormalization folding) add folded
     * copies of weights, which an earlier count here included (a report showed
     * 3,713,846 for the shipped model's 1,947,078). */
    return m ? m->file_parameters : 0;
}
