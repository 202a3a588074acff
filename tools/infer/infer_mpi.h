/* unet-infer as several processes (mpirun -np N unet-infer MODEL INPUT...):
 * each rank segments its own share of the inputs and writes its own masks
 * (atomically, as always); rank 0 prints and writes the one combined report.
 *
 * Shares are static, computed alike by every rank from the input list:
 * deterministic (the same command always gives a rank the same inputs), no
 * coordinator process or messages while working, and resume-friendly (a
 * rerun, with any rank count, skips the masks that exist). Tiles: contiguous
 * blocks of the sorted list, so batches hold neighbouring tiles as in one
 * process. Scenes: whole scenes, balanced by pixel count (largest first to
 * the least loaded rank); a scene is not split over ranks, so one scene
 * larger than the others bounds the speed-up.
 *
 * infer_mpi.c is the MPI build; infer_mpi_none.c, without MPI, refuses a
 * multi-process launch with a message saying how to build with MPI. Tool
 * code: may print. */
#ifndef UNET_TOOLS_INFER_MPI_H
#define UNET_TOOLS_INFER_MPI_H

#include "infer_inputs.h"
#include "infer_report.h"

typedef struct infer_mpi infer_mpi;

/* Starts MPI when a launcher started several processes; *out = NULL when
 * alone. 0, or an exit status after printing why. */
int infer_mpi_init(int *argc, char ***argv, infer_mpi **out);
int infer_mpi_rank(const infer_mpi *m);
int infer_mpi_size(const infer_mpi *m);
/* Threads per rank: see launch_env_threads. */
int infer_mpi_default_threads(const infer_mpi *m);
/* Shares files->paths out over the ranks (scene: by pixel count). -1 when
 * out of memory. */
int infer_mpi_plan(infer_mpi *m, const input_list *files, int scene);
/* 1 when input i is this rank's (always when m is NULL). */
int infer_mpi_mine(const infer_mpi *m, int i);
/* How many of n inputs are this rank's. */
int infer_mpi_share(const infer_mpi *m, int n);
/* Combines every rank's counts and failures at rank 0, which prints the
 * summary and writes the JSON; returns the exit status all ranks return
 * (3 if any rank was interrupted, else 1 if any input failed, else 0). */
int infer_mpi_finish(infer_mpi *m, infer_report *r, int json, const char *json_file,
                     int interrupted);
/* Finalises MPI; NULL is fine. */
void infer_mpi_end(infer_mpi *m);

#endif
