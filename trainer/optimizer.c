/* Adam (AdamW) and SGD with momentum; formulas in optimizer.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "optimizer.h"

void optim_config_default(optim_config *cfg, int kind)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    cfg->beta1 = 0.9;
    cfg->beta2 = 0.999;
    cfg->eps = 1e-8;
    cfg->momentum = 0.9;
    cfg->weight_decay = 0.0;
}

int optim_moment_arrays(int kind) { return kind == OPTIM_ADAM ? 2 : 1; }

static unet_status check_config(const optim_config *c)
{
    if (c->kind != OPTIM_ADAM && c->kind != OPTIM_SGD)
        return unet_set_error(UNET_ERR_ARG, "optimiser kind %d is neither Adam nor SGD", c->kind);
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
        return unet_set_error(UNET_ERR_ARG, "Adam betas %g, %g must lie in [0, 1)", c->beta1,
                              c->beta2);
    if (!(c->eps > 0))
        return unet_set_error(UNET_ERR_ARG, "Adam epsilon %g must be positive", c->eps);
    if (!(c->momentum >= 0 && c->momentum < 1))
        return unet_set_error(UNET_ERR_ARG, "SGD momentum %g must lie in [0, 1)", c->momentum);
    if (!(c->weight_decay >= 0 && c->weight_decay < 1))
        return unet_set_error(UNET_ERR_ARG, "weight decay %g must lie in [0, 1)",
                              c->weight_decay);
    return UNET_OK;
}

unet_status optimizer_create(const optim_config *cfg, const unet_params *params, optimizer **out)
{
    *out = NULL;
    UNET_TRY(check_config(cfg));
    const size_t n = params_trainable_count(params);
    optimizer *o = calloc(1, sizeof *o);
    if (!o)
        return unet_set_error(UNET_ERR_NOMEM, "optimiser: out of memory");
    o->cfg = *cfg;
    o->n = n;
    o->m = calloc(n ? n : 1, sizeof *o->m);
    if (cfg->kind == OPTIM_ADAM)
        o->v = calloc(n ? n : 1, sizeof *o->v);
    if (!o->m || (cfg->kind == OPTIM_ADAM && !o->v)) {
        optimizer_free(o);
        return unet_set_error(UNET_ERR_NOMEM, "optimiser state for %zu parameters: out of memory",
                              n);
    }
    *out = o;
    return UNET_OK;
}

void optimizer_free(optimizer *opt)
{
    if (!opt)
        return;
    free(opt->m);
    free(opt->v);
    free(opt);
}

static int decays(const net_param *p)
{
    return p->kind == NET_PARAM_CONV_WEIGHT || p->kind == NET_PARAM_DECONV_WEIGHT;
}

static void adam_update(const optim_config *c, float *restrict w, const float *restrict g,
                        float *restrict m, float *restrict v, size_t n, float lr, float decay,
                        float bc1, float bc2_sqrt)
{
    const float b1 = (float)c->beta1, b2 = (float)c->beta2, eps = (float)c->eps;
    const float step = lr / bc1;
    for (size_t i = 0; i < n; i++) {
        const float gi = g[i];
        const float mi = b1 * m[i] + (1.0f - b1) * gi;
        const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        const float wi = w[i] * (1.0f - lr * decay);
        w[i] = wi - step * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
}

static void sgd_update(float momentum, float *restrict w, const float *restrict g,
                       float *restrict buf, size_t n, float lr, float decay)
{
    for (size_t i = 0; i < n; i++) {
        const float gi = g[i] + decay * w[i];
        const float bi = momentum * buf[i] + gi;
        buf[i] = bi;
        w[i] -= lr * bi;
    }
}

unet_status optimizer_step(optimizer *opt, unet_params *params, double lr)
{
    if (!(lr >= 0) || !isfinite(lr))
        return unet_set_error(UNET_ERR_ARG, "optimiser step: learning rate %g", lr);
    if (params_trainable_count(params) != opt->n)
        return unet_set_error(UNET_ERR_SHAPE,
                              "optimiser state holds %zu values, the parameters have %zu", opt->n,
                              params_trainable_count(params));
    const optim_config *c = &opt->cfg;
    const uint64_t t = opt->step + 1;
    /* Bias corrections in double: b^t for large t underflows gracefully. */
    const float bc1 = (float)(1.0 - pow(c->beta1, (double)t));
    const float bc2_sqrt = (float)sqrt(1.0 - pow(c->beta2, (double)t));
    size_t off = 0;
    for (int i = 0; i < params->n; i++) {
        net_param *p = &params->p[i];
        if (!p->trainable)
            continue;
        if (!p->grad)
            return unet_set_error(UNET_ERR_ARG, "optimiser step: %s has no gradient", p->name);
        const float decay = decays(p) ? (float)c->weight_decay : 0.0f;
        if (c->kind == OPTIM_ADAM)
            adam_update(c, p->data, p->grad, opt->m + off, opt->v + off, p->count, (float)lr,
                        decay, bc1, bc2_sqrt);
        else
            sgd_update((float)c->momentum, p->data, p->grad, opt->m + off, p->count, (float)lr,
                       decay);
        off += p->count;
    }
    opt->step = t;
    return UNET_OK;
}
