/* PNG through libpng: decoding any colour type and bit depth to 8-bit pixels,
 * atomic writing of 8-bit and palette images with tEXt chunks, and a chunk
 * walk that reads one tEXt value.
 *
 * libpng reports errors by longjmp. Each setjmp sits in a tiny function with no
 * locals of its own ("*_guarded"); everything that must survive the jump lives
 * in a context struct owned by the caller, which also frees it. */
/* O_TMPFILE (Linux) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "image_codecs.h"

/* ---- errors shared by reading and writing ---- */

typedef struct png_err {
    char msg[256];          /* why libpng stopped */
    unet_status status;     /* status to report for it */
} png_err;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_err *e = png_get_error_ptr(png);
    /* Our own I/O callbacks fill msg before calling png_error; keep theirs. */
    if (e->msg[0] == '\0')
        snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}

/* Warnings (bad ancillary chunks, sRGB profile quirks) do not affect pixels. */
static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* ---- reading ---- */

typedef struct png_reader {
    png_err err;            /* first member: it is the libpng error pointer */
    const unet_image_source *src;
    size_t pos;             /* next byte of a memory source */
    int palette_index;
    png_structp png;
    png_infop info;
    uint8_t *pixels;
    png_bytep *rows;
    int width, height, channels;
} png_reader;

static void read_source(png_structp png, png_bytep out, size_t n)
{
    png_reader *r = png_get_io_ptr(png);
    if (r->src->file) {
        size_t got = fread(out, 1, n, r->src->file);
        if (got == n)
            return;
        if (ferror(r->src->file)) {
            snprintf(r->err.msg, sizeof r->err.msg, "read error: %s", strerror(errno));
            r->err.status = UNET_ERR_IO;
        } else {
            snprintf(r->err.msg, sizeof r->err.msg, "file ends early (truncated)");
        }
        png_error(png, r->err.msg);
    }
    if (n > r->src->size - r->pos) {
        snprintf(r->err.msg, sizeof r->err.msg, "data ends early (truncated)");
        png_error(png, r->err.msg);
    }
    memcpy(out, r->src->data + r->pos, n);
    r->pos += n;
}

/* From png_read_info to png_read_update_info: the transforms that give 8-bit
 * samples, and the size checks. Returns a status of its own for limits;
 * libpng's errors leave through the longjmp. */
static unet_status header_steps(png_reader *r, size_t *bytes_out, int *interlaced)
{
    png_structp png = r->png;
    png_infop info = r->info;
    const char *name = r->src->name;

    /* libpng's own caps (1e6 per side) would give a vaguer message than ours. */
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    /* libpng allocates a buffer of the declared length for text and other
     * metadata chunks before reading them: a 100-byte file declaring a 2 GB
     * tEXt chunk made it allocate 2 GB (found by fuzz_png; the chunk malloc
     * cap did not apply). Pixels need none of them, so all ancillary chunks
     * but tRNS are skipped unread (-1 means exactly that list). */
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_read_info(png, info);
    png_uint_32 width, height;
    int depth, color_type, interlace;
    png_get_IHDR(png, info, &width, &height, &depth, &color_type, &interlace, NULL, NULL);

    /* png_read_update_info allocates row buffers: check the size before it. */
    size_t bytes;
    UNET_TRY(unet_image_check_size(name, width, height, 1, &bytes));

    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        if (r->palette_index) {
            if (depth < 8)
                png_set_packing(png); /* one index per byte, values unchanged */
        } else {
            png_set_palette_to_rgb(png); /* also turns tRNS into an alpha channel */
        }
    } else if (depth < 8) {
        png_set_expand_gray_1_2_4_to_8(png); /* scaled to 0..255 */
    }
    /* A tRNS colour key on gray/RGB images is not turned into alpha: the
     * channel count then follows the colour type alone. */
    if (depth == 16)
        png_set_scale_16(png); /* rounds v * 255 / 65535 */
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    UNET_TRY(unet_image_check_size(name, width, height, channels, &bytes));
    if (png_get_bit_depth(png, info) != 8 || png_get_rowbytes(png, info) != (size_t)width * channels)
        return unet_set_error(UNET_ERR_UNSUPPORTED,
                              "%s: PNG colour type %d, bit depth %d did not convert to 8-bit samples",
                              name, color_type, depth);
    r->width = (int)width;
    r->height = (int)height;
    r->channels = channels;
    *bytes_out = bytes;
    *interlaced = interlace != PNG_INTERLACE_NONE;
    return UNET_OK;
}

