/* Test-only construction of a unet_params filled with seeded random values,
 * enumerating the parameter names of trainer/net.h itself, so tests of the
 * export and of the runtime do not depend on the trainer's own params.c. */
#ifndef UNET_TESTS_RANDOM_PARAMS_H
#define UNET_TESTS_RANDOM_PARAMS_H

#include <stdint.h>

#include "net.h"

/* Weights uniform with a He-like scale (activations neither vanish nor blow
 * up over a few levels), small random biases, BN scale/shift/mean/var random
 * around 1/0/0/1. Returns NULL when out of memory. */
unet_params *random_params_create(const unet_arch *arch, uint64_t seed);
void random_params_free(unet_params *params);
/* The parameter called name, or NULL. */
net_param *random_params_find(unet_params *params, const char *name);
/* Deterministic uniform values in [lo, hi) for inputs. */
void random_fill(float *data, size_t count, float lo, float hi, uint64_t *state);

#endif
