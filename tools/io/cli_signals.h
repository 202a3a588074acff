/* How the programs stop on request: SIGINT, SIGTERM and SIGUSR1 (which
 * mpirun and Slurm forward to every rank) set a flag that the program's
 * loop checks between items, so it ends cleanly (outputs complete or not
 * written, exit status 3). With second_kills, the handler is reset after
 * the first signal, so a second one ends the process at once (unet-train,
 * whose stop saves a checkpoint first). */
#ifndef UNET_TOOLS_CLI_SIGNALS_H
#define UNET_TOOLS_CLI_SIGNALS_H

#include <signal.h>

void cli_catch_stop_signals(volatile sig_atomic_t *flag, int second_kills);

#endif