/* Decodes every row into r->pixels, then reads to IEND (a cut-off file is an
 * error). */
static unet_status rows_whole_steps(png_reader *r, size_t bytes)
{
    r->pixels = malloc(bytes);
    r->rows = malloc((size_t)r->height * sizeof *r->rows);
    if (!r->pixels || !r->rows)
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory for a %dx%d image", r->src->name, r->width,
                              r->height);
    for (int y = 0; y < r->height; y++)
        r->rows[y] = r->pixels + (size_t)y * r->width * r->channels;
    png_read_image(r->png, r->rows);
    png_read_end(r->png, NULL);
    return UNET_OK;
}

/* Everything between png_read_info and png_read_end. */
static unet_status read_steps(png_reader *r)
{
    size_t bytes;
    int interlaced;
    UNET_TRY(header_steps(r, &bytes, &interlaced));
    return rows_whole_steps(r, bytes);
}

static unet_status read_guarded(png_reader *r)
{
    if (setjmp(png_jmpbuf(r->png)))
        return r->err.status;
    return read_steps(r);
}

/* Creates the libpng structs of r (set up by the caller). */
static unet_status create_decoder(png_reader *r)
{
    r->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r->err, on_png_error, on_png_warning);
    if (r->png)
        r->info = png_create_info_struct(r->png);
    if (!r->png || !r->info) {
        png_destroy_read_struct(r->png ? &r->png : NULL, NULL, NULL);
        r->png = NULL;
        return unet_set_error(UNET_ERR_NOMEM, "%s: cannot create PNG decoder", r->src->name);
    }
    png_set_read_fn(r->png, r, read_source);
    return UNET_OK;
}

unet_status unet_png_decode(const unet_image_source *src, int palette_index, unet_image *out)
{
    memset(out, 0, sizeof *out);
    png_reader r = {.err = {.status = UNET_ERR_PARSE}, .src = src, .palette_index = palette_index};
    UNET_TRY(create_decoder(&r));

    unet_status s = read_guarded(&r);
    if (s == UNET_OK) {
        out->width = r.width;
        out->height = r.height;
        out->channels = r.channels;
        out->pixels = r.pixels;
        r.pixels = NULL;
    } else if (r.err.msg[0]) {
        unet_set_error(s, "%s: cannot decode PNG: %s", src->name, r.err.msg);
    }
    png_destroy_read_struct(&r.png, &r.info, NULL);
    free(r.rows);
    free(r.pixels);
    return s;
}

/* ---- row by row: png_read_row for plain files; interlaced ones (whose
 * passes each cover the whole image) are decoded whole behind the same calls */

struct unet_png_rows {
    png_reader r;
    int interlaced;
    int next_row;
};

static unet_status rows_header_guarded(unet_png_rows *p, size_t *bytes)
{
    if (setjmp(png_jmpbuf(p->r.png)))
        return p->r.err.status;
    return header_steps(&p->r, bytes, &p->interlaced);
}

static unet_status rows_whole_guarded(png_reader *r, size_t bytes)
{
    if (setjmp(png_jmpbuf(r->png)))
        return r->err.status;
    return rows_whole_steps(r, bytes);
}

static void rows_steps(unet_png_rows *p, uint8_t *rows, int n_rows)
{
    png_reader *r = &p->r;
    size_t stride = (size_t)r->width * (size_t)r->channels;
    for (int i = 0; i < n_rows; i++)
        png_read_row(r->png, rows + (size_t)i * stride, NULL);
    if (p->next_row + n_rows == r->height)
        png_read_end(r->png, NULL); /* reaches IEND: a cut-off file is an error */
}

static unet_status rows_guarded(unet_png_rows *p, uint8_t *rows, int n_rows)
{
    if (setjmp(png_jmpbuf(p->r.png)))
        return p->r.err.status;
    rows_steps(p, rows, n_rows);
    return UNET_OK;
}

unet_status unet_png_rows_open(const unet_image_source *src, int palette_index, unet_png_rows **out, int *width,
                               int *height, int *channels)
{
    *out = NULL;
    unet_png_rows *p = calloc(1, sizeof *p);
    if (!p)
        return unet_set_error(UNET_ERR_NOMEM, "%s: cannot create PNG decoder", src->name);
    p->r.err.status = UNET_ERR_PARSE;
    p->r.src = src;
    p->r.palette_index = palette_index;
    unet_status s = create_decoder(&p->r);
    size_t bytes = 0;
    if (s == UNET_OK && (s = rows_header_guarded(p, &bytes)) != UNET_OK && p->r.err.msg[0])
        unet_set_error(s, "%s: cannot decode PNG: %s", src->name, p->r.err.msg);
    if (s == UNET_OK && p->interlaced && (s = rows_whole_guarded(&p->r, bytes)) != UNET_OK && p->r.err.msg[0])
        unet_set_error(s, "%s: cannot decode PNG: %s", src->name, p->r.err.msg);
    if (s != UNET_OK) {
        unet_png_rows_close(p);
        return s;
    }
    *width = p->r.width;
    *height = p->r.height;
    *channels = p->r.channels;
    *out = p;
    return UNET_OK;
}

