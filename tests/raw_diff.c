/* raw-diff: the maximum absolute difference between two raw little-endian
 * float32 files of the same length, for tests that compare libunet with
 * another runtime's output. A NaN or infinity on either side is a failure. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *read_all(const char *path, size_t *count)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "raw-diff: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    float *data = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || size % (long)sizeof(float) != 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "raw-diff: %s: size %ld is not a whole number of float32 values\n", path, size);
    } else {
        *count = (size_t)size / sizeof(float);
        data = malloc(*count ? *count * sizeof *data : 1);
        if (!data || fread(data, sizeof *data, *count, f) != *count) {
            fprintf(stderr, "raw-diff: %s: %s\n", path, data ? "short read" : "out of memory");
            free(data);
            data = NULL;
        }
    }
    fclose(f);
    return data;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: raw-diff GOT.f32 EXPECTED.f32 TOLERANCE\n"
                        "Prints the max abs difference; exit 0 within TOLERANCE, 1 beyond, 2 on errors.\n");
        return 2;
    }
    char *end;
    double tol = strtod(argv[3], &end);
    if (*end || !(tol >= 0)) {
        fprintf(stderr, "raw-diff: bad tolerance '%s'\n", argv[3]);
        return 2;
    }
    size_t n_got = 0, n_exp = 0;
    float *got = read_all(argv[1], &n_got);
    float *exp = got ? read_all(argv[2], &n_exp) : NULL;
    int rc = 2;
    if (got && exp && n_got != n_exp) {
        fprintf(stderr, "raw-diff: %s holds %zu values, %s holds %zu\n", argv[1], n_got, argv[2], n_exp);
    } else if (got && exp && n_got == 0) {
        fprintf(stderr, "raw-diff: both files are empty\n");
    } else if (got && exp) {
        double max = 0;
        size_t at = 0, bad = 0;
        for (size_t i = 0; i < n_got; i++) {
            double d = fabs((double)got[i] - (double)exp[i]);
            if (!isfinite(got[i]) || !isfinite(exp[i]))
                d = INFINITY;
            if (d > tol)
                bad++;
            if (d > max) {
                max = d;
                at = i;
            }
        }
        printf("max abs diff %.3g at index %zu (got %.9g, expected %.9g) over %zu values; %zu beyond %g\n",
               max, at, (double)got[at], (double)exp[at], n_got, bad, tol);
        rc = bad ? 1 : 0;
    }
    free(got);
    free(exp);
    return rc;
}
