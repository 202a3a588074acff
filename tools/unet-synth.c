/* unet-synth: deterministic synthetic aerial-like scenes with colour masks, so
 * the test suite can tile, train and evaluate without the real data set.
 *
 * Each part is painted in layers: textured bare land, noise-bounded
 * vegetation and water blobs, roads (thick line segments), buildings
 * (rectangles with roofs in several colours and a shadow), a few small
 * "unlabeled" patches and, in some parts, an unannotated (black) mask patch.
 * Colours overlap between classes (dark roofs vs roads, shadows vs water) and
 * every pixel gets noise, so a small CNN has to use texture and shape.
 * Only integer hashing and basic float arithmetic are used (no libm), so the
 * output depends on the seed alone. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <unet/image.h>
#include <unet/palette.h>
#include <unet/unet.h>

#include "cli_number.h"

enum { CLASS_BUILDING = 0, CLASS_LAND = 1, CLASS_ROAD = 2, CLASS_VEGETATION = 3, CLASS_WATER = 4,
       CLASS_UNLABELED = 5 };

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform integer in [lo, hi]. */
static int rand_int(uint64_t *rng, int lo, int hi)
{
    if (hi <= lo) return lo;
    return lo + (int)(splitmix64(rng) % (uint64_t)(hi - lo + 1));
}

static float rand_unit(uint64_t *rng) { return (float)(splitmix64(rng) >> 40) / (float)(1u << 24); }

/* Hash of a lattice point -> [0, 1). */
static float lattice(int x, int y, uint32_t seed)
{
    uint32_t h = (uint32_t)x * 374761393u + (uint32_t)y * 668265263u + seed * 2246822519u;
    h = (h ^ (h >> 13)) * 1274126177u;
    h ^= h >> 16;
    return (float)(h & 0xFFFFFF) / (float)0x1000000;
}

/* Smooth value noise with the given cell size (pixels) -> [0, 1). */
static float value_noise(int x, int y, int cell, uint32_t seed)
{
    int cx = x / cell, cy = y / cell;
    float fx = (float)(x - cx * cell) / (float)cell, fy = (float)(y - cy * cell) / (float)cell;
    fx = fx * fx * (3.0f - 2.0f * fx);
    fy = fy * fy * (3.0f - 2.0f * fy);
    float a = lattice(cx, cy, seed), b = lattice(cx + 1, cy, seed);
    float c = lattice(cx, cy + 1, seed), d = lattice(cx + 1, cy + 1, seed);
    return (a + (b - a) * fx) + ((c + (d - c) * fx) - (a + (b - a) * fx)) * fy;
}

typedef struct canvas {
    int w, h;
    float *rgb;     /* w * h * 3, 0..255 before clamping */
    uint8_t *label; /* class id, or UNET_IGNORE_LABEL where unannotated */
    float tint[3];  /* per-scene colour cast, so parts of a scene look alike */
} canvas;

static void paint(canvas *c, int x, int y, int cls, float r, float g, float b)
{
    size_t i = (size_t)y * c->w + x;
    c->rgb[3 * i] = r + c->tint[0];
    c->rgb[3 * i + 1] = g + c->tint[1];
    c->rgb[3 * i + 2] = b + c->tint[2];
    c->label[i] = (uint8_t)cls;
}

static void paint_land(canvas *c, uint32_t seed)
{
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) {
            float low = value_noise(x, y, 40, seed) - 0.5f, mid = value_noise(x, y, 7, seed + 1) - 0.5f;
            float v = 50.0f * low + 22.0f * mid;
            paint(c, x, y, CLASS_LAND, 190.0f + v, 160.0f + v * 0.9f, 122.0f + v * 0.7f);
        }
}

