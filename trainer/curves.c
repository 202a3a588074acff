/* Training curves: log CSV in and out, and the line plot (see curves.h).
 *
 * The font is a 3x5 bitmap of digits, capital letters and a few signs. The
 * digits are the glyphs of tools/eval/digit_font.c (the heat-map labels of
 * unet-eval); they are repeated here rather than shared because tools/ is not
 * a library the trainer links and the plot needs letters as well. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unet/image.h>

#include "curves.h"
#include "error.h"
#include "text_file.h"
#include "text_format.h"

#define CURVES_MAX_ROWS 1000000

/* ---- the log ------------------------------------------------------------------ */

enum { COL_EPOCH, COL_PARTIAL, COL_STEP, COL_LR, COL_TRAIN_LOSS, COL_TRAIN_ACC, COL_VAL_LOSS,
       COL_VAL_ACC, COL_VAL_MIOU, COL_VAL_F1, COL_BEST, COL_SECONDS, N_COLS };
static const char *const col_names[N_COLS] = {
    "epoch", "partial", "step", "lr", "train_loss", "train_accuracy", "val_loss",
    "val_pixel_accuracy", "val_miou", "val_macro_f1", "best", "epoch_seconds"};

unet_status curve_log_append(curve_log *log, const curve_row *row)
{
    if (log->n >= CURVES_MAX_ROWS)
        return unet_set_error(UNET_ERR_LIMIT, "training log: more than %d epochs", CURVES_MAX_ROWS);
    if (log->n == log->cap) {
        const int cap = log->cap ? log->cap * 2 : 64;
        curve_row *r = realloc(log->rows, (size_t)cap * sizeof *r);
        if (!r)
            return unet_set_error(UNET_ERR_NOMEM, "training log: out of memory");
        log->rows = r;
        log->cap = cap;
    }
    log->rows[log->n++] = *row;
    return UNET_OK;
}

void curve_log_truncate(curve_log *log, int epochs)
{
    int k = 0;
    for (int i = 0; i < log->n; i++)
        if (log->rows[i].epoch >= 1 && log->rows[i].epoch <= epochs)
            log->rows[k++] = log->rows[i];
    log->n = k;
}

void curve_log_name_classes(curve_log *log, const unet_palette *pal)
{
    if (log->n_class_columns > 0)
        return;
    const int n = pal->n_classes < CURVES_MAX_CLASSES ? pal->n_classes : CURVES_MAX_CLASSES;
    for (int k = 0; k < n; k++) {
        char *column = log->class_column[k];
        memcpy(column, "iou_", 4);
        csv_column_name(pal->classes[k].name, column + 4, sizeof log->class_column[k] - 4);
    }
    log->n_class_columns = n;
}

void curve_log_free(curve_log *log)
{
    free(log->rows);
    memset(log, 0, sizeof *log);
}

/* The next comma-separated field of *p (modified in place). */
static char *next_field(char **p)
{
    char *s = *p;
    if (!s)
        return NULL;
    char *c = strchr(s, ',');
    if (c) {
        *c = '\0';
        *p = c + 1;
    } else {
        *p = NULL;
    }
    return s;
}

static double field_number(const char *s)
{
    if (!s || !*s)
        return NAN;
    char *end;
    const double v = strtod(s, &end);
    return end == s ? NAN : v;
}

