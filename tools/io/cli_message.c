/* Messages of the programs; see cli_message.h. */
#include "cli_message.h"

#include <stdio.h>

void cli_vmessage(const char *prog, const char *kind, const char *fmt, va_list ap)
{
    char text[2048];
    vsnprintf(text, sizeof text, fmt, ap);
    fprintf(stderr, "%s: %s%s%s\n", prog, kind ? kind : "", kind ? ": " : "", text);
}

void cli_message(const char *prog, const char *kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vmessage(prog, kind, fmt, ap);
    va_end(ap);
}
