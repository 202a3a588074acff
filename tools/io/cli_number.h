/* Numbers from the command line, for every program (unet-train included):
 * the entire argument, in range, no overflow (strtol's errno), so
 * "--batch 8x" or "--batch 99999999999" are refused instead of read as
 * something else. */
#ifndef UNET_TOOLS_CLI_NUMBER_H
#define UNET_TOOLS_CLI_NUMBER_H

#include <stdint.h>

/* 0 and *out = the value, or -1 (nothing printed). */
int cli_parse_long(const char *s, long lo, long hi, long *out);
/* A non-negative whole number up to UINT64_MAX ("-1" is refused, not wrapped). */
int cli_parse_u64(const char *s, uint64_t *out);
/* A real number in [lo, hi] (NaN never is). */
int cli_parse_double(const char *s, double lo, double hi, double *out);

/* The same for an option's int; on failure prints "PROG: OPT must be an
 * integer from LO to HI, got 'S'" to stderr. */
int cli_int_option(const char *prog, const char *opt, const char *s, long lo, long hi, int *out);

#endif
