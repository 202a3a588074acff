/* Writing JSON strings with escapes, and numbers. */
#ifndef UNET_TOOLS_JSON_OUT_H
#define UNET_TOOLS_JSON_OUT_H

#include <stdio.h>

/* The one JSON escaping of the project (unet-train's text too): the escape
 * of byte c (\" \\ \n \t, \u00XX for other control characters) in buf,
 * or NULL when c stands for itself. */
const char *json_escape_byte(unsigned char c, char buf[8]);

void json_write_string(FILE *f, const char *s);

/* Significant digits of the numbers in unet-eval's JSON; its HTML report
 * prints its data-value attributes with the same, so both say the same. */
#define JSON_DIGITS 15
/* v with JSON_DIGITS significant digits, or null when not finite. */
void json_write_number(FILE *f, double v);

#endif
