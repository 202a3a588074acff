/* Whole numbers from the command line: the entire argument, in range, no
 * overflow (strtol's errno), so "--batch 8x" or "--batch 99999999999" are
 * refused instead of read as something else. */
#ifndef UNET_TOOLS_CLI_INT_H
#define UNET_TOOLS_CLI_INT_H

/* 0 and *out = the value, or -1 (nothing printed). */
int cli_parse_long(const char *s, long lo, long hi, long *out);
/* The same for an option's int; on failure prints "PROG: OPT must be an
 * integer from LO to HI, got 'S'" to stderr. */
int cli_int_option(const char *prog, const char *opt, const char *s, long lo, long hi, int *out);

#endif
