/* unet-geo-bench: whole-scene inference on a large synthetic GeoTIFF.
 *
 * Writes an N x N, 3-band 8-bit GeoTIFF (EPSG:32640, 0.3 m pixels, tiled
 * 512x512, DEFLATE) of a synthetic city (blocks, streets, noise) block by
 * block, unless DIR already holds one of that size; then runs unet-infer on
 * it in scene mode (GDAL path, GeoTIFF mask out) and once on a small scene of
 * 3 x 3 windows, and prints a table: windows (tiles), seconds, tiles/s,
 * megapixels/s and the peak RSS of each run (the child's ru_maxrss). The
 * small run's peak is the program with its libraries, model, session and the
 * plans of a full and a last batch: what the big run needs beyond it is what
 * the scene's size costs.
 *
 * The small U-Net (unet-make-model defaults: depth 4, filters 16) with
 * --tile 256 --overlap 64 --batch 8 is the configuration of record; the
 * target is a peak RSS under 1.5 GiB at 20000 x 20000:
 *   unet-make-model -o small.onnx
 *   unet-geo-bench --infer build/tools/unet-infer --model small.onnx --dir /tmp/geo-bench --size 20000 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#define BLOCK 512

static uint32_t hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/* A synthetic city: 40 m blocks of a few surface colours, 8 m streets, a
 * little noise. */
static void city_pixel(int x, int y, uint8_t rgb[3])
{
    static const uint8_t surfaces[5][3] = {
        { 150, 140, 130 }, { 200, 190, 170 }, { 70, 110, 60 }, { 40, 80, 140 }, { 180, 160, 120 },
    };
    int bx = x / 133, by = y / 133, ix = x % 133, iy = y % 133;
    uint32_t h = hash32((uint32_t)bx * 7919u + (uint32_t)by * 104729u);
    const uint8_t *c = ix < 27 || iy < 27 ? (const uint8_t[3]){ 90, 90, 95 } : surfaces[h % 5];
    uint32_t n = hash32((uint32_t)x * 73856093u ^ (uint32_t)y * 19349663u);
    for (int k = 0; k < 3; k++) {
        int v = c[k] + (int)((n >> (8 * k)) & 15) - 8;
        rgb[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

static int make_scene(const char *path, int size)
{
    struct stat st;
    GDALDatasetH old = stat(path, &st) == 0 ? GDALOpen(path, GA_ReadOnly) : NULL;
    if (old) {
        int same = GDALGetRasterXSize(old) == size && GDALGetRasterYSize(old) == size;
        GDALClose(old);
        if (same) {
            fprintf(stderr, "unet-geo-bench: using %s\n", path);
            return 0;
        }
    }
    char **opts = NULL;
    opts = CSLSetNameValue(opts, "TILED", "YES");
    opts = CSLSetNameValue(opts, "BLOCKXSIZE", "512");
    opts = CSLSetNameValue(opts, "BLOCKYSIZE", "512");
    opts = CSLSetNameValue(opts, "COMPRESS", "DEFLATE");
    opts = CSLSetNameValue(opts, "BIGTIFF", "IF_SAFER");
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), path, size, size, 3, GDT_Byte, opts);
    CSLDestroy(opts);
    if (!ds) {
        fprintf(stderr, "unet-geo-bench: cannot create %s: %s\n", path, CPLGetLastErrorMsg());
        return -1;
    }
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(srs, 32640);
    GDALSetSpatialRef(ds, srs);
    OSRDestroySpatialReference(srs);
    double gt[6] = { 400000.0, 0.3, 0.0, 2800000.0, 0.0, -0.3 };
    GDALSetGeoTransform(ds, gt);
    uint8_t *buf = malloc((size_t)BLOCK * BLOCK * 3);
    if (!buf) {
        GDALClose(ds);
        return -1;
    }
    fprintf(stderr, "unet-geo-bench: writing %s (%dx%d)\n", path, size, size);
    int bands[3] = { 1, 2, 3 }, rc = 0;
    for (int y0 = 0; y0 < size && !rc; y0 += BLOCK)
        for (int x0 = 0; x0 < size && !rc; x0 += BLOCK) {
            int w = size - x0 < BLOCK ? size - x0 : BLOCK, h = size - y0 < BLOCK ? size - y0 : BLOCK;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    city_pixel(x0 + x, y0 + y, buf + ((size_t)y * w + x) * 3);
            if (GDALDatasetRasterIO(ds, GF_Write, x0, y0, w, h, buf, w, h, GDT_Byte, 3, bands, 3, 3 * w, 1) != CE_None)
                rc = -1;
        }
    free(buf);
    GDALClose(ds);
    return rc;
}

typedef struct run_result {
    double seconds;
    long windows;
    long peak_kib;
    char cpu[128], isa[128]; /* unet-infer's "machine" in its --json ("" when absent) */
} run_result;

/* The string after "key":" in line into out (escapes kept as they are). */
static void json_string_after(const char *line, const char *key, char *out, size_t size)
{
    out[0] = '\0';
    const char *p = strstr(line, key);
    if (!p)
        return;
    p += strlen(key);
    size_t n = 0;
    while (p[n] && p[n] != '"' && n + 1 < size) {
        if (p[n] == '\\' && p[n + 1] && n + 2 < size)
            n++;
        n++;
    }
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Runs argv with stdout to out_path; wall time, peak RSS, windows from --json. */
static int run(const char *const *argv, const char *out_path, run_result *r)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(out_path, "w", stdout))
            _exit(127);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &status, 0, &ru) < 0)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    r->peak_kib = ru.ru_maxrss;
    r->windows = 0;
    FILE *f = fopen(out_path, "r");
    char line[4096];
    if (f && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "\"windows\":");
        if (p)
            r->windows = strtol(p + 10, NULL, 10);
        const char *m = strstr(line, "\"machine\":{");
        json_string_after(m ? m : "", "\"cpu\":\"", r->cpu, sizeof r->cpu);
        json_string_after(m ? m : "", "\"isa\":\"", r->isa, sizeof r->isa);
    } else {
        r->cpu[0] = r->isa[0] = '\0';
    }
    if (f)
        fclose(f);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "unet-geo-bench: %s exited with %d\n", argv[0], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return -1;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: unet-geo-bench --infer UNET_INFER --model MODEL.onnx --dir DIR [--size N] [--tile T]\n"
               "                      [--overlap O] [--batch B] [--threads N]\n"
               "Writes DIR/city-N.tif (N x N, 3-band 8-bit GeoTIFF, tiled, DEFLATE; kept for reruns)\n"
               "and a scene of 3 x 3 windows, runs unet-infer --scene on both (masks in DIR/out)\n"
               "and prints\n"
               "tiles/s and peak RSS. Defaults: --size 20000 --tile 256 --overlap 64 --batch 8.\n"
               "The record: the small U-Net ('unet-make-model -o small.onnx': depth 4, filters 16),\n"
               "target peak RSS under 1.5 GiB at 20000 x 20000.\n");
}