unet_status unet_png_rows_read(unet_png_rows *p, uint8_t *rows, int n_rows)
{
    png_reader *r = &p->r;
    if (n_rows < 0 || n_rows > r->height - p->next_row)
        return unet_set_error(UNET_ERR_ARG, "%s: %d rows asked for, %d of %d left", r->src->name, n_rows,
                              r->height - p->next_row, r->height);
    if (p->interlaced) {
        size_t stride = (size_t)r->width * (size_t)r->channels;
        memcpy(rows, r->pixels + (size_t)p->next_row * stride, (size_t)n_rows * stride);
    } else {
        unet_status s = rows_guarded(p, rows, n_rows);
        if (s != UNET_OK)
            return unet_set_error(s, "%s: cannot decode PNG: %s", r->src->name, r->err.msg);
    }
    p->next_row += n_rows;
    return UNET_OK;
}

void unet_png_rows_close(unet_png_rows *p)
{
    if (!p)
        return;
    if (p->r.png)
        png_destroy_read_struct(&p->r.png, &p->r.info, NULL);
    free(p->r.rows);
    free(p->r.pixels);
    free(p);
}

/* ---- writing ---- */

typedef struct png_writer {
    png_err err;            /* first member: it is the libpng error pointer */
    FILE *file;
    png_structp png;
    png_infop info;
    int width, height, color_type;
    png_bytep *rows;
    png_color *palette;
    int n_colors;
    png_text *texts;
    int n_texts;
} png_writer;

static void write_file(png_structp png, png_bytep data, size_t n)
{
    png_writer *w = png_get_io_ptr(png);
    if (fwrite(data, 1, n, w->file) != n) {
        snprintf(w->err.msg, sizeof w->err.msg, "write error: %s", strerror(errno));
        png_error(png, w->err.msg);
    }
}

static void flush_nothing(png_structp png) { (void)png; }

static void write_steps(png_writer *w)
{
    png_set_IHDR(w->png, w->info, (png_uint_32)w->width, (png_uint_32)w->height, 8, w->color_type,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (w->palette)
        png_set_PLTE(w->png, w->info, w->palette, w->n_colors);
    if (w->n_texts > 0)
        png_set_text(w->png, w->info, w->texts, w->n_texts);
    png_write_info(w->png, w->info); /* tEXt goes before IDAT, cheap to find */
    png_write_image(w->png, w->rows);
    png_write_end(w->png, NULL);
}

static unet_status write_guarded(png_writer *w)
{
    if (setjmp(png_jmpbuf(w->png)))
        return w->err.status;
    write_steps(w);
    return UNET_OK;
}

static unet_status encode(png_writer *w, const char *path)
{
    w->err.status = UNET_ERR_IO;
    w->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &w->err, on_png_error, on_png_warning);
    if (w->png)
        w->info = png_create_info_struct(w->png);
    if (!w->png || !w->info) {
        png_destroy_write_struct(w->png ? &w->png : NULL, NULL);
        return unet_set_error(UNET_ERR_NOMEM, "%s: cannot create PNG encoder", path);
    }
    png_set_write_fn(w->png, w, write_file, flush_nothing);
    unet_status s = write_guarded(w);
    if (s != UNET_OK)
        unet_set_error(s, "%s: writing PNG: %s", path, w->err.msg);
    png_destroy_write_struct(&w->png, &w->info);
    return s;
}

static atomic_uint temp_counter;

/* An unnamed file in path's folder (O_TMPFILE), or -1 where the system, the
 * file system or a missing /proc (needed to name it later) rules it out. */
