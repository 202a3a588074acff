/* UTF-8 and JSON syntax checks (see json_check.h). */
#include <stdint.h>
#include <string.h>

#include "json_check.h"

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Protobuf strings and JSON must be UTF-8: reject overlong forms, surrogates
 * and code points beyond U+10FFFF. */
int json_check_utf8(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s;
        int extra;
        uint32_t cp, min;
        if (c < 0x80) {
            s++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1; cp = c & 0x1F; min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2; cp = c & 0x0F; min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3; cp = c & 0x07; min = 0x10000;
        } else {
            return 0;
        }
        for (int i = 1; i <= extra; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        s += extra + 1;
    }
    return 1;
}

/* A JSON syntax check (RFC 8259), so a malformed training summary is caught
 * here rather than by whoever reads the model. Nesting is capped. */
typedef struct json_cursor {
    const char *p;
    int depth;
} json_cursor;

static void json_ws(json_cursor *c)
{
    while (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')
        c->p++;
}

static int json_string(json_cursor *c)
{
    if (*c->p != '"')
        return 0;
    c->p++;
    for (;;) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            c->p++;
            return 1;
        }
        if (ch < 0x20)
            return 0; /* also the terminating NUL */
        if (ch == '\\') {
            c->p++;
            if (*c->p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!is_hex(c->p[i]))
                        return 0;
                c->p += 5;
                continue;
            }
            if (!*c->p || !strchr("\"\\/bfnrt", *c->p))
                return 0;
        }
        c->p++;
    }
}

static int json_digits(json_cursor *c)
{
    const char *start = c->p;
    while (*c->p >= '0' && *c->p <= '9')
        c->p++;
    return c->p > start;
}

static int json_number(json_cursor *c)
{
    if (*c->p == '-')
        c->p++;
    if (*c->p == '0')
        c->p++;
    else if (!json_digits(c))
        return 0;
    if (*c->p == '.') {
        c->p++;
        if (!json_digits(c))
            return 0;
    }
    if (*c->p == 'e' || *c->p == 'E') {
        c->p++;
        if (*c->p == '+' || *c->p == '-')
            c->p++;
        if (!json_digits(c))
            return 0;
    }
    return 1;
}

static int json_value(json_cursor *c);

static int json_container(json_cursor *c, char close, int is_object)
{
    if (++c->depth > 64)
        return 0;
    c->p++;
    json_ws(c);
    if (*c->p == close) {
        c->p++;
        c->depth--;
        return 1;
    }
    for (;;) {
        json_ws(c);
        if (is_object) {
            if (!json_string(c))
                return 0;
            json_ws(c);
            if (*c->p != ':')
                return 0;
            c->p++;
        }
        if (!json_value(c))
            return 0;
        json_ws(c);
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p != close)
            return 0;
        c->p++;
        c->depth--;
        return 1;
    }
}

static int json_value(json_cursor *c)
{
    json_ws(c);
    switch (*c->p) {
    case '{': return json_container(c, '}', 1);
    case '[': return json_container(c, ']', 0);
    case '"': return json_string(c);
    case 't': return strncmp(c->p, "true", 4) == 0 ? (c->p += 4, 1) : 0;
    case 'f': return strncmp(c->p, "false", 5) == 0 ? (c->p += 5, 1) : 0;
    case 'n': return strncmp(c->p, "null", 4) == 0 ? (c->p += 4, 1) : 0;
    default: return json_number(c);
    }
}

int json_check_text(const char *text)
{
    json_cursor c = { text, 0 };
    if (!json_value(&c))
        return 0;
    json_ws(&c);
    return *c.p == '\0';
}
