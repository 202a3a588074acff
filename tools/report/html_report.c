/* HTML documents for reports (see html_report.h). */
#include "html_report.h"

#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "base64.h"
#include "error.h"

static const char *reference(unsigned char c)
{
    switch (c) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return "&quot;";
    case '\'': return "&#39;";
    case '\t': case '\n': return NULL;
    default: return c < 0x20 || c == 0x7f ? "&#xFFFD;" : NULL;
    }
}

void html_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        const char *r = reference((unsigned char)*s);
        if (r)
            fputs(r, f);
        else
            fputc(*s, f);
    }
}

size_t html_escape(const char *s, char *buf, size_t size)
{
    size_t n = 0, kept = 0;
    for (; s && *s; s++) {
        const char *r = reference((unsigned char)*s);
        size_t k = r ? strlen(r) : 1;
        if (n == kept && n + k < size) { /* stop at the first piece that does not fit */
            memcpy(buf + n, r ? r : s, k);
            kept += k;
        }
        n += k;
    }
    if (size)
        buf[kept < size ? kept : size - 1] = '\0';
    return n;
}

/* Screen: a readable column, tables with lines, a grid of tile rows. Print:
 * no background tint except the colours that carry meaning (swatches, the
 * confusion cells), gallery rows kept whole on a page. */
static const char style[] =
    "body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1150px;padding:0 1em;color:#111}\n"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}\n"
    "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #bbb;padding:.2em .5em}\n"
    "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "dl.facts{display:grid;grid-template-columns:max-content auto;gap:.15em 1em}dl.facts dt{font-weight:600}\n"
    "dl.facts dd{margin:0;overflow-wrap:anywhere}\n"
    ".swatch{display:inline-block;width:.9em;height:.9em;border:1px solid #444;vertical-align:middle;"
    "margin-right:.3em}\n"
    "td.cm{text-align:right;min-width:5em}td.cm small{display:block;opacity:.8}\n"
    ".gallery figure{display:inline-block;margin:.4em;vertical-align:top;break-inside:avoid}\n"
    ".gallery .row{break-inside:avoid;page-break-inside:avoid;margin:.6em 0;border-top:1px solid #ddd}\n"
    ".gallery img{width:200px;height:auto;image-rendering:pixelated;border:1px solid #999}\n"
    ".gallery figcaption{font-size:.8em;text-align:center}\n"
    "pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f4f4f4;padding:.5em}\n"
    "svg{max-width:100%;height:auto}footer{margin-top:2em;font-size:.85em;color:#555}\n"
    "@media print{body{max-width:none;margin:0;font-size:10pt}h2{break-after:avoid}"
    ".gallery img{width:150px}pre{background:none}"
    "*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}\n";

int html_doc_open(html_doc *d, const char *title)
{
    memset(d, 0, sizeof *d);
    d->f = open_memstream(&d->buf, &d->len);
    if (!d->f)
        return -1;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          /* No script, no fetch: images are data: URIs, the style sits inline. */
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
          "style-src 'unsafe-inline'\">\n<meta name=\"viewport\" content=\"width=device-width\">\n<title>",
          d->f);
    html_text(d->f, title);
    fprintf(d->f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", style);
    return 0;
}

void html_doc_discard(html_doc *d)
{
    if (d->f)
        fclose(d->f);
    free(d->buf);
    memset(d, 0, sizeof *d);
}

char *html_doc_close(html_doc *d, size_t *size)
{
    *size = 0;
    if (fclose(d->f) != 0) {
        d->f = NULL;
        html_doc_discard(d);
        return NULL;
    }
    d->f = NULL;
    /* The stated size includes the line stating it: grow the guess until the
     * number's own digits agree (two rounds at most, as a digit is added). */
    char tail[160];
    size_t total = d->len, n = 0;
    for (int round = 0; round < 4; round++) {
        n = (size_t)snprintf(tail, sizeof tail,
                             "<footer id=\"file-size\" data-bytes=\"%zu\">This file is %zu bytes.</footer>\n"
                             "</body>\n</html>\n",
                             total, total);
        if (d->len + n == total)
            break;
        total = d->len + n;
    }
    char *doc = realloc(d->buf, d->len + n + 1);
    if (!doc) {
        html_doc_discard(d);
        return NULL;
    }
    memcpy(doc + d->len, tail, n + 1);
    *size = d->len + n;
    d->buf = NULL;
    html_doc_discard(d);
    return doc;
}

int html_png(FILE *f, const unet_image *img, const char *alt, const char *attrs)
{
    void *png = NULL;
    size_t n = 0;
    if (unet_png_encode_memory(img, &png, &n) != UNET_OK)
        return -1;
    fprintf(f, "<img width=\"%d\" height=\"%d\" alt=\"", img->width, img->height);
    html_text(f, alt);
    fprintf(f, "\"%s%s src=\"data:image/png;base64,", attrs ? " " : "", attrs ? attrs : "");
    int rc = base64_write(f, png, n);
    fputs("\">", f);
    free(png);
    return rc;
}

void html_swatch(FILE *f, const uint8_t rgb[3], const char *title)
{
    fprintf(f, "<span class=\"swatch\" style=\"background:#%02x%02x%02x\"", rgb[0], rgb[1], rgb[2]);
    if (title) {
        fputs(" title=\"", f);
        html_text(f, title);
        fputc('"', f);
    }
    fputs("></span>", f);
}

int html_doc_write(html_doc *d, const char *path, size_t *size)
{
    size_t n;
    *size = 0;
    char *doc = html_doc_close(d, &n);
    if (!doc) {
        unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
        return -1;
    }
    int rc = atomic_file_write_all(path, doc, n) == UNET_OK ? 0 : -1;
    free(doc);
    if (rc == 0)
        *size = n;
    return rc;
}