static int open_unnamed(const char *path)
{
#ifdef O_TMPFILE
    if (access("/proc/self/fd", X_OK) != 0)
        return -1;
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    char *dir = malloc(n + 2);
    if (!dir)
        return -1;
    if (!slash)
        strcpy(dir, ".");
    else if (n == 0)
        strcpy(dir, "/");
    else {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    free(dir);
    return fd;
#else
    (void)path;
    return -1;
#endif
}

/* Gives the complete unnamed file fd its name: linked straight to path when
 * path is new, else linked to tmp and renamed over path. */
static int name_unnamed(int fd, const char *path, const char *tmp)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
        return 0;
    if (errno != EEXIST || linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) != 0)
        return -1;
    if (rename(tmp, path) == 0)
        return 0;
    int e = errno;
    unlink(tmp);
    errno = e;
    return -1;
}

/* Writes the PNG so that readers never see half a file and a process killed
 * at any point leaves no temporary file behind: it is encoded into an unnamed
 * file in the same folder (O_TMPFILE), synced, and only then given its name
 * (a SIGKILL during unet-infer used to leave PATH.tmp.* files). Where
 * O_TMPFILE is not available, PATH.tmp.<pid>.<n> is written, synced and
 * renamed over path, and removed on every failure. */
static unet_status write_atomically(const char *path, png_writer *w)
{
    size_t len = strlen(path) + 64;
    char *tmp = malloc(len);
    if (!tmp)
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, len, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&temp_counter, 1));

    int fd = open_unnamed(path);
    int unnamed = fd >= 0;
    if (!unnamed)
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        unet_status s = unet_set_error(UNET_ERR_IO, "%s: cannot create temporary file %s: %s", path,
                                       tmp, strerror(errno));
        free(tmp);
        return s;
    }
    w->file = fdopen(fd, "wb");
    unet_status s = UNET_OK;
    int in_place = 0;
    if (!w->file) {
        s = unet_set_error(UNET_ERR_IO, "%s: fdopen: %s", tmp, strerror(errno));
        close(fd);
    } else {
        s = encode(w, path);
        if (s == UNET_OK && (fflush(w->file) != 0 || fsync(fileno(w->file)) != 0))
            s = unet_set_error(UNET_ERR_IO, "%s: cannot write %s: %s", path, unnamed ? "the file" : tmp,
                               strerror(errno));
        if (s == UNET_OK && unnamed) {
            if (name_unnamed(fileno(w->file), path, tmp) != 0)
                s = unet_set_error(UNET_ERR_IO, "%s: cannot link the written file into place: %s", path,
                                   strerror(errno));
            in_place = s == UNET_OK;
        }
        /* Once in place the data is synced: a close error cannot lose it. */
        if (fclose(w->file) != 0 && s == UNET_OK && !in_place)
            s = unet_set_error(UNET_ERR_IO, "%s: cannot close %s: %s", path, tmp, strerror(errno));
        w->file = NULL;
    }
    if (s == UNET_OK && !unnamed && rename(tmp, path) != 0)
        s = unet_set_error(UNET_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp,
                           strerror(errno));
    if (s != UNET_OK && !unnamed)
        unlink(tmp);
    free(tmp);
    return s;
}

/* PNG keywords: 1-79 printable Latin-1 characters. */
static unet_status check_texts(const char *path, const unet_png_text *texts, int n_texts)
{
    if (n_texts < 0 || (n_texts > 0 && !texts))
        return unet_set_error(UNET_ERR_ARG, "%s: bad tEXt list (%d entries)", path, n_texts);
    for (int i = 0; i < n_texts; i++) {
        const char *key = texts[i].key;
        size_t n = key ? strlen(key) : 0;
        if (n < 1 || n > 79)
            return unet_set_error(UNET_ERR_ARG, "%s: tEXt keyword %d must be 1 to 79 characters", path, i);
        for (size_t j = 0; j < n; j++) {
            unsigned char ch = (unsigned char)key[j];
            if (ch < 32 || (ch > 126 && ch < 161))
                return unet_set_error(UNET_ERR_ARG, "%s: tEXt keyword \"%s\" has a non-printable character",
                                      path, key);
        }
        if (!texts[i].value)
            return unet_set_error(UNET_ERR_ARG, "%s: tEXt \"%s\" has no value", path, key);
    }
    return UNET_OK;
}

/* Fills the row and text tables (libpng wants non-const pointers; it only reads). */
static unet_status prepare(const char *path, png_writer *w, const uint8_t *pixels, size_t row_bytes,
                           const unet_png_text *texts, int n_texts)
{
    w->rows = malloc((size_t)w->height * sizeof *w->rows);
    w->texts = n_texts > 0 ? calloc((size_t)n_texts, sizeof *w->texts) : NULL;
    if (!w->rows || (n_texts > 0 && !w->texts))
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
    for (int y = 0; y < w->height; y++)
        w->rows[y] = (png_bytep)(uintptr_t)(pixels + (size_t)y * row_bytes);
    for (int i = 0; i < n_texts; i++) {
        w->texts[i].compression = PNG_TEXT_COMPRESSION_NONE;
        w->texts[i].key = (png_charp)(uintptr_t)texts[i].key;
        w->texts[i].text = (png_charp)(uintptr_t)texts[i].value;
        w->texts[i].text_length = strlen(texts[i].value);
    }
    w->n_texts = n_texts;
    return UNET_OK;
}