/* A blob: inside where distance / radius falls below a noisy threshold. */
static void paint_blob(canvas *c, uint64_t *rng, int cls, uint32_t seed)
{
    int side = c->w < c->h ? c->w : c->h;
    int r = rand_int(rng, side / 14 + 2, side / 5 + 3);
    int cx = rand_int(rng, 0, c->w - 1), cy = rand_int(rng, 0, c->h - 1);
    int ragged = cls == CLASS_VEGETATION ? 5 : 12; /* water has smoother shores */
    for (int y = cy - 2 * r; y <= cy + 2 * r; y++) {
        if (y < 0 || y >= c->h) continue;
        for (int x = cx - 2 * r; x <= cx + 2 * r; x++) {
            if (x < 0 || x >= c->w) continue;
            float dx = (float)(x - cx), dy = (float)(y - cy);
            float d2 = (dx * dx + dy * dy) / ((float)r * (float)r);
            float edge = 0.55f + 0.9f * value_noise(x, y, ragged, seed);
            if (d2 >= edge * edge) continue;
            if (cls == CLASS_VEGETATION) {
                /* Canopy texture: fine-grained light/dark speckle. */
                float t = value_noise(x, y, 2, seed + 7) - 0.5f, u = value_noise(x, y, 9, seed + 8) - 0.5f;
                paint(c, x, y, cls, 72.0f + 70.0f * t + 20.0f * u, 104.0f + 80.0f * t + 25.0f * u, 52.0f + 40.0f * t);
            } else {
                /* Water: dark, smooth, slightly brighter towards the shore. */
                float ripple = value_noise(x, y, 5, seed + 9) - 0.5f;
                float shore = d2 / (edge * edge);
                paint(c, x, y, cls, 38.0f + 30.0f * shore + 8.0f * ripple, 70.0f + 30.0f * shore + 8.0f * ripple,
                      98.0f + 25.0f * shore + 10.0f * ripple);
            }
        }
    }
}

/* A road: a thick segment between two points on the border. */
static void paint_road(canvas *c, uint64_t *rng, uint32_t seed)
{
    float p[2][2];
    for (int k = 0; k < 2; k++) {
        int side = rand_int(rng, 0, 3);
        float t = rand_unit(rng);
        p[k][0] = side == 0 ? 0.0f : side == 1 ? (float)(c->w - 1) : t * (float)(c->w - 1);
        p[k][1] = side == 2 ? 0.0f : side == 3 ? (float)(c->h - 1) : t * (float)(c->h - 1);
    }
    float half = 1.5f + (float)rand_int(rng, 0, 2 + (c->w + c->h) / 200);
    float dx = p[1][0] - p[0][0], dy = p[1][1] - p[0][1];
    float len2 = dx * dx + dy * dy;
    if (len2 < 1.0f) return;
    float shade = (float)rand_int(rng, -15, 15);
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) {
            float px = (float)x - p[0][0], py = (float)y - p[0][1];
            float t = (px * dx + py * dy) / len2;
            if (t < 0.0f || t > 1.0f) continue;
            float ex = px - t * dx, ey = py - t * dy;
            float d2 = ex * ex + ey * ey;
            if (d2 > half * half) continue;
            float n = 12.0f * (value_noise(x, y, 3, seed) - 0.5f);
            /* A pale centre line on wide roads. */
            float line = (half >= 3.0f && d2 < 0.5f) ? 60.0f : 0.0f;
            paint(c, x, y, CLASS_ROAD, 112.0f + shade + n + line, 112.0f + shade + n + line,
                  118.0f + shade + n + line * 0.8f);
        }
}

static const float roof_colors[][3] = {
    {205, 203, 200}, /* light concrete */
    {236, 234, 226}, /* white */
    {168, 92, 70},   /* terracotta */
    {104, 104, 110}, /* dark, close to asphalt */
    {150, 140, 128}, /* close to dry land */
};

static int overlaps_road(const canvas *c, int x0, int y0, int x1, int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            if (c->label[(size_t)y * c->w + x] == CLASS_ROAD) return 1;
    return 0;
}

