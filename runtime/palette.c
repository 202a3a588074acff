/* Class palettes: classes.tsv parsing and writing, colour lookup, and the
 * mapping of colour-coded masks to class-id masks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <unet/palette.h>

#include "atomic_file.h"
#include "error.h"

/* classes.tsv files are a few lines; anything bigger is not one. */
#define PALETTE_FILE_MAX (1u << 20)

static const struct {
    const char *name;
    uint8_t rgb[3];
} default_classes[] = {
    {"Building", {0x3C, 0x10, 0x98}},
    {"Land", {0x84, 0x29, 0xF6}},
    {"Road", {0x6E, 0xC1, 0xE4}},
    {"Vegetation", {0xFE, 0xDD, 0x3A}},
    {"Water", {0xE2, 0xA9, 0x29}},
    {"Unlabeled", {0x9B, 0x9B, 0x9B}},
};

void unet_palette_default(unet_palette *p)
{
    static const uint8_t black[3] = {0, 0, 0};
    memset(p, 0, sizeof *p);
    p->n_classes = (int)(sizeof default_classes / sizeof default_classes[0]);
    for (int i = 0; i < p->n_classes; i++) {
        snprintf(p->classes[i].name, sizeof p->classes[i].name, "%s", default_classes[i].name);
        memcpy(p->classes[i].rgb, default_classes[i].rgb, 3);
    }
    (void)unet_palette_add_ignore(p, black);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

unet_status unet_parse_hex_color(const char *s, size_t len, uint8_t rgb[3])
{
    if (len > 0 && s[0] == '#') {
        s++;
        len--;
    }
    if (len != 6) return UNET_ERR_PARSE;
    for (int i = 0; i < 3; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return UNET_ERR_PARSE;
        rgb[i] = (uint8_t)(hi * 16 + lo);
    }
    return UNET_OK;
}

void unet_format_hex_color(const uint8_t rgb[3], char buf[8])
{
    snprintf(buf, 8, "#%02X%02X%02X", rgb[0], rgb[1], rgb[2]);
}

static int same_rgb(const uint8_t a[3], const uint8_t b[3])
{
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2];
}

/* Trims spaces around [*s, *s + *len). */
static void trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t')) (*len)--;
}

