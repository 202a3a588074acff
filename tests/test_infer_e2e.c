/* unet-infer end to end, as a user runs it: a U-Net with random parameters is
 * exported to model.onnx, a folder of random RGB tiles (two sizes, one corrupt
 * file) is segmented with --batch 4 --json, and every mask is read back with
 * libpng and compared with the argmax of the naive double-precision reference
 * U-Net on the same pixels (x/255). Then: a second run skips everything, masks
 * of another model are refused without --force and replaced with it, and
 * --probs writes float16 .npy files that match the reference probabilities.
 * The path of the unet-infer binary comes from the environment (UNET_INFER). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <png.h>

#include <unet/image.h>

#include "export_onnx.h"
#include "random_params.h"
#include "reference_unet.h"

#define N_CLASSES 6
#define N_TILES 10
#define CORRUPT_TILE 8
/* argmax may differ from the reference only where its top two are this close */
#define TIE_TOL 1e-5
/* float16 holds probabilities in [0, 1] to about 2.5e-4 */
#define PROB_TOL 1e-3

static const char *const class_names[N_CLASSES] = { "a", "b", "c", "d", "e", "f" };
/* Not the default palette, so the masks' palette must come from the model. */
static const char *const class_colors[N_CLASSES] = { "#102030", "#FF0000", "#00C040", "#123456",
                                                     "#ABCDEF", "#7F7F01" };

typedef struct tile_ref {
    char name[16];
    int w, h, corrupt;
    uint8_t *rgb;       /* h * w * 3 */
    double *probs[2];   /* reference probabilities for model 1 and model 2 (C x H x W) */
} tile_ref;

static char root[512], tiles_dir[600], out_dir[600], out2_dir[600], model1[700], model2[700];
static tile_ref tiles[N_TILES];
static unet_params *params[2];

static uint64_t rng = 0x1234567887654321ull;

static uint8_t rand_byte(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t)(rng >> 32);
}

static void export_model(const unet_params *p, const char *path)
{
    unet_export_meta meta = { N_CLASSES, class_names, class_colors, "{\"test\":true}", NULL };
    if (unet_export_onnx(path, p, &meta) != UNET_OK)
        fail_msg("export %s: %s", path, unet_last_error());
}

static void reference_probs(const unet_params *p, const tile_ref *t, double *probs)
{
    size_t plane = (size_t)t->w * (size_t)t->h;
    float *input = malloc(3 * plane * sizeof *input);
    assert_non_null(input);
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++)
            input[c * plane + i] = (float)t->rgb[i * 3 + c] / 255.0f;
    assert_int_equal(reference_unet_forward(p, 1, t->h, t->w, input, NULL, probs), 0);
    free(input);
}

static int argmax_at(const double *p, size_t plane, size_t px)
{
    int best = 0;
    for (int k = 1; k < N_CLASSES; k++)
        if (p[k * plane + px] > p[best * plane + px])
            best = k;
    return best;
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/unet-test-infer-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(root))
        return -1;
    snprintf(tiles_dir, sizeof tiles_dir, "%s/tiles", root);
    snprintf(out_dir, sizeof out_dir, "%s/out", root);
    snprintf(out2_dir, sizeof out2_dir, "%s/out_probs", root);
    char d1[600], d2[600];
    snprintf(d1, sizeof d1, "%s/m1", root);
    snprintf(d2, sizeof d2, "%s/m2", root);
    if (mkdir(tiles_dir, 0700) || mkdir(d1, 0700) || mkdir(d2, 0700))
        return -1;
    snprintf(model1, sizeof model1, "%s/model.onnx", d1);
    snprintf(model2, sizeof model2, "%s/model.onnx", d2);

    unet_arch arch = { .in_channels = 3, .n_classes = N_CLASSES, .depth = 2, .base_filters = 4 };
    params[0] = random_params_create(&arch, 7);
    params[1] = random_params_create(&arch, 7);
    if (!params[0] || !params[1])
        return -1;
    /* Model 2 differs in one weight: class 0's head bias, shifted enough to
     * change some pixels' class (checked below), not all. */
    net_param *hb = random_params_find(params[1], "head.bias");
    if (!hb)
        return -1;
    hb->data[0] += 0.2f;
    export_model(params[0], model1);
    export_model(params[1], model2);

    for (int i = 0; i < N_TILES; i++) {
        tile_ref *t = &tiles[i];
        snprintf(t->name, sizeof t->name, "t%02d", i);
        char path[700];
        snprintf(path, sizeof path, "%s/%.15s.png", tiles_dir, t->name);
        if (i == CORRUPT_TILE) {
            /* a PNG signature, then junk */
            uint8_t junk[200] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
            for (size_t k = 8; k < sizeof junk; k++)
                junk[k] = rand_byte();
            FILE *f = fopen(path, "wb");
            if (!f || fwrite(junk, 1, sizeof junk, f) != sizeof junk || fclose(f))
                return -1;
            t->corrupt = 1;
            continue;
        }
        t->w = t->h = i == 5 || i == 6 ? 48 : 32; /* a different batch shape */
        size_t plane = (size_t)t->w * (size_t)t->h;
        t->rgb = malloc(plane * 3);
        if (!t->rgb)
            return -1;
        for (size_t k = 0; k < plane * 3; k++)
            t->rgb[k] = rand_byte();
        unet_image img = { t->w, t->h, 3, t->rgb };
        if (unet_png_write(path, &img, NULL, 0) != UNET_OK)
            return -1;
        for (int m = 0; m < 2; m++) {
            t->probs[m] = malloc(N_CLASSES * plane * sizeof(double));
            if (!t->probs[m])
                return -1;
            reference_probs(params[m], t, t->probs[m]);
        }
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < N_TILES; i++) {
        free(tiles[i].rgb);
        free(tiles[i].probs[0]);
        free(tiles[i].probs[1]);
    }
    random_params_free(params[0]);
    random_params_free(params[1]);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- running unet-infer ---- */