unet_status curve_log_read(const char *path, curve_log *out)
{
    memset(out, 0, sizeof *out);
    char *text;
    UNET_TRY(text_file_read(path, &text, NULL));
    int map[256]; /* column index -> COL_*, N_COLS + K for class K's iou_ column, -1 ignored */
    int n_header = 0, have_epoch = 0;
    unet_status s = UNET_OK;
    int line_no = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\r\n", &save); line && s == UNET_OK;
         line = strtok_r(NULL, "\r\n", &save)) {
        line_no++;
        char *p = line;
        if (line_no == 1) {
            for (char *f = next_field(&p); f; f = next_field(&p)) {
                if (n_header >= 256)
                    break; /* per-class columns beyond: not read */
                map[n_header] = -1;
                for (int c = 0; c < N_COLS; c++)
                    if (strcmp(f, col_names[c]) == 0)
                        map[n_header] = c;
                if (strncmp(f, "iou_", 4) == 0 && out->n_class_columns < CURVES_MAX_CLASSES) {
                    const int k = out->n_class_columns++;
                    snprintf(out->class_column[k], sizeof out->class_column[k], "%s", f);
                    map[n_header] = N_COLS + k;
                }
                have_epoch = have_epoch || map[n_header] == COL_EPOCH;
                n_header++;
            }
            if (!have_epoch)
                s = unet_set_error(UNET_ERR_PARSE, "%s: the first line has no 'epoch' column",
                                   path);
            continue;
        }
        double v[N_COLS + CURVES_MAX_CLASSES];
        for (int c = 0; c < N_COLS + CURVES_MAX_CLASSES; c++)
            v[c] = NAN;
        int col = 0;
        for (char *f = next_field(&p); f && col < n_header; f = next_field(&p), col++)
            if (map[col] >= 0)
                v[map[col]] = field_number(f);
        if (!(v[COL_EPOCH] >= 1 && v[COL_EPOCH] <= CURVES_MAX_ROWS)) {
            s = unet_set_error(UNET_ERR_PARSE, "%s line %d: epoch is not a number in 1..%d", path,
                               line_no, CURVES_MAX_ROWS);
            break;
        }
        curve_row r = {.epoch = (int)v[COL_EPOCH],
                       .partial = v[COL_PARTIAL] == 1,
                       .step = v[COL_STEP] >= 0 && v[COL_STEP] < 1e18 ? (uint64_t)v[COL_STEP] : 0,
                       .lr = v[COL_LR],
                       .train_loss = v[COL_TRAIN_LOSS],
                       .train_accuracy = v[COL_TRAIN_ACC],
                       .val_loss = v[COL_VAL_LOSS],
                       .val_pixel_accuracy = v[COL_VAL_ACC],
                       .val_miou = v[COL_VAL_MIOU],
                       .val_macro_f1 = v[COL_VAL_F1],
                       .best = v[COL_BEST] == 1,
                       .epoch_seconds = v[COL_SECONDS]};
        r.n_class_iou = out->n_class_columns;
        for (int k = 0; k < r.n_class_iou; k++)
            r.val_class_iou[k] = v[N_COLS + k];
        s = curve_log_append(out, &r);
    }
    free(text);
    if (s != UNET_OK)
        curve_log_free(out);
    return s;
}

static void put_num(char **p, char *end, double v)
{
    const int n = isfinite(v) ? snprintf(*p, (size_t)(end - *p), ",%.9g", v)
                              : snprintf(*p, (size_t)(end - *p), ",");
    *p += n > 0 && n < end - *p ? n : 0;
}

unet_status curve_log_write(const char *path, const curve_log *log)
{
    int n_classes = 0;
    for (int i = 0; i < log->n; i++)
        if (log->rows[i].n_class_iou > n_classes)
            n_classes = log->rows[i].n_class_iou;
    const size_t row_max = 400 + 20 * CURVES_MAX_CLASSES;
    const size_t cap = 256 + sizeof log->class_column + (size_t)log->n * row_max;
    char *buf = malloc(cap);
    if (!buf)
        return unet_set_error(UNET_ERR_NOMEM, "writing %s: out of memory", path);
    char *p = buf, *end = buf + cap;
    for (int c = 0; c < N_COLS; c++)
        p += snprintf(p, (size_t)(end - p), "%s%s", c ? "," : "", col_names[c]);
    for (int k = 0; k < n_classes; k++)
        if (k < log->n_class_columns)
            p += snprintf(p, (size_t)(end - p), ",%s", log->class_column[k]);
        else
            p += snprintf(p, (size_t)(end - p), ",iou_%d", k);
    p += snprintf(p, (size_t)(end - p), "\n");
    for (int i = 0; i < log->n; i++) {
        const curve_row *r = &log->rows[i];
        char *row_end = p + row_max;
        p += snprintf(p, (size_t)(row_end - p), "%d,%d,%llu", r->epoch, r->partial,
                      (unsigned long long)r->step);
        put_num(&p, row_end, r->lr);
        put_num(&p, row_end, r->train_loss);
        put_num(&p, row_end, r->train_accuracy);
        put_num(&p, row_end, r->val_loss);
        put_num(&p, row_end, r->val_pixel_accuracy);
        put_num(&p, row_end, r->val_miou);
        put_num(&p, row_end, r->val_macro_f1);
        p += snprintf(p, (size_t)(row_end - p), ",%d", r->best);
        put_num(&p, row_end, r->epoch_seconds);
        for (int k = 0; k < n_classes; k++)
            put_num(&p, row_end, k < r->n_class_iou ? r->val_class_iou[k] : NAN);
        p += snprintf(p, (size_t)(row_end - p), "\n");
    }
    unet_status s = atomic_file_write_all(path, buf, (size_t)(p - buf));
    free(buf);
    return s;
}

