/* The U-Net assembled from the layer families on one layer plan.
 *
 * Forward: input (plain NCHW) -> encoder blocks with pooling -> [dropout] ->
 * bottleneck -> decoder (transposed conv, concat [up, skip], block) -> 1x1
 * head -> logits reordered to plain NCHW -> softmax on the host.
 * Backward runs the layers in reverse; each skip tensor's gradient is the sum
 * of what its pooling and its concat send back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "net_dist.h"
#include "net_ext.h"

#define NET_MAX_DEPTH 6

/* conv3x3 -> [BN] -> ReLU, twice. */
typedef struct net_block {
    conv_layer *conv[2];
    bn_layer *bn[2];
    relu_layer *relu[2];
} net_block;

struct unet_net {
    unet_params *params;
    int batch, height, width;
    layer_plan *plan;
    net_block enc[NET_MAX_DEPTH], mid, dec[NET_MAX_DEPTH];
    pool_layer *pool[NET_MAX_DEPTH];
    conv_layer *up[NET_MAX_DEPTH];
    concat_layer *cat[NET_MAX_DEPTH];
    dropout_layer *dropout;
    conv_layer *head;
    lp_tensor *input, *logits, *diff_logits;
    float *probs;
    uint64_t dropout_seed, dropout_counter;
    int forward_done;  /* 1 after a forward, 2 when it was a training forward */
    int loss_done;     /* net_loss ran after the last training forward */
    const train_dist *dist; /* data-parallel hooks, NULL for one process */
};

/* A "gradients ready" event: up to 2 parameters whose grads a backward layer
 * has just written (data-parallel runs only). */
typedef struct grads_event {
    const train_dist *dist;
    int idx[2], n;
} grads_event;

static void grads_event_run(void *ctx)
{
    const grads_event *e = ctx;
    e->dist->grads_ready(e->dist->ctx, e->idx, e->n);
}

/* Appends a grads-ready host step for params a and b (b may be NULL) to the
 * backward list; nothing without hooks, so one process runs the same plan. */
static unet_status add_grads_ready(unet_net *net, const char *a, const char *b)
{
    if (!net->dist || !net->dist->grads_ready)
        return UNET_OK;
    grads_event *e = lp_alloc(net->plan, sizeof *e);
    if (!e)
        return unet_set_error(UNET_ERR_NOMEM, "U-Net: out of memory");
    e->dist = net->dist;
    const char *names[2] = {a, b};
    for (int i = 0; i < 2 && names[i]; i++) {
        const net_param *q = params_find(net->params, names[i]);
        if (!q)
            return unet_set_error(UNET_ERR_ARG, "U-Net parameters: %s missing", names[i]);
        e->idx[e->n++] = (int)(q - net->params->p);
    }
    char what[96];
    snprintf(what, sizeof what, "%s gradients ready", a);
    return lp_add_host(net->plan, LP_BWD, LP_ALWAYS, grads_event_run, e, what);
}

/* Grads-ready step for the weight and bias of layer prefix. */
static unet_status conv_grads_ready(unet_net *net, const char *prefix)
{
    char w[80], b[80];
    snprintf(w, sizeof w, "%s.weight", prefix);
    snprintf(b, sizeof b, "%s.bias", prefix);
    return add_grads_ready(net, w, b);
}

static unet_status find(unet_net *net, const char *name, net_param **out)
{
    *out = params_find(net->params, name);
    if (!*out)
        return unet_set_error(UNET_ERR_ARG, "U-Net parameters: %s missing", name);
    return UNET_OK;
}

/* Checks a parameter's element count against what the layer will read. */
static unet_status find_sized(unet_net *net, const char *name, size_t count, net_param **out)
{
    UNET_TRY(find(net, name, out));
    if ((*out)->count != count)
        return unet_set_error(UNET_ERR_SHAPE, "U-Net parameters: %s has %zu values, expected %zu",
                              name, (*out)->count, count);
    return UNET_OK;
}

