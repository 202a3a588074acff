/* Class palettes: class ids, names and mask colours, the classes.tsv file that
 * carries them, and the mapping from colour-coded masks to class-id masks.
 *
 * classes.tsv holds one class per line, `ID<TAB>NAME<TAB>#RRGGBB`. Ids must be
 * 0..n-1 (each once, any order), since a model's output channel c is class c;
 * names and colours must be unique. Empty lines and lines starting with '#'
 * are skipped; CRLF line ends are accepted.
 *
 * Ignore colours are mask colours that mean "not annotated": pixels of those
 * colours become UNET_IGNORE_LABEL and are left out of loss and metrics. They
 * are not part of classes.tsv; the default palette has black (#000000), which
 * marks unannotated pixels in the Dubai aerial data set.
 *
 * Thread safety: all calls are reentrant; a palette may be read from several
 * threads at once.
 */
#ifndef UNET_PALETTE_H
#define UNET_PALETTE_H

#include <stddef.h>
#include <stdint.h>
#include <unet/image.h>
#include <unet/unet.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The label of pixels excluded from loss and metrics in index masks. */
#define UNET_IGNORE_LABEL 255
/* Class ids are 0..254, 255 being the ignore label. */
#define UNET_PALETTE_MAX_CLASSES 255
#define UNET_PALETTE_MAX_IGNORE 16
#define UNET_PALETTE_NAME_MAX 64 /* bytes, terminating NUL included */

typedef struct unet_class {
    char name[UNET_PALETTE_NAME_MAX];
    uint8_t rgb[3];
} unet_class;

typedef struct unet_palette {
    int n_classes;                              /* classes[id] for id < n_classes */
    unet_class classes[UNET_PALETTE_MAX_CLASSES];
    int n_ignore;
    uint8_t ignore_rgb[UNET_PALETTE_MAX_IGNORE][3];
} unet_palette;

/* The Dubai aerial data set's palette: 0 Building #3C1098, 1 Land #8429F6,
 * 2 Road #6EC1E4, 3 Vegetation #FEDD3A, 4 Water #E2A929, 5 Unlabeled #9B9B9B;
 * ignore colour black #000000. */
void unet_palette_default(unet_palette *p);

/* Parses classes.tsv text (len bytes, need not be NUL-terminated). name is used
 * in messages ("classes.tsv line 3: ..."). The result has no ignore colours;
 * add them with unet_palette_add_ignore. */
unet_status unet_palette_parse(const char *text, size_t len, const char *name,
                               unet_palette *out);
unet_status unet_palette_read(const char *path, unet_palette *out);
/* Formats the classes as classes.tsv text into buf (NUL-terminated); *needed
 * gets the size required including the NUL (may be NULL). UNET_ERR_LIMIT when
 * buf is too small. */
unet_status unet_palette_format(const unet_palette *p, char *buf, size_t buf_size,
                                size_t *needed);
/* Writes classes.tsv atomically (temporary file in the same folder + rename). */
unet_status unet_palette_write(const unet_palette *p, const char *path);

/* Adds a colour that maps to UNET_IGNORE_LABEL; a colour that is also a class
 * colour is refused (UNET_ERR_ARG). Adding one already present does nothing. */
unet_status unet_palette_add_ignore(unet_palette *p, const uint8_t rgb[3]);
void unet_palette_clear_ignore(unet_palette *p);
/* Replaces the ignore colours with a list: "none", or "#RRGGBB" items
 * separated by commas (spaces around items and empty items allowed), as
 * the programs' --ignore-colors takes it. The message names the bad item. */
unet_status unet_palette_set_ignore_list(unet_palette *p, const char *list);

/* "#RRGGBB" (or "RRGGBB") -> rgb; UNET_ERR_PARSE (no message) when malformed. */
unet_status unet_parse_hex_color(const char *s, size_t len, uint8_t rgb[3]);
/* rgb -> "#RRGGBB" into buf[8]. */
void unet_format_hex_color(const uint8_t rgb[3], char buf[8]);

/* The class of a colour: its id, UNET_IGNORE_LABEL for an ignore colour, or -1
 * when the palette does not know the colour. Linear search; for whole images
 * use unet_palette_map_rgb. */
int unet_palette_lookup(const unet_palette *p, uint8_t r, uint8_t g, uint8_t b);

/* The 256-entry PNG palette of index masks: entry id = class colour, other
 * entries (the ignore label included) black. */
void unet_palette_png_colors(const unet_palette *p, uint8_t rgb[256 * 3]);

typedef enum unet_unknown_color_policy {
    UNET_UNKNOWN_COLOR_ERROR = 0,  /* fail, naming file, colour and first pixel */
    UNET_UNKNOWN_COLOR_IGNORE = 1  /* map to UNET_IGNORE_LABEL and count */
} unet_unknown_color_policy;

/* Unknown colours met while mapping a mask. */
typedef struct unet_unknown_colors {
    uint64_t count;        /* pixels of colours the palette does not know */
    int first_x, first_y;  /* the first such pixel in row-major order, -1 if none */
    uint8_t first_rgb[3];
} unet_unknown_colors;

/* Maps a 3-channel colour mask to class ids: out gets width * height bytes.
 * name is the mask's file name for messages. Under UNET_UNKNOWN_COLOR_ERROR
 * the first unknown colour fails the call (UNET_ERR_INVALID; the message names
 * file, colour and pixel). unknown (may be NULL) gets what was met. */
unet_status unet_palette_map_rgb(const unet_palette *p, const unet_image *mask,
                                 const char *name, unet_unknown_color_policy policy,
                                 uint8_t *out, unet_unknown_colors *unknown);

#ifdef __cplusplus
}
#endif
#endif