/* ---- drawing ------------------------------------------------------------------ */

#define GLYPH_W 3
#define GLYPH_H 5

static const char glyph_chars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ%-.</()+:=_,";
static const uint8_t glyphs[][GLYPH_H] = {
    {2, 5, 5, 5, 2}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1}, /* 0-4 */
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7}, /* 5-9 */
    {2, 5, 7, 5, 5}, {6, 5, 6, 5, 6}, {3, 4, 4, 4, 3}, {6, 5, 5, 5, 6}, {7, 4, 6, 4, 7}, /* A-E */
    {7, 4, 6, 4, 4}, {3, 4, 5, 5, 3}, {5, 5, 7, 5, 5}, {7, 2, 2, 2, 7}, {1, 1, 1, 5, 2}, /* F-J */
    {5, 5, 6, 5, 5}, {4, 4, 4, 4, 7}, {5, 7, 7, 5, 5}, {6, 5, 5, 5, 5}, {7, 5, 5, 5, 7}, /* K-O */
    {6, 5, 6, 4, 4}, {2, 5, 5, 6, 3}, {6, 5, 6, 5, 5}, {3, 4, 2, 1, 6}, {7, 2, 2, 2, 2}, /* P-T */
    {5, 5, 5, 5, 7}, {5, 5, 5, 5, 2}, {5, 5, 7, 7, 5}, {5, 5, 2, 5, 5}, {5, 5, 2, 2, 2}, /* U-Y */
    {7, 1, 2, 4, 7},                                                                     /* Z */
    {5, 1, 2, 4, 5}, {0, 0, 7, 0, 0}, {0, 0, 0, 0, 2}, {1, 2, 4, 2, 1}, {1, 1, 2, 4, 4}, /* %-.</ */
    {2, 4, 4, 4, 2}, {2, 1, 1, 1, 2}, {0, 2, 7, 2, 0}, {0, 2, 0, 2, 0}, {0, 7, 0, 7, 0}, /* ()+:= */
    {0, 0, 0, 0, 7}, {0, 0, 0, 2, 4},                                                   /* _, */
};

typedef struct canvas {
    int w, h;
    uint8_t *rgb;
} canvas;

static const uint8_t BLACK[3] = {0, 0, 0};
static const uint8_t GRAY[3] = {110, 110, 110};
static const uint8_t LIGHT[3] = {228, 228, 228};

static void put(canvas *c, int x, int y, const uint8_t col[3])
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h)
        return;
    memcpy(c->rgb + ((size_t)y * (size_t)c->w + (size_t)x) * 3, col, 3);
}

static void fill_rect(canvas *c, int x0, int y0, int x1, int y1, const uint8_t col[3])
{
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            put(c, x, y, col);
}

