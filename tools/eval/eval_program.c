/* unet-eval's small helpers (see eval_program.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <unet/image.h>
#include <unet/meta.h>
#include <unet/metrics.h>
#include <unet/palette.h>
#include <unet/unet.h>

#include "cli_message.h"
#include "eval_program.h"

void eval_warn(const eval_options *o, const char *fmt, ...)
{
    if (o->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    cli_vmessage(PROG, "warning", fmt, ap);
    va_end(ap);
}

double eval_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

