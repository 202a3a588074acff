/* Base64 (RFC 4648, standard alphabet, '=' padding, no line breaks): the
 * encoding of data: URIs, so HTML reports carry their images inline. */
#ifndef UNET_TOOLS_BASE64_H
#define UNET_TOOLS_BASE64_H

#include <stddef.h>
#include <stdio.h>

/* Characters of the encoding of n bytes (4 per 3 bytes, rounded up). */
size_t base64_length(size_t n);
/* Writes base64_length(n) characters and a NUL to out. */
void base64_encode(const void *data, size_t n, char *out);
/* The encoding of n bytes to f; 0, or -1 when f failed. */
int base64_write(FILE *f, const void *data, size_t n);

#endif