static void paint_building(canvas *c, uint64_t *rng, uint32_t seed)
{
    int side = c->w < c->h ? c->w : c->h;
    for (int attempt = 0; attempt < 8; attempt++) {
        int bw = rand_int(rng, 4, side / 6 + 5), bh = rand_int(rng, 4, side / 6 + 5);
        if (bw > c->w - 2 || bh > c->h - 2) continue;
        int x0 = rand_int(rng, 0, c->w - bw - 2), y0 = rand_int(rng, 0, c->h - bh - 2);
        if (overlaps_road(c, x0, y0, x0 + bw + 2, y0 + bh + 2)) continue;
        const float *roof = roof_colors[rand_int(rng, 0, (int)(sizeof roof_colors / sizeof roof_colors[0]) - 1)];
        /* Shadow: 2 px below and right, darkening what is there, label kept. */
        for (int y = y0 + 2; y < y0 + bh + 2; y++)
            for (int x = x0 + 2; x < x0 + bw + 2; x++) {
                size_t i = (size_t)y * c->w + x;
                for (int k = 0; k < 3; k++) c->rgb[3 * i + k] *= 0.55f;
            }
        for (int y = y0; y < y0 + bh; y++)
            for (int x = x0; x < x0 + bw; x++) {
                float n = 10.0f * (value_noise(x, y, 4, seed) - 0.5f);
                /* A lit edge on the top and left rim. */
                float rim = (x == x0 || y == y0) ? 18.0f : 0.0f;
                paint(c, x, y, CLASS_BUILDING, roof[0] + n + rim, roof[1] + n + rim, roof[2] + n + rim);
            }
        return;
    }
}

static void paint_unlabeled(canvas *c, uint64_t *rng, uint32_t seed)
{
    int pw = rand_int(rng, 3, 3 + c->w / 16), ph = rand_int(rng, 3, 3 + c->h / 16);
    if (pw >= c->w || ph >= c->h) return;
    int x0 = rand_int(rng, 0, c->w - pw), y0 = rand_int(rng, 0, c->h - ph);
    for (int y = y0; y < y0 + ph; y++)
        for (int x = x0; x < x0 + pw; x++) {
            float n = 40.0f * (value_noise(x, y, 2, seed) - 0.5f);
            paint(c, x, y, CLASS_UNLABELED, 140.0f + n, 138.0f + n, 135.0f + n);
        }
}

/* Unannotated: the mask says black (ignore), the picture is left as is. */
static void mark_unannotated(canvas *c, uint64_t *rng)
{
    int pw = rand_int(rng, 2, 2 + c->w / 12), ph = rand_int(rng, 2, 2 + c->h / 12);
    if (pw >= c->w || ph >= c->h) return;
    int x0 = rand_int(rng, 0, c->w - pw), y0 = rand_int(rng, 0, c->h - ph);
    for (int y = y0; y < y0 + ph; y++) memset(c->label + (size_t)y * c->w + x0, UNET_IGNORE_LABEL, (size_t)pw);
}

static void generate(canvas *c, uint64_t scene_seed, uint64_t part_seed)
{
    uint64_t scene_rng = scene_seed, rng = part_seed;
    for (int k = 0; k < 3; k++) c->tint[k] = (float)rand_int(&scene_rng, -14, 14);
    float area = (float)c->w * (float)c->h / (256.0f * 256.0f);
    uint32_t s = (uint32_t)splitmix64(&rng);

    paint_land(c, s);
    int n_veg = rand_int(&rng, 1, 2 + (int)(3 * area));
    for (int i = 0; i < n_veg; i++) paint_blob(c, &rng, CLASS_VEGETATION, s + 100 + (uint32_t)i);
    int n_water = rand_int(&rng, 0, 1 + (int)area);
    for (int i = 0; i < n_water; i++) paint_blob(c, &rng, CLASS_WATER, s + 200 + (uint32_t)i);
    int n_roads = rand_int(&rng, 1, 2 + (int)area);
    for (int i = 0; i < n_roads; i++) paint_road(c, &rng, s + 300 + (uint32_t)i);
    int n_buildings = rand_int(&rng, 2, 4 + (int)(8 * area));
    for (int i = 0; i < n_buildings; i++) paint_building(c, &rng, s + 400 + (uint32_t)i);
    if (rand_int(&rng, 0, 1)) paint_unlabeled(c, &rng, s + 500);
    if (rand_int(&rng, 0, 2) == 0) mark_unannotated(c, &rng);
}

