/* What a process launcher (mpirun, srun) tells a process through its
 * environment, read without MPI: whether this process is one of several, its
 * rank, how many ranks share its machine, and a thread count that does not
 * oversubscribe the cores. Shared by unet-train and unet-infer, built with
 * or without MPI. */
#ifndef UNET_TRAINER_LAUNCH_ENV_H
#define UNET_TRAINER_LAUNCH_ENV_H

/* Processes the launcher started: > 1 for a multi-process launch, 1 for
 * none or a single one, 0 when launched by PMIx (the count needs MPI). Reads
 * OMPI_COMM_WORLD_SIZE, PMI_SIZE, SLURM_STEP_NUM_TASKS and PMIX_RANK. */
int launch_env_size(void);
/* This process's rank from the same variables, 0 when unknown. */
int launch_env_rank(void);
/* Ranks on this machine (OMPI_COMM_WORLD_LOCAL_SIZE, else MPI_LOCALNRANKS),
 * 0 when unknown. */
int launch_env_local_size(void);
/* Threads for one of local_ranks processes on this machine: the CPUs this
 * process may run on when the launcher bound it to fewer than the machine
 * has, else the machine's CPUs / local_ranks (at least 1). */
int launch_env_threads(int local_ranks);
/* The advice printed when a build without MPI is launched as several
 * processes. */
#define LAUNCH_ENV_NO_MPI_HINT                                                                \
    "this build has no MPI: install Open MPI (apt-get install openmpi-bin libopenmpi-dev, or " \
    "tools/install-deps.sh) and rebuild with 'meson setup --reconfigure BUILD -Dmpi=enabled "  \
    "&& ninja -C BUILD'; run one process without mpirun/srun"

/* For builds without MPI: 0 when this process runs alone; else rank 0
 * prints "PROG: error: started as N processes, but <hint>" (or "started by
 * an MPI launcher") and every rank gets 2, the usage exit status. */
int launch_env_refuse_without_mpi(const char *prog);

#endif