unet_status unet_palette_parse(const char *text, size_t len, const char *name,
                               unet_palette *out)
{
    /* Line of definition per id, to name both lines in duplicate errors. */
    int line_of[UNET_PALETTE_MAX_CLASSES] = {0};
    int max_id = -1, max_id_line = 0;
    size_t pos = 0;
    int line_no = 0;

    if (!out || (!text && len > 0)) return unet_set_error(UNET_ERR_ARG, "unet_palette_parse: NULL argument");
    if (!name) name = "classes.tsv";
    memset(out, 0, sizeof *out);

    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - line) : len - pos;
        pos += line_len + (nl ? 1 : 0);
        line_no++;
        if (line_len > 0 && line[line_len - 1] == '\r') line_len--;

        const char *probe = line;
        size_t probe_len = line_len;
        trim(&probe, &probe_len);
        if (probe_len == 0 || probe[0] == '#') continue;

        const char *field[3];
        size_t field_len[3];
        int n_fields = 0;
        const char *f = line;
        for (;;) {
            const char *tab = memchr(f, '\t', (size_t)(line + line_len - f));
            size_t flen = tab ? (size_t)(tab - f) : (size_t)(line + line_len - f);
            if (n_fields < 3) {
                field[n_fields] = f;
                field_len[n_fields] = flen;
            }
            n_fields++;
            if (!tab) break;
            f = tab + 1;
        }
        if (n_fields != 3)
            return unet_set_error(UNET_ERR_PARSE,
                                  "%s line %d: expected 3 tab-separated fields ID, NAME, #RRGGBB; found %d",
                                  name, line_no, n_fields);
        for (int i = 0; i < 3; i++) trim(&field[i], &field_len[i]);

        /* ID: a plain decimal integer 0..254. */
        long id = 0;
        int id_ok = field_len[0] > 0 && field_len[0] <= 3;
        for (size_t i = 0; id_ok && i < field_len[0]; i++) {
            if (field[0][i] < '0' || field[0][i] > '9') id_ok = 0;
            else id = id * 10 + (field[0][i] - '0');
        }
        if (!id_ok || id >= UNET_PALETTE_MAX_CLASSES)
            return unet_set_error(UNET_ERR_PARSE,
                                  "%s line %d: class id '%.*s' is not an integer in 0..%d (%d is the ignore label)",
                                  name, line_no, (int)(field_len[0] > 20 ? 20 : field_len[0]), field[0],
                                  UNET_PALETTE_MAX_CLASSES - 1, UNET_IGNORE_LABEL);
        if (line_of[id])
            return unet_set_error(UNET_ERR_PARSE, "%s line %d: class id %ld already defined on line %d",
                                  name, line_no, id, line_of[id]);

        if (field_len[1] == 0)
            return unet_set_error(UNET_ERR_PARSE, "%s line %d: empty class name", name, line_no);
        if (field_len[1] >= UNET_PALETTE_NAME_MAX)
            return unet_set_error(UNET_ERR_PARSE, "%s line %d: class name is %zu bytes, at most %d allowed",
                                  name, line_no, field_len[1], UNET_PALETTE_NAME_MAX - 1);
        for (size_t i = 0; i < field_len[1]; i++)
            if ((unsigned char)field[1][i] < 0x20 || field[1][i] == 0x7f)
                return unet_set_error(UNET_ERR_PARSE, "%s line %d: class name holds a control character",
                                      name, line_no);

        uint8_t rgb[3];
        if (unet_parse_hex_color(field[2], field_len[2], rgb) != UNET_OK || field[2][0] != '#')
            return unet_set_error(UNET_ERR_PARSE, "%s line %d: colour '%.*s' is not #RRGGBB",
                                  name, line_no, (int)(field_len[2] > 20 ? 20 : field_len[2]), field[2]);

        for (int other = 0; other < UNET_PALETTE_MAX_CLASSES; other++) {
            if (!line_of[other]) continue;
            const unet_class *c = &out->classes[other];
            if (same_rgb(c->rgb, rgb)) {
                char hex[8];
                unet_format_hex_color(rgb, hex);
                return unet_set_error(UNET_ERR_PARSE, "%s line %d: colour %s already used by class %d '%s' on line %d",
                                      name, line_no, hex, other, c->name, line_of[other]);
            }
            if (strlen(c->name) == field_len[1] && memcmp(c->name, field[1], field_len[1]) == 0)
                return unet_set_error(UNET_ERR_PARSE, "%s line %d: class name '%s' already used by class %d on line %d",
                                      name, line_no, c->name, other, line_of[other]);
        }

        unet_class *c = &out->classes[id];
        memcpy(c->name, field[1], field_len[1]);
        c->name[field_len[1]] = '\0';
        memcpy(c->rgb, rgb, 3);
        line_of[id] = line_no;
        if (id > max_id) {
            max_id = (int)id;
            max_id_line = line_no;
        }
    }

    if (max_id < 0) return unet_set_error(UNET_ERR_PARSE, "%s: no classes (expected lines ID<TAB>NAME<TAB>#RRGGBB)", name);
    for (int id = 0; id <= max_id; id++)
        if (!line_of[id])
            return unet_set_error(UNET_ERR_PARSE,
                                  "%s: class ids must be 0..n-1 without gaps; id %d is missing (line %d defines id %d)",
                                  name, id, max_id_line, max_id);
    out->n_classes = max_id + 1;
    return UNET_OK;
}

unet_status unet_palette_read(const char *path, unet_palette *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return unet_set_error(UNET_ERR_IO, "%s: %s", path, strerror(errno));
    char *buf = malloc(PALETTE_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, PALETTE_FILE_MAX + 1, f);
    int read_error = ferror(f);
    fclose(f);
    unet_status s;
    if (read_error) s = unet_set_error(UNET_ERR_IO, "%s: read error", path);
    else if (n > PALETTE_FILE_MAX)
        s = unet_set_error(UNET_ERR_LIMIT, "%s: larger than %u bytes, not a classes.tsv", path, PALETTE_FILE_MAX);
    else s = unet_palette_parse(buf, n, path, out);
    free(buf);
    return s;
}

static int palette_valid(const unet_palette *p)
{
    return p && p->n_classes >= 1 && p->n_classes <= UNET_PALETTE_MAX_CLASSES;
}

/* Writes as much of the text as fits (buf may be NULL) and returns the full
 * length without the NUL. */