static void release(png_writer *w)
{
    free(w->rows);
    free(w->texts);
    free(w->palette);
}

static unet_status check_size_for_write(const char *path, int width, int height)
{
    if (width < 1 || height < 1)
        return unet_set_error(UNET_ERR_ARG, "%s: cannot write a %dx%d image", path, width, height);
    if ((uint64_t)width * (uint64_t)height > SIZE_MAX / 4)
        return unet_set_error(UNET_ERR_LIMIT, "%s: %dx%d image is too large", path, width, height);
    return UNET_OK;
}

unet_status unet_png_write(const char *path, const unet_image *img, const unet_png_text *texts,
                           int n_texts)
{
    static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                       PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    if (!path || !img)
        return unet_set_error(UNET_ERR_ARG, "unet_png_write: %s is NULL", path ? "image" : "path");
    UNET_TRY(check_size_for_write(path, img->width, img->height));
    if (img->channels < 1 || img->channels > 4 || !img->pixels)
        return unet_set_error(UNET_ERR_ARG, "%s: cannot write an image with %d channels%s", path,
                              img->channels, img->pixels ? "" : " and no pixels");
    UNET_TRY(check_texts(path, texts, n_texts));

    png_writer w = {.width = img->width, .height = img->height,
                    .color_type = color_types[img->channels]};
    unet_status s = prepare(path, &w, img->pixels, (size_t)img->width * (size_t)img->channels,
                            texts, n_texts);
    if (s == UNET_OK)
        s = write_atomically(path, &w);
    release(&w);
    return s;
}

unet_status unet_png_encode_memory(const unet_image *img, void **data, size_t *size)
{
    static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                       PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    const char *what = "PNG in memory";
    if (!img || !data || !size)
        return unet_set_error(UNET_ERR_ARG, "unet_png_encode_memory: %s is NULL",
                              !img ? "image" : "output");
    *data = NULL;
    *size = 0;
    UNET_TRY(check_size_for_write(what, img->width, img->height));
    if (img->channels < 1 || img->channels > 4 || !img->pixels)
        return unet_set_error(UNET_ERR_ARG, "%s: cannot encode an image with %d channels%s", what,
                              img->channels, img->pixels ? "" : " and no pixels");
    png_writer w = {.width = img->width, .height = img->height,
                    .color_type = color_types[img->channels]};
    unet_status s = prepare(what, &w, img->pixels, (size_t)img->width * (size_t)img->channels, NULL, 0);
    char *buf = NULL;
    size_t len = 0;
    /* The file writer's fwrite path, into a growing buffer: one encoder for both. */
    if (s == UNET_OK && !(w.file = open_memstream(&buf, &len)))
        s = unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", what);
    if (s == UNET_OK)
        s = encode(&w, what);
    if (w.file && fclose(w.file) != 0 && s == UNET_OK)
        s = unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", what);
    release(&w);
    if (s != UNET_OK) {
        free(buf);
        return s;
    }
    *data = buf;
    *size = len;
    return UNET_OK;
}

unet_status unet_png_write_indexed(const char *path, int width, int height, const uint8_t *indices,
                                   const uint8_t *palette_rgb, int n_colors,
                                   const unet_png_text *texts, int n_texts)
{
    if (!path)
        return unet_set_error(UNET_ERR_ARG, "unet_png_write_indexed: path is NULL");
    UNET_TRY(check_size_for_write(path, width, height));
    if (!indices || !palette_rgb || n_colors < 1 || n_colors > 256)
        return unet_set_error(UNET_ERR_ARG, "%s: palette PNG needs indices and 1 to 256 colours (got %d)",
                              path, n_colors);
    UNET_TRY(check_texts(path, texts, n_texts));
    /* An index past the palette makes a PNG that decoders reject or misread. */
    size_t n = (size_t)width * (size_t)height;
    for (size_t i = 0; i < n; i++)
        if (indices[i] >= n_colors)
            return unet_set_error(UNET_ERR_ARG, "%s: pixel (%zu, %zu) has index %d, palette has %d colours",
                                  path, i % (size_t)width, i / (size_t)width, indices[i], n_colors);

    png_writer w = {.width = width, .height = height, .color_type = PNG_COLOR_TYPE_PALETTE,
                    .n_colors = n_colors};
    unet_status s = prepare(path, &w, indices, (size_t)width, texts, n_texts);
    if (s == UNET_OK) {
        w.palette = malloc((size_t)n_colors * sizeof *w.palette);
        if (!w.palette)
            s = unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
    }
    if (s == UNET_OK) {
        for (int i = 0; i < n_colors; i++) {
            w.palette[i].red = palette_rgb[3 * i];
            w.palette[i].green = palette_rgb[3 * i + 1];
            w.palette[i].blue = palette_rgb[3 * i + 2];
        }
        s = write_atomically(path, &w);
    }
    release(&w);
    return s;
}

