/* GDAL rasters as 8-bit rows; see geo_raster.h. Strips of whole block rows
 * are read with one RasterIO call for all selected bands (as Byte when no
 * stretch is needed, else as Float32, exact for every integer type up to 16
 * bits), the mask bands likewise, and rows are handed out from the strip. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <gdal.h>

#include "geo_gdal.h"
#include "geo_raster.h"

#define HIST_BINS 65536
#define STRIP_BYTES_MAX (64u << 20) /* one strip of Float32 samples at most */

typedef struct band_stats {
    int exact;          /* integer band of 16 bits or less: one bin per value */
    int offset;         /* added to a value to get its bin (signed 16-bit) */
    uint64_t *hist;     /* HIST_BINS bins */
    uint64_t n;
    double min, max;
} band_stats;

struct geo_raster {
    char *path;
    GDALDatasetH ds;
    int width, height, channels;
    int bands[GEO_MAX_BANDS];
    GDALRasterBandH band_h[GEO_MAX_BANDS];
    geo_stretch stretch;
    double lo[GEO_MAX_BANDS], hi[GEO_MAX_BANDS];
    int byte_direct;            /* 8-bit bands, no stretch: read as Byte */
    GDALRasterBandH dataset_mask; /* per-dataset mask or alpha, else NULL */
    GDALRasterBandH band_mask[GEO_MAX_BANDS]; /* per band; NULL: all valid */
    int has_nodata;
    int strip_rows, strip_y0, strip_n, next_row;
    float *fstrip;              /* strip_rows x width x channels */
    uint8_t *bstrip;
    uint8_t *vstrip;            /* strip_rows x width: 1 valid */
    uint8_t *mstrip;            /* one mask band's strip */
};

void geo_raster_size(const geo_raster *r, int *width, int *height, int *channels)
{
    *width = r->width;
    *height = r->height;
    *channels = r->channels;
}

int geo_raster_has_nodata(const geo_raster *r) { return r->has_nodata; }
void *geo_raster_dataset(const geo_raster *r) { return r->ds; }

geo_stretch geo_raster_stretch(const geo_raster *r, int c, double *lo, double *hi)
{
    *lo = r->lo[c];
    *hi = r->hi[c];
    return r->stretch;
}

void geo_raster_close(geo_raster *r)
{
    if (!r)
        return;
    if (r->ds)
        GDALClose(r->ds);
    free(r->path);
    free(r->fstrip);
    free(r->bstrip);
    free(r->vstrip);
    free(r->mstrip);
    free(r);
}

/* Reads rows [y0, y0 + n) of the selected bands and their validity. */
static unet_status read_strip(geo_raster *r, int y0, int n)
{
    int w = r->width, c = r->channels;
    CPLErr e = r->byte_direct
        ? GDALDatasetRasterIO(r->ds, GF_Read, 0, y0, w, n, r->bstrip, w, n, GDT_Byte, c, r->bands, c, w * c, 1)
        : GDALDatasetRasterIO(r->ds, GF_Read, 0, y0, w, n, r->fstrip, w, n, GDT_Float32, c, r->bands, 4 * c,
                              4 * w * c, 4);
    if (e != CE_None)
        return geo_fail(UNET_ERR_IO, "%s: cannot read rows %d..%d", r->path, y0, y0 + n - 1);
    size_t px = (size_t)w * (size_t)n;
    if (!r->has_nodata) {
        memset(r->vstrip, 1, px);
    } else if (r->dataset_mask) {
        if (GDALRasterIO(r->dataset_mask, GF_Read, 0, y0, w, n, r->vstrip, w, n, GDT_Byte, 0, 0) != CE_None)
            return geo_fail(UNET_ERR_IO, "%s: cannot read the mask of rows %d..%d", r->path, y0, y0 + n - 1);
        for (size_t i = 0; i < px; i++)
            r->vstrip[i] = r->vstrip[i] != 0;
    } else {
        /* Nodata only where every band says so: vstrip counts the bands
         * that call the pixel valid. */
        memset(r->vstrip, 0, px);
        for (int b = 0; b < c; b++) {
            if (GDALRasterIO(r->band_mask[b], GF_Read, 0, y0, w, n, r->mstrip, w, n, GDT_Byte, 0, 0) != CE_None)
                return geo_fail(UNET_ERR_IO, "%s: cannot read the nodata mask of band %d, rows %d..%d", r->path,
                                r->bands[b], y0, y0 + n - 1);
            for (size_t i = 0; i < px; i++)
                r->vstrip[i] |= r->mstrip[i] != 0;
        }
    }
    r->strip_y0 = y0;
    r->strip_n = n;
    return UNET_OK;
}

