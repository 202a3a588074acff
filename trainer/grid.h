/* Hyperparameter grids for the search (unet-train --grid):
 *
 *   "lr=1e-3,3e-4 filters=8,16,32 depth=3,4,5"
 *
 * Whitespace separates keys; commas separate a key's choices. Keys: lr,
 * filters, depth, batchnorm (0/1), dropout, weight_decay and class_weights
 * (none, auto, or explicit weights W0:W1:... with ':' between them, since ','
 * separates choices) and loss (ce, dice, lovasz, ce+dice, ce+lovasz). Keys not named keep the value of the base configuration
 * (the ordinary flags). Configurations are every combination, the first key
 * varying slowest, in the order written. */
#ifndef UNET_TRAINER_GRID_H
#define UNET_TRAINER_GRID_H

#include <stddef.h>

#include <unet/unet.h>

#include "loss.h"
#include "net.h"

#define GRID_MAX_CONFIGS 10000
#define GRID_CLASS_WEIGHTS_MAX 160

typedef enum grid_key {
    GRID_LR = 1 << 0,
    GRID_FILTERS = 1 << 1,
    GRID_DEPTH = 1 << 2,
    GRID_BATCHNORM = 1 << 3,
    GRID_DROPOUT = 1 << 4,
    GRID_WEIGHT_DECAY = 1 << 5,
    GRID_CLASS_WEIGHTS = 1 << 6,
    GRID_LOSS = 1 << 7
} grid_key;

typedef struct grid_config {
    double lr;
    int filters, depth, batchnorm;
    double dropout, weight_decay;
    /* "none", "auto" or the weights separated by commas */
    char class_weights[GRID_CLASS_WEIGHTS_MAX];
    loss_spec loss; /* the grid varies the kind; the weight is --loss-weight's */
} grid_config;

typedef struct grid {
    int n;
    grid_config *configs;
    unsigned varied; /* grid_key bits of the keys the spec names */
} grid;

/* Parses spec (NULL or blank: the base configuration alone). Values are
 * checked (lr in (0, 10], filters 1..512, depth 1..6, batchnorm 0/1, dropout
 * [0, 0.9], weight_decay [0, 0.5], class weights non-negative numbers) and
 * errors name the key and value. */
unet_status grid_parse(const char *spec, const grid_config *base, grid *out);
void grid_free(grid *g);

/* "lr=0.001 filters=8 depth=3": the keys in `varied`; when 0, lr, filters,
 * depth and the other keys whose values are not the defaults (0, "none"). */
void grid_config_label(const grid_config *c, unsigned varied, char *buf, size_t size);
/* A file-name-safe name holding every key: "lr0.001-f8-d3-bn0-do0-wd0-cwnone",
 * then "-lossce_lovasz" (say) when the loss is not cross-entropy, so the
 * names of cross-entropy runs stay what they were. */
void grid_config_slug(const grid_config *c, char *buf, size_t size);

/* Trainable parameters of arch, counted from the architecture alone (no
 * allocation): convolution weights and biases, transposed convolutions,
 * batch-norm scale and shift. */
size_t grid_arch_param_count(const unet_arch *arch);

/* Parses "none", "auto", "sqrt" or weights separated by ',' or ':' for
 * n_classes classes: *weights NULL for none, auto and sqrt; *auto_weights
 * the power of the inverse frequency the caller computes them with
 * (class_weights_auto: 1 for auto, 0.5 for sqrt; 0 otherwise); else
 * n_classes malloc'd floats. */
unet_status grid_class_weights_parse(const char *text, int n_classes, float **weights,
                                     double *auto_weights);

#endif
