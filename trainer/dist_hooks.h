/* The trainer's seams for data-parallel training: the points where a step
 * needs the other processes, as plain function pointers, so the trainer
 * library never links MPI (trainer/distributed.c, built only with MPI, fills
 * them in; unet-train wires the two together).
 *
 * A step on rank r of R, global batch B = R x b:
 *   forward          BN layers ask reduce_sums for the per-channel sums over the
 *                    global batch (statistics of all B samples)
 *   loss             the train loop asks reduce_sums for the global weight sum
 *                    and scales its loss gradient by local / global, so that
 *                    the sum over ranks of their gradients is the gradient of
 *                    the global batch's mean loss
 *   backward         BN layers reduce their gradient sums the same way; after
 *                    each layer's weight gradients are final the net calls
 *                    grads_ready (reverse layer order, identical on every
 *                    rank), so a bucket can be summed while backward goes on
 *   apply step       grads_finish waits for every bucket and leaves the summed
 *                    gradient in each parameter's grad; then every rank takes
 *                    the same optimiser step on the same numbers
 * Host steps of a layer plan cannot fail, so reduce_sums and grads_ready
 * return nothing: a transport failure is remembered by the implementation and
 * returned by grads_finish (MPI's default error handler aborts anyway).
 * NULL hooks (or a NULL train_dist) mean one process: nothing changes. */
#ifndef UNET_TRAINER_DIST_HOOKS_H
#define UNET_TRAINER_DIST_HOOKS_H

#include <stddef.h>
#include <stdint.h>

#include <unet/unet.h>

typedef struct train_dist {
    int rank, size;
    void *ctx;
    /* v[0..n) = its sum over all ranks, in place; identical on every rank. */
    void (*reduce_sums)(void *ctx, double *v, size_t n);
    /* The gradients of params->p[idx[0..n)] are final for this step. */
    void (*grads_ready)(void *ctx, const int *idx, int n);
    /* Every parameter's grad holds the sum over ranks when this returns. */
    unet_status (*grads_finish)(void *ctx);
    /* 1 when flag is set on any rank (stop requests, time budget). */
    int (*any)(void *ctx, int flag);
    /* Fails with a clear message when the ranks' weights differ (checksum). */
    unet_status (*check_same)(void *ctx, uint64_t checksum, uint64_t step);
} train_dist;

#endif
