/* JSON string output: quotes, backslashes and control characters escaped. */
#include "json_out.h"

#include <math.h>

const char *json_escape_byte(unsigned char c, char buf[8])
{
    if (c == '"' || c == '\\') {
        buf[0] = '\\';
        buf[1] = (char)c;
        buf[2] = '\0';
        return buf;
    }
    if (c == '\n')
        return "\\n";
    if (c == '\t')
        return "\\t";
    if (c < 0x20) {
        snprintf(buf, 8, "\\u%04x", c);
        return buf;
    }
    return NULL;
}

void json_write_string(FILE *f, const char *s)
{
    char buf[8];
    fputc('"', f);
    for (; s && *s; s++) {
        const char *e = json_escape_byte((unsigned char)*s, buf);
        if (e)
            fputs(e, f);
        else
            fputc(*s, f);
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
