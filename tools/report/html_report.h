/* Self-contained HTML documents: one file that opens from file:// with no
 * network and no JavaScript (a Content-Security-Policy forbids both, so even
 * markup that slipped through could not fetch or run anything), images
 * inline as data: URIs, a print stylesheet. Every string that came from a
 * file (class names, paths, metadata) goes through html_text.
 *
 * A document is built in memory (html_doc_open ... html_doc_close) so that
 * its last line can state the file's exact size, and so that callers write it
 * atomically in one piece. */
#ifndef UNET_TOOLS_HTML_REPORT_H
#define UNET_TOOLS_HTML_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <unet/image.h>

typedef struct html_doc {
    FILE *f;      /* write the body here (html_text for untrusted strings) */
    char *buf;
    size_t len;
} html_doc;

/* s with &, <, >, " and ' as character references, control characters other
 * than tab and newline as U+FFFD: safe in text and in quoted attributes. */
void html_text(FILE *f, const char *s);
/* html_text into buf (size bytes, truncated on a character boundary of the
 * escaped text, always NUL-terminated); returns the full escaped length. */
size_t html_escape(const char *s, char *buf, size_t size);

/* Starts a document titled title (escaped): head, styles, <body>. -1 when out of memory. */
int html_doc_open(html_doc *d, const char *title);
/* Appends the closing line "This file is N bytes." (N the size of the whole
 * document, that line included) and the end tags; returns the document
 * (malloc'd; *size bytes) or NULL when out of memory. d is released either way. */
char *html_doc_close(html_doc *d, size_t *size);
/* Releases d without a document (after a failure). */
void html_doc_discard(html_doc *d);
/* html_doc_close, then the document into path atomically; *size = its bytes.
 * 0, or -1 with the reason (naming path) in unet_last_error(); d is released
 * either way. */
int html_doc_write(html_doc *d, const char *path, size_t *size);

/* <img> with the PNG of img as a data: URI; alt escaped; attrs (trusted,
 * e.g. "class=\"tile\"") added as they are. 0, or -1 (error in unet_last_error). */
int html_png(FILE *f, const unet_image *img, const char *alt, const char *attrs);
/* A small square of colour rgb (for class legends); title escaped, may be NULL. */
void html_swatch(FILE *f, const uint8_t rgb[3], const char *title);

#endif