static char json[8192];

/* Runs unet-infer with args (NULL-terminated); stdout goes to json, stderr to
 * a log shown on unexpected exit statuses. Returns the exit status. */
static int run_infer(const char *const *args)
{
    const char *exe = getenv("UNET_INFER");
    if (!exe)
        fail_msg("UNET_INFER is not set (meson passes the unet-infer path)");
    const char *argv[32];
    int n = 0;
    argv[n++] = exe;
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char out_path[700], err_path[700];
    snprintf(out_path, sizeof out_path, "%s/stdout.txt", root);
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", root);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
            _exit(126);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    FILE *f = fopen(out_path, "rb");
    assert_non_null(f);
    size_t got = fread(json, 1, sizeof json - 1, f);
    json[got] = '\0';
    fclose(f);
    if (!WIFEXITED(st))
        fail_msg("unet-infer did not exit normally (status 0x%x)", st);
    return WEXITSTATUS(st);
}

static void show_stderr(void)
{
    char path[700], buf[4096];
    snprintf(path, sizeof path, "%s/stderr.txt", root);
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = '\0';
    fclose(f);
    fprintf(stderr, "unet-infer stderr:\n%s\n", buf);
}

static long json_int(const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (!p)
        fail_msg("JSON has no \"%s\": %s", key, json);
    return strtol(p + strlen(pat), NULL, 10);
}

static void expect_run(const char *const *args, int status, long written, long skipped, long failed)
{
    int st = run_infer(args);
    if (st != status || json_int("written") != written || json_int("skipped") != skipped ||
        json_int("failed") != failed) {
        show_stderr();
        fail_msg("exit %d (expected %d), JSON %s (expected written %ld, skipped %ld, failed %ld)", st, status, json,
                 written, skipped, failed);
    }
    assert_int_equal(json_int("tiles"), N_TILES);
}

/* ---- reading masks with libpng ---- */

typedef struct mask {
    int w, h;
    uint8_t *idx;
    int n_palette;
    uint8_t palette[256][3];
    char model_tag[128];
} mask;

static void read_mask(const char *path, mask *m)
{
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: %s", path, strerror(errno));
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("%s: libpng cannot read it", path);
    png_init_io(png, f);
    png_read_info(png, info);
    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    if (color != PNG_COLOR_TYPE_PALETTE || depth != 8)
        fail_msg("%s: colour type %d, bit depth %d; expected an 8-bit palette PNG", path, color, depth);
    png_colorp pal;
    int n_pal = 0;
    assert_true(png_get_PLTE(png, info, &pal, &n_pal) != 0);
    m->n_palette = n_pal;
    for (int i = 0; i < n_pal; i++) {
        m->palette[i][0] = pal[i].red;
        m->palette[i][1] = pal[i].green;
        m->palette[i][2] = pal[i].blue;
    }
    m->w = (int)w;
    m->h = (int)h;
    m->idx = malloc((size_t)w * h);
    assert_non_null(m->idx);
    png_bytep *rows = malloc(h * sizeof *rows);
    assert_non_null(rows);
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = m->idx + (size_t)y * w;
    png_read_image(png, rows);
    png_read_end(png, info);
    png_textp text;
    int n_text = 0;
    png_get_text(png, info, &text, &n_text);
    for (int i = 0; i < n_text; i++)
        if (!strcmp(text[i].key, "unet:model"))
            snprintf(m->model_tag, sizeof m->model_tag, "%s", text[i].text);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
}

