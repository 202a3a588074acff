/* unet-conformance: runs ONNX backend test cases (a folder holding model.onnx
 * and test_data_set_N/{input,output}_K.pb) through libunet and compares every
 * output with the reference (dtype exact, |a - b| <= abs_tol + rel_tol * |b|). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <unet/unet.h>

#include "graph.h"
#include "onnx.pb-c.h"
#include "tensor_data.h"

typedef struct exception_entry {
    char name[256];
    char reason[512];
    int seen;
} exception_entry;

static exception_entry *exceptions;
static int n_exceptions;
static double rel_tol = 1e-3, abs_tol = 1e-7;
static int verbose;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unet-conformance [options] DIR...\n"
            "Runs every ONNX backend test case found in or below DIR (a case is a folder\n"
            "with model.onnx and test_data_set_N/ holding input_K.pb and output_K.pb) and\n"
            "compares every output with the reference.\n\n"
            "  --exceptions FILE  known failures, one 'NAME<TAB>REASON' per line: they\n"
            "                     are reported as 'expected failure' and do not fail the run\n"
            "  --rtol X           relative tolerance (default 1e-3, as ONNX's runner)\n"
            "  --atol X           absolute tolerance (default 1e-7)\n"
            "  --verbose          print the load error of skipped cases in full\n"
            "  -h, --help         this text\n\n"
            "Prints one line per case (pass, FAIL with the largest error and where, or\n"
            "skip with the reason), then 'N passed, N failed, N skipped'. Exit status 0\n"
            "when no case failed outside the exceptions, 1 otherwise, 2 on bad usage.\n");
}

static void load_exceptions(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "unet-conformance: cannot open %s: %s\n", path, strerror(errno));
        exit(2);
    }
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        exception_entry *e = realloc(exceptions, (size_t)(n_exceptions + 1) * sizeof *e);
        if (!e)
            exit(2);
        exceptions = e;
        e = &exceptions[n_exceptions++];
        memset(e, 0, sizeof *e);
        char *tab = strchr(line, '\t');
        if (tab) {
            *tab = '\0';
            snprintf(e->reason, sizeof e->reason, "%.511s", tab + 1);
        }
        snprintf(e->name, sizeof e->name, "%.255s", line);
    }
    fclose(f);
}

static exception_entry *find_exception(const char *name)
{
    for (int i = 0; i < n_exceptions; i++)
        if (!strcmp(exceptions[i].name, name))
            return &exceptions[i];
    return NULL;
}

static int read_file(const char *path, void **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0) {
        fclose(f);
        return -1;
    }
    *data = malloc((size_t)n + 1);
    if (!*data || fread(*data, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(*data);
        return -1;
    }
    fclose(f);
    *size = (size_t)n;
    return 0;
}

/* Reads a serialised TensorProto into t (data malloc'ed). */
static int read_tensor(const char *path, unet_tensor *t, char *why, size_t why_size)
{
    void *buf;
    size_t size;
    if (read_file(path, &buf, &size) != 0) {
        snprintf(why, why_size, "cannot read %s", path);
        return -1;
    }
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, size, buf);
    free(buf);
    if (!tp) {
        snprintf(why, why_size, "%s is not a TensorProto", path);
        return -1;
    }
    tensor_load_ctx ctx = { NULL, 0, 1ULL << 31 };
    size_t nbytes;
    memset(t, 0, sizeof *t);
    unet_status s = tensor_from_proto(tp, &ctx, &t->dtype, &t->rank, t->dims, &t->data, &nbytes);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    if (s != UNET_OK) {
        snprintf(why, why_size, "%s", unet_last_error());
        return -1;
    }
    return 0;
}

