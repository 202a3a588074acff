/* One training run per checkpoint folder: the run holds an exclusive lock
 * on FOLDER/lock for its lifetime, so a second run (or a resumed run while
 * ranks of a killed one still live) cannot interleave checkpoints and log
 * lines with it. The lock is the kernel's (flock), released when the
 * process ends however it ends. */
#ifndef UNET_TRAINER_RUN_LOCK_H
#define UNET_TRAINER_RUN_LOCK_H

#include <unet/unet.h>

/* Creates folder when missing (no parents), then takes its lock without
 * waiting. *fd receives the descriptor that holds it (close it to let go).
 * UNET_ERR_IO names the folder, and the process holding the lock when it
 * can be read, when another run holds it or the file cannot be made. */
unet_status run_lock_acquire(const char *folder, int *fd);

#endif
