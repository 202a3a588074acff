/* Optimisers over a unet_params' trainable arrays: Adam with bias correction
 * and decoupled weight decay (AdamW), and SGD with momentum and L2 weight decay.
 *
 * Weight decay applies to convolution and transposed-convolution weights only;
 * biases and batch-normalisation scale/shift are not decayed.
 *
 * Adam (t = step count after this step, PyTorch's AdamW):
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p = p - lr wd p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * SGD (PyTorch's SGD, dampening 0, no Nesterov):
 *   g' = g + wd p;  buf = momentum buf + g';  p = p - lr buf
 *
 * The moment buffers hold the trainable parameters back to back, in the order
 * of params->p, so a checkpoint can store them as one array. */
#ifndef UNET_TRAINER_OPTIMIZER_H
#define UNET_TRAINER_OPTIMIZER_H

#include <stddef.h>
#include <stdint.h>

#include "net.h"

typedef enum optim_kind { OPTIM_ADAM = 0, OPTIM_SGD = 1 } optim_kind;

typedef struct optim_config {
    int kind;            /* optim_kind */
    double beta1, beta2; /* Adam; defaults 0.9, 0.999 */
    double eps;          /* Adam; default 1e-8 */
    double momentum;     /* SGD; default 0.9 */
    double weight_decay; /* default 0 */
} optim_config;

typedef struct optimizer {
    optim_config cfg;
    uint64_t step; /* steps taken so far */
    size_t n;      /* trainable floats */
    float *m;      /* Adam first moment, SGD momentum buffer */
    float *v;      /* Adam second moment; NULL for SGD */
} optimizer;

/* Defaults for kind (see above). */
void optim_config_default(optim_config *cfg, int kind);
/* Number of moment arrays the kind keeps (2 for Adam, 1 for SGD). */
int optim_moment_arrays(int kind);

/* Zeroed state sized for params' trainable floats. */
unet_status optimizer_create(const optim_config *cfg, const unet_params *params, optimizer **out);
void optimizer_free(optimizer *opt);

/* One update of every trainable parameter from its grad with learning rate lr. */
unet_status optimizer_step(optimizer *opt, unet_params *params, double lr);

#endif