static size_t format_classes(const unet_palette *p, char *buf, size_t buf_size)
{
    size_t total = 0;
    for (int i = 0; i < p->n_classes; i++) {
        const unet_class *c = &p->classes[i];
        char line[UNET_PALETTE_NAME_MAX + 32];
        int len = snprintf(line, sizeof line, "%d\t%.*s\t#%02X%02X%02X\n", i, UNET_PALETTE_NAME_MAX - 1, c->name,
                           c->rgb[0], c->rgb[1], c->rgb[2]);
        if (buf && total + (size_t)len < buf_size) memcpy(buf + total, line, (size_t)len);
        total += (size_t)len;
    }
    return total;
}

unet_status unet_palette_format(const unet_palette *p, char *buf, size_t buf_size, size_t *needed)
{
    if (!palette_valid(p)) return unet_set_error(UNET_ERR_ARG, "unet_palette_format: palette has no classes or too many");
    size_t total = format_classes(p, buf, buf_size);
    if (needed) *needed = total + 1;
    if (!buf || total + 1 > buf_size)
        return unet_set_error(UNET_ERR_LIMIT, "unet_palette_format: buffer of %zu bytes, %zu needed", buf_size, total + 1);
    buf[total] = '\0';
    return UNET_OK;
}

unet_status unet_palette_write(const unet_palette *p, const char *path)
{
    if (!palette_valid(p)) return unet_set_error(UNET_ERR_ARG, "%s: palette has no classes or too many", path);
    size_t needed = format_classes(p, NULL, 0) + 1;
    char *text = malloc(needed);
    if (!text) return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
    unet_status s = unet_palette_format(p, text, needed, NULL);
    if (s != UNET_OK) {
        free(text);
        return s;
    }

    s = atomic_file_write_all(path, text, needed - 1);
    free(text);
    return s;
}

unet_status unet_palette_add_ignore(unet_palette *p, const uint8_t rgb[3])
{
    char hex[8];
    unet_format_hex_color(rgb, hex);
    for (int i = 0; i < p->n_ignore; i++)
        if (same_rgb(p->ignore_rgb[i], rgb)) return UNET_OK;
    for (int i = 0; i < p->n_classes; i++)
        if (same_rgb(p->classes[i].rgb, rgb))
            return unet_set_error(UNET_ERR_ARG, "ignore colour %s is the colour of class %d '%s'",
                                  hex, i, p->classes[i].name);
    if (p->n_ignore >= UNET_PALETTE_MAX_IGNORE)
        return unet_set_error(UNET_ERR_LIMIT, "ignore colour %s: at most %d ignore colours", hex,
                              UNET_PALETTE_MAX_IGNORE);
    memcpy(p->ignore_rgb[p->n_ignore++], rgb, 3);
    return UNET_OK;
}

void unet_palette_clear_ignore(unet_palette *p) { p->n_ignore = 0; }

unet_status unet_palette_set_ignore_list(unet_palette *p, const char *list)
{
    unet_palette_clear_ignore(p);
    if (strcasecmp(list, "none") == 0)
        return UNET_OK;
    for (const char *item = list;;) {
        const char *end = strchr(item, ',');
        const size_t len = end ? (size_t)(end - item) : strlen(item);
        size_t a = 0, b = len;
        while (a < b && item[a] == ' ')
            a++;
        while (b > a && item[b - 1] == ' ')
            b--;
        uint8_t rgb[3];
        if (b > a && unet_parse_hex_color(item + a, b - a, rgb) != UNET_OK)
            return unet_set_error(UNET_ERR_ARG, "'%.*s' is not #RRGGBB", (int)(b - a), item + a);
        if (b > a) /* empty items (",,", a trailing comma) are passed over */
            UNET_TRY(unet_palette_add_ignore(p, rgb));
        if (!end)
            return UNET_OK;
        item = end + 1;
    }
}

int unet_palette_lookup(const unet_palette *p, uint8_t r, uint8_t g, uint8_t b)
{
    const uint8_t rgb[3] = {r, g, b};
    for (int i = 0; i < p->n_classes; i++)
        if (same_rgb(p->classes[i].rgb, rgb)) return i;
    for (int i = 0; i < p->n_ignore; i++)
        if (same_rgb(p->ignore_rgb[i], rgb)) return UNET_IGNORE_LABEL;
    return -1;
}

void unet_palette_png_colors(const unet_palette *p, uint8_t rgb[256 * 3])
{
    memset(rgb, 0, 256 * 3);
    for (int i = 0; i < p->n_classes && i < UNET_PALETTE_MAX_CLASSES; i++) memcpy(rgb + 3 * i, p->classes[i].rgb, 3);
}

