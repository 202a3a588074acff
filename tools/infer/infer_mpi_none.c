/* infer_mpi.h without MPI: one process; a multi-process launch is refused
 * with a message saying how to build with MPI. */
#include <stdio.h>

#include "infer_mpi.h"
#include "launch_env.h"

int infer_mpi_init(int *argc, char ***argv, infer_mpi **out)
{
    (void)argc;
    (void)argv;
    *out = NULL;
    return launch_env_refuse_without_mpi("unet-infer");
}

int infer_mpi_rank(const infer_mpi *m) { return (void)m, 0; }
int infer_mpi_size(const infer_mpi *m) { return (void)m, 1; }
int infer_mpi_default_threads(const infer_mpi *m) { return (void)m, launch_env_threads(1); }
int infer_mpi_plan(infer_mpi *m, const input_list *files, int scene)
{
    (void)m;
    (void)files;
    (void)scene;
    return 0;
}
int infer_mpi_mine(const infer_mpi *m, int i) { return (void)m, (void)i, 1; }
int infer_mpi_share(const infer_mpi *m, int n) { return (void)m, n; }

int infer_mpi_finish(infer_mpi *m, infer_report *r, int json, const char *json_file,
                     int interrupted)
{
    (void)m;
    infer_report_finish(r, json, json_file, interrupted);
    return interrupted ? 3 : infer_report_failures(r) ? 1 : 0;
}

void infer_mpi_end(infer_mpi *m) { (void)m; }
