/* Reading the unet.* metadata of a model: small flat JSON values (arrays of
 * strings or numbers, one flat object), parsed with a bounded scanner. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <unet/meta.h>
#include <unet/palette.h>

#include "error.h"

static const char *skip_ws(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return s;
}

/* Parses a JSON string at s (which must start with '"') into out (cut to size). */
static const char *parse_string(const char *s, char *out, size_t size)
{
    if (*s != '"')
        return NULL;
    s++;
    size_t n = 0;
    while (*s && *s != '"') {
        char c = *s++;
        if (c == '\\') {
            c = *s++;
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'u': /* keep \uXXXX escapes as '?' (names are informational) */
                for (int i = 0; i < 4 && *s; i++)
                    s++;
                c = '?';
                break;
            case '\0': return NULL;
            default: break;
            }
        }
        if (n + 1 < size)
            out[n++] = c;
    }
    if (*s != '"')
        return NULL;
    out[n] = '\0';
    return s + 1;
}

/* Array of strings: returns the count, -1 when malformed. */
static int parse_string_array(const char *s, char (*out)[64], int max)
{
    s = skip_ws(s);
    if (*s++ != '[')
        return -1;
    int n = 0;
    s = skip_ws(s);
    if (*s == ']')
        return 0;
    for (;;) {
        char tmp[64];
        s = parse_string(skip_ws(s), tmp, sizeof tmp);
        if (!s || n >= max)
            return -1;
        memcpy(out[n++], tmp, sizeof tmp);
        s = skip_ws(s);
        if (*s == ']')
            return n;
        if (*s++ != ',')
            return -1;
    }
}

static int parse_number_array(const char *s, float *out, int max)
{
    s = skip_ws(s);
    if (*s++ != '[')
        return -1;
    int n = 0;
    s = skip_ws(s);
    if (*s == ']')
        return 0;
    for (;;) {
        char *end;
        double v = strtod(skip_ws(s), &end);
        if (end == skip_ws(s) || n >= max)
            return -1;
        out[n++] = (float)v;
        s = skip_ws(end);
        if (*s == ']')
            return n;
        if (*s++ != ',')
            return -1;
    }
}

/* Finds "key": in a flat object and returns a pointer to its value. */
static const char *find_key(const char *json, const char *key)
{
    size_t kl = strlen(key);
    const char *s = json;
    while ((s = strchr(s, '"'))) {
        if (!strncmp(s + 1, key, kl) && s[1 + kl] == '"') {
            const char *v = skip_ws(s + 2 + kl);
            if (*v == ':')
                return skip_ws(v + 1);
        }
        s++;
    }
    return NULL;
}

unet_status unet_model_read_meta(const unet_model *model, unet_model_meta *out)
{
    memset(out, 0, sizeof *out);
    out->input.scale = 1.0f / 255.0f;
    for (int c = 0; c < 4; c++)
        out->input.std[c] = 1.0f;
    out->ignore_label = UNET_IGNORE_LABEL;

    const char *in = unet_model_metadata(model, "unet.input");
    if (in) {
        out->has_input = 1;
        const char *v = find_key(in, "layout");
        if (v) {
            char layout[16];
            if (!parse_string(v, layout, sizeof layout))
                return unet_set_error(UNET_ERR_INVALID, "metadata unet.input: layout is not a string");
            if (!strcmp(layout, "NHWC"))
                out->input.nhwc = 1;
            else if (strcmp(layout, "NCHW"))
                return unet_set_error(UNET_ERR_INVALID, "metadata unet.input: layout '%s' is neither NCHW nor NHWC", layout);
        }
        if ((v = find_key(in, "scale"))) {
            char *end;
            out->input.scale = strtof(v, &end);
            if (end == v)
                return unet_set_error(UNET_ERR_INVALID, "metadata unet.input: scale is not a number");
        }
        if ((v = find_key(in, "mean")) && parse_number_array(v, out->input.mean, 4) < 0)
            return unet_set_error(UNET_ERR_INVALID, "metadata unet.input: mean is not an array of up to 4 numbers");
        if ((v = find_key(in, "std"))) {
            if (parse_number_array(v, out->input.std, 4) < 0)
                return unet_set_error(UNET_ERR_INVALID, "metadata unet.input: std is not an array of up to 4 numbers");
            for (int c = 0; c < 4; c++)
                if (out->input.std[c] == 0.0f)
                    out->input.std[c] = 1.0f;
        }
    }
    const char *names = unet_model_metadata(model, "unet.classes");
    if (names) {
        int n = parse_string_array(names, out->names, UNET_META_MAX_CLASSES);
        if (n < 0)
            return unet_set_error(UNET_ERR_INVALID, "metadata unet.classes is not a JSON array of at most %d strings", UNET_META_MAX_CLASSES);
        out->n_classes = n;
        out->has_names = 1;
    }
    const char *colors = unet_model_metadata(model, "unet.colors");
    if (colors) {
        char hexes[UNET_META_MAX_CLASSES][64];
        int n = parse_string_array(colors, hexes, UNET_META_MAX_CLASSES);
        if (n < 0)
            return unet_set_error(UNET_ERR_INVALID, "metadata unet.colors is not a JSON array of \"#RRGGBB\" strings");
        for (int i = 0; i < n; i++)
            if (unet_parse_hex_color(hexes[i], strlen(hexes[i]), out->colors[i]) != UNET_OK)
                return unet_set_error(UNET_ERR_INVALID, "metadata unet.colors[%d] = '%s' is not #RRGGBB", i, hexes[i]);
        if (out->n_classes && n != out->n_classes)
            return unet_set_error(UNET_ERR_INVALID, "metadata has %d class names but %d colours", out->n_classes, n);
        out->n_classes = n;
        out->has_colors = 1;
    }
    const char *ig = unet_model_metadata(model, "unet.ignore_label");
    if (ig) {
        char *end;
        long v = strtol(ig, &end, 10);
        if (end == ig || v < 0 || v > 255)
            return unet_set_error(UNET_ERR_INVALID, "metadata unet.ignore_label '%s' is not 0..255", ig);
        out->ignore_label = (int)v;
    }
    if (!out->has_colors) {
        unet_palette pal;
        unet_palette_default(&pal);
        for (int i = 0; i < pal.n_classes; i++)
            memcpy(out->colors[i], pal.classes[i].rgb, 3);
        if (!out->has_names) {
            for (int i = 0; i < pal.n_classes; i++)
                memcpy(out->names[i], pal.classes[i].name, sizeof out->names[i]);
            out->n_classes = 0; /* unknown: the model's output decides */
        }
    }
    return UNET_OK;
}