/* SHA-256 of a file by coreutils' sha256sum, independent of libunet's. */
static void sha256_of(const char *path, char hex[65])
{
    char cmd[800];
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%64s", hex), 1);
    assert_int_equal(pclose(p), 0);
}

static int hex_color(const char *s, int i)
{
    unsigned v = 0;
    sscanf(s + 1 + 2 * i, "%2x", &v);
    return (int)v;
}

/* Every good tile's mask: right size, the model's palette and tag, and indices
 * equal to the reference argmax (up to near-ties). */
static void check_masks(const char *dir, int model, const char *tag)
{
    int classes_seen[N_CLASSES] = { 0 };
    for (int i = 0; i < N_TILES; i++) {
        const tile_ref *t = &tiles[i];
        char path[700];
        snprintf(path, sizeof path, "%s/%.15s.png", dir, t->name);
        if (t->corrupt) {
            assert_int_equal(access(path, F_OK), -1);
            continue;
        }
        mask m;
        read_mask(path, &m);
        assert_int_equal(m.w, t->w);
        assert_int_equal(m.h, t->h);
        assert_int_equal(m.n_palette, N_CLASSES);
        for (int k = 0; k < N_CLASSES; k++)
            for (int c = 0; c < 3; c++)
                assert_int_equal(m.palette[k][c], hex_color(class_colors[k], c));
        assert_string_equal(m.model_tag, tag);
        size_t plane = (size_t)t->w * (size_t)t->h;
        int near_ties = 0;
        for (size_t px = 0; px < plane; px++) {
            const double *p = t->probs[model];
            int best = argmax_at(p, plane, px);
            int got = m.idx[px];
            assert_true(got < N_CLASSES);
            classes_seen[best]++;
            if (got == best)
                continue;
            if (p[best * plane + px] - p[got * plane + px] > TIE_TOL)
                fail_msg("%s pixel (%zu, %zu): class %d, reference argmax %d (p %.9f vs %.9f)", path, px % (size_t)t->w,
                         px / (size_t)t->w, got, best, p[best * plane + px], p[got * plane + px]);
            near_ties++;
        }
        if (near_ties)
            printf("  %s: %d pixel(s) differ at near-ties\n", t->name, near_ties);
        free(m.idx);
    }
    int distinct = 0;
    for (int k = 0; k < N_CLASSES; k++)
        distinct += classes_seen[k] > 0;
    printf("  model %d: %d classes in the reference argmax\n", model + 1, distinct);
    assert_true(distinct >= 2); /* the comparison means something */
}

/* Only NAME.png (and NAME.probs.npy when probs) of good tiles: no temporary files. */
static void check_folder_clean(const char *dir, int probs)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        int ok = 0;
        for (int i = 0; i < N_TILES && !ok; i++) {
            if (tiles[i].corrupt)
                continue;
            size_t len = strlen(tiles[i].name);
            if (strncmp(de->d_name, tiles[i].name, len))
                continue;
            ok = !strcmp(de->d_name + len, ".png") || (probs && !strcmp(de->d_name + len, ".probs.npy"));
        }
        if (!ok)
            fail_msg("%s holds an unexpected file: %s", dir, de->d_name);
        n++;
    }
    closedir(d);
    assert_int_equal(n, (N_TILES - 1) * (probs ? 2 : 1));
}

static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: %s", path, strerror(errno));
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *size = (size_t)len;
    return buf;
}

/* ---- the scenario ---- */