/* Calls fn for every strip of the raster (statistics passes). */
static unet_status each_strip(geo_raster *r, void (*fn)(geo_raster *, band_stats *, int), band_stats *st, int pass)
{
    for (int y = 0; y < r->height; y += r->strip_rows) {
        int n = r->height - y < r->strip_rows ? r->height - y : r->strip_rows;
        UNET_TRY(read_strip(r, y, n));
        fn(r, st, pass);
    }
    r->strip_n = 0;
    return UNET_OK;
}

/* Pass 0: exact histograms, or min and max; pass 1: binned histograms. */
static void add_strip_stats(geo_raster *r, band_stats *st, int pass)
{
    size_t px = (size_t)r->width * (size_t)r->strip_n;
    int c = r->channels;
    for (size_t i = 0; i < px; i++) {
        if (!r->vstrip[i])
            continue;
        for (int b = 0; b < c; b++) {
            double v = r->fstrip[i * (size_t)c + (size_t)b];
            band_stats *s = &st[b];
            if (isnan(v))
                continue;
            if (s->exact) {
                s->hist[(int)v + s->offset]++;
            } else if (pass == 0) {
                if (!s->n || v < s->min)
                    s->min = v;
                if (!s->n || v > s->max)
                    s->max = v;
                s->n++;
            } else {
                double width = (s->max - s->min) / HIST_BINS;
                long k = width > 0 ? (long)((v - s->min) / width) : 0;
                s->hist[k < 0 ? 0 : k >= HIST_BINS ? HIST_BINS - 1 : k]++;
            }
        }
    }
}

/* The value of the k-th smallest sample (0-based) from a histogram: the
 * bin's value (exact) or its lower (upper_edge 0) or upper edge. */
static double hist_quantile(const band_stats *s, uint64_t k, int upper_edge)
{
    uint64_t cum = 0;
    int bin = HIST_BINS - 1;
    for (int i = 0; i < HIST_BINS; i++) {
        cum += s->hist[i];
        if (cum > k) {
            bin = i;
            break;
        }
    }
    if (s->exact)
        return (double)(bin - s->offset);
    double width = (s->max - s->min) / HIST_BINS;
    return s->min + (bin + upper_edge) * width;
}

/* lo and hi of every band for the stretch (not none). */
static unet_status compute_stretch(geo_raster *r)
{
    int c = r->channels;
    band_stats st[GEO_MAX_BANDS];
    memset(st, 0, sizeof st);
    int binned = 0;
    unet_status status = UNET_OK;
    for (int b = 0; b < c; b++) {
        GDALDataType t = GDALGetRasterDataType(r->band_h[b]);
        st[b].exact = t == GDT_Byte || t == GDT_UInt16 || t == GDT_Int16;
        st[b].offset = t == GDT_Int16 ? 32768 : 0;
        if (st[b].exact || r->stretch == GEO_STRETCH_P2_98) {
            st[b].hist = calloc(HIST_BINS, sizeof *st[b].hist);
            if (!st[b].hist) {
                status = unet_set_error(UNET_ERR_NOMEM, "%s: out of memory for band histograms", r->path);
                goto done;
            }
        }
        binned |= !st[b].exact;
    }
    status = each_strip(r, add_strip_stats, st, 0);
    if (status == UNET_OK && binned && r->stretch == GEO_STRETCH_P2_98)
        status = each_strip(r, add_strip_stats, st, 1);
    if (status != UNET_OK)
        goto done;
    for (int b = 0; b < c; b++) {
        band_stats *s = &st[b];
        if (s->exact)
            for (int i = 0; i < HIST_BINS; i++)
                s->n += s->hist[i];
        if (s->n == 0) { /* nothing valid: every pixel is nodata */
            r->lo[b] = 0.0;
            r->hi[b] = 255.0;
            continue;
        }
        if (r->stretch == GEO_STRETCH_MINMAX && !s->exact) {
            r->lo[b] = s->min;
            r->hi[b] = s->max;
            continue;
        }
        double plo = r->stretch == GEO_STRETCH_MINMAX ? 0.0 : 0.02;
        double phi = r->stretch == GEO_STRETCH_MINMAX ? 1.0 : 0.98;
        uint64_t klo = (uint64_t)floor(plo * (double)s->n), khi = (uint64_t)floor(phi * (double)s->n);
        if (klo > s->n - 1)
            klo = s->n - 1;
        if (khi > s->n - 1)
            khi = s->n - 1;
        r->lo[b] = hist_quantile(s, klo, 0);
        r->hi[b] = hist_quantile(s, khi, 1);
    }
done:
    for (int b = 0; b < c; b++)
        free(st[b].hist);
    return status;
}

