/* A growing string and the number formats of logs, tables and JSON. */
#include "text_format.h"

#include "json_out.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->nomem)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        const size_t room = b->cap - b->len;
        const int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->nomem = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        const size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->nomem = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

void sb_json_string(sbuf *b, const char *s)
{
    char buf[8];
    sb_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *e = json_escape_byte(*p, buf);
        sb_printf(b, "%s", e ? e : (const char[]){ (char)*p, '\0' });
    }
    sb_printf(b, "\"");
}

void sb_json_number(sbuf *b, double v, int digits)
{
    if (isfinite(v))
        sb_printf(b, "%.*g", digits, v);
    else
        sb_printf(b, "null");
}

void sb_csv_number(sbuf *b, double v)
{
    if (isfinite(v))
        sb_printf(b, ",%.6g", v);
    else
        sb_printf(b, ",");
}

char *str_concat(const char *a, const char *b)
{
    const size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

void format_duration(double s, int tenths, char *buf, size_t size)
{
    if (!(s >= 0) || s > 1e8)
        snprintf(buf, size, "?");
    else if (s < 60)
        snprintf(buf, size, tenths ? "%.1fs" : "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, size, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, size, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

void csv_column_name(const char *s, char *out, size_t size)
{
    if (size == 0)
        return;
    size_t k = 0;
    for (; *s && k + 1 < size; s++)
        out[k++] = (char)((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                                  (*s >= '0' && *s <= '9')
                              ? *s
                              : '_');
    out[k] = '\0';
}
