/* unet-tile's small helpers (see tile_job.h). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <unet/image.h>
#include <unet/palette.h>
#include <unet/tiling.h>
#include <unet/unet.h>

#include "atomic_file.h"
#include "cli_alloc.h"
#include "cli_files.h"
#include "cli_message.h"
#include "tile_job.h"

/* ---- small helpers ---------------------------------------------------- */

int tile_quiet;

void tile_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vmessage(PROG, "error", fmt, ap);
    va_end(ap);
}

void tile_warn(const char *fmt, ...)
{
    if (tile_quiet) return;
    va_list ap;
    va_start(ap, fmt);
    cli_vmessage(PROG, "warning", fmt, ap);
    va_end(ap);
}

int tile_make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || (errno == EEXIST && cli_is_dir(path))) return 0;
    tile_err("cannot create folder %s: %s", path, strerror(errno));
    return -1;
}

/* Writes text to path through a temporary file in the same folder. */
int tile_write_file_atomic(const char *path, const char *text, size_t len)
{
    if (atomic_file_write_all(path, text, len) == UNET_OK)
        return 0;
    tile_err("%s", unet_last_error());
    return -1;
}

/* Lowercase letters and digits kept, runs of anything else become one '-'. */
char *tile_slug(const char *s, int keep_case_and_underscore)
{
    size_t n = strlen(s);
    char *out = cli_xmalloc(n + 8);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) && c < 0x80) out[k++] = keep_case_and_underscore ? (char)c : (char)tolower(c);
        else if (keep_case_and_underscore && (c == '_' || c == '.' || c == '-')) out[k++] = (char)c;
        else if (k > 0 && out[k - 1] != '-') out[k++] = '-';
    }
    while (k > 0 && out[k - 1] == '-') k--;
    if (k == 0) {
        strcpy(out, "x");
        k = 1;
    }
    out[k] = '\0';
    return out;
}

double tile_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t tile_mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t tile_hash_string(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

