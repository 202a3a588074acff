/* Writing JSON strings with escapes. */
#ifndef UNET_TOOLS_JSON_OUT_H
#define UNET_TOOLS_JSON_OUT_H

#include <stdio.h>

void json_write_string(FILE *f, const char *s);

#endif