static void to_pixels(const canvas *c, uint64_t noise_seed, uint8_t *rgb, uint8_t *mask_rgb,
                      const unet_palette *pal)
{
    uint64_t rng = noise_seed;
    size_t n = (size_t)c->w * c->h;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) {
            float v = c->rgb[3 * i + k] + (float)((int)(splitmix64(&rng) % 13) - 6);
            rgb[3 * i + k] = (uint8_t)(v < 0.0f ? 0 : v > 255.0f ? 255 : (int)(v + 0.5f));
        }
        if (c->label[i] == UNET_IGNORE_LABEL) memset(mask_rgb + 3 * i, 0, 3);
        else memcpy(mask_rgb + 3 * i, pal->classes[c->label[i]].rgb, 3);
    }
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST) return 0;
    fprintf(stderr, "unet-synth: cannot create %s: %s\n", path, strerror(errno));
    return -1;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: unet-synth -o DIR [--scenes N] [--parts P] [--size WxH] [--seed S]\n"
            "                  [--force] [--quiet] [--help] [--version]\n"
            "\n"
            "Writes synthetic aerial-like scenes for tests and demos:\n"
            "  DIR/scene-K/images/part_NNN.png   RGB picture\n"
            "  DIR/scene-K/masks/part_NNN.png    RGB colour mask in the default palette\n"
            "                                    (black = not annotated)\n"
            "K = 1..N, NNN = 001..P. The same seed gives the same files.\n"
            "\n"
            "  -o, --out DIR     output folder (created)\n"
            "  --scenes N        number of scenes (default 3)\n"
            "  --parts P         parts (image/mask pairs) per scene (default 1)\n"
            "  --size WxH        size of each part (default 256x256)\n"
            "  --seed S          random seed (default 1)\n"
            "  --force           overwrite existing parts\n"
            "  -q, --quiet       no messages except errors\n"
            "  -h, --help        this text\n"
            "  --version         print the version\n"
            "\n"
            "Exit status: 0 done, 1 a file could not be written, 2 bad usage.\n");
}

