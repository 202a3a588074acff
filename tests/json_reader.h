/* A small JSON reader for tests that check a program's --json output: parses
 * one value into a tree and fails the running cmocka test on malformed text
 * or on a missing key. Test code only. */
#ifndef UNET_TESTS_JSON_READER_H
#define UNET_TESTS_JSON_READER_H

typedef enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value {
    json_type type;
    double number;              /* numbers; booleans as 0/1 */
    char *string;
    int n;                      /* items of an array or object */
    char **keys;                /* object keys */
    struct json_value **items;
} json_value;

/* The whole text must be one value (surrounding white space allowed). */
json_value *json_parse(const char *text);
void json_free(json_value *v);

/* Member of an object: fails the test when absent. */
const json_value *json_get(const json_value *obj, const char *key);
/* Numeric member: fails the test when absent or not a number. */
double json_number(const json_value *obj, const char *key);
/* String member: fails the test when absent or not a string. */
const char *json_string(const json_value *obj, const char *key);
/* A member that may be undefined: null exactly when want is NaN, else a
 * number within tol of want; fails the test, naming where, otherwise. */
void json_check_number(const json_value *obj, const char *key, double want, double tol, const char *where);

#endif
