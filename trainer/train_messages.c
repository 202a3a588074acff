/* unet-train's messages on stderr (see train_messages.h). */
#include <stdarg.h>
#include <stdio.h>

#include "cli_message.h"
#include "train_messages.h"

static char prog_name[64] = "unet-train", error_prog_name[64] = "unet-train";
static int quiet;

void train_messages_set(const char *prog, const char *error_prog, int be_quiet)
{
    snprintf(prog_name, sizeof prog_name, "%s", prog);
    snprintf(error_prog_name, sizeof error_prog_name, "%s", error_prog);
    quiet = be_quiet;
}

int train_messages_quiet(void) { return quiet; }
const char *train_messages_error_prog(void) { return error_prog_name; }

void train_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vmessage(error_prog_name, "error", fmt, ap);
    va_end(ap);
}

void train_note(const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    cli_vmessage(prog_name, NULL, fmt, ap);
    va_end(ap);
}

void train_warning(const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    cli_vmessage(prog_name, "warning", fmt, ap);
    va_end(ap);
}
