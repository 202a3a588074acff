/* unet-train's link to the other processes of a data-parallel run: starts
 * MPI when a launcher (mpirun, srun) started several processes, and fills
 * the trainer's hooks (dist_hooks.h). distributed.c implements it with MPI
 * (built only when meson finds MPI); distributed_none.c, the build without
 * MPI, refuses multi-process launches with a message saying how to build
 * with MPI. Program code: may print. */
#ifndef UNET_TRAINER_DISTRIBUTED_H
#define UNET_TRAINER_DISTRIBUTED_H

#include <stddef.h>

#include <unet/unet.h>

#include "dist_hooks.h"
#include "net.h"

typedef struct dist dist;
struct cv_ranks;

typedef struct dist_stats {
    double wait_seconds;   /* blocked in MPI: gradient buckets not yet summed, BN and loss sums */
    double grad_seconds;   /* of which waiting for gradient buckets after backward */
    unsigned long long steps;
    size_t gradient_floats; /* summed per step */
    int buckets;            /* per step */
} dist_stats;

/* 1 when this build has MPI. */
int dist_available(void);
/* Starts MPI when a launcher started this process as one of several;
 * *out = NULL when it runs alone (no MPI call is made then). Returns 0, or
 * an exit status after printing why (2: a multi-process launch without MPI). */
int dist_init(int *argc, char ***argv, const char *prog, dist **out);
int dist_rank(const dist *d);
int dist_size(const dist *d);
/* Threads for one rank: the cores this process may run on when the launcher
 * bound it, else the machine's cores over the ranks on this machine
 * (OMPI_COMM_WORLD_LOCAL_SIZE, else MPI's shared-memory group). */
int dist_default_threads(const dist *d);
/* Fills hooks for training params (they must outlive the run). */
unet_status dist_attach(dist *d, unet_params *params, train_dist *hooks);
void dist_get_stats(const dist *d, dist_stats *out);
/* Fills the search's link to the other ranks (cv_search.h): rank and size,
 * an allgather that waits asleep (the other ranks may train for minutes and
 * need the cores), and dist_attach for the data-parallel retrain. Call it
 * on every rank; d NULL or the build without MPI: one process. */
void dist_search_ranks(dist *d, struct cv_ranks *out);
/* Ends every rank at once (a failure only this rank saw). */
void dist_abort(dist *d, int status);
/* Finalises MPI and frees d (NULL is fine). */
void dist_finish(dist *d);

#endif