static unet_status conv_from_params(unet_net *net, const char *prefix, lp_tensor *x, int out_ch,
                                    int kernel, int stride, int pad, int transposed,
                                    conv_layer **layer, lp_tensor **y)
{
    char nm[64];
    net_param *w, *b;
    const size_t in_ch = (size_t)x->md.dims[1];
    snprintf(nm, sizeof nm, "%s.weight", prefix);
    UNET_TRY(find_sized(net, nm, in_ch * (size_t)out_ch * (size_t)kernel * (size_t)kernel, &w));
    snprintf(nm, sizeof nm, "%s.bias", prefix);
    UNET_TRY(find_sized(net, nm, (size_t)out_ch, &b));
    const conv_spec spec = {.name = prefix, .transposed = transposed, .out_channels = out_ch,
                            .kernel = kernel, .stride = stride, .pad = pad,
                            .weight = w->data, .bias = b->data,
                            .dweight = w->grad, .dbias = b->grad};
    return conv_layer_create(net->plan, &spec, x, layer, y);
}

static unet_status block_forward(unet_net *net, const char *level, lp_tensor *x, int out_ch,
                                 net_block *blk, lp_tensor **y)
{
    char nm[64];
    for (int k = 0; k < 2; k++) {
        snprintf(nm, sizeof nm, "%s.conv%d", level, k + 1);
        UNET_TRY(conv_from_params(net, nm, x, out_ch, 3, 1, 1, 0, &blk->conv[k], &x));
        if (net->params->arch.batchnorm) {
            net_param *ps[4];
            static const char *const what[4] = {"scale", "shift", "mean", "var"};
            for (int i = 0; i < 4; i++) {
                snprintf(nm, sizeof nm, "%s.bn%d.%s", level, k + 1, what[i]);
                UNET_TRY(find_sized(net, nm, (size_t)out_ch, &ps[i]));
            }
            snprintf(nm, sizeof nm, "%s.bn%d", level, k + 1);
            const bn_spec spec = {.name = nm, .epsilon = NET_BN_EPSILON,
                                  .momentum = NET_BN_MOMENTUM, .scale = ps[0]->data,
                                  .shift = ps[1]->data, .running_mean = ps[2]->data,
                                  .running_var = ps[3]->data, .dscale = ps[0]->grad,
                                  .dshift = ps[1]->grad, .sync = net->dist};
            UNET_TRY(bn_layer_create(net->plan, &spec, x, &blk->bn[k], &x));
        }
        snprintf(nm, sizeof nm, "%s.relu%d", level, k + 1);
        UNET_TRY(relu_layer_create(net->plan, nm, x, &blk->relu[k]));
    }
    *y = x;
    return UNET_OK;
}

/* dx NULL: the block's input needs no gradient (the network input). */
static unet_status block_backward(unet_net *net, const char *level, net_block *blk, lp_tensor *d,
                                  lp_tensor **dx)
{
    char nm[64], a[80], b[80];
    for (int k = 1; k >= 0; k--) {
        UNET_TRY(relu_layer_backward(net->plan, blk->relu[k], d, &d));
        if (blk->bn[k]) {
            UNET_TRY(bn_layer_backward(net->plan, blk->bn[k], d, &d));
            snprintf(a, sizeof a, "%s.bn%d.scale", level, k + 1);
            snprintf(b, sizeof b, "%s.bn%d.shift", level, k + 1);
            UNET_TRY(add_grads_ready(net, a, b));
        }
        UNET_TRY(conv_layer_backward(net->plan, blk->conv[k], d, (k == 0 && !dx) ? NULL : &d));
        snprintf(nm, sizeof nm, "%s.conv%d", level, k + 1);
        UNET_TRY(conv_grads_ready(net, nm));
    }
    if (dx)
        *dx = d;
    return UNET_OK;
}

