/* Running the project's programs from tests and reading what they write
 * (see tool_run.h). */
#include "tool_run.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static char folder[256];
static const char *mpirun_exe;
static int own_group; /* each run in a process group of its own */
static int deadline;  /* seconds; 0: none */

/* ---- the temporary folder ------------------------------------------------------ */

int tmp_folder_create(const char *tag)
{
    const int n = snprintf(folder, sizeof folder, "/tmp/unet-test-%s-XXXXXX", tag);
    if (n < 0 || (size_t)n >= sizeof folder)
        return -1;
    return mkdtemp(folder) ? 0 : -1;
}

int tmp_folder_remove(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", folder);
    return system(cmd) == 0 ? 0 : -1;
}

const char *tmp_folder(void)
{
    return folder;
}

const char *tmp_file(const char *rel)
{
    static char *kept[256];
    static int n;
    char buf[600];
    FMT(buf, sizeof buf, "%s/%s", folder, rel);
    for (int i = 0; i < n; i++)
        if (strcmp(kept[i], buf) == 0)
            return kept[i];
    assert_true(n < 256);
    kept[n] = strdup(buf);
    assert_non_null(kept[n]);
    return kept[n++];
}

/* ---- running programs ------------------------------------------------------------ */

void run_mpi_setup(const char *mpirun)
{
    mpirun_exe = mpirun;
    own_group = 1;
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
    const char *asan = getenv("ASAN_OPTIONS");
    static char asan_opts[1024];
    snprintf(asan_opts, sizeof asan_opts, "%s%sdetect_leaks=0", asan ? asan : "",
             asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", asan_opts, 1);
}

void run_set_deadline(int seconds)
{
    deadline = seconds;
}

void run_argv(const char *out[RUN_ARGV_MAX], int ranks, const char *prog, const char *const *args)
{
    static char np[16];
    int n = 0;
    if (ranks > 1) {
        assert_non_null(mpirun_exe); /* run_mpi_setup() first */
        FMT(np, sizeof np, "%d", ranks);
        const char *const pre[] = {mpirun_exe, "-np", np, "--oversubscribe", "--bind-to", "none",
                                   NULL};
        for (int i = 0; pre[i]; i++)
            out[n++] = pre[i];
    }
    out[n++] = prog;
    for (int i = 0; args[i]; i++) {
        assert_true(n < RUN_ARGV_MAX - 1);
        out[n++] = args[i];
    }
    out[n] = NULL;
}

void run_argv_va(const char *out[RUN_ARGV_MAX], const char *const *head, const char *first, va_list ap)
{
    int n = 0;
    for (int i = 0; head[i]; i++) {
        assert_true(n < RUN_ARGV_MAX - 1);
        out[n++] = head[i];
    }
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        assert_true(n < RUN_ARGV_MAX - 1);
        out[n++] = a;
    }
    out[n] = NULL;
}

static pid_t start_redirected(const char *const *argv, const char *out_path, const char *err_path,
                              const char *cwd)
{
    const pid_t pid = fork();
    if (pid == 0) {
        if (own_group)
            setpgid(0, 0);
        const int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fe < 0 || fo < 0 || (cwd && chdir(cwd) != 0))
            _exit(127);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    assert_true(pid > 0);
    return pid;
}

pid_t run_start(const char *name, const char *const *argv)
{
    char errf[600], outf[600];
    FMT(errf, sizeof errf, "%s/%s.err", folder, name);
    FMT(outf, sizeof outf, "%s/%s.out", folder, name);
    return start_redirected(argv, outf, errf, NULL);
}