static void test_segment_resume_force(void **state)
{
    (void)state;
    /* The two models must disagree somewhere, or step 3 proves nothing. */
    size_t changed = 0, total = 0;
    for (int i = 0; i < N_TILES; i++) {
        size_t plane = (size_t)tiles[i].w * (size_t)tiles[i].h;
        for (size_t px = 0; px < plane; px++)
            changed += argmax_at(tiles[i].probs[0], plane, px) != argmax_at(tiles[i].probs[1], plane, px);
        total += plane;
    }
    printf("  model 2 changes the class of %zu of %zu pixels\n", changed, total);
    assert_true(changed > 0);
    char hash1[65], hash2[65];
    sha256_of(model1, hash1);
    sha256_of(model2, hash2);
    assert_string_not_equal(hash1, hash2);

    /* 1. First run: 9 masks, 1 failure (the corrupt file). */
    const char *args1[] = { model1, tiles_dir, "-o", out_dir, "--batch", "4", "--json", "--threads", "2", NULL };
    expect_run(args1, 1, N_TILES - 1, 0, 1);
    assert_non_null(strstr(json, "t08.png"));
    check_masks(out_dir, 0, hash1);
    check_folder_clean(out_dir, 0);

    /* 2. Same model again: everything is skipped, nothing rewritten. */
    char first[700];
    snprintf(first, sizeof first, "%s/t00.png", out_dir);
    size_t size_before, size_after;
    uint8_t *before = read_all(first, &size_before);
    expect_run(args1, 1, 0, N_TILES - 1, 1);
    uint8_t *after = read_all(first, &size_after);
    assert_int_equal(size_before, size_after);
    assert_memory_equal(before, after, size_before);
    free(before);
    free(after);
    check_folder_clean(out_dir, 0);

    /* 3. Another model: its masks are refused without --force... */
    const char *args2[] = { model2, tiles_dir, "-o", out_dir, "--batch", "4", "--json", "--threads", "2", NULL };
    expect_run(args2, 1, 0, 0, N_TILES);
    assert_non_null(strstr(json, "another model"));
    check_masks(out_dir, 0, hash1);

    /* ...and replaced with it. */
    const char *args3[] = { model2, tiles_dir, "-o", out_dir, "--batch", "4", "--json", "--threads", "2", "--force", NULL };
    expect_run(args3, 1, N_TILES - 1, 0, 1);
    check_masks(out_dir, 1, hash2);
    check_folder_clean(out_dir, 0);
}

static float half_to_float(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float v;
    if (exp == 0)
        v = ldexpf((float)mant, -24);
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexpf((float)(mant | 0x400), exp - 25);
    return sign ? -v : v;
}

static void test_probs_npy(void **state)
{
    (void)state;
    const char *args[] = { model1, tiles_dir, "-o", out2_dir, "--batch", "3", "--probs", "--json", "--threads", "2", NULL };
    expect_run(args, 1, N_TILES - 1, 0, 1);
    char hash1[65];
    sha256_of(model1, hash1);
    check_masks(out2_dir, 0, hash1);
    check_folder_clean(out2_dir, 1);
    double worst = 0;
    for (int i = 0; i < N_TILES; i++) {
        const tile_ref *t = &tiles[i];
        if (t->corrupt)
            continue;
        char path[700];
        snprintf(path, sizeof path, "%s/%.15s.probs.npy", out2_dir, t->name);
        size_t size;
        uint8_t *buf = read_all(path, &size);
        /* .npy 1.0: magic, version, little-endian header length, a dict, '\n'. */
        assert_true(size > 10);
        assert_memory_equal(buf, "\x93NUMPY\x01\x00", 8);
        size_t hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        assert_true(10 + hlen <= size);
        assert_int_equal((10 + hlen) % 64, 0);
        assert_int_equal(buf[10 + hlen - 1], '\n');
        char header[256];
        assert_true(hlen < sizeof header);
        memcpy(header, buf + 10, hlen);
        header[hlen] = '\0';
        char shape[64];
        snprintf(shape, sizeof shape, "'shape': (%d, %d, %d)", N_CLASSES, t->h, t->w);
        if (!strstr(header, "'descr': '<f2'") || !strstr(header, "'fortran_order': False") || !strstr(header, shape))
            fail_msg("%s: header %s", path, header);
        size_t plane = (size_t)t->w * (size_t)t->h;
        assert_int_equal(size - 10 - hlen, N_CLASSES * plane * 2);
        const uint8_t *data = buf + 10 + hlen;
        for (size_t k = 0; k < N_CLASSES * plane; k++) {
            float v = half_to_float((uint16_t)(data[2 * k] | data[2 * k + 1] << 8));
            double err = fabs(v - t->probs[0][k]);
            if (!(err <= PROB_TOL))
                fail_msg("%s value %zu: %.6f, reference %.6f", path, k, v, t->probs[0][k]);
            worst = err > worst ? err : worst;
        }
        free(buf);
    }
    printf("  probabilities: max |npy - reference| = %.3g\n", worst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segment_resume_force),
        cmocka_unit_test(test_probs_npy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
