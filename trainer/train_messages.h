/* unet-train's messages on stderr and its exit statuses. Errors always
 * show; notes and warnings not under --quiet (nor on MPI ranks other than
 * 0, which main sets quiet). Under mpirun errors name the rank. */
#ifndef UNET_TRAINER_TRAIN_MESSAGES_H
#define UNET_TRAINER_TRAIN_MESSAGES_H

#include "error.h" /* UNET_PRINTF */

enum { EXIT_DONE = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 3 };

/* prog: "unet-train", or "unet-train (rank R of N)" for errors under mpirun. */
void train_messages_set(const char *prog, const char *error_prog, int quiet);
int train_messages_quiet(void);
const char *train_messages_error_prog(void);

void train_error(const char *fmt, ...) UNET_PRINTF(1, 2);
void train_note(const char *fmt, ...) UNET_PRINTF(1, 2);
void train_warning(const char *fmt, ...) UNET_PRINTF(1, 2);

#endif