static double value_at(const unet_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case UNET_DTYPE_FLOAT: return ((const float *)t->data)[i];
    case UNET_DTYPE_DOUBLE: return ((const double *)t->data)[i];
    case UNET_DTYPE_INT64: return (double)((const int64_t *)t->data)[i];
    case UNET_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case UNET_DTYPE_INT16: return ((const int16_t *)t->data)[i];
    case UNET_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case UNET_DTYPE_UINT8: case UNET_DTYPE_BOOL: return ((const uint8_t *)t->data)[i];
    case UNET_DTYPE_UINT16: return ((const uint16_t *)t->data)[i];
    case UNET_DTYPE_UINT32: return ((const uint32_t *)t->data)[i];
    case UNET_DTYPE_UINT64: return (double)((const uint64_t *)t->data)[i];
    default: return NAN;
    }
}

/* Returns 0 when equal within tolerance; otherwise describes the worst element. */
static int compare(const unet_tensor *got, const unet_tensor *want, char *why, size_t why_size)
{
    if (got->dtype != want->dtype) {
        snprintf(why, why_size, "dtype %s, expected %s", unet_dtype_name(got->dtype), unet_dtype_name(want->dtype));
        return 1;
    }
    if (got->rank != want->rank) {
        snprintf(why, why_size, "rank %d, expected %d", got->rank, want->rank);
        return 1;
    }
    int64_t n = 1;
    for (int d = 0; d < want->rank; d++) {
        if (got->dims[d] != want->dims[d]) {
            snprintf(why, why_size, "dimension %d is %lld, expected %lld", d, (long long)got->dims[d], (long long)want->dims[d]);
            return 1;
        }
        n *= want->dims[d];
    }
    double worst = 0, worst_abs = 0, worst_rel = 0;
    int64_t at = -1;
    for (int64_t i = 0; i < n; i++) {
        double a = value_at(got, i), b = value_at(want, i);
        if (isnan(a) && isnan(b))
            continue;
        if (isinf(a) && isinf(b) && (a > 0) == (b > 0))
            continue;
        double diff = fabs(a - b);
        double excess = diff - (abs_tol + rel_tol * fabs(b));
        if (isnan(diff) || excess > worst) {
            worst = isnan(diff) ? INFINITY : excess;
            worst_abs = diff;
            worst_rel = b != 0 ? diff / fabs(b) : INFINITY;
            at = i;
        }
    }
    if (at >= 0) {
        snprintf(why, why_size, "max abs error %.3g, rel %.3g at flat index %lld (got %.7g, expected %.7g)",
                 worst_abs, worst_rel, (long long)at, value_at(got, at), value_at(want, at));
        return 1;
    }
    return 0;
}

enum { R_PASS, R_FAIL, R_SKIP };

