/* Text the programs build (unet-train, unet-tile): a growing string with printf, JSON
 * strings and numbers, CSV numbers, durations. Out of memory is sticky
 * (nomem) and checked once at the end, so building code stays linear. */
#ifndef UNET_TOOLS_TEXT_FORMAT_H
#define UNET_TOOLS_TEXT_FORMAT_H

#include <stddef.h>

#include "error.h" /* UNET_PRINTF */

typedef struct sbuf {
    char *s;      /* NUL-terminated once anything was written; free() it */
    size_t len, cap;
    int nomem;    /* an allocation failed: s holds what fitted before */
} sbuf;

void sb_printf(sbuf *b, const char *fmt, ...) UNET_PRINTF(2, 3);
/* s as a JSON string literal (quotes, escapes). */
void sb_json_string(sbuf *b, const char *s);
/* v with digits significant digits (9 round-trips a float, 17 a double);
 * null when v is not finite. */
void sb_json_number(sbuf *b, double v, int digits);
/* ",v" with 6 significant digits, or "," alone when v is not finite. */
void sb_csv_number(sbuf *b, double v);

/* A CSV column name from free text (a class name): letters and digits kept,
 * anything else '_'; cut to size - 1 bytes. */
void csv_column_name(const char *s, char *out, size_t size);

/* a followed by b, malloc'd; NULL when out of memory. */
char *str_concat(const char *a, const char *b);

/* "12s" / "12.3s" (tenths set), "4m05s", "2h07m"; "?" for negative, NaN or
 * absurd values. */
void format_duration(double seconds, int tenths, char *buf, size_t size);

#endif
