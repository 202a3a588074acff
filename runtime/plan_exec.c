/* Executing a plan: bind the caller's input buffers, run the steps in order,
 * one stream wait at the end (and before each plain C kernel, which reads
 * what the primitives wrote). */
#include <string.h>
#include <time.h>

#include "error.h"
#include "plan.h"

static void *tensor_data(const plan_t *p, int id, const unet_tensor *inputs)
{
    const ptensor *t = &p->t[id];
    if (t->is_const)
        return t->const_data;
    int root = t->alias_of >= 0 ? t->alias_of : id;
    if (p->t[root].is_input) {
        for (int i = 0; i < p->model->n_inputs; i++)
            if (p->model->inputs[i] == root)
                return inputs[i].data;
    }
    return (char *)p->arena + t->offset;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

unet_status plan_execute(plan_t *p, dnnl_stream_t stream, const unet_tensor *inputs, double *step_ms)
{
    /* Graph inputs (and views of them) read the caller's buffers directly. */
    for (int id = 0; id < p->n_tensors; id++) {
        ptensor *t = &p->t[id];
        int root = t->alias_of >= 0 ? t->alias_of : id;
        if (t->mem && !t->is_const && p->t[root].is_input)
            dnnl_memory_set_data_handle(t->mem, tensor_data(p, id, inputs));
    }
    int pending = 0;
    for (int s = 0; s < p->n_steps; s++) {
        step_t *st = &p->steps[s];
        double t0 = step_ms ? now_ms() : 0.0;
        if (st->kind == STEP_PRIMITIVE) {
            dnnl_status_t e = dnnl_primitive_execute(st->prim, stream, st->n_args, st->exec_args);
            if (e != dnnl_success)
                return dnnl_error(e, st->node, "execution");
            pending = 1;
        } else {
            if (pending) {
                dnnl_stream_wait(stream);
                pending = 0;
            }
            tview vi[STEP_MAX_IO], vo[STEP_MAX_IO];
            for (int i = 0; i < st->n_in; i++) {
                vi[i] = plan_view(p, st->in[i]);
                if (st->in[i] >= 0)
                    vi[i].data = tensor_data(p, st->in[i], inputs);
            }
            for (int o = 0; o < st->n_out; o++) {
                vo[o] = plan_view(p, st->out[o]);
                if (st->out[o] >= 0)
                    vo[o].data = tensor_data(p, st->out[o], inputs);
            }
            unet_status r = st->run(st->node, vi, st->n_in, vo, st->n_out);
            if (r != UNET_OK)
                return unet_wrap_error(r, "node '%s' (%s)", st->node->name, st->node->op_type);
        }
        if (step_ms) {
            if (pending) {
                dnnl_stream_wait(stream);
                pending = 0;
            }
            step_ms[s] = now_ms() - t0;
        }
    }
    if (pending)
        dnnl_stream_wait(stream);
    return UNET_OK;
}

unet_status plan_output(const plan_t *p, int index, const unet_tensor *inputs, unet_tensor *out)
{
    int id = p->output_ids[index];
    const ptensor *t = &p->t[id];
    out->dtype = t->dtype;
    out->rank = t->rank;
    memcpy(out->dims, t->dims, sizeof out->dims);
    out->data = tensor_data(p, id, inputs);
    return UNET_OK;
}
