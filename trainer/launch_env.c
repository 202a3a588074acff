/* Launcher environment variables (see launch_env.h). */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "launch_env.h"

static int env_int(const char *name)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return -1;
    char *end;
    const long v = strtol(s, &end, 10);
    return *end || v < 0 || v > 1000000000L ? -1 : (int)v;
}

int launch_env_size(void)
{
    static const char *const names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
                                        "SLURM_STEP_NUM_TASKS"};
    for (int i = 0; i < 3; i++) {
        const int v = env_int(names[i]);
        if (v >= 1)
            return v;
    }
    return getenv("PMIX_RANK") ? 0 : 1;
}

int launch_env_rank(void)
{
    static const char *const names[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK",
                                        "SLURM_PROCID"};
    for (int i = 0; i < 4; i++) {
        const int v = env_int(names[i]);
        if (v >= 0)
            return v;
    }
    return 0;
}

int launch_env_local_size(void)
{
    const int v = env_int("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (v >= 1)
        return v;
    const int m = env_int("MPI_LOCALNRANKS");
    return m >= 1 ? m : 0;
}

int launch_env_threads(int local_ranks)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1)
        online = 1;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        const int allowed = CPU_COUNT(&set);
        if (allowed >= 1 && allowed < online)
            return allowed; /* bound by the launcher: its share already */
    }
    const long t = online / (local_ranks > 0 ? local_ranks : 1);
    return t >= 1 ? (int)t : 1;
}

int launch_env_refuse_without_mpi(const char *prog)
{
    const int n = launch_env_size();
    if (n == 1)
        return 0;
    if (launch_env_rank() == 0) {
        if (n > 1)
            fprintf(stderr, "%s: error: started as %d processes, but %s\n", prog, n,
                    LAUNCH_ENV_NO_MPI_HINT);
        else
            fprintf(stderr, "%s: error: started by an MPI launcher, but %s\n", prog,
                    LAUNCH_ENV_NO_MPI_HINT);
    }
    return 2;
}
