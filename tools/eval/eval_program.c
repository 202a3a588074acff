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

char *eval_strdup(const char *s)
{
    char *p = strdup(s);
    if (!p) {
        fprintf(stderr, PROG ": out of memory\n");
        exit(EXIT_USAGE);
    }
    return p;
}

char *eval_path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (!p) {
        fprintf(stderr, PROG ": out of memory\n");
        exit(EXIT_USAGE);
    }
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

int eval_mkdir_p(const char *path)
{
    char *tmp = eval_strdup(path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST) {
            free(tmp);
            return -1;
        }
        *p = '/';
    }
    int rc = mkdir(tmp, 0777) != 0 && errno != EEXIST ? -1 : 0;
    free(tmp);
    return rc;
}

double eval_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

