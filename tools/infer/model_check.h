/* `unet-infer --check MODEL`: what a person asks first when a model does not load. */
#ifndef UNET_TOOLS_MODEL_CHECK_H
#define UNET_TOOLS_MODEL_CHECK_H

#include <stdio.h>

/* Prints the report; returns 0 when libunet can run the model, 1 otherwise. */
int model_check_print(const char *path, FILE *f);

#endif