static unet_status build(unet_net *net)
{
    const unet_arch *a = &net->params->arch;
    layer_plan *p = net->plan;
    char nm[64];
    const dnnl_dims_t in_dims = {net->batch, a->in_channels, net->height, net->width};
    const dnnl_dims_t out_dims = {net->batch, a->n_classes, net->height, net->width};
    dnnl_memory_desc_t md;
    lp_plain_md(&md, 4, in_dims);
    UNET_TRY(lp_tensor_new(p, &md, "input", &net->input));
    lp_pin(net->input); /* net_forward copies into it */

    lp_tensor *x = net->input, *skip[NET_MAX_DEPTH];
    for (int l = 0; l < a->depth; l++) {
        snprintf(nm, sizeof nm, "enc%d", l);
        UNET_TRY(block_forward(net, nm, x, a->base_filters << l, &net->enc[l], &skip[l]));
        snprintf(nm, sizeof nm, "enc%d.pool", l);
        UNET_TRY(pool_layer_create(p, nm, skip[l], &net->pool[l], &x));
    }
    if (a->dropout > 0.0f)
        UNET_TRY(dropout_layer_create(p, "mid.dropout", x, a->dropout, &net->dropout_seed,
                                      &net->dropout_counter, &net->dropout));
    UNET_TRY(block_forward(net, "mid", x, a->base_filters << a->depth, &net->mid, &x));
    for (int l = a->depth - 1; l >= 0; l--) {
        lp_tensor *u;
        snprintf(nm, sizeof nm, "dec%d.up", l);
        UNET_TRY(conv_from_params(net, nm, x, a->base_filters << l, 2, 2, 0, 1, &net->up[l], &u));
        snprintf(nm, sizeof nm, "dec%d.concat", l);
        UNET_TRY(concat_layer_create(p, nm, u, skip[l], &net->cat[l], &x));
        snprintf(nm, sizeof nm, "dec%d", l);
        UNET_TRY(block_forward(net, nm, x, a->base_filters << l, &net->dec[l], &x));
    }
    lp_tensor *head_out;
    UNET_TRY(conv_from_params(net, "head", x, a->n_classes, 1, 1, 0, 0, &net->head, &head_out));
    lp_plain_md(&md, 4, out_dims);
    UNET_TRY(lp_tensor_new(p, &md, "logits", &net->logits));
    lp_pin(net->logits); /* softmax and net_loss read it */
    UNET_TRY(lp_add_reorder(p, LP_FWD, LP_ALWAYS, head_out, net->logits, "logits"));

    /* Backward, in reverse. */
    UNET_TRY(lp_tensor_new(p, &md, "logits.grad", &net->diff_logits));
    lp_pin(net->diff_logits); /* net_loss writes it */
    lp_tensor *d, *dskip[NET_MAX_DEPTH];
    UNET_TRY(conv_layer_backward(p, net->head, net->diff_logits, &d));
    UNET_TRY(conv_grads_ready(net, "head"));
    for (int l = 0; l < a->depth; l++) {
        lp_tensor *du;
        snprintf(nm, sizeof nm, "dec%d", l);
        UNET_TRY(block_backward(net, nm, &net->dec[l], d, &d));
        UNET_TRY(concat_layer_backward(p, net->cat[l], d, &du, &dskip[l]));
        UNET_TRY(conv_layer_backward(p, net->up[l], du, &d));
        snprintf(nm, sizeof nm, "dec%d.up", l);
        UNET_TRY(conv_grads_ready(net, nm));
    }
    UNET_TRY(block_backward(net, "mid", &net->mid, d, &d));
    if (net->dropout)
        UNET_TRY(dropout_layer_backward(p, net->dropout, d, &d));
    for (int l = a->depth - 1; l >= 0; l--) {
        UNET_TRY(pool_layer_backward(p, net->pool[l], d, &d));
        snprintf(nm, sizeof nm, "enc%d skip gradient sum", l);
        UNET_TRY(lp_add_accumulate(p, LP_BWD, d, dskip[l], nm));
        char level[32];
        snprintf(level, sizeof level, "enc%d", l);
        UNET_TRY(block_backward(net, level, &net->enc[l], d, l > 0 ? &d : NULL));
    }
    return lp_finalize(p);
}

unet_status net_create(unet_params *params, int batch, int height, int width, unet_net **out)
{
    return net_create_dist(params, batch, height, width, NULL, 0, out);
}