/* The wait(2) status of the run, within the deadline when one is set. */
static int wait_status(pid_t pid, const char *name)
{
    int status = 0;
    if (deadline <= 0) {
        assert_true(waitpid(pid, &status, 0) == pid);
        return status;
    }
    const struct timespec tick = {0, 20 * 1000 * 1000};
    for (int waited = 0;; waited++) {
        const pid_t r = waitpid(pid, &status, WNOHANG);
        assert_true(r == 0 || r == pid);
        if (r == pid)
            return status;
        if (waited > deadline * 50) {
            kill(own_group ? -pid : pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("%s still running after %d s (a rank waiting for the others?)", name,
                     deadline);
        }
        nanosleep(&tick, NULL);
    }
}

int run_wait(pid_t pid, const char *name)
{
    const int status = wait_status(pid, name);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void run_expect(const char *name, const char *const *argv, int want)
{
    const int rc = run_wait(run_start(name, argv), name);
    if (rc != want) {
        char errf[600];
        FMT(errf, sizeof errf, "%s/%s.err", folder, name);
        char *m = slurp(errf, NULL);
        fail_msg("%s (%s) exited with %d, expected %d:\n%s", argv[0], name, rc, want,
                 m ? m : "");
    }
}

int run_redirected(const char *const *argv, const char *out_path, const char *err_path, const char *cwd)
{
    const int status = wait_status(start_redirected(argv, out_path, err_path, cwd), argv[0]);
    if (!WIFEXITED(status)) {
        char *m = slurp(err_path, NULL);
        fail_msg("%s was ended by signal %d:\n%s", argv[0], WTERMSIG(status), m ? m : "");
    }
    return WEXITSTATUS(status);
}

void make_tiles(const char *synth_exe, const char *tile_exe, const tiles_recipe *recipe)
{
    char scenes[16], size[32], tile[16], folds[16];
    FMT(scenes, sizeof scenes, "%d", recipe->scenes);
    FMT(size, sizeof size, "%dx%d", recipe->scene_size, recipe->scene_size);
    FMT(tile, sizeof tile, "%d", recipe->tile);
    FMT(folds, sizeof folds, "%d", recipe->folds);
    const char *synth[] = {synth_exe, "-o", tmp_file("scenes"), "--scenes", scenes, "--size",
                           size, "--seed", "1", "--quiet", NULL};
    run_expect("synth", synth, 0);
    const char *cut[16] = {tile_exe, tmp_file("scenes"), "-o", tmp_file("tiles"), "--tile", tile,
                           "--folds", folds};
    int n = 8;
    if (recipe->test_scenes) {
        cut[n++] = "--test-scenes";
        cut[n++] = recipe->test_scenes;
    }
    cut[n++] = "--quiet";
    cut[n] = NULL;
    run_expect("tile", cut, 0);
}

/* ---- reading what they wrote ----------------------------------------------------- */

char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0)
        fail_msg("%s: cannot tell its size", path);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) {
        if (ferror(f))
            fail_msg("%s: read error", path);
        n = 0; /* shorter than it was a moment ago (being rewritten): nothing yet */
    }
    s[n] = '\0';
    if (len)
        *len = (size_t)n;
    fclose(f);
    return s;
}

int count_lines(const char *path)
{
    char *s = slurp(path, NULL);
    int n = 0;
    for (char *p = s; p && *p; p++)
        n += *p == '\n';
    free(s);
    return n;
}

void wait_lines(const char *path, int n, int seconds)
{
    for (int i = 0; i < seconds * 100 && count_lines(path) < n; i++) {
        const struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_true(count_lines(path) >= n);
}

/* Just past the first "key": followed by quote in text; fails the test when
 * there is none. */
static const char *after_key(const char *text, const char *key, const char *quote)
{
    char pat[80];
    FMT(pat, sizeof pat, "\"%s\":%s", key, quote);
    const char *p = strstr(text, pat);
    if (!p)
        fail_msg("no %s in %.300s", key, text);
    return p + strlen(pat);
}

double json_scan_number(const char *text, const char *key)
{
    const char *p = after_key(text, key, "");
    if (strncmp(p, "null", 4) == 0)
        return NAN;
    return strtod(p, NULL);
}

void json_scan_string(const char *text, const char *key, char *buf, size_t size)
{
    const char *p = after_key(text, key, "\"");
    const char *q = strchr(p, '"');
    assert_non_null(q);
    assert_true((size_t)(q - p) < size);
    memcpy(buf, p, (size_t)(q - p));
    buf[q - p] = '\0';
}

int read_search_runs(const char *search_dir, search_run *runs, int max)
{
    DIR *d = opendir(search_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[900];
        FMT(path, sizeof path, "%s/%s/result.json", search_dir, e->d_name);
        char *t = slurp(path, NULL);
        if (!t)
            continue; /* summary.json, or a run without a result */
        assert_true(n < max);
        search_run *r = &runs[n++];
        FMT(r->dir, sizeof r->dir, "%s", e->d_name);
        json_scan_string(t, "label", r->label, sizeof r->label);
        json_scan_string(t, "end", r->end, sizeof r->end);
        const double fold = json_scan_number(t, "fold");
        r->fold = isnan(fold) ? -1 : (int)fold;
        r->rung = (int)json_scan_number(t, "rung");
        r->rank = (int)json_scan_number(t, "rank");
        r->processes = (int)json_scan_number(t, "processes");
        r->miou = json_scan_number(t, "val_miou");
        r->f1 = json_scan_number(t, "val_macro_f1");
        r->time_limit = json_scan_number(t, "time_limit");
        r->steps = json_scan_number(t, "steps");
        r->steps_per_epoch = json_scan_number(t, "steps_per_epoch");
        r->sessions = json_scan_number(t, "sessions");
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        r->mtime = st.st_mtim;
        free(t);
    }
    closedir(d);
    return n;
}
