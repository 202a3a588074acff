/* Learning-rate schedules, evaluated per optimiser step (0-based):
 *   constant  lr(s) = base
 *   cosine    lr(s) = min + (base - min) (1 + cos(pi min(s, T) / T)) / 2,
 *             T = total_steps (the run's planned length)
 *   step      lr(s) = base gamma^floor(s / (step_size steps_per_epoch)),
 *             i.e. multiplied by gamma every step_size epochs
 * The value depends on the step alone, so a resumed run sees the same rates. */
#ifndef UNET_TRAINER_SCHEDULE_H
#define UNET_TRAINER_SCHEDULE_H

#include <stdint.h>

#include <unet/unet.h>

typedef enum lr_schedule_kind { SCHEDULE_CONSTANT = 0, SCHEDULE_COSINE = 1, SCHEDULE_STEP = 2 }
    lr_schedule_kind;

typedef struct lr_schedule {
    int kind;                 /* lr_schedule_kind */
    double base_lr;
    double min_lr;            /* cosine floor, default 0 */
    uint64_t total_steps;     /* cosine */
    uint64_t steps_per_epoch; /* step */
    uint64_t step_size;       /* step: epochs between drops */
    double gamma;             /* step: factor per drop */
} lr_schedule;

/* Checks the fields for kind (message on failure). */
unet_status schedule_check(const lr_schedule *s);
double schedule_lr(const lr_schedule *s, uint64_t step);
/* "constant", "cosine", "step"; -1 for other names. */
int schedule_kind_from_name(const char *name);
const char *schedule_kind_name(int kind);

#endif
