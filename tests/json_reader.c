/* Recursive-descent JSON parser for tests; see json_reader.h. */
#include <ctype.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_reader.h"

typedef struct parser {
    const char *p;
} parser;

static void skip_space(parser *ps)
{
    while (isspace((unsigned char)*ps->p))
        ps->p++;
}

static json_value *new_value(json_type type)
{
    json_value *v = calloc(1, sizeof *v);
    assert_non_null(v);
    v->type = type;
    return v;
}

static void append(json_value *v, char *key, json_value *item)
{
    v->items = realloc(v->items, (size_t)(v->n + 1) * sizeof *v->items);
    v->keys = realloc(v->keys, (size_t)(v->n + 1) * sizeof *v->keys);
    assert_true(v->items && v->keys);
    v->items[v->n] = item;
    v->keys[v->n] = key;
    v->n++;
}

/* A string literal; \uXXXX escapes below 0x80 only (enough for our output). */
static char *parse_string(parser *ps)
{
    if (*ps->p != '"')
        fail_msg("JSON: expected a string at '%.20s'", ps->p);
    ps->p++;
    size_t cap = 32, n = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    for (;;) {
        char c = *ps->p++;
        if (c == '\0')
            fail_msg("JSON: unterminated string");
        if (c == '"')
            break;
        if (c == '\\') {
            char e = *ps->p++;
            switch (e) {
            case '"': case '\\': case '/': c = e; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                char hex[5] = { 0 };
                memcpy(hex, ps->p, 4);
                ps->p += 4;
                long code = strtol(hex, NULL, 16);
                if (code >= 0x80)
                    fail_msg("JSON: \\u%s beyond ASCII is not handled by this reader", hex);
                c = (char)code;
                break;
            }
            default: fail_msg("JSON: bad escape \\%c", e);
            }
        }
        if (n + 2 > cap) {
            cap *= 2;
            s = realloc(s, cap);
            assert_non_null(s);
        }
        s[n++] = c;
    }
    s[n] = '\0';
    return s;
}

static json_value *parse_value(parser *ps)
{
    skip_space(ps);
    char c = *ps->p;
    if (c == '{' || c == '[') {
        int object = c == '{';
        json_value *v = new_value(object ? JSON_OBJECT : JSON_ARRAY);
        ps->p++;
        skip_space(ps);
        if (*ps->p == (object ? '}' : ']')) {
            ps->p++;
            return v;
        }
        for (;;) {
            char *key = NULL;
            if (object) {
                skip_space(ps);
                key = parse_string(ps);
                skip_space(ps);
                if (*ps->p != ':')
                    fail_msg("JSON: expected ':' after \"%s\"", key);
                ps->p++;
            }
            append(v, key, parse_value(ps));
            skip_space(ps);
            if (*ps->p == ',') {
                ps->p++;
                continue;
            }
            if (*ps->p != (object ? '}' : ']'))
                fail_msg("JSON: expected ',' or '%c' at '%.20s'", object ? '}' : ']', ps->p);
            ps->p++;
            return v;
        }
    }
    if (c == '"') {
        json_value *v = new_value(JSON_STRING);
        v->string = parse_string(ps);
        return v;
    }
    if (!strncmp(ps->p, "null", 4)) {
        ps->p += 4;
        return new_value(JSON_NULL);
    }
    if (!strncmp(ps->p, "true", 4) || !strncmp(ps->p, "false", 5)) {
        json_value *v = new_value(JSON_BOOL);
        v->number = c == 't';
        ps->p += c == 't' ? 4 : 5;
        return v;
    }
    char *end;
    json_value *v = new_value(JSON_NUMBER);
    v->number = strtod(ps->p, &end);
    if (end == ps->p)
        fail_msg("JSON: unexpected '%.20s'", ps->p);
    ps->p = end;
    return v;
}

json_value *json_parse(const char *text)
{
    parser ps = { text };
    json_value *v = parse_value(&ps);
    skip_space(&ps);
    if (*ps.p)
        fail_msg("JSON: text after the value: '%.20s'", ps.p);
    return v;
}

void json_free(json_value *v)
{
    if (!v)
        return;
    for (int i = 0; i < v->n; i++) {
        json_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->string);
    free(v);
}

const json_value *json_get(const json_value *obj, const char *key)
{
    assert_non_null(obj);
    if (obj->type != JSON_OBJECT)
        fail_msg("JSON: looking up '%s' in a value that is not an object", key);
    for (int i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key))
            return obj->items[i];
    fail_msg("JSON: no key '%s'", key);
    return NULL;
}

double json_number(const json_value *obj, const char *key)
{
    const json_value *v = json_get(obj, key);
    if (v->type != JSON_NUMBER)
        fail_msg("JSON: '%s' is not a number", key);
    return v->number;
}

const char *json_string(const json_value *obj, const char *key)
{
    const json_value *v = json_get(obj, key);
    if (v->type != JSON_STRING)
        fail_msg("JSON: '%s' is not a string", key);
    return v->string;
}

void json_check_number(const json_value *obj, const char *key, double want, double tol, const char *where)
{
    const json_value *v = json_get(obj, key);
    if (isnan(want)) {
        if (v->type != JSON_NULL)
            fail_msg("%s %s: expected null, got %.17g", where, key, v->type == JSON_NUMBER ? v->number : NAN);
        return;
    }
    if (v->type != JSON_NUMBER)
        fail_msg("%s %s: expected %.17g, got a non-number", where, key, want);
    if (fabs(v->number - want) > tol)
        fail_msg("%s %s: expected %.17g, got %.17g", where, key, want, v->number);
}