/* ---- tEXt lookup: a plain chunk walk, so text after IDAT is found without
 * decoding any pixels ---- */

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unet_status find_text(FILE *f, const char *path, const char *key, char *buf, size_t buf_size)
{
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t head[80];
    size_t key_len = strlen(key);
    if (fread(head, 1, 8, f) != 8 || memcmp(head, signature, 8) != 0)
        return unet_set_error(UNET_ERR_PARSE, "%s: not a PNG file", path);
    for (;;) {
        if (fread(head, 1, 8, f) != 8)
            return unet_set_error(UNET_ERR_PARSE, "%s: PNG ends before IEND (truncated)", path);
        uint32_t len = be32(head);
        if (len > PNG_UINT_31_MAX)
            return unet_set_error(UNET_ERR_PARSE, "%s: PNG chunk length %lu is invalid", path,
                                  (unsigned long)len);
        if (memcmp(head + 4, "IEND", 4) == 0)
            return UNET_OK;
        if (memcmp(head + 4, "tEXt", 4) == 0 && len > key_len) {
            uint32_t crc = crc32_update(0, head + 4, 4);
            if (fread(head, 1, key_len + 1, f) != key_len + 1)
                return unet_set_error(UNET_ERR_PARSE, "%s: PNG ends inside a tEXt chunk", path);
            crc = crc32_update(crc, head, key_len + 1);
            len -= (uint32_t)(key_len + 1);
            if (memcmp(head, key, key_len) == 0 && head[key_len] == '\0') {
                if (len > buf_size - 1)
                    return unet_set_error(UNET_ERR_LIMIT, "%s: tEXt \"%s\" holds %lu bytes, buffer has room for %zu",
                                          path, key, (unsigned long)len, buf_size - 1);
                uint8_t stored[4];
                if (fread(buf, 1, len, f) != len || fread(stored, 1, 4, f) != 4) {
                    buf[0] = '\0';
                    return unet_set_error(UNET_ERR_PARSE, "%s: PNG ends inside a tEXt chunk", path);
                }
                if (crc32_update(crc, (const uint8_t *)buf, len) != be32(stored)) {
                    buf[0] = '\0';
                    return unet_set_error(UNET_ERR_PARSE, "%s: tEXt \"%s\" has a bad CRC", path, key);
                }
                buf[len] = '\0';
                return UNET_OK;
            }
        }
        if (fseek(f, (long)len + 4, SEEK_CUR) != 0)
            return unet_set_error(UNET_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    }
}

unet_status unet_png_read_text(const char *path, const char *key, char *buf, size_t buf_size)
{
    if (!path || !key || !buf || buf_size == 0)
        return unet_set_error(UNET_ERR_ARG, "unet_png_read_text: NULL argument or empty buffer");
    buf[0] = '\0';
    size_t key_len = strlen(key);
    if (key_len < 1 || key_len > 79)
        return unet_set_error(UNET_ERR_ARG, "%s: tEXt keyword must be 1 to 79 characters", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return unet_set_error(UNET_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unet_status s = find_text(f, path, key, buf, buf_size);
    fclose(f);
    return s;
}

/* ---- streaming writer: rows go out as the caller makes them, so an image
 * larger than memory can be written; the file still appears atomically ---- */

struct unet_png_writer {
    png_err err;            /* first member: it is the libpng error pointer */
    FILE *file;
    png_structp png;
    png_infop info;
    char *path, *tmp;
    int width, height, channels, n_colors;
    int rows_done;
    int broken;             /* a call failed: the file can only be discarded */
};

static void stream_write_file(png_structp png, png_bytep data, size_t n)
{
    unet_png_writer *w = png_get_io_ptr(png);
    if (fwrite(data, 1, n, w->file) != n) {
        snprintf(w->err.msg, sizeof w->err.msg, "write error: %s", strerror(errno));
        png_error(png, w->err.msg);
    }
}

typedef struct stream_header {
    const uint8_t *palette_rgb;
    const unet_png_text *texts;
    int n_texts;
} stream_header;

/* libpng copies palette and text into its info struct, so the caller's
 * arrays need not outlive the open call. */
static void stream_header_steps(unet_png_writer *w, const stream_header *h)
{
    static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                       PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    int color_type = h->palette_rgb ? PNG_COLOR_TYPE_PALETTE : color_types[w->channels];
    png_set_IHDR(w->png, w->info, (png_uint_32)w->width, (png_uint_32)w->height, 8, color_type,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (h->palette_rgb) {
        png_color palette[256];
        for (int i = 0; i < w->n_colors; i++) {
            palette[i].red = h->palette_rgb[3 * i];
            palette[i].green = h->palette_rgb[3 * i + 1];
            palette[i].blue = h->palette_rgb[3 * i + 2];
        }
        png_set_PLTE(w->png, w->info, palette, w->n_colors);
    }
    for (int i = 0; i < h->n_texts; i++) {
        png_text t = {.compression = PNG_TEXT_COMPRESSION_NONE,
                      .key = (png_charp)(uintptr_t)h->texts[i].key,
                      .text = (png_charp)(uintptr_t)h->texts[i].value,
                      .text_length = strlen(h->texts[i].value)};
        png_set_text(w->png, w->info, &t, 1);
    }
    png_write_info(w->png, w->info); /* tEXt goes before IDAT, cheap to find */
}

static unet_status stream_header_guarded(unet_png_writer *w, const stream_header *h)
{
    if (setjmp(png_jmpbuf(w->png)))
        return w->err.status;
    stream_header_steps(w, h);
    return UNET_OK;
}

static void stream_rows_steps(unet_png_writer *w, const uint8_t *rows, int n_rows)
{
    size_t row_bytes = (size_t)w->width * (size_t)w->channels;
    for (int i = 0; i < n_rows; i++)
        png_write_row(w->png, (png_const_bytep)(rows + (size_t)i * row_bytes));
}

static unet_status stream_rows_guarded(unet_png_writer *w, const uint8_t *rows, int n_rows)
{
    if (setjmp(png_jmpbuf(w->png)))
        return w->err.status;
    stream_rows_steps(w, rows, n_rows);
    return UNET_OK;
}

static unet_status stream_end_guarded(unet_png_writer *w)
{
    if (setjmp(png_jmpbuf(w->png)))
        return w->err.status;
    png_write_end(w->png, NULL);
    return UNET_OK;
}

/* Frees everything; removes the temporary file unless it was renamed. */
static void stream_free(unet_png_writer *w, int remove_tmp)
{
    if (w->png)
        png_destroy_write_struct(&w->png, &w->info);
    if (w->file)
        fclose(w->file);
    if (remove_tmp && w->tmp)
        unlink(w->tmp);
    free(w->path);
    free(w->tmp);
    free(w);
}

unet_status unet_png_writer_open(const char *path, int width, int height, int channels,
                                 const uint8_t *palette_rgb, int n_colors,
                                 const unet_png_text *texts, int n_texts, unet_png_writer **out)
{
    if (!out)
        return unet_set_error(UNET_ERR_ARG, "unet_png_writer_open: out is NULL");
    *out = NULL;
    if (!path)
        return unet_set_error(UNET_ERR_ARG, "unet_png_writer_open: path is NULL");
    UNET_TRY(check_size_for_write(path, width, height));
    if (palette_rgb && (channels != 1 || n_colors < 1 || n_colors > 256))
        return unet_set_error(UNET_ERR_ARG,
                              "%s: palette PNG needs 1 channel and 1 to 256 colours (got %d channels, %d colours)",
                              path, channels, n_colors);
    if (channels < 1 || channels > 4)
        return unet_set_error(UNET_ERR_ARG, "%s: cannot write an image with %d channels", path, channels);
    UNET_TRY(check_texts(path, texts, n_texts));

    unet_png_writer *w = calloc(1, sizeof *w);
    size_t len = strlen(path) + 64;
    if (w) {
        w->path = strdup(path);
        w->tmp = malloc(len);
    }
    if (!w || !w->path || !w->tmp) {
        if (w)
            stream_free(w, 0);
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
    }
    w->err.status = UNET_ERR_IO;
    w->width = width;
    w->height = height;
    w->channels = channels;
    w->n_colors = palette_rgb ? n_colors : 0;
    snprintf(w->tmp, len, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&temp_counter, 1));
    int fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        unet_status s = unet_set_error(UNET_ERR_IO, "%s: cannot create temporary file %s: %s", path,
                                       w->tmp, strerror(errno));
        free(w->tmp);
        w->tmp = NULL; /* not ours to remove */
        stream_free(w, 0);
        return s;
    }
    w->file = fdopen(fd, "wb");
    if (!w->file) {
        unet_status s = unet_set_error(UNET_ERR_IO, "%s: fdopen: %s", w->tmp, strerror(errno));
        close(fd);
        stream_free(w, 1);
        return s;
    }
    w->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &w->err, on_png_error, on_png_warning);
    if (w->png)
        w->info = png_create_info_struct(w->png);
    if (!w->png || !w->info) {
        stream_free(w, 1);
        return unet_set_error(UNET_ERR_NOMEM, "%s: cannot create PNG encoder", path);
    }
    png_set_write_fn(w->png, w, stream_write_file, flush_nothing);
    stream_header h = {palette_rgb, texts, n_texts};
    unet_status s = stream_header_guarded(w, &h);
    if (s != UNET_OK) {
        unet_set_error(s, "%s: writing PNG header: %s", path, w->err.msg);
        stream_free(w, 1);
        return s;
    }
    *out = w;
    return UNET_OK;
}

unet_status unet_png_writer_write_rows(unet_png_writer *w, const uint8_t *rows, int n_rows)
{
    if (!w)
        return unet_set_error(UNET_ERR_ARG, "unet_png_writer_write_rows: writer is NULL");
    if (w->broken)
        return unet_set_error(UNET_ERR_ARG, "%s: an earlier write failed; discard the writer", w->path);
    if (n_rows < 0 || (n_rows > 0 && !rows) || n_rows > w->height - w->rows_done)
        return unet_set_error(UNET_ERR_ARG, "%s: %d more rows given, %d of %d rows are left", w->path,
                              n_rows, w->height - w->rows_done, w->height);
    if (w->n_colors > 0) {
        /* An index past the palette makes a PNG that decoders reject or misread. */
        size_t n = (size_t)n_rows * (size_t)w->width;
        for (size_t i = 0; i < n; i++)
            if (rows[i] >= w->n_colors)
                return unet_set_error(UNET_ERR_ARG, "%s: pixel (%zu, %zu) has index %d, palette has %d colours",
                                      w->path, i % (size_t)w->width, w->rows_done + i / (size_t)w->width,
                                      rows[i], w->n_colors);
    }
    unet_status s = stream_rows_guarded(w, rows, n_rows);
    if (s != UNET_OK) {
        w->broken = 1;
        return unet_set_error(s, "%s: writing PNG rows: %s", w->path, w->err.msg);
    }
    w->rows_done += n_rows;
    return UNET_OK;
}

unet_status unet_png_writer_close(unet_png_writer *w)
{
    if (!w)
        return unet_set_error(UNET_ERR_ARG, "unet_png_writer_close: writer is NULL");
    unet_status s = UNET_OK;
    if (w->broken)
        s = unet_set_error(UNET_ERR_ARG, "%s: an earlier write failed; nothing written", w->path);
    else if (w->rows_done != w->height)
        s = unet_set_error(UNET_ERR_ARG, "%s: closed after %d of %d rows; nothing written", w->path,
                           w->rows_done, w->height);
    if (s == UNET_OK && (s = stream_end_guarded(w)) != UNET_OK)
        unet_set_error(s, "%s: finishing PNG: %s", w->path, w->err.msg);
    if (s == UNET_OK && (fflush(w->file) != 0 || fsync(fileno(w->file)) != 0))
        s = unet_set_error(UNET_ERR_IO, "%s: cannot write %s: %s", w->path, w->tmp, strerror(errno));
    int closed = fclose(w->file);
    w->file = NULL;
    if (closed != 0 && s == UNET_OK)
        s = unet_set_error(UNET_ERR_IO, "%s: cannot close %s: %s", w->path, w->tmp, strerror(errno));
    if (s == UNET_OK && rename(w->tmp, w->path) != 0)
        s = unet_set_error(UNET_ERR_IO, "%s: cannot rename %s into place: %s", w->path, w->tmp,
                           strerror(errno));
    stream_free(w, s != UNET_OK);
    return s;
}

void unet_png_writer_discard(unet_png_writer *w)
{
    if (w)
        stream_free(w, 1);
}
