/* Checked numeric options for the programs. */
#include "cli_number.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int cli_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    const long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        return -1;
    const unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

int cli_int_option(const char *prog, const char *opt, const char *s, long lo, long hi, int *out)
{
    long v;
    if (cli_parse_long(s, lo, hi, &v) != 0) {
        fprintf(stderr, "%s: %s must be an integer from %ld to %ld, got '%s'\n", prog, opt, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}