/* Open-addressing table colour -> label; 512 slots hold the at most 271
 * colours of a palette at a load factor that keeps probes short. */
#define COLOR_TABLE_SIZE 512
#define COLOR_EMPTY 0xFFFFFFFFu

typedef struct color_table {
    uint32_t key[COLOR_TABLE_SIZE];
    uint8_t label[COLOR_TABLE_SIZE];
} color_table;

static uint32_t color_slot(uint32_t key) { return (key * 2654435761u) >> 23; /* top 9 bits */ }

static void color_table_put(color_table *t, uint32_t key, uint8_t label)
{
    uint32_t i = color_slot(key);
    while (t->key[i] != COLOR_EMPTY && t->key[i] != key) i = (i + 1) & (COLOR_TABLE_SIZE - 1);
    t->key[i] = key;
    t->label[i] = label;
}

static int color_table_get(const color_table *t, uint32_t key)
{
    uint32_t i = color_slot(key);
    while (t->key[i] != COLOR_EMPTY) {
        if (t->key[i] == key) return t->label[i];
        i = (i + 1) & (COLOR_TABLE_SIZE - 1);
    }
    return -1;
}

unet_status unet_palette_map_rgb(const unet_palette *p, const unet_image *mask,
                                 const char *name, unet_unknown_color_policy policy,
                                 uint8_t *out, unet_unknown_colors *unknown)
{
    if (!name) name = "mask";
    if (unknown) {
        memset(unknown, 0, sizeof *unknown);
        unknown->first_x = unknown->first_y = -1;
    }
    if (!p || !mask || !out || !mask->pixels)
        return unet_set_error(UNET_ERR_ARG, "%s: unet_palette_map_rgb: NULL argument", name);
    if (mask->channels != 3)
        return unet_set_error(UNET_ERR_ARG, "%s: colour mask must have 3 channels (RGB), has %d", name, mask->channels);
    if (mask->width < 1 || mask->height < 1)
        return unet_set_error(UNET_ERR_ARG, "%s: empty mask %dx%d", name, mask->width, mask->height);
    if (p->n_classes < 1 || p->n_classes > UNET_PALETTE_MAX_CLASSES || p->n_ignore < 0 ||
        p->n_ignore > UNET_PALETTE_MAX_IGNORE)
        return unet_set_error(UNET_ERR_ARG, "%s: invalid palette (%d classes, %d ignore colours)", name,
                              p->n_classes, p->n_ignore);

    color_table *t = malloc(sizeof *t);
    if (!t) return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", name);
    for (int i = 0; i < COLOR_TABLE_SIZE; i++) t->key[i] = COLOR_EMPTY;
    /* Ignore colours first so that class colours win should both be listed. */
    for (int i = 0; i < p->n_ignore; i++) {
        const uint8_t *c = p->ignore_rgb[i];
        color_table_put(t, (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2], UNET_IGNORE_LABEL);
    }
    for (int i = 0; i < p->n_classes; i++) {
        const uint8_t *c = p->classes[i].rgb;
        color_table_put(t, (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2], (uint8_t)i);
    }

    /* Masks are mostly runs of one colour: remember the last answer. */
    size_t n = (size_t)mask->width * (size_t)mask->height;
    const uint8_t *px = mask->pixels;
    uint32_t last_key = COLOR_EMPTY;
    int last_label = -1;
    unet_status s = UNET_OK;
    for (size_t i = 0; i < n; i++, px += 3) {
        uint32_t key = (uint32_t)px[0] << 16 | (uint32_t)px[1] << 8 | px[2];
        if (key != last_key) {
            last_key = key;
            last_label = color_table_get(t, key);
        }
        if (last_label >= 0) {
            out[i] = (uint8_t)last_label;
            continue;
        }
        int x = (int)(i % (size_t)mask->width), y = (int)(i / (size_t)mask->width);
        if (unknown) {
            if (unknown->count == 0) {
                unknown->first_x = x;
                unknown->first_y = y;
                memcpy(unknown->first_rgb, px, 3);
            }
            unknown->count++;
        }
        if (policy != UNET_UNKNOWN_COLOR_IGNORE) {
            char hex[8];
            unet_format_hex_color(px, hex);
            s = unet_set_error(UNET_ERR_INVALID,
                               "%s: colour %s at pixel (x=%d, y=%d) is not a class colour of the palette",
                               name, hex, x, y);
            break;
        }
        out[i] = UNET_IGNORE_LABEL;
    }
    free(t);
    return s;
}
