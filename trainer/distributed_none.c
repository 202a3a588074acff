/* distributed.h without MPI: one process only; a multi-process launch is
 * refused with a message saying how to build with MPI. */
#include <stdio.h>
#include <string.h>

#include "cv_search.h"
#include "distributed.h"
#include "error.h"
#include "launch_env.h"

int dist_available(void) { return 0; }

int dist_init(int *argc, char ***argv, const char *prog, dist **out)
{
    (void)argc;
    (void)argv;
    *out = NULL;
    return launch_env_refuse_without_mpi(prog);
}

int dist_rank(const dist *d) { return (void)d, 0; }
int dist_size(const dist *d) { return (void)d, 1; }
int dist_default_threads(const dist *d) { return (void)d, launch_env_threads(1); }

unet_status dist_attach(dist *d, unet_params *params, train_dist *hooks)
{
    (void)d;
    (void)params;
    (void)hooks;
    return unet_set_error(UNET_ERR_ARG, "%s", LAUNCH_ENV_NO_MPI_HINT);
}

void dist_get_stats(const dist *d, dist_stats *out)
{
    (void)d;
    *out = (dist_stats){0};
}

static unet_status gather_alone(void *ctx, const void *mine, void *all, size_t bytes)
{
    (void)ctx;
    memcpy(all, mine, bytes);
    return UNET_OK;
}

void dist_search_ranks(dist *d, struct cv_ranks *out)
{
    (void)d;
    *out = (cv_ranks){.rank = 0, .size = 1, .allgather = gather_alone};
}

void dist_abort(dist *d, int status)
{
    (void)d;
    (void)status;
}

void dist_finish(dist *d) { (void)d; }