unet_status net_create_dist(unet_params *params, int batch, int height, int width,
                            const train_dist *dist, uint64_t first_sample, unet_net **out)
{
    *out = NULL;
    if (!params)
        return unet_set_error(UNET_ERR_ARG, "net_create: no parameters");
    const unet_arch *a = &params->arch;
    if (a->depth < 1 || a->depth > NET_MAX_DEPTH)
        return unet_set_error(UNET_ERR_ARG, "net_create: depth %d outside 1..%d", a->depth,
                              NET_MAX_DEPTH);
    const int step = 1 << a->depth;
    if (batch < 1 || batch > 65536 || height < step || width < step || height > 65536 ||
        width > 65536 || height % step || width % step)
        return unet_set_error(UNET_ERR_SHAPE,
                              "net_create: input %dx%dx%d: batch must be 1..65536 and height and "
                              "width multiples of 2^depth = %d (at most 65536)",
                              batch, height, width, step);
    unet_net *net = calloc(1, sizeof *net);
    if (!net)
        return unet_set_error(UNET_ERR_NOMEM, "net_create: out of memory");
    net->params = params;
    net->dist = dist;
    net->batch = batch;
    net->height = height;
    net->width = width;
    const size_t n_out = (size_t)batch * (size_t)a->n_classes * (size_t)height * (size_t)width;
    net->probs = malloc(n_out * sizeof *net->probs);
    unet_status s = net->probs ? lp_create(&net->plan)
                               : unet_set_error(UNET_ERR_NOMEM, "net_create: out of memory");
    if (s == UNET_OK)
        s = build(net);
    if (s == UNET_OK && net->dropout && first_sample)
        s = dropout_layer_set_first_sample(net->dropout, first_sample, (uint64_t)batch);
    if (s != UNET_OK) {
        net_free(net);
        return unet_wrap_error(s, "building the U-Net for %dx%dx%dx%d", batch, a->in_channels,
                               height, width);
    }
    *out = net;
    return UNET_OK;
}

void net_free(unet_net *net)
{
    if (!net)
        return;
    lp_free(net->plan);
    free(net->probs);
    free(net);
}

int net_batch(const unet_net *net) { return net->batch; }
int net_height(const unet_net *net) { return net->height; }
int net_width(const unet_net *net) { return net->width; }
const layer_plan *net_plan(const unet_net *net) { return net->plan; }

void net_set_dropout_state(unet_net *net, uint64_t seed, uint64_t counter)
{
    net->dropout_seed = seed;
    net->dropout_counter = counter;
}

uint64_t net_dropout_counter(const unet_net *net) { return net->dropout_counter; }

unet_status net_forward(unet_net *net, const float *input, int training)
{
    if (!input)
        return unet_set_error(UNET_ERR_ARG, "net_forward: no input");
    const unet_arch *a = &net->params->arch;
    const size_t hw = (size_t)net->height * (size_t)net->width;
    memcpy(lp_data(net->input), input, (size_t)net->batch * (size_t)a->in_channels * hw * sizeof(float));
    net->forward_done = 0;
    net->loss_done = 0;
    unet_status s = lp_run(net->plan, LP_FWD, training ? LP_TRAIN : LP_INFER);
    if (s != UNET_OK)
        return unet_wrap_error(s, "U-Net forward");
    if (training)
        net->dropout_counter++;
    softmax_channels(lp_data(net->logits), net->probs, net->batch, a->n_classes, hw);
    net->forward_done = training ? 2 : 1;
    return UNET_OK;
}

const float *net_probs(const unet_net *net) { return net->forward_done ? net->probs : NULL; }

unet_status net_loss(unet_net *net, const uint8_t *labels, const float *class_weights,
                     int ignore_label, double *loss)
{
    return net_loss_spec(net, NULL, labels, class_weights, ignore_label, loss);
}

unet_status net_loss_spec(unet_net *net, const loss_spec *spec, const uint8_t *labels,
                          const float *class_weights, int ignore_label, double *loss)
{
    if (!net->forward_done)
        return unet_set_error(UNET_ERR_ARG, "net_loss: no forward pass yet");
    if (!labels || !loss)
        return unet_set_error(UNET_ERR_ARG, "net_loss: no labels or no loss output");
    const size_t hw = (size_t)net->height * (size_t)net->width;
    UNET_TRY(loss_compute(spec, lp_data(net->logits), net->probs, labels, class_weights,
                          ignore_label, net->batch, net->params->arch.n_classes, hw, loss,
                          lp_data(net->diff_logits)));
    net->loss_done = net->forward_done == 2;
    return UNET_OK;
}

unet_status net_backward(unet_net *net)
{
    if (net->forward_done != 2 || !net->loss_done)
        return unet_set_error(UNET_ERR_ARG,
                              "net_backward needs a training forward followed by net_loss");
    unet_status s = lp_run(net->plan, LP_BWD, LP_ALWAYS);
    if (s != UNET_OK)
        return unet_wrap_error(s, "U-Net backward");
    return UNET_OK;
}

void net_scale_loss_grad(unet_net *net, float factor)
{
    float *d = lp_data(net->diff_logits);
    const size_t n = (size_t)net->batch * (size_t)net->params->arch.n_classes *
                     (size_t)net->height * (size_t)net->width;
    for (size_t i = 0; i < n; i++)
        d[i] *= factor;
}
