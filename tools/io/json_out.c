/* JSON string output: quotes, backslashes and control characters escaped. */
#include "json_out.h"

#include <math.h>

void json_write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void json_write_number(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.*g", JSON_DIGITS, v);
    else
        fputs("null", f);
}
