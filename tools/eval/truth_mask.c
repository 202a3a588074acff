/* Ground-truth masks as class ids, band by band; see truth_mask.h. */
#include <stdlib.h>
#include <string.h>

#include <unet/image.h>

#include "error.h"
#include "truth_mask.h"

struct truth_mask {
    char *path;
    const unet_palette *palette;
    unet_image_reader *reader;
    int width, height, channels; /* channels as read: 1-2 ids, 3 colours */
    int rows_read;
    uint8_t *buf;                /* rows as decoded */
    int buf_rows;
    unet_unknown_colors unknown;
};

unet_status truth_mask_open(const char *path, const unet_palette *palette, truth_mask **out)
{
    *out = NULL;
    truth_mask *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) {
        free(m);
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
    }
    m->palette = palette;
    m->unknown.first_x = m->unknown.first_y = -1;
    /* Gray is told from the file's own channels; every other kind is read as RGB. */
    unet_status s = unet_image_reader_open(path, UNET_IMAGE_DEFAULT, &m->reader);
    if (s == UNET_OK) {
        unet_image_reader_size(m->reader, &m->width, &m->height, &m->channels);
        if (m->channels > 2) {
            unet_image_reader_close(m->reader);
            m->reader = NULL;
            s = unet_image_reader_open(path, UNET_IMAGE_FORCE_RGB, &m->reader);
            if (s == UNET_OK)
                unet_image_reader_size(m->reader, &m->width, &m->height, &m->channels);
        }
    }
    if (s == UNET_OK && m->channels > 2 && m->channels != 3)
        s = unet_set_error(UNET_ERR_INVALID, "%s: read with %d channels, expected 3", path, m->channels);
    if (s != UNET_OK) {
        truth_mask_close(m);
        return s;
    }
    *out = m;
    return UNET_OK;
}

void truth_mask_size(const truth_mask *m, int *width, int *height)
{
    *width = m->width;
    *height = m->height;
}

int truth_mask_has_ids(const truth_mask *m) { return m->channels <= 2; }

const unet_unknown_colors *truth_mask_unknown(const truth_mask *m) { return &m->unknown; }

unet_status truth_mask_read_rows(truth_mask *m, uint8_t *ids, int n_rows)
{
    if (n_rows < 1 || n_rows > m->height - m->rows_read)
        return unet_set_error(UNET_ERR_ARG, "%s: rows %d..%d asked for, the mask has %d", m->path, m->rows_read,
                              m->rows_read + n_rows - 1, m->height);
    if (n_rows > m->buf_rows) {
        uint8_t *p = realloc(m->buf, (size_t)n_rows * (size_t)m->width * (size_t)m->channels);
        if (!p)
            return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory for %d rows", m->path, n_rows);
        m->buf = p;
        m->buf_rows = n_rows;
    }
    UNET_TRY(unet_image_reader_read_rows(m->reader, m->buf, n_rows));
    size_t n = (size_t)n_rows * (size_t)m->width;
    if (m->channels <= 2) { /* class ids in the gray channel */
        for (size_t i = 0; i < n; i++)
            ids[i] = m->buf[i * (size_t)m->channels];
    } else {
        unet_image band = { m->width, n_rows, 3, m->buf };
        unet_unknown_colors u;
        UNET_TRY(unet_palette_map_rgb(m->palette, &band, m->path, UNET_UNKNOWN_COLOR_IGNORE, ids, &u));
        if (u.count && !m->unknown.count) {
            m->unknown.first_x = u.first_x;
            m->unknown.first_y = m->rows_read + u.first_y;
            memcpy(m->unknown.first_rgb, u.first_rgb, 3);
        }
        m->unknown.count += u.count;
    }
    m->rows_read += n_rows;
    return UNET_OK;
}

void truth_mask_close(truth_mask *m)
{
    if (!m)
        return;
    unet_image_reader_close(m->reader);
    free(m->buf);
    free(m->path);
    free(m);
}