int main(int argc, char **argv)
{
    const char *out = NULL;
    long n_scenes = 3, n_parts = 1, width = 256, height = 256;
    unsigned long long seed = 1;
    int force = 0, quiet = 0;
    enum { OPT_SCENES = 256, OPT_PARTS, OPT_SIZE, OPT_SEED, OPT_FORCE, OPT_QUIET, OPT_VERSION };
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},    {"scenes", required_argument, NULL, OPT_SCENES},
        {"parts", required_argument, NULL, OPT_PARTS}, {"size", required_argument, NULL, OPT_SIZE},
        {"seed", required_argument, NULL, OPT_SEED}, {"force", no_argument, NULL, OPT_FORCE},
        {"quiet", no_argument, NULL, OPT_QUIET},  {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION}, {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "o:hq", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case OPT_SCENES:
            if (cli_parse_long(optarg, 1, 9999, &n_scenes)) {
                fprintf(stderr, "unet-synth: --scenes wants 1..9999, got '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_PARTS:
            if (cli_parse_long(optarg, 1, 999, &n_parts)) {
                fprintf(stderr, "unet-synth: --parts wants 1..999, got '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_SIZE: {
            const char *x = strchr(optarg, 'x');
            char wbuf[32];
            if (!x || (size_t)(x - optarg) >= sizeof wbuf) goto bad_size;
            memcpy(wbuf, optarg, (size_t)(x - optarg));
            wbuf[x - optarg] = '\0';
            if (cli_parse_long(wbuf, 1, 16384, &width) || cli_parse_long(x + 1, 1, 16384, &height)) goto bad_size;
            break;
        bad_size:
            fprintf(stderr, "unet-synth: --size wants WxH with sides 1..16384, got '%s'\n", optarg);
            return 2;
        }
        case OPT_SEED: {
            char *end;
            errno = 0;
            seed = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-') {
                fprintf(stderr, "unet-synth: --seed wants a non-negative integer, got '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case OPT_FORCE: force = 1; break;
        case 'q':
        case OPT_QUIET: quiet = 1; break;
        case 'h': usage(stdout); return 0;
        case OPT_VERSION: printf("unet-synth %s\n", UNET_VERSION_STRING); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "unet-synth: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!out) {
        fprintf(stderr, "unet-synth: -o DIR is required\n");
        usage(stderr);
        return 2;
    }

    unet_palette pal;
    unet_palette_default(&pal);
    size_t n = (size_t)width * (size_t)height;
    canvas cv = {(int)width, (int)height, malloc(n * 3 * sizeof(float)), malloc(n), {0, 0, 0}};
    uint8_t *rgb = malloc(n * 3), *mask = malloc(n * 3);
    size_t plen = strlen(out) + 64;
    char *path = malloc(plen);
    if (!cv.rgb || !cv.label || !rgb || !mask || !path) {
        fprintf(stderr, "unet-synth: out of memory for %ldx%ld parts\n", width, height);
        return 1;
    }

    int status = 0;
    if (make_dir(out)) status = 1;
    for (long s = 1; s <= n_scenes && !status; s++) {
        static const char *const sub[] = {"", "/images", "/masks"};
        for (int k = 0; k < 3 && !status; k++) {
            snprintf(path, plen, "%s/scene-%ld%s", out, s, sub[k]);
            if (make_dir(path)) status = 1;
        }
        uint64_t scene_seed = (uint64_t)seed * 0x100000001B3ull + (uint64_t)s * 0x9E3779B97F4A7C15ull;
        for (long p = 1; p <= n_parts && !status; p++) {
            uint64_t part_seed = scene_seed ^ ((uint64_t)p * 0xD1B54A32D192ED03ull);
            splitmix64(&part_seed);
            char img_path[4096], mask_path[4096];
            snprintf(img_path, sizeof img_path, "%s/scene-%ld/images/part_%03ld.png", out, s, p);
            snprintf(mask_path, sizeof mask_path, "%s/scene-%ld/masks/part_%03ld.png", out, s, p);
            if (!force && (file_exists(img_path) || file_exists(mask_path))) {
                fprintf(stderr, "unet-synth: %s exists; use --force to overwrite\n", img_path);
                status = 2;
                break;
            }
            generate(&cv, scene_seed, part_seed);
            to_pixels(&cv, part_seed ^ 0xA5A5A5A5ull, rgb, mask, &pal);
            unet_image img = {(int)width, (int)height, 3, rgb};
            unet_image msk = {(int)width, (int)height, 3, mask};
            if (unet_png_write(img_path, &img, NULL, 0) != UNET_OK ||
                unet_png_write(mask_path, &msk, NULL, 0) != UNET_OK) {
                fprintf(stderr, "unet-synth: %s\n", unet_last_error());
                status = 1;
            }
        }
    }
    if (!status && !quiet)
        fprintf(stderr, "unet-synth: wrote %ld scene(s) x %ld part(s) of %ldx%ld to %s\n", n_scenes, n_parts,
                width, height, out);
    free(cv.rgb);
    free(cv.label);
    free(rgb);
    free(mask);
    free(path);
    return status;
}