static uint8_t to_byte(const geo_raster *r, int b, float value)
{
    double v = value, x;
    if (isnan(v))
        v = 0.0;
    if (r->stretch == GEO_STRETCH_NONE) {
        x = floor(v + 0.5);
    } else {
        double lo = r->lo[b], hi = r->hi[b];
        if (hi <= lo)
            return v > lo ? 255 : 0;
        x = floor((v - lo) * 255.0 / (hi - lo) + 0.5);
    }
    return x <= 0.0 ? 0 : x >= 255.0 ? 255 : (uint8_t)x;
}

unet_status geo_raster_read_rows(geo_raster *r, uint8_t *rows, uint8_t *valid, int n_rows)
{
    int w = r->width, c = r->channels;
    size_t row_values = (size_t)w * (size_t)c;
    for (int k = 0; k < n_rows; k++, r->next_row++) {
        int y = r->next_row;
        if (y >= r->height)
            return unet_set_error(UNET_ERR_ARG, "%s: row %d read past the last row %d", r->path, y, r->height - 1);
        if (r->strip_n == 0 || y >= r->strip_y0 + r->strip_n) {
            int n = r->height - y < r->strip_rows ? r->height - y : r->strip_rows;
            UNET_TRY(read_strip(r, y, n));
        }
        size_t at = (size_t)(y - r->strip_y0);
        uint8_t *dst = rows + (size_t)k * row_values;
        if (r->byte_direct) {
            memcpy(dst, r->bstrip + at * row_values, row_values);
        } else {
            const float *src = r->fstrip + at * row_values;
            for (size_t i = 0; i < row_values; i++)
                dst[i] = to_byte(r, (int)(i % (size_t)c), src[i]);
        }
        if (valid)
            memcpy(valid + (size_t)k * w, r->vstrip + at * (size_t)w, (size_t)w);
    }
    return UNET_OK;
}

/* Nodata from the dataset's mask band when it has one (per-dataset mask,
 * alpha), else from each band's own mask (nodata value, mask band). */
static void find_masks(geo_raster *r)
{
    int all_valid = 0;
    for (int b = 0; b < r->channels; b++) {
        int flags = GDALGetMaskFlags(r->band_h[b]);
        if ((flags & GMF_PER_DATASET) && !(flags & GMF_ALL_VALID))
            r->dataset_mask = GDALGetMaskBand(r->band_h[b]);
        if (flags & GMF_ALL_VALID)
            all_valid = 1;
        else
            r->band_mask[b] = GDALGetMaskBand(r->band_h[b]);
    }
    r->has_nodata = r->dataset_mask != NULL || !all_valid;
}

/* Strips of whole block rows (at least 16 rows), at most STRIP_BYTES_MAX of
 * Float32 samples; GDAL's block cache trimmed to about two block rows of the
 * whole dataset unless the user set GDAL_CACHEMAX. */