/* A line two pixels thick (Bresenham, each point a 2x2 square). */
static void draw_line(canvas *c, int x0, int y0, int x1, int y1, const uint8_t col[3])
{
    const int dx = abs(x1 - x0), dy = -abs(y1 - y0);
    const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int e = dx + dy;
    for (;;) {
        fill_rect(c, x0, y0, x0 + 1, y0 + 1, col);
        if (x0 == x1 && y0 == y1)
            break;
        const int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

static int text_width(const char *s, int scale)
{
    const int n = (int)strlen(s);
    return n ? (n * (GLYPH_W + 1) - 1) * scale : 0;
}

static void draw_text(canvas *c, int x, int y, const char *s, int scale, const uint8_t col[3])
{
    for (; *s; s++, x += (GLYPH_W + 1) * scale) {
        const char ch = (char)toupper((unsigned char)*s);
        const char *at = ch ? strchr(glyph_chars, ch) : NULL;
        if (!at)
            continue; /* space and unknown characters */
        const uint8_t *g = glyphs[at - glyph_chars];
        for (int gy = 0; gy < GLYPH_H * scale; gy++)
            for (int gx = 0; gx < GLYPH_W * scale; gx++)
                if (g[gy / scale] >> (GLYPH_W - 1 - gx / scale) & 1)
                    put(c, x + gx, y + gy, col);
    }
}

/* A round step near raw: 1, 2 or 5 times a power of ten. */
static double nice_step(double raw)
{
    if (!(raw > 0) || !isfinite(raw))
        return 1;
    const double e = pow(10, floor(log10(raw)));
    const double f = raw / e;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * e;
}

static int step_decimals(double step)
{
    const int d = (int)-floor(log10(step) + 1e-9);
    return d < 0 ? 0 : d > 6 ? 6 : d;
}

static void draw_panel(canvas *c, int ox, const curve_panel *p, double x_max)
{
    const int left = ox + CURVES_LEFT, right = ox + CURVES_RIGHT;
    const int top = CURVES_TOP, bottom = CURVES_BOTTOM;
    double y_min = p->y_min, y_max = p->y_max, y_step;
    if (y_max > y_min) {
        y_step = nice_step((y_max - y_min) / 5);
    } else {
        double hi = 0;
        for (int s = 0; s < p->n_series; s++)
            for (int i = 0; i < p->series[s].n; i++)
                if (isfinite(p->series[s].y[i]) && p->series[s].y[i] > hi)
                    hi = p->series[s].y[i];
        y_min = 0;
        y_step = nice_step((hi > 0 ? hi : 1) / 5);
        y_max = ceil((hi > 0 ? hi : 1) / y_step - 1e-9) * y_step;
    }
    const double x_step = nice_step(x_max / 8) < 1 ? 1 : nice_step(x_max / 8);
#define MAP_X(v) (left + (int)lround(((v) / x_max) * (right - left)))
#define MAP_Y(v) (bottom - (int)lround((((v) - y_min) / (y_max - y_min)) * (bottom - top)))
    /* Grid and tick labels. */
    char lab[32];
    const int yd = step_decimals(y_step);
    for (int k = 0;; k++) {
        const double v = y_min + k * y_step;
        if (v > y_max + y_step * 1e-6)
            break;
        const int y = MAP_Y(v);
        for (int x = left; x <= right; x++)
            put(c, x, y, LIGHT);
        snprintf(lab, sizeof lab, "%.*f", yd, v);
        draw_text(c, left - 8 - text_width(lab, 2), y - GLYPH_H, lab, 2, GRAY);
    }
    for (int k = 0;; k++) {
        const double v = k * x_step;
        if (v > x_max + 1e-9)
            break;
        const int x = MAP_X(v);
        fill_rect(c, x, bottom + 1, x, bottom + 5, BLACK);
        snprintf(lab, sizeof lab, "%.0f", v);
        draw_text(c, x - text_width(lab, 2) / 2, bottom + 9, lab, 2, GRAY);
    }
    /* Axes. */
    fill_rect(c, left - 1, top, left, bottom, BLACK);
    fill_rect(c, left - 1, bottom, right, bottom + 1, BLACK);
    draw_text(c, left, 10, p->title ? p->title : "", 3, BLACK);
    draw_text(c, (left + right) / 2 - text_width("EPOCH", 2) / 2, bottom + 26, "EPOCH", 2, GRAY);
    /* Series. */
    for (int s = 0; s < p->n_series; s++) {
        const curve_series *se = &p->series[s];
        int have = 0, px = 0, py = 0;
        for (int i = 0; i < se->n; i++) {
            const double yv = se->y[i];
            if (!isfinite(yv) || !isfinite(se->x[i])) {
                have = 0;
                continue;
            }
            const double yc = yv < y_min ? y_min : yv > y_max ? y_max : yv;
            const int x = MAP_X(se->x[i]), y = MAP_Y(yc);
            if (have)
                draw_line(c, px, py, x, y, se->rgb);
            if (se->n <= 60)
                fill_rect(c, x - 2, y - 2, x + 2, y + 2, se->rgb);
            have = 1;
            px = x;
            py = y;
        }
    }
#undef MAP_X
#undef MAP_Y
    /* Legend: a swatch and the label per series, wrapping within the panel. */
    int lx = left, ly = bottom + 50;
    for (int s = 0; s < p->n_series; s++) {
        const char *label = p->series[s].label ? p->series[s].label : "";
        const int w = 16 + 6 + text_width(label, 2) + 18;
        if (lx + w > ox + CURVES_PANEL_W && lx > left) {
            lx = left;
            ly += 16;
        }
        fill_rect(c, lx, ly, lx + 15, ly + 9, p->series[s].rgb);
        draw_text(c, lx + 22, ly, label, 2, BLACK);
        lx += w;
    }
}

unet_status curves_plot(const char *png_path, const curve_panel *panels, int n_panels)
{
    if (n_panels < 1 || n_panels > 4)
        return unet_set_error(UNET_ERR_ARG, "curves: %d panels (1..4)", n_panels);
    double x_max = 1;
    for (int p = 0; p < n_panels; p++) {
        if (panels[p].n_series < 0 || panels[p].n_series > CURVES_MAX_SERIES)
            return unet_set_error(UNET_ERR_ARG, "curves: %d series in a panel (0..%d)",
                                  panels[p].n_series, CURVES_MAX_SERIES);
        for (int s = 0; s < panels[p].n_series; s++)
            for (int i = 0; i < panels[p].series[s].n; i++)
                if (isfinite(panels[p].series[s].x[i]) && panels[p].series[s].x[i] > x_max)
                    x_max = panels[p].series[s].x[i];
    }
    canvas c = {.w = CURVES_PANEL_W * n_panels, .h = CURVES_H};
    c.rgb = malloc((size_t)c.w * (size_t)c.h * 3);
    if (!c.rgb)
        return unet_set_error(UNET_ERR_NOMEM, "curves: out of memory");
    memset(c.rgb, 255, (size_t)c.w * (size_t)c.h * 3);
    for (int p = 0; p < n_panels; p++)
        draw_panel(&c, p * CURVES_PANEL_W, &panels[p], x_max);
    unet_image img = {.width = c.w, .height = c.h, .channels = 3, .pixels = c.rgb};
    unet_status s = unet_png_write(png_path, &img, NULL, 0);
    free(c.rgb);
    return s;
}

static const uint8_t COLOR_TRAIN[3] = {31, 119, 180};
static const uint8_t COLOR_VAL[3] = {255, 127, 14};
static const uint8_t COLOR_MIOU[3] = {44, 160, 44};

unet_status curves_plot_log(const curve_log *log, const char *png_path)
{
    const int n = log->n;
    double *buf = malloc((size_t)(n > 0 ? n : 1) * 6 * sizeof *buf);
    if (!buf)
        return unet_set_error(UNET_ERR_NOMEM, "curves: out of memory");
    double *x = buf, *tl = buf + n, *vl = buf + 2 * n, *ta = buf + 3 * n, *va = buf + 4 * n,
           *vm = buf + 5 * n;
    for (int i = 0; i < n; i++) {
        const curve_row *r = &log->rows[i];
        x[i] = r->epoch;
        tl[i] = r->train_loss;
        vl[i] = r->val_loss;
        ta[i] = r->train_accuracy;
        va[i] = r->val_pixel_accuracy;
        vm[i] = r->val_miou;
    }
    const curve_series loss[2] = {
        {"train loss", {COLOR_TRAIN[0], COLOR_TRAIN[1], COLOR_TRAIN[2]}, n, x, tl},
        {"val loss", {COLOR_VAL[0], COLOR_VAL[1], COLOR_VAL[2]}, n, x, vl}};
    const curve_series acc[3] = {
        {"train acc", {COLOR_TRAIN[0], COLOR_TRAIN[1], COLOR_TRAIN[2]}, n, x, ta},
        {"val acc", {COLOR_VAL[0], COLOR_VAL[1], COLOR_VAL[2]}, n, x, va},
        {"val miou", {COLOR_MIOU[0], COLOR_MIOU[1], COLOR_MIOU[2]}, n, x, vm}};
    const curve_panel panels[2] = {{"loss", 2, loss, 0, 0},
                                   {"accuracy and miou", 3, acc, 0, 1}};
    unet_status s = curves_plot(png_path, panels, 2);
    free(buf);
    return s;
}

unet_status curves_plot_log_file(const char *csv_path, const char *png_path)
{
    curve_log log;
    UNET_TRY(curve_log_read(csv_path, &log));
    unet_status s = log.n > 0 ? curves_plot_log(&log, png_path) : UNET_OK;
    curve_log_free(&log);
    return s;
}
