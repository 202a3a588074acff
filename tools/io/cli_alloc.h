/* Allocation for the programs (never the libraries): out of memory ends the
 * process with "PROG: out of memory" and exit status 1, so program code can
 * build names and lists without an error path at every step. */
#ifndef UNET_TOOLS_CLI_ALLOC_H
#define UNET_TOOLS_CLI_ALLOC_H

#include <stdarg.h>
#include <stddef.h>

#include "error.h" /* UNET_PRINTF */

/* The PROG of the message (default "unet"); programs set it first thing. */
void cli_alloc_program(const char *prog);

void *cli_xmalloc(size_t n);              /* n == 0 gives a valid pointer too */
void *cli_xcalloc(size_t n, size_t size);  /* zeroed; n * size checked */
void *cli_xrealloc(void *p, size_t n);
char *cli_xstrdup(const char *s);
char *cli_xasprintf(const char *fmt, ...) UNET_PRINTF(1, 2);
char *cli_xvasprintf(const char *fmt, va_list ap);
/* "a/b" */
char *cli_path_join(const char *a, const char *b);

#endif
