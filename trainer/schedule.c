/* Learning-rate schedules (formulas in schedule.h). */
#include <math.h>
#include <string.h>

#include "error.h"
#include "schedule.h"

unet_status schedule_check(const lr_schedule *s)
{
    if (!(s->base_lr > 0) || !isfinite(s->base_lr))
        return unet_set_error(UNET_ERR_ARG, "learning rate %g must be positive", s->base_lr);
    switch (s->kind) {
    case SCHEDULE_CONSTANT:
        return UNET_OK;
    case SCHEDULE_COSINE:
        if (s->total_steps < 1)
            return unet_set_error(UNET_ERR_ARG, "cosine schedule over %llu steps",
                                  (unsigned long long)s->total_steps);
        if (!(s->min_lr >= 0 && s->min_lr <= s->base_lr))
            return unet_set_error(UNET_ERR_ARG, "cosine floor %g outside [0, %g]", s->min_lr,
                                  s->base_lr);
        return UNET_OK;
    case SCHEDULE_STEP:
        if (s->steps_per_epoch < 1 || s->step_size < 1)
            return unet_set_error(UNET_ERR_ARG,
                                  "step schedule: step size %llu epochs of %llu steps",
                                  (unsigned long long)s->step_size,
                                  (unsigned long long)s->steps_per_epoch);
        if (!(s->gamma > 0 && s->gamma <= 1))
            return unet_set_error(UNET_ERR_ARG, "step schedule: gamma %g outside (0, 1]",
                                  s->gamma);
        return UNET_OK;
    default:
        return unet_set_error(UNET_ERR_ARG, "unknown schedule kind %d", s->kind);
    }
}

double schedule_lr(const lr_schedule *s, uint64_t step)
{
    switch (s->kind) {
    case SCHEDULE_COSINE: {
        const double t = (double)(step < s->total_steps ? step : s->total_steps);
        const double c = 0.5 * (1.0 + cos(M_PI * t / (double)s->total_steps));
        return s->min_lr + (s->base_lr - s->min_lr) * c;
    }
    case SCHEDULE_STEP: {
        const uint64_t drops = step / (s->step_size * s->steps_per_epoch);
        return s->base_lr * pow(s->gamma, (double)drops);
    }
    default:
        return s->base_lr;
    }
}

int schedule_kind_from_name(const char *name)
{
    if (strcmp(name, "constant") == 0)
        return SCHEDULE_CONSTANT;
    if (strcmp(name, "cosine") == 0)
        return SCHEDULE_COSINE;
    if (strcmp(name, "step") == 0)
        return SCHEDULE_STEP;
    return -1;
}

const char *schedule_kind_name(int kind)
{
    switch (kind) {
    case SCHEDULE_COSINE: return "cosine";
    case SCHEDULE_STEP: return "step";
    default: return "constant";
    }
}