int main(int argc, char **argv)
{
    const char *infer = NULL, *model = NULL, *dir = NULL, *threads = NULL;
    int size = 20000, tile = 256, overlap = 64, batch = 8;
    static const struct option longopts[] = {
        { "infer", required_argument, NULL, 'i' }, { "model", required_argument, NULL, 'm' },
        { "dir", required_argument, NULL, 'd' },   { "size", required_argument, NULL, 's' },
        { "tile", required_argument, NULL, 't' },  { "overlap", required_argument, NULL, 'o' },
        { "batch", required_argument, NULL, 'b' }, { "threads", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },        { NULL, 0, NULL, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'i': infer = optarg; break;
        case 'm': model = optarg; break;
        case 'd': dir = optarg; break;
        case 's': size = atoi(optarg); break;
        case 't': tile = atoi(optarg); break;
        case 'o': overlap = atoi(optarg); break;
        case 'b': batch = atoi(optarg); break;
        case 'n': threads = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!infer || !model || !dir || size < 256 || size > 200000 || tile < 16 || overlap < 0 || overlap >= tile ||
        batch < 1) {
        usage(stderr);
        return 2;
    }
    GDALAllRegister();
    mkdir(dir, 0777);
    char big[4096], small[4096], out[4096], json[4096], ts[16], os[16], bs[16];
    int small_size = tile + 2 * (tile - overlap); /* 3 x 3 windows */
    snprintf(big, sizeof big, "%s/city-%d.tif", dir, size);
    snprintf(small, sizeof small, "%s/city-%d.tif", dir, small_size);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(json, sizeof json, "%s/run.json", dir);
    snprintf(ts, sizeof ts, "%d", tile);
    snprintf(os, sizeof os, "%d", overlap);
    snprintf(bs, sizeof bs, "%d", batch);
    if (make_scene(big, size) != 0 || make_scene(small, small_size) != 0)
        return 1;
    const char *images[2] = { small, big };
    const int sizes[2] = { small_size, size };
    run_result res[2];
    for (int i = 0; i < 2; i++) {
        const char *args[32];
        int n = 0;
        args[n++] = infer;
        args[n++] = model;
        args[n++] = images[i];
        args[n++] = "--scene";
        args[n++] = "--tile";
        args[n++] = ts;
        args[n++] = "--overlap";
        args[n++] = os;
        args[n++] = "-b";
        args[n++] = bs;
        if (threads) {
            args[n++] = "--threads";
            args[n++] = threads;
        }
        char mask[4200]; /* a mask from an earlier run of this model would be skipped */
        snprintf(mask, sizeof mask, "%s/city-%d.mask.tif", out, sizes[i]);
        unlink(mask);
        args[n++] = "--quiet";
        args[n++] = "--json";
        args[n++] = "-o";
        args[n++] = out;
        args[n] = NULL;
        if (run(args, json, &res[i]) != 0)
            return 1;
    }
    printf("unet-infer --scene on %s, oneDNN ISA %s\n", res[1].cpu[0] ? res[1].cpu : "an unknown CPU",
           res[1].isa[0] ? res[1].isa : "unknown (no \"machine\" in unet-infer's --json)");
    printf("%-13s %9s %9s %9s %8s %8s %10s\n", "image", "Mpixels", "tiles", "seconds", "tiles/s", "Mpx/s", "peak RSS");
    for (int i = 0; i < 2; i++) {
        double mpx = (double)sizes[i] * sizes[i] / 1e6;
        char name[32];
        snprintf(name, sizeof name, "%dx%d", sizes[i], sizes[i]);
        printf("%-13s %9.1f %9ld %9.2f %8.2f %8.3f %7.0f MiB\n", name, mpx, res[i].windows, res[i].seconds,
               res[i].windows / res[i].seconds, mpx / res[i].seconds, res[i].peak_kib / 1024.0);
    }
    printf("tile %d, overlap %d, batch %d; peak RSS beyond the %dx%d run: %.0f MiB (target: peak under 1536 MiB)\n",
           tile, overlap, batch, small_size, small_size, (res[1].peak_kib - res[0].peak_kib) / 1024.0);
    return 0;
}
