/* The programs' messages on stderr, one shape for all of them:
 * "PROG: KIND: text" (KIND "error", "warning", ...; NULL for a plain note
 * "PROG: text"), formatted first and written with one call, so lines from
 * several MPI ranks do not interleave mid-line. */
#ifndef UNET_TOOLS_CLI_MESSAGE_H
#define UNET_TOOLS_CLI_MESSAGE_H

#include <stdarg.h>

#include "error.h" /* UNET_PRINTF */

void cli_vmessage(const char *prog, const char *kind, const char *fmt, va_list ap);
void cli_message(const char *prog, const char *kind, const char *fmt, ...) UNET_PRINTF(3, 4);

#endif