static void plan_strips(geo_raster *r)
{
    int bw = 0, bh = 0;
    GDALGetBlockSize(r->band_h[0], &bw, &bh);
    if (bw < 1)
        bw = 1;
    if (bh < 1)
        bh = 1;
    size_t row_bytes = (size_t)r->width * (size_t)r->channels * sizeof(float);
    int max_rows = row_bytes ? (int)(STRIP_BYTES_MAX / row_bytes) : 1;
    int rows = bh < 16 ? bh * ((16 + bh - 1) / bh) : bh;
    if (rows > max_rows)
        rows = max_rows > bh ? max_rows / bh * bh : (max_rows > 0 ? max_rows : 1);
    r->strip_rows = rows < r->height ? rows : r->height;
    if (!CPLGetConfigOption("GDAL_CACHEMAX", NULL)) {
        GDALDataType t = GDALGetRasterDataType(r->band_h[0]);
        double block_row = (double)((r->width + bw - 1) / bw) * bw * bh * GDALGetRasterCount(r->ds) *
                           GDALGetDataTypeSizeBytes(t);
        double want = 2.0 * block_row;
        if (want < 64.0 * (1 << 20))
            want = 64.0 * (1 << 20);
        if (want > 1024.0 * (1 << 20))
            want = 1024.0 * (1 << 20);
        GDALSetCacheMax64((GIntBig)want);
    }
}

unet_status geo_raster_open(const char *path, const geo_read_options *o, geo_raster **out)
{
    *out = NULL;
    geo_init();
    geo_raster *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path);
    }
    unet_status st = UNET_OK;
    r->ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!r->ds) {
        st = geo_fail(UNET_ERR_IO, "%s: GDAL cannot open it as a raster", path);
        goto fail;
    }
    int count = GDALGetRasterCount(r->ds);
    r->width = GDALGetRasterXSize(r->ds);
    r->height = GDALGetRasterYSize(r->ds);
    if (count < 1 || r->width < 1 || r->height < 1) {
        st = unet_set_error(UNET_ERR_INVALID, "%s: %dx%d raster with %d bands: nothing to read", path, r->width,
                            r->height, count);
        goto fail;
    }
    if ((double)r->width * GEO_MAX_BANDS * sizeof(float) > INT_MAX) { /* RasterIO's line spacing is an int */
        st = unet_set_error(UNET_ERR_LIMIT, "%s: %d pixels wide: wider than this reader's limit of %d", path,
                            r->width, (int)(INT_MAX / (GEO_MAX_BANDS * sizeof(float))));
        goto fail;
    }
    if (o && o->n_bands > 0) {
        r->channels = o->n_bands;
        memcpy(r->bands, o->bands, sizeof r->bands);
    } else {
        r->channels = count >= 3 ? 3 : 1;
        for (int b = 0; b < r->channels; b++)
            r->bands[b] = b + 1;
    }
    int all_byte = 1;
    for (int b = 0; b < r->channels; b++) {
        if (r->bands[b] < 1 || r->bands[b] > count) {
            st = unet_set_error(UNET_ERR_ARG, "%s: band %d asked for, but the raster has bands 1..%d", path,
                                r->bands[b], count);
            goto fail;
        }
        r->band_h[b] = GDALGetRasterBand(r->ds, r->bands[b]);
        GDALDataType t = GDALGetRasterDataType(r->band_h[b]);
        if (GDALDataTypeIsComplex(t)) {
            st = unet_set_error(UNET_ERR_UNSUPPORTED, "%s: band %d holds complex numbers (%s); pick real bands",
                                path, r->bands[b], GDALGetDataTypeName(t));
            goto fail;
        }
        all_byte &= t == GDT_Byte;
    }
    r->stretch = o ? o->stretch : GEO_STRETCH_AUTO;
    if (r->stretch == GEO_STRETCH_AUTO)
        r->stretch = all_byte ? GEO_STRETCH_NONE : GEO_STRETCH_P2_98;
    r->byte_direct = all_byte && r->stretch == GEO_STRETCH_NONE;
    find_masks(r);
    plan_strips(r);
    size_t strip_px = (size_t)r->strip_rows * (size_t)r->width;
    r->vstrip = malloc(strip_px);
    r->mstrip = malloc(strip_px);
    if (r->byte_direct)
        r->bstrip = malloc(strip_px * (size_t)r->channels);
    else
        r->fstrip = malloc(strip_px * (size_t)r->channels * sizeof *r->fstrip);
    if (!r->vstrip || !r->mstrip || (!r->bstrip && !r->fstrip)) {
        st = unet_set_error(UNET_ERR_NOMEM, "%s: out of memory for a strip of %d rows of %d pixels", path,
                            r->strip_rows, r->width);
        goto fail;
    }
    if (r->stretch != GEO_STRETCH_NONE && (st = compute_stretch(r)) != UNET_OK)
        goto fail;
    *out = r;
    return UNET_OK;
fail:
    geo_raster_close(r);
    return st;
}