static int run_case(const char *dir, const char *name, char *why, size_t why_size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    unet_model *m = NULL;
    unet_status s = unet_model_open_file(path, NULL, &m);
    if (s != UNET_OK) {
        const char *msg = unet_last_error();
        if (!verbose) {
            const char *nl = strchr(msg, '\n');
            snprintf(why, why_size, "%.*s", nl ? (int)(nl - msg) : (int)strlen(msg), msg);
            if (nl)
                snprintf(why + strlen(why), why_size - strlen(why), "%s", nl + 1);
        } else {
            snprintf(why, why_size, "%s", msg);
        }
        for (char *c = why; *c; c++)
            if (*c == '\n')
                *c = ' ';
        return s == UNET_ERR_UNSUPPORTED ? R_SKIP : R_FAIL;
    }
    unet_session *sess = NULL;
    if (unet_session_create(m, NULL, &sess) != UNET_OK) {
        snprintf(why, why_size, "%s", unet_last_error());
        unet_model_free(m);
        return R_FAIL;
    }
    int result = R_PASS;
    int sets = 0;
    for (int set = 0; result == R_PASS; set++) {
        snprintf(path, sizeof path, "%s/test_data_set_%d", dir, set);
        struct stat st;
        if (stat(path, &st) != 0)
            break;
        sets++;
        int n_in = unet_model_input_count(m);
        unet_tensor inputs[16];
        memset(inputs, 0, sizeof inputs);
        int ok = 1;
        for (int i = 0; i < n_in && ok; i++) {
            snprintf(path, sizeof path, "%s/test_data_set_%d/input_%d.pb", dir, set, i);
            if (read_tensor(path, &inputs[i], why, why_size) != 0) {
                ok = 0;
                result = R_FAIL;
            }
        }
        unet_status rs = ok ? unet_session_run(sess, inputs, n_in) : UNET_OK;
        if (ok && rs != UNET_OK) {
            snprintf(why, why_size, "set %d: %s", set, unet_last_error());
            for (char *c = why; *c; c++)
                if (*c == '\n')
                    *c = ' ';
            /* A type or attribute outside the supported set shows only once
             * shapes are known: that is a skip, not a wrong answer. */
            result = rs == UNET_ERR_UNSUPPORTED ? R_SKIP : R_FAIL;
            ok = 0;
        }
        for (int o = 0; ok && o < unet_model_output_count(m); o++) {
            unet_tensor want, got;
            snprintf(path, sizeof path, "%s/test_data_set_%d/output_%d.pb", dir, set, o);
            if (read_tensor(path, &want, why, why_size) != 0) {
                result = R_FAIL;
                break;
            }
            unet_session_output(sess, o, &got);
            char detail[512];
            if (compare(&got, &want, detail, sizeof detail)) {
                unet_tensor_info info;
                unet_model_output_info(m, o, &info);
                snprintf(why, why_size, "set %d output '%s': %s", set, info.name, detail);
                result = R_FAIL;
            }
            free(want.data);
        }
        for (int i = 0; i < n_in; i++)
            free(inputs[i].data);
    }
    if (result == R_PASS && sets == 0) {
        snprintf(why, why_size, "no test_data_set_N folder");
        result = R_SKIP;
    }
    (void)name;
    unet_session_free(sess);
    unet_model_free(m);
    return result;
}

typedef struct counts {
    int passed, failed, skipped, expected;
} counts;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void walk(const char *dir, counts *c)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    struct stat st;
    if (stat(path, &st) == 0) {
        const char *name = strrchr(dir, '/');
        name = name ? name + 1 : dir;
        char why[2048] = "";
        int r = run_case(dir, name, why, sizeof why);
        exception_entry *e = find_exception(name);
        if (r == R_PASS) {
            c->passed++;
            printf("pass  %s%s\n", name, e ? "  (listed as an exception: remove it)" : "");
        } else if (r == R_SKIP) {
            c->skipped++;
            printf("skip  %s: %s\n", name, why);
        } else if (e) {
            c->skipped++;
            c->expected++;
            e->seen = 1;
            printf("skip  %s: expected failure: %s (%s)\n", name, e->reason, why);
        } else {
            c->failed++;
            printf("FAIL  %s: %s\n", name, why);
        }
        fflush(stdout);
        return;
    }
    DIR *d = opendir(dir);
    if (!d)
        return;
    char **names = NULL;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char **nn = realloc(names, (size_t)(n + 1) * sizeof *nn);
        if (!nn)
            break;
        names = nn;
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            walk(path, c);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "exceptions", required_argument, NULL, 'e' },
        { "rtol", required_argument, NULL, 'r' },
        { "atol", required_argument, NULL, 'a' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'e': load_exceptions(optarg); break;
        case 'r': rel_tol = atof(optarg); break;
        case 'a': abs_tol = atof(optarg); break;
        case 'v': verbose = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    counts c = { 0, 0, 0, 0 };
    for (int i = optind; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "unet-conformance: %s is not a folder\n", argv[i]);
            return 2;
        }
        walk(argv[i], &c);
    }
    for (int i = 0; i < n_exceptions; i++)
        if (!exceptions[i].seen)
            fprintf(stderr, "note: exception '%s' did not fail (or was not run)\n", exceptions[i].name);
    printf("%d passed, %d failed, %d skipped\n", c.passed, c.failed, c.skipped);
    free(exceptions);
    return c.failed ? 1 : 0;
}
