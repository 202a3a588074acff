/* Running the project's programs from cmocka tests and reading what they
 * write: a temporary folder per test process, runs started with their stderr
 * and stdout kept in files (in that folder, or where a test names them),
 * optional launch under mpirun, synthetic tiles made with unet-synth and
 * unet-tile, and plain readers of the files and JSON texts the programs
 * leave. Every helper fails the running test on error. Test code only. */
#ifndef UNET_TESTS_TOOL_RUN_H
#define UNET_TESTS_TOOL_RUN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

/* snprintf into buf that fails the test when the text does not fit. */
#define FMT(buf, size, ...) assert_true(snprintf(buf, size, __VA_ARGS__) < (int)(size))

/* ---- the temporary folder ------------------------------------------------------ */

/* Makes /tmp/unet-test-TAG-XXXXXX for this process; 0, or -1 on failure (for
 * a cmocka group setup). */
int tmp_folder_create(const char *tag);
/* Removes the folder and all in it; 0, or -1 on failure: a cmocka group
 * teardown. */
int tmp_folder_remove(void **state);
const char *tmp_folder(void);
/* tmp_folder()/rel, kept until the process ends (argument lists hold these). */
const char *tmp_file(const char *rel);

/* ---- running programs ------------------------------------------------------------ */

/* For tests that start mpirun: mpirun is the program run_argv() puts in
 * front for more than one rank. Lets Open MPI run as root (CI) and without
 * the shared-memory single copy (containers often forbid it), turns leak
 * checks off in the launched programs under AddressSanitizer (Open MPI frees
 * little at MPI_Finalize and has unloaded its components by then, so its
 * allocations show as leaks with no stack to suppress; this process keeps
 * them), and from now on starts every program in a process group of its own,
 * so that kill(-pid, ...) reaches mpirun and its ranks. */
void run_mpi_setup(const char *mpirun);

/* From now on run_wait() kills a program still running after seconds (its
 * group, after run_mpi_setup()) and fails the test; 0 (the default): waits
 * as long as it takes. */
void run_set_deadline(int seconds);

/* out = prog args... for 1 rank, mpirun -np RANKS --oversubscribe --bind-to
 * none prog args... for more; args and out are NULL-terminated. */
#define RUN_ARGV_MAX 64
void run_argv(const char *out[RUN_ARGV_MAX], int ranks, const char *prog, const char *const *args);

/* out = head... (NULL-terminated), then first and the rest of ap up to its
 * NULL: the argument list of a test's run_x(first, ...) helper. Fails the
 * test past RUN_ARGV_MAX - 1 arguments. */
void run_argv_va(const char *out[RUN_ARGV_MAX], const char *const *head, const char *first, va_list ap);

/* Starts argv[0] with argv (NULL-terminated); stderr to tmp/NAME.err,
 * stdout to tmp/NAME.out. */
pid_t run_start(const char *name, const char *const *argv);
/* The exit status of run NAME, or 128 + the signal that ended it. */
int run_wait(pid_t pid, const char *name);
/* Runs argv and fails the test, with its stderr, unless it exits with want. */
void run_expect(const char *name, const char *const *argv, int want);
/* Runs argv to its end with stdout to out_path and stderr to err_path,
 * started in folder cwd (NULL: this process's); its exit status. Fails the
 * test, with its stderr, when a signal ended it. */
int run_redirected(const char *const *argv, const char *out_path, const char *err_path, const char *cwd);

/* Synthetic scenes cut into tiles: unet-synth writes tmp/scenes (scenes
 * scenes of scene_size x scene_size, seed 1), unet-tile cuts them into
 * tmp/tiles (tile x tile, folds folds; test_scenes, when not NULL, names the
 * scenes held out as fold "test"). */
typedef struct tiles_recipe {
    int scenes, scene_size, tile, folds;
    const char *test_scenes;
} tiles_recipe;
void make_tiles(const char *synth_exe, const char *tile_exe, const tiles_recipe *recipe);

/* ---- reading what they wrote ----------------------------------------------------- */

/* The whole file as a string (free()); its length in *len when len is not
 * NULL. NULL when it cannot be opened; fails the test on a read error or
 * when memory runs out. */
char *slurp(const char *path, size_t *len);
/* Newlines in the file; 0 when it cannot be read. */
int count_lines(const char *path);
/* Sleeps until path has at least n lines; fails the test after seconds. */
void wait_lines(const char *path, int n, int seconds);

/* The number after the first "key": in a JSON text (NAN for null); fails
 * the test when there is none. */
double json_scan_number(const char *text, const char *key);
/* The string after the first "key": in a JSON text into buf; fails the test
 * when there is none or it does not fit. */
void json_scan_string(const char *text, const char *key, char *buf, size_t size);

/* One run's result.json in the folder of a unet-train --cv / --grid /
 * --budget search. */
typedef struct search_run {
    char dir[300], label[100], end[32];
    int fold, rung, rank, processes; /* fold -1: the retrain */
    double miou, f1, time_limit, steps, steps_per_epoch, sessions;
    struct timespec mtime; /* of result.json */
} search_run;
/* The runs of search_dir that have a result (at most max); their count. */
int read_search_runs(const char *search_dir, search_run *runs, int max);

#endif
